/* The escapes of tests/conformance.rs, tried from inside a sandbox. Built
 * static (the docker test image has no C library). Prints RAN first, then
 * ESCAPED or BLOCKED and why; the test also checks the host side. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

static int escaped;

static void report(int ok, const char *what) {
    if (ok) {
        escaped = 1;
        printf("ESCAPED %s\n", what);
    } else {
        printf("BLOCKED %s: %s\n", what, strerror(errno));
    }
    fflush(stdout);
}

static int unix_connect(const char *path) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    socklen_t len;
    if (path[0] == '@') {
        strncpy(a.sun_path + 1, path + 1, sizeof a.sun_path - 2);
        len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path + 1);
    } else {
        strncpy(a.sun_path, path, sizeof a.sun_path - 1);
        len = sizeof a;
    }
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0)
        return 0;
    int ok = connect(s, (struct sockaddr *)&a, len) == 0;
    close(s);
    return ok;
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *op = argv[1];
    if (!strcmp(op, "sleep")) {
        sleep(30);
        return 0;
    }
    printf("RAN\n");
    fflush(stdout);
    if (!strcmp(op, "read")) {
        char b[16];
        int fd = open(argv[2], O_RDONLY);
        report(fd >= 0 && read(fd, b, sizeof b) > 0, "read");
    } else if (!strcmp(op, "write")) {
        int fd = open(argv[2], O_WRONLY | O_APPEND);
        report(fd >= 0 && write(fd, "X", 1) == 1, "append");
        fd = open(argv[3], O_WRONLY | O_CREAT | O_EXCL, 0644);
        report(fd >= 0, "create");
    } else if (!strcmp(op, "meta")) {
        report(chmod(argv[2], 0777) == 0, "chmod");
        report(chown(argv[2], 65534, 65534) == 0, "chown");
        struct timeval tv[2] = {{1, 0}, {1, 0}};
        report(utimes(argv[2], tv) == 0, "utimes");
    } else if (!strcmp(op, "unix")) {
        for (int i = 2; i < argc; i++)
            report(unix_connect(argv[i]), argv[i]);
    } else if (!strcmp(op, "tcp")) {
        struct sockaddr_in a = loopback(atoi(argv[2]));
        int s = socket(AF_INET, SOCK_STREAM, 0);
        report(s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0, "tcp connect");
    } else if (!strcmp(op, "udp")) {
        struct sockaddr_in a = loopback(atoi(argv[2]));
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        /* Sending may succeed into a namespace of its own: the host says
         * whether the datagram arrived. */
        if (s < 0 || sendto(s, "ESCAPED", 7, 0, (struct sockaddr *)&a, sizeof a) != 7)
            report(0, "udp send");
        else
            printf("SENT udp\n");
    } else if (!strcmp(op, "kill")) {
        report(kill(atoi(argv[2]), SIGKILL) == 0, "kill");
    } else if (!strcmp(op, "ptrace")) {
        pid_t pid = atoi(argv[2]);
        int ok = ptrace(PTRACE_ATTACH, pid, 0, 0) == 0;
        if (ok) {
            waitpid(pid, NULL, __WALL);
            ptrace(PTRACE_DETACH, pid, 0, 0);
        }
        report(ok, "ptrace attach");
    } else if (!strcmp(op, "tiocsti")) {
        char c = '\n';
        report(ioctl(0, TIOCSTI, &c) == 0, "TIOCSTI");
    } else if (!strcmp(op, "daemon")) {
        pid_t child = fork();
        if (child == 0) {
            setsid();
            if (fork() == 0) {
                execl("/proc/self/exe", "conformance-probe", "sleep", argv[2], (char *)NULL);
                _exit(127);
            }
            _exit(0);
        }
        waitpid(child, NULL, 0);
        printf("STARTED daemon\n");
    } else if (!strcmp(op, "env")) {
        report(getenv(argv[2]) != NULL, "caller's variable");
    } else if (!strcmp(op, "caps")) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        unsigned long long eff = 0;
        int found = 0;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "CapEff: %llx", &eff) == 1)
                found = 1;
        if (!found)
            printf("UNKNOWN CapEff\n");
        else {
            errno = 0;
            report(eff != 0, "capabilities held");
        }
    } else if (!strcmp(op, "mem")) {
        size_t mb = strtoul(argv[2], NULL, 10), got = 0;
        for (; got < mb; got++) {
            char *p = malloc(1 << 20);
            if (!p)
                break;
            memset(p, 1, 1 << 20);
        }
        report(got == mb, "memory");
    } else if (!strcmp(op, "procs")) {
        int n = atoi(argv[2]), made = 0;
        pid_t kids[1024];
        for (; made < n && made < 1024; made++) {
            pid_t p = fork();
            if (p == 0) {
                sleep(5);
                _exit(0);
            }
            if (p < 0)
                break;
            kids[made] = p;
        }
        int ok = made == n;
        int saved = errno;
        for (int i = 0; i < made; i++) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
        }
        errno = saved;
        report(ok, "processes");
    } else if (!strcmp(op, "files")) {
        int n = atoi(argv[2]), opened = 0;
        for (; opened < n; opened++)
            if (open("/dev/null", O_RDONLY) < 0)
                break;
        report(opened == n, "open files");
    } else if (!strcmp(op, "cpu")) {
        double want = atof(argv[2]);
        volatile unsigned long x = 0;
        while (cpu_seconds() < want)
            x++;
        report(1, "cpu time");
    } else {
        return 2;
    }
    return 0;
}
