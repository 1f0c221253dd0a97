/* Tests of daemon/tfs_text.c, the pure tracefs texts: what we write to the
 * probe files, and the parsers, on real kernel texts (tests/unit/data,
 * read from this CI host's 6.18 kernel unless named otherwise). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "tfs_text.h"

static ProbeConfig probe(ProbeType type, const char *name, const char *target, char **fetch, size_t n_fetch) {
        return (ProbeConfig){
                .name = (char *) name,
                .type = type,
                .target = (char *) target,
                .fetch = fetch,
                .n_fetch = n_fetch,
        };
}

static void assert_sv(StrView v, const char *want) {
        if (!sv_eq_str(v, want))
                fail_msg("got '%.*s', want '%s'", (int) v.n, v.p, want);
}

/* ---- probe definitions ---- */

static void test_definition_kinds(void **state) {
        (void) state;
        char *seed[] = { "family=+0(%si):u16", "port=+2(%si):u16", "addr=+4(%si):u32" };
        char *ret[] = { "ret=$retval:s32" };
        char *fc[] = { "type=%di:u32" };
        Buf b = { 0 };
        buf_puts(&b, "left over");

        ProbeConfig p = probe(PROBE_KPROBE, "connect", "__sys_connect_file", seed, 3);
        assert_int_equal(tfs_probe_definition(&p, "kprobe_exporter", &b), 0);
        assert_string_equal(b.data, "p:kprobe_exporter/connect __sys_connect_file "
                                    "family=+0(%si):u16 port=+2(%si):u16 addr=+4(%si):u32");

        p = probe(PROBE_KRETPROBE, "connect_ret", "tcp_v4_connect", ret, 1);
        assert_int_equal(tfs_probe_definition(&p, "kprobe_exporter", &b), 0);
        assert_string_equal(b.data, "r:kprobe_exporter/connect_ret tcp_v4_connect ret=$retval:s32");

        p = probe(PROBE_UPROBE, "fc", "/usr/bin/fc:0x4220", fc, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), 0);
        assert_string_equal(b.data, "p:grp/fc /usr/bin/fc:0x4220 type=%di:u32");

        p = probe(PROBE_URETPROBE, "fc_ret", "/usr/bin/fc:0x4220", ret, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), 0);
        assert_string_equal(b.data, "r:grp/fc_ret /usr/bin/fc:0x4220 ret=$retval:s32");

        /* no fetch args at all */
        p = probe(PROBE_KPROBE, "bare", "do_sys_open", NULL, 0);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), 0);
        assert_string_equal(b.data, "p:grp/bare do_sys_open");
        buf_free(&b);
}

/* The kernel has no $argN for uprobes: the line has the register, the
 * field keeps its name. Kprobes keep $argN (the kernel has it). */
static void test_definition_uprobe_args(void **state) {
        (void) state;
        char *gai[] = { "name=+0($arg1):ustring", "x=+8(+0($arg2)):u64", "flags=$arg4:x32" };
        char *far[] = { "a=+0($arg10):u64" };
        Buf b = { 0 };

        ProbeConfig p = probe(PROBE_KPROBE, "connect", "__sys_connect_file", gai, ELEMENTSOF(gai));
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), 0);
        assert_string_equal(b.data, "p:grp/connect __sys_connect_file "
                                    "name=+0($arg1):ustring x=+8(+0($arg2)):u64 flags=$arg4:x32");

        p = probe(PROBE_UPROBE, "gai", "/usr/lib/x86_64-linux-gnu/libc.so.6:getaddrinfo", gai, ELEMENTSOF(gai));
#if defined(__x86_64__)
        assert_int_equal(tfs_probe_definition_at(&p, "grp", "/usr/lib/x86_64-linux-gnu/libc.so.6:0xefc70", &b), 0);
        assert_string_equal(b.data, "p:grp/gai /usr/lib/x86_64-linux-gnu/libc.so.6:0xefc70 "
                                    "name=+0(%di):ustring x=+8(+0(%si)):u64 flags=%cx:x32");
#elif defined(__aarch64__)
        assert_int_equal(tfs_probe_definition_at(&p, "grp", "/usr/lib/aarch64-linux-gnu/libc.so.6:0xd1e40", &b), 0);
        assert_string_equal(b.data, "p:grp/gai /usr/lib/aarch64-linux-gnu/libc.so.6:0xd1e40 "
                                    "name=+0(%x0):ustring x=+8(+0(%x1)):u64 flags=%x3:x32");
#else
        /* No table of argument registers: the config refuses it first. */
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
#endif
        /* The config would have refused these. */
        p = probe(PROBE_UPROBE, "far", "/bin/true:0x1000", far, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        p = probe(PROBE_URETPROBE, "gai_ret", "/bin/true:0x1000", gai, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), 0);
        assert_string_equal(b.data, "r:grp/gai_ret /bin/true:0x1000 name=+0($arg1):ustring");
        buf_free(&b);
}

static void test_definition_rejects(void **state) {
        (void) state;
        char *inject[] = { "x=%di\n-:kprobes/theirs" };
        char *cr[] = { "x=%di\r" };
        char *comment[] = { "x=%di#", "y=%si" };
        char *empty[] = { "" };
        char *ok[] = { "x=%di" };
        Buf b = { 0 };

        ProbeConfig p = probe(PROBE_TRACEPOINT, "tp", "sock/inet_sock_set_state", NULL, 0);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        p = probe(PROBE_KPROBE, "a", "do_sys_open", inject, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        p = probe(PROBE_KPROBE, "a", "do_sys_open", cr, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        /* the kernel would cut the command at '#' and drop y */
        p = probe(PROBE_KPROBE, "a", "do_sys_open", comment, 2);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        p = probe(PROBE_KPROBE, "a", "do_sys_open", empty, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        p = probe(PROBE_UPROBE, "a", "/my path/bin:0x10", ok, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        p = probe(PROBE_UPROBE, "a", "/opt/a#b:0x10", ok, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        /* "à" in UTF-8 is C3 A0: the kernel's isspace() splits at A0 */
        p = probe(PROBE_UPROBE, "a", "/opt/\xc3\xa0/bin:0x10", ok, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        p = probe(PROBE_UPROBE, "a", "/opt/\xc3\xa9/bin:0x10", ok, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), 0);
        assert_string_equal(b.data, "p:grp/a /opt/\xc3\xa9/bin:0x10 x=%di");
        p = probe(PROBE_KPROBE, "a b", "do_sys_open", ok, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        p = probe(PROBE_KPROBE, "a\tb", "do_sys_open", ok, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        p = probe(PROBE_KPROBE, NULL, "do_sys_open", ok, 1);
        assert_int_equal(tfs_probe_definition(&p, "grp", &b), -EINVAL);
        p = probe(PROBE_KPROBE, "a", "do_sys_open", ok, 1);
        assert_int_equal(tfs_probe_definition(&p, "", &b), -EINVAL);
        assert_int_equal(tfs_probe_definition(&p, "g\vh", &b), -EINVAL);
        assert_int_equal(tfs_probe_definition(&p, NULL, &b), -EINVAL);
        buf_free(&b);
}

static void test_probe_file(void **state) {
        (void) state;
        assert_string_equal(tfs_probe_file(PROBE_KPROBE), "kprobe_events");
        assert_string_equal(tfs_probe_file(PROBE_KRETPROBE), "kprobe_events");
        assert_string_equal(tfs_probe_file(PROBE_UPROBE), "uprobe_events");
        assert_string_equal(tfs_probe_file(PROBE_URETPROBE), "uprobe_events");
        assert_null(tfs_probe_file(PROBE_TRACEPOINT));
        assert_null(tfs_probe_file(_PROBE_TYPE_MAX));
}

static void test_probe_line_split(void **state) {
        (void) state;
        StrView g = SV("unset"), e = SV("unset");

        /* as 6.18 lists a uretprobe of ours in uprobe_events */
        assert_true(tfs_probe_line_split(SV("r:kpe_tfstext_7623/d /bin/true:0x0000000000001000 ret=$retval:s32 arg=%di:u64"),
                                         &g, &e));
        assert_sv(g, "kpe_tfstext_7623");
        assert_sv(e, "d");
        assert_true(tfs_probe_line_split(SV("p:kprobes/p_do_sys_open_0 do_sys_open"), &g, &e));
        assert_sv(g, "kprobes");
        assert_sv(e, "p_do_sys_open_0");
        /* a kretprobe with maxactive; a line of the event name only */
        assert_true(tfs_probe_line_split(SV("r16:kpe_fake/y tcp_v4_connect ret=$retval"), &g, &e));
        assert_sv(g, "kpe_fake");
        assert_sv(e, "y");
        assert_true(tfs_probe_line_split(SV("p:grp/ev"), &g, &e));
        assert_sv(e, "ev");

        static const char *const not_probes[] = {
                "", "p", "p:", "p:grp", "p:grp/", "p:/ev x", "p:grp/ x", "p:gr p/ev x", "x:grp/ev x",
                "-:grp/ev", "pp:grp/ev x", "r1x:grp/ev", "# a comment",
        };
        for (size_t i = 0; i < ELEMENTSOF(not_probes); i++) {
                g = e = SV("unset");
                if (tfs_probe_line_split(sv_from(not_probes[i]), &g, &e))
                        fail_msg("'%s' split", not_probes[i]);
                assert_sv(g, "unset");
                assert_sv(e, "unset");
        }
}

/* ---- error_log ---- */

/* As older kernels and the filter parser write it, with the one case of a
 * kernel that logged the command without its group. */
static const char error_log_text[] =
        "[  411.376493] trace_uprobe: error: Failed to find the given file\n"
        "  Command: p:kpe/b /nonexist:0x10\n"
        "                   ^\n"
        "[  411.376566] trace_uprobe: error: Invalid register name\n"
        "  Command: p:kpe/c /bin/true:0x1000 x=%zz\n"
        "                                      ^\n"
        "[  459.585517] event filter parse error: error: Invalid value (did you forget quotes)?\n"
        "  Command: x ==\n"
        "                ^\n"
        "[  460.000001] trace_uprobe: error: Unknown type is specified\n"
        "  Command: p:kpe/c /bin/true:0x1000 x=%di:badtype\n"
        "                                             ^\n"
        "[  461.100000] trace_uprobe: error: Invalid register name\n"
        "  Command: p:kpe/c /bin/true:0x1000 x=%zz\n"
        "                                        ^\n"
        "[    1.865728] trace_kprobe: error: Invalid probed address or symbol\n"
        "  Command: p:bad no_such_symbol_xyz\n"
        "                 ^\n";

static void test_error_log_entry(void **state) {
        (void) state;
        /* two entries with this command: the last one wins (its caret is
         * two columns further right than the first one's) */
        char *e = tfs_error_log_entry(error_log_text, "p:kpe/c /bin/true:0x1000 x=%zz", NULL);
        assert_non_null(e);
        assert_string_equal(e, "trace_uprobe: error: Invalid register name\n"
                               "  Command: p:kpe/c /bin/true:0x1000 x=%zz\n"
                               "                                        ^");
        free(e);

        e = tfs_error_log_entry(error_log_text, "p:kpe/b /nonexist:0x10", NULL);
        assert_string_equal(e, "trace_uprobe: error: Failed to find the given file\n"
                               "  Command: p:kpe/b /nonexist:0x10\n"
                               "                   ^");
        free(e);

        /* the command as written, with more spaces than the kernel's */
        e = tfs_error_log_entry(error_log_text, "p:kpe/b  /nonexist:0x10 ", NULL);
        assert_non_null(e);
        assert_non_null(strstr(e, "Failed to find the given file"));
        free(e);

        e = tfs_error_log_entry(error_log_text, "x ==", NULL);
        assert_string_equal(e, "event filter parse error: error: Invalid value (did you forget quotes)?\n"
                               "  Command: x ==\n"
                               "                ^");
        free(e);

        /* the kernel logged the command without our group */
        e = tfs_error_log_entry(error_log_text, "p:kprobe_exporter/bad no_such_symbol_xyz", NULL);
        assert_non_null(e);
        assert_string_equal(e, "trace_kprobe: error: Invalid probed address or symbol\n"
                               "  Command: p:bad no_such_symbol_xyz\n"
                               "                 ^");
        free(e);

        assert_null(tfs_error_log_entry(error_log_text, "p:kpe/c /bin/true:0x1000 x=%si", NULL));
        assert_null(tfs_error_log_entry(error_log_text, "p:kpe/c", NULL));
        assert_null(tfs_error_log_entry("", "x ==", NULL));
        assert_null(tfs_error_log_entry(NULL, "x ==", NULL));
        assert_null(tfs_error_log_entry(error_log_text, NULL, NULL));
}

static void test_error_log_next(void **state) {
        (void) state;
        char *text = fixture_text("tracefs-error_log-host-6.18-uprobe.txt");
        TfsErrorLogEntry e;
        const char *pos = text;

        assert_true(tfs_error_log_next(&pos, &e));
        assert_sv(e.stamp, "313.054943");
        assert_sv(e.message, "trace_uprobe: error: There is already the exact same probe event");
        assert_sv(e.command, "  Command: p:kpe_unit_10533/fn /work/wt-tfs/build/tests/test-tfs:0x49a0 x=%di:u64");
        assert_sv(e.caret, "           ^");
        unsigned n = 1;
        for (TfsErrorLogEntry next; tfs_error_log_next(&pos, &next); n++)
                e = next;
        assert_int_equal(n, 6);
        assert_sv(e.stamp, "451.018059");
        assert_sv(e.message, "trace_uprobe: error: Unknown type is specified");
        assert_sv(e.command, "  Command: p:kpe_tfstext_7623/c /bin/true:0x1000 x=%di:badtype");
        assert_sv(e.caret, "                                                       ^");
        assert_int_equal(*pos, 0);
        assert_false(tfs_error_log_next(&pos, &e));
        free(text);

        /* text before the first header is skipped; an entry may lack its
         * Command: and caret lines; a header is never taken for a caret */
        static const char partial[] = "garbage\n  ^\n[ 5.000001] only a message\n[ 5.000002] x\n  Command: y\n[ 5.000003] z\n";
        pos = partial;
        assert_true(tfs_error_log_next(&pos, &e));
        assert_sv(e.stamp, "5.000001");
        assert_sv(e.message, "only a message");
        assert_int_equal(e.command.n, 0);
        assert_int_equal(e.caret.n, 0);
        assert_true(tfs_error_log_next(&pos, &e));
        assert_sv(e.command, "  Command: y");
        assert_int_equal(e.caret.n, 0);
        assert_true(tfs_error_log_next(&pos, &e));
        assert_sv(e.message, "z");
        assert_false(tfs_error_log_next(&pos, &e));
}

static void test_error_log_command_match(void **state) {
        (void) state;
        TfsErrorLogEntry e = { .command = SV("  Command: p:kpe_tfstext_7623/c /bin/true:0x1000 x=%zz") };
        assert_int_equal(tfs_error_log_command_match(&e, "p:kpe_tfstext_7623/c /bin/true:0x1000 x=%zz"), TFS_COMMAND_EQUAL);
        assert_int_equal(tfs_error_log_command_match(&e, "p:kpe_tfstext_7623/c\t/bin/true:0x1000  x=%zz\n"),
                         TFS_COMMAND_EQUAL);
        assert_int_equal(tfs_error_log_command_match(&e, "p:kpe_tfstext_7623/c /bin/true:0x1000 x=%z"), TFS_COMMAND_OTHER);
        assert_int_equal(tfs_error_log_command_match(&e, "p:kpe_tfstext_7623/c /bin/true:0x1000"), TFS_COMMAND_OTHER);
        assert_int_equal(tfs_error_log_command_match(&e, "p:other/c /bin/true:0x1000 x=%zz"), TFS_COMMAND_OTHER);

        e.command = SV("  Command: p:c /bin/true:0x1000 x=%zz");
        assert_int_equal(tfs_error_log_command_match(&e, "p:kpe_tfstext_7623/c /bin/true:0x1000 x=%zz"),
                         TFS_COMMAND_ABBREVIATED);
        assert_int_equal(tfs_error_log_command_match(&e, "p:c /bin/true:0x1000 x=%zz"), TFS_COMMAND_EQUAL);

        /* a filter has no group to drop */
        e.command = SV("  Command: x ==");
        assert_int_equal(tfs_error_log_command_match(&e, "x =="), TFS_COMMAND_EQUAL);
        assert_int_equal(tfs_error_log_command_match(&e, "x"), TFS_COMMAND_OTHER);
        e.command = (StrView){ 0 };
        assert_int_equal(tfs_error_log_command_match(&e, "x =="), TFS_COMMAND_OTHER);
}

static void test_error_log_since(void **state) {
        (void) state;
        char *text = fixture_text("tracefs-error_log-host-6.18-uprobe.txt");
        char *last = tfs_error_log_last_stamp(text);
        assert_string_equal(last, "451.018059");

        /* nothing is newer than the newest entry: a failure the kernel did
         * not log (6.18 logs none for a uprobe without its offset) is not
         * explained by an older entry */
        assert_null(tfs_error_log_entry(text, "p:kpe_tfstext_7623/c /bin/true:0x1000 x=%di:badtype", last));
        assert_null(tfs_error_log_entry(text, "p:kpe_tfstext_7623/e /bin/true", NULL));

        char *e = tfs_error_log_entry(text, "p:kpe_tfstext_7623/c /bin/true:0x1000 x=%zz", "451.017597");
        assert_string_equal(e, "trace_uprobe: error: Invalid register name\n"
                               "  Command: p:kpe_tfstext_7623/c /bin/true:0x1000 x=%zz\n"
                               "                                                   ^");
        free(e);
        /* newer, not as new */
        assert_null(tfs_error_log_entry(text, "p:kpe_tfstext_7623/c /bin/true:0x1000 x=%zz", "451.017920"));
        /* an earlier run's entry for the same command: only with since "" */
        e = tfs_error_log_entry(text, "p:kpe_unit_10533/bad /nonexistent/kpe_unit:0x10 x=%di:u64", "");
        assert_non_null(e);
        assert_non_null(strstr(e, "Failed to find the given file\n"));
        free(e);
        assert_null(tfs_error_log_entry(text, "p:kpe_unit_10533/bad /nonexistent/kpe_unit:0x10 x=%di:u64", "313.086379"));
        free(last);
        free(text);

        /* a stamp with one digit more is later, whatever its bytes say */
        last = tfs_error_log_last_stamp("[    9.999999] a\n  Command: x\n[   10.000000] b\n  Command: x\n[    8.5] c\n");
        assert_string_equal(last, "10.000000");
        free(last);
        last = tfs_error_log_last_stamp("");
        assert_string_equal(last, "");
        free(last);
        last = tfs_error_log_last_stamp(NULL);
        assert_string_equal(last, "");
        free(last);
}

static void test_error_log_filter(void **state) {
        (void) state;
        /* an instance's own error_log, of two refused filters */
        char *text = fixture_text("tracefs-error_log-host-6.18-filter.txt");
        char *last = tfs_error_log_last_stamp(text);
        assert_string_equal(last, "451.012888");
        char *e = tfs_error_log_entry(text, "x ==", NULL);
        assert_string_equal(e, "event filter parse error: error: Field not found\n"
                               "  Command: x ==\n"
                               "             ^");
        free(e);
        e = tfs_error_log_entry(text, "dport == 25 &&", "451.012761");
        assert_string_equal(e, "event filter parse error: error: Meaningless filter expression\n"
                               "  Command: dport == 25 &&\n"
                               "                         ^");
        free(e);
        free(last);
        free(text);
}

/* ---- per_cpu/cpuN/stats ---- */

static void test_cpu_stats(void **state) {
        (void) state;
        char *text = fixture_text("tracefs-stats-host-6.18-busy.txt");
        TracefsCpuStats s = { .entries = 99, .cpu = 7 };
        assert_int_equal(tfs_parse_cpu_stats(text, &s), 0);
        assert_int_equal(s.entries, 106);
        assert_int_equal(s.overrun, 1080);
        assert_int_equal(s.commit_overrun, 0);
        assert_int_equal(s.dropped_events, 0);
        assert_int_equal(s.read_events, 18);
        assert_int_equal(s.cpu, 7);
        free(text);

        text = fixture_text("tracefs-stats-host-6.18-idle.txt");
        s = (TracefsCpuStats){ .entries = 1, .overrun = 2, .commit_overrun = 3, .dropped_events = 4, .read_events = 5 };
        assert_int_equal(tfs_parse_cpu_stats(text, &s), 0);
        assert_int_equal(s.entries + s.overrun + s.commit_overrun + s.dropped_events + s.read_events, 0);
        free(text);

        /* every counter, at its largest; keys the text lacks read 0 */
        assert_int_equal(tfs_parse_cpu_stats("entries: 7\noverrun: 6400\ncommit overrun: 2\nbytes: 1440\n"
                                             "oldest event ts:   972.294734\nnow ts:  1040.222533\n"
                                             "dropped events: 18446744073709551615\nread events: 0\n",
                                             &s),
                         0);
        assert_int_equal(s.entries, 7);
        assert_int_equal(s.overrun, 6400);
        assert_int_equal(s.commit_overrun, 2);
        assert_true(s.dropped_events == UINT64_MAX);
        assert_int_equal(s.read_events, 0);
        assert_int_equal(tfs_parse_cpu_stats("overrun: 25", &s), 0);
        assert_int_equal(s.entries, 0);
        assert_int_equal(s.overrun, 25);
        assert_int_equal(tfs_parse_cpu_stats("", &s), 0);
        assert_int_equal(s.overrun, 0);

        /* a garbled counter is an error, not a zero */
        assert_int_equal(tfs_parse_cpu_stats("entries: 1\noverrun: lots\n", &s), -EBADMSG);
        assert_int_equal(tfs_parse_cpu_stats("entries: -1\n", &s), -EBADMSG);
        assert_int_equal(tfs_parse_cpu_stats("entries:\n", &s), -EBADMSG);
        assert_int_equal(tfs_parse_cpu_stats("read events: 18446744073709551616\n", &s), -EBADMSG);
}

/* ---- formats ---- */

static void assert_strv(char **v, int n, const char *const *want, int n_want) {
        assert_int_equal(n, n_want);
        for (int i = 0; i < n_want; i++)
                assert_string_equal(v[i], want[i]);
        assert_null(v[n_want]);
}

static void assert_format_fields(const char *file, const char *const *want, int n_want) {
        char *text = fixture_text(file);
        char **v = NULL;
        int n = tfs_parse_format_fields(text, &v);
        assert_strv(v, n, want, n_want);
        strv_free(v);
        free(text);
}

static void test_format_fields(void **state) {
        (void) state;
        static const char *const inet[] = { "family", "protocol", "sport", "dport", "saddr",
                                            "daddr", "saddrv6", "daddrv6", "oldstate", "newstate" };
        assert_format_fields("tracefs-format-host-6.18-sock-inet_sock_set_state.txt", inet, 10);
        /* syscalls: the field list; __syscall_nr is not printed */
        static const char *const enter[] = { "fd", "uservaddr", "addrlen" };
        assert_format_fields("tracefs-format-host-6.18-syscalls-sys_enter_connect.txt", enter, 3);
        static const char *const exit_[] = { "ret" };
        assert_format_fields("tracefs-format-host-6.18-syscalls-sys_exit_connect.txt", exit_, 1);
        static const char *const rename[] = { "pid", "oldcomm", "newcomm", "oom_score_adj" };
        assert_format_fields("tracefs-format-host-6.18-task-task_rename.txt", rename, 4);
        static const char *const exec[] = { "filename", "pid", "old_pid" };
        assert_format_fields("tracefs-format-host-6.18-sched-sched_process_exec.txt", exec, 3);

        char **v = NULL;
        /* array suffix stripped */
        int n = tfs_parse_format_fields("\tfield:__u8 daddr_v6[16];\toffset:56;\n\nprint fmt: \"%d\", x\n", &v);
        static const char *const arr[] = { "daddr_v6" };
        assert_strv(v, n, arr, 1);
        strv_free(v);
        /* an escape before a name is not part of it; "1=%d" is no name;
         * a '"' escaped inside the print fmt does not end it */
        n = tfs_parse_format_fields("print fmt: \"a=%d\\nb=%d 1=%d \\\"q\\\" c=%s\", REC->a\n", &v);
        static const char *const esc[] = { "a", "b", "c" };
        assert_strv(v, n, esc, 3);
        strv_free(v);
        /* nothing printed, no fields */
        n = tfs_parse_format_fields("format:\n\nprint fmt: \"\"\n", &v);
        assert_strv(v, n, NULL, 0);
        strv_free(v);

        v = NULL;
        assert_int_equal(tfs_parse_format_fields("name: x\nformat:\n", &v), -EBADMSG);
        assert_int_equal(tfs_parse_format_fields("print fmt: \"unterminated", &v), -EBADMSG);
        assert_int_equal(tfs_parse_format_fields("print fmt: \"escaped end\\\"", &v), -EBADMSG);
        assert_int_equal(tfs_parse_format_fields("", &v), -EBADMSG);
        assert_null(v);
}

static void test_format_field_name(void **state) {
        (void) state;
        static const char *const lines[][2] = {
                { "\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;", "filename" },
                { "\tfield:char oldcomm[16];\toffset:12;\tsize:16;\tsigned:0;", "oldcomm" },
                { "\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;", "skaddr" },
                { "\tfield:struct sockaddr * uservaddr;\toffset:24;\tsize:8;\tsigned:0;", "uservaddr" },
                { "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;", "common_type" },
                { "field:int x;", "x" },
        };
        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                StrView name = SV("unset");
                assert_true(tfs_format_field_name(sv_from(lines[i][0]), &name));
                assert_sv(name, lines[i][1]);
        }
        static const char *const not_fields[] = {
                "name: sched_process_exec", "ID: 365", "format:", "", "\t", "\tfield:int x",
                "\tfield:;", "\tfield:int x[4;", "\tfield:int [4];", "\tfield:int 9x;", "\tfield:char x]];",
                "print fmt: \"filename=%s\", __get_str(filename)",
        };
        for (size_t i = 0; i < ELEMENTSOF(not_fields); i++) {
                StrView name = SV("unset");
                if (tfs_format_field_name(sv_from(not_fields[i]), &name))
                        fail_msg("'%s' gave '%.*s'", not_fields[i], (int) name.n, name.p);
                assert_sv(name, "unset");
        }
}

/* ---- /proc/mounts ---- */

static void test_parse_mounts(void **state) {
        (void) state;
        char *root = NULL;
        assert_int_equal(tfs_parse_mounts(
                                 "proc /proc proc rw,relatime 0 0\n"
                                 "debugfs /sys/kernel/debug debugfs rw 0 0\n"
                                 "nodev /mnt/my\\040trace\\134dir tracefs rw,relatime 0 0\n"
                                 "nodev /sys/kernel/tracing tracefs rw,relatime 0 0\n",
                                 &root),
                         0);
        assert_string_equal(root, "/mnt/my trace\\dir");
        free(root);

        /* no trailing newline; "tracefs" as a device name is not a match */
        assert_int_equal(tfs_parse_mounts("tracefs /x ext4 rw 0 0\nnodev /t tracefs rw 0 0", &root), 0);
        assert_string_equal(root, "/t");
        free(root);
        /* a short escape and one out of range stay as they are */
        assert_int_equal(tfs_parse_mounts("nodev /a\\04 tracefs rw 0 0\n", &root), 0);
        assert_string_equal(root, "/a\\04");
        free(root);
        assert_int_equal(tfs_parse_mounts("nodev /a\\400 tracefs rw 0 0\n", &root), 0);
        assert_string_equal(root, "/a\\400");
        free(root);

        root = NULL;
        assert_int_equal(tfs_parse_mounts("sysfs /sys sysfs rw 0 0\n", &root), -ENOENT);
        assert_int_equal(tfs_parse_mounts("nodev tracefs\n", &root), -ENOENT);
        assert_int_equal(tfs_parse_mounts("\n\n", &root), -ENOENT);
        assert_int_equal(tfs_parse_mounts("", &root), -ENOENT);
        assert_null(root);
}

/* ---- names ---- */

static void test_tracepoint_target(void **state) {
        (void) state;
        /* real ones, also those starting with a digit or holding '-' */
        static const char *const good[] = {
                "sock/inet_sock_set_state", "syscalls/sys_enter_connect", "9p/9p_client_req",
                "xhci-hcd/xhci_urb_enqueue", "kpe_tfstext_7623/d",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!tracepoint_target_is_valid(good[i]))
                        fail_msg("'%s' refused", good[i]);
        static const char *const bad[] = {
                "sock", "sock/", "/x", "../instances", "sock/../x", "sock/a/b", "sock/a-b", "-x/y", "so ck/x",
                "sock/x\n", "sock/x y", ".", "a./b", "sock/\xc3\xa9", "",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (tracepoint_target_is_valid(bad[i]))
                        fail_msg("'%s' accepted", bad[i]);
        assert_false(tracepoint_target_is_valid(NULL));

        char long_target[600];
        memset(long_target, 'a', sizeof(long_target));
        long_target[255] = '/';
        long_target[511] = 0;
        assert_true(tracepoint_target_is_valid(long_target));
        long_target[511] = 'a';
        long_target[512] = 0;
        assert_false(tracepoint_target_is_valid(long_target));
}

/* kprobe_profile as Debian 12's 6.1 prints it: "EVENT HITS MISSES". */
static void test_kprobe_profile(void **state) {
        (void) state;
        const char *text = "  connect                                                   12               0\n"
                           "  connect_ret                                               10               2\n"
                           "  other/connect_ret                                          1               1\n";
        uint64_t hits = 99, misses = 99;
        assert_int_equal(tfs_parse_kprobe_profile(text, "connect", &hits, &misses), 0);
        assert_int_equal(hits, 12);
        assert_int_equal(misses, 0);
        assert_int_equal(tfs_parse_kprobe_profile(text, "connect_ret", &hits, &misses), 0);
        assert_int_equal(hits, 10);
        assert_int_equal(misses, 2);
        assert_int_equal(tfs_parse_kprobe_profile(text, "connec", &hits, &misses), -ENOENT);
        assert_int_equal(tfs_parse_kprobe_profile("  broken 12\n", "broken", &hits, &misses), -EBADMSG);
        assert_int_equal(tfs_parse_kprobe_profile("", "connect", &hits, &misses), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_definition_kinds),
                cmocka_unit_test(test_definition_uprobe_args),
                cmocka_unit_test(test_definition_rejects),
                cmocka_unit_test(test_probe_file),
                cmocka_unit_test(test_probe_line_split),
                cmocka_unit_test(test_error_log_entry),
                cmocka_unit_test(test_error_log_next),
                cmocka_unit_test(test_error_log_command_match),
                cmocka_unit_test(test_error_log_since),
                cmocka_unit_test(test_error_log_filter),
                cmocka_unit_test(test_cpu_stats),
                cmocka_unit_test(test_format_fields),
                cmocka_unit_test(test_format_field_name),
                cmocka_unit_test(test_parse_mounts),
                cmocka_unit_test(test_tracepoint_target),
                cmocka_unit_test(test_kprobe_profile),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
