#include "auth/jwt.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALG_ES256 "ES256"
#define SKEW_MAX (24 * 3600)

const char *jwt_reason_name(enum jwt_reason reason)
{
    switch (reason) {
    case JWT_OK:
        return "ok";
    case JWT_MALFORMED:
        return "malformed";
    case JWT_TOO_LARGE:
        return "too large";
    case JWT_BAD_HEADER:
        return "bad header";
    case JWT_ALG_REFUSED:
        return "algorithm refused";
    case JWT_UNKNOWN_KID:
        return "unknown key id";
    case JWT_BAD_SIGNATURE:
        return "bad signature";
    case JWT_BAD_CLAIMS:
        return "bad claims";
    case JWT_EXPIRED:
        return "expired";
    case JWT_NOT_YET_VALID:
        return "not yet valid";
    case JWT_INTERNAL:
        return "internal error";
    }
    return "unknown";
}

/* Record a refusal and return the matching result code. */
static int refuse(struct jwt_error *err, enum jwt_reason reason, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(struct jwt_error *err, enum jwt_reason reason, int rc, const char *fmt, ...)
{
    if (err != NULL) {
        err->reason = reason;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof(err->text), fmt, ap);
        va_end(ap);
    }
    return rc;
}

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

enum seg_problem {
    SEG_OK = 0,
    SEG_ALPHABET, /* padding or a character outside the base64url alphabet */
    SEG_ENCODING, /* impossible length or non-zero leftover bits */
    SEG_TOO_LONG, /* decodes to more than the buffer holds */
};

/* Decode one segment strictly: base64url alphabet only, no padding, canonical trailing
 * bits (core's b64_decode rejects non-zero leftover bits and impossible lengths), so each
 * byte string has exactly one accepted encoding. */
static enum seg_problem segment_decode(const char *s, size_t n, uint8_t *out, size_t cap,
                                       size_t *out_len)
{
    for (size_t i = 0; i < n; i++) {
        if (!b64url_char(s[i])) {
            return SEG_ALPHABET;
        }
    }
    int r = b64_decode(s, n, out, cap, false, true);
    if (r < 0) {
        return r == CG_ELIMIT ? SEG_TOO_LONG : SEG_ENCODING;
    }
    *out_len = (size_t)r;
    return SEG_OK;
}

static const char *segment_problem(enum seg_problem p)
{
    switch (p) {
    case SEG_ALPHABET:
        return "has padding or a character outside the base64url alphabet";
    case SEG_TOO_LONG:
        return "is too long";
    case SEG_ENCODING:
    case SEG_OK:
        break;
    }
    return "is not canonical base64url";
}

/* Parse decoded JSON that must be an object, refusing duplicate keys. */
static json_t *parse_object(const uint8_t *data, size_t n, const char *what, struct jwt_error *err,
                            int *rc)
{
    json_error_t jerr;
    json_t *v = json_loadb((const char *)data, n, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        if (json_error_code(&jerr) == json_error_duplicate_key) {
            *rc = refuse(err, JWT_MALFORMED, CG_EPARSE, "%s has a duplicate key", what);
        } else if (json_error_code(&jerr) == json_error_out_of_memory) {
            *rc = refuse(err, JWT_INTERNAL, -ENOMEM, "out of memory");
        } else {
            *rc = refuse(err, JWT_MALFORMED, CG_EPARSE, "%s is not valid JSON", what);
        }
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        *rc = refuse(err, JWT_MALFORMED, CG_EPARSE, "%s is not a JSON object", what);
        return NULL;
    }
    return v;
}

static bool string_is(const json_t *v, const char *want)
{
    size_t n = strlen(want);
    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), want, n) == 0;
}

/* Compare a NumericDate claim (integer or real) with t: <0, 0 or >0. */
static int time_cmp(const json_t *v, int64_t t)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        return x < t ? -1 : x > t ? 1 : 0;
    }
    double x = json_real_value(v);
    double y = (double)t;
    return x < y ? -1 : x > y ? 1 : 0;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    return a < INT64_MIN + b ? INT64_MIN : a - b;
}

/* Whether a peer-supplied string may be quoted in the reason text, which goes to the
 * audit log: printable ASCII without quotes or backslashes, so no line or field can be
 * forged. */
static bool loggable(const json_t *v, size_t max)
{
    if (!json_is_string(v) || json_string_length(v) > max) {
        return false;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\') {
            return false;
        }
    }
    return true;
}

static int check_header(const json_t *hdr, const struct jwtkeys *ks, const char **kid_out,
                        struct jwt_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)hdr, key, v)
    {
        if (strcmp(key, "alg") != 0 && strcmp(key, "typ") != 0 && strcmp(key, "kid") != 0) {
            if (strcmp(key, "crit") == 0) {
                return refuse(err, JWT_BAD_HEADER, CG_EDENIED,
                              "header has crit: no extension is understood");
            }
            return refuse(err, JWT_BAD_HEADER, CG_EDENIED,
                          "header has an unsupported member (only alg, typ, kid)");
        }
    }
    json_t *alg = json_object_get(hdr, "alg");
    if (!string_is(alg, ALG_ES256)) {
        if (loggable(alg, 16)) {
            return refuse(err, JWT_ALG_REFUSED, CG_EDENIED, "alg \"%s\" refused: only ES256",
                          json_string_value(alg));
        }
        return refuse(err, JWT_ALG_REFUSED, CG_EDENIED, "alg missing or refused: only ES256");
    }
    json_t *typ = json_object_get(hdr, "typ");
    if (typ != NULL && !string_is(typ, "JWT")) {
        return refuse(err, JWT_BAD_HEADER, CG_EDENIED, "typ is not \"JWT\"");
    }
    json_t *kid = json_object_get(hdr, "kid");
    if (!json_is_string(kid) || json_string_length(kid) == 0 ||
        json_string_length(kid) >= JWTKEYS_KID_MAX ||
        strlen(json_string_value(kid)) != json_string_length(kid)) {
        return refuse(err, JWT_BAD_HEADER, CG_EDENIED, "kid missing or not a short string");
    }
    enum jwtkeys_alg key_alg;
    if (jwtkeys_find(ks, json_string_value(kid), &key_alg) != 0) {
        if (loggable(kid, JWTKEYS_KID_MAX)) {
            return refuse(err, JWT_UNKNOWN_KID, CG_EDENIED, "unknown kid \"%s\"",
                          json_string_value(kid));
        }
        return refuse(err, JWT_UNKNOWN_KID, CG_EDENIED, "unknown kid (not printable)");
    }
    if (key_alg != JWTKEYS_ALG_ES256) {
        return refuse(err, JWT_ALG_REFUSED, CG_EDENIED, "key %s is not an ES256 key",
                      json_string_value(kid));
    }
    *kid_out = json_string_value(kid);
    return 0;
}

static int check_claims(const json_t *claims, int64_t now, int64_t skew, struct jwt_error *err)
{
    json_t *exp = json_object_get(claims, "exp");
    json_t *nbf = json_object_get(claims, "nbf");
    json_t *iat = json_object_get(claims, "iat");
    if (!json_is_number(exp)) {
        return refuse(err, JWT_BAD_CLAIMS, CG_EDENIED, "exp missing or not a number");
    }
    if ((nbf != NULL && !json_is_number(nbf)) || (iat != NULL && !json_is_number(iat))) {
        return refuse(err, JWT_BAD_CLAIMS, CG_EDENIED, "nbf or iat is not a number");
    }
    if (time_cmp(exp, sat_sub(now, skew)) <= 0) {
        return refuse(err, JWT_EXPIRED, CG_EEXPIRED, "token expired");
    }
    if (nbf != NULL && time_cmp(nbf, sat_add(now, skew)) > 0) {
        return refuse(err, JWT_NOT_YET_VALID, CG_EEXPIRED, "token not valid yet (nbf)");
    }
    if (iat != NULL && time_cmp(iat, sat_add(now, skew)) > 0) {
        return refuse(err, JWT_NOT_YET_VALID, CG_EEXPIRED, "token issued in the future (iat)");
    }
    return 0;
}

int jwt_verify(const struct jwtkeys *ks, const char *token, size_t len, int64_t now, int64_t skew,
               json_t **claims, struct jwt_error *err)
{
    int rc = CG_EDENIED;
    uint8_t *hbuf = NULL;
    uint8_t *pbuf = NULL;
    json_t *hdr = NULL;
    json_t *body = NULL;
    const char *kid = NULL;
    uint8_t sig[JWTKEYS_SIG_MAX + 3];
    size_t hlen = 0, plen = 0, slen = 0;

    if (err != NULL) {
        err->reason = JWT_OK;
        err->text[0] = 0;
    }
    skew = skew < 0 ? 0 : skew > SKEW_MAX ? SKEW_MAX : skew;
    if (token == NULL) {
        return refuse(err, JWT_MALFORMED, CG_EPARSE, "no token");
    }
    if (len > JWT_MAX_LEN) {
        return refuse(err, JWT_TOO_LARGE, CG_ELIMIT, "token longer than %d bytes", JWT_MAX_LEN);
    }
    /* Exactly three segments: two dots. */
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL) {
        return refuse(err, JWT_MALFORMED, CG_EPARSE, "not three dot-separated segments");
    }
    const char *hs = token;
    size_t hn = (size_t)(d1 - token);
    const char *ps = d1 + 1;
    size_t pn = (size_t)(d2 - ps);
    const char *ss = d2 + 1;
    size_t sn = len - (size_t)(ss - token);

    hbuf = malloc(hn / 4 * 3 + 3);
    pbuf = malloc(pn / 4 * 3 + 3);
    if (hbuf == NULL || pbuf == NULL) {
        rc = refuse(err, JWT_INTERNAL, -ENOMEM, "out of memory");
        goto out;
    }
    enum seg_problem sp = segment_decode(hs, hn, hbuf, hn / 4 * 3 + 3, &hlen);
    if (sp != SEG_OK) {
        rc = refuse(err, JWT_MALFORMED, CG_EPARSE, "header segment %s", segment_problem(sp));
        goto out;
    }
    sp = segment_decode(ps, pn, pbuf, pn / 4 * 3 + 3, &plen);
    if (sp != SEG_OK) {
        rc = refuse(err, JWT_MALFORMED, CG_EPARSE, "claims segment %s", segment_problem(sp));
        goto out;
    }
    sp = segment_decode(ss, sn, sig, sizeof(sig), &slen);
    if (sp == SEG_TOO_LONG) {
        slen = sizeof(sig); /* longer than any signature: refused below, after the header */
    } else if (sp != SEG_OK) {
        rc = refuse(err, JWT_MALFORMED, CG_EPARSE, "signature segment %s", segment_problem(sp));
        goto out;
    }

    hdr = parse_object(hbuf, hlen, "header", err, &rc);
    if (hdr == NULL) {
        goto out;
    }
    rc = check_header(hdr, ks, &kid, err);
    if (rc != 0) {
        goto out;
    }
    if (slen != 64) {
        rc = refuse(err, JWT_BAD_SIGNATURE, CG_EDENIED,
                    "signature is not 64 bytes (JOSE r||s, not DER)");
        goto out;
    }
    /* The signing input is the ASCII text "header.claims" exactly as received. */
    int r = jwtkeys_verify(ks, kid, JWTKEYS_ALG_ES256, (const uint8_t *)token, (size_t)(d2 - token),
                           sig, slen);
    if (r == -ENOMEM || r == CG_ECRYPTO) {
        rc = refuse(err, JWT_INTERNAL, r, "signature check failed: %s", cg_strerror(r));
        goto out;
    }
    if (r != 0) {
        rc = refuse(err, JWT_BAD_SIGNATURE, CG_EDENIED, "signature does not verify");
        goto out;
    }

    /* Only now, with the bytes authenticated, parse the claims. */
    body = parse_object(pbuf, plen, "claims", err, &rc);
    if (body == NULL) {
        goto out;
    }
    rc = check_claims(body, now, skew, err);
    if (rc != 0) {
        goto out;
    }
    *claims = body;
    body = NULL;
    rc = 0;
out:
    json_decref(hdr);
    json_decref(body);
    free(hbuf);
    free(pbuf);
    return rc;
}

/* Length of unpadded base64url text for n bytes. */
static size_t b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static int b64_append(struct buf *b, const uint8_t *data, size_t n)
{
    /* buf_reserve(n) leaves room for n bytes plus the NUL that b64_encode writes. */
    int rc = buf_reserve(b, b64_encoded_len(n));
    if (rc != 0) {
        return rc;
    }
    size_t w = b64_encode(data, n, (char *)b->mem + b->off + b->len, true);
    buf_commit(b, w);
    return 0;
}

int jwt_sign(const struct jwtkeys *ks, const json_t *claims, char **token, size_t *len)
{
    int rc = -EINVAL;
    json_t *hdr = NULL;
    char *htext = NULL;
    char *ctext = NULL;
    struct buf b;
    uint8_t sig[JWTKEYS_SIG_MAX];
    size_t slen = 0;
    char kid[JWTKEYS_KID_MAX];
    enum jwtkeys_alg alg;

    /* Slack for b64_encode's worst case (padding it does not write in url mode); the exact
     * length is checked against JWT_MAX_LEN below. */
    buf_init(&b, JWT_MAX_LEN + 4);
    if (!json_is_object(claims) || !json_is_number(json_object_get(claims, "exp")) ||
        jwtkeys_count(ks) == 0) {
        goto out;
    }
    json_t *nbf = json_object_get(claims, "nbf");
    json_t *iat = json_object_get(claims, "iat");
    if ((nbf != NULL && !json_is_number(nbf)) || (iat != NULL && !json_is_number(iat))) {
        goto out;
    }
    rc = -ENOMEM;
    hdr = json_pack("{s:s, s:s, s:s}", "alg", ALG_ES256, "typ", "JWT", "kid",
                    jwtkeys_current_kid(ks));
    if (hdr == NULL) {
        goto out;
    }
    htext = json_dumps(hdr, JSON_COMPACT);
    ctext = json_dumps(claims, JSON_COMPACT);
    if (htext == NULL || ctext == NULL) {
        goto out;
    }
    size_t hn = strlen(htext);
    size_t cn = strlen(ctext);
    if (cn > JWT_MAX_LEN ||
        b64url_len(hn) + 1 + b64url_len(cn) + 1 + b64url_len(JWTKEYS_SIG_MAX) > JWT_MAX_LEN) {
        rc = CG_ELIMIT;
        goto out;
    }
    rc = b64_append(&b, (const uint8_t *)htext, hn);
    if (rc == 0) {
        rc = buf_append(&b, ".", 1);
    }
    if (rc == 0) {
        rc = b64_append(&b, (const uint8_t *)ctext, cn);
    }
    if (rc != 0) {
        goto out;
    }
    rc = jwtkeys_sign(ks, buf_data(&b), b.len, sig, &slen, kid, &alg);
    if (rc != 0) {
        goto out;
    }
    if (alg != JWTKEYS_ALG_ES256 || strcmp(kid, jwtkeys_current_kid(ks)) != 0) {
        rc = CG_EINTERNAL; /* the set is immutable: the key cannot have changed */
        goto out;
    }
    rc = buf_append(&b, ".", 1);
    if (rc == 0) {
        rc = b64_append(&b, sig, slen);
    }
    if (rc != 0) {
        goto out;
    }
    size_t n = b.len;
    char *text = buf_steal(&b, NULL);
    if (text == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    *token = text;
    if (len != NULL) {
        *len = n;
    }
    rc = 0;
out:
    buf_cleanup(&b);
    json_decref(hdr);
    free(htext);
    free(ctext);
    return rc;
}

int jwt_jti_new(char out[JWT_JTI_LEN + 1])
{
    uint8_t raw[16];
    int rc = random_bytes(raw, sizeof(raw));
    if (rc != 0) {
        return rc;
    }
    b64_encode(raw, sizeof(raw), out, true);
    return 0;
}
