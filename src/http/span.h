/* Byte slices and the character classes and percent-encoding shared by the HTTP codecs.
 *
 * A `struct http_span` points into memory somebody else owns (usually the connection's
 * receive buffer); it is not NUL-terminated. Every function that returns spans says how
 * long they stay valid. Pure functions; thread-safe.
 */
#ifndef CERTGATE_HTTP_SPAN_H
#define CERTGATE_HTTP_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_span {
    const char *ptr; /* NULL only when len == 0 and the item is absent */
    size_t len;
};

/* http_span_eq_ci: whether the span equals the NUL-terminated `lit`, ASCII case-insensitively. */
bool http_span_eq_ci(struct http_span s, const char *lit);

/* http_span_eq: byte-exact equality with the NUL-terminated `lit`. */
bool http_span_eq(struct http_span s, const char *lit);

/* http_span_trim: the span without leading and trailing SP/HTAB (HTTP's OWS). */
struct http_span http_span_trim(struct http_span s);

/* http_is_tchar: whether c is a token character (RFC 9110 §5.6.2). */
bool http_is_tchar(uint8_t c);

/* http_is_token: whether s[n] is a non-empty token. */
bool http_is_token(const char *s, size_t n);

/* http_hex_value: value of a hex digit (either case), or -1. */
int http_hex_value(uint8_t c);

/* http_pct_decode: percent-decode in[n] into out[cap]. `plus_is_space` turns '+' into a
 * space (application/x-www-form-urlencoded, query strings). A '%' not followed by two hex
 * digits is CG_EPARSE. Decoding never makes the text longer, so cap >= n always suffices;
 * otherwise CG_ELIMIT. Returns the decoded length (the output is not NUL-terminated and may
 * contain any byte, NUL included: callers check what they need). */
int http_pct_decode(const char *in, size_t n, char *out, size_t cap, bool plus_is_space);

/* http_pct_encode_len: length of http_pct_encode's output for in[n]. */
size_t http_pct_encode_len(const char *in, size_t n);

/* http_pct_encode: percent-encode everything except RFC 3986 unreserved characters
 * (ALPHA DIGIT - . _ ~) into out, which must hold http_pct_encode_len(in, n) + 1 bytes.
 * Upper-case hex digits; NUL-terminates. Returns the length written. */
size_t http_pct_encode(const char *in, size_t n, char *out);

#endif
