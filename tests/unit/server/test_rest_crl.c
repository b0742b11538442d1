/* The revocation upload parsers (server/rest_crl.h): JSON and CSV bodies of
 * PUT /tenant/trusted-certificates/settings/crl. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "server/rest_crl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parsed {
    int rc;
    int status;
    int n;
    struct reg_revoked *e;
    char why[REG_WHY_MAX];
};

static void parse_json(struct parsed *p, const char *body)
{
    memset(p, 0, sizeof(*p));
    p->rc = rest_crl_parse_json((const uint8_t *)body, strlen(body), &p->e, &p->n, &p->status,
                                p->why, sizeof(p->why));
}

static void parse_csv(struct parsed *p, const char *body, int max)
{
    memset(p, 0, sizeof(*p));
    p->rc = rest_crl_parse_csv((const uint8_t *)body, strlen(body), max, &p->e, &p->n, &p->status,
                               p->why, sizeof(p->why));
}

static void refused(struct parsed *p, int status, const char *words)
{
    if (p->rc != -1) {
        fail_msg("expected a refusal (%s), got rc %d", words, p->rc);
    }
    assert_int_equal(p->status, status);
    if (strstr(p->why, words) == NULL) {
        fail_msg("message '%s' lacks '%s'", p->why, words);
    }
    free(p->e);
}

/* 2023-01-11T16:12:36.288Z */
#define T1 1673453556288LL

static void json_entries(void **state)
{
    (void)state;
    struct parsed p;
    parse_json(&p, "{\"crls\": [{\"serialNumberInHex\": \"1000\", \"revocationDate\": "
                   "\"2023-01-11T16:12:36.288Z\"}, {\"serialNumberInHex\": \"0x0B:8A\"},"
                   " {\"serialNumberInHex\": \"00ff\", \"revocationDate\": null, \"x\": 1}]}");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.e[0].serial_hex, "1000");
    assert_int_equal(p.e[0].revoked_ms, T1);
    assert_string_equal(p.e[0].source, "api");
    assert_string_equal(p.e[1].serial_hex, "b8a");
    assert_int_equal(p.e[1].revoked_ms, 0); /* none given: the registry uses now */
    assert_string_equal(p.e[2].serial_hex, "ff");
    free(p.e);
    parse_json(&p, "{\"crls\": []}");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.n, 0);
    free(p.e);
}

static void json_refusals(void **state)
{
    (void)state;
    struct parsed p;
    const char *bad_dates[] = {"2023-01-11", "2023-01-11T16:12:36Z", "2023-01-11T16:12:36.288",
                               "2023-01-11T16:12:36.288+01:00", "2023-13-11T16:12:36.288Z"};
    for (size_t i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"crls\": [{\"serialNumberInHex\": \"1\"}, {\"serialNumberInHex\": \"10\", "
                 "\"revocationDate\": \"%s\"}]}",
                 bad_dates[i]);
        parse_json(&p, body);
        refused(&p, 400, REST_CRL_DATE_MESSAGE " : crls[1]");
    }
    parse_json(&p, "{\"crls\": [{\"serialNumberInHex\": \"1\", \"revocationDate\": 5}]}");
    refused(&p, 400, "Unsupported date time format");
    parse_json(&p, "{\"crls\": [{\"serialNumberInHex\": \"xyz\"}]}");
    refused(&p, 422, "crls[0]: the serial number is not hexadecimal");
    parse_json(&p, "{\"crls\": [{\"revocationDate\": \"2023-01-11T16:12:36.288Z\"}]}");
    refused(&p, 422, "serialNumberInHex is required");
    parse_json(&p, "{\"crls\": [{\"serialNumberInHex\": 16}]}");
    refused(&p, 422, "must be a string");
    parse_json(&p, "{\"crls\": [{\"serialNumberInHex\": \"" /* 200 digits: too long */
                   "11111111111111111111111111111111111111111111111111"
                   "11111111111111111111111111111111111111111111111111"
                   "11111111111111111111111111111111111111111111111111"
                   "11111111111111111111111111111111111111111111111111\"}]}");
    refused(&p, 422, "too long");
    parse_json(&p, "{\"crls\": \"1000\"}");
    refused(&p, 400, "crls is required");
    parse_json(&p, "{\"crls\": [\"1000\"]}");
    refused(&p, 400, "crls[0] must be an object");
    parse_json(&p, "[1]");
    refused(&p, 400, "not a usable JSON object");
    parse_json(&p, "");
    refused(&p, 400, "not a usable JSON object");
}

static void csv_with_header(void **state)
{
    (void)state;
    struct parsed p;
    parse_csv(&p,
              "SERIAL NO.,REVOCATION DATE\r\n1000,2023-01-11T16:12:36.288Z\r\n"
              " 0b8a , \r\n\r\nFF\r\n",
              0);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.e[0].serial_hex, "1000");
    assert_int_equal(p.e[0].revoked_ms, T1);
    assert_string_equal(p.e[0].source, "csv");
    assert_string_equal(p.e[1].serial_hex, "b8a");
    assert_int_equal(p.e[1].revoked_ms, 0);
    assert_string_equal(p.e[2].serial_hex, "ff");
    free(p.e);
    /* go-c8y's header, ';' and tab separators, extra columns ignored */
    parse_csv(&p, "SERIALNO;DATE;COMMENT\n10;2023-01-11T16:12:36.288Z;lost\n", 0);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.e[0].serial_hex, "10");
    free(p.e);
    parse_csv(&p, "serial\tdate\n\"20\"\t\n", 0);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.e[0].serial_hex, "20");
    free(p.e);
    /* only a header: nothing to revoke */
    parse_csv(&p, "SERIAL NO.,REVOCATION DATE\n", 0);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.n, 0);
    free(p.e);
}

static void csv_without_header(void **state)
{
    (void)state;
    struct parsed p;
    /* a first row that is a serial (and an empty or valid date) is data, not a header */
    parse_csv(&p, "1000\n1001\n", 0);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.e[0].serial_hex, "1000");
    assert_string_equal(p.e[1].serial_hex, "1001");
    free(p.e);
    parse_csv(&p, "abc,2023-01-11T16:12:36.288Z\n", 0);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.e[0].revoked_ms, T1);
    free(p.e);
    /* a hex-looking first field with a header-like second one is a header */
    parse_csv(&p, "CAFE,DATE\n1000,\n", 0);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.e[0].serial_hex, "1000");
    free(p.e);
}

static void csv_refusals(void **state)
{
    (void)state;
    struct parsed p;
    parse_csv(&p, "SERIAL NO.,REVOCATION DATE\n1000,\n1001,yesterday\n", 0);
    refused(&p, 400, REST_CRL_DATE_MESSAGE " : line 3");
    parse_csv(&p, "SERIAL NO.,REVOCATION DATE\n1000,\nzz,\n", 0);
    refused(&p, 422, "line 3: the serial number is not hexadecimal");
    parse_csv(&p, "SERIAL NO.,REVOCATION DATE\n,2023-01-11T16:12:36.288Z\n", 0);
    refused(&p, 422, "line 2: serialNumberInHex is required");
    parse_csv(&p, "", 0);
    refused(&p, 400, "cannot be read");
    parse_csv(&p, "SERIAL\n\"10\n", 0); /* unterminated quote */
    refused(&p, 400, "cannot be read");
    parse_csv(&p, "SERIAL\n1\n2\n3\n4\n", 3);
    refused(&p, 422, "more than 3 revocations");
}

static void csv_cap(void **state)
{
    (void)state;
    struct parsed p;
    size_t cap = 64 + (size_t)(REST_CRL_CSV_MAX + 1) * 8;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t o = (size_t)snprintf(s, cap, "SERIAL NO.,REVOCATION DATE\n");
    for (int i = 0; i < REST_CRL_CSV_MAX; i++) {
        o += (size_t)snprintf(s + o, cap - o, "%x,\n", 0x10000 + i);
    }
    parse_csv(&p, s, REST_CRL_CSV_MAX);
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.n, REST_CRL_CSV_MAX);
    free(p.e);
    snprintf(s + o, cap - o, "ffffff,\n");
    parse_csv(&p, s, 0); /* 0: the default cap, REST_CRL_CSV_MAX */
    refused(&p, 422, "more than 5000 revocations");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_entries),    cmocka_unit_test(json_refusals),
        cmocka_unit_test(csv_with_header), cmocka_unit_test(csv_without_header),
        cmocka_unit_test(csv_refusals),    cmocka_unit_test(csv_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
