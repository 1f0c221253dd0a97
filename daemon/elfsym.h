/* Uprobes by symbol: "/usr/lib/x86_64-linux-gnu/libc.so.6:getaddrinfo" (or
 * SYMBOL+OFFSET) into the file offset the kernel's uprobe_events takes,
 * from the ELF file's symbol tables (.symtab, .dynsym) read with libelf,
 * for executables and shared libraries, PIE or not. Pure code: the caller
 * reads the file; a damaged or hostile file is an error, never a crash. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ElfSymbols ElfSymbols;

/* Reads the functions of an ELF image (size bytes, the whole file; it
 * must stay unchanged while the table lives). Returns 0, or -EINVAL with
 * *ret_error a new message ("not an ELF file", "has no symbol table", ...). */
int elfsym_new(const void *image, size_t size, ElfSymbols **ret, char **ret_error);
/* The same from an open file of size bytes, read with pread: a file
 * changed meanwhile gives an error (or wrong symbols), never a fault. */
int elfsym_new_fd(int fd, size_t size, ElfSymbols **ret, char **ret_error);
ElfSymbols *elfsym_free(ElfSymbols *s); /* accepts NULL, returns NULL */

/* Functions (defined, of .symtab and .dynsym, names deduplicated). */
size_t elfsym_count(const ElfSymbols *s);

/* The file offset of function symbol plus add. Returns 0, or -ENOENT (no
 * such function: *ret_error names the nearest ones), -EINVAL (an IFUNC,
 * ambiguous, past the function's end, or not in an executable segment),
 * with *ret_error a new message. */
int elfsym_offset(const ElfSymbols *s, const char *symbol, uint64_t add, uint64_t *ret_offset, char **ret_error);

/* "SYMBOL" or "SYMBOL+OFFSET" (decimal or 0x hex), what follows a uprobe
 * target's path: symbol characters [A-Za-z0-9_.$], not starting with a
 * digit. Fills symbol (NUL-terminated, at most size - 1 characters) and
 * *add. False when it is not that form. */
bool elfsym_parse_target(const char *s, char *symbol, size_t size, uint64_t *add);

/* A shared library's file name as a uprobe target may give it instead of a
 * path: "lib" then [A-Za-z0-9_.+-], with ".so" in it ("libc.so.6",
 * "libssl.so.3", "libpthread.so.0"); no '/'. */
bool library_name_is_valid(const char *s);
/* Where the dynamic linker looks for a library, in its order, for this
 * build's architecture: /lib/TRIPLET, /usr/lib/TRIPLET, /lib64, /usr/lib64,
 * /lib, /usr/lib; NULL-terminated. */
extern const char *const library_dirs[];
