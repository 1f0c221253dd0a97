/* Unit tests of the web config loader (exporter-toolkit's format): a full
 * example and its GnuTLS priorities, exporter-toolkit's own example, every
 * error at its line:column, header injection, inline PEMs, paths. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"
#include "webconfig.h"

#define HASH_A "$2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze"
#define HASH_B "$2y$10$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m"

/* Every key there is, as webconfig.h shows them. */
static const char full_example[] =
        "tls_server_config:\n"                                                  /* 1 */
        "  cert_file: server.crt          # or cert: inline PEM\n"              /* 2 */
        "  key_file: /etc/kpe/server.key\n"                                     /* 3 */
        "  client_auth_type: RequireAndVerifyClientCert\n"                      /* 4 */
        "  client_ca_file: ca.crt\n"                                            /* 5 */
        "  client_allowed_sans: [scraper.example.org, 10.0.0.7]\n"              /* 6 */
        "  min_version: TLS12\n"                                                /* 7 */
        "  max_version: TLS13\n"                                                /* 8 */
        "  cipher_suites:\n"                                                    /* 9 */
        "    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"                         /* 10 */
        "    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n"                       /* 11 */
        "    - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256\n"                   /* 12 */
        "  prefer_server_cipher_suites: true\n"                                 /* 13 */
        "  curve_preferences: [X25519, CurveP256]\n"                            /* 14 */
        "http_server_config:\n"                                                 /* 15 */
        "  http2: false\n"                                                      /* 16 */
        "  headers:\n"                                                          /* 17 */
        "    X-Frame-Options: deny\n"                                           /* 18 */
        "    X-Content-Type-Options: nosniff\n"                                 /* 19 */
        "    Strict-Transport-Security: max-age=31536000; includeSubDomains\n"  /* 20 */
        "    Content-Security-Policy: \"\"\n"                                   /* 21 */
        "basic_auth_users:\n"                                                   /* 22 */
        "  alice: " HASH_A "\n"                                                 /* 23 */
        "  bob: " HASH_B "\n";                                                  /* 24 */

/* The example node_exporter's README points to (exporter-toolkit's
 * docs/web-config.yml), as it was before basic_auth_excluded_paths. */
static const char toolkit_example[] =
        "# TLS and basic authentication configuration example.\n"
        "#\n"
        "# Additionally, a certificate and a key file are needed.\n"
        "tls_server_config:\n"
        "  cert_file: server.crt\n"
        "  key_file: server.key\n"
        "\n"
        "# Usernames and passwords required to connect to Prometheus.\n"
        "# Passwords are hashed with bcrypt: "
        "https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md#about-bcrypt\n"
        "basic_auth_users:\n"
        "  alice: " HASH_A "\n"
        "  bob: " HASH_B "\n";

/* The first lines of a valid tls_server_config, for errors after them. */
#define TLS "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n"
#define PEM_CERT "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUX\n-----END CERTIFICATE-----\n"

/* Loads text as "dir/web.yml"; prints the errors when the result is not
 * what the caller expects. */
static int load(const char *text, WebConfig **ret, ConfigErrors *errs) {
        *ret = NULL;
        int r = web_config_load_string("dir/web.yml", text, strlen(text), ret, errs);
        assert_true(r == 0 ? *ret != NULL : *ret == NULL);
        return r;
}

static WebConfig *load_ok(const char *text) {
        ConfigErrors errs = { 0 };
        WebConfig *c;
        if (load(text, &c, &errs) < 0 || errs.n > 0)
                config_errors_write(&errs, "dir/web.yml", text, strlen(text), stderr);
        assert_non_null(c);
        assert_int_equal(errs.n, 0);
        return c;
}

typedef struct ErrorCase {
        const char *text;
        unsigned line, column;
        const char *message; /* a part of the one error's message */
} ErrorCase;

/* A load that returned r and errs failed as e says; errs is cleared. */
static void check_failed(const ErrorCase *e, size_t i, int r, ConfigErrors *errs) {
        bool ok = r == -EINVAL && errs->n == 1 && strstr(errs->items[0].message, e->message) &&
                errs->items[0].line == e->line && errs->items[0].column == e->column;
        if (!ok) {
                fprintf(stderr, "case %zu: expected %u:%u: ...%s...; got:\n", i, e->line, e->column, e->message);
                config_errors_write(errs, "dir/web.yml", e->text, strlen(e->text), stderr);
        }
        assert_true(ok);
        config_errors_clear(errs);
}

/* Each text fails with exactly one error, at its place. */
static void expect_errors(const ErrorCase *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                ConfigErrors errs = { 0 };
                WebConfig *c;
                int r = load(cases[i].text, &c, &errs);
                check_failed(&cases[i], i, r, &errs);
        }
}

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, true);
        assert_int_equal(fclose(f), 0);
}

static void test_full_example(void **state) {
        (void) state;
        WebConfig *c = load_ok(full_example);

        assert_string_equal(c->path, "dir/web.yml");
        assert_true(c->tls);
        assert_string_equal(c->cert.file, "server.crt");
        assert_null(c->cert.inline_pem);
        assert_int_equal(c->cert.line, 2);
        assert_int_equal(c->cert.column, 14);
        assert_string_equal(c->key.file, "/etc/kpe/server.key");
        assert_int_equal(c->key.line, 3);
        assert_int_equal(c->key.column, 13);
        assert_string_equal(c->client_ca.file, "ca.crt");
        assert_int_equal(c->client_ca.line, 5);
        assert_int_equal(c->client_ca.column, 19);
        assert_int_equal(c->client_auth, WEB_CLIENT_AUTH_REQUIRE_VERIFY);
        assert_int_equal(c->n_client_allowed_sans, 2);
        assert_string_equal(c->client_allowed_sans[0], "scraper.example.org");
        assert_string_equal(c->client_allowed_sans[1], "10.0.0.7");
        assert_int_equal(c->min_version, 12);
        assert_int_equal(c->max_version, 13);
        assert_int_equal(c->n_cipher_suites, 3);
        assert_string_equal(c->cipher_suites[1], "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
        assert_true(c->prefer_server_cipher_suites);
        assert_int_equal(c->n_curve_preferences, 2);
        assert_string_equal(c->curve_preferences[0], "X25519");
        assert_string_equal(c->curve_preferences[1], "CurveP256");
        /* Versions from the top; each algorithm once, in the order the
         * suites name it; the curves in their order. */
        assert_string_equal(c->gnutls_priorities,
                            "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
                            ":-KX-ALL:-CIPHER-ALL:-MAC-ALL:+ECDHE-RSA:+ECDHE-ECDSA"
                            ":+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AEAD"
                            ":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%SERVER_PRECEDENCE");
        assert_false(c->http2);
        /* The empty Content-Security-Policy is left out. */
        assert_int_equal(c->n_headers, 3);
        assert_string_equal(c->headers[0].name, "X-Frame-Options");
        assert_string_equal(c->headers[0].value, "deny");
        assert_string_equal(c->headers[1].name, "X-Content-Type-Options");
        assert_string_equal(c->headers[2].name, "Strict-Transport-Security");
        assert_string_equal(c->headers[2].value, "max-age=31536000; includeSubDomains");
        assert_int_equal(c->n_users, 2);
        assert_string_equal(c->users[0].name, "alice");
        assert_string_equal(c->users[0].hash, HASH_A);
        assert_string_equal(c->users[1].name, "bob");
        assert_string_equal(c->users[1].hash, HASH_B);
        web_config_free(c);
}

static void test_toolkit_example(void **state) {
        (void) state;
        WebConfig *c = load_ok(toolkit_example);

        assert_true(c->tls);
        assert_string_equal(c->cert.file, "server.crt");
        assert_string_equal(c->key.file, "server.key");
        assert_null(c->client_ca.file);
        assert_null(c->client_ca.inline_pem);
        assert_int_equal(c->client_auth, WEB_CLIENT_AUTH_NONE);
        assert_int_equal(c->n_client_allowed_sans, 0);
        assert_true(c->http2);
        assert_int_equal(c->n_headers, 0);
        assert_int_equal(c->n_users, 2);
        assert_string_equal(c->users[1].hash, HASH_B);
        assert_string_equal(c->gnutls_priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE");
        web_config_free(c);

        /* Its newer version excludes paths from authentication: refused,
         * with why, rather than served without it. */
        char text[2048];
        snprintf(text, sizeof(text), "%s\nbasic_auth_excluded_paths:\n- /-/healthy\n", toolkit_example);
        const ErrorCase newer[] = {
                { text, 14, 1, "'basic_auth_excluded_paths' (paths without authentication, in newer exporter-toolkit) "
                               "is not supported by kprobe-exporter" },
        };
        expect_errors(newer, ELEMENTSOF(newer));
}

static void test_empty(void **state) {
        (void) state;
        static const char *const texts[] = {
                "", "# nothing\n\n", "~\n", "{}\n", "---\n",
                "tls_server_config:\nhttp_server_config: ~\nbasic_auth_users: null\n",
                "http_server_config:\n  headers:\nbasic_auth_users: {}\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                WebConfig *c = load_ok(texts[i]);
                assert_false(c->tls);
                assert_null(c->gnutls_priorities);
                assert_null(c->cert.file);
                assert_true(c->http2);
                assert_int_equal(c->n_headers, 0);
                assert_int_equal(c->n_users, 0);
                web_config_free(c);
        }
}

static void test_priorities(void **state) {
        (void) state;
        static const struct {
                const char *tls, *priorities;
        } cases[] = {
                { "  min_version: TLS10\n  max_version: TLS11\n  prefer_server_cipher_suites: false\n",
                  "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0" },
                { "  min_version: TLS13\n", "NORMAL:-VERS-ALL:+VERS-TLS1.3:%SERVER_PRECEDENCE" },
                { "  max_version: TLS12\n", "NORMAL:-VERS-ALL:+VERS-TLS1.2:%SERVER_PRECEDENCE" },
                /* SHA1 once for three suites; 3DES is GnuTLS's 3DES-CBC. */
                { "  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, "
                  "TLS_RSA_WITH_AES_128_CBC_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA]\n",
                  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:-CIPHER-ALL:-MAC-ALL:+RSA:+ECDHE-RSA:+ECDHE-ECDSA"
                  ":+AES-128-CBC:+3DES-CBC:+AES-256-CBC:+SHA1:+SHA256:%SERVER_PRECEDENCE" },
                /* Go's alias and the full name are one suite. */
                { "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]\n",
                  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:-CIPHER-ALL:-MAC-ALL:+ECDHE-RSA"
                  ":+CHACHA20-POLY1305:+AEAD:%SERVER_PRECEDENCE" },
                /* TLS 1.3 suites have no key exchange of their own. */
                { "  cipher_suites: [TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, TLS_AES_128_GCM_SHA256]\n"
                  "  min_version: TLS13\n",
                  "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:-CIPHER-ALL:-MAC-ALL"
                  ":+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:+AEAD:%SERVER_PRECEDENCE" },
                { "  cipher_suites: [TLS_RSA_WITH_AES_256_GCM_SHA384]\n  curve_preferences: [CurveP521, CurveP384]\n",
                  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:-CIPHER-ALL:-MAC-ALL:+RSA:+AES-256-GCM:+AEAD"
                  ":-GROUP-ALL:+GROUP-SECP521R1:+GROUP-SECP384R1:%SERVER_PRECEDENCE" },
                { "  cipher_suites: []\n  curve_preferences: []\n",
                  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char text[1024];
                snprintf(text, sizeof(text), TLS "%s", cases[i].tls);
                WebConfig *c = load_ok(text);
                assert_string_equal(c->gnutls_priorities, cases[i].priorities);
                web_config_free(c);
        }
}

static void test_client_auth(void **state) {
        (void) state;
        static const char *const names[] = { "NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                                             "VerifyClientCertIfGiven", "RequireAndVerifyClientCert" };
        for (WebClientAuth a = 0; a < _WEB_CLIENT_AUTH_MAX; a++) {
                char text[512];
                assert_string_equal(web_client_auth_to_string(a), names[a]);
                snprintf(text, sizeof(text), TLS "  client_auth_type: %s\n%s", names[a],
                         a >= WEB_CLIENT_AUTH_VERIFY_IF_GIVEN ? "  client_ca_file: ca.crt\n" : "");
                WebConfig *c = load_ok(text);
                assert_int_equal(c->client_auth, a);
                web_config_free(c);
        }
        assert_null(web_client_auth_to_string(_WEB_CLIENT_AUTH_MAX));

        /* exporter-toolkit's older name; a CA with a policy that does not
         * verify is allowed there too; SANs with a required certificate. */
        WebConfig *c = load_ok(TLS "  client_auth_type: RequireClientCert\n  client_ca_file: ca.crt\n"
                               "  client_allowed_sans: [a.example]\n");
        assert_int_equal(c->client_auth, WEB_CLIENT_AUTH_REQUIRE_ANY);
        assert_string_equal(c->client_ca.file, "ca.crt");
        assert_int_equal(c->n_client_allowed_sans, 1);
        web_config_free(c);
}

static void test_error_top_level(void **state) {
        (void) state;
        const ErrorCase cases[] = {
                { "foo: 1\n", 1, 1, "unknown key 'foo'" },
                { "tls_config:\n  cert_file: a\n", 1, 1, "unknown key 'tls_config'" },
                { "rate_limit:\n  interval: 1s\n  burst: 5\n", 1, 1,
                  "'rate_limit' (a limit on requests, in newer exporter-toolkit) is not supported by kprobe-exporter" },
                { "- a\n", 1, 1, "the web config must be a mapping" },
                { "plain\n", 1, 1, "the web config must be a mapping" },
                { "basic_auth_users: {}\nbasic_auth_users: {}\n", 2, 1,
                  "duplicate key 'basic_auth_users' (first at line 1)" },
                { "tls_server_config: [a]\n", 1, 20, "'tls_server_config' must be a mapping" },
                { "http_server_config: true\n", 1, 21, "'http_server_config' must be a mapping" },
                { "basic_auth_users: [alice]\n", 1, 19, "'basic_auth_users' must be a mapping" },
                /* libyaml's own words and place. */
                { "basic_auth_users: {a: b\n", 2, 1, "did not find expected ',' or '}'" },
                { "a: 1\n---\nb: 2\n", 2, 1, "only one YAML document is allowed" },
                { "basic_auth_users: *x\n", 1, 19, "found undefined alias" },
        };
        expect_errors(cases, ELEMENTSOF(cases));
}

static void test_error_tls(void **state) {
        (void) state;
        const ErrorCase cases[] = {
                { "tls_server_config:\n  key_file: k\n", 1, 1,
                  "tls_server_config needs the server's certificate: 'cert_file' (or inline 'cert')" },
                { "tls_server_config:\n  cert_file: c\n", 1, 1,
                  "tls_server_config needs the server's key: 'key_file' (or inline 'key')" },
                { TLS "  cert: \"" PEM_CERT "\"\n", 4, 3,
                  "'cert_file' and 'cert' exclude each other: the certificate is a file or inline PEM, not both" },
                { "tls_server_config:\n  key: \"-----BEGIN PRIVATE KEY-----\\n\"\n  cert_file: c\n  key_file: k\n", 4, 3,
                  "'key_file' and 'key' exclude each other" },
                { "tls_server_config: {cert: \"-----BEGIN X\", cert_file: a, key_file: k}\n", 1, 43,
                  "'cert_file' and 'cert' exclude each other" },
                { "tls_server_config:\n  cert: s.crt\n  key_file: k\n", 2, 9,
                  "'cert' must be a PEM (-----BEGIN ...); for a file name use 'cert_file'" },
                { "tls_server_config:\n  cert_file: \"-----BEGIN CERTIFICATE-----\"\n  key_file: k\n", 2, 14,
                  "'cert_file' is a file name; for an inline PEM use 'cert'" },
                { "tls_server_config:\n  cert_file: \"\"\n  key_file: k\n", 2, 14, "'cert_file' must not be empty" },
                { "tls_server_config:\n  cert_file: [a]\n  key_file: k\n", 2, 14, "'cert_file' must be a string" },
                { "tls_server_config:\n  cert_file:\n  key_file: k\n", 2, 13, "'cert_file' must be a string" },
                { TLS "  session_tickets_disabled: true\n", 4, 3, "unknown key 'session_tickets_disabled'" },
                { TLS "  client_auth_type: Always\n", 4, 21,
                  "unknown client_auth_type 'Always' (expected NoClientCert, RequestClientCert, RequireAnyClientCert, "
                  "VerifyClientCertIfGiven or RequireAndVerifyClientCert)" },
                { TLS "  client_auth_type: RequireAndVerifyClientCert\n", 4, 21,
                  "client_auth_type RequireAndVerifyClientCert needs a client CA to verify against: 'client_ca_file' "
                  "(or inline 'client_ca')" },
                { TLS "  client_auth_type: VerifyClientCertIfGiven\n", 4, 21,
                  "client_auth_type VerifyClientCertIfGiven needs a client CA" },
                { TLS "  client_ca_file: ca.crt\n", 4, 3,
                  "client CA configured without a client auth policy: set client_auth_type" },
                { TLS "  client_auth_type: NoClientCert\n  client_ca: \"" PEM_CERT "\"\n", 5, 3,
                  "client CA configured without a client auth policy" },
                { TLS "  client_auth_type: RequestClientCert\n  client_allowed_sans: [a]\n", 5, 3,
                  "'client_allowed_sans' needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert: "
                  "with RequestClientCert a client may connect without a certificate" },
                { TLS "  client_allowed_sans: [a]\n", 4, 3, "with NoClientCert a client may connect" },
                { TLS "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: []\n", 5, 24,
                  "'client_allowed_sans' must not be empty" },
                { TLS "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [a, \"\"]\n", 5, 28,
                  "'client_allowed_sans' must not have an empty entry" },
                { TLS "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [a, b, a]\n", 5, 31,
                  "'client_allowed_sans' lists 'a' twice" },
                { TLS "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: a\n", 5, 24,
                  "'client_allowed_sans' must be a sequence" },
                { TLS "  min_version: TLS14\n", 4, 16,
                  "unknown TLS version 'TLS14' in 'min_version' (expected TLS10, TLS11, TLS12 or TLS13)" },
                { TLS "  max_version: TLS1.2\n", 4, 16, "unknown TLS version 'TLS1.2' in 'max_version'" },
                { TLS "  min_version: TLS13\n  max_version: TLS12\n", 4, 16,
                  "min_version TLS13 is above max_version TLS12" },
                { TLS "  max_version: TLS11\n", 4, 16, "min_version TLS12 is above max_version TLS11" },
                { TLS "  cipher_suites: [TLS_ECDHE_RSA_WITH_RC4_128_SHA]\n", 4, 19,
                  "cipher suite 'TLS_ECDHE_RSA_WITH_RC4_128_SHA': GnuTLS does not offer RC4" },
                { TLS "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n", 4, 19, "GnuTLS does not offer RC4" },
                { TLS "  cipher_suites: [ECDHE-RSA-AES128-GCM-SHA256]\n", 4, 19,
                  "unknown cipher suite 'ECDHE-RSA-AES128-GCM-SHA256' (Go's names, e.g. "
                  "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, " },
                /* Not a suite Go has, though its parts are known. */
                { TLS "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA]\n", 4, 19, "unknown cipher suite" },
                { TLS "  cipher_suites: [TLS_RSA_WITH_CHACHA20_POLY1305_SHA256]\n", 4, 19, "unknown cipher suite" },
                { TLS "  cipher_suites: [TLS_AES_128_CBC_SHA]\n", 4, 19, "unknown cipher suite" },
                { TLS "  cipher_suites: [TLS_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]\n", 4, 43,
                  "'cipher_suites' lists 'TLS_AES_128_GCM_SHA256' twice" },
                { TLS "  cipher_suites: TLS_AES_128_GCM_SHA256\n", 4, 18, "'cipher_suites' must be a sequence" },
                { TLS "  curve_preferences: [P-256]\n", 4, 23,
                  "unknown curve 'P-256' (expected X25519, CurveP256, CurveP384 or CurveP521)" },
                { TLS "  curve_preferences: [X25519, X25519]\n", 4, 31, "'curve_preferences' lists 'X25519' twice" },
                { TLS "  prefer_server_cipher_suites: 1\n", 4, 32,
                  "'prefer_server_cipher_suites' must be a boolean (true or false)" },
        };
        expect_errors(cases, ELEMENTSOF(cases));
}

static void test_error_http(void **state) {
        (void) state;
        const ErrorCase cases[] = {
                { "http_server_config:\n  http2: maybe\n", 2, 10, "'http2' must be a boolean" },
                { "http_server_config:\n  http3: true\n", 2, 3, "unknown key 'http3'" },
                { "http_server_config:\n  headers: [a]\n", 2, 12, "'headers' must be a mapping" },
                { "http_server_config:\n  headers:\n    X-Frame-Options: allow-from x\n", 3, 22,
                  "invalid value 'allow-from x' for header 'X-Frame-Options' (expected deny or sameorigin)" },
                { "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n", 3, 29,
                  "invalid value 'sniff' for header 'X-Content-Type-Options' (expected nosniff)" },
                { "http_server_config:\n  headers:\n    Server: kpe\n", 3, 5,
                  "HTTP header 'Server' can not be configured (allowed are Content-Security-Policy, X-Frame-Options, "
                  "X-Content-Type-Options, X-XSS-Protection and Strict-Transport-Security)" },
                /* Names are exporter-toolkit's, as written there. */
                { "http_server_config:\n  headers:\n    x-frame-options: deny\n", 3, 5,
                  "HTTP header 'x-frame-options' can not be configured" },
                { "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Frame-Options: sameorigin\n", 4, 5,
                  "duplicate key 'X-Frame-Options' (first at line 3)" },
                { "http_server_config:\n  headers:\n    X-XSS-Protection: {a: 1}\n", 3, 23,
                  "'X-XSS-Protection' must be a string" },
                { "http_server_config:\n  headers:\n    [a]: b\n", 3, 5, "'header name' must be a string" },
        };
        expect_errors(cases, ELEMENTSOF(cases));
}

/* A header value is written into every response: a CR or LF in it would
 * let the file add headers or a body of its own. */
static void test_header_injection(void **state) {
        (void) state;
        const ErrorCase cases[] = {
                { "http_server_config:\n  headers:\n    Strict-Transport-Security: \"max-age=1\\r\\nSet-Cookie: a=b\"\n",
                  3, 32, "header 'Strict-Transport-Security': the value has a byte outside printable ASCII (0x0D); "
                         "a CR or LF would end the header and start another" },
                { "http_server_config:\n  headers:\n    X-XSS-Protection: \"1\\nX: y\"\n", 3, 23, "(0x0A)" },
                { "http_server_config:\n  headers:\n    Content-Security-Policy: |\n      default-src 'self'\n"
                  "      frame-src 'none'\n", 3, 30, "(0x0A)" },
                { "http_server_config:\n  headers:\n    X-XSS-Protection: \"1;\\tmode=block\"\n", 3, 23, "(0x09)" },
                { "http_server_config:\n  headers:\n    X-XSS-Protection: \"1\\x7f\"\n", 3, 23, "(0x7F)" },
                { "http_server_config:\n  headers:\n    Content-Security-Policy: \"default-src \xc3\xa9\"\n", 3, 30,
                  "(0xC3)" },
                /* A NUL would cut the value short: not a string. */
                { "http_server_config:\n  headers:\n    X-XSS-Protection: \"1\\0\"\n", 3, 23,
                  "'X-XSS-Protection' must be a string" },
                /* The allowed values are compared whole. */
                { "http_server_config:\n  headers:\n    X-Frame-Options: \"deny\\r\\nX: y\"\n", 3, 22, "(0x0D)" },
        };
        expect_errors(cases, ELEMENTSOF(cases));

        /* Case does not matter to the enumerated values; a null or empty
         * value leaves the header out. */
        WebConfig *c = load_ok("http_server_config:\n  headers:\n    X-Frame-Options: SameOrigin\n"
                               "    X-Content-Type-Options: NoSniff\n    X-XSS-Protection:\n"
                               "    Content-Security-Policy: \"default-src 'self'; frame-ancestors 'none'\"\n");
        assert_int_equal(c->n_headers, 3);
        assert_string_equal(c->headers[0].value, "SameOrigin");
        assert_string_equal(c->headers[1].value, "NoSniff");
        assert_string_equal(c->headers[2].name, "Content-Security-Policy");
        assert_string_equal(c->headers[2].value, "default-src 'self'; frame-ancestors 'none'");
        web_config_free(c);
}

static void test_error_users(void **state) {
        (void) state;
        const ErrorCase cases[] = {
                { "basic_auth_users:\n  alice: secret\n", 2, 10,
                  "user 'alice': the password must be a bcrypt hash, and this is not one (it does not start with $2a$, "
                  "$2b$ or $2y$); make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n'" },
                { "basic_auth_users:\n  alice: $1$abc$3Gi3mqe7eDXj7nbVzRq8a1\n", 2, 10, "(it does not start with" },
                { "basic_auth_users:\n  alice: $2x$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n", 2, 10,
                  "(it does not start with" },
                { "basic_auth_users:\n  alice: \"{SHA}fEqNCco3Yq9h5ZUglD3CZJT4lBs=\"\n", 2, 10, "(it does not start with" },
                { "basic_auth_users:\n  alice: $2y$5$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPzeA\n", 2, 10,
                  "(the cost after the prefix must be two digits and a '$')" },
                { "basic_auth_users:\n  alice: $2y$03$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n", 2, 10,
                  "(the cost must be 04 to 31)" },
                { "basic_auth_users:\n  alice: $2y$32$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n", 2, 10,
                  "(the cost must be 04 to 31)" },
                { "basic_auth_users:\n  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPz\n", 2, 10,
                  "(it must have 53 characters after the cost)" },
                { "basic_auth_users:\n  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPzee\n", 2, 10,
                  "(it must have 53 characters after the cost)" },
                { "basic_auth_users:\n  alice: $2y$10$mDwo+lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n", 2, 10,
                  "(it has a character outside [./A-Za-z0-9] after the cost)" },
                { "basic_auth_users:\n  alice:\n", 2, 9, "(it is empty)" },
                { "basic_auth_users:\n  alice: [a]\n", 2, 10, "'alice' must be a string" },
                { "basic_auth_users:\n  alice: " HASH_A "\n  alice: " HASH_B "\n", 3, 3,
                  "duplicate key 'alice' (first at line 2)" },
                { "basic_auth_users:\n  \"\": " HASH_A "\n", 2, 3,
                  "a user name must be printable ASCII, not empty, without ':' (Basic authentication sends user:password)" },
                { "basic_auth_users:\n  \"a:b\": " HASH_A "\n", 2, 3, "a user name must be printable ASCII" },
                { "basic_auth_users:\n  \"a\\tb\": " HASH_A "\n", 2, 3, "a user name must be printable ASCII" },
                { "basic_auth_users:\n  j\xc3\xbcrgen: " HASH_A "\n", 2, 3, "a user name must be printable ASCII" },
                { "basic_auth_users:\n  ~: " HASH_A "\n", 2, 3, "'user name' must be a string" },
        };
        expect_errors(cases, ELEMENTSOF(cases));

        /* Each prefix, the cost's bounds; a numeric user name is a name. */
        WebConfig *c = load_ok("basic_auth_users:\n"
                               "  a: $2a$04$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n"
                               "  b: $2b$31$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n"
                               "  1234: " HASH_A "\n  \"x y\": " HASH_B "\n");
        assert_int_equal(c->n_users, 4);
        assert_string_equal(c->users[2].name, "1234");
        assert_string_equal(c->users[3].name, "x y");
        assert_false(c->tls);
        web_config_free(c);
}

/* head, n times item (each '#' in it replaced by the count), tail. */
static char *repeat(const char *head, const char *item, size_t n, const char *tail) {
        Buf b = { 0 };
        buf_puts(&b, head);
        for (size_t i = 0; i < n; i++)
                for (const char *p = item; *p; p++)
                        if (*p == '#')
                                buf_printf(&b, "%zu", i);
                        else
                                buf_putc(&b, *p);
        buf_puts(&b, tail);
        return buf_steal(&b);
}

static void test_bounds(void **state) {
        (void) state;
        char *long_name = repeat("", "a", 4097, "");
        char *huge_pem = repeat("-----BEGIN CERTIFICATE-----\n", "A", 1024 * 1024, "");
        char *texts[] = {
                repeat(TLS "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans:\n", "    - s#\n", 257, ""),
                repeat("basic_auth_users:\n", "  u#: " HASH_A "\n", 1025, ""),
                repeat("tls_server_config:\n  key_file: k\n  cert_file: ", long_name, 1, "\n"),
                repeat("tls_server_config:\n  key_file: k\n  cert: \"", huge_pem, 1, "\"\n"),
                repeat(TLS "  cipher_suites:\n", "    - TLS_AES_128_GCM_SHA256\n", 65, ""),
        };
        const ErrorCase cases[] = {
                { texts[0], 6, 5, "'client_allowed_sans' has too many entries (257, at most 256)" },
                { texts[1], 2, 3, "'basic_auth_users' has too many entries (1025, at most 1024)" },
                { texts[2], 3, 14, "'cert_file' is longer than 4096 characters" },
                { texts[3], 3, 9, "'cert' is longer than 1048576 characters" },
                { texts[4], 5, 5, "'cipher_suites' has too many entries (65, at most 64)" },
        };
        expect_errors(cases, ELEMENTSOF(cases));
        for (size_t i = 0; i < ELEMENTSOF(texts); i++)
                free(texts[i]);
        free(long_name);
        free(huge_pem);
}

/* Every error of a file at once, in file order. */
static void test_many_errors(void **state) {
        (void) state;
        static const char text[] =
                "tls_server_config:\n"                          /* 1: no key */
                "  cert_file: a\n"                              /* 2 */
                "  client_auth_type: RequireAndVerifyClientCert\n" /* 3: no CA */
                "  min_version: TLS9\n"                         /* 4 */
                "http_server_config:\n"                         /* 5 */
                "  headers:\n"                                  /* 6 */
                "    X-Frame-Options: \"deny\\n\"\n"            /* 7 */
                "basic_auth_users:\n"                           /* 8 */
                "  alice: alice\n"                              /* 9 */
                "rate_limit: {}\n";                             /* 10 */
        static const unsigned lines[] = { 1, 3, 4, 7, 9, 10 };
        ConfigErrors errs = { 0 };
        WebConfig *c;

        assert_int_equal(load(text, &c, &errs), -EINVAL);
        assert_int_equal(errs.n, ELEMENTSOF(lines));
        for (size_t i = 0; i < ELEMENTSOF(lines); i++)
                assert_int_equal(errs.items[i].line, lines[i]);
        config_errors_clear(&errs);
}

static void test_inline_pem(void **state) {
        (void) state;
        static const char text[] =
                "tls_server_config:\n"
                "  cert: |\n"
                "    -----BEGIN CERTIFICATE-----\n"
                "    MIIBszCCAVmgAwIBAgIUX\n"
                "    -----END CERTIFICATE-----\n"
                "  key: \"-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEI\\n-----END EC PRIVATE KEY-----\\n\"\n"
                "  client_ca: |\n"
                "    -----BEGIN CERTIFICATE-----\n"
                "    MIIBszCCAVmgAwIBAgIUX\n"
                "    -----END CERTIFICATE-----\n"
                "  client_auth_type: VerifyClientCertIfGiven\n";
        WebConfig *c = load_ok(text);

        assert_true(c->tls);
        assert_null(c->cert.file);
        assert_string_equal(c->cert.inline_pem, PEM_CERT);
        assert_int_equal(c->cert.line, 2);
        assert_int_equal(c->cert.column, 9);
        assert_string_equal(c->key.inline_pem, "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----\n");
        assert_int_equal(c->key.line, 6);
        assert_int_equal(c->key.column, 8);
        assert_string_equal(c->client_ca.inline_pem, PEM_CERT);
        assert_null(c->client_ca.file);
        assert_int_equal(c->client_auth, WEB_CLIENT_AUTH_VERIFY_IF_GIVEN);
        /* No file to resolve. */
        assert_null(web_config_resolve(c, c->cert.file));
        web_config_free(c);
}

static void test_resolve(void **state) {
        (void) state;
        static const struct {
                const char *config, *file, *resolved;
        } cases[] = {
                { "/etc/kprobe-exporter/web.yml", "server.crt", "/etc/kprobe-exporter/server.crt" },
                { "/etc/kprobe-exporter/web.yml", "../tls/server.crt", "/etc/kprobe-exporter/../tls/server.crt" },
                { "/etc/kprobe-exporter/web.yml", "/etc/ssl/server.crt", "/etc/ssl/server.crt" },
                { "/web.yml", "server.crt", "/server.crt" },
                { "conf/web.yml", "tls/server.crt", "conf/tls/server.crt" },
                { "./web.yml", "server.crt", "./server.crt" },
                { "web.yml", "server.crt", "server.crt" }, /* the working directory, as filepath.Dir() says "." */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ConfigErrors errs = { 0 };
                WebConfig *c = NULL;
                assert_int_equal(web_config_load_string(cases[i].config, "", 0, &c, &errs), 0);
                char *p = web_config_resolve(c, cases[i].file);
                assert_string_equal(p, cases[i].resolved);
                free(p);
                web_config_free(c);
        }
        assert_null(web_config_resolve(NULL, NULL));
}

static void test_tls_equal(void **state) {
        (void) state;
        static const char base[] = TLS "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]\n";
        WebConfig *a = load_ok(base);

        /* What a reload keeps the server for: users, headers, http2, the
         * same suite by Go's other name. */
        static const char *const same[] = {
                TLS "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305]\n"
                "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n"
                "basic_auth_users:\n  alice: " HASH_A "\n",
                "tls_server_config:\n  key_file: s.key\n  cert_file: s.crt\n  prefer_server_cipher_suites: true\n"
                "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]\n  min_version: TLS12\n",
        };
        static const char *const different[] = {
                TLS, /* suites */
                "tls_server_config:\n  cert_file: other.crt\n  key_file: s.key\n"
                "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]\n",
                "tls_server_config:\n  cert: \"" PEM_CERT "\"\n  key_file: s.key\n"
                "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]\n",
                TLS "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]\n  min_version: TLS13\n",
                TLS "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]\n  prefer_server_cipher_suites: false\n",
                TLS "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]\n  curve_preferences: [X25519]\n",
                TLS "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]\n"
                "  client_auth_type: RequestClientCert\n",
                TLS "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256]\n"
                "  client_auth_type: RequireAnyClientCert\n"
                "  client_ca_file: ca.crt\n",
                "basic_auth_users:\n  alice: " HASH_A "\n", /* no TLS at all */
        };
        for (size_t i = 0; i < ELEMENTSOF(same); i++) {
                WebConfig *b = load_ok(same[i]);
                assert_true(web_config_tls_equal(a, b));
                assert_true(web_config_tls_equal(b, a));
                web_config_free(b);
        }
        for (size_t i = 0; i < ELEMENTSOF(different); i++) {
                WebConfig *b = load_ok(different[i]);
                assert_false(web_config_tls_equal(a, b));
                assert_false(web_config_tls_equal(b, a));
                web_config_free(b);
        }
        assert_true(web_config_tls_equal(a, a));
        assert_false(web_config_tls_equal(a, NULL));

        /* Without TLS, or without a web config: the same plain server. */
        WebConfig *plain = load_ok("basic_auth_users:\n  alice: " HASH_A "\n");
        assert_true(web_config_tls_equal(plain, NULL));
        assert_true(web_config_tls_equal(NULL, NULL));

        /* The same relative name in another directory is another file; an
         * absolute one is the same anywhere. */
        ConfigErrors errs = { 0 };
        WebConfig *x = NULL, *y = NULL;
        static const char abs[] = "tls_server_config:\n  cert_file: /etc/ssl/s.crt\n  key_file: /etc/ssl/s.key\n";
        assert_int_equal(web_config_load_string("/etc/a/web.yml", TLS, strlen(TLS), &x, &errs), 0);
        assert_int_equal(web_config_load_string("/etc/b/web.yml", TLS, strlen(TLS), &y, &errs), 0);
        assert_false(web_config_tls_equal(x, y));
        web_config_free(x);
        web_config_free(y);
        assert_int_equal(web_config_load_string("/etc/a/web.yml", abs, strlen(abs), &x, &errs), 0);
        assert_int_equal(web_config_load_string("/etc/b/web.yml", abs, strlen(abs), &y, &errs), 0);
        assert_true(web_config_tls_equal(x, y));
        web_config_free(x);
        web_config_free(y);

        web_config_free(plain);
        web_config_free(a);
        assert_null(web_config_free(NULL));
}

static void test_files(void **state) {
        (void) state;
        ConfigErrors errs = { 0 };
        WebConfig *c = NULL;
        char dir[] = "/tmp/test-webconfig-XXXXXX", path[64];

        /* Unreadable: the reason, without a place. */
        assert_int_equal(web_config_load_file("/nonexistent/web.yml", &c, &errs), -ENOENT);
        assert_true(!c && errs.n == 1 && errs.items[0].line == 0);
        assert_string_equal(errs.items[0].message, "cannot read: No such file or directory");
        config_errors_clear(&errs);

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/web.yml", dir);
        write_text(path, full_example);
        assert_int_equal(web_config_load_file(path, &c, &errs), 0);
        assert_string_equal(c->path, path);
        char *cert = web_config_resolve(c, c->cert.file), *key = web_config_resolve(c, c->key.file), want[96];
        snprintf(want, sizeof(want), "%s/server.crt", dir);
        assert_string_equal(cert, want);
        assert_string_equal(key, "/etc/kpe/server.key");
        free(cert);
        free(key);
        c = web_config_free(c);

        /* Errors from a file carry their places. */
        const ErrorCase bad = { "\nbasic_auth_users: 5\n", 2, 19, "'basic_auth_users' must be a mapping" };
        write_text(path, bad.text);
        check_failed(&bad, 0, web_config_load_file(path, &c, &errs), &errs);
        assert_null(c);
        unlink(path);
        rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_example),
                cmocka_unit_test(test_toolkit_example),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_priorities),
                cmocka_unit_test(test_client_auth),
                cmocka_unit_test(test_error_top_level),
                cmocka_unit_test(test_error_tls),
                cmocka_unit_test(test_error_http),
                cmocka_unit_test(test_header_injection),
                cmocka_unit_test(test_error_users),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_many_errors),
                cmocka_unit_test(test_inline_pem),
                cmocka_unit_test(test_resolve),
                cmocka_unit_test(test_tls_equal),
                cmocka_unit_test(test_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
