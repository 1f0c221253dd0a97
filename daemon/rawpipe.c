#include "rawpipe.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <unistd.h>

#include "log.h"
#include "rawrec.h"

/* Pages per wakeup and CPU before yielding to HTTP (the records the CPUs'
 * cursors still hold then are handed over at the end of the rest). */
#define PAGES_PER_WAKEUP 64
/* After a wakeup that found data, the fds rest this long: the kernel wakes
 * a poller of trace_pipe_raw at its first event (buffer_percent 0), so
 * under load a wakeup per few records would cost more than the records;
 * resting batches them (at most 250 wakeups a second) at the cost of this
 * much delay. */
#define REST_USEC 4000

/* The CPUs' records are handed over in time order (rawmerge, in rawrec.c):
 * a wakeup of any CPU's fd runs a pass over all of them. */
typedef struct RawCpu {
        RawPipe *pipe;
        unsigned cpu;
        int fd;
        sd_event_source *source;
} RawCpu;

struct RawPipe {
        sd_event *event;
        sd_event_source *rest; /* the timer that ends a rest */
        bool resting;
        Tracefs *tfs;
        RawPipeHooks hooks;
        RawDecoder *decoder;
        RawCpu *cpus;
        size_t n_cpus;
        RawMerge *merge; /* a slot per CPU, as cpus */
        struct pollfd *polls;
        RawSink sink;
        RawMergeIO io;
        uint64_t bytes, unknown, bad_pages;
        bool failed;
};

static void on_record(void *userdata, const Record *rec) {
        RawPipe *r = userdata;
        pipeline_process_record(*r->hooks.pipeline, rec);
}

static void on_lost(void *userdata, int cpu, uint64_t n, bool counted) {
        RawPipe *r = userdata;
        (void) cpu;
        pipeline_count_lost(*r->hooks.pipeline, n, counted);
}

static ssize_t read_cpu(void *userdata, size_t i, void *buf, size_t size) {
        RawPipe *r = userdata;
        for (;;) {
                ssize_t n = read(r->cpus[i].fd, buf, size);
                if (n >= 0)
                        return n;
                if (errno == EAGAIN)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

static int poll_cpus(void *userdata, const size_t *idx, bool *ready, size_t n) {
        RawPipe *r = userdata;
        for (size_t k = 0; k < n; k++)
                r->polls[k] = (struct pollfd){ .fd = r->cpus[idx[k]].fd, .events = POLLIN };
        while (poll(r->polls, (nfds_t) n, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        for (size_t j = 0; j < n; j++)
                ready[j] = r->polls[j].revents != 0; /* errors too: the read reports them */
        return 0;
}

/* A pass over every CPU, reading at most budget pages of each. Returns
 * pages read plus records handed over (0: nothing happened), or -errno
 * when a read failed (*ret_cpu's). *ret_stopped: the budget ended it while
 * cursors may still hold records. */
static int pass(RawPipe *r, unsigned budget, bool *ret_stopped, unsigned *ret_cpu) {
        RawPass p;
        int k = rawmerge_pass(r->merge, r->decoder, &r->io, budget, &r->sink, &r->unknown, &p);
        r->bytes += p.bytes;
        r->bad_pages += p.bad_pages;
        *ret_stopped = p.stopped;
        if (k < 0) {
                *ret_cpu = r->cpus[p.failed >= 0 ? p.failed : 0].cpu;
                return k;
        }
        uint64_t work = p.pages + p.handed;
        return work > INT_MAX ? INT_MAX : (int) work;
}

static int on_rest_end(sd_event_source *s, uint64_t usec, void *userdata);

static void set_sources(RawPipe *r, int enabled) {
        for (size_t i = 0; i < r->n_cpus; i++)
                if (r->cpus[i].source)
                        (void) sd_event_source_set_enabled(r->cpus[i].source, enabled);
}

static void rest(RawPipe *r) {
        uint64_t now = 0;
        if (r->resting || sd_event_now(r->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (!r->rest) {
                if (sd_event_add_time(r->event, &r->rest, CLOCK_MONOTONIC, now + REST_USEC, 1000, on_rest_end, r) < 0)
                        return; /* no timer: read on every wakeup, as without resting */
        } else if (sd_event_source_set_time(r->rest, now + REST_USEC) < 0 ||
                   sd_event_source_set_enabled(r->rest, SD_EVENT_ONESHOT) < 0)
                return;
        r->resting = true;
        set_sources(r, SD_EVENT_OFF);
}

/* A pass of a wakeup, then a rest if it found anything, or if cursors
 * still hold records (no fd may wake us for those: the rest's end hands
 * them over). */
static void run_pass(RawPipe *r) {
        bool stopped;
        unsigned cpu;
        int k = pass(r, PAGES_PER_WAKEUP, &stopped, &cpu);
        if (k < 0) {
                log_error_errno(k, "Reading per_cpu/cpu%u/trace_pipe_raw failed: %m", cpu);
                r->failed = true;
                set_sources(r, SD_EVENT_OFF);
                if (r->hooks.failed)
                        r->hooks.failed(r->hooks.userdata, k);
                return;
        }
        if (k > 0 && r->hooks.read_some)
                r->hooks.read_some(r->hooks.userdata);
        if (k > 0 || stopped)
                rest(r);
}

static int on_rest_end(sd_event_source *s, uint64_t usec, void *userdata) {
        RawPipe *r = userdata;
        (void) s;
        (void) usec;
        r->resting = false;
        if (r->failed)
                return 0;
        if (rawmerge_holds(r->merge))
                run_pass(r);
        if (!r->resting && !r->failed)
                set_sources(r, SD_EVENT_ON); /* level-triggered: what came meanwhile wakes us at once */
        return 0;
}

static int on_cpu(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        RawCpu *c = userdata;
        (void) s;
        (void) fd;
        (void) revents;
        if (!c->pipe->failed)
                run_pass(c->pipe);
        return 0;
}

static int open_cpu(RawPipe *r, RawCpu *c) {
        int fd = tfs_open_cpu_raw(r->tfs, c->cpu);
        if (fd < 0)
                return fd;
        int k = sd_event_add_io(r->event, &c->source, fd, EPOLLIN, on_cpu, c);
        if (k < 0) {
                close(fd);
                return k;
        }
        c->fd = fd;
        return 0;
}

int rawpipe_new(sd_event *e, Tracefs *t, const RawPipeHooks *hooks, RawPipe **ret) {
        _cleanup_buf_ Buf header = { 0 };
        size_t page_size = 0;
        int k = tfs_read_header_page(t, &header);
        if (k < 0 || rawdec_parse_header_page(header.data ? header.data : "", &page_size) < 0)
                return log_error_errno(k < 0 ? k : -EBADMSG, "Cannot read the ring buffer's page layout (events/header_page): %m");

        unsigned *cpus = NULL;
        int n = tfs_list_cpus(t, &cpus);
        if (n <= 0) {
                free(cpus);
                return log_error_errno(n < 0 ? n : -ENODEV, "Cannot list the CPUs of %s: %m", t->instance_dir);
        }
        /* On any data: the default (50 on 6.x) would hold events back
         * until half the buffer is full. */
        k = tfs_instance_set_buffer_percent(t, 0);
        if (k < 0 && k != -ENOENT)
                log_warning_errno(k, "Cannot set buffer_percent of %s: %m", t->instance_dir);

        RawPipe *r = xcalloc(1, sizeof(RawPipe));
        r->event = sd_event_ref(e);
        r->tfs = t;
        r->hooks = *hooks;
        r->decoder = rawdec_new();
        r->sink = (RawSink){ .userdata = r, .record = on_record, .lost = on_lost };
        r->io = (RawMergeIO){ .userdata = r, .read = read_cpu, .poll = poll_cpus };
        r->n_cpus = (size_t) n;
        r->cpus = xcalloc((size_t) n, sizeof(RawCpu));
        r->polls = xcalloc((size_t) n, sizeof(struct pollfd));
        r->merge = rawmerge_new((size_t) n, cpus, page_size);
        unsigned opened = 0;
        for (size_t i = 0; i < r->n_cpus; i++) {
                r->cpus[i] = (RawCpu){ .pipe = r, .cpu = cpus[i], .fd = -1 };
                k = open_cpu(r, &r->cpus[i]);
                if (k >= 0) {
                        rawmerge_set_open(r->merge, i, true);
                        opened++;
                } else
                        log_debug("per_cpu/cpu%u/trace_pipe_raw cannot be opened yet: %s", cpus[i], strerror(-k));
        }
        free(cpus);
        if (opened == 0) {
                rawpipe_free(r);
                return log_error_errno(-ENODEV, "Cannot open any trace_pipe_raw of %s", t->instance_dir);
        }
        *ret = r;
        return 0;
}

RawPipe *rawpipe_free(RawPipe *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_cpus; i++) {
                sd_event_source_disable_unref(r->cpus[i].source);
                if (r->cpus[i].fd >= 0)
                        close(r->cpus[i].fd);
        }
        free(r->cpus);
        free(r->polls);
        rawmerge_free(r->merge);
        sd_event_source_disable_unref(r->rest);
        rawdec_free(r->decoder);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

void rawpipe_learn(RawPipe *r, const Registry *reg) {
        /* The cursors hold nothing of the old probes: a reload drains
         * before it switches (rawpipe_drain). */
        rawdec_free(r->decoder);
        r->decoder = rawdec_new();
        for (size_t i = 0; i < reg->n_probes; i++) {
                if (reg->probes[i].state != PROBE_STATE_REGISTERED)
                        continue;
                const ProbeConfig *c = reg->probes[i].config;
                _cleanup_buf_ Buf format = { 0 };
                _cleanup_free_ char *why = NULL;
                int k = tfs_event_format(r->tfs, c, &format);
                if (k >= 0)
                        k = rawdec_add_probe(r->decoder, (uint32_t) i, c, format.data ? format.data : "", &why);
                if (k < 0)
                        log_error("Probe '%s': its records cannot be read: %s", c->name, why ? why : strerror(-k));
        }
}

void rawpipe_drain(RawPipe *r, unsigned max_pages) {
        if (r->failed)
                return;
        bool stopped;
        unsigned cpu;
        if (pass(r, max_pages, &stopped, &cpu) < 0)
                return; /* the io source reports it */
        /* Up to the bound: what the cursors still hold goes too (what the
         * kernel still holds is the caller's to count). */
        if (stopped)
                (void) rawmerge_flush(r->merge, r->decoder, &r->sink, &r->unknown);
}

void rawpipe_poll_cpus(RawPipe *r) {
        for (size_t i = 0; i < r->n_cpus; i++)
                if (r->cpus[i].fd < 0 && open_cpu(r, &r->cpus[i]) >= 0) {
                        rawmerge_set_open(r->merge, i, true);
                        log_info("Reading CPU %u now", r->cpus[i].cpu);
                }
}

uint64_t rawpipe_bytes(const RawPipe *r) {
        return r ? r->bytes : 0;
}

uint64_t rawpipe_unknown_records(const RawPipe *r) {
        return r ? r->unknown : 0;
}

void rawpipe_cpus(const RawPipe *r, unsigned *open, unsigned *all) {
        *open = *all = 0;
        for (size_t i = 0; r && i < r->n_cpus; i++) {
                (*all)++;
                *open += r->cpus[i].fd >= 0;
        }
}
