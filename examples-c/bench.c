/*
 * Benchmarks of the process runner through the C ABI, each printed next to a
 * plain-C baseline measured in the same run (the machines are noisy, so
 * only ratios within one run mean anything).
 *
 *  1. spawn+wait of /bin/true with three pipes: rr_run_with_pipes + rr_wait
 *     versus posix_spawn + waitpid with three pipe2() pipes;
 *  2. the same while this process holds 1 GiB of touched memory (a fork
 *     would copy its page tables);
 *  3. GB/s of 1 GiB pushed through cat: the library's pipes versus
 *     posix_spawn'd cat on default 64 KiB pipes (what Go's os/exec gets).
 *
 *   bench [KIND [OPTIONS_JSON]]   (default exec; the baseline is always plain)
 * Environment: RR_BENCH_ROUNDS (5), RR_BENCH_SPAWNS per round (400),
 * RR_BENCH_MIB pushed through cat (1024).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "restricted_runner.h"

extern char **environ;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, rr_error *e) {
    fprintf(stderr, "%s: %s\n", what, e ? rr_error_message(e) : strerror(errno));
    exit(1);
}

static long env_long(const char *name, long dflt) {
    const char *v = getenv(name);
    return v ? atol(v) : dflt;
}

/* ---- library side ---- */

static void lib_spawn_wait(rr_runner *r, const char *cmd) {
    int in, out, err;
    rr_process *p;
    rr_error *e = NULL;
    if (rr_run_with_pipes(r, cmd, NULL, NULL, NULL, &in, &out, &err, &p, &e) != RR_OK)
        die("rr_run_with_pipes", e);
    close(in);
    close(out);
    close(err);
    if (rr_wait(p, NULL, &e) != RR_OK)
        die("rr_wait", e);
}

/* ---- baseline: plain posix_spawn with three pipes ---- */

static pid_t base_spawn(const char *path, int *in, int *out, int *err) {
    int pin[2], pout[2], perr[2];
    if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC))
        die("pipe2", NULL);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
    char *argv[] = {(char *)path, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        die("posix_spawn", NULL);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    *in = pin[1];
    *out = pout[0];
    *err = perr[0];
    return pid;
}

static void base_spawn_wait(const char *path) {
    int in, out, err, status;
    pid_t pid = base_spawn(path, &in, &out, &err);
    close(in);
    close(out);
    close(err);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

static void spawn_bench(rr_runner *r, const char *label) {
    long rounds = env_long("RR_BENCH_ROUNDS", 5), n = env_long("RR_BENCH_SPAWNS", 400);
    double lib = 0, base = 0;
    for (long i = 0; i < 50; i++) { /* warm up both paths */
        lib_spawn_wait(r, "/bin/true");
        base_spawn_wait("/bin/true");
    }
    for (long round = 0; round < rounds; round++) {
        double t = now();
        for (long i = 0; i < n; i++)
            lib_spawn_wait(r, "/bin/true");
        lib += now() - t;
        t = now();
        for (long i = 0; i < n; i++)
            base_spawn_wait("/bin/true");
        base += now() - t;
    }
    double total = (double)(rounds * n);
    printf("spawn+wait /bin/true, 3 pipes%s: library %.1f us/op, posix_spawn baseline %.1f us/op, ratio %.3f "
           "(target <= 1.15)\n",
           label, lib / total * 1e6, base / total * 1e6, lib / base);
}

/* ---- throughput ---- */

/* Moves `total` bytes into `in` and out of `out` in one thread, in chunks
 * of `chunk` bytes; returns GB/s. */
static double pump(int in, int out, size_t total, size_t chunk) {
    static char wbuf[1 << 20], rbuf[1 << 20];
    if (chunk > sizeof wbuf)
        chunk = sizeof wbuf;
    memset(wbuf, 'x', chunk);
    fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
    size_t sent = 0, got = 0;
    double t = now();
    while (got < total) {
        struct pollfd p[2] = {{out, POLLIN, 0}, {sent < total ? in : -1, POLLOUT, 0}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            die("poll", NULL);
        if (p[1].revents) {
            size_t want = total - sent < chunk ? total - sent : chunk;
            ssize_t w = write(in, wbuf, want);
            if (w > 0)
                sent += (size_t)w;
            else if (errno != EAGAIN)
                die("write", NULL);
            if (sent == total)
                close(in);
        }
        if (p[0].revents) {
            ssize_t n = read(out, rbuf, chunk);
            if (n <= 0)
                die("read (early EOF)", NULL);
            got += (size_t)n;
        }
    }
    return (double)total / (now() - t) / 1e9;
}

/* Best of three interleaved runs per side; each side moves data in chunks
 * of its own pipe size, as a caller filling the pipe would. */
static void throughput_bench(rr_runner *r) {
    size_t total = (size_t)env_long("RR_BENCH_MIB", 1024) << 20;
    double lib = 0, base = 0;
    int lib_sz = 0, base_sz = 0;
    for (int round = 0; round < 3; round++) {
        int in, out, err;
        rr_process *p;
        rr_error *e = NULL;
        if (rr_run_with_pipes(r, "cat", NULL, NULL, NULL, &in, &out, &err, &p, &e) != RR_OK)
            die("rr_run_with_pipes", e);
        lib_sz = fcntl(out, F_GETPIPE_SZ);
        double g = pump(in, out, total, (size_t)lib_sz);
        lib = g > lib ? g : lib;
        close(out);
        close(err);
        if (rr_wait(p, NULL, &e) != RR_OK)
            die("rr_wait", e);

        pid_t pid = base_spawn("/bin/cat", &in, &out, &err);
        base_sz = fcntl(out, F_GETPIPE_SZ);
        g = pump(in, out, total, (size_t)base_sz);
        base = g > base ? g : base;
        close(out);
        close(err);
        int status;
        waitpid(pid, &status, 0);
    }
    printf("%zu MiB through cat (best of 3): library %.2f GB/s (%d KiB pipes), default-pipe baseline %.2f GB/s "
           "(%d KiB pipes), ratio %.2fx (target >= 3)\n",
           total >> 20, lib, lib_sz >> 10, base, base_sz >> 10, lib / base);
}

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "exec";
    const char *options = argc > 2 ? argv[2] : NULL;
    signal(SIGPIPE, SIG_IGN);
    rr_runner *r;
    rr_error *e = NULL;
    if (rr_runner_new(kind, options, &r, &e) != RR_OK)
        die("rr_runner_new", e);
    printf("restricted-runner %s, runner %s\n", rr_version(), kind);

    spawn_bench(r, "");

    size_t big = (size_t)1 << 30;
    char *heap = malloc(big);
    if (!heap)
        die("malloc 1 GiB", NULL);
    memset(heap, 1, big); /* touch every page */
    spawn_bench(r, ", caller holding 1 GiB");
    free(heap);

    throughput_bench(r);
    rr_runner_free(r);
    return 0;
}
