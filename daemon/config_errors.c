/* Config errors: the list the loaders fill, and its report with the
 * source lines and carets. Pure but for config_errors_render(), which
 * reads the config file for its lines. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "util.h"

void config_errors_addv(ConfigErrors *errs, unsigned line, unsigned column, const char *fmt, va_list ap) {
        char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = xstrdup("out of memory formatting an error");

        errs->items = xrealloc(errs->items, (errs->n + 1) * sizeof(ConfigError));
        errs->items[errs->n++] = (ConfigError){ .line = line, .column = column, .message = msg };
}

void config_errors_add(ConfigErrors *errs, unsigned line, unsigned column, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        config_errors_addv(errs, line, column, fmt, ap);
        va_end(ap);
}

void config_errors_set_file(ConfigErrors *errs, size_t from, const char *file) {
        for (size_t i = from; file && i < errs->n; i++)
                if (!errs->items[i].file)
                        errs->items[i].file = xstrdup(file);
}

void config_errors_clear(ConfigErrors *errs) {
        if (!errs)
                return;
        for (size_t i = 0; i < errs->n; i++) {
                free(errs->items[i].message);
                free(errs->items[i].file);
        }
        free(errs->items);
        *errs = (ConfigErrors){ 0 };
}

/* Finds the 1-based line `line` of text; false when the text is shorter. */
static bool find_line(const char *text, size_t len, unsigned line, StrView *ret) {
        size_t start = 0;
        for (unsigned l = 1; l < line; l++) {
                const char *nl = memchr(text + start, '\n', len - start);
                if (!nl)
                        return false;
                start = (size_t) (nl - text) + 1;
        }
        if (start > len)
                return false;
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t) (nl - text) : len;
        if (end > start && text[end - 1] == '\r')
                end--;
        *ret = (StrView){ text + start, end - start };
        return true;
}

/* The report of config_errors_write() and config_errors_render(). */
static void errors_format(const ConfigErrors *errs, const char *main_file, const char *main_text, size_t main_len,
                          Buf *out) {
        if (!errs)
                return;
        /* An included file's lines: read when one of its errors comes. */
        _cleanup_free_ char *inc_text = NULL;
        const char *inc_file = NULL;
        size_t inc_len = 0;
        for (size_t i = 0; i < errs->n; i++) {
                const ConfigError *e = &errs->items[i];
                const char *file = e->file ? e->file : main_file, *text = main_text;
                size_t len = main_len;
                StrView src;
                if (e->file) {
                        if (!inc_file || strcmp(inc_file, e->file) != 0) {
                                free(inc_text);
                                inc_text = NULL;
                                inc_file = e->file;
                                if (config_read_file(e->file, &inc_text, &inc_len) < 0)
                                        inc_text = NULL;
                        }
                        text = inc_text;
                        len = inc_text ? inc_len : 0;
                }

                if (e->line == 0) {
                        buf_printf(out, "%s: %s\n", file, e->message);
                        continue;
                }
                buf_printf(out, "%s:%u:%u: %s\n", file, e->line, e->column, e->message);
                if (!text || !find_line(text, len, e->line, &src))
                        continue;

                buf_puts(out, "    ");
                buf_put_sv(out, src);
                buf_puts(out, "\n    ");
                /* libyaml counts columns in characters: step over UTF-8
                 * continuation bytes, and keep tabs so the caret lines up. */
                unsigned col = 1;
                for (size_t j = 0; j < src.n && col < e->column; j++) {
                        unsigned char c = (unsigned char) src.p[j];
                        if ((c & 0xc0) == 0x80)
                                continue;
                        buf_putc(out, c == '\t' ? '\t' : ' ');
                        col++;
                }
                for (; col < e->column; col++)
                        buf_putc(out, ' ');
                buf_puts(out, "^\n");
        }
}

void config_errors_write(const ConfigErrors *errs, const char *file, const char *text, size_t len, FILE *f) {
        _cleanup_buf_ Buf out = { 0 };
        errors_format(errs, file, text, len, &out);
        if (out.len > 0)
                fwrite(out.data, 1, out.len, f);
}

void config_errors_render(const ConfigErrors *errs, const char *path, Buf *out) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        /* Unreadable now (or too large): the errors without their lines. */
        if (config_read_file(path, &text, &len) < 0)
                text = NULL;
        errors_format(errs, path, text, text ? len : 0, out);
}
