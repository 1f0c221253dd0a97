/* The YAML config: parsing and validation into a Config object. Pure code:
 * no tracefs access, no logging. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util.h"

#define CONFIG_DEFAULT_PATH "/etc/kprobe-exporter/probes.yaml"
#define CONFIG_DEFAULT_LISTEN "127.0.0.1:9417"
#define CONFIG_DEFAULT_RECENT_EVENTS 4096u
#define CONFIG_DEFAULT_MAX_SERIES 10000u
/* Entries of a kernel-counted metric's hist trigger (khist.h): the kernel
 * allocates them all up front, a few hundred bytes each. */
#define CONFIG_DEFAULT_KERNEL_MAX_ENTRIES 2048u
/* A label value longer than max_label_bytes is cut to it (labelcut.h). */
#define CONFIG_DEFAULT_MAX_LABEL_BYTES 256u
#define CONFIG_MAX_LABEL_BYTES_MIN 16u
#define CONFIG_MAX_LABEL_BYTES_MAX 65536u
#define CONFIG_NAME_MAX 63

typedef enum ProbeType {
        PROBE_KPROBE,
        PROBE_KRETPROBE,
        PROBE_UPROBE,
        PROBE_URETPROBE,
        PROBE_TRACEPOINT,
        _PROBE_TYPE_MAX,
} ProbeType;

typedef enum DecoderKind {
        DECODER_NONE,
        DECODER_NTOHS,
        DECODER_NTOHL,
        DECODER_IPV4,
        DECODER_IPV6,
        DECODER_HEX,
        DECODER_ERRNO,
        DECODER_STRING,
        DECODER_IP,   /* an IPv4 or IPv6 address, IPv4-mapped ones as IPv4 */
        DECODER_DEVT, /* a kernel dev_t (major << 20 | minor) as MAJOR:MINOR */
        DECODER_MAP,  /* last: config.c takes the names before it */
        _DECODER_KIND_MAX,
} DecoderKind;

typedef struct MapEntry {
        char *from; /* the value as the kernel prints it, e.g. "2" */
        char *to;   /* e.g. "AF_INET" */
} MapEntry;

typedef struct Decoder {
        char *field;
        DecoderKind kind;
        MapEntry *map; /* DECODER_MAP only */
        size_t n_map;
        unsigned line, column;
} Decoder;

/* Where a metric is computed: by a hist trigger in the kernel, from the
 * events in user space, or the kernel where it can (khist.h). */
typedef enum Aggregate {
        AGGREGATE_AUTO,
        AGGREGATE_KERNEL,
        AGGREGATE_USER,
        _AGGREGATE_MAX,
} Aggregate;

typedef enum MetricType {
        METRIC_COUNTER,
        METRIC_HISTOGRAM,
        _METRIC_TYPE_MAX,
} MetricType;

#define CONFIG_BUCKETS_MAX 256u
#define CONFIG_DEFAULT_MAX_PENDING 65536u
#define CONFIG_DEFAULT_PENDING_TIMEOUT 60.0 /* seconds */

/* A name written in the config, with its place (for errors found later,
 * e.g. against a tracepoint's format). */
typedef struct NamedAt {
        char *name;
        unsigned line, column;
} NamedAt;

/* A condition on an event of a latency: its field (as printed, or
 * decoded) is this value. */
typedef struct Condition {
        NamedAt field;
        char *value;
} Condition;

typedef struct MetricConfig {
        char *name;  /* counters end in _total; histograms end in none of _total/_bucket/_count/_sum/_created */
        char *help;  /* never NULL: a default is filled in */
        MetricType type;
        char **labels;
        /* Per label, the field (or builtin) its value comes from when it is
         * not the label's own name ({daddr: daddrv6}); NULL entries, or no
         * array: the same name. See metric_label_field(). */
        char **label_fields;
        unsigned *label_line, *label_column; /* where each label is written */
        size_t n_labels;
        /* value: the field added (counter) or observed (histogram); NULL:
         * a counter counts events, a histogram observes latency_from. */
        NamedAt value;
        double scale; /* multiplies the value or latency (seconds); 1 unless set */
        /* Histograms: upper bounds, strictly increasing, finite; each
         * bucket_text is the bound as /metrics prints it ("le"): as written
         * for a list, the shortest exact form for generated ones. */
        double *buckets;
        char **bucket_text;
        size_t n_buckets;
        /* Latency: the probe whose matching event starts the interval. */
        NamedAt latency_from;
        /* Only entry events that meet every start condition start an
         * interval, only this probe's events that meet every end one end
         * it; with both, latency_from may be this metric's own probe (two
         * transitions of one event: a TCP socket ESTABLISHED, then CLOSE). */
        Condition *start, *end;
        size_t n_start, n_end;
        /* Counters and value histograms: only events that meet every
         * condition count (several metrics of one tracepoint, each its
         * own kind of event: a TCP socket entering SYN_SENT, or CLOSE). */
        Condition *when;
        size_t n_when;
        NamedAt *match; /* the fields both events must agree on; NULL: the same thread */
        size_t n_match;
        unsigned max_pending;
        double pending_timeout; /* seconds */
        unsigned max_label_bytes; /* 0: the config's; see config_max_label_bytes() */
        Aggregate aggregate;
        unsigned aggregate_line, aggregate_column;
        unsigned line, column;
} MetricConfig;

/* The field (or builtin) that label l of m shows. */
static inline const char *metric_label_field(const MetricConfig *m, size_t l) {
        return m->label_fields && m->label_fields[l] ? m->label_fields[l] : m->labels[l];
}

/* The kernel's events the daemon follows tasks' cgroups by (attrib.h):
 * probes it adds to a config that needs them, or a user's tracepoint
 * probe on the same event, unfiltered, that serves as one. */
typedef enum AttribRole {
        ATTRIB_ROLE_NONE,
        ATTRIB_ROLE_FORK,   /* task/task_newtask: a new task and its clone flags */
        ATTRIB_ROLE_EXIT,   /* sched/sched_process_exit */
        ATTRIB_ROLE_ATTACH, /* cgroup/cgroup_attach_task */
        _ATTRIB_ROLE_MAX,
} AttribRole;

#define CONFIG_DEFAULT_JOURNAL_RATE 100u

typedef struct ProbeConfig {
        char *name;   /* tracefs event name for kprobe kinds */
        ProbeType type;
        char *target; /* SYM[+OFFS], /abs/path:0xOFFSET, or subsystem/event */
        char **fetch; /* "NAME=FETCHARG[:TYPE]" exactly as written */
        size_t n_fetch;
        char **fields;      /* field names in print order: the NAME part of each fetch (kprobe kinds) */
        bool *field_is_string; /* per field: the fetch type is string/ustring/symstr */
        size_t n_fields;
        bool comm_fetched; /* "comm=$comm:string" was appended to fetch: a comm label
                            * of a kprobe kind is fetched in the record itself */
        char *filter; /* NULL when absent */
        Decoder *decoders;
        size_t n_decoders;
        MetricConfig *metrics;
        size_t n_metrics;
        /* Its events are kept for /events (and streamed for that). false:
         * streamed only while a metric counted in user space needs them. */
        bool events;
        /* Each decoded event also goes to the journal, at most journal_rate
         * a second (the excess is counted). */
        bool journal;
        unsigned journal_rate;
        AttribRole role;
        bool added; /* added by the daemon (an attribution event), not in the file */
        const char *file; /* the included file it is written in (Config.includes); NULL: the config itself */
        unsigned line, column; /* of the probe's mapping */
        /* Positions of keys, for messages about this probe found later
         * (e.g. a label that a tracepoint's format does not have). */
        unsigned target_line, target_column;
        /* What this kernel's tracepoints lack of the fields the probe names
         * ("FILE:LINE:COLUMN: ..."; NULL: nothing), from
         * registry_check_config(): the probe is then unavailable. */
        char *kernel_lacks;
} ProbeConfig;

typedef struct Config {
        char *path;
        char *listen; /* NULL when absent: the caller applies the default */
        unsigned recent_events;
        unsigned max_series;
        unsigned max_label_bytes; /* for metrics that do not set their own */
        unsigned kernel_max_entries; /* the bound of a hist trigger's entries (128..131072) */
        bool strict;
        /* Tasks' cgroups are followed: a metric has an attribution label,
         * a probe goes to the journal, or the config says so
         * ("attribution: true"; false turns it off for /events and the
         * journal, not for labels that need it). */
        bool attribution;
        ProbeConfig *probes;
        size_t n_probes;
        /* The files "include:" named, in the order read (their probes
         * follow the config's own). */
        char **includes;
        size_t n_includes;
} Config;

typedef struct ConfigError {
        unsigned line, column; /* 1-based; 0 when not tied to a place */
        char *message;
        char *file; /* an included file it is in; NULL: the config itself */
} ConfigError;

typedef struct ConfigErrors {
        ConfigError *items;
        size_t n;
} ConfigErrors;

/* Parses and validates a whole config. On success returns 0 and *ret owns a
 * new Config. On failure returns -EINVAL (config errors, all of them appended
 * to errs) or another -errno (file unreadable; also appended to errs). */
int config_load_file(const char *path, Config **ret, ConfigErrors *errs);
/* Reads a whole config file (at most 4 MiB) into a new NUL-terminated
 * string (the caller's): what config_load_file() parses. Returns 0, or
 * -errno (-EFBIG when too large). */
int config_read_file(const char *path, char **ret_text, size_t *ret_len);
/* Same from memory; name is used in messages and stored as Config.path.
 * "include:" is an error there: it reads files, which only
 * config_load_file() does (relative to the config's directory). */
int config_load_string(const char *name, const char *text, size_t len, Config **ret, ConfigErrors *errs);

Config *config_free(Config *c); /* accepts NULL, returns NULL */
static inline void config_freep(Config **c) {
        config_free(*c);
}

#define CONFIG_INCLUDES_MAX 256u /* files one config may include */

/* Appends one error (printf-style message). config_errors.c holds these. */
void config_errors_add(ConfigErrors *errs, unsigned line, unsigned column, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void config_errors_addv(ConfigErrors *errs, unsigned line, unsigned column, const char *fmt, va_list ap)
        __attribute__((format(printf, 4, 0)));
/* Errors errs->items[from..] without a file are in file (an included
 * one; NULL: leaves them in the config itself). */
void config_errors_set_file(ConfigErrors *errs, size_t from, const char *file);
/* Appends to out the report of every error of errs, each as
 * "path:line:col: message\n" followed by its source line and a caret under
 * the column (or "path: message\n" for an error without a place). Reads
 * path itself for the source lines; when it cannot, the lines are left
 * out. The caller says what follows (how many errors, what was kept). */
void config_errors_render(const ConfigErrors *errs, const char *path, Buf *out);
/* The same report for a text the caller holds, written to f; text may be
 * NULL (then no source line is echoed). */
void config_errors_write(const ConfigErrors *errs, const char *file, const char *text, size_t len, FILE *f);
/* Frees the errors and empties errs (usable as a _cleanup_ function). */
void config_errors_clear(ConfigErrors *errs);

const char *probe_type_to_string(ProbeType t);
const char *metric_type_to_string(MetricType t);
const char *aggregate_to_string(Aggregate a);
/* The probe named name, or NULL. */
const ProbeConfig *config_find_probe(const Config *c, const char *name);
/* Whether match/label name of a latency metric is the header's thread id
 * ("tid", or "pid" which is the same number) rather than a field. */
bool match_is_thread(const char *name);
/* A decoder that leaves a numeric field numeric (none, ntohs, ntohl, hex). */
bool decoder_is_numeric(const Decoder *d);
const char *decoder_kind_to_string(DecoderKind k);
/* The label names every probe has besides its own fields. */
#define CONFIG_BUILTIN_LABELS "comm, pid, tgid, cpu, cgroup, unit, user_unit, container_id"
bool label_is_builtin(const char *name); /* CONFIG_BUILTIN_LABELS */
/* Whether label name is one that needs the task's cgroup (attrib.h). */
bool label_is_attribution(const char *name);
/* Valid tracefs event/arg name: [A-Za-z_][A-Za-z0-9_]*, <= 63 chars. */
bool name_is_valid(const char *s);
/* Valid tracepoint target "SUBSYSTEM/EVENT" as the kernel names them:
 * SUBSYSTEM of [A-Za-z0-9_-] not starting with '-' ("9p", "xhci-hcd"),
 * EVENT of [A-Za-z0-9_], each 1 to 255 characters, one '/'. So no path
 * tricks ("..", a second '/') and nothing the kernel would split on. */
bool tracepoint_target_is_valid(const char *s);
/* Valid Prometheus metric name [a-zA-Z_:][a-zA-Z0-9_:]* (we disallow ':'). */
bool metric_name_is_valid(const char *s);
const Decoder *probe_find_decoder(const ProbeConfig *p, const char *field);
/* The bound of m's label values: its own max_label_bytes, else c's, else
 * the default. */
unsigned config_max_label_bytes(const Config *c, const MetricConfig *m);
