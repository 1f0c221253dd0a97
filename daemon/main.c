/* kprobe-exporter: command line, config check, and the daemon's life. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "log.h"
#include "khist.h"
#include "manager.h"
#include "procstat.h"
#include "tfs.h"

typedef struct Args {
        const char *config_file;
        const char *listen_address;
        const char *web_config_file;
        const char *tracefs_path;
        const char *name;
        bool check;
        bool cleanup;
        bool text_reader;
        const char *journal_socket;
} Args;

static void help(void) {
        printf("Usage: kprobe-exporter [OPTIONS]\n"
               "Registers the kernel probes of a YAML config in tracefs and serves what they\n"
               "see as Prometheus metrics and JSON events over HTTP.\n\n"
               "  --config.file=PATH           config (default " CONFIG_DEFAULT_PATH ")\n"
               "  --web.listen-address=ADDR    host:port to serve HTTP on (default: the config's\n"
               "                               'listen', else " CONFIG_DEFAULT_LISTEN ")\n"
               "  --web.config.file=PATH       TLS, basic auth and response headers, in the\n"
               "                               Prometheus exporter-toolkit format (re-read on SIGHUP)\n"
               "  --tracefs.path=DIR           tracefs root (default: from /proc/mounts; mounted\n"
               "                               at /sys/kernel/tracing if needed)\n"
               "  --tracefs.instance=NAME      our probe group and tracing instance\n"
               "                               (default " TRACEFS_DEFAULT_NAME ")\n"
               "  --tracefs.reader=READER      binary (per_cpu/cpuN/trace_pipe_raw, the default)\n"
               "                               or text (trace_pipe; refuses string fields)\n"
               "  --journal.socket=PATH        where journal: true probes' entries go (default\n"
               "                               /run/systemd/journal/socket)\n"
               "  --config.check               validate the config, print what would be written\n"
               "                               to tracefs, touch nothing; exit 0 or 1\n"
               "  --cleanup                    remove probes and instance left by an earlier run\n"
               "  --log.level=LEVEL            debug, info, warn or error (default info)\n"
               "  --version                    print the version\n"
               "  --help                       this text\n");
}

enum {
        ARG_CONFIG_FILE = 0x100,
        ARG_LISTEN,
        ARG_WEB_CONFIG,
        ARG_TRACEFS_PATH,
        ARG_TRACEFS_INSTANCE,
        ARG_TRACEFS_READER,
        ARG_JOURNAL_SOCKET,
        ARG_CHECK,
        ARG_CLEANUP,
        ARG_LOG_LEVEL,
        ARG_VERSION,
        ARG_HELP,
};

/* Returns 1 to go on, 0 to exit successfully, < 0 on error. */
static int parse_args(int argc, char **argv, Args *a) {
        static const struct option options[] = {
                { "config.file", required_argument, NULL, ARG_CONFIG_FILE },
                { "web.listen-address", required_argument, NULL, ARG_LISTEN },
                { "web.config.file", required_argument, NULL, ARG_WEB_CONFIG },
                { "tracefs.path", required_argument, NULL, ARG_TRACEFS_PATH },
                { "tracefs.instance", required_argument, NULL, ARG_TRACEFS_INSTANCE },
                { "tracefs.reader", required_argument, NULL, ARG_TRACEFS_READER },
                { "journal.socket", required_argument, NULL, ARG_JOURNAL_SOCKET },
                { "config.check", no_argument, NULL, ARG_CHECK },
                { "cleanup", no_argument, NULL, ARG_CLEANUP },
                { "log.level", required_argument, NULL, ARG_LOG_LEVEL },
                { "version", no_argument, NULL, ARG_VERSION },
                { "help", no_argument, NULL, ARG_HELP },
                {},
        };
        int c, level;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_CONFIG_FILE:
                        a->config_file = optarg;
                        break;
                case ARG_LISTEN:
                        a->listen_address = optarg;
                        break;
                case ARG_WEB_CONFIG:
                        a->web_config_file = optarg;
                        break;
                case ARG_TRACEFS_PATH:
                        a->tracefs_path = optarg;
                        break;
                case ARG_TRACEFS_READER:
                        if (strcmp(optarg, "binary") != 0 && strcmp(optarg, "text") != 0) {
                                log_error("--tracefs.reader: '%s' is neither binary nor text", optarg);
                                return -EINVAL;
                        }
                        a->text_reader = strcmp(optarg, "text") == 0;
                        break;
                case ARG_TRACEFS_INSTANCE:
                        if (!name_is_valid(optarg)) {
                                log_error("--tracefs.instance: '%s' is not a valid name ([A-Za-z_][A-Za-z0-9_]*, at most 63 characters)", optarg);
                                return -EINVAL;
                        }
                        a->name = optarg;
                        break;
                case ARG_JOURNAL_SOCKET:
                        if (optarg[0] != '/' || strlen(optarg) >= 108) {
                                log_error("--journal.socket: '%s' is not an absolute path of at most 107 bytes", optarg);
                                return -EINVAL;
                        }
                        a->journal_socket = optarg;
                        break;
                case ARG_CHECK:
                        a->check = true;
                        break;
                case ARG_CLEANUP:
                        a->cleanup = true;
                        break;
                case ARG_LOG_LEVEL:
                        level = log_level_from_string(optarg);
                        if (level < 0) {
                                log_error("--log.level: unknown level '%s' (debug, info, warn, error)", optarg);
                                return -EINVAL;
                        }
                        log_set_max_level(level);
                        break;
                case ARG_VERSION:
                        printf("kprobe-exporter %s\n", PROJECT_VERSION);
                        return 0;
                case 'h':
                case ARG_HELP:
                        help();
                        return 0;
                default:
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                log_error("Unexpected argument '%s' (see --help)", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static void print_config_errors(const ConfigErrors *errs, const char *path) {
        _cleanup_buf_ Buf report = { 0 };
        config_errors_render(errs, path, &report);
        if (report.len > 0)
                fwrite(report.data, 1, report.len, stderr);
        fprintf(stderr, "%s: %zu error(s); nothing was written to the kernel\n", path, errs->n);
}

/* --web.config.file: loaded (certificates read and checked) before
 * anything is written to the kernel. Returns 0 or prints why not. */
static int load_web_config(const Args *a, HttpSecurity *ret) {
        *ret = (HttpSecurity){ 0 };
        if (!a->web_config_file)
                return 0;
        _cleanup_(config_errors_clear) ConfigErrors errs = { 0 };
        int r = http_security_load(a->web_config_file, ret, &errs);
        if (r < 0)
                print_config_errors(&errs, a->web_config_file);
        return r;
}

/* What --config.check prints: the kernel's features, then per probe the
 * exact writes and, when it can be told without writing, why the probe
 * would not run on this kernel. Returns how many would not. */
static size_t print_check(const Config *c, const char *name, Tracefs *t) {
        KernelFeatures none;
        tfs_read_features(NULL, &none);
        const KernelFeatures *k = t ? &t->features : &none;
        _cleanup_buf_ Buf features = { 0 };
        features_render_text(k, &features);
        fputs(features.data, stdout);
        size_t unavailable = 0;

        printf("# %s: %zu probe(s); group and instance '%s'\n", c->path, c->n_probes, name);
        for (size_t i = 0; i < c->n_includes; i++) {
                size_t n = 0;
                for (size_t j = 0; j < c->n_probes; j++)
                        n += c->probes[j].file == c->includes[i];
                printf("# included %s: %zu probe(s)\n", c->includes[i], n);
        }
        /* The instance's clock, chosen from what the kernel offers (its
         * top-level trace_clock lists the same clocks). */
        const char *clock = t ? tfs_preferred_clock(t) : NULL;
        if (clock)
                printf("%s > instances/%s/trace_clock\n", clock, name);
        /* Kernel aggregation: every metric's plan first, since a probe
         * streams when any metric counted here needs its events. */
        size_t n_plans = 0;
        for (size_t i = 0; i < c->n_probes; i++)
                n_plans += c->probes[i].n_metrics;
        KhPlan *plans = xcalloc(n_plans ? n_plans : 1, sizeof(KhPlan));
        KhPlan **of = xcalloc(c->n_probes ? c->n_probes : 1, sizeof(KhPlan *));
        for (size_t i = 0, at = 0; i < c->n_probes; i++) {
                of[i] = &plans[at];
                for (size_t m = 0; m < c->probes[i].n_metrics; m++)
                        khist_plan(c, i, m, k, name, clock, &plans[at++]);
        }
        for (size_t i = 0; i < c->n_probes; i++) {
                const ProbeConfig *p = &c->probes[i];
                Buf def = { 0 };
                if (p->added)
                        printf("# probe '%s' (added: it follows tasks' cgroups, for labels cgroup, unit, "
                               "user_unit, container_id and the journal)\n", p->name);
                else
                        printf("# probe '%s' (%s:%u)\n", p->name, p->file ? p->file : c->path, p->line);
                _cleanup_free_ char *resolve_error = NULL, *resolved = NULL;
                bool resolve_failed = false;
                if (tfs_uprobe_resolve(p, &resolved, &resolve_error) >= 0 &&
                    tfs_probe_definition_at(p, name, resolved, &def) >= 0) {
                        if (resolved) {
                                const char *colon = strrchr(resolved, ':');
                                printf("# %s is at file offset %s of %.*s\n", p->target, colon + 1,
                                       (int) (colon - resolved), resolved);
                        }
                        printf("%s >> %s\n", def.data, tfs_probe_file(p->type));
                } else if (resolve_error) {
                        resolve_failed = true;
                        fprintf(stderr, "%s:%u: %s: probe '%s' would fail: %s\n", p->file ? p->file : c->path,
                                p->target_line, c->strict ? "error" : "warning", p->name, resolve_error);
                        unavailable++;
                }
                buf_free(&def);
                const char *ev = p->type == PROBE_TRACEPOINT ? p->target : NULL;
                if (p->filter)
                        printf("%s > instances/%s/events/%s%s%s/filter\n", p->filter, name, ev ? ev : name,
                               ev ? "" : "/", ev ? "" : p->name);
                bool streams = p->events || p->journal || p->role != ATTRIB_ROLE_NONE;
                for (size_t m = 0; m < p->n_metrics; m++)
                        streams |= !of[i][m].kernel;
                for (size_t x = 0; x < c->n_probes; x++)
                        for (size_t m = 0; m < c->probes[x].n_metrics; m++)
                                streams |= !of[x][m].kernel && c->probes[x].metrics[m].latency_from.name &&
                                           strcmp(c->probes[x].metrics[m].latency_from.name, p->name) == 0;
                if (resolve_failed)
                        printf("# not registered: its uprobe target cannot be resolved (see the warning)\n");
                else if (streams)
                        printf("1 > instances/%s/events/%s%s%s/enable\n", name, ev ? ev : name, ev ? "" : "/",
                               ev ? "" : p->name);
                else
                        printf("# not enabled: events: false, and the kernel counts all its metrics\n");
                bool refused = false;
                for (size_t m = 0; m < p->n_metrics; m++) {
                        const KhPlan *kp = &of[i][m];
                        const MetricConfig *mc = &p->metrics[m];
                        printf("# metric '%s': %s (%s)\n", mc->name, kp->kernel ? "kernel" : "user", kp->why);
                        if (kp->synth)
                                printf("%s >> synthetic_events\n", kp->synth);
                        for (size_t j = 0; j < kp->n_triggers; j++)
                                printf("%s >> instances/%s/events/%s/trigger\n", kp->triggers[j].line, name,
                                       kp->triggers[j].event);
                        if (mc->aggregate == AGGREGATE_KERNEL && !kp->kernel) {
                                fprintf(stderr, "%s:%u: %s: metric '%s' has aggregate: kernel, which this kernel "
                                        "cannot give it: %s\n", p->file ? p->file : c->path, mc->aggregate_line,
                                        c->strict ? "error" : "warning", mc->name, kp->why);
                                refused = true;
                        }
                }

                if (p->kernel_lacks) {
                        fprintf(stderr, "%s:%u: %s: probe '%s' is unavailable on this kernel: %s\n",
                                p->file ? p->file : c->path, p->line, c->strict ? "error" : "warning", p->name,
                                p->kernel_lacks);
                        unavailable += !resolve_failed; /* counted above */
                        continue;
                }
                _cleanup_free_ char *why = NULL;
                /* Told already when its target could not be resolved. */
                int r = resolve_failed ? 0 : tfs_probe_judge(t, k, p, &why);
                unavailable += r < 0 || refused;
                if (why)
                        fprintf(stderr, "%s:%u: %s: probe '%s' %s: %s\n", p->file ? p->file : c->path, p->line,
                                r < 0 && c->strict ? "error" : "warning", p->name,
                                r == -EOPNOTSUPP ? "is unavailable on this kernel"
                                : r < 0          ? "would fail on this kernel"
                                                 : "may be refused by this kernel",
                                why);
        }
        for (size_t i = 0; i < n_plans; i++)
                khist_plan_done(&plans[i]);
        free(plans);
        free(of);
        return unavailable;
}

/* manager.h declares no cleanup helper; this is the one main() needs. */
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* --cleanup: removes what an earlier run of ours left. */
static int run_cleanup(const Args *a) {
        _cleanup_free_ char *root = NULL;
        int r = tfs_find(a->tracefs_path, false, &root);
        if (r < 0) {
                log_info("tracefs is not mounted: nothing to clean up");
                return 0;
        }
        _cleanup_(tfs_freep) Tracefs *t = NULL;
        unsigned removed = 0;
        r = tfs_new(root, a->name, &t);
        if (r >= 0)
                r = tfs_cleanup(t, &removed);
        if (r < 0)
                return log_error_errno(r, "Cleanup of '%s' in %s failed: %m", a->name, root), 1;
        log_info("Removed %u leftover(s) of '%s' from %s", removed, a->name, root);
        return 0;
}

/* --config.check, after the config passed: prints what would be written. */
static int run_check(const Args *a, const Config *config, const char *root) {
        _cleanup_(tfs_freep) Tracefs *t = NULL;
        if (root)
                (void) tfs_new(root, a->name, &t);
        size_t unavailable = print_check(config, a->name, t);
        if (unavailable > 0 && config->strict) {
                fprintf(stderr, "%s: %zu probe(s) cannot run on this kernel and strict is set: the daemon would exit\n",
                        a->config_file, unavailable);
                return 1;
        }
        return 0;
}

/* The daemon; takes the config and the web config's security. */
static int run_daemon(const Args *a, Config *config, const char *root, HttpSecurity *security) {
        const char *listen = a->listen_address ? a->listen_address
                                               : config->listen ? config->listen
                                                                : CONFIG_DEFAULT_LISTEN;
        int listen_fd = -1;
        if (sd_listen_fds(true) == 1)
                listen_fd = SD_LISTEN_FDS_START;

        _cleanup_(manager_freep) Manager *m = NULL;
        ManagerOptions opts = {
                .config_path = a->config_file,
                .listen_address = listen,
                .listen_fd = listen_fd,
                .tracefs_root = root,
                .name = a->name,
                .text_reader = a->text_reader,
                .web_config_path = a->web_config_file,
                .journal_socket = a->journal_socket,
                .security = *security,
        };
        *security = (HttpSecurity){ 0 };
        int r = manager_new(config, &opts, &m);
        if (r < 0)
                return log_error_errno(r, "Cannot set up: %m"), 1;
        r = manager_start(m);
        if (r < 0)
                return 1;
        int code = manager_run(m);
        r = manager_teardown(m);
        m = manager_free(m);
        if (r < 0) {
                log_error("Stopped, but probes or the instance of '%s' are left in the kernel (see above); "
                          "'kprobe-exporter --cleanup' removes them once nothing holds them", a->name);
                return 1;
        }
        log_info("Stopped; our probes and instance are removed");
        return code;
}

int main(int argc, char **argv) {
        Args a = { .config_file = CONFIG_DEFAULT_PATH, .name = TRACEFS_DEFAULT_NAME };
        int r = parse_args(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? 1 : 0;

        procstat_init();
        /* Buffers of 256 KB and more (renderings of /metrics, pages of
         * /events) come from mmap and go back to the kernel when freed.
         * glibc would otherwise raise this threshold after the first such
         * free and serve the next ones from the heap, whose top it keeps:
         * the resident size would stay at its highest, not at what is
         * held (README, Memory). */
        mallopt(M_MMAP_THRESHOLD, 256 * 1024);

        if (a.cleanup)
                return run_cleanup(&a);

        _cleanup_(config_freep) Config *config = NULL;
        _cleanup_(config_errors_clear) ConfigErrors errs = { 0 };
        r = config_load_file(a.config_file, &config, &errs);
        if (r < 0) {
                print_config_errors(&errs, a.config_file);
                return 1;
        }

        /* Read-only look at tracefs; --config.check never mounts. */
        _cleanup_free_ char *root = NULL;
        r = tfs_find(a.tracefs_path, !a.check, &root);
        if (r < 0 && !a.check)
                return log_error_errno(r, "Cannot find or mount tracefs: %m"), 1;
        size_t unchecked = registry_check_config(config, root, a.text_reader, &errs);
        if (unchecked > 0 && a.check)
                fprintf(stderr, "%s: warning: tracefs %s: the fields of %zu tracepoint probe(s) were not checked "
                        "against the kernel (run as root to check them)\n",
                        a.config_file, root ? "is not readable" : "is not mounted", unchecked);
        if (errs.n > 0) {
                print_config_errors(&errs, a.config_file);
                return 1;
        }

        _cleanup_(http_security_done) HttpSecurity security = { 0 };
        if (load_web_config(&a, &security) < 0)
                return 1;
        if (a.check) {
                if (a.web_config_file)
                        printf("# web config %s: %s, %s\n", a.web_config_file, security.tls ? "HTTPS" : "plain HTTP",
                               security.auth ? "basic auth" : "no authentication");
                return run_check(&a, config, root);
        }
        return run_daemon(&a, TAKE_PTR(config), root, &security);
}
