/*
 * Interactive use: start a long-running child under a runner, write lines to
 * it one at a time and read each reply as it comes.
 *
 *   interactive [KIND [OPTIONS_JSON]]      (default: exec)
 *
 * The child is a small shell loop that answers every line it reads; under a
 * sandboxing runner it runs with that runner's restrictions.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "restricted_runner.h"

static int fail(const char *what, rr_error *e) {
    fprintf(stderr, "%s: %s\n", what, rr_error_message(e));
    rr_error_free(e);
    return 1;
}

/* Reads one line from fd into buf (without the newline). */
static int read_line(int fd, char *buf, size_t cap) {
    size_t n = 0;
    char c;
    while (n + 1 < cap && read(fd, &c, 1) == 1 && c != '\n')
        buf[n++] = c;
    buf[n] = 0;
    return (int)n;
}

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "exec";
    const char *options = argc > 2 ? argv[2] : NULL;
    signal(SIGPIPE, SIG_IGN); /* a child that exits early gives EPIPE, not death */

    rr_runner *runner = NULL;
    rr_error *err = NULL;
    if (rr_runner_new(kind, options, &runner, &err) != RR_OK)
        return fail("rr_runner_new", err);

    const char *args[] = {"-c",
                          "n=0; while read -r line; do n=$((n+1)); "
                          "echo \"reply $n: $(printf %s \"$line\" | tr a-z A-Z)\"; done; "
                          "echo \"saw $n lines\" >&2",
                          NULL};
    int in, out, errfd;
    rr_process *proc = NULL;
    if (rr_run_with_pipes(runner, "sh", args, NULL, NULL, &in, &out, &errfd, &proc, &err) != RR_OK)
        return fail("rr_run_with_pipes", err);
    printf("started pid %d under the %s runner (library %s)\n", rr_process_pid(proc), kind, rr_version());

    const char *lines[] = {"hello", "sandboxed", "world"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        dprintf(in, "%s\n", lines[i]);
        char reply[256];
        read_line(out, reply, sizeof reply);
        printf("sent %-10s got \"%s\"\n", lines[i], reply);
    }
    close(in); /* EOF ends the loop */

    char tail[256];
    read_line(errfd, tail, sizeof tail);
    printf("stderr: %s\n", tail);
    close(out);
    close(errfd);

    rr_exit_status st;
    if (rr_wait(proc, &st, &err) != RR_OK) /* reaps and cleans up; frees proc */
        return fail("rr_wait", err);
    printf("exited=%d code=%d signal=%d\n", st.exited, st.code, st.signal);
    rr_runner_free(runner);
    return st.exited && st.code == 0 ? 0 : 1;
}
