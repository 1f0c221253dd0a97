/* The reload plan over a table of cases: what is kept, removed and
 * registered, and which metrics keep their counters. Then whole pipelines
 * through several reloads in a row with the seed's events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "pipeline.h"
#include "reload_plan.h"

/* Two uprobes on the seed's function, a tracepoint; each config below is
 * this with one thing changed. */
#define HEAD "recent_events: 16\nprobes:\n"
#define CONNECT(fetch, decode, filter, labels) \
        "  - name: connect\n" \
        "    type: uprobe\n" \
        "    target: /usr/bin/connector:0x1139\n" \
        "    fetch: [" fetch "]\n" \
        "    decode: {" decode "}\n" filter \
        "    metrics:\n" \
        "      - name: connect_total\n" \
        "        labels: [" labels "]\n" \
        "      - name: connect_by_pid_total\n" \
        "        labels: [pid]\n"
#define SEED_FETCH "type=+0(%si):u16, port=+2(%si):u16, addr=+4(%si):u32"
#define SEED_DECODE "port: ntohs, addr: ipv4"
#define SEED_CONNECT CONNECT(SEED_FETCH, SEED_DECODE, "", "comm, addr, port")
#define PORTS \
        "  - name: ports\n" \
        "    type: uprobe\n" \
        "    target: /usr/bin/connector:0x1139\n" \
        "    fetch: [port=+2(%si):u16]\n" \
        "    metrics:\n" \
        "      - name: ports_total\n" \
        "        labels: [port]\n"
#define TCP \
        "  - name: tcp_connect\n" \
        "    type: tracepoint\n" \
        "    target: sock/inet_sock_set_state\n" \
        "    metrics:\n" \
        "      - name: tcp_connect_total\n" \
        "        labels: [daddr, dport]\n"
#define BASE HEAD SEED_CONNECT PORTS TCP
/* A lifetime histogram on the tracepoint itself: start/end conditions. */
#define TCP_LIFE(end) \
        "  - name: tcp_connect\n" \
        "    type: tracepoint\n" \
        "    target: sock/inet_sock_set_state\n" \
        "    metrics:\n" \
        "      - name: tcp_connect_total\n" \
        "        labels: [daddr, dport]\n" \
        "      - name: tcp_life_seconds\n" \
        "        type: histogram\n" \
        "        latency_from: tcp_connect\n" \
        "        start: {newstate: TCP_ESTABLISHED}\n" \
        "        end: {newstate: " end "}\n" \
        "        match: [sport, dport]\n"

typedef struct Case {
        const char *what;
        const char *old, *next;
        const char *dead;       /* old probes not live, as indices "1" (NULL: all live) */
        const char *probe_from; /* per new probe, e.g. "0 -1 2" */
        const char *remove;     /* per old probe, e.g. "010" */
        size_t kept, removed, added;
        const char *metric_from; /* per new probe's metrics, ';' between probes, e.g. "0 1;0;0" */
        bool recent_events_changed, listen_changed;
} Case;

static const Case cases[] = {
        { "unchanged", BASE, BASE, NULL, "0 1 2", "000", 3, 0, 0, "0 1;0;0", false, false },
        { "reordered", BASE, HEAD TCP PORTS SEED_CONNECT, NULL, "2 1 0", "000", 3, 0, 0, "0;0;0 1", false, false },
        { "fetch arg changed: a new registration, counters from zero",
          BASE, HEAD CONNECT("type=+0(%si):u16, port=+2(%si):u16", "port: ntohs", "", "comm, port") PORTS TCP,
          NULL, "-1 1 2", "100", 2, 1, 1, "-1 -1;0;0", false, false },
        { "comm label dropped: comm is no longer fetched, so the kernel side changed",
          BASE, HEAD CONNECT(SEED_FETCH, SEED_DECODE, "", "addr, port") PORTS TCP,
          NULL, "-1 1 2", "100", 2, 1, 1, "-1 -1;0;0", false, false },
        { "filter added", BASE, HEAD CONNECT(SEED_FETCH, SEED_DECODE, "    filter: port != 0\n", "comm, addr, port") PORTS TCP,
          NULL, "-1 1 2", "100", 2, 1, 1, "-1 -1;0;0", false, false },
        { "labels changed: the probe stays, that metric starts over",
          BASE, HEAD CONNECT(SEED_FETCH, SEED_DECODE, "", "comm, port") PORTS TCP,
          NULL, "0 1 2", "000", 3, 0, 0, "-1 1;0;0", false, false },
        { "decoder of a label changed", BASE, HEAD CONNECT(SEED_FETCH, "port: hex, addr: ipv4", "", "comm, addr, port") PORTS TCP,
          NULL, "0 1 2", "000", 3, 0, 0, "-1 1;0;0", false, false },
        { "decoder of an unlabelled field added", BASE,
          HEAD CONNECT(SEED_FETCH, SEED_DECODE ", type: {map: {2: AF_INET}}", "", "comm, addr, port") PORTS TCP,
          NULL, "0 1 2", "000", 3, 0, 0, "0 1;0;0", false, false },
        { "a latency's end condition changed: that metric starts over, the probe stays",
          HEAD SEED_CONNECT PORTS TCP_LIFE("TCP_CLOSE"), HEAD SEED_CONNECT PORTS TCP_LIFE("TCP_CLOSE_WAIT"),
          NULL, "0 1 2", "000", 3, 0, 0, "0 1;0;0 -1", false, false },
        { "a label shows another field under its name: that metric starts over",
          BASE, HEAD CONNECT(SEED_FETCH, SEED_DECODE, "", "comm, {addr: port}, port") PORTS TCP,
          NULL, "0 1 2", "000", 3, 0, 0, "-1 1;0;0", false, false },
        { "a label renamed over the same field: that metric starts over (its series are others)",
          BASE, HEAD CONNECT(SEED_FETCH, SEED_DECODE, "", "comm, {address: addr}, port") PORTS TCP,
          NULL, "0 1 2", "000", 3, 0, 0, "-1 1;0;0", false, false },
        { "a when: condition added: that metric starts over, the probe stays", BASE,
          HEAD SEED_CONNECT PORTS "  - name: tcp_connect\n    type: tracepoint\n    target: sock/inet_sock_set_state\n"
          "    metrics:\n      - name: tcp_connect_total\n        when: {newstate: TCP_SYN_SENT}\n"
          "        labels: [daddr, dport]\n",
          NULL, "0 1 2", "000", 3, 0, 0, "0 1;0;-1", false, false },
        { "the same conditions: kept", HEAD SEED_CONNECT PORTS TCP_LIFE("TCP_CLOSE"),
          HEAD SEED_CONNECT PORTS TCP_LIFE("TCP_CLOSE"), NULL, "0 1 2", "000", 3, 0, 0, "0 1;0;0 1", false, false },
        { "probe removed", BASE, HEAD SEED_CONNECT TCP, NULL, "0 2", "010", 2, 1, 0, "0 1;0", false, false },
        { "probe added", HEAD SEED_CONNECT TCP, BASE, NULL, "0 -1 1", "00", 2, 0, 1, "0 1;-1;0", false, false },
        { "a failed probe is tried again", BASE, BASE, "1", "0 -1 2", "010", 2, 1, 1, "0 1;-1;0", false, false },
        { "recent_events changed", BASE, "recent_events: 4\nprobes:\n" SEED_CONNECT PORTS TCP,
          NULL, "0 1 2", "000", 3, 0, 0, "0 1;0;0", true, false },
        { "listen given", BASE, "listen: 127.0.0.1:9999\n" BASE, NULL, "0 1 2", "000", 3, 0, 0, "0 1;0;0", false, true },
        { "everything new", BASE, HEAD
          "  - name: other\n    type: tracepoint\n    target: sched/sched_process_exec\n",
          NULL, "-1", "111", 0, 3, 1, "", false, false },
};

static Config *load(const char *text) {
        Config *c = NULL;
        ConfigErrors errs = { 0 };
        int r = config_load_string("plan.yaml", text, strlen(text), &c, &errs);
        if (r < 0)
                config_errors_write(&errs, "plan.yaml", text, strlen(text), stderr);
        assert_int_equal(r, 0);
        return c;
}

static void check_case(const Case *k) {
        print_message("case: %s\n", k->what);
        Config *old = load(k->old), *next = load(k->next);
        bool live[8];
        for (size_t i = 0; i < old->n_probes; i++)
                live[i] = !k->dead || !strchr(k->dead, (char) ('0' + i));
        ReloadPlan plan;
        reload_plan_compute(old, live, next, &plan);

        assert_int_equal(plan.kept, k->kept);
        assert_int_equal(plan.removed, k->removed);
        assert_int_equal(plan.added, k->added);
        assert_int_equal(plan.recent_events_changed, k->recent_events_changed);
        assert_int_equal(plan.listen_changed, k->listen_changed);
        const char *s = k->probe_from;
        for (size_t i = 0; i < next->n_probes; i++) {
                char *end;
                long want = strtol(s, &end, 10);
                assert_true(end != s);
                assert_int_equal(plan.probe_from[i], want);
                s = end;
        }
        assert_int_equal(strlen(k->remove), old->n_probes);
        for (size_t o = 0; o < old->n_probes; o++)
                assert_int_equal(plan.remove[o], k->remove[o] == '1');
        s = k->metric_from;
        for (size_t i = 0; i < next->n_probes; i++) {
                for (size_t m = 0; m < next->probes[i].n_metrics; m++) {
                        char *end;
                        long want = strtol(s, &end, 10);
                        assert_true(end != s);
                        assert_int_equal(plan.metric_from[i][m], want);
                        s = end;
                }
                if (*s == ';')
                        s++;
        }
        reload_plan_done(&plan);
        config_free(old);
        config_free(next);
}

static void test_plan_table(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check_case(&cases[i]);
}

/* ---- whole pipelines through reloads ---- */

static const char seed_line[] =
        "       connector-4242    (   4242) [001]   972.294794: connect: (0x559f95304220) type=2 port=6400 addr=16777343 comm=\"connector\"";
static const char ports_line[] =
        "       connector-4242    (   4242) [001]   972.294794: ports: (0x559f95304220) port=6400";
static const char tp_line[] =
        "         python3-18066   [001] .....   972.294794: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=0 dport=25 saddr=0.0.0.0 daddr=127.0.0.1 saddrv6=::1 daddrv6=::1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT";
static const StrView seed_labels[] = { SV("connector"), SV("127.0.0.1"), SV("25") };
static const StrView tp_labels[] = { SV("127.0.0.1"), SV("25") };

static Pipeline *pipeline_from(const char *text) {
        Pipeline *p = NULL;
        assert_int_equal(pipeline_new(load(text), NULL, NULL, &p), 0);
        return p;
}

/* A pipeline whose probes the kernel took, as at startup. */
static Pipeline *running(const char *text) {
        Pipeline *p = pipeline_from(text);
        for (size_t i = 0; i < p->n_probes; i++)
                pipeline_set_live(p, i, true);
        return p;
}

/* What reload.c does, with the registry's part played here: kept probes
 * stay live, new ones become live as if the kernel took them. */
static Pipeline *reload(Pipeline *prev, const char *text, ReloadPlan *plan) {
        Pipeline *next = pipeline_from(text);
        bool live[8];
        for (size_t i = 0; i < prev->n_probes; i++)
                live[i] = prev->probes[i].live;
        reload_plan_compute(prev->config, live, next->config, plan);
        pipeline_adopt(next, prev, plan);
        for (size_t i = 0; i < next->n_probes; i++)
                if (plan->probe_from[i] < 0)
                        pipeline_set_live(next, i, true);
        pipeline_free(prev);
        return next;
}

static void feed(Pipeline *p, const char *line, int n) {
        for (int i = 0; i < n; i++)
                pipeline_process_line(p, line, strlen(line));
}

/* Defect 1 of the issue: the second of two unchanged reloads treated every
 * probe as new. Here five reloads in a row keep counters and liveness. */
static void test_repeated_unchanged_reloads(void **state) {
        (void) state;
        Pipeline *p = running(BASE);
        feed(p, seed_line, 3);
        feed(p, tp_line, 2);
        for (int round = 1; round <= 5; round++) {
                ReloadPlan plan;
                p = reload(p, BASE, &plan);
                assert_int_equal(plan.kept, 3);
                assert_int_equal(plan.added, 0);
                assert_int_equal(plan.removed, 0);
                reload_plan_done(&plan);
                for (size_t i = 0; i < p->n_probes; i++)
                        assert_true(p->probes[i].live);
                feed(p, seed_line, 1);
                feed(p, tp_line, 1);
                assert_int_equal(family_get(p->probes[0].metrics[0].family, seed_labels), 3 + round);
                assert_int_equal(family_get(p->probes[2].metrics[0].family, tp_labels), 2 + round);
                assert_int_equal(p->probes[0].events, 3 + round);
        }
        pipeline_free(p);
}

/* A probe changed and changed back: each time a new registration, so its
 * counters restart; the other probes' counters go on throughout. */
static void test_changed_and_back(void **state) {
        (void) state;
        const char *changed = HEAD CONNECT(SEED_FETCH, SEED_DECODE, "    filter: port != 0\n", "comm, addr, port") PORTS TCP;
        Pipeline *p = running(BASE);
        feed(p, seed_line, 4);
        feed(p, ports_line, 4);
        ReloadPlan plan;
        p = reload(p, changed, &plan);
        assert_int_equal(plan.probe_from[0], -1);
        reload_plan_done(&plan);
        assert_int_equal(family_get(p->probes[0].metrics[0].family, seed_labels), 0);
        const StrView port[] = { SV("6400") };
        assert_int_equal(family_get(p->probes[1].metrics[0].family, port), 4);
        feed(p, seed_line, 2);
        feed(p, ports_line, 2);
        p = reload(p, BASE, &plan);
        assert_int_equal(plan.probe_from[0], -1);
        assert_int_equal(plan.probe_from[1], 1);
        reload_plan_done(&plan);
        assert_int_equal(family_get(p->probes[0].metrics[0].family, seed_labels), 0);
        assert_int_equal(family_get(p->probes[1].metrics[0].family, port), 6);
        feed(p, seed_line, 1);
        feed(p, ports_line, 1);
        assert_int_equal(family_get(p->probes[0].metrics[0].family, seed_labels), 1);
        assert_int_equal(family_get(p->probes[1].metrics[0].family, port), 7);
        pipeline_free(p);
}

/* recent_events changed: the ring is resized and keeps its numbers, so a
 * follower's cursor stays valid (defect 3). */
static void test_ring_goes_on(void **state) {
        (void) state;
        Pipeline *p = running(BASE);
        feed(p, seed_line, 10);
        assert_int_equal(ring_next_seq(p->ring), 11);
        ReloadPlan plan;
        p = reload(p, "recent_events: 4\nprobes:\n" SEED_CONNECT PORTS TCP, &plan);
        assert_true(plan.recent_events_changed);
        reload_plan_done(&plan);
        assert_int_equal(ring_capacity(p->ring), 4);
        assert_int_equal(ring_next_seq(p->ring), 11);
        assert_int_equal(ring_oldest_seq(p->ring), 7);
        uint64_t cursor = 8;
        Buf out = { 0 };
        EventQuery q = { .limit = 100 };
        assert_int_equal(pipeline_stream_events(p, &q, &cursor, &out), 2);
        assert_int_equal(cursor, 10);
        feed(p, seed_line, 1);
        buf_clear(&out);
        assert_int_equal(pipeline_stream_events(p, &q, &cursor, &out), 1);
        assert_non_null(strstr(out.data, "\"seq\":11,"));
        buf_free(&out);
        pipeline_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan_table),
                cmocka_unit_test(test_repeated_unchanged_reloads),
                cmocka_unit_test(test_changed_and_back),
                cmocka_unit_test(test_ring_goes_on),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
