/* SPDX-License-Identifier: MIT */
/*
 * purge.c: retention in the store layer, ah_store_purge_final (store.h):
 * removing events whose every delivery is final and old, with those
 * deliveries and their attempts, in short write transactions.
 *
 * It is its own file, with its own statements (ST_PURGE_* in sql.h, a text
 * per backend), because what it assumes is exactly today's shape of the
 * delivery tables and nothing else in the store depends on it:
 *
 *  - events(id, created_at), indexed by (created_at, id) (events_by_age,
 *    SQLite's migration 6, PostgreSQL's last), so that the scan of old events is
 *    a range read from a cursor, however many young events there are;
 *  - deliveries(event_id, status, updated_at): a delivery is final when its
 *    status is not 'pending' (a retry is 'pending' with attempts > 0), and
 *    its outcome dates from updated_at; found by event through
 *    deliveries_by_event;
 *  - attempts(delivery_id), found through attempts_by_delivery, and a
 *    delivery's first attempt in its own row when deliveries.recorded > 0
 *    (it goes with the row; the hold counts it);
 *  - foreign keys from attempts to deliveries to events: children go first.
 *
 * One call, in one write transaction:
 *  1. scan: the next `max` events created before the cutoff, oldest first
 *     from the cursor, each with whether it looks purgeable (no delivery
 *     pending, none changed since the cutoff).  PostgreSQL locks these
 *     events, skipping those another node's purge holds (SKIP LOCKED), so
 *     nodes purging at once split the work instead of queueing.
 *  2. hold: the deliveries of the events that look purgeable are read again,
 *     locked on PostgreSQL (FOR UPDATE re-reads a row another transaction
 *     just changed), and an event any of whose deliveries is no longer final
 *     and old (an operator retried it meanwhile) is kept.  On SQLite the
 *     transaction holds the database's one write lock from the start, so
 *     nothing can change in between; the step costs little and is the same.
 *     The hold also counts each event's deliveries: the call stops before
 *     the event that would take it past max_deliveries, so that a batch of
 *     events with a large fan-out is still a short transaction.
 *  3. delete attempts, deliveries, events of what is left, as sets (a JSON
 *     array of ids, which both dialects unnest).
 * The cursor is the (created_at, id) of the last event scanned, so events
 * kept because a delivery is pending (a disabled webhook's, a long retry)
 * are passed over and looked at again only in the next pass, not in every
 * call.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"

/* One event the scan returned. */
typedef struct purge_row {
    char id[AH_ID_SIZE];
    int64_t created_at;
    bool keep;           /* not purgeable (now, or after the hold) */
    size_t n_deliveries; /* counted by the hold */
    size_t n_inline;     /* of them, those with an attempt in their row */
} purge_row_t;

typedef struct purge_job {
    ah_store_t *s;
    ah_purge_t *p;
    int64_t after_at;
    char after_id[AH_ID_SIZE];
    purge_row_t *rows;
    size_t n;
    size_t last;    /* the row the hold matched last (its rows come event by event) */
    bool truncated; /* the call stopped early for max_deliveries: the pass goes on */
} purge_job_t;

static int scan_row(void *arg, const ah_sql_row_t *r)
{
    purge_job_t *j = arg;
    if (j->n == j->p->max)
        return AH_SQL_STOP;
    purge_row_t *row = &j->rows[j->n++];
    SQL_COPY(r, 0, row->id);
    row->created_at = sql_i64(r, 1);
    row->keep = !sql_bool(r, 2);
    row->n_deliveries = row->n_inline = 0;
    return AH_OK;
}

/*
 * The ids of the rows not kept, as a JSON array into a malloc'd string
 * (*out NULL when there are none).
 */
static int id_set(const purge_job_t *j, char **out)
{
    *out = NULL;
    size_t cap = 3 + j->n * AH_SQL_JSON_ID_MAX, len = 0, k = 0;
    char *s = malloc(cap);
    if (!s)
        return AH_ENOMEM;
    s[len++] = '[';
    for (size_t i = 0; i < j->n; i++) {
        if (j->rows[i].keep)
            continue;
        ah_sql_json_id(s, &len, j->rows[i].id, k++ == 0);
    }
    s[len++] = ']';
    s[len] = '\0';
    if (!k)
        free(s);
    else
        *out = s;
    return AH_OK;
}

/* Counts a delivery of its event; one that is not final and old keeps the event. */
static int hold_row(void *arg, const ah_sql_row_t *r)
{
    purge_job_t *j = arg;
    char id[AH_ID_SIZE];
    SQL_COPY(r, 0, id);
    size_t i = j->last;
    if (i >= j->n || strcmp(j->rows[i].id, id) != 0)
        for (i = 0; i < j->n && strcmp(j->rows[i].id, id) != 0; i++)
            ;
    if (i == j->n)
        return AH_OK;
    j->last = i;
    j->rows[i].n_deliveries++;
    j->rows[i].n_inline += sql_bool(r, 2);
    if (!sql_bool(r, 1))
        j->rows[i].keep = true;
    return AH_OK;
}

/*
 * Stops the call before the event whose deliveries would take it past
 * max_deliveries (but after at least one event to remove): the events from
 * there on are left for the next call, which the cursor starts at.
 */
static void cap_deliveries(purge_job_t *j, size_t max_deliveries)
{
    size_t total = 0, removing = 0;
    for (size_t i = 0; i < j->n; i++) {
        if (j->rows[i].keep)
            continue;
        if (removing && total + j->rows[i].n_deliveries > max_deliveries) {
            j->n = i;
            j->truncated = true;
            return;
        }
        total += j->rows[i].n_deliveries;
        removing++;
    }
}

/* Runs one delete of the set, adding what it removed to *count. */
static int delete_set(purge_job_t *j, ah_sql_conn_t *c, int stmt, const char *set, size_t *count)
{
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, set);
    size_t changed = 0;
    int rc = j->s->ops->sql->exec(j->s, c, true, stmt, &p, NULL, NULL, &changed);
    if (rc == AH_OK)
        *count = changed;
    return rc;
}

static int purge_tx(ah_sql_conn_t *c, void *arg)
{
    purge_job_t *j = arg;
    ah_purge_t *p = j->p;
    const ah_sql_driver_t *d = j->s->ops->sql;
    int64_t t0 = ah_mono_us();
    /* A rerun (PostgreSQL, after a deadlock) starts afresh. */
    j->n = j->last = 0;
    j->truncated = false;
    p->scanned = p->events = p->deliveries = p->attempts = 0;
    ah_sql_params_t q;
    ah_sql_params_init(&q);
    p_i64(&q, p->cutoff);
    p_i64(&q, j->after_at);
    p_str(&q, j->after_id);
    p_i64(&q, (int64_t)p->max);
    int rc = d->exec(j->s, c, true, ST_PURGE_SCAN, &q, scan_row, j, NULL);
    if (rc)
        return rc;
    p->scanned = j->n;
    char *set = NULL;
    rc = id_set(j, &set);
    if (rc || !set)
        goto out;
    ah_sql_params_init(&q);
    p_str(&q, set);
    p_i64(&q, p->cutoff);
    rc = d->exec(j->s, c, true, ST_PURGE_HOLD, &q, hold_row, j, NULL);
    free(set);
    set = NULL;
    if (rc == AH_OK) {
        cap_deliveries(j, p->max_deliveries ? p->max_deliveries : AH_PURGE_DELIVERIES_DEFAULT);
        p->scanned = j->n;
        rc = id_set(j, &set);
    }
    if (rc == AH_OK && set)
        rc = delete_set(j, c, ST_PURGE_ATTEMPTS, set, &p->attempts);
    if (rc == AH_OK && set)
        rc = delete_set(j, c, ST_PURGE_DELIVERIES, set, &p->deliveries);
    if (rc == AH_OK && set)
        rc = delete_set(j, c, ST_PURGE_EVENTS, set, &p->events);
    /* The attempts that went with their delivery rows. */
    for (size_t i = 0; rc == AH_OK && set && i < j->n; i++)
        if (!j->rows[i].keep)
            p->attempts += j->rows[i].n_inline;
    free(set);
out:
    p->held_us = ah_mono_us() - t0;
    return rc;
}

int ah_store_purge_final(ah_store_t *s, ah_purge_t *p)
{
    if (!p)
        return AH_EINVAL;
    purge_job_t j = {.s = s, .p = p, .after_at = INT64_MIN};
    if (p->max < 1 || p->max > AH_PURGE_MAX ||
        strnlen(p->cursor, AH_CURSOR_SIZE) == AH_CURSOR_SIZE ||
        (p->cursor[0] && ah_sql_parse_cursor(p->cursor, &j.after_at, j.after_id) != AH_OK))
        return AH_EINVAL;
    p->scanned = p->events = p->deliveries = p->attempts = 0;
    p->held_us = 0;
    if (!(j.rows = calloc(p->max, sizeof *j.rows)))
        return AH_ENOMEM;
    int rc = s->ops->sql->run(s, AH_SQL_WRITE_TX, purge_tx, &j);
    if (rc == AH_OK) {
        if (j.n < p->max && !j.truncated) /* the last old event was scanned: a pass is complete */
            p->cursor[0] = '\0';
        else
            ah_sql_format_cursor(j.rows[j.n - 1].created_at, j.rows[j.n - 1].id, p->cursor);
    } else {
        p->scanned = p->events = p->deliveries = p->attempts = 0;
        p->held_us = 0;
    }
    free(j.rows);
    return rc;
}

int ah_store_reclaim_space(ah_store_t *s, size_t max_pages, ah_store_space_t *out)
{
    if (!out)
        return AH_EINVAL;
    memset(out, 0, sizeof *out);
    if (!s->ops->reclaim_space)
        return AH_OK;
    return s->ops->reclaim_space(s, max_pages, out);
}
