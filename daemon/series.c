#include "series.h"

#include <errno.h>

#include "expo.h"

/* One label set and its count. The StrViews and the bytes they point to
 * share this one allocation, made when the series is created: counting an
 * existing series then touches no allocator at all. */
typedef struct Series {
        uint64_t hash;
        uint64_t value;
        StrView values[]; /* n_labels of them, followed by the value bytes */
} Series;

struct Family {
        char *name;
        char *help;
        char **labels;
        size_t n_labels;
        size_t max_series;
        uint64_t refused;

        /* Creation order is render order, so /metrics output is stable
         * between scrapes and series never move. */
        Series **series;
        size_t n_series, cap_series;

        /* Open addressing with linear probing; a slot holds index+1 into
         * series[] (0 = empty). The table size is a power of two and kept at
         * most half full, so probe runs stay short. Nothing is ever removed,
         * so no tombstones are needed. */
        uint32_t *slots;
        size_t n_slots;
};

/* Each value is hashed after its length, so the tuple ("ab","c") and
 * ("a","bc") hash (and compare) differently. FNV-1a's low bits are weak for
 * short keys, and the table indexes by the low bits: a final mix spreads
 * the high bits down. */
static uint64_t hash_values(const StrView *values, size_t n) {
        uint64_t h = HASH_INIT;
        for (size_t i = 0; i < n; i++) {
                uint64_t len = values[i].n;
                h = hash_bytes(h, &len, sizeof(len));
                if (values[i].n > 0)
                        h = hash_bytes(h, values[i].p, values[i].n);
        }
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        return h;
}

static bool series_matches(const Series *s, uint64_t hash, const StrView *values, size_t n) {
        if (s->hash != hash)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!sv_eq(s->values[i], values[i]))
                        return false;
        return true;
}

Family *family_new(const char *name, const char *help, const char *const *labels, size_t n_labels,
                   size_t max_series) {
        Family *f = xcalloc(1, sizeof(Family));

        f->name = xstrdup(name);
        f->help = help ? xstrdup(help) : NULL;
        f->n_labels = n_labels;
        f->labels = xcalloc(n_labels, sizeof(char *));
        for (size_t i = 0; i < n_labels; i++)
                f->labels[i] = xstrdup(labels[i]);
        f->max_series = max_series;
        f->n_slots = 16;
        f->slots = xcalloc(f->n_slots, sizeof(uint32_t));
        return f;
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
        free(f->help);
        free(f->name);
        free(f);
        return NULL;
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
        free(f->slots);
        f->slots = slots;
        f->n_slots = n;
}

static Series *series_new(const StrView *values, size_t n, uint64_t hash) {
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++)
                bytes += values[i].n;

        Series *s = xmalloc(sizeof(Series) + n * sizeof(StrView) + bytes);
        char *p = (char *) (s->values + n);
        s->hash = hash;
        s->value = 0;
        for (size_t i = 0; i < n; i++) {
                if (values[i].n > 0)
                        memcpy(p, values[i].p, values[i].n);
                s->values[i] = (StrView){ p, values[i].n };
                p += values[i].n;
        }
        return s;
}

int family_add(Family *f, const StrView *values, uint64_t by) {
        uint64_t hash = hash_values(values, f->n_labels);
        size_t slot = find_slot(f, hash, values);

        if (f->slots[slot] != 0) {
                f->series[f->slots[slot] - 1]->value += by;
                return 0;
        }

        /* Slots hold a uint32_t index, which bounds an unlimited family too. */
        if ((f->max_series > 0 && f->n_series >= f->max_series) || f->n_series >= UINT32_MAX - 1) {
                f->refused++;
                return -ENOSPC;
        }

        if (f->n_series == f->cap_series) {
                f->cap_series = f->cap_series ? f->cap_series * 2 : 8;
                f->series = xrealloc(f->series, f->cap_series * sizeof(Series *));
        }
        Series *s = series_new(values, f->n_labels, hash);
        s->value = by;
        f->series[f->n_series++] = s;
        f->slots[slot] = (uint32_t) f->n_series;

        if (f->n_series * 2 > f->n_slots)
                grow_table(f);
        return 0;
}

uint64_t family_get(const Family *f, const StrView *values) {
        size_t slot = find_slot(f, hash_values(values, f->n_labels), values);
        uint32_t idx = f->slots[slot];
        return idx ? f->series[idx - 1]->value : 0;
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

void family_render(const Family *f, Buf *out) {
        expo_put_header(out, f->name, "counter", f->help);
        for (size_t i = 0; i < f->n_series; i++)
                expo_put_sample_u64(out, f->name, (const char *const *) f->labels, f->series[i]->values,
                                    f->n_labels, f->series[i]->value);
}

void family_set_max_series(Family *f, size_t max_series) {
        /* Series beyond a lowered limit stay: counters never go backwards. */
        f->max_series = max_series;
}
