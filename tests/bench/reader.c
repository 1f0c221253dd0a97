/* The benchmark's trivial reader: drains a trace_pipe 1 MiB at a time and
 * counts newlines, nothing else. The ceiling of any text reader of that pipe.
 *
 *   kpe-bench-reader PATH
 *
 * Prints "ready" once the pipe is open; on SIGTERM or SIGINT prints
 * "lines N lost_lines L bytes B" and exits 0 (2 on a read error). L counts
 * the kernel's "CPU:N [LOST M EVENTS]" lines (not events), found by their
 * first bytes only, so that the loop stays a newline count. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void) sig;
        stop = 1;
}

int main(int argc, char **argv) {
        /* No SA_RESTART: a blocked read of the pipe returns EINTR on the signal. */
        struct sigaction sa = { .sa_handler = on_signal };
        static char buf[1 << 20];
        uint64_t lines = 0, lost_lines = 0, bytes = 0;
        int fd;

        if (argc != 2) {
                fprintf(stderr, "usage: kpe-bench-reader TRACE_PIPE\n");
                return 1;
        }
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "kpe-bench-reader: %s: %s\n", argv[1], strerror(errno));
                return 2;
        }
        printf("ready\n");
        fflush(stdout);
        while (!stop) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "kpe-bench-reader: read: %s\n", strerror(errno));
                        return 2;
                }
                bytes += (uint64_t) n;
                /* Reads return whole lines: buf starts a line. */
                if (n >= 4 && memcmp(buf, "CPU:", 4) == 0)
                        lost_lines++;
                for (const char *p = buf, *e = buf + n; (p = memchr(p, '\n', (size_t) (e - p))); p++) {
                        lines++;
                        if (e - p > 4 && p[1] == 'C' && memcmp(p + 1, "CPU:", 4) == 0)
                                lost_lines++;
                }
        }
        printf("lines %" PRIu64 " lost_lines %" PRIu64 " bytes %" PRIu64 "\n", lines, lost_lines, bytes);
        return 0;
}
