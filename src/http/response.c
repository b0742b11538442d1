#include "http/response.h"

#include "core/err.h"
#include "core/timeutil.h"
#include "http/span.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Entity"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *http_status_reason(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status) {
            return reasons[i].reason;
        }
    }
    return "Unknown";
}

void http_date_format(int64_t ms, char out[HTTP_DATE_LEN])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = 70;
        tm.tm_mday = 1;
        tm.tm_wday = 4;
    }
    snprintf(out, HTTP_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

bool http_field_value_valid(const char *v)
{
    size_t n = strlen(v);
    if (n > 0 && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return false;
        }
    }
    return true;
}

static bool reserved_field(const char *name)
{
    static const char *const owned[] = {"content-length", "transfer-encoding", "date", "connection",
                                        "content-type"};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        if (strcasecmp(name, owned[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool no_content_length(int status)
{
    return status < 200 || status == 204 || status == 304;
}

int http_response_write(struct buf *out, const struct http_response *r)
{
    int rc = -EINVAL;
    struct buf head;
    buf_init(&head, 64 * 1024);

    /* Validate everything before writing anything. */
    if (r->status < 100 || r->status > 599) {
        goto out;
    }
    if (no_content_length(r->status) && r->body_len > 0) {
        goto out;
    }
    if (r->body == NULL && r->body_len > 0 && !r->head) {
        goto out;
    }
    if (r->content_type != NULL && !http_field_value_valid(r->content_type)) {
        goto out;
    }
    for (size_t i = 0; i < r->nfields; i++) {
        const struct http_field *f = &r->fields[i];
        if (f->name == NULL || f->value == NULL || !http_is_token(f->name, strlen(f->name)) ||
            reserved_field(f->name) || !http_field_value_valid(f->value)) {
            goto out;
        }
    }

    char date[HTTP_DATE_LEN];
    http_date_format(r->date_ms > 0 ? r->date_ms : time_now_ms(), date);
    rc = buf_appendf(&head, "HTTP/1.1 %d %s\r\nDate: %s\r\n", r->status,
                     http_status_reason(r->status), date);
    if (rc == 0 && r->content_type != NULL) {
        rc = buf_appendf(&head, "Content-Type: %s\r\n", r->content_type);
    }
    if (rc == 0 && !no_content_length(r->status)) {
        rc = buf_appendf(&head, "Content-Length: %zu\r\n", r->body_len);
    }
    if (rc == 0 && r->close) {
        rc = buf_append_str(&head, "Connection: close\r\n");
    }
    for (size_t i = 0; rc == 0 && i < r->nfields; i++) {
        rc = buf_appendf(&head, "%s: %s\r\n", r->fields[i].name, r->fields[i].value);
    }
    if (rc == 0) {
        rc = buf_append_str(&head, "\r\n");
    }
    if (rc < 0) {
        goto out;
    }
    size_t body_len = r->head ? 0 : r->body_len;
    if (body_len > SIZE_MAX - head.len) {
        rc = CG_ELIMIT;
        goto out;
    }
    /* Reserve the total so the two appends below cannot fail half-way. */
    if ((rc = buf_reserve(out, head.len + body_len)) < 0) {
        goto out;
    }
    buf_append(out, buf_data(&head), head.len);
    if (body_len > 0) {
        buf_append(out, r->body, body_len);
    }
    rc = 0;
out:
    buf_cleanup(&head);
    return rc;
}

int http_response_write_continue(struct buf *out)
{
    return buf_append_str(out, "HTTP/1.1 100 Continue\r\n\r\n");
}
