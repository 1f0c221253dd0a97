/* A live pipeline from config text, for the unit tests of the pipeline,
 * histograms and label cuts: every probe registered (live), the config's
 * errors printed with their lines if it does not load. */
#pragma once

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pipeline.h"

/* The pipeline's /metrics text, into out (cleared first). */
static inline const char *fixture_metrics(Pipeline *p, Buf *out) {
        buf_clear(out);
        pipeline_render_metrics(p, &(Expo){ .out = out });
        return out->data ? out->data : "";
}

/* Fails unless text has the line the format makes (a whole line). */
static inline void assert_has_line(const char *text, const char *fmt, ...) _printf_(2, 3);
static inline void assert_has_line(const char *text, const char *fmt, ...) {
        char want[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(want, sizeof(want), fmt, ap);
        va_end(ap);
        size_t n = strlen(want);
        for (const char *at = text; (at = strstr(at, want)); at++)
                if ((at == text || at[-1] == '\n') && (at[n] == '\n' || at[n] == 0))
                        return;
        fail_msg("no line '%s' in:\n%s", want, text);
}

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
