/* Kernel aggregation: a metric computed by a hist trigger in our instance
 * instead of from streamed events. Pure code: from a metric's config and
 * what the kernel can do, the plan (the synthetic event and trigger lines
 * to write, or why the metric stays in user space), and the parser of the
 * kernel's `hist` file that turns its entries back into keys and counts.
 *
 * What maps onto the kernel exactly (see README, "Kernel aggregation"):
 * - counters: hitcount per key; a value sum: vals=FIELD (an unsigned field
 *   without a decoder: a decoded or negative value would not sum alike);
 * - histograms whose bounds are 2^a, 2^(a+1), ... raw units: FIELD.log2,
 *   whose key k holds the values v with 2^(k-1) < v <= 2^k (0 and 1 in
 *   k = 0), exactly Prometheus' le; or, where the kernel has .buckets, whose
 *   bounds are mW-1, (m+1)W-1, ...: FIELD.buckets=W, whose group [jW,
 *   (j+1)W-1] of integers is exactly within le=(j+1)W-1; for latencies
 *   the raw unit is the microsecond (common_timestamp.usecs) or, failing
 *   that, the nanosecond;
 * - latencies (latency_from): a synthetic event fed by onmatch() from the
 *   entry event, keyed by the match fields (common_pid for the thread);
 * - labels: numeric fields (decoded at scrape time by the same decoders),
 *   pid (common_pid), and comm where the probe fetches $comm (a string of
 *   at most 15 bytes, which the hist file prints in a fixed 50 columns, so
 *   a process cannot forge an entry with it).
 * Anything else (tracepoints, whose text comes from their print fmt; other
 * strings; tgid; cpu; other bucket layouts) is counted in user space. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "kfeatures.h"
#include "util.h"

#define KHIST_MAX_KEYS 16
/* tracing_map's bounds: 2^7 to 2^17 entries. */
#define KHIST_SIZE_MIN 128u
#define KHIST_SIZE_MAX 131072u

typedef enum KhKeyKind {
        KH_KEY_NUM,  /* "%10llu" */
        KH_KEY_STR,  /* "%-50s": comm */
        KH_KEY_LOG2, /* "~ 2^%-2llu": the histogram's bucket */
        KH_KEY_BUCKETS, /* "~ %llu-%llu" (.buckets=W): the histogram's bucket, by its lower end */
} KhKeyKind;

typedef struct KhKey {
        char *name;      /* as the hist file names it */
        KhKeyKind kind;
        int label;       /* the metric's label it gives, or -1 (the bucket) */
        char fmt;        /* how a trace line prints the field: 'u', 's' (signed) or 'x' (0x hex); 0: a string */
        unsigned bits;   /* its width */
} KhKey;

/* One line written to a trigger file of our instance, removed again as
 * "!" + line. event is "GROUP/EVENT" under the instance's events/. */
typedef struct KhTrigger {
        char *event;
        char *line;
} KhTrigger;

typedef struct KhPlan {
        bool kernel;  /* computed in the kernel */
        char *why;    /* why kernel or user, for /probes and --config.check */
        char *synth;  /* the line for synthetic_events, or NULL */
        char *synth_name;
        /* In the order they are written; removed in the reverse order. */
        KhTrigger triggers[3];
        size_t n_triggers;
        size_t hist_trigger; /* the one whose hist file is read */
        char *name;          /* its name= */
        KhKey keys[KHIST_MAX_KEYS];
        size_t n_keys;
        char *sum;           /* the val after hitcount (the summed field), or NULL */
        int log2_base;       /* log2 histograms: the first bound is 2^log2_base raw units */
        uint64_t width;      /* linear histograms (.buckets=width): bounds (first_group + i) * width - 1; else 0 */
        uint64_t first_group;
        size_t n_buckets;    /* histograms: the bounds (the +Inf bucket is n_buckets) */
        double unit;         /* one raw unit in the metric's unit */
        int entry_probe;     /* latency: the index of the entry probe, else -1 */
} KhPlan;

/* Plans metric mi of probe pi of c for kernel k. group is our probe group
 * (also the prefix of our trigger and synthetic event names); clock the
 * instance's trace clock (NULL: the kernel's default). Fills *ret (always
 * with a why); ret->kernel says whether the metric is computed in the
 * kernel: aggregate auto when it can be, kernel when it can be (else the
 * caller makes the probe unavailable with why). */
void khist_plan(const Config *c, size_t pi, size_t mi, const KernelFeatures *k, const char *group, const char *clock,
                KhPlan *ret);
void khist_plan_done(KhPlan *p);
/* Whether two plans write the same lines (a reload keeps the one running). */
bool khist_plan_same(const KhPlan *a, const KhPlan *b);

/* The name of our synthetic events and named triggers for metric: group
 * ('-' as '_') "_" metric, cut with a hash to 63 characters. New string. */
char *khist_object_name(const char *group, const char *metric);
/* Whether a synthetic event name is one khist_object_name() gives group. */
bool khist_name_is_ours(const char *group, const char *name);

/* One entry of a hist file. Views point into the text. */
typedef struct KhEntry {
        uint64_t num[KHIST_MAX_KEYS]; /* KH_KEY_NUM, KH_KEY_LOG2 */
        StrView str[KHIST_MAX_KEYS];  /* KH_KEY_STR, trailing spaces dropped */
        uint64_t hitcount;
        uint64_t sum;
} KhEntry;

typedef struct KhTotals {
        uint64_t hits, entries, dropped;
        uint64_t bad; /* entries that did not parse */
} KhTotals;

/* Reads the section of plan's named trigger in the text of a hist file,
 * calling fn for each entry. Returns 0, -ENOENT when the text has no such
 * section, or -EBADMSG when it has no Totals block (cut short). */
int khist_parse(const KhPlan *plan, const char *text, size_t len, void (*fn)(void *userdata, const KhEntry *e),
                void *userdata, KhTotals *ret);

/* The text a trace line shows for a number of key k: "6400", "-111",
 * "0x1f". Returns its length (buf of 24 bytes at least). */
size_t khist_key_text(const KhKey *k, uint64_t v, char *buf);
/* The bucket of a bucket key's value (a log2 exponent, or a linear
 * group's lower end): 0..n_buckets (the last is +Inf). */
size_t khist_bucket(const KhPlan *p, uint64_t key);
