/* Device access tokens: JWTs (ES256) issued to certificate devices, and their checks. */
#ifndef CERTGATE_SERVER_TOKENS_H
#define CERTGATE_SERVER_TOKENS_H

#include <jansson.h>
#include <stddef.h>

#include "registry/registry.h"

struct tokens;

/* How long retired signing keys stay valid for verification: longer than the longest token
 * lifetime a tenant may choose (30 days). */
#define TOKENS_KEY_RETENTION_S (31 * 86400)

/* tokens_open: load the signing keys from DATA_DIR/jwt (creating the first key on first
 * start). `issuer` is the iss claim. NULL with a sentence in err. Main thread. */
struct tokens *tokens_open(const char *data_dir, const char *issuer, char *err, size_t errlen);

/* tokens_close: free. NULL is a no-op. */
void tokens_close(struct tokens *t);

/* tokens_issue: a token for the accepted certificate identity `id`, valid for the tenant's
 * device-token lifetime. *jwt is malloc'd (a secret: free with free_secret); *expires_in in
 * seconds. 0, or a negative error. Any thread. */
int tokens_issue(struct tokens *t, struct registry *r, const struct reg_identity *id, char **jwt,
                 int *expires_in);

/* tokens_authenticate: check a bearer token strictly (signature with the key of its kid,
 * ES256 only, exp/nbf with 60 s skew, issuer, tenant active, not logged out, device still
 * registered, its anchor still enabled, its serial not revoked) and fill *out with the
 * device principal. 0, or CG_EDENIED with a sentence in why (for logs and the 401 body).
 * Any thread. */
int tokens_authenticate(struct tokens *t, struct registry *r, const char *token,
                        struct principal *out, char *why);

/* tokens_jwks: the public keys as a JWKS document (new reference). Any thread. */
json_t *tokens_jwks(struct tokens *t);

/* tokens_rotate: create a new signing key and make it current; old keys keep verifying
 * until TOKENS_KEY_RETENTION_S has passed, then they are pruned. *kid (optional) receives
 * the new key id (JWTKEYS_KID_MAX bytes). 0 or -1 with why. Any thread. */
int tokens_rotate(struct tokens *t, char *kid, char *why, size_t whylen);

/* tokens_prune: delete keys retired longer than the retention. Any thread. */
void tokens_prune(struct tokens *t);

#endif
