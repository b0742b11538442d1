#include "auth/password.h"

#include "core/err.h"
#include "core/str.h"

#include <argon2.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Upper bounds for parameters read from a stored hash, so that a corrupted or planted
 * hash cannot make one verification allocate gigabytes or run for minutes. */
#define SANE_M_KIB (1024u * 1024u) /* 1 GiB */
#define SANE_T 64u
#define SANE_LANES 16u
#define SALT_MIN 8u
#define SALT_MAX 64u
#define HASH_MIN 16u
#define HASH_MAX 64u

const struct password_params password_params_default = {
    .m_kib = 19456,
    .t_cost = 2,
    .lanes = 1,
    .salt_len = 16,
    .hash_len = 32,
};

const struct password_params password_params_fast = {
    .m_kib = 64,
    .t_cost = 1,
    .lanes = 1,
    .salt_len = 16,
    .hash_len = 32,
};

static bool params_valid(const struct password_params *p)
{
    return p != NULL && p->lanes >= 1 && p->lanes <= SANE_LANES && p->t_cost >= 1 &&
           p->t_cost <= SANE_T && p->m_kib >= 8 * p->lanes && p->m_kib <= SANE_M_KIB &&
           p->salt_len >= SALT_MIN && p->salt_len <= SALT_MAX && p->hash_len >= HASH_MIN &&
           p->hash_len <= HASH_MAX;
}

/* What an encoded hash says about itself. */
struct encoded_facts {
    uint32_t m_kib, t_cost, lanes;
    size_t salt_len, hash_len;
};

static bool expect(const char **s, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*s, lit, n) != 0) {
        return false;
    }
    *s += n;
    return true;
}

static bool read_u32(const char **s, uint32_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9') {
        x = x * 10 + (uint64_t)(*p - '0');
        if (++digits > 10 || x > UINT32_MAX) {
            return false;
        }
        p++;
    }
    if (digits == 0 || (digits > 1 && **s == '0')) {
        return false;
    }
    *v = (uint32_t)x;
    *s = p;
    return true;
}

/* A run of standard base64 digits without padding; its decoded byte count. */
static bool read_b64(const char **s, size_t *bytes)
{
    const char *p = *s;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '/') {
        p++;
    }
    size_t n = (size_t)(p - *s);
    if (n == 0 || n % 4 == 1) {
        return false;
    }
    *bytes = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    *s = p;
    return true;
}

/* Parse "$argon2id$v=19$m=M,t=T,p=P$salt$hash" exactly (the form libargon2 writes). */
static bool parse_encoded(const char *e, struct encoded_facts *f)
{
    if (e == NULL || strnlen(e, PASSWORD_ENCODED_MAX + 1) > PASSWORD_ENCODED_MAX) {
        return false;
    }
    const char *s = e;
    return expect(&s, "$argon2id$v=19$m=") && read_u32(&s, &f->m_kib) && expect(&s, ",t=") &&
           read_u32(&s, &f->t_cost) && expect(&s, ",p=") && read_u32(&s, &f->lanes) &&
           expect(&s, "$") && read_b64(&s, &f->salt_len) && expect(&s, "$") &&
           read_b64(&s, &f->hash_len) && *s == 0;
}

static bool facts_sane(const struct encoded_facts *f)
{
    return f->lanes >= 1 && f->lanes <= SANE_LANES && f->t_cost >= 1 && f->t_cost <= SANE_T &&
           f->m_kib >= 8 * f->lanes && f->m_kib <= SANE_M_KIB && f->salt_len >= SALT_MIN &&
           f->salt_len <= SALT_MAX && f->hash_len >= 4 && f->hash_len <= HASH_MAX;
}

static int map_argon2(int r)
{
    switch (r) {
    case ARGON2_OK:
        return 0;
    case ARGON2_VERIFY_MISMATCH:
        return CG_EDENIED;
    case ARGON2_MEMORY_ALLOCATION_ERROR:
        return -ENOMEM;
    case ARGON2_DECODING_FAIL:
    case ARGON2_DECODING_LENGTH_FAIL:
    case ARGON2_INCORRECT_TYPE:
        return CG_EPARSE;
    default:
        return CG_ECRYPTO;
    }
}

int password_hash(const struct password_params *params, const char *pw, size_t len, char **encoded)
{
    int rc;
    uint8_t salt[SALT_MAX];
    char *enc = NULL;

    if (!params_valid(params) || pw == NULL || len == 0) {
        return -EINVAL;
    }
    if (len > PASSWORD_MAX_LEN) {
        return CG_ELIMIT;
    }
    rc = random_bytes(salt, params->salt_len);
    if (rc != 0) {
        return rc;
    }
    /* argon2_encodedlen counts the NUL in this libargon2 version; one spare byte costs
     * nothing if another counts it differently. */
    size_t cap = argon2_encodedlen(params->t_cost, params->m_kib, params->lanes, params->salt_len,
                                   params->hash_len, Argon2_id) +
                 1;
    if (cap > PASSWORD_ENCODED_MAX + 1) {
        return -EINVAL;
    }
    enc = calloc(1, cap);
    if (enc == NULL) {
        return -ENOMEM;
    }
    int r = argon2id_hash_encoded(params->t_cost, params->m_kib, params->lanes, pw, len, salt,
                                  params->salt_len, params->hash_len, enc, cap);
    if (r != ARGON2_OK) {
        free(enc);
        return r == ARGON2_MEMORY_ALLOCATION_ERROR ? -ENOMEM : CG_ECRYPTO;
    }
    *encoded = enc;
    return 0;
}

int password_verify(const char *encoded, const char *pw, size_t len)
{
    struct encoded_facts f;
    if (pw == NULL || len == 0 || len > PASSWORD_MAX_LEN) {
        return CG_EDENIED;
    }
    if (!parse_encoded(encoded, &f) || !facts_sane(&f)) {
        return CG_EPARSE;
    }
    return map_argon2(argon2id_verify(encoded, pw, len));
}

int password_verify_dummy(const struct password_params *params, const char *pw, size_t len)
{
    static const uint8_t salt[SALT_MAX] = "certgate-dummy-salt-certgate-dummy-salt";
    uint8_t out[HASH_MAX];
    if (!params_valid(params)) {
        params = &password_params_default;
    }
    if (pw == NULL || len == 0 || len > PASSWORD_MAX_LEN) {
        pw = "-";
        len = 1;
    }
    (void)argon2id_hash_raw(params->t_cost, params->m_kib, params->lanes, pw, len, salt,
                            params->salt_len, out, params->hash_len);
    secure_zero(out, sizeof(out));
    return CG_EDENIED;
}

bool password_needs_rehash(const char *encoded, const struct password_params *params)
{
    struct encoded_facts f;
    if (!parse_encoded(encoded, &f) || !facts_sane(&f)) {
        return true;
    }
    return f.m_kib < params->m_kib || f.t_cost < params->t_cost || f.salt_len < params->salt_len ||
           f.hash_len < params->hash_len;
}

int password_generate(char *out, size_t size)
{
    /* 56 characters: digits 2-9, letters without l, o, I, O. */
    static const char set[] = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    const unsigned n = sizeof(set) - 1;
    const unsigned limit = 256 / n * n; /* reject bytes >= limit: no modulo bias */
    uint8_t pool[64];
    size_t avail = 0, used = 0;

    if (out == NULL || size <= PASSWORD_GEN_LEN) {
        return -EINVAL;
    }
    size_t o = 0;
    while (o < PASSWORD_GEN_LEN) {
        if (o % 5 == 4) {
            out[o++] = '-';
            continue;
        }
        if (used == avail) {
            int rc = random_bytes(pool, sizeof(pool));
            if (rc != 0) {
                secure_zero(out, size);
                secure_zero(pool, sizeof(pool));
                return rc;
            }
            avail = sizeof(pool);
            used = 0;
        }
        uint8_t b = pool[used++];
        if (b < limit) {
            out[o++] = set[b % n];
        }
    }
    out[o] = 0;
    secure_zero(pool, sizeof(pool));
    return 0;
}
