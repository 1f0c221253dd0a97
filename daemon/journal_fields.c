#include "journal_fields.h"

#include "attrib.h"
#include "decode.h"
#include "labelcut.h"

static void field_begin(JournalEntry *e, const char *name) {
        e->off[e->n] = e->text.len;
        buf_puts(&e->text, name);
        buf_putc(&e->text, '=');
}

static void field_end(JournalEntry *e) {
        e->len[e->n] = e->text.len - e->off[e->n];
        e->n++;
}

static void put_field(JournalEntry *e, const char *name, StrView value) {
        if (e->n >= JOURNAL_MAX_FIELDS)
                return;
        field_begin(e, name);
        buf_put_sv(&e->text, value);
        field_end(e);
}

static void put_field_i64(JournalEntry *e, const char *name, int64_t v) {
        char s[32];
        put_field(e, name, (StrView){ s, fmt_i64(s, v) });
}

/* "KPE_" and the field's name as a journal field name. */
static void field_name(StrView name, char out[JOURNAL_FIELD_NAME_MAX + 1]) {
        size_t n = 4;
        memcpy(out, "KPE_", 4);
        for (size_t i = 0; i < name.n && n < JOURNAL_FIELD_NAME_MAX; i++) {
                char c = name.p[i];
                if (c >= 'a' && c <= 'z')
                        c = (char) (c - 'a' + 'A');
                else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
                        c = '_';
                out[n++] = c;
        }
        out[n] = 0;
}

static bool name_taken(const JournalEntry *e, const char *name) {
        size_t n = strlen(name);
        for (size_t i = 0; i < e->n; i++)
                if (e->len[i] > n && e->text.data[e->off[i] + n] == '=' &&
                    memcmp(e->text.data + e->off[i], name, n) == 0)
                        return true;
        return false;
}

/* v as one printable line within JOURNAL_MESSAGE_VALUE_MAX bytes. */
static void put_message_value(JournalEntry *e, StrView v) {
        bool cut;
        StrView c = label_cut(v, JOURNAL_MESSAGE_VALUE_MAX, &e->scratch, &cut);
        size_t start = e->text.len;
        utf8_sanitize(&e->text, c);
        for (size_t i = start; i < e->text.len; i++)
                if ((unsigned char) e->text.data[i] < 0x20 || e->text.data[i] == 0x7f)
                        e->text.data[i] = '?';
}

static void put_message_pair(JournalEntry *e, const char *name, StrView v) {
        buf_putc(&e->text, ' ');
        buf_puts(&e->text, name);
        buf_putc(&e->text, '=');
        put_message_value(e, v);
}

void journal_entry_build(JournalEntry *e, const char *probe, const RingEventView *ev) {
        buf_clear(&e->text);
        e->n = 0;
        StrView values[PIPELINE_MAX_FIELDS];
        static char scratch[PIPELINE_MAX_FIELDS][DECODE_SCRATCH];
        size_t n_fields = ev->n_fields < PIPELINE_MAX_FIELDS ? ev->n_fields : PIPELINE_MAX_FIELDS;
        for (size_t i = 0; i < n_fields; i++) {
                values[i] = ev->values[i];
                if (ev->decoders && ev->decoders[i])
                        (void) decode_value(ev->decoders[i], ev->values[i], scratch[i], &values[i]);
        }
        CgroupNames names = { { "", 0 }, { "", 0 }, { "", 0 } };
        bool cg = ev->attributed && ev->cgroup_known;
        if (cg)
                cgroup_names(ev->cgroup, &names);

        char pid[32];
        field_begin(e, "MESSAGE");
        buf_puts(&e->text, probe);
        buf_putc(&e->text, ':');
        put_message_pair(e, "comm", ev->comm);
        put_message_pair(e, "pid", (StrView){ pid, fmt_i64(pid, ev->pid) });
        if (names.unit.n > 0)
                put_message_pair(e, "unit", names.unit);
        if (names.user_unit.n > 0)
                put_message_pair(e, "user_unit", names.user_unit);
        if (names.container_id.n > 0)
                put_message_pair(e, "container", (StrView){ names.container_id.p, 12 });
        for (size_t i = 0; i < n_fields; i++) {
                if (sv_eq_str(ev->names[i], "comm"))
                        continue; /* shown first ("comm=$comm" of a kprobe kind is the same) */
                buf_putc(&e->text, ' ');
                put_message_value(e, ev->names[i]);
                buf_putc(&e->text, '=');
                put_message_value(e, values[i]);
        }
        field_end(e);

        put_field(e, "MESSAGE_ID", SV(JOURNAL_MESSAGE_ID));
        put_field(e, "PRIORITY", SV("6"));
        put_field(e, "SYSLOG_IDENTIFIER", SV("kprobe-exporter"));
        put_field(e, "KPE_PROBE", sv_from(probe));
        put_field(e, "KPE_COMM", ev->comm);
        put_field_i64(e, "KPE_PID", ev->pid);
        if (ev->tgid >= 0)
                put_field_i64(e, "KPE_TGID", ev->tgid);
        put_field_i64(e, "KPE_CPU", ev->cpu);
        put_field(e, "KPE_TIME", ev->timestamp);
        if (cg) {
                put_field(e, "KPE_CGROUP", ev->cgroup);
                if (names.unit.n > 0)
                        put_field(e, "KPE_UNIT", names.unit);
                if (names.user_unit.n > 0)
                        put_field(e, "KPE_USER_UNIT", names.user_unit);
                if (names.container_id.n > 0)
                        put_field(e, "KPE_CONTAINER_ID", names.container_id);
        }
        for (size_t i = 0; i < n_fields; i++) {
                char name[JOURNAL_FIELD_NAME_MAX + 1];
                field_name(ev->names[i], name);
                if (!name_taken(e, name))
                        put_field(e, name, values[i]);
        }
}

void journal_entry_done(JournalEntry *e) {
        buf_free(&e->text);
        buf_free(&e->scratch);
}

void journal_entry_serialize(const JournalEntry *e, Buf *out) {
        buf_clear(out);
        for (size_t i = 0; i < e->n; i++) {
                StrView f = journal_entry_field(e, i);
                const char *eq = memchr(f.p, '=', f.n);
                size_t name = (size_t) (eq - f.p), n = f.n - name - 1;
                if (!memchr(eq + 1, '\n', n)) {
                        buf_put_sv(out, f);
                        buf_putc(out, '\n');
                        continue;
                }
                buf_append(out, f.p, name);
                buf_putc(out, '\n');
                unsigned char le[8];
                for (int b = 0; b < 8; b++)
                        le[b] = (unsigned char) ((uint64_t) n >> (8 * b));
                buf_append(out, le, 8);
                buf_append(out, eq + 1, n);
                buf_putc(out, '\n');
        }
}
