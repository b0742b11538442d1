/* The server: wiring of store, registry, TLS, the network workers, the REST API and the
 * MQTT broker. Internal to src/server except server_run. */
#ifndef CERTGATE_SERVER_SERVER_H
#define CERTGATE_SERVER_SERVER_H

#include <openssl/ssl.h>
#include <stdatomic.h>

#include "server/config.h"
#include "server/tls.h"

struct store;
struct registry;
struct net_server;
struct http_router;
struct broker;
struct reg_event;
struct tokens;

struct server {
    struct server_config cfg;
    struct store *store;
    struct registry *reg;
    struct server_tls_files tls_files;
    X509 *ca_cert;
    EVP_PKEY *ca_key;
    char *ca_pem; /* the server CA as PEM, served at GET /server-ca.pem */
    size_t ca_pem_len;
    SSL_CTX *ssl_ctx;
    struct server_tls_hooks tls_hooks;
    struct net_server *net;
    int https_listener;
    int mqtt_listener;
    struct http_router *router;
    struct broker *broker;
    struct tokens *tokens;
    int64_t started_ms;
};

/* server_run: run certgate with `cfg` until SIGTERM or SIGINT. Returns the process exit
 * status (0 after a graceful stop, 1 when the start failed; the reason is logged).
 * Main thread. */
int server_run(const struct server_config *cfg);

#endif
