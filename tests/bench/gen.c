/* The benchmark's event generator: N hits of a tracepoint or of a uprobe
 * target, at full speed or at a fixed rate, started on a signal from the
 * harness so that filters on our pid can be set before the first event.
 *
 *   kpe-bench-gen offset [target|leaf|never]
 *           print the uprobe file offset of kpe_bench_target (the default),
 *           kpe_bench_leaf or kpe_bench_never
 *   kpe-bench-gen getpid|call|leaf N [--rate R] [--labels K] [--wait]
 *           getpid: N getpid(2) syscalls (syscalls/sys_enter_getpid);
 *           call:   N calls of kpe_bench_target(fd, struct sockaddr *, len)
 *                   with 127.0.0.1:25, or with K distinct (addr, port)
 *                   pairs cycled (--labels K), or a new pair on every call
 *                   (--labels 0 with call: 2^32 * 65536 before a repeat);
 *           leaf:   N calls of kpe_bench_leaf(key, value) (a uprobe and a
 *                   uretprobe target: key in %di, value in %si on x86-64),
 *                   key 0, i % K with --labels K, or i with --labels 0;
 *                   value spread from 1 to 2^20 about evenly in log2
 *                   (tests/bench/hist.py); kpe_bench_never is never called;
 *           --rate R: at most R events per second (paced every 32 events);
 *           --wait: print "pid P" and wait for a line on stdin first.
 *
 * On exit it prints "generated N in S s" (the seconds from the first event to
 * the last). Exit status 0, 1 on a usage error, 2 on a system error.
 *
 * Built by tests/bench/run.sh with cc; not part of the daemon or the tests. */
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
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__GNUC__) && !defined(__clang__)
#  define KEEP_AS_IS __attribute__((noinline, used, noipa))
#else
#  define KEEP_AS_IS __attribute__((noinline, used))
#endif

/* The uprobe target: the sockaddr in the 2nd argument (%si on x86-64), as in
 * the seed's connect example; kept a real call whatever the optimizer does. */
KEEP_AS_IS int kpe_bench_target(int fd, const struct sockaddr *sa, int len);

KEEP_AS_IS int kpe_bench_target(int fd, const struct sockaddr *sa, int len) {
        const unsigned char *p = (const unsigned char *) sa;

        __asm__ volatile("" : : "r"(sa) : "memory");
        return fd + len + p[2] + p[4];
}

/* The latency and value histogram target: returns at once. */
KEEP_AS_IS uint64_t kpe_bench_leaf(uint64_t key, uint64_t value);

KEEP_AS_IS uint64_t kpe_bench_leaf(uint64_t key, uint64_t value) {
        __asm__ volatile("" : : "r"(key), "r"(value) : "memory");
        return key ^ value;
}

/* Never called: a return probe here never fires, so the entries of a
 * latency metric that pairs with it only pile up. */
KEEP_AS_IS uint64_t kpe_bench_never(uint64_t key);

KEEP_AS_IS uint64_t kpe_bench_never(uint64_t key) {
        __asm__ volatile("" : : "r"(key) : "memory");
        return key + 1;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int print_offset(uintptr_t addr) {
        char exe[4096], line[4096 + 256];
        ssize_t n;
        FILE *f;

        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n < 0)
                return 2;
        exe[n] = '\0';
        f = fopen("/proc/self/maps", "re");
        if (!f)
                return 2;
        while (fgets(line, sizeof(line), f)) {
                uintmax_t start, end, off;
                char perms[8];
                int path_at = 0;

                if (sscanf(line, "%jx-%jx %7s %jx %*s %*s %n", &start, &end, perms, &off, &path_at) < 4 ||
                    path_at == 0)
                        continue;
                if (addr < start || addr >= end)
                        continue;
                line[strcspn(line, "\n")] = '\0';
                fclose(f);
                if (strcmp(line + path_at, exe) != 0)
                        return 2;
                printf("0x%jx\n", (uintmax_t) (addr - start + off));
                return 0;
        }
        fclose(f);
        return 2;
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* Sleeps (or spins, for short gaps, where nanosleep's slack would dominate)
 * until event i is due at rate events/s. */
static void pace(uint64_t start, uint64_t i, uint64_t rate) {
        uint64_t due = start + (uint64_t) ((double) i * 1e9 / (double) rate);

        for (;;) {
                uint64_t now = now_ns();
                if (now >= due)
                        return;
                if (due - now > 200000) {
                        struct timespec ts = { 0, (long) (due - now - 100000) };
                        nanosleep(&ts, NULL);
                }
        }
}

static int usage(void) {
        fprintf(stderr, "usage: kpe-bench-gen offset [target|leaf|never]\n"
                        "       kpe-bench-gen getpid|call|leaf N [--rate R] [--labels K] [--wait]\n");
        return 1;
}

int main(int argc, char **argv) {
        uint64_t n, rate = 0, labels = 1, start, end;
        struct sockaddr_in sin;
        volatile long sink = 0;
        int call, wait = 0;

        if ((argc == 2 || argc == 3) && strcmp(argv[1], "offset") == 0) {
                if (argc == 2 || strcmp(argv[2], "target") == 0)
                        return print_offset((uintptr_t) &kpe_bench_target);
                if (strcmp(argv[2], "leaf") == 0)
                        return print_offset((uintptr_t) &kpe_bench_leaf);
                if (strcmp(argv[2], "never") == 0)
                        return print_offset((uintptr_t) &kpe_bench_never);
                return usage();
        }
        if (argc < 3)
                return usage();
        if (strcmp(argv[1], "getpid") == 0)
                call = 0;
        else if (strcmp(argv[1], "call") == 0)
                call = 1;
        else if (strcmp(argv[1], "leaf") == 0)
                call = 2;
        else
                return usage();
        if (parse_u64(argv[2], UINT64_C(1) << 40, &n) < 0)
                return usage();
        for (int a = 3; a < argc; a++) {
                if (strcmp(argv[a], "--wait") == 0)
                        wait = 1;
                else if (strcmp(argv[a], "--rate") == 0 && a + 1 < argc) {
                        if (parse_u64(argv[++a], UINT64_C(1) << 32, &rate) < 0)
                                return usage();
                } else if (strcmp(argv[a], "--labels") == 0 && a + 1 < argc) {
                        if (parse_u64(argv[++a], UINT64_C(1) << 32, &labels) < 0)
                                return usage();
                } else
                        return usage();
        }

        if (wait) {
                char buf[64];

                printf("pid %ld\n", (long) getpid());
                fflush(stdout);
                if (!fgets(buf, sizeof(buf), stdin))
                        return 2;
        }

        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_port = htons(25);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

        start = now_ns();
        for (uint64_t i = 0; i < n; i++) {
                if (rate > 0 && (i & 31) == 0)
                        pace(start, i, rate);
                if (!call) {
                        sink += syscall(SYS_getpid);
                        continue;
                }
                if (call == 2) {
                        uint64_t h = (i + 1) * UINT64_C(0x9E3779B97F4A7C15);

                        /* A 20-bit number shifted right by 0..19 bits. */
                        sink += (long) kpe_bench_leaf(labels == 1 ? 0 : labels == 0 ? i : i % labels,
                                                      ((h >> 44) >> ((h >> 8) % 20)) | 1);
                        continue;
                }
                if (labels != 1) {
                        /* Label set j: port 1024 + j % 60000, address
                         * 127.0.0.0 + j / 60000 (a number in a label, no
                         * traffic goes anywhere). */
                        uint64_t j = labels == 0 ? i : i % labels;
                        sin.sin_port = htons((uint16_t) (1024 + j % 60000));
                        sin.sin_addr.s_addr = htonl((uint32_t) (0x7f000000u + (j / 60000) % 0xffffffu));
                }
                sink += kpe_bench_target(-1, (const struct sockaddr *) &sin, (int) sizeof(sin));
        }
        end = now_ns();
        (void) sink;
        printf("generated %" PRIu64 " in %.6f s\n", n, (double) (end - start) / 1e9);
        return 0;
}
