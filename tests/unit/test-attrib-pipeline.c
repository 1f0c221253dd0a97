/* Who did it, through the whole pure path: the attribution probes' lines
 * (fork, cgroup attach, exit) keep the table, and a connect's labels,
 * /events fields and journal entry name its unit and container. Also the
 * journal entry's fields, their native-protocol framing, hostile bytes in
 * them, and the per-probe rate limit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "journal_fields.h"
#include "pipeline.h"

#include "pipeline-fixture.h"

#define ID "4c0ffee5d5b7a1e2c3f4a5b6c7d8e9f00112233445566778899aabbccddeeff0"

static const char config_text[] =
        "probes:\n"
        "  - name: connect\n"
        "    type: uprobe\n"
        "    target: /usr/bin/connector:0x1139\n"
        "    fetch: [port=+2(%si):u16, addr=+4(%si):u32]\n"
        "    decode: {port: ntohs, addr: ipv4}\n"
        "    journal: true\n"
        "    journal_rate: 3\n"
        "    metrics:\n"
        "      - name: connect_total\n"
        "        labels: [unit, container_id, port]\n"
        "      - name: connect_cgroup_total\n"
        "        labels: [cgroup, user_unit]\n";

/* pid 200, forked by 100, moves into demo.service, connects, exits. */
static const char fork_line[] =
        "            bash-100     [000] .....    10.000000: task_newtask: pid=200 comm=bash clone_flags=1200011 oom_score_adj=0";
static const char attach_line[] =
        "              sh-200     [001] .....    10.000100: cgroup_attach_task: dst_root=9 dst_id=13 dst_level=2 dst_path=/kpe.slice/demo.service pid=200 comm=sh";
static const char attach_other_root[] =
        "              sh-200     [001] .....    10.000110: cgroup_attach_task: dst_root=0 dst_id=25 dst_level=1 dst_path=/elsewhere.service pid=200 comm=sh";
static const char connect_line[] =
        "       connector-200     [001] .....    10.000200: connect: (0x559f95304220) port=6400 addr=16777343";
static const char exit_line[] =
        "       connector-200     [001] .....    10.000300: sched_process_exit: comm=connector pid=200 prio=120 group_dead=true";
/* Read after the exit (another CPU's buffer): still demo.service. */
static const char late_connect_line[] =
        "       connector-200     [000] .....    10.000250: connect: (0x559f95304220) port=6400 addr=16777343";
static const char unknown_connect_line[] =
        "       connector-777     [000] .....    10.000400: connect: (0x559f95304220) port=6400 addr=16777343";
static const char proc_connect_line[] =
        "       connector-300     [000] .....    10.000500: connect: (0x559f95304220) port=6400 addr=16777343";
/* Far later: the exited 200 is gone. */
static const char much_later_exit[] =
        "            bash-100     [000] .....    20.000000: sched_process_exit: comm=bash pid=999 prio=120 group_dead=true";

typedef struct Fake {
        unsigned calls;
        bool knows_100;
} Fake;

/* /proc of the test: pid 300 runs in a docker container; 400, spawned
 * by systemd, in spawned.service; 100 (when it knows it) in a session. */
static bool fake_resolve(void *userdata, int32_t pid, Buf *path, int32_t *tgid) {
        Fake *f = userdata;
        f->calls++;
        if (pid == 300)
                buf_puts(path, "/system.slice/docker-" ID ".scope");
        else if (pid == 400)
                buf_puts(path, "/system.slice/spawned.service");
        else if (pid == 100 && f->knows_100)
                buf_puts(path, "/user.slice/user-1000.slice/session-1.scope");
        else
                return false;
        *tgid = pid;
        return true;
}

static Pipeline *make(Fake *f) {
        Pipeline *p = fixture_pipeline(config_text);
        p->cgroup_root = 9;
        p->attr_events = true;
        p->resolve_cgroup = fake_resolve;
        p->cgroup_userdata = f;
        return p;
}

static void feed(Pipeline *p, const char *line) {
        pipeline_process_line(p, line, strlen(line));
}

static char *render(Pipeline *p) {
        Buf out = { 0 };
        pipeline_render_metrics(p, &(Expo){ .out = &out });
        return buf_steal(&out);
}

static void assert_has(const char *text, const char *want) {
        if (!text || !strstr(text, want))
                fail_msg("missing: %s\nin:\n%s", want, text ? text : "(nothing)");
}

static void test_added_probes(void **state) {
        (void) state;
        Config *c = fixture_config(config_text);
        assert_true(c->attribution);
        assert_int_equal(c->n_probes, 4);
        const char *names[] = { "attribution-fork", "attribution-exit", "attribution-attach" };
        const char *targets[] = { "task/task_newtask", "sched/sched_process_exit", "cgroup/cgroup_attach_task" };
        for (size_t i = 0; i < 3; i++) {
                const ProbeConfig *pc = &c->probes[1 + i];
                assert_string_equal(pc->name, names[i]);
                assert_string_equal(pc->target, targets[i]);
                assert_true(pc->added);
                assert_int_equal(pc->role, ATTRIB_ROLE_FORK + (int) i);
                assert_false(pc->events);
                assert_null(pc->filter);
        }
        config_free(c);

        /* No label, no journal: nothing added. */
        c = fixture_config("probes:\n  - name: t\n    type: tracepoint\n    target: sched/sched_process_exec\n");
        assert_false(c->attribution);
        assert_int_equal(c->n_probes, 1);
        config_free(c);

        /* A user's probe on the same tracepoint serves; a filtered one is an error. */
        c = fixture_config("attribution: true\nprobes:\n  - name: ex\n    type: tracepoint\n"
                           "    target: sched/sched_process_exit\n");
        assert_int_equal(c->n_probes, 3);
        assert_int_equal(c->probes[0].role, ATTRIB_ROLE_EXIT);
        assert_false(c->probes[0].added);
        config_free(c);
        const char *bad = "attribution: true\nprobes:\n  - name: ex\n    type: tracepoint\n"
                          "    target: sched/sched_process_exit\n    filter: prio < 100\n";
        ConfigErrors errs = { 0 };
        assert_int_equal(config_load_string("bad.yaml", bad, strlen(bad), &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_int_equal(errs.items[0].line, 3);
        assert_non_null(strstr(errs.items[0].message, "filters sched/sched_process_exit"));
        config_errors_clear(&errs);
}

static void test_labels_from_events(void **state) {
        (void) state;
        Fake f = { 0 };
        /* Twice: the same events give the same answers. */
        for (int round = 0; round < 2; round++) {
                Pipeline *p = make(&f);
                f.calls = 0;
                feed(p, fork_line);
                feed(p, attach_line);
                feed(p, attach_other_root);
                feed(p, connect_line);
                feed(p, exit_line);
                feed(p, late_connect_line);
                feed(p, unknown_connect_line);
                feed(p, proc_connect_line);
                feed(p, proc_connect_line);
                assert_int_equal(p->parse_errors, 0);

                char *m = render(p);
                assert_has(m, "connect_total{unit=\"demo.service\",container_id=\"\",port=\"25\"} 2\n");
                assert_has(m, "connect_total{unit=\"docker-" ID ".scope\",container_id=\"" ID "\",port=\"25\"} 2\n");
                /* 777: neither the events nor /proc know it. */
                assert_has(m, "connect_total{unit=\"\",container_id=\"\",port=\"25\"} 1\n");
                assert_has(m, "connect_cgroup_total{cgroup=\"/kpe.slice/demo.service\",user_unit=\"\"} 2\n");
                assert_has(m, "kprobe_exporter_cgroup_unknown_total 1\n");
                assert_has(m, "kprobe_exporter_cgroup_from_proc_total 1\n");
                assert_has(m, "kprobe_exporter_events_total{probe=\"attribution-fork\"} 1\n");
                free(m);
                /* /proc was asked for 100 (the fork's parent, unknown),
                 * 777 once per event and 300 once: then the table knows it. */
                assert_int_equal(f.calls, 3);

                /* 10 s of trace time later the exited 200 is gone. */
                feed(p, much_later_exit);
                assert_false(attrib_knows(p->attr, 200));
                assert_true(attrib_knows(p->attr, 300));
                pipeline_free(p);
        }
}

/* Clone flags: a task made straight into a cgroup (CLONE_INTO_CGROUP)
 * is read from /proc, never given its parent's cgroup; a new thread
 * (CLONE_THREAD) belongs to its parent's process, and follows it when the
 * process moves (the kernel reports the move on the leader only). */
static void test_clone_flags(void **state) {
        (void) state;
        Fake f = { .knows_100 = true };
        Pipeline *p = make(&f);
        static const char *lines[] = {
                /* 100 (session-1.scope, from /proc) makes process 200 and, straight into spawned.service, 400. */
                "            bash-100     [000] .....    10.000000: task_newtask: pid=200 comm=bash clone_flags=1200011 oom_score_adj=0",
                "         systemd-100     [000] .....    10.000010: task_newtask: pid=400 comm=systemd clone_flags=200000011 oom_score_adj=0",
                /* 200 makes thread 201, then the process moves to demo.service. */
                "            bash-200     [000] .....    10.000020: task_newtask: pid=201 comm=bash clone_flags=3d0f00 oom_score_adj=0",
                "            bash-200     [000] .....    10.000030: cgroup_attach_task: dst_root=9 dst_id=13 dst_level=2 dst_path=/kpe.slice/demo.service pid=200 comm=bash",
                /* The thread connects, and so does 400. */
                "       connector-201     [001] .....    10.000040: connect: (0x559f95304220) port=6400 addr=16777343",
                "       connector-400     [001] .....    10.000050: connect: (0x559f95304220) port=6400 addr=16777343",
                /* A bad one: flags that are not hex. */
                "            bash-100     [000] .....    10.000060: task_newtask: pid=500 comm=bash clone_flags=zz oom_score_adj=0",
        };
        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                feed(p, lines[i]);
        char *m = render(p);
        assert_has(m, "connect_total{unit=\"demo.service\",container_id=\"\",port=\"25\"} 1\n");
        assert_has(m, "connect_total{unit=\"spawned.service\",container_id=\"\",port=\"25\"} 1\n");
        assert_null(strstr(m, "session-1.scope\",container_id"));
        assert_has(m, "kprobe_exporter_cgroup_spawned_into_total 1\n");
        assert_has(m, "kprobe_exporter_attribution_events_bad_total 1\n");
        assert_has(m, "kprobe_exporter_cgroup_unknown_total 0\n");
        free(m);
        pipeline_free(p);
}

static void test_without_events_asks_proc(void **state) {
        (void) state;
        Fake f = { 0 };
        Pipeline *p = make(&f);
        p->attr_events = false; /* the attribution probes do not run */
        for (int i = 0; i < 3; i++)
                feed(p, proc_connect_line);
        /* Each time: the table could be stale without the kernel's events. */
        assert_int_equal(f.calls, 3);
        char *m = render(p);
        assert_has(m, "connect_total{unit=\"docker-" ID ".scope\",container_id=\"" ID "\",port=\"25\"} 3\n");
        assert_has(m, "kprobe_exporter_cgroup_from_proc_total 3\n");
        free(m);
        pipeline_free(p);
}

static void test_events_json(void **state) {
        (void) state;
        Fake f = { 0 };
        Pipeline *p = make(&f);
        feed(p, fork_line);
        feed(p, attach_line);
        feed(p, connect_line);
        feed(p, unknown_connect_line);
        Buf out = { 0 };
        assert_int_equal(pipeline_render_events(p, &(EventQuery){ .limit = 10 }, &out), 0);
        assert_has(out.data, "\"pid\":200,\"cpu\":1,\"cgroup\":\"/kpe.slice/demo.service\",\"unit\":\"demo.service\","
                             "\"user_unit\":\"\",\"container_id\":\"\"");
        assert_has(out.data, "\"pid\":777,\"cpu\":0,\"cgroup\":null,\"unit\":null,\"user_unit\":null,\"container_id\":null");
        /* The attribution probes' own events are not kept. */
        assert_null(strstr(out.data, "attribution-"));
        buf_clear(&out);
        pipeline_render_probes(p, NULL, NULL, &out);
        assert_has(out.data, "\"attribution\":{\"hierarchy\":9,\"source\":\"events\",\"tasks\":1,\"cgroups\":1}");
        assert_has(out.data, "\"name\":\"attribution-attach\"");
        buf_free(&out);
        pipeline_free(p);
}

typedef struct Sink {
        JournalEntry e;
        unsigned n;
        char last[4096];
} Sink;

static void hook(void *userdata, Probe *pr, const RingEventView *ev) {
        Sink *s = userdata;
        if (!pipeline_journal_admit(pr, 5000000))
                return;
        journal_entry_build(&s->e, pr->config->name, ev);
        s->n++;
        pr->journal_sent++;
}

static StrView field(const JournalEntry *e, const char *name) {
        size_t n = strlen(name);
        for (size_t i = 0; i < e->n; i++) {
                StrView f = journal_entry_field(e, i);
                if (f.n > n && f.p[n] == '=' && memcmp(f.p, name, n) == 0)
                        return (StrView){ f.p + n + 1, f.n - n - 1 };
        }
        return (StrView){ NULL, 0 };
}

static void assert_field(const JournalEntry *e, const char *name, const char *want) {
        StrView v = field(e, name);
        if (!v.p || !sv_eq_str(v, want))
                fail_msg("%s: got '%.*s', want '%s'", name, (int) v.n, v.p ? v.p : "", want);
}

static void test_journal_entry(void **state) {
        (void) state;
        Fake f = { 0 };
        Sink s = { 0 };
        Pipeline *p = make(&f);
        p->journal = hook;
        p->journal_userdata = &s;
        feed(p, fork_line);
        feed(p, attach_line);
        feed(p, connect_line);
        assert_int_equal(s.n, 1);
        assert_field(&s.e, "MESSAGE", "connect: comm=connector pid=200 unit=demo.service port=25 addr=127.0.0.1");
        assert_field(&s.e, "MESSAGE_ID", JOURNAL_MESSAGE_ID);
        assert_field(&s.e, "PRIORITY", "6");
        assert_field(&s.e, "SYSLOG_IDENTIFIER", "kprobe-exporter");
        assert_field(&s.e, "KPE_PROBE", "connect");
        assert_field(&s.e, "KPE_COMM", "connector");
        assert_field(&s.e, "KPE_PID", "200");
        assert_field(&s.e, "KPE_CPU", "1");
        assert_field(&s.e, "KPE_TIME", "10.000200");
        assert_field(&s.e, "KPE_PORT", "25");
        assert_field(&s.e, "KPE_ADDR", "127.0.0.1");
        assert_field(&s.e, "KPE_CGROUP", "/kpe.slice/demo.service");
        assert_field(&s.e, "KPE_UNIT", "demo.service");
        assert_null(field(&s.e, "KPE_CONTAINER_ID").p); /* none: left out */
        assert_null(field(&s.e, "KPE_USER_UNIT").p);

        /* journal_rate 3 in one second: the 4th and 5th are counted, not sent. */
        for (int i = 0; i < 4; i++)
                feed(p, connect_line);
        assert_int_equal(s.n, 3);
        assert_int_equal(p->probes[0].journal_dropped, 2);
        Buf out = { 0 };
        pipeline_render_metrics(p, &(Expo){ .out = &out });
        assert_has(out.data, "kprobe_exporter_journal_dropped_total{probe=\"connect\"} 2\n");
        assert_has(out.data, "kprobe_exporter_journal_sent_total{probe=\"connect\"} 3\n");
        buf_free(&out);
        journal_entry_done(&s.e);
        pipeline_free(p);
}

static void test_rate_windows(void **state) {
        (void) state;
        ProbeConfig pc = { .name = (char *) "x", .journal_rate = 2 };
        Probe pr = { .config = &pc };
        assert_true(pipeline_journal_admit(&pr, 1000000));
        assert_true(pipeline_journal_admit(&pr, 1999999));
        assert_false(pipeline_journal_admit(&pr, 1999999));
        assert_true(pipeline_journal_admit(&pr, 2000000)); /* a new second */
        assert_true(pipeline_journal_admit(&pr, 2500000));
        assert_false(pipeline_journal_admit(&pr, 2999999));
        assert_int_equal(pr.journal_dropped, 2);
}

/* A traced process's comm and a field with a newline, quotes and bytes
 * that are not UTF-8: KPE_ fields keep the bytes, MESSAGE is one line, and
 * the native protocol frames the newline by length. */
static void test_hostile_bytes(void **state) {
        (void) state;
        const StrView names[] = { SV("note"), SV("n") };
        const StrView values[] = { SV("a\nKPE_UNIT=forged\n\xff\"x"), SV("7") };
        RingEventView ev = {
                .comm = SV("ev\nil unit=x"),
                .pid = 5,
                .tgid = -1,
                .cpu = 0,
                .timestamp = SV("1.5"),
                .attributed = true,
                .cgroup_known = true,
                .cgroup = SV("/system.slice/weird \"q\"\nx.service"),
                .names = names,
                .values = values,
                .n_fields = 2,
        };
        JournalEntry e = { 0 };
        journal_entry_build(&e, "note", &ev);
        StrView msg = field(&e, "MESSAGE");
        assert_null(memchr(msg.p, '\n', msg.n));
        assert_true(utf8_is_valid(msg));
        assert_field(&e, "MESSAGE", "note: comm=ev?il unit=x pid=5 unit=weird \"q\"?x.service "
                                    "note=a?KPE_UNIT=forged?\xef\xbf\xbd\"x n=7");
        assert_field(&e, "KPE_COMM", "ev\nil unit=x");
        assert_field(&e, "KPE_NOTE", "a\nKPE_UNIT=forged\n\xff\"x");
        assert_field(&e, "KPE_UNIT", "weird \"q\"\nx.service");
        assert_null(field(&e, "KPE_TGID").p);

        Buf d = { 0 };
        journal_entry_serialize(&e, &d);
        /* The forged line is inside a length-framed value, never a field. */
        const char *at = memmem(d.data, d.len, "KPE_NOTE\n", 9);
        assert_non_null(at);
        const unsigned char *len = (const unsigned char *) at + 9;
        assert_int_equal(len[0], values[0].n);
        for (int i = 1; i < 8; i++)
                assert_int_equal(len[i], 0);
        assert_memory_equal(at + 17, values[0].p, values[0].n);
        assert_int_equal(at[17 + values[0].n], '\n');
        assert_non_null(memmem(d.data, d.len, "KPE_N=7\n", 8));
        assert_non_null(memmem(d.data, d.len, "KPE_PID=5\n", 10));
        /* Read back as journald reads it: KPE_UNIT once, the true one. */
        unsigned units = 0, fields = 0;
        for (size_t i = 0; i < d.len; fields++) {
                const char *nl = memchr(d.data + i, '\n', d.len - i);
                assert_non_null(nl);
                const char *eq = memchr(d.data + i, '=', (size_t) (nl - (d.data + i)));
                size_t name_n = (size_t) ((eq ? eq : nl) - (d.data + i));
                StrView name = { d.data + i, name_n }, value;
                if (eq) {
                        value = (StrView){ eq + 1, (size_t) (nl - eq - 1) };
                        i = (size_t) (nl - d.data) + 1;
                } else {
                        const unsigned char *l = (const unsigned char *) nl + 1;
                        uint64_t n = 0;
                        for (int k = 7; k >= 0; k--)
                                n = n << 8 | l[k];
                        value = (StrView){ nl + 9, (size_t) n };
                        i = (size_t) (nl + 9 + n - d.data);
                        assert_int_equal(d.data[i], '\n');
                        i++;
                }
                if (sv_eq_str(name, "KPE_UNIT")) {
                        units++;
                        assert_true(sv_eq_str(value, "weird \"q\"\nx.service"));
                }
        }
        assert_int_equal(units, 1);
        assert_int_equal(fields, e.n);
        buf_free(&d);
        journal_entry_done(&e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_added_probes),
                cmocka_unit_test(test_labels_from_events),
                cmocka_unit_test(test_clone_flags),
                cmocka_unit_test(test_without_events_asks_proc),
                cmocka_unit_test(test_events_json),
                cmocka_unit_test(test_journal_entry),
                cmocka_unit_test(test_rate_windows),
                cmocka_unit_test(test_hostile_bytes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
