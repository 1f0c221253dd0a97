/* Prometheus text exposition format 0.0.4 helpers. Pure code. */
#pragma once

#include <stdint.h>

#include "util.h"

#define EXPO_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Label value escaping: backslash, double quote and newline get a backslash;
 * invalid UTF-8 bytes become U+FFFD so the output is always valid UTF-8. */
void expo_put_label_value(Buf *out, StrView v);
/* HELP text escaping: backslash and newline. */
void expo_put_help(Buf *out, StrView v);
/* "# HELP name help\n# TYPE name type\n"; no HELP line when help is NULL. */
void expo_put_header(Buf *out, const char *name, const char *type, const char *help);
/* "name{l1="v1",l2="v2"} value\n"; no braces when n == 0. */
void expo_put_sample_u64(Buf *out, const char *name, const char *const *labels, const StrView *values,
                         size_t n, uint64_t value);
/* A counter of one unlabeled sample: its header, then "name value\n". */
void expo_put_counter(Buf *out, const char *name, const char *help, uint64_t value);
void expo_put_sample_double(Buf *out, const char *name, const char *const *labels, const StrView *values,
                            size_t n, double value);
