/* The metrics store: counting per label set, limits and rendering. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "series.h"

#include "alloc-count.h"

static const char *const seed_labels[] = { "comm", "addr", "port" };

static void test_add_get(void **state) {
        (void) state;
        Family *f = family_new("mysocket_connects_total", "Connects per address", seed_labels, 3, 0);
        StrView nc[] = { SV("nc"), SV("127.0.0.1"), SV("25") };
        StrView curl[] = { SV("curl"), SV("127.0.0.1"), SV("25") };
        StrView other_port[] = { SV("nc"), SV("127.0.0.1"), SV("6400") };

        assert_string_equal(family_name(f), "mysocket_connects_total");
        assert_int_equal(family_series(f), 0);
        assert_int_equal(family_get(f, nc), 0);

        for (int i = 0; i < 7; i++)
                assert_int_equal(family_add(f, nc, 1), 0);
        assert_int_equal(family_add(f, curl, 5), 0);

        assert_int_equal(family_get(f, nc), 7);
        assert_int_equal(family_get(f, curl), 5);
        assert_int_equal(family_get(f, other_port), 0);
        assert_int_equal(family_series(f), 2);
        assert_int_equal(family_refused(f), 0);

        /* The family copied the values: the caller's storage can change. */
        char comm[] = "nc";
        StrView mine[] = { { comm, 2 }, SV("127.0.0.1"), SV("25") };
        comm[0] = 'x';
        assert_int_equal(family_get(f, nc), 7);
        assert_int_equal(family_add(f, mine, 1), 0); /* "xc", a new series */
        assert_int_equal(family_series(f), 3);
        assert_int_equal(family_get(f, nc), 7);

        family_free(f);
}

/* ("ab","c") and ("a","bc") concatenate the same: they must stay apart. */
static void test_tuple_boundary(void **state) {
        (void) state;
        static const char *const labels[] = { "x", "y" };
        Family *f = family_new("t_total", "t", labels, 2, 0);
        StrView ab_c[] = { SV("ab"), SV("c") };
        StrView a_bc[] = { SV("a"), SV("bc") };
        StrView abc_[] = { SV("abc"), SV("") };
        StrView _abc[] = { SV(""), SV("abc") };

        assert_int_equal(family_add(f, ab_c, 1), 0);
        assert_int_equal(family_add(f, a_bc, 2), 0);
        assert_int_equal(family_add(f, abc_, 4), 0);
        assert_int_equal(family_add(f, _abc, 8), 0);
        assert_int_equal(family_series(f), 4);
        assert_int_equal(family_get(f, ab_c), 1);
        assert_int_equal(family_get(f, a_bc), 2);
        assert_int_equal(family_get(f, abc_), 4);
        assert_int_equal(family_get(f, _abc), 8);
        family_free(f);
}

static void test_max_series(void **state) {
        (void) state;
        Family *f = family_new("mysocket_connects_total", "c", seed_labels, 3, 2);
        StrView a[] = { SV("nc"), SV("127.0.0.1"), SV("25") };
        StrView b[] = { SV("nc"), SV("127.0.0.1"), SV("80") };
        StrView c[] = { SV("nc"), SV("10.0.0.1"), SV("25") };

        assert_int_equal(family_add(f, a, 1), 0);
        assert_int_equal(family_add(f, b, 1), 0);
        assert_int_equal(family_add(f, c, 1), -ENOSPC);
        assert_int_equal(family_add(f, c, 1), -ENOSPC);
        assert_int_equal(family_refused(f), 2);
        assert_int_equal(family_series(f), 2);
        assert_int_equal(family_get(f, c), 0);

        /* Existing series keep counting at the limit. */
        assert_int_equal(family_add(f, a, 10), 0);
        assert_int_equal(family_add(f, b, 1), 0);
        assert_int_equal(family_get(f, a), 11);
        assert_int_equal(family_get(f, b), 2);
        assert_int_equal(family_refused(f), 2);
        family_free(f);
}

static void test_render(void **state) {
        (void) state;
        Family *f = family_new("mysocket_connects_total", "Connects seen by the \"mysocket\" probe\\kprobe",
                               seed_labels, 3, 0);
        StrView nc[] = { SV("nc"), SV("127.0.0.1"), SV("25") };
        StrView weird[] = { SV("a\\b\"c\n"), SV("::1"), SV("\xff") };
        StrView curl[] = { SV("curl"), SV("127.0.0.1"), SV("80") };
        _cleanup_buf_ Buf out = { 0 };

        assert_int_equal(family_add(f, nc, 3), 0);
        assert_int_equal(family_add(f, weird, 1), 0);
        assert_int_equal(family_add(f, curl, 2), 0);
        assert_int_equal(family_add(f, nc, 1), 0);

        family_render(f, &(Expo){ .out = &out });
        assert_string_equal(out.data,
                            "# HELP mysocket_connects_total Connects seen by the \"mysocket\" probe\\\\kprobe\n"
                            "# TYPE mysocket_connects_total counter\n"
                            "mysocket_connects_total{comm=\"nc\",addr=\"127.0.0.1\",port=\"25\"} 4\n"
                            "mysocket_connects_total{comm=\"a\\\\b\\\"c\\n\",addr=\"::1\",port=\"\xef\xbf\xbd\"} 1\n"
                            "mysocket_connects_total{comm=\"curl\",addr=\"127.0.0.1\",port=\"80\"} 2\n");
        family_free(f);
}

static void test_no_labels(void **state) {
        (void) state;
        Family *f = family_new("events_total", "All events", NULL, 0, 1);
        _cleanup_buf_ Buf out = { 0 };

        assert_int_equal(family_add(f, NULL, 2), 0);
        assert_int_equal(family_add(f, NULL, 3), 0);
        assert_int_equal(family_get(f, NULL), 5);
        assert_int_equal(family_series(f), 1);
        family_render(f, &(Expo){ .out = &out });
        assert_string_equal(out.data, "# HELP events_total All events\n"
                                      "# TYPE events_total counter\n"
                                      "events_total 5\n");
        family_free(f);
}

static void test_increment_does_not_allocate(void **state) {
        (void) state;
#ifdef HAVE_ALLOC_HOOKS
        Family *f = family_new("mysocket_connects_total", "c", seed_labels, 3, 0);
        StrView nc[] = { SV("nc"), SV("127.0.0.1"), SV("25") };
        StrView curl[] = { SV("curl"), SV("127.0.0.1"), SV("80") };

        assert_int_equal(family_add(f, nc, 1), 0);
        assert_int_equal(family_add(f, curl, 1), 0);

        assert_int_equal(__sanitizer_install_malloc_and_free_hooks(count_alloc, ignore_free), 1);
        n_allocs = 0;
        for (int i = 0; i < 1000; i++) {
                assert_int_equal(family_add(f, nc, 1), 0);
                assert_int_equal(family_add(f, curl, 2), 0);
        }
        size_t during = n_allocs;
        /* A new series must allocate, or the hook is not counting at all. */
        StrView other[] = { SV("nc"), SV("10.0.0.1"), SV("25") };
        assert_int_equal(family_add(f, other, 1), 0);
        size_t after_new = n_allocs;
        __sanitizer_install_malloc_and_free_hooks(NULL, NULL);

        assert_int_equal(during, 0);
        assert_true(after_new > 0);
        assert_int_equal(family_get(f, nc), 1001);
        assert_int_equal(family_get(f, curl), 2001);
        family_free(f);
#else
        skip();
#endif
}

static void test_many_series(void **state) {
        (void) state;
        enum { N = 100000 };
        Family *f = family_new("mysocket_connects_total", "c", seed_labels, 3, 0);
        char addr[32], port[16];

        for (unsigned i = 0; i < N; i++) {
                snprintf(addr, sizeof(addr), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
                snprintf(port, sizeof(port), "%u", i % 1000);
                StrView v[] = { SV("nc"), sv_from(addr), sv_from(port) };
                assert_int_equal(family_add(f, v, i + 1), 0);
        }
        assert_int_equal(family_series(f), N);

        for (unsigned i = 0; i < N; i++) {
                snprintf(addr, sizeof(addr), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
                snprintf(port, sizeof(port), "%u", i % 1000);
                StrView v[] = { SV("nc"), sv_from(addr), sv_from(port) };
                assert_int_equal(family_get(f, v), i + 1);
                /* The same address with another port was never added. */
                snprintf(port, sizeof(port), "%u", i % 1000 + 1000);
                v[2] = sv_from(port);
                assert_int_equal(family_get(f, v), 0);
        }
        assert_int_equal(family_series(f), N);
        assert_int_equal(family_refused(f), 0);

        /* Render order is creation order. */
        _cleanup_buf_ Buf out = { 0 };
        family_render(f, &(Expo){ .out = &out });
        const char *first = strstr(out.data, "addr=\"10.0.0.0\"");
        const char *last = strstr(out.data, "addr=\"10.1.134.159\""); /* 99999 */
        assert_non_null(first);
        assert_non_null(last);
        assert_true(first < last);
        assert_non_null(strstr(last, "port=\"999\"} 100000\n"));
        family_free(f);
}


/* family_add_series() hands out the series it counted; series_add() counts
 * into it as family_add() with the same values would. */
static void test_add_series(void **state) {
        (void) state;
        Family *f = family_new("mysocket_connects_total", "c", seed_labels, 3, 1);
        StrView nc[] = { SV("nc"), SV("127.0.0.1"), SV("25") };
        StrView curl[] = { SV("curl"), SV("127.0.0.1"), SV("25") };

        Series *s = family_add_series(f, nc, 2);
        assert_non_null(s);
        assert_ptr_equal(family_add_series(f, nc, 1), s);
        series_add(s, 4);
        assert_int_equal(family_get(f, nc), 7);
        /* Full (max_series 1): refused, counted, no series. */
        assert_null(family_add_series(f, curl, 1));
        assert_null(family_add_series(f, curl, 1));
        assert_int_equal(family_refused(f), 2);
        assert_int_equal(family_series(f), 1);
        family_free(f);
}

#define PART(t, s) ((SeriesKeyPart){ (t), SV(s) })

/* Keys are tuples of tagged byte strings: the tag, each part's bounds and
 * every byte tell keys apart; several keys may name one series. */
static void test_cache_keys(void **state) {
        (void) state;
        Family *f = family_new("mysocket_connects_total", "c", seed_labels, 3, 0);
        StrView nc[] = { SV("nc"), SV("127.0.0.1"), SV("25") };
        Series *s = family_add_series(f, nc, 1);
        SeriesCache *c = series_cache_new(16, 256);
        uint64_t h = 0;

        /* The seed as the kernel printed it, and the same label set printed
         * another way (port in hex): two keys, one series. */
        SeriesKeyPart raw[] = { PART('c', "nc"), PART('f', "16777343"), PART('f', "6400") };
        SeriesKeyPart hex[] = { PART('c', "nc"), PART('f', "16777343"), PART('f', "0x1900") };
        assert_null(series_cache_get(c, raw, 3, &h));
        series_cache_put(c, h, raw, 3, s);
        assert_null(series_cache_get(c, hex, 3, &h));
        series_cache_put(c, h, hex, 3, s);
        assert_int_equal(series_cache_size(c), 2);
        assert_ptr_equal(series_cache_get(c, raw, 3, &h), s);
        assert_ptr_equal(series_cache_get(c, hex, 3, &h), s);

        /* Same bytes, other bounds / tag / count of parts: other keys. */
        SeriesKeyPart moved[] = { PART('c', "nc1"), PART('f', "6777343"), PART('f', "6400") };
        SeriesKeyPart tagged[] = { PART('p', "nc"), PART('f', "16777343"), PART('f', "6400") };
        SeriesKeyPart longer[] = { PART('c', "nc"), PART('f', "16777343"), PART('f', "64000") };
        assert_null(series_cache_get(c, moved, 3, &h));
        assert_null(series_cache_get(c, tagged, 3, &h));
        assert_null(series_cache_get(c, longer, 3, &h));
        assert_null(series_cache_get(c, raw, 2, &h));

        /* The values are copied: the caller's line buffer is reused. */
        char line[] = "6400";
        SeriesKeyPart mine[] = { PART('c', "nc"), PART('f', "16777343"), { 'f', { line, 4 } } };
        assert_ptr_equal(series_cache_get(c, mine, 3, &h), s);
        memcpy(line, "6401", 4);
        assert_null(series_cache_get(c, mine, 3, &h));

        series_add(series_cache_get(c, hex, 3, &h), 1);
        assert_int_equal(family_get(f, nc), 2);
        series_cache_free(c);
        assert_null(series_cache_free(NULL));
        family_free(f);
}

/* A cardinality attack: every key new. The cache holds at most its
 * max_entries and starts over when full; a key too long is never held. */
static void test_cache_bound(void **state) {
        (void) state;
        static const char *const labels[] = { "addr" };
        Family *f = family_new("t_total", "t", labels, 1, 0);
        StrView one[] = { SV("10.0.0.1") };
        Series *s = family_add_series(f, one, 1);
        SeriesCache *c = series_cache_new(100, 256);
        char addr[32];
        uint64_t h = 0;

        for (unsigned i = 0; i < 1000; i++) {
                snprintf(addr, sizeof(addr), "10.0.%u.%u", i >> 8, i & 255);
                SeriesKeyPart k[] = { { 'f', sv_from(addr) } };
                assert_null(series_cache_get(c, k, 1, &h));
                series_cache_put(c, h, k, 1, s);
                assert_true(series_cache_size(c) <= 100);
                assert_ptr_equal(series_cache_get(c, k, 1, &h), s);
        }
        /* 1000 keys through 100 entries: it started over 9 times, and
         * holds the last 100 only. */
        assert_int_equal(series_cache_resets(c), 9);
        assert_int_equal(series_cache_size(c), 100);
        SeriesKeyPart first[] = { PART('f', "10.0.0.0") };
        assert_null(series_cache_get(c, first, 1, &h));
        SeriesKeyPart last[] = { PART('f', "10.0.3.231") }; /* 999 */
        assert_ptr_equal(series_cache_get(c, last, 1, &h), s);

        /* A key over the cache's max_key bytes is not stored. */
        char big[256];
        memset(big, 'x', sizeof(big));
        SeriesKeyPart huge[] = { { 'f', { big, sizeof(big) } } };
        assert_int_equal(series_cache_max_key(c), 256);
        assert_true(series_cache_key_size(huge, 1) > series_cache_max_key(c));
        size_t before = series_cache_size(c);
        assert_null(series_cache_get(c, huge, 1, &h));
        series_cache_put(c, h, huge, 1, s);
        assert_int_equal(series_cache_size(c), before);
        assert_null(series_cache_get(c, huge, 1, &h));
        series_cache_free(c);
        family_free(f);
}

/* Long keys (label values cut at a long max_label_bytes): each is held,
 * and the cache's bytes stay within max(64 * entries, 4 * max_key). */
static void test_cache_long_keys(void **state) {
        (void) state;
        static const char *const labels[] = { "path" };
        Family *f = family_new("t_total", "t", labels, 1, 0);
        StrView one[] = { SV("/") };
        Series *s = family_add_series(f, one, 1);
        SeriesCache *c = series_cache_new(64, 1000); /* 4096 bytes of keys */
        char big[995];
        uint64_t h = 0;

        for (unsigned i = 0; i < 5; i++) {
                memset(big, 'a' + (int) i, sizeof(big));
                SeriesKeyPart k[] = { { 'D', { big, sizeof(big) } } };
                assert_int_equal(series_cache_key_size(k, 1), 1000);
                assert_null(series_cache_get(c, k, 1, &h));
                series_cache_put(c, h, k, 1, s);
                assert_ptr_equal(series_cache_get(c, k, 1, &h), s);
        }
        /* Four of 1000 bytes fit in 4096; the fifth started over. */
        assert_int_equal(series_cache_resets(c), 1);
        assert_int_equal(series_cache_size(c), 1);
        series_cache_free(c);
        family_free(f);
}

/* Many keys whose hashes must spread: all found again, none confused. */
static void test_cache_many(void **state) {
        (void) state;
        static const char *const labels[] = { "pid", "port" };
        enum { N = 20000 };
        Family *f = family_new("t_total", "t", labels, 2, 0);
        SeriesCache *c = series_cache_new(N, 256);
        Series **made = calloc(N, sizeof(Series *));
        char pid[16], port[16];
        uint64_t h = 0;

        for (unsigned i = 0; i < N; i++) {
                snprintf(pid, sizeof(pid), "%u", i);
                snprintf(port, sizeof(port), "%u", i % 7);
                StrView v[] = { sv_from(pid), sv_from(port) };
                made[i] = family_add_series(f, v, 1);
                int32_t bin = (int32_t) i;
                SeriesKeyPart k[] = { { 'p', { (const char *) &bin, 4 } }, { 'f', sv_from(port) } };
                assert_null(series_cache_get(c, k, 2, &h));
                series_cache_put(c, h, k, 2, made[i]);
        }
        assert_int_equal(series_cache_resets(c), 0);
        for (unsigned i = 0; i < N; i++) {
                snprintf(port, sizeof(port), "%u", i % 7);
                int32_t bin = (int32_t) i;
                SeriesKeyPart k[] = { { 'p', { (const char *) &bin, 4 } }, { 'f', sv_from(port) } };
                assert_ptr_equal(series_cache_get(c, k, 2, &h), made[i]);
                snprintf(port, sizeof(port), "%u", i % 7 + 7);
                assert_null(series_cache_get(c, k, 2, &h));
        }
        free(made);
        series_cache_free(c);
        family_free(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_add_get),
                cmocka_unit_test(test_tuple_boundary),
                cmocka_unit_test(test_max_series),
                cmocka_unit_test(test_render),
                cmocka_unit_test(test_no_labels),
                cmocka_unit_test(test_increment_does_not_allocate),
                cmocka_unit_test(test_many_series),
                cmocka_unit_test(test_add_series),
                cmocka_unit_test(test_cache_keys),
                cmocka_unit_test(test_cache_bound),
                cmocka_unit_test(test_cache_long_keys),
                cmocka_unit_test(test_cache_many),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
