#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "http/multipart.h"
#include "http/request.h"
#include "support/testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ct(const char *s, struct http_content_type *out)
{
    return http_content_type_parse(s, strlen(s), out);
}

static void content_type(void **state)
{
    struct http_content_type t;
    assert_int_equal(ct("Multipart/Form-Data; Boundary=\"a b\\\"c\"; charset=UTF-8", &t), 0);
    assert_string_equal(t.type, "multipart");
    assert_string_equal(t.subtype, "form-data");
    assert_true(http_content_type_is(&t, "multipart", "form-data"));
    assert_int_equal(t.nparams, 2);
    assert_string_equal(http_content_type_param(&t, "boundary"), "a b\"c");
    assert_string_equal(http_content_type_param(&t, "charset"), "UTF-8");
    assert_null(http_content_type_param(&t, "Boundary"));

    assert_int_equal(ct("  application/vnd.com.nsn.cumulocity.option+json ;ver=0.9 ; ; "
                        "charset=UTF-8;  ",
                        &t),
                     0);
    assert_string_equal(t.subtype, "vnd.com.nsn.cumulocity.option+json");
    assert_string_equal(http_content_type_param(&t, "ver"), "0.9");
    assert_int_equal(ct("text/csv", &t), 0);
    assert_int_equal(t.nparams, 0);
    assert_int_equal(ct("a/b; x=\"\"", &t), 0);
    assert_string_equal(http_content_type_param(&t, "x"), "");

    const char *bad[] = {"",
                         "text",
                         "text/",
                         "/csv",
                         "text /csv",
                         "text/csv x",
                         "text/csv; a",
                         "text/csv; a=",
                         "text/csv; a =b",
                         "text/csv; a= b",
                         "text/csv; a=\"open",
                         "text/csv; a=\"bad\\\x01\"",
                         "text/csv; a=\"ctl\x01\"",
                         "text/csv; a=b c",
                         "text/csv; a=1; A=2",
                         "text/csv, text/plain"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ct(bad[i], &t) != CG_EPARSE) {
            fail_msg("accepted '%s'", bad[i]);
        }
    }
    assert_int_equal(ct("a/b;p1=1;p2=2;p3=3;p4=4;p5=5;p6=6;p7=7;p8=8", &t), 0);
    assert_int_equal(ct("a/b;p1=1;p2=2;p3=3;p4=4;p5=5;p6=6;p7=7;p8=8;p9=9", &t), CG_ELIMIT);
    char big[HTTP_MEDIA_MAX + 16];
    memset(big, 'a', sizeof(big));
    memcpy(big, "a/b;x=", 6);
    assert_int_equal(http_content_type_parse(big, sizeof(big), &t), CG_ELIMIT);
}

static bool acc(const char *s)
{
    return http_accepts_json(s, s ? strlen(s) : 0);
}

static void accept_rule(void **state)
{
    assert_true(acc(NULL));
    assert_true(acc(""));
    assert_true(acc("  "));
    assert_true(acc("*/*"));
    assert_true(acc("application/*"));
    assert_true(acc("application/json"));
    assert_true(acc("APPLICATION/JSON; charset=utf-8"));
    assert_true(acc("application/vnd.com.nsn.cumulocity.error+json, application/json"));
    assert_true(acc("application/vnd.com.nsn.cumulocity.customTrustedCertificateCollection+json"));
    assert_true(acc("Application/Vnd.Com.Nsn.Cumulocity.Option+JSON;ver=0.9;charset=UTF-8"));
    assert_true(acc("text/html, application/json;q=0.5"));
    assert_true(acc("text/html, */*;q=0.1"));
    assert_true(acc("text/html,,application/json"));
    assert_false(acc("text/html"));
    assert_false(acc("text/*"));
    assert_false(acc("application/xml"));
    assert_false(acc("application/pkix-crl"));
    assert_false(acc("application/vnd.com.nsn.cumulocity.+json"));
    assert_false(acc("application/vnd.com.nsn.cumulocity.option+xml"));
    assert_false(acc("application/vnd.com.nsn.cumulocity.a/b+json"));
    assert_false(acc("application/vnd.other+json"));
    assert_false(acc("application/jsonx"));
    assert_false(acc("application/json;q=0"));
    assert_false(acc("application/json; q=0.000, text/html"));
    assert_true(acc("application/json; q=0.001"));
    assert_false(acc("*/*;q=0"));
}

static char *data_path(const char *name)
{
    const char *dir = getenv("CERTGATE_TEST_DATA");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/http/%s", dir ? dir : "tests/data", name);
    return p;
}

/* A real capture of curl's request: the request parser, then the multipart parser. */
static void curl_capture(const char *file, const char **names, const char **filenames,
                         const char **ctypes, size_t nparts)
{
    char *path = data_path(file);
    size_t len;
    char *raw = test_read_file(path, &len);
    assert_non_null(raw);
    free(path);

    struct http_parser p;
    struct http_request req;
    assert_int_equal(http_parser_init(&p, NULL), 0);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw, len, &req), HTTP_PARSE_DONE);
    assert_int_equal(req.consumed, len);
    struct http_span ctype;
    assert_int_equal(http_request_header_value(&req, "content-type", &ctype), 0);

    struct http_multipart m;
    assert_int_equal(http_multipart_parse(ctype.ptr, ctype.len, req.body, req.body_len, &m), 0);
    assert_int_equal(m.nparts, nparts);
    for (size_t i = 0; i < nparts; i++) {
        assert_string_equal(m.parts[i].name, names[i]);
        if (filenames[i]) {
            assert_string_equal(m.parts[i].filename, filenames[i]);
        } else {
            assert_null(m.parts[i].filename);
        }
        if (ctypes[i]) {
            assert_string_equal(m.parts[i].content_type, ctypes[i]);
        } else {
            assert_null(m.parts[i].content_type);
        }
    }
    /* The file part is exactly the uploaded file. */
    char *csv_path = data_path("bulk_tab.csv");
    size_t csv_len;
    char *csv = test_read_file(csv_path, &csv_len);
    const struct http_part *f = http_multipart_find(&m, "file");
    assert_non_null(f);
    assert_int_equal(f->len, csv_len);
    assert_memory_equal(f->data, csv, csv_len);
    assert_null(http_multipart_find(&m, "nope"));
    free(csv);
    free(csv_path);
    http_multipart_cleanup(&m);
    http_parser_cleanup(&p);
    free(raw);
}

static void curl_forms(void **state)
{
    const char *n1[] = {"file"}, *f1[] = {"bulk.csv"}, *c1[] = {"application/octet-stream"};
    curl_capture("curl_bulk_form.http", n1, f1, c1, 1);
    const char *n2[] = {"file", "tenantId"}, *f2[] = {"crl %222023%22.csv", NULL},
               *c2[] = {"text/csv", NULL};
    curl_capture("curl_crl_form.http", n2, f2, c2, 2);
}

static const char *CT = "multipart/form-data; boundary=XyZ";

static int mp(const char *body, struct http_multipart *m)
{
    return http_multipart_parse(CT, strlen(CT), (const uint8_t *)body, strlen(body), m);
}

static void hand_vectors(void **state)
{
    struct http_multipart m;
    /* Preamble, transport padding, quoted boundary in the header, escaped filename, empty
     * part, epilogue. */
    const char *body = "preamble line\r\n"
                       "--XyZ  \t\r\n"
                       "content-disposition: FORM-DATA; filename=\"a\\\"b.csv\"; name=file\r\n"
                       "Content-Type: text/csv\r\n"
                       "Content-Transfer-Encoding: binary\r\n"
                       "X-Other: ignored\r\n"
                       "\r\n"
                       "a,b\r\n--XyZx is not a delimiter inside data? no: see below\r\n"
                       "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"empty\"\r\n"
                       "\r\n"
                       "\r\n"
                       "--XyZ--  \r\n"
                       "epilogue --XyZ\r\n";
    /* "--XyZx" after CRLF would be a bad delimiter: strictness check below; here use a
     * body without it first. */
    assert_int_equal(mp(body, &m), CG_EPARSE);

    body = "preamble line\r\n"
           "--XyZ  \t\r\n"
           "content-disposition: FORM-DATA; filename=\"a\\\"b.csv\"; name=file\r\n"
           "Content-Type: text/csv\r\n"
           "Content-Transfer-Encoding: binary\r\n"
           "X-Other: ignored\r\n"
           "\r\n"
           "a,b\r\n-XyZ --XyZ \r\n\r\n"
           "--XyZ\r\n"
           "Content-Disposition: form-data; name=\"empty\"\r\n"
           "\r\n"
           "\r\n"
           "--XyZ--  \r\n"
           "epilogue --XyZ\r\n";
    assert_int_equal(mp(body, &m), 0);
    assert_int_equal(m.nparts, 2);
    assert_string_equal(m.parts[0].name, "file");
    assert_string_equal(m.parts[0].filename, "a\"b.csv");
    assert_string_equal(m.parts[0].content_type, "text/csv");
    assert_int_equal(m.parts[0].len, strlen("a,b\r\n-XyZ --XyZ \r\n"));
    assert_memory_equal(m.parts[0].data, "a,b\r\n-XyZ --XyZ \r\n", m.parts[0].len);
    assert_string_equal(m.parts[1].name, "empty");
    assert_int_equal(m.parts[1].len, 0);
    http_multipart_cleanup(&m);

    /* Body starting with the delimiter, close delimiter at the very end (no CRLF). */
    assert_int_equal(mp("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ--", &m),
                     0);
    assert_int_equal(m.nparts, 1);
    assert_int_equal(m.parts[0].len, 1);
    http_multipart_cleanup(&m);

    /* Binary data with NUL and CR/LF that are not delimiters. */
    const char bin[] = "--XyZ\r\nContent-Disposition: form-data; name=b\r\n\r\n"
                       "\0\r\n\r\n--X\r\n-\r\n--XyZ--\r\n";
    assert_int_equal(
        http_multipart_parse(CT, strlen(CT), (const uint8_t *)bin, sizeof(bin) - 1, &m), 0);
    assert_int_equal(m.parts[0].len, 11);
    http_multipart_cleanup(&m);
}

static void strict_refusals(void **state)
{
    struct http_multipart m;
    const char *hdr = "Content-Disposition: form-data; name=a\r\n\r\n";
    char body[512];
    const char *bad[] = {
        "",                                /* nothing */
        "--XyZ--\r\n",                     /* no part at all */
        "--XyZ\r\n%sv\r\n",                /* no close delimiter */
        "--XyZ\r\n%sv\r\n--XyZ",           /* delimiter without CRLF or -- */
        "--XyZ\r\n%sv\n--XyZ--\r\n",       /* LF only before the delimiter */
        "--XyZ\r\n%sv--XyZ--\r\n",         /* no CRLF before the delimiter */
        "--XyZ\r\n%sv\r\n--XyZ--x\r\n",    /* junk after the close delimiter */
        "--XyZ\r\n%sv\r\n--XyZx\r\n",      /* a longer boundary */
        "--XyZ\n%sv\r\n--XyZ--\r\n",       /* LF after the first delimiter */
        "pre--XyZ\r\n%sv\r\n--XyZ--\r\n",  /* first delimiter not at a line start */
        "--XyZ\r\n\r\nv\r\n--XyZ--\r\n%s", /* a part without Content-Disposition */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), bad[i], hdr);
        if (mp(body, &m) != CG_EPARSE) {
            fail_msg("accepted %zu: %s", i, body);
        }
    }
    const char *bad_heads[] = {
        "Content-Disposition: attachment; name=a\r\n",
        "Content-Disposition: form-data\r\n",
        "Content-Disposition: form-data; name=\"\"\r\n",
        "Content-Disposition: form-data; name=a; name=b\r\n",
        "Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n",
        "Content-Disposition: form-data; name=a\r\n continued\r\n",
        "Content-Disposition: form-data; name=a\r\nNo colon\r\n",
        "Content-Disposition: form-data; name=a\r\nX: \x01\r\n",
        "Content-Disposition: form-data; name=a\nX: y\r\n",
        "Content-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: base64\r\n",
        "Content-Disposition: form-data; name=a\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n",
        "Content-Disposition: form-data; name=\"a\r\n",
    };
    for (size_t i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
        snprintf(body, sizeof(body), "--XyZ\r\n%s\r\nv\r\n--XyZ--\r\n", bad_heads[i]);
        if (mp(body, &m) != CG_EPARSE) {
            fail_msg("accepted head %zu: %s", i, body);
        }
    }
    /* Content-Type of the request. */
    const char *bad_ct[] = {
        "multipart/mixed; boundary=XyZ",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"a b \"",
        "multipart/form-data; boundary=\"a\\\\b\"",
        "multipart/form-data; boundary=\"a;b\"",
        ("multipart/form-data; boundary=1234567890123456789012345678901234567890"
         "1234567890123456789012345678901"),
        "text/plain"};
    const char *ok = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ--\r\n";
    for (size_t i = 0; i < sizeof(bad_ct) / sizeof(bad_ct[0]); i++) {
        if (http_multipart_parse(bad_ct[i], strlen(bad_ct[i]), (const uint8_t *)ok, strlen(ok),
                                 &m) != CG_EPARSE) {
            fail_msg("accepted content type %s", bad_ct[i]);
        }
    }
    /* 70 characters, quoted, with spaces inside: fine. */
    char b70[100];
    memset(b70, 'b', 70);
    b70[10] = ' ';
    b70[70] = 0;
    char ct70[200], body70[300];
    snprintf(ct70, sizeof(ct70), "multipart/form-data; boundary=\"%s\"", b70);
    snprintf(body70, sizeof(body70),
             "--%s\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--%s--\r\n", b70, b70);
    assert_int_equal(
        http_multipart_parse(ct70, strlen(ct70), (const uint8_t *)body70, strlen(body70), &m), 0);
    http_multipart_cleanup(&m);
}

static void limits(void **state)
{
    struct http_multipart m;
    char *body = malloc(16384);
    size_t o = 0;
    for (int i = 0; i < HTTP_MULTIPART_MAX_PARTS; i++) {
        o += (size_t)sprintf(
            body + o, "--XyZ\r\nContent-Disposition: form-data; name=p%d\r\n\r\n%d\r\n", i, i);
    }
    strcpy(body + o, "--XyZ--\r\n");
    assert_int_equal(mp(body, &m), 0);
    assert_int_equal(m.nparts, HTTP_MULTIPART_MAX_PARTS);
    assert_string_equal(m.parts[15].name, "p15");
    assert_memory_equal(m.parts[15].data, "15", 2);
    http_multipart_cleanup(&m);
    o += (size_t)sprintf(body + o, "--XyZ\r\nContent-Disposition: form-data; name=x\r\n\r\nx\r\n");
    strcpy(body + o, "--XyZ--\r\n");
    assert_int_equal(mp(body, &m), CG_ELIMIT);

    /* Part header section over the limit. */
    o = (size_t)sprintf(body, "--XyZ\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ");
    memset(body + o, 'p', HTTP_MULTIPART_MAX_PART_HEAD);
    o += HTTP_MULTIPART_MAX_PART_HEAD;
    strcpy(body + o, "\r\n\r\nv\r\n--XyZ--\r\n");
    assert_int_equal(mp(body, &m), CG_ELIMIT);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_type),    cmocka_unit_test(accept_rule),
        cmocka_unit_test(curl_forms),      cmocka_unit_test(hand_vectors),
        cmocka_unit_test(strict_refusals), cmocka_unit_test(limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
