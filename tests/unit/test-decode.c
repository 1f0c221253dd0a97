/* Tests of the field decoders, with the values the kernel really prints.
 * Inputs are copied into buffers of exactly their length (no terminator),
 * so ASan catches a decoder that reads past the value. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"

static int decode(DecoderKind kind, const MapEntry *map, size_t n_map, const char *in, char *got, size_t got_sz,
                  bool *passed_through) {
        Decoder d = { .field = (char *) "f", .kind = kind, .map = (MapEntry *) map, .n_map = n_map };
        char scratch[DECODE_SCRATCH];
        size_t n = strlen(in);
        char *b = malloc(n ? n : 1);
        StrView out;

        assert_non_null(b);
        memcpy(b, in, n);
        int r = decode_value(&d, (StrView){ b, n }, scratch, &out);
        assert_true(out.n < got_sz);
        memcpy(got, out.p, out.n);
        got[out.n] = 0;
        *passed_through = out.p == b && out.n == n;
        free(b);
        return r;
}

/* Decodes to `want` with 0. */
#define assert_decodes(kind, in, want)                                                                   \
        do {                                                                                             \
                char _got[DECODE_SCRATCH * 2];                                                          \
                bool _pt;                                                                                \
                int _r = decode(kind, NULL, 0, in, _got, sizeof(_got), &_pt);                          \
                if (_r != 0 || strcmp(_got, want) != 0)                                                 \
                        fail_msg("%s(\"%s\"): r=%d \"%s\", want \"%s\"", decoder_name(kind), in, _r, _got, want); \
        } while (0)

/* Fails with -EINVAL and hands back the raw value itself. */
#define assert_rejects(kind, in)                                                                         \
        do {                                                                                             \
                char _got[256];                                                                          \
                bool _pt;                                                                                \
                int _r = decode(kind, NULL, 0, in, _got, sizeof(_got), &_pt);                          \
                if (_r != -EINVAL || !_pt)                                                              \
                        fail_msg("%s(\"%s\"): r=%d \"%s\", want -EINVAL and the raw value", decoder_name(kind), in, _r, _got); \
        } while (0)

/* Succeeds and hands back the raw value itself. */
#define assert_keeps(kind, in)                                                                           \
        do {                                                                                             \
                char _got[256];                                                                          \
                bool _pt;                                                                                \
                int _r = decode(kind, NULL, 0, in, _got, sizeof(_got), &_pt);                          \
                if (_r != 0 || !_pt)                                                                    \
                        fail_msg("%s(\"%s\"): r=%d \"%s\", want 0 and the raw value", decoder_name(kind), in, _r, _got); \
        } while (0)

static const char *decoder_name(DecoderKind k) {
        static const char *const names[] = { "none", "ntohs", "ntohl", "ipv4", "ipv6", "hex", "errno", "string", "ip",
                                             "devt", "map" };
        return (size_t) k < ELEMENTSOF(names) ? names[k] : "?";
}

static void test_ntohs(void **state) {
        (void) state;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* The seed: port 25 fetched as u16 on x86-64 prints 6400. */
        assert_decodes(DECODER_NTOHS, "6400", "25");
        assert_decodes(DECODER_NTOHS, "0x1900", "25");
        assert_decodes(DECODER_NTOHS, "1792", "7");          /* seen on Debian 6.1: port 7 */
        assert_decodes(DECODER_NTOHS, "47873", "443");
        assert_decodes(DECODER_NTOHS, "-17663", "443");      /* the same bits fetched as s16 */
        assert_decodes(DECODER_NTOHS, "0x1900 (6400)", "25"); /* options/fields */
        assert_decodes(DECODER_NTOHS, "65535", "65535");
        assert_decodes(DECODER_NTOHS, "1", "256");
#endif
        assert_decodes(DECODER_NTOHS, "0", "0");
        assert_rejects(DECODER_NTOHS, "65536");
        assert_rejects(DECODER_NTOHS, "0x10000");
        assert_rejects(DECODER_NTOHS, "-32769");
        assert_rejects(DECODER_NTOHS, "99999999999999999999999");
        assert_rejects(DECODER_NTOHS, "0xffffffffffffffff");
        assert_rejects(DECODER_NTOHS, "");
        assert_rejects(DECODER_NTOHS, "0x");
        assert_rejects(DECODER_NTOHS, "-");
        assert_rejects(DECODER_NTOHS, "25x");
        assert_rejects(DECODER_NTOHS, " 25");
        assert_rejects(DECODER_NTOHS, "\"25\"");
        assert_rejects(DECODER_NTOHS, "(fault)");
}

static void test_ntohl(void **state) {
        (void) state;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        assert_decodes(DECODER_NTOHL, "16777343", "2130706433");
        assert_decodes(DECODER_NTOHL, "0x100007f", "2130706433");
        assert_decodes(DECODER_NTOHL, "-1", "4294967295");
#endif
        assert_rejects(DECODER_NTOHL, "4294967296");
        assert_rejects(DECODER_NTOHL, "-2147483649");
        assert_rejects(DECODER_NTOHL, "abc");
        assert_rejects(DECODER_NTOHL, "(fault)");
}

static void test_ipv4(void **state) {
        char in[32];
        (void) state;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        assert_decodes(DECODER_IPV4, "16777343", "127.0.0.1"); /* the seed */
        assert_decodes(DECODER_IPV4, "0x100007f", "127.0.0.1");
        assert_decodes(DECODER_IPV4, "2466293952", "192.168.0.147");
        assert_decodes(DECODER_IPV4, "-1828673344", "192.168.0.147"); /* fetched as s32 */
#endif
        /* Whatever the host: the u32 holding the bytes 10.0.2.15 in memory. */
        uint8_t bytes[4] = { 10, 0, 2, 15 };
        uint32_t v;
        memcpy(&v, bytes, sizeof(v));
        snprintf(in, sizeof(in), "%u", v);
        assert_decodes(DECODER_IPV4, in, "10.0.2.15");

        assert_decodes(DECODER_IPV4, "0", "0.0.0.0");
        assert_decodes(DECODER_IPV4, "4294967295", "255.255.255.255");
        /* Tracepoints print the address already. */
        assert_keeps(DECODER_IPV4, "127.0.0.1");
        assert_keeps(DECODER_IPV4, "0.0.0.0");
        assert_rejects(DECODER_IPV4, "127.0.0");
        assert_rejects(DECODER_IPV4, "127.0.0.256");
        assert_rejects(DECODER_IPV4, "1.2.3.4.5");
        assert_rejects(DECODER_IPV4, "4294967296");
        assert_rejects(DECODER_IPV4, "0123456789.0123456789.0123456789.0123456789.0123456789.0123456789.1");
        assert_rejects(DECODER_IPV4, "");
        assert_rejects(DECODER_IPV4, "(fault)");
}

static void test_ipv6(void **state) {
        (void) state;

        assert_decodes(DECODER_IPV6, "{0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x1}", "::1");
        assert_decodes(DECODER_IPV6, "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1}", "::1");
        assert_decodes(DECODER_IPV6, "{0x20,0x1,0xd,0xb8,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x1}", "2001:db8::1");
        assert_decodes(DECODER_IPV6, "{0,0,0,0,0,0,0,0,0,0,255,255,127,0,0,1}", "::ffff:127.0.0.1");
        assert_decodes(DECODER_IPV6, "{0xfe,0x80,0,0,0,0,0,0,0x12,0x34,0x56,0x78,0x9a,0xbc,0xde,0xf0}",
                       "fe80::1234:5678:9abc:def0");
        assert_decodes(DECODER_IPV6,
                       "{0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff}",
                       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        /* Tracepoints print the address already ("%pI6c"). */
        assert_keeps(DECODER_IPV6, "::1");
        assert_keeps(DECODER_IPV6, "2001:db8::1");
        assert_rejects(DECODER_IPV6, ":::1");
        assert_rejects(DECODER_IPV6, "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,1}");     /* 15 */
        assert_rejects(DECODER_IPV6, "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1}"); /* 17 */
        assert_rejects(DECODER_IPV6, "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0x100}");
        assert_rejects(DECODER_IPV6, "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,}");
        assert_rejects(DECODER_IPV6, "{0,0,0,0,0,0,0,,0,0,0,0,0,0,0,1}");
        assert_rejects(DECODER_IPV6, "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1");
        assert_rejects(DECODER_IPV6, "{}");
        assert_rejects(DECODER_IPV6, "{");
        assert_rejects(DECODER_IPV6, "}");
        assert_rejects(DECODER_IPV6, "16777343");
        assert_rejects(DECODER_IPV6, "(fault)");
}

static void test_ip(void **state) {
        (void) state;

        /* sock/inet_sock_set_state's daddr_v6 (%pI6c) of an IPv4 peer: the
         * kernel keeps it IPv4-mapped. */
        assert_decodes(DECODER_IP, "::ffff:127.0.0.1", "127.0.0.1");
        assert_decodes(DECODER_IP, "::ffff:192.168.0.147", "192.168.0.147");
        assert_decodes(DECODER_IP, "::ffff:0.0.0.0", "0.0.0.0");
        assert_decodes(DECODER_IP, "::1", "::1");
        assert_decodes(DECODER_IP, "2001:db8::1", "2001:db8::1");
        assert_decodes(DECODER_IP, "fe80::1", "fe80::1");
        assert_decodes(DECODER_IP, "::", "::");
        /* Other spellings come out canonical. */
        assert_decodes(DECODER_IP, "0:0:0:0:0:0:0:1", "::1");
        assert_decodes(DECODER_IP, "2001:DB8:0:0:0:0:0:1", "2001:db8::1");
        assert_decodes(DECODER_IP, "::FFFF:7f00:1", "127.0.0.1");
        /* The IPv4 form of an IPv4 socket's saddr (%pI4). */
        assert_decodes(DECODER_IP, "127.0.0.1", "127.0.0.1");
        assert_keeps(DECODER_IP, "10.0.2.15");
        /* A kprobe's u8[16] fetch, as the ipv6 decoder takes it. */
        assert_decodes(DECODER_IP, "{0,0,0,0,0,0,0,0,0,0,255,255,127,0,0,1}", "127.0.0.1");
        assert_decodes(DECODER_IP, "{0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0xff,0xff,0xc0,0xa8,0x0,0x93}",
                       "192.168.0.147");
        assert_decodes(DECODER_IP, "{0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x1}", "::1");
        assert_decodes(DECODER_IP, "{0x20,0x1,0xd,0xb8,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x1}", "2001:db8::1");
        assert_decodes(DECODER_IP, "{0xfe,0x80,0,0,0,0,0,0,0x12,0x34,0x56,0x78,0x9a,0xbc,0xde,0xf0}",
                       "fe80::1234:5678:9abc:def0");
        assert_decodes(DECODER_IP,
                       "{0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff}",
                       "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");

        assert_rejects(DECODER_IP, "garbage");
        assert_rejects(DECODER_IP, ":::1");
        assert_rejects(DECODER_IP, "fe80::1%eth0");
        assert_rejects(DECODER_IP, "127.0.0");
        assert_rejects(DECODER_IP, "127.0.0.256");
        assert_rejects(DECODER_IP, "127.000.0.1");
        assert_rejects(DECODER_IP, "16777343"); /* a u32: that is the ipv4 decoder's */
        assert_rejects(DECODER_IP, "{127,0,0,1}");
        assert_rejects(DECODER_IP, "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,1}");
        assert_rejects(DECODER_IP, "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0x100}");
        assert_rejects(DECODER_IP, "{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1");
        assert_rejects(DECODER_IP, "\"::1\"");
        assert_rejects(DECODER_IP, "::ffff:127.0.0.1 ");
        assert_rejects(DECODER_IP, "0123456789:0123456789:0123456789:0123456789:0123456789:0123456789::1");
        assert_rejects(DECODER_IP, "");
        assert_rejects(DECODER_IP, "(fault)");
}

static void test_devt(void **state) {
        (void) state;

        /* block/block_rq_issue's dev of /dev/dm-0 and /dev/sda1. */
        assert_decodes(DECODER_DEVT, "265289728", "253:0");
        assert_decodes(DECODER_DEVT, "0xfd00000", "253:0");
        assert_decodes(DECODER_DEVT, "8388609", "8:1");
        assert_decodes(DECODER_DEVT, "0x800001", "8:1");
        assert_decodes(DECODER_DEVT, "0x800001 (8388609)", "8:1"); /* options/fields */
        assert_decodes(DECODER_DEVT, "271581184", "259:0");         /* nvme0n1 */
        assert_decodes(DECODER_DEVT, "0", "0:0");
        assert_decodes(DECODER_DEVT, "1048575", "0:1048575");
        assert_decodes(DECODER_DEVT, "4294967295", "4095:1048575");
        assert_decodes(DECODER_DEVT, "-1", "4095:1048575"); /* the same bits fetched as s32 */
        assert_rejects(DECODER_DEVT, "4294967296");
        assert_rejects(DECODER_DEVT, "253:0");
        assert_rejects(DECODER_DEVT, "253,0");
        assert_rejects(DECODER_DEVT, "garbage");
        assert_rejects(DECODER_DEVT, "");
        assert_rejects(DECODER_DEVT, "(fault)");
}

static void test_hex(void **state) {
        (void) state;

        assert_decodes(DECODER_HEX, "255", "0xff");
        assert_decodes(DECODER_HEX, "0xFF", "0xff");
        assert_decodes(DECODER_HEX, "0", "0x0");
        assert_decodes(DECODER_HEX, "-1", "0xffffffffffffffff");
        assert_decodes(DECODER_HEX, "18446744073709551615", "0xffffffffffffffff");
        assert_decodes(DECODER_HEX, "0x3 (3)", "0x3");
        assert_rejects(DECODER_HEX, "18446744073709551616");
        assert_rejects(DECODER_HEX, "ff");
        assert_rejects(DECODER_HEX, "(fault)");
}

static void test_errno(void **state) {
        (void) state;

        assert_decodes(DECODER_ERRNO, "-111", "ECONNREFUSED");
        assert_decodes(DECODER_ERRNO, "0xffffffffffffff91", "ECONNREFUSED"); /* untyped / x64 */
        assert_decodes(DECODER_ERRNO, "0xffffff91", "ECONNREFUSED");         /* x32 */
        assert_decodes(DECODER_ERRNO, "4294967185", "ECONNREFUSED");         /* u32 */
        assert_decodes(DECODER_ERRNO, "0xffffff91 (-111)", "ECONNREFUSED");  /* options/fields */
        assert_decodes(DECODER_ERRNO, "-2", "ENOENT");
        assert_decodes(DECODER_ERRNO, "-115", "EINPROGRESS");
        assert_decodes(DECODER_ERRNO, "-512", "ERESTARTSYS"); /* kernel-internal */
        assert_decodes(DECODER_ERRNO, "0", "0");
        assert_decodes(DECODER_ERRNO, "0x0", "0");
        /* Success values are counts or fds: kept as printed. */
        assert_keeps(DECODER_ERRNO, "5");
        assert_keeps(DECODER_ERRNO, "0x10");
        assert_keeps(DECODER_ERRNO, "4294963200"); /* 0xfffff000: below the errno range */
        /* Negative, but no errno. */
        assert_rejects(DECODER_ERRNO, "-4096");
        assert_rejects(DECODER_ERRNO, "-4000");
        assert_rejects(DECODER_ERRNO, "-9223372036854775808");
        assert_rejects(DECODER_ERRNO, "-9223372036854775809");
        assert_rejects(DECODER_ERRNO, "x");
        assert_rejects(DECODER_ERRNO, "(fault)");
}

static void test_string(void **state) {
        (void) state;

        assert_decodes(DECODER_STRING, "\"/tmp/a b\"", "/tmp/a b");
        assert_decodes(DECODER_STRING, "\"say \"hi\"\"", "say \"hi\"");
        assert_decodes(DECODER_STRING, "\"\"", "");
        /* Tracepoints print strings bare. */
        assert_keeps(DECODER_STRING, "Web Content");
        assert_keeps(DECODER_STRING, "\"");
        assert_keeps(DECODER_STRING, "\"half");
        assert_keeps(DECODER_STRING, "");
        assert_rejects(DECODER_STRING, "(fault)");
}

static void test_map(void **state) {
        static const MapEntry map[] = {
                { (char *) "2", (char *) "AF_INET" },
                { (char *) "10", (char *) "AF_INET6" },
                { (char *) "TCP_CLOSE", (char *) "closed" },
                { (char *) "0xffffffffffffffff", (char *) "minus_one" },
                { (char *) "007", (char *) "bond" },
        };
        static const struct {
                const char *in, *want;
        } ok[] = {
                { "2", "AF_INET" },   { "0x2", "AF_INET" },     { "10", "AF_INET6" }, { "0xa", "AF_INET6" },
                { "0xa (10)", "AF_INET6" }, { "TCP_CLOSE", "closed" }, { "\"TCP_CLOSE\"", "closed" },
                { "-1", "minus_one" }, { "007", "bond" },       { "7", "bond" },
        };
        static const char *const unknown[] = { "3", "0x3", "TCP_OPEN", "tcp_close", "", "2 ", "\"2", "(fault)" };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                char got[64];
                bool pt;
                int r = decode(DECODER_MAP, map, ELEMENTSOF(map), ok[i].in, got, sizeof(got), &pt);
                if (r != 0 || strcmp(got, ok[i].want) != 0)
                        fail_msg("map(\"%s\"): r=%d \"%s\", want \"%s\"", ok[i].in, r, got, ok[i].want);
        }
        for (size_t i = 0; i < ELEMENTSOF(unknown); i++) {
                char got[64];
                bool pt;
                int r = decode(DECODER_MAP, map, ELEMENTSOF(map), unknown[i], got, sizeof(got), &pt);
                if (r != -EINVAL || !pt)
                        fail_msg("map(\"%s\"): r=%d \"%s\", want -EINVAL and the raw value", unknown[i], r, got);
        }
        /* An empty map decodes nothing. */
        char got[64];
        bool pt;
        assert_int_equal(decode(DECODER_MAP, NULL, 0, "2", got, sizeof(got), &pt), -EINVAL);
        assert_true(pt);
}

static void test_no_decoder(void **state) {
        char scratch[DECODE_SCRATCH];
        StrView out;
        (void) state;

        assert_int_equal(decode_value(NULL, SV("6400"), scratch, &out), 0);
        assert_true(sv_eq_str(out, "6400"));
        assert_keeps(DECODER_NONE, "6400");
        assert_keeps(DECODER_NONE, "");
        /* (fault) is never a decoded value, with or without a decoder. */
        StrView fault = SV("(fault)");
        assert_int_equal(decode_value(NULL, fault, scratch, &out), -EINVAL);
        assert_true(out.p == fault.p && out.n == fault.n);
        assert_rejects(DECODER_NONE, "(fault)");
        assert_rejects(_DECODER_KIND_MAX, "1");
}

static void test_errno_name(void **state) {
        (void) state;

        assert_string_equal(errno_name(ECONNREFUSED), "ECONNREFUSED");
        assert_string_equal(errno_name(ENOENT), "ENOENT");
        assert_string_equal(errno_name(ETIMEDOUT), "ETIMEDOUT");
        assert_string_equal(errno_name(524), "ENOTSUPP");
        assert_null(errno_name(0));
        assert_null(errno_name(-111));
        assert_null(errno_name(520)); /* a hole in the kernel's list */
        assert_null(errno_name(100000));
}

/* Every decoder on odd inputs: never a crash, and on failure the raw
 * value comes back. */
static void test_garbage(void **state) {
        static const char *const inputs[] = {
                "", "-", "0x", "-0x", "--1", "0x-1", "{", "}", "{,}", "::", ":", ".", "\"", "\"\"\"",
                "(fault", "fault)", "0x1 (", "0x1 ()", " (1)", "(1)", "1 (2", "99999999999999999999999999",
                "-99999999999999999999999999", "0xfffffffffffffffff", "{0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0,0x0}",
                "1234567890123456789012345678901234567890123456789012345678901234567890:1",
        };
        static const MapEntry map[] = { { (char *) "x", (char *) "y" } };
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(inputs); i++)
                for (DecoderKind k = DECODER_NONE; k < _DECODER_KIND_MAX; k++) {
                        char got[256];
                        bool pt;
                        int r = decode(k, map, ELEMENTSOF(map), inputs[i], got, sizeof(got), &pt);
                        assert_true(r == 0 || r == -EINVAL);
                        if (r < 0 && !pt)
                                fail_msg("%s(\"%s\") failed without passing the raw value", decoder_name(k), inputs[i]);
                }

        /* A NUL inside an address is no address. */
        static const char nul[] = "127.0.0.1\0x";
        char scratch[DECODE_SCRATCH];
        StrView out;
        Decoder d = { .kind = DECODER_IPV4 };
        assert_int_equal(decode_value(&d, (StrView){ nul, sizeof(nul) - 1 }, scratch, &out), -EINVAL);
        assert_true(out.p == nul);
}


/* Numbers and addresses are formatted without printf: the text must be
 * what printf and inet_ntop() print, NUL-terminated in scratch. */
static void test_formatting_matches_libc(void **state) {
        (void) state;
        const Decoder d_ntohs = { .kind = DECODER_NTOHS }, d_ntohl = { .kind = DECODER_NTOHL };
        const Decoder ipv4 = { .kind = DECODER_IPV4 }, hex = { .kind = DECODER_HEX };
        const Decoder devt = { .kind = DECODER_DEVT };
        char scratch[DECODE_SCRATCH], in[32], want[64];
        uint64_t x = 0x9e3779b97f4a7c15ULL;
        StrView out;

        for (int i = 0; i < 20000; i++) {
                /* xorshift: every width of number, plus the edges */
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                uint64_t v = i < 4 ? (uint64_t[]){ 0, 1, UINT32_MAX, UINT64_MAX }[i] : x >> (x % 64);
                uint32_t v32 = (uint32_t) v;

                snprintf(in, sizeof(in), "%u", v32);
                assert_int_equal(decode_value(&ipv4, sv_from(in), scratch, &out), 0);
                struct in_addr a;
                memcpy(&a, &v32, 4);
                assert_non_null(inet_ntop(AF_INET, &a, want, sizeof(want)));
                assert_int_equal(out.n, strlen(want));
                assert_string_equal(scratch, want);

                assert_int_equal(decode_value(&d_ntohl, sv_from(in), scratch, &out), 0);
                snprintf(want, sizeof(want), "%u", ntohl(v32));
                assert_int_equal(out.n, strlen(want));
                assert_string_equal(scratch, want);

                snprintf(in, sizeof(in), "%u", (unsigned) (v & 0xffff));
                assert_int_equal(decode_value(&d_ntohs, sv_from(in), scratch, &out), 0);
                snprintf(want, sizeof(want), "%u", (unsigned) ntohs((uint16_t) v));
                assert_int_equal(out.n, strlen(want));
                assert_string_equal(scratch, want);

                snprintf(in, sizeof(in), "%llu", (unsigned long long) v);
                assert_int_equal(decode_value(&hex, sv_from(in), scratch, &out), 0);
                snprintf(want, sizeof(want), "0x%llx", (unsigned long long) v);
                assert_int_equal(out.n, strlen(want));
                assert_string_equal(scratch, want);

                /* The kernel's MAJOR() and MINOR(). */
                snprintf(in, sizeof(in), "%u", v32);
                assert_int_equal(decode_value(&devt, sv_from(in), scratch, &out), 0);
                snprintf(want, sizeof(want), "%u:%u", v32 >> 20, v32 & ((1u << 20) - 1));
                assert_int_equal(out.n, strlen(want));
                assert_string_equal(scratch, want);

                char buf[FMT_INT_MAX];
                int64_t sv = (int64_t) v;
                snprintf(want, sizeof(want), "%lld", (long long) sv);
                assert_int_equal(fmt_i64(buf, sv), strlen(want));
                assert_memory_equal(buf, want, strlen(want));
                snprintf(want, sizeof(want), "%llu", (unsigned long long) v);
                assert_int_equal(fmt_u64(buf, v), strlen(want));
                assert_memory_equal(buf, want, strlen(want));
        }
        char buf[FMT_INT_MAX];
        assert_int_equal(fmt_i64(buf, INT64_MIN), 20);
        assert_memory_equal(buf, "-9223372036854775808", 20);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ntohs),     cmocka_unit_test(test_ntohl),  cmocka_unit_test(test_ipv4),
                cmocka_unit_test(test_ipv6),      cmocka_unit_test(test_ip),     cmocka_unit_test(test_devt),
                cmocka_unit_test(test_hex),       cmocka_unit_test(test_errno),
                cmocka_unit_test(test_string),    cmocka_unit_test(test_map),    cmocka_unit_test(test_no_decoder),
                cmocka_unit_test(test_errno_name), cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_formatting_matches_libc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
