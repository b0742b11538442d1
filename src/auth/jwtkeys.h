/* JWT signing keys: an immutable, reference-counted set of keys persisted in a directory.
 *
 * A key set holds one or more asymmetric keys. Each key has
 *   - a `kid`: the RFC 7638 JWK thumbprint of its public key (base64url of SHA-256 over
 *     the canonical {"crv","kty","x","y"} JSON, 43 characters), so anyone holding the JWKS
 *     can check that a kid names that key;
 *   - an algorithm, fixed per key (ES256 on P-256 today; the enum leaves room for ES384 and
 *     EdDSA); a token is verified only with a key whose algorithm equals the token's;
 *   - a created time (Unix seconds).
 * The newest key (greatest created time, then greatest kid) is the current one: new tokens
 * are signed with it. Older keys remain for verification until pruned.
 *
 * Persistence: a directory (normally DATA_DIR/jwt/, mode 0700) with one unencrypted PKCS#8
 * PEM private key per file, named "<created>-<kid>.pem", each created 0600 with O_EXCL and
 * published with link(2) so that a half-written key never appears under a loadable name.
 * Loading refuses a directory or key file that group or other may access, that is not a
 * regular file owned by the effective user, whose name does not match its key, or whose key
 * is not of a supported type; the reason names the file.
 *
 * Threads: a set is never modified after it is built. jwtkeys_rotate and jwtkeys_prune
 * build a new set (sharing the unchanged keys) and leave the old one intact, so readers
 * that hold a reference keep using a consistent set while the owner swaps its pointer.
 * All functions taking a `const struct jwtkeys *` may be called from any thread
 * concurrently; _ref/_unref are atomic. Rotation and pruning of one directory must be
 * serialised by the caller (one control thread).
 *
 * Secrets: private keys stay inside OpenSSL EVP_PKEY objects in this process; they are
 * written only to their key file and never returned, logged or put in the JWKS. Buffers
 * that held PEM text are zeroed before release.
 */
#ifndef CERTGATE_AUTH_JWTKEYS_H
#define CERTGATE_AUTH_JWTKEYS_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Signature algorithms a key can be bound to. Only ES256 is implemented; adding one means
 * a generator, a loader check and the signature encoding in jwtkeys.c. */
enum jwtkeys_alg {
    JWTKEYS_ALG_ES256 = 1, /* ECDSA P-256 + SHA-256, JOSE signature r||s (64 bytes) */
};

/* kid text: 43 base64url characters for a SHA-256 thumbprint, plus the NUL. */
#define JWTKEYS_KID_MAX 64
/* Largest signature any supported algorithm produces (ES256: 64). */
#define JWTKEYS_SIG_MAX 64
/* Largest key file accepted when loading. */
#define JWTKEYS_FILE_MAX 16384

struct jwtkeys;

/* Public facts about one key of a set, for listings and tests. */
struct jwtkeys_info {
    char kid[JWTKEYS_KID_MAX];
    enum jwtkeys_alg alg;
    int64_t created; /* Unix seconds */
    bool current;
};

/* jwtkeys_alg_name: the JOSE "alg" name of an algorithm ("ES256"), or NULL if unknown.
 * Any thread. */
const char *jwtkeys_alg_name(enum jwtkeys_alg alg);

/* jwtkeys_load: load every "*.pem" key file of `dir` into a new set.
 * When `create` is true a missing directory is created (0700) and, if it holds no key, a
 * first ES256 key is generated with created time `now`; when false, a missing directory
 * or an empty one fails with -ENOENT. Files whose name starts with '.' and files not
 * ending in ".pem" are ignored (with `create`, a leftover ".tmp-" file from an interrupted
 * rotation is removed). On failure a one-line reason naming the file goes to why[why_len] (may be
 * NULL). *out (refcount 1, caller owns) is set only on success.
 * Returns 0, -ENOENT, -EPERM (permissions, ownership, not a regular file), -ELOOP (a key
 * file is a symbolic link), CG_EPARSE (unreadable or unsupported key, name not matching
 * the key, the same key twice), CG_ELIMIT (file empty or over JWTKEYS_FILE_MAX),
 * CG_ECRYPTO, -ENOMEM or another -errno. Main or control thread (does file I/O). */
int jwtkeys_load(const char *dir, bool create, int64_t now, char *why, size_t why_len,
                 struct jwtkeys **out);

/* jwtkeys_from_pem: a set of one key from PEM text (PKCS#8 or traditional EC private key),
 * with the given created time, not bound to a directory (rotate and prune refuse it).
 * For tests, fuzzing and tools. The caller keeps ownership of `pem` (and should zero it).
 * Returns 0, CG_EPARSE (not a private key, encrypted key), CG_EDENIED (unsupported key
 * type or curve), -ENOMEM. *out (refcount 1) set only on success. Any thread. */
int jwtkeys_from_pem(const char *pem, size_t len, int64_t created, struct jwtkeys **out);

/* jwtkeys_ref: take one more reference; returns ks. NULL is passed through. Any thread. */
struct jwtkeys *jwtkeys_ref(struct jwtkeys *ks);

/* jwtkeys_unref: drop one reference; the last one frees the set (keys shared with other
 * sets survive until their last set goes). NULL is a no-op. Any thread. */
void jwtkeys_unref(struct jwtkeys *ks);

/* jwtkeys_rotate: generate a new ES256 key, write it to the set's directory and return a
 * new set holding the old keys plus the new one, which is current. Its created time is
 * `now`, or one second after the current key's if the clock went backwards, so the new key
 * is always the newest. `cur` is not changed. *out (refcount 1) set only on success.
 * Returns 0, -EINVAL (set has no directory), CG_ECRYPTO, -ENOMEM or -errno (why says
 * which file). Control thread only (serialise with jwtkeys_prune). */
int jwtkeys_rotate(const struct jwtkeys *cur, int64_t now, char *why, size_t why_len,
                   struct jwtkeys **out);

/* jwtkeys_prune: delete the key files of retired keys and return the set without them.
 * A key is retired when a newer key exists; it is pruned once `retention` seconds have
 * passed since the next newer key was created (that is when it stopped signing), so
 * `retention` must exceed the longest token lifetime plus the verification clock skew.
 * The current key is never pruned. *removed (optional) receives how many keys went.
 * *out (refcount 1) is always a new set on success, even when nothing was removed.
 * Returns 0, -EINVAL (no directory, retention <= 0), -ENOMEM or -errno from unlink (then
 * *out is not set; keys unlinked before the failure are gone from disk but still in
 * `cur`). Control thread only. */
int jwtkeys_prune(const struct jwtkeys *cur, int64_t now, int64_t retention, int *removed,
                  char *why, size_t why_len, struct jwtkeys **out);

/* jwtkeys_count: number of keys in the set. Any thread. */
size_t jwtkeys_count(const struct jwtkeys *ks);

/* jwtkeys_info_get: facts about key i (0 <= i < count; keys are ordered newest first, so
 * key 0 is the current one). 0 or -EINVAL. Any thread. */
int jwtkeys_info_get(const struct jwtkeys *ks, size_t i, struct jwtkeys_info *info);

/* jwtkeys_current_kid: the current key's kid (valid while the caller holds `ks`). */
const char *jwtkeys_current_kid(const struct jwtkeys *ks);

/* jwtkeys_find: whether the set holds a key named `kid`; its algorithm goes to *alg.
 * 0 or -ENOENT. Any thread. */
int jwtkeys_find(const struct jwtkeys *ks, const char *kid, enum jwtkeys_alg *alg);

/* jwtkeys_sign: sign msg[len] with the current key. The JOSE signature goes to
 * sig[JWTKEYS_SIG_MAX] with its length in *sig_len (ES256: 64 bytes, r||s big-endian),
 * the key's kid is copied to kid[JWTKEYS_KID_MAX] and its algorithm to *alg.
 * Returns 0, CG_ECRYPTO or -ENOMEM. Any thread. */
int jwtkeys_sign(const struct jwtkeys *ks, const uint8_t *msg, size_t len,
                 uint8_t sig[JWTKEYS_SIG_MAX], size_t *sig_len, char kid[JWTKEYS_KID_MAX],
                 enum jwtkeys_alg *alg);

/* jwtkeys_verify: check a JOSE signature over msg[len] with the key named `kid`, which
 * must be bound to algorithm `alg`. Returns 0 only when the signature is valid;
 * -ENOENT for an unknown kid, CG_EDENIED when the key's algorithm differs from `alg` or
 * the signature has the wrong length or does not verify, -ENOMEM or CG_ECRYPTO otherwise
 * (all of which deny). Any thread. */
int jwtkeys_verify(const struct jwtkeys *ks, const char *kid, enum jwtkeys_alg alg,
                   const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len);

/* jwtkeys_jwks: the JWK Set of the public keys, newest first:
 * {"keys":[{"kty":"EC","crv":"P-256","x":..,"y":..,"kid":..,"use":"sig","alg":"ES256"}]}.
 * Never contains private parts. Returns a new jansson reference (caller decrefs), or NULL
 * on allocation or library failure. Any thread. */
json_t *jwtkeys_jwks(const struct jwtkeys *ks);

#endif
