/* Helpers shared by the auth unit tests (header-only: the test CMake builds one executable
 * per test_*.c file). Include after <cmocka.h>. */
#ifndef CERTGATE_TEST_AUTH_TESTUTIL_H
#define CERTGATE_TEST_AUTH_TESTUTIL_H

#include "auth/jwtkeys.h"
#include "core/str.h"
#include "support/testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The fixed clock of the committed test tokens (tests/data/auth/interop.py NOW). */
#define TEST_NOW 1700000000

/* Path of a file in tests/data (CERTGATE_TEST_DATA, set by ctest). malloc'd. */
static inline char *test_data_path(const char *rel)
{
    const char *base = getenv("CERTGATE_TEST_DATA");
    char *p = NULL;
    if (asprintf(&p, "%s/%s", base ? base : "tests/data", rel) < 0) {
        abort();
    }
    return p;
}

/* The whole of tests/data/<rel>, trailing newline removed; aborts the test if missing. */
static inline char *test_data_read(const char *rel, size_t *len)
{
    char *path = test_data_path(rel);
    size_t n = 0;
    char *data = test_read_file(path, &n);
    if (data == NULL) {
        fprintf(stderr, "cannot read %s (set CERTGATE_TEST_DATA)\n", path);
        abort();
    }
    free(path);
    while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r')) {
        data[--n] = 0;
    }
    if (len != NULL) {
        *len = n;
    }
    return data;
}

/* A key set made from a committed PEM file. */
static inline struct jwtkeys *test_keys_from_data(const char *rel, int64_t created)
{
    size_t n = 0;
    char *pem = test_data_read(rel, &n);
    struct jwtkeys *ks = NULL;
    if (jwtkeys_from_pem(pem, n, created, &ks) != 0) {
        fprintf(stderr, "cannot load %s\n", rel);
        abort();
    }
    secure_zero(pem, n);
    free(pem);
    return ks;
}

/* Write data to dir/name with the given mode. Aborts on failure. */
static inline void test_write_file(const char *dir, const char *name, const void *data, size_t n,
                                   mode_t mode)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0) {
        abort();
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n || fchmod(fd, mode) != 0) {
        perror(path);
        abort();
    }
    close(fd);
    free(path);
}

/* base64url of data into a malloc'd string. */
static inline char *test_b64url(const void *data, size_t n)
{
    char *out = malloc(b64_encoded_len(n) + 1);
    if (out == NULL) {
        abort();
    }
    b64_encode(data, n, out, true);
    return out;
}

/* A token "b64(header).b64(claims).b64(sig)" where the signature is made by the current
 * key of `ks` over exactly those bytes: lets tests sign headers and claims that jwt_sign
 * would never produce. malloc'd. */
static inline char *test_token_signed(const struct jwtkeys *ks, const char *header,
                                      const char *claims)
{
    char *h = test_b64url(header, strlen(header));
    char *c = test_b64url(claims, strlen(claims));
    char *input = NULL;
    if (asprintf(&input, "%s.%s", h, c) < 0) {
        abort();
    }
    uint8_t sig[JWTKEYS_SIG_MAX];
    size_t slen = 0;
    char kid[JWTKEYS_KID_MAX];
    enum jwtkeys_alg alg;
    if (jwtkeys_sign(ks, (const uint8_t *)input, strlen(input), sig, &slen, kid, &alg) != 0) {
        abort();
    }
    char *s = test_b64url(sig, slen);
    char *tok = NULL;
    if (asprintf(&tok, "%s.%s", input, s) < 0) {
        abort();
    }
    free(h);
    free(c);
    free(input);
    free(s);
    return tok;
}

#endif
