/* The loop of the running daemon: the sd-event loop with trace_pipe,
 * signals, the stats timer, the watchdog and HTTP; it owns the pipeline
 * (core) and the registry (our instance and probes, registry.c), and hands
 * SIGHUP to reload.c. */
#pragma once

#include "config.h"
#include "http.h"
#include "pipeline.h"
#include "registry.h"
#include "tfs.h"

typedef struct ManagerOptions {
        const char *config_path;    /* re-read on SIGHUP */
        const char *listen_address; /* used when listen_fd < 0 */
        int listen_fd;              /* from socket activation, or -1 */
        const char *tracefs_root;
        const char *name;           /* our group and instance */
        bool text_reader;           /* trace_pipe instead of per_cpu/cpuN/trace_pipe_raw */
        const char *web_config_path; /* --web.config.file, re-read on SIGHUP; NULL: none */
        const char *journal_socket;  /* NULL: journald's */
        HttpSecurity security;      /* what it asks for, loaded; the manager takes it */
} ManagerOptions;

typedef struct Manager Manager;

/* Takes ownership of config (also on failure). */
int manager_new(Config *config, const ManagerOptions *opts, Manager **ret);
/* Binds HTTP, cleans leftovers, creates the instance, registers and enables
 * probes, opens trace_pipe. On failure everything it did is undone. */
int manager_start(Manager *m);
/* Runs until SIGTERM/SIGINT; returns the exit code for main(). SIGHUP
 * reloads the config: see manager.c, manager_reload(). */
int manager_run(Manager *m);
/* Disables and removes everything manager_start() created. Idempotent:
 * what could not be removed is logged, kept, and tried again by the next
 * call. Returns 0 when nothing of ours is left, else the first -errno. */
int manager_teardown(Manager *m);
Manager *manager_free(Manager *m); /* tears down too; accepts NULL */
