/* Devices: inventory (reference §13.5), identity (§13.6) and bulk registration (§8).
 *
 * Every device of the registry is a managed object of the caller's tenant:
 *   {"id": "<registry id>", "self", "name", "type", "owner": "device_<external id>",
 *    "creationTime", "lastUpdated", "c8y_IsDevice": {},
 *    "certgate_Registration": {"registration": "bulk"|"auto", "authType":
 *        "CERTIFICATES"|"BASIC", "externalId": {"type", "value"}, "trustedCertificate": <anchor
 *        fingerprint>, "firstSeen", "lastSeen"},
 *    <the custom fragments of its bulk CSV row>, "childDevices" ... (empty references)}
 * lastUpdated is the registration time: certgate changes a device only by re-registering it.
 *
 * Who sees what:
 * - ROLE_INVENTORY_READ/_ADMIN (inventory) and ROLE_IDENTITY_READ/_ADMIN (identity) see every
 *   device of their own tenant; no path or id reaches another tenant's devices (they answer
 *   404 as if they did not exist).
 * - A device principal (client certificate, device token, or a BASIC device user) sees only
 *   its own managed object and external ids. Every other id answers 404, exactly as an id
 *   that does not exist, so a device learns nothing about other devices. (Decision: 404, not
 *   403, because 403 would confirm that the id exists.)
 * - Deleting needs ROLE_INVENTORY_ADMIN or ROLE_DEVICE_CONTROL_ADMIN; it removes the device
 *   user too (Cumulocity's withDeviceUser=true) and closes its live sessions.
 *
 * Bulk registration takes a multipart/form-data part "file" holding the CSV (separator
 * detected: tab, ';' or ','). Columns: ID, CREDENTIALS, AUTH_TYPE, TENANT, TYPE, NAME, IDTYPE,
 * ICCID (-> c8y_Mobile.iccid), PATH (-> certgate_GroupPath: certgate has no groups, the
 * path is kept as a string), SHELL (1 -> c8y_SupportedOperations ["c8y_Command"]),
 * ENROLLMENT_OTP (rows using it fail: EST is not supported), external-<type> (an extra
 * external id, kept as the property "external-<type>" and found by GET
 * /identity/externalIds/<type>/<value>), and any other column as a custom property (dotted
 * names become nested objects, values are strings, empty values are left out). The answer's
 * failedCreationList[].line describes the row with its credentials masked.
 */
#define LOG_MODULE "rest"
#include "auth/roles.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "http/csv.h"
#include "http/multipart.h"
#include "server/rest.h"
#include "server/rest_json_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INVENTORY_READ (ROLE_INVENTORY_READ | ROLE_INVENTORY_ADMIN)
#define IDENTITY_READ (ROLE_IDENTITY_READ | ROLE_IDENTITY_ADMIN)
#define IDS_MAX 100 /* ids in ?ids=1,2,3 */

/* Top-level names a managed object has of its own; custom fragments cannot use them. */
static const char *const reserved_fragments[] = {
    "id",
    "self",
    "name",
    "type",
    "owner",
    "creationTime",
    "lastUpdated",
    "c8y_IsDevice",
    "certgate_Registration",
    "childDevices",
    "childAssets",
    "childAdditions",
    "deviceParents",
    "assetParents",
    "additionParents",
};

static bool reserved_fragment(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(reserved_fragments) / sizeof(reserved_fragments[0]); i++) {
        if (strlen(reserved_fragments[i]) == len && memcmp(reserved_fragments[i], name, len) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- managed objects ---- */

static json_t *refs_json(const char *mo_self, const char *what)
{
    char *self = str_printf("%s/%s", mo_self, what);
    json_t *v = json_pack("{s:s?, s:[]}", "self", self, "references");
    free(self);
    return v;
}

static json_t *mo_json(struct rest_ctx *x, const struct reg_device *d)
{
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)d->id);
    char *self = rest_url(x, "/inventory/managedObjects/%s", id);
    char owner[REG_NAME_MAX + 8];
    snprintf(owner, sizeof(owner), "device_%s", d->external_id);
    json_t *reg = json_pack("{s:s, s:s, s:{s:s, s:s}}", "registration",
                            d->registration == REG_REGISTERED_BULK ? "bulk" : "auto", "authType",
                            d->auth == REG_AUTH_BASIC ? "BASIC" : "CERTIFICATES", "externalId",
                            "type", d->id_type, "value", d->external_id);
    if (reg != NULL && d->anchor_fp[0] != 0) {
        json_object_set_new(reg, "trustedCertificate", json_string(d->anchor_fp));
    }
    if (reg != NULL && d->first_seen_ms > 0) {
        json_object_set_new(reg, "firstSeen", rest_time(d->first_seen_ms));
    }
    if (reg != NULL && d->last_seen_ms > 0) {
        json_object_set_new(reg, "lastSeen", rest_time(d->last_seen_ms));
    }
    json_t *v = json_pack("{s:s, s:s?, s:s}", "id", id, "self", self, "name",
                          d->name[0] ? d->name : d->external_id);
    if (v == NULL || self == NULL) {
        json_decref(reg);
        json_decref(v);
        free(self);
        return NULL;
    }
    if (d->type[0] != 0) {
        json_object_set_new(v, "type", json_string(d->type));
    }
    json_object_set_new(v, "owner", json_string(owner));
    json_object_set_new(v, "creationTime", rest_time(d->created_ms));
    json_object_set_new(v, "lastUpdated", rest_time(d->created_ms));
    json_object_set_new(v, "c8y_IsDevice", json_object());
    json_object_set_new(v, "certgate_Registration", reg);
    json_t *frags = json_loads(d->fragments ? d->fragments : "{}", 0, NULL);
    if (json_is_object(frags)) {
        const char *key;
        json_t *val;
        json_object_foreach(frags, key, val)
        {
            if (!reserved_fragment(key, strlen(key))) {
                json_object_set(v, key, val);
            }
        }
    }
    json_decref(frags);
    static const char *const refs[] = {"childDevices",  "childAssets",  "childAdditions",
                                       "deviceParents", "assetParents", "additionParents"};
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        json_object_set_new(v, refs[i], refs_json(self, refs[i]));
    }
    free(self);
    return v;
}

/* The device a device principal is; NULL for every other caller. */
static const char *own_device(const struct rest_ctx *x)
{
    return x->who.device[0] != 0 && principal_has(&x->who, ROLE_DEVICE) ? x->who.device : NULL;
}

/* Whether the caller may read devices with `roles`; a device principal may read only its
 * own (*own set). Answers 403 otherwise. */
static bool may_read(struct rest_ctx *x, uint32_t roles, const char **own)
{
    *own = NULL;
    if (principal_has(&x->who, roles)) {
        return true;
    }
    if ((*own = own_device(x)) != NULL) {
        return true;
    }
    return rest_require(x, roles);
}

/* A managed object id: decimal digits; false when it is not one. */
static bool parse_id(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18) {
        return false;
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static void no_mo(struct rest_ctx *x, const char *id)
{
    rest_error(x, 404, "inventory/Not Found",
               "Finding device data from database failed : No managedObject for id '%.64s'!", id);
}

/* Load device `idtext` of the caller's tenant, visible to the caller (own: only that
 * device). false after answering 404/500. */
static bool load_device(struct rest_ctx *x, const char *idtext, const char *own,
                        struct reg_device *d, void (*not_found)(struct rest_ctx *, const char *))
{
    int64_t id;
    if (!parse_id(idtext, &id)) {
        not_found(x, idtext);
        return false;
    }
    int rc = registry_device_get(x->reg, x->who.tenant, id, d);
    if (rc == -ENOENT || (rc == 0 && own != NULL && strcmp(d->external_id, own) != 0)) {
        if (rc == 0) {
            reg_device_cleanup(d);
        }
        not_found(x, idtext);
        return false;
    }
    if (rc < 0) {
        rest_fail(x, rc, "inventory", "", "");
        return false;
    }
    return true;
}

/* fragmentType: the JSON text `"<name>":` every device with that top-level fragment
 * contains; NULL when every device has it (c8y_IsDevice, certgate_Registration, ...). */
static char *fragment_text(const char *name)
{
    if (reserved_fragment(name, strlen(name))) {
        return NULL;
    }
    json_t *s = json_string(name);
    char *enc = s ? json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(s);
    char *out = enc ? str_printf("%s:", enc) : NULL;
    free(enc);
    return out;
}

/* GET /inventory/managedObjects?ids=1,2,3: the listed devices the caller may see. */
static void list_by_ids(struct rest_ctx *x, const char *ids, const char *own,
                        const struct http_paging *pg, int64_t offset)
{
    json_t *all = json_array();
    char *copy = strdup(ids);
    char *save = NULL;
    if (copy == NULL || all == NULL) {
        free(copy);
        json_decref(all);
        rest_fail(x, -ENOMEM, "inventory", "", "");
        return;
    }
    int count = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        int64_t id;
        tok = str_trim(tok);
        if (++count > IDS_MAX || !parse_id(tok, &id)) {
            free(copy);
            json_decref(all);
            rest_error(x, 422, "inventory/Invalid Data",
                       "ids must be a comma-separated list of at most %d managed object ids",
                       IDS_MAX);
            return;
        }
        struct reg_device d;
        int rc = registry_device_get(x->reg, x->who.tenant, id, &d);
        if (rc == 0) {
            if (own == NULL || strcmp(d.external_id, own) == 0) {
                json_array_append_new(all, mo_json(x, &d));
            }
            reg_device_cleanup(&d);
        } else if (rc != -ENOENT) {
            free(copy);
            json_decref(all);
            rest_fail(x, rc, "inventory", "", "");
            return;
        }
    }
    free(copy);
    json_t *page = json_array();
    for (size_t i = (size_t)offset;
         i < json_array_size(all) && json_array_size(page) < (size_t)pg->page_size; i++) {
        json_array_append(page, json_array_get(all, i));
    }
    int64_t total = (int64_t)json_array_size(all);
    json_decref(all);
    rest_json(x, 200, rest_collection(x, "managedObjects", page, pg, total), MEDIA_MO_COLL);
}

static void get_managed_objects(struct rest_ctx *x)
{
    struct http_paging pg;
    int64_t offset;
    const char *own;
    char *frag = NULL;
    if (!rest_accept_check(x) || !may_read(x, INVENTORY_READ, &own) ||
        !rest_page(x, &pg, &offset)) {
        return;
    }
    static const char *const unsupported[] = {"query", "q", "childDeviceId", "childAssetId",
                                              "childAdditionId"};
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        if (http_query_get(&x->query, unsupported[i]) != NULL) {
            rest_error(x, 422, "inventory/Invalid Data",
                       "certgate does not support the %s parameter; filter with text, type, "
                       "owner, fragmentType or ids",
                       unsupported[i]);
            return;
        }
    }
    const char *ids = http_query_get(&x->query, "ids");
    if (ids != NULL && ids[0] != 0) {
        list_by_ids(x, ids, own, &pg, offset);
        return;
    }
    struct reg_device_filter f = {0};
    const char *v;
    if ((v = http_query_get(&x->query, "text")) != NULL && v[0] != 0) {
        f.text = v;
    }
    if ((v = http_query_get(&x->query, "type")) != NULL && v[0] != 0) {
        f.type = v;
    }
    bool empty = false;
    if ((v = http_query_get(&x->query, "owner")) != NULL && v[0] != 0) {
        /* Devices are owned by their device user. */
        if (str_has_prefix(v, "device_") && v[7] != 0) {
            f.external_id = v + 7;
        } else {
            empty = true;
        }
    }
    if (own != NULL) {
        if (f.external_id != NULL && strcmp(f.external_id, own) != 0) {
            empty = true;
        }
        f.external_id = own;
    }
    if ((v = http_query_get(&x->query, "fragmentType")) != NULL && v[0] != 0) {
        frag = fragment_text(v);
        f.fragment_text = frag;
    }
    struct reg_device *items = NULL;
    int n = 0;
    int64_t total = 0;
    if (!empty) {
        int rc = registry_device_list(x->reg, x->who.tenant, &f, offset, (int)pg.page_size, &items,
                                      &n, &total);
        if (rc < 0) {
            free(frag);
            rest_fail(x, rc, "inventory", "", "");
            return;
        }
    }
    free(frag);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(arr, mo_json(x, &items[i]));
    }
    reg_device_list_free(items, n);
    rest_json(x, 200, rest_collection(x, "managedObjects", arr, &pg, total), MEDIA_MO_COLL);
}

static void get_managed_object(struct rest_ctx *x)
{
    const char *own;
    struct reg_device d;
    if (!rest_accept_check(x) || !may_read(x, INVENTORY_READ, &own) ||
        !load_device(x, rest_param(x, "id"), own, &d, no_mo)) {
        return;
    }
    rest_json(x, 200, mo_json(x, &d), MEDIA_MO);
    reg_device_cleanup(&d);
}

static void delete_managed_object(struct rest_ctx *x)
{
    const char *idtext = rest_param(x, "id");
    char why[REG_WHY_MAX] = "";
    int64_t id;
    if (!rest_require(x, ROLE_INVENTORY_ADMIN | ROLE_DEVICE_CONTROL_ADMIN)) {
        return;
    }
    if (!parse_id(idtext, &id)) {
        no_mo(x, idtext);
        return;
    }
    int rc = registry_device_delete(x->reg, &x->who, x->who.tenant, id, why);
    if (rc == -ENOENT) {
        no_mo(x, idtext);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "inventory", why, "");
        return;
    }
    rest_empty(x, 204);
}

/* ---- identity ---- */

static json_t *extid_json(struct rest_ctx *x, const char *type, const char *value, int64_t id)
{
    char idtext[24];
    snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
    char *t = rest_pct(type);
    char *val = rest_pct(value);
    char *self = t && val ? rest_url(x, "/identity/externalIds/%s/%s", t, val) : NULL;
    char *mo = rest_url(x, "/inventory/managedObjects/%s", idtext);
    json_t *v = json_pack("{s:s, s:s, s:s?, s:{s:s, s:s?}}", "externalId", value, "type", type,
                          "self", self, "managedObject", "id", idtext, "self", mo);
    free(t);
    free(val);
    free(self);
    free(mo);
    return v;
}

static void no_extid(struct rest_ctx *x, const char *type, const char *value)
{
    rest_error(x, 404, "identity/Not Found",
               "External ID not found; external id = [type=%.64s, value=%.255s]", type, value);
}

static void no_global_id(struct rest_ctx *x, const char *id)
{
    rest_error(x, 404, "identity/Not Found", "Global ID not found: %.64s", id);
}

/* The extra external id "external-<type>" of a bulk row, as a top-level string. */
static const char *extra_id(json_t *frags, const char *type)
{
    char key[160];
    snprintf(key, sizeof(key), "external-%s", type);
    const json_t *v = json_object_get(frags, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Find the device holding the extra external id (type, value): 0 and *out, -ENOENT. */
static int find_extra_id(struct rest_ctx *x, const char *type, const char *value,
                         struct reg_device *out)
{
    char key[160];
    if (snprintf(key, sizeof(key), "external-%s", type) >= (int)sizeof(key)) {
        return -ENOENT;
    }
    json_t *pair = json_pack("{s:s}", key, value);
    char *text = pair ? json_dumps(pair, JSON_COMPACT) : NULL;
    json_decref(pair);
    if (text == NULL) {
        return -ENOMEM;
    }
    /* {"k":"v"} -> "k":"v" : the stored fragments contain it for a match (a nested
     * property may too, so each candidate is checked). */
    size_t len = strlen(text);
    text[len - 1] = 0;
    struct reg_device_filter f = {.fragment_text = text + 1};
    enum { PAGE = 50 };
    int rc = -ENOENT;
    for (int64_t offset = 0; rc == -ENOENT; offset += PAGE) {
        struct reg_device *items = NULL;
        int n = 0;
        int lrc = registry_device_list(x->reg, x->who.tenant, &f, offset, PAGE, &items, &n, NULL);
        if (lrc < 0) {
            rc = lrc;
            break;
        }
        for (int i = 0; i < n && rc == -ENOENT; i++) {
            json_t *frags = json_loads(items[i].fragments, 0, NULL);
            const char *found = extra_id(frags, type);
            if (found != NULL && strcmp(found, value) == 0) {
                *out = items[i];
                items[i].fragments = NULL; /* moved to *out */
                rc = 0;
            }
            json_decref(frags);
        }
        reg_device_list_free(items, n);
        if (n < PAGE) {
            break;
        }
    }
    free(text);
    return rc;
}

static void get_external_id(struct rest_ctx *x)
{
    const char *type = rest_param(x, "type");
    const char *value = rest_param(x, "externalId");
    const char *own;
    if (!rest_accept_check(x) || !may_read(x, IDENTITY_READ, &own)) {
        return;
    }
    struct reg_device d;
    int rc = registry_device_get_external(x->reg, x->who.tenant, type, value, &d);
    if (rc == -ENOENT) {
        rc = find_extra_id(x, type, value, &d);
    }
    if (rc == -ENOENT || (rc == 0 && own != NULL && strcmp(d.external_id, own) != 0)) {
        if (rc == 0) {
            reg_device_cleanup(&d);
        }
        no_extid(x, type, value);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "identity", "", "");
        return;
    }
    rest_json(x, 200, extid_json(x, type, value, d.id), MEDIA_EXTID);
    reg_device_cleanup(&d);
}

static void get_global_external_ids(struct rest_ctx *x)
{
    const char *own;
    struct reg_device d;
    const char *idtext = rest_param(x, "id");
    if (!rest_accept_check(x) || !may_read(x, IDENTITY_READ, &own) ||
        !load_device(x, idtext, own, &d, no_global_id)) {
        return;
    }
    json_t *arr = json_array();
    json_array_append_new(arr, extid_json(x, d.id_type, d.external_id, d.id));
    json_t *frags = json_loads(d.fragments ? d.fragments : "{}", 0, NULL);
    const char *key;
    json_t *v;
    json_object_foreach(frags, key, v)
    {
        if (str_has_prefix(key, "external-") && key[9] != 0 && json_is_string(v)) {
            json_array_append_new(arr, extid_json(x, key + 9, json_string_value(v), d.id));
        }
    }
    json_decref(frags);
    char *self = rest_url(x, "/identity/globalIds/%s/externalIds", idtext);
    json_t *coll = json_pack("{s:s?, s:o}", "self", self, "externalIds", arr);
    free(self);
    reg_device_cleanup(&d);
    rest_json(x, 200, coll, MEDIA_EXTID_COLL);
}

/* ---- bulk registration ---- */

enum column {
    COL_ID,
    COL_CREDENTIALS,
    COL_AUTH_TYPE,
    COL_TENANT,
    COL_TYPE,
    COL_NAME,
    COL_IDTYPE,
    COL_ICCID,
    COL_PATH,
    COL_SHELL,
    COL_OTP,
    NCOLS,
};

static const char *const column_names[NCOLS] = {
    "ID",     "CREDENTIALS", "AUTH_TYPE", "TENANT", "TYPE",           "NAME",
    "IDTYPE", "ICCID",       "PATH",      "SHELL",  "ENROLLMENT_OTP",
};

/* A property path: "a.b.c" split into at most 8 parts. */
#define PATH_PARTS 8
struct prop {
    int col;
    int nparts;
    char parts[PATH_PARTS][128];
};

struct bulk_header {
    int col[NCOLS]; /* CSV column index of each known column, -1 when absent */
    int nprops;
    struct prop props[HTTP_CSV_MAX_FIELDS + 3];
};

/* The fixed property paths that known columns fill. */
#define PROP_ICCID (-2)
#define PROP_SHELL (-3)
#define PROP_PATH (-4)

static bool paths_clash(const struct prop *a, const struct prop *b)
{
    int n = a->nparts < b->nparts ? a->nparts : b->nparts;
    for (int i = 0; i < n; i++) {
        if (strcmp(a->parts[i], b->parts[i]) != 0) {
            return false;
        }
    }
    return true; /* equal, or one is inside the other */
}

/* Split a custom header into a property path. `literal` keeps it whole (external-<type>).
 * false after answering 422. */
static bool prop_parse(struct rest_ctx *x, const char *name, bool literal, struct prop *p)
{
    p->nparts = 0;
    const char *s = name;
    for (;;) {
        const char *dot = literal ? NULL : strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (len == 0 || len >= sizeof(p->parts[0]) || p->nparts == PATH_PARTS) {
            rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                       "bulk CSV: column '%.128s' is not a usable property name (1 to 127 "
                       "characters per dotted part, at most %d parts)",
                       name, PATH_PARTS);
            return false;
        }
        memcpy(p->parts[p->nparts], s, len);
        p->parts[p->nparts][len] = 0;
        p->nparts++;
        if (dot == NULL) {
            break;
        }
        s = dot + 1;
    }
    if (reserved_fragment(p->parts[0], strlen(p->parts[0]))) {
        rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                   "bulk CSV: column '%.128s' would overwrite the managed object's own "
                   "property '%s'",
                   name, p->parts[0]);
        return false;
    }
    return true;
}

static void prop_fixed(struct prop *p, int col, const char *a, const char *b)
{
    p->col = col;
    p->nparts = b ? 2 : 1;
    str_lcpy(p->parts[0], a, sizeof(p->parts[0]));
    if (b != NULL) {
        str_lcpy(p->parts[1], b, sizeof(p->parts[1]));
    }
}

/* Classify the header row. false after answering 422. */
static bool read_header(struct rest_ctx *x, const struct http_csv *csv, struct bulk_header *h)
{
    for (int c = 0; c < NCOLS; c++) {
        h->col[c] = -1;
    }
    h->nprops = 0;
    for (size_t i = 0; i < csv->nheader; i++) {
        char name[256];
        if (csv->header_len[i] >= sizeof(name)) {
            rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                       "bulk CSV: the name of column %zu is longer than %zu bytes", i + 1,
                       sizeof(name) - 1);
            return false;
        }
        str_lcpy(name, csv->header[i], sizeof(name));
        char *n = str_trim(name);
        if (n[0] == 0) {
            rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                       "bulk CSV: column %zu of the header row has no name", i + 1);
            return false;
        }
        int known = -1;
        for (int c = 0; c < NCOLS; c++) {
            if (str_case_eq(n, column_names[c])) {
                known = c;
            }
        }
        if (known >= 0) {
            if (h->col[known] >= 0) {
                rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                           "bulk CSV: column %s appears twice in the header row",
                           column_names[known]);
                return false;
            }
            h->col[known] = (int)i;
            continue;
        }
        struct prop *p = &h->props[h->nprops];
        bool external = strncasecmp(n, "external-", 9) == 0;
        if (external && n[9] == 0) {
            rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                       "bulk CSV: column 'external-' needs an id type, such as external-c8y_Imei");
            return false;
        }
        if (external) {
            memcpy(n, "external-", 9); /* one spelling for lookups */
        }
        if (!prop_parse(x, n, external, p)) {
            return false;
        }
        p->col = (int)i;
        h->nprops++;
    }
    if (h->col[COL_ID] < 0) {
        rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                   "bulk CSV: the header row needs an ID column, e.g. "
                   "ID;CREDENTIALS;AUTH_TYPE;NAME;TYPE");
        return false;
    }
    if (h->col[COL_ICCID] >= 0) {
        prop_fixed(&h->props[h->nprops++], PROP_ICCID, "c8y_Mobile", "iccid");
    }
    if (h->col[COL_SHELL] >= 0) {
        prop_fixed(&h->props[h->nprops++], PROP_SHELL, "c8y_SupportedOperations", NULL);
    }
    if (h->col[COL_PATH] >= 0) {
        prop_fixed(&h->props[h->nprops++], PROP_PATH, "certgate_GroupPath", NULL);
    }
    for (int i = 0; i < h->nprops; i++) {
        for (int j = i + 1; j < h->nprops; j++) {
            if (paths_clash(&h->props[i], &h->props[j])) {
                rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                           "bulk CSV: the columns for '%s' and '%s' would write the same "
                           "property",
                           h->props[i].parts[0], h->props[j].parts[0]);
                return false;
            }
        }
    }
    return true;
}

/* One data row: the registry's view plus what the answer needs. Strings are owned. */
struct bulk_item {
    struct reg_bulk_row row;
    char *refused; /* malloc'd reason when certgate refused the row before the registry */
};

static void item_cleanup(struct bulk_item *it)
{
    free((char *)it->row.id);
    free_secret((char *)it->row.credentials);
    free((char *)it->row.auth_type);
    free((char *)it->row.tenant);
    free((char *)it->row.type);
    free((char *)it->row.name);
    free((char *)it->row.id_type);
    free((char *)it->row.fragments);
    free(it->refused);
}

static const char *field_of(const struct http_csv *csv, int col)
{
    return col >= 0 && (size_t)col < csv->nfields ? csv->field[col] : "";
}

/* Set the string value at a property path inside obj (creating objects on the way). */
static void set_path(json_t *obj, const struct prop *p, json_t *value)
{
    for (int i = 0; i < p->nparts - 1; i++) {
        json_t *next = json_object_get(obj, p->parts[i]);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(obj, p->parts[i], next);
        }
        obj = next;
    }
    json_object_set_new(obj, p->parts[p->nparts - 1], value);
}

/* Build one item from the current CSV row (never fails except -ENOMEM). */
static int item_read(const struct http_csv *csv, const struct bulk_header *h, struct bulk_item *it)
{
    memset(it, 0, sizeof(*it));
    it->row.line = (int)csv->line;
    const char *shell = field_of(csv, h->col[COL_SHELL]);
    const char *auth = field_of(csv, h->col[COL_AUTH_TYPE]);
    it->row.id = strdup(field_of(csv, h->col[COL_ID]));
    it->row.credentials = strdup(field_of(csv, h->col[COL_CREDENTIALS]));
    it->row.auth_type = strdup(str_case_eq(auth, "CERTIFICATES") ? "CERTIFICATES"
                               : str_case_eq(auth, "BASIC")      ? "BASIC"
                                                                 : auth);
    it->row.tenant = strdup(field_of(csv, h->col[COL_TENANT]));
    it->row.type = strdup(field_of(csv, h->col[COL_TYPE]));
    it->row.name = strdup(field_of(csv, h->col[COL_NAME]));
    it->row.id_type = strdup(field_of(csv, h->col[COL_IDTYPE]));
    if (!it->row.id || !it->row.credentials || !it->row.auth_type || !it->row.tenant ||
        !it->row.type || !it->row.name || !it->row.id_type) {
        return -ENOMEM;
    }
    /* Checks of certgate's own (the registry checks ID, AUTH_TYPE, CREDENTIALS, TENANT). */
    const char *refuse = NULL;
    bool uses_extras = field_of(csv, h->col[COL_ICCID])[0] || it->row.id_type[0] ||
                       field_of(csv, h->col[COL_PATH])[0] || shell[0];
    for (size_t i = csv->nheader; i < csv->nfields && refuse == NULL; i++) {
        if (csv->field[i][0] != 0) {
            refuse = "the row has more values than the header row has columns";
        }
    }
    if (refuse == NULL && field_of(csv, h->col[COL_OTP])[0] != 0) {
        refuse = "ENROLLMENT_OTP is not supported: certgate does not offer EST enrollment";
    } else if (refuse == NULL &&
               !(shell[0] == 0 || strcmp(shell, "0") == 0 || strcmp(shell, "1") == 0 ||
                 str_case_eq(shell, "true") || str_case_eq(shell, "false"))) {
        refuse = "SHELL must be 1 (shell support) or 0";
    } else if (refuse == NULL && uses_extras && (it->row.type[0] == 0 || it->row.name[0] == 0)) {
        refuse = "TYPE and NAME are required when ICCID, IDTYPE, PATH or SHELL is given";
    }
    if (refuse != NULL) {
        it->refused = str_printf("line %d: %s", it->row.line, refuse);
        return it->refused ? 0 : -ENOMEM;
    }
    json_t *frags = json_object();
    if (frags == NULL) {
        return -ENOMEM;
    }
    for (int i = 0; i < h->nprops; i++) {
        const struct prop *p = &h->props[i];
        if (p->col == PROP_SHELL) {
            if (strcmp(shell, "1") == 0 || str_case_eq(shell, "true")) {
                set_path(frags, p, json_pack("[s]", "c8y_Command"));
            }
            continue;
        }
        const char *v = field_of(csv, p->col == PROP_ICCID  ? h->col[COL_ICCID]
                                      : p->col == PROP_PATH ? h->col[COL_PATH]
                                                            : p->col);
        if (v[0] != 0) {
            set_path(frags, p, json_string(v));
        }
    }
    if (json_object_size(frags) > 0) {
        it->row.fragments = json_dumps(frags, JSON_COMPACT);
        if (it->row.fragments == NULL) {
            json_decref(frags);
            return -ENOMEM;
        }
    }
    json_decref(frags);
    return 0;
}

/* The failed row as the answer describes it: never with its credentials. */
static char *masked_line(const struct reg_bulk_row *row)
{
    return str_printf("DeviceInfo{line=%d, id='%s', credentials='%s', authType='%s', "
                      "tenant='%s', type='%s', name='%s'}",
                      row->line, row->id, row->credentials[0] ? "******" : "", row->auth_type,
                      row->tenant, row->type, row->name);
}

static json_t *failed_json(const struct reg_bulk_row *row, const char *reason)
{
    char *line = masked_line(row);
    json_t *v = json_pack("{s:s, s:s, s:s, s:s?}", "bulkNewDeviceStatus", "FAILED", "deviceId",
                          row->id, "failureReason", reason, "line", line);
    free(line);
    return v;
}

/* Read every row of the CSV into *items. false after answering (422 / 500). */
static bool read_rows(struct rest_ctx *x, struct http_csv *csv, const struct bulk_header *h,
                      struct bulk_item **items, int *n)
{
    size_t cap = 0;
    *items = NULL;
    *n = 0;
    int rc;
    while ((rc = http_csv_next(csv)) == 1) {
        if ((size_t)*n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            struct bulk_item *grown = realloc(*items, ncap * sizeof(**items));
            if (grown == NULL) {
                rc = -ENOMEM;
                break;
            }
            *items = grown;
            cap = ncap;
        }
        rc = item_read(csv, h, &(*items)[*n]);
        (*n)++;
        if (rc < 0) {
            break;
        }
    }
    if (rc == 0) {
        return true;
    }
    if (rc == -ENOMEM) {
        rest_fail(x, rc, "devicecontrol", "", "");
    } else {
        rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                   "bulk CSV: %s (nothing was registered)", csv->error);
    }
    return false;
}

static void post_bulk(struct rest_ctx *x)
{
    char *ctype = NULL;
    struct http_multipart mp;
    memset(&mp, 0, sizeof(mp));
    struct http_csv csv;
    memset(&csv, 0, sizeof(csv));
    bool csv_open = false;
    struct bulk_header *h = NULL;
    struct bulk_item *items = NULL;
    int nitems = 0;
    struct reg_bulk_row *rows = NULL;
    struct reg_bulk_result *results = NULL;
    if (!rest_accept_check(x) || !rest_require(x, ROLE_DEVICE_CONTROL_ADMIN)) {
        goto out;
    }
    ctype = rest_header(x, "Content-Type");
    struct http_content_type ct;
    if (ctype == NULL || http_content_type_parse(ctype, strlen(ctype), &ct) < 0 ||
        !http_content_type_is(&ct, "multipart", "form-data")) {
        rest_error(x, 415, "devicecontrol/Unsupported Media Type",
                   "send the CSV as multipart/form-data with a part named 'file' (curl "
                   "--form file=@bulk.csv)");
        goto out;
    }
    int rc = http_multipart_parse(ctype, strlen(ctype), x->body, x->body_len, &mp);
    if (rc < 0) {
        rest_error(x, 400, "devicecontrol/Bad Request",
                   rc == CG_ELIMIT ? "the multipart/form-data body has too many parts or too "
                                     "large part headers"
                                   : "the multipart/form-data body is malformed");
        goto out;
    }
    const struct http_part *file = http_multipart_find(&mp, "file");
    if (file == NULL) {
        rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                   "the form has no part named 'file' holding the CSV");
        goto out;
    }
    csv_open = true;
    if (http_csv_init(&csv, file->data, file->len, NULL) < 0) {
        rest_error(x, 422, "devicecontrol/Unprocessable Entity", "bulk CSV: %s",
                   csv.error[0] ? csv.error : "the file has no header row");
        goto out;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        rest_fail(x, -ENOMEM, "devicecontrol", "", "");
        goto out;
    }
    if (!read_header(x, &csv, h) || !read_rows(x, &csv, h, &items, &nitems)) {
        goto out;
    }
    if (nitems == 0) {
        rest_error(x, 422, "devicecontrol/Unprocessable Entity",
                   "bulk CSV: the file has a header row but no data rows");
        goto out;
    }
    rows = calloc((size_t)nitems, sizeof(*rows));
    results = calloc((size_t)nitems, sizeof(*results));
    if (rows == NULL || results == NULL) {
        rest_fail(x, -ENOMEM, "devicecontrol", "", "");
        goto out;
    }
    int nrows = 0;
    for (int i = 0; i < nitems; i++) {
        if (items[i].refused == NULL) {
            rows[nrows++] = items[i].row;
        }
    }
    if (nrows > 0) {
        rc = registry_bulk_register(x->reg, &x->who, x->who.tenant, rows, nrows, results);
        if (rc < 0) {
            rest_fail(x, rc, "devicecontrol", "", "");
            goto out;
        }
    }
    /* Results in file order: certgate's refusals and the registry's verdicts. */
    int created = 0, updated = 0, failed = 0;
    json_t *updated_list = json_array();
    json_t *failed_list = json_array();
    for (int i = 0, k = 0; i < nitems; i++) {
        const struct reg_bulk_row *row = &items[i].row;
        if (items[i].refused != NULL) {
            failed++;
            json_array_append_new(failed_list, failed_json(row, items[i].refused));
            continue;
        }
        const struct reg_bulk_result *res = &results[k++];
        if (res->status == REG_BULK_CREATED) {
            created++;
        } else if (res->status == REG_BULK_CREDENTIAL_UPDATED) {
            updated++;
            json_array_append_new(updated_list,
                                  json_pack("{s:s, s:s}", "bulkNewDeviceStatus",
                                            "CREDENTIAL_UPDATED", "deviceId", row->id));
        } else {
            failed++;
            json_array_append_new(failed_list, failed_json(row, res->reason));
        }
    }
    log_info("bulk registration by %s/%s: %d rows, %d created, %d credentials updated, %d "
             "failed",
             x->who.tenant, x->who.user, nitems, created, updated, failed);
    json_t *v =
        json_pack("{s:i, s:i, s:i, s:i, s:o, s:o}", "numberOfAll", nitems, "numberOfCreated",
                  created, "numberOfFailed", failed, "numberOfSuccessful", created + updated,
                  "credentialUpdatedList", updated_list, "failedCreationList", failed_list);
    rest_json(x, 201, v, MEDIA_BULK);
out:
    for (int i = 0; i < nitems; i++) {
        item_cleanup(&items[i]);
    }
    free(items);
    free(rows);
    free(results);
    free(h);
    if (csv_open) {
        http_csv_cleanup(&csv);
    }
    http_multipart_cleanup(&mp);
    free(ctype);
}

REST_ROUTES(
    rest_routes_devices,
    {HTTP_METHOD_GET, "/inventory/managedObjects", REST_AUTH, get_managed_objects},
    {HTTP_METHOD_GET, "/inventory/managedObjects/{id}", REST_AUTH, get_managed_object},
    {HTTP_METHOD_DELETE, "/inventory/managedObjects/{id}", REST_AUTH, delete_managed_object},
    {HTTP_METHOD_GET, "/identity/externalIds/{type}/{externalId}", REST_AUTH, get_external_id},
    {HTTP_METHOD_GET, "/identity/globalIds/{id}/externalIds", REST_AUTH, get_global_external_ids},
    {HTTP_METHOD_POST, "/devicecontrol/bulkNewDeviceRequests", REST_AUTH, post_bulk}, );
