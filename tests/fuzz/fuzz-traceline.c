/* Fuzz target: one trace_pipe line (the whole input, any bytes) through
 * traceline_parse(), and its body through traceline_tracepoint_fields()
 * and traceline_probe_fields(). Besides crashes it checks the header's
 * promises: every view points into the line, at most max fields, and a
 * smaller max gives a prefix of the same fields.
 * Then the same bytes, read as the parts of a header (comm, pid, tgid, cpu,
 * flags, timestamp, event, form, body), are printed the way the kernel's
 * trace_print_context() does, and the parser must give back exactly those
 * parts: every header the kernel can print parses, and parses right. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "traceline.h"

#define MAX_NAMES 8

static void check_line_views(const TraceLine *tl, const uint8_t *data, size_t size) {
        fuzz_check(fuzz_sv_inside(tl->comm, data, size));
        fuzz_check(fuzz_sv_inside(tl->timestamp, data, size));
        fuzz_check(fuzz_sv_inside(tl->event, data, size));
        fuzz_check(fuzz_sv_inside(tl->body, data, size));
        fuzz_check(tl->event.n > 0);
        fuzz_check(tl->pid >= 0 && tl->cpu >= 0 && tl->tgid >= -1);
        fuzz_check(tl->form == TRACE_FORM_NAMED || tl->form == TRACE_FORM_SYSCALL_ENTER ||
                   tl->form == TRACE_FORM_SYSCALL_EXIT);
}

static int fields(const TraceLine *tl, const uint8_t *data, size_t size, TraceField *f, size_t max) {
        int r = traceline_tracepoint_fields(tl, f, max);
        fuzz_check(r == -EINVAL || (r >= 0 && (size_t) r <= max));
        for (int i = 0; i < r; i++) {
                /* Syscall exits name their one field "ret" themselves. */
                fuzz_check(fuzz_sv_inside(f[i].name, data, size) || sv_eq_str(f[i].name, "ret"));
                fuzz_check(fuzz_sv_inside(f[i].value, data, size));
                (void) fuzz_touch(f[i].name);
                (void) fuzz_touch(f[i].value);
        }
        return r;
}

static void probe_fields(StrView body, char *const *names, const bool *is_string, size_t n) {
        StrView values[MAX_NAMES], loc = { NULL, 0 };
        int r = traceline_probe_fields(body, names, is_string, n, values, &loc);
        fuzz_check(r == 0 || r == -EINVAL);
        if (r < 0)
                return;
        fuzz_check(fuzz_sv_inside(loc, body.p, body.n));
        for (size_t i = 0; i < n; i++)
                fuzz_check(fuzz_sv_inside(values[i], body.p, body.n));
        /* Values follow each other in the body. */
        for (size_t i = 1; i < n; i++)
                fuzz_check(values[i].n == 0 || values[i - 1].n == 0 || values[i].p >= values[i - 1].p + values[i - 1].n);
}

/* Consumes the input front to back; zeros when it runs out. */
typedef struct Bytes {
        const uint8_t *p;
        size_t n;
} Bytes;

static uint8_t take8(Bytes *b) {
        if (b->n == 0)
                return 0;
        b->n--;
        return *b->p++;
}

static uint32_t take32(Bytes *b) {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++)
                v = (v << 8) | take8(b);
        return v;
}

static char pick(Bytes *b, const char *alphabet) {
        return alphabet[take8(b) % strlen(alphabet)];
}

static void roundtrip(const uint8_t *data, size_t size) {
        static const char ident[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789";
        Bytes b = { data, size };
        char comm[16], flags[6], event[32], ts[48];
        Buf line = { 0 };

        /* comm: up to 15 bytes (TASK_COMM_LEN), anything but NUL and a
         * newline; a leading space cannot be told from the padding. */
        size_t comm_len = take8(&b) % 16;
        for (size_t i = 0; i < comm_len; i++) {
                char c = (char) take8(&b);
                comm[i] = c == 0 || c == '\n' || (i == 0 && c == ' ') ? '_' : c;
        }
        comm[comm_len] = 0;
        int32_t pid = (int32_t) (take32(&b) % 4194305); /* PID_MAX_LIMIT */
        uint8_t mode = take8(&b);
        int32_t tgid = (int32_t) (take32(&b) % 4194305);
        int32_t cpu = (int32_t) (take32(&b) % 8192);
        size_t flags_len = (mode >> 2) % 3 == 0 ? 0 : 3 + (mode >> 2) % 3; /* none, 4, 5 */
        for (size_t i = 0; i < flags_len; i++)
                flags[i] = pick(&b, ".dDXNnpHhsz0123456789");
        flags[flags_len] = 0;
        uint32_t sec = take32(&b), usec = take32(&b) % 1000000;
        if ((mode >> 4) & 1)
                snprintf(ts, sizeof(ts), "%" PRIu32 "%06" PRIu32, sec, usec); /* a counter clock */
        else
                snprintf(ts, sizeof(ts), "%" PRIu32 ".%06" PRIu32, sec % 100000000, usec);
        size_t event_len = 1 + take8(&b) % (sizeof(event) - 1);
        for (size_t i = 0; i < event_len; i++)
                event[i] = pick(&b, i == 0 ? "abcdefghijklmnopqrstuvwxyz_" : ident);
        event[event_len] = 0;
        TraceEventForm form = (TraceEventForm) ((mode >> 5) % 3);
        /* The body: the rest, one line of it. */
        const uint8_t *nl = b.n ? memchr(b.p, '\n', b.n) : NULL;
        StrView body = { (const char *) b.p, nl ? (size_t) (nl - b.p) : b.n };

        /* kernel/trace/trace_output.c: "%16s-%-7d ", "(%7d) " or
         * "(-------) ", "[%03d] ", the irq-info flags, " %5llu.%06lu: ". */
        buf_printf(&line, "%16s-%-7d ", comm, (int) pid);
        if (mode & 1)
                buf_puts(&line, "(-------) ");
        else if (mode & 2)
                buf_printf(&line, "(%7d) ", (int) tgid);
        buf_printf(&line, "[%03d] %s %*s: %s", (int) cpu, flags, (mode >> 4) & 1 ? 12 : 5, ts, event);
        buf_puts(&line, form == TRACE_FORM_NAMED ? ": " : form == TRACE_FORM_SYSCALL_ENTER ? "(" : " -> ");
        size_t body_at = line.len;
        buf_put_sv(&line, body);
        if (form == TRACE_FORM_SYSCALL_ENTER)
                buf_putc(&line, ')');

        char *exact = xmalloc(line.len);
        memcpy(exact, line.data, line.len);
        TraceLine tl;
        int r = traceline_parse(exact, line.len, &tl);
        if (r < 0)
                fprintf(stderr, "rejected: \"%.*s\"\n", (int) line.len, line.data);
        fuzz_check(r == 0 && tl.kind == TRACE_LINE_EVENT);
        const char *c = comm;
        while (*c == ' ')
                c++;
        fuzz_check(sv_eq_str(tl.comm, c));
        fuzz_check(tl.pid == pid);
        fuzz_check(tl.tgid == ((mode & 3) == 2 ? tgid : -1));
        fuzz_check(tl.cpu == cpu);
        fuzz_check(sv_eq_str(tl.timestamp, ts));
        fuzz_check(sv_eq_str(tl.event, event));
        fuzz_check(tl.form == form);
        fuzz_check(tl.body.p == exact + body_at && tl.body.n == body.n);
        free(exact);
        buf_free(&line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        TraceLine tl;

        roundtrip(data, size);
        if (traceline_parse((const char *) data, size, &tl) < 0)
                return 0;
        if (tl.kind == TRACE_LINE_LOST) {
                TraceField f[1];
                fuzz_check(traceline_tracepoint_fields(&tl, f, 1) == -EINVAL);
                return 0;
        }
        fuzz_check(tl.kind == TRACE_LINE_EVENT);
        check_line_views(&tl, data, size);
        (void) fuzz_touch(tl.comm);

        TraceField all[128], few[3], none[1];
        int r = fields(&tl, data, size, all, ELEMENTSOF(all));
        int r3 = fields(&tl, data, size, few, ELEMENTSOF(few));
        int r0 = fields(&tl, data, size, none, 0);
        fuzz_check(r0 == 0 || r0 == -EINVAL);
        /* "fields past max are ignored": the first three are the same. */
        if (r < 0)
                fuzz_check(r3 == -EINVAL);
        else {
                fuzz_check(r3 == (r < 3 ? r : 3));
                for (int i = 0; i < r3; i++) {
                        fuzz_check(sv_eq(few[i].name, all[i].name));
                        fuzz_check(few[i].value.p == all[i].value.p && few[i].value.n == all[i].value.n);
                }
        }

        /* The probe-body parser, with the names the line itself has (so
         * the matching paths are reached), quoted values taken as strings. */
        char name_buf[MAX_NAMES][64];
        char *names[MAX_NAMES];
        bool is_string[MAX_NAMES];
        size_t n = 0;
        for (int i = 0; i < r && n < MAX_NAMES; i++) {
                if (all[i].name.n >= sizeof(name_buf[0]))
                        continue;
                memcpy(name_buf[n], all[i].name.p, all[i].name.n);
                name_buf[n][all[i].name.n] = 0;
                names[n] = name_buf[n];
                is_string[n] = all[i].value.n > 0 && all[i].value.p[0] == '"';
                n++;
        }
        probe_fields(tl.body, names, is_string, n);
        probe_fields(tl.body, names, NULL, n);
        if (n > 1)
                probe_fields(tl.body, names + 1, is_string + 1, n - 1);

        /* And the seed's probe, and one with a string first. */
        static char *const seed[] = { "type", "port", "addr" };
        static const bool seed_str[] = { false, false, false };
        probe_fields(tl.body, seed, seed_str, ELEMENTSOF(seed));
        static char *const path_port[] = { "path", "port", "comm" };
        static const bool path_port_str[] = { true, false, true };
        probe_fields(tl.body, path_port, path_port_str, ELEMENTSOF(path_port));
        probe_fields(tl.body, NULL, NULL, 0);
        return 0;
}
