/* Basic auth: bcrypt hashes as htpasswd -B writes them ($2y$), the memory
 * of a pair that passed, the time budget for bcrypt, and a reload that
 * keeps what was remembered. */
#include <crypt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "http_auth.h"

/* A bcrypt hash of password at cost, in htpasswd's $2y$ form. */
static char *hash_of(const char *password, unsigned long cost) {
        char setting[CRYPT_GENSALT_OUTPUT_SIZE];
        struct crypt_data data;
        memset(&data, 0, sizeof(data));
        assert_non_null(crypt_gensalt_rn("$2y$", cost, NULL, 0, setting, (int) sizeof(setting)));
        const char *out = crypt_rn(password, setting, &data, (int) sizeof(data));
        assert_non_null(out);
        assert_true(strncmp(out, "$2y$", 4) == 0);
        return strdup(out);
}

static void test_check(void **state) {
        (void) state;
        char *a = hash_of("wonder land", 4), *b = hash_of("builder", 4);
        WebUser users[] = { { "alice", a }, { "bob", b } };
        HttpAuth *auth = http_auth_new(users, 2);
        uint64_t now = 1000000;

        assert_int_equal(http_auth_check(auth, "alice", "wonder land", now), HTTP_AUTH_OK);
        assert_int_equal(http_auth_check(auth, "bob", "builder", now), HTTP_AUTH_OK);
        assert_int_equal(http_auth_check(auth, "alice", "builder", now), HTTP_AUTH_FAILED);
        assert_int_equal(http_auth_check(auth, "alice", "wonder land ", now), HTTP_AUTH_FAILED);
        assert_int_equal(http_auth_check(auth, "alice", "", now), HTTP_AUTH_FAILED);
        assert_int_equal(http_auth_check(auth, "mallory", "wonder land", now), HTTP_AUTH_FAILED);
        assert_int_equal(http_auth_check(auth, "Alice", "wonder land", now), HTTP_AUTH_FAILED);
        assert_int_equal(http_auth_check(auth, NULL, NULL, now), HTTP_AUTH_FAILED);
        assert_int_equal(http_auth_check(auth, "alice", NULL, now), HTTP_AUTH_FAILED);
        /* No users: no authentication is asked for. */
        assert_null(http_auth_new(users, 0));
        assert_int_equal(http_auth_check(NULL, NULL, NULL, now), HTTP_AUTH_OK);
        http_auth_free(auth);
        free(a);
        free(b);
}

/* Wrong passwords spend the budget (bcrypt at cost 9 takes milliseconds);
 * then every unchecked attempt is refused at once, a remembered pair still
 * passes, and a second later bcrypt runs again. */
static void test_budget(void **state) {
        (void) state;
        char *a = hash_of("wonder land", 9);
        WebUser users[] = { { "alice", a } };
        HttpAuth *auth = http_auth_new(users, 1);
        uint64_t now = 5000000;

        assert_int_equal(http_auth_check(auth, "alice", "wonder land", now), HTTP_AUTH_OK);
        unsigned failed = 0, throttled = 0;
        for (unsigned i = 0; i < 1000 && throttled == 0; i++) {
                HttpAuthResult r = http_auth_check(auth, "alice", "guess", now);
                failed += r == HTTP_AUTH_FAILED;
                throttled += r == HTTP_AUTH_THROTTLED;
        }
        assert_int_equal(throttled, 1);
        assert_true(failed >= 1 && failed < 1000);
        /* The same unknown user or wrong password: not checked now. */
        assert_int_equal(http_auth_check(auth, "mallory", "x", now), HTTP_AUTH_THROTTLED);
        /* The pair that passed before needs no bcrypt. */
        assert_int_equal(http_auth_check(auth, "alice", "wonder land", now), HTTP_AUTH_OK);
        /* One second later the budget is back. */
        assert_int_equal(http_auth_check(auth, "alice", "guess", now + 1000000), HTTP_AUTH_FAILED);
        http_auth_free(auth);
        free(a);
}

/* A reload with the same hash keeps the memory of alice's password; a new
 * hash for bob forgets his. */
static void test_adopt(void **state) {
        (void) state;
        char *a = hash_of("wonder land", 9), *b1 = hash_of("builder", 4), *b2 = hash_of("builder", 4);
        WebUser before[] = { { "alice", a }, { "bob", b1 } };
        WebUser after[] = { { "alice", a }, { "bob", b2 } };
        HttpAuth *old = http_auth_new(before, 2);
        uint64_t now = 9000000;

        assert_int_equal(http_auth_check(old, "alice", "wonder land", now), HTTP_AUTH_OK);
        assert_int_equal(http_auth_check(old, "bob", "builder", now), HTTP_AUTH_OK);
        /* Spend the budget, so that only what is remembered passes. */
        while (http_auth_check(old, "mallory", "x", now) != HTTP_AUTH_THROTTLED)
                ;
        HttpAuth *next = http_auth_new(after, 2);
        http_auth_adopt(next, old);
        http_auth_free(old);
        assert_int_equal(http_auth_check(next, "alice", "wonder land", now), HTTP_AUTH_OK);
        assert_int_equal(http_auth_check(next, "bob", "builder", now), HTTP_AUTH_THROTTLED);
        assert_int_equal(http_auth_check(next, "bob", "builder", now + 1000000), HTTP_AUTH_OK);
        http_auth_free(next);
        free(a);
        free(b1);
        free(b2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_budget),
                cmocka_unit_test(test_adopt),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
