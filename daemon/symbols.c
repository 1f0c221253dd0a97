#include "symbols.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A sorted set of distinct names, pointing into text, a copy of the names
 * alone (kallsyms is megabytes, its names a quarter of it). */
typedef struct NameSet {
        char *text;
        char **names;
        size_t n;
} NameSet;

struct SymbolTable {
        NameSet functions; /* kallsyms text symbols */
        NameSet ambiguous; /* names that several of them have (into functions' text) */
        NameSet traceable; /* available_filter_functions; n == 0: unknown */
        NameSet blacklist; /* kprobes/blacklist; n == 0: unknown or empty */
};

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The idx-th blank-separated token of the line [s, end); empty when the
 * line has fewer. */
static StrView token(const char *s, const char *end, unsigned idx) {
        for (unsigned i = 0;; i++) {
                while (s < end && (*s == ' ' || *s == '\t'))
                        s++;
                if (s >= end)
                        return (StrView){ NULL, 0 };
                const char *start = s;
                while (s < end && *s != ' ' && *s != '\t')
                        s++;
                if (i == idx)
                        return (StrView){ start, (size_t) (s - start) };
        }
}

static bool sv_has_prefix(StrView v, const char *prefix) {
        size_t n = strlen(prefix);
        return v.n >= n && memcmp(v.p, prefix, n) == 0;
}

/* kind: 'k' kallsyms (NAME is the 3rd token, TYPE the 2nd), 'f'
 * available_filter_functions (1st), 'b' blacklist (2nd). Names that occur
 * more than once go to dups too, once each (may be NULL). */
static void nameset_parse(NameSet *set, const char *text, char kind, NameSet *dups) {
        *set = (NameSet){ 0 };
        if (!text || !*text)
                return;
        Buf arena = { 0 };
        size_t cap = 0;
        for (const char *line = text; *line;) {
                const char *end = strchr(line, '\n');
                const char *next = end ? end + 1 : line + strlen(line);
                if (!end)
                        end = next;
                StrView name = { NULL, 0 };
                if (kind == 'k') {
                        StrView type = token(line, end, 1);
                        if (type.n == 1 && strchr("tTwW", type.p[0]))
                                name = token(line, end, 2);
                } else
                        name = token(line, end, kind == 'b' ? 1 : 0);
                /* __pfx_NAME and __cfi_NAME (6.2+ x86) are the padding and
                 * CFI stubs before a function, not functions to probe. */
                if (name.n > 0 && !sv_has_prefix(name, "__pfx_") && !sv_has_prefix(name, "__cfi_") &&
                    !memchr(name.p, 0, name.n)) {
                        if (set->n == cap) {
                                cap = cap ? cap * 2 : 4096;
                                set->names = xrealloc(set->names, cap * sizeof(char *));
                        }
                        /* An offset for now: the arena moves as it grows. */
                        set->names[set->n++] = (char *) (uintptr_t) arena.len;
                        buf_put_sv(&arena, name);
                        buf_putc(&arena, 0);
                }
                line = next;
        }
        set->text = arena.data;
        for (size_t i = 0; i < set->n; i++)
                set->names[i] = set->text + (uintptr_t) set->names[i];
        if (set->n == 0)
                return;
        qsort(set->names, set->n, sizeof(char *), compare_names);
        size_t w = 1, dups_cap = 0;
        for (size_t i = 1; i < set->n; i++) {
                if (strcmp(set->names[i], set->names[w - 1]) != 0)
                        set->names[w++] = set->names[i];
                else if (dups && (dups->n == 0 || dups->names[dups->n - 1] != set->names[w - 1])) {
                        if (dups->n == dups_cap) {
                                dups_cap = dups_cap ? dups_cap * 2 : 256;
                                dups->names = xrealloc(dups->names, dups_cap * sizeof(char *));
                        }
                        dups->names[dups->n++] = set->names[w - 1];
                }
        }
        set->n = w;
}

static bool nameset_has(const NameSet *set, const char *name) {
        return set->n > 0 && bsearch(&name, set->names, set->n, sizeof(char *), compare_names);
}

static void nameset_free(NameSet *set) {
        free(set->text);
        free(set->names);
        *set = (NameSet){ 0 };
}

SymbolTable *symbols_new(const char *kallsyms, const char *filter_functions, const char *blacklist) {
        SymbolTable *t = xcalloc(1, sizeof(*t));
        nameset_parse(&t->functions, kallsyms, 'k', &t->ambiguous);
        nameset_parse(&t->traceable, filter_functions, 'f', NULL);
        nameset_parse(&t->blacklist, blacklist, 'b', NULL);
        return t;
}

SymbolTable *symbols_free(SymbolTable *t) {
        if (!t)
                return NULL;
        nameset_free(&t->functions);
        nameset_free(&t->ambiguous);
        nameset_free(&t->traceable);
        nameset_free(&t->blacklist);
        free(t);
        return NULL;
}

size_t symbols_count(const SymbolTable *t) {
        return t ? t->functions.n : 0;
}

static bool probeable(const SymbolTable *t, const char *name) {
        return !nameset_has(&t->blacklist, name) && (t->traceable.n == 0 || nameset_has(&t->traceable, name));
}

/* Levenshtein distance of a and b, or max + 1 when it is more than max. */
static size_t edit_distance(const char *a, size_t na, const char *b, size_t nb, size_t max) {
        size_t row[256], prev_diag, tmp;
        if (na >= ELEMENTSOF(row) || nb >= ELEMENTSOF(row))
                return max + 1;
        if ((na > nb ? na - nb : nb - na) > max)
                return max + 1;
        for (size_t j = 0; j <= nb; j++)
                row[j] = j;
        for (size_t i = 1; i <= na; i++) {
                prev_diag = row[0];
                row[0] = i;
                size_t best = row[0];
                for (size_t j = 1; j <= nb; j++) {
                        tmp = row[j];
                        size_t v = prev_diag + (a[i - 1] != b[j - 1]);
                        if (row[j] + 1 < v)
                                v = row[j] + 1;
                        if (row[j - 1] + 1 < v)
                                v = row[j - 1] + 1;
                        row[j] = v;
                        prev_diag = tmp;
                        if (v < best)
                                best = v;
                }
                if (best > max)
                        return max + 1;
        }
        return row[nb];
}

typedef struct Candidate {
        const char *name;
        size_t rank; /* containing: extra length; else 1000 + distance */
} Candidate;

static int compare_candidates(const void *a, const void *b) {
        const Candidate *x = a, *y = b;
        if (x->rank != y->rank)
                return x->rank < y->rank ? -1 : 1;
        return strcmp(x->name, y->name);
}

size_t names_nearest(const char *const *names, size_t n_names, const char *name,
                     bool (*keep)(const void *userdata, const char *name), const void *userdata, const char **out,
                     size_t max) {
        if (max == 0 || !*name)
                return 0;
        size_t n_name = strlen(name);
        /* Typos: about one edit per four characters, at least one. */
        size_t max_edits = n_name / 4 > 1 ? n_name / 4 : 1;
        Candidate *best = xcalloc(max + 1, sizeof(Candidate));
        size_t n = 0;
        for (size_t i = 0; i < n_names; i++) {
                const char *cand = names[i];
                size_t n_cand = strlen(cand), rank;
                if (strcmp(cand, name) == 0)
                        continue;
                if (n_cand > n_name && strstr(cand, name))
                        rank = n_cand - n_name;
                else {
                        size_t d = edit_distance(name, n_name, cand, n_cand, max_edits);
                        if (d > max_edits)
                                continue;
                        rank = 1000 + d;
                }
                Candidate c = { cand, rank };
                if (n == max && compare_candidates(&c, &best[max - 1]) >= 0)
                        continue;
                if (keep && !keep(userdata, cand))
                        continue;
                /* Insert in order; the last one falls off when full. */
                size_t pos = n < max ? n++ : max - 1;
                while (pos > 0 && compare_candidates(&c, &best[pos - 1]) < 0) {
                        best[pos] = best[pos - 1];
                        pos--;
                }
                best[pos] = c;
        }
        for (size_t i = 0; i < n; i++)
                out[i] = best[i].name;
        free(best);
        return n;
}

static bool keep_probeable(const void *userdata, const char *name) {
        return probeable(userdata, name);
}

size_t symbols_nearest(const SymbolTable *t, const char *name, const char **out, size_t max) {
        if (!t)
                return 0;
        return names_nearest((const char *const *) t->functions.names, t->functions.n, name, keep_probeable, t, out,
                             max);
}

SymbolVerdict symbols_check(const SymbolTable *t, const char *target, char **ret_message) {
        *ret_message = NULL;
        if (!t || t->functions.n == 0 || !target || !*target || (*target >= '0' && *target <= '9'))
                return SYMBOL_UNCHECKED;
        const char *colon = strchr(target, ':');
        const char *sym = colon ? colon + 1 : target;
        _cleanup_free_ char *name = xstrndup(sym, strcspn(sym, "+%"));
        Buf b = { 0 };

        if (!nameset_has(&t->functions, name)) {
                /* A module's symbol may be there once the module loads:
                 * the kernel waits for it. */
                if (colon)
                        return SYMBOL_UNCHECKED;
                const char *near[5];
                size_t n = symbols_nearest(t, name, near, ELEMENTSOF(near));
                buf_printf(&b, "no function '%s' in /proc/kallsyms", name);
                for (size_t i = 0; i < n; i++)
                        buf_printf(&b, "%s%s", i ? ", " : "; nearest: ", near[i]);
                *ret_message = buf_steal(&b);
                return SYMBOL_MISSING;
        }
        /* Several functions of this name: which one is blacklisted or
         * notrace cannot be told by name, and kernels before the "not
         * unique" check probe the first. */
        if (nameset_has(&t->ambiguous, name)) {
                buf_printf(&b, "'%s' names more than one function in /proc/kallsyms (static functions of the same "
                           "name): newer kernels refuse to guess which (\"The symbol is not unique\"); "
                           "probe a function whose name is unique", name);
                *ret_message = buf_steal(&b);
                return SYMBOL_AMBIGUOUS;
        }
        if (nameset_has(&t->blacklist, name)) {
                buf_printf(&b, "'%s' is on the kprobes blacklist (debugfs kprobes/blacklist): the kernel never probes it",
                           name);
                *ret_message = buf_steal(&b);
                return SYMBOL_BLACKLISTED;
        }
        if (t->traceable.n > 0 && !nameset_has(&t->traceable, name)) {
                buf_printf(&b, "'%s' is not in available_filter_functions: it is notrace (or inlined where it is "
                           "called), and kernels without CONFIG_KPROBE_EVENTS_ON_NOTRACE refuse to probe it", name);
                *ret_message = buf_steal(&b);
                return SYMBOL_NOTRACE;
        }
        return SYMBOL_FOUND;
}
