/* Tests of daemon/kfeatures.c against the tracefs README of real kernels
 * (tests/unit/data: this CI machine's 6.18 without kprobe events, the
 * Debian 12 and 13 cloud kernels, Debian 12 on arm64), and what a probe
 * needs of them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <jansson.h>

#include "kfeatures.h"
#include "fixture.h"

/* Removes every occurrence of what from text (in place). */
static void strip(char *text, const char *what) {
        size_t n = strlen(what);
        for (size_t at; strstr(text, what);) {
                at = (size_t) (strstr(text, what) - text);
                memmove(text + at, text + at + n, strlen(text + at + n) + 1);
        }
}

static KernelFeatures from(const char *readme_file) {
        KernelFeatures k = { .release = "test", .machine = "x86_64" };
        char *readme = fixture_text(readme_file);
        features_from_readme(&k, readme);
        free(readme);
        return k;
}

static void test_readme_host(void **state) {
        /* 6.18 as built for these machines: uprobes, no hist triggers. */
        KernelFeatures k = from("tracefs-readme-host-6.18.txt");
        assert_int_equal(k.state[FEATURE_ARG_N], FEATURE_YES);
        assert_int_equal(k.state[FEATURE_USER_DEREF], FEATURE_YES);
        assert_int_equal(k.state[FEATURE_USTRING], FEATURE_YES);
        assert_int_equal(k.state[FEATURE_ARRAY], FEATURE_YES);
        assert_int_equal(k.state[FEATURE_COMM], FEATURE_YES);
        assert_int_equal(k.state[FEATURE_HIST_TRIGGERS], FEATURE_NO);
        /* Files are not the README's to tell. */
        assert_int_equal(k.state[FEATURE_KPROBE_EVENTS], FEATURE_UNKNOWN);
}

static void test_readme_debian(void **state) {
        static const char *const kernels[] = {
                "tracefs-readme-debian12-amd64.txt",
                "tracefs-readme-debian13-amd64.txt",
                "tracefs-readme-debian12-arm64.txt",
        };
        for (size_t i = 0; i < ELEMENTSOF(kernels); i++) {
                KernelFeatures k = from(kernels[i]);
                for (Feature f = FEATURE_ARG_N; f <= FEATURE_HIST_TRIGGERS; f++)
                        if (k.state[f] != FEATURE_YES)
                                fail_msg("%s: %s is not detected", kernels[i], feature_name(f));
        }
        /* $arg<N> at a function's return: 6.12 has it, 6.1 does not. */
        assert_int_equal(from("tracefs-readme-debian13-amd64.txt").state[FEATURE_RETPROBE_ARG_N], FEATURE_YES);
        assert_int_equal(from("tracefs-readme-debian12-amd64.txt").state[FEATURE_RETPROBE_ARG_N], FEATURE_NO);
        assert_int_equal(from("tracefs-readme-debian12-arm64.txt").state[FEATURE_RETPROBE_ARG_N], FEATURE_NO);

        /* Debian 11 (5.10): $arg<N>, +u, ustring, arrays and $comm, but its
         * cloud kernel has no hist triggers and no $arg<N> at a return. */
        KernelFeatures k = from("tracefs-readme-debian11-amd64.txt");
        for (Feature f = FEATURE_ARG_N; f <= FEATURE_COMM; f++)
                if (k.state[f] != FEATURE_YES)
                        fail_msg("5.10: %s is not detected", feature_name(f));
        assert_int_equal(k.state[FEATURE_HIST_TRIGGERS], FEATURE_NO);
        assert_int_equal(k.state[FEATURE_RETPROBE_ARG_N], FEATURE_NO);
}

static void test_readme_arg_n_line(void **state) {
        /* Newer READMEs name $arg<N> twice: in the fetcharg list (only where
         * the architecture has function-argument access) and in the return
         * probes' line (always). Only the first one tells. */
        char *readme = fixture_text("tracefs-readme-debian13-amd64.txt");
        char *list = strstr(readme, "$retval, $comm, $arg<N>");
        assert_non_null(list);
        memset(list + strlen("$retval, $comm"), ' ', strlen(", $arg<N>"));
        assert_non_null(strstr(readme, "kernel return probes support: $retval, $arg<N>"));
        KernelFeatures k = { .release = "test" };
        features_from_readme(&k, readme);
        assert_int_equal(k.state[FEATURE_ARG_N], FEATURE_NO);
        free(readme);
}

/* A kernel older than 4.20 and 5.3: the README without $arg<N>, +u and
 * ustring (as Debian 12's README minus those words). */
static KernelFeatures old_kernel(void) {
        KernelFeatures k = { .release = "4.19.0-test", .machine = "x86_64" };
        char *readme = fixture_text("tracefs-readme-debian12-amd64.txt");
        strip(readme, "$arg<N>");
        strip(readme, "[u]<offset>");
        strip(readme, "ustring");
        features_from_readme(&k, readme);
        free(readme);
        k.state[FEATURE_KPROBE_EVENTS] = FEATURE_YES;
        k.state[FEATURE_UPROBE_EVENTS] = FEATURE_YES;
        return k;
}

static ProbeConfig kprobe(char **fetch, size_t n) {
        return (ProbeConfig){ .name = "connect", .type = PROBE_KPROBE, .target = "__sys_connect_file",
                              .fetch = fetch, .n_fetch = n };
}

static void test_probe_needs(void **state) {
        KernelFeatures k = old_kernel();
        assert_int_equal(k.state[FEATURE_ARG_N], FEATURE_NO);
        assert_int_equal(k.state[FEATURE_ARRAY], FEATURE_YES);
        const char *what = "unset";

        /* The seed's register form runs there, the portable form does not. */
        char *seed[] = { "family=+0(%si):u16", "port=+2(%si):u16", "addr=+4(%si):u32", "comm=$comm:string" };
        ProbeConfig p = kprobe(seed, ELEMENTSOF(seed));
        assert_int_equal(features_probe_missing(&k, &p, &what), _FEATURE_MAX);
        assert_null(what);

        char *portable[] = { "family=+0($arg2):u16", "port=+2($arg2):u16" };
        p = kprobe(portable, ELEMENTSOF(portable));
        assert_int_equal(features_probe_missing(&k, &p, &what), FEATURE_ARG_N);
        assert_string_equal(what, "family=+0($arg2):u16");
        char *msg = features_refusal(&k, FEATURE_ARG_N, what);
        assert_non_null(strstr(msg, "fetch arg 'family=+0($arg2):u16' needs $arg<N> fetch args"));
        assert_non_null(strstr(msg, "kernel 4.19.0-test (x86_64)"));
        free(msg);
        /* A uprobe's $argN reaches the kernel as a register. */
        p.type = PROBE_UPROBE;
        p.target = "/usr/lib/x86_64-linux-gnu/libc.so.6:getaddrinfo";
        assert_int_equal(features_probe_missing(&k, &p, &what), _FEATURE_MAX);

        /* The first missing feature of an arg, whatever its order in it. */
        char *user[] = { "path=+u0($arg2):string" };
        p = kprobe(user, 1);
        assert_int_equal(features_probe_missing(&k, &p, &what), FEATURE_ARG_N);
        k.state[FEATURE_ARG_N] = FEATURE_YES;
        assert_int_equal(features_probe_missing(&k, &p, &what), FEATURE_USER_DEREF);

        char *ustr[] = { "path=+0(%si):ustring" };
        p = kprobe(ustr, 1);
        assert_int_equal(features_probe_missing(&k, &p, &what), FEATURE_USTRING);

        /* Unknown (README unreadable) is never a reason to refuse. */
        k.state[FEATURE_USTRING] = FEATURE_UNKNOWN;
        assert_int_equal(features_probe_missing(&k, &p, &what), _FEATURE_MAX);

        char *v6[] = { "addr=+8(%si):u8[16]" };
        p = kprobe(v6, 1);
        assert_int_equal(features_probe_missing(&k, &p, &what), _FEATURE_MAX);
        k.state[FEATURE_ARRAY] = FEATURE_NO;
        assert_int_equal(features_probe_missing(&k, &p, &what), FEATURE_ARRAY);

        /* $arg<N> in a kretprobe needs more than $arg<N> (6.1 has one, not
         * the other). */
        KernelFeatures deb12 = from("tracefs-readme-debian12-amd64.txt");
        char *ret_args[] = { "ret=$retval:s32", "port=+2($arg2):u16" };
        p = kprobe(ret_args, ELEMENTSOF(ret_args));
        assert_int_equal(features_probe_missing(&deb12, &p, &what), _FEATURE_MAX);
        p.type = PROBE_KRETPROBE;
        assert_int_equal(features_probe_missing(&deb12, &p, &what), FEATURE_RETPROBE_ARG_N);
        assert_string_equal(what, "port=+2($arg2):u16");

        /* Tracepoints need none of it. */
        ProbeConfig tp = { .name = "tcp", .type = PROBE_TRACEPOINT, .target = "sock/inet_sock_set_state" };
        assert_int_equal(features_probe_missing(&k, &tp, &what), _FEATURE_MAX);
}

static void test_no_kprobe_events(void **state) {
        /* This machine's kernel: the kprobe kinds are refused as a whole. */
        KernelFeatures k = from("tracefs-readme-host-6.18.txt");
        snprintf(k.release, sizeof(k.release), "6.18.44-test");
        k.state[FEATURE_KPROBE_EVENTS] = FEATURE_NO;
        k.state[FEATURE_UPROBE_EVENTS] = FEATURE_YES;
        char *seed[] = { "family=+0(%si):u16" };
        ProbeConfig p = kprobe(seed, 1);
        const char *what;
        assert_int_equal(features_probe_missing(&k, &p, &what), FEATURE_KPROBE_EVENTS);
        assert_null(what);
        char *msg = features_refusal(&k, FEATURE_KPROBE_EVENTS, what);
        assert_non_null(strstr(msg, "kernel built without kprobe events"));
        assert_non_null(strstr(msg, "6.18.44-test"));
        free(msg);
        p.type = PROBE_KRETPROBE;
        assert_int_equal(features_probe_missing(&k, &p, &what), FEATURE_KPROBE_EVENTS);
        p.type = PROBE_UPROBE;
        assert_int_equal(features_probe_missing(&k, &p, &what), _FEATURE_MAX);
}

static void test_render(void **state) {
        KernelFeatures k = from("tracefs-readme-debian12-amd64.txt");
        snprintf(k.release, sizeof(k.release), "6.1.0-41-cloud-amd64");
        k.state[FEATURE_KPROBE_EVENTS] = FEATURE_YES;
        Buf out = { 0 };
        features_render_json(&k, &out);
        json_error_t err;
        json_t *j = json_loads(out.data, 0, &err);
        if (!j)
                fail_msg("not JSON: %s: %s", err.text, out.data);
        assert_string_equal(json_string_value(json_object_get(j, "release")), "6.1.0-41-cloud-amd64");
        json_t *f = json_object_get(j, "features");
        assert_true(json_is_true(json_object_get(f, "kprobe_events")));
        assert_true(json_is_true(json_object_get(f, "arg_n")));
        assert_true(json_is_true(json_object_get(f, "hist_triggers")));
        assert_true(json_is_null(json_object_get(f, "uprobe_events")));
        assert_int_equal(json_object_size(f), _FEATURE_MAX);
        json_decref(j);

        buf_clear(&out);
        features_render_metrics(&k, &(Expo){ .out = &out });
        assert_non_null(strstr(out.data, "\nkprobe_exporter_kernel_info{release=\"6.1.0-41-cloud-amd64\",machine=\"x86_64\"} 1\n"));
        assert_non_null(strstr(out.data, "\nkprobe_exporter_kernel_feature{feature=\"kprobe_events\"} 1\n"));
        assert_non_null(strstr(out.data, "\nkprobe_exporter_kernel_feature{feature=\"retprobe_arg_n\"} 0\n"));
        assert_null(strstr(out.data, "feature=\"uprobe_events\"")); /* unknown: left out */

        buf_clear(&out);
        features_render_text(&k, &out);
        assert_non_null(strstr(out.data, "# kernel 6.1.0-41-cloud-amd64 (x86_64)\n"));
        assert_non_null(strstr(out.data, "# kernel feature arg_n               yes"));
        assert_non_null(strstr(out.data, "# kernel feature uprobe_events       unknown"));
        buf_free(&out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_readme_host),   cmocka_unit_test(test_readme_debian),
                cmocka_unit_test(test_readme_arg_n_line),
                cmocka_unit_test(test_probe_needs),   cmocka_unit_test(test_no_kprobe_events),
                cmocka_unit_test(test_render),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
