/* The metrics store: one Family per metric (a counter of events, a
 * counter that sums values, or a histogram), each holding up to max_series
 * label sets in a hash table, each with the exemplar of the latest event
 * that hit it. Pure code. */
#pragma once

#include <stdint.h>

#include "expo.h"
#include "util.h"

typedef enum FamilyKind {
        FAMILY_COUNTER,   /* +N per event, an integer */
        FAMILY_SUM,       /* a counter adding observed values (a float) */
        FAMILY_HISTOGRAM, /* observations in buckets, with their sum and count */
} FamilyKind;

/* A histogram's buckets: upper bounds, strictly increasing, and the text
 * each is shown as (le="..."). Copied. */
typedef struct FamilyShape {
        FamilyKind kind;
        const double *bounds;
        const char *const *bound_text;
        size_t n_bounds;
} FamilyShape;

typedef struct Family Family;
/* One label set of a family; owned by it, never moves or goes away while
 * the family lives. */
typedef struct Series Series;

/* Copies name, help and label names. max_series 0 means unlimited. */
Family *family_new(const char *name, const char *help, const char *const *labels, size_t n_labels,
                   size_t max_series);
/* The same for any kind; shape NULL is a counter. */
Family *family_new_shaped(const char *name, const char *help, const char *const *labels, size_t n_labels,
                          size_t max_series, const FamilyShape *shape);
Family *family_free(Family *f); /* accepts NULL, returns NULL */
FamilyKind family_kind(const Family *f);
/* Whether a and b count the same way (kind, bounds): a reload keeps the
 * counts of one in the other only then. */
bool family_shape_same(const Family *f, const FamilyShape *shape);

/* Adds `by` to the series with these label values (n_labels of them,
 * copied on first use), creating it if the family has room. Returns 0, or
 * -ENOSPC when the series is new and the family already holds max_series
 * (the refusal is counted, see family_refused()). */
int family_add(Family *f, const StrView *values, uint64_t by);
/* The same, returning the series counted (for series_add() and a
 * SeriesCache), or NULL when refused. */
Series *family_add_series(Family *f, const StrView *values, uint64_t by);
/* The series of these label values, created (at zero) if the family has
 * room; NULL when refused (counted). */
Series *family_lookup_series(Family *f, const StrView *values);
void series_add(Series *s, uint64_t by);
/* A counter: adds by; the event (seq, its trace-clock time) becomes the
 * exemplar. */
void series_count(Series *s, uint64_t by, uint64_t seq, uint64_t ts_ns);
/* A sum: adds v. A histogram: counts v in the first bucket whose bound is
 * >= v (or +Inf), adds it to the sum and the count. The event becomes the
 * exemplar of what it hit. */
void series_observe(const Family *f, Series *s, double v, uint64_t seq, uint64_t ts_ns);

/* For a family the kernel counts (khist.h), rebuilt from its totals at
 * each scrape: every series back to 0 (kept, in its order), then n
 * observations of bucket (a histogram; a counter adds n, a sum adds sum)
 * whose values sum to sum; the kernel's refusals. */
void family_zero(Family *f);
void series_add_observations(const Family *f, Series *s, size_t bucket, uint64_t n, double sum);
void family_set_refused(Family *f, uint64_t n);

/* The value of one series, 0 if it does not exist: a counter's count, a
 * histogram's count of observations. */
uint64_t family_get(const Family *f, const StrView *values);
/* A sum's value, a histogram's sum; 0 if it does not exist. */
double family_get_sum(const Family *f, const StrView *values);
/* A histogram's bucket i (0..n_bounds, the last is +Inf), not cumulative. */
uint64_t family_get_bucket(const Family *f, const StrView *values, size_t i);
size_t family_series(const Family *f);
uint64_t family_refused(const Family *f);
const char *family_name(const Family *f);
/* For a reload: new series are refused beyond this (existing ones stay). */
void family_set_max_series(Family *f, size_t max_series);

/* Appends the family's metadata and one sample per series (a histogram:
 * its cumulative _bucket{le} samples, +Inf last, then _sum and _count), in
 * the order series were created; exemplars in OpenMetrics. */
void family_render(const Family *f, Expo *e);
/* Bytes the family's series take (for the benchmark's figures). */
size_t family_bytes(const Family *f);

/* A bounded map from keys (the caller's encoding of an event's raw,
 * undecoded label values: a tuple of tagged byte strings) to series.
 * Several keys may map to one series: two raw tuples that decode to one
 * label set are resolved through the family once each, and both then count
 * into its one series. Holds at most max_entries keys of at most max_key
 * bytes each (5 per part and the parts' bytes), and of at most
 * max(64 * max_entries, 4 * max_key) bytes in all; when full it starts
 * over empty, so memory stays bounded whatever the events are. It owns no
 * series: it must not outlive the family they belong to. */

typedef struct SeriesKeyPart {
        uint8_t tag;   /* what the bytes are (the caller's choice): keeps equal bytes of other sources apart */
        StrView bytes;
} SeriesKeyPart;

typedef struct SeriesCache SeriesCache;

SeriesCache *series_cache_new(size_t max_entries, size_t max_key); /* max_entries >= 1 */
SeriesCache *series_cache_free(SeriesCache *c);    /* accepts NULL, returns NULL */
/* Bytes the key takes; over the cache's max_key it is never held. */
size_t series_cache_key_size(const SeriesKeyPart *parts, size_t n);
/* The series of this key, or NULL when the key is not held; then *hash is
 * set for series_cache_put(). The key found last is tried first, without
 * hashing: a flood is mostly one label set. */
Series *series_cache_get(SeriesCache *c, const SeriesKeyPart *parts, size_t n, uint64_t *hash);
/* Remembers key -> s, for a key series_cache_get() did not find (with the
 * hash it gave). A key over max_key bytes is not stored. */
void series_cache_put(SeriesCache *c, uint64_t hash, const SeriesKeyPart *parts, size_t n, Series *s);
size_t series_cache_size(const SeriesCache *c);
size_t series_cache_max_key(const SeriesCache *c);
/* How often it was full and started over. */
uint64_t series_cache_resets(const SeriesCache *c);
