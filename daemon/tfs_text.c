/* Pure parsers and builders of tracefs texts; see tfs_text.h. */
#include "tfs_text.h"

#include <errno.h>
#include <stddef.h>

static StrView sv_trim(StrView s) {
        while (s.n > 0 && char_is_space(s.p[0]))
                s.p++, s.n--;
        while (s.n > 0 && char_is_space(s.p[s.n - 1]))
                s.n--;
        return s;
}

/* ---- /proc/mounts ---- */

static char *unescape_mount_path(const char *s, size_t n) {
        Buf b = { 0 };
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\' && i + 3 < n &&
                    s[i + 1] >= '0' && s[i + 1] <= '3' &&
                    s[i + 2] >= '0' && s[i + 2] <= '7' &&
                    s[i + 3] >= '0' && s[i + 3] <= '7') {
                        buf_putc(&b, (char) ((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
                        i += 3;
                } else
                        buf_putc(&b, s[i]);
        }
        return buf_steal(&b);
}

/* The next space-separated field of a mounts line (the kernel escapes the
 * spaces inside a field). */
static StrView next_field(StrView *line) {
        while (line->n > 0 && line->p[0] == ' ')
                line->p++, line->n--;
        const char *sp = memchr(line->p, ' ', line->n);
        size_t n = sp ? (size_t) (sp - line->p) : line->n;
        StrView f = { line->p, n };
        line->p += n;
        line->n -= n;
        return f;
}

int tfs_parse_mounts(const char *text, char **ret) {
        for (const char *pos = text; *pos;) {
                /* device mountpoint fstype options ... */
                StrView line = sv_next_line(&pos);
                (void) next_field(&line);
                StrView dir = next_field(&line), type = next_field(&line);
                if (dir.n > 0 && sv_eq_str(type, "tracefs")) {
                        *ret = unescape_mount_path(dir.p, dir.n);
                        return 0;
                }
        }
        return -ENOENT;
}

/* ---- probe files ---- */

const char *tfs_probe_file(ProbeType t) {
        switch (t) {
        case PROBE_KPROBE:
        case PROBE_KRETPROBE:
                return "kprobe_events";
        case PROBE_UPROBE:
        case PROBE_URETPROBE:
                return "uprobe_events";
        default:
                return NULL;
        }
}

int tfs_probe_definition(const ProbeConfig *p, const char *group, Buf *out) {
        return tfs_probe_definition_at(p, group, NULL, out);
}

int tfs_probe_definition_at(const ProbeConfig *p, const char *group, const char *target, Buf *out) {
        char kind;
        switch (p->type) {
        case PROBE_KPROBE:
        case PROBE_UPROBE:
                kind = 'p';
                break;
        case PROBE_KRETPROBE:
        case PROBE_URETPROBE:
                kind = 'r';
                break;
        default:
                return -EINVAL;
        }
        if (!target)
                target = p->target;
        if (!group || !p->name || !target || !*group || !*p->name || !*target)
                return -EINVAL;
        /* A newline would smuggle a second command into the probe file (one
         * that could delete someone else's probe); the kernel splits the
         * rest into words with its isspace(), and cuts a command at '#'
         * (a comment), which would drop what follows without a word. */
        if (has_space(group) || has_space(p->name) || has_space(target) ||
            strchr(group, '#') || strchr(p->name, '#') || strchr(target, '#'))
                return -EINVAL;
        for (size_t i = 0; i < p->n_fetch; i++)
                if (!p->fetch[i] || !*p->fetch[i] || strpbrk(p->fetch[i], "\n\r#"))
                        return -EINVAL;

        buf_clear(out);
        buf_printf(out, "%c:%s/%s %s", kind, group, p->name, target);
        for (size_t i = 0; i < p->n_fetch; i++) {
                buf_putc(out, ' ');
                /* The kernel has no $argN for uprobes: its register,
                 * here, so that every place that shows the line (/probes,
                 * --config.check, uprobe_events) shows what runs. A
                 * uretprobe's stays (the config refuses it). */
                if (p->type != PROBE_UPROBE)
                        buf_puts(out, p->fetch[i]);
                else if (uprobe_fetch_arg_translate(p->fetch[i], out, NULL) < 0) {
                        buf_clear(out);
                        return -EINVAL;
                }
        }
        return 0;
}

bool tfs_probe_line_split(StrView l, StrView *ret_group, StrView *ret_event) {
        size_t i = 0;
        if (l.n < 2 || (l.p[0] != 'p' && l.p[0] != 'r'))
                return false;
        i = 1;
        while (i < l.n && l.p[i] >= '0' && l.p[i] <= '9')
                i++;
        if (i >= l.n || l.p[i] != ':')
                return false;
        size_t g = ++i;
        while (i < l.n && l.p[i] != '/' && l.p[i] != ' ')
                i++;
        if (i >= l.n || l.p[i] != '/' || i == g)
                return false;
        StrView group = { l.p + g, i - g };
        size_t e = ++i;
        while (i < l.n && l.p[i] != ' ')
                i++;
        if (i == e)
                return false;
        *ret_group = group;
        *ret_event = (StrView){ l.p + e, i - e };
        return true;
}

/* ---- error_log ---- */

#define COMMAND_PREFIX "  Command: "

bool tfs_error_log_next(const char **pos, TfsErrorLogEntry *e) {
        *e = (TfsErrorLogEntry){ 0 };
        while (**pos) {
                StrView l = sv_next_line(pos);
                const char *close = l.n > 0 && l.p[0] == '[' ? memchr(l.p, ']', l.n) : NULL;
                if (!close)
                        continue; /* not a header: skip until the next one */
                StrView stamp = { l.p + 1, (size_t) (close - l.p - 1) };
                while (stamp.n > 0 && stamp.p[0] == ' ')
                        stamp.p++, stamp.n--;
                const char *m = close + 1;
                if (m < l.p + l.n && *m == ' ')
                        m++;
                e->stamp = stamp;
                e->message = (StrView){ m, (size_t) (l.p + l.n - m) };
                const char *peek = *pos;
                StrView c = sv_next_line(&peek);
                if (sv_startswith(c, COMMAND_PREFIX)) {
                        e->command = c;
                        *pos = peek;
                        StrView caret = sv_next_line(&peek);
                        if (caret.n > 0 && caret.p[0] != '[' && memchr(caret.p, '^', caret.n)) {
                                e->caret = caret;
                                *pos = peek;
                        }
                }
                return true;
        }
        return false;
}

/* Compares two commands word by word: the kernel re-joins the words it
 * split with single spaces. */
static bool words_equal(StrView a, StrView b) {
        size_t i = 0, j = 0;
        for (;;) {
                while (i < a.n && char_is_space(a.p[i]))
                        i++;
                while (j < b.n && char_is_space(b.p[j]))
                        j++;
                if (i == a.n || j == b.n)
                        return i == a.n && j == b.n;
                while (i < a.n && j < b.n && !char_is_space(a.p[i]) && a.p[i] == b.p[j])
                        i++, j++;
                bool a_end = i == a.n || char_is_space(a.p[i]);
                bool b_end = j == b.n || char_is_space(b.p[j]);
                if (!a_end || !b_end)
                        return false;
        }
}

/* "p:grp/ev rest" -> "p:ev rest", for a kernel that logs the command
 * without the group. Returns false if there is no group to drop. */
static bool drop_group(StrView cmd, Buf *out) {
        const char *colon = memchr(cmd.p, ':', cmd.n);
        const char *sp = memchr(cmd.p, ' ', cmd.n);
        const char *slash = memchr(cmd.p, '/', cmd.n);
        if (!colon || !slash || slash < colon || (sp && slash > sp))
                return false;
        buf_clear(out);
        buf_append(out, cmd.p, (size_t) (colon + 1 - cmd.p));
        buf_append(out, slash + 1, (size_t) (cmd.p + cmd.n - slash - 1));
        return true;
}

static TfsCommandMatch command_match(const TfsErrorLogEntry *e, StrView want, const Buf *abbreviated) {
        if (!sv_startswith(e->command, COMMAND_PREFIX))
                return TFS_COMMAND_OTHER;
        StrView got = { e->command.p + strlen(COMMAND_PREFIX), e->command.n - strlen(COMMAND_PREFIX) };
        if (words_equal(got, want))
                return TFS_COMMAND_EQUAL;
        if (abbreviated->data && words_equal(got, (StrView){ abbreviated->data, abbreviated->len }))
                return TFS_COMMAND_ABBREVIATED;
        return TFS_COMMAND_OTHER;
}

TfsCommandMatch tfs_error_log_command_match(const TfsErrorLogEntry *e, const char *command) {
        _cleanup_buf_ Buf abbreviated = { 0 };
        StrView want = sv_from(command);
        (void) drop_group(want, &abbreviated);
        return command_match(e, want, &abbreviated);
}

/* Stamps are "sec.usec" with a fixed-width fraction and no leading zeros
 * once the padding is gone: longer is later, else compare the bytes. */
static bool stamp_newer(StrView a, StrView b) {
        return a.n != b.n ? a.n > b.n : memcmp(a.p, b.p, a.n) > 0;
}

char *tfs_error_log_last_stamp(const char *log_text) {
        StrView last = { "", 0 };
        TfsErrorLogEntry e;
        for (const char *pos = log_text ? log_text : ""; tfs_error_log_next(&pos, &e);)
                if (stamp_newer(e.stamp, last))
                        last = e.stamp;
        return xstrndup(last.p, last.n);
}

char *tfs_error_log_entry(const char *log_text, const char *command, const char *since) {
        if (!log_text || !command)
                return NULL;
        StrView want = sv_from(command), after = sv_from(since);
        _cleanup_buf_ Buf abbreviated = { 0 };
        (void) drop_group(want, &abbreviated);

        TfsErrorLogEntry best = { 0 }, loose = { 0 }, e;
        for (const char *pos = log_text; tfs_error_log_next(&pos, &e);) {
                if (since && !stamp_newer(e.stamp, after))
                        continue;
                TfsCommandMatch m = command_match(&e, want, &abbreviated);
                if (m == TFS_COMMAND_EQUAL)
                        best = e;
                else if (m == TFS_COMMAND_ABBREVIATED)
                        loose = e;
        }
        if (!best.command.p)
                best = loose;
        if (!best.command.p)
                return NULL;

        Buf b = { 0 };
        buf_put_sv(&b, best.message);
        buf_putc(&b, '\n');
        buf_put_sv(&b, best.command);
        if (best.caret.n > 0) {
                buf_putc(&b, '\n');
                buf_put_sv(&b, best.caret);
        }
        return buf_steal(&b);
}

/* ---- per_cpu/cpuN/stats ---- */

int tfs_parse_cpu_stats(const char *text, TracefsCpuStats *s) {
        static const struct {
                const char *key;
                size_t offset;
        } keys[] = {
                { "entries", offsetof(TracefsCpuStats, entries) },
                { "overrun", offsetof(TracefsCpuStats, overrun) },
                { "commit overrun", offsetof(TracefsCpuStats, commit_overrun) },
                { "dropped events", offsetof(TracefsCpuStats, dropped_events) },
                { "read events", offsetof(TracefsCpuStats, read_events) },
        };
        *s = (TracefsCpuStats){ .cpu = s->cpu };
        for (const char *pos = text; *pos;) {
                StrView l = sv_next_line(&pos);
                const char *colon = memchr(l.p, ':', l.n);
                if (!colon)
                        continue;
                StrView key = { l.p, (size_t) (colon - l.p) };
                StrView val = sv_trim((StrView){ colon + 1, (size_t) (l.p + l.n - colon - 1) });
                for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                        if (!sv_eq_str(key, keys[i].key))
                                continue;
                        uint64_t v;
                        if (parse_u64(val, &v) < 0)
                                return -EBADMSG;
                        memcpy((char *) s + keys[i].offset, &v, sizeof(v));
                }
        }
        return 0;
}

/* ---- events/<subsystem>/<event>/format ---- */

bool tfs_format_field_name(StrView l, StrView *ret) {
        while (l.n > 0 && char_is_space(l.p[0]))
                l.p++, l.n--;
        if (!sv_startswith(l, "field:"))
                return false;
        const char *f = l.p;
        const char *semi = memchr(f, ';', l.n);
        if (!semi)
                return false;
        /* "field:" has no '[': a bracket found walking back is after it. */
        const char *e = semi;
        if (e[-1] == ']') {
                while (e > f && *e != '[')
                        e--;
                if (*e != '[')
                        return false;
        }
        const char *s = e;
        while (s > f + 6 && char_is_name(s[-1]))
                s--;
        if (s == e || !char_is_name_start(*s))
                return false;
        *ret = (StrView){ s, (size_t) (e - s) };
        return true;
}

int tfs_parse_format_fields(const char *format_text, char ***ret) {
        static const char print_fmt[] = "print fmt: \"";
        const char *fmt = strstr(format_text, print_fmt);
        if (!fmt)
                return -EBADMSG;
        fmt += strlen(print_fmt);
        const char *end = fmt;
        while (*end && *end != '"') {
                if (*end == '\\' && end[1])
                        end++;
                end++;
        }
        if (*end != '"')
                return -EBADMSG;

        char **v = NULL;
        size_t n = 0;
        /* "name=%..." pairs: what the kernel prints for most tracepoints */
        for (const char *c = fmt; c + 1 < end; c++) {
                if (c[0] != '=' || c[1] != '%')
                        continue;
                const char *s = c;
                while (s > fmt && char_is_name(s[-1]))
                        s--;
                /* "\nname=%d": the n is an escape's, not the name's */
                if (s > fmt && s[-1] == '\\' && s < c)
                        s++;
                if (s == c || !char_is_name_start(*s))
                        continue;
                strv_push(&v, &n, (StrView){ s, (size_t) (c - s) });
        }

        /* Syscalls print "name(k: v, ...)" or just the return value: the
         * fields then come from the field list. __syscall_nr is not
         * printed (only with options/fields, which we turn off). */
        if (n == 0)
                for (const char *pos = format_text; pos < fmt;) {
                        StrView l = sv_next_line(&pos), name;
                        if (!tfs_format_field_name(l, &name))
                                continue;
                        if (sv_startswith(name, "common_") || sv_eq_str(name, "__syscall_nr"))
                                continue;
                        strv_push(&v, &n, name);
                }

        if (!v)
                v = xcalloc(1, sizeof(char *));
        *ret = v;
        return (int) n;
}

int tfs_parse_kprobe_profile(const char *text, const char *event, uint64_t *hits, uint64_t *misses) {
        /* "  EVENT   HITS   MISSES" per probe; newer kernels may print
         * "GROUP/EVENT": both are taken. */
        size_t n = strlen(event);
        for (const char *pos = text; *pos;) {
                StrView l = sv_next_line(&pos);
                while (l.n > 0 && char_is_space(l.p[0]))
                        l.p++, l.n--;
                const char *sp = memchr(l.p, ' ', l.n);
                if (!sp)
                        continue;
                StrView name = { l.p, (size_t) (sp - l.p) };
                const char *slash = memchr(name.p, '/', name.n);
                if (slash)
                        name = (StrView){ slash + 1, (size_t) (name.p + name.n - slash - 1) };
                if (name.n != n || memcmp(name.p, event, n) != 0)
                        continue;
                StrView rest = { sp, (size_t) (l.p + l.n - sp) };
                StrView nums[2];
                size_t k = 0;
                for (size_t i = 0; i < rest.n && k < 2;) {
                        while (i < rest.n && char_is_space(rest.p[i]))
                                i++;
                        size_t s = i;
                        while (i < rest.n && !char_is_space(rest.p[i]))
                                i++;
                        if (i > s)
                                nums[k++] = (StrView){ rest.p + s, i - s };
                }
                if (k < 2 || parse_u64(nums[0], hits) < 0 || parse_u64(nums[1], misses) < 0)
                        return -EBADMSG;
                return 0;
        }
        return -ENOENT;
}

static bool clock_listed(const char *text, const char *name) {
        size_t n = strlen(name);
        for (const char *p = text; *p;) {
                while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '[')
                        p++;
                const char *start = p;
                while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != ']')
                        p++;
                if ((size_t) (p - start) == n && strncmp(start, name, n) == 0)
                        return true;
                if (*p == ']')
                        p++;
        }
        return false;
}

const char *tfs_pick_trace_clock(const char *text) {
        if (!text)
                return NULL;
        if (clock_listed(text, "mono"))
                return "mono";
        if (clock_listed(text, "global"))
                return "global";
        return NULL;
}

int tfs_format_field_is_numeric(const char *format_text, const char *name) {
        StrView want = sv_from(name);
        for (const char *l = format_text; l && *l;) {
                const char *nl = strchr(l, '\n');
                StrView line = { l, nl ? (size_t) (nl - l) : strlen(l) }, field;
                l = nl ? nl + 1 : NULL;
                if (!tfs_format_field_name(line, &field) || !sv_eq(field, want))
                        continue;
                const char *semi = memchr(line.p, ';', line.n);
                StrView decl = { line.p, (size_t) (field.p - line.p) };
                bool array = semi && semi[-1] == ']';
                bool data_loc = memmem(decl.p, decl.n, "__data_loc", 10) != NULL;
                return !array && !data_loc;
        }
        return -ENOENT;
}
