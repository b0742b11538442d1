/* multipart/form-data: first line = the Content-Type value, the rest = the body. Checks
 * that every part's data is a slice of the body followed by "\r\n--boundary", that names
 * are non-empty C strings, and exercises the Accept helper on the first line too. */
#include "http/multipart.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - data) : size;
    char *ct = malloc(ct_len + 1);
    CHECK(ct != NULL);
    memcpy(ct, data, ct_len);
    ct[ct_len] = 0;
    size_t body_len = nl ? size - ct_len - 1 : 0;
    uint8_t *body = malloc(body_len + 1);
    CHECK(body != NULL);
    if (body_len) {
        memcpy(body, nl + 1, body_len);
    }

    (void)http_accepts_json(ct, ct_len);
    struct http_content_type t;
    if (http_content_type_parse(ct, ct_len, &t) == 0) {
        CHECK(t.type != NULL && t.subtype != NULL && t.nparams <= HTTP_MEDIA_MAX_PARAMS);
        for (size_t i = 0; i < t.nparams; i++) {
            CHECK(http_is_token(t.params[i].name, strlen(t.params[i].name)));
            CHECK(http_content_type_param(&t, t.params[i].name) == t.params[i].value);
        }
    }

    struct http_multipart m;
    if (http_multipart_parse(ct, ct_len, body, body_len, &m) == 0) {
        const char *boundary = http_content_type_param(&t, "boundary");
        CHECK(boundary != NULL);
        size_t blen = strlen(boundary);
        CHECK(m.nparts >= 1 && m.nparts <= HTTP_MULTIPART_MAX_PARTS);
        for (size_t i = 0; i < m.nparts; i++) {
            const struct http_part *p = &m.parts[i];
            CHECK(p->name != NULL && p->name[0] != 0);
            CHECK(p->data >= body && p->data + p->len <= body + body_len);
            size_t end = (size_t)(p->data - body) + p->len;
            CHECK(body_len - end >= 4 + blen);
            CHECK(memcmp(body + end, "\r\n--", 4) == 0);
            CHECK(memcmp(body + end + 4, boundary, blen) == 0);
            CHECK(http_multipart_find(&m, p->name) != NULL);
        }
        http_multipart_cleanup(&m);
    }
    free(ct);
    free(body);
    return 0;
}
