/* Helpers for the `certgate pki` subcommands: a small table-driven option parser, secrets
 * from the environment or files (never from the command line), and output files that are
 * checked before any work is done and removed again when a later step fails.
 * Main thread only. Exit statuses: 0 success, 1 failure, 2 usage error.
 */
#ifndef CERTGATE_CLI_PKI_CLI_H
#define CERTGATE_CLI_PKI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

enum cli_opt_kind {
    CLI_FLAG,  /* --name */
    CLI_VALUE, /* --name VALUE or --name=VALUE, at most once */
    CLI_LIST,  /* --name VALUE, repeatable */
};

struct cli_opt {
    const char *name; /* without the leading "--" */
    enum cli_opt_kind kind;
    const char *metavar; /* "FILE", "N"... (NULL for flags) */
    const char *help;
};

#define CLI_MAX_OPTS 40

/* One subcommand: its text and options. */
struct cli_cmd {
    const char *name;     /* "device" */
    const char *summary;  /* one line for `certgate pki --help` */
    const char *synopsis; /* usage lines after "certgate pki NAME " */
    const char *about;    /* paragraphs for --help */
    const char *examples; /* example command lines for --help */
    const struct cli_opt *opts;
    size_t nopts;
    size_t max_positional; /* 0: none */
};

/* The parsed command line. Values point into argv. */
struct cli_args {
    const struct cli_cmd *cmd;
    const char *value[CLI_MAX_OPTS];
    bool set[CLI_MAX_OPTS];
    const char **list[CLI_MAX_OPTS];
    size_t nlist[CLI_MAX_OPTS];
    const char **pos;
    size_t npos;
};

/* cli_parse: parse argv[1..argc) (argv[0] is the subcommand name) for `cmd`. Returns -1 when
 * parsing succeeded (go on), otherwise the exit status to return at once: 0 after printing
 * --help, 2 after printing a usage error. Call cli_args_cleanup in every case. */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli_args *a);

/* cli_args_cleanup: free what cli_parse allocated. */
void cli_args_cleanup(struct cli_args *a);

/* cli_help: print the full help of `cmd` to stdout. */
void cli_help(const struct cli_cmd *cmd);

/* cli_get: the value of option `name` (CLI_VALUE), or NULL when not given. */
const char *cli_get(const struct cli_args *a, const char *name);

/* cli_has: whether option `name` was given. */
bool cli_has(const struct cli_args *a, const char *name);

/* cli_list: the values of a CLI_LIST option (count in *n). */
const char *const *cli_list(const struct cli_args *a, const char *name, size_t *n);

/* cli_error / cli_usage_error: print "certgate pki CMD: message" to stderr; cli_usage_error
 * adds a pointer to --help. They return CLI_EXIT_FAIL and CLI_EXIT_USAGE respectively. */
int cli_error(const struct cli_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(const struct cli_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cli_warn: print "certgate pki CMD: warning: message" to stderr. */
void cli_warn(const struct cli_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_require: a usage error unless every option named (NULL-terminated list) is given. */
int cli_require(const struct cli_args *a, ...) __attribute__((sentinel));

/* cli_exclusive: a usage error when more than one of the options named is given; with
 * `one` non-zero also when none is (an int: a va_start anchor must not be promoted). Returns -1
 * when fine, else the exit status. */
int cli_exclusive(const struct cli_args *a, int one, ...) __attribute__((sentinel));

/* cli_int: option `name` as an integer in [min, max], or `def` when not given. Returns -1 on
 * success, else the usage exit status (message printed). */
int cli_int(const struct cli_args *a, const char *name, long min, long max, long def, long *out);

/* cli_validity: the validity window from --days (default `def_days`), or --not-before /
 * --not-after (RFC 3339 dates) where the command has them. Returns -1 or the exit status. */
int cli_validity(const struct cli_args *a, int64_t now_ms, long def_days, int64_t *not_before,
                 int64_t *not_after);

/* cli_secret: a secret from option `env_opt` (names an environment variable) or `file_opt`
 * (names a file whose first line is the secret; a trailing CR/LF is dropped). When neither is
 * given: *out = NULL and -1 is returned, unless `prompt` is set and stdin is a terminal, in
 * which case the user is asked (twice when `confirm`). *out is malloc'd: free it with
 * free_secret. Returns -1 on success, else the exit status (message printed). */
int cli_secret(const struct cli_args *a, const char *env_opt, const char *file_opt,
               const char *prompt, bool confirm, char **out);

/* cli_load_key: load a private key from `path`, with the passphrase from the options
 * `env_opt`/`file_opt` when given, else (for an encrypted key, when stdin is a terminal)
 * from a prompt. Returns -1 with *out set, else the exit status. */
int cli_load_key(const struct cli_args *a, const char *path, const char *env_opt,
                 const char *file_opt, EVP_PKEY **out);

/* cli_load_certs: every certificate in the file `path`. -1 or the exit status. */
int cli_load_certs(const struct cli_args *a, const char *path, STACK_OF(X509) * *out);

/* cli_load_issuer: --ca-cert (the issuer first; any further certificates in the file are
 * the issuer's own chain, appended to *chain when chain is not NULL), --ca-key with
 * --ca-key-password-env/-file, checking that they match. -1 or the exit status. */
int cli_load_issuer(const struct cli_args *a, X509 **cert, EVP_PKEY **key, STACK_OF(X509) * *chain);

/* cli_read_code: the verification code from --code or --code-file (a trailing newline
 * dropped unless --raw). Into out[len]. -1 or the exit status. */
int cli_read_code(const struct cli_args *a, char *out, size_t len);

/* Output files of one command run. */
struct cli_outputs {
    bool force;
    char **paths;  /* planned */
    bool *existed; /* existed before this run */
    bool *created; /* made by this run (did not exist before) */
    size_t n;
    size_t cap;
    size_t cursor;     /* where cli_outputs_done looks first */
    struct hmap *seen; /* planned paths, to refuse duplicates */
};

/* cli_outputs_init: no outputs yet; `force` allows replacing existing files. */
void cli_outputs_init(struct cli_outputs *o, bool force);

/* cli_outputs_plan: record that `path` will be written. Fails (message printed) when it
 * exists and force is off, when it is planned twice, or when it is the same file as one of
 * the `inputs` (NULL-terminated array, may be NULL). Returns -1 or the exit status. */
int cli_outputs_plan(const struct cli_args *a, struct cli_outputs *o, const char *path,
                     const char *const *inputs);

/* cli_outputs_flags: the pki_issue_save flags for these outputs. */
unsigned cli_outputs_flags(const struct cli_outputs *o);

/* cli_outputs_done: note that planned output `path` has been written. */
void cli_outputs_done(struct cli_outputs *o, const char *path);

/* cli_outputs_cleanup: when `failed`, remove the files this run created (replaced files
 * keep their new contents); then free the plan. */
void cli_outputs_cleanup(struct cli_outputs *o, bool failed);

/* cli_save_result: turn the result of a pki_issue_*_save call into an exit status (-1 on
 * success, with the output marked done), printing `why` plus a --force hint on failure. */
int cli_save_result(const struct cli_args *a, struct cli_outputs *o, const char *path, int rc,
                    const char *why);

/* cli_safe_filename: whether `name` can be used as one file name in a directory. */
bool cli_safe_filename(const char *name);

/* cli_join: "dir/name" + suffix, malloc'd (NULL on allocation failure). */
char *cli_join(const char *dir, const char *name, const char *suffix);

#endif
