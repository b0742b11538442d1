/* JSON bodies: strict parse with a small depth; on success, run the getters over every
 * member and check that the compact serialization parses back to an equal value. */
#include "core/buf.h"
#include "http/json.h"

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
    json_t *v = NULL;
    char err[160];
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    if (size) {
        memcpy(copy, data, size);
    }
    int rc = http_json_parse_body(copy, size, 4096, 8, &v, err, sizeof(err));
    free(copy);
    if (rc < 0) {
        CHECK(err[0] != 0);
        return 0;
    }
    CHECK(json_is_object(v));
    const char *key;
    json_t *member;
    json_object_foreach(v, key, member)
    {
        bool b;
        const char *s;
        int64_t i;
        rc = http_json_get_bool(v, key, false, &b);
        CHECK(rc == 0 || !(json_is_boolean(member) || json_is_null(member)));
        rc = http_json_get_string(v, key, 16, &s);
        CHECK(rc < 0 || s == NULL || strlen(s) <= 16);
        rc = http_json_get_int(v, key, -1000, 1000, 0, &i);
        CHECK(rc < 0 || (i >= -1000 && i <= 1000));
    }
    struct buf out;
    buf_init(&out, 1 << 20);
    CHECK(http_json_write(&out, v) == 0);
    json_t *back = NULL;
    rc = http_json_parse_body(buf_data(&out), out.len, 1 << 20, 8, &back, err, sizeof(err));
    CHECK(rc == 0);
    CHECK(json_equal(v, back));
    json_decref(back);
    buf_cleanup(&out);
    json_decref(v);
    return 0;
}
