#include "expo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>


void expo_put_label_value(Buf *out, StrView v) {
        const unsigned char *s = (const unsigned char *) v.p;
        size_t i = 0;

        buf_reserve(out, v.n);
        while (i < v.n) {
                unsigned char c = s[i];
                if (c == '\\' || c == '"') {
                        buf_putc(out, '\\');
                        buf_putc(out, (char) c);
                        i++;
                } else if (c == '\n') {
                        buf_append(out, "\\n", 2);
                        i++;
                } else {
                        bool valid;
                        size_t k = utf8_seq(s + i, v.n - i, &valid);
                        if (valid)
                                buf_append(out, s + i, k);
                        else
                                buf_append(out, "\xEF\xBF\xBD", 3);
                        i += k;
                }
        }
}

void expo_put_help(Buf *out, StrView v) {
        for (size_t i = 0; i < v.n; i++) {
                char c = v.p[i];
                if (c == '\\')
                        buf_append(out, "\\\\", 2);
                else if (c == '\n')
                        buf_append(out, "\\n", 2);
                else
                        buf_putc(out, c);
        }
}

void expo_put_header(Buf *out, const char *name, const char *type, const char *help) {
        if (help) {
                buf_puts(out, "# HELP ");
                buf_puts(out, name);
                buf_putc(out, ' ');
                expo_put_help(out, sv_from(help));
                buf_putc(out, '\n');
        }
        buf_puts(out, "# TYPE ");
        buf_puts(out, name);
        buf_putc(out, ' ');
        buf_puts(out, type);
        buf_putc(out, '\n');
}

static void put_name_labels(Buf *out, const char *name, const char *const *labels, const StrView *values,
                            size_t n) {
        buf_puts(out, name);
        if (n == 0)
                return;
        buf_putc(out, '{');
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        buf_putc(out, ',');
                buf_puts(out, labels[i]);
                buf_append(out, "=\"", 2);
                expo_put_label_value(out, values[i]);
                buf_putc(out, '"');
        }
        buf_putc(out, '}');
}

void expo_put_sample_u64(Buf *out, const char *name, const char *const *labels, const StrView *values,
                         size_t n, uint64_t value) {
        put_name_labels(out, name, labels, values, n);
        buf_putc(out, ' ');
        buf_put_u64(out, value);
        buf_putc(out, '\n');
}

/* Prometheus parses values with Go's strconv.ParseFloat, which accepts what
 * %g prints, plus the literal spellings NaN, +Inf and -Inf. The shortest
 * precision that reads back to the same double keeps 0.1 as "0.1" rather
 * than %.17g's "0.10000000000000001". Both printf and strtod follow the
 * locale; the daemon never calls setlocale(), so that is "C". */
static void put_double(Buf *out, double v) {
        if (isnan(v)) {
                buf_puts(out, "NaN");
                return;
        }
        if (isinf(v)) {
                buf_puts(out, v > 0 ? "+Inf" : "-Inf");
                return;
        }

        char tmp[32];
        for (int prec = 15; prec <= 17; prec++) {
                snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
                if (prec == 17 || strtod(tmp, NULL) == v)
                        break;
        }
        buf_puts(out, tmp);
}

void expo_put_sample_double(Buf *out, const char *name, const char *const *labels, const StrView *values,
                            size_t n, double value) {
        put_name_labels(out, name, labels, values, n);
        buf_putc(out, ' ');
        put_double(out, value);
        buf_putc(out, '\n');
}

void expo_put_counter(Buf *out, const char *name, const char *help, uint64_t value) {
        expo_put_header(out, name, "counter", help);
        expo_put_sample_u64(out, name, NULL, NULL, 0, value);
}
