/* The revocation upload parsers (rest_crl.h): pure functions over the body bytes, kept apart
 * from the handlers in rest_crl.c so that the fuzz target and the unit test link only them. */
#include "server/rest_crl.h"

#include "core/err.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "http/csv.h"
#include "http/json.h"
#include "pki/cert.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(int *status, int code, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(int *status, int code, char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    *status = code;
    return -1;
}

/* One entry from a serial and a date text (NULL or "" for none). `where` names the entry in
 * messages ("crls[2]", "line 7"). 0 or -1 with *status and why. */
static int entry_set(struct reg_revoked *e, const char *serial, const char *date, const char *where,
                     int *status, char *why, size_t whylen)
{
    memset(e, 0, sizeof(*e));
    if (serial == NULL || serial[0] == 0) {
        return fail(status, 422, why, whylen, "%s: serialNumberInHex is required", where);
    }
    int rc = pki_serial_normalize(serial, e->serial_hex, sizeof(e->serial_hex));
    if (rc == CG_ELIMIT) {
        return fail(status, 422, why, whylen,
                    "%s: the serial number is too long (at most %d hex digits)", where,
                    (int)sizeof(e->serial_hex) - 2);
    }
    if (rc < 0) {
        return fail(status, 422, why, whylen,
                    "%s: the serial number is not hexadecimal (digits 0-9 and a-f, as "
                    "'openssl x509 -noout -serial' prints it)",
                    where);
    }
    if (date != NULL && date[0] != 0) {
        int64_t ms = 0;
        if (time_parse_iso_strict(date, &ms) < 0) {
            return fail(status, 400, why, whylen, REST_CRL_DATE_MESSAGE " : %s", where);
        }
        e->revoked_ms = ms > 0 ? ms : 0;
    }
    return 0;
}

int rest_crl_parse_json(const uint8_t *body, size_t len, struct reg_revoked **out, int *n,
                        int *status, char *why, size_t whylen)
{
    char err[256] = "";
    json_t *doc = NULL;
    struct reg_revoked *entries = NULL;
    int rc = http_json_parse_body(body, len, 0, 0, &doc, err, sizeof(err));
    if (rc == -ENOMEM) {
        return rc;
    }
    if (rc < 0) {
        /* Without jansson's "near '<token>'": the message quotes no input bytes. */
        char *near = strstr(err, " near ");
        if (near != NULL) {
            *near = 0;
        }
        return fail(status, 400, why, whylen, "the body is not a usable JSON object: %s", err);
    }
    json_t *crls = json_object_get(doc, "crls");
    if (!json_is_array(crls)) {
        json_decref(doc);
        return fail(status, 400, why, whylen,
                    "crls is required: an array of {\"serialNumberInHex\", \"revocationDate\"}");
    }
    size_t count = json_array_size(crls);
    if (count > REST_CRL_JSON_MAX) {
        json_decref(doc);
        return fail(status, 422, why, whylen, "crls holds more than %d entries", REST_CRL_JSON_MAX);
    }
    if (count > 0) {
        entries = calloc(count, sizeof(*entries));
        if (entries == NULL) {
            json_decref(doc);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < count; i++) {
        char where[32];
        snprintf(where, sizeof(where), "crls[%zu]", i);
        json_t *e = json_array_get(crls, i);
        const char *serial = NULL, *date = NULL;
        if (!json_is_object(e)) {
            rc = fail(status, 400, why, whylen, "%s must be an object", where);
            goto bad;
        }
        if (http_json_get_string(e, "serialNumberInHex", 1024, &serial) < 0) {
            rc = fail(status, 422, why, whylen, "%s: serialNumberInHex must be a string", where);
            goto bad;
        }
        if (http_json_get_string(e, "revocationDate", 64, &date) < 0) {
            rc = fail(status, 400, why, whylen, REST_CRL_DATE_MESSAGE " : %s", where);
            goto bad;
        }
        if (entry_set(&entries[i], serial, date, where, status, why, whylen) < 0) {
            rc = -1;
            goto bad;
        }
        str_lcpy(entries[i].source, "api", sizeof(entries[i].source));
    }
    json_decref(doc);
    *out = entries;
    *n = (int)count;
    return 0;
bad:
    free(entries);
    json_decref(doc);
    return rc;
}

/* A CSV field trimmed of spaces into buf[cap] (fields are at most HTTP_CSV_DEFAULT_MAX_FIELD
 * bytes, so nothing is cut). */
static const char *field_trimmed(const char *f, char *buf, size_t cap)
{
    str_lcpy(buf, f != NULL ? f : "", cap);
    return str_trim(buf);
}

/* Whether a header row is in fact the first data row (rest_crl.h). */
static bool header_is_data(const struct http_csv *c)
{
    char a[HTTP_CSV_DEFAULT_MAX_FIELD + 1], b[HTTP_CSV_DEFAULT_MAX_FIELD + 1];
    char norm[REG_SERIAL_MAX];
    int64_t ms;
    const char *serial = field_trimmed(c->header[0], a, sizeof(a));
    const char *date = c->nheader > 1 ? field_trimmed(c->header[1], b, sizeof(b)) : "";
    return serial[0] != 0 && pki_serial_normalize(serial, norm, sizeof(norm)) == 0 &&
           (date[0] == 0 || time_parse_iso_strict(date, &ms) == 0);
}

int rest_crl_parse_csv(const uint8_t *data, size_t len, int max_entries, struct reg_revoked **out,
                       int *n, int *status, char *why, size_t whylen)
{
    struct http_csv c;
    struct reg_revoked *entries = NULL;
    int count = 0, cap = 0;
    char sbuf[HTTP_CSV_DEFAULT_MAX_FIELD + 1], dbuf[HTTP_CSV_DEFAULT_MAX_FIELD + 1];
    int rc;

    if (max_entries < 1 || max_entries > REST_CRL_CSV_MAX) {
        max_entries = REST_CRL_CSV_MAX;
    }
    rc = http_csv_init(&c, data, len, NULL);
    if (rc == -ENOMEM) {
        goto out;
    }
    if (rc < 0) {
        rc = fail(status, 400, why, whylen, "the CSV file cannot be read: %s",
                  c.error[0] ? c.error : "no header row");
        goto out;
    }
    bool first_is_data = header_is_data(&c);
    for (;;) {
        const char *const *fields;
        size_t nfields;
        size_t line;
        if (first_is_data) {
            fields = c.header;
            nfields = c.nheader;
            line = 0; /* the header's line: the first non-blank one */
            first_is_data = false;
        } else {
            rc = http_csv_next(&c);
            if (rc == 0) {
                break;
            }
            if (rc == -ENOMEM) {
                goto out;
            }
            if (rc < 0) {
                rc = fail(status, 400, why, whylen, "the CSV file cannot be read: %s", c.error);
                goto out;
            }
            fields = c.field;
            nfields = c.nfields;
            line = c.line;
        }
        if (count == max_entries) {
            rc = fail(status, 422, why, whylen,
                      "the file holds more than %d revocations; split it into several uploads",
                      max_entries);
            goto out;
        }
        if (count == cap) {
            int ncap = cap ? cap * 2 : 64;
            struct reg_revoked *p = realloc(entries, (size_t)ncap * sizeof(*p));
            if (p == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            entries = p;
            cap = ncap;
        }
        char where[48];
        if (line == 0) {
            snprintf(where, sizeof(where), "the first line");
        } else {
            snprintf(where, sizeof(where), "line %zu", line);
        }
        const char *serial = field_trimmed(fields[0], sbuf, sizeof(sbuf));
        const char *date = nfields > 1 ? field_trimmed(fields[1], dbuf, sizeof(dbuf)) : "";
        if (entry_set(&entries[count], serial, date, where, status, why, whylen) < 0) {
            rc = -1;
            goto out;
        }
        str_lcpy(entries[count].source, "csv", sizeof(entries[count].source));
        count++;
    }
    *out = entries;
    *n = count;
    entries = NULL;
    rc = 0;
out:
    free(entries);
    http_csv_cleanup(&c);
    return rc;
}
