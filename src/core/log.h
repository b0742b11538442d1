/* Logging: one line per event on stderr, with a UTC timestamp, level and module.
 *
 * Thread-safe: each line is formatted into a local buffer and written with one write(2).
 * Secrets (keys, passwords, tokens) must never be passed to these functions.
 */
#ifndef CERTGATE_CORE_LOG_H
#define CERTGATE_CORE_LOG_H

#include <stdbool.h>

enum cg_log_level {
    CG_LOG_ERROR = 0,
    CG_LOG_WARN = 1,
    CG_LOG_INFO = 2,
    CG_LOG_DEBUG = 3,
};

/* log_set_level: messages above this level are dropped. Call before starting threads. */
void log_set_level(enum cg_log_level level);

/* log_level_parse: "error", "warn", "info" or "debug" into *level. 0 or -EINVAL. */
int log_level_parse(const char *name, enum cg_log_level *level);

/* log_enabled: whether a message at this level would be written. */
bool log_enabled(enum cg_log_level level);

/* log_msg: write one line. `module` is a short static name ("pki", "mqtt"). Any thread. */
void log_msg(enum cg_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifndef LOG_MODULE
#define LOG_MODULE "certgate"
#endif
#define log_error(...) log_msg(CG_LOG_ERROR, LOG_MODULE, __VA_ARGS__)
#define log_warn(...) log_msg(CG_LOG_WARN, LOG_MODULE, __VA_ARGS__)
#define log_info(...) log_msg(CG_LOG_INFO, LOG_MODULE, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(CG_LOG_DEBUG)) {                                                           \
            log_msg(CG_LOG_DEBUG, LOG_MODULE, __VA_ARGS__);                                        \
        }                                                                                          \
    } while (0)

#endif
