#include "series.h"

#include <errno.h>
#include <math.h>

#include "expo.h"

/* One label set and its numbers. The StrViews, the buckets, the exemplars
 * and the bytes the views point to share this one allocation, made when the
 * series is created: counting an existing series then touches no allocator
 * at all. */
typedef struct Series {
        uint64_t hash;
        uint64_t count;        /* a counter's value; a histogram's observations */
        double sum;            /* a sum's value; a histogram's sum */
        uint64_t *buckets;     /* histogram: n_bounds + 1 counts, not cumulative, +Inf last */
        Exemplar *exemplars;   /* one per bucket (histogram), else one */
        StrView values[];      /* n_labels of them, then buckets, exemplars and the value bytes */
} Series;

struct Family {
        char *name;
        char *help;
        char **labels;
        size_t n_labels;
        size_t max_series;
        uint64_t refused;
        FamilyKind kind;
        double *bounds;
        char **bound_text;
        size_t n_bounds;
        char *bucket_name, *sum_name, *count_name; /* histogram sample names */

        /* Creation order is render order, so /metrics output is stable
         * between scrapes and series never move. */
        Series **series;
        size_t n_series, cap_series;
        size_t bytes;

        /* Open addressing with linear probing; a slot holds index+1 into
         * series[] (0 = empty). The table size is a power of two and kept at
         * most half full, so probe runs stay short. Nothing is ever removed,
         * so no tombstones are needed. */
        uint32_t *slots;
        size_t n_slots;
};

/* Each value is hashed with its length, so the tuple ("ab","c") and
 * ("a","bc") hash (and compare) differently. The table indexes by the low
 * bits: hash_final() spreads the high bits down. */
static uint64_t hash_values(const StrView *values, size_t n) {
        uint64_t h = HASH_INIT;
        for (size_t i = 0; i < n; i++)
                h = hash_mem(h, values[i].p, values[i].n);
        return hash_final(h);
}

static bool series_matches(const Series *s, uint64_t hash, const StrView *values, size_t n) {
        if (s->hash != hash)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!sv_eq(s->values[i], values[i]))
                        return false;
        return true;
}

static char *name_with(const char *name, const char *suffix) {
        size_t a = strlen(name), b = strlen(suffix);
        char *s = xmalloc(a + b + 1);
        memcpy(s, name, a);
        memcpy(s + a, suffix, b + 1);
        return s;
}

Family *family_new_shaped(const char *name, const char *help, const char *const *labels, size_t n_labels,
                          size_t max_series, const FamilyShape *shape) {
        Family *f = xcalloc(1, sizeof(Family));

        f->name = xstrdup(name);
        f->help = help ? xstrdup(help) : NULL;
        f->n_labels = n_labels;
        f->labels = xcalloc(n_labels ? n_labels : 1, sizeof(char *));
        for (size_t i = 0; i < n_labels; i++)
                f->labels[i] = xstrdup(labels[i]);
        f->max_series = max_series;
        f->kind = shape ? shape->kind : FAMILY_COUNTER;
        if (f->kind == FAMILY_HISTOGRAM) {
                f->n_bounds = shape->n_bounds;
                f->bounds = xcalloc(f->n_bounds ? f->n_bounds : 1, sizeof(double));
                f->bound_text = xcalloc(f->n_bounds ? f->n_bounds : 1, sizeof(char *));
                for (size_t i = 0; i < f->n_bounds; i++) {
                        f->bounds[i] = shape->bounds[i];
                        f->bound_text[i] = xstrdup(shape->bound_text[i]);
                }
                f->bucket_name = name_with(name, "_bucket");
                f->sum_name = name_with(name, "_sum");
                f->count_name = name_with(name, "_count");
        }
        f->n_slots = 16;
        f->slots = xcalloc(f->n_slots, sizeof(uint32_t));
        return f;
}

Family *family_new(const char *name, const char *help, const char *const *labels, size_t n_labels,
                   size_t max_series) {
        return family_new_shaped(name, help, labels, n_labels, max_series, NULL);
}

Family *family_free(Family *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_series; i++)
                free(f->series[i]);
        free(f->series);
        free(f->slots);
        for (size_t i = 0; i < f->n_labels; i++)
                free(f->labels[i]);
        free(f->labels);
        for (size_t i = 0; i < f->n_bounds; i++)
                free(f->bound_text[i]);
        free(f->bound_text);
        free(f->bounds);
        free(f->bucket_name);
        free(f->sum_name);
        free(f->count_name);
        free(f->help);
        free(f->name);
        free(f);
        return NULL;
}

FamilyKind family_kind(const Family *f) {
        return f->kind;
}

bool family_shape_same(const Family *f, const FamilyShape *shape) {
        FamilyKind kind = shape ? shape->kind : FAMILY_COUNTER;
        if (f->kind != kind)
                return false;
        if (kind != FAMILY_HISTOGRAM)
                return true;
        if (f->n_bounds != shape->n_bounds)
                return false;
        for (size_t i = 0; i < f->n_bounds; i++)
                if (f->bounds[i] != shape->bounds[i] || strcmp(f->bound_text[i], shape->bound_text[i]) != 0)
                        return false;
        return true;
}

/* The slot holding the matching series, or the empty slot where it would
 * go. */
static size_t find_slot(const Family *f, uint64_t hash, const StrView *values) {
        size_t mask = f->n_slots - 1;
        for (size_t i = (size_t) hash & mask;; i = (i + 1) & mask) {
                uint32_t idx = f->slots[i];
                if (idx == 0 || series_matches(f->series[idx - 1], hash, values, f->n_labels))
                        return i;
        }
}

static void grow_table(Family *f) {
        size_t n = f->n_slots * 2;
        uint32_t *slots = xcalloc(n, sizeof(uint32_t));

        for (size_t k = 0; k < f->n_series; k++) {
                size_t i = (size_t) f->series[k]->hash & (n - 1);
                while (slots[i] != 0)
                        i = (i + 1) & (n - 1);
                slots[i] = (uint32_t) (k + 1);
        }
        f->bytes += (n - f->n_slots) * sizeof(uint32_t);
        free(f->slots);
        f->slots = slots;
        f->n_slots = n;
}

static Series *series_new(const Family *f, const StrView *values, uint64_t hash, size_t *ret_size) {
        size_t n = f->n_labels, bytes = 0;
        size_t n_buckets = f->kind == FAMILY_HISTOGRAM ? f->n_bounds + 1 : 0;
        size_t n_exemplars = f->kind == FAMILY_HISTOGRAM ? n_buckets : 1;
        for (size_t i = 0; i < n; i++)
                bytes += values[i].n;

        size_t head = sizeof(Series) + n * sizeof(StrView);
        size_t size = head + n_buckets * sizeof(uint64_t) + n_exemplars * sizeof(Exemplar) + bytes;
        Series *s = xcalloc(1, size);
        s->hash = hash;
        s->buckets = n_buckets ? (uint64_t *) ((char *) s + head) : NULL;
        s->exemplars = (Exemplar *) ((char *) s + head + n_buckets * sizeof(uint64_t));
        char *p = (char *) (s->exemplars + n_exemplars);
        for (size_t i = 0; i < n; i++) {
                if (values[i].n > 0)
                        memcpy(p, values[i].p, values[i].n);
                s->values[i] = (StrView){ p, values[i].n };
                p += values[i].n;
        }
        *ret_size = size;
        return s;
}

Series *family_lookup_series(Family *f, const StrView *values) {
        uint64_t hash = hash_values(values, f->n_labels);
        size_t slot = find_slot(f, hash, values);

        if (f->slots[slot] != 0)
                return f->series[f->slots[slot] - 1];

        /* Slots hold a uint32_t index, which bounds an unlimited family too. */
        if ((f->max_series > 0 && f->n_series >= f->max_series) || f->n_series >= UINT32_MAX - 1) {
                f->refused++;
                return NULL;
        }

        if (f->n_series == f->cap_series) {
                f->cap_series = f->cap_series ? f->cap_series * 2 : 8;
                f->series = xrealloc(f->series, f->cap_series * sizeof(Series *));
        }
        size_t size;
        Series *s = series_new(f, values, hash, &size);
        f->bytes += size;
        f->series[f->n_series++] = s;
        f->slots[slot] = (uint32_t) f->n_series;

        if (f->n_series * 2 > f->n_slots)
                grow_table(f);
        return s;
}

Series *family_add_series(Family *f, const StrView *values, uint64_t by) {
        Series *s = family_lookup_series(f, values);
        if (s)
                s->count += by;
        return s;
}

int family_add(Family *f, const StrView *values, uint64_t by) {
        return family_add_series(f, values, by) ? 0 : -ENOSPC;
}

void series_add(Series *s, uint64_t by) {
        s->count += by;
}

void series_count(Series *s, uint64_t by, uint64_t seq, uint64_t ts_ns) {
        s->count += by;
        s->exemplars[0] = (Exemplar){ seq, ts_ns, (double) by };
}

/* The bucket of v: the first bound >= v, n_bounds for +Inf. */
static size_t bucket_of(const Family *f, double v) {
        size_t lo = 0, hi = f->n_bounds;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (v <= f->bounds[mid])
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return lo;
}

void series_observe(const Family *f, Series *s, double v, uint64_t seq, uint64_t ts_ns) {
        Exemplar ex = { seq, ts_ns, v };
        s->sum += v;
        if (f->kind != FAMILY_HISTOGRAM) {
                s->exemplars[0] = ex;
                return;
        }
        size_t b = isnan(v) ? f->n_bounds : bucket_of(f, v);
        s->buckets[b]++;
        s->count++;
        s->exemplars[b] = ex;
}

void family_zero(Family *f) {
        for (size_t i = 0; i < f->n_series; i++) {
                Series *s = f->series[i];
                s->count = 0;
                s->sum = 0;
                if (s->buckets)
                        memset(s->buckets, 0, (f->n_bounds + 1) * sizeof(uint64_t));
        }
}

void series_add_observations(const Family *f, Series *s, size_t bucket, uint64_t n, double sum) {
        s->sum += sum;
        if (f->kind == FAMILY_SUM)
                return;
        s->count += n;
        if (f->kind == FAMILY_HISTOGRAM)
                s->buckets[bucket <= f->n_bounds ? bucket : f->n_bounds] += n;
}

void family_set_refused(Family *f, uint64_t n) {
        f->refused = n;
}

static const Series *family_find(const Family *f, const StrView *values) {
        size_t slot = find_slot(f, hash_values(values, f->n_labels), values);
        uint32_t idx = f->slots[slot];
        return idx ? f->series[idx - 1] : NULL;
}

uint64_t family_get(const Family *f, const StrView *values) {
        const Series *s = family_find(f, values);
        return s ? s->count : 0;
}

double family_get_sum(const Family *f, const StrView *values) {
        const Series *s = family_find(f, values);
        return s ? s->sum : 0;
}

uint64_t family_get_bucket(const Family *f, const StrView *values, size_t i) {
        const Series *s = family_find(f, values);
        return s && s->buckets && i <= f->n_bounds ? s->buckets[i] : 0;
}

size_t family_series(const Family *f) {
        return f->n_series;
}

uint64_t family_refused(const Family *f) {
        return f->refused;
}

const char *family_name(const Family *f) {
        return f->name;
}

size_t family_bytes(const Family *f) {
        return f->bytes + f->n_slots * sizeof(uint32_t) + f->cap_series * sizeof(Series *);
}

static void render_histogram(const Family *f, Expo *e) {
        const char *const *labels = (const char *const *) f->labels;
        for (size_t i = 0; i < f->n_series; i++) {
                const Series *s = f->series[i];
                uint64_t cumulative = 0;
                for (size_t b = 0; b <= f->n_bounds; b++) {
                        cumulative += s->buckets[b];
                        expo_put_sample_full(e, f->bucket_name, labels, s->values, f->n_labels, "le",
                                             b < f->n_bounds ? f->bound_text[b] : "+Inf", false, cumulative, 0,
                                             &s->exemplars[b]);
                }
                expo_put_sample_double(e, f->sum_name, labels, s->values, f->n_labels, s->sum);
                expo_put_sample_u64(e, f->count_name, labels, s->values, f->n_labels, s->count);
        }
}

void family_render(const Family *f, Expo *e) {
        if (f->kind == FAMILY_HISTOGRAM) {
                expo_put_header(e, f->name, "histogram", f->help);
                render_histogram(f, e);
                return;
        }
        expo_put_header(e, f->name, "counter", f->help);
        for (size_t i = 0; i < f->n_series; i++) {
                const Series *s = f->series[i];
                expo_put_sample_full(e, f->name, (const char *const *) f->labels, s->values, f->n_labels, NULL, NULL,
                                     f->kind == FAMILY_SUM, s->count, s->sum, &s->exemplars[0]);
        }
}

void family_set_max_series(Family *f, size_t max_series) {
        /* Series beyond a lowered limit stay: counters never go backwards. */
        f->max_series = max_series;
}

/* ---- SeriesCache ---- */

typedef struct CacheEntry {
        uint64_t hash;
        Series *series;
        uint32_t off, len; /* the key's bytes in keys[] */
} CacheEntry;

struct SeriesCache {
        size_t max_entries;
        size_t max_key;       /* one key */
        size_t max_key_bytes; /* all keys */
        uint64_t resets;

        CacheEntry *entries;
        size_t n_entries, cap_entries;
        char *keys;
        size_t keys_len, keys_cap;

        /* As in Family: open addressing, index+1 per slot, at most half
         * full, nothing removed but all at once. */
        uint32_t *slots;
        size_t n_slots;
        uint32_t last; /* index+1 of the entry found last, 0 for none */
};

/* Room for keys of this average size before the cache starts over: real
 * raw tuples (a comm, an address, a port) are a few dozen bytes. And room
 * for a few of the longest keys (long strings, cut). */
#define SERIES_CACHE_AVG_KEY 64u
#define SERIES_CACHE_LONG_KEYS 4u

SeriesCache *series_cache_new(size_t max_entries, size_t max_key) {
        SeriesCache *c = xcalloc(1, sizeof(SeriesCache));

        if (max_entries == 0)
                max_entries = 1;
        /* Keeps key offsets (uint32_t) and slot indexes in range. */
        if (max_entries > (1u << 24))
                max_entries = 1u << 24;
        c->max_entries = max_entries;
        /* Keeps key offsets and lengths (uint32_t) in range. */
        if (max_key > (1u << 26))
                max_key = 1u << 26;
        c->max_key = max_key;
        c->max_key_bytes = max_entries * SERIES_CACHE_AVG_KEY;
        if (c->max_key_bytes < max_key * SERIES_CACHE_LONG_KEYS)
                c->max_key_bytes = max_key * SERIES_CACHE_LONG_KEYS;
        return c;
}

SeriesCache *series_cache_free(SeriesCache *c) {
        if (!c)
                return NULL;
        free(c->entries);
        free(c->keys);
        free(c->slots);
        free(c);
        return NULL;
}

/* The tag and the length go into one word, then the bytes; hash_word()
 * ends in a shift that folds high bits down, enough for a table that
 * compares whole keys anyway. */
static uint64_t key_hash(const SeriesKeyPart *parts, size_t n) {
        uint64_t h = HASH_INIT;
        for (size_t i = 0; i < n; i++) {
                h = hash_word(h, (uint64_t) parts[i].tag | (uint64_t) parts[i].bytes.n << 8);
                h = hash_mem_bytes(h, parts[i].bytes.p, parts[i].bytes.n);
        }
        return h;
}

/* Stored as: per part the tag, the length as 4 bytes, the bytes. */
size_t series_cache_key_size(const SeriesKeyPart *parts, size_t n) {
        size_t size = 0;
        for (size_t i = 0; i < n; i++)
                size += 5 + parts[i].bytes.n;
        return size;
}

static bool key_matches(const char *k, size_t kn, const SeriesKeyPart *parts, size_t n) {
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
                uint32_t len;
                if (kn - at < 5 || (uint8_t) k[at] != parts[i].tag)
                        return false;
                memcpy(&len, k + at + 1, 4);
                at += 5;
                if (len != parts[i].bytes.n || kn - at < len)
                        return false;
                if (!mem_eq(k + at, parts[i].bytes.p, len))
                        return false;
                at += len;
        }
        return at == kn;
}

Series *series_cache_get(SeriesCache *c, const SeriesKeyPart *parts, size_t n, uint64_t *hash) {
        if (c->last != 0) {
                const CacheEntry *e = &c->entries[c->last - 1];
                if (key_matches(c->keys + e->off, e->len, parts, n))
                        return e->series;
        }

        uint64_t h = key_hash(parts, n);
        *hash = h;
        if (c->n_entries == 0)
                return NULL;
        size_t mask = c->n_slots - 1;
        for (size_t i = (size_t) h & mask;; i = (i + 1) & mask) {
                uint32_t idx = c->slots[i];
                if (idx == 0)
                        return NULL;
                const CacheEntry *e = &c->entries[idx - 1];
                if (e->hash == h && key_matches(c->keys + e->off, e->len, parts, n)) {
                        c->last = idx;
                        return e->series;
                }
        }
}

static void cache_insert_slot(uint32_t *slots, size_t n_slots, uint64_t hash, uint32_t idx) {
        size_t mask = n_slots - 1, i = (size_t) hash & mask;
        while (slots[i] != 0)
                i = (i + 1) & mask;
        slots[i] = idx;
}

void series_cache_put(SeriesCache *c, uint64_t hash, const SeriesKeyPart *parts, size_t n_parts, Series *s) {
        size_t n = series_cache_key_size(parts, n_parts);
        if (n > c->max_key || !s)
                return;

        /* Full: start over rather than grow. A workload whose raw tuples
         * keep changing (a cardinality attack, pids as labels) then costs
         * a decode per new tuple, as without a cache, and no memory. */
        if (c->n_entries >= c->max_entries || c->keys_len + n > c->max_key_bytes) {
                c->n_entries = 0;
                c->keys_len = 0;
                c->last = 0;
                memset(c->slots, 0, c->n_slots * sizeof(uint32_t));
                c->resets++;
        }

        if (c->n_entries == c->cap_entries) {
                c->cap_entries = c->cap_entries ? c->cap_entries * 2 : 16;
                if (c->cap_entries > c->max_entries)
                        c->cap_entries = c->max_entries;
                c->entries = xrealloc(c->entries, c->cap_entries * sizeof(CacheEntry));
        }
        if (!c->keys || c->keys_len + n > c->keys_cap) { /* a key of no labels is 0 bytes: keys still exists */
                size_t cap = c->keys_cap ? c->keys_cap : 1024;
                while (cap < c->keys_len + n)
                        cap *= 2;
                c->keys = xrealloc(c->keys, cap);
                c->keys_cap = cap;
        }
        if ((c->n_entries + 1) * 2 > c->n_slots) {
                size_t n_slots = c->n_slots ? c->n_slots * 2 : 32;
                uint32_t *slots = xcalloc(n_slots, sizeof(uint32_t));
                for (size_t k = 0; k < c->n_entries; k++)
                        cache_insert_slot(slots, n_slots, c->entries[k].hash, (uint32_t) (k + 1));
                free(c->slots);
                c->slots = slots;
                c->n_slots = n_slots;
        }

        char *k = c->keys + c->keys_len;
        for (size_t i = 0; i < n_parts; i++) {
                uint32_t len = (uint32_t) parts[i].bytes.n;
                *k++ = (char) parts[i].tag;
                memcpy(k, &len, 4);
                k += 4;
                if (len > 0)
                        memcpy(k, parts[i].bytes.p, len);
                k += len;
        }
        c->entries[c->n_entries] = (CacheEntry){
                .hash = hash,
                .series = s,
                .off = (uint32_t) c->keys_len,
                .len = (uint32_t) n,
        };
        c->keys_len += n;
        c->n_entries++;
        cache_insert_slot(c->slots, c->n_slots, hash, (uint32_t) c->n_entries);
        c->last = (uint32_t) c->n_entries;
}

size_t series_cache_size(const SeriesCache *c) {
        return c->n_entries;
}

size_t series_cache_max_key(const SeriesCache *c) {
        return c->max_key;
}

uint64_t series_cache_resets(const SeriesCache *c) {
        return c->resets;
}
