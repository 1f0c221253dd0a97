/* Who did it (daemon/attrib.h): cgroup_names() over the cgroup path shapes
 * systemd, docker, containerd (CRI and plain), cri-o, podman and kubelet
 * make, and near misses of them (the views point into the path, or are
 * empty); and the AttribTable fed by fork, exit and cgroup_attach_task:
 * inheritance, moves of a process and of one thread, exited tasks kept for
 * keep_ns, pid reuse, the max_tasks and max_path_bytes bounds (exited tasks
 * go first, then refusal), prune, and repeated calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attrib.h"

/* Two real-looking container ids: sha256 of "kprobe-exporter-container-1"
 * and "-2". */
#define ID1 "80505e08af150b3a92f900b4c2006ca30b6d7147d4e558e8fd8dc6208178d7e3"
#define ID2 "7d4e3d7b774138d84dc0363945178cfee8c9cee20ba35d1298bf9e0bd11e67b2"
#define ID1_63 "80505e08af150b3a92f900b4c2006ca30b6d7147d4e558e8fd8dc6208178d7e"
#define ID1_65 ID1 "0"
#define ID1_UPPER "80505E08AF150B3A92F900B4C2006CA30B6D7147D4E558E8FD8DC6208178D7E3"
/* A pod's uid as the systemd driver escapes it, and as cgroupfs has it. */
#define POD_U "pod1b4e5d3c_7a2f_4c1e_9d8b_3f6a2e1c0b9d"
#define POD_D "pod1b4e5d3c-7a2f-4c1e-9d8b-3f6a2e1c0b9d"
#define BURSTABLE "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-" POD_U ".slice"
#define USER_MGR "/user.slice/user-1000.slice/user@1000.service"

#define KEEP 1000000000ull

/* ---------------------------------------------------------------------- */
/* cgroup_names() */

static bool within(StrView v, const char *buf, size_t len) {
        if (v.n == 0)
                return true;
        uintptr_t p = (uintptr_t) v.p, b = (uintptr_t) buf;
        return p >= b && v.n <= len && p - b <= len - v.n;
}

/* want NULL: only that the view stays within the path. */
static void check_view(const char *what, StrView v, const char *want, const char *buf, size_t len, const char *path) {
        if (!within(v, buf, len))
                fail_msg("%s of \"%s\": view (%p, %zu) outside the path (%p, %zu)", what, path, (const void *) v.p, v.n,
                         (const void *) buf, len);
        if (want && !(v.n == strlen(want) && (v.n == 0 || memcmp(v.p, want, v.n) == 0)))
                fail_msg("%s of \"%s\": got \"%.*s\" (%zu bytes), want \"%s\"", what, path, (int) v.n, v.n ? v.p : "", v.n,
                         want);
}

/* Runs cgroup_names() on a copy of path[0..n) in a buffer of exactly n
 * bytes (no NUL after it: a reader past the view trips the sanitizers),
 * with the result filled with junk first. The caller frees *bufp. */
static CgroupNames names_of(const char *path, size_t n, char **bufp) {
        char *buf = malloc(n ? n : 1);
        if (!buf)
                abort(); /* gcc does not know cmocka's asserts end the test */
        assert_non_null(buf);
        memcpy(buf, path, n);
        static const char junk[] = "junk";
        CgroupNames r = { { junk, 1000000 }, { junk, 1000000 }, { junk, 1000000 } };
        cgroup_names((StrView){ buf, n }, &r);
        *bufp = buf;
        return r;
}

static void check_names(const char *path, size_t n, const char *unit, const char *user_unit, const char *container) {
        char *buf;
        CgroupNames r = names_of(path, n, &buf);
        check_view("unit", r.unit, unit, buf, n, path);
        check_view("user_unit", r.user_unit, user_unit, buf, n, path);
        check_view("container_id", r.container_id, container, buf, n, path);
        free(buf);
}

static const struct {
        const char *path, *unit, *user_unit, *container;
} names_table[] = {
        /* systemd system units */
        { "/system.slice/nginx.service", "nginx.service", "", "" },
        { "/system.slice/nginx.service/worker", "nginx.service", "", "" }, /* a delegated sub-cgroup */
        { "/system.slice/system-getty.slice/getty@tty1.service", "getty@tty1.service", "", "" },
        { "/system.slice/foo.socket", "foo.socket", "", "" },
        { "/system.slice/home.mount", "home.mount", "", "" },
        { "/system.slice/dev-sda2.swap", "dev-sda2.swap", "", "" },
        { "/system.slice/system-systemd\\x2dfsck.slice/systemd-fsck@dev-disk-by\\x2duuid-1234.service",
          "systemd-fsck@dev-disk-by\\x2duuid-1234.service", "", "" },
        { "/init.scope", "init.scope", "", "" },
        /* sessions */
        { "/user.slice/user-1000.slice/session-3.scope", "session-3.scope", "", "" },
        /* the user manager and user units */
        { USER_MGR, "user@1000.service", "", "" },
        { USER_MGR "/app.slice", "user@1000.service", "", "" },
        { USER_MGR "/init.scope", "user@1000.service", "init.scope", "" },
        { USER_MGR "/app.slice/app-gnome-firefox-1234.scope", "user@1000.service", "app-gnome-firefox-1234.scope", "" },
        { USER_MGR "/app.slice/dbus.service", "user@1000.service", "dbus.service", "" },
        { USER_MGR "/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1234.scope", "user@1000.service",
          "vte-spawn-1234.scope", "" },
        { USER_MGR "/session.slice/org.gnome.Shell@wayland.service", "user@1000.service",
          "org.gnome.Shell@wayland.service", "" },
        /* no unit */
        { "", "", "", "" },
        { "/", "", "", "" },
        { "/system.slice", "", "", "" },
        { "/user.slice/user-1000.slice", "", "", "" },
        { BURSTABLE, "", "", "" },
        /* docker */
        { "/system.slice/docker-" ID1 ".scope", "docker-" ID1 ".scope", "", ID1 },
        { "/docker/" ID1, "", "", ID1 },
        /* containerd CRI, systemd driver: burstable, besteffort, guaranteed */
        { BURSTABLE "/cri-containerd-" ID1 ".scope", "cri-containerd-" ID1 ".scope", "", ID1 },
        { "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-" POD_U ".slice/cri-containerd-" ID2 ".scope",
          "cri-containerd-" ID2 ".scope", "", ID2 },
        { "/kubepods.slice/kubepods-" POD_U ".slice/cri-containerd-" ID1 ".scope", "cri-containerd-" ID1 ".scope", "", ID1 },
        /* kubelet with docker, systemd driver */
        { BURSTABLE "/docker-" ID2 ".scope", "docker-" ID2 ".scope", "", ID2 },
        /* kubepods, cgroupfs driver */
        { "/kubepods/burstable/" POD_D "/" ID1, "", "", ID1 },
        { "/kubepods/besteffort/" POD_D "/" ID2, "", "", ID2 },
        { "/kubepods/" POD_D "/" ID2, "", "", ID2 },
        { "/kubepods/burstable/" POD_D, "", "", "" },
        /* cri-o, and its monitor (not a container) */
        { BURSTABLE "/crio-" ID2 ".scope", "crio-" ID2 ".scope", "", ID2 },
        { "/kubepods/burstable/" POD_D "/crio-" ID2, "", "", ID2 },
        { BURSTABLE "/crio-conmon-" ID2 ".scope", "crio-conmon-" ID2 ".scope", "", "" },
        { "/kubepods/burstable/" POD_D "/crio-conmon-" ID2, "", "", "" },
        /* podman: rootful, its "container" sub-cgroup, cgroupfs, conmon, rootless */
        { "/machine.slice/libpod-" ID1 ".scope", "libpod-" ID1 ".scope", "", ID1 },
        { "/machine.slice/libpod-" ID1 ".scope/container", "libpod-" ID1 ".scope", "", ID1 },
        { "/libpod_parent/libpod-" ID1, "", "", ID1 },
        { "/machine.slice/libpod-conmon-" ID1 ".scope", "libpod-conmon-" ID1 ".scope", "", "" },
        { USER_MGR "/user.slice/libpod-" ID1 ".scope/container", "user@1000.service", "libpod-" ID1 ".scope", ID1 },
        { USER_MGR "/user.slice/libpod-conmon-" ID1 ".scope", "user@1000.service", "libpod-conmon-" ID1 ".scope", "" },
        /* containerd without CRI (ctr), in its namespaces */
        { "/default/" ID1, "", "", ID1 },
        { "/k8s.io/" ID2, "", "", ID2 },
        /* nested: the deepest container; the outer unit */
        { "/docker/" ID1 "/docker/" ID2, "", "", ID2 },
        { "/docker/" ID1 "/kubepods/burstable/" POD_D "/" ID2, "", "", ID2 },
        { "/system.slice/docker-" ID1 ".scope/system.slice/nginx.service", "docker-" ID1 ".scope", "", ID1 },
        /* near misses */
        { "/docker/" ID1_63, "", "", "" },
        { "/docker/" ID1_65, "", "", "" },
        { "/docker/" ID1_UPPER, "", "", "" },
        { "/system.slice/docker-" ID1 ".scope.bak", "", "", "" },
        { "/system.slice/docker-" ID1_63 ".scope", "docker-" ID1_63 ".scope", "", "" },
        { "/system.slice/docker-" ID1_65 ".scope", "docker-" ID1_65 ".scope", "", "" },
        { "/system.slice/podman-" ID1 ".scope", "podman-" ID1 ".scope", "", "" }, /* not a prefix of the contract */
        { "/foo/notes.service", "", "", "" },     /* not below slices only */
        { "/system.slice/.service", "", "", "" }, /* no name before the suffix */
        /* empty components and trailing slashes */
        { "/system.slice//nginx.service", "nginx.service", "", "" },
        { "/system.slice/nginx.service/", "nginx.service", "", "" },
        { "//docker//" ID1 "/", "", "", ID1 },
        { "/system.slice/docker-" ID1 ".scope/", "docker-" ID1 ".scope", "", ID1 },
        /* other bytes: containers exact, units only within the path */
        { "/docker/" ID1 "\n", "", "", "" },
        { "/docker/\n" ID1, "", "", "" },
        { "/docker/\x80\xff/" ID1, "", "", ID1 },
        { "/system.slice/nginx.service\n", "", "", "" },
        { "/system.slice/ngi\nnx.service", NULL, "", "" },
        { "/system.slice/caf\xc3\xa9.service", NULL, "", "" },
        { "/system.slice/\xff\xfe\x80.service/docker/" ID2, NULL, "", ID2 },
        { USER_MGR "/app.slice/\x80\n.service", "user@1000.service", NULL, "" },
};

static void test_names_table(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(names_table); i++)
                check_names(names_table[i].path, strlen(names_table[i].path), names_table[i].unit,
                            names_table[i].user_unit, names_table[i].container);
}

/* The container is the deepest one: the view is the last component even
 * when an outer one has the same id. */
static void test_names_deepest(void **state) {
        (void) state;
        static const char p[] = "/docker/" ID1 "/docker/" ID1;
        char *buf;
        CgroupNames r = names_of(p, strlen(p), &buf);
        assert_int_equal(r.container_id.n, 64);
        assert_ptr_equal(r.container_id.p, buf + strlen(p) - 64);
        assert_int_equal(r.unit.n, 0);
        free(buf);

        static const char q[] = "/system.slice/docker-" ID1 ".scope/system.slice/docker-" ID1 ".scope";
        r = names_of(q, strlen(q), &buf);
        assert_int_equal(r.container_id.n, 64);
        assert_ptr_equal(r.container_id.p, buf + strlen(q) - 64 - strlen(".scope"));
        /* the unit is the outer one */
        assert_int_equal(r.unit.n, strlen("docker-" ID1 ".scope"));
        assert_ptr_equal(r.unit.p, buf + strlen("/system.slice/"));
        free(buf);
}

/* Paths of 5000 bytes and more: no crash, exact answers. */
static void test_names_long(void **state) {
        (void) state;
        char *p = malloc(8192);
        if (!p)
                abort(); /* gcc does not know cmocka's asserts end the test */
        assert_non_null(p);

        /* A unit, 2480 small components, then a container. */
        size_t n = 0;
        n += (size_t) sprintf(p + n, "/system.slice/nginx.service");
        for (int i = 0; i < 2480; i++)
                n += (size_t) sprintf(p + n, "/x");
        n += (size_t) sprintf(p + n, "/%s", ID1);
        assert_true(n > 5000);
        check_names(p, n, "nginx.service", "", ID1);

        /* One component of 5000 hex digits. */
        p[0] = '/';
        memset(p + 1, 'a', 5000);
        check_names(p, 5001, "", "", "");

        /* An id repeated 80 times in one component. */
        n = (size_t) sprintf(p, "/docker/");
        for (int i = 0; i < 80; i++)
                n += (size_t) sprintf(p + n, "%s", ID1);
        check_names(p, n, "", "", "");

        /* A unit name of 5000 bytes and a container below it. */
        n = (size_t) sprintf(p, "/system.slice/docker-");
        memset(p + n, 'b', 5000);
        n += 5000;
        n += (size_t) sprintf(p + n, ".scope/%s", ID2);
        check_names(p, n, NULL, "", ID2);

        /* 5000 slashes. */
        memset(p, '/', 5000);
        check_names(p, 5000, "", "", "");

        /* Every prefix of a long real path: no crash, views within. */
        n = (size_t) sprintf(p, "%s", USER_MGR "/user.slice/libpod-" ID1 ".scope/container");
        for (size_t k = 0; k <= n; k++)
                check_names(p, k, NULL, NULL, NULL);
        free(p);
}

/* Every byte value (NUL, newline, 0x80-0xff, '/') in a unit's name: the
 * views stay within the path and the container below is found. */
static void test_names_bytes(void **state) {
        (void) state;
        char p[256];
        for (int b = 0; b < 256; b++) {
                int n = snprintf(p, sizeof(p), "/system.slice/ngi?nx.service/docker/%s", ID1);
                assert_true(n > 0 && (size_t) n < sizeof(p));
                p[strlen("/system.slice/ngi")] = (char) b;
                check_names(p, (size_t) n, NULL, "", ID1);
                /* and in the id itself: no container */
                p[n - 10] = (char) b;
                bool hex = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f');
                char *buf;
                CgroupNames r = names_of(p, (size_t) n, &buf);
                check_view("container_id", r.container_id, hex ? NULL : "", buf, (size_t) n, "(byte in the id)");
                if (hex)
                        assert_int_equal(r.container_id.n, 64);
                free(buf);
        }
}

/* ---------------------------------------------------------------------- */
/* AttribTable */

static AttribTable *table(size_t max_tasks, size_t max_path_bytes, uint64_t keep_ns) {
        AttribLimits l = { .max_tasks = max_tasks, .max_path_bytes = max_path_bytes, .keep_ns = keep_ns };
        AttribTable *t = attrib_new(&l);
        assert_non_null(t);
        return t;
}

static AttribStats stats(const AttribTable *t) {
        AttribStats s;
        memset(&s, 0xA5, sizeof(s));
        attrib_stats(t, &s);
        return s;
}

static void assert_sv(StrView v, const char *want) {
        if (!(v.n == strlen(want) && (v.n == 0 || memcmp(v.p, want, v.n) == 0)))
                fail_msg("got \"%.*s\" (%zu bytes), want \"%s\"", (int) v.n, v.n ? v.p : "", v.n, want);
}

/* lookup(tid, tgid) is path. */
static const Cgroup *in(const AttribTable *t, int32_t tid, int32_t tgid, const char *path) {
        const Cgroup *c = attrib_lookup(t, tid, tgid);
        if (!c)
                fail_msg("lookup(%d, %d): NULL, want \"%s\"", (int) tid, (int) tgid, path);
        assert_sv(c->path, path);
        return c;
}

static void unknown(const AttribTable *t, int32_t tid) {
        const Cgroup *c = attrib_lookup(t, tid, -1);
        if (c)
                fail_msg("lookup(%d): \"%.*s\", want NULL", (int) tid, (int) c->path.n, c->path.p);
        assert_false(attrib_knows(t, tid));
}

static void set(AttribTable *t, int32_t tid, int32_t tgid, const char *path) {
        attrib_set(t, tid, tgid, sv_from(path));
}

static void attach(AttribTable *t, int32_t tid, const char *path, uint64_t ts) {
        attrib_attach(t, tid, sv_from(path), ts);
}

#define DEMO "/kpe.slice/demo.service"
#define CG_A "/system.slice/a.service"
#define CG_B "/system.slice/b.service"
#define CG_C "/system.slice/c.service"

/* Seeding, the names of the interned path, lookups that find nothing. */
static void test_set_lookup(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        AttribStats s = stats(t);
        assert_int_equal(s.tasks, 0);
        assert_int_equal(s.cgroups, 0);
        assert_int_equal(s.path_bytes, 0);
        assert_int_equal(s.refused, 0);
        assert_int_equal(s.evicted, 0);
        assert_int_equal(s.forks, 0);
        assert_int_equal(s.exits, 0);
        assert_int_equal(s.attaches, 0);
        assert_int_equal(s.unknown_parent, 0);
        assert_null(attrib_lookup(t, 100, -1));

        /* The table keeps its own copy of the path. */
        char mine[] = DEMO;
        attrib_set(t, 100, 100, sv_from(mine));
        memset(mine, 'z', strlen(mine));
        const Cgroup *c = in(t, 100, -1, DEMO);
        assert_true((uintptr_t) c->path.p + c->path.n <= (uintptr_t) mine ||
                    (uintptr_t) c->path.p >= (uintptr_t) (mine + sizeof(mine)));
        assert_sv(c->names.unit, "demo.service");
        assert_sv(c->names.user_unit, "");
        assert_sv(c->names.container_id, "");
        assert_true(within(c->names.unit, c->path.p, c->path.n));
        assert_ptr_equal(attrib_lookup(t, 100, 100), c);
        assert_true(attrib_knows(t, 100));

        /* A container's names, from the table's copy. */
        set(t, 200, 200, "/system.slice/docker-" ID1 ".scope");
        c = in(t, 200, 200, "/system.slice/docker-" ID1 ".scope");
        assert_sv(c->names.unit, "docker-" ID1 ".scope");
        assert_sv(c->names.container_id, ID1);
        assert_true(within(c->names.unit, c->path.p, c->path.n));
        assert_true(within(c->names.container_id, c->path.p, c->path.n));

        s = stats(t);
        assert_int_equal(s.tasks, 2);
        assert_int_equal(s.cgroups, 2);
        assert_int_equal(s.path_bytes, strlen(DEMO) + strlen("/system.slice/docker-" ID1 ".scope"));
        assert_int_equal(s.refused, 0);

        /* Not there, and never there. */
        unknown(t, 101);
        assert_null(attrib_lookup(t, 0, -1));
        assert_null(attrib_lookup(t, -1, -1));
        assert_null(attrib_lookup(t, -100, -1));
        assert_null(attrib_lookup(t, 0, 100));
        assert_null(attrib_lookup(t, -1, 100));
        assert_null(attrib_lookup(t, INT32_MIN, 100));
        assert_false(attrib_knows(t, 0));
        assert_false(attrib_knows(t, -1));

        /* A thread the table does not know, of a process it knows: the
         * leader's cgroup. */
        in(t, 101, 100, DEMO);
        unknown(t, 101);
        assert_null(attrib_lookup(t, 101, 300));
        attrib_free(t);
}

/* A child is where its parent is; a fork of a parent not known leaves the
 * child not known. */
static void test_fork(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 100, 100, CG_A);
        set(t, 101, 100, CG_A);

        attrib_fork(t, 100, 100, 200, 10);
        in(t, 200, -1, CG_A);
        in(t, 200, 200, CG_A);
        assert_true(attrib_knows(t, 200));

        /* The parent moving later does not move the child. */
        attach(t, 100, CG_B, 20);
        in(t, 200, -1, CG_A);
        in(t, 100, -1, CG_B);

        /* A thread forking after its whole process moved (recorded on the
         * leader only): the child is in the new cgroup. */
        attrib_fork(t, 101, 100, 201, 30);
        in(t, 201, -1, CG_B);

        /* An unknown parent. */
        attrib_fork(t, 999, 999, 300, 40);
        unknown(t, 300);
        attrib_fork(t, 998, 990, 301, 50);
        unknown(t, 301);

        AttribStats s = stats(t);
        assert_int_equal(s.forks, 4);
        assert_int_equal(s.unknown_parent, 2);
        assert_int_equal(s.attaches, 1);
        assert_int_equal(s.exits, 0);
        assert_int_equal(s.tasks, 4);
        assert_int_equal(s.refused, 0);
        attrib_free(t);
}

/* A process move is recorded on the leader, a thread move on the thread:
 * the one set last wins. */
static void test_attach(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 100, 100, CG_A);
        set(t, 101, 100, CG_A);

        /* The whole process moves to B: the thread's own entry is older. */
        attach(t, 100, CG_B, 10);
        in(t, 101, 100, CG_B);
        in(t, 100, 100, CG_B);
        in(t, 100, -1, CG_B);
        /* Without a tgid, the one the thread was set with: the same. */
        in(t, 101, -1, CG_B);

        /* Then thread 101 alone moves to C: it wins over the leader's. */
        attach(t, 101, CG_C, 20);
        in(t, 101, 100, CG_C);
        in(t, 100, 100, CG_B);

        /* Then the process again, back to A: the leader's entry is newer. */
        attach(t, 100, CG_A, 30);
        in(t, 101, 100, CG_A);

        /* An attach of a task the table did not know tells where it is. */
        attach(t, 500, CG_C, 40);
        in(t, 500, -1, CG_C);

        AttribStats s = stats(t);
        assert_int_equal(s.attaches, 4);
        assert_int_equal(s.tasks, 3);
        assert_int_equal(s.refused, 0);
        attrib_free(t);
}

/* Threaded cgroups: a thread in its own cgroup, then the process moved to
 * the cgroup its leader is already in (the kernel moves every thread and
 * records one attach, on the leader, with the leader's unchanged path). */
/* A new thread belongs to its parent's process (the tgid the parent was
 * set with), so a later move of the process takes it along; a new process
 * is its own. A task forgotten (made straight into a cgroup) is unknown
 * until told. */
static void test_new_thread_and_forget(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 100, 100, CG_A);
        attrib_new_thread(t, 100, -1, 101, 1);
        attrib_fork(t, 101, -1, 200, 2);
        attach(t, 100, CG_B, 3);
        in(t, 101, -1, CG_B); /* the thread went with its process */
        in(t, 200, -1, CG_A); /* the child process did not */
        /* A thread of a thread: still the process's. */
        attrib_new_thread(t, 101, -1, 102, 4);
        attach(t, 100, CG_C, 5);
        in(t, 102, -1, CG_C);
        attrib_forget(t, 200);
        unknown(t, 200);
        attrib_forget(t, 200); /* twice: nothing */
        unknown(t, 200);
        assert_int_equal(stats(t).tasks, 3);
        attrib_free(t);
}

static void test_attach_same_path_process_move(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 100, 100, CG_A);
        set(t, 101, 100, CG_B);
        in(t, 101, 100, CG_B);
        attach(t, 100, CG_A, 10);
        in(t, 101, 100, CG_A);
        in(t, 100, 100, CG_A);
        attrib_free(t);
}

/* An exited task stays known for keep_ns, then is gone. */
static void test_exit_keep(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 1, 1, CG_A);
        set(t, 2, 2, CG_B);
        set(t, 3, 3, CG_B);
        attrib_fork(t, 1, 1, 100, 1000);

        attrib_exit(t, 100, 2000);
        assert_true(attrib_knows(t, 100));
        in(t, 100, -1, CG_A);
        in(t, 100, 100, CG_A);
        AttribStats s = stats(t);
        assert_int_equal(s.exits, 1);
        assert_int_equal(s.tasks, 4);

        /* Another task's exit keep_ns - 1 later: still known. */
        attrib_exit(t, 2, 2000 + KEEP - 1);
        assert_true(attrib_knows(t, 100));
        in(t, 100, -1, CG_A);

        /* One at keep_ns + 1: gone, and not counted as evicted. */
        attrib_exit(t, 3, 2000 + KEEP + 1);
        unknown(t, 100);
        assert_true(attrib_knows(t, 2));
        assert_true(attrib_knows(t, 3));
        in(t, 1, -1, CG_A);
        s = stats(t);
        assert_int_equal(s.tasks, 3);
        assert_int_equal(s.exits, 3);
        assert_int_equal(s.evicted, 0);
        assert_int_equal(s.refused, 0);
        attrib_free(t);
}

/* A pid used again after its exit is the new task, and the old exit does
 * not take it away. */
static void test_pid_reuse(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 1, 1, "/system.slice/old.service");
        set(t, 2, 2, "/system.slice/new.service");
        set(t, 3, 3, CG_A);
        set(t, 100, 100, "/system.slice/old.service");

        attrib_exit(t, 100, 10);
        attrib_fork(t, 2, 2, 100, 20);
        const Cgroup *c = in(t, 100, -1, "/system.slice/new.service");
        assert_sv(c->names.unit, "new.service");
        assert_true(attrib_knows(t, 100));

        /* Past the old exit's keep_ns: still there. */
        attach(t, 3, CG_B, 10 + KEEP + 1);
        in(t, 100, -1, "/system.slice/new.service");
        attach(t, 3, CG_C, 20 + KEEP + 1);
        in(t, 100, -1, "/system.slice/new.service");

        /* Reused by a fork whose parent is not known: not the old task's
         * cgroup either. */
        attrib_exit(t, 2, 30 + KEEP);
        attrib_fork(t, 777, 777, 2, 31 + KEEP);
        unknown(t, 2);

        /* Reused by a seed from /proc too. */
        attrib_exit(t, 3, 32 + KEEP);
        set(t, 3, 3, "/system.slice/old.service");
        attach(t, 1, "/system.slice/old.service", 40 + 3 * KEEP);
        in(t, 3, -1, "/system.slice/old.service");
        assert_int_equal(stats(t).tasks, 3);
        attrib_free(t);
}

/* A pid reused again and again within keep_ns (exit, fork, exit, ...)
 * does not make other exited tasks go early while the table has room. */
static void test_pid_reuse_churn(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 1, 1, CG_A);
        set(t, 200, 200, CG_B);
        attrib_exit(t, 200, 0);
        for (int i = 0; i < 20; i++) {
                attrib_fork(t, 1, 1, 100, 10 + 2 * (uint64_t) i);
                in(t, 100, -1, CG_A);
                attrib_exit(t, 100, 11 + 2 * (uint64_t) i);
                assert_true(stats(t).tasks <= 3);
        }
        assert_true(attrib_knows(t, 200));
        in(t, 200, -1, CG_B);
        AttribStats s = stats(t);
        assert_int_equal(s.tasks, 3);
        assert_int_equal(s.evicted, 0);
        assert_int_equal(s.refused, 0);

        /* Both still go keep_ns after their (last) exit. */
        attach(t, 1, CG_A, 0 + KEEP + 1);
        unknown(t, 200);
        assert_true(attrib_knows(t, 100));
        attach(t, 1, CG_A, 11 + 2 * 19 + KEEP + 1);
        unknown(t, 100);
        assert_int_equal(stats(t).tasks, 1);
        attrib_free(t);
}

/* 1000 forks and exits through a table of 8: exited tasks make room, the
 * live ones stay, never more than 8. */
static void test_max_tasks_exited_first(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 1, 1, CG_A);
        for (int i = 0; i < 1000; i++) {
                int32_t child = 1000 + i;
                attrib_fork(t, 1, 1, child, (uint64_t) i * 10);
                in(t, child, -1, CG_A);
                assert_true(stats(t).tasks <= 8);
                attrib_exit(t, child, (uint64_t) i * 10 + 5);
                assert_true(stats(t).tasks <= 8);
                in(t, 1, -1, CG_A);
        }
        AttribStats s = stats(t);
        assert_int_equal(s.tasks, 8);
        assert_int_equal(s.forks, 1000);
        assert_int_equal(s.exits, 1000);
        assert_int_equal(s.evicted, 1000 - 7);
        assert_int_equal(s.refused, 0);
        assert_int_equal(s.unknown_parent, 0);
        assert_int_equal(s.cgroups, 1);
        /* The ones that exited last are kept (their events are the likeliest
         * still buffered); the oldest went first. */
        for (int32_t tid = 1993; tid <= 1999; tid++)
                in(t, tid, -1, CG_A);
        unknown(t, 1000);
        unknown(t, 1992);
        attrib_free(t);
}

/* Full of live tasks: a new one is refused and counted. */
static void test_max_tasks_live_refused(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        for (int32_t tid = 1; tid <= 8; tid++)
                set(t, tid, tid, CG_A);

        attrib_fork(t, 1, 1, 9, 100);
        unknown(t, 9);
        AttribStats s = stats(t);
        assert_int_equal(s.refused, 1);
        assert_int_equal(s.tasks, 8);
        assert_int_equal(s.forks, 1);
        assert_int_equal(s.unknown_parent, 0);

        set(t, 10, 10, CG_A);
        unknown(t, 10);
        assert_int_equal(stats(t).refused, 2);

        /* Known tasks still move. */
        attach(t, 1, CG_B, 120);
        in(t, 1, -1, CG_B);
        assert_int_equal(stats(t).refused, 2);

        /* An exited task within keep_ns makes room: evicted. */
        attrib_exit(t, 8, 200);
        attrib_fork(t, 1, 1, 9, 300);
        in(t, 9, -1, CG_B);
        unknown(t, 8);
        s = stats(t);
        assert_int_equal(s.evicted, 1);
        assert_int_equal(s.tasks, 8);
        assert_int_equal(s.refused, 2);

        /* One past keep_ns makes room and is not counted as evicted. */
        attrib_exit(t, 7, 400);
        attrib_fork(t, 2, 2, 10, 400 + KEEP + 1);
        in(t, 10, -1, CG_A);
        unknown(t, 7);
        s = stats(t);
        assert_int_equal(s.evicted, 1);
        assert_int_equal(s.tasks, 8);
        assert_int_equal(s.refused, 2);
        for (int32_t tid = 1; tid <= 6; tid++)
                assert_true(attrib_knows(t, tid));
        attrib_free(t);
}

/* Paths of exactly 1000 bytes, all different. The caller frees it. */
static char *long_path(int i) {
        char *p = malloc(1001);
        if (!p)
                abort(); /* gcc does not know cmocka's asserts end the test */
        assert_non_null(p);
        int n = sprintf(p, "/kpe.slice/p%02d-", i);
        memset(p + n, 'x', 1000 - (size_t) n - strlen(".service"));
        memcpy(p + 1000 - strlen(".service"), ".service", strlen(".service") + 1);
        assert_int_equal(strlen(p), 1000);
        return p;
}

/* The bytes of paths stay within max_path_bytes; paths no task uses any
 * longer give their bytes back. */
static void test_path_bytes(void **state) {
        (void) state;
        AttribTable *t = table(64, 4096, KEEP);
        char *p[10];
        for (int i = 0; i < 10; i++)
                p[i] = long_path(i);

        for (int i = 0; i < 10; i++) {
                set(t, i + 1, i + 1, p[i]);
                assert_true(stats(t).path_bytes <= 4096);
        }
        for (int i = 0; i < 4; i++)
                in(t, i + 1, -1, p[i]);
        for (int i = 4; i < 10; i++)
                assert_null(attrib_lookup(t, i + 1, -1));
        AttribStats s = stats(t);
        assert_int_equal(s.cgroups, 4);
        assert_int_equal(s.path_bytes, 4000);
        assert_int_equal(s.refused, 6);
        assert_int_equal(s.tasks, 4);

        /* A path already held costs nothing. */
        set(t, 20, 20, p[0]);
        assert_ptr_equal(in(t, 20, -1, p[0])->path.p, in(t, 1, -1, p[0])->path.p);
        s = stats(t);
        assert_int_equal(s.cgroups, 4);
        assert_int_equal(s.path_bytes, 4000);
        assert_int_equal(s.refused, 6);

        /* A path longer than the bound is refused. */
        char *huge = malloc(5001);
        if (!huge)
                abort(); /* gcc does not know cmocka's asserts end the test */
        assert_non_null(huge);
        memset(huge, 'y', 5000);
        memcpy(huge, "/kpe.slice/", strlen("/kpe.slice/"));
        huge[5000] = 0;
        set(t, 30, 30, huge);
        assert_null(attrib_lookup(t, 30, -1));
        s = stats(t);
        assert_int_equal(s.refused, 7);
        assert_int_equal(s.path_bytes, 4000);

        /* A known task moved to a path that cannot be held is not left
         * attributed to its old cgroup. */
        set(t, 21, 21, p[0]);
        attach(t, 21, huge, 50);
        assert_null(attrib_lookup(t, 21, -1));
        s = stats(t);
        assert_int_equal(s.refused, 8);
        assert_int_equal(s.path_bytes, 4000);

        /* Task 4 moves to p[0]: p[3] is used no more, p[4] fits. */
        attach(t, 4, p[0], 100);
        set(t, 5, 5, p[4]);
        in(t, 5, -1, p[4]);
        s = stats(t);
        assert_int_equal(s.cgroups, 4);
        assert_int_equal(s.path_bytes, 4000);
        assert_int_equal(s.refused, 8);

        /* Tasks 2 and 3 exit; once reaped, their paths go. */
        attrib_exit(t, 2, 200);
        attrib_exit(t, 3, 200);
        attach(t, 20, p[0], 200 + KEEP + 1);
        unknown(t, 2);
        unknown(t, 3);
        s = stats(t);
        assert_int_equal(s.cgroups, 2);
        assert_int_equal(s.path_bytes, 2000);
        set(t, 6, 6, p[5]);
        set(t, 7, 7, p[6]);
        in(t, 6, -1, p[5]);
        in(t, 7, -1, p[6]);
        in(t, 1, -1, p[0]);
        in(t, 4, -1, p[0]);
        in(t, 5, -1, p[4]);
        s = stats(t);
        assert_int_equal(s.cgroups, 4);
        assert_int_equal(s.path_bytes, 4000);
        assert_int_equal(s.refused, 8);
        assert_int_equal(s.evicted, 0);

        free(huge);
        for (int i = 0; i < 10; i++)
                free(p[i]);
        attrib_free(t);
}

typedef struct PruneCalls {
        unsigned calls;
        unsigned seen[16];
} PruneCalls;

static bool alive_even(void *userdata, int32_t tid) {
        PruneCalls *pc = userdata;
        pc->calls++;
        if (tid >= 0 && tid < 16)
                pc->seen[tid]++;
        return tid % 2 == 0;
}

/* Prune drops exactly the tasks alive() says are gone. */
static void test_prune(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 1, 1, "/system.slice/odd.service");
        for (int32_t tid = 2; tid <= 8; tid++)
                set(t, tid, tid, CG_A);

        PruneCalls pc = { 0 };
        assert_int_equal(attrib_prune(t, alive_even, &pc), 4);
        assert_int_equal(pc.calls, 8);
        for (int32_t tid = 1; tid <= 8; tid++) {
                assert_int_equal(pc.seen[tid], 1);
                if (tid % 2)
                        unknown(t, tid);
                else
                        in(t, tid, -1, CG_A);
        }
        AttribStats s = stats(t);
        assert_int_equal(s.tasks, 4);
        assert_int_equal(s.cgroups, 1);
        assert_int_equal(s.path_bytes, strlen(CG_A));

        /* Nothing more to prune; the room is there again. */
        memset(&pc, 0, sizeof(pc));
        assert_int_equal(attrib_prune(t, alive_even, &pc), 0);
        assert_int_equal(pc.calls, 4);
        for (int32_t tid = 9; tid <= 15; tid += 2)
                set(t, tid, tid, CG_B);
        for (int32_t tid = 9; tid <= 15; tid += 2)
                in(t, tid, -1, CG_B);
        s = stats(t);
        assert_int_equal(s.tasks, 8);
        assert_int_equal(s.refused, 0);
        attrib_free(t);
}

static void test_attrib_free(void **state) {
        (void) state;
        assert_null(attrib_free(NULL));
        assert_null(attrib_free(table(8, 4096, KEEP)));
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 1, 1, CG_A);
        attrib_fork(t, 1, 1, 2, 10);
        attrib_exit(t, 2, 20);
        assert_null(attrib_free(t));
}

/* Each call twice in a row: the second changes nothing but the counters. */
static void test_twice(void **state) {
        (void) state;
        AttribTable *t = table(8, 4096, KEEP);
        set(t, 1, 1, CG_A);

        set(t, 100, 100, CG_A);
        const Cgroup *first = in(t, 100, -1, CG_A);
        set(t, 100, 100, CG_A);
        assert_ptr_equal(in(t, 100, -1, CG_A), first);
        AttribStats s = stats(t);
        assert_int_equal(s.tasks, 2);
        assert_int_equal(s.cgroups, 1);
        assert_int_equal(s.path_bytes, strlen(CG_A));
        assert_int_equal(s.refused, 0);

        attach(t, 100, CG_B, 10);
        attach(t, 100, CG_B, 11);
        in(t, 100, -1, CG_B);
        in(t, 100, 100, CG_B);
        s = stats(t);
        assert_int_equal(s.attaches, 2);
        assert_int_equal(s.tasks, 2);
        assert_int_equal(s.cgroups, 2);
        assert_int_equal(s.path_bytes, strlen(CG_A) + strlen(CG_B));

        attrib_fork(t, 1, 1, 200, 12);
        attrib_fork(t, 1, 1, 200, 12);
        in(t, 200, -1, CG_A);
        s = stats(t);
        assert_int_equal(s.forks, 2);
        assert_int_equal(s.tasks, 3);
        assert_int_equal(s.unknown_parent, 0);

        attrib_exit(t, 100, 20);
        attrib_exit(t, 100, 20);
        assert_true(attrib_knows(t, 100));
        in(t, 100, -1, CG_B);
        s = stats(t);
        assert_int_equal(s.exits, 2);
        assert_int_equal(s.tasks, 3);

        /* Gone keep_ns after the (one) exit. */
        attach(t, 1, CG_A, 20 + KEEP + 1);
        unknown(t, 100);
        s = stats(t);
        assert_int_equal(s.tasks, 2);
        assert_int_equal(s.cgroups, 1);
        assert_int_equal(s.path_bytes, strlen(CG_A));
        assert_int_equal(s.evicted, 0);
        attrib_free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_table),
                cmocka_unit_test(test_names_deepest),
                cmocka_unit_test(test_names_long),
                cmocka_unit_test(test_names_bytes),
                cmocka_unit_test(test_set_lookup),
                cmocka_unit_test(test_fork),
                cmocka_unit_test(test_attach),
                cmocka_unit_test(test_new_thread_and_forget),
                cmocka_unit_test(test_attach_same_path_process_move),
                cmocka_unit_test(test_exit_keep),
                cmocka_unit_test(test_pid_reuse),
                cmocka_unit_test(test_pid_reuse_churn),
                cmocka_unit_test(test_max_tasks_exited_first),
                cmocka_unit_test(test_max_tasks_live_refused),
                cmocka_unit_test(test_path_bytes),
                cmocka_unit_test(test_prune),
                cmocka_unit_test(test_attrib_free),
                cmocka_unit_test(test_twice),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
