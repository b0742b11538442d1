/* Query strings and Cumulocity paging.
 *
 * http_query_parse decodes "a=1&b=x%20y+z" (application/x-www-form-urlencoded rules: '+'
 * is a space, %XX escapes) into key/value pairs. Keys and values are NUL-terminated,
 * valid UTF-8 without NUL; a pair without '=' has the value "". Empty pairs ("a=1&&b")
 * are skipped. When a key repeats, the getters see the first occurrence.
 *
 * Paging (reference §1.5): currentPage >= 1 (default 1), pageSize 1..2000 (default 5,
 * larger values trimmed to 2000), withTotalElements / withTotalPages booleans (default
 * false). Pure functions; a struct http_query belongs to one request.
 */
#ifndef CERTGATE_HTTP_QUERY_H
#define CERTGATE_HTTP_QUERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_QUERY_MAX_PARAMS 64
#define HTTP_PAGE_SIZE_DEFAULT 5
#define HTTP_PAGE_SIZE_MAX 2000
#define HTTP_PAGE_MAX INT32_MAX /* a larger currentPage is refused */

struct http_query_param {
    const char *key; /* decoded, NUL-terminated */
    size_t key_len;
    const char *value; /* decoded, NUL-terminated ("" when there was no '=') */
    size_t value_len;
};

struct http_query {
    size_t n;
    struct http_query_param params[HTTP_QUERY_MAX_PARAMS];
    char *mem; /* owned: decoded text */
};

/* http_query_parse: decode query[len] (the part after '?', without it; may be empty).
 * 0; CG_EPARSE (bad %-escape, NUL or invalid UTF-8 after decoding); CG_ELIMIT (more than
 * HTTP_QUERY_MAX_PARAMS pairs); -ENOMEM. `*q` written only on success; release it with
 * http_query_cleanup. */
int http_query_parse(struct http_query *q, const char *query, size_t len);

/* http_query_cleanup: free the decoded text (no-op on a zeroed struct). */
void http_query_cleanup(struct http_query *q);

/* http_query_get: value of the first pair named `key` (case-sensitive, as Cumulocity's
 * parameters are), or NULL. Valid while q lives. */
const char *http_query_get(const struct http_query *q, const char *key);

/* http_query_get_int: the first `key` as a decimal integer (optional '-', digits only).
 * Absent or empty: *out = def. Values beyond int64 saturate. 0; CG_EPARSE when not an
 * integer; CG_ELIMIT when outside [min, max] (then *out is untouched). */
int http_query_get_int(const struct http_query *q, const char *key, int64_t min, int64_t max,
                       int64_t def, int64_t *out);

/* http_query_get_bool: "true"/"false" (ASCII case-insensitive). Absent or empty: def.
 * 0 or CG_EPARSE. */
int http_query_get_bool(const struct http_query *q, const char *key, bool def, bool *out);

struct http_paging {
    int64_t current_page; /* 1..HTTP_PAGE_MAX */
    int64_t page_size;    /* 1..HTTP_PAGE_SIZE_MAX */
    bool with_total_elements;
    bool with_total_pages;
};

/* http_paging_parse: the paging parameters of a collection request, reference §1.5 rules:
 * currentPage absent/empty -> 1; pageSize absent/empty -> 5; pageSize > 2000 -> 2000.
 * 0; CG_EPARSE for a value that is not a number/boolean or is below 1 (answer 400),
 * CG_ELIMIT for currentPage above HTTP_PAGE_MAX. *why (optional) gets a static English
 * message for the error body. `*out` written only on success. */
int http_paging_parse(const struct http_query *q, struct http_paging *out, const char **why);

/* http_paging_offset: index of the first element of the page ((page-1)*size). */
int64_t http_paging_offset(const struct http_paging *pg);

/* http_paging_links: add "self", "next" (when there is a next page), "prev" (when
 * currentPage > 1) and "statistics" {currentPage, pageSize[, totalPages][, totalElements]}
 * to the collection object `coll`.
 *   base_url: scheme and authority, e.g. "https://example.com:8443" (a trailing '/' is
 *             dropped); path: the request path as received (still percent-encoded);
 *   q: the request's query (may be NULL): its pairs other than currentPage and pageSize
 *      are kept, re-encoded, before "pageSize=N&currentPage=M";
 *   items: elements in this page; total: all elements, or -1 when unknown.
 * There is a next page when total is known and currentPage < totalPages, or, with total
 * unknown, when the page is full (items >= pageSize). totalElements/totalPages are added
 * only when requested and total >= 0. 0, -EINVAL (coll not an object) or -ENOMEM. */
int http_paging_links(json_t *coll, const char *base_url, const char *path,
                      const struct http_query *q, const struct http_paging *pg, size_t items,
                      int64_t total);

/* http_paging_url: the URL of page `page` as described above, malloc'd (NULL on -ENOMEM). */
char *http_paging_url(const char *base_url, const char *path, const struct http_query *q,
                      int64_t page_size, int64_t page);

#endif
