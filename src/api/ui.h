/* SPDX-License-Identifier: MIT */
/*
 * ui.h: the web console's files (ui/ at the top of the tree), compiled into
 * the binary by cmake/embed-ui.cmake: each with its bytes, its content
 * type, a strong ETag and, when it compresses, a gzip variant made at build
 * time.  ui.c serves them under /ui/.
 */
#ifndef AH_UI_H
#define AH_UI_H

#include <stddef.h>

typedef struct ah_ui_asset {
    const char *name;         /* "app.js": the path below /ui/ */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* gzip of data, or NULL when it would not be smaller */
    size_t gz_len;
    const char *etag; /* "\"<32 hex digits of the SHA-256 of data>\"" */
} ah_ui_asset_t;

extern const ah_ui_asset_t ah_ui_assets[];
extern const size_t ah_ui_assets_n;
/* All of them, uncompressed: the build refuses more than 200 KB. */
extern const size_t ah_ui_total_bytes;

/* The asset named name (below /ui/), or NULL. */
const ah_ui_asset_t *ah_ui_asset(const char *name);

#endif
