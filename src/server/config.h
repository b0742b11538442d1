/* The server's configuration: defaults, the config file, command-line overrides.
 *
 * The file format is one `key = value` per line; '#' starts a comment; blank lines are
 * ignored; values may be quoted with "..." to keep spaces or '#'. Every key is documented
 * in docs/configuration.md and in `certgate serve --print-config`. An unknown key or a bad
 * value stops the start with a message naming the file, line and key.
 */
#ifndef CERTGATE_SERVER_CONFIG_H
#define CERTGATE_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_PATH_MAX 1024

struct server_config {
    char data_dir[CONFIG_PATH_MAX];
    char listen[256];
    int https_port;
    int mqtt_port;
    int workers;      /* 0: one per core */
    int pool_threads; /* blocking-work threads */
    char log_level[16];
    char hostname[256];             /* extra name in the generated server certificate */
    char tls_cert[CONFIG_PATH_MAX]; /* "" : generated in data_dir */
    char tls_key[CONFIG_PATH_MAX];
    int max_chain_length;
    int pop_code_lifetime_s;
    /* HTTP */
    size_t http_max_body;
    int http_idle_timeout_s;
    /* MQTT */
    size_t mqtt_max_packet;
    int mqtt_max_queued;
    int mqtt_max_inflight;
    int mqtt_max_client_id;
    int mqtt_retained_max;
    size_t mqtt_retained_bytes;
    int mqtt_keepalive_max_s;
    /* admission control (per listener, both ports) */
    double admission_connect_rate; /* new connections per second, 0: unlimited */
    double admission_address_rate; /* per source address, 0: unlimited */
    int admission_handshakes;      /* handshakes in progress per worker */
    int listen_backlog;
    int handshake_timeout_s;
    int tls_session_cache;   /* sessions remembered for resumption; 0 turns it off */
    int tls_session_timeout; /* seconds a session may be resumed */
    /* tests and benchmarks */
    bool fast_password_hashing;
    bool durable;
    int audit_rate;
};

/* server_config_defaults: every setting at its default. */
void server_config_defaults(struct server_config *c);

/* server_config_load: read a config file over the current values. 0, or -1 with a sentence
 * ("certgate.conf:12: mqtt_port: expected a port number from 1 to 65535, got 'x'") in err. */
int server_config_load(struct server_config *c, const char *path, char *err, size_t errlen);

/* server_config_set: set one key from text (the file and the command line use it). 0, or -1
 * with a sentence naming the key in err. */
int server_config_set(struct server_config *c, const char *key, const char *value, char *err,
                      size_t errlen);

/* server_config_print: write every setting with its documentation, as a valid config file
 * with the current values. */
void server_config_print(const struct server_config *c, FILE *out);

#endif
