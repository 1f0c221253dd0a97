/* Fuzz target: uprobes by symbol. The ELF file a uprobe names may be any
 * file the admin points at, damaged or crafted; elfsym.c reads it with
 * libelf from memory. Input: the whole file. Checks what elfsym.h
 * promises: 0 or -EINVAL (with a message) for the file; for each name
 * asked, 0 with an offset inside the file (code the kernel can probe), or
 * -ENOENT / -EINVAL with a message. */
#include <errno.h>
#include <string.h>

#include "elfsym.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const names[] = { "kpe_seed_add", "kpe_seed_twice", "kpe_seed_local", "main", "_start",
                                             "getaddrinfo", "x" };
        ElfSymbols *s = NULL;
        char *err = NULL;
        int r = elfsym_new(data, size, &s, &err);
        fuzz_check(r == 0 || (r == -EINVAL && err && !s));
        free(err);
        if (r < 0)
                return 0;
        fuzz_check(elfsym_count(s) > 0);
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                for (uint64_t add = 0; add <= 4; add += 4) {
                        uint64_t off = UINT64_MAX;
                        err = NULL;
                        r = elfsym_offset(s, names[i], add, &off, &err);
                        fuzz_check(r == 0 ? !err && off < size : (r == -ENOENT || r == -EINVAL) && err);
                        free(err);
                }
        elfsym_free(s);
        return 0;
}
