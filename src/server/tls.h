/* Server TLS material: the generated server CA and certificate, and the SSL_CTX of the
 * listeners. */
#ifndef CERTGATE_SERVER_TLS_H
#define CERTGATE_SERVER_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "server/config.h"

struct server_tls_files {
    char ca_cert[CONFIG_PATH_MAX + 32]; /* DATA_DIR/server-ca.pem */
    char ca_key[CONFIG_PATH_MAX + 32];
    char cert[CONFIG_PATH_MAX + 32]; /* the configured or generated server certificate */
    char key[CONFIG_PATH_MAX + 32];
};

/* server_tls_prepare: make sure DATA_DIR holds the server CA (created on first start,
 * EC P-256, 10 years) and, unless tls_cert/tls_key are configured, a server certificate
 * issued by it for localhost, 127.0.0.1, ::1 and the configured host name (re-issued when
 * it expires within 30 days). Loads the CA into *ca_cert / *ca_key (caller frees).
 * 0, or -1 with a sentence in err. Main thread. */
int server_tls_prepare(const struct server_config *cfg, struct server_tls_files *files,
                       X509 **ca_cert, EVP_PKEY **ca_key, char *err, size_t errlen);

/* The server's hooks into every handshake. */
struct server_tls_hooks {
    /* certificate verification (SSL_CTX_set_cert_verify_callback): judges the client's
     * chain; not called on a resumed handshake */
    int (*verify)(X509_STORE_CTX *ctx, void *arg);
    /* called once a handshake completed, resumed or not (before the protocol's on_open) */
    void (*handshake_done)(SSL *ssl, void *arg);
    void *arg;
};

/* server_tls_ctx_new: a server SSL_CTX (TLS 1.2 and 1.3) with the certificate chain and key
 * of `files`, requesting (not requiring) a client certificate, with the hooks; a stateful
 * server-side session cache of cfg->tls_session_cache sessions (no session tickets that
 * carry state to the client). NULL with a sentence in err. Any thread. */
SSL_CTX *server_tls_ctx_new(const struct server_tls_files *files, const struct server_config *cfg,
                            const struct server_tls_hooks *hooks, char *err, size_t errlen);

/* server_tls_session_attach: keep a copy of data[len] with the handshake's session, so that
 * a later resumption of it finds it (server_tls_session_data). The copy is immutable and
 * shared by the session's duplicates (OpenSSL duplicates a session on every TLS 1.3
 * resumption): keep it small. 0 or -ENOMEM. Call during the handshake (the verify
 * callback). */
int server_tls_session_attach(SSL *ssl, const void *data, size_t len);

/* server_tls_drop_presented_chain: in the cert verify callback, once the chain has been
 * judged: release the certificates the client sent besides its own (its intermediates), which
 * OpenSSL would otherwise keep with the session, parsed (~5 KB each), for as long as the
 * connection or the cached session lives. The client's certificate stays
 * (SSL_get0_peer_certificate); SSL_get_peer_cert_chain is empty afterwards. Only with OpenSSL
 * 3.0.x, whose libssl keeps exactly the callback's untrusted stack as the peer chain (checked
 * by tests/unit/server/test_tls.c); a no-op with other versions. */
void server_tls_drop_presented_chain(X509_STORE_CTX *xs);

/* server_tls_session_data: what was attached to the session of this connection, or NULL;
 * *len receives its size. The pointer lives as long as the session. */
const void *server_tls_session_data(SSL *ssl, size_t *len);

#endif
