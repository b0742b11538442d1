#define LOG_MODULE "tls"
#include "server/tls.h"

#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/cert.h"
#include "pki/issue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static int make_ca(const struct server_tls_files *f, const char *hostname, char *err, size_t errlen)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *certs = NULL;
    int rc = -1;
    char why[256] = "";
    char subject[512];
    snprintf(subject, sizeof(subject), "CN=certgate server CA %.200s,O=certgate",
             hostname[0] ? hostname : "localhost");
    struct pki_issue_request req;
    pki_issue_request_init(&req, PKI_ISSUE_ROOT_CA, subject, time_now_ms(), 3650);
    req.pathlen = 0;
    if (pki_issue_key_new(PKI_ISSUE_KEY_EC_P256, &key) < 0 ||
        pki_issue_cert(&req, key, NULL, key, &cert, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "cannot create the server CA: %s", why);
        goto out;
    }
    certs = sk_X509_new_null();
    if (certs == NULL || !sk_X509_push(certs, cert)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    cert = NULL; /* owned by certs */
    if (pki_issue_key_save(f->ca_key, key, NULL, 0, why, sizeof(why)) < 0 ||
        pki_issue_certs_save(f->ca_cert, certs, 0, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "cannot write the server CA: %s", why);
        goto out;
    }
    log_info("created the server CA %s (give it to devices as their trust anchor)", f->ca_cert);
    rc = 0;
out:
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

/* Whether the server certificate at path expires within `days` (or cannot be read). */
static bool expires_soon(const char *path, int days)
{
    STACK_OF(X509) *certs = NULL;
    char why[256];
    if (pki_issue_certs_load(path, &certs, why, sizeof(why)) < 0) {
        return true;
    }
    int64_t not_after = 0;
    bool soon = pki_asn1_time_ms(X509_get0_notAfter(sk_X509_value(certs, 0)), &not_after) < 0 ||
                not_after < time_now_ms() + (int64_t)days * 86400 * 1000;
    sk_X509_pop_free(certs, X509_free);
    return soon;
}

static int make_server_cert(const struct server_tls_files *f, X509 *ca, EVP_PKEY *ca_key,
                            const char *hostname, char *err, size_t errlen)
{
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *certs = NULL;
    int rc = -1;
    char why[256] = "";
    const char *dns[2] = {"localhost", hostname};
    const char *ips[2] = {"127.0.0.1", "::1"};
    struct pki_issue_request req;
    char subject[512];
    snprintf(subject, sizeof(subject), "CN=%.200s,O=certgate",
             hostname[0] ? hostname : "localhost");
    pki_issue_request_init(&req, PKI_ISSUE_SERVER, subject, time_now_ms(), 397);
    req.dns = dns;
    req.ndns = hostname[0] && strcmp(hostname, "localhost") != 0 ? 2 : 1;
    req.ips = ips;
    req.nips = 2;
    if (pki_issue_key_new(PKI_ISSUE_KEY_EC_P256, &key) < 0 ||
        pki_issue_cert(&req, key, ca, ca_key, &cert, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "cannot create the server certificate: %s", why);
        goto out;
    }
    certs = sk_X509_new_null();
    if (certs == NULL || !sk_X509_push(certs, cert)) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    cert = NULL;
    if (pki_issue_key_save(f->key, key, NULL, PKI_ISSUE_SAVE_FORCE, why, sizeof(why)) < 0 ||
        pki_issue_certs_save(f->cert, certs, PKI_ISSUE_SAVE_FORCE, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "cannot write the server certificate: %s", why);
        goto out;
    }
    log_info("issued the server certificate %s for localhost%s%s, 127.0.0.1 and ::1", f->cert,
             req.ndns > 1 ? ", " : "", req.ndns > 1 ? hostname : "");
    rc = 0;
out:
    EVP_PKEY_free(key);
    X509_free(cert);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

int server_tls_prepare(const struct server_config *cfg, struct server_tls_files *f, X509 **ca_cert,
                       EVP_PKEY **ca_key, char *err, size_t errlen)
{
    char why[256] = "";
    STACK_OF(X509) *cas = NULL;
    EVP_PKEY *key = NULL;
    snprintf(f->ca_cert, sizeof(f->ca_cert), "%s/server-ca.pem", cfg->data_dir);
    snprintf(f->ca_key, sizeof(f->ca_key), "%s/server-ca.key", cfg->data_dir);
    if (!exists(f->ca_cert) || !exists(f->ca_key)) {
        if (exists(f->ca_cert) != exists(f->ca_key)) {
            snprintf(err, errlen, "%s and %s must both exist or both be absent", f->ca_cert,
                     f->ca_key);
            return -1;
        }
        if (make_ca(f, cfg->hostname, err, errlen) < 0) {
            return -1;
        }
    }
    if (pki_issue_certs_load(f->ca_cert, &cas, why, sizeof(why)) < 0 ||
        pki_issue_key_load(f->ca_key, NULL, &key, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "cannot load the server CA: %s", why);
        sk_X509_pop_free(cas, X509_free);
        return -1;
    }
    X509 *ca = sk_X509_shift(cas);
    sk_X509_pop_free(cas, X509_free);
    if (cfg->tls_cert[0] != 0 || cfg->tls_key[0] != 0) {
        if (cfg->tls_cert[0] == 0 || cfg->tls_key[0] == 0) {
            snprintf(err, errlen, "tls_cert and tls_key must be given together");
            goto fail;
        }
        str_lcpy(f->cert, cfg->tls_cert, sizeof(f->cert));
        str_lcpy(f->key, cfg->tls_key, sizeof(f->key));
    } else {
        snprintf(f->cert, sizeof(f->cert), "%s/server.pem", cfg->data_dir);
        snprintf(f->key, sizeof(f->key), "%s/server.key", cfg->data_dir);
        if (!exists(f->cert) || !exists(f->key) || expires_soon(f->cert, 30)) {
            if (make_server_cert(f, ca, key, cfg->hostname, err, errlen) < 0) {
                goto fail;
            }
        }
    }
    *ca_cert = ca;
    *ca_key = key;
    return 0;
fail:
    X509_free(ca);
    EVP_PKEY_free(key);
    return -1;
}

static void ssl_error_text(char *out, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        str_lcpy(out, "unknown TLS error", len);
    } else {
        ERR_error_string_n(e, out, len);
    }
    ERR_clear_error();
}

#define TLS13_CIPHERSUITES                                                                         \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* Data attached to a session: an immutable, reference-counted copy. OpenSSL duplicates a
 * session on every TLS 1.3 resumption (once when it looks the session up, once more for the
 * ticket it issues); a duplicate shares the data instead of copying it. */
struct session_blob {
    atomic_int refs;
    size_t len;
    unsigned char data[];
};

static int session_index = -1;
static pthread_once_t session_index_once = PTHREAD_ONCE_INIT;

static void blob_unref(struct session_blob *b)
{
    if (b != NULL && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
        secure_zero(b->data, b->len);
        free(b);
    }
}

static void blob_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    blob_unref(ptr);
}

static int blob_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                    long argl, void *argp)
{
    /* *from_d holds the source pointer, which the duplicate keeps: one more reference. */
    struct session_blob *src = *(struct session_blob **)from_d;
    if (src != NULL) {
        atomic_fetch_add_explicit(&src->refs, 1, memory_order_relaxed);
    }
    return 1;
}

static void make_session_index(void)
{
    session_index = SSL_SESSION_get_ex_new_index(0, NULL, NULL, blob_dup, blob_free);
}

int server_tls_session_attach(SSL *ssl, const void *data, size_t len)
{
    pthread_once(&session_index_once, make_session_index);
    SSL_SESSION *sess = SSL_get_session(ssl);
    if (sess == NULL || session_index < 0) {
        return -EINVAL;
    }
    struct session_blob *b = malloc(sizeof(*b) + len);
    if (b == NULL) {
        return -ENOMEM;
    }
    atomic_init(&b->refs, 1);
    b->len = len;
    memcpy(b->data, data, len);
    struct session_blob *old = SSL_SESSION_get_ex_data(sess, session_index);
    if (!SSL_SESSION_set_ex_data(sess, session_index, b)) {
        blob_unref(b);
        return -ENOMEM;
    }
    blob_unref(old);
    return 0;
}

void server_tls_drop_presented_chain(X509_STORE_CTX *xs)
{
    /* In OpenSSL 3.0 the untrusted stack of the verify callback's context is the stack of
     * the client's certificates that libssl keeps afterwards as the session's peer chain
     * (tls_process_client_certificate: the leaf is shifted off into the session's peer, the
     * rest stays as peer_chain), and the session is not shared yet. Other versions may hand
     * over something else: leave them alone. */
#if OPENSSL_VERSION_NUMBER >= 0x30000000L && OPENSSL_VERSION_NUMBER < 0x30100000L
    if ((OpenSSL_version_num() & 0xfff00000UL) != 0x30000000UL) {
        return;
    }
    STACK_OF(X509) *sk = X509_STORE_CTX_get0_untrusted(xs);
    if (sk == NULL || sk_X509_num(sk) < 2 || sk_X509_value(sk, 0) != X509_STORE_CTX_get0_cert(xs)) {
        return;
    }
    while (sk_X509_num(sk) > 1) {
        X509_free(sk_X509_pop(sk));
    }
#else
    (void)xs;
#endif
}

const void *server_tls_session_data(SSL *ssl, size_t *len)
{
    pthread_once(&session_index_once, make_session_index);
    SSL_SESSION *sess = SSL_get_session(ssl);
    struct session_blob *b =
        sess && session_index >= 0 ? SSL_SESSION_get_ex_data(sess, session_index) : NULL;
    if (b == NULL) {
        return NULL;
    }
    *len = b->len;
    return b->data;
}

static void info_callback(const SSL *ssl, int where, int ret)
{
    if (!(where & SSL_CB_HANDSHAKE_DONE)) {
        return;
    }
    const struct server_tls_hooks *h = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (h != NULL && h->handshake_done != NULL) {
        h->handshake_done((SSL *)ssl, h->arg);
    }
}

SSL_CTX *server_tls_ctx_new(const struct server_tls_files *f, const struct server_config *cfg,
                            const struct server_tls_hooks *hooks, char *err, size_t errlen)
{
    pthread_once(&session_index_once, make_session_index);
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* TLS 1.3 suites, AES-128 first (OpenSSL's default order puts AES-256-GCM-SHA384 first):
     * the key schedule then runs on SHA-256, which this class of CPU computes in hardware;
     * about 5 % fewer instructions per resumed handshake (docs/benchmarks.md). */
    if (SSL_CTX_set_ciphersuites(ctx, TLS13_CIPHERSUITES) != 1) {
        ssl_error_text(why, sizeof(why));
        snprintf(err, errlen, "cannot set the TLS 1.3 cipher suites: %s", why);
        goto fail;
    }
    /* The certificate chain is set explicitly: no chain building per handshake. */
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
    if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
        ssl_error_text(why, sizeof(why));
        snprintf(err, errlen, "cannot load the server certificate %s: %s", f->cert, why);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_error_text(why, sizeof(why));
        snprintf(err, errlen, "cannot load the server key %s (or it does not match %s): %s", f->key,
                 f->cert, why);
        goto fail;
    }
    /* Ask for a client certificate but do not require one: devices authenticate with it,
     * users with passwords; the verdict is made by `verify` and recorded per connection. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, hooks->verify, hooks->arg);
    SSL_CTX_set_app_data(ctx, (void *)hooks);
    SSL_CTX_set_info_callback(ctx, info_callback);
    /* Resumption is stateful: the session (with the verified identity attached by the
     * verify callback) stays in this process; the client only gets its id. No state
     * travels in tickets, so nothing is parsed again on resumption. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    static const unsigned char sid_ctx[] = "certgate";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (cfg->tls_session_cache > 0) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, cfg->tls_session_cache);
        SSL_CTX_set_timeout(ctx, cfg->tls_session_timeout);
        SSL_CTX_set_num_tickets(ctx, 1);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}
