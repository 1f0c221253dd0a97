/* Tests of daemon/symbols.c: is a kprobe target a function this kernel can
 * probe, and what did the user mean? Against the "connect" lines of
 * /proc/kallsyms and available_filter_functions of the Debian 12 cloud
 * kernel (6.1, x86-64), as the VM guest showed them (tests/unit/data). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "symbols.h"
#include "fixture.h"
#include "util.h"

static SymbolTable *debian12(void) {
        char *kallsyms = fixture_text("kallsyms-connect-6.1.txt");
        char *filter = fixture_text("available-filter-functions-connect-6.1.txt");
        SymbolTable *t = symbols_new(kallsyms, filter, NULL);
        free(kallsyms);
        free(filter);
        return t;
}

static void test_classic_sys_connect(void **state) {
        /* The pre-4.17 examples' sys_connect: not a function of 6.1 on
         * x86-64; the user is pointed at what is there. */
        SymbolTable *t = debian12();
        assert_true(symbols_count(t) > 10);
        char *msg = NULL;
        assert_int_equal(symbols_check(t, "sys_connect", &msg), SYMBOL_MISSING);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "no function 'sys_connect' in /proc/kallsyms; nearest: __sys_connect, "));
        assert_non_null(strstr(msg, "__x64_sys_connect"));
        assert_non_null(strstr(msg, "__sys_connect_file"));
        free(msg);

        /* Names that hold it, shortest first, then names two edits away. */
        const char *near[5];
        size_t n = symbols_nearest(t, "sys_connect", near, ELEMENTSOF(near));
        assert_int_equal(n, 5);
        assert_string_equal(near[0], "__sys_connect");
        assert_string_equal(near[1], "__x64_sys_connect");
        assert_string_equal(near[2], "__ia32_sys_connect");
        assert_string_equal(near[3], "__sys_connect_file");
        assert_string_equal(near[4], "sysrq_connect");
        symbols_free(t);
}

static void test_found_and_typos(void **state) {
        SymbolTable *t = debian12();
        char *msg = NULL;
        assert_int_equal(symbols_check(t, "__sys_connect_file", &msg), SYMBOL_FOUND);
        assert_null(msg);
        assert_int_equal(symbols_check(t, "tcp_v4_connect+0x10", &msg), SYMBOL_FOUND);
        assert_int_equal(symbols_check(t, "tcp_v6_connect%return", &msg), SYMBOL_FOUND);
        assert_null(msg);

        /* One letter off: the typo's fix comes first. */
        assert_int_equal(symbols_check(t, "tcp_v4_conect", &msg), SYMBOL_MISSING);
        assert_non_null(strstr(msg, "nearest: tcp_v4_connect"));
        free(msg);

        /* Nothing near: no list. */
        assert_int_equal(symbols_check(t, "kpe_no_such_symbol", &msg), SYMBOL_MISSING);
        assert_string_equal(msg, "no function 'kpe_no_such_symbol' in /proc/kallsyms");
        free(msg);

        /* Addresses and symbols of modules that may load later are the
         * kernel's to judge. */
        assert_int_equal(symbols_check(t, "0xffffffff81000000", &msg), SYMBOL_UNCHECKED);
        assert_int_equal(symbols_check(t, "nf_conntrack:kpe_not_loaded", &msg), SYMBOL_UNCHECKED);
        assert_null(msg);
        symbols_free(t);

        /* No kallsyms (unreadable, or a kernel without it): nothing is judged. */
        t = symbols_new(NULL, NULL, NULL);
        assert_int_equal(symbols_count(t), 0);
        assert_int_equal(symbols_check(t, "sys_connect", &msg), SYMBOL_UNCHECKED);
        assert_null(msg);
        symbols_free(t);
}

static void test_notrace_and_blacklist(void **state) {
        /* kallsyms lines as the kernel prints them (addresses hidden by
         * kptr_restrict, a module's symbol), a filter list without one of
         * them, a blacklist line. */
        const char *kallsyms = "0000000000000000 t __pfx_tcp_v4_connect\n" /* 6.12's padding before it */
                               "0000000000000000 T tcp_v4_connect\n"
                               "0000000000000000 t tcp_v6_connect\n"
                               "0000000000000000 T __sys_connect_file\n"
                               "0000000000000000 D tcp_hashinfo\n"
                               "0000000000000000 t inet_connect_dup\n" /* two static functions, one name */
                               "0000000000000000 t inet_connect_dup\n"
                               "0000000000000000 t nf_conntrack_connect_probe\t[nf_conntrack]\n";
        const char *filter = "tcp_v4_connect\n__sys_connect_file\nnf_conntrack_connect_probe [nf_conntrack]\n"
                             "inet_connect_dup\n";
        const char *blacklist = "0x0000000000000000-0x0000000000000000\t__sys_connect_file\n";
        SymbolTable *t = symbols_new(kallsyms, filter, blacklist);
        assert_int_equal(symbols_count(t), 5); /* data symbols are not functions */
        char *msg = NULL;
        assert_int_equal(symbols_check(t, "tcp_v4_connect", &msg), SYMBOL_FOUND);
        assert_int_equal(symbols_check(t, "nf_conntrack_connect_probe", &msg), SYMBOL_FOUND);
        assert_int_equal(symbols_check(t, "tcp_v6_connect", &msg), SYMBOL_NOTRACE);
        assert_non_null(strstr(msg, "'tcp_v6_connect' is not in available_filter_functions"));
        free(msg);
        assert_int_equal(symbols_check(t, "__sys_connect_file", &msg), SYMBOL_BLACKLISTED);
        assert_non_null(strstr(msg, "kprobes blacklist"));
        free(msg);
        assert_int_equal(symbols_check(t, "inet_connect_dup", &msg), SYMBOL_AMBIGUOUS);
        assert_non_null(strstr(msg, "'inet_connect_dup' names more than one function"));
        free(msg);
        assert_int_equal(symbols_check(t, "tcp_hashinfo", &msg), SYMBOL_MISSING);
        free(msg);
        /* What cannot be probed is not suggested. */
        const char *near[5];
        size_t n = symbols_nearest(t, "connect", near, ELEMENTSOF(near));
        assert_int_equal(n, 3);
        assert_string_equal(near[0], "tcp_v4_connect");
        assert_string_equal(near[1], "inet_connect_dup");
        assert_string_equal(near[2], "nf_conntrack_connect_probe");
        symbols_free(t);
}

static void test_real_blacklist(void **state) {
        /* Debian 12's blacklist as the guest's debugfs showed it; the
         * functions themselves as kallsyms lists them. */
        char *blacklist = fixture_text("kprobes-blacklist-6.1.txt");
        char *kallsyms = fixture_text("kallsyms-connect-6.1.txt");
        Buf all = { 0 };
        buf_printf(&all, "%sffffffff8c600990 T asm_exc_divide_error\nffffffff8c6009b0 T asm_exc_overflow\n", kallsyms);
        SymbolTable *t = symbols_new(all.data, NULL, blacklist);
        char *msg = NULL;
        assert_int_equal(symbols_check(t, "asm_exc_overflow", &msg), SYMBOL_BLACKLISTED);
        assert_string_equal(msg, "'asm_exc_overflow' is on the kprobes blacklist (debugfs kprobes/blacklist): "
                                 "the kernel never probes it");
        free(msg);
        assert_int_equal(symbols_check(t, "tcp_v4_connect", &msg), SYMBOL_FOUND);
        /* Blacklisted functions are not offered as near names either. */
        const char *near[5];
        size_t n = symbols_nearest(t, "asm_exc_overflo", near, ELEMENTSOF(near));
        for (size_t i = 0; i < n; i++)
                assert_string_not_equal(near[i], "asm_exc_overflow");
        symbols_free(t);
        buf_free(&all);
        free(kallsyms);
        free(blacklist);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_classic_sys_connect),
                cmocka_unit_test(test_found_and_typos),
                cmocka_unit_test(test_notrace_and_blacklist),
                cmocka_unit_test(test_real_blacklist),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
