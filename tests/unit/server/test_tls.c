/* The server's TLS context (server/tls.h), in memory: the identity attached to a session
 * survives resumptions (shared, not copied, by OpenSSL's session duplicates), every TLS 1.3
 * resumption issues a new ticket, and the intermediates a client sent are released after the
 * verdict (OpenSSL 3.0) while its own certificate stays. Run under ASan in CI: the shared
 * session data must be freed exactly once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/config.h"
#include "server/tls.h"
#include "support/testpki.h"
#include "support/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

static EVP_PKEY *k_root, *k_int, *k_leaf, *k_srv;
static X509 *root, *inter, *leaf, *srv_cert;
static char *dir;
static struct server_tls_files files;

/* What the hooks saw. */
static int verify_calls;
static int presented; /* certificates in the verify callback's untrusted stack */
static int done_calls;
static int done_resumed;
static char done_data[64];
static int client_tickets;

static const char IDENTITY[] = "tenant t1, device dev-1";

static int verify_hook(X509_STORE_CTX *xs, void *arg)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    verify_calls++;
    presented = sk_X509_num(X509_STORE_CTX_get0_untrusted(xs));
    assert_int_equal(server_tls_session_attach(ssl, IDENTITY, sizeof(IDENTITY)), 0);
    server_tls_drop_presented_chain(xs);
    X509_STORE_CTX_set_error(xs, X509_V_OK);
    return 1;
}

static void done_hook(SSL *ssl, void *arg)
{
    done_calls++;
    done_resumed = SSL_session_reused(ssl);
    size_t len = 0;
    const char *d = server_tls_session_data(ssl, &len);
    done_data[0] = '\0';
    if (d != NULL && len <= sizeof(done_data)) {
        memcpy(done_data, d, len);
    }
}

static const struct server_tls_hooks hooks = {.verify = verify_hook, .handshake_done = done_hook};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int group_setup(void **state)
{
    k_root = testpki_key_new(TESTPKI_EC_P256);
    k_int = testpki_key_new(TESTPKI_EC_P256);
    k_leaf = testpki_key_new(TESTPKI_EC_P256);
    k_srv = testpki_key_new(TESTPKI_EC_P256);
    root = testpki_cert(k_root, &(struct testpki_cert_opts){.subject = "/CN=Root", .ca = true});
    inter = testpki_cert(
        k_int, &(struct testpki_cert_opts){
                   .subject = "/CN=Devices", .ca = true, .issuer = root, .issuer_key = k_root});
    leaf = testpki_cert(k_leaf, &(struct testpki_cert_opts){.subject = "/CN=dev-1",
                                                            .issuer = inter,
                                                            .issuer_key = k_int,
                                                            .ext_key_usage = "clientAuth"});
    srv_cert = testpki_cert(k_srv, &(struct testpki_cert_opts){.subject = "/CN=localhost",
                                                               .issuer = root,
                                                               .issuer_key = k_root,
                                                               .ext_key_usage = "serverAuth"});
    dir = test_tmpdir("tls");
    snprintf(files.cert, sizeof(files.cert), "%s/server.pem", dir);
    snprintf(files.key, sizeof(files.key), "%s/server.key", dir);
    char *pem = testpki_pem(srv_cert);
    write_file(files.cert, pem);
    free(pem);
    pem = testpki_key_pem(k_srv);
    write_file(files.key, pem);
    free(pem);
    return 0;
}

static int group_teardown(void **state)
{
    X509_free(root);
    X509_free(inter);
    X509_free(leaf);
    X509_free(srv_cert);
    EVP_PKEY_free(k_root);
    EVP_PKEY_free(k_int);
    EVP_PKEY_free(k_leaf);
    EVP_PKEY_free(k_srv);
    test_rmtree(dir);
    free(dir);
    return 0;
}

static int on_client_ticket(SSL *ssl, SSL_SESSION *sess)
{
    client_tickets++;
    SSL_SESSION **keep = SSL_get_app_data(ssl);
    SSL_SESSION_free(*keep);
    *keep = sess;
    return 1;
}

static SSL_CTX *client_ctx(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    assert_non_null(c);
    SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    assert_int_equal(SSL_CTX_use_certificate(c, leaf), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(c, k_leaf), 1);
    assert_int_equal(SSL_CTX_add1_chain_cert(c, inter), 1);
    /* As OpenSSL clients keep tickets: each one used once, the newest kept. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, on_client_ticket);
    return c;
}

/* One connection over a BIO pair: handshake, the client reads the ticket, both close
 * cleanly. The server's SSL is returned for inspection (caller frees). */
static SSL *connect_once(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION **keep)
{
    SSL *s = SSL_new(sctx);
    SSL *c = SSL_new(cctx);
    assert_non_null(s);
    assert_non_null(c);
    BIO *sb = NULL, *cb = NULL;
    assert_int_equal(BIO_new_bio_pair(&sb, 0, &cb, 0), 1);
    SSL_set_bio(s, sb, sb);
    SSL_set_bio(c, cb, cb);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    SSL_set_app_data(c, keep);
    if (*keep != NULL) {
        assert_int_equal(SSL_set_session(c, *keep), 1);
    }
    int sdone = 0, cdone = 0;
    for (int i = 0; i < 50 && !(sdone && cdone); i++) {
        if (!cdone) {
            cdone = SSL_do_handshake(c) == 1;
        }
        if (!sdone) {
            sdone = SSL_do_handshake(s) == 1;
        }
    }
    assert_true(sdone && cdone);
    char buf[16];
    for (int i = 0; i < 4; i++) { /* tickets travel after the handshake */
        (void)SSL_read(c, buf, sizeof(buf));
        (void)SSL_read(s, buf, sizeof(buf));
    }
    (void)SSL_shutdown(c);
    (void)SSL_shutdown(s);
    SSL_free(c);
    ERR_clear_error();
    return s;
}

static void identity_follows_resumptions_and_chain_is_dropped(void **state)
{
    struct server_config cfg;
    server_config_defaults(&cfg);
    char err[256] = "";
    SSL_CTX *sctx = server_tls_ctx_new(&files, &cfg, &hooks, err, sizeof(err));
    assert_non_null(sctx);
    SSL_CTX *cctx = client_ctx();
    SSL_SESSION *keep = NULL;

    SSL *s = connect_once(sctx, cctx, &keep);
    assert_int_equal(verify_calls, 1);
    assert_int_equal(presented, 2); /* leaf + intermediate */
    assert_int_equal(done_calls, 1);
    assert_false(done_resumed);
    assert_string_equal(done_data, IDENTITY);
    X509 *peer = SSL_get0_peer_certificate(s);
    assert_non_null(peer);
    assert_int_equal(X509_cmp(peer, leaf), 0);
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(s);
    if ((OpenSSL_version_num() & 0xfff00000UL) == 0x30000000UL) {
        assert_int_equal(chain == NULL ? 0 : sk_X509_num(chain), 0);
    }
    SSL_free(s);
    assert_int_equal(client_tickets, 1);
    assert_non_null(keep);

    /* Resumptions: no verification, the identity is there, and each one brings a new
     * ticket (the client used the previous one). */
    for (int i = 0; i < 5; i++) {
        s = connect_once(sctx, cctx, &keep);
        assert_true(SSL_session_reused(s));
        assert_int_equal(verify_calls, 1);
        assert_true(done_resumed);
        assert_string_equal(done_data, IDENTITY);
        assert_int_equal(X509_cmp(SSL_get0_peer_certificate(s), leaf), 0);
        SSL_free(s);
        assert_int_equal(client_tickets, 2 + i);
    }
    SSL_SESSION_free(keep);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx); /* frees the cached sessions and with them the shared data */
}

static void no_cache_no_resumption(void **state)
{
    struct server_config cfg;
    server_config_defaults(&cfg);
    cfg.tls_session_cache = 0;
    char err[256] = "";
    SSL_CTX *sctx = server_tls_ctx_new(&files, &cfg, &hooks, err, sizeof(err));
    assert_non_null(sctx);
    SSL_CTX *cctx = client_ctx();
    SSL_SESSION *keep = NULL;
    int before = client_tickets;
    SSL *s = connect_once(sctx, cctx, &keep);
    assert_false(SSL_session_reused(s));
    SSL_free(s);
    assert_int_equal(client_tickets, before); /* no ticket at all */
    SSL_SESSION_free(keep);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_follows_resumptions_and_chain_is_dropped),
        cmocka_unit_test(no_cache_no_resumption),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
