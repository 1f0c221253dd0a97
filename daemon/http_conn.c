/* The HTTP server's connections, for fairness: the limits per client
 * address and the reserve (before MHD takes a connection), the header
 * deadline (a sweep once a second), the bytes that move on them (whether a
 * run of MHD did anything). See http.h for the numbers. */
#include "http_internal.h"

#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET)
                return ((const struct sockaddr_in *) a)->sin_addr.s_addr ==
                       ((const struct sockaddr_in *) b)->sin_addr.s_addr;
        if (a->ss_family == AF_INET6)
                return memcmp(&((const struct sockaddr_in6 *) a)->sin6_addr,
                              &((const struct sockaddr_in6 *) b)->sin6_addr, sizeof(struct in6_addr)) == 0;
        return true; /* AF_UNIX and the like: one "address" */
}

static size_t conns_from(const HttpServer *s, const struct sockaddr_storage *addr) {
        size_t n = 0;
        for (const Conn *c = s->conns; c; c = c->next)
                n += same_address(&c->addr, addr);
        return n;
}

size_t http_streams_from(const HttpServer *s, const Conn *conn) {
        size_t n = 0;
        for (const FollowStream *f = s->streams; conn && f; f = f->next)
                n += f->conn && same_address(&f->conn->addr, &conn->addr);
        return n;
}

/* Bytes sent on our connections and bytes read from them (received less
 * what still waits to be read), all of them: whether a run of MHD moved
 * anything. */
uint64_t http_conns_traffic(const HttpServer *s) {
        uint64_t sum = 0;
        for (const Conn *c = s->conns; c; c = c->next) {
                struct tcp_info ti;
                socklen_t len = sizeof(ti);
                int unread = 0;
                memset(&ti, 0, sizeof(ti));
                if (c->fd < 0 || getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
                        continue;
                if (ioctl(c->fd, FIONREAD, &unread) < 0 || unread < 0)
                        unread = 0;
                sum += ti.tcpi_bytes_sent + ti.tcpi_bytes_received - (uint64_t) unread;
        }
        return sum;
}

uint64_t http_server_now(const HttpServer *s) {
        uint64_t now = 0;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        return now;
}

/* Before MHD takes a connection: the limits per address, the reserve,
 * the total. A refused connection is closed at once. */
enum MHD_Result http_on_accept(void *cls, const struct sockaddr *addr, socklen_t len) {
        HttpServer *s = cls;
        struct sockaddr_storage ss = { 0 };

        memcpy(&ss, addr, len < sizeof(ss) ? len : sizeof(ss));
        size_t same = conns_from(s, &ss);
        if (same >= HTTP_MAX_PER_ADDRESS) {
                s->stats->refused_per_address++;
                return MHD_NO;
        }
        if (s->n_conns >= HTTP_MAX_CONNECTIONS) {
                s->stats->refused_limit++;
                return MHD_NO;
        }
        if (s->n_conns >= HTTP_MAX_CONNECTIONS - HTTP_RESERVED_CONNECTIONS && same > 0) {
                s->stats->refused_reserved++;
                return MHD_NO;
        }
        return MHD_YES;
}

Conn *http_connection_record(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        return ci ? ci->socket_context : NULL;
}

/* The request line is in: its headers must follow within the deadline. */
void *http_on_request_line(void *cls, const char *uri _unused_, struct MHD_Connection *c) {
        HttpServer *s = cls;
        Conn *conn = http_connection_record(c);
        uint64_t by = http_server_now(s) + HTTP_HEADER_DEADLINE_SEC * 1000000ULL;

        if (conn && conn->deadline > by)
                conn->deadline = by;
        return NULL; /* *req_cls starts NULL: on_request's first call */
}

/* A request is done (answered, or its client gone): the next one on
 * this connection has the idle timeout and then the header deadline. */
void http_on_request_done(void *cls, struct MHD_Connection *c, void **req_cls _unused_,
                          enum MHD_RequestTerminationCode code _unused_) {
        HttpServer *s = cls;
        Conn *conn = http_connection_record(c);

        if (conn)
                conn->deadline = http_server_now(s) + (HTTP_CONNECTION_TIMEOUT_SEC + HTTP_HEADER_DEADLINE_SEC) * 1000000ULL;
}

/* Once a second while connections are open: those past their deadline
 * are shut down; MHD then reads their end and closes them. */
int http_on_sweep(sd_event_source *es, uint64_t usec, void *userdata) {
        HttpServer *s = userdata;
        bool any = false;

        for (Conn *c = s->conns; c; c = c->next)
                if (c->deadline && usec >= c->deadline) {
                        (void) shutdown(c->fd, SHUT_RDWR);
                        c->deadline = 0;
                        s->stats->slow_headers++;
                        any = true;
                }
        if (any)
                http_server_kick(s);
        if (s->n_conns > 0) {
                (void) sd_event_source_set_time(es, usec + 1000000ULL);
                (void) sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
        }
        return 0;
}

size_t http_server_n_connections(const HttpServer *s) {
        return s ? s->n_conns : 0;
}

void http_conn_started(HttpServer *s, struct MHD_Connection *c, void **socket_context) {
        Conn *conn = xcalloc(1, sizeof(*conn));
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
                socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                        : sizeof(struct sockaddr_in);
                memcpy(&conn->addr, ci->client_addr, len);
        }
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn->fd = ci ? ci->connect_fd : -1;
        conn->deadline = http_server_now(s) + HTTP_HEADER_DEADLINE_SEC * 1000000ULL;
        conn->next = s->conns;
        if (s->conns)
                s->conns->prev = conn;
        s->conns = conn;
        s->n_conns++;
        *socket_context = conn;
        if (sd_event_source_get_enabled(s->sweep, NULL) == 0) {
                (void) sd_event_source_set_time(s->sweep, http_server_now(s) + 1000000ULL);
                (void) sd_event_source_set_enabled(s->sweep, SD_EVENT_ONESHOT);
        }
}

void http_conn_closed(HttpServer *s, void **socket_context) {
        Conn *conn = *socket_context;
        if (!conn)
                return;
        if (conn->prev)
                conn->prev->next = conn->next;
        else
                s->conns = conn->next;
        if (conn->next)
                conn->next->prev = conn->prev;
        s->n_conns--;
        free(conn);
        *socket_context = NULL;
}
