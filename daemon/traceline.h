/* Parsing of trace_pipe lines: the common header, lost-event markers, and
 * the bodies of kprobe/uprobe events and tracepoints. Pure code, zero-copy:
 * every StrView points into the caller's line. */
#pragma once

#include <stdint.h>

#include "util.h"

typedef enum TraceLineKind {
        TRACE_LINE_EVENT,
        TRACE_LINE_LOST, /* "CPU:%d [LOST %lu EVENTS]" or "CPU:%d [LOST EVENTS]" */
} TraceLineKind;

typedef enum TraceEventForm {
        TRACE_FORM_NAMED,         /* "event: body" (kprobes, uprobes, most tracepoints) */
        TRACE_FORM_SYSCALL_ENTER, /* "sys_connect(fd: 3, uservaddr: 0x7ffc, addrlen: 0x1c)" */
        TRACE_FORM_SYSCALL_EXIT,  /* "sys_connect -> 0xffffffffffffff91" */
} TraceEventForm;

typedef struct TraceLine {
        TraceLineKind kind;
        /* TRACE_LINE_EVENT: */
        StrView comm;      /* leading padding removed; may contain spaces; "<...>" when unknown */
        int32_t pid;
        int32_t tgid;      /* -1 when the line has no (tgid) column or it is "(-------)" */
        int32_t cpu;
        StrView timestamp; /* "972.294794" as printed */
        StrView event;     /* "connect", "inet_sock_set_state", or "sys_connect" for syscalls */
        TraceEventForm form;
        StrView body;      /* NAMED: after "event: "; ENTER: inside the parentheses; EXIT: after "-> " */
        /* TRACE_LINE_LOST: */
        int32_t lost_cpu;
        uint64_t lost;     /* 0 when the kernel did not say how many */
} TraceLine;

/* Parses one line (without its trailing newline). Returns 0, or -EINVAL when
 * the line is not in a known format. Accepts every header variant the
 * kernel prints: with or without the (tgid) column, with or without the
 * irq-info flags column (4 or 5 chars). */
int traceline_parse(const char *line, size_t len, TraceLine *ret);

/* kprobe/kretprobe/uprobe/uretprobe body: "(location) n1=v1 n2=v2 ...".
 * names are the probe's fetch arg names in order; is_string[i] tells that
 * field i is printed as a quoted string (which may contain spaces, quotes
 * and "x=" text). Fills values[0..n) (quotes kept; decoders drop them) and
 * *location (inside the parentheses, may be NULL). Returns 0, or -EINVAL if
 * the body does not match (a field is missing); values may then be partly
 * written. Value i ends at the first " <name i+1>=" after it, for a quoted
 * string at the first '" <name i+1>='; the last runs to the end of the body. */
int traceline_probe_fields(StrView body, char *const *names, const bool *is_string, size_t n,
                           StrView *values, StrView *location);
/* The same with the names as views (no strlen() per line); a view with
 * p == NULL is as a NULL name. Value k always follows "NAME_k=" in body:
 * values[k].p - names[k].n - 1 is where name k is printed. */
int traceline_probe_fields_sv(StrView body, const StrView *names, const bool *is_string, size_t n,
                              StrView *values, StrView *location);

typedef struct TraceField {
        StrView name;
        StrView value;
} TraceField;

/* Tracepoint fields: "k=v k=v" for NAMED lines (a value runs until the next
 * " ident=" so values with spaces survive); "k: v, k: v" for syscall enter;
 * one field "ret" for syscall exit. Writes at most max fields; returns the
 * number found (>= 0), or -EINVAL if the body has no recognizable field.
 * The number returned is the number written (never more than max: fields
 * past max are ignored). Values are kept exactly as printed: with
 * options/fields the kernel prints "fd=0x3 (3)" and the value is "0x3 (3)"
 * (the numeric decoders read its first part). Text before the first field
 * is skipped; a syscall without arguments ("sys_getpid()") has 0 fields. */
int traceline_tracepoint_fields(const TraceLine *tl, TraceField *out, size_t max);
