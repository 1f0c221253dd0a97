/* Is a kprobe's target a function this kernel can probe? And if not, what
 * did the user mean?
 *
 * A user who writes sys_connect on a 6.x kernel (the classic examples are
 * older than 4.17) gets "Invalid probed address or symbol" from the kernel
 * and nothing else. From /proc/kallsyms (the functions), the tracefs file
 * available_filter_functions (what ftrace can attach to: a function missing
 * there is notrace or inlined, and kernels without
 * CONFIG_KPROBE_EVENTS_ON_NOTRACE refuse to probe it) and debugfs's
 * kprobes/blacklist, we tell which, and the nearest names that exist.
 * tfs.c reads the files; this part is pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct SymbolTable SymbolTable;

/* Builds the table from the files' text: kallsyms ("ADDR TYPE NAME
 * [MODULE]" lines; text symbols t/T/w/W are kept), filter_functions ("NAME
 * [MODULE]" lines; NULL or "" when unreadable: notrace is not judged) and
 * blacklist ("0xSTART-0xEND NAME" lines; NULL when unreadable). Copies what
 * it keeps. */
SymbolTable *symbols_new(const char *kallsyms, const char *filter_functions, const char *blacklist);
SymbolTable *symbols_free(SymbolTable *t);
/* How many distinct function names the table knows (0: nothing is checked). */
size_t symbols_count(const SymbolTable *t);

typedef enum SymbolVerdict {
        SYMBOL_FOUND,       /* a function, and nothing known against probing it */
        SYMBOL_UNCHECKED,   /* an address, a module's symbol that is not loaded, or no table */
        SYMBOL_MISSING,     /* no function of that name */
        SYMBOL_AMBIGUOUS,   /* several functions of that name (the kernel may refuse) */
        SYMBOL_NOTRACE,     /* a function, but not in available_filter_functions */
        SYMBOL_BLACKLISTED, /* on the kprobes blacklist */
} SymbolVerdict;

/* Judges a kprobe target "[MOD:]SYM[+OFFS]" (or an address). For every
 * verdict but FOUND and UNCHECKED, *ret_message gets a new string saying
 * why, with the nearest names for MISSING, e.g. "no function 'sys_connect'
 * in /proc/kallsyms; nearest: __sys_connect, __x64_sys_connect, ...". */
SymbolVerdict symbols_check(const SymbolTable *t, const char *target, char **ret_message);

/* Up to max names nearest to name, best first: names that contain it
 * (shortest first), then names a few edits away (fewest first). Names known
 * not to be probeable (notrace, blacklisted) are left out. The strings
 * belong to the table. Returns how many. */
size_t symbols_nearest(const SymbolTable *t, const char *name, const char **out, size_t max);
/* The same over any list of names; keep (optional) leaves a name out when
 * it says false. */
size_t names_nearest(const char *const *names, size_t n_names, const char *name,
                     bool (*keep)(const void *userdata, const char *name), const void *userdata, const char **out,
                     size_t max);
