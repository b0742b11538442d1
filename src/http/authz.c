#include "http/authz.h"

#include "core/err.h"
#include "core/str.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* The scheme name and where its parameters start (after one or more SP). */
static struct http_span scheme_name(const char *value, size_t len, size_t *rest)
{
    size_t i = 0;
    while (i < len && value[i] != ' ') {
        i++;
    }
    struct http_span s = {value, i};
    while (i < len && value[i] == ' ') {
        i++;
    }
    *rest = i;
    return s;
}

enum http_auth_scheme http_auth_scheme(const char *value, size_t len)
{
    size_t rest;
    struct http_span s = scheme_name(value, len, &rest);
    if (s.len == 0) {
        return HTTP_AUTH_NONE;
    }
    if (http_span_eq_ci(s, "basic")) {
        return HTTP_AUTH_BASIC;
    }
    if (http_span_eq_ci(s, "bearer")) {
        return HTTP_AUTH_BEARER;
    }
    return HTTP_AUTH_OTHER;
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Strict base64 syntax: 4-character groups of the standard alphabet, '=' only as padding
 * of the last group. */
static bool b64_strict(const char *s, size_t n)
{
    if (n == 0 || n % 4 != 0) {
        return false;
    }
    size_t pad = 0;
    if (s[n - 1] == '=') {
        pad = s[n - 2] == '=' ? 2 : 1;
    }
    for (size_t i = 0; i < n - pad; i++) {
        if (!b64_char(s[i])) {
            return false;
        }
    }
    return true;
}

void http_basic_clear(struct http_basic *b)
{
    secure_zero(b, sizeof(*b));
}

int http_basic_parse(const char *value, size_t len, struct http_basic *out)
{
    int rc = CG_EPARSE;
    size_t rest;
    uint8_t *mem = (uint8_t *)out->mem;
    const size_t cap = sizeof(out->mem) - 1;

    http_basic_clear(out);
    struct http_span s = scheme_name(value, len, &rest);
    if (!http_span_eq_ci(s, "basic") || rest == s.len) {
        goto out;
    }
    const char *b64 = value + rest;
    size_t n = len - rest;
    if (!b64_strict(b64, n)) {
        goto out;
    }
    if (n / 4 * 3 > cap + 3) {
        rc = CG_ELIMIT;
        goto out;
    }
    int d = b64_decode(b64, n, mem, cap, false, false);
    if (d < 0) {
        rc = d == CG_ELIMIT ? CG_ELIMIT : CG_EPARSE;
        goto out;
    }
    size_t dlen = (size_t)d;
    uint8_t *colon = memchr(mem, ':', dlen);
    if (colon == NULL) {
        goto out;
    }
    size_t ulen = (size_t)(colon - mem);
    size_t plen = dlen - ulen - 1;
    if (ulen > HTTP_BASIC_USER_MAX || plen > HTTP_BASIC_PASSWORD_MAX) {
        rc = CG_ELIMIT;
        goto out;
    }
    if (!utf8_valid(mem, ulen, false) || memchr(colon + 1, 0, plen) != NULL) {
        goto out;
    }
    for (size_t i = 0; i < ulen; i++) {
        if (mem[i] < 0x20 || mem[i] == 0x7f) {
            goto out;
        }
    }
    /* Split in place: "tenant/user:password" -> "tenant\0user\0password\0". */
    mem[dlen] = 0;
    *colon = 0;
    uint8_t *slash = memchr(mem, '/', ulen);
    if (slash != NULL) {
        *slash = 0;
        out->tenant = out->mem;
        out->tenant_len = (size_t)(slash - mem);
        out->user = (const char *)slash + 1;
        out->user_len = ulen - out->tenant_len - 1;
        if (out->tenant_len == 0) {
            goto out;
        }
    } else {
        out->user = out->mem;
        out->user_len = ulen;
    }
    if (out->user_len == 0) {
        goto out;
    }
    out->password = (const char *)colon + 1;
    out->password_len = plen;
    rc = 0;
out:
    if (rc < 0) {
        http_basic_clear(out);
    }
    return rc;
}

static bool token68_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

int http_bearer_parse(const char *value, size_t len, struct http_span *token)
{
    size_t rest;
    struct http_span s = scheme_name(value, len, &rest);
    if (!http_span_eq_ci(s, "bearer") || rest == s.len) {
        return CG_EPARSE;
    }
    const char *t = value + rest;
    size_t n = len - rest;
    if (n == 0) {
        return CG_EPARSE;
    }
    if (n > HTTP_BEARER_MAX) {
        return CG_ELIMIT;
    }
    size_t i = 0;
    while (i < n && token68_char(t[i])) {
        i++;
    }
    if (i == 0) {
        return CG_EPARSE;
    }
    while (i < n && t[i] == '=') {
        i++;
    }
    if (i != n) {
        return CG_EPARSE;
    }
    *token = (struct http_span){t, n};
    return 0;
}

int http_cookie_get(const char *header, size_t len, const char *name, struct http_span *value)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < len) {
        const char *semi = memchr(header + i, ';', len - i);
        size_t end = semi ? (size_t)(semi - header) : len;
        struct http_span pair = http_span_trim((struct http_span){header + i, end - i});
        const char *eq = memchr(pair.ptr, '=', pair.len);
        if (eq != NULL && nlen > 0 && (size_t)(eq - pair.ptr) == nlen &&
            memcmp(pair.ptr, name, nlen) == 0) {
            struct http_span v = {eq + 1, pair.len - nlen - 1};
            if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"') {
                v.ptr++;
                v.len -= 2;
            }
            *value = v;
            return 0;
        }
        i = end + 1;
    }
    return -ENOENT;
}
