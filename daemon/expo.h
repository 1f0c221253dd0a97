/* Exposition of metrics: the Prometheus text format 0.0.4 (the default)
 * and OpenMetrics 1.0 (when the scraper's Accept asks for it: counters'
 * families named without _total, UNIT lines, exemplars, "# EOF"). Pure
 * code. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define EXPO_OPENMETRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

typedef enum ExpoFormat {
        EXPO_TEXT,
        EXPO_OPENMETRICS,
} ExpoFormat;

/* Where and how a rendering goes. */
typedef struct Expo {
        Buf *out;
        ExpoFormat format;
        /* Exemplar timestamps: an event's trace-clock ns plus this are Unix
         * ns. Without has_epoch (a clock that is not CLOCK_MONOTONIC, or no
         * offset known) exemplars carry no timestamp. */
        bool has_epoch;
        int64_t epoch_offset_ns;
} Expo;

/* The latest event that hit a sample: its /events seq (0: none yet), the
 * value it added or observed, its trace-clock time. */
typedef struct Exemplar {
        uint64_t seq;
        uint64_t ts_ns;
        double value;
} Exemplar;

/* Which format an Accept header asks for: OpenMetrics when it lists
 * application/openmetrics-text (with a q above 0) before or above
 * text/plain; text otherwise, also for a missing or unparsable header. */
ExpoFormat expo_format_from_accept(const char *accept);
const char *expo_content_type(ExpoFormat f);

/* Label value escaping: backslash, double quote and newline get a backslash;
 * invalid UTF-8 bytes become U+FFFD so the output is always valid UTF-8. */
void expo_put_label_value(Buf *out, StrView v);
/* HELP text escaping: backslash and newline (and, in OpenMetrics, the
 * double quote). */
void expo_put_help(Expo *e, StrView v);
/* The family's metadata: "# HELP", "# TYPE" (and in OpenMetrics "# UNIT"
 * when the name ends in a base unit: _seconds, _bytes, ...); no HELP line
 * when help is NULL. name is the sample name: for an OpenMetrics counter
 * the family is named without its _total. */
void expo_put_header(Expo *e, const char *name, const char *type, const char *help);
/* "name{l1="v1",l2="v2"} value\n"; no braces when n == 0. */
void expo_put_sample_u64(Expo *e, const char *name, const char *const *labels, const StrView *values, size_t n,
                         uint64_t value);
void expo_put_sample_double(Expo *e, const char *name, const char *const *labels, const StrView *values, size_t n,
                            double value);
/* The same sample with one more label (a histogram's le) after the others,
 * and an exemplar (OpenMetrics only; ex NULL or seq 0: none). is_double
 * says which of the two values is the sample's. */
void expo_put_sample_full(Expo *e, const char *name, const char *const *labels, const StrView *values, size_t n,
                          const char *extra_label, const char *extra_value, bool is_double, uint64_t u, double d,
                          const Exemplar *ex);
/* A counter of one unlabeled sample: its header, then "name value\n". */
void expo_put_counter(Expo *e, const char *name, const char *help, uint64_t value);
/* Ends a rendering: "# EOF\n" in OpenMetrics, nothing in text. */
void expo_end(Expo *e);
/* Shortest text that reads back as v; NaN, +Inf, -Inf spelled out. */
void expo_put_double(Buf *out, double v);
