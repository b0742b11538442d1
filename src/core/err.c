#include "core/err.h"

#include <string.h>

const char *cg_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "success";
    case CG_EPARSE:
        return "malformed input";
    case CG_ELIMIT:
        return "input exceeds a limit";
    case CG_ECRYPTO:
        return "cryptographic operation failed";
    case CG_EDENIED:
        return "access denied";
    case CG_EDB:
        return "database error";
    case CG_EINTERNAL:
        return "internal error";
    case CG_ECONFLICT:
        return "conflict";
    case CG_EEXPIRED:
        return "expired";
    default:
        break;
    }
    if (rc < 0 && rc > -4096) {
        /* strerrordesc_np is thread-safe and returns static strings (glibc >= 2.32). */
        const char *s = strerrordesc_np(-rc);
        if (s != NULL) {
            return s;
        }
    }
    return "unknown error";
}
