/* The metrics store: one Family per counter metric, each holding up to
 * max_series label sets in a hash table. Pure code. */
#pragma once

#include <stdint.h>

#include "util.h"

typedef struct Family Family;

/* Copies name, help and label names. max_series 0 means unlimited. */
Family *family_new(const char *name, const char *help, const char *const *labels, size_t n_labels,
                   size_t max_series);
Family *family_free(Family *f); /* accepts NULL, returns NULL */

/* Adds `by` to the series with these label values (n_labels of them,
 * copied on first use), creating it if the family has room. Returns 0, or
 * -ENOSPC when the series is new and the family already holds max_series
 * (the refusal is counted, see family_refused()). */
int family_add(Family *f, const StrView *values, uint64_t by);

/* The value of one series, 0 if it does not exist. */
uint64_t family_get(const Family *f, const StrView *values);
size_t family_series(const Family *f);
uint64_t family_refused(const Family *f);
const char *family_name(const Family *f);
/* For a reload: new series are refused beyond this (existing ones stay). */
void family_set_max_series(Family *f, size_t max_series);

/* Appends "# HELP", "# TYPE <name> counter" and one line per series, in the
 * order series were created, to out (Prometheus text format 0.0.4). */
void family_render(const Family *f, Buf *out);
