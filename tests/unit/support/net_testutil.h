/* Helpers for tests that talk to a real server over 127.0.0.1: certificates made with
 * OpenSSL directly, TLS contexts, and blocking clients with timeouts (a test can fail but
 * never hang). Link with OpenSSL::SSL (cg_net does).
 */
#ifndef CERTGATE_TEST_NET_TESTUTIL_H
#define CERTGATE_TEST_NET_TESTUTIL_H

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct test_cert {
    EVP_PKEY *key;
    X509 *cert;
};

/* test_cert_make: an EC P-256 key and an X.509 v3 certificate with CN=cn, valid for a day,
 * signed by issuer (or self-signed when issuer is NULL). `ca` adds CA:TRUE and keyCertSign.
 * 0 or -1. */
int test_cert_make(const char *cn, const struct test_cert *issuer, bool ca, struct test_cert *out);
void test_cert_cleanup(struct test_cert *c);

/* test_cert_cn: the subject CN of cert into out[n] ("" if none). */
void test_cert_cn(X509 *cert, char *out, size_t n);

/* test_tls_server_ctx: a TLS 1.2+ server context with cert/key. With client_ca, client
 * certificates are requested (not required) and client_ca is trusted; verify_cb (may be
 * NULL) is installed as the verify callback. NULL on failure. */
SSL_CTX *test_tls_server_ctx(const struct test_cert *server, const struct test_cert *client_ca,
                             int (*verify_cb)(int ok, X509_STORE_CTX *store));

/* test_tls_client_ctx: a client context; trust (may be NULL: no server verification) is
 * the trusted server certificate, client (may be NULL) the client certificate. */
SSL_CTX *test_tls_client_ctx(const struct test_cert *trust, const struct test_cert *client);

/* A blocking client with 10 s send/receive timeouts. */
struct test_client {
    int fd;
    SSL *ssl; /* NULL for plain TCP */
};

/* test_client_connect: connect to 127.0.0.1:port; with ctx, complete a TLS handshake.
 * 0 or -1 (c->fd = -1). */
int test_client_connect(struct test_client *c, uint16_t port, SSL_CTX *ctx);

/* test_client_connect_tcp: TCP only (for tests that then speak TLS or garbage by hand). */
int test_client_connect_tcp(struct test_client *c, uint16_t port);

/* test_client_write: write all of p[n]. 0 or -1. */
int test_client_write(struct test_client *c, const void *p, size_t n);

/* test_client_read: up to n bytes; > 0, 0 at EOF (or TLS close_notify), -1 on error or
 * timeout. */
ssize_t test_client_read(struct test_client *c, void *p, size_t n);

/* test_client_read_exact: exactly n bytes. 0 or -1. */
int test_client_read_exact(struct test_client *c, void *p, size_t n);

/* test_client_wait_closed: read and discard until the server closes the connection (EOF,
 * reset or TLS close). true when that happened within timeout_ms. */
bool test_client_wait_closed(struct test_client *c, int timeout_ms);

/* test_client_set_timeout: receive timeout in ms (default 10000). */
void test_client_set_timeout(struct test_client *c, int ms);

/* test_client_close: TLS close_notify (if TLS), close the socket, free the SSL. */
void test_client_close(struct test_client *c);

/* test_wait_until: poll cond(arg) every millisecond up to timeout_ms; its last value. */
bool test_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* test_now_ms: monotonic milliseconds. */
int64_t test_now_ms(void);

/* test_sleep_ms: sleep. */
void test_sleep_ms(int ms);

/* test_rss_bytes: resident set size of this process (from /proc/self/status). */
size_t test_rss_bytes(void);

#endif
