#include "auth/jwtkeys.h"

#include "core/err.h"
#include "core/str.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ES256_COORD 32
#define ES256_SIG 64
#define COORD_B64_MAX 48 /* base64url of 32 bytes is 43 characters */
#define NAME_MAX_LEN 128 /* "<created>-<kid>.pem" */
#define TMP_PREFIX ".tmp-"

struct jwtkey {
    EVP_PKEY *pkey; /* private key; one reference per set holding this entry */
    enum jwtkeys_alg alg;
    int64_t created;
    char kid[JWTKEYS_KID_MAX];
    char x[COORD_B64_MAX]; /* public coordinates, base64url, for the JWKS */
    char y[COORD_B64_MAX];
};

struct jwtkeys {
    atomic_int refs;
    char *dir; /* NULL for a set made from PEM text */
    size_t n;
    struct jwtkey *keys; /* newest first: keys[0] is current */
};

static void say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_len, const char *fmt, ...)
{
    if (why == NULL || why_len == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
}

const char *jwtkeys_alg_name(enum jwtkeys_alg alg)
{
    switch (alg) {
    case JWTKEYS_ALG_ES256:
        return "ES256";
    }
    return NULL;
}

/* ---- keys in memory ---------------------------------------------------------------- */

static void key_cleanup(struct jwtkey *k)
{
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
}

/* Fill alg, kid, x, y from k->pkey. Refuses anything but an EC P-256 key pair. */
static int key_describe(struct jwtkey *k)
{
    int rc = CG_EDENIED;
    BIGNUM *bx = NULL;
    BIGNUM *by = NULL;
    uint8_t cx[ES256_COORD];
    uint8_t cy[ES256_COORD];
    char group[64];
    char *jwk = NULL;
    uint8_t digest[32];

    if (!EVP_PKEY_is_a(k->pkey, "EC")) {
        goto out;
    }
    if (EVP_PKEY_get_group_name(k->pkey, group, sizeof(group), NULL) != 1 ||
        OBJ_txt2nid(group) != NID_X9_62_prime256v1) {
        goto out;
    }
    rc = CG_ECRYPTO;
    if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
        EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1 ||
        BN_bn2binpad(bx, cx, sizeof(cx)) != (int)sizeof(cx) ||
        BN_bn2binpad(by, cy, sizeof(cy)) != (int)sizeof(cy)) {
        goto out;
    }
    b64_encode(cx, sizeof(cx), k->x, true);
    b64_encode(cy, sizeof(cy), k->y, true);
    /* RFC 7638: the required members in lexicographic order, no whitespace. */
    jwk = str_printf("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", k->x, k->y);
    if (jwk == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    unsigned int dlen = 0;
    if (EVP_Digest(jwk, strlen(jwk), digest, &dlen, EVP_sha256(), NULL) != 1 ||
        dlen != sizeof(digest)) {
        goto out;
    }
    b64_encode(digest, sizeof(digest), k->kid, true);
    k->alg = JWTKEYS_ALG_ES256;
    rc = 0;
out:
    BN_free(bx);
    BN_free(by);
    free(jwk);
    return rc;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1; /* encrypted key files are not supported: refuse rather than prompt */
}

/* Parse a private key from PEM text and check it. Takes nothing; *k filled on success. */
static int key_from_pem(const char *pem, size_t len, struct jwtkey *k)
{
    int rc = CG_EPARSE;
    BIO *bio = NULL;
    EVP_PKEY_CTX *check = NULL;
    struct jwtkey tmp = {0};

    if (len > JWTKEYS_FILE_MAX) {
        return CG_ELIMIT;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    tmp.pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, no_passphrase, NULL, NULL, NULL);
    if (tmp.pkey == NULL) {
        goto out;
    }
    rc = key_describe(&tmp);
    if (rc != 0) {
        goto out;
    }
    /* A file whose public half does not belong to its private half would sign tokens
     * that our own JWKS cannot verify: check the pair once at load. */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, tmp.pkey, NULL);
    if (check == NULL || EVP_PKEY_check(check) != 1) {
        rc = CG_EPARSE;
        goto out;
    }
    *k = tmp;
    tmp.pkey = NULL;
    rc = 0;
out:
    EVP_PKEY_CTX_free(check);
    BIO_free(bio);
    key_cleanup(&tmp);
    if (rc != 0) {
        ERR_clear_error();
    }
    return rc;
}

static int key_generate(struct jwtkey *k, int64_t created)
{
    struct jwtkey tmp = {0};
    tmp.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (tmp.pkey == NULL) {
        ERR_clear_error();
        return CG_ECRYPTO;
    }
    int rc = key_describe(&tmp);
    if (rc != 0) {
        key_cleanup(&tmp);
        ERR_clear_error();
        return rc;
    }
    tmp.created = created;
    *k = tmp;
    return 0;
}

/* ---- sets -------------------------------------------------------------------------- */

static int key_order(const void *a, const void *b)
{
    const struct jwtkey *x = a;
    const struct jwtkey *y = b;
    if (x->created != y->created) {
        return x->created > y->created ? -1 : 1; /* newest first */
    }
    return -strcmp(x->kid, y->kid);
}

static struct jwtkeys *set_alloc(const char *dir, size_t cap)
{
    struct jwtkeys *ks = calloc(1, sizeof(*ks));
    if (ks == NULL) {
        return NULL;
    }
    atomic_init(&ks->refs, 1);
    ks->keys = calloc(cap ? cap : 1, sizeof(*ks->keys));
    if (dir != NULL) {
        ks->dir = str_ndup(dir, strlen(dir));
    }
    if (ks->keys == NULL || (dir != NULL && ks->dir == NULL)) {
        free(ks->keys);
        free(ks->dir);
        free(ks);
        return NULL;
    }
    return ks;
}

static void set_free(struct jwtkeys *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        key_cleanup(&ks->keys[i]);
    }
    free(ks->keys);
    free(ks->dir);
    free(ks);
}

/* Append a shared copy of k (one more EVP_PKEY reference). */
static int set_add_shared(struct jwtkeys *ks, const struct jwtkey *k)
{
    if (EVP_PKEY_up_ref(k->pkey) != 1) {
        return CG_ECRYPTO;
    }
    ks->keys[ks->n++] = *k;
    return 0;
}

struct jwtkeys *jwtkeys_ref(struct jwtkeys *ks)
{
    if (ks != NULL) {
        atomic_fetch_add_explicit(&ks->refs, 1, memory_order_relaxed);
    }
    return ks;
}

void jwtkeys_unref(struct jwtkeys *ks)
{
    if (ks == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&ks->refs, 1, memory_order_acq_rel) == 1) {
        set_free(ks);
    }
}

size_t jwtkeys_count(const struct jwtkeys *ks)
{
    return ks->n;
}

int jwtkeys_info_get(const struct jwtkeys *ks, size_t i, struct jwtkeys_info *info)
{
    if (i >= ks->n) {
        return -EINVAL;
    }
    const struct jwtkey *k = &ks->keys[i];
    memcpy(info->kid, k->kid, sizeof(info->kid));
    info->alg = k->alg;
    info->created = k->created;
    info->current = i == 0;
    return 0;
}

const char *jwtkeys_current_kid(const struct jwtkeys *ks)
{
    return ks->n > 0 ? ks->keys[0].kid : "";
}

int jwtkeys_from_pem(const char *pem, size_t len, int64_t created, struct jwtkeys **out)
{
    struct jwtkeys *ks = set_alloc(NULL, 1);
    if (ks == NULL) {
        return -ENOMEM;
    }
    int rc = key_from_pem(pem, len, &ks->keys[0]);
    if (rc != 0) {
        set_free(ks);
        return rc;
    }
    ks->keys[0].created = created;
    ks->n = 1;
    *out = ks;
    return 0;
}

/* ---- files ------------------------------------------------------------------------- */

/* "<created>-<kid>.pem": created is decimal without sign or leading zeros (except "0"),
 * kid is what remains before ".pem". */
static int parse_name(const char *name, int64_t *created, char kid[JWTKEYS_KID_MAX])
{
    size_t n = strlen(name);
    if (n < 7 || n > NAME_MAX_LEN || strcmp(name + n - 4, ".pem") != 0) {
        return CG_EPARSE;
    }
    int64_t v = 0;
    size_t i = 0;
    for (; i < n && name[i] >= '0' && name[i] <= '9'; i++) {
        if (v > (INT64_MAX - 9) / 10) {
            return CG_EPARSE;
        }
        v = v * 10 + (name[i] - '0');
    }
    if (i == 0 || name[i] != '-' || (i > 1 && name[0] == '0')) {
        return CG_EPARSE;
    }
    size_t klen = n - 4 - (i + 1);
    if (klen == 0 || klen >= JWTKEYS_KID_MAX) {
        return CG_EPARSE;
    }
    memcpy(kid, name + i + 1, klen);
    kid[klen] = 0;
    *created = v;
    return 0;
}

/* Read one key file below dirfd, checking type, owner, mode and size on the open file. */
static int load_file(int dirfd, const char *dir, const char *name, struct jwtkey *k, char *why,
                     size_t why_len)
{
    int rc = CG_EPARSE;
    int fd = -1;
    char *pem = NULL;
    size_t len = 0;
    struct stat st;
    int64_t created = 0;
    char kid[JWTKEYS_KID_MAX];

    if (parse_name(name, &created, kid) != 0) {
        say(why, why_len, "%s/%s: name is not <created>-<kid>.pem", dir, name);
        goto out;
    }
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        rc = -errno;
        say(why, why_len, "%s/%s: %s", dir, name,
            errno == ELOOP ? "is a symbolic link" : strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        say(why, why_len, "%s/%s: %s", dir, name, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EPERM;
        say(why, why_len, "%s/%s: not a regular file", dir, name);
        goto out;
    }
    if (st.st_uid != geteuid()) {
        rc = -EPERM;
        say(why, why_len, "%s/%s: owned by uid %u, not by this process's uid %u", dir, name,
            (unsigned)st.st_uid, (unsigned)geteuid());
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        rc = -EPERM;
        say(why, why_len,
            "%s/%s: private key is accessible by group or other (mode %04o); "
            "it must be 0600 or stricter",
            dir, name, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (st.st_size <= 0 || st.st_size > JWTKEYS_FILE_MAX) {
        rc = CG_ELIMIT;
        say(why, why_len, "%s/%s: size %lld is not within 1..%d bytes", dir, name,
            (long long)st.st_size, JWTKEYS_FILE_MAX);
        goto out;
    }
    pem = malloc((size_t)st.st_size + 1);
    if (pem == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    while (len < (size_t)st.st_size) {
        ssize_t r = read(fd, pem + len, (size_t)st.st_size - len);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            rc = r < 0 ? -errno : CG_EPARSE;
            say(why, why_len, "%s/%s: read failed", dir, name);
            goto out;
        }
        len += (size_t)r;
    }
    rc = key_from_pem(pem, len, k);
    if (rc != 0) {
        say(why, why_len, "%s/%s: %s", dir, name,
            rc == CG_EDENIED ? "not an EC P-256 private key (only ES256 keys are supported)"
                             : "not a readable unencrypted PEM private key");
        if (rc == CG_EDENIED) {
            rc = CG_EPARSE;
        }
        goto out;
    }
    if (strcmp(k->kid, kid) != 0) {
        rc = CG_EPARSE;
        say(why, why_len, "%s/%s: file name does not match its key (kid is %s)", dir, name, k->kid);
        key_cleanup(k);
        goto out;
    }
    k->created = created;
    rc = 0;
out:
    if (pem != NULL) {
        secure_zero(pem, (size_t)st.st_size);
        free(pem);
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* Open dir (creating it when asked) and check that only its owner can use it. */
static int open_dir(const char *dir, bool create, char *why, size_t why_len)
{
    if (create && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        say(why, why_len, "%s: cannot create key directory: %s", dir, strerror(e));
        return -e;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        say(why, why_len, "%s: %s", dir, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        say(why, why_len, "%s: %s", dir, strerror(e));
        return -e;
    }
    if (st.st_uid != geteuid()) {
        close(fd);
        say(why, why_len, "%s: key directory owned by uid %u, not by this process's uid %u", dir,
            (unsigned)st.st_uid, (unsigned)geteuid());
        return -EPERM;
    }
    if ((st.st_mode & 077) != 0) {
        close(fd);
        say(why, why_len,
            "%s: key directory is accessible by group or other (mode %04o); it must be 0700", dir,
            (unsigned)(st.st_mode & 07777));
        return -EPERM;
    }
    return fd;
}

static int fsync_dir(int dirfd)
{
    return fsync(dirfd) == 0 ? 0 : -errno;
}

/* Write k's private key as a new file "<created>-<kid>.pem" in dirfd: created 0600 with
 * O_EXCL under a temporary name, synced, then linked to its final name (link fails rather
 * than replace an existing file). */
static int write_key(int dirfd, const char *dir, const struct jwtkey *k, char *why, size_t why_len)
{
    int rc = CG_ECRYPTO;
    int fd = -1;
    BIO *bio = NULL;
    char tmp[NAME_MAX_LEN];
    char name[NAME_MAX_LEN];
    bool tmp_made = false;

    snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s", k->kid);
    snprintf(name, sizeof(name), "%" PRId64 "-%s.pem", k->created, k->kid);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        say(why, why_len, "%s/%s: cannot create: %s", dir, tmp, strerror(errno));
        goto out;
    }
    tmp_made = true;
    if (fchmod(fd, 0600) != 0) {
        rc = -errno;
        say(why, why_len, "%s/%s: chmod: %s", dir, tmp, strerror(errno));
        goto out;
    }
    /* A file BIO writes straight to the descriptor: no copy of the PEM text in our heap. */
    bio = BIO_new_fd(fd, BIO_NOCLOSE);
    if (bio == NULL || PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        BIO_flush(bio) != 1) {
        rc = CG_ECRYPTO;
        say(why, why_len, "%s/%s: cannot write the private key", dir, tmp);
        goto out;
    }
    if (fsync(fd) != 0) {
        rc = -errno;
        say(why, why_len, "%s/%s: fsync: %s", dir, tmp, strerror(errno));
        goto out;
    }
    if (linkat(dirfd, tmp, dirfd, name, 0) != 0) {
        rc = -errno;
        say(why, why_len, "%s/%s: cannot create: %s", dir, name, strerror(errno));
        goto out;
    }
    (void)unlinkat(dirfd, tmp, 0);
    tmp_made = false;
    rc = fsync_dir(dirfd);
    if (rc != 0) {
        say(why, why_len, "%s: fsync: %s", dir, strerror(-rc));
        (void)unlinkat(dirfd, name, 0);
        goto out;
    }
out:
    BIO_free(bio);
    if (fd >= 0) {
        close(fd);
    }
    if (tmp_made) {
        (void)unlinkat(dirfd, tmp, 0);
    }
    if (rc != 0) {
        ERR_clear_error();
    }
    return rc;
}

int jwtkeys_load(const char *dir, bool create, int64_t now, char *why, size_t why_len,
                 struct jwtkeys **out)
{
    int rc;
    int dirfd = -1;
    DIR *d = NULL;
    struct jwtkeys *ks = NULL;
    size_t cap = 0;

    say(why, why_len, "%s", "");
    dirfd = open_dir(dir, create, why, why_len);
    if (dirfd < 0) {
        return dirfd;
    }
    int scanfd = dup(dirfd);
    if (scanfd < 0 || (d = fdopendir(scanfd)) == NULL) {
        rc = -errno;
        if (scanfd >= 0) {
            close(scanfd);
        }
        say(why, why_len, "%s: %s", dir, strerror(-rc));
        goto out;
    }
    ks = set_alloc(dir, 4);
    if (ks == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    cap = 4;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0) {
                rc = -errno;
                say(why, why_len, "%s: readdir: %s", dir, strerror(errno));
                goto out;
            }
            break;
        }
        const char *name = de->d_name;
        if (name[0] == '.') {
            if (create && str_has_prefix(name, TMP_PREFIX)) {
                (void)unlinkat(dirfd, name, 0); /* an interrupted rotation */
            }
            continue;
        }
        size_t nlen = strlen(name);
        if (nlen < 4 || strcmp(name + nlen - 4, ".pem") != 0) {
            continue;
        }
        if (ks->n == cap) {
            struct jwtkey *grown = realloc(ks->keys, cap * 2 * sizeof(*grown));
            if (grown == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            ks->keys = grown;
            cap *= 2;
        }
        struct jwtkey k = {0};
        rc = load_file(dirfd, dir, name, &k, why, why_len);
        if (rc != 0) {
            goto out;
        }
        for (size_t i = 0; i < ks->n; i++) {
            if (strcmp(ks->keys[i].kid, k.kid) == 0) {
                say(why, why_len, "%s/%s: the same key is also stored under another name", dir,
                    name);
                key_cleanup(&k);
                rc = CG_EPARSE;
                goto out;
            }
        }
        ks->keys[ks->n++] = k;
    }
    if (ks->n == 0) {
        if (!create) {
            rc = -ENOENT;
            say(why, why_len, "%s: no key file", dir);
            goto out;
        }
        rc = key_generate(&ks->keys[0], now);
        if (rc != 0) {
            say(why, why_len, "%s: cannot generate a key", dir);
            goto out;
        }
        ks->n = 1;
        rc = write_key(dirfd, dir, &ks->keys[0], why, why_len);
        if (rc != 0) {
            goto out;
        }
    }
    qsort(ks->keys, ks->n, sizeof(ks->keys[0]), key_order);
    *out = ks;
    ks = NULL;
    rc = 0;
out:
    if (d != NULL) {
        closedir(d);
    }
    if (dirfd >= 0) {
        close(dirfd);
    }
    if (ks != NULL) {
        set_free(ks);
    }
    return rc;
}

int jwtkeys_rotate(const struct jwtkeys *cur, int64_t now, char *why, size_t why_len,
                   struct jwtkeys **out)
{
    int rc;
    int dirfd = -1;
    struct jwtkeys *ks = NULL;
    struct jwtkey fresh = {0};

    say(why, why_len, "%s", "");
    if (cur->dir == NULL) {
        say(why, why_len, "key set has no directory");
        return -EINVAL;
    }
    int64_t created = now;
    if (cur->n > 0 && created <= cur->keys[0].created) {
        created = cur->keys[0].created + 1;
    }
    rc = key_generate(&fresh, created);
    if (rc != 0) {
        say(why, why_len, "cannot generate a key");
        goto out;
    }
    ks = set_alloc(cur->dir, cur->n + 1);
    if (ks == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    dirfd = open_dir(cur->dir, false, why, why_len);
    if (dirfd < 0) {
        rc = dirfd;
        goto out;
    }
    /* Build the whole set first so that nothing can fail after the file is published. */
    ks->keys[ks->n++] = fresh;
    fresh.pkey = NULL;
    for (size_t i = 0; i < cur->n; i++) {
        rc = set_add_shared(ks, &cur->keys[i]);
        if (rc != 0) {
            goto out;
        }
    }
    rc = write_key(dirfd, cur->dir, &ks->keys[0], why, why_len);
    if (rc != 0) {
        goto out;
    }
    *out = ks;
    ks = NULL;
    rc = 0;
out:
    if (dirfd >= 0) {
        close(dirfd);
    }
    key_cleanup(&fresh);
    if (ks != NULL) {
        set_free(ks);
    }
    return rc;
}

int jwtkeys_prune(const struct jwtkeys *cur, int64_t now, int64_t retention, int *removed,
                  char *why, size_t why_len, struct jwtkeys **out)
{
    int rc;
    int dirfd = -1;
    int gone = 0;
    struct jwtkeys *ks = NULL;
    bool *drop = NULL;

    say(why, why_len, "%s", "");
    if (cur->dir == NULL || retention <= 0) {
        say(why, why_len, cur->dir == NULL ? "key set has no directory" : "retention must be > 0");
        return -EINVAL;
    }
    drop = calloc(cur->n ? cur->n : 1, sizeof(*drop));
    ks = set_alloc(cur->dir, cur->n);
    if (drop == NULL || ks == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    /* keys[i-1] is the key that replaced keys[i]; keys[0] (current) always stays. */
    for (size_t i = 1; i < cur->n; i++) {
        int64_t retired = cur->keys[i - 1].created;
        drop[i] = now - retired >= retention;
    }
    dirfd = open_dir(cur->dir, false, why, why_len);
    if (dirfd < 0) {
        rc = dirfd;
        goto out;
    }
    for (size_t i = 0; i < cur->n; i++) {
        if (!drop[i]) {
            continue;
        }
        char name[NAME_MAX_LEN];
        snprintf(name, sizeof(name), "%" PRId64 "-%s.pem", cur->keys[i].created, cur->keys[i].kid);
        if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) {
            rc = -errno;
            say(why, why_len, "%s/%s: cannot delete: %s", cur->dir, name, strerror(errno));
            goto out;
        }
        gone++;
    }
    if (gone > 0) {
        rc = fsync_dir(dirfd);
        if (rc != 0) {
            say(why, why_len, "%s: fsync: %s", cur->dir, strerror(-rc));
            goto out;
        }
    }
    for (size_t i = 0; i < cur->n; i++) {
        if (!drop[i]) {
            rc = set_add_shared(ks, &cur->keys[i]);
            if (rc != 0) {
                goto out;
            }
        }
    }
    if (removed != NULL) {
        *removed = gone;
    }
    *out = ks;
    ks = NULL;
    rc = 0;
out:
    if (dirfd >= 0) {
        close(dirfd);
    }
    free(drop);
    if (ks != NULL) {
        set_free(ks);
    }
    return rc;
}

/* ---- signatures -------------------------------------------------------------------- */

int jwtkeys_sign(const struct jwtkeys *ks, const uint8_t *msg, size_t len,
                 uint8_t sig[JWTKEYS_SIG_MAX], size_t *sig_len, char kid[JWTKEYS_KID_MAX],
                 enum jwtkeys_alg *alg)
{
    int rc = CG_ECRYPTO;
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *es = NULL;
    uint8_t der[80];
    size_t der_len = sizeof(der);

    if (ks->n == 0) {
        return -ENOENT;
    }
    const struct jwtkey *k = &ks->keys[0];
    md = EVP_MD_CTX_new();
    if (md == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, k->pkey, NULL) != 1 ||
        EVP_DigestSign(md, der, &der_len, msg, len) != 1) {
        goto out;
    }
    /* OpenSSL produces a DER SEQUENCE { r, s }; JOSE wants r||s, each 32 bytes. */
    const unsigned char *p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (es == NULL || p != der + der_len) {
        goto out;
    }
    const BIGNUM *r = NULL;
    const BIGNUM *s = NULL;
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_bn2binpad(r, sig, ES256_COORD) != ES256_COORD ||
        BN_bn2binpad(s, sig + ES256_COORD, ES256_COORD) != ES256_COORD) {
        goto out;
    }
    *sig_len = ES256_SIG;
    memcpy(kid, k->kid, JWTKEYS_KID_MAX);
    *alg = k->alg;
    rc = 0;
out:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    if (rc != 0) {
        ERR_clear_error();
    }
    return rc;
}

static const struct jwtkey *find_key(const struct jwtkeys *ks, const char *kid)
{
    for (size_t i = 0; i < ks->n; i++) {
        if (strcmp(ks->keys[i].kid, kid) == 0) {
            return &ks->keys[i];
        }
    }
    return NULL;
}

int jwtkeys_find(const struct jwtkeys *ks, const char *kid, enum jwtkeys_alg *alg)
{
    const struct jwtkey *k = find_key(ks, kid);
    if (k == NULL) {
        return -ENOENT;
    }
    *alg = k->alg;
    return 0;
}

int jwtkeys_verify(const struct jwtkeys *ks, const char *kid, enum jwtkeys_alg alg,
                   const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len)
{
    int rc = CG_EDENIED;
    const struct jwtkey *k = NULL;
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL;
    BIGNUM *s = NULL;
    unsigned char *der = NULL;
    EVP_MD_CTX *md = NULL;

    k = find_key(ks, kid);
    if (k == NULL) {
        return -ENOENT;
    }
    /* The key decides the algorithm; a token naming another one never reaches EVP. */
    if (k->alg != alg || alg != JWTKEYS_ALG_ES256 || sig_len != ES256_SIG) {
        return CG_EDENIED;
    }
    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, ES256_COORD, NULL);
    s = BN_bin2bn(sig + ES256_COORD, ES256_COORD, NULL);
    md = EVP_MD_CTX_new();
    if (es == NULL || r == NULL || s == NULL || md == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (ECDSA_SIG_set0(es, r, s) != 1) {
        rc = CG_ECRYPTO;
        goto out;
    }
    r = NULL; /* owned by es now */
    s = NULL;
    int der_len = i2d_ECDSA_SIG(es, &der);
    if (der_len <= 0) {
        rc = CG_ECRYPTO;
        goto out;
    }
    if (EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, k->pkey, NULL) != 1) {
        rc = CG_ECRYPTO;
        goto out;
    }
    /* 1 is valid; 0 is a bad signature and negative an error: both deny. */
    rc = EVP_DigestVerify(md, der, (size_t)der_len, msg, len) == 1 ? 0 : CG_EDENIED;
out:
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    ECDSA_SIG_free(es);
    BN_free(r);
    BN_free(s);
    if (rc != 0) {
        ERR_clear_error();
    }
    return rc;
}

json_t *jwtkeys_jwks(const struct jwtkeys *ks)
{
    json_t *keys = json_array();
    json_t *doc = json_object();
    if (keys == NULL || doc == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < ks->n; i++) {
        const struct jwtkey *k = &ks->keys[i];
        json_t *jwk =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", k->x,
                      "y", k->y, "kid", k->kid, "use", "sig", "alg", jwtkeys_alg_name(k->alg));
        if (jwk == NULL || json_array_append_new(keys, jwk) != 0) {
            goto fail;
        }
    }
    if (json_object_set_new(doc, "keys", keys) != 0) {
        keys = NULL; /* set_new consumed it even on failure */
        goto fail;
    }
    return doc;
fail:
    json_decref(keys);
    json_decref(doc);
    return NULL;
}
