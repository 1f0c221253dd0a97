/* Counting allocations in tests, to show a hot path allocates nothing:
 * needs the allocator's cooperation, so only under ASan (its hooks); a
 * plain build defines no HAVE_ALLOC_HOOKS and the tests skip the check. */
#pragma once

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ALLOC_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ALLOC_HOOKS 1
#endif
#endif
#ifdef HAVE_ALLOC_HOOKS
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static size_t n_allocs;
static void count_alloc(const volatile void *p, size_t n) {
        (void) p;
        (void) n;
        n_allocs++;
}
static void ignore_free(const volatile void *p) {
        (void) p;
}
#endif
