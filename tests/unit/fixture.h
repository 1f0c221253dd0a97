/* Real kernel texts the unit tests read (tests/unit/data; meson passes its
 * path as KPE_TEST_DATA). */
#pragma once

#include <stdio.h>
#include <string.h>

#include "config.h"

/* The whole file tests/unit/data/NAME, or the test fails. */
static inline char *fixture_text(const char *name) {
        char path[4096], *text = NULL;
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", KPE_TEST_DATA, name);
        int r = config_read_file(path, &text, &len);
        if (r < 0)
                fail_msg("fixture %s: %s", path, strerror(-r));
        return text;
}
