/* Small shared helpers: string views, a growable buffer, cleanup attributes. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

/* A borrowed, not NUL-terminated, slice of bytes. */
typedef struct StrView {
        const char *p;
        size_t n;
} StrView;

#define SV(s) ((StrView){ (s), sizeof(s) - 1 })

static inline StrView sv_from(const char *s) {
        return (StrView){ s, s ? strlen(s) : 0 };
}

/* "..." as the kernel prints a string fetch arg. */
static inline bool sv_is_quoted(StrView v) {
        return v.n >= 2 && v.p[0] == '"' && v.p[v.n - 1] == '"';
}

static inline bool sv_eq(StrView a, StrView b) {
        return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool sv_eq_str(StrView a, const char *s) {
        return sv_eq(a, sv_from(s));
}

static inline bool sv_startswith(StrView s, const char *prefix) {
        size_t n = strlen(prefix);
        return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

/* The line at *pos (without its '\n') of a NUL-terminated text; moves *pos
 * past it. At the end of the text it returns an empty view and leaves *pos
 * on the NUL, so loops run `while (**pos)`. */
static inline StrView sv_next_line(const char **pos) {
        const char *s = *pos, *e = strchr(s, '\n');
        size_t n = e ? (size_t) (e - s) : strlen(s);
        *pos = e ? e + 1 : s + n;
        return (StrView){ s, n };
}

/* The kernel's isspace(): space, \t \n \v \f \r, and 0xA0 (its ctype
 * table is Latin-1, where that is NO-BREAK SPACE). The kernel splits probe
 * commands with argv_split(), which uses it, so this is the set that must
 * not appear inside one word of a command. Locale-independent. */
static inline bool char_is_space(char c) {
        return c == ' ' || (c >= '\t' && c <= '\r') || (unsigned char) c == 0xA0;
}

/* True if s has a char_is_space() byte. */
bool has_space(const char *s);

/* Names of events, fetch args, labels and fields: [A-Za-z_][A-Za-z0-9_]*. */
#define EVENT_NAME_MAX 63 /* the kernel's MAX_EVENT_NAME_LEN, less its NUL */
static inline bool char_is_name_start(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
static inline bool char_is_name(char c) {
        return char_is_name_start(c) || (c >= '0' && c <= '9');
}
/* True if s[0..n) is a name of 1 to EVENT_NAME_MAX characters. */
bool span_is_name(const char *s, size_t n);
/* Our probe group and instance name: 1 to EVENT_NAME_MAX of
 * [A-Za-z0-9_-], not starting with '-' (mkdir would take more; the probe
 * group is the stricter of the two users). */
bool group_name_is_valid(const char *s);

/* A growable byte buffer, always NUL-terminated when data != NULL.
 * Out-of-memory aborts (see buf.c): a monitoring daemon cannot do
 * anything useful without memory, and it keeps every caller simple. */
typedef struct Buf {
        char *data;
        size_t len;
        size_t cap;
} Buf;

void buf_reserve(Buf *b, size_t extra);
void buf_append(Buf *b, const void *p, size_t n);
void buf_puts(Buf *b, const char *s);
void buf_putc(Buf *b, char c);
void buf_printf(Buf *b, const char *fmt, ...) _printf_(2, 3);
void buf_vprintf(Buf *b, const char *fmt, va_list ap) _printf_(2, 0);
void buf_put_u64(Buf *b, uint64_t v);
void buf_put_i64(Buf *b, int64_t v);
/* Integers as text without printf (the hot path formats pid and decoded
 * values). Write no NUL; return the length. buf needs FMT_INT_MAX bytes. */
#define FMT_INT_MAX 24
size_t fmt_u64(char *buf, uint64_t v);
size_t fmt_i64(char *buf, int64_t v);
size_t fmt_hex(char *buf, uint64_t v); /* as printf("0x%llx") */
static inline void buf_put_sv(Buf *b, StrView v) { buf_append(b, v.p, v.n); }
static inline void buf_clear(Buf *b) { b->len = 0; if (b->data) b->data[0] = 0; }
/* Frees the storage; the Buf can be reused afterwards. */
void buf_free(Buf *b);
/* Hands the string to the caller (who frees it) and empties the buffer. */
char *buf_steal(Buf *b);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* A new string, printf-style. */
char *xstrdupf(const char *fmt, ...) _printf_(1, 2);
char *xstrndup(const char *s, size_t n);

/* NULL-terminated string arrays ("strv"). strv_free() accepts NULL.
 * strv_push() appends a copy of s to *v, which holds *n strings (NULL and 0
 * for a new one), keeping it NULL-terminated. */
void strv_free(char **v);
void strv_push(char ***v, size_t *n, StrView s);
/* True if the NULL-terminated v (may be NULL) holds a string equal to s. */
bool strv_contains(char **v, const char *s);
/* True if a[0..na) and b[0..nb) hold equal strings in the same order. */
bool strv_equal(char **a, size_t na, char **b, size_t nb);
/* Both NULL, or equal strings. */
static inline bool str_equal_or_null(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Reads the whole file path (relative to dirfd, as openat()) into out,
 * which is cleared first and always NUL-terminated, also for an empty file
 * (tracefs files say size 0: this reads until EOF). Returns 0, -EFBIG if
 * the file has more than max bytes, or -errno. Opens O_CLOEXEC|O_NOCTTY.
 * The one file reader of the daemon; blocking, so not for pipes. */
int read_file_at(int dirfd, const char *path, size_t max, Buf *out);
/* The same from an open fd, from where it is to its end (out is cleared
 * first): read_file_at()'s loop. */
int read_fd_all(int fd, size_t max, Buf *out);

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ _cleanup_(freep)
static inline void buf_freep(Buf *b) { buf_free(b); }
#define _cleanup_buf_ _cleanup_(buf_freep)
/* Hands a pointer on: returns it and leaves NULL behind (for _cleanup_). */
#define TAKE_PTR(p) ({ __typeof__(p) _taken = (p); (p) = NULL; _taken; })

/* Parses an unsigned decimal, or hex with 0x, covering the whole view.
 * Returns 0, or -EINVAL / -ERANGE. */
int parse_u64(StrView s, uint64_t *ret);
/* Same for an optional leading '-'. Hex values above INT64_MAX are taken as
 * two's complement (the kernel prints x64 and untyped values that way). */
int parse_i64(StrView s, int64_t *ret);

/* Length (>= 1) of the UTF-8 sequence at s[0..n); *valid tells whether it is
 * well-formed. An ill-formed sequence has the length of its maximal subpart,
 * so callers replace it with one U+FFFD. Used by every text output
 * (Prometheus labels, JSON) so both accept any bytes the kernel prints. */
size_t utf8_seq(const unsigned char *s, size_t n, bool *valid);
/* The "Name:" of /proc/PID/status as the task's comm: the kernel writes a
 * newline there as backslash-n and a backslash as two (older kernels the
 * other C escapes too), so every backslash starts an escape. Writes the bytes
 * and a NUL to out; returns their count, or -1 when they do not fit. */
int proc_name_unescape(StrView in, char *out, size_t size);

/* True if s is valid UTF-8 (fast for ASCII). */
bool utf8_is_valid(StrView s);
/* Appends s with each ill-formed sequence replaced by U+FFFD. */
void utf8_sanitize(Buf *out, StrView s);

/* Splits a listen address "host:port", "[v6]:port" or ":port" (":port"
 * means 0.0.0.0) into a new host string and the decimal port. Returns 0
 * or -EINVAL. */
int listen_address_split(const char *address, char **ret_host, char *port, size_t port_size);

/* A uprobe's $argN. The kernel's uprobe_events have no $argN (kprobes
 * have it since 4.20; 6.18 still tells a uprobe "$arg* can be used only
 * on function entry or exit"), so the daemon writes in its place the
 * register that holds the Nth integer or pointer argument at the
 * function's entry in this build's C calling convention: x86-64 (System
 * V) %di %si %dx %cx %r8 %r9, aarch64 %x0..%x7. uprobe_arg_max() is how
 * many there are (0: this architecture has no table), *ret_arch its name
 * for messages ("x86-64"; ret_arch may be NULL). */
unsigned uprobe_arg_max(const char **ret_arch);
/* Appends the fetch arg s ("NAME=FETCHARG[:TYPE]", or a bare FETCHARG) to
 * out with each $argN of its FETCHARG replaced by the Nth argument's
 * register ("name=+0($arg1):ustring" -> "name=+0(%di):ustring"; $arg10 is
 * the 10th). An immediate (a FETCHARG that starts with a backslash) is
 * left alone. Returns how many were replaced (0: s as it is); or -ERANGE
 * when an N has no register (N = 0, or past uprobe_arg_max()),
 * -EOPNOTSUPP when this architecture has no table: then *ret_n is that N
 * (ULONG_MAX: too many digits) and what out holds is not to be used. */
int uprobe_fetch_arg_translate(const char *s, Buf *out, unsigned long *ret_n);

/* 64-bit FNV-1a; cheap and good enough for label-set hashing. */
static inline uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
        const unsigned char *c = p;
        for (size_t i = 0; i < n; i++) {
                h ^= c[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}
#define HASH_INIT 0xcbf29ce484222325ULL

/* The hot path's hash: 8 bytes per step (FNV's byte loop costs a multiply
 * per byte). Mixes the length in, so "ab"+"c" and "a"+"bc" differ when each
 * piece is hashed on its own. Only for in-memory tables: the values are not
 * stable across builds or hosts. Finish with hash_final() before using the
 * low bits. */
static inline uint64_t hash_word(uint64_t h, uint64_t w) {
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        return h ^ (h >> 29);
}

/* hash_mem() without its length word, for a caller that mixes the length
 * in itself (with other bits in the same word). */
static inline uint64_t hash_mem_bytes(uint64_t h, const void *p, size_t n) {
        const unsigned char *c = p;
        uint32_t a, b;
        uint64_t w;

        /* Whole loads only, of the input itself: the short tail is read as
         * overlapping words rather than copied into a zeroed one, which
         * would make the load wait for the byte stores. */
        if (n >= 8) {
                for (size_t i = 0; n - i > 8; i += 8) {
                        memcpy(&w, c + i, 8); /* an unaligned load; endianness does not matter here */
                        h = hash_word(h, w);
                }
                memcpy(&w, c + n - 8, 8);
                return hash_word(h, w);
        }
        if (n >= 4) {
                memcpy(&a, c, 4);
                memcpy(&b, c + n - 4, 4);
                w = (uint64_t) a << 32 | b;
        } else if (n > 0)
                w = (uint64_t) c[0] << 16 | (uint64_t) c[n >> 1] << 8 | c[n - 1];
        else
                return h;
        return hash_word(h, w);
}

static inline uint64_t hash_mem(uint64_t h, const void *p, size_t n) {
        return hash_mem_bytes(hash_word(h, (uint64_t) n), p, n);
}

/* memcmp() == 0 for the short strings of the hot path (label values,
 * names), inline: word compares with overlapping tails, no call. */
static inline bool mem_eq(const void *a, const void *b, size_t n) {
        const unsigned char *x = a, *y = b;
        uint64_t u, v;
        uint32_t s, t;

        if (n >= 8) {
                for (size_t i = 0; n - i > 8; i += 8) {
                        memcpy(&u, x + i, 8);
                        memcpy(&v, y + i, 8);
                        if (u != v)
                                return false;
                }
                memcpy(&u, x + n - 8, 8);
                memcpy(&v, y + n - 8, 8);
                return u == v;
        }
        if (n >= 4) {
                memcpy(&s, x, 4);
                memcpy(&t, y, 4);
                if (s != t)
                        return false;
                memcpy(&s, x + n - 4, 4);
                memcpy(&t, y + n - 4, 4);
                return s == t;
        }
        for (size_t i = 0; i < n; i++)
                if (x[i] != y[i])
                        return false;
        return true;
}

/* Spreads every input bit over the low bits that index a table (the
 * finalizer of MurmurHash3). */
static inline uint64_t hash_final(uint64_t h) {
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
}
