#include "pending.h"

/* Entries live in one slab, grown by doubling up to max_pending (an idle
 * metric holds none) and addressed by index, so growing moves them without
 * breaking a link. Each entry is on two doubly linked lists: the age list
 * (push order, oldest at the head: eviction and expiry take from there)
 * and its hash bucket's chain, kept sorted newest first so that a pop
 * takes the first entry of its key that is not newer than the return.
 * Removing from either list is O(1). */

#define NIL UINT32_MAX
/* Key and values up to this many bytes live in the entry itself; a larger
 * entry has one allocation of its own. A tid key and a comm, an address
 * and a port fit. */
#define PENDING_INLINE 64u
#define PENDING_INITIAL_CAP 16u

typedef struct Entry {
        uint64_t ts_ns;
        uint64_t seq;
        uint32_t hash; /* indexes the buckets; compared before the key */
        uint32_t age_prev, age_next; /* age_next also links the free list */
        uint32_t chain_prev, chain_next;
        uint32_t key_len;  /* the key's encoded bytes, first in the data */
        uint32_t data_len; /* the key's and then the values' bytes */
        uint32_t n_values;
        union {
                char inline_data[PENDING_INLINE];
                char *heap;
        } u;
} Entry;

struct PendingTable {
        size_t max_pending;
        uint64_t timeout_ns;
        uint64_t watermark; /* the newest time given to push, pop or expire */
        uint64_t evicted, expired;

        Entry *entries;
        uint32_t cap;  /* slots in entries[] */
        uint32_t used; /* slots [0, used) have been handed out; the rest never */
        uint32_t n_live;
        uint32_t free_head;
        uint32_t age_head, age_tail; /* oldest and newest pushed */
        /* The entry the last pop returned: off every list, its data still
         * in place for the caller's PendingMatch until the next call that
         * changes the table frees it. */
        uint32_t held;

        uint32_t *buckets; /* head of each chain, NIL if empty; a power of two >= cap */
        size_t n_buckets;

        size_t heap_bytes; /* data of entries over PENDING_INLINE */
        StrView *views;    /* the match's values */
        size_t cap_views;
        /* A pop's key, encoded: here up to the size an entry holds, so
         * a pop of a short key allocates nothing, even the first. */
        char key_small[PENDING_INLINE];
        char *key_big;
        size_t cap_key_big;
};

/* Lengths are stored as LEB128: one byte below 128, two up to
 * PENDING_VALUE_MAX, so short values cost one byte of overhead. */
static size_t len_size(size_t n) {
        size_t s = 1;
        while (n >= 0x80) {
                n >>= 7;
                s++;
        }
        return s;
}

static char *put_len(char *p, size_t n) {
        while (n >= 0x80) {
                *p++ = (char) (0x80 | (n & 0x7f));
                n >>= 7;
        }
        *p++ = (char) n;
        return p;
}

/* Only for what put_len() wrote. */
static const char *get_len(const char *p, size_t *ret) {
        size_t n = 0;
        unsigned shift = 0;
        for (;;) {
                unsigned char c = (unsigned char) *p++;
                n |= (size_t) (c & 0x7f) << shift;
                if (!(c & 0x80))
                        break;
                shift += 7;
        }
        *ret = n;
        return p;
}

/* A key is stored as, per part, the tag, the length and the bytes. Every
 * part is delimited, so two keys are equal exactly when their encodings
 * are: ("ab","c") and ("a","bc") differ in their lengths, ("abc") and
 * ("abc","") in theirs. A pop encodes its key once and compares bytes. */
static size_t key_size(const SeriesKeyPart *key, size_t n) {
        size_t size = 0;
        for (size_t i = 0; i < n; i++)
                size += 1 + len_size(key[i].bytes.n) + key[i].bytes.n;
        return size;
}

static char *key_encode(char *p, const SeriesKeyPart *key, size_t n) {
        for (size_t i = 0; i < n; i++) {
                *p++ = (char) key[i].tag;
                p = put_len(p, key[i].bytes.n);
                if (key[i].bytes.n > 0)
                        memcpy(p, key[i].bytes.p, key[i].bytes.n);
                p += key[i].bytes.n;
        }
        return p;
}

static uint32_t key_hash(const char *k, size_t n) {
        return (uint32_t) hash_final(hash_mem(HASH_INIT, k, n));
}

static size_t value_len(StrView v) {
        return v.n < PENDING_VALUE_MAX ? v.n : PENDING_VALUE_MAX;
}

static char *entry_data(Entry *e) {
        return e->data_len <= PENDING_INLINE ? e->u.inline_data : e->u.heap;
}

static size_t pending_clamp(size_t max_pending) {
        if (max_pending == 0)
                return 1;
        return max_pending < PENDING_LIMIT_MAX ? max_pending : PENDING_LIMIT_MAX;
}

PendingTable *pending_new(size_t max_pending, uint64_t timeout_ns) {
        PendingTable *t = xcalloc(1, sizeof(PendingTable));

        t->max_pending = pending_clamp(max_pending);
        t->timeout_ns = timeout_ns;
        t->free_head = t->age_head = t->age_tail = t->held = NIL;
        return t;
}

PendingTable *pending_free(PendingTable *t) {
        if (!t)
                return NULL;
        for (uint32_t i = 0; i < t->used; i++)
                if (t->entries[i].data_len > PENDING_INLINE)
                        free(t->entries[i].u.heap); /* a free slot's data_len is 0 */
        free(t->entries);
        free(t->buckets);
        free(t->views);
        free(t->key_big);
        free(t);
        return NULL;
}

/* Into its bucket's chain, before the first entry that is not newer: the
 * chain is ordered by time, newest first, and of equal times the one
 * pushed last first. */
static void chain_insert(PendingTable *t, uint32_t idx) {
        Entry *e = &t->entries[idx];
        uint32_t *head = &t->buckets[e->hash & (t->n_buckets - 1)];
        uint32_t prev = NIL, cur = *head;

        while (cur != NIL && t->entries[cur].ts_ns > e->ts_ns) {
                prev = cur;
                cur = t->entries[cur].chain_next;
        }
        e->chain_prev = prev;
        e->chain_next = cur;
        if (prev == NIL)
                *head = idx;
        else
                t->entries[prev].chain_next = idx;
        if (cur != NIL)
                t->entries[cur].chain_prev = idx;
}

static void age_append(PendingTable *t, uint32_t idx) {
        Entry *e = &t->entries[idx];

        e->age_prev = t->age_tail;
        e->age_next = NIL;
        if (t->age_tail == NIL)
                t->age_head = idx;
        else
                t->entries[t->age_tail].age_next = idx;
        t->age_tail = idx;
}

/* Off both lists; the slot and its data stay. */
static void entry_unlink(PendingTable *t, uint32_t idx) {
        Entry *e = &t->entries[idx];

        if (e->age_prev == NIL)
                t->age_head = e->age_next;
        else
                t->entries[e->age_prev].age_next = e->age_next;
        if (e->age_next == NIL)
                t->age_tail = e->age_prev;
        else
                t->entries[e->age_next].age_prev = e->age_prev;

        if (e->chain_prev == NIL)
                t->buckets[e->hash & (t->n_buckets - 1)] = e->chain_next;
        else
                t->entries[e->chain_prev].chain_next = e->chain_next;
        if (e->chain_next != NIL)
                t->entries[e->chain_next].chain_prev = e->chain_prev;

        t->n_live--;
}

static void slot_release(PendingTable *t, uint32_t idx) {
        Entry *e = &t->entries[idx];

        if (e->data_len > PENDING_INLINE) {
                free(e->u.heap);
                t->heap_bytes -= e->data_len;
        }
        e->data_len = 0;
        e->age_next = t->free_head;
        t->free_head = idx;
}

static void entry_remove(PendingTable *t, uint32_t idx) {
        entry_unlink(t, idx);
        slot_release(t, idx);
}

/* Every call that changes the table starts here: the last match's data is
 * no longer the caller's. */
static void release_held(PendingTable *t) {
        if (t->held == NIL)
                return;
        slot_release(t, t->held);
        t->held = NIL;
}

/* The watermark is the greatest time seen, so it is >= every entry's. */
static bool ts_expired(const PendingTable *t, uint64_t ts_ns) {
        return t->timeout_ns > 0 && t->watermark - ts_ns > t->timeout_ns;
}

static void expire_oldest(PendingTable *t, uint64_t now_ns) {
        if (now_ns > t->watermark)
                t->watermark = now_ns;
        while (t->age_head != NIL && ts_expired(t, t->entries[t->age_head].ts_ns)) {
                entry_remove(t, t->age_head);
                t->expired++;
        }
}

/* Moves the live entries, in push order, to the front of a slab of new_cap
 * (>= n_live) slots and rebuilds the buckets for it. Nothing is held. */
static void rebuild(PendingTable *t, uint32_t new_cap) {
        Entry *entries = xmalloc((size_t) new_cap * sizeof(Entry));
        size_t n_buckets = 8;
        uint32_t n = 0;

        while (n_buckets < new_cap)
                n_buckets *= 2;
        for (uint32_t idx = t->age_head; idx != NIL; idx = t->entries[idx].age_next) {
                entries[n] = t->entries[idx];
                entries[n].age_prev = n == 0 ? NIL : n - 1;
                entries[n].age_next = n + 1;
                n++;
        }
        if (n > 0)
                entries[n - 1].age_next = NIL;

        free(t->entries);
        free(t->buckets);
        t->entries = entries;
        t->buckets = xmalloc(n_buckets * sizeof(uint32_t));
        memset(t->buckets, 0xff, n_buckets * sizeof(uint32_t)); /* NIL */
        t->n_buckets = n_buckets;
        t->cap = new_cap;
        t->used = n;
        t->free_head = NIL;
        t->age_head = n > 0 ? 0 : NIL;
        t->age_tail = n > 0 ? n - 1 : NIL;
        /* In push order: each goes where it was, as the order of a chain
         * depends only on the times and the push order of its entries. */
        for (uint32_t i = 0; i < n; i++)
                chain_insert(t, i);
}

/* A free slot; the table has fewer than max_pending live entries. */
static uint32_t slot_get(PendingTable *t) {
        if (t->free_head != NIL) {
                uint32_t idx = t->free_head;
                t->free_head = t->entries[idx].age_next;
                return idx;
        }
        if (t->used == t->cap) {
                size_t cap = t->cap ? (size_t) t->cap * 2 : PENDING_INITIAL_CAP;
                if (cap > t->max_pending)
                        cap = t->max_pending;
                rebuild(t, (uint32_t) cap);
        }
        return t->used++;
}

void pending_push(PendingTable *t, const SeriesKeyPart *key, size_t n_key, uint64_t ts_ns, uint64_t seq,
                  const StrView *values, size_t n_values) {
        release_held(t);
        expire_oldest(t, ts_ns);
        if (t->n_live >= t->max_pending) {
                entry_remove(t, t->age_head);
                t->evicted++;
        }

        size_t klen = key_size(key, n_key), len = klen;
        for (size_t i = 0; i < n_values; i++)
                len += len_size(value_len(values[i])) + value_len(values[i]);
        /* Keys and values are fields of one trace record (a page at most):
         * anything near 4 GiB is a caller's bug, not an input. */
        if (len > UINT32_MAX)
                abort();

        uint32_t idx = slot_get(t);
        Entry *e = &t->entries[idx];
        *e = (Entry){
                .ts_ns = ts_ns,
                .seq = seq,
                .key_len = (uint32_t) klen,
                .data_len = (uint32_t) len,
                .n_values = (uint32_t) n_values,
        };
        char *p;
        if (len > PENDING_INLINE) {
                p = e->u.heap = xmalloc(len);
                t->heap_bytes += len;
        } else
                p = e->u.inline_data;

        p = key_encode(p, key, n_key);
        e->hash = key_hash(p - klen, klen);
        for (size_t i = 0; i < n_values; i++) {
                size_t n = value_len(values[i]);
                p = put_len(p, n);
                if (n > 0)
                        memcpy(p, values[i].p, n);
                p += n;
        }

        age_append(t, idx);
        chain_insert(t, idx);
        t->n_live++;
}

bool pending_pop(PendingTable *t, const SeriesKeyPart *key, size_t n_key, uint64_t ts_ns, PendingMatch *ret) {
        release_held(t);
        expire_oldest(t, ts_ns);
        if (t->n_live == 0)
                return false;

        size_t klen = key_size(key, n_key);
        char *k = t->key_small;
        if (klen > sizeof(t->key_small)) {
                if (klen > t->cap_key_big) {
                        free(t->key_big);
                        t->key_big = xmalloc(klen);
                        t->cap_key_big = klen;
                }
                k = t->key_big;
        }
        key_encode(k, key, n_key);

        uint32_t hash = key_hash(k, klen), idx;
        Entry *e = NULL;
        for (idx = t->buckets[hash & (t->n_buckets - 1)]; idx != NIL; idx = t->entries[idx].chain_next) {
                Entry *c = &t->entries[idx];
                if (c->ts_ns <= ts_ns && c->hash == hash && c->key_len == klen &&
                    mem_eq(entry_data(c), k, klen)) {
                        e = c;
                        break;
                }
        }
        if (!e)
                return false;

        /* Expiry from the head stops at the first live entry; one pushed
         * after it with an older time may still be here. */
        if (ts_expired(t, e->ts_ns)) {
                entry_remove(t, idx);
                t->expired++;
                return false;
        }

        entry_unlink(t, idx);
        t->held = idx;

        if (e->n_values > t->cap_views) {
                size_t cap = t->cap_views ? t->cap_views : 4;
                while (cap < e->n_values)
                        cap *= 2;
                free(t->views);
                t->views = xmalloc(cap * sizeof(StrView));
                t->cap_views = cap;
        }
        const char *p = entry_data(e) + e->key_len;
        for (uint32_t i = 0; i < e->n_values; i++) {
                size_t n;
                p = get_len(p, &n);
                t->views[i] = (StrView){ p, n };
                p += n;
        }
        *ret = (PendingMatch){
                .ts_ns = e->ts_ns,
                .seq = e->seq,
                .values = e->n_values > 0 ? t->views : NULL,
                .n_values = e->n_values,
        };
        return true;
}

void pending_expire(PendingTable *t, uint64_t now_ns) {
        release_held(t);
        expire_oldest(t, now_ns);
}

size_t pending_size(const PendingTable *t) {
        return t->n_live;
}

uint64_t pending_evicted(const PendingTable *t) {
        return t->evicted;
}

uint64_t pending_expired(const PendingTable *t) {
        return t->expired;
}

size_t pending_bytes(const PendingTable *t) {
        return sizeof(PendingTable) + (size_t) t->cap * sizeof(Entry) + t->n_buckets * sizeof(uint32_t) +
               t->heap_bytes + t->cap_views * sizeof(StrView) + t->cap_key_big;
}

void pending_set_limits(PendingTable *t, size_t max_pending, uint64_t timeout_ns) {
        release_held(t);
        t->max_pending = pending_clamp(max_pending);
        t->timeout_ns = timeout_ns;
        expire_oldest(t, t->watermark);
        while (t->n_live > t->max_pending) {
                entry_remove(t, t->age_head);
                t->evicted++;
        }
        if (t->cap > t->max_pending)
                rebuild(t, (uint32_t) t->max_pending);
}
