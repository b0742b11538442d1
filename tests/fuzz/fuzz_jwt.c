/* libFuzzer target: arbitrary bytes as a JWT against a fixed key set.
 *
 * Oracles:
 *  - jwt_verify never accepts a token other than the valid seeds signed with the fuzz key
 *    (tests/data/auth/fuzz-key.pem, seeds in tests/fuzz/corpus/jwt/valid-*, listed below)
 *    or the tokens signed here at start-up: the fuzzer cannot forge an ES256 signature, so
 *    any other acceptance is a verification bug. (An (r, n-s) twin of a seed would also be
 *    valid ECDSA; reaching it by mutation is not a realistic event.)
 *  - a refusal leaves *claims untouched, carries a reason, and its result code matches the
 *    reason; JWT_INTERNAL (allocation or crypto failure) never happens on peer input.
 *  - when the input is a JSON object, signing it as claims (with a far-future exp) and
 *    verifying the result gives back an equal object.
 *
 * The key is read from $CERTGATE_FUZZ_JWT_KEY or, by default, from tests/data/auth/ next
 * to this source file. Verification uses a fixed clock (TEST_NOW of the unit tests).
 */
#include "auth/jwt.h"
#include "auth/jwtkeys.h"
#include "core/err.h"
#include "core/str.h"

#include <jansson.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000
#define FAR_FUTURE 4102444800LL

/* The valid seeds (written by tests/data/auth/interop.py make-fuzz). */
static const char *const seeds[] = {
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IlhiRU9XRF9GclRCdkZpUGhmUllRODFrS3BRNTRHVkFRUXEt"
    "TEY0Nm1Ba00ifQ.eyJzdWIiOiJkZXZpY2VfYSIsInRlbiI6InQxIiwiZXhwIjo0MTAyNDQ0ODAwfQ.r2j2_iLp48fz16nL"
    "-tBp4ZAjzDCx7UnXX_K1UQSKZX1FtEzG8UK5890uEhbtQ9w7kgneQlq-vqwyOs4uMX2piw",
    "eyJhbGciOiJFUzI1NiIsImtpZCI6IlhiRU9XRF9GclRCdkZpUGhmUllRODFrS3BRNTRHVkFRUXEtTEY0Nm1Ba00ifQ.ey"
    "JzdWIiOiJkZXZpY2VfYiIsInRlbiI6InQyIiwiaXNzIjoiY2VydGdhdGUiLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcw"
    "MDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJqdGkiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwieCI6WzEseyJ5Ijpud"
    "WxsfV19._OPBp-8jIaHe49jdEwO8T_PxCKT46BYBjIY3t2-jGtGDtxoV-"
    "Q9f7ku1ZZzHueBckRBUWsVu9m2Y559iCTdmPg",
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IlhiRU9XRF9GclRCdkZpUGhmUllRODFrS3BRNTRHVkFRUXEt"
    "TEY0Nm1Ba00ifQ.eyJleHAiOjQxMDI0NDQ4MDAuNSwidSI6Ilx1MDBlOVx1NmYyMiJ9.Tes5el5JM4q8iZfWRXvfqG7m7T"
    "WpOvbdKvUvPOtnaJvClkyheouYuuTUnSau0Jk4Vbd8JWkRNS4srwZHsWKzbA",
};
#define NSEEDS (sizeof(seeds) / sizeof(seeds[0]))
#define NSIGNED 4

static struct jwtkeys *keys;
static char *signed_here[NSIGNED];

static char *read_key(size_t *len)
{
    const char *path = getenv("CERTGATE_FUZZ_JWT_KEY");
    char *dflt = NULL;
    if (path == NULL) {
        const char *src = __FILE__;
        const char *slash = strrchr(src, '/');
        int dirlen = slash ? (int)(slash - src) : 1;
        if (asprintf(&dflt, "%.*s/../data/auth/fuzz-key.pem", dirlen, slash ? src : ".") < 0) {
            abort();
        }
        path = dflt;
    }
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        fprintf(stderr, "fuzz_jwt: cannot open %s (set CERTGATE_FUZZ_JWT_KEY)\n", path);
        abort();
    }
    static char buf[JWTKEYS_FILE_MAX];
    *len = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    free(dflt);
    return buf;
}

static bool accepted(const char *tok, size_t len)
{
    json_t *claims = NULL;
    int rc = jwt_verify(keys, tok, len, NOW, JWT_DEFAULT_SKEW, &claims, NULL);
    json_decref(claims);
    return rc == 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    size_t len = 0;
    char *pem = read_key(&len);
    if (jwtkeys_from_pem(pem, len, NOW, &keys) != 0) {
        fprintf(stderr, "fuzz_jwt: the fuzz key does not load\n");
        abort();
    }
    secure_zero(pem, len);
    /* The oracle is only meaningful if the seeds really are valid for this key. */
    for (size_t i = 0; i < NSEEDS; i++) {
        if (!accepted(seeds[i], strlen(seeds[i]))) {
            fprintf(stderr, "fuzz_jwt: seed %zu does not verify with the fuzz key\n", i);
            abort();
        }
    }
    for (int i = 0; i < NSIGNED; i++) {
        json_t *c = json_pack("{s:s, s:i, s:I}", "sub", "device_fuzz", "n", i, "exp",
                              (json_int_t)FAR_FUTURE);
        if (c == NULL || jwt_sign(keys, c, &signed_here[i], NULL) != 0 ||
            !accepted(signed_here[i], strlen(signed_here[i]))) {
            abort();
        }
        json_decref(c);
    }
    return 0;
}

static bool is_known(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < NSEEDS; i++) {
        if (strlen(seeds[i]) == size && memcmp(seeds[i], data, size) == 0) {
            return true;
        }
    }
    for (int i = 0; i < NSIGNED; i++) {
        if (strlen(signed_here[i]) == size && memcmp(signed_here[i], data, size) == 0) {
            return true;
        }
    }
    return false;
}

static void check_verify(const uint8_t *data, size_t size)
{
    json_t *claims = (json_t *)0x1;
    struct jwt_error err;
    int rc = jwt_verify(keys, (const char *)data, size, NOW, JWT_DEFAULT_SKEW, &claims, &err);
    if (rc == 0) {
        if (!is_known(data, size)) {
            fprintf(stderr, "fuzz_jwt: accepted a token that was never signed\n");
            abort();
        }
        if (err.reason != JWT_OK || !json_is_object(claims)) {
            abort();
        }
        json_decref(claims);
        return;
    }
    if (claims != (json_t *)0x1 || err.reason == JWT_OK || err.text[0] == 0) {
        abort();
    }
    if (err.reason == JWT_INTERNAL) {
        fprintf(stderr, "fuzz_jwt: internal error on peer input: %s\n", err.text);
        abort();
    }
    switch (err.reason) {
    case JWT_MALFORMED:
        if (rc != CG_EPARSE) {
            abort();
        }
        break;
    case JWT_TOO_LARGE:
        if (rc != CG_ELIMIT || size <= JWT_MAX_LEN) {
            abort();
        }
        break;
    case JWT_EXPIRED:
    case JWT_NOT_YET_VALID:
        if (rc != CG_EEXPIRED) {
            abort();
        }
        break;
    default:
        if (rc != CG_EDENIED) {
            abort();
        }
    }
}

static void check_round_trip(const uint8_t *data, size_t size)
{
    json_t *claims = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return;
    }
    json_object_set_new(claims, "exp", json_integer(FAR_FUTURE));
    json_object_del(claims, "nbf");
    json_object_del(claims, "iat");
    char *tok = NULL;
    int rc = jwt_sign(keys, claims, &tok, NULL);
    if (rc == 0) {
        json_t *back = NULL;
        if (jwt_verify(keys, tok, strlen(tok), NOW, JWT_DEFAULT_SKEW, &back, NULL) != 0 ||
            !json_equal(back, claims)) {
            fprintf(stderr, "fuzz_jwt: a signed token did not verify to its claims\n");
            abort();
        }
        json_decref(back);
        free(tok);
    } else if (rc != CG_ELIMIT) {
        abort(); /* only size may stop a valid claims object from being signed */
    }
    json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_verify(data, size);
    check_round_trip(data, size);
    return 0;
}
