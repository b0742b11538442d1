/* Revocation sets: serial numbers, each optionally bound to an issuer name.
 *
 * A set is filled by one thread (pki_revocation_add_*), then sealed with
 * pki_revocation_seal; from then on it is immutable and may be read by any number of
 * threads at once (pki_revocation_contains, the chain checks). It is reference-counted so
 * that a snapshot can outlive the registry's next rebuild.
 *
 * Serial normalization: lowercase hex without leading zeros ("0" for zero; a '-' before
 * the digits of a negative serial), see pki_serial_normalize / pki_serial_hex.
 *
 * Matching: an entry without an issuer (a Cumulocity CRL API serial) matches every
 * certificate with that serial, whoever issued it; an entry from an X.509 CRL matches a
 * certificate with that serial whose issuer name equals the CRL's issuer name.
 */
#ifndef CERTGATE_PKI_REVOCATION_H
#define CERTGATE_PKI_REVOCATION_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

struct pki_revocation;

/* pki_revocation_new: an empty, unsealed set with one reference. NULL on -ENOMEM. */
struct pki_revocation *pki_revocation_new(void);

/* pki_revocation_ref: take another reference (any thread); returns set. */
struct pki_revocation *pki_revocation_ref(struct pki_revocation *set);

/* pki_revocation_unref: drop a reference; the last one frees the set. NULL is a no-op.
 * Any thread. */
void pki_revocation_unref(struct pki_revocation *set);

/* pki_revocation_add_serial: add a serial given as hex text (any form accepted by
 * pki_serial_normalize), bound to `issuer` (copied) or to any issuer when NULL.
 * Adding an entry that is already present is a no-op. Before sealing only.
 * 0, CG_EPARSE (bad hex), CG_ELIMIT (longer than 128 bytes), -EPERM (sealed), -ENOMEM. */
int pki_revocation_add_serial(struct pki_revocation *set, const char *hex, const X509_NAME *issuer);

/* pki_revocation_add_asn1: the same with the serial as an ASN1_INTEGER. */
int pki_revocation_add_asn1(struct pki_revocation *set, const ASN1_INTEGER *serial,
                            const X509_NAME *issuer);

/* pki_revocation_add_crl: parse an X.509 CRL (PEM "-----BEGIN X509 CRL-----" or DER) from
 * data[len], check that it is signed by one of `signers` (a certificate whose subject is the
 * CRL's issuer, whose key verifies the CRL's signature and which, when it has keyUsage,
 * allows cRLSign), and add every revoked serial bound to the CRL's issuer name (entries of
 * an indirect CRL, which carry a certificateIssuer extension, are added without an issuer
 * so they match more, never less). Validity dates of the CRL are not checked: an old CRL
 * still lists serials that stay revoked. *signer (optional) receives the signing
 * certificate (borrowed from `signers`). Before sealing only.
 * Returns the number of entries in the CRL (>= 0), CG_EPARSE (not a CRL), CG_EDENIED (no
 * signer verifies it), -EPERM (sealed), -ENOMEM. On failure the set is unchanged. */
int pki_revocation_add_crl(struct pki_revocation *set, const void *data, size_t len,
                           X509 *const *signers, size_t n_signers, X509 **signer);

/* pki_revocation_seal: make the set immutable; it may then be shared between threads. */
void pki_revocation_seal(struct pki_revocation *set);

/* pki_revocation_count: number of distinct entries. */
size_t pki_revocation_count(const struct pki_revocation *set);

/* pki_revocation_contains: whether the certificate's serial is in the set with a matching
 * issuer (see above). NULL set: false. Any thread once sealed. */
bool pki_revocation_contains(const struct pki_revocation *set, X509 *cert);

#endif
