/* Issuance I/O: safe file writes, PEM keys and certificates, PKCS#12 keystores. */
#include "pki/issue.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "pki/issue_util.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#define KEY_FILE_MAX (1u << 20)
#define CERT_FILE_MAX (4u << 20)
#define CERTS_MAX 64

/* ---- files ----------------------------------------------------------------------------- */

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Best effort: make a rename or creation in path's directory durable. */
static void sync_parent(const char *path)
{
    char copy[PATH_MAX];
    if (str_lcpy(copy, path, sizeof(copy)) >= sizeof(copy)) {
        return;
    }
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

/* Create `path` exclusively with `mode`, write, fsync, close; unlink it on failure. */
static int create_and_write(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        return -errno;
    }
    int rc = write_all(fd, data, len);
    if (rc == 0 && fsync(fd) != 0) {
        rc = -errno;
    }
    if (close(fd) != 0 && rc == 0) {
        rc = -errno;
    }
    if (rc < 0) {
        unlink(path);
    }
    return rc;
}

int pki_issue_file_save(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                        char *why, size_t whylen)
{
    char *tmp = NULL;
    int rc;
    if (path == NULL || path[0] == 0 || (data == NULL && len > 0)) {
        pki_issue_why(why, whylen, "no file name given");
        return -EINVAL;
    }
    if ((flags & PKI_ISSUE_SAVE_FORCE) == 0) {
        rc = create_and_write(path, data, len, mode);
        if (rc == -EEXIST) {
            pki_issue_why(why, whylen, "'%s' already exists", path);
        } else if (rc < 0) {
            pki_issue_why(why, whylen, "cannot write '%s': %s", path, cg_strerror(rc));
        } else {
            sync_parent(path);
        }
        return rc;
    }
    /* Replace atomically: a fresh file beside the target, renamed over it. */
    for (int attempt = 0; attempt < 8; attempt++) {
        uint8_t rnd[6];
        char hex[13];
        rc = random_bytes(rnd, sizeof(rnd));
        if (rc < 0) {
            break;
        }
        hex_encode(rnd, sizeof(rnd), hex);
        free(tmp);
        tmp = str_printf("%s.tmp-%s", path, hex);
        if (tmp == NULL) {
            rc = -ENOMEM;
            break;
        }
        rc = create_and_write(tmp, data, len, mode);
        if (rc != -EEXIST) {
            break;
        }
    }
    if (rc < 0) {
        pki_issue_why(why, whylen, "cannot write a temporary file beside '%s': %s", path,
                      cg_strerror(rc));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = -errno;
        unlink(tmp);
        pki_issue_why(why, whylen, "cannot replace '%s': %s", path, cg_strerror(rc));
        goto out;
    }
    sync_parent(path);
    rc = 0;
out:
    free(tmp);
    return rc;
}

/* Read a whole file (at most `max` bytes) into `out`, which is always initialised here and
 * which the caller cleans up (zeroing it). */
static int read_file(const char *path, size_t max, struct buf *out, char *why, size_t whylen)
{
    int rc = 0;
    buf_init(out, max);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        pki_issue_why(why, whylen, "cannot open '%s': %s", path, cg_strerror(rc));
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        pki_issue_why(why, whylen, "'%s' is a directory", path);
        return -EISDIR;
    }
    for (;;) {
        size_t room = 0;
        uint8_t probe;
        uint8_t *tail = out->len < max ? buf_tail(out, &room) : &probe;
        if (out->len < max && tail == NULL) {
            rc = -ENOMEM;
            pki_issue_why(why, whylen, "cannot read '%s': %s", path, cg_strerror(rc));
            break;
        }
        if (out->len == max) {
            room = 1; /* one more byte would be one too many */
        }
        ssize_t r = read(fd, tail, room);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            rc = -errno;
            pki_issue_why(why, whylen, "cannot read '%s': %s", path, cg_strerror(rc));
            break;
        }
        if (r == 0) {
            break;
        }
        if (tail == &probe) {
            rc = CG_ELIMIT;
            pki_issue_why(why, whylen, "'%s' is larger than %zu bytes", path, max);
            break;
        }
        buf_commit(out, (size_t)r);
    }
    close(fd);
    return rc;
}

/* ---- keys ---------------------------------------------------------------------------- */

int pki_issue_key_pem(EVP_PKEY *key, const char *passphrase, struct buf *out)
{
    int rc = CG_ECRYPTO;
    BIO *bio = NULL;
    if (key == NULL || out == NULL) {
        return -EINVAL;
    }
    if (passphrase != NULL) {
        size_t n = strlen(passphrase);
        if (n < PKI_ISSUE_PASSPHRASE_MIN || n > PKI_ISSUE_PASSPHRASE_MAX) {
            return -EINVAL;
        }
    }
    /* A secure-memory BIO: its buffers are cleared when freed. */
    bio = BIO_new(BIO_s_secmem());
    if (bio == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    int ok;
    if (passphrase != NULL) {
        ok = PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_256_cbc(), passphrase,
                                           (int)strlen(passphrase), NULL, NULL);
    } else {
        ok = PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    }
    if (!ok) {
        goto out;
    }
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0) {
        goto out;
    }
    rc = buf_append(out, data, (size_t)n);
out:
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

struct pass_ctx {
    const char *pass;
    bool asked;
};

/* Never prompts: answers with the caller's passphrase or fails. */
static int pass_cb(char *out, int size, int rwflag, void *u)
{
    struct pass_ctx *ctx = u;
    ctx->asked = true;
    if (ctx->pass == NULL) {
        return -1;
    }
    size_t n = strlen(ctx->pass);
    if (size <= 0 || n > (size_t)size) {
        return -1;
    }
    memcpy(out, ctx->pass, n);
    return (int)n;
}

int pki_issue_key_parse(const void *pem, size_t len, const char *passphrase, const char *what,
                        EVP_PKEY **out, char *why, size_t whylen)
{
    int rc = CG_EPARSE;
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    struct pass_ctx ctx = {passphrase, false};
    if (what == NULL) {
        what = "the key";
    }
    if (pem == NULL || out == NULL || len > INT_MAX) {
        pki_issue_why(why, whylen, "no key data");
        return -EINVAL;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        rc = -ENOMEM;
        pki_issue_why(why, whylen, "out of memory");
        goto out;
    }
    key = PEM_read_bio_PrivateKey_ex(bio, NULL, pass_cb, &ctx, NULL, NULL);
    if (key == NULL) {
        if (ctx.asked && passphrase == NULL) {
            rc = -ENOKEY;
            pki_issue_why(why, whylen, "%s is encrypted: its passphrase is needed", what);
        } else if (ctx.asked) {
            rc = CG_EDENIED;
            pki_issue_why(why, whylen, "wrong passphrase for %s", what);
        } else {
            rc = CG_EPARSE;
            pki_issue_why_crypto(why, whylen, "%s holds no PEM private key", what);
        }
        goto out;
    }
    *out = key;
    key = NULL;
    rc = 0;
out:
    EVP_PKEY_free(key);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

int pki_issue_key_load(const char *path, const char *passphrase, EVP_PKEY **out, char *why,
                       size_t whylen)
{
    struct buf data;
    char what[PATH_MAX + 8];
    if (path == NULL || out == NULL) {
        pki_issue_why(why, whylen, "no key file given");
        return -EINVAL;
    }
    int rc = read_file(path, KEY_FILE_MAX, &data, why, whylen);
    if (rc == 0) {
        snprintf(what, sizeof(what), "'%s'", path);
        rc = pki_issue_key_parse(buf_data(&data), data.len, passphrase, what, out, why, whylen);
    }
    buf_cleanup(&data); /* zeroes the copy of the key */
    return rc;
}

int pki_issue_key_save(const char *path, EVP_PKEY *key, const char *passphrase, unsigned flags,
                       char *why, size_t whylen)
{
    struct buf pem;
    buf_init(&pem, KEY_FILE_MAX);
    int rc = pki_issue_key_pem(key, passphrase, &pem);
    if (rc == -EINVAL) {
        pki_issue_why(why, whylen, "the passphrase must be %d to %d characters long",
                      PKI_ISSUE_PASSPHRASE_MIN, PKI_ISSUE_PASSPHRASE_MAX);
    } else if (rc < 0) {
        pki_issue_why(why, whylen, "cannot encode the key for '%s': %s", path ? path : "",
                      cg_strerror(rc));
    } else {
        rc = pki_issue_file_save(path, buf_data(&pem), pem.len, 0600, flags, why, whylen);
    }
    buf_cleanup(&pem);
    return rc;
}

/* ---- certificates ---------------------------------------------------------------------- */

int pki_issue_certs_pem(const STACK_OF(X509) * certs, struct buf *out)
{
    int rc = CG_ECRYPTO;
    BIO *bio = NULL;
    if (certs == NULL || out == NULL) {
        return -EINVAL;
    }
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL) {
        return -ENOMEM;
    }
    for (int i = 0; i < sk_X509_num(certs); i++) {
        if (PEM_write_bio_X509(bio, sk_X509_value(certs, i)) != 1) {
            goto out;
        }
    }
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    rc = n > 0 ? buf_append(out, data, (size_t)n) : 0;
out:
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

int pki_issue_certs_save(const char *path, const STACK_OF(X509) * certs, unsigned flags, char *why,
                         size_t whylen)
{
    struct buf pem;
    buf_init(&pem, CERT_FILE_MAX);
    int rc = pki_issue_certs_pem(certs, &pem);
    if (rc < 0) {
        pki_issue_why(why, whylen, "cannot encode the certificates for '%s': %s", path ? path : "",
                      cg_strerror(rc));
    } else {
        rc = pki_issue_file_save(path, buf_data(&pem), pem.len, 0644, flags, why, whylen);
    }
    buf_cleanup(&pem);
    return rc;
}

static int no_pass_cb(char *out, int size, int rwflag, void *u)
{
    return -1;
}

static bool looks_like_pem(const uint8_t *p, size_t n)
{
    static const char marker[] = "-----BEGIN ";
    for (size_t i = 0; i + sizeof(marker) - 1 <= n; i++) {
        if (memcmp(p + i, marker, sizeof(marker) - 1) == 0) {
            return true;
        }
    }
    return false;
}

int pki_issue_certs_parse(const void *data, size_t len, const char *what, STACK_OF(X509) * *out,
                          char *why, size_t whylen)
{
    int rc = CG_EPARSE;
    STACK_OF(X509) *certs = NULL;
    BIO *bio = NULL;
    X509 *x = NULL;
    if (what == NULL) {
        what = "the input";
    }
    if (data == NULL || out == NULL || len > INT_MAX) {
        pki_issue_why(why, whylen, "no certificate data");
        return -EINVAL;
    }
    certs = sk_X509_new_null();
    if (certs == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (!looks_like_pem(data, len)) {
        const unsigned char *p = data;
        x = d2i_X509(NULL, &p, (long)len);
        if (x == NULL || p != (const unsigned char *)data + len) {
            pki_issue_why_crypto(why, whylen, "%s holds no PEM or DER certificate", what);
            rc = CG_EPARSE;
            goto out;
        }
        if (!sk_X509_push(certs, x)) {
            rc = -ENOMEM;
            goto out;
        }
        x = NULL;
    } else {
        bio = BIO_new_mem_buf(data, (int)len);
        if (bio == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        for (;;) {
            ERR_clear_error();
            x = PEM_read_bio_X509(bio, NULL, no_pass_cb, NULL);
            if (x == NULL) {
                unsigned long e = ERR_peek_last_error();
                if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                    break; /* no further certificate */
                }
                pki_issue_why_crypto(why, whylen, "certificate %d in %s is damaged",
                                     sk_X509_num(certs) + 1, what);
                rc = CG_EPARSE;
                goto out;
            }
            if (sk_X509_num(certs) >= CERTS_MAX) {
                pki_issue_why(why, whylen, "%s holds more than %d certificates", what, CERTS_MAX);
                rc = CG_ELIMIT;
                goto out;
            }
            if (!sk_X509_push(certs, x)) {
                rc = -ENOMEM;
                goto out;
            }
            x = NULL;
        }
        if (sk_X509_num(certs) == 0) {
            pki_issue_why(why, whylen, "%s holds no certificate", what);
            rc = CG_EPARSE;
            goto out;
        }
    }
    *out = certs;
    certs = NULL;
    rc = 0;
out:
    if (rc == -ENOMEM) {
        pki_issue_why(why, whylen, "out of memory");
    }
    X509_free(x);
    sk_X509_pop_free(certs, X509_free);
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

int pki_issue_certs_load(const char *path, STACK_OF(X509) * *out, char *why, size_t whylen)
{
    struct buf data;
    char what[PATH_MAX + 8];
    if (path == NULL || out == NULL) {
        pki_issue_why(why, whylen, "no certificate file given");
        return -EINVAL;
    }
    int rc = read_file(path, CERT_FILE_MAX, &data, why, whylen);
    if (rc == 0) {
        snprintf(what, sizeof(what), "'%s'", path);
        rc = pki_issue_certs_parse(buf_data(&data), data.len, what, out, why, whylen);
    }
    buf_cleanup(&data);
    return rc;
}

/* ---- PKCS#12 ---------------------------------------------------------------------------- */

int pki_issue_p12_der(EVP_PKEY *key, X509 *cert, const STACK_OF(X509) * chain, const char *name,
                      const char *password, struct buf *out, char *why, size_t whylen)
{
    int rc = CG_ECRYPTO;
    STACK_OF(X509) *ca = NULL;
    PKCS12 *p12 = NULL;
    unsigned char *der = NULL;
    int derlen = 0;

    if (key == NULL || cert == NULL || password == NULL || out == NULL) {
        pki_issue_why(why, whylen, "missing argument");
        return -EINVAL;
    }
    size_t plen = strlen(password);
    if (plen < PKI_ISSUE_PASSPHRASE_MIN || plen > PKI_ISSUE_PASSPHRASE_MAX) {
        pki_issue_why(why, whylen, "the keystore password must be %d to %d characters long",
                      PKI_ISSUE_PASSPHRASE_MIN, PKI_ISSUE_PASSPHRASE_MAX);
        return -EINVAL;
    }
    if (!pki_issue_key_matches(cert, key)) {
        char label[160];
        pki_issue_cert_label(cert, label, sizeof(label));
        pki_issue_why(why, whylen, "the key does not match the certificate (%s)", label);
        return CG_EDENIED;
    }
    /* PKCS12_create takes a non-const stack it does not modify: give it a shallow copy. */
    ca = chain != NULL ? sk_X509_dup(chain) : sk_X509_new_null();
    if (ca == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    /* nid 0 selects OpenSSL 3's defaults: PBES2 AES-256-CBC with PBKDF2 for the key and the
     * certificates, a SHA-256 MAC. */
    p12 = PKCS12_create_ex((char *)password, (char *)name, key, cert, ca, 0, 0, PKCS12_DEFAULT_ITER,
                           PKCS12_DEFAULT_ITER, 0, NULL, NULL);
    if (p12 == NULL) {
        pki_issue_why_crypto(why, whylen, "cannot build the PKCS#12 keystore");
        goto out;
    }
    derlen = i2d_PKCS12(p12, &der);
    if (derlen <= 0) {
        pki_issue_why_crypto(why, whylen, "cannot encode the PKCS#12 keystore");
        goto out;
    }
    rc = buf_append(out, der, (size_t)derlen);
    if (rc < 0) {
        pki_issue_why(why, whylen, "the keystore does not fit: %s", cg_strerror(rc));
    }
out:
    if (der != NULL) {
        OPENSSL_clear_free(der, (size_t)derlen);
    }
    PKCS12_free(p12);
    sk_X509_free(ca);
    ERR_clear_error();
    return rc;
}

int pki_issue_p12_save(const char *path, EVP_PKEY *key, X509 *cert, const STACK_OF(X509) * chain,
                       const char *name, const char *password, unsigned flags, char *why,
                       size_t whylen)
{
    struct buf der;
    buf_init(&der, CERT_FILE_MAX);
    int rc = pki_issue_p12_der(key, cert, chain, name, password, &der, why, whylen);
    if (rc == 0) {
        rc = pki_issue_file_save(path, buf_data(&der), der.len, 0600, flags, why, whylen);
    }
    buf_cleanup(&der);
    return rc;
}
