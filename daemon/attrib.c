#include "attrib.h"

#include <string.h>

/* ---- cgroup path -> names ------------------------------------------------ */

static bool sv_endswith(StrView s, const char *suffix) {
        size_t n = strlen(suffix);
        return s.n >= n && memcmp(s.p + s.n - n, suffix, n) == 0;
}

/* The next non-empty component of path at *pos, or false at the end. */
static bool next_component(StrView path, size_t *pos, StrView *ret) {
        size_t i = *pos;
        while (i < path.n && path.p[i] == '/')
                i++;
        if (i >= path.n)
                return false;
        size_t start = i;
        while (i < path.n && path.p[i] != '/')
                i++;
        *pos = i;
        *ret = (StrView){ path.p + start, i - start };
        return true;
}

/* systemd escapes a unit name that could be taken for a cgroupfs file
 * ("cgroup.procs", "tasks", ...) or starts with '_' or '.' by prepending
 * '_'; the name is what follows. */
static StrView unescape(StrView c) {
        if (c.n > 1 && c.p[0] == '_')
                return (StrView){ c.p + 1, c.n - 1 };
        return c;
}

static bool is_slice(StrView c) {
        return c.n > 6 && sv_endswith(c, ".slice");
}

/* A unit that can own a cgroup of processes, with a name before the dot. */
static bool is_unit(StrView c) {
        static const char *const suffixes[] = { ".service", ".scope", ".socket", ".mount", ".swap" };
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t n = strlen(suffixes[i]);
                if (c.n > n && sv_endswith(c, suffixes[i]))
                        return true;
        }
        return false;
}

/* Below *pos: the slices, then a unit. */
static StrView unit_below(StrView path, size_t *pos) {
        StrView c;
        while (next_component(path, pos, &c)) {
                c = unescape(c);
                if (is_slice(c))
                        continue;
                return is_unit(c) ? c : (StrView){ "", 0 };
        }
        return (StrView){ "", 0 };
}

static bool is_user_manager(StrView unit) {
        if (!sv_startswith(unit, "user@") || !sv_endswith(unit, ".service") || unit.n <= 5 + 8)
                return false;
        for (size_t i = 5; i < unit.n - 8; i++)
                if (unit.p[i] < '0' || unit.p[i] > '9')
                        return false;
        return true;
}

#define CONTAINER_ID_LEN 64

static bool is_id(const char *p, size_t n) {
        if (n != CONTAINER_ID_LEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
                        return false;
        return true;
}

/* The id a component names: "ID", "docker-ID", "docker-ID.scope", ... */
static StrView component_id(StrView c) {
        static const char *const prefixes[] = { "", "docker-", "cri-containerd-", "crio-", "libpod-" };
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
                size_t n = strlen(prefixes[i]);
                if (!sv_startswith(c, prefixes[i]))
                        continue;
                StrView rest = { c.p + n, c.n - n };
                if (sv_endswith(rest, ".scope"))
                        rest.n -= 6;
                if (is_id(rest.p, rest.n))
                        return rest;
        }
        return (StrView){ "", 0 };
}

void cgroup_names(StrView path, CgroupNames *ret) {
        *ret = (CgroupNames){ { "", 0 }, { "", 0 }, { "", 0 } };
        size_t pos = 0;
        ret->unit = unit_below(path, &pos);
        if (is_user_manager(ret->unit))
                ret->user_unit = unit_below(path, &pos);

        /* The deepest container: nested engines, and sub-cgroups an engine
         * makes inside its container's ("libpod-ID.scope/container"). */
        size_t end = path.n;
        while (end > 0) {
                while (end > 0 && path.p[end - 1] == '/')
                        end--;
                size_t start = end;
                while (start > 0 && path.p[start - 1] != '/')
                        start--;
                if (start == end)
                        break;
                StrView id = component_id((StrView){ path.p + start, end - start });
                if (id.n > 0) {
                        ret->container_id = id;
                        return;
                }
                end = start;
        }
}

/* ---- the table ----------------------------------------------------------- */

typedef struct CgNode {
        Cgroup pub;
        struct CgNode *next; /* hash chain */
        uint64_t hash;
        size_t refs;
        char path[];
} CgNode;

typedef struct Task {
        int32_t tid;   /* 0: free slot */
        int32_t tgid;  /* -1: unknown */
        bool exited;
        uint64_t seq;  /* when it was last set: the newer of two entries wins */
        CgNode *cg;
} Task;

typedef struct Exited {
        int32_t tid;
        uint64_t seq;
        uint64_t ts;
} Exited;

struct AttribTable {
        AttribLimits limits;
        Task *tasks;
        size_t n_slots, n_tasks; /* n_slots a power of two, at least 2 * n_tasks */
        CgNode **cg_buckets;
        size_t n_cg_buckets, n_cgroups, path_bytes;
        Exited *exited; /* FIFO of exits, oldest first */
        size_t ex_head, ex_len, ex_cap;
        uint64_t seq;
        AttribStats stats;
};

AttribTable *attrib_new(const AttribLimits *limits) {
        AttribTable *t = xcalloc(1, sizeof(AttribTable));
        t->limits = *limits;
        if (t->limits.max_tasks < 1)
                t->limits.max_tasks = 1;
        t->n_slots = 64;
        t->tasks = xcalloc(t->n_slots, sizeof(Task));
        t->n_cg_buckets = 64;
        t->cg_buckets = xcalloc(t->n_cg_buckets, sizeof(CgNode *));
        t->ex_cap = t->limits.max_tasks;
        t->exited = xcalloc(t->ex_cap, sizeof(Exited));
        return t;
}

AttribTable *attrib_free(AttribTable *t) {
        if (!t)
                return NULL;
        for (size_t b = 0; b < t->n_cg_buckets; b++)
                for (CgNode *n = t->cg_buckets[b], *next; n; n = next) {
                        next = n->next;
                        free(n);
                }
        free(t->cg_buckets);
        free(t->tasks);
        free(t->exited);
        free(t);
        return NULL;
}

/* -- interned paths -- */

static void cg_rehash(AttribTable *t) {
        size_t n = t->n_cg_buckets * 2;
        CgNode **b = xcalloc(n, sizeof(CgNode *));
        for (size_t i = 0; i < t->n_cg_buckets; i++)
                for (CgNode *c = t->cg_buckets[i], *next; c; c = next) {
                        next = c->next;
                        c->next = b[c->hash & (n - 1)];
                        b[c->hash & (n - 1)] = c;
                }
        free(t->cg_buckets);
        t->cg_buckets = b;
        t->n_cg_buckets = n;
}

/* The node of path with one more reference, or NULL (over max_path_bytes). */
static CgNode *cg_get(AttribTable *t, StrView path) {
        uint64_t h = hash_final(hash_bytes(0x9e3779b97f4a7c15ull, path.p, path.n));
        for (CgNode *c = t->cg_buckets[h & (t->n_cg_buckets - 1)]; c; c = c->next)
                if (c->hash == h && sv_eq(c->pub.path, path)) {
                        c->refs++;
                        return c;
                }
        if (path.n > t->limits.max_path_bytes || t->path_bytes + path.n > t->limits.max_path_bytes) {
                t->stats.refused++;
                return NULL;
        }
        CgNode *c = xmalloc(sizeof(CgNode) + path.n + 1);
        memcpy(c->path, path.p, path.n);
        c->path[path.n] = 0;
        c->pub.path = (StrView){ c->path, path.n };
        cgroup_names(c->pub.path, &c->pub.names);
        c->hash = h;
        c->refs = 1;
        if (t->n_cgroups + 1 > t->n_cg_buckets)
                cg_rehash(t);
        c->next = t->cg_buckets[h & (t->n_cg_buckets - 1)];
        t->cg_buckets[h & (t->n_cg_buckets - 1)] = c;
        t->n_cgroups++;
        t->path_bytes += path.n;
        return c;
}

static void cg_put(AttribTable *t, CgNode *c) {
        if (!c || --c->refs > 0)
                return;
        CgNode **p = &t->cg_buckets[c->hash & (t->n_cg_buckets - 1)];
        while (*p != c)
                p = &(*p)->next;
        *p = c->next;
        t->n_cgroups--;
        t->path_bytes -= c->pub.path.n;
        free(c);
}

/* -- tasks: open addressing, linear probing, deletion by backward shift -- */

static size_t slot_of(const AttribTable *t, int32_t tid) {
        return (size_t) (hash_word(0, (uint64_t) (uint32_t) tid) & (t->n_slots - 1));
}

static Task *task_find(const AttribTable *t, int32_t tid) {
        if (tid <= 0)
                return NULL;
        for (size_t i = slot_of(t, tid);; i = (i + 1) & (t->n_slots - 1)) {
                Task *k = &t->tasks[i];
                if (k->tid == tid)
                        return k;
                if (k->tid == 0)
                        return NULL;
        }
}

static void task_remove(AttribTable *t, Task *k) {
        size_t mask = t->n_slots - 1, i = (size_t) (k - t->tasks);
        cg_put(t, k->cg);
        t->tasks[i] = (Task){ 0 };
        t->n_tasks--;
        /* Move back the entries of the run after i that probing would no
         * longer reach. */
        for (size_t j = (i + 1) & mask; t->tasks[j].tid != 0; j = (j + 1) & mask) {
                size_t home = slot_of(t, t->tasks[j].tid);
                /* j's entry may move to i if home is not in (i, j] cyclically. */
                bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
                if (stays)
                        continue;
                t->tasks[i] = t->tasks[j];
                t->tasks[j] = (Task){ 0 };
                i = j;
        }
}

static void grow(AttribTable *t) {
        Task *old = t->tasks;
        size_t n_old = t->n_slots;
        t->n_slots *= 2;
        t->tasks = xcalloc(t->n_slots, sizeof(Task));
        for (size_t i = 0; i < n_old; i++)
                if (old[i].tid != 0) {
                        size_t j = slot_of(t, old[i].tid);
                        while (t->tasks[j].tid != 0)
                                j = (j + 1) & (t->n_slots - 1);
                        t->tasks[j] = old[i];
                }
        free(old);
}

/* Whether FIFO record e still stands for an exited task. */
static bool exited_current(const AttribTable *t, const Exited *e) {
        const Task *k = task_find(t, e->tid);
        return k && k->exited && k->seq == e->seq;
}

/* Drops the oldest exit of the FIFO: its task, if that is still the one
 * that exited. Returns whether a task went. */
static bool pop_exited(AttribTable *t) {
        Exited e = t->exited[t->ex_head];
        t->ex_head = (t->ex_head + 1) % t->ex_cap;
        t->ex_len--;
        if (!exited_current(t, &e))
                return false;
        task_remove(t, task_find(t, e.tid));
        return true;
}

/* Exited tasks kept past keep_ns before ts go. */
static void reap(AttribTable *t, uint64_t ts) {
        while (t->ex_len > 0) {
                const Exited *e = &t->exited[t->ex_head];
                if (ts < e->ts || ts - e->ts <= t->limits.keep_ns)
                        break;
                (void) pop_exited(t);
        }
}

/* The entry of tid to be set: found, or new (making room by dropping the
 * oldest exited tasks), or NULL when the table is full of live ones. */
static Task *task_slot(AttribTable *t, int32_t tid) {
        Task *k = task_find(t, tid);
        if (k)
                return k;
        while (t->n_tasks >= t->limits.max_tasks && t->ex_len > 0)
                if (pop_exited(t))
                        t->stats.evicted++;
        if (t->n_tasks >= t->limits.max_tasks) {
                t->stats.refused++;
                return NULL;
        }
        if ((t->n_tasks + 1) * 2 > t->n_slots)
                grow(t);
        size_t i = slot_of(t, tid);
        while (t->tasks[i].tid != 0)
                i = (i + 1) & (t->n_slots - 1);
        t->tasks[i] = (Task){ .tid = tid, .tgid = -1 };
        t->n_tasks++;
        return &t->tasks[i];
}

/* tid is in cgroup c now (a reference the entry takes over; NULL: its
 * path could not be held, and the task is forgotten). */
static void push_exited(AttribTable *t, int32_t tid, uint64_t ts);

static void task_set(AttribTable *t, int32_t tid, int32_t tgid, CgNode *c) {
        if (!c) {
                Task *k = task_find(t, tid);
                if (k)
                        task_remove(t, k);
                return;
        }
        Task *k = task_slot(t, tid);
        if (!k) {
                cg_put(t, c);
                return;
        }
        cg_put(t, k->cg);
        k->cg = c;
        k->exited = false;
        k->seq = ++t->seq;
        if (tgid > 0)
                k->tgid = tgid;
}

void attrib_set(AttribTable *t, int32_t tid, int32_t tgid, StrView path) {
        if (tid <= 0)
                return;
        task_set(t, tid, tgid, cg_get(t, path));
}

static const Task *effective(const AttribTable *t, int32_t tid, int32_t tgid) {
        const Task *k = task_find(t, tid);
        if (tgid <= 0 && k)
                tgid = k->tgid;
        if (tgid > 0 && tgid != tid) {
                const Task *leader = task_find(t, tgid);
                if (leader && (!k || leader->seq > k->seq))
                        k = leader;
        }
        return k;
}

static void clone_task(AttribTable *t, int32_t parent_tid, int32_t parent_tgid, int32_t child, bool thread,
                       uint64_t ts) {
        t->stats.forks++;
        reap(t, ts);
        if (child <= 0)
                return;
        const Task *p = effective(t, parent_tid, parent_tgid);
        if (!p) {
                t->stats.unknown_parent++;
                /* A stale entry of a reused tid must not stand for the child. */
                Task *k = task_find(t, child);
                if (k)
                        task_remove(t, k);
                return;
        }
        CgNode *c = p->cg;
        c->refs++;
        /* A reused tid: nothing of the old task stays (its tgid). */
        attrib_forget(t, child);
        int32_t tgid = child;
        if (thread) {
                const Task *pt = task_find(t, parent_tid);
                tgid = parent_tgid > 0 ? parent_tgid : pt && pt->tgid > 0 ? pt->tgid : -1;
        }
        task_set(t, child, tgid, c);
}

void attrib_fork(AttribTable *t, int32_t parent_tid, int32_t parent_tgid, int32_t child, uint64_t ts) {
        clone_task(t, parent_tid, parent_tgid, child, false, ts);
}

void attrib_new_thread(AttribTable *t, int32_t parent_tid, int32_t parent_tgid, int32_t child, uint64_t ts) {
        clone_task(t, parent_tid, parent_tgid, child, true, ts);
}

void attrib_forget(AttribTable *t, int32_t tid) {
        Task *k = task_find(t, tid);
        if (k)
                task_remove(t, k);
}

void attrib_attach(AttribTable *t, int32_t tid, StrView path, uint64_t ts) {
        t->stats.attaches++;
        reap(t, ts);
        if (tid <= 0)
                return;
        Task *k = task_find(t, tid);
        bool exited = k && k->exited;
        task_set(t, tid, k ? k->tgid : -1, cg_get(t, path));
        /* A process leader that exited while its threads live on is still
         * moved with them: it stays exited, and goes keep_ns after. */
        k = exited ? task_find(t, tid) : NULL;
        if (k) {
                k->exited = true;
                push_exited(t, tid, ts);
        }
}

/* Records the exit of task tid (exited, seq) at ts. A full FIFO first
 * drops its records that no longer stand for a task (tids reused since),
 * and only then its oldest exited task. */
static void push_exited(AttribTable *t, int32_t tid, uint64_t ts) {
        if (t->ex_len == t->ex_cap) {
                size_t kept = 0;
                for (size_t i = 0; i < t->ex_len; i++) {
                        Exited e = t->exited[(t->ex_head + i) % t->ex_cap];
                        if (exited_current(t, &e))
                                t->exited[(t->ex_head + kept++) % t->ex_cap] = e;
                }
                t->ex_len = kept;
        }
        if (t->ex_len == t->ex_cap && pop_exited(t))
                t->stats.evicted++;
        /* The pop may have moved the task (backward shift). */
        Task *k = task_find(t, tid);
        if (!k)
                return;
        t->exited[(t->ex_head + t->ex_len) % t->ex_cap] = (Exited){ tid, k->seq, ts };
        t->ex_len++;
}

void attrib_exit(AttribTable *t, int32_t tid, uint64_t ts) {
        t->stats.exits++;
        reap(t, ts);
        Task *k = task_find(t, tid);
        if (!k || k->exited)
                return;
        k->exited = true;
        push_exited(t, tid, ts);
}

const Cgroup *attrib_lookup(const AttribTable *t, int32_t tid, int32_t tgid) {
        if (!t || tid <= 0)
                return NULL;
        const Task *k = effective(t, tid, tgid);
        return k ? &k->cg->pub : NULL;
}

bool attrib_knows(const AttribTable *t, int32_t tid) {
        return t && task_find(t, tid) != NULL;
}

size_t attrib_prune(AttribTable *t, bool (*alive)(void *userdata, int32_t tid), void *userdata) {
        size_t n = 0;
        for (size_t i = 0; i < t->n_slots;) {
                Task *k = &t->tasks[i];
                if (k->tid != 0 && !k->exited && !alive(userdata, k->tid)) {
                        task_remove(t, k); /* may move a later entry into i: look at i again */
                        n++;
                        continue;
                }
                i++;
        }
        return n;
}

void attrib_stats(const AttribTable *t, AttribStats *ret) {
        *ret = t->stats;
        ret->tasks = t->n_tasks;
        ret->cgroups = t->n_cgroups;
        ret->path_bytes = t->path_bytes;
}

/* ---- /proc/PID/cgroup ---------------------------------------------------- */

/* The fields of one "ID:CONTROLLERS:PATH" line. */
static bool proc_line(StrView line, int64_t *id, StrView *controllers, StrView *path) {
        const char *c1 = memchr(line.p, ':', line.n);
        if (!c1)
                return false;
        const char *rest = c1 + 1;
        size_t rest_n = line.n - (size_t) (rest - line.p);
        const char *c2 = memchr(rest, ':', rest_n);
        if (!c2 || parse_i64((StrView){ line.p, (size_t) (c1 - line.p) }, id) < 0)
                return false;
        *controllers = (StrView){ rest, (size_t) (c2 - rest) };
        *path = (StrView){ c2 + 1, line.n - (size_t) (c2 + 1 - line.p) };
        return true;
}

/* The lines of text, each to f; stops when f says true. */
static bool each_line(StrView text, bool (*f)(StrView line, void *userdata), void *userdata) {
        size_t i = 0;
        while (i < text.n) {
                const char *nl = memchr(text.p + i, '\n', text.n - i);
                size_t end = nl ? (size_t) (nl - text.p) : text.n;
                if (f((StrView){ text.p + i, end - i }, userdata))
                        return true;
                i = end + 1;
        }
        return false;
}

typedef struct FindPath {
        int id;
        StrView path;
} FindPath;

static bool find_path(StrView line, void *userdata) {
        FindPath *f = userdata;
        int64_t id;
        StrView controllers, path;
        if (!proc_line(line, &id, &controllers, &path) || id != f->id)
                return false;
        f->path = path;
        return true;
}

bool cgroup_proc_path(StrView text, int id, StrView *ret) {
        FindPath f = { .id = id };
        if (!each_line(text, find_path, &f))
                return false;
        *ret = f.path;
        return true;
}

static bool find_systemd(StrView line, void *userdata) {
        int64_t id;
        StrView controllers, path;
        if (!proc_line(line, &id, &controllers, &path) || !sv_eq_str(controllers, "name=systemd") || id <= 0 ||
            id > INT32_MAX)
                return false;
        *(int *) userdata = (int) id;
        return true;
}

int cgroup_pick_hierarchy(StrView text) {
        int id = -1;
        if (each_line(text, find_systemd, &id))
                return id;
        StrView path;
        return cgroup_proc_path(text, 0, &path) ? 0 : -1;
}
