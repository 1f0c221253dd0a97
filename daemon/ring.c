#include "ring.h"

/* One stored event. Its text lives in the slot's own arena and its field
 * views in the slot's own view array; both only grow, so once a slot has
 * held its largest event, pushes into it allocate nothing. */
typedef struct Slot {
        uint64_t seq;
        uint32_t probe;
        int32_t pid, tgid, cpu;
        StrView comm, timestamp;
        size_t n_fields;

        char *arena;
        size_t arena_cap;
        StrView *views; /* names in [0, n_fields), values in [n_fields, 2 * n_fields) */
        size_t views_cap;
} Slot;

struct Ring {
        Slot *slots;
        size_t capacity;
        uint64_t next_seq;
};

Ring *ring_new(size_t capacity) {
        if (capacity == 0)
                capacity = 1;

        Ring *r = xcalloc(1, sizeof(Ring));
        r->slots = xcalloc(capacity, sizeof(Slot));
        r->capacity = capacity;
        r->next_seq = 1;
        return r;
}

Ring *ring_free(Ring *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->capacity; i++) {
                free(r->slots[i].arena);
                free(r->slots[i].views);
        }
        free(r->slots);
        free(r);
        return NULL;
}

static size_t grow_cap(size_t cap, size_t need, size_t min) {
        if (cap == 0)
                cap = min;
        while (cap < need)
                cap *= 2;
        return cap;
}

/* Copies v to *p and returns the view of the copy. */
static StrView arena_put(char **p, StrView v) {
        StrView copy = { *p, v.n };
        if (v.n > 0)
                memcpy(*p, v.p, v.n);
        *p += v.n;
        return copy;
}

uint64_t ring_push(Ring *r, const RingEventView *ev) {
        uint64_t seq = r->next_seq++;
        Slot *s = &r->slots[(seq - 1) % r->capacity];

        size_t bytes = ev->comm.n + ev->timestamp.n;
        for (size_t i = 0; i < ev->n_fields; i++)
                bytes += ev->names[i].n + ev->values[i].n;

        /* The old contents are dropped anyway, so free+malloc rather than
         * realloc: nothing needs copying. */
        if (bytes > s->arena_cap || !s->arena) {
                s->arena_cap = grow_cap(s->arena_cap, bytes, 128);
                free(s->arena);
                s->arena = xmalloc(s->arena_cap);
        }
        if (ev->n_fields * 2 > s->views_cap) {
                s->views_cap = grow_cap(s->views_cap, ev->n_fields * 2, 8);
                free(s->views);
                s->views = xmalloc(s->views_cap * sizeof(StrView));
        }

        char *p = s->arena;
        s->seq = seq;
        s->probe = ev->probe;
        s->pid = ev->pid;
        s->tgid = ev->tgid;
        s->cpu = ev->cpu;
        s->comm = arena_put(&p, ev->comm);
        s->timestamp = arena_put(&p, ev->timestamp);
        s->n_fields = ev->n_fields;
        for (size_t i = 0; i < ev->n_fields; i++) {
                s->views[i] = arena_put(&p, ev->names[i]);
                s->views[ev->n_fields + i] = arena_put(&p, ev->values[i]);
        }
        return seq;
}

uint64_t ring_next_seq(const Ring *r) {
        return r->next_seq;
}

uint64_t ring_oldest_seq(const Ring *r) {
        uint64_t stored = r->next_seq - 1;
        return stored > r->capacity ? r->next_seq - r->capacity : 1;
}

size_t ring_capacity(const Ring *r) {
        return r->capacity;
}

bool ring_get(const Ring *r, uint64_t seq, RingEventView *ev) {
        if (seq < ring_oldest_seq(r) || seq >= r->next_seq)
                return false;

        const Slot *s = &r->slots[(seq - 1) % r->capacity];
        *ev = (RingEventView){
                .seq = s->seq,
                .probe = s->probe,
                .comm = s->comm,
                .pid = s->pid,
                .tgid = s->tgid,
                .cpu = s->cpu,
                .timestamp = s->timestamp,
                .names = s->views,
                .values = s->views ? s->views + s->n_fields : NULL,
                .n_fields = s->n_fields,
        };
        return true;
}
