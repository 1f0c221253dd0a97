#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>


static void oom(void) {
        static const char msg[] = "<2>kprobe-exporter: out of memory\n";
        (void) !fwrite(msg, 1, sizeof(msg) - 1, stderr);
        abort();
}

void *xmalloc(size_t n) {
        void *p = malloc(n ? n : 1);
        if (!p)
                oom();
        return p;
}

void *xcalloc(size_t n, size_t m) {
        void *p = calloc(n ? n : 1, m ? m : 1);
        if (!p)
                oom();
        return p;
}

void *xrealloc(void *p, size_t n) {
        p = realloc(p, n ? n : 1);
        if (!p)
                oom();
        return p;
}

char *xstrdup(const char *s) {
        return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n) {
        char *p = xmalloc(n + 1);
        memcpy(p, s, n);
        p[n] = 0;
        return p;
}

void buf_reserve(Buf *b, size_t extra) {
        size_t need = b->len + extra + 1;
        if (need <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < need)
                cap *= 2;
        bool fresh = !b->data;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
        if (fresh)
                b->data[0] = 0; /* "always NUL-terminated when data != NULL" */
}

void buf_append(Buf *b, const void *p, size_t n) {
        buf_reserve(b, n);
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
}

void buf_puts(Buf *b, const char *s) {
        buf_append(b, s, strlen(s));
}

void buf_putc(Buf *b, char c) {
        buf_reserve(b, 1);
        b->data[b->len++] = c;
        b->data[b->len] = 0;
}

void buf_vprintf(Buf *b, const char *fmt, va_list ap) {
        va_list again;
        va_copy(again, ap);
        char tmp[256];
        int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        if (n >= 0 && (size_t) n < sizeof(tmp))
                buf_append(b, tmp, (size_t) n);
        else if (n >= 0) {
                buf_reserve(b, (size_t) n);
                vsnprintf(b->data + b->len, (size_t) n + 1, fmt, again);
                b->len += (size_t) n;
        }
        va_end(again);
}

void buf_printf(Buf *b, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        buf_vprintf(b, fmt, ap);
        va_end(ap);
}

char *xstrdupf(const char *fmt, ...) {
        Buf b = { 0 };
        va_list ap;
        va_start(ap, fmt);
        buf_vprintf(&b, fmt, ap);
        va_end(ap);
        if (!b.data)
                return xstrdup("");
        return buf_steal(&b);
}

size_t fmt_u64(char *buf, uint64_t v) {
        char tmp[FMT_INT_MAX];
        size_t i = sizeof(tmp);
        do {
                tmp[--i] = (char) ('0' + v % 10);
                v /= 10;
        } while (v);
        memcpy(buf, tmp + i, sizeof(tmp) - i);
        return sizeof(tmp) - i;
}

size_t fmt_i64(char *buf, int64_t v) {
        if (v >= 0)
                return fmt_u64(buf, (uint64_t) v);
        buf[0] = '-';
        return 1 + fmt_u64(buf + 1, (uint64_t) 0 - (uint64_t) v);
}

size_t fmt_hex(char *buf, uint64_t v) {
        static const char digits[] = "0123456789abcdef";
        char tmp[16];
        size_t i = sizeof(tmp);
        do {
                tmp[--i] = digits[v & 0xf];
                v >>= 4;
        } while (v);
        buf[0] = '0';
        buf[1] = 'x';
        memcpy(buf + 2, tmp + i, sizeof(tmp) - i);
        return 2 + sizeof(tmp) - i;
}

void buf_put_u64(Buf *b, uint64_t v) {
        char tmp[FMT_INT_MAX];
        buf_append(b, tmp, fmt_u64(tmp, v));
}

void buf_put_i64(Buf *b, int64_t v) {
        char tmp[FMT_INT_MAX];
        buf_append(b, tmp, fmt_i64(tmp, v));
}

void buf_free(Buf *b) {
        free(b->data);
        *b = (Buf){ 0 };
}

char *buf_steal(Buf *b) {
        char *s = b->data ? b->data : xstrdup("");
        *b = (Buf){ 0 };
        return s;
}

int parse_u64(StrView s, uint64_t *ret) {
        unsigned base = 10;
        size_t i = 0;
        if (s.n > 2 && s.p[0] == '0' && (s.p[1] == 'x' || s.p[1] == 'X')) {
                base = 16;
                i = 2;
        }
        if (i >= s.n)
                return -EINVAL;
        uint64_t v = 0;
        for (; i < s.n; i++) {
                unsigned d;
                char c = s.p[i];
                if (c >= '0' && c <= '9')
                        d = (unsigned) (c - '0');
                else if (base == 16 && c >= 'a' && c <= 'f')
                        d = (unsigned) (c - 'a' + 10);
                else if (base == 16 && c >= 'A' && c <= 'F')
                        d = (unsigned) (c - 'A' + 10);
                else
                        return -EINVAL;
                if (v > (UINT64_MAX - d) / base)
                        return -ERANGE;
                v = v * base + d;
        }
        *ret = v;
        return 0;
}

int parse_i64(StrView s, int64_t *ret) {
        bool neg = s.n > 0 && s.p[0] == '-';
        uint64_t u;
        int r = parse_u64(neg ? (StrView){ s.p + 1, s.n - 1 } : s, &u);
        if (r < 0)
                return r;
        if (neg) {
                if (u > (uint64_t) INT64_MAX + 1)
                        return -ERANGE;
                *ret = (int64_t) (0 - u);
        } else if (u > (uint64_t) INT64_MAX) {
                bool hex = s.n > 2 && s.p[0] == '0' && (s.p[1] == 'x' || s.p[1] == 'X');
                if (!hex)
                        return -ERANGE;
                *ret = (int64_t) u; /* two's complement, as the kernel printed it */
        } else
                *ret = (int64_t) u;
        return 0;
}

/* Length of the UTF-8 sequence at s[0..n), which is >= 1. Sets *valid to
 * false for an ill-formed sequence; the length is then that of its maximal
 * subpart (Unicode 3.9, the WHATWG decoder's choice too), so one U+FFFD
 * replaces one broken sequence, not each of its bytes. */
size_t utf8_seq(const unsigned char *s, size_t n, bool *valid) {
        unsigned char c = s[0], lo = 0x80, hi = 0xBF;
        size_t need;

        *valid = false;
        if (c < 0x80) {
                *valid = true;
                return 1;
        } else if (c >= 0xC2 && c <= 0xDF)
                need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                if (c == 0xE0)
                        lo = 0xA0; /* overlong */
                else if (c == 0xED)
                        hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                if (c == 0xF0)
                        lo = 0x90; /* overlong */
                else if (c == 0xF4)
                        hi = 0x8F; /* above U+10FFFF */
        } else
                return 1; /* continuation byte, C0/C1 overlong lead, or > F4 */

        size_t i = 1;
        for (size_t k = 0; k < need; k++, i++) {
                if (i >= n || s[i] < lo || s[i] > hi)
                        return i;
                lo = 0x80;
                hi = 0xBF;
        }
        *valid = true;
        return i;
}

int proc_name_unescape(StrView in, char *out, size_t size) {
        size_t n = 0;
        for (size_t i = 0; i < in.n; i++) {
                char c = in.p[i];
                if (c == '\\' && i + 1 < in.n) {
                        static const char from[] = "ntvfrae\"\\", to[] = "\n\t\v\f\r\a\033\"\\";
                        const char *k = memchr(from, in.p[i + 1], sizeof(from) - 1);
                        if (k) {
                                c = to[k - from];
                                i++;
                        }
                }
                if (n + 1 >= size)
                        return -1;
                out[n++] = c;
        }
        if (size == 0)
                return -1;
        out[n] = 0;
        return (int) n;
}

bool utf8_is_valid(StrView s) {
        const unsigned char *p = (const unsigned char *) s.p;
        size_t i = 0;
        while (i < s.n) {
                if (p[i] < 0x80) {
                        i++;
                        continue;
                }
                bool valid;
                i += utf8_seq(p + i, s.n - i, &valid);
                if (!valid)
                        return false;
        }
        return true;
}

void utf8_sanitize(Buf *out, StrView s) {
        const unsigned char *p = (const unsigned char *) s.p;
        size_t i = 0;
        buf_reserve(out, s.n);
        while (i < s.n) {
                bool valid;
                size_t k = utf8_seq(p + i, s.n - i, &valid);
                if (valid)
                        buf_append(out, p + i, k);
                else
                        buf_append(out, "\xef\xbf\xbd", 3);
                i += k;
        }
}

/* Splits "host:port", "[v6]:port" or ":port" (":port" = 0.0.0.0). */
int listen_address_split(const char *address, char **ret_host, char *port, size_t port_size) {
        const char *colon, *host;
        size_t host_len;
        uint64_t p;

        if (!address)
                return -EINVAL;
        if (address[0] == '[') {
                const char *close = strchr(address, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                host = address + 1;
                host_len = (size_t) (close - host);
                colon = close + 1;
                if (host_len == 0)
                        return -EINVAL;
        } else {
                colon = strrchr(address, ':');
                if (!colon)
                        return -EINVAL;
                host = address;
                host_len = (size_t) (colon - address);
                /* A bare IPv6 address needs brackets to tell its port apart. */
                if (memchr(host, ':', host_len))
                        return -EINVAL;
        }
        /* Decimal only: parse_u64 would also take 0x.., getaddrinfo not. */
        if (colon[1] == 0 || strspn(colon + 1, "0123456789") != strlen(colon + 1))
                return -EINVAL;
        if (parse_u64(sv_from(colon + 1), &p) < 0 || p > 65535)
                return -EINVAL;
        snprintf(port, port_size, "%u", (unsigned) p);
        *ret_host = host_len == 0 ? xstrdup("0.0.0.0") : xstrndup(host, host_len);
        return 0;
}

bool has_space(const char *s) {
        for (; *s; s++)
                if (char_is_space(*s))
                        return true;
        return false;
}

bool span_is_name(const char *s, size_t n) {
        if (n == 0 || n > EVENT_NAME_MAX || !char_is_name_start(s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!char_is_name(s[i]))
                        return false;
        return true;
}

bool group_name_is_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > EVENT_NAME_MAX || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!char_is_name(s[i]) && s[i] != '-')
                        return false;
        return true;
}

/* The registers of a function's first integer or pointer arguments at its
 * entry, as probe fetch args name them (the kernel's
 * regs_query_register_offset() names, after a '%'). By the daemon's own
 * architecture: it runs on the kernel it traces, and traces programs of
 * its own ABI (a 32-bit program on a 64-bit kernel passes them otherwise). */
#if defined(__x86_64__)
#define UPROBE_ARG_ARCH "x86-64"
static const char *const uprobe_arg_regs[] = { "%di", "%si", "%dx", "%cx", "%r8", "%r9" };
#elif defined(__aarch64__)
#define UPROBE_ARG_ARCH "aarch64"
static const char *const uprobe_arg_regs[] = { "%x0", "%x1", "%x2", "%x3", "%x4", "%x5", "%x6", "%x7" };
#endif

unsigned uprobe_arg_max(const char **ret_arch) {
#ifdef UPROBE_ARG_ARCH
        if (ret_arch)
                *ret_arch = UPROBE_ARG_ARCH;
        return (unsigned) ELEMENTSOF(uprobe_arg_regs);
#else
        if (ret_arch)
                *ret_arch = NULL;
        return 0;
#endif
}

static const char *uprobe_arg_register(unsigned long n) {
#ifdef UPROBE_ARG_ARCH
        if (n >= 1 && n <= ELEMENTSOF(uprobe_arg_regs))
                return uprobe_arg_regs[n - 1];
#else
        (void) n;
#endif
        return NULL;
}

int uprobe_fetch_arg_translate(const char *s, Buf *out, unsigned long *ret_n) {
        const char *eq = strchr(s, '=');
        const char *arg = eq ? eq + 1 : s;
        /* The kernel splits the type off at the FETCHARG's first ':'. */
        const char *colon = strchr(arg, ':');
        const char *end = colon ? colon : arg + strlen(arg);
        int replaced = 0;

        buf_append(out, s, (size_t) (arg - s));
        if (arg[0] == '\\') {
                /* An immediate: a string's text is the user's own. */
                buf_puts(out, arg);
                return 0;
        }
        for (const char *p = arg; p < end;) {
                const char *q = p + 4;
                if ((size_t) (end - p) < 5 || memcmp(p, "$arg", 4) != 0 || *q < '0' || *q > '9') {
                        buf_putc(out, *p++);
                        continue;
                }
                unsigned long n = 0;
                size_t digits = 0;
                for (; q < end && *q >= '0' && *q <= '9'; q++, digits++)
                        n = n * 10 + (unsigned long) (*q - '0');
                if (digits > 9)
                        n = ULONG_MAX; /* no table has a thousand million registers */
                if (q < end && char_is_name(*q)) {
                        /* "$arg1x" is no $argN: the kernel says what it is. */
                        buf_append(out, p, (size_t) (q - p));
                        p = q;
                        continue;
                }
                const char *reg = uprobe_arg_register(n);
                if (!reg) {
                        if (ret_n)
                                *ret_n = n;
                        return uprobe_arg_max(NULL) == 0 ? -EOPNOTSUPP : -ERANGE;
                }
                buf_puts(out, reg);
                replaced++;
                p = q;
        }
        buf_puts(out, end);
        return replaced;
}

void strv_free(char **v) {
        if (!v)
                return;
        for (char **i = v; *i; i++)
                free(*i);
        free(v);
}

void strv_push(char ***v, size_t *n, StrView s) {
        *v = xrealloc(*v, (*n + 2) * sizeof(char *));
        (*v)[(*n)++] = xstrndup(s.p, s.n);
        (*v)[*n] = NULL;
}

bool strv_contains(char **v, const char *s) {
        for (; v && *v; v++)
                if (strcmp(*v, s) == 0)
                        return true;
        return false;
}

bool strv_equal(char **a, size_t na, char **b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        return true;
}

int read_fd_all(int fd, size_t max, Buf *out) {
        buf_clear(out);
        buf_reserve(out, 0); /* an empty file reads as "", not as NULL */
        for (;;) {
                /* At most max + 1 bytes are kept (out->len <= max here):
                 * enough to tell "too large" without reading all of it. */
                size_t room = 64 * 1024;
                if (max - out->len < room)
                        room = max - out->len + 1;
                buf_reserve(out, room);
                ssize_t n = read(fd, out->data + out->len, room);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : 0; /* a directory gives EISDIR here */
                out->len += (size_t) n;
                out->data[out->len] = 0;
                if (out->len > max)
                        return -EFBIG;
        }
}

int read_file_at(int dirfd, const char *path, size_t max, Buf *out) {
        int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        int r = read_fd_all(fd, max, out);
        close(fd);
        return r;
}
