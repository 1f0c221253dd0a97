/* What every fuzz target shares: the libFuzzer entry point (declared here so
 * -Wmissing-prototypes holds), and the checks that turn a broken promise of
 * the code under test into a crash the fuzzer reports. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A contract check: abort() so libFuzzer saves the input and the replay
 * test fails, also in builds without sanitizers. */
#define fuzz_check(cond)                                                                               \
        do {                                                                                           \
                if (!(cond)) {                                                                         \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
                        abort();                                                                       \
                }                                                                                      \
        } while (0)

/* v lies inside [base, base + n). An empty view may point anywhere in it,
 * one past its end, or be NULL. */
static inline bool fuzz_sv_inside(StrView v, const void *base, size_t n) {
        const char *b = base;
        if (v.n == 0)
                return !v.p || (v.p >= b && v.p <= b + n);
        return v.p && v.p >= b && v.p + v.n <= b + n && v.p + v.n > v.p;
}

/* Reads every byte of v, so ASan flags a view that is not fully readable
 * even when nothing else looks at it; the result keeps the compiler from
 * dropping the reads. */
static inline uint64_t fuzz_touch(StrView v) {
        return v.n ? hash_bytes(HASH_INIT, v.p, v.n) : 0;
}
