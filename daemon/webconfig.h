/* The web configuration file (--web.config.file): the format of the
 * Prometheus exporter-toolkit, which node_exporter and Prometheus read, so
 * that an operator reuses the file they have:
 *
 *   tls_server_config:
 *     cert_file: server.crt          # or cert: inline PEM
 *     key_file: server.key           # or key: inline PEM
 *     client_auth_type: RequireAndVerifyClientCert
 *     client_ca_file: ca.crt         # or client_ca: inline PEM
 *     client_allowed_sans: [scraper.example.org]
 *     min_version: TLS12
 *     max_version: TLS13
 *     cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
 *     prefer_server_cipher_suites: true
 *     curve_preferences: [X25519, CurveP256]
 *   http_server_config:
 *     http2: true                    # accepted; we serve HTTP/1.1 only
 *     headers:
 *       X-Frame-Options: deny
 *   basic_auth_users:
 *     alice: $2y$10$...              # bcrypt, as htpasswd -B writes it
 *
 * Pure: parsing and validation only. Reading the certificate files and
 * checking them with GnuTLS is the server's (http_tls.c); a key of the file
 * that names a file keeps its place so that those errors can point at it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef enum WebClientAuth {
        WEB_CLIENT_AUTH_NONE,           /* NoClientCert (the default) */
        WEB_CLIENT_AUTH_REQUEST,        /* RequestClientCert: asked for, not checked */
        WEB_CLIENT_AUTH_REQUIRE_ANY,    /* RequireAnyClientCert: one must be sent, not checked */
        WEB_CLIENT_AUTH_VERIFY_IF_GIVEN, /* VerifyClientCertIfGiven */
        WEB_CLIENT_AUTH_REQUIRE_VERIFY, /* RequireAndVerifyClientCert */
        _WEB_CLIENT_AUTH_MAX,
} WebClientAuth;

/* A file named in the web config, or a PEM given inline; with the place of
 * its key's value for messages ("web.yml:3:14: cert_file: cannot read: ..."). */
typedef struct WebPem {
        char *file;   /* as written; NULL when absent or inline */
        char *inline_pem; /* NULL when absent or a file */
        unsigned line, column;
} WebPem;

typedef struct WebHeader {
        char *name;  /* one of the names exporter-toolkit allows, as written */
        char *value; /* never empty (an empty value leaves the header out), no control characters */
} WebHeader;

typedef struct WebUser {
        char *name;
        char *hash; /* a bcrypt hash: $2a$, $2b$ or $2y$, cost 04..31, 53 characters after the cost */
} WebUser;

typedef struct WebConfig {
        char *path;
        bool tls; /* tls_server_config is present: serve HTTPS only */
        WebPem cert, key, client_ca;
        WebClientAuth client_auth;
        char **client_allowed_sans;
        size_t n_client_allowed_sans;
        unsigned min_version, max_version; /* 10, 11, 12 or 13 (TLS 1.x); default 12 and 13 */
        char **cipher_suites; /* Go names as written (TLS 1.0-1.2 suites) */
        size_t n_cipher_suites;
        bool prefer_server_cipher_suites; /* default true */
        char **curve_preferences; /* Go names as written */
        size_t n_curve_preferences;
        /* The GnuTLS priority string all of the above comes to, e.g.
         * "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE";
         * NULL without tls. */
        char *gnutls_priorities;
        bool http2; /* accepted for compatibility, default true; we never speak HTTP/2 */
        WebHeader *headers;
        size_t n_headers;
        WebUser *users;
        size_t n_users;
} WebConfig;

/* Parses and validates a whole web config, as config_load_string() does a
 * probe config: every error with its file:line:column (appended to errs),
 * unknown keys refused. A relative file path is kept as written; the
 * caller resolves it against the web config's directory
 * (web_config_resolve()). Returns 0 and a new *ret, or -EINVAL. */
int web_config_load_string(const char *name, const char *text, size_t len, WebConfig **ret, ConfigErrors *errs);
/* Reads path (at most 4 MiB) and parses it; -errno when unreadable (also
 * appended to errs). */
int web_config_load_file(const char *path, WebConfig **ret, ConfigErrors *errs);
/* The path of a file named in the web config: as written when absolute,
 * else relative to the directory of the web config itself (as
 * exporter-toolkit does). A new string. */
char *web_config_resolve(const WebConfig *c, const char *file);
/* Whether two web configs ask for the same TLS setup (same files, PEMs and
 * settings): a reload that changes only users or headers keeps the
 * listening server and its connections. */
bool web_config_tls_equal(const WebConfig *a, const WebConfig *b);

const char *web_client_auth_to_string(WebClientAuth a);

WebConfig *web_config_free(WebConfig *c); /* accepts NULL, returns NULL */
static inline void web_config_freep(WebConfig **c) {
        web_config_free(*c);
}
