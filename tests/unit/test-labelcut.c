/* Label values within max_label_bytes: the cut itself (UTF-8 boundaries,
 * the marker, what it depends on), and through the whole pipeline: a long
 * string a traced process passes becomes one bounded series, cut once per
 * new raw tuple and counted, with bounded raw-tuple keys. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "labelcut.h"
#include "pipeline.h"
#include "pipeline-fixture.h"

#define MARKER LABEL_CUT_MARKER

/* n copies of c, then tail. The caller frees it. */
static char *repeat(char c, size_t n, const char *tail) {
        size_t t = strlen(tail);
        char *s = malloc(n + t + 1);
        assert_non_null(s);
        memset(s, c, n);
        memcpy(s + n, tail, t + 1);
        return s;
}

static void assert_sv_equal(StrView v, const char *want) {
        if (v.n != strlen(want) || memcmp(v.p, want, v.n) != 0)
                fail_msg("got \"%.*s\" (%zu bytes), want \"%s\" (%zu bytes)", (int) v.n, v.p, v.n, want, strlen(want));
}

static void test_cut_ascii(void **state) {
        (void) state;
        Buf out = { 0 };
        bool cut;

        /* 300 bytes -> 253 of them and the 3-byte marker: 256. */
        char *v300 = repeat('a', 300, "");
        char *want = repeat('a', 253, MARKER);
        StrView r = label_cut(sv_from(v300), 256, &out, &cut);
        assert_true(cut);
        assert_int_equal(r.n, 256);
        assert_sv_equal(r, want);
        assert_true(utf8_is_valid(r));

        /* Exactly 256: the value itself, not copied. */
        StrView v256 = { v300, 256 };
        r = label_cut(v256, 256, &out, &cut);
        assert_false(cut);
        assert_ptr_equal(r.p, v300);
        assert_int_equal(r.n, 256);

        /* 257: cut. */
        r = label_cut((StrView){ v300, 257 }, 256, &out, &cut);
        assert_true(cut);
        assert_sv_equal(r, want);

        /* The smallest bound: 13 bytes and the marker. */
        r = label_cut(sv_from(v300), 16, &out, &cut);
        assert_true(cut);
        assert_sv_equal(r, "aaaaaaaaaaaaa" MARKER);

        /* Short and empty values pass. */
        r = label_cut(SV("nc"), 16, &out, &cut);
        assert_false(cut);
        assert_sv_equal(r, "nc");
        r = label_cut(SV(""), 16, &out, &cut);
        assert_false(cut);
        assert_int_equal(r.n, 0);

        free(v300);
        free(want);
        buf_free(&out);
}

/* A character that would straddle the room before the marker goes whole. */
static void test_cut_multibyte_boundary(void **state) {
        (void) state;
        Buf out = { 0 };
        bool cut;
        static const struct {
                size_t n_a;
                const char *ch; /* after n_a 'a's, then more 'b's */
                size_t kept;    /* bytes before the marker */
        } cases[] = {
                { 252, "\xc3\xa9", 252 },         /* é at 252..253: past 253, dropped */
                { 251, "\xc3\xa9", 253 },         /* é at 251..252: fits exactly */
                { 251, "\xe2\x82\xac", 251 },     /* € at 251..253 */
                { 250, "\xe2\x82\xac", 253 },     /* € at 250..252 */
                { 250, "\xf0\x9f\x90\xa7", 250 }, /* 🐧 at 250..253 */
                { 249, "\xf0\x9f\x90\xa7", 253 }, /* 🐧 at 249..252 */
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char tail[64];
                snprintf(tail, sizeof(tail), "%s%s", cases[i].ch, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
                char *v = repeat('a', cases[i].n_a, tail);
                StrView r = label_cut(sv_from(v), 256, &out, &cut);
                assert_true(cut);
                assert_true(utf8_is_valid(r));
                assert_int_equal(r.n, cases[i].kept + LABEL_CUT_MARKER_LEN);
                assert_memory_equal(r.p, v, cases[i].kept);
                assert_memory_equal(r.p + cases[i].kept, MARKER, LABEL_CUT_MARKER_LEN);
                free(v);
        }
        buf_free(&out);
}

/* Bytes that are not UTF-8 become U+FFFD (3 bytes) first; the bound is on
 * what is shown, so a value under max can still be cut. */
static void test_cut_invalid_utf8(void **state) {
        (void) state;
        Buf out = { 0 };
        bool cut;

        StrView r = label_cut(SV("a\xff" "b"), 16, &out, &cut);
        assert_false(cut);
        assert_sv_equal(r, "a\xef\xbf\xbd" "b");

        /* 250 'a' and 10 stray bytes: 280 shown bytes, cut after the first
         * U+FFFD (250 + 3 = 253). */
        char *v = repeat('a', 250, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff");
        char *want = repeat('a', 250, "\xef\xbf\xbd" MARKER);
        r = label_cut(sv_from(v), 256, &out, &cut);
        assert_true(cut);
        assert_sv_equal(r, want);
        free(v);
        free(want);

        /* 10 stray bytes under a bound of 16: 30 shown bytes; 4 U+FFFD fit. */
        r = label_cut(SV("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), 16, &out, &cut);
        assert_true(cut);
        assert_sv_equal(r, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" MARKER);

        /* A character cut off by the end of the value is one U+FFFD. */
        r = label_cut(SV("abc\xe2\x82"), 16, &out, &cut);
        assert_false(cut);
        assert_sv_equal(r, "abc\xef\xbf\xbd");
        buf_free(&out);
}

static uint64_t rnd_state = 88172645463325252u;
static uint64_t rnd(void) {
        rnd_state ^= rnd_state << 13;
        rnd_state ^= rnd_state >> 7;
        rnd_state ^= rnd_state << 17;
        return rnd_state;
}

/* What the raw-tuple cache relies on: a value longer than max cuts to the
 * same as any other value longer than max with the same first max bytes
 * (label_cut_key()); and every result is valid UTF-8 of at most max bytes. */
static void test_cut_depends_on_prefix(void **state) {
        (void) state;
        static const unsigned char alphabet[] = { 'a', '"', '\\', '\n', 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f,
                                                  0x90, 0xa7, 0xff, 0x80, 0xed, 0xa0 };
        Buf a = { 0 }, b = { 0 };
        unsigned char x[400], y[400];

        for (int round = 0; round < 20000; round++) {
                size_t max = 16 + rnd() % 80;
                size_t nx = max + 1 + rnd() % 100, ny = max + 1 + rnd() % 100;
                for (size_t i = 0; i < sizeof(x); i++) {
                        x[i] = alphabet[rnd() % sizeof(alphabet)];
                        y[i] = alphabet[rnd() % sizeof(alphabet)];
                }
                memcpy(y, x, max);
                bool cx, cy, lx, ly;
                StrView kx = label_cut_key((StrView){ (char *) x, nx }, max, &lx);
                StrView ky = label_cut_key((StrView){ (char *) y, ny }, max, &ly);
                assert_true(lx && ly && sv_eq(kx, ky));
                StrView rx = label_cut((StrView){ (char *) x, nx }, max, &a, &cx);
                StrView ry = label_cut((StrView){ (char *) y, ny }, max, &b, &cy);
                assert_true(cx && cy);
                assert_true(sv_eq(rx, ry));
                assert_true(rx.n <= max && rx.n > max - LABEL_CUT_MARKER_LEN - 4);
                assert_true(utf8_is_valid(rx));

                /* Any value: valid, bounded, unchanged when it was both. */
                size_t n = rnd() % 120;
                StrView r = label_cut((StrView){ (char *) x, n }, max, &a, &cx);
                assert_true(utf8_is_valid(r) && r.n <= max);
                if (n <= max && utf8_is_valid((StrView){ (char *) x, n }))
                        assert_true(!cx && r.p == (char *) x && r.n == n);
        }
        buf_free(&a);
        buf_free(&b);
}

/* An opener: a uprobe fetching the path a process passes, its uretprobe,
 * and exec tracepoints (a bare string field). */
#define OPEN_PROBES \
        "max_label_bytes: 256\n" \
        "probes:\n" \
        "  - name: open\n" \
        "    type: uprobe\n" \
        "    target: /usr/bin/opener:0x1139\n" \
        "    fetch: ['path=+0(%di):ustring', flags=%si:x32]\n" \
        "    metrics:\n" \
        "      - name: opens_total\n" \
        "        labels: [path, flags]\n" \
        "      - name: opens_short_total\n" \
        "        max_label_bytes: 32\n" \
        "        labels: [path]\n" \
        "  - name: open_ret\n" \
        "    type: uretprobe\n" \
        "    target: /usr/bin/opener:0x1139\n" \
        "    fetch: [ret=$retval:s32]\n" \
        "    metrics:\n" \
        "      - name: open_seconds\n" \
        "        type: histogram\n" \
        "        latency_from: open\n" \
        "        buckets: [0.001, 1]\n" \
        "        labels: [path, ret]\n" \
        "  - name: exec\n" \
        "    type: tracepoint\n" \
        "    target: sched/sched_process_exec\n" \
        "    metrics:\n" \
        "      - name: execs_total\n" \
        "        labels: [comm, filename]\n"

static Pipeline *make(const char *text) {
        return fixture_pipeline(text);
}

static MetricPlan *metric(Pipeline *p, const char *name) {
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++)
                        if (strcmp(p->probes[i].metrics[m].config->name, name) == 0)
                                return &p->probes[i].metrics[m];
        fail_msg("no metric %s", name);
        return NULL;
}

/* The opener's event for this path, as trace_pipe prints it (tid 4242,
 * time 972.294794 + usec). */
static void open_event(Pipeline *p, const char *path, unsigned usec) {
        Buf line = { 0 };
        buf_printf(&line, "          opener-4242    (   4242) [001]   972.%06u: open: (0x559f95304139) path=\"%s\" flags=0x80000",
                   294794 + usec, path);
        uint64_t errors = p->parse_errors;
        assert_non_null(pipeline_process_line(p, line.data, line.len));
        assert_int_equal(p->parse_errors, errors);
        buf_free(&line);
}

static void open_ret_event(Pipeline *p, unsigned usec) {
        char line[256];
        int n = snprintf(line, sizeof(line),
                         "          opener-4242    (   4242) [001]   972.%06u: open_ret: (0x559f95304139 <- 0x559f95304321) ret=-2",
                         294794 + usec);
        assert_non_null(pipeline_process_line(p, line, (size_t) n));
}

static char *render(Pipeline *p, ExpoFormat format, Buf *out) {
        buf_clear(out);
        Expo e = { .out = out, .format = format };
        pipeline_render_metrics(p, &e);
        expo_end(&e);
        return out->data;
}

/* The brief's case: a 300-byte path, three times: one series, its value
 * 253 bytes and the marker, counted 3, cut once; the metric with its own
 * bound of 32 holds 29 bytes and the marker. */
static void test_pipeline_long_string(void **state) {
        (void) state;
        Pipeline *p = make(OPEN_PROBES);
        char *path300 = repeat('x', 300, "");
        memcpy(path300, "/tmp/", 5);

        for (unsigned i = 0; i < 3; i++)
                open_event(p, path300, i);

        MetricPlan *m = metric(p, "opens_total");
        char *cut = repeat('x', 253, MARKER);
        memcpy(cut, "/tmp/", 5);
        StrView want[] = { { cut, 256 }, SV("0x80000") };
        assert_int_equal(family_get(m->family, want), 3);
        assert_int_equal(family_series(m->family), 1);
        assert_int_equal(m->labels_cut, 1);
        assert_int_equal(m->max_label_bytes, 256);
        /* The raw tuple is held by what decides its label: at most 256
         * bytes per part, not the 302 the kernel printed. */
        assert_int_equal(series_cache_size(m->cache), 1);
        assert_int_equal(series_cache_max_key(m->cache), 2 * (5 + 256));

        MetricPlan *s = metric(p, "opens_short_total");
        assert_int_equal(s->max_label_bytes, 32);
        StrView want_short[] = { SV("/tmp/xxxxxxxxxxxxxxxxxxxxxxxx" MARKER) };
        assert_int_equal(family_get(s->family, want_short), 3);
        assert_int_equal(s->labels_cut, 1);

        Buf out = { 0 };
        Buf line = { 0 };
        const char *text = render(p, EXPO_TEXT, &out);
        buf_printf(&line, "opens_total{path=\"%s\",flags=\"0x80000\"} 3\n", cut);
        assert_non_null(strstr(text, line.data));
        assert_non_null(strstr(text, "opens_short_total{path=\"/tmp/xxxxxxxxxxxxxxxxxxxxxxxx" MARKER "\"} 3\n"));
        assert_non_null(strstr(text, "# TYPE kprobe_exporter_label_values_cut_total counter\n"));
        assert_non_null(strstr(text, "kprobe_exporter_label_values_cut_total{metric=\"opens_total\"} 1\n"));
        assert_non_null(strstr(text, "kprobe_exporter_label_values_cut_total{metric=\"opens_short_total\"} 1\n"));
        assert_non_null(strstr(text, "kprobe_exporter_label_values_cut_total{metric=\"execs_total\"} 0\n"));
        text = render(p, EXPO_OPENMETRICS, &out);
        buf_clear(&line);
        buf_printf(&line, "\nopens_total{path=\"%s\",flags=\"0x80000\"} 3", cut);
        assert_non_null(strstr(text, line.data));
        assert_non_null(strstr(text, "kprobe_exporter_label_values_cut_total{metric=\"opens_total\"} 1\n"));

        /* /events keeps the whole value. */
        Buf ev = { 0 };
        assert_int_equal(pipeline_render_events(p, &(EventQuery){ .limit = 1 }, &ev), 0);
        assert_non_null(strstr(ev.data, path300));

        buf_free(&ev);
        buf_free(&line);
        buf_free(&out);
        free(cut);
        free(path300);
        pipeline_free(p);
}

/* Exactly 256 bytes is not cut; 257 is. The kernel prints the string
 * quoted: 258 raw bytes, held by the decoded 256. */
static void test_pipeline_exact_bound(void **state) {
        (void) state;
        Pipeline *p = make(OPEN_PROBES);
        MetricPlan *m = metric(p, "opens_total");
        char *v256 = repeat('y', 256, "");
        char *v257 = repeat('y', 257, "");
        char *cut = repeat('y', 253, MARKER);

        open_event(p, v256, 0);
        open_event(p, v256, 1);
        StrView whole[] = { { v256, 256 }, SV("0x80000") };
        assert_int_equal(family_get(m->family, whole), 2);
        assert_int_equal(m->labels_cut, 0);

        open_event(p, v257, 2);
        StrView cut_v[] = { sv_from(cut), SV("0x80000") };
        assert_int_equal(family_get(m->family, cut_v), 1);
        assert_int_equal(family_get(m->family, whole), 2);
        assert_int_equal(m->labels_cut, 1);
        assert_int_equal(family_series(m->family), 2);

        free(v256);
        free(v257);
        free(cut);
        pipeline_free(p);
}

/* Two long values that share their first bytes are one (cut) series: that
 * bounds memory, and is what max_label_bytes means. Values that differ
 * before the cut stay apart. */
static void test_pipeline_shared_prefix(void **state) {
        (void) state;
        Pipeline *p = make(OPEN_PROBES);
        MetricPlan *m = metric(p, "opens_total");
        char *a = repeat('z', 400, "");
        char *b = repeat('z', 300, "-other-tail");
        char *c = repeat('z', 400, "");
        c[100] = 'Q';

        open_event(p, a, 0);
        open_event(p, b, 1);
        assert_int_equal(family_series(m->family), 1);
        /* Both raw values are held by the same 256 bytes: one key, one cut. */
        assert_int_equal(series_cache_size(m->cache), 1);
        assert_int_equal(m->labels_cut, 1);

        open_event(p, c, 2);
        assert_int_equal(family_series(m->family), 2);
        assert_int_equal(m->labels_cut, 2);
        char *cut = repeat('z', 253, MARKER);
        StrView v[] = { sv_from(cut), SV("0x80000") };
        assert_int_equal(family_get(m->family, v), 2);

        free(a);
        free(b);
        free(c);
        free(cut);
        pipeline_free(p);
}

/* A multi-byte character across the boundary goes whole; stray bytes
 * become U+FFFD before the bound applies. */
static void test_pipeline_utf8_boundary(void **state) {
        (void) state;
        Pipeline *p = make(OPEN_PROBES);
        MetricPlan *m = metric(p, "opens_total");

        char *v = repeat('a', 252, "\xc3\xa9" "bbbbbbbbbb"); /* é at bytes 252..253 */
        open_event(p, v, 0);
        char *want = repeat('a', 252, MARKER);
        StrView w[] = { sv_from(want), SV("0x80000") };
        assert_int_equal(family_get(m->family, w), 1);
        free(v);
        free(want);

        v = repeat('a', 250, "\xff\xfe\xfd\xfc\xfb"); /* 255 raw bytes, 265 shown */
        open_event(p, v, 1);
        want = repeat('a', 250, "\xef\xbf\xbd" MARKER);
        StrView w2[] = { sv_from(want), SV("0x80000") };
        assert_int_equal(family_get(m->family, w2), 1);
        assert_int_equal(m->labels_cut, 2);
        free(v);
        free(want);

        Buf out = { 0 };
        const char *text = render(p, EXPO_TEXT, &out);
        assert_true(utf8_is_valid(sv_from(text)));
        buf_free(&out);
        pipeline_free(p);
}

/* The cut happens once per new raw tuple: a flood of one long value is
 * counted from its key, never cut again. The binary reader's path, a
 * tracepoint's bare string and a comm. */
static void test_pipeline_record_flood(void **state) {
        (void) state;
        Pipeline *p = make(OPEN_PROBES);
        MetricPlan *m = metric(p, "execs_total");
        char *filename = repeat('f', 1000, "");
        const StrView names[] = { SV("filename"), SV("pid"), SV("old_pid") };
        const StrView values[] = { sv_from(filename), SV("77"), SV("77") };
        Record rec = {
                .probe = 2,
                .comm = SV("a-comm-name-15b"),
                .pid = 77,
                .tgid = 77,
                .cpu = 0,
                .timestamp = SV("20.000000"),
                .ts_ns = 20000000000,
                .names = names,
                .values = values,
                .n_fields = 3,
        };
        for (int i = 0; i < 1000; i++)
                assert_non_null(pipeline_process_record(p, &rec));
        char *cut = repeat('f', 253, MARKER);
        StrView want[] = { SV("a-comm-name-15b"), sv_from(cut) };
        assert_int_equal(family_get(m->family, want), 1000);
        assert_int_equal(m->labels_cut, 1);
        assert_int_equal(series_cache_size(m->cache), 1);
        free(cut);
        free(filename);
        pipeline_free(p);
}

/* A latency metric's label from the entry event: the entry's saved raw
 * value is keyed and cut the same way. */
static void test_pipeline_entry_value(void **state) {
        (void) state;
        Pipeline *p = make(OPEN_PROBES);
        MetricPlan *m = metric(p, "open_seconds");
        char *path = repeat('p', 600, "");

        for (unsigned i = 0; i < 3; i++) {
                open_event(p, path, 10 * i);
                open_ret_event(p, 10 * i + 5);
        }
        char *cut = repeat('p', 253, MARKER);
        StrView want[] = { sv_from(cut), SV("-2") };
        assert_int_equal(family_get(m->family, want), 3);
        assert_int_equal(m->labels_cut, 1);
        assert_int_equal(m->no_entry, 0);
        free(cut);
        free(path);
        pipeline_free(p);
}

/* A reload keeps the count with the metric's counters; a new bound cuts
 * new events at the new length (the old series stays, as it was). */
static void test_reload(void **state) {
        (void) state;
        Pipeline *prev = make(OPEN_PROBES);
        char *path = repeat('r', 300, "");
        open_event(prev, path, 0);
        assert_int_equal(metric(prev, "opens_total")->labels_cut, 1);

        Pipeline *next = make(OPEN_PROBES);
        const bool live[] = { true, true, true };
        ReloadPlan plan;
        reload_plan_compute(prev->config, live, next->config, &plan);
        pipeline_adopt(next, prev, &plan);
        reload_plan_done(&plan);
        pipeline_free(prev);
        open_event(next, path, 1);
        MetricPlan *m = metric(next, "opens_total");
        assert_int_equal(m->labels_cut, 2); /* the new pipeline's cache starts empty: cut again */
        assert_int_equal(family_series(m->family), 1);

        char *text = strdup(OPEN_PROBES);
        char *at = strstr(text, "max_label_bytes: 256");
        memcpy(at, "max_label_bytes: 128", 20);
        Pipeline *third = make(text);
        reload_plan_compute(next->config, live, third->config, &plan);
        pipeline_adopt(third, next, &plan);
        reload_plan_done(&plan);
        pipeline_free(next);
        open_event(third, path, 2);
        m = metric(third, "opens_total");
        assert_int_equal(m->max_label_bytes, 128);
        assert_int_equal(m->labels_cut, 3);
        assert_int_equal(family_series(m->family), 2);
        char *old_cut = repeat('r', 253, MARKER), *new_cut = repeat('r', 125, MARKER);
        StrView old_v[] = { sv_from(old_cut), SV("0x80000") }, new_v[] = { sv_from(new_cut), SV("0x80000") };
        assert_int_equal(family_get(m->family, old_v), 2);
        assert_int_equal(family_get(m->family, new_v), 1);
        /* The metric with its own bound keeps it. */
        assert_int_equal(metric(third, "opens_short_total")->max_label_bytes, 32);

        free(old_cut);
        free(new_cut);
        free(text);
        free(path);
        pipeline_free(third);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cut_ascii),
                cmocka_unit_test(test_cut_multibyte_boundary),
                cmocka_unit_test(test_cut_invalid_utf8),
                cmocka_unit_test(test_cut_depends_on_prefix),
                cmocka_unit_test(test_pipeline_long_string),
                cmocka_unit_test(test_pipeline_exact_bound),
                cmocka_unit_test(test_pipeline_shared_prefix),
                cmocka_unit_test(test_pipeline_utf8_boundary),
                cmocka_unit_test(test_pipeline_record_flood),
                cmocka_unit_test(test_pipeline_entry_value),
                cmocka_unit_test(test_reload),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
