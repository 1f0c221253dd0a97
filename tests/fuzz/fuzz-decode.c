/* Fuzz target: one raw value through decode_value() with every decoder
 * kind, no decoder, and a kind out of range.
 * Input: when it holds a '\n', the first line is the map of the map
 * decoder, space-separated FROM=TO entries ("~" alone: an entry whose from
 * is NULL), and the rest is the value; otherwise the whole input is the
 * value and the map is the shipped config's {2: AF_INET, 10: AF_INET6} and
 * a few more. Checks the header's contract: *out lies in scratch, in the
 * value, in a map string or is a constant C string; a failure hands back
 * the raw value; a success reads as what the decoder claims to produce. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "decode.h"
#include "fuzz.h"

#define MAX_MAP 64

static bool all_digits(StrView v) {
        if (v.n == 0)
                return false;
        for (size_t i = 0; i < v.n; i++)
                if (v.p[i] < '0' || v.p[i] > '9')
                        return false;
        return true;
}

static bool to_cstr(StrView v, char *buf, size_t size) {
        if (v.n >= size || memchr(v.p, 0, v.n))
                return false;
        memcpy(buf, v.p, v.n);
        buf[v.n] = 0;
        return true;
}

static void check_one(const Decoder *d, StrView in, char *scratch) {
        StrView out = { NULL, 0 };
        int r = decode_value(d, in, scratch, &out);

        fuzz_check(r == 0 || r == -EINVAL);
        (void) fuzz_touch(out);
        if (r < 0) {
                fuzz_check(out.p == in.p && out.n == in.n);
                return;
        }

        bool in_scratch = out.n > 0 && out.p >= scratch && out.p < scratch + DECODE_SCRATCH;
        bool in_map = false;
        if (d && d->kind == DECODER_MAP)
                for (size_t i = 0; i < d->n_map; i++)
                        if (out.p == d->map[i].to && out.n == strlen(d->map[i].to))
                                in_map = true;
        if (in_scratch)
                fuzz_check(out.p + out.n < scratch + DECODE_SCRATCH && out.p[out.n] == 0);
        else if (!in_map && !fuzz_sv_inside(out, in.p, in.n))
                /* A constant ("0", an errno name): a C string of that length. */
                fuzz_check(out.p && strlen(out.p) == out.n);

        char tmp[DECODE_SCRATCH + 8];
        unsigned char addr[16];
        switch (d ? d->kind : DECODER_NONE) {
        case DECODER_NONE:
                fuzz_check(out.p == in.p && out.n == in.n);
                break;
        case DECODER_NTOHS:
        case DECODER_NTOHL: {
                fuzz_check(all_digits(out) && out.n <= (d->kind == DECODER_NTOHS ? 5u : 10u));
                fuzz_check(to_cstr(out, tmp, sizeof(tmp)));
                unsigned long v = strtoul(tmp, NULL, 10);
                fuzz_check(v <= (d->kind == DECODER_NTOHS ? 0xffffUL : 0xffffffffUL));
                break;
        }
        case DECODER_IPV4:
                fuzz_check(to_cstr(out, tmp, sizeof(tmp)) && inet_pton(AF_INET, tmp, addr) == 1);
                break;
        case DECODER_IPV6:
                fuzz_check(to_cstr(out, tmp, sizeof(tmp)) && inet_pton(AF_INET6, tmp, addr) == 1);
                break;
        case DECODER_IP: {
                /* IPv4-mapped addresses come out as IPv4. */
                struct in6_addr a6;
                fuzz_check(to_cstr(out, tmp, sizeof(tmp)));
                fuzz_check(inet_pton(AF_INET, tmp, addr) == 1 ||
                           (inet_pton(AF_INET6, tmp, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)));
                break;
        }
        case DECODER_DEVT: {
                /* MAJOR:MINOR, 12 and 20 bits. */
                fuzz_check(to_cstr(out, tmp, sizeof(tmp)));
                char *colon = strchr(tmp, ':');
                fuzz_check(colon != NULL);
                *colon = 0;
                StrView ma = sv_from(tmp), mi = sv_from(colon + 1);
                fuzz_check(all_digits(ma) && all_digits(mi) && ma.n <= 4 && mi.n <= 7);
                fuzz_check(strtoul(tmp, NULL, 10) <= 0xfffUL && strtoul(colon + 1, NULL, 10) <= 0xfffffUL);
                break;
        }
        case DECODER_HEX:
                fuzz_check(out.n > 2 && out.n <= 18 && memcmp(out.p, "0x", 2) == 0);
                break;
        case DECODER_STRING:
                fuzz_check(out.p == in.p || (out.p == in.p + 1 && out.n + 2 == in.n));
                break;
        case DECODER_ERRNO:
        case DECODER_MAP:
                break;
        default:
                fuzz_check(!"an unknown decoder kind succeeded");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const MapEntry default_map[] = {
                { (char *) "2", (char *) "AF_INET" },   { (char *) "10", (char *) "AF_INET6" },
                { (char *) "0x1", (char *) "one" },     { (char *) "-1", (char *) "minus_one" },
                { (char *) "", (char *) "empty" },      { NULL, (char *) "null_from" },
                { (char *) "a b", (char *) "spaced" },
        };
        MapEntry map[MAX_MAP];
        size_t n_map = 0;

        if (!data) /* an empty input may come as NULL: not for memchr() */
                data = (const uint8_t *) "";
        char *spec = NULL;
        const uint8_t *nl = memchr(data, '\n', size);
        StrView in = { (const char *) data, size };

        if (nl) {
                size_t spec_len = (size_t) (nl - data);
                spec = xstrndup((const char *) data, spec_len);
                /* Split in place: the map's strings point into spec. */
                for (char *s = spec, *save = NULL, *tok; n_map < MAX_MAP && (tok = strtok_r(s, " ", &save)); s = NULL) {
                        char *eq = strchr(tok, '=');
                        if (eq)
                                *eq = 0;
                        map[n_map].from = strcmp(tok, "~") == 0 ? NULL : tok;
                        map[n_map].to = eq ? eq + 1 : tok;
                        n_map++;
                }
                in = (StrView){ (const char *) nl + 1, size - spec_len - 1 };
        } else {
                memcpy(map, default_map, sizeof(default_map));
                n_map = ELEMENTSOF(default_map);
        }
        /* Exactly DECODE_SCRATCH bytes on the heap: ASan sees any overflow. */
        char *scratch = xmalloc(DECODE_SCRATCH);

        check_one(NULL, in, scratch);
        for (unsigned k = 0; k <= _DECODER_KIND_MAX; k++) {
                Decoder d = {
                        .field = (char *) "f",
                        .kind = (DecoderKind) k,
                        .map = k == DECODER_MAP ? map : NULL,
                        .n_map = k == DECODER_MAP ? n_map : 0,
                };
                check_one(&d, in, scratch);
        }

        /* errno_name() with any int the input can spell in its first bytes. */
        int e = 0;
        memcpy(&e, data, size < sizeof(e) ? size : sizeof(e));
        const char *name = errno_name(e);
        fuzz_check(!name || (e > 0 && name[0] == 'E'));
        if (e != INT_MIN)
                (void) errno_name(-e);

        free(scratch);
        free(spec);
        return 0;
}
