/* TLS for the HTTP server: the web config's certificate, key, client CA
 * and policy, loaded and checked with GnuTLS before the server starts
 * (libmicrohttpd then does the handshakes with the same PEMs), and the
 * client certificate policy applied to each connection.
 *
 * client_auth_type, as GnuTLS does it:
 *  - NoClientCert: no certificate is asked for;
 *  - RequestClientCert: asked for; none, or any, is accepted unchecked;
 *  - RequireAnyClientCert: the handshake fails without one; not checked;
 *  - VerifyClientCertIfGiven: asked for; one that is sent must verify
 *    against the client CA (chain, validity period);
 *  - RequireAndVerifyClientCert: the handshake fails without one, and it
 *    must verify.
 * The policy is applied in the handshake, once the client has sent its
 * certificate (or none) and its Finished: a refused certificate (or none
 * where one is required) fails the handshake with an alert to the client.
 * Only then: requests are not checked again (every connection makes a
 * full handshake; the server gives no session tickets). */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "webconfig.h"

typedef struct HttpTls HttpTls;

/* Reads and checks what c names for TLS (files resolved against c's
 * directory): the certificate chain and key parse and belong together,
 * the client CA holds certificates, the priorities are GnuTLS's. Every
 * problem is appended to errs at the place of its key. Returns 0 with
 * *ret NULL when c has no tls_server_config, 0 with a new *ret, or
 * -EINVAL. */
int http_tls_new(const WebConfig *c, HttpTls **ret, ConfigErrors *errs);

/* NUL-terminated PEMs and the GnuTLS priority string, for
 * MHD_OPTION_HTTPS_MEM_CERT, _MEM_KEY, _MEM_TRUST (NULL without a client
 * CA) and _PRIORITIES; they live as long as t. */
const char *http_tls_cert(const HttpTls *t);
const char *http_tls_key(const HttpTls *t);
const char *http_tls_trust(const HttpTls *t);
const char *http_tls_priorities(const HttpTls *t);

/* A gnutls_handshake_hook_func: called with the session when a Finished
 * message has been read (the client's: with "incoming" set), by then its
 * certificate, or none, is in; non-zero fails the handshake (the
 * caller's hook applies http_tls_client_refusal()). */
typedef int (*HttpTlsHook)(void *gnutls_session, unsigned htype, unsigned when, unsigned incoming,
                           const void *msg);

/* A connection started: asks for (or requires) a client certificate on
 * its GnuTLS session as the policy says, and has hook called once the
 * client has sent its certificate (or none) and its Finished. */
void http_tls_connection_started(const HttpTls *t, void *gnutls_session, HttpTlsHook hook);
/* In the handshake (the hook): NULL when the client's certificate satisfies the
 * policy, else why not (for the log; never sent to the client). */
const char *http_tls_client_refusal(const HttpTls *t, void *gnutls_session);

/* Same PEMs, priorities and policy (both NULL are equal). */
bool http_tls_equal(const HttpTls *a, const HttpTls *b);

HttpTls *http_tls_free(HttpTls *t); /* accepts NULL, returns NULL */
