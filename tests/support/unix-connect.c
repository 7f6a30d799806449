/*
 * Tries to connect to a unix socket by one of the routes a sandbox must
 * close, and says whether it got through:
 *
 *   unix-connect socket PATH   socket(AF_UNIX) + connect
 *   unix-connect int80 PATH    the socket made through the i386 socketcall
 *                              entry (int $0x80), which a filter on the
 *                              x86_64 socket syscall does not see
 *   unix-connect uring PATH    the socket made by io_uring (IORING_OP_SOCKET),
 *                              which no seccomp filter on socket sees
 *   unix-connect pair          socketpair(AF_UNIX), which reaches nothing
 *
 * Prints "connected" and exits 0 when connected; prints why not and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static int fail(const char *what) {
    printf("%s: %s\n", what, strerror(errno));
    return 1;
}

#if defined(__x86_64__)
static int socket_int80(void) {
    /* socketcall(SYS_SOCKET, args) reads its three 32-bit arguments from
     * an address the 32-bit entry can reach. */
    uint32_t *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (args == MAP_FAILED)
        return -1;
    args[0] = AF_UNIX;
    args[1] = SOCK_STREAM;
    args[2] = 0;
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(102L), "b"(1L), "c"((long)(uintptr_t)args)
                     : "memory");
    if (ret < 0) {
        errno = (int)-ret;
        return -1;
    }
    return (int)ret;
}
#else
static int socket_int80(void) {
    errno = ENOSYS;
    return -1;
}
#endif

static int socket_uring(void) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int ring = (int)syscall(__NR_io_uring_setup, 4, &p);
    if (ring < 0)
        return -1;
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                    ring, IORING_OFF_SQ_RING);
    char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                    ring, IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes =
        mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
        return -1;
    struct io_uring_sqe *sqe = &sqes[0];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_SOCKET;
    sqe->fd = AF_UNIX;
    sqe->off = SOCK_STREAM;
    sqe->len = 0;
    uint32_t *tail = (uint32_t *)(sq + p.sq_off.tail);
    uint32_t *array = (uint32_t *)(sq + p.sq_off.array);
    array[*tail & *(uint32_t *)(sq + p.sq_off.ring_mask)] = 0;
    __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
        return -1;
    uint32_t head = __atomic_load_n((uint32_t *)(cq + p.cq_off.head), __ATOMIC_ACQUIRE);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    int res = cqes[head & *(uint32_t *)(cq + p.cq_off.ring_mask)].res;
    if (res < 0) {
        errno = -res;
        return -1;
    }
    return res;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "pair") == 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
            return fail("socketpair");
        puts("socketpair");
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: %s socket|int80|uring PATH\n", argv[0]);
        return 2;
    }
    int fd;
    if (strcmp(argv[1], "socket") == 0)
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
    else if (strcmp(argv[1], "int80") == 0)
        fd = socket_int80();
    else if (strcmp(argv[1], "uring") == 0)
        fd = socket_uring();
    else
        return 2;
    if (fd < 0)
        return fail("socket");
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, argv[2], sizeof addr.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        return fail("connect");
    puts("connected");
    return 0;
}
