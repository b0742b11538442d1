/* Revocation sets. See revocation.h. */
#include "pki/revocation.h"

#include "core/err.h"
#include "core/hmap.h"
#include "pki/cert.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* One serial's entries: a list of issuers (NULL issuer = any). */
struct entry {
    X509_NAME *issuer;
    struct entry *next;
};

struct pki_revocation {
    atomic_int refs;
    bool sealed;
    size_t count;
    struct hmap *by_serial; /* normalized hex -> struct entry list */
};

struct pki_revocation *pki_revocation_new(void)
{
    struct pki_revocation *set = calloc(1, sizeof(*set));
    if (set == NULL) {
        return NULL;
    }
    set->by_serial = hmap_new();
    if (set->by_serial == NULL) {
        free(set);
        return NULL;
    }
    atomic_init(&set->refs, 1);
    return set;
}

struct pki_revocation *pki_revocation_ref(struct pki_revocation *set)
{
    atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

static int free_entries(const void *key, size_t klen, void *value, void *arg)
{
    struct entry *e = value;
    while (e != NULL) {
        struct entry *next = e->next;
        X509_NAME_free(e->issuer);
        free(e);
        e = next;
    }
    return 0;
}

void pki_revocation_unref(struct pki_revocation *set)
{
    if (set == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    hmap_iter(set->by_serial, free_entries, NULL);
    hmap_free(set->by_serial);
    free(set);
}

static int add_normalized(struct pki_revocation *set, const char *hex, const X509_NAME *issuer)
{
    if (set->sealed) {
        return -EPERM;
    }
    struct entry *head = hmap_get_str(set->by_serial, hex);
    for (struct entry *e = head; e != NULL; e = e->next) {
        if ((e->issuer == NULL && issuer == NULL) ||
            (e->issuer != NULL && issuer != NULL && X509_NAME_cmp(e->issuer, issuer) == 0)) {
            return 0;
        }
    }
    struct entry *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return -ENOMEM;
    }
    if (issuer != NULL && (e->issuer = X509_NAME_dup(issuer)) == NULL) {
        free(e);
        ERR_clear_error();
        return -ENOMEM;
    }
    e->next = head;
    if (hmap_put_str(set->by_serial, hex, e, NULL) < 0) {
        X509_NAME_free(e->issuer);
        free(e);
        return -ENOMEM;
    }
    set->count++;
    return 0;
}

int pki_revocation_add_serial(struct pki_revocation *set, const char *hex, const X509_NAME *issuer)
{
    char norm[PKI_SERIAL_HEX_MAX];
    int rc = pki_serial_normalize(hex, norm, sizeof(norm));
    if (rc < 0) {
        return rc;
    }
    return add_normalized(set, norm, issuer);
}

int pki_revocation_add_asn1(struct pki_revocation *set, const ASN1_INTEGER *serial,
                            const X509_NAME *issuer)
{
    char norm[PKI_SERIAL_HEX_MAX];
    int rc = pki_serial_hex(serial, norm, sizeof(norm));
    if (rc < 0) {
        return rc;
    }
    return add_normalized(set, norm, issuer);
}

static X509_CRL *parse_crl(const void *data, size_t len)
{
    X509_CRL *crl = NULL;
    if (len > INT32_MAX) {
        return NULL;
    }
    if (memmem(data, len, "-----BEGIN X509 CRL-----", 24) != NULL) {
        BIO *bio = BIO_new_mem_buf(data, (int)len);
        if (bio != NULL) {
            crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
            BIO_free(bio);
        }
    } else {
        const unsigned char *p = data;
        crl = d2i_X509_CRL(NULL, &p, (long)len);
        if (crl != NULL && p != (const unsigned char *)data + len) {
            X509_CRL_free(crl);
            crl = NULL;
        }
    }
    return crl;
}

static bool signs_crl(X509 *signer, X509_CRL *crl)
{
    if (X509_NAME_cmp(X509_get_subject_name(signer), X509_CRL_get_issuer(crl)) != 0) {
        return false;
    }
    if ((X509_get_extension_flags(signer) & EXFLAG_KUSAGE) != 0 &&
        (X509_get_key_usage(signer) & KU_CRL_SIGN) == 0) {
        return false;
    }
    EVP_PKEY *key = X509_get0_pubkey(signer);
    return key != NULL && X509_CRL_verify(crl, key) == 1;
}

int pki_revocation_add_crl(struct pki_revocation *set, const void *data, size_t len,
                           X509 *const *signers, size_t n_signers, X509 **signer)
{
    int rc = CG_EPARSE;
    X509_CRL *crl = NULL;
    struct pki_revocation *tmp = NULL;
    X509 *found = NULL;
    if (set->sealed) {
        return -EPERM;
    }
    crl = parse_crl(data, len);
    if (crl == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n_signers && found == NULL; i++) {
        if (signers[i] != NULL && signs_crl(signers[i], crl)) {
            found = signers[i];
        }
    }
    if (found == NULL) {
        rc = CG_EDENIED;
        goto out;
    }
    /* Collect into a scratch set first so that a failure leaves `set` unchanged. */
    tmp = pki_revocation_new();
    if (tmp == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(crl);
    const X509_NAME *issuer = X509_CRL_get_issuer(crl);
    int n = sk_X509_REVOKED_num(revoked);
    for (int i = 0; i < n; i++) {
        X509_REVOKED *r = sk_X509_REVOKED_value(revoked, i);
        bool indirect = X509_REVOKED_get_ext_by_NID(r, NID_certificate_issuer, -1) >= 0;
        rc = pki_revocation_add_asn1(tmp, X509_REVOKED_get0_serialNumber(r),
                                     indirect ? NULL : issuer);
        if (rc < 0) {
            goto out;
        }
    }
    for (int i = 0; i < n; i++) {
        X509_REVOKED *r = sk_X509_REVOKED_value(revoked, i);
        bool indirect = X509_REVOKED_get_ext_by_NID(r, NID_certificate_issuer, -1) >= 0;
        rc = pki_revocation_add_asn1(set, X509_REVOKED_get0_serialNumber(r),
                                     indirect ? NULL : issuer);
        if (rc < 0) {
            /* Cannot happen after the scratch run except on -ENOMEM; the set then holds a
             * prefix of the CRL, which only revokes more. */
            goto out;
        }
    }
    if (signer != NULL) {
        *signer = found;
    }
    rc = n;
out:
    pki_revocation_unref(tmp);
    X509_CRL_free(crl);
    ERR_clear_error();
    return rc;
}

void pki_revocation_seal(struct pki_revocation *set)
{
    set->sealed = true;
}

size_t pki_revocation_count(const struct pki_revocation *set)
{
    return set != NULL ? set->count : 0;
}

bool pki_revocation_contains(const struct pki_revocation *set, X509 *cert)
{
    char hex[PKI_SERIAL_HEX_MAX];
    if (set == NULL || set->count == 0) {
        return false;
    }
    if (pki_serial_hex(X509_get0_serialNumber(cert), hex, sizeof(hex)) < 0) {
        return false; /* longer than any serial a set can hold */
    }
    const X509_NAME *issuer = X509_get_issuer_name(cert);
    for (const struct entry *e = hmap_get_str(set->by_serial, hex); e != NULL; e = e->next) {
        if (e->issuer == NULL || X509_NAME_cmp(e->issuer, issuer) == 0) {
            return true;
        }
    }
    return false;
}
