/*
 * Tries to push "INJECTED\n" into a terminal's input with TIOCSTI, as if
 * typed there: on /dev/tty (the caller's terminal, when the process has
 * one) and on each terminal named on the command line. Prints what
 * happened for each; exits 0 whatever happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void inject(const char *path) {
    int fd = open(path, O_RDWR | O_NOCTTY);
    if (fd < 0) {
        printf("%s open: %s\n", path, strerror(errno));
        return;
    }
    const char *text = "INJECTED\n";
    for (const char *c = text; *c != '\0'; c++) {
        if (ioctl(fd, TIOCSTI, c) < 0) {
            printf("%s TIOCSTI: %s\n", path, strerror(errno));
            close(fd);
            return;
        }
    }
    printf("%s injected\n", path);
    close(fd);
}

int main(int argc, char **argv) {
    inject("/dev/tty");
    for (int i = 1; i < argc; i++)
        inject(argv[i]);
    return 0;
}
