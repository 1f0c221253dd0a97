/* The probe registry: what the kernel holds of ours, and in which state.
 * It owns our instance and, per probe of the running config, its kernel
 * side (state, the definition written, the kernel's error), and it is the
 * only code that registers, enables, disables and removes probes. A
 * registry entry points at a core ProbeConfig; the core never points back.
 * Edge code: every function here may write to tracefs, and logs. */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "pipeline.h"
#include "tfs.h"

typedef enum ProbeState {
        PROBE_STATE_PENDING,     /* not yet handed to the kernel */
        PROBE_STATE_REGISTERED,  /* defined (kprobe kinds), filtered, enabled in our instance */
        PROBE_STATE_FAILED,      /* the kernel refused it, or its target is not there */
        PROBE_STATE_UNAVAILABLE, /* needs a feature this kernel lacks; never written */
} ProbeState;

typedef struct RegProbe {
        const ProbeConfig *config; /* the running config's; re-pointed by a reload that keeps it */
        ProbeState state;
        bool defined;     /* its definition is in kprobe_events/uprobe_events */
        bool enabled;     /* "1" was written to its enable file in our instance */
        char *definition; /* the line written to tracefs; NULL for tracepoints */
        char *error;      /* why it is not registered (the kernel's error_log words when there are some) */
} RegProbe;

/* A probe of ours that could not be removed when it left the config: its
 * name and type are kept so teardown tries again. */
typedef struct RegOrphan {
        char *name;
        ProbeType type;
} RegOrphan;

/* The kernel side of one kernel-aggregated metric (khist.h): its
 * synthetic event and triggers, as written, for removing them again. */
typedef struct RegKhist {
        char *metric;
        char *synth; /* NULL: none */
        bool synth_made;
        KhTrigger triggers[3];
        size_t n_triggers, written; /* triggers[0..written) are in the kernel */
        size_t hist_trigger;        /* the one whose hist file is read */
        int hist_fd;                /* that file, kept open (see registry_khist_read()); -1 */
        bool keep; /* scratch of registry_khist_prune() */
} RegKhist;

typedef struct Registry {
        Tracefs *tfs; /* borrowed */
        Pipeline *pipeline; /* borrowed: which metrics the kernel counts, which probes stream */
        /* Reads what our instance's buffer holds: called before a trigger
         * that sets the instance's clock is written (the kernel empties the
         * buffer then). NULL: nothing streams yet. */
        void (*flush)(void *userdata);
        void *flush_userdata;
        RegKhist *khist; /* in the order written */
        size_t n_khist;
        bool instance_created;
        bool kallsyms_warned;
        RegProbe *probes; /* parallel to the running pipeline's probes */
        size_t n_probes;
        RegOrphan *orphans;
        size_t n_orphans;
} Registry;

const char *probe_state_to_string(ProbeState s);

/* A registry for the probes of config (all pending). */
Registry *registry_new(Tracefs *tfs, const Config *config);
Registry *registry_free(Registry *r); /* frees memory only; see registry_teardown(); accepts NULL */

/* Creates our instance and sets its options. Returns 0 or -errno (logged). */
int registry_create_instance(Registry *r);

/* Registers probe i: judges it (features, symbols), writes its definition
 * and its filter; registry_khist_install() enables it in our instance when
 * its events must stream. On failure everything of it
 * that was written is removed again and the entry says why (logged with
 * config_path:line). Returns true when it is registered. */
bool registry_register(Registry *r, size_t i, const char *config_path);
/* Kernel aggregation. prune: removes what of ours the pipeline no longer
 * wants (a set is kept when a metric plans the same lines and every probe
 * it is on stays registered), before probes are removed (the kernel keeps
 * a probe with triggers). install: writes what the pipeline's kernel
 * metrics need and are not there; when the kernel refuses, an auto metric
 * is counted in user space instead (its why says the kernel's words) and
 * a metric with aggregate: kernel fails its probe. Then every registered
 * probe is enabled exactly when its events must reach user space
 * (pipeline_probe_streams()). Returns how many probes failed. */
void registry_khist_prune(Registry *r);
/* Reads the hist file of the set that plan's metric has in the kernel into
 * out (cleared first). The file stays open between scrapes and is read
 * again from its start: the kernel prints a hist file in one pass into a
 * buffer it doubles and starts over whenever the pass does not fit, a
 * buffer that an open file keeps, so a large file is printed once per
 * scrape instead of once per doubling. Returns 0, -ENOENT (no such set),
 * or -errno. */
int registry_khist_read(Registry *r, const KhPlan *plan, Buf *out);
size_t registry_khist_install(Registry *r, const char *config_path);

/* Says once when kprobe targets went unchecked, and frees the symbol
 * table: after each round of registrations. */
void registry_symbols_done(Registry *r);
/* Writes "0" to the enable file of entry e if it is enabled. */
int registry_disable(Registry *r, RegProbe *e);
/* Disables e and removes its definition. When removal fails the probe is
 * kept as an orphan, for teardown to try again. Returns 0 or -errno. */
int registry_unregister(Registry *r, RegProbe *e);

/* Everything of ours leaves the kernel, in the order the kernel allows:
 * disable every event, remove the instance (the caller has closed its
 * trace_pipe), remove every definition and orphan. What fails is logged
 * by name and kept, so a second call tries again. Returns 0 when nothing
 * of ours is left, else the first -errno. */
int registry_teardown(Registry *r);

/* Per-probe status for pipeline_render_probes(): n_probes entries,
 * pointing into the registry (valid until it changes). */
void registry_status(const Registry *r, ProbeStatus *out);
size_t registry_count(const Registry *r, ProbeState state);

/* Checks what only the running kernel can tell (read-only): the fields that
 * tracepoint probes name (labels, values, conditions, match, decode keys)
 * against their format files, and, for the text reader, that no probe has
 * a field whose bytes a traced process controls (a newline in it would
 * forge records in trace_pipe). What a format lacks goes to each probe's
 * kernel_lacks (registry_register() then makes it unavailable: this kernel
 * lacks something, as with a missing function); the text reader's refusals
 * are appended to errs. A tracepoint that does not exist is left to
 * registration. Returns
 * how many tracepoint probes could not be checked (tracefs_root NULL or
 * unreadable). */
size_t registry_check_config(Config *c, const char *tracefs_root, bool text_reader, ConfigErrors *errs);
