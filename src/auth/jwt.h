/* JSON Web Tokens (RFC 7519) signed with ES256 (RFC 7515/7518) by the keys of a jwtkeys set.
 *
 * Format: base64url(header) "." base64url(claims) "." base64url(signature), no padding,
 * header exactly {"alg":"ES256","typ":"JWT","kid":"<kid of the current key>"}, signature
 * the 64-byte JOSE form r||s. The caller builds the claims (sub, ten, iss, iat, exp, nbf,
 * jti, ...); see docs/design/tokens.md for the claims certgate issues.
 *
 * Verification is strict and pinned to ES256: the header's alg must be "ES256" and the
 * key named by kid must be an ES256 key; "none", HS*, RS*, ES384 and anything else are
 * refused before any key is touched. Only alg, typ ("JWT") and kid may appear in the
 * header (so crit, jku, jwk, x5u, x5c are refused). exp is required; exp, nbf and iat are
 * checked against the caller's clock with a skew allowance. Duplicate JSON keys are
 * refused. The claims are returned for the caller to check ten, sub, jti and so on.
 *
 * All functions are pure over their arguments and may be called from any thread.
 * Note: our prefix jwt_ is also libjwt's; certgate does not link libjwt and none of these
 * names is a libjwt 1.x symbol (see docs/design/tokens.md).
 */
#ifndef CERTGATE_AUTH_JWT_H
#define CERTGATE_AUTH_JWT_H

#include "auth/jwtkeys.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

/* Largest token accepted or produced, in bytes. */
#define JWT_MAX_LEN 8192
/* Default clock-skew allowance for exp, nbf and iat, in seconds. */
#define JWT_DEFAULT_SKEW 60
/* Device token lifetime (tenant option oauth.internal / device-token.lifespan.seconds). */
#define JWT_DEVICE_LIFETIME_DEFAULT 3600
#define JWT_DEVICE_LIFETIME_MIN 300
/* A jti from jwt_jti_new: 16 random bytes in base64url is 22 characters. */
#define JWT_JTI_LEN 22

/* Why a token was refused. */
enum jwt_reason {
    JWT_OK = 0,
    JWT_MALFORMED,     /* not three strict base64url segments; JSON invalid, not an object,
                          or with a duplicate key */
    JWT_TOO_LARGE,     /* longer than JWT_MAX_LEN */
    JWT_BAD_HEADER,    /* typ not "JWT", kid missing or not a string, crit or another
                          unsupported member present */
    JWT_ALG_REFUSED,   /* alg is not "ES256", or the key for kid is bound to another alg */
    JWT_UNKNOWN_KID,   /* no key with that kid in the set */
    JWT_BAD_SIGNATURE, /* signature is not 64 bytes or does not verify */
    JWT_BAD_CLAIMS,    /* exp missing or not a number; nbf or iat not a number */
    JWT_EXPIRED,       /* exp + skew <= now */
    JWT_NOT_YET_VALID, /* nbf - skew > now, or iat - skew > now */
    JWT_INTERNAL,      /* out of memory or a crypto library failure */
};

/* A refusal: the reason and one line of text for the audit log (never contains secrets;
 * it may quote the kid and the alg, which are public). */
struct jwt_error {
    enum jwt_reason reason;
    char text[160];
};

/* jwt_reason_name: a short static name for a reason ("expired"). Never NULL. */
const char *jwt_reason_name(enum jwt_reason reason);

/* jwt_sign: sign `claims` (a JSON object with a numeric "exp"; borrowed, not changed) with
 * the current key of `ks`. *token receives a malloc'd NUL-terminated token (caller frees;
 * it is a bearer credential: do not log it) and *len (optional) its length.
 * Returns 0, -EINVAL (claims not an object or without numeric exp, empty key set),
 * CG_ELIMIT (token would exceed JWT_MAX_LEN), -ENOMEM or CG_ECRYPTO. */
int jwt_sign(const struct jwtkeys *ks, const json_t *claims, char **token, size_t *len);

/* jwt_verify: verify token[len] against the keys of `ks` at time `now` (Unix seconds) with
 * `skew` seconds of allowance (JWT_DEFAULT_SKEW normally; negative is treated as 0).
 * Returns 0 only for a valid token, and then *claims (caller decrefs) holds its claims.
 * Otherwise *claims is untouched, err (optional) says why, and the result is
 * CG_EPARSE (JWT_MALFORMED), CG_ELIMIT (JWT_TOO_LARGE), CG_EEXPIRED (JWT_EXPIRED,
 * JWT_NOT_YET_VALID), -ENOMEM or CG_ECRYPTO (JWT_INTERNAL), or CG_EDENIED (the rest). */
int jwt_verify(const struct jwtkeys *ks, const char *token, size_t len, int64_t now, int64_t skew,
               json_t **claims, struct jwt_error *err);

/* jwt_jti_new: a random token id (128 bits, base64url, JWT_JTI_LEN characters) into
 * out[JWT_JTI_LEN + 1]. 0 or -errno from the random source. */
int jwt_jti_new(char out[JWT_JTI_LEN + 1]);

#endif
