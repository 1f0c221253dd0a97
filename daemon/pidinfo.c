#include "pidinfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define SLOTS 4096u /* a power of two */
#define TTL_NSEC 1000000000ull

typedef struct Slot {
        int32_t pid, tgid;
        bool known;
        uint8_t comm_len;
        uint64_t at;
        char comm[64];
} Slot;

#define CG_SLOTS 1024u /* a power of two */

/* The cgroup cache, for lookups the kernel's events cannot answer. */
typedef struct CgSlot {
        int32_t pid, tgid;
        bool known;
        uint64_t at;
        char *path;
} CgSlot;

struct PidInfo {
        Slot slots[SLOTS];
        uint64_t proc_reads;
        int hierarchy; /* followed by attribution; -1: none */
        CgSlot cg[CG_SLOTS];
};

PidInfo *pidinfo_new(void) {
        PidInfo *p = xcalloc(1, sizeof(PidInfo));
        p->hierarchy = -1;
        return p;
}

PidInfo *pidinfo_free(PidInfo *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < CG_SLOTS; i++)
                free(p->cg[i].path);
        free(p);
        return NULL;
}

static uint64_t now_nsec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

/* One read of /proc/PID/status gives both name and tgid. */
static bool read_status(int32_t pid, char *comm, size_t size, int32_t *tgid) {
        char path[64], text[1024];
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (n <= 0)
                return false;
        text[n] = 0;

        const char *name = strncmp(text, "Name:\t", 6) == 0 ? text + 6 : NULL;
        const char *tg = strstr(text, "\nTgid:\t");
        if (!name || !tg)
                return false;
        size_t len = strcspn(name, "\n");
        if (len == 0 || proc_name_unescape((StrView){ name, len }, comm, size) <= 0)
                return false;
        int64_t v;
        tg += 7;
        if (parse_i64((StrView){ tg, strcspn(tg, "\n") }, &v) < 0 || v <= 0 || v > INT32_MAX)
                return false;
        *tgid = (int32_t) v;
        return true;
}

bool pidinfo_resolve(void *userdata, int32_t pid, char *comm, size_t size, int32_t *tgid) {
        PidInfo *p = userdata;
        if (pid <= 0)
                return false;
        Slot *s = &p->slots[(uint32_t) pid & (SLOTS - 1)];
        uint64_t now = now_nsec();
        if (s->pid != pid || now - s->at > TTL_NSEC) {
                p->proc_reads++;
                *s = (Slot){ .pid = pid, .at = now };
                s->known = read_status(pid, s->comm, sizeof(s->comm), &s->tgid);
                s->comm_len = s->known ? (uint8_t) strlen(s->comm) : 0;
        }
        /* The per-record path: no strlen, one copy. */
        if (!s->known || s->comm_len >= size)
                return false;
        memcpy(comm, s->comm, (size_t) s->comm_len + 1);
        *tgid = s->tgid;
        return true;
}

void pidinfo_forget(void *userdata, int32_t pid) {
        PidInfo *p = userdata;
        Slot *s = &p->slots[(uint32_t) pid & (SLOTS - 1)];
        if (pid > 0 && s->pid == pid)
                s->pid = 0;
}

uint64_t pidinfo_proc_reads(const PidInfo *p) {
        return p ? p->proc_reads : 0;
}

/* ---- cgroups --------------------------------------------------------------- */


static bool read_small(const char *path, char *text, size_t size, size_t *len) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        size_t n = 0;
        for (;;) {
                ssize_t k = read(fd, text + n, size - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t) k;
                if (n == size - 1)
                        break;
        }
        close(fd);
        text[n] = 0;
        *len = n;
        return n > 0;
}

/* The task's path in the followed hierarchy, into out (a new string). */
static bool read_cgroup(int hierarchy, int32_t pid, char **out) {
        char file[64];
        static char text[16384];
        size_t len;
        snprintf(file, sizeof(file), "/proc/%d/cgroup", (int) pid);
        if (!read_small(file, text, sizeof(text), &len))
                return false;
        StrView path;
        if (!cgroup_proc_path((StrView){ text, len }, hierarchy, &path))
                return false;
        *out = xstrndup(path.p, path.n);
        return true;
}

int pidinfo_cgroup_hierarchy(char *what, size_t size) {
        char text[16384];
        size_t len;
        if (!read_small("/proc/self/cgroup", text, sizeof(text), &len))
                return errno > 0 ? -errno : -ENOENT;
        int id = cgroup_pick_hierarchy((StrView){ text, len });
        if (id < 0)
                return -ENOENT;
        if (id == 0)
                snprintf(what, size, "the unified hierarchy (cgroup v2)");
        else
                snprintf(what, size, "systemd's name=systemd hierarchy (cgroup v1, id %d)", id);
        return id;
}

void pidinfo_set_hierarchy(PidInfo *p, int id) {
        p->hierarchy = id;
}

bool pidinfo_resolve_cgroup(void *userdata, int32_t pid, Buf *path, int32_t *tgid) {
        PidInfo *p = userdata;
        if (pid <= 0 || p->hierarchy < 0)
                return false;
        CgSlot *s = &p->cg[(uint32_t) pid & (CG_SLOTS - 1)];
        uint64_t now = now_nsec();
        if (s->pid != pid || now - s->at > TTL_NSEC) {
                p->proc_reads++;
                free(s->path);
                *s = (CgSlot){ .pid = pid, .at = now, .tgid = -1 };
                s->known = read_cgroup(p->hierarchy, pid, &s->path);
                char comm[64];
                int32_t t;
                if (s->known && pidinfo_resolve(p, pid, comm, sizeof(comm), &t))
                        s->tgid = t;
        }
        if (!s->known)
                return false;
        buf_puts(path, s->path);
        *tgid = s->tgid;
        return true;
}

static bool all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

size_t pidinfo_seed(PidInfo *p, AttribTable *t) {
        size_t n = 0;
        DIR *proc = opendir("/proc");
        if (!proc || p->hierarchy < 0) {
                if (proc)
                        closedir(proc);
                return 0;
        }
        struct dirent *d;
        while ((d = readdir(proc))) {
                if (!all_digits(d->d_name))
                        continue;
                int32_t pid = (int32_t) strtol(d->d_name, NULL, 10);
                _cleanup_(freep) char *path = NULL;
                p->proc_reads++;
                if (pid <= 0 || !read_cgroup(p->hierarchy, pid, &path))
                        continue;
                char dir[64];
                snprintf(dir, sizeof(dir), "/proc/%d/task", (int) pid);
                DIR *tasks = opendir(dir);
                if (!tasks) {
                        attrib_set(t, pid, pid, sv_from(path));
                        n++;
                        continue;
                }
                struct dirent *k;
                while ((k = readdir(tasks)))
                        if (all_digits(k->d_name)) {
                                attrib_set(t, (int32_t) strtol(k->d_name, NULL, 10), pid, sv_from(path));
                                n++;
                        }
                closedir(tasks);
        }
        closedir(proc);
        return n;
}

bool pidinfo_task_alive(void *userdata, int32_t tid) {
        (void) userdata;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d", (int) tid);
        return access(path, F_OK) == 0;
}
