#include "core/timeutil.h"

#include "core/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void time_format_iso(int64_t ms, char out[TIME_ISO_LEN])
{
    time_t sec = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)sec * 1000);
    struct tm tm;
    if (gmtime_r(&sec, &tm) == NULL) {
        memcpy(out, "1970-01-01T00:00:00.000Z", 25);
        return;
    }
    /* Years outside 0..9999 cannot be written in this form; clamp (certificates use them). */
    int year = tm.tm_year + 1900;
    year = year < 0 ? 0 : year > 9999 ? 9999 : year;
    snprintf(out, TIME_ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, (tm.tm_mon + 1) % 100,
             tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100, frac % 1000);
}

/* Reads exactly `n` digits at *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) {
            return -1;
        }
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int days_in_month(int year, int mon)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[mon - 1] + (mon == 2 ? leap : 0);
}

static int parse(const char *s, int64_t *ms, int strict)
{
    const char *p = s;
    int year, mon, day, hour = 0, min = 0, sec = 0, millis = 0;
    if (!strict && *p == '@') {
        char *end;
        long long v = strtoll(p + 1, &end, 10);
        if (end == p + 1 || *end != 0 || v < 0 || v > 253402300799LL) {
            return CG_EPARSE;
        }
        *ms = (int64_t)v * 1000;
        return 0;
    }
    if (digits(&p, 4, &year) || *p++ != '-' || digits(&p, 2, &mon) || *p++ != '-' ||
        digits(&p, 2, &day)) {
        return CG_EPARSE;
    }
    if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon)) {
        return CG_EPARSE;
    }
    int64_t offset_s = 0;
    if (*p == 0 && !strict) {
        goto compute;
    }
    if ((*p != 'T' && (strict || *p != 't')) || (p++, 0)) {
        return CG_EPARSE;
    }
    if (digits(&p, 2, &hour) || *p++ != ':' || digits(&p, 2, &min) || *p++ != ':' ||
        digits(&p, 2, &sec)) {
        return CG_EPARSE;
    }
    if (hour > 23 || min > 59 || sec > 60) {
        return CG_EPARSE;
    }
    if (sec == 60) {
        sec = 59; /* leap second: clamp */
    }
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n < 3) {
                millis = millis * 10 + (*p - '0');
            }
            n++;
            p++;
        }
        if (n == 0 || (strict && n != 3)) {
            return CG_EPARSE;
        }
        for (; n < 3; n++) {
            millis *= 10;
        }
    } else if (strict) {
        return CG_EPARSE;
    }
    if (*p == 'Z' || (!strict && *p == 'z')) {
        p++;
    } else if (!strict && (*p == '+' || *p == '-')) {
        int sign = *p == '-' ? -1 : 1;
        int oh, om;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59) {
            return CG_EPARSE;
        }
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return CG_EPARSE;
    }
    if (*p != 0) {
        return CG_EPARSE;
    }
compute:;
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - offset_s) * 1000 + millis;
    return 0;
}

int time_parse_iso(const char *s, int64_t *ms)
{
    return parse(s, ms, 0);
}

int time_parse_iso_strict(const char *s, int64_t *ms)
{
    return parse(s, ms, 1);
}
