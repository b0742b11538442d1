/* certgate bench: measurements. Each mode is one entry of the table below; `verify`
 * measures the chain validator; connect, hold, pubsub and token are the load generator
 * (cli/bench.h, cli/bench_client.h, one bench_<mode>.c each). Figures and how they compare
 * with the raw cryptography and with Mosquitto are in docs/benchmarks.md; the options in
 * docs/cli/bench.md. */
#include "cli/bench.h"
#include "cli/commands.h"

#include "core/timeutil.h"
#include "pki/policy.h"
#include "pki/trust.h"
#include "pki/verify.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

struct bench_mode {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static int bench_verify(int argc, char **argv);

static const struct bench_mode modes[] = {
    {"verify", bench_verify,
     "chain validations per second (ECDSA P-256 and RSA-2048 3-certificate chains)"},
    {"connect", bench_connect_main,
     "mutual-TLS MQTT connects per second (full or resumed), latency, server CPU per connect"},
    {"hold", bench_hold_main,
     "N idle authenticated MQTT connections with keep-alive: server memory per connection"},
    {"pubsub", bench_pubsub_main,
     "publishers and subscribers, QoS 0/1: delivered/s, loss, latency, server CPU per message"},
    {"token", bench_token_main,
     "device access tokens per second over HTTPS with client certificates"},
    {"register", bench_register_main,
     "durable auto-registrations per second through the registry (no TLS)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: certgate bench <mode> [options]\n\nmodes:\n");
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        fprintf(out, "  %-8s %s\n", modes[i].name, modes[i].summary);
    }
    fprintf(out, "\n'certgate bench <mode> --help' describes each mode.\n");
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(argv[1], modes[i].name) == 0) {
            return modes[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "certgate bench: unknown mode '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

/* ---- bench verify ----------------------------------------------------------------- */

static void verify_usage(FILE *out)
{
    fprintf(out,
            "usage: certgate bench verify [--seconds N] [--threads N] [--cached] [--json]\n"
            "\n"
            "Generates, in memory, an ECDSA P-256 and an RSA-2048 chain root -> intermediate ->\n"
            "leaf (the root is the trust anchor; leaf and intermediate are presented, as a\n"
            "device sends them) and runs the chain validator on each for a fixed time.\n"
            "Certificates are parsed once, as the TLS layer hands them over already parsed.\n"
            "\n"
            "  --seconds N   duration per chain type (default 3)\n"
            "  --threads N   verifying threads sharing one trust store (default 1)\n"
            "  --cached      use the trust store's cache, as the server does: the same leaf\n"
            "                over and over (a device that comes back: its intermediate's path\n"
            "                and its own signature are known); default: the full\n"
            "                verification every time\n"
            "  --json        print the result as a JSON object\n");
}

static X509 *bench_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, bool ca)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    bool ok = x != NULL && name != NULL && X509_set_version(x, X509_VERSION_3) &&
              ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? (issuer ? 2 : 1) : 3) &&
              X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"bench",
                                         -1, -1, 0) &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
                                         -1, 0) &&
              X509_set_subject_name(x, name) &&
              X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) &&
              X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
              X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600) && X509_set_pubkey(x, key);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    const char *exts[][2] = {
        {"basicConstraints", ca ? "critical,CA:TRUE" : "CA:FALSE"},
        {"keyUsage", ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
        {"subjectKeyIdentifier", "hash"},
        {"authorityKeyIdentifier", "keyid:always"},
        {"extendedKeyUsage", ca ? NULL : "clientAuth"},
    };
    for (size_t i = 0; ok && i < sizeof(exts) / sizeof(exts[0]); i++) {
        if (exts[i][1] == NULL) {
            continue;
        }
        X509_EXTENSION *e = X509V3_EXT_nconf(NULL, &v3, exts[i][0], exts[i][1]);
        ok = e != NULL && X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

struct bench_chain {
    const char *label;
    EVP_PKEY *keys[3];
    X509 *root;
    X509 *inter;
    X509 *leaf;
    struct pki_trust *trust;
    STACK_OF(X509) * presented; /* the intermediate (the leaf is passed on its own) */
};

static void bench_chain_free(struct bench_chain *c)
{
    for (int i = 0; i < 3; i++) {
        EVP_PKEY_free(c->keys[i]);
    }
    X509_free(c->root);
    X509_free(c->inter);
    X509_free(c->leaf);
    pki_trust_unref(c->trust);
    sk_X509_pop_free(c->presented, X509_free);
}

static int bench_chain_make(struct bench_chain *c, const char *label, bool rsa)
{
    memset(c, 0, sizeof(*c));
    c->label = label;
    for (int i = 0; i < 3; i++) {
        c->keys[i] = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                         : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (c->keys[i] == NULL) {
            return -1;
        }
    }
    c->root = bench_cert(c->keys[2], "bench root", NULL, NULL, true);
    c->inter =
        c->root ? bench_cert(c->keys[1], "bench intermediate", c->root, c->keys[2], true) : NULL;
    c->leaf = c->inter ? bench_cert(c->keys[0], "bench-device", c->inter, c->keys[1], false) : NULL;
    if (c->leaf == NULL) {
        return -1;
    }
    struct pki_trust_builder *b = pki_trust_builder_new();
    if (b == NULL || pki_trust_builder_add(b, c->root, NULL) < 0) {
        pki_trust_builder_free(b);
        return -1;
    }
    if (pki_trust_builder_finish(b, &c->trust) < 0) {
        return -1;
    }
    c->presented = sk_X509_new_null();
    if (c->presented == NULL || !X509_up_ref(c->inter) ||
        sk_X509_push(c->presented, c->inter) <= 0) {
        return -1;
    }
    return 0;
}

struct bench_worker {
    struct bench_chain *chain;
    bool cached;
    uint64_t deadline_ns;
    uint64_t count;
    bool failed;
};

static void *bench_worker_run(void *p)
{
    struct bench_worker *w = p;
    struct pki_verify_params params = {.no_cache = !w->cached};
    while (time_mono_ns() < w->deadline_ns) {
        struct pki_verify_result res;
        int rc =
            pki_chain_verify(w->chain->trust, w->chain->leaf, w->chain->presented, &params, &res);
        pki_verify_result_cleanup(&res);
        if (rc != 0) {
            w->failed = true;
            break;
        }
        w->count++;
    }
    return NULL;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct bench_result {
    uint64_t count;
    double elapsed;
    double cpu;
};

static int bench_run(struct bench_chain *c, int threads, int seconds, bool cached,
                     struct bench_result *r)
{
    struct bench_worker *w = calloc((size_t)threads, sizeof(*w));
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    int rc = -1;
    if (w == NULL || th == NULL) {
        goto out;
    }
    double cpu0 = cpu_seconds();
    uint64_t t0 = time_mono_ns();
    int started = 0;
    for (int i = 0; i < threads; i++) {
        w[i].chain = c;
        w[i].cached = cached;
        w[i].deadline_ns = t0 + (uint64_t)seconds * 1000000000ull;
        if (pthread_create(&th[i], NULL, bench_worker_run, &w[i]) != 0) {
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
    }
    r->elapsed = (double)(time_mono_ns() - t0) / 1e9;
    r->cpu = cpu_seconds() - cpu0;
    r->count = 0;
    bool failed = started != threads;
    for (int i = 0; i < started; i++) {
        r->count += w[i].count;
        failed = failed || w[i].failed;
    }
    rc = failed || r->count == 0 ? -1 : 0;
out:
    free(w);
    free(th);
    return rc;
}

static int bench_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seconds", required_argument, NULL, 's'}, {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},          {"cached", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    int seconds = 3;
    int threads = 1;
    bool as_json = false;
    bool cached = false;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        long v;
        switch (c) {
        case 's':
        case 't':
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > (c == 's' ? 3600 : 256)) {
                fprintf(stderr, "certgate bench verify: --%s '%s': expected 1..%d\n",
                        c == 's' ? "seconds" : "threads", optarg, c == 's' ? 3600 : 256);
                return 2;
            }
            if (c == 's') {
                seconds = (int)v;
            } else {
                threads = (int)v;
            }
            break;
        case 'j':
            as_json = true;
            break;
        case 'c':
            cached = true;
            break;
        case 'h':
            verify_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "certgate bench verify: see 'certgate bench verify --help'\n");
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "certgate bench verify: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    struct bench_chain chains[2];
    const char *labels[2] = {"ecdsa-p256", "rsa-2048"};
    struct bench_result results[2];
    int rc = 1;
    memset(chains, 0, sizeof(chains));
    for (int i = 0; i < 2; i++) {
        if (bench_chain_make(&chains[i], labels[i], i == 1) < 0) {
            fprintf(stderr, "certgate bench verify: cannot generate the %s chain\n", labels[i]);
            goto out;
        }
    }
    if (!as_json) {
        printf("bench verify: 3-certificate chains (leaf + intermediate presented, root "
               "trusted), %d thread%s, %d s each%s\n",
               threads, threads == 1 ? "" : "s", seconds, cached ? ", intermediate cache on" : "");
        fflush(stdout);
    }
    for (int i = 0; i < 2; i++) {
        if (bench_run(&chains[i], threads, seconds, cached, &results[i]) < 0) {
            fprintf(stderr, "certgate bench verify: %s: a validation failed\n", labels[i]);
            goto out;
        }
        if (!as_json) {
            struct bench_result *r = &results[i];
            printf("%-10s %9llu validations in %.2f s: %10.0f validations/s, %8.1f us per "
                   "validation (%.1f us CPU)\n",
                   labels[i], (unsigned long long)r->count, r->elapsed,
                   (double)r->count / r->elapsed, r->elapsed * threads * 1e6 / (double)r->count,
                   r->cpu * 1e6 / (double)r->count);
            fflush(stdout);
        }
    }
    if (as_json) {
        json_t *arr = json_array();
        for (int i = 0; i < 2; i++) {
            struct bench_result *r = &results[i];
            json_array_append_new(
                arr, json_pack("{s:s,s:I,s:f,s:f,s:f,s:f}", "chain", labels[i], "validations",
                               (json_int_t)r->count, "elapsed_s", r->elapsed, "per_second",
                               (double)r->count / r->elapsed, "us_per_validation",
                               r->elapsed * threads * 1e6 / (double)r->count,
                               "cpu_us_per_validation", r->cpu * 1e6 / (double)r->count));
        }
        json_t *o = json_pack("{s:s,s:i,s:i,s:b,s:o}", "mode", "verify", "threads", threads,
                              "seconds", seconds, "cached", cached, "results", arr);
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s != NULL) {
            printf("%s\n", s);
            free(s);
        }
        json_decref(o);
    }
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        bench_chain_free(&chains[i]);
    }
    ERR_clear_error();
    return rc;
}
