#include "server/config.h"

#include "core/str.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind { K_STR, K_PATH, K_PORT, K_INT, K_SIZE, K_RATE, K_BOOL, K_LEVEL };

struct setting {
    const char *key;
    enum kind kind;
    size_t offset;
    size_t size; /* string capacity */
    long min, max;
    const char *doc;
};

#define S(field) offsetof(struct server_config, field), sizeof(((struct server_config *)0)->field)

static const struct setting settings[] = {
    {"data_dir", K_PATH, S(data_dir), 0, 0,
     "Directory for the database, the generated server CA and certificate, and the token "
     "signing keys. Created (0700) if missing."},
    {"listen", K_STR, S(listen), 0, 0,
     "Address to listen on: \"*\" for every IPv4 and IPv6 address, or one address such as "
     "127.0.0.1 or ::1."},
    {"https_port", K_PORT, S(https_port), 0, 65535,
     "HTTPS port: the REST API, device tokens and the web UI (client certificate optional). "
     "0 picks a free port (printed at start)."},
    {"mqtt_port", K_PORT, S(mqtt_port), 0, 65535,
     "MQTT over TLS port (client certificate or "
     "username/password); 0 picks a free port."},
    {"workers", K_INT, S(workers), 0, 256, "Event-loop threads; 0 means one per CPU core."},
    {"pool_threads", K_INT, S(pool_threads), 1, 256,
     "Threads for blocking work: REST handlers, password checks, database access."},
    {"log_level", K_LEVEL, S(log_level), 0, 0, "error, warn, info or debug."},
    {"hostname", K_STR, S(hostname), 0, 0,
     "Host name put into the generated server certificate besides localhost, 127.0.0.1 and "
     "::1. Default: this machine's host name."},
    {"tls_cert", K_PATH, S(tls_cert), 0, 0,
     "PEM server certificate (with its chain) to use instead of the generated one; needs "
     "tls_key. SIGHUP reloads it."},
    {"tls_key", K_PATH, S(tls_key), 0, 0, "PEM private key of tls_cert."},
    {"max_chain_length", K_INT, S(max_chain_length), 1, 10,
     "Longest device certificate chain accepted, leaf to trust anchor inclusive. A tenant "
     "may lower it with the option trusted-certificates/max.chain.length."},
    {"pop_code_lifetime", K_INT, S(pop_code_lifetime_s), 5, 31536000,
     "Seconds a proof-of-possession verification code stays usable."},
    {"http_max_body", K_SIZE, S(http_max_body), 1024, 1L << 30,
     "Largest HTTP request body in bytes (bulk registration CSV files included)."},
    {"http_idle_timeout", K_INT, S(http_idle_timeout_s), 1, 3600,
     "Seconds an idle keep-alive HTTPS connection is kept open."},
    {"mqtt_max_packet", K_SIZE, S(mqtt_max_packet), 64, 268435455,
     "Largest MQTT packet accepted, in bytes; a larger one closes the connection."},
    {"mqtt_max_queued", K_INT, S(mqtt_max_queued), 1, 10000000,
     "Messages queued for one session. When a connected subscriber's queue is full its "
     "publishers are slowed down (nothing acknowledged is dropped); for an offline "
     "persistent session, messages beyond it are dropped and counted."},
    {"mqtt_max_inflight", K_INT, S(mqtt_max_inflight), 1, 65535,
     "Unacknowledged QoS 1 and 2 messages in flight to one client."},
    {"mqtt_max_client_id", K_INT, S(mqtt_max_client_id), 23, 65535,
     "Longest MQTT ClientId in bytes."},
    {"mqtt_retained_max", K_INT, S(mqtt_retained_max), 0, 100000000,
     "Retained messages kept per tenant."},
    {"mqtt_retained_bytes", K_SIZE, S(mqtt_retained_bytes), 0, 1L << 40,
     "Bytes of retained payload kept per tenant."},
    {"mqtt_keepalive_max", K_INT, S(mqtt_keepalive_max_s), 0, 65535,
     "Longest keep-alive a client may ask for, in seconds; 0 allows any (up to 65535)."},
    {"admission_connect_rate", K_RATE, S(admission_connect_rate), 0, 10000000,
     "New connections per second accepted per listener; 0 for no limit. Beyond it, "
     "connections wait in the listen backlog instead of being accepted."},
    {"admission_address_rate", K_RATE, S(admission_address_rate), 0, 10000000,
     "New connections per second from one source address; 0 for no limit. Beyond it, "
     "connections are closed at once."},
    {"admission_handshakes", K_INT, S(admission_handshakes), 1, 1000000,
     "TLS handshakes in progress per worker; further connections wait in the backlog."},
    {"listen_backlog", K_INT, S(listen_backlog), 16, 1000000,
     "Listen backlog of each socket. Keep it near one or two seconds of handshakes: a deeper "
     "queue only holds clients until they time out, and then costs TLS work for nothing. "
     "With admission_connect_rate it is capped at two seconds of that rate."},
    {"handshake_timeout", K_INT, S(handshake_timeout_s), 1, 600,
     "Seconds a client has to finish the TLS handshake."},
    {"tls_session_cache", K_INT, S(tls_session_cache), 0, 10000000,
     "TLS sessions remembered for resumption (stateful, server-side; each keeps the verified "
     "device identity, re-checked against revocations on resumption; about 13 KB each). 0 "
     "disables resumption."},
    {"tls_session_timeout", K_INT, S(tls_session_timeout), 1, 86400,
     "Seconds a TLS session may be resumed."},
    {"fast_password_hashing", K_BOOL, S(fast_password_hashing), 0, 0,
     "Use very cheap password hashing. For tests and benchmarks only: never in production."},
    {"durable", K_BOOL, S(durable), 0, 0,
     "Wait for the disk on every commit (fsync). Turn off only for benchmarks."},
    {"audit_rate", K_INT, S(audit_rate), 1, 1000000,
     "Audit records per second per tenant for refused connections (a flood cannot fill the "
     "disk)."},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

void server_config_defaults(struct server_config *c)
{
    memset(c, 0, sizeof(*c));
    str_lcpy(c->data_dir, "./certgate-data", sizeof(c->data_dir));
    str_lcpy(c->listen, "*", sizeof(c->listen));
    c->https_port = 8443;
    c->mqtt_port = 8883;
    c->workers = 0;
    c->pool_threads = 4;
    str_lcpy(c->log_level, "info", sizeof(c->log_level));
    if (gethostname(c->hostname, sizeof(c->hostname)) != 0) {
        c->hostname[0] = 0;
    }
    c->hostname[sizeof(c->hostname) - 1] = 0;
    c->max_chain_length = 10;
    c->pop_code_lifetime_s = 86400;
    c->http_max_body = 32u << 20;
    c->http_idle_timeout_s = 60;
    c->mqtt_max_packet = 256u << 10;
    c->mqtt_max_queued = 1000;
    c->mqtt_max_inflight = 32;
    c->mqtt_max_client_id = 256;
    c->mqtt_retained_max = 100000;
    c->mqtt_retained_bytes = 64u << 20;
    c->mqtt_keepalive_max_s = 0;
    c->admission_connect_rate = 0;
    c->admission_address_rate = 200;
    c->admission_handshakes = 256;
    c->listen_backlog = 1024;
    c->handshake_timeout_s = 10;
    c->tls_session_cache = 4096;
    c->tls_session_timeout = 3600;
    c->fast_password_hashing = false;
    c->durable = true;
    c->audit_rate = 20;
}

static const struct setting *find(const char *key)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (strcmp(settings[i].key, key) == 0) {
            return &settings[i];
        }
    }
    return NULL;
}

int server_config_set(struct server_config *c, const char *key, const char *value, char *err,
                      size_t errlen)
{
    const struct setting *s = find(key);
    if (s == NULL) {
        snprintf(err, errlen, "unknown setting '%s' (certgate serve --print-config lists them)",
                 key);
        return -1;
    }
    char *field = (char *)c + s->offset;
    char *end = NULL;
    switch (s->kind) {
    case K_STR:
    case K_PATH:
        if (strlen(value) >= s->size) {
            snprintf(err, errlen, "%s: the value is longer than %zu bytes", key, s->size - 1);
            return -1;
        }
        if (s->kind == K_PATH && strchr(value, '\n') != NULL) {
            snprintf(err, errlen, "%s: a path cannot contain a newline", key);
            return -1;
        }
        str_lcpy(field, value, s->size);
        return 0;
    case K_LEVEL:
        if (strcmp(value, "error") && strcmp(value, "warn") && strcmp(value, "info") &&
            strcmp(value, "debug")) {
            snprintf(err, errlen, "%s: expected error, warn, info or debug, got '%s'", key, value);
            return -1;
        }
        str_lcpy(field, value, s->size);
        return 0;
    case K_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0) {
            *(bool *)field = true;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
                   strcmp(value, "0") == 0) {
            *(bool *)field = false;
        } else {
            snprintf(err, errlen, "%s: expected true or false, got '%s'", key, value);
            return -1;
        }
        return 0;
    case K_PORT:
    case K_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != 0 || v < s->min || v > s->max) {
            snprintf(err, errlen, "%s: expected %s from %ld to %ld, got '%s'", key,
                     s->kind == K_PORT ? "a port number" : "a whole number", s->min, s->max, value);
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    }
    case K_SIZE: {
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        unsigned long long mult = 1;
        if (end != value && (*end == 'k' || *end == 'K')) {
            mult = 1024, end++;
        } else if (end != value && (*end == 'm' || *end == 'M')) {
            mult = 1024 * 1024, end++;
        } else if (end != value && (*end == 'g' || *end == 'G')) {
            mult = 1024ULL * 1024 * 1024, end++;
        }
        if (errno != 0 || end == value || *end != 0 || value[0] == '-' ||
            v * mult < (unsigned long long)s->min || v * mult > (unsigned long long)s->max) {
            snprintf(err, errlen,
                     "%s: expected a size in bytes (suffix k, M or G allowed) from "
                     "%ld to %ld, got '%s'",
                     key, s->min, s->max, value);
            return -1;
        }
        *(size_t *)field = (size_t)(v * mult);
        return 0;
    }
    case K_RATE: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno != 0 || end == value || *end != 0 || v < s->min || v > s->max) {
            snprintf(err, errlen, "%s: expected a rate per second from %ld to %ld, got '%s'", key,
                     s->min, s->max, value);
            return -1;
        }
        *(double *)field = v;
        return 0;
    }
    }
    snprintf(err, errlen, "%s: internal error", key);
    return -1;
}

int server_config_load(struct server_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
            snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno,
                     sizeof(line) - 2);
            rc = -1;
            break;
        }
        char *p = str_trim(line);
        if (*p == 0 || *p == '#') {
            continue;
        }
        char *eq = strchr(p, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%d: expected 'key = value', got '%.80s'", path, lineno, p);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = str_trim(p);
        char *value = str_trim(eq + 1);
        if (*value == '"') {
            char *close = strrchr(value + 1, '"');
            if (close == NULL) {
                snprintf(err, errlen, "%s:%d: %s: unterminated quoted value", path, lineno, key);
                rc = -1;
                break;
            }
            char *rest = str_trim(close + 1);
            if (*rest != 0 && *rest != '#') {
                snprintf(err, errlen, "%s:%d: %s: text after the quoted value", path, lineno, key);
                rc = -1;
                break;
            }
            *close = 0;
            value++;
        } else {
            char *hash = strchr(value, '#');
            if (hash != NULL) {
                *hash = 0;
                value = str_trim(value);
            }
        }
        char sub[512];
        if (server_config_set(c, key, value, sub, sizeof(sub)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, sub);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "cannot read config file %s", path);
        rc = -1;
    }
    fclose(f);
    return rc;
}

static void print_doc(FILE *out, const char *doc)
{
    /* Wrap at ~90 columns as comment lines. */
    const char *p = doc;
    while (*p != 0) {
        size_t n = strlen(p);
        size_t take = n;
        if (n > 88) {
            take = 88;
            while (take > 0 && p[take] != ' ') {
                take--;
            }
            if (take == 0) {
                take = 88;
            }
        }
        fprintf(out, "# %.*s\n", (int)take, p);
        p += take;
        while (*p == ' ') {
            p++;
        }
    }
}

void server_config_print(const struct server_config *c, FILE *out)
{
    fprintf(out, "# certgate configuration (certgate serve --config FILE).\n"
                 "# One 'key = value' per line; '#' starts a comment. Every setting is optional.\n"
                 "# The environment variable CERTGATE_ADMIN_PASSWORD sets the password of\n"
                 "# management/admin at the first start.\n");
    for (size_t i = 0; i < NSETTINGS; i++) {
        const struct setting *s = &settings[i];
        const char *field = (const char *)c + s->offset;
        fputc('\n', out);
        print_doc(out, s->doc);
        switch (s->kind) {
        case K_STR:
        case K_PATH:
        case K_LEVEL:
            fprintf(out, "%s = \"%s\"\n", s->key, field);
            break;
        case K_BOOL:
            fprintf(out, "%s = %s\n", s->key, *(const bool *)field ? "true" : "false");
            break;
        case K_PORT:
        case K_INT:
            fprintf(out, "%s = %d\n", s->key, *(const int *)field);
            break;
        case K_SIZE:
            fprintf(out, "%s = %zu\n", s->key, *(const size_t *)field);
            break;
        case K_RATE:
            fprintf(out, "%s = %g\n", s->key, *(const double *)field);
            break;
        }
    }
}
