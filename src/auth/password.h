/* Password hashing with argon2id (RFC 9106), and generated passwords.
 *
 * Hashes are stored in the standard encoded form
 *   $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<hash b64>
 * so the parameters travel with each hash and can be raised later: password_needs_rehash
 * tells when a stored hash was made with weaker parameters than the current ones, and the
 * caller re-hashes on the next successful login.
 *
 * Cost: one hash with the default parameters takes tens of milliseconds and 19 MiB (see
 * docs/design/tokens.md for the time measured on the reference machine). Hashing and
 * verifying therefore run on the blocking pool, never on a worker thread. All functions
 * are thread-safe (argon2 keeps no global state).
 *
 * Passwords are byte strings of 1..PASSWORD_MAX_LEN bytes (the caller decides about the
 * character set); this module never keeps or logs them.
 */
#ifndef CERTGATE_AUTH_PASSWORD_H
#define CERTGATE_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest password accepted (bytes). Longer input is refused, not truncated. */
#define PASSWORD_MAX_LEN 1024
/* Longest encoded hash this module produces or reads. */
#define PASSWORD_ENCODED_MAX 256
/* Generated passwords: 6 groups of 4 characters from a 56-character set, joined by '-'
 * (24 * log2(56) = 139 bits). */
#define PASSWORD_GEN_LEN 29

/* argon2id cost parameters. */
struct password_params {
    uint32_t m_kib;    /* memory in KiB */
    uint32_t t_cost;   /* passes over memory */
    uint32_t lanes;    /* parallelism (also the number of threads used) */
    uint32_t salt_len; /* random salt bytes */
    uint32_t hash_len; /* output bytes */
};

/* Server defaults: m=19456 KiB (19 MiB), t=2, p=1, 16-byte salt, 32-byte hash (the OWASP
 * Password Storage Cheat Sheet's argon2id minimum). */
extern const struct password_params password_params_default;

/* For tests and benchmarks only: m=64 KiB, t=1, p=1. Far too cheap for stored passwords. */
extern const struct password_params password_params_fast;

/* password_hash: hash pw[len] with fresh random salt into a malloc'd encoded string
 * (*encoded, caller frees; it is not secret but is sensitive). Returns 0, -EINVAL
 * (empty password or bad parameters), CG_ELIMIT (len > PASSWORD_MAX_LEN), -ENOMEM,
 * -errno from the random source or CG_ECRYPTO (argon2 failed). Any thread; slow. */
int password_hash(const struct password_params *params, const char *pw, size_t len, char **encoded);

/* password_verify: whether pw[len] matches `encoded` (an argon2id hash from
 * password_hash). The comparison is argon2's constant-time one. Returns 0 only on a
 * match; CG_EDENIED on a mismatch or for an empty or over-long password; CG_EPARSE if
 * `encoded` is not an argon2id v19 hash or its parameters exceed sane limits (memory
 * above 1 GiB, more than 64 passes or 16 lanes); -ENOMEM or CG_ECRYPTO if argon2 fails.
 * Every non-zero result denies. Any thread; slow. */
int password_verify(const char *encoded, const char *pw, size_t len);

/* password_verify_dummy: spend the time of one verification with `params` and deny.
 * For logins of unknown users, so that response time does not reveal which user names
 * exist. Always returns CG_EDENIED. Any thread; slow. */
int password_verify_dummy(const struct password_params *params, const char *pw, size_t len);

/* password_needs_rehash: true when `encoded` is not an argon2id v19 hash, cannot be
 * parsed, or was made with less memory, fewer passes, a shorter salt or a shorter output
 * than `params`. Any thread; fast. */
bool password_needs_rehash(const char *encoded, const struct password_params *params);

/* password_generate: a random password of PASSWORD_GEN_LEN characters ("xxxx-xxxx-...")
 * from a set without look-alike characters (no 0/O, 1/l/I), into out[size] with
 * size > PASSWORD_GEN_LEN. For the admin password printed once at setup; the caller
 * zeroes it after use. Returns 0, -EINVAL (size too small) or -errno. Any thread. */
int password_generate(char *out, size_t size);

#endif
