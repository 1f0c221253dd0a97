/* Fuzz target: a kernel hist file, as hostile as a traced process could
 * make its strings or a broken kernel its framing, through the parser and
 * into the families of a pipeline whose metrics the kernel counts (a
 * counter keyed by comm and decoded numbers, a value histogram, a latency
 * with a signed key). Besides crashes it checks what khist.h promises:
 * a result of 0, -ENOENT or -EBADMSG; string keys inside the text, at most
 * 50 bytes; no more series than max_series; and a second read of the same
 * text giving the same counts (totals, never sums of reads). */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "khist.h"
#include "pipeline.h"

static const char config_text[] =
        "max_series: 64\n"
        "probes:\n"
        "  - name: connect\n"
        "    type: kprobe\n"
        "    target: __sys_connect_file\n"
        "    fetch: [family=+0($arg2):u16, port=+2($arg2):u16, addr=+4($arg2):u32, len=$arg3:u32]\n"
        "    decode: {port: ntohs, addr: ipv4, family: {map: {2: AF_INET}}}\n"
        "    metrics:\n"
        "      - {name: connect_total, labels: [comm, addr, port, family]}\n"
        "      - name: family_values\n"
        "        type: histogram\n"
        "        value: len\n"
        "        labels: [pid]\n"
        "        buckets: {exponential: {start: 1, factor: 2, count: 8}}\n"
        "      - name: len_linear\n"
        "        type: histogram\n"
        "        value: len\n"
        "        buckets: {linear: {start: 99, width: 100, count: 8}}\n"
        "  - name: connect_ret\n"
        "    type: kretprobe\n"
        "    target: __sys_connect_file\n"
        "    fetch: [ret=$retval:s32]\n"
        "    decode: {ret: errno}\n"
        "    metrics:\n"
        "      - name: connect_seconds\n"
        "        type: histogram\n"
        "        latency_from: connect\n"
        "        labels: [ret, addr]\n"
        "        buckets: {exponential: {start: 0.000001, factor: 2, count: 20}}\n";

static Pipeline *pipeline;

static void setup(void) {
        Config *c = NULL;
        ConfigErrors errs = { 0 };
        fuzz_check(config_load_string("fuzz.yaml", config_text, sizeof(config_text) - 1, &c, &errs) == 0);
        fuzz_check(pipeline_new(c, NULL, NULL, &pipeline) == 0);
        KernelFeatures k;
        features_from_readme(&k, NULL);
        k.state[FEATURE_HIST_TRIGGERS] = FEATURE_YES;
        pipeline_plan_kernel(pipeline, &k, "kpe", "mono");
}

static void check_entry(void *userdata, const KhEntry *e) {
        StrView *text = userdata;
        for (size_t i = 0; i < KHIST_MAX_KEYS; i++) {
                fuzz_check(fuzz_sv_inside(e->str[i], text->p, text->n));
                fuzz_check(e->str[i].n <= 50);
                fuzz_touch(e->str[i]);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!pipeline)
                setup();
        const char *text = (const char *) data;
        for (size_t i = 0; i < pipeline->n_probes; i++)
                for (size_t m = 0; m < pipeline->probes[i].n_metrics; m++) {
                        MetricPlan *plan = &pipeline->probes[i].metrics[m];
                        fuzz_check(plan->kh.kernel);
                        KhTotals t;
                        StrView whole = { text, size };
                        int r = khist_parse(&plan->kh, text, size, check_entry, &whole, &t);
                        fuzz_check(r == 0 || r == -ENOENT || r == -EBADMSG);
                        r = pipeline_apply_hist(pipeline, i, m, text, size);
                        fuzz_check(r == 0 || r == -ENOENT || r == -EBADMSG);
                        if (r < 0)
                                continue;
                        Family *f = plan->family;
                        fuzz_check(family_series(f) <= 64);
                        /* The same text again: the same totals. */
                        Buf a = { 0 }, b = { 0 };
                        Expo ea = { .out = &a }, eb = { .out = &b };
                        family_render(f, &ea);
                        fuzz_check(pipeline_apply_hist(pipeline, i, m, text, size) == 0);
                        family_render(f, &eb);
                        fuzz_check(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
                        buf_free(&a);
                        buf_free(&b);
                }
        return 0;
}
