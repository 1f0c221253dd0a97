/* Fuzz target: who did it. What a traced process (or a user with a
 * delegated cgroup subtree) controls reaches attribution as cgroup paths,
 * comms, field bytes and the order and pids of its forks, moves and exits.
 * Input: lines. The first line is a cgroup path for cgroup_names() and for
 * a journal entry (comm and a field's value too); every other line is one
 * operation on a small table (max_tasks 16, 512 bytes of paths, keep 100
 * ns), "OP A B PATH": OP is the first byte (s set, f fork, t new thread,
 * g forget, a attach, e exit, l lookup, p prune of odd tids), A and B
 * small numbers (tids and times), PATH the rest.
 * Checks: every name is a view into the path (or empty), a container id
 * is 64 lowercase hex digits; the table never holds more than max_tasks
 * tasks nor more than max_path_bytes of paths; a lookup gives a path the
 * table holds, with its own names; the journal entry's MESSAGE is one
 * valid UTF-8 line, and its native-protocol framing reads back as its
 * fields, in order, with KPE_PROBE exactly once. */
#include <string.h>

#include "attrib.h"
#include "fuzz.h"
#include "journal_fields.h"

static bool is_hex64(StrView v) {
        if (v.n != 64)
                return false;
        for (size_t i = 0; i < v.n; i++)
                if (!((v.p[i] >= '0' && v.p[i] <= '9') || (v.p[i] >= 'a' && v.p[i] <= 'f')))
                        return false;
        return true;
}

static void check_names(StrView path, const CgroupNames *n) {
        /* An empty name may be any empty view. */
        fuzz_check(n->unit.n == 0 || fuzz_sv_inside(n->unit, path.p, path.n));
        fuzz_check(n->user_unit.n == 0 || fuzz_sv_inside(n->user_unit, path.p, path.n));
        fuzz_check(n->container_id.n == 0 || fuzz_sv_inside(n->container_id, path.p, path.n));
        fuzz_check(n->container_id.n == 0 || is_hex64(n->container_id));
        fuzz_check(n->user_unit.n == 0 || n->unit.n > 0);
}

static bool odd(void *userdata, int32_t tid) {
        (void) userdata;
        return tid % 2 == 0;
}

static StrView next_line(const uint8_t *data, size_t size, size_t *pos) {
        size_t start = *pos, i = start;
        while (i < size && data[i] != '\n')
                i++;
        *pos = i < size ? i + 1 : size;
        return (StrView){ (const char *) data + start, i - start };
}

static void check_journal(StrView path) {
        const StrView names[] = { SV("note"), SV("probe") };
        const StrView values[] = { path, SV("x") };
        RingEventView ev = {
                .comm = path.n > 15 ? (StrView){ path.p, 15 } : path,
                .pid = 1,
                .tgid = -1,
                .timestamp = SV("1.0"),
                .attributed = true,
                .cgroup_known = true,
                .cgroup = path,
                .names = names,
                .values = values,
                .n_fields = 2,
        };
        JournalEntry e = { 0 };
        journal_entry_build(&e, "p", &ev);
        StrView msg = journal_entry_field(&e, 0);
        fuzz_check(sv_startswith(msg, "MESSAGE="));
        fuzz_check(!memchr(msg.p, '\n', msg.n));
        fuzz_check(utf8_is_valid(msg));
        Buf d = { 0 };
        journal_entry_serialize(&e, &d);
        size_t i = 0, k = 0, probes = 0;
        while (i < d.len) {
                fuzz_check(k < e.n);
                StrView f = journal_entry_field(&e, k++);
                const char *eq = memchr(f.p, '=', f.n);
                fuzz_check(eq);
                size_t name = (size_t) (eq - f.p);
                StrView value = { eq + 1, f.n - name - 1 };
                fuzz_check(i + name + 1 <= d.len && memcmp(d.data + i, f.p, name) == 0);
                probes += name == 9 && memcmp(f.p, "KPE_PROBE", 9) == 0;
                i += name;
                if (d.data[i] == '=') {
                        fuzz_check(!memchr(value.p, '\n', value.n));
                        fuzz_check(i + 1 + value.n + 1 <= d.len && memcmp(d.data + i + 1, value.p, value.n) == 0);
                        i += 1 + value.n;
                } else {
                        fuzz_check(d.data[i] == '\n' && i + 9 + value.n + 1 <= d.len);
                        uint64_t n = 0;
                        for (int b = 7; b >= 0; b--)
                                n = n << 8 | (uint8_t) d.data[i + 1 + (size_t) b];
                        fuzz_check(n == value.n && memcmp(d.data + i + 9, value.p, value.n) == 0);
                        i += 9 + value.n;
                }
                fuzz_check(d.data[i] == '\n');
                i++;
        }
        fuzz_check(k == e.n && probes == 1);
        buf_free(&d);
        journal_entry_done(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t pos = 0;
        StrView first = next_line(data, size, &pos);
        CgroupNames n;
        cgroup_names(first, &n);
        check_names(first, &n);
        check_journal(first);

        AttribLimits lim = { .max_tasks = 16, .max_path_bytes = 512, .keep_ns = 100 };
        AttribTable *t = attrib_new(&lim);
        while (pos < size) {
                StrView l = next_line(data, size, &pos);
                if (l.n < 3)
                        continue;
                int32_t a = (uint8_t) l.p[1] % 40 - 2, b = (uint8_t) l.p[2] % 40 - 2;
                StrView path = { l.p + 3, l.n - 3 };
                uint64_t ts = (uint8_t) l.p[2];
                switch (l.p[0]) {
                case 's':
                        attrib_set(t, a, b, path);
                        break;
                case 'f':
                        attrib_fork(t, a, -1, b, ts);
                        break;
                case 't':
                        attrib_new_thread(t, a, -1, b, ts);
                        break;
                case 'g':
                        attrib_forget(t, a);
                        break;
                case 'a':
                        attrib_attach(t, a, path, ts);
                        break;
                case 'e':
                        attrib_exit(t, a, ts);
                        break;
                case 'p':
                        (void) attrib_prune(t, odd, NULL);
                        break;
                default: {
                        const Cgroup *c = attrib_lookup(t, a, b);
                        if (c) {
                                CgroupNames again;
                                cgroup_names(c->path, &again);
                                check_names(c->path, &c->names);
                                fuzz_check(sv_eq(again.unit, c->names.unit) &&
                                           sv_eq(again.container_id, c->names.container_id));
                                fuzz_check(attrib_knows(t, a) || attrib_knows(t, b));
                        }
                }
                }
                AttribStats s;
                attrib_stats(t, &s);
                fuzz_check(s.tasks <= lim.max_tasks);
                fuzz_check(s.path_bytes <= lim.max_path_bytes);
                fuzz_check(s.cgroups <= s.tasks);
        }
        attrib_free(t);
        return 0;
}
