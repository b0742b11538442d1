/* The web UI's files, embedded at build time (cmake/embed.cmake generates ui_assets.c in the
 * build tree from the files in web/). Immutable static data: any thread may read it. */
#ifndef CERTGATE_SERVER_UI_ASSETS_H
#define CERTGATE_SERVER_UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
    const char *name;          /* the file name in web/, e.g. "app.js" */
    const unsigned char *data; /* the bytes served (a NUL follows them, not counted) */
    size_t len;
    const char *etag; /* a quoted strong validator: "\"<hash of the bytes>\"" */
};

extern const struct ui_asset ui_assets[];
extern const size_t ui_assets_count;

/* A hash over every file: the value of the "v" query that makes an asset URL cacheable for
 * ever (web/index.html asks for "/ui/app.js?v=<ui_version>"). */
extern const char ui_version[];

#endif
