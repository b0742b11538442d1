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

/* server_tls_ctx_new: a server SSL_CTX (TLS 1.2 and 1.3) with the certificate chain and key
 * of `files`, requesting (not requiring) a client certificate, with `verify` as the
 * certificate verification callback (SSL_CTX_set_cert_verify_callback). NULL with a
 * sentence in err. Any thread. */
SSL_CTX *server_tls_ctx_new(const struct server_tls_files *files,
                            int (*verify)(X509_STORE_CTX *ctx, void *arg), void *arg, char *err,
                            size_t errlen);

#endif
