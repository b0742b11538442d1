/* Web UI sign-in sessions: server-side, in memory, behind an HttpOnly cookie.
 *
 * POST /ui/session (rest_ui.c) checks a password once with registry_auth_basic and creates a
 * session here; the browser then holds only the cookie `certgate_session` (256 random bits),
 * never the password. Every later request that carries the cookie and no Authorization field
 * is authenticated by sessions_authenticate (called from rest.c's authenticate()):
 *
 *  - the session must exist and be within its idle and absolute lifetimes;
 *  - the user must still exist, be enabled, and not have changed password since sign-in, and
 *    the tenant must be active: these are re-read from the registry on every request, and the
 *    roles come from that read, so a disabled user or a removed role takes effect at once;
 *  - a request with a method other than GET or HEAD must carry the header X-XSRF-TOKEN equal
 *    to the session's CSRF token (Cumulocity's SSO convention, reference §1.1). The token is
 *    handed to the page in the body of POST/GET /ui/session, which only a same-origin script
 *    can read; the cookie is SameSite=Strict besides.
 *
 * The table maps SHA-256(session id) to the session, so neither a lookup's timing nor a dump
 * of the table reveals a usable id. It is bounded (SESSIONS_MAX sessions, at most
 * SESSIONS_PER_USER_MAX per user: a new sign-in beyond that ends that user's least recently
 * used session). Sessions do not survive a restart.
 *
 * Threads: every function may be called from any thread; a table has its own lock. The
 * functions that take a registry block (they read the user) and run on pool threads.
 */
#ifndef CERTGATE_SERVER_SESSIONS_H
#define CERTGATE_SERVER_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/request.h"
#include "registry/registry.h"

#define SESSION_COOKIE_NAME "certgate_session"
#define SESSION_CSRF_HEADER "X-XSRF-TOKEN"
/* A session id and a CSRF token: 32 random bytes as unpadded base64url. */
#define SESSION_TOKEN_LEN 43

#define SESSION_IDLE_MS_DEFAULT (30 * 60 * 1000)          /* 30 minutes without a request */
#define SESSION_ABSOLUTE_MS_DEFAULT (12 * 60 * 60 * 1000) /* 12 hours after sign-in */
#define SESSIONS_MAX 10000
#define SESSIONS_PER_USER_MAX 16

struct session_limits {
    int64_t idle_ms;     /* > 0 */
    int64_t absolute_ms; /* > 0 */
    size_t max;          /* >= 1 */
    size_t per_user_max; /* >= 1 */
};

/* What a caller learns about a live session (a copy). */
struct session_view {
    struct principal who;
    char csrf[SESSION_TOKEN_LEN + 1];
    int64_t created_ms;
    int64_t last_used_ms;
    int64_t idle_expires_ms;     /* last use + idle lifetime */
    int64_t absolute_expires_ms; /* creation + absolute lifetime */
};

struct sessions;

/* sessions_new: an empty table with `lim` (NULL: the *_DEFAULT values and caps above).
 * The caller owns it (sessions_free). NULL on allocation failure or a bad limit. */
struct sessions *sessions_new(const struct session_limits *lim);

/* sessions_free: end every session, zero and free the table. NULL is a no-op. No other call
 * on the table may be in progress. */
void sessions_free(struct sessions *s);

/* sessions_default: the process-wide table that rest.c and rest_ui.c share, created on first
 * use with the default limits (one certgate serve per process: struct server belongs to
 * the server wiring, so the table lives here). NULL only when it could not be allocated. */
struct sessions *sessions_default(void);

/* sessions_create: a new session for `who` (copied) at now_ms. Writes the id (the cookie's
 * value) and the CSRF token, each SESSION_TOKEN_LEN characters plus NUL. Expired sessions are
 * purged first. 0; CG_ELIMIT when SESSIONS_MAX live sessions exist; -ENOMEM; -EIO when no
 * random bytes could be read. */
int sessions_create(struct sessions *s, const struct principal *who, int64_t now_ms,
                    char id[SESSION_TOKEN_LEN + 1], char csrf[SESSION_TOKEN_LEN + 1]);

/* sessions_get: the live session with this id (id[len] need not be NUL-terminated). With
 * `touch` its idle lifetime restarts at now_ms. 0 and *out; -ENOENT when the id is unknown,
 * malformed or expired (an expired session is removed). */
int sessions_get(struct sessions *s, const char *id, size_t len, int64_t now_ms, bool touch,
                 struct session_view *out);

/* sessions_remove: end the session with this id. 0, or -ENOENT when there is none. */
int sessions_remove(struct sessions *s, const char *id, size_t len);

/* sessions_remove_user: end every session of tenant/user. Returns how many ended. */
int sessions_remove_user(struct sessions *s, const char *tenant, const char *user);

/* sessions_count: live and not yet purged sessions. */
size_t sessions_count(struct sessions *s);

/* sessions_csrf_valid: whether token[len] equals the session's CSRF token (constant time). */
bool sessions_csrf_valid(const struct session_view *v, const char *token, size_t len);

/* session_cookie_find: the value of the certgate_session cookie over all Cookie fields of
 * `req`; *value points into the request. 0; -ENOENT when the request has none; CG_EPARSE when
 * it carries more than one (ambiguous: refused rather than guessed). */
int session_cookie_find(const struct http_request *req, const char **value, size_t *len);

/* sessions_is_browser: whether the request comes from the web UI's scripts (it carries the
 * session cookie or X-Requested-With), so a 401 must not carry a WWW-Authenticate challenge
 * that would make the browser open its own password dialog. */
bool sessions_is_browser(const struct http_request *req);

/* sessions_authenticate: the cookie step of REST authentication. `unsafe` is true for every
 * method but GET and HEAD. Returns 0 and fills *who (and *view when not NULL) when the
 * request's session is live, its user still may sign in (re-read from `reg`, see above) and,
 * for an unsafe method, X-XSRF-TOKEN matches; -ENOENT when the request carries no session
 * cookie (try the other schemes); -EPERM when the session is valid but the CSRF header is
 * missing or wrong; CG_EDENIED for an unknown, expired, ambiguous or revoked session (`why`,
 * REG_WHY_MAX bytes, says which, for the log); CG_EDB or -ENOMEM when the user could not be
 * read. Blocking (pool thread). */
int sessions_authenticate(struct sessions *s, struct registry *reg, const struct http_request *req,
                          bool unsafe, int64_t now_ms, struct principal *who,
                          struct session_view *view, char *why);

#endif
