/* certgate bench: options, devices, histograms, /proc figures and output (see bench.h). */
#include "cli/bench.h"

#include "core/timeutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

volatile sig_atomic_t bench_interrupted;

const char bench_common_help[] =
    "target and run options (every network mode):\n"
    "  --host ADDR          server address, loopback only: 127.0.0.0/8 or ::1 (127.0.0.1)\n"
    "  --port N             MQTT over TLS port (8883)\n"
    "  --https-port N       HTTPS port (8443; token mode)\n"
    "  --cafile FILE        CA certificate(s) to verify the server with (PEM)\n"
    "  --insecure           do not verify the server certificate (instead of --cafile)\n"
    "  --devices DIR        device certificates and keys from `certgate pki device --count N\n"
    "                       --out-dir DIR`: every NAME.key with NAME.pem; NAME is the\n"
    "                       device id and MQTT ClientId\n"
    "  --chain FILE         certificates sent after each device certificate (default:\n"
    "                       DIR/chain.pem, else those of the first NAME.chain.pem)\n"
    "  --device-offset N    skip the first N devices (sorted by name)\n"
    "  --device-limit N     use at most N devices\n"
    "  --threads N          generator threads, each with its own event loop (number of CPUs)\n"
    "  --seconds S          measurement duration in seconds\n"
    "  --warmup S           seconds before the measurement starts (not counted)\n"
    "  --max-seconds S      hard cap on the whole run, set-up and draining included\n"
    "  --timeout MS         per connection: TCP + TLS + first reply (10000)\n"
    "  --server-pid PID     the server process: its CPU time per operation (utime + stime of\n"
    "                       /proc/PID/stat) and memory (VmRSS of /proc/PID/status)\n"
    "  --sources N          spread connections over source addresses 127.0.0.2 ..\n"
    "                       127.0.0.(N+1) (250; 0: let the kernel choose)\n"
    "  --tls-version V      1.2 or 1.3 only (default: negotiate; both servers pick 1.3)\n"
    "  --label TEXT         a name for the target, copied to the report\n"
    "  --json               print one JSON object instead of text\n"
    "  --help               this text\n";

void bench_opts_defaults(struct bench_opts *o, const char *mode)
{
    memset(o, 0, sizeof(*o));
    o->mode = mode;
    snprintf(o->host, sizeof(o->host), "127.0.0.1");
    o->port = 8883;
    o->https_port = 8443;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = cpus > 0 ? (int)cpus : 1;
    o->seconds = 10;
    o->warmup = 1;
    o->timeout_ms = 10000;
    o->sources = 250;
}

int bench_parse_double(const char *mode, const char *opt, const char *s, double lo, double hi,
                       double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno != 0 || !(v >= lo && v <= hi)) {
        fprintf(stderr, "certgate bench %s: --%s '%s': expected a number from %g to %g\n", mode,
                opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int bench_parse_int(const char *mode, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        fprintf(stderr, "certgate bench %s: --%s '%s': expected a whole number from %ld to %ld\n",
                mode, opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Loopback only: the generator must never be pointed at another machine. */
static bool is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127;
    }
    if (inet_pton(AF_INET6, host, &a6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&a6);
    }
    return false;
}

static const char *long_name(const struct option *longopts, int code)
{
    for (const struct option *p = longopts; p->name != NULL; p++) {
        if (p->val == code) {
            return p->name;
        }
    }
    return "?";
}

int bench_opts_parse(struct bench_opts *o, int argc, char **argv, const struct option *longopts,
                     int (*mode_opt)(int code, const char *arg, void *ctx), void *ctx,
                     void (*usage)(FILE *out), bool needs_devices)
{
    const char *m = o->mode;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        long v = 0;
        double d = 0;
        const char *name = long_name(longopts, c);
        switch (c) {
        case BENCH_OPT_HOST:
            if (strlen(optarg) >= sizeof(o->host) || !is_loopback(optarg)) {
                fprintf(stderr,
                        "certgate bench %s: --host '%s': only loopback addresses "
                        "(127.0.0.0/8, ::1) may be used\n",
                        m, optarg);
                return 2;
            }
            snprintf(o->host, sizeof(o->host), "%s", optarg);
            break;
        case BENCH_OPT_PORT:
        case BENCH_OPT_HTTPS_PORT:
            if (bench_parse_int(m, name, optarg, 1, 65535, &v) < 0) {
                return 2;
            }
            *(c == BENCH_OPT_PORT ? &o->port : &o->https_port) = (int)v;
            break;
        case BENCH_OPT_CAFILE:
            o->cafile = optarg;
            break;
        case BENCH_OPT_INSECURE:
            o->insecure = true;
            break;
        case BENCH_OPT_DEVICES:
            o->devices_dir = optarg;
            break;
        case BENCH_OPT_CHAIN:
            o->chain_file = optarg;
            break;
        case BENCH_OPT_DEVICE_OFFSET:
        case BENCH_OPT_DEVICE_LIMIT:
            if (bench_parse_int(m, name, optarg, 0, 10000000, &v) < 0) {
                return 2;
            }
            *(c == BENCH_OPT_DEVICE_OFFSET ? &o->device_offset : &o->device_limit) = (int)v;
            break;
        case BENCH_OPT_THREADS:
            if (bench_parse_int(m, name, optarg, 1, 64, &v) < 0) {
                return 2;
            }
            o->threads = (int)v;
            break;
        case BENCH_OPT_SECONDS:
        case BENCH_OPT_WARMUP:
        case BENCH_OPT_MAX_SECONDS:
            if (bench_parse_double(m, name, optarg, c == BENCH_OPT_SECONDS ? 0.1 : 0, 86400, &d) <
                0) {
                return 2;
            }
            *(c == BENCH_OPT_SECONDS  ? &o->seconds
              : c == BENCH_OPT_WARMUP ? &o->warmup
                                      : &o->max_seconds) = d;
            o->warmup_set = o->warmup_set || c == BENCH_OPT_WARMUP;
            break;
        case BENCH_OPT_TIMEOUT:
            if (bench_parse_int(m, name, optarg, 10, 600000, &v) < 0) {
                return 2;
            }
            o->timeout_ms = (int)v;
            break;
        case BENCH_OPT_SERVER_PID:
            if (bench_parse_int(m, name, optarg, 1, 1L << 30, &v) < 0) {
                return 2;
            }
            o->server_pid = (pid_t)v;
            break;
        case BENCH_OPT_JSON:
            o->json = true;
            break;
        case BENCH_OPT_SOURCES:
            if (bench_parse_int(m, name, optarg, 0, 253, &v) < 0) {
                return 2;
            }
            o->sources = (int)v;
            break;
        case BENCH_OPT_TLS_VERSION:
            if (strcmp(optarg, "1.2") == 0) {
                o->tls_version = 12;
            } else if (strcmp(optarg, "1.3") == 0) {
                o->tls_version = 13;
            } else {
                fprintf(stderr, "certgate bench %s: --tls-version '%s': expected 1.2 or 1.3\n", m,
                        optarg);
                return 2;
            }
            break;
        case BENCH_OPT_LABEL:
            o->label = optarg;
            break;
        case BENCH_OPT_HELP:
            usage(stdout);
            return 1;
        case '?':
        case ':':
            fprintf(stderr, "certgate bench %s: unknown option or missing value: '%s'\n", m,
                    argv[optind - 1]);
            fprintf(stderr, "see 'certgate bench %s --help'\n", m);
            return 2;
        default:
            if (mode_opt == NULL || mode_opt(c, optarg, ctx) < 0) {
                return 2;
            }
            break;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "certgate bench %s: unexpected argument '%s'\n", m, argv[optind]);
        return 2;
    }
    if (o->cafile == NULL && !o->insecure) {
        fprintf(stderr, "certgate bench %s: --cafile FILE (the server's CA) is required\n", m);
        return 2;
    }
    if (needs_devices && o->devices_dir == NULL) {
        fprintf(stderr, "certgate bench %s: --devices DIR is required\n", m);
        return 2;
    }
    if (o->server_pid > 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)o->server_pid);
        if (access(path, R_OK) != 0) {
            fprintf(stderr, "certgate bench %s: --server-pid %d: no such process\n", m,
                    (int)o->server_pid);
            return 2;
        }
    }
    return 0;
}

int bench_raise_nofile(const struct bench_opts *o, long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        return 0;
    }
    if ((rlim_t)need <= rl.rlim_cur) {
        return 0;
    }
    if (rl.rlim_max != RLIM_INFINITY && (rlim_t)need > rl.rlim_max) {
        fprintf(stderr,
                "certgate bench %s: %ld open files needed, the hard limit is %llu: use fewer "
                "connections per process (run several processes with --device-offset)\n",
                o->mode, need, (unsigned long long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = (rlim_t)need;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        fprintf(stderr, "certgate bench %s: cannot raise the open-files limit to %ld: %s\n",
                o->mode, need, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- devices ----------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static STACK_OF(X509) * load_pem_certs(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        return NULL;
    }
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while (sk != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            break;
        }
    }
    ERR_clear_error();
    BIO_free(bio);
    if (sk != NULL && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        sk = NULL;
    }
    return sk;
}

struct load_job {
    const struct bench_opts *o;
    struct bench_devices *d;
    size_t first, step;
    bool failed;
};

static void *load_worker(void *arg)
{
    struct load_job *j = arg;
    char path[4096];
    for (size_t i = j->first; i < j->d->n; i += j->step) {
        struct bench_device *dev = &j->d->dev[i];
        snprintf(path, sizeof(path), "%s/%s.pem", j->o->devices_dir, dev->cn);
        BIO *bio = BIO_new_file(path, "r");
        dev->cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        snprintf(path, sizeof(path), "%s/%s.key", j->o->devices_dir, dev->cn);
        bio = BIO_new_file(path, "r");
        dev->key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (dev->cert == NULL || dev->key == NULL) {
            fprintf(stderr, "certgate bench %s: cannot read %s/%s.%s (unencrypted PEM needed)\n",
                    j->o->mode, j->o->devices_dir, dev->cn, dev->cert == NULL ? "pem" : "key");
            j->failed = true;
            break;
        }
        ERR_clear_error();
    }
    return NULL;
}

int bench_devices_load(const struct bench_opts *o, size_t want, struct bench_devices *out)
{
    struct bench_devices d = {0};
    char **names = NULL;
    size_t nnames = 0, cap = 0;
    int rc = -1;
    DIR *dir = opendir(o->devices_dir);
    if (dir == NULL) {
        fprintf(stderr, "certgate bench %s: --devices %s: %s\n", o->mode, o->devices_dir,
                strerror(errno));
        return -1;
    }
    struct dirent *e;
    char path[4096];
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        if (!ends_with(e->d_name, ".key") || n - 4 >= sizeof(d.dev[0].cn) || n <= 4) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%.*s.pem", o->devices_dir, (int)(n - 4), e->d_name);
        if (access(path, R_OK) != 0) {
            continue;
        }
        if (nnames == cap) {
            cap = cap ? cap * 2 : 1024;
            char **nn = realloc(names, cap * sizeof(*names));
            if (nn == NULL) {
                goto oom;
            }
            names = nn;
        }
        names[nnames] = strndup(e->d_name, n - 4);
        if (names[nnames] == NULL) {
            goto oom;
        }
        nnames++;
    }
    closedir(dir);
    dir = NULL;
    qsort(names, nnames, sizeof(*names), name_cmp);
    if ((size_t)o->device_offset >= nnames) {
        fprintf(stderr, "certgate bench %s: --devices %s: %zu devices (NAME.pem + NAME.key)%s\n",
                o->mode, o->devices_dir, nnames,
                o->device_offset ? ", none after --device-offset" : "");
        goto out;
    }
    size_t avail = nnames - (size_t)o->device_offset;
    size_t n = want > 0 ? want : (o->device_limit > 0 ? (size_t)o->device_limit : avail);
    if (o->device_limit > 0 && n > (size_t)o->device_limit) {
        n = (size_t)o->device_limit;
    }
    if (n > avail) {
        fprintf(stderr,
                "certgate bench %s: %zu devices needed, --devices %s has %zu after the offset "
                "(make more with certgate pki device --count N)\n",
                o->mode, n, o->devices_dir, avail);
        goto out;
    }
    d.dev = calloc(n, sizeof(*d.dev));
    if (d.dev == NULL) {
        goto oom;
    }
    d.n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(d.dev[i].cn, sizeof(d.dev[i].cn), "%s", names[(size_t)o->device_offset + i]);
    }
    /* The chain sent after each certificate. */
    if (o->chain_file != NULL) {
        d.chain = load_pem_certs(o->chain_file);
        if (d.chain == NULL) {
            fprintf(stderr, "certgate bench %s: --chain %s: no PEM certificate could be read\n",
                    o->mode, o->chain_file);
            goto out;
        }
    } else {
        snprintf(path, sizeof(path), "%s/chain.pem", o->devices_dir);
        d.chain = load_pem_certs(path);
        if (d.chain == NULL) {
            snprintf(path, sizeof(path), "%s/%s.chain.pem", o->devices_dir, d.dev[0].cn);
            STACK_OF(X509) *all = load_pem_certs(path);
            if (all != NULL) {
                X509_free(sk_X509_shift(all)); /* the device itself */
                d.chain = sk_X509_new_null();
                X509 *x;
                while (d.chain != NULL && (x = sk_X509_shift(all)) != NULL) {
                    bool self_signed = X509_check_issued(x, x) == X509_V_OK;
                    if (self_signed || sk_X509_push(d.chain, x) <= 0) {
                        X509_free(x);
                    }
                }
                sk_X509_pop_free(all, X509_free);
            }
        }
    }
    /* Parse in parallel: OpenSSL 3.0 spends ~0.2 ms decoding each key or certificate. */
    int nth = o->threads > 0 ? o->threads : 1;
    if ((size_t)nth > n) {
        nth = (int)n;
    }
    pthread_t th[64];
    struct load_job jobs[64];
    int started = 0;
    for (int i = 0; i < nth && i < 64; i++) {
        jobs[i] = (struct load_job){.o = o, .d = &d, .first = (size_t)i, .step = (size_t)nth};
        if (pthread_create(&th[i], NULL, load_worker, &jobs[i]) != 0) {
            jobs[i].failed = true;
            break;
        }
        started++;
    }
    bool failed = started < nth;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        failed = failed || jobs[i].failed;
    }
    if (failed) {
        goto out;
    }
    *out = d;
    memset(&d, 0, sizeof(d));
    rc = 0;
    goto out;
oom:
    fprintf(stderr, "certgate bench %s: out of memory\n", o->mode);
out:
    if (dir != NULL) {
        closedir(dir);
    }
    for (size_t i = 0; i < nnames; i++) {
        free(names[i]);
    }
    free(names);
    bench_devices_free(&d);
    return rc;
}

void bench_devices_free(struct bench_devices *d)
{
    for (size_t i = 0; d->dev != NULL && i < d->n; i++) {
        X509_free(d->dev[i].cert);
        EVP_PKEY_free(d->dev[i].key);
        SSL_SESSION_free(d->dev[i].session);
    }
    free(d->dev);
    sk_X509_pop_free(d->chain, X509_free);
    memset(d, 0, sizeof(*d));
}

/* ---- histogram --------------------------------------------------------------------- */

static size_t hist_index(uint64_t v)
{
    if (v < 64) {
        return (size_t)v;
    }
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 5;
    size_t idx = 64 + (size_t)(shift - 1) * 32 + (size_t)((v >> shift) - 32);
    return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

static double hist_value(size_t idx)
{
    if (idx < 64) {
        return (double)idx;
    }
    size_t k = idx - 64;
    int shift = (int)(k / 32) + 1;
    double lo = (double)((k % 32 + 32) << shift);
    return lo + (double)(1ull << shift) / 2;
}

void bench_hist_add(struct bench_hist *h, uint64_t us)
{
    h->b[hist_index(us)]++;
    h->count++;
    h->sum_us += (double)us;
    if (us > h->max_us) {
        h->max_us = us;
    }
}

void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        into->b[i] += from->b[i];
    }
    into->count += from->count;
    into->sum_us += from->sum_us;
    if (from->max_us > into->max_us) {
        into->max_us = from->max_us;
    }
}

double bench_hist_pct(const struct bench_hist *h, double p)
{
    if (h->count == 0) {
        return 0;
    }
    double want = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want) {
        rank++; /* the ceiling, without libm */
    }
    if (rank == 0) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            double v = hist_value(i);
            return v > (double)h->max_us ? (double)h->max_us : v;
        }
    }
    return (double)h->max_us;
}

json_t *bench_hist_json(const struct bench_hist *h)
{
    return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:I}", "count", (json_int_t)h->count, "mean_us",
                     h->count ? h->sum_us / (double)h->count : 0.0, "p50_us", bench_hist_pct(h, 50),
                     "p90_us", bench_hist_pct(h, 90), "p99_us", bench_hist_pct(h, 99), "p999_us",
                     bench_hist_pct(h, 99.9), "max_us", (json_int_t)h->max_us);
}

static void fmt_us(double us, char *out, size_t len)
{
    if (us < 1000) {
        snprintf(out, len, "%.0f us", us);
    } else if (us < 1e6) {
        snprintf(out, len, "%.2f ms", us / 1000);
    } else {
        snprintf(out, len, "%.2f s", us / 1e6);
    }
}

void bench_hist_text(const struct bench_hist *h, char *out, size_t len)
{
    char a[32], b[32], c[32], d[32];
    fmt_us(bench_hist_pct(h, 50), a, sizeof(a));
    fmt_us(bench_hist_pct(h, 90), b, sizeof(b));
    fmt_us(bench_hist_pct(h, 99), c, sizeof(c));
    fmt_us((double)h->max_us, d, sizeof(d));
    snprintf(out, len, "p50 %s, p90 %s, p99 %s, max %s", a, b, c, d);
}

/* ---- /proc --------------------------------------------------------------------------- */

static bool read_proc_cpu(pid_t pid, double *cpu_s)
{
    char path[64], line[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    bool ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (!ok) {
        return false;
    }
    /* The command name may hold spaces and parentheses: fields count from the last ')'. */
    char *p = strrchr(line, ')');
    if (p == NULL) {
        return false;
    }
    p += 2; /* field 3 (state) */
    unsigned long long utime = 0, stime = 0;
    int field = 3;
    char *save = NULL;
    for (char *t = strtok_r(p, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save), field++) {
        if (field == 14) {
            utime = strtoull(t, NULL, 10);
        } else if (field == 15) {
            stime = strtoull(t, NULL, 10);
            break;
        }
    }
    long hz = sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(utime + stime) / (double)(hz > 0 ? hz : 100);
    return true;
}

static long read_proc_rss(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

static void read_machine(double *busy_s, double *total_s)
{
    *busy_s = 0;
    *total_s = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return;
    }
    unsigned long long v[8] = {0};
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]) == 8) {
        long hz = sysconf(_SC_CLK_TCK);
        double k = 1.0 / (double)(hz > 0 ? hz : 100);
        unsigned long long total = 0;
        for (int i = 0; i < 8; i++) {
            total += v[i];
        }
        *total_s = (double)total * k;
        *busy_s = (double)(total - v[3] - v[4]) * k; /* minus idle and iowait */
    }
    fclose(f);
}

void bench_sample_take(struct bench_sample *s, pid_t pid)
{
    memset(s, 0, sizeof(*s));
    s->mono_ns = time_mono_ns();
    if (pid > 0) {
        s->server_ok = read_proc_cpu(pid, &s->server_cpu_s);
        s->server_rss_kb = read_proc_rss(pid);
        s->server_ok = s->server_ok && s->server_rss_kb >= 0;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        s->self_cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                        (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    read_machine(&s->machine_busy_s, &s->machine_total_s);
}

void bench_window_make(struct bench_window *w, const struct bench_sample *a,
                       const struct bench_sample *b)
{
    memset(w, 0, sizeof(*w));
    w->elapsed_s = (double)(b->mono_ns - a->mono_ns) / 1e9;
    w->server_ok = a->server_ok && b->server_ok;
    w->server_cpu_s = b->server_cpu_s - a->server_cpu_s;
    w->server_rss_before_kb = a->server_rss_kb;
    w->server_rss_after_kb = b->server_rss_kb;
    w->self_cpu_s = b->self_cpu_s - a->self_cpu_s;
    w->machine_busy_s = b->machine_busy_s - a->machine_busy_s;
    w->machine_cpus =
        w->elapsed_s > 0 ? (b->machine_total_s - a->machine_total_s) / w->elapsed_s : 0;
    double la[1] = {0};
    if (getloadavg(la, 1) == 1) {
        w->loadavg1 = la[0];
    }
}

json_t *bench_window_json(const struct bench_window *w, uint64_t ops)
{
    json_t *o = json_pack("{s:f,s:f,s:f,s:f,s:f}", "elapsed_s", w->elapsed_s, "generator_cpu_s",
                          w->self_cpu_s, "machine_busy_cpu_s", w->machine_busy_s, "machine_cpus",
                          w->machine_cpus, "loadavg1", w->loadavg1);
    if (w->elapsed_s > 0 && w->machine_cpus > 0) {
        json_object_set_new(o, "generator_share_of_machine",
                            json_real(w->self_cpu_s / (w->elapsed_s * w->machine_cpus)));
    }
    if (w->server_ok) {
        json_object_set_new(o, "server_cpu_s", json_real(w->server_cpu_s));
        json_object_set_new(o, "server_cpu_cores", json_real(w->server_cpu_s / w->elapsed_s));
        json_object_set_new(o, "server_rss_before_kb", json_integer(w->server_rss_before_kb));
        json_object_set_new(o, "server_rss_after_kb", json_integer(w->server_rss_after_kb));
        double other = w->machine_busy_s - w->server_cpu_s - w->self_cpu_s;
        json_object_set_new(o, "other_cpu_s", json_real(other > 0 ? other : 0));
        if (ops > 0) {
            json_object_set_new(o, "server_cpu_us_per_op",
                                json_real(w->server_cpu_s * 1e6 / (double)ops));
        }
    }
    if (ops > 0) {
        json_object_set_new(o, "generator_cpu_us_per_op",
                            json_real(w->self_cpu_s * 1e6 / (double)ops));
    }
    return o;
}

void bench_window_print(const struct bench_window *w, uint64_t ops, const char *what)
{
    double cores = w->elapsed_s * (w->machine_cpus > 0 ? w->machine_cpus : 1);
    if (w->server_ok) {
        printf("  server CPU     %.2f s = %.2f cores", w->server_cpu_s,
               w->server_cpu_s / w->elapsed_s);
        if (ops > 0) {
            printf(", %.1f us per %s", w->server_cpu_s * 1e6 / (double)ops, what);
        }
        printf("\n");
    }
    printf("  generator CPU  %.2f s = %.2f cores (%.0f %% of the machine)", w->self_cpu_s,
           w->self_cpu_s / w->elapsed_s, cores > 0 ? 100 * w->self_cpu_s / cores : 0);
    if (ops > 0) {
        printf(", %.1f us per %s", w->self_cpu_s * 1e6 / (double)ops, what);
    }
    printf("\n");
    double other = w->machine_busy_s - (w->server_ok ? w->server_cpu_s : 0) - w->self_cpu_s;
    printf("  machine        %.0f %% busy of %.0f CPUs; other processes %.2f cores; load "
           "average %.2f\n",
           cores > 0 ? 100 * w->machine_busy_s / cores : 0, w->machine_cpus,
           (other > 0 ? other : 0) / w->elapsed_s, w->loadavg1);
}

/* ---- output and signals ------------------------------------------------------------ */

void bench_json_print(json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    if (s != NULL) {
        printf("%s\n", s);
        free(s);
    }
    json_decref(o);
    fflush(stdout);
}

json_t *bench_opts_json(const struct bench_opts *o)
{
    json_t *j = json_pack("{s:s,s:i,s:i,s:f,s:f,s:i,s:i}", "host", o->host, "threads", o->threads,
                          "sources", o->sources, "seconds", o->seconds, "warmup_s", o->warmup,
                          "timeout_ms", o->timeout_ms, "tls_version", o->tls_version);
    if (o->label != NULL) {
        json_object_set_new(j, "label", json_string(o->label));
    }
    if (o->server_pid > 0) {
        json_object_set_new(j, "server_pid", json_integer(o->server_pid));
    }
    if (o->devices_dir != NULL) {
        json_object_set_new(j, "devices", json_string(o->devices_dir));
    }
    return j;
}

static void on_signal(int sig)
{
    (void)sig;
    bench_interrupted = 1;
}

void bench_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool bench_sleep_until(uint64_t t_ns)
{
    for (;;) {
        if (bench_interrupted) {
            return false;
        }
        uint64_t now = time_mono_ns();
        if (now >= t_ns) {
            return true;
        }
        uint64_t d = t_ns - now;
        if (d > 20000000ull) {
            d = 20000000ull;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)d};
        nanosleep(&ts, NULL);
    }
}

bool bench_measure(uint64_t win0, uint64_t *win1, pid_t pid, bool (*done)(void *ctx), void *ctx,
                   struct bench_sample *s0, struct bench_sample *s1, uint64_t *t_end)
{
    bool interrupted = !bench_sleep_until(win0);
    bench_sample_take(s0, pid);
    while (!interrupted && time_mono_ns() < *win1) {
        interrupted = !bench_sleep_until(time_mono_ns() + 20000000ull);
        if (done != NULL && done(ctx)) {
            break;
        }
    }
    *t_end = time_mono_ns();
    if (*t_end < *win1) {
        *win1 = *t_end;
    }
    bench_sample_take(s1, pid);
    return !interrupted;
}
