#include "http/query.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "http/span.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int decode_part(const char *s, size_t n, char *dst, size_t *len)
{
    int d = http_pct_decode(s, n, dst, n, true);
    if (d < 0) {
        return CG_EPARSE;
    }
    if (!utf8_valid((const uint8_t *)dst, (size_t)d, false)) {
        return CG_EPARSE;
    }
    dst[d] = 0;
    *len = (size_t)d;
    return 0;
}

int http_query_parse(struct http_query *q, const char *query, size_t len)
{
    int rc = -ENOMEM;
    struct http_query t;
    memset(&t, 0, sizeof(t));

    /* Each pair needs at most its raw length plus two NULs. */
    t.mem = malloc(len + 2 * (len / 2 + 1) + 2);
    if (t.mem == NULL) {
        goto out;
    }
    size_t used = 0;
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(query + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - query) : len;
        if (end > i) {
            if (t.n >= HTTP_QUERY_MAX_PARAMS) {
                rc = CG_ELIMIT;
                goto out;
            }
            const char *eq = memchr(query + i, '=', end - i);
            size_t klen = eq ? (size_t)(eq - query) - i : end - i;
            struct http_query_param *p = &t.params[t.n];
            char *k = t.mem + used;
            if ((rc = decode_part(query + i, klen, k, &p->key_len)) < 0) {
                goto out;
            }
            used += p->key_len + 1;
            char *v = t.mem + used;
            size_t vlen = eq ? end - (size_t)(eq - query) - 1 : 0;
            if ((rc = decode_part(eq ? eq + 1 : "", vlen, v, &p->value_len)) < 0) {
                goto out;
            }
            used += p->value_len + 1;
            p->key = k;
            p->value = v;
            t.n++;
        }
        i = end + 1;
    }
    *q = t;
    t.mem = NULL;
    rc = 0;
out:
    free(t.mem);
    return rc;
}

void http_query_cleanup(struct http_query *q)
{
    free(q->mem);
    memset(q, 0, sizeof(*q));
}

const char *http_query_get(const struct http_query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->params[i].key, key) == 0) {
            return q->params[i].value;
        }
    }
    return NULL;
}

int http_query_get_int(const struct http_query *q, const char *key, int64_t min, int64_t max,
                       int64_t def, int64_t *out)
{
    const char *v = http_query_get(q, key);
    if (v == NULL || v[0] == 0) {
        *out = def;
        return 0;
    }
    bool neg = v[0] == '-';
    const char *d = neg ? v + 1 : v;
    if (*d == 0) {
        return CG_EPARSE;
    }
    int64_t x = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9') {
            return CG_EPARSE;
        }
        int digit = *d - '0';
        if (x > (INT64_MAX - digit) / 10) {
            x = INT64_MAX; /* saturate; keep checking the syntax */
        } else {
            x = x * 10 + digit;
        }
    }
    if (neg) {
        x = -x;
    }
    if (x < min || x > max) {
        return CG_ELIMIT;
    }
    *out = x;
    return 0;
}

int http_query_get_bool(const struct http_query *q, const char *key, bool def, bool *out)
{
    const char *v = http_query_get(q, key);
    if (v == NULL || v[0] == 0) {
        *out = def;
        return 0;
    }
    if (strcasecmp(v, "true") == 0) {
        *out = true;
        return 0;
    }
    if (strcasecmp(v, "false") == 0) {
        *out = false;
        return 0;
    }
    return CG_EPARSE;
}

int http_paging_parse(const struct http_query *q, struct http_paging *out, const char **why)
{
    struct http_paging pg;
    const char *msg = NULL;
    int rc;

    rc = http_query_get_int(q, "currentPage", INT64_MIN, INT64_MAX, 1, &pg.current_page);
    if (rc < 0 || pg.current_page < 1) {
        msg = "currentPage must be an integer greater than 0";
        rc = CG_EPARSE;
        goto out;
    }
    if (pg.current_page > HTTP_PAGE_MAX) {
        msg = "currentPage is too large";
        rc = CG_ELIMIT;
        goto out;
    }
    rc = http_query_get_int(q, "pageSize", INT64_MIN, INT64_MAX, HTTP_PAGE_SIZE_DEFAULT,
                            &pg.page_size);
    if (rc < 0 || pg.page_size < 1) {
        msg = "pageSize must be an integer greater than 0";
        rc = CG_EPARSE;
        goto out;
    }
    if (pg.page_size > HTTP_PAGE_SIZE_MAX) {
        pg.page_size = HTTP_PAGE_SIZE_MAX;
    }
    if (http_query_get_bool(q, "withTotalElements", false, &pg.with_total_elements) < 0) {
        msg = "withTotalElements must be true or false";
        rc = CG_EPARSE;
        goto out;
    }
    if (http_query_get_bool(q, "withTotalPages", false, &pg.with_total_pages) < 0) {
        msg = "withTotalPages must be true or false";
        rc = CG_EPARSE;
        goto out;
    }
    *out = pg;
    rc = 0;
out:
    if (why != NULL) {
        *why = msg;
    }
    return rc;
}

int64_t http_paging_offset(const struct http_paging *pg)
{
    return (pg->current_page - 1) * pg->page_size;
}

static int append_encoded(struct buf *b, const char *s, size_t n)
{
    char tmp[3 * 64 + 1];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i += 64) {
        size_t k = n - i < 64 ? n - i : 64;
        size_t len = http_pct_encode(s + i, k, tmp);
        rc = buf_append(b, tmp, len);
    }
    return rc;
}

char *http_paging_url(const char *base_url, const char *path, const struct http_query *q,
                      int64_t page_size, int64_t page)
{
    struct buf b;
    char *url = NULL;
    size_t blen = strlen(base_url);
    int rc;

    buf_init(&b, 1024 * 1024);
    while (blen > 0 && base_url[blen - 1] == '/') {
        blen--;
    }
    rc = buf_append(&b, base_url, blen);
    if (rc == 0) {
        rc = buf_append_str(&b, path);
    }
    if (rc == 0) {
        rc = buf_append_str(&b, "?");
    }
    for (size_t i = 0; q != NULL && rc == 0 && i < q->n; i++) {
        const struct http_query_param *p = &q->params[i];
        if (strcmp(p->key, "currentPage") == 0 || strcmp(p->key, "pageSize") == 0) {
            continue;
        }
        rc = append_encoded(&b, p->key, p->key_len);
        if (rc == 0) {
            rc = buf_append_str(&b, "=");
        }
        if (rc == 0) {
            rc = append_encoded(&b, p->value, p->value_len);
        }
        if (rc == 0) {
            rc = buf_append_str(&b, "&");
        }
    }
    if (rc == 0) {
        rc = buf_appendf(&b, "pageSize=%lld&currentPage=%lld", (long long)page_size,
                         (long long)page);
    }
    if (rc == 0) {
        url = buf_steal(&b, NULL);
    }
    buf_cleanup(&b);
    return url;
}

/* json_object_set_new that also reports failure of the value's construction. */
static int set_new(json_t *obj, const char *key, json_t *v)
{
    if (v == NULL) {
        return -ENOMEM;
    }
    return json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

static int set_url(json_t *coll, const char *key, const char *base_url, const char *path,
                   const struct http_query *q, const struct http_paging *pg, int64_t page)
{
    char *url = http_paging_url(base_url, path, q, pg->page_size, page);
    if (url == NULL) {
        return -ENOMEM;
    }
    int rc = set_new(coll, key, json_string(url));
    free(url);
    return rc;
}

int http_paging_links(json_t *coll, const char *base_url, const char *path,
                      const struct http_query *q, const struct http_paging *pg, size_t items,
                      int64_t total)
{
    int rc;
    json_t *stats = NULL;

    if (!json_is_object(coll)) {
        return -EINVAL;
    }
    int64_t total_pages = total >= 0 ? (total + pg->page_size - 1) / pg->page_size : -1;
    bool has_next = total >= 0 ? pg->current_page < total_pages : items >= (size_t)pg->page_size;

    if ((rc = set_url(coll, "self", base_url, path, q, pg, pg->current_page)) < 0) {
        goto out;
    }
    stats = json_object();
    if (stats == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = set_new(stats, "currentPage", json_integer(pg->current_page))) < 0 ||
        (rc = set_new(stats, "pageSize", json_integer(pg->page_size))) < 0) {
        goto out;
    }
    if (total >= 0 && pg->with_total_pages &&
        (rc = set_new(stats, "totalPages", json_integer(total_pages))) < 0) {
        goto out;
    }
    if (total >= 0 && pg->with_total_elements &&
        (rc = set_new(stats, "totalElements", json_integer(total))) < 0) {
        goto out;
    }
    rc = set_new(coll, "statistics", stats);
    stats = NULL;
    if (rc < 0) {
        goto out;
    }
    if (pg->current_page > 1 &&
        (rc = set_url(coll, "prev", base_url, path, q, pg, pg->current_page - 1)) < 0) {
        goto out;
    }
    if (has_next && (rc = set_url(coll, "next", base_url, path, q, pg, pg->current_page + 1)) < 0) {
        goto out;
    }
    rc = 0;
out:
    json_decref(stats);
    return rc;
}
