/* The pipeline's side of kernel aggregation (khist.h): which metrics the
 * kernel counts, which probes must still stream, and a scrape's hist file
 * turned into the same families the events would have filled: keys
 * decoded by the probe's decoders and cut to max_label_bytes, exactly as
 * an event's raw values are. */
#include <errno.h>

#include "decode.h"
#include "labelcut.h"
#include "pipeline.h"

void pipeline_plan_kernel(Pipeline *p, const KernelFeatures *k, const char *group, const char *clock) {
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++) {
                        MetricPlan *plan = &p->probes[i].metrics[m];
                        khist_plan_done(&plan->kh);
                        khist_plan(p->config, i, m, k, group, clock, &plan->kh);
                        plan->kh_live = false;
                }
}

bool pipeline_probe_streams(const Pipeline *p, size_t i) {
        const Probe *pr = &p->probes[i];
        if (pr->config->events || pr->config->journal || pr->config->role != ATTRIB_ROLE_NONE)
                return true;
        for (size_t m = 0; m < pr->n_metrics; m++)
                if (!pr->metrics[m].kh.kernel)
                        return true;
        for (size_t e = 0; e < pr->n_entries; e++)
                if (!pr->entries[e].metric->kh.kernel)
                        return true;
        return false;
}

typedef struct Apply {
        const Pipeline *p;
        const Probe *pr;
        MetricPlan *plan;
        const Decoder *decoders[KHIST_MAX_KEYS];
} Apply;

static const Decoder *key_decoder(const Pipeline *p, const Probe *pr, const MetricPlan *plan, const char *field) {
        for (size_t i = 0; i < pr->config->n_fields; i++)
                if (strcmp(pr->config->fields[i], field) == 0)
                        return pr->decoders[i];
        if (plan->kh.entry_probe >= 0 && (size_t) plan->kh.entry_probe < p->n_probes) {
                const Probe *e = &p->probes[plan->kh.entry_probe];
                for (size_t i = 0; i < e->config->n_fields; i++)
                        if (strcmp(e->config->fields[i], field) == 0)
                                return e->decoders[i];
        }
        return NULL;
}

static void apply_entry(void *userdata, const KhEntry *e) {
        Apply *a = userdata;
        MetricPlan *plan = a->plan;
        const KhPlan *kh = &plan->kh;
        static char raw[KHIST_MAX_KEYS][32], scratch[KHIST_MAX_KEYS][DECODE_SCRATCH];
        static Buf clean[KHIST_MAX_KEYS];
        StrView values[KHIST_MAX_KEYS] = { 0 };
        size_t bucket = 0;
        uint64_t n_cut = 0;

        for (size_t i = 0; i < kh->n_keys; i++) {
                const KhKey *k = &kh->keys[i];
                if (k->kind == KH_KEY_LOG2 || k->kind == KH_KEY_BUCKETS) {
                        bucket = khist_bucket(kh, e->num[i]);
                        continue;
                }
                if (k->label < 0 || (size_t) k->label >= plan->n_labels)
                        continue; /* a key only there to have one: summed over */
                StrView v;
                if (k->kind == KH_KEY_STR) {
                        v = e->str[i];
                        if (a->decoders[i] && a->decoders[i]->kind != DECODER_STRING)
                                (void) decode_value(a->decoders[i], e->str[i], scratch[i], &v);
                } else {
                        StrView in = { raw[i], khist_key_text(k, e->num[i], raw[i]) };
                        (void) decode_value(a->decoders[i], in, scratch[i], &v);
                }
                bool cut;
                values[k->label] = label_cut(v, plan->max_label_bytes, &clean[i], &cut);
                n_cut += cut;
        }
        Series *s = family_lookup_series(plan->family, values);
        if (!s)
                return;
        plan->labels_cut += n_cut;
        series_add_observations(plan->family, s, bucket, e->hitcount, (double) e->sum * kh->unit);
}

int pipeline_apply_hist(Pipeline *p, size_t probe, size_t metric, const char *text, size_t len) {
        if (probe >= p->n_probes || metric >= p->probes[probe].n_metrics)
                return -EINVAL;
        Probe *pr = &p->probes[probe];
        MetricPlan *plan = &pr->metrics[metric];
        if (!plan->family || plan->n_labels > KHIST_MAX_KEYS)
                return -EINVAL;
        Apply a = { p, pr, plan, { 0 } };
        for (size_t i = 0; i < plan->kh.n_keys; i++)
                a.decoders[i] = key_decoder(p, pr, plan, plan->kh.keys[i].name);

        /* Parsed first: a text that is not what the kernel writes leaves the
         * family as the last good one made it. */
        KhTotals t;
        int r = khist_parse(&plan->kh, text, len, NULL, NULL, &t);
        if (r < 0) {
                plan->kh_reads_failed++;
                return r;
        }
        family_zero(plan->family);
        uint64_t cut = plan->labels_cut;
        plan->labels_cut = 0;
        r = khist_parse(&plan->kh, text, len, apply_entry, &a, &t);
        /* labels_cut counts the values cut now, not once per scrape. */
        plan->labels_cut = plan->labels_cut > cut ? plan->labels_cut : cut;
        plan->kh_bad = t.bad;
        family_set_refused(plan->family, t.dropped);
        return r;
}

void pipeline_hist_unread(Pipeline *p, size_t probe, size_t metric) {
        if (probe < p->n_probes && metric < p->probes[probe].n_metrics)
                p->probes[probe].metrics[metric].kh_reads_failed++;
}
