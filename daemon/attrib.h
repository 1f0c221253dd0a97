/* Who did it: the cgroup of a task, and what that cgroup names (the
 * systemd unit, the user unit, the container). Pure code.
 *
 * cgroup_names() reads a cgroup path the way systemd and the container
 * engines lay them out. AttribTable keeps, per thread id, the cgroup the
 * task is in, fed by the kernel's own events of our instance (fork, exit,
 * cgroup_attach_task), seeded from /proc at start, and bounded: a task
 * that exits is kept a little longer (its events may still be buffered on
 * another CPU), and the table never holds more than max_tasks tasks and
 * max_path_bytes of interned paths. The edge feeds it; the pipeline reads
 * it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* What a cgroup path names; views into the path (empty when none). */
typedef struct CgroupNames {
        StrView unit;         /* the system unit: "nginx.service", "session-3.scope", "user@1000.service" */
        StrView user_unit;    /* below user@UID.service: the user's unit ("app.service"), else empty */
        StrView container_id; /* 64 hex of docker, containerd (CRI and plain), cri-o, podman; else empty */
} CgroupNames;

/* Reads path ("/system.slice/nginx.service", as /proc/PID/cgroup and the
 * kernel's cgroup events give it, relative to the hierarchy's root).
 * unit: the first component below the slices that is a unit (service,
 * scope, socket, mount, swap), as systemd's own cg_path_get_unit() picks
 * it; a path that does not start with slices and a unit (the root,
 * "/docker/ID", "/kubepods/...") has none. container_id: the deepest
 * component that is 64 hex digits, or one of docker-, cri-containerd-,
 * crio-, libpod- followed by them (with or without ".scope"); monitors
 * ("crio-conmon-ID", "libpod-conmon-ID") are not containers. */
void cgroup_names(StrView path, CgroupNames *ret);

/* An interned cgroup path and its names (views into path). Owned by the
 * table; valid until the next call that changes the table. */
typedef struct Cgroup {
        StrView path;
        CgroupNames names;
} Cgroup;

typedef struct AttribTable AttribTable;

typedef struct AttribLimits {
        size_t max_tasks;      /* tasks known at once (alive, or exited and kept) */
        size_t max_path_bytes; /* bytes of distinct paths held at once */
        uint64_t keep_ns;      /* how long an exited task stays known (trace clock) */
} AttribLimits;

typedef struct AttribStats {
        size_t tasks, cgroups, path_bytes;
        uint64_t refused;  /* tasks or paths not taken: the table was full */
        uint64_t evicted;  /* exited tasks dropped before keep_ns for room */
        uint64_t forks, exits, attaches;
        uint64_t unknown_parent; /* forks whose parent the table did not know */
} AttribStats;

AttribTable *attrib_new(const AttribLimits *limits);
AttribTable *attrib_free(AttribTable *t); /* accepts NULL, returns NULL */

/* Task tid (of process tgid, or -1 when not known) is in cgroup path now. */
void attrib_set(AttribTable *t, int32_t tid, int32_t tgid, StrView path);
/* The kernel's events, in the order it recorded them; ts in ns of the trace
 * clock. */
/* A new process (child is its own tgid) or, with thread, a new thread of
 * the parent's process: in the parent's cgroup. */
void attrib_fork(AttribTable *t, int32_t parent_tid, int32_t parent_tgid, int32_t child, uint64_t ts);
void attrib_new_thread(AttribTable *t, int32_t parent_tid, int32_t parent_tgid, int32_t child, uint64_t ts);
/* Drops what the table knows of tid (a task made straight into a cgroup
 * the events do not name: clone3's CLONE_INTO_CGROUP). */
void attrib_forget(AttribTable *t, int32_t tid);
void attrib_attach(AttribTable *t, int32_t tid, StrView path, uint64_t ts);
void attrib_exit(AttribTable *t, int32_t tid, uint64_t ts);

/* The cgroup task tid is in, or NULL. The thread's own entry and its
 * process leader's (tgid, or the one the table learnt for tid when tgid is
 * not > 0) are both read, and the one set last wins: a move of a whole
 * process is recorded on its leader only, a move of one thread on the
 * thread. */
const Cgroup *attrib_lookup(const AttribTable *t, int32_t tid, int32_t tgid);

/* Whether tid is known (alive or kept after its exit). */
bool attrib_knows(const AttribTable *t, int32_t tid);
/* Drops tasks for which alive(tid) says false: for the edge, when the
 * table is nearly full of tasks whose exit was lost. Returns how many. */
size_t attrib_prune(AttribTable *t, bool (*alive)(void *userdata, int32_t tid), void *userdata);
void attrib_stats(const AttribTable *t, AttribStats *ret);

/* /proc/PID/cgroup ("ID:CONTROLLERS:PATH" lines): the path of hierarchy
 * id, as a view into text. False when it has no such line. */
bool cgroup_proc_path(StrView text, int id, StrView *ret);
/* The hierarchy whose paths name units: systemd's own "name=systemd" one
 * where it exists (the legacy and hybrid layouts; on hybrid hosts the
 * unified one beside it may not hold every process), else the unified
 * one (id 0). -1 when text has neither. */
int cgroup_pick_hierarchy(StrView text);
