/* A reload as a plan: from what runs (the old config, and which of its
 * probes the kernel holds live) and the new config, which probes keep their
 * registration, which are removed from the kernel and which are registered,
 * and which metrics keep their counters. Pure: the edge (reload.c) applies
 * it. Computed afresh for every reload from the running state, so nothing
 * of an earlier reload (no "kept" flag) can leak into the next one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"

typedef struct ReloadPlan {
        size_t n_old, n_new;
        /* Per new probe: the old probe whose registration it continues, or
         * -1 when it is registered anew. */
        ssize_t *probe_from;
        /* Per old probe: true when it leaves the kernel (no new probe
         * continues it: removed, changed, or not live). */
        bool *remove;
        /* Per new probe, per metric: the metric of probe_from whose
         * counters it keeps, or -1 when it starts from zero. */
        ssize_t **metric_from;
        size_t kept, removed, added;
        size_t metrics_kept;
        bool recent_events_changed; /* the ring is resized; its sequence numbers go on */
        bool listen_changed;        /* applies at the next start only */
} ReloadPlan;

/* Fills *plan. old_live[i] tells whether old->probes[i] is registered and
 * enabled in the kernel; only such a probe can be continued. A probe is
 * continued when its kernel side is the same: name, type, target, fetch
 * args and filter (what was written to tracefs). A metric keeps its
 * counters when its probe is continued and its name, help, labels and the
 * decoders of its labels are unchanged. */
void reload_plan_compute(const Config *old, const bool *old_live, const Config *next, ReloadPlan *plan);
void reload_plan_done(ReloadPlan *plan);

/* Same kernel side: nothing in tracefs needs writing to turn a into b. */
bool probe_kernel_side_same(const ProbeConfig *a, const ProbeConfig *b);
