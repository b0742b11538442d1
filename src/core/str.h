/* Strings and encodings: copying, hex, base64, UTF-8 checks, secret handling.
 * Pure functions; thread-safe.
 */
#ifndef CERTGATE_CORE_STR_H
#define CERTGATE_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* str_lcpy: copy with truncation into dst[size]; always NUL-terminates when size > 0.
 * Returns strlen(src) so truncation is detectable (>= size). */
size_t str_lcpy(char *dst, const char *src, size_t size);

/* str_ndup: malloc'd copy of the first n bytes plus a NUL. NULL on allocation failure. */
char *str_ndup(const char *s, size_t n);

/* str_printf: malloc'd formatted string, NULL on failure. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* str_casecmp_eq: ASCII case-insensitive equality of two NUL-terminated strings. */
bool str_case_eq(const char *a, const char *b);

/* str_has_prefix: whether s starts with prefix. */
bool str_has_prefix(const char *s, const char *prefix);

/* str_trim: pointer to the first non-space byte of s; trailing spaces are overwritten. */
char *str_trim(char *s);

/* hex_encode: lowercase hex of in[n] into out, which must hold 2n+1 bytes. */
void hex_encode(const uint8_t *in, size_t n, char *out);

/* hex_decode: decode exactly `n` hex digits (either case) into out[cap]. Returns the byte
 * count, or CG_EPARSE (odd length, bad digit) or CG_ELIMIT (too long for cap). */
int hex_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* b64_encoded_len: length of the base64 text for n bytes (with padding, without NUL). */
size_t b64_encoded_len(size_t n);

/* b64_encode: base64 of in[n] into out (b64_encoded_len(n)+1 bytes). `url` selects the
 * URL-safe alphabet without padding (RFC 4648 §5, as JWT uses); otherwise the standard
 * alphabet with padding. Returns the text length. */
size_t b64_encode(const uint8_t *in, size_t n, char *out, bool url);

/* b64_decode: decode base64 text into out[cap]. Standard or URL-safe alphabet (either is
 * accepted unless `url_only`), padding optional, ASCII whitespace ignored when
 * `skip_space`. Returns the byte count, CG_EPARSE for malformed text or CG_ELIMIT when
 * the result does not fit. A decode buffer of (n/4+1)*3 bytes is always large enough. */
int b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, bool skip_space, bool url_only);

/* ct_equal: constant-time comparison of two n-byte regions. */
bool ct_equal(const void *a, const void *b, size_t n);

/* secure_zero: overwrite memory in a way the compiler may not elide. */
void secure_zero(void *p, size_t n);

/* free_secret: zero a NUL-terminated secret string and free it (NULL is a no-op). */
void free_secret(char *s);

/* utf8_valid: whether s[n] is well-formed UTF-8 (no overlongs, surrogates or code points
 * above U+10FFFF). When `allow_nul` is false a U+0000 makes it invalid. */
bool utf8_valid(const uint8_t *s, size_t n, bool allow_nul);

/* random_bytes: fill buf with cryptographically secure random bytes (getrandom(2)).
 * 0 or -errno. */
int random_bytes(void *buf, size_t n);

#endif
