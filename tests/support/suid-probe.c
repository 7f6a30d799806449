/*
 * Installed setuid root in a test image: prints the effective uid and the
 * capability and no_new_privs lines of /proc/self/status it runs with, so a
 * test can tell whether the setuid bit raised its privileges.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    printf("euid=%d\n", (int)geteuid());
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        perror("/proc/self/status");
        return 1;
    }
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "CapEff:", 7) == 0 || strncmp(line, "NoNewPrivs:", 11) == 0)
            fputs(line, stdout);
    }
    fclose(f);
    return 0;
}
