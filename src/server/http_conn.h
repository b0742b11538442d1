/* The HTTPS protocol on a net listener: parse requests, run them on the pool, answer. */
#ifndef CERTGATE_SERVER_HTTP_CONN_H
#define CERTGATE_SERVER_HTTP_CONN_H

#include "net/net.h"

/* http_conn_proto: the protocol vtable; the listener's proto_arg must be the struct server. */
const struct net_proto *http_conn_proto(void);

#endif
