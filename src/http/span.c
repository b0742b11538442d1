#include "http/span.h"

#include "core/err.h"

#include <string.h>
#include <strings.h>

bool http_span_eq_ci(struct http_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || strncasecmp(s.ptr, lit, n) == 0);
}

bool http_span_eq(struct http_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.ptr, lit, n) == 0);
}

struct http_span http_span_trim(struct http_span s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t')) {
        s.len--;
    }
    return s;
}

bool http_is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool http_is_token(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!http_is_tchar((uint8_t)s[i])) {
            return false;
        }
    }
    return true;
}

int http_hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int http_pct_decode(const char *in, size_t n, char *out, size_t cap, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)in[i];
        if (c == '%') {
            if (n - i < 3) {
                return CG_EPARSE;
            }
            int hi = http_hex_value((uint8_t)in[i + 1]);
            int lo = http_hex_value((uint8_t)in[i + 2]);
            if (hi < 0 || lo < 0) {
                return CG_EPARSE;
            }
            c = (uint8_t)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o >= cap) {
            return CG_ELIMIT;
        }
        out[o++] = (char)c;
    }
    if (o > (size_t)INT32_MAX) {
        return CG_ELIMIT;
    }
    return (int)o;
}

static bool unreserved(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

size_t http_pct_encode_len(const char *in, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += unreserved((uint8_t)in[i]) ? 1 : 3;
    }
    return len;
}

size_t http_pct_encode(const char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)in[i];
        if (unreserved(c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = digits[c >> 4];
            out[o++] = digits[c & 15];
        }
    }
    out[o] = 0;
    return o;
}
