/* Uprobes by symbol: the file offsets elfsym.c gives for functions of real
 * binaries of this machine, checked two ways: the bytes at that offset in
 * the file are the function's code as it runs in this process, and the
 * offset is what readelf's symbol value and program headers give. A PIE
 * executable with .symtab (this test itself), a stripped shared library
 * with only .dynsym (libc), a stripped copy of this test (its own
 * functions gone, with the nearest names), IFUNCs, and files that are not
 * ELF or are cut short. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "elfsym.h"
#include "util.h"

__attribute__((noinline, used)) int kpe_elfsym_target(int x);
__attribute__((noinline, used)) int kpe_elfsym_target(int x) {
        return x * 7 + 3;
}

typedef struct Image {
        void *p;
        size_t n;
} Image;

static Image map_file(const char *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        void *p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        assert_true(p != MAP_FAILED);
        return (Image){ p, (size_t) st.st_size };
}

static uint64_t offset_of(const char *path, const char *symbol, uint64_t add) {
        Image im = map_file(path);
        ElfSymbols *s = NULL;
        char *err = NULL;
        if (elfsym_new(im.p, im.n, &s, &err) < 0)
                fail_msg("%s: %s", path, err);
        uint64_t off = 0;
        if (elfsym_offset(s, symbol, add, &off, &err) < 0)
                fail_msg("%s: %s", path, err);
        elfsym_free(s);
        munmap(im.p, im.n);
        return off;
}

/* The file's bytes at off are the code at fn in this process. */
static void assert_code_at(const char *path, uint64_t off, const void *fn) {
        Image im = map_file(path);
        assert_true(off + 16 <= im.n);
        assert_memory_equal((const char *) im.p + off, fn, 16);
        munmap(im.p, im.n);
}

/* What readelf says: the symbol's value, and the LOAD segment that holds it
 * mapped to a file offset. Returns the offset, or fails. */
static uint64_t readelf_offset(const char *path, const char *symbol) {
        char cmd[600], line[1024];
        snprintf(cmd, sizeof(cmd), "readelf -Ws --dyn-syms %s", path);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        unsigned long long value = 0;
        bool found = false;
        while (fgets(line, sizeof(line), f)) {
                char type[32], name[512];
                unsigned long long v, size;
                if (sscanf(line, " %*[0-9]: %llx %llu %31s %*s %*s %*s %511s", &v, &size, type, name) == 4) {
                        char *at = strchr(name, '@');
                        if (at)
                                *at = 0;
                        if (strcmp(name, symbol) == 0 && strcmp(type, "FUNC") == 0 && v != 0) {
                                value = v;
                                found = true;
                        }
                }
        }
        pclose(f);
        if (!found)
                fail_msg("readelf does not list %s in %s", symbol, path);
        snprintf(cmd, sizeof(cmd), "readelf -lW %s", path);
        f = popen(cmd, "r");
        assert_non_null(f);
        uint64_t off = UINT64_MAX;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long o, va, pa, fs, ms;
                char flags[8] = "";
                if (sscanf(line, " LOAD 0x%llx 0x%llx 0x%llx 0x%llx 0x%llx %7[RWE ]", &o, &va, &pa, &fs, &ms, flags) >= 5 &&
                    strchr(flags, 'E') && value >= va && value < va + ms)
                        off = value - va + o;
        }
        pclose(f);
        assert_true(off != UINT64_MAX);
        return off;
}

static void test_pie_symtab(void **state) {
        (void) state;
        /* This test: a PIE executable with its .symtab. Twice. */
        for (int i = 0; i < 2; i++) {
                uint64_t off = offset_of("/proc/self/exe", "kpe_elfsym_target", 0);
                assert_code_at("/proc/self/exe", off, (const void *) kpe_elfsym_target);
                char exe[PATH_MAX];
                ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
                assert_true(n > 0);
                exe[n] = 0;
                assert_int_equal(off, readelf_offset(exe, "kpe_elfsym_target"));
                /* SYMBOL+OFFSET: 4 bytes further. */
                assert_int_equal(offset_of("/proc/self/exe", "kpe_elfsym_target", 4), off + 4);
        }
        assert_int_equal(kpe_elfsym_target(1), 10);
}

/* libc's own function name (not a sanitizer's interceptor of it). */
static void *libc_function(const char *name) {
        void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        assert_non_null(h);
        void *fn = dlsym(h, name);
        assert_non_null(fn);
        dlclose(h);
        return fn;
}

/* The path of the libc this process runs. */
static void libc_path(char *out, size_t size) {
        Dl_info info;
        assert_true(dladdr(libc_function("getaddrinfo"), &info) != 0);
        if (!realpath(info.dli_fname, out))
                snprintf(out, size, "%s", info.dli_fname);
}

static void test_shared_library_dynsym(void **state) {
        (void) state;
        char libc[PATH_MAX];
        libc_path(libc, sizeof(libc));
        uint64_t off = offset_of(libc, "getaddrinfo", 0);
        assert_int_equal(off, readelf_offset(libc, "getaddrinfo"));
        assert_code_at(libc, off, libc_function("getaddrinfo"));
        off = offset_of(libc, "freeaddrinfo", 0);
        assert_code_at(libc, off, libc_function("freeaddrinfo"));
        /* realpath has a compatibility version beside its default one
         * (realpath@GLIBC_2.2.5, realpath@@GLIBC_2.3): the name means the
         * default, as the dynamic linker takes it. */
        off = offset_of(libc, "realpath", 0);
        assert_code_at(libc, off, libc_function("realpath"));

        /* A typo: the nearest names. An IFUNC: refused, with why. */
        Image im = map_file(libc);
        ElfSymbols *s = NULL;
        char *err = NULL;
        assert_int_equal(elfsym_new(im.p, im.n, &s, &err), 0);
        assert_true(elfsym_count(s) > 1000);
        uint64_t o;
        assert_int_equal(elfsym_offset(s, "getadrinfo", 0, &o, &err), -ENOENT);
        assert_non_null(strstr(err, "no function 'getadrinfo'"));
        assert_non_null(strstr(err, "nearest: getaddrinfo"));
        free(err);
        assert_int_equal(elfsym_offset(s, "strlen", 0, &o, &err), -EINVAL);
        assert_non_null(strstr(err, "IFUNC"));
        free(err);
        /* Past the function's end. */
        assert_int_equal(elfsym_offset(s, "getaddrinfo", 1u << 30, &o, &err), -EINVAL);
        assert_non_null(strstr(err, "past the end"));
        free(err);
        elfsym_free(s);
        munmap(im.p, im.n);
}

static void test_stripped(void **state) {
        (void) state;
        char dir[] = "/tmp/test-elfsym-XXXXXX", copy[600], cmd[PATH_MAX + 700];
        assert_non_null(mkdtemp(dir));
        snprintf(copy, sizeof(copy), "%s/stripped", dir);
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        assert_true(n > 0);
        exe[n] = 0;
        snprintf(cmd, sizeof(cmd), "strip --strip-all -o %s %s", copy, exe);
        if (system(cmd) != 0) {
                rmdir(dir);
                skip(); /* no binutils strip */
        }
        Image im = map_file(copy);
        ElfSymbols *s = NULL;
        char *err = NULL;
        uint64_t o;
        int r = elfsym_new(im.p, im.n, &s, &err);
        if (r == 0) {
                /* Its imports are undefined: only what it exports is left. */
                assert_int_equal(elfsym_offset(s, "kpe_elfsym_target", 0, &o, &err), -ENOENT);
                assert_non_null(strstr(err, "no function 'kpe_elfsym_target'"));
        } else
                assert_non_null(strstr(err, "no function symbols"));
        free(err);
        elfsym_free(s);
        munmap(im.p, im.n);
        unlink(copy);
        rmdir(dir);
}

static void test_not_elf(void **state) {
        (void) state;
        ElfSymbols *s = NULL;
        char *err = NULL;
        static const char text[] = "#!/bin/sh\necho not elf\n";
        assert_int_equal(elfsym_new(text, sizeof(text), &s, &err), -EINVAL);
        assert_non_null(strstr(err, "not an ELF file"));
        free(err);
        /* Cut short at every few bytes of its start: an error or a table, never a crash. */
        Image im = map_file("/proc/self/exe");
        for (size_t cut = 0; cut < 8192; cut += 61) {
                err = NULL;
                s = NULL;
                if (elfsym_new(im.p, cut, &s, &err) == 0)
                        elfsym_free(s);
                free(err);
        }
        munmap(im.p, im.n);
}

/* Read from an open file that is cut short after it was opened (as a
 * user may do to a file a probe names): an error, or symbols, never a
 * fault. */
static void test_file_cut_short(void **state) {
        (void) state;
        char libc[PATH_MAX], copy[] = "/tmp/test-elfsym-cut-XXXXXX", cmd[PATH_MAX + 100];
        libc_path(libc, sizeof(libc));
        int fd = mkstemp(copy);
        assert_true(fd >= 0);
        close(fd);
        snprintf(cmd, sizeof(cmd), "cp %s %s", libc, copy);
        assert_int_equal(system(cmd), 0);
        fd = open(copy, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        struct stat st;
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(truncate(copy, 4096), 0);
        ElfSymbols *s = NULL;
        char *err = NULL;
        if (elfsym_new_fd(fd, (size_t) st.st_size, &s, &err) == 0) {
                uint64_t o;
                if (elfsym_offset(s, "getaddrinfo", 0, &o, &err) == 0)
                        assert_true(o < (uint64_t) st.st_size);
                elfsym_free(s);
        }
        free(err);
        close(fd);
        unlink(copy);
}

static void test_parse_target(void **state) {
        (void) state;
        char sym[64];
        uint64_t add;
        assert_true(elfsym_parse_target("getaddrinfo", sym, sizeof(sym), &add));
        assert_string_equal(sym, "getaddrinfo");
        assert_int_equal(add, 0);
        assert_true(elfsym_parse_target("_ZN3foo3barEv+0x10", sym, sizeof(sym), &add));
        assert_string_equal(sym, "_ZN3foo3barEv");
        assert_int_equal(add, 16);
        assert_true(elfsym_parse_target("main.main+8", sym, sizeof(sym), &add));
        assert_int_equal(add, 8);
        assert_false(elfsym_parse_target("0x1139", sym, sizeof(sym), &add)); /* an offset, not a symbol */
        assert_false(elfsym_parse_target("9lives", sym, sizeof(sym), &add));
        assert_false(elfsym_parse_target("a b", sym, sizeof(sym), &add));
        assert_false(elfsym_parse_target("f+", sym, sizeof(sym), &add));
        assert_false(elfsym_parse_target("f+x", sym, sizeof(sym), &add));
        assert_false(elfsym_parse_target("", sym, sizeof(sym), &add));
        assert_false(elfsym_parse_target("f@@GLIBC_2.2.5", sym, sizeof(sym), &add));
        assert_false(elfsym_parse_target("a_symbol_name_longer_than_the_buffer_of_sixty_four_bytes_is_refused_x", sym,
                                          sizeof(sym), &add));
}

static void test_library_names(void **state) {
        (void) state;
        assert_true(library_name_is_valid("libc.so.6"));
        assert_true(library_name_is_valid("libssl.so.3"));
        assert_true(library_name_is_valid("libstdc++.so.6"));
        assert_false(library_name_is_valid("libc"));         /* no .so */
        assert_false(library_name_is_valid("c.so.6"));       /* not lib... */
        assert_false(library_name_is_valid("lib/../c.so"));  /* a path */
        assert_false(library_name_is_valid("libc.so.6 x"));
        assert_false(library_name_is_valid(""));
        /* This process's libc is in one of the directories searched. */
        char libc[PATH_MAX];
        libc_path(libc, sizeof(libc));
        bool found = false;
        for (size_t i = 0; library_dirs[i]; i++) {
                char cand[PATH_MAX + 300], real[PATH_MAX];
                snprintf(cand, sizeof(cand), "%s/libc.so.6", library_dirs[i]);
                found |= realpath(cand, real) && strcmp(real, libc) == 0;
        }
        assert_true(found);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pie_symtab),
                cmocka_unit_test(test_shared_library_dynsym),
                cmocka_unit_test(test_stripped),
                cmocka_unit_test(test_not_elf),
                cmocka_unit_test(test_file_cut_short),
                cmocka_unit_test(test_parse_target),
                cmocka_unit_test(test_library_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
