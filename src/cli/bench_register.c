/* certgate bench register: durable auto-registrations per second through the registry, the
 * part of a device's first connection that is not TLS. Each registration is the same call
 * the MQTT CONNECT and the device-token endpoint make (registry_device_admit): the device
 * row, its device user and an audit record, committed durably (WAL, synchronous=FULL) in
 * groups by the store's writer thread. */
#include "cli/bench.h"

#include "core/err.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "registry/registry.h"
#include "store/store.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

struct reg_worker {
    struct registry *reg;
    const char *tenant;
    int index;
    int64_t deadline_ms;
    long count;
    long failures;
};

static void *reg_worker_main(void *arg)
{
    struct reg_worker *w = arg;
    struct reg_identity id;
    memset(&id, 0, sizeof(id));
    id.accepted = true;
    id.auto_registration = true;
    str_lcpy(id.tenant, w->tenant, sizeof(id.tenant));
    str_lcpy(id.anchor_fp, "0000000000000000000000000000000000000000", sizeof(id.anchor_fp));
    while (time_mono_ms() < w->deadline_ms) {
        snprintf(id.device_id, sizeof(id.device_id), "reg-%d-%ld", w->index, w->count);
        struct reg_device_brief brief;
        char why[REG_WHY_MAX];
        if (registry_device_admit(w->reg, &id, &brief, why) == 0) {
            w->count++;
        } else {
            w->failures++;
            if (w->failures > 100) {
                break;
            }
        }
    }
    return NULL;
}

static void register_usage(FILE *out)
{
    fprintf(out,
            "usage: certgate bench register [--seconds N] [--threads N] [--dir DIR] [--json]\n"
            "\n"
            "Durable auto-registrations per second through the registry alone: every call is\n"
            "what a device's first MQTT CONNECT or token request does after its TLS handshake\n"
            "(device row, device user and audit record, committed with fsync, grouped by the\n"
            "store's writer thread). In-process, on a fresh SQLite database in DIR (default: a\n"
            "temporary directory, removed afterwards).\n"
            "\n"
            "  --seconds N   duration (default 5)\n"
            "  --threads N   concurrent registering threads, as the server's pool threads and\n"
            "                in-flight connects would be (default 64)\n"
            "  --dir DIR     where to create the database (must not hold one)\n"
            "  --json        print the result as a JSON object\n");
}

int bench_register_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"seconds", required_argument, NULL, 's'}, {"threads", required_argument, NULL, 't'},
        {"dir", required_argument, NULL, 'd'},     {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    long seconds = 5, threads = 64;
    const char *dir = NULL;
    bool as_json = false;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (bench_parse_int("register", "--seconds", optarg, 1, 3600, &seconds) < 0) {
                return 2;
            }
            break;
        case 't':
            if (bench_parse_int("register", "--threads", optarg, 1, 1024, &threads) < 0) {
                return 2;
            }
            break;
        case 'd':
            dir = optarg;
            break;
        case 'j':
            as_json = true;
            break;
        case 'h':
            register_usage(stdout);
            return 0;
        default:
            register_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "certgate bench register: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char tmp[] = "/tmp/certgate-bench-register-XXXXXX";
    bool own_dir = dir == NULL;
    if (own_dir && (dir = mkdtemp(tmp)) == NULL) {
        perror("certgate bench register: mkdtemp");
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/certgate.db", dir);
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "certgate bench register: %s exists; give an empty --dir\n", path);
        return 2;
    }
    int status = 1;
    char err[512] = "";
    struct store_config sc;
    store_config_defaults(&sc);
    sc.path = path;
    struct store *store = store_open(&sc, err, sizeof(err));
    struct registry *reg = NULL;
    struct reg_worker *w = calloc((size_t)threads, sizeof(*w));
    pthread_t *th = calloc((size_t)threads, sizeof(*th));
    if (store == NULL || w == NULL || th == NULL) {
        fprintf(stderr, "certgate bench register: %s\n", err[0] ? err : "out of memory");
        goto out;
    }
    struct registry_config rc;
    registry_config_defaults(&rc);
    rc.store = store;
    rc.data_dir = dir;
    rc.admin_password = "bench-admin-password";
    rc.fast_password_hashing = true;
    reg = registry_open(&rc, err, sizeof(err));
    if (reg == NULL) {
        fprintf(stderr, "certgate bench register: %s\n", err);
        goto out;
    }
    struct principal sys;
    principal_system(&sys, NULL);
    struct reg_tenant t;
    memset(&t, 0, sizeof(t));
    str_lcpy(t.company, "bench", sizeof(t.company));
    str_lcpy(t.domain, "bench", sizeof(t.domain));
    str_lcpy(t.admin_email, "bench@example.com", sizeof(t.admin_email));
    char why[REG_WHY_MAX] = "";
    if (registry_tenant_create(reg, &sys, &t, "admin", "bench-tenant-password", why) < 0) {
        fprintf(stderr, "certgate bench register: cannot create the tenant: %s\n", why);
        goto out;
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    int64_t t0 = time_mono_ms();
    int started = 0;
    for (long i = 0; i < threads; i++) {
        w[i] = (struct reg_worker){
            .reg = reg, .tenant = t.id, .index = (int)i, .deadline_ms = t0 + seconds * 1000};
        if (pthread_create(&th[i], NULL, reg_worker_main, &w[i]) != 0) {
            break;
        }
        started++;
    }
    long total = 0, failures = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        total += w[i].count;
        failures += w[i].failures;
    }
    double elapsed = (double)(time_mono_ms() - t0) / 1000.0;
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double rate = elapsed > 0 ? (double)total / elapsed : 0;
    double us = total > 0 ? cpu * 1e6 / (double)total : 0;
    reg_tenant_cleanup(&t);
    if (as_json) {
        bench_json_print(json_pack("{s:s, s:{s:i, s:f, s:I, s:I, s:f, s:f, s:b}}", "mode",
                                   "register", "result", "threads", (int)threads, "seconds",
                                   elapsed, "registrations", (json_int_t)total, "failures",
                                   (json_int_t)failures, "registrations_per_s", rate,
                                   "cpu_us_per_registration", us, "durable", true));
    } else {
        printf("bench register: %d threads, %.1f s, durable commits (WAL, synchronous=FULL)\n"
               "  registrations  %ld in %.2f s = %.0f per second (%ld failures)\n"
               "  CPU            %.1f us per registration (registry and store, all threads)\n",
               started, elapsed, total, elapsed, rate, failures, us);
    }
    status = failures > 0 || total == 0 ? 1 : 0;
out:
    registry_close(reg);
    store_close(store);
    free(w);
    free(th);
    if (own_dir) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "certgate bench register: could not remove %s\n", dir);
        }
    }
    return status;
}
