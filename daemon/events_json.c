#include "events_json.h"

#include "attrib.h"
#include "decode.h"

void json_put_string(Buf *out, StrView s) {
        static const char hex[] = "0123456789abcdef";
        const unsigned char *p = (const unsigned char *) s.p;
        size_t i = 0;

        buf_reserve(out, s.n + 2);
        buf_putc(out, '"');
        while (i < s.n) {
                unsigned char c = p[i];

                if (c >= 0x80) {
                        bool valid;
                        size_t k = utf8_seq(p + i, s.n - i, &valid);
                        if (valid)
                                buf_append(out, p + i, k);
                        else
                                buf_append(out, "\xEF\xBF\xBD", 3);
                        i += k;
                        continue;
                }

                i++;
                switch (c) {
                case '"':
                        buf_append(out, "\\\"", 2);
                        break;
                case '\\':
                        buf_append(out, "\\\\", 2);
                        break;
                case '\n':
                        buf_append(out, "\\n", 2);
                        break;
                case '\t':
                        buf_append(out, "\\t", 2);
                        break;
                case '\r':
                        buf_append(out, "\\r", 2);
                        break;
                case '\b':
                        buf_append(out, "\\b", 2);
                        break;
                case '\f':
                        buf_append(out, "\\f", 2);
                        break;
                default:
                        if (c < 0x20) {
                                char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf] };
                                buf_append(out, esc, sizeof(esc));
                        } else
                                buf_putc(out, (char) c);
                }
        }
        buf_putc(out, '"');
}

/* The kernel's "sec.usec" (or a plain counter with non-ns clocks) as a JSON
 * number when it is one: digits, optionally '.' digits, no leading zero
 * (JSON forbids "012"). An integer part over 15 digits cannot survive a
 * double, which is how most JSON readers hold numbers, so it stays a
 * string rather than silently lose its low digits. */
static bool timestamp_is_number(StrView t) {
        size_t i = 0;

        while (i < t.n && t.p[i] >= '0' && t.p[i] <= '9')
                i++;
        if (i == 0 || i > 15 || (i > 1 && t.p[0] == '0'))
                return false;
        if (i == t.n)
                return true;
        if (t.p[i] != '.' || i + 1 == t.n)
                return false;
        for (i++; i < t.n; i++)
                if (t.p[i] < '0' || t.p[i] > '9')
                        return false;
        return true;
}

void event_render_json(const RingEventView *ev, const char *probe_name, Buf *out) {
        buf_puts(out, "{\"seq\":");
        buf_put_u64(out, ev->seq);
        buf_puts(out, ",\"probe\":");
        if (probe_name)
                json_put_string(out, sv_from(probe_name));
        else
                buf_puts(out, "null");
        buf_puts(out, ",\"time\":");
        if (timestamp_is_number(ev->timestamp))
                buf_put_sv(out, ev->timestamp);
        else
                json_put_string(out, ev->timestamp);
        buf_puts(out, ",\"comm\":");
        json_put_string(out, ev->comm);
        buf_puts(out, ",\"pid\":");
        buf_put_i64(out, ev->pid);
        if (ev->tgid >= 0) {
                buf_puts(out, ",\"tgid\":");
                buf_put_i64(out, ev->tgid);
        }
        buf_puts(out, ",\"cpu\":");
        buf_put_i64(out, ev->cpu);
        if (ev->attributed && !ev->cgroup_known)
                buf_puts(out, ",\"cgroup\":null,\"unit\":null,\"user_unit\":null,\"container_id\":null");
        else if (ev->attributed) {
                CgroupNames names;
                cgroup_names(ev->cgroup, &names);
                buf_puts(out, ",\"cgroup\":");
                json_put_string(out, ev->cgroup);
                buf_puts(out, ",\"unit\":");
                json_put_string(out, names.unit);
                buf_puts(out, ",\"user_unit\":");
                json_put_string(out, names.user_unit);
                buf_puts(out, ",\"container_id\":");
                json_put_string(out, names.container_id);
        }
        buf_puts(out, ",\"fields\":{");
        for (size_t i = 0; i < ev->n_fields; i++) {
                if (i > 0)
                        buf_putc(out, ',');
                StrView v = ev->values[i];
                char scratch[DECODE_SCRATCH];
                /* Stored as printed: decoded now, for the few events anyone
                 * reads (see RingEventView.decoders). */
                if (ev->decoders && ev->decoders[i])
                        (void) decode_value(ev->decoders[i], v, scratch, &v);
                json_put_string(out, ev->names[i]);
                buf_putc(out, ':');
                json_put_string(out, v);
        }
        buf_puts(out, "}}");
}

#define PROBE_ANY SIZE_MAX
#define PROBE_NONE (SIZE_MAX - 1)

/* Which probe index the query wants, PROBE_ANY or PROBE_NONE (an unknown
 * name). Resolved once per request instead of comparing names per event. */
static size_t query_probe(const EventQuery *q, const char *const *probe_names, size_t n_probes) {
        if (!q->probe)
                return PROBE_ANY;
        for (size_t i = 0; i < n_probes; i++)
                if (probe_names[i] && strcmp(probe_names[i], q->probe) == 0)
                        return i;
        return PROBE_NONE;
}

static bool probe_matches(size_t want, const RingEventView *ev) {
        return want == PROBE_ANY || (size_t) ev->probe == want;
}

static const char *probe_name(uint32_t probe, const char *const *probe_names, size_t n_probes) {
        return probe < n_probes ? probe_names[probe] : NULL;
}

static size_t clamp_limit(size_t limit) {
        if (limit == 0)
                return EVENTS_DEFAULT_LIMIT;
        return limit > EVENTS_MAX_LIMIT ? EVENTS_MAX_LIMIT : limit;
}

/* Events after `since` that left the ring before anyone read them. */
static uint64_t missed_after(const Ring *r, uint64_t since) {
        uint64_t oldest = ring_oldest_seq(r);
        return since < oldest ? oldest - since - 1 : 0;
}

/* At most the bytes an event's JSON takes (every byte escaped as \u00XX;
 * a decoder's output is bounded by its config), for choosing how many of
 * the newest fit a page. */
static size_t event_size_bound(const RingEventView *ev) {
        size_t n = 192 + 6 * ev->comm.n + ev->timestamp.n;
        for (size_t i = 0; i < ev->n_fields; i++)
                n += 8 + 6 * (ev->names[i].n + ev->values[i].n);
        return n;
}

void events_render_page(const Ring *r, const EventQuery *q, const char *const *probe_names, size_t n_probes,
                        Buf *out) {
        size_t want = query_probe(q, probe_names, n_probes);
        size_t limit = clamp_limit(q->limit);
        uint64_t oldest = ring_oldest_seq(r), end = ring_next_seq(r);
        uint64_t first, next, missed = 0;
        RingEventView ev;
        size_t n = 0;

        uint64_t since = q->since;
        /* A since beyond the newest event comes from an earlier run of the
         * daemon (numbers start at 1 again): start over from the oldest and
         * say so, rather than return nothing until the numbers catch up. */
        bool reset = q->has_since && since > end - 1;
        if (reset)
                since = 0;

        if (q->has_since) {
                missed = missed_after(r, since);
                first = since < oldest ? oldest : since + 1;
                /* With since at the newest, first is end: nothing to examine. */
                if (since >= end - 1)
                        first = end;
                next = since;
        } else {
                /* Walk back to the limit-th newest match, then render forward
                 * from there: oldest first, with no array of seqs. */
                first = end;
                size_t bytes = 0;
                while (first > oldest && n < limit) {
                        if (!ring_get(r, first - 1, &ev) || !probe_matches(want, &ev)) {
                                first--;
                                continue;
                        }
                        bytes += event_size_bound(&ev);
                        if (n > 0 && bytes > EVENTS_MAX_PAGE_BYTES)
                                break;
                        first--;
                        n++;
                }
                n = 0;
                next = end - 1;
        }

        size_t start = out->len;
        buf_puts(out, "{\"events\":[");
        for (uint64_t seq = first; seq < end && n < limit && out->len - start < EVENTS_MAX_PAGE_BYTES; seq++) {
                if (!ring_get(r, seq, &ev))
                        continue;
                if (q->has_since)
                        next = seq;
                if (!probe_matches(want, &ev))
                        continue;
                if (n > 0)
                        buf_putc(out, ',');
                event_render_json(&ev, probe_name(ev.probe, probe_names, n_probes), out);
                n++;
        }
        buf_puts(out, "],\"next\":");
        buf_put_u64(out, next);
        buf_puts(out, ",\"missed\":");
        buf_put_u64(out, missed);
        if (reset)
                buf_puts(out, ",\"reset\":true");
        buf_putc(out, '}');
}

size_t events_render_stream(const Ring *r, const EventQuery *q, uint64_t *cursor, size_t max_events,
                            const char *const *probe_names, size_t n_probes, Buf *out) {
        size_t want = query_probe(q, probe_names, n_probes);
        uint64_t oldest = ring_oldest_seq(r), end = ring_next_seq(r);
        size_t lines = 0, n = 0;
        RingEventView ev;

        /* A cursor beyond the newest event comes from an earlier run of the
         * daemon, as in events_render_page(): say so and start over. */
        if (*cursor > end - 1) {
                buf_puts(out, "{\"reset\":true}\n");
                lines++;
                *cursor = 0;
        }
        uint64_t missed = missed_after(r, *cursor);
        if (missed > 0) {
                buf_puts(out, "{\"missed\":");
                buf_put_u64(out, missed);
                buf_puts(out, "}\n");
                lines++;
                *cursor = oldest - 1;
        }

        size_t start = out->len;
        while (*cursor < end - 1 && n < max_events && out->len - start < EVENTS_MAX_PAGE_BYTES) {
                uint64_t seq = *cursor + 1;
                *cursor = seq;
                if (!ring_get(r, seq, &ev) || !probe_matches(want, &ev))
                        continue;
                event_render_json(&ev, probe_name(ev.probe, probe_names, n_probes), out);
                buf_putc(out, '\n');
                n++;
                lines++;
        }
        return lines;
}

void json_member_string(Buf *out, bool first, const char *key, const char *value) {
        if (!first)
                buf_putc(out, ',');
        json_put_string(out, sv_from(key));
        buf_putc(out, ':');
        if (value)
                json_put_string(out, sv_from(value));
        else
                buf_puts(out, "null");
}
