/* Unit tests of the YAML config loader: the full example, every error with
 * its exact line:column, the error printer, files. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "util.h"

/* The example of the user documentation, comments included. */
static const char full_example[] =
        "listen: 127.0.0.1:9417      # optional string\n"                               /* 1 */
        "recent_events: 4096         # optional\n"                                      /* 2 */
        "max_series: 10000\n"                                                           /* 3 */
        "strict: false\n"                                                               /* 4 */
        "probes:\n"                                                                     /* 5 */
        "  - name: connect\n"                                                           /* 6 */
        "    type: kprobe\n"                                                            /* 7 */
        "    target: __sys_connect_file\n"                                              /* 8 */
        "    fetch:\n"                                                                  /* 9 */
        "      - family=+0(%si):u16\n"                                                  /* 10 */
        "      - port=+2(%si):u16\n"                                                    /* 11 */
        "      - addr=+4(%si):u32\n"                                                    /* 12 */
        "    filter: family == 2\n"                                                     /* 13 */
        "    decode:\n"                                                                 /* 14 */
        "      port: ntohs\n"                                                           /* 15 */
        "      addr: ipv4\n"                                                            /* 16 */
        "      family: {map: {2: AF_INET, 10: AF_INET6}}\n"                             /* 17 */
        "    metrics:\n"                                                                /* 18 */
        "      - name: connect_total # a counter\n"                                     /* 19 */
        "        help: connect() calls by destination\n"                                /* 20 */
        "        labels: [comm, addr, port]\n";                                         /* 21 */

static Config *load_ok(const char *text) {
        ConfigErrors errs = { 0 };
        Config *c = NULL;
        int r = config_load_string("test.yaml", text, strlen(text), &c, &errs);
        if (r < 0)
                config_errors_write(&errs, "test.yaml", text, strlen(text), stderr);
        assert_int_equal(r, 0);
        assert_int_equal(errs.n, 0);
        assert_non_null(c);
        config_errors_clear(&errs);
        return c;
}

/* Loads text that must fail with exactly one error, at line:column, whose
 * message contains `what`. */
static void expect_error(const char *text, unsigned line, unsigned column, const char *what) {
        ConfigErrors errs = { 0 };
        Config *c = NULL;
        int r = config_load_string("test.yaml", text, strlen(text), &c, &errs);

        if (errs.n != 1 || !strstr(errs.items[0].message, what))
                config_errors_write(&errs, "test.yaml", text, strlen(text), stderr);
        assert_int_equal(r, -EINVAL);
        assert_null(c);
        assert_int_equal(errs.n, 1);
        assert_non_null(strstr(errs.items[0].message, what));
        assert_int_equal(errs.items[0].line, line);
        assert_int_equal(errs.items[0].column, column);
        config_errors_clear(&errs);
}

static void test_full_example(void **state) {
        (void) state;
        Config *c = load_ok(full_example);

        assert_string_equal(c->path, "test.yaml");
        assert_string_equal(c->listen, "127.0.0.1:9417");
        assert_int_equal(c->recent_events, 4096);
        assert_int_equal(c->max_series, 10000);
        assert_int_equal(c->max_label_bytes, CONFIG_DEFAULT_MAX_LABEL_BYTES);
        assert_int_equal(c->max_label_bytes, 256);
        assert_int_equal(c->probes[0].metrics[0].max_label_bytes, 0);
        assert_int_equal(config_max_label_bytes(c, &c->probes[0].metrics[0]), 256);
        assert_false(c->strict);
        assert_int_equal(c->n_probes, 1);

        const ProbeConfig *p = &c->probes[0];
        assert_string_equal(p->name, "connect");
        assert_int_equal(p->type, PROBE_KPROBE);
        assert_string_equal(p->target, "__sys_connect_file");
        assert_int_equal(p->line, 6);
        assert_int_equal(p->column, 5);
        assert_int_equal(p->target_line, 8);
        assert_int_equal(p->target_column, 13);

        /* The comm label makes the probe fetch comm itself (appended). */
        assert_int_equal(p->n_fetch, 4);
        assert_string_equal(p->fetch[0], "family=+0(%si):u16");
        assert_string_equal(p->fetch[1], "port=+2(%si):u16");
        assert_string_equal(p->fetch[2], "addr=+4(%si):u32");
        assert_string_equal(p->fetch[3], "comm=$comm:string");
        assert_true(p->comm_fetched);
        assert_int_equal(p->n_fields, 4);
        assert_string_equal(p->fields[0], "family");
        assert_string_equal(p->fields[1], "port");
        assert_string_equal(p->fields[2], "addr");
        assert_string_equal(p->fields[3], "comm");
        for (size_t i = 0; i < 3; i++)
                assert_false(p->field_is_string[i]);
        assert_true(p->field_is_string[3]);

        assert_string_equal(p->filter, "family == 2");

        assert_int_equal(p->n_decoders, 3);
        const Decoder *d = probe_find_decoder(p, "port");
        assert_non_null(d);
        assert_int_equal(d->kind, DECODER_NTOHS);
        assert_int_equal(d->line, 15);
        assert_int_equal(d->column, 7);
        d = probe_find_decoder(p, "addr");
        assert_non_null(d);
        assert_int_equal(d->kind, DECODER_IPV4);
        d = probe_find_decoder(p, "family");
        assert_non_null(d);
        assert_int_equal(d->kind, DECODER_MAP);
        assert_int_equal(d->n_map, 2);
        assert_string_equal(d->map[0].from, "2");
        assert_string_equal(d->map[0].to, "AF_INET");
        assert_string_equal(d->map[1].from, "10");
        assert_string_equal(d->map[1].to, "AF_INET6");
        assert_null(probe_find_decoder(p, "comm"));

        assert_int_equal(p->n_metrics, 1);
        const MetricConfig *m = &p->metrics[0];
        assert_string_equal(m->name, "connect_total");
        assert_string_equal(m->help, "connect() calls by destination");
        assert_int_equal(m->n_labels, 3);
        assert_string_equal(m->labels[0], "comm");
        assert_string_equal(m->labels[1], "addr");
        assert_string_equal(m->labels[2], "port");
        assert_int_equal(m->line, 19);
        assert_int_equal(m->column, 9);

        config_free(c);
}

static void test_defaults_and_kinds(void **state) {
        (void) state;
        Config *c = load_ok(
                "probes:\n"
                "  - name: ret\n"
                "    type: kretprobe\n"
                "    target: do_sys_openat2+0x10\n"
                "    fetch: [ret=$retval:s32, file=+0($arg2):string, u=+0(%di):ustring, s=%ax:symstr]\n"
                "    metrics:\n"
                "      - name: opens_total\n"
                "  - name: bash_readline\n"
                "    type: uretprobe\n"
                "    target: /usr/bin/bash:0xab120\n"
                "    fetch: [line=+0($retval):string]\n"
                "  - {name: up, type: uprobe, target: \"/lib/x86_64-linux-gnu/libc.so.6:0x1f00\"}\n"
                "  - {name: k2, type: kprobe, target: tcp_v4_connect+16}\n");

        assert_null(c->listen);
        assert_int_equal(c->recent_events, CONFIG_DEFAULT_RECENT_EVENTS);
        assert_int_equal(c->max_series, CONFIG_DEFAULT_MAX_SERIES);
        assert_false(c->strict);
        assert_int_equal(c->n_probes, 4);

        const ProbeConfig *p = &c->probes[0];
        assert_int_equal(p->type, PROBE_KRETPROBE);
        assert_string_equal(p->target, "do_sys_openat2+0x10");
        assert_int_equal(p->n_fields, 4);
        assert_string_equal(p->fields[0], "ret");
        assert_false(p->field_is_string[0]);
        assert_string_equal(p->fields[1], "file");
        assert_true(p->field_is_string[1]);
        assert_true(p->field_is_string[2]);
        assert_true(p->field_is_string[3]);
        assert_null(p->filter);
        assert_int_equal(p->n_decoders, 0);
        assert_int_equal(p->n_metrics, 1);
        assert_string_equal(p->metrics[0].help, "Events of probe ret");
        assert_int_equal(p->metrics[0].n_labels, 0);

        assert_int_equal(c->probes[1].type, PROBE_URETPROBE);
        assert_string_equal(c->probes[1].target, "/usr/bin/bash:0xab120");
        assert_true(c->probes[1].field_is_string[0]);
        assert_int_equal(c->probes[2].type, PROBE_UPROBE);
        assert_int_equal(c->probes[2].n_fields, 0);
        assert_int_equal(c->probes[3].type, PROBE_KPROBE);
        assert_string_equal(c->probes[3].target, "tcp_v4_connect+16");
        config_free(c);
}

static void test_implicit_comm(void **state) {
        /* No comm label: the fetch args stay exactly as written. */
        Config *c = load_ok("probes:\n"
                            "  - {name: a, type: kprobe, target: f, fetch: [x=%di:u32],\n"
                            "     metrics: [{name: a_total, labels: [x, pid]}]}\n"
                            "  - {name: b, type: uprobe, target: /bin/true:0x10, fetch: ['comm=$comm:string'],\n"
                            "     metrics: [{name: b_total, labels: [comm]}]}\n"
                            "  - {name: c, type: tracepoint, target: sock/inet_sock_set_state,\n"
                            "     metrics: [{name: c_total, labels: [comm]}]}\n");
        assert_int_equal(c->probes[0].n_fetch, 1);
        assert_false(c->probes[0].comm_fetched);
        /* The user's own comm field is kept, not doubled. */
        assert_int_equal(c->probes[1].n_fetch, 1);
        assert_false(c->probes[1].comm_fetched);
        /* Tracepoints cannot fetch: comm comes from the header. */
        assert_int_equal(c->probes[2].n_fetch, 0);
        assert_false(c->probes[2].comm_fetched);
        config_free(c);
}

static void test_scalars(void **state) {
        (void) state;
        Config *c = load_ok(
                "listen: \"[::1]:9000\"\n"
                "recent_events: 1\n"
                "max_series: 10000000\n"
                "strict: yes\n"
                "probes: [{name: a, type: kprobe, target: vfs_read}]\n");
        assert_string_equal(c->listen, "[::1]:9000");
        assert_int_equal(c->recent_events, 1);
        assert_int_equal(c->max_series, 10000000);
        assert_true(c->strict);
        config_free(c);

        c = load_ok("strict: no\nrecent_events: 1000000\nprobes: [{name: a, type: kprobe, target: vfs_read}]\n");
        assert_false(c->strict);
        assert_int_equal(c->recent_events, 1000000);
        config_free(c);
}

/* The shape of the shipped default config. */
static void test_default_tracepoint(void **state) {
        (void) state;
        Config *c = load_ok(
                "probes:\n"
                "  - name: tcp_connect\n"
                "    type: tracepoint\n"
                "    target: sock/inet_sock_set_state\n"
                "    filter: newstate == 2\n"
                "    decode:\n"
                "      daddr: string\n"
                "    metrics:\n"
                "      - name: tcp_connect_total\n"
                "        labels: [comm, daddr, dport]\n");
        const ProbeConfig *p = &c->probes[0];

        assert_int_equal(p->type, PROBE_TRACEPOINT);
        assert_string_equal(p->target, "sock/inet_sock_set_state");
        assert_string_equal(p->filter, "newstate == 2");
        assert_int_equal(p->n_fetch, 0);
        assert_int_equal(p->n_fields, 0);
        assert_int_equal(p->n_decoders, 1);
        assert_int_equal(probe_find_decoder(p, "daddr")->kind, DECODER_STRING);
        assert_int_equal(p->metrics[0].n_labels, 3);
        assert_string_equal(p->metrics[0].labels[1], "daddr");
        assert_string_equal(p->metrics[0].labels[2], "dport");
        assert_string_equal(p->metrics[0].help, "Events of probe tcp_connect");
        assert_int_equal(p->target_line, 4);
        assert_int_equal(p->target_column, 13);
        config_free(c);

        /* A tracepoint probe may be named like its own event. */
        c = load_ok("probes: [{name: inet_sock_set_state, type: tracepoint, target: sock/inet_sock_set_state}]\n");
        config_free(c);
}

#define PROBE_A "probes:\n  - name: a\n    type: kprobe\n    target: vfs_read\n"

static void test_error_top_level(void **state) {
        (void) state;
        expect_error("foo: 1\n" PROBE_A, 1, 1, "unknown key 'foo'");
        expect_error("recent_events: lots\n" PROBE_A, 1, 16, "'recent_events' must be an integer");
        expect_error("recent_events: \"4096\"\n" PROBE_A, 1, 16, "'recent_events' must be an integer");
        expect_error("recent_events: 0\n" PROBE_A, 1, 16, "'recent_events' must be between 1 and 1000000");
        expect_error("recent_events: 1000001\n" PROBE_A, 1, 16, "between 1 and 1000000");
        expect_error("max_series: -5\n" PROBE_A, 1, 13, "'max_series' must be between 1 and 10000000");
        expect_error("max_series: [1]\n" PROBE_A, 1, 13, "'max_series' must be an integer");
        expect_error("max_label_bytes: 15\n" PROBE_A, 1, 18, "'max_label_bytes' must be between 16 and 65536");
        expect_error("max_label_bytes: 65537\n" PROBE_A, 1, 18, "'max_label_bytes' must be between 16 and 65536");
        expect_error("max_label_bytes: 1k\n" PROBE_A, 1, 18, "'max_label_bytes' must be an integer");
        expect_error("max_label_bytes: \"256\"\n" PROBE_A, 1, 18, "'max_label_bytes' must be an integer");
        expect_error("strict: maybe\n" PROBE_A, 1, 9, "'strict' must be a boolean");
        expect_error("listen: [a]\n" PROBE_A, 1, 9, "'listen' must be a string");
        expect_error("listen: :1\nlisten: :2\n" PROBE_A, 2, 1, "duplicate key 'listen' (first at line 1)");
        expect_error("listen: nonsense\n" PROBE_A, 1, 9, "invalid 'listen' address 'nonsense'");
        expect_error("listen: \":70000\"\n" PROBE_A, 1, 9, "invalid 'listen' address");
        expect_error("- a\n- b\n", 1, 1, "the config must be a mapping");
}

/* max_label_bytes at the top, and per metric over it. */
static void test_max_label_bytes(void **state) {
        (void) state;
        Config *c = load_ok("max_label_bytes: 1024\n"
                            "probes:\n"
                            "  - name: a\n"
                            "    type: kprobe\n"
                            "    target: vfs_read\n"
                            "    fetch: ['path=+0(%si):string']\n"
                            "    metrics:\n"
                            "      - name: a_total\n"
                            "        labels: [path]\n"
                            "      - name: b_total\n"
                            "        max_label_bytes: 16\n"
                            "        labels: [path]\n"
                            "      - name: c_total\n"
                            "        max_label_bytes: 65536\n");
        assert_int_equal(c->max_label_bytes, 1024);
        const MetricConfig *m = c->probes[0].metrics;
        assert_int_equal(config_max_label_bytes(c, &m[0]), 1024);
        assert_int_equal(config_max_label_bytes(c, &m[1]), 16);
        assert_int_equal(config_max_label_bytes(c, &m[2]), 65536);
        config_free(c);

        expect_error(PROBE_A "    metrics:\n"
                             "      - name: a_total\n"
                             "        max_label_bytes: 8\n",
                     7, 26, "'max_label_bytes' must be between 16 and 65536");
        expect_error(PROBE_A "    metrics:\n"
                             "      - {name: a_total, max_label_bytes: [256]}\n",
                     6, 42, "'max_label_bytes' must be an integer");
}

static void test_error_empty(void **state) {
        (void) state;
        expect_error("", 1, 1, "config is empty");
        expect_error("# nothing here\n\n", 1, 1, "config is empty");
        expect_error("listen: :9\n", 1, 1, "config is missing 'probes'");
        expect_error("listen: :9\nprobes: []\n", 2, 9, "'probes' must not be empty");
        expect_error("listen: :9\nprobes:\n", 2, 8, "'probes' must be a sequence");
        expect_error("probes: [a]\n", 1, 10, "a probe must be a mapping");
}

static void test_error_syntax(void **state) {
        (void) state;
        /* libyaml's own text and place. */
        expect_error("probes:\n  - name: a\n   type: b\n", 3, 4, "did not find expected '-' indicator");
        expect_error("probes: [a, b\n", 2, 1, "did not find expected ',' or ']'");
        expect_error("probes: *nothing\n", 1, 9, "found undefined alias");
        expect_error("probes:\n\t- name: x\n", 2, 1, "found character that cannot start any token");
        expect_error("probes:\n  - name: \xff\n", 2, 11, "invalid leading UTF-8 octet");
        expect_error("a: 1\n---\nb: 2\n", 2, 1, "only one YAML document is allowed");

        char deep[200] = "probes: ";
        for (size_t i = 0; i < 40; i++)
                strcat(deep, "[");
        /* The root mapping is level 1, so the 32nd '[' is one too deep. */
        expect_error(deep, 1, 9 + 31, "nested deeper than 32 levels");
}

static void test_error_probe_keys(void **state) {
        (void) state;
        expect_error("probes:\n  - name: a\n    type: kprobe\n", 2, 5, "probe is missing 'target'");
        expect_error("probes:\n  - type: kprobe\n    target: x\n", 2, 5, "probe is missing 'name'");
        expect_error("probes:\n  - {name: a, target: x}\n", 2, 5, "probe is missing 'type'");
        expect_error(PROBE_A "    taget: x\n", 5, 5, "unknown key 'taget'");
        expect_error(PROBE_A "    type: kprobe\n", 5, 5, "duplicate key 'type' (first at line 3)");
        expect_error("probes:\n  - name: 1a\n    type: kprobe\n    target: x\n", 2, 11, "invalid probe name '1a'");
        expect_error("probes:\n  - name: a-b\n    type: kprobe\n    target: x\n", 2, 11, "invalid probe name 'a-b'");
        expect_error("probes:\n  - name: a\n    type: kprobes\n    target: x\n", 3, 11, "unknown probe type 'kprobes'");
        expect_error("probes:\n  - name: a\n    type: kprobe\n    target: ~\n", 4, 13, "'target' must be a string");
        expect_error(PROBE_A "    filter: \"a == 1\\nb\"\n", 5, 13, "'filter' must not contain a newline");
}

static void test_error_duplicates(void **state) {
        (void) state;
        expect_error("probes:\n"
                     "  - name: connect\n"
                     "    type: kprobe\n"
                     "    target: vfs_read\n"
                     "  - name: connect\n"
                     "    type: kprobe\n"
                     "    target: vfs_write\n",
                     5, 11, "duplicate probe name 'connect' (first at line 2)");
        expect_error("probes:\n"
                     "  - {name: a, type: tracepoint, target: sock/inet_sock_set_state}\n"
                     "  - {name: b, type: tracepoint, target: sock/inet_sock_set_state}\n",
                     3, 41, "duplicate tracepoint target 'sock/inet_sock_set_state' (first at line 2)");
        /* Same event name in two subsystems: trace_pipe prints only the event. */
        expect_error("probes:\n"
                     "  - {name: a, type: tracepoint, target: sock/foo}\n"
                     "  - {name: b, type: tracepoint, target: tcp/foo}\n",
                     3, 41, "same event name as 'sock/foo' (line 2)");
        /* A kprobe named like a tracepoint event, in both orders. */
        expect_error("probes:\n"
                     "  - {name: tp, type: tracepoint, target: sock/inet_sock_set_state}\n"
                     "  - {name: inet_sock_set_state, type: kprobe, target: vfs_read}\n",
                     3, 12, "probe name 'inet_sock_set_state' is the event name of tracepoint 'sock/inet_sock_set_state'");
        expect_error("probes:\n"
                     "  - {name: inet_sock_set_state, type: kprobe, target: vfs_read}\n"
                     "  - {name: tp, type: tracepoint, target: sock/inet_sock_set_state}\n",
                     3, 42, "tracepoint event 'inet_sock_set_state' is also the name of probe 'inet_sock_set_state'");
}

static void test_error_targets(void **state) {
        (void) state;
        expect_error("probes: [{name: a, type: kprobe, target: \"vfs read\"}]\n", 1, 42, "invalid kprobe target 'vfs read'");
        expect_error("probes: [{name: a, type: kretprobe, target: vfs_read+0xzz}]\n", 1, 45, "invalid kretprobe target");
        expect_error("probes: [{name: a, type: kprobe, target: vfs_read+}]\n", 1, 42, "expected SYMBOL[+OFFSET]");
        expect_error("probes: [{name: a, type: uprobe, target: \"bin/bash:0x10\"}]\n", 1, 42, "invalid uprobe target");
        expect_error("probes: [{name: a, type: uprobe, target: \"/bin/bash:10\"}]\n", 1, 42, "expected /ABSOLUTE/PATH:0xOFFSET");
        expect_error("probes: [{name: a, type: uretprobe, target: \"/my bin/bash:0x10\"}]\n", 1, 45,
                     "invalid uretprobe target");
        expect_error("probes: [{name: a, type: uprobe, target: /bin/bash}]\n", 1, 42, "invalid uprobe target");
        expect_error("probes: [{name: a, type: tracepoint, target: sock}]\n", 1, 46, "invalid tracepoint target 'sock'");
        expect_error("probes: [{name: a, type: tracepoint, target: sock/a-b}]\n", 1, 46, "expected SUBSYSTEM/EVENT");
}

static void test_error_fetch(void **state) {
        (void) state;
        expect_error(PROBE_A "    fetch: [nope]\n", 5, 13, "fetch arg 'nope' must be NAME=FETCHARG[:TYPE]");
        expect_error(PROBE_A "    fetch: [\"=%si\"]\n", 5, 13, "must be NAME=FETCHARG[:TYPE]");
        expect_error(PROBE_A "    fetch: [x=]\n", 5, 13, "has an empty FETCHARG");
        expect_error(PROBE_A "    fetch: [\"x=%si:\"]\n", 5, 13, "has an empty type");
        expect_error(PROBE_A "    fetch: [\"x=+0( %si)\"]\n", 5, 13, "must not contain whitespace");
        expect_error(PROBE_A "    fetch: [9x=%si]\n", 5, 13, "invalid fetch arg name '9x'");
        expect_error(PROBE_A "    fetch: [common_pid=%si]\n", 5, 13, "fetch arg name 'common_pid' is reserved");
        expect_error(PROBE_A "    fetch:\n      - x=%si\n      - x=%di\n", 7, 9, "duplicate fetch arg name 'x'");
        expect_error(PROBE_A "    fetch: [r=$retval]\n", 5, 13, "$retval is only available in kretprobe and uretprobe");
        expect_error(PROBE_A "    fetch: x=%si\n", 5, 12, "'fetch' must be a sequence");
        expect_error("probes:\n  - name: t\n    type: tracepoint\n    target: sock/x\n    fetch: [a=%si]\n", 5, 5,
                     "'fetch' is not allowed for tracepoint probes");

        /* 64 characters after '=' is one too many, 63 are fine. */
        char text[512], arg[80];
        memset(arg, 'a', sizeof(arg));
        arg[0] = '@';
        arg[64] = 0;
        snprintf(text, sizeof(text), PROBE_A "    fetch: [x=%s]\n", arg);
        expect_error(text, 5, 13, "FETCHARG is longer than 63 characters");
        arg[63] = 0;
        snprintf(text, sizeof(text), PROBE_A "    fetch: [x=%s]\n", arg);
        Config *c = load_ok(text);
        assert_int_equal(strlen(c->probes[0].fetch[0]), 2 + 63);
        config_free(c);

        /* 128 args are fine, 129 are not. */
        Buf b = { 0 };
        buf_puts(&b, PROBE_A "    fetch: [");
        for (unsigned i = 0; i < 129; i++)
                buf_printf(&b, "%sa%u=%%si", i ? ", " : "", i);
        buf_puts(&b, "]\n");
        expect_error(b.data, 5, 12, "'fetch' has too many entries (129, at most 128)");
        buf_free(&b);
        buf_puts(&b, PROBE_A "    fetch: [");
        for (unsigned i = 0; i < 128; i++)
                buf_printf(&b, "%sa%u=%%si", i ? ", " : "", i);
        buf_puts(&b, "]\n");
        c = load_ok(b.data);
        assert_int_equal(c->probes[0].n_fields, 128);
        assert_string_equal(c->probes[0].fields[127], "a127");
        config_free(c);
        buf_free(&b);
}

#define UPROBE_A "probes:\n  - name: a\n    type: uprobe\n    target: /bin/true:0x10\n"
#define URETPROBE_A "probes:\n  - name: a\n    type: uretprobe\n    target: /bin/true:0x10\n"

/* A uprobe's $argN becomes a register in the probe line (tfs_text.c): the
 * config keeps it as written, and refuses what has no register. */
static void test_uprobe_arg_n(void **state) {
        (void) state;
        Config *c = load_ok(UPROBE_A "    fetch: [\"name=+0($arg1):ustring\", \"x=+8(+0($arg2)):u64\"]\n"
                            "    decode: {x: hex}\n");
        assert_string_equal(c->probes[0].fetch[0], "name=+0($arg1):ustring");
        assert_string_equal(c->probes[0].fields[0], "name");
        assert_string_equal(c->probes[0].fields[1], "x");
        assert_true(c->probes[0].field_is_string[0]);
        config_free(c);
        /* A kprobe's is the kernel's own, any N. */
        c = load_ok(PROBE_A "    fetch: [\"a=$arg10:u64\"]\n");
        config_free(c);
        c = load_ok("probes:\n  - name: a\n    type: kretprobe\n    target: vfs_read\n    fetch: [\"a=$arg1:u64\"]\n");
        config_free(c);

        expect_error(URETPROBE_A "    fetch: [\"ret=$retval:s32\", \"name=+0($arg1):ustring\"]\n", 5, 32,
                     "fetch arg 'name=+0($arg1):ustring': $argN is not available in a uretprobe: the arguments' "
                     "registers are overwritten by the time the function returns");
        expect_error(URETPROBE_A "    fetch: [\"a=$arg99\"]\n", 5, 13, "not available in a uretprobe");
        /* Not $argN: nothing to refuse here (the kernel says what it is). */
        c = load_ok(URETPROBE_A "    fetch: [\"a=$args\"]\n");
        config_free(c);
#if defined(__x86_64__) || defined(__aarch64__)
        const char *arch;
        unsigned max = uprobe_arg_max(&arch);
        char text[256], want[128];
        snprintf(text, sizeof(text), UPROBE_A "    fetch: [\"a=$arg%u\"]\n", max);
        c = load_ok(text);
        config_free(c);
        snprintf(text, sizeof(text), UPROBE_A "    fetch: [\"a=$arg%u\"]\n", max + 1);
        snprintf(want, sizeof(want), "fetch arg 'a=$arg%u': $arg%u has no register: a uprobe's $argN is the "
                 "register of the Nth integer argument, N = 1..%u on %s", max + 1, max + 1, max, arch);
        expect_error(text, 5, 13, want);
        expect_error(UPROBE_A "    fetch: [\"a=+0($arg10):u64\"]\n", 5, 13, "$arg10 has no register");
        expect_error(UPROBE_A "    fetch: [\"a=$arg0\"]\n", 5, 13, "$arg0 has no register");
        expect_error(UPROBE_A "    fetch: [\"a=$arg123456789012\"]\n", 5, 13,
                     "fetch arg 'a=$arg123456789012': a uprobe's $argN is the register of the Nth integer argument");
#else
        expect_error(UPROBE_A "    fetch: [\"a=$arg1\"]\n", 5, 13, "the kernel has no $argN for uprobes");
#endif
}

#define PROBE_F PROBE_A "    fetch: [port=+2(%si):u16]\n"

static void test_error_decode(void **state) {
        (void) state;
        expect_error(PROBE_F "    decode: {port: ntohz}\n", 6, 20,
                     "unknown decoder 'ntohz' (expected ntohs, ntohl, ipv4, ipv6, ip, hex, errno, string, devt or "
                     "{map: {...}})");
        expect_error(PROBE_F "    decode: {addr: ipv4}\n", 6, 14, "'addr' is not a field of probe 'a'");
        expect_error(PROBE_F "    decode: {port: ntohs, port: ntohl}\n", 6, 27, "duplicate key 'port'");
        expect_error(PROBE_F "    decode: [port]\n", 6, 13, "'decode' must be a mapping");
        expect_error(PROBE_F "    decode: {port: {mapp: {1: a}}}\n", 6, 21, "unknown key 'mapp'");
        expect_error(PROBE_F "    decode: {port: {}}\n", 6, 20, "decoder mapping is missing 'map'");
        expect_error(PROBE_F "    decode: {port: {map: {1: [a]}}}\n", 6, 30, "'map' values must be scalars");
        expect_error(PROBE_F "    decode: {port: {map: {1: a, 1: b}}}\n", 6, 33, "duplicate key '1'");
        expect_error(PROBE_F "    decode: {port: {map: {}}}\n", 6, 26, "'map' must not be empty");
        expect_error(PROBE_F "    decode: {port: [ntohs]}\n", 6, 20, "decoder for 'port' must be");
        /* Tracepoint fields are checked later, against the kernel's format. */
        Config *c = load_ok("probes: [{name: t, type: tracepoint, target: a/b, decode: {anything: errno}}]\n");
        assert_int_equal(probe_find_decoder(&c->probes[0], "anything")->kind, DECODER_ERRNO);
        config_free(c);
        /* The probe library's: tcp.yaml's daddrv6, block.yaml's dev. */
        c = load_ok("probes: [{name: t, type: tracepoint, target: a/b, decode: {daddrv6: ip, dev: devt}}]\n");
        assert_int_equal(probe_find_decoder(&c->probes[0], "daddrv6")->kind, DECODER_IP);
        assert_int_equal(probe_find_decoder(&c->probes[0], "dev")->kind, DECODER_DEVT);
        config_free(c);
        /* Neither is a number: not for a value. */
        expect_error(PROBE_F "    decode: {port: devt}\n    metrics: [{name: p_total, value: port}]\n", 7, 38,
                     "value: field 'port' is decoded as devt, which is not a number");
        expect_error(PROBE_F "    decode: {port: ip}\n    metrics: [{name: p_total, value: port}]\n", 7, 38,
                     "value: field 'port' is decoded as ip, which is not a number");
        expect_error("probes: [{name: t, type: tracepoint, target: a/b, decode: {a-b: hex}}]\n", 1, 60,
                     "invalid field name 'a-b'");
}

static void test_error_metrics(void **state) {
        (void) state;
        expect_error(PROBE_F "    metrics: [{name: port_count}]\n", 6, 22, "metric name 'port_count' must end in _total");
        expect_error(PROBE_F "    metrics: [{name: kprobe_exporter_up_total}]\n", 6, 22,
                     "uses the reserved prefix 'kprobe_exporter_'");
        expect_error(PROBE_F "    metrics: [{name: process_x_total}]\n", 6, 22, "uses the reserved prefix 'process_'");
        expect_error(PROBE_F "    metrics: [{name: a:b_total}]\n", 6, 22, "invalid metric name 'a:b_total'");
        expect_error(PROBE_F "    metrics: [{help: x}]\n", 6, 15, "metric is missing 'name'");
        expect_error(PROBE_F "    metrics: [{name: x_total, colour: red}]\n", 6, 31, "unknown key 'colour'");
        expect_error(PROBE_F "    metrics: [{name: x_total, labels: [comm, addr]}]\n", 6, 46,
                     "label 'addr' is neither a field of probe 'a' nor a builtin");
        expect_error(PROBE_F "    metrics: [{name: x_total, labels: [port, port]}]\n", 6, 46, "duplicate label 'port'");
        expect_error(PROBE_F "    metrics: [{name: x_total, labels: [__name__]}]\n", 6, 40, "label name '__name__' is reserved");
        expect_error(PROBE_F "    metrics: [{name: x_total, labels: comm}]\n", 6, 39, "'labels' must be a sequence");
        expect_error(PROBE_F "    metrics: {name: x_total}\n", 6, 14, "'metrics' must be a sequence");
        /* Unique across all probes. */
        expect_error("probes:\n"
                     "  - name: a\n"
                     "    type: kprobe\n"
                     "    target: vfs_read\n"
                     "    metrics: [{name: io_total}]\n"
                     "  - name: b\n"
                     "    type: kprobe\n"
                     "    target: vfs_write\n"
                     "    metrics: [{name: io_total}]\n",
                     9, 22, "duplicate metric name 'io_total' (first at line 5)");
        /* Builtins and fields are fine; tracepoints take any valid name. */
        Config *c = load_ok(PROBE_F "    metrics: [{name: x_total, labels: [comm, pid, tgid, cpu, port]}]\n");
        assert_int_equal(c->probes[0].metrics[0].n_labels, 5);
        config_free(c);
}

static void test_many_errors(void **state) {
        (void) state;
        static const char text[] =
                "recent_events: zero\n"                                 /* 1 */
                "colour: blue\n"                                        /* 2 */
                "probes:\n"                                             /* 3 */
                "  - name: connect\n"                                   /* 4 */
                "    type: kprobe\n"                                    /* 5 */
                "    target: __sys_connect_file\n"                      /* 6 */
                "    fetch: [port=+2(%si):u16]\n"                       /* 7 */
                "    metrics: [{name: c, labels: [dport]}]\n"           /* 8 */
                "  - name: connect\n"                                   /* 9 */
                "    type: uprobe\n"                                    /* 10 */
                "    target: bash:0x10\n";                              /* 11 */
        static const struct {
                unsigned line, column;
                const char *what;
        } want[] = {
                { 1, 16, "'recent_events' must be an integer" },
                { 2, 1, "unknown key 'colour'" },
                { 8, 22, "must end in _total" },
                { 8, 34, "label 'dport' is neither a field" },
                { 9, 11, "duplicate probe name 'connect' (first at line 4)" },
                { 11, 13, "invalid uprobe target 'bash:0x10'" },
        };
        ConfigErrors errs = { 0 };
        Config *c = NULL;

        assert_int_equal(config_load_string("many.yaml", text, strlen(text), &c, &errs), -EINVAL);
        assert_null(c);
        if (errs.n != ELEMENTSOF(want))
                config_errors_write(&errs, "many.yaml", text, strlen(text), stderr);
        assert_int_equal(errs.n, ELEMENTSOF(want));
        /* In file order. */
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                assert_int_equal(errs.items[i].line, want[i].line);
                assert_int_equal(errs.items[i].column, want[i].column);
                assert_non_null(strstr(errs.items[i].message, want[i].what));
        }
        config_errors_clear(&errs);
        assert_int_equal(errs.n, 0);
        assert_null(errs.items);
}

static void test_errors_write(void **state) {
        (void) state;
        static const char text[] = "probes:\n  - name: a\n\ttype: x\n  - name: \xc3\xa9t\xc3\xa9: bad\n";
        ConfigErrors errs = { 0 };
        char *out = NULL;
        size_t out_len = 0;
        FILE *f = open_memstream(&out, &out_len);

        assert_non_null(f);
        config_errors_add(&errs, 2, 11, "invalid probe name '%s'", "a");
        config_errors_add(&errs, 3, 7, "tab kept");
        config_errors_add(&errs, 4, 15, "after %d UTF-8 characters", 2);
        config_errors_add(&errs, 0, 0, "cannot read: %s", "No such file or directory");
        config_errors_add(&errs, 9, 1, "beyond the end");
        config_errors_write(&errs, "p.yaml", text, strlen(text), f);
        fclose(f);
        assert_string_equal(out,
                            "p.yaml:2:11: invalid probe name 'a'\n"
                            "      - name: a\n"
                            "              ^\n"
                            "p.yaml:3:7: tab kept\n"
                            "    \ttype: x\n"
                            "    \t     ^\n"
                            "p.yaml:4:15: after 2 UTF-8 characters\n"
                            "      - name: \xc3\xa9t\xc3\xa9: bad\n"
                            "                  ^\n"
                            "p.yaml: cannot read: No such file or directory\n"
                            "p.yaml:9:1: beyond the end\n");
        free(out);

        /* Without the text, only the message lines. */
        f = open_memstream(&out, &out_len);
        config_errors_write(&errs, "p.yaml", NULL, 0, f);
        fclose(f);
        assert_string_equal(out,
                            "p.yaml:2:11: invalid probe name 'a'\n"
                            "p.yaml:3:7: tab kept\n"
                            "p.yaml:4:15: after 2 UTF-8 characters\n"
                            "p.yaml: cannot read: No such file or directory\n"
                            "p.yaml:9:1: beyond the end\n");
        free(out);
        config_errors_clear(&errs);
}

/* What a loader error looks like end to end, CRLF line ends included. */
static void test_errors_write_loaded(void **state) {
        (void) state;
        static const char text[] = "probes:\r\n  - name: a\r\n    type: kprobe\r\n    target: vfs_read\r\n    fetch: [x=$retval]\r\n";
        ConfigErrors errs = { 0 };
        Config *c = NULL;
        char *out = NULL;
        size_t out_len = 0;

        assert_int_equal(config_load_string("c.yaml", text, strlen(text), &c, &errs), -EINVAL);
        FILE *f = open_memstream(&out, &out_len);
        config_errors_write(&errs, "c.yaml", text, strlen(text), f);
        fclose(f);
        assert_string_equal(out,
                            "c.yaml:5:13: fetch arg 'x=$retval': $retval is only available in kretprobe and uretprobe probes\n"
                            "        fetch: [x=$retval]\n"
                            "                ^\n");
        free(out);
        config_errors_clear(&errs);
}

/* The report main.c prints and the reload logs: the source lines come
 * from the file itself. */
static void test_errors_render(void **state) {
        (void) state;
        static const char text[] = "probes:\n  - name: a\n    type: kprobe\n    target: vfs_read\n    fetch: [x=$retval]\n";
        char path[] = "/tmp/test-config-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);

        ConfigErrors errs = { 0 };
        Config *c = NULL;
        assert_int_equal(config_load_file(path, &c, &errs), -EINVAL);
        config_errors_add(&errs, 0, 0, "one more, without a place");
        Buf out = { 0 };
        buf_puts(&out, "kept: ");
        config_errors_render(&errs, path, &out);
        Buf want = { 0 };
        buf_printf(&want,
                   "kept: %s:5:13: fetch arg 'x=$retval': $retval is only available in kretprobe and uretprobe probes\n"
                   "        fetch: [x=$retval]\n"
                   "                ^\n"
                   "%s: one more, without a place\n",
                   path, path);
        assert_string_equal(out.data, want.data);

        /* the file gone: the messages without their lines */
        unlink(path);
        buf_clear(&out);
        config_errors_render(&errs, path, &out);
        buf_clear(&want);
        buf_printf(&want,
                   "%s:5:13: fetch arg 'x=$retval': $retval is only available in kretprobe and uretprobe probes\n"
                   "%s: one more, without a place\n",
                   path, path);
        assert_string_equal(out.data, want.data);

        /* no errors, nothing appended */
        config_errors_clear(&errs);
        buf_clear(&out);
        config_errors_render(&errs, path, &out);
        assert_int_equal(out.len, 0);
        buf_free(&out);
        buf_free(&want);
}

static void test_files(void **state) {
        (void) state;
        ConfigErrors errs = { 0 };
        Config *c = NULL;
        char path[] = "/tmp/test-config-XXXXXX";
        char *text = NULL;
        size_t len = 0;

        assert_int_equal(config_load_file("/nonexistent/probes.yaml", &c, &errs), -ENOENT);
        assert_null(c);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.items[0].message, "cannot read: No such file or directory");
        assert_int_equal(errs.items[0].line, 0);
        config_errors_clear(&errs);

        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, full_example, strlen(full_example)), (ssize_t) strlen(full_example));
        close(fd);

        assert_int_equal(config_read_file(path, &text, &len), 0);
        assert_int_equal(len, strlen(full_example));
        assert_string_equal(text, full_example);
        free(text);

        assert_int_equal(config_load_file(path, &c, &errs), 0);
        assert_string_equal(c->path, path);
        assert_string_equal(c->probes[0].fetch[2], "addr=+4(%si):u32");
        c = config_free(c);
        assert_null(c);

        /* Errors from a file carry positions too. */
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "probes: 5\n", 10), 10);
        close(fd);
        assert_int_equal(config_load_file(path, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_int_equal(errs.items[0].line, 1);
        assert_int_equal(errs.items[0].column, 9);
        config_errors_clear(&errs);
        unlink(path);

        assert_int_equal(config_load_file("/tmp", &c, &errs), -EISDIR);
        config_errors_clear(&errs);
}

/* ---- include: ---- */

static void write_file(const char *dir, const char *name, const char *text) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
        fclose(f);
}

static const char inc_tcp[] =
        "# outbound connects\n"                                                        /* 1 */
        "probes:\n"                                                                    /* 2 */
        "  - name: tcp_connect\n"                                                      /* 3 */
        "    type: tracepoint\n"                                                       /* 4 */
        "    target: sock/inet_sock_set_state\n"                                       /* 5 */
        "    metrics:\n"                                                               /* 6 */
        "      - name: tcp_connect_total\n"                                            /* 7 */
        "        labels: [dport]\n";                                                   /* 8 */

/* A config with include: globs and paths, relative to its directory, in
 * order; their probes after its own, each knowing its file; every error
 * in an included file at that file's line:column; the same name in two
 * files names both places; a missing file is an error at its entry, a
 * glob that matches nothing is not. Twice, as a reload reads them again. */
static void test_include(void **state) {
        (void) state;
        char dir[] = "/tmp/test-config-include-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char sub[600], main_path[600], a_path[600], b_path[600];
        snprintf(sub, sizeof(sub), "%s/probes.d", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        snprintf(main_path, sizeof(main_path), "%s/main.yaml", dir);
        snprintf(a_path, sizeof(a_path), "%s/probes.d/a.yaml", dir);
        snprintf(b_path, sizeof(b_path), "%s/probes.d/b.yaml", dir);
        write_file(dir, "main.yaml",
                   "include:\n"
                   "  - probes.d/*.yaml\n"
                   "  - nothing.d/*.yaml\n"
                   "probes:\n"
                   "  - name: exec\n"
                   "    type: tracepoint\n"
                   "    target: sched/sched_process_exec\n");
        write_file(sub, "a.yaml", inc_tcp);
        write_file(sub, "b.yaml", "# all commented out\n");
        write_file(sub, "notes.txt", "not yaml: [\n");

        for (int round = 0; round < 2; round++) {
                Config *c = NULL;
                ConfigErrors errs = { 0 };
                assert_int_equal(config_load_file(main_path, &c, &errs), 0);
                assert_int_equal(c->n_probes, 2);
                assert_string_equal(c->probes[0].name, "exec");
                assert_null(c->probes[0].file);
                assert_string_equal(c->probes[1].name, "tcp_connect");
                assert_string_equal(c->probes[1].file, a_path);
                assert_int_equal(c->probes[1].line, 3);
                assert_int_equal(c->n_includes, 2);
                assert_string_equal(c->includes[0], a_path);
                assert_string_equal(c->includes[1], b_path);
                config_free(c);
        }

        /* An error in an included file: that file, its line and column. */
        write_file(sub, "b.yaml", "probes:\n  - name: x\n    type: kprobe\n    target: f\n    fetc: []\n");
        Config *c = NULL;
        ConfigErrors errs = { 0 };
        assert_int_equal(config_load_file(main_path, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.items[0].file, b_path);
        assert_int_equal(errs.items[0].line, 5);
        assert_int_equal(errs.items[0].column, 5);
        assert_non_null(strstr(errs.items[0].message, "unknown key 'fetc'"));
        Buf report = { 0 };
        config_errors_render(&errs, main_path, &report);
        char want[800];
        snprintf(want, sizeof(want), "%s:5:5: unknown key 'fetc'", b_path);
        assert_non_null(strstr(report.data, want));
        assert_non_null(strstr(report.data, "\n        fetc: []\n")); /* its source line */
        buf_free(&report);
        config_errors_clear(&errs);

        /* The same probe name and metric in two files: both places. */
        write_file(sub, "b.yaml", inc_tcp);
        assert_int_equal(config_load_file(main_path, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 3); /* the name, the tracepoint, the metric */
        assert_string_equal(errs.items[0].file, b_path);
        snprintf(want, sizeof(want), "duplicate probe name 'tcp_connect' (first at %s:3)", a_path);
        assert_string_equal(errs.items[0].message, want);
        snprintf(want, sizeof(want), "duplicate metric name 'tcp_connect_total' (first at %s:7)", a_path);
        assert_string_equal(errs.items[2].message, want);
        config_errors_clear(&errs);
        /* ... and against the config itself. */
        write_file(sub, "b.yaml", "probes:\n  - name: exec\n    type: tracepoint\n    target: sched/sched_process_exit\n");
        assert_int_equal(config_load_file(main_path, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        snprintf(want, sizeof(want), "duplicate probe name 'exec' (first at %s:5)", main_path);
        assert_string_equal(errs.items[0].message, want);
        config_errors_clear(&errs);

        /* An included file holds probes: only. */
        write_file(sub, "b.yaml", "listen: :1\nprobes: []\n");
        assert_int_equal(config_load_file(main_path, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.items[0].file, b_path);
        assert_int_equal(errs.items[0].line, 1);
        config_errors_clear(&errs);
        snprintf(want, sizeof(want), "%s", b_path);
        unlink(want);

        /* A missing file (not a glob) is an error at its entry. */
        write_file(dir, "main.yaml", "include: [probes.d/a.yaml, missing.yaml]\n");
        assert_int_equal(config_load_file(main_path, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_null(errs.items[0].file);
        assert_int_equal(errs.items[0].line, 1);
        assert_int_equal(errs.items[0].column, 28);
        assert_non_null(strstr(errs.items[0].message, "missing.yaml: No such file or directory"));
        config_errors_clear(&errs);
        /* Only includes, and they have the probes: fine; none at all: not. */
        write_file(dir, "main.yaml", "include: probes.d/a.yaml\n");
        assert_int_equal(config_load_file(main_path, &c, &errs), 0);
        assert_int_equal(c->n_probes, 1);
        config_free(c);
        write_file(dir, "main.yaml", "include: nothing.d/*.yaml\n");
        assert_int_equal(config_load_file(main_path, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_non_null(strstr(errs.items[0].message, "no probes"));
        config_errors_clear(&errs);

        /* include: [] alone has no probes either. */
        write_file(dir, "main.yaml", "include: []\n");
        assert_int_equal(config_load_file(main_path, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_non_null(strstr(errs.items[0].message, "no probes"));
        config_errors_clear(&errs);
        /* The config itself by another spelling, a file named twice, and a
         * directory a glob matches: each read once, or skipped. */
        char subdir[700];
        snprintf(subdir, sizeof(subdir), "%s/dir.yaml", sub);
        assert_int_equal(mkdir(subdir, 0755), 0);
        write_file(dir, "main.yaml",
                   "include: [./main.yaml, probes.d/a.yaml, ./probes.d/a.yaml, probes.d/*.yaml]\n");
        assert_int_equal(config_load_file(main_path, &c, &errs), 0);
        assert_int_equal(c->n_probes, 1);
        assert_int_equal(c->n_includes, 1);
        config_free(c);
        /* A directory named outright is an error at its entry. */
        write_file(dir, "main.yaml", "include: [probes.d/a.yaml, probes.d/dir.yaml]\n");
        assert_int_equal(config_load_file(main_path, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_non_null(strstr(errs.items[0].message, "is not a regular file"));
        config_errors_clear(&errs);
        rmdir(subdir);

        /* From a string there is no directory to read from. */
        const char *text = "include: x.yaml\nprobes: []\n";
        assert_int_equal(config_load_string("s.yaml", text, strlen(text), &c, &errs), -EINVAL);
        assert_non_null(strstr(errs.items[0].message, "only a config loaded from a file"));
        config_errors_clear(&errs);

        unlink(a_path);
        unlink(main_path);
        snprintf(want, sizeof(want), "%s/notes.txt", sub);
        unlink(want);
        rmdir(sub);
        rmdir(dir);
}

static void test_helpers(void **state) {
        (void) state;
        assert_string_equal(probe_type_to_string(PROBE_KPROBE), "kprobe");
        assert_string_equal(probe_type_to_string(PROBE_URETPROBE), "uretprobe");
        assert_string_equal(probe_type_to_string(PROBE_TRACEPOINT), "tracepoint");
        assert_null(probe_type_to_string(_PROBE_TYPE_MAX));
        assert_string_equal(decoder_kind_to_string(DECODER_NTOHS), "ntohs");
        assert_string_equal(decoder_kind_to_string(DECODER_IP), "ip");
        assert_string_equal(decoder_kind_to_string(DECODER_DEVT), "devt");
        assert_string_equal(decoder_kind_to_string(DECODER_MAP), "map");
        assert_null(decoder_kind_to_string(_DECODER_KIND_MAX));

        assert_true(label_is_builtin("comm"));
        assert_true(label_is_builtin("tgid"));
        assert_false(label_is_builtin("port"));
        assert_false(label_is_builtin("Comm"));
        assert_false(label_is_builtin(NULL));

        char name[80];
        memset(name, 'a', sizeof(name));
        name[63] = 0;
        assert_true(name_is_valid(name));
        name[63] = 'a';
        name[64] = 0;
        assert_false(name_is_valid(name));
        assert_true(name_is_valid("_x9"));
        assert_false(name_is_valid("9x"));
        assert_false(name_is_valid(""));
        assert_false(name_is_valid("a.b"));
        assert_false(name_is_valid(NULL));

        assert_true(metric_name_is_valid("connect_total"));
        assert_false(metric_name_is_valid("a:b"));
        assert_false(metric_name_is_valid("0a"));
        assert_false(metric_name_is_valid(""));

        config_free(NULL);
        config_errors_clear(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_example),
                cmocka_unit_test(test_defaults_and_kinds),
                cmocka_unit_test(test_implicit_comm),
                cmocka_unit_test(test_scalars),
                cmocka_unit_test(test_default_tracepoint),
                cmocka_unit_test(test_error_top_level),
                cmocka_unit_test(test_max_label_bytes),
                cmocka_unit_test(test_error_empty),
                cmocka_unit_test(test_error_syntax),
                cmocka_unit_test(test_error_probe_keys),
                cmocka_unit_test(test_error_duplicates),
                cmocka_unit_test(test_error_targets),
                cmocka_unit_test(test_error_fetch),
                cmocka_unit_test(test_uprobe_arg_n),
                cmocka_unit_test(test_error_decode),
                cmocka_unit_test(test_error_metrics),
                cmocka_unit_test(test_many_errors),
                cmocka_unit_test(test_errors_write),
                cmocka_unit_test(test_errors_write_loaded),
                cmocka_unit_test(test_errors_render),
                cmocka_unit_test(test_files),
                cmocka_unit_test(test_include),
                cmocka_unit_test(test_helpers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
