/* Message helpers shared by issue*.c and pop.c. */
#include "pki/issue_util.h"

#include "pki/issue.h"
#include "core/err.h"
#include "core/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

static void vwhy(char *why, size_t whylen, bool crypto, const char *fmt, va_list ap)
{
    unsigned long first = ERR_get_error();
    ERR_clear_error();
    if (why == NULL || whylen == 0) {
        return;
    }
    int n = vsnprintf(why, whylen, fmt, ap);
    if (n < 0) {
        why[0] = 0;
        return;
    }
    size_t used = (size_t)n < whylen ? (size_t)n : whylen - 1;
    if (crypto && first != 0) {
        const char *reason = ERR_reason_error_string(first);
        char code[32];
        if (reason == NULL) {
            snprintf(code, sizeof(code), "OpenSSL error %lx", first);
            reason = code;
        }
        snprintf(why + used, whylen - used, ": %s", reason);
    }
}

void pki_issue_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwhy(why, whylen, false, fmt, ap);
    va_end(ap);
}

void pki_issue_why_crypto(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwhy(why, whylen, true, fmt, ap);
    va_end(ap);
}

void pki_issue_printable(const uint8_t *s, size_t n, size_t max, char *out, size_t len)
{
    if (len == 0) {
        return;
    }
    size_t o = 0;
    size_t i = 0;
    bool cut = false;
    while (i < n) {
        if (i >= max) {
            cut = true;
            break;
        }
        /* Keep whole UTF-8 sequences that are well formed; replace anything else. */
        size_t seq = 1;
        if (s[i] >= 0x80) {
            seq = s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : 2;
            if (i + seq > n || !utf8_valid(s + i, seq, false)) {
                seq = 0;
            }
        } else if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '\'' || s[i] == '"') {
            seq = 0;
        }
        size_t need = seq == 0 ? 1 : seq;
        if (o + need + 1 > len) {
            cut = true;
            break;
        }
        if (seq == 0) {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, s + i, seq);
            o += seq;
            i += seq;
        }
    }
    out[o] = 0;
    if (cut && len >= 4) {
        size_t at = o + 3 < len ? o : len - 4;
        /* Never split a UTF-8 sequence when making room for the ellipsis. */
        while (at > 0 && ((uint8_t)out[at] & 0xc0) == 0x80) {
            at--;
        }
        memcpy(out + at, "...", 4);
    }
}

int pki_issue_time_ms(const ASN1_TIME *t, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return CG_EPARSE;
    }
    time_t secs = timegm(&tm);
    if (secs == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31)) {
        return CG_EPARSE;
    }
    *ms = (int64_t)secs * 1000;
    return 0;
}

void pki_issue_cert_label(X509 *cert, char *out, size_t len)
{
    char text[512];
    pki_issue_name_text(X509_get_subject_name(cert), text, sizeof(text));
    if (text[0] == 0) {
        str_lcpy(out, "(empty subject)", len);
        return;
    }
    pki_issue_printable((const uint8_t *)text, strlen(text), 120, out, len);
}
