/* The revocation upload bodies of PUT /tenant/trusted-certificates/settings/crl
 * (reference §4.3), as pure parsers so that they can be fuzzed (tests/fuzz/fuzz_crl_entries.c).
 *
 * Both produce an array of struct reg_revoked with the serial normalized
 * (pki_serial_normalize) and revoked_ms the given revocation date, or 0 when none was given
 * (the registry then uses the time of the upload). On failure they set *status to the HTTP
 * status to answer (400: malformed body or date; 422: a value breaks a rule) and why[] to a
 * sentence for the error body; the message never quotes input bytes, so it is always valid
 * UTF-8. Pure functions; thread-safe. Unit test: tests/unit/server/test_rest_crl.c.
 */
#ifndef CERTGATE_SERVER_REST_CRL_H
#define CERTGATE_SERVER_REST_CRL_H

#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

/* Most entries one CSV file may hold (reference §4.3). */
#define REST_CRL_CSV_MAX 5000
/* Most entries one JSON body may hold (the registry's own cap). */
#define REST_CRL_JSON_MAX 100000
/* The exact message Cumulocity answers for a revocationDate in another format. */
#define REST_CRL_DATE_MESSAGE                                                                      \
    "Unsupported date time format, supported format:yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"

/* rest_crl_parse_json: {"crls": [{"serialNumberInHex": "1000", "revocationDate":
 * "2023-01-11T16:12:36.288Z"}, ...]}; revocationDate is optional and must have exactly that
 * form; other members are ignored. *out (malloc'd, caller frees; NULL when *n is 0) and *n
 * on success. 0; -1 with *status and why[whylen]; -ENOMEM. */
int rest_crl_parse_json(const uint8_t *body, size_t len, struct reg_revoked **out, int *n,
                        int *status, char *why, size_t whylen);

/* rest_crl_parse_csv: a CSV file of revocations (separator ',' ';' or tab, see
 * http/csv.h): the first column is the serial in hex, the optional second column the
 * revocation date in the JSON form; further columns are ignored. The first row is a header
 * row ("SERIAL NO.,REVOCATION DATE", "SERIALNO,DATE", anything) unless its first field is
 * itself a hex serial and its second field is absent, empty or a date in the required form:
 * then it is the first data row, so that a file without a header loses no revocation.
 * At most max_entries (1..REST_CRL_CSV_MAX) rows. Results and errors as
 * rest_crl_parse_json, with messages naming the line. */
int rest_crl_parse_csv(const uint8_t *data, size_t len, int max_entries, struct reg_revoked **out,
                       int *n, int *status, char *why, size_t whylen);

#endif
