/*
 * store.c: picks a storage backend from the DSN.  The backends themselves
 * live in store_<name>.c behind ah_store_ops_t (store.h).
 */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

int ah_store_open(const char *dsn, ah_store_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!dsn || !*dsn) {
        snprintf(err, errlen, "empty --db");
        return AH_EINVAL;
    }
    if (!strncmp(dsn, "postgres://", 11) || !strncmp(dsn, "postgresql://", 13)) {
        snprintf(err, errlen, "the PostgreSQL backend is not built yet; use sqlite:PATH");
        return AH_EINVAL;
    }
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
