/* Audit records (reference §13.7), read-only.
 *
 * A caller sees the records of its own tenant only; tenant creation, suspension and
 * deletion are recorded in the management tenant. Needs ROLE_AUDIT_READ (or _ADMIN), which
 * tenant administrators have. Newest first by default; revert=true gives oldest first.
 * A record id of another tenant answers 404, like one that does not exist.
 */
#include "auth/roles.h"
#include "core/err.h"
#include "core/str.h"
#include "server/rest.h"
#include "server/rest_json_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_ROLES (ROLE_AUDIT_READ | ROLE_AUDIT_ADMIN)
#define APPLICATION "certgate" /* every record is written by certgate */

static json_t *audit_json(struct rest_ctx *x, const struct reg_audit *a)
{
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)a->id);
    char *self = rest_url(x, "/audit/auditRecords/%s", id);
    json_t *v =
        json_pack("{s:s, s:s?, s:o, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}}", "id", id, "self",
                  self, "creationTime", rest_time(a->time_ms), "time", rest_time(a->time_ms),
                  "type", a->type, "activity", a->activity, "text", a->text, "user", a->user,
                  "application", a->application[0] ? a->application : APPLICATION, "severity",
                  a->severity, "source", "id", a->source);
    free(self);
    return v;
}

static void get_audit_records(struct rest_ctx *x)
{
    struct http_paging pg;
    int64_t offset;
    struct reg_audit_filter f = {0};
    bool revert = false;
    if (!rest_accept_check(x) || !rest_require(x, READ_ROLES) || !rest_page(x, &pg, &offset) ||
        !rest_query_time(x, "dateFrom", &f.date_from_ms) ||
        !rest_query_time(x, "dateTo", &f.date_to_ms) ||
        !rest_query_bool(x, "revert", false, &revert)) {
        return;
    }
    if (f.date_from_ms && f.date_to_ms && f.date_from_ms > f.date_to_ms) {
        rest_error(x, 422, "general/Invalid Data", "dateFrom must not be after dateTo");
        return;
    }
    const char *v;
    if ((v = http_query_get(&x->query, "type")) != NULL && v[0] != 0) {
        f.type = v;
    }
    if ((v = http_query_get(&x->query, "user")) != NULL && v[0] != 0) {
        f.user = v;
    }
    if ((v = http_query_get(&x->query, "source")) != NULL && v[0] != 0) {
        f.source = v;
    }
    f.oldest_first = revert;
    const char *app = http_query_get(&x->query, "application");
    struct reg_audit *items = NULL;
    int n = 0;
    int64_t total = 0;
    if (app == NULL || app[0] == 0 || strcmp(app, APPLICATION) == 0) {
        int rc = registry_audit_list(x->reg, x->who.tenant, &f, offset, (int)pg.page_size, &items,
                                     &n, &total);
        if (rc < 0) {
            rest_fail(x, rc, "audit", "", "");
            return;
        }
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, audit_json(x, &items[i]));
    }
    free(items);
    rest_json(x, 200, rest_collection(x, "auditRecords", arr, &pg, total), MEDIA_AUDIT_COLL);
}

static void get_audit_record(struct rest_ctx *x)
{
    const char *idtext = rest_param(x, "id");
    if (!rest_accept_check(x) || !rest_require(x, READ_ROLES)) {
        return;
    }
    int64_t id = 0;
    size_t n = strlen(idtext);
    bool ok = n > 0 && n <= 18;
    for (size_t i = 0; ok && i < n; i++) {
        ok = idtext[i] >= '0' && idtext[i] <= '9';
        id = id * 10 + (idtext[i] - '0');
    }
    struct reg_audit a;
    int rc = ok ? registry_audit_get(x->reg, x->who.tenant, id, &a) : -ENOENT;
    if (rc == -ENOENT) {
        rest_error(x, 404, "audit/Not Found", "There is no audit record with id '%.64s'", idtext);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "audit", "", "");
        return;
    }
    rest_json(x, 200, audit_json(x, &a), MEDIA_AUDIT);
}

REST_ROUTES(rest_routes_audit,
            {HTTP_METHOD_GET, "/audit/auditRecords", REST_AUTH, get_audit_records},
            {HTTP_METHOD_GET, "/audit/auditRecords/{id}", REST_AUTH, get_audit_record}, );
