/* JSON helpers on jansson for request bodies and responses.
 *
 * Strict body parsing: the top level must be an object, the body has a size cap, nesting
 * has a depth cap (checked before jansson sees the text, so deep input cannot exhaust the
 * stack), duplicate keys and NUL in strings are refused, and invalid UTF-8 is refused.
 * Pure functions; thread-safe (jansson values are not shared between threads).
 */
#ifndef CERTGATE_HTTP_JSON_H
#define CERTGATE_HTTP_JSON_H

#include "core/buf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_JSON_DEFAULT_MAX_SIZE (1024 * 1024)
#define HTTP_JSON_DEFAULT_MAX_DEPTH 32
#define HTTP_JSON_ERROR_INFO "https://www.cumulocity.com/guides/reference-guide/#error_reporting"

/* http_json_parse_body: parse body[len] into a new object (*out, owned by the caller).
 * max_size / max_depth 0 mean the defaults. 0; CG_EPARSE (not JSON, not an object,
 * duplicate key: answer 400); CG_ELIMIT (larger than max_size or deeper than max_depth:
 * 413 / 400); -ENOMEM. On error `err` (if not NULL) gets an English message with the line
 * and column, e.g. "line 1, column 9: unexpected token", suitable for the error body. */
int http_json_parse_body(const uint8_t *body, size_t len, size_t max_size, size_t max_depth,
                         json_t **out, char *err, size_t errlen);

/* http_json_error_new: a Cumulocity error body {"error": <error>, "message": <message>,
 * "info": HTTP_JSON_ERROR_INFO}, e.g. error "security/Unauthorized". New reference, NULL on
 * -ENOMEM or when a string is not valid UTF-8. */
json_t *http_json_error_new(const char *error, const char *message);

/* http_json_error_write: the same body serialized (compact) and appended to `out`.
 * 0, -EINVAL (not UTF-8), -ENOMEM or CG_ELIMIT. */
int http_json_error_write(struct buf *out, const char *error, const char *message);

/* http_json_get_bool: the boolean member `key` of `obj`, leniently: true/false, or the
 * strings "true"/"false" (ASCII case-insensitive; the Cumulocity docs send
 * "autoRegistrationEnabled": "true"). Absent or null: *out = def. 0 or CG_EPARSE. */
int http_json_get_bool(const json_t *obj, const char *key, bool def, bool *out);

/* http_json_get_string: the optional string member `key`: *out = NULL when absent or
 * null, else the string (owned by obj). 0; CG_EPARSE (not a string); CG_ELIMIT (more than
 * max_len bytes). */
int http_json_get_string(const json_t *obj, const char *key, size_t max_len, const char **out);

/* http_json_get_int: the optional integer member `key` in [min, max]; absent or null:
 * *out = def. A JSON string of decimal digits is not accepted. 0; CG_EPARSE; CG_ELIMIT. */
int http_json_get_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t def,
                      int64_t *out);

/* http_json_write: append the compact serialization of `v` to `out` (object key order as
 * inserted). 0; CG_ELIMIT (buffer cap); -ENOMEM; -EINVAL (v NULL). On failure `out` holds
 * its previous content. */
int http_json_write(struct buf *out, const json_t *v);

#endif
