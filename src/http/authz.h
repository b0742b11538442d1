/* Credentials in requests: the Authorization header (Basic, Bearer) and cookies.
 *
 * These functions only parse; they never decide access. Pure functions; thread-safe.
 */
#ifndef CERTGATE_HTTP_AUTHZ_H
#define CERTGATE_HTTP_AUTHZ_H

#include "http/span.h"

#include <stddef.h>

#define HTTP_BASIC_USER_MAX 1000     /* bytes of "tenant/user" (the part before ':') */
#define HTTP_BASIC_PASSWORD_MAX 1024 /* bytes of the password */
#define HTTP_BEARER_MAX 8192         /* bytes of a bearer token */

enum http_auth_scheme {
    HTTP_AUTH_NONE = 0, /* empty value */
    HTTP_AUTH_BASIC,
    HTTP_AUTH_BEARER,
    HTTP_AUTH_OTHER,
};

/* Decoded Basic credentials. The strings live in `mem`, which holds the password: the
 * caller must call http_basic_clear() when done (it zeroes the whole struct), also after
 * an error. Keep it off the heap or zero it before freeing. */
struct http_basic {
    const char *tenant; /* NULL when the user name had no "tenant/" prefix */
    size_t tenant_len;
    const char *user; /* without the tenant prefix, NUL-terminated, non-empty */
    size_t user_len;
    const char *password; /* NUL-terminated, may be empty */
    size_t password_len;
    char mem[HTTP_BASIC_USER_MAX + HTTP_BASIC_PASSWORD_MAX + 4];
};

/* http_auth_scheme: which scheme an Authorization value uses (case-insensitive name). */
enum http_auth_scheme http_auth_scheme(const char *value, size_t len);

/* http_basic_parse: parse "Basic <base64(user:password)>". Strict base64: standard
 * alphabet, padding required, no whitespace inside; one or more SP after the scheme name.
 * The user is the part before the first ':' (RFC 7617); when it contains '/', the part
 * before the first '/' is the tenant (go-c8y's rule). User names must be valid UTF-8
 * without control characters; the password may hold any byte but NUL.
 * 0 and *out filled; CG_EPARSE (not Basic, bad base64, no ':', empty user or tenant,
 * forbidden byte); CG_ELIMIT (user over HTTP_BASIC_USER_MAX or password over
 * HTTP_BASIC_PASSWORD_MAX bytes). On error *out holds no secret (it is zeroed). */
int http_basic_parse(const char *value, size_t len, struct http_basic *out);

/* http_basic_clear: zero the credentials (password included). */
void http_basic_clear(struct http_basic *b);

/* http_bearer_parse: parse "Bearer <token68>" (RFC 6750 §2.1). *token points into
 * value. 0; CG_EPARSE (not Bearer, bad token syntax); CG_ELIMIT (over HTTP_BEARER_MAX). */
int http_bearer_parse(const char *value, size_t len, struct http_span *token);

/* http_cookie_get: the value of cookie `name` in a Cookie header value ("a=b; c=d").
 * Names compare case-sensitively; a value in double quotes is returned without them;
 * malformed pairs are skipped. When the name occurs more than once, the first is
 * returned. *value points into header. 0, or -ENOENT when absent. */
int http_cookie_get(const char *header, size_t len, const char *name, struct http_span *value);

#endif
