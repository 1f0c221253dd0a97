#include "rawpipe.h"

#include <errno.h>
#include <unistd.h>

#include "log.h"
#include "rawrec.h"

/* Pages per wakeup and CPU before yielding to HTTP and the other CPUs. */
#define PAGES_PER_WAKEUP 64
/* After a wakeup that found data, the fds rest this long: the kernel wakes
 * a poller of trace_pipe_raw at its first event (buffer_percent 0), so
 * under load a wakeup per few records would cost more than the records;
 * resting batches them (at most 250 wakeups a second per CPU) at the cost
 * of this much delay. */
#define REST_USEC 4000

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
        void *page;
        size_t page_size;
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

/* Returns how many pages were read; -errno when reading failed. */
static int read_cpu(RawPipe *r, RawCpu *c, unsigned max_pages) {
        RawSink sink = { .userdata = r, .record = on_record, .lost = on_lost };
        int pages = 0;
        for (unsigned i = 0; i < max_pages; i++) {
                ssize_t n = read(c->fd, r->page, r->page_size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                if (n == 0)
                        break;
                r->bytes += (uint64_t) n;
                if (rawdec_page(r->decoder, r->page, (size_t) n, (int) c->cpu, &sink, &r->unknown) < 0)
                        r->bad_pages++;
                pages++;
        }
        return pages;
}

static void set_sources(RawPipe *r, int enabled) {
        for (size_t i = 0; i < r->n_cpus; i++)
                if (r->cpus[i].source)
                        (void) sd_event_source_set_enabled(r->cpus[i].source, enabled);
}

static int on_rest_end(sd_event_source *s, uint64_t usec, void *userdata) {
        RawPipe *r = userdata;
        (void) s;
        (void) usec;
        r->resting = false;
        if (!r->failed)
                set_sources(r, SD_EVENT_ON); /* level-triggered: what came meanwhile wakes us at once */
        return 0;
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

static int on_cpu(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        RawCpu *c = userdata;
        RawPipe *r = c->pipe;
        (void) s;
        (void) fd;
        (void) revents;
        int k = read_cpu(r, c, PAGES_PER_WAKEUP);
        if (k < 0) {
                log_error_errno(k, "Reading per_cpu/cpu%u/trace_pipe_raw failed: %m", c->cpu);
                r->failed = true;
                if (r->hooks.failed)
                        r->hooks.failed(r->hooks.userdata, k);
                return 0;
        }
        if (k > 0 && r->hooks.read_some)
                r->hooks.read_some(r->hooks.userdata);
        if (k > 0)
                rest(r);
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
        r->page_size = page_size;
        r->page = xmalloc(page_size);
        r->n_cpus = (size_t) n;
        r->cpus = xcalloc((size_t) n, sizeof(RawCpu));
        unsigned opened = 0;
        for (size_t i = 0; i < r->n_cpus; i++) {
                r->cpus[i] = (RawCpu){ .pipe = r, .cpu = cpus[i], .fd = -1 };
                k = open_cpu(r, &r->cpus[i]);
                if (k >= 0)
                        opened++;
                else
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
        sd_event_source_disable_unref(r->rest);
        free(r->page);
        rawdec_free(r->decoder);
        sd_event_unref(r->event);
        free(r);
        return NULL;
}

void rawpipe_learn(RawPipe *r, const Registry *reg) {
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
        for (size_t i = 0; i < r->n_cpus; i++)
                if (r->cpus[i].fd >= 0 && read_cpu(r, &r->cpus[i], max_pages) < 0)
                        break; /* the io source reports it */
}

void rawpipe_poll_cpus(RawPipe *r) {
        for (size_t i = 0; i < r->n_cpus; i++)
                if (r->cpus[i].fd < 0 && open_cpu(r, &r->cpus[i]) >= 0)
                        log_info("Reading CPU %u now", r->cpus[i].cpu);
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
