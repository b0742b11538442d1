#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/jwtkeys.h"
#include "core/err.h"
#include "core/str.h"
#include "auth/auth_testutil.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 1700000000

struct fixture {
    char *root; /* test_tmpdir */
    char *dir;  /* root/jwt (not created) */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->root = test_tmpdir("jwtkeys");
    if (asprintf(&f->dir, "%s/jwt", f->root) < 0) {
        abort();
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    test_rmtree(f->root);
    free(f->root);
    free(f->dir);
    free(f);
    return 0;
}

/* Names of the *.pem files in dir, sorted, joined by ' '. */
static char *pem_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[32];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.' && n < 32) {
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
        }
    }
    char *out = strdup("");
    for (int i = 0; i < n; i++) {
        char *next = NULL;
        assert_true(asprintf(&next, "%s%s%s", out, i ? " " : "", names[i]) > 0);
        free(out);
        free(names[i]);
        out = next;
    }
    return out;
}

static char *key_path(const char *dir, const struct jwtkeys *ks, size_t i)
{
    struct jwtkeys_info info;
    assert_int_equal(jwtkeys_info_get(ks, i, &info), 0);
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%" PRId64 "-%s.pem", dir, info.created, info.kid) > 0);
    return p;
}

static int sign_msg(const struct jwtkeys *ks, const char *msg, uint8_t sig[JWTKEYS_SIG_MAX],
                    char kid[JWTKEYS_KID_MAX])
{
    size_t slen = 0;
    enum jwtkeys_alg alg;
    int rc = jwtkeys_sign(ks, (const uint8_t *)msg, strlen(msg), sig, &slen, kid, &alg);
    if (rc == 0) {
        assert_int_equal(slen, 64);
        assert_int_equal(alg, JWTKEYS_ALG_ES256);
    }
    return rc;
}

static int verify_msg(const struct jwtkeys *ks, const char *kid, const char *msg,
                      const uint8_t *sig)
{
    return jwtkeys_verify(ks, kid, JWTKEYS_ALG_ES256, (const uint8_t *)msg, strlen(msg), sig, 64);
}

static void create_makes_private_dir_and_first_key(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *ks = NULL;
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &ks), 0);
    assert_int_equal(jwtkeys_count(ks), 1);

    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);

    struct jwtkeys_info info;
    assert_int_equal(jwtkeys_info_get(ks, 0, &info), 0);
    assert_true(info.current);
    assert_int_equal(info.created, T0);
    assert_int_equal(info.alg, JWTKEYS_ALG_ES256);
    assert_int_equal(strlen(info.kid), 43);
    assert_string_equal(info.kid, jwtkeys_current_kid(ks));
    assert_string_equal(jwtkeys_alg_name(info.alg), "ES256");
    assert_int_equal(jwtkeys_info_get(ks, 1, &info), -EINVAL);

    char *path = key_path(f->dir, ks, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    free(path);
    char *names = pem_files(f->dir);
    assert_null(strchr(names, ' ')); /* exactly one file, no temporary left behind */
    free(names);
    jwtkeys_unref(ks);
}

static void missing_or_empty_dir_without_create(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *ks = (struct jwtkeys *)0x1;
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), -ENOENT);
    assert_ptr_equal(ks, (struct jwtkeys *)0x1); /* untouched on failure */
    assert_int_equal(mkdir(f->dir, 0700), 0);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), -ENOENT);
    assert_non_null(strstr(why, "no key file"));
}

static void persistence_round_trip(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &a), 0);
    assert_int_equal(jwtkeys_rotate(a, T0 + 100, why, sizeof(why), &b), 0);

    uint8_t sig_old[64], sig_new[64];
    char kid_old[JWTKEYS_KID_MAX], kid_new[JWTKEYS_KID_MAX];
    assert_int_equal(sign_msg(a, "old message", sig_old, kid_old), 0);
    assert_int_equal(sign_msg(b, "new message", sig_new, kid_new), 0);

    /* A fresh process reading the directory sees the same keys, the same current one. */
    assert_int_equal(jwtkeys_load(f->dir, false, T0 + 200, why, sizeof(why), &c), 0);
    assert_int_equal(jwtkeys_count(c), 2);
    for (size_t i = 0; i < 2; i++) {
        struct jwtkeys_info x, y;
        assert_int_equal(jwtkeys_info_get(b, i, &x), 0);
        assert_int_equal(jwtkeys_info_get(c, i, &y), 0);
        assert_string_equal(x.kid, y.kid);
        assert_int_equal(x.created, y.created);
        assert_int_equal(x.current, y.current);
    }
    assert_string_equal(jwtkeys_current_kid(c), kid_new);
    assert_int_equal(verify_msg(c, kid_old, "old message", sig_old), 0);
    assert_int_equal(verify_msg(c, kid_new, "new message", sig_new), 0);
    assert_int_equal(verify_msg(c, kid_new, "new messagE", sig_new), CG_EDENIED);
    jwtkeys_unref(a);
    jwtkeys_unref(b);
    jwtkeys_unref(c);
}

static void refuses_key_file_readable_by_others(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *ks = NULL;
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &ks), 0);
    char *path = key_path(f->dir, ks, 0);
    jwtkeys_unref(ks);

    const mode_t bad[] = {0640, 0604, 0660, 0644, 0610};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(chmod(path, bad[i]), 0);
        ks = NULL;
        assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), -EPERM);
        assert_null(ks);
        assert_non_null(strstr(why, strrchr(path, '/') + 1)); /* names the file */
        assert_non_null(strstr(why, "group or other"));
    }
    assert_int_equal(chmod(path, 0400), 0); /* stricter than 0600 is fine */
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), 0);
    jwtkeys_unref(ks);
    free(path);
}

static void refuses_open_directory(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *ks = NULL;
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &ks), 0);
    jwtkeys_unref(ks);
    assert_int_equal(chmod(f->dir, 0750), 0);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), -EPERM);
    assert_non_null(strstr(why, "key directory"));
    assert_int_equal(chmod(f->dir, 0700), 0);
}

static void refuses_symlink_and_foreign_files(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *ks = NULL;
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &ks), 0);
    char *path = key_path(f->dir, ks, 0);
    jwtkeys_unref(ks);

    /* A symlink named like a key is refused even though its target is a good key. */
    char *target = NULL;
    assert_true(asprintf(&target, "%s/elsewhere.key", f->root) > 0);
    assert_int_equal(rename(path, target), 0);
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), -ELOOP);
    assert_non_null(strstr(why, "symbolic link"));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rename(target, path), 0);

    /* Files not ending in .pem and dot files are ignored. */
    test_write_file(f->dir, "README", "x", 1, 0644);
    test_write_file(f->dir, ".hidden.pem", "x", 1, 0644);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), 0);
    assert_int_equal(jwtkeys_count(ks), 1);
    jwtkeys_unref(ks);

    /* A .pem that is not a key, an empty one, and a badly named one are refused. */
    test_write_file(f->dir, "1-garbage.pem", "not a key\n", 10, 0600);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), CG_EPARSE);
    assert_non_null(strstr(why, "1-garbage.pem"));
    char *p = NULL;
    assert_true(asprintf(&p, "%s/1-garbage.pem", f->dir) > 0);
    unlink(p);
    free(p);
    test_write_file(f->dir, "2-empty.pem", "", 0, 0600);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), CG_ELIMIT);
    assert_true(asprintf(&p, "%s/2-empty.pem", f->dir) > 0);
    unlink(p);
    free(p);
    test_write_file(f->dir, "key.pem", "x", 1, 0600);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), CG_EPARSE);
    assert_non_null(strstr(why, "<created>-<kid>.pem"));
    free(target);
    free(path);
}

static void refuses_renamed_key(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *ks = NULL;
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &ks), 0);
    char *path = key_path(f->dir, ks, 0);
    jwtkeys_unref(ks);
    char *other = NULL;
    assert_true(
        asprintf(&other, "%s/%d-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.pem", f->dir, T0) > 0);
    assert_int_equal(rename(path, other), 0);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), CG_EPARSE);
    assert_non_null(strstr(why, "does not match"));

    /* The same key stored twice under two created times is refused too. */
    assert_int_equal(rename(other, path), 0);
    size_t n = 0;
    char *pem = test_read_file(path, &n);
    char *dup = strrchr(path, '/') + 1;
    char name[128];
    snprintf(name, sizeof(name), "9%s", dup); /* "91700000000-<kid>.pem" */
    test_write_file(f->dir, name, pem, n, 0600);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), CG_EPARSE);
    assert_non_null(strstr(why, "same key"));
    secure_zero(pem, n);
    free(pem);
    free(other);
    free(path);
}

static void write_pkey_file(const char *dir, const char *name, EVP_PKEY *pk, bool encrypt)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    assert_int_equal(fchmod(fileno(fp), 0600), 0);
    if (encrypt) {
        assert_int_equal(PEM_write_PrivateKey(fp, pk, EVP_aes_128_cbc(),
                                              (const unsigned char *)"secret", 6, NULL, NULL),
                         1);
    } else {
        assert_int_equal(PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL), 1);
    }
    fclose(fp);
    free(p);
}

static void refuses_unsupported_and_encrypted_keys(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *ks = NULL;
    assert_int_equal(mkdir(f->dir, 0700), 0);

    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(rsa);
    assert_non_null(p384);
    assert_non_null(p256);

    write_pkey_file(f->dir, "1-rsa.pem", rsa, false);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), CG_EPARSE);
    assert_non_null(strstr(why, "not an EC P-256 private key"));
    char *p = NULL;
    assert_true(asprintf(&p, "%s/1-rsa.pem", f->dir) > 0);
    unlink(p);

    write_pkey_file(f->dir, "1-rsa.pem", p384, false);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), CG_EPARSE);
    assert_non_null(strstr(why, "not an EC P-256 private key"));
    unlink(p);

    /* Encrypted: refused without prompting for a passphrase. */
    write_pkey_file(f->dir, "1-rsa.pem", p256, true);
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &ks), CG_EPARSE);
    assert_non_null(strstr(why, "unencrypted"));
    unlink(p);
    free(p);

    /* The same refusals through jwtkeys_from_pem. */
    BIO *mem = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(mem, rsa, NULL, NULL, 0, NULL, NULL), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(mem, &data);
    assert_int_equal(jwtkeys_from_pem(data, (size_t)n, T0, &ks), CG_EDENIED);
    BIO_free(mem);
    mem = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(mem, p256), 1); /* a public key is not enough */
    n = BIO_get_mem_data(mem, &data);
    assert_int_equal(jwtkeys_from_pem(data, (size_t)n, T0, &ks), CG_EPARSE);
    BIO_free(mem);
    mem = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(mem, p256, NULL, NULL, 0, NULL, NULL), 1);
    n = BIO_get_mem_data(mem, &data);
    assert_int_equal(jwtkeys_from_pem(data, (size_t)n, T0, &ks), 0);
    assert_int_equal(jwtkeys_count(ks), 1);
    jwtkeys_unref(ks);
    BIO_free(mem);

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(p256);
}

static void rotation_builds_new_set_and_keeps_old(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &a), 0);
    char kid_a[JWTKEYS_KID_MAX];
    snprintf(kid_a, sizeof(kid_a), "%s", jwtkeys_current_kid(a));

    assert_int_equal(jwtkeys_rotate(a, T0 + 10, why, sizeof(why), &b), 0);
    /* The old set is untouched: readers holding it see exactly what they saw. */
    assert_int_equal(jwtkeys_count(a), 1);
    assert_string_equal(jwtkeys_current_kid(a), kid_a);
    assert_int_equal(jwtkeys_count(b), 2);
    assert_string_not_equal(jwtkeys_current_kid(b), kid_a);
    struct jwtkeys_info i0, i1;
    assert_int_equal(jwtkeys_info_get(b, 0, &i0), 0);
    assert_int_equal(jwtkeys_info_get(b, 1, &i1), 0);
    assert_true(i0.current);
    assert_false(i1.current);
    assert_int_equal(i0.created, T0 + 10);
    assert_string_equal(i1.kid, kid_a);

    /* Clock went backwards: the new key is still the newest. */
    assert_int_equal(jwtkeys_rotate(b, T0 - 500, why, sizeof(why), &c), 0);
    assert_int_equal(jwtkeys_info_get(c, 0, &i0), 0);
    assert_int_equal(i0.created, T0 + 11);

    /* The old set outlives the new ones and still works after they are gone. */
    jwtkeys_unref(b);
    jwtkeys_unref(c);
    uint8_t sig[64];
    char kid[JWTKEYS_KID_MAX];
    assert_int_equal(sign_msg(a, "m", sig, kid), 0);
    assert_string_equal(kid, kid_a);
    assert_int_equal(verify_msg(a, kid, "m", sig), 0);
    jwtkeys_unref(a);

    char *names = pem_files(f->dir);
    int files = 1;
    for (char *s = names; *s; s++) {
        files += *s == ' ';
    }
    assert_int_equal(files, 3);
    free(names);
}

static void prune_after_retention(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *k1 = NULL, *k2 = NULL, *k3 = NULL, *p = NULL;
    const int64_t ret = 7200;
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &k1), 0);
    assert_int_equal(jwtkeys_rotate(k1, T0 + 1000, why, sizeof(why), &k2), 0);
    assert_int_equal(jwtkeys_rotate(k2, T0 + 5000, why, sizeof(why), &k3), 0);
    uint8_t sig[64];
    char kid1[JWTKEYS_KID_MAX];
    assert_int_equal(sign_msg(k1, "m", sig, kid1), 0);
    char *path1 = key_path(f->dir, k3, 2);

    /* Key 1 was replaced at T0+1000: it goes at T0+1000+ret, not a second earlier. */
    int removed = -1;
    assert_int_equal(jwtkeys_prune(k3, T0 + 1000 + ret - 1, ret, &removed, why, sizeof(why), &p),
                     0);
    assert_int_equal(removed, 0);
    assert_int_equal(jwtkeys_count(p), 3);
    assert_int_equal(verify_msg(p, kid1, "m", sig), 0);
    jwtkeys_unref(p);

    assert_int_equal(jwtkeys_prune(k3, T0 + 1000 + ret, ret, &removed, why, sizeof(why), &p), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(jwtkeys_count(p), 2);
    assert_int_equal(verify_msg(p, kid1, "m", sig), -ENOENT);
    assert_int_equal(access(path1, F_OK), -1);
    assert_int_equal(verify_msg(k3, kid1, "m", sig), 0); /* the old set still has it */
    jwtkeys_unref(p);

    /* Long after: everything but the current key goes; the current key never does. */
    assert_int_equal(jwtkeys_prune(k3, T0 + 1000000, ret, &removed, why, sizeof(why), &p), 0);
    assert_int_equal(removed, 2); /* key 1 already gone from disk counts as removed */
    assert_int_equal(jwtkeys_count(p), 1);
    assert_string_equal(jwtkeys_current_kid(p), jwtkeys_current_kid(k3));
    struct jwtkeys *reloaded = NULL;
    assert_int_equal(jwtkeys_load(f->dir, false, T0, why, sizeof(why), &reloaded), 0);
    assert_int_equal(jwtkeys_count(reloaded), 1);
    assert_string_equal(jwtkeys_current_kid(reloaded), jwtkeys_current_kid(k3));

    assert_int_equal(jwtkeys_prune(k3, T0, 0, NULL, why, sizeof(why), &p), -EINVAL);
    jwtkeys_unref(reloaded);
    jwtkeys_unref(p);
    jwtkeys_unref(k1);
    jwtkeys_unref(k2);
    jwtkeys_unref(k3);
    free(path1);
}

static void in_memory_set_cannot_rotate(void **state)
{
    char why[128];
    struct jwtkeys *ks = test_keys_from_data("auth/interop-key.pem", T0);
    struct jwtkeys *out = NULL;
    assert_int_equal(jwtkeys_rotate(ks, T0, why, sizeof(why), &out), -EINVAL);
    assert_int_equal(jwtkeys_prune(ks, T0, 100, NULL, why, sizeof(why), &out), -EINVAL);
    assert_null(out);
    assert_ptr_equal(jwtkeys_ref(ks), ks);
    jwtkeys_unref(ks);
    jwtkeys_unref(ks);
    jwtkeys_unref(NULL);
}

static void leftover_temporary_file_removed(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *ks = NULL;
    assert_int_equal(mkdir(f->dir, 0700), 0);
    test_write_file(f->dir, ".tmp-abc", "partial", 7, 0600);
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &ks), 0);
    char *p = NULL;
    assert_true(asprintf(&p, "%s/.tmp-abc", f->dir) > 0);
    assert_int_equal(access(p, F_OK), -1);
    free(p);
    jwtkeys_unref(ks);
}

static void verify_refusals(void **state)
{
    struct jwtkeys *ks = test_keys_from_data("auth/interop-key.pem", T0);
    uint8_t sig[64];
    char kid[JWTKEYS_KID_MAX];
    assert_int_equal(sign_msg(ks, "hello", sig, kid), 0);
    const uint8_t *m = (const uint8_t *)"hello";
    assert_int_equal(jwtkeys_verify(ks, kid, JWTKEYS_ALG_ES256, m, 5, sig, 64), 0);
    assert_int_equal(jwtkeys_verify(ks, kid, (enum jwtkeys_alg)0, m, 5, sig, 64), CG_EDENIED);
    assert_int_equal(jwtkeys_verify(ks, kid, (enum jwtkeys_alg)2, m, 5, sig, 64), CG_EDENIED);
    assert_int_equal(jwtkeys_verify(ks, kid, JWTKEYS_ALG_ES256, m, 5, sig, 63), CG_EDENIED);
    assert_int_equal(jwtkeys_verify(ks, "nope", JWTKEYS_ALG_ES256, m, 5, sig, 64), -ENOENT);
    enum jwtkeys_alg alg;
    assert_int_equal(jwtkeys_find(ks, kid, &alg), 0);
    assert_int_equal(alg, JWTKEYS_ALG_ES256);
    assert_int_equal(jwtkeys_find(ks, "nope", &alg), -ENOENT);
    /* r = 0 and s = 0, and r, s = n (the group order) are not signatures. */
    uint8_t zero[64] = {0};
    assert_int_equal(jwtkeys_verify(ks, kid, JWTKEYS_ALG_ES256, m, 5, zero, 64), CG_EDENIED);
    static const uint8_t order[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
                                      0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    uint8_t bad[64];
    memcpy(bad, order, 32);
    memcpy(bad + 32, sig + 32, 32);
    assert_int_equal(jwtkeys_verify(ks, kid, JWTKEYS_ALG_ES256, m, 5, bad, 64), CG_EDENIED);
    jwtkeys_unref(ks);
}

/* EVP_PKEY holding only the public point 04||x||y given in base64url. */
static EVP_PKEY *pkey_from_jwk(const char *x, const char *y)
{
    uint8_t pub[65];
    pub[0] = 4;
    assert_int_equal(b64_decode(x, strlen(x), pub + 1, 32, false, true), 32);
    assert_int_equal(b64_decode(y, strlen(y), pub + 33, 32, false, true), 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    assert_non_null(bld);
    assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0),
                     1);
    assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 65), 1);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return pk;
}

static EVP_PKEY *pkey_from_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    EVP_PKEY *pk = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(pk);
    return pk;
}

/* RFC 7638 thumbprint computed here, independently of jwtkeys.c. */
static void thumbprint(const char *x, const char *y, char out[JWTKEYS_KID_MAX])
{
    char canon[256];
    snprintf(canon, sizeof(canon), "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
             x, y);
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)canon, strlen(canon), d);
    b64_encode(d, sizeof(d), out, true);
}

static void jwks_has_the_real_public_keys(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct jwtkeys *a = NULL, *ks = NULL;
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &a), 0);
    assert_int_equal(jwtkeys_rotate(a, T0 + 1, why, sizeof(why), &ks), 0);
    json_t *doc = jwtkeys_jwks(ks);
    assert_non_null(doc);
    assert_int_equal(json_object_size(doc), 1);
    json_t *keys = json_object_get(doc, "keys");
    assert_int_equal(json_array_size(keys), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *k = json_array_get(keys, i);
        assert_int_equal(json_object_size(k), 7); /* no "d": public parts only */
        assert_null(json_object_get(k, "d"));
        assert_string_equal(json_string_value(json_object_get(k, "kty")), "EC");
        assert_string_equal(json_string_value(json_object_get(k, "crv")), "P-256");
        assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
        assert_string_equal(json_string_value(json_object_get(k, "alg")), "ES256");
        const char *x = json_string_value(json_object_get(k, "x"));
        const char *y = json_string_value(json_object_get(k, "y"));
        const char *kid = json_string_value(json_object_get(k, "kid"));
        struct jwtkeys_info info;
        assert_int_equal(jwtkeys_info_get(ks, i, &info), 0);
        assert_string_equal(kid, info.kid);
        char tp[JWTKEYS_KID_MAX];
        thumbprint(x, y, tp);
        assert_string_equal(kid, tp);

        char *path = key_path(f->dir, ks, i);
        EVP_PKEY *priv = pkey_from_file(path);
        EVP_PKEY *pub = pkey_from_jwk(x, y);
        assert_int_equal(EVP_PKEY_eq(pub, priv), 1);
        EVP_PKEY_free(priv);
        EVP_PKEY_free(pub);
        free(path);
    }
    /* And not the other key's: the two entries differ. */
    assert_string_not_equal(json_string_value(json_object_get(json_array_get(keys, 0), "x")),
                            json_string_value(json_object_get(json_array_get(keys, 1), "x")));
    json_decref(doc);
    jwtkeys_unref(a);
    jwtkeys_unref(ks);
}

static void jwks_matches_independent_implementation(void **state)
{
    /* interop-jwks.json was written by python3-cryptography for interop-key.pem. */
    struct jwtkeys *ks = test_keys_from_data("auth/interop-key.pem", T0);
    char *text = test_data_read("auth/interop-jwks.json", NULL);
    json_t *want = json_loads(text, 0, NULL);
    assert_non_null(want);
    json_t *got = jwtkeys_jwks(ks);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    json_decref(want);
    json_decref(got);
    free(text);
    jwtkeys_unref(ks);
}

/* Readers sign and verify with whatever set is current while the main thread rotates
 * and drops its references: under ASan this catches a set freed while still in use. */
struct shared {
    pthread_mutex_t lock;
    struct jwtkeys *current;
    int failures;
};

static void *reader(void *arg)
{
    struct shared *sh = arg;
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&sh->lock);
        struct jwtkeys *ks = jwtkeys_ref(sh->current);
        pthread_mutex_unlock(&sh->lock);
        uint8_t sig[64];
        char kid[JWTKEYS_KID_MAX];
        size_t slen;
        enum jwtkeys_alg alg;
        if (jwtkeys_sign(ks, (const uint8_t *)"x", 1, sig, &slen, kid, &alg) != 0 ||
            jwtkeys_verify(ks, kid, alg, (const uint8_t *)"x", 1, sig, slen) != 0) {
            __atomic_add_fetch(&sh->failures, 1, __ATOMIC_RELAXED);
        }
        jwtkeys_unref(ks);
    }
    return NULL;
}

static void readers_keep_their_set_during_rotation(void **state)
{
    struct fixture *f = *state;
    char why[256];
    struct shared sh = {.failures = 0};
    pthread_mutex_init(&sh.lock, NULL);
    assert_int_equal(jwtkeys_load(f->dir, true, T0, why, sizeof(why), &sh.current), 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, reader, &sh), 0);
    }
    for (int r = 1; r <= 10; r++) {
        struct jwtkeys *next = NULL;
        assert_int_equal(jwtkeys_rotate(sh.current, T0 + r, why, sizeof(why), &next), 0);
        struct jwtkeys *pruned = NULL;
        assert_int_equal(jwtkeys_prune(next, T0 + r, 1, NULL, why, sizeof(why), &pruned), 0);
        jwtkeys_unref(next);
        pthread_mutex_lock(&sh.lock);
        struct jwtkeys *old = sh.current;
        sh.current = pruned;
        pthread_mutex_unlock(&sh.lock);
        jwtkeys_unref(old);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(sh.failures, 0);
    jwtkeys_unref(sh.current);
    pthread_mutex_destroy(&sh.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_makes_private_dir_and_first_key, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_or_empty_dir_without_create, setup, teardown),
        cmocka_unit_test_setup_teardown(persistence_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_key_file_readable_by_others, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_open_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_symlink_and_foreign_files, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_renamed_key, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_unsupported_and_encrypted_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(rotation_builds_new_set_and_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(prune_after_retention, setup, teardown),
        cmocka_unit_test(in_memory_set_cannot_rotate),
        cmocka_unit_test_setup_teardown(leftover_temporary_file_removed, setup, teardown),
        cmocka_unit_test(verify_refusals),
        cmocka_unit_test_setup_teardown(jwks_has_the_real_public_keys, setup, teardown),
        cmocka_unit_test(jwks_matches_independent_implementation),
        cmocka_unit_test_setup_teardown(readers_keep_their_set_during_rotation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
