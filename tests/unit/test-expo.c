/* Prometheus text format helpers: exact output for escaping, samples and
 * doubles. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "expo.h"

static void check_label(StrView in, const char *want) {
        _cleanup_buf_ Buf b = { 0 };
        expo_put_label_value(&b, in);
        assert_non_null(b.data);
        assert_int_equal(b.len, strlen(want));
        assert_memory_equal(b.data, want, b.len);
}

static void test_label_escaping(void **state) {
        (void) state;
        check_label(SV("127.0.0.1"), "127.0.0.1");
        check_label(SV("a\\b\"c\n"), "a\\\\b\\\"c\\n");
        /* Tabs and other bytes pass as is: the format only escapes three. */
        check_label(SV("x\ty"), "x\ty");
        /* Valid multi-byte UTF-8 passes. */
        check_label(SV("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void test_label_invalid_utf8(void **state) {
        (void) state;
        /* A lone continuation byte and a byte that can never start UTF-8. */
        check_label(SV("a\x80z"), "a\xef\xbf\xbdz");
        check_label(SV("\xff"), "\xef\xbf\xbd");
        /* Overlong encodings of '/' and NUL. */
        check_label(SV("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");
        check_label(SV("\xe0\x80\xaf"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        /* A UTF-16 surrogate (U+D800) encoded in UTF-8. */
        check_label(SV("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        /* Above U+10FFFF. */
        check_label(SV("\xf4\x90\x80\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        /* A truncated euro sign, followed by a quote that must still be
         * escaped: the broken prefix becomes one U+FFFD. */
        check_label(SV("\xe2\x82\""), "\xef\xbf\xbd\\\"");
        /* Truncated at the very end of the value. */
        check_label(SV("ok\xf0\x9f\x98"), "ok\xef\xbf\xbd");
}

static void test_help_escaping(void **state) {
        (void) state;
        _cleanup_buf_ Buf b = { 0 };
        expo_put_help(&(Expo){ .out = &b }, SV("Connects \"per\" port\\addr\nsecond line"));
        /* Quotes are not escaped in HELP, only backslash and newline. */
        assert_string_equal(b.data, "Connects \"per\" port\\\\addr\\nsecond line");
}

static void test_header(void **state) {
        (void) state;
        _cleanup_buf_ Buf b = { 0 };
        expo_put_header(&(Expo){ .out = &b }, "mysocket_connects_total", "counter", "Connects by a\\b");
        assert_string_equal(b.data, "# HELP mysocket_connects_total Connects by a\\\\b\n"
                                    "# TYPE mysocket_connects_total counter\n");
        buf_clear(&b);
        expo_put_header(&(Expo){ .out = &b }, "up", "gauge", NULL);
        assert_string_equal(b.data, "# TYPE up gauge\n");
}

static void test_sample_u64(void **state) {
        (void) state;
        static const char *const labels[] = { "comm", "addr", "port" };
        StrView values[] = { SV("nc"), SV("127.0.0.1"), SV("25") };
        _cleanup_buf_ Buf b = { 0 };

        expo_put_sample_u64(&(Expo){ .out = &b }, "mysocket_connects_total", labels, values, 3, 3);
        assert_string_equal(b.data, "mysocket_connects_total{comm=\"nc\",addr=\"127.0.0.1\",port=\"25\"} 3\n");

        buf_clear(&b);
        expo_put_sample_u64(&(Expo){ .out = &b }, "lost_total", NULL, NULL, 0, UINT64_MAX);
        assert_string_equal(b.data, "lost_total 18446744073709551615\n");

        buf_clear(&b);
        StrView odd[] = { SV("a\"b"), SV(""), SV("\n") };
        expo_put_sample_u64(&(Expo){ .out = &b }, "m", labels, odd, 3, 0);
        assert_string_equal(b.data, "m{comm=\"a\\\"b\",addr=\"\",port=\"\\n\"} 0\n");
}

static void check_double(double v, const char *want) {
        static const char *const labels[] = { "le" };
        StrView values[] = { SV("+Inf") };
        _cleanup_buf_ Buf b = { 0 }, w = { 0 };

        expo_put_sample_double(&(Expo){ .out = &b }, "x", NULL, NULL, 0, v);
        buf_printf(&w, "x %s\n", want);
        assert_string_equal(b.data, w.data);

        buf_clear(&b);
        buf_clear(&w);
        expo_put_sample_double(&(Expo){ .out = &b }, "x", labels, values, 1, v);
        buf_printf(&w, "x{le=\"+Inf\"} %s\n", want);
        assert_string_equal(b.data, w.data);
}

static void test_sample_double(void **state) {
        (void) state;
        check_double(0.0, "0");
        check_double(1.0, "1");
        check_double(-2.5, "-2.5");
        check_double(0.1, "0.1");
        check_double(1e300, "1e+300");
        check_double(1234567.125, "1234567.125");
        check_double(NAN, "NaN");
        check_double(INFINITY, "+Inf");
        check_double(-INFINITY, "-Inf");
        /* Needs all 17 digits to read back the same. */
        check_double(0.1 + 0.2, "0.30000000000000004");
        /* 2^53 + 2 is exact in a double but not in 15 significant digits. */
        check_double(9007199254740994.0, "9007199254740994");
}

/* Every double printed must read back to the same double. */
static void test_double_round_trip(void **state) {
        (void) state;
        uint64_t x = 0x9e3779b97f4a7c15ULL;
        for (int i = 0; i < 10000; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                double v;
                memcpy(&v, &x, sizeof(v));
                if (!isfinite(v))
                        continue;
                _cleanup_buf_ Buf b = { 0 };
                expo_put_sample_double(&(Expo){ .out = &b }, "x", NULL, NULL, 0, v);
                assert_true(b.len > 3);
                assert_int_equal(b.data[b.len - 1], '\n');
                b.data[b.len - 1] = 0;
                char *end;
                double back = strtod(b.data + 2, &end);
                assert_int_equal(*end, 0);
                assert_memory_equal(&back, &v, sizeof(v));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_label_escaping),
                cmocka_unit_test(test_label_invalid_utf8),
                cmocka_unit_test(test_help_escaping),
                cmocka_unit_test(test_header),
                cmocka_unit_test(test_sample_u64),
                cmocka_unit_test(test_sample_double),
                cmocka_unit_test(test_double_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
