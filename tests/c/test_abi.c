/*
 * C-side tests of the restricted-runner ABI, compiled with
 * -Wall -Wextra -Werror against the checked-in header and the built library.
 *
 * Usage: test_abi [KIND [OPTIONS_JSON]]   (default: exec, no options)
 * RR_C_CYCLES sets the spawn/wait cycle count of the fd/zombie test
 * (default 10000; fewer under valgrind).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "restricted_runner.h"

static const char *kind = "exec";
static const char *options = NULL;
static int passed, failed;
static int current_failed;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            current_failed = 1;                                                       \
            return;                                                                   \
        }                                                                             \
    } while (0)

#define CHECK_OK(call, errp)                                                          \
    do {                                                                              \
        rr_status rc_ = (call);                                                       \
        CHECK(rc_ == RR_OK, "status %u: %s", (unsigned)rc_, rr_error_message(*(errp))); \
    } while (0)

static rr_runner *new_runner(void) {
    rr_runner *r = NULL;
    rr_error *e = NULL;
    if (rr_runner_new(kind, options, &r, &e) != RR_OK) {
        fprintf(stderr, "cannot create %s runner: %s\n", kind, rr_error_message(e));
        rr_error_free(e);
        exit(2);
    }
    return r;
}

/* Reads until EOF into a malloc'd, NUL-terminated buffer. */
static char *read_all(int fd, size_t *len_out) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    if (len_out)
        *len_out = len;
    return buf;
}

static int read_line(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r <= 0 || c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = 0;
    return (int)n;
}

static int write_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

struct spawned {
    int in, out, err;
    rr_process *p;
};

static rr_status spawn(rr_runner *r, const char *cmd, const char *const *args, const char *const *env,
                       struct spawned *s, rr_error **e) {
    return rr_run_with_pipes(r, cmd, args, env, NULL, &s->in, &s->out, &s->err, &s->p, e);
}

static int pid_alive(int pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] != 'Z';
}

static int count_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL)
        if (ent->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static int count_zombie_children(void) {
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] < '0' || ent->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", ent->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *paren = strrchr(buf, ')');
        char state;
        int ppid;
        if (paren && sscanf(paren + 2, "%c %d", &state, &ppid) == 2 && state == 'Z' && ppid == getpid())
            n++;
    }
    closedir(d);
    return n;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_echo_through_cat(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    CHECK_OK(spawn(r, "cat", NULL, NULL, &s, &e), &e);
    CHECK(write_all(s.in, "hello\n", 6) == 0, "write");
    close(s.in);
    char *out = read_all(s.out, NULL);
    char *err = read_all(s.err, NULL);
    close(s.out);
    close(s.err);
    rr_exit_status st;
    CHECK_OK(rr_wait(s.p, &st, &e), &e);
    CHECK(strcmp(out, "hello\n") == 0, "stdout was '%s'", out);
    CHECK(err[0] == 0, "stderr was '%s'", err);
    CHECK(st.exited == 1 && st.code == 0 && st.signal == 0, "status %d/%d/%d", st.exited, st.code, st.signal);
    free(out);
    free(err);
    rr_runner_free(r);
}

static void test_many_writes(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    CHECK_OK(spawn(r, "cat", NULL, NULL, &s, &e), &e);
    for (int i = 0; i < 200; i++) {
        char line[64], got[64];
        int n = snprintf(line, sizeof line, "line %d\n", i);
        CHECK(write_all(s.in, line, (size_t)n) == 0, "write %d", i);
        read_line(s.out, got, sizeof got);
        line[n - 1] = 0;
        CHECK(strcmp(got, line) == 0, "reply '%s' to '%s'", got, line);
    }
    close(s.in);
    close(s.out);
    close(s.err);
    CHECK_OK(rr_wait(s.p, NULL, &e), &e);
    rr_runner_free(r);
}

static void test_stderr_and_exit_code(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    const char *args[] = {"-c", "echo out; echo err >&2; exit 7", NULL};
    CHECK_OK(spawn(r, "sh", args, NULL, &s, &e), &e);
    close(s.in);
    char *out = read_all(s.out, NULL), *err = read_all(s.err, NULL);
    close(s.out);
    close(s.err);
    rr_exit_status st;
    CHECK_OK(rr_wait(s.p, &st, &e), &e);
    CHECK(strcmp(out, "out\n") == 0 && strcmp(err, "err\n") == 0, "out '%s' err '%s'", out, err);
    CHECK(st.exited == 1 && st.code == 7, "status %d/%d", st.exited, st.code);
    free(out);
    free(err);
    rr_runner_free(r);
}

/* The host pid of the live process whose argv is exactly `argv0 arg1`, or
 * 0: a sandbox with a PID namespace of its own cannot tell its host pids. */
static int find_pid(const char *argv0, const char *arg1) {
    char want[128];
    size_t n = (size_t)snprintf(want, sizeof want, "%s%c%s", argv0, 0, arg1) + 1;
    DIR *d = opendir("/proc");
    int found = 0;
    struct dirent *ent;
    while (d && !found && (ent = readdir(d)) != NULL) {
        int pid = atoi(ent->d_name);
        if (pid <= 0)
            continue;
        char path[64], buf[128];
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t got = read(fd, buf, sizeof buf);
        close(fd);
        if (got == (ssize_t)n && memcmp(buf, want, n) == 0 && pid_alive(pid))
            found = pid;
    }
    if (d)
        closedir(d);
    return found;
}

static void test_kill_reaches_grandchildren(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    char marker[32], script[96];
    snprintf(marker, sizeof marker, "100.%d", (int)getpid());
    snprintf(script, sizeof script, "sleep %s & echo started; sleep 100", marker);
    const char *args[] = {"-c", script, NULL};
    CHECK_OK(spawn(r, "sh", args, NULL, &s, &e), &e);
    char line[32];
    read_line(s.out, line, sizeof line);
    int grandchild = 0;
    for (int i = 0; i < 250 && grandchild == 0; i++) {
        grandchild = find_pid("sleep", marker);
        if (grandchild == 0)
            usleep(20000);
    }
    CHECK(grandchild > 0 && pid_alive(grandchild), "grandchild 'sleep %s' not running", marker);
    CHECK(rr_process_pid(s.p) > 0, "pid");
    CHECK_OK(rr_process_kill(s.p, SIGTERM, &e), &e);
    rr_exit_status st;
    CHECK_OK(rr_wait(s.p, &st, &e), &e);
    CHECK(st.exited == 0 && st.signal == SIGTERM, "status %d/%d", st.exited, st.signal);
    for (int i = 0; i < 250 && pid_alive(grandchild); i++)
        usleep(20000);
    CHECK(!pid_alive(grandchild), "grandchild %d survived", grandchild);
    close(s.in);
    close(s.out);
    close(s.err);
    rr_runner_free(r);
}

static void test_command_not_found(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s = {-1, -1, -1, NULL};
    int before = count_fds();
    rr_status rc = spawn(r, "rr-no-such-command", NULL, NULL, &s, &e);
    CHECK(rc == RR_ERR_COMMAND_NOT_FOUND, "status %u", (unsigned)rc);
    CHECK(rr_error_code(e) == RR_ERR_COMMAND_NOT_FOUND, "error code");
    CHECK(strstr(rr_error_message(e), "rr-no-such-command") != NULL, "message '%s'", rr_error_message(e));
    CHECK(s.p == NULL && s.in == -1, "outputs written on failure");
    CHECK(count_fds() == before, "fds leaked by a failed spawn");
    rr_error_free(e);
    rr_runner_free(r);
}

static void test_env(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    const char *args[] = {"-c", "printf '%s|%s' \"$RR_A\" \"$RR_B\"", NULL};
    const char *env[] = {"RR_A=one", "RR_B=x", "RR_B=two=2", NULL};
    CHECK_OK(spawn(r, "sh", args, env, &s, &e), &e);
    close(s.in);
    char *out = read_all(s.out, NULL);
    close(s.out);
    close(s.err);
    CHECK_OK(rr_wait(s.p, NULL, &e), &e);
    CHECK(strcmp(out, "one|two=2") == 0, "got '%s'", out);
    free(out);
    rr_runner_free(r);
}

static void test_early_exit_epipe(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    CHECK_OK(spawn(r, "true", NULL, NULL, &s, &e), &e);
    static char chunk[65536];
    int epipe = 0;
    for (int i = 0; i < 1000 && !epipe; i++) {
        if (write(s.in, chunk, sizeof chunk) < 0) {
            CHECK(errno == EPIPE, "errno %d", errno);
            epipe = 1;
        } else {
            usleep(1000);
        }
    }
    CHECK(epipe, "no EPIPE");
    close(s.in);
    close(s.out);
    close(s.err);
    CHECK_OK(rr_wait(s.p, NULL, &e), &e);
    rr_runner_free(r);
}

/* Pushes `size` bytes through cat while reading them back, single-threaded. */
static void test_bulk_in_and_out(void) {
    const size_t size = 64u << 20;
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    CHECK_OK(spawn(r, "cat", NULL, NULL, &s, &e), &e);
    fcntl(s.in, F_SETFL, fcntl(s.in, F_GETFL) | O_NONBLOCK);
    static unsigned char wbuf[1 << 16], rbuf[1 << 16];
    size_t sent = 0, got = 0;
    int corrupt = 0;
    while (got < size) {
        struct pollfd p[2] = {{s.out, POLLIN, 0}, {sent < size ? s.in : -1, POLLOUT, 0}};
        CHECK(poll(p, 2, 30000) > 0, "stalled at sent=%zu got=%zu", sent, got);
        if (p[1].revents & (POLLOUT | POLLERR)) {
            size_t n = sizeof wbuf < size - sent ? sizeof wbuf : size - sent;
            for (size_t i = 0; i < n; i++)
                wbuf[i] = (unsigned char)((sent + i) % 251);
            ssize_t w = write(s.in, wbuf, n);
            CHECK(w > 0 || errno == EAGAIN, "write errno %d", errno);
            if (w > 0)
                sent += (size_t)w;
            if (sent == size)
                close(s.in);
        }
        if (p[0].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(s.out, rbuf, sizeof rbuf);
            CHECK(n > 0, "early EOF at %zu", got);
            for (ssize_t i = 0; i < n; i++)
                corrupt |= rbuf[i] != (unsigned char)((got + (size_t)i) % 251);
            got += (size_t)n;
        }
    }
    CHECK(!corrupt, "data corrupted");
    close(s.out);
    close(s.err);
    CHECK_OK(rr_wait(s.p, NULL, &e), &e);
    rr_runner_free(r);
}

static void test_wait_timeout(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    const char *args[] = {"0.5", NULL};
    CHECK_OK(spawn(r, "sleep", args, NULL, &s, &e), &e);
    rr_exit_status st = {9, 9, 9};
    rr_status rc = rr_wait_timeout(s.p, 50, &st, &e);
    CHECK(rc == RR_ERR_TIMEOUT, "status %u", (unsigned)rc);
    CHECK(st.exited == 9, "status written on timeout");
    rr_error_free(e);
    e = NULL;
    /* The handle is still valid: check without waiting, then wait it out. */
    CHECK(rr_process_wait_exit(s.p, 0, &e) == RR_ERR_TIMEOUT, "wait_exit(0) on a running process");
    rr_error_free(e);
    e = NULL;
    CHECK_OK(rr_process_wait_exit(s.p, -1, &e), &e);
    CHECK_OK(rr_wait_timeout(s.p, 30000, &st, &e), &e);
    CHECK(st.exited == 1 && st.code == 0, "status %d/%d", st.exited, st.code);
    close(s.in);
    close(s.out);
    close(s.err);
    rr_runner_free(r);
}

static void test_run_output_and_codes(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    rr_output o;
    CHECK_OK(rr_run(r, NULL, "echo hello; echo oops >&2; exit 3", NULL, NULL, 60000, &o, &e), &e);
    CHECK(o.stdout_len == 6 && strcmp(o.stdout_data, "hello\n") == 0, "stdout '%s'", o.stdout_data);
    CHECK(o.stderr_len == 5 && strcmp(o.stderr_data, "oops\n") == 0, "stderr '%s'", o.stderr_data);
    CHECK(o.status.exited == 1 && o.status.code == 3, "status");
    rr_output_free(&o);
    CHECK(o.stdout_data == NULL && o.stdout_len == 0, "output_free did not reset");
    rr_output_free(&o);

    const char *env[] = {"RR_V=with space", NULL};
    CHECK_OK(rr_run(r, "/bin/sh", "printf %s \"$RR_V\" | tr a-z A-Z", env, NULL, 0, &o, &e), &e);
    CHECK(strcmp(o.stdout_data, "WITH SPACE") == 0, "stdout '%s'", o.stdout_data);
    rr_output_free(&o);
    rr_runner_free(r);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_run_background_and_timeout(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    rr_output o;
    double t0 = now_s();
    CHECK_OK(rr_run(r, NULL, "sleep 600 & echo started", NULL, NULL, 60000, &o, &e), &e);
    CHECK(now_s() - t0 < 10, "run waited for a background grandchild");
    CHECK(strcmp(o.stdout_data, "started\n") == 0, "stdout '%s'", o.stdout_data);
    rr_output_free(&o);

    memset(&o, 0, sizeof o);
    t0 = now_s();
    rr_status rc = rr_run(r, NULL, "sleep 100", NULL, NULL, 300, &o, &e);
    CHECK(rc == RR_ERR_TIMEOUT, "status %u", (unsigned)rc);
    CHECK(now_s() - t0 < 20, "timeout not honoured");
    CHECK(o.stdout_data == NULL, "output written on failure");
    rr_error_free(e);
    rr_runner_free(r);
}

static void expect_status(rr_status got, rr_status want, rr_error **e, const char *what) {
    if (got != want || rr_error_code(*e) != want || rr_error_message(*e)[0] == 0) {
        fprintf(stderr, "  FAIL %s: status %u (want %u), message '%s'\n", what, (unsigned)got, (unsigned)want,
                rr_error_message(*e));
        current_failed = 1;
    }
    rr_error_free(*e);
    *e = NULL;
}

static void test_bad_inputs(void) {
    rr_error *e = NULL;
    rr_runner *r = NULL;
    expect_status(rr_runner_new(NULL, NULL, &r, &e), RR_ERR_INVALID_ARGUMENT, &e, "NULL kind");
    expect_status(rr_runner_new("exec", NULL, NULL, &e), RR_ERR_INVALID_ARGUMENT, &e, "NULL out");
    expect_status(rr_runner_new("chroot", NULL, &r, &e), RR_ERR_UNKNOWN_RUNNER, &e, "unknown kind");
    expect_status(rr_runner_new("exec", "{", &r, &e), RR_ERR_INVALID_OPTIONS, &e, "malformed JSON");
    expect_status(rr_runner_new("exec", "{\"shel\":1}", &r, &e), RR_ERR_INVALID_OPTIONS, &e, "unknown key");
    expect_status(rr_runner_new("exec", "{\"shell\":1}", &r, &e), RR_ERR_INVALID_OPTIONS, &e, "wrong type");
    expect_status(rr_runner_new("exec", "{\"shell\":\"\xff\"}", &r, &e), RR_ERR_INVALID_OPTIONS, &e, "not UTF-8");
    expect_status(rr_check_requirements("chroot", NULL, &e), RR_ERR_UNKNOWN_RUNNER, &e, "check unknown kind");
    CHECK(r == NULL, "runner written on failure");
    CHECK(rr_check_requirements("exec", NULL, NULL) == RR_OK, "check exec");
    /* err may be NULL. */
    CHECK(rr_runner_new("nope", NULL, &r, NULL) == RR_ERR_UNKNOWN_RUNNER, "NULL err");

    r = new_runner();
    rr_process *p = NULL;
    int in = -1, out = -1, er = -1;
    const char *bad_env[] = {"NOEQUALS", NULL};
    expect_status(rr_run_with_pipes(r, "true", NULL, bad_env, NULL, &in, &out, &er, &p, &e), RR_ERR_INVALID_ARGUMENT,
                  &e, "env entry without =");
    expect_status(rr_run_with_pipes(r, NULL, NULL, NULL, NULL, &in, &out, &er, &p, &e), RR_ERR_INVALID_ARGUMENT, &e,
                  "NULL cmd");
    expect_status(rr_run_with_pipes(NULL, "true", NULL, NULL, NULL, &in, &out, &er, &p, &e), RR_ERR_INVALID_ARGUMENT,
                  &e, "NULL runner");
    expect_status(rr_run_with_pipes(r, "true", NULL, NULL, NULL, &in, &out, &er, NULL, &e), RR_ERR_INVALID_ARGUMENT,
                  &e, "NULL out");
    expect_status(rr_run_with_pipes(r, "true", NULL, NULL, "[1]", &in, &out, &er, &p, &e), RR_ERR_INVALID_OPTIONS, &e,
                  "params not an object");
    CHECK(p == NULL && in == -1, "outputs written on failure");
    expect_status(rr_wait(NULL, NULL, &e), RR_ERR_INVALID_ARGUMENT, &e, "wait NULL");
    expect_status(rr_wait_timeout(NULL, 10, NULL, &e), RR_ERR_INVALID_ARGUMENT, &e, "wait_timeout NULL");
    expect_status(rr_process_kill(NULL, SIGTERM, &e), RR_ERR_INVALID_ARGUMENT, &e, "kill NULL");
    rr_output o;
    expect_status(rr_run(r, NULL, NULL, NULL, NULL, 0, &o, &e), RR_ERR_INVALID_ARGUMENT, &e, "run NULL command");
    expect_status(rr_run(r, NULL, "true", NULL, NULL, 0, NULL, &e), RR_ERR_INVALID_ARGUMENT, &e, "run NULL out");

    CHECK_OK(rr_run_with_pipes(r, "sleep", (const char *const[]){"10", NULL}, NULL, NULL, &in, &out, &er, &p, &e), &e);
    expect_status(rr_process_kill(p, -3, &e), RR_ERR_INVALID_ARGUMENT, &e, "negative signal");
    expect_status(rr_process_kill(p, 1000, &e), RR_ERR_INVALID_ARGUMENT, &e, "huge signal");
    CHECK_OK(rr_process_kill(p, SIGKILL, &e), &e);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    close(in);
    close(out);
    close(er);

    /* NULL-tolerant functions. */
    CHECK(rr_process_pid(NULL) == -1, "pid of NULL");
    CHECK(rr_error_code(NULL) == RR_OK, "code of NULL");
    CHECK(strcmp(rr_error_message(NULL), "") == 0, "message of NULL");
    CHECK(rr_error_os_code(NULL) == 0, "os code of NULL");
    rr_error_free(NULL);
    rr_runner_free(NULL);
    rr_output_free(NULL);
    rr_runner_free(r);
}

/* A runner built unchecked while firejail (or the engine CLI) is missing:
 * building succeeds, rr_runner_check and every spawn report the missing
 * program, and a failed spawn leaves nothing behind. */
static void test_unchecked_runner_reports_requirements_later(void) {
    rr_error *e = NULL;
    rr_runner *r = NULL;
    struct {
        const char *kind, *options, *names;
    } cases[] = {
        {"firejail", NULL, "firejail"},
        {"docker", "{\"image\": \"localhost/rr-test:latest\", \"engine\": \"podman\"}", "podman"},
        {"docker", "{\"image\": \"localhost/rr-test:latest\"}", "docker"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* Everything runs without the program in PATH; checks come after
         * PATH is back, so a failure cannot leave it broken. */
        rr_error *new_e = NULL, *unchecked_e = NULL, *check_e = NULL, *spawn_e = NULL, *run_e = NULL;
        rr_runner *checked = NULL;
        rr_process *p = NULL;
        int in = -1, out = -1, er = -1;
        rr_output o = {0};
        int fds_before = count_fds();
        char *saved = strdup(getenv("PATH"));
        setenv("PATH", "/nonexistent-rr-path", 1);
        rr_status made = rr_runner_new(cases[i].kind, cases[i].options, &checked, &new_e);
        rr_status st = rr_runner_new_unchecked(cases[i].kind, cases[i].options, &r, &unchecked_e);
        rr_status check = st == RR_OK ? rr_runner_check(r, &check_e) : st;
        rr_status spawned = st == RR_OK ? rr_run_with_pipes(r, "true", NULL, NULL, NULL, &in, &out, &er, &p, &spawn_e) : st;
        rr_status ran = st == RR_OK ? rr_run(r, NULL, "true", NULL, NULL, 0, &o, &run_e) : st;
        setenv("PATH", saved, 1);
        free(saved);

        expect_status(made, RR_ERR_REQUIREMENTS, &new_e, "checked runner without its program");
        CHECK(checked == NULL, "runner written on failure");
        CHECK(st == RR_OK && r != NULL, "%s unchecked: status %u: %s", cases[i].kind, (unsigned)st,
              rr_error_message(unchecked_e));
        CHECK(check == RR_ERR_REQUIREMENTS && strstr(rr_error_message(check_e), cases[i].names) != NULL,
              "%s check: status %u, '%s'", cases[i].kind, (unsigned)check, rr_error_message(check_e));
        CHECK(spawned == RR_ERR_REQUIREMENTS && strstr(rr_error_message(spawn_e), cases[i].names) != NULL,
              "%s spawn: status %u, '%s'", cases[i].kind, (unsigned)spawned, rr_error_message(spawn_e));
        CHECK(p == NULL && in == -1 && out == -1 && er == -1, "outputs written on failure");
        expect_status(ran, RR_ERR_REQUIREMENTS, &run_e, "run, unchecked");
        CHECK(o.stdout_data == NULL, "output written on failure");
        CHECK(count_fds() == fds_before, "fds %d -> %d", fds_before, count_fds());
        CHECK(count_zombie_children() == 0, "zombies left");
        rr_error_free(check_e);
        rr_error_free(spawn_e);
        rr_runner_free(r);
        r = NULL;
    }

    /* Options are as strict as rr_runner_new's. */
    expect_status(rr_runner_new_unchecked("firejail", "{\"allow_networkin\": true}", &r, &e), RR_ERR_INVALID_OPTIONS,
                  &e, "unchecked, unknown key");
    expect_status(rr_runner_new_unchecked("docker", "{}", &r, &e), RR_ERR_INVALID_OPTIONS, &e,
                  "unchecked docker without image");
    expect_status(rr_runner_new_unchecked("chroot", NULL, &r, &e), RR_ERR_UNKNOWN_RUNNER, &e, "unchecked, unknown kind");
    expect_status(rr_runner_new_unchecked(NULL, NULL, &r, &e), RR_ERR_INVALID_ARGUMENT, &e, "unchecked, NULL kind");
    expect_status(rr_runner_new_unchecked("exec", NULL, NULL, &e), RR_ERR_INVALID_ARGUMENT, &e, "unchecked, NULL out");
    CHECK(r == NULL, "runner written on failure");
    expect_status(rr_runner_check(NULL, &e), RR_ERR_INVALID_ARGUMENT, &e, "check NULL");
    CHECK(rr_runner_check(NULL, NULL) == RR_ERR_INVALID_ARGUMENT, "check NULL without err");
}

/* The runner under test, built unchecked: it passes its check (again and
 * again) and spawns, and its first spawn needs no explicit check. */
static void test_unchecked_runner_that_meets_its_requirements(void) {
    rr_error *e = NULL;
    for (int explicit_check = 0; explicit_check < 2; explicit_check++) {
        rr_runner *r = NULL;
        CHECK_OK(rr_runner_new_unchecked(kind, options, &r, &e), &e);
        if (explicit_check) {
            CHECK_OK(rr_runner_check(r, &e), &e);
            CHECK_OK(rr_runner_check(r, &e), &e);
        }
        rr_output o;
        CHECK_OK(rr_run(r, "/bin/sh", "echo unchecked", NULL, NULL, 0, &o, &e), &e);
        CHECK(o.stdout_len == 10 && memcmp(o.stdout_data, "unchecked\n", 10) == 0, "stdout '%.*s'",
              (int)o.stdout_len, o.stdout_data);
        rr_output_free(&o);
        CHECK_OK(rr_runner_check(r, &e), &e);
        rr_runner_free(r);
    }
}

static char proc_state(int pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *paren = strrchr(buf, ')');
    return paren ? paren[2] : 0;
}

/* The child stays a zombie with its pid until rr_wait: a caller may wait
 * for the exit itself (waitid with WNOWAIT here) before rr_wait reaps. */
static void test_pid_kept_until_wait(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    CHECK_OK(spawn(r, "true", NULL, NULL, &s, &e), &e);
    int pid = rr_process_pid(s.p);
    CHECK(pid > 0, "pid %d", pid);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    CHECK(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) == 0 && info.si_pid == pid, "waitid: %s",
          strerror(errno));
    CHECK(proc_state(pid) == 'Z', "state '%c' after exit, want a zombie", proc_state(pid));
    CHECK(rr_process_pid(s.p) == pid, "pid changed");
    close(s.in);
    close(s.out);
    close(s.err);
    rr_exit_status st;
    CHECK_OK(rr_wait(s.p, &st, &e), &e);
    CHECK(st.exited == 1 && st.code == 0, "status %d/%d", st.exited, st.code);
    CHECK(proc_state(pid) == 0, "pid %d still there after rr_wait", pid);
    rr_runner_free(r);
}

static void test_fd_hygiene(void) {
    /* An inheritable fd at a known number must not reach the child. */
    int leak = dup2(STDERR_FILENO, 100);
    CHECK(leak == 100, "dup2");
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    const char *args[] = {"-c", "test -e /proc/self/fd/100 && echo leaked || echo clean", NULL};
    CHECK_OK(spawn(r, "sh", args, NULL, &s, &e), &e);
    int flags_ok = 1;
    int fds[3] = {s.in, s.out, s.err};
    for (int i = 0; i < 3; i++)
        flags_ok &= (fcntl(fds[i], F_GETFD) & FD_CLOEXEC) != 0;
    close(s.in);
    char *out = read_all(s.out, NULL);
    close(s.out);
    close(s.err);
    close(leak);
    CHECK_OK(rr_wait(s.p, NULL, &e), &e);
    CHECK(flags_ok, "handed-out fds are not close-on-exec");
    CHECK(strcmp(out, "clean\n") == 0, "child saw fd 100: %s", out);
    free(out);
    rr_runner_free(r);
}

static void test_null_fd_pointers_mean_dev_null(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    rr_process *p = NULL;
    int out = -1;
    const char *args[] = {"-c", "cat; echo done; echo x >&2", NULL};
    CHECK_OK(rr_run_with_pipes(r, "sh", args, NULL, NULL, NULL, &out, NULL, &p, &e), &e);
    char *got = read_all(out, NULL);
    close(out);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    CHECK(strcmp(got, "done\n") == 0, "got '%s'", got);
    free(got);
    rr_runner_free(r);
}

static void test_spawn_attrs_cwd(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    rr_spawn_attrs *a = NULL;
    CHECK_OK(rr_spawn_attrs_new(&a, &e), &e);
    CHECK_OK(rr_spawn_attrs_set_cwd(a, "/etc", &e), &e);
    const char *args[] = {"-c", "pwd -P", NULL};
    int out = -1;
    rr_process *p = NULL;
    CHECK_OK(rr_spawn(r, "sh", args, NULL, NULL, a, NULL, &out, NULL, &p, &e), &e);
    char *got = read_all(out, NULL);
    close(out);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    CHECK(strcmp(got, "/etc\n") == 0, "started in '%s'", got);
    free(got);

    /* A relative folder is taken from the caller's current folder at spawn time. */
    char here[4096];
    CHECK(getcwd(here, sizeof here) != NULL, "getcwd");
    CHECK(chdir("/") == 0, "chdir /");
    CHECK_OK(rr_spawn_attrs_set_cwd(a, "etc", &e), &e);
    rr_status rc = rr_spawn(r, "sh", args, NULL, NULL, a, NULL, &out, NULL, &p, &e);
    CHECK(chdir(here) == 0, "chdir back");
    CHECK_OK(rc, &e);
    got = read_all(out, NULL);
    close(out);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    CHECK(strcmp(got, "/etc\n") == 0, "relative folder: started in '%s'", got);
    free(got);

    /* One attributes object serves many spawns; clearing it restores the
     * default, the caller's current folder (one every runner's policy here
     * allows). */
    CHECK_OK(rr_spawn_attrs_set_cwd(a, NULL, &e), &e);
    CHECK(chdir("/usr") == 0, "chdir /usr");
    rc = rr_spawn(r, "sh", args, NULL, NULL, a, NULL, &out, NULL, &p, &e);
    CHECK(chdir(here) == 0, "chdir back");
    CHECK_OK(rc, &e);
    got = read_all(out, NULL);
    close(out);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    CHECK(strcmp(got, "/usr\n") == 0, "cleared: started in '%s'", got);
    free(got);
    rr_spawn_attrs_free(a);
    rr_runner_free(r);
}

static void test_spawn_attrs_missing_folder(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    rr_spawn_attrs *a = NULL;
    CHECK_OK(rr_spawn_attrs_new(&a, &e), &e);
    CHECK_OK(rr_spawn_attrs_set_cwd(a, "/rr-no-such-folder/x", &e), &e);
    int in = -1, out = -1, er = -1;
    rr_process *p = NULL;
    int fds_before = count_fds(), zombies_before = count_zombie_children();
    rr_status rc = rr_spawn(r, "true", NULL, NULL, NULL, a, &in, &out, &er, &p, &e);
    CHECK(rc == RR_ERR_SPAWN, "status %u: %s", (unsigned)rc, rr_error_message(e));
    CHECK(strstr(rr_error_message(e), "/rr-no-such-folder/x") != NULL, "message '%s'", rr_error_message(e));
    CHECK(rr_error_os_code(e) == ENOENT, "errno %d", rr_error_os_code(e));
    CHECK(p == NULL && in == -1 && out == -1 && er == -1, "outputs written on failure");
    CHECK(count_fds() == fds_before, "fds leaked by a failed spawn");
    CHECK(count_zombie_children() == zombies_before, "a failed spawn left a zombie");
    rr_error_free(e);
    e = NULL;
    /* A file is not a folder. */
    CHECK_OK(rr_spawn_attrs_set_cwd(a, "/etc/passwd", &e), &e);
    rc = rr_spawn(r, "true", NULL, NULL, NULL, a, &in, &out, &er, &p, &e);
    CHECK(rc == RR_ERR_SPAWN && rr_error_os_code(e) == ENOTDIR, "status %u errno %d", (unsigned)rc,
          rr_error_os_code(e));
    rr_error_free(e);
    e = NULL;

    /* Bad arguments. */
    rr_spawn_attrs *none = NULL;
    expect_status(rr_spawn_attrs_new(NULL, &e), RR_ERR_INVALID_ARGUMENT, &e, "attrs_new NULL out");
    expect_status(rr_spawn_attrs_set_cwd(NULL, "/", &e), RR_ERR_INVALID_ARGUMENT, &e, "set_cwd NULL attrs");
    expect_status(rr_spawn_attrs_set_cwd(a, "", &e), RR_ERR_INVALID_ARGUMENT, &e, "set_cwd empty");
    expect_status(rr_spawn(r, NULL, NULL, NULL, NULL, a, &in, &out, &er, &p, &e), RR_ERR_INVALID_ARGUMENT, &e,
                  "spawn NULL cmd");
    expect_status(rr_spawn(r, "true", NULL, NULL, NULL, a, &in, &out, &er, NULL, &e), RR_ERR_INVALID_ARGUMENT, &e,
                  "spawn NULL out");
    CHECK(p == NULL && in == -1, "outputs written on failure");
    rr_spawn_attrs_free(none);
    rr_spawn_attrs_free(a);

    /* NULL attributes are the defaults. */
    CHECK_OK(rr_spawn(r, "true", NULL, NULL, NULL, NULL, NULL, NULL, NULL, &p, &e), &e);
    rr_exit_status st;
    CHECK_OK(rr_wait(p, &st, &e), &e);
    CHECK(st.exited == 1 && st.code == 0, "status %d/%d", st.exited, st.code);
    rr_runner_free(r);
}

static int readable_within(int fd, int ms) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int n;
    do
        n = poll(&pfd, 1, ms);
    while (n < 0 && errno == EINTR);
    return n > 0 && (pfd.revents & POLLIN);
}

static void test_exit_fd(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    int fds_before = count_fds();
    struct spawned s;
    const char *args[] = {"0.3", NULL};
    CHECK_OK(spawn(r, "sleep", args, NULL, &s, &e), &e);
    int fd = -1, again = -1;
    rr_status rc = rr_process_exit_fd(s.p, &fd, &e);
    if (rc == RR_ERR_REQUIREMENTS) {
        /* No pidfd here: the documented fallback still works. */
        rr_error_free(e);
        e = NULL;
        CHECK_OK(rr_process_wait_exit(s.p, -1, &e), &e);
    } else {
        CHECK_OK(rc, &e);
        CHECK(fd > 2, "exit fd %d", fd);
        CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "exit fd is not close-on-exec");
        CHECK_OK(rr_process_exit_fd(s.p, &again, &e), &e);
        CHECK(again == fd, "a second call gave fd %d, not %d", again, fd);
        CHECK(!readable_within(fd, 0), "readable while the process runs");
        CHECK(readable_within(fd, 30000), "not readable after the process exited");
        /* Exited but not reaped: the status is there at once. */
        CHECK_OK(rr_process_wait_exit(s.p, 0, &e), &e);
    }
    rr_exit_status st;
    CHECK_OK(rr_wait(s.p, &st, &e), &e);
    CHECK(st.exited == 1 && st.code == 0, "status %d/%d", st.exited, st.code);
    close(s.in);
    close(s.out);
    close(s.err);
    CHECK(count_fds() == fds_before, "fds %d -> %d: the exit fd outlived its handle", fds_before, count_fds());

    /* A kill makes it readable too. */
    const char *long_args[] = {"100", NULL};
    CHECK_OK(spawn(r, "sleep", long_args, NULL, &s, &e), &e);
    if (rr_process_exit_fd(s.p, &fd, &e) == RR_OK) {
        CHECK_OK(rr_process_kill(s.p, SIGKILL, &e), &e);
        CHECK(readable_within(fd, 30000), "not readable after a kill");
    } else {
        rr_error_free(e);
        e = NULL;
        CHECK_OK(rr_process_kill(s.p, SIGKILL, &e), &e);
    }
    CHECK_OK(rr_wait(s.p, &st, &e), &e);
    CHECK(st.exited == 0 && st.signal == SIGKILL, "status %d/%d", st.exited, st.signal);
    close(s.in);
    close(s.out);
    close(s.err);

    expect_status(rr_process_exit_fd(NULL, &fd, &e), RR_ERR_INVALID_ARGUMENT, &e, "exit_fd NULL process");
    CHECK_OK(spawn(r, "true", NULL, NULL, &s, &e), &e);
    expect_status(rr_process_exit_fd(s.p, NULL, &e), RR_ERR_INVALID_ARGUMENT, &e, "exit_fd NULL fd_out");
    CHECK_OK(rr_wait(s.p, NULL, &e), &e);
    close(s.in);
    close(s.out);
    close(s.err);
    rr_runner_free(r);
}

/* ---- per-stream stdio (rr_spawn_attrs_set_stdio) -------------------------- */

/* A file with no name in any folder, holding `content`, positioned at 0:
 * only its fd reaches it. Inheritable, like a careless caller's fd. */
static int nameless_file(const char *content) {
    char path[] = "/tmp/rr-c-stdio-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    if (write_all(fd, content, strlen(content)) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The whole content of the file behind `fd`, malloc'd. */
static char *file_content(int fd) {
    lseek(fd, 0, SEEK_SET);
    return read_all(fd, NULL);
}

static rr_spawn_attrs *stdio_attrs(uint32_t in, int in_fd, uint32_t out, int out_fd, uint32_t err, int err_fd,
                                   rr_error **e) {
    rr_spawn_attrs *a = NULL;
    if (rr_spawn_attrs_new(&a, e) != RR_OK || rr_spawn_attrs_set_stdio(a, 0, in, in_fd, e) != RR_OK ||
        rr_spawn_attrs_set_stdio(a, 1, out, out_fd, e) != RR_OK ||
        rr_spawn_attrs_set_stdio(a, 2, err, err_fd, e) != RR_OK) {
        rr_spawn_attrs_free(a);
        return NULL;
    }
    return a;
}

/* RR_STDIO_FD on all three streams, RR_STDIO_STDOUT into an fd and into the
 * stdout pipe, RR_STDIO_NULL: the child reads and writes the caller's
 * files, and rr_spawn writes no fd pointer of a stream it does not pipe. */
static void test_stdio_modes(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    rr_process *p = NULL;
    int fds_before = count_fds();
    int input = nameless_file("line one\nline two\n"), out = nameless_file(""), err = nameless_file("");
    CHECK(input >= 0 && out >= 0 && err >= 0, "temp files");
    rr_spawn_attrs *a = stdio_attrs(RR_STDIO_FD, input, RR_STDIO_FD, out, RR_STDIO_FD, err, &e);
    CHECK(a != NULL, "attrs: %s", rr_error_message(e));
    const char *args[] = {"-c", "cat; echo to-stderr >&2", NULL};
    int in_fd = -1, out_fd = -1, err_fd = -1;
    CHECK_OK(rr_spawn(r, "sh", args, NULL, NULL, a, &in_fd, &out_fd, &err_fd, &p, &e), &e);
    CHECK(in_fd == -1 && out_fd == -1 && err_fd == -1, "fd pointers written: %d %d %d", in_fd, out_fd, err_fd);
    rr_exit_status st;
    CHECK_OK(rr_wait(p, &st, &e), &e);
    CHECK(st.exited == 1 && st.code == 0, "status %d/%d", st.exited, st.code);
    char *got_out = file_content(out), *got_err = file_content(err);
    CHECK(strcmp(got_out, "line one\nline two\n") == 0, "stdout file '%s'", got_out);
    CHECK(strcmp(got_err, "to-stderr\n") == 0, "stderr file '%s'", got_err);
    free(got_out);
    free(got_err);
    rr_spawn_attrs_free(a);

    /* stderr to stdout, which is an fd: both in one file, in order; the
     * fd pointers may be NULL. */
    CHECK(ftruncate(out, 0) == 0 && lseek(out, 0, SEEK_SET) == 0, "truncate");
    a = stdio_attrs(RR_STDIO_NULL, -1, RR_STDIO_FD, out, RR_STDIO_STDOUT, -1, &e);
    CHECK(a != NULL, "attrs: %s", rr_error_message(e));
    const char *both[] = {"-c", "cat; echo one; echo two >&2; echo three", NULL};
    CHECK_OK(rr_spawn(r, "sh", both, NULL, NULL, a, NULL, NULL, NULL, &p, &e), &e);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    got_out = file_content(out);
    CHECK(strcmp(got_out, "one\ntwo\nthree\n") == 0, "2>&1 into a file: '%s'", got_out);
    free(got_out);
    rr_spawn_attrs_free(a);

    /* stderr to stdout, which is a pipe: one pipe handed back, stderr's
     * pointer left alone. */
    a = stdio_attrs(RR_STDIO_PIPE, -1, RR_STDIO_PIPE, -1, RR_STDIO_STDOUT, -1, &e);
    CHECK(a != NULL, "attrs: %s", rr_error_message(e));
    err_fd = -1;
    CHECK_OK(rr_spawn(r, "sh", both, NULL, NULL, a, &in_fd, &out_fd, &err_fd, &p, &e), &e);
    CHECK(in_fd >= 0 && out_fd >= 0 && err_fd == -1, "fds %d %d %d", in_fd, out_fd, err_fd);
    CHECK(write_all(in_fd, "piped\n", 6) == 0, "write");
    close(in_fd);
    got_out = read_all(out_fd, NULL);
    close(out_fd);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    CHECK(strcmp(got_out, "piped\none\ntwo\nthree\n") == 0, "2>&1 into the pipe: '%s'", got_out);
    free(got_out);
    rr_spawn_attrs_free(a);

    close(input);
    close(out);
    close(err);
    CHECK(count_fds() == fds_before, "fds: %d before, %d after", fds_before, count_fds());
    rr_runner_free(r);
}

/* RR_STDIO_INHERIT: the child gets the caller's own fds 0 and 1 (swapped
 * for files for the spawn, restored right after it). */
static void test_stdio_inherit(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    rr_process *p = NULL;
    int input = nameless_file("inherited input\n"), out = nameless_file("");
    CHECK(input >= 0 && out >= 0, "temp files");
    rr_spawn_attrs *a = stdio_attrs(RR_STDIO_INHERIT, -1, RR_STDIO_INHERIT, -1, RR_STDIO_STDOUT, -1, &e);
    CHECK(a != NULL, "attrs: %s", rr_error_message(e));
    fflush(stdout);
    int saved_in = dup(0), saved_out = dup(1);
    CHECK(saved_in >= 0 && saved_out >= 0, "dup");
    dup2(input, 0);
    dup2(out, 1);
    const char *args[] = {"-c", "cat; echo to-stderr >&2", NULL};
    rr_status rc = rr_spawn(r, "sh", args, NULL, NULL, a, NULL, NULL, NULL, &p, &e);
    dup2(saved_in, 0);
    dup2(saved_out, 1);
    close(saved_in);
    close(saved_out);
    CHECK_OK(rc, &e);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    char *got = file_content(out);
    CHECK(strcmp(got, "inherited input\nto-stderr\n") == 0, "caller's stdout got '%s'", got);
    free(got);
    rr_spawn_attrs_free(a);
    close(input);
    close(out);
    rr_runner_free(r);
}

/* Given the caller's fds, the child still has only 0, 1 and 2: neither the
 * originals' numbers nor another inheritable fd of the caller's. */
static void test_stdio_only_fds_0_to_2(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    rr_process *p = NULL;
    int input = nameless_file(""), out = nameless_file("");
    CHECK(input >= 0 && out >= 0, "temp files");
    int stray = dup2(out, 101);
    CHECK(stray == 101, "dup2");
    rr_spawn_attrs *a = stdio_attrs(RR_STDIO_FD, input, RR_STDIO_FD, out, RR_STDIO_STDOUT, -1, &e);
    CHECK(a != NULL, "attrs: %s", rr_error_message(e));
    const char *args[] = {"-l", "/proc/self/fd", NULL};
    CHECK_OK(rr_spawn(r, "ls", args, NULL, NULL, a, NULL, NULL, NULL, &p, &e), &e);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    char *got = file_content(out), fds[64] = {0};
    /* "lrwx... 1 -> /tmp/...": the fd numbers, but for the one ls holds on
     * the folder it lists. */
    for (char *line = strtok(got, "\n"); line; line = strtok(NULL, "\n")) {
        char *arrow = strstr(line, " -> ");
        if (!arrow || strstr(arrow, "/proc/"))
            continue;
        char *num = arrow;
        while (num > line && num[-1] != ' ')
            num--;
        size_t used = strlen(fds);
        snprintf(fds + used, sizeof fds - used, "%.*s ", (int)(arrow - num), num);
    }
    CHECK(strcmp(fds, "0 1 2 ") == 0, "the child's fds: '%s'", fds);
    free(got);
    rr_spawn_attrs_free(a);
    close(stray);
    close(input);
    close(out);
    rr_runner_free(r);
}

/* A pseudo-terminal given as the three streams (RR_STDIO_FD) and as the
 * caller's own fd 0 (RR_STDIO_INHERIT) stays a terminal in the child. */
static void test_stdio_pty_is_a_terminal(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    rr_process *p = NULL;
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0, "pty: %s", strerror(errno));
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(slave >= 0, "open %s: %s", ptsname(master), strerror(errno));
    rr_spawn_attrs *a = stdio_attrs(RR_STDIO_FD, slave, RR_STDIO_FD, slave, RR_STDIO_FD, slave, &e);
    CHECK(a != NULL, "attrs: %s", rr_error_message(e));
    const char *args[] = {"-c", "if [ -t 0 ] && [ -t 1 ] && [ -t 2 ]; then echo is-a-tty; else echo not-a-tty; fi", NULL};
    CHECK_OK(rr_spawn(r, "sh", args, NULL, NULL, a, NULL, NULL, NULL, &p, &e), &e);
    char got[256] = {0};
    size_t len = 0;
    while (len + 1 < sizeof got && !strstr(got, "tty\r\n") && readable_within(master, 30000)) {
        ssize_t n = read(master, got + len, sizeof got - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        got[len] = 0;
    }
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    CHECK(strstr(got, "is-a-tty") != NULL, "through RR_STDIO_FD the child saw '%s'", got);
    rr_spawn_attrs_free(a);

    /* The caller's own stdin is the terminal. */
    a = stdio_attrs(RR_STDIO_INHERIT, -1, RR_STDIO_PIPE, -1, RR_STDIO_NULL, -1, &e);
    CHECK(a != NULL, "attrs: %s", rr_error_message(e));
    int saved_in = dup(0);
    dup2(slave, 0);
    const char *probe[] = {"-c", "[ -t 0 ] && echo is-a-tty || echo not-a-tty", NULL};
    int out = -1;
    rr_status rc = rr_spawn(r, "sh", probe, NULL, NULL, a, NULL, &out, NULL, &p, &e);
    dup2(saved_in, 0);
    close(saved_in);
    CHECK_OK(rc, &e);
    char *said = read_all(out, NULL);
    close(out);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    CHECK(strcmp(said, "is-a-tty\n") == 0, "through RR_STDIO_INHERIT the child saw '%s'", said);
    free(said);
    rr_spawn_attrs_free(a);
    close(slave);
    close(master);
    rr_runner_free(r);
}

static void expect_invalid(rr_status got, rr_error **e, const char *what, const char *needle) {
    if (got != RR_ERR_INVALID_ARGUMENT || rr_error_code(*e) != RR_ERR_INVALID_ARGUMENT ||
        strstr(rr_error_message(*e), needle) == NULL) {
        fprintf(stderr, "  FAIL %s: status %u, message '%s' (want RR_ERR_INVALID_ARGUMENT naming '%s')\n", what,
                (unsigned)got, rr_error_message(*e), needle);
        current_failed = 1;
    }
    rr_error_free(*e);
    *e = NULL;
}

/* Bad values are RR_ERR_INVALID_ARGUMENT naming the argument; a bad fd at
 * spawn time fails rr_spawn naming the stream, writes no output and
 * leaves no fd or zombie behind. */
static void test_stdio_bad_values(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    rr_spawn_attrs *a = NULL;
    CHECK_OK(rr_spawn_attrs_new(&a, &e), &e);
    expect_invalid(rr_spawn_attrs_set_stdio(NULL, 0, RR_STDIO_NULL, -1, &e), &e, "NULL attrs", "attrs");
    expect_invalid(rr_spawn_attrs_set_stdio(a, -1, RR_STDIO_NULL, -1, &e), &e, "stream -1", "stream -1");
    expect_invalid(rr_spawn_attrs_set_stdio(a, 3, RR_STDIO_NULL, -1, &e), &e, "stream 3", "stream 3");
    expect_invalid(rr_spawn_attrs_set_stdio(a, 1, 5, -1, &e), &e, "mode 5", "mode 5");
    expect_invalid(rr_spawn_attrs_set_stdio(a, 1, UINT32_MAX, -1, &e), &e, "mode max", "mode 4294967295");
    expect_invalid(rr_spawn_attrs_set_stdio(a, 0, RR_STDIO_STDOUT, -1, &e), &e, "STDOUT for stdin", "stream 0");
    expect_invalid(rr_spawn_attrs_set_stdio(a, 1, RR_STDIO_STDOUT, -1, &e), &e, "STDOUT for stdout", "stream 1");
    expect_invalid(rr_spawn_attrs_set_stdio(a, 1, RR_STDIO_FD, -1, &e), &e, "negative fd", "fd -1");
    expect_invalid(rr_spawn_attrs_set_stdio(a, 2, RR_STDIO_FD, 1000000, &e), &e, "closed fd", "fd 1000000");

    /* At spawn: an fd closed since, or open in the wrong direction. */
    int fds_before = count_fds(), zombies_before = count_zombie_children();
    /* High enough that nothing opened meanwhile takes its number. */
    int tmp = nameless_file(""), gone = dup2(tmp, 900);
    CHECK(tmp >= 0 && gone == 900, "temp file");
    close(tmp);
    CHECK_OK(rr_spawn_attrs_set_stdio(a, 1, RR_STDIO_FD, gone, &e), &e);
    close(gone);
    int in = -1, out = -1, er = -1;
    rr_process *p = NULL;
    expect_invalid(rr_spawn(r, "true", NULL, NULL, NULL, a, &in, &out, &er, &p, &e), &e, "closed at spawn",
                   "stdout: fd");
    CHECK(p == NULL && in == -1 && out == -1 && er == -1, "outputs written on failure");
    int read_only = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
    CHECK(read_only >= 0, "open");
    CHECK_OK(rr_spawn_attrs_set_stdio(a, 1, RR_STDIO_PIPE, -1, &e), &e);
    CHECK_OK(rr_spawn_attrs_set_stdio(a, 2, RR_STDIO_FD, read_only, &e), &e);
    expect_invalid(rr_spawn(r, "true", NULL, NULL, NULL, a, &in, &out, &er, &p, &e), &e, "read-only stderr",
                   "not open for writing");
    CHECK(p == NULL && in == -1 && out == -1 && er == -1, "outputs written on failure");
    close(read_only);
    CHECK(count_fds() == fds_before, "fds: %d before, %d after", fds_before, count_fds());
    CHECK(count_zombie_children() == zombies_before, "a failed spawn left a zombie");

    /* A stream set back to RR_STDIO_PIPE is a pipe again. */
    CHECK_OK(rr_spawn_attrs_set_stdio(a, 2, RR_STDIO_PIPE, -1, &e), &e);
    const char *args[] = {"-c", "echo err >&2", NULL};
    CHECK_OK(rr_spawn(r, "sh", args, NULL, NULL, a, NULL, NULL, &er, &p, &e), &e);
    char *got = read_all(er, NULL);
    close(er);
    CHECK_OK(rr_wait(p, NULL, &e), &e);
    CHECK(strcmp(got, "err\n") == 0, "stderr pipe got '%s'", got);
    free(got);
    rr_spawn_attrs_free(a);
    rr_runner_free(r);
}

static void test_spawn_wait_cycles(void) {
    const char *env_cycles = getenv("RR_C_CYCLES");
    int cycles = env_cycles ? atoi(env_cycles) : 10000;
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    int fds_before = count_fds(), zombies_before = count_zombie_children();
    for (int i = 0; i < cycles; i++) {
        struct spawned s;
        CHECK_OK(spawn(r, "true", NULL, NULL, &s, &e), &e);
        close(s.in);
        close(s.out);
        close(s.err);
        CHECK_OK(rr_wait(s.p, NULL, &e), &e);
    }
    CHECK(count_fds() == fds_before, "fds %d -> %d after %d cycles", fds_before, count_fds(), cycles);
    CHECK(count_zombie_children() == zombies_before, "zombies %d -> %d", zombies_before, count_zombie_children());
    rr_runner_free(r);
}

static void test_enforcement_report(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    const char *args[] = {"-c", "exit 0", NULL};
    CHECK_OK(spawn(r, "sh", args, NULL, &s, &e), &e);
    char *json = NULL;
    CHECK_OK(rr_process_enforcement(s.p, &json, &e), &e);
    char runner[64];
    snprintf(runner, sizeof runner, "\"runner\":\"%s\"", strcmp(kind, "landlock") == 0 ? "landrun" : kind);
    CHECK(json && strstr(json, runner) != NULL, "no %s in %s", runner, json ? json : "(null)");
    const char *layers[] = {"\"filesystem\"", "\"network\"", "\"namespaces\"", "\"seccomp\"",
                            "\"capabilities\"", "\"containment\"", "\"die_with_caller\"", "\"missing\""};
    for (size_t i = 0; json && i < sizeof layers / sizeof layers[0]; i++)
        CHECK(strstr(json, layers[i]) != NULL, "no %s in the report", layers[i]);
    rr_string_free(json);
    rr_string_free(NULL);
    CHECK(rr_process_enforcement(s.p, NULL, &e) == RR_ERR_INVALID_ARGUMENT, "NULL json_out accepted");
    rr_error_free(e);
    e = NULL;
    CHECK(rr_process_enforcement(NULL, &json, &e) == RR_ERR_INVALID_ARGUMENT, "NULL process accepted");
    rr_error_free(e);
    e = NULL;
    close(s.in);
    close(s.out);
    close(s.err);
    CHECK_OK(rr_wait(s.p, NULL, &e), &e);
    rr_runner_free(r);
}

static void test_wait_info_and_run_info(void) {
    rr_runner *r = new_runner();
    rr_error *e = NULL;
    struct spawned s;
    const char *args[] = {"-c", "exit 4", NULL};
    CHECK_OK(spawn(r, "sh", args, NULL, &s, &e), &e);
    rr_wait_result w;
    memset(&w, 0xAB, sizeof w);
    w.size = sizeof w;
    CHECK_OK(rr_wait_info(s.p, &w, &e), &e);
    CHECK(w.size == sizeof w, "size changed to %zu", w.size);
    CHECK(w.status.exited == 1 && w.status.code == 4, "status %d/%d", w.status.exited, w.status.code);
    CHECK(w.reason == RR_END_EXITED, "reason %u", w.reason);
    CHECK(w.wall_time_us > 0 && w.wall_time_us < 60u * 1000 * 1000, "wall %llu", (unsigned long long)w.wall_time_us);
    close(s.in);
    close(s.out);
    close(s.err);

    /* A caller built against an older, shorter struct: nothing past its size is written. */
    CHECK_OK(spawn(r, "sh", args, NULL, &s, &e), &e);
    unsigned char buf[sizeof(rr_wait_result) + 16];
    memset(buf, 0xCD, sizeof buf);
    rr_wait_result *old = (rr_wait_result *)buf;
    size_t old_size = offsetof(rr_wait_result, wall_time_us);
    old->size = old_size;
    CHECK_OK(rr_wait_info(s.p, old, &e), &e);
    CHECK(old->status.code == 4 && old->reason == RR_END_EXITED, "short struct not filled");
    for (size_t i = old_size; i < sizeof buf; i++)
        CHECK(buf[i] == 0xCD, "byte %zu past the caller's size written", i);
    close(s.in);
    close(s.out);
    close(s.err);

    /* A struct smaller than its own size field is refused, and the handle still consumed. */
    CHECK_OK(spawn(r, "sh", args, NULL, &s, &e), &e);
    rr_wait_result tiny = {.size = 1};
    CHECK(rr_wait_info(s.p, &tiny, &e) == RR_ERR_INVALID_ARGUMENT, "size 1 accepted");
    CHECK(strstr(rr_error_message(e), "size") != NULL, "message '%s'", rr_error_message(e));
    rr_error_free(e);
    e = NULL;
    close(s.in);
    close(s.out);
    close(s.err);

    /* A spawn that measures nothing reports nothing measured; the next one, measuring, counts
     * only its own run. */
    rr_spawn_attrs *quiet = NULL;
    CHECK_OK(rr_spawn_attrs_new(&quiet, &e), &e);
    CHECK_OK(rr_spawn_attrs_set_measure_usage(quiet, 0, &e), &e);
    const char *burn[] = {"-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exit 4", NULL};
    rr_process *p = NULL;
    CHECK_OK(rr_spawn(r, "sh", burn, NULL, NULL, quiet, NULL, NULL, NULL, &p, &e), &e);
    w.size = sizeof w;
    CHECK_OK(rr_wait_info(p, &w, &e), &e);
    CHECK(w.status.code == 4 && w.measured == 0 && w.user_time_us == 0 && w.peak_rss_bytes == 0,
          "unmeasured spawn: code %d measured %u user %llu rss %llu", w.status.code, w.measured,
          (unsigned long long)w.user_time_us, (unsigned long long)w.peak_rss_bytes);
    rr_spawn_attrs_free(quiet);
    CHECK_OK(rr_spawn(r, "sh", args, NULL, NULL, NULL, NULL, NULL, NULL, &p, &e), &e);
    CHECK_OK(rr_wait_info(p, &w, &e), &e);
    int direct = strcmp(kind, "exec") == 0 || strcmp(kind, "landrun") == 0;
    CHECK(!direct || (w.measured & RR_MEASURED_CPU), "measured %u", w.measured);
    CHECK(w.user_time_us + w.system_time_us < w.wall_time_us + 20000,
          "CPU %llu+%llu us over a wall time of %llu us", (unsigned long long)w.user_time_us,
          (unsigned long long)w.system_time_us, (unsigned long long)w.wall_time_us);
    expect_status(rr_spawn_attrs_set_measure_usage(NULL, 0, &e), RR_ERR_INVALID_ARGUMENT, &e,
                  "set_measure_usage NULL attrs");

    /* rr_run_info: a timeout is an outcome, with the output written before it. */
    rr_output o;
    rr_wait_result info = {.size = sizeof info};
    CHECK_OK(rr_run_info(r, NULL, "echo early; exec sleep 100", NULL, NULL, 300, -1, &o, &info, &e), &e);
    CHECK(info.reason == RR_END_TIMED_OUT, "reason %u", info.reason);
    CHECK(o.stdout_data && strcmp(o.stdout_data, "early\n") == 0, "stdout '%s'", o.stdout_data);
    rr_output_free(&o);

    /* A cancellation likewise. */
    int cancel[2];
    CHECK(pipe(cancel) == 0, "pipe");
    CHECK(write(cancel[1], "x", 1) == 1, "write");
    CHECK_OK(rr_run_info(r, NULL, "sleep 100", NULL, NULL, 60000, cancel[0], &o, &info, &e), &e);
    CHECK(info.reason == RR_END_CANCELED, "reason %u", info.reason);
    rr_output_free(&o);
    close(cancel[0]);
    close(cancel[1]);

    /* Wrapper runners report a signal as the wrapper's 128+N exit. */
    CHECK_OK(rr_run_info(r, NULL, "kill -TERM $$", NULL, NULL, 60000, -1, &o, &info, &e), &e);
    direct = strcmp(kind, "exec") == 0 || strcmp(kind, "landrun") == 0;
    CHECK(!direct || info.reason == RR_END_SIGNALED, "reason %u", info.reason);
    rr_output_free(&o);
    rr_runner_free(r);
}

static void test_version(void) {
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", RR_VERSION_MAJOR, RR_VERSION_MINOR, RR_VERSION_PATCH);
    CHECK(strcmp(rr_version(), want) == 0, "rr_version '%s' vs macros '%s'", rr_version(), want);
}

struct test {
    const char *name;
    void (*fn)(void);
};

int main(int argc, char **argv) {
    if (argc > 1)
        kind = argv[1];
    if (argc > 2)
        options = argv[2];
    /* A caller that writes to a child's stdin must not die of SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    const struct test tests[] = {
        {"echo_through_cat", test_echo_through_cat},
        {"many_writes", test_many_writes},
        {"stderr_and_exit_code", test_stderr_and_exit_code},
        {"kill_reaches_grandchildren", test_kill_reaches_grandchildren},
        {"command_not_found", test_command_not_found},
        {"env", test_env},
        {"early_exit_epipe", test_early_exit_epipe},
        {"bulk_64mib_in_and_out", test_bulk_in_and_out},
        {"wait_timeout", test_wait_timeout},
        {"run_output_and_codes", test_run_output_and_codes},
        {"run_background_and_timeout", test_run_background_and_timeout},
        {"bad_inputs", test_bad_inputs},
        {"unchecked_runner_reports_requirements_later", test_unchecked_runner_reports_requirements_later},
        {"unchecked_runner_that_meets_its_requirements", test_unchecked_runner_that_meets_its_requirements},
        {"pid_kept_until_wait", test_pid_kept_until_wait},
        {"fd_hygiene", test_fd_hygiene},
        {"null_fd_pointers", test_null_fd_pointers_mean_dev_null},
        {"spawn_attrs_cwd", test_spawn_attrs_cwd},
        {"spawn_attrs_missing_folder", test_spawn_attrs_missing_folder},
        {"exit_fd", test_exit_fd},
        {"stdio_modes", test_stdio_modes},
        {"stdio_inherit", test_stdio_inherit},
        {"stdio_only_fds_0_to_2", test_stdio_only_fds_0_to_2},
        {"stdio_pty_is_a_terminal", test_stdio_pty_is_a_terminal},
        {"stdio_bad_values", test_stdio_bad_values},
        {"spawn_wait_cycles", test_spawn_wait_cycles},
        {"enforcement_report", test_enforcement_report},
        {"wait_info_and_run_info", test_wait_info_and_run_info},
        {"version", test_version},
    };
    const char *only = getenv("RR_C_TEST");
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (only && strcmp(only, tests[i].name) != 0)
            continue;
        current_failed = 0;
        tests[i].fn();
        printf("%s %s (%s)\n", current_failed ? "FAIL" : "ok  ", tests[i].name, kind);
        fflush(stdout);
        if (current_failed)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
