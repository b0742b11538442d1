/* certgate serve: start everything, wait for signals, stop gracefully. */
#define LOG_MODULE "server"
#include "server/server.h"

#include "broker/broker.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "net/net.h"
#include "registry/registry.h"
#include "server/http_conn.h"
#include "server/rest.h"
#include "server/tokens.h"
#include "store/store.h"

#include <errno.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The TLS verify callback: every client certificate is judged by the registry and the
 * verdict recorded on the connection. The handshake itself always proceeds (the client has
 * proven its key in CertificateVerify); what the verdict allows is decided by the protocol:
 * CONNACK 5 for MQTT, 401 for the device endpoints. */
static int verify_client(X509_STORE_CTX *xs, void *arg)
{
    struct server *s = arg;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct net_conn *c = ssl ? net_conn_from_ssl(ssl) : NULL;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    if (c == NULL || leaf == NULL) {
        return 0; /* cannot record a verdict: fail the handshake (fail closed) */
    }
    struct reg_identity *id = malloc(sizeof(*id));
    if (id == NULL) {
        return 0;
    }
    registry_identify(s->reg, leaf, X509_STORE_CTX_get0_untrusted(xs), time_now_ms(), NULL, id);
    if (!id->accepted) {
        log_debug("client certificate from %s refused: %s: %s", net_conn_peer_addr(c)->text,
                  id->reason, id->message);
        /* No TLS 1.3 ticket: a refused client comes back with a full handshake, judged anew
         * (a TLS 1.2 resumption finds no verdict and is refused in handshake_done). */
        SSL_set_num_tickets(ssl, 0);
    } else {
        /* Remembered with the session, compactly: a resumption reuses the verdict (re-checked
         * then). Without it a resumption finds no identity and refuses (handshake_done). */
        unsigned char packed[REG_IDENTITY_PACKED_MAX];
        size_t len = 0;
        if (registry_identity_pack(id, packed, sizeof(packed), &len) == 0) {
            server_tls_session_attach(ssl, packed, len);
        }
    }
    /* The verdict is taken: the intermediates the client sent are not needed any more. */
    server_tls_drop_presented_chain(xs);
    net_conn_set_identity(c, id, free);
    X509_STORE_CTX_set_error(xs, X509_V_OK);
    return 1;
}

/* After a resumed handshake the verify callback did not run: take the verdict remembered
 * with the session and re-check it against the registry's current state (an anchor disabled,
 * a serial revoked or a certificate expired since then refuses it). A resumed session whose
 * client sent a certificate but that carries no readable verdict is refused (fail closed). */
static void handshake_done(SSL *ssl, void *arg)
{
    struct server *s = arg;
    struct net_conn *c = net_conn_from_ssl(ssl);
    if (c == NULL || !SSL_session_reused(ssl) || net_conn_identity(c) != NULL) {
        return;
    }
    size_t len = 0;
    const unsigned char *packed = server_tls_session_data(ssl, &len);
    if (packed == NULL && SSL_get0_peer_certificate(ssl) == NULL) {
        return; /* a session of a client without certificate */
    }
    struct reg_identity *id = malloc(sizeof(*id));
    if (id == NULL) {
        return; /* no identity: the connection is treated as having no certificate */
    }
    char why[REG_WHY_MAX] = "";
    if (packed == NULL) {
        memset(id, 0, sizeof(*id));
        str_lcpy(id->reason, "not-accepted", sizeof(id->reason));
        snprintf(id->message, sizeof(id->message),
                 "resumed session refused: its certificate was not accepted when it began");
    } else if (registry_identity_unpack(packed, len, id) == 0 &&
               registry_identity_check(s->reg, id, why) < 0) {
        id->accepted = false;
        str_lcpy(id->reason, "revoked-since", sizeof(id->reason));
        snprintf(id->message, sizeof(id->message), "resumed session refused: %s", why);
    }
    net_conn_set_identity(c, id, free);
}

static int ensure_data_dir(const char *dir)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        log_error("cannot create the data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        log_error("%s is not a directory", dir);
        return -1;
    }
    if (access(dir, W_OK) < 0) {
        log_error("the data directory %s is not writable", dir);
        return -1;
    }
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    struct buf b;
    buf_init(&b, 1u << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(&b, chunk, n) < 0) {
            break;
        }
    }
    fclose(f);
    return buf_steal(&b, len);
}

static void registry_event(const struct reg_event *ev, void *arg)
{
    struct server *s = arg;
    /* Live sessions follow the registry: the broker closes those that depended on it. */
    if (s->broker != NULL) {
        broker_registry_event(s->broker, ev);
    }
}

static void housekeeping(void *arg)
{
    struct server *s = arg;
    tokens_prune(s->tokens);
}

static int reload_tls(struct server *s)
{
    char err[512];
    SSL_CTX *ctx = server_tls_ctx_new(&s->tls_files, &s->cfg, &s->tls_hooks, err, sizeof(err));
    if (ctx == NULL) {
        log_error("SIGHUP: the server certificate was not reloaded: %s", err);
        return -1;
    }
    net_listener_set_tls(s->net, s->https_listener, ctx);
    if (s->mqtt_listener >= 0) {
        net_listener_set_tls(s->net, s->mqtt_listener, ctx);
    }
    SSL_CTX_free(s->ssl_ctx);
    s->ssl_ctx = ctx;
    log_info("SIGHUP: reloaded the server certificate %s", s->tls_files.cert);
    return 0;
}

static void listen_config(const struct server *s, struct net_listen_config *lc, int port)
{
    net_listen_config_defaults(lc);
    lc->address = strcmp(s->cfg.listen, "*") == 0 ? "::" : s->cfg.listen;
    lc->port = (uint16_t)port;
    lc->ssl_ctx = s->ssl_ctx;
    lc->backlog = s->cfg.listen_backlog;
    lc->handshake_timeout_ms = (unsigned)s->cfg.handshake_timeout_s * 1000;
    lc->admission.connect_rate = s->cfg.admission_connect_rate;
    lc->admission.connect_burst = s->cfg.admission_connect_rate;
    lc->admission.per_addr_rate = s->cfg.admission_address_rate;
    lc->admission.per_addr_burst = s->cfg.admission_address_rate * 2;
    lc->admission.max_handshakes = (unsigned)s->cfg.admission_handshakes;
}

/* The MQTT token topics (s/uat -> s/dat): the same token as the HTTPS endpoint. */
static int issue_mqtt_token(void *arg, const struct reg_identity *id, char **token)
{
    struct server *s = arg;
    int expires_in = 0;
    return tokens_issue(s->tokens, s->reg, id, token, &expires_in);
}

static int start_mqtt(struct server *s)
{
    struct broker_config bc;
    broker_config_defaults(&bc);
    bc.max_packet = s->cfg.mqtt_max_packet;
    bc.max_queued = s->cfg.mqtt_max_queued;
    bc.max_inflight = s->cfg.mqtt_max_inflight;
    bc.max_client_id = s->cfg.mqtt_max_client_id;
    bc.retained_max = s->cfg.mqtt_retained_max;
    bc.retained_bytes = s->cfg.mqtt_retained_bytes;
    bc.keepalive_max_s = s->cfg.mqtt_keepalive_max_s;
    struct broker_hooks hooks = {.issue_token = issue_mqtt_token, .arg = s};
    int rc = broker_new(&bc, s->reg, s->net, &hooks, &s->broker);
    if (rc < 0) {
        log_error("cannot create the MQTT broker (%s)", cg_strerror(rc));
        return -1;
    }
    struct net_listen_config lc;
    listen_config(s, &lc, s->cfg.mqtt_port);
    lc.proto = broker_net_proto();
    lc.proto_arg = s->broker;
    lc.max_input = s->cfg.mqtt_max_packet + 64 * 1024;
    s->mqtt_listener = net_server_listen(s->net, &lc);
    if (s->mqtt_listener < 0) {
        log_error("cannot listen for MQTT on %s port %d (%s)", lc.address, s->cfg.mqtt_port,
                  cg_strerror(s->mqtt_listener));
        return -1;
    }
    return 0;
}

static int start(struct server *s)
{
    char err[1024] = "";
    enum cg_log_level level;
    if (log_level_parse(s->cfg.log_level, &level) == 0) {
        log_set_level(level);
    }
    if (ensure_data_dir(s->cfg.data_dir) < 0) {
        return -1;
    }
    if (server_tls_prepare(&s->cfg, &s->tls_files, &s->ca_cert, &s->ca_key, err, sizeof(err)) < 0) {
        log_error("%s", err);
        return -1;
    }
    s->ca_pem = read_file(s->tls_files.ca_cert, &s->ca_pem_len);
    if (s->ca_pem == NULL) {
        log_error("cannot read %s", s->tls_files.ca_cert);
        return -1;
    }
    char dbpath[CONFIG_PATH_MAX + 32];
    snprintf(dbpath, sizeof(dbpath), "%s/certgate.db", s->cfg.data_dir);
    struct store_config sc;
    store_config_defaults(&sc);
    sc.path = dbpath;
    sc.durable = s->cfg.durable;
    sc.read_connections = s->cfg.pool_threads + 4;
    s->store = store_open(&sc, err, sizeof(err));
    if (s->store == NULL) {
        log_error("%s", err);
        return -1;
    }
    struct registry_config rc;
    registry_config_defaults(&rc);
    rc.store = s->store;
    rc.data_dir = s->cfg.data_dir;
    rc.server_ca_cert = s->ca_cert;
    rc.server_ca_key = s->ca_key;
    rc.admin_password = getenv("CERTGATE_ADMIN_PASSWORD");
    rc.max_chain_len = s->cfg.max_chain_length;
    rc.pop_code_lifetime_s = s->cfg.pop_code_lifetime_s;
    rc.fast_password_hashing = s->cfg.fast_password_hashing;
    rc.audit_rate_per_tenant = s->cfg.audit_rate;
    if (s->cfg.fast_password_hashing) {
        log_warn("fast_password_hashing is on: passwords are hashed with test parameters");
    }
    s->reg = registry_open(&rc, err, sizeof(err));
    if (s->reg == NULL) {
        log_error("%s", err);
        return -1;
    }
    registry_set_event_handler(s->reg, registry_event, s);
    char issuer[600];
    snprintf(issuer, sizeof(issuer), "https://%s:%d",
             s->cfg.hostname[0] ? s->cfg.hostname : "localhost", s->cfg.https_port);
    s->tokens = tokens_open(s->cfg.data_dir, issuer, err, sizeof(err));
    if (s->tokens == NULL) {
        log_error("%s", err);
        return -1;
    }
    s->tls_hooks.verify = verify_client;
    s->tls_hooks.handshake_done = handshake_done;
    s->tls_hooks.arg = s;
    s->ssl_ctx = server_tls_ctx_new(&s->tls_files, &s->cfg, &s->tls_hooks, err, sizeof(err));
    if (s->ssl_ctx == NULL) {
        log_error("%s", err);
        return -1;
    }
    s->router = rest_router_new();
    if (s->router == NULL) {
        return -1;
    }
    struct net_config nc;
    net_config_defaults(&nc);
    if (s->cfg.workers > 0) {
        nc.workers = (unsigned)s->cfg.workers;
    }
    nc.pool_threads = (unsigned)s->cfg.pool_threads;
    int rc2 = net_server_new(&nc, &s->net);
    if (rc2 < 0) {
        log_error("cannot create the network workers (%s)", cg_strerror(rc2));
        return -1;
    }
    struct net_listen_config lc;
    listen_config(s, &lc, s->cfg.https_port);
    lc.proto = http_conn_proto();
    lc.proto_arg = s;
    lc.max_input = s->cfg.http_max_body + 64 * 1024;
    s->https_listener = net_server_listen(s->net, &lc);
    if (s->https_listener < 0) {
        log_error("cannot listen for HTTPS on %s port %d (%s)", lc.address, s->cfg.https_port,
                  cg_strerror(s->https_listener));
        return -1;
    }
    if (start_mqtt(s) < 0) {
        return -1;
    }
    for (unsigned i = 0; i < net_server_workers(s->net); i++) {
        if (i == 0) {
            net_worker_add_timer(net_server_worker(s->net, i), 3600 * 1000, housekeeping, s);
        }
    }
    rc2 = net_server_start(s->net);
    if (rc2 < 0) {
        log_error("cannot start the network workers (%s)", cg_strerror(rc2));
        return -1;
    }
    s->started_ms = time_now_ms();
    return 0;
}

static void stop(struct server *s)
{
    if (s->net != NULL) {
        net_server_stop(s->net);
    }
    broker_free(s->broker); /* after the workers stopped: no session is left */
    net_server_free(s->net);
    if (s->router != NULL) {
        http_router_free(s->router);
    }
    tokens_close(s->tokens);
    registry_close(s->reg);
    store_close(s->store);
    SSL_CTX_free(s->ssl_ctx);
    X509_free(s->ca_cert);
    EVP_PKEY_free(s->ca_key);
    free(s->ca_pem);
}

int server_run(const struct server_config *cfg)
{
    struct server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return 1;
    }
    s->cfg = *cfg;
    s->mqtt_listener = -1;
    /* Signals are taken by this thread with sigwait; every thread started from here on
     * inherits the blocked mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int status = 0;
    if (start(s) < 0) {
        log_error("certgate did not start");
        status = 1;
        goto out;
    }
    printf("certgate ready: https port %u, mqtt port %u, data directory %s\n",
           (unsigned)net_server_port(s->net, s->https_listener),
           s->mqtt_listener >= 0 ? (unsigned)net_server_port(s->net, s->mqtt_listener) : 0u,
           s->cfg.data_dir);
    fflush(stdout);
    log_info("listening: https %u, mqtt %u (server CA: %s)",
             (unsigned)net_server_port(s->net, s->https_listener),
             s->mqtt_listener >= 0 ? (unsigned)net_server_port(s->net, s->mqtt_listener) : 0u,
             s->tls_files.ca_cert);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            reload_tls(s);
            continue;
        }
        log_info("received %s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
out:
    stop(s);
    free(s);
    if (status == 0) {
        log_info("stopped");
    }
    return status;
}
