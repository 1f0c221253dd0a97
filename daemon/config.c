/* The YAML config: libyaml builds a document tree (it keeps each node's
 * position), and we walk it along the schema, collecting every error with
 * its line:column instead of stopping at the first (yaml_load.c). */

#include "config.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "elfsym.h"
#include "util.h"
#include "yaml_load.h"

/* Bounds on what a config may ask for: the config is trusted (root-owned),
 * but the duplicate checks are quadratic and libyaml's composer recurses,
 * so a typo'd or generated file must not make the daemon hang or crash
 * (depth and string length: yaml_load.h). */
#define CONFIG_FILE_MAX (4u * 1024u * 1024u)
#define CONFIG_PROBES_MAX 1024u
#define CONFIG_FETCH_MAX 128u   /* the kernel's MAX_TRACE_ARGS */
#define CONFIG_FETCHARG_MAX 63u /* the kernel's MAX_ARGSTR_LEN */
#define CONFIG_DECODERS_MAX 256u
#define CONFIG_MAP_MAX 4096u
#define CONFIG_METRICS_MAX 64u
#define CONFIG_LABELS_MAX 64u

static const char *const probe_type_table[_PROBE_TYPE_MAX] = {
        [PROBE_KPROBE] = "kprobe",
        [PROBE_KRETPROBE] = "kretprobe",
        [PROBE_UPROBE] = "uprobe",
        [PROBE_URETPROBE] = "uretprobe",
        [PROBE_TRACEPOINT] = "tracepoint",
};

static const char *const decoder_kind_table[_DECODER_KIND_MAX] = {
        [DECODER_NONE] = "none",
        [DECODER_NTOHS] = "ntohs",
        [DECODER_NTOHL] = "ntohl",
        [DECODER_IPV4] = "ipv4",
        [DECODER_IPV6] = "ipv6",
        [DECODER_HEX] = "hex",
        [DECODER_ERRNO] = "errno",
        [DECODER_STRING] = "string",
        [DECODER_IP] = "ip",
        [DECODER_DEVT] = "devt",
        [DECODER_MAP] = "map",
};

static const char *const metric_type_table[_METRIC_TYPE_MAX] = {
        [METRIC_COUNTER] = "counter",
        [METRIC_HISTOGRAM] = "histogram",
};

static const char *const builtin_labels[] = { "comm", "pid", "tgid", "cpu", "cgroup", "unit", "user_unit", "container_id" };

const char *metric_type_to_string(MetricType t) {
        if ((unsigned) t >= _METRIC_TYPE_MAX)
                return NULL;
        return metric_type_table[t];
}

const char *aggregate_to_string(Aggregate a) {
        static const char *const table[_AGGREGATE_MAX] = {
                [AGGREGATE_AUTO] = "auto",
                [AGGREGATE_KERNEL] = "kernel",
                [AGGREGATE_USER] = "user",
        };
        return (unsigned) a < _AGGREGATE_MAX ? table[a] : NULL;
}

const ProbeConfig *config_find_probe(const Config *c, const char *name) {
        for (size_t i = 0; c && name && i < c->n_probes; i++)
                if (c->probes[i].name && strcmp(c->probes[i].name, name) == 0)
                        return &c->probes[i];
        return NULL;
}

bool match_is_thread(const char *name) {
        return name && (strcmp(name, "tid") == 0 || strcmp(name, "pid") == 0);
}

bool decoder_is_numeric(const Decoder *d) {
        return !d || d->kind == DECODER_NONE || d->kind == DECODER_NTOHS || d->kind == DECODER_NTOHL ||
               d->kind == DECODER_HEX;
}

const char *probe_type_to_string(ProbeType t) {
        if ((unsigned) t >= _PROBE_TYPE_MAX)
                return NULL;
        return probe_type_table[t];
}

const char *decoder_kind_to_string(DecoderKind k) {
        if ((unsigned) k >= _DECODER_KIND_MAX)
                return NULL;
        return decoder_kind_table[k];
}

bool label_is_builtin(const char *name) {
        if (!name)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(builtin_labels); i++)
                if (strcmp(name, builtin_labels[i]) == 0)
                        return true;
        return false;
}

_Static_assert(CONFIG_NAME_MAX == EVENT_NAME_MAX, "config names are event names");

bool name_is_valid(const char *s) {
        return s && span_is_name(s, strlen(s));
}

bool metric_name_is_valid(const char *s) {
        if (!s || !char_is_name_start(s[0]))
                return false;
        for (const char *p = s + 1; *p; p++)
                if (!char_is_name(*p))
                        return false;
        return true;
}

const Decoder *probe_find_decoder(const ProbeConfig *p, const char *field) {
        if (!p || !field)
                return NULL;
        for (size_t i = 0; i < p->n_decoders; i++)
                if (p->decoders[i].field && strcmp(p->decoders[i].field, field) == 0)
                        return &p->decoders[i];
        return NULL;
}

unsigned config_max_label_bytes(const Config *c, const MetricConfig *m) {
        if (m && m->max_label_bytes)
                return m->max_label_bytes;
        if (c && c->max_label_bytes)
                return c->max_label_bytes;
        return CONFIG_DEFAULT_MAX_LABEL_BYTES;
}

static void probe_config_done(ProbeConfig *p) {
        free(p->name);
        free(p->target);
        free(p->kernel_lacks);
        for (size_t i = 0; i < p->n_fetch; i++)
                free(p->fetch[i]);
        free(p->fetch);
        for (size_t i = 0; i < p->n_fields; i++)
                free(p->fields[i]);
        free(p->fields);
        free(p->field_is_string);
        free(p->filter);
        for (size_t i = 0; i < p->n_decoders; i++) {
                Decoder *d = &p->decoders[i];
                free(d->field);
                for (size_t j = 0; j < d->n_map; j++) {
                        free(d->map[j].from);
                        free(d->map[j].to);
                }
                free(d->map);
        }
        free(p->decoders);
        for (size_t i = 0; i < p->n_metrics; i++) {
                MetricConfig *m = &p->metrics[i];
                free(m->name);
                free(m->help);
                for (size_t j = 0; j < m->n_labels; j++)
                        free(m->labels[j]);
                free(m->labels);
                for (size_t j = 0; m->label_fields && j < m->n_labels; j++)
                        free(m->label_fields[j]);
                free(m->label_fields);
                free(m->label_line);
                free(m->label_column);
                free(m->value.name);
                free(m->buckets);
                for (size_t j = 0; j < m->n_buckets; j++)
                        free(m->bucket_text[j]);
                free(m->bucket_text);
                free(m->latency_from.name);
                for (size_t j = 0; j < m->n_start; j++) {
                        free(m->start[j].field.name);
                        free(m->start[j].value);
                }
                free(m->start);
                for (size_t j = 0; j < m->n_end; j++) {
                        free(m->end[j].field.name);
                        free(m->end[j].value);
                }
                free(m->end);
                for (size_t j = 0; j < m->n_when; j++) {
                        free(m->when[j].field.name);
                        free(m->when[j].value);
                }
                free(m->when);
                for (size_t j = 0; j < m->n_match; j++)
                        free(m->match[j].name);
                free(m->match);
        }
        free(p->metrics);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_probes; i++)
                probe_config_done(&c->probes[i]);
        free(c->probes);
        strv_free(c->includes);
        free(c->path);
        free(c->listen);
        free(c);
        return NULL;
}

int config_read_file(const char *path, char **ret_text, size_t *ret_len) {
        _cleanup_buf_ Buf b = { 0 };
        int r = read_file_at(AT_FDCWD, path, CONFIG_FILE_MAX, &b);
        if (r < 0)
                return r;
        *ret_len = b.len;
        *ret_text = buf_steal(&b);
        return 0;
}

static int config_load(const char *name, const char *text, size_t len, bool may_include, Config **ret,
                       ConfigErrors *errs);

int config_load_file(const char *path, Config **ret, ConfigErrors *errs) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = yl_read_file(path, &text, &len, errs);
        return r < 0 ? r : config_load(path, text, len, true, ret, errs);
}

/* ---- the loader ---- */

/* A name already taken, and where (for "first at line N"). */
typedef struct Seen {
        const char *name;
        const char *target; /* tracepoint events: the full target; else NULL */
        const char *file;   /* an included file; NULL: the config */
        unsigned line;
} Seen;

typedef struct SeenList {
        Seen *items;
        size_t n;
} SeenList;

typedef struct Include {
        char *pattern;
        unsigned line, column;
} Include;

typedef struct Loader {
        YlLoader yl; /* first: the walk's YlLoader is this Loader */
        SeenList probe_names, events, metric_names;
        int attribution_said; /* "attribution:" 1 true, -1 false, 0 absent */
        const char *file;     /* the included file being read (Config.includes); NULL: the config */
        const char *path;     /* the config's */
        bool may_include;     /* loaded from a file: "include:" may read others */
        Include *includes;    /* the config's "include:" entries */
        size_t n_includes;
        bool include_said;    /* it has "include:" (maybe empty) */
        bool includes_full;   /* CONFIG_INCLUDES_MAX reached (said once) */
        dev_t *read_dev;      /* the files read (the config first), by identity: */
        ino_t *read_ino;      /*   two spellings of one file are read once */
        size_t n_read;
        yaml_node_t *probes;  /* the config's "probes:" node, for places of added probes */
        unsigned probes_line, probes_column;
} Loader;

/* "line 12", or "other.yaml:12" when s is in another file than the one
 * being read: where a name was first taken. */
static const char *seen_where(const Loader *l, const Seen *s, char *buf, size_t size) {
        if (str_equal_or_null(s->file, l->file))
                snprintf(buf, size, "line %u", s->line);
        else
                snprintf(buf, size, "%s:%u", s->file ? s->file : l->path, s->line);
        return buf;
}

/* An error at a place in file (NULL: the config), found after the files
 * were read. */
static void error_in(Loader *l, const char *file, unsigned line, unsigned column, const char *fmt, ...)
        _printf_(5, 6);
static void error_in(Loader *l, const char *file, unsigned line, unsigned column, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        config_errors_addv(l->yl.errs, line, column, fmt, ap);
        va_end(ap);
        config_errors_set_file(l->yl.errs, l->yl.errs->n - 1, file);
}

static const Seen *seen_find(const SeenList *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->items[i].name, name) == 0)
                        return &l->items[i];
        return NULL;
}

static void seen_add(SeenList *l, const char *name, const char *target, const char *file, unsigned line) {
        l->items = xrealloc(l->items, (l->n + 1) * sizeof(Seen));
        l->items[l->n++] = (Seen){ name, target, file, line };
}

/* SYM[+OFFS]: symbol chars [A-Za-z0-9_.], offset decimal or 0xhex. */
static bool kprobe_target_is_valid(const char *s) {
        size_t i = 0;
        uint64_t u;

        while (char_is_name(s[i]) || s[i] == '.')
                i++;
        return i > 0 && (s[i] == 0 || (s[i] == '+' && parse_u64(sv_from(s + i + 1), &u) >= 0));
}

/* /abs/path:0xOFFSET */
/* /PATH:0xOFFSET, or /PATH:SYMBOL[+OFFSET] (resolved from the file's ELF
 * symbols when the probe is registered); instead of /PATH, a shared
 * library's file name (libc.so.6), looked up where the dynamic linker
 * looks. */
static bool uprobe_target_is_valid(const char *s) {
        const char *colon = strrchr(s, ':');
        uint64_t u;
        char symbol[512];

        if (!colon || colon <= s + 1 || has_space(s) || strchr(s, '#'))
                return false;
        if (s[0] != '/') {
                _cleanup_free_ char *name = xstrndup(s, (size_t) (colon - s));
                if (!library_name_is_valid(name))
                        return false;
        }
        if (colon[1] == '0' && (colon[2] == 'x' || colon[2] == 'X'))
                return parse_u64(sv_from(colon + 1), &u) >= 0;
        return elfsym_parse_target(colon + 1, symbol, sizeof(symbol), &u);
}

/* What the kernel names a tracepoint's directories: TRACE_SYSTEM (its
 * subsystem) may start with a digit and hold '-' ("9p", "xhci-hcd"), an
 * event name is a C identifier's tail ("9p_client_req"). Longer than a
 * directory name, it is none. */
#define TRACEPOINT_PART_MAX 255u

bool tracepoint_target_is_valid(const char *s) {
        const char *slash = s ? strchr(s, '/') : NULL;
        if (!slash || slash == s || s[0] == '-' || (size_t) (slash - s) > TRACEPOINT_PART_MAX)
                return false;
        for (const char *c = s; c < slash; c++)
                if (!char_is_name(*c) && *c != '-')
                        return false;
        size_t n = strlen(slash + 1);
        if (n == 0 || n > TRACEPOINT_PART_MAX)
                return false;
        for (const char *c = slash + 1; *c; c++)
                if (!char_is_name(*c)) /* also a second '/' */
                        return false;
        return true;
}

static bool check_target(Loader *l, const yaml_node_t *n, ProbeType t, const char *s) {
        if (t == PROBE_TRACEPOINT)
                return tracepoint_target_is_valid(s) ||
                        yl_error(&l->yl, n, "invalid tracepoint target '%s': expected SUBSYSTEM/EVENT", s);
        if (t == PROBE_UPROBE || t == PROBE_URETPROBE)
                return uprobe_target_is_valid(s) ||
                        yl_error(&l->yl, n, "invalid %s target '%s': expected /ABSOLUTE/PATH:0xOFFSET, "
                                 "/ABSOLUTE/PATH:SYMBOL[+OFFSET] or LIBRARY.so:SYMBOL[+OFFSET]",
                                 probe_type_to_string(t), s);
        return kprobe_target_is_valid(s) ||
                yl_error(&l->yl, n, "invalid %s target '%s': expected SYMBOL[+OFFSET]", probe_type_to_string(t), s);
}

static int probe_field_index(const ProbeConfig *p, const char *name) {
        for (size_t i = 0; i < p->n_fields; i++)
                if (strcmp(p->fields[i], name) == 0)
                        return (int) i;
        return -1;
}

static bool probe_has_field(const ProbeConfig *p, const char *name) {
        return probe_field_index(p, name) >= 0;
}

/* NAME=FETCHARG[:TYPE]. The kernel checks the FETCHARG itself; we catch what
 * would make it fail in a confusing way or break our own parsing. */
static bool parse_fetch_arg(Loader *l, const yaml_node_t *n, ProbeConfig *p, bool type_known, const char *s) {
        const char *eq = strchr(s, '='), *arg, *colon;

        if (!eq || eq == s)
                return yl_error(&l->yl, n, "fetch arg '%s' must be NAME=FETCHARG[:TYPE]", s);
        if (has_space(s))
                return yl_error(&l->yl, n, "fetch arg '%s' must not contain whitespace", s);
        arg = eq + 1;
        /* The kernel splits the type off at the first ':' too. */
        colon = strchr(arg, ':');
        if (arg[0] == 0 || colon == arg)
                return yl_error(&l->yl, n, "fetch arg '%s' has an empty FETCHARG", s);
        if (strlen(arg) > CONFIG_FETCHARG_MAX)
                return yl_error(&l->yl, n, "fetch arg '%s': FETCHARG is longer than %u characters", s, CONFIG_FETCHARG_MAX);
        if (colon && colon[1] == 0)
                return yl_error(&l->yl, n, "fetch arg '%s' has an empty type", s);
        if (type_known && p->type != PROBE_KRETPROBE && p->type != PROBE_URETPROBE && strstr(arg, "$retval"))
                return yl_error(&l->yl, n, "fetch arg '%s': $retval is only available in kretprobe and uretprobe probes", s);

        char *name = xstrndup(s, (size_t) (eq - s));
        const char *type = colon ? colon + 1 : "";
        p->fetch[p->n_fetch++] = xstrdup(s);
        p->field_is_string[p->n_fields] =
                strcmp(type, "string") == 0 || strcmp(type, "ustring") == 0 || strcmp(type, "symstr") == 0;
        /* Stored before the name checks: any error discards the Config. */
        p->fields[p->n_fields++] = name;

        /* The kernel has no $argN for uprobes: the probe line gets the
         * register that holds the argument at the function's entry
         * (tfs_probe_definition()), so it must have one. */
        if (type_known && (p->type == PROBE_UPROBE || p->type == PROBE_URETPROBE)) {
                _cleanup_buf_ Buf translated = { 0 };
                const char *arch;
                unsigned max = uprobe_arg_max(&arch);
                unsigned long an = 0;
                int r = uprobe_fetch_arg_translate(s, &translated, &an);
                if (r != 0 && p->type == PROBE_URETPROBE)
                        return yl_error(&l->yl, n, "fetch arg '%s': $argN is not available in a uretprobe: the "
                                        "arguments' registers are overwritten by the time the function returns "
                                        "(fetch them in a uprobe on the function's entry)", s);
                if (r == -EOPNOTSUPP)
                        return yl_error(&l->yl, n, "fetch arg '%s': the kernel has no $argN for uprobes, and this "
                                        "daemon knows the argument registers of x86-64 and aarch64 only: write "
                                        "the register", s);
                if (r == -ERANGE && an != ULONG_MAX)
                        return yl_error(&l->yl, n, "fetch arg '%s': $arg%lu has no register: a uprobe's $argN is the "
                                        "register of the Nth integer argument, N = 1..%u on %s", s, an, max, arch);
                if (r == -ERANGE)
                        return yl_error(&l->yl, n, "fetch arg '%s': a uprobe's $argN is the register of the Nth "
                                        "integer argument, N = 1..%u on %s", s, max, arch);
        }

        if (!name_is_valid(name))
                return yl_error(&l->yl, n, "invalid fetch arg name '%s': must match [A-Za-z_][A-Za-z0-9_]* "
                                "and be at most %d characters", name, CONFIG_NAME_MAX);
        if (strncmp(name, "common_", 7) == 0)
                return yl_error(&l->yl, n, "fetch arg name '%s' is reserved: common_* are the kernel's common fields", name);
        for (size_t i = 0; i + 1 < p->n_fields; i++)
                if (strcmp(p->fields[i], name) == 0)
                        return yl_error(&l->yl, n, "duplicate fetch arg name '%s'", name);
        return true;
}

static void parse_fetch(Loader *l, yaml_node_t *n, ProbeConfig *p, bool type_known) {
        ssize_t count = yl_sequence(&l->yl, n, "fetch", CONFIG_FETCH_MAX);
        if (count < 0)
                return;
        p->fetch = xcalloc((size_t) count, sizeof(char *));
        p->fields = xcalloc((size_t) count, sizeof(char *));
        p->field_is_string = xcalloc((size_t) count, sizeof(bool));
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
                yaml_node_t *item = yl_node(&l->yl, *i);
                const char *s = yl_string(&l->yl, item, "fetch");
                if (s)
                        parse_fetch_arg(l, item, p, type_known, s);
        }
}

/* {map: {KEY: VALUE, ...}}; entries are kept as written. */
static void parse_decoder_map(Loader *l, yaml_node_t *n, Decoder *d) {
        YlKey slots[] = { { .name = "map" } };
        ssize_t count;

        d->kind = DECODER_MAP;
        if (!yl_keys(&l->yl, n, "a decoder", slots, ELEMENTSOF(slots)))
                return;
        if (!slots[0].value) {
                /* Other keys were reported as unknown already. */
                if (n->data.mapping.pairs.top == n->data.mapping.pairs.start)
                        yl_error(&l->yl, n, "decoder mapping is missing 'map'");
                return;
        }
        yaml_node_t *m = slots[0].value;
        count = yl_mapping(&l->yl, m, "map", CONFIG_MAP_MAX);
        if (count < 0)
                return;
        if (count == 0) {
                yl_error(&l->yl, m, "'map' must not be empty");
                return;
        }
        d->map = xcalloc((size_t) count, sizeof(MapEntry));
        for (yaml_node_pair_t *pair = m->data.mapping.pairs.start; pair < m->data.mapping.pairs.top; pair++) {
                yaml_node_t *k = yl_node(&l->yl, pair->key), *v = yl_node(&l->yl, pair->value);

                if (!yl_is_text(k))
                        yl_error(&l->yl, k, "'map' keys must be scalars");
                else if (!yl_is_text(v))
                        yl_error(&l->yl, v, "'map' values must be scalars");
                else if (!yl_key_is_duplicate(&l->yl, m, pair))
                        d->map[d->n_map++] = (MapEntry){ xstrdup(yl_value(k)), xstrdup(yl_value(v)) };
        }
}

static void parse_decode(Loader *l, yaml_node_t *n, ProbeConfig *p, bool type_known) {
        ssize_t count = yl_mapping(&l->yl, n, "decode", CONFIG_DECODERS_MAX);
        if (count < 0)
                return;
        p->decoders = xcalloc((size_t) count, sizeof(Decoder));
        for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
                yaml_node_t *k = yl_node(&l->yl, pair->key), *v = yl_node(&l->yl, pair->value);

                if (!yl_is_text(k)) {
                        yl_error(&l->yl, k, "'decode' keys must be field names");
                        continue;
                }
                const char *field = yl_value(k);
                Decoder *d = &p->decoders[p->n_decoders++];
                *d = (Decoder){ .field = xstrdup(field), .line = yl_line(k), .column = yl_column(k) };

                if (yl_key_is_duplicate(&l->yl, n, pair))
                        ;
                else if (!name_is_valid(field))
                        yl_error(&l->yl, k, "invalid field name '%s' in 'decode'", field);
                else if (type_known && p->type != PROBE_TRACEPOINT && !probe_has_field(p, field))
                        /* Tracepoint fields are only known from the kernel's
                         * format file: the daemon checks those later. */
                        yl_error(&l->yl, k, "decode: '%s' is not a field of probe '%s' (fields are the fetch names)",
                                 field, p->name ? p->name : "?");

                if (v->type == YAML_MAPPING_NODE)
                        parse_decoder_map(l, v, d);
                else if (!yl_is_text(v) || yl_is_null(v))
                        yl_error(&l->yl, v, "decoder for '%s' must be a name or {map: {...}}", field);
                else {
                        for (DecoderKind kind = DECODER_NTOHS; kind < DECODER_MAP; kind++)
                                if (strcmp(yl_value(v), decoder_kind_table[kind]) == 0)
                                        d->kind = kind;
                        if (d->kind == DECODER_NONE)
                                yl_error(&l->yl, v, "unknown decoder '%s' (expected ntohs, ntohl, ipv4, ipv6, ip, hex, "
                                         "errno, string, devt or {map: {...}})", yl_value(v));
                }
        }
}

static bool check_label(Loader *l, const yaml_node_t *n, const ProbeConfig *p, bool type_known,
                        const MetricConfig *m, const char *s, const char *field) {
        if (!name_is_valid(s))
                return yl_error(&l->yl, n, "invalid label name '%s'", s);
        if (!name_is_valid(field))
                return yl_error(&l->yl, n, "invalid field name '%s' for label '%s'", field, s);
        if (strncmp(s, "__", 2) == 0)
                return yl_error(&l->yl, n, "label name '%s' is reserved (starts with __)", s);
        if (m->type == METRIC_HISTOGRAM && strcmp(s, "le") == 0)
                return yl_error(&l->yl, n, "label 'le' is the bucket bound of a histogram");
        for (size_t j = 0; j < m->n_labels; j++)
                if (strcmp(m->labels[j], s) == 0)
                        return yl_error(&l->yl, n, "duplicate label '%s'", s);
        /* A latency metric's labels may be fields of the entry probe too:
         * check_latency() checks those once all probes are read. */
        if (type_known && p->type != PROBE_TRACEPOINT && !m->latency_from.name && !label_is_builtin(field) &&
            !probe_has_field(p, field))
                return yl_error(&l->yl, n, "label '%s' is neither a field of probe '%s' nor a builtin "
                                "(" CONFIG_BUILTIN_LABELS ")", field, p->name ? p->name : "?");
        return true;
}

static bool name_has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);
        return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool check_metric_name(Loader *l, const yaml_node_t *n, const char *s, MetricType type) {
        static const char *const reserved[] = { "kprobe_exporter_", "process_" };
        static const char *const histogram_suffixes[] = { "_total", "_bucket", "_count", "_sum", "_created" };

        if (!metric_name_is_valid(s))
                return yl_error(&l->yl, n, "invalid metric name '%s': must match [a-zA-Z_][a-zA-Z0-9_]*", s);
        if (type == METRIC_COUNTER && (strlen(s) < 7 || !name_has_suffix(s, "_total")))
                return yl_error(&l->yl, n, "metric name '%s' must end in _total (it is a counter)", s);
        if (type == METRIC_HISTOGRAM)
                for (size_t i = 0; i < ELEMENTSOF(histogram_suffixes); i++)
                        if (name_has_suffix(s, histogram_suffixes[i]))
                                return yl_error(&l->yl, n, "histogram name '%s' must not end in %s (its series are "
                                                "NAME_bucket, NAME_sum and NAME_count)", s, histogram_suffixes[i]);
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (strncmp(s, reserved[i], strlen(reserved[i])) == 0)
                        return yl_error(&l->yl, n, "metric name '%s' uses the reserved prefix '%s'", s, reserved[i]);
        const Seen *first = seen_find(&l->metric_names, s);
        char where[PATH_MAX + 32];
        if (first)
                return yl_error(&l->yl, n, "duplicate metric name '%s' (first at %s)", s,
                                seen_where(l, first, where, sizeof(where)));
        seen_add(&l->metric_names, s, NULL, l->file, yl_line(n));
        return true;
}

/* A plain scalar that is a finite number (YAML int or float). */
static bool get_number(Loader *l, const yaml_node_t *n, const char *what, double *ret) {
        char *end;
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !yl_is_text(n) ||
            n->data.scalar.length == 0 || n->data.scalar.length > 64)
                return yl_error(&l->yl, n, "'%s' must be a number", what);
        errno = 0;
        double v = strtod(yl_value(n), &end);
        if (*end != 0 || end == yl_value(n) || !isfinite(v) || errno == ERANGE ||
            strpbrk(yl_value(n), "xXpP") /* hex floats: not YAML */)
                return yl_error(&l->yl, n, "'%s' must be a finite number, not '%s'", what, yl_value(n));
        *ret = v;
        return true;
}

/* A generated bound as a user would write it: 15 significant digits, so
 * 0 + 3 * 0.1 is 0.3 (not 0.30000000000000004), and the bound is what that
 * text reads back as, so a value equal to the printed le is in its bucket. */
static char *format_bound(double *v) {
        char tmp[40];
        snprintf(tmp, sizeof(tmp), "%.15g", *v);
        *v = strtod(tmp, NULL);
        return xstrdup(tmp);
}

static void buckets_add(MetricConfig *m, double v, char *text) {
        m->buckets = xrealloc(m->buckets, (m->n_buckets + 1) * sizeof(double));
        m->bucket_text = xrealloc(m->bucket_text, (m->n_buckets + 1) * sizeof(char *));
        m->buckets[m->n_buckets] = v;
        m->bucket_text[m->n_buckets++] = text;
}

/* {exponential: {start, factor, count}} or {linear: {start, width, count}}. */
static void parse_bucket_layout(Loader *l, yaml_node_t *n, MetricConfig *m) {
        YlKey kinds[] = { { .name = "exponential" }, { .name = "linear" } };
        if (!yl_keys(&l->yl, n, "'buckets'", kinds, ELEMENTSOF(kinds)))
                return;
        if (!!kinds[0].value == !!kinds[1].value) {
                if (kinds[0].value || n->data.mapping.pairs.top == n->data.mapping.pairs.start)
                        yl_error(&l->yl, n, "'buckets' must be a list of bounds, {exponential: {...}} or {linear: {...}}");
                return;
        }
        bool exponential = kinds[0].value != NULL;
        yaml_node_t *v = exponential ? kinds[0].value : kinds[1].value;
        YlKey slots[] = { { .name = "start" }, { .name = exponential ? "factor" : "width" }, { .name = "count" } };
        if (!yl_keys(&l->yl, v, exponential ? "'exponential'" : "'linear'", slots, ELEMENTSOF(slots)))
                return;
        double start = 0, step = 0;
        unsigned count = 0;
        bool ok = true;
        for (size_t i = 0; i < ELEMENTSOF(slots); i++)
                if (!slots[i].value)
                        ok = yl_error(&l->yl, v, "'%s' is missing '%s'", kinds[exponential ? 0 : 1].name, slots[i].name);
        if (!ok)
                return;
        /* Both checked, each error reported. */
        bool start_ok = get_number(l, slots[0].value, "start", &start);
        bool step_ok = get_number(l, slots[1].value, slots[1].name, &step);
        ok = start_ok && step_ok;
        size_t before = l->yl.errs->n;
        yl_uint(&l->yl, slots[2].value, "count", 1, CONFIG_BUCKETS_MAX, &count);
        if (!ok || l->yl.errs->n != before)
                return;
        if (exponential && start <= 0)
                return (void) yl_error(&l->yl, slots[0].value, "exponential buckets need a 'start' above 0");
        if (exponential && step <= 1)
                return (void) yl_error(&l->yl, slots[1].value, "exponential buckets need a 'factor' above 1");
        if (!exponential && step <= 0)
                return (void) yl_error(&l->yl, slots[1].value, "linear buckets need a 'width' above 0");
        for (unsigned i = 0; i < count; i++) {
                /* Each bound from start directly (start * factor^i, start +
                 * i * width): no error accumulates over the steps. */
                double b = exponential ? start * pow(step, (double) i) : start + (double) i * step;
                char *text = isfinite(b) ? format_bound(&b) : NULL;
                if (!text || (m->n_buckets > 0 && b <= m->buckets[m->n_buckets - 1])) {
                        free(text);
                        return (void) yl_error(&l->yl, slots[2].value, "bucket %u of this layout is %s", i + 1,
                                               text ? "not above the one before" : "not finite");
                }
                buckets_add(m, b, text);
        }
}

static void parse_buckets(Loader *l, yaml_node_t *n, MetricConfig *m) {
        if (n->type == YAML_MAPPING_NODE) {
                parse_bucket_layout(l, n, m);
                return;
        }
        ssize_t count = yl_sequence(&l->yl, n, "buckets", CONFIG_BUCKETS_MAX);
        if (count < 0)
                return;
        if (count == 0) {
                yl_error(&l->yl, n, "'buckets' must not be empty");
                return;
        }
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
                yaml_node_t *item = yl_node(&l->yl, *i);
                double v;
                if (!get_number(l, item, "buckets", &v))
                        continue;
                if (m->n_buckets > 0 && v <= m->buckets[m->n_buckets - 1]) {
                        yl_error(&l->yl, item, "bucket bound %s is not above the one before (%s): bounds must be "
                                 "sorted, each once", yl_value(item), m->bucket_text[m->n_buckets - 1]);
                        continue;
                }
                buckets_add(m, v, xstrdup(yl_value(item)));
        }
}

/* Prometheus' client libraries' default buckets (seconds). */
static void default_buckets(MetricConfig *m) {
        static const char *const bounds[] = { "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10" };
        for (size_t i = 0; i < ELEMENTSOF(bounds); i++)
                buckets_add(m, strtod(bounds[i], NULL), xstrdup(bounds[i]));
}

static void named_at(Loader *l, const yaml_node_t *n, const char *s, NamedAt *ret) {
        (void) l;
        *ret = (NamedAt){ xstrdup(s), yl_line(n), yl_column(n) };
}

/* A metric's HELP when the config gives none: what it counts, sums or
 * observes, so that a scrape says what the number is. */
static char *default_help(const ProbeConfig *p, const MetricConfig *m) {
        _cleanup_buf_ Buf b = { 0 };
        const char *probe = p->name ? p->name : "?";

        if (m->latency_from.name)
                buf_printf(&b, "Seconds from an event of probe %s to the matching event of probe %s", m->latency_from.name,
                           probe);
        else if (m->value.name && m->type == METRIC_HISTOGRAM)
                buf_printf(&b, "Values of field %s of probe %s", m->value.name, probe);
        else if (m->value.name)
                buf_printf(&b, "Sum of field %s of probe %s", m->value.name, probe);
        else
                buf_printf(&b, "Events of probe %s", probe);
        if (m->scale != 1 && (m->value.name || m->latency_from.name))
                buf_printf(&b, ", times %g", m->scale);
        return buf_steal(&b);
}

/* Conditions (start, end, when) on a kprobe kind's events name its fetch
 * fields; a tracepoint's are checked against its format by the daemon
 * (registry_check_config()). Errors go to file, the metric's. */
static void check_condition_fields(Loader *l, const char *file, const ProbeConfig *probe, const Condition *c, size_t n,
                                   const char *what) {
        for (size_t i = 0; probe->type != PROBE_TRACEPOINT && i < n; i++)
                if (!probe_has_field(probe, c[i].field.name))
                        error_in(l, file, c[i].field.line, c[i].field.column, "%s: '%s' is not a field of probe '%s'",
                                 what, c[i].field.name, probe->name ? probe->name : "?");
}

/* start:/end:/when: a mapping of field names to the values they must have. */
static void parse_conditions(Loader *l, yaml_node_t *n, const char *what, Condition **ret, size_t *n_ret) {
        if (n->type != YAML_MAPPING_NODE) {
                yl_error(&l->yl, n, "'%s' must be a mapping of fields to values, e.g. {newstate: TCP_CLOSE}", what);
                return;
        }
        size_t count = (size_t) (n->data.mapping.pairs.top - n->data.mapping.pairs.start);
        if (count == 0 || count > CONFIG_LABELS_MAX) {
                yl_error(&l->yl, n, "'%s' must have 1 to %u conditions", what, CONFIG_LABELS_MAX);
                return;
        }
        *ret = xcalloc(count, sizeof(Condition));
        for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
                yaml_node_t *k = yl_node(&l->yl, pair->key), *v = yl_node(&l->yl, pair->value);
                const char *field = yl_string(&l->yl, k, what), *value = yl_string(&l->yl, v, what);
                if (!field || !value)
                        continue;
                if (!name_is_valid(field)) {
                        yl_error(&l->yl, k, "invalid field name '%s' in '%s'", field, what);
                        continue;
                }
                Condition *c = &(*ret)[(*n_ret)++];
                named_at(l, k, field, &c->field);
                c->value = xstrdup(value);
        }
}

static void parse_metric(Loader *l, yaml_node_t *n, const ProbeConfig *p, bool type_known, MetricConfig *m) {
        YlKey slots[] = {
                { .name = "name" },         { .name = "help" },         { .name = "labels" },
                { .name = "type" },         { .name = "value" },        { .name = "scale" },
                { .name = "buckets" },      { .name = "latency_from" }, { .name = "match" },
                { .name = "max_pending" },  { .name = "pending_timeout" }, { .name = "max_label_bytes" },
                { .name = "aggregate" },    { .name = "start" },        { .name = "end" },
                { .name = "when" },
        };
        YlKey *name = &slots[0], *help = &slots[1], *labels = &slots[2], *type = &slots[3], *value = &slots[4],
                *scale = &slots[5], *buckets = &slots[6], *latency = &slots[7], *match = &slots[8],
                *max_pending = &slots[9], *timeout = &slots[10], *label_bytes = &slots[11], *aggregate = &slots[12],
                *start = &slots[13], *end = &slots[14], *when = &slots[15];
        const char *s;
        ssize_t count;

        m->line = yl_line(n);
        m->column = yl_column(n);
        m->scale = 1.0;
        m->max_pending = CONFIG_DEFAULT_MAX_PENDING;
        m->pending_timeout = CONFIG_DEFAULT_PENDING_TIMEOUT;
        if (!yl_keys(&l->yl, n, "a metric", slots, ELEMENTSOF(slots)))
                return;

        if (type->value && (s = yl_string(&l->yl, type->value, "type"))) {
                if (strcmp(s, "histogram") == 0)
                        m->type = METRIC_HISTOGRAM;
                else if (strcmp(s, "counter") != 0)
                        yl_error(&l->yl, type->value, "unknown metric type '%s' (expected counter or histogram)", s);
        }
        if (!name->value)
                yl_error(&l->yl, n, "metric is missing 'name'");
        else if ((s = yl_string(&l->yl, name->value, "name"))) {
                m->name = xstrdup(s);
                check_metric_name(l, name->value, m->name, m->type); /* our copy outlives the document */
        }
        if (help->value && (s = yl_string(&l->yl, help->value, "help")))
                m->help = xstrdup(s);

        if (value->value && (s = yl_string(&l->yl, value->value, "value"))) {
                named_at(l, value->value, s, &m->value);
                const Decoder *d = probe_find_decoder(p, s);
                if (!name_is_valid(s))
                        yl_error(&l->yl, value->value, "invalid field name '%s' in 'value'", s);
                else if (type_known && p->type != PROBE_TRACEPOINT && !probe_has_field(p, s))
                        yl_error(&l->yl, value->value, "value: '%s' is not a field of probe '%s' "
                                 "(fields are the fetch names)", s, p->name ? p->name : "?");
                else if (type_known && p->type != PROBE_TRACEPOINT && p->field_is_string[probe_field_index(p, s)])
                        yl_error(&l->yl, value->value, "value: field '%s' is a string, not a number", s);
                else if (!decoder_is_numeric(d))
                        yl_error(&l->yl, value->value, "value: field '%s' is decoded as %s, which is not a number "
                                 "(a value may use ntohs, ntohl, hex or no decoder)", s, decoder_kind_to_string(d->kind));
        }
        if (scale->value && get_number(l, scale->value, "scale", &m->scale) && m->scale == 0)
                yl_error(&l->yl, scale->value, "'scale' must not be 0");

        if (latency->value && (s = yl_string(&l->yl, latency->value, "latency_from"))) {
                named_at(l, latency->value, s, &m->latency_from);
                if (m->type != METRIC_HISTOGRAM)
                        yl_error(&l->yl, latency->key, "'latency_from' needs 'type: histogram' (a latency is observed)");
                else if (value->value)
                        yl_error(&l->yl, latency->key, "'latency_from' and 'value' exclude each other: the observed "
                                 "value is the time since the entry event");
                else if (p->name && strcmp(s, p->name) == 0 && (!start->value || !end->value))
                        yl_error(&l->yl, latency->value, "latency_from: probe '%s' is this metric's own probe: "
                                 "give 'start' and 'end' to pair two kinds of its events", s);
                /* Whether the probe exists is known once all are read: check_latency(). */
        }
        if (m->type == METRIC_HISTOGRAM && !value->value && !latency->value)
                yl_error(&l->yl, n, "a histogram needs 'value' (a field to observe) or 'latency_from' (a probe)");
        if (!m->latency_from.name)
                for (size_t i = 8; i < ELEMENTSOF(slots); i++)
                        if (slots[i].key && i != 11 && i != 12 && i != 15)
                                yl_error(&l->yl, slots[i].key, "'%s' is only for latency histograms ('latency_from')",
                                         slots[i].name);
        if (start->value)
                parse_conditions(l, start->value, "start", &m->start, &m->n_start);
        if (end->value)
                parse_conditions(l, end->value, "end", &m->end, &m->n_end);
        if (when->value && m->latency_from.name)
                yl_error(&l->yl, when->key, "'when' is for counters and value histograms: a latency's events "
                         "are chosen by 'start' and 'end'");
        else if (when->value) {
                parse_conditions(l, when->value, "when", &m->when, &m->n_when);
                if (type_known)
                        check_condition_fields(l, p->file, p, m->when, m->n_when, "when");
        }
        if (match->value && (count = yl_sequence(&l->yl, match->value, "match", CONFIG_LABELS_MAX)) >= 0) {
                if (count == 0)
                        yl_error(&l->yl, match->value, "'match' must not be empty (leave it out to match the same thread)");
                m->match = xcalloc((size_t) count + 1, sizeof(NamedAt));
                for (yaml_node_item_t *i = match->value->data.sequence.items.start;
                     i < match->value->data.sequence.items.top; i++) {
                        yaml_node_t *item = yl_node(&l->yl, *i);
                        if (!(s = yl_string(&l->yl, item, "match")))
                                continue;
                        if (!name_is_valid(s)) {
                                yl_error(&l->yl, item, "invalid field name '%s' in 'match'", s);
                                continue;
                        }
                        for (size_t k = 0; k < m->n_match; k++)
                                if (strcmp(m->match[k].name, s) == 0)
                                        yl_error(&l->yl, item, "duplicate field '%s' in 'match'", s);
                        named_at(l, item, s, &m->match[m->n_match++]);
                }
        }
        if (max_pending->value)
                yl_uint(&l->yl, max_pending->value, "max_pending", 1, 16u << 20, &m->max_pending);
        if (timeout->value && get_number(l, timeout->value, "pending_timeout", &m->pending_timeout) &&
            (m->pending_timeout <= 0 || m->pending_timeout > 86400))
                yl_error(&l->yl, timeout->value, "'pending_timeout' must be above 0 and at most 86400 seconds");
        if (label_bytes->value)
                yl_uint(&l->yl, label_bytes->value, "max_label_bytes", CONFIG_MAX_LABEL_BYTES_MIN,
                        CONFIG_MAX_LABEL_BYTES_MAX, &m->max_label_bytes);

        if (aggregate->value && (s = yl_string(&l->yl, aggregate->value, "aggregate"))) {
                m->aggregate_line = yl_line(aggregate->value);
                m->aggregate_column = yl_column(aggregate->value);
                bool known = false;
                for (Aggregate a = 0; a < _AGGREGATE_MAX; a++)
                        if (strcmp(s, aggregate_to_string(a)) == 0) {
                                m->aggregate = a;
                                known = true;
                        }
                if (!known)
                        yl_error(&l->yl, aggregate->value, "unknown 'aggregate' '%s' (expected auto, kernel or user)", s);
        }

        if (!m->help)
                m->help = default_help(p, m);

        if (buckets->value && m->type != METRIC_HISTOGRAM)
                yl_error(&l->yl, buckets->key, "'buckets' is only for 'type: histogram'");
        else if (buckets->value)
                parse_buckets(l, buckets->value, m);
        else if (m->type == METRIC_HISTOGRAM)
                default_buckets(m);

        if (!labels->value || (count = yl_sequence(&l->yl, labels->value, "labels", CONFIG_LABELS_MAX)) < 0)
                return;
        m->labels = xcalloc((size_t) count, sizeof(char *));
        m->label_fields = xcalloc((size_t) count, sizeof(char *));
        m->label_line = xcalloc((size_t) count, sizeof(unsigned));
        m->label_column = xcalloc((size_t) count, sizeof(unsigned));
        for (yaml_node_item_t *i = labels->value->data.sequence.items.start;
             i < labels->value->data.sequence.items.top; i++) {
                yaml_node_t *item = yl_node(&l->yl, *i);
                const char *field = NULL;
                /* NAME, or {NAME: FIELD}: the label NAME shows FIELD. */
                if (item->type == YAML_MAPPING_NODE) {
                        if (item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1) {
                                yl_error(&l->yl, item, "a label is NAME or {NAME: FIELD}, one pair");
                                continue;
                        }
                        yaml_node_pair_t *pair = item->data.mapping.pairs.start;
                        yaml_node_t *k = yl_node(&l->yl, pair->key), *v = yl_node(&l->yl, pair->value);
                        s = yl_string(&l->yl, k, "labels");
                        field = yl_string(&l->yl, v, "labels");
                        if (!s || !field)
                                continue;
                        item = k;
                } else if (!(s = yl_string(&l->yl, item, "labels")))
                        continue;
                if (check_label(l, item, p, type_known, m, s, field ? field : s)) {
                        m->label_line[m->n_labels] = yl_line(item);
                        m->label_column[m->n_labels] = yl_column(item);
                        m->label_fields[m->n_labels] = field && strcmp(field, s) != 0 ? xstrdup(field) : NULL;
                        m->labels[m->n_labels++] = xstrdup(s);
                }
        }
}

/* Once every probe is read: a latency metric's entry probe exists and can
 * start an interval; its match fields and its labels are fields of one
 * event or the other (kprobe kinds: known from the fetch args; a
 * tracepoint's fields are checked against its format by the daemon). */
static void check_latency(Loader *l, const Config *c, const ProbeConfig *p, const MetricConfig *m) {
        const NamedAt *lf = &m->latency_from;
        const ProbeConfig *e = config_find_probe(c, lf->name);
        if (!e) {
                error_in(l, p->file, lf->line, lf->column, "latency_from: there is no probe '%s'", lf->name);
                return;
        }
        if (e == p && (m->n_start == 0 || m->n_end == 0))
                return; /* reported */
        check_condition_fields(l, p->file, e, m->start, m->n_start, "start");
        check_condition_fields(l, p->file, p, m->end, m->n_end, "end");
        if (e->type == PROBE_KRETPROBE || e->type == PROBE_URETPROBE) {
                error_in(l, p->file, lf->line, lf->column, "latency_from: probe '%s' is a %s: an interval "
                                  "starts at an entry (kprobe, uprobe or tracepoint)", lf->name,
                                  probe_type_to_string(e->type));
                return;
        }
        for (size_t i = 0; i < m->n_match; i++) {
                const NamedAt *f = &m->match[i];
                if (match_is_thread(f->name))
                        continue;
                const ProbeConfig *side[] = { p, e };
                for (size_t k = 0; k < 2; k++)
                        if (side[k]->type != PROBE_TRACEPOINT && !probe_has_field(side[k], f->name))
                                error_in(l, p->file, f->line, f->column,
                                                  "match: '%s' is not a field of probe '%s'%s", f->name, side[k]->name,
                                                  k ? " (the entry, latency_from)" : " (this metric's probe)");
        }
        for (size_t i = 0; i < m->n_labels; i++) {
                const char *s = metric_label_field(m, i);
                if (label_is_builtin(s) || p->type == PROBE_TRACEPOINT || e->type == PROBE_TRACEPOINT)
                        continue;
                if (!probe_has_field(p, s) && !probe_has_field(e, s))
                        error_in(l, p->file, m->label_line[i], m->label_column[i],
                                          "label '%s' is a field of neither probe '%s' nor its entry '%s', nor a "
                                          "builtin (" CONFIG_BUILTIN_LABELS ")", s, p->name, e->name);
        }
}

/* OpenMetrics names a counter's family without _total: a histogram named
 * like that would be a second family of one name. */
static void check_family_clash(Loader *l, const Config *c, const ProbeConfig *hp, const MetricConfig *h) {
        for (size_t i = 0; i < c->n_probes; i++)
                for (size_t k = 0; k < c->probes[i].n_metrics; k++) {
                        const MetricConfig *o = &c->probes[i].metrics[k];
                        size_t n = o->name ? strlen(o->name) : 0;
                        if (o->type == METRIC_COUNTER && n > 6 && strlen(h->name) == n - 6 &&
                            strncmp(o->name, h->name, n - 6) == 0)
                                error_in(l, hp->file, h->line, h->column, "histogram '%s' has the name of "
                                         "counter '%s' without _total (%s:%u): OpenMetrics would show them as one "
                                         "family", h->name, o->name, c->probes[i].file ? c->probes[i].file : c->path,
                                         o->line);
                }
}

static void check_metrics_across(Loader *l, const Config *c) {
        for (size_t i = 0; i < c->n_probes; i++)
                for (size_t k = 0; k < c->probes[i].n_metrics; k++) {
                        const MetricConfig *m = &c->probes[i].metrics[k];
                        if (m->latency_from.name && m->type == METRIC_HISTOGRAM && !m->value.name)
                                check_latency(l, c, &c->probes[i], m);
                        if (m->type == METRIC_HISTOGRAM && m->name)
                                check_family_clash(l, c, &c->probes[i], m);
                }
}

/* trace_pipe names a record by its event name only: a kprobe kind by the
 * probe name, a tracepoint by the part after '/'. Two equal event names
 * could not be told apart. */
static void check_event_name(Loader *l, const ProbeConfig *p, const yaml_node_t *name_node,
                             const yaml_node_t *target_node) {
        const Seen *s;
        char w[PATH_MAX + 32];

        if (p->type != PROBE_TRACEPOINT) {
                s = seen_find(&l->events, p->name);
                /* Against another kprobe kind this is a duplicate probe name,
                 * reported already. */
                if (!s)
                        seen_add(&l->events, p->name, NULL, l->file, yl_line(name_node));
                else if (s->target)
                        yl_error(&l->yl, name_node, "probe name '%s' is the event name of tracepoint '%s' (%s): "
                                 "trace_pipe could not tell them apart", p->name, s->target,
                                 seen_where(l, s, w, sizeof(w)));
                return;
        }

        const char *event = strchr(p->target, '/') + 1;
        s = seen_find(&l->events, event);
        if (!s)
                seen_add(&l->events, event, p->target, l->file, yl_line(target_node));
        else if (!s->target)
                yl_error(&l->yl, target_node, "tracepoint event '%s' is also the name of probe '%s' (%s): "
                         "trace_pipe could not tell them apart", event, s->name, seen_where(l, s, w, sizeof(w)));
        else if (strcmp(s->target, p->target) == 0)
                yl_error(&l->yl, target_node, "duplicate tracepoint target '%s' (first at %s)", p->target,
                         seen_where(l, s, w, sizeof(w)));
        else
                yl_error(&l->yl, target_node, "tracepoint '%s' has the same event name as '%s' (%s): "
                         "trace_pipe could not tell them apart", p->target, s->target, seen_where(l, s, w, sizeof(w)));
}

static bool probe_uses_label(const ProbeConfig *p, const char *label) {
        for (size_t m = 0; m < p->n_metrics; m++)
                for (size_t i = 0; i < p->metrics[m].n_labels; i++)
                        if (strcmp(metric_label_field(&p->metrics[m], i), label) == 0)
                                return true;
        return false;
}

/* A kprobe-kind probe counted by comm fetches comm itself ($comm, in the
 * record): the comm of the trace_pipe header comes from a cache the kernel
 * fills lazily, and reads "<...>" for a process that exits right after the
 * event, so "which process connects" would be lost for short-lived ones. */
static void add_implicit_comm(ProbeConfig *p) {
        if (!probe_uses_label(p, "comm") || probe_has_field(p, "comm") || p->n_fetch >= CONFIG_FETCH_MAX)
                return;
        p->fetch = xrealloc(p->fetch, (p->n_fetch + 1) * sizeof(char *));
        p->fields = xrealloc(p->fields, (p->n_fields + 1) * sizeof(char *));
        p->field_is_string = xrealloc(p->field_is_string, (p->n_fields + 1) * sizeof(bool));
        p->fetch[p->n_fetch++] = xstrdup("comm=$comm:string");
        p->field_is_string[p->n_fields] = true;
        p->fields[p->n_fields++] = xstrdup("comm");
        p->comm_fetched = true;
}

static void parse_probe(Loader *l, yaml_node_t *n, ProbeConfig *p) {
        YlKey slots[] = {
                { .name = "name" },   { .name = "type" },   { .name = "target" },  { .name = "fetch" },
                { .name = "filter" }, { .name = "decode" }, { .name = "metrics" }, { .name = "events" },
                { .name = "journal" }, { .name = "journal_rate" },
        };
        YlKey *name = &slots[0], *type = &slots[1], *target = &slots[2], *fetch = &slots[3],
                *filter = &slots[4], *decode = &slots[5], *metrics = &slots[6], *events = &slots[7],
                *journal = &slots[8], *journal_rate = &slots[9];
        bool name_ok = false, type_ok = false, target_ok = false;
        const char *s;
        ssize_t count;

        p->line = yl_line(n);
        p->column = yl_column(n);
        p->file = l->file;
        p->events = true;
        if (!yl_keys(&l->yl, n, "a probe", slots, ELEMENTSOF(slots)))
                return;
        if (events->value)
                yl_bool(&l->yl, events->value, "events", &p->events);
        p->journal_rate = CONFIG_DEFAULT_JOURNAL_RATE;
        if (journal->value)
                yl_bool(&l->yl, journal->value, "journal", &p->journal);
        if (journal_rate->value)
                yl_uint(&l->yl, journal_rate->value, "journal_rate", 1, 1000000, &p->journal_rate);
        for (size_t i = 0; i < 3; i++)
                if (!slots[i].value)
                        yl_error(&l->yl, n, "probe is missing '%s'", slots[i].name);

        if (name->value && (s = yl_string(&l->yl, name->value, "name"))) {
                const Seen *first = seen_find(&l->probe_names, s);
                char where[PATH_MAX + 32];
                p->name = xstrdup(s);
                if (!name_is_valid(s))
                        yl_error(&l->yl, name->value, "invalid probe name '%s': must match [A-Za-z_][A-Za-z0-9_]* "
                                 "and be at most %d characters", s, CONFIG_NAME_MAX);
                else if (first)
                        yl_error(&l->yl, name->value, "duplicate probe name '%s' (first at %s)", s,
                                 seen_where(l, first, where, sizeof(where)));
                else {
                        seen_add(&l->probe_names, p->name, NULL, l->file, yl_line(name->value));
                        name_ok = true;
                }
        }

        if (type->value && (s = yl_string(&l->yl, type->value, "type"))) {
                for (ProbeType t = 0; t < _PROBE_TYPE_MAX; t++)
                        if (strcmp(s, probe_type_table[t]) == 0) {
                                p->type = t;
                                type_ok = true;
                        }
                if (!type_ok)
                        yl_error(&l->yl, type->value, "unknown probe type '%s' (expected kprobe, kretprobe, uprobe, "
                                 "uretprobe or tracepoint)", s);
        }

        if (target->value) {
                p->target_line = yl_line(target->value);
                p->target_column = yl_column(target->value);
                if ((s = yl_string(&l->yl, target->value, "target"))) {
                        p->target = xstrdup(s);
                        target_ok = type_ok && check_target(l, target->value, p->type, s);
                }
        }

        if (fetch->value && type_ok && p->type == PROBE_TRACEPOINT)
                yl_error(&l->yl, fetch->key, "'fetch' is not allowed for tracepoint probes "
                         "(their fields come from the kernel)");
        else if (fetch->value)
                parse_fetch(l, fetch->value, p, type_ok);

        if (filter->value && (s = yl_string(&l->yl, filter->value, "filter"))) {
                if (strpbrk(s, "\n\r"))
                        yl_error(&l->yl, filter->value, "'filter' must not contain a newline");
                else if (s[0])
                        p->filter = xstrdup(s);
        }

        if (decode->value)
                parse_decode(l, decode->value, p, type_ok);
        if (metrics->value && (count = yl_sequence(&l->yl, metrics->value, "metrics", CONFIG_METRICS_MAX)) >= 0) {
                p->metrics = xcalloc((size_t) count, sizeof(MetricConfig));
                for (yaml_node_item_t *i = metrics->value->data.sequence.items.start;
                     i < metrics->value->data.sequence.items.top; i++)
                        parse_metric(l, yl_node(&l->yl, *i), p, type_ok, &p->metrics[p->n_metrics++]);
        }

        if (type_ok && (p->type == PROBE_TRACEPOINT ? target_ok : name_ok))
                check_event_name(l, p, name->value, target->value);

        if (type_ok && p->type != PROBE_TRACEPOINT)
                add_implicit_comm(p);
}

bool label_is_attribution(const char *name) {
        return name && (strcmp(name, "cgroup") == 0 || strcmp(name, "unit") == 0 || strcmp(name, "user_unit") == 0 ||
                        strcmp(name, "container_id") == 0);
}

static const struct {
        const char *name, *target;
} attribution_events[_ATTRIB_ROLE_MAX] = {
        [ATTRIB_ROLE_FORK] = { "attribution-fork", "task/task_newtask" },
        [ATTRIB_ROLE_EXIT] = { "attribution-exit", "sched/sched_process_exit" },
        [ATTRIB_ROLE_ATTACH] = { "attribution-attach", "cgroup/cgroup_attach_task" },
};

/* Whether tasks' cgroups must be followed: a label needs them, or a
 * probe's journal entries (which name the unit), or the config says so. */
static bool needs_attribution(const Loader *l, const Config *c) {
        bool journal = false;
        for (size_t i = 0; i < c->n_probes; i++) {
                const ProbeConfig *p = &c->probes[i];
                journal |= p->journal;
                /* A label that is one of the probe's own fields is that field. */
                for (size_t m = 0; m < p->n_metrics; m++)
                        for (size_t k = 0; k < p->metrics[m].n_labels; k++)
                                if (label_is_attribution(metric_label_field(&p->metrics[m], k)) &&
                                    (p->type == PROBE_TRACEPOINT ||
                                     !probe_has_field(p, metric_label_field(&p->metrics[m], k))))
                                        return true;
        }
        return l->attribution_said != 0 ? l->attribution_said > 0 : journal;
}

/* The events tasks' cgroups are followed by: a probe of the user's on the
 * same tracepoint serves (the kernel has one event of a name per
 * instance), unless a filter hides some of its events; the others are
 * added, named so no user's probe can be ("-" is not in probe names). */
static void add_attribution(Loader *l, Config *c) {
        if (!needs_attribution(l, c))
                return;
        c->attribution = true;
        for (AttribRole r = ATTRIB_ROLE_FORK; r < _ATTRIB_ROLE_MAX; r++) {
                ProbeConfig *own = NULL;
                for (size_t i = 0; i < c->n_probes; i++)
                        if (c->probes[i].type == PROBE_TRACEPOINT && c->probes[i].target &&
                            strcmp(c->probes[i].target, attribution_events[r].target) == 0)
                                own = &c->probes[i];
                if (own && own->filter) {
                        error_in(l, own->file, own->line, own->column,
                                          "probe '%s' filters %s, which following tasks' cgroups (labels cgroup, "
                                          "unit, user_unit, container_id; journal; attribution) needs whole: drop "
                                          "its filter, or count by a metric of its own", own->name, own->target);
                        continue;
                }
                if (own) {
                        own->role = r;
                        continue;
                }
                c->probes = xrealloc(c->probes, (c->n_probes + 1) * sizeof(ProbeConfig));
                c->probes[c->n_probes++] = (ProbeConfig){
                        .name = xstrdup(attribution_events[r].name),
                        .type = PROBE_TRACEPOINT,
                        .target = xstrdup(attribution_events[r].target),
                        .journal_rate = CONFIG_DEFAULT_JOURNAL_RATE,
                        .role = r,
                        .added = true,
                        .line = l->probes_line,
                        .column = l->probes_column,
                };
        }
}

/* count probes of a "probes:" sequence, after those c has. */
static void add_probes(Loader *l, Config *c, yaml_node_t *probes, size_t count) {
        c->probes = xrealloc(c->probes, (c->n_probes + count) * sizeof(ProbeConfig));
        memset(c->probes + c->n_probes, 0, count * sizeof(ProbeConfig));
        for (yaml_node_item_t *i = probes->data.sequence.items.start; i < probes->data.sequence.items.top; i++)
                parse_probe(l, yl_node(&l->yl, *i), &c->probes[c->n_probes++]);
}

/* include: a path or glob, or a list of them. */
static void parse_include(Loader *l, yaml_node_t *n) {
        l->include_said = true;
        if (!l->may_include) {
                yl_error(&l->yl, n, "'include' reads files: only a config loaded from a file may have it");
                return;
        }
        yaml_node_t *one[1] = { n };
        yaml_node_t **items = one;
        size_t count = 1;
        _cleanup_free_ yaml_node_t **list = NULL;
        if (n->type == YAML_SEQUENCE_NODE) {
                ssize_t k = yl_sequence(&l->yl, n, "include", CONFIG_INCLUDES_MAX);
                if (k <= 0)
                        return;
                list = xcalloc((size_t) k, sizeof(yaml_node_t *));
                count = 0;
                for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++)
                        list[count++] = yl_node(&l->yl, *i);
                items = list;
        }
        for (size_t i = 0; i < count; i++) {
                const char *s = yl_string(&l->yl, items[i], "include");
                if (!s)
                        continue;
                if (s[0] == 0) {
                        yl_error(&l->yl, items[i], "'include' must not be empty");
                        continue;
                }
                l->includes = xrealloc(l->includes, (l->n_includes + 1) * sizeof(Include));
                l->includes[l->n_includes++] = (Include){ xstrdup(s), yl_line(items[i]), yl_column(items[i]) };
        }
}

static void parse_root(Loader *l, yaml_node_t *root, Config *c) {
        YlKey slots[] = {
                { .name = "listen" }, { .name = "recent_events" }, { .name = "max_series" },
                { .name = "strict" }, { .name = "probes" }, { .name = "max_label_bytes" },
                { .name = "kernel_max_entries" }, { .name = "attribution" }, { .name = "include" },
        };
        yaml_node_t *probes;
        const char *s;
        ssize_t count;

        if (!yl_keys(&l->yl, root, "the config", slots, ELEMENTSOF(slots)))
                return;
        if (slots[0].value && (s = yl_string(&l->yl, slots[0].value, "listen"))) {
                char *host = NULL, port[8];
                if (s[0] == 0)
                        yl_error(&l->yl, slots[0].value, "'listen' must not be empty");
                else if (listen_address_split(s, &host, port, sizeof(port)) < 0)
                        yl_error(&l->yl, slots[0].value, "invalid 'listen' address '%s': expected HOST:PORT, "
                                 "[IPV6]:PORT or :PORT", s);
                else
                        c->listen = xstrdup(s);
                free(host);
        }
        if (slots[1].value)
                yl_uint(&l->yl, slots[1].value, "recent_events", 1, 1000000, &c->recent_events);
        if (slots[2].value)
                yl_uint(&l->yl, slots[2].value, "max_series", 1, 10000000, &c->max_series);
        if (slots[3].value)
                yl_bool(&l->yl, slots[3].value, "strict", &c->strict);
        if (slots[5].value)
                yl_uint(&l->yl, slots[5].value, "max_label_bytes", CONFIG_MAX_LABEL_BYTES_MIN,
                        CONFIG_MAX_LABEL_BYTES_MAX, &c->max_label_bytes);
        if (slots[6].value)
                yl_uint(&l->yl, slots[6].value, "kernel_max_entries", 128, 131072, &c->kernel_max_entries);

        if (slots[7].value) {
                size_t errors = l->yl.errs->n;
                bool on = false;
                yl_bool(&l->yl, slots[7].value, "attribution", &on);
                if (l->yl.errs->n == errors)
                        l->attribution_said = on ? 1 : -1;
        }

        if (slots[8].value)
                parse_include(l, slots[8].value);

        probes = slots[4].value;
        l->probes_line = probes ? yl_line(probes) : yl_line(root);
        l->probes_column = probes ? yl_column(probes) : yl_column(root);
        if (!probes) {
                /* The included files may have them all. */
                if (!slots[8].value)
                        yl_error(&l->yl, root, "config is missing 'probes' (or 'include')");
                return;
        }
        count = yl_sequence(&l->yl, probes, "probes", CONFIG_PROBES_MAX);
        if (count == 0 && !slots[8].value)
                yl_error(&l->yl, probes, "'probes' must not be empty");
        if (count <= 0)
                return;
        add_probes(l, c, probes, (size_t) count);
}

static void walk_root(YlLoader *yl, yaml_node_t *root, void *userdata) {
        Loader *l = (Loader *) yl;

        if (!root || yl_is_null(root))
                config_errors_add(l->yl.errs, root ? yl_line(root) : 1, root ? yl_column(root) : 1,
                                  "config is empty: 'probes' is required");
        else
                parse_root(l, root, userdata);
}

/* An included file: a mapping with "probes:" only. An empty file (all
 * comments) has none. */
static void walk_included(YlLoader *yl, yaml_node_t *root, void *userdata) {
        Loader *l = (Loader *) yl;
        Config *c = userdata;
        YlKey slots[] = { { .name = "probes" } };
        if (!root || yl_is_null(root))
                return;
        if (!yl_keys(&l->yl, root, "an included file (it holds 'probes:' only)", slots, ELEMENTSOF(slots)) ||
            !slots[0].value)
                return;
        ssize_t count = yl_sequence(&l->yl, slots[0].value, "probes", CONFIG_PROBES_MAX);
        if (count > 0)
                add_probes(l, c, slots[0].value, (size_t) count);
}

/* A directory of a glob that is not there matches nothing; one that
 * cannot be read is an error. */
static int glob_error(const char *path, int err) {
        (void) path;
        return err != ENOENT && err != ENOTDIR;
}

static bool has_glob(const char *s) {
        return strpbrk(s, "*?[") != NULL;
}

/* One file of an "include:" entry: read, its probes appended, its errors
 * tagged with its name. */
/* Whether the file at path was read already (the config itself, or an
 * include by another spelling: "./a.yaml", a symlink); else notes it. */
static bool read_before(Loader *l, const struct stat *st) {
        for (size_t i = 0; i < l->n_read; i++)
                if (l->read_dev[i] == st->st_dev && l->read_ino[i] == st->st_ino)
                        return true;
        l->read_dev = xrealloc(l->read_dev, (l->n_read + 1) * sizeof(dev_t));
        l->read_ino = xrealloc(l->read_ino, (l->n_read + 1) * sizeof(ino_t));
        l->read_dev[l->n_read] = st->st_dev;
        l->read_ino[l->n_read++] = st->st_ino;
        return false;
}

/* matched: by a glob, which skips what is not a regular file (a
 * directory in probes.d/); a file named outright must be one. */
static void include_file(Loader *l, Config *c, const Include *inc, const char *path, bool matched) {
        struct stat st;
        if (stat(path, &st) < 0) {
                config_errors_add(l->yl.errs, inc->line, inc->column, "include: cannot read %s: %s", path,
                                  strerror(errno));
                return;
        }
        if (!S_ISREG(st.st_mode)) {
                if (!matched)
                        config_errors_add(l->yl.errs, inc->line, inc->column, "include: %s is not a regular file",
                                          path);
                return;
        }
        if (read_before(l, &st))
                return; /* the config itself, or named twice */
        if (c->n_includes >= CONFIG_INCLUDES_MAX) {
                if (!l->includes_full)
                        config_errors_add(l->yl.errs, inc->line, inc->column, "include: more than %u files",
                                          CONFIG_INCLUDES_MAX);
                l->includes_full = true;
                return;
        }
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = config_read_file(path, &text, &len);
        if (r < 0) {
                config_errors_add(l->yl.errs, inc->line, inc->column, "include: cannot read %s: %s", path, strerror(-r));
                return;
        }
        strv_push(&c->includes, &c->n_includes, sv_from(path));
        const char *file = c->includes[c->n_includes - 1];
        ConfigErrors *errs = l->yl.errs;
        size_t before = errs->n;
        l->file = file;
        (void) yl_load(text, len, errs, &l->yl, walk_included, c);
        l->file = NULL;
        l->yl.errs = errs; /* yl_load clears it */
        config_errors_set_file(errs, before, file);
}

/* Every "include:" entry, in order: a path, or a glob whose matches are
 * read in name order (none is fine: an empty probes.d). Relative to the
 * config's directory. */
static void load_includes(Loader *l, Config *c) {
        _cleanup_free_ char *dir = xstrdup(c->path);
        char *slash = strrchr(dir, '/');
        if (slash)
                slash[slash == dir ? 1 : 0] = 0;
        for (size_t i = 0; i < l->n_includes; i++) {
                const Include *inc = &l->includes[i];
                _cleanup_free_ char *pattern = inc->pattern[0] == '/' || !slash ? xstrdup(inc->pattern)
                                                                                : xstrdupf("%s/%s", dir, inc->pattern);
                if (!has_glob(pattern)) {
                        include_file(l, c, inc, pattern, false);
                        continue;
                }
                glob_t g = { 0 };
                int r = glob(pattern, 0, glob_error, &g);
                if (r == GLOB_NOMATCH) {
                        globfree(&g);
                        continue;
                }
                if (r != 0)
                        config_errors_add(l->yl.errs, inc->line, inc->column, "include: cannot read '%s'%s",
                                          pattern, r == GLOB_ABORTED ? ": a directory is unreadable" : "");
                for (size_t k = 0; r == 0 && k < g.gl_pathc; k++)
                        include_file(l, c, inc, g.gl_pathv[k], true);
                globfree(&g);
        }
}

static int config_load(const char *name, const char *text, size_t len, bool may_include, Config **ret,
                       ConfigErrors *errs) {
        Loader l = { .may_include = may_include };
        Config *c = xcalloc(1, sizeof(Config));
        ConfigErrors local = { 0 };

        if (!errs)
                errs = &local;
        size_t before = errs->n;
        c->path = xstrdup(name ? name : "<string>");
        l.path = c->path;
        c->recent_events = CONFIG_DEFAULT_RECENT_EVENTS;
        c->max_series = CONFIG_DEFAULT_MAX_SERIES;
        c->max_label_bytes = CONFIG_DEFAULT_MAX_LABEL_BYTES;
        c->kernel_max_entries = CONFIG_DEFAULT_KERNEL_MAX_ENTRIES;

        bool main_ok = yl_load(text, len, errs, &l.yl, walk_root, c);
        /* The included files, then what spans them all. */
        l.yl.errs = errs;
        struct stat st;
        if (l.include_said && stat(c->path, &st) == 0)
                (void) read_before(&l, &st);
        if (l.include_said) {
                load_includes(&l, c);
                if (main_ok && c->n_probes == 0)
                        config_errors_add(errs, l.probes_line, l.probes_column,
                                          "no probes: neither 'probes' nor the included files have any");
                else if (c->n_probes > CONFIG_PROBES_MAX)
                        config_errors_add(errs, l.probes_line, l.probes_column,
                                          "%zu probes with the included files: at most %u", c->n_probes,
                                          CONFIG_PROBES_MAX);
        }
        if (main_ok) {
                check_metrics_across(&l, c);
                add_attribution(&l, c);
        }
        bool ok = errs->n == before;
        free(l.probe_names.items);
        free(l.events.items);
        free(l.metric_names.items);
        for (size_t i = 0; i < l.n_includes; i++)
                free(l.includes[i].pattern);
        free(l.includes);
        free(l.read_dev);
        free(l.read_ino);
        config_errors_clear(&local);
        if (!ok) {
                config_free(c);
                return -EINVAL;
        }
        *ret = c;
        return 0;
}

int config_load_string(const char *name, const char *text, size_t len, Config **ret, ConfigErrors *errs) {
        return config_load(name, text, len, false, ret, errs);
}
