/* Kernel aggregation: the trigger lines planned for each kind of metric
 * (and why a metric stays in user space), the parser of the kernel's hist
 * file against forged and broken text, and a hist file through the whole
 * pipeline: the seed's port=6400 addr=16777343 counted by the kernel comes
 * out as port="25", addr="127.0.0.1", as the events would have. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "khist.h"
#include "pipeline.h"
#include "pipeline-fixture.h"

static const char *const connect_config =
        "probes:\n"
        "  - name: connect\n"
        "    type: kprobe\n"
        "    target: __sys_connect_file\n"
        "    fetch: [family=+0($arg2):u16, port=+2($arg2):u16, addr=+4($arg2):u32]\n"
        "    filter: family == 2\n"
        "    decode: {port: ntohs, addr: ipv4}\n"
        "    metrics:\n"
        "      - {name: connect_total, labels: [comm, addr, port]}\n"
        "      - {name: family_sum_total, value: family, labels: [port]}\n"
        "      - name: family_values\n"
        "        type: histogram\n"
        "        value: family\n"
        "        buckets: {exponential: {start: 1, factor: 2, count: 4}}\n"
        "      - {name: by_tgid_total, labels: [tgid]}\n"
        "      - {name: port_sum_total, value: port}\n"
        "      - {name: user_total, labels: [port], aggregate: user}\n"
        "  - name: connect_ret\n"
        "    type: kretprobe\n"
        "    target: __sys_connect_file\n"
        "    fetch: [ret=$retval:s32]\n"
        "    decode: {ret: errno}\n"
        "    metrics:\n"
        "      - {name: connect_errors_total, labels: [comm, ret]}\n"
        "      - name: connect_seconds\n"
        "        type: histogram\n"
        "        latency_from: connect\n"
        "        labels: [ret, addr]\n"
        "        buckets: {exponential: {start: 0.000001, factor: 2, count: 20}}\n"
        "      - name: connect_ns_seconds\n"
        "        type: histogram\n"
        "        latency_from: connect\n"
        "        buckets: {exponential: {start: 0.000000001, factor: 2, count: 30}}\n"
        "      - name: connect_default_seconds\n"
        "        type: histogram\n"
        "        latency_from: connect\n"
        "  - name: tcp\n"
        "    type: tracepoint\n"
        "    target: sock/inet_sock_set_state\n"
        "    metrics:\n"
        "      - {name: tcp_total, labels: [dport]}\n";

static KernelFeatures hist_kernel(void) {
        KernelFeatures k;
        features_from_readme(&k, NULL);
        snprintf(k.release, sizeof(k.release), "6.1.0-test");
        snprintf(k.machine, sizeof(k.machine), "x86_64");
        k.state[FEATURE_HIST_TRIGGERS] = FEATURE_YES;
        return k;
}

static void plan_of(const Config *c, size_t pi, size_t mi, KhPlan *ret) {
        KernelFeatures k = hist_kernel();
        khist_plan(c, pi, mi, &k, "kpe", "mono", ret);
}

static void test_plan_counter(void **state) {
        (void) state;
        Config *c = fixture_config(connect_config);
        KhPlan p;
        plan_of(c, 0, 0, &p);
        assert_true(p.kernel);
        assert_null(p.synth);
        assert_int_equal(p.n_triggers, 1);
        assert_string_equal(p.triggers[0].event, "kpe/connect");
        /* max_series 10000 -> the next power of two; the probe's filter
         * goes with it: the kernel runs triggers before the event filter. */
        assert_string_equal(p.triggers[0].line,
                            "hist:name=kpe_connect_total:keys=comm,addr,port:vals=hitcount:size=2048 if family == 2");
        assert_int_equal(p.n_keys, 3);
        assert_int_equal(p.keys[0].kind, KH_KEY_STR);
        assert_int_equal(p.keys[1].kind, KH_KEY_NUM);
        khist_plan_done(&p);

        plan_of(c, 0, 1, &p); /* a sum of an undecoded unsigned field */
        assert_true(p.kernel);
        assert_string_equal(p.triggers[0].line,
                            "hist:name=kpe_family_sum_total:keys=port:vals=hitcount,family:size=2048 if family == 2");
        khist_plan_done(&p);

        plan_of(c, 0, 2, &p); /* bounds 1, 2, 4, 8: log2 from 2^0 */
        assert_true(p.kernel);
        assert_string_equal(p.triggers[0].line, "hist:name=kpe_family_values:keys=family.log2:vals=hitcount,family:"
                                                "size=2048 if family == 2");
        assert_int_equal(p.log2_base, 0);
        assert_int_equal(khist_bucket(&p, 0), 0);
        assert_int_equal(khist_bucket(&p, 3), 3);
        assert_int_equal(khist_bucket(&p, 4), 4); /* above 8: +Inf */
        assert_int_equal(khist_bucket(&p, 60), 4);
        khist_plan_done(&p);
        config_free(c);
}

/* size= is max_series (times a histogram's buckets), within
 * kernel_max_entries: the kernel allocates every entry up front. */
static void test_plan_size(void **state) {
        (void) state;
        static const char *const probe = "probes:\n"
                                          "  - name: rd\n"
                                          "    type: kprobe\n"
                                          "    target: ksys_read\n"
                                          "    fetch: [fd=$arg1:u32]\n"
                                          "    metrics: [{name: rd_total, labels: [fd]}]\n";
        static const struct {
                const char *top;
                const char *size;
        } cases[] = {
                { "", ":size=2048" },
                { "max_series: 100\n", ":size=128" },
                { "max_series: 1000\n", ":size=1024" },
                { "kernel_max_entries: 16384\n", ":size=16384" },
                { "kernel_max_entries: 131072\nmax_series: 1000000\n", ":size=131072" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = xstrdupf("%s%s", cases[i].top, probe);
                Config *c = fixture_config(text);
                KhPlan p;
                plan_of(c, 0, 0, &p);
                assert_true(p.kernel);
                if (!strstr(p.triggers[0].line, cases[i].size))
                        fail_msg("%s: %s, want %s", cases[i].top, p.triggers[0].line, cases[i].size);
                khist_plan_done(&p);
                config_free(c);
        }
}

static void test_plan_user(void **state) {
        (void) state;
        Config *c = fixture_config(connect_config);
        KhPlan p;
        plan_of(c, 0, 3, &p);
        assert_false(p.kernel);
        assert_non_null(strstr(p.why, "label 'tgid'"));
        khist_plan_done(&p);
        plan_of(c, 0, 4, &p);
        assert_false(p.kernel);
        assert_non_null(strstr(p.why, "decoded (ntohs)"));
        khist_plan_done(&p);
        plan_of(c, 0, 5, &p);
        assert_false(p.kernel);
        assert_string_equal(p.why, "aggregate: user");
        khist_plan_done(&p);
        plan_of(c, 1, 3, &p); /* Prometheus' default buckets */
        assert_false(p.kernel);
        assert_non_null(strstr(p.why, "buckets are neither 2^a"));
        khist_plan_done(&p);
        plan_of(c, 2, 0, &p);
        assert_false(p.kernel);
        assert_non_null(strstr(p.why, "tracepoint"));
        khist_plan_done(&p);

        /* A counter with when: counts only some events, which the kernel
         * cannot tell: in user space, where the condition is applied. */
        {
                static const char text[] = "probes:\n"
                                           "  - name: rd\n"
                                           "    type: kprobe\n"
                                           "    target: ksys_read\n"
                                           "    fetch: [fd=$arg1:u32]\n"
                                           "    metrics: [{name: rd0_total, when: {fd: '0'}, labels: [fd]}]\n";
                Config *w = fixture_config(text);
                plan_of(w, 0, 0, &p);
                assert_false(p.kernel);
                assert_string_equal(p.why, "when: conditions are checked in user space");
                khist_plan_done(&p);
                config_free(w);
        }

        /* A kernel without hist triggers says so. */
        KernelFeatures none = hist_kernel();
        none.state[FEATURE_HIST_TRIGGERS] = FEATURE_NO;
        khist_plan(c, 0, 0, &none, "kpe", NULL, &p);
        assert_false(p.kernel);
        assert_string_equal(p.why, "kernel 6.1.0-test (x86_64) has no hist triggers (CONFIG_HIST_TRIGGERS)");
        khist_plan_done(&p);
        config_free(c);
}

static void test_plan_latency(void **state) {
        (void) state;
        Config *c = fixture_config(connect_config);
        KhPlan p;
        plan_of(c, 1, 1, &p);
        assert_true(p.kernel);
        assert_int_equal(p.entry_probe, 0);
        assert_string_equal(p.synth, "kpe_connect_seconds u64 lat; s32 ret; u32 addr");
        assert_int_equal(p.n_triggers, 3);
        assert_string_equal(p.triggers[0].event, "synthetic/kpe_connect_seconds");
        assert_string_equal(p.triggers[0].line,
                            "hist:name=kpe_connect_seconds:keys=ret,addr,lat.log2:vals=hitcount,lat:size=2048");
        assert_string_equal(p.triggers[1].event, "kpe/connect");
        assert_string_equal(p.triggers[1].line, "hist:keys=common_pid:ts_connect_seconds=common_timestamp.usecs,"
                                                "addr_connect_seconds=addr:clock=mono if family == 2");
        assert_string_equal(p.triggers[2].event, "kpe/connect_ret");
        assert_string_equal(p.triggers[2].line,
                            "hist:keys=common_pid:lat_connect_seconds=common_timestamp.usecs-$ts_connect_seconds:"
                            "onmatch(kpe.connect).trace(kpe_connect_seconds,$lat_connect_seconds,ret,"
                            "$addr_connect_seconds):clock=mono");
        assert_true(p.unit > 0.99e-6 && p.unit < 1.01e-6);
        khist_plan_done(&p);

        plan_of(c, 1, 2, &p); /* from 1 ns: raw nanoseconds */
        assert_true(p.kernel);
        assert_non_null(strstr(p.triggers[1].line, "ts_connect_ns_seconds=common_timestamp:clock=mono"));
        assert_null(strstr(p.triggers[1].line, "usecs"));
        khist_plan_done(&p);
        config_free(c);
}

typedef struct Seen {
        KhEntry e[8];
        size_t n;
} Seen;

static void collect(void *userdata, const KhEntry *e) {
        Seen *s = userdata;
        if (s->n < 8)
                s->e[s->n++] = *e;
}

/* Linear buckets: the kernel's .buckets=W group [jW, (j+1)W-1] lies within
 * one Prometheus bucket only when the bounds are mW-1, (m+1)W-1, ... */
static void test_plan_linear(void **state) {
        (void) state;
        Config *c = fixture_config("probes:\n"
                         "  - name: rd\n"
                         "    type: kprobe\n"
                         "    target: ksys_read\n"
                         "    fetch: [len=$arg3:u64]\n"
                         "    metrics:\n"
                         "      - {name: exact, type: histogram, value: len, buckets: {linear: {start: 99, width: 100, count: 5}}}\n"
                         "      - {name: shifted, type: histogram, value: len, buckets: {linear: {start: 100, width: 100, count: 5}}}\n"
                         "      - {name: one, type: histogram, value: len, buckets: [1023]}\n");
        KhPlan p;
        plan_of(c, 0, 0, &p);
        assert_true(p.kernel);
        assert_string_equal(p.triggers[0].line,
                            "hist:name=kpe_exact:keys=len.buckets=100:vals=hitcount,len:size=2048");
        assert_int_equal(p.width, 100);
        assert_int_equal(khist_bucket(&p, 0), 0);   /* 0..99 <= 99 */
        assert_int_equal(khist_bucket(&p, 100), 1); /* 100..199 <= 199 */
        assert_int_equal(khist_bucket(&p, 400), 4);
        assert_int_equal(khist_bucket(&p, 500), 5); /* above 499: +Inf */
        const char *text = "# trigger info: hist:name=kpe_exact:keys=len.buckets=100:vals=hitcount,len:sort=hitcount:size=65536 [active]\n"
                           "{ len: ~ 100-199 } hitcount:          2  len:        300\n"
                           "\nTotals:\n    Hits: 2\n    Entries: 1\n    Dropped: 0\n";
        Seen s = { 0 };
        KhTotals t;
        assert_int_equal(khist_parse(&p, text, strlen(text), collect, &s, &t), 0);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.e[0].num[0], 100);
        assert_int_equal(s.e[0].sum, 300);
        khist_plan_done(&p);

        plan_of(c, 0, 1, &p); /* 100 would hold the group 100..199 cut in two */
        assert_false(p.kernel);
        khist_plan_done(&p);
        plan_of(c, 0, 2, &p); /* one bound, 2^10 - 1: a single group of 1024 */
        assert_true(p.kernel);
        assert_non_null(strstr(p.triggers[0].line, "len.buckets=1024"));
        khist_plan_done(&p);

        KernelFeatures old = hist_kernel();
        old.state[FEATURE_HIST_BUCKETS] = FEATURE_NO;
        khist_plan(c, 0, 0, &old, "kpe", NULL, &p);
        assert_false(p.kernel);
        assert_non_null(strstr(p.why, "which this kernel lacks"));
        khist_plan_done(&p);
        config_free(c);
}

static void test_names(void **state) {
        (void) state;
        char *n = khist_object_name("kprobe-exporter", "connect_total");
        assert_string_equal(n, "kprobe_exporter_connect_total");
        assert_true(khist_name_is_ours("kprobe-exporter", n));
        assert_false(khist_name_is_ours("kprobe-exporter2", n));
        assert_false(khist_name_is_ours("kprobe", "kprobeX_connect"));
        free(n);
        n = khist_object_name("kprobe_exporter", "a_metric_name_that_is_long_enough_to_pass_the_event_name_limit");
        assert_int_equal(strlen(n), CONFIG_NAME_MAX);
        assert_true(khist_name_is_ours("kprobe_exporter", n));
        free(n);
}

/* What the kernel prints, in its own format (trace_events_hist.c). */
static char *pad50(const char *comm) {
        char *s = malloc(51);
        assert_non_null(s);
        snprintf(s, 51, "%-50s", comm);
        return s;
}

static char *counter_hist(const char *comm1, const char *comm2) {
        _cleanup_free_ char *a = pad50(comm1), *b = pad50(comm2);
        Buf t = { 0 };
        buf_printf(&t,
                   "# event histogram\n#\n# trigger info: hist:name=kpe_other:keys=port:vals=hitcount:sort=hitcount:size=2048 [active]\n#\n\n"
                   "{ port:       6400 } hitcount:          9\n\nTotals:\n    Hits: 9\n    Entries: 1\n    Dropped: 0\n\n"
                   "# event histogram\n#\n"
                   "# trigger info: hist:name=kpe_connect_total:keys=comm,addr,port:vals=hitcount:sort=hitcount:size=16384 if family == 2 [active]\n#\n\n"
                   "{ comm: %s, addr:   16777343, port:       6400 } hitcount:          5\n"
                   "{ comm: %s, addr:   16777343, port:       6656 } hitcount:          3\n"
                   "\nTotals:\n    Hits: 8\n    Entries: 2\n    Dropped: 7\n",
                   a, b);
        return buf_steal(&t);
}

static void test_parse(void **state) {
        (void) state;
        Config *c = fixture_config(connect_config);
        KhPlan p;
        plan_of(c, 0, 0, &p);
        _cleanup_free_ char *text = counter_hist("nc", "curl");
        Seen s = { 0 };
        KhTotals t;
        assert_int_equal(khist_parse(&p, text, strlen(text), collect, &s, &t), 0);
        assert_int_equal(s.n, 2);
        assert_int_equal(s.e[0].str[0].n, 2);
        assert_memory_equal(s.e[0].str[0].p, "nc", 2);
        assert_int_equal(s.e[0].num[1], 16777343);
        assert_int_equal(s.e[0].num[2], 6400);
        assert_int_equal(s.e[0].hitcount, 5);
        assert_int_equal(s.e[1].hitcount, 3);
        assert_int_equal(t.hits, 8);
        assert_int_equal(t.entries, 2);
        assert_int_equal(t.dropped, 7);
        assert_int_equal(t.bad, 0);

        /* A comm (15 bytes at most, whatever they are) stays inside its 50
         * columns: no forged entry, no forged section. */
        free(text);
        text = counter_hist("x }\n{ comm: y", "}\nTotals:\n");
        memset(&s, 0, sizeof(s));
        assert_int_equal(khist_parse(&p, text, strlen(text), collect, &s, &t), 0);
        assert_int_equal(s.n, 2);
        assert_int_equal(s.e[0].str[0].n, strlen("x }\n{ comm: y"));
        assert_int_equal(s.e[0].hitcount, 5);
        assert_int_equal(s.e[1].str[0].n, strlen("}\nTotals:\n"));
        assert_int_equal(t.dropped, 7);

        /* Not ours, or cut short. */
        KhPlan other;
        plan_of(c, 0, 1, &other);
        assert_int_equal(khist_parse(&other, text, strlen(text), collect, &s, &t), -ENOENT);
        assert_int_equal(khist_parse(&p, text, strlen(text) - 20, collect, &s, &t), -EBADMSG);
        /* A damaged entry is skipped and counted. (A damaged entry never
         * comes from the kernel; after one, the parser goes on at the next
         * line, which a comm may hold: too short to forge an entry.) */
        char *bad = counter_hist("nc", "curl");
        char *at = strstr(bad, "hitcount:          3");
        at[0] = 'H';
        memset(&s, 0, sizeof(s));
        assert_int_equal(khist_parse(&p, bad, strlen(bad), collect, &s, &t), 0);
        assert_int_equal(s.n, 1);
        assert_int_equal(t.bad, 1);
        free(bad);
        khist_plan_done(&other);
        khist_plan_done(&p);
        config_free(c);
}

static void test_key_text(void **state) {
        (void) state;
        char b[32];
        KhKey s32 = { .fmt = 's', .bits = 32 }, u16 = { .fmt = 'u', .bits = 16 }, x32 = { .fmt = 'x', .bits = 32 };
        /* The kernel prints an s32 -111 sign-extended to u64. */
        b[khist_key_text(&s32, UINT64_C(18446744073709551505), b)] = 0;
        assert_string_equal(b, "-111");
        b[khist_key_text(&s32, 4294967185u, b)] = 0;
        assert_string_equal(b, "-111");
        b[khist_key_text(&u16, 6400, b)] = 0;
        assert_string_equal(b, "6400");
        b[khist_key_text(&x32, 255, b)] = 0;
        assert_string_equal(b, "0xff");
}

/* The seed's values through the pipeline: the kernel's keys decoded by the
 * same decoders as events. */
static void test_apply(void **state) {
        (void) state;
        Pipeline *pl = fixture_pipeline(connect_config);
        KernelFeatures k = hist_kernel();
        pipeline_plan_kernel(pl, &k, "kpe", "mono");
        assert_true(pl->probes[0].metrics[0].kh.kernel);
        assert_false(pl->probes[0].metrics[5].kh.kernel);
        /* connect must still stream: user_total counts its events. */
        assert_true(pipeline_probe_streams(pl, 0));

        _cleanup_free_ char *text = counter_hist("nc", "curl");
        assert_int_equal(pipeline_apply_hist(pl, 0, 0, text, strlen(text)), 0);
        Family *f = pl->probes[0].metrics[0].family;
        assert_int_equal(family_get(f, (StrView[]){ SV("nc"), SV("127.0.0.1"), SV("25") }), 5);
        assert_int_equal(family_get(f, (StrView[]){ SV("curl"), SV("127.0.0.1"), SV("26") }), 3);
        assert_int_equal(family_refused(f), 7);
        /* Read again (a second scrape), the same counts: totals, not sums of reads. */
        assert_int_equal(pipeline_apply_hist(pl, 0, 0, text, strlen(text)), 0);
        assert_int_equal(family_get(f, (StrView[]){ SV("nc"), SV("127.0.0.1"), SV("25") }), 5);
        assert_int_equal(family_series(f), 2);

        /* An event of the kernel-counted metric is not counted again here. */
        const char *line = "              nc-89      [000] .....     3.021029: connect: (__sys_connect_file+0x0/0x70) "
                           "family=2 port=6400 addr=16777343 comm=\"nc\"";
        pipeline_process_line(pl, line, strlen(line));
        assert_int_equal(family_get(f, (StrView[]){ SV("nc"), SV("127.0.0.1"), SV("25") }), 5);
        assert_int_equal(family_get(pl->probes[0].metrics[5].family, (StrView[]){ SV("25") }), 1);

        /* A latency histogram: ret -111 -> ECONNREFUSED, lat 2^3 us in the
         * bucket le=8e-06 (index 3); sum in seconds. */
        const char *lat = "# event histogram\n#\n"
                          "# trigger info: hist:kpe_connect_seconds:keys=ret,addr,lat.log2:vals=hitcount,lat:sort=hitcount:size=131072 [active]\n#\n\n"
                          "{ ret: 18446744073709551505, addr:   16777343, lat: ~ 2^3  } hitcount:          2  lat:         13\n"
                          "{ ret: 18446744073709551505, addr:   16777343, lat: ~ 2^30 } hitcount:          1  lat: 1000000000\n"
                          "\nTotals:\n    Hits: 3\n    Entries: 2\n    Dropped: 0\n";
        assert_int_equal(pipeline_apply_hist(pl, 1, 1, lat, strlen(lat)), 0);
        Family *h = pl->probes[1].metrics[1].family;
        StrView labels[] = { SV("ECONNREFUSED"), SV("127.0.0.1") };
        assert_int_equal(family_get(h, labels), 3);
        assert_int_equal(family_get_bucket(h, labels, 3), 2);
        assert_int_equal(family_get_bucket(h, labels, 20), 1); /* above 2^19 us: +Inf */
        double sum = family_get_sum(h, labels);
        assert_true(sum > 1000.000012 && sum < 1000.000014);
        pipeline_free(pl);
}

/* events: false and every metric in the kernel: nothing streams. */
static void test_streams(void **state) {
        (void) state;
        Pipeline *pl = fixture_pipeline("probes:\n"
                                        "  - name: connect\n"
                                        "    type: kprobe\n"
                                        "    target: __sys_connect_file\n"
                                        "    events: false\n"
                                        "    fetch: [port=+2($arg2):u16]\n"
                                        "    decode: {port: ntohs}\n"
                                        "    metrics: [{name: connect_total, labels: [port]}]\n");
        KernelFeatures k = hist_kernel();
        pipeline_plan_kernel(pl, &k, "kpe", NULL);
        assert_false(pipeline_probe_streams(pl, 0));
        k.state[FEATURE_HIST_TRIGGERS] = FEATURE_NO;
        pipeline_plan_kernel(pl, &k, "kpe", NULL);
        assert_true(pipeline_probe_streams(pl, 0));
        pipeline_free(pl);
}

/* Real output, captured in the VM matrix (tests/vm/capture-hist.sh) from
 * 5 connects to 127.0.0.1:25 (port 6400 as the kernel reads it), 3 to
 * 127.0.0.1:26 (6656, refused) and 2 to [::1]:25, by busybox nc. */
static char *read_data(const char *flavor, const char *file) {
        char path[512];
        snprintf(path, sizeof(path), "%s/hist/%s/%s", KPE_TEST_DATA, flavor, file);
        Buf b = { 0 };
        if (read_file_at(AT_FDCWD, path, 1u << 20, &b) < 0)
                fail_msg("cannot read %s", path);
        return buf_steal(&b);
}

typedef struct Sums {
        uint64_t entries, hits, sum;
        uint64_t by_num[4][2]; /* (key value of key k, hitcount) of the first entries */
        size_t n;
        size_t key;
        StrView str;
} Sums;

static void add_up(void *userdata, const KhEntry *e) {
        Sums *s = userdata;
        s->entries++;
        s->hits += e->hitcount;
        s->sum += e->sum;
        if (s->n < 4) {
                s->by_num[s->n][0] = e->num[s->key];
                s->by_num[s->n][1] = e->hitcount;
                s->n++;
        }
        if (e->str[0].n)
                s->str = e->str[0];
}

static uint64_t hits_of(const Sums *s, uint64_t key) {
        for (size_t i = 0; i < s->n; i++)
                if (s->by_num[i][0] == key)
                        return s->by_num[i][1];
        return 0;
}

static Sums parse_real(const char *flavor, const char *file, KhPlan *p, size_t key, KhTotals *t) {
        _cleanup_free_ char *text = read_data(flavor, file);
        Sums s = { .key = key };
        int r = khist_parse(p, text, strlen(text), add_up, &s, t);
        if (r != 0)
                fail_msg("%s/%s: khist_parse %d", flavor, file, r);
        if (t->bad != 0 || t->entries != s.entries)
                fail_msg("%s/%s: %" PRIu64 " bad, %" PRIu64 " entries parsed, Totals says %" PRIu64, flavor, file,
                         t->bad, s.entries, t->entries);
        s.str = (StrView){ 0 };
        return s;
}

static KhPlan manual_plan(const char *name, const char *sum) {
        KhPlan p = { .entry_probe = -1, .unit = 1, .n_buckets = 30 };
        p.name = xstrdup(name);
        p.sum = sum ? xstrdup(sum) : NULL;
        return p;
}

static void key(KhPlan *p, const char *name, KhKeyKind kind, char fmt, unsigned bits) {
        p->keys[p->n_keys++] = (KhKey){ xstrdup(name), kind, (int) p->n_keys, fmt, bits };
}

static void test_real_output(void **state) {
        (void) state;
        static const char *const flavors[] = { "debian12-amd64", "debian13-amd64", "debian12-arm64" };
        for (size_t f = 0; f < ELEMENTSOF(flavors); f++) {
                const char *fl = flavors[f];
                KhTotals t;
                KhPlan p = manual_plan("kpe_cap_cnt", NULL);
                key(&p, "comm", KH_KEY_STR, 0, 0);
                key(&p, "addr", KH_KEY_NUM, 'u', 32);
                key(&p, "port", KH_KEY_NUM, 'u', 16);
                Sums s = parse_real(fl, "counter.hist", &p, 2, &t);
                assert_int_equal(s.entries, 2);
                assert_int_equal(hits_of(&s, 6400), 5);
                assert_int_equal(hits_of(&s, 6656), 3);
                assert_int_equal(t.hits, 8);
                assert_int_equal(t.dropped, 0);
                khist_plan_done(&p);

                p = manual_plan("kpe_cap_ret", NULL); /* comm, then the s32 -111 as u64 */
                key(&p, "comm", KH_KEY_STR, 0, 0);
                key(&p, "ret", KH_KEY_NUM, 's', 32);
                s = parse_real(fl, "signed.hist", &p, 1, &t);
                assert_int_equal(s.entries, 1);
                char b[32];
                b[khist_key_text(&p.keys[1], s.by_num[0][0], b)] = 0;
                assert_string_equal(b, "-111");
                assert_int_equal(s.by_num[0][1], 3);
                khist_plan_done(&p);

                p = manual_plan("kpe_cap_log2", "port"); /* 6400 and 6656 are in (2^12, 2^13] */
                key(&p, "port", KH_KEY_LOG2, 'u', 64);
                s = parse_real(fl, "log2.hist", &p, 0, &t);
                assert_int_equal(s.entries, 1);
                assert_int_equal(s.by_num[0][0], 13);
                assert_int_equal(s.hits, 8);
                assert_int_equal(s.sum, 5 * 6400 + 3 * 6656);
                khist_plan_done(&p);

                p = manual_plan("kpe_cap_sum", "addr");
                key(&p, "port", KH_KEY_NUM, 'u', 16);
                s = parse_real(fl, "sum.hist", &p, 0, &t);
                assert_int_equal(s.sum, UINT64_C(8) * 16777343);
                khist_plan_done(&p);

                p = manual_plan("kpe_cap_lath", "lat"); /* the latency, by ret and the entry's addr */
                key(&p, "ret", KH_KEY_NUM, 's', 32);
                key(&p, "addr", KH_KEY_NUM, 'u', 32);
                key(&p, "lat", KH_KEY_LOG2, 'u', 64);
                s = parse_real(fl, "lath.hist", &p, 2, &t);
                assert_int_equal(s.hits, 8);
                assert_true(s.sum > 0);
                khist_plan_done(&p);

                p = manual_plan("kpe_cap_drop", NULL); /* size=128, 300 ports: Dropped counts the rest */
                key(&p, "port", KH_KEY_NUM, 'u', 16);
                s = parse_real(fl, "drop.hist", &p, 0, &t);
                assert_int_equal(s.entries, 128);
                assert_int_equal(t.hits, s.hits);
                assert_true(t.dropped > 0);
                khist_plan_done(&p);

                p = manual_plan("kpe_cap_cpu", NULL); /* every connect of the guest, IPv6 too */
                key(&p, "common_cpu", KH_KEY_NUM, 'u', 32);
                s = parse_real(fl, "cpu.hist", &p, 0, &t);
                assert_int_equal(s.hits, 10);
                khist_plan_done(&p);

                /* The event's whole hist file: each section found by name. */
                p = manual_plan("kpe_cap_sum", "addr");
                key(&p, "port", KH_KEY_NUM, 'u', 16);
                s = parse_real(fl, "event-conn.hist", &p, 0, &t);
                assert_int_equal(s.hits, 8);
                khist_plan_done(&p);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan_counter), cmocka_unit_test(test_plan_size),
                cmocka_unit_test(test_plan_user),
                cmocka_unit_test(test_plan_latency), cmocka_unit_test(test_plan_linear),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_parse),        cmocka_unit_test(test_key_text),
                cmocka_unit_test(test_apply),        cmocka_unit_test(test_streams),
                cmocka_unit_test(test_real_output),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
