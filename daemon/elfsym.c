#include "elfsym.h"

#include <errno.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols.h"
#include "util.h"

typedef struct Func {
        char *name;
        uint64_t value, size;
        unsigned char type, bind;
} Func;

typedef struct Load {
        uint64_t vaddr, filesz, offset; /* the part the file holds: code is never past it */
        bool exec;
} Load;

struct ElfSymbols {
        Func *funcs;
        size_t n_funcs;
        char **names; /* distinct, sorted: for the nearest names */
        size_t n_names;
        Load *loads;
        size_t n_loads;
};

static int fail(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int fail(char **ret_error, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        Buf b = { 0 };
        buf_vprintf(&b, fmt, ap);
        va_end(ap);
        *ret_error = buf_steal(&b);
        return -EINVAL;
}

ElfSymbols *elfsym_free(ElfSymbols *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_funcs; i++)
                free(s->funcs[i].name);
        free(s->funcs);
        free(s->names);
        free(s->loads);
        free(s);
        return NULL;
}

size_t elfsym_count(const ElfSymbols *s) {
        return s ? s->n_names : 0;
}

static int compare_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

#define ELFSYM_MAX_FUNCS (4u << 20) /* a browser has about a million */

/* The functions of one symbol table section. versym: .dynsym's symbol
 * versions (NULL: none): a hidden one (a compatibility version, "f@V"
 * beside the default "f@@V2") is not the function a name means. */
static void read_symbols(ElfSymbols *s, Elf *e, Elf_Scn *scn, const GElf_Shdr *sh, Elf_Data *versym) {
        Elf_Data *d = elf_getdata(scn, NULL);
        if (!d || sh->sh_entsize == 0)
                return;
        size_t n = sh->sh_size / sh->sh_entsize;
        for (size_t i = 0; i < n && s->n_funcs < ELFSYM_MAX_FUNCS; i++) {
                GElf_Sym sym;
                if (!gelf_getsym(d, (int) i, &sym))
                        break;
                GElf_Versym vs;
                if (versym && gelf_getversym(versym, (int) i, &vs) && (vs & 0x8000))
                        continue;
                unsigned char type = GELF_ST_TYPE(sym.st_info);
                if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
                        continue;
                const char *name = elf_strptr(e, sh->sh_link, sym.st_name);
                if (!name || !*name || strlen(name) > 4096)
                        continue;
                s->funcs = xrealloc(s->funcs, (s->n_funcs + 1) * sizeof(Func));
                s->funcs[s->n_funcs++] = (Func){ xstrdup(name), sym.st_value, sym.st_size, type,
                                                 GELF_ST_BIND(sym.st_info) };
        }
}

static int from_elf(Elf *e, size_t size, ElfSymbols **ret, char **ret_error);

int elfsym_new(const void *image, size_t size, ElfSymbols **ret, char **ret_error) {
        *ret_error = NULL;
        if (elf_version(EV_CURRENT) == EV_NONE)
                return fail(ret_error, "libelf: %s", elf_errmsg(-1));
        Elf *e = elf_memory((char *) image, size);
        if (!e)
                return fail(ret_error, "not an ELF file: %s", elf_errmsg(-1));
        return from_elf(e, size, ret, ret_error);
}

int elfsym_new_fd(int fd, size_t size, ElfSymbols **ret, char **ret_error) {
        *ret_error = NULL;
        if (elf_version(EV_CURRENT) == EV_NONE)
                return fail(ret_error, "libelf: %s", elf_errmsg(-1));
        /* Read (pread), not mapped: a file cut short meanwhile is an
         * error, not a SIGBUS. */
        Elf *e = elf_begin(fd, ELF_C_READ, NULL);
        if (!e)
                return fail(ret_error, "not an ELF file: %s", elf_errmsg(-1));
        return from_elf(e, size, ret, ret_error);
}

/* Takes e (ends it). */
static int from_elf(Elf *e, size_t size, ElfSymbols **ret, char **ret_error) {
        GElf_Ehdr eh;
        if (elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh)) {
                elf_end(e);
                return fail(ret_error, "not an ELF file");
        }
        if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
                elf_end(e);
                return fail(ret_error, "not an executable or a shared library (ELF type %u)", (unsigned) eh.e_type);
        }
        ElfSymbols *s = xcalloc(1, sizeof(ElfSymbols));
        size_t n_ph = 0;
        if (elf_getphdrnum(e, &n_ph) == 0)
                for (size_t i = 0; i < n_ph && i < 4096; i++) {
                        GElf_Phdr ph;
                        if (!gelf_getphdr(e, (int) i, &ph) || ph.p_type != PT_LOAD)
                                continue;
                        s->loads = xrealloc(s->loads, (s->n_loads + 1) * sizeof(Load));
                        if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
                                continue; /* claims bytes the file does not have */
                        s->loads[s->n_loads++] = (Load){ ph.p_vaddr, ph.p_filesz, ph.p_offset, (ph.p_flags & PF_X) != 0 };
                }
        Elf_Scn *scn = NULL;
        Elf_Data *versym = NULL;
        while ((scn = elf_nextscn(e, scn))) {
                GElf_Shdr sh;
                if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_GNU_versym)
                        versym = elf_getdata(scn, NULL);
        }
        while ((scn = elf_nextscn(e, scn))) {
                GElf_Shdr sh;
                if (gelf_getshdr(scn, &sh) && (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM))
                        read_symbols(s, e, scn, &sh, sh.sh_type == SHT_DYNSYM ? versym : NULL);
        }
        elf_end(e);
        if (s->n_funcs == 0) {
                elfsym_free(s);
                return fail(ret_error, "has no function symbols (.symtab and .dynsym are missing or empty)");
        }
        s->names = xcalloc(s->n_funcs, sizeof(char *));
        for (size_t i = 0; i < s->n_funcs; i++)
                s->names[i] = s->funcs[i].name;
        qsort(s->names, s->n_funcs, sizeof(char *), compare_str);
        for (size_t i = 0; i < s->n_funcs; i++)
                if (s->n_names == 0 || strcmp(s->names[s->n_names - 1], s->names[i]) != 0)
                        s->names[s->n_names++] = s->names[i];
        *ret = s;
        return 0;
}

int elfsym_offset(const ElfSymbols *s, const char *symbol, uint64_t add, uint64_t *ret_offset, char **ret_error) {
        *ret_error = NULL;
        /* The definitions of the name: .symtab and .dynsym name the same
         * function twice; a static function may have namesakes. */
        const Func *pick = NULL, *global = NULL, *match[64];
        size_t distinct = 0, globals = 0, n_match = 0;
        for (size_t i = 0; i < s->n_funcs; i++) {
                const Func *f = &s->funcs[i];
                if (strcmp(f->name, symbol) != 0)
                        continue;
                bool seen = false;
                for (size_t k = 0; k < n_match; k++)
                        seen |= match[k]->value == f->value;
                if (seen)
                        continue;
                if (n_match == ELEMENTSOF(match))
                        return fail(ret_error, "'%s' names more than %zu functions: give the offset instead (0x...)",
                                    symbol, ELEMENTSOF(match));
                match[n_match++] = f;
                distinct++;
                pick = f;
                if (f->bind != STB_LOCAL) {
                        globals++;
                        global = f;
                }
        }
        if (!pick) {
                const char *near[5];
                size_t n = names_nearest((const char *const *) s->names, s->n_names, symbol, NULL, NULL, near,
                                         ELEMENTSOF(near));
                Buf b = { 0 };
                buf_printf(&b, "no function '%s' in its symbol tables (.symtab, .dynsym)", symbol);
                for (size_t i = 0; i < n; i++)
                        buf_printf(&b, "%s%s", i ? ", " : "; nearest: ", near[i]);
                *ret_error = buf_steal(&b);
                return -ENOENT;
        }
        if (distinct > 1) {
                if (globals > 1)
                        return fail(ret_error, "'%s' names %zu exported functions at different addresses: give the "
                                    "offset instead (0x...)", symbol, globals);
                if (globals == 0)
                        return fail(ret_error, "'%s' names %zu static functions (of several source files): give the "
                                    "offset instead (0x...)", symbol, distinct);
                pick = global; /* the exported one over static namesakes */
        }
        if (pick->type == STT_GNU_IFUNC)
                return fail(ret_error, "'%s' is an IFUNC: the function it stands for is chosen at run time (per "
                            "CPU); probe that one by its own name", symbol);
        if (pick->size > 0 && add >= pick->size)
                return fail(ret_error, "'%s+%llu' is past the end of the function (%llu bytes)", symbol,
                            (unsigned long long) add, (unsigned long long) pick->size);
        if (add > UINT64_MAX - pick->value)
                return fail(ret_error, "'%s+%llu' is past the end of the address space", symbol,
                            (unsigned long long) add);
        uint64_t vaddr = pick->value + add;
        for (size_t i = 0; i < s->n_loads; i++) {
                const Load *l = &s->loads[i];
                if (l->exec && vaddr >= l->vaddr && vaddr - l->vaddr < l->filesz) {
                        *ret_offset = vaddr - l->vaddr + l->offset;
                        return 0;
                }
        }
        return fail(ret_error, "'%s' (address 0x%llx) is in no executable segment", symbol, (unsigned long long) vaddr);
}

bool elfsym_parse_target(const char *s, char *symbol, size_t size, uint64_t *add) {
        size_t n = 0;
        if (!s || (*s >= '0' && *s <= '9'))
                return false;
        while (s[n] && s[n] != '+') {
                char c = s[n];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '.' || c == '$'))
                        return false;
                n++;
        }
        if (n == 0 || n >= size)
                return false;
        *add = 0;
        if (s[n] == '+' && parse_u64(sv_from(s + n + 1), add) < 0)
                return false;
        memcpy(symbol, s, n);
        symbol[n] = 0;
        return true;
}

bool library_name_is_valid(const char *s) {
        if (!s || strncmp(s, "lib", 3) != 0 || !strstr(s, ".so") || strlen(s) > 255)
                return false;
        for (const char *c = s; *c; c++)
                if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
                      *c == '.' || *c == '+' || *c == '-'))
                        return false;
        return true;
}

#if defined(__x86_64__)
#  define TRIPLET "x86_64-linux-gnu"
#elif defined(__aarch64__)
#  define TRIPLET "aarch64-linux-gnu"
#elif defined(__i386__)
#  define TRIPLET "i386-linux-gnu"
#elif defined(__arm__)
#  define TRIPLET "arm-linux-gnueabihf"
#elif defined(__riscv) && __riscv_xlen == 64
#  define TRIPLET "riscv64-linux-gnu"
#else
#  define TRIPLET "unknown-linux-gnu"
#endif

const char *const library_dirs[] = {
        "/lib/" TRIPLET, "/usr/lib/" TRIPLET, "/lib64", "/usr/lib64", "/lib", "/usr/lib", NULL,
};
