#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/password.h"
#include "core/err.h"
#include "core/timeutil.h"

#include <argon2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct password_params *fast = &password_params_fast;

static void round_trip_and_wrong_password(void **state)
{
    char *enc = NULL;
    assert_int_equal(password_hash(fast, "correct horse", 13, &enc), 0);
    assert_true(strncmp(enc, "$argon2id$v=19$m=64,t=1,p=1$", 28) == 0);
    assert_true(strlen(enc) < PASSWORD_ENCODED_MAX);
    assert_int_equal(password_verify(enc, "correct horse", 13), 0);
    assert_int_equal(password_verify(enc, "correct horsf", 13), CG_EDENIED);
    assert_int_equal(password_verify(enc, "correct hors", 12), CG_EDENIED);
    assert_int_equal(password_verify(enc, "correct horse ", 14), CG_EDENIED);
    assert_int_equal(password_verify(enc, "Correct horse", 13), CG_EDENIED);

    /* A fresh salt every time: same password, different hashes, both verify. */
    char *enc2 = NULL;
    assert_int_equal(password_hash(fast, "correct horse", 13, &enc2), 0);
    assert_string_not_equal(enc, enc2);
    assert_int_equal(password_verify(enc2, "correct horse", 13), 0);
    free(enc);
    free(enc2);
}

static void bytes_not_strings(void **state)
{
    /* Passwords are byte strings: an embedded NUL is part of the password. */
    char *enc = NULL;
    assert_int_equal(password_hash(fast, "a\0b", 3, &enc), 0);
    assert_int_equal(password_verify(enc, "a\0b", 3), 0);
    assert_int_equal(password_verify(enc, "a\0c", 3), CG_EDENIED);
    assert_int_equal(password_verify(enc, "a", 1), CG_EDENIED);
    free(enc);
    /* UTF-8 and Latin-1 bytes of "é" are different passwords. */
    assert_int_equal(password_hash(fast, "\xc3\xa9", 2, &enc), 0);
    assert_int_equal(password_verify(enc, "\xc3\xa9", 2), 0);
    assert_int_equal(password_verify(enc, "\xe9", 1), CG_EDENIED);
    free(enc);
}

static void length_limits(void **state)
{
    char *pw = malloc(PASSWORD_MAX_LEN + 2);
    memset(pw, 'x', PASSWORD_MAX_LEN + 1);
    char *enc = (char *)0x1;
    assert_int_equal(password_hash(fast, "", 0, &enc), -EINVAL);
    assert_int_equal(password_hash(fast, NULL, 5, &enc), -EINVAL);
    assert_int_equal(password_hash(fast, pw, PASSWORD_MAX_LEN + 1, &enc), CG_ELIMIT);
    assert_ptr_equal(enc, (char *)0x1);
    assert_int_equal(password_hash(fast, pw, PASSWORD_MAX_LEN, &enc), 0);
    assert_int_equal(password_verify(enc, pw, PASSWORD_MAX_LEN), 0);
    /* Over-long input is refused, not truncated to a matching prefix. */
    assert_int_equal(password_verify(enc, pw, PASSWORD_MAX_LEN + 1), CG_EDENIED);
    assert_int_equal(password_verify(enc, "", 0), CG_EDENIED);
    assert_int_equal(password_verify(enc, NULL, 3), CG_EDENIED);
    free(enc);
    free(pw);

    /* Even a hash that an over-long password would match (made with libargon2 directly)
     * does not let it in: the length check comes first, so a peer cannot make the server
     * hash megabytes. */
    size_t big = 4096;
    char *huge = malloc(big);
    memset(huge, 'y', big);
    char encoded[PASSWORD_ENCODED_MAX];
    assert_int_equal(argon2id_hash_encoded(1, 64, 1, huge, big, "0123456789abcdef", 16, 32, encoded,
                                           sizeof(encoded)),
                     ARGON2_OK);
    assert_int_equal(password_verify(encoded, huge, big), CG_EDENIED);
    assert_int_equal(password_verify(encoded, huge, PASSWORD_MAX_LEN), CG_EDENIED);
    free(huge);
}

static void bad_parameters(void **state)
{
    char *enc = NULL;
    struct password_params p = password_params_fast;
    p.m_kib = 4; /* below argon2's 8 KiB per lane */
    assert_int_equal(password_hash(&p, "pw", 2, &enc), -EINVAL);
    p = password_params_fast;
    p.t_cost = 0;
    assert_int_equal(password_hash(&p, "pw", 2, &enc), -EINVAL);
    p = password_params_fast;
    p.salt_len = 4;
    assert_int_equal(password_hash(&p, "pw", 2, &enc), -EINVAL);
    p = password_params_fast;
    p.lanes = 0;
    assert_int_equal(password_hash(&p, "pw", 2, &enc), -EINVAL);
    assert_int_equal(password_hash(NULL, "pw", 2, &enc), -EINVAL);
    assert_null(enc);
    /* Two lanes work (argon2 runs them on two threads). */
    p = password_params_fast;
    p.lanes = 2;
    p.m_kib = 64;
    assert_int_equal(password_hash(&p, "pw", 2, &enc), 0);
    assert_true(strncmp(enc, "$argon2id$v=19$m=64,t=1,p=2$", 28) == 0);
    assert_int_equal(password_verify(enc, "pw", 2), 0);
    free(enc);
}

static void malformed_and_foreign_hashes(void **state)
{
    char *enc = NULL;
    assert_int_equal(password_hash(fast, "pw", 2, &enc), 0);
    char *t = strdup(enc);
    /* Changing one character of the hash part makes it a mismatch, not a match. */
    size_t n = strlen(t);
    t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(password_verify(t, "pw", 2), CG_EDENIED);
    free(t);

    /* A 14-byte salt and a 28-byte output, in argon2's unpadded base64. */
#define SH "$c29tZXNhbHQxMjM0NTY$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
    const char *bad[] = {
        "",
        "plaintext",
        "$argon2i$v=19$m=64,t=1,p=1" SH,
        "$argon2d$v=19$m=64,t=1,p=1" SH,
        "$argon2id$v=16$m=64,t=1,p=1" SH,
        "$argon2id$m=64,t=1,p=1" SH,
        "$argon2id$v=19$m=4194304,t=1,p=1" SH, /* 4 GiB: refused before argon2 allocates */
        "$argon2id$v=19$m=64,t=1000,p=1" SH,
        "$argon2id$v=19$m=64,t=1,p=1$c29t$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA", /* salt 3 B */
        "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQxMjM0NTY$",                        /* no hash */
        "$argon2id$v=19$m=064,t=1,p=1" SH,
        "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQxMjM0NTY=$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=64,t=1,p=1" SH "$",
        "$argon2id$v=19$m=-64,t=1,p=1" SH,
        "$argon2id$v=19$m=64,t=1,p=0" SH,
        "$argon2id$v=19$m=64,t=1,p=1" SH " ",
    };
#undef SH
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(password_verify(bad[i], "pw", 2), CG_EPARSE);
        assert_true(password_needs_rehash(bad[i], fast));
    }
    assert_int_equal(password_verify(NULL, "pw", 2), CG_EPARSE);
    free(enc);
}

/* The argon2id vector of the reference implementation's test suite (test.c:
 * password "password", salt "somesalt", t=2, m=64 MiB, p=1, 32-byte output). */
static void known_answer(void **state)
{
    const char *ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                      "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    assert_int_equal(password_verify(ref, "password", 8), 0);
    assert_int_equal(password_verify(ref, "passwore", 8), CG_EDENIED);
}

static void needs_rehash(void **state)
{
    const struct password_params *def = &password_params_default;
    char *weak = NULL;
    assert_int_equal(password_hash(fast, "pw", 2, &weak), 0);
    assert_true(password_needs_rehash(weak, def));
    assert_false(password_needs_rehash(weak, fast));

    /* Each weaker field on its own triggers a rehash; stronger ones do not. */
    struct password_params p = password_params_fast;
    p.t_cost = 2;
    assert_true(password_needs_rehash(weak, &p));
    p = password_params_fast;
    p.m_kib = 128;
    assert_true(password_needs_rehash(weak, &p));
    p = password_params_fast;
    p.salt_len = 32;
    assert_true(password_needs_rehash(weak, &p));
    p = password_params_fast;
    p.hash_len = 64;
    assert_true(password_needs_rehash(weak, &p));
    p = password_params_fast;
    p.m_kib = 32;
    p.salt_len = 8;
    assert_false(password_needs_rehash(weak, &p));

    char *strong = NULL;
    p = password_params_fast;
    p.m_kib = 256;
    p.t_cost = 3;
    assert_int_equal(password_hash(&p, "pw", 2, &strong), 0);
    assert_false(password_needs_rehash(strong, fast));
    assert_true(password_needs_rehash(strong, def));
    free(weak);
    free(strong);
}

static void default_parameters(void **state)
{
    /* The one test at server cost; prints the time so a run shows the machine's cost. */
    char *enc = NULL;
    uint64_t t0 = time_mono_ns();
    assert_int_equal(password_hash(&password_params_default, "admin password", 14, &enc), 0);
    uint64_t t1 = time_mono_ns();
    assert_int_equal(password_verify(enc, "admin password", 14), 0);
    uint64_t t2 = time_mono_ns();
    assert_true(strncmp(enc, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert_false(password_needs_rehash(enc, &password_params_default));
    assert_int_equal(password_verify(enc, "admin passworD", 14), CG_EDENIED);
    uint64_t t3 = time_mono_ns();
    assert_int_equal(password_verify_dummy(&password_params_default, "x", 1), CG_EDENIED);
    uint64_t t4 = time_mono_ns();
    printf("argon2id m=19456 t=2 p=1: hash %.1f ms, verify %.1f ms, mismatch %.1f ms, "
           "dummy %.1f ms\n",
           (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, (double)(t3 - t2) / 1e6,
           (double)(t4 - t3) / 1e6);
    /* The dummy does the same work as a real verification: within a factor of 4 either
     * way (single timings on a busy 2-core machine are noisy; a dummy that skipped the
     * hash, or used the fast profile, would be 100x off). */
    double real = (double)(t2 - t1), dummy = (double)(t4 - t3);
    assert_true(dummy > real / 4 && dummy < real * 4);
    free(enc);
}

static void dummy_always_denies(void **state)
{
    assert_int_equal(password_verify_dummy(fast, "pw", 2), CG_EDENIED);
    assert_int_equal(password_verify_dummy(fast, "", 0), CG_EDENIED);
    assert_int_equal(password_verify_dummy(fast, NULL, 0), CG_EDENIED);
}

static void generated_passwords(void **state)
{
    static const char set[] = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    char pw[PASSWORD_GEN_LEN + 1];
    char prev[PASSWORD_GEN_LEN + 1] = "";
    int seen[256] = {0};
    for (int round = 0; round < 2000; round++) {
        assert_int_equal(password_generate(pw, sizeof(pw)), 0);
        assert_int_equal(strlen(pw), PASSWORD_GEN_LEN);
        for (int i = 0; i < PASSWORD_GEN_LEN; i++) {
            if (i % 5 == 4) {
                assert_int_equal(pw[i], '-');
            } else {
                assert_non_null(strchr(set, pw[i]));
                seen[(unsigned char)pw[i]]++;
            }
        }
        assert_string_not_equal(pw, prev);
        memcpy(prev, pw, sizeof(pw));
    }
    /* Every character of the set shows up; look-alikes never do. */
    for (const char *c = set; *c; c++) {
        assert_true(seen[(unsigned char)*c] > 0);
    }
    const char *never = "01lIoO";
    for (const char *c = never; *c; c++) {
        assert_int_equal(seen[(unsigned char)*c], 0);
    }
    char small[PASSWORD_GEN_LEN];
    assert_int_equal(password_generate(small, sizeof(small)), -EINVAL);
    assert_int_equal(password_generate(NULL, 100), -EINVAL);

    /* A generated password hashes and verifies like any other. */
    char *enc = NULL;
    assert_int_equal(password_hash(fast, pw, strlen(pw), &enc), 0);
    assert_int_equal(password_verify(enc, pw, strlen(pw)), 0);
    free(enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_and_wrong_password),
        cmocka_unit_test(bytes_not_strings),
        cmocka_unit_test(length_limits),
        cmocka_unit_test(bad_parameters),
        cmocka_unit_test(malformed_and_foreign_hashes),
        cmocka_unit_test(known_answer),
        cmocka_unit_test(needs_rehash),
        cmocka_unit_test(default_parameters),
        cmocka_unit_test(dummy_always_denies),
        cmocka_unit_test(generated_passwords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
