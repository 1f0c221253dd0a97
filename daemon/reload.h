/* SIGHUP: the edge that applies a reload plan (reload_plan.h) to the
 * kernel and to the running pipeline, step by step, reporting every
 * failure. Called by the loop (manager.c). */
#pragma once

#include "pipeline.h"
#include "registry.h"

typedef struct Reloader {
        const char *config_path;
        const char *tracefs_root;
        bool text_reader;    /* see registry_check_config() */
        Pipeline **pipeline; /* the running pipeline: replaced on success */
        Registry **registry; /* its registry: replaced on success */
        /* Reads everything trace_pipe holds now into *pipeline, which is
         * still the old one when it is called. */
        void (*drain)(void *userdata);
        /* Called once *pipeline and *registry are the new ones and its
         * probes are registered. */
        void (*switched)(void *userdata);
        void *userdata;
} Reloader;

typedef struct ReloadSummary {
        size_t kept, removed, added, failed;
} ReloadSummary;

/* Loads the config; if it is invalid, logs every error (file:line:column)
 * and changes nothing: -EINVAL. Else: probes that leave are disabled, what
 * trace_pipe holds is read into the old pipeline (so nothing buffered is
 * lost or counted by a probe it is not of), the new pipeline adopts the
 * ring, the counters and every continued probe with the metrics that keep
 * their counters, leaving probes are removed from the kernel and new ones
 * registered. A probe the kernel refuses is reported failed (strict applies
 * to startup only). Returns 0 and fills *ret (may be NULL). */
int reload_apply(const Reloader *ctx, ReloadSummary *ret);

/* Logs the errors of a config, one journal entry per line. */
void log_config_errors(const ConfigErrors *errs, const char *path);
