/* The table of pending entry events of a latency metric: each event of the
 * metric's `latency_from` probe pushes its key (the raw fields that pair an
 * entry with its return, e.g. the tid), its time and a few saved raw label
 * values; each return event pops the entry it closes and the caller
 * observes the difference. Bounded in entries and in time. Pure code. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "series.h"
#include "util.h"

/* A saved value longer than this is cut to it. */
#define PENDING_VALUE_MAX 4096u
/* A larger max_pending is taken as this (entries are indexed by 32 bits). */
#define PENDING_LIMIT_MAX (1u << 24)

typedef struct PendingTable PendingTable;

typedef struct PendingMatch {
        uint64_t ts_ns;        /* the entry's time */
        uint64_t seq;          /* what the caller stored with it */
        const StrView *values; /* the saved values; valid until the next call that changes the table */
        size_t n_values;
} PendingMatch;

/* At most max_pending (>= 1; 0 is taken as 1) live entries; an entry more
 * than timeout_ns older than the newest time the table was given (push,
 * pop, expire) is dropped; timeout 0 = never. Allocates nothing more until
 * the first push. */
PendingTable *pending_new(size_t max_pending, uint64_t timeout_ns);
PendingTable *pending_free(PendingTable *t); /* accepts NULL, returns NULL */

/* Copies the key (n_key tagged parts; two keys are equal when tags,
 * lengths and bytes are equal part by part, and they have as many parts)
 * and the values (each cut to PENDING_VALUE_MAX bytes) into a new entry.
 * Drops expired entries first; when the table is full, the oldest entry
 * (in push order) is evicted and counted. */
void pending_push(PendingTable *t, const SeriesKeyPart *key, size_t n_key, uint64_t ts_ns, uint64_t seq,
                  const StrView *values, size_t n_values);

/* Removes the entry of this key with the greatest time <= ts_ns (of equal
 * times, the one pushed last: nested calls of one thread pair last in,
 * first out) and returns true with it in *ret, whose values the table
 * owns. Entries of the key that are newer than ts_ns started after this
 * return and stay. False when there is none, or when the one found has
 * expired (it is then dropped and counted, as by pending_expire()). */
bool pending_pop(PendingTable *t, const SeriesKeyPart *key, size_t n_key, uint64_t ts_ns, PendingMatch *ret);

/* Takes now_ns as the newest time seen (if it is newer) and drops expired
 * entries, oldest pushed first, up to the first that has not expired.
 * pending_push() and pending_pop() do the same with their ts_ns. */
void pending_expire(PendingTable *t, uint64_t now_ns);

size_t pending_size(const PendingTable *t);      /* live entries */
uint64_t pending_evicted(const PendingTable *t); /* entries pushed out by a full table */
uint64_t pending_expired(const PendingTable *t); /* entries dropped for their age */
/* Bytes the table holds: itself, the entries' slab, the hash buckets, the
 * entries too long to fit in the slab, a pop's scratch (key, views). */
size_t pending_bytes(const PendingTable *t);

/* For a reload that changes max_pending/timeout: new limits; entries over
 * a lowered max are evicted (counted), oldest first, and the slab shrinks
 * to the new max; entries older than a lowered timeout expire (counted). */
void pending_set_limits(PendingTable *t, size_t max_pending, uint64_t timeout_ns);
