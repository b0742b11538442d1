#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "http/csv.h"
#include "support/testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int open_csv(struct http_csv *c, const char *s, const struct http_csv_limits *lim)
{
    return http_csv_init(c, (const uint8_t *)s, strlen(s), lim);
}

/* Check the next row: its line number and fields joined with '|'. */
static void row(struct http_csv *c, size_t line, const char *joined)
{
    int rc = http_csv_next(c);
    if (rc != 1) {
        fail_msg("expected a row at line %zu, got %d (%s)", line, rc, c->error);
    }
    char buf[8192] = "";
    for (size_t i = 0; i < c->nfields; i++) {
        assert_int_equal(strlen(c->field[i]), c->field_len[i]);
        if (i > 0) {
            strcat(buf, "|");
        }
        strcat(buf, c->field[i]);
    }
    assert_string_equal(buf, joined);
    assert_int_equal(c->line, line);
}

static void header(const struct http_csv *c, const char *joined)
{
    char buf[8192] = "";
    for (size_t i = 0; i < c->nheader; i++) {
        if (i > 0) {
            strcat(buf, "|");
        }
        strcat(buf, c->header[i]);
    }
    assert_string_equal(buf, joined);
}

static void separators(void **state)
{
    struct http_csv c;
    /* Comma. */
    assert_int_equal(
        open_csv(&c, "SERIAL NO.,REVOCATION DATE\n1000,2023-01-11T16:12:36.288Z\n", NULL), 0);
    assert_int_equal(c.sep, ',');
    header(&c, "SERIAL NO.|REVOCATION DATE");
    row(&c, 2, "1000|2023-01-11T16:12:36.288Z");
    assert_int_equal(http_csv_next(&c), 0);
    assert_int_equal(http_csv_next(&c), 0);
    http_csv_cleanup(&c);

    /* Semicolon wins over comma; tab wins over both. */
    assert_int_equal(open_csv(&c, "ID;NAME,X\na,b;c\n", NULL), 0);
    assert_int_equal(c.sep, ';');
    header(&c, "ID|NAME,X");
    row(&c, 2, "a,b|c");
    http_csv_cleanup(&c);
    assert_int_equal(open_csv(&c, "ID\tNAME;A,B\nx;y\tz,w\n", NULL), 0);
    assert_int_equal(c.sep, '\t');
    row(&c, 2, "x;y|z,w");
    http_csv_cleanup(&c);

    /* Separators inside quotes in the header do not count. */
    assert_int_equal(open_csv(&c, "\"A;B\",C\n1,2\n", NULL), 0);
    assert_int_equal(c.sep, ',');
    header(&c, "A;B|C");
    http_csv_cleanup(&c);

    /* A single column: comma (nothing to split). */
    assert_int_equal(open_csv(&c, "ID\ndevice1\n", NULL), 0);
    assert_int_equal(c.sep, ',');
    assert_int_equal(c.nheader, 1);
    row(&c, 2, "device1");
    http_csv_cleanup(&c);
}

static void quoting(void **state)
{
    struct http_csv c;
    const char *s = "a,b,c\r\n"
                    "\"x,y\",\"say \"\"hi\"\"\",\"\"\r\n"
                    "\"multi\r\nline\nfield\",2,3\r\n"
                    "plain\"quote,,\r\n"
                    "last,\"q\",end";
    assert_int_equal(open_csv(&c, s, NULL), 0);
    row(&c, 2, "x,y|say \"hi\"|");
    row(&c, 3, "multi\r\nline\nfield|2|3");
    row(&c, 6, "plain\"quote||");
    row(&c, 7, "last|q|end");
    assert_int_equal(http_csv_next(&c), 0);
    http_csv_cleanup(&c);

    /* Junk after a closing quote; unterminated quote names the line where it started. */
    assert_int_equal(open_csv(&c, "a,b\n1,2\n\"x\"y,2\n", NULL), 0);
    row(&c, 2, "1|2");
    assert_int_equal(http_csv_next(&c), CG_EPARSE);
    assert_string_equal(c.error, "line 3: unexpected character after the closing quote of field 1");
    assert_int_equal(http_csv_next(&c), CG_EPARSE); /* sticky */
    http_csv_cleanup(&c);
    assert_int_equal(open_csv(&c, "a,b\n1,2\n3,\"open\n\n\n", NULL), 0);
    row(&c, 2, "1|2");
    assert_int_equal(http_csv_next(&c), CG_EPARSE);
    assert_string_equal(c.error, "line 3: unterminated quoted field");
    http_csv_cleanup(&c);
}

static void line_endings_bom_blank(void **state)
{
    struct http_csv c;
    /* BOM, blank lines (also space-only) before the header and between rows, CR-only,
     * LF-only and CRLF line ends, no final newline. */
    const char *s = "\xef\xbb\xbf\r\n  \nID,V\r\n\r\n1,a\r2,b\n \t \r\n3,c";
    assert_int_equal(open_csv(&c, s, NULL), 0);
    header(&c, "ID|V");
    row(&c, 5, "1|a");
    row(&c, 6, "2|b");
    row(&c, 8, "3|c");
    assert_int_equal(http_csv_next(&c), 0);
    http_csv_cleanup(&c);

    /* Tab-separated: a line of tabs is a row of empty fields, not a blank line. */
    assert_int_equal(open_csv(&c, "A\tB\n\t\n", NULL), 0);
    row(&c, 2, "|");
    http_csv_cleanup(&c);

    /* Empty input and input with only a BOM and blanks: no header. */
    assert_int_equal(open_csv(&c, "", NULL), CG_EPARSE);
    assert_string_equal(c.error, "line 1: no header row");
    http_csv_cleanup(&c);
    assert_int_equal(open_csv(&c, "\xef\xbb\xbf\n\n ", NULL), CG_EPARSE);
    assert_string_equal(c.error, "line 3: no header row");
    http_csv_cleanup(&c);
}

static void latin1(void **state)
{
    struct http_csv c;
    /* Windows-1252 fields are converted; a UTF-8 field stays as it is. */
    const char *s = "NAME;CITY\n"
                    "J\xfcrgen;K\xf6ln \x80\n"
                    "J\xc3\xbcrgen;\x93q\x94 \xa0\xff\n";
    assert_int_equal(open_csv(&c, s, NULL), 0);
    row(&c, 2, "J\xc3\xbcrgen|K\xc3\xb6ln \xe2\x82\xac");
    assert_true(c.converted);
    row(&c, 3, "J\xc3\xbcrgen|\xe2\x80\x9cq\xe2\x80\x9d \xc2\xa0\xc3\xbf");
    assert_true(c.converted);
    http_csv_cleanup(&c);
    assert_int_equal(open_csv(&c, "A\nplain\n", NULL), 0);
    row(&c, 2, "plain");
    assert_false(c.converted);
    http_csv_cleanup(&c);
    /* Undefined Windows-1252 bytes become the C1 code points. */
    assert_int_equal(open_csv(&c, "A\n\x81\x8d\n", NULL), 0);
    row(&c, 2, "\xc2\x81\xc2\x8d");
    http_csv_cleanup(&c);
}

static void limits(void **state)
{
    struct http_csv c;
    struct http_csv_limits lim = {.max_fields = 3, .max_field = 8, .max_line = 32};
    assert_int_equal(open_csv(&c, "a,b,c\n1,2,3\n1,2,3,4\n", &lim), 0);
    row(&c, 2, "1|2|3");
    assert_int_equal(http_csv_next(&c), CG_ELIMIT);
    assert_string_equal(c.error, "line 3: more than 3 fields");
    http_csv_cleanup(&c);

    assert_int_equal(open_csv(&c, "a\n12345678\n123456789\n", &lim), 0);
    row(&c, 2, "12345678");
    assert_int_equal(http_csv_next(&c), CG_ELIMIT);
    assert_string_equal(c.error, "line 3: field 1 longer than 8 bytes");
    http_csv_cleanup(&c);
    assert_int_equal(open_csv(&c, "a\n\"1234\"\"5678\"\n", &lim), 0);
    assert_int_equal(http_csv_next(&c), CG_ELIMIT);
    http_csv_cleanup(&c);
    /* The limit counts converted bytes: 5 x 0xe4 is 10 bytes of UTF-8. */
    assert_int_equal(open_csv(&c, "a\n\xe4\xe4\xe4\xe4\n\xe4\xe4\xe4\xe4\xe4\n", &lim), 0);
    row(&c, 2, "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4");
    assert_int_equal(http_csv_next(&c), CG_ELIMIT);
    assert_string_equal(c.error, "line 3: field 1 longer than 8 bytes");
    http_csv_cleanup(&c);

    /* Raw row length, also across quoted line breaks. */
    struct http_csv_limits lim2 = {.max_fields = 3, .max_field = 64, .max_line = 32};
    assert_int_equal(open_csv(&c, "a,b,c\n1234567890,1234567890,1234567890\n", &lim2), 0);
    assert_int_equal(http_csv_next(&c), 1);
    http_csv_cleanup(&c);
    assert_int_equal(open_csv(&c, "a,b,c\n1234567890,1234567890,12345678901\n", &lim2), 0);
    assert_int_equal(http_csv_next(&c), CG_ELIMIT);
    assert_string_equal(c.error, "line 2: row longer than 32 bytes");
    http_csv_cleanup(&c);
    char q[128];
    memset(q, '\n', sizeof(q));
    memcpy(q, "a,b\n1,\"", 7);
    memcpy(q + 7 + 29, "\"\n", 3);
    assert_int_equal(open_csv(&c, q, &lim2), 0);
    assert_int_equal(http_csv_next(&c), CG_ELIMIT);
    assert_string_equal(c.error, "line 2: row longer than 32 bytes");
    http_csv_cleanup(&c);

    /* NUL in a field. */
    const char nul[] = "a,b\n1,x\0y\n";
    assert_int_equal(http_csv_init(&c, (const uint8_t *)nul, sizeof(nul) - 1, NULL), 0);
    assert_int_equal(http_csv_next(&c), CG_EPARSE);
    assert_string_equal(c.error, "line 2: NUL byte in field 2");
    http_csv_cleanup(&c);

    /* Errors in the header itself. */
    assert_int_equal(open_csv(&c, "a,b,c,d\n", &lim), CG_ELIMIT);
    assert_string_equal(c.error, "line 1: more than 3 fields");
    http_csv_cleanup(&c);
    struct http_csv_limits bad = {.max_fields = HTTP_CSV_MAX_FIELDS + 1};
    assert_int_equal(open_csv(&c, "a\n", &bad), -EINVAL);
    http_csv_cleanup(&c);

    /* Default limits: 64 fields fine, 65 not. */
    char wide[512] = "";
    for (int i = 0; i < HTTP_CSV_MAX_FIELDS; i++) {
        strcat(wide, i ? ",f" : "f");
    }
    assert_int_equal(open_csv(&c, wide, NULL), 0);
    assert_int_equal(c.nheader, HTTP_CSV_MAX_FIELDS);
    http_csv_cleanup(&c);
    strcat(wide, ",g");
    assert_int_equal(open_csv(&c, wide, NULL), CG_ELIMIT);
    http_csv_cleanup(&c);
}

static void columns(void **state)
{
    struct http_csv c;
    assert_int_equal(open_csv(&c, " ID ,Credentials,AUTH_TYPE,external-c8y_Imei\n", NULL), 0);
    assert_int_equal(http_csv_column(&c, "id"), 0);
    assert_int_equal(http_csv_column(&c, "CREDENTIALS"), 1);
    assert_int_equal(http_csv_column(&c, "auth_type"), 2);
    assert_int_equal(http_csv_column(&c, "EXTERNAL-C8Y_IMEI"), 3);
    assert_int_equal(http_csv_column(&c, "NAME"), -ENOENT);
    assert_int_equal(http_csv_column(&c, "I"), -ENOENT);
    assert_int_equal(http_csv_column(&c, "  auth_type "), 2);
    assert_int_equal(http_csv_next(&c), 0);
    http_csv_cleanup(&c);
}

static char *read_data(const char *name, size_t *len)
{
    const char *dir = getenv("CERTGATE_TEST_DATA");
    char path[4096];
    snprintf(path, sizeof(path), "%s/http/%s", dir ? dir : "tests/data", name);
    char *s = test_read_file(path, len);
    assert_non_null(s);
    return s;
}

static void sample_files(void **state)
{
    struct http_csv c;
    size_t len;
    char *s = read_data("bulk_tab.csv", &len);
    assert_int_equal(http_csv_init(&c, (const uint8_t *)s, len, NULL), 0);
    assert_int_equal(c.sep, '\t');
    assert_int_equal(c.nheader, 10);
    assert_int_equal(http_csv_column(&c, "com_cumulocity_model_Agent.active"), 9);
    row(&c, 2, "device01|CERTIFICATES||Device 01|c8y_Device|c8y_Serial|||group1/sub|true");
    row(&c, 3,
        "device02|BASIC|S3cret!pass|Device 02|c8y_Device|c8y_Serial|8949000000000000001|||"
        "true");
    assert_int_equal(http_csv_next(&c), 0);
    http_csv_cleanup(&c);
    free(s);

    s = read_data("crl.csv", &len);
    assert_int_equal(http_csv_init(&c, (const uint8_t *)s, len, NULL), 0);
    assert_int_equal(c.sep, ',');
    assert_int_equal(http_csv_column(&c, "serial no."), 0);
    row(&c, 2, "1000|2023-01-11T16:12:36.288Z");
    row(&c, 3, "0b8a5b9dd501a88775399b9a048811a3|");
    row(&c, 4, "0F|2023-01-12T00:00:00.000Z");
    assert_int_equal(http_csv_next(&c), 0);
    http_csv_cleanup(&c);
    free(s);

    s = read_data("bulk_ansi_semicolon.csv", &len);
    assert_int_equal(http_csv_init(&c, (const uint8_t *)s, len, NULL), 0);
    assert_int_equal(c.sep, ';');
    header(&c, "ID|CREDENTIALS|NAME|TYPE");
    row(&c, 2,
        "ger\xc3\xa4t-01|Pa\xc3\x9fwort\xe2\x82\xac"
        "1|Ger\xc3\xa4t; \xc2\xab"
        "eins\xc2\xbb|c8y_Device");
    row(&c, 4, "dev\xc3\xa9-02|pw|multi\r\nline \"quoted\"|c8y_Device");
    assert_int_equal(http_csv_next(&c), 0);
    http_csv_cleanup(&c);
    free(s);
}

static void many_rows_constant_memory(void **state)
{
    /* 100,000 rows: the row buffer is reused, so its capacity stays small. */
    size_t n = 100000;
    size_t cap = 32 + n * 40;
    char *s = malloc(cap);
    size_t o = (size_t)snprintf(s, cap, "ID,CREDENTIALS\n");
    for (size_t i = 0; i < n; i++) {
        o += (size_t)snprintf(s + o, cap - o, "device%zu,\"pw,%zu\"\r\n", i, i);
    }
    struct http_csv c;
    assert_int_equal(http_csv_init(&c, (const uint8_t *)s, o, NULL), 0);
    size_t rows = 0;
    int rc;
    while ((rc = http_csv_next(&c)) == 1) {
        rows++;
        assert_int_equal(c.line, rows + 1);
        assert_int_equal(c.nfields, 2);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(rows, n);
    assert_true(c.row.cap <= 256);
    http_csv_cleanup(&c);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(separators),
        cmocka_unit_test(quoting),
        cmocka_unit_test(line_endings_bom_blank),
        cmocka_unit_test(latin1),
        cmocka_unit_test(limits),
        cmocka_unit_test(columns),
        cmocka_unit_test(sample_files),
        cmocka_unit_test(many_rows_constant_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
