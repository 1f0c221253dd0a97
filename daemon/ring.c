#include "ring.h"

#include "decode.h"

/* One stored event. Its text lives in the slot's own arena and its field
 * views in the slot's own view array; both only grow, so once a slot has
 * held its largest event, pushes into it allocate nothing. */
typedef struct Slot {
        uint64_t seq;
        uint32_t probe;
        int32_t pid, tgid, cpu;
        StrView comm, timestamp, cgroup;
        size_t n_fields;
        bool has_decoders, attributed, cgroup_known;

        char *arena;
        size_t arena_cap;
        StrView *views; /* names in [0, n_fields), values in [n_fields, 2 * n_fields) */
        size_t views_cap;
        const Decoder **decoders; /* n_fields of them when has_decoders */
        size_t decoders_cap;
} Slot;

struct Ring {
        Slot *slots;
        size_t capacity;
        uint64_t next_seq;
        /* No event before this one is stored: after ring_resize() grew the
         * ring, its slots do not all hold events yet. */
        uint64_t first_seq;
};

Ring *ring_new(size_t capacity) {
        if (capacity == 0)
                capacity = 1;

        Ring *r = xcalloc(1, sizeof(Ring));
        r->slots = xcalloc(capacity, sizeof(Slot));
        r->capacity = capacity;
        r->next_seq = 1;
        r->first_seq = 1;
        return r;
}

static void slot_done(Slot *s) {
        free(s->arena);
        free(s->views);
        free(s->decoders);
}

Ring *ring_free(Ring *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->capacity; i++)
                slot_done(&r->slots[i]);
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

static bool sv_inside(StrView v, StrView base) {
        uintptr_t p = (uintptr_t) v.p, b = (uintptr_t) base.p;
        return base.p && v.p && p >= b && v.n <= base.n && p - b <= base.n - v.n;
}

/* Copies v and returns the view of the copy: re-pointed into the copy of
 * the backing text at the arena's start when it lies in the backing, else
 * appended at *p. */
static StrView arena_put(char *arena, StrView base, char **p, StrView v) {
        if (sv_inside(v, base))
                return (StrView){ arena + (v.p - base.p), v.n };
        StrView copy = { *p, v.n };
        if (v.n > 0)
                memcpy(*p, v.p, v.n);
        *p += v.n;
        return copy;
}

static size_t outside_bytes(StrView v, StrView base) {
        return sv_inside(v, base) ? 0 : v.n;
}

static void slot_reserve(Slot *s, size_t bytes, size_t n_fields, bool decoders) {
        /* The old contents are dropped anyway, so free+malloc rather than
         * realloc: nothing needs copying. */
        if (bytes > s->arena_cap || !s->arena) {
                s->arena_cap = grow_cap(s->arena_cap, bytes, 128);
                free(s->arena);
                s->arena = xmalloc(s->arena_cap);
        }
        if (n_fields * 2 > s->views_cap) {
                s->views_cap = grow_cap(s->views_cap, n_fields * 2, 8);
                free(s->views);
                s->views = xmalloc(s->views_cap * sizeof(StrView));
        }
        if (decoders && n_fields > s->decoders_cap) {
                s->decoders_cap = grow_cap(s->decoders_cap, n_fields, 8);
                free(s->decoders);
                s->decoders = xmalloc(s->decoders_cap * sizeof(Decoder *));
        }
}

static void slot_store_scalars(Slot *s, const RingEventView *ev) {
        s->probe = ev->probe;
        s->pid = ev->pid;
        s->tgid = ev->tgid;
        s->cpu = ev->cpu;
        s->n_fields = ev->n_fields;
        s->attributed = ev->attributed;
        s->cgroup_known = ev->attributed && ev->cgroup_known;
        s->has_decoders = ev->decoders && ev->n_fields > 0;
        if (s->has_decoders)
                memcpy(s->decoders, ev->decoders, ev->n_fields * sizeof(Decoder *));
}

/* v re-pointed into the copy of base at arena; false if v is not inside
 * base. */
static inline bool rebase(StrView v, const char *base, size_t base_n, char *arena, StrView *ret) {
        uintptr_t off = (uintptr_t) v.p - (uintptr_t) base; /* wraps when v.p < base */
        if (off > base_n || v.n > base_n - off)
                return false;
        *ret = (StrView){ arena + off, v.n };
        return true;
}

/* The common case, in one pass: every view lies in the backing text (the
 * trace line), which is copied whole. False when one does not; then the
 * slot is stored by slot_store_general(). */
static bool slot_store_backed(Slot *s, const RingEventView *ev) {
        const char *base = ev->backing.p;
        size_t base_n = ev->backing.n, n = ev->n_fields;

        if (!base)
                return false;
        /* The cgroup path (from the attribution table) goes after the line. */
        StrView cg = ev->attributed && ev->cgroup_known ? ev->cgroup : (StrView){ "", 0 };
        slot_reserve(s, base_n + cg.n, n, ev->decoders);
        char *arena = s->arena;
        if (!rebase(ev->comm, base, base_n, arena, &s->comm) ||
            !rebase(ev->timestamp, base, base_n, arena, &s->timestamp))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!rebase(ev->names[i], base, base_n, arena, &s->views[i]) ||
                    !rebase(ev->values[i], base, base_n, arena, &s->views[n + i]))
                        return false;
        if (base_n > 0)
                memcpy(arena, base, base_n);
        if (cg.n > 0)
                memcpy(arena + base_n, cg.p, cg.n);
        s->cgroup = (StrView){ arena + base_n, cg.n };
        slot_store_scalars(s, ev);
        return true;
}

static void slot_store(Slot *s, const RingEventView *ev) {
        if (slot_store_backed(s, ev))
                return;

        StrView base = ev->backing.p ? ev->backing : (StrView){ NULL, 0 };
        StrView cg = ev->attributed && ev->cgroup_known ? ev->cgroup : (StrView){ "", 0 };
        size_t bytes = base.n + outside_bytes(ev->comm, base) + outside_bytes(ev->timestamp, base) +
                       outside_bytes(cg, base);
        for (size_t i = 0; i < ev->n_fields; i++)
                bytes += outside_bytes(ev->names[i], base) + outside_bytes(ev->values[i], base);

        slot_reserve(s, bytes, ev->n_fields, ev->decoders);

        char *arena = s->arena, *p = arena + base.n;
        if (base.n > 0)
                memcpy(arena, base.p, base.n);
        s->comm = arena_put(arena, base, &p, ev->comm);
        s->timestamp = arena_put(arena, base, &p, ev->timestamp);
        s->cgroup = arena_put(arena, base, &p, cg);
        for (size_t i = 0; i < ev->n_fields; i++) {
                s->views[i] = arena_put(arena, base, &p, ev->names[i]);
                s->views[ev->n_fields + i] = arena_put(arena, base, &p, ev->values[i]);
        }
        slot_store_scalars(s, ev);
}

uint64_t ring_push(Ring *r, const RingEventView *ev) {
        uint64_t seq = r->next_seq++;
        Slot *s = &r->slots[(seq - 1) % r->capacity];

        slot_store(s, ev);
        s->seq = seq;
        return seq;
}

uint64_t ring_next_seq(const Ring *r) {
        return r->next_seq;
}

uint64_t ring_oldest_seq(const Ring *r) {
        uint64_t stored = r->next_seq - 1;
        uint64_t oldest = stored > r->capacity ? r->next_seq - r->capacity : 1;
        return oldest > r->first_seq ? oldest : r->first_seq;
}

void ring_resize(Ring *r, size_t capacity) {
        if (capacity == 0)
                capacity = 1;
        if (capacity == r->capacity)
                return;
        Slot *slots = xcalloc(capacity, sizeof(Slot));
        uint64_t oldest = ring_oldest_seq(r);
        uint64_t keep_from = r->next_seq - oldest > capacity ? r->next_seq - capacity : oldest;
        /* A slot moves whole: its views point into its own arena. */
        for (uint64_t seq = oldest; seq < r->next_seq; seq++) {
                Slot *s = &r->slots[(seq - 1) % r->capacity];
                if (seq >= keep_from)
                        slots[(seq - 1) % capacity] = *s;
                else
                        slot_done(s);
                *s = (Slot){ 0 };
        }
        for (size_t i = 0; i < r->capacity; i++)
                slot_done(&r->slots[i]); /* the storage of slots that held no event */
        free(r->slots);
        r->slots = slots;
        r->capacity = capacity;
        r->first_seq = keep_from;
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
                .attributed = s->attributed,
                .cgroup_known = s->cgroup_known,
                .cgroup = s->cgroup,
                .names = s->views,
                .values = s->views ? s->views + s->n_fields : NULL,
                .n_fields = s->n_fields,
                .decoders = s->has_decoders ? s->decoders : NULL,
        };
        return true;
}

void ring_materialize(Ring *r) {
        Slot tmp = { 0 };
        StrView *values = NULL;
        char (*scratch)[DECODE_SCRATCH] = NULL;
        size_t cap = 0;

        for (uint64_t seq = ring_oldest_seq(r); seq < r->next_seq; seq++) {
                Slot *s = &r->slots[(seq - 1) % r->capacity];
                RingEventView ev;

                if (!s->has_decoders || !ring_get(r, seq, &ev))
                        continue;
                if (ev.n_fields > cap) {
                        cap = grow_cap(cap, ev.n_fields, 8);
                        free(values);
                        free(scratch);
                        values = xmalloc(cap * sizeof(StrView));
                        scratch = xmalloc(cap * DECODE_SCRATCH);
                }
                for (size_t i = 0; i < ev.n_fields; i++)
                        (void) decode_value(ev.decoders[i], ev.values[i], scratch[i], &values[i]);
                ev.values = values;
                ev.decoders = NULL;

                /* Stored into a spare slot first, as the views point into
                 * this slot's arena; then the two trade storage. */
                slot_store(&tmp, &ev);
                Slot old = *s;
                *s = tmp;
                s->seq = old.seq;
                tmp = (Slot){
                        .arena = old.arena,
                        .arena_cap = old.arena_cap,
                        .views = old.views,
                        .views_cap = old.views_cap,
                        .decoders = old.decoders,
                        .decoders_cap = old.decoders_cap,
                };
        }
        free(tmp.arena);
        free(tmp.views);
        free(tmp.decoders);
        free(values);
        free(scratch);
}
