/* The pending table of latency metrics: pairing, nesting, bounds, expiry,
 * keys and saved values, against a reference model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "pending.h"

#include "alloc-count.h"

#define PART(t, s) ((SeriesKeyPart){ (t), SV(s) })
#define SEC 1000000000ULL

/* A thread's key as a latency metric makes it: the tid, as the record's
 * 4 bytes. */
typedef struct TidKey {
        int32_t tid;
        SeriesKeyPart part;
} TidKey;

static TidKey tid_key(int32_t tid) {
        TidKey k = { .tid = tid };
        return k;
}

static const SeriesKeyPart *tid_part(TidKey *k) {
        k->part = (SeriesKeyPart){ 'p', { (const char *) &k->tid, sizeof(k->tid) } };
        return &k->part;
}

static void assert_sv(StrView v, const char *want, size_t n) {
        assert_int_equal(v.n, n);
        if (n > 0)
                assert_memory_equal(v.p, want, n);
}

/* Two threads' calls interleave; each return gets its own thread's entry,
 * also when the other thread's entry is newer. */
static void test_interleaved_threads(void **state) {
        (void) state;
        PendingTable *t = pending_new(65536, 60 * SEC);
        TidKey a = tid_key(100), b = tid_key(200);
        PendingMatch m;

        for (uint64_t i = 0; i < 50; i++) {
                uint64_t base = 1000 + 10 * i;
                StrView va[] = { SV("curl") }, vb[] = { SV("nc") };
                pending_push(t, tid_part(&a), 1, base, 2 * i, va, 1);
                pending_push(t, tid_part(&b), 1, base + 1, 2 * i + 1, vb, 1);
                assert_int_equal(pending_size(t), 2);
                /* Returns in the order of the entries every other round,
                 * in the other order otherwise. */
                if (i % 2 == 0) {
                        assert_true(pending_pop(t, tid_part(&a), 1, base + 2, &m));
                        assert_int_equal(m.ts_ns, base);
                        assert_int_equal(m.seq, 2 * i);
                        assert_int_equal(m.n_values, 1);
                        assert_sv(m.values[0], "curl", 4);
                        assert_true(pending_pop(t, tid_part(&b), 1, base + 3, &m));
                        assert_int_equal(m.ts_ns, base + 1);
                        assert_int_equal(m.seq, 2 * i + 1);
                        assert_sv(m.values[0], "nc", 2);
                } else {
                        assert_true(pending_pop(t, tid_part(&b), 1, base + 2, &m));
                        assert_int_equal(m.ts_ns, base + 1);
                        assert_sv(m.values[0], "nc", 2);
                        assert_true(pending_pop(t, tid_part(&a), 1, base + 3, &m));
                        assert_int_equal(m.ts_ns, base);
                        assert_sv(m.values[0], "curl", 4);
                }
                assert_int_equal(pending_size(t), 0);
        }
        assert_false(pending_pop(t, tid_part(&a), 1, 5000, &m));
        assert_int_equal(pending_evicted(t), 0);
        assert_int_equal(pending_expired(t), 0);
        pending_free(t);
}

/* Recursion on one thread: the innermost call returns first. */
static void test_nested(void **state) {
        (void) state;
        PendingTable *t = pending_new(65536, 0);
        TidKey k = tid_key(4242);
        PendingMatch m;

        pending_push(t, tid_part(&k), 1, 10, 1, NULL, 0);
        pending_push(t, tid_part(&k), 1, 20, 2, NULL, 0);
        pending_push(t, tid_part(&k), 1, 30, 3, NULL, 0);
        assert_int_equal(pending_size(t), 3);

        assert_true(pending_pop(t, tid_part(&k), 1, 35, &m));
        assert_int_equal(m.ts_ns, 30);
        assert_int_equal(m.seq, 3);
        assert_int_equal(m.n_values, 0);
        assert_true(pending_pop(t, tid_part(&k), 1, 36, &m));
        assert_int_equal(m.ts_ns, 20);
        assert_int_equal(m.seq, 2);
        assert_true(pending_pop(t, tid_part(&k), 1, 37, &m));
        assert_int_equal(m.ts_ns, 10);
        assert_int_equal(m.seq, 1);
        assert_false(pending_pop(t, tid_part(&k), 1, 38, &m));
        assert_int_equal(pending_size(t), 0);

        /* Two entries of one time (a coarse clock): the one pushed last
         * is the inner call. */
        pending_push(t, tid_part(&k), 1, 50, 7, NULL, 0);
        pending_push(t, tid_part(&k), 1, 50, 8, NULL, 0);
        assert_true(pending_pop(t, tid_part(&k), 1, 50, &m));
        assert_int_equal(m.seq, 8);
        assert_true(pending_pop(t, tid_part(&k), 1, 50, &m));
        assert_int_equal(m.seq, 7);
        pending_free(t);
}

/* A return without its entry (it was lost, or the daemon started in
 * between): false, and the table as it was. */
static void test_missing(void **state) {
        (void) state;
        PendingTable *t = pending_new(65536, 60 * SEC);
        TidKey a = tid_key(100), b = tid_key(200);
        PendingMatch m = { .ts_ns = 12345 };

        assert_false(pending_pop(t, tid_part(&a), 1, 10, &m));
        assert_int_equal(m.ts_ns, 12345); /* untouched */
        assert_int_equal(pending_size(t), 0);

        StrView v[] = { SV("nc") };
        pending_push(t, tid_part(&a), 1, 20, 1, v, 1);
        size_t bytes = pending_bytes(t);
        assert_false(pending_pop(t, tid_part(&b), 1, 30, &m));
        /* The same bytes as a's key, but untagged / of another tag; and
         * a's key with one more part. */
        SeriesKeyPart other_tag[] = { { 'f', { (const char *) &a.tid, 4 } } };
        SeriesKeyPart more[] = { { 'p', { (const char *) &a.tid, 4 } }, PART('c', "") };
        assert_false(pending_pop(t, other_tag, 1, 30, &m));
        assert_false(pending_pop(t, more, 2, 30, &m));
        assert_false(pending_pop(t, NULL, 0, 30, &m));
        assert_int_equal(m.ts_ns, 12345);
        assert_int_equal(pending_size(t), 1);
        assert_int_equal(pending_bytes(t), bytes);
        assert_int_equal(pending_evicted(t), 0);
        assert_int_equal(pending_expired(t), 0);

        assert_true(pending_pop(t, tid_part(&a), 1, 30, &m));
        assert_int_equal(m.ts_ns, 20);
        assert_sv(m.values[0], "nc", 2);
        pending_free(t);
}

/* An entry newer than the return started after it: not its entry, but an
 * older one of the key still is. */
static void test_newer_skipped(void **state) {
        (void) state;
        PendingTable *t = pending_new(65536, 0);
        TidKey k = tid_key(7);
        PendingMatch m;

        pending_push(t, tid_part(&k), 1, 50, 50, NULL, 0);
        assert_false(pending_pop(t, tid_part(&k), 1, 40, &m));
        assert_int_equal(pending_size(t), 1);

        /* Pushed after the one of 50 (records of two CPUs read out of
         * order), with an older time. */
        pending_push(t, tid_part(&k), 1, 30, 30, NULL, 0);
        assert_true(pending_pop(t, tid_part(&k), 1, 40, &m));
        assert_int_equal(m.ts_ns, 30);
        assert_int_equal(m.seq, 30);
        assert_int_equal(pending_size(t), 1);
        assert_true(pending_pop(t, tid_part(&k), 1, 60, &m));
        assert_int_equal(m.ts_ns, 50);
        assert_int_equal(pending_size(t), 0);

        /* Out of order the other way: the greatest time <= the return's
         * wins, whatever the push order. */
        pending_push(t, tid_part(&k), 1, 20, 1, NULL, 0);
        pending_push(t, tid_part(&k), 1, 45, 2, NULL, 0);
        pending_push(t, tid_part(&k), 1, 35, 3, NULL, 0);
        assert_true(pending_pop(t, tid_part(&k), 1, 40, &m));
        assert_int_equal(m.seq, 3);
        assert_true(pending_pop(t, tid_part(&k), 1, 40, &m));
        assert_int_equal(m.seq, 1);
        assert_false(pending_pop(t, tid_part(&k), 1, 40, &m));
        assert_true(pending_pop(t, tid_part(&k), 1, 45, &m));
        assert_int_equal(m.seq, 2);
        pending_free(t);
}

/* Full: the oldest pushed goes, counted. */
static void test_eviction(void **state) {
        (void) state;
        PendingTable *t = pending_new(3, 0);
        TidKey k[] = { tid_key(1), tid_key(2), tid_key(3), tid_key(4) };
        PendingMatch m;

        for (int i = 0; i < 4; i++) {
                pending_push(t, tid_part(&k[i]), 1, 100 + (uint64_t) i, (uint64_t) i, NULL, 0);
                assert_int_equal(pending_size(t), i < 3 ? i + 1 : 3);
                assert_int_equal(pending_evicted(t), i < 3 ? 0 : 1);
        }
        assert_false(pending_pop(t, tid_part(&k[0]), 1, 200, &m));
        for (int i = 1; i < 4; i++) {
                assert_true(pending_pop(t, tid_part(&k[i]), 1, 200, &m));
                assert_int_equal(m.seq, i);
        }
        assert_int_equal(pending_size(t), 0);

        /* Push order, not time, decides: the first pushed is evicted
         * though its time is the newest. */
        pending_push(t, tid_part(&k[0]), 1, 400, 0, NULL, 0);
        pending_push(t, tid_part(&k[1]), 1, 300, 1, NULL, 0);
        pending_push(t, tid_part(&k[2]), 1, 310, 2, NULL, 0);
        pending_push(t, tid_part(&k[3]), 1, 320, 3, NULL, 0);
        assert_int_equal(pending_evicted(t), 2);
        assert_false(pending_pop(t, tid_part(&k[0]), 1, 500, &m));
        assert_true(pending_pop(t, tid_part(&k[1]), 1, 500, &m));
        assert_int_equal(m.ts_ns, 300);
        assert_int_equal(pending_expired(t), 0);
        pending_free(t);
}

static void test_expiry(void **state) {
        (void) state;
        PendingTable *t = pending_new(65536, 60 * SEC);
        TidKey a = tid_key(1), b = tid_key(2), c = tid_key(3), d = tid_key(4);
        PendingMatch m;

        pending_push(t, tid_part(&a), 1, 0, 1, NULL, 0);
        pending_push(t, tid_part(&b), 1, 61 * SEC, 2, NULL, 0);
        assert_int_equal(pending_expired(t), 1);
        assert_int_equal(pending_size(t), 1);
        assert_false(pending_pop(t, tid_part(&a), 1, 61 * SEC, &m));

        /* Exactly the timeout old is not expired yet; a nanosecond more is. */
        pending_expire(t, 121 * SEC);
        assert_int_equal(pending_expired(t), 1);
        assert_int_equal(pending_size(t), 1);
        pending_push(t, tid_part(&c), 1, 121 * SEC, 3, NULL, 0);
        pending_expire(t, 121 * SEC + 1);
        assert_int_equal(pending_expired(t), 2);
        assert_int_equal(pending_size(t), 1);
        assert_false(pending_pop(t, tid_part(&b), 1, 121 * SEC + 1, &m));
        /* A time older than the newest seen changes nothing. */
        pending_expire(t, 0);
        assert_int_equal(pending_size(t), 1);
        assert_true(pending_pop(t, tid_part(&c), 1, 122 * SEC, &m));
        assert_int_equal(m.seq, 3);

        /* Pushed after a newer entry, so expiry from the oldest pushed stops
         * before it: a pop still never returns it, and counts it. */
        pending_push(t, tid_part(&c), 1, 200 * SEC, 4, NULL, 0);
        pending_push(t, tid_part(&d), 1, 150 * SEC, 5, NULL, 0);
        assert_int_equal(pending_size(t), 2);
        assert_false(pending_pop(t, tid_part(&d), 1, 215 * SEC, &m));
        assert_int_equal(pending_expired(t), 3);
        assert_int_equal(pending_size(t), 1);
        assert_true(pending_pop(t, tid_part(&c), 1, 215 * SEC, &m));
        assert_int_equal(m.seq, 4);
        assert_int_equal(pending_evicted(t), 0);
        pending_free(t);

        /* Timeout 0: nothing ever expires. */
        t = pending_new(16, 0);
        pending_push(t, tid_part(&a), 1, 0, 1, NULL, 0);
        pending_push(t, tid_part(&b), 1, UINT64_MAX, 2, NULL, 0);
        pending_expire(t, UINT64_MAX);
        assert_int_equal(pending_expired(t), 0);
        assert_true(pending_pop(t, tid_part(&a), 1, UINT64_MAX, &m));
        assert_int_equal(m.ts_ns, 0);
        pending_free(t);
}

/* Keys are tuples: bounds, tags and the number of parts tell them apart. */
static void test_key_parts(void **state) {
        (void) state;
        PendingTable *t = pending_new(64, 0);
        SeriesKeyPart ab_c[] = { PART('f', "ab"), PART('f', "c") };
        SeriesKeyPart a_bc[] = { PART('f', "a"), PART('f', "bc") };
        SeriesKeyPart abc[] = { PART('f', "abc") };
        SeriesKeyPart abc_[] = { PART('f', "abc"), PART('f', "") };
        SeriesKeyPart _abc[] = { PART('f', ""), PART('f', "abc") };
        SeriesKeyPart ab_c_tag[] = { PART('f', "ab"), PART('c', "c") };
        SeriesKeyPart nul[] = { { 'f', { "a\0c", 3 } }, PART('f', "") };
        SeriesKeyPart nul2[] = { { 'f', { "a\0d", 3 } }, PART('f', "") };
        struct {
                const SeriesKeyPart *key;
                size_t n;
        } keys[] = {
                { ab_c, 2 }, { a_bc, 2 }, { abc, 1 }, { abc_, 2 }, { _abc, 2 }, { ab_c_tag, 2 },
                { nul, 2 },  { nul2, 2 }, { NULL, 0 },
        };
        PendingMatch m;

        assert_false(pending_pop(t, a_bc, 2, 10, &m));
        pending_push(t, ab_c, 2, 1, 0, NULL, 0);
        for (size_t i = 1; i < ELEMENTSOF(keys); i++)
                assert_false(pending_pop(t, keys[i].key, keys[i].n, 10, &m));
        assert_int_equal(pending_size(t), 1);

        for (size_t i = 1; i < ELEMENTSOF(keys); i++)
                pending_push(t, keys[i].key, keys[i].n, 1 + i, i, NULL, 0);
        /* Each pops its own, in an order other than the pushes'. */
        for (size_t j = 0; j < ELEMENTSOF(keys); j++) {
                size_t i = (j * 5) % ELEMENTSOF(keys);
                assert_true(pending_pop(t, keys[i].key, keys[i].n, 100, &m));
                assert_int_equal(m.seq, i);
                assert_false(pending_pop(t, keys[i].key, keys[i].n, 100, &m));
        }
        assert_int_equal(pending_size(t), 0);

        /* A key part longer than an entry holds inline, and its copy: the
         * caller's buffer may change after the push. */
        char big[300];
        memset(big, 'k', sizeof(big));
        SeriesKeyPart bigkey[] = { { 'f', { big, sizeof(big) } } };
        pending_push(t, bigkey, 1, 200, 77, NULL, 0);
        big[299] = 'x';
        assert_false(pending_pop(t, bigkey, 1, 300, &m));
        big[299] = 'k';
        assert_true(pending_pop(t, bigkey, 1, 300, &m));
        assert_int_equal(m.seq, 77);
        pending_free(t);
}

/* Saved values come back byte for byte: NULs, empty ones, long ones (the
 * entry's own allocation), too long ones cut to PENDING_VALUE_MAX. */
static void test_values(void **state) {
        (void) state;
        PendingTable *t = pending_new(64, 0);
        TidKey k = tid_key(9);
        PendingMatch m;
        char comm[] = "nc";
        char long_v[200], huge[PENDING_VALUE_MAX + 1000];

        for (size_t i = 0; i < sizeof(long_v); i++)
                long_v[i] = (char) (i * 7); /* with NULs and bytes over 0x7f */
        for (size_t i = 0; i < sizeof(huge); i++)
                huge[i] = (char) (i % 251);

        StrView small[] = { { comm, 2 }, { "\0a\0", 3 }, SV("") };
        pending_push(t, tid_part(&k), 1, 10, 1, small, 3);
        comm[0] = 'x'; /* copied at the push */
        assert_true(pending_pop(t, tid_part(&k), 1, 11, &m));
        assert_int_equal(m.n_values, 3);
        assert_sv(m.values[0], "nc", 2);
        assert_sv(m.values[1], "\0a\0", 3);
        assert_sv(m.values[2], "", 0);
        /* Still there through calls that do not change the table. */
        assert_int_equal(pending_size(t), 0);
        assert_true(pending_bytes(t) > 0);
        assert_sv(m.values[0], "nc", 2);

        StrView big[] = { SV("curl"), { long_v, sizeof(long_v) }, { huge, sizeof(huge) } };
        pending_push(t, tid_part(&k), 1, 20, 2, big, 3);
        pending_push(t, tid_part(&k), 1, 21, 3, small, 1);
        assert_true(pending_pop(t, tid_part(&k), 1, 22, &m));
        assert_int_equal(m.seq, 3);
        assert_int_equal(m.n_values, 1);
        assert_sv(m.values[0], "xc", 2);
        assert_true(pending_pop(t, tid_part(&k), 1, 22, &m));
        assert_int_equal(m.seq, 2);
        assert_int_equal(m.n_values, 3);
        assert_sv(m.values[0], "curl", 4);
        assert_sv(m.values[1], long_v, sizeof(long_v));
        assert_sv(m.values[2], huge, PENDING_VALUE_MAX);

        /* Around the inline size: each length from 40 to 80 bytes of one
         * value, key and value together just below, at and above 64. */
        for (size_t n = 40; n <= 80; n++) {
                pending_push(t, tid_part(&k), 1, 100 + n, n, (StrView[]){ { long_v, n } }, 1);
                assert_true(pending_pop(t, tid_part(&k), 1, 1000, &m));
                assert_int_equal(m.seq, n);
                assert_int_equal(m.n_values, 1);
                assert_sv(m.values[0], long_v, n);
        }
        /* Many values at once: the match's views grow. */
        StrView many[40];
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                many[i] = (StrView){ long_v + i, i };
        pending_push(t, tid_part(&k), 1, 2000, 9, many, ELEMENTSOF(many));
        assert_true(pending_pop(t, tid_part(&k), 1, 2000, &m));
        assert_int_equal(m.n_values, ELEMENTSOF(many));
        for (size_t i = 0; i < ELEMENTSOF(many); i++)
                assert_sv(m.values[i], long_v + i, i);
        pending_free(t);
}

/* ---- a reference model: an array in push order, searched in full ---- */

#define MODEL_VALUES 3
#define MODEL_VALUE_LEN 160

typedef struct ModelEntry {
        size_t key;
        uint64_t ts, seq;
        size_t n_values;
        size_t len[MODEL_VALUES];
        char val[MODEL_VALUES][MODEL_VALUE_LEN];
} ModelEntry;

typedef struct Model {
        ModelEntry e[64];
        size_t n, max;
        uint64_t timeout, watermark, evicted, expired;
        uint64_t pop_expired; /* pops that found an expired entry */
} Model;

static void model_remove(Model *m, size_t i) {
        memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof(ModelEntry));
        m->n--;
}

static bool model_is_expired(const Model *m, uint64_t ts) {
        return m->timeout > 0 && m->watermark - ts > m->timeout;
}

static void model_expire(Model *m, uint64_t now) {
        if (now > m->watermark)
                m->watermark = now;
        while (m->n > 0 && model_is_expired(m, m->e[0].ts)) {
                model_remove(m, 0);
                m->expired++;
        }
}

static void model_push(Model *m, const ModelEntry *x) {
        model_expire(m, x->ts);
        if (m->n >= m->max) {
                model_remove(m, 0);
                m->evicted++;
        }
        m->e[m->n++] = *x;
}

static bool model_pop(Model *m, size_t key, uint64_t ts, ModelEntry *ret) {
        size_t best = SIZE_MAX;

        model_expire(m, ts);
        for (size_t i = 0; i < m->n; i++)
                if (m->e[i].key == key && m->e[i].ts <= ts && (best == SIZE_MAX || m->e[i].ts >= m->e[best].ts))
                        best = i;
        if (best == SIZE_MAX)
                return false;
        bool expired = model_is_expired(m, m->e[best].ts);
        *ret = m->e[best];
        model_remove(m, best);
        if (expired) {
                m->expired++;
                m->pop_expired++;
        }
        return !expired;
}

static void model_set_limits(Model *m, size_t max, uint64_t timeout) {
        m->max = max;
        m->timeout = timeout;
        model_expire(m, m->watermark);
        while (m->n > m->max) {
                model_remove(m, 0);
                m->evicted++;
        }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void) {
        /* xorshift64*: deterministic, so a failure replays */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dULL;
}

static void test_random_model(void **state) {
        (void) state;
        enum { OPS = 100000 };
        static const int32_t tids[] = { 100, 200 };
        SeriesKeyPart keys[][2] = {
                { { 'p', { (const char *) &tids[0], 4 } } },
                { { 'p', { (const char *) &tids[1], 4 } } },
                { PART('f', "ab"), PART('f', "c") },
                { PART('f', "a"), PART('f', "bc") },
                { PART('f', "abc") },
                { PART('f', "abc"), PART('f', "") },
        };
        static const size_t n_parts[] = { 1, 1, 2, 2, 1, 2 };
        static Model model;
        uint64_t base = 1000, pops_found = 0, pops_missed = 0;
        PendingTable *t = pending_new(64, 200);
        size_t max_bytes = 0;

        model = (Model){ .max = 64, .timeout = 200 };
        for (unsigned op = 0; op < OPS; op++) {
                uint64_t r = rng() % 1000;
                size_t key = rng() % ELEMENTSOF(keys);

                base += rng() % 4;
                if (rng() % 1000 == 0)
                        base += 300; /* a pause: everything expires */
                /* A little out of order, and now and then a record of
                 * another CPU that comes late. */
                uint64_t ts = base - rng() % (rng() % 50 == 0 ? 190 : 6);

                if (r < 480) {
                        ModelEntry x = { .key = key, .ts = ts, .seq = op, .n_values = rng() % (MODEL_VALUES + 1) };
                        StrView v[MODEL_VALUES];
                        for (size_t i = 0; i < x.n_values; i++) {
                                x.len[i] = rng() % 8 == 0 ? rng() % MODEL_VALUE_LEN : rng() % 20;
                                for (size_t j = 0; j < x.len[i]; j++)
                                        x.val[i][j] = (char) (rng() % 4 == 0 ? 0 : rng());
                                v[i] = (StrView){ x.val[i], x.len[i] };
                        }
                        model_push(&model, &x);
                        pending_push(t, keys[key], n_parts[key], ts, op, v, x.n_values);
                } else if (r < 960) {
                        ModelEntry want;
                        PendingMatch got;
                        bool found = model_pop(&model, key, ts, &want);
                        assert_int_equal(pending_pop(t, keys[key], n_parts[key], ts, &got), found);
                        if (found) {
                                pops_found++;
                                assert_int_equal(got.ts_ns, want.ts);
                                assert_int_equal(got.seq, want.seq);
                                assert_int_equal(got.n_values, want.n_values);
                                for (size_t i = 0; i < want.n_values; i++)
                                        assert_sv(got.values[i], want.val[i], want.len[i]);
                        } else
                                pops_missed++;
                } else if (r < 995) {
                        uint64_t now = base + rng() % 10;
                        model_expire(&model, now);
                        pending_expire(t, now);
                } else {
                        /* A reload: up and down, and the timeout on and off. */
                        static const uint64_t timeouts[] = { 0, 100, 200, 200 };
                        size_t max = 1 + rng() % 64;
                        uint64_t timeout = timeouts[rng() % ELEMENTSOF(timeouts)];
                        model_set_limits(&model, max, timeout);
                        pending_set_limits(t, max, timeout);
                }
                assert_int_equal(pending_size(t), model.n);
                assert_int_equal(pending_evicted(t), model.evicted);
                assert_int_equal(pending_expired(t), model.expired);
                if (pending_bytes(t) > max_bytes)
                        max_bytes = pending_bytes(t);
        }
        /* Every path was taken, many times. */
        assert_true(pops_found > 10000);
        assert_true(pops_missed > 1000);
        assert_true(model.evicted > 100);
        assert_true(model.expired > 100);
        assert_true(model.pop_expired > 20);
        /* 64 entries with at most 3 values of < 160 bytes each, at most. */
        assert_true(max_bytes < 64 * (256 + 3 * 170) + 1024);
        pending_free(t);
}

/* Memory: an idle table holds nearly nothing; a full one holds the same
 * whatever goes through it; a lowered max gives the slab back. */
static void test_bytes_bounded(void **state) {
        (void) state;
        enum { MAX = 1000 };
        PendingTable *t = pending_new(MAX, 0);
        char v[100];
        memset(v, 'v', sizeof(v));

        size_t idle = pending_bytes(t);
        assert_true(idle < 256);

        for (int32_t i = 0; i < MAX; i++) {
                TidKey k = tid_key(i);
                pending_push(t, tid_part(&k), 1, (uint64_t) i, 0, (StrView[]){ { v, 16 } }, 1);
        }
        size_t full = pending_bytes(t);
        assert_int_equal(pending_size(t), MAX);
        for (int32_t i = MAX; i < 20 * MAX; i++) {
                TidKey k = tid_key(i);
                pending_push(t, tid_part(&k), 1, (uint64_t) i, 0, (StrView[]){ { v, 16 } }, 1);
                assert_int_equal(pending_bytes(t), full);
        }
        assert_int_equal(pending_evicted(t), 19 * MAX);
        /* Small entries: the slab and the buckets only. */
        assert_true(full < MAX * 128 + 1024 * sizeof(uint32_t) + 1024);

        /* Values too long for an entry: their bytes are counted, and freed
         * with the entries evicted. */
        for (int32_t i = 0; i < MAX; i++) {
                TidKey k = tid_key(i);
                pending_push(t, tid_part(&k), 1, 100000 + (uint64_t) i, 0, (StrView[]){ { v, sizeof(v) } }, 1);
        }
        size_t full_long = pending_bytes(t);
        assert_true(full_long >= full + MAX * sizeof(v));
        for (int32_t i = 0; i < 5 * MAX; i++) {
                TidKey k = tid_key(i);
                pending_push(t, tid_part(&k), 1, 200000 + (uint64_t) i, 0, (StrView[]){ { v, sizeof(v) } }, 1);
                assert_int_equal(pending_bytes(t), full_long);
        }

        pending_set_limits(t, 10, 0);
        assert_int_equal(pending_size(t), 10);
        assert_true(pending_bytes(t) < 10 * (128 + sizeof(v) + 8) + 1024);
        pending_free(t);

        /* The slab grows with use, not to the max at once: a metric with
         * the default max and a few calls in flight holds a few KiB. */
        t = pending_new(65536, 0);
        for (int32_t i = 0; i < 3; i++) {
                TidKey k = tid_key(i);
                pending_push(t, tid_part(&k), 1, (uint64_t) i, 0, NULL, 0);
        }
        assert_true(pending_bytes(t) < 4096);
        pending_free(t);
}

/* A reload's new limits: the oldest go over a lowered max, the newest
 * stay and still pop; a lowered timeout expires at once. */
static void test_set_limits(void **state) {
        (void) state;
        PendingTable *t = pending_new(10, 0);
        PendingMatch m;

        for (int32_t i = 0; i < 10; i++) {
                TidKey k = tid_key(i);
                pending_push(t, tid_part(&k), 1, 100 * (uint64_t) i, (uint64_t) i, (StrView[]){ SV("x") }, 1);
        }
        pending_set_limits(t, 4, 0);
        assert_int_equal(pending_size(t), 4);
        assert_int_equal(pending_evicted(t), 6);
        for (int32_t i = 0; i < 6; i++) {
                TidKey k = tid_key(i);
                assert_false(pending_pop(t, tid_part(&k), 1, 1000, &m));
        }
        TidKey k9 = tid_key(9);
        assert_true(pending_pop(t, tid_part(&k9), 1, 1000, &m));
        assert_int_equal(m.seq, 9);
        assert_sv(m.values[0], "x", 1);

        /* The lowered max holds: one more than it evicts. */
        for (int32_t i = 20; i < 22; i++) {
                TidKey k = tid_key(i);
                pending_push(t, tid_part(&k), 1, 1000, (uint64_t) i, NULL, 0);
        }
        assert_int_equal(pending_size(t), 4);
        assert_int_equal(pending_evicted(t), 7);

        /* Raised again: room for more without evicting. */
        pending_set_limits(t, 100, 0);
        for (int32_t i = 30; i < 90; i++) {
                TidKey k = tid_key(i);
                pending_push(t, tid_part(&k), 1, 1000 + (uint64_t) i, (uint64_t) i, NULL, 0);
        }
        assert_int_equal(pending_size(t), 64);
        assert_int_equal(pending_evicted(t), 7);

        /* Newest seen 1089: a timeout of 50 leaves the entries of 1039
         * and later; those of 700, 800, 1000 (two) and 1030..1038 go. */
        pending_set_limits(t, 100, 50);
        assert_int_equal(pending_expired(t), 4 + 9);
        assert_int_equal(pending_size(t), 64 - 13);
        TidKey k39 = tid_key(39), k38 = tid_key(38);
        assert_false(pending_pop(t, tid_part(&k38), 1, 1089, &m));
        assert_true(pending_pop(t, tid_part(&k39), 1, 1089, &m));
        assert_int_equal(m.seq, 39);
        pending_free(t);
        assert_null(pending_free(NULL));
}

/* After warm-up, pushing and popping small entries allocates nothing. */
static void test_hot_path_does_not_allocate(void **state) {
        (void) state;
#ifdef HAVE_ALLOC_HOOKS
        PendingTable *t = pending_new(65536, 60 * SEC);
        StrView v[] = { SV("curl"), SV("127.0.0.1"), SV("443") };
        PendingMatch m;

        for (int32_t i = 0; i < 64; i++) {
                TidKey k = tid_key(i);
                pending_push(t, tid_part(&k), 1, (uint64_t) i, 0, v, 3);
        }
        for (int32_t i = 0; i < 64; i++) {
                TidKey k = tid_key(i);
                assert_true(pending_pop(t, tid_part(&k), 1, 100, &m));
        }

        assert_int_equal(__sanitizer_install_malloc_and_free_hooks(count_alloc, ignore_free), 1);
        n_allocs = 0;
        for (int32_t i = 0; i < 10000; i++) {
                TidKey k = tid_key(i % 50);
                pending_push(t, tid_part(&k), 1, 1000 + (uint64_t) i, 0, v, 3);
                if (i % 50 == 49)
                        for (int32_t j = 0; j < 50; j++) {
                                TidKey kj = tid_key(j);
                                assert_true(pending_pop(t, tid_part(&kj), 1, 1000 + (uint64_t) i, &m));
                        }
        }
        size_t during = n_allocs;
        /* A value too long for the entry allocates, or the hook counts
         * nothing at all. */
        char big[200] = { 0 };
        TidKey k = tid_key(1);
        pending_push(t, tid_part(&k), 1, 20000, 0, (StrView[]){ { big, sizeof(big) } }, 1);
        size_t after_big = n_allocs;
        __sanitizer_install_malloc_and_free_hooks(NULL, NULL);

        assert_int_equal(during, 0);
        assert_true(after_big > 0);
        pending_free(t);
#else
        skip();
#endif
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_interleaved_threads),
                cmocka_unit_test(test_nested),
                cmocka_unit_test(test_missing),
                cmocka_unit_test(test_newer_skipped),
                cmocka_unit_test(test_eviction),
                cmocka_unit_test(test_expiry),
                cmocka_unit_test(test_key_parts),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_random_model),
                cmocka_unit_test(test_bytes_bounded),
                cmocka_unit_test(test_set_limits),
                cmocka_unit_test(test_hot_path_does_not_allocate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
