/* The workload of tests/bench/kagg.sh, run in the guest (built static on the
 * host: the guest's initramfs has no C library of its own to match).
 *
 *   kagg-load offset
 *           print the uprobe file offset of kagg_key (for the config)
 *   kagg-load getppid N [NICE]
 *           N getppid(2) syscalls in a tight loop (the kprobe target is
 *           __x64_sys_getppid), at nice NICE if given (the guest's busybox
 *           has no nice applet); prints "pid P" first, then
 *           "calls N utime_us U stime_us S wall_us W": the loop's own user
 *           and system time (getrusage, before and after the loop, so that
 *           exec and startup are left out) and its wall time
 *   kagg-load keys K
 *           calls kagg_key(i) for i = 0 .. K-1: K distinct uprobe keys
 *   kagg-load get PORT PATH RUNS GAP_MS
 *           RUNS plain HTTP/1.0 GETs of http://127.0.0.1:PORT/PATH, GAP_MS
 *           apart (past the daemon's 200 ms render cache), each timed from
 *           connect() to the server's close; prints "get MS BYTES STATUS"
 *           per run (BYTES: the body). The guest's busybox has no curl, and
 *           a scrape from inside the guest leaves out qemu's user-mode
 *           network, which the host's curl pays on top.
 *   kagg-load read FILE RUNS
 *           reads FILE whole RUNS times (a hist file: the kernel's share of a
 *           scrape, its sort and print); prints "read MS BYTES" per run.
 *
 * Exit status 0, 1 on a usage error, 2 on a system error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#  define KEEP_AS_IS __attribute__((noinline, used, noipa))
#else
#  define KEEP_AS_IS __attribute__((noinline, used))
#endif

/* The uprobe target: its argument in %di, fetched as v=%di:u32. */
KEEP_AS_IS unsigned kagg_key(unsigned v);

KEEP_AS_IS unsigned kagg_key(unsigned v) {
        __asm__ volatile("" : : "r"(v) : "memory");
        return v + 1;
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static uint64_t tv_us(struct timeval tv) {
        return (uint64_t) tv.tv_sec * 1000000u + (uint64_t) tv.tv_usec;
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;

        if (!s || !*s || *s == '-')
                return -1;
        errno = 0;
        *ret = strtoull(s, &end, 10);
        return errno || *end ? -1 : 0;
}

/* The file offset of addr in our own executable, from /proc/self/maps. */
static int print_offset(uintptr_t addr) {
        char line[4352];
        FILE *f = fopen("/proc/self/maps", "re");

        if (!f)
                return 2;
        while (fgets(line, sizeof(line), f)) {
                uintmax_t start, end, off;
                char perms[8];

                if (sscanf(line, "%jx-%jx %7s %jx", &start, &end, perms, &off) != 4)
                        continue;
                if (addr >= start && addr < end) {
                        fclose(f);
                        printf("0x%jx\n", (uintmax_t) (addr - start + off));
                        return 0;
                }
        }
        fclose(f);
        return 2;
}

static int loop_getppid(uint64_t n) {
        struct rusage r0, r1;
        uint64_t t0, t1;

        printf("pid %d\n", (int) getpid());
        fflush(stdout);
        getrusage(RUSAGE_SELF, &r0);
        t0 = now_ns();
        /* syscall(), not getppid(): no libc may cache or skip it. */
        for (uint64_t i = 0; i < n; i++)
                syscall(SYS_getppid);
        t1 = now_ns();
        getrusage(RUSAGE_SELF, &r1);
        printf("calls %" PRIu64 " utime_us %" PRIu64 " stime_us %" PRIu64 " wall_us %" PRIu64 "\n", n,
               tv_us(r1.ru_utime) - tv_us(r0.ru_utime), tv_us(r1.ru_stime) - tv_us(r0.ru_stime), (t1 - t0) / 1000);
        return 0;
}

/* One GET; prints its time, the body's size and the status code. */
static int get_once(uint16_t port, const char *path) {
        static char buf[1 << 16];
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
        char req[512];
        size_t total = 0, head = 0;
        int fd, status = 0, len;
        char first[64] = "";
        uint64_t t0;
        ssize_t r;

        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
        t0 = now_ns();
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0 || write(fd, req, (size_t) len) != len) {
                perror("get");
                return 2;
        }
        /* Until the server closes (HTTP/1.0); the header's end is found in
         * the first reads (a 4-byte pattern may span two reads: kept in
         * first[]). */
        while ((r = read(fd, buf, sizeof(buf))) > 0) {
                if (!head) {
                        size_t had = strlen(first), take = (size_t) r < sizeof(first) - 1 - had ? (size_t) r
                                                                                               : sizeof(first) - 1 - had;
                        memcpy(first + had, buf, take);
                        first[had + take] = '\0';
                        char *e = memmem(buf, (size_t) r, "\r\n\r\n", 4);
                        if (e)
                                head = total + (size_t) (e - buf) + 4;
                }
                total += (size_t) r;
        }
        close(fd);
        if (r < 0) {
                perror("read");
                return 2;
        }
        sscanf(first, "HTTP/%*s %d", &status);
        printf("get %.3f %zu %d\n", (double) (now_ns() - t0) / 1e6, head ? total - head : 0, status);
        return 0;
}

static int read_file(const char *path, uint64_t runs) {
        static char buf[1 << 16];

        for (uint64_t i = 0; i < runs; i++) {
                uint64_t t0 = now_ns();
                size_t total = 0;
                ssize_t r;
                FILE *f = fopen(path, "re");

                if (!f) {
                        perror(path);
                        return 2;
                }
                /* One read(2) per buffer, as the daemon reads it. */
                while ((r = read(fileno(f), buf, sizeof(buf))) > 0)
                        total += (size_t) r;
                fclose(f);
                if (r < 0) {
                        perror(path);
                        return 2;
                }
                printf("read %.3f %zu\n", (double) (now_ns() - t0) / 1e6, total);
        }
        return 0;
}

static int usage(void) {
        fprintf(stderr, "usage: kagg-load offset | getppid N [NICE] | keys K | get PORT PATH RUNS GAP_MS | read FILE RUNS\n");
        return 1;
}

int main(int argc, char **argv) {
        uint64_t n, port, runs, gap;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc == 2 && strcmp(argv[1], "offset") == 0)
                return print_offset((uintptr_t) &kagg_key);
        if ((argc == 3 || argc == 4) && strcmp(argv[1], "getppid") == 0 && parse_u64(argv[2], &n) == 0) {
                uint64_t nice_to = 0;
                if (argc == 4 && (parse_u64(argv[3], &nice_to) < 0 || nice_to > 19))
                        return usage();
                if (nice_to && setpriority(PRIO_PROCESS, 0, (int) nice_to) < 0) {
                        perror("setpriority");
                        return 2;
                }
                return loop_getppid(n);
        }
        if (argc == 3 && strcmp(argv[1], "keys") == 0 && parse_u64(argv[2], &n) == 0 && n <= UINT32_MAX) {
                volatile unsigned sink = 0;
                for (uint64_t i = 0; i < n; i++)
                        sink += kagg_key((unsigned) i);
                printf("keys %" PRIu64 "\n", n);
                return 0;
        }
        if (argc == 6 && strcmp(argv[1], "get") == 0 && parse_u64(argv[2], &port) == 0 && port <= 65535 &&
            parse_u64(argv[4], &runs) == 0 && parse_u64(argv[5], &gap) == 0) {
                for (uint64_t i = 0; i < runs; i++) {
                        int rc = get_once((uint16_t) port, argv[3]);
                        if (rc)
                                return rc;
                        if (i + 1 < runs)
                                usleep((useconds_t) gap * 1000u);
                }
                return 0;
        }
        if (argc == 4 && strcmp(argv[1], "read") == 0 && parse_u64(argv[3], &runs) == 0)
                return read_file(argv[2], runs);
        return usage();
}
