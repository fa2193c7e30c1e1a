/* SPDX-License-Identifier: MIT */
/*
 * log.c: JSON lines on stderr.  Each line is built in memory and written
 * with one write(2), so concurrent threads never interleave within a line.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

static _Atomic int g_level = AH_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error", "off"};

void ah_log_set_level(ah_log_level_t lvl)
{
    atomic_store(&g_level, (int)lvl);
}
ah_log_level_t ah_log_get_level(void)
{
    return (ah_log_level_t)atomic_load(&g_level);
}

int ah_log_level_parse(const char *s)
{
    for (size_t i = 0; i < AH_ARRAY_LEN(names); i++)
        if (!strcmp(s, names[i]))
            return (int)i;
    return -1;
}

void ah_log(ah_log_level_t lvl, const char *msg, json_t *fields)
{
    if ((int)lvl < atomic_load(&g_level) || lvl >= AH_LOG_OFF) {
        json_decref(fields);
        return;
    }
    char ts[AH_TIME_SIZE];
    ah_format_time(ah_now_ms(), ts);
    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(names[lvl]));
    json_object_set_new(line, "msg", json_string(msg));
    if (fields)
        json_object_update(line, fields);
    json_decref(fields);
    char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(line);
    if (!s)
        return;
    size_t len = strlen(s);
    s[len] = '\n'; /* json_dumps leaves room only for NUL; we overwrite it. */
    ssize_t w = write(STDERR_FILENO, s, len + 1);
    (void)w;
    free(s);
}

void ah_logf(ah_log_level_t lvl, const char *fmt, ...)
{
    if ((int)lvl < atomic_load(&g_level))
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ah_log(lvl, buf, NULL);
}
