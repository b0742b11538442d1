/* certgate serve: run the server. */
#include "cli/commands.h"

#include "server/config.h"
#include "server/server.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: certgate serve [--config FILE] [--data-dir DIR] [--listen ADDR]\n"
            "                      [--https-port N] [--mqtt-port N] [--workers N]\n"
            "                      [--log-level LEVEL] [--set KEY=VALUE]... [--print-config]\n"
            "\n"
            "Runs certgate: the HTTPS REST API and web UI (default port 8443) and MQTT over TLS\n"
            "(default port 8883). Without options it runs on embedded defaults: data in\n"
            "./certgate-data (SQLite database, generated server CA and certificate, token\n"
            "signing keys), and a management tenant 'management' with user 'admin' whose\n"
            "password comes from CERTGATE_ADMIN_PASSWORD or is generated and printed once.\n"
            "\n"
            "  --config FILE      read settings from FILE (see --print-config)\n"
            "  --data-dir DIR     data directory (setting data_dir)\n"
            "  --listen ADDR      address to listen on, '*' for all (setting listen)\n"
            "  --https-port N     HTTPS port; 0 picks a free one (setting https_port)\n"
            "  --mqtt-port N      MQTT/TLS port; 0 picks a free one (setting mqtt_port)\n"
            "  --workers N        event-loop threads, 0 = one per core (setting workers)\n"
            "  --log-level LEVEL  error, warn, info or debug (setting log_level)\n"
            "  --set KEY=VALUE    any other setting\n"
            "  --print-config     print every setting with its documentation and exit\n"
            "\n"
            "Command-line options override the config file. SIGTERM or SIGINT stops the server\n"
            "gracefully; SIGHUP reloads the server certificate.\n");
}

int cmd_serve(int argc, char **argv)
{
    struct server_config cfg;
    server_config_defaults(&cfg);
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"https-port", required_argument, NULL, 'H'},
        {"mqtt-port", required_argument, NULL, 'M'},
        {"workers", required_argument, NULL, 'w'},
        {"log-level", required_argument, NULL, 'L'},
        {"set", required_argument, NULL, 's'},
        {"print-config", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    /* Two passes: the config file first, then every other option over it. */
    const char *config = NULL;
    bool print = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c') {
            config = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (c == '?') {
            fprintf(stderr, "certgate serve: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "certgate serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char err[1024];
    if (config != NULL && server_config_load(&cfg, config, err, sizeof(err)) < 0) {
        fprintf(stderr, "certgate serve: %s\n", err);
        return 2;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *key = NULL;
        char setting[256];
        const char *value = optarg;
        switch (c) {
        case 'd':
            key = "data_dir";
            break;
        case 'l':
            key = "listen";
            break;
        case 'H':
            key = "https_port";
            break;
        case 'M':
            key = "mqtt_port";
            break;
        case 'w':
            key = "workers";
            break;
        case 'L':
            key = "log_level";
            break;
        case 's': {
            const char *eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg || (size_t)(eq - optarg) >= sizeof(setting)) {
                fprintf(stderr, "certgate serve: --set needs KEY=VALUE, got '%s'\n", optarg);
                return 2;
            }
            memcpy(setting, optarg, (size_t)(eq - optarg));
            setting[eq - optarg] = 0;
            key = setting;
            value = eq + 1;
            break;
        }
        case 'p':
            print = true;
            break;
        default:
            break;
        }
        if (key != NULL && server_config_set(&cfg, key, value, err, sizeof(err)) < 0) {
            fprintf(stderr, "certgate serve: %s\n", err);
            return 2;
        }
    }
    if (print) {
        server_config_print(&cfg, stdout);
        return 0;
    }
    return server_run(&cfg);
}
