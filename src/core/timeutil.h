/* Time: clocks and the ISO 8601 / RFC 3339 text form used by the REST API.
 * Pure functions; thread-safe. Times are milliseconds since the Unix epoch (UTC).
 */
#ifndef CERTGATE_CORE_TIMEUTIL_H
#define CERTGATE_CORE_TIMEUTIL_H

#include <stdint.h>

#define TIME_ISO_LEN 32

/* time_now_ms: wall-clock time in milliseconds since the epoch. */
int64_t time_now_ms(void);

/* time_mono_ms / time_mono_ns: monotonic clock, for intervals and timeouts. */
int64_t time_mono_ms(void);
uint64_t time_mono_ns(void);

/* time_format_iso: "2021-09-03T07:42:00.000Z" (always UTC, milliseconds) into out. */
void time_format_iso(int64_t ms, char out[TIME_ISO_LEN]);

/* time_parse_iso: parse RFC 3339 ("2021-09-03T07:42:00Z", optional fraction, "Z" or
 * "+hh:mm"), a bare date "2021-09-03" (midnight UTC) or "@<unix seconds>".
 * 0 or CG_EPARSE. */
int time_parse_iso(const char *s, int64_t *ms);

/* time_parse_iso_strict: only the exact "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'" form (the CRL API's).
 * 0 or CG_EPARSE. */
int time_parse_iso_strict(const char *s, int64_t *ms);

#endif
