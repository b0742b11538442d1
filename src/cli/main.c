/* certgate: entry point and subcommand dispatch. */
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"serve", cmd_serve, "run the server: HTTPS REST API on 8443, MQTT over TLS on 8883"},
    {"verify", cmd_verify, "check a device certificate chain offline, exactly as the server does"},
    {"pki", cmd_pki, "create CAs, device certificates, keystores and proof-of-possession answers"},
    {"bench", cmd_bench, "measure certgate: validations, connects, messages, tokens per second"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: certgate <command> [options]\n\n"
                 "certgate is a multi-tenant device identity and MQTT service: devices\n"
                 "authenticate with X.509 client certificates over MQTT/TLS and HTTPS.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "  %-8s %s\n", "version", "print the version");
    fprintf(out, "\n'certgate <command> --help' describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0) {
        printf("certgate %s\n", CERTGATE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(name, commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "certgate: unknown command '%s'\n\n", name);
    usage(stderr);
    return 2;
}
