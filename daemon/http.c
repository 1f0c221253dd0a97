/* The HTTP server: libmicrohttpd (MHD) in "external epoll" mode, driven by
 * sd-event like systemd's journal-remote does it. MHD keeps one epoll fd of
 * its own (listen socket, connections, its inter-thread-communication fd);
 * that fd is one io source in our loop, and a time source follows
 * MHD_get_timeout() so that idle connections are timed out.
 *
 * Streaming (/events?follow=1) works with MHD's suspend/resume:
 *  - The response comes from a content reader callback. When the reader has
 *    nothing to send it calls MHD_suspend_connection() on its own connection
 *    and returns 0. The MHD 0.9.75 docs name the content reader as one of the
 *    two places where suspending is safe, and say that returning 0 is only
 *    allowed together with a suspend (otherwise MHD calls the reader again at
 *    once: a busy loop).
 *  - http_server_notify() resumes every suspended stream and schedules an
 *    MHD_run() through a defer source (resume also pokes MHD's ITC, which
 *    makes the epoll fd readable, but MHD asks external loops to call
 *    MHD_run() after a resume, and the defer source makes that explicit).
 *  - Suspended connections do not time out in MHD (the timeout restarts on
 *    resume), so a follow client that waits for minutes is not cut by
 *    HTTP_CONNECTION_TIMEOUT_SEC; a stream that is resumed but whose client
 *    reads nothing for that long is closed, which is what we want.
 *  - MHD does not notice disconnects of suspended connections. So while a
 *    stream is suspended we watch its socket for EPOLLRDHUP/EPOLLHUP in our
 *    own loop (MHD took the fd out of its epoll set meanwhile); a hangup
 *    resumes the stream with a "gone" mark and the reader then ends it,
 *    which frees it through the response's free callback. (A client that
 *    only half-closes, shutdown(SHUT_WR), counts as gone too; MHD treats
 *    a read EOF the same way.)
 *  - MHD_stop_daemon() must not see suspended connections (MHD panics), so
 *    http_server_free() resumes them all first. */
#include "http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expo.h"
#include "log.h"
#include "webconfig.h"

#define HTTP_LISTEN_BACKLOG 64
#define HTTP_REALM "kprobe-exporter"
#define HTTP_CONNECTION_MEMORY (64u * 1024u)
#define HTTP_STREAM_BLOCK_SIZE (16u * 1024u)
/* A stream buffer that grew beyond this during a burst is given back. */
#define HTTP_STREAM_BUF_KEEP (64u * 1024u)

static const char index_html[] =
        "<!DOCTYPE html>\n"
        "<html><head><title>kprobe-exporter</title></head><body>\n"
        "<h1>kprobe-exporter</h1>\n"
        "<ul>\n"
        "<li><a href=\"/metrics\">/metrics</a> Prometheus metrics</li>\n"
        "<li><a href=\"/events\">/events</a> recent events (JSON; ?probe=, ?since=, ?limit=, ?follow=1)</li>\n"
        "<li><a href=\"/probes\">/probes</a> configured probes (JSON)</li>\n"
        "<li><a href=\"/healthz\">/healthz</a> health</li>\n"
        "</ul>\n"
        "</body></html>\n";

/* ---- driving MHD from sd-event ---- */

static void server_arm_timer(HttpServer *s) {
        MHD_UNSIGNED_LONG_LONG ms;
        uint64_t now;

        if (MHD_get_timeout(s->mhd, &ms) != MHD_YES) {
                (void) sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
                return;
        }
        if (sd_event_now(s->event, CLOCK_MONOTONIC, &now) < 0) {
                /* Cannot happen for CLOCK_MONOTONIC; run at once rather than hang. */
                now = 0;
                ms = 0;
        }
        /* MHD's longest timeout is the connection timeout; clamping keeps
         * the addition below from overflowing on a nonsense value. */
        if (ms > 3600 * 1000)
                ms = 3600 * 1000;
        /* "Work pending" that moved nothing the last times: MHD is stuck
         * on a connection (a TLS handshake the client stalls keeps it
         * "ready" in 0.9.75): ask again after 2, 4, ... 64 ms rather than
         * every millisecond. Traffic on any connection wakes MHD's epoll
         * fd, and with it us, anyway. */
        if (ms == 0 && s->stalled > 0)
                ms = 1u << (s->stalled < 6 ? s->stalled : 6);
        (void) sd_event_source_set_time(s->timer, now + ms * 1000);
        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static HttpServer *running;

/* Runs of MHD per wakeup while it has work and the work moves bytes;
 * a few that move nothing are allowed in a row (a request is parsed,
 * answered and its first bytes sent over several runs, the middle ones
 * without I/O). */
#define HTTP_RUNS_PER_WAKEUP 64
#define HTTP_IDLE_RUNS 4

/* MHD says "work pending" (timeout 0) while a connection can go on, and
 * over TLS it sends one 16 KiB record per run: a rendering of /metrics
 * would go out one record per turn of the loop, each turn paced by the
 * 1 ms timer. So MHD runs again at once while it says so and the kernel
 * counts bytes moving on our connections; a connection MHD keeps "ready"
 * without moving anything (a TLS handshake the client stalls, in MHD
 * 0.9.75) is left to the timer, as before. */
static void server_run(HttpServer *s) {
        running = s;
        /* UINT64_MAX: not looked at yet (the run before this wakeup had
         * nothing pending, so this one is new work). */
        uint64_t before = s->busy ? http_conns_traffic(s) : UINT64_MAX;
        unsigned idle = 0; /* runs in a row that moved nothing */
        for (unsigned i = 0; i < HTTP_RUNS_PER_WAKEUP && idle < HTTP_IDLE_RUNS; i++) {
                (void) MHD_run(s->mhd);
                MHD_UNSIGNED_LONG_LONG ms;
                s->busy = MHD_get_timeout(s->mhd, &ms) == MHD_YES && ms == 0;
                if (!s->busy)
                        break;
                uint64_t after = http_conns_traffic(s);
                idle = after == before ? idle + 1 : 0;
                before = after;
        }
        s->stalled = s->busy && idle >= HTTP_IDLE_RUNS ? s->stalled + 1 : 0;
        running = NULL;
        server_arm_timer(s);
}

static int on_mhd_io(sd_event_source *es _unused_, int fd _unused_, uint32_t revents _unused_, void *userdata) {
        server_run(userdata);
        return 0;
}

static int on_mhd_timer(sd_event_source *es _unused_, uint64_t usec _unused_, void *userdata) {
        server_run(userdata);
        return 0;
}

static int on_kick(sd_event_source *es _unused_, void *userdata) {
        server_run(userdata);
        return 0;
}

void http_server_kick(HttpServer *s) {
        (void) sd_event_source_set_enabled(s->kick, SD_EVENT_ONESHOT);
}

/* ---- follow streams ---- */

static void stream_resume(FollowStream *f) {
        if (!f->suspended)
                return;
        f->hangup = sd_event_source_disable_unref(f->hangup);
        f->suspended = false;
        MHD_resume_connection(f->connection);
}

static int on_stream_hangup(sd_event_source *es _unused_, int fd _unused_, uint32_t revents _unused_,
                            void *userdata) {
        FollowStream *f = userdata;

        f->gone = true;
        stream_resume(f);
        http_server_kick(f->server);
        return 0;
}

/* Called from the content reader only (see the top of the file). */
static int stream_suspend(FollowStream *f) {
        const union MHD_ConnectionInfo *ci;
        int r;

        ci = MHD_get_connection_info(f->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
                return -EBADF;
        r = sd_event_add_io(f->server->event, &f->hangup, ci->connect_fd, EPOLLRDHUP, on_stream_hangup, f);
        if (r < 0)
                return r;
        MHD_suspend_connection(f->connection);
        f->suspended = true;
        return 0;
}

static ssize_t stream_read(void *cls, uint64_t pos _unused_, char *out, size_t max) {
        FollowStream *f = cls;
        HttpServer *s = f->server;
        size_t n;

        if (f->gone || s->stopping)
                return MHD_CONTENT_READER_END_WITH_ERROR;

        if (f->off >= f->buf.len) {
                if (f->buf.cap > HTTP_STREAM_BUF_KEEP)
                        buf_free(&f->buf);
                buf_clear(&f->buf);
                f->off = 0;
                s->api.events_stream(s->api.userdata, &f->query, &f->cursor, &f->buf);
                if (f->buf.len == 0) {
                        if (stream_suspend(f) < 0)
                                return MHD_CONTENT_READER_END_WITH_ERROR;
                        return 0;
                }
        }

        n = f->buf.len - f->off;
        if (n > max)
                n = max;
        memcpy(out, f->buf.data + f->off, n);
        f->off += n;
        return (ssize_t) n;
}

/* MHD frees the response when the connection ends, however it ends
 * (client gone, timeout, server stop): that is where the stream goes. */
static void stream_free(void *cls) {
        FollowStream *f = cls;
        HttpServer *s = f->server;

        f->hangup = sd_event_source_disable_unref(f->hangup);
        if (f->prev)
                f->prev->next = f->next;
        else
                s->streams = f->next;
        if (f->next)
                f->next->prev = f->prev;
        s->n_streams--;
        buf_free(&f->buf);
        free(f->probe);
        free(f);
}

void http_server_notify(HttpServer *s) {
        bool any = false;

        if (!s)
                return;
        for (FollowStream *f = s->streams; f; f = f->next)
                if (f->suspended) {
                        stream_resume(f);
                        any = true;
                }
        if (any)
                http_server_kick(s);
}

size_t http_server_n_streams(const HttpServer *s) {
        return s ? s->n_streams : 0;
}

/* ---- responses ---- */

static enum MHD_Result queue_response(HttpServer *s, struct MHD_Connection *c, unsigned status, struct MHD_Response *resp,
                                      const char *content_type) {
        enum MHD_Result ret;

        if (!resp)
                return MHD_NO; /* out of memory: MHD closes the connection */
        if (content_type)
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        for (size_t i = 0; i < s->n_headers; i++)
                (void) MHD_add_response_header(resp, s->headers[i].name, s->headers[i].value);
        ret = MHD_queue_response(c, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result respond_body(HttpServer *s, struct MHD_Connection *c, unsigned status,
                                    const char *content_type, HttpBody *body) {
        bool busy;
        struct MHD_Response *resp = http_body_response(body, &busy);
        if (busy) {
                s->stats->busy++;
                resp = MHD_create_response_from_buffer(strlen("busy: too many responses in flight\n"),
                                                       (void *) "busy: too many responses in flight\n",
                                                       MHD_RESPMEM_PERSISTENT);
                if (resp)
                        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
                return queue_response(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, resp, "text/plain; charset=utf-8");
        }
        return queue_response(s, c, status, resp, content_type);
}

static enum MHD_Result respond_buf(HttpServer *s, struct MHD_Connection *c, unsigned status, const char *content_type, Buf *b) {
        return respond_body(s, c, status, content_type, http_body_new(b));
}

static enum MHD_Result respond_static(HttpServer *s, struct MHD_Connection *c, unsigned status, const char *content_type,
                                      const char *text) {
        return queue_response(s, c, status,
                              MHD_create_response_from_buffer(strlen(text), (void *) text, MHD_RESPMEM_PERSISTENT),
                              content_type);
}

/* Messages are fixed ASCII without quotes or backslashes, so no escaping. */
static enum MHD_Result respond_json_error(HttpServer *s, struct MHD_Connection *c, unsigned status, const char *message) {
        _cleanup_buf_ Buf b = { 0 };

        buf_printf(&b, "{\"error\":\"%s\"}\n", message);
        return respond_buf(s, c, status, "application/json", &b);
}

/* ---- /events ---- */

static int parse_events_query(struct MHD_Connection *c, EventQuery *q, bool *follow, const char **error) {
        const char *v;
        uint64_t u;

        *q = (EventQuery){ .limit = EVENTS_DEFAULT_LIMIT };
        *follow = false;

        v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "probe");
        if (v) {
                if (v[0] == 0) {
                        *error = "empty probe name";
                        return -EINVAL;
                }
                q->probe = v;
        }

        v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
        if (v) {
                if (parse_u64(sv_from(v), &u) < 0) {
                        *error = "since must be an unsigned 64-bit sequence number";
                        return -EINVAL;
                }
                q->has_since = true;
                q->since = u;
        }

        v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
        if (v) {
                if (parse_u64(sv_from(v), &u) < 0 || u < 1 || u > EVENTS_MAX_LIMIT) {
                        *error = "limit must be between 1 and 10000";
                        return -EINVAL;
                }
                q->limit = (size_t) u;
        }

        v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "follow");
        if (v) {
                if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
                        *follow = true;
                else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
                        *follow = false;
                else {
                        *error = "follow must be 1, true, 0 or false";
                        return -EINVAL;
                }
        }
        return 0;
}

static enum MHD_Result serve_follow(HttpServer *s, struct MHD_Connection *c, const EventQuery *q, bool head) {
        struct MHD_Response *resp;
        FollowStream *f;

        /* MHD 0.9.75 sends the last-chunk "0\r\n\r\n" even on HEAD, a body
         * where none may be; so HEAD gets the headers of an empty reply. */
        if (head) {
                resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
                if (resp)
                        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
                return queue_response(s, c, MHD_HTTP_OK, resp, "application/x-ndjson");
        }
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        const Conn *conn = ci ? ci->socket_context : NULL;
        if (s->n_streams >= HTTP_MAX_STREAMS || http_streams_from(s, conn) >= HTTP_MAX_STREAMS_PER_ADDRESS) {
                s->stats->streams_refused++;
                return respond_json_error(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many streaming clients");
        }

        f = xcalloc(1, sizeof(*f));
        f->server = s;
        f->connection = c;
        f->conn = conn;
        f->query = *q;
        if (q->probe) {
                f->probe = xstrdup(q->probe);
                f->query.probe = f->probe;
        }
        /* "From now" means from the request, not from the first read. With
         * since= this call already renders the backlog. */
        f->cursor = q->has_since ? q->since : UINT64_MAX;
        s->api.events_stream(s->api.userdata, &f->query, &f->cursor, &f->buf);

        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK_SIZE, stream_read, f,
                                                 stream_free);
        if (!resp) {
                buf_free(&f->buf);
                free(f->probe);
                free(f);
                return MHD_NO;
        }
        /* Linked before queueing: from here on stream_free() owns f. */
        f->next = s->streams;
        if (s->streams)
                s->streams->prev = f;
        s->streams = f;
        s->n_streams++;

        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        return queue_response(s, c, MHD_HTTP_OK, resp, "application/x-ndjson");
}

static enum MHD_Result serve_events(HttpServer *s, struct MHD_Connection *c, bool head) {
        _cleanup_buf_ Buf b = { 0 };
        const char *error = NULL;
        EventQuery q;
        bool follow;
        int r;

        if (parse_events_query(c, &q, &follow, &error) < 0)
                return respond_json_error(s, c, MHD_HTTP_BAD_REQUEST, error);
        /* The page is rendered for a follow request too, only to learn
         * whether the probe exists: a stream of a probe that does not would
         * wait forever. */
        r = s->api.events_page(s->api.userdata, &q, &b);
        if (r == -ENOENT)
                return respond_json_error(s, c, MHD_HTTP_NOT_FOUND, "no such probe");
        if (follow && r >= 0)
                return serve_follow(s, c, &q, head);
        if (r < 0)
                return respond_json_error(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render events");
        return respond_buf(s, c, MHD_HTTP_OK, "application/json", &b);
}

/* ---- routing ---- */

static bool route_known(const char *url) {
        static const char *const routes[] = { "/", "/metrics", "/probes", "/events", "/healthz" };

        for (size_t i = 0; i < ELEMENTSOF(routes); i++)
                if (strcmp(url, routes[i]) == 0)
                        return true;
        return false;
}

static enum MHD_Result respond_method_not_allowed(HttpServer *s, struct MHD_Connection *c) {
        struct MHD_Response *resp;

        resp = MHD_create_response_from_buffer(strlen("method not allowed\n"), (void *) "method not allowed\n",
                                               MHD_RESPMEM_PERSISTENT);
        if (resp)
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        return queue_response(s, c, MHD_HTTP_METHOD_NOT_ALLOWED, resp, "text/plain; charset=utf-8");
}

/* ---- who may ask ---- */

static enum MHD_Result respond_unauthorized(HttpServer *s, struct MHD_Connection *c) {
        static const char body[] = "unauthorized\n";
        struct MHD_Response *resp =
                MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        for (size_t i = 0; i < s->n_headers; i++)
                (void) MHD_add_response_header(resp, s->headers[i].name, s->headers[i].value);
        /* Adds WWW-Authenticate: Basic realm="kprobe-exporter". */
        enum MHD_Result ret = MHD_queue_basic_auth_fail_response(c, HTTP_REALM, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* The basic auth credentials, on each request's first call (the client
 * certificate was judged in the handshake: on_client_certificate()). True
 * when the request may go on; else *ret is the answer, the same 401
 * whatever was wrong. */
static bool admit(HttpServer *s, struct MHD_Connection *c, enum MHD_Result *ret) {
        if (!s->auth)
                return true;

        char *password = NULL;
        char *user = MHD_basic_auth_get_username_password(c, &password);
        uint64_t now = 0;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        HttpAuthResult r = http_auth_check(s->auth, user, password, now);
        if (password) {
                gnutls_memset(password, 0, strlen(password));
                MHD_free(password);
        }
        if (user)
                MHD_free(user);
        if (r == HTTP_AUTH_OK)
                return true;
        if (r == HTTP_AUTH_THROTTLED)
                s->stats->auth_throttled++;
        else
                s->stats->auth_failures++;
        *ret = respond_unauthorized(s, c);
        return false;
}

/* MHD calls this at least twice per request: once when the headers are
 * in, then with each piece of the body, then once more with
 * *upload_data_size == 0 when the whole request is in. A response queued
 * on the first call counts as "early" in MHD 0.9.75: MHD_queue_response()
 * then sets discard_request, and keepalive_possible() turns that into
 * "Connection: close". So GET and HEAD are answered on the last call, and
 * the connection can serve the next request. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version _unused_, const char *upload_data _unused_,
                                  size_t *upload_data_size, void **req_cls) {
        static char request_seen; /* *req_cls marker; nothing to free */
        HttpServer *s = cls;
        _cleanup_buf_ Buf b = { 0 };
        bool get_or_head = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

        if (!*req_cls) {
                Conn *conn = http_connection_record(c);
                if (conn)
                        conn->deadline = 0; /* the headers are in */
                enum MHD_Result refused;
                if (!admit(s, c, &refused))
                        return refused;
                /* Other methods are refused at once, before any request
                 * body: MHD then discards the body and closes the
                 * connection after the reply, so an unwanted upload is not
                 * read. */
                if (!get_or_head) {
                        if (!route_known(url))
                                return respond_static(s, c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                                                      "not found\n");
                        return respond_method_not_allowed(s, c);
                }
                *req_cls = &request_seen;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                /* A body on GET/HEAD has no meaning here: consume and drop it. */
                *upload_data_size = 0;
                return MHD_YES;
        }

        if (!route_known(url))
                return respond_static(s, c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", "not found\n");

        /* HEAD gets the same response; MHD leaves the body out. */
        if (strcmp(url, "/metrics") == 0) {
                ExpoFormat format = expo_format_from_accept(
                        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
                return respond_body(s, c, MHD_HTTP_OK, expo_content_type(format),
                                    s->api.metrics(s->api.userdata, format));
        }
        if (strcmp(url, "/probes") == 0) {
                s->api.probes(s->api.userdata, &b);
                return respond_buf(s, c, MHD_HTTP_OK, "application/json", &b);
        }
        if (strcmp(url, "/events") == 0)
                return serve_events(s, c, strcmp(method, MHD_HTTP_METHOD_HEAD) == 0);
        if (strcmp(url, "/healthz") == 0) {
                if (s->api.healthy(s->api.userdata))
                        return respond_static(s, c, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n");
                return respond_static(s, c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                                      "unhealthy\n");
        }
        return respond_static(s, c, MHD_HTTP_OK, "text/html; charset=utf-8", index_html);
}

/* The GnuTLS hook runs inside server_run()'s MHD_run() (one loop, one
 * thread), which sets `running`: the hook has no pointer of its own. */

/* The client has sent its certificate (or none) and its Finished: refuse
 * the handshake for a certificate the policy does not take, and count it. */
static int on_client_certificate(void *session, unsigned htype _unused_, unsigned when _unused_,
                                 unsigned incoming, const void *msg _unused_) {
        HttpServer *s = running;
        if (!incoming || !s || !s->tls)
                return 0;
        const char *why = http_tls_client_refusal(s->tls, session);
        if (!why)
                return 0;
        s->stats->tls_refused++;
        log_debug("HTTPS handshake refused: %s", why);
        return GNUTLS_E_CERTIFICATE_ERROR;
}

/* A new connection: with TLS, ask for the client certificate as the
 * policy says, before the handshake (which MHD runs later). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
        HttpServer *s = cls;

        if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
                /* (MHD has already ended a TLS session here: not to be touched.) */
                http_conn_closed(s, socket_context);
                return;
        }
        http_conn_started(s, c, socket_context);
        if (!s->tls)
                return;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (ci && ci->tls_session)
                http_tls_connection_started(s->tls, ci->tls_session, on_client_certificate);
}

/* ---- listening ---- */


static int bind_address(const char *address) {
        struct addrinfo hints = {
                .ai_flags = AI_NUMERICSERV | AI_PASSIVE, /* host names like localhost too */
                .ai_socktype = SOCK_STREAM,
        };
        struct addrinfo *ai = NULL;
        _cleanup_free_ char *host = NULL;
        char port[8];
        int fd, r, one = 1;

        r = listen_address_split(address, &host, port, sizeof(port));
        if (r < 0)
                return r;
        r = getaddrinfo(host, port, &hints, &ai);
        if (r != 0)
                return r == EAI_SYSTEM && errno > 0 ? -errno : (r == EAI_MEMORY ? -ENOMEM : -EINVAL);

        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        /* Restarts must not wait for old connections in TIME_WAIT. */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, HTTP_LISTEN_BACKLOG) < 0) {
                r = -errno;
                close(fd);
                goto out;
        }
        r = fd;
out:
        freeaddrinfo(ai);
        return r;
}

static int socket_port(int fd, uint16_t *ret) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0)
                return -errno;
        if (ss.ss_family == AF_INET)
                *ret = ntohs(((struct sockaddr_in *) &ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
                *ret = ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
        else
                return -EAFNOSUPPORT;
        return 0;
}

/* After a failed MHD_start_daemon() we do not know whether MHD already
 * closed the listen fd. Close it only if it still is our socket (nothing
 * else runs between, so the number cannot have been reused meanwhile). */
static void close_if_same(int fd, const struct stat *st) {
        struct stat now;

        if (fstat(fd, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino)
                close(fd);
}

static void headers_free(WebHeader *h, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(h[i].name);
                free(h[i].value);
        }
        free(h);
}

/* Takes sec's auth and copies its headers (the TLS part is the caller's). */
static void take_auth_and_headers(HttpServer *s, HttpSecurity *sec) {
        http_auth_adopt(sec->auth, s->auth);
        http_auth_free(s->auth);
        s->auth = sec->auth;
        sec->auth = NULL;
        headers_free(s->headers, s->n_headers);
        s->headers = xcalloc(sec->n_headers + 1, sizeof(WebHeader));
        for (size_t i = 0; i < sec->n_headers; i++)
                s->headers[i] = (WebHeader){ xstrdup(sec->headers[i].name), xstrdup(sec->headers[i].value) };
        s->n_headers = sec->n_headers;
}

void http_security_done(HttpSecurity *sec) {
        if (!sec)
                return;
        http_tls_free(sec->tls);
        http_auth_free(sec->auth);
        headers_free(sec->headers, sec->n_headers);
        *sec = (HttpSecurity){ 0 };
}

int http_security_load(const char *path, HttpSecurity *sec, ConfigErrors *errs) {
        _cleanup_(web_config_freep) WebConfig *wc = NULL;

        *sec = (HttpSecurity){ 0 };
        int r = web_config_load_file(path, &wc, errs);
        if (r < 0)
                return r;
        r = http_tls_new(wc, &sec->tls, errs);
        if (r < 0)
                return r;
        sec->auth = http_auth_new(wc->users, wc->n_users);
        sec->headers = xcalloc(wc->n_headers + 1, sizeof(WebHeader));
        for (size_t i = 0; i < wc->n_headers; i++)
                sec->headers[i] = (WebHeader){ xstrdup(wc->headers[i].name), xstrdup(wc->headers[i].value) };
        sec->n_headers = wc->n_headers;
        return 0;
}

int http_server_set_security(HttpServer *s, HttpSecurity *sec) {
        if (!s || !sec)
                return -EINVAL;
        if (!http_tls_equal(s->tls, sec->tls))
                return -EBUSY;
        take_auth_and_headers(s, sec);
        sec->tls = http_tls_free(sec->tls); /* the same as ours */
        return 0;
}

bool http_server_tls_is(const HttpServer *s, const HttpTls *t) {
        return s && http_tls_equal(s->tls, t);
}

int http_server_new(sd_event *e, const char *listen_address, int listen_fd, const HttpApi *api,
                    HttpSecurity *sec, HttpStats *stats, HttpServer **ret) {
        const union MHD_DaemonInfo *info;
        HttpSecurity none = { 0 };
        HttpServer *s;
        struct stat st;
        int fd, r, flags;

        if (!sec)
                sec = &none;
        if (!e || !api || !ret || !api->metrics || !api->probes || !api->events_page || !api->events_stream ||
            !api->healthy) {
                sec->tls = http_tls_free(sec->tls);
                sec->auth = http_auth_free(sec->auth);
                return -EINVAL;
        }

        if (listen_fd >= 0) {
                /* The caller keeps its fd; MHD closes the one it gets. */
                fd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 3);
                r = fd < 0 ? -errno : 0;
        } else
                r = fd = bind_address(listen_address);
        if (r < 0) {
                sec->tls = http_tls_free(sec->tls);
                sec->auth = http_auth_free(sec->auth);
                return r;
        }

        s = xcalloc(1, sizeof(*s));
        s->api = *api;
        s->event = sd_event_ref(e);
        s->stats = stats ? stats : &s->own_stats;
        s->tls = sec->tls;
        sec->tls = NULL;
        take_auth_and_headers(s, sec);

        /* MHD's epoll loop accepts until EAGAIN, so the socket must not block. */
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                goto fail;
        }
        r = socket_port(fd, &s->port);
        if (r < 0) {
                close(fd);
                goto fail;
        }

        /* No MHD_USE_ERROR_LOG: library code does not write to stderr; every
         * failure shows up as a return value or a closed connection. */
        struct MHD_OptionItem tls_options[] = {
                { MHD_OPTION_HTTPS_MEM_CERT, 0, (void *) http_tls_cert(s->tls) },
                { MHD_OPTION_HTTPS_MEM_KEY, 0, (void *) http_tls_key(s->tls) },
                { MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) http_tls_priorities(s->tls) },
                /* Last: left out (an END) without a client CA. */
                { http_tls_trust(s->tls) ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0,
                  (void *) http_tls_trust(s->tls) },
                { MHD_OPTION_END, 0, NULL },
        };
        s->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | (s->tls ? MHD_USE_TLS : 0), 0,
                                  http_on_accept, s, on_request, s,
                                  MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned) HTTP_MAX_CONNECTIONS,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) HTTP_CONNECTION_TIMEOUT_SEC,
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) HTTP_CONNECTION_MEMORY,
                                  MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                  MHD_OPTION_NOTIFY_COMPLETED, http_on_request_done, s,
                                  MHD_OPTION_URI_LOG_CALLBACK, http_on_request_line, s,
                                  MHD_OPTION_ARRAY, s->tls ? tls_options : &tls_options[ELEMENTSOF(tls_options) - 1],
                                  MHD_OPTION_END);
        if (!s->mhd) {
                close_if_same(fd, &st);
                r = -EIO;
                goto fail;
        }

        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info || info->epoll_fd < 0) {
                r = -EIO;
                goto fail;
        }
        r = sd_event_add_io(e, &s->io, info->epoll_fd, EPOLLIN, on_mhd_io, s);
        if (r < 0)
                goto fail;
        /* 1 ms accuracy: MHD_get_timeout() says 0 when work is pending, and
         * sd-event's default 250 ms slack would delay that work. */
        r = sd_event_add_time(e, &s->timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_mhd_timer, s);
        if (r < 0)
                goto fail;
        r = sd_event_add_defer(e, &s->kick, on_kick, s);
        if (r < 0)
                goto fail;
        r = sd_event_add_time(e, &s->sweep, CLOCK_MONOTONIC, UINT64_MAX, 100 * 1000, http_on_sweep, s);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(s->sweep, SD_EVENT_OFF);
        (void) sd_event_source_set_description(s->sweep, "http-deadlines");
        (void) sd_event_source_set_enabled(s->kick, SD_EVENT_OFF);
        (void) sd_event_source_set_description(s->io, "http-mhd");
        (void) sd_event_source_set_description(s->timer, "http-mhd-timeout");
        (void) sd_event_source_set_description(s->kick, "http-mhd-kick");
        server_arm_timer(s);

        *ret = s;
        return 0;
fail:
        http_server_free(s);
        return r;
}

int http_server_restart(HttpServer **sp, HttpSecurity *sec) {
        HttpServer *old = *sp, *n = NULL;

        MHD_socket fd = MHD_quiesce_daemon(old->mhd);
        if (fd == MHD_INVALID_SOCKET) {
                http_security_done(sec);
                return -EIO;
        }
        /* The users' remembered passwords (and bcrypt's budget) go on. */
        http_auth_adopt(sec->auth, old->auth);
        int r = http_server_new(old->event, NULL, fd, &old->api, sec, old->stats == &old->own_stats ? NULL : old->stats,
                                &n);
        close(fd); /* the new server works on its own duplicate */
        if (r < 0)
                return r;
        http_server_free(old);
        *sp = n;
        return 0;
}

void http_render_metrics(const HttpServer *s, const HttpStats *st, Expo *out) {
        expo_put_counter(out, "kprobe_exporter_http_auth_failures_total",
                         "HTTP requests refused with 401: no, an unknown or a wrong user and password "
                         "(basic_auth_users of the web config).",
                         st->auth_failures);
        expo_put_counter(out, "kprobe_exporter_http_auth_throttled_total",
                         "HTTP requests refused with 401 without checking their password: bcrypt's time budget "
                         "(250 ms a second) was spent on other attempts.",
                         st->auth_throttled);
        expo_put_counter(out, "kprobe_exporter_http_tls_client_refused_total",
                         "HTTPS connections closed because their client certificate did not meet "
                         "client_auth_type or client_allowed_sans.",
                         st->tls_refused);
        expo_put_header(out, "kprobe_exporter_http_connections", "gauge", "HTTP connections open.");
        expo_put_sample_u64(out, "kprobe_exporter_http_connections", NULL, NULL, 0,
                            http_server_n_connections(s));
        static const char *const reason_label[] = { "reason" };
        expo_put_header(out, "kprobe_exporter_http_connections_refused_total", "counter",
                        "HTTP connections refused or cut, by reason: per_address (the client's address held its "
                        "share), reserved (only the reserve for new addresses was left), limit (all taken), "
                        "slow_headers (request headers not complete in time).");
        const struct {
                const char *reason;
                uint64_t n;
        } refused[] = {
                { "per_address", st->refused_per_address },
                { "reserved", st->refused_reserved },
                { "limit", st->refused_limit },
                { "slow_headers", st->slow_headers },
        };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                expo_put_sample_u64(out, "kprobe_exporter_http_connections_refused_total", reason_label,
                                    (StrView[]){ sv_from(refused[i].reason) }, 1, refused[i].n);
        expo_put_counter(out, "kprobe_exporter_http_busy_total",
                         "HTTP requests refused (503, Retry-After: 1) because the responses in flight already "
                         "held 16 MiB.",
                         st->busy);
        expo_put_header(out, "kprobe_exporter_http_response_bytes", "gauge",
                        "Bytes of response bodies that responses in flight hold (one shared /metrics rendering "
                        "counts once).");
        expo_put_sample_u64(out, "kprobe_exporter_http_response_bytes", NULL, NULL, 0, http_held_bytes());
        expo_put_counter(out, "kprobe_exporter_http_follow_refused_total",
                         "/events?follow=1 requests refused (503): too many streams open, in all or from the "
                         "client's address.",
                         st->streams_refused);
}

uint16_t http_server_port(const HttpServer *s) {
        return s ? s->port : 0;
}

HttpServer *http_server_free(HttpServer *s) {
        if (!s)
                return NULL;
        s->stopping = true;
        /* MHD panics on stop with suspended connections; resumed ones are
         * closed by it, and stream_free() unlinks each stream. */
        for (FollowStream *f = s->streams; f; f = f->next)
                stream_resume(f);
        if (s->mhd)
                MHD_stop_daemon(s->mhd);
        s->io = sd_event_source_disable_unref(s->io);
        s->timer = sd_event_source_disable_unref(s->timer);
        s->kick = sd_event_source_disable_unref(s->kick);
        s->sweep = sd_event_source_disable_unref(s->sweep);
        sd_event_unref(s->event);
        http_tls_free(s->tls);
        http_auth_free(s->auth);
        headers_free(s->headers, s->n_headers);
        free(s);
        return NULL;
}
