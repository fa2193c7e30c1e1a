/* SPDX-License-Identifier: MIT */
/*
 * log.h: one JSON object per line on stderr.
 *
 * Every request and (later) every delivery attempt produces one line.  Lines
 * are written with a single write(2) so lines from threads never interleave.
 */
#ifndef AH_LOG_H
#define AH_LOG_H

#include <jansson.h>

typedef enum { AH_LOG_DEBUG, AH_LOG_INFO, AH_LOG_WARN, AH_LOG_ERROR, AH_LOG_OFF } ah_log_level_t;

void ah_log_set_level(ah_log_level_t lvl);
ah_log_level_t ah_log_get_level(void);
/* Parses "debug|info|warn|error|off"; returns -1 on an unknown name. */
int ah_log_level_parse(const char *s);

/* Logs {"ts":…,"level":…,"msg":msg} plus the fields of `fields` (stolen; may be NULL). */
void ah_log(ah_log_level_t lvl, const char *msg, json_t *fields);
/* printf-style convenience: {"ts","level","msg":<formatted>}. */
void ah_logf(ah_log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
