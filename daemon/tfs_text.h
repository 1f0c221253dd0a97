/* The texts of tracefs (and /proc/mounts) as data: what we write to the
 * probe files, and parsers of what the kernel shows in error_log, the probe
 * files, per_cpu/cpuN/stats and events/.../format. Pure code, part of the
 * core: no I/O, no logging. tfs.c reads and writes the files.
 *
 * Returned StrViews point into the caller's text; returned strings and
 * strvs are new and the caller's to free. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

/* ---- /proc/mounts ---- */

/* The mount point (octal escapes such as \040 undone) of the first tracefs
 * line of a /proc/mounts text: 0 and a new string in *ret, or -ENOENT. */
int tfs_parse_mounts(const char *text, char **ret);

/* ---- probe files ---- */

/* "kprobe_events" or "uprobe_events", the file a probe of type t is
 * written to (a static string); NULL for tracepoints. */
const char *tfs_probe_file(ProbeType t);

/* The exact line written to the probe file for a kprobe kind, e.g.
 * "p:kprobe_exporter/connect __sys_connect_file family=+0(%si):u16", into
 * out (cleared first; no newline). Returns 0, or -EINVAL for tracepoints
 * (nothing is written for them), for a name, group or target that is empty
 * or has whitespace, and for a fetch arg that is empty or has a newline or
 * a '#' (the kernel would end the command there). A uprobe's $argN is
 * written as its register (uprobe_fetch_arg_translate(); -EINVAL for an N
 * without one); the fetch names stay. */
int tfs_probe_definition(const ProbeConfig *p, const char *group, Buf *out);
/* The same with target instead of the config's (a uprobe's symbol
 * resolved to its offset); NULL: the config's. */
int tfs_probe_definition_at(const ProbeConfig *p, const char *group, const char *target, Buf *out);

/* Splits a line of kprobe_events/uprobe_events, "p:GROUP/EVENT ...",
 * "r:GROUP/EVENT ..." or "r16:GROUP/EVENT ...", into views of the line.
 * Returns false (and leaves the views alone) for any other line. */
bool tfs_probe_line_split(StrView line, StrView *ret_group, StrView *ret_event);

/* ---- error_log ---- */

/* One entry of an error_log: "[ stamp] message\n  Command: cmd\n   ^\n".
 * Views into the log text, without their newlines. */
typedef struct TfsErrorLogEntry {
        StrView stamp;   /* "411.376493", its padding dropped */
        StrView message; /* "trace_uprobe: error: ..." */
        StrView command; /* the whole "  Command: ..." line; empty if there is none */
        StrView caret;   /* the line with the '^' under the error; empty if there is none */
} TfsErrorLogEntry;

/* Reads the entry at *pos (text before the first "[stamp]" line is
 * skipped) and moves *pos past it. Returns false at the end of the text. */
bool tfs_error_log_next(const char **pos, TfsErrorLogEntry *ret);

typedef enum TfsCommandMatch {
        TFS_COMMAND_OTHER,       /* another command */
        TFS_COMMAND_ABBREVIATED, /* command without its "GROUP/", as some kernels log it */
        TFS_COMMAND_EQUAL,       /* the same words (the kernel re-joins them with single spaces) */
} TfsCommandMatch;
/* How the Command: line of entry e relates to the command that was written. */
TfsCommandMatch tfs_error_log_command_match(const TfsErrorLogEntry *e, const char *command);

/* The newest stamp of an error_log text, "" if it has no entry: a new
 * string, for tfs_error_log_entry()'s since. */
char *tfs_error_log_last_stamp(const char *log_text);

/* The kernel's explanation of `command` in an error_log text: the last
 * entry equal to it, else the last abbreviated one (see TfsCommandMatch),
 * among those newer than `since` (all entries when since is NULL). Returns
 * a new string holding the message, command and caret lines joined by '\n'
 * (no trailing newline, no "[stamp]"), or NULL if there is none. */
char *tfs_error_log_entry(const char *log_text, const char *command, const char *since);

/* ---- per_cpu/cpuN/stats ---- */

typedef struct TracefsCpuStats {
        uint64_t entries, overrun, commit_overrun, dropped_events, read_events;
        unsigned cpu; /* N of per_cpu/cpuN: CPU numbers may have gaps */
} TracefsCpuStats;

/* Sets the counters of *s from a stats text ("entries: 12\noverrun: 0\n..."):
 * a counter the text lacks reads 0; other lines (bytes, the timestamps) are
 * ignored; s->cpu is left alone. Returns 0, or -EBADMSG if a counter's value
 * is not a number. */
int tfs_parse_cpu_stats(const char *text, TracefsCpuStats *s);

/* ---- events/<subsystem>/<event>/format ---- */

/* The NAME of a format line "\tfield:TYPE NAME[N];\toffset:...", as a view
 * into line (without "[N]"). Returns false for other lines. */
bool tfs_format_field_name(StrView line, StrView *ret);

/* The field names a tracepoint prints, from the text of its format file:
 * the "name=" keys of its print fmt, or for syscalls (print fmt without
 * "=%") the non-common fields. Returns the count >= 0 and a new
 * NULL-terminated strv in *ret (free with strv_free()), or -EBADMSG when
 * the text has no complete print fmt. */
int tfs_parse_format_fields(const char *format_text, char ***ret);

/* The hits and misses of kprobe event `event` (the name without its group)
 * in the text of kprobe_profile. A miss is a kretprobe return the kernel
 * could not catch (too few maxactive instances). Returns 0, -ENOENT when
 * the event is not listed, or -EBADMSG. */
int tfs_parse_kprobe_profile(const char *text, const char *event, uint64_t *hits, uint64_t *misses);

/* The clock our instance should use, from the text of its trace_clock file
 * ("[local] global counter ... mono ..."): "mono" where the kernel offers
 * it (CLOCK_MONOTONIC: comparable across CPUs and with the daemon's own
 * clock), else "global" (comparable across CPUs), else NULL: neither. Never
 * "local", whose times on two CPUs cannot be subtracted. */
const char *tfs_pick_trace_clock(const char *trace_clock_text);

/* Whether field `name` of a format file holds a number (an integer, not an
 * array or a __data_loc string): 1, 0, or -ENOENT when the format has no
 * such field. */
int tfs_format_field_is_numeric(const char *format_text, const char *name);
