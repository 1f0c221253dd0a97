/* Response bodies: immutable, shared by the responses that send them
 * (a rendering of /metrics goes to every scrape while it is fresh), and
 * counted while responses in flight hold them (HTTP_MAX_HELD_BYTES). */
#include "http_internal.h"

struct HttpBody {
        unsigned refs;
        unsigned sending; /* responses in flight that hold it */
        size_t len;
        char *data;
};

static size_t held_bytes; /* of bodies that responses in flight hold: one loop, one thread */

size_t http_held_bytes(void) {
        return held_bytes;
}

HttpBody *http_body_new(Buf *b) {
        HttpBody *body = xcalloc(1, sizeof(*body));
        body->refs = 1;
        body->len = b->len;
        body->data = buf_steal(b);
        return body;
}

HttpBody *http_body_ref(HttpBody *body) {
        if (body)
                body->refs++;
        return body;
}

HttpBody *http_body_unref(HttpBody *body) {
        if (body && --body->refs == 0) {
                free(body->data);
                free(body);
        }
        return NULL;
}

size_t http_body_size(const HttpBody *body) {
        return body ? body->len : 0;
}

static void body_sent(void *cls) {
        HttpBody *body = cls;
        if (--body->sending == 0)
                held_bytes -= body->len;
        http_body_unref(body);
}

/* A response that sends body (the reference is the response's), or NULL
 * when no memory is left for it within HTTP_MAX_HELD_BYTES (*busy set) or
 * MHD has none. */
struct MHD_Response *http_body_response(HttpBody *body, bool *busy) {
        *busy = false;
        if (body->sending == 0 && held_bytes + body->len > HTTP_MAX_HELD_BYTES) {
                *busy = true;
                http_body_unref(body);
                return NULL;
        }
        struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback_cls(
                body->len, body->data ? body->data : (void *) "", body_sent, body);
        if (!resp) {
                http_body_unref(body);
                return NULL;
        }
        if (body->sending++ == 0)
                held_bytes += body->len;
        return resp;
}
