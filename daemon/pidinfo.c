#include "pidinfo.h"

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

struct PidInfo {
        Slot slots[SLOTS];
        uint64_t proc_reads;
};

PidInfo *pidinfo_new(void) {
        return xcalloc(1, sizeof(PidInfo));
}

PidInfo *pidinfo_free(PidInfo *p) {
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
        if (len == 0 || len >= size)
                return false;
        memcpy(comm, name, len);
        comm[len] = 0;
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

uint64_t pidinfo_proc_reads(const PidInfo *p) {
        return p ? p->proc_reads : 0;
}
