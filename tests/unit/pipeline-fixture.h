/* A live pipeline from config text, for the unit tests of the pipeline,
 * histograms and label cuts: every probe registered (live), the config's
 * errors printed with their lines if it does not load. */
#pragma once

#include <stdio.h>
#include <string.h>

#include "pipeline.h"

/* A config from text; its errors printed with their lines if it does not load. */
static inline Config *fixture_config(const char *text) {
        Config *c = NULL;
        ConfigErrors errs = { 0 };
        int r = config_load_string("test.yaml", text, strlen(text), &c, &errs);
        if (r < 0)
                config_errors_write(&errs, "test.yaml", text, strlen(text), stderr);
        config_errors_clear(&errs);
        assert_int_equal(r, 0);
        return c;
}

static inline Pipeline *fixture_pipeline(const char *text) {
        Config *c = fixture_config(text);
        Pipeline *p = NULL;
        assert_int_equal(pipeline_new(c, NULL, NULL, &p), 0);
        for (size_t i = 0; i < p->n_probes; i++)
                pipeline_set_live(p, i, true);
        return p;
}
