#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/str.h"

#include <string.h>

static void hex_round_trip(void **state)
{
    uint8_t in[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];
    hex_encode(in, 4, out);
    assert_string_equal(out, "000fa5ff");
    uint8_t back[4];
    assert_int_equal(hex_decode("000FA5ff", 8, back, 4), 4);
    assert_memory_equal(back, in, 4);
    assert_int_equal(hex_decode("abc", 3, back, 4), CG_EPARSE);
    assert_int_equal(hex_decode("zz", 2, back, 4), CG_EPARSE);
    assert_int_equal(hex_decode("0011223344", 10, back, 4), CG_ELIMIT);
}

static void base64_vectors(void **state)
{
    /* RFC 4648 test vectors. */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    const char *url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16];
        size_t n = b64_encode((const uint8_t *)plain[i], strlen(plain[i]), out, false);
        assert_string_equal(out, std[i]);
        assert_int_equal(n, strlen(std[i]));
        b64_encode((const uint8_t *)plain[i], strlen(plain[i]), out, true);
        assert_string_equal(out, url[i]);
        uint8_t dec[16];
        int d = b64_decode(std[i], strlen(std[i]), dec, sizeof(dec), false, false);
        assert_int_equal(d, strlen(plain[i]));
        assert_memory_equal(dec, plain[i], d);
        d = b64_decode(url[i], strlen(url[i]), dec, sizeof(dec), false, true);
        assert_int_equal(d, strlen(plain[i]));
    }
}

static void base64_rejects_malformed(void **state)
{
    uint8_t dec[16];
    assert_int_equal(b64_decode("Zg=a", 4, dec, 16, false, false), CG_EPARSE);
    assert_int_equal(b64_decode("Z", 1, dec, 16, false, false), CG_EPARSE);
    assert_int_equal(b64_decode("Zh==", 4, dec, 16, false, false), CG_EPARSE); /* stray bits */
    assert_int_equal(b64_decode("Zm9v YmFy", 9, dec, 16, false, false), CG_EPARSE);
    assert_int_equal(b64_decode("Zm9v\nYmFy", 9, dec, 16, true, false), 6);
    assert_int_equal(b64_decode("a+/b", 4, dec, 16, false, true), CG_EPARSE);
    assert_int_equal(b64_decode("Zm9vYmFy", 8, dec, 5, false, false), CG_ELIMIT);
}

static void utf8_rules(void **state)
{
    assert_true(utf8_valid((const uint8_t *)"plain/topic", 11, false));
    assert_true(utf8_valid((const uint8_t *)"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, false));
    assert_false(utf8_valid((const uint8_t *)"a\0b", 3, false));
    assert_true(utf8_valid((const uint8_t *)"a\0b", 3, true));
    assert_false(utf8_valid((const uint8_t *)"\xc0\xaf", 2, false));         /* overlong */
    assert_false(utf8_valid((const uint8_t *)"\xed\xa0\x80", 3, false));     /* surrogate */
    assert_false(utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4, false)); /* > U+10FFFF */
    assert_false(utf8_valid((const uint8_t *)"\xe2\x82", 2, false));         /* truncated */
}

static void small_helpers(void **state)
{
    char dst[4];
    assert_int_equal(str_lcpy(dst, "abcdef", sizeof(dst)), 6);
    assert_string_equal(dst, "abc");
    char s[] = "  padded \r\n";
    assert_string_equal(str_trim(s), "padded");
    assert_true(ct_equal("abc", "abc", 3));
    assert_false(ct_equal("abc", "abd", 3));
    assert_true(str_case_eq("Content-Type", "content-TYPE"));
    uint8_t r1[16] = {0}, r2[16] = {0};
    assert_int_equal(random_bytes(r1, 16), 0);
    assert_int_equal(random_bytes(r2, 16), 0);
    assert_memory_not_equal(r1, r2, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hex_round_trip),
        cmocka_unit_test(base64_vectors),
        cmocka_unit_test(base64_rejects_malformed),
        cmocka_unit_test(utf8_rules),
        cmocka_unit_test(small_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
