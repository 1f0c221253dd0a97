/* Fuzz target: what the daemon reads of the running kernel to judge a probe
 * before writing it. The input is up to four NUL-separated texts: a
 * kallsyms (also read as a tracefs README), an available_filter_functions,
 * a kprobes blacklist, and a probe target (also read as a fetch arg).
 * Checks that each verdict comes with the message it promises, that the
 * nearest names are known functions of the table in order, and that
 * feature checks and their messages hold for any README and fetch arg. */
#include "fuzz.h"

#include "kfeatures.h"
#include "symbols.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = xmalloc(size + 1);
        memcpy(text, data, size);
        text[size] = 0;
        const char *part[4] = { "", "", "", "" };
        size_t n = 0;
        for (char *s = text; n < 4;) {
                part[n++] = s;
                s = memchr(s, 0, (size_t) (text + size - s));
                if (!s || s >= text + size)
                        break;
                s++;
        }

        SymbolTable *t = symbols_new(part[0], *part[1] ? part[1] : NULL, *part[2] ? part[2] : NULL);
        char *msg = NULL;
        SymbolVerdict v = symbols_check(t, part[3], &msg);
        fuzz_check((v == SYMBOL_FOUND || v == SYMBOL_UNCHECKED) == !msg);
        fuzz_check(v != SYMBOL_FOUND || symbols_count(t) > 0);
        free(msg);
        const char *near[5];
        size_t k = symbols_nearest(t, part[3], near, ELEMENTSOF(near));
        fuzz_check(k <= ELEMENTSOF(near));
        for (size_t i = 0; i < k; i++) {
                fuzz_check(near[i] && *near[i]);
                fuzz_check(strcmp(near[i], part[3]) != 0);
                /* Every name offered is one the check would find. */
                char *again = NULL;
                SymbolVerdict w = symbols_check(t, near[i], &again);
                fuzz_check(w != SYMBOL_MISSING || strpbrk(near[i], "+%:") || (near[i][0] >= '0' && near[i][0] <= '9'));
                free(again);
        }
        symbols_free(t);

        KernelFeatures kf = { .release = "fuzz", .machine = "fuzz" };
        features_from_readme(&kf, part[0]);
        kf.state[FEATURE_KPROBE_EVENTS] = FEATURE_YES;
        char *fetch[] = { (char *) part[3] };
        ProbeConfig p = { .name = "f", .type = PROBE_KPROBE, .target = "f", .fetch = fetch, .n_fetch = 1 };
        const char *what = NULL;
        Feature f = features_probe_missing(&kf, &p, &what);
        fuzz_check(f == _FEATURE_MAX || kf.state[f] == FEATURE_NO);
        fuzz_check(f == _FEATURE_MAX || what == part[3]);
        if (f != _FEATURE_MAX) {
                char *why = features_refusal(&kf, f, what);
                fuzz_check(why && strstr(why, "fuzz"));
                free(why);
        }
        Buf out = { 0 };
        features_render_json(&kf, &out);
        features_render_text(&kf, &out);
        buf_free(&out);
        free(text);
        return 0;
}
