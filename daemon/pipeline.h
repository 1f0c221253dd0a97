/* The pure core of the daemon: from a Config it builds, per probe, the plan
 * that turns a trace_pipe line into counter increments and a recent event;
 * it also renders the state as /metrics text and /probes JSON. No I/O, so
 * the whole path from a kernel line to a Prometheus sample is unit-tested. */
#pragma once

#include <stdint.h>

#include "attrib.h"
#include "config.h"
#include "expo.h"
#include "khist.h"
#include "kfeatures.h"
#include "events_json.h"
#include "pending.h"
#include "reload_plan.h"
#include "ring.h"
#include "series.h"
#include "traceline.h"
#include "util.h"

#define PIPELINE_MAX_FIELDS 128
/* The attribution table's bounds (attrib.h): tasks, bytes of cgroup
 * paths, and how long an exited task stays known (its events may still be
 * buffered on another CPU). */
#define PIPELINE_ATTRIB_MAX_TASKS 65536u
#define PIPELINE_ATTRIB_MAX_PATH_BYTES (4u << 20)
#define PIPELINE_ATTRIB_KEEP_NS (5ull * 1000000000ull)

/* Where a number of an event comes from: a field by index (kprobe kinds),
 * a field by name (tracepoints), or the header's thread id. */
typedef struct FieldRef {
        int index;    /* >= 0: field index; LABEL_SOURCE_NAMED: by name; LABEL_SOURCE_PID: the thread */
        StrView name;
} FieldRef;

enum {
        UNMATCHED_NO_ENTRY,
        UNMATCHED_EVICTED,
        UNMATCHED_EXPIRED,
        _UNMATCHED_MAX,
};

enum {
        REJECTED_NOT_A_NUMBER,
        REJECTED_NEGATIVE,
        _REJECTED_MAX,
};

typedef struct MetricPlan {
        const MetricConfig *config;
        Family *family;
        int *label_source; /* per label: field index >= 0, or LABEL_SOURCE_* */
        size_t n_labels;
        StrView *label_names;  /* the label names, for LABEL_SOURCE_NAMED lookups */
        int *label_fallback;   /* LABEL_SOURCE_NAMED not found in the event: builtin_source() of the name */
        /* value: the field added or observed (index < 0 and no name: none) */
        bool has_value;
        FieldRef value;
        const Decoder *value_decoder; /* kprobe kinds; tracepoints look theirs up by name */
        double scale;
        uint64_t rejected[_REJECTED_MAX]; /* values that were not numbers, negative ones of counters */
        /* Latency: the entries waiting for this metric's events, pushed by
         * the entry probe's EntryPlan; the match key's sources in this
         * probe's events; per label, the slot of the entry's saved values
         * it falls back to (-1: none, a builtin or this event's own). */
        PendingTable *pending;
        FieldRef *match;
        size_t n_match;
        int *entry_slot;
        const Decoder **entry_decoder; /* per label: the entry probe's decoder of that field */
        uint64_t no_entry;
        /* The end conditions (config's "end"): the fields, the values. */
        FieldRef *end;
        StrView *end_value;
        size_t n_end;
        /* The conditions of a counter or value histogram (config's "when"). */
        FieldRef *when;
        StrView *when_value;
        size_t n_when;
        /* Raw label values (as the kernel printed them, before decoding)
         * -> series: an event whose raw tuple was seen before is counted
         * without decoding or formatting anything. Bounded; refers to
         * family's series, so it is rebuilt (not moved) on reload. */
        SeriesCache *cache;
        /* Label values longer than this are cut to it (labelcut.h), once
         * per raw tuple the cache did not hold; the values cut so. */
        size_t max_label_bytes;
        uint64_t labels_cut;
        /* Kernel aggregation (khist.h): the plan, from pipeline_plan_kernel();
         * kh.kernel: counted by the kernel, not here (the edge clears it
         * when the kernel refuses an auto metric's triggers); kh_live: its
         * triggers are in the kernel, so its hist file is read at scrapes. */
        KhPlan kh;
        bool kh_live;
        uint64_t kh_bad; /* hist entries that did not parse */
        uint64_t kh_reads_failed;
} MetricPlan;

enum {
        LABEL_SOURCE_COMM = -1,
        LABEL_SOURCE_PID = -2,
        LABEL_SOURCE_TGID = -3,
        LABEL_SOURCE_CPU = -4,
        LABEL_SOURCE_NAMED = -5, /* tracepoints: looked up by name per event */
        /* -6 is pipeline.c's own (an entry's saved value) */
        LABEL_SOURCE_CGROUP = -7, /* the task's cgroup (attrib.h) and what it names */
        LABEL_SOURCE_UNIT = -8,
        LABEL_SOURCE_USER_UNIT = -9,
        LABEL_SOURCE_CONTAINER = -10,
};

/* A latency metric of another probe that this probe's events start: its
 * key and the values of its labels that this probe has, saved with each
 * entry. */
typedef struct EntryPlan {
        MetricPlan *metric; /* in the same pipeline */
        FieldRef *match;
        size_t n_match;
        FieldRef *saved; /* per slot of the metric's entry_slot */
        size_t n_saved;
        /* The start conditions (the metric's "start"). */
        FieldRef *start;
        StrView *start_value;
        size_t n_start;
} EntryPlan;

struct Probe {
        const ProbeConfig *config; /* owned by the Pipeline's Config */
        EntryPlan *entries;
        size_t n_entries;
        StrView event;             /* the event name trace_pipe prints */
        TraceEventForm form;       /* how its lines look */
        const Decoder **decoders;  /* kprobe kinds: per field; NULL entries = raw */
        StrView *field_names;      /* kprobe kinds: config->fields as views */
        StrView *decoder_fields;   /* tracepoints: config->decoders[i].field as views */
        int comm_field;            /* index of a string field "comm", or -1: the event's comm */
        MetricPlan *metrics;
        size_t n_metrics;
        /* Its events are counted: the edge says so once the kernel holds the
         * probe (pipeline_set_live). Lines of a probe that is not live are
         * not its events. */
        bool live;
        bool needs_cgroup; /* its events' cgroups are looked up: a label, /events or the journal shows them */
        bool is_exec;      /* sched/sched_process_exec: its task's comm changed (forget_comm) */
        uint32_t id;      /* index into Pipeline.names, stable across reloads */
        uint64_t events;
        /* journal: true: entries sent, dropped by journal_rate, refused by
         * the journal; the current one-second window of the rate limit. */
        uint64_t journal_sent, journal_dropped, journal_failed;
        uint64_t journal_window_usec;
        unsigned journal_in_window;
};

/* What the edge knows of a probe's kernel side, for /probes. Strings are
 * the caller's. */
typedef struct ProbeStatus {
        const char *state;      /* "pending", "registered", "failed", "unavailable" */
        const char *definition; /* the line written to tracefs; NULL for tracepoints */
        const char *error;      /* why it is not registered; NULL */
        int streamed;           /* its events reach user space: 1, 0; -1 unknown */
} ProbeStatus;

/* Looks up a task the kernel printed as "<...>" or "(-------)": it saves
 * comm and tgid lazily (at the task's next context switch), so a reader as
 * quick as ours often sees a process that just started before the kernel
 * does. Fills comm (NUL-terminated) and *tgid; returns false if it cannot
 * tell (the task is gone). */
typedef bool (*CommResolver)(void *userdata, int32_t pid, char *comm, size_t size, int32_t *tgid);
/* Tells the resolver that what it knows of pid's comm is stale: the task
 * exec'd (an exec event of the config's). */
typedef void (*CommForget)(void *userdata, int32_t pid);

/* Reads the cgroup of task pid from /proc, for a task the kernel's events
 * did not show (it started before us, or they were lost): appends its path
 * in the followed hierarchy to *path, and the process id to *tgid. False
 * if it cannot tell (the task is gone). */
typedef bool (*CgroupResolver)(void *userdata, int32_t pid, Buf *path, int32_t *tgid);

/* Each event of a probe with journal: true, as it will be stored. */
typedef struct Probe Probe;
typedef void (*JournalHook)(void *userdata, Probe *pr, const RingEventView *ev);

typedef struct Pipeline {
        Config *config; /* owned */
        CommResolver resolve_comm; /* optional */
        CommForget forget_comm;    /* optional; with resolve_userdata */
        void *resolve_userdata;
        uint64_t comm_unknown; /* events whose comm stayed "<...>" */
        Probe *probes;
        size_t n_probes;
        /* Every probe name this daemon has had, so recent events of a probe
         * removed by a reload still render with their name. Grows only by
         * the names of new probes: bounded by the configs loaded. */
        char **names;
        size_t n_names;
        Ring *ring;
        uint64_t records; /* handed over by the binary reader */
        uint64_t lines;
        uint64_t parse_errors;
        uint64_t lost_events;  /* sum of the counts in "[LOST N EVENTS]" lines */
        uint64_t lost_reports; /* number of LOST lines, with or without a count */
        uint64_t latest_ns;    /* the newest event time seen (trace clock): pending entries expire by it */
        const char *trace_clock; /* the instance's clock, for /probes (static string; NULL: unknown) */
        Buf entry_scratch; /* the cut copies of long values an entry saves (push_entries) */
        /* Tasks' cgroups (config->attribution): the table the attribution
         * probes' events keep; the hierarchy their attach events are taken
         * from (its id in /proc/PID/cgroup; -1: none yet, the edge sets
         * it); the fallback to /proc. */
        AttribTable *attr;
        int cgroup_root;
        CgroupResolver resolve_cgroup;
        void *cgroup_userdata;
        bool attr_seeded; /* the edge read /proc into the table */
        bool attr_events; /* the attribution probes run: else every lookup asks /proc */
        uint64_t cgroup_unknown;   /* events whose task's cgroup stayed unknown */
        uint64_t cgroup_from_proc; /* tasks the events had not shown, found in /proc */
        uint64_t attr_bad;         /* attribution events without the fields they need */
        uint64_t into_cgroup;      /* tasks made straight into a cgroup (CLONE_INTO_CGROUP): read from /proc */
        Buf proc_path;             /* /proc's answer the full table could not keep, and its names */
        Cgroup proc_cgroup;
        JournalHook journal;
        void *journal_userdata;
} Pipeline;

/* Takes ownership of config (also on failure). resolve_comm may be NULL.
 * Returns 0 or -errno. */
int pipeline_new(Config *config, CommResolver resolve_comm, void *resolve_userdata, Pipeline **ret);
Pipeline *pipeline_free(Pipeline *p); /* accepts NULL, returns NULL */

/* Reload: moves into `next` (built from the new config) what `prev` has
 * that still applies, as plan (computed from prev's and next's configs)
 * says: the name table, the recent events ring (resized if recent_events
 * changed; its sequence numbers go on), the daemon's own counters, and for
 * each continued probe its liveness, its event count and the counters of
 * each metric the plan keeps. prev keeps the rest and is freed by the
 * caller. */
void pipeline_adopt(Pipeline *next, Pipeline *prev, const ReloadPlan *plan);
/* Marks probe i live (counted) or not. */
void pipeline_set_live(Pipeline *p, size_t i, bool live);

/* Handles one trace_pipe line without its newline. Never fails: lines it
 * cannot use are counted in parse_errors. Returns the probe that matched, or
 * NULL (lost-event lines and unparsable lines). */
const Probe *pipeline_process_line(Pipeline *p, const char *line, size_t len);

/* One event as a reader other than the text one hands it over, already
 * framed: the probe (an index into the pipeline's probes), its header, and
 * its fields as the kernel's text shows them (for kprobe kinds all of the
 * config's fields, in order). Views stay valid for the call. */
typedef struct Record {
        uint32_t probe;
        StrView comm;      /* empty when the record has none: resolved as "<...>" is */
        int32_t pid, tgid; /* tgid -1 when unknown */
        int32_t cpu;
        StrView timestamp; /* seconds, as text */
        uint64_t ts_ns;    /* the same time in ns of the trace clock; 0: parse timestamp */
        const StrView *names;
        const StrView *values;
        size_t n_fields;
        bool malformed;  /* the reader could not read its fields: counted as a parse error */
        StrView backing; /* optional: text most views point into (see RingEventView) */
} Record;

/* Handles one record. Never fails: a record it cannot use is counted in
 * parse_errors. Returns the probe counted, or NULL. */
const Probe *pipeline_process_record(Pipeline *p, const Record *rec);
/* A report of lost events; counted says whether the kernel said how many. */
void pipeline_count_lost(Pipeline *p, uint64_t lost, bool counted);

/* Attribution (pipeline_attrib.c). The cgroup of this event's task: from
 * the table, else from /proc (then kept), else NULL (counted unknown). */
const Cgroup *pipeline_task_cgroup(Pipeline *p, int32_t pid, int32_t tgid);
/* An event of an attribution probe (its config->role): the table learns it. */
void pipeline_attrib_event(Pipeline *p, const Probe *pr, int32_t pid, int32_t tgid, const StrView *names,
                           const StrView *values, size_t n, uint64_t ts_ns);
/* Journal: whether one more entry of pr fits its journal_rate in the
 * second now_usec falls in; counts the ones that do not. */
bool pipeline_journal_admit(Probe *pr, uint64_t now_usec);
void pipeline_render_attrib_metrics(const Pipeline *p, Expo *e);

/* Plans every metric's kernel aggregation for kernel k (NULL: unknown),
 * our group and the instance's clock (khist_plan()). */
void pipeline_plan_kernel(Pipeline *p, const KernelFeatures *k, const char *group, const char *clock);
/* Whether probe i's events must reach user space: it keeps /events, or a
 * metric counted here needs them (its own, or a latency it starts). */
bool pipeline_probe_streams(const Pipeline *p, size_t i);
/* A kernel metric's hist file, read at a scrape: its family becomes the
 * kernel's totals (decoded and cut as events' labels are). Returns 0,
 * -ENOENT (no section of ours) or -EBADMSG; then the family stays. */
int pipeline_apply_hist(Pipeline *p, size_t probe, size_t metric, const char *text, size_t len);
/* A kernel metric's hist file could not be read. */
void pipeline_hist_unread(Pipeline *p, size_t probe, size_t metric);

/* The users' metrics and the daemon's own pipeline counters (probe_up
 * is liveness). Drops pending latency entries that expired first. */
void pipeline_render_metrics(Pipeline *p, Expo *e);
/* {"probes":[{"name","type","target","line","definition","filter","state","error","events"}],
 *  "kernel":{"release","machine","features":{...}}} (no "kernel" when NULL).
 * status: per probe, or NULL (then state is "registered" or "pending" by
 * liveness). */
void pipeline_render_probes(const Pipeline *p, const ProbeStatus *status, const KernelFeatures *kernel, Buf *out);
/* GET /events: -ENOENT if q->probe is set and names no probe. */
int pipeline_render_events(const Pipeline *p, const EventQuery *q, Buf *out);
size_t pipeline_stream_events(const Pipeline *p, const EventQuery *q, uint64_t *cursor, Buf *out);

