/* SPDX-License-Identifier: MIT */
/*
 * test_store_catalog.c: the store's part of the trigger catalog and the
 * event details of the scope endpoints (store.h, "the operator's triggers"
 * and "airmeets, sessions"), through the ah_store_*() layer.
 *
 * Every test runs on a fresh store of the backend AH_TEST_STORE chooses
 * (store_backend.h): SQLite by default, PostgreSQL under make test-pg
 * (whose pass runs every test_store* binary).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store_backend.h"

#define T0 1700000000000LL

static int open_store(void **state)
{
    return tb_setup(state);
}

static int close_store(void **state)
{
    return tb_teardown(state);
}

static void new_community(ah_store_t *s, ah_community_t *c)
{
    memset(c, 0, sizeof *c);
    ah_uuid_v4(c->id);
    ah_strlcpy(c->name, "Acme", sizeof c->name);
    c->created_at = T0;
    assert_int_equal(ah_store_community_create(s, c), AH_OK);
}

static void new_airmeet(ah_store_t *s, ah_airmeet_t *a, const char *community_id, int64_t at)
{
    memset(a, 0, sizeof *a);
    ah_uuid_v4(a->id);
    ah_strlcpy(a->community_id, community_id, sizeof a->community_id);
    snprintf(a->name, sizeof a->name, "Airmeet %lld", (long long)(at - T0));
    a->created_at = at;
    assert_int_equal(ah_store_airmeet_create(s, a), AH_OK);
}

static ah_cache_gen_t gen_now(ah_store_t *s)
{
    ah_cache_gen_t g;
    assert_int_equal(ah_store_cache_gen(s, &g), AH_OK);
    return g;
}

/* ---- airmeets and sessions ---- */

static void test_airmeet_details(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c);
    ah_airmeet_t a, got;
    new_airmeet(s, &a, c.id, T0);
    /* Created without details: they read back unset. */
    assert_int_equal(ah_store_airmeet_get(s, a.id, &got), AH_OK);
    assert_string_equal(got.status, "");
    assert_string_equal(got.timezone, "");
    assert_string_equal(got.description, "");

    ah_cache_gen_t g = gen_now(s);
    ah_strlcpy(a.status, "ONGOING", sizeof a.status);
    ah_strlcpy(a.timezone, "Asia/Kolkata", sizeof a.timezone);
    ah_strlcpy(a.description, "Talks, panels and a lounge.", sizeof a.description);
    ah_strlcpy(a.name, "Renamed", sizeof a.name);
    a.start_time = T0 + 1000;
    a.end_time = T0 + 2000;
    assert_int_equal(ah_store_airmeet_update(s, &a), AH_OK);
    /* An airmeet change moves what scope checks cache. */
    assert_true(gen_now(s).auth > g.auth);
    assert_int_equal(ah_store_airmeet_get(s, a.id, &got), AH_OK);
    assert_string_equal(got.status, "ONGOING");
    assert_string_equal(got.timezone, "Asia/Kolkata");
    assert_string_equal(got.description, "Talks, panels and a lounge.");
    assert_string_equal(got.name, "Renamed");
    assert_int_equal(got.start_time, T0 + 1000);
    assert_int_equal(got.end_time, T0 + 2000);
    assert_string_equal(got.community_id, c.id);
    assert_int_equal(got.created_at, T0);
    /* Back to unset. */
    a.status[0] = a.timezone[0] = a.description[0] = '\0';
    assert_int_equal(ah_store_airmeet_update(s, &a), AH_OK);
    assert_int_equal(ah_store_airmeet_get(s, a.id, &got), AH_OK);
    assert_string_equal(got.status, "");

    ah_airmeet_t ghost = a;
    ah_uuid_v4(ghost.id);
    assert_int_equal(ah_store_airmeet_update(s, &ghost), AH_ENOTFOUND);
    assert_int_equal(ah_store_airmeet_update(s, NULL), AH_EINVAL);
    memset(a.status, 'x', sizeof a.status); /* not terminated */
    assert_int_equal(ah_store_airmeet_update(s, &a), AH_EINVAL);
}

static void test_airmeet_page(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c, other;
    new_community(s, &c);
    new_community(s, &other);
    ah_airmeet_t a[7], x;
    /* Created out of id order: pages follow creation. */
    for (int i = 0; i < 7; i++)
        new_airmeet(s, &a[i], c.id, T0 + 10 * i);
    new_airmeet(s, &x, other.id, T0 + 5);
    ah_airmeet_t *rows = NULL;
    size_t n = 0;
    int64_t total = 0;
    assert_int_equal(ah_store_airmeet_page(s, c.id, 0, 3, &rows, &n, &total), AH_OK);
    assert_int_equal(n, 3);
    assert_int_equal(total, 7);
    for (int i = 0; i < 3; i++)
        assert_string_equal(rows[i].id, a[i].id);
    free(rows);
    assert_int_equal(ah_store_airmeet_page(s, c.id, 6, 3, &rows, &n, &total), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, a[6].id);
    free(rows);
    assert_int_equal(ah_store_airmeet_page(s, c.id, 7, 3, &rows, &n, &total), AH_OK);
    assert_int_equal(n, 0);
    assert_null(rows);
    assert_int_equal(total, 7);
    assert_int_equal(ah_store_airmeet_page(s, other.id, 0, 500, &rows, &n, &total), AH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(total, 1);
    free(rows);
    char nobody[AH_ID_SIZE];
    ah_uuid_v4(nobody);
    assert_int_equal(ah_store_airmeet_page(s, nobody, 0, 50, &rows, &n, &total), AH_OK);
    assert_int_equal(n + (size_t)total, 0);
    assert_int_equal(ah_store_airmeet_page(s, c.id, 0, 0, &rows, &n, &total), AH_EINVAL);
    assert_int_equal(ah_store_airmeet_page(s, c.id, 0, AH_AIRMEET_PAGE_MAX + 1, &rows, &n, &total),
                     AH_EINVAL);
    assert_int_equal(ah_store_airmeet_page(s, NULL, 0, 5, &rows, &n, &total), AH_EINVAL);
    assert_int_equal(ah_store_airmeet_page(s, c.id, (uint64_t)INT64_MAX + 1, 5, &rows, &n, &total),
                     AH_EINVAL);
    assert_int_equal(ah_store_airmeet_page(s, "\xff\xfe", 0, 5, &rows, &n, &total), AH_OK);
    assert_int_equal(n, 0);
}

static void test_session_details_and_list(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c);
    ah_airmeet_t a, b;
    new_airmeet(s, &a, c.id, T0);
    new_airmeet(s, &b, c.id, T0 + 1);
    ah_session_t ss[3], got;
    static const int64_t starts[] = {T0 + 3000, T0 + 1000, T0 + 2000};
    for (int i = 0; i < 3; i++) {
        memset(&ss[i], 0, sizeof ss[i]);
        ah_uuid_v4(ss[i].id);
        ah_strlcpy(ss[i].airmeet_id, a.id, sizeof ss[i].airmeet_id);
        ah_strlcpy(ss[i].community_id, c.id, sizeof ss[i].community_id);
        snprintf(ss[i].name, sizeof ss[i].name, "Session %d", i);
        ss[i].created_at = T0 + i;
        ss[i].start_time = starts[i];
        ss[i].duration = 30 + i;
        ah_strlcpy(ss[i].type, "HOSTING", sizeof ss[i].type);
        assert_int_equal(ah_store_session_create(s, &ss[i]), AH_OK);
    }
    assert_int_equal(ah_store_session_get(s, ss[0].id, &got), AH_OK);
    assert_int_equal(got.start_time, T0 + 3000);
    assert_int_equal(got.duration, 30);
    assert_string_equal(got.type, "HOSTING");
    assert_string_equal(got.status, "");
    assert_string_equal(got.summary, "");

    ah_strlcpy(ss[0].status, "FINISHED", sizeof ss[0].status);
    ah_strlcpy(ss[0].summary, "How loops compound.", sizeof ss[0].summary);
    ss[0].start_time = T0; /* now the first */
    ss[0].duration = 45;
    assert_int_equal(ah_store_session_update(s, &ss[0]), AH_OK);
    assert_int_equal(ah_store_session_get(s, ss[0].id, &got), AH_OK);
    assert_string_equal(got.status, "FINISHED");
    assert_string_equal(got.summary, "How loops compound.");
    assert_int_equal(got.duration, 45);
    assert_string_equal(got.airmeet_id, a.id);

    ah_session_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_session_list(s, a.id, &list, &n), AH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].id, ss[0].id);
    assert_string_equal(list[1].id, ss[1].id);
    assert_string_equal(list[2].id, ss[2].id);
    free(list);
    assert_int_equal(ah_store_session_list(s, b.id, &list, &n), AH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ah_store_session_list(s, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 0);

    ah_session_t ghost = ss[1];
    ah_uuid_v4(ghost.id);
    assert_int_equal(ah_store_session_update(s, &ghost), AH_ENOTFOUND);
    assert_int_equal(ah_store_session_update(s, NULL), AH_EINVAL);
}

/* ---- the operator's triggers ---- */

static void fill_def(ah_trigger_def_t *d, const char *id, const char *sample, const char *schema)
{
    memset(d, 0, sizeof *d);
    ah_strlcpy(d->id, id, sizeof d->id);
    ah_strlcpy(d->description, "A ticket is scanned at the door.", sizeof d->description);
    ah_strlcpy(d->airmeet_scope, "optional", sizeof d->airmeet_scope);
    ah_strlcpy(d->session_scope, "none", sizeof d->session_scope);
    d->sample = (char *)sample;
    d->schema = (char *)schema;
    d->created_at = d->updated_at = T0;
}

static void test_trigger_defs(void **state)
{
    ah_store_t *s = *state;
    ah_trigger_def_t d, got;
    ah_cache_gen_t g = gen_now(s);
    fill_def(&d, "ticket.scanned", "{\"ticket\":\"A-1\"}", NULL);
    assert_int_equal(ah_store_trigger_create(s, &d), AH_OK);
    /* An insert bumps auth: the API caches ids it did not find. */
    ah_cache_gen_t g2 = gen_now(s);
    assert_true(g2.auth > g.auth);
    assert_int_equal(g2.webhooks, g.webhooks);
    assert_int_equal(ah_store_trigger_create(s, &d), AH_EEXISTS);

    assert_int_equal(ah_store_trigger_get(s, "ticket.scanned", &got), AH_OK);
    assert_string_equal(got.id, "ticket.scanned");
    assert_false(got.builtin);
    assert_string_equal(got.description, "A ticket is scanned at the door.");
    assert_string_equal(got.airmeet_scope, "optional");
    assert_string_equal(got.session_scope, "none");
    assert_string_equal(got.sample, "{\"ticket\":\"A-1\"}");
    assert_null(got.schema);
    assert_int_equal(got.retired_at, 0);
    assert_int_equal(got.created_at, T0);
    ah_trigger_def_clear(&got);
    assert_null(got.sample);

    static const char schema[] = "{\"type\":\"object\",\"required\":[\"ticket\"]}";
    d.schema = (char *)schema;
    ah_strlcpy(d.session_scope, "optional", sizeof d.session_scope);
    d.retired_at = T0 + 5;
    d.updated_at = T0 + 5;
    d.created_at = 1; /* not written by update */
    assert_int_equal(ah_store_trigger_update(s, &d), AH_OK);
    assert_true(gen_now(s).auth > g2.auth);
    assert_int_equal(ah_store_trigger_get(s, "ticket.scanned", &got), AH_OK);
    assert_string_equal(got.schema, schema);
    assert_string_equal(got.session_scope, "optional");
    assert_int_equal(got.retired_at, T0 + 5);
    assert_int_equal(got.updated_at, T0 + 5);
    assert_int_equal(got.created_at, T0);
    ah_trigger_def_clear(&got);

    /* A hidden built-in trigger: an empty description and sample. */
    ah_trigger_def_t h;
    fill_def(&h, "trigger.airmeet.created", "", NULL);
    h.builtin = true;
    h.description[0] = '\0';
    h.retired_at = T0 + 7;
    h.created_at = h.updated_at = T0 + 7;
    assert_int_equal(ah_store_trigger_create(s, &h), AH_OK);

    ah_trigger_def_t *all = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_trigger_list(s, &all, &n), AH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(all[0].id, "ticket.scanned");
    assert_string_equal(all[1].id, "trigger.airmeet.created");
    assert_true(all[1].builtin);
    assert_string_equal(all[1].sample, "");
    ah_trigger_defs_free(all, n);

    assert_int_equal(ah_store_trigger_get(s, "ticket.nope", &got), AH_ENOTFOUND);
    assert_int_equal(ah_store_trigger_get(s, NULL, &got), AH_ENOTFOUND);
    assert_int_equal(ah_store_trigger_get(s, "\xff", &got), AH_ENOTFOUND);
    fill_def(&d, "ticket.nope", "{}", NULL);
    assert_int_equal(ah_store_trigger_update(s, &d), AH_ENOTFOUND);
}

static void test_trigger_def_validation(void **state)
{
    ah_store_t *s = *state;
    ah_trigger_def_t d;
    assert_int_equal(ah_store_trigger_create(s, NULL), AH_EINVAL);
    fill_def(&d, "", "{}", NULL);
    assert_int_equal(ah_store_trigger_create(s, &d), AH_EINVAL);
    fill_def(&d, "x.y", NULL, NULL);
    assert_int_equal(ah_store_trigger_create(s, &d), AH_EINVAL);
    fill_def(&d, "x.y", "{}", NULL);
    ah_strlcpy(d.airmeet_scope, "sometimes", sizeof d.airmeet_scope);
    assert_int_equal(ah_store_trigger_create(s, &d), AH_EINVAL);
    fill_def(&d, "x.y", "{}", NULL);
    memset(d.description, 'd', sizeof d.description); /* not terminated */
    assert_int_equal(ah_store_trigger_create(s, &d), AH_EINVAL);
    char *big = malloc(AH_TRIGGER_JSON_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', AH_TRIGGER_JSON_MAX + 1);
    big[0] = '1';
    big[AH_TRIGGER_JSON_MAX + 1] = '\0';
    fill_def(&d, "x.y", big, NULL);
    assert_int_equal(ah_store_trigger_create(s, &d), AH_ETOOBIG);
    fill_def(&d, "x.y", "{}", big);
    assert_int_equal(ah_store_trigger_create(s, &d), AH_ETOOBIG);
    free(big);
    /* Nothing of the above was written. */
    ah_trigger_def_t *all = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_trigger_list(s, &all, &n), AH_OK);
    assert_int_equal(n, 0);
    ah_trigger_def_clear(NULL);
    ah_trigger_defs_free(NULL, 0);
}

int main(void)
{
    if (tb_check())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_airmeet_details, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_airmeet_page, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_session_details_and_list, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_trigger_defs, open_store, close_store),
        cmocka_unit_test_setup_teardown(test_trigger_def_validation, open_store, close_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
