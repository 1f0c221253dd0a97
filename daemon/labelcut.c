#include "labelcut.h"

StrView label_cut(StrView v, size_t max, Buf *out, bool *cut) {
        *cut = false;
        if (v.n <= max && utf8_is_valid(v))
                return v;

        const unsigned char *p = (const unsigned char *) v.p;
        size_t keep = 0; /* out's length at the last character boundary that leaves room for the marker */
        buf_clear(out);
        buf_reserve(out, (v.n < max ? v.n : max) + LABEL_CUT_MARKER_LEN);
        for (size_t i = 0; i < v.n;) {
                bool valid;
                size_t k = utf8_seq(p + i, v.n - i, &valid);
                if (valid)
                        buf_append(out, p + i, k);
                else
                        buf_append(out, "\xef\xbf\xbd", 3);
                i += k;
                if (out->len > max) {
                        /* Stops here: a value of megabytes costs max bytes of work. */
                        out->len = keep;
                        buf_append(out, LABEL_CUT_MARKER, LABEL_CUT_MARKER_LEN);
                        *cut = true;
                        break;
                }
                if (out->len <= max - LABEL_CUT_MARKER_LEN)
                        keep = out->len;
        }
        return (StrView){ out->data, out->len };
}

StrView label_cut_key(StrView v, size_t max, bool *longer) {
        *longer = v.n > max;
        return *longer ? (StrView){ v.p, max } : v;
}
