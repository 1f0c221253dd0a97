/* Fuzz target: the daemon's whole pure path. A fixed config with a probe of
 * every kind and every decoder builds a Pipeline; the input, split at '\n',
 * goes through pipeline_process_line() line by line; then /metrics,
 * /probes and /events are rendered, and everything is freed (so
 * LeakSanitizer sees any leak). The outputs are checked: the metrics text
 * is well-formed Prometheus text with no label value over max_label_bytes,
 * the JSON parses (with jansson when the
 * build has it), and every line was counted exactly once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_JANSSON
#include <jansson.h>
#endif

#include "fuzz.h"
#include "pipeline.h"

/* Small recent_events and max_series, so the ring wraps and label sets are
 * refused within one input; a small max_label_bytes (and a smaller one of
 * a metric), so values are cut. */
static const char config_text[] =
        "recent_events: 8\n"
        "max_series: 4\n"
        "max_label_bytes: 24\n"
        "probes:\n"
        "  - name: connect\n"
        "    type: uprobe\n"
        "    target: /usr/bin/connector:0x1139\n"
        "    fetch: [type=+0(%si):u16, port=+2(%si):u16, addr=+4(%si):u32]\n"
        "    decode: {port: ntohs, addr: ipv4, type: {map: {2: AF_INET, 10: AF_INET6}}}\n"
        "    metrics:\n"
        "      - name: connect_total\n"
        "        labels: [comm, addr, port]\n"
        "      - name: connect_by_pid_total\n"
        "        labels: [pid, tgid, cpu, type]\n"
        "  - name: connect_ret\n"
        "    type: kretprobe\n"
        "    target: __sys_connect_file\n"
        "    fetch: [ret=$retval:s32]\n"
        "    decode: {ret: errno}\n"
        "    metrics:\n"
        "      - name: connect_errors_total\n"
        "        labels: [comm, ret]\n"
        "      - name: connect_seconds\n"
        "        type: histogram\n"
        "        latency_from: connect\n"
        "        max_pending: 3\n"
        "        buckets: {exponential: {start: 0.000001, factor: 10, count: 6}}\n"
        "        labels: [ret, addr, port]\n"
        "  - name: v6\n"
        "    type: kprobe\n"
        "    target: tcp_v6_connect\n"
        "    fetch: ['daddr=+8(%si):u8[16]', dport=+2(%si):u16, flow=+4(%si):u32, fd=%di:x32]\n"
        "    decode: {daddr: ipv6, dport: ntohs, flow: ntohl, fd: hex}\n"
        "    metrics:\n"
        "      - name: v6_total\n"
        "        labels: [daddr, dport, flow, fd]\n"
        "  - name: open\n"
        "    type: kprobe\n"
        "    target: do_sys_openat2\n"
        "    fetch: ['path=+0(%si):string', mode=%dx:u16, 'who=+0(%cx):string']\n"
        "    decode: {path: string, mode: {map: {'0x1a4': rw, '420': rw-r--r--}}}\n"
        "    metrics:\n"
        "      - name: opens_total\n"
        "        max_label_bytes: 16\n"
        "        labels: [path, mode, who]\n"
        "  - name: bash_line\n"
        "    type: uretprobe\n"
        "    target: /usr/bin/bash:0xab120\n"
        "    fetch: ['line=+0($retval):string']\n"
        "    metrics:\n"
        "      - name: lines_total\n"
        "        labels: [line]\n"
        "  - name: tcp_connect\n"
        "    type: tracepoint\n"
        "    target: sock/inet_sock_set_state\n"
        "    decode: {family: {map: {AF_INET: v4}}, saddr: ipv4}\n"
        "    metrics:\n"
        "      - name: tcp_connect_total\n"
        "        labels: [comm, family, daddr, dport, daddrv6, nosuchfield]\n"
        "  - name: sys_connect\n"
        "    type: tracepoint\n"
        "    target: syscalls/sys_enter_connect\n"
        "    decode: {addrlen: hex, fd: ntohs}\n"
        "    metrics:\n"
        "      - name: sys_connect_total\n"
        "        labels: [comm, fd, addrlen, tgid]\n"
        "      - name: addrlen_bytes\n"
        "        type: histogram\n"
        "        value: addrlen\n"
        "        buckets: [16, 28, 110]\n"
        "      - name: addrlen_sum_total\n"
        "        value: addrlen\n"
        "        scale: 0.5\n"
        "  - name: sys_connect_ret\n"
        "    type: tracepoint\n"
        "    target: syscalls/sys_exit_connect\n"
        "    decode: {ret: errno}\n"
        "    metrics:\n"
        "      - name: sys_connect_ret_total\n"
        "        labels: [ret, pid]\n"
        "      - name: sys_connect_seconds\n"
        "        type: histogram\n"
        "        latency_from: sys_connect\n"
        "        match: [tid, fd]\n"
        "        labels: [ret, addrlen, comm]\n"
        "  - name: getpid\n"
        "    type: tracepoint\n"
        "    target: syscalls/sys_enter_getpid\n"
        "    metrics:\n"
        "      - name: getpid_total\n"
        "        labels: [comm]\n"
        "  - name: refused\n"
        "    type: kprobe\n"
        "    target: no_such_symbol\n"
        "    fetch: [x=%di]\n"
        "    metrics:\n"
        "      - name: refused_total\n"
        "        labels: [x]\n";

/* Stands in for /proc: knows even pids, not odd ones. */
static bool fake_resolve(void *userdata, int32_t pid, char *comm, size_t size, int32_t *tgid) {
        (void) userdata;
        if (pid % 2)
                return false;
        snprintf(comm, size, "resolved-%d", (int) pid);
        *tgid = pid;
        return true;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF),
 * written apart from util's decoder so it checks it. */
static size_t utf8_valid_len(const unsigned char *s, size_t n) {
        unsigned char c = s[0];
        size_t k;
        uint32_t cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                k = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                k = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                k = 4, cp = c & 0x07;
        else
                return 0;
        if (n < k)
                return 0;
        for (size_t i = 1; i < k; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return k;
}

/* No label value is longer: the config's max_label_bytes, and the daemon's
 * own values (this config's probe and metric names, reasons) are shorter. */
#define LABEL_BYTES_MAX 24

static bool is_name_char(char c, bool first) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
               (!first && c >= '0' && c <= '9');
}

/* One line of Prometheus text format 0.0.4, as we write it: comments, or
 * name{label="value",...} value with \\ \" \n the only escapes. */
static void check_metrics_line(const char *s, size_t n) {
        size_t i = 0;

        if (n >= 7 && (memcmp(s, "# HELP ", 7) == 0 || memcmp(s, "# TYPE ", 7) == 0))
                return;
        fuzz_check(n > 0 && is_name_char(s[0], true));
        while (i < n && is_name_char(s[i], i == 0))
                i++;
        if (i < n && s[i] == '{') {
                i++;
                for (;;) {
                        size_t start = i;
                        while (i < n && is_name_char(s[i], i == start) && s[i] != ':')
                                i++;
                        fuzz_check(i > start && i + 1 < n && s[i] == '=' && s[i + 1] == '"');
                        i += 2;
                        size_t bytes = 0; /* of the value, unescaped */
                        while (i < n && s[i] != '"') {
                                if (s[i] == '\\') {
                                        fuzz_check(i + 1 < n && (s[i + 1] == '\\' || s[i + 1] == '"' || s[i + 1] == 'n'));
                                        i += 2;
                                        bytes++;
                                        continue;
                                }
                                size_t k = utf8_valid_len((const unsigned char *) s + i, n - i);
                                fuzz_check(k > 0);
                                i += k;
                                bytes += k;
                        }
                        fuzz_check(bytes <= LABEL_BYTES_MAX);
                        fuzz_check(i < n);
                        i++;
                        if (i < n && s[i] == ',') {
                                i++;
                                continue;
                        }
                        fuzz_check(i < n && s[i] == '}');
                        i++;
                        break;
                }
        }
        fuzz_check(i < n && s[i] == ' ');
        i++;
        fuzz_check(i < n);
        /* An integer, or a float as expo_put_double() prints one. */
        char value[64];
        fuzz_check(n - i < sizeof(value));
        memcpy(value, s + i, n - i);
        value[n - i] = 0;
        char *end;
        if (strcmp(value, "+Inf") != 0 && strcmp(value, "-Inf") != 0 && strcmp(value, "NaN") != 0) {
                (void) strtod(value, &end);
                fuzz_check(*end == 0 && strspn(value, "0123456789.e+-") == n - i);
        }
}

static void check_metrics(const Buf *b) {
        fuzz_check(b->len > 0 && b->data[b->len - 1] == '\n');
        for (size_t i = 0; i < b->len;) {
                const char *nl = memchr(b->data + i, '\n', b->len - i);
                size_t e = (size_t) (nl - b->data);
                check_metrics_line(b->data + i, e - i);
                i = e + 1;
        }
}

static void check_json(const char *s, size_t n) {
#ifdef HAVE_JANSSON
        json_error_t err;
        json_t *j = json_loadb(s, n, JSON_ALLOW_NUL, &err);
        if (!j)
                fprintf(stderr, "invalid JSON (%s at %d): %.*s\n", err.text, err.position, (int) n, s);
        fuzz_check(j);
        json_decref(j);
#else
        fuzz_check(n >= 2 && s[0] == '{' && s[n - 1] == '}');
#endif
}

static void check_json_lines(const Buf *b) {
        for (size_t i = 0; i < b->len;) {
                const char *nl = memchr(b->data + i, '\n', b->len - i);
                fuzz_check(nl);
                size_t e = (size_t) (nl - b->data);
                check_json(b->data + i, e - i);
                i = e + 1;
        }
}

static Pipeline *pipeline_make(void) {
        ConfigErrors errs = { 0 };
        Config *c = NULL;
        int r = config_load_string("fuzz-pipeline.yaml", config_text, sizeof(config_text) - 1, &c, &errs);
        if (r < 0)
                config_errors_write(&errs, "fuzz-pipeline.yaml", config_text, sizeof(config_text) - 1, stderr);
        fuzz_check(r == 0);
        config_errors_clear(&errs);

        Pipeline *p = NULL;
        fuzz_check(pipeline_new(c, fake_resolve, NULL, &p) == 0);
        /* The kernel refused the last one: its lines match nothing. */
        for (size_t i = 0; i + 1 < p->n_probes; i++)
                pipeline_set_live(p, i, true);
        return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Pipeline *p = pipeline_make();
        uint64_t lines = 0;

        for (size_t i = 0; i <= size;) {
                const uint8_t *nl = size > i ? memchr(data + i, '\n', size - i) : NULL;
                size_t e = nl ? (size_t) (nl - data) : size;
                /* Each line in a block of its own size, as ASan needs to
                 * see a read past its end. */
                size_t n = e - i;
                char *line = xmalloc(n ? n : 1);
                if (n)
                        memcpy(line, data + i, n);
                const Probe *pr = pipeline_process_line(p, line, n);
                fuzz_check(!pr || (pr >= p->probes && pr < p->probes + p->n_probes && pr->live));
                free(line);
                lines++;
                i = e + 1;
        }

        /* Every line is counted once: an event of a probe, a lost-events
         * report, or a parse error. */
        uint64_t events = 0;
        for (size_t i = 0; i < p->n_probes; i++)
                events += p->probes[i].events;
        fuzz_check(p->lines == lines);
        fuzz_check(events + p->lost_reports + p->parse_errors == lines);

        Buf out = { 0 };
        pipeline_render_metrics(p, &(Expo){ .out = &out });
        check_metrics(&out);
        buf_clear(&out);
        Expo om = { .out = &out, .format = EXPO_OPENMETRICS, .has_epoch = true, .epoch_offset_ns = 1 };
        pipeline_render_metrics(p, &om);
        expo_end(&om);
        fuzz_check(out.len >= 6 && memcmp(out.data + out.len - 6, "# EOF\n", 6) == 0);
        fuzz_check(!memmem(out.data, out.len, "\n\n", 2));

        buf_clear(&out);
        pipeline_render_probes(p, NULL, NULL, &out);
        check_json(out.data, out.len);

        static const EventQuery queries[] = {
                { .probe = NULL, .has_since = false, .limit = EVENTS_DEFAULT_LIMIT },
                { .probe = NULL, .has_since = true, .since = 0, .limit = 3 },
                { .probe = "connect", .has_since = true, .since = 5, .limit = EVENTS_MAX_LIMIT },
                { .probe = "tcp_connect", .has_since = false, .limit = 1 },
        };
        for (size_t q = 0; q < ELEMENTSOF(queries); q++) {
                buf_clear(&out);
                fuzz_check(pipeline_render_events(p, &queries[q], &out) == 0);
                check_json(out.data, out.len);
        }
        buf_clear(&out);
        fuzz_check(pipeline_render_events(p, &(EventQuery){ .probe = "nope", .limit = 1 }, &out) == -ENOENT);

        /* A follow stream from the start: one JSON object per line. */
        uint64_t cursor = 0;
        buf_clear(&out);
        size_t k = pipeline_stream_events(p, &(EventQuery){ .limit = EVENTS_MAX_LIMIT }, &cursor, &out);
        fuzz_check(k <= 8 + 1); /* the ring's 8, and one "missed" line */
        check_json_lines(&out);
        cursor = UINT64_MAX;
        fuzz_check(pipeline_stream_events(p, &(EventQuery){ .limit = 1 }, &cursor, &out) == 0);

        buf_free(&out);
        pipeline_free(p);
        return 0;
}
