/* The YAML loading both config loaders share: scalars, mappings and
 * sequences checked with their places, and the load itself (a pass over
 * the events first, then the document and the caller's walk). */

#include "yaml_load.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

bool yl_error(YlLoader *l, const yaml_node_t *n, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        config_errors_addv(l->errs, yl_line(n), yl_column(n), fmt, ap);
        va_end(ap);
        return false;
}

bool yl_is_null(const yaml_node_t *n) {
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        const char *v = yl_value(n);
        return v[0] == 0 || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0;
}

bool yl_is_text(const yaml_node_t *n) {
        return n->type == YAML_SCALAR_NODE && strlen(yl_value(n)) == n->data.scalar.length;
}

const char *yl_string_max(YlLoader *l, const yaml_node_t *n, const char *what, size_t max) {
        if (!yl_is_text(n) || yl_is_null(n))
                return yl_error(l, n, "'%s' must be a string", what), NULL;
        if (n->data.scalar.length > max)
                return yl_error(l, n, "'%s' is longer than %zu characters", what, max), NULL;
        return yl_value(n);
}

const char *yl_string(YlLoader *l, const yaml_node_t *n, const char *what) {
        return yl_string_max(l, n, what, YL_STRING_MAX);
}

void yl_uint(YlLoader *l, const yaml_node_t *n, const char *what, unsigned min, unsigned max, unsigned *ret) {
        int64_t v;

        /* Quoted scalars are strings in YAML, so "4096" is not an integer. */
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
            parse_i64(sv_from(yl_value(n)), &v) < 0)
                yl_error(l, n, "'%s' must be an integer", what);
        else if (v < (int64_t) min || v > (int64_t) max)
                yl_error(l, n, "'%s' must be between %u and %u", what, min, max);
        else
                *ret = (unsigned) v;
}

void yl_bool(YlLoader *l, const yaml_node_t *n, const char *what, bool *ret) {
        const char *v = n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ?
                yl_value(n) : "";

        if (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0)
                *ret = true;
        else if (strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0)
                *ret = false;
        else
                yl_error(l, n, "'%s' must be a boolean (true or false)", what);
}

bool yl_keys(YlLoader *l, yaml_node_t *map, const char *what, YlKey *slots, size_t n_slots) {
        if (map->type != YAML_MAPPING_NODE)
                return yl_error(l, map, "%s must be a mapping", what);
        for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
                yaml_node_t *k = yl_node(l, pair->key);
                YlKey *slot = NULL;

                if (!yl_is_text(k)) {
                        yl_error(l, k, "keys must be strings");
                        continue;
                }
                for (size_t i = 0; i < n_slots; i++)
                        if (strcmp(slots[i].name, yl_value(k)) == 0)
                                slot = &slots[i];
                if (!slot)
                        yl_error(l, k, "unknown key '%s'", yl_value(k));
                else if (slot->key)
                        yl_error(l, k, "duplicate key '%s' (first at line %u)", slot->name, yl_line(slot->key));
                else {
                        slot->key = k;
                        slot->value = yl_node(l, pair->value);
                }
        }
        return true;
}

bool yl_key_is_duplicate(YlLoader *l, yaml_node_t *map, yaml_node_pair_t *pair) {
        yaml_node_t *k = yl_node(l, pair->key);
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
                yaml_node_t *o = yl_node(l, p->key);
                if (o->type == YAML_SCALAR_NODE && strcmp(yl_value(o), yl_value(k)) == 0)
                        return !yl_error(l, k, "duplicate key '%s' (first at line %u)", yl_value(k), yl_line(o));
        }
        return false;
}

/* What yl_sequence() and yl_mapping() share: the count against max. */
static ssize_t count_check(YlLoader *l, const yaml_node_t *n, const char *what, size_t count, size_t max) {
        if (count > max)
                return yl_error(l, n, "'%s' has too many entries (%zu, at most %zu)", what, count, max), -1;
        return (ssize_t) count;
}

ssize_t yl_sequence(YlLoader *l, const yaml_node_t *n, const char *what, size_t max) {
        if (n->type != YAML_SEQUENCE_NODE)
                return yl_error(l, n, "'%s' must be a sequence", what), -1;
        return count_check(l, n, what, (size_t) (n->data.sequence.items.top - n->data.sequence.items.start), max);
}

ssize_t yl_mapping(YlLoader *l, const yaml_node_t *n, const char *what, size_t max) {
        if (n->type != YAML_MAPPING_NODE)
                return yl_error(l, n, "'%s' must be a mapping", what), -1;
        return count_check(l, n, what, (size_t) (n->data.mapping.pairs.top - n->data.mapping.pairs.start), max);
}

/* libyaml's own words and place. Reader errors (bad UTF-8, control
 * characters) carry a byte offset instead of a mark. */
static void parser_error(ConfigErrors *errs, const yaml_parser_t *parser, const char *text, size_t len) {
        const char *problem = parser->problem ? parser->problem : "invalid YAML";
        unsigned line = (unsigned) parser->problem_mark.line + 1;
        unsigned column = (unsigned) parser->problem_mark.column + 1;

        if (parser->error == YAML_READER_ERROR) {
                line = column = 1;
                for (size_t i = 0; i < parser->problem_offset && i < len; i++) {
                        if (text[i] == '\n') {
                                line++;
                                column = 1;
                        } else if (((unsigned char) text[i] & 0xc0) != 0x80)
                                column++;
                }
                if (parser->problem_value >= 0)
                        config_errors_add(errs, line, column, "%s (byte 0x%02X)", problem, (unsigned) parser->problem_value);
                else
                        config_errors_add(errs, line, column, "%s", problem);
        } else if (parser->context)
                config_errors_add(errs, line, column, "%s (%s at line %u, column %u)", problem, parser->context,
                                  (unsigned) parser->context_mark.line + 1, (unsigned) parser->context_mark.column + 1);
        else
                config_errors_add(errs, line, column, "%s", problem);
}

/* A pass over the events before composing: libyaml's composer recurses
 * once per nesting level, so depth is bounded here first; syntax errors and
 * extra documents are found here too. Returns false on any error. */
static bool precheck(const char *text, size_t len, ConfigErrors *errs) {
        yaml_parser_t parser;
        unsigned depth = 0, documents = 0;
        bool ok = true, done = false;

        if (!yaml_parser_initialize(&parser))
                abort(); /* only fails on OOM, which aborts everywhere (util.h) */
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
        while (ok && !done) {
                yaml_event_t ev;

                if (!yaml_parser_parse(&parser, &ev)) {
                        parser_error(errs, &parser, text, len);
                        ok = false;
                        break;
                }
                unsigned line = (unsigned) ev.start_mark.line + 1, column = (unsigned) ev.start_mark.column + 1;
                if (ev.type == YAML_DOCUMENT_START_EVENT && ++documents > 1) {
                        config_errors_add(errs, line, column, "only one YAML document is allowed");
                        ok = false;
                } else if ((ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) &&
                           ++depth > YL_DEPTH_MAX) {
                        config_errors_add(errs, line, column, "nested deeper than %u levels", YL_DEPTH_MAX);
                        ok = false;
                } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
                        depth--;
                done = ev.type == YAML_STREAM_END_EVENT;
                yaml_event_delete(&ev);
        }
        yaml_parser_delete(&parser);
        return ok;
}

static bool error_before(const ConfigError *a, const ConfigError *b) {
        /* Errors of different files keep their order. */
        if (!str_equal_or_null(a->file, b->file))
                return false;
        return a->line < b->line || (a->line == b->line && a->column < b->column);
}

/* The walk reports a mapping's key errors before its values' errors; users
 * read a file top to bottom, so the new errors are put in file order (a
 * stable insertion sort: errors sharing a place keep their order). */
static void errors_sort(ConfigErrors *errs, size_t from) {
        for (size_t i = from + 1; i < errs->n; i++) {
                ConfigError e = errs->items[i];
                size_t j = i;
                for (; j > from && error_before(&e, &errs->items[j - 1]); j--)
                        errs->items[j] = errs->items[j - 1];
                errs->items[j] = e;
        }
}

bool yl_load(const char *text, size_t len, ConfigErrors *errs, YlLoader *l, YlWalk walk, void *userdata) {
        ConfigErrors local = { 0 };
        yaml_parser_t parser;
        yaml_document_t doc;

        if (!errs)
                errs = &local;
        size_t n_before = errs->n;

        if (precheck(text, len, errs)) {
                if (!yaml_parser_initialize(&parser))
                        abort();
                yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
                if (!yaml_parser_load(&parser, &doc))
                        /* Composer errors: undefined alias, duplicate anchor. */
                        parser_error(errs, &parser, text, len);
                else {
                        l->doc = &doc;
                        l->errs = errs;
                        walk(l, yaml_document_get_root_node(&doc), userdata);
                        l->doc = NULL;
                        l->errs = NULL;
                        yaml_document_delete(&doc);
                }
                yaml_parser_delete(&parser);
        }

        bool failed = errs->n > n_before;
        if (failed)
                errors_sort(errs, n_before);
        config_errors_clear(&local);
        return !failed;
}

int yl_read_file(const char *path, char **ret_text, size_t *ret_len, ConfigErrors *errs) {
        int r = config_read_file(path, ret_text, ret_len);
        if (r < 0 && errs)
                config_errors_add(errs, 0, 0, "cannot read: %s", strerror(-r));
        return r;
}
