/* HTTP server tests: the real server on 127.0.0.1:0, driven by an sd-event
 * loop in the main thread, with a fake HttpApi; a tiny raw-socket HTTP/1.1
 * client runs in a second thread (it only records what it got: cmocka
 * asserts stay in the main thread). Every wait is bounded. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

/* ---- fake API ---- */

typedef struct FakeEvent {
        uint64_t seq;
        const char *probe;
} FakeEvent;

typedef struct Fake {
        FakeEvent ev[32];
        size_t n;
        bool healthy;
        unsigned stream_calls;
} Fake;

static Fake fake;
static sd_event *loop;
static HttpServer *srv;

static void fake_push(const char *probe) {
        assert_true(fake.n < ELEMENTSOF(fake.ev));
        fake.ev[fake.n] = (FakeEvent){ fake.n + 1, probe };
        fake.n++;
}

static HttpBody *fake_metrics(void *userdata, ExpoFormat format) {
        _cleanup_buf_ Buf out = { 0 };
        assert_ptr_equal(userdata, &fake);
        buf_puts(&out, "m_total{a=\"b\"} 3\n");
        if (format == EXPO_OPENMETRICS)
                buf_puts(&out, "# EOF\n");
        return http_body_new(&out);
}

static void fake_probes(void *userdata _unused_, Buf *out) {
        buf_puts(out, "{\"probes\":[\"p1\",\"p2\"]}");
}

/* Echoes the parsed query, so the tests see what the server understood. */
static int fake_events_page(void *userdata _unused_, const EventQuery *q, Buf *out) {
        if (q->probe && strcmp(q->probe, "nope") == 0)
                return -ENOENT;
        buf_puts(out, "{\"probe\":");
        if (q->probe)
                buf_printf(out, "\"%s\"", q->probe);
        else
                buf_puts(out, "null");
        buf_printf(out, ",\"has_since\":%s,\"since\":%llu,\"limit\":%zu}", q->has_since ? "true" : "false",
                   (unsigned long long) q->since, q->limit);
        return 0;
}

static size_t fake_events_stream(void *userdata _unused_, const EventQuery *q, uint64_t *cursor, Buf *out) {
        size_t lines = 0;

        fake.stream_calls++;
        if (*cursor == UINT64_MAX) {
                *cursor = fake.n ? fake.ev[fake.n - 1].seq : 0;
                return 0;
        }
        for (size_t i = 0; i < fake.n && lines < q->limit; i++) {
                if (fake.ev[i].seq <= *cursor)
                        continue;
                *cursor = fake.ev[i].seq;
                if (q->probe && strcmp(q->probe, fake.ev[i].probe) != 0)
                        continue;
                buf_printf(out, "{\"seq\":%llu,\"probe\":\"%s\"}\n", (unsigned long long) fake.ev[i].seq,
                           fake.ev[i].probe);
                lines++;
        }
        return lines;
}

static bool fake_healthy(void *userdata _unused_) {
        return fake.healthy;
}

static const HttpApi fake_api = {
        .userdata = &fake,
        .metrics = fake_metrics,
        .probes = fake_probes,
        .events_page = fake_events_page,
        .events_stream = fake_events_stream,
        .healthy = fake_healthy,
};

/* ---- the loop side ---- */

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* Runs the loop until cond() or max_ms passed; returns cond(). */
static bool loop_until(bool (*cond)(void *), void *ud, unsigned max_ms) {
        uint64_t end = now_ms() + max_ms;

        while (!cond(ud) && now_ms() < end)
                assert_true(sd_event_run(loop, 10 * 1000) >= 0);
        return cond(ud);
}

static bool never(void *ud _unused_) {
        return false;
}

static bool streams_are(void *ud) {
        return http_server_n_streams(srv) == *(size_t *) ud;
}

/* ---- the client side ---- */

typedef struct Client {
        uint16_t port;
        uint8_t source; /* connect from 127.0.0.<source> (0: the default, 127.0.0.1) */
        char request[512];
        bool follow;       /* read a chunked stream until want_lines lines */
        size_t want_lines;
        atomic_bool done;
        /* results */
        const char *error; /* NULL when the exchange went as expected */
        bool eof;          /* the server closed the connection */
        Buf raw;           /* everything received */
        size_t head_len;   /* status line and headers, with the blank line */
        int status;
        Buf body;          /* de-chunked for follow */
} Client;

static ssize_t find_head_end(const Buf *raw) {
        for (size_t i = 0; i + 4 <= raw->len; i++)
                if (memcmp(raw->data + i, "\r\n\r\n", 4) == 0)
                        return (ssize_t) (i + 4);
        return -1;
}

/* Decodes complete chunks of p[0..n) into out. Returns 1 at the last
 * chunk, 0 if more data is needed, -1 if malformed. */
static int dechunk(const char *p, size_t n, Buf *out) {
        size_t i = 0;

        buf_clear(out);
        for (;;) {
                size_t size = 0, start = i;
                while (i < n && p[i] != '\r') {
                        char ch = p[i++];
                        int d = ch >= '0' && ch <= '9' ? ch - '0' :
                                ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
                                ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
                        if (d < 0 || size > 0xffffff)
                                return -1;
                        size = size * 16 + (size_t) d;
                }
                if (i + 2 > n)
                        return 0;
                if (i == start || p[i + 1] != '\n')
                        return -1;
                i += 2;
                if (size == 0)
                        return 1;
                if (i + size + 2 > n)
                        return 0;
                buf_append(out, p + i, size);
                i += size;
                if (p[i] != '\r' || p[i + 1] != '\n')
                        return -1;
                i += 2;
        }
}

static size_t count_lines(const Buf *b) {
        size_t n = 0;
        for (size_t i = 0; i < b->len; i++)
                n += b->data[i] == '\n';
        return n;
}

static void client_exchange(Client *c) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(c->port) };
        struct timeval tv = { .tv_sec = 5 };
        size_t len = strlen(c->request), sent = 0;
        int fd;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                c->error = "socket";
                return;
        }
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (c->source) {
                struct sockaddr_in from = { .sin_family = AF_INET };
                from.sin_addr.s_addr = htonl((127u << 24) | c->source);
                if (bind(fd, (struct sockaddr *) &from, sizeof(from)) < 0) {
                        c->error = "bind";
                        goto out;
                }
        }
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                c->error = "connect";
                goto out;
        }
        while (sent < len) {
                ssize_t k = send(fd, c->request + sent, len - sent, MSG_NOSIGNAL);
                if (k <= 0) {
                        c->error = "send";
                        goto out;
                }
                sent += (size_t) k;
        }
        for (;;) {
                char tmp[4096];
                ssize_t k = recv(fd, tmp, sizeof(tmp), 0);
                if (k == 0) {
                        c->eof = true;
                        break;
                }
                if (k < 0) {
                        c->error = errno == EAGAIN ? "receive timeout" : "recv";
                        goto out;
                }
                buf_append(&c->raw, tmp, (size_t) k);
                if (c->follow) {
                        ssize_t h = find_head_end(&c->raw);
                        if (h < 0)
                                continue;
                        c->head_len = (size_t) h;
                        if (dechunk(c->raw.data + h, c->raw.len - (size_t) h, &c->body) < 0) {
                                c->error = "bad chunk";
                                goto out;
                        }
                        if (count_lines(&c->body) >= c->want_lines)
                                break;
                }
        }
        if (sscanf(c->raw.data ? c->raw.data : "", "HTTP/1.%*c %d ", &c->status) != 1) {
                c->error = "no status line";
                goto out;
        }
        if (!c->follow) {
                ssize_t h = find_head_end(&c->raw);
                if (h < 0) {
                        c->error = "no end of headers";
                        goto out;
                }
                c->head_len = (size_t) h;
                buf_clear(&c->body);
                buf_append(&c->body, c->raw.data + h, c->raw.len - (size_t) h);
        }
out:
        close(fd);
}

static void *client_thread(void *p) {
        Client *c = p;
        client_exchange(c);
        atomic_store(&c->done, true);
        return NULL;
}

static bool client_done(void *ud) {
        return atomic_load(&((Client *) ud)->done);
}

static void client_init(Client *c, bool follow, size_t want_lines, const char *fmt, ...) _printf_(4, 5);
static void client_init(Client *c, bool follow, size_t want_lines, const char *fmt, ...) {
        va_list ap;

        *c = (Client){ .port = http_server_port(srv), .follow = follow, .want_lines = want_lines };
        va_start(ap, fmt);
        vsnprintf(c->request, sizeof(c->request), fmt, ap);
        va_end(ap);
}

static void client_free(Client *c) {
        buf_free(&c->raw);
        buf_free(&c->body);
}

/* Copies header `name`'s value into out ("" when absent). */
static const char *header(const Client *c, const char *name, char *out, size_t size) {
        size_t nlen = strlen(name);
        const char *p = c->raw.data, *end = c->raw.data + c->head_len;

        out[0] = 0;
        p = memchr(p, '\n', (size_t) (end - p)); /* skip the status line */
        while (p && ++p < end) {
                const char *eol = memchr(p, '\r', (size_t) (end - p));
                if (!eol)
                        break;
                if ((size_t) (eol - p) > nlen + 1 && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
                        const char *v = p + nlen + 1;
                        while (*v == ' ')
                                v++;
                        snprintf(out, size, "%.*s", (int) (eol - v), v);
                        return out;
                }
                p = eol + 1;
        }
        return out;
}

/* One complete request/response with the loop running meanwhile. */
static void run_client(Client *c) {
        pthread_t t;

        assert_int_equal(pthread_create(&t, NULL, client_thread, c), 0);
        assert_true(loop_until(client_done, c, 8000));
        assert_int_equal(pthread_join(t, NULL), 0);
        if (c->error)
                fail_msg("client: %s; got: %s", c->error, c->raw.data ? c->raw.data : "(nothing)");
}

static void exchange(Client *c, const char *fmt, ...) _printf_(2, 3);
static void exchange(Client *c, const char *fmt, ...) {
        va_list ap;

        *c = (Client){ .port = http_server_port(srv) };
        va_start(ap, fmt);
        vsnprintf(c->request, sizeof(c->request), fmt, ap);
        va_end(ap);
        run_client(c);
}

/* ---- a keep-alive client: several requests on one connection ---- */

#define KA_MAX 6

typedef struct KaClient {
        uint16_t port;
        const char *requests[KA_MAX];
        size_t n_requests;
        bool pipeline; /* all requests in one send(), before any reply */
        atomic_bool done;
        /* results */
        const char *error;
        size_t n_replies;
        Client replies[KA_MAX]; /* raw, head_len, status, body of each */
        bool eof;               /* the server closed after the last reply */
} KaClient;

static int send_all(int fd, const char *p, size_t len) {
        while (len > 0) {
                ssize_t k = send(fd, p, len, MSG_NOSIGNAL);
                if (k <= 0)
                        return -1;
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

/* Waits up to ms for data or EOF; true if the server closed. */
static bool ka_closed_within(int fd, unsigned ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char ch;

        if (poll(&p, 1, (int) ms) <= 0)
                return false;
        return recv(fd, &ch, 1, MSG_DONTWAIT) == 0;
}

/* Cuts one Content-Length framed reply off the front of in, into r. 1 if
 * there was a whole one, 0 if more data is needed, -1 if malformed. */
static int ka_take_reply(Buf *in, bool head_request, Client *r) {
        ssize_t h = find_head_end(in);
        uint64_t body_len = 0;
        size_t total;
        char v[32];

        if (h < 0)
                return 0;
        buf_clear(&r->raw);
        buf_append(&r->raw, in->data, (size_t) h);
        r->head_len = (size_t) h;
        if (sscanf(r->raw.data, "HTTP/1.%*c %d ", &r->status) != 1)
                return -1;
        /* Keep-alive needs framing: every reply here has a length. */
        if (parse_u64(sv_from(header(r, "Content-Length", v, sizeof(v))), &body_len) < 0)
                return -1;
        if (head_request)
                body_len = 0;
        if (in->len - (size_t) h < body_len)
                return 0;
        total = (size_t) h + (size_t) body_len;
        buf_clear(&r->body);
        buf_append(&r->body, in->data + h, (size_t) body_len);
        buf_append(&r->raw, in->data + h, (size_t) body_len);
        memmove(in->data, in->data + total, in->len - total);
        in->len -= total;
        return 1;
}

static void ka_exchange(KaClient *c) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(c->port) };
        struct timeval tv = { .tv_sec = 5 };
        _cleanup_buf_ Buf in = { 0 };
        int fd;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                c->error = "socket";
                return;
        }
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                c->error = "connect";
                goto out;
        }
        if (c->pipeline) {
                _cleanup_buf_ Buf all = { 0 };
                for (size_t i = 0; i < c->n_requests; i++)
                        buf_puts(&all, c->requests[i]);
                if (send_all(fd, all.data, all.len) < 0) {
                        c->error = "send";
                        goto out;
                }
        }
        for (size_t i = 0; i < c->n_requests; i++) {
                bool head_request = strncmp(c->requests[i], "HEAD ", 5) == 0;
                int r;

                if (!c->pipeline && send_all(fd, c->requests[i], strlen(c->requests[i])) < 0) {
                        c->error = "send";
                        goto out;
                }
                while ((r = ka_take_reply(&in, head_request, &c->replies[i])) == 0) {
                        char tmp[4096];
                        ssize_t k = recv(fd, tmp, sizeof(tmp), 0);
                        if (k == 0) {
                                c->error = "closed before the reply was complete";
                                goto out;
                        }
                        if (k < 0) {
                                c->error = errno == EAGAIN ? "receive timeout" : "recv";
                                goto out;
                        }
                        buf_append(&in, tmp, (size_t) k);
                }
                if (r < 0) {
                        c->error = "malformed reply";
                        goto out;
                }
                c->n_replies++;
        }
        if (in.len > 0) {
                c->error = "more data than the replies";
                goto out;
        }
        /* 1 s is ample on loopback for a close that is due; a kept
         * connection just stays quiet until our timeout (30 s). */
        c->eof = ka_closed_within(fd, 1000);
out:
        close(fd);
}

static void *ka_thread(void *p) {
        KaClient *c = p;
        ka_exchange(c);
        atomic_store(&c->done, true);
        return NULL;
}

static bool ka_done(void *ud) {
        return atomic_load(&((KaClient *) ud)->done);
}

static void ka_free(KaClient *c) {
        for (size_t i = 0; i < KA_MAX; i++)
                client_free(&c->replies[i]);
}

static void ka_run(KaClient *c) {
        pthread_t t;

        c->port = http_server_port(srv);
        assert_int_equal(pthread_create(&t, NULL, ka_thread, c), 0);
        assert_true(loop_until(ka_done, c, 10000));
        assert_int_equal(pthread_join(t, NULL), 0);
        if (c->error) {
                const char *error = c->error;
                size_t n = c->n_replies;

                ka_free(c); /* fail_msg() does not return */
                fail_msg("client: %s after %zu replies", error, n);
        }
        assert_int_equal(c->n_replies, c->n_requests);
}

/* True if the reply says the connection ends ("Connection: close"). */
static bool reply_closes(const Client *r) {
        char v[64];

        return strcasecmp(header(r, "Connection", v, sizeof(v)), "close") == 0;
}

#define GET(c, path) exchange((c), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", (path))

/* ---- fixtures ---- */

static int setup(void **state _unused_) {
        fake = (Fake){ .healthy = true };
        assert_int_equal(sd_event_new(&loop), 0);
        assert_int_equal(http_server_new(loop, "127.0.0.1:0", -1, &fake_api, NULL, NULL, &srv), 0);
        assert_int_not_equal(http_server_port(srv), 0);
        return 0;
}

static int teardown(void **state _unused_) {
        srv = http_server_free(srv);
        loop = sd_event_unref(loop);
        return 0;
}

/* ---- tests ---- */

static void test_metrics(void **state _unused_) {
        Client c;
        char v[128];

        GET(&c, "/metrics");
        assert_int_equal(c.status, 200);
        assert_string_equal(header(&c, "Content-Type", v, sizeof(v)), "text/plain; version=0.0.4; charset=utf-8");
        assert_string_equal(header(&c, "Content-Length", v, sizeof(v)), "17");
        assert_string_equal(c.body.data, "m_total{a=\"b\"} 3\n");
        assert_true(c.eof);
        client_free(&c);
}

static void test_head_metrics(void **state _unused_) {
        Client c;
        char v[128];

        exchange(&c, "HEAD /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_int_equal(c.status, 200);
        assert_string_equal(header(&c, "Content-Type", v, sizeof(v)), "text/plain; version=0.0.4; charset=utf-8");
        assert_string_equal(header(&c, "Content-Length", v, sizeof(v)), "17");
        assert_int_equal(c.body.len, 0);
        client_free(&c);
}

static void test_probes_index_healthz(void **state _unused_) {
        Client c;
        char v[128];

        GET(&c, "/probes");
        assert_int_equal(c.status, 200);
        assert_string_equal(header(&c, "Content-Type", v, sizeof(v)), "application/json");
        assert_string_equal(c.body.data, "{\"probes\":[\"p1\",\"p2\"]}");
        client_free(&c);

        GET(&c, "/");
        assert_int_equal(c.status, 200);
        assert_string_equal(header(&c, "Content-Type", v, sizeof(v)), "text/html; charset=utf-8");
        assert_non_null(strstr(c.body.data, "href=\"/metrics\""));
        assert_non_null(strstr(c.body.data, "href=\"/events\""));
        assert_non_null(strstr(c.body.data, "href=\"/probes\""));
        assert_non_null(strstr(c.body.data, "href=\"/healthz\""));
        client_free(&c);

        GET(&c, "/healthz");
        assert_int_equal(c.status, 200);
        assert_string_equal(c.body.data, "ok\n");
        client_free(&c);

        fake.healthy = false;
        GET(&c, "/healthz");
        assert_int_equal(c.status, 503);
        client_free(&c);
}

static void test_not_found_and_method(void **state _unused_) {
        Client c;
        char v[128];

        GET(&c, "/nope");
        assert_int_equal(c.status, 404);
        client_free(&c);

        GET(&c, "/metrics/");
        assert_int_equal(c.status, 404);
        client_free(&c);

        exchange(&c, "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
        assert_int_equal(c.status, 405);
        assert_string_equal(header(&c, "Allow", v, sizeof(v)), "GET, HEAD");
        client_free(&c);

        exchange(&c, "DELETE /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_int_equal(c.status, 405);
        client_free(&c);
}

static void test_events_query(void **state _unused_) {
        Client c;
        char v[128];

        GET(&c, "/events");
        assert_int_equal(c.status, 200);
        assert_string_equal(header(&c, "Content-Type", v, sizeof(v)), "application/json");
        assert_string_equal(c.body.data, "{\"probe\":null,\"has_since\":false,\"since\":0,\"limit\":100}");
        client_free(&c);

        GET(&c, "/events?probe=tcp_connect&since=6400&limit=25");
        assert_int_equal(c.status, 200);
        assert_string_equal(c.body.data, "{\"probe\":\"tcp_connect\",\"has_since\":true,\"since\":6400,\"limit\":25}");
        client_free(&c);

        /* URL-decoded by MHD; the largest u64 and the largest limit pass. */
        GET(&c, "/events?probe=a%2Fb&since=18446744073709551615&limit=10000&follow=0");
        assert_int_equal(c.status, 200);
        assert_string_equal(c.body.data,
                            "{\"probe\":\"a/b\",\"has_since\":true,\"since\":18446744073709551615,\"limit\":10000}");
        client_free(&c);

        GET(&c, "/events?probe=nope");
        assert_int_equal(c.status, 404);
        assert_string_equal(header(&c, "Content-Type", v, sizeof(v)), "application/json");
        assert_string_equal(c.body.data, "{\"error\":\"no such probe\"}\n");
        client_free(&c);
}

static void test_events_bad_query(void **state _unused_) {
        static const char *const bad[] = {
                "/events?since=abc", "/events?since=", "/events?since=18446744073709551616", "/events?since=-1",
                "/events?limit=0",   "/events?limit=10001", "/events?limit=x", "/events?follow=yes",
                "/events?probe=",
        };
        Client c;
        char v[128];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                GET(&c, bad[i]);
                if (c.status != 400)
                        fail_msg("%s: status %d", bad[i], c.status);
                assert_string_equal(header(&c, "Content-Type", v, sizeof(v)), "application/json");
                assert_true(strncmp(c.body.data, "{\"error\":\"", 10) == 0);
                client_free(&c);
        }
}

static void test_keepalive(void **state _unused_) {
        KaClient c = {
                .requests = {
                        "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
                        "HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
                        "GET /events?probe=tcp_connect&since=6400&limit=25 HTTP/1.1\r\nHost: t\r\n\r\n",
                        "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
                        /* A body on GET is dropped; were it left in the
                         * stream, "hello" would be taken as the next
                         * request line and get a 400. */
                        "GET /probes HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
                        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                },
                .n_requests = 6,
        };
        char v[128];

        ka_run(&c);
        assert_int_equal(c.replies[0].status, 200);
        assert_string_equal(c.replies[0].body.data, "m_total{a=\"b\"} 3\n");
        assert_int_equal(c.replies[1].status, 200);
        assert_string_equal(header(&c.replies[1], "Content-Length", v, sizeof(v)), "17");
        assert_int_equal(c.replies[1].body.len, 0);
        assert_int_equal(c.replies[2].status, 200);
        assert_string_equal(c.replies[2].body.data,
                            "{\"probe\":\"tcp_connect\",\"has_since\":true,\"since\":6400,\"limit\":25}");
        assert_int_equal(c.replies[3].status, 404);
        assert_int_equal(c.replies[4].status, 200);
        assert_string_equal(c.replies[4].body.data, "{\"probes\":[\"p1\",\"p2\"]}");
        for (size_t i = 0; i < 5; i++)
                if (reply_closes(&c.replies[i]))
                        fail_msg("reply %zu: Connection: close", i);
        /* The client's own "Connection: close" is honoured. */
        assert_int_equal(c.replies[5].status, 200);
        assert_string_equal(c.replies[5].body.data, "ok\n");
        assert_true(reply_closes(&c.replies[5]));
        assert_true(c.eof);
        ka_free(&c);
}

static void test_keepalive_pipelined(void **state _unused_) {
        KaClient c = {
                .requests = {
                        "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
                        "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
                },
                .n_requests = 2,
                .pipeline = true,
        };

        ka_run(&c);
        assert_int_equal(c.replies[0].status, 200);
        assert_string_equal(c.replies[0].body.data, "ok\n");
        assert_int_equal(c.replies[1].status, 200);
        assert_string_equal(c.replies[1].body.data, "m_total{a=\"b\"} 3\n");
        assert_false(reply_closes(&c.replies[0]));
        assert_false(reply_closes(&c.replies[1]));
        /* Nothing asked for a close: the connection stays open. */
        assert_false(c.eof);
        ka_free(&c);
}

static void test_close_cases(void **state _unused_) {
        /* HTTP/1.0 without keep-alive: one request per connection. */
        KaClient old = {
                .requests = { "GET /metrics HTTP/1.0\r\n\r\n" },
                .n_requests = 1,
        };
        /* Refused methods are answered before their body is read, so
         * the connection cannot be reused. */
        KaClient post = {
                .requests = { "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" },
                .n_requests = 1,
        };

        ka_run(&old);
        assert_int_equal(old.replies[0].status, 200);
        assert_string_equal(old.replies[0].body.data, "m_total{a=\"b\"} 3\n");
        assert_true(old.eof);
        ka_free(&old);

        ka_run(&post);
        assert_int_equal(post.replies[0].status, 405);
        assert_true(reply_closes(&post.replies[0]));
        assert_true(post.eof);
        ka_free(&post);
}

/* Starts a follow client; returns once the server holds its stream. */
static void follow_start(Client *c, pthread_t *t, size_t want_lines, const char *query) {
        size_t one = 1;

        client_init(c, true, want_lines, "GET /events?follow=1%s HTTP/1.1\r\nHost: t\r\n\r\n", query);
        assert_int_equal(pthread_create(t, NULL, client_thread, c), 0);
        assert_true(loop_until(streams_are, &one, 5000));
}

static void follow_finish(Client *c, pthread_t t) {
        size_t zero = 0;
        char v[128];

        assert_true(loop_until(client_done, c, 8000));
        assert_int_equal(pthread_join(t, NULL), 0);
        if (c->error)
                fail_msg("client: %s; got: %s", c->error, c->raw.data ? c->raw.data : "(nothing)");
        assert_int_equal(c->status, 200);
        assert_string_equal(header(c, "Content-Type", v, sizeof(v)), "application/x-ndjson");
        assert_string_equal(header(c, "Transfer-Encoding", v, sizeof(v)), "chunked");
        /* The client hung up while its stream was suspended: the server
         * notices (EPOLLRDHUP) and frees the stream. */
        assert_true(loop_until(streams_are, &zero, 5000));
}

static void test_follow_from_now(void **state _unused_) {
        pthread_t t;
        Client c;

        fake_push("p1"); /* seq 1 and 2 are history: not streamed */
        fake_push("p2");
        follow_start(&c, &t, 3, "");

        /* Idle: the reader ran once, found nothing and suspended; it must
         * not be called again (no busy loop) until notify. */
        loop_until(never, NULL, 300);
        assert_int_equal(fake.stream_calls, 2); /* cursor init + one read */
        assert_false(atomic_load(&c.done));

        fake_push("p1");
        fake_push("p2");
        http_server_notify(srv);
        loop_until(never, NULL, 100);
        fake_push("p1");
        http_server_notify(srv);

        follow_finish(&c, t);
        assert_string_equal(c.body.data,
                            "{\"seq\":3,\"probe\":\"p1\"}\n"
                            "{\"seq\":4,\"probe\":\"p2\"}\n"
                            "{\"seq\":5,\"probe\":\"p1\"}\n");
        client_free(&c);
}

static void test_follow_since_probe(void **state _unused_) {
        pthread_t t;
        Client c;

        fake_push("p1"); /* 1 */
        fake_push("p2"); /* 2 */
        fake_push("p1"); /* 3 */
        /* since=1: the backlog after 1 that matches p1 is 3; limit=1 makes
         * the server fetch one line at a time. */
        follow_start(&c, &t, 3, "&since=1&probe=p1&limit=1");
        fake_push("p2"); /* 4 */
        fake_push("p1"); /* 5 */
        fake_push("p1"); /* 6 */
        http_server_notify(srv);
        follow_finish(&c, t);
        assert_string_equal(c.body.data,
                            "{\"seq\":3,\"probe\":\"p1\"}\n"
                            "{\"seq\":5,\"probe\":\"p1\"}\n"
                            "{\"seq\":6,\"probe\":\"p1\"}\n");
        client_free(&c);
}

static void test_follow_hangup_without_events(void **state _unused_) {
        pthread_t t;
        Client c;

        /* want_lines 0: the client leaves as soon as it has the headers. */
        follow_start(&c, &t, 0, "");
        follow_finish(&c, t);
        assert_int_equal(c.body.len, 0);
        /* Notify with no streams left is harmless. */
        http_server_notify(srv);
        client_free(&c);
}

static void test_follow_head(void **state _unused_) {
        size_t zero = 0;
        Client c;
        char v[128];

        fake_push("p1");
        exchange(&c, "HEAD /events?follow=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert_int_equal(c.status, 200);
        assert_string_equal(header(&c, "Content-Type", v, sizeof(v)), "application/x-ndjson");
        assert_int_equal(c.body.len, 0);
        assert_true(loop_until(streams_are, &zero, 5000));
        client_free(&c);
}

static void test_follow_limit_streams(void **state _unused_) {
        /* The 503 answers when too many follow streams are open, per
         * address and in all, are checked by filling the slots with
         * suspended streams: HTTP_MAX_STREAMS_PER_ADDRESS from each of
         * 127.0.0.2, 127.0.0.3, ... until all are taken. */
        Client cs[HTTP_MAX_STREAMS];
        pthread_t ts[HTTP_MAX_STREAMS];
        Client c;
        size_t zero = 0;

        for (size_t i = 0; i < HTTP_MAX_STREAMS; i++) {
                size_t want = i + 1;
                client_init(&cs[i], true, 1, "GET /events?follow=true HTTP/1.1\r\nHost: t\r\n\r\n");
                cs[i].source = (uint8_t) (2 + i / HTTP_MAX_STREAMS_PER_ADDRESS);
                assert_int_equal(pthread_create(&ts[i], NULL, client_thread, &cs[i]), 0);
                assert_true(loop_until(streams_are, &want, 5000));
                if (i == HTTP_MAX_STREAMS_PER_ADDRESS - 1) {
                        /* 127.0.0.2 holds its share: refused there, served from elsewhere. */
                        client_init(&c, false, 0, "GET /events?follow=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
                        c.source = 2;
                        run_client(&c);
                        assert_int_equal(c.status, 503);
                        client_free(&c);
                }
        }
        GET(&c, "/events?follow=1");
        assert_int_equal(c.status, 503);
        client_free(&c);

        fake_push("p1");
        http_server_notify(srv);
        for (size_t i = 0; i < HTTP_MAX_STREAMS; i++) {
                assert_true(loop_until(client_done, &cs[i], 8000));
                assert_int_equal(pthread_join(ts[i], NULL), 0);
                assert_null(cs[i].error);
                assert_string_equal(cs[i].body.data, "{\"seq\":1,\"probe\":\"p1\"}\n");
                client_free(&cs[i]);
        }
        assert_true(loop_until(streams_are, &zero, 5000));
}

static void test_free_with_open_stream(void **state _unused_) {
        pthread_t t;
        Client c;

        follow_start(&c, &t, 1, "");
        loop_until(never, NULL, 100);
        /* MHD panics if stopped with suspended connections. */
        srv = http_server_free(srv);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_null(c.error);
        assert_true(c.eof);
        assert_int_equal(c.status, 200);
        assert_int_equal(count_lines(&c.body), 0);
        client_free(&c);
}

static void test_listen_addresses(void **state _unused_) {
        static const char *const bad[] = {
                "127.0.0.1", "127.0.0.1:", ":70000", ":0x50", "[::1", "[::1]80", "::1:80",
                "[]:80", "",
        };
        HttpServer *other = NULL;
        char addr[64];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r = http_server_new(loop, bad[i], -1, &fake_api, NULL, NULL, &other);
                if (r != -EINVAL)
                        fail_msg("\"%s\": %d", bad[i], r);
                assert_null(other);
        }
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned) http_server_port(srv));
        assert_int_equal(http_server_new(loop, addr, -1, &fake_api, NULL, NULL, &other), -EADDRINUSE);
        assert_null(other);

        /* A host name, as exporters' --web.listen-address takes it. */
        assert_int_equal(http_server_new(loop, "localhost:0", -1, &fake_api, NULL, NULL, &other), 0);
        assert_int_not_equal(http_server_port(other), 0);
        other = http_server_free(other);

        /* IPv6 loopback, where the machine has it. */
        int r = http_server_new(loop, "[::1]:0", -1, &fake_api, NULL, NULL, &other);
        if (r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT)
                fprintf(stderr, "# no IPv6 loopback here, [::1]:0 not checked\n");
        else {
                assert_int_equal(r, 0);
                assert_int_not_equal(http_server_port(other), 0);
                assert_int_not_equal(http_server_port(other), http_server_port(srv));
                other = http_server_free(other);
        }
}

static void test_listen_fd(void **state _unused_) {
        struct sockaddr_in sa = { .sin_family = AF_INET };
        socklen_t len = sizeof(sa);
        Client c;
        int fd;

        srv = http_server_free(srv);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 8), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);

        assert_int_equal(http_server_new(loop, NULL, fd, &fake_api, NULL, NULL, &srv), 0);
        assert_int_equal(http_server_port(srv), ntohs(sa.sin_port));
        GET(&c, "/healthz");
        assert_int_equal(c.status, 200);
        client_free(&c);
        srv = http_server_free(srv);
        /* The caller's fd is still its own. */
        assert_true(fcntl(fd, F_GETFD) >= 0);
        assert_int_equal(close(fd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
                cmocka_unit_test_setup_teardown(test_head_metrics, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probes_index_healthz, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_found_and_method, setup, teardown),
                cmocka_unit_test_setup_teardown(test_events_query, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keepalive_pipelined, setup, teardown),
                cmocka_unit_test_setup_teardown(test_close_cases, setup, teardown),
                cmocka_unit_test_setup_teardown(test_events_bad_query, setup, teardown),
                cmocka_unit_test_setup_teardown(test_follow_from_now, setup, teardown),
                cmocka_unit_test_setup_teardown(test_follow_since_probe, setup, teardown),
                cmocka_unit_test_setup_teardown(test_follow_hangup_without_events, setup, teardown),
                cmocka_unit_test_setup_teardown(test_follow_head, setup, teardown),
                cmocka_unit_test_setup_teardown(test_follow_limit_streams, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_with_open_stream, setup, teardown),
                cmocka_unit_test_setup_teardown(test_listen_addresses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_listen_fd, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
