/* The web configuration file (webconfig.h): exporter-toolkit's format,
 * walked with yaml_load.c as the probe config is, every error at its
 * line:column. What exporter-toolkit checks only when it serves (a client
 * CA without a policy, SANs without a required certificate) is checked
 * here, so that --config.check and a reload see it. */

#include "webconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "yaml_load.h"

/* Bounds: file names, header values, user names and hashes are strings of
 * at most YL_STRING_MAX; an inline PEM may hold a CA bundle (Mozilla's is
 * about 200 KB). The duplicate checks are quadratic in the list sizes. */
#define WEB_PEM_MAX (1024u * 1024u)
#define WEB_SANS_MAX 256u
#define WEB_SUITES_MAX 64u
#define WEB_CURVES_MAX 16u
#define WEB_HEADERS_MAX 64u
#define WEB_USERS_MAX 1024u

#define HTPASSWD_HINT "htpasswd -nBC 10 \"\" | tr -d ':\\n'"

static const char *const client_auth_table[_WEB_CLIENT_AUTH_MAX] = {
        [WEB_CLIENT_AUTH_NONE] = "NoClientCert",
        [WEB_CLIENT_AUTH_REQUEST] = "RequestClientCert",
        [WEB_CLIENT_AUTH_REQUIRE_ANY] = "RequireAnyClientCert",
        [WEB_CLIENT_AUTH_VERIFY_IF_GIVEN] = "VerifyClientCertIfGiven",
        [WEB_CLIENT_AUTH_REQUIRE_VERIFY] = "RequireAndVerifyClientCert",
};

const char *web_client_auth_to_string(WebClientAuth a) {
        if ((unsigned) a >= _WEB_CLIENT_AUTH_MAX)
                return NULL;
        return client_auth_table[a];
}

/* ---- cipher suites and curves: Go's names, GnuTLS's algorithms ----
 *
 * Go names suites (key exchange, cipher, MAC together); GnuTLS enables
 * algorithms, each list in its order of preference, and offers every
 * combination of them that forms a suite. So cipher_suites becomes the
 * key exchanges, ciphers and MACs the suites use, and listing two suites
 * also allows their cross combinations: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
 * and TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 also allow
 * TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384. The ciphers and MACs also limit
 * TLS 1.3 (which Go never restricts): a list of CBC suites only leaves
 * TLS 1.3 no cipher; a list of TLS 1.3 suites only leaves TLS 1.2 no key
 * exchange. */

enum {
        KX_RSA = 1u << 0,
        KX_ECDHE_ECDSA = 1u << 1,
        KX_ECDHE_RSA = 1u << 2,
        KX_TLS13 = 1u << 3, /* a TLS 1.3 suite: no key exchange in it */
        KX_TLS12 = KX_RSA | KX_ECDHE_ECDSA | KX_ECDHE_RSA,
};

/* A Go suite name is a prefix (its key exchange) and the rest. */
static const struct {
        const char *prefix, *kx;
        unsigned bit;
} suite_kx[] = {
        { "TLS_RSA_WITH_", "RSA", KX_RSA },
        { "TLS_ECDHE_ECDSA_WITH_", "ECDHE-ECDSA", KX_ECDHE_ECDSA },
        { "TLS_ECDHE_RSA_WITH_", "ECDHE-RSA", KX_ECDHE_RSA },
        { "TLS_", NULL, KX_TLS13 },
};

/* The rest of a suite name: cipher and MAC, and which prefixes Go has it
 * with (crypto/tls CipherSuites() and InsecureCipherSuites(), less RC4). */
static const struct {
        const char *rest, *cipher, *mac;
        unsigned kx;
} suite_bulk[] = {
        { "AES_128_CBC_SHA", "AES-128-CBC", "SHA1", KX_TLS12 },
        { "AES_256_CBC_SHA", "AES-256-CBC", "SHA1", KX_TLS12 },
        { "AES_128_CBC_SHA256", "AES-128-CBC", "SHA256", KX_TLS12 },
        { "AES_128_GCM_SHA256", "AES-128-GCM", "AEAD", KX_TLS12 | KX_TLS13 },
        { "AES_256_GCM_SHA384", "AES-256-GCM", "AEAD", KX_TLS12 | KX_TLS13 },
        { "CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", "AEAD", KX_ECDHE_ECDSA | KX_ECDHE_RSA | KX_TLS13 },
        { "CHACHA20_POLY1305", "CHACHA20-POLY1305", "AEAD", KX_ECDHE_ECDSA | KX_ECDHE_RSA }, /* Go's older alias */
        { "3DES_EDE_CBC_SHA", "3DES-CBC", "SHA1", KX_RSA | KX_ECDHE_RSA },
};

/* The GnuTLS algorithms of a suite: [0] key exchange (NULL for TLS 1.3),
 * [1] cipher, [2] MAC. False for a name Go does not have. */
static bool suite_lookup(const char *name, const char *ret[3]) {
        for (size_t k = 0; k < ELEMENTSOF(suite_kx); k++) {
                size_t n = strlen(suite_kx[k].prefix);
                if (strncmp(name, suite_kx[k].prefix, n) != 0)
                        continue;
                for (size_t b = 0; b < ELEMENTSOF(suite_bulk); b++)
                        if ((suite_bulk[b].kx & suite_kx[k].bit) && strcmp(name + n, suite_bulk[b].rest) == 0) {
                                ret[0] = suite_kx[k].kx;
                                ret[1] = suite_bulk[b].cipher;
                                ret[2] = suite_bulk[b].mac;
                                return true;
                        }
        }
        return false;
}

static bool check_suite(YlLoader *l, const yaml_node_t *n, const char *s) {
        const char *algs[3];
        if (suite_lookup(s, algs))
                return true;
        if (strstr(s, "_RC4_"))
                return yl_error(l, n, "cipher suite '%s': GnuTLS does not offer RC4 (it is broken)", s);
        return yl_error(l, n, "unknown cipher suite '%s' (Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "
                        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 or "
                        "TLS_AES_128_GCM_SHA256)", s);
}

static const struct {
        const char *go, *gnutls;
} curve_table[] = {
        { "X25519", "GROUP-X25519" },
        { "CurveP256", "GROUP-SECP256R1" },
        { "CurveP384", "GROUP-SECP384R1" },
        { "CurveP521", "GROUP-SECP521R1" },
};

static const char *curve_lookup(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(curve_table); i++)
                if (strcmp(name, curve_table[i].go) == 0)
                        return curve_table[i].gnutls;
        return NULL;
}

static bool check_curve(YlLoader *l, const yaml_node_t *n, const char *s) {
        return curve_lookup(s) ||
                yl_error(l, n, "unknown curve '%s' (expected X25519, CurveP256, CurveP384 or CurveP521)", s);
}

/* The algorithms of part (0 key exchange, 1 cipher, 2 MAC) of every
 * suite, each once, in the order they first appear. */
static void priorities_add_part(Buf *b, char **suites, size_t n, size_t part) {
        for (size_t i = 0; i < n; i++) {
                const char *a[3], *o[3];
                bool seen = false;
                if (!suite_lookup(suites[i], a) || !a[part])
                        continue;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = suite_lookup(suites[j], o) && o[part] && strcmp(o[part], a[part]) == 0;
                if (!seen)
                        buf_printf(b, ":+%s", a[part]);
        }
}

static char *priorities_build(const WebConfig *c) {
        Buf b = { 0 };

        buf_puts(&b, "NORMAL:-VERS-ALL");
        for (unsigned v = c->max_version; v >= c->min_version && v >= 10; v--)
                buf_printf(&b, ":+VERS-TLS1.%u", v - 10);
        if (c->n_cipher_suites > 0) {
                buf_puts(&b, ":-KX-ALL:-CIPHER-ALL:-MAC-ALL");
                for (size_t part = 0; part < 3; part++)
                        priorities_add_part(&b, c->cipher_suites, c->n_cipher_suites, part);
        }
        if (c->n_curve_preferences > 0) {
                buf_puts(&b, ":-GROUP-ALL");
                for (size_t i = 0; i < c->n_curve_preferences; i++)
                        buf_printf(&b, ":+%s", curve_lookup(c->curve_preferences[i]));
        }
        if (c->prefer_server_cipher_suites)
                buf_puts(&b, ":%SERVER_PRECEDENCE");
        return buf_steal(&b);
}

/* ---- tls_server_config ---- */

/* A sequence of distinct, non-empty strings (each also passing check, if
 * given) into a new strv. */
static void parse_strings(YlLoader *l, yaml_node_t *n, const char *what, size_t max,
                          bool (*check)(YlLoader *l, const yaml_node_t *n, const char *s), char ***ret, size_t *ret_n) {
        if (yl_sequence(l, n, what, max) < 0)
                return;
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
                yaml_node_t *item = yl_node(l, *i);
                const char *s = yl_string(l, item, what);
                if (!s)
                        continue;
                if (s[0] == 0)
                        yl_error(l, item, "'%s' must not have an empty entry", what);
                else if (strv_contains(*ret, s))
                        yl_error(l, item, "'%s' lists '%s' twice", what, s);
                else if (!check || check(l, item, s))
                        strv_push(ret, ret_n, sv_from(s));
        }
}

/* A certificate, key or CA: the file slot or the inline slot, not both.
 * Returns whether either is given. */
static bool parse_pem(YlLoader *l, const YlKey *file, const YlKey *inl, const char *what, WebPem *p) {
        const char *s;

        if (file->value && inl->value) {
                const YlKey *later = inl->key->start_mark.index > file->key->start_mark.index ? inl : file;
                yl_error(l, later->key, "'%s' and '%s' exclude each other: the %s is a file or inline PEM, not both",
                         file->name, inl->name, what);
                return true;
        }
        const YlKey *given = file->value ? file : inl->value ? inl : NULL;
        if (!given)
                return false;
        p->line = yl_line(given->value);
        p->column = yl_column(given->value);
        if (given == file && (s = yl_string(l, file->value, file->name))) {
                if (s[0] == 0)
                        yl_error(l, file->value, "'%s' must not be empty", file->name);
                else if (strstr(s, "-----BEGIN "))
                        yl_error(l, file->value, "'%s' is a file name; for an inline PEM use '%s'", file->name,
                                 inl->name);
                else
                        p->file = xstrdup(s);
        } else if (given == inl && (s = yl_string_max(l, inl->value, inl->name, WEB_PEM_MAX))) {
                if (!strstr(s, "-----BEGIN "))
                        yl_error(l, inl->value, "'%s' must be a PEM (-----BEGIN ...); for a file name use '%s'",
                                 inl->name, file->name);
                else
                        p->inline_pem = xstrdup(s);
        }
        return true;
}

static bool parse_client_auth(YlLoader *l, const yaml_node_t *n, WebClientAuth *ret) {
        const char *s = yl_string(l, n, "client_auth_type");
        if (!s)
                return false;
        for (WebClientAuth a = 0; a < _WEB_CLIENT_AUTH_MAX; a++)
                if (strcmp(s, client_auth_table[a]) == 0) {
                        *ret = a;
                        return true;
                }
        /* exporter-toolkit's older name, kept there for compatibility. */
        if (strcmp(s, "RequireClientCert") == 0) {
                *ret = WEB_CLIENT_AUTH_REQUIRE_ANY;
                return true;
        }
        return yl_error(l, n, "unknown client_auth_type '%s' (expected NoClientCert, RequestClientCert, "
                        "RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)", s);
}

static bool parse_version(YlLoader *l, const yaml_node_t *n, const char *what, unsigned *ret) {
        static const char *const names[] = { "TLS10", "TLS11", "TLS12", "TLS13" };
        const char *s = yl_string(l, n, what);
        if (!s)
                return false;
        for (unsigned i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = 10 + i;
                        return true;
                }
        return yl_error(l, n, "unknown TLS version '%s' in '%s' (expected TLS10, TLS11, TLS12 or TLS13)", s, what);
}

/* What the client certificate policy needs: a CA to verify against, a
 * policy for a CA, a required certificate for SANs to match. */
static void check_client_policy(YlLoader *l, const YlKey *slots, const WebConfig *c) {
        const YlKey *auth = &slots[6], *sans = &slots[7];
        const YlKey *ca = slots[4].key ? &slots[4] : slots[5].key ? &slots[5] : NULL;
        const char *name = client_auth_table[c->client_auth];

        if ((c->client_auth == WEB_CLIENT_AUTH_VERIFY_IF_GIVEN || c->client_auth == WEB_CLIENT_AUTH_REQUIRE_VERIFY) &&
            !ca)
                yl_error(l, auth->value, "client_auth_type %s needs a client CA to verify against: 'client_ca_file' "
                         "(or inline 'client_ca')", name);
        if (c->client_auth == WEB_CLIENT_AUTH_NONE && ca)
                yl_error(l, ca->key, "client CA configured without a client auth policy: set client_auth_type "
                         "(e.g. RequireAndVerifyClientCert)");
        if (sans->key && c->client_auth != WEB_CLIENT_AUTH_REQUIRE_ANY && c->client_auth != WEB_CLIENT_AUTH_REQUIRE_VERIFY)
                yl_error(l, sans->key, "'client_allowed_sans' needs client_auth_type RequireAnyClientCert or "
                         "RequireAndVerifyClientCert: with %s a client may connect without a certificate, leaving no "
                         "SAN to match", name);
}

static void parse_tls(YlLoader *l, const yaml_node_t *section, yaml_node_t *n, WebConfig *c) {
        YlKey slots[] = {
                { .name = "cert_file" },           { .name = "cert" },
                { .name = "key_file" },            { .name = "key" },
                { .name = "client_ca_file" },      { .name = "client_ca" },
                { .name = "client_auth_type" },    { .name = "client_allowed_sans" },
                { .name = "min_version" },         { .name = "max_version" },
                { .name = "cipher_suites" },       { .name = "prefer_server_cipher_suites" },
                { .name = "curve_preferences" },
        };
        YlKey *auth = &slots[6], *sans = &slots[7], *min = &slots[8], *max = &slots[9], *suites = &slots[10],
              *prefer = &slots[11], *curves = &slots[12];
        bool policy_ok = true, min_ok = false, max_ok = false;

        c->tls = true;
        if (!yl_keys(l, n, "'tls_server_config'", slots, ELEMENTSOF(slots)))
                return;
        if (!parse_pem(l, &slots[0], &slots[1], "certificate", &c->cert))
                yl_error(l, section, "tls_server_config needs the server's certificate: 'cert_file' (or inline 'cert')");
        if (!parse_pem(l, &slots[2], &slots[3], "key", &c->key))
                yl_error(l, section, "tls_server_config needs the server's key: 'key_file' (or inline 'key')");
        parse_pem(l, &slots[4], &slots[5], "client CA", &c->client_ca);

        if (auth->value)
                policy_ok = parse_client_auth(l, auth->value, &c->client_auth);
        if (sans->value) {
                size_t before = l->errs->n;
                parse_strings(l, sans->value, "client_allowed_sans", WEB_SANS_MAX, NULL, &c->client_allowed_sans,
                              &c->n_client_allowed_sans);
                if (l->errs->n == before && c->n_client_allowed_sans == 0)
                        yl_error(l, sans->value, "'client_allowed_sans' must not be empty (leave it out to allow "
                                 "any client certificate)");
        }
        if (policy_ok)
                check_client_policy(l, slots, c);

        if (min->value)
                min_ok = parse_version(l, min->value, "min_version", &c->min_version);
        if (max->value)
                max_ok = parse_version(l, max->value, "max_version", &c->max_version);
        if ((min_ok || !min->value) && (max_ok || !max->value) && c->min_version > c->max_version)
                yl_error(l, min_ok ? min->value : max->value, "min_version TLS%u is above max_version TLS%u",
                         c->min_version, c->max_version);

        if (suites->value)
                parse_strings(l, suites->value, "cipher_suites", WEB_SUITES_MAX, check_suite, &c->cipher_suites,
                              &c->n_cipher_suites);
        if (prefer->value)
                yl_bool(l, prefer->value, "prefer_server_cipher_suites", &c->prefer_server_cipher_suites);
        if (curves->value)
                parse_strings(l, curves->value, "curve_preferences", WEB_CURVES_MAX, check_curve,
                              &c->curve_preferences, &c->n_curve_preferences);
}

/* ---- http_server_config ---- */

/* The headers exporter-toolkit lets a file set, and the values it allows
 * for some (compared without case here: browsers do). */
static const struct {
        const char *name;
        const char *values[3];
} header_table[] = {
        { "Content-Security-Policy", { NULL } },
        { "X-Frame-Options", { "deny", "sameorigin", NULL } },
        { "X-Content-Type-Options", { "nosniff", NULL } },
        { "X-XSS-Protection", { NULL } },
        { "Strict-Transport-Security", { NULL } },
};

static bool check_header_value(YlLoader *l, const yaml_node_t *n, size_t h, const char *v) {
        for (const char *p = v; *p; p++)
                if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e)
                        return yl_error(l, n, "header '%s': the value has a byte outside printable ASCII (0x%02X); "
                                        "a CR or LF would end the header and start another", header_table[h].name,
                                        (unsigned char) *p);
        const char *const *allowed = header_table[h].values;
        if (!allowed[0])
                return true;
        for (size_t i = 0; allowed[i]; i++)
                if (strcasecmp(v, allowed[i]) == 0)
                        return true;
        if (allowed[1])
                return yl_error(l, n, "invalid value '%s' for header '%s' (expected %s or %s)", v, header_table[h].name,
                                allowed[0], allowed[1]);
        return yl_error(l, n, "invalid value '%s' for header '%s' (expected %s)", v, header_table[h].name, allowed[0]);
}

/* A mapping of free-form names (headers, users) of at most max pairs:
 * add() gets each pair whose key is a string (what_key names it in
 * messages) and not a duplicate. */
static void parse_named(YlLoader *l, yaml_node_t *n, const char *what, const char *what_key, size_t max,
                        void (*add)(YlLoader *l, yaml_node_t *k, yaml_node_t *v, const char *name, WebConfig *c),
                        WebConfig *c) {
        if (yl_mapping(l, n, what, max) < 0)
                return;
        for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
                yaml_node_t *k = yl_node(l, pair->key);
                const char *name = yl_string(l, k, what_key);
                if (name && !yl_key_is_duplicate(l, n, pair))
                        add(l, k, yl_node(l, pair->value), name, c);
        }
}

static void header_add(YlLoader *l, yaml_node_t *k, yaml_node_t *v, const char *name, WebConfig *c) {
        size_t h = 0;
        while (h < ELEMENTSOF(header_table) && strcmp(name, header_table[h].name) != 0)
                h++;
        if (h == ELEMENTSOF(header_table)) {
                yl_error(l, k, "HTTP header '%s' can not be configured (allowed are Content-Security-Policy, "
                         "X-Frame-Options, X-Content-Type-Options, X-XSS-Protection and Strict-Transport-Security)",
                         name);
                return;
        }
        /* A null or empty value leaves the header out, as there. */
        const char *value = yl_is_null(v) ? "" : yl_string(l, v, name);
        if (!value || !value[0] || !check_header_value(l, v, h, value))
                return;
        c->headers = xrealloc(c->headers, (c->n_headers + 1) * sizeof(WebHeader));
        c->headers[c->n_headers++] = (WebHeader){ xstrdup(name), xstrdup(value) };
}

static void parse_http(YlLoader *l, yaml_node_t *n, WebConfig *c) {
        YlKey slots[] = { { .name = "http2" }, { .name = "headers" } };

        if (!yl_keys(l, n, "'http_server_config'", slots, ELEMENTSOF(slots)))
                return;
        if (slots[0].value)
                yl_bool(l, slots[0].value, "http2", &c->http2);
        if (slots[1].value && !yl_is_null(slots[1].value))
                parse_named(l, slots[1].value, "headers", "header name", WEB_HEADERS_MAX, header_add, c);
}

/* ---- basic_auth_users ---- */

/* Why h is not a bcrypt hash as htpasswd -B, Go's bcrypt and libxcrypt
 * write it ("$2y$10$" and 53 characters of bcrypt's base64); NULL when it
 * is one. */
static const char *bcrypt_problem(const char *h) {
        if (h[0] == 0)
                return "it is empty";
        if (strncmp(h, "$2a$", 4) != 0 && strncmp(h, "$2b$", 4) != 0 && strncmp(h, "$2y$", 4) != 0)
                return "it does not start with $2a$, $2b$ or $2y$";
        if (h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' || h[6] != '$')
                return "the cost after the prefix must be two digits and a '$'";
        unsigned cost = (unsigned) (h[4] - '0') * 10 + (unsigned) (h[5] - '0');
        if (cost < 4 || cost > 31)
                return "the cost must be 04 to 31";
        if (strlen(h + 7) != 53)
                return "it must have 53 characters after the cost";
        if (strspn(h + 7, "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != 53)
                return "it has a character outside [./A-Za-z0-9] after the cost";
        return NULL;
}

/* Basic authentication sends "user:password": a user name cannot hold a
 * ':'; and it is compared as bytes, so printable ASCII only. */
static bool user_name_is_valid(const char *s) {
        if (s[0] == 0)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e || *s == ':')
                        return false;
        return true;
}

static void user_add(YlLoader *l, yaml_node_t *k, yaml_node_t *v, const char *name, WebConfig *c) {
        const char *hash, *problem;

        if (!user_name_is_valid(name)) {
                yl_error(l, k, "a user name must be printable ASCII, not empty, without ':' (Basic authentication "
                         "sends user:password)");
                return;
        }
        if (!(hash = yl_is_null(v) ? "" : yl_string(l, v, name)))
                return;
        if ((problem = bcrypt_problem(hash))) {
                yl_error(l, v, "user '%s': the password must be a bcrypt hash, and this is not one (%s); make one "
                         "with: " HTPASSWD_HINT, name, problem);
                return;
        }
        c->users = xrealloc(c->users, (c->n_users + 1) * sizeof(WebUser));
        c->users[c->n_users++] = (WebUser){ xstrdup(name), xstrdup(hash) };
}

/* ---- the file ---- */

static void walk_root(YlLoader *l, yaml_node_t *root, void *userdata) {
        WebConfig *c = userdata;
        YlKey slots[] = {
                { .name = "tls_server_config" }, { .name = "http_server_config" }, { .name = "basic_auth_users" },
                { .name = "rate_limit" },        { .name = "basic_auth_excluded_paths" },
        };
        static const char *const unsupported[] = { "a limit on requests", "paths without authentication" };

        /* Nothing, or only nulls: plain HTTP without authentication. */
        if (!root || yl_is_null(root) || !yl_keys(l, root, "the web config", slots, ELEMENTSOF(slots)))
                return;
        for (size_t i = 0; i < ELEMENTSOF(unsupported); i++)
                if (slots[3 + i].key)
                        yl_error(l, slots[3 + i].key, "'%s' (%s, in newer exporter-toolkit) is not supported by "
                                 "kprobe-exporter", slots[3 + i].name, unsupported[i]);
        if (slots[0].value && !yl_is_null(slots[0].value))
                parse_tls(l, slots[0].key, slots[0].value, c);
        if (slots[1].value && !yl_is_null(slots[1].value))
                parse_http(l, slots[1].value, c);
        if (slots[2].value && !yl_is_null(slots[2].value))
                parse_named(l, slots[2].value, "basic_auth_users", "user name", WEB_USERS_MAX, user_add, c);
        if (c->tls)
                c->gnutls_priorities = priorities_build(c);
}

int web_config_load_string(const char *name, const char *text, size_t len, WebConfig **ret, ConfigErrors *errs) {
        YlLoader l = { 0 };
        WebConfig *c = xcalloc(1, sizeof(WebConfig));

        c->path = xstrdup(name ? name : "<string>");
        c->min_version = 12;
        c->max_version = 13;
        c->prefer_server_cipher_suites = true;
        c->http2 = true;
        if (!yl_load(text, len, errs, &l, walk_root, c)) {
                web_config_free(c);
                return -EINVAL;
        }
        *ret = c;
        return 0;
}

int web_config_load_file(const char *path, WebConfig **ret, ConfigErrors *errs) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = yl_read_file(path, &text, &len, errs);
        return r < 0 ? r : web_config_load_string(path, text, len, ret, errs);
}

char *web_config_resolve(const WebConfig *c, const char *file) {
        const char *slash = c && c->path ? strrchr(c->path, '/') : NULL;

        if (!file)
                return NULL;
        if (file[0] == '/' || !slash)
                return xstrdup(file);
        Buf b = { 0 };
        buf_append(&b, c->path, (size_t) (slash - c->path) + 1);
        buf_puts(&b, file);
        return buf_steal(&b);
}

static bool pem_equal(const WebConfig *a, const WebPem *pa, const WebConfig *b, const WebPem *pb) {
        if (!str_equal_or_null(pa->inline_pem, pb->inline_pem) || !pa->file != !pb->file)
                return false;
        if (!pa->file)
                return true;
        _cleanup_free_ char *fa = web_config_resolve(a, pa->file);
        _cleanup_free_ char *fb = web_config_resolve(b, pb->file);
        return strcmp(fa, fb) == 0;
}

/* min_version, max_version, cipher_suites, prefer_server_cipher_suites and
 * curve_preferences all come to the priorities: compared there (so that a
 * Go alias of a suite is the same suite). */
bool web_config_tls_equal(const WebConfig *a, const WebConfig *b) {
        bool ta = a && a->tls, tb = b && b->tls;

        if (!ta || !tb)
                return ta == tb;
        return pem_equal(a, &a->cert, b, &b->cert) && pem_equal(a, &a->key, b, &b->key) &&
                pem_equal(a, &a->client_ca, b, &b->client_ca) && a->client_auth == b->client_auth &&
                strv_equal(a->client_allowed_sans, a->n_client_allowed_sans, b->client_allowed_sans,
                           b->n_client_allowed_sans) &&
                str_equal_or_null(a->gnutls_priorities, b->gnutls_priorities);
}

static void pem_done(WebPem *p, bool secret) {
        free(p->file);
        if (secret && p->inline_pem)
                explicit_bzero(p->inline_pem, strlen(p->inline_pem));
        free(p->inline_pem);
}

WebConfig *web_config_free(WebConfig *c) {
        if (!c)
                return NULL;
        free(c->path);
        pem_done(&c->cert, false);
        pem_done(&c->key, true);
        pem_done(&c->client_ca, false);
        strv_free(c->client_allowed_sans);
        strv_free(c->cipher_suites);
        strv_free(c->curve_preferences);
        free(c->gnutls_priorities);
        for (size_t i = 0; i < c->n_headers; i++) {
                free(c->headers[i].name);
                free(c->headers[i].value);
        }
        free(c->headers);
        for (size_t i = 0; i < c->n_users; i++) {
                free(c->users[i].name);
                free(c->users[i].hash);
        }
        free(c->users);
        free(c);
        return NULL;
}
