/* Basic authentication: bcrypt through libcrypt, a memory of the pairs
 * that passed, and a time budget for bcrypt (see http_auth.h). */
#include "http_auth.h"

#include <crypt.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define DIGEST_SIZE 32 /* SHA-256 */

typedef struct AuthUser {
        char *name;
        char *hash;
        bool remembered;
        uint8_t digest[DIGEST_SIZE]; /* of the password that passed, keyed */
} AuthUser;

struct HttpAuth {
        AuthUser *users;
        size_t n;
        uint8_t key[DIGEST_SIZE];
        char *dummy; /* a hash of the first user's cost: what an unknown user is checked against */
        int64_t budget_usec;
        uint64_t refilled_usec;
};

static uint64_t monotonic_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* The keyed digest of user and password: SHA-256(key || user || 0 || password). */
static void digest(const HttpAuth *a, const char *user, const char *password, uint8_t out[DIGEST_SIZE]) {
        size_t lu = strlen(user), lp = strlen(password);
        _cleanup_free_ uint8_t *m = xmalloc(DIGEST_SIZE + lu + 1 + lp);

        memcpy(m, a->key, DIGEST_SIZE);
        memcpy(m + DIGEST_SIZE, user, lu + 1);
        memcpy(m + DIGEST_SIZE + lu + 1, password, lp);
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, m, DIGEST_SIZE + lu + 1 + lp, out) < 0)
                memset(out, 0xff, DIGEST_SIZE); /* never equal to a remembered one: remembered only on success */
        gnutls_memset(m, 0, DIGEST_SIZE + lu + 1 + lp);
}

/* bcrypt of password with hash's salt and cost, compared in constant time. */
static bool bcrypt_matches(const char *hash, const char *password) {
        struct crypt_data data;
        bool ok = false;

        memset(&data, 0, sizeof(data));
        const char *out = crypt_rn(password, hash, &data, (int) sizeof(data));
        size_t n = strlen(hash);
        if (out && out[0] != '*' && strlen(out) == n)
                ok = gnutls_memcmp(out, hash, n) == 0;
        gnutls_memset(&data, 0, sizeof(data));
        return ok;
}

HttpAuth *http_auth_new(const WebUser *users, size_t n) {
        if (n == 0)
                return NULL;
        HttpAuth *a = xcalloc(1, sizeof(*a));
        a->users = xcalloc(n, sizeof(AuthUser));
        for (size_t i = 0; i < n; i++) {
                a->users[i].name = xstrdup(users[i].name);
                a->users[i].hash = xstrdup(users[i].hash);
        }
        a->n = n;
        if (gnutls_rnd(GNUTLS_RND_KEY, a->key, sizeof(a->key)) < 0)
                abort(); /* no randomness: nothing can be done safely */

        /* "$2y$10$": the same prefix and cost as the first user's hash. */
        char setting_prefix[8] = { 0 };
        memcpy(setting_prefix, a->users[0].hash, 4);
        unsigned long cost = strtoul(a->users[0].hash + 4, NULL, 10);
        char setting[CRYPT_GENSALT_OUTPUT_SIZE];
        uint8_t noise[16];
        struct crypt_data data;
        memset(&data, 0, sizeof(data));
        if (gnutls_rnd(GNUTLS_RND_NONCE, noise, sizeof(noise)) < 0 ||
            !crypt_gensalt_rn(strcmp(setting_prefix, "$2y$") == 0 ? "$2y$" : "$2b$", cost, (const char *) noise,
                              (int) sizeof(noise), setting, (int) sizeof(setting)))
                a->dummy = xstrdup(a->users[0].hash);
        else {
                const char *out = crypt_rn("kprobe-exporter: no such user", setting, &data, (int) sizeof(data));
                a->dummy = xstrdup(out && out[0] != '*' ? out : a->users[0].hash);
        }
        a->budget_usec = (int64_t) HTTP_AUTH_BUDGET_USEC; /* full; refilled from the first check on */
        return a;
}

void http_auth_adopt(HttpAuth *a, const HttpAuth *old) {
        if (!a || !old)
                return;
        /* The digests are keyed: take the old key, and what it remembered. */
        memcpy(a->key, old->key, sizeof(a->key));
        for (size_t i = 0; i < a->n; i++)
                for (size_t k = 0; k < old->n; k++)
                        if (strcmp(a->users[i].name, old->users[k].name) == 0 &&
                            strcmp(a->users[i].hash, old->users[k].hash) == 0 && old->users[k].remembered) {
                                a->users[i].remembered = true;
                                memcpy(a->users[i].digest, old->users[k].digest, DIGEST_SIZE);
                        }
        a->budget_usec = old->budget_usec;
        a->refilled_usec = old->refilled_usec;
}

HttpAuthResult http_auth_check(HttpAuth *a, const char *user, const char *password, uint64_t now_usec) {
        if (!a)
                return HTTP_AUTH_OK;
        if (!user || !password)
                return HTTP_AUTH_FAILED;

        AuthUser *u = NULL;
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->users[i].name, user) == 0)
                        u = &a->users[i];

        uint8_t d[DIGEST_SIZE];
        digest(a, user, password, d);
        if (u && u->remembered && gnutls_memcmp(d, u->digest, DIGEST_SIZE) == 0)
                return HTTP_AUTH_OK;

        /* The budget: refilled by the time passed, spent by bcrypt's. */
        if (a->refilled_usec == 0)
                a->refilled_usec = now_usec;
        if (now_usec > a->refilled_usec) {
                a->budget_usec += (int64_t) ((now_usec - a->refilled_usec) * HTTP_AUTH_BUDGET_USEC / 1000000ULL);
                if (a->budget_usec > (int64_t) HTTP_AUTH_BUDGET_USEC)
                        a->budget_usec = (int64_t) HTTP_AUTH_BUDGET_USEC;
                a->refilled_usec = now_usec;
        }
        if (a->budget_usec <= 0)
                return HTTP_AUTH_THROTTLED;

        uint64_t t0 = monotonic_usec();
        bool ok = bcrypt_matches(u ? u->hash : a->dummy, password) && u;
        a->budget_usec -= (int64_t) (monotonic_usec() - t0);
        if (!ok)
                return HTTP_AUTH_FAILED;
        u->remembered = true;
        memcpy(u->digest, d, DIGEST_SIZE);
        return HTTP_AUTH_OK;
}

HttpAuth *http_auth_free(HttpAuth *a) {
        if (!a)
                return NULL;
        for (size_t i = 0; i < a->n; i++) {
                free(a->users[i].name);
                free(a->users[i].hash);
        }
        free(a->users);
        free(a->dummy);
        gnutls_memset(a, 0, sizeof(*a));
        free(a);
        return NULL;
}
