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

#define READ_BUFFER_SIZE (1024 * 1024)
/* Reads per wakeup before yielding to HTTP and timers: a flood must not
 * starve scrapes, and the kernel keeps what we did not read yet. */
#define READS_PER_WAKEUP 16
#define MAX_CPUS 1024
#define STATS_INTERVAL_USEC (10 * 1000000ULL)

struct Manager {
        Pipeline *pipeline;
        ManagerOptions opts;
        Tracefs *tracefs;
        bool instance_created;
        bool kallsyms_warned;

        sd_event *event;
        sd_event_source *pipe_source;
        sd_event_source *stats_timer;
        HttpServer *http;
        int pipe_fd;
        LineReader lines;
        bool reading;
        uint64_t bytes_read;
        uint64_t lost_logged;

        TracefsCpuStats *stats; /* last read, per CPU */
        int n_stats;
        TracefsCpuStats *stats_logged;

        Buf metrics_cache; /* the last /metrics rendering */
        uint64_t metrics_cache_usec;
};

static bool resolve_comm(void *userdata, int32_t pid, char *comm, size_t size, int32_t *tgid);

static bool probe_is_kprobe_kind(const ProbeConfig *c) {
        return c->type != PROBE_TRACEPOINT;
}

int manager_new(Config *config, const ManagerOptions *opts, Manager **ret) {
        Manager *m = xcalloc(1, sizeof(Manager));
        m->opts = *opts;
        m->pipe_fd = -1;
        int r = pipeline_new(config, &m->pipeline);
        if (r < 0) {
                free(m);
                return r;
        }
        m->pipeline->resolve_comm = resolve_comm;
        m->pipeline->resolve_userdata = m;
        m->stats = xcalloc(MAX_CPUS, sizeof(TracefsCpuStats));
        m->stats_logged = xcalloc(MAX_CPUS, sizeof(TracefsCpuStats));
        linereader_init(&m->lines, READ_BUFFER_SIZE);
        *ret = m;
        return 0;
}

static bool strv_contains(char **v, const char *s) {
        for (; v && *v; v++)
                if (strcmp(*v, s) == 0)
                        return true;
        return false;
}

size_t manager_check_config(const Config *c, const char *root, ConfigErrors *errs) {
        size_t unchecked = 0;
        char events[PATH_MAX];
        bool readable = root && (size_t) snprintf(events, sizeof(events), "%s/events", root) < sizeof(events) &&
                        access(events, R_OK | X_OK) == 0;
        for (size_t i = 0; i < c->n_probes; i++) {
                const ProbeConfig *p = &c->probes[i];
                if (p->type != PROBE_TRACEPOINT)
                        continue;
                char **fields = NULL;
                int r = readable ? tfs_tracepoint_fields(root, p->target, &fields) : -ENODEV;
                if (r < 0) {
                        /* A missing tracepoint fails at registration, like a
                         * bad symbol; an unreadable tracefs is the caller's to say. */
                        unchecked += r != -ENOENT;
                        continue;
                }
                for (size_t m = 0; m < p->n_metrics; m++)
                        for (size_t l = 0; l < p->metrics[m].n_labels; l++) {
                                const char *label = p->metrics[m].labels[l];
                                if (!label_is_builtin(label) && !strv_contains(fields, label))
                                        config_errors_add(errs, p->metrics[m].label_line[l],
                                                          p->metrics[m].label_column[l],
                                                          "label '%s' is not a field of tracepoint %s", label,
                                                          p->target);
                        }
                for (size_t d = 0; d < p->n_decoders; d++)
                        if (!strv_contains(fields, p->decoders[d].field))
                                config_errors_add(errs, p->decoders[d].line, p->decoders[d].column,
                                                  "decode: '%s' is not a field of tracepoint %s",
                                                  p->decoders[d].field, p->target);
                strv_free(fields);
        }
        return unchecked;
}

/* ---- HTTP callbacks ---------------------------------------------------- */

static void render_metrics(Manager *m, Buf *out);

static void render_kernel_stats(Manager *m, Buf *out) {
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

static void http_metrics(void *userdata, Buf *out) {
        Manager *m = userdata;
        uint64_t now = 0;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (m->metrics_cache.data && now - m->metrics_cache_usec < METRICS_CACHE_USEC) {
                buf_append(out, m->metrics_cache.data, m->metrics_cache.len);
                return;
        }
        buf_clear(&m->metrics_cache);
        render_metrics(m, &m->metrics_cache);
        m->metrics_cache_usec = now;
        buf_append(out, m->metrics_cache.data, m->metrics_cache.len);
}

static void render_metrics(Manager *m, Buf *out) {
        pipeline_render_metrics(m->pipeline, out);
        render_kernel_stats(m, out);
        if (m->tracefs)
                features_render_metrics(&m->tracefs->features, out);

        expo_put_counter(out, "kprobe_exporter_trace_pipe_read_bytes_total",
                         "Bytes read from trace_pipe.",
                         m->bytes_read);
        expo_put_counter(out, "kprobe_exporter_overlong_lines_total",
                         "trace_pipe lines dropped for being longer than the read buffer.",
                         m->lines.overlong);

        static const char *const build_labels[] = { "version" };
        expo_put_header(out, "kprobe_exporter_build_info", "gauge", "A metric with a constant '1' value labeled by version.");
        expo_put_sample_u64(out, "kprobe_exporter_build_info", build_labels,
                            (StrView[]){ sv_from(PROJECT_VERSION) }, 1, 1);
        procstat_render(out);
}

static void http_probes(void *userdata, Buf *out) {
        Manager *m = userdata;
        pipeline_render_probes(m->pipeline, m->tracefs ? &m->tracefs->features : NULL, out);
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

/* See CommResolver: /proc usually still knows a task the kernel has not
 * named yet. One read of /proc/PID/status gives both name and tgid. */
static bool resolve_comm(void *userdata, int32_t pid, char *comm, size_t size, int32_t *tgid) {
        char path[64], text[1024];
        if (pid <= 0)
                return false;
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

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        (void) s;
        (void) revents;
        uint64_t before = ring_next_seq(m->pipeline->ring);

        for (int i = 0; i < READS_PER_WAKEUP; i++) {
                size_t avail;
                char *p = linereader_space(&m->lines, &avail);
                ssize_t n = read(fd, p, avail);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        log_error_errno(errno, "Reading trace_pipe failed: %m");
                        m->reading = false;
                        return sd_event_exit(sd_event_source_get_event(s), 1);
                }
                if (n == 0)
                        break;
                m->bytes_read += (uint64_t) n;
                linereader_commit(&m->lines, (size_t) n, on_line, m);
        }

        if (ring_next_seq(m->pipeline->ring) != before)
                http_server_notify(m->http);
        return 0;
}

static uint64_t total_events(const Manager *m) {
        uint64_t n = 0;
        for (size_t i = 0; i < m->pipeline->n_probes; i++)
                n += m->pipeline->probes[i].events;
        return n;
}

static size_t registered_probes(const Manager *m) {
        size_t n = 0;
        for (size_t i = 0; i < m->pipeline->n_probes; i++)
                n += m->pipeline->probes[i].state == PROBE_STATE_REGISTERED;
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
        sd_notifyf(0, "STATUS=%zu/%zu probes registered, %llu events, %llu lost", registered_probes(m),
                   m->pipeline->n_probes, (unsigned long long) total_events(m), (unsigned long long) lost);
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

static int manager_reload(Manager *m);

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

static int unregister_probe(Manager *m, Probe *p);

static void probe_fail(Manager *m, size_t i, int err, char *kernel_text) {
        Probe *p = &m->pipeline->probes[i];
        p->state = err == -EOPNOTSUPP ? PROBE_STATE_UNAVAILABLE : PROBE_STATE_FAILED;
        free(p->error);
        if (kernel_text)
                p->error = kernel_text;
        else {
                Buf b = { 0 };
                buf_printf(&b, "%s", strerror(-err));
                p->error = buf_steal(&b);
        }
        log_error("%s:%u: probe '%s' (%s %s) %s: %s", m->pipeline->config->path, p->config->line,
                  p->config->name, probe_type_to_string(p->config->type), p->config->target,
                  p->state == PROBE_STATE_UNAVAILABLE ? "is unavailable" : "failed", p->error);
        /* Defined but its filter or enable refused: it must not linger. */
        unregister_probe(m, p);
}

/* After a round of registrations: says once when kprobe targets went
 * unchecked, and frees the symbol table. */
static void symbols_done(Manager *m) {
        if (m->tracefs->symbols && m->tracefs->kallsyms_error < 0 && !m->kallsyms_warned) {
                log_notice("kprobe targets were not checked against /proc/kallsyms (%s): a missing function is "
                           "reported by the kernel alone", strerror(-m->tracefs->kallsyms_error));
                m->kallsyms_warned = true;
        }
        tfs_symbols_release(m->tracefs);
}

static void register_probe(Manager *m, size_t i) {
        Probe *p = &m->pipeline->probes[i];
        const ProbeConfig *c = p->config;
        char *err = NULL;
        int r;

        if (probe_is_kprobe_kind(c)) {
                Buf def = { 0 };
                if (tfs_probe_definition(c, m->tracefs->name, &def) >= 0)
                        p->definition = buf_steal(&def);
                buf_free(&def);
        }
        r = tfs_probe_register(m->tracefs, c, &err);
        if (r < 0)
                return probe_fail(m, i, r, err);
        p->defined = probe_is_kprobe_kind(c);

        if (c->filter) {
                r = tfs_event_set_filter(m->tracefs, c, c->filter, &err);
                if (r < 0)
                        return probe_fail(m, i, r, err);
        }
        r = tfs_event_enable(m->tracefs, c, true);
        if (r < 0)
                return probe_fail(m, i, r, NULL);
        p->state = PROBE_STATE_REGISTERED;
        log_info("Probe '%s' registered: %s", c->name, p->definition ? p->definition : c->target);
}

/* Disables a probe's event in our instance and removes its definition. */
static int unregister_probe(Manager *m, Probe *p) {
        int r = 0;
        if (p->state == PROBE_STATE_REGISTERED || p->defined)
                (void) tfs_event_enable(m->tracefs, p->config, false);
        if (p->defined) {
                r = tfs_probe_unregister(m->tracefs, p->config);
                if (r < 0)
                        log_error_errno(r, "Removing probe %s/%s failed: %m", m->tracefs->name, p->config->name);
                else
                        p->defined = false;
        }
        return r;
}

int manager_teardown(Manager *m) {
        int ret = 0;
        if (m->pipe_source)
                m->pipe_source = sd_event_source_disable_unref(m->pipe_source);
        m->reading = false;
        if (m->tracefs)
                for (size_t i = 0; i < m->pipeline->n_probes; i++) {
                        Probe *p = &m->pipeline->probes[i];
                        if (p->state == PROBE_STATE_REGISTERED || p->defined)
                                (void) tfs_event_enable(m->tracefs, p->config, false);
                }
        if (m->pipe_fd >= 0) {
                close(m->pipe_fd);
                m->pipe_fd = -1;
        }
        /* The instance goes before the probes: a probe enabled anywhere
         * cannot be removed (EBUSY), and removing the instance disables
         * whatever is still enabled in it. */
        if (m->tracefs && m->instance_created) {
                int r = tfs_instance_remove(m->tracefs);
                if (r < 0) {
                        log_error_errno(r, "Removing instance %s failed: %m", m->tracefs->instance_dir);
                        ret = r;
                } else
                        m->instance_created = false;
        }
        if (m->tracefs)
                for (size_t i = 0; i < m->pipeline->n_probes; i++) {
                        int r = unregister_probe(m, &m->pipeline->probes[i]);
                        if (r < 0 && ret == 0)
                                ret = r;
                }
        return ret;
}

/* ---- reload ------------------------------------------------------------ */

static void log_config_errors(const ConfigErrors *errs, const char *path) {
        char *text = NULL, *data = NULL;
        size_t len = 0, size = 0;
        (void) config_read_file(path, &text, &len);
        FILE *f = open_memstream(&data, &size);
        if (!f) {
                free(text);
                return;
        }
        config_errors_write(errs, path, text, len, f);
        fclose(f);
        /* One journal entry per line, each with its priority. */
        for (char *line = data, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                if (nl)
                        *nl = 0;
                log_error("%s", line);
        }
        free(data);
        free(text);
}

/* SIGHUP: parse the config into a new pipeline and, only if it is valid,
 * apply the difference. Probes whose kernel side and decoders are unchanged
 * stay registered without a gap and keep their counters; removed and
 * changed ones are disabled and removed first (a changed probe keeps its
 * name, which the kernel allows only once), then new and changed ones are
 * registered. An invalid config changes nothing. strict applies to startup
 * only: a probe the kernel refuses on reload is reported failed. */
static int manager_reload(Manager *m) {
        uint64_t now;
        sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) now);
        log_info("Reloading %s", m->opts.config_path);

        Config *config = NULL;
        ConfigErrors errs = { 0 };
        int r = config_load_file(m->opts.config_path, &config, &errs);
        if (r >= 0)
                manager_check_config(config, m->opts.tracefs_root, &errs);
        if (r < 0 || errs.n > 0) {
                log_config_errors(&errs, m->opts.config_path);
                log_error("%s: %zu error(s); the running config stays as it was", m->opts.config_path, errs.n);
                config_errors_clear(&errs);
                config_free(config);
                sd_notify(0, "READY=1");
                return -EINVAL;
        }
        if (config->listen && strcmp(config->listen, m->pipeline->config->listen ? m->pipeline->config->listen : "") != 0)
                log_notice("'listen' changed: it applies at the next restart");

        Pipeline *next = NULL;
        r = pipeline_new(config, &next);
        if (r < 0) {
                sd_notify(0, "READY=1");
                return log_error_errno(r, "Reload failed: %m");
        }
        next->resolve_comm = m->pipeline->resolve_comm;
        next->resolve_userdata = m->pipeline->resolve_userdata;
        Pipeline *prev = m->pipeline;
        pipeline_adopt(next, prev);

        size_t removed = 0, added = 0, kept = 0;
        for (size_t i = 0; i < prev->n_probes; i++)
                if (!prev->probes[i].kept) {
                        unregister_probe(m, &prev->probes[i]);
                        removed++;
                }
        /* Lines already buffered for the old probes are read with the old
         * pipeline, so they are counted where they belong. */
        m->pipeline = prev;
        if (m->pipe_fd >= 0)
                (void) on_pipe(m->pipe_source, m->pipe_fd, EPOLLIN, m);
        m->pipeline = next;
        pipeline_free(prev);

        for (size_t i = 0; i < next->n_probes; i++) {
                if (next->probes[i].kept) {
                        kept++;
                        continue;
                }
                register_probe(m, i);
                added++;
        }
        symbols_done(m);
        buf_free(&m->metrics_cache); /* the next scrape shows the new config */
        log_info("Reloaded: %zu probe(s) kept with their counters, %zu removed, %zu registered", kept, removed, added);
        sd_notify(0, "READY=1");
        notify_status(m);
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
        sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
        sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);
        sd_event_add_signal(m->event, NULL, SIGHUP, on_signal, m);
        (void) sd_event_set_watchdog(m->event, true);

        /* HTTP first: a taken port must fail before anything is written to
         * the kernel. */
        static HttpApi api;
        api = (HttpApi){
                .userdata = m,
                .metrics = http_metrics,
                .probes = http_probes,
                .events_page = http_events_page,
                .events_stream = http_events_stream,
                .healthy = http_healthy,
        };
        r = http_server_new(m->event, m->opts.listen_address, m->opts.listen_fd, &api, &m->http);
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

        r = tfs_instance_create(m->tracefs);
        if (r < 0)
                return log_error_errno(r, "Cannot create instance %s: %m", m->tracefs->instance_dir);
        m->instance_created = true;
        r = tfs_instance_setup(m->tracefs);
        if (r < 0) {
                log_error_errno(r, "Cannot set options of instance %s: %m", m->tracefs->instance_dir);
                goto fail;
        }

        size_t failed = 0;
        for (size_t i = 0; i < m->pipeline->n_probes; i++) {
                register_probe(m, i);
                failed += m->pipeline->probes[i].state == PROBE_STATE_FAILED ||
                          m->pipeline->probes[i].state == PROBE_STATE_UNAVAILABLE;
                if (failed > 0 && cfg->strict)
                        break;
        }
        symbols_done(m);
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
        m->reading = true;

        uint64_t now;
        sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(m->event, &m->stats_timer, CLOCK_MONOTONIC, now + STATS_INTERVAL_USEC, 0,
                              on_stats_timer, m);
        if (r >= 0)
                sd_event_source_set_enabled(m->stats_timer, SD_EVENT_ON);

        log_info("Listening on port %u; %zu of %zu probes registered in %s", http_server_port(m->http),
                 m->pipeline->n_probes - failed, m->pipeline->n_probes, m->tracefs->instance_dir);
        sd_notify(0, "READY=1");
        notify_status(m);
        return 0;

fail:
        manager_teardown(m);
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
        (void) manager_teardown(m);
        sd_event_source_unref(m->stats_timer);
        http_server_free(m->http);
        sd_event_unref(m->event);
        tfs_free(m->tracefs);
        pipeline_free(m->pipeline);
        linereader_done(&m->lines);
        buf_free(&m->metrics_cache);
        free(m->stats);
        free(m->stats_logged);
        free(m);
        return NULL;
}
