#include "rawrec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include <event-parse.h>
#include <kbuffer.h>
#include <trace-seq.h>

#include "tfs_text.h"
#include "traceline.h"

/* A print fmt literal (C escapes as the format file shows them) into out;
 * false when it does not fit. */
static bool unescape_literal(StrView lit, char *out, size_t size, uint8_t *ret_n) {
        size_t n = 0;
        for (size_t i = 0; i < lit.n; i++) {
                char c = lit.p[i];
                if (c == '\\' && i + 1 < lit.n) {
                        c = lit.p[++i];
                        c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
                }
                if (n == size)
                        return false;
                out[n++] = c;
        }
        *ret_n = (uint8_t) n;
        return true;
}

/* A string field of a tracepoint, hidden before the event's text is made
 * (so its bytes cannot pass for other fields) and put back after. */
typedef struct HiddenString {
        int offset, size;
        bool dynamic;
        char key[CONFIG_NAME_MAX + 1]; /* the "key=" it is printed under */
} HiddenString;

/* A tracepoint's field as its print fmt prints it, rendered from the record's
 * bytes without tep (see tp_plan()). */
typedef enum SegKind {
        SEG_INT,
        SEG_SYMBOL, /* __print_symbolic() */
        SEG_STRING, /* %s of __get_str() */
        SEG_IPV4,   /* %pI4 of a 4-byte array */
        SEG_IPV6,   /* %pI6c of a 16-byte array */
        SEG_CHARS,  /* a char array, to its NUL (fields_plan()) */
} SegKind;

typedef struct TpSeg {
        char key[CONFIG_NAME_MAX + 1];
        SegKind kind;
        int offset, size;
        bool is_signed;
        char conv;      /* d u x */
        int length;     /* -2: char, -1: short, 0: int, 1: long, 2: long long */
        int width;
        bool zero_pad;
        char pre[8], post[8];
        uint8_t n_pre, n_post;
        const struct tep_print_flag_sym *symbols;
} TpSeg;

typedef struct RawEvent {
        int id;
        uint32_t probe;
        bool tracepoint;
        TraceEventForm form;
        struct tep_event *event;
        size_t n_fields; /* kprobe kinds: the config's */
        bool via_text;   /* a field the direct path cannot print: use tep's text */
        bool *is_string;
        HiddenString *hidden;
        size_t n_hidden;
        /* fields printed directly from the record's bytes (direct), in the
         * order the text shows them; else tep prints the record */
        TpSeg *segs;
        size_t n_segs;
        StrView *seg_names;
        bool direct;
} RawEvent;

struct RawDecoder {
        bool tep_only; /* tests: print every tracepoint with tep */
        struct tep_handle *tep;
        RawCursor *cursor; /* rawdec_page()'s */
        RawEvent *events;
        size_t n_events;
        Buf text; /* one record's values, or its copy */
        Buf copy;
        struct trace_seq seq;
        StrView names[PIPELINE_MAX_FIELDS];
        StrView values[PIPELINE_MAX_FIELDS];
        size_t value_off[PIPELINE_MAX_FIELDS];
};

RawDecoder *rawdec_new(void) {
        RawDecoder *d = xcalloc(1, sizeof(RawDecoder));
        d->tep = tep_alloc();
        if (!d->tep)
                abort();
        tep_set_long_size(d->tep, (int) sizeof(long));
        tep_set_page_size(d->tep, 4096);
        d->cursor = rawdec_cursor_new();
        trace_seq_init(&d->seq);
        return d;
}

void rawdec_set_tep_only(RawDecoder *d, bool on) {
        d->tep_only = on;
}

bool rawdec_probe_is_direct(const RawDecoder *d, uint32_t probe) {
        for (size_t i = 0; i < d->n_events; i++)
                if (d->events[i].probe == probe)
                        return d->events[i].direct;
        return false;
}

RawDecoder *rawdec_free(RawDecoder *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_events; i++) {
                free(d->events[i].is_string);
                free(d->events[i].hidden);
                free(d->events[i].segs);
                free(d->events[i].seg_names);
        }
        free(d->events);
        rawdec_cursor_free(d->cursor);
        tep_free(d->tep);
        trace_seq_destroy(&d->seq);
        buf_free(&d->text);
        buf_free(&d->copy);
        free(d);
        return NULL;
}

int rawdec_parse_header_page(const char *text, size_t *ret_size) {
        /* "\tfield: char data;\toffset:16;\tsize:4080;\tsigned:0;" */
        const char *f = strstr(text, " data;");
        if (!f)
                return -EBADMSG;
        const char *o = strstr(f, "offset:"), *s = strstr(f, "size:");
        if (!o || !s)
                return -EBADMSG;
        uint64_t off, size;
        if (parse_u64((StrView){ o + 7, strcspn(o + 7, ";") }, &off) < 0 ||
            parse_u64((StrView){ s + 5, strcspn(s + 5, ";") }, &size) < 0 || off > 64 || size == 0 ||
            size > (64u << 20))
                return -EBADMSG;
        *ret_size = (size_t) (off + size);
        return 0;
}

/* ---- print fmt ---- */

/* The literal before and after the conversion that follows " NAME=" (or
 * "NAME=" at the start) in a print fmt's format string, and the
 * conversion's type character. Returns false when NAME has none. */
static bool fmt_conversion(const char *fmt, const char *name, StrView *pre, StrView *post, char *conv) {
        size_t n = strlen(name);
        for (const char *p = fmt; (p = strstr(p, name)); p += n) {
                if ((p != fmt && p[-1] != ' ') || p[n] != '=')
                        continue;
                const char *v = p + n + 1, *pc = strchr(v, '%');
                if (!pc)
                        return false;
                *pre = (StrView){ v, (size_t) (pc - v) };
                const char *c = pc + 1;
                c += strspn(c, "-+ #0123456789.");
                c += strspn(c, "hlLzjt");
                if (!*c)
                        return false;
                *conv = *c;
                const char *after = c + 1, *end = after;
                /* the literal runs to the next " NAME=" or the end */
                while (*end && !(*end == ' ' && strchr(end + 1, '=') &&
                                 strspn(end + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
                                         (size_t) (strchr(end + 1, '=') - end - 1)))
                        end++;
                *post = (StrView){ after, (size_t) (end - after) };
                return true;
        }
        return false;
}

static const char *sys_of(const ProbeConfig *c, char *buf, size_t size) {
        if (c->type != PROBE_TRACEPOINT)
                return "kprobes";
        const char *slash = strchr(c->target, '/');
        snprintf(buf, size, "%.*s", slash ? (int) (slash - c->target) : 0, c->target);
        return buf;
}

/* Text a traced process may write: char arrays (comm[16]) and __data_loc
 * char[] strings. Not u8 arrays (addresses), which tep also calls strings. */
static bool field_is_string(const struct tep_format_field *f) {
        return f->type && strstr(f->type, "char") && !strstr(f->type, "unsigned char") &&
               (f->flags & (TEP_FIELD_IS_ARRAY | TEP_FIELD_IS_DYNAMIC));
}

/* For a tracepoint: its string fields, and the key each is printed under
 * (by the order of the print fmt's conversions and arguments). */
static void find_hidden_strings(RawEvent *e) {
        struct tep_format_field **fields = tep_event_fields(e->event);
        for (size_t i = 0; fields && fields[i]; i++) {
                struct tep_format_field *f = fields[i];
                if (!field_is_string(f))
                        continue;
                e->hidden = xrealloc(e->hidden, (e->n_hidden + 1) * sizeof(HiddenString));
                HiddenString *h = &e->hidden[e->n_hidden++];
                *h = (HiddenString){ .offset = f->offset, .size = f->size, .dynamic = (f->flags & TEP_FIELD_IS_DYNAMIC) != 0 };
                /* Its key: the conversion whose argument is this field. */
                const char *fmt = e->event->print_fmt.format;
                struct tep_print_arg *arg = e->event->print_fmt.args;
                for (const char *p = fmt ? strchr(fmt, '%') : NULL; p && arg; p = strchr(p + 1, '%')) {
                        if (p[1] == '%') {
                                p++;
                                continue;
                        }
                        bool mine = (arg->type == TEP_PRINT_STRING && arg->string.field == f) ||
                                    (arg->type == TEP_PRINT_FIELD && arg->field.field == f);
                        if (mine) {
                                const char *eq = p > fmt ? p - 1 : NULL;
                                if (eq && *eq == '=') {
                                        const char *k = eq;
                                        while (k > fmt && (char_is_name(k[-1])))
                                                k--;
                                        snprintf(h->key, sizeof(h->key), "%.*s", (int) (eq - k), k);
                                }
                                break;
                        }
                        arg = arg->next;
                }
                if (!h->key[0])
                        snprintf(h->key, sizeof(h->key), "%s", f->name);
        }
        free(fields);
}

static uint64_t read_uint(const unsigned char *p, int size) {
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
        switch (size) {
        case 1:
                memcpy(&u8, p, 1);
                return u8;
        case 2:
                memcpy(&u16, p, 2);
                return u16;
        case 4:
                memcpy(&u32, p, 4);
                return u32;
        default:
                memcpy(&u64, p, 8);
                return u64;
        }
}

static int64_t sign_extend(uint64_t v, int size) {
        if (size >= 8)
                return (int64_t) v;
        int bits = size * 8;
        uint64_t m = 1ull << (bits - 1);
        return (int64_t) ((v ^ m) - m);
}

/* A __data_loc field: its bytes, up to the first NUL (as %s prints it),
 * by the length the record stores. False when it points outside. */
static bool data_loc_string(const unsigned char *data, size_t size, int offset, StrView *ret) {
        uint32_t loc;
        if (offset < 0 || (size_t) offset + 4 > size)
                return false;
        memcpy(&loc, data + offset, 4);
        size_t off = loc & 0xffff, len = loc >> 16;
        if (off > size || len > size - off)
                return false;
        const char *s = (const char *) data + off;
        const char *nul = memchr(s, 0, len);
        *ret = (StrView){ s, nul ? (size_t) (nul - s) : len };
        return true;
}

/* ---- tracepoints without tep ---- */

/* A conversion "%[0][width][l|ll]X" at p (after the '%'): fills seg, returns
 * the char after it, or NULL when it is not one we render. */
static const char *parse_spec(const char *p, TpSeg *seg, bool *is_ptr) {
        *is_ptr = false;
        if (*p == '0') {
                seg->zero_pad = true;
                p++;
        }
        while (*p >= '0' && *p <= '9')
                seg->width = seg->width * 10 + (*p++ - '0');
        if (seg->width > 32)
                return NULL;
        while (*p == 'l' && seg->length < 2) {
                seg->length++;
                p++;
        }
        while (*p == 'h' && seg->length > -2 && seg->length <= 0) {
                seg->length--;
                p++;
        }
        if (*p == 'd' || *p == 'i' || *p == 'u' || *p == 'x' || *p == 's') {
                seg->conv = *p == 'i' ? 'd' : *p;
                return p + 1;
        }
        if (*p == 'p' && seg->length == 0 && !seg->width) {
                *is_ptr = true;
                if (strncmp(p, "pI4", 3) == 0) {
                        seg->kind = SEG_IPV4;
                        return p + 3;
                }
                if (strncmp(p, "pI6c", 4) == 0) {
                        seg->kind = SEG_IPV6;
                        return p + 4;
                }
        }
        return NULL;
}

static const struct tep_format_field *arg_field(struct tep_event *ev, struct tep_print_arg *a) {
        while (a && a->type == TEP_PRINT_TYPE)
                a = a->typecast.item;
        if (!a || a->type != TEP_PRINT_FIELD)
                return NULL;
        return a->field.field ? a->field.field : tep_find_field(ev, a->field.name);
}

/* The separators trace_pipe prints between fields: "k=v k=v" for most
 * tracepoints, "k: v, k: v" for syscall entries. */
static bool seg_key(const char **pp, TpSeg *seg, TraceEventForm form, bool first) {
        const char *p = *pp;
        if (!first) {
                const char *sep = form == TRACE_FORM_SYSCALL_ENTER ? ", " : " ";
                if (strncmp(p, sep, strlen(sep)) != 0)
                        return false;
                p += strlen(sep);
        }
        if (form == TRACE_FORM_SYSCALL_EXIT) {
                snprintf(seg->key, sizeof(seg->key), "ret");
                *pp = p;
                return first;
        }
        const char *k = p;
        if (!char_is_name_start(*p))
                return false;
        while (char_is_name(*p))
                p++;
        if ((size_t) (p - k) > CONFIG_NAME_MAX)
                return false;
        snprintf(seg->key, sizeof(seg->key), "%.*s", (int) (p - k), k);
        const char *eq = form == TRACE_FORM_SYSCALL_ENTER ? ": " : "=";
        if (strncmp(p, eq, strlen(eq)) != 0)
                return false;
        *pp = p + strlen(eq);
        return true;
}

/* Plans the direct rendering of a tracepoint whose print fmt is a plain
 * sequence of "key=<literal>%conv<literal>" of fields, symbols, strings
 * and IP addresses. Anything else stays with tep. */
static bool tp_plan(RawEvent *e) {
        const char *p = e->event->print_fmt.format;
        struct tep_print_arg *arg = e->event->print_fmt.args;
        if (!p)
                return false;
        TpSeg *segs = NULL;
        size_t n = 0;
        for (bool first = true; *p; first = false) {
                TpSeg seg = { 0 };
                if (!seg_key(&p, &seg, e->form, first))
                        goto no;
                const char *pc = strchr(p, '%');
                bool is_ptr;
                if (!pc || !unescape_literal((StrView){ p, (size_t) (pc - p) }, seg.pre, sizeof(seg.pre), &seg.n_pre))
                        goto no;
                const char *after = parse_spec(pc + 1, &seg, &is_ptr);
                if (!after || !arg)
                        goto no;
                /* the literal after it, up to the next separator */
                const char *end = after;
                while (*end && !(e->form == TRACE_FORM_SYSCALL_ENTER ? strncmp(end, ", ", 2) == 0 : *end == ' '))
                        end++;
                if (!unescape_literal((StrView){ after, (size_t) (end - after) }, seg.post, sizeof(seg.post), &seg.n_post) ||
                    memchr(seg.pre, '%', seg.n_pre) || memchr(seg.post, '%', seg.n_post))
                        goto no;
                p = end;

                const struct tep_format_field *f = NULL;
                if (arg->type == TEP_PRINT_SYMBOL && seg.conv == 's') {
                        seg.kind = SEG_SYMBOL;
                        seg.symbols = arg->symbol.symbols;
                        f = arg_field(e->event, arg->symbol.field);
                } else if (arg->type == TEP_PRINT_STRING && seg.conv == 's') {
                        seg.kind = SEG_STRING;
                        f = arg->string.field ? arg->string.field : tep_find_field(e->event, arg->string.string);
                        if (f && !(f->flags & TEP_FIELD_IS_DYNAMIC))
                                goto no;
                } else if (is_ptr) {
                        f = arg_field(e->event, arg);
                        if (f && !(f->flags & TEP_FIELD_IS_ARRAY))
                                goto no;
                        if (f && f->size != (seg.kind == SEG_IPV4 ? 4 : 16))
                                goto no;
                } else if (seg.conv != 's') {
                        seg.kind = SEG_INT;
                        f = arg_field(e->event, arg);
                        if (f && ((f->flags & (TEP_FIELD_IS_ARRAY | TEP_FIELD_IS_DYNAMIC)) ||
                                  !(f->size == 1 || f->size == 2 || f->size == 4 || f->size == 8)))
                                goto no;
                } else
                        goto no;
                if (!f)
                        goto no;
                seg.offset = f->offset;
                seg.size = f->size;
                seg.is_signed = (f->flags & TEP_FIELD_IS_SIGNED) != 0;
                if (seg.kind == SEG_SYMBOL)
                        for (const struct tep_print_flag_sym *sym = seg.symbols; sym; sym = sym->next) {
                                int64_t v;
                                if (!sym->value || !sym->str || parse_i64(sv_from(sym->value), &v) < 0)
                                        goto no;
                        }
                segs = xrealloc(segs, (n + 1) * sizeof(TpSeg));
                segs[n++] = seg;
                arg = arg->next;
        }
        if (arg)
                goto no; /* more arguments than conversions */
        e->segs = segs;
        e->n_segs = n;
        e->seg_names = xcalloc(n ? n : 1, sizeof(StrView));
        for (size_t i = 0; i < n; i++)
                e->seg_names[i] = sv_from(e->segs[i].key);
        e->direct = true;
        return true;
no:
        free(segs);
        return false;
}

/* Whether a print fmt names any value it prints: "name=%" somewhere
 * ("family=%s ...", "bdi %s: ino=%lu"), or a syscall's "name: %" ("fd:
 * 0x%08lx"). One that names none prints by position (block's "%d,%d %s %u
 * (%s) %llu + %u [%s]"): its text has nothing to split by. */
static bool fmt_names_values(const char *p) {
        for (const char *pc = p ? strchr(p, '%') : NULL; pc; pc = strchr(pc + 1, '%')) {
                const char *k = pc;
                while (k > p && (k[-1] == ' ' || k[-1] == 'x' || k[-1] == '0'))
                        k--; /* "name: 0x%08lx" */
                if (k - p >= 2 && (k[-1] == '=' || k[-1] == ':') && char_is_name(k[-2]))
                        return true;
        }
        return false;
}

/* Whether a print fmt has a key that no field name can be, a hyphenated
 * one after a blank (oom/mark_victim's "comm=%s total-vm=%lukB"): text
 * split at " name=" would run the string before it into it. */
static bool fmt_has_odd_keys(const char *p) {
        for (const char *pc = p ? strchr(p, '%') : NULL; pc; pc = strchr(pc + 1, '%')) {
                if (pc - p < 2 || pc[-1] != '=')
                        continue;
                const char *k = pc - 1;
                bool hyphen = false;
                while (k > p && (char_is_name(k[-1]) || k[-1] == '-')) {
                        hyphen |= k[-1] == '-';
                        k--;
                }
                if (hyphen && (k == p || k[-1] == ' '))
                        return true;
        }
        return false;
}

/* A tracepoint whose print fmt prints by position: its text has no names
 * for the values, so each field of its format is rendered from the
 * record's bytes under its own name (integers in decimal, strings as they
 * are); arrays other than strings are left out. */
static bool fields_plan(RawEvent *e) {
        struct tep_format_field **fields = tep_event_fields(e->event);
        TpSeg *segs = NULL;
        size_t n = 0;
        for (size_t i = 0; fields && fields[i]; i++) {
                const struct tep_format_field *f = fields[i];
                TpSeg seg = { .offset = f->offset, .size = f->size, .is_signed = (f->flags & TEP_FIELD_IS_SIGNED) != 0,
                              .length = 2 };
                /* __rel_loc strings (offset from the field): not read here. */
                if (strlen(f->name) >= sizeof(seg.key) || (f->flags & TEP_FIELD_IS_RELATIVE))
                        continue;
                snprintf(seg.key, sizeof(seg.key), "%s", f->name);
                if (field_is_string(f))
                        seg.kind = (f->flags & TEP_FIELD_IS_DYNAMIC) ? SEG_STRING : SEG_CHARS;
                else if (!(f->flags & (TEP_FIELD_IS_ARRAY | TEP_FIELD_IS_DYNAMIC)) &&
                         (f->size == 1 || f->size == 2 || f->size == 4 || f->size == 8)) {
                        seg.kind = SEG_INT;
                        seg.conv = seg.is_signed ? 'd' : 'u';
                } else
                        continue;
                segs = xrealloc(segs, (n + 1) * sizeof(TpSeg));
                segs[n++] = seg;
        }
        free(fields);
        if (n == 0)
                return false;
        e->segs = segs;
        e->n_segs = n;
        e->seg_names = xcalloc(n, sizeof(StrView));
        for (size_t i = 0; i < n; i++)
                e->seg_names[i] = sv_from(e->segs[i].key);
        e->direct = true;
        return true;
}

static void put_int_spec(Buf *b, const TpSeg *g, uint64_t raw) {
        char tmp[FMT_INT_MAX + 4];
        size_t n;
        uint64_t v = raw;
        if (g->is_signed)
                v = (uint64_t) sign_extend(raw, g->size);
        if (g->length == 0)
                v = g->conv == 'd' ? (uint64_t) (int64_t) (int32_t) v : (uint32_t) v;
        else if (g->length == -1)
                v = g->conv == 'd' ? (uint64_t) (int64_t) (int16_t) v : (uint16_t) v;
        else if (g->length == -2)
                v = g->conv == 'd' ? (uint64_t) (int64_t) (int8_t) v : (uint8_t) v;
        if (g->conv == 'd')
                n = fmt_i64(tmp, (int64_t) v);
        else if (g->conv == 'x') {
                n = fmt_hex(tmp, v) - 2;
                memmove(tmp, tmp + 2, n);
        } else
                n = fmt_u64(tmp, v);
        for (size_t i = n; (int) i < g->width; i++)
                buf_putc(b, g->zero_pad ? '0' : ' ');
        buf_append(b, tmp, n);
}

/* Every field printed from its bytes, as the event's print fmt says. */
static bool fields_direct(RawDecoder *d, const RawEvent *e, const unsigned char *data, size_t size, size_t *ret_n) {
        buf_clear(&d->text);
        size_t n = e->n_segs < PIPELINE_MAX_FIELDS ? e->n_segs : PIPELINE_MAX_FIELDS;
        for (size_t i = 0; i < n; i++) {
                const TpSeg *g = &e->segs[i];
                d->value_off[i] = d->text.len;
                buf_append(&d->text, g->pre, g->n_pre);
                if (g->kind == SEG_STRING) {
                        StrView str;
                        if (!data_loc_string(data, size, g->offset, &str))
                                return false;
                        buf_put_sv(&d->text, str);
                } else if (g->kind == SEG_CHARS) {
                        if (g->offset < 0 || (size_t) g->offset + (size_t) g->size > size)
                                return false;
                        const char *p = (const char *) data + g->offset;
                        const char *nul = memchr(p, 0, (size_t) g->size);
                        buf_append(&d->text, p, nul ? (size_t) (nul - p) : (size_t) g->size);
                } else {
                        if (g->offset < 0 || (size_t) g->offset + (size_t) g->size > size)
                                return false;
                        const unsigned char *at = data + g->offset;
                        char addr[64];
                        if (g->kind == SEG_IPV4 || g->kind == SEG_IPV6) {
                                if (!inet_ntop(g->kind == SEG_IPV4 ? AF_INET : AF_INET6, at, addr, sizeof(addr)))
                                        return false;
                                buf_puts(&d->text, addr);
                        } else if (g->kind == SEG_SYMBOL) {
                                uint64_t raw = read_uint(at, g->size);
                                int64_t v = g->is_signed ? sign_extend(raw, g->size) : (int64_t) raw;
                                const char *name = NULL;
                                for (const struct tep_print_flag_sym *sym = g->symbols; sym && !name; sym = sym->next) {
                                        int64_t want;
                                        if (parse_i64(sv_from(sym->value), &want) >= 0 && want == v)
                                                name = sym->str;
                                }
                                if (name)
                                        buf_puts(&d->text, name);
                                else {
                                        /* as the kernel prints a value without a symbol */
                                        char tmp[FMT_INT_MAX];
                                        buf_append(&d->text, tmp, fmt_hex(tmp, (uint64_t) v));
                                }
                        } else
                                put_int_spec(&d->text, g, read_uint(at, g->size));
                }
                buf_append(&d->text, g->post, g->n_post);
        }
        buf_reserve(&d->text, 1);
        for (size_t i = 0; i < n; i++) {
                size_t end = i + 1 < n ? d->value_off[i + 1] : d->text.len;
                d->values[i] = (StrView){ d->text.data + d->value_off[i], end - d->value_off[i] };
                d->names[i] = e->seg_names[i];
        }
        *ret_n = n;
        return true;
}

int rawdec_add_probe(RawDecoder *d, uint32_t probe, const ProbeConfig *c, const char *format_text,
                     char **ret_error) {
        *ret_error = NULL;
        char sysbuf[CONFIG_NAME_MAX + 2];
        struct tep_event *ev = NULL;
        if (tep_parse_format(d->tep, &ev, format_text, strlen(format_text), sys_of(c, sysbuf, sizeof(sysbuf))) != 0 ||
            !ev) {
                Buf b = { 0 };
                buf_printf(&b, "the format file of probe '%s' could not be parsed", c->name);
                *ret_error = buf_steal(&b);
                return -EBADMSG;
        }
        d->events = xrealloc(d->events, (d->n_events + 1) * sizeof(RawEvent));
        RawEvent *e = &d->events[d->n_events];
        *e = (RawEvent){ .id = ev->id, .probe = probe, .event = ev, .tracepoint = c->type == PROBE_TRACEPOINT };

        if (e->tracepoint) {
                const char *name = strchr(c->target, '/') ? strchr(c->target, '/') + 1 : c->target;
                e->form = strncmp(c->target, "syscalls/", 9) != 0    ? TRACE_FORM_NAMED
                          : strncmp(name, "sys_enter_", 10) == 0 ? TRACE_FORM_SYSCALL_ENTER
                          : strncmp(name, "sys_exit_", 9) == 0   ? TRACE_FORM_SYSCALL_EXIT
                                                                 : TRACE_FORM_NAMED;
                /* Where the print fmt names no value, or a key no field
                 * name can be, the fields by their format names. */
                const char *pf = ev->print_fmt.format;
                bool by_name = e->form == TRACE_FORM_NAMED && (!fmt_names_values(pf) || fmt_has_odd_keys(pf));
                if (d->tep_only || !(tp_plan(e) || (by_name && fields_plan(e))))
                        find_hidden_strings(e);
                d->n_events++;
                return 0;
        }

        e->n_fields = c->n_fields;
        e->segs = xcalloc(c->n_fields ? c->n_fields : 1, sizeof(TpSeg));
        e->n_segs = c->n_fields;
        e->seg_names = xcalloc(c->n_fields ? c->n_fields : 1, sizeof(StrView));
        e->is_string = xcalloc(c->n_fields ? c->n_fields : 1, sizeof(bool));
        const char *fmt = ev->print_fmt.format ? ev->print_fmt.format : "";
        for (size_t i = 0; i < c->n_fields; i++) {
                e->seg_names[i] = sv_from(c->fields[i]);
                e->is_string[i] = c->field_is_string[i];
                struct tep_format_field *f = tep_find_field(ev, c->fields[i]);
                if (!f) {
                        Buf b = { 0 };
                        buf_printf(&b, "field '%s' of probe '%s' is not in its format file", c->fields[i], c->name);
                        *ret_error = buf_steal(&b);
                        free(e->segs);
                        free(e->seg_names);
                        free(e->is_string);
                        return -EBADMSG;
                }
                TpSeg *g = &e->segs[i];
                *g = (TpSeg){ .offset = f->offset, .size = f->size, .is_signed = (f->flags & TEP_FIELD_IS_SIGNED) != 0,
                              .length = 2 /* the value as read, not cut to an int */ };
                char conv = 0;
                StrView pre, post;
                if (!fmt_conversion(fmt, c->fields[i], &pre, &post, &conv) ||
                    !unescape_literal(pre, g->pre, sizeof(g->pre), &g->n_pre) ||
                    !unescape_literal(post, g->post, sizeof(g->post), &g->n_post)) {
                        e->via_text = true;
                        continue;
                }
                bool scalar = !(f->flags & TEP_FIELD_IS_ARRAY) && (f->size == 1 || f->size == 2 || f->size == 4 || f->size == 8);
                g->conv = conv == 'i' ? 'd' : conv;
                if (conv == 's' && (f->flags & TEP_FIELD_IS_DYNAMIC) && field_is_string(f))
                        g->kind = SEG_STRING;
                else if (scalar && (conv == 'u' || conv == 'd' || conv == 'i' || conv == 'x'))
                        g->kind = SEG_INT;
                else
                        e->via_text = true; /* arrays, symbols, chars, bitfields: as tep prints them */
        }
        e->direct = !e->via_text;
        d->n_events++;
        return 0;
}

static RawEvent *find_event(RawDecoder *d, int id) {
        for (size_t i = 0; i < d->n_events; i++)
                if (d->events[i].id == id)
                        return &d->events[i];
        return NULL;
}

/* A string field's bytes in a record, up to its NUL: a __data_loc string
 * by its stored length, a char array within its size. */
static bool hidden_string(const HiddenString *hs, const unsigned char *data, size_t size, StrView *ret) {
        if (hs->dynamic)
                return data_loc_string(data, size, hs->offset, ret);
        if (hs->offset < 0 || (size_t) hs->offset + (size_t) hs->size > size)
                return false;
        const char *p = (const char *) data + hs->offset;
        const char *nul = memchr(p, 0, (size_t) hs->size);
        *ret = (StrView){ p, nul ? (size_t) (nul - p) : (size_t) hs->size };
        return true;
}

/* The record's text as tep prints it (what trace_pipe would show after
 * "event: "), made from a copy whose strings are hidden: their bytes
 * become 'x' (their lengths stay), so nothing in them can pass for a
 * field. Returns the text, valid until the next record. */
static StrView record_text(RawDecoder *d, const RawEvent *e, unsigned char *data, size_t size, int cpu, uint64_t ts) {
        unsigned char *rec = data;
        if (e->n_hidden > 0) {
                buf_clear(&d->copy);
                buf_append(&d->copy, data, size);
                rec = (unsigned char *) d->copy.data;
                for (size_t h = 0; h < e->n_hidden; h++) {
                        const HiddenString *hs = &e->hidden[h];
                        StrView s;
                        if (hidden_string(hs, rec, size, &s))
                                memset((char *) s.p, 'x', s.n);
                }
        }
        struct tep_record r = { .ts = ts, .cpu = cpu, .size = (int) size, .data = rec };
        trace_seq_reset(&d->seq);
        tep_print_event(d->tep, &d->seq, &r, "%s", TEP_PRINT_INFO);
        trace_seq_terminate(&d->seq);
        return (StrView){ d->seq.buffer, d->seq.len };
}

/* Puts the real strings back in place of the hidden ones. */
static void restore_strings(RawDecoder *d, const RawEvent *e, const unsigned char *data, size_t size, size_t n) {
        for (size_t h = 0; h < e->n_hidden; h++) {
                const HiddenString *hs = &e->hidden[h];
                StrView s;
                if (!hidden_string(hs, data, size, &s))
                        continue;
                for (size_t i = 0; i < n; i++)
                        if (sv_eq_str(d->names[i], hs->key) && d->values[i].n == s.n) {
                                d->values[i] = s;
                                break;
                        }
        }
}

static bool fields_via_text(RawDecoder *d, const RawEvent *e, unsigned char *data, size_t size, int cpu, uint64_t ts,
                            size_t *ret_n) {
        StrView body = record_text(d, e, data, size, cpu, ts);
        if (!e->tracepoint) {
                size_t n = e->n_fields < PIPELINE_MAX_FIELDS ? e->n_fields : PIPELINE_MAX_FIELDS;
                if (traceline_probe_fields_sv(body, e->seg_names, e->is_string, n, d->values, NULL) < 0)
                        return false;
                for (size_t i = 0; i < n; i++)
                        d->names[i] = e->seg_names[i];
                *ret_n = n;
                return true;
        }
        TraceLine tl = { .kind = TRACE_LINE_EVENT, .form = e->form, .body = body };
        TraceField tf[PIPELINE_MAX_FIELDS];
        int n = traceline_tracepoint_fields(&tl, tf, PIPELINE_MAX_FIELDS);
        if (n < 0)
                return false;
        for (int i = 0; i < n; i++) {
                d->names[i] = tf[i].name;
                d->values[i] = tf[i].value;
        }
        restore_strings(d, e, data, size, (size_t) n);
        *ret_n = (size_t) n;
        return true;
}

/* "SECONDS.NNNNNNNNN" of a nanosecond count, without printf (once per
 * record). buf needs FMT_INT_MAX + 10 bytes. */
static size_t format_stamp(char *buf, uint64_t ns) {
        size_t n = fmt_u64(buf, ns / 1000000000ull);
        uint64_t frac = ns % 1000000000ull;
        buf[n++] = '.';
        for (int i = 8; i >= 0; i--) {
                buf[n + (size_t) i] = (char) ('0' + frac % 10);
                frac /= 10;
        }
        return n + 9;
}

/* The ring buffer's page header: a timestamp and the commit word, whose
 * top bits flag missed events (and whether their count is stored after
 * the data). */
#define COMMIT_MASK ((1ul << 27) - 1)
#define MISSED_STORED (1ul << 30)

struct RawCursor {
        struct kbuffer *kb;
        const char *data, *end; /* the page's records */
        unsigned char *rec;     /* the record held, or NULL */
        int size;               /* its size */
        unsigned long long ts;  /* its time */
        int cpu;
};

RawCursor *rawdec_cursor_new(void) {
        RawCursor *c = xcalloc(1, sizeof(RawCursor));
        c->kb = kbuffer_alloc(KBUFFER_LSIZE_SAME_AS_HOST, KBUFFER_ENDIAN_SAME_AS_HOST);
        if (!c->kb)
                abort();
        return c;
}

RawCursor *rawdec_cursor_free(RawCursor *c) {
        if (!c)
                return NULL;
        kbuffer_free(c->kb);
        free(c);
        return NULL;
}

/* Holds the record kbuffer is on (p), unless it lies outside the page's
 * data: then the page ends here. */
static void cursor_settle(RawCursor *c, void *p, unsigned long long ts) {
        c->rec = NULL;
        if (!p)
                return;
        int esize = kbuffer_event_size(c->kb);
        if (esize < 8 || (const char *) p < c->data || (const char *) p + esize > c->end)
                return; /* not within this page's data: stop here */
        c->rec = p;
        c->size = esize;
        c->ts = ts;
}

int rawdec_cursor_load(RawCursor *c, const void *page, size_t len, int cpu, const RawSink *sink) {
        size_t header = 8 + sizeof(long);
        unsigned long commit;
        c->rec = NULL;
        if (len < header)
                return -EBADMSG;
        memcpy(&commit, (const char *) page + 8, sizeof(commit));
        size_t used = commit & COMMIT_MASK;
        if (used > len - header || ((commit & MISSED_STORED) && used + sizeof(long) > len - header))
                return -EBADMSG;
        /* kbuffer reads the page in place and never writes it; its API
         * just takes a non-const pointer. */
        if (kbuffer_load_subbuffer(c->kb, (void *) page) < 0)
                return -EBADMSG;
        c->data = (const char *) page + header;
        c->end = c->data + used;
        c->cpu = cpu;
        int missed = kbuffer_missed_events(c->kb);
        if (missed != 0 && sink->lost)
                sink->lost(sink->userdata, cpu, missed > 0 ? (uint64_t) missed : 0, missed > 0);
        unsigned long long ts;
        void *p = kbuffer_read_event(c->kb, &ts);
        cursor_settle(c, p, ts);
        return 0;
}

bool rawdec_cursor_peek_ts(const RawCursor *c, uint64_t *ret_ts) {
        if (!c->rec)
                return false;
        *ret_ts = c->ts;
        return true;
}

/* Hands over the record c holds (a known event's) and moves c on. */
static bool cursor_emit(RawDecoder *d, RawCursor *c, const RawSink *sink, uint64_t *unknown) {
        unsigned char *data = c->rec;
        size_t esize = (size_t) c->size;
        uint64_t ts = c->ts;
        uint16_t type;
        int32_t pid;
        memcpy(&type, data, 2);
        memcpy(&pid, data + 4, 4);
        RawEvent *e = find_event(d, type);
        bool handed = false;
        if (!e)
                (*unknown)++;
        else {
                size_t n = 0;
                bool ok = e->direct ? fields_direct(d, e, data, esize, &n)
                                    : fields_via_text(d, e, data, esize, c->cpu, ts, &n);
                char stamp[48];
                size_t sn = format_stamp(stamp, ts);
                Record rec = {
                        .probe = e->probe,
                        .pid = pid,
                        .tgid = -1,
                        .cpu = c->cpu,
                        .timestamp = { stamp, sn },
                        .ts_ns = ts,
                        .names = d->names,
                        .values = d->values,
                        .n_fields = ok ? n : 0,
                        .malformed = !ok,
                };
                sink->record(sink->userdata, &rec);
                handed = true;
        }
        unsigned long long next;
        void *p = kbuffer_next_event(c->kb, &next);
        cursor_settle(c, p, next);
        return handed;
}

size_t rawdec_cursor_emit_until(RawDecoder *d, RawCursor *c, uint64_t limit, const RawSink *sink, uint64_t *unknown) {
        size_t handed = 0;
        while (c->rec && c->ts <= limit)
                handed += cursor_emit(d, c, sink, unknown);
        return handed;
}

int rawdec_cursor_emit(RawDecoder *d, RawCursor *c, const RawSink *sink, uint64_t *unknown) {
        return c->rec && cursor_emit(d, c, sink, unknown) ? 1 : 0;
}

int rawdec_page(RawDecoder *d, const void *page, size_t len, int cpu, const RawSink *sink, uint64_t *unknown) {
        if (rawdec_cursor_load(d->cursor, page, len, cpu, sink) < 0)
                return -EBADMSG;
        size_t n = rawdec_cursor_emit_until(d, d->cursor, UINT64_MAX, sink, unknown);
        return n > INT_MAX ? INT_MAX : (int) n;
}

/* ---- the CPUs merged by time ---- */

typedef struct RawSlot {
        unsigned cpu;
        bool open;
        void *page; /* the page its cursor walks */
        RawCursor *cursor;
        bool held;  /* the cursor holds a record, of time ts */
        uint64_t ts;
        unsigned pages; /* read in this pass */
        bool out;       /* found empty in this pass, after `asked` pages were read, */
        uint64_t asked;
        bool unasked;   /* or not asked yet */
} RawSlot;

struct RawMerge {
        RawSlot *slots;
        size_t n;
        size_t page_size;
        uint64_t pages_read; /* ever: orders the reads and the askings */
        size_t *idx;         /* n, for asking out CPUs again */
        bool *ready;
};

RawMerge *rawmerge_new(size_t n, const unsigned *cpus, size_t page_size) {
        RawMerge *m = xcalloc(1, sizeof(RawMerge));
        m->n = n;
        m->page_size = page_size;
        m->slots = xcalloc(n ? n : 1, sizeof(RawSlot));
        m->idx = xcalloc(n ? n : 1, sizeof(size_t));
        m->ready = xcalloc(n ? n : 1, sizeof(bool));
        for (size_t i = 0; i < n; i++)
                m->slots[i] = (RawSlot){ .cpu = cpus[i], .page = xmalloc(page_size), .cursor = rawdec_cursor_new() };
        return m;
}

RawMerge *rawmerge_free(RawMerge *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n; i++) {
                rawdec_cursor_free(m->slots[i].cursor);
                free(m->slots[i].page);
        }
        free(m->slots);
        free(m->idx);
        free(m->ready);
        free(m);
        return NULL;
}

void rawmerge_set_open(RawMerge *m, size_t i, bool open) {
        m->slots[i].open = open;
        if (!open)
                m->slots[i].held = false;
}

bool rawmerge_holds(const RawMerge *m) {
        for (size_t i = 0; i < m->n; i++)
                if (m->slots[i].held)
                        return true;
        return false;
}

/* Reads slot i's next pages until its cursor holds a record. Returns 1
 * when it does, 0 when the CPU has nothing now (it is out then), -ENOBUFS
 * when the slot spent its budget for this pass, -errno when a read failed. */
static int slot_refill(RawMerge *m, size_t i, const RawMergeIO *io, unsigned budget, const RawSink *sink, RawPass *p) {
        RawSlot *s = &m->slots[i];
        while (!s->held) {
                if (s->pages >= budget)
                        return -ENOBUFS;
                ssize_t n = io->read(io->userdata, i, s->page, m->page_size);
                if (n < 0) {
                        p->failed = (ssize_t) i;
                        return (int) n;
                }
                if (n == 0) {
                        s->out = true;
                        s->unasked = false;
                        s->asked = m->pages_read;
                        return 0;
                }
                s->pages++;
                m->pages_read++;
                p->pages++;
                p->bytes += (uint64_t) n;
                if (rawdec_cursor_load(s->cursor, s->page, (size_t) n, (int) s->cpu, sink) < 0)
                        p->bad_pages++;
                s->held = rawdec_cursor_peek_ts(s->cursor, &s->ts);
        }
        s->out = false;
        return 1;
}

/* Asks every out CPU that was found empty before the last page read (or
 * not yet) again, until none is: what it holds now may be older than that
 * page's records. Returns 0, -ENOBUFS or -errno. */
static int ask_out(RawMerge *m, const RawMergeIO *io, unsigned budget, const RawSink *sink, RawPass *p) {
        for (;;) {
                size_t n = 0;
                for (size_t i = 0; i < m->n; i++) {
                        RawSlot *s = &m->slots[i];
                        if (s->open && s->out && (s->unasked || s->asked < m->pages_read)) {
                                m->idx[n] = i;
                                m->ready[n++] = true;
                        }
                }
                if (n == 0)
                        return 0;
                uint64_t now = m->pages_read;
                /* One poll for several (most stay empty); one alone is
                 * just read. */
                if (n > 1 && io->poll && io->poll(io->userdata, m->idx, m->ready, n) < 0)
                        for (size_t k = 0; k < n; k++)
                                m->ready[k] = true;
                for (size_t k = 0; k < n; k++) {
                        if (!m->ready[k]) {
                                m->slots[m->idx[k]].unasked = false;
                                m->slots[m->idx[k]].asked = now;
                                continue;
                        }
                        int r = slot_refill(m, m->idx[k], io, budget, sink, p);
                        if (r < 0)
                                return r;
                }
        }
}

/* The slot whose record comes first (NULL: none holds one); in *limit the
 * last time up to which its records come before every other slot's. */
static RawSlot *first_slot(RawMerge *m, uint64_t *limit) {
        RawSlot *a = NULL, *b = NULL; /* the first and the second */
        for (size_t i = 0; i < m->n; i++) {
                RawSlot *s = &m->slots[i];
                if (!s->held)
                        continue;
                if (!a || s->ts < a->ts || (s->ts == a->ts && s->cpu < a->cpu)) {
                        b = a;
                        a = s;
                } else if (!b || s->ts < b->ts || (s->ts == b->ts && s->cpu < b->cpu))
                        b = s;
        }
        /* Up to b's time if a's CPU comes first on equal times, else
         * before it (b->ts > a->ts then, so b->ts >= 1). */
        *limit = !b ? UINT64_MAX : a->cpu < b->cpu ? b->ts : b->ts - 1;
        return a;
}

int rawmerge_pass(RawMerge *m, RawDecoder *d, const RawMergeIO *io, unsigned budget, const RawSink *sink,
                  uint64_t *unknown, RawPass *ret) {
        *ret = (RawPass){ .failed = -1 };
        /* Every CPU's first record: those whose cursor holds none are asked
         * (one poll for all, then reads of those that have something). */
        for (size_t i = 0; i < m->n; i++) {
                RawSlot *s = &m->slots[i];
                s->pages = 0;
                s->out = s->unasked = !s->held;
        }
        int k = ask_out(m, io, budget, sink, ret);
        while (k >= 0) {
                uint64_t limit;
                RawSlot *s = first_slot(m, &limit);
                if (!s)
                        break;
                ret->handed += rawdec_cursor_emit_until(d, s->cursor, limit, sink, unknown);
                s->held = rawdec_cursor_peek_ts(s->cursor, &s->ts);
                if (s->held)
                        continue; /* another CPU's record is next */
                k = slot_refill(m, (size_t) (s - m->slots), io, budget, sink, ret);
                if (k > 0)
                        k = ask_out(m, io, budget, sink, ret);
        }
        if (k == -ENOBUFS)
                ret->stopped = true;
        else if (k < 0)
                return k;
        return 0;
}

size_t rawmerge_flush(RawMerge *m, RawDecoder *d, const RawSink *sink, uint64_t *unknown) {
        size_t handed = 0;
        for (;;) {
                uint64_t limit;
                RawSlot *s = first_slot(m, &limit);
                if (!s)
                        return handed;
                handed += rawdec_cursor_emit_until(d, s->cursor, limit, sink, unknown);
                s->held = rawdec_cursor_peek_ts(s->cursor, &s->ts);
        }
}

bool probe_has_hostile_string(const ProbeConfig *c, const char *format_text, char *ret_field, size_t size) {
        if (c->type != PROBE_TRACEPOINT) {
                for (size_t i = 0; i < c->n_fields; i++)
                        if (c->field_is_string[i] && !(c->comm_fetched && i + 1 == c->n_fields)) {
                                snprintf(ret_field, size, "%s", c->fields[i]);
                                return true;
                        }
                return false;
        }
        /* The same rule as the binary reader's hidden strings. */
        struct tep_handle *tep = format_text ? tep_alloc() : NULL;
        struct tep_event *ev = NULL;
        char sysbuf[CONFIG_NAME_MAX + 2];
        if (!tep || tep_parse_format(tep, &ev, format_text, strlen(format_text), sys_of(c, sysbuf, sizeof(sysbuf))) != 0 ||
            !ev) {
                if (tep)
                        tep_free(tep);
                snprintf(ret_field, size, "(format unknown)");
                return true;
        }
        bool found = false;
        struct tep_format_field **fields = tep_event_fields(ev);
        for (size_t i = 0; fields && fields[i] && !found; i++)
                if (field_is_string(fields[i])) {
                        snprintf(ret_field, size, "%s", fields[i]->name);
                        found = true;
                }
        free(fields);
        tep_free(tep);
        return found;
}
