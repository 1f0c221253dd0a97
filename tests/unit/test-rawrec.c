/* The binary reader's decoding, on a real page of trace_pipe_raw captured
 * on this machine's 6.18 kernel (tests/unit/data/raw-*): 13 records of
 * CPU 0, among them two calls of the seed's uprobe, a refused TCP
 * connect's two inet_sock_set_state records, and nine execs, one of a
 * program whose file name holds a newline followed by "pid=1 old_pid=2" --
 * the forgery the text reader cannot frame. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "fixture.h"
#include "pipeline.h"
#include "rawrec.h"

static const char config_text[] =
        "probes:\n"
        "  - name: connect\n"
        "    type: uprobe\n"
        "    target: /work/main/build/tests/connector:0x1259\n"
        "    fetch: [type=+0(%si):u16, port=+2(%si):u16, addr=+4(%si):u32]\n"
        "    decode: {port: ntohs, addr: ipv4, type: {map: {2: AF_INET}}}\n"
        "    metrics:\n"
        "      - name: connect_total\n"
        "        labels: [comm, addr, port, type]\n"
        "  - name: tcp\n"
        "    type: tracepoint\n"
        "    target: sock/inet_sock_set_state\n"
        "    metrics:\n"
        "      - name: tcp_total\n"
        "        labels: [daddr, dport, newstate, family]\n"
        "  - name: exec\n"
        "    type: tracepoint\n"
        "    target: sched/sched_process_exec\n"
        "    metrics:\n"
        "      - name: exec_total\n"
        "        labels: [filename, pid, old_pid]\n";

typedef struct Capture {
        Pipeline *p;
        size_t records, lost;
        Record last[8];
        char filename[256];
        int32_t exec_pid, exec_field_pid;
} Capture;

static void on_record(void *userdata, const Record *rec) {
        Capture *c = userdata;
        bool ours = false;
        for (size_t i = 0; rec->probe == 2 && i < rec->n_fields; i++)
                ours |= sv_eq_str(rec->names[i], "filename") && memmem(rec->values[i].p, rec->values[i].n, "kpe cap", 7);
        if (ours) {
                for (size_t i = 0; i < rec->n_fields; i++) {
                        if (sv_eq_str(rec->names[i], "filename"))
                                snprintf(c->filename, sizeof(c->filename), "%.*s", (int) rec->values[i].n,
                                         rec->values[i].p);
                        if (sv_eq_str(rec->names[i], "pid")) {
                                int64_t v;
                                assert_int_equal(parse_i64(rec->values[i], &v), 0);
                                c->exec_field_pid = (int32_t) v;
                        }
                }
                c->exec_pid = rec->pid;
        }
        c->records++;
        pipeline_process_record(c->p, rec);
}

static void on_lost(void *userdata, int cpu, uint64_t n, bool counted) {
        Capture *c = userdata;
        c->lost += counted ? n : 1;
}

static RawDecoder *decoder_with(Pipeline *p, bool tep_only) {
        RawDecoder *d = rawdec_new();
        rawdec_set_tep_only(d, tep_only);
        static const char *formats[] = { "raw-format-uprobe-connect-6.18.txt", "raw-format-inet_sock_set_state-6.18.txt",
                                         "raw-format-sched_process_exec-6.18.txt" };
        for (uint32_t i = 0; i < 3; i++) {
                char *f = fixture_text(formats[i]), *err = NULL;
                int r = rawdec_add_probe(d, i, &p->config->probes[i], f, &err);
                if (r < 0)
                        fail_msg("%s", err);
                free(f);
                pipeline_set_live(p, i, true);
        }
        return d;
}

static RawDecoder *decoder_for(Pipeline *p) {
        return decoder_with(p, false);
}

static Pipeline *make(void) {
        Config *c = NULL;
        ConfigErrors errs = { 0 };
        int r = config_load_string("raw.yaml", config_text, sizeof(config_text) - 1, &c, &errs);
        if (r < 0)
                config_errors_write(&errs, "raw.yaml", config_text, sizeof(config_text) - 1, stderr);
        assert_int_equal(r, 0);
        Pipeline *p = NULL;
        assert_int_equal(pipeline_new(c, NULL, NULL, &p), 0);
        return p;
}

static void *page_fixture(size_t *len) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/raw-page-6.18.bin", KPE_TEST_DATA);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        void *page = xmalloc(65536);
        *len = fread(page, 1, 65536, f);
        fclose(f);
        assert_int_equal(*len, 4096);
        return page;
}

static void test_header_page(void **state) {
        (void) state;
        char *t = fixture_text("raw-header_page-6.18.txt");
        size_t size = 0;
        assert_int_equal(rawdec_parse_header_page(t, &size), 0);
        assert_int_equal(size, 4096);
        free(t);
        assert_int_equal(rawdec_parse_header_page("field: u64 timestamp;", &size), -EBADMSG);
}

static void test_real_page(void **state) {
        (void) state;
        Pipeline *p = make();
        RawDecoder *d = decoder_for(p);
        size_t len;
        void *page = page_fixture(&len);
        Capture c = { .p = p };
        RawSink sink = { .userdata = &c, .record = on_record, .lost = on_lost };
        uint64_t unknown = 0;
        int n = rawdec_page(d, page, len, 0, &sink, &unknown);
        assert_int_equal(n, 13);
        assert_int_equal(unknown, 0);
        assert_int_equal(c.lost, 0);
        assert_int_equal(p->parse_errors, 0);

        /* The seed's values, read at the format's offsets: 6400 -> 25,
         * 16777343 -> 127.0.0.1, comm from the record's $comm. */
        const StrView seed[] = { SV("connector"), SV("127.0.0.1"), SV("25"), SV("AF_INET") };
        assert_int_equal(family_get(p->probes[0].metrics[0].family, seed), 2);
        const StrView syn[] = { SV("127.0.0.1"), SV("1"), SV("TCP_SYN_SENT"), SV("AF_INET") };
        const StrView close[] = { SV("127.0.0.1"), SV("1"), SV("TCP_CLOSE"), SV("AF_INET") };
        assert_int_equal(family_get(p->probes[1].metrics[0].family, syn), 1);
        assert_int_equal(family_get(p->probes[1].metrics[0].family, close), 1);

        /* The hostile file name is one field, intact; pid is the real one. */
        assert_string_equal(c.filename, "/tmp/kpe cap/a\npid=1 old_pid=2");
        assert_int_equal(c.exec_field_pid, c.exec_pid);
        assert_int_equal(c.exec_pid, 8336);
        assert_int_equal(p->probes[2].events, 9);
        const StrView mkdir_labels[] = { SV("/usr/bin/mkdir"), SV("8327"), SV("8327") };
        assert_int_equal(family_get(p->probes[2].metrics[0].family, mkdir_labels), 1);

        /* Time from the page's timestamp plus the deltas, in ns. */
        RingEventView ev;
        assert_true(ring_get(p->ring, 1, &ev));
        assert_true(ev.timestamp.n > 10 && ev.timestamp.p[ev.timestamp.n - 10] == '.');
        uint64_t sec;
        assert_int_equal(parse_u64((StrView){ ev.timestamp.p, ev.timestamp.n - 10 }, &sec), 0);
        assert_true(sec > 1000 && sec < 10000); /* the capture was taken about 1,900 s after boot */

        /* /events shows the values as trace_pipe would, the string escaped. */
        Buf out = { 0 };
        EventQuery q = { .has_since = true, .since = 0, .limit = 100 };
        assert_int_equal(pipeline_render_events(p, &q, &out), 0);
        assert_non_null(strstr(out.data, "\"type\":\"AF_INET\",\"port\":\"25\",\"addr\":\"127.0.0.1\""));
        assert_non_null(strstr(out.data, "\"saddr\":\"127.0.0.1\",\"daddr\":\"127.0.0.1\""));
        assert_non_null(strstr(out.data, "\"filename\":\"/tmp/kpe cap/a\\npid=1 old_pid=2\""));
        buf_free(&out);

        free(page);
        rawdec_free(d);
        pipeline_free(p);
}

/* Pages that are not ring-buffer pages hand over nothing. */
static void test_bad_pages(void **state) {
        (void) state;
        Pipeline *p = make();
        RawDecoder *d = decoder_for(p);
        size_t len;
        unsigned char *page = page_fixture(&len);
        Capture c = { .p = p };
        RawSink sink = { .userdata = &c, .record = on_record, .lost = on_lost };
        uint64_t unknown = 0;
        assert_int_equal(rawdec_page(d, page, 10, 0, &sink, &unknown), -EBADMSG);
        unsigned long commit = 5000; /* more than the page holds */
        memcpy(page + 8, &commit, sizeof(commit));
        assert_int_equal(rawdec_page(d, page, len, 0, &sink, &unknown), -EBADMSG);
        assert_int_equal(c.records, 0);
        /* A page cut short (its commit says more than was read) is refused
         * whole, never read past its end. */
        free(page);
        page = page_fixture(&len);
        assert_true(rawdec_page(d, page, 100, 0, &sink, &unknown) == -EBADMSG);
        free(page);
        rawdec_free(d);
        pipeline_free(p);
}

static void test_hostile_fields(void **state) {
        (void) state;
        Pipeline *p = make();
        char f[256];
        assert_false(probe_has_hostile_string(&p->config->probes[0], NULL, f, sizeof(f))); /* comm=$comm is ours */
        char *tcp = fixture_text("raw-format-inet_sock_set_state-6.18.txt");
        char *exec = fixture_text("raw-format-sched_process_exec-6.18.txt");
        assert_false(probe_has_hostile_string(&p->config->probes[1], tcp, f, sizeof(f)));
        assert_true(probe_has_hostile_string(&p->config->probes[2], exec, f, sizeof(f)));
        assert_string_equal(f, "filename");
        assert_true(probe_has_hostile_string(&p->config->probes[1], NULL, f, sizeof(f))); /* unknown format */
        free(tcp);
        free(exec);
        pipeline_free(p);

        Config *c = NULL;
        ConfigErrors errs = { 0 };
        const char *text = "probes:\n  - name: s\n    type: uprobe\n    target: /bin/true:0x10\n"
                           "    fetch: [path=+0(%di):ustring, n=%si:u32]\n";
        assert_int_equal(config_load_string("s.yaml", text, strlen(text), &c, &errs), 0);
        assert_true(probe_has_hostile_string(&c->probes[0], NULL, f, sizeof(f)));
        assert_string_equal(f, "path");
        config_free(c);
}

/* Every record of the page: what the direct renderer makes of it equals
 * what libtraceevent's print fmt interpreter prints, field by field. */
typedef struct Collected {
        char text[64][1024];
        size_t n;
} Collected;

static void collect(void *userdata, const Record *rec) {
        Collected *c = userdata;
        Buf b = { 0 };
        buf_printf(&b, "%u %d:", rec->probe, rec->pid);
        for (size_t i = 0; i < rec->n_fields; i++)
                buf_printf(&b, " %.*s=[%.*s]", (int) rec->names[i].n, rec->names[i].p, (int) rec->values[i].n,
                           rec->values[i].p);
        snprintf(c->text[c->n++], sizeof(c->text[0]), "%s", b.data);
        buf_free(&b);
}

static void test_direct_equals_tep(void **state) {
        (void) state;
        Pipeline *p = make();
        RawDecoder *direct = decoder_with(p, false), *tep = decoder_with(p, true);
        assert_true(rawdec_probe_is_direct(direct, 0));
        assert_true(rawdec_probe_is_direct(direct, 1)); /* inet_sock_set_state: symbols, %hu, %pI4, %pI6c */
        assert_true(rawdec_probe_is_direct(direct, 2)); /* sched_process_exec: __get_str */
        assert_false(rawdec_probe_is_direct(tep, 1));
        size_t len;
        void *page = page_fixture(&len);
        static Collected a, b;
        RawSink sa = { .userdata = &a, .record = collect }, sb = { .userdata = &b, .record = collect };
        uint64_t unknown = 0;
        assert_int_equal(rawdec_page(direct, page, len, 0, &sa, &unknown), 13);
        assert_int_equal(rawdec_page(tep, page, len, 0, &sb, &unknown), 13);
        for (size_t i = 0; i < a.n; i++)
                assert_string_equal(a.text[i], b.text[i]);
        assert_non_null(strstr(a.text[8], "saddrv6=[::ffff:127.0.0.1]"));
        free(page);
        rawdec_free(direct);
        rawdec_free(tep);
        pipeline_free(p);
}

/* ---- the CPUs merged by time ---- */

/* Crafted pages of the ring buffer, as the kernel writes them: a header
 * (the page's time, the commit word), then records of the connect probe
 * (ID 2327 in its format file), each a 32-bit word of type_len (its length
 * in words) and a time delta (27 bits), and time extends for longer deltas. */
typedef struct Page {
        unsigned char data[4096];
        size_t len;
        uint64_t last;
} Page;

static void page_start(Page *pg, uint64_t ts) {
        memset(pg, 0, sizeof(*pg));
        memcpy(pg->data, &ts, 8);
        pg->len = 8 + sizeof(long);
        pg->last = ts;
}

static void put32(Page *pg, uint32_t v) {
        assert_true(pg->len + 4 <= sizeof(pg->data));
        memcpy(pg->data + pg->len, &v, 4);
        pg->len += 4;
}

/* A record of probe 0 at time ts whose port field is `port` (the tests'
 * sequence number), of pid. */
static void page_add(Page *pg, uint64_t ts, uint16_t port, int32_t pid) {
        assert_true(ts >= pg->last);
        uint64_t delta = ts - pg->last;
        if (delta >= (1u << 27)) {
                put32(pg, 30u | (uint32_t) ((delta & ((1u << 27) - 1)) << 5)); /* time extend */
                put32(pg, (uint32_t) (delta >> 27));
                delta = 0;
        }
        pg->last = ts;
        unsigned char rec[40] = { 0 };
        uint16_t type = 2327, family = 2;
        uint64_t ip = 0x559f95304220;
        uint32_t addr = 16777343, loc = 28u | (10u << 16);
        memcpy(rec, &type, 2);
        memcpy(rec + 4, &pid, 4);
        memcpy(rec + 8, &ip, 8);
        memcpy(rec + 16, &family, 2);
        memcpy(rec + 18, &port, 2);
        memcpy(rec + 20, &addr, 4);
        memcpy(rec + 24, &loc, 4);
        memcpy(rec + 28, "connector", 10);
        put32(pg, 10u | (uint32_t) (delta << 5)); /* 10 words of data */
        assert_true(pg->len + sizeof(rec) <= sizeof(pg->data));
        memcpy(pg->data + pg->len, rec, sizeof(rec));
        pg->len += sizeof(rec);
}

/* Ends the page; with missed > 0 it says the kernel lost that many events
 * before it (the count stored after the data). */
static void page_end(Page *pg, unsigned long missed) {
        unsigned long commit = pg->len - 8 - sizeof(long);
        if (missed) {
                memcpy(pg->data + pg->len, &missed, sizeof(missed));
                commit |= (1ul << 31) | (1ul << 30);
        }
        memcpy(pg->data + 8, &commit, sizeof(commit));
        pg->len = sizeof(pg->data); /* a read returns the whole sub-buffer */
}

/* What a fake trace_pipe_raw of each CPU returns, read by read: a page, or
 * "empty now" (NULL), then empty for ever. */
#define MAX_READS 16
typedef struct FakeCpu {
        const Page *reads[MAX_READS];
        size_t n, next;
        size_t polls, reads_done;
} FakeCpu;

typedef struct Fake {
        FakeCpu cpu[4];
        int fail_cpu; /* a read of this slot fails with EIO (-1: none) */
} Fake;

static ssize_t fake_read(void *userdata, size_t i, void *buf, size_t size) {
        Fake *f = userdata;
        if ((int) i == f->fail_cpu)
                return -EIO;
        FakeCpu *c = &f->cpu[i];
        c->reads_done++;
        if (c->next >= c->n)
                return 0;
        const Page *pg = c->reads[c->next++];
        if (!pg)
                return 0;
        assert_true(pg->len <= size);
        memcpy(buf, pg->data, pg->len);
        return (ssize_t) pg->len;
}

/* "Empty now" is the answer to the next read or poll. */
static int fake_poll(void *userdata, const size_t *idx, bool *ready, size_t n) {
        Fake *f = userdata;
        for (size_t k = 0; k < n; k++) {
                FakeCpu *c = &f->cpu[idx[k]];
                c->polls++;
                ready[k] = (int) idx[k] == f->fail_cpu || (c->next < c->n && c->reads[c->next]);
                if (c->next < c->n && !c->reads[c->next])
                        c->next++;
        }
        return 0;
}

typedef struct Handed {
        size_t n, lost;
        int cpu[256];
        uint64_t ts[256];
        unsigned port[256];
} Handed;

static void on_handed(void *userdata, const Record *rec) {
        Handed *h = userdata;
        assert_true(h->n < 256);
        assert_int_equal(rec->probe, 0);
        assert_false(rec->malformed);
        h->cpu[h->n] = rec->cpu;
        /* the text time says the same as ts_ns */
        uint64_t sec;
        assert_true(rec->timestamp.n > 10);
        assert_int_equal(parse_u64((StrView){ rec->timestamp.p, rec->timestamp.n - 10 }, &sec), 0);
        assert_int_equal(sec, rec->ts_ns / 1000000000u);
        h->ts[h->n] = rec->ts_ns;
        for (size_t i = 0; i < rec->n_fields; i++)
                if (sv_eq_str(rec->names[i], "port")) {
                        uint64_t v;
                        assert_int_equal(parse_u64(rec->values[i], &v), 0);
                        h->port[h->n] = (unsigned) v;
                }
        h->n++;
}

static void on_handed_lost(void *userdata, int cpu, uint64_t n, bool counted) {
        Handed *h = userdata;
        assert_true(counted);
        h->lost += n;
}

/* Records in time order, equal times by CPU; each CPU's in its own order
 * (the ports of a CPU's records rise). */
static void assert_merged(const Handed *h) {
        for (size_t i = 1; i < h->n; i++) {
                if (h->ts[i] < h->ts[i - 1] || (h->ts[i] == h->ts[i - 1] && h->cpu[i] < h->cpu[i - 1]))
                        fail_msg("record %zu (cpu %d, ts %llu, port %u) after cpu %d, ts %llu", i, h->cpu[i],
                                 (unsigned long long) h->ts[i], h->port[i], h->cpu[i - 1],
                                 (unsigned long long) h->ts[i - 1]);
                for (size_t j = 0; j < i; j++)
                        if (h->cpu[j] == h->cpu[i])
                                assert_true(h->port[j] < h->port[i]);
        }
}

typedef struct MergeFixture {
        Pipeline *p;
        RawDecoder *d;
        RawMerge *m;
        Fake fake;
        RawMergeIO io;
        Handed h;
        RawSink sink;
        uint64_t unknown;
} MergeFixture;

static MergeFixture *merge_fixture(size_t n_cpus) {
        MergeFixture *f = xcalloc(1, sizeof(MergeFixture));
        f->p = make();
        f->d = decoder_for(f->p);
        unsigned cpus[4] = { 0, 1, 2, 3 };
        f->m = rawmerge_new(n_cpus, cpus, 4096);
        for (size_t i = 0; i < n_cpus; i++)
                rawmerge_set_open(f->m, i, true);
        f->fake.fail_cpu = -1;
        f->io = (RawMergeIO){ .userdata = &f->fake, .read = fake_read, .poll = fake_poll };
        f->sink = (RawSink){ .userdata = &f->h, .record = on_handed, .lost = on_handed_lost };
        return f;
}

static void merge_fixture_free(MergeFixture *f) {
        rawmerge_free(f->m);
        rawdec_free(f->d);
        pipeline_free(f->p);
        free(f);
}

static void queue(MergeFixture *f, size_t cpu, const Page *pg) {
        FakeCpu *c = &f->fake.cpu[cpu];
        assert_true(c->n < MAX_READS);
        c->reads[c->n++] = pg;
}

static RawPass run(MergeFixture *f, unsigned budget) {
        RawPass p;
        assert_int_equal(rawmerge_pass(f->m, f->d, &f->io, budget, &f->sink, &f->unknown, &p), 0);
        return p;
}

/* A cursor walks a page record by record: peek, emit one, emit up to a
 * time; rawdec_page() is load and emit all. */
/* ---- tracepoints whose print fmt names no fields ---- */

#define COMMON_FIELDS "format:\n" \
        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n" \
        "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n" \
        "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n" \
        "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n"
/* Debian 12's 6.1: block_rq_issue prints by position. */
static const char block_format[] =
        "name: block_rq_issue\nID: 1190\n" COMMON_FIELDS
        "\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;\n"
        "\tfield:sector_t sector;\toffset:16;\tsize:8;\tsigned:0;\n"
        "\tfield:unsigned int nr_sector;\toffset:24;\tsize:4;\tsigned:0;\n"
        "\tfield:unsigned int bytes;\toffset:28;\tsize:4;\tsigned:0;\n"
        "\tfield:char rwbs[8];\toffset:32;\tsize:8;\tsigned:1;\n"
        "\tfield:char comm[16];\toffset:40;\tsize:16;\tsigned:1;\n"
        "\tfield:__data_loc char[] cmd;\toffset:56;\tsize:4;\tsigned:1;\n\n"
        "print fmt: \"%d,%d %s %u (%s) %llu + %u [%s]\", ((unsigned int) ((REC->dev) >> 20)), "
        "((unsigned int) ((REC->dev) & ((1U << 20) - 1))), REC->rwbs, REC->bytes, __get_str(cmd), "
        "(unsigned long long)REC->sector, REC->nr_sector, REC->comm\n";
/* oom/mark_victim (6.8+, and Debian's backports): keys that are no names
 * ("total-vm=", "file-rss:") after its comm string. */
static const char victim_format[] =
        "name: mark_victim\nID: 506\n" COMMON_FIELDS
        "\tfield:int pid;\toffset:8;\tsize:4;\tsigned:1;\n"
        "\tfield:__data_loc char[] comm;\toffset:12;\tsize:4;\tsigned:1;\n"
        "\tfield:unsigned long total_vm;\toffset:16;\tsize:8;\tsigned:0;\n"
        "\tfield:unsigned long anon_rss;\toffset:24;\tsize:8;\tsigned:0;\n"
        "\tfield:unsigned long file_rss;\toffset:32;\tsize:8;\tsigned:0;\n"
        "\tfield:unsigned long shmem_rss;\toffset:40;\tsize:8;\tsigned:0;\n"
        "\tfield:uid_t uid;\toffset:48;\tsize:4;\tsigned:0;\n"
        "\tfield:unsigned long pgtables;\toffset:56;\tsize:8;\tsigned:0;\n"
        "\tfield:short oom_score_adj;\toffset:64;\tsize:2;\tsigned:1;\n\n"
        "print fmt: \"pid=%d comm=%s total-vm=%lukB anon-rss=%lukB file-rss:%lukB shmem-rss:%lukB uid=%u "
        "pgtables=%lukB oom_score_adj=%hd\", REC->pid, __get_str(comm), REC->total_vm, REC->anon_rss, "
        "REC->file_rss, REC->shmem_rss, REC->uid, REC->pgtables, REC->oom_score_adj\n";

typedef struct Fields {
        char text[1024];
        size_t n;
} Fields;

static void on_fields(void *userdata, const Record *rec) {
        Fields *f = userdata;
        f->n++;
        size_t at = strlen(f->text);
        for (size_t i = 0; i < rec->n_fields && at < sizeof(f->text); i++)
                at += (size_t) snprintf(f->text + at, sizeof(f->text) - at, "%s%.*s=%.*s", i ? " " : "",
                                        (int) rec->names[i].n, rec->names[i].p, (int) rec->values[i].n,
                                        rec->values[i].p);
}

/* One record of n bytes on a page of its own, given to the decoder. */
static void decode_one(RawDecoder *d, const unsigned char *rec, size_t n, Fields *f) {
        Page pg;
        page_start(&pg, 1000);
        put32(&pg, (uint32_t) (n / 4));
        memcpy(pg.data + pg.len, rec, n);
        pg.len += n;
        page_end(&pg, 0);
        memset(f, 0, sizeof(*f));
        uint64_t unknown = 0;
        assert_int_equal(rawdec_page(d, pg.data, pg.len, 0, &(RawSink){ f, on_fields, NULL }, &unknown), 1);
        assert_int_equal(unknown, 0);
}

/* Each field by its name, from the record's bytes: a positional print fmt
 * has no names to split its text by, and mark_victim's comm would run into
 * "total-vm=..." (a hostile comm could then forge the fields after it). */
static void test_fields_by_name(void **state) {
        (void) state;
        static const char text[] = "probes:\n"
                                   "  - {name: issue, type: tracepoint, target: block/block_rq_issue}\n"
                                   "  - {name: victim, type: tracepoint, target: oom/mark_victim}\n";
        Config *c = NULL;
        ConfigErrors errs = { 0 };
        assert_int_equal(config_load_string("t.yaml", text, sizeof(text) - 1, &c, &errs), 0);
        RawDecoder *d = rawdec_new();
        char *err = NULL;
        assert_int_equal(rawdec_add_probe(d, 0, &c->probes[0], block_format, &err), 0);
        assert_int_equal(rawdec_add_probe(d, 1, &c->probes[1], victim_format, &err), 0);
        assert_true(rawdec_probe_is_direct(d, 0));
        assert_true(rawdec_probe_is_direct(d, 1));
        /* A print fmt that names its values after a leading text keeps
         * them as the kernel prints them (flag names, not numbers). */
        static const char writeback_format[] =
                "name: writeback_dirty_inode_start\nID: 700\n" COMMON_FIELDS
                "\tfield:char name[32];\toffset:8;\tsize:32;\tsigned:1;\n"
                "\tfield:ino_t ino;\toffset:40;\tsize:8;\tsigned:0;\n"
                "\tfield:unsigned long state;\toffset:48;\tsize:8;\tsigned:0;\n\n"
                "print fmt: \"bdi %s: ino=%lu state=%s\", REC->name, REC->ino, __print_flags(REC->state, \"|\", "
                "{ (1 << 0), \"I_DIRTY_SYNC\" })\n";
        static const char wb_text[] = "probes:\n  - {name: wb, type: tracepoint, target: writeback/writeback_dirty_inode_start}\n";
        Config *wc = NULL;
        assert_int_equal(config_load_string("w.yaml", wb_text, sizeof(wb_text) - 1, &wc, &errs), 0);
        assert_int_equal(rawdec_add_probe(d, 2, &wc->probes[0], writeback_format, &err), 0);
        assert_false(rawdec_probe_is_direct(d, 2));
        config_free(wc);

        unsigned char blk[64] = { 0 };
        uint16_t type = 1190;
        uint32_t dev = (254u << 20) | 0, nr = 8, bytes = 4096, loc = 60u | (1u << 16);
        uint64_t sector = 22407000;
        memcpy(blk, &type, 2);
        memcpy(blk + 8, &dev, 4);
        memcpy(blk + 16, &sector, 8);
        memcpy(blk + 24, &nr, 4);
        memcpy(blk + 28, &bytes, 4);
        memcpy(blk + 32, "RS", 2);
        memcpy(blk + 40, "dd", 2);
        memcpy(blk + 56, &loc, 4);
        Fields f;
        for (int round = 0; round < 2; round++) {
                decode_one(d, blk, sizeof(blk), &f);
                assert_string_equal(f.text, "dev=266338304 sector=22407000 nr_sector=8 bytes=4096 rwbs=RS comm=dd cmd=");
        }

        unsigned char vic[76] = { 0 };
        int32_t pid = 4242;
        uint64_t total_vm = 18384, anon = 16260, file = 4, shmem = 1344, pgt = 60;
        uint32_t uid = 0;
        int16_t adj = -17;
        static const char comm[] = "tail total-vm=1 uid=7";
        type = 506;
        loc = 68u | ((uint32_t) sizeof(comm) << 16);
        memcpy(vic, &type, 2);
        memcpy(vic + 8, &pid, 4);
        memcpy(vic + 12, &loc, 4);
        memcpy(vic + 16, &total_vm, 8);
        memcpy(vic + 24, &anon, 8);
        memcpy(vic + 32, &file, 8);
        memcpy(vic + 40, &shmem, 8);
        memcpy(vic + 48, &uid, 4);
        memcpy(vic + 56, &pgt, 8);
        memcpy(vic + 64, &adj, 2);
        unsigned char big[100] = { 0 };
        memcpy(big, vic, sizeof(vic));
        memcpy(big + 68, comm, sizeof(comm));
        for (int round = 0; round < 2; round++) {
                decode_one(d, big, 92, &f);
                assert_string_equal(f.text, "pid=4242 comm=tail total-vm=1 uid=7 total_vm=18384 anon_rss=16260 "
                                            "file_rss=4 shmem_rss=1344 uid=0 pgtables=60 oom_score_adj=-17");
        }
        rawdec_free(d);
        config_free(c);
}

static void test_cursor(void **state) {
        (void) state;
        Pipeline *p = make();
        RawDecoder *d = decoder_for(p);
        static Page pg;
        page_start(&pg, 5000000000ull);
        page_add(&pg, 5000000000ull, 1, 10);
        page_add(&pg, 5000000100ull, 2, 10);
        page_add(&pg, 5400000000ull, 3, 10); /* a time extend before it */
        page_add(&pg, 5400000000ull, 4, 10);
        page_end(&pg, 7);
        Handed h = { 0 };
        RawSink sink = { .userdata = &h, .record = on_handed, .lost = on_handed_lost };
        uint64_t unknown = 0, ts = 0;
        RawCursor *c = rawdec_cursor_new();
        assert_int_equal(rawdec_cursor_load(c, pg.data, 10, 0, &sink), -EBADMSG);
        assert_false(rawdec_cursor_peek_ts(c, &ts));
        assert_int_equal(rawdec_cursor_load(c, pg.data, pg.len, 3, &sink), 0);
        assert_int_equal(h.lost, 7); /* at the load */
        assert_true(rawdec_cursor_peek_ts(c, &ts));
        assert_int_equal(ts, 5000000000ull);
        assert_int_equal(rawdec_cursor_emit(d, c, &sink, &unknown), 1);
        assert_true(rawdec_cursor_peek_ts(c, &ts));
        assert_int_equal(ts, 5000000100ull);
        assert_int_equal(rawdec_cursor_emit_until(d, c, 5399999999ull, &sink, &unknown), 1);
        assert_true(rawdec_cursor_peek_ts(c, &ts));
        assert_int_equal(ts, 5400000000ull);
        assert_int_equal(rawdec_cursor_emit_until(d, c, 5400000000ull, &sink, &unknown), 2);
        assert_false(rawdec_cursor_peek_ts(c, &ts));
        assert_int_equal(rawdec_cursor_emit(d, c, &sink, &unknown), 0);
        assert_int_equal(h.n, 4);
        assert_int_equal(h.cpu[3], 3);
        assert_int_equal(h.ts[2], 5400000000ull);
        assert_int_equal(h.port[3], 4);
        assert_int_equal(unknown, 0);
        rawdec_cursor_free(c);

        Handed h2 = { 0 };
        RawSink sink2 = { .userdata = &h2, .record = on_handed, .lost = on_handed_lost };
        assert_int_equal(rawdec_page(d, pg.data, pg.len, 3, &sink2, &unknown), 4);
        assert_int_equal(memcmp(h.ts, h2.ts, sizeof(h.ts)), 0);
        assert_int_equal(h2.lost, 7);
        rawdec_free(d);
        pipeline_free(p);
}

/* Three CPUs, two pages each on CPUs 0 and 1, interleaved in time, with
 * records at equal times on both (CPU 0's first), a lost-events report, and
 * CPU 2 that never has anything: one pass hands everything over in time
 * order. */
static void test_merge_order(void **state) {
        (void) state;
        MergeFixture *f = merge_fixture(3);
        static Page a1, a2, b1, b2;
        const uint64_t t = 1000000000000ull;
        page_start(&a1, t);
        page_start(&b1, t + 5);
        unsigned pa = 0, pb = 100;
        for (uint64_t k = 0; k < 20; k++) {
                page_add(&a1, t + k * 10, (uint16_t) pa++, 1);
                page_add(&b1, t + 5 + k * 10 + (k % 4 == 0 ? 5 : 0), (uint16_t) pb++, 2); /* every 4th: equal to CPU 0's next */
        }
        page_end(&a1, 0);
        page_end(&b1, 3);
        page_start(&a2, t + 200);
        page_start(&b2, t + 150);
        for (uint64_t k = 0; k < 20; k++) {
                page_add(&a2, t + 200 + k * 7, (uint16_t) pa++, 1);
                page_add(&b2, t + 205 + k * 3, (uint16_t) pb++, 2);
        }
        page_end(&a2, 0);
        page_end(&b2, 0);
        queue(f, 0, &a1);
        queue(f, 0, &a2);
        queue(f, 1, &b1);
        queue(f, 1, &b2);
        RawPass p = run(f, 64);
        assert_int_equal(f->h.n, 80);
        assert_int_equal(p.handed, 80);
        assert_int_equal(p.pages, 4);
        assert_false(p.stopped);
        assert_int_equal(f->h.lost, 3);
        assert_false(rawmerge_holds(f->m));
        assert_merged(&f->h);
        /* the equal times: CPU 0's record, then CPU 1's */
        bool tie = false;
        for (size_t i = 1; i < f->h.n; i++)
                tie |= f->h.ts[i] == f->h.ts[i - 1] && f->h.cpu[i - 1] == 0 && f->h.cpu[i] == 1;
        assert_true(tie);
        /* nothing more: a pass with no data does nothing */
        p = run(f, 64);
        assert_int_equal(p.handed + p.pages, 0);
        merge_fixture_free(f);
}

/* CPU 1 is empty when the pass starts, then (while CPU 0's second page is
 * read) records something older than that page's records: it is asked
 * again after that read, and its records come first. Later, it is empty
 * for a whole pass, and its next records, newer, come in the pass after. */
static void test_merge_late_cpu(void **state) {
        (void) state;
        MergeFixture *f = merge_fixture(2);
        static Page a1, a2, b1, a3, b2;
        const uint64_t t = 2000000000000ull;
        page_start(&a1, t);
        for (unsigned k = 0; k < 5; k++)
                page_add(&a1, t + k, (uint16_t) k, 1);
        page_end(&a1, 0);
        page_start(&b1, t + 100);
        for (unsigned k = 0; k < 5; k++)
                page_add(&b1, t + 100 + k, (uint16_t) (100 + k), 2);
        page_end(&b1, 0);
        page_start(&a2, t + 102);
        for (unsigned k = 0; k < 5; k++)
                page_add(&a2, t + 102 + k, (uint16_t) (5 + k), 1);
        page_end(&a2, 0);
        queue(f, 0, &a1);
        queue(f, 0, &a2);
        queue(f, 1, NULL); /* empty when asked first */
        queue(f, 1, &b1);
        RawPass p = run(f, 64);
        assert_int_equal(f->h.n, 15);
        assert_merged(&f->h);
        assert_int_equal(f->h.cpu[5], 1); /* b1's first, before a2's */
        assert_int_equal(f->h.port[5], 100);
        assert_int_equal(p.pages, 3);

        /* CPU 1 empty for a pass: CPU 0's records go alone */
        page_start(&a3, t + 1000);
        for (unsigned k = 0; k < 5; k++)
                page_add(&a3, t + 1000 + k, (uint16_t) (10 + k), 1);
        page_end(&a3, 0);
        queue(f, 0, &a3);
        queue(f, 1, NULL);
        p = run(f, 64);
        assert_int_equal(f->h.n, 20);
        page_start(&b2, t + 2000);
        page_add(&b2, t + 2000, 105, 2);
        page_end(&b2, 0);
        queue(f, 1, &b2);
        p = run(f, 64);
        assert_int_equal(f->h.n, 21);
        assert_int_equal(f->h.cpu[20], 1);
        assert_merged(&f->h);
        merge_fixture_free(f);
}

/* With several out CPUs they are polled, all at once, after each page read;
 * one that has something then is read, the others are not. */
static void test_merge_poll(void **state) {
        (void) state;
        MergeFixture *f = merge_fixture(4);
        static Page a1, a2, c1;
        const uint64_t t = 3000000000000ull;
        page_start(&a1, t);
        page_add(&a1, t, 0, 1);
        page_end(&a1, 0);
        page_start(&a2, t + 50);
        page_add(&a2, t + 50, 1, 1);
        page_end(&a2, 0);
        page_start(&c1, t + 10);
        page_add(&c1, t + 10, 200, 3);
        page_end(&c1, 0);
        queue(f, 0, &a1);
        queue(f, 0, &a2);
        queue(f, 2, NULL);
        queue(f, 2, &c1);
        RawPass p = run(f, 64);
        assert_int_equal(f->h.n, 3);
        assert_merged(&f->h);
        assert_int_equal(f->h.cpu[1], 2);
        assert_int_equal(p.pages, 3);
        assert_true(f->fake.cpu[1].polls > 0);
        assert_true(f->fake.cpu[3].polls > 0);
        /* the empty ones were polled, never read */
        assert_int_equal(f->fake.cpu[1].reads_done, 0);
        assert_int_equal(f->fake.cpu[3].reads_done, 0);
        merge_fixture_free(f);
}

/* A budget of one page per CPU: the pass stops when a CPU's cursor runs out
 * with its budget spent, while the other's still holds records newer than
 * what the spent CPU may still have; the next pass resumes where it
 * stopped. In the end every record is handed over once, in order. A flush
 * hands over what the cursors hold without reading. */
static void test_merge_budget(void **state) {
        (void) state;
        MergeFixture *f = merge_fixture(2);
        static Page a[3], b[2];
        const uint64_t t = 4000000000000ull;
        unsigned pa = 0, pb = 100;
        for (unsigned i = 0; i < 3; i++) {
                page_start(&a[i], t + i * 100);
                for (unsigned k = 0; k < 10; k++)
                        page_add(&a[i], t + i * 100 + k * 10, (uint16_t) pa++, 1);
                page_end(&a[i], 0);
                queue(f, 0, &a[i]);
        }
        for (unsigned i = 0; i < 2; i++) {
                page_start(&b[i], t + 5 + i * 150);
                for (unsigned k = 0; k < 15; k++)
                        page_add(&b[i], t + 5 + i * 150 + k * 10, (uint16_t) pb++, 2);
                page_end(&b[i], 0);
                queue(f, 1, &b[i]);
        }
        RawPass p = run(f, 1);
        assert_true(p.stopped);
        assert_true(rawmerge_holds(f->m));
        assert_merged(&f->h);
        /* CPU 0's first page (up to t+90) and CPU 1's records before it */
        assert_int_equal(f->h.n, 10 + 9);
        assert_int_equal(f->h.ts[f->h.n - 1], t + 90);
        size_t first = f->h.n;
        p = run(f, 1);
        assert_true(p.stopped);
        assert_true(f->h.n > first);
        size_t passes = 2;
        while (rawmerge_holds(f->m) || p.pages > 0) {
                p = run(f, 1);
                assert_true(++passes < 10);
        }
        assert_int_equal(f->h.n, 60);
        assert_merged(&f->h);
        merge_fixture_free(f);

        /* stopped, then flushed: what the cursors held, in order */
        f = merge_fixture(2);
        for (unsigned i = 0; i < 3; i++)
                queue(f, 0, &a[i]);
        for (unsigned i = 0; i < 2; i++)
                queue(f, 1, &b[i]);
        p = run(f, 1);
        assert_true(p.stopped);
        size_t n = f->h.n;
        assert_int_equal(rawmerge_flush(f->m, f->d, &f->sink, &f->unknown), 6); /* b[0]'s last six */
        assert_false(rawmerge_holds(f->m));
        assert_int_equal(f->h.n, n + 6);
        assert_merged(&f->h);
        merge_fixture_free(f);
}

/* A read that fails ends the pass with its error and slot. */
static void test_merge_read_error(void **state) {
        (void) state;
        MergeFixture *f = merge_fixture(2);
        f->fake.fail_cpu = 1;
        RawPass p;
        assert_int_equal(rawmerge_pass(f->m, f->d, &f->io, 64, &f->sink, &f->unknown, &p), -EIO);
        assert_int_equal(p.failed, 1);
        merge_fixture_free(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_header_page),
                cmocka_unit_test(test_real_page),
                cmocka_unit_test(test_bad_pages),
                cmocka_unit_test(test_hostile_fields),
                cmocka_unit_test(test_direct_equals_tep),
                cmocka_unit_test(test_cursor),
                cmocka_unit_test(test_fields_by_name),
                cmocka_unit_test(test_merge_order),
                cmocka_unit_test(test_merge_late_cpu),
                cmocka_unit_test(test_merge_poll),
                cmocka_unit_test(test_merge_budget),
                cmocka_unit_test(test_merge_read_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
