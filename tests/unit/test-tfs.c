/* Tests of daemon/tfs.c, the tracefs I/O: the file handling against fake
 * trees in a temp dir, and (as root, with tracefs) the real thing with
 * uprobes on a function of this binary. What the texts mean is
 * test-tfs-text.c's. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tfs.h"

/* ---- helpers ---- */

static ProbeConfig probe(ProbeType type, const char *name, const char *target, char **fetch, size_t n_fetch) {
        return (ProbeConfig){
                .name = (char *) name,
                .type = type,
                .target = (char *) target,
                .fetch = fetch,
                .n_fetch = n_fetch,
        };
}

static char *join(const char *a, const char *b) {
        Buf p = { 0 };
        buf_printf(&p, "%s/%s", a, b);
        return buf_steal(&p);
}

static char *read_text(const char *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        Buf b = { 0 };
        char tmp[4096];
        ssize_t n;
        while ((n = read(fd, tmp, sizeof(tmp))) > 0)
                buf_append(&b, tmp, (size_t) n);
        close(fd);
        return buf_steal(&b);
}

static void write_text(const char *path, const char *text) {
        /* mkdir -p of the parents */
        char *dir = xstrdup(path);
        for (char *s = strchr(dir + 1, '/'); s; s = strchr(s + 1, '/')) {
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

static char *make_tmpdir(void) {
        char *d = xstrdup("/tmp/test-tracefs-XXXXXX");
        assert_non_null(mkdtemp(d));
        return d;
}

/* ---- finding tracefs ---- */

static void test_find_override(void **state) {
        (void) state;
        char *root = NULL;
        /* used as is, not even looked at */
        assert_int_equal(tfs_find("/some/where", false, &root), 0);
        assert_string_equal(root, "/some/where");
        free(root);
}

/* ---- fake trees ---- */

static void test_cpu_stats_fake(void **state) {
        (void) state;
        char *tmp = make_tmpdir();
        char *inst = join(tmp, "instances/kpe_fake/per_cpu");
        char *p;

        p = join(inst, "cpu0/stats");
        write_text(p, "entries: 12\noverrun: 0\ncommit overrun: 0\nbytes: 1440\n"
                      "oldest event ts:   972.294734\nnow ts:  1040.222533\n"
                      "dropped events: 0\nread events: 3\n");
        free(p);
        /* gap in the numbering, and 10 sorts after 2 */
        p = join(inst, "cpu10/stats");
        write_text(p, "entries: 7\noverrun: 6400\ncommit overrun: 2\ndropped events: 16777343\nread events: 0\n");
        free(p);
        p = join(inst, "cpu2/stats");
        write_text(p, "entries: 1\noverrun: 25\ncommit overrun: 0\ndropped events: 0\nread events: 99\n");
        free(p);
        p = join(inst, "cpuX/stats");
        write_text(p, "entries: 1000\n");
        free(p);

        Tracefs *t = NULL;
        assert_int_equal(tfs_new(tmp, "kpe_fake", &t), 0);
        assert_false(tfs_may_have(t, FEATURE_KPROBE_EVENTS));
        TracefsCpuStats s[4];
        assert_int_equal(tfs_read_cpu_stats(t, s, 4), 3);
        assert_int_equal(s[0].cpu, 0);
        assert_int_equal(s[0].entries, 12);
        assert_int_equal(s[0].read_events, 3);
        assert_int_equal(s[1].cpu, 2);
        assert_int_equal(s[1].overrun, 25);
        assert_int_equal(s[1].read_events, 99);
        assert_int_equal(s[2].cpu, 10);
        assert_int_equal(s[2].entries, 7);
        assert_int_equal(s[2].overrun, 6400);
        assert_int_equal(s[2].commit_overrun, 2);
        assert_int_equal(s[2].dropped_events, 16777343);

        /* max is respected */
        assert_int_equal(tfs_read_cpu_stats(t, s, 1), 1);
        assert_int_equal(s[0].cpu, 0);

        /* a garbled counter is an error, not a zero */
        p = join(inst, "cpu2/stats");
        write_text(p, "entries: 1\noverrun: lots\n");
        free(p);
        assert_int_equal(tfs_read_cpu_stats(t, s, 4), -EBADMSG);

        tfs_free(t);
        rm_rf(tmp);
        free(inst);
        free(tmp);
}

static void test_cleanup_fake_probe_files(void **state) {
        (void) state;
        char *tmp = make_tmpdir();
        char *up = join(tmp, "uprobe_events"), *kp = join(tmp, "kprobe_events");
        static const char up_text[] =
                "p:kpe_fake/a /bin/true:0x0000000000001000 x=%di:u64\n"
                "p:other/b /bin/true:0x0000000000001000\n"
                "r:kpe_fake/c /bin/true:0x0000000000001000\n"
                "p:kpe_fake_more/d /bin/true:0x0000000000001000\n"
                "p:kpe_fak/e /bin/true:0x0000000000001000\n";
        static const char kp_text[] =
                "p:kprobes/x __sys_connect_file\n"
                "r16:kpe_fake/y tcp_v4_connect ret=$retval\n";
        write_text(up, up_text);
        write_text(kp, kp_text);

        Tracefs *t = NULL;
        assert_int_equal(tfs_new(tmp, "kpe_fake", &t), 0);
        assert_true(tfs_may_have(t, FEATURE_KPROBE_EVENTS));
        assert_true(tfs_may_have(t, FEATURE_UPROBE_EVENTS));
        unsigned removed = 99;
        assert_int_equal(tfs_cleanup(t, &removed), 0);
        assert_int_equal(removed, 3);

        /* the fake files are plain files: the removal commands were appended,
         * nothing else was written */
        char *got = read_text(up);
        Buf want = { 0 };
        buf_printf(&want, "%s-:kpe_fake/a\n-:kpe_fake/c\n", up_text);
        assert_string_equal(got, want.data);
        free(got);
        got = read_text(kp);
        buf_clear(&want);
        buf_printf(&want, "%s-:kpe_fake/y\n", kp_text);
        assert_string_equal(got, want.data);
        free(got);
        buf_free(&want);

        tfs_free(t);
        rm_rf(tmp);
        free(up);
        free(kp);
        free(tmp);
}

static void test_cleanup_fake_instance(void **state) {
        (void) state;
        char *tmp = make_tmpdir();
        char *ev = join(tmp, "instances/kpe_fake/events");
        char *on = join(ev, "sock/inet_sock_set_state/enable");
        char *soft = join(ev, "kpe_fake/a/enable");
        char *off = join(ev, "kpe_fake/b/enable");
        char *all = join(ev, "enable");
        char *sub = join(ev, "sock/enable");
        write_text(on, "1\n");
        write_text(soft, "1*\n");
        write_text(off, "0\n");
        write_text(all, "X\n");
        write_text(sub, "X\n");

        Tracefs *t = NULL;
        assert_int_equal(tfs_new(tmp, "kpe_fake", &t), 0);
        unsigned removed = 99;
        /* a real directory with files cannot be removed: the walk ran and the
         * error is reported */
        assert_int_equal(tfs_cleanup(t, &removed), -ENOTEMPTY);
        assert_int_equal(removed, 0);

        char *v = read_text(on);
        assert_string_equal(v, "0\n");
        free(v);
        v = read_text(soft);
        assert_string_equal(v, "0*\n");
        free(v);
        v = read_text(off);
        assert_string_equal(v, "0\n");
        free(v);
        /* group-wide switches are not per-event files: untouched */
        v = read_text(all);
        assert_string_equal(v, "X\n");
        free(v);
        v = read_text(sub);
        assert_string_equal(v, "X\n");
        free(v);

        tfs_free(t);
        rm_rf(tmp);
        free(ev), free(on), free(soft), free(off), free(all), free(sub);
        free(tmp);
}

static void test_new_rejects_names(void **state) {
        (void) state;
        Tracefs *t = NULL;
        assert_int_equal(tfs_new("/tmp", "", &t), -EINVAL);
        assert_int_equal(tfs_new("/tmp", "a/b", &t), -EINVAL);
        assert_int_equal(tfs_new("/tmp", "a b", &t), -EINVAL);
        assert_int_equal(tfs_new("/tmp", "..", &t), -EINVAL);
        assert_int_equal(tfs_new("/tmp", "kprobe-exporter_2", &t), 0);
        assert_string_equal(t->instance_dir, "/tmp/instances/kprobe-exporter_2");
        tfs_free(t);
}

/* ---- the real tracefs ---- */

typedef struct Real {
        char *root;
        Tracefs *t, *other;
        int pipe_fd;
        char *skip_reason;
} Real;

static int real_setup(void **state) {
        Real *r = xcalloc(1, sizeof(*r));
        r->pipe_fd = -1;
        *state = r;
        if (geteuid() != 0) {
                r->skip_reason = xstrdup("not root");
                return 0;
        }
        if (tfs_find(NULL, false, &r->root) < 0) {
                r->skip_reason = xstrdup("tracefs not mounted");
                return 0;
        }
        char name[64];
        snprintf(name, sizeof(name), "kpe_unit_%d", (int) getpid());
        assert_int_equal(tfs_new(r->root, name, &r->t), 0);
        snprintf(name, sizeof(name), "kpe_other_%d", (int) getpid());
        assert_int_equal(tfs_new(r->root, name, &r->other), 0);
        return 0;
}

static int real_teardown(void **state) {
        Real *r = *state;
        if (r->pipe_fd >= 0)
                close(r->pipe_fd);
        if (r->t)
                (void) tfs_cleanup(r->t, NULL);
        if (r->other)
                (void) tfs_cleanup(r->other, NULL);
        tfs_free(r->t);
        tfs_free(r->other);
        free(r->root);
        free(r->skip_reason);
        free(r);
        return 0;
}

#define REQUIRE_REAL(r)                                                        \
        do {                                                                   \
                if ((r)->skip_reason) {                                        \
                        print_message("SKIP: %s\n", (r)->skip_reason);         \
                        skip();                                                \
                }                                                              \
        } while (0)

/* REQUIRE_REAL, and uprobes with a known register for the first argument. */
#define REQUIRE_UPROBES(r)                                                     \
        do {                                                                   \
                REQUIRE_REAL(r);                                               \
                if (!tfs_may_have((r)->t, FEATURE_UPROBE_EVENTS) || !FIRST_ARG) { \
                        print_message("SKIP: no uprobe_events or unknown architecture\n"); \
                        skip();                                                \
                }                                                              \
        } while (0)

/* The uprobe target: its address escapes through a volatile pointer, so it
 * stays an out-of-line function with the normal calling convention. */
__attribute__((noinline)) static uint64_t kpe_unit_target(uint64_t x) {
        __asm__ volatile("" ::: "memory");
        return x + 1;
}
static uint64_t (*volatile kpe_unit_target_ptr)(uint64_t) = kpe_unit_target;

#if defined(__x86_64__)
#define FIRST_ARG "x=%di:u64"
#elif defined(__aarch64__)
#define FIRST_ARG "x=%x0:u64"
#else
#define FIRST_ARG NULL
#endif

/* "/path:0xOFFSET" of kpe_unit_target, from /proc/self/maps. */
static char *self_uprobe_target(void) {
        uintptr_t addr = (uintptr_t) kpe_unit_target;
        char *maps = read_text("/proc/self/maps");
        assert_non_null(maps);
        char *result = NULL;
        for (char *line = strtok(maps, "\n"); line && !result; line = strtok(NULL, "\n")) {
                unsigned long start, end, off;
                int path_at = 0;
                if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %n", &start, &end, &off, &path_at) < 3 || !path_at)
                        continue;
                if (addr < start || addr >= end || line[path_at] != '/')
                        continue;
                Buf b = { 0 };
                buf_printf(&b, "%s:0x%lx", line + path_at, (unsigned long) (addr - start + off));
                result = buf_steal(&b);
        }
        free(maps);
        assert_non_null(result);
        return result;
}

static bool file_has_line_prefix(const char *path, const char *prefix) {
        char *text = read_text(path);
        assert_non_null(text);
        bool found = false;
        for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, prefix, strlen(prefix)) == 0)
                        found = true;
        free(text);
        return found;
}

static bool our_uprobe_listed(Real *r, const Tracefs *t, const char *event) {
        char *path = join(r->root, "uprobe_events");
        Buf prefix = { 0 };
        buf_printf(&prefix, "p:%s/%s", t->name, event ? event : "");
        if (event)
                buf_putc(&prefix, ' ');
        bool found = file_has_line_prefix(path, prefix.data);
        buf_free(&prefix);
        free(path);
        return found;
}

static char *instance_file(Real *r, const char *rel) {
        return join(r->t->instance_dir, rel);
}

static void assert_file_starts(const char *path, const char *want) {
        char *v = read_text(path);
        assert_non_null(v);
        assert_memory_equal(v, want, strlen(want));
        free(v);
}

static void test_real_instance(void **state) {
        Real *r = *state;
        REQUIRE_REAL(r);
        assert_int_equal(tfs_instance_create(r->t), 0);
        assert_int_equal(tfs_instance_create(r->t), -EEXIST);
        assert_int_equal(tfs_instance_setup(r->t), 0);

        static const char *const opts[][2] = {
                { "options/context-info", "1" }, { "options/record-tgid", "1" },
                { "options/irq-info", "0" },     { "options/latency-format", "0" },
                { "options/raw", "0" },          { "options/sym-userobj", "0" },
        };
        for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
                char *p = instance_file(r, opts[i][0]);
                assert_file_starts(p, opts[i][1]);
                free(p);
        }
        char *fields = instance_file(r, "options/fields");
        if (access(fields, F_OK) == 0)
                assert_file_starts(fields, "0");
        free(fields);

        assert_int_equal(tfs_instance_remove(r->t), 0);
        assert_int_equal(access(r->t->instance_dir, F_OK), -1);
        assert_int_equal(tfs_instance_remove(r->t), 0);
        /* setup of a missing instance is an error, not a silent no-op */
        assert_int_equal(tfs_instance_setup(r->t), -ENOENT);
}

/* Reads the instance pipe until `want` shows up or 3 s passed. */
static char *read_pipe_until(int fd, const char *want) {
        Buf got = { 0 };
        for (int i = 0; i < 300 && !(got.data && strstr(got.data, want)); i++) {
                char tmp[8192];
                ssize_t n = read(fd, tmp, sizeof(tmp));
                if (n > 0) {
                        buf_append(&got, tmp, (size_t) n);
                        continue;
                }
                assert_true(n < 0 && errno == EAGAIN);
                nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        return buf_steal(&got);
}

static void test_real_uprobe_lifecycle(void **state) {
        Real *r = *state;
        REQUIRE_UPROBES(r);
        char *target = self_uprobe_target();
        char *fetch[] = { FIRST_ARG };
        ProbeConfig p = probe(PROBE_UPROBE, "fn", target, fetch, 1);
        char *err = NULL;

        assert_int_equal(tfs_probe_register(r->t, &p, &err), 0);
        assert_null(err);
        assert_true(our_uprobe_listed(r, r->t, "fn"));
        /* the same name twice is refused by the kernel */
        assert_true(tfs_probe_register(r->t, &p, &err) < 0);
        free(err);

        assert_int_equal(tfs_instance_create(r->t), 0);
        assert_int_equal(tfs_instance_setup(r->t), 0);
        assert_int_equal(tfs_event_enable(r->t, &p, true), 0);
        Buf rel = { 0 };
        buf_printf(&rel, "events/%s/fn/enable", r->t->name);
        char *enable = instance_file(r, rel.data);
        assert_file_starts(enable, "1");
        /* enabled in our instance only, not in the top-level buffer */
        char *global = join(r->root, rel.data);
        assert_file_starts(global, "0");
        free(global);
        buf_free(&rel);

        /* a refused filter leaves the event unfiltered (the kernel swaps in
         * the broken filter, disabled), so the good one must come after */
        assert_true(tfs_event_set_filter(r->t, &p, "x ==", &err) < 0);
        assert_non_null(err);
        assert_non_null(strstr(err, "Command: x =="));
        free(err);
        err = NULL;
        assert_int_equal(tfs_event_set_filter(r->t, &p, "x == 4660", &err), 0);
        assert_null(err);

        r->pipe_fd = tfs_open_trace_pipe(r->t);
        assert_true(r->pipe_fd >= 0);
        assert_int_equal(kpe_unit_target_ptr(1), 2);
        assert_int_equal(kpe_unit_target_ptr(4660), 4661);

        /* the filter let exactly one hit into our buffer */
        TracefsCpuStats s[256];
        int n = tfs_read_cpu_stats(r->t, s, ELEMENTSOF(s));
        assert_true(n >= 1);
        uint64_t entries = 0;
        for (int i = 0; i < n; i++)
                entries += s[i].entries;
        assert_int_equal(entries, 1);

        char *out = read_pipe_until(r->pipe_fd, "\n");
        Buf want = { 0 };
        buf_printf(&want, "-%d ", (int) getpid());
        const char *after_pid = strstr(out, want.data);
        assert_non_null(after_pid);
        /* the (tgid) column that record-tgid adds: "(  1234)", or
         * "(-------)" while the kernel has not seen us switch yet */
        after_pid += strspn(after_pid + want.len, " ") + want.len;
        assert_true(after_pid[0] == '(' && strchr(after_pid, ')') && strchr(after_pid, ')')[1] == ' ');
        assert_non_null(strstr(out, " fn: (0x"));
        assert_non_null(strstr(out, ") x=4660\n"));
        assert_null(strstr(out, "x=1\n"));
        buf_free(&want);
        free(out);

        /* a second daemon of ours must not tear down a running one */
        unsigned removed = 99;
        assert_int_equal(tfs_cleanup(r->t, &removed), -EBUSY);
        assert_true(our_uprobe_listed(r, r->t, "fn"));
        assert_file_starts(enable, "1");

        close(r->pipe_fd);
        r->pipe_fd = -1;
        assert_int_equal(tfs_cleanup(r->t, &removed), 0);
        assert_int_equal(removed, 2); /* the instance and the probe */
        assert_false(our_uprobe_listed(r, r->t, NULL));
        assert_int_equal(access(r->t->instance_dir, F_OK), -1);
        assert_int_equal(tfs_probe_unregister(r->t, &p), -ENOENT);

        free(enable);
        free(target);
}

static void test_real_bad_uprobes(void **state) {
        Real *r = *state;
        REQUIRE_UPROBES(r);
        char *fetch[] = { FIRST_ARG };
        char *err = NULL;
        ProbeConfig p = probe(PROBE_UPROBE, "bad", "/nonexistent/kpe_unit:0x10", fetch, 1);
        assert_int_equal(tfs_probe_register(r->t, &p, &err), -ENOENT);
        if (err) {
                Buf cmd = { 0 };
                buf_printf(&cmd, "  Command: p:%s/bad /nonexistent/kpe_unit:0x10 %s\n", r->t->name, FIRST_ARG);
                assert_non_null(strstr(err, cmd.data));
                buf_free(&cmd);
                free(err);
        } else
                print_message("note: the kernel logged nothing for a missing file\n");

        char *target = self_uprobe_target();
        char *badreg[] = { "x=%zz" };
        p = probe(PROBE_UPROBE, "bad", target, badreg, 1);
        assert_int_equal(tfs_probe_register(r->t, &p, &err), -EINVAL);
        assert_non_null(err);
        assert_non_null(strstr(err, "error: "));
        assert_non_null(strstr(err, "Command: "));
        assert_non_null(strstr(err, " x=%zz\n"));
        assert_non_null(strchr(err, '^'));
        free(err);

        /* refused before anything is written */
        char *nl[] = { "x=%di\n-:kprobes/theirs" };
        p = probe(PROBE_UPROBE, "bad", target, nl, 1);
        assert_int_equal(tfs_probe_register(r->t, &p, &err), -EINVAL);
        free(err);
        assert_false(our_uprobe_listed(r, r->t, NULL));
        free(target);
}

static void test_real_cleanup_only_ours(void **state) {
        Real *r = *state;
        REQUIRE_UPROBES(r);
        char *target = self_uprobe_target();
        char *fetch[] = { FIRST_ARG };
        ProbeConfig keep = probe(PROBE_UPROBE, "keep", target, fetch, 1);
        ProbeConfig mine = probe(PROBE_UPROBE, "mine", target, fetch, 1);
        ProbeConfig mine_ret = probe(PROBE_URETPROBE, "mine_ret", target, NULL, 0);
        assert_int_equal(tfs_probe_register(r->other, &keep, NULL), 0);
        assert_int_equal(tfs_probe_register(r->t, &mine, NULL), 0);
        assert_int_equal(tfs_probe_register(r->t, &mine_ret, NULL), 0);
        assert_true(our_uprobe_listed(r, r->t, "mine"));

        unsigned removed = 0;
        assert_int_equal(tfs_cleanup(r->t, &removed), 0);
        assert_int_equal(removed, 2);
        assert_false(our_uprobe_listed(r, r->t, NULL));
        char *up = join(r->root, "uprobe_events");
        Buf prefix = { 0 };
        buf_printf(&prefix, "r:%s/", r->t->name);
        assert_false(file_has_line_prefix(up, prefix.data));
        buf_free(&prefix);
        assert_true(our_uprobe_listed(r, r->other, "keep"));

        /* a second cleanup finds nothing */
        assert_int_equal(tfs_cleanup(r->t, &removed), 0);
        assert_int_equal(removed, 0);

        assert_int_equal(tfs_probe_unregister(r->other, &keep), 0);
        assert_false(our_uprobe_listed(r, r->other, NULL));
        free(up);
        free(target);
}

static void test_real_kprobe(void **state) {
        Real *r = *state;
        REQUIRE_REAL(r);
        char *seed[] = { "family=+0(%si):u16", "port=+2(%si):u16", "addr=+4(%si):u32" };
        ProbeConfig p = probe(PROBE_KPROBE, "connect", "kpe_no_such_symbol_xyz", seed, 3);
        char *err = NULL;
        int k = tfs_probe_register(r->t, &p, &err);
        if (!tfs_may_have(r->t, FEATURE_KPROBE_EVENTS)) {
                assert_int_equal(k, -EOPNOTSUPP);
                /* Refused before anything is written, naming what is
                 * missing and the running kernel. */
                struct utsname u;
                assert_int_equal(uname(&u), 0);
                assert_non_null(err);
                assert_non_null(strstr(err, "kernel built without kprobe events"));
                assert_non_null(strstr(err, u.release));
                assert_int_equal(tfs_probe_unregister(r->t, &p), -EOPNOTSUPP);
        } else {
                assert_true(k < 0);
                assert_non_null(err);
                assert_non_null(strstr(err, "kpe_no_such_symbol_xyz"));
        }
        free(err);
}

static void test_real_tracepoint(void **state) {
        Real *r = *state;
        REQUIRE_REAL(r);
        char *fmt = join(r->root, "events/sock/inet_sock_set_state/format");
        bool have = access(fmt, F_OK) == 0;
        free(fmt);
        if (!have) {
                print_message("SKIP: no sock/inet_sock_set_state tracepoint\n");
                skip();
        }

        char *err = NULL;
        /* A tracepoint the kernel lacks: unavailable, with the release and
         * (for a name close to one of its subsystem's) the nearest. */
        ProbeConfig missing = probe(PROBE_TRACEPOINT, "x", "sock/kpe_no_such_event", NULL, 0);
        assert_int_equal(tfs_probe_register(r->t, &missing, &err), -EOPNOTSUPP);
        assert_non_null(err);
        assert_non_null(strstr(err, "this kernel has no tracepoint sock/kpe_no_such_event"));
        assert_non_null(strstr(err, r->t->features.release));
        free(err);
        ProbeConfig typo = probe(PROBE_TRACEPOINT, "x", "sock/inet_sock_set_stat", NULL, 0);
        assert_int_equal(tfs_probe_register(r->t, &typo, &err), -EOPNOTSUPP);
        assert_non_null(strstr(err, "; nearest: sock/inet_sock_set_state"));
        free(err);
        ProbeConfig sneaky = probe(PROBE_TRACEPOINT, "x", "../instances", NULL, 0);
        assert_int_equal(tfs_probe_register(r->t, &sneaky, &err), -EINVAL);
        free(err);

        ProbeConfig p = probe(PROBE_TRACEPOINT, "tcp", "sock/inet_sock_set_state", NULL, 0);
        assert_int_equal(tfs_probe_register(r->t, &p, &err), 0);
        assert_null(err);
        assert_int_equal(tfs_probe_unregister(r->t, &p), 0);

        char **fields = NULL;
        assert_int_equal(tfs_tracepoint_fields(r->root, "sock/inet_sock_set_state", &fields), 10);
        assert_string_equal(fields[3], "dport");
        strv_free(fields);
        assert_int_equal(tfs_tracepoint_fields(r->root, "sock/kpe_no_such_event", &fields), -ENOENT);

        char *global = join(r->root, "events/sock/inet_sock_set_state/enable");
        char *global_before = read_text(global);
        assert_int_equal(tfs_instance_create(r->t), 0);
        assert_int_equal(tfs_instance_setup(r->t), 0);
        assert_int_equal(tfs_event_set_filter(r->t, &p, "dport == 25", &err), 0);
        char *filter = instance_file(r, "events/sock/inet_sock_set_state/filter");
        assert_file_starts(filter, "dport == 25");
        assert_int_equal(tfs_event_enable(r->t, &p, true), 0);
        r->pipe_fd = tfs_open_trace_pipe(r->t);
        assert_true(r->pipe_fd >= 0);

        /* a connect to 127.0.0.1:7 is filtered out, one to :25 is seen
         * (both are refused: nothing listens, state changes happen anyway) */
        for (int port = 7; port <= 25; port += 18) {
                int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                assert_true(s >= 0);
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
                sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                (void) connect(s, (struct sockaddr *) &sa, sizeof(sa));
                close(s);
        }
        char *out = read_pipe_until(r->pipe_fd, "newstate=TCP_SYN_SENT");
        assert_non_null(strstr(out, "inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP"));
        assert_non_null(strstr(out, " dport=25 saddr=127.0.0.1 daddr=127.0.0.1 "));
        assert_null(strstr(out, "dport=7 "));
        free(out);

        char *enable = instance_file(r, "events/sock/inet_sock_set_state/enable");
        assert_file_starts(enable, "1");
        char *global_after = read_text(global);
        assert_string_equal(global_before, global_after);
        assert_int_equal(tfs_event_enable(r->t, &p, false), 0);
        assert_file_starts(enable, "0");
        assert_int_equal(tfs_event_set_filter(r->t, &p, NULL, &err), 0);
        assert_file_starts(filter, "none");

        close(r->pipe_fd);
        r->pipe_fd = -1;
        assert_int_equal(tfs_instance_remove(r->t), 0);
        free(enable);
        free(filter);
        free(global);
        free(global_before);
        free(global_after);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_find_override),
                cmocka_unit_test(test_cpu_stats_fake),
                cmocka_unit_test(test_cleanup_fake_probe_files),
                cmocka_unit_test(test_cleanup_fake_instance),
                cmocka_unit_test(test_new_rejects_names),
                cmocka_unit_test_setup_teardown(test_real_instance, real_setup, real_teardown),
                cmocka_unit_test_setup_teardown(test_real_uprobe_lifecycle, real_setup, real_teardown),
                cmocka_unit_test_setup_teardown(test_real_bad_uprobes, real_setup, real_teardown),
                cmocka_unit_test_setup_teardown(test_real_cleanup_only_ours, real_setup, real_teardown),
                cmocka_unit_test_setup_teardown(test_real_kprobe, real_setup, real_teardown),
                cmocka_unit_test_setup_teardown(test_real_tracepoint, real_setup, real_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
