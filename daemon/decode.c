/* Field decoders. Called once per label value per event, so nothing here
 * allocates: results go to the caller's scratch buffer, or point at the
 * input or at the decoder's map strings. */
#ifndef _GNU_SOURCE
/* _GNU_SOURCE (meson) for strerrorname_np() */
#endif

#include "decode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* glibc >= 2.32 knows every errno name of the running platform; elsewhere
 * (musl, old glibc) a table of the errnos a probe is likely to return.
 * __USE_GNU: the declaration is only there if _GNU_SOURCE came before the
 * first libc header (a build's -include could defeat the define above).
 * Define DECODE_ERRNO_TABLE to use the table anyway (to test it). */
#if !defined(DECODE_ERRNO_TABLE) && defined(__GLIBC__) && defined(__GLIBC_PREREQ) && defined(__USE_GNU)
#if __GLIBC_PREREQ(2, 32)
#define HAVE_STRERRORNAME_NP 1
#endif
#endif

/* The largest errno the kernel returns: it reserves -4095..-1 (MAX_ERRNO). */
#define ERRNO_MAX 4095

static const char fault_str[] = "(fault)";

static bool sv_is_fault(StrView v) {
        return v.n == sizeof(fault_str) - 1 && memcmp(v.p, fault_str, v.n) == 0;
}

/* With options/fields the kernel prints integers as "0x1900 (6400)": the
 * numeric part is the one before " (". */
static StrView strip_fields_suffix(StrView v) {
        if (v.n < 4 || v.p[v.n - 1] != ')')
                return v;
        const char *sp = memchr(v.p, ' ', v.n);
        if (!sp || (size_t) (sp - v.p) + 2 >= v.n || sp[1] != '(')
                return v;
        return (StrView){ v.p, (size_t) (sp - v.p) };
}

/* An integer as the kernel prints it ("6400", "-111", "0xffffff91"), as a
 * 64-bit pattern: negative decimals in two's complement. *neg tells that a
 * '-' was written. */
static int parse_number(StrView v, uint64_t *bits, bool *neg) {
        int64_t s;
        int r;

        v = strip_fields_suffix(v);
        if (v.n > 0 && v.p[0] == '-') {
                r = parse_i64(v, &s);
                if (r < 0)
                        return r;
                *bits = (uint64_t) s;
                *neg = true;
                return 0;
        }
        *neg = false;
        return parse_u64(v, bits);
}

/* The value as an unsigned integer of `bits` bits. Signed fetch types
 * (s16, s32) print negatives for half of the range, those are taken as
 * the same bit pattern. Anything that does not fit is -ERANGE. */
static int parse_unsigned_n(StrView v, unsigned bits, uint64_t *ret) {
        uint64_t u, max = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
        bool neg;
        int r;

        r = parse_number(v, &u, &neg);
        if (r < 0)
                return r;
        if (neg) {
                int64_t s = (int64_t) u;
                if (bits < 64 && s < -(INT64_C(1) << (bits - 1)))
                        return -ERANGE;
                *ret = u & max;
                return 0;
        }
        if (u > max)
                return -ERANGE;
        *ret = u;
        return 0;
}

static StrView scratch_int(char scratch[DECODE_SCRATCH], bool hex, uint64_t v) {
        /* At most 20 digits, or "0x" and 16: fits DECODE_SCRATCH. */
        size_t n = hex ? fmt_hex(scratch, v) : fmt_u64(scratch, v);
        scratch[n] = 0; /* text in scratch is a C string too, as printf left it */
        return (StrView){ scratch, n };
}

/* Copies v NUL-terminated into scratch for the libc parsers; false when it
 * does not fit or holds a NUL (then it is no address anyway). */
static bool scratch_cstr(char scratch[DECODE_SCRATCH], StrView v) {
        if (v.n >= DECODE_SCRATCH || (v.n > 0 && memchr(v.p, 0, v.n)))
                return false;
        if (v.n > 0)
                memcpy(scratch, v.p, v.n);
        scratch[v.n] = 0;
        return true;
}

static int decode_ntohs(StrView in, char scratch[DECODE_SCRATCH], StrView *out) {
        uint64_t u;

        if (parse_unsigned_n(in, 16, &u) < 0)
                return -EINVAL;
        /* The fetch read network-order bytes as a host-order u16: ntohs()
         * puts them right (a swap on the little-endian hosts we run on). */
        *out = scratch_int(scratch, false, (uint64_t) ntohs((uint16_t) u));
        return 0;
}

static int decode_ntohl(StrView in, char scratch[DECODE_SCRATCH], StrView *out) {
        uint64_t u;

        if (parse_unsigned_n(in, 32, &u) < 0)
                return -EINVAL;
        *out = scratch_int(scratch, false, (uint64_t) ntohl((uint32_t) u));
        return 0;
}

static int decode_ipv4(StrView in, char scratch[DECODE_SCRATCH], StrView *out) {
        struct in_addr a;
        uint64_t u;

        /* Tracepoints print addresses already ("%pI4"). */
        if (in.n > 0 && memchr(in.p, '.', in.n)) {
                if (!scratch_cstr(scratch, in) || inet_pton(AF_INET, scratch, &a) != 1)
                        return -EINVAL;
                *out = in;
                return 0;
        }

        /* A u32 fetch reads the network-order bytes of the address as a
         * host-order integer; its in-memory bytes are the address again,
         * whatever the host's endianness. */
        if (parse_unsigned_n(in, 32, &u) < 0)
                return -EINVAL;
        uint32_t v = (uint32_t) u;
        unsigned char b[4];
        memcpy(b, &v, sizeof(v));
        /* What inet_ntop() prints, without its printf. */
        size_t n = 0;
        for (size_t k = 0; k < 4; k++) {
                if (k > 0)
                        scratch[n++] = '.';
                n += fmt_u64(scratch + n, b[k]);
        }
        scratch[n] = 0;
        *out = (StrView){ scratch, n };
        return 0;
}

/* A u8[16] fetch as the kernel prints it, "{0x0,0x0,...,0x1}", into a. */
static int parse_u8_16(StrView in, struct in6_addr *a) {
        if (in.n < 2 || in.p[0] != '{' || in.p[in.n - 1] != '}')
                return -EINVAL;
        size_t i = 1, k = 0, end = in.n - 1;
        for (;;) {
                const char *c = memchr(in.p + i, ',', end - i);
                size_t e = c ? (size_t) (c - in.p) : end;
                uint64_t b;

                if (k >= sizeof(a->s6_addr) || parse_unsigned_n((StrView){ in.p + i, e - i }, 8, &b) < 0)
                        return -EINVAL;
                a->s6_addr[k++] = (uint8_t) b;
                if (e == end)
                        break;
                i = e + 1;
        }
        return k == sizeof(a->s6_addr) ? 0 : -EINVAL;
}

static int decode_ipv6(StrView in, char scratch[DECODE_SCRATCH], StrView *out) {
        struct in6_addr a;

        /* Tracepoints print addresses already ("%pI6c"). */
        if (in.n > 0 && memchr(in.p, ':', in.n)) {
                if (!scratch_cstr(scratch, in) || inet_pton(AF_INET6, scratch, &a) != 1)
                        return -EINVAL;
                *out = in;
                return 0;
        }

        if (parse_u8_16(in, &a) < 0 || !inet_ntop(AF_INET6, &a, scratch, DECODE_SCRATCH))
                return -EINVAL;
        *out = sv_from(scratch);
        return 0;
}

/* An address as people write it: the kernel keeps IPv4 peers of an IPv6
 * socket IPv4-mapped (::ffff:a.b.c.d), and one label should not split an
 * address into two spellings by the socket's family. */
static int decode_ip(StrView in, char scratch[DECODE_SCRATCH], StrView *out) {
        struct in6_addr a;
        struct in_addr a4;

        if (in.n > 0 && in.p[0] == '{') {
                /* A u8[16] fetch of a kprobe or uprobe. */
                if (parse_u8_16(in, &a) < 0)
                        return -EINVAL;
        } else if (in.n > 0 && memchr(in.p, ':', in.n)) {
                /* A tracepoint's %pI6c, as the kernel or the binary reader
                 * prints it; any other spelling is made canonical below. */
                if (!scratch_cstr(scratch, in) || inet_pton(AF_INET6, scratch, &a) != 1)
                        return -EINVAL;
        } else {
                /* %pI4: inet_pton() takes only the dotted quad, without
                 * leading zeros, so what it takes is the usual form. */
                if (!scratch_cstr(scratch, in) || inet_pton(AF_INET, scratch, &a4) != 1)
                        return -EINVAL;
                *out = in;
                return 0;
        }

        if (IN6_IS_ADDR_V4MAPPED(&a)) {
                memcpy(&a4, &a.s6_addr[12], sizeof(a4));
                if (!inet_ntop(AF_INET, &a4, scratch, DECODE_SCRATCH))
                        return -EINVAL;
        } else if (!inet_ntop(AF_INET6, &a, scratch, DECODE_SCRATCH))
                return -EINVAL;
        *out = sv_from(scratch);
        return 0;
}

/* The kernel's own dev_t (MINORBITS = 20), as tracepoints record it: not
 * the one stat() returns, whose minor is split around the major. */
static int decode_devt(StrView in, char scratch[DECODE_SCRATCH], StrView *out) {
        uint64_t u;

        if (parse_unsigned_n(in, 32, &u) < 0)
                return -EINVAL;
        /* "4095:1048575" at most: fits DECODE_SCRATCH. */
        size_t n = fmt_u64(scratch, u >> 20);
        scratch[n++] = ':';
        n += fmt_u64(scratch + n, u & ((UINT64_C(1) << 20) - 1));
        scratch[n] = 0;
        *out = (StrView){ scratch, n };
        return 0;
}

static int decode_hex(StrView in, char scratch[DECODE_SCRATCH], StrView *out) {
        uint64_t u;
        bool neg;

        if (parse_number(in, &u, &neg) < 0)
                return -EINVAL;
        *out = scratch_int(scratch, true, u);
        return 0;
}

static int decode_errno(StrView in, StrView *out) {
        uint64_t u;
        int64_t s;
        bool neg;

        if (parse_number(in, &u, &neg) < 0)
                return -EINVAL;
        s = (int64_t) u;
        /* An x32 or u32 fetch of a negative int prints 0xffffff91: read it
         * as the s32 it is, but only inside the errno range. */
        if (s > 0 && u > UINT32_MAX - ERRNO_MAX && u <= UINT32_MAX)
                s = (int64_t) u - (INT64_C(1) << 32);

        if (s == 0) {
                *out = SV("0");
                return 0;
        }
        if (s > 0) {
                /* Not an error: a count or an fd, keep it as printed. */
                *out = in;
                return 0;
        }
        if (s < -ERRNO_MAX)
                return -EINVAL;
        const char *name = errno_name((int) -s);
        if (!name)
                return -EINVAL;
        *out = sv_from(name);
        return 0;
}

static int decode_string(StrView in, StrView *out) {
        /* Tracepoints print strings bare; only probes add quotes. */
        *out = sv_is_quoted(in) ? (StrView){ in.p + 1, in.n - 2 } : in;
        return 0;
}

static int decode_map(const Decoder *d, StrView in, StrView *out) {
        uint64_t u, mu;
        bool neg, have_num;

        for (size_t i = 0; i < d->n_map; i++)
                if (d->map[i].from && sv_eq_str(in, d->map[i].from)) {
                        *out = sv_from(d->map[i].to);
                        return 0;
                }

        /* A string field prints quoted: let users write the map without. */
        if (sv_is_quoted(in)) {
                StrView uq = { in.p + 1, in.n - 2 };
                for (size_t i = 0; i < d->n_map; i++)
                        if (d->map[i].from && sv_eq_str(uq, d->map[i].from)) {
                                *out = sv_from(d->map[i].to);
                                return 0;
                        }
        }

        /* "0x2" matches "2", "-1" matches "0xffffffffffffffff". */
        have_num = parse_number(in, &u, &neg) == 0;
        if (have_num)
                for (size_t i = 0; i < d->n_map; i++)
                        if (d->map[i].from && parse_number(sv_from(d->map[i].from), &mu, &neg) == 0 && mu == u) {
                                *out = sv_from(d->map[i].to);
                                return 0;
                        }

        return -EINVAL;
}

int decode_value(const Decoder *d, StrView in, char scratch[DECODE_SCRATCH], StrView *out) {
        int r;

        *out = in;
        if (sv_is_fault(in))
                return -EINVAL;
        if (!d)
                return 0;

        switch (d->kind) {
        case DECODER_NONE:
                return 0;
        case DECODER_NTOHS:
                r = decode_ntohs(in, scratch, out);
                break;
        case DECODER_NTOHL:
                r = decode_ntohl(in, scratch, out);
                break;
        case DECODER_IPV4:
                r = decode_ipv4(in, scratch, out);
                break;
        case DECODER_IPV6:
                r = decode_ipv6(in, scratch, out);
                break;
        case DECODER_HEX:
                r = decode_hex(in, scratch, out);
                break;
        case DECODER_ERRNO:
                r = decode_errno(in, out);
                break;
        case DECODER_STRING:
                r = decode_string(in, out);
                break;
        case DECODER_IP:
                r = decode_ip(in, scratch, out);
                break;
        case DECODER_DEVT:
                r = decode_devt(in, scratch, out);
                break;
        case DECODER_MAP:
                r = decode_map(d, in, out);
                break;
        default:
                r = -EINVAL;
        }

        /* Whatever a decoder left behind, a failure passes the raw value. */
        if (r < 0)
                *out = in;
        return r;
}

#ifndef HAVE_STRERRORNAME_NP
static const struct {
        int e;
        const char *name;
} errno_table[] = {
#define E(x) { x, #x }
        E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG), E(ENOEXEC),
        E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT), E(EBUSY), E(EEXIST),
        E(EXDEV), E(ENODEV), E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY),
        E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK), E(EPIPE), E(EDOM), E(ERANGE),
        E(EDEADLK), E(ENAMETOOLONG), E(ENOLCK), E(ENOSYS), E(ENOTEMPTY), E(ELOOP), E(ENOMSG),
        E(ENODATA), E(ETIME), E(EPROTO), E(EOVERFLOW), E(EILSEQ), E(ENOTSOCK), E(EDESTADDRREQ),
        E(EMSGSIZE), E(EPROTOTYPE), E(ENOPROTOOPT), E(EPROTONOSUPPORT), E(EOPNOTSUPP),
        E(EAFNOSUPPORT), E(EADDRINUSE), E(EADDRNOTAVAIL), E(ENETDOWN), E(ENETUNREACH),
        E(ENETRESET), E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS), E(EISCONN), E(ENOTCONN),
        E(ESHUTDOWN), E(ETIMEDOUT), E(ECONNREFUSED), E(EHOSTDOWN), E(EHOSTUNREACH), E(EALREADY),
        E(EINPROGRESS), E(ESTALE), E(EDQUOT), E(ECANCELED), E(EOWNERDEAD), E(ENOTRECOVERABLE),
#undef E
};
#endif

/* Kernel-internal errnos (include/linux/errno.h): user space never sees
 * them, but a kretprobe on a kernel function does (-512 from an interrupted
 * connect()). libc has no names for them. */
static const char *const kernel_errno_names[] = {
        [512 - 512] = "ERESTARTSYS",
        [513 - 512] = "ERESTARTNOINTR",
        [514 - 512] = "ERESTARTNOHAND",
        [515 - 512] = "ENOIOCTLCMD",
        [516 - 512] = "ERESTART_RESTARTBLOCK",
        [517 - 512] = "EPROBE_DEFER",
        [518 - 512] = "EOPENSTALE",
        [519 - 512] = "ENOPARAM",
        [521 - 512] = "EBADHANDLE",
        [522 - 512] = "ENOTSYNC",
        [523 - 512] = "EBADCOOKIE",
        [524 - 512] = "ENOTSUPP",
        [525 - 512] = "ETOOSMALL",
        [526 - 512] = "ESERVERFAULT",
        [527 - 512] = "EBADTYPE",
        [528 - 512] = "EJUKEBOX",
        [529 - 512] = "EIOCBQUEUED",
        [530 - 512] = "ERECALLCONFLICT",
        [531 - 512] = "ENOGRACE",
};

const char *errno_name(int e) {
        if (e <= 0)
                return NULL;
        if (e >= 512 && (size_t) (e - 512) < ELEMENTSOF(kernel_errno_names))
                return kernel_errno_names[e - 512]; /* NULL for the holes */
#ifdef HAVE_STRERRORNAME_NP
        return strerrorname_np(e);
#else
        for (size_t i = 0; i < ELEMENTSOF(errno_table); i++)
                if (errno_table[i].e == e)
                        return errno_table[i].name;
        return NULL;
#endif
}
