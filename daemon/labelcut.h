/* A label value within its bound (max_label_bytes): what a traced process
 * writes into a string can be long, and every series keeps its values, so
 * a value is cut before it becomes a series. Pure code. */
#pragma once

#include <stdbool.h>

#include "util.h"

/* What a cut value ends with: "…" (U+2026 HORIZONTAL ELLIPSIS), 3 bytes of
 * UTF-8; nothing to escape in the Prometheus text format, OpenMetrics or
 * JSON. */
#define LABEL_CUT_MARKER "\xe2\x80\xa6"
#define LABEL_CUT_MARKER_LEN 3u

/* v as a label shows it: valid UTF-8 (each ill-formed sequence replaced by
 * U+FFFD) of at most max bytes (max > LABEL_CUT_MARKER_LEN). One that
 * would be longer is cut: its longest prefix of whole characters within
 * max - LABEL_CUT_MARKER_LEN bytes, then LABEL_CUT_MARKER. Returns v
 * itself when it is valid and fits (nothing copied), else a view into out
 * (cleared first; the caller's). *cut tells whether it was cut.
 *
 * When v is longer than max, the result depends on v's first max bytes
 * only (a value that long is always cut; no byte becomes fewer than one,
 * so what is kept, at most max - 3 bytes, comes from the first max - 3
 * bytes of v, judged with one byte of look-ahead): a cache may key such a
 * value by that prefix (label_cut_key()). */
StrView label_cut(StrView v, size_t max, Buf *out, bool *cut);

/* What of a value decides its cut form: v itself when it has at most max
 * bytes, else its first max bytes (and *longer is set). */
StrView label_cut_key(StrView v, size_t max, bool *longer);
