/* certgate verify: run the chain validator offline, exactly as the server does.
 * See docs/cli/verify.md. */
#include "cli/commands.h"

#include "core/err.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/cert.h"
#include "pki/policy.h"
#include "pki/revocation.h"
#include "pki/trust.h"
#include "pki/verify.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Caps on what the command reads: the chain file gets the server's limits; trust and
 * untrusted bundles and CRLs may be larger (a tenant may have many CAs). */
#define TRUST_MAX_BYTES (16u * 1024 * 1024)
#define TRUST_MAX_CERTS 100000u
#define UNTRUSTED_MAX_BYTES (1024u * 1024)
#define UNTRUSTED_MAX_CERTS 1000u
#define CRL_MAX_BYTES (64u * 1024 * 1024)
#define MAX_CRLS 64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: certgate verify --trust FILE [options] CHAIN_FILE\n"
            "\n"
            "Validate a device certificate chain offline with the same validator the server\n"
            "uses. CHAIN_FILE holds the leaf first, optionally followed by intermediates (PEM,\n"
            "DER, the X-Ssl-Cert-Chain form with spaces for newlines, or bare base64).\n"
            "\n"
            "options:\n"
            "  --trust FILE             PEM bundle of trust anchors (uploaded CA certificates);\n"
            "                           required\n"
            "  --untrusted FILE         PEM bundle of intermediates the device would send\n"
            "  --at TIME                verify at TIME: RFC 3339 (2024-05-01T12:00:00Z), a date\n"
            "                           (2024-05-01) or @UNIXSECONDS; default now\n"
            "  --max-chain-length N     longest chain accepted, leaf to anchor inclusive\n"
            "                           (1..%d, default %d)\n"
            "  --purpose P              client (default), server or any\n"
            "  --crl FILE               revoked serials; repeatable. An X.509 CRL (PEM or DER)\n"
            "                           whose signature must verify with a trust anchor or an\n"
            "                           untrusted certificate, or a text file with one hex\n"
            "                           serial per line ('#' comments allowed)\n"
            "  --json                   print the result as a JSON object\n"
            "  -h, --help               this text\n"
            "\n"
            "exit status: 0 accepted, 1 refused (reason code and message on stdout),\n"
            "2 usage error or unreadable input (message on stderr).\n"
            "\n"
            "reason codes: malformed, chain-too-long, untrusted, revoked, not-v3, weak-key,\n"
            "weak-signature, bad-signature, signer-not-ca, pathlen-exceeded, leaf-is-ca,\n"
            "purpose, name-constraints, critical-extension, not-yet-valid, expired, internal\n"
            "(see docs/design/pki.md).\n",
            PKI_MAX_CHAIN_LIMIT, PKI_DEFAULT_MAX_CHAIN);
}

/* Read a whole file of at most `max` bytes. 0, or -1 with a message on stderr. */
static int read_file(const char *path, size_t max, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "certgate verify: cannot read %s: %m\n", path);
        return -1;
    }
    size_t cap = 8192;
    size_t n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        if (n == cap) {
            if (cap > max) {
                break;
            }
            char *p = realloc(buf, cap * 2 + 1);
            if (p == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            break;
        }
    }
    bool err = ferror(f) != 0;
    fclose(f);
    if (buf == NULL || err) {
        fprintf(stderr, "certgate verify: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    if (n > max) {
        fprintf(stderr, "certgate verify: %s is larger than %zu bytes\n", path, max);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

/* Load a certificate bundle; -1 with a message on stderr. */
static int load_bundle(const char *what, const char *path, size_t max_bytes, size_t max_certs,
                       STACK_OF(X509) * *out)
{
    char *data = NULL;
    size_t len = 0;
    if (read_file(path, max_bytes, &data, &len) < 0) {
        return -1;
    }
    int rc = pki_bundle_parse(data, len, max_bytes, max_certs, out);
    free(data);
    if (rc < 0) {
        fprintf(stderr, "certgate verify: %s %s: %s\n", what, path,
                rc == CG_EPARSE   ? "no certificate in PEM, DER or base64 form could be read"
                : rc == CG_ELIMIT ? "too many certificates or too large"
                                  : pki_strerror(rc));
        return -1;
    }
    return 0;
}

/* A CRL file: an X.509 CRL (PEM armour or DER SEQUENCE) or a text list of hex serials. */
static int load_crl(struct pki_revocation *set, const char *path, X509 **signers, size_t n)
{
    char *data = NULL;
    size_t len = 0;
    if (read_file(path, CRL_MAX_BYTES, &data, &len) < 0) {
        return -1;
    }
    int rc = -1;
    bool is_crl = len > 0 && ((unsigned char)data[0] == 0x30 ||
                              strstr(data, "-----BEGIN X509 CRL-----") != NULL);
    if (is_crl) {
        int r = pki_revocation_add_crl(set, data, len, signers, n, NULL);
        if (r == CG_EDENIED) {
            fprintf(stderr,
                    "certgate verify: --crl %s: the CRL is not signed by any trust anchor or "
                    "untrusted certificate\n",
                    path);
        } else if (r < 0) {
            fprintf(stderr, "certgate verify: --crl %s: not a readable X.509 CRL (%s)\n", path,
                    cg_strerror(r));
        } else {
            rc = 0;
        }
        goto out;
    }
    if (memchr(data, '\0', len) != NULL) {
        fprintf(stderr, "certgate verify: --crl %s: neither a CRL nor a text list of serials\n",
                path);
        goto out;
    }
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        char *s = str_trim(line);
        if (*s == '\0') {
            continue;
        }
        int r = pki_revocation_add_serial(set, s, NULL);
        if (r < 0) {
            fprintf(stderr, "certgate verify: --crl %s: line %d: not a hex serial number\n", path,
                    lineno);
            goto out;
        }
    }
    rc = 0;
out:
    free(data);
    return rc;
}

static json_t *cert_json(X509 *x, int depth)
{
    struct pki_cert_facts f;
    if (pki_cert_facts_get(x, &f) < 0) {
        return json_pack("{s:i,s:s}", "depth", depth, "error", "unreadable certificate");
    }
    char nb[TIME_ISO_LEN];
    char na[TIME_ISO_LEN];
    time_format_iso(f.not_before_ms, nb);
    time_format_iso(f.not_after_ms, na);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:b}", "subject", f.subject,
                          "issuer", f.issuer, "fingerprint", f.fingerprint, "serialNumber",
                          f.serial_dec, "serialNumberHex", f.serial_hex, "algorithmName", f.sig_alg,
                          "version", f.version, "notBefore", nb, "notAfter", na, "ca", f.is_ca);
    if (o != NULL && depth >= 0) {
        json_object_set_new(o, "depth", json_integer(depth));
    }
    pki_cert_facts_cleanup(&f);
    return o;
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s != NULL) {
        printf("%s\n", s);
        free(s);
    }
}

static int report(const struct pki_verify_result *res, bool as_json)
{
    const struct pki_verdict *v = &res->verdict;
    if (as_json) {
        json_t *o = json_object();
        if (v->reason == PKI_R_OK) {
            X509 *anchor = sk_X509_value(res->chain, sk_X509_num(res->chain) - 1);
            json_object_set_new(o, "accepted", json_true());
            json_object_set_new(o, "anchor", cert_json(anchor, -1));
            json_t *chain = json_array();
            for (int i = 0; i < sk_X509_num(res->chain); i++) {
                json_array_append_new(chain, cert_json(sk_X509_value(res->chain, i), i));
            }
            json_object_set_new(o, "chain", chain);
        } else {
            json_object_set_new(o, "accepted", json_false());
            json_object_set_new(o, "reason", json_string(pki_reason_code(v->reason)));
            json_object_set_new(o, "message", json_string(v->message));
            json_object_set_new(o, "depth", v->depth >= 0 ? json_integer(v->depth) : json_null());
        }
        print_json(o);
        json_decref(o);
    } else if (v->reason == PKI_R_OK) {
        X509 *anchor = sk_X509_value(res->chain, sk_X509_num(res->chain) - 1);
        char *subject = NULL;
        pki_name_format(X509_get_subject_name(anchor), PKI_DN_SPACED, &subject);
        printf("accepted: anchor %s (%s)\n", subject ? subject : "?", res->anchor->fingerprint);
        free(subject);
        for (int i = 0; i < sk_X509_num(res->chain); i++) {
            char fp[PKI_FINGERPRINT_LEN + 1] = "?";
            X509 *x = sk_X509_value(res->chain, i);
            pki_cert_fingerprint(x, fp);
            char *s = NULL;
            pki_name_format(X509_get_subject_name(x), PKI_DN_SPACED, &s);
            printf("  %d: %s (%s)\n", i, s ? s : "?", fp);
            free(s);
        }
    } else {
        printf("refused: %s: %s\n", pki_reason_code(v->reason), v->message);
    }
    return v->reason == PKI_R_OK ? 0 : 1;
}

int cmd_verify(int argc, char **argv)
{
    enum { OPT_TRUST = 1000, OPT_UNTRUSTED, OPT_AT, OPT_MAX, OPT_PURPOSE, OPT_CRL, OPT_JSON };
    static const struct option opts[] = {
        {"trust", required_argument, NULL, OPT_TRUST},
        {"untrusted", required_argument, NULL, OPT_UNTRUSTED},
        {"at", required_argument, NULL, OPT_AT},
        {"max-chain-length", required_argument, NULL, OPT_MAX},
        {"purpose", required_argument, NULL, OPT_PURPOSE},
        {"crl", required_argument, NULL, OPT_CRL},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *trust_path = NULL;
    const char *untrusted_path = NULL;
    const char *crl_paths[MAX_CRLS];
    size_t n_crls = 0;
    bool as_json = false;
    struct pki_verify_params params = {0};
    int rc = 2;
    STACK_OF(X509) *anchors = NULL;
    STACK_OF(X509) *extra = NULL;
    STACK_OF(X509) *chain = NULL;
    X509 **signers = NULL;
    struct pki_trust *trust = NULL;
    struct pki_revocation *revoked = NULL;
    struct pki_verify_result res;
    memset(&res, 0, sizeof(res));

    optind = 0; /* GNU getopt: full re-initialisation */
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_TRUST:
            trust_path = optarg;
            break;
        case OPT_UNTRUSTED:
            untrusted_path = optarg;
            break;
        case OPT_AT:
            if (time_parse_iso(optarg, &params.at_ms) < 0) {
                fprintf(stderr,
                        "certgate verify: --at '%s': expected RFC 3339 time, a date or "
                        "@UNIXSECONDS\n",
                        optarg);
                goto out;
            }
            if (params.at_ms == 0) {
                params.at_ms = 1; /* 0 means "now" to the validator; keep the epoch itself */
            }
            break;
        case OPT_MAX: {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > PKI_MAX_CHAIN_LIMIT) {
                fprintf(stderr, "certgate verify: --max-chain-length '%s': expected 1..%d\n",
                        optarg, PKI_MAX_CHAIN_LIMIT);
                goto out;
            }
            params.max_chain = (unsigned)v;
            break;
        }
        case OPT_PURPOSE:
            if (pki_purpose_parse(optarg, &params.purpose) < 0) {
                fprintf(stderr, "certgate verify: --purpose '%s': expected client, server or any\n",
                        optarg);
                goto out;
            }
            break;
        case OPT_CRL:
            if (n_crls == MAX_CRLS) {
                fprintf(stderr, "certgate verify: at most %d --crl files\n", MAX_CRLS);
                goto out;
            }
            crl_paths[n_crls++] = optarg;
            break;
        case OPT_JSON:
            as_json = true;
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            fprintf(stderr, "certgate verify: see 'certgate verify --help'\n");
            goto out;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "certgate verify: %s\n\n",
                optind >= argc ? "missing CHAIN_FILE" : "expected exactly one CHAIN_FILE");
        usage(stderr);
        goto out;
    }
    if (trust_path == NULL) {
        fprintf(stderr, "certgate verify: --trust FILE is required\n\n");
        usage(stderr);
        goto out;
    }

    if (load_bundle("--trust", trust_path, TRUST_MAX_BYTES, TRUST_MAX_CERTS, &anchors) < 0 ||
        (untrusted_path != NULL && load_bundle("--untrusted", untrusted_path, UNTRUSTED_MAX_BYTES,
                                               UNTRUSTED_MAX_CERTS, &extra) < 0) ||
        load_bundle("chain file", argv[optind], PKI_BUNDLE_MAX_BYTES, PKI_BUNDLE_MAX_CERTS,
                    &chain) < 0) {
        goto out;
    }

    struct pki_trust_builder *b = pki_trust_builder_new();
    if (b == NULL) {
        fprintf(stderr, "certgate verify: out of memory\n");
        goto out;
    }
    int64_t now = params.at_ms != 0 ? params.at_ms : time_now_ms();
    for (int i = 0; i < sk_X509_num(anchors); i++) {
        X509 *x = sk_X509_value(anchors, i);
        struct pki_verdict av;
        if (pki_anchor_check(x, now, &av) < 0) {
            /* The server would not have accepted this upload; say so, but verify anyway. */
            fprintf(stderr,
                    "certgate verify: warning: trust anchor %d would be refused on upload: "
                    "%s: %s\n",
                    i, pki_reason_code(av.reason), av.message);
        }
        if (pki_trust_builder_add(b, x, NULL) < 0) {
            pki_trust_builder_free(b);
            fprintf(stderr, "certgate verify: cannot add trust anchor %d\n", i);
            goto out;
        }
    }
    if (pki_trust_builder_finish(b, &trust) < 0) {
        fprintf(stderr, "certgate verify: cannot build the trust store\n");
        goto out;
    }

    /* Everything after the leaf, plus --untrusted, is offered as intermediates. */
    for (int i = 0; extra != NULL && i < sk_X509_num(extra); i++) {
        X509 *x = sk_X509_value(extra, i);
        if (!X509_up_ref(x) || sk_X509_push(chain, x) <= 0) {
            fprintf(stderr, "certgate verify: out of memory\n");
            goto out;
        }
    }

    if (n_crls > 0) {
        size_t n = (size_t)sk_X509_num(anchors) + (size_t)sk_X509_num(chain);
        signers = calloc(n, sizeof(*signers));
        revoked = pki_revocation_new();
        if (signers == NULL || revoked == NULL) {
            fprintf(stderr, "certgate verify: out of memory\n");
            goto out;
        }
        size_t k = 0;
        for (int i = 0; i < sk_X509_num(anchors); i++) {
            signers[k++] = sk_X509_value(anchors, i);
        }
        for (int i = 0; i < sk_X509_num(chain); i++) {
            signers[k++] = sk_X509_value(chain, i);
        }
        for (size_t i = 0; i < n_crls; i++) {
            if (load_crl(revoked, crl_paths[i], signers, k) < 0) {
                goto out;
            }
        }
        pki_revocation_seal(revoked);
        params.revoked = revoked;
    }

    pki_chain_verify_bundle(trust, chain, &params, &res);
    rc = report(&res, as_json);
out:
    pki_verify_result_cleanup(&res);
    pki_revocation_unref(revoked);
    pki_trust_unref(trust);
    free(signers);
    sk_X509_pop_free(anchors, X509_free);
    sk_X509_pop_free(extra, X509_free);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}
