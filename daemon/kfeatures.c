#include "kfeatures.h"

#include <stdio.h>

#include "events_json.h"
#include "expo.h"

typedef struct FeatureInfo {
        const char *name;
        const char *description;
        /* What README says when the kernel has it (NULL: a file tells). */
        const char *readme_marker;
} FeatureInfo;

static const FeatureInfo features[_FEATURE_MAX] = {
        [FEATURE_KPROBE_EVENTS] = { "kprobe_events", "kprobe events (CONFIG_KPROBE_EVENTS)", NULL },
        [FEATURE_UPROBE_EVENTS] = { "uprobe_events", "uprobe events (CONFIG_UPROBE_EVENTS)", NULL },
        /* The fetcharg list's words, not the bare "$arg<N>": newer
         * READMEs name it also in the return probes' line, whether or not
         * the architecture has function-argument access. */
        [FEATURE_ARG_N] = { "arg_n", "$arg<N> fetch args (Linux 4.20+, on architectures with function-argument access)",
                            "$retval, $comm, $arg<N>" },
        [FEATURE_USER_DEREF] = { "user_deref", "+u user-memory dereference (Linux 5.3+)", "[u]<offset>" },
        [FEATURE_USTRING] = { "ustring", "the ustring fetch type (Linux 5.3+)", "ustring" },
        [FEATURE_ARRAY] = { "array", "array fetch types TYPE[N]", "<array-size>" },
        [FEATURE_COMM] = { "comm", "the $comm fetch arg", "$comm" },
        [FEATURE_HIST_TRIGGERS] = { "hist_triggers", "hist triggers (CONFIG_HIST_TRIGGERS)", "hist trigger" },
        [FEATURE_RETPROBE_ARG_N] = { "retprobe_arg_n", "$arg<N> in kretprobes (the function's arguments at its return)",
                                     "kernel return probes support: $retval, $arg<N>" },
        [FEATURE_ERROR_LOG] = { "error_log", "tracefs error_log (Linux 5.2+)", NULL },
        [FEATURE_OPTION_FIELDS] = { "option_fields", "the trace option 'fields'", NULL },
        [FEATURE_OPTION_RECORD_TGID] = { "option_record_tgid", "the trace option 'record-tgid'", NULL },
        [FEATURE_OPTION_IRQ_INFO] = { "option_irq_info", "the trace option 'irq-info'", NULL },
        [FEATURE_OPTION_CONTEXT_INFO] = { "option_context_info", "the trace option 'context-info'", NULL },
        [FEATURE_HIST_BUCKETS] = { "hist_buckets", "hist keys in linear groups, .buckets=size (Linux 5.16+)",
                                   ".buckets=size" },
};

const char *feature_name(Feature f) {
        return f < _FEATURE_MAX ? features[f].name : "unknown";
}

const char *feature_description(Feature f) {
        return f < _FEATURE_MAX ? features[f].description : "unknown";
}

void features_from_readme(KernelFeatures *k, const char *readme) {
        for (Feature f = 0; f < _FEATURE_MAX; f++)
                if (features[f].readme_marker)
                        k->state[f] = !readme                                 ? FEATURE_UNKNOWN
                                      : strstr(readme, features[f].readme_marker) ? FEATURE_YES
                                                                                  : FEATURE_NO;
}

/* What one fetch arg "NAME=FETCHARG[:TYPE]" needs, as a bit per Feature. */
static unsigned fetch_needs(const char *arg, ProbeType probe_type) {
        const char *expr = strchr(arg, '=');
        expr = expr ? expr + 1 : arg;
        const char *type = strrchr(expr, ':');
        const char *end = type ? type : expr + strlen(expr);
        unsigned needs = 0;
        for (const char *s = expr; s < end; s++) {
                /* A uprobe's $argN reaches the kernel as a register
                 * (uprobe_fetch_arg_translate()). */
                if (strncmp(s, "$arg", 4) == 0 && s[4] >= '0' && s[4] <= '9' &&
                    (probe_type == PROBE_KPROBE || probe_type == PROBE_KRETPROBE))
                        needs |= 1u << FEATURE_ARG_N;
                if ((s[0] == '+' || s[0] == '-') && s[1] == 'u' && s[2] >= '0' && s[2] <= '9')
                        needs |= 1u << FEATURE_USER_DEREF;
                if (strncmp(s, "$comm", 5) == 0 || strncmp(s, "$COMM", 5) == 0)
                        needs |= 1u << FEATURE_COMM;
        }
        if ((needs & (1u << FEATURE_ARG_N)) && probe_type == PROBE_KRETPROBE)
                needs |= 1u << FEATURE_RETPROBE_ARG_N;
        if (type && strncmp(type + 1, "ustring", 7) == 0)
                needs |= 1u << FEATURE_USTRING;
        if (type && strchr(type, '['))
                needs |= 1u << FEATURE_ARRAY;
        return needs;
}

Feature features_probe_missing(const KernelFeatures *k, const ProbeConfig *p, const char **ret_what) {
        Feature kind = _FEATURE_MAX;
        if (p->type == PROBE_KPROBE || p->type == PROBE_KRETPROBE)
                kind = FEATURE_KPROBE_EVENTS;
        else if (p->type == PROBE_UPROBE || p->type == PROBE_URETPROBE)
                kind = FEATURE_UPROBE_EVENTS;
        if (ret_what)
                *ret_what = NULL;
        if (kind == _FEATURE_MAX)
                return _FEATURE_MAX;
        if (k->state[kind] == FEATURE_NO)
                return kind;
        for (size_t i = 0; i < p->n_fetch; i++) {
                unsigned needs = fetch_needs(p->fetch[i], p->type);
                for (Feature f = 0; f < _FEATURE_MAX; f++)
                        if ((needs & (1u << f)) && k->state[f] == FEATURE_NO) {
                                if (ret_what)
                                        *ret_what = p->fetch[i];
                                return f;
                        }
        }
        return _FEATURE_MAX;
}

char *features_refusal(const KernelFeatures *k, Feature f, const char *what) {
        Buf b = { 0 };
        const char *release = *k->release ? k->release : "(unknown release)";
        if (f == FEATURE_KPROBE_EVENTS || f == FEATURE_UPROBE_EVENTS)
                buf_printf(&b, "kernel built without %s: tracefs has no %s (kernel %s, %s)",
                           f == FEATURE_KPROBE_EVENTS ? "kprobe events (CONFIG_KPROBE_EVENTS)"
                                                      : "uprobe events (CONFIG_UPROBE_EVENTS)",
                           features[f].name, release, k->machine);
        else
                buf_printf(&b, "%s%s%sneeds %s, which kernel %s (%s) does not support: its tracefs README does not list %s",
                           what ? "fetch arg '" : "", what ? what : "", what ? "' " : "", features[f].description,
                           release, k->machine, features[f].readme_marker ? features[f].readme_marker : features[f].name);
        return buf_steal(&b);
}

void features_render_json(const KernelFeatures *k, Buf *out) {
        buf_putc(out, '{');
        json_member_string(out, true, "release", k->release);
        json_member_string(out, false, "machine", k->machine);
        buf_puts(out, ",\"features\":{");
        for (Feature f = 0; f < _FEATURE_MAX; f++) {
                if (f)
                        buf_putc(out, ',');
                json_put_string(out, sv_from(features[f].name));
                buf_puts(out, k->state[f] == FEATURE_YES ? ":true" : k->state[f] == FEATURE_NO ? ":false" : ":null");
        }
        buf_puts(out, "}}");
}

void features_render_metrics(const KernelFeatures *k, Expo *out) {
        static const char *const info_labels[] = { "release", "machine" };
        static const char *const feature_label[] = { "feature" };
        expo_put_header(out, "kprobe_exporter_kernel_info", "gauge",
                        "A metric with a constant '1' value labeled by the running kernel's release and machine.");
        expo_put_sample_u64(out, "kprobe_exporter_kernel_info", info_labels,
                            (StrView[]){ sv_from(k->release), sv_from(k->machine) }, 2, 1);
        expo_put_header(out, "kprobe_exporter_kernel_feature", "gauge",
                        "1 if the running kernel has the tracing feature, 0 if not (as /probes and --config.check show them).");
        for (Feature f = 0; f < _FEATURE_MAX; f++)
                if (k->state[f] != FEATURE_UNKNOWN)
                        expo_put_sample_u64(out, "kprobe_exporter_kernel_feature", feature_label,
                                            (StrView[]){ sv_from(features[f].name) }, 1, k->state[f] == FEATURE_YES);
}

void features_render_text(const KernelFeatures *k, Buf *out) {
        buf_printf(out, "# kernel %s (%s)\n", k->release, k->machine);
        for (Feature f = 0; f < _FEATURE_MAX; f++)
                buf_printf(out, "# kernel feature %-19s %-7s %s\n", features[f].name,
                           k->state[f] == FEATURE_YES ? "yes" : k->state[f] == FEATURE_NO ? "no" : "unknown",
                           features[f].description);
}
