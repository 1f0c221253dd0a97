/* Field decoders: turn a value as the kernel printed it into what a user
 * wants to read (6400 -> "25", 16777343 -> "127.0.0.1"). Pure code. */
#pragma once

#include "config.h"
#include "util.h"

#define DECODE_SCRATCH 64

/* Applies d to the raw value `in`. *out points into scratch (then
 * NUL-terminated there), into d's map strings, or into `in` itself;
 * nothing is allocated. Returns 0; or -EINVAL
 * when the value cannot be decoded by d, and then *out = in (the raw value
 * passes through: a label is never lost because a decoder did not apply).
 * d may be NULL (no decoder): *out = in. Kernel "(fault)" values pass
 * through unchanged with -EINVAL. */
int decode_value(const Decoder *d, StrView in, char scratch[DECODE_SCRATCH], StrView *out);

/* Symbolic errno name for a positive errno value ("ECONNREFUSED"), or NULL. */
const char *errno_name(int e);
