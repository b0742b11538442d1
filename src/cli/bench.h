/* certgate bench: what the network modes (connect, hold, pubsub, token) share.
 *
 *  - struct bench_opts: the target options every network mode takes (--host, --port,
 *    --cafile, --devices, --threads, --seconds, --server-pid, --json, ...), parsed by
 *    bench_opts_parse with the mode's own options passed through to a callback;
 *  - struct bench_devices: the simulated devices, loaded from a `certgate pki device
 *    --count N` directory (dev-NNNN.pem + dev-NNNN.key, plus the chain to send);
 *  - struct bench_hist: a latency histogram (log-linear buckets, ~3 % resolution);
 *  - struct bench_window: a measurement window, with the server's CPU time and RSS read from
 *    /proc/PID, the generator's own CPU time and the machine's busy time;
 *  - output helpers shared by the text and JSON reports.
 *
 * The event loop and the TLS client connections are in cli/bench_client.h. Figures and how
 * to read them: docs/cli/bench.md and docs/benchmarks.md.
 *
 * Threads: everything here is called from the main thread, except the histogram functions
 * (one histogram per loop thread, merged on the main thread after the loops stopped) and
 * bench_devices_* lookups (read-only after loading).
 */
#ifndef CERTGATE_CLI_BENCH_H
#define CERTGATE_CLI_BENCH_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* ---- modes (entry points; argv[0] is the mode name; return the exit status) ---------- */

int bench_connect_main(int argc, char **argv);
int bench_hold_main(int argc, char **argv);
int bench_pubsub_main(int argc, char **argv);
int bench_token_main(int argc, char **argv);
int bench_register_main(int argc, char **argv);

/* ---- options ---------------------------------------------------------------------- */

struct bench_opts {
    const char *mode;        /* for messages: "connect", ... */
    char host[64];           /* a loopback address: 127.0.0.0/8 or ::1 */
    int port;                /* MQTT/TLS port (default 8883) */
    int https_port;          /* HTTPS port (default 8443; token mode) */
    const char *cafile;      /* the server's CA (PEM); NULL only with insecure */
    bool insecure;           /* --insecure: do not verify the server certificate */
    const char *devices_dir; /* --devices DIR */
    const char *chain_file;  /* --chain FILE: certificates sent after the device's */
    int device_offset;       /* --device-offset N: skip the first N devices */
    int device_limit;        /* --device-limit N: use at most N devices (0: all) */
    int threads;             /* loop threads (default: number of CPUs, at most 2 x) */
    double seconds;          /* measurement duration */
    double warmup;           /* seconds before the measurement window (not counted) */
    bool warmup_set;         /* --warmup was given */
    double max_seconds;      /* hard cap on the whole run (0: mode default) */
    int timeout_ms;          /* per operation (TCP + TLS + first reply) */
    pid_t server_pid;        /* 0: no server figures */
    bool json;               /* print one JSON object instead of text */
    int sources;             /* source addresses 127.0.0.2 .. 127.0.0.(1+sources) */
    int tls_version;         /* 0: 1.2 or 1.3 as negotiated; 12 or 13: only that one */
    const char *label;       /* --label TEXT: copied to the report (e.g. "mosquitto") */
};

/* The long options every network mode accepts; a mode's table starts with these
 * (BENCH_COMMON_OPTIONS) and ends with {NULL, 0, NULL, 0}. The codes are >= 1000 so that
 * a mode may use any other value for its own options. */
enum {
    BENCH_OPT_HOST = 1000,
    BENCH_OPT_PORT,
    BENCH_OPT_HTTPS_PORT,
    BENCH_OPT_CAFILE,
    BENCH_OPT_INSECURE,
    BENCH_OPT_DEVICES,
    BENCH_OPT_CHAIN,
    BENCH_OPT_DEVICE_OFFSET,
    BENCH_OPT_DEVICE_LIMIT,
    BENCH_OPT_THREADS,
    BENCH_OPT_SECONDS,
    BENCH_OPT_WARMUP,
    BENCH_OPT_MAX_SECONDS,
    BENCH_OPT_TIMEOUT,
    BENCH_OPT_SERVER_PID,
    BENCH_OPT_JSON,
    BENCH_OPT_SOURCES,
    BENCH_OPT_TLS_VERSION,
    BENCH_OPT_LABEL,
    BENCH_OPT_HELP,
};

#define BENCH_COMMON_OPTIONS                                                                       \
    {"host", required_argument, NULL, BENCH_OPT_HOST},                                             \
        {"port", required_argument, NULL, BENCH_OPT_PORT},                                         \
        {"https-port", required_argument, NULL, BENCH_OPT_HTTPS_PORT},                             \
        {"cafile", required_argument, NULL, BENCH_OPT_CAFILE},                                     \
        {"insecure", no_argument, NULL, BENCH_OPT_INSECURE},                                       \
        {"devices", required_argument, NULL, BENCH_OPT_DEVICES},                                   \
        {"chain", required_argument, NULL, BENCH_OPT_CHAIN},                                       \
        {"device-offset", required_argument, NULL, BENCH_OPT_DEVICE_OFFSET},                       \
        {"device-limit", required_argument, NULL, BENCH_OPT_DEVICE_LIMIT},                         \
        {"threads", required_argument, NULL, BENCH_OPT_THREADS},                                   \
        {"seconds", required_argument, NULL, BENCH_OPT_SECONDS},                                   \
        {"warmup", required_argument, NULL, BENCH_OPT_WARMUP},                                     \
        {"max-seconds", required_argument, NULL, BENCH_OPT_MAX_SECONDS},                           \
        {"timeout", required_argument, NULL, BENCH_OPT_TIMEOUT},                                   \
        {"server-pid", required_argument, NULL, BENCH_OPT_SERVER_PID},                             \
        {"json", no_argument, NULL, BENCH_OPT_JSON},                                               \
        {"sources", required_argument, NULL, BENCH_OPT_SOURCES},                                   \
        {"tls-version", required_argument, NULL, BENCH_OPT_TLS_VERSION},                           \
        {"label", required_argument, NULL, BENCH_OPT_LABEL},                                       \
    {                                                                                              \
        "help", no_argument, NULL, BENCH_OPT_HELP                                                  \
    }

/* The help text of the common options (for the modes' --help). */
extern const char bench_common_help[];

/* bench_opts_defaults: defaults for `mode` (borrowed static string). */
void bench_opts_defaults(struct bench_opts *o, const char *mode);

/* bench_opts_parse: parse argv with `longopts` (BENCH_COMMON_OPTIONS plus the mode's own).
 * Common options fill *o; any other option is handed to mode_opt(code, optarg, arg), which
 * returns 0, or -1 after printing why to stderr. --help calls usage(stdout) and returns 1.
 * Returns 0 when parsing succeeded, 1 for --help (exit 0), 2 for a usage error (already
 * printed; exit 2). Checks the target: a loopback host, devices present when needs_devices. */
int bench_opts_parse(struct bench_opts *o, int argc, char **argv, const struct option *longopts,
                     int (*mode_opt)(int code, const char *arg, void *ctx), void *ctx,
                     void (*usage)(FILE *out), bool needs_devices);

/* bench_parse_double / bench_parse_int: a number in [lo, hi] from text, or -1 after a
 * message naming the option. */
int bench_parse_double(const char *mode, const char *opt, const char *s, double lo, double hi,
                       double *out);
int bench_parse_int(const char *mode, const char *opt, const char *s, long lo, long hi, long *out);

/* bench_raise_nofile: raise the soft open-files limit towards the hard one so that `need`
 * descriptors fit. 0, or -1 with a message when the hard limit is too low. */
int bench_raise_nofile(const struct bench_opts *o, long need);

/* ---- devices ----------------------------------------------------------------------- */

struct bench_device {
    char cn[64];          /* the file's base name: the device id and MQTT ClientId */
    X509 *cert;           /* owned */
    EVP_PKEY *key;        /* owned */
    SSL_SESSION *session; /* the last session (--resume); owned; loop thread that owns it */
    bool in_use;          /* a connection of this device is open (its loop thread only) */
    bool used;            /* connected at least once (for --once) */
};

struct bench_devices {
    struct bench_device *dev; /* n entries, sorted by cn */
    size_t n;
    STACK_OF(X509) * chain; /* sent after each device certificate; owned */
};

/* bench_devices_load: load devices from o->devices_dir: every NAME.key with a NAME.pem
 * beside it (NAME.chain.pem files are not devices), sorted by NAME, skipping
 * o->device_offset and keeping at most `want` (0: o->device_limit or all). The chain is
 * o->chain_file, else DIR/chain.pem, else the certificates after the first in the first
 * device's NAME.chain.pem (self-signed roots left out). Keys and certificates are parsed by
 * o->threads threads. 0, or -1 with a message on stderr. Free with bench_devices_free. */
int bench_devices_load(const struct bench_opts *o, size_t want, struct bench_devices *out);

void bench_devices_free(struct bench_devices *d);

/* ---- latency histogram ------------------------------------------------------------ */

#define BENCH_HIST_BUCKETS 1344

/* Values in microseconds; bucket width is 1/32 of the value's power of two above 64 µs. */
struct bench_hist {
    uint64_t count;
    uint64_t max_us;
    double sum_us;
    uint64_t b[BENCH_HIST_BUCKETS];
};

void bench_hist_add(struct bench_hist *h, uint64_t us);
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from);

/* bench_hist_pct: the value (µs, bucket midpoint) at percentile p (0..100); 0 when empty. */
double bench_hist_pct(const struct bench_hist *h, double p);

/* bench_hist_json: {"count", "mean_us", "p50_us", "p90_us", "p99_us", "p999_us", "max_us"}
 * (new reference). */
json_t *bench_hist_json(const struct bench_hist *h);

/* bench_hist_text: "p50 1.23 ms, p90 ..., p99 ..., max ..." into out. */
void bench_hist_text(const struct bench_hist *h, char *out, size_t len);

/* ---- measurement window ----------------------------------------------------------- */

struct bench_sample {
    uint64_t mono_ns;
    bool server_ok;        /* /proc/PID readable */
    double server_cpu_s;   /* utime + stime of every thread of the server */
    long server_rss_kb;    /* VmRSS */
    double self_cpu_s;     /* this process (every thread) */
    double machine_busy_s; /* /proc/stat: all CPUs, non-idle time */
    double machine_total_s;
};

/* bench_sample_take: read the clocks now (pid 0: no server figures). */
void bench_sample_take(struct bench_sample *s, pid_t pid);

struct bench_window {
    double elapsed_s;
    bool server_ok;
    double server_cpu_s;
    long server_rss_before_kb;
    long server_rss_after_kb;
    double self_cpu_s;
    double machine_busy_s;
    double machine_cpus; /* machine_total_s / elapsed_s */
    double loadavg1;     /* at the end */
};

/* bench_window_make: the differences between two samples. */
void bench_window_make(struct bench_window *w, const struct bench_sample *a,
                       const struct bench_sample *b);

/* bench_window_json: the window as JSON, with per-operation figures for `ops` operations
 * (server_cpu_us_per_op; ops 0: none). New reference. */
json_t *bench_window_json(const struct bench_window *w, uint64_t ops);

/* bench_window_print: the CPU lines of the text report (to stdout). `what` names the
 * operation ("connect", "message"). */
void bench_window_print(const struct bench_window *w, uint64_t ops, const char *what);

/* ---- output ---------------------------------------------------------------------- */

/* bench_json_print: dump o (consumed) to stdout, indented. */
void bench_json_print(json_t *o);

/* bench_opts_json: the common options as a JSON object (new reference). */
json_t *bench_opts_json(const struct bench_opts *o);

/* bench_signals_install: SIGINT/SIGTERM set bench_interrupted (the run then ends early and
 * still reports); SIGPIPE is ignored. Main thread, before any loop thread starts. */
extern volatile sig_atomic_t bench_interrupted;
void bench_signals_install(void);

/* bench_sleep_until: sleep until the monotonic time t (ns) in steps of at most 20 ms.
 * Returns false, early, when bench_interrupted was set. */
bool bench_sleep_until(uint64_t t_ns);

/* bench_measure: the measurement window of a mode whose generator threads already run:
 * sleep to win0 and take *s0, then sleep to *win1, leaving early when `done` (optional)
 * says the generator has nothing left to do, cut *win1 to the actual end (nothing later
 * counts) and take *s1. *t_end receives the end. Returns false when the run was
 * interrupted (SIGINT/SIGTERM). */
bool bench_measure(uint64_t win0, uint64_t *win1, pid_t pid, bool (*done)(void *ctx), void *ctx,
                   struct bench_sample *s0, struct bench_sample *s1, uint64_t *t_end);

#endif
