#include "http/json.h"

#include "core/err.h"
#include "core/str.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void set_err(char *err, size_t errlen, size_t line, size_t col, const char *text)
{
    if (err != NULL && errlen > 0) {
        if (line > 0) {
            snprintf(err, errlen, "line %zu, column %zu: %s", line, col, text);
        } else {
            snprintf(err, errlen, "%s", text);
        }
        /* jansson quotes the offending token ("near '...'") byte for byte, which may be
         * invalid UTF-8 or controls; the message goes into a JSON error body, which must be
         * valid UTF-8, so keep it printable ASCII. */
        for (char *p = err; *p != 0; p++) {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
                *p = '?';
            }
        }
    }
}

/* Nesting depth outside strings, with the position of the first excess. */
static bool depth_ok(const uint8_t *s, size_t n, size_t max, size_t *line, size_t *col)
{
    size_t depth = 0;
    bool in_str = false, esc = false;
    size_t l = 1, c = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = s[i];
        if (ch == '\n') {
            l++;
            c = 0;
        } else if ((ch & 0xc0) != 0x80) {
            c++; /* count characters, not UTF-8 continuation bytes */
        }
        if (in_str) {
            if (esc) {
                esc = false;
            } else if (ch == '\\') {
                esc = true;
            } else if (ch == '"') {
                in_str = false;
            }
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '{' || ch == '[') {
            if (++depth > max) {
                *line = l;
                *col = c;
                return false;
            }
        } else if (ch == '}' || ch == ']') {
            if (depth > 0) {
                depth--;
            }
        }
    }
    return true;
}

int http_json_parse_body(const uint8_t *body, size_t len, size_t max_size, size_t max_depth,
                         json_t **out, char *err, size_t errlen)
{
    size_t line = 0, col = 0;
    json_error_t je;
    if (max_size == 0) {
        max_size = HTTP_JSON_DEFAULT_MAX_SIZE;
    }
    if (max_depth == 0) {
        max_depth = HTTP_JSON_DEFAULT_MAX_DEPTH;
    }
    if (len > max_size) {
        set_err(err, errlen, 0, 0, "request body too large");
        return CG_ELIMIT;
    }
    if (!depth_ok(body, len, max_depth, &line, &col)) {
        set_err(err, errlen, line, col, "nesting too deep");
        return CG_ELIMIT;
    }
    json_t *v = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
    if (v == NULL) {
        if (json_error_code(&je) == json_error_out_of_memory) {
            set_err(err, errlen, 0, 0, "out of memory");
            return -ENOMEM;
        }
        set_err(err, errlen, je.line > 0 ? (size_t)je.line : 1,
                je.column > 0 ? (size_t)je.column : 0, je.text);
        return CG_EPARSE;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        set_err(err, errlen, 0, 0, "a JSON object was expected");
        return CG_EPARSE;
    }
    *out = v;
    return 0;
}

json_t *http_json_error_new(const char *error, const char *message)
{
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    if (json_object_set_new(o, "error", json_string(error)) < 0 ||
        json_object_set_new(o, "message", json_string(message)) < 0 ||
        json_object_set_new(o, "info", json_string(HTTP_JSON_ERROR_INFO)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int http_json_error_write(struct buf *out, const char *error, const char *message)
{
    if (!utf8_valid((const uint8_t *)error, strlen(error), false) ||
        !utf8_valid((const uint8_t *)message, strlen(message), false)) {
        return -EINVAL;
    }
    json_t *o = http_json_error_new(error, message);
    if (o == NULL) {
        return -ENOMEM;
    }
    int rc = http_json_write(out, o);
    json_decref(o);
    return rc;
}

int http_json_get_bool(const json_t *obj, const char *key, bool def, bool *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n == 4 && strncasecmp(s, "true", 4) == 0) {
            *out = true;
            return 0;
        }
        if (n == 5 && strncasecmp(s, "false", 5) == 0) {
            *out = false;
            return 0;
        }
    }
    return CG_EPARSE;
}

int http_json_get_string(const json_t *obj, const char *key, size_t max_len, const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v)) {
        return CG_EPARSE;
    }
    if (json_string_length(v) > max_len) {
        return CG_ELIMIT;
    }
    *out = json_string_value(v);
    return 0;
}

int http_json_get_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t def,
                      int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_integer(v)) {
        return CG_EPARSE;
    }
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) {
        return CG_ELIMIT;
    }
    *out = (int64_t)x;
    return 0;
}

struct dump_ctx {
    struct buf *out;
    int rc;
};

static int dump_cb(const char *s, size_t n, void *data)
{
    struct dump_ctx *ctx = data;
    ctx->rc = buf_append(ctx->out, s, n);
    return ctx->rc == 0 ? 0 : -1;
}

int http_json_write(struct buf *out, const json_t *v)
{
    if (v == NULL) {
        return -EINVAL;
    }
    /* Serialize into a scratch buffer first, so a failure leaves `out` untouched. */
    struct buf tmp;
    buf_init(&tmp, out->max);
    struct dump_ctx ctx = {&tmp, 0};
    int rc = json_dump_callback(v, dump_cb, &ctx, JSON_COMPACT | JSON_ENCODE_ANY);
    if (rc != 0) {
        rc = ctx.rc < 0 ? ctx.rc : -ENOMEM;
    } else {
        rc = buf_append(out, buf_data(&tmp), tmp.len);
    }
    buf_cleanup(&tmp);
    return rc;
}
