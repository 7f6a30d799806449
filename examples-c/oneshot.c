/*
 * One-shot use: run a shell command to completion and print what it wrote.
 *
 *   oneshot COMMAND [KIND [OPTIONS_JSON [TIMEOUT_MS]]]
 */
#include <stdio.h>
#include <stdlib.h>

#include "restricted_runner.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s COMMAND [KIND [OPTIONS_JSON [TIMEOUT_MS]]]\n", argv[0]);
        return 2;
    }
    const char *kind = argc > 2 ? argv[2] : "exec";
    const char *options = argc > 3 ? argv[3] : NULL;
    long long timeout_ms = argc > 4 ? atoll(argv[4]) : 10000;

    rr_runner *runner = NULL;
    rr_error *err = NULL;
    if (rr_runner_new(kind, options, &runner, &err) != RR_OK) {
        fprintf(stderr, "rr_runner_new: %s\n", rr_error_message(err));
        rr_error_free(err);
        return 1;
    }
    rr_output out;
    rr_status rc = rr_run(runner, NULL, argv[1], NULL, NULL, timeout_ms, &out, &err);
    rr_runner_free(runner);
    if (rc != RR_OK) {
        fprintf(stderr, "rr_run failed (status %u): %s\n", (unsigned)rc, rr_error_message(err));
        rr_error_free(err);
        return 1;
    }
    printf("stdout (%zu bytes): %s", out.stdout_len, out.stdout_data);
    printf("stderr (%zu bytes): %s", out.stderr_len, out.stderr_data);
    if (out.status.exited)
        printf("exit code %d\n", out.status.code);
    else
        printf("killed by signal %d\n", out.status.signal);
    int code = out.status.exited ? out.status.code : 128 + out.status.signal;
    rr_output_free(&out);
    return code;
}
