/* Fuzz target: every parser of tfs_text.c on one input, "COMMAND\0TEXT"
 * (without a NUL, the whole input is the text and the command too). TEXT
 * goes through the /proc/mounts, error_log, probe-file, stats and format
 * parsers, COMMAND is looked up in it as error_log's command, and both
 * build a probe definition. Besides crashes it checks what tfs_text.h
 * promises: views inside the text and without a newline, an entry's
 * command equal to itself, nothing newer than the newest stamp, field
 * names that are names, and a definition that is one line of the kernel's
 * probe syntax which the cleanup's splitter reads back. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "tfs_text.h"

static bool sv_has(StrView v, char c) {
        return v.n > 0 && memchr(v.p, c, v.n);
}

static size_t count_lines(const char *text) {
        size_t n = 1;
        for (const char *c = text; (c = strchr(c, '\n')); c++)
                n++;
        return n;
}

static void check_mounts(const char *text, size_t len) {
        char *root = NULL;
        int r = tfs_parse_mounts(text, &root);
        fuzz_check(r == 0 || r == -ENOENT);
        fuzz_check((r == 0) == (root != NULL));
        if (root) {
                /* an escape is four bytes for one */
                fuzz_check(*root || strstr(text, "\\000"));
                fuzz_check(strlen(root) <= len);
                free(root);
        }
}

static void check_error_log(const char *text, size_t len, const char *command) {
        size_t entries = 0;
        TfsErrorLogEntry e;
        const char *pos = text;
        for (const char *before = pos; tfs_error_log_next(&pos, &e); before = pos) {
                entries++;
                fuzz_check(pos > before && pos <= text + len);
                StrView views[] = { e.stamp, e.message, e.command, e.caret };
                for (size_t i = 0; i < ELEMENTSOF(views); i++) {
                        fuzz_check(fuzz_sv_inside(views[i], text, len));
                        fuzz_check(!sv_has(views[i], '\n'));
                        (void) fuzz_touch(views[i]);
                }
                fuzz_check(e.command.n == 0 || sv_startswith(e.command, "  Command: "));
                fuzz_check(e.caret.n == 0 || (e.command.n > 0 && sv_has(e.caret, '^')));
                if (e.command.n > 0) {
                        char *own = xstrndup(e.command.p + 11, e.command.n - 11);
                        fuzz_check(tfs_error_log_command_match(&e, own) == TFS_COMMAND_EQUAL);
                        free(own);
                }
                (void) tfs_error_log_command_match(&e, command);
        }
        fuzz_check(entries <= count_lines(text));

        char *last = tfs_error_log_last_stamp(text);
        fuzz_check(last && (!*last || strstr(text, last)));
        char *pick = tfs_error_log_entry(text, command, NULL);
        if (pick) {
                fuzz_check(strstr(pick, "\n  Command: "));
                size_t newlines = 0;
                for (const char *c = pick; (c = strchr(c, '\n')); c++)
                        newlines++;
                fuzz_check(newlines == 1 || newlines == 2);
                fuzz_check(pick[strlen(pick) - 1] != '\n');
                free(pick);
        }
        /* Nothing is newer than the newest entry. */
        fuzz_check(!tfs_error_log_entry(text, command, last));
        free(last);
}

static void check_lines(const char *text, size_t len) {
        for (const char *pos = text; *pos;) {
                StrView l = sv_next_line(&pos), group, event, name;
                fuzz_check(fuzz_sv_inside(l, text, len) && !sv_has(l, '\n'));
                if (tfs_probe_line_split(l, &group, &event)) {
                        fuzz_check(fuzz_sv_inside(group, l.p, l.n) && fuzz_sv_inside(event, l.p, l.n));
                        fuzz_check(group.n > 0 && event.n > 0);
                        fuzz_check(!sv_has(group, '/') && !sv_has(group, ' ') && !sv_has(event, ' '));
                        fuzz_check(l.p[0] == 'p' || l.p[0] == 'r');
                }
                if (tfs_format_field_name(l, &name)) {
                        fuzz_check(fuzz_sv_inside(name, l.p, l.n) && name.n > 0);
                        fuzz_check(char_is_name_start(name.p[0]));
                        for (size_t i = 0; i < name.n; i++)
                                fuzz_check(char_is_name(name.p[i]));
                }
        }
}

static void check_stats_and_format(const char *text) {
        TracefsCpuStats s = { .cpu = 42 };
        int r = tfs_parse_cpu_stats(text, &s);
        fuzz_check(r == 0 || r == -EBADMSG);
        fuzz_check(s.cpu == 42);

        char **v = NULL;
        int n = tfs_parse_format_fields(text, &v);
        fuzz_check(n >= 0 || (n == -EBADMSG && !v));
        if (n < 0)
                return;
        for (int i = 0; i < n; i++) {
                fuzz_check(v[i] && char_is_name_start(v[i][0]));
                for (const char *c = v[i]; *c; c++)
                        fuzz_check(char_is_name(*c));
        }
        fuzz_check(!v[n]);
        strv_free(v);
}

/* COMMAND as "GROUP|NAME|TARGET|FETCH|FETCH...", type from TEXT's first
 * byte: what tfs_probe_definition() makes of any of them. */
static void check_definition(const char *command, const char *text) {
        char *copy = xstrdup(command), *part[8] = { "", "", "" };
        size_t n = 0;
        for (char *s = copy; s && n < ELEMENTSOF(part); n++) {
                part[n] = s;
                s = strchr(s, '|');
                if (s)
                        *s++ = 0;
        }
        ProbeConfig p = {
                .type = (ProbeType) ((unsigned char) text[0] % (_PROBE_TYPE_MAX + 1)),
                .name = part[1],
                .target = part[2],
                .fetch = n > 3 ? part + 3 : NULL,
                .n_fetch = n > 3 ? n - 3 : 0,
        };
        Buf out = { 0 };
        int r = tfs_probe_definition(&p, part[0], &out);
        fuzz_check(r == 0 || r == -EINVAL);
        fuzz_check(r < 0 || tfs_probe_file(p.type));
        if (r == 0) {
                /* One command, all of it read by the kernel. */
                fuzz_check(out.data && !strpbrk(out.data, "\n\r#"));
                fuzz_check(out.data[0] == 'p' || out.data[0] == 'r');
                fuzz_check(out.data[1] == ':');
                StrView group, event;
                if (group_name_is_valid(part[0]) && name_is_valid(part[1])) {
                        fuzz_check(tfs_probe_line_split((StrView){ out.data, out.len }, &group, &event));
                        fuzz_check(sv_eq_str(group, part[0]) && sv_eq_str(event, part[1]));
                }
        }
        buf_free(&out);
        free(copy);

        if (tracepoint_target_is_valid(command)) {
                fuzz_check(strchr(command, '/') == strrchr(command, '/'));
                fuzz_check(!has_space(command) && !strstr(command, "..") && command[0] != '-');
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *input = xmalloc(size + 1);
        memcpy(input, data, size);
        input[size] = 0;
        const char *nul = memchr(input, 0, size);
        const char *command = input, *text = nul ? nul + 1 : input;
        size_t len = strlen(text);

        check_mounts(text, len);
        check_error_log(text, len, command);
        check_lines(text, len);
        check_stats_and_format(text);
        check_definition(command, text);
        free(input);
        return 0;
}
