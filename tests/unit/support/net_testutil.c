#include "support/net_testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) {
        return -1;
    }
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

int test_cert_make(const char *cn, const struct test_cert *issuer, bool ca, struct test_cert *out)
{
    static long serial = 1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    if (key == NULL || cert == NULL) {
        goto fail;
    }
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), __atomic_add_fetch(&serial, 1, 0));
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509 *icert = issuer != NULL ? issuer->cert : cert;
    EVP_PKEY *ikey = issuer != NULL ? issuer->key : key;
    X509_set_issuer_name(cert, X509_get_subject_name(icert));
    X509_set_pubkey(cert, key);
    if (add_ext(cert, icert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE") < 0 ||
        add_ext(cert, icert, NID_key_usage,
                ca ? "critical,keyCertSign,cRLSign,digitalSignature" : "digitalSignature") < 0 ||
        add_ext(cert, icert, NID_subject_key_identifier, "hash") < 0) {
        goto fail;
    }
    if (!ca && add_ext(cert, icert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") < 0) {
        goto fail;
    }
    if (X509_sign(cert, ikey, EVP_sha256()) == 0) {
        goto fail;
    }
    out->key = key;
    out->cert = cert;
    return 0;
fail:
    ERR_print_errors_fp(stderr);
    EVP_PKEY_free(key);
    X509_free(cert);
    return -1;
}

void test_cert_cleanup(struct test_cert *c)
{
    EVP_PKEY_free(c->key);
    X509_free(c->cert);
    c->key = NULL;
    c->cert = NULL;
}

void test_cert_cn(X509 *cert, char *out, size_t n)
{
    out[0] = 0;
    if (cert != NULL &&
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)n) < 0) {
        out[0] = 0;
    }
}

SSL_CTX *test_tls_server_ctx(const struct test_cert *server, const struct test_cert *client_ca,
                             int (*verify_cb)(int ok, X509_STORE_CTX *store))
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate(ctx, server->cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, server->key) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (client_ca != NULL) {
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), client_ca->cert);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    }
    return ctx;
}

SSL_CTX *test_tls_client_ctx(const struct test_cert *trust, const struct test_cert *client)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        return NULL;
    }
    if (trust != NULL) {
        X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), trust->cert);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (client != NULL && (SSL_CTX_use_certificate(ctx, client->cert) != 1 ||
                           SSL_CTX_use_PrivateKey(ctx, client->key) != 1)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void test_client_set_timeout(struct test_client *c, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

int test_client_connect_tcp(struct test_client *c, uint16_t port)
{
    c->ssl = NULL;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        return -1;
    }
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

int test_client_connect(struct test_client *c, uint16_t port, SSL_CTX *ctx)
{
    if (test_client_connect_tcp(c, port) < 0) {
        return -1;
    }
    if (ctx == NULL) {
        return 0;
    }
    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        SSL_free(c->ssl);
        c->ssl = NULL;
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

int test_client_write(struct test_client *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w;
        if (c->ssl != NULL) {
            int r = SSL_write(c->ssl, b, n > 1 << 30 ? 1 << 30 : (int)n);
            if (r <= 0) {
                ERR_clear_error();
                return -1;
            }
            w = r;
        } else {
            w = send(c->fd, b, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                return -1;
            }
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t test_client_read(struct test_client *c, void *p, size_t n)
{
    if (c->ssl != NULL) {
        int r = SSL_read(c->ssl, p, n > 1 << 30 ? 1 << 30 : (int)n);
        if (r > 0) {
            return r;
        }
        int err = SSL_get_error(c->ssl, r);
        ERR_clear_error();
        return err == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    for (;;) {
        ssize_t r = recv(c->fd, p, n, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        return r;
    }
}

int test_client_read_exact(struct test_client *c, void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = test_client_read(c, b, n);
        if (r <= 0) {
            return -1;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

bool test_client_wait_closed(struct test_client *c, int timeout_ms)
{
    int64_t deadline = test_now_ms() + timeout_ms;
    uint8_t tmp[4096];
    for (;;) {
        int64_t left = deadline - test_now_ms();
        if (left <= 0) {
            return false;
        }
        if (c->ssl == NULL || SSL_pending(c->ssl) == 0) {
            struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
            int pr = poll(&pfd, 1, (int)left);
            if (pr == 0) {
                return false;
            }
        }
        ssize_t r;
        if (c->ssl != NULL) {
            int n = SSL_read(c->ssl, tmp, sizeof(tmp));
            if (n > 0) {
                continue;
            }
            int err = SSL_get_error(c->ssl, n);
            ERR_clear_error();
            if (err == SSL_ERROR_WANT_READ) {
                continue;
            }
            return true; /* close_notify, EOF or reset */
        }
        r = recv(c->fd, tmp, sizeof(tmp), 0);
        if (r > 0 || (r < 0 && (errno == EINTR || errno == EAGAIN))) {
            continue;
        }
        return true;
    }
}

void test_client_close(struct test_client *c)
{
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl);
        ERR_clear_error();
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

int64_t test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void test_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

bool test_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
    int64_t deadline = test_now_ms() + timeout_ms;
    for (;;) {
        if (cond(arg)) {
            return true;
        }
        if (test_now_ms() >= deadline) {
            return cond(arg);
        }
        test_sleep_ms(1);
    }
}

size_t test_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return 0;
    }
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %zu kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}
