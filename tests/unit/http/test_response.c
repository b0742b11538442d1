#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "http/response.h"

#include <errno.h>
#include <string.h>

/* 2021-09-03T07:42:00.123Z */
#define T0 1630654920123LL

static void date_format(void **state)
{
    char d[HTTP_DATE_LEN];
    http_date_format(T0, d);
    assert_string_equal(d, "Fri, 03 Sep 2021 07:42:00 GMT");
    http_date_format(784111777000LL, d); /* RFC 9110's example */
    assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    http_date_format(0, d);
    assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
}

static void reasons(void **state)
{
    assert_string_equal(http_status_reason(200), "OK");
    assert_string_equal(http_status_reason(201), "Created");
    assert_string_equal(http_status_reason(204), "No Content");
    assert_string_equal(http_status_reason(405), "Method Not Allowed");
    assert_string_equal(http_status_reason(413), "Content Too Large");
    assert_string_equal(http_status_reason(422), "Unprocessable Entity");
    assert_string_equal(http_status_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_reason(505), "HTTP Version Not Supported");
    assert_string_equal(http_status_reason(299), "Unknown");
}

static void full_response(void **state)
{
    struct buf b;
    buf_init(&b, 4096);
    buf_append_str(&b, "prefix|");
    struct http_field f[] = {
        {"Location", "https://h/tenant/tenants/t1/trusted-certificates/ab12"},
        {"Cache-Control", "no-store"},
    };
    struct http_response r = {.status = 201,
                              .content_type = "application/json",
                              .body = "{\"a\":1}",
                              .body_len = 7,
                              .date_ms = T0,
                              .fields = f,
                              .nfields = 2};
    assert_int_equal(http_response_write(&b, &r), 0);
    assert_string_equal(buf_str(&b),
                        "prefix|HTTP/1.1 201 Created\r\n"
                        "Date: Fri, 03 Sep 2021 07:42:00 GMT\r\n"
                        "Content-Type: application/json\r\n"
                        "Content-Length: 7\r\n"
                        "Location: https://h/tenant/tenants/t1/trusted-certificates/ab12\r\n"
                        "Cache-Control: no-store\r\n"
                        "\r\n"
                        "{\"a\":1}");
    buf_cleanup(&b);
}

static void head_close_and_empty(void **state)
{
    struct buf b;
    buf_init(&b, 4096);
    struct http_response r = {.status = 200,
                              .content_type = "text/plain",
                              .body = "hello",
                              .body_len = 5,
                              .head = true,
                              .close = true,
                              .date_ms = T0};
    assert_int_equal(http_response_write(&b, &r), 0);
    assert_string_equal(buf_str(&b), "HTTP/1.1 200 OK\r\n"
                                     "Date: Fri, 03 Sep 2021 07:42:00 GMT\r\n"
                                     "Content-Type: text/plain\r\n"
                                     "Content-Length: 5\r\n"
                                     "Connection: close\r\n"
                                     "\r\n");
    /* HEAD may give only the length. */
    buf_reset(&b);
    r.body = NULL;
    assert_int_equal(http_response_write(&b, &r), 0);
    assert_non_null(strstr(buf_str(&b), "Content-Length: 5\r\n"));

    /* An empty 404 still says Content-Length: 0; 204 says nothing about length. */
    buf_reset(&b);
    struct http_response nf = {.status = 404, .date_ms = T0};
    assert_int_equal(http_response_write(&b, &nf), 0);
    assert_string_equal(buf_str(&b), "HTTP/1.1 404 Not Found\r\n"
                                     "Date: Fri, 03 Sep 2021 07:42:00 GMT\r\n"
                                     "Content-Length: 0\r\n\r\n");
    buf_reset(&b);
    struct http_response nc = {.status = 204, .date_ms = T0};
    assert_int_equal(http_response_write(&b, &nc), 0);
    assert_string_equal(buf_str(&b), "HTTP/1.1 204 No Content\r\n"
                                     "Date: Fri, 03 Sep 2021 07:42:00 GMT\r\n\r\n");
    buf_reset(&b);
    assert_int_equal(http_response_write_continue(&b), 0);
    assert_string_equal(buf_str(&b), "HTTP/1.1 100 Continue\r\n\r\n");

    /* No date given: the current time, in the right shape. */
    buf_reset(&b);
    struct http_response now = {.status = 200};
    assert_int_equal(http_response_write(&b, &now), 0);
    assert_true(strncmp(buf_str(&b), "HTTP/1.1 200 OK\r\nDate: ", 23) == 0);
    assert_non_null(strstr(buf_str(&b), " GMT\r\nContent-Length: 0\r\n\r\n"));
    buf_cleanup(&b);
}

static void refuses_injection(void **state)
{
    struct buf b;
    buf_init(&b, 4096);
    buf_append_str(&b, "keep");
    const char *bad_values[] = {
        "a\r\nSet-Cookie: x=1", "a\nb", "a\rb", " lead", "trail\t", "nul\x01", "del\x7f"};
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        struct http_field f = {"Location", bad_values[i]};
        struct http_response r = {.status = 302, .date_ms = T0, .fields = &f, .nfields = 1};
        assert_int_equal(http_response_write(&b, &r), -EINVAL);
        struct http_response ct = {.status = 200, .date_ms = T0, .content_type = bad_values[i]};
        assert_int_equal(http_response_write(&b, &ct), -EINVAL);
    }
    const char *bad_names[] = {
        "",     "X Y",        "X:Y",          "Content-Length", "transfer-encoding",
        "Date", "CONNECTION", "Content-Type", "X\r\nY"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        struct http_field f = {bad_names[i], "v"};
        struct http_response r = {.status = 200, .date_ms = T0, .fields = &f, .nfields = 1};
        assert_int_equal(http_response_write(&b, &r), -EINVAL);
    }
    /* Bodies where the status forbids them, status out of range, body NULL with length. */
    struct http_response r = {.status = 204, .body = "x", .body_len = 1, .date_ms = T0};
    assert_int_equal(http_response_write(&b, &r), -EINVAL);
    r.status = 99;
    r.body_len = 0;
    assert_int_equal(http_response_write(&b, &r), -EINVAL);
    r.status = 600;
    assert_int_equal(http_response_write(&b, &r), -EINVAL);
    r = (struct http_response){.status = 200, .body = NULL, .body_len = 3, .date_ms = T0};
    assert_int_equal(http_response_write(&b, &r), -EINVAL);
    /* Nothing was written by the refused calls. */
    assert_string_equal(buf_str(&b), "keep");
    assert_true(http_field_value_valid("a\tb \xc3\xa9"));
    assert_true(http_field_value_valid(""));
    buf_cleanup(&b);
}

static void buffer_limit_leaves_buffer_unchanged(void **state)
{
    struct buf b;
    buf_init(&b, 100);
    buf_append_str(&b, "keep");
    char body[200];
    memset(body, 'x', sizeof(body));
    struct http_response r = {.status = 200, .body = body, .body_len = 80, .date_ms = T0};
    assert_int_equal(http_response_write(&b, &r), CG_ELIMIT);
    assert_int_equal(b.len, 4);
    assert_string_equal(buf_str(&b), "keep");
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(date_format),       cmocka_unit_test(reasons),
        cmocka_unit_test(full_response),     cmocka_unit_test(head_close_and_empty),
        cmocka_unit_test(refuses_injection), cmocka_unit_test(buffer_limit_leaves_buffer_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
