/* certgate pki: CAs, device and server certificates, chains, keystores and proof of
 * possession, in one command each (see docs/cli/pki.md). */
#include "cli/commands.h"

#include "cli/pki_cli.h"
#include "core/err.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/issue.h"
#include "pki/pop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>

#define WHY_LEN 512

/* ---- shared option table entries ---------------------------------------------------------- */

#define OPT_FORCE                                                                                  \
    {                                                                                              \
        "force", CLI_FLAG, NULL, "replace existing output files (atomically)"                      \
    }
#define OPT_KEY_TYPE                                                                               \
    {                                                                                              \
        "key-type", CLI_VALUE, "TYPE",                                                             \
            "type of the new key: " PKI_ISSUE_KEY_TYPE_NAMES " (default ec-p256)"                  \
    }
#define OPT_DAYS(def)                                                                              \
    {                                                                                              \
        "days", CLI_VALUE, "N", "validity in days from now (default " def ")"                      \
    }
#define OPT_NOT_BEFORE                                                                             \
    {                                                                                              \
        "not-before", CLI_VALUE, "DATE",                                                           \
            "start of the validity (YYYY-MM-DD or RFC 3339; default: 5 minutes ago)"               \
    }
#define OPT_NOT_AFTER                                                                              \
    {                                                                                              \
        "not-after", CLI_VALUE, "DATE", "end of the validity, instead of --days"                   \
    }
#define OPT_KEY_PASS_ENV                                                                           \
    {                                                                                              \
        "key-password-env", CLI_VALUE, "VAR",                                                      \
            "encrypt the new key (PKCS#8, AES-256) with the passphrase in environment variable "   \
            "VAR"                                                                                  \
    }
#define OPT_KEY_PASS_FILE                                                                          \
    {                                                                                              \
        "key-password-file", CLI_VALUE, "FILE",                                                    \
            "encrypt the new key with the passphrase on the first line of FILE"                    \
    }
#define OPT_CA_CERT                                                                                \
    {                                                                                              \
        "ca-cert", CLI_VALUE, "FILE",                                                              \
            "certificate of the issuing CA (PEM or DER; further certificates in the file are "     \
            "taken "                                                                               \
            "as its chain)"                                                                        \
    }
#define OPT_CA_KEY                                                                                 \
    {                                                                                              \
        "ca-key", CLI_VALUE, "FILE", "private key of the issuing CA (PEM)"                         \
    }
#define OPT_CA_KEY_PASS_ENV                                                                        \
    {                                                                                              \
        "ca-key-password-env", CLI_VALUE, "VAR",                                                   \
            "passphrase of an encrypted --ca-key, from environment variable VAR"                   \
    }
#define OPT_CA_KEY_PASS_FILE                                                                       \
    {                                                                                              \
        "ca-key-password-file", CLI_VALUE, "FILE",                                                 \
            "passphrase of an encrypted --ca-key, from the first line of FILE"                     \
    }
#define OPT_UNCHECKED                                                                              \
    {                                                                                              \
        "unchecked", CLI_FLAG, NULL,                                                               \
            "skip the checks on the CA (CA:TRUE, keyCertSign, pathlen, validity), to make "        \
            "deliberately invalid certificates for tests"                                          \
    }
#define OPT_CODE                                                                                   \
    {                                                                                              \
        "code", CLI_VALUE, "CODE", "the verification code"                                         \
    }
#define OPT_CODE_FILE                                                                              \
    {                                                                                              \
        "code-file", CLI_VALUE, "FILE",                                                            \
            "read the verification code from FILE (one trailing newline is dropped)"               \
    }
#define OPT_RAW                                                                                    \
    {                                                                                              \
        "raw", CLI_FLAG, NULL, "use the bytes of --code-file exactly, trailing newline included"   \
    }

#define NOPTS(t) (sizeof(t) / sizeof((t)[0]))

/* ---- helpers ------------------------------------------------------------------------------- */

static int key_type_opt(const struct cli_args *a, enum pki_issue_key_type *kt)
{
    const char *v = cli_get(a, "key-type");
    *kt = PKI_ISSUE_KEY_EC_P256;
    if (v != NULL && pki_issue_key_type_parse(v, kt) < 0) {
        return cli_usage_error(a, "--key-type: unknown key type '%s' (use one of %s)", v,
                               PKI_ISSUE_KEY_TYPE_NAMES);
    }
    return -1;
}

/* A subject given on the command line must parse: a usage error otherwise. */
static int subject_opt_check(const struct cli_args *a, const char *opt, const char *subject)
{
    char why[WHY_LEN] = "";
    X509_NAME *name = NULL;
    int rc = pki_issue_name_parse(subject, &name, why, sizeof(why));
    X509_NAME_free(name);
    if (rc < 0) {
        return cli_usage_error(a, "--%s: %s", opt, why);
    }
    return -1;
}

/* "CN=<escaped cn>" followed by ",<extra>" when extra is given; malloc'd. */
static char *subject_with_cn(const char *cn, const char *extra)
{
    char esc[3 * 256 + 1];
    if (pki_issue_name_escape(cn, esc, sizeof(esc)) < 0) {
        return NULL;
    }
    return str_printf("CN=%s%s%s", esc, extra ? "," : "", extra ? extra : "");
}

static void serial_hex(X509 *x, char *out, size_t len)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    str_lcpy(out, hex != NULL ? hex : "?", len);
    OPENSSL_free(hex);
    BN_free(bn);
    ERR_clear_error();
}

/* One line on stdout describing a certificate just written. */
static void report_cert(const char *path, X509 *x, EVP_PKEY *key, const char *key_path,
                        bool encrypted)
{
    char subject[256];
    char kdesc[32];
    char serial[80];
    char until[TIME_ISO_LEN] = "?";
    int64_t na = 0;
    pki_issue_name_text(X509_get_subject_name(x), subject, sizeof(subject));
    pki_issue_key_describe(key, kdesc, sizeof(kdesc));
    serial_hex(x, serial, sizeof(serial));
    const ASN1_TIME *t = X509_get0_notAfter(x);
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) == 1) {
        na = (int64_t)timegm(&tm) * 1000;
        time_format_iso(na, until);
    }
    ERR_clear_error();
    printf("%s: %s, %s, serial %s, valid until %s", path, subject, kdesc, serial, until);
    if (key_path != NULL) {
        printf("; key in %s%s", key_path, encrypted ? " (encrypted)" : "");
    }
    printf("\n");
}

/* The certificates that follow a new certificate in its chain file: the issuer, the rest of
 * the --ca-cert file, each --ca-chain file; a self-signed root at the end only with
 * --include-root. Checked for order. */
static int chain_tail(const struct cli_args *a, X509 *issuer, STACK_OF(X509) * ca_rest,
                      STACK_OF(X509) * *out)
{
    char why[WHY_LEN] = "";
    STACK_OF(X509) *tail = sk_X509_new_null();
    STACK_OF(X509) *more = NULL;
    int rc = -1;
    if (tail == NULL || !X509_up_ref(issuer) || !sk_X509_push(tail, issuer)) {
        rc = cli_error(a, "out of memory");
        goto out;
    }
    for (int i = 0; i < sk_X509_num(ca_rest); i++) {
        X509 *x = sk_X509_value(ca_rest, i);
        if (!X509_up_ref(x) || !sk_X509_push(tail, x)) {
            rc = cli_error(a, "out of memory");
            goto out;
        }
    }
    size_t nfiles = 0;
    const char *const *files = cli_list(a, "ca-chain", &nfiles);
    for (size_t f = 0; f < nfiles; f++) {
        rc = cli_load_certs(a, files[f], &more);
        if (rc >= 0) {
            goto out;
        }
        while (sk_X509_num(more) > 0) {
            X509 *x = sk_X509_shift(more);
            if (!sk_X509_push(tail, x)) {
                X509_free(x);
                rc = cli_error(a, "out of memory");
                goto out;
            }
        }
        sk_X509_free(more);
        more = NULL;
    }
    rc = -1;
    if (pki_issue_chain_check(tail, why, sizeof(why)) < 0) {
        rc = cli_error(a, "the CA chain (--ca-cert, then --ca-chain) is not in order: %s", why);
        goto out;
    }
    if (cli_has(a, "include-root")) {
        if (!pki_issue_is_self_signed(sk_X509_value(tail, sk_X509_num(tail) - 1))) {
            rc = cli_error(a, "--include-root: the CA chain does not end at a self-signed root "
                              "(add it with --ca-chain root.pem)");
            goto out;
        }
    } else {
        while (sk_X509_num(tail) > 0 &&
               pki_issue_is_self_signed(sk_X509_value(tail, sk_X509_num(tail) - 1))) {
            X509_free(sk_X509_pop(tail));
        }
    }
    *out = tail;
    tail = NULL;
out:
    sk_X509_pop_free(more, X509_free);
    sk_X509_pop_free(tail, X509_free);
    return rc;
}

/* What one new certificate needs. */
struct issue_job {
    const struct cli_args *a;
    struct cli_outputs *outs;
    struct pki_issue_request *req;
    enum pki_issue_key_type key_type;
    X509 *issuer;         /* NULL: self-signed */
    EVP_PKEY *issuer_key; /* NULL: self-signed */
    const char *key_pass; /* encrypt the new key, or NULL */
    const char *cert_path;
    const char *key_path;   /* NULL: the key is not kept */
    const char *chain_path; /* NULL: no chain file */
    STACK_OF(X509) * tail;  /* what follows the new certificate in chain_path */
    bool rsa_key_enciph;    /* add keyEncipherment for RSA keys (server certificates) */
};

static int issue_one(const struct issue_job *job, X509 **out)
{
    const struct cli_args *a = job->a;
    char why[WHY_LEN] = "";
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *certs = NULL;
    bool cert_in_stack = false;
    int rc = -1;
    unsigned flags = cli_outputs_flags(job->outs);

    int r = pki_issue_key_new(job->key_type, &key);
    if (r < 0) {
        rc = cli_error(a, "cannot generate a %s key: %s", pki_issue_key_type_name(job->key_type),
                       cg_strerror(r));
        goto out;
    }
    unsigned ku = job->req->key_usage;
    if (job->rsa_key_enciph && EVP_PKEY_is_a(key, "RSA")) {
        job->req->key_usage |= PKI_ISSUE_KU_KEY_ENCIPHERMENT;
    }
    r = pki_issue_cert(job->req, key, job->issuer, job->issuer_key, &cert, why, sizeof(why));
    job->req->key_usage = ku;
    if (r < 0) {
        rc = r == CG_EPARSE || r == -EINVAL ? cli_usage_error(a, "%s", why)
                                            : cli_error(a, "%s", why);
        goto out;
    }
    if (job->key_path != NULL) {
        r = pki_issue_key_save(job->key_path, key, job->key_pass, flags, why, sizeof(why));
        if ((rc = cli_save_result(a, job->outs, job->key_path, r, why)) >= 0) {
            goto out;
        }
    }
    certs = sk_X509_new_null();
    if (certs == NULL || !sk_X509_push(certs, cert)) {
        rc = cli_error(a, "out of memory");
        goto out;
    }
    cert_in_stack = true;
    r = pki_issue_certs_save(job->cert_path, certs, flags, why, sizeof(why));
    if ((rc = cli_save_result(a, job->outs, job->cert_path, r, why)) >= 0) {
        goto out;
    }
    if (job->chain_path != NULL) {
        for (int i = 0; i < sk_X509_num(job->tail); i++) {
            X509 *x = sk_X509_value(job->tail, i);
            if (!X509_up_ref(x) || !sk_X509_push(certs, x)) {
                rc = cli_error(a, "out of memory");
                goto out;
            }
        }
        if (pki_issue_chain_check(certs, why, sizeof(why)) < 0) {
            rc = cli_error(a, "the chain for '%s' is not in order: %s", job->chain_path, why);
            goto out;
        }
        r = pki_issue_certs_save(job->chain_path, certs, flags, why, sizeof(why));
        if ((rc = cli_save_result(a, job->outs, job->chain_path, r, why)) >= 0) {
            goto out;
        }
    }
    report_cert(job->cert_path, cert, key, job->key_path, job->key_pass != NULL);
    if (out != NULL) {
        X509_up_ref(cert);
        *out = cert;
    }
    rc = -1;
out:
    if (!cert_in_stack) {
        X509_free(cert);
    }
    sk_X509_pop_free(certs, X509_free);
    EVP_PKEY_free(key);
    return rc;
}

/* Resolve the exit status of a run: rc < 0 means every step succeeded. */
static int finish(struct cli_outputs *outs, int rc)
{
    cli_outputs_cleanup(outs, rc >= 0);
    return rc < 0 ? CLI_EXIT_OK : rc;
}

/* ---- ca ------------------------------------------------------------------------------------- */

static const struct cli_opt ca_opts[] = {
    {"subject", CLI_VALUE, "DN", "subject name, e.g. \"CN=Acme Root CA,O=Acme,C=DE\""},
    {"out-cert", CLI_VALUE, "FILE", "where to write the certificate (PEM)"},
    {"out-key", CLI_VALUE, "FILE", "where to write the private key (PEM PKCS#8, mode 0600)"},
    OPT_DAYS("3650"),
    OPT_KEY_TYPE,
    {"pathlen", CLI_VALUE, "N", "at most N intermediate CAs below this one (default: no limit)"},
    OPT_KEY_PASS_ENV,
    OPT_KEY_PASS_FILE,
    OPT_NOT_BEFORE,
    OPT_NOT_AFTER,
    OPT_FORCE,
};

static const struct cli_cmd ca_cmd = {
    "ca",
    "create a self-signed root CA certificate and its key",
    "--subject DN --out-cert FILE --out-key FILE [options]",
    "Creates a new key and a self-signed CA certificate: basicConstraints critical CA:TRUE\n"
    "(with pathlen when given), keyUsage critical keyCertSign, cRLSign, digitalSignature,\n"
    "subject and authority key identifiers, a random 16-byte serial.",
    "  certgate pki ca --subject \"CN=Acme Root CA,O=Acme\" --out-cert root.pem --out-key "
    "root.key\n"
    "  ROOT_PASS=... certgate pki ca --subject \"CN=Acme Root CA\" --key-type rsa4096 \\\n"
    "      --key-password-env ROOT_PASS --out-cert root.pem --out-key root.key\n",
    ca_opts,
    NOPTS(ca_opts),
    0,
};

static int run_ca(struct cli_args *a)
{
    struct cli_outputs outs;
    struct pki_issue_request req;
    enum pki_issue_key_type kt;
    char *pass = NULL;
    long pathlen = -1;
    int64_t now = time_now_ms();
    int rc;

    cli_outputs_init(&outs, cli_has(a, "force"));
    if ((rc = cli_require(a, "subject", "out-cert", "out-key", NULL)) >= 0 ||
        (rc = subject_opt_check(a, "subject", cli_get(a, "subject"))) >= 0 ||
        (rc = key_type_opt(a, &kt)) >= 0 ||
        (rc = cli_int(a, "pathlen", 0, 100, -1, &pathlen)) >= 0) {
        goto out;
    }
    pki_issue_request_init(&req, PKI_ISSUE_ROOT_CA, cli_get(a, "subject"), now, 1);
    req.pathlen = (int)pathlen;
    if ((rc = cli_validity(a, now, 3650, &req.not_before_ms, &req.not_after_ms)) >= 0 ||
        (rc = cli_secret(a, "key-password-env", "key-password-file", NULL, false, &pass)) >= 0 ||
        (rc = cli_outputs_plan(a, &outs, cli_get(a, "out-cert"), NULL)) >= 0 ||
        (rc = cli_outputs_plan(a, &outs, cli_get(a, "out-key"), NULL)) >= 0) {
        goto out;
    }
    struct issue_job job = {
        .a = a,
        .outs = &outs,
        .req = &req,
        .key_type = kt,
        .key_pass = pass,
        .cert_path = cli_get(a, "out-cert"),
        .key_path = cli_get(a, "out-key"),
    };
    rc = issue_one(&job, NULL);
out:
    free_secret(pass);
    return finish(&outs, rc);
}

/* ---- intermediate -----------------------------------------------------------------------------
 */

static const struct cli_opt intermediate_opts[] = {
    OPT_CA_CERT,
    OPT_CA_KEY,
    OPT_CA_KEY_PASS_ENV,
    OPT_CA_KEY_PASS_FILE,
    {"subject", CLI_VALUE, "DN", "subject name, e.g. \"CN=Acme Devices CA,O=Acme\""},
    {"out-cert", CLI_VALUE, "FILE", "where to write the certificate (PEM)"},
    {"out-key", CLI_VALUE, "FILE", "where to write the private key (PEM PKCS#8, mode 0600)"},
    {"pathlen", CLI_VALUE, "N", "at most N further CAs below this one (default: no limit)"},
    OPT_DAYS("1825"),
    OPT_KEY_TYPE,
    OPT_KEY_PASS_ENV,
    OPT_KEY_PASS_FILE,
    OPT_NOT_BEFORE,
    OPT_NOT_AFTER,
    OPT_UNCHECKED,
    OPT_FORCE,
};

static const struct cli_cmd intermediate_cmd = {
    "intermediate",
    "create an intermediate CA certificate signed by a CA",
    "--ca-cert FILE --ca-key FILE --subject DN --out-cert FILE --out-key FILE [options]",
    "Creates a new key and a CA certificate for it signed by --ca-cert/--ca-key, with the\n"
    "same extensions as 'ca'. The issuer must be a CA that may sign certificates, whose\n"
    "pathlen (if any) allows another CA below it, and which outlives the new certificate.",
    "  certgate pki intermediate --ca-cert root.pem --ca-key root.key \\\n"
    "      --subject \"CN=Acme Devices CA,O=Acme\" --pathlen 0 --out-cert int.pem --out-key "
    "int.key\n",
    intermediate_opts,
    NOPTS(intermediate_opts),
    0,
};

static int run_intermediate(struct cli_args *a)
{
    struct cli_outputs outs;
    struct pki_issue_request req;
    enum pki_issue_key_type kt;
    char *pass = NULL;
    X509 *issuer = NULL;
    EVP_PKEY *issuer_key = NULL;
    long pathlen = -1;
    int64_t now = time_now_ms();
    int rc;

    cli_outputs_init(&outs, cli_has(a, "force"));
    if ((rc = cli_require(a, "ca-cert", "ca-key", "subject", "out-cert", "out-key", NULL)) >= 0 ||
        (rc = subject_opt_check(a, "subject", cli_get(a, "subject"))) >= 0 ||
        (rc = key_type_opt(a, &kt)) >= 0 ||
        (rc = cli_int(a, "pathlen", 0, 100, -1, &pathlen)) >= 0) {
        goto out;
    }
    pki_issue_request_init(&req, PKI_ISSUE_INTERMEDIATE_CA, cli_get(a, "subject"), now, 1);
    req.pathlen = (int)pathlen;
    req.unchecked = cli_has(a, "unchecked");
    const char *inputs[] = {cli_get(a, "ca-cert"), cli_get(a, "ca-key"), NULL};
    if ((rc = cli_validity(a, now, 1825, &req.not_before_ms, &req.not_after_ms)) >= 0 ||
        (rc = cli_secret(a, "key-password-env", "key-password-file", NULL, false, &pass)) >= 0 ||
        (rc = cli_load_issuer(a, &issuer, &issuer_key, NULL)) >= 0 ||
        (rc = cli_outputs_plan(a, &outs, cli_get(a, "out-cert"), inputs)) >= 0 ||
        (rc = cli_outputs_plan(a, &outs, cli_get(a, "out-key"), inputs)) >= 0) {
        goto out;
    }
    struct issue_job job = {
        .a = a,
        .outs = &outs,
        .req = &req,
        .key_type = kt,
        .issuer = issuer,
        .issuer_key = issuer_key,
        .key_pass = pass,
        .cert_path = cli_get(a, "out-cert"),
        .key_path = cli_get(a, "out-key"),
    };
    rc = issue_one(&job, NULL);
out:
    free_secret(pass);
    X509_free(issuer);
    EVP_PKEY_free(issuer_key);
    return finish(&outs, rc);
}

/* ---- device -----------------------------------------------------------------------------------
 */

#define DEVICE_COUNT_MAX 100000

static const struct cli_opt device_opts[] = {
    OPT_CA_CERT,
    OPT_CA_KEY,
    OPT_CA_KEY_PASS_ENV,
    OPT_CA_KEY_PASS_FILE,
    {"cn", CLI_VALUE, "ID", "one device: its id, the certificate's CN (and the MQTT client id)"},
    {"prefix", CLI_VALUE, "TEXT", "a fleet: CNs are TEXT followed by a sequence number"},
    {"count", CLI_VALUE, "N", "with --prefix: how many devices (default 1)"},
    {"start", CLI_VALUE, "N", "with --prefix: the first sequence number (default 1)"},
    {"digits", CLI_VALUE, "N", "with --prefix: zero-pad numbers to N digits (default 4)"},
    {"subject-extra", CLI_VALUE, "DN",
     "further subject attributes after the CN, e.g. \"O=Acme,C=DE\""},
    {"out-dir", CLI_VALUE, "DIR",
     "where to write <cn>.pem, <cn>.key (and <cn>.chain.pem); default: ."},
    {"chain", CLI_FLAG, NULL,
     "also write <cn>.chain.pem: the device certificate, then its CA chain"},
    {"ca-chain", CLI_LIST, "FILE",
     "certificates above the issuing CA for --chain, in order (repeatable)"},
    {"include-root", CLI_FLAG, NULL, "end the chain files with the self-signed root"},
    OPT_DAYS("365"),
    OPT_KEY_TYPE,
    OPT_KEY_PASS_ENV,
    OPT_KEY_PASS_FILE,
    OPT_NOT_BEFORE,
    OPT_NOT_AFTER,
    OPT_UNCHECKED,
    OPT_FORCE,
};

static const struct cli_cmd device_cmd = {
    "device",
    "create device keys and certificates (one, or a numbered fleet)",
    "--ca-cert FILE --ca-key FILE (--cn ID | --prefix TEXT --count N) [--out-dir DIR] "
    "[options]",
    "Creates a key and a device certificate per device, signed by the CA: subject CN = the\n"
    "device id, basicConstraints critical CA:FALSE, keyUsage critical digitalSignature,\n"
    "extendedKeyUsage clientAuth, key identifiers, a random 16-byte serial. Files are named\n"
    "after the CN in --out-dir; keys are created with mode 0600. Before anything is made,\n"
    "every output name is checked; if a later step fails, the files made so far are removed.",
    "  certgate pki device --ca-cert int.pem --ca-key int.key --cn dev-0001 --out-dir certs\n"
    "  certgate pki device --ca-cert int.pem --ca-key int.key --prefix dev- --count 100 \\\n"
    "      --out-dir fleet --chain --ca-chain root.pem --include-root\n",
    device_opts,
    NOPTS(device_opts),
    0,
};

static int run_device(struct cli_args *a)
{
    struct cli_outputs outs;
    struct pki_issue_request req;
    enum pki_issue_key_type kt;
    char *pass = NULL;
    X509 *issuer = NULL;
    EVP_PKEY *issuer_key = NULL;
    STACK_OF(X509) *ca_rest = sk_X509_new_null();
    STACK_OF(X509) *tail = NULL;
    char **names = NULL;
    char **subjects = NULL;
    char **paths = NULL;
    long count = 1;
    long start = 1;
    long digits = 4;
    int64_t now = time_now_ms();
    const char *dir = cli_get(a, "out-dir") ? cli_get(a, "out-dir") : ".";
    const char *extra = cli_get(a, "subject-extra");
    bool chain = cli_has(a, "chain");
    int rc;

    cli_outputs_init(&outs, cli_has(a, "force"));
    if (ca_rest == NULL) {
        rc = cli_error(a, "out of memory");
        goto out;
    }
    if ((rc = cli_require(a, "ca-cert", "ca-key", NULL)) >= 0 ||
        (rc = cli_exclusive(a, true, "cn", "prefix", NULL)) >= 0 ||
        (rc = cli_int(a, "count", 1, DEVICE_COUNT_MAX, 1, &count)) >= 0 ||
        (rc = cli_int(a, "start", 0, 999999999, 1, &start)) >= 0 ||
        (rc = cli_int(a, "digits", 1, 12, 4, &digits)) >= 0 || (rc = key_type_opt(a, &kt)) >= 0) {
        goto out;
    }
    if (cli_has(a, "cn") && (cli_has(a, "count") || cli_has(a, "start") || cli_has(a, "digits"))) {
        rc = cli_usage_error(a, "--count, --start and --digits go with --prefix, not --cn");
        goto out;
    }
    if (!chain && (cli_has(a, "ca-chain") || cli_has(a, "include-root"))) {
        rc = cli_usage_error(a, "--ca-chain and --include-root go with --chain");
        goto out;
    }
    if (extra != NULL && (extra[0] == '/' || extra[0] == 0)) {
        rc = cli_usage_error(a, "--subject-extra: give attributes as \"O=Acme,C=DE\"");
        goto out;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = cli_error(a, "--out-dir: '%s' is not a directory", dir);
        goto out;
    }
    names = calloc((size_t)count, sizeof(char *));
    subjects = calloc((size_t)count, sizeof(char *));
    paths = calloc((size_t)count * 3, sizeof(char *));
    if (names == NULL || subjects == NULL || paths == NULL) {
        rc = cli_error(a, "out of memory");
        goto out;
    }
    for (long i = 0; i < count; i++) {
        names[i] = cli_has(a, "cn")
                       ? strdup(cli_get(a, "cn"))
                       : str_printf("%s%0*ld", cli_get(a, "prefix"), (int)digits, start + i);
        subjects[i] = names[i] != NULL ? subject_with_cn(names[i], extra) : NULL;
        if (names[i] == NULL || subjects[i] == NULL) {
            rc = names[i] != NULL && strlen(names[i]) > 64
                     ? cli_usage_error(a, "the CN '%s' is longer than 64 characters", names[i])
                     : cli_error(a, "out of memory");
            goto out;
        }
        if (!cli_safe_filename(names[i])) {
            rc = cli_usage_error(a,
                                 "the CN '%s' cannot be used as a file name (no '/', no "
                                 "leading '.', no control characters)",
                                 names[i]);
            goto out;
        }
        if ((i == 0 || i == count - 1) &&
            (rc = subject_opt_check(a, cli_has(a, "cn") ? "cn" : "prefix", subjects[i])) >= 0) {
            goto out;
        }
    }
    pki_issue_request_init(&req, PKI_ISSUE_DEVICE, NULL, now, 1);
    req.unchecked = cli_has(a, "unchecked");
    if ((rc = cli_validity(a, now, 365, &req.not_before_ms, &req.not_after_ms)) >= 0 ||
        (rc = cli_secret(a, "key-password-env", "key-password-file", NULL, false, &pass)) >= 0 ||
        (rc = cli_load_issuer(a, &issuer, &issuer_key, &ca_rest)) >= 0) {
        goto out;
    }
    if (chain && (rc = chain_tail(a, issuer, ca_rest, &tail)) >= 0) {
        goto out;
    }
    if (chain && sk_X509_num(tail) == 0) {
        cli_warn(a, "the issuing CA is a self-signed root, so the chain files hold only the "
                    "device certificate (add --include-root to end them with the root)");
    }
    const char *inputs[] = {cli_get(a, "ca-cert"), cli_get(a, "ca-key"), NULL};
    for (long i = 0; i < count; i++) {
        char **p = &paths[i * 3];
        p[0] = cli_join(dir, names[i], ".pem");
        p[1] = cli_join(dir, names[i], ".key");
        p[2] = chain ? cli_join(dir, names[i], ".chain.pem") : NULL;
        if (p[0] == NULL || p[1] == NULL || (chain && p[2] == NULL)) {
            rc = cli_error(a, "out of memory");
            goto out;
        }
        for (int k = 0; k < 3; k++) {
            if (p[k] != NULL && (rc = cli_outputs_plan(a, &outs, p[k], inputs)) >= 0) {
                goto out;
            }
        }
    }
    for (long i = 0; i < count; i++) {
        req.subject = subjects[i];
        struct issue_job job = {
            .a = a,
            .outs = &outs,
            .req = &req,
            .key_type = kt,
            .issuer = issuer,
            .issuer_key = issuer_key,
            .key_pass = pass,
            .cert_path = paths[i * 3],
            .key_path = paths[i * 3 + 1],
            .chain_path = paths[i * 3 + 2],
            .tail = tail,
        };
        if ((rc = issue_one(&job, NULL)) >= 0) {
            goto out;
        }
    }
    rc = -1;
out:
    for (long i = 0; names != NULL && i < count; i++) {
        free(names[i]);
        free(subjects[i]);
        free(paths[i * 3]);
        free(paths[i * 3 + 1]);
        free(paths[i * 3 + 2]);
    }
    free(names);
    free(subjects);
    free(paths);
    free_secret(pass);
    X509_free(issuer);
    EVP_PKEY_free(issuer_key);
    sk_X509_pop_free(ca_rest, X509_free);
    sk_X509_pop_free(tail, X509_free);
    return finish(&outs, rc);
}

/* ---- server-cert ------------------------------------------------------------------------------
 */

static const struct cli_opt server_opts[] = {
    OPT_CA_CERT,
    OPT_CA_KEY,
    OPT_CA_KEY_PASS_ENV,
    OPT_CA_KEY_PASS_FILE,
    {"dns", CLI_LIST, "NAME", "a DNS name for subjectAltName (repeatable; \"*.\" wildcard ok)"},
    {"ip", CLI_LIST, "ADDR", "an IPv4 or IPv6 address for subjectAltName (repeatable)"},
    {"cn", CLI_VALUE, "NAME", "subject CN (default: the first --dns, else the first --ip)"},
    {"subject", CLI_VALUE, "DN", "the whole subject name, instead of --cn"},
    {"out-cert", CLI_VALUE, "FILE", "where to write the certificate (PEM)"},
    {"out-key", CLI_VALUE, "FILE", "where to write the private key (PEM PKCS#8, mode 0600)"},
    {"out-chain", CLI_VALUE, "FILE",
     "also write the certificate followed by its CA chain (for the server's TLS setup)"},
    {"ca-chain", CLI_LIST, "FILE",
     "certificates above the issuing CA for --out-chain, in order (repeatable)"},
    {"include-root", CLI_FLAG, NULL, "end the --out-chain file with the self-signed root"},
    OPT_DAYS("397"),
    OPT_KEY_TYPE,
    OPT_KEY_PASS_ENV,
    OPT_KEY_PASS_FILE,
    OPT_NOT_BEFORE,
    OPT_NOT_AFTER,
    OPT_UNCHECKED,
    OPT_FORCE,
};

static const struct cli_cmd server_cmd = {
    "server-cert",
    "create a TLS server certificate (SANs, EKU serverAuth) signed by a CA",
    "--ca-cert FILE --ca-key FILE (--dns NAME | --ip ADDR)... --out-cert FILE --out-key FILE "
    "[options]",
    "Creates a key and a server certificate signed by the CA: CA:FALSE, keyUsage\n"
    "digitalSignature (and keyEncipherment for RSA keys), extendedKeyUsage serverAuth,\n"
    "subjectAltName with every --dns and --ip. The server makes its own first-start\n"
    "certificate the same way, through the library.",
    "  certgate pki server-cert --ca-cert server-ca.pem --ca-key server-ca.key \\\n"
    "      --dns mqtt.example.com --dns localhost --ip 127.0.0.1 --ip ::1 \\\n"
    "      --out-cert server.pem --out-key server.key --out-chain server-chain.pem\n",
    server_opts,
    NOPTS(server_opts),
    0,
};

static int run_server_cert(struct cli_args *a)
{
    struct cli_outputs outs;
    struct pki_issue_request req;
    enum pki_issue_key_type kt;
    char *pass = NULL;
    char *subject = NULL;
    X509 *issuer = NULL;
    EVP_PKEY *issuer_key = NULL;
    STACK_OF(X509) *ca_rest = sk_X509_new_null();
    STACK_OF(X509) *tail = NULL;
    size_t ndns = 0;
    size_t nips = 0;
    int64_t now = time_now_ms();
    int rc;

    cli_outputs_init(&outs, cli_has(a, "force"));
    const char *const *dns = cli_list(a, "dns", &ndns);
    const char *const *ips = cli_list(a, "ip", &nips);
    if (ca_rest == NULL) {
        rc = cli_error(a, "out of memory");
        goto out;
    }
    if ((rc = cli_require(a, "ca-cert", "ca-key", "out-cert", "out-key", NULL)) >= 0 ||
        (rc = cli_exclusive(a, false, "cn", "subject", NULL)) >= 0 ||
        (rc = key_type_opt(a, &kt)) >= 0) {
        goto out;
    }
    if (ndns + nips == 0) {
        rc = cli_usage_error(a, "give at least one --dns NAME or --ip ADDR");
        goto out;
    }
    if (!cli_has(a, "out-chain") && (cli_has(a, "ca-chain") || cli_has(a, "include-root"))) {
        rc = cli_usage_error(a, "--ca-chain and --include-root go with --out-chain");
        goto out;
    }
    if (cli_has(a, "subject")) {
        subject = strdup(cli_get(a, "subject"));
    } else {
        const char *cn = cli_get(a, "cn") ? cli_get(a, "cn") : ndns > 0 ? dns[0] : ips[0];
        subject = subject_with_cn(cn, NULL);
    }
    if (subject == NULL) {
        rc = cli_error(a, "out of memory");
        goto out;
    }
    if ((rc = subject_opt_check(a, cli_has(a, "subject") ? "subject" : "cn", subject)) >= 0) {
        goto out;
    }
    pki_issue_request_init(&req, PKI_ISSUE_SERVER, subject, now, 1);
    req.dns = dns;
    req.ndns = ndns;
    req.ips = ips;
    req.nips = nips;
    req.unchecked = cli_has(a, "unchecked");
    const char *inputs[] = {cli_get(a, "ca-cert"), cli_get(a, "ca-key"), NULL};
    if ((rc = cli_validity(a, now, 397, &req.not_before_ms, &req.not_after_ms)) >= 0 ||
        (rc = cli_secret(a, "key-password-env", "key-password-file", NULL, false, &pass)) >= 0 ||
        (rc = cli_load_issuer(a, &issuer, &issuer_key, &ca_rest)) >= 0 ||
        (cli_has(a, "out-chain") && (rc = chain_tail(a, issuer, ca_rest, &tail)) >= 0) ||
        (rc = cli_outputs_plan(a, &outs, cli_get(a, "out-cert"), inputs)) >= 0 ||
        (rc = cli_outputs_plan(a, &outs, cli_get(a, "out-key"), inputs)) >= 0 ||
        (cli_has(a, "out-chain") &&
         (rc = cli_outputs_plan(a, &outs, cli_get(a, "out-chain"), inputs)) >= 0)) {
        goto out;
    }
    struct issue_job job = {
        .a = a,
        .outs = &outs,
        .req = &req,
        .key_type = kt,
        .issuer = issuer,
        .issuer_key = issuer_key,
        .key_pass = pass,
        .cert_path = cli_get(a, "out-cert"),
        .key_path = cli_get(a, "out-key"),
        .chain_path = cli_get(a, "out-chain"),
        .tail = tail,
        .rsa_key_enciph = true,
    };
    rc = issue_one(&job, NULL);
out:
    free(subject);
    free_secret(pass);
    X509_free(issuer);
    EVP_PKEY_free(issuer_key);
    sk_X509_pop_free(ca_rest, X509_free);
    sk_X509_pop_free(tail, X509_free);
    return finish(&outs, rc);
}

/* ---- chain ------------------------------------------------------------------------------------
 */

static const struct cli_opt chain_opts[] = {
    {"out", CLI_VALUE, "FILE", "where to write the chain (PEM)"},
    OPT_FORCE,
};

static const struct cli_cmd chain_cmd = {
    "chain",
    "concatenate certificates into a chain file, checking their order",
    "--out FILE CERT [CERT...]",
    "Writes the certificates of the CERT files (each may hold several), in the order given,\n"
    "to one PEM file: the device certificate first, then each certificate's issuer. Each\n"
    "certificate must have been issued by the one after it (issuer name, key identifiers,\n"
    "signature); the error names the first pair that is not. Whether to end with the root\n"
    "is up to you: list it or leave it out.",
    "  certgate pki chain --out dev-0001.chain.pem dev-0001.pem int.pem root.pem\n",
    chain_opts,
    NOPTS(chain_opts),
    64,
};

static int run_chain(struct cli_args *a)
{
    struct cli_outputs outs;
    STACK_OF(X509) *all = sk_X509_new_null();
    STACK_OF(X509) *certs = NULL;
    char why[WHY_LEN] = "";
    int rc;

    cli_outputs_init(&outs, cli_has(a, "force"));
    if (all == NULL) {
        rc = cli_error(a, "out of memory");
        goto out;
    }
    if ((rc = cli_require(a, "out", NULL)) >= 0) {
        goto out;
    }
    if (a->npos == 0) {
        rc = cli_usage_error(a, "name the certificate files, leaf first");
        goto out;
    }
    for (size_t i = 0; i < a->npos; i++) {
        if ((rc = cli_load_certs(a, a->pos[i], &certs)) >= 0) {
            goto out;
        }
        while (sk_X509_num(certs) > 0) {
            X509 *x = sk_X509_shift(certs);
            if (!sk_X509_push(all, x)) {
                X509_free(x);
                rc = cli_error(a, "out of memory");
                goto out;
            }
        }
        sk_X509_free(certs);
        certs = NULL;
    }
    if (pki_issue_chain_check(all, why, sizeof(why)) < 0) {
        rc = cli_error(a, "the certificates are not in chain order: %s", why);
        goto out;
    }
    a->pos[a->npos] = NULL;
    if ((rc = cli_outputs_plan(a, &outs, cli_get(a, "out"), a->pos)) >= 0) {
        goto out;
    }
    int r =
        pki_issue_certs_save(cli_get(a, "out"), all, cli_outputs_flags(&outs), why, sizeof(why));
    if ((rc = cli_save_result(a, &outs, cli_get(a, "out"), r, why)) >= 0) {
        goto out;
    }
    printf("%s: %d certificates in chain order:", cli_get(a, "out"), sk_X509_num(all));
    for (int i = 0; i < sk_X509_num(all); i++) {
        char label[256];
        pki_issue_name_text(X509_get_subject_name(sk_X509_value(all, i)), label, sizeof(label));
        printf("%s%s", i ? " <- " : " ", label);
    }
    printf("\n");
    rc = -1;
out:
    sk_X509_pop_free(certs, X509_free);
    sk_X509_pop_free(all, X509_free);
    return finish(&outs, rc);
}

/* ---- p12 --------------------------------------------------------------------------------------
 */

static const struct cli_opt p12_opts[] = {
    {"cert", CLI_VALUE, "FILE",
     "the device certificate (further certificates in the file are its chain)"},
    {"key", CLI_VALUE, "FILE", "its private key (PEM)"},
    {"key-password-env", CLI_VALUE, "VAR", "passphrase of an encrypted --key, from variable VAR"},
    {"key-password-file", CLI_VALUE, "FILE", "passphrase of an encrypted --key, from FILE"},
    {"chain", CLI_LIST, "FILE", "CA certificates to include, in chain order (repeatable)"},
    {"out", CLI_VALUE, "FILE", "where to write the keystore (DER, mode 0600)"},
    {"password-env", CLI_VALUE, "VAR", "keystore password from environment variable VAR"},
    {"password-file", CLI_VALUE, "FILE", "keystore password from the first line of FILE"},
    {"name", CLI_VALUE, "ALIAS", "friendly name (keytool alias) of the entry; default: the CN"},
    OPT_FORCE,
};

static const struct cli_cmd p12_cmd = {
    "p12",
    "write a PKCS#12 keystore with a key and its certificate chain",
    "--cert FILE --key FILE [--chain FILE]... --out FILE (--password-env VAR | "
    "--password-file FILE)",
    "Writes a PKCS#12 keystore (OpenSSL 3 defaults: AES-256-CBC with PBKDF2, HMAC-SHA256\n"
    "MAC), which openssl, Java's keytool (8u301 and later) and MQTT clients read. The key\n"
    "must match the certificate and the chain must be in order. Passwords are never taken\n"
    "from the command line; at a terminal, you are asked when neither option is given.",
    "  P12_PASS=... certgate pki p12 --cert dev-0001.pem --key dev-0001.key \\\n"
    "      --chain int.pem --chain root.pem --out dev-0001.p12 --password-env P12_PASS\n",
    p12_opts,
    NOPTS(p12_opts),
    0,
};

static char *cert_cn(X509 *x)
{
    X509_NAME *n = X509_get_subject_name(x);
    int idx = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    if (idx < 0 ||
        ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, idx))) < 0) {
        ERR_clear_error();
        return NULL;
    }
    char *s = strdup((char *)utf8);
    OPENSSL_free(utf8);
    return s;
}

static int run_p12(struct cli_args *a)
{
    struct cli_outputs outs;
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509) *more = NULL;
    EVP_PKEY *key = NULL;
    char *password = NULL;
    char *cn = NULL;
    char why[WHY_LEN] = "";
    int rc;

    cli_outputs_init(&outs, cli_has(a, "force"));
    if ((rc = cli_require(a, "cert", "key", "out", NULL)) >= 0 ||
        (rc = cli_secret(a, "password-env", "password-file", "keystore password: ", true,
                         &password)) >= 0) {
        goto out;
    }
    if (password == NULL) {
        rc = cli_usage_error(a, "a keystore password is needed: --password-env VAR or "
                                "--password-file FILE");
        goto out;
    }
    if (strlen(password) < PKI_ISSUE_PASSPHRASE_MIN) {
        rc = cli_error(a, "the keystore password must be at least %d characters long",
                       PKI_ISSUE_PASSPHRASE_MIN);
        goto out;
    }
    if ((rc = cli_load_certs(a, cli_get(a, "cert"), &certs)) >= 0 ||
        (rc = cli_load_key(a, cli_get(a, "key"), "key-password-env", "key-password-file", &key)) >=
            0) {
        goto out;
    }
    size_t nfiles = 0;
    const char *const *files = cli_list(a, "chain", &nfiles);
    for (size_t f = 0; f < nfiles; f++) {
        if ((rc = cli_load_certs(a, files[f], &more)) >= 0) {
            goto out;
        }
        while (sk_X509_num(more) > 0) {
            X509 *x = sk_X509_shift(more);
            if (!sk_X509_push(certs, x)) {
                X509_free(x);
                rc = cli_error(a, "out of memory");
                goto out;
            }
        }
        sk_X509_free(more);
        more = NULL;
    }
    X509 *leaf = sk_X509_value(certs, 0);
    if (!pki_issue_key_matches(leaf, key)) {
        rc = cli_error(a, "the key '%s' does not match the certificate '%s'", cli_get(a, "key"),
                       cli_get(a, "cert"));
        goto out;
    }
    if (pki_issue_chain_check(certs, why, sizeof(why)) < 0) {
        rc =
            cli_error(a, "the certificates (--cert, then --chain) are not in chain order: %s", why);
        goto out;
    }
    const char *inputs[] = {cli_get(a, "cert"), cli_get(a, "key"), NULL};
    if ((rc = cli_outputs_plan(a, &outs, cli_get(a, "out"), inputs)) >= 0) {
        goto out;
    }
    cn = cert_cn(leaf);
    const char *name = cli_get(a, "name") ? cli_get(a, "name") : cn;
    X509 *first = sk_X509_shift(certs); /* the rest is the chain */
    int r = pki_issue_p12_save(cli_get(a, "out"), key, first, certs, name, password,
                               cli_outputs_flags(&outs), why, sizeof(why));
    X509_free(first);
    if ((rc = cli_save_result(a, &outs, cli_get(a, "out"), r, why)) >= 0) {
        goto out;
    }
    printf("%s: PKCS#12 keystore with the key, its certificate and %d CA certificate%s (entry "
           "'%s')\n",
           cli_get(a, "out"), sk_X509_num(certs), sk_X509_num(certs) == 1 ? "" : "s",
           name ? name : "");
    rc = -1;
out:
    free(cn);
    free_secret(password);
    EVP_PKEY_free(key);
    sk_X509_pop_free(more, X509_free);
    sk_X509_pop_free(certs, X509_free);
    return finish(&outs, rc);
}

/* ---- sign-code --------------------------------------------------------------------------------
 */

static const struct cli_opt sign_opts[] = {
    {"key", CLI_VALUE, "FILE", "the CA's private key (PEM)"},
    {"key-password-env", CLI_VALUE, "VAR", "passphrase of an encrypted --key, from variable VAR"},
    {"key-password-file", CLI_VALUE, "FILE", "passphrase of an encrypted --key, from FILE"},
    OPT_CODE,
    OPT_CODE_FILE,
    OPT_RAW,
    {"out", CLI_VALUE, "FILE", "write the base64 signature to FILE (no newline) not stdout"},
    OPT_FORCE,
};

static const struct cli_cmd sign_cmd = {
    "sign-code",
    "sign a proof-of-possession verification code (Cumulocity style)",
    "--key FILE (--code CODE | --code-file FILE) [--out FILE]",
    "Prints the signature of the verification code as one line of base64, exactly as\n"
    "  openssl dgst -sha256 -sign KEY CODEFILE | openssl base64 -A\n"
    "does: RSA PKCS#1 v1.5 with SHA-256, or ECDSA with SHA-256 (DER). For an Ed25519 key,\n"
    "which 'openssl dgst -sha256' cannot use, the signature is pure Ed25519 over the code,\n"
    "as 'openssl pkeyutl -sign -rawin' makes it. The code is signed without a trailing\n"
    "newline (a file's last newline is dropped unless --raw).",
    "  certgate pki sign-code --key root.key --code 3A7C...F1\n"
    "  certgate pki sign-code --key root.key --code-file code.txt --out signed.txt\n",
    sign_opts,
    NOPTS(sign_opts),
    0,
};

static int run_sign_code(struct cli_args *a)
{
    struct cli_outputs outs;
    char code[PKI_POP_CODE_MAX + 1];
    EVP_PKEY *key = NULL;
    char *b64 = NULL;
    char why[WHY_LEN] = "";
    int rc;

    cli_outputs_init(&outs, cli_has(a, "force"));
    if ((rc = cli_require(a, "key", NULL)) >= 0 ||
        (rc = cli_read_code(a, code, sizeof(code))) >= 0) {
        goto out;
    }
    const char *inputs[] = {cli_get(a, "key"), cli_get(a, "code-file"), NULL};
    if ((rc = cli_load_key(a, cli_get(a, "key"), "key-password-env", "key-password-file", &key)) >=
            0 ||
        (cli_has(a, "out") && (rc = cli_outputs_plan(a, &outs, cli_get(a, "out"), inputs)) >= 0)) {
        goto out;
    }
    int r = pki_pop_sign(key, code, &b64);
    if (r == -ENOTSUP) {
        char desc[32];
        pki_issue_key_describe(key, desc, sizeof(desc));
        rc = cli_error(a,
                       "the key '%s' (%s) cannot sign verification codes: use an RSA, EC or "
                       "Ed25519 key",
                       cli_get(a, "key"), desc);
        goto out;
    }
    if (r < 0) {
        rc = cli_error(a, "signing with '%s' failed: %s", cli_get(a, "key"), cg_strerror(r));
        goto out;
    }
    if (cli_has(a, "out")) {
        r = pki_issue_file_save(cli_get(a, "out"), b64, strlen(b64), 0644, cli_outputs_flags(&outs),
                                why, sizeof(why));
        if ((rc = cli_save_result(a, &outs, cli_get(a, "out"), r, why)) >= 0) {
            goto out;
        }
    } else {
        printf("%s\n", b64);
    }
    rc = -1;
out:
    free(b64);
    EVP_PKEY_free(key);
    return finish(&outs, rc);
}

/* ---- verify-code ------------------------------------------------------------------------------
 */

static const struct cli_opt verify_opts[] = {
    {"ca-cert", CLI_VALUE, "FILE", "the CA certificate whose key is to be proven"},
    OPT_CODE,
    OPT_CODE_FILE,
    OPT_RAW,
    {"signature", CLI_VALUE, "BASE64", "the signed verification code (Cumulocity style)"},
    {"signature-file", CLI_VALUE, "FILE", "read the base64 signature from FILE"},
    {"signature-bin", CLI_VALUE, "FILE", "read a raw binary signature from FILE"},
    {"verification-cert", CLI_VALUE, "FILE",
     "a verification certificate with CN = code (Azure/AWS style)"},
};

static const struct cli_cmd verify_cmd = {
    "verify-code",
    "check a proof-of-possession answer as the server will",
    "--ca-cert FILE (--code CODE | --code-file FILE) (--signature B64 | --signature-file FILE "
    "| --signature-bin FILE | --verification-cert FILE)",
    "Checks an answer to a verification code with the server's own verifier, so that you\n"
    "can test your signing before uploading. A signature must be what 'sign-code' (or the\n"
    "openssl recipe) makes with the CA's key; a verification certificate must have CN = the\n"
    "code, be signed by the CA's key, name the CA's subject as issuer and be valid now.\n"
    "Exit status 0 when the answer is valid, 1 when it is not (the reason on stderr).",
    "  certgate pki verify-code --ca-cert root.pem --code-file code.txt --signature-file "
    "signed.txt\n"
    "  certgate pki verify-code --ca-cert root.pem --code 3A7C...F1 --verification-cert "
    "verify.pem\n",
    verify_opts,
    NOPTS(verify_opts),
    0,
};

static int read_text_file(const struct cli_args *a, const char *opt, const char *path, uint8_t *out,
                          size_t cap, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return cli_error(a, "--%s: cannot open '%s': %s", opt, path, strerror(errno));
    }
    *n = fread(out, 1, cap, f);
    bool err = ferror(f) != 0;
    fclose(f);
    if (err) {
        return cli_error(a, "--%s: cannot read '%s'", opt, path);
    }
    if (*n == cap) {
        return cli_error(a, "--%s: '%s' is larger than %zu bytes", opt, path, cap - 1);
    }
    return -1;
}

static int run_verify_code(struct cli_args *a)
{
    char code[PKI_POP_CODE_MAX + 1];
    STACK_OF(X509) *ca = NULL;
    STACK_OF(X509) *vc = NULL;
    uint8_t data[8192 + 1];
    char why[WHY_LEN] = "";
    int rc;

    if ((rc = cli_require(a, "ca-cert", NULL)) >= 0 ||
        (rc = cli_exclusive(a, true, "signature", "signature-file", "signature-bin",
                            "verification-cert", NULL)) >= 0 ||
        (rc = cli_read_code(a, code, sizeof(code))) >= 0 ||
        (rc = cli_load_certs(a, cli_get(a, "ca-cert"), &ca)) >= 0) {
        goto out;
    }
    X509 *ca_cert = sk_X509_value(ca, 0);
    int r;
    if (cli_has(a, "verification-cert")) {
        if ((rc = cli_load_certs(a, cli_get(a, "verification-cert"), &vc)) >= 0) {
            goto out;
        }
        r = pki_pop_verify_certificate(ca_cert, sk_X509_value(vc, 0), code, time_now_ms(), why,
                                       sizeof(why));
        if (r < 0) {
            rc = cli_error(a, "invalid: %s", why);
            goto out;
        }
        printf("valid: the verification certificate proves possession of the key of %s\n",
               cli_get(a, "ca-cert"));
        rc = -1;
        goto out;
    }
    if (cli_has(a, "signature")) {
        r = pki_pop_verify_signature_b64(ca_cert, code, cli_get(a, "signature"));
    } else if (cli_has(a, "signature-file")) {
        size_t n = 0;
        if ((rc = read_text_file(a, "signature-file", cli_get(a, "signature-file"), data,
                                 sizeof(data), &n)) >= 0) {
            goto out;
        }
        data[n] = 0;
        if (memchr(data, 0, n) != NULL) {
            rc = cli_error(a,
                           "--signature-file: '%s' is not base64 text (for a binary "
                           "signature use --signature-bin)",
                           cli_get(a, "signature-file"));
            goto out;
        }
        r = pki_pop_verify_signature_b64(ca_cert, code, (const char *)data);
    } else {
        size_t n = 0;
        if ((rc = read_text_file(a, "signature-bin", cli_get(a, "signature-bin"), data,
                                 sizeof(data), &n)) >= 0) {
            goto out;
        }
        r = pki_pop_verify_signature(ca_cert, code, data, n);
    }
    if (r < 0) {
        rc = cli_error(a, "invalid: %s", pki_pop_strerror(r));
        goto out;
    }
    printf("valid: the signature proves possession of the key of %s\n", cli_get(a, "ca-cert"));
    rc = -1;
out:
    sk_X509_pop_free(ca, X509_free);
    sk_X509_pop_free(vc, X509_free);
    return rc < 0 ? CLI_EXIT_OK : rc;
}

/* ---- verification-cert ------------------------------------------------------------------------
 */

static const struct cli_opt vcert_opts[] = {
    OPT_CA_CERT,
    OPT_CA_KEY,
    OPT_CA_KEY_PASS_ENV,
    OPT_CA_KEY_PASS_FILE,
    OPT_CODE,
    OPT_CODE_FILE,
    OPT_RAW,
    {"out-cert", CLI_VALUE, "FILE", "where to write the verification certificate (PEM)"},
    {"out-key", CLI_VALUE, "FILE", "where to keep its new key (default: the key is discarded)"},
    OPT_DAYS("30"),
    OPT_KEY_TYPE,
    OPT_KEY_PASS_ENV,
    OPT_KEY_PASS_FILE,
    OPT_NOT_BEFORE,
    OPT_NOT_AFTER,
    OPT_UNCHECKED,
    OPT_FORCE,
};

static const struct cli_cmd vcert_cmd = {
    "verification-cert",
    "create an Azure/AWS-style proof-of-possession certificate (CN = code)",
    "--ca-cert FILE --ca-key FILE (--code CODE | --code-file FILE) --out-cert FILE [options]",
    "Creates a certificate whose subject is CN=<the verification code>, for a fresh key,\n"
    "signed by the CA's key: upload it to prove that you hold that key (Azure IoT Hub's\n"
    "'Verify', AWS IoT's verification certificate, or certgate's own PoP API).",
    "  certgate pki verification-cert --ca-cert root.pem --ca-key root.key \\\n"
    "      --code 75B86466DA34D2B04C0C4C9557A119687ADAE7D4732BDDB3 --out-cert verify.pem\n",
    vcert_opts,
    NOPTS(vcert_opts),
    0,
};

static int run_verification_cert(struct cli_args *a)
{
    struct cli_outputs outs;
    struct pki_issue_request req;
    enum pki_issue_key_type kt;
    char code[PKI_POP_CODE_MAX + 1];
    char *subject = NULL;
    char *pass = NULL;
    X509 *issuer = NULL;
    EVP_PKEY *issuer_key = NULL;
    X509 *made = NULL;
    char why[WHY_LEN] = "";
    int64_t now = time_now_ms();
    int rc;

    cli_outputs_init(&outs, cli_has(a, "force"));
    if ((rc = cli_require(a, "ca-cert", "ca-key", "out-cert", NULL)) >= 0 ||
        (rc = cli_read_code(a, code, sizeof(code))) >= 0 || (rc = key_type_opt(a, &kt)) >= 0) {
        goto out;
    }
    if (strlen(code) > 64) {
        rc = cli_usage_error(a,
                             "the verification code is %zu characters long, but a certificate "
                             "CN holds at most 64",
                             strlen(code));
        goto out;
    }
    subject = subject_with_cn(code, NULL);
    if (subject == NULL) {
        rc = cli_error(a, "out of memory");
        goto out;
    }
    if ((rc = subject_opt_check(a, cli_has(a, "code") ? "code" : "code-file", subject)) >= 0) {
        goto out;
    }
    pki_issue_request_init(&req, PKI_ISSUE_VERIFICATION, subject, now, 1);
    req.unchecked = cli_has(a, "unchecked");
    const char *inputs[] = {cli_get(a, "ca-cert"), cli_get(a, "ca-key"), NULL};
    if ((rc = cli_validity(a, now, 30, &req.not_before_ms, &req.not_after_ms)) >= 0 ||
        (rc = cli_secret(a, "key-password-env", "key-password-file", NULL, false, &pass)) >= 0 ||
        (rc = cli_load_issuer(a, &issuer, &issuer_key, NULL)) >= 0 ||
        (rc = cli_outputs_plan(a, &outs, cli_get(a, "out-cert"), inputs)) >= 0 ||
        (cli_has(a, "out-key") &&
         (rc = cli_outputs_plan(a, &outs, cli_get(a, "out-key"), inputs)) >= 0)) {
        goto out;
    }
    struct issue_job job = {
        .a = a,
        .outs = &outs,
        .req = &req,
        .key_type = kt,
        .issuer = issuer,
        .issuer_key = issuer_key,
        .key_pass = pass,
        .cert_path = cli_get(a, "out-cert"),
        .key_path = cli_get(a, "out-key"),
    };
    if ((rc = issue_one(&job, &made)) >= 0) {
        goto out;
    }
    /* What we made must pass our own verifier (unless deliberately dated otherwise). */
    if (pki_pop_verify_certificate(issuer, made, code, now, why, sizeof(why)) < 0 &&
        !cli_has(a, "not-before") && !cli_has(a, "not-after")) {
        rc = cli_error(a, "internal error: the new verification certificate does not verify: %s",
                       why);
        goto out;
    }
    rc = -1;
out:
    X509_free(made);
    free(subject);
    free_secret(pass);
    X509_free(issuer);
    EVP_PKEY_free(issuer_key);
    return finish(&outs, rc);
}

/* ---- dispatch ---------------------------------------------------------------------------------
 */

static const struct {
    const struct cli_cmd *cmd;
    int (*run)(struct cli_args *a);
} subcommands[] = {
    {&ca_cmd, run_ca},
    {&intermediate_cmd, run_intermediate},
    {&device_cmd, run_device},
    {&server_cmd, run_server_cert},
    {&chain_cmd, run_chain},
    {&p12_cmd, run_p12},
    {&sign_cmd, run_sign_code},
    {&verify_cmd, run_verify_code},
    {&vcert_cmd, run_verification_cert},
};

static void pki_usage(FILE *out)
{
    fprintf(out, "usage: certgate pki <subcommand> [options]\n\n"
                 "Create and handle the certificates of a device PKI in one command each.\n\n"
                 "subcommands:\n");
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
        fprintf(out, "  %-18s %s\n", subcommands[i].cmd->name, subcommands[i].cmd->summary);
    }
    fprintf(out, "\n'certgate pki <subcommand> --help' describes each one; docs/cli/pki.md has a\n"
                 "walkthrough. Keys are written with mode 0600; nothing is overwritten without\n"
                 "--force; secrets come from --*-env or --*-file options, never the command "
                 "line.\n");
}

int cmd_pki(int argc, char **argv)
{
    if (argc < 2) {
        pki_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        pki_usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
        if (strcmp(name, subcommands[i].cmd->name) == 0) {
            struct cli_args a;
            int rc = cli_parse(subcommands[i].cmd, argc - 1, argv + 1, &a);
            if (rc < 0) {
                rc = subcommands[i].run(&a);
            }
            cli_args_cleanup(&a);
            fflush(stdout);
            return rc;
        }
    }
    fprintf(stderr, "certgate pki: unknown subcommand '%s'\n\n", name);
    pki_usage(stderr);
    return CLI_EXIT_USAGE;
}
