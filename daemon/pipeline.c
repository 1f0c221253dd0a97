#include "pipeline.h"

#include <errno.h>
#include <stdio.h>

#include "decode.h"
#include "expo.h"
#include "kfeatures.h"
#include "labelcut.h"

static int builtin_source(const char *label) {
        if (strcmp(label, "comm") == 0)
                return LABEL_SOURCE_COMM;
        if (strcmp(label, "pid") == 0)
                return LABEL_SOURCE_PID;
        if (strcmp(label, "tgid") == 0)
                return LABEL_SOURCE_TGID;
        if (strcmp(label, "cpu") == 0)
                return LABEL_SOURCE_CPU;
        if (strcmp(label, "cgroup") == 0)
                return LABEL_SOURCE_CGROUP;
        if (strcmp(label, "unit") == 0)
                return LABEL_SOURCE_UNIT;
        if (strcmp(label, "user_unit") == 0)
                return LABEL_SOURCE_USER_UNIT;
        if (strcmp(label, "container_id") == 0)
                return LABEL_SOURCE_CONTAINER;
        return LABEL_SOURCE_NAMED;
}

/* What trace_pipe prints as the event name, and in which form. */
static void probe_event_name(const ProbeConfig *c, StrView *ret, TraceEventForm *form) {
        *form = TRACE_FORM_NAMED;
        if (c->type != PROBE_TRACEPOINT) {
                *ret = sv_from(c->name);
                return;
        }
        const char *slash = strchr(c->target, '/');
        const char *ev = slash ? slash + 1 : c->target;
        /* Syscall events print "sys_connect(...)" and "sys_connect -> ret". */
        if (strncmp(c->target, "syscalls/", 9) == 0) {
                if (strncmp(ev, "sys_enter_", 10) == 0) {
                        *form = TRACE_FORM_SYSCALL_ENTER;
                        ev += 10;
                } else if (strncmp(ev, "sys_exit_", 9) == 0) {
                        *form = TRACE_FORM_SYSCALL_EXIT;
                        ev += 9;
                }
                if (*form != TRACE_FORM_NAMED) {
                        /* Stored as "sys_" + name, in the target string's tail:
                         * point at the "sys_" we need by building it once. */
                        size_t n = strlen(ev);
                        char *s = xmalloc(n + 5);
                        memcpy(s, "sys_", 4);
                        memcpy(s + 4, ev, n + 1);
                        *ret = (StrView){ s, n + 4 };
                        return;
                }
        }
        *ret = sv_from(ev);
}

static bool probe_event_name_owned(const Probe *p) {
        return p->form != TRACE_FORM_NAMED;
}

static int probe_field_index(const ProbeConfig *c, const char *name) {
        for (size_t i = 0; i < c->n_fields; i++)
                if (strcmp(c->fields[i], name) == 0)
                        return (int) i;
        return -1;
}

/* Raw tuples a metric remembers: room for every series twice over (a few
 * raw spellings of one label set), within a fixed bound for unlimited
 * families. When full, the cache starts over: see SeriesCache. */
#define RAW_CACHE_MIN 64u
#define RAW_CACHE_MAX 65536u

static size_t raw_cache_entries(unsigned max_series) {
        if (max_series == 0 || max_series >= RAW_CACHE_MAX / 2)
                return RAW_CACHE_MAX;
        return max_series * 2 < RAW_CACHE_MIN ? RAW_CACHE_MIN : (size_t) max_series * 2;
}

static void metric_shape(const MetricConfig *mc, FamilyShape *ret) {
        *ret = (FamilyShape){ .kind = FAMILY_COUNTER };
        if (mc->type == METRIC_HISTOGRAM)
                *ret = (FamilyShape){ FAMILY_HISTOGRAM, mc->buckets, (const char *const *) mc->bucket_text, mc->n_buckets };
        else if (mc->value.name)
                ret->kind = FAMILY_SUM;
}

/* A field of probe c by index (kprobe kinds; -1 when it has none of that
 * name) or by name (tracepoints); "tid"/"pid" of a match is the thread. */
static FieldRef field_ref(const ProbeConfig *c, const char *name) {
        if (c->type == PROBE_TRACEPOINT)
                return (FieldRef){ LABEL_SOURCE_NAMED, sv_from(name) };
        return (FieldRef){ probe_field_index(c, name), sv_from(name) };
}

static FieldRef match_ref(const ProbeConfig *c, const char *name) {
        if (match_is_thread(name))
                return (FieldRef){ LABEL_SOURCE_PID, sv_from(name) };
        return field_ref(c, name);
}

static void conditions_init(const ProbeConfig *pc, const Condition *c, size_t n, FieldRef **ret_fields,
                            StrView **ret_values, size_t *ret_n);

static void probe_init(Probe *p, const ProbeConfig *c, const Config *config) {
        unsigned max_series = config->max_series;
        p->config = c;
        p->comm_field = -1;
        p->is_exec = c->type == PROBE_TRACEPOINT && strcmp(c->target, "sched/sched_process_exec") == 0;
        probe_event_name(c, &p->event, &p->form);
        p->decoders = xcalloc(c->n_fields ? c->n_fields : 1, sizeof(Decoder *));
        p->field_names = xcalloc(c->n_fields ? c->n_fields : 1, sizeof(StrView));
        p->decoder_fields = xcalloc(c->n_decoders ? c->n_decoders : 1, sizeof(StrView));
        for (size_t i = 0; i < c->n_decoders; i++)
                p->decoder_fields[i] = sv_from(c->decoders[i].field);
        static const Decoder string_decoder = { .kind = DECODER_STRING };
        for (size_t i = 0; i < c->n_fields; i++) {
                p->field_names[i] = sv_from(c->fields[i]);
                p->decoders[i] = probe_find_decoder(c, c->fields[i]);
                /* A string reads as the string, without the quotes the
                 * kernel prints around it; a comm fetched as a string reads
                 * like the header's comm. */
                if (!p->decoders[i] && c->field_is_string[i])
                        p->decoders[i] = &string_decoder;
                if (p->decoders[i] == &string_decoder && strcmp(c->fields[i], "comm") == 0)
                        p->comm_field = (int) i;
        }

        p->n_metrics = c->n_metrics;
        p->metrics = xcalloc(c->n_metrics ? c->n_metrics : 1, sizeof(MetricPlan));
        for (size_t m = 0; m < c->n_metrics; m++) {
                const MetricConfig *mc = &c->metrics[m];
                MetricPlan *plan = &p->metrics[m];
                FamilyShape shape;
                metric_shape(mc, &shape);
                plan->config = mc;
                plan->family = family_new_shaped(mc->name, mc->help, (const char *const *) mc->labels, mc->n_labels,
                                                 max_series, &shape);
                plan->n_labels = mc->n_labels;
                plan->label_source = xcalloc(mc->n_labels ? mc->n_labels : 1, sizeof(int));
                plan->label_names = xcalloc(mc->n_labels ? mc->n_labels : 1, sizeof(StrView));
                plan->label_fallback = xcalloc(mc->n_labels ? mc->n_labels : 1, sizeof(int));
                for (size_t l = 0; l < mc->n_labels; l++) {
                        const char *field = metric_label_field(mc, l);
                        int idx = c->type == PROBE_TRACEPOINT ? -1 : probe_field_index(c, field);
                        plan->label_source[l] = idx >= 0 ? idx : builtin_source(field);
                        if (c->type == PROBE_TRACEPOINT)
                                plan->label_source[l] = LABEL_SOURCE_NAMED;
                        plan->label_names[l] = sv_from(field);
                        plan->label_fallback[l] = builtin_source(field);
                }
                /* Every part of a raw key is at most max_label_bytes (see
                 * metric_series()), so every key fits. */
                plan->max_label_bytes = config_max_label_bytes(config, mc);
                size_t n_keyed = mc->n_labels < PIPELINE_MAX_FIELDS ? mc->n_labels : PIPELINE_MAX_FIELDS;
                plan->cache = series_cache_new(raw_cache_entries(max_series),
                                               n_keyed * (5 + plan->max_label_bytes));
                plan->scale = mc->scale;
                if (mc->value.name) {
                        plan->has_value = true;
                        plan->value = field_ref(c, mc->value.name);
                        plan->value_decoder = probe_find_decoder(c, mc->value.name);
                }
                conditions_init(c, mc->when, mc->n_when, &plan->when, &plan->when_value, &plan->n_when);
        }
}

static void probe_done(Probe *p) {
        if (probe_event_name_owned(p))
                free((char *) p->event.p);
        free(p->decoders);
        free(p->field_names);
        free(p->decoder_fields);
        for (size_t m = 0; m < p->n_metrics; m++) {
                family_free(p->metrics[m].family);
                free(p->metrics[m].label_source);
                free(p->metrics[m].label_names);
                free(p->metrics[m].label_fallback);
                series_cache_free(p->metrics[m].cache);
                pending_free(p->metrics[m].pending);
                free(p->metrics[m].match);
                free(p->metrics[m].end);
                free(p->metrics[m].end_value);
                free(p->metrics[m].when);
                free(p->metrics[m].when_value);
                free(p->metrics[m].entry_slot);
                free(p->metrics[m].entry_decoder);
                khist_plan_done(&p->metrics[m].kh);
        }
        free(p->metrics);
        for (size_t i = 0; i < p->n_entries; i++) {
                free(p->entries[i].match);
                free(p->entries[i].saved);
                free(p->entries[i].start);
                free(p->entries[i].start_value);
        }
        free(p->entries);
}

/* A latency metric of probe x (plan) and its entry probe e: the key on both
 * sides, and for each label that is not a builtin the slot of the entry's
 * saved values it falls back to when x's event does not have it. */
static void conditions_init(const ProbeConfig *pc, const Condition *c, size_t n, FieldRef **ret_fields,
                            StrView **ret_values, size_t *ret_n) {
        *ret_n = n;
        *ret_fields = xcalloc(n ? n : 1, sizeof(FieldRef));
        *ret_values = xcalloc(n ? n : 1, sizeof(StrView));
        for (size_t i = 0; i < n; i++) {
                (*ret_fields)[i] = field_ref(pc, c[i].field.name);
                (*ret_values)[i] = sv_from(c[i].value);
        }
}

static void latency_init(Probe *x, MetricPlan *plan, Probe *e) {
        const MetricConfig *mc = plan->config;
        const ProbeConfig *xc = x->config, *ec = e->config;
        static const char *const thread[] = { "tid" };
        const char *const *match = thread;
        size_t n_match = 1;
        if (mc->n_match > 0)
                n_match = mc->n_match;

        plan->pending = pending_new(mc->max_pending, (uint64_t) (mc->pending_timeout * 1e9));
        plan->n_match = n_match;
        plan->match = xcalloc(n_match, sizeof(FieldRef));
        e->entries = xrealloc(e->entries, (e->n_entries + 1) * sizeof(EntryPlan));
        EntryPlan *ep = &e->entries[e->n_entries++];
        *ep = (EntryPlan){ .metric = plan, .n_match = n_match, .match = xcalloc(n_match, sizeof(FieldRef)) };
        for (size_t i = 0; i < n_match; i++) {
                const char *name = mc->n_match > 0 ? mc->match[i].name : match[i];
                plan->match[i] = match_ref(xc, name);
                ep->match[i] = match_ref(ec, name);
        }

        /* The conditions: fields of the probe whose events they judge. */
        conditions_init(ec, mc->start, mc->n_start, &ep->start, &ep->start_value, &ep->n_start);
        conditions_init(xc, mc->end, mc->n_end, &plan->end, &plan->end_value, &plan->n_end);

        plan->entry_slot = xcalloc(mc->n_labels ? mc->n_labels : 1, sizeof(int));
        plan->entry_decoder = xcalloc(mc->n_labels ? mc->n_labels : 1, sizeof(Decoder *));
        ep->saved = xcalloc(mc->n_labels ? mc->n_labels : 1, sizeof(FieldRef));
        for (size_t l = 0; l < mc->n_labels; l++) {
                const char *name = metric_label_field(mc, l);
                plan->entry_slot[l] = -1;
                /* This event's own field or builtin wins. */
                if (label_is_builtin(name) || (xc->type != PROBE_TRACEPOINT && probe_field_index(xc, name) >= 0))
                        continue;
                FieldRef ref = field_ref(ec, name);
                if (ref.index == -1)
                        continue; /* the entry has no such field either */
                plan->entry_slot[l] = (int) ep->n_saved;
                plan->entry_decoder[l] = ref.index >= 0 ? e->decoders[ref.index] : probe_find_decoder(ec, name);
                ep->saved[ep->n_saved++] = ref;
        }
}

static uint32_t pipeline_intern_name(Pipeline *p, const char *name) {
        for (size_t i = 0; i < p->n_names; i++)
                if (strcmp(p->names[i], name) == 0)
                        return (uint32_t) i;
        p->names = xrealloc(p->names, (p->n_names + 1) * sizeof(char *));
        p->names[p->n_names] = xstrdup(name);
        return (uint32_t) p->n_names++;
}

static bool is_attribution_source(int src) {
        return src == LABEL_SOURCE_CGROUP || src == LABEL_SOURCE_UNIT || src == LABEL_SOURCE_USER_UNIT ||
               src == LABEL_SOURCE_CONTAINER;
}

/* Whether a probe's events need their task's cgroup: one of its metrics
 * counted here has an attribution label, or its events are kept or
 * journaled (which show the cgroup). The attribution probes' own never. */
static bool probe_needs_cgroup(const Probe *pr) {
        if (pr->config->added)
                return false;
        if (pr->config->events || pr->config->journal)
                return true;
        for (size_t m = 0; m < pr->n_metrics; m++)
                for (size_t l = 0; l < pr->metrics[m].n_labels; l++)
                        if (is_attribution_source(pr->metrics[m].label_source[l]) ||
                            (pr->metrics[m].label_source[l] == LABEL_SOURCE_NAMED &&
                             is_attribution_source(pr->metrics[m].label_fallback[l])))
                                return true;
        return false;
}

int pipeline_new(Config *config, CommResolver resolve_comm, void *resolve_userdata, Pipeline **ret) {
        Pipeline *p = xcalloc(1, sizeof(Pipeline));
        p->config = config;
        p->resolve_comm = resolve_comm;
        p->resolve_userdata = resolve_userdata;
        p->n_probes = config->n_probes;
        p->probes = xcalloc(p->n_probes ? p->n_probes : 1, sizeof(Probe));
        for (size_t i = 0; i < p->n_probes; i++) {
                probe_init(&p->probes[i], &config->probes[i], config);
                p->probes[i].id = pipeline_intern_name(p, config->probes[i].name);
        }
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++) {
                        const MetricConfig *mc = p->probes[i].metrics[m].config;
                        if (mc->type != METRIC_HISTOGRAM || !mc->latency_from.name)
                                continue;
                        const ProbeConfig *ec = config_find_probe(config, mc->latency_from.name);
                        /* Its own probe: two kinds of its events (start, end). */
                        if (ec && (ec != p->probes[i].config || (mc->n_start > 0 && mc->n_end > 0)))
                                latency_init(&p->probes[i], &p->probes[i].metrics[m], &p->probes[(size_t) (ec - config->probes)]);
                }
        for (size_t i = 0; config->attribution && i < p->n_probes; i++)
                p->probes[i].needs_cgroup = probe_needs_cgroup(&p->probes[i]);
        p->ring = ring_new(config->recent_events ? config->recent_events : 1);
        p->cgroup_root = -1;
        if (config->attribution)
                p->attr = attrib_new(&(AttribLimits){ .max_tasks = PIPELINE_ATTRIB_MAX_TASKS,
                                                       .max_path_bytes = PIPELINE_ATTRIB_MAX_PATH_BYTES,
                                                       .keep_ns = PIPELINE_ATTRIB_KEEP_NS });
        *ret = p;
        return 0;
}

Pipeline *pipeline_free(Pipeline *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_probes; i++)
                probe_done(&p->probes[i]);
        free(p->probes);
        for (size_t i = 0; i < p->n_names; i++)
                free(p->names[i]);
        free(p->names);
        ring_free(p->ring);
        attrib_free(p->attr);
        buf_free(&p->proc_path);
        buf_free(&p->entry_scratch);
        config_free(p->config);
        free(p);
        return NULL;
}

static Probe *pipeline_find_probe(Pipeline *p, const TraceLine *tl) {
        for (size_t i = 0; i < p->n_probes; i++) {
                Probe *pr = &p->probes[i];
                if (pr->event.n == tl->event.n && pr->form == tl->form && mem_eq(pr->event.p, tl->event.p, tl->event.n) &&
                    pr->live)
                        return pr;
        }
        return NULL;
}

/* One event's fields as the kernel printed them (nothing decoded), all
 * pointing into the line. decoders[i] is what field i needs to read as a
 * user wants it; NULL when no field has a decoder. */
typedef struct EventFields {
        StrView names[PIPELINE_MAX_FIELDS];
        StrView values[PIPELINE_MAX_FIELDS];
        const Decoder *const *decoders;
        const Decoder *tp_decoders[PIPELINE_MAX_FIELDS];
        size_t n;
        const Cgroup *cg; /* the task's, when the config is attributed and it is known */
} EventFields;

static int event_fields_probe(const Probe *pr, const TraceLine *tl, EventFields *ef) {
        const ProbeConfig *c = pr->config;
        size_t n = c->n_fields < PIPELINE_MAX_FIELDS ? c->n_fields : PIPELINE_MAX_FIELDS;
        int r = traceline_probe_fields_sv(tl->body, pr->field_names, c->field_is_string, n, ef->values, NULL);
        if (r < 0)
                return r;
        /* The same names as printed in the line ("NAME=" before each
         * value): the ring then stores the line, not a copy of each name. */
        for (size_t i = 0; i < n; i++)
                ef->names[i] = (StrView){ ef->values[i].p - pr->field_names[i].n - 1, pr->field_names[i].n };
        ef->decoders = pr->decoders;
        ef->n = n;
        return 0;
}

static inline bool name_eq(StrView a, StrView b) {
        return a.n == b.n && mem_eq(a.p, b.p, a.n);
}

/* A tracepoint's decoders by field name: probe_find_decoder() without a
 * NUL-terminated copy (the first decoder of that name; names longer than
 * the config allows match none). */
static int tracepoint_decoders(const Probe *pr, EventFields *ef) {
        const ProbeConfig *c = pr->config;
        ef->decoders = NULL;
        if (c->n_decoders == 0)
                return 0;
        for (size_t i = 0; i < ef->n; i++) {
                const Decoder *d = NULL;
                if (ef->names[i].n <= CONFIG_NAME_MAX)
                        for (size_t k = 0; k < c->n_decoders; k++)
                                if (name_eq(ef->names[i], pr->decoder_fields[k])) {
                                        d = &c->decoders[k];
                                        break;
                                }
                ef->tp_decoders[i] = d;
        }
        ef->decoders = ef->tp_decoders;
        return 0;
}

static int event_fields_tracepoint(const Probe *pr, const TraceLine *tl, EventFields *ef) {
        TraceField tf[PIPELINE_MAX_FIELDS];
        int n = traceline_tracepoint_fields(tl, tf, PIPELINE_MAX_FIELDS);
        if (n < 0)
                return n;
        for (int i = 0; i < n; i++) {
                ef->names[i] = tf[i].name;
                ef->values[i] = tf[i].value;
        }
        ef->n = (size_t) n;
        return tracepoint_decoders(pr, ef);
}

/* Where one label's value comes from in this event. */
typedef struct LabelRef {
        int source; /* field index >= 0, or LABEL_SOURCE_COMM/PID/TGID/CPU, NAMED: empty, ENTRY: saved */
        StrView saved;          /* LABEL_SOURCE_ENTRY: the entry's raw value */
        const Decoder *decoder; /* LABEL_SOURCE_ENTRY: the entry probe's decoder of it */
} LabelRef;

#define LABEL_SOURCE_ENTRY (-6)

static int find_named_field(const EventFields *ef, StrView name) {
        for (size_t i = 0; i < ef->n; i++)
                if (name_eq(ef->names[i], name))
                        return (int) i;
        return -1;
}

/* The raw key of a label set: per label the value as the kernel printed
 * it (or the header's integer as its 4 bytes), tagged with its source. The
 * tag keeps a field named "pid" apart from the header's pid: both give the
 * same label set after formatting, and then two keys alias one series. */
enum {
        KEY_FIELD = 'f',
        KEY_COMM = 'c',
        KEY_PID = 'p',
        KEY_TGID = 't',
        KEY_CPU = 'u',
        KEY_CGROUP = 'g',
        KEY_UNIT = 'n',
        KEY_USER_UNIT = 'N',
        KEY_CONTAINER = 'k',
        KEY_EMPTY = 'e',
        KEY_ENTRY = 'E',
        KEY_DECODED = 'd',     /* a raw value longer than max_label_bytes: its decoded value */
        KEY_DECODED_CUT = 'D', /* the same, longer than max_label_bytes as well: its first max_label_bytes */
        KEY_INT = 'i',   /* match keys: a number, whatever its spelling */
        KEY_BYTES = 'b', /* match keys: anything else, as printed */
};

/* An attribution label's value: empty when the cgroup is not known. */
static StrView attrib_value(int source, const Cgroup *cg) {
        if (!cg)
                return (StrView){ "", 0 };
        switch (source) {
        case LABEL_SOURCE_CGROUP:
                return cg->path;
        case LABEL_SOURCE_UNIT:
                return cg->names.unit;
        case LABEL_SOURCE_USER_UNIT:
                return cg->names.user_unit;
        default:
                return cg->names.container_id;
        }
}

static StrView label_value(const LabelRef *ref, const TraceLine *tl, const EventFields *ef,
                           char scratch[DECODE_SCRATCH]) {
        StrView v;
        switch (ref->source) {
        case LABEL_SOURCE_COMM:
                return tl->comm;
        case LABEL_SOURCE_PID:
                return (StrView){ scratch, fmt_i64(scratch, tl->pid) };
        case LABEL_SOURCE_TGID:
                return (StrView){ scratch, fmt_i64(scratch, tl->tgid) };
        case LABEL_SOURCE_CPU:
                return (StrView){ scratch, fmt_i64(scratch, tl->cpu) };
        case LABEL_SOURCE_CGROUP:
        case LABEL_SOURCE_UNIT:
        case LABEL_SOURCE_USER_UNIT:
        case LABEL_SOURCE_CONTAINER:
                return attrib_value(ref->source, ef->cg);
        case LABEL_SOURCE_NAMED:
                return (StrView){ "", 0 };
        case LABEL_SOURCE_ENTRY:
                (void) decode_value(ref->decoder, ref->saved, scratch, &v);
                return v;
        }
        (void) decode_value(ef->decoders ? ef->decoders[ref->source] : NULL, ef->values[ref->source], scratch, &v);
        return v;
}

/* A raw tuple not seen before: decode and format its label values, key
 * them as they will be shown (bytes that are not UTF-8 become U+FFFD
 * before hashing, so two raw values can never render as one duplicate
 * series; a value longer than max_label_bytes is cut to it), and find its
 * series in the family, which may refuse it (max_series). The values cut
 * are counted when the label set has its series: a refused one is counted
 * as refused. */
static Series *metric_lookup_decoded(MetricPlan *plan, size_t n, const LabelRef *refs, const TraceLine *tl,
                                     const EventFields *ef) {
        static char scratch[PIPELINE_MAX_FIELDS][DECODE_SCRATCH];
        static Buf clean[PIPELINE_MAX_FIELDS];
        StrView values[PIPELINE_MAX_FIELDS];
        uint64_t n_cut = 0;

        for (size_t l = 0; l < n; l++) {
                bool cut;
                values[l] = label_cut(label_value(&refs[l], tl, ef, scratch[l]), plan->max_label_bytes, &clean[l], &cut);
                n_cut += cut;
        }
        Series *s = family_lookup_series(plan->family, values);
        if (s)
                plan->labels_cut += n_cut;
        return s;
}

/* The raw key part of a label from source src (not an entry's value). */
static SeriesKeyPart raw_key_part(LabelRef *ref, int src, const TraceLine *tl, const EventFields *ef) {
        ref->source = src;
        switch (src) {
        case LABEL_SOURCE_COMM:
                return (SeriesKeyPart){ KEY_COMM, tl->comm };
        case LABEL_SOURCE_PID:
                return (SeriesKeyPart){ KEY_PID, { (const char *) &tl->pid, sizeof(tl->pid) } };
        case LABEL_SOURCE_TGID:
                return (SeriesKeyPart){ KEY_TGID, { (const char *) &tl->tgid, sizeof(tl->tgid) } };
        case LABEL_SOURCE_CPU:
                return (SeriesKeyPart){ KEY_CPU, { (const char *) &tl->cpu, sizeof(tl->cpu) } };
        case LABEL_SOURCE_CGROUP:
                return (SeriesKeyPart){ KEY_CGROUP, attrib_value(src, ef->cg) };
        case LABEL_SOURCE_UNIT:
                return (SeriesKeyPart){ KEY_UNIT, attrib_value(src, ef->cg) };
        case LABEL_SOURCE_USER_UNIT:
                return (SeriesKeyPart){ KEY_USER_UNIT, attrib_value(src, ef->cg) };
        case LABEL_SOURCE_CONTAINER:
                return (SeriesKeyPart){ KEY_CONTAINER, attrib_value(src, ef->cg) };
        case LABEL_SOURCE_NAMED:
                return (SeriesKeyPart){ KEY_EMPTY, { "", 0 } };
        }
        return (SeriesKeyPart){ KEY_FIELD, ef->values[src] };
}

/* The series of this event's label set: found by its raw tuple when seen
 * before, else decoded. entry: the matched entry's saved values (latency
 * metrics), or NULL. */
static Series *metric_series(MetricPlan *plan, const TraceLine *tl, const EventFields *ef, const PendingMatch *entry) {
        LabelRef refs[PIPELINE_MAX_FIELDS];
        SeriesKeyPart key[PIPELINE_MAX_FIELDS];
        static char long_scratch[PIPELINE_MAX_FIELDS][DECODE_SCRATCH];
        size_t n = plan->n_labels < PIPELINE_MAX_FIELDS ? plan->n_labels : PIPELINE_MAX_FIELDS;
        size_t key_size = 0;

        key[0] = (SeriesKeyPart){ 0 }; /* read by no one when n is 0; gcc cannot tell */
        for (size_t l = 0; l < n; l++) {
                int src = plan->label_source[l];
                if (src == LABEL_SOURCE_NAMED) {
                        int f = find_named_field(ef, plan->label_names[l]);
                        src = f >= 0 ? f : plan->label_fallback[l];
                } else if (src >= 0 && (size_t) src >= ef->n)
                        src = LABEL_SOURCE_NAMED; /* past PIPELINE_MAX_FIELDS: empty */
                if (src == LABEL_SOURCE_NAMED && entry && plan->entry_slot && plan->entry_slot[l] >= 0 &&
                    (size_t) plan->entry_slot[l] < entry->n_values) {
                        refs[l] = (LabelRef){ LABEL_SOURCE_ENTRY, entry->values[plan->entry_slot[l]],
                                              plan->entry_decoder[l] };
                        key[l] = (SeriesKeyPart){ KEY_ENTRY, refs[l].saved };
                } else
                        key[l] = raw_key_part(&refs[l], src, tl, ef);
                /* A raw value longer than a label may be is keyed by what
                 * its label depends on (label_cut()): its decoded value, or
                 * the first max_label_bytes of that. So no part is longer,
                 * and the cut is made once per such key, not per event. */
                if (key[l].bytes.n > plan->max_label_bytes) {
                        bool longer;
                        StrView v = label_cut_key(label_value(&refs[l], tl, ef, long_scratch[l]),
                                                  plan->max_label_bytes, &longer);
                        key[l] = (SeriesKeyPart){ longer ? KEY_DECODED_CUT : KEY_DECODED, v };
                }
                key_size += 5 + key[l].bytes.n;
        }

        /* A key too long to be held is never looked up. */
        bool keyed = key_size <= series_cache_max_key(plan->cache);
        uint64_t hash = 0;
        if (keyed) {
                Series *s = series_cache_get(plan->cache, key, n, &hash);
                if (s)
                        return s;
        }
        Series *s = metric_lookup_decoded(plan, n, refs, tl, ef);
        /* Refusals are not remembered: each one is counted again by the
         * family, as it must be. */
        if (s && keyed)
                series_cache_put(plan->cache, hash, key, n, s);
        return s;
}

/* A number as the kernel prints one: decimal, signed or not, or 0x hex
 * (unsigned). */
static bool parse_number(StrView v, double *ret) {
        int64_t i;
        uint64_t u;
        if (v.n > 2 && v.p[0] == '0' && (v.p[1] == 'x' || v.p[1] == 'X')) {
                if (parse_u64(v, &u) < 0)
                        return false;
                *ret = (double) u;
                return true;
        }
        if (parse_i64(v, &i) == 0) {
                *ret = (double) i;
                return true;
        }
        if (parse_u64(v, &u) == 0) {
                *ret = (double) u;
                return true;
        }
        return false;
}

/* The raw value of a field of this event (a FieldRef); false when the
 * event does not have it. decoder gets the field's decoder. */
static bool event_field(const FieldRef *ref, const EventFields *ef, StrView *ret, const Decoder **decoder) {
        int f = ref->index;
        if (f == LABEL_SOURCE_NAMED)
                f = find_named_field(ef, ref->name);
        if (f < 0 || (size_t) f >= ef->n)
                return false;
        *ret = ef->values[f];
        if (decoder)
                *decoder = ef->decoders ? ef->decoders[f] : NULL;
        return true;
}

static bool metric_value(const MetricPlan *plan, const EventFields *ef, double *ret) {
        StrView raw, v;
        const Decoder *d = NULL;
        char scratch[DECODE_SCRATCH];
        if (!event_field(&plan->value, ef, &raw, &d))
                return false;
        if (!d || d->kind == DECODER_NONE)
                return parse_number(raw, ret);
        if (!decoder_is_numeric(d) || decode_value(d, raw, scratch, &v) < 0)
                return false;
        return parse_number(v, ret);
}

/* A latency's match key from one event: each part a number (8 bytes,
 * whatever its spelling: an entry's u64 and a return's x64 agree) or the
 * bytes as printed. words holds the numbers. */
static bool match_key(const FieldRef *match, size_t n, const TraceLine *tl, const EventFields *ef,
                      SeriesKeyPart *key, uint64_t *words) {
        for (size_t i = 0; i < n; i++) {
                StrView raw;
                if (match[i].index == LABEL_SOURCE_PID) {
                        words[i] = (uint64_t) (int64_t) tl->pid;
                        key[i] = (SeriesKeyPart){ KEY_INT, { (const char *) &words[i], sizeof(uint64_t) } };
                        continue;
                }
                if (!event_field(&match[i], ef, &raw, NULL))
                        return false;
                int64_t sv;
                if (raw.n > 2 && raw.p[0] == '0' && (raw.p[1] == 'x' || raw.p[1] == 'X') && parse_u64(raw, &words[i]) == 0)
                        ;
                else if (parse_i64(raw, &sv) == 0)
                        words[i] = (uint64_t) sv;
                else if (parse_u64(raw, &words[i]) == 0)
                        ; /* above INT64_MAX */
                else {
                        key[i] = (SeriesKeyPart){ KEY_BYTES, raw };
                        continue;
                }
                key[i] = (SeriesKeyPart){ KEY_INT, { (const char *) &words[i], sizeof(uint64_t) } };
        }
        return true;
}

/* An entry's saved values become labels, cut to max_label_bytes after
 * decoding: of a longer raw value only its first bytes matter, so that
 * much is kept (a few bytes more, for a decoder's quotes and to know that
 * it is longer), and a pending entry holds at most that per label, not
 * the 4 KiB a fetched string can be. A quoted string keeps its closing
 * quote, so that it decodes as the string it is. */
static void save_within(Buf *scratch, StrView *saved, size_t n, size_t max_label_bytes) {
        size_t cap = max_label_bytes + 8, at[PIPELINE_MAX_FIELDS];
        bool any = false;

        buf_clear(scratch);
        for (size_t k = 0; k < n; k++) {
                at[k] = SIZE_MAX;
                if (saved[k].n <= cap)
                        continue;
                at[k] = scratch->len;
                if (sv_is_quoted(saved[k])) {
                        buf_append(scratch, saved[k].p, cap - 1);
                        buf_append(scratch, "\"", 1);
                } else
                        buf_append(scratch, saved[k].p, cap);
                any = true;
        }
        for (size_t k = 0; any && k < n; k++)
                if (at[k] != SIZE_MAX)
                        saved[k] = (StrView){ scratch->data + at[k], cap };
}

/* This probe's events start intervals of other probes' latency metrics. */
/* Whether every condition holds for this event: the field, as printed or
 * decoded, is the value. A field the event lacks fails it. */
static bool conditions_hold(const FieldRef *f, const StrView *want, size_t n, const EventFields *ef) {
        for (size_t i = 0; i < n; i++) {
                StrView v, decoded;
                const Decoder *d = NULL;
                char scratch[DECODE_SCRATCH];
                if (!event_field(&f[i], ef, &v, &d))
                        return false;
                if (sv_eq(v, want[i]))
                        continue;
                if (!d || decode_value(d, v, scratch, &decoded) < 0 || !sv_eq(decoded, want[i]))
                        return false;
        }
        return true;
}

static void push_entries(Buf *scratch, Probe *pr, const TraceLine *tl, const EventFields *ef, uint64_t ts_ns,
                         uint64_t seq) {
        for (size_t i = 0; i < pr->n_entries; i++) {
                EntryPlan *ep = &pr->entries[i];
                SeriesKeyPart key[PIPELINE_MAX_FIELDS];
                uint64_t words[PIPELINE_MAX_FIELDS];
                StrView saved[PIPELINE_MAX_FIELDS];
                if (!ep->metric->pending || ep->metric->kh.kernel || ep->n_match > PIPELINE_MAX_FIELDS ||
                    !conditions_hold(ep->start, ep->start_value, ep->n_start, ef) ||
                    !match_key(ep->match, ep->n_match, tl, ef, key, words))
                        continue;
                size_t n = ep->n_saved < PIPELINE_MAX_FIELDS ? ep->n_saved : PIPELINE_MAX_FIELDS;
                for (size_t k = 0; k < n; k++)
                        if (!event_field(&ep->saved[k], ef, &saved[k], NULL))
                                saved[k] = (StrView){ "", 0 };
                save_within(scratch, saved, n, ep->metric->max_label_bytes);
                pending_push(ep->metric->pending, key, ep->n_match, ts_ns, seq, saved, n);
        }
}

/* A latency metric's event: the interval since its entry, in seconds. */
static bool latency_pair(MetricPlan *plan, const TraceLine *tl, const EventFields *ef, uint64_t ts_ns,
                         PendingMatch *entry, double *ret) {
        SeriesKeyPart key[PIPELINE_MAX_FIELDS];
        uint64_t words[PIPELINE_MAX_FIELDS];
        if (plan->n_match > PIPELINE_MAX_FIELDS || !match_key(plan->match, plan->n_match, tl, ef, key, words) ||
            !pending_pop(plan->pending, key, plan->n_match, ts_ns, entry)) {
                plan->no_entry++;
                return false;
        }
        *ret = (double) (ts_ns - entry->ts_ns) * 1e-9;
        return true;
}

static void probe_count(Probe *pr, const TraceLine *tl, const EventFields *ef, uint64_t ts_ns, uint64_t seq) {
        for (size_t m = 0; m < pr->n_metrics; m++) {
                MetricPlan *plan = &pr->metrics[m];
                if (_unlikely_(!plan->family))
                        continue; /* adopted by a newer pipeline: see pipeline_adopt() */
                if (plan->kh.kernel)
                        continue; /* the kernel counts it */
                if (!conditions_hold(plan->when, plan->when_value, plan->n_when, ef))
                        continue; /* another kind of this probe's events */
                FamilyKind kind = family_kind(plan->family);
                double v = 0;
                PendingMatch entry, *matched = NULL;

                if (plan->pending) {
                        if (!conditions_hold(plan->end, plan->end_value, plan->n_end, ef))
                                continue; /* not an end: neither paired nor unmatched */
                        if (!latency_pair(plan, tl, ef, ts_ns, &entry, &v))
                                continue;
                        matched = &entry;
                } else if (plan->has_value && !metric_value(plan, ef, &v)) {
                        plan->rejected[REJECTED_NOT_A_NUMBER]++;
                        continue;
                }
                v *= plan->scale;
                if (kind == FAMILY_SUM && v < 0) {
                        plan->rejected[REJECTED_NEGATIVE]++; /* a counter never goes down */
                        continue;
                }
                Series *s = metric_series(plan, tl, ef, matched);
                if (!s)
                        continue;
                if (kind == FAMILY_COUNTER)
                        series_count(s, 1, seq, ts_ns);
                else
                        series_observe(plan->family, s, v, seq, ts_ns);
        }
}

/* "972.294794" (seconds, as trace_pipe prints them) in ns; 0 when it is
 * not a time (a counter clock prints a plain count: taken as ns). */
static uint64_t timestamp_ns(StrView t) {
        uint64_t sec = 0, frac = 0, scale = 1000000000;
        size_t i = 0;
        for (; i < t.n && t.p[i] >= '0' && t.p[i] <= '9'; i++)
                sec = sec * 10 + (uint64_t) (t.p[i] - '0');
        if (i < t.n && t.p[i] == '.') {
                for (i++; i < t.n && t.p[i] >= '0' && t.p[i] <= '9' && scale > 1; i++) {
                        scale /= 10;
                        frac += (uint64_t) (t.p[i] - '0') * scale;
                }
                return sec * 1000000000 + frac;
        }
        return sec;
}

/* What every reader hands over, after its own framing: the probe, the
 * header, and the fields as the kernel's text shows them. */
static const Probe *count_event(Pipeline *p, Probe *pr, TraceLine *tl, EventFields *ef, StrView backing,
                                uint64_t ts_ns) {
        char comm[64];
        if (ts_ns == 0)
                ts_ns = timestamp_ns(tl->timestamp);
        if (pr->config->role != ATTRIB_ROLE_NONE) {
                /* Forks and exits of every task on the host: no /proc reads
                 * for them. */
                pipeline_attrib_event(p, pr, tl->pid, tl->tgid, ef->names, ef->values, ef->n, ts_ns);
                if (pr->config->added) {
                        pr->events++;
                        return pr;
                }
        }
        /* A task's comm changes at exec: from this event on, what the
         * resolver has cached of it (read from /proc for an event of its
         * before the exec: the shell that forked it) is stale. */
        if (pr->is_exec && p->forget_comm)
                p->forget_comm(p->resolve_userdata, tl->pid);
        /* A probe that fetches comm itself ($comm) knows it exactly. */
        bool comm_unknown = pr->comm_field < 0 && (tl->comm.n == 0 || sv_eq(tl->comm, SV("<...>")));
        if (comm_unknown || tl->tgid < 0) {
                int32_t tgid;
                if (p->resolve_comm && p->resolve_comm(p->resolve_userdata, tl->pid, comm, sizeof(comm), &tgid)) {
                        if (comm_unknown)
                                tl->comm = sv_from(comm);
                        tl->tgid = tgid;
                } else if (comm_unknown) {
                        tl->comm = SV("<...>");
                        p->comm_unknown++;
                }
        }
        if (pr->comm_field >= 0 && (size_t) pr->comm_field < ef->n) {
                /* The string decoder only drops the quotes: a view into the line. */
                char scratch[DECODE_SCRATCH];
                (void) decode_value(pr->decoders[pr->comm_field], ef->values[pr->comm_field], scratch, &tl->comm);
        }
        pr->events++;
        ef->cg = p->attr && pr->needs_cgroup ? pipeline_task_cgroup(p, tl->pid, tl->tgid) : NULL;
        if (ts_ns > p->latest_ns)
                p->latest_ns = ts_ns;
        /* The seq ring_push() gives this event: the exemplar of what it hits. */
        uint64_t seq = ring_next_seq(p->ring);
        if (pr->n_entries > 0)
                push_entries(&p->entry_scratch, pr, tl, ef, ts_ns, seq);
        probe_count(pr, tl, ef, ts_ns, seq);
        if (!pr->config->events && !(pr->config->journal && p->journal))
                return pr;
        RingEventView view = {
                .probe = pr->id,
                .comm = tl->comm,
                .pid = tl->pid,
                .tgid = tl->tgid,
                .cpu = tl->cpu,
                .timestamp = tl->timestamp,
                .attributed = p->attr != NULL && pr->needs_cgroup,
                .cgroup_known = ef->cg != NULL,
                .cgroup = ef->cg ? ef->cg->path : (StrView){ "", 0 },
                .names = ef->names,
                .values = ef->values,
                .n_fields = ef->n,
                .decoders = ef->decoders,
                .backing = backing,
        };
        if (pr->config->journal && p->journal)
                p->journal(p->journal_userdata, pr, &view);
        if (pr->config->events)
                ring_push(p->ring, &view);
        return pr;
}

const Probe *pipeline_process_line(Pipeline *p, const char *line, size_t len) {
        TraceLine tl;
        p->lines++;
        if (traceline_parse(line, len, &tl) < 0) {
                p->parse_errors++;
                return NULL;
        }
        if (tl.kind == TRACE_LINE_LOST) {
                p->lost_reports++;
                p->lost_events += tl.lost;
                return NULL;
        }
        Probe *pr = pipeline_find_probe(p, &tl);
        if (!pr) {
                p->parse_errors++;
                return NULL;
        }
        /* Large; static is fine: one reader thread. */
        static EventFields ef;
        int r = pr->config->type == PROBE_TRACEPOINT ? event_fields_tracepoint(pr, &tl, &ef)
                                                     : event_fields_probe(pr, &tl, &ef);
        if (r < 0) {
                p->parse_errors++;
                return NULL;
        }
        return count_event(p, pr, &tl, &ef, (StrView){ line, len }, 0);
}

const Probe *pipeline_process_record(Pipeline *p, const Record *rec) {
        p->records++;
        if (rec->malformed || rec->probe >= p->n_probes || !p->probes[rec->probe].live) {
                p->parse_errors++;
                return NULL;
        }
        Probe *pr = &p->probes[rec->probe];
        TraceLine tl = {
                .kind = TRACE_LINE_EVENT,
                .comm = rec->comm,
                .pid = rec->pid,
                .tgid = rec->tgid,
                .cpu = rec->cpu,
                .timestamp = rec->timestamp,
                .event = pr->event,
                .form = pr->form,
        };
        /* kprobe kinds: all of the config's fields, in order; tracepoints:
         * what the record has, decoded by name. */
        bool tracepoint = pr->config->type == PROBE_TRACEPOINT;
        if (rec->n_fields > PIPELINE_MAX_FIELDS || (!tracepoint && rec->n_fields != pr->config->n_fields)) {
                p->parse_errors++;
                return NULL;
        }
        static EventFields ef;
        for (size_t i = 0; i < rec->n_fields; i++) {
                ef.names[i] = rec->names[i];
                ef.values[i] = rec->values[i];
        }
        ef.n = rec->n_fields;
        if (tracepoint)
                (void) tracepoint_decoders(pr, &ef);
        else
                ef.decoders = pr->decoders;
        return count_event(p, pr, &tl, &ef, rec->backing, rec->ts_ns);
}

void pipeline_count_lost(Pipeline *p, uint64_t lost, bool counted) {
        p->lost_reports++;
        if (counted)
                p->lost_events += lost;
}

/* ,"key":N (json_member_string is in events_json.c). */
static void json_member_u64(Buf *out, const char *key, uint64_t value) {
        buf_putc(out, ',');
        json_put_string(out, sv_from(key));
        buf_putc(out, ':');
        buf_put_u64(out, value);
}

void pipeline_render_probes(const Pipeline *p, const ProbeStatus *status, const KernelFeatures *kernel, Buf *out) {
        buf_puts(out, "{\"probes\":[");
        for (size_t i = 0; i < p->n_probes; i++) {
                const Probe *pr = &p->probes[i];
                const ProbeConfig *c = pr->config;
                ProbeStatus st = status ? status[i]
                                        : (ProbeStatus){ .state = pr->live ? "registered" : "pending", .streamed = -1 };
                buf_puts(out, i ? ",{" : "{");
                json_member_string(out, true, "name", c->name);
                json_member_string(out, false, "type", probe_type_to_string(c->type));
                json_member_string(out, false, "target", c->target);
                json_member_u64(out, "config_line", c->line);
                if (c->file) {
                        buf_puts(out, ",\"config_file\":");
                        json_put_string(out, sv_from(c->file));
                }
                json_member_string(out, false, "definition", st.definition);
                json_member_string(out, false, "filter", c->filter);
                json_member_string(out, false, "state", st.state);
                json_member_string(out, false, "error", st.error);
                json_member_u64(out, "events", pr->events);
                if (st.streamed >= 0) {
                        buf_puts(out, ",\"streamed\":");
                        buf_puts(out, st.streamed ? "true" : "false");
                }
                buf_puts(out, ",\"metrics\":[");
                for (size_t m = 0; m < pr->n_metrics; m++) {
                        const MetricPlan *mp = &pr->metrics[m];
                        buf_puts(out, m ? ",{" : "{");
                        json_member_string(out, true, "name", mp->config->name);
                        json_member_string(out, false, "aggregate", mp->kh.kernel ? "kernel" : "user");
                        json_member_string(out, false, "why", mp->kh.why);
                        if (mp->kh.kernel) {
                                buf_puts(out, ",\"triggers\":[");
                                for (size_t t = 0; t < mp->kh.n_triggers; t++) {
                                        buf_puts(out, t ? ",{" : "{");
                                        json_member_string(out, true, "event", mp->kh.triggers[t].event);
                                        json_member_string(out, false, "trigger", mp->kh.triggers[t].line);
                                        buf_putc(out, '}');
                                }
                                buf_putc(out, ']');
                                json_member_string(out, false, "synthetic_event", mp->kh.synth);
                        }
                        buf_putc(out, '}');
                }
                buf_putc(out, ']');
                buf_putc(out, '}');
        }
        buf_putc(out, ']');
        if (p->trace_clock) {
                buf_puts(out, ",\"trace_clock\":");
                json_put_string(out, sv_from(p->trace_clock));
        }
        if (p->attr) {
                /* Who did it: the hierarchy followed (its id in
                 * /proc/PID/cgroup: 0 the unified one), whether the kernel's
                 * events keep the table or /proc answers each event. */
                AttribStats as;
                attrib_stats(p->attr, &as);
                buf_puts(out, ",\"attribution\":{\"hierarchy\":");
                buf_put_i64(out, p->cgroup_root);
                buf_puts(out, p->attr_events ? ",\"source\":\"events\"" : ",\"source\":\"proc\"");
                json_member_u64(out, "tasks", as.tasks);
                json_member_u64(out, "cgroups", as.cgroups);
                buf_putc(out, '}');
        }
        if (kernel) {
                buf_puts(out, ",\"kernel\":");
                features_render_json(kernel, out);
        }
        buf_putc(out, '}');
}

static bool pipeline_has_probe(const Pipeline *p, const char *name) {
        for (size_t i = 0; i < p->n_names; i++)
                if (strcmp(p->names[i], name) == 0)
                        return true;
        return false;
}

int pipeline_render_events(const Pipeline *p, const EventQuery *q, Buf *out) {
        if (q->probe && !pipeline_has_probe(p, q->probe))
                return -ENOENT;
        events_render_page(p->ring, q, (const char *const *) p->names, p->n_names, out);
        return 0;
}

size_t pipeline_stream_events(const Pipeline *p, const EventQuery *q, uint64_t *cursor, Buf *out) {
        if (*cursor == UINT64_MAX) {
                *cursor = ring_next_seq(p->ring) - 1;
                return 0;
        }
        return events_render_stream(p->ring, q, cursor, 1024, (const char *const *) p->names, p->n_names, out);
}

void pipeline_set_live(Pipeline *p, size_t i, bool live) {
        if (i < p->n_probes)
                p->probes[i].live = live;
}

void pipeline_adopt(Pipeline *next, Pipeline *prev, const ReloadPlan *plan) {
        /* The name table: prev's names first, so ids in the ring stay valid. */
        char **names = prev->names;
        size_t n_names = prev->n_names;
        prev->names = NULL;
        prev->n_names = 0;
        for (size_t i = 0; i < next->n_names; i++) {
                size_t j;
                for (j = 0; j < n_names; j++)
                        if (strcmp(names[j], next->names[i]) == 0)
                                break;
                if (j == n_names) {
                        names = xrealloc(names, (n_names + 1) * sizeof(char *));
                        names[n_names++] = xstrdup(next->names[i]);
                }
                free(next->names[i]);
        }
        free(next->names);
        next->names = names;
        next->n_names = n_names;
        for (size_t i = 0; i < next->n_probes; i++)
                next->probes[i].id = pipeline_intern_name(next, next->probes[i].config->name);

        /* The ring always goes on, so its sequence numbers never restart.
         * Its events may still need prev's decoders, which go away with
         * prev: decode them now. */
        ring_materialize(prev->ring);
        ring_resize(prev->ring, ring_capacity(next->ring));
        ring_free(next->ring);
        next->ring = prev->ring;
        prev->ring = ring_new(1);

        next->lines = prev->lines;
        next->parse_errors = prev->parse_errors;
        next->lost_events = prev->lost_events;
        next->lost_reports = prev->lost_reports;
        next->comm_unknown = prev->comm_unknown;
        next->cgroup_root = prev->cgroup_root;
        next->resolve_cgroup = prev->resolve_cgroup;
        next->cgroup_userdata = prev->cgroup_userdata;
        next->journal = prev->journal;
        next->journal_userdata = prev->journal_userdata;
        next->cgroup_unknown = prev->cgroup_unknown;
        next->cgroup_from_proc = prev->cgroup_from_proc;
        next->attr_bad = prev->attr_bad;
        next->into_cgroup = prev->into_cgroup;
        /* What the table knows goes on while tasks are followed: the
         * attribution probes of both configs are the same events. */
        if (next->attr && prev->attr) {
                attrib_free(next->attr);
                next->attr = prev->attr;
                prev->attr = NULL;
                next->attr_seeded = prev->attr_seeded;
                next->attr_events = prev->attr_events;
        }
        next->latest_ns = prev->latest_ns;
        next->trace_clock = prev->trace_clock;

        for (size_t i = 0; i < next->n_probes && i < plan->n_new; i++) {
                ssize_t o = plan->probe_from[i];
                if (o < 0 || (size_t) o >= prev->n_probes)
                        continue;
                Probe *np = &next->probes[i], *op = &prev->probes[o];
                np->live = op->live;
                np->events = op->events;
                np->journal_sent = op->journal_sent;
                np->journal_dropped = op->journal_dropped;
                np->journal_failed = op->journal_failed;
                np->journal_window_usec = op->journal_window_usec;
                np->journal_in_window = op->journal_in_window;
                for (size_t m = 0; m < np->n_metrics; m++) {
                        ssize_t k = plan->metric_from[i][m];
                        if (k < 0 || (size_t) k >= op->n_metrics || !op->metrics[k].family)
                                continue;
                        /* next's raw-tuple cache is empty: it never saw a line. */
                        MetricPlan *nm = &np->metrics[m], *om = &op->metrics[k];
                        /* The kernel's counts go on only in the trigger
                         * that made them; a metric moving between kernel
                         * and user starts again. */
                        if (!khist_plan_same(&nm->kh, &om->kh))
                                continue;
                        nm->kh_live = om->kh_live;
                        nm->kh_bad = om->kh_bad;
                        nm->kh_reads_failed = om->kh_reads_failed;
                        family_set_max_series(om->family, next->config->max_series);
                        family_free(nm->family);
                        nm->family = om->family;
                        om->family = NULL;
                        memcpy(nm->rejected, om->rejected, sizeof(nm->rejected));
                        nm->labels_cut = om->labels_cut;
                        /* Entries in flight pair with the returns still to come. */
                        if (nm->pending && om->pending) {
                                pending_free(nm->pending);
                                nm->pending = om->pending;
                                om->pending = NULL;
                                nm->no_entry = om->no_entry;
                                pending_set_limits(nm->pending, nm->config->max_pending,
                                                   (uint64_t) (nm->config->pending_timeout * 1e9));
                        }
                }
        }
}
