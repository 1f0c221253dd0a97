#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "rawrec.h"
#include "symbols.h"

const char *probe_state_to_string(ProbeState s) {
        switch (s) {
        case PROBE_STATE_PENDING:
                return "pending";
        case PROBE_STATE_REGISTERED:
                return "registered";
        case PROBE_STATE_FAILED:
                return "failed";
        case PROBE_STATE_UNAVAILABLE:
                return "unavailable";
        }
        return "unknown";
}

static bool is_kprobe_kind(const ProbeConfig *c) {
        return c->type != PROBE_TRACEPOINT;
}

Registry *registry_new(Tracefs *tfs, const Config *config) {
        Registry *r = xcalloc(1, sizeof(Registry));
        r->tfs = tfs;
        r->n_probes = config->n_probes;
        r->probes = xcalloc(r->n_probes ? r->n_probes : 1, sizeof(RegProbe));
        for (size_t i = 0; i < r->n_probes; i++)
                r->probes[i].config = &config->probes[i];
        return r;
}

static void reg_khist_done(RegKhist *k);

static void reg_probe_done(RegProbe *e) {
        free(e->definition);
        free(e->error);
        *e = (RegProbe){ 0 };
}

Registry *registry_free(Registry *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_probes; i++)
                reg_probe_done(&r->probes[i]);
        free(r->probes);
        for (size_t i = 0; i < r->n_orphans; i++)
                free(r->orphans[i].name);
        free(r->orphans);
        for (size_t k = 0; k < r->n_khist; k++)
                reg_khist_done(&r->khist[k]);
        free(r->khist);
        free(r);
        return NULL;
}

int registry_create_instance(Registry *r) {
        int e = tfs_instance_create(r->tfs);
        if (e < 0)
                return log_error_errno(e, "Cannot create instance %s: %m", r->tfs->instance_dir);
        r->instance_created = true;
        e = tfs_instance_setup(r->tfs);
        if (e < 0)
                return log_error_errno(e, "Cannot set options of instance %s: %m", r->tfs->instance_dir);
        return 0;
}

int registry_disable(Registry *r, RegProbe *e) {
        if (!e->enabled)
                return 0;
        int k = tfs_event_enable(r->tfs, e->config, false);
        if (k < 0)
                return log_error_errno(k, "Disabling probe '%s' in %s failed: %m", e->config->name,
                                       r->tfs->instance_dir);
        e->enabled = false;
        return 0;
}

static int remove_definition(Registry *r, const char *name, ProbeType type) {
        ProbeConfig c = { .name = (char *) name, .type = type };
        int k = tfs_probe_unregister(r->tfs, &c);
        if (k < 0)
                log_error_errno(k, "Removing probe %s/%s failed: %m", r->tfs->name, name);
        return k;
}

int registry_unregister(Registry *r, RegProbe *e) {
        int ret = registry_disable(r, e);
        if (e->defined) {
                int k = remove_definition(r, e->config->name, e->config->type);
                if (k < 0) {
                        /* Its config may go away with a reload: keep what
                         * removing it again takes. */
                        r->orphans = xrealloc(r->orphans, (r->n_orphans + 1) * sizeof(RegOrphan));
                        r->orphans[r->n_orphans++] = (RegOrphan){ xstrdup(e->config->name), e->config->type };
                        if (ret == 0)
                                ret = k;
                }
                e->defined = false;
        }
        if (e->state == PROBE_STATE_REGISTERED)
                e->state = PROBE_STATE_PENDING;
        return ret;
}

static void probe_fail(Registry *r, RegProbe *e, int err, char *kernel_text, const char *config_path) {
        e->state = err == -EOPNOTSUPP ? PROBE_STATE_UNAVAILABLE : PROBE_STATE_FAILED;
        free(e->error);
        e->error = kernel_text ? kernel_text : xstrdup(strerror(-err));
        log_error("%s:%u: probe '%s' (%s %s) %s: %s", e->config->file ? e->config->file : config_path,
                  e->config->line, e->config->name,
                  probe_type_to_string(e->config->type), e->config->target,
                  e->state == PROBE_STATE_UNAVAILABLE ? "is unavailable" : "failed", e->error);
        /* Defined but its filter or enable refused: it must not linger. */
        ProbeState state = e->state;
        (void) registry_unregister(r, e);
        e->state = state;
}

/* A metric with aggregate: kernel that this kernel cannot aggregate: its
 * probe is unavailable, like a probe needing a feature the kernel lacks. */
static char *kernel_metric_refused(const Registry *r, size_t i) {
        if (!r->pipeline || i >= r->pipeline->n_probes)
                return NULL;
        const Probe *pr = &r->pipeline->probes[i];
        for (size_t m = 0; m < pr->n_metrics; m++) {
                const MetricPlan *plan = &pr->metrics[m];
                if (plan->config->aggregate == AGGREGATE_KERNEL && !plan->kh.kernel)
                        return xstrdupf("metric '%s' has aggregate: kernel, which it cannot have here: %s",
                                        plan->config->name, plan->kh.why ? plan->kh.why : "?");
        }
        return NULL;
}

static bool probe_streams(const Registry *r, size_t i) {
        return !r->pipeline || i >= r->pipeline->n_probes || pipeline_probe_streams(r->pipeline, i);
}

bool registry_register(Registry *r, size_t i, const char *config_path) {
        RegProbe *e = &r->probes[i];
        const ProbeConfig *c = e->config;
        char *err = NULL;
        int k;

        free(e->definition);
        e->definition = NULL;
        free(e->error);
        e->error = NULL;
        if ((err = kernel_metric_refused(r, i)))
                return probe_fail(r, e, -EOPNOTSUPP, err, config_path), false;
        if (c->kernel_lacks)
                return probe_fail(r, e, -EOPNOTSUPP, xstrdup(c->kernel_lacks), config_path), false;
        if (is_kprobe_kind(c)) {
                Buf def = { 0 };
                char *why = NULL;
                if (tfs_probe_line(c, r->tfs->name, &def, &why) >= 0)
                        e->definition = buf_steal(&def);
                buf_free(&def);
                free(why); /* registering says it again */
        }
        k = tfs_probe_register_line(r->tfs, c, e->definition, &err);
        if (k < 0)
                return probe_fail(r, e, k, err, config_path), false;
        e->defined = is_kprobe_kind(c);

        if (c->filter) {
                k = tfs_event_set_filter(r->tfs, c, c->filter, &err);
                if (k < 0)
                        return probe_fail(r, e, k, err, config_path), false;
        }
        /* Enabled once its triggers are written (registry_khist_install()):
         * a trigger with a timestamp sets the instance's clock, and the
         * kernel empties the buffer for that. Trigger-only (every metric
         * counted in the kernel, events: false): never enabled, its
         * records never written. */
        e->state = PROBE_STATE_REGISTERED;
        log_info("Probe '%s' registered: %s", c->name, e->definition ? e->definition : c->target);
        return true;
}

/* ---- kernel aggregation ---- */

static void reg_khist_done(RegKhist *k) {
        if (k->hist_fd >= 0)
                close(k->hist_fd);
        free(k->metric);
        free(k->synth);
        for (size_t i = 0; i < k->n_triggers; i++) {
                free(k->triggers[i].event);
                free(k->triggers[i].line);
        }
        *k = (RegKhist){ .hist_fd = -1 };
}

/* Removes what of k is in the kernel, in the reverse order; what fails
 * stays, for the next try. Returns 0 or the first -errno. */
static int khist_remove(Registry *r, RegKhist *k) {
        /* An open file of the instance holds it (and its events). */
        if (k->hist_fd >= 0) {
                close(k->hist_fd);
                k->hist_fd = -1;
        }
        while (k->written > 0) {
                KhTrigger *t = &k->triggers[k->written - 1];
                int e = tfs_trigger_write(r->tfs, t->event, t->line, true, NULL);
                if (e < 0 && e != -ENOENT)
                        return log_error_errno(e, "Removing trigger '%s' of %s failed: %m", t->line, t->event);
                k->written--;
        }
        if (k->synth_made) {
                int e = tfs_synth_write(r->tfs, k->synth, true, NULL);
                if (e < 0 && e != -ENOENT)
                        return log_error_errno(e, "Removing synthetic event '%s' failed: %m", k->synth);
                k->synth_made = false;
        }
        return 0;
}

static bool khist_same(const RegKhist *k, const KhPlan *p) {
        if (k->n_triggers != p->n_triggers || !(k->synth ? p->synth && strcmp(k->synth, p->synth) == 0 : !p->synth))
                return false;
        for (size_t i = 0; i < k->n_triggers; i++)
                if (strcmp(k->triggers[i].event, p->triggers[i].event) != 0 ||
                    strcmp(k->triggers[i].line, p->triggers[i].line) != 0)
                        return false;
        return true;
}

static bool probe_registered(const Registry *r, int i) {
        return i >= 0 && (size_t) i < r->n_probes && r->probes[i].state == PROBE_STATE_REGISTERED;
}

/* The installed set that metric m of probe i plans, or NULL. */
static RegKhist *khist_find(Registry *r, const KhPlan *p) {
        for (size_t k = 0; k < r->n_khist; k++)
                if (khist_same(&r->khist[k], p))
                        return &r->khist[k];
        return NULL;
}

static void khist_compact(Registry *r) {
        size_t kept = 0;
        for (size_t k = 0; k < r->n_khist; k++) {
                if (r->khist[k].written == 0 && !r->khist[k].synth_made)
                        reg_khist_done(&r->khist[k]);
                else
                        r->khist[kept++] = r->khist[k];
        }
        r->n_khist = kept;
}

void registry_khist_prune(Registry *r) {
        for (size_t k = 0; k < r->n_khist; k++)
                r->khist[k].keep = false;
        for (size_t i = 0; r->pipeline && i < r->pipeline->n_probes && i < r->n_probes; i++) {
                Probe *pr = &r->pipeline->probes[i];
                for (size_t m = 0; m < pr->n_metrics; m++) {
                        MetricPlan *plan = &pr->metrics[m];
                        RegKhist *k = plan->kh.kernel ? khist_find(r, &plan->kh) : NULL;
                        if (k && probe_registered(r, (int) i) &&
                            (plan->kh.entry_probe < 0 || probe_registered(r, plan->kh.entry_probe)))
                                k->keep = true;
                }
        }
        for (size_t k = r->n_khist; k > 0; k--)
                if (!r->khist[k - 1].keep)
                        (void) khist_remove(r, &r->khist[k - 1]);
        khist_compact(r);
}

/* Removes every set that has a trigger on probe i's event (before the
 * probe goes: the kernel keeps a probe with triggers). */
static void khist_drop_probe(Registry *r, size_t i) {
        _cleanup_free_ char *event = xstrdupf("%s/%s", r->tfs->name, r->probes[i].config->name);
        for (size_t k = r->n_khist; k > 0; k--) {
                RegKhist *set = &r->khist[k - 1];
                for (size_t t = 0; t < set->written; t++)
                        if (strcmp(set->triggers[t].event, event) == 0) {
                                (void) khist_remove(r, set);
                                break;
                        }
        }
        khist_compact(r);
        for (size_t p = 0; r->pipeline && p < r->pipeline->n_probes; p++)
                for (size_t m = 0; m < r->pipeline->probes[p].n_metrics; m++) {
                        MetricPlan *plan = &r->pipeline->probes[p].metrics[m];
                        if (plan->kh_live && !khist_find(r, &plan->kh))
                                plan->kh_live = false;
                }
}

/* Writes plan's lines; on a refusal removes what it wrote and returns
 * the kernel's words. */
static int khist_write(Registry *r, const char *metric, const KhPlan *p, char **ret_error) {
        RegKhist k = { .metric = xstrdup(metric), .synth = p->synth ? xstrdup(p->synth) : NULL,
                       .n_triggers = p->n_triggers, .hist_trigger = p->hist_trigger, .hist_fd = -1 };
        for (size_t i = 0; i < p->n_triggers; i++)
                k.triggers[i] = (KhTrigger){ xstrdup(p->triggers[i].event), xstrdup(p->triggers[i].line) };
        int e = 0;
        if (k.synth) {
                e = tfs_synth_write(r->tfs, k.synth, false, ret_error);
                k.synth_made = e >= 0;
        }
        for (size_t i = 0; e >= 0 && i < k.n_triggers; i++) {
                e = tfs_trigger_write(r->tfs, k.triggers[i].event, k.triggers[i].line, false, ret_error);
                if (e >= 0)
                        k.written++;
        }
        if (e < 0) {
                if (!*ret_error)
                        *ret_error = xstrdup(strerror(-e));
                (void) khist_remove(r, &k);
        }
        /* Kept when in the kernel (also a removal that failed: retried). */
        if (k.written > 0 || k.synth_made) {
                r->khist = xrealloc(r->khist, (r->n_khist + 1) * sizeof(RegKhist));
                r->khist[r->n_khist++] = k;
        } else
                reg_khist_done(&k);
        return e;
}

int registry_khist_read(Registry *r, const KhPlan *plan, Buf *out) {
        RegKhist *k = khist_find(r, plan);
        buf_clear(out);
        if (!k || k->hist_trigger >= k->written)
                return -ENOENT;
        if (k->hist_fd < 0) {
                int fd = tfs_open_hist(r->tfs, k->triggers[k->hist_trigger].event);
                if (fd < 0)
                        return fd;
                k->hist_fd = fd;
        }
        int e = tfs_reread(k->hist_fd, 64u << 20, out);
        if (e < 0) {
                close(k->hist_fd);
                k->hist_fd = -1;
        }
        return e;
}

/* The probes' enable files as their streaming needs them now. */
static size_t sync_streaming(Registry *r, const char *config_path) {
        size_t failed = 0;
        for (size_t i = 0; i < r->n_probes; i++) {
                RegProbe *e = &r->probes[i];
                if (e->state != PROBE_STATE_REGISTERED)
                        continue;
                bool want = probe_streams(r, i);
                if (want && !e->enabled) {
                        int k = tfs_event_enable(r->tfs, e->config, true);
                        if (k >= 0) {
                                e->enabled = true;
                                continue;
                        }
                        khist_drop_probe(r, i);
                        probe_fail(r, e, k, NULL, config_path);
                        if (r->pipeline)
                                pipeline_set_live(r->pipeline, i, false);
                        failed++;
                } else if (!want && e->enabled)
                        (void) registry_disable(r, e);
        }
        return failed;
}

size_t registry_khist_install(Registry *r, const char *config_path) {
        size_t failed = 0;
        for (size_t i = 0; r->pipeline && i < r->pipeline->n_probes && i < r->n_probes; i++) {
                Probe *pr = &r->pipeline->probes[i];
                for (size_t m = 0; m < pr->n_metrics; m++) {
                        MetricPlan *plan = &pr->metrics[m];
                        plan->kh_live = false;
                        if (!plan->kh.kernel || !probe_registered(r, (int) i))
                                continue;
                        if (khist_find(r, &plan->kh)) {
                                plan->kh_live = true;
                                continue;
                        }
                        char *err = NULL;
                        int e;
                        if (plan->kh.entry_probe >= 0 && !probe_registered(r, plan->kh.entry_probe)) {
                                err = xstrdupf("its entry probe '%s' is not registered",
                                               r->pipeline->probes[plan->kh.entry_probe].config->name);
                                e = -ENOENT;
                        } else {
                                /* Events buffered by then would go with the clock's reset. */
                                if (plan->kh.synth && r->flush)
                                        r->flush(r->flush_userdata);
                                e = khist_write(r, plan->config->name, &plan->kh, &err);
                        }
                        if (e >= 0) {
                                plan->kh_live = true;
                                log_info("Metric '%s' is counted in the kernel: %s", plan->config->name,
                                         plan->kh.triggers[plan->kh.hist_trigger].line);
                                continue;
                        }
                        if (plan->config->aggregate == AGGREGATE_KERNEL) {
                                char *why = xstrdupf("the kernel refused metric '%s' (aggregate: kernel): %s",
                                                     plan->config->name, err);
                                free(err);
                                khist_drop_probe(r, i);
                                probe_fail(r, &r->probes[i], e, why, config_path);
                                pipeline_set_live(r->pipeline, i, false);
                                failed++;
                                break;
                        }
                        log_warning("%s:%u: metric '%s' is counted from events instead: the kernel refused its "
                                    "trigger: %s", r->probes[i].config->file ? r->probes[i].config->file : config_path,
                                    plan->config->line, plan->config->name, err);
                        free(plan->kh.why);
                        plan->kh.why = xstrdupf("aggregate: auto, but the kernel refused the trigger: %s", err);
                        plan->kh.kernel = false;
                        free(err);
                }
        }
        return failed + sync_streaming(r, config_path);
}

void registry_symbols_done(Registry *r) {
        if (r->tfs->symbols && r->tfs->kallsyms_error < 0 && !r->kallsyms_warned) {
                log_notice("kprobe targets were not checked against /proc/kallsyms (%s): a missing function is "
                           "reported by the kernel alone", strerror(-r->tfs->kallsyms_error));
                r->kallsyms_warned = true;
        }
        tfs_symbols_release(r->tfs);
}

int registry_teardown(Registry *r) {
        int ret = 0;
        /* Triggers first: the kernel keeps a probe that has some. */
        for (size_t k = r->n_khist; k > 0; k--) {
                int e = khist_remove(r, &r->khist[k - 1]);
                if (e < 0 && ret == 0)
                        ret = e;
        }
        khist_compact(r);
        for (size_t i = 0; i < r->n_probes; i++) {
                int k = registry_disable(r, &r->probes[i]);
                if (k < 0 && ret == 0)
                        ret = k;
        }
        /* The instance goes before the probes: a probe enabled anywhere
         * cannot be removed (EBUSY), and removing the instance disables
         * whatever is still enabled in it. */
        if (r->instance_created) {
                int k = tfs_instance_remove(r->tfs);
                if (k < 0) {
                        log_error_errno(k, "Removing instance %s failed: %m%s", r->tfs->instance_dir,
                                        k == -EBUSY ? " (a process holds one of its files open)" : "");
                        if (ret == 0)
                                ret = k;
                } else
                        r->instance_created = false;
        }
        for (size_t i = 0; i < r->n_probes; i++) {
                int k = registry_unregister(r, &r->probes[i]);
                if (k < 0 && ret == 0)
                        ret = k;
        }
        /* Orphans of reloads and of the loop above: one more try each. */
        size_t kept = 0;
        for (size_t i = 0; i < r->n_orphans; i++) {
                RegOrphan o = r->orphans[i];
                int k = remove_definition(r, o.name, o.type);
                if (k < 0) {
                        r->orphans[kept++] = o;
                        if (ret == 0)
                                ret = k;
                } else
                        free(o.name);
        }
        r->n_orphans = kept;
        return ret;
}

void registry_status(const Registry *r, ProbeStatus *out) {
        for (size_t i = 0; i < r->n_probes; i++)
                out[i] = (ProbeStatus){
                        .state = probe_state_to_string(r->probes[i].state),
                        .definition = r->probes[i].definition,
                        .error = r->probes[i].error,
                        .streamed = r->probes[i].enabled,
                };
}

size_t registry_count(const Registry *r, ProbeState state) {
        size_t n = 0;
        for (size_t i = 0; i < r->n_probes; i++)
                n += r->probes[i].state == state;
        return n;
}

static void refuse_text_reader(const ProbeConfig *p, const char *field, ConfigErrors *errs) {
        config_errors_add(errs, p->line, p->column,
                          "probe '%s': field '%s' holds a string a traced process controls, which the text reader "
                          "(--tracefs.reader=text) cannot frame: a newline in it forges records; use the binary reader",
                          p->name, field);
}

/* The fields of probe i for the checks below: a kprobe kind's fetch names,
 * a tracepoint's from its format (format text kept). NULL fields: unknown. */
typedef struct ProbeFields {
        char **fields;
        char *format;
        bool tracepoint;
} ProbeFields;

static bool probe_fields_has(const ProbeConfig *p, const ProbeFields *f, const char *name) {
        if (!f->tracepoint) {
                for (size_t i = 0; i < p->n_fields; i++)
                        if (strcmp(p->fields[i], name) == 0)
                                return true;
                return false;
        }
        return !f->fields || strv_contains(f->fields, name); /* unknown: not reported */
}

/* One thing this kernel's tracepoint lacks that probe p names, added to
 * why (p's reason to be unavailable) as "FILE:LINE:COLUMN: TEXT", with the
 * nearest field names when `field` is the missing one. */
static void lack(Buf *why, const Config *c, const ProbeConfig *p, unsigned line, unsigned column,
                 const ProbeFields *f, const char *field, const char *fmt, ...) _printf_(8, 9);
static void lack(Buf *why, const Config *c, const ProbeConfig *p, unsigned line, unsigned column,
                 const ProbeFields *f, const char *field, const char *fmt, ...) {
        va_list ap;
        if (why->len > 0)
                buf_puts(why, "; ");
        buf_printf(why, "%s:%u:%u: ", p->file ? p->file : c->path, line, column);
        va_start(ap, fmt);
        buf_vprintf(why, fmt, ap);
        va_end(ap);
        const char *near[3];
        size_t n_fields = 0, n = 0;
        while (f && f->fields && f->fields[n_fields])
                n_fields++;
        if (field && n_fields > 0)
                n = names_nearest((const char *const *) f->fields, n_fields, field, NULL, NULL, near, ELEMENTSOF(near));
        for (size_t k = 0; k < n; k++)
                buf_printf(why, "%s%s", k ? ", " : "; nearest: ", near[k]);
}

/* What config.c could not check of probe i's metrics: the fields that its
 * value, labels, conditions and latency match name, against the formats
 * of this kernel's tracepoints (its own and its entry's). A kernel whose
 * tracepoint lacks one makes the probe unavailable (why), as a kernel
 * without a function does a kprobe: the other probes run. */
static void check_tracepoint_metrics(const Config *c, const ProbeFields *pf, size_t i, Buf *why) {
        const ProbeConfig *p = &c->probes[i];
        for (size_t k = 0; k < p->n_metrics; k++) {
                const MetricConfig *m = &p->metrics[k];
                const ProbeConfig *e = m->latency_from.name ? config_find_probe(c, m->latency_from.name) : NULL;
                const ProbeFields *ef = e ? &pf[e - c->probes] : NULL;
                if (!pf[i].tracepoint && !(ef && ef->tracepoint))
                        continue; /* config.c checked it all */
                if (pf[i].tracepoint && m->value.name && pf[i].fields) {
                        int numeric = tfs_format_field_is_numeric(pf[i].format, m->value.name);
                        if (numeric == -ENOENT || !strv_contains(pf[i].fields, m->value.name))
                                lack(why, c, p, m->value.line, m->value.column, &pf[i], m->value.name,
                                     "value: '%s' is not a field of tracepoint %s", m->value.name, p->target);
                        else if (numeric == 0)
                                lack(why, c, p, m->value.line, m->value.column, NULL, NULL,
                                     "value: field '%s' of tracepoint %s is a string, not a number", m->value.name,
                                     p->target);
                }
                for (size_t l = 0; l < m->n_labels; l++) {
                        const char *label = metric_label_field(m, l);
                        if (label_is_builtin(label) || probe_fields_has(p, &pf[i], label) ||
                            (e && probe_fields_has(e, ef, label)))
                                continue;
                        if (e)
                                lack(why, c, p, m->label_line[l], m->label_column[l], pf[i].tracepoint ? &pf[i] : ef,
                                     label, "label '%s' is a field of neither probe '%s' nor its entry '%s'", label,
                                     p->name, e->name);
                        else
                                lack(why, c, p, m->label_line[l], m->label_column[l], &pf[i], label,
                                     "label '%s' is not a field of tracepoint %s", label, p->target);
                }
                for (size_t f = 0; e && f < m->n_match; f++) {
                        const NamedAt *mf = &m->match[f];
                        if (match_is_thread(mf->name))
                                continue;
                        const ProbeConfig *side[] = { p, e };
                        const ProbeFields *sf[] = { &pf[i], ef };
                        for (size_t s = 0; s < 2; s++)
                                if (sf[s]->tracepoint && !probe_fields_has(side[s], sf[s], mf->name))
                                        lack(why, c, p, mf->line, mf->column, sf[s], mf->name,
                                             "match: '%s' is not a field of tracepoint %s", mf->name, side[s]->target);
                }
                /* start: fields of the entry's events; end and when: of this one's. */
                const struct {
                        const Condition *cond;
                        size_t n;
                        const ProbeConfig *probe;
                        const ProbeFields *fields;
                        const char *what;
                } conds[] = { { m->start, m->n_start, e, ef, "start" },
                              { m->end, m->n_end, p, &pf[i], "end" },
                              { m->when, m->n_when, p, &pf[i], "when" } };
                for (size_t s = 0; s < ELEMENTSOF(conds); s++)
                        for (size_t f = 0; conds[s].probe && conds[s].fields->tracepoint && f < conds[s].n; f++)
                                if (!probe_fields_has(conds[s].probe, conds[s].fields, conds[s].cond[f].field.name))
                                        lack(why, c, p, conds[s].cond[f].field.line, conds[s].cond[f].field.column,
                                             conds[s].fields, conds[s].cond[f].field.name,
                                             "%s: '%s' is not a field of tracepoint %s", conds[s].what,
                                             conds[s].cond[f].field.name, conds[s].probe->target);
        }
}

/* Probe i against this kernel's tracefs: what the text reader refuses, a
 * tracepoint's format (its fields kept in pf[i]) and its decoders. */
static void check_probe(const Config *c, size_t i, const char *root, bool readable, bool text_reader,
                        ProbeFields *pf, bool *attribution_refused, size_t *unchecked, ConfigErrors *errs, Buf *why) {
        const ProbeConfig *p = &c->probes[i];
        char hostile[256];
        if (p->added && text_reader) {
                /* One error for the three events, about what needs them. */
                if (!*attribution_refused)
                        config_errors_add(errs, p->line, p->column,
                                          "labels cgroup, unit, user_unit and container_id, journal: true and "
                                          "attribution: true need the binary reader: the kernel's fork, exit "
                                          "and cgroup events they follow hold strings a traced process "
                                          "controls (comm, cgroup paths), which the text reader "
                                          "(--tracefs.reader=text) cannot frame");
                *attribution_refused = true;
                return;
        }
        if (p->type != PROBE_TRACEPOINT) {
                if (text_reader && probe_has_hostile_string(p, NULL, hostile, sizeof(hostile)))
                        refuse_text_reader(p, hostile, errs);
                return;
        }
        pf[i].tracepoint = true;
        _cleanup_buf_ Buf format = { 0 };
        int r = -ENODEV;
        if (readable && tracepoint_target_is_valid(p->target)) {
                Buf path = { 0 };
                buf_printf(&path, "%s/events/%s/format", root, p->target);
                r = read_file_at(AT_FDCWD, path.data, 1u << 20, &format);
                buf_free(&path);
        }
        if (r >= 0 && text_reader && probe_has_hostile_string(p, format.data ? format.data : "", hostile, sizeof(hostile)))
                refuse_text_reader(p, hostile, errs);
        if (r >= 0)
                r = tfs_parse_format_fields(format.data ? format.data : "", &pf[i].fields);
        if (r < 0) {
                /* A missing tracepoint fails at registration, like a
                 * bad symbol; an unreadable tracefs is the caller's to say. */
                *unchecked += r != -ENOENT;
                return;
        }
        pf[i].format = buf_steal(&format);
        for (size_t d = 0; d < p->n_decoders; d++)
                if (!strv_contains(pf[i].fields, p->decoders[d].field))
                        lack(why, c, p, p->decoders[d].line, p->decoders[d].column, &pf[i], p->decoders[d].field,
                             "decode: '%s' is not a field of tracepoint %s", p->decoders[d].field, p->target);
}

size_t registry_check_config(Config *c, const char *root, bool text_reader, ConfigErrors *errs) {
        size_t unchecked = 0;
        char events[PATH_MAX];
        bool readable = root && (size_t) snprintf(events, sizeof(events), "%s/events", root) < sizeof(events) &&
                        access(events, R_OK | X_OK) == 0;
        ProbeFields *pf = xcalloc(c->n_probes ? c->n_probes : 1, sizeof(ProbeFields));
        bool attribution_refused = false;
        Buf *why = xcalloc(c->n_probes ? c->n_probes : 1, sizeof(Buf));
        for (size_t i = 0; i < c->n_probes; i++) {
                size_t before = errs->n;
                check_probe(c, i, root, readable, text_reader, pf, &attribution_refused, &unchecked, errs, &why[i]);
                config_errors_set_file(errs, before, c->probes[i].file);
        }
        for (size_t i = 0; i < c->n_probes; i++) {
                if (!pf[i].tracepoint || pf[i].fields)
                        check_tracepoint_metrics(c, pf, i, &why[i]);
                /* A user's probe that serves attribution (its fork, exit or
                 * cgroup events) cannot be left out: every probe's cgroup
                 * labels depend on it. An error, as before. */
                if (why[i].len > 0 && c->probes[i].role != ATTRIB_ROLE_NONE) {
                        size_t before = errs->n;
                        config_errors_add(errs, c->probes[i].line, c->probes[i].column,
                                          "probe '%s' follows tasks for attribution, and names what this kernel's "
                                          "tracepoint lacks: %s", c->probes[i].name, why[i].data);
                        config_errors_set_file(errs, before, c->probes[i].file);
                        buf_clear(&why[i]);
                }
                free(c->probes[i].kernel_lacks);
                c->probes[i].kernel_lacks = why[i].len > 0 ? buf_steal(&why[i]) : NULL;
                buf_free(&why[i]);
        }
        free(why);
        for (size_t i = 0; i < c->n_probes; i++) {
                strv_free(pf[i].fields);
                free(pf[i].format);
        }
        free(pf);
        return unchecked;
}
