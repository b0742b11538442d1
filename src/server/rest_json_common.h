/* Helpers shared by the tenant, user, option, inventory and audit resources: reading typed
 * members of a request body with Cumulocity-style 422 answers, query parameters, the
 * Accept check, media types and the role JSON.
 *
 * All functions run on the pool thread of the request they are given; every function that
 * can fail answers the request itself (rest_error) and returns false / NULL, so a handler
 * only has to return.
 */
#ifndef CERTGATE_SERVER_REST_JSON_COMMON_H
#define CERTGATE_SERVER_REST_JSON_COMMON_H

#include "server/rest.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Media types of reference §13.1 (matching is case-insensitive on the client side). */
#define MEDIA_TENANT "application/vnd.com.nsn.cumulocity.tenant+json"
#define MEDIA_TENANT_COLL "application/vnd.com.nsn.cumulocity.tenantcollection+json"
#define MEDIA_USER "application/vnd.com.nsn.cumulocity.user+json"
#define MEDIA_USER_COLL "application/vnd.com.nsn.cumulocity.usercollection+json"
#define MEDIA_CURRENT_USER "application/vnd.com.nsn.cumulocity.currentuser+json"
#define MEDIA_ROLE "application/vnd.com.nsn.cumulocity.role+json"
#define MEDIA_ROLE_COLL "application/vnd.com.nsn.cumulocity.rolecollection+json"
#define MEDIA_ROLE_REF "application/vnd.com.nsn.cumulocity.rolereference+json"
#define MEDIA_OPTION "application/vnd.com.nsn.cumulocity.option+json"
#define MEDIA_OPTION_COLL "application/vnd.com.nsn.cumulocity.optioncollection+json"
#define MEDIA_MO "application/vnd.com.nsn.cumulocity.managedobject+json"
#define MEDIA_MO_COLL "application/vnd.com.nsn.cumulocity.managedobjectcollection+json"
#define MEDIA_EXTID "application/vnd.com.nsn.cumulocity.externalid+json"
#define MEDIA_EXTID_COLL "application/vnd.com.nsn.cumulocity.externalidcollection+json"
#define MEDIA_AUDIT "application/vnd.com.nsn.cumulocity.auditrecord+json"
#define MEDIA_AUDIT_COLL "application/vnd.com.nsn.cumulocity.auditrecordcollection+json"
#define MEDIA_BULK "application/vnd.com.nsn.cumulocity.bulknewdevicerequest+json"

/* rest_accept_check: whether the request's Accept field (if any) admits a JSON answer
 * (http_accepts_json); otherwise answers 406 and returns false. */
bool rest_accept_check(struct rest_ctx *x);

/* rest_body_string: the optional string member `key` of `obj` into *out (borrowed from obj;
 * NULL when absent or null). A value that is not a string, is longer than `max` bytes, is
 * empty while `required`, or is missing while `required` is answered 422 with `resource`
 * ("users") as the error type and a sentence naming the member; then returns false. */
bool rest_body_string(struct rest_ctx *x, const char *resource, const json_t *obj, const char *key,
                      size_t max, bool required, const char **out);

/* rest_body_bool: the optional boolean member `key` (true/false or "true"/"false"); absent
 * or null leaves *out unchanged and *present (optional) false. 422 and false otherwise. */
bool rest_body_bool(struct rest_ctx *x, const char *resource, const json_t *obj, const char *key,
                    bool *out, bool *present);

/* rest_query_bool: the boolean query parameter `key` (default def); 422 and false when it
 * is not true/false. */
bool rest_query_bool(struct rest_ctx *x, const char *key, bool def, bool *out);

/* rest_query_time: the date-time query parameter `key` as ms into *out (0 when absent);
 * 422 and false when it is not an ISO 8601 date-time. */
bool rest_query_time(struct rest_ctx *x, const char *key, int64_t *out);

/* rest_page: paging parameters plus the offset; false when rest_paging answered 422. */
bool rest_page(struct rest_ctx *x, struct http_paging *pg, int64_t *offset);

/* rest_location: add "Location: <base_url><path>" for a 201 answer. */
void rest_location(struct rest_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* rest_role_json: {"id", "name", "self"} of one role bit (new reference, NULL on ENOMEM or an
 * unknown bit). */
json_t *rest_role_json(struct rest_ctx *x, uint32_t bit);

/* rest_role_from_ref: the role bit named by a role reference body {"role": {"self" |
 * "id" | "name"}} (the last segment of "self" is the name). 0 after answering 422 when the
 * body names no known role. */
uint32_t rest_role_from_ref(struct rest_ctx *x, const json_t *body);

/* rest_pct: s percent-encoded for use as one URL path segment (malloc'd; NULL on ENOMEM). */
char *rest_pct(const char *s);

/* rest_utf8_chars: the number of UTF-8 code points in s (which is valid UTF-8). */
size_t rest_utf8_chars(const char *s);

#endif
