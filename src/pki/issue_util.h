/* Internal helpers of the issuance and proof-of-possession code (issue*.c, pop.c): the `why`
 * message conventions and OpenSSL error draining. Not for use outside src/pki/issue*.c and
 * src/pki/pop.c. Reentrant.
 */
#ifndef CERTGATE_PKI_ISSUE_UTIL_H
#define CERTGATE_PKI_ISSUE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

/* pki_issue_why: format a message into why[whylen] (no-op when why is NULL or whylen 0).
 * Drains the calling thread's OpenSSL error queue, so failures leave it clean. */
void pki_issue_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* pki_issue_why_crypto: as pki_issue_why, followed by ": " and the reason of the oldest
 * OpenSSL error on the queue (when there is one), then drains the queue. */
void pki_issue_why_crypto(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* pki_issue_printable: copy at most `max` bytes of s[n] into out[len] for a message,
 * replacing control characters, quotes and bytes that are not printable ASCII or UTF-8
 * with '?', and ending with "..." when cut. Input from a peer goes through this. */
void pki_issue_printable(const uint8_t *s, size_t n, size_t max, char *out, size_t len);

/* pki_issue_time_ms: an ASN1_TIME as ms since the epoch. 0 or CG_EPARSE. */
int pki_issue_time_ms(const ASN1_TIME *t, int64_t *ms);

/* pki_issue_cert_label: the subject name of `cert` in RFC 4514 form for messages, cut to
 * fit out[len]. */
void pki_issue_cert_label(X509 *cert, char *out, size_t len);

#endif
