/* JSON rendering for the HTTP API. Written by hand on purpose: the kernel
 * prints arbitrary bytes (comm, string args) and JSON libraries refuse
 * invalid UTF-8; here such bytes become U+FFFD, so the output is always
 * valid JSON. (The tests check it with jansson.) Pure code. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ring.h"
#include "util.h"

#define EVENTS_DEFAULT_LIMIT 100u
#define EVENTS_MAX_LIMIT 10000u
/* A page stops at about this many bytes, whatever the limit (4,096 events
 * of 4 KiB strings, each byte escaped as \u00XX, would be 96 MiB): "next"
 * then continues after the last event on it. */
#define EVENTS_MAX_PAGE_BYTES (4u * 1024u * 1024u)

typedef struct EventQuery {
        const char *probe; /* only this probe; NULL for all */
        bool has_since;    /* since given: the oldest events after it; else the newest */
        uint64_t since;    /* events with seq > since */
        size_t limit;      /* at most this many events (1..EVENTS_MAX_LIMIT) */
} EventQuery;

/* Appends {"events":[...],"next":N,"missed":M} to out.
 * With has_since: events with seq > since, oldest first, up to limit and
 *   about EVENTS_MAX_PAGE_BYTES;
 *   "next" is the seq of the last event examined (returned or filtered out),
 *   or since when there was none, so passing it back as since continues
 *   exactly after; "missed" counts events with seq > since that already
 *   left the ring. A since beyond the newest event (a cursor from an
 *   earlier run of the daemon, whose numbers start at 1 again) is taken as
 *   0 and the object gets "reset":true.
 * Without: the newest `limit` matching events (fewer where they would be
 *   more than about EVENTS_MAX_PAGE_BYTES), oldest first; "next" is the
 *   newest seq stored (0 when empty); "missed" is 0.
 * probe_names[i] is the name of probe index i. */
void events_render_page(const Ring *r, const EventQuery *q, const char *const *probe_names, size_t n_probes,
                        Buf *out);

/* For streaming (follow=1): appends one JSON object per line for each
 * matching event with seq > *cursor, at most max_events and about
 * EVENTS_MAX_PAGE_BYTES, advancing *cursor
 * past every event examined. A *cursor beyond the newest event (from an
 * earlier run of the daemon) first gets a line {"reset":true} and is taken
 * as 0. If events after *cursor already left the ring it then appends
 * {"missed":N} on a line of its own. Returns the number of lines appended. */
size_t events_render_stream(const Ring *r, const EventQuery *q, uint64_t *cursor, size_t max_events,
                            const char *const *probe_names, size_t n_probes, Buf *out);

/* One event as a JSON object (no newline): {"seq":..,"probe":..,"time":..,
 * "comm":..,"pid":..,"tgid":..,"cpu":..,"fields":{..}}. Field values with a
 * decoder in ev->decoders are decoded here. */
void event_render_json(const RingEventView *ev, const char *probe_name, Buf *out);

/* Appends s as a JSON string literal (with quotes), escaping as JSON needs
 * and replacing invalid UTF-8 with U+FFFD. */
void json_put_string(Buf *out, StrView s);
/* `"key":"value"` (value NULL: null), after a comma unless first. */
void json_member_string(Buf *out, bool first, const char *key, const char *value);
