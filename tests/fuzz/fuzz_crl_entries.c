/* The revocation upload parsers of PUT /tenant/trusted-certificates/settings/crl
 * (server/rest_crl.h). The first input byte selects the parser (even: JSON, odd: CSV) and,
 * for CSV, a small or the full entry cap; the rest is the body. Checks: success yields at
 * most the cap of entries, each serial already in normal form (normalizing it again changes
 * nothing), dates not negative and the right source; failure yields status 400 or 422 and a
 * non-empty UTF-8 message; nothing else but -ENOMEM. */
#include "core/err.h"
#include "core/str.h"
#include "pki/cert.h"
#include "server/rest_crl.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0];
    size_t len = size - 1;
    uint8_t *body = malloc(len ? len : 1); /* exact size: overreads are caught */
    CHECK(body != NULL);
    if (len) {
        memcpy(body, data + 1, len);
    }
    struct reg_revoked *entries = NULL;
    int n = -1, status = 0;
    char why[REG_WHY_MAX] = "";
    bool csv = (mode & 1) != 0;
    int cap = (mode & 2) ? 3 : REST_CRL_CSV_MAX;
    int rc = csv ? rest_crl_parse_csv(body, len, cap, &entries, &n, &status, why, sizeof(why))
                 : rest_crl_parse_json(body, len, &entries, &n, &status, why, sizeof(why));
    if (rc == 0) {
        CHECK(n >= 0 && n <= (csv ? cap : REST_CRL_JSON_MAX));
        CHECK(n == 0 || entries != NULL);
        for (int i = 0; i < n; i++) {
            char again[REG_SERIAL_MAX];
            CHECK(entries[i].serial_hex[0] != 0);
            CHECK(pki_serial_normalize(entries[i].serial_hex, again, sizeof(again)) == 0);
            CHECK(strcmp(again, entries[i].serial_hex) == 0);
            CHECK(entries[i].revoked_ms >= 0);
            CHECK(strcmp(entries[i].source, csv ? "csv" : "api") == 0);
        }
    } else if (rc == -1) {
        CHECK(status == 400 || status == 422);
        CHECK(why[0] != 0);
        CHECK(utf8_valid((const uint8_t *)why, strlen(why), false));
    } else {
        CHECK(rc == -ENOMEM);
    }
    free(entries);
    free(body);
    return 0;
}
