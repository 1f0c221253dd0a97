/* Basic authentication against the bcrypt hashes of the web config's
 * basic_auth_users, checked with libcrypt (libxcrypt).
 *
 * bcrypt is slow on purpose (about 70 ms at cost 10 here), and the daemon
 * has one loop that also reads the kernel's buffer. So:
 *  - a pair that passed once is remembered (a keyed SHA-256 of the
 *    password per user, compared in constant time): a scraper pays bcrypt
 *    once, not per scrape;
 *  - bcrypt runs within a time budget (HTTP_AUTH_BUDGET_USEC per second,
 *    as a token bucket of the time it really took): a client guessing
 *    passwords gets 401 at once when the budget is spent, and the loop
 *    stays free for the reader and for other scrapes;
 *  - an unknown user costs what a wrong password costs (a bcrypt against
 *    a hash of the same cost), and every failure is the same answer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "webconfig.h"

#define HTTP_AUTH_BUDGET_USEC (250 * 1000ULL)

typedef enum HttpAuthResult {
        HTTP_AUTH_OK,
        HTTP_AUTH_FAILED,    /* no or wrong credentials */
        HTTP_AUTH_THROTTLED, /* not checked: the bcrypt budget is spent (also a 401) */
} HttpAuthResult;

typedef struct HttpAuth HttpAuth;

/* A checker for these users (copied). Returns NULL when n is 0: no
 * authentication is asked for. */
HttpAuth *http_auth_new(const WebUser *users, size_t n);
/* Whether user:password may pass; now_usec is CLOCK_MONOTONIC. user or
 * password NULL (no or unreadable Authorization header) fails at once. */
HttpAuthResult http_auth_check(HttpAuth *a, const char *user, const char *password, uint64_t now_usec);
/* A new checker for new users keeps what the old one remembered of users
 * whose hash is the same. */
void http_auth_adopt(HttpAuth *a, const HttpAuth *old);
HttpAuth *http_auth_free(HttpAuth *a); /* accepts NULL, returns NULL */
