/* Paths and routing: split a request path into percent-decoded segments, and match it
 * against a table of (method, pattern) -> handler id with captured parameters.
 *
 * Segment rules (docs/design/http.md): the path is split on '/' before decoding, then each
 * segment is percent-decoded. A decoded segment must be valid UTF-8 without NUL and must not
 * contain '/' (an encoded %2F is refused, so a captured value can never be mistaken for two
 * segments by code that rebuilds a path). "." and ".." segments are refused, raw or
 * encoded. Empty segments inside the path are kept (they match no parameter, so such paths
 * end in 404); one trailing '/' is ignored ("/a/b/" is "/a/b").
 *
 * Thread-safety: an http_path belongs to one request; a router is immutable after
 * http_router_new and may be shared by all threads.
 */
#ifndef CERTGATE_HTTP_ROUTE_H
#define CERTGATE_HTTP_ROUTE_H

#include "http/request.h"

#include <stddef.h>

#define HTTP_PATH_MAX_SEGMENTS 32
#define HTTP_ROUTE_MAX_PARAMS 8

struct http_path {
    size_t nsegs;
    const char *seg[HTTP_PATH_MAX_SEGMENTS]; /* decoded, NUL-terminated, in `mem` */
    size_t seg_len[HTTP_PATH_MAX_SEGMENTS];
    char *mem; /* owned */
};

/* http_path_parse: decode `path[len]` (the raw path of a request, starting with '/').
 * 0; CG_EPARSE (no leading '/', bad %-escape, %2F, NUL, invalid UTF-8, dot segment);
 * CG_ELIMIT (more than HTTP_PATH_MAX_SEGMENTS segments); -ENOMEM. `*out` is written only
 * on success; release it with http_path_cleanup. */
int http_path_parse(struct http_path *out, const char *path, size_t len);

/* http_path_cleanup: free the decoded segments (no-op on a zeroed struct). */
void http_path_cleanup(struct http_path *p);

struct http_route {
    enum http_method method; /* a known method (not HTTP_METHOD_OTHER) */
    const char *pattern;     /* "/a/{name}/b": literal segments (decoded form) and {params} */
    int id;                  /* handler id returned on a match */
};

struct http_route_param {
    const char *name;  /* from the pattern (owned by the router) */
    const char *value; /* decoded segment (owned by the http_path) */
    size_t len;
};

struct http_match {
    int id; /* the route's id, -1 when nothing matched */
    size_t nparams;
    struct http_route_param params[HTTP_ROUTE_MAX_PARAMS];
    char allow[96]; /* after -ENOTSUP: "GET, HEAD, PUT" for the Allow header */
};

struct http_router;

/* http_router_new: compile a route table (the table may be freed afterwards). Patterns
 * must start with '/', parameters are whole segments "{name}" with name [A-Za-z0-9_]+, at
 * most HTTP_ROUTE_MAX_PARAMS per pattern, no duplicate (method, pattern shape).
 * 0 and *out; -EINVAL for a bad pattern or method, -EEXIST for a duplicate, -ENOMEM. */
int http_router_new(const struct http_route *table, size_t n, struct http_router **out);

/* http_router_free: free a router (NULL is a no-op). */
void http_router_free(struct http_router *r);

/* http_router_match: find the route for (method, path). A GET route also serves HEAD.
 * When several patterns match, the one with a literal segment where the others have a
 * parameter (leftmost difference) wins. Returns 0 with m->id and m->params (valid while
 * the router and `path` live); -ENOENT when no pattern matches the path (404); -ENOTSUP
 * when patterns match the path but not with this method (405), with m->allow listing the
 * methods that would. */
int http_router_match(const struct http_router *r, enum http_method method,
                      const struct http_path *path, struct http_match *m);

/* http_match_param: the value of parameter `name`, or NULL. */
const char *http_match_param(const struct http_match *m, const char *name);

#endif
