/*
 * store.c: picks a storage backend from the DSN.  The backends themselves
 * live in store_<name>.c behind ah_store_ops_t (store.h).
 */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int ah_store_open(const char *dsn, ah_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!dsn || !*dsn) {
        snprintf(err, errlen, "empty --db");
        return AH_EINVAL;
    }
    if (!strncmp(dsn, "postgres://", 11) || !strncmp(dsn, "postgresql://", 13))
        return ah_store_pg_open(dsn, out, err, errlen);
    const char *path = dsn;
    if (!strncmp(dsn, "sqlite:", 7))
        path = dsn + 7;
    if (!strncmp(path, "//", 2))
        path += 2; /* sqlite://PATH */
    if (!*path) {
        snprintf(err, errlen, "sqlite: needs a path, e.g. sqlite:./airhook.db");
        return AH_EINVAL;
    }
    return ah_store_sqlite_open(path, out, err, errlen);
}

void ah_store_close(ah_store_t *s)
{
    if (s)
        s->ops->close(s);
}

static const char *const status_names[] = {"pending", "succeeded", "failed", "cancelled"};

const char *ah_delivery_status_name(int status)
{
    return status >= 0 && status < 4 ? status_names[status] : "unknown";
}

const char *ah_outcome_status(ah_outcome_t o)
{
    switch (o) {
    case AH_OUTCOME_SUCCEEDED:
        return ah_delivery_status_name(AH_DLV_SUCCEEDED);
    case AH_OUTCOME_RETRY:
        return ah_delivery_status_name(AH_DLV_PENDING);
    case AH_OUTCOME_FAILED:
        return ah_delivery_status_name(AH_DLV_FAILED);
    }
    return NULL;
}

int ah_delivery_status_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, status_names[i]))
            return i;
    return -1;
}

void ah_claims_free(ah_claim_t *claims, size_t n)
{
    for (size_t i = 0; claims && i < n; i++)
        free(claims[i].data);
    free(claims);
}

void ah_dsn_redact(const char *dsn, char *out, size_t outsz)
{
    if (!outsz)
        return;
    const char *scheme = strstr(dsn, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (!colon) {
        snprintf(out, outsz, "%s", dsn);
        return;
    }
    snprintf(out, outsz, "%.*s:***%s", (int)(colon - dsn), dsn, at);
}
