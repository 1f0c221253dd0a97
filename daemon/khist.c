#include "khist.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdarg.h>

/* A field of a kprobe-kind probe, as a hist key or value can take it. */
typedef struct FieldType {
        char fmt;  /* 'u', 's', 'x'; 0: not a number */
        unsigned bits;
        bool comm; /* the string $comm */
        const char *type; /* the fetch type as written ("u16"), for a synthetic field */
} FieldType;

static int field_index(const ProbeConfig *p, const char *name) {
        for (size_t i = 0; i < p->n_fields; i++)
                if (strcmp(p->fields[i], name) == 0)
                        return (int) i;
        return -1;
}

/* From "NAME=ARG[:TYPE]": no type is the kernel's default, an unsigned
 * long printed in hex (x64 on the 64-bit machines we run on). */
static bool field_type(const ProbeConfig *p, const char *name, FieldType *ret) {
        int i = field_index(p, name);
        *ret = (FieldType){ 0 };
        if (i < 0 || (size_t) i >= p->n_fetch)
                return false;
        const char *fetch = p->fetch[i], *arg = strchr(fetch, '=');
        const char *colon = strrchr(fetch, ':');
        if (!arg)
                return false;
        arg++;
        if (!colon || colon < arg || strchr(colon, ')')) {
                *ret = (FieldType){ 'x', 64, false, "u64" };
                return true;
        }
        const char *t = colon + 1;
        if (strcmp(t, "string") == 0) {
                ret->comm = (size_t) (colon - arg) == 5 && strncmp(arg, "$comm", 5) == 0;
                return true;
        }
        static const char *const types[] = { "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64",
                                             "x8", "x16", "x32", "x64" };
        static const unsigned widths[] = { 8, 16, 32, 64 };
        for (size_t k = 0; k < ELEMENTSOF(types); k++)
                if (strcmp(t, types[k]) == 0) {
                        /* A synthetic event has no x types: the same bits as u. */
                        static const char *const as_u[] = { "u8", "u16", "u32", "u64" };
                        *ret = (FieldType){ types[k][0], widths[k % 4], false, types[k][0] == 'x' ? as_u[k % 4] : types[k] };
                        return true;
                }
        return true; /* symbol, arrays, bitfields, ustring...: not a number */
}

static bool refuse(KhPlan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool refuse(KhPlan *p, const char *fmt, ...) {
        va_list ap;
        Buf b = { 0 };
        va_start(ap, fmt);
        buf_vprintf(&b, fmt, ap);
        va_end(ap);
        free(p->why);
        p->why = buf_steal(&b);
        buf_free(&b);
        return false;
}

static void add_key(KhPlan *p, const char *name, KhKeyKind kind, int label, char fmt, unsigned bits) {
        p->keys[p->n_keys++] = (KhKey){ xstrdup(name), kind, label, fmt, bits };
}

/* The bounds of m as 2^a, 2^(a+1), ... of unit: sets log2_base. */
static bool log2_bounds(const MetricConfig *m, double unit, int *ret_base) {
        if (m->n_buckets == 0)
                return false;
        double first = m->buckets[0] / unit;
        if (!(first >= 1) || first > 9.3e18)
                return false;
        int a = (int) llround(log2(first));
        for (size_t i = 0; i < m->n_buckets; i++) {
                double want = ldexp(1.0, a + (int) i), got = m->buckets[i] / unit;
                if (a + (int) i > 63 || fabs(got - want) > want * 1e-9)
                        return false;
        }
        *ret_base = a;
        return true;
}

/* The bounds of m as mW-1, (m+1)W-1, ... of unit (integers: what a
 * .buckets=W group holds is within one bound exactly). */
static bool linear_bounds(const MetricConfig *m, double unit, uint64_t *ret_width, uint64_t *ret_first) {
        if (m->n_buckets == 0 || m->n_buckets > CONFIG_BUCKETS_MAX)
                return false;
        uint64_t raw[CONFIG_BUCKETS_MAX] = { 0 };
        for (size_t i = 0; i < m->n_buckets; i++) {
                double v = m->buckets[i] / unit, r = nearbyint(v);
                if (!(r >= 0) || r > 9e15 || fabs(v - r) > 1e-9 * (r > 1 ? r : 1))
                        return false;
                raw[i] = (uint64_t) r;
        }
        uint64_t w = m->n_buckets > 1 ? raw[1] - raw[0] : raw[0] + 1;
        if (w == 0 || (raw[0] + 1) % w != 0)
                return false;
        for (size_t i = 1; i < m->n_buckets; i++)
                if (raw[i] - raw[i - 1] != w)
                        return false;
        *ret_width = w;
        *ret_first = (raw[0] + 1) / w;
        return true;
}

/* The bucket key of a histogram of field (raw units of unit): log2, or
 * .buckets where the kernel has them. */
static bool bucket_key(KhPlan *r, const MetricConfig *m, const KernelFeatures *k, const char *field, double unit) {
        if (log2_bounds(m, unit, &r->log2_base)) {
                add_key(r, field, KH_KEY_LOG2, -1, 'u', 64);
        } else if ((!k || k->state[FEATURE_HIST_BUCKETS] != FEATURE_NO) &&
                   linear_bounds(m, unit, &r->width, &r->first_group))
                add_key(r, field, KH_KEY_BUCKETS, -1, 'u', 64);
        else
                return false;
        r->unit = unit;
        r->n_buckets = m->n_buckets;
        return true;
}

/* max_series label sets (times the buckets of a histogram), within the
 * config's kernel_max_entries: the kernel allocates every entry up front.
 * A power of two, as the kernel rounds it. */
static unsigned map_size(const Config *c, const MetricConfig *m) {
        uint64_t want = (uint64_t) (c->max_series ? c->max_series : CONFIG_DEFAULT_MAX_SERIES) *
                        (m->type == METRIC_HISTOGRAM ? m->n_buckets + 1 : 1);
        uint64_t cap = c->kernel_max_entries ? c->kernel_max_entries : CONFIG_DEFAULT_KERNEL_MAX_ENTRIES;
        if (want > cap)
                want = cap;
        uint64_t size = KHIST_SIZE_MIN;
        while (size < want && size < KHIST_SIZE_MAX)
                size <<= 1;
        return (unsigned) size;
}

char *khist_object_name(const char *group, const char *metric) {
        Buf b = { 0 };
        buf_printf(&b, "%s_%s", group, metric);
        for (size_t i = 0; i < b.len; i++)
                if (b.data[i] == '-')
                        b.data[i] = '_';
        if (b.len > CONFIG_NAME_MAX) {
                uint64_t h = hash_final(hash_mem(HASH_INIT, b.data, b.len));
                b.len = CONFIG_NAME_MAX - 9;
                buf_printf(&b, "_%08x", (unsigned) (h & 0xffffffffu));
        }
        return buf_steal(&b);
}

bool khist_name_is_ours(const char *group, const char *name) {
        size_t n = strlen(group);
        if (strlen(name) <= n + 1 || name[n] != '_')
                return false;
        for (size_t i = 0; i < n; i++)
                if (name[i] != (group[i] == '-' ? '_' : group[i]))
                        return false;
        return true;
}

/* The labels of a metric on its own probe's event: keys. */
static bool plan_own_keys(KhPlan *r, const ProbeConfig *p, const MetricConfig *m) {
        for (size_t i = 0; i < m->n_labels; i++) {
                const char *l = metric_label_field(m, i);
                FieldType t;
                if (field_index(p, l) >= 0) {
                        field_type(p, l, &t);
                        if (t.comm)
                                add_key(r, l, KH_KEY_STR, (int) i, 0, 0);
                        else if (t.fmt)
                                add_key(r, l, KH_KEY_NUM, (int) i, t.fmt, t.bits);
                        else
                                return refuse(r, "label '%s' is a string (or a type the kernel's histograms print "
                                              "their own way): the hist file prints strings unframed, so only a "
                                              "$comm string reads back exactly", l);
                } else if (strcmp(l, "pid") == 0)
                        add_key(r, "common_pid", KH_KEY_NUM, (int) i, 's', 32);
                else
                        return refuse(r, "label '%s': the kernel's histograms have no key for it%s", l,
                                      strcmp(l, "comm") == 0 ? "" : " (only fields, pid and a fetched $comm)");
        }
        return true;
}

static void sum_field(KhPlan *r, const char *field) {
        r->sum = xstrdup(field);
}

static bool plan_value(KhPlan *r, const ProbeConfig *p, const MetricConfig *m, const KernelFeatures *k) {
        FieldType t;
        const Decoder *d = probe_find_decoder(p, m->value.name);
        if (!field_type(p, m->value.name, &t) || !t.fmt)
                return refuse(r, "value '%s' is not a number field", m->value.name);
        if (t.fmt == 's')
                return refuse(r, "value '%s' is signed: the kernel sums and buckets it as unsigned", m->value.name);
        if (d && d->kind != DECODER_NONE && d->kind != DECODER_HEX)
                return refuse(r, "value '%s' is decoded (%s): the kernel would sum the raw values", m->value.name,
                              decoder_kind_to_string(d->kind));
        r->unit = m->scale;
        if (m->type == METRIC_HISTOGRAM && !bucket_key(r, m, k, m->value.name, m->scale))
                return refuse(r, "buckets of field '%s' (times scale) are neither 2^a, 2^(a+1), ... (the kernel's "
                              ".log2) nor mW-1, (m+1)W-1, ... (.buckets=W%s)", m->value.name,
                              k && k->state[FEATURE_HIST_BUCKETS] == FEATURE_NO ? ", which this kernel lacks" : "");
        sum_field(r, m->value.name);
        return true;
}

static void filter_suffix(Buf *b, const ProbeConfig *p) {
        if (p->filter)
                buf_printf(b, " if %s", p->filter);
}

static void keys_text(Buf *b, const KhPlan *r) {
        buf_puts(b, ":keys=");
        for (size_t i = 0; i < r->n_keys; i++)
        {
                buf_printf(b, "%s%s", i ? "," : "", r->keys[i].name);
                if (r->keys[i].kind == KH_KEY_LOG2)
                        buf_puts(b, ".log2");
                else if (r->keys[i].kind == KH_KEY_BUCKETS)
                        buf_printf(b, ".buckets=%" PRIu64, r->width);
        }
        buf_puts(b, ":vals=hitcount");
        if (r->sum)
                buf_printf(b, ",%s", r->sum);
}

static bool plan_simple(KhPlan *r, const Config *c, const ProbeConfig *p, const MetricConfig *m,
                        const KernelFeatures *k, const char *group) {
        if (!plan_own_keys(r, p, m))
                return false;
        if (m->value.name && !plan_value(r, p, m, k))
                return false;
        if (r->n_keys == 0)
                /* A histogram needs a key: all events in one entry per
                 * CPU-less constant is not there, so common_pid, summed. */
                add_key(r, "common_pid", KH_KEY_NUM, -2, 's', 32);
        if (r->n_keys > KHIST_MAX_KEYS - 1)
                return refuse(r, "more labels than a hist trigger takes");
        Buf b = { 0 };
        r->name = khist_object_name(group, m->name);
        buf_printf(&b, "hist:name=%s", r->name);
        keys_text(&b, r);
        buf_printf(&b, ":size=%u", map_size(c, m));
        filter_suffix(&b, p);
        r->triggers[0] = (KhTrigger){ NULL, buf_steal(&b) };
        buf_free(&b);
        r->n_triggers = 1;
        r->hist_trigger = 0;
        return true;
}

/* A latency: the entry saves a timestamp (and the labels only it has)
 * in variables keyed by the match; the exit's onmatch() sends the
 * difference to a synthetic event, whose hist is the histogram. */
static bool plan_latency(KhPlan *r, const Config *c, const ProbeConfig *x, const MetricConfig *m,
                         const KernelFeatures *k, const char *group, const char *clock) {
        const ProbeConfig *e = config_find_probe(c, m->latency_from.name);
        if (!e)
                return refuse(r, "latency_from: no probe '%s'", m->latency_from.name);
        if (m->n_start > 0 || m->n_end > 0)
                return refuse(r, "start and end conditions are checked in user space");
        if (e->type == PROBE_TRACEPOINT)
                return refuse(r, "the entry '%s' is a tracepoint (its fields come from its print fmt)", e->name);
        r->entry_probe = (int) (e - c->probes);
        /* The bounds in microseconds, else in nanoseconds: the kernel's
         * two units of common_timestamp. The bucket key comes last. */
        const char *ts = "common_timestamp.usecs";
        KhPlan probe_units = { 0 };
        if (bucket_key(&probe_units, m, k, "lat", m->scale * 1e-6))
                ;
        else if (khist_plan_done(&probe_units), bucket_key(&probe_units, m, k, "lat", m->scale * 1e-9))
                ts = "common_timestamp";
        else {
                khist_plan_done(&probe_units);
                return refuse(r, "buckets are neither 2^a, 2^(a+1), ... nor mW-1, (m+1)W-1, ... microseconds or "
                              "nanoseconds (times scale): the kernel's .log2 and .buckets cannot give them");
        }
        KhKey bucket = probe_units.keys[0];
        probe_units.keys[0].name = NULL;
        r->unit = probe_units.unit;
        r->n_buckets = probe_units.n_buckets;
        r->log2_base = probe_units.log2_base;
        r->width = probe_units.width;
        r->first_group = probe_units.first_group;
        khist_plan_done(&probe_units);

        /* The match: the same keys on both events. */
        Buf keys = { 0 };
        const char *match_thread[] = { "tid" };
        size_t n_match = m->n_match ? m->n_match : 1;
        for (size_t i = 0; i < n_match; i++) {
                const char *f = m->n_match ? m->match[i].name : match_thread[0];
                if (match_is_thread(f))
                        f = "common_pid";
                else {
                        FieldType te, tx;
                        field_type(e, f, &te);
                        field_type(x, f, &tx);
                        if (!te.fmt || !tx.fmt || te.bits != tx.bits) {
                                buf_free(&keys);
                                return refuse(r, "match field '%s' is not a number of one width in both probes", f);
                        }
                }
                buf_printf(&keys, "%s%s", i ? "," : "", f);
        }

        r->synth_name = khist_object_name(group, m->name);
        r->name = xstrdup(r->synth_name);
        Buf synth = { 0 }, entry_vars = { 0 }, params = { 0 };
        buf_printf(&synth, "%s u64 lat", r->synth_name);
        bool ok = true;
        for (size_t i = 0; ok && i < m->n_labels; i++) {
                const char *l = metric_label_field(m, i);
                FieldType t;
                const ProbeConfig *from = field_index(x, l) >= 0 ? x : field_index(e, l) >= 0 ? e : NULL;
                if (!from) {
                        ok = refuse(r, "label '%s' of a latency: only fields of either probe can be kernel keys", l);
                        break;
                }
                field_type(from, l, &t);
                if (!t.fmt) {
                        ok = refuse(r, "label '%s' of a latency is not a number field", l);
                        break;
                }
                buf_printf(&synth, "; %s %s", t.type, l);
                if (from == x)
                        buf_printf(&params, ",%s", l);
                else {
                        buf_printf(&entry_vars, ",%s_%s=%s", l, m->name, l);
                        buf_printf(&params, ",$%s_%s", l, m->name);
                }
                add_key(r, l, KH_KEY_NUM, (int) i, t.fmt, t.bits);
        }
        if (ok && r->n_keys > KHIST_MAX_KEYS - 1)
                ok = refuse(r, "more labels than a hist trigger takes");
        if (!ok) {
                buf_free(&keys);
                buf_free(&synth);
                buf_free(&entry_vars);
                buf_free(&params);
                return false;
        }
        r->keys[r->n_keys++] = bucket;
        sum_field(r, "lat");
        r->synth = buf_steal(&synth);

        Buf t = { 0 };
        char *clock_attr = clock ? xstrdupf(":clock=%s", clock) : xstrdup("");
        /* 1. the histogram of the synthetic event, before anything feeds it */
        buf_printf(&t, "hist:name=%s", r->name);
        keys_text(&t, r);
        buf_printf(&t, ":size=%u", map_size(c, m));
        r->triggers[0] = (KhTrigger){ xstrdupf("synthetic/%s", r->synth_name), buf_steal(&t) };
        /* 2. the entry's variables */
        buf_printf(&t, "hist:keys=%s:ts_%s=%s%s%s", keys.data, m->name, ts, entry_vars.data ? entry_vars.data : "",
                   clock_attr);
        filter_suffix(&t, e);
        r->triggers[1] = (KhTrigger){ xstrdupf("%s/%s", group, e->name), buf_steal(&t) };
        /* 3. the exit: the interval, sent on a match */
        buf_printf(&t, "hist:keys=%s:lat_%s=%s-$ts_%s:onmatch(%s.%s).trace(%s,$lat_%s%s)%s", keys.data, m->name, ts,
                   m->name, group, e->name, r->synth_name, m->name, params.data ? params.data : "", clock_attr);
        filter_suffix(&t, x);
        r->triggers[2] = (KhTrigger){ NULL, buf_steal(&t) };
        r->n_triggers = 3;
        r->hist_trigger = 0;
        free(clock_attr);
        buf_free(&t);
        buf_free(&keys);
        buf_free(&entry_vars);
        buf_free(&params);
        return true;
}

void khist_plan(const Config *c, size_t pi, size_t mi, const KernelFeatures *k, const char *group, const char *clock,
                KhPlan *r) {
        const ProbeConfig *p = &c->probes[pi];
        const MetricConfig *m = &p->metrics[mi];
        *r = (KhPlan){ .entry_probe = -1, .unit = 1 };

        if (m->aggregate == AGGREGATE_USER) {
                r->why = xstrdup("aggregate: user");
                return;
        }
        if (k && k->state[FEATURE_HIST_TRIGGERS] == FEATURE_NO) {
                refuse(r, "kernel %s (%s) has no hist triggers (CONFIG_HIST_TRIGGERS)", k->release, k->machine);
                return;
        }
        bool ok;
        if (p->type == PROBE_TRACEPOINT)
                ok = refuse(r, "a tracepoint's fields are shown through its print fmt, which the kernel's hist file "
                            "does not apply; kernel aggregation takes kprobe and uprobe fields");
        else if (m->n_when > 0)
                ok = refuse(r, "when: conditions are checked in user space");
        else if (m->latency_from.name)
                ok = plan_latency(r, c, p, m, k, group, clock);
        else
                ok = plan_simple(r, c, p, m, k, group);
        if (!ok) {
                /* What a refusal left half made goes. */
                char *why = TAKE_PTR(r->why);
                khist_plan_done(r);
                *r = (KhPlan){ .entry_probe = -1, .unit = 1, .why = why };
                return;
        }
        for (size_t i = 0; i < r->n_triggers; i++)
                if (!r->triggers[i].event)
                        r->triggers[i].event = xstrdupf("%s/%s", group, p->name);
        r->kernel = true;
        free(r->why);
        r->why = xstrdup(m->aggregate == AGGREGATE_KERNEL ? "aggregate: kernel" : "aggregate: auto, and the kernel can");
}

void khist_plan_done(KhPlan *p) {
        free(p->why);
        free(p->synth);
        free(p->synth_name);
        for (size_t i = 0; i < p->n_triggers; i++) {
                free(p->triggers[i].event);
                free(p->triggers[i].line);
        }
        free(p->name);
        for (size_t i = 0; i < p->n_keys; i++)
                free(p->keys[i].name);
        free(p->sum);
        *p = (KhPlan){ .entry_probe = -1 };
}

static bool str_same(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool khist_plan_same(const KhPlan *a, const KhPlan *b) {
        if (a->kernel != b->kernel || a->n_triggers != b->n_triggers || !str_same(a->synth, b->synth))
                return false;
        for (size_t i = 0; i < a->n_triggers; i++)
                if (!str_same(a->triggers[i].event, b->triggers[i].event) ||
                    !str_same(a->triggers[i].line, b->triggers[i].line))
                        return false;
        return true;
}

/* The parser. The kernel prints an entry as
 *   "{ " KEY (", " KEY)* " }" " hitcount: %10llu" ("  NAME: %10llu")* "\n"
 * with KEY "NAME: %10llu", "NAME: ~ 2^%-2llu" (log2) or "NAME: %-50s"
 * (strings); sections start with "# trigger info: hist:[NAME:]keys=..."
 * and end with "Totals:" and its Hits, Entries and Dropped lines. */

typedef struct Cursor {
        const char *p, *end;
} Cursor;

static bool take(Cursor *c, const char *s) {
        size_t n = strlen(s);
        if ((size_t) (c->end - c->p) < n || memcmp(c->p, s, n) != 0)
                return false;
        c->p += n;
        return true;
}

static void spaces(Cursor *c) {
        while (c->p < c->end && *c->p == ' ')
                c->p++;
}

static bool number(Cursor *c, uint64_t *ret) {
        uint64_t v = 0;
        const char *start = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
                unsigned d = (unsigned) (*c->p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
                c->p++;
        }
        *ret = v;
        return c->p > start;
}

static bool entry(const KhPlan *plan, Cursor *c, KhEntry *e) {
        if (!take(c, "{ "))
                return false;
        for (size_t i = 0; i < plan->n_keys; i++) {
                const KhKey *k = &plan->keys[i];
                if (i > 0 && !take(c, ", "))
                        return false;
                if (!take(c, k->name) || !take(c, ": "))
                        return false;
                switch (k->kind) {
                case KH_KEY_NUM:
                        spaces(c);
                        if (!number(c, &e->num[i]))
                                return false;
                        break;
                case KH_KEY_LOG2:
                        if (!take(c, "~ 2^") || !number(c, &e->num[i]))
                                return false;
                        break;
                case KH_KEY_BUCKETS: {
                        uint64_t last;
                        if (!take(c, "~ ") || !number(c, &e->num[i]) || !take(c, "-") || !number(c, &last))
                                return false;
                        break;
                }
                case KH_KEY_STR: {
                        /* Exactly 50 bytes: what the process wrote is
                         * never read as framing. */
                        if (c->end - c->p < 50)
                                return false;
                        size_t n = 50;
                        while (n > 0 && c->p[n - 1] == ' ')
                                n--;
                        e->str[i] = (StrView){ c->p, n };
                        c->p += 50;
                        break;
                }
                }
        }
        spaces(c);
        if (!take(c, "}") || !take(c, " hitcount:"))
                return false;
        spaces(c);
        if (!number(c, &e->hitcount))
                return false;
        if (plan->sum) {
                if (!take(c, "  ") || !take(c, plan->sum) || !take(c, ":"))
                        return false;
                spaces(c);
                if (!number(c, &e->sum))
                        return false;
        }
        return take(c, "\n") || c->p == c->end;
}

static StrView line_at(const char *p, const char *end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        return (StrView){ p, (size_t) ((nl ? nl : end) - p) };
}

static const char *next_line(const char *p, const char *end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        return nl ? nl + 1 : end;
}

static bool total(StrView l, const char *what, uint64_t *ret) {
        Cursor c = { l.p, l.p + l.n };
        spaces(&c);
        if (!take(&c, what) || !take(&c, ":"))
                return false;
        spaces(&c);
        return number(&c, ret) && c.p == c.end;
}

int khist_parse(const KhPlan *plan, const char *text, size_t len, void (*fn)(void *userdata, const KhEntry *e),
                void *userdata, KhTotals *ret) {
        const char *p = text, *end = text + len;
        /* 6.1 prints "hist:name=NAME:keys=...", older kernels "hist:NAME:keys=...". */
        char *header = xstrdupf("# trigger info: hist:name=%s:", plan->name ? plan->name : "");
        char *old = xstrdupf("# trigger info: hist:%s:", plan->name ? plan->name : "");
        size_t hn = strlen(header), on = strlen(old);
        bool found = false;
        *ret = (KhTotals){ 0 };

        /* Only lines that start where a line starts in the kernel's own
         * framing are looked at: no string key reaches column 0 with the
         * 21 bytes of "# trigger info: hist:" (comm holds 15). */
        for (; p < end; p = next_line(p, end)) {
                StrView l = line_at(p, end);
                if ((l.n >= hn && memcmp(l.p, header, hn) == 0) || (l.n >= on && memcmp(l.p, old, on) == 0)) {
                        found = true;
                        p = next_line(p, end);
                        break;
                }
        }
        free(old);
        free(header);
        if (!found)
                return -ENOENT;

        while (p < end) {
                if (p[0] == '{') {
                        Cursor c = { p, end };
                        KhEntry e = { 0 };
                        if (entry(plan, &c, &e)) {
                                if (fn)
                                        fn(userdata, &e);
                                p = c.p;
                        } else {
                                ret->bad++;
                                p = next_line(p, end);
                        }
                        continue;
                }
                StrView l = line_at(p, end);
                if (l.n == 7 && memcmp(l.p, "Totals:", 7) == 0) {
                        const char *q = next_line(p, end);
                        StrView a = line_at(q, end);
                        q = next_line(q, end);
                        StrView b = line_at(q, end);
                        q = next_line(q, end);
                        StrView d = line_at(q, end);
                        if (total(a, "Hits", &ret->hits) && total(b, "Entries", &ret->entries) &&
                            total(d, "Dropped", &ret->dropped))
                                return 0;
                        return -EBADMSG;
                }
                if (l.n >= 16 && memcmp(l.p, "# trigger info: ", 16) == 0)
                        break; /* the next section: ours ended without Totals */
                p = next_line(p, end);
        }
        return -EBADMSG;
}

size_t khist_key_text(const KhKey *k, uint64_t v, char *buf) {
        uint64_t mask = k->bits >= 64 ? UINT64_MAX : (UINT64_C(1) << k->bits) - 1;
        uint64_t u = v & mask;
        switch (k->fmt) {
        case 's': {
                int64_t s = k->bits >= 64 ? (int64_t) u
                                          : (u >> (k->bits - 1)) & 1 ? (int64_t) (u | ~mask) : (int64_t) u;
                return (size_t) snprintf(buf, 24, "%" PRId64, s);
        }
        case 'x':
                return (size_t) snprintf(buf, 24, "0x%" PRIx64, u);
        default:
                return (size_t) snprintf(buf, 24, "%" PRIu64, u);
        }
}

size_t khist_bucket(const KhPlan *p, uint64_t k) {
        if (p->width) {
                /* The group [jW, (j+1)W-1] is within bound i = j+1-m. */
                uint64_t j = k / p->width;
                if (j + 1 <= p->first_group)
                        return 0;
                uint64_t i = j + 1 - p->first_group;
                return i < p->n_buckets ? (size_t) i : p->n_buckets;
        }
        if (k <= (uint64_t) p->log2_base)
                return 0;
        uint64_t i = k - (uint64_t) p->log2_base;
        return i < p->n_buckets ? (size_t) i : p->n_buckets;
}
