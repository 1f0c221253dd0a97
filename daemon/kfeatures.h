/* What the running kernel's tracing can do, and what a probe needs of it.
 *
 * Kernels differ (shared/TRACEFS.md): some are built without kprobe events,
 * $arg<N> came in 4.20, +u and ustring in 5.3, hist triggers and
 * options/fields are config- and version-dependent. The kernel says what it
 * accepts in tracefs's README and by which files exist; tfs.c reads
 * those, this file (pure) turns them into features and checks a probe
 * against them, so that a probe needing something the kernel lacks is
 * refused before it is written, with the feature and the kernel named
 * instead of a bare EINVAL. */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "expo.h"
#include "util.h"

typedef enum Feature {
        FEATURE_KPROBE_EVENTS,   /* file kprobe_events */
        FEATURE_UPROBE_EVENTS,   /* file uprobe_events */
        FEATURE_ARG_N,           /* README: $retval, $comm, $arg<N> (the fetcharg list) */
        FEATURE_USER_DEREF,      /* README: +|-[u]<offset>(<fetcharg>) */
        FEATURE_USTRING,         /* README: ustring */
        FEATURE_ARRAY,           /* README: <type>\[<array-size>\] */
        FEATURE_COMM,            /* README: $comm */
        FEATURE_HIST_TRIGGERS,   /* README: hist trigger */
        FEATURE_RETPROBE_ARG_N,  /* README: kernel return probes support: $retval, $arg<N> */
        FEATURE_ERROR_LOG,       /* file error_log */
        FEATURE_OPTION_FIELDS,   /* file options/fields */
        FEATURE_OPTION_RECORD_TGID,
        FEATURE_OPTION_IRQ_INFO,
        FEATURE_OPTION_CONTEXT_INFO,
        FEATURE_HIST_BUCKETS,    /* README: .buckets=size (hist keys in linear groups) */
        _FEATURE_MAX,
} Feature;

typedef enum FeatureState {
        FEATURE_UNKNOWN, /* could not be read (no README): never a reason to refuse */
        FEATURE_NO,
        FEATURE_YES,
} FeatureState;

typedef struct KernelFeatures {
        char release[65]; /* uname -r */
        char machine[65]; /* uname -m */
        FeatureState state[_FEATURE_MAX];
} KernelFeatures;

/* The name used in /probes JSON and --config.check, e.g. "arg_n". */
const char *feature_name(Feature f);
/* For people, e.g. "$arg<N> fetch args (Linux 4.20+)". */
const char *feature_description(Feature f);

/* Sets the features README text tells (readme NULL: all unknown). Pure. */
void features_from_readme(KernelFeatures *k, const char *readme);

/* The first feature probe p needs that k says the kernel lacks, or
 * _FEATURE_MAX. *ret_what (may be NULL) points at what needs it: the fetch
 * arg as written, or NULL when the probe's type needs it. Pure. */
Feature features_probe_missing(const KernelFeatures *k, const ProbeConfig *p, const char **ret_what);

/* The refusal text for the above, naming feature, kernel and what needs it:
 * "kernel built without kprobe events (CONFIG_KPROBE_EVENTS; kernel
 * 6.18.4, x86_64: no kprobe_events in tracefs)". Returns a new string. */
char *features_refusal(const KernelFeatures *k, Feature f, const char *what);

/* {"release":"6.1.0-41-cloud-amd64","machine":"x86_64","features":{"kprobe_events":true,...}}
 * (unknown: null). */
void features_render_json(const KernelFeatures *k, Buf *out);
/* kprobe_exporter_kernel_info{release,machine} 1 and
 * kprobe_exporter_kernel_feature{feature} 1|0 (unknown ones are left out),
 * so that a fleet's kernels can be asked which lack what. */
void features_render_metrics(const KernelFeatures *k, Expo *out);
/* One line per feature, "# kernel feature arg_n: yes ($arg<N> ...)". */
void features_render_text(const KernelFeatures *k, Buf *out);
