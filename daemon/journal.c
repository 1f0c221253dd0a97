#include "journal.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "journal_fields.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

struct Journal {
        int fd;
        struct sockaddr_un addr;
        socklen_t addr_len;
        JournalEntry entry;
        Buf datagram;
};

Journal *journal_new(const char *socket_path) {
        Journal *j = xcalloc(1, sizeof(Journal));
        const char *path = socket_path ? socket_path : JOURNAL_SOCKET;
        j->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        j->addr.sun_family = AF_UNIX;
        snprintf(j->addr.sun_path, sizeof(j->addr.sun_path), "%s", path);
        j->addr_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(j->addr.sun_path) + 1);
        if (j->fd >= 0) {
                /* Room for a burst of entries while journald catches up. */
                int size = 8 << 20;
                (void) setsockopt(j->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        }
        return j;
}

Journal *journal_free(Journal *j) {
        if (!j)
                return NULL;
        if (j->fd >= 0)
                close(j->fd);
        journal_entry_done(&j->entry);
        buf_free(&j->datagram);
        free(j);
        return NULL;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return (uint64_t) ts.tv_sec * 1000000ull + (uint64_t) ts.tv_nsec / 1000;
}

void journal_hook(void *userdata, Probe *pr, const RingEventView *ev) {
        Journal *j = userdata;
        if (!pipeline_journal_admit(pr, now_usec()))
                return;
        journal_entry_build(&j->entry, pr->config->name, ev);
        journal_entry_serialize(&j->entry, &j->datagram);
        ssize_t n = j->fd < 0 ? -1
                              : sendto(j->fd, j->datagram.data, j->datagram.len, MSG_NOSIGNAL | MSG_DONTWAIT,
                                       (const struct sockaddr *) &j->addr, j->addr_len);
        if (n < 0)
                pr->journal_failed++;
        else
                pr->journal_sent++;
}
