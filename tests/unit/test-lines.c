/* LineReader: lines split across reads are reassembled; overlong lines are
 * dropped whole and counted, never truncated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lines.h"

typedef struct Seen {
        char lines[16][128];
        size_t n;
} Seen;

static void collect(void *userdata, const char *line, size_t len) {
        Seen *s = userdata;
        assert_true(s->n < 16);
        assert_true(len < 128);
        memcpy(s->lines[s->n], line, len);
        s->lines[s->n][len] = 0;
        s->n++;
}

static void feed(LineReader *lr, const char *data, Seen *s) {
        size_t n = strlen(data);
        while (n > 0) {
                size_t avail;
                char *p = linereader_space(lr, &avail);
                size_t k = n < avail ? n : avail;
                memcpy(p, data, k);
                linereader_commit(lr, k, collect, s);
                data += k;
                n -= k;
        }
}

static void test_split_across_reads(void **state) {
        LineReader lr;
        Seen s = { 0 };
        linereader_init(&lr, 4096);
        feed(&lr, "nc-89 [000] 3.0: connect: (x) port=64", &s);
        assert_int_equal(s.n, 0);
        feed(&lr, "00 addr=16777343\nsecond", &s);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.lines[0], "nc-89 [000] 3.0: connect: (x) port=6400 addr=16777343");
        feed(&lr, " line\n\nthird\n", &s);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.lines[1], "second line");
        assert_string_equal(s.lines[2], "third");
        assert_int_equal(lr.overlong, 0);
        linereader_done(&lr);
}

static void test_byte_at_a_time(void **state) {
        LineReader lr;
        Seen s = { 0 };
        linereader_init(&lr, 64);
        const char *text = "a=1\nbb=22\nccc=333\n";
        for (const char *p = text; *p; p++) {
                char one[2] = { *p, 0 };
                feed(&lr, one, &s);
        }
        assert_int_equal(s.n, 3);
        assert_string_equal(s.lines[0], "a=1");
        assert_string_equal(s.lines[1], "bb=22");
        assert_string_equal(s.lines[2], "ccc=333");
        linereader_done(&lr);
}

static void test_overlong_dropped_and_counted(void **state) {
        LineReader lr;
        Seen s = { 0 };
        linereader_init(&lr, 16);
        feed(&lr, "short\n", &s);
        /* 40 bytes without a newline in a 16-byte reader, then its end. */
        feed(&lr, "0123456789012345678901234567890123456789", &s);
        feed(&lr, "tail\nafter\n", &s);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.lines[0], "short");
        assert_string_equal(s.lines[1], "after");
        assert_true(lr.overlong >= 1);
        linereader_done(&lr);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_split_across_reads),
                cmocka_unit_test(test_byte_at_a_time),
                cmocka_unit_test(test_overlong_dropped_and_counted),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
