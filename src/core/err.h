/* Error codes shared by every module.
 *
 * Functions return int: 0 for success, a positive count where documented, and a negative
 * value for failure: -errno for system errors (-ENOMEM, -EINVAL, -ENOENT, -EEXIST, ...),
 * or one of the CG_E* codes below, all of which lie below -1000 so they never collide with
 * errno values.
 */
#ifndef CERTGATE_CORE_ERR_H
#define CERTGATE_CORE_ERR_H

#include <errno.h>

enum cg_error {
    CG_EPARSE = -1001,    /* input is not in the expected format */
    CG_ELIMIT = -1002,    /* input exceeds a configured or built-in limit */
    CG_ECRYPTO = -1003,   /* a cryptographic library call failed */
    CG_EDENIED = -1004,   /* access refused */
    CG_EDB = -1005,       /* the database failed */
    CG_EINTERNAL = -1006, /* an invariant did not hold: a bug */
    CG_ECONFLICT = -1007, /* the object was changed concurrently or already exists */
    CG_EEXPIRED = -1008,  /* a time-limited value is no longer usable */
};

/* cg_strerror: a static, human sentence for any code returned by a certgate function
 * (negative errno values included). Never NULL. Thread-safe. */
const char *cg_strerror(int rc);

#endif
