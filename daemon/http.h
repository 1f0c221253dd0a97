/* The HTTP server: libmicrohttpd driven from our sd-event loop (its epoll fd
 * is one more event source, so there are no threads and no locks). The
 * content comes from callbacks; this file knows routes, methods, query
 * arguments and streaming, not metrics or events. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "events_json.h"
#include "expo.h"
#include "http_auth.h"
#include "http_tls.h"
#include "util.h"

/* An immutable response body that the responses sending it share (a
 * rendering of /metrics goes to every scrape that comes while it is
 * fresh without a copy). Counted while responses hold it: see
 * HTTP_MAX_HELD_BYTES. */
typedef struct HttpBody HttpBody;
/* Takes b's storage (b is emptied); one reference, the caller's. */
HttpBody *http_body_new(Buf *b);
HttpBody *http_body_ref(HttpBody *body);
HttpBody *http_body_unref(HttpBody *body); /* accepts NULL, returns NULL */
size_t http_body_size(const HttpBody *body);

typedef struct HttpApi {
        void *userdata;
        /* GET /metrics: Prometheus text 0.0.4 or OpenMetrics, as the
         * request's Accept asks (see expo_format_from_accept()); a new
         * reference, which the server drops. */
        HttpBody *(*metrics)(void *userdata, ExpoFormat format);
        /* GET /probes: JSON. */
        void (*probes)(void *userdata, Buf *out);
        /* GET /events: JSON page (see events_json.h). Returns 0, or -ENOENT if
         * q->probe names no probe (then the server answers 404). */
        int (*events_page)(void *userdata, const EventQuery *q, Buf *out);
        /* GET /events?follow=1: NDJSON of events after *cursor, advancing it
         * (see events_render_stream()); returns lines appended. A NULL cursor
         * value of UINT64_MAX asks for "from now": the callback sets it to the
         * newest seq and appends nothing. */
        size_t (*events_stream)(void *userdata, const EventQuery *q, uint64_t *cursor, Buf *out);
        /* GET /healthz: true while the reader runs. */
        bool (*healthy)(void *userdata);
} HttpApi;

typedef struct HttpServer HttpServer;

/* What the web config asks of the server (--web.config.file). */
typedef struct HttpSecurity {
        HttpTls *tls;       /* NULL: plain HTTP */
        HttpAuth *auth;     /* NULL: no authentication */
        WebHeader *headers; /* added to every response */
        size_t n_headers;
} HttpSecurity;

/* Counters of refused clients; the caller's, so that they go on across a
 * restart of the server (a reload that changes TLS). */
typedef struct HttpStats {
        uint64_t auth_failures;  /* 401: no, unknown or wrong credentials */
        uint64_t auth_throttled; /* 401 without a check: bcrypt's time budget was spent */
        uint64_t tls_refused;    /* connections ended for their client certificate */
        uint64_t refused_per_address; /* connections refused: the address holds HTTP_MAX_PER_ADDRESS */
        uint64_t refused_reserved;    /* refused: only the reserve was left, and the address holds some */
        uint64_t refused_limit;       /* refused: HTTP_MAX_CONNECTIONS open */
        uint64_t slow_headers;        /* closed: headers not complete within HTTP_HEADER_DEADLINE_SEC */
        uint64_t streams_refused;     /* follow requests refused (503): too many streams, in all or per address */
        uint64_t busy;                /* requests refused (503): responses in flight held HTTP_MAX_HELD_BYTES */
} HttpStats;

/* Connections: at most HTTP_MAX_CONNECTIONS in all and
 * HTTP_MAX_PER_ADDRESS from one client address; the last
 * HTTP_RESERVED_CONNECTIONS only for addresses that hold none yet, so a
 * scraper is served while others hold many. */
#define HTTP_MAX_CONNECTIONS 128
#define HTTP_MAX_PER_ADDRESS 16
#define HTTP_RESERVED_CONNECTIONS 16
/* A keep-alive connection idle this long is closed (libmicrohttpd). */
#define HTTP_CONNECTION_TIMEOUT_SEC 30
/* A request's headers must be complete this long after the connection
 * opened (TLS handshake included) or, on a kept-alive connection, after
 * its request line began: a client that trickles bytes (slowloris) is cut
 * off then, however active it looks. */
#define HTTP_HEADER_DEADLINE_SEC 10
/* The bytes that response bodies in flight may hold at once (a body
 * shared by many responses counts once): a client that asks and never
 * reads holds its response until the idle timeout, so without a bound
 * 128 of them could hold 128 renderings of /metrics. Past it: 503 with
 * Retry-After. */
#define HTTP_MAX_HELD_BYTES (16u * 1024u * 1024u)
/* Follow streams stay open; keep room for scrapes among the connections. */
#define HTTP_MAX_STREAMS 32
#define HTTP_MAX_STREAMS_PER_ADDRESS 4

/* Starts serving on listen_fd if >= 0 (already bound and listening, e.g.
 * from socket activation), else binds listen_address ("host:port",
 * "[v6]:port" or ":port"). Returns 0, or -errno (-EADDRINUSE, -EINVAL for
 * a bad address). listen_fd stays the caller's: the server works on a
 * duplicate of it. */
int http_server_new(sd_event *e, const char *listen_address, int listen_fd, const HttpApi *api,
                    HttpSecurity *sec, HttpStats *stats, HttpServer **ret);
/* sec (may be NULL: plain HTTP, no authentication): the server takes its
 * tls and auth (sec is emptied, also on failure) and copies its headers.
 * stats, when not NULL, is counted into while the server lives. */

/* A reload's new users and headers, taken as by http_server_new(). A
 * change of TLS cannot be made to a running server (libmicrohttpd sets it
 * up when it starts): then -EBUSY, sec is left as it was, and the caller
 * makes a new server. */
int http_server_set_security(HttpServer *s, HttpSecurity *sec);
/* A reload that changes TLS: a new server with sec on the same listening
 * socket, which the old one stops accepting on; the old one's connections
 * are closed (follow streams end), *s is the new one. On failure *s is
 * kept but no longer accepts: the caller must treat that as fatal. */
int http_server_restart(HttpServer **s, HttpSecurity *sec);
/* Reads the web config at path (--web.config.file) into *sec: its TLS
 * material loaded and checked, its users and headers. Every problem goes
 * to errs, at its file:line:column; then -EINVAL and *sec stays empty. */
int http_security_load(const char *path, HttpSecurity *sec, ConfigErrors *errs);
/* Frees what sec holds and empties it. */
void http_security_done(HttpSecurity *sec);
/* Whether the server's TLS setup is the one of t (both NULL: plain HTTP). */
bool http_server_tls_is(const HttpServer *s, const HttpTls *t);
/* New events arrived: wakes the streaming (follow) connections. Cheap when
 * there are none. */
void http_server_notify(HttpServer *s);
/* Open follow streams (tests; could be a gauge). */
size_t http_server_n_streams(const HttpServer *s);
/* Open connections. */
size_t http_server_n_connections(const HttpServer *s);
/* Bytes of response bodies held by responses in flight (all servers). */
size_t http_held_bytes(void);
/* The kprobe_exporter_http_* metrics: s's connections (s may be NULL),
 * the refusals counted in st, the response bytes held. */
void http_render_metrics(const HttpServer *s, const HttpStats *st, Expo *out);
/* The bound port (useful with port 0 in tests). */
uint16_t http_server_port(const HttpServer *s);
HttpServer *http_server_free(HttpServer *s); /* accepts NULL, returns NULL */
