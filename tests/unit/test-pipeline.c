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

static const char config_text[] =
        "recent_events: 8\n"
        "max_series: 3\n"
        "probes:\n"
        "  - name: connect\n"
        "    type: uprobe\n"
        "    target: /usr/bin/connector:0x1139\n"
        "    fetch: [type=+0(%si):u16, port=+2(%si):u16, addr=+4(%si):u32]\n"
        "    decode: {port: ntohs, addr: ipv4, type: {map: {2: AF_INET}}}\n"
        "    metrics:\n"
        "      - name: connect_total\n"
        "        labels: [comm, addr, port]\n"
        "      - name: connect_by_pid_total\n"
        "        labels: [pid, cpu, type]\n"
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
        Config *c = NULL;
        ConfigErrors errs = { 0 };
        int r = config_load_string("test.yaml", config_text, sizeof(config_text) - 1, &c, &errs);
        if (r < 0)
                config_errors_write(&errs, "test.yaml", config_text, sizeof(config_text) - 1, stderr);
        assert_int_equal(r, 0);
        Pipeline *p = NULL;
        assert_int_equal(pipeline_new(c, &p), 0);
        for (size_t i = 0; i < p->n_probes; i++)
                p->probes[i].state = PROBE_STATE_REGISTERED;
        return p;
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
        pipeline_render_metrics(p, &out);
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
        p->probes[1].state = PROBE_STATE_FAILED;
        p->probes[1].error = strdup("trace_kprobe: error: Invalid probed address or symbol");
        Buf out = { 0 };
        pipeline_render_probes(p, &out);
        json_error_t err;
        json_t *j = json_loads(out.data, 0, &err);
        assert_non_null(j);
        json_t *pr = json_array_get(json_object_get(j, "probes"), 1);
        assert_string_equal(json_string_value(json_object_get(pr, "state")), "failed");
        assert_string_equal(json_string_value(json_object_get(pr, "type")), "kretprobe");
        assert_non_null(strstr(json_string_value(json_object_get(pr, "error")), "Invalid probed address"));
        json_decref(j);
        buf_free(&out);
        pipeline_free(p);
}

static Pipeline *make_from(const char *text) {
        Config *c = NULL;
        ConfigErrors errs = { 0 };
        assert_int_equal(config_load_string("reload.yaml", text, strlen(text), &c, &errs), 0);
        Pipeline *p = NULL;
        assert_int_equal(pipeline_new(c, &p), 0);
        return p;
}

/* Reload: an unchanged probe keeps its counters and registration; a changed
 * one (other filter) and a new one start afresh; recent events keep their
 * probe names even when the probe is gone. */
static void test_reload_adopt(void **state) {
        Pipeline *prev = make(); /* connect, connect_ret, tcp_connect */
        for (size_t i = 0; i < prev->n_probes; i++) {
                prev->probes[i].state = PROBE_STATE_REGISTERED;
                prev->probes[i].defined = prev->probes[i].config->type != PROBE_TRACEPOINT;
        }
        for (int i = 0; i < 3; i++)
                feed(prev, seed_line);
        feed(prev, ret_line);
        feed(prev, tp_line);

        /* connect unchanged; connect_ret gone; tcp_connect with a filter now;
         * a new probe. */
        Pipeline *next = make_from(
                "recent_events: 8\n"
                "max_series: 3\n"
                "probes:\n"
                "  - name: connect\n"
                "    type: uprobe\n"
                "    target: /usr/bin/connector:0x1139\n"
                "    fetch: [type=+0(%si):u16, port=+2(%si):u16, addr=+4(%si):u32]\n"
                "    decode: {port: ntohs, addr: ipv4, type: {map: {2: AF_INET}}}\n"
                "    metrics:\n"
                "      - name: connect_total\n"
                "        labels: [comm, addr, port]\n"
                "      - name: connect_by_pid_total\n"
                "        labels: [pid, cpu, type]\n"
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
        pipeline_adopt(next, prev);

        assert_true(next->probes[0].kept);
        assert_true(next->probes[0].defined);
        assert_int_equal(next->probes[0].state, PROBE_STATE_REGISTERED);
        assert_int_equal(next->probes[0].events, 3);
        const StrView want[] = { SV("connector"), SV("127.0.0.1"), SV("25") };
        assert_int_equal(family_get(next->probes[0].metrics[0].family, want), 3);
        assert_false(next->probes[1].kept); /* filter changed */
        assert_int_equal(next->probes[1].events, 0);
        assert_false(next->probes[2].kept); /* new */
        assert_true(prev->probes[0].kept);
        assert_false(prev->probes[0].defined); /* moved: prev must not remove it */
        assert_false(prev->probes[1].kept);   /* connect_ret: to be removed */
        assert_true(prev->probes[1].defined);
        assert_false(prev->probes[2].kept);

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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_seed_counts),
                cmocka_unit_test(test_kretprobe_errno_and_tracepoint),
                cmocka_unit_test(test_bad_lines_counted_not_fatal),
                cmocka_unit_test(test_max_series_refused),
                cmocka_unit_test(test_events_json),
                cmocka_unit_test(test_probes_json),
                cmocka_unit_test(test_reload_adopt),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
