/* The ring of recent events: sequence numbers, eviction, slot reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "config.h"
#include "ring.h"

#include "alloc-count.h"

static void assert_sv(StrView v, const char *want) {
        assert_int_equal(v.n, strlen(want));
        if (v.n > 0)
                assert_memory_equal(v.p, want, v.n);
}

/* The seed's event as the kernel printed it. */
static const StrView seed_names[] = { SV("type"), SV("port"), SV("addr") };
static const StrView seed_values[] = { SV("2"), SV("6400"), SV("16777343") };

static RingEventView seed_event(void) {
        return (RingEventView){
                .probe = 1,
                .comm = SV("nc"),
                .pid = 89,
                .tgid = -1,
                .cpu = 0,
                .timestamp = SV("3.021029"),
                .names = seed_names,
                .values = seed_values,
                .n_fields = 3,
        };
}

static void test_empty(void **state) {
        (void) state;
        Ring *r = ring_new(4);
        RingEventView ev;

        assert_int_equal(ring_capacity(r), 4);
        assert_int_equal(ring_next_seq(r), 1);
        assert_int_equal(ring_oldest_seq(r), 1);
        assert_false(ring_get(r, 0, &ev));
        assert_false(ring_get(r, 1, &ev));
        ring_free(r);
        assert_null(ring_free(NULL));
}

static void test_push_get(void **state) {
        (void) state;
        Ring *r = ring_new(4);
        RingEventView in = seed_event(), ev;

        /* The ring copies: the caller's buffers are reused for the next line. */
        char comm[] = "nc";
        char value[] = "6400";
        StrView values[] = { SV("2"), { value, 4 }, SV("16777343") };
        in.comm = (StrView){ comm, 2 };
        in.values = values;

        assert_int_equal(ring_push(r, &in), 1);
        memcpy(comm, "xx", 2);
        memcpy(value, "9999", 4);

        assert_true(ring_get(r, 1, &ev));
        assert_int_equal(ev.seq, 1);
        assert_int_equal(ev.probe, 1);
        assert_sv(ev.comm, "nc");
        assert_int_equal(ev.pid, 89);
        assert_int_equal(ev.tgid, -1);
        assert_int_equal(ev.cpu, 0);
        assert_sv(ev.timestamp, "3.021029");
        assert_int_equal(ev.n_fields, 3);
        assert_sv(ev.names[0], "type");
        assert_sv(ev.names[1], "port");
        assert_sv(ev.names[2], "addr");
        assert_sv(ev.values[0], "2");
        assert_sv(ev.values[1], "6400");
        assert_sv(ev.values[2], "16777343");

        assert_int_equal(ring_next_seq(r), 2);
        assert_int_equal(ring_oldest_seq(r), 1);
        assert_false(ring_get(r, 2, &ev));
        assert_false(ring_get(r, 0, &ev));
        ring_free(r);
}

static void test_eviction(void **state) {
        (void) state;
        Ring *r = ring_new(3);
        RingEventView in = seed_event(), ev;
        char pidtext[16];

        for (int i = 1; i <= 10; i++) {
                snprintf(pidtext, sizeof(pidtext), "%d", i * 100);
                in.pid = i;
                in.comm = sv_from(pidtext);
                assert_int_equal(ring_push(r, &in), (uint64_t) i);

                uint64_t oldest = i > 3 ? (uint64_t) i - 2 : 1;
                assert_int_equal(ring_oldest_seq(r), oldest);
                assert_int_equal(ring_next_seq(r), (uint64_t) i + 1);
        }

        /* 10 pushed into 3 slots: 8, 9, 10 remain. */
        assert_false(ring_get(r, 7, &ev));
        assert_false(ring_get(r, 11, &ev));
        for (uint64_t seq = 8; seq <= 10; seq++) {
                assert_true(ring_get(r, seq, &ev));
                assert_int_equal(ev.seq, seq);
                assert_int_equal(ev.pid, (int32_t) seq);
                snprintf(pidtext, sizeof(pidtext), "%d", (int) seq * 100);
                assert_sv(ev.comm, pidtext);
        }
        ring_free(r);
}

static void test_capacity_one(void **state) {
        (void) state;
        Ring *r = ring_new(1);
        RingEventView in = seed_event(), ev;

        assert_int_equal(ring_push(r, &in), 1);
        in.pid = 2;
        assert_int_equal(ring_push(r, &in), 2);
        assert_int_equal(ring_oldest_seq(r), 2);
        assert_int_equal(ring_next_seq(r), 3);
        assert_false(ring_get(r, 1, &ev));
        assert_true(ring_get(r, 2, &ev));
        assert_int_equal(ev.pid, 2);
        ring_free(r);
}

/* A slot that held a big event then a small one then a big one again keeps
 * every byte right, and reuses its arena for the smaller ones. */
static void test_slot_reuse(void **state) {
        (void) state;
        Ring *r = ring_new(2);
        RingEventView ev;

        char big[5000];
        memset(big, 'B', sizeof(big));
        StrView big_names[20], big_values[20];
        char namebuf[20][8];
        for (int i = 0; i < 20; i++) {
                snprintf(namebuf[i], sizeof(namebuf[i]), "arg%d", i);
                big_names[i] = sv_from(namebuf[i]);
                big_values[i] = (StrView){ big, 100 + (size_t) i * 200 };
        }
        RingEventView large = {
                .probe = 0,
                .comm = SV("python3"),
                .pid = 18066,
                .tgid = 18066,
                .cpu = 1,
                .timestamp = SV("972.294794"),
                .names = big_names,
                .values = big_values,
                .n_fields = 20,
        };
        RingEventView small = seed_event();
        RingEventView bare = {
                .probe = 2,
                .comm = SV(""),
                .pid = 0,
                .tgid = 0,
                .cpu = 3,
                .timestamp = SV(""),
                .n_fields = 0,
        };

        assert_int_equal(ring_push(r, &large), 1);
        assert_true(ring_get(r, 1, &ev));
        const char *arena = ev.comm.p;

        assert_int_equal(ring_push(r, &small), 2);
        assert_int_equal(ring_push(r, &small), 3); /* reuses seq 1's slot */
        assert_true(ring_get(r, 3, &ev));
        assert_ptr_equal(ev.comm.p, arena);
        assert_sv(ev.comm, "nc");
        assert_int_equal(ev.n_fields, 3);
        assert_sv(ev.values[2], "16777343");
        assert_int_equal(ev.tgid, -1);

        assert_int_equal(ring_push(r, &bare), 4);
        assert_true(ring_get(r, 4, &ev));
        assert_sv(ev.comm, "");
        assert_sv(ev.timestamp, "");
        assert_int_equal(ev.n_fields, 0);
        assert_int_equal(ev.cpu, 3);
        assert_int_equal(ev.probe, 2);

        /* Seq 5 goes into the slot of 1 and 3 again. */
        assert_int_equal(ring_push(r, &large), 5);
        assert_true(ring_get(r, 5, &ev));
        assert_ptr_equal(ev.comm.p, arena);
        assert_sv(ev.comm, "python3");
        assert_sv(ev.timestamp, "972.294794");
        assert_int_equal(ev.tgid, 18066);
        assert_int_equal(ev.n_fields, 20);
        for (int i = 0; i < 20; i++) {
                assert_sv(ev.names[i], namebuf[i]);
                assert_int_equal(ev.values[i].n, 100 + (size_t) i * 200);
                for (size_t k = 0; k < ev.values[i].n; k++)
                        assert_int_equal(ev.values[i].p[k], 'B');
        }

        /* Seq 4 (the bare one) is still intact beside it. */
        assert_true(ring_get(r, 4, &ev));
        assert_int_equal(ev.cpu, 3);
        assert_false(ring_get(r, 3, &ev));
        ring_free(r);
}

static void test_push_does_not_allocate_after_warmup(void **state) {
        (void) state;
#ifdef HAVE_ALLOC_HOOKS
        Ring *r = ring_new(8);
        RingEventView in = seed_event(), ev;
        const Decoder ntohs = { .field = (char *) "port", .kind = DECODER_NTOHS };
        const Decoder *decoders[] = { NULL, &ntohs, NULL };
        char line[] = "nc 3.021029 type=2 port=6400 addr=16777343";
        StrView names[] = { { line + 12, 4 }, { line + 19, 4 }, { line + 29, 4 } };
        StrView values[] = { { line + 17, 1 }, { line + 24, 4 }, { line + 34, 8 } };

        /* Half the pushes as the pipeline makes them: views into the line,
         * with decoders. */
        for (int i = 0; i < 8; i++)
                ring_push(r, &in);
        RingEventView backed = in;
        backed.comm = (StrView){ line, 2 };
        backed.timestamp = (StrView){ line + 3, 8 };
        backed.names = names;
        backed.values = values;
        backed.decoders = decoders;
        backed.backing = (StrView){ line, sizeof(line) - 1 };
        for (int i = 0; i < 8; i++)
                ring_push(r, &backed);

        assert_int_equal(__sanitizer_install_malloc_and_free_hooks(count_alloc, ignore_free), 1);
        n_allocs = 0;
        for (int i = 0; i < 1000; i++)
                ring_push(r, i % 2 ? &in : &backed);
        size_t during = n_allocs;
        /* A bigger event than the slot has seen must grow it: the hook counts. */
        char big[4096];
        memset(big, 'x', sizeof(big));
        in.comm = (StrView){ big, sizeof(big) };
        ring_push(r, &in);
        size_t after_big = n_allocs;
        __sanitizer_install_malloc_and_free_hooks(NULL, NULL);

        assert_int_equal(during, 0);
        assert_true(after_big > 0);
        assert_int_equal(ring_next_seq(r), 1018);
        assert_true(ring_get(r, 1015, &ev)); /* a backed one */
        assert_sv(ev.values[2], "16777343");
        assert_ptr_equal(ev.decoders[1], &ntohs);
        assert_true(ring_get(r, 1017, &ev));
        assert_int_equal(ev.comm.n, sizeof(big));
        ring_free(r);
#else
        skip();
#endif
}


/* With a backing text (the trace line), views inside it are stored by one
 * copy of it; views outside (a name from the config, a comm from /proc)
 * are copied on their own. Either way the event reads back intact after
 * the caller's buffers change. */
static void test_backing(void **state) {
        (void) state;
        Ring *r = ring_new(2);
        RingEventView ev;
        char line[] = "              nc-89      [000] .....     3.021029: mysocket_event: (0x1) type=2 port=6400";
        char *type = strstr(line, "type"), *port = strstr(line, "port");
        StrView names[] = { { type, 4 }, SV("port") /* outside */ };
        StrView values[] = { { type + 5, 1 }, { port + 5, 4 } };
        char comm[] = "resolved";
        RingEventView in = {
                .probe = 1,
                .comm = { strstr(line, "nc"), 2 },
                .pid = 89,
                .tgid = -1,
                .timestamp = { strstr(line, "3.021029"), 8 },
                .names = names,
                .values = values,
                .n_fields = 2,
                .backing = { line, sizeof(line) - 1 },
        };

        assert_int_equal(ring_push(r, &in), 1);
        in.comm = (StrView){ comm, sizeof(comm) - 1 }; /* outside too */
        names[1] = (StrView){ port, 4 };               /* now all inside but comm */
        assert_int_equal(ring_push(r, &in), 2);
        memset(line, 'x', sizeof(line) - 1);
        memset(comm, 'y', sizeof(comm) - 1);

        assert_true(ring_get(r, 1, &ev));
        assert_sv(ev.comm, "nc");
        assert_sv(ev.timestamp, "3.021029");
        assert_sv(ev.names[0], "type");
        assert_sv(ev.values[0], "2");
        assert_sv(ev.names[1], "port");
        assert_sv(ev.values[1], "6400");
        assert_null(ev.decoders);
        assert_true(ring_get(r, 2, &ev));
        assert_sv(ev.comm, "resolved");
        assert_sv(ev.names[1], "port");
        assert_sv(ev.values[1], "6400");

        /* A view that only starts inside is copied whole. */
        char other[] = "type=2 port=6400";
        StrView straddle[] = { { other + 12, 4 } };
        RingEventView edge = { .comm = SV("x"), .timestamp = SV("1"), .names = straddle,
                               .values = straddle, .n_fields = 1, .backing = { other, 14 } };
        ring_push(r, &edge);
        memset(other, 'z', sizeof(other) - 1);
        assert_true(ring_get(r, 3, &ev));
        assert_sv(ev.values[0], "6400");
        ring_free(r);
}

/* Decoders are kept per event (how to read its values when rendered),
 * also when a slot is reused by an event without them; ring_materialize()
 * replaces every stored value by its decoded text. */
static void test_decoders_materialize(void **state) {
        (void) state;
        Ring *r = ring_new(3);
        const Decoder ntohs = { .field = (char *) "port", .kind = DECODER_NTOHS };
        const Decoder ipv4 = { .field = (char *) "addr", .kind = DECODER_IPV4 };
        const Decoder *decoders[] = { NULL, &ntohs, &ipv4 };
        RingEventView in = seed_event(), ev;

        in.decoders = decoders;
        ring_push(r, &in); /* 1: evicted below */
        ring_push(r, &in); /* 2 */
        in.decoders = NULL;
        ring_push(r, &in); /* 3: no decoders */
        in.decoders = decoders;
        in.pid = 4;
        ring_push(r, &in); /* 4, into 1's slot */

        assert_true(ring_get(r, 2, &ev));
        assert_ptr_equal(ev.decoders[1], &ntohs);
        assert_sv(ev.values[1], "6400");
        assert_true(ring_get(r, 3, &ev));
        assert_null(ev.decoders);

        ring_materialize(r);
        for (uint64_t seq = 2; seq <= 4; seq++) {
                assert_true(ring_get(r, seq, &ev));
                assert_int_equal(ev.seq, seq);
                assert_null(ev.decoders);
                assert_sv(ev.names[1], "port");
                assert_sv(ev.values[0], "2");
                /* 3 had no decoders: its values stay as stored. */
                assert_sv(ev.values[1], seq == 3 ? "6400" : "25");
                assert_sv(ev.values[2], seq == 3 ? "16777343" : "127.0.0.1");
                assert_sv(ev.comm, "nc");
                assert_sv(ev.timestamp, "3.021029");
        }
        assert_true(ring_get(r, 4, &ev));
        assert_int_equal(ev.pid, 4);
        assert_false(ring_get(r, 1, &ev));

        /* The ring goes on as before. */
        in.decoders = NULL;
        assert_int_equal(ring_push(r, &in), 5);
        assert_true(ring_get(r, 5, &ev));
        assert_sv(ev.values[2], "16777343");
        ring_free(r);
}

/* recent_events changed by a reload: the ring keeps the newest events that
 * fit and its sequence numbers, and never claims events it does not hold. */
static void test_resize(void **state) {
        (void) state;
        Ring *r = ring_new(4);
        RingEventView ev = seed_event(), got;
        for (int i = 1; i <= 10; i++) {
                ev.pid = i;
                ring_push(r, &ev);
        }
        assert_int_equal(ring_oldest_seq(r), 7);

        ring_resize(r, 8); /* grow: the 4 held stay, slots 5..8 are empty */
        assert_int_equal(ring_capacity(r), 8);
        assert_int_equal(ring_oldest_seq(r), 7);
        assert_int_equal(ring_next_seq(r), 11);
        assert_false(ring_get(r, 6, &got));
        for (uint64_t seq = 7; seq <= 10; seq++) {
                assert_true(ring_get(r, seq, &got));
                assert_int_equal(got.seq, seq);
                assert_int_equal(got.pid, (int32_t) seq);
                assert_sv(got.values[1], "6400");
        }
        for (int i = 11; i <= 14; i++) {
                ev.pid = i;
                assert_int_equal(ring_push(r, &ev), (uint64_t) i);
        }
        assert_int_equal(ring_oldest_seq(r), 7); /* 8 held */
        ev.pid = 15;
        ring_push(r, &ev);
        assert_int_equal(ring_oldest_seq(r), 8);

        ring_resize(r, 2); /* shrink: the newest two */
        assert_int_equal(ring_oldest_seq(r), 14);
        assert_int_equal(ring_next_seq(r), 16);
        assert_false(ring_get(r, 13, &got));
        assert_true(ring_get(r, 14, &got));
        assert_int_equal(got.pid, 14);
        assert_true(ring_get(r, 15, &got));
        assert_int_equal(got.pid, 15);
        ring_resize(r, 2); /* same size: nothing changes */
        assert_int_equal(ring_oldest_seq(r), 14);
        ring_free(r);

        /* An empty ring resized starts at 1 as any. */
        r = ring_new(3);
        ring_resize(r, 5);
        assert_int_equal(ring_oldest_seq(r), 1);
        assert_int_equal(ring_push(r, &ev), 1);
        ring_free(r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_push_get),
                cmocka_unit_test(test_eviction),
                cmocka_unit_test(test_capacity_one),
                cmocka_unit_test(test_slot_reuse),
                cmocka_unit_test(test_push_does_not_allocate_after_warmup),
                cmocka_unit_test(test_backing),
                cmocka_unit_test(test_decoders_materialize),
                cmocka_unit_test(test_resize),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
