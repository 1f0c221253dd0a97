#include "lines.h"

void linereader_init(LineReader *lr, size_t cap) {
        *lr = (LineReader){ .buf = xmalloc(cap), .cap = cap };
}

void linereader_done(LineReader *lr) {
        free(lr->buf);
        *lr = (LineReader){ 0 };
}

char *linereader_space(LineReader *lr, size_t *avail) {
        if (lr->len == lr->cap) {
                /* The buffer holds one incomplete line as long as the buffer:
                 * drop it and the rest of it, up to its newline. */
                if (!lr->skipping)
                        lr->overlong++;
                lr->skipping = true;
                lr->len = 0;
        }
        *avail = lr->cap - lr->len;
        return lr->buf + lr->len;
}

void linereader_commit(LineReader *lr, size_t n, LineCallback cb, void *userdata) {
        char *p = lr->buf;
        char *end = lr->buf + lr->len + n;
        char *scan = lr->buf + lr->len; /* bytes before this hold no newline */

        for (;;) {
                char *nl = memchr(scan, '\n', (size_t) (end - scan));
                if (!nl)
                        break;
                if (lr->skipping)
                        lr->skipping = false;
                else if (nl > p) /* trace_pipe prints no empty lines; skip any */
                        cb(userdata, p, (size_t) (nl - p));
                p = nl + 1;
                scan = p;
        }

        lr->len = (size_t) (end - p);
        if (lr->skipping)
                lr->len = 0;
        else if (lr->len > 0 && p != lr->buf)
                memmove(lr->buf, p, lr->len);
}
