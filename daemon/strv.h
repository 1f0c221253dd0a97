/* Comparisons of string arrays, defined in util.c beside the other strv
 * helpers of util.h. They are declared here, not in util.h, only while
 * manager.c and pipeline.c still have static copies of their own (a static
 * definition after util.h's declaration would not compile); once those
 * copies are gone, these two lines move into util.h and this file goes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* True if the NULL-terminated v (may be NULL) holds a string equal to s. */
bool strv_contains(char **v, const char *s);
/* True if a[0..na) and b[0..nb) hold equal strings in the same order. */
bool strv_equal(char **a, size_t na, char **b, size_t nb);
