#include "reload_plan.h"

#include <string.h>

#include "util.h"

static bool decoder_same(const Decoder *a, const Decoder *b) {
        if (!a || !b)
                return !a && !b;
        if (a->kind != b->kind || a->n_map != b->n_map)
                return false;
        for (size_t i = 0; i < a->n_map; i++)
                if (strcmp(a->map[i].from, b->map[i].from) != 0 || strcmp(a->map[i].to, b->map[i].to) != 0)
                        return false;
        return true;
}

bool probe_kernel_side_same(const ProbeConfig *a, const ProbeConfig *b) {
        return strcmp(a->name, b->name) == 0 && a->type == b->type && strcmp(a->target, b->target) == 0 &&
               str_equal_or_null(a->filter, b->filter) && strv_equal(a->fetch, a->n_fetch, b->fetch, b->n_fetch);
}

static bool conditions_same(const Condition *a, size_t na, const Condition *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (strcmp(a[i].field.name, b[i].field.name) != 0 || strcmp(a[i].value, b[i].value) != 0)
                        return false;
        return true;
}

static bool match_same(const MetricConfig *a, const MetricConfig *b) {
        if (a->n_match != b->n_match || !conditions_same(a->start, a->n_start, b->start, b->n_start) ||
            !conditions_same(a->when, a->n_when, b->when, b->n_when) ||
            !conditions_same(a->end, a->n_end, b->end, b->n_end))
                return false;
        for (size_t i = 0; i < a->n_match; i++)
                if (strcmp(a->match[i].name, b->match[i].name) != 0)
                        return false;
        return true;
}

/* The same numbers from the same events: what is counted or observed, in
 * which buckets, and from which entries. (max_pending and pending_timeout
 * may change: the table takes the new limits.) */
static bool measure_same(const ProbeConfig *pa, const MetricConfig *a, const ProbeConfig *pb, const MetricConfig *b) {
        if (a->type != b->type || a->scale != b->scale || !str_equal_or_null(a->value.name, b->value.name) ||
            !str_equal_or_null(a->latency_from.name, b->latency_from.name) || !match_same(a, b) ||
            a->n_buckets != b->n_buckets)
                return false;
        for (size_t i = 0; i < a->n_buckets; i++)
                if (a->buckets[i] != b->buckets[i] || strcmp(a->bucket_text[i], b->bucket_text[i]) != 0)
                        return false;
        return !a->value.name ||
               decoder_same(probe_find_decoder(pa, a->value.name), probe_find_decoder(pb, b->value.name));
}

/* The same label values come out of the same events. */
static bool metric_same(const ProbeConfig *pa, const MetricConfig *a, const ProbeConfig *pb, const MetricConfig *b) {
        if (strcmp(a->name, b->name) != 0 || !str_equal_or_null(a->help, b->help) ||
            !strv_equal(a->labels, a->n_labels, b->labels, b->n_labels) || !measure_same(pa, a, pb, b))
                return false;
        for (size_t l = 0; l < a->n_labels; l++)
                if (strcmp(metric_label_field(a, l), metric_label_field(b, l)) != 0 ||
                    !decoder_same(probe_find_decoder(pa, metric_label_field(a, l)),
                                  probe_find_decoder(pb, metric_label_field(b, l))))
                        return false;
        return true;
}

void reload_plan_compute(const Config *old, const bool *old_live, const Config *next, ReloadPlan *plan) {
        *plan = (ReloadPlan){ .n_old = old->n_probes, .n_new = next->n_probes };
        plan->probe_from = xcalloc(next->n_probes ? next->n_probes : 1, sizeof(ssize_t));
        plan->metric_from = xcalloc(next->n_probes ? next->n_probes : 1, sizeof(ssize_t *));
        plan->remove = xcalloc(old->n_probes ? old->n_probes : 1, sizeof(bool));
        for (size_t o = 0; o < old->n_probes; o++)
                plan->remove[o] = true;

        for (size_t i = 0; i < next->n_probes; i++) {
                const ProbeConfig *np = &next->probes[i];
                plan->probe_from[i] = -1;
                plan->metric_from[i] = xcalloc(np->n_metrics ? np->n_metrics : 1, sizeof(ssize_t));
                for (size_t m = 0; m < np->n_metrics; m++)
                        plan->metric_from[i][m] = -1;

                /* Names are unique in a config: at most one old probe can match. */
                for (size_t o = 0; o < old->n_probes; o++) {
                        const ProbeConfig *op = &old->probes[o];
                        /* One this kernel lacks something for is never kept. */
                        if (!old_live[o] || !plan->remove[o] || np->kernel_lacks || !probe_kernel_side_same(op, np))
                                continue;
                        plan->probe_from[i] = (ssize_t) o;
                        plan->remove[o] = false;
                        for (size_t m = 0; m < np->n_metrics; m++)
                                for (size_t k = 0; k < op->n_metrics; k++)
                                        if (metric_same(op, &op->metrics[k], np, &np->metrics[m])) {
                                                plan->metric_from[i][m] = (ssize_t) k;
                                                plan->metrics_kept++;
                                                break;
                                        }
                        break;
                }
                if (plan->probe_from[i] >= 0)
                        plan->kept++;
                else
                        plan->added++;
        }
        for (size_t o = 0; o < old->n_probes; o++)
                plan->removed += plan->remove[o];
        plan->recent_events_changed = old->recent_events != next->recent_events;
        plan->listen_changed = next->listen && !str_equal_or_null(next->listen, old->listen);
}

void reload_plan_done(ReloadPlan *plan) {
        if (!plan)
                return;
        for (size_t i = 0; i < plan->n_new; i++)
                free(plan->metric_from[i]);
        free(plan->metric_from);
        free(plan->probe_from);
        free(plan->remove);
        *plan = (ReloadPlan){ 0 };
}
