/* Parsing of trace_pipe lines. This is the daemon's hot path: every function
 * here scans each byte a bounded number of times, allocates nothing and never
 * reads outside [p, p + len), whatever the input (NUL bytes included: nothing
 * here relies on a terminator). */
#include "traceline.h"

#include <errno.h>

/* The kernel prints comm right-aligned in 16 columns ("%16s-%-7d "), so the
 * '-' before the pid normally sits at this index. */
#define COMM_DASH_POS 16
/* When the line is shaped differently (padding stripped by someone, a future
 * format) we look for the '-' before the pid only this far in: comm is at
 * most 15 bytes, anything further right is not a trace_pipe header. This
 * also keeps garbage lines linear to reject. */
#define COMM_SCAN_MAX 64
/* The irq-info column is 4 or 5 chars today; allow some growth. */
#define FLAGS_MAX 8

static inline bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static inline bool is_ident(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}

/* Field names are C identifiers: "8:0" in "dev 8:0" is no field. */
static inline bool is_ident_start(char c) {
        return is_ident(c) && !is_digit(c);
}

static size_t skip_spaces(const char *p, size_t len, size_t i) {
        while (i < len && p[i] == ' ')
                i++;
        return i;
}

/* Decimal digits at p[*i] as a non-negative int32; advances *i. */
static int parse_dec_i32(const char *p, size_t len, size_t *i, int32_t *ret) {
        size_t j = *i;
        int64_t v = 0;

        if (j >= len || !is_digit(p[j]))
                return -EINVAL;
        for (; j < len && is_digit(p[j]); j++) {
                v = v * 10 + (p[j] - '0');
                if (v > INT32_MAX)
                        return -EINVAL;
        }
        *i = j;
        *ret = (int32_t) v;
        return 0;
}

/* "123", "123.456789": the kernel's "%5lu.%06lu", or "%12llu" for counter clocks. */
static bool timestamp_is_valid(const char *p, size_t n) {
        size_t i = 0;

        while (i < n && is_digit(p[i]))
                i++;
        if (i == 0)
                return false;
        if (i == n)
                return true;
        if (p[i] != '.')
                return false;
        i++;
        if (i == n)
                return false;
        while (i < n && is_digit(p[i]))
                i++;
        return i == n;
}

/* "CPU:%d [LOST %lu EVENTS]" or "CPU:%d [LOST EVENTS]" */
static int parse_lost(const char *p, size_t len, TraceLine *ret) {
        static const char events[] = "EVENTS]";
        size_t i = 4, n = sizeof(events) - 1;
        int32_t cpu;
        uint64_t lost = 0;

        if (parse_dec_i32(p, len, &i, &cpu) < 0)
                return -EINVAL;
        if (len - i < 7 || memcmp(p + i, " [LOST ", 7) != 0)
                return -EINVAL;
        i += 7;
        if (i < len && is_digit(p[i])) {
                size_t j = i;
                while (j < len && is_digit(p[j]))
                        j++;
                if (parse_u64((StrView){ p + i, j - i }, &lost) < 0)
                        return -EINVAL;
                i = j;
                if (i >= len || p[i] != ' ')
                        return -EINVAL;
                i++;
        }
        if (len - i != n || memcmp(p + i, events, n) != 0)
                return -EINVAL;

        *ret = (TraceLine){
                .kind = TRACE_LINE_LOST,
                .lost_cpu = cpu,
                .lost = lost,
        };
        return 0;
}

/* Parses everything after comm, starting at the '-' before the pid. Fills
 * tl except comm. */
static int parse_after_comm(const char *p, size_t len, size_t dash, TraceLine *tl) {
        size_t i = dash + 1, j;
        int32_t pid, cpu, tgid = -1;

        if (parse_dec_i32(p, len, &i, &pid) < 0)
                return -EINVAL;
        /* "%-7d " always leaves at least one space. */
        j = skip_spaces(p, len, i);
        if (j == i || j >= len)
                return -EINVAL;
        i = j;

        /* Optional "(%7d) " or "(-------) " with options/record-tgid. */
        if (p[i] == '(') {
                i = skip_spaces(p, len, i + 1);
                if (i < len && p[i] == '-') {
                        while (i < len && p[i] == '-')
                                i++;
                } else if (parse_dec_i32(p, len, &i, &tgid) < 0)
                        return -EINVAL;
                if (i >= len || p[i] != ')')
                        return -EINVAL;
                j = skip_spaces(p, len, i + 1);
                if (j == i + 1 || j >= len)
                        return -EINVAL;
                i = j;
        }

        /* "[%03d] " */
        if (p[i] != '[')
                return -EINVAL;
        i++;
        if (parse_dec_i32(p, len, &i, &cpu) < 0)
                return -EINVAL;
        if (i >= len || p[i] != ']')
                return -EINVAL;
        j = skip_spaces(p, len, i + 1);
        if (j == i + 1 || j >= len)
                return -EINVAL;
        i = j;

        /* Then either the irq-info flags and the timestamp, or the timestamp
         * alone. The flags never end in ':' and the timestamp always does
         * ("%5lu.%06lu: "), which tells them apart without knowing which
         * options the instance has. */
        const char *sp = memchr(p + i, ' ', len - i);
        j = sp ? (size_t) (sp - p) : len;
        if (p[j - 1] != ':') {
                if (j - i > FLAGS_MAX)
                        return -EINVAL;
                i = skip_spaces(p, len, j);
                if (i == j || i >= len)
                        return -EINVAL;
                sp = memchr(p + i, ' ', len - i);
                j = sp ? (size_t) (sp - p) : len;
                if (p[j - 1] != ':')
                        return -EINVAL;
        }
        if (!timestamp_is_valid(p + i, j - 1 - i))
                return -EINVAL;
        StrView ts = { p + i, j - 1 - i };

        /* ": " then the event name. */
        if (j >= len)
                return -EINVAL;
        i = j + 1;
        j = i;
        while (j < len && is_ident(p[j]))
                j++;
        if (j == i || j >= len)
                return -EINVAL;
        StrView event = { p + i, j - i };
        TraceEventForm form;
        StrView body;

        if (p[j] == ':') {
                /* "event: body"; the kernel always prints the space, but an
                 * empty body may have lost it to whitespace trimming. */
                if (j + 1 == len)
                        body = (StrView){ p + len, 0 };
                else if (p[j + 1] == ' ')
                        body = (StrView){ p + j + 2, len - j - 2 };
                else
                        return -EINVAL;
                form = TRACE_FORM_NAMED;
        } else if (p[j] == '(') {
                /* "sys_connect(fd: 3, ...)" */
                if (p[len - 1] != ')' || len - 1 <= j)
                        return -EINVAL;
                body = (StrView){ p + j + 1, len - 1 - (j + 1) };
                form = TRACE_FORM_SYSCALL_ENTER;
        } else if (len - j >= 4 && memcmp(p + j, " -> ", 4) == 0) {
                /* "sys_connect -> 0xffffffffffffff91" */
                body = (StrView){ p + j + 4, len - j - 4 };
                form = TRACE_FORM_SYSCALL_EXIT;
        } else
                return -EINVAL;

        *tl = (TraceLine){
                .kind = TRACE_LINE_EVENT,
                .pid = pid,
                .tgid = tgid,
                .cpu = cpu,
                .timestamp = ts,
                .event = event,
                .form = form,
                .body = body,
                .lost_cpu = -1,
        };
        return 0;
}

static StrView comm_view(const char *p, size_t dash) {
        size_t s = skip_spaces(p, dash, 0);
        return (StrView){ p + s, dash - s };
}

int traceline_parse(const char *line, size_t len, TraceLine *ret) {
        TraceLine tl;

        if (!line || !ret)
                return -EINVAL;

        if (len >= 4 && memcmp(line, "CPU:", 4) == 0 && parse_lost(line, len, ret) == 0)
                return 0;

        /* The common case: comm padded to 16 columns. */
        if (len > COMM_DASH_POS + 1 && line[COMM_DASH_POS] == '-' && is_digit(line[COMM_DASH_POS + 1]) &&
            parse_after_comm(line, len, COMM_DASH_POS, &tl) == 0) {
                tl.comm = comm_view(line, COMM_DASH_POS);
                *ret = tl;
                return 0;
        }

        /* Otherwise the first "-DIGITS" after which a whole header parses. A
         * comm may hold '-' and digits itself ("kworker/u4:2-ev"), which is
         * why a candidate only counts when the rest of the header follows. */
        size_t lim = len < COMM_SCAN_MAX ? len : COMM_SCAN_MAX;
        for (size_t d = 0; d + 1 < lim; d++) {
                if (line[d] != '-' || !is_digit(line[d + 1]))
                        continue;
                if (parse_after_comm(line, len, d, &tl) < 0)
                        continue;
                tl.comm = comm_view(line, d);
                *ret = tl;
                return 0;
        }

        return -EINVAL;
}

/* Is " NAME=" at p[i]? Needs the whole name: a field "port" must not match
 * inside " sport=". */
static bool field_sep_at(const char *p, size_t len, size_t i, const char *name, size_t nl) {
        return len - i >= nl + 2 && p[i] == ' ' && memcmp(p + i + 1, name, nl) == 0 && p[i + 1 + nl] == '=';
}

/* First " NAME=" at or after `from` (for quoted strings: the first one right
 * after a '"' at or after `from`). Returns its index (of the space), or len. */
static size_t find_field_sep(const char *p, size_t len, size_t from, const char *name, size_t nl, bool after_quote) {
        size_t i = from;

        while (i < len) {
                const char *sp = memchr(p + i, ' ', len - i);
                if (!sp)
                        return len;
                i = (size_t) (sp - p);
                if ((!after_quote || (i > from && p[i - 1] == '"')) && field_sep_at(p, len, i, name, nl))
                        return i;
                i++;
        }
        return len;
}

int traceline_probe_fields(StrView body, char *const *names, const bool *is_string, size_t n,
                           StrView *values, StrView *location) {
        const char *p = body.p;
        size_t len = body.n;

        if (!p || len == 0 || p[0] != '(')
                return -EINVAL;
        if (n > 0 && (!names || !values))
                return -EINVAL;

        /* "(sym+0x0/0x70)", "(caller+0x5a/0xb0 <- func)", "(0x559f95304220)",
         * "(sym+0x0/0x70 [module])": symbols never hold ')'. */
        const char *close = memchr(p, ')', len);
        if (!close)
                return -EINVAL;
        StrView loc = { p + 1, (size_t) (close - p) - 1 };
        size_t i = (size_t) (close - p) + 1;

        if (n > 0) {
                /* The first argument follows the location right away. */
                if (!names[0])
                        return -EINVAL;
                size_t nl = strlen(names[0]);
                if (!field_sep_at(p, len, i, names[0], nl))
                        return -EINVAL;
                size_t v = i + nl + 2;

                for (size_t k = 0; k < n; k++) {
                        size_t end, next_v = 0;

                        if (k + 1 == n)
                                end = len;
                        else {
                                if (!names[k + 1])
                                        return -EINVAL;
                                nl = strlen(names[k + 1]);
                                /* A string prints raw between quotes, so a
                                 * " port=" inside it is skipped only by asking
                                 * for the closing quote right before. A failed
                                 * fetch prints an unquoted (fault). */
                                bool quoted = is_string && is_string[k] && v < len && p[v] == '"';
                                end = find_field_sep(p, len, quoted ? v + 1 : v, names[k + 1], nl, quoted);
                                if (end >= len)
                                        return -EINVAL;
                                next_v = end + nl + 2;
                        }
                        values[k] = (StrView){ p + v, end - v };
                        v = next_v;
                }
        }

        if (location)
                *location = loc;
        return 0;
}

/* Length of an identifier at p[i] followed by sep, or 0. */
static size_t ident_then_at(const char *p, size_t len, size_t i, StrView sep) {
        size_t j = i;

        if (i >= len || !is_ident_start(p[i]))
                return 0;
        while (j < len && is_ident(p[j]))
                j++;
        if (len - j < sep.n || memcmp(p + j, sep.p, sep.n) != 0)
                return 0;
        return j - i;
}

/* The first index >= from where a delim ends and "ident<sep>" begins, with
 * the identifier's length in *nl; len when there is none. Every delimiter
 * candidate is looked at once and an identifier check stops at the first
 * non-identifier byte (a delimiter included), so a whole body is scanned in
 * linear time. */
static size_t next_field(const char *p, size_t len, size_t from, StrView delim, StrView sep, size_t *nl) {
        char last = delim.p[delim.n - 1];

        for (size_t j = from; j < len;) {
                const char *d = memchr(p + j, last, len - j);
                if (!d)
                        break;
                size_t at = (size_t) (d - p) + 1;
                j = at;
                if (at - from < delim.n || memcmp(p + at - delim.n, delim.p, delim.n) != 0)
                        continue;
                size_t m = ident_then_at(p, len, at, sep);
                if (m > 0) {
                        *nl = m;
                        return at;
                }
        }
        return len;
}

/* Splits "k<sep>v<delim>k<sep>v..." where a value runs until the next delim
 * that is followed by "ident<sep>": values may hold spaces ("Web Content")
 * or text like "0x3 (3)". Text before the first field is skipped. */
static int split_fields(const char *p, size_t len, StrView sep, StrView delim, TraceField *out, size_t max) {
        size_t i, nl = ident_then_at(p, len, 0, sep), count = 0;

        i = nl > 0 ? 0 : next_field(p, len, 0, delim, sep, &nl);
        if (i >= len)
                return -EINVAL;

        while (count < max) {
                size_t v = i + nl + sep.n, next_nl = 0;
                size_t next = next_field(p, len, v, delim, sep, &next_nl);
                size_t end = next < len ? next - delim.n : len;

                out[count++] = (TraceField){
                        .name = { p + i, nl },
                        .value = { p + v, end - v },
                };
                if (next >= len)
                        break;
                i = next;
                nl = next_nl;
        }
        return (int) count;
}

int traceline_tracepoint_fields(const TraceLine *tl, TraceField *out, size_t max) {
        if (!tl || tl->kind != TRACE_LINE_EVENT || (max > 0 && !out))
                return -EINVAL;
        const char *p = tl->body.p;
        size_t len = tl->body.n;
        if (len > 0 && !p)
                return -EINVAL;

        switch (tl->form) {
        case TRACE_FORM_NAMED:
                /* "family=AF_INET6 dport=25", "comm=Web Content pid=5"; with
                 * options/fields "fd=0x3 (3)", kept as printed. */
                if (len == 0)
                        return -EINVAL;
                return split_fields(p, len, SV("="), SV(" "), out, max);
        case TRACE_FORM_SYSCALL_ENTER:
                /* A syscall without arguments prints "sys_getpid()". */
                if (len == 0)
                        return 0;
                return split_fields(p, len, SV(": "), SV(", "), out, max);
        case TRACE_FORM_SYSCALL_EXIT:
                if (len == 0)
                        return -EINVAL;
                if (max == 0)
                        return 0;
                out[0] = (TraceField){ .name = SV("ret"), .value = { p, len } };
                return 1;
        }
        return -EINVAL;
}
