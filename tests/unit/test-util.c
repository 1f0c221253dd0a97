/* Tests of the helpers of daemon/util.h that config.c, tfs.c and the
 * parsers share: the kernel's whitespace, names, strv, the file reader,
 * line iteration, the hash pieces and a uprobe's $argN as registers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static void test_space(void **state) {
        (void) state;
        /* the kernel's isspace(): its ctype table is Latin-1 */
        static const char spaces[] = { ' ', '\t', '\n', '\v', '\f', '\r', (char) 0xA0 };
        for (size_t i = 0; i < sizeof(spaces); i++)
                assert_true(char_is_space(spaces[i]));
        for (int c = 0; c < 256; c++) {
                bool want = memchr(spaces, c, sizeof(spaces)) && c != 0;
                assert_int_equal(char_is_space((char) c), want);
        }
        assert_false(has_space(""));
        assert_false(has_space("/usr/bin/fc:0x4220"));
        assert_true(has_space("/my path"));
        assert_true(has_space("a\v"));
        assert_true(has_space("/opt/\xc3\xa0"));  /* "à": its second byte */
        assert_false(has_space("/opt/\xc3\xa9")); /* "é" */
}

static void test_names(void **state) {
        (void) state;
        assert_true(char_is_name_start('_'));
        assert_true(char_is_name_start('Z'));
        assert_false(char_is_name_start('0'));
        assert_true(char_is_name('0'));
        assert_false(char_is_name('-'));
        assert_false(char_is_name((char) 0xC3));

        char name[80];
        memset(name, 'a', sizeof(name));
        assert_true(span_is_name(name, EVENT_NAME_MAX));
        assert_false(span_is_name(name, EVENT_NAME_MAX + 1));
        assert_true(span_is_name("inet_sock_set_state", 19));
        assert_true(span_is_name("a-b", 1)); /* only the span counts */
        assert_false(span_is_name("a-b", 3));
        assert_false(span_is_name("9p", 2));
        assert_false(span_is_name("", 0));

        assert_true(group_name_is_valid("kprobe_exporter"));
        assert_true(group_name_is_valid("kprobe-exporter_2"));
        assert_true(group_name_is_valid("9p"));
        assert_false(group_name_is_valid("-x"));
        assert_false(group_name_is_valid("a/b"));
        assert_false(group_name_is_valid("a b"));
        assert_false(group_name_is_valid(".."));
        assert_false(group_name_is_valid(""));
        assert_false(group_name_is_valid(NULL));
        name[EVENT_NAME_MAX] = 0;
        assert_true(group_name_is_valid(name));
        name[EVENT_NAME_MAX] = 'a';
        name[EVENT_NAME_MAX + 1] = 0;
        assert_false(group_name_is_valid(name));
}

static void test_strv(void **state) {
        (void) state;
        char **v = NULL;
        size_t n = 0;
        assert_false(strv_contains(v, "x"));
        strv_push(&v, &n, SV("family"));
        strv_push(&v, &n, (StrView){ "dport=25", 5 });
        strv_push(&v, &n, SV(""));
        assert_int_equal(n, 3);
        assert_string_equal(v[0], "family");
        assert_string_equal(v[1], "dport");
        assert_string_equal(v[2], "");
        assert_null(v[3]);
        assert_true(strv_contains(v, "dport"));
        assert_true(strv_contains(v, ""));
        assert_false(strv_contains(v, "dpor"));

        char *w[] = { "family", "dport", "" };
        assert_true(strv_equal(v, n, w, 3));
        assert_false(strv_equal(v, n, w, 2));
        assert_false(strv_equal(v, 2, w + 1, 2));
        assert_true(strv_equal(NULL, 0, NULL, 0));
        strv_free(v);
        strv_free(NULL);
}

static void write_file(const char *path, const char *text, size_t n) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, n), (ssize_t) n);
        close(fd);
}

static void test_read_file_at(void **state) {
        (void) state;
        char dir[] = "/tmp/test-util-XXXXXX";
        assert_non_null(mkdtemp(dir));
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        Buf b = { 0 };
        buf_puts(&b, "left over");

        char path[64];
        snprintf(path, sizeof(path), "%s/empty", dir);
        write_file(path, "", 0);
        assert_int_equal(read_file_at(dfd, "empty", 16, &b), 0);
        assert_non_null(b.data);
        assert_string_equal(b.data, "");
        assert_int_equal(b.len, 0);

        /* relative to dirfd, or absolute; binary bytes are kept */
        snprintf(path, sizeof(path), "%s/stats", dir);
        write_file(path, "entries: 12\n\0x", 14);
        assert_int_equal(read_file_at(dfd, "stats", 14, &b), 0);
        assert_int_equal(b.len, 14);
        assert_memory_equal(b.data, "entries: 12\n\0x", 15);
        assert_int_equal(read_file_at(AT_FDCWD, path, 14, &b), 0);
        assert_int_equal(b.len, 14);
        assert_int_equal(read_file_at(dfd, "stats", 13, &b), -EFBIG);
        assert_int_equal(read_file_at(dfd, "stats", 0, &b), -EFBIG);

        /* larger than one read */
        snprintf(path, sizeof(path), "%s/big", dir);
        size_t big = 200 * 1024 + 7;
        char *text = xmalloc(big);
        for (size_t i = 0; i < big; i++)
                text[i] = (char) ('a' + i % 26);
        write_file(path, text, big);
        assert_int_equal(read_file_at(dfd, "big", big, &b), 0);
        assert_int_equal(b.len, big);
        assert_memory_equal(b.data, text, big);
        assert_int_equal(b.data[big], 0);
        assert_int_equal(read_file_at(dfd, "big", big - 1, &b), -EFBIG);
        assert_true(b.len <= big);
        free(text);

        assert_int_equal(read_file_at(dfd, "missing", 16, &b), -ENOENT);
        assert_int_equal(read_file_at(AT_FDCWD, dir, 16, &b), -EISDIR);
        buf_free(&b);

        unlinkat(dfd, "empty", 0);
        unlinkat(dfd, "stats", 0);
        unlinkat(dfd, "big", 0);
        close(dfd);
        assert_int_equal(rmdir(dir), 0);
}

static void test_lines(void **state) {
        (void) state;
        const char *pos = "a\n\nbc";
        StrView l = sv_next_line(&pos);
        assert_true(sv_eq_str(l, "a"));
        l = sv_next_line(&pos);
        assert_true(sv_eq_str(l, ""));
        l = sv_next_line(&pos);
        assert_true(sv_eq_str(l, "bc"));
        assert_int_equal(*pos, 0);
        l = sv_next_line(&pos);
        assert_int_equal(l.n, 0);
        assert_int_equal(*pos, 0);

        assert_true(sv_startswith(SV("  Command: x"), "  Command: "));
        assert_false(sv_startswith(SV("  Command:"), "  Command: "));
        assert_true(sv_startswith(SV(""), ""));
}

static void test_hash_pieces(void **state) {
        (void) state;
        static const char *const values[] = { "", "a", "ab", "abc", "abcd", "abcdefg", "abcdefgh", "abcdefghi",
                                              "127.0.0.1", "a label value longer than sixteen bytes" };
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                size_t n = strlen(values[i]);
                assert_true(hash_mem(HASH_INIT, values[i], n) ==
                            hash_mem_bytes(hash_word(HASH_INIT, (uint64_t) n), values[i], n));
        }
        /* the length word is what tells ("ab","c") from ("a","bc") */
        uint64_t x = hash_mem(hash_mem(HASH_INIT, "ab", 2), "c", 1);
        uint64_t y = hash_mem(hash_mem(HASH_INIT, "a", 1), "bc", 2);
        assert_true(x != y);
        assert_true(hash_mem_bytes(HASH_INIT, "", 0) == HASH_INIT);
}

/* A comm a traced process chose, as /proc/PID/status prints it. */
static void test_proc_name_unescape(void **state) {
        (void) state;
        char out[16];
        /* prctl(PR_SET_NAME, "ev\nil unit=\"x\"") reads 'ev\\nil unit="x"'. */
        assert_int_equal(proc_name_unescape(SV("ev\\nil unit=\"x\""), out, sizeof(out)), 14);
        assert_string_equal(out, "ev\nil unit=\"x\"");
        assert_int_equal(proc_name_unescape(SV("a\\\\b\\tc"), out, sizeof(out)), 5);
        assert_string_equal(out, "a\\b\tc");
        assert_int_equal(proc_name_unescape(SV("connector"), out, sizeof(out)), 9);
        assert_string_equal(out, "connector");
        /* A lone or unknown escape stays as it is. */
        assert_int_equal(proc_name_unescape(SV("x\\"), out, sizeof(out)), 2);
        assert_string_equal(out, "x\\");
        assert_int_equal(proc_name_unescape(SV("\\q"), out, sizeof(out)), 2);
        assert_string_equal(out, "\\q");
        /* 15 bytes and the NUL fit in 16; 16 do not. */
        assert_int_equal(proc_name_unescape(SV("0123456789abcde"), out, sizeof(out)), 15);
        assert_int_equal(proc_name_unescape(SV("0123456789abcdef"), out, sizeof(out)), -1);
        assert_int_equal(proc_name_unescape(SV("x"), out, 0), -1);
}

/* The translation's result for one fetch arg, and the N of a failure. */
static int translate(const char *in, char *got, size_t size, unsigned long *n) {
        Buf b = { 0 };
        *n = 0;
        buf_puts(&b, "x "); /* it appends */
        int r = uprobe_fetch_arg_translate(in, &b, n);
        assert_true(b.len >= 2 && memcmp(b.data, "x ", 2) == 0);
        snprintf(got, size, "%s", b.data + 2);
        buf_free(&b);
        return r;
}

#define assert_translates(in, want, count)                                                               \
        do {                                                                                             \
                char _got[128];                                                                          \
                unsigned long _n;                                                                        \
                int _r = translate(in, _got, sizeof(_got), &_n);                                         \
                if (_r != (count) || strcmp(_got, want) != 0)                                            \
                        fail_msg("\"%s\": %d \"%s\", want %d \"%s\"", in, _r, _got, count, want);         \
        } while (0)

static void test_uprobe_args(void **state) {
        (void) state;
        char got[128];
        unsigned long n;
        const char *arch = "unset";
        unsigned max = uprobe_arg_max(&arch);

        /* Without $argN: as it is, whatever the architecture. */
        assert_translates("name=+0(%di):ustring", "name=+0(%di):ustring", 0);
        assert_translates("ret=$retval:s32", "ret=$retval:s32", 0);
        assert_translates("c=$comm", "c=$comm", 0);
        assert_translates("s=$stack2:u64", "s=$stack2:u64", 0);
        assert_translates("a=$args", "a=$args", 0);
        assert_translates("a=$arg", "a=$arg", 0);
        assert_translates("a=$arg1x:u64", "a=$arg1x:u64", 0); /* no $argN: the kernel's to refuse */
        assert_translates("s=\\\"$arg1\"", "s=\\\"$arg1\"", 0); /* an immediate string */
        assert_translates("", "", 0);

#if defined(__x86_64__)
        assert_int_equal(max, 6);
        assert_string_equal(arch, "x86-64");
        /* dns.yaml's getaddrinfo(node, ...) */
        assert_translates("name=+0($arg1):ustring", "name=+0(%di):ustring", 1);
        assert_translates("x=+8(+0($arg2)):u64", "x=+8(+0(%si)):u64", 1);
        assert_translates("a=$arg1", "a=%di", 1);
        assert_translates("$arg3", "%dx", 1); /* a bare FETCHARG */
        assert_translates("a=$arg4:x64", "a=%cx:x64", 1);
        assert_translates("a=+0($arg5):u8[16]", "a=+0(%r8):u8[16]", 1);
        assert_translates("a=$arg6:s32", "a=%r9:s32", 1);
        assert_translates("a=$arg01", "a=%di", 1);
        assert_translates("a=+u16($arg2):string", "a=+u16(%si):string", 1);
        /* The type is not looked into (nor the name: a name has no '$'). */
        assert_translates("a=+0($arg1):b4@$arg2/32", "a=+0(%di):b4@$arg2/32", 1);
        assert_translates("a=+0($arg2)", "a=+0(%si)", 1);
        /* $arg10 is not $arg1 followed by 0. */
        assert_int_equal(translate("a=+0($arg10):u64", got, sizeof(got), &n), -ERANGE);
        assert_int_equal(n, 10);
        assert_int_equal(translate("a=$arg7", got, sizeof(got), &n), -ERANGE);
        assert_int_equal(n, 7);
        assert_int_equal(translate("a=$arg0", got, sizeof(got), &n), -ERANGE);
        assert_int_equal(n, 0);
        assert_int_equal(translate("a=+0($arg1)+$arg99999999999", got, sizeof(got), &n), -ERANGE);
        assert_int_equal(n, ULONG_MAX);
#elif defined(__aarch64__)
        assert_int_equal(max, 8);
        assert_string_equal(arch, "aarch64");
        assert_translates("name=+0($arg1):ustring", "name=+0(%x0):ustring", 1);
        assert_translates("x=+8(+0($arg2)):u64", "x=+8(+0(%x1)):u64", 1);
        assert_translates("a=$arg8", "a=%x7", 1);
        assert_int_equal(translate("a=$arg9", got, sizeof(got), &n), -ERANGE);
        assert_int_equal(n, 9);
        assert_int_equal(translate("a=+0($arg10):u64", got, sizeof(got), &n), -ERANGE);
        assert_int_equal(n, 10);
#else
        assert_int_equal(max, 0);
        assert_null(arch);
        assert_int_equal(translate("name=+0($arg1):ustring", got, sizeof(got), &n), -EOPNOTSUPP);
        assert_int_equal(n, 1);
#endif
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_space),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_strv),
                cmocka_unit_test(test_read_file_at),
                cmocka_unit_test(test_lines),
                cmocka_unit_test(test_hash_pieces),
                cmocka_unit_test(test_proc_name_unescape),
                cmocka_unit_test(test_uprobe_args),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
