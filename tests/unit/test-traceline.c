/* Tests of the trace_pipe line parser. Every input is copied into a buffer of
 * exactly its length (no terminator), so ASan catches any read past it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "traceline.h"

static char *exact(const char *s, size_t n) {
        char *p = malloc(n ? n : 1);
        assert_non_null(p);
        if (n)
                memcpy(p, s, n);
        return p;
}

#define assert_sv(v, s)                                                                        \
        do {                                                                                   \
                StrView _v = (v);                                                              \
                const char *_s = (s);                                                          \
                if (!sv_eq_str(_v, _s))                                                        \
                        fail_msg("got \"%.*s\", want \"%s\"", (int) _v.n, _v.p ? _v.p : "", _s); \
        } while (0)

/* The header exactly as kernel/trace/trace_output.c prints it. tgid: NULL
 * for no column, "" for "(-------)", else the number. flags: NULL for
 * irq-info off. */
static size_t mkline(char *buf, size_t sz, const char *comm, int pid, const char *tgid, int cpu,
                     const char *flags, const char *ts, const char *rest) {
        int n = snprintf(buf, sz, "%16s-%-7d ", comm, pid);
        if (tgid && !*tgid)
                n += snprintf(buf + n, sz - n, "(-------) ");
        else if (tgid)
                n += snprintf(buf + n, sz - n, "(%7s) ", tgid);
        n += snprintf(buf + n, sz - n, "[%03d] ", cpu);
        if (flags)
                n += snprintf(buf + n, sz - n, "%s", flags);
        n += snprintf(buf + n, sz - n, " %12s: %s", ts, rest);
        assert_true(n > 0 && (size_t) n < sz);
        return (size_t) n;
}

typedef struct HeaderCase {
        const char *line; /* NULL: built with mkline from the fields below */
        const char *comm;
        int32_t pid, tgid, cpu;
        const char *flags; /* for mkline */
        const char *ts;
        const char *event;
        TraceEventForm form;
        const char *body;
} HeaderCase;

static const HeaderCase header_cases[] = {
        { "              nc-89      [000] .....     3.021029: mysocket_event: (__sys_connect_file+0x0/0x70) type=2 port=6400 addr=16777343",
          "nc", 89, -1, 0, NULL, "3.021029", "mysocket_event", TRACE_FORM_NAMED,
          "(__sys_connect_file+0x0/0x70) type=2 port=6400 addr=16777343" },
        { "              fc-6214    [001] DBZff   484.859464: fc: (0x559f95304220) type=2 port=6400 addr=16777343",
          "fc", 6214, -1, 1, NULL, "484.859464", "fc", TRACE_FORM_NAMED,
          "(0x559f95304220) type=2 port=6400 addr=16777343" },
        { "         python3-18066   [001] .....   972.294794: inet_sock_set_state: family=AF_INET6 protocol=IPPROTO_TCP sport=0 dport=25 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 daddrv6=::1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT",
          "python3", 18066, -1, 1, NULL, "972.294794", "inet_sock_set_state", TRACE_FORM_NAMED,
          "family=AF_INET6 protocol=IPPROTO_TCP sport=0 dport=25 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 daddrv6=::1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT" },
        { "         python3-18066   [001] .....   972.294734: sys_connect(fd: 3, uservaddr: 0x7ffc3e35ca10, addrlen: 0x1c)",
          "python3", 18066, -1, 1, NULL, "972.294734", "sys_connect", TRACE_FORM_SYSCALL_ENTER,
          "fd: 3, uservaddr: 0x7ffc3e35ca10, addrlen: 0x1c" },
        { "         python3-18186   (  18186) [001]   1040.222533: sys_enter_connect: __syscall_nr=0x2a (42) fd=0x3 (3) uservaddr=0x7ffc32755b50 (140721155038032) addrlen=0x10 (16)",
          "python3", 18186, 18186, 1, NULL, "1040.222533", "sys_enter_connect", TRACE_FORM_NAMED,
          "__syscall_nr=0x2a (42) fd=0x3 (3) uservaddr=0x7ffc32755b50 (140721155038032) addrlen=0x10 (16)" },
        { "           <...>-1234    (   1234) [001]   123.456789: connect: (__sys_connect+0x0/0x10) port=6400",
          "<...>", 1234, 1234, 1, NULL, "123.456789", "connect", TRACE_FORM_NAMED,
          "(__sys_connect+0x0/0x10) port=6400" },
        { "         python3-18066   [003] .....   972.300001: sys_connect -> 0xffffffffffffff91",
          "python3", 18066, -1, 3, NULL, "972.300001", "sys_connect", TRACE_FORM_SYSCALL_EXIT,
          "0xffffffffffffff91" },
        /* Padding stripped (as in a log excerpt): found by scanning. */
        { "nc-89 [000] ..... 3.021029: mysocket_event: (__sys_connect_file+0x0/0x70) type=2",
          "nc", 89, -1, 0, NULL, "3.021029", "mysocket_event", TRACE_FORM_NAMED,
          "(__sys_connect_file+0x0/0x70) type=2" },
        /* A counter clock ("counter", "x86-tsc") prints no fraction. */
        { "              nc-89      [002] ....  123456789012: e: x=1",
          "nc", 89, -1, 2, NULL, "123456789012", "e", TRACE_FORM_NAMED, "x=1" },
        /* Built with the kernel's formats: */
        { NULL, "<...>", 1234, 1234, 1, NULL, "123.456789", "connect", TRACE_FORM_NAMED, "(0x55) port=1" },
        { NULL, "curl", 77, -1, 5, "d..1.", "5.000001", "connect", TRACE_FORM_NAMED, "(0x55) port=1" },
        { NULL, "curl", 77, 0 /* (-------) */, 5, "d..1", "5.000001", "connect", TRACE_FORM_NAMED, "(0x55) port=1" },
        { NULL, "Web Content", 4242, 4200, 0, ".....", "99.5", "sched_process_exec", TRACE_FORM_NAMED,
          "filename=/usr/lib/firefox pid=4242 old_pid=4242" },
        { NULL, "nc-", 89, -1, 0, ".....", "1.000000", "e", TRACE_FORM_NAMED, "a=1" },
        { NULL, "kworker/u4:2-ev", 12, -1, 1, "d.h2.", "1.000000", "e", TRACE_FORM_NAMED, "a=1" },
        /* A comm whose own text looks like "-PID [CPU]". */
        { NULL, "x-12 [001] 1: a", 13, -1, 1, NULL, "2.000000", "ev", TRACE_FORM_NAMED, "a=1" },
        { NULL, "<idle>", 0, -1, 0, "dNh..", "0.000001", "ev", TRACE_FORM_NAMED, "" },
        { NULL, "", 5, -1, 0, ".....", "0.000001", "ev", TRACE_FORM_NAMED, "x" },
        { NULL, "a", 12345678, 2147483647, 255, NULL, "1.000000", "sys_getpid", TRACE_FORM_SYSCALL_ENTER, "" },
};

static void check_header_case(const HeaderCase *c) {
        char tmp[512];
        const char *src = c->line;
        size_t n;

        if (!src) {
                char rest[256], tgid[16];
                if (c->form == TRACE_FORM_SYSCALL_ENTER)
                        snprintf(rest, sizeof(rest), "%s(%s)", c->event, c->body);
                else
                        snprintf(rest, sizeof(rest), "%s: %s", c->event, c->body);
                snprintf(tgid, sizeof(tgid), "%d", c->tgid);
                n = mkline(tmp, sizeof(tmp), c->comm, c->pid, c->tgid < 0 ? NULL : c->tgid == 0 ? "" : tgid,
                           c->cpu, c->flags, c->ts, rest);
                src = tmp;
        } else
                n = strlen(src);

        _cleanup_free_ char *b = exact(src, n);
        TraceLine tl;
        if (traceline_parse(b, n, &tl) != 0)
                fail_msg("did not parse: %s", src);
        assert_int_equal(tl.kind, TRACE_LINE_EVENT);
        assert_sv(tl.comm, c->comm);
        assert_int_equal(tl.pid, c->pid);
        assert_int_equal(tl.tgid, c->tgid == 0 ? -1 : c->tgid);
        assert_int_equal(tl.cpu, c->cpu);
        assert_sv(tl.timestamp, c->ts);
        assert_sv(tl.event, c->event);
        assert_int_equal(tl.form, c->form);
        assert_sv(tl.body, c->body);
}

static void test_headers(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(header_cases); i++)
                check_header_case(&header_cases[i]);
}

static void test_mkline_matches_kernel_example(void **state) {
        /* The generator prints what the kernel printed on a real machine. */
        char tmp[256];
        (void) state;
        size_t n = mkline(tmp, sizeof(tmp), "python3", 18186, "18186", 1, NULL, "1040.222533", "e: x");
        assert_int_equal(n, strlen(tmp));
        assert_string_equal(tmp, "         python3-18186   (  18186) [001]   1040.222533: e: x");
        mkline(tmp, sizeof(tmp), "nc", 89, NULL, 0, ".....", "3.021029", "e: x");
        assert_string_equal(tmp, "              nc-89      [000] .....     3.021029: e: x");
}

static void test_nul_in_body(void **state) {
        static const char line[] = "              nc-89      [000] .....     3.021029: e: a=\"x\0y\" b=1";
        size_t n = sizeof(line) - 1;
        _cleanup_free_ char *b = exact(line, n);
        TraceLine tl;
        (void) state;

        assert_int_equal(traceline_parse(b, n, &tl), 0);
        assert_int_equal(tl.body.n, 11);
        assert_memory_equal(tl.body.p, "a=\"x\0y\" b=1", 11);
}

static void test_lost(void **state) {
        static const struct {
                const char *line;
                int32_t cpu;
                uint64_t lost;
        } ok[] = {
                { "CPU:1 [LOST 123 EVENTS]", 1, 123 },
                { "CPU:0 [LOST EVENTS]", 0, 0 },
                { "CPU:17 [LOST 18446744073709551615 EVENTS]", 17, UINT64_MAX },
        };
        static const char *const bad[] = {
                "CPU:1 [LOST 123 EVENTS] ", "CPU:1 [LOST 123 EVENTS", "CPU:1 [LOST -1 EVENTS]",
                "CPU: [LOST EVENTS]", "CPU:x [LOST EVENTS]", "CPU:1 [LOST 18446744073709551616 EVENTS]",
                "CPU:1 [LOST  EVENTS]", "CPU:1 [LOST 12EVENTS]", "CPU:99999999999 [LOST EVENTS]", "CPU:",
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                size_t n = strlen(ok[i].line);
                _cleanup_free_ char *b = exact(ok[i].line, n);
                TraceLine tl;
                assert_int_equal(traceline_parse(b, n, &tl), 0);
                assert_int_equal(tl.kind, TRACE_LINE_LOST);
                assert_int_equal(tl.lost_cpu, ok[i].cpu);
                assert_true(tl.lost == ok[i].lost);
                /* Not an event: no fields. */
                TraceField f[4];
                assert_int_equal(traceline_tracepoint_fields(&tl, f, 4), -EINVAL);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                size_t n = strlen(bad[i]);
                _cleanup_free_ char *b = exact(bad[i], n);
                TraceLine tl;
                if (traceline_parse(b, n, &tl) != -EINVAL)
                        fail_msg("accepted: %s", bad[i]);
        }
}

static void test_garbage(void **state) {
        static const char *const bad[] = {
                "",
                "x",
                "# tracer: nop",
                "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION",
                "              nc-89      [000] .....     3.021029 mysocket_event: x",   /* no ':' */
                "              nc-89      [000] .....     3.021029: : x",                /* no event */
                "              nc-89      [000] .....     3.021029:",                    /* nothing after */
                "              nc-89      [000] .....     3.021029: e",                  /* no separator */
                "              nc-89      [000] .....     3.021029: e:x",
                "              nc-89      [000] .....     3.021029: e(a: 1",             /* unclosed */
                "              nc-89      [000] .....     3.021029: e ->",
                "              nc-89      [000] .....     3.0.1: e: x",
                "              nc-89      [000] .....     3.: e: x",
                "              nc-89      [000] .....     .5: e: x",
                "              nc-89      [000] .........     3.021029: e: x",           /* flags too long */
                "              nc-89      [000] ..... .... 3.021029: e: x",              /* two flag columns */
                "              nc-89      [000 .....     3.021029: e: x",
                "              nc-89      [0x0] .....     3.021029: e: x",
                "              nc-89      000] .....     3.021029: e: x",
                "              nc-89[000] .....     3.021029: e: x",                     /* no space after pid */
                "              nc-89      [000].....     3.021029: e: x",
                "              nc-89      (89 [000] .....     3.021029: e: x",
                "              nc-89      (89)[000] .....     3.021029: e: x",
                "              nc-89      (x) [000] .....     3.021029: e: x",
                "              nc-99999999999 [000] .....     3.021029: e: x",           /* pid overflow */
                "              nc-89      [99999999999] .....     3.021029: e: x",       /* cpu overflow */
                "              nc-89      [000] .....     ",
                "              nc-89      [000]",
                "              nc 89      [000] .....     3.021029: e: x",
                "              nc-89      [000] .....     3.021029: e\xff: x",
        };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                size_t n = strlen(bad[i]);
                _cleanup_free_ char *b = exact(bad[i], n);
                TraceLine tl;
                if (traceline_parse(b, n, &tl) != -EINVAL)
                        fail_msg("accepted: \"%s\"", bad[i]);
        }

        /* NUL bytes in the header. */
        static const char nul[] = "              nc-89\0     [000] .....     3.021029: e: x";
        _cleanup_free_ char *b = exact(nul, sizeof(nul) - 1);
        TraceLine tl;
        assert_int_equal(traceline_parse(b, sizeof(nul) - 1, &tl), -EINVAL);
        assert_int_equal(traceline_parse(NULL, 0, &tl), -EINVAL);
}

/* Every prefix of a valid line: parses only once the event's separator is
 * in, and then every view lies inside the prefix. */
static void test_truncated_prefixes(void **state) {
        (void) state;

        for (size_t c = 0; c < ELEMENTSOF(header_cases); c++) {
                const char *line = header_cases[c].line;
                if (!line)
                        continue;
                size_t n = strlen(line);
                TraceLine full;
                assert_int_equal(traceline_parse(line, n, &full), 0);
                /* Shortest accepted length: through "event:" for NAMED, the
                 * whole line for ENTER, through "-> " for EXIT. */
                size_t min = (size_t) (full.event.p - line) + full.event.n + 1;
                if (full.form == TRACE_FORM_SYSCALL_EXIT)
                        min += 3;

                for (size_t k = 0; k < n; k++) {
                        _cleanup_free_ char *b = exact(line, k);
                        TraceLine tl;
                        int r = traceline_parse(b, k, &tl);
                        bool want = full.form != TRACE_FORM_SYSCALL_ENTER && k >= min;
                        if ((r == 0) != want)
                                fail_msg("prefix %zu of \"%s\": r=%d", k, line, r);
                        if (r < 0)
                                continue;
                        assert_sv(tl.event, header_cases[c].event);
                        assert_true(tl.body.p >= b && tl.body.p + tl.body.n == b + k);
                        assert_int_equal(tl.pid, full.pid);
                        TraceField f[16];
                        (void) traceline_tracepoint_fields(&tl, f, ELEMENTSOF(f));
                }
        }
}

static void probe(const char *body, char *const *names, const bool *is_string, size_t n, int want_r,
                  const char *want_loc, const char *const *want) {
        size_t len = strlen(body);
        _cleanup_free_ char *b = exact(body, len);
        StrView values[8], loc = { NULL, 0 };

        assert_true(n <= ELEMENTSOF(values));
        int r = traceline_probe_fields((StrView){ b, len }, names, is_string, n, values, &loc);
        if (r != want_r)
                fail_msg("body \"%s\": r=%d want %d", body, r, want_r);

        /* The same with the names as views, and each name printed right
         * before its value ("NAME="). */
        StrView views[8], values_sv[8], loc_sv = { NULL, 0 };
        for (size_t i = 0; i < n && names; i++)
                views[i] = names[i] ? sv_from(names[i]) : (StrView){ NULL, 0 };
        int r_sv = traceline_probe_fields_sv((StrView){ b, len }, names ? views : NULL, is_string, n, values_sv, &loc_sv);
        assert_int_equal(r_sv, r);

        if (r < 0)
                return;
        assert_sv(loc, want_loc);
        assert_true(loc_sv.p == loc.p && loc_sv.n == loc.n);
        for (size_t i = 0; i < n; i++) {
                assert_sv(values[i], want[i]);
                assert_true(values_sv[i].p == values[i].p && values_sv[i].n == values[i].n);
                assert_true(values[i].p - views[i].n - 1 >= b);
                assert_memory_equal(values[i].p - views[i].n - 1, views[i].p, views[i].n);
                assert_int_equal(values[i].p[-1], '=');
        }
}

static void test_probe_fields(void **state) {
        char *seed[] = { "type", "port", "addr" };
        (void) state;

        /* kprobe, the seed's own line */
        probe("(__sys_connect_file+0x0/0x70) type=2 port=6400 addr=16777343", seed, NULL, 3, 0,
              "__sys_connect_file+0x0/0x70", (const char *[]){ "2", "6400", "16777343" });
        /* uprobe */
        probe("(0x559f95304220) type=2 port=6400 addr=16777343", seed, NULL, 3, 0, "0x559f95304220",
              (const char *[]){ "2", "6400", "16777343" });
        /* kretprobe, typed and untyped */
        char *ret[] = { "ret" }, *arg1[] = { "arg1" };
        probe("(__sys_connect+0x5a/0xb0 <- __sys_connect_file) ret=-111", ret, NULL, 1, 0,
              "__sys_connect+0x5a/0xb0 <- __sys_connect_file", (const char *[]){ "-111" });
        probe("(__sys_connect+0x5a/0xb0 <- __sys_connect_file) arg1=0xffffffffffffff91", arg1, NULL, 1, 0,
              "__sys_connect+0x5a/0xb0 <- __sys_connect_file", (const char *[]){ "0xffffffffffffff91" });
        /* uretprobe */
        probe("(0x559f95304220 <- 0x559f95304300) ret=0", ret, NULL, 1, 0, "0x559f95304220 <- 0x559f95304300",
              (const char *[]){ "0" });
        /* module symbol */
        probe("(tcp_v6_connect+0x0/0x5e0 [ipv6]) ret=1", ret, NULL, 1, 0, "tcp_v6_connect+0x0/0x5e0 [ipv6]",
              (const char *[]){ "1" });

        /* Strings are raw: quotes, spaces and "port=" inside. */
        char *sp[] = { "path", "port" };
        bool sp_str[] = { true, false };
        probe("(do_sys_open+0x0/0x10) path=\"a b port=1 \"x\" port=25", sp, sp_str, 2, 0, "do_sys_open+0x0/0x10",
              (const char *[]){ "\"a b port=1 \"x\"", "25" });
        probe("(s) path=\"say \"hi\" now\" port=7", sp, sp_str, 2, 0, "s",
              (const char *[]){ "\"say \"hi\" now\"", "7" });
        probe("(s) path=\"\" port=7", sp, sp_str, 2, 0, "s", (const char *[]){ "\"\"", "7" });
        /* A string field that is not marked as one stops at the first " port=". */
        probe("(s) path=\"a port=1 b\" port=25", sp, NULL, 2, 0, "s", (const char *[]){ "\"a", "1 b\" port=25" });
        /* Failed fetch prints an unquoted (fault). */
        probe("(s) path=(fault) port=25", sp, sp_str, 2, 0, "s", (const char *[]){ "(fault)", "25" });
        /* A string last runs to the end. */
        char *ps[] = { "port", "path" };
        bool ps_str[] = { false, true };
        probe("(s) port=25 path=\"x y=1 \"z\"", ps, ps_str, 2, 0, "s", (const char *[]){ "25", "\"x y=1 \"z\"" });

        /* Arrays. */
        char *arr[] = { "addr", "port" };
        probe("(s) addr={0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x1} port=25", arr, NULL, 2, 0,
              "s", (const char *[]){ "{0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x1}", "25" });

        /* " port=" must not match inside " sport=". */
        char *xp[] = { "x", "port" };
        probe("(s) x=1 sport=2 port=3", xp, NULL, 2, 0, "s", (const char *[]){ "1 sport=2", "3" });
        /* Empty value. */
        char *ab[] = { "a", "b" };
        probe("(s) a= b=1", ab, NULL, 2, 0, "s", (const char *[]){ "", "1" });

        /* Mismatches. */
        char *three[] = { "family", "port", "daddr" };
        probe("(s) family=2 port=6400", three, NULL, 3, -EINVAL, NULL, NULL);           /* missing last */
        probe("(s) family=2 daddr=1", three, NULL, 3, -EINVAL, NULL, NULL);             /* missing middle */
        probe("(s) port=6400 family=2 daddr=1", three, NULL, 3, -EINVAL, NULL, NULL);   /* wrong order */
        probe("(s)family=2 port=1 daddr=1", three, NULL, 3, -EINVAL, NULL, NULL);
        probe("s) family=2 port=1 daddr=1", three, NULL, 3, -EINVAL, NULL, NULL);
        probe("(s family=2 port=1 daddr=1", three, NULL, 3, -EINVAL, NULL, NULL);
        probe("", three, NULL, 3, -EINVAL, NULL, NULL);
        probe("(s) path=\"unterminated port=1", sp, sp_str, 2, -EINVAL, NULL, NULL);
        /* No fields wanted: only the location. */
        probe("(0x1234) a=1", NULL, NULL, 0, 0, "0x1234", NULL);

        /* location may be NULL. */
        StrView v[1];
        assert_int_equal(traceline_probe_fields(SV("(s) ret=1"), ret, NULL, 1, v, NULL), 0);
        assert_sv(v[0], "1");
}

static void fields_of(const char *line, size_t max, int want_r, const char *const *want) {
        size_t n = strlen(line);
        _cleanup_free_ char *b = exact(line, n);
        TraceLine tl;
        TraceField f[32];

        assert_true(max <= ELEMENTSOF(f));
        assert_int_equal(traceline_parse(b, n, &tl), 0);
        int r = traceline_tracepoint_fields(&tl, f, max);
        if (r != want_r)
                fail_msg("\"%s\": r=%d want %d", line, r, want_r);
        for (int i = 0; i < r; i++) {
                assert_sv(f[i].name, want[2 * i]);
                assert_sv(f[i].value, want[2 * i + 1]);
        }
}

static void test_tracepoint_fields(void **state) {
        (void) state;

        fields_of(header_cases[2].line, 32, 10,
                  (const char *[]){ "family", "AF_INET6", "protocol", "IPPROTO_TCP", "sport", "0", "dport", "25",
                                    "saddr", "0.0.0.0", "daddr", "0.0.0.0", "saddrv6", "::1", "daddrv6", "::1",
                                    "oldstate", "TCP_CLOSE", "newstate", "TCP_SYN_SENT" });
        /* max bounds what is written and returned. */
        fields_of(header_cases[2].line, 2, 2, (const char *[]){ "family", "AF_INET6", "protocol", "IPPROTO_TCP" });
        fields_of(header_cases[2].line, 0, 0, NULL);

        /* Syscall enter and exit. */
        fields_of(header_cases[3].line, 32, 3,
                  (const char *[]){ "fd", "3", "uservaddr", "0x7ffc3e35ca10", "addrlen", "0x1c" });
        fields_of(header_cases[6].line, 32, 1, (const char *[]){ "ret", "0xffffffffffffff91" });
        fields_of("           a-1       [000] .....     1.000000: sys_getpid()", 32, 0, NULL);

        /* options/fields style: values kept as printed. */
        fields_of(header_cases[4].line, 32, 4,
                  (const char *[]){ "__syscall_nr", "0x2a (42)", "fd", "0x3 (3)", "uservaddr",
                                    "0x7ffc32755b50 (140721155038032)", "addrlen", "0x10 (16)" });

        /* Values with spaces. */
        fields_of("    Web Content-4242    [000] .....     1.000000: sched_process_exec: comm=Web Content pid=5 x=a, b", 32, 3,
                  (const char *[]){ "comm", "Web Content", "pid", "5", "x", "a, b" });
        /* Empty values and a prefix before the first field. */
        fields_of("           a-1       [000] .....     1.000000: e: a= b=", 32, 2, (const char *[]){ "a", "", "b", "" });
        fields_of("           a-1       [000] .....     1.000000: e: dev 8:0 sector=12", 32, 1,
                  (const char *[]){ "sector", "12" });
        fields_of("           a-1       [000] .....     1.000000: e(fd: 3, buf: a, b, c: 1)", 32, 3,
                  (const char *[]){ "fd", "3", "buf", "a, b", "c", "1" });

        /* Nothing recognizable. */
        fields_of("           a-1       [000] .....     1.000000: e: hello world", 32, -EINVAL, NULL);
        fields_of("           a-1       [000] .....     1.000000: e: =1 2=", 32, -EINVAL, NULL);
        fields_of("           a-1       [000] .....     1.000000: e: ", 32, -EINVAL, NULL);
        fields_of("           a-1       [000] .....     1.000000: e(3)", 32, -EINVAL, NULL);
        fields_of("           a-1       [000] .....     1.000000: e -> ", 32, -EINVAL, NULL);
}

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dULL;
}

static bool inside(StrView v, const char *b, size_t n) {
        return v.n == 0 ? (v.p == NULL || (v.p >= b && v.p <= b + n)) : (v.p >= b && v.p + v.n <= b + n);
}

static void test_fuzz(void **state) {
        static const char alphabet[] = " -:()[]=\",.{}<>x0123456789\0\xff";
        char buf[512];
        unsigned parsed = 0, rejected = 0, with_fields = 0;
        char *names[] = { "type", "port", "addr" };
        bool is_string[] = { false, true, false };
        (void) state;

        for (unsigned it = 0; it < 20000; it++) {
                size_t n;
                if (it % 10 == 9) {
                        /* Pure noise. */
                        n = rnd() % 200;
                        for (size_t i = 0; i < n; i++)
                                buf[i] = (char) ((it / 10) & 1 ? rnd() : (uint64_t) alphabet[rnd() % (sizeof(alphabet) - 1)]);
                } else {
                        const char *seed = NULL;
                        while (!seed)
                                seed = header_cases[rnd() % ELEMENTSOF(header_cases)].line;
                        n = strlen(seed);
                        memcpy(buf, seed, n);
                        unsigned m = 1 + rnd() % 4;
                        for (unsigned k = 0; k < m; k++) {
                                size_t at = n ? rnd() % n : 0;
                                char c = alphabet[rnd() % (sizeof(alphabet) - 1)];
                                switch (rnd() % 4) {
                                case 0:
                                        if (n)
                                                buf[at] = c;
                                        break;
                                case 1:
                                        if (n) {
                                                memmove(buf + at, buf + at + 1, n - at - 1);
                                                n--;
                                        }
                                        break;
                                case 2:
                                        if (n < sizeof(buf)) {
                                                memmove(buf + at + 1, buf + at, n - at);
                                                buf[at] = c;
                                                n++;
                                        }
                                        break;
                                default:
                                        n = at;
                                }
                        }
                }

                _cleanup_free_ char *b = exact(buf, n);
                TraceLine tl;
                if (traceline_parse(b, n, &tl) < 0) {
                        rejected++;
                        continue;
                }
                parsed++;
                if (tl.kind != TRACE_LINE_EVENT)
                        continue;
                assert_true(inside(tl.comm, b, n));
                assert_true(inside(tl.timestamp, b, n));
                assert_true(inside(tl.event, b, n));
                assert_true(inside(tl.body, b, n));

                TraceField f[8];
                int r = traceline_tracepoint_fields(&tl, f, ELEMENTSOF(f));
                assert_true(r == -EINVAL || (r >= 0 && (size_t) r <= ELEMENTSOF(f)));
                for (int i = 0; i < r; i++) {
                        assert_true(inside(f[i].name, b, n) || sv_eq_str(f[i].name, "ret"));
                        assert_true(inside(f[i].value, b, n));
                }
                if (r > 0)
                        with_fields++;

                StrView v[3], loc;
                if (traceline_probe_fields(tl.body, names, is_string, 3, v, &loc) == 0) {
                        assert_true(inside(loc, b, n));
                        for (int i = 0; i < 3; i++)
                                assert_true(inside(v[i], b, n));
                }
        }
        /* The mutations reached both sides of the parser. */
        assert_true(parsed > 1000);
        assert_true(rejected > 1000);
        assert_true(with_fields > 500);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_headers),
                cmocka_unit_test(test_mkline_matches_kernel_example),
                cmocka_unit_test(test_nul_in_body),
                cmocka_unit_test(test_lost),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_truncated_prefixes),
                cmocka_unit_test(test_probe_fields),
                cmocka_unit_test(test_tracepoint_fields),
                cmocka_unit_test(test_fuzz),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
