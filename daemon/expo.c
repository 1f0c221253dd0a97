#include "expo.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- content negotiation ---- */

/* The q of one media range's parameters ("; q=0.5"), 1 when absent. */
static double accept_q(StrView params) {
        const char *p = params.p, *end = params.p + params.n;
        while (p < end) {
                while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
                        p++;
                if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                        char tmp[16];
                        size_t n = 0;
                        for (p += 2; p < end && *p != ';' && n + 1 < sizeof(tmp); p++)
                                tmp[n++] = *p;
                        tmp[n] = 0;
                        char *e;
                        double q = strtod(tmp, &e);
                        return e == tmp || q < 0 || q > 1 ? 0 : q;
                }
                while (p < end && *p != ';')
                        p++;
        }
        return 1;
}

static bool media_is(StrView range, const char *type) {
        size_t n = strlen(type);
        return range.n == n && strncasecmp(range.p, type, n) == 0;
}

ExpoFormat expo_format_from_accept(const char *accept) {
        if (!accept)
                return EXPO_TEXT;
        double om = 0, text = 0;
        bool om_first = false, seen_text = false;
        const char *p = accept;
        while (*p) {
                const char *end = strchr(p, ',');
                if (!end)
                        end = p + strlen(p);
                while (p < end && (*p == ' ' || *p == '\t'))
                        p++;
                const char *semi = NULL;
                for (const char *q = p; q < end && !semi; q++)
                        if (*q == ';')
                                semi = q;
                const char *type_end = semi ? semi : end;
                while (type_end > p && (type_end[-1] == ' ' || type_end[-1] == '\t'))
                        type_end--;
                StrView range = { p, (size_t) (type_end - p) };
                StrView params = semi ? (StrView){ semi, (size_t) (end - semi) } : (StrView){ end, 0 };
                double q = accept_q(params);
                if (media_is(range, "application/openmetrics-text")) {
                        if (q > om) {
                                om = q;
                                om_first = om_first || !seen_text;
                        }
                } else if (media_is(range, "text/plain") || media_is(range, "*/*") || media_is(range, "text/*")) {
                        if (q > text)
                                text = q;
                        seen_text = true;
                }
                p = *end ? end + 1 : end;
        }
        if (om <= 0)
                return EXPO_TEXT;
        return om > text || (om == text && om_first) ? EXPO_OPENMETRICS : EXPO_TEXT;
}

const char *expo_content_type(ExpoFormat f) {
        return f == EXPO_OPENMETRICS ? EXPO_OPENMETRICS_CONTENT_TYPE : EXPO_CONTENT_TYPE;
}

/* ---- escaping ---- */

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

void expo_put_help(Expo *e, StrView v) {
        for (size_t i = 0; i < v.n; i++) {
                char c = v.p[i];
                if (c == '\\')
                        buf_append(e->out, "\\\\", 2);
                else if (c == '\n')
                        buf_append(e->out, "\\n", 2);
                else if (c == '"' && e->format == EXPO_OPENMETRICS)
                        buf_append(e->out, "\\\"", 2);
                else
                        buf_putc(e->out, c);
        }
}

/* ---- metadata ---- */

/* OpenMetrics' UNIT must be a suffix of the family's name; these are the
 * base units Prometheus' naming practice names. */
static const char *name_unit(const char *family, size_t n) {
        static const char *const units[] = { "seconds", "bytes", "ratio", "meters", "volts", "amperes",
                                             "joules", "grams", "celsius", "bits" };
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                size_t k = strlen(units[i]);
                if (n > k + 1 && family[n - k - 1] == '_' && strncmp(family + n - k, units[i], k) == 0)
                        return units[i];
        }
        return NULL;
}

static void put_meta(Expo *e, const char *what, const char *family, size_t n) {
        buf_puts(e->out, what);
        buf_append(e->out, family, n);
        buf_putc(e->out, ' ');
}

void expo_put_header(Expo *e, const char *name, const char *type, const char *help) {
        size_t n = strlen(name);
        if (e->format == EXPO_OPENMETRICS && strcmp(type, "counter") == 0 && n > 6 &&
            strcmp(name + n - 6, "_total") == 0)
                n -= 6;
        if (help) {
                put_meta(e, "# HELP ", name, n);
                expo_put_help(e, sv_from(help));
                buf_putc(e->out, '\n');
        }
        put_meta(e, "# TYPE ", name, n);
        buf_puts(e->out, type);
        buf_putc(e->out, '\n');
        const char *unit = e->format == EXPO_OPENMETRICS ? name_unit(name, n) : NULL;
        if (unit) {
                put_meta(e, "# UNIT ", name, n);
                buf_puts(e->out, unit);
                buf_putc(e->out, '\n');
        }
}

/* ---- samples ---- */

static void put_label(Buf *out, const char *name, StrView value) {
        buf_puts(out, name);
        buf_append(out, "=\"", 2);
        expo_put_label_value(out, value);
        buf_putc(out, '"');
}

static void put_name_labels(Buf *out, const char *name, const char *const *labels, const StrView *values, size_t n,
                            const char *extra_label, const char *extra_value) {
        buf_puts(out, name);
        if (n == 0 && !extra_label)
                return;
        buf_putc(out, '{');
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        buf_putc(out, ',');
                put_label(out, labels[i], values[i]);
        }
        if (extra_label) {
                if (n > 0)
                        buf_putc(out, ',');
                put_label(out, extra_label, sv_from(extra_value));
        }
        buf_putc(out, '}');
}

/* Prometheus parses values with Go's strconv.ParseFloat, which accepts what
 * %g prints, plus the literal spellings NaN, +Inf and -Inf. The shortest
 * precision that reads back to the same double keeps 0.1 as "0.1" rather
 * than %.17g's "0.10000000000000001". Both printf and strtod follow the
 * locale; the daemon never calls setlocale(), so that is "C". */
void expo_put_double(Buf *out, double v) {
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

/* " # {seq="N"} VALUE [TIMESTAMP]": the timestamp in Unix seconds with
 * microseconds (what trace_pipe's clock gives the text reader). */
static void put_exemplar(Expo *e, const Exemplar *ex) {
        char seq[24];
        buf_puts(e->out, " # {seq=\"");
        buf_append(e->out, seq, fmt_u64(seq, ex->seq));
        buf_puts(e->out, "\"} ");
        expo_put_double(e->out, ex->value);
        if (e->has_epoch) {
                int64_t t = (int64_t) ex->ts_ns + e->epoch_offset_ns;
                if (t > 0)
                        buf_printf(e->out, " %" PRId64 ".%06" PRId64, t / 1000000000, (t % 1000000000) / 1000);
        }
}

void expo_put_sample_full(Expo *e, const char *name, const char *const *labels, const StrView *values, size_t n,
                          const char *extra_label, const char *extra_value, bool is_double, uint64_t u, double d,
                          const Exemplar *ex) {
        put_name_labels(e->out, name, labels, values, n, extra_label, extra_value);
        buf_putc(e->out, ' ');
        if (is_double)
                expo_put_double(e->out, d);
        else
                buf_put_u64(e->out, u);
        if (ex && ex->seq != 0 && e->format == EXPO_OPENMETRICS)
                put_exemplar(e, ex);
        buf_putc(e->out, '\n');
}

void expo_put_sample_u64(Expo *e, const char *name, const char *const *labels, const StrView *values, size_t n,
                         uint64_t value) {
        expo_put_sample_full(e, name, labels, values, n, NULL, NULL, false, value, 0, NULL);
}

void expo_put_sample_double(Expo *e, const char *name, const char *const *labels, const StrView *values, size_t n,
                            double value) {
        expo_put_sample_full(e, name, labels, values, n, NULL, NULL, true, 0, value, NULL);
}

void expo_put_counter(Expo *e, const char *name, const char *help, uint64_t value) {
        expo_put_header(e, name, "counter", help);
        expo_put_sample_u64(e, name, NULL, NULL, 0, value);
}

void expo_end(Expo *e) {
        if (e->format == EXPO_OPENMETRICS)
                buf_puts(e->out, "# EOF\n");
}
