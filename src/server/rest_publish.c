/* Publishing over HTTPS: a device (by client certificate or device token) or an application
 * user publishes one message into its tenant's MQTT namespace, under the same ACL as over
 * MQTT. POST /mqtt/publish?topic=<topic>&qos=0|1&retain=true|false, the body is the payload. */
#define LOG_MODULE "publish"
#include "broker/broker.h"
#include "core/err.h"
#include "core/log.h"
#include "server/rest.h"
#include "server/server.h"

#include <pthread.h>
#include <string.h>

struct wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int rc;
};

static void published(void *arg, int rc)
{
    struct wait *w = arg;
    pthread_mutex_lock(&w->lock);
    w->rc = rc;
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void post_publish(struct rest_ctx *x)
{
    if (x->srv->broker == NULL) {
        rest_error(x, 503, "general/Service Unavailable", "the MQTT broker is not running");
        return;
    }
    const char *topic = http_query_get(&x->query, "topic");
    if (topic == NULL || topic[0] == 0) {
        rest_error(x, 422, "mqtt/Unprocessable Entity",
                   "give the topic as a query parameter: POST /mqtt/publish?topic=devices/"
                   "<id>/<name>&qos=1 (percent-encode '/' is not needed; '#' and '+' are "
                   "not allowed)");
        return;
    }
    int64_t qos = 0;
    bool retain = false;
    if (http_query_get_int(&x->query, "qos", 0, 1, 0, &qos) < 0 ||
        http_query_get_bool(&x->query, "retain", false, &retain) < 0) {
        rest_error(x, 422, "mqtt/Unprocessable Entity",
                   "qos must be 0 or 1 and retain true or false");
        return;
    }
    struct wait w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    int rc = broker_publish(x->srv->broker, &x->who, topic, x->body, x->body_len, (int)qos, retain,
                            published, &w);
    if (rc == 0) {
        pthread_mutex_lock(&w.lock);
        while (!w.done) {
            pthread_cond_wait(&w.cond, &w.lock);
        }
        pthread_mutex_unlock(&w.lock);
        rc = w.rc;
    }
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    if (rc == CG_EDENIED) {
        rest_error(x, 403, "security/Forbidden",
                   "%s may not publish to '%.200s' (see docs/mqtt.md for the ACL)", x->who.user,
                   topic);
        return;
    }
    if (rc == -EINVAL) {
        rest_error(x, 422, "mqtt/Unprocessable Entity",
                   "'%.200s' is not a valid topic name to publish to (UTF-8, no wildcards, not "
                   "starting with '$')",
                   topic);
        return;
    }
    if (rc < 0) {
        rest_fail(x, rc, "mqtt", "", "");
        return;
    }
    x->keep_body = false;
    rest_json(x, 200,
              json_pack("{s:s, s:i, s:b, s:I}", "topic", topic, "qos", (int)qos, "retain", retain,
                        "bytes", (json_int_t)x->body_len),
              NULL);
}

REST_ROUTES(rest_routes_publish, {HTTP_METHOD_POST, "/mqtt/publish", REST_AUTH, post_publish}, );
