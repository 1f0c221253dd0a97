/* TLS material and the client certificate policy (see http_tls.h). */
#include "http_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

#include "util.h"

struct HttpTls {
        char *cert, *key, *trust; /* NUL-terminated PEM */
        char *priorities;
        WebClientAuth client_auth;
        char **allowed_sans;
        size_t n_allowed_sans;
};

/* The PEM of p: inline as written, or the file's contents. */
static char *pem_read(const WebConfig *c, const WebPem *p, const char *what, ConfigErrors *errs) {
        if (p->inline_pem)
                return xstrdup(p->inline_pem);
        if (!p->file)
                return NULL;
        _cleanup_free_ char *path = web_config_resolve(c, p->file);
        char *text = NULL;
        size_t len = 0;
        int r = config_read_file(path, &text, &len);
        if (r < 0) {
                config_errors_add(errs, p->line, p->column, "%s: cannot read '%s': %s", what, path, strerror(-r));
                return NULL;
        }
        if (strlen(text) != len) {
                config_errors_add(errs, p->line, p->column, "%s: '%s' is not a PEM file (it holds a NUL byte)", what,
                                  path);
                free(text);
                return NULL;
        }
        return text;
}

static gnutls_datum_t datum(const char *s) {
        return (gnutls_datum_t){ .data = (unsigned char *) s, .size = (unsigned) strlen(s) };
}

/* The server's chain and key parse and belong together. */
static void check_pair(const HttpTls *t, const WebConfig *c, ConfigErrors *errs) {
        gnutls_datum_t cd = datum(t->cert), kd = datum(t->key);
        gnutls_x509_crt_t *crts = NULL;
        unsigned n_crts = 0;
        int r = gnutls_x509_crt_list_import2(&crts, &n_crts, &cd, GNUTLS_X509_FMT_PEM, 0);
        if (r < 0 || n_crts == 0) {
                config_errors_add(errs, c->cert.line, c->cert.column, "%s: no certificate in PEM form: %s",
                                  c->cert.file ? "cert_file" : "cert", r < 0 ? gnutls_strerror(r) : "none found");
                return;
        }
        for (unsigned i = 0; i < n_crts; i++)
                gnutls_x509_crt_deinit(crts[i]);
        gnutls_free(crts);

        gnutls_x509_privkey_t pk;
        if (gnutls_x509_privkey_init(&pk) < 0)
                abort();
        r = gnutls_x509_privkey_import2(pk, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
        gnutls_x509_privkey_deinit(pk);
        if (r < 0) {
                config_errors_add(errs, c->key.line, c->key.column, "%s: no private key in PEM form: %s%s",
                                  c->key.file ? "key_file" : "key", gnutls_strerror(r),
                                  r == GNUTLS_E_DECRYPTION_FAILED ? " (an encrypted key is not supported)" : "");
                return;
        }

        gnutls_certificate_credentials_t cred;
        if (gnutls_certificate_allocate_credentials(&cred) < 0)
                abort();
        r = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (r < 0)
                config_errors_add(errs, c->key.line, c->key.column, "%s: the key does not go with the certificate: %s",
                                  c->key.file ? "key_file" : "key", gnutls_strerror(r));
        if (r >= 0 && t->trust) {
                gnutls_datum_t td = datum(t->trust);
                r = gnutls_certificate_set_x509_trust_mem(cred, &td, GNUTLS_X509_FMT_PEM);
                if (r <= 0)
                        config_errors_add(errs, c->client_ca.line, c->client_ca.column,
                                          "%s: no CA certificate in PEM form%s%s",
                                          c->client_ca.file ? "client_ca_file" : "client_ca", r < 0 ? ": " : "",
                                          r < 0 ? gnutls_strerror(r) : "");
        }
        gnutls_certificate_free_credentials(cred);
}

int http_tls_new(const WebConfig *c, HttpTls **ret, ConfigErrors *errs) {
        *ret = NULL;
        if (!c || !c->tls)
                return 0;
        size_t n_before = errs->n;
        HttpTls *t = xcalloc(1, sizeof(*t));
        t->cert = pem_read(c, &c->cert, c->cert.file ? "cert_file" : "cert", errs);
        t->key = pem_read(c, &c->key, c->key.file ? "key_file" : "key", errs);
        t->trust = pem_read(c, &c->client_ca, c->client_ca.file ? "client_ca_file" : "client_ca", errs);
        t->priorities = xstrdup(c->gnutls_priorities);
        t->client_auth = c->client_auth;
        if (c->n_client_allowed_sans > 0) {
                t->allowed_sans = xcalloc(c->n_client_allowed_sans, sizeof(char *));
                for (size_t i = 0; i < c->n_client_allowed_sans; i++)
                        t->allowed_sans[i] = xstrdup(c->client_allowed_sans[i]);
                t->n_allowed_sans = c->n_client_allowed_sans;
        }
        if (t->cert && t->key)
                check_pair(t, c, errs);

        gnutls_priority_t prio;
        const char *at = NULL;
        int r = gnutls_priority_init(&prio, t->priorities, &at);
        if (r < 0)
                config_errors_add(errs, 0, 0, "tls_server_config: GnuTLS does not take the priorities '%s'%s%s: %s",
                                  t->priorities, at ? " at " : "", at ? at : "", gnutls_strerror(r));
        else
                gnutls_priority_deinit(prio);

        if (errs->n > n_before) {
                http_tls_free(t);
                return -EINVAL;
        }
        *ret = t;
        return 0;
}

const char *http_tls_cert(const HttpTls *t) {
        return t ? t->cert : NULL;
}

const char *http_tls_key(const HttpTls *t) {
        return t ? t->key : NULL;
}

const char *http_tls_trust(const HttpTls *t) {
        return t ? t->trust : NULL;
}

const char *http_tls_priorities(const HttpTls *t) {
        return t ? t->priorities : NULL;
}

void http_tls_connection_started(const HttpTls *t, void *session, HttpTlsHook hook) {
        if (!t || !session)
                return;
        gnutls_certificate_request_t req = GNUTLS_CERT_IGNORE;
        switch (t->client_auth) {
        case WEB_CLIENT_AUTH_REQUEST:
        case WEB_CLIENT_AUTH_VERIFY_IF_GIVEN:
                req = GNUTLS_CERT_REQUEST;
                break;
        case WEB_CLIENT_AUTH_REQUIRE_ANY:
        case WEB_CLIENT_AUTH_REQUIRE_VERIFY:
                /* Not GNUTLS_CERT_REQUIRE: then GnuTLS would end a
                 * handshake without a certificate itself, uncounted; the
                 * hook refuses it instead. */
                req = GNUTLS_CERT_REQUEST;
                break;
        default:
                break;
        }
        gnutls_certificate_server_set_request(session, req);
        if (req != GNUTLS_CERT_IGNORE && hook)
                gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_FINISHED, GNUTLS_HOOK_POST,
                                                   (gnutls_handshake_hook_func) hook);
}

/* Whether one of the certificate's subject alternative names (DNS, IP,
 * e-mail or URI) is exactly one of the allowed ones. */
static bool san_allowed(const HttpTls *t, const gnutls_datum_t *der) {
        gnutls_x509_crt_t crt;
        bool ok = false;

        if (gnutls_x509_crt_init(&crt) < 0)
                abort();
        if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0) {
                gnutls_x509_crt_deinit(crt);
                return false;
        }
        for (unsigned i = 0; !ok && i < 64; i++) {
                char name[1024], text[INET6_ADDRSTRLEN];
                size_t size = sizeof(name) - 1;
                int type = gnutls_x509_crt_get_subject_alt_name(crt, i, name, &size, NULL);
                if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                if (type < 0)
                        continue;
                const char *s = NULL;
                if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16))
                        s = inet_ntop(size == 4 ? AF_INET : AF_INET6, name, text, sizeof(text));
                else if ((type == GNUTLS_SAN_DNSNAME || type == GNUTLS_SAN_RFC822NAME || type == GNUTLS_SAN_URI) &&
                         memchr(name, 0, size) == NULL) {
                        name[size] = 0;
                        s = name;
                }
                for (size_t k = 0; s && k < t->n_allowed_sans; k++)
                        if (strcmp(s, t->allowed_sans[k]) == 0)
                                ok = true;
        }
        gnutls_x509_crt_deinit(crt);
        return ok;
}

/* Why a verification status refuses a certificate. */
static const char *status_refusal(unsigned status) {
        if (status & GNUTLS_CERT_EXPIRED)
                return "the client certificate has expired";
        if (status & GNUTLS_CERT_NOT_ACTIVATED)
                return "the client certificate is not valid yet";
        if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
                return "the client certificate is not signed by client_ca";
        return status ? "the client certificate does not verify" : NULL;
}

const char *http_tls_client_refusal(const HttpTls *t, void *session) {
        if (!t || !session || t->client_auth == WEB_CLIENT_AUTH_NONE || t->client_auth == WEB_CLIENT_AUTH_REQUEST)
                return NULL;
        unsigned n = 0;
        const gnutls_datum_t *peers = gnutls_certificate_get_peers(session, &n);
        if (!peers || n == 0)
                return t->client_auth == WEB_CLIENT_AUTH_VERIFY_IF_GIVEN ? NULL : "no client certificate";
        if (t->client_auth != WEB_CLIENT_AUTH_REQUIRE_ANY) {
                unsigned status = 0;
                if (gnutls_certificate_verify_peers2(session, &status) < 0)
                        return "the client certificate could not be verified";
                if (status != 0)
                        return status_refusal(status);
        }
        if (t->n_allowed_sans > 0 && !san_allowed(t, &peers[0]))
                return "no subject alternative name of the client certificate is in client_allowed_sans";
        return NULL;
}

static bool str_equal(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

bool http_tls_equal(const HttpTls *a, const HttpTls *b) {
        if (!a || !b)
                return a == b;
        if (!str_equal(a->cert, b->cert) || !str_equal(a->key, b->key) || !str_equal(a->trust, b->trust) ||
            !str_equal(a->priorities, b->priorities) || a->client_auth != b->client_auth ||
            a->n_allowed_sans != b->n_allowed_sans)
                return false;
        for (size_t i = 0; i < a->n_allowed_sans; i++)
                if (strcmp(a->allowed_sans[i], b->allowed_sans[i]) != 0)
                        return false;
        return true;
}

HttpTls *http_tls_free(HttpTls *t) {
        if (!t)
                return NULL;
        free(t->cert);
        if (t->key) {
                gnutls_memset(t->key, 0, strlen(t->key));
                free(t->key);
        }
        free(t->trust);
        free(t->priorities);
        for (size_t i = 0; i < t->n_allowed_sans; i++)
                free(t->allowed_sans[i]);
        free(t->allowed_sans);
        free(t);
        return NULL;
}
