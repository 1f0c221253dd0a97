/* Real kernel texts the unit tests read (tests/unit/data; meson passes its
 * path as KPE_TEST_DATA). */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* The whole file tests/unit/data/NAME, or the test fails. */
static inline char *fixture_text(const char *name) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", KPE_TEST_DATA, name);
        FILE *f = fopen(path, "re");
        if (!f)
                fail_msg("fixture %s: %s", path, strerror(errno));
        Buf b = { 0 };
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                buf_append(&b, chunk, n);
        fclose(f);
        return buf_steal(&b);
}
