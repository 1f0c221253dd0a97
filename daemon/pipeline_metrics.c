/* /metrics of a pipeline: the users' metrics, and the daemon's own
 * counters of the pipeline (events, series, refusals, cuts, pairing,
 * rejected values, lines, parse errors, losses). Pure code. */
#include "pipeline.h"

void pipeline_render_metrics(Pipeline *p, Expo *out) {
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++)
                        if (p->probes[i].metrics[m].pending)
                                pending_expire(p->probes[i].metrics[m].pending, p->latest_ns);
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++)
                        family_render(p->probes[i].metrics[m].family, out);

        static const char *const probe_label[] = { "probe" };
        static const char *const metric_label[] = { "metric" };

        expo_put_header(out, "kprobe_exporter_events_total", "counter", "Events read from trace_pipe, per probe.");
        for (size_t i = 0; i < p->n_probes; i++)
                expo_put_sample_u64(out, "kprobe_exporter_events_total", probe_label,
                                    (StrView[]){ sv_from(p->probes[i].config->name) }, 1, p->probes[i].events);

        expo_put_header(out, "kprobe_exporter_probe_up", "gauge",
                        "1 if the probe is registered and enabled, 0 if it failed or this kernel cannot run it (see /probes).");
        for (size_t i = 0; i < p->n_probes; i++)
                expo_put_sample_u64(out, "kprobe_exporter_probe_up", probe_label,
                                    (StrView[]){ sv_from(p->probes[i].config->name) }, 1, p->probes[i].live);

        expo_put_header(out, "kprobe_exporter_series", "gauge", "Label sets currently held, per metric.");
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++) {
                        const Family *f = p->probes[i].metrics[m].family;
                        expo_put_sample_u64(out, "kprobe_exporter_series", metric_label,
                                            (StrView[]){ sv_from(family_name(f)) }, 1, family_series(f));
                }

        expo_put_header(out, "kprobe_exporter_series_refused_total", "counter",
                        "Events whose new label set was not created because the metric had max_series.");
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++) {
                        const Family *f = p->probes[i].metrics[m].family;
                        expo_put_sample_u64(out, "kprobe_exporter_series_refused_total", metric_label,
                                            (StrView[]){ sv_from(family_name(f)) }, 1, family_refused(f));
                }

        expo_put_header(out, "kprobe_exporter_label_values_cut_total", "counter",
                        "Label values longer than max_label_bytes, cut to it (once per new raw label set).");
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++) {
                        const MetricPlan *plan = &p->probes[i].metrics[m];
                        expo_put_sample_u64(out, "kprobe_exporter_label_values_cut_total", metric_label,
                                            (StrView[]){ sv_from(plan->config->name) }, 1, plan->labels_cut);
                }

        expo_put_header(out, "kprobe_exporter_metric_in_kernel", "gauge",
                        "1 if the kernel counts the metric (a hist trigger, read at scrapes), 0 if the daemon counts "
                        "its events; /probes says why.");
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++) {
                        const MetricPlan *plan = &p->probes[i].metrics[m];
                        expo_put_sample_u64(out, "kprobe_exporter_metric_in_kernel", metric_label,
                                            (StrView[]){ sv_from(plan->config->name) }, 1, plan->kh.kernel && plan->kh_live);
                }

        static const char *const reason_labels[] = { "metric", "reason" };
        bool any_kernel = false;
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++)
                        any_kernel |= p->probes[i].metrics[m].kh.kernel;
        if (any_kernel)
                expo_put_header(out, "kprobe_exporter_hist_errors_total", "counter",
                                "Kernel-counted metrics' hist files that could not be read or parsed at a scrape "
                                "(the metric kept its last values), and entries in them that did not parse.");
        for (size_t i = 0; any_kernel && i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++) {
                        const MetricPlan *plan = &p->probes[i].metrics[m];
                        if (!plan->kh.kernel)
                                continue;
                        expo_put_sample_u64(out, "kprobe_exporter_hist_errors_total", reason_labels,
                                            (StrView[]){ sv_from(plan->config->name), SV("read") }, 2,
                                            plan->kh_reads_failed);
                        expo_put_sample_u64(out, "kprobe_exporter_hist_errors_total", reason_labels,
                                            (StrView[]){ sv_from(plan->config->name), SV("entry") }, 2, plan->kh_bad);
                }
        static const char *const unmatched_reason[_UNMATCHED_MAX] = { "no_entry", "evicted", "expired" };
        bool header = false;
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++) {
                        const MetricPlan *plan = &p->probes[i].metrics[m];
                        if (!plan->pending)
                                continue;
                        if (!header)
                                expo_put_header(out, "kprobe_exporter_unmatched_total", "counter",
                                                "Events of a latency metric that were not paired with an entry: none "
                                                "was pending (no_entry), or it was dropped for max_pending (evicted) or "
                                                "pending_timeout (expired).");
                        header = true;
                        uint64_t n[_UNMATCHED_MAX] = { plan->no_entry, pending_evicted(plan->pending),
                                                       pending_expired(plan->pending) };
                        for (size_t r = 0; r < _UNMATCHED_MAX; r++)
                                expo_put_sample_u64(out, "kprobe_exporter_unmatched_total", reason_labels,
                                                    (StrView[]){ sv_from(plan->config->name), sv_from(unmatched_reason[r]) },
                                                    2, n[r]);
                }
        static const char *const rejected_reason[_REJECTED_MAX] = { "not_a_number", "negative" };
        header = false;
        for (size_t i = 0; i < p->n_probes; i++)
                for (size_t m = 0; m < p->probes[i].n_metrics; m++) {
                        const MetricPlan *plan = &p->probes[i].metrics[m];
                        if (!plan->has_value)
                                continue;
                        if (!header)
                                expo_put_header(out, "kprobe_exporter_values_rejected_total", "counter",
                                                "Events whose 'value' field was not a number, or was negative for a "
                                                "counter (which never goes down): not counted.");
                        header = true;
                        for (size_t r = 0; r < _REJECTED_MAX; r++)
                                expo_put_sample_u64(out, "kprobe_exporter_values_rejected_total", reason_labels,
                                                    (StrView[]){ sv_from(plan->config->name), sv_from(rejected_reason[r]) },
                                                    2, plan->rejected[r]);
                }

        expo_put_counter(out, "kprobe_exporter_trace_lines_total",
                         "Lines read from trace_pipe (text reader).",
                         p->lines);
        expo_put_counter(out, "kprobe_exporter_records_total",
                         "Records read from trace_pipe_raw (binary reader) of our probes' events.",
                         p->records);
        expo_put_counter(out, "kprobe_exporter_parse_errors_total",
                         "trace_pipe lines or trace_pipe_raw records that could not be parsed or matched no running probe.",
                         p->parse_errors);
        expo_put_counter(out, "kprobe_exporter_comm_unknown_total",
                         "Events whose process name neither the kernel nor /proc knew (comm \"<...>\").",
                         p->comm_unknown);
        expo_put_counter(out, "kprobe_exporter_lost_events_total",
                         "Events the kernel reported lost: missed-events counts of trace_pipe_raw pages, or \"[LOST N EVENTS]\" lines of trace_pipe.",
                         p->lost_events);
        expo_put_counter(out, "kprobe_exporter_lost_event_reports_total",
                         "Reports of lost events (pages with a missed-events mark, \"[LOST EVENTS]\" lines), with or without a count.",
                         p->lost_reports);
        pipeline_render_attrib_metrics(p, out);
}
