#include "http/route.h"

#include "core/err.h"
#include "core/str.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int http_path_parse(struct http_path *out, const char *path, size_t len)
{
    int rc = CG_EPARSE;
    struct http_path p;
    memset(&p, 0, sizeof(p));

    if (len == 0 || path[0] != '/') {
        goto out;
    }
    /* Decoding never grows a segment; one NUL per segment: len + 1 bytes suffice. */
    p.mem = malloc(len + 1);
    if (p.mem == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    size_t used = 0;
    size_t i = 1;
    while (i <= len) {
        const char *slash = memchr(path + i, '/', len - i);
        size_t seg_end = slash ? (size_t)(slash - path) : len;
        if (slash == NULL && seg_end == i && p.nsegs > 0) {
            break; /* one trailing '/' */
        }
        if (slash == NULL && seg_end == i && len == 1) {
            break; /* "/" alone: no segments */
        }
        if (p.nsegs >= HTTP_PATH_MAX_SEGMENTS) {
            rc = CG_ELIMIT;
            goto out;
        }
        char *dst = p.mem + used;
        int n = http_pct_decode(path + i, seg_end - i, dst, len - used, false);
        if (n < 0) {
            rc = CG_EPARSE;
            goto out;
        }
        if (memchr(dst, '/', (size_t)n) != NULL || !utf8_valid((uint8_t *)dst, (size_t)n, false) ||
            (n == 1 && dst[0] == '.') || (n == 2 && dst[0] == '.' && dst[1] == '.')) {
            rc = CG_EPARSE;
            goto out;
        }
        dst[n] = 0;
        p.seg[p.nsegs] = dst;
        p.seg_len[p.nsegs] = (size_t)n;
        p.nsegs++;
        used += (size_t)n + 1;
        i = seg_end + 1;
    }
    *out = p;
    p.mem = NULL;
    rc = 0;
out:
    free(p.mem);
    return rc;
}

void http_path_cleanup(struct http_path *p)
{
    free(p->mem);
    memset(p, 0, sizeof(*p));
}

struct compiled_route {
    enum http_method method;
    int id;
    size_t nsegs;
    char *seg[HTTP_PATH_MAX_SEGMENTS]; /* literal text, or the parameter name */
    bool param[HTTP_PATH_MAX_SEGMENTS];
};

struct http_router {
    size_t n;
    struct compiled_route *routes;
};

static void route_free(struct compiled_route *c)
{
    for (size_t i = 0; i < c->nsegs; i++) {
        free(c->seg[i]);
    }
}

void http_router_free(struct http_router *r)
{
    if (r == NULL) {
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        route_free(&r->routes[i]);
    }
    free(r->routes);
    free(r);
}

static bool param_name_valid(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return false;
        }
    }
    return true;
}

static int compile(const struct http_route *r, struct compiled_route *c)
{
    const char *pat = r->pattern;
    if (http_method_name(r->method) == NULL || pat == NULL || pat[0] != '/') {
        return -EINVAL;
    }
    c->method = r->method;
    c->id = r->id;
    size_t len = strlen(pat);
    size_t nparams = 0;
    size_t i = 1;
    while (i < len) {
        const char *slash = memchr(pat + i, '/', len - i);
        size_t end = slash ? (size_t)(slash - pat) : len;
        size_t n = end - i;
        const char *s = pat + i;
        if (n == 0 || c->nsegs >= HTTP_PATH_MAX_SEGMENTS) {
            return -EINVAL;
        }
        bool param = s[0] == '{';
        if (param) {
            if (n < 3 || s[n - 1] != '}' || !param_name_valid(s + 1, n - 2) ||
                ++nparams > HTTP_ROUTE_MAX_PARAMS) {
                return -EINVAL;
            }
            s++;
            n -= 2;
        } else if (memchr(s, '{', n) != NULL || memchr(s, '}', n) != NULL ||
                   (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
            return -EINVAL;
        }
        c->seg[c->nsegs] = str_ndup(s, n);
        if (c->seg[c->nsegs] == NULL) {
            return -ENOMEM;
        }
        c->param[c->nsegs] = param;
        c->nsegs++;
        i = end + 1;
    }
    if (len > 1 && pat[len - 1] == '/') {
        return -EINVAL;
    }
    return 0;
}

static bool same_shape(const struct compiled_route *a, const struct compiled_route *b)
{
    if (a->nsegs != b->nsegs) {
        return false;
    }
    for (size_t i = 0; i < a->nsegs; i++) {
        if (a->param[i] != b->param[i] || (!a->param[i] && strcmp(a->seg[i], b->seg[i]) != 0)) {
            return false;
        }
    }
    return true;
}

int http_router_new(const struct http_route *table, size_t n, struct http_router **out)
{
    int rc = -ENOMEM;
    struct http_router *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        goto out;
    }
    r->routes = calloc(n > 0 ? n : 1, sizeof(*r->routes));
    if (r->routes == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        r->n = i + 1;
        if ((rc = compile(&table[i], &r->routes[i])) < 0) {
            goto out;
        }
        for (size_t j = 0; j < i; j++) {
            if (r->routes[j].method == r->routes[i].method &&
                same_shape(&r->routes[j], &r->routes[i])) {
                rc = -EEXIST;
                goto out;
            }
        }
    }
    *out = r;
    r = NULL;
    rc = 0;
out:
    http_router_free(r);
    return rc;
}

static bool path_matches(const struct compiled_route *c, const struct http_path *path)
{
    if (c->nsegs != path->nsegs) {
        return false;
    }
    for (size_t i = 0; i < c->nsegs; i++) {
        if (c->param[i] ? path->seg_len[i] == 0 : strcmp(c->seg[i], path->seg[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* Whether a is more specific than b: a literal where b has a parameter, leftmost first. */
static bool more_specific(const struct compiled_route *a, const struct compiled_route *b)
{
    for (size_t i = 0; i < a->nsegs; i++) {
        if (a->param[i] != b->param[i]) {
            return !a->param[i];
        }
    }
    return false;
}

int http_router_match(const struct http_router *r, enum http_method method,
                      const struct http_path *path, struct http_match *m)
{
    const struct compiled_route *best = NULL;
    unsigned allowed = 0;
    bool any = false;

    memset(m, 0, sizeof(*m));
    m->id = -1;
    for (size_t i = 0; i < r->n; i++) {
        const struct compiled_route *c = &r->routes[i];
        if (!path_matches(c, path)) {
            continue;
        }
        any = true;
        allowed |= 1u << c->method;
        if (c->method == HTTP_METHOD_GET) {
            allowed |= 1u << HTTP_METHOD_HEAD;
        }
        bool ok =
            c->method == method || (method == HTTP_METHOD_HEAD && c->method == HTTP_METHOD_GET);
        /* An explicit HEAD route beats GET-serving-HEAD at equal specificity. */
        if (ok && (best == NULL || more_specific(c, best) ||
                   (!more_specific(best, c) && c->method == method && best->method != method))) {
            best = c;
        }
    }
    if (best == NULL) {
        if (!any) {
            return -ENOENT;
        }
        size_t o = 0;
        for (int k = HTTP_METHOD_GET; k <= HTTP_METHOD_OPTIONS; k++) {
            if (allowed & (1u << k)) {
                const char *name = http_method_name((enum http_method)k);
                size_t n = strlen(name);
                if (o + n + 3 > sizeof(m->allow)) {
                    break;
                }
                if (o > 0) {
                    memcpy(m->allow + o, ", ", 2);
                    o += 2;
                }
                memcpy(m->allow + o, name, n);
                o += n;
            }
        }
        m->allow[o] = 0;
        return -ENOTSUP;
    }
    m->id = best->id;
    for (size_t i = 0; i < best->nsegs; i++) {
        if (best->param[i]) {
            m->params[m->nparams].name = best->seg[i];
            m->params[m->nparams].value = path->seg[i];
            m->params[m->nparams].len = path->seg_len[i];
            m->nparams++;
        }
    }
    return 0;
}

const char *http_match_param(const struct http_match *m, const char *name)
{
    for (size_t i = 0; i < m->nparams; i++) {
        if (strcmp(m->params[i].name, name) == 0) {
            return m->params[i].value;
        }
    }
    return NULL;
}
