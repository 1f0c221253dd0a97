#include "manager.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "expo.h"
#include "http.h"
#include "lines.h"
#include "log.h"
#include "procstat.h"
#include "registry.h"
#include "journal.h"
#include "pidinfo.h"
#include "rawpipe.h"
#include "reload.h"

#define READ_BUFFER_SIZE (1024 * 1024)
/* Reads per wakeup before yielding to HTTP and timers: a flood must not
 * starve scrapes, and the kernel keeps what we did not read yet. */
#define READS_PER_WAKEUP 16
#define MAX_CPUS 1024
#define STATS_INTERVAL_USEC (10 * 1000000ULL)

struct Manager {
        Pipeline *pipeline;
        Registry *registry; /* the kernel side of pipeline's probes */
        ManagerOptions opts;
        Tracefs *tracefs;
        bool torn_down;
        uint64_t reloads_ok, reloads_failed;
        bool last_reload_failed;

        sd_event *event;
        sd_event_source *pipe_source;
        sd_event_source *stats_timer;
        HttpServer *http;
        HttpApi api;
        HttpStats http_stats;
        int pipe_fd;        /* text reader: trace_pipe */
        RawPipe *raw;       /* binary reader: per_cpu/cpuN/trace_pipe_raw */
        PidInfo *pids;
        Journal *journal;
        bool attr_warned;
        LineReader lines;
        bool reading;
        uint64_t bytes_read;
        uint64_t lost_logged;
        uint64_t misses_logged;

        TracefsCpuStats *stats; /* last read, per CPU */
        int n_stats;
        TracefsCpuStats *stats_logged;

        HttpBody *metrics_cache[2]; /* the last /metrics rendering: text, OpenMetrics */
        uint64_t metrics_cache_usec[2];
};


int manager_new(Config *config, const ManagerOptions *opts, Manager **ret) {
        Manager *m = xcalloc(1, sizeof(Manager));
        m->opts = *opts;
        m->pipe_fd = -1;
        m->pids = pidinfo_new();
        int r = pipeline_new(config, pidinfo_resolve, m->pids, &m->pipeline);
        if (r < 0) {
                http_security_done(&m->opts.security);
                pidinfo_free(m->pids);
                free(m);
                return r;
        }
        m->pipeline->forget_comm = pidinfo_forget;
        /* Attribution's hierarchy and the journal are set up whether this
         * config needs them or not: a reload may turn them on. */
        char what[128];
        int root = pidinfo_cgroup_hierarchy(what, sizeof(what));
        if (root >= 0) {
                pidinfo_set_hierarchy(m->pids, root);
                m->pipeline->cgroup_root = root;
                m->pipeline->resolve_cgroup = pidinfo_resolve_cgroup;
                m->pipeline->cgroup_userdata = m->pids;
                if (config->attribution)
                        log_info("Following tasks' cgroups in %s", what);
        } else if (config->attribution)
                log_warning("No cgroup hierarchy found in /proc/self/cgroup: labels cgroup, unit, user_unit and "
                            "container_id stay empty");
        m->journal = journal_new(m->opts.journal_socket);
        m->pipeline->journal = journal_hook;
        m->pipeline->journal_userdata = m->journal;
        m->stats = xcalloc(MAX_CPUS, sizeof(TracefsCpuStats));
        m->stats_logged = xcalloc(MAX_CPUS, sizeof(TracefsCpuStats));
        linereader_init(&m->lines, READ_BUFFER_SIZE);
        *ret = m;
        return 0;
}

/* ---- HTTP callbacks ---------------------------------------------------- */

static void render_metrics(Manager *m, Expo *out);

static void render_kernel_stats(Manager *m, Expo *out) {
        int n = m->tracefs ? tfs_read_cpu_stats(m->tracefs, m->stats, MAX_CPUS) : -ENODEV;
        if (n < 0)
                return;
        m->n_stats = n;
        static const char *const cpu_label[] = { "cpu" };
        char cpu[16];
        expo_put_header(out, "kprobe_exporter_ring_buffer_overrun_total", "counter",
                        "Events the kernel overwrote in our instance's ring buffer before they were read (per_cpu/cpuN/stats overrun).");
        for (int i = 0; i < n; i++) {
                snprintf(cpu, sizeof(cpu), "%u", m->stats[i].cpu);
                expo_put_sample_u64(out, "kprobe_exporter_ring_buffer_overrun_total", cpu_label,
                                    (StrView[]){ sv_from(cpu) }, 1, m->stats[i].overrun);
        }
        expo_put_header(out, "kprobe_exporter_ring_buffer_dropped_events_total", "counter",
                        "Events the kernel dropped because our instance's ring buffer was full (per_cpu/cpuN/stats dropped events).");
        for (int i = 0; i < n; i++) {
                snprintf(cpu, sizeof(cpu), "%u", m->stats[i].cpu);
                expo_put_sample_u64(out, "kprobe_exporter_ring_buffer_dropped_events_total", cpu_label,
                                    (StrView[]){ sv_from(cpu) }, 1, m->stats[i].dropped_events);
        }
}

/* Rendering 10,000 series costs a few ms of the one loop that also reads
 * trace_pipe: 50 scrapers hammering /metrics would starve the reader. So a
 * rendering is served again to scrapes within METRICS_CACHE_USEC of it
 * (Prometheus scrapes every few seconds; a dashboard never notices). */
#define METRICS_CACHE_USEC (200 * 1000ULL)

/* Returns of kretprobes the kernel missed (kprobe_profile): with too few
 * maxactive instances (5.10 gives one per CPU without preemption) calls in
 * flight at once are not seen. Per probe; *total gets their sum. */
static void render_kprobe_misses(Manager *m, Expo *out, uint64_t *total) {
        *total = 0;
        if (!m->tracefs || !m->registry || !tfs_may_have(m->tracefs, FEATURE_KPROBE_EVENTS))
                return;
        _cleanup_buf_ Buf profile = { 0 };
        if (tfs_read_kprobe_profile(m->tracefs, &profile) < 0 || !profile.data)
                return;
        static const char *const probe_label[] = { "probe" };
        bool header = false;
        for (size_t i = 0; i < m->registry->n_probes; i++) {
                const RegProbe *e = &m->registry->probes[i];
                uint64_t hits, misses;
                if (!e->defined || (e->config->type != PROBE_KPROBE && e->config->type != PROBE_KRETPROBE) ||
                    tfs_parse_kprobe_profile(profile.data, e->config->name, &hits, &misses) < 0)
                        continue;
                if (out && !header) {
                        expo_put_header(out, "kprobe_exporter_kprobe_misses_total", "counter",
                                        "Hits of a kprobe or kretprobe the kernel missed (kprobe_profile); for a "
                                        "kretprobe, calls in flight beyond its maxactive instances.");
                        header = true;
                }
                if (out)
                        expo_put_sample_u64(out, "kprobe_exporter_kprobe_misses_total", probe_label,
                                            (StrView[]){ sv_from(e->config->name) }, 1, misses);
                *total += misses;
        }
}

static HttpBody *http_metrics(void *userdata, ExpoFormat format) {
        Manager *m = userdata;
        uint64_t now = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        HttpBody **cache = &m->metrics_cache[format == EXPO_OPENMETRICS];
        uint64_t *at = &m->metrics_cache_usec[format == EXPO_OPENMETRICS];
        if (*cache && now - *at < METRICS_CACHE_USEC)
                return http_body_ref(*cache);
        _cleanup_buf_ Buf b = { 0 };
        /* The size of the last rendering, so that the buffer grows once. */
        buf_reserve(&b, http_body_size(*cache));
        Expo e = { .out = &b, .format = format };
        /* Exemplar times: the mono trace clock is CLOCK_MONOTONIC. */
        struct timespec rt, mono;
        if (m->tracefs && m->tracefs->clock_is_monotonic && clock_gettime(CLOCK_REALTIME, &rt) == 0 &&
            clock_gettime(CLOCK_MONOTONIC, &mono) == 0) {
                e.has_epoch = true;
                e.epoch_offset_ns = ((int64_t) rt.tv_sec - (int64_t) mono.tv_sec) * 1000000000 +
                                    ((int64_t) rt.tv_nsec - (int64_t) mono.tv_nsec);
        }
        render_metrics(m, &e);
        expo_end(&e);
        *at = now;
        http_body_unref(*cache); /* responses still sending it keep it */
        *cache = http_body_new(&b);
        return http_body_ref(*cache);
}

/* The kernel's counts of the metrics it aggregates, read now: a scrape
 * sees them as they are (renders are cached, like the rest of /metrics). */
static void read_kernel_hists(Manager *m) {
        _cleanup_buf_ Buf text = { 0 };
        for (size_t i = 0; m->tracefs && i < m->pipeline->n_probes; i++) {
                Probe *pr = &m->pipeline->probes[i];
                for (size_t k = 0; k < pr->n_metrics; k++) {
                        const MetricPlan *plan = &pr->metrics[k];
                        if (!plan->kh.kernel || !plan->kh_live)
                                continue;
                        buf_clear(&text);
                        int r = registry_khist_read(m->registry, &plan->kh, &text);
                        if (r >= 0)
                                r = pipeline_apply_hist(m->pipeline, i, k, text.data ? text.data : "", text.len);
                        else
                                pipeline_hist_unread(m->pipeline, i, k);
                        if (r < 0)
                                log_debug("Reading the kernel's counts of metric '%s' failed: %s",
                                          plan->config->name, strerror(-r));
                }
        }
}

static void render_metrics(Manager *m, Expo *out) {
        read_kernel_hists(m);
        pipeline_render_metrics(m->pipeline, out);
        render_kernel_stats(m, out);
        uint64_t misses;
        render_kprobe_misses(m, out, &misses);
        if (m->tracefs)
                features_render_metrics(&m->tracefs->features, out);

        expo_put_counter(out, "kprobe_exporter_trace_pipe_read_bytes_total",
                         "Bytes read from trace_pipe (text reader) or per_cpu/cpuN/trace_pipe_raw (binary reader).",
                         m->bytes_read + rawpipe_bytes(m->raw));
        expo_put_counter(out, "kprobe_exporter_unknown_records_total",
                         "Binary records of events that are not (or no longer) our probes'.",
                         rawpipe_unknown_records(m->raw));
        expo_put_counter(out, "kprobe_exporter_proc_reads_total",
                         "Reads of /proc/PID/status for the comm or tgid of a record that has none.",
                         pidinfo_proc_reads(m->pids));
        static const char *const reader_label[] = { "reader" };
        expo_put_header(out, "kprobe_exporter_reader_info", "gauge",
                        "1, labeled by how the kernel's events are read: binary (trace_pipe_raw) or text (trace_pipe).");
        expo_put_sample_u64(out, "kprobe_exporter_reader_info", reader_label,
                            (StrView[]){ m->opts.text_reader ? SV("text") : SV("binary") }, 1, 1);
        expo_put_counter(out, "kprobe_exporter_overlong_lines_total",
                         "trace_pipe lines dropped for being longer than the read buffer.",
                         m->lines.overlong);
        http_render_metrics(m->http, &m->http_stats, out);
        static const char *const result_label[] = { "result" };
        expo_put_header(out, "kprobe_exporter_config_reloads_total", "counter",
                        "Config reloads (SIGHUP), by result: a failed one changed nothing.");
        expo_put_sample_u64(out, "kprobe_exporter_config_reloads_total", result_label,
                            (StrView[]){ SV("success") }, 1, m->reloads_ok);
        expo_put_sample_u64(out, "kprobe_exporter_config_reloads_total", result_label,
                            (StrView[]){ SV("failure") }, 1, m->reloads_failed);
        expo_put_header(out, "kprobe_exporter_config_last_reload_successful", "gauge",
                        "0 if the last reload was refused (the config file is invalid), else 1.");
        expo_put_sample_u64(out, "kprobe_exporter_config_last_reload_successful", NULL, NULL, 0,
                            !m->last_reload_failed);

        static const char *const build_labels[] = { "version" };
        expo_put_header(out, "kprobe_exporter_build_info", "gauge", "A metric with a constant '1' value labeled by version.");
        expo_put_sample_u64(out, "kprobe_exporter_build_info", build_labels,
                            (StrView[]){ sv_from(PROJECT_VERSION) }, 1, 1);
        procstat_render(out);
}

static void http_probes(void *userdata, Buf *out) {
        Manager *m = userdata;
        _cleanup_free_ ProbeStatus *status = xcalloc(m->pipeline->n_probes ? m->pipeline->n_probes : 1,
                                                     sizeof(ProbeStatus));
        registry_status(m->registry, status);
        m->pipeline->trace_clock = m->tracefs ? m->tracefs->clock : NULL;
        pipeline_render_probes(m->pipeline, status, m->tracefs ? &m->tracefs->features : NULL, out);
}

static int http_events_page(void *userdata, const EventQuery *q, Buf *out) {
        Manager *m = userdata;
        return pipeline_render_events(m->pipeline, q, out);
}

static size_t http_events_stream(void *userdata, const EventQuery *q, uint64_t *cursor, Buf *out) {
        Manager *m = userdata;
        return pipeline_stream_events(m->pipeline, q, cursor, out);
}

static bool http_healthy(void *userdata) {
        Manager *m = userdata;
        return m->reading;
}

/* ---- trace_pipe -------------------------------------------------------- */

static void on_line(void *userdata, const char *line, size_t len) {
        Manager *m = userdata;
        uint64_t errors = m->pipeline->parse_errors;
        pipeline_process_line(m->pipeline, line, len);
        if (m->pipeline->parse_errors != errors && log_get_max_level() >= LOG_DEBUG)
                log_debug("Unparsed trace_pipe line: %.*s", (int) (len > 512 ? 512 : len), line);
}

/* Reads up to max_reads buffers of trace_pipe into the running pipeline.
 * Returns 0 when the pipe is empty or the limit was reached, 1 at a read
 * error (logged; reading stops). */
static int read_pipe(Manager *m, int max_reads) {
        uint64_t before = ring_next_seq(m->pipeline->ring);
        int ret = 0;
        for (int i = 0; i < max_reads; i++) {
                size_t avail;
                char *p = linereader_space(&m->lines, &avail);
                ssize_t n = read(m->pipe_fd, p, avail);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        log_error_errno(errno, "Reading trace_pipe failed: %m");
                        m->reading = false;
                        ret = 1;
                        break;
                }
                if (n == 0)
                        break;
                m->bytes_read += (uint64_t) n;
                linereader_commit(&m->lines, (size_t) n, on_line, m);
        }
        if (ring_next_seq(m->pipeline->ring) != before)
                http_server_notify(m->http);
        return ret;
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        if (read_pipe(m, READS_PER_WAKEUP) > 0)
                return sd_event_exit(sd_event_source_get_event(s), 1);
        return 0;
}

/* What a reload must read before it switches pipelines and removes probes:
 * all the kernel buffered. A read of trace_pipe returns a page of text at
 * most, one of trace_pipe_raw one sub-buffer; the bound is several times a
 * default buffer (1.4 MB per CPU), for continued probes that never let the
 * buffer run dry. What stays is counted as lost by flush_pipe(). */
#define DRAIN_MAX_READS 4096

static void drain_pipe(void *userdata) {
        Manager *m = userdata;
        if (m->raw && m->reading)
                rawpipe_drain(m->raw, DRAIN_MAX_READS);
        else if (m->pipe_fd >= 0 && m->reading && read_pipe(m, DRAIN_MAX_READS) > 0)
                (void) sd_event_exit(m->event, 1);
}

/* Before a reload removes a probe, which empties our instance's buffer:
 * read what is there, and count what could not be read as lost. */
static void flush_pipe(void *userdata) {
        Manager *m = userdata;
        drain_pipe(m);
        int n = tfs_read_cpu_stats(m->tracefs, m->stats, MAX_CPUS);
        uint64_t left = 0;
        for (int i = 0; i < n; i++)
                left += m->stats[i].entries;
        if (left > 0) {
                pipeline_count_lost(m->pipeline, left, true);
                log_warning("Reload: %llu buffered events could not be read before a probe's removal emptied the "
                            "buffer (counted in kprobe_exporter_lost_events_total)",
                            (unsigned long long) left);
        }
}

/* After a reload switched pipelines: the binary reader learns the events
 * of the probes now running, by their new indices. */
static void attribution_ready(Manager *m);

static void reload_switched(void *userdata) {
        Manager *m = userdata;
        if (m->raw)
                rawpipe_learn(m->raw, m->registry);
        attribution_ready(m);
}

/* Once the attribution probes run (their events now reach the buffer),
 * the tasks already running are read from /proc: nothing falls between
 * the two. Without them every lookup asks /proc. */
static void attribution_ready(Manager *m) {
        Pipeline *p = m->pipeline;
        if (!p->attr)
                return;
        /* A reload calls this before it registers its new probes too: only
         * a refused one is worth a warning. */
        bool events = true, refused = false;
        for (size_t i = 0; i < p->n_probes; i++) {
                if (p->probes[i].config->role == ATTRIB_ROLE_NONE)
                        continue;
                ProbeState st = i < m->registry->n_probes ? m->registry->probes[i].state : PROBE_STATE_PENDING;
                events &= p->probes[i].live && st == PROBE_STATE_REGISTERED;
                refused |= st == PROBE_STATE_FAILED || st == PROBE_STATE_UNAVAILABLE;
        }
        /* A gap in the events (a reload that registers a role's probe
         * anew) means a fill from /proc again once they run. */
        if (!events)
                p->attr_seeded = false;
        if (events && !p->attr_seeded) {
                size_t n = pidinfo_seed(m->pids, p->attr);
                p->attr_seeded = true;
                log_info("Attribution: %zu tasks read from /proc; the kernel's fork, exit and cgroup events keep "
                         "them from now on", n);
        }
        if (refused && (p->attr_events || !m->attr_warned))
                log_warning("Attribution: the fork, exit or cgroup events do not run (see /probes): each event's "
                            "cgroup is read from /proc, which misses processes that exit at once");
        m->attr_warned |= refused;
        p->attr_events = events;
}

static void raw_read_some(void *userdata) {
        Manager *m = userdata;
        http_server_notify(m->http);
}

static void raw_failed(void *userdata, int err) {
        Manager *m = userdata;
        (void) err;
        m->reading = false;
        (void) sd_event_exit(m->event, 1);
}

static uint64_t total_events(const Manager *m) {
        uint64_t n = 0;
        for (size_t i = 0; i < m->pipeline->n_probes; i++)
                n += m->pipeline->probes[i].events;
        return n;
}

static void notify_status(Manager *m) {
        /* The kernel's stats and the LOST lines count the same events: the
         * stats are complete, the lines only what the pipe reported. */
        uint64_t lost = 0;
        for (int i = 0; i < m->n_stats; i++)
                lost += m->stats[i].overrun + m->stats[i].dropped_events;
        if (m->pipeline->lost_events > lost)
                lost = m->pipeline->lost_events;
        sd_notifyf(0, "STATUS=%zu/%zu probes registered, %llu events, %llu lost",
                   registry_count(m->registry, PROBE_STATE_REGISTERED), m->pipeline->n_probes,
                   (unsigned long long) total_events(m), (unsigned long long) lost);
}

/* Lost events are never silent: besides the counters, every increase of the
 * kernel's per-CPU overrun/dropped stats is logged. */
static int on_stats_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        /* Logged here, at most once per interval: a flood would otherwise
         * log once per read. */
        if (m->pipeline->lost_reports != m->lost_logged) {
                log_warning("trace_pipe reported lost events: %llu so far (kprobe_exporter_lost_events_total)",
                            (unsigned long long) m->pipeline->lost_events);
                m->lost_logged = m->pipeline->lost_reports;
        }
        if (m->raw)
                rawpipe_poll_cpus(m->raw);
        /* Tasks whose exit was lost (lost events) would fill the table. */
        if (m->pipeline->attr) {
                AttribStats as;
                attrib_stats(m->pipeline->attr, &as);
                if (as.tasks > PIPELINE_ATTRIB_MAX_TASKS / 10 * 9)
                        (void) attrib_prune(m->pipeline->attr, pidinfo_task_alive, NULL);
        }
        uint64_t misses;
        render_kprobe_misses(m, NULL, &misses);
        if (misses > m->misses_logged) {
                log_warning("The kernel missed %llu kprobe hits so far (kprobe_exporter_kprobe_misses_total): a "
                            "kretprobe has fewer instances (maxactive) than calls in flight",
                            (unsigned long long) misses);
                m->misses_logged = misses;
        }
        int n = tfs_read_cpu_stats(m->tracefs, m->stats, MAX_CPUS);
        if (n >= 0) {
                m->n_stats = n;
                for (int i = 0; i < n; i++) {
                        uint64_t over = m->stats[i].overrun - m->stats_logged[i].overrun;
                        uint64_t drop = m->stats[i].dropped_events - m->stats_logged[i].dropped_events;
                        if (over || drop)
                                log_warning("CPU %u: the kernel lost %llu events to ring buffer overrun and dropped %llu (reader too slow or buffer_size_kb too small)",
                                            m->stats[i].cpu, (unsigned long long) over, (unsigned long long) drop);
                        m->stats_logged[i] = m->stats[i];
                }
        }
        notify_status(m);
        sd_event_source_set_time(s, usec + STATS_INTERVAL_USEC);
        sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

/* SIGHUP, the web config: new users and headers at once; new TLS
 * material (a renewed certificate) through a new server on the same
 * socket. An invalid web config is logged and changes nothing. */
static int reload_web_config(Manager *m) {
        _cleanup_(config_errors_clear) ConfigErrors errs = { 0 };
        HttpSecurity sec;
        int r = http_security_load(m->opts.web_config_path, &sec, &errs);
        if (r < 0) {
                _cleanup_buf_ Buf report = { 0 };
                config_errors_render(&errs, m->opts.web_config_path, &report);
                log_error("%.*s%s: %zu error(s); the web config in use is kept", (int) report.len,
                          report.data ? report.data : "", m->opts.web_config_path, errs.n);
                return r;
        }
        r = http_server_set_security(m->http, &sec);
        if (r == -EBUSY) {
                log_info("%s: TLS changed: restarting the HTTP server on the same socket", m->opts.web_config_path);
                r = http_server_restart(&m->http, &sec);
                if (r < 0) {
                        log_error_errno(r, "Cannot restart the HTTP server with the new TLS setup: %m; stopping");
                        (void) sd_event_exit(m->event, 1);
                }
        }
        http_security_done(&sec);
        return r;
}

/* SIGHUP: see reload_apply(). An invalid config changes nothing. */
static int manager_reload(Manager *m) {
        uint64_t now = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) now);
        log_info("Reloading %s", m->opts.config_path);

        Reloader ctx = {
                .config_path = m->opts.config_path,
                .tracefs_root = m->opts.tracefs_root,
                .text_reader = m->opts.text_reader,
                .pipeline = &m->pipeline,
                .registry = &m->registry,
                .drain = drain_pipe,
                .switched = reload_switched,
                .flush = flush_pipe,
                .userdata = m,
        };
        int r = reload_apply(&ctx, NULL);
        if (m->opts.web_config_path) {
                int w = reload_web_config(m);
                if (r >= 0)
                        r = w;
        }
        m->last_reload_failed = r < 0;
        if (r < 0)
                m->reloads_failed++;
        else
                m->reloads_ok++;
        m->metrics_cache[0] = http_body_unref(m->metrics_cache[0]); /* the next scrape shows the new state */
        m->metrics_cache[1] = http_body_unref(m->metrics_cache[1]);
        sd_notify(0, "READY=1");
        notify_status(m);
        return r;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        if (si->ssi_signo == SIGHUP) {
                (void) manager_reload(userdata);
                return 0;
        }
        log_info("Received %s, shutting down", strsignal((int) si->ssi_signo));
        sd_notify(0, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* ---- setup and teardown ------------------------------------------------ */

int manager_teardown(Manager *m) {
        m->torn_down = true;
        if (m->pipe_source)
                m->pipe_source = sd_event_source_disable_unref(m->pipe_source);
        m->reading = false;
        if (m->pipe_fd >= 0) {
                close(m->pipe_fd);
                m->pipe_fd = -1;
        }
        m->raw = rawpipe_free(m->raw); /* its fds hold the instance busy */
        if (!m->registry)
                return 0;
        int r = registry_teardown(m->registry);
        for (size_t i = 0; i < m->pipeline->n_probes; i++)
                pipeline_set_live(m->pipeline, i, false);
        return r;
}

static int add_signal(Manager *m, int sig) {
        int r = sd_event_add_signal(m->event, NULL, sig, on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch %s: %m", strsignal(sig));
        return 0;
}

int manager_start(Manager *m) {
        int r;
        const Config *cfg = m->pipeline->config;

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create event loop: %m");

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        /* A log reader that goes away (a closed pipe on stderr) must not kill
         * us before we remove our probes; MHD sends with MSG_NOSIGNAL. */
        signal(SIGPIPE, SIG_IGN);
        if ((r = add_signal(m, SIGTERM)) < 0 || (r = add_signal(m, SIGINT)) < 0 || (r = add_signal(m, SIGHUP)) < 0)
                return r;
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Cannot set up the watchdog: %m");

        /* HTTP first: a taken port must fail before anything is written to
         * the kernel. */
        m->api = (HttpApi){
                .userdata = m,
                .metrics = http_metrics,
                .probes = http_probes,
                .events_page = http_events_page,
                .events_stream = http_events_stream,
                .healthy = http_healthy,
        };
        r = http_server_new(m->event, m->opts.listen_address, m->opts.listen_fd, &m->api, &m->opts.security,
                            &m->http_stats, &m->http);
        if (r < 0)
                return log_error_errno(r, "Cannot listen on %s: %m", m->opts.listen_address);

        r = tfs_new(m->opts.tracefs_root, m->opts.name, &m->tracefs);
        if (r < 0)
                return log_error_errno(r, "Cannot use tracefs at %s: %m", m->opts.tracefs_root);

        unsigned removed = 0;
        r = tfs_cleanup(m->tracefs, &removed);
        if (r == -EBUSY)
                return log_error_errno(r, "Instance %s is in use: is another kprobe-exporter with --tracefs.instance=%s running?",
                                       m->tracefs->instance_dir, m->tracefs->name);
        if (r < 0)
                return log_error_errno(r, "Removing leftovers of an earlier run failed: %m");
        if (removed > 0)
                log_notice("Removed %u leftovers of an earlier run (group and instance %s)", removed, m->tracefs->name);

        m->registry = registry_new(m->tracefs, cfg);
        m->registry->pipeline = m->pipeline;
        r = registry_create_instance(m->registry);
        if (r < 0)
                goto fail;
        /* With the instance's clock known: the latencies' triggers name it. */
        pipeline_plan_kernel(m->pipeline, &m->tracefs->features, m->tracefs->name, m->tracefs->clock);

        size_t failed = 0;
        for (size_t i = 0; i < m->pipeline->n_probes; i++) {
                bool ok = registry_register(m->registry, i, cfg->path);
                pipeline_set_live(m->pipeline, i, ok);
                failed += !ok;
                if (failed > 0 && cfg->strict)
                        break;
        }
        registry_symbols_done(m->registry);
        if (failed == 0 || !cfg->strict)
                failed += registry_khist_install(m->registry, cfg->path);
        if (failed > 0 && cfg->strict) {
                log_error("A probe failed and strict is set: removing what was registered and exiting");
                r = -EINVAL;
                goto fail;
        }
        if (failed == m->pipeline->n_probes) {
                log_error("No probe could be registered");
                r = -ENOENT;
                goto fail;
        }

        attribution_ready(m);

        if (m->opts.text_reader) {
                r = tfs_open_trace_pipe(m->tracefs);
                if (r < 0) {
                        log_error_errno(r, "Cannot open trace_pipe of %s: %m", m->tracefs->instance_dir);
                        goto fail;
                }
                m->pipe_fd = r;
                r = sd_event_add_io(m->event, &m->pipe_source, m->pipe_fd, EPOLLIN, on_pipe, m);
                if (r < 0) {
                        log_error_errno(r, "Cannot watch trace_pipe: %m");
                        goto fail;
                }
        } else {
                RawPipeHooks hooks = {
                        .userdata = m,
                        .pipeline = &m->pipeline,
                        .read_some = raw_read_some,
                        .failed = raw_failed,
                };
                r = rawpipe_new(m->event, m->tracefs, &hooks, &m->raw);
                if (r < 0)
                        goto fail;
                rawpipe_learn(m->raw, m->registry);
        }
        m->reading = true;

        uint64_t now = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(m->event, &m->stats_timer, CLOCK_MONOTONIC, now + STATS_INTERVAL_USEC, 0,
                              on_stats_timer, m);
        if (r < 0) {
                log_error_errno(r, "Cannot add the stats timer: %m");
                goto fail;
        }
        (void) sd_event_source_set_enabled(m->stats_timer, SD_EVENT_ON);

        unsigned cpus_open = 0, cpus_all = 0;
        rawpipe_cpus(m->raw, &cpus_open, &cpus_all);
        if (m->raw)
                log_info("Reading the binary ring buffer of %u of %u CPUs (per_cpu/cpuN/trace_pipe_raw)", cpus_open,
                         cpus_all);
        log_info("Listening on port %u; %zu of %zu probes registered in %s", http_server_port(m->http),
                 m->pipeline->n_probes - failed, m->pipeline->n_probes, m->tracefs->instance_dir);
        sd_notify(0, "READY=1");
        notify_status(m);
        return 0;

fail:
        (void) manager_teardown(m);
        return r;
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), 1;
        return r;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        if (!m->torn_down)
                (void) manager_teardown(m);
        sd_event_source_unref(m->stats_timer);
        http_server_free(m->http);
        http_security_done(&m->opts.security); /* when the server never took it */
        sd_event_unref(m->event);
        registry_free(m->registry);
        tfs_free(m->tracefs);
        pipeline_free(m->pipeline);
        linereader_done(&m->lines);
        pidinfo_free(m->pids);
        journal_free(m->journal);
        http_body_unref(m->metrics_cache[0]);
        http_body_unref(m->metrics_cache[1]);
        free(m->stats);
        free(m->stats_logged);
        free(m);
        return NULL;
}
