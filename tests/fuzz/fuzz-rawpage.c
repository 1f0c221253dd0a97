/* Fuzz target: the binary reader's page decoder (rawrec.c) on arbitrary
 * bytes taken as one sub-buffer of trace_pipe_raw, with the real format
 * files of this machine's 6.18 kernel (a uprobe with the seed's fetch args
 * and $comm, inet_sock_set_state, sched_process_exec) so that mutated real
 * pages reach the field readers. Besides crashes and reads outside the
 * page it checks that every record handed over is of a known probe, that
 * its values lie in the decoder's own buffers or in the page, and that the
 * pipeline fed with them renders valid text. The same bytes cut in two
 * pages of two CPUs then go through the merge of CPUs (rawmerge), read one
 * record at a time through their cursors: it hands over exactly what the
 * two pages decoded alone hand over, each CPU's in its own order. Seeds: a
 * real page captured on 6.18 and variants of it. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "pipeline.h"
#include "rawrec.h"

/* Small bounds: the pipeline lives across inputs, and each input renders it. */
static const char config_text[] =
        "recent_events: 64\n"
        "max_series: 64\n"
        "probes:\n"
        "  - name: connect\n"
        "    type: uprobe\n"
        "    target: /work/main/build/tests/connector:0x1259\n"
        "    fetch: [type=+0(%si):u16, port=+2(%si):u16, addr=+4(%si):u32]\n"
        "    decode: {port: ntohs, addr: ipv4}\n"
        "    metrics:\n"
        "      - name: connect_total\n"
        "        labels: [comm, addr, port, type]\n"
        "  - name: tcp\n"
        "    type: tracepoint\n"
        "    target: sock/inet_sock_set_state\n"
        "    metrics:\n"
        "      - name: tcp_total\n"
        "        labels: [daddr, dport, newstate]\n"
        "  - name: exec\n"
        "    type: tracepoint\n"
        "    target: sched/sched_process_exec\n"
        "    metrics:\n"
        "      - name: exec_total\n"
        "        labels: [filename, pid]\n";

static const char format_connect[] =
        "name: connect\n"
        "ID: 2327\n"
        "format:\n"
        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
        "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
        "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
        "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
        "\n"
        "\tfield:unsigned long __probe_ip;\toffset:8;\tsize:8;\tsigned:0;\n"
        "\tfield:u16 type;\toffset:16;\tsize:2;\tsigned:0;\n"
        "\tfield:u16 port;\toffset:18;\tsize:2;\tsigned:0;\n"
        "\tfield:u32 addr;\toffset:20;\tsize:4;\tsigned:0;\n"
        "\tfield:__data_loc char[] comm;\toffset:24;\tsize:4;\tsigned:1;\n"
        "\n"
        "print fmt: \"(%lx) type=%u port=%u addr=%u comm=\\\"%s\\\"\", REC->__probe_ip, REC->type, REC->port, REC->addr, __get_str(comm)\n"
        "\n";
static const char format_tcp[] =
        "name: inet_sock_set_state\n"
        "ID: 2287\n"
        "format:\n"
        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
        "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
        "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
        "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
        "\n"
        "\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;\n"
        "\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;\n"
        "\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;\n"
        "\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;\n"
        "\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;\n"
        "\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;\n"
        "\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;\n"
        "\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;\n"
        "\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;\n"
        "\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;\n"
        "\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;\n"
        "\n"
        "print fmt: \"family=%s protocol=%s sport=%hu dport=%hu saddr=%pI4 daddr=%pI4 saddrv6=%pI6c daddrv6=%pI6c oldstate=%s newstate=%s\", __print_symbolic(REC->family, { 2, \"AF_INET\" }, { 10, \"AF_INET6\" }), __print_symbolic(REC->protocol, { 6, \"IPPROTO_TCP\" }, { 132, \"IPPROTO_SCTP\" }, { 262, \"IPPROTO_MPTCP\" }), REC->sport, REC->dport, REC->saddr, REC->daddr, REC->saddr_v6, REC->daddr_v6, __print_symbolic(REC->oldstate, { 1, \"TCP_ESTABLISHED\" }, { 2, \"TCP_SYN_SENT\" }, { 3, \"TCP_SYN_RECV\" }, { 4, \"TCP_FIN_WAIT1\" }, { 5, \"TCP_FIN_WAIT2\" }, { 6, \"TCP_TIME_WAIT\" }, { 7, \"TCP_CLOSE\" }, { 8, \"TCP_CLOSE_WAIT\" }, { 9, \"TCP_LAST_ACK\" }, { 10, \"TCP_LISTEN\" }, { 11, \"TCP_CLOSING\" }, { 12, \"TCP_NEW_SYN_RECV\" }), __print_symbolic(REC->newstate, { 1, \"TCP_ESTABLISHED\" }, { 2, \"TCP_SYN_SENT\" }, { 3, \"TCP_SYN_RECV\" }, { 4, \"TCP_FIN_WAIT1\" }, { 5, \"TCP_FIN_WAIT2\" }, { 6, \"TCP_TIME_WAIT\" }, { 7, \"TCP_CLOSE\" }, { 8, \"TCP_CLOSE_WAIT\" }, { 9, \"TCP_LAST_ACK\" }, { 10, \"TCP_LISTEN\" }, { 11, \"TCP_CLOSING\" }, { 12, \"TCP_NEW_SYN_RECV\" })\n"
        "\n";
static const char format_exec[] =
        "name: sched_process_exec\n"
        "ID: 365\n"
        "format:\n"
        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
        "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
        "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
        "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
        "\n"
        "\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n"
        "\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n"
        "\tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;\n"
        "\n"
        "print fmt: \"filename=%s pid=%d old_pid=%d\", __get_str(filename), REC->pid, REC->old_pid\n"
        "\n";

typedef struct Ctx {
        Pipeline *p;
        const uint8_t *page;
        size_t size;
        size_t records;
} Ctx;

static void on_record(void *userdata, const Record *rec) {
        Ctx *c = userdata;
        fuzz_check(rec->probe < 3);
        fuzz_check(rec->malformed || rec->n_fields <= PIPELINE_MAX_FIELDS);
        for (size_t i = 0; !rec->malformed && i < rec->n_fields; i++) {
                fuzz_check(rec->names[i].n > 0 || rec->names[i].p);
                /* read at least once: ASan sees a value outside every buffer */
                volatile char sink = 0;
                for (size_t k = 0; k < rec->values[i].n; k++)
                        sink ^= rec->values[i].p[k];
                (void) sink;
        }
        c->records++;
        pipeline_process_record(c->p, rec);
}

static void on_lost(void *userdata, int cpu, uint64_t n, bool counted) {
        (void) userdata;
        fuzz_check(cpu == 1);
        fuzz_check(counted || n == 0);
}

/* The merge's reads: slot i returns its half of the input once. */
typedef struct Halves {
        const uint8_t *p[2];
        size_t n[2];
        bool read[2];
} Halves;

static ssize_t halves_read(void *userdata, size_t i, void *buf, size_t size) {
        Halves *h = userdata;
        if (h->read[i] || h->n[i] == 0)
                return 0;
        h->read[i] = true;
        fuzz_check(h->n[i] <= size);
        memcpy(buf, h->p[i], h->n[i]);
        return (ssize_t) h->n[i];
}

typedef struct Merged {
        size_t records[2];
        size_t lost;
} Merged;

static void merged_record(void *userdata, const Record *rec) {
        Merged *m = userdata;
        fuzz_check(rec->cpu == 0 || rec->cpu == 1);
        fuzz_check(rec->probe < 3);
        m->records[rec->cpu]++;
}

static void merged_lost(void *userdata, int cpu, uint64_t n, bool counted) {
        Merged *m = userdata;
        fuzz_check(cpu == 0 || cpu == 1);
        fuzz_check(counted || n == 0);
        m->lost++;
}

static void counted_record(void *userdata, const Record *rec) {
        (void) rec;
        (*(size_t *) userdata)++;
}

static void merge_halves(RawDecoder *d, const uint8_t *data, size_t size) {
        size_t half = size / 2;
        Halves h = { .p = { data, data + half }, .n = { half, size - half } };
        /* what each page hands over alone */
        size_t alone[2] = { 0, 0 };
        uint64_t unknown = 0;
        for (int i = 0; i < 2; i++) {
                RawSink s = { .userdata = &alone[i], .record = counted_record };
                if (rawdec_page(d, h.p[i], h.n[i], i, &s, &unknown) < 0)
                        alone[i] = 0;
        }
        unsigned cpus[2] = { 0, 1 };
        RawMerge *m = rawmerge_new(2, cpus, size - half > 0 ? size - half : 1);
        rawmerge_set_open(m, 0, true);
        rawmerge_set_open(m, 1, true);
        Merged got = { 0 };
        RawSink sink = { .userdata = &got, .record = merged_record, .lost = merged_lost };
        RawMergeIO io = { .userdata = &h, .read = halves_read };
        RawPass p;
        fuzz_check(rawmerge_pass(m, d, &io, 4, &sink, &unknown, &p) == 0);
        fuzz_check(!p.stopped && !rawmerge_holds(m));
        fuzz_check(got.records[0] == alone[0] && got.records[1] == alone[1]);
        fuzz_check(p.handed == alone[0] + alone[1]);
        rawmerge_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Pipeline *p;
        static RawDecoder *d;
        if (!p) {
                Config *c = NULL;
                ConfigErrors errs = { 0 };
                fuzz_check(config_load_string("fuzz.yaml", config_text, sizeof(config_text) - 1, &c, &errs) == 0);
                fuzz_check(pipeline_new(c, NULL, NULL, &p) == 0);
                d = rawdec_new();
                const char *formats[] = { format_connect, format_tcp, format_exec };
                for (uint32_t i = 0; i < 3; i++) {
                        char *why = NULL;
                        fuzz_check(rawdec_add_probe(d, i, &p->config->probes[i], formats[i], &why) == 0);
                        pipeline_set_live(p, i, true);
                }
        }
        Ctx ctx = { .p = p, .page = data, .size = size };
        RawSink sink = { .userdata = &ctx, .record = on_record, .lost = on_lost };
        uint64_t unknown = 0;
        int n = rawdec_page(d, data, size, 1, &sink, &unknown);
        fuzz_check(n == -EBADMSG || (n >= 0 && (size_t) n == ctx.records));
        fuzz_check(n != -EBADMSG || ctx.records == 0);
        merge_halves(d, data, size);

        Buf out = { 0 };
        pipeline_render_metrics(p, &(Expo){ .out = &out });
        fuzz_check(out.data && strlen(out.data) == out.len);
        buf_clear(&out);
        EventQuery q = { .limit = 100 };
        fuzz_check(pipeline_render_events(p, &q, &out) == 0);
        fuzz_check(out.data && out.data[0] == '{');
        buf_free(&out);
        return 0;
}
