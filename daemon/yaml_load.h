/* What the YAML loaders (config.c, webconfig.c) share: libyaml composes a
 * document tree, which keeps each node's place, and a loader walks it along
 * its schema, collecting every error with its line:column instead of
 * stopping at the first. Pure: no I/O but reading the file to load. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <yaml.h>

#include "config.h"
#include "util.h"

/* Bounds on every loaded file: libyaml's composer recurses once per nesting
 * level, so depth is checked on the events first; a string longer than a
 * path is a mistake (a loader that takes longer ones, e.g. an inline PEM,
 * says so with yl_string_max()). */
#define YL_DEPTH_MAX 32u
#define YL_STRING_MAX 4096u

/* The walk's state: the document and where its errors go. A loader with
 * more state embeds this as its first member. */
typedef struct YlLoader {
        yaml_document_t *doc;
        ConfigErrors *errs;
} YlLoader;

/* 1-based line and column of a node, as messages give them. */
static inline unsigned yl_line(const yaml_node_t *n) {
        return (unsigned) n->start_mark.line + 1;
}
static inline unsigned yl_column(const yaml_node_t *n) {
        return (unsigned) n->start_mark.column + 1;
}
static inline yaml_node_t *yl_node(YlLoader *l, int index) {
        return yaml_document_get_node(l->doc, index);
}
static inline const char *yl_value(const yaml_node_t *n) {
        return (const char *) n->data.scalar.value;
}

/* Records an error at the node; returns false so that checks can say
 * "return yl_error(...)". */
bool yl_error(YlLoader *l, const yaml_node_t *n, const char *fmt, ...) _printf_(3, 4);
/* A plain empty, "~" or "null" scalar: YAML's null, not a string. */
bool yl_is_null(const yaml_node_t *n);
/* A scalar usable as a C string: no embedded NUL ("\0" escapes). */
bool yl_is_text(const yaml_node_t *n);

/* The value of a string scalar (not null, no NUL, at most YL_STRING_MAX or
 * max bytes; may be empty when quoted), borrowed from the document; NULL
 * after reporting why not. what names the key in the message. */
const char *yl_string(YlLoader *l, const yaml_node_t *n, const char *what);
const char *yl_string_max(YlLoader *l, const yaml_node_t *n, const char *what, size_t max);
/* A plain integer scalar in [min, max] into *ret; else an error and *ret
 * unchanged. */
void yl_uint(YlLoader *l, const yaml_node_t *n, const char *what, unsigned min, unsigned max, unsigned *ret);
/* A plain true/false/yes/no (any case) into *ret; else an error. */
void yl_bool(YlLoader *l, const yaml_node_t *n, const char *what, bool *ret);

/* One expected key of a mapping, filled in by yl_keys(). */
typedef struct YlKey {
        const char *name;
        yaml_node_t *key;
        yaml_node_t *value;
} YlKey;

/* Sorts the pairs of a mapping into slots; reports unknown and duplicate
 * keys. Returns false (after an error naming `what`) if map is not a
 * mapping. */
bool yl_keys(YlLoader *l, yaml_node_t *map, const char *what, YlKey *slots, size_t n_slots);
/* For mappings with free-form keys: reports a key equal to an earlier one
 * of map; true if it is. */
bool yl_key_is_duplicate(YlLoader *l, yaml_node_t *map, yaml_node_pair_t *pair);
/* n is a sequence (mapping) of at most max items: returns the count, or -1
 * after reporting why not. */
ssize_t yl_sequence(YlLoader *l, const yaml_node_t *n, const char *what, size_t max);
ssize_t yl_mapping(YlLoader *l, const yaml_node_t *n, const char *what, size_t max);

/* Called with the root node, NULL for a document without one (an empty
 * text); l->doc and l->errs are set. */
typedef void (*YlWalk)(YlLoader *l, yaml_node_t *root, void *userdata);

/* Parses text as one YAML document (syntax, depth, a single document
 * checked first) and walks it; l may be the first member of the caller's
 * own loader. The errors found are appended to errs (may be NULL) in file
 * order. Returns true when there were none. */
bool yl_load(const char *text, size_t len, ConfigErrors *errs, YlLoader *l, YlWalk walk, void *userdata);
/* config_read_file(), with "cannot read: REASON" appended to errs (may be
 * NULL) on failure. Returns 0 or -errno. */
int yl_read_file(const char *path, char **ret_text, size_t *ret_len, ConfigErrors *errs);
