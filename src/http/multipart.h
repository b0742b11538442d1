/* Media types and multipart/form-data (RFC 9110 §8.3, RFC 2046 §5.1, RFC 7578).
 *
 * http_content_type_parse: "type/subtype; name=value; name=\"quoted\"" into a lower-cased
 * type, subtype and parameter names, with quoted-string values unescaped.
 *
 * http_multipart_parse: a complete multipart/form-data body. Zero-copy for the data: a
 * part's data is a slice of the body; names, filenames and content types are decoded into
 * memory owned by the struct (release with http_multipart_cleanup).
 *
 * http_accepts_json: the Accept rule of docs/design/http.md.
 *
 * Pure functions; thread-safe.
 */
#ifndef CERTGATE_HTTP_MULTIPART_H
#define CERTGATE_HTTP_MULTIPART_H

#include "http/span.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MEDIA_MAX_PARAMS 8
#define HTTP_MEDIA_MAX 1024 /* bytes of a Content-Type value */
#define HTTP_MULTIPART_MAX_PARTS 16
#define HTTP_MULTIPART_MAX_PART_HEAD 4096 /* header section of one part, bytes */
#define HTTP_MULTIPART_MAX_BOUNDARY 70    /* RFC 2046 */

struct http_media_param {
    const char *name;  /* lower-case */
    const char *value; /* unescaped; case preserved */
};

struct http_content_type {
    const char *type;    /* lower-case, e.g. "multipart" */
    const char *subtype; /* lower-case, e.g. "form-data" */
    size_t nparams;
    struct http_media_param params[HTTP_MEDIA_MAX_PARAMS];
    char mem[HTTP_MEDIA_MAX + 2 * HTTP_MEDIA_MAX_PARAMS + 4];
};

/* http_content_type_parse: parse a media type with parameters (OWS around ';' allowed,
 * empty parameters skipped, values as token or quoted-string with backslash escapes).
 * 0; CG_EPARSE (syntax, or a parameter given twice); CG_ELIMIT (over HTTP_MEDIA_MAX bytes
 * or HTTP_MEDIA_MAX_PARAMS parameters). *out written in any case, meaningful on 0. */
int http_content_type_parse(const char *value, size_t len, struct http_content_type *out);

/* http_content_type_param: the value of parameter `name` (lower-case), or NULL. */
const char *http_content_type_param(const struct http_content_type *ct, const char *name);

/* http_content_type_is: whether the media type is `type/subtype` (given in lower case). */
bool http_content_type_is(const struct http_content_type *ct, const char *type,
                          const char *subtype);

/* http_accepts_json: whether a response in JSON is acceptable for an Accept field value.
 * `accept` NULL (no field) or an empty value: true. Otherwise true when one media range
 * with a non-zero q is, case-insensitively, any/any ("*" "/" "*"), application/any,
 * "application/json" or "application/vnd.com.nsn.cumulocity.<name>+json" (parameters such as
 * ";ver=0.9;charset=UTF-8" ignored). */
bool http_accepts_json(const char *accept, size_t len);

struct http_part {
    const char *name;         /* Content-Disposition name, decoded, non-empty */
    const char *filename;     /* NULL when absent; as sent (curl and browsers send '"' as
                                 %22; that is not decoded, nor is any path stripped) */
    const char *content_type; /* NULL when absent (then text/plain by RFC 7578) */
    const uint8_t *data;      /* slice of the body (not NUL-terminated) */
    size_t len;
};

struct http_multipart {
    size_t nparts;
    struct http_part parts[HTTP_MULTIPART_MAX_PARTS];
    char *mem; /* owned: the parts' decoded names */
};

/* http_multipart_parse: parse a complete multipart/form-data body. `content_type` is the
 * request's Content-Type value; it must be multipart/form-data with a valid boundary
 * parameter (1..70 characters, quoted or not). Delimiters are "--boundary" at the start of
 * the body or after CRLF, optionally followed by spaces/tabs, then CRLF; the close
 * delimiter "--boundary--" is required; a preamble before the first and an epilogue after
 * the last delimiter are ignored. Each part needs a Content-Disposition "form-data" with a
 * name; "Content-Transfer-Encoding" other than 7bit/8bit/binary is refused.
 * 0 and *out (data slices valid while `body` is); CG_EPARSE (malformed); CG_ELIMIT (more
 * than HTTP_MULTIPART_MAX_PARTS parts, a part header over HTTP_MULTIPART_MAX_PART_HEAD);
 * -ENOMEM. `*out` written only on success. */
int http_multipart_parse(const char *content_type, size_t ct_len, const uint8_t *body, size_t len,
                         struct http_multipart *out);

/* http_multipart_cleanup: free the decoded names (no-op on a zeroed struct). */
void http_multipart_cleanup(struct http_multipart *m);

/* http_multipart_find: the first part named `name`, or NULL. */
const struct http_part *http_multipart_find(const struct http_multipart *m, const char *name);

#endif
