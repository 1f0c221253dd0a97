/* Everything that touches tracefs: finding (and mounting) it, our instance
 * and its options, registering and removing our probes, enabling events in
 * our instance only, error_log, per-CPU stats, tracepoint formats. The I/O
 * only: what the texts mean is tfs_text.c's (core, pure).
 *
 * Rules kept here (see shared/TRACEFS.md): probe files are opened
 * O_WRONLY|O_APPEND, never O_TRUNC; only our group and our instance are
 * touched; the global buffer and current_tracer never are. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "kfeatures.h"
#include "symbols.h"
#include "tfs_text.h"
#include "util.h"

#define TRACEFS_DEFAULT_NAME "kprobe_exporter"

typedef struct Tracefs {
        char *root;         /* e.g. /sys/kernel/tracing */
        char *name;         /* our group and our instance name */
        char *instance_dir; /* root/instances/name */
        KernelFeatures features; /* read in tfs_new */
        SymbolTable *symbols;    /* loaded by the first kprobe registered; see tfs_symbols_release */
        int kallsyms_error;      /* -errno when /proc/kallsyms could not be read: targets go unchecked */
        const char *clock;       /* the instance's trace clock once set up ("mono", "global"); NULL: unknown */
        bool clock_is_monotonic; /* "mono": event times are CLOCK_MONOTONIC */
} Tracefs;

/* Whether the kernel may have feature f (yes, or unknown: then the write
 * tells), e.g. FEATURE_KPROBE_EVENTS. */
static inline bool tfs_may_have(const Tracefs *t, Feature f) {
        return t->features.state[f] != FEATURE_NO;
}

/* Finds tracefs: `override` if given (used as is), else the tracefs line of
 * /proc/mounts (tfs_parse_mounts()); if none and mount_if_needed, mounts it
 * at /sys/kernel/tracing. Returns 0 and a new string in *ret_root (the
 * caller's), or -errno (-ENOENT: not mounted and not allowed to mount). */
int tfs_find(const char *override, bool mount_if_needed, char **ret_root);

/* Creates the handle (the caller's, for tfs_free()); reads what the kernel
 * supports (uname, README, which probe files and options exist) into
 * t->features. No writes. Returns 0, or -EINVAL for a name that
 * group_name_is_valid() refuses. */
int tfs_new(const char *root, const char *name, Tracefs **ret);
/* Frees the handle (not what it made in the kernel); accepts NULL, returns NULL. */
Tracefs *tfs_free(Tracefs *t);
static inline void tfs_freep(Tracefs **t) {
        tfs_free(*t);
}

/* Reads the kernel's features as tfs_new does. */
void tfs_read_features(const char *root, KernelFeatures *ret);

/* What can be told of probe p on this kernel without writing it: features
 * k says it needs and lacks (-EOPNOTSUPP), then, when t is given, its
 * target function (-ENOENT: missing, -EPERM: blacklisted). Returns 0 or
 * that; *ret_why gets the reason, or with 0 possibly a note of why the
 * kernel may refuse it (notrace, ambiguous). Writes nothing. */
int tfs_probe_judge(Tracefs *t, const KernelFeatures *k, const ProbeConfig *p, char **ret_why);
/* Frees the symbol table (megabytes; only needed while registering). */
void tfs_symbols_release(Tracefs *t);

/* Removes leftovers of ours from an earlier run: disables and removes our
 * instance, then removes every probe of our group from kprobe_events and
 * uprobe_events. Touches nothing else. Returns 0, -EBUSY if our instance
 * is in use (another daemon with the same name is running), or -errno.
 * *removed counts what was removed (may be NULL). */
int tfs_cleanup(Tracefs *t, unsigned *removed);

/* mkdir instances/name; -EEXIST if it exists. */
int tfs_instance_create(Tracefs *t);
/* Sets the instance options the parser relies on: context-info 1,
 * record-tgid 1, irq-info 0, and latency-format, raw, hex, bin, fields (when
 * present), sym-userobj 0. */
int tfs_instance_setup(Tracefs *t);
/* The clock tfs_instance_setup() would choose, from the top-level
 * trace_clock (which lists the same clocks); NULL: none to choose. */
const char *tfs_preferred_clock(const Tracefs *t);
/* rmdir instances/name; 0 if it did not exist. */
int tfs_instance_remove(Tracefs *t);

/* Registers one kprobe-kind probe (appends its definition). On failure
 * returns -errno and, when the kernel said why, *ret_error gets the
 * error_log text for this command (caller frees; may stay NULL). Tracepoints:
 * checks that events/<target> exists (-ENOENT with a message otherwise).
 * Nothing is written when the probe needs a feature the kernel lacks
 * (-EOPNOTSUPP, features_refusal()'s message, e.g. "kernel built without
 * kprobe events ...") or names a function the kernel does not have or
 * never probes (-ENOENT / -EPERM, symbols_check()'s message); when the
 * kernel refuses a notrace function, its words are followed by why. */
int tfs_probe_register(Tracefs *t, const ProbeConfig *p, char **ret_error);
/* The same with the line to write made by the caller (tfs_probe_line(),
 * which resolves a uprobe's symbol: once); NULL: made here. */
int tfs_probe_register_line(Tracefs *t, const ProbeConfig *p, const char *definition, char **ret_error);
/* A uprobe target "/path:SYMBOL[+OFFSET]" as the kernel takes it,
 * "/path:0xOFFSET", from the file's ELF symbol tables (elfsym.h): *ret a
 * new string, or NULL for a target that needs nothing resolved (an offset
 * already, or not a uprobe). Returns 0, or -errno with *ret_error a new
 * message (the file unreadable; no such function, with the nearest
 * names). */
int tfs_uprobe_resolve(const ProbeConfig *p, char **ret, char **ret_error);
/* The line registering p (tfs_probe_definition), its uprobe symbol
 * resolved. Returns 0 or -errno (*ret_error may say why). */
int tfs_probe_line(const ProbeConfig *p, const char *group, Buf *out, char **ret_error);
/* Removes one probe of ours ("-:group/name"). Tracepoints: no-op. */
int tfs_probe_unregister(Tracefs *t, const ProbeConfig *p);

/* Sets the filter of the probe's event in our instance (error text as above;
 * filter errors are read from our instance's error_log). NULL or "" clears
 * it. A refused filter leaves the event UNFILTERED (the kernel swaps in the
 * broken filter, disabled): do not enable an event whose filter failed. */
int tfs_event_set_filter(Tracefs *t, const ProbeConfig *p, const char *filter, char **ret_error);
/* Writes 1/0 to the probe's event enable file in our instance. */
int tfs_event_enable(Tracefs *t, const ProbeConfig *p, bool on);

/* Kernel aggregation (khist.h). Writes line to (remove: "!" + line into)
 * the trigger file of event ("GROUP/EVENT", "synthetic/NAME") of our
 * instance, opened O_WRONLY|O_APPEND: O_TRUNC would drop every trigger of
 * the event. On failure *ret_error gets the kernel's error_log words when
 * it logged some. */
int tfs_trigger_write(Tracefs *t, const char *event, const char *line, bool remove, char **ret_error);
/* Appends a synthetic event definition to synthetic_events (remove: "!"
 * NAME), never truncating: that would remove everyone's. */
int tfs_synth_write(Tracefs *t, const char *line, bool remove, char **ret_error);
/* Opens the hist file of event in our instance; returns fd or -errno. */
int tfs_open_hist(Tracefs *t, const char *event);
/* Reads fd from its start to its end (at most max bytes) into out
 * (cleared first); -EFBIG past max. */
int tfs_reread(int fd, size_t max, Buf *out);

/* Opens our instance's trace_pipe O_RDONLY|O_NONBLOCK|O_CLOEXEC; returns fd or -errno. */
int tfs_open_trace_pipe(Tracefs *t);

/* Reads instances/name/per_cpu/cpuN/stats (tfs_parse_cpu_stats()) for
 * every CPU present, in CPU order, into the caller's stats[0..max).
 * Returns the number of CPUs filled (<= max), or -errno. */
int tfs_read_cpu_stats(Tracefs *t, TracefsCpuStats *stats, size_t max);

/* The N of every per_cpu/cpuN of our instance, sorted, in a new array.
 * Returns their number, or -errno. */
int tfs_list_cpus(Tracefs *t, unsigned **ret);
/* Opens our instance's per_cpu/cpuN/trace_pipe_raw O_RDONLY|O_NONBLOCK. */
int tfs_open_cpu_raw(Tracefs *t, unsigned cpu);
/* Reads kprobe_profile (hits and misses of every kprobe event). */
int tfs_read_kprobe_profile(Tracefs *t, Buf *out);
/* Reads events/header_page (the ring buffer's page layout). */
int tfs_read_header_page(Tracefs *t, Buf *out);
/* Reads the format file of probe p's event (events/GROUP/NAME/format for
 * kprobe kinds, events/TARGET/format for tracepoints). */
int tfs_event_format(Tracefs *t, const ProbeConfig *p, Buf *out);
/* Writes our instance's buffer_percent (how full the buffer must be
 * before a poller of trace_pipe_raw is woken); -ENOENT on kernels without. */
int tfs_instance_set_buffer_percent(Tracefs *t, unsigned percent);

/* The field names a tracepoint prints, from events/<target>/format
 * (tfs_parse_format_fields()). Returns count >= 0 and a new NULL-terminated
 * strv in *ret (the caller frees it with strv_free()), -EINVAL for a target
 * that tracepoint_target_is_valid() refuses, or -errno. */
int tfs_tracepoint_fields(const char *root, const char *target, char ***ret);
