/* What the HTTP server's files share (http.c, http_conn.c, http_body.c):
 * the server's state and the functions each gives the others. Not for the
 * rest of the daemon, which uses http.h. */
#pragma once

#include <microhttpd.h>
#include <sys/socket.h>

#include "http.h"

typedef struct FollowStream FollowStream;
typedef struct Conn Conn;

struct HttpServer {
        sd_event *event;
        struct MHD_Daemon *mhd;
        sd_event_source *io;    /* MHD's epoll fd */
        sd_event_source *timer; /* MHD_get_timeout() */
        sd_event_source *kick;  /* one MHD_run() soon, after resumes */
        HttpApi api;
        uint16_t port;
        FollowStream *streams; /* every open follow stream */
        size_t n_streams;
        bool stopping;
        HttpTls *tls;
        HttpAuth *auth;
        WebHeader *headers;
        size_t n_headers;
        HttpStats *stats;
        HttpStats own_stats; /* when the caller keeps none */
        Conn *conns;         /* every open connection */
        size_t n_conns;
        sd_event_source *sweep; /* closes connections past their header deadline */
        bool busy;              /* MHD said "work pending" after the last run */
        unsigned stalled;       /* runs in a row that were "pending" and moved nothing */
};

/* One open connection, for the limits per address and the header
 * deadline (MHD's socket context). */
struct Conn {
        struct sockaddr_storage addr; /* the client's; the port is not compared */
        int fd;
        uint64_t deadline; /* CLOCK_MONOTONIC usec by which headers must be complete; 0: none */
        Conn *prev, *next;
};

struct FollowStream {
        HttpServer *server;
        struct MHD_Connection *connection;
        const Conn *conn; /* its connection's record, for the limit per address */
        EventQuery query;
        char *probe; /* owned copy behind query.probe */
        uint64_t cursor;
        Buf buf;    /* rendered NDJSON not yet handed to MHD */
        size_t off; /* how much of buf MHD has taken */
        sd_event_source *hangup; /* set while suspended */
        bool suspended;
        bool gone;
        FollowStream *prev, *next;
};

/* http.c */
/* One MHD_run() soon (after resumes, or connections shut down). */
void http_server_kick(HttpServer *s);

/* http_conn.c: MHD's callbacks for connections, and what they keep. */
enum MHD_Result http_on_accept(void *cls, const struct sockaddr *addr, socklen_t len);
void *http_on_request_line(void *cls, const char *uri, struct MHD_Connection *c);
void http_on_request_done(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode code);
int http_on_sweep(sd_event_source *es, uint64_t usec, void *userdata);
/* A connection's record (its socket context), made when it starts and
 * freed when it closes. */
void http_conn_started(HttpServer *s, struct MHD_Connection *c, void **socket_context);
void http_conn_closed(HttpServer *s, void **socket_context);
Conn *http_connection_record(struct MHD_Connection *c);
/* Follow streams whose connection comes from conn's address. */
size_t http_streams_from(const HttpServer *s, const Conn *conn);
/* Bytes sent and read on all connections. */
uint64_t http_conns_traffic(const HttpServer *s);
uint64_t http_server_now(const HttpServer *s);

/* http_body.c */
/* A response sending body (the reference is the response's), or NULL: no
 * room within HTTP_MAX_HELD_BYTES (*busy set), or MHD has no memory. */
struct MHD_Response *http_body_response(HttpBody *body, bool *busy);
