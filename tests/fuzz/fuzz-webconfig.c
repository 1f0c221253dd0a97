/* Fuzz target: the whole input as a web config through
 * web_config_load_string(). Errors are written (to /dev/null) as the
 * daemon prints them; a config that loads is checked against what
 * webconfig.h promises the HTTP server: headers it can send as they are,
 * hashes libcrypt can take, one source per PEM, a priority string built
 * from known names only. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "webconfig.h"

static FILE *devnull(void) {
        static FILE *f;
        if (!f)
                f = fopen("/dev/null", "we");
        fuzz_check(f);
        return f;
}

static bool printable(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e)
                        return false;
        return true;
}

static void check_pem(const WebConfig *c, const WebPem *p, bool required) {
        fuzz_check(!(p->file && p->inline_pem));
        fuzz_check(!required || p->file || p->inline_pem);
        if (p->inline_pem)
                fuzz_check(strstr(p->inline_pem, "-----BEGIN "));
        if (!p->file && !p->inline_pem)
                return;
        fuzz_check(p->line > 0 && p->column > 0);
        if (p->file) {
                fuzz_check(p->file[0]);
                char *path = web_config_resolve(c, p->file);
                fuzz_check(path && strlen(path) >= strlen(p->file));
                fuzz_check(strcmp(path + strlen(path) - strlen(p->file), p->file) == 0);
                free(path);
        }
}

static void check_config(const WebConfig *c) {
        fuzz_check(c->path && strcmp(c->path, "fuzz/web.yml") == 0);
        fuzz_check(c->tls == (c->gnutls_priorities != NULL));
        if (c->tls) {
                bool has_ca = c->client_ca.file || c->client_ca.inline_pem;
                check_pem(c, &c->cert, true);
                check_pem(c, &c->key, true);
                check_pem(c, &c->client_ca, false);
                fuzz_check(web_client_auth_to_string(c->client_auth));
                fuzz_check(!has_ca || c->client_auth != WEB_CLIENT_AUTH_NONE);
                if (c->client_auth == WEB_CLIENT_AUTH_VERIFY_IF_GIVEN || c->client_auth == WEB_CLIENT_AUTH_REQUIRE_VERIFY)
                        fuzz_check(has_ca);
                if (c->n_client_allowed_sans > 0)
                        fuzz_check(c->client_auth == WEB_CLIENT_AUTH_REQUIRE_ANY ||
                                   c->client_auth == WEB_CLIENT_AUTH_REQUIRE_VERIFY);
                fuzz_check(c->min_version >= 10 && c->min_version <= c->max_version && c->max_version <= 13);
                fuzz_check(strncmp(c->gnutls_priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.", 28) == 0);
                fuzz_check(printable(c->gnutls_priorities) && !strchr(c->gnutls_priorities, ' '));
                fuzz_check((strstr(c->gnutls_priorities, "%SERVER_PRECEDENCE") != NULL) == c->prefer_server_cipher_suites);
                fuzz_check((strstr(c->gnutls_priorities, "-CIPHER-ALL") != NULL) == (c->n_cipher_suites > 0));
                fuzz_check((strstr(c->gnutls_priorities, "-GROUP-ALL") != NULL) == (c->n_curve_preferences > 0));
        } else {
                fuzz_check(!c->cert.file && !c->key.inline_pem && c->n_cipher_suites == 0);
        }
        for (size_t i = 0; i < c->n_client_allowed_sans; i++)
                fuzz_check(c->client_allowed_sans[i][0]);
        for (size_t i = 0; i < c->n_headers; i++) {
                fuzz_check(c->headers[i].name && printable(c->headers[i].name));
                fuzz_check(c->headers[i].value[0] && printable(c->headers[i].value));
        }
        for (size_t i = 0; i < c->n_users; i++) {
                const WebUser *u = &c->users[i];
                fuzz_check(u->name[0] && printable(u->name) && !strchr(u->name, ':'));
                fuzz_check(strlen(u->hash) == 60 && strncmp(u->hash, "$2", 2) == 0 && u->hash[6] == '$');
                for (size_t k = 0; k < i; k++)
                        fuzz_check(strcmp(c->users[k].name, u->name) != 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        ConfigErrors errs = { 0 };
        WebConfig *c = NULL, *again = NULL;

        int r = web_config_load_string("fuzz/web.yml", text, size, &c, &errs);
        if (r < 0) {
                fuzz_check(r == -EINVAL && !c);
                fuzz_check(errs.n > 0);
                for (size_t i = 0; i < errs.n; i++)
                        fuzz_check(errs.items[i].message && errs.items[i].line > 0);
                config_errors_write(&errs, "fuzz/web.yml", text, size, devnull());
                config_errors_clear(&errs);
                return 0;
        }
        fuzz_check(r == 0 && c && errs.n == 0);
        check_config(c);

        /* The same text is the same TLS setup, also from another name in
         * the same directory. */
        fuzz_check(web_config_load_string("fuzz/other.yml", text, size, &again, &errs) == 0);
        fuzz_check(web_config_tls_equal(c, again) && web_config_tls_equal(again, c));
        fuzz_check(web_config_tls_equal(c, NULL) == !c->tls);
        web_config_free(again);
        web_config_free(c);
        return 0;
}
