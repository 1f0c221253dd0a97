/* Fuzz target: the whole input as a YAML config through
 * config_load_string(). Errors are written (to /dev/null) as the daemon
 * prints them, with the source line and caret; a config that loads is
 * checked against what the loader promises and then built into a
 * Pipeline, which is rendered and freed, so anything the loader lets
 * through must also be safe for the rest of the daemon. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "pipeline.h"

static FILE *devnull(void) {
        static FILE *f;
        if (!f)
                f = fopen("/dev/null", "we");
        fuzz_check(f);
        return f;
}

static void check_config(const Config *c) {
        fuzz_check(c->path && strcmp(c->path, "fuzz.yaml") == 0);
        fuzz_check(c->n_probes > 0);
        fuzz_check(c->max_label_bytes >= CONFIG_MAX_LABEL_BYTES_MIN && c->max_label_bytes <= CONFIG_MAX_LABEL_BYTES_MAX);
        for (size_t i = 0; i < c->n_probes; i++) {
                const ProbeConfig *p = &c->probes[i];
                fuzz_check(p->name && name_is_valid(p->name));
                fuzz_check((unsigned) p->type < _PROBE_TYPE_MAX);
                fuzz_check(p->target);
                fuzz_check(probe_type_to_string(p->type));
                fuzz_check(p->type != PROBE_TRACEPOINT || p->n_fetch == 0);
                for (size_t k = 0; k < p->n_fetch; k++)
                        fuzz_check(p->fetch[k] && strchr(p->fetch[k], '='));
                for (size_t k = 0; k < p->n_fields; k++)
                        fuzz_check(p->fields[k] && name_is_valid(p->fields[k]));
                for (size_t k = 0; k < p->n_decoders; k++) {
                        const Decoder *d = &p->decoders[k];
                        fuzz_check((unsigned) d->kind < _DECODER_KIND_MAX);
                        fuzz_check(decoder_kind_to_string(d->kind));
                        fuzz_check(d->kind == DECODER_MAP || d->n_map == 0);
                        for (size_t m = 0; m < d->n_map; m++)
                                fuzz_check(d->map[m].to);
                        if (d->field)
                                fuzz_check(probe_find_decoder(p, d->field));
                }
                for (size_t m = 0; m < p->n_metrics; m++) {
                        const MetricConfig *mc = &p->metrics[m];
                        fuzz_check(mc->name && metric_name_is_valid(mc->name));
                        fuzz_check(mc->help);
                        for (size_t l = 0; l < mc->n_labels; l++)
                                fuzz_check(mc->labels[l]);
                        fuzz_check(metric_type_to_string(mc->type));
                        fuzz_check(mc->type == METRIC_HISTOGRAM ? mc->n_buckets > 0 : mc->n_buckets == 0);
                        for (size_t b = 0; b < mc->n_buckets; b++) {
                                fuzz_check(isfinite(mc->buckets[b]) && mc->bucket_text[b]);
                                fuzz_check(b == 0 || mc->buckets[b] > mc->buckets[b - 1]);
                        }
                        fuzz_check(mc->scale != 0 && isfinite(mc->scale));
                        fuzz_check(!mc->latency_from.name || (mc->type == METRIC_HISTOGRAM && !mc->value.name));
                        fuzz_check(!mc->latency_from.name || config_find_probe(c, mc->latency_from.name));
                        fuzz_check(mc->n_match == 0 || mc->latency_from.name);
                        fuzz_check(mc->max_label_bytes == 0 || (mc->max_label_bytes >= CONFIG_MAX_LABEL_BYTES_MIN &&
                                                                mc->max_label_bytes <= CONFIG_MAX_LABEL_BYTES_MAX));
                        fuzz_check(config_max_label_bytes(c, mc) == (mc->max_label_bytes ? mc->max_label_bytes
                                                                                          : c->max_label_bytes));
                }
                if (p->filter)
                        fuzz_check(!strchr(p->filter, '\n'));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        ConfigErrors errs = { 0 };
        Config *c = NULL;

        int r = config_load_string("fuzz.yaml", text, size, &c, &errs);
        if (r < 0) {
                fuzz_check(!c);
                fuzz_check(errs.n > 0);
                for (size_t i = 0; i < errs.n; i++)
                        fuzz_check(errs.items[i].message);
                config_errors_write(&errs, "fuzz.yaml", text, size, devnull());
                config_errors_write(&errs, "fuzz.yaml", NULL, 0, devnull());
                config_errors_clear(&errs);
                fuzz_check(errs.n == 0);
                return 0;
        }
        fuzz_check(r == 0 && c);
        /* Warnings may come with success; they print the same way. */
        config_errors_write(&errs, "fuzz.yaml", text, size, devnull());
        config_errors_clear(&errs);
        check_config(c);

        Pipeline *p = NULL;
        fuzz_check(pipeline_new(c, NULL, NULL, &p) == 0 && p);
        Buf out = { 0 };
        pipeline_render_metrics(p, &(Expo){ .out = &out });
        pipeline_render_probes(p, NULL, NULL, &out);
        buf_free(&out);
        pipeline_free(p);
        return 0;
}
