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

/* Character classes by table: one load per byte instead of range
 * compares, in loops that run over every byte of every line. */
enum {
        CC_DIGIT = 1 << 0,
        CC_IDENT = 1 << 1, /* [A-Za-z0-9_] */
};

static const uint8_t char_class[256] = {
        ['0' ... '9'] = CC_DIGIT | CC_IDENT,
        ['a' ... 'z'] = CC_IDENT,
        ['A' ... 'Z'] = CC_IDENT,
        ['_'] = CC_IDENT,
};

static inline bool is_digit(char c) {
        return char_class[(unsigned char) c] & CC_DIGIT;
}

static inline bool is_ident(char c) {
        return char_class[(unsigned char) c] & CC_IDENT;
}

/* Field names are C identifiers: "8:0" in "dev 8:0" is no field. */
static inline bool is_ident_start(char c) {
        return (char_class[(unsigned char) c] & (CC_IDENT | CC_DIGIT)) == CC_IDENT;
}

static inline size_t skip_spaces(const char *p, size_t len, size_t i) {
        while (i < len && p[i] == ' ')
                i++;
        return i;
}

/* Index of the first byte at or after i that is not a digit, or len. */
static inline size_t skip_digits(const char *p, size_t len, size_t i) {
        while (i < len && is_digit(p[i]))
                i++;
        return i;
}

/* Decimal digits at p[*i] as a non-negative int32; advances *i. Returns
 * the value, or -1 (no digit, or more than INT32_MAX). */
static inline int64_t parse_dec_i32_at(const char *p, size_t len, size_t *i) {
        size_t j = *i;
        int64_t v = 0;

        if (j >= len || !is_digit(p[j]))
                return -1;
        for (; j < len && is_digit(p[j]); j++) {
                v = v * 10 + (p[j] - '0');
                if (v > INT32_MAX)
                        return -1;
        }
        *i = j;
        return v;
}

static int parse_dec_i32(const char *p, size_t len, size_t *i, int32_t *ret) {
        int64_t v = parse_dec_i32_at(p, len, i);
        if (v < 0)
                return -EINVAL;
        *ret = (int32_t) v;
        return 0;
}

/* "123", "123.456789": the kernel's "%5lu.%06lu", or "%12llu" for counter clocks. */
static inline bool timestamp_is_valid(const char *p, size_t n) {
        size_t i = skip_digits(p, n, 0);

        if (i == 0)
                return false;
        if (i == n)
                return true;
        if (p[i] != '.')
                return false;
        i++;
        if (i == n)
                return false;
        return skip_digits(p, n, i) == n;
}

/* Index of the first byte c at or after i, or len. Eight bytes at a time
 * where it can: values and the gaps between spaces are short, too short
 * for memchr()'s call to pay off, too long for a plain byte loop. */
static inline size_t find_byte(const char *p, size_t len, size_t i, char c) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        const uint64_t pattern = ones * (unsigned char) c;
        for (; len - i >= 8; i += 8) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                w ^= pattern; /* bytes equal to c are now 0 */
                uint64_t zero = (w - ones) & ~w & highs;
                /* The lowest flagged byte is exact (a borrow only flags
                 * bytes above a real zero). */
                if (zero)
                        return i + (size_t) (__builtin_ctzll(zero) >> 3);
        }
#endif
        while (i < len && p[i] != c)
                i++;
        return i;
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
        int64_t pid, cpu, tgid = -1;

        pid = parse_dec_i32_at(p, len, &i);
        if (pid < 0)
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
                } else if ((tgid = parse_dec_i32_at(p, len, &i)) < 0)
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
        cpu = parse_dec_i32_at(p, len, &i);
        if (cpu < 0)
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
        j = find_byte(p, len, i, ' ');
        if (p[j - 1] != ':') {
                if (j - i > FLAGS_MAX)
                        return -EINVAL;
                i = skip_spaces(p, len, j);
                if (i == j || i >= len)
                        return -EINVAL;
                j = find_byte(p, len, i, ' ');
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

        tl->kind = TRACE_LINE_EVENT;
        tl->pid = (int32_t) pid;
        tl->tgid = (int32_t) tgid;
        tl->cpu = (int32_t) cpu;
        tl->timestamp = ts;
        tl->event = event;
        tl->form = form;
        tl->body = body;
        tl->lost_cpu = -1;
        tl->lost = 0;
        return 0;
}

static StrView comm_view(const char *p, size_t dash) {
        size_t s = skip_spaces(p, dash, 0);
        return (StrView){ p + s, dash - s };
}

int traceline_parse(const char *line, size_t len, TraceLine *ret) {
        if (!line || !ret)
                return -EINVAL;

        if (len >= 4 && memcmp(line, "CPU:", 4) == 0 && parse_lost(line, len, ret) == 0)
                return 0;

        /* parse_after_comm() writes *ret only when the header parses, so a
         * failed line leaves it untouched; filled in place, not copied. */

        /* The common case: comm padded to 16 columns. */
        if (len > COMM_DASH_POS + 1 && line[COMM_DASH_POS] == '-' && is_digit(line[COMM_DASH_POS + 1]) &&
            parse_after_comm(line, len, COMM_DASH_POS, ret) == 0) {
                ret->comm = comm_view(line, COMM_DASH_POS);
                return 0;
        }

        /* Otherwise the first "-DIGITS" after which a whole header parses. A
         * comm may hold '-' and digits itself ("kworker/u4:2-ev"), which is
         * why a candidate only counts when the rest of the header follows. */
        size_t lim = len < COMM_SCAN_MAX ? len : COMM_SCAN_MAX;
        for (size_t d = 0; d + 1 < lim; d++) {
                if (line[d] != '-' || !is_digit(line[d + 1]))
                        continue;
                if (parse_after_comm(line, len, d, ret) < 0)
                        continue;
                ret->comm = comm_view(line, d);
                return 0;
        }

        return -EINVAL;
}

/* Short compares (separators, names) inline, without a call to memcmp(). */
static inline bool bytes_eq(const char *a, const char *b, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (a[i] != b[i])
                        return false;
        return true;
}

/* Is " NAME=" at p[i]? Needs the whole name: a field "port" must not match
 * inside " sport=". */
static inline bool field_sep_at(const char *p, size_t len, size_t i, StrView name) {
        return len - i >= name.n + 2 && p[i] == ' ' && bytes_eq(p + i + 1, name.p, name.n) && p[i + 1 + name.n] == '=';
}

/* First " NAME=" at or after `from` (for quoted strings: the first one right
 * after a '"' at or after `from`). Returns its index (of the space), or len. */
static size_t find_field_sep(const char *p, size_t len, size_t from, StrView name, bool after_quote) {
        size_t i = from;

        while (i < len) {
                i = find_byte(p, len, i, ' ');
                if (i >= len)
                        return len;
                if ((!after_quote || (i > from && p[i - 1] == '"')) && field_sep_at(p, len, i, name))
                        return i;
                i++;
        }
        return len;
}

/* Name k: from the views when given, else from the C strings (NULL ones
 * have p == NULL). */
static inline StrView name_at(char *const *names, const StrView *views, size_t k) {
        if (views)
                return views[k];
        return names[k] ? sv_from(names[k]) : (StrView){ NULL, 0 };
}

static int probe_fields(StrView body, char *const *names, const StrView *views, const bool *is_string, size_t n,
                        StrView *values, StrView *location) {
        const char *p = body.p;
        size_t len = body.n;

        if (!p || len == 0 || p[0] != '(')
                return -EINVAL;
        if (n > 0 && ((!names && !views) || !values))
                return -EINVAL;

        /* "(sym+0x0/0x70)", "(caller+0x5a/0xb0 <- func)", "(0x559f95304220)",
         * "(sym+0x0/0x70 [module])": symbols never hold ')'. */
        size_t close = find_byte(p, len, 0, ')');
        if (close >= len)
                return -EINVAL;
        StrView loc = { p + 1, close - 1 };
        size_t i = close + 1;

        if (n > 0) {
                /* The first argument follows the location right away. */
                StrView name = name_at(names, views, 0);
                if (!name.p || !field_sep_at(p, len, i, name))
                        return -EINVAL;
                size_t v = i + name.n + 2;

                for (size_t k = 0; k < n; k++) {
                        size_t end, next_v = 0;

                        if (k + 1 == n)
                                end = len;
                        else {
                                name = name_at(names, views, k + 1);
                                if (!name.p)
                                        return -EINVAL;
                                /* A string prints raw between quotes, so a
                                 * " port=" inside it is skipped only by asking
                                 * for the closing quote right before. A failed
                                 * fetch prints an unquoted (fault). */
                                bool quoted = is_string && is_string[k] && v < len && p[v] == '"';
                                end = find_field_sep(p, len, quoted ? v + 1 : v, name, quoted);
                                if (end >= len)
                                        return -EINVAL;
                                next_v = end + name.n + 2;
                        }
                        values[k] = (StrView){ p + v, end - v };
                        v = next_v;
                }
        }

        if (location)
                *location = loc;
        return 0;
}

int traceline_probe_fields(StrView body, char *const *names, const bool *is_string, size_t n,
                           StrView *values, StrView *location) {
        return probe_fields(body, names, NULL, is_string, n, values, location);
}

int traceline_probe_fields_sv(StrView body, const StrView *names, const bool *is_string, size_t n,
                              StrView *values, StrView *location) {
        return probe_fields(body, NULL, names, is_string, n, values, location);
}

/* Length of an identifier at p[i] followed by sep, or 0. */
static inline size_t ident_then_at(const char *p, size_t len, size_t i, StrView sep) {
        size_t j = i;

        if (i >= len || !is_ident_start(p[i]))
                return 0;
        while (j < len && is_ident(p[j]))
                j++;
        if (len - j < sep.n || !bytes_eq(p + j, sep.p, sep.n))
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

        for (size_t j = from; j < len; j++) {
                j = find_byte(p, len, j, last);
                if (j >= len)
                        break;
                size_t at = j + 1;
                if (at - from < delim.n || !bytes_eq(p + at - delim.n, delim.p, delim.n))
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
