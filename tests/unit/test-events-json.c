/* JSON for the events API. Every output is parsed back with jansson, which
 * rejects invalid UTF-8 and malformed escapes. */
#ifndef _GNU_SOURCE
/* _GNU_SOURCE (meson) for memmem() */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "events_json.h"

static const char *const probe_names[] = { "mysocket_event", "tcp_state" };

static void assert_sv_equal_str(StrView v, const char *want) {
        assert_int_equal(v.n, strlen(want));
        assert_memory_equal(v.p, want, v.n);
}

static json_t *load(const char *text, size_t len) {
        json_error_t err;
        json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!j)
                fail_msg("invalid JSON (%s at %d): %.*s", err.text, err.position, (int) len, text);
        return j;
}

static int64_t int_member(const json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        if (!json_is_integer(v))
                fail_msg("member %s is not an integer", key);
        return (int64_t) json_integer_value(v);
}

static const char *str_member(const json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        if (!json_is_string(v))
                fail_msg("member %s is not a string", key);
        return json_string_value(v);
}

/* The seed's event after decoding: port 6400 -> 25, addr 16777343 -> 127.0.0.1. */
static const StrView seed_names[] = { SV("type"), SV("port"), SV("addr") };
static const StrView seed_values[] = { SV("AF_INET"), SV("25"), SV("127.0.0.1") };

static uint64_t push(Ring *r, uint32_t probe, int32_t pid) {
        RingEventView ev = {
                .probe = probe,
                .comm = SV("nc"),
                .pid = pid,
                .tgid = pid,
                .cpu = 1,
                .timestamp = SV("3.021029"),
                .names = seed_names,
                .values = seed_values,
                .n_fields = 3,
        };
        return ring_push(r, &ev);
}

static json_t *page(const Ring *r, const char *probe, bool has_since, uint64_t since, size_t limit) {
        EventQuery q = { .probe = probe, .has_since = has_since, .since = since, .limit = limit };
        _cleanup_buf_ Buf out = { 0 };
        events_render_page(r, &q, probe_names, ELEMENTSOF(probe_names), &out);
        json_t *j = load(out.data, out.len);
        assert_true(json_is_object(j));
        assert_true(json_is_array(json_object_get(j, "events")));
        /* "reset" only for a since beyond the newest event. */
        bool reset = has_since && since >= ring_next_seq(r);
        assert_int_equal(json_object_size(j), reset ? 4 : 3);
        if (reset)
                assert_true(json_is_true(json_object_get(j, "reset")));
        return j;
}

static size_t n_events(const json_t *page_json) {
        return json_array_size(json_object_get(page_json, "events"));
}

static int64_t event_seq(const json_t *page_json, size_t i) {
        return int_member(json_array_get(json_object_get(page_json, "events"), i), "seq");
}

/* Asserts the page holds exactly seqs first..last (step) and next/missed. */
static void check_page(json_t *j, int64_t first, int64_t last, int64_t step, int64_t next, int64_t missed) {
        size_t want = first > last ? 0 : (size_t) ((last - first) / step + 1);
        assert_int_equal(n_events(j), want);
        for (size_t i = 0; i < want; i++)
                assert_int_equal(event_seq(j, i), first + (int64_t) i * step);
        assert_int_equal(int_member(j, "next"), next);
        assert_int_equal(int_member(j, "missed"), missed);
        json_decref(j);
}

static void check_string(StrView in, const char *want_json) {
        _cleanup_buf_ Buf b = { 0 };
        json_put_string(&b, in);
        assert_string_equal(b.data, want_json);
        json_t *j = load(b.data, b.len);
        assert_true(json_is_string(j));
        json_decref(j);
}

static void test_put_string_escapes(void **state) {
        (void) state;
        check_string(SV("nc"), "\"nc\"");
        check_string(SV(""), "\"\"");
        check_string(SV("a\\b\"c\n"), "\"a\\\\b\\\"c\\n\"");
        check_string(SV("\t\r\b\f"), "\"\\t\\r\\b\\f\"");
        check_string(SV("\x01\x1f\x7f/"), "\"\\u0001\\u001f\x7f/\"");
        check_string((StrView){ "a\0b", 3 }, "\"a\\u0000b\"");
        /* Valid multi-byte UTF-8 passes as is. */
        check_string(SV("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"),
                     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"");
}

static void test_put_string_invalid_utf8(void **state) {
        (void) state;
#define R "\xef\xbf\xbd"
        check_string(SV("\x80"), "\"" R "\"");
        check_string(SV("\xff\xfe"), "\"" R R "\"");
        check_string(SV("\xf5\x80\x80\x80"), "\"" R R R R "\"");
        check_string(SV("\xc0\xaf"), "\"" R R "\"");             /* overlong '/' */
        check_string(SV("\xc1\xbf"), "\"" R R "\"");             /* overlong */
        check_string(SV("\xe0\x9f\xbf"), "\"" R R R "\"");       /* overlong 3-byte */
        check_string(SV("\xf0\x8f\xbf\xbf"), "\"" R R R R "\""); /* overlong 4-byte */
        check_string(SV("\xed\xa0\x80"), "\"" R R R "\"");       /* surrogate U+D800 */
        check_string(SV("\xed\xbf\xbf"), "\"" R R R "\"");       /* surrogate U+DFFF */
        check_string(SV("\xf4\x90\x80\x80"), "\"" R R R R "\""); /* U+110000 */
        /* Truncated sequences: the valid prefix counts as one. */
        check_string(SV("\xe2\x82"), "\"" R "\"");
        check_string(SV("\xf0\x9f\x98\""), "\"" R "\\\"\"");
        check_string(SV("x\xc3"), "\"x" R "\"");
        check_string(SV("\xc3\n"), "\"" R "\\n\"");
#undef R
}

static uint64_t xorshift(uint64_t *x) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        return *x;
}

/* Random byte strings: always valid JSON; when the input is valid UTF-8
 * (jansson's own json_stringn() decides) it reads back unchanged, else
 * with at least one U+FFFD. */
static void test_put_string_random(void **state) {
        (void) state;
        /* Tokens: ASCII that needs escaping or not, valid sequences at the
         * edges of the ranges, then bytes that break UTF-8 when out of place. */
        static const char *const valid[] = { "\x00", "\x01", "\x08", "\n", "\x1f", "\"", "\\", "a", "\x7f", " ",
                                             "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
                                             "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
                                             "\xf4\x8f\xbf\xbf" };
        static const unsigned char broken[] = { 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff };
        uint64_t x = 0x2545f4914f6cdd1dULL;
        unsigned char in[128];
        size_t n_valid = 0;

        for (int iter = 0; iter < 20000; iter++) {
                size_t n = 0, tokens = xorshift(&x) % 24;
                for (size_t t = 0; t < tokens; t++) {
                        uint64_t y = xorshift(&x);
                        if (y % 100 < 93) {
                                const char *tok = valid[(y >> 8) % ELEMENTSOF(valid)];
                                size_t len = tok[0] ? strlen(tok) : 1; /* "\x00" is one NUL byte */
                                memcpy(in + n, tok, len);
                                n += len;
                        } else if (y % 100 < 97)
                                in[n++] = broken[(y >> 8) % sizeof(broken)];
                        else
                                in[n++] = (unsigned char) (y >> 16);
                }

                _cleanup_buf_ Buf b = { 0 };
                json_put_string(&b, (StrView){ (const char *) in, n });
                json_t *j = load(b.data, b.len);
                assert_true(json_is_string(j));

                json_t *ref = json_stringn((const char *) in, n);
                if (ref) {
                        n_valid++;
                        assert_int_equal(json_string_length(j), n);
                        assert_memory_equal(json_string_value(j), in, n);
                        json_decref(ref);
                } else
                        assert_non_null(memmem(json_string_value(j), json_string_length(j), "\xef\xbf\xbd", 3));
                json_decref(j);
        }
        /* Both branches must have been taken many times. */
        assert_true(n_valid > 2000);
        assert_true(n_valid < 18000);
}

static void test_event_json(void **state) {
        (void) state;
        RingEventView ev = {
                .seq = 42,
                .probe = 0,
                .comm = SV("nc"),
                .pid = 89,
                .tgid = -1,
                .cpu = 0,
                .timestamp = SV("3.021029"),
                .names = seed_names,
                .values = seed_values,
                .n_fields = 3,
        };
        _cleanup_buf_ Buf b = { 0 };

        event_render_json(&ev, "mysocket_event", &b);
        assert_string_equal(b.data, "{\"seq\":42,\"probe\":\"mysocket_event\",\"time\":3.021029,\"comm\":\"nc\","
                                    "\"pid\":89,\"cpu\":0,\"fields\":{\"type\":\"AF_INET\",\"port\":\"25\","
                                    "\"addr\":\"127.0.0.1\"}}");
        json_t *j = load(b.data, b.len);
        assert_int_equal(int_member(j, "seq"), 42);
        assert_string_equal(str_member(j, "probe"), "mysocket_event");
        assert_true(json_is_real(json_object_get(j, "time")));
        assert_float_equal(json_real_value(json_object_get(j, "time")), 3.021029, 1e-9);
        assert_string_equal(str_member(j, "comm"), "nc");
        assert_int_equal(int_member(j, "pid"), 89);
        assert_null(json_object_get(j, "tgid"));
        assert_int_equal(int_member(j, "cpu"), 0);
        json_t *fields = json_object_get(j, "fields");
        assert_int_equal(json_object_size(fields), 3);
        assert_string_equal(str_member(fields, "port"), "25");
        assert_string_equal(str_member(fields, "addr"), "127.0.0.1");
        assert_string_equal(str_member(fields, "type"), "AF_INET");
        json_decref(j);

        /* With record-tgid, and a comm the kernel could not resolve. */
        buf_clear(&b);
        ev.tgid = 18186;
        ev.pid = 18190;
        ev.comm = SV("<...>");
        ev.n_fields = 0;
        event_render_json(&ev, NULL, &b);
        j = load(b.data, b.len);
        assert_int_equal(int_member(j, "tgid"), 18186);
        assert_int_equal(int_member(j, "pid"), 18190);
        assert_true(json_is_null(json_object_get(j, "probe")));
        assert_string_equal(str_member(j, "comm"), "<...>");
        assert_int_equal(json_object_size(json_object_get(j, "fields")), 0);
        json_decref(j);
}

static void check_time(const char *ts, bool number) {
        RingEventView ev = { .seq = 1, .comm = SV("x"), .pid = 1, .tgid = -1, .timestamp = sv_from(ts) };
        _cleanup_buf_ Buf b = { 0 };
        event_render_json(&ev, "p", &b);
        json_t *j = load(b.data, b.len);
        json_t *t = json_object_get(j, "time");
        if (number)
                assert_true(json_is_number(t));
        else {
                assert_true(json_is_string(t));
                assert_string_equal(json_string_value(t), ts);
        }
        json_decref(j);
}

static void test_event_time(void **state) {
        (void) state;
        check_time("1040.222533", true);
        check_time("0.000001", true);
        check_time("0", true);
        check_time("123456789", true); /* counter clock */
        check_time("", false);
        check_time("12a", false);
        check_time("1.", false);
        check_time(".5", false);
        check_time("012.5", false); /* JSON forbids leading zeros */
        check_time("-1", false);
        check_time("1.2.3", false);
        check_time("1e5", false);
        /* Too many digits for a double: kept exact as a string. */
        check_time("1234567890123456", false);
}

static void test_event_hostile_strings(void **state) {
        (void) state;
        const StrView names[] = { SV("path"), SV("q\"k") };
        const StrView values[] = { SV("\"/tmp/a b\"\\\x01\n"), SV("\xc3(\xff") };
        RingEventView ev = {
                .seq = 7,
                .comm = SV("ev\"il\\\x1b[0m\xfe"),
                .pid = 1,
                .tgid = -1,
                .cpu = 1,
                .timestamp = SV("1.5"),
                .names = names,
                .values = values,
                .n_fields = 2,
        };
        _cleanup_buf_ Buf b = { 0 };
        event_render_json(&ev, "p\"q", &b);
        json_t *j = load(b.data, b.len);
        assert_string_equal(str_member(j, "probe"), "p\"q");
        assert_string_equal(str_member(j, "comm"), "ev\"il\\\x1b[0m\xef\xbf\xbd");
        json_t *fields = json_object_get(j, "fields");
        assert_string_equal(str_member(fields, "path"), "\"/tmp/a b\"\\\x01\n");
        assert_string_equal(str_member(fields, "q\"k"), "\xef\xbf\xbd(\xef\xbf\xbd");
        json_decref(j);
}

static void test_page_basic(void **state) {
        (void) state;
        Ring *r = ring_new(500);

        /* Empty ring. */
        check_page(page(r, NULL, false, 0, 10), 1, 0, 1, 0, 0);
        check_page(page(r, NULL, true, 0, 10), 1, 0, 1, 0, 0);

        for (int i = 0; i < 30; i++)
                assert_int_equal(push(r, 0, 100 + i), (uint64_t) i + 1);

        /* No since: the newest, oldest first. */
        check_page(page(r, NULL, false, 0, 10), 21, 30, 1, 30, 0);
        check_page(page(r, NULL, false, 0, 100), 1, 30, 1, 30, 0);
        /* Since: the oldest after it. */
        check_page(page(r, NULL, true, 0, 10), 1, 10, 1, 10, 0);
        check_page(page(r, NULL, true, 10, 10), 11, 20, 1, 20, 0);
        check_page(page(r, NULL, true, 25, 10), 26, 30, 1, 30, 0);
        check_page(page(r, NULL, true, 30, 10), 1, 0, 1, 30, 0);
        /* A since beyond the newest (a cursor from before a restart) starts
         * over from the oldest, flagged "reset" (checked in page()). */
        check_page(page(r, NULL, true, 1000, 10), 1, 10, 1, 10, 0);
        check_page(page(r, NULL, true, UINT64_MAX >> 1, 10), 1, 10, 1, 10, 0);
        check_page(page(r, NULL, true, 31, 10), 1, 10, 1, 10, 0);

        /* The events themselves carry the pushed values. */
        json_t *j = page(r, NULL, true, 4, 1);
        json_t *ev = json_array_get(json_object_get(j, "events"), 0);
        assert_int_equal(int_member(ev, "seq"), 5);
        assert_int_equal(int_member(ev, "pid"), 104);
        assert_int_equal(int_member(ev, "tgid"), 104);
        assert_string_equal(str_member(ev, "probe"), "mysocket_event");
        assert_string_equal(str_member(json_object_get(ev, "fields"), "addr"), "127.0.0.1");
        json_decref(j);

        /* limit 0 means the default, and limits are capped. */
        for (int i = 0; i < 200; i++)
                push(r, 0, 1);
        check_page(page(r, NULL, false, 0, 0), 131, 230, 1, 230, 0);
        check_page(page(r, NULL, true, 0, 0), 1, 100, 1, 100, 0);
        ring_free(r);

        r = ring_new(EVENTS_MAX_LIMIT + 100);
        for (unsigned i = 0; i < EVENTS_MAX_LIMIT + 50; i++)
                push(r, 0, 1);
        check_page(page(r, NULL, false, 0, SIZE_MAX), 51, EVENTS_MAX_LIMIT + 50, 1, EVENTS_MAX_LIMIT + 50, 0);
        check_page(page(r, NULL, true, 0, EVENTS_MAX_LIMIT + 1), 1, EVENTS_MAX_LIMIT, 1, EVENTS_MAX_LIMIT, 0);
        ring_free(r);
}

/* A client that passes "next" back as since sees every event exactly once,
 * in order, while events keep arriving and it keeps up. */
/* Events of 64 KB of control characters (a string a traced process
 * chose) are 384 KB each as JSON: a page stops at EVENTS_MAX_PAGE_BYTES
 * whatever the limit, and "next" continues after it, so paging still sees
 * every event once; the newest page holds the newest that fit. */
static void test_page_bytes_bounded(void **state) {
        (void) state;
        Ring *r = ring_new(40);
        static char big[65536];
        memset(big, 1, sizeof(big));
        const StrView names[] = { SV("text") };
        const StrView values[] = { { big, sizeof(big) } };
        for (int i = 0; i < 40; i++)
                ring_push(r, &(RingEventView){ .probe = 0, .comm = SV("w"), .pid = 7, .tgid = 7, .timestamp = SV("1.0"),
                                               .names = names, .values = values, .n_fields = 1 });
        size_t seen = 0, pages = 0, most = 0;
        int64_t since = 0;
        while (seen < 40 && pages < 40) {
                EventQuery q = { .has_since = true, .since = (uint64_t) since, .limit = EVENTS_MAX_LIMIT };
                _cleanup_buf_ Buf out = { 0 };
                events_render_page(r, &q, probe_names, ELEMENTSOF(probe_names), &out);
                assert_true(out.len < EVENTS_MAX_PAGE_BYTES + 400 * 1024);
                json_t *j = load(out.data, out.len);
                size_t n = n_events(j);
                assert_true(n > 0 && n < 40);
                assert_int_equal(event_seq(j, 0), since + 1);
                since = int_member(j, "next");
                assert_int_equal(since, event_seq(j, n - 1));
                seen += n;
                most = n > most ? n : most;
                pages++;
                json_decref(j);
        }
        assert_int_equal(seen, 40);
        assert_true(pages >= 4);
        /* The newest: as many as fit, ending at the newest. */
        EventQuery q = { .limit = EVENTS_MAX_LIMIT };
        _cleanup_buf_ Buf out = { 0 };
        events_render_page(r, &q, probe_names, ELEMENTSOF(probe_names), &out);
        assert_true(out.len <= EVENTS_MAX_PAGE_BYTES);
        json_t *j = load(out.data, out.len);
        size_t n = n_events(j);
        assert_true(n > 0 && n <= most);
        assert_int_equal(event_seq(j, n - 1), 40);
        json_decref(j);
        ring_free(r);
}

static void test_page_follow_1000(void **state) {
        (void) state;
        Ring *r = ring_new(64);
        uint64_t since = 0, expect = 1;
        int pushed = 0;

        while (pushed < 1000 || expect <= 1000) {
                for (int k = 0; k < 5 && pushed < 1000; k++, pushed++)
                        push(r, (uint32_t) (pushed % 2), pushed);

                json_t *j = page(r, NULL, true, since, 7);
                assert_int_equal(int_member(j, "missed"), 0);
                for (size_t i = 0; i < n_events(j); i++)
                        assert_int_equal(event_seq(j, i), (int64_t) expect++);
                since = (uint64_t) int_member(j, "next");
                assert_int_equal(since, expect - 1);
                json_decref(j);
        }
        assert_int_equal(expect, 1001);

        /* All caught up: an empty page, the same next. */
        check_page(page(r, NULL, true, since, 7), 1, 0, 1, 1000, 0);

        /* And from a full ring, without arrivals. */
        ring_free(r);
        r = ring_new(1000);
        for (int i = 0; i < 1000; i++)
                push(r, 0, i);
        since = 0;
        expect = 1;
        for (;;) {
                json_t *j = page(r, NULL, true, since, 7);
                size_t n = n_events(j);
                assert_true(n <= 7);
                for (size_t i = 0; i < n; i++)
                        assert_int_equal(event_seq(j, i), (int64_t) expect++);
                since = (uint64_t) int_member(j, "next");
                json_decref(j);
                if (n == 0)
                        break;
        }
        assert_int_equal(expect, 1001);
        assert_int_equal(since, 1000);
        ring_free(r);
}

static void test_page_eviction(void **state) {
        (void) state;
        Ring *r = ring_new(10);

        for (int i = 0; i < 25; i++)
                push(r, 0, i);
        /* Stored: 16..25. */
        check_page(page(r, NULL, true, 0, 100), 16, 25, 1, 25, 15);
        check_page(page(r, NULL, true, 5, 100), 16, 25, 1, 25, 10);
        check_page(page(r, NULL, true, 14, 3), 16, 18, 1, 18, 1);
        check_page(page(r, NULL, true, 15, 3), 16, 18, 1, 18, 0);
        check_page(page(r, NULL, false, 0, 100), 16, 25, 1, 25, 0);

        /* A slow client: it read up to 18, then 30 more arrived. */
        for (int i = 0; i < 30; i++)
                push(r, 0, i);
        /* Stored: 46..55; 19..45 were lost. */
        check_page(page(r, NULL, true, 18, 4), 46, 49, 1, 49, 27);
        check_page(page(r, NULL, true, 49, 4), 50, 53, 1, 53, 0);
        ring_free(r);
}

static void test_page_probe_filter(void **state) {
        (void) state;
        Ring *r = ring_new(100);

        /* Odd seqs are mysocket_event (0), even ones tcp_state (1). */
        for (int i = 0; i < 20; i++)
                push(r, (uint32_t) (i % 2), i);

        check_page(page(r, "tcp_state", true, 0, 3), 2, 6, 2, 6, 0);
        check_page(page(r, "tcp_state", true, 6, 3), 8, 12, 2, 12, 0);
        check_page(page(r, "mysocket_event", true, 0, 3), 1, 5, 2, 5, 0);
        check_page(page(r, "tcp_state", false, 0, 3), 16, 20, 2, 20, 0);
        check_page(page(r, "mysocket_event", false, 0, 3), 15, 19, 2, 20, 0);
        check_page(page(r, "tcp_state", true, 18, 3), 20, 20, 2, 20, 0);
        /* The events carry the probe's name. */
        json_t *j = page(r, "tcp_state", true, 0, 1);
        assert_string_equal(str_member(json_array_get(json_object_get(j, "events"), 0), "probe"), "tcp_state");
        json_decref(j);

        /* Only mysocket_event after 20: next still moves past them, so the
         * client does not examine them again. */
        for (int i = 0; i < 5; i++)
                push(r, 0, i);
        check_page(page(r, "tcp_state", true, 20, 3), 1, 0, 1, 25, 0);
        check_page(page(r, "tcp_state", true, 25, 3), 1, 0, 1, 25, 0);

        /* An unknown probe name matches nothing. */
        check_page(page(r, "nope", true, 0, 10), 1, 0, 1, 25, 0);
        check_page(page(r, "nope", false, 0, 10), 1, 0, 1, 25, 0);

        /* A probe index outside the table renders as null and matches no name. */
        assert_int_equal(push(r, 7, 1), 26);
        check_page(page(r, "mysocket_event", true, 25, 10), 1, 0, 1, 26, 0);
        j = page(r, NULL, true, 25, 10);
        assert_int_equal(n_events(j), 1);
        assert_true(json_is_null(json_object_get(json_array_get(json_object_get(j, "events"), 0), "probe")));
        json_decref(j);
        ring_free(r);
}

/* Splits NDJSON into lines, parsing each; returns how many. */
static size_t stream_lines(const Buf *b, json_t **lines, size_t max) {
        size_t n = 0;
        const char *p = b->data ? b->data : "";
        while (*p) {
                const char *nl = strchr(p, '\n');
                assert_non_null(nl);
                assert_true(n < max);
                lines[n++] = load(p, (size_t) (nl - p));
                p = nl + 1;
        }
        return n;
}

static void test_stream(void **state) {
        (void) state;
        Ring *r = ring_new(10);
        EventQuery all = { .limit = EVENTS_DEFAULT_LIMIT };
        EventQuery tcp = { .probe = "tcp_state", .limit = EVENTS_DEFAULT_LIMIT };
        uint64_t cursor = 0;
        json_t *lines[32];
        Buf b = { 0 };

        /* Nothing yet. */
        assert_int_equal(events_render_stream(r, &all, &cursor, 100, probe_names, 2, &b), 0);
        assert_int_equal(b.len, 0);
        assert_int_equal(cursor, 0);

        for (int i = 0; i < 5; i++)
                push(r, 0, i);
        assert_int_equal(events_render_stream(r, &all, &cursor, 100, probe_names, 2, &b), 5);
        assert_int_equal(cursor, 5);
        assert_int_equal(stream_lines(&b, lines, 32), 5);
        for (size_t i = 0; i < 5; i++) {
                assert_int_equal(int_member(lines[i], "seq"), (int64_t) i + 1);
                assert_int_equal(int_member(lines[i], "pid"), (int64_t) i);
                json_decref(lines[i]);
        }
        buf_clear(&b);

        /* 20 more into 10 slots: 6..15 are lost, 16..25 remain. */
        for (int i = 0; i < 20; i++)
                push(r, 0, i);
        assert_int_equal(events_render_stream(r, &all, &cursor, 100, probe_names, 2, &b), 11);
        assert_int_equal(cursor, 25);
        assert_int_equal(stream_lines(&b, lines, 32), 11);
        assert_int_equal(json_object_size(lines[0]), 1);
        assert_int_equal(int_member(lines[0], "missed"), 10);
        for (size_t i = 1; i < 11; i++)
                assert_int_equal(int_member(lines[i], "seq"), 15 + (int64_t) i);
        for (size_t i = 0; i < 11; i++)
                json_decref(lines[i]);
        buf_clear(&b);

        /* max_events bounds one call; the cursor continues where it stopped. */
        for (int i = 0; i < 6; i++)
                push(r, (uint32_t) (i % 2), i); /* 26..31: odd seqs probe 1 */
        assert_int_equal(events_render_stream(r, &all, &cursor, 4, probe_names, 2, &b), 4);
        assert_int_equal(cursor, 29);
        assert_int_equal(stream_lines(&b, lines, 32), 4);
        assert_int_equal(int_member(lines[3], "seq"), 29);
        for (size_t i = 0; i < 4; i++)
                json_decref(lines[i]);
        buf_clear(&b);

        /* The filter: only tcp_state (seqs 27, 29, 31 of which 31 is new);
         * the cursor still passes the events filtered out. */
        assert_int_equal(events_render_stream(r, &tcp, &cursor, 100, probe_names, 2, &b), 1);
        assert_int_equal(cursor, 31);
        assert_int_equal(stream_lines(&b, lines, 32), 1);
        assert_int_equal(int_member(lines[0], "seq"), 31);
        assert_string_equal(str_member(lines[0], "probe"), "tcp_state");
        json_decref(lines[0]);
        buf_clear(&b);

        push(r, 0, 1); /* 32, filtered out */
        assert_int_equal(events_render_stream(r, &tcp, &cursor, 100, probe_names, 2, &b), 0);
        assert_int_equal(cursor, 32);
        assert_int_equal(b.len, 0);

        /* A cursor beyond the newest event (an earlier run's) is told so
         * and starts over from the oldest stored event, as a page with
         * such a since does: it must not wait for the numbers to catch up. */
        uint64_t far = 1000000;
        uint64_t oldest = ring_oldest_seq(r);
        size_t stored = (size_t) (ring_next_seq(r) - oldest);
        size_t n = events_render_stream(r, &all, &far, 100, probe_names, 2, &b);
        assert_int_equal(n, 1 + (oldest > 1) + stored);
        assert_int_equal(far, 32);
        json_t *first[64];
        assert_int_equal(stream_lines(&b, first, 64), n);
        assert_true(json_is_true(json_object_get(first[0], "reset")));
        if (oldest > 1)
                assert_int_equal(int_member(first[1], "missed"), oldest - 1);
        assert_int_equal(int_member(first[n - 1], "seq"), 32);
        for (size_t i = 0; i < n; i++)
                json_decref(first[i]);
        buf_clear(&b);
        /* and then goes on as any follower */
        assert_int_equal(events_render_stream(r, &all, &far, 100, probe_names, 2, &b), 0);
        push(r, 0, 0); /* 33 */
        assert_int_equal(events_render_stream(r, &all, &far, 100, probe_names, 2, &b), 1);
        assert_int_equal(far, 33);

        buf_free(&b);
        ring_free(r);
}


/* Values stored as the kernel printed them render decoded: through their
 * field's decoder, a NULL entry as is, a failing decoder as the raw value. */
static void test_event_json_decodes(void **state) {
        (void) state;
        MapEntry family[] = { { (char *) "2", (char *) "AF_INET" } };
        const Decoder map = { .field = (char *) "type", .kind = DECODER_MAP, .map = family, .n_map = 1 };
        const Decoder ntohs = { .field = (char *) "port", .kind = DECODER_NTOHS };
        const Decoder ipv4 = { .field = (char *) "addr", .kind = DECODER_IPV4 };
        const Decoder errno_dec = { .field = (char *) "ret", .kind = DECODER_ERRNO };
        const StrView names[] = { SV("type"), SV("port"), SV("addr"), SV("ret"), SV("path") };
        const StrView values[] = { SV("0x2"), SV("6400"), SV("16777343"), SV("(fault)"), SV("\"/tmp\"") };
        const Decoder *decoders[] = { &map, &ntohs, &ipv4, &errno_dec, NULL };
        RingEventView ev = {
                .seq = 7,
                .comm = SV("nc"),
                .pid = 89,
                .tgid = -1,
                .timestamp = SV("3.021029"),
                .names = names,
                .values = values,
                .n_fields = 5,
                .decoders = decoders,
        };
        _cleanup_buf_ Buf b = { 0 };

        event_render_json(&ev, "mysocket_event", &b);
        assert_non_null(strstr(b.data, "\"fields\":{\"type\":\"AF_INET\",\"port\":\"25\",\"addr\":\"127.0.0.1\","
                                       "\"ret\":\"(fault)\",\"path\":\"\\\"/tmp\\\"\"}}"));
        json_t *j = load(b.data, b.len);
        json_decref(j);

        /* Without decoders the same values are shown as stored. */
        buf_clear(&b);
        ev.decoders = NULL;
        event_render_json(&ev, "mysocket_event", &b);
        assert_non_null(strstr(b.data, "\"fields\":{\"type\":\"0x2\",\"port\":\"6400\",\"addr\":\"16777343\""));

        /* Through the ring: it keeps the decoders per event, decodes for
         * good on ring_materialize(), and renders the same either way. */
        ev.decoders = decoders;
        Ring *r = ring_new(4);
        ring_push(r, &ev);
        RingEventView got;
        _cleanup_buf_ Buf lazy = { 0 }, kept = { 0 };
        assert_true(ring_get(r, 1, &got));
        assert_non_null(got.decoders);
        event_render_json(&got, "mysocket_event", &lazy);
        ring_materialize(r);
        assert_true(ring_get(r, 1, &got));
        assert_null(got.decoders);
        assert_sv_equal_str(got.values[1], "25");
        event_render_json(&got, "mysocket_event", &kept);
        assert_string_equal(lazy.data, kept.data);
        ring_free(r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_put_string_escapes),
                cmocka_unit_test(test_put_string_invalid_utf8),
                cmocka_unit_test(test_put_string_random),
                cmocka_unit_test(test_event_json),
                cmocka_unit_test(test_event_json_decodes),
                cmocka_unit_test(test_event_time),
                cmocka_unit_test(test_event_hostile_strings),
                cmocka_unit_test(test_page_basic),
                cmocka_unit_test(test_page_bytes_bounded),
                cmocka_unit_test(test_page_follow_1000),
                cmocka_unit_test(test_page_eviction),
                cmocka_unit_test(test_page_probe_filter),
                cmocka_unit_test(test_stream),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
