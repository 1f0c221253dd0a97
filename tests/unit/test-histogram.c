/* Histograms, value sums and latencies: from config text and trace_pipe
 * lines to buckets, sums, pairing counts and their exposition in both
 * formats, with values a user would check by hand. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "pipeline.h"
#include "pipeline-fixture.h"

/* A uprobe on kpe_sleep_us(us) and its uretprobe; kpe_record(size). */
#define SLEEP_PROBES \
        "probes:\n" \
        "  - name: sl_in\n" \
        "    type: uprobe\n" \
        "    target: /usr/bin/sleeper:0x1139\n" \
        "    fetch: [us=%di:s64, addr=%si:u32]\n" \
        "    decode: {addr: ipv4}\n" \
        "  - name: sl_out\n" \
        "    type: uretprobe\n" \
        "    target: /usr/bin/sleeper:0x1139\n" \
        "    fetch: [ret=$retval:s64]\n" \
        "    metrics:\n" \
        "      - name: sleep_duration_seconds\n" \
        "        type: histogram\n" \
        "        latency_from: sl_in\n" \
        "        max_pending: 4\n" \
        "        pending_timeout: 60\n" \
        "        buckets: [0.0005, 0.005, 0.05, 0.5]\n" \
        "        labels: [comm, addr]\n" \
        "  - name: rec\n" \
        "    type: uprobe\n" \
        "    target: /usr/bin/sleeper:0x1200\n" \
        "    fetch: [size=%di:s64, port=%si:u16]\n" \
        "    decode: {port: ntohs}\n" \
        "    metrics:\n" \
        "      - name: record_size_bytes\n" \
        "        type: histogram\n" \
        "        value: size\n" \
        "        buckets: [64, 512, 4096, 65536]\n" \
        "      - name: recorded_bytes_total\n" \
        "        value: size\n" \
        "      - name: recorded_kilobytes_total\n" \
        "        value: size\n" \
        "        scale: 0.001\n" \
        "      - name: port_sum_total\n" \
        "        value: port\n" \
        "      - name: rec_total\n"

static Pipeline *make(const char *text) {
        return fixture_pipeline(text);
}

static void feedf(Pipeline *p, const char *fmt, ...) _printf_(2, 3);
static void feedf(Pipeline *p, const char *fmt, ...) {
        char line[8192];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        assert_true(n > 0 && (size_t) n < sizeof(line));
        uint64_t errors = p->parse_errors;
        assert_non_null(pipeline_process_line(p, line, (size_t) n));
        assert_int_equal(p->parse_errors, errors);
}

/* An inet_sock_set_state line of curl's (pid 77) at time t: its TCP socket
 * from 127.0.0.1:sport to daddrv6:dport going from state old to new. */
static void tcp_state(Pipeline *p, const char *t, const char *sport, const char *dport, const char *daddrv6,
                      const char *old, const char *new) {
        feedf(p, "  curl-77  [000] .....  %s: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=%s "
                 "dport=%s saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=%s oldstate=%s newstate=%s",
              t, sport, dport, daddrv6, old, new);
}

/* trace_pipe lines of the sleeper: thread tid, time in µs. */
static void entry(Pipeline *p, int tid, uint64_t usec, long us) {
        feedf(p, "         sleeper-%d    (%7d) [000] %5" PRIu64 ".%06" PRIu64 ": sl_in: (0x55d0c0a01139) us=%ld addr=16777343",
              tid, tid, usec / 1000000, usec % 1000000, us);
}

static void ret(Pipeline *p, int tid, uint64_t usec, int cpu) {
        feedf(p, "         sleeper-%d    (%7d) [%03d] %5" PRIu64 ".%06" PRIu64 ": sl_out: (0x55d0c0a01139 <- 0x55d0c0a0125e) ret=0 comm=\"sleeper-%d\"",
              tid, tid, cpu, usec / 1000000, usec % 1000000, tid);
}

static void record(Pipeline *p, long size) {
        feedf(p, "         sleeper-77    (     77) [001]    20.000000: rec: (0x55d0c0a01200) size=%ld port=6400", size);
}

static const MetricPlan *metric(const Pipeline *p, const char *name) {
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++)
                        if (strcmp(p->probes[i].metrics[m].config->name, name) == 0)
                                return &p->probes[i].metrics[m];
        fail_msg("no metric %s", name);
        return NULL;
}

static char *render(Pipeline *p, ExpoFormat format, Buf *out) {
        buf_clear(out);
        Expo e = { .out = out, .format = format, .has_epoch = true, .epoch_offset_ns = 1700000000000000000 };
        pipeline_render_metrics(p, &e);
        expo_end(&e);
        return out->data;
}

static const StrView sleeper_labels[] = { SV("sleeper-100"), SV("127.0.0.1") };

static void test_value_histogram_boundaries(void **state) {
        (void) state;
        Pipeline *p = make(SLEEP_PROBES);
        const Family *f = metric(p, "record_size_bytes")->family;
        /* A value equal to a bound is in that bucket (le is "<="). */
        const long sizes[] = { 0, 64, 65, 512, 513, 4096, 65536, 65537, -5 };
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++)
                record(p, sizes[i]);
        assert_int_equal(family_get_bucket(f, NULL, 0), 3); /* 0, 64, -5 */
        assert_int_equal(family_get_bucket(f, NULL, 1), 2); /* 65, 512 */
        assert_int_equal(family_get_bucket(f, NULL, 2), 2); /* 513, 4096 */
        assert_int_equal(family_get_bucket(f, NULL, 3), 1); /* 65536 */
        assert_int_equal(family_get_bucket(f, NULL, 4), 1); /* +Inf: 65537 */
        assert_int_equal(family_get(f, NULL), 9);
        assert_true(family_get_sum(f, NULL) == 0 + 64 + 65 + 512 + 513 + 4096 + 65536 + 65537 - 5);

        Buf out = { 0 };
        char *text = render(p, EXPO_TEXT, &out);
        assert_non_null(strstr(text, "# TYPE record_size_bytes histogram\n"
                                     "record_size_bytes_bucket{le=\"64\"} 3\n"
                                     "record_size_bytes_bucket{le=\"512\"} 5\n"
                                     "record_size_bytes_bucket{le=\"4096\"} 7\n"
                                     "record_size_bytes_bucket{le=\"65536\"} 8\n"
                                     "record_size_bytes_bucket{le=\"+Inf\"} 9\n"
                                     "record_size_bytes_sum 136318\n"
                                     "record_size_bytes_count 9\n"));
        /* The value counter adds, -5 is refused (a counter never goes down). */
        assert_non_null(strstr(text, "recorded_bytes_total 136323\n"));
        assert_non_null(strstr(text, "recorded_kilobytes_total 136.323\n"));
        assert_non_null(strstr(text, "kprobe_exporter_values_rejected_total{metric=\"recorded_bytes_total\",reason=\"negative\"} 1\n"));
        /* A decoded value: ntohs(6400) is 25, per event. */
        assert_non_null(strstr(text, "port_sum_total 225\n"));
        assert_non_null(strstr(text, "rec_total 9\n"));
        assert_null(strstr(text, "# EOF"));
        buf_free(&out);
        pipeline_free(p);
}

static void test_latency_interleaved_nested_missing(void **state) {
        (void) state;
        Pipeline *p = make(SLEEP_PROBES);
        const MetricPlan *m = metric(p, "sleep_duration_seconds");

        /* Two threads interleaved, returns on other CPUs. */
        entry(p, 100, 10000000, 1000);  /* t=10 s */
        entry(p, 200, 10000100, 20000);
        ret(p, 100, 10001000, 1);       /* 1 ms */
        ret(p, 200, 10020100, 0);       /* 20 ms */
        /* Nested on one thread (recursion): last in, first out. */
        entry(p, 100, 11000000, 0);
        entry(p, 100, 11000100, 0);
        ret(p, 100, 11000300, 1); /* 200 µs: the inner call */
        ret(p, 100, 11100000, 0); /* 100 ms: the outer */
        /* A return whose entry was never seen. */
        ret(p, 300, 12000000, 0);
        /* A return that precedes the entry in time is not its return. */
        entry(p, 400, 13000000, 0);
        ret(p, 400, 12999000, 0);

        const StrView l200[] = { SV("sleeper-200"), SV("127.0.0.1") };
        assert_int_equal(family_get(m->family, sleeper_labels), 3);
        assert_int_equal(family_get_bucket(m->family, sleeper_labels, 0), 1); /* 200 µs <= 0.0005 */
        assert_int_equal(family_get_bucket(m->family, sleeper_labels, 1), 1); /* 1 ms <= 0.005 */
        assert_int_equal(family_get_bucket(m->family, sleeper_labels, 3), 1); /* 100 ms <= 0.5 */
        assert_int_equal(family_get_bucket(m->family, l200, 2), 1);           /* 20 ms <= 0.05 */
        assert_true(fabs(family_get_sum(m->family, sleeper_labels) - 0.1012) < 1e-9);
        assert_int_equal(m->no_entry, 2);

        Buf out = { 0 };
        char *text = render(p, EXPO_TEXT, &out);
        assert_non_null(strstr(text, "sleep_duration_seconds_bucket{comm=\"sleeper-100\",addr=\"127.0.0.1\",le=\"0.0005\"} 1\n"
                                     "sleep_duration_seconds_bucket{comm=\"sleeper-100\",addr=\"127.0.0.1\",le=\"0.005\"} 2\n"
                                     "sleep_duration_seconds_bucket{comm=\"sleeper-100\",addr=\"127.0.0.1\",le=\"0.05\"} 2\n"
                                     "sleep_duration_seconds_bucket{comm=\"sleeper-100\",addr=\"127.0.0.1\",le=\"0.5\"} 3\n"
                                     "sleep_duration_seconds_bucket{comm=\"sleeper-100\",addr=\"127.0.0.1\",le=\"+Inf\"} 3\n"
                                     "sleep_duration_seconds_sum{comm=\"sleeper-100\",addr=\"127.0.0.1\"} 0.10120000000000001\n"
                                     "sleep_duration_seconds_count{comm=\"sleeper-100\",addr=\"127.0.0.1\"} 3\n"));
        assert_non_null(strstr(text, "kprobe_exporter_unmatched_total{metric=\"sleep_duration_seconds\",reason=\"no_entry\"} 2\n"));
        buf_free(&out);
        pipeline_free(p);
}

static void test_latency_evicted_and_expired(void **state) {
        (void) state;
        Pipeline *p = make(SLEEP_PROBES);
        const MetricPlan *m = metric(p, "sleep_duration_seconds");
        /* max_pending 4: the fifth entry evicts the oldest (thread 1). */
        for (int t = 1; t <= 5; t++)
                entry(p, t, 10000000 + (uint64_t) t, 0);
        assert_int_equal(pending_evicted(m->pending), 1);
        ret(p, 1, 10000100, 0);
        assert_int_equal(m->no_entry, 1);
        ret(p, 2, 10000100, 0);
        assert_int_equal(m->no_entry, 1);
        /* 60 s later the rest have expired. */
        entry(p, 9, 71000000, 0);
        assert_int_equal(pending_expired(m->pending), 3);
        ret(p, 3, 71000001, 0);
        assert_int_equal(m->no_entry, 2);

        Buf out = { 0 };
        char *text = render(p, EXPO_TEXT, &out);
        assert_non_null(strstr(text, "kprobe_exporter_unmatched_total{metric=\"sleep_duration_seconds\",reason=\"evicted\"} 1\n"));
        assert_non_null(strstr(text, "kprobe_exporter_unmatched_total{metric=\"sleep_duration_seconds\",reason=\"expired\"} 3\n"));
        buf_free(&out);
        pipeline_free(p);
}

/* Field-keyed pairing, as block I/O issue -> complete by dev and sector:
 * tracepoints, and a number printed differently on the two sides. */
static void test_latency_match_fields(void **state) {
        (void) state;
        Pipeline *p = make("probes:\n"
                           "  - name: issue\n"
                           "    type: tracepoint\n"
                           "    target: block/block_rq_issue\n"
                           "  - name: complete\n"
                           "    type: tracepoint\n"
                           "    target: block/block_rq_complete\n"
                           "    metrics:\n"
                           "      - name: bio_seconds\n"
                           "        type: histogram\n"
                           "        latency_from: issue\n"
                           "        match: [dev, sector]\n"
                           "        buckets: {exponential: {start: 0.001, factor: 10, count: 3}}\n"
                           "        labels: [rwbs, comm]\n");
        const MetricPlan *m = metric(p, "bio_seconds");
        feedf(p, "    fio-500     [000] .....   5.000000: block_rq_issue: dev=8388608 sector=2048 nr_sector=8 bytes=4096 rwbs=R comm=fio");
        feedf(p, "    fio-500     [000] .....   5.000010: block_rq_issue: dev=8388608 sector=4096 nr_sector=8 bytes=4096 rwbs=W comm=fio");
        /* Completions come from an interrupt: another task, another CPU. */
        feedf(p, " <idle>-0       [001] d.h..   5.000510: block_rq_complete: dev=8388608 sector=4096 nr_sector=8 error=0 rwbs=W");
        feedf(p, " <idle>-0       [001] d.h..   5.020000: block_rq_complete: dev=0x800000 sector=2048 nr_sector=8 error=0 rwbs=R");
        feedf(p, " <idle>-0       [001] d.h..   5.030000: block_rq_complete: dev=8388608 sector=9999 nr_sector=8 error=0 rwbs=R");
        assert_int_equal(m->no_entry, 1);
        /* comm is the completing event's own (a builtin: this event wins). */
        const StrView w[] = { SV("W"), SV("<idle>") }, r[] = { SV("R"), SV("<idle>") };
        assert_int_equal(family_get_bucket(m->family, w, 0), 1); /* 500 µs <= 0.001 */
        assert_int_equal(family_get_bucket(m->family, r, 2), 1); /* 20 ms <= 0.1 */
        Buf out = { 0 };
        char *text = render(p, EXPO_TEXT, &out);
        assert_non_null(strstr(text, "bio_seconds_bucket{rwbs=\"R\",comm=\"<idle>\",le=\"0.01\"} 0\n"
                                     "bio_seconds_bucket{rwbs=\"R\",comm=\"<idle>\",le=\"0.1\"} 1\n"));
        buf_free(&out);
        pipeline_free(p);
}

static void test_openmetrics_exemplars(void **state) {
        (void) state;
        Pipeline *p = make(SLEEP_PROBES);
        record(p, 100);           /* seq 1 */
        entry(p, 100, 10000000, 0); /* seq 2 */
        ret(p, 100, 10001000, 1);   /* seq 3: 1 ms */
        record(p, 5000);          /* seq 4 */

        Buf out = { 0 };
        char *text = render(p, EXPO_OPENMETRICS, &out);
        /* Counters: the family without _total; the latest event's seq, its
         * value and its time (trace clock + the offset) on the sample. */
        assert_non_null(strstr(text, "# TYPE rec counter\n"));
        assert_non_null(strstr(text, "rec_total 2 # {seq=\"4\"} 1 1700000020.000000\n"));
        assert_non_null(strstr(text, "recorded_bytes_total 5100 # {seq=\"4\"} 5000 1700000020.000000\n"));
        assert_non_null(strstr(text, "# TYPE record_size_bytes histogram\n# UNIT record_size_bytes bytes\n"));
        assert_non_null(strstr(text, "record_size_bytes_bucket{le=\"512\"} 1 # {seq=\"1\"} 100 1700000020.000000\n"));
        assert_non_null(strstr(text, "record_size_bytes_bucket{le=\"4096\"} 1\n"));
        assert_non_null(strstr(text, "record_size_bytes_bucket{le=\"65536\"} 2 # {seq=\"4\"} 5000 1700000020.000000\n"));
        assert_non_null(strstr(text, "# UNIT sleep_duration_seconds seconds\n"));
        assert_non_null(strstr(text, "sleep_duration_seconds_bucket{comm=\"sleeper-100\",addr=\"127.0.0.1\",le=\"0.005\"} 1 # {seq=\"3\"} 0.001 1700000010.001000\n"));
        assert_non_null(strstr(text, "# TYPE kprobe_exporter_events counter\n"));
        /* Help texts escape '"' in OpenMetrics. */
        assert_non_null(strstr(text, "(comm \\\"<...>\\\")"));
        size_t n = strlen(text);
        assert_true(n > 6 && strcmp(text + n - 6, "# EOF\n") == 0);
        assert_null(strstr(text, "\n\n"));
        /* The text format has no exemplars. */
        text = render(p, EXPO_TEXT, &out);
        assert_null(strstr(text, " # {"));
        assert_non_null(strstr(text, "# TYPE rec_total counter\n"));
        buf_free(&out);
        pipeline_free(p);
}

static void test_accept_negotiation(void **state) {
        (void) state;
        assert_int_equal(expo_format_from_accept(NULL), EXPO_TEXT);
        assert_int_equal(expo_format_from_accept("*/*"), EXPO_TEXT);
        assert_int_equal(expo_format_from_accept("text/plain"), EXPO_TEXT);
        /* What Prometheus 2.x sends. */
        assert_int_equal(expo_format_from_accept("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                                                 "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
                         EXPO_OPENMETRICS);
        assert_int_equal(expo_format_from_accept("application/openmetrics-text; version=1.0.0"), EXPO_OPENMETRICS);
        assert_int_equal(expo_format_from_accept("text/plain;q=0.9, application/openmetrics-text;q=0.5"), EXPO_TEXT);
        assert_int_equal(expo_format_from_accept("application/openmetrics-text;q=0"), EXPO_TEXT);
        assert_int_equal(expo_format_from_accept(";;;,,, q=\x01"), EXPO_TEXT);
}

/* Each bad key: one error, at its place. */
static void expect_error(const char *metric_yaml, unsigned line, unsigned column, const char *what) {
        char text[2048];
        snprintf(text, sizeof(text),
                 "probes:\n"
                 "  - name: entry\n"          /* 2 */
                 "    type: uprobe\n"
                 "    target: /bin/x:0x10\n"
                 "    fetch: [a=%%di:u32, s=+0(%%si):string]\n"
                 "    decode: {a: ipv4}\n"     /* 6 */
                 "  - name: back\n"
                 "    type: uretprobe\n"
                 "    target: /bin/x:0x10\n"
                 "    fetch: [ret=$retval:s32, name=+0(%%si):string, n=%%ax:u64]\n" /* 10 */
                 "    decode: {ret: errno}\n"
                 "    metrics:\n"
                 "%s",
                 metric_yaml);
        ConfigErrors errs = { 0 };
        Config *c = NULL;
        int r = config_load_string("test.yaml", text, strlen(text), &c, &errs);
        if (errs.n != 1 || !strstr(errs.items[0].message, what))
                config_errors_write(&errs, "test.yaml", text, strlen(text), stderr);
        assert_int_equal(r, -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_non_null(strstr(errs.items[0].message, what));
        assert_int_equal(errs.items[0].line, line);
        assert_int_equal(errs.items[0].column, column);
        config_errors_clear(&errs);
}

/* The column of the first `at` in line `line` (13 is the first metric line). */
static unsigned column_of(const char *yaml, unsigned line, const char *at) {
        const char *p = yaml;
        for (unsigned l = 13; l < line; l++)
                p = strchr(p, '\n') + 1;
        const char *q = strstr(p, at);
        assert_non_null(q);
        return (unsigned) (q - p) + 1;
}

#define EXPECT(yaml, line, at, what) expect_error(yaml, line, column_of(yaml, line, at), what)

/* Two kinds of events of one tracepoint paired: a TCP connection's
 * lifetime from ESTABLISHED to CLOSE of the same 4-tuple (the kernel has
 * one inet_sock_set_state event per instance, so start and end are
 * conditions on its fields). Other transitions are neither entries nor
 * unmatched; a CLOSE without its ESTABLISHED is. */
static void test_latency_start_end_one_probe(void **state) {
        (void) state;
        Pipeline *p = make("probes:\n"
                           "  - name: tcp_state\n"
                           "    type: tracepoint\n"
                           "    target: sock/inet_sock_set_state\n"
                           "    metrics:\n"
                           "      - name: tcp_lifetime_seconds\n"
                           "        type: histogram\n"
                           "        latency_from: tcp_state\n"
                           "        start: {newstate: TCP_ESTABLISHED}\n"
                           "        end: {newstate: TCP_CLOSE}\n"
                           "        match: [sport, dport, saddrv6, daddrv6]\n"
                           "        buckets: [0.1, 1, 10]\n"
                           "        labels: [dport]\n");
        const MetricPlan *m = metric(p, "tcp_lifetime_seconds");
        for (int round = 1; round <= 2; round++) {
                tcp_state(p, "10.000000", "0", "25", "::ffff:127.0.0.1", "TCP_CLOSE", "TCP_SYN_SENT");
                tcp_state(p, "10.000100", "40001", "25", "::ffff:127.0.0.1", "TCP_SYN_SENT", "TCP_ESTABLISHED");
                tcp_state(p, "10.000200", "40002", "25", "::ffff:127.0.0.1", "TCP_SYN_SENT", "TCP_ESTABLISHED");
                tcp_state(p, "10.050200", "40002", "25", "::ffff:127.0.0.1", "TCP_ESTABLISHED", "TCP_FIN_WAIT1");
                tcp_state(p, "10.050300", "40002", "25", "::ffff:127.0.0.1", "TCP_FIN_WAIT1", "TCP_CLOSE");          /* 0.05 s */
                tcp_state(p, "12.000100", "40001", "25", "::ffff:127.0.0.1", "TCP_ESTABLISHED", "TCP_CLOSE_WAIT");
                tcp_state(p, "12.500100", "40001", "25", "::ffff:127.0.0.1", "TCP_LAST_ACK", "TCP_CLOSE");           /* 2.5 s */
                tcp_state(p, "13.000000", "40009", "25", "::ffff:127.0.0.1", "TCP_SYN_SENT", "TCP_CLOSE");           /* refused: no entry */
                const StrView l[] = { SV("25") };
                assert_int_equal(family_get_bucket(m->family, l, 0), round);     /* 0.05 <= 0.1 */
                assert_int_equal(family_get_bucket(m->family, l, 2), round); /* 2.5 in (1, 10] */
                assert_int_equal(m->no_entry, round);
        }
        Buf out = { 0 };
        char *text = render(p, EXPO_TEXT, &out);
        assert_non_null(strstr(text, "tcp_lifetime_seconds_count{dport=\"25\"} 4\n"));
        assert_non_null(strstr(text, "tcp_lifetime_seconds_sum{dport=\"25\"} 5.1"));
        buf_free(&out);
        pipeline_free(p);
}

/* Several metrics of one tracepoint, each counting its own kind of event
 * (when:), as the probe library's tcp.yaml does with inet_sock_set_state:
 * connects (SYN_SENT), failed connects (SYN_SENT -> CLOSE), accepts
 * (SYN_RECV -> ESTABLISHED); a value histogram with a condition too; other
 * transitions count nowhere. Each twice. */
static void test_when_conditions(void **state) {
        (void) state;
        Pipeline *p = make("probes:\n"
                           "  - name: tcp_state\n"
                           "    type: tracepoint\n"
                           "    target: sock/inet_sock_set_state\n"
                           "    metrics:\n"
                           "      - name: connects_total\n"
                           "        when: {newstate: TCP_SYN_SENT}\n"
                           "        labels: [daddr, dport]\n"
                           "      - name: failures_total\n"
                           "        when: {oldstate: TCP_SYN_SENT, newstate: TCP_CLOSE}\n"
                           "        labels: [dport]\n"
                           "      - name: accepts_total\n"
                           "        when: {oldstate: TCP_SYN_RECV, newstate: TCP_ESTABLISHED}\n"
                           "        labels: [sport]\n"
                           "      - name: closed_sport\n"
                           "        type: histogram\n"
                           "        value: sport\n"
                           "        when: {newstate: TCP_CLOSE}\n"
                           "        buckets: [1000, 50000]\n"
                           "      - name: transitions_total\n");
        Buf out = { 0 };
        for (int round = 1; round <= 2; round++) {
                tcp_state(p, "10.000000", "0", "25", "::ffff:127.0.0.1", "TCP_CLOSE", "TCP_SYN_SENT");
                tcp_state(p, "10.000000", "40001", "25", "::ffff:127.0.0.1", "TCP_SYN_SENT", "TCP_ESTABLISHED");
                tcp_state(p, "10.000000", "25", "40001", "::ffff:127.0.0.1", "TCP_SYN_RECV", "TCP_ESTABLISHED");
                tcp_state(p, "10.000000", "40001", "25", "::ffff:127.0.0.1", "TCP_ESTABLISHED", "TCP_FIN_WAIT1");
                tcp_state(p, "10.000000", "40001", "25", "::ffff:127.0.0.1", "TCP_FIN_WAIT2", "TCP_CLOSE");
                tcp_state(p, "10.000000", "0", "26", "::ffff:127.0.0.1", "TCP_CLOSE", "TCP_SYN_SENT");
                tcp_state(p, "10.000000", "40002", "26", "::ffff:127.0.0.1", "TCP_SYN_SENT", "TCP_CLOSE");
                const char *text = fixture_metrics(p, &out);
                assert_has_line(text, "connects_total{daddr=\"127.0.0.1\",dport=\"25\"} %d", round);
                assert_has_line(text, "connects_total{daddr=\"127.0.0.1\",dport=\"26\"} %d", round);
                assert_has_line(text, "failures_total{dport=\"26\"} %d", round);
                assert_null(strstr(text, "failures_total{dport=\"25\"}"));
                assert_has_line(text, "accepts_total{sport=\"25\"} %d", round);
                assert_null(strstr(text, "accepts_total{sport=\"40001\"}"));
                assert_has_line(text, "closed_sport_count %d", 2 * round);
                assert_has_line(text, "closed_sport_bucket{le=\"50000\"} %d", 2 * round);
                assert_has_line(text, "closed_sport_sum %d", 80003 * round);
                assert_has_line(text, "transitions_total %d", 7 * round);
        }
        buf_free(&out);
        pipeline_free(p);
}

/* A label that shows a field of another name ({daddr: daddrv6}): the
 * series is labelled daddr with daddrv6's decoded value; a latency's label
 * from its entry's field under a name of its own; twice. */
static void test_label_from_field(void **state) {
        (void) state;
        Pipeline *p = make("probes:\n"
                           "  - name: tcp_state\n"
                           "    type: tracepoint\n"
                           "    target: sock/inet_sock_set_state\n"
                           "    decode: {daddrv6: ip}\n"
                           "    metrics:\n"
                           "      - name: connects_total\n"
                           "        when: {newstate: TCP_SYN_SENT}\n"
                           "        labels: [{process: comm}, {daddr: daddrv6}, {port: dport}]\n"
                           "      - name: lifetime_seconds\n"
                           "        type: histogram\n"
                           "        latency_from: tcp_state\n"
                           "        start: {newstate: TCP_ESTABLISHED}\n"
                           "        end: {newstate: TCP_CLOSE}\n"
                           "        match: [sport, dport]\n"
                           "        buckets: [1]\n"
                           "        labels: [{remote: daddrv6}]\n");
        Buf out = { 0 };
        for (int round = 1; round <= 2; round++) {
                tcp_state(p, "10.000000", "0", "25", "::ffff:127.0.0.1", "TCP_CLOSE", "TCP_SYN_SENT");
                tcp_state(p, "10.000000", "0", "25", "::1", "TCP_CLOSE", "TCP_SYN_SENT");
                tcp_state(p, "10.000100", "40001", "25", "::1", "TCP_SYN_SENT", "TCP_ESTABLISHED");
                tcp_state(p, "10.500100", "40001", "25", "::1", "TCP_FIN_WAIT2", "TCP_CLOSE");
                const char *text = fixture_metrics(p, &out);
                assert_has_line(text, "connects_total{process=\"curl\",daddr=\"127.0.0.1\",port=\"25\"} %d", round);
                assert_has_line(text, "connects_total{process=\"curl\",daddr=\"::1\",port=\"25\"} %d", round);
                assert_has_line(text, "lifetime_seconds_count{remote=\"::1\"} %d", round);
                assert_null(strstr(text, "daddrv6="));
        }
        buf_free(&out);
        pipeline_free(p);
}

static void test_config_errors(void **state) {
        (void) state;
        EXPECT("      - {name: h, type: histogram, value: n, buckets: [1, 5, 3]}\n", 13, "3]",
               "bucket bound 3 is not above the one before (5)");
        EXPECT("      - {name: h, type: histogram, value: n, buckets: []}\n", 13, "[]", "'buckets' must not be empty");
        EXPECT("      - {name: h, type: histogram, value: n, buckets: [1, x]}\n", 13, "x]", "must be a finite number");
        EXPECT("      - {name: h, type: histogram, value: n, buckets: [1, .inf]}\n", 13, ".inf", "must be a finite number");
        EXPECT("      - {name: h, type: histogram, value: n, buckets: {exponential: {start: 0, factor: 2, count: 3}}}\n",
               13, "0,", "need a 'start' above 0");
        EXPECT("      - {name: h, type: histogram, value: n, buckets: {exponential: {start: 1, factor: 1, count: 3}}}\n",
               13, "1, count", "need a 'factor' above 1");
        EXPECT("      - {name: h, type: histogram, value: n, buckets: {linear: {start: 0, width: 1}}}\n", 13, "{start",
               "'linear' is missing 'count'");
        EXPECT("      - {name: h, type: histogram, value: n, buckets: {linear: {start: 0, width: 1, count: 999}}}\n", 13,
               "999", "'count' must be between 1 and 256");
        EXPECT("      - {name: h, type: histogram, value: n, buckets: {cubic: {}}}\n", 13, "cubic", "unknown key 'cubic'");
        /* ret is decoded as errno: not a number. */
        EXPECT("      - {name: h, type: histogram, value: ret}\n", 13, "ret", "decoded as errno, which is not a number");
        EXPECT("      - {name: h, type: histogram, value: name}\n", 13, "name}", "is a string, not a number");
        EXPECT("      - {name: h, type: histogram, value: nope}\n", 13, "nope", "is not a field of probe 'back'");
        EXPECT("      - {name: h, type: histogram, latency_from: nope}\n", 13, "nope", "there is no probe 'nope'");
        EXPECT("      - {name: h, type: histogram, latency_from: back}\n", 13, "back", "is this metric's own probe");
        EXPECT("      - {name: h, type: histogram, latency_from: back, end: {ret: '0'}}\n", 13, "back",
               "give 'start' and 'end'");
        EXPECT("      - {name: h, type: histogram, latency_from: entry, start: {zz: '1'}}\n", 13, "zz",
               "start: 'zz' is not a field of probe 'entry'");
        EXPECT("      - {name: h_total, labels: [{a: zz}]}\n", 13, "a:", "label 'zz' is neither a field of probe 'back'");
        EXPECT("      - {name: h_total, labels: [{a: ret, b: ret}]}\n", 13, "{a", "a label is NAME or {NAME: FIELD}, one pair");
        EXPECT("      - {name: h_total, labels: [{x: ret}, {x: comm}]}\n", 13, "x: comm", "duplicate label 'x'");
        EXPECT("      - {name: h_total, when: {zz: '1'}}\n", 13, "zz", "when: 'zz' is not a field of probe 'back'");
        EXPECT("      - {name: h_total, when: [ret]}\n", 13, "[ret]", "'when' must be a mapping");
        EXPECT("      - {name: h, type: histogram, latency_from: entry, when: {ret: '0'}}\n", 13, "when",
               "'when' is for counters and value histograms");
        EXPECT("      - {name: h, type: histogram, latency_from: entry, end: {a: '1'}}\n", 13, "a:",
               "end: 'a' is not a field of probe 'back'");
        EXPECT("      - {name: h, type: histogram, latency_from: entry, end: [ret]}\n", 13, "[ret]",
               "'end' must be a mapping");
        EXPECT("      - {name: h_total, start: {ret: '0'}}\n", 13, "start", "only for latency histograms");
        EXPECT("      - {name: h, type: histogram, latency_from: entry, match: [ret]}\n", 13, "ret",
               "match: 'ret' is not a field of probe 'entry' (the entry, latency_from)");
        EXPECT("      - {name: h, type: histogram, latency_from: entry, match: [a]}\n", 13, "a]",
               "match: 'a' is not a field of probe 'back'");
        EXPECT("      - {name: h, type: histogram, latency_from: entry, labels: [a, zz]}\n", 13, "zz",
               "label 'zz' is a field of neither probe 'back' nor its entry 'entry'");
        EXPECT("      - {name: h, type: histogram, latency_from: entry, value: n}\n", 13, "latency_from",
               "'latency_from' and 'value' exclude each other");
        EXPECT("      - {name: h_total, type: histogram, value: n}\n", 13, "h_total", "must not end in _total");
        EXPECT("      - {name: h_bucket, type: histogram, value: n}\n", 13, "h_bucket", "must not end in _bucket");
        EXPECT("      - {name: h, value: n}\n", 13, "h,", "must end in _total");
        EXPECT("      - {name: h_total, latency_from: entry}\n", 13, "latency_from", "needs 'type: histogram'");
        EXPECT("      - {name: h, type: histogram}\n", 13, "{", "needs 'value'");
        EXPECT("      - {name: h_total, buckets: [1]}\n", 13, "buckets", "only for 'type: histogram'");
        EXPECT("      - {name: h_total, match: [tid]}\n", 13, "match", "only for latency histograms");
        EXPECT("      - {name: h_total, type: gauge}\n", 13, "gauge", "unknown metric type 'gauge'");
        EXPECT("      - {name: h, type: histogram, value: n, scale: 0}\n", 13, "0}", "'scale' must not be 0");
        EXPECT("      - {name: h, type: histogram, latency_from: entry, pending_timeout: -1}\n", 13, "-1",
               "'pending_timeout' must be above 0");
        EXPECT("      - {name: h, type: histogram, latency_from: entry, max_pending: 0}\n", 13, "0}",
               "'max_pending' must be between 1 and");
        EXPECT("      - {name: h, type: histogram, value: n, labels: [le]}\n", 13, "le]", "label 'le' is the bucket bound");
        EXPECT("      - {name: h_total}\n      - {name: h, type: histogram, latency_from: entry}\n", 14, "{",
               "OpenMetrics would show them as one family");
}

static void test_config_layouts(void **state) {
        (void) state;
        static const char text[] =
                "probes:\n"
                "  - name: rec\n"
                "    type: uprobe\n"
                "    target: /usr/bin/sleeper:0x1200\n"
                "    fetch: [size=%di:s64]\n"
                "    metrics:\n"
                "      - {name: e_seconds, type: histogram, value: size, buckets: {exponential: {start: 0.00001, factor: 4, count: 10}}}\n"
                "      - {name: l, type: histogram, value: size, buckets: {linear: {start: 0, width: 0.1, count: 4}}}\n"
                "      - {name: w, type: histogram, value: size, buckets: [1e3, 2500.50, 1e4]}\n"
                "      - {name: d_seconds, type: histogram, value: size}\n";
        Config *c = NULL;
        assert_int_equal(config_load_string("t.yaml", text, strlen(text), &c, NULL), 0);
        const MetricConfig *m = c->probes[0].metrics;
        assert_int_equal(m[0].n_buckets, 10);
        assert_string_equal(m[0].bucket_text[0], "1e-05");
        assert_string_equal(m[0].bucket_text[1], "4e-05");
        assert_string_equal(m[0].bucket_text[2], "0.00016");
        assert_string_equal(m[0].bucket_text[9], "2.62144");
        assert_int_equal(m[1].n_buckets, 4);
        /* Each bound from start directly: 0.30000000000000004 would be 0.1+0.1+0.1. */
        assert_string_equal(m[1].bucket_text[3], "0.3");
        assert_string_equal(m[1].bucket_text[0], "0");
        /* A listed bound prints exactly as written. */
        assert_string_equal(m[2].bucket_text[0], "1e3");
        assert_string_equal(m[2].bucket_text[1], "2500.50");
        assert_true(m[2].buckets[1] == 2500.5);
        /* Without buckets: the client libraries' defaults. */
        assert_int_equal(m[3].n_buckets, 11);
        assert_string_equal(m[3].bucket_text[0], "0.005");
        assert_string_equal(m[3].bucket_text[10], "10");
        /* Without help: what the number is. */
        assert_string_equal(m[0].help, "Values of field size of probe rec");
        config_free(c);

        assert_int_equal(config_load_string("t.yaml", SLEEP_PROBES, strlen(SLEEP_PROBES), &c, NULL), 0);
        assert_string_equal(c->probes[1].metrics[0].help,
                            "Seconds from an event of probe sl_in to the matching event of probe sl_out");
        m = c->probes[2].metrics;
        assert_string_equal(m[1].help, "Sum of field size of probe rec");
        assert_string_equal(m[2].help, "Sum of field size of probe rec, times 0.001");
        assert_string_equal(m[4].help, "Events of probe rec");
        config_free(c);
}

/* A reload that keeps the metric keeps its buckets and its pending
 * entries: a return after the reload pairs with an entry before it. */
static void test_reload_keeps_pending(void **state) {
        (void) state;
        Pipeline *prev = make(SLEEP_PROBES);
        entry(prev, 100, 10000000, 0);
        entry(prev, 100, 10000000, 0);
        ret(prev, 100, 10000400, 0);
        Pipeline *next = make(SLEEP_PROBES);
        const bool live[] = { true, true, true };
        ReloadPlan plan;
        reload_plan_compute(prev->config, live, next->config, &plan);
        pipeline_adopt(next, prev, &plan);
        reload_plan_done(&plan);
        pipeline_free(prev);
        ret(next, 100, 10003000, 0);
        const MetricPlan *m = metric(next, "sleep_duration_seconds");
        assert_int_equal(m->no_entry, 0);
        assert_int_equal(family_get(m->family, sleeper_labels), 2);
        assert_int_equal(family_get_bucket(m->family, sleeper_labels, 0), 1);
        assert_int_equal(family_get_bucket(m->family, sleeper_labels, 1), 1);
        pipeline_free(next);
}

/* A label the entry saves is a string the traced process chose: what the
 * pending table holds of it is bounded by max_label_bytes (not the 4 KiB
 * a fetch may be), and the label is the same cut the return's own field
 * would get. */
static void test_latency_long_entry_label(void **state) {
        (void) state;
        static const char text[] =
                "max_label_bytes: 32\n"
                "probes:\n"
                "  - name: op_in\n"
                "    type: uprobe\n"
                "    target: /usr/bin/opener:0x1139\n"
                "    fetch: [path=+0(%di):string]\n"
                "  - name: op_out\n"
                "    type: uretprobe\n"
                "    target: /usr/bin/opener:0x1139\n"
                "    fetch: [ret=$retval:s64]\n"
                "    metrics:\n"
                "      - name: open_seconds\n"
                "        type: histogram\n"
                "        latency_from: op_in\n"
                "        buckets: [0.001]\n"
                "        labels: [path]\n";
        Pipeline *p = make(text);
        char path[4001];
        memset(path, 'a', sizeof(path) - 1);
        path[sizeof(path) - 1] = 0;
        memcpy(path, "/srv/", 5);
        const MetricPlan *m = metric(p, "open_seconds");
        size_t before = pending_bytes(m->pending);
        for (int tid = 100; tid < 110; tid++)
                feedf(p, "          opener-%d    (%7d) [000]    10.000000: op_in: (0x55d0c0a01139) path=\"%s\"", tid,
                      tid, path);
        /* Ten entries of 4 KB strings: each holds a few dozen bytes of it
         * (with the table's own growth: 40 KB if each held its string). */
        assert_true(pending_bytes(m->pending) - before < 10 * 400);
        for (int tid = 100; tid < 110; tid++)
                feedf(p, "          opener-%d    (%7d) [000]    10.000500: op_out: (0x55d0c0a01139 <- 0x55d0c0a0125e) ret=3",
                      tid, tid);
        assert_int_equal(m->no_entry, 0);
        /* 29 bytes and the 3 of "…": one series, the cut value, no quote. */
        char want[64];
        snprintf(want, sizeof(want), "%.29s\xe2\x80\xa6", path);
        assert_int_equal(family_get(m->family, (StrView[]){ sv_from(want) }), 10);
        _cleanup_buf_ Buf out = { 0 };
        assert_non_null(strstr(render(p, EXPO_TEXT, &out), "open_seconds_count{path=\"/srv/aaaaaaaaaaaaaaaaaaaaaaaa\xe2\x80\xa6\"} 10\n"));
        pipeline_free(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_latency_long_entry_label),
                cmocka_unit_test(test_value_histogram_boundaries),
                cmocka_unit_test(test_latency_interleaved_nested_missing),
                cmocka_unit_test(test_latency_evicted_and_expired),
                cmocka_unit_test(test_latency_match_fields),
                cmocka_unit_test(test_latency_start_end_one_probe),
                cmocka_unit_test(test_when_conditions),
                cmocka_unit_test(test_label_from_field),
                cmocka_unit_test(test_openmetrics_exemplars),
                cmocka_unit_test(test_accept_negotiation),
                cmocka_unit_test(test_config_errors),
                cmocka_unit_test(test_config_layouts),
                cmocka_unit_test(test_reload_keeps_pending),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
