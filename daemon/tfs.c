#include "tfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "elfsym.h"
#include "khist.h"
#include "symbols.h"

/* tracefs control files are small, but kprobe_events can list thousands of
 * probes of other users; anything beyond this is not a tracefs file. */
#define READ_MAX (16u * 1024u * 1024u)

#define TRACEFS_MOUNT_POINT "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"

static char *path_join(const char *a, const char *b) {
        Buf p = { 0 };
        buf_puts(&p, a);
        buf_putc(&p, '/');
        buf_puts(&p, b);
        return buf_steal(&p);
}

static int read_all_at(int dirfd, const char *path, Buf *out) {
        return read_file_at(dirfd, path, READ_MAX, out);
}

/* One write() of the whole text: the kernel parses each write on its own,
 * so a definition split over two writes would be two broken commands. */
static int write_once_at(int dirfd, const char *path, int flags, const char *text, size_t n) {
        int fd = openat(dirfd, path, flags | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        ssize_t w;
        do
                w = write(fd, text, n);
        while (w < 0 && errno == EINTR);
        int r = w < 0 ? -errno : (size_t) w != n ? -EIO : 0;
        close(fd);
        return r;
}

/* Probe files: append only. O_TRUNC would delete every probe on the system. */
static int write_probe_file(const Tracefs *t, const char *file, const char *line) {
        _cleanup_free_ char *path = path_join(t->root, file);
        return write_once_at(AT_FDCWD, path, O_WRONLY | O_APPEND, line, strlen(line));
}

/* Control files (enable, filter, options): plain write, never truncate. */
static int write_control(const char *path, const char *text) {
        return write_once_at(AT_FDCWD, path, O_WRONLY, text, strlen(text));
}

static bool is_kprobe_kind(ProbeType t) {
        return t == PROBE_KPROBE || t == PROBE_KRETPROBE;
}

static bool is_uprobe_kind(ProbeType t) {
        return t == PROBE_UPROBE || t == PROBE_URETPROBE;
}

/* ---- finding tracefs ---- */

int tfs_find(const char *override, bool mount_if_needed, char **ret_root) {
        if (override) {
                *ret_root = xstrdup(override);
                return 0;
        }

        _cleanup_buf_ Buf mounts = { 0 };
        if (read_all_at(AT_FDCWD, "/proc/mounts", &mounts) >= 0 &&
            tfs_parse_mounts(mounts.data, ret_root) >= 0)
                return 0;

        /* Old kernels automount tracefs inside debugfs, where /proc/mounts
         * may only show debugfs. */
        if (access(DEBUGFS_TRACING "/README", F_OK) == 0) {
                *ret_root = xstrdup(DEBUGFS_TRACING);
                return 0;
        }

        if (!mount_if_needed)
                return -ENOENT;
        if (mount("nodev", TRACEFS_MOUNT_POINT, "tracefs", 0, NULL) < 0 &&
            !(errno == EBUSY && access(TRACEFS_MOUNT_POINT "/README", F_OK) == 0))
                return -errno;
        *ret_root = xstrdup(TRACEFS_MOUNT_POINT);
        return 0;
}

/* ---- the handle ---- */

/* YES, NO (ENOENT: the kernel has no such file), or UNKNOWN (we may not
 * look: tracefs is root's, 0700 since 5.16). */
static FeatureState file_feature(const char *root, const char *file) {
        _cleanup_free_ char *path = path_join(root, file);
        if (access(path, F_OK) == 0)
                return FEATURE_YES;
        return errno == ENOENT ? FEATURE_NO : FEATURE_UNKNOWN;
}

void tfs_read_features(const char *root, KernelFeatures *k) {
        *k = (KernelFeatures){ 0 };
        struct utsname u;
        if (uname(&u) == 0) {
                snprintf(k->release, sizeof(k->release), "%s", u.release);
                snprintf(k->machine, sizeof(k->machine), "%s", u.machine);
        }
        _cleanup_buf_ Buf readme = { 0 };
        _cleanup_free_ char *path = root ? path_join(root, "README") : NULL;
        bool have_readme = path && read_all_at(AT_FDCWD, path, &readme) >= 0 && readme.len > 0;
        features_from_readme(k, have_readme ? readme.data : NULL);
        if (!root)
                return;
        static const struct {
                Feature f;
                const char *file;
        } files[] = {
                { FEATURE_KPROBE_EVENTS, "kprobe_events" },
                { FEATURE_UPROBE_EVENTS, "uprobe_events" },
                { FEATURE_ERROR_LOG, "error_log" },
                { FEATURE_OPTION_FIELDS, "options/fields" },
                { FEATURE_OPTION_RECORD_TGID, "options/record-tgid" },
                { FEATURE_OPTION_IRQ_INFO, "options/irq-info" },
                { FEATURE_OPTION_CONTEXT_INFO, "options/context-info" },
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                k->state[files[i].f] = file_feature(root, files[i].file);
}

int tfs_new(const char *root, const char *name, Tracefs **ret) {
        if (!root || !name || !group_name_is_valid(name))
                return -EINVAL;

        Tracefs *t = xcalloc(1, sizeof(*t));
        t->root = xstrdup(root);
        t->name = xstrdup(name);
        _cleanup_free_ char *instances = path_join(root, "instances");
        t->instance_dir = path_join(instances, name);

        tfs_read_features(root, &t->features);
        *ret = t;
        return 0;
}

Tracefs *tfs_free(Tracefs *t) {
        if (!t)
                return NULL;
        free(t->root);
        free(t->name);
        free(t->instance_dir);
        symbols_free(t->symbols);
        free(t);
        return NULL;
}

/* ---- error_log ---- */

/* error_log keeps old entries: a failure that the kernel did not log must
 * not be explained by an entry of an earlier run. So the newest stamp is
 * noted before the write and only later entries count afterwards. */
static char *error_log_last_stamp(const char *log_path) {
        _cleanup_buf_ Buf text = { 0 };
        if (read_all_at(AT_FDCWD, log_path, &text) < 0)
                return xstrdup("");
        return tfs_error_log_last_stamp(text.data);
}

static char *error_log_explain(const char *log_path, const char *since, const char *command) {
        _cleanup_buf_ Buf text = { 0 };
        if (read_all_at(AT_FDCWD, log_path, &text) < 0)
                return NULL;
        return tfs_error_log_entry(text.data, command, since);
}

/* ---- cleanup ---- */

static int disable_event_dir(int subfd, const char *event) {
        _cleanup_free_ char *path = path_join(event, "enable");
        _cleanup_buf_ Buf v = { 0 };
        int r = read_all_at(subfd, path, &v);
        if (r < 0)
                return r == -ENOENT || r == -ENOTDIR ? 0 : r;
        /* "1" or "1*" (soft-enabled) */
        if (v.len == 0 || v.data[0] != '1')
                return 0;
        return write_once_at(subfd, path, O_WRONLY, "0", 1);
}

/* Disables every enabled event of our instance, one event at a time: the
 * instance-wide events/enable would also be fine, but walking keeps the
 * writes to what is actually on. */
static int instance_disable_all(const Tracefs *t) {
        _cleanup_free_ char *events = path_join(t->instance_dir, "events");
        int evfd = open(events, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (evfd < 0)
                return errno == ENOENT ? 0 : -errno;
        DIR *d = fdopendir(evfd);
        if (!d) {
                int r = -errno;
                close(evfd);
                return r;
        }
        int ret = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                int subfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (subfd < 0)
                        continue; /* the files "enable", "header_page", ... */
                DIR *sd = fdopendir(subfd);
                if (!sd) {
                        close(subfd);
                        continue;
                }
                struct dirent *ee;
                while ((ee = readdir(sd))) {
                        if (ee->d_name[0] == '.')
                                continue;
                        int r = disable_event_dir(dirfd(sd), ee->d_name);
                        if (r < 0 && ret == 0)
                                ret = r;
                }
                closedir(sd);
        }
        closedir(d);
        return ret;
}

static int cleanup_probe_file(const Tracefs *t, const char *file, unsigned *removed) {
        _cleanup_free_ char *path = path_join(t->root, file);
        _cleanup_buf_ Buf text = { 0 };
        int r = read_all_at(AT_FDCWD, path, &text);
        if (r < 0)
                return r;
        int ret = 0;
        for (const char *pos = text.data; *pos;) {
                StrView l = sv_next_line(&pos), group, event;
                if (!tfs_probe_line_split(l, &group, &event) || !sv_eq_str(group, t->name))
                        continue;
                _cleanup_buf_ Buf cmd = { 0 };
                buf_printf(&cmd, "-:%.*s/%.*s\n", (int) group.n, group.p, (int) event.n, event.p);
                r = write_probe_file(t, file, cmd.data);
                if (r < 0 && ret == 0)
                        ret = r;
                if (r >= 0)
                        (*removed)++;
        }
        return ret;
}

/* Whether a process has a file of our instance open (trace_pipe of a
 * daemon of the same name): what rmdir's EBUSY means unless triggers of
 * a crashed run hold it. */
static bool instance_in_use(const Tracefs *t) {
        DIR *proc = opendir("/proc");
        if (!proc)
                return true; /* cannot tell: as before, in use */
        size_t n = strlen(t->instance_dir);
        bool used = false;
        struct dirent *de;
        while (!used && (de = readdir(proc))) {
                if (strspn(de->d_name, "0123456789") != strlen(de->d_name))
                        continue;
                char fddir[300];
                snprintf(fddir, sizeof(fddir), "/proc/%s/fd", de->d_name);
                DIR *fds = opendir(fddir);
                if (!fds)
                        continue;
                int dfd = dirfd(fds);
                struct dirent *fe;
                while (!used && (fe = readdir(fds))) {
                        char target[PATH_MAX];
                        ssize_t k = readlinkat(dfd, fe->d_name, target, sizeof(target) - 1);
                        if (k <= 0)
                                continue;
                        target[k] = 0;
                        used = strncmp(target, t->instance_dir, n) == 0 && (target[n] == '/' || target[n] == 0);
                }
                closedir(fds);
        }
        closedir(proc);
        return used;
}

/* The hist triggers a crashed run left in our instance (the kernel keeps
 * an instance that has some): each line of the trigger files of our
 * group's events and our synthetic events, as the kernel prints it, is
 * written back with '!'. Those that send to a synthetic event first (they
 * use the others' variables). */
static void remove_instance_triggers(const Tracefs *t, unsigned *removed) {
        for (int pass = 0; pass < 2; pass++) {
                for (int dir = 0; dir < 2; dir++) {
                        _cleanup_free_ char *events = path_join(t->instance_dir, "events");
                        _cleanup_free_ char *sub = path_join(events, dir == 0 ? t->name : "synthetic");
                        DIR *d = opendir(sub);
                        if (!d)
                                continue;
                        struct dirent *de;
                        while ((de = readdir(d))) {
                                if (de->d_name[0] == '.' || (dir == 1 && !khist_name_is_ours(t->name, de->d_name)))
                                        continue;
                                _cleanup_free_ char *ev = path_join(sub, de->d_name);
                                _cleanup_free_ char *path = path_join(ev, "trigger");
                                _cleanup_buf_ Buf text = { 0 };
                                if (read_all_at(AT_FDCWD, path, &text) < 0)
                                        continue;
                                for (const char *pos = text.data ? text.data : ""; *pos;) {
                                        StrView l = sv_next_line(&pos);
                                        if (l.n == 0 || l.p[0] == '#')
                                                continue;
                                        _cleanup_free_ char *line = xstrndup(l.p, l.n);
                                        bool sends = strstr(line, "onmatch(") || strstr(line, "onmax(") ||
                                                     strstr(line, "onchange(");
                                        if (sends != (pass == 0))
                                                continue;
                                        char *br = strstr(line, " [");
                                        if (br)
                                                *br = 0; /* " [active]" */
                                        _cleanup_free_ char *cmd = xstrdupf("!%s", line);
                                        if (write_once_at(AT_FDCWD, path, O_WRONLY | O_APPEND, cmd, strlen(cmd)) >= 0)
                                                (*removed)++;
                                }
                        }
                        closedir(d);
                }
        }
}

int tfs_cleanup(Tracefs *t, unsigned *removed) {
        unsigned dummy;
        if (!removed)
                removed = &dummy;
        *removed = 0;

        /* rmdir first: if another daemon of the same name has our pipe open
         * it fails with EBUSY, and that daemon's events stay enabled. The
         * kernel disables an instance's events itself on rmdir, so the walk
         * is only for a removal that failed otherwise. */
        int gone = rmdir(t->instance_dir), err = gone < 0 ? errno : 0;
        if (err == EBUSY && !instance_in_use(t)) {
                remove_instance_triggers(t, removed);
                gone = rmdir(t->instance_dir);
                err = gone < 0 ? errno : 0;
        }
        if (gone == 0)
                (*removed)++;
        else if (err == EBUSY)
                return -EBUSY;
        else if (err != ENOENT) {
                int r = instance_disable_all(t);
                if (r < 0)
                        return r;
                if (rmdir(t->instance_dir) < 0)
                        return -errno;
                (*removed)++;
        }

        /* Our synthetic events (kernel aggregation): named by our prefix;
         * one another user still has triggers on stays (EBUSY). */
        _cleanup_free_ char *synth = path_join(t->root, "synthetic_events");
        _cleanup_buf_ Buf text = { 0 };
        if (read_all_at(AT_FDCWD, synth, &text) >= 0)
                for (const char *pos = text.data ? text.data : ""; *pos;) {
                        StrView l = sv_next_line(&pos);
                        size_t n = 0;
                        while (n < l.n && l.p[n] != ' ' && l.p[n] != '\t')
                                n++;
                        _cleanup_free_ char *name = xstrndup(l.p, n);
                        if (n == 0 || !khist_name_is_ours(t->name, name))
                                continue;
                        if (tfs_synth_write(t, name, true, NULL) >= 0)
                                (*removed)++;
                }

        /* Every line of our group, also probes a config no longer has. */
        int r = tfs_may_have(t, FEATURE_KPROBE_EVENTS) ? cleanup_probe_file(t, "kprobe_events", removed) : 0;
        int u = tfs_may_have(t, FEATURE_UPROBE_EVENTS) ? cleanup_probe_file(t, "uprobe_events", removed) : 0;
        return r < 0 ? r : u;
}

/* ---- instance ---- */

int tfs_instance_create(Tracefs *t) {
        if (mkdir(t->instance_dir, 0750) < 0)
                return -errno;
        return 0;
}

/* A clock whose times can be subtracted across CPUs (latencies: an entry
 * and its return may run on two), see tfs_pick_trace_clock(). */
static int instance_set_clock(Tracefs *t) {
        _cleanup_free_ char *path = path_join(t->instance_dir, "trace_clock");
        _cleanup_buf_ Buf text = { 0 };
        int r = read_all_at(AT_FDCWD, path, &text);
        if (r < 0)
                return r == -ENOENT ? 0 : r; /* no choice of clocks: the kernel's own */
        const char *clock = tfs_pick_trace_clock(text.data ? text.data : "");
        if (!clock)
                return 0;
        r = write_control(path, clock);
        if (r < 0)
                return r;
        t->clock = clock;
        t->clock_is_monotonic = strcmp(clock, "mono") == 0;
        return 0;
}

const char *tfs_preferred_clock(const Tracefs *t) {
        _cleanup_free_ char *path = path_join(t->root, "trace_clock");
        _cleanup_buf_ Buf text = { 0 };
        if (read_all_at(AT_FDCWD, path, &text) < 0)
                return NULL;
        return tfs_pick_trace_clock(text.data ? text.data : "");
}

int tfs_instance_setup(Tracefs *t) {
        static const struct {
                const char *name;
                const char *value;
                bool required;
        } options[] = {
                { "context-info", "1", true },
                { "record-tgid", "1", true },
                { "irq-info", "0", true },
                { "latency-format", "0", true },
                { "raw", "0", true },
                { "hex", "0", true },
                { "bin", "0", true },
                { "sym-userobj", "0", true },
                /* new kernels only; on, it would print every tracepoint raw */
                { "fields", "0", false },
        };
        _cleanup_free_ char *dir = path_join(t->instance_dir, "options");
        for (size_t i = 0; i < ELEMENTSOF(options); i++) {
                _cleanup_free_ char *path = path_join(dir, options[i].name);
                int r = write_control(path, options[i].value);
                if (r == -ENOENT && !options[i].required)
                        continue;
                if (r < 0)
                        return r;
        }
        return instance_set_clock(t);
}

int tfs_instance_remove(Tracefs *t) {
        if (rmdir(t->instance_dir) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* ---- probes and events ---- */

/* Where the kprobes blacklist is: debugfs, which the daemon never mounts. */
#define KPROBES_BLACKLIST "/sys/kernel/debug/kprobes/blacklist"

/* Checks a kprobe kind's target against /proc/kallsyms,
 * available_filter_functions and the kprobes blacklist (loading them into
 * t->symbols on first use). Returns the verdict; *ret_message as
 * symbols_check(), with the kernel release appended. */
static SymbolVerdict check_symbol(Tracefs *t, const ProbeConfig *p, char **ret_message) {
        *ret_message = NULL;
        if (!is_kprobe_kind(p->type))
                return SYMBOL_UNCHECKED;
        if (!t->symbols) {
                _cleanup_buf_ Buf kallsyms = { 0 }, filter = { 0 }, blacklist = { 0 };
                _cleanup_free_ char *aff = path_join(t->root, "available_filter_functions");
                /* Distribution kernels with many modules: tens of MB. */
                int r = read_file_at(AT_FDCWD, "/proc/kallsyms", 256u * 1024u * 1024u, &kallsyms);
                bool ok = r >= 0 && kallsyms.len > 0;
                t->kallsyms_error = ok ? 0 : r < 0 ? r : -ENODATA;
                bool have_filter = read_all_at(AT_FDCWD, aff, &filter) >= 0;
                bool have_blacklist = read_all_at(AT_FDCWD, KPROBES_BLACKLIST, &blacklist) >= 0;
                t->symbols = symbols_new(ok ? kallsyms.data : NULL, have_filter ? filter.data : NULL,
                                         have_blacklist ? blacklist.data : NULL);
        }
        char *why = NULL;
        SymbolVerdict v = symbols_check(t->symbols, p->target, &why);
        if (why) {
                Buf b = { 0 };
                buf_printf(&b, "%s (kernel %s, %s)", why, t->features.release, t->features.machine);
                free(why);
                *ret_message = buf_steal(&b);
        }
        return v;
}

void tfs_symbols_release(Tracefs *t) {
        t->symbols = symbols_free(t->symbols);
}

int tfs_probe_judge(Tracefs *t, const KernelFeatures *k, const ProbeConfig *p, char **ret_why) {
        *ret_why = NULL;
        const char *what = NULL;
        Feature missing = features_probe_missing(k, p, &what);
        if (missing != _FEATURE_MAX) {
                *ret_why = features_refusal(k, missing, what);
                return -EOPNOTSUPP;
        }
        if (!t)
                return 0;
        SymbolVerdict verdict = check_symbol(t, p, ret_why);
        return verdict == SYMBOL_MISSING ? -ENOENT : verdict == SYMBOL_BLACKLISTED ? -EPERM : 0;
}

/* For a tracepoint this kernel lacks: the names of its subsystem's events
 * nearest to the one asked for (a typo, or a rename between kernels),
 * appended to m as "; nearest: a/b, a/c". */
static void tracepoint_nearest(const char *events, const char *target, Buf *m) {
        const char *slash = strchr(target, '/');
        if (!slash)
                return;
        _cleanup_free_ char *sys = xstrndup(target, (size_t) (slash - target));
        _cleanup_free_ char *sysdir = path_join(events, sys);
        DIR *d = opendir(sysdir);
        if (!d)
                return;
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < 4096)
                if (de->d_type == DT_DIR && de->d_name[0] != '.')
                        strv_push(&names, &n, sv_from(de->d_name));
        closedir(d);
        const char *near[3];
        size_t k = n ? names_nearest((const char *const *) names, n, slash + 1, NULL, NULL, near, ELEMENTSOF(near)) : 0;
        for (size_t i = 0; i < k; i++)
                buf_printf(m, "%s%s/%s", i ? ", " : "; nearest: ", sys, near[i]);
        strv_free(names);
}

/* definition: the line to write, when the caller has it (its uprobe
 * symbol resolved already); NULL: made here. */
static int probe_register(Tracefs *t, const ProbeConfig *p, const char *definition, char **ret_error) {
        if (p->type == PROBE_TRACEPOINT) {
                if (!tracepoint_target_is_valid(p->target)) {
                        *ret_error = xstrdup("tracepoint target must be \"subsystem/event\"");
                        return -EINVAL;
                }
                _cleanup_free_ char *events = path_join(t->root, "events");
                _cleanup_free_ char *dir = path_join(events, p->target);
                struct stat st;
                if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                        /* The kernel defines its tracepoints: one it lacks
                         * makes the probe unavailable, like a feature. */
                        Buf m = { 0 };
                        buf_printf(&m, "this kernel has no tracepoint %s (%s does not exist; kernel %s, %s)", p->target,
                                   dir, t->features.release, t->features.machine);
                        tracepoint_nearest(events, p->target, &m);
                        *ret_error = buf_steal(&m);
                        return -EOPNOTSUPP;
                }
                return 0;
        }
        _cleanup_free_ char *symbol_note = NULL;
        int r = tfs_probe_judge(t, &t->features, p, &symbol_note);
        if (r < 0) {
                *ret_error = TAKE_PTR(symbol_note);
                return r;
        }

        _cleanup_buf_ Buf line = { 0 };
        if (definition)
                buf_puts(&line, definition);
        else if ((r = tfs_probe_line(p, t->name, &line, ret_error)) < 0)
                return r;
        _cleanup_free_ char *command = xstrdup(line.data);
        buf_putc(&line, '\n');

        _cleanup_free_ char *log = path_join(t->root, "error_log");
        _cleanup_free_ char *before = error_log_last_stamp(log);
        r = write_probe_file(t, tfs_probe_file(p->type), line.data);
        if (r < 0) {
                *ret_error = error_log_explain(log, before, command);
                /* A notrace or ambiguous function: the kernel's words (if
                 * any; its notrace refusal goes to the kernel log only),
                 * then what may be why. */
                if (symbol_note) {
                        Buf b = { 0 };
                        buf_printf(&b, "%s%snote: %s", *ret_error ? *ret_error : "", *ret_error ? "\n" : "",
                                   symbol_note);
                        free(*ret_error);
                        *ret_error = buf_steal(&b);
                }
        }
        return r;
}

int tfs_uprobe_resolve(const ProbeConfig *p, char **ret, char **ret_error) {
        *ret = NULL;
        *ret_error = NULL;
        if (!is_uprobe_kind(p->type) || !p->target)
                return 0;
        const char *colon = strrchr(p->target, ':');
        char symbol[512];
        uint64_t add;
        if (!colon)
                return 0;
        if (!elfsym_parse_target(colon + 1, symbol, sizeof(symbol), &add)) {
                if (p->target[0] == '/')
                        return 0; /* /path:0xOFFSET: as written */
                symbol[0] = 0;    /* library:0xOFFSET: the path only */
        }
        _cleanup_free_ char *path = xstrndup(p->target, (size_t) (colon - p->target));
        if (path[0] != '/') {
                /* A library's name: where the dynamic linker would find it. */
                char *found = NULL;
                for (size_t i = 0; library_dirs[i] && !found; i++) {
                        char *cand = xstrdupf("%s/%s", library_dirs[i], path);
                        struct stat st;
                        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode))
                                found = cand;
                        else
                                free(cand);
                }
                if (!found) {
                        Buf b = { 0 };
                        buf_printf(&b, "no %s in", path);
                        for (size_t i = 0; library_dirs[i]; i++)
                                buf_printf(&b, "%s %s", i ? "," : "", library_dirs[i]);
                        *ret_error = buf_steal(&b);
                        return -ENOENT;
                }
                free(path);
                path = found;
        }
        if (!symbol[0]) {
                *ret = xstrdupf("%s:%s", path, colon + 1);
                return 0;
        }
        /* O_NONBLOCK: a FIFO there must not stall the loop. */
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                *ret_error = xstrdupf("cannot read %s: %s", path, strerror(-r));
                return r;
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
                close(fd);
                *ret_error = xstrdupf("cannot read %s: not a regular file", path);
                return -EINVAL;
        }
        ElfSymbols *s = NULL;
        char *err = NULL;
        uint64_t offset = 0;
        int r = elfsym_new_fd(fd, (size_t) st.st_size, &s, &err);
        if (r >= 0)
                r = elfsym_offset(s, symbol, add, &offset, &err);
        elfsym_free(s);
        close(fd);
        if (r < 0) {
                *ret_error = xstrdupf("%s: %s", path, err ? err : "unreadable ELF file");
                free(err);
                return r;
        }
        *ret = xstrdupf("%s:0x%llx", path, (unsigned long long) offset);
        return 0;
}

int tfs_probe_line(const ProbeConfig *p, const char *group, Buf *out, char **ret_error) {
        _cleanup_free_ char *target = NULL;
        *ret_error = NULL;
        int r = tfs_uprobe_resolve(p, &target, ret_error);
        if (r < 0)
                return r;
        return tfs_probe_definition_at(p, group, target, out);
}

int tfs_probe_register(Tracefs *t, const ProbeConfig *p, char **ret_error) {
        return tfs_probe_register_line(t, p, NULL, ret_error);
}

int tfs_probe_register_line(Tracefs *t, const ProbeConfig *p, const char *definition, char **ret_error) {
        char *error = NULL;
        int r = probe_register(t, p, definition, &error);
        if (ret_error)
                *ret_error = error;
        else
                free(error);
        return r;
}

int tfs_probe_unregister(Tracefs *t, const ProbeConfig *p) {
        if (p->type == PROBE_TRACEPOINT)
                return 0;
        if (!is_kprobe_kind(p->type) && !is_uprobe_kind(p->type))
                return -EINVAL;
        if (!tfs_may_have(t, is_kprobe_kind(p->type) ? FEATURE_KPROBE_EVENTS : FEATURE_UPROBE_EVENTS))
                return -EOPNOTSUPP;
        if (!p->name || has_space(p->name))
                return -EINVAL;
        _cleanup_buf_ Buf cmd = { 0 };
        buf_printf(&cmd, "-:%s/%s\n", t->name, p->name);
        return write_probe_file(t, tfs_probe_file(p->type), cmd.data);
}

/* instances/NAME/events/<group>/<event>/<file> for kprobe kinds,
 * instances/NAME/events/<subsystem>/<event>/<file> for tracepoints. */
static int event_file(const Tracefs *t, const ProbeConfig *p, const char *file, char **ret) {
        bool tp = p->type == PROBE_TRACEPOINT;
        if (tp ? !tracepoint_target_is_valid(p->target)
               : !p->name || !*p->name || p->name[0] == '.' || strchr(p->name, '/') || has_space(p->name))
                return -EINVAL;
        Buf b = { 0 };
        if (tp)
                buf_printf(&b, "%s/events/%s/%s", t->instance_dir, p->target, file);
        else
                buf_printf(&b, "%s/events/%s/%s/%s", t->instance_dir, t->name, p->name, file);
        *ret = buf_steal(&b);
        return 0;
}

int tfs_event_set_filter(Tracefs *t, const ProbeConfig *p, const char *filter, char **ret_error) {
        if (ret_error)
                *ret_error = NULL;
        _cleanup_free_ char *path = NULL;
        int r = event_file(t, p, "filter", &path);
        if (r < 0)
                return r;
        /* "0" clears a filter. */
        const char *text = filter && *filter ? filter : "0";
        if (strpbrk(text, "\n\r"))
                return -EINVAL;

        /* Filter errors go to the error_log of the instance the file is in. */
        _cleanup_free_ char *log = path_join(t->instance_dir, "error_log");
        _cleanup_free_ char *before = error_log_last_stamp(log);
        r = write_control(path, text);
        if (r < 0 && ret_error)
                *ret_error = error_log_explain(log, before, text);
        return r;
}

int tfs_event_enable(Tracefs *t, const ProbeConfig *p, bool on) {
        _cleanup_free_ char *path = NULL;
        int r = event_file(t, p, "enable", &path);
        if (r < 0)
                return r;
        return write_control(path, on ? "1" : "0");
}

/* ---- kernel aggregation ---- */

int tfs_trigger_write(Tracefs *t, const char *event, const char *line, bool remove, char **ret_error) {
        if (ret_error)
                *ret_error = NULL;
        if (strpbrk(line, "\n\r") || strstr(event, ".."))
                return -EINVAL;
        _cleanup_free_ char *dir = path_join(t->instance_dir, "events");
        _cleanup_free_ char *ev = path_join(dir, event);
        _cleanup_free_ char *path = path_join(ev, "trigger");
        _cleanup_free_ char *text = xstrdupf("%s%s", remove ? "!" : "", line);
        /* Hist errors go to the error_log of the instance the file is in. */
        _cleanup_free_ char *log = path_join(t->instance_dir, "error_log");
        _cleanup_free_ char *before = error_log_last_stamp(log);
        int r = write_once_at(AT_FDCWD, path, O_WRONLY | O_APPEND, text, strlen(text));
        if (r < 0 && ret_error)
                *ret_error = error_log_explain(log, before, text);
        return r;
}

int tfs_synth_write(Tracefs *t, const char *line, bool remove, char **ret_error) {
        if (ret_error)
                *ret_error = NULL;
        if (strpbrk(line, "\n\r"))
                return -EINVAL;
        _cleanup_free_ char *text = NULL;
        if (remove) {
                size_t n = strcspn(line, " ");
                text = xstrdupf("!%.*s", (int) n, line);
        } else
                text = xstrdup(line);
        _cleanup_free_ char *log = path_join(t->root, "error_log");
        _cleanup_free_ char *before = error_log_last_stamp(log);
        int r = write_probe_file(t, "synthetic_events", text);
        if (r < 0 && ret_error)
                *ret_error = error_log_explain(log, before, text);
        return r;
}

int tfs_open_hist(Tracefs *t, const char *event) {
        if (strstr(event, ".."))
                return -EINVAL;
        _cleanup_free_ char *dir = path_join(t->instance_dir, "events");
        _cleanup_free_ char *ev = path_join(dir, event);
        _cleanup_free_ char *path = path_join(ev, "hist");
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

int tfs_reread(int fd, size_t max, Buf *out) {
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return read_fd_all(fd, max, out);
}

int tfs_open_trace_pipe(Tracefs *t) {
        _cleanup_free_ char *path = path_join(t->instance_dir, "trace_pipe");
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

/* ---- per-CPU stats ---- */

static int cmp_unsigned(const void *a, const void *b) {
        unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;
        return x < y ? -1 : x > y;
}

int tfs_list_cpus(Tracefs *t, unsigned **ret) {
        _cleanup_free_ char *dir = path_join(t->instance_dir, "per_cpu");
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                close(fd);
                return r;
        }
        unsigned *cpus = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                uint64_t cpu;
                if (strncmp(de->d_name, "cpu", 3) != 0 ||
                    strspn(de->d_name + 3, "0123456789") != strlen(de->d_name + 3) ||
                    parse_u64(sv_from(de->d_name + 3), &cpu) < 0 || cpu > UINT32_MAX)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        cpus = xrealloc(cpus, cap * sizeof(*cpus));
                }
                cpus[n++] = (unsigned) cpu;
        }
        closedir(d);
        if (n > 0)
                qsort(cpus, n, sizeof(*cpus), cmp_unsigned);
        *ret = cpus;
        return (int) n;
}

int tfs_read_cpu_stats(Tracefs *t, TracefsCpuStats *stats, size_t max) {
        _cleanup_free_ unsigned *cpus = NULL;
        int n = tfs_list_cpus(t, &cpus);
        if (n < 0)
                return n;
        _cleanup_free_ char *dir = path_join(t->instance_dir, "per_cpu");
        int r = 0;
        size_t filled = 0;
        for (size_t i = 0; i < (size_t) n && filled < max; i++) {
                char name[32];
                snprintf(name, sizeof(name), "cpu%u/stats", cpus[i]);
                _cleanup_free_ char *path = path_join(dir, name);
                _cleanup_buf_ Buf text = { 0 };
                r = read_all_at(AT_FDCWD, path, &text);
                if (r == -ENOENT) {
                        r = 0; /* the CPU went away meanwhile */
                        continue;
                }
                if (r < 0)
                        break;
                stats[filled] = (TracefsCpuStats){ .cpu = cpus[i] };
                r = tfs_parse_cpu_stats(text.data, &stats[filled]);
                if (r < 0)
                        break;
                filled++;
        }
        return r < 0 ? r : (int) filled;
}

int tfs_open_cpu_raw(Tracefs *t, unsigned cpu) {
        Buf b = { 0 };
        buf_printf(&b, "%s/per_cpu/cpu%u/trace_pipe_raw", t->instance_dir, cpu);
        _cleanup_free_ char *path = buf_steal(&b);
        int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

int tfs_read_kprobe_profile(Tracefs *t, Buf *out) {
        _cleanup_free_ char *path = path_join(t->root, "kprobe_profile");
        return read_all_at(AT_FDCWD, path, out);
}

int tfs_read_header_page(Tracefs *t, Buf *out) {
        _cleanup_free_ char *path = path_join(t->root, "events/header_page");
        return read_all_at(AT_FDCWD, path, out);
}

int tfs_event_format(Tracefs *t, const ProbeConfig *p, Buf *out) {
        Buf b = { 0 };
        if (p->type == PROBE_TRACEPOINT) {
                if (!tracepoint_target_is_valid(p->target))
                        return -EINVAL;
                buf_printf(&b, "%s/events/%s/format", t->root, p->target);
        } else {
                if (!name_is_valid(p->name))
                        return -EINVAL;
                buf_printf(&b, "%s/events/%s/%s/format", t->root, t->name, p->name);
        }
        _cleanup_free_ char *path = buf_steal(&b);
        return read_all_at(AT_FDCWD, path, out);
}

int tfs_instance_set_buffer_percent(Tracefs *t, unsigned percent) {
        _cleanup_free_ char *path = path_join(t->instance_dir, "buffer_percent");
        char v[16];
        snprintf(v, sizeof(v), "%u", percent);
        return write_control(path, v);
}

/* ---- tracepoint formats ---- */

int tfs_tracepoint_fields(const char *root, const char *target, char ***ret) {
        if (!tracepoint_target_is_valid(target))
                return -EINVAL;
        Buf b = { 0 };
        buf_printf(&b, "%s/events/%s/format", root, target);
        _cleanup_free_ char *path = buf_steal(&b);
        _cleanup_buf_ Buf text = { 0 };
        int r = read_all_at(AT_FDCWD, path, &text);
        if (r < 0)
                return r;
        return tfs_parse_format_fields(text.data, ret);
}
