/* The bounded ring of recent events, addressed by sequence number. Values
 * are kept as the kernel printed them, with the decoders that render them
 * (see RingEventView.decoders). Slots are reused: after warm-up a push
 * allocates nothing. Pure code. */
#pragma once

#include <stdint.h>

#include "util.h"

typedef struct Decoder Decoder; /* config.h */

typedef struct RingEventView {
        uint64_t seq;      /* set by ring_get(); ignored by ring_push() */
        uint32_t probe;    /* index into the caller's probe table */
        StrView comm;
        int32_t pid, tgid, cpu;
        StrView timestamp;
        /* Tasks' cgroups are followed (attrib.h): the event's cgroup path,
         * when it is known (cgroup_known). Not attributed: no cgroup. */
        bool attributed, cgroup_known;
        StrView cgroup;
        const StrView *names;  /* n_fields of each */
        const StrView *values;
        size_t n_fields;
        /* NULL, or per field the decoder its value still needs: the hot path
         * stores values as the kernel printed them, and decode_value() runs
         * when an event is rendered (most are never looked at). NULL
         * entries are final. The decoders must stay alive as long as the
         * event is stored: see ring_materialize(). */
        const Decoder *const *decoders;
        /* ring_push() only, optional: text most views point into (the trace
         * line). It is copied once and those views re-pointed, instead of
         * one copy per view; views outside it are copied on their own. */
        StrView backing;
} RingEventView;

typedef struct Ring Ring;

Ring *ring_new(size_t capacity); /* capacity >= 1 */
Ring *ring_free(Ring *r);        /* accepts NULL, returns NULL */

/* Copies the event into the ring, evicting the oldest when full. Returns the
 * event's sequence number: the first push gets 1, then 2, 3, ... */
uint64_t ring_push(Ring *r, const RingEventView *ev);

/* The seq the next push will get (so the newest stored is this minus 1). */
uint64_t ring_next_seq(const Ring *r);
/* The seq of the oldest stored event (== ring_next_seq() when empty). */
uint64_t ring_oldest_seq(const Ring *r);
size_t ring_capacity(const Ring *r);
/* Changes the capacity, keeping the newest events that fit and the
 * sequence numbers: the next push goes on where the ring was, so readers
 * of /events continue across a reload that changes recent_events. */
void ring_resize(Ring *r, size_t capacity);

/* Fills *ev with views into the ring's storage (valid until the next push).
 * Returns false if seq is not stored (evicted or not yet written). */
bool ring_get(const Ring *r, uint64_t seq, RingEventView *ev);

/* Decodes, with their decoders, the values of every stored event that has
 * some, and stores the text instead: afterwards no event refers to a
 * decoder. For a reload, before the decoders of the old config go away. */
void ring_materialize(Ring *r);
