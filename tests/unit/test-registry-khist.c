/* The registry's kernel side of kernel aggregation, against a fake
 * tracefs tree in a temp dir (regular files take the appends the kernel's
 * control files would): the synthetic event and triggers written in the
 * order the kernel needs (the synthetic event's hist before what feeds
 * it, the entry's variables before the onmatch() that reads them), a
 * probe whose every metric the kernel counts never enabled, a prune that
 * keeps what is unchanged, and a teardown that removes each line with '!'
 * in the reverse order, the synthetic event after its triggers. Twice. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry.h"
#include "pipeline-fixture.h"

static char *join(const char *a, const char *b) {
        return xstrdupf("%s/%s", a, b);
}

static void write_text(const char *path, const char *text) {
        char *dir = xstrdup(path);
        for (char *s = dir + 1; (s = strchr(s, '/')); s++) {
                *s = 0;
                (void) mkdir(dir, 0755);
                *s = '/';
        }
        free(dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

static char *read_text(const char *root, const char *rel) {
        char *path = join(root, rel);
        Buf b = { 0 };
        int r = read_file_at(AT_FDCWD, path, 1u << 20, &b);
        free(path);
        assert_int_equal(r, 0);
        return buf_steal(&b);
}

static void rm_rf(const char *path) {
        DIR *d = opendir(path);
        if (!d) {
                (void) unlink(path);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
                        char *sub = join(path, de->d_name);
                        rm_rf(sub);
                        free(sub);
                }
        closedir(d);
        (void) rmdir(path);
}

static const char *const config_text =
        "probes:\n"
        "  - name: conn\n"
        "    type: uprobe\n"
        "    target: /bin/true:0x1000\n"
        "    fetch: [port=+2(%si):u16]\n"
        "    filter: port != 0\n"
        "    decode: {port: ntohs}\n"
        "    metrics:\n"
        "      - {name: conn_total, labels: [port]}\n"
        "  - name: ret\n"
        "    type: uretprobe\n"
        "    target: /bin/true:0x1000\n"
        "    events: false\n"
        "    fetch: [rc=$retval:s32]\n"
        "    metrics:\n"
        "      - name: conn_seconds\n"
        "        type: histogram\n"
        "        latency_from: conn\n"
        "        labels: [rc, port]\n"
        "        buckets: {exponential: {start: 0.000001, factor: 2, count: 20}}\n";

#define EV "instances/kpe_fake/events/kpe_fake/"
#define SYN "instances/kpe_fake/events/synthetic/kpe_fake_conn_seconds/"

static void put(const char *root, const char *rel, const char *text) {
        char *p = join(root, rel);
        write_text(p, text);
        free(p);
}

static void make_tree(const char *root) {
        put(root, "README", "hist trigger\n\t.buckets=size\n");
        static const char *const files[] = { "uprobe_events", "synthetic_events", "error_log",
                                             "instances/kpe_fake/error_log",
                                             EV "conn/enable", EV "conn/filter", EV "conn/trigger",
                                             EV "ret/enable",  EV "ret/filter",  EV "ret/trigger",
                                             SYN "trigger" };
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                put(root, files[i], "");
}

/* A tracepoint whose format (this kernel's) lacks a field the config names
 * (oom/mark_victim before Linux 6.8 has only pid): that probe, and only
 * it, is unavailable at registration, with the config's file:line:column
 * and the nearest field names; no config error. A probe on a tracepoint
 * that has its fields registers. Twice, as a reload checks again. */
static void test_tracepoint_lacks_field(void **state) {
        (void) state;
        char tmp[] = "/tmp/test-registry-lacks-XXXXXX";
        assert_non_null(mkdtemp(tmp));
        static const char common[] = "format:\n"
                                     "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
                                     "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n";
        char *old = xstrdupf("name: mark_victim\nID: 506\n%s\tfield:int pid;\toffset:8;\tsize:4;\tsigned:1;\n\n"
                             "print fmt: \"pid=%%d\", REC->pid\n", common);
        char *exec = xstrdupf("name: sched_process_exec\nID: 307\n%s"
                              "\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:1;\n"
                              "\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n\n"
                              "print fmt: \"filename=%%s pid=%%d\", __get_str(filename), REC->pid\n", common);
        put(tmp, "events/oom/mark_victim/format", old);
        put(tmp, "events/sched/sched_process_exec/format", exec);
        free(old);
        free(exec);
        static const char text[] = "probes:\n"
                                   "  - name: oom_kill\n"
                                   "    type: tracepoint\n"
                                   "    target: oom/mark_victim\n"
                                   "    metrics:\n"
                                   "      - name: oom_kills_total\n"
                                   "        when: {pidd: '1'}\n"
                                   "        labels: [comm, uid]\n"
                                   "  - name: exec\n"
                                   "    type: tracepoint\n"
                                   "    target: sched/sched_process_exec\n"
                                   "    metrics:\n"
                                   "      - name: execs_total\n"
                                   "        labels: [filename]\n";
        Config *c = NULL;
        ConfigErrors errs = { 0 };
        assert_int_equal(config_load_string("lib.yaml", text, strlen(text), &c, &errs), 0);
        for (int round = 0; round < 2; round++) {
                assert_int_equal(registry_check_config(c, tmp, false, &errs), 0);
                assert_int_equal(errs.n, 0);
                assert_string_equal(c->probes[0].kernel_lacks,
                                    "lib.yaml:8:24: label 'uid' is not a field of tracepoint oom/mark_victim; "
                                    "nearest: pid; lib.yaml:7:16: when: 'pidd' is not a field of tracepoint "
                                    "oom/mark_victim; nearest: pid");
                assert_null(c->probes[1].kernel_lacks);
        }
        config_free(c);

        /* A probe of the user's that serves attribution (its fork events)
         * cannot be left out: what its tracepoint lacks is a config error. */
        char *newtask = xstrdupf("name: task_newtask\nID: 127\n%s\tfield:pid_t pid;\toffset:8;\tsize:4;\tsigned:1;\n"
                                 "\tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:1;\n"
                                 "\tfield:unsigned long clone_flags;\toffset:32;\tsize:8;\tsigned:0;\n\n"
                                 "print fmt: \"pid=%%d comm=%%s clone_flags=%%lx\", REC->pid, REC->comm, "
                                 "REC->clone_flags\n", common);
        put(tmp, "events/task/task_newtask/format", newtask);
        free(newtask);
        static const char attr[] = "probes:\n"
                                   "  - name: forks\n"
                                   "    type: tracepoint\n"
                                   "    target: task/task_newtask\n"
                                   "    metrics:\n"
                                   "      - name: forks_total\n"
                                   "        labels: [clone_flagz]\n"
                                   "  - name: exec\n"
                                   "    type: tracepoint\n"
                                   "    target: sched/sched_process_exec\n"
                                   "    metrics:\n"
                                   "      - name: execs_total\n"
                                   "        labels: [unit]\n";
        assert_int_equal(config_load_string("attr.yaml", attr, strlen(attr), &c, &errs), 0);
        assert_true(c->probes[0].role != ATTRIB_ROLE_NONE);
        assert_int_equal(registry_check_config(c, tmp, false, &errs), 0);
        assert_int_equal(errs.n, 1);
        assert_non_null(strstr(errs.items[0].message, "probe 'forks' follows tasks for attribution"));
        assert_non_null(strstr(errs.items[0].message, "nearest: clone_flags"));
        assert_null(c->probes[0].kernel_lacks);
        config_errors_clear(&errs);
        config_free(c);
        rm_rf(tmp);
}

static void test_install_and_teardown(void **state) {
        (void) state;
        char tmp[] = "/tmp/test-registry-khist-XXXXXX";
        assert_non_null(mkdtemp(tmp));
        make_tree(tmp);
        for (int round = 0; round < 2; round++) {
                /* Each round starts from empty control files. */
                make_tree(tmp);
                Tracefs *t = NULL;
                assert_int_equal(tfs_new(tmp, "kpe_fake", &t), 0);
                assert_true(t->features.state[FEATURE_HIST_TRIGGERS] == FEATURE_YES);
                t->clock = "mono";
                Pipeline *p = fixture_pipeline(config_text);
                pipeline_plan_kernel(p, &t->features, t->name, t->clock);
                assert_true(p->probes[0].metrics[0].kh.kernel);
                assert_true(p->probes[1].metrics[0].kh.kernel);

                Registry *r = registry_new(t, p->config);
                r->pipeline = p;
                for (size_t i = 0; i < 2; i++)
                        assert_true(registry_register(r, i, "test.yaml"));
                assert_int_equal(registry_khist_install(r, "test.yaml"), 0);
                assert_true(p->probes[0].metrics[0].kh_live);
                assert_true(p->probes[1].metrics[0].kh_live);

                _cleanup_free_ char *synth = read_text(tmp, "synthetic_events");
                assert_string_equal(synth, "kpe_fake_conn_seconds u64 lat; s32 rc; u16 port");
                _cleanup_free_ char *conn = read_text(tmp, EV "conn/trigger");
                assert_string_equal(conn, "hist:name=kpe_fake_conn_total:keys=port:vals=hitcount:size=2048 if port != 0"
                                          "hist:keys=common_pid:ts_conn_seconds=common_timestamp.usecs,"
                                          "port_conn_seconds=port:clock=mono if port != 0");
                _cleanup_free_ char *ret = read_text(tmp, EV "ret/trigger");
                assert_string_equal(ret, "hist:keys=common_pid:lat_conn_seconds=common_timestamp.usecs-$ts_conn_seconds:"
                                         "onmatch(kpe_fake.conn).trace(kpe_fake_conn_seconds,$lat_conn_seconds,rc,"
                                         "$port_conn_seconds):clock=mono");
                _cleanup_free_ char *syn = read_text(tmp, SYN "trigger");
                assert_string_equal(syn, "hist:name=kpe_fake_conn_seconds:keys=rc,port,lat.log2:vals=hitcount,lat:"
                                         "size=2048");
                /* conn streams (events: true); ret is trigger-only. */
                _cleanup_free_ char *en_conn = read_text(tmp, EV "conn/enable");
                _cleanup_free_ char *en_ret = read_text(tmp, EV "ret/enable");
                assert_string_equal(en_conn, "1");
                assert_string_equal(en_ret, "");

                /* The hist file, read twice through the fd kept open:
                 * each read from the start, as the file is now. */
                Buf h = { 0 };
                put(tmp, SYN "hist", "first\n");
                assert_int_equal(registry_khist_read(r, &p->probes[1].metrics[0].kh, &h), 0);
                assert_string_equal(h.data, "first\n");
                put(tmp, SYN "hist", "second, longer\n");
                assert_int_equal(registry_khist_read(r, &p->probes[1].metrics[0].kh, &h), 0);
                assert_string_equal(h.data, "second, longer\n");
                buf_free(&h);

                /* Unchanged: a prune writes nothing. */
                registry_khist_prune(r);
                _cleanup_free_ char *conn2 = read_text(tmp, EV "conn/trigger");
                assert_string_equal(conn2, conn);
                assert_int_equal(r->n_khist, 2);

                /* Teardown: the onmatch() first, then the entry's variables,
                 * the synthetic event's hist, the synthetic event; the
                 * counter; then the probes. (Order within a file shows in
                 * it; across files, in the one each line removes.) */
                assert_int_equal(registry_teardown(r), 0);
                assert_int_equal(r->n_khist, 0);
                _cleanup_free_ char *ret3 = read_text(tmp, EV "ret/trigger");
                assert_non_null(strstr(ret3, "clock=mono!hist:keys=common_pid:lat_conn_seconds="));
                _cleanup_free_ char *conn3 = read_text(tmp, EV "conn/trigger");
                /* the counter was written first, so removed last */
                const char *rm_vars = strstr(conn3, "!hist:keys=common_pid:ts_conn_seconds");
                const char *rm_counter = strstr(conn3, "!hist:name=kpe_fake_conn_total");
                assert_non_null(rm_vars);
                assert_non_null(rm_counter);
                assert_true(rm_vars < rm_counter);
                _cleanup_free_ char *syn3 = read_text(tmp, SYN "trigger");
                assert_non_null(strstr(syn3, "!hist:name=kpe_fake_conn_seconds:"));
                _cleanup_free_ char *synth3 = read_text(tmp, "synthetic_events");
                assert_string_equal(synth3, "kpe_fake_conn_seconds u64 lat; s32 rc; u16 port!kpe_fake_conn_seconds");
                _cleanup_free_ char *up = read_text(tmp, "uprobe_events");
                assert_non_null(strstr(up, "-:kpe_fake/conn"));
                assert_non_null(strstr(up, "-:kpe_fake/ret"));

                registry_free(r);
                pipeline_free(p);
                tfs_free(t);
        }
        rm_rf(tmp);
}

/* The kernel refuses a trigger: an auto metric is counted from events
 * instead (its probe now streams), nothing of it stays written. */
static void test_refused_falls_back(void **state) {
        (void) state;
        char tmp[] = "/tmp/test-registry-khist-XXXXXX";
        assert_non_null(mkdtemp(tmp));
        make_tree(tmp);
        /* No trigger file for ret: its writes fail (ENOENT). */
        char *gone = join(tmp, EV "ret/trigger");
        assert_int_equal(unlink(gone), 0);
        free(gone);
        Tracefs *t = NULL;
        assert_int_equal(tfs_new(tmp, "kpe_fake", &t), 0);
        Pipeline *p = fixture_pipeline(config_text);
        pipeline_plan_kernel(p, &t->features, t->name, NULL);
        Registry *r = registry_new(t, p->config);
        r->pipeline = p;
        for (size_t i = 0; i < 2; i++)
                assert_true(registry_register(r, i, "test.yaml"));
        assert_int_equal(registry_khist_install(r, "test.yaml"), 0);
        assert_true(p->probes[0].metrics[0].kh.kernel);
        assert_false(p->probes[1].metrics[0].kh.kernel);
        assert_non_null(strstr(p->probes[1].metrics[0].kh.why, "the kernel refused the trigger"));
        /* What the latency wrote before the refusal is removed again. */
        _cleanup_free_ char *synth = read_text(tmp, "synthetic_events");
        assert_string_equal(synth, "kpe_fake_conn_seconds u64 lat; s32 rc; u16 port!kpe_fake_conn_seconds");
        _cleanup_free_ char *syn = read_text(tmp, SYN "trigger");
        assert_non_null(strstr(syn, "!hist:name=kpe_fake_conn_seconds"));
        /* ret streams now: its latency is counted from its events. */
        _cleanup_free_ char *en_ret = read_text(tmp, EV "ret/enable");
        assert_string_equal(en_ret, "1");
        assert_int_equal(r->n_khist, 1);
        assert_int_equal(registry_teardown(r), 0);
        registry_free(r);
        pipeline_free(p);
        tfs_free(t);
        rm_rf(tmp);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_install_and_teardown),
                cmocka_unit_test(test_tracepoint_lacks_field),
                cmocka_unit_test(test_refused_falls_back),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
