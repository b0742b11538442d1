/* Option parsing, secrets and output files for `certgate pki`. */
#include "cli/pki_cli.h"

#include "core/err.h"
#include "core/hmap.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "pki/issue.h"
#include "pki/pop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

/* Options that would put a secret on the command line: refused with a pointer to the
 * alternatives (see docs/cli/pki.md). */
static const char *const refused_secret_opts[] = {
    "password",        "pass",       "passin",         "passout", "key-password",
    "ca-key-password", "passphrase", "key-passphrase",
};

static int find_opt(const struct cli_cmd *cmd, const char *name, size_t len)
{
    for (size_t i = 0; i < cmd->nopts; i++) {
        if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int opt_index(const struct cli_args *a, const char *name)
{
    int i = find_opt(a->cmd, name, strlen(name));
    if (i < 0) {
        /* A programming error: the command asks for an option it does not declare. */
        fprintf(stderr, "certgate pki %s: internal error: no option --%s\n", a->cmd->name, name);
        abort();
    }
    return i;
}

static void vmsg(const struct cli_args *a, const char *prefix, const char *fmt, va_list ap)
{
    fprintf(stderr, "certgate pki %s: %s", a->cmd->name, prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_error(const struct cli_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(a, "", fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAIL;
}

int cli_usage_error(const struct cli_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(a, "", fmt, ap);
    va_end(ap);
    fprintf(stderr, "(see 'certgate pki %s --help')\n", a->cmd->name);
    return CLI_EXIT_USAGE;
}

void cli_warn(const struct cli_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(a, "warning: ", fmt, ap);
    va_end(ap);
}

void cli_help(const struct cli_cmd *cmd)
{
    printf("usage: certgate pki %s %s\n\n%s\n", cmd->name, cmd->synopsis, cmd->about);
    printf("\noptions:\n");
    for (size_t i = 0; i < cmd->nopts; i++) {
        const struct cli_opt *o = &cmd->opts[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        if (strlen(left) > 26) {
            printf("  %s\n  %-26s %s\n", left, "", o->help);
        } else {
            printf("  %-26s %s\n", left, o->help);
        }
    }
    printf("  %-26s %s\n", "--help", "show this help");
    if (cmd->examples != NULL) {
        printf("\nexamples:\n%s", cmd->examples);
    }
    printf("\nExit status: 0 success, 1 failure, 2 usage error. See docs/cli/pki.md.\n");
}

static int push_list(struct cli_args *a, int i, const char *v, int argc)
{
    if (a->list[i] == NULL) {
        a->list[i] = calloc((size_t)argc + 1, sizeof(char *));
        if (a->list[i] == NULL) {
            return -ENOMEM;
        }
    }
    a->list[i][a->nlist[i]++] = v;
    return 0;
}

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli_args *a)
{
    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    a->pos = calloc((size_t)argc + 1, sizeof(char *));
    if (a->pos == NULL) {
        return cli_error(a, "out of memory");
    }
    bool only_positional = false;
    for (int k = 1; k < argc; k++) {
        const char *arg = argv[k];
        if (!only_positional && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            cli_help(cmd);
            return CLI_EXIT_OK;
        }
    }
    for (int k = 1; k < argc; k++) {
        const char *arg = argv[k];
        if (only_positional || arg[0] != '-' || arg[1] == 0) {
            if (a->npos >= cmd->max_positional) {
                return cli_usage_error(a, "unexpected argument '%s'", arg);
            }
            a->pos[a->npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (arg[1] != '-') {
            return cli_usage_error(a, "unknown option '%s' (options are spelled --name)", arg);
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        int i = find_opt(cmd, name, nlen);
        if (i < 0) {
            for (size_t r = 0; r < sizeof(refused_secret_opts) / sizeof(refused_secret_opts[0]);
                 r++) {
                if (strlen(refused_secret_opts[r]) == nlen &&
                    strncmp(refused_secret_opts[r], name, nlen) == 0) {
                    char env[64];
                    snprintf(env, sizeof(env), "%.*s-env", (int)nlen, name);
                    if (find_opt(cmd, env, strlen(env)) >= 0) {
                        return cli_usage_error(a,
                                               "--%.*s: secrets are not accepted on the command "
                                               "line, where every user of this machine can read "
                                               "them (ps, /proc); use --%.*s-env VARIABLE or "
                                               "--%.*s-file FILE",
                                               (int)nlen, name, (int)nlen, name, (int)nlen, name);
                    }
                    return cli_usage_error(a,
                                           "--%.*s: secrets are not accepted on the command "
                                           "line, where every user of this machine can read "
                                           "them (ps, /proc); use the matching ...-env or "
                                           "...-file option",
                                           (int)nlen, name);
                }
            }
            return cli_usage_error(a, "unknown option '--%.*s'", (int)nlen, name);
        }
        const struct cli_opt *o = &cmd->opts[i];
        if (o->kind == CLI_FLAG) {
            if (eq != NULL) {
                return cli_usage_error(a, "option --%s takes no value", o->name);
            }
            a->set[i] = true;
            continue;
        }
        const char *v;
        if (eq != NULL) {
            v = eq + 1;
        } else if (k + 1 < argc) {
            v = argv[++k];
        } else {
            return cli_usage_error(a, "option --%s needs a value (%s)", o->name, o->metavar);
        }
        if (o->kind == CLI_VALUE) {
            if (a->set[i]) {
                return cli_usage_error(a, "option --%s given more than once", o->name);
            }
            a->value[i] = v;
        } else if (push_list(a, i, v, argc) < 0) {
            return cli_error(a, "out of memory");
        }
        a->set[i] = true;
    }
    return -1;
}

void cli_args_cleanup(struct cli_args *a)
{
    for (size_t i = 0; i < CLI_MAX_OPTS; i++) {
        free(a->list[i]);
        a->list[i] = NULL;
    }
    free(a->pos);
    a->pos = NULL;
}

const char *cli_get(const struct cli_args *a, const char *name)
{
    return a->value[opt_index(a, name)];
}

bool cli_has(const struct cli_args *a, const char *name)
{
    return a->set[opt_index(a, name)];
}

const char *const *cli_list(const struct cli_args *a, const char *name, size_t *n)
{
    int i = opt_index(a, name);
    *n = a->nlist[i];
    return a->list[i];
}

int cli_require(const struct cli_args *a, ...)
{
    va_list ap;
    va_start(ap, a);
    const char *name;
    int rc = -1;
    while ((name = va_arg(ap, const char *)) != NULL) {
        if (!cli_has(a, name)) {
            rc = cli_usage_error(a, "option --%s is required", name);
            break;
        }
    }
    va_end(ap);
    return rc;
}

int cli_exclusive(const struct cli_args *a, int one, ...)
{
    va_list ap;
    va_start(ap, one);
    const char *name;
    const char *first = NULL;
    char all[256] = "";
    int rc = -1;
    while ((name = va_arg(ap, const char *)) != NULL) {
        size_t used = strlen(all);
        snprintf(all + used, sizeof(all) - used, "%s--%s", used ? " or " : "", name);
        if (!cli_has(a, name)) {
            continue;
        }
        if (first != NULL && rc == -1) {
            rc = cli_usage_error(a, "options --%s and --%s cannot be used together", first, name);
        }
        first = first != NULL ? first : name;
    }
    va_end(ap);
    if (rc == -1 && one && first == NULL) {
        rc = cli_usage_error(a, "one of %s is required", all);
    }
    return rc;
}

int cli_int(const struct cli_args *a, const char *name, long min, long max, long def, long *out)
{
    const char *v = cli_get(a, name);
    if (v == NULL) {
        *out = def;
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (v[0] == 0 || *end != 0 || errno != 0) {
        return cli_usage_error(a, "--%s: '%s' is not a number", name, v);
    }
    if (n < min || n > max) {
        return cli_usage_error(a, "--%s must be between %ld and %ld (got %ld)", name, min, max, n);
    }
    *out = n;
    return -1;
}

static bool has_opt(const struct cli_args *a, const char *name)
{
    return find_opt(a->cmd, name, strlen(name)) >= 0;
}

int cli_validity(const struct cli_args *a, int64_t now_ms, long def_days, int64_t *not_before,
                 int64_t *not_after)
{
    long days = 0;
    int rc = cli_int(a, "days", 1, PKI_ISSUE_MAX_DAYS, def_days, &days);
    if (rc >= 0) {
        return rc;
    }
    *not_before = now_ms - PKI_ISSUE_BACKDATE_MS;
    *not_after = now_ms + (int64_t)days * 24 * 3600 * 1000;
    if (!has_opt(a, "not-before")) {
        return -1;
    }
    const char *nb = cli_get(a, "not-before");
    const char *na = cli_get(a, "not-after");
    if (na != NULL && cli_has(a, "days")) {
        return cli_usage_error(a, "options --days and --not-after cannot be used together");
    }
    if (nb != NULL && time_parse_iso(nb, not_before) < 0) {
        return cli_usage_error(a, "--not-before: '%s' is not a date (2030-01-31 or RFC 3339)", nb);
    }
    if (nb != NULL && na == NULL) {
        *not_after = *not_before + (int64_t)days * 24 * 3600 * 1000;
    }
    if (na != NULL && time_parse_iso(na, not_after) < 0) {
        return cli_usage_error(a, "--not-after: '%s' is not a date (2030-01-31 or RFC 3339)", na);
    }
    if (*not_after <= *not_before) {
        return cli_usage_error(a, "the certificate would expire before it becomes valid");
    }
    return -1;
}

/* Read the first line of a small file into a malloc'd secret. */
static int read_secret_file(const struct cli_args *a, const char *opt, const char *path, char **out)
{
    char data[PKI_ISSUE_PASSPHRASE_MAX + 3];
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return cli_error(a, "--%s: cannot open '%s': %s", opt, path, strerror(errno));
    }
    for (;;) {
        ssize_t r = read(fd, data + n, sizeof(data) - 1 - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            int e = errno;
            close(fd);
            secure_zero(data, sizeof(data));
            return cli_error(a, "--%s: cannot read '%s': %s", opt, path, strerror(e));
        }
        if (r == 0 || n + (size_t)r == sizeof(data) - 1) {
            n += (size_t)r;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    data[n] = 0;
    char *nl = memchr(data, '\n', n);
    if (nl == NULL && n > PKI_ISSUE_PASSPHRASE_MAX) {
        secure_zero(data, sizeof(data));
        return cli_error(a, "--%s: the first line of '%s' is longer than %d characters", opt, path,
                         PKI_ISSUE_PASSPHRASE_MAX);
    }
    if (nl != NULL) {
        n = (size_t)(nl - data);
    }
    if (n > 0 && data[n - 1] == '\r') {
        n--;
    }
    data[n] = 0;
    if (memchr(data, 0, n) != NULL) {
        secure_zero(data, sizeof(data));
        return cli_error(a, "--%s: '%s' holds a NUL byte", opt, path);
    }
    if (n == 0) {
        secure_zero(data, sizeof(data));
        return cli_error(a, "--%s: the first line of '%s' is empty", opt, path);
    }
    *out = str_ndup(data, n);
    secure_zero(data, sizeof(data));
    if (*out == NULL) {
        return cli_error(a, "out of memory");
    }
    return -1;
}

int cli_secret(const struct cli_args *a, const char *env_opt, const char *file_opt,
               const char *prompt, bool confirm, char **out)
{
    *out = NULL;
    int rc = cli_exclusive(a, false, env_opt, file_opt, NULL);
    if (rc >= 0) {
        return rc;
    }
    const char *var = cli_get(a, env_opt);
    const char *file = cli_get(a, file_opt);
    if (var != NULL) {
        const char *v = getenv(var);
        if (v == NULL) {
            return cli_error(a, "--%s: the environment variable %s is not set", env_opt, var);
        }
        if (v[0] == 0) {
            return cli_error(a, "--%s: the environment variable %s is empty", env_opt, var);
        }
        if (strlen(v) > PKI_ISSUE_PASSPHRASE_MAX) {
            return cli_error(a, "--%s: the value of %s is longer than %d characters", env_opt, var,
                             PKI_ISSUE_PASSPHRASE_MAX);
        }
        *out = strdup(v);
        return *out != NULL ? -1 : cli_error(a, "out of memory");
    }
    if (file != NULL) {
        return read_secret_file(a, file_opt, file, out);
    }
    if (prompt == NULL || !isatty(STDIN_FILENO)) {
        return -1;
    }
    char buf[PKI_ISSUE_PASSPHRASE_MAX + 1];
    /* OpenSSL's UI reads from the terminal with echo off. */
    int ok = EVP_read_pw_string_min(buf, PKI_ISSUE_PASSPHRASE_MIN, (int)sizeof(buf), prompt,
                                    confirm ? 1 : 0);
    ERR_clear_error();
    if (ok != 0) {
        secure_zero(buf, sizeof(buf));
        return cli_error(a, "no passphrase entered");
    }
    *out = strdup(buf);
    secure_zero(buf, sizeof(buf));
    return *out != NULL ? -1 : cli_error(a, "out of memory");
}

int cli_load_key(const struct cli_args *a, const char *path, const char *env_opt,
                 const char *file_opt, EVP_PKEY **out)
{
    char why[512] = "";
    char *pass = NULL;
    int rc = cli_secret(a, env_opt, file_opt, NULL, false, &pass);
    if (rc >= 0) {
        return rc;
    }
    rc = pki_issue_key_load(path, pass, out, why, sizeof(why));
    if (rc == -ENOKEY && isatty(STDIN_FILENO)) {
        char prompt[300];
        snprintf(prompt, sizeof(prompt), "passphrase for %s: ", path);
        int r2 = cli_secret(a, env_opt, file_opt, prompt, false, &pass);
        if (r2 >= 0) {
            return r2;
        }
        rc = pki_issue_key_load(path, pass, out, why, sizeof(why));
    }
    free_secret(pass);
    if (rc == -ENOKEY) {
        return cli_error(a, "%s (give it with --%s VARIABLE or --%s FILE)", why, env_opt, file_opt);
    }
    if (rc < 0) {
        return cli_error(a, "%s", why);
    }
    return -1;
}

int cli_load_certs(const struct cli_args *a, const char *path, STACK_OF(X509) * *out)
{
    char why[512] = "";
    int rc = pki_issue_certs_load(path, out, why, sizeof(why));
    if (rc < 0) {
        return cli_error(a, "%s", why);
    }
    return -1;
}

int cli_load_issuer(const struct cli_args *a, X509 **cert, EVP_PKEY **key, STACK_OF(X509) * *chain)
{
    STACK_OF(X509) *certs = NULL;
    EVP_PKEY *k = NULL;
    const char *cert_path = cli_get(a, "ca-cert");
    const char *key_path = cli_get(a, "ca-key");
    int rc = cli_load_certs(a, cert_path, &certs);
    if (rc >= 0) {
        goto out;
    }
    rc = cli_load_key(a, key_path, "ca-key-password-env", "ca-key-password-file", &k);
    if (rc >= 0) {
        goto out;
    }
    X509 *issuer = sk_X509_value(certs, 0);
    if (!pki_issue_key_matches(issuer, k)) {
        rc = cli_error(a, "the CA key '%s' does not match the CA certificate '%s'", key_path,
                       cert_path);
        goto out;
    }
    if (chain != NULL) {
        for (int i = 1; i < sk_X509_num(certs); i++) {
            X509 *x = sk_X509_value(certs, i);
            if (!X509_up_ref(x) || !sk_X509_push(*chain, x)) {
                rc = cli_error(a, "out of memory");
                goto out;
            }
        }
    }
    if (!X509_up_ref(issuer)) {
        rc = cli_error(a, "out of memory");
        goto out;
    }
    *cert = issuer;
    *key = k;
    k = NULL;
    rc = -1;
out:
    EVP_PKEY_free(k);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

int cli_read_code(const struct cli_args *a, char *out, size_t len)
{
    int rc = cli_exclusive(a, true, "code", "code-file", NULL);
    if (rc >= 0) {
        return rc;
    }
    if (cli_has(a, "raw") && !cli_has(a, "code-file")) {
        return cli_usage_error(a, "--raw goes with --code-file");
    }
    const char *code = cli_get(a, "code");
    if (code != NULL) {
        if (code[0] == 0) {
            return cli_usage_error(a, "--code: the verification code is empty");
        }
        if (str_lcpy(out, code, len) >= len) {
            return cli_usage_error(a, "--code: the verification code is longer than %zu bytes",
                                   len - 1);
        }
        return -1;
    }
    const char *path = cli_get(a, "code-file");
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return cli_error(a, "--code-file: cannot open '%s': %s", path, strerror(errno));
    }
    size_t n = fread(out, 1, len, f);
    bool err = ferror(f) != 0;
    fclose(f);
    if (err) {
        return cli_error(a, "--code-file: cannot read '%s'", path);
    }
    bool raw = cli_has(a, "raw");
    if (n == len) {
        return cli_error(a, "--code-file: '%s' is longer than %zu bytes", path, len - 1);
    }
    if (!raw && n > 0 && out[n - 1] == '\n') {
        n--;
        if (n > 0 && out[n - 1] == '\r') {
            n--;
        }
    }
    out[n] = 0;
    if (memchr(out, 0, n) != NULL) {
        return cli_error(a, "--code-file: '%s' holds a NUL byte", path);
    }
    if (n == 0) {
        return cli_error(a, "--code-file: '%s' is empty", path);
    }
    return -1;
}

/* ---- outputs ----------------------------------------------------------------------------- */

void cli_outputs_init(struct cli_outputs *o, bool force)
{
    memset(o, 0, sizeof(*o));
    o->force = force;
}

int cli_outputs_plan(const struct cli_args *a, struct cli_outputs *o, const char *path,
                     const char *const *inputs)
{
    struct stat st;
    if (path == NULL || path[0] == 0) {
        return cli_usage_error(a, "an output file name is empty");
    }
    if (o->seen == NULL && (o->seen = hmap_new()) == NULL) {
        return cli_error(a, "out of memory");
    }
    if (hmap_get_str(o->seen, path) != NULL) {
        return cli_usage_error(a, "'%s' is named as more than one output", path);
    }
    if (hmap_put_str(o->seen, path, o, NULL) < 0) {
        return cli_error(a, "out of memory");
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        char **p = realloc(o->paths, cap * sizeof(*p));
        if (p != NULL) {
            o->paths = p;
        }
        bool *e = p != NULL ? realloc(o->existed, cap * sizeof(*e)) : NULL;
        if (e != NULL) {
            o->existed = e;
        }
        bool *c = e != NULL ? realloc(o->created, cap * sizeof(*c)) : NULL;
        if (c == NULL) {
            return cli_error(a, "out of memory");
        }
        o->created = c;
        o->cap = cap;
    }
    bool exists = lstat(path, &st) == 0;
    if (exists && !o->force) {
        return cli_error(a, "'%s' already exists (add --force to replace it)", path);
    }
    if (exists && S_ISDIR(st.st_mode)) {
        return cli_error(a, "'%s' is a directory", path);
    }
    for (size_t i = 0; exists && inputs != NULL && inputs[i] != NULL; i++) {
        struct stat in;
        if (stat(inputs[i], &in) == 0 && stat(path, &st) == 0 && in.st_dev == st.st_dev &&
            in.st_ino == st.st_ino) {
            return cli_error(a, "'%s' is both an input and an output", path);
        }
    }
    o->paths[o->n] = strdup(path);
    if (o->paths[o->n] == NULL) {
        return cli_error(a, "out of memory");
    }
    o->existed[o->n] = exists;
    o->created[o->n] = false;
    o->n++;
    return -1;
}

unsigned cli_outputs_flags(const struct cli_outputs *o)
{
    return o->force ? PKI_ISSUE_SAVE_FORCE : 0;
}

void cli_outputs_done(struct cli_outputs *o, const char *path)
{
    /* Outputs are usually written in the order planned: start looking after the last one. */
    for (size_t k = 0; k < o->n; k++) {
        size_t i = (o->cursor + k) % o->n;
        if (strcmp(o->paths[i], path) == 0) {
            o->created[i] = !o->existed[i];
            o->cursor = i + 1;
            return;
        }
    }
}

void cli_outputs_cleanup(struct cli_outputs *o, bool failed)
{
    for (size_t i = 0; i < o->n; i++) {
        if (failed && o->created[i]) {
            unlink(o->paths[i]);
        }
        free(o->paths[i]);
    }
    free(o->paths);
    free(o->existed);
    free(o->created);
    hmap_free(o->seen);
    memset(o, 0, sizeof(*o));
}

int cli_save_result(const struct cli_args *a, struct cli_outputs *o, const char *path, int rc,
                    const char *why)
{
    if (rc == 0) {
        cli_outputs_done(o, path);
        return -1;
    }
    if (rc == -EEXIST) {
        return cli_error(a, "%s (add --force to replace it)", why);
    }
    return cli_error(a, "%s", why);
}

bool cli_safe_filename(const char *name)
{
    if (name == NULL || name[0] == 0 || name[0] == '.' || strlen(name) > 200) {
        return false;
    }
    for (const char *p = name; *p != 0; p++) {
        if (*p == '/' || (unsigned char)*p < 0x20 || *p == 0x7f) {
            return false;
        }
    }
    return true;
}

char *cli_join(const char *dir, const char *name, const char *suffix)
{
    size_t dlen = strlen(dir);
    bool slash = dlen > 0 && dir[dlen - 1] == '/';
    return str_printf("%s%s%s%s", dir, slash || dlen == 0 ? "" : "/", name, suffix);
}
