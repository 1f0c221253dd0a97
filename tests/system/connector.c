/* A target for the system tests: a user-space function to put a uprobe on,
 * with the same argument layout as the seed's sys_connect example (a
 * struct sockaddr * in the 2nd argument, %si on x86-64), and a way to make
 * real TCP connections for the tracepoint test.
 *
 *   connector offset           print the uprobe file offset of kpe_connect_target
 *   connector call N [PORT]    call kpe_connect_target N times with 127.0.0.1:PORT (default 25)
 *   connector offset note      print the uprobe file offset of kpe_note_target
 *   connector note TEXT...     call kpe_note_target once with each TEXT (its 1st argument:
 *                              a string a test's probe fetches, e.g. a forged record)
 *   connector tcp N PORT       N real TCP connect()s to 127.0.0.1:PORT, closing each;
 *                              all N are tried even if some fail (exit 2 then)
 *   connector flood N FIRSTPORT [PAUSE_US]
 *                              call kpe_connect_target N times, the i-th call (from 0)
 *                              with 127.0.0.1:FIRSTPORT+i, so every call is a new label
 *                              set; PAUSE_US microseconds of sleep after each call
 *                              (default 0) to spread the calls over time
 *   connector offset sleep     print the uprobe file offset of kpe_sleep_target
 *   connector sleep US...      call kpe_sleep_target once with each US (its 1st argument:
 *                              microseconds it sleeps, and returns), one after the other
 *   connector tcpflood N FIRSTPORT
 *                              N TCP connect()s, the i-th to 127.0.0.1:FIRSTPORT+i; a
 *                              refused connect counts as done (each one still passes
 *                              TCP_SYN_SENT); only a failing socket() is an error
 *   connector offset hop       print the uprobe file offset of kpe_hop_target
 *   connector hop N [US...]    call kpe_hop_target N times, each starting on one CPU
 *                              and returning on another: before the i-th call (from 0)
 *                              the thread pins itself to the first CPU it may run on
 *                              (i even) or the second (i odd), and the call moves it to
 *                              the other one, sleeps there and returns; its argument
 *                              (microseconds to sleep, and what it returns) is the
 *                              (i mod count)-th US (default 100), so that a return
 *                              paired with another call's entry shows; prints the two
 *                              CPUs ("0 1"); exit 3 with fewer than 2 CPUs
 *
 * Exit status 0 on success, 1 on a usage error, 2 on a system error. */
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
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Kept as a real, separate function with the sockaddr in its 2nd argument
 * whatever the optimization level: noinline so there is a call to probe,
 * used so it is not dropped, and the barrier plus the result depending on
 * sa so the body is not folded into the caller. */
#if defined(__GNUC__) && !defined(__clang__)
/* GCC could still call a specialized clone (".constprop") from main. */
#  define KEEP_AS_IS __attribute__((noinline, used, noipa))
#else
#  define KEEP_AS_IS __attribute__((noinline, used))
#endif

KEEP_AS_IS int kpe_connect_target(int fd, const struct sockaddr *sa, int len);

KEEP_AS_IS int kpe_connect_target(int fd, const struct sockaddr *sa, int len) {
        const unsigned char *p = (const unsigned char *) sa;
        int r = fd + len;

        __asm__ volatile("" : : "r"(sa) : "memory");
        for (int i = 0; i < len && i < 8; i++)
                r += p[i];
        return r;
}

KEEP_AS_IS int kpe_note_target(const char *text);

KEEP_AS_IS int kpe_note_target(const char *text) {
        __asm__ volatile("" : : "r"(text) : "memory");
        return text[0];
}

/* Sleeps for at least us microseconds (nanosleep, resumed after a signal)
 * and returns us: a function whose duration a test knows, for latency
 * histograms from a uprobe and a uretprobe. */
KEEP_AS_IS unsigned long kpe_sleep_target(unsigned long us);

KEEP_AS_IS unsigned long kpe_sleep_target(unsigned long us) {
        struct timespec ts = { .tv_sec = (time_t) (us / 1000000UL), .tv_nsec = (long) (us % 1000000UL) * 1000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        __asm__ volatile("" : : : "memory");
        return us;
}

/* The CPUs the current hop goes from and to (do_hop sets them). */
static int hop_from = -1, hop_to = -1;

static int pin_to(int cpu) {
        cpu_set_t set;

        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return sched_setaffinity(0, sizeof(set), &set);
}

/* Called on CPU hop_from; moves to CPU hop_to (sched_setaffinity migrates
 * the calling thread before it returns; the yield is for good measure),
 * sleeps us microseconds there and returns us (~0 when it cannot move):
 * its uretprobe fires on another CPU than its uprobe. */
KEEP_AS_IS unsigned long kpe_hop_target(unsigned long us);

KEEP_AS_IS unsigned long kpe_hop_target(unsigned long us) {
        struct timespec ts = { .tv_sec = (time_t) (us / 1000000UL), .tv_nsec = (long) (us % 1000000UL) * 1000L };

        if (pin_to(hop_to) < 0)
                return ~0UL;
        sched_yield();
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        __asm__ volatile("" : : : "memory");
        return us;
}

static int parse_count(const char *s, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* The uprobe offset is a file offset: address - start of the mapping +
 * the mapping's offset in the file, for the mapping of our own executable
 * that contains the function (PIE or not). */
static int print_offset(uintptr_t addr) {
        char exe[4096], line[4096 + 256];
        ssize_t n;
        FILE *f;

        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n < 0) {
                fprintf(stderr, "connector: readlink /proc/self/exe: %s\n", strerror(errno));
                return 2;
        }
        exe[n] = '\0';

        f = fopen("/proc/self/maps", "re");
        if (!f) {
                fprintf(stderr, "connector: /proc/self/maps: %s\n", strerror(errno));
                return 2;
        }
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
                if (strcmp(line + path_at, exe) != 0) {
                        fprintf(stderr, "connector: function mapped from '%s', not '%s'\n", line + path_at,
                                exe);
                        fclose(f);
                        return 2;
                }
                printf("0x%jx\n", (uintmax_t) (addr - start + off));
                fclose(f);
                return 0;
        }
        fclose(f);
        fprintf(stderr, "connector: no mapping holds %p\n", (void *) addr);
        return 2;
}

static void fill_loopback(struct sockaddr_in *sin, unsigned long port) {
        memset(sin, 0, sizeof(*sin));
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t) port);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static int do_call(unsigned long n, unsigned long port) {
        struct sockaddr_in sin;
        volatile int sink = 0;

        fill_loopback(&sin, port);
        for (unsigned long i = 0; i < n; i++)
                sink += kpe_connect_target(-1, (const struct sockaddr *) &sin, (int) sizeof(sin));
        (void) sink;
        return 0;
}

/* Every attempt is made even when some fail: a connect to a closed port
 * still enters TCP_SYN_SENT, and tests count those too. */
static int do_tcp(unsigned long n, unsigned long port) {
        struct sockaddr_in sin;
        unsigned long failed = 0;
        int first_errno = 0;

        fill_loopback(&sin, port);
        for (unsigned long i = 0; i < n; i++) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0) {
                        fprintf(stderr, "connector: socket: %s\n", strerror(errno));
                        return 2;
                }
                if (connect(fd, (const struct sockaddr *) &sin, sizeof(sin)) < 0) {
                        if (failed++ == 0)
                                first_errno = errno;
                }
                close(fd);
        }
        if (failed > 0) {
                fprintf(stderr, "connector: %lu of %lu connects to 127.0.0.1:%lu failed, first: %s\n", failed,
                        n, port, strerror(first_errno));
                return 2;
        }
        return 0;
}

static int do_flood(unsigned long n, unsigned long first, unsigned long pause_us) {
        struct sockaddr_in sin;
        volatile int sink = 0;

        for (unsigned long i = 0; i < n; i++) {
                fill_loopback(&sin, first + i);
                sink += kpe_connect_target(-1, (const struct sockaddr *) &sin, (int) sizeof(sin));
                if (pause_us > 0)
                        usleep((useconds_t) pause_us);
        }
        (void) sink;
        return 0;
}

/* Each connect() passes TCP_SYN_SENT whatever its outcome (refused, or
 * accepted by whoever listens there): those outcomes are not errors. */
static int do_tcpflood(unsigned long n, unsigned long first) {
        struct sockaddr_in sin;

        for (unsigned long i = 0; i < n; i++) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0) {
                        fprintf(stderr, "connector: socket: %s\n", strerror(errno));
                        return 2;
                }
                fill_loopback(&sin, first + i);
                (void) connect(fd, (const struct sockaddr *) &sin, sizeof(sin));
                close(fd);
        }
        return 0;
}

static int do_hop(unsigned long n, const unsigned long *us, int n_us) {
        cpu_set_t allowed;
        volatile unsigned long sink = 0;

        if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0) {
                fprintf(stderr, "connector: sched_getaffinity: %s\n", strerror(errno));
                return 2;
        }
        for (int cpu = 0; cpu < CPU_SETSIZE && hop_to < 0; cpu++)
                if (CPU_ISSET(cpu, &allowed)) {
                        if (hop_from < 0)
                                hop_from = cpu;
                        else
                                hop_to = cpu;
                }
        if (hop_to < 0) {
                fprintf(stderr, "connector: hop needs 2 CPUs, this process may run on %d\n", CPU_COUNT(&allowed));
                return 3;
        }
        printf("%d %d\n", hop_from, hop_to);
        fflush(stdout);
        for (unsigned long i = 0; i < n; i++) {
                /* both ways: whichever CPU a reader reads first, half the
                 * calls return on it */
                if (i > 0) {
                        int t = hop_from;
                        hop_from = hop_to;
                        hop_to = t;
                }
                if (pin_to(hop_from) < 0) {
                        fprintf(stderr, "connector: sched_setaffinity to CPU %d: %s\n", hop_from, strerror(errno));
                        return 2;
                }
                if (kpe_hop_target(us[i % (unsigned long) n_us]) != us[i % (unsigned long) n_us]) {
                        fprintf(stderr, "connector: sched_setaffinity to CPU %d: %s\n", hop_to, strerror(errno));
                        return 2;
                }
                sink += us[i % (unsigned long) n_us];
        }
        (void) sink;
        return 0;
}

static int usage(void) {
        fprintf(stderr,
                "usage: connector offset [note|sleep|hop]\n"
                "       connector sleep US...\n"
                "       connector hop N [US...]\n"
                "       connector note TEXT...\n"
                "       connector call N [PORT]\n"
                "       connector tcp N PORT\n"
                "       connector flood N FIRSTPORT [PAUSE_US]\n"
                "       connector tcpflood N FIRSTPORT\n");
        return 1;
}

int main(int argc, char **argv) {
        unsigned long n, port = 25;

        if (argc == 2 && strcmp(argv[1], "offset") == 0)
                return print_offset((uintptr_t) &kpe_connect_target);
        if (argc == 3 && strcmp(argv[1], "offset") == 0 && strcmp(argv[2], "note") == 0)
                return print_offset((uintptr_t) &kpe_note_target);

        if (argc == 3 && strcmp(argv[1], "offset") == 0 && strcmp(argv[2], "sleep") == 0)
                return print_offset((uintptr_t) &kpe_sleep_target);

        if (argc == 3 && strcmp(argv[1], "offset") == 0 && strcmp(argv[2], "hop") == 0)
                return print_offset((uintptr_t) &kpe_hop_target);

        if (argc >= 3 && argc <= 3 + 64 && strcmp(argv[1], "hop") == 0) {
                unsigned long us[64] = { 100 };
                if (parse_count(argv[2], 100000000UL, &n) < 0)
                        return usage();
                for (int i = 3; i < argc; i++)
                        if (parse_count(argv[i], 10000000UL, &us[i - 3]) < 0)
                                return usage();
                return do_hop(n, us, argc > 3 ? argc - 3 : 1);
        }

        if (argc >= 3 && strcmp(argv[1], "sleep") == 0) {
                unsigned long us[64];
                volatile unsigned long sink = 0;
                if (argc - 2 > 64)
                        return usage();
                for (int i = 2; i < argc; i++)
                        if (parse_count(argv[i], 10000000UL, &us[i - 2]) < 0)
                                return usage();
                for (int i = 2; i < argc; i++)
                        sink += kpe_sleep_target(us[i - 2]);
                (void) sink;
                return 0;
        }

        if (argc >= 3 && strcmp(argv[1], "note") == 0) {
                volatile int sink = 0;
                for (int i = 2; i < argc; i++)
                        sink += kpe_note_target(argv[i]);
                (void) sink;
                return 0;
        }

        if (argc >= 3 && argc <= 4 && strcmp(argv[1], "call") == 0) {
                if (parse_count(argv[2], 100000000UL, &n) < 0 ||
                    (argc == 4 && parse_count(argv[3], 65535, &port) < 0))
                        return usage();
                return do_call(n, port);
        }

        if (argc == 4 && strcmp(argv[1], "tcp") == 0) {
                if (parse_count(argv[2], 1000000UL, &n) < 0 || parse_count(argv[3], 65535, &port) < 0 ||
                    port == 0)
                        return usage();
                return do_tcp(n, port);
        }

        /* Every port FIRSTPORT .. FIRSTPORT+N-1 must be a valid one. */
        if (argc >= 4 && argc <= 5 && strcmp(argv[1], "flood") == 0) {
                unsigned long first, pause_us = 0;
                if (parse_count(argv[2], 65535, &n) < 0 || parse_count(argv[3], 65535, &first) < 0 ||
                    first == 0 || n > 65536 - first ||
                    (argc == 5 && parse_count(argv[4], 1000000UL, &pause_us) < 0))
                        return usage();
                return do_flood(n, first, pause_us);
        }

        if (argc == 4 && strcmp(argv[1], "tcpflood") == 0) {
                unsigned long first;
                if (parse_count(argv[2], 65535, &n) < 0 || parse_count(argv[3], 65535, &first) < 0 ||
                    first == 0 || n > 65536 - first)
                        return usage();
                return do_tcpflood(n, first);
        }

        return usage();
}
