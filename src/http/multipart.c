#include "http/multipart.h"

#include "core/buf.h"
#include "core/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- parameters: *( OWS ";" OWS [ token "=" ( token / quoted-string ) ] ) ---- */

struct param_out {
    struct http_media_param *params;
    size_t max;
    size_t n;
    char *mem; /* output text */
    size_t used;
    size_t cap;
};

static int put(struct param_out *o, const char *s, size_t n, bool lower, const char **where)
{
    if (o->cap - o->used < n + 1) {
        return CG_ELIMIT;
    }
    char *d = o->mem + o->used;
    for (size_t i = 0; i < n; i++) {
        d[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
    }
    d[n] = 0;
    o->used += n + 1;
    *where = d;
    return 0;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* qdtext and the characters a quoted-pair may escape (RFC 9110 §5.6.4). */
static bool qdtext(uint8_t c)
{
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
           (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

static bool quotable(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int parse_params(const char *s, size_t n, size_t i, struct param_out *o)
{
    int rc;
    for (;;) {
        while (i < n && is_ows(s[i])) {
            i++;
        }
        if (i == n) {
            return 0;
        }
        if (s[i] != ';') {
            return CG_EPARSE;
        }
        i++;
        while (i < n && is_ows(s[i])) {
            i++;
        }
        if (i == n || s[i] == ';') {
            continue; /* empty parameter */
        }
        size_t name_start = i;
        while (i < n && http_is_tchar((uint8_t)s[i])) {
            i++;
        }
        if (i == name_start || i == n || s[i] != '=') {
            return CG_EPARSE;
        }
        if (o->n >= o->max) {
            return CG_ELIMIT;
        }
        struct http_media_param *p = &o->params[o->n];
        if ((rc = put(o, s + name_start, i - name_start, true, &p->name)) < 0) {
            return rc;
        }
        for (size_t k = 0; k < o->n; k++) {
            if (strcmp(o->params[k].name, p->name) == 0) {
                return CG_EPARSE;
            }
        }
        i++;
        if (i < n && s[i] == '"') {
            /* Unescape into the output directly. */
            i++;
            char *d = o->mem + o->used;
            size_t dn = 0;
            for (;;) {
                if (i == n) {
                    return CG_EPARSE; /* unterminated */
                }
                uint8_t c = (uint8_t)s[i];
                if (c == '"') {
                    i++;
                    break;
                }
                if (c == '\\') {
                    if (i + 1 == n || !quotable((uint8_t)s[i + 1])) {
                        return CG_EPARSE;
                    }
                    c = (uint8_t)s[i + 1];
                    i += 2;
                } else if (qdtext(c)) {
                    i++;
                } else {
                    return CG_EPARSE;
                }
                if (o->cap - o->used < dn + 2) {
                    return CG_ELIMIT;
                }
                d[dn++] = (char)c;
            }
            d[dn] = 0;
            o->used += dn + 1;
            p->value = d;
        } else {
            size_t vstart = i;
            while (i < n && http_is_tchar((uint8_t)s[i])) {
                i++;
            }
            if (i == vstart) {
                return CG_EPARSE;
            }
            if ((rc = put(o, s + vstart, i - vstart, false, &p->value)) < 0) {
                return rc;
            }
        }
        o->n++;
    }
}

int http_content_type_parse(const char *value, size_t len, struct http_content_type *out)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (len > HTTP_MEDIA_MAX) {
        return CG_ELIMIT;
    }
    struct http_span v = http_span_trim((struct http_span){value, len});
    struct param_out o = {out->params, HTTP_MEDIA_MAX_PARAMS, 0, out->mem, 0, sizeof(out->mem)};
    size_t i = 0;
    while (i < v.len && http_is_tchar((uint8_t)v.ptr[i])) {
        i++;
    }
    size_t tlen = i;
    if (tlen == 0 || i == v.len || v.ptr[i] != '/') {
        return CG_EPARSE;
    }
    i++;
    size_t sstart = i;
    while (i < v.len && http_is_tchar((uint8_t)v.ptr[i])) {
        i++;
    }
    if (i == sstart) {
        return CG_EPARSE;
    }
    if ((rc = put(&o, v.ptr, tlen, true, &out->type)) < 0 ||
        (rc = put(&o, v.ptr + sstart, i - sstart, true, &out->subtype)) < 0) {
        return rc;
    }
    rc = parse_params(v.ptr, v.len, i, &o);
    out->nparams = o.n;
    return rc;
}

const char *http_content_type_param(const struct http_content_type *ct, const char *name)
{
    for (size_t i = 0; i < ct->nparams; i++) {
        if (strcmp(ct->params[i].name, name) == 0) {
            return ct->params[i].value;
        }
    }
    return NULL;
}

bool http_content_type_is(const struct http_content_type *ct, const char *type, const char *subtype)
{
    return ct->type != NULL && strcmp(ct->type, type) == 0 && strcmp(ct->subtype, subtype) == 0;
}

/* ---- Accept ---- */

static bool has_prefix_ci(struct http_span s, const char *p)
{
    size_t n = strlen(p);
    return s.len >= n && strncasecmp(s.ptr, p, n) == 0;
}

static bool has_suffix_ci(struct http_span s, const char *p)
{
    size_t n = strlen(p);
    return s.len >= n && strncasecmp(s.ptr + s.len - n, p, n) == 0;
}

/* q=0 (with up to three zero decimals) excludes a range (RFC 9110 §12.4.2). */
static bool q_is_zero(struct http_span params)
{
    const char *s = params.ptr;
    size_t n = params.len;
    size_t i = 0;
    while (i < n) {
        const char *semi = memchr(s + i, ';', n - i);
        size_t end = semi ? (size_t)(semi - s) : n;
        struct http_span p = http_span_trim((struct http_span){s + i, end - i});
        if (p.len >= 2 && (p.ptr[0] == 'q' || p.ptr[0] == 'Q') && p.ptr[1] == '=') {
            struct http_span q = {p.ptr + 2, p.len - 2};
            if (q.len == 0 || q.ptr[0] != '0') {
                return false;
            }
            for (size_t k = 1; k < q.len; k++) {
                if (!(k == 1 && q.ptr[k] == '.') && q.ptr[k] != '0') {
                    return false;
                }
            }
            return true;
        }
        i = end + 1;
    }
    return false;
}

static bool range_is_json(struct http_span r)
{
    static const char vnd[] = "application/vnd.com.nsn.cumulocity.";
    const char *semi = memchr(r.ptr, ';', r.len);
    struct http_span mt = {r.ptr, semi ? (size_t)(semi - r.ptr) : r.len};
    struct http_span params = {semi ? semi + 1 : r.ptr + r.len, semi ? r.len - mt.len - 1 : 0};
    mt = http_span_trim(mt);
    if (q_is_zero(params)) {
        return false;
    }
    if (http_span_eq_ci(mt, "*/*") || http_span_eq_ci(mt, "application/*") ||
        http_span_eq_ci(mt, "application/json")) {
        return true;
    }
    if (has_prefix_ci(mt, vnd) && has_suffix_ci(mt, "+json") &&
        mt.len > sizeof(vnd) - 1 + strlen("+json")) {
        /* The <name> part must be a plain token piece: no '/' inside. */
        struct http_span name = {mt.ptr + sizeof(vnd) - 1, mt.len - (sizeof(vnd) - 1) - 5};
        for (size_t i = 0; i < name.len; i++) {
            if (!http_is_tchar((uint8_t)name.ptr[i])) {
                return false;
            }
        }
        return true;
    }
    return false;
}

bool http_accepts_json(const char *accept, size_t len)
{
    if (accept == NULL) {
        return true;
    }
    bool empty = true;
    size_t i = 0;
    while (i < len) {
        const char *comma = memchr(accept + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - accept) : len;
        struct http_span r = http_span_trim((struct http_span){accept + i, end - i});
        if (r.len > 0) {
            empty = false;
            if (range_is_json(r)) {
                return true;
            }
        }
        i = end + 1;
    }
    return empty;
}

/* ---- multipart/form-data ---- */

static bool bchar(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("'()+_,-./:=? ", c) != NULL);
}

static bool boundary_valid(const char *b)
{
    size_t n = strlen(b);
    if (n == 0 || n > HTTP_MULTIPART_MAX_BOUNDARY || b[n - 1] == ' ') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!bchar((uint8_t)b[i])) {
            return false;
        }
    }
    return true;
}

/* Offsets of the decoded strings of one part in the name buffer (SIZE_MAX: absent). */
struct part_off {
    size_t name, filename, ctype;
};

static int keep(struct buf *names, const char *s, size_t n, size_t *off)
{
    *off = names->len;
    int rc = buf_append(names, s, n);
    if (rc == 0) {
        rc = buf_append(names, "", 1);
    }
    return rc;
}

/* What follows a "--boundary" match at `i`: 1 for the close delimiter, 0 for a delimiter
 * line (i moved past its CRLF), CG_EPARSE otherwise. */
static int after_delimiter(const uint8_t *b, size_t len, size_t *i)
{
    size_t k = *i;
    if (len - k >= 2 && b[k] == '-' && b[k + 1] == '-') {
        k += 2;
        while (k < len && is_ows((char)b[k])) {
            k++;
        }
        if (k == len || (len - k >= 2 && b[k] == '\r' && b[k + 1] == '\n')) {
            return 1; /* epilogue ignored */
        }
        return CG_EPARSE;
    }
    while (k < len && is_ows((char)b[k])) {
        k++;
    }
    if (len - k >= 2 && b[k] == '\r' && b[k + 1] == '\n') {
        *i = k + 2;
        return 0;
    }
    return CG_EPARSE;
}

/* The header section of one part, starting at *i; sets *i to the first data byte. */
static int parse_part_head(const uint8_t *b, size_t len, size_t *i, struct buf *names,
                           struct part_off *po)
{
    int rc;
    size_t start = *i;
    bool have_cd = false;
    po->name = po->filename = po->ctype = SIZE_MAX;
    for (;;) {
        size_t line = *i;
        const uint8_t *cr = NULL;
        for (size_t k = line; k + 1 < len; k++) {
            if (b[k] == '\r' && b[k + 1] == '\n') {
                cr = b + k;
                break;
            }
            if (b[k] == '\r' || b[k] == '\n' || (b[k] < 0x20 && b[k] != '\t') || b[k] == 0x7f) {
                return CG_EPARSE;
            }
            if (k - start >= HTTP_MULTIPART_MAX_PART_HEAD) {
                return CG_ELIMIT;
            }
        }
        if (cr == NULL) {
            return CG_EPARSE;
        }
        size_t end = (size_t)(cr - b);
        *i = end + 2;
        if (*i - start > HTTP_MULTIPART_MAX_PART_HEAD) {
            return CG_ELIMIT;
        }
        if (end == line) {
            break; /* blank line: data follows */
        }
        const char *s = (const char *)b + line;
        size_t n = end - line;
        size_t k = 0;
        while (k < n && http_is_tchar((uint8_t)s[k])) {
            k++;
        }
        if (k == 0 || k == n || s[k] != ':') {
            return CG_EPARSE; /* also refuses obs-fold (a line starting with SP/HTAB) */
        }
        struct http_span name = {s, k};
        struct http_span value = http_span_trim((struct http_span){s + k + 1, n - k - 1});
        if (http_span_eq_ci(name, "content-disposition")) {
            if (have_cd) {
                return CG_EPARSE;
            }
            have_cd = true;
            struct http_media_param params[HTTP_MEDIA_MAX_PARAMS];
            char mem[HTTP_MULTIPART_MAX_PART_HEAD + 2 * HTTP_MEDIA_MAX_PARAMS];
            struct param_out o = {params, HTTP_MEDIA_MAX_PARAMS, 0, mem, 0, sizeof(mem)};
            size_t t = 0;
            while (t < value.len && http_is_tchar((uint8_t)value.ptr[t])) {
                t++;
            }
            if (!http_span_eq_ci((struct http_span){value.ptr, t}, "form-data")) {
                return CG_EPARSE;
            }
            if ((rc = parse_params(value.ptr, value.len, t, &o)) < 0) {
                return rc;
            }
            for (size_t p = 0; p < o.n; p++) {
                const char *v = params[p].value;
                if (strcmp(params[p].name, "name") == 0) {
                    if (v[0] == 0) {
                        return CG_EPARSE;
                    }
                    rc = keep(names, v, strlen(v), &po->name);
                } else if (strcmp(params[p].name, "filename") == 0) {
                    rc = keep(names, v, strlen(v), &po->filename);
                } else {
                    rc = 0; /* filename* and others: ignored (RFC 7578 §4.2) */
                }
                if (rc < 0) {
                    return rc;
                }
            }
        } else if (http_span_eq_ci(name, "content-type")) {
            if (po->ctype != SIZE_MAX) {
                return CG_EPARSE;
            }
            if ((rc = keep(names, value.ptr, value.len, &po->ctype)) < 0) {
                return rc;
            }
        } else if (http_span_eq_ci(name, "content-transfer-encoding")) {
            if (!http_span_eq_ci(value, "7bit") && !http_span_eq_ci(value, "8bit") &&
                !http_span_eq_ci(value, "binary")) {
                return CG_EPARSE;
            }
        }
    }
    if (po->name == SIZE_MAX) {
        return CG_EPARSE;
    }
    return 0;
}

int http_multipart_parse(const char *content_type, size_t ct_len, const uint8_t *body, size_t len,
                         struct http_multipart *out)
{
    int rc;
    struct http_content_type ct;
    struct buf names;
    struct part_off offs[HTTP_MULTIPART_MAX_PARTS];
    struct http_multipart m;
    char delim[HTTP_MULTIPART_MAX_BOUNDARY + 5];

    memset(&m, 0, sizeof(m));
    buf_init(&names, HTTP_MULTIPART_MAX_PARTS * (HTTP_MULTIPART_MAX_PART_HEAD + 8));
    if ((rc = http_content_type_parse(content_type, ct_len, &ct)) < 0) {
        goto out;
    }
    rc = CG_EPARSE;
    const char *boundary = http_content_type_param(&ct, "boundary");
    if (!http_content_type_is(&ct, "multipart", "form-data") || boundary == NULL ||
        !boundary_valid(boundary)) {
        goto out;
    }
    /* "\r\n--boundary": the delimiter with the CRLF that belongs to it. */
    size_t dlen = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);

    /* The first delimiter: at the very start of the body, or after the preamble's CRLF. */
    size_t i;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        i = dlen - 2;
    } else {
        const uint8_t *hit = memmem(body, len, delim, dlen);
        if (hit == NULL) {
            goto out;
        }
        i = (size_t)(hit - body) + dlen;
    }
    rc = after_delimiter(body, len, &i);
    if (rc != 0) {
        rc = CG_EPARSE; /* a close delimiter first means no part at all */
        goto out;
    }
    for (;;) {
        if (m.nparts >= HTTP_MULTIPART_MAX_PARTS) {
            rc = CG_ELIMIT;
            goto out;
        }
        if ((rc = parse_part_head(body, len, &i, &names, &offs[m.nparts])) < 0) {
            goto out;
        }
        const uint8_t *hit = memmem(body + i, len - i, delim, dlen);
        if (hit == NULL) {
            rc = CG_EPARSE;
            goto out;
        }
        m.parts[m.nparts].data = body + i;
        m.parts[m.nparts].len = (size_t)(hit - body) - i;
        m.nparts++;
        i = (size_t)(hit - body) + dlen;
        rc = after_delimiter(body, len, &i);
        if (rc < 0) {
            goto out;
        }
        if (rc == 1) {
            break;
        }
    }
    m.mem = buf_steal(&names, NULL);
    if (m.mem == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t p = 0; p < m.nparts; p++) {
        m.parts[p].name = m.mem + offs[p].name;
        m.parts[p].filename = offs[p].filename == SIZE_MAX ? NULL : m.mem + offs[p].filename;
        m.parts[p].content_type = offs[p].ctype == SIZE_MAX ? NULL : m.mem + offs[p].ctype;
    }
    *out = m;
    rc = 0;
out:
    buf_cleanup(&names);
    return rc;
}

void http_multipart_cleanup(struct http_multipart *m)
{
    free(m->mem);
    memset(m, 0, sizeof(*m));
}

const struct http_part *http_multipart_find(const struct http_multipart *m, const char *name)
{
    for (size_t i = 0; i < m->nparts; i++) {
        if (strcmp(m->parts[i].name, name) == 0) {
            return &m->parts[i];
        }
    }
    return NULL;
}
