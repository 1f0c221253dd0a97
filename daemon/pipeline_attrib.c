/* Who did it: the pipeline's side of attribution (attrib.h) and of the
 * journal. The attribution probes' events (fork, exit, cgroup attach) keep
 * the table; every counted event of an attributed config looks its task
 * up there, and falls back to /proc (through the edge's resolver) only for
 * a task the events never showed. Pure code. */
#include "pipeline.h"

#include <stddef.h>

static bool field_i64(const StrView *names, const StrView *values, size_t n, const char *name, int64_t *ret) {
        for (size_t i = 0; i < n; i++)
                if (sv_eq_str(names[i], name))
                        return parse_i64(values[i], ret) == 0;
        return false;
}

static bool field_text(const StrView *names, const StrView *values, size_t n, const char *name, StrView *ret) {
        for (size_t i = 0; i < n; i++)
                if (sv_eq_str(names[i], name)) {
                        *ret = values[i];
                        return true;
                }
        return false;
}

/* clone(2)'s flags, as task_newtask prints them. */
#define KPE_CLONE_THREAD 0x00010000ull
#define KPE_CLONE_INTO_CGROUP 0x200000000ull

/* Hex digits without "0x" (task_newtask's "%lx"/"%llx"). */
static int parse_hex_digits(StrView v, uint64_t *ret) {
        uint64_t x = 0;
        if (v.n == 0 || v.n > 16)
                return -1;
        for (size_t i = 0; i < v.n; i++) {
                char c = v.p[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (d < 0)
                        return -1;
                x = x << 4 | (uint64_t) d;
        }
        *ret = x;
        return 0;
}

static bool is_pid(int64_t v) {
        return v > 0 && v <= INT32_MAX;
}

/* Task pid (of tgid, or -1) from /proc into the table. Returns its
 * cgroup: the table's, or (when the table is full) the pipeline's own copy,
 * valid until the next call; NULL when /proc does not know the task. */
static const Cgroup *from_proc(Pipeline *p, int32_t pid, int32_t tgid) {
        if (!p->resolve_cgroup)
                return NULL;
        buf_clear(&p->proc_path);
        int32_t found_tgid = -1;
        if (!p->resolve_cgroup(p->cgroup_userdata, pid, &p->proc_path, &found_tgid))
                return NULL;
        StrView path = { p->proc_path.data ? p->proc_path.data : "", p->proc_path.len };
        p->cgroup_from_proc++;
        attrib_set(p->attr, pid, found_tgid > 0 ? found_tgid : tgid, path);
        const Cgroup *cg = attrib_lookup(p->attr, pid, tgid);
        if (cg)
                return cg;
        p->proc_cgroup.path = path;
        cgroup_names(path, &p->proc_cgroup.names);
        return &p->proc_cgroup;
}

const Cgroup *pipeline_task_cgroup(Pipeline *p, int32_t pid, int32_t tgid) {
        if (!p->attr)
                return NULL;
        /* Without the kernel's events the table would go stale: /proc
         * answers each time (the edge caches it briefly). */
        const Cgroup *cg = p->attr_events ? attrib_lookup(p->attr, pid, tgid) : NULL;
        if (!cg && pid > 0)
                cg = from_proc(p, pid, tgid);
        if (!cg)
                p->cgroup_unknown++;
        return cg;
}

void pipeline_attrib_event(Pipeline *p, const Probe *pr, int32_t pid, int32_t tgid, const StrView *names,
                           const StrView *values, size_t n, uint64_t ts_ns) {
        if (!p->attr)
                return;
        int64_t v, child, root;
        StrView path;
        switch (pr->config->role) {
        case ATTRIB_ROLE_FORK: {
                /* task/task_newtask: the new task ("pid") and its clone
                 * flags (hex); the parent is the task that clones. */
                uint64_t flags;
                StrView f;
                if (!field_i64(names, values, n, "pid", &child) || !is_pid(child) ||
                    !field_text(names, values, n, "clone_flags", &f) || parse_hex_digits(f, &flags) < 0) {
                        p->attr_bad++;
                        return;
                }
                if (flags & KPE_CLONE_INTO_CGROUP) {
                        /* Made straight into a cgroup no event names
                         * (systemd's and runc's spawns may be): /proc now,
                         * while it most likely still runs; never the
                         * parent's cgroup. */
                        attrib_forget(p->attr, (int32_t) child);
                        p->into_cgroup++;
                        (void) from_proc(p, (int32_t) child, -1);
                        return;
                }
                /* A parent from before our start that the seeding missed
                 * (or whose events were lost): /proc, while it lives. */
                if (!attrib_knows(p->attr, pid) && !(tgid > 0 && attrib_knows(p->attr, tgid)))
                        (void) from_proc(p, pid, tgid);
                if (flags & KPE_CLONE_THREAD)
                        attrib_new_thread(p->attr, pid, tgid, (int32_t) child, ts_ns);
                else
                        attrib_fork(p->attr, pid, tgid, (int32_t) child, ts_ns);
                return;
        }
        case ATTRIB_ROLE_EXIT:
                if (field_i64(names, values, n, "pid", &v) && is_pid(v))
                        pid = (int32_t) v;
                attrib_exit(p->attr, pid, ts_ns);
                return;
        case ATTRIB_ROLE_ATTACH:
                if (!field_i64(names, values, n, "dst_root", &root) || !field_i64(names, values, n, "pid", &v) ||
                    !is_pid(v) || !field_text(names, values, n, "dst_path", &path)) {
                        p->attr_bad++;
                        return;
                }
                /* Every hierarchy reports its moves; one is followed. */
                if (root == p->cgroup_root)
                        attrib_attach(p->attr, (int32_t) v, path, ts_ns);
                return;
        case ATTRIB_ROLE_NONE:
        case _ATTRIB_ROLE_MAX:
                return;
        }
}

#define USEC_PER_SEC 1000000ull

bool pipeline_journal_admit(Probe *pr, uint64_t now_usec) {
        uint64_t window = now_usec / USEC_PER_SEC * USEC_PER_SEC;
        if (window != pr->journal_window_usec) {
                pr->journal_window_usec = window;
                pr->journal_in_window = 0;
        }
        if (pr->journal_in_window >= pr->config->journal_rate) {
                pr->journal_dropped++;
                return false;
        }
        pr->journal_in_window++;
        return true;
}

static void put_per_probe(const Pipeline *p, Expo *e, const char *name, const char *help, size_t field) {
        static const char *const probe_label[] = { "probe" };
        expo_put_header(e, name, "counter", help);
        for (size_t i = 0; i < p->n_probes; i++) {
                const Probe *pr = &p->probes[i];
                if (!pr->config->journal)
                        continue;
                const uint64_t *v = (const uint64_t *) ((const char *) pr + field);
                expo_put_sample_u64(e, name, probe_label, (StrView[]){ sv_from(pr->config->name) }, 1, *v);
        }
}

static void put_gauge(Expo *e, const char *name, const char *help, uint64_t value) {
        expo_put_header(e, name, "gauge", help);
        expo_put_sample_u64(e, name, NULL, NULL, 0, value);
}

void pipeline_render_attrib_metrics(const Pipeline *p, Expo *e) {
        bool journal = false;
        for (size_t i = 0; i < p->n_probes; i++)
                journal |= p->probes[i].config->journal;
        if (journal) {
                put_per_probe(p, e, "kprobe_exporter_journal_sent_total",
                              "Events of the probe written to the journal (journal: true).",
                              offsetof(Probe, journal_sent));
                put_per_probe(p, e, "kprobe_exporter_journal_dropped_total",
                              "Events of the probe not written to the journal: over its journal_rate a second.",
                              offsetof(Probe, journal_dropped));
                put_per_probe(p, e, "kprobe_exporter_journal_errors_total",
                              "Events of the probe the journal did not take (journald not running, or a full socket).",
                              offsetof(Probe, journal_failed));
        }
        if (!p->attr)
                return;
        AttribStats s;
        attrib_stats(p->attr, &s);
        expo_put_counter(e, "kprobe_exporter_cgroup_unknown_total",
                         "Events whose task's cgroup is not known: the kernel's events did not show it, and it was "
                         "gone from /proc (labels cgroup, unit, user_unit, container_id are empty).",
                         p->cgroup_unknown);
        expo_put_counter(e, "kprobe_exporter_cgroup_from_proc_total",
                         "Tasks' cgroups read from /proc/PID/cgroup: of an event's task or a forking parent that "
                         "the kernel's fork and cgroup events had not shown (its events were lost), or of every "
                         "event's task while those events do not run (see the attribution-* probes in /probes).",
                         p->cgroup_from_proc);
        put_gauge(e, "kprobe_exporter_attribution_tasks", "Tasks whose cgroup the daemon knows now.", s.tasks);
        put_gauge(e, "kprobe_exporter_attribution_cgroups", "Distinct cgroup paths the daemon holds now.", s.cgroups);
        expo_put_counter(e, "kprobe_exporter_attribution_refused_total",
                         "Tasks or cgroup paths not kept: the attribution table was full (their events count as "
                         "unknown, or from /proc).",
                         s.refused);
        expo_put_counter(e, "kprobe_exporter_cgroup_spawned_into_total",
                         "Tasks made straight into a cgroup (clone3's CLONE_INTO_CGROUP, as systemd and container "
                         "runtimes may spawn): no event names it, so it is read from /proc at once.",
                         p->into_cgroup);
        expo_put_counter(e, "kprobe_exporter_attribution_events_bad_total",
                         "Clone (task_newtask) or cgroup attach events without the fields attribution needs.", p->attr_bad);
}
