/* The whole pure path: config text + trace_pipe lines -> counters, /metrics
 * text and /events JSON, with the seed's values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <jansson.h>

#include "pipeline.h"

#include "alloc-count.h"
#include "pipeline-fixture.h"

/* The seed's probe on a uprobe; both configs of the reload test start with it. */
#define CONNECT_PROBE_CONFIG \
        "recent_events: 8\n" \
        "max_series: 3\n" \
        "probes:\n" \
        "  - name: connect\n" \
        "    type: uprobe\n" \
        "    target: /usr/bin/connector:0x1139\n" \
        "    fetch: [type=+0(%si):u16, port=+2(%si):u16, addr=+4(%si):u32]\n" \
        "    decode: {port: ntohs, addr: ipv4, type: {map: {2: AF_INET}}}\n" \
        "    metrics:\n" \
        "      - name: connect_total\n" \
        "        labels: [comm, addr, port]\n" \
        "      - name: connect_by_pid_total\n" \
        "        labels: [pid, cpu, type]\n"

static const char config_text[] =
        CONNECT_PROBE_CONFIG
        "  - name: connect_ret\n"
        "    type: kretprobe\n"
        "    target: __sys_connect_file\n"
        "    fetch: [ret=$retval:s32]\n"
        "    decode: {ret: errno}\n"
        "    metrics:\n"
        "      - name: connect_errors_total\n"
        "        labels: [ret]\n"
        "  - name: tcp_connect\n"
        "    type: tracepoint\n"
        "    target: sock/inet_sock_set_state\n"
        "    metrics:\n"
        "      - name: tcp_connect_total\n"
        "        labels: [comm, daddr, dport, daddrv6]\n";

static const char seed_line[] =
        "       connector-4242    (   4242) [001]   972.294794: connect: (0x559f95304220) type=2 port=6400 addr=16777343 comm=\"connector\"";
static const char ret_line[] =
        "              nc-89      [000] .....     3.021031: connect_ret: (__sys_connect+0x5a/0xb0 <- __sys_connect_file) ret=-111";
static const char tp_line[] =
        "         python3-18066   [001] .....   972.294794: inet_sock_set_state: family=AF_INET6 protocol=IPPROTO_TCP sport=0 dport=25 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 daddrv6=::1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT";

static Pipeline *make(void) {
        return fixture_pipeline(config_text);
}

static void feed(Pipeline *p, const char *line) {
        pipeline_process_line(p, line, strlen(line));
}

static void test_seed_counts(void **state) {
        Pipeline *p = make();
        for (int i = 0; i < 5; i++)
                feed(p, seed_line);
        const StrView want[] = { SV("connector"), SV("127.0.0.1"), SV("25") };
        assert_int_equal(family_get(p->probes[0].metrics[0].family, want), 5);
        const StrView want2[] = { SV("4242"), SV("1"), SV("AF_INET") };
        assert_int_equal(family_get(p->probes[0].metrics[1].family, want2), 5);
        assert_int_equal(p->probes[0].events, 5);
        assert_int_equal(p->parse_errors, 0);

        Buf out = { 0 };
        pipeline_render_metrics(p, &(Expo){ .out = &out });
        assert_non_null(strstr(out.data, "connect_total{comm=\"connector\",addr=\"127.0.0.1\",port=\"25\"} 5\n"));
        assert_non_null(strstr(out.data, "kprobe_exporter_events_total{probe=\"connect\"} 5\n"));
        assert_non_null(strstr(out.data, "kprobe_exporter_probe_up{probe=\"tcp_connect\"} 1\n"));
        assert_non_null(strstr(out.data, "# TYPE connect_total counter\n"));
        buf_free(&out);
        pipeline_free(p);
}

static void test_kretprobe_errno_and_tracepoint(void **state) {
        Pipeline *p = make();
        feed(p, ret_line);
        feed(p, ret_line);
        feed(p, tp_line);
        const StrView ret[] = { SV("ECONNREFUSED") };
        assert_int_equal(family_get(p->probes[1].metrics[0].family, ret), 2);
        const StrView tp[] = { SV("python3"), SV("0.0.0.0"), SV("25"), SV("::1") };
        assert_int_equal(family_get(p->probes[2].metrics[0].family, tp), 1);
        assert_int_equal(p->parse_errors, 0);
        pipeline_free(p);
}

static void test_bad_lines_counted_not_fatal(void **state) {
        Pipeline *p = make();
        feed(p, "");
        feed(p, "garbage");
        /* An event of nobody's, and one of ours missing its fields. */
        feed(p, "              nc-89      [000] .....     3.021029: other: (x) a=1");
        feed(p, "              nc-89      [000] .....     3.021029: connect: (0x1) type=2");
        feed(p, "CPU:1 [LOST 123 EVENTS]");
        assert_int_equal(p->parse_errors, 4);
        assert_int_equal(p->lost_events, 123);
        assert_int_equal(p->lost_reports, 1);
        assert_int_equal(p->probes[0].events, 0);
        pipeline_free(p);
}

static void test_max_series_refused(void **state) {
        Pipeline *p = make();
        char line[256];
        for (int port = 1; port <= 5; port++) {
                /* ports 1..5 in network order as the kernel prints them */
                snprintf(line, sizeof(line),
                         "       connector-4242    (   4242) [001]   972.294794: connect: (0x559f95304220) type=2 port=%d addr=16777343 comm=\"connector\"",
                         port << 8);
                feed(p, line);
        }
        assert_int_equal(family_series(p->probes[0].metrics[0].family), 3);
        assert_int_equal(family_refused(p->probes[0].metrics[0].family), 2);
        assert_int_equal(p->probes[0].events, 5); /* events still counted */
        pipeline_free(p);
}

static void test_events_json(void **state) {
        Pipeline *p = make();
        for (int i = 0; i < 10; i++)
                feed(p, seed_line);
        Buf out = { 0 };
        EventQuery q = { .has_since = true, .since = 0, .limit = 100 };
        assert_int_equal(pipeline_render_events(p, &q, &out), 0);
        json_error_t err;
        json_t *j = json_loads(out.data, 0, &err);
        assert_non_null(j);
        json_t *events = json_object_get(j, "events");
        assert_int_equal(json_array_size(events), 8); /* recent_events: 8 */
        assert_int_equal(json_integer_value(json_object_get(j, "missed")), 2);
        assert_int_equal(json_integer_value(json_object_get(j, "next")), 10);
        json_t *e = json_array_get(events, 0);
        assert_int_equal(json_integer_value(json_object_get(e, "seq")), 3);
        assert_string_equal(json_string_value(json_object_get(e, "probe")), "connect");
        assert_string_equal(json_string_value(json_object_get(e, "comm")), "connector");
        json_t *f = json_object_get(e, "fields");
        assert_string_equal(json_string_value(json_object_get(f, "port")), "25");
        assert_string_equal(json_string_value(json_object_get(f, "addr")), "127.0.0.1");
        assert_string_equal(json_string_value(json_object_get(f, "type")), "AF_INET");
        json_decref(j);

        buf_clear(&out);
        q.probe = "nope";
        assert_int_equal(pipeline_render_events(p, &q, &out), -ENOENT);
        buf_free(&out);
        pipeline_free(p);
}

static void test_probes_json(void **state) {
        Pipeline *p = make();
        pipeline_set_live(p, 1, false);
        ProbeStatus status[3] = {
                { .state = "registered", .definition = "p:kpe/connect __sys_connect_file" },
                { .state = "failed", .error = "trace_kprobe: error: Invalid probed address or symbol" },
                { .state = "registered" },
        };
        assert_int_equal(p->n_probes, 3);
        Buf out = { 0 };
        pipeline_render_probes(p, status, NULL, &out);
        json_error_t err;
        json_t *j = json_loads(out.data, 0, &err);
        assert_non_null(j);
        json_t *pr = json_array_get(json_object_get(j, "probes"), 1);
        assert_string_equal(json_string_value(json_object_get(pr, "state")), "failed");
        assert_string_equal(json_string_value(json_object_get(pr, "type")), "kretprobe");
        assert_non_null(strstr(json_string_value(json_object_get(pr, "error")), "Invalid probed address"));
        pr = json_array_get(json_object_get(j, "probes"), 0);
        assert_string_equal(json_string_value(json_object_get(pr, "definition")), "p:kpe/connect __sys_connect_file");
        assert_true(json_is_null(json_object_get(pr, "error")));
        json_decref(j);
        /* probe_up is liveness */
        buf_clear(&out);
        pipeline_render_metrics(p, &(Expo){ .out = &out });
        assert_non_null(strstr(out.data, "kprobe_exporter_probe_up{probe=\"connect\"} 1\n"));
        assert_non_null(strstr(out.data, "kprobe_exporter_probe_up{probe=\"connect_ret\"} 0\n"));
        buf_free(&out);
        pipeline_free(p);
}

static Pipeline *make_from(const char *text) {
        Config *c = NULL;
        ConfigErrors errs = { 0 };
        assert_int_equal(config_load_string("reload.yaml", text, strlen(text), &c, &errs), 0);
        Pipeline *p = NULL;
        assert_int_equal(pipeline_new(c, NULL, NULL, &p), 0);
        return p;
}

/* A reload of prev into next, all of prev's probes live, as reload.c does it. */
static void adopt(Pipeline *next, Pipeline *prev, ReloadPlan *plan) {
        bool live[16];
        assert_true(prev->n_probes <= 16);
        for (size_t i = 0; i < prev->n_probes; i++)
                live[i] = prev->probes[i].live;
        reload_plan_compute(prev->config, live, next->config, plan);
        pipeline_adopt(next, prev, plan);
}

/* Reload: an unchanged probe keeps its counters and registration; a changed
 * one (other filter) and a new one start afresh; recent events keep their
 * probe names even when the probe is gone. */
static void test_reload_adopt(void **state) {
        Pipeline *prev = make(); /* connect, connect_ret, tcp_connect */
        for (int i = 0; i < 3; i++)
                feed(prev, seed_line);
        feed(prev, ret_line);
        feed(prev, tp_line);

        /* connect unchanged; connect_ret gone; tcp_connect with a filter now;
         * a new probe. */
        Pipeline *next = make_from(
                CONNECT_PROBE_CONFIG
                "  - name: tcp_connect\n"
                "    type: tracepoint\n"
                "    target: sock/inet_sock_set_state\n"
                "    filter: newstate == 2\n"
                "    metrics:\n"
                "      - name: tcp_connect_total\n"
                "        labels: [comm, daddr, dport, daddrv6]\n"
                "  - name: fresh\n"
                "    type: kprobe\n"
                "    target: tcp_v4_connect\n");
        ReloadPlan plan;
        adopt(next, prev, &plan);
        assert_int_equal(plan.kept, 1);
        assert_int_equal(plan.removed, 2);
        assert_int_equal(plan.added, 2);
        assert_int_equal(plan.probe_from[0], 0);
        assert_int_equal(plan.probe_from[1], -1); /* filter changed */
        assert_int_equal(plan.probe_from[2], -1); /* new */
        assert_false(plan.remove[0]);
        assert_true(plan.remove[1]); /* connect_ret: gone */
        assert_true(plan.remove[2]); /* tcp_connect: changed */
        reload_plan_done(&plan);

        assert_true(next->probes[0].live);
        assert_int_equal(next->probes[0].events, 3);
        const StrView want[] = { SV("connector"), SV("127.0.0.1"), SV("25") };
        assert_int_equal(family_get(next->probes[0].metrics[0].family, want), 3);
        assert_false(next->probes[1].live); /* registered by the edge, later */
        assert_int_equal(next->probes[1].events, 0);
        assert_false(next->probes[2].live);
        /* prev counts nothing into what it gave away */
        assert_null(prev->probes[0].metrics[0].family);
        feed(prev, seed_line);

        /* Counting goes on in the kept family. */
        feed(next, seed_line);
        assert_int_equal(family_get(next->probes[0].metrics[0].family, want), 4);
        /* The ring (same size) came along; connect_ret's event keeps its name. */
        Buf out = { 0 };
        EventQuery q = { .has_since = true, .since = 0, .limit = 100, .probe = "connect_ret" };
        assert_int_equal(pipeline_render_events(next, &q, &out), 0);
        assert_non_null(strstr(out.data, "\"probe\":\"connect_ret\""));
        assert_non_null(strstr(out.data, "\"ret\":\"ECONNREFUSED\""));
        buf_free(&out);
        pipeline_free(prev);
        pipeline_free(next);
}


static const char *seed_with(char *buf, size_t size, const char *comm, const char *type, const char *port) {
        snprintf(buf, size,
                 "       connector-4242    (   4242) [001]   972.294794: connect: (0x559f95304220) type=%s port=%s addr=16777343 comm=\"%s\"",
                 type, port, comm);
        return buf;
}

/* Events are counted by their raw label values; raw tuples that decode to
 * one label set are one series, however they were printed: the map takes
 * "0x2" as "2", ntohs takes "0x1900" as "6400", and bytes that are not
 * UTF-8 read as U+FFFD in any spelling. */
static void test_raw_tuples_alias_one_series(void **state) {
        Pipeline *p = make();
        char line[512];

        feed(p, seed_with(line, sizeof(line), "connector", "2", "6400"));
        feed(p, seed_with(line, sizeof(line), "connector", "0x2", "0x1900"));
        feed(p, seed_with(line, sizeof(line), "connector", "0x0002", "6400"));
        feed(p, seed_with(line, sizeof(line), "connector", "2", "6400"));
        const Family *f = p->probes[0].metrics[0].family;   /* comm, addr, port */
        const Family *byp = p->probes[0].metrics[1].family; /* pid, cpu, type */
        const StrView want[] = { SV("connector"), SV("127.0.0.1"), SV("25") };
        const StrView wantp[] = { SV("4242"), SV("1"), SV("AF_INET") };
        assert_int_equal(family_series(f), 1);
        assert_int_equal(family_get(f, want), 4);
        assert_int_equal(family_series(byp), 1);
        assert_int_equal(family_get(byp, wantp), 4);

        /* Two invalid bytes, one rendering. */
        feed(p, seed_with(line, sizeof(line), "conn\xff" "ctor", "2", "6400"));
        feed(p, seed_with(line, sizeof(line), "conn\xfe" "ctor", "2", "6400"));
        feed(p, seed_with(line, sizeof(line), "conn\xff" "ctor", "2", "6400"));
        const StrView bad[] = { SV("conn\xef\xbf\xbd" "ctor"), SV("127.0.0.1"), SV("25") };
        assert_int_equal(family_series(f), 2);
        assert_int_equal(family_get(f, bad), 3);
        assert_int_equal(family_refused(f), 0);

        Buf out = { 0 };
        pipeline_render_metrics(p, &(Expo){ .out = &out });
        assert_non_null(strstr(out.data, "connect_total{comm=\"connector\",addr=\"127.0.0.1\",port=\"25\"} 4\n"));
        assert_non_null(strstr(out.data, "connect_by_pid_total{pid=\"4242\",cpu=\"1\",type=\"AF_INET\"} 7\n"));
        buf_free(&out);
        pipeline_free(p);
}

/* A cardinality attack through raw spellings and through new label sets:
 * max_series holds, every refused event is counted, the raw cache stays
 * within its bound while one series keeps counting. */
static void test_raw_cache_bounded(void **state) {
        Pipeline *p = make(); /* max_series: 3 */
        char line[512], port[300];
        const Family *f = p->probes[0].metrics[0].family;
        const SeriesCache *cache = p->probes[0].metrics[0].cache;

        /* 500 spellings of port 6400: "0x1900", "0x01900", "0x001900", ... */
        for (int i = 0; i < 500; i++) {
                snprintf(port, sizeof(port), "0x%0*d", 4 + i % 200, 1900);
                feed(p, seed_with(line, sizeof(line), "connector", "2", port));
                assert_true(series_cache_size(cache) <= 64);
        }
        const StrView want[] = { SV("connector"), SV("127.0.0.1"), SV("25") };
        assert_int_equal(family_get(f, want), 500);
        assert_int_equal(family_series(f), 1);

        /* 200 new ports (26..225; 25 is there): two fit, the rest are
         * refused, each time. */
        for (int i = 26; i < 226; i++) {
                snprintf(port, sizeof(port), "%d", i << 8);
                feed(p, seed_with(line, sizeof(line), "connector", "2", port));
                feed(p, seed_with(line, sizeof(line), "connector", "2", port));
        }
        assert_int_equal(family_series(f), 3);
        assert_int_equal(family_refused(f), 2 * 198);
        assert_int_equal(p->probes[0].events, 900);
        assert_true(series_cache_size(cache) <= 64);
        /* The known ones still count, found by their raw values again. */
        feed(p, seed_with(line, sizeof(line), "connector", "2", "6400"));
        feed(p, seed_with(line, sizeof(line), "connector", "2", "6656"));
        const StrView two[] = { SV("connector"), SV("127.0.0.1"), SV("26") };
        assert_int_equal(family_get(f, want), 501);
        assert_int_equal(family_get(f, two), 3);
        assert_int_equal(family_refused(f), 2 * 198);
        pipeline_free(p);
}

/* Recent events keep the values as printed and decode when rendered; a
 * reload decodes them for good before the old config (with its decoders)
 * is freed, so they render the same afterwards. */
static void test_events_decoded_across_reload(void **state) {
        Pipeline *prev = make();
        feed(prev, ret_line);
        char line[512];
        feed(prev, seed_with(line, sizeof(line), "connector", "0x2", "0x1900"));

        RingEventView ev;
        assert_true(ring_get(prev->ring, 2, &ev));
        assert_non_null(ev.decoders); /* stored raw */
        assert_int_equal(ev.values[1].n, 6);
        assert_memory_equal(ev.values[1].p, "0x1900", 6);

        Buf before = { 0 }, after = { 0 };
        EventQuery q = { .has_since = true, .since = 0, .limit = 100 };
        assert_int_equal(pipeline_render_events(prev, &q, &before), 0);
        assert_non_null(strstr(before.data, "\"ret\":\"ECONNREFUSED\""));
        assert_non_null(strstr(before.data, "\"type\":\"AF_INET\",\"port\":\"25\",\"addr\":\"127.0.0.1\""));

        Pipeline *next = make();
        ReloadPlan plan;
        adopt(next, prev, &plan);
        reload_plan_done(&plan);
        pipeline_free(prev); /* its decoders are gone now */
        assert_true(ring_get(next->ring, 2, &ev));
        assert_null(ev.decoders);
        assert_int_equal(pipeline_render_events(next, &q, &after), 0);
        assert_string_equal(before.data, after.data);
        buf_free(&before);
        buf_free(&after);
        pipeline_free(next);
}


/* Once every slot of the ring and every label set has been seen, a line
 * costs no allocation at all: the raw cache finds its series, the ring
 * reuses its slots. */
/* A resolver with a one-entry cache, as pidinfo's: the comm of pid 500
 * is what /proc says when first asked, kept until forgotten. */
typedef struct FakeProc {
        const char *now;    /* what /proc/500/status would say */
        char cached[16];
        bool have;
        int reads;
} FakeProc;

static bool fake_comm(void *userdata, int32_t pid, char *comm, size_t size, int32_t *tgid) {
        FakeProc *f = userdata;
        if (pid != 500)
                return false;
        if (!f->have) {
                snprintf(f->cached, sizeof(f->cached), "%s", f->now);
                f->have = true;
                f->reads++;
        }
        snprintf(comm, size, "%s", f->cached);
        *tgid = 500;
        return true;
}

static void fake_forget(void *userdata, int32_t pid) {
        FakeProc *f = userdata;
        if (pid == 500)
                f->have = false;
}

/* A shell forks, its child execs python3, which connects: the comm
 * resolved for an event of the child before the exec (the shell's) is
 * forgotten at the exec event, so the connects count under python3. */
static void test_exec_forgets_comm(void **state) {
        (void) state;
        Pipeline *p = fixture_pipeline("probes:\n"
                                       "  - name: exec\n"
                                       "    type: tracepoint\n"
                                       "    target: sched/sched_process_exec\n"
                                       "  - name: tcp_state\n"
                                       "    type: tracepoint\n"
                                       "    target: sock/inet_sock_set_state\n"
                                       "    metrics:\n"
                                       "      - name: connects_total\n"
                                       "        when: {newstate: TCP_SYN_SENT}\n"
                                       "        labels: [comm, dport]\n");
        FakeProc f = { .now = "bash" };
        p->resolve_comm = fake_comm;
        p->forget_comm = fake_forget;
        p->resolve_userdata = &f;
        static const char connect_line[] =
                "            <...>-500     [001] .....   10.000100: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP "
                "sport=0 dport=25 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 "
                "oldstate=TCP_CLOSE newstate=TCP_SYN_SENT";
        static const char exec_line[] =
                "            <...>-500     [001] .....   10.000050: sched_process_exec: filename=/usr/bin/python3 pid=500 old_pid=500";
        Buf out = { 0 };
        for (int round = 1; round <= 2; round++) {
                f.now = "bash";
                feed(p, connect_line); /* the shell, before its exec */
                f.now = "python3";
                feed(p, exec_line);
                feed(p, connect_line);
                feed(p, connect_line);
                const char *text = fixture_metrics(p, &out);
                assert_has_line(text, "connects_total{comm=\"python3\",dport=\"25\"} %d", 2 * round);
                assert_has_line(text, "connects_total{comm=\"bash\",dport=\"25\"} %d", round);
                /* The exec's /proc read, then the shell's next round's. */
                assert_int_equal(f.reads, 2 * round);
                f.have = false;
        }
        buf_free(&out);
        pipeline_free(p);
}

static void test_process_line_does_not_allocate(void **state) {
#ifdef HAVE_ALLOC_HOOKS
        Pipeline *p = make();
        for (int i = 0; i < 16; i++) {
                feed(p, seed_line);
                feed(p, ret_line);
                feed(p, tp_line);
        }
        assert_int_equal(__sanitizer_install_malloc_and_free_hooks(count_alloc, ignore_free), 1);
        n_allocs = 0;
        for (int i = 0; i < 1000; i++) {
                feed(p, seed_line);
                feed(p, ret_line);
                feed(p, tp_line);
        }
        size_t during = n_allocs;
        /* A new label set must allocate, or the hook is not counting. */
        char line[512];
        feed(p, seed_with(line, sizeof(line), "other", "2", "6400"));
        size_t after_new = n_allocs;
        __sanitizer_install_malloc_and_free_hooks(NULL, NULL);

        assert_int_equal(during, 0);
        assert_true(after_new > 0);
        assert_int_equal(p->probes[0].events, 1017);
        assert_int_equal(p->parse_errors, 0);
        pipeline_free(p);
#else
        skip();
#endif
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seed_counts),
                cmocka_unit_test(test_kretprobe_errno_and_tracepoint),
                cmocka_unit_test(test_bad_lines_counted_not_fatal),
                cmocka_unit_test(test_max_series_refused),
                cmocka_unit_test(test_events_json),
                cmocka_unit_test(test_probes_json),
                cmocka_unit_test(test_reload_adopt),
                cmocka_unit_test(test_raw_tuples_alias_one_series),
                cmocka_unit_test(test_raw_cache_bounded),
                cmocka_unit_test(test_events_decoded_across_reload),
                cmocka_unit_test(test_process_line_does_not_allocate),
                cmocka_unit_test(test_exec_forgets_comm),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
