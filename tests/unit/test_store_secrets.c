/* SPDX-License-Identifier: MIT */
/*
 * test_store_secrets.c: webhook signing secrets at rest, through the store
 * layer, on the backend AH_TEST_STORE names (store_backend.h; `make test-pg`
 * runs it on PostgreSQL too).
 *
 * What is stored is read back raw with the statements the start-up reseal
 * uses (ST_WEBHOOK_SECRETS_PAGE / _SET), so the tests see the columns
 * themselves: sealed, never the whsec_ text; opened on every read that hands
 * a secret out; bound to their row; plain ones of an older database sealed
 * at start; keys rotated; a database whose key is not given refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/backend.h"
#include "store/store.h"
#include "store_backend.h"

#define T0 1700000000000LL
#define SECRET "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2Vj"
#define OLD_SECRET "whsec_b2xkb2xkb2xkb2xkb2xkb2xkb2xk"

/* ------------------------------------------------------------------------ */
/* Helpers.                                                                  */

static void new_community(ah_store_t *s, ah_community_t *c)
{
    memset(c, 0, sizeof *c);
    ah_uuid_v4(c->id);
    ah_strlcpy(c->name, "secrets", sizeof c->name);
    c->created_at = T0;
    assert_int_equal(ah_store_community_create(s, c), AH_OK);
}

static void fill_webhook(ah_webhook_t *w, const char *community_id, const char *secret,
                         const char *prev)
{
    memset(w, 0, sizeof *w);
    ah_uuid_v4(w->id);
    ah_strlcpy(w->community_id, community_id, sizeof w->community_id);
    ah_strlcpy(w->trigger, "trigger.airmeet.created", sizeof w->trigger);
    ah_strlcpy(w->name, "hook", sizeof w->name);
    snprintf(w->url, sizeof w->url, "https://93.184.215.14/%s", w->id);
    w->is_active = true;
    ah_strlcpy(w->meta_data, "{}", sizeof w->meta_data);
    w->created_at = w->updated_at = T0;
    ah_strlcpy(w->created_by, "key", sizeof w->created_by);
    ah_strlcpy(w->secret, secret, sizeof w->secret);
    ah_strlcpy(w->prev_secret, prev ? prev : "", sizeof w->prev_secret);
    w->prev_secret_until = prev ? T0 + 86400000 : 0;
}

static void new_webhook(ah_store_t *s, ah_webhook_t *w, const char *community_id,
                        const char *secret, const char *prev)
{
    fill_webhook(w, community_id, secret, prev);
    ah_webhook_t out;
    assert_int_equal(ah_store_webhook_register(s, w, &out, NULL), AH_OK);
}

/* The secret and prev_secret columns of one webhook, as stored. */
typedef struct raw {
    const char *id;
    char secret[512];
    char prev[512];
    bool has_prev;
    bool found;
} raw_t;

static int raw_row(void *arg, const ah_sql_row_t *r)
{
    raw_t *j = arg;
    size_t len = 0;
    const char *id = sql_text(r, 0, &len);
    if (strcmp(id, j->id) != 0)
        return AH_OK;
    SQL_COPY(r, 1, j->secret);
    SQL_COPY(r, 2, j->prev);
    j->has_prev = !sql_null(r, 2);
    j->found = true;
    return AH_SQL_STOP;
}

static raw_t raw_of(ah_store_t *s, const char *id)
{
    raw_t j = {.id = id};
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, "");
    p_i64(&p, 100000);
    assert_int_equal(
        s->ops->sql->exec(s, NULL, false, ST_WEBHOOK_SECRETS_PAGE, &p, raw_row, &j, NULL), AH_OK);
    assert_true(j.found);
    return j;
}

/* Writes the columns of a webhook as they are (what someone with the database file could do). */
static void raw_set(ah_store_t *s, const char *id, const char *secret, const char *prev)
{
    raw_t was = raw_of(s, id);
    ah_sql_params_t p;
    ah_sql_params_init(&p);
    p_str(&p, id);
    p_str(&p, secret);
    p_opt(&p, prev);
    p_str(&p, was.secret);
    p_str(&p, was.has_prev ? was.prev : NULL);
    size_t changed = 0;
    assert_int_equal(
        s->ops->sql->exec(s, NULL, true, ST_WEBHOOK_SECRETS_SET, &p, NULL, NULL, &changed), AH_OK);
    assert_int_equal(changed, 1);
}

static void assert_sealed_with(const char *v, const ah_keyring_t *kr)
{
    assert_true(ah_is_sealed(v, strlen(v)));
    assert_memory_equal(v + strlen(AH_SEAL_PREFIX), kr->keys[0].id, AH_KEY_ID_LEN);
    assert_null(strstr(v, "whsec_"));
}

static int keys_init(ah_store_t *s, const ah_keyring_t *kr, size_t *n_sealed, char *err)
{
    err[0] = '\0';
    return ah_store_secrets_init(s, kr, n_sealed, err, 512);
}

static int open_fresh(void **state)
{
    return tb_setup(state);
}

static int open_plain(void **state)
{
    *state = tb_open_plain();
    return *state ? 0 : -1;
}

static int close_store(void **state)
{
    return tb_teardown(state);
}

/* ------------------------------------------------------------------------ */
/* Tests.                                                                    */

static void test_secrets_are_sealed_and_opened(void **state)
{
    ah_store_t *s = *state;
    ah_keyring_t kr;
    tb_keyring(&kr, 0x42); /* the fresh store's */
    ah_community_t c;
    new_community(s, &c);
    ah_webhook_t w, got;
    new_webhook(s, &w, c.id, SECRET, OLD_SECRET);

    raw_t raw = raw_of(s, w.id);
    assert_sealed_with(raw.secret, &kr);
    assert_sealed_with(raw.prev, &kr);

    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_string_equal(got.secret, SECRET);
    assert_string_equal(got.prev_secret, OLD_SECRET);

    /* The twin a registration answers with carries its secret. */
    ah_webhook_t twin;
    fill_webhook(&twin, c.id, "whsec_ZGlmZmVyZW50", NULL);
    memcpy(twin.url, w.url, sizeof twin.url);
    bool existed = false;
    assert_int_equal(ah_store_webhook_register(s, &twin, &got, &existed), AH_OK);
    assert_true(existed);
    assert_string_equal(got.id, w.id);
    assert_string_equal(got.secret, SECRET);

    /* So does the row a claim hands the dispatcher. */
    ah_claim_req_t r = {.max = 4, .webhook = &got};
    ah_strlcpy(r.webhook_id, w.id, sizeof r.webhook_id);
    memset(&got, 0, sizeof got);
    assert_int_equal(ah_store_delivery_claim_many(s, &r, 1, T0, T0 + 30000), AH_OK);
    assert_int_equal(r.rc, AH_OK);
    assert_string_equal(got.secret, SECRET);
    assert_string_equal(got.prev_secret, OLD_SECRET);
    ah_claims_free(r.claims, r.n);

    /* Lists show no secret, and open none. */
    ah_webhook_t *list = NULL;
    size_t n = 0;
    assert_int_equal(ah_store_webhook_list_active(s, c.id, NULL, NULL, &list, &n), AH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].secret, "");
    assert_string_equal(list[0].prev_secret, "");
    free(list);

    /* A webhook without a previous secret stores none. */
    ah_webhook_t w2;
    new_webhook(s, &w2, c.id, SECRET, NULL);
    raw = raw_of(s, w2.id);
    assert_false(raw.has_prev);
    assert_int_equal(ah_store_webhook_get(s, w2.id, &got), AH_OK);
    assert_string_equal(got.prev_secret, "");
}

static void test_rotation_moves_the_sealed_secret(void **state)
{
    ah_store_t *s = *state;
    ah_keyring_t kr;
    tb_keyring(&kr, 0x42);
    ah_community_t c;
    new_community(s, &c);
    ah_webhook_t w, got;
    new_webhook(s, &w, c.id, OLD_SECRET, NULL);
    assert_int_equal(ah_store_webhook_rotate_secret(s, w.id, SECRET, T0 + 1000, T0), AH_OK);
    raw_t raw = raw_of(s, w.id);
    assert_sealed_with(raw.secret, &kr);
    assert_sealed_with(raw.prev, &kr);
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_string_equal(got.secret, SECRET);
    assert_string_equal(got.prev_secret, OLD_SECRET);

    /* The longest secret the store takes seals and opens whole. */
    char longest[AH_SECRET_MAX];
    memset(longest, 'x', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    assert_int_equal(ah_store_webhook_rotate_secret(s, w.id, longest, T0 + 1000, T0), AH_OK);
    assert_int_equal(ah_store_webhook_get(s, w.id, &got), AH_OK);
    assert_string_equal(got.secret, longest);
    assert_string_equal(got.prev_secret, SECRET);
}

static void test_a_sealed_secret_does_not_open_in_another_row(void **state)
{
    ah_store_t *s = *state;
    ah_community_t c;
    new_community(s, &c);
    ah_webhook_t a, b, got;
    new_webhook(s, &a, c.id, SECRET, NULL);
    new_webhook(s, &b, c.id, OLD_SECRET, NULL);
    /* Someone with the database file gives b a's sealed secret, to have b's deliveries signed
     * with a key they know: it does not open there. */
    raw_t ra = raw_of(s, a.id);
    raw_set(s, b.id, ra.secret, NULL);
    assert_int_equal(ah_store_webhook_get(s, b.id, &got), AH_ESTORE);
    assert_string_equal(got.secret, "");

    /* A claim for b fails for b alone; a's, in the same call, goes on. */
    ah_webhook_t wa, wb;
    ah_claim_req_t r[2] = {{.max = 1, .webhook = &wa}, {.max = 1, .webhook = &wb}};
    ah_strlcpy(r[0].webhook_id, a.id, sizeof r[0].webhook_id);
    ah_strlcpy(r[1].webhook_id, b.id, sizeof r[1].webhook_id);
    assert_int_equal(ah_store_delivery_claim_many(s, r, 2, T0, T0 + 30000), AH_OK);
    assert_int_equal(r[0].rc, AH_OK);
    assert_string_equal(wa.secret, SECRET);
    assert_int_equal(r[1].rc, AH_ESTORE);
    assert_int_equal(r[1].n, 0);
    ah_claims_free(r[0].claims, r[0].n);
}

static void test_plain_secrets_are_sealed_at_start(void **state)
{
    ah_store_t *s = *state; /* no keys yet: a database from before sealing */
    ah_community_t c;
    new_community(s, &c);
    enum { N = 1100 }; /* more than two pages of the reseal */
    static ah_webhook_t ws[N];
    for (int i = 0; i < N; i++)
        new_webhook(s, &ws[i], c.id, SECRET, i % 2 ? OLD_SECRET : NULL);
    raw_t raw = raw_of(s, ws[1].id);
    assert_string_equal(raw.secret, SECRET);
    assert_string_equal(raw.prev, OLD_SECRET);
    char id[AH_KEY_ID_LEN + 1], err[512];
    assert_int_equal(ah_store_secrets_key_id(s, id), AH_ENOTFOUND);

    ah_keyring_t kr;
    tb_keyring(&kr, 7);
    size_t n_sealed = 0;
    assert_int_equal(keys_init(s, &kr, &n_sealed, err), AH_OK);
    assert_int_equal(n_sealed, N);
    assert_int_equal(ah_store_secrets_key_id(s, id), AH_OK);
    assert_string_equal(id, kr.keys[0].id);
    for (int i = 0; i < N; i += 99) {
        raw = raw_of(s, ws[i].id);
        assert_sealed_with(raw.secret, &kr);
        assert_int_equal(raw.has_prev, i % 2 == 1);
        ah_webhook_t got;
        assert_int_equal(ah_store_webhook_get(s, ws[i].id, &got), AH_OK);
        assert_string_equal(got.secret, SECRET);
        assert_string_equal(got.prev_secret, i % 2 ? OLD_SECRET : "");
    }
    /* Nothing left to do the next time. */
    assert_int_equal(keys_init(s, &kr, &n_sealed, err), AH_OK);
    assert_int_equal(n_sealed, 0);
}

static void test_keys_rotate_and_a_missing_key_is_refused(void **state)
{
    ah_store_t *s = *state; /* sealed under the fresh store's key, 0x42 */
    ah_keyring_t k42, k7, k9, rotated;
    tb_keyring(&k42, 0x42);
    tb_keyring(&k7, 7);
    tb_keyring(&k9, 9);
    ah_community_t c;
    new_community(s, &c);
    ah_webhook_t a, b, got;
    new_webhook(s, &a, c.id, SECRET, OLD_SECRET);
    new_webhook(s, &b, c.id, OLD_SECRET, NULL);
    char err[512], id[AH_KEY_ID_LEN + 1];

    /* A key file without the database's key: refused, naming the key it needs. */
    assert_int_equal(keys_init(s, &k9, NULL, err), AH_ENOTFOUND);
    assert_non_null(strstr(err, k42.keys[0].id));
    assert_non_null(strstr(err, k9.keys[0].id));
    assert_sealed_with(raw_of(s, a.id).secret, &k42); /* nothing was written */

    /* Rotation: the new key first, the old one still listed. */
    rotated = k7;
    assert_int_equal(ah_keyring_add(&rotated, k42.keys[0].key), AH_OK);
    size_t n_sealed = 0;
    assert_int_equal(keys_init(s, &rotated, &n_sealed, err), AH_OK);
    assert_int_equal(n_sealed, 2);
    raw_t raw = raw_of(s, a.id);
    assert_sealed_with(raw.secret, &k7);
    assert_sealed_with(raw.prev, &k7);
    assert_sealed_with(raw_of(s, b.id).secret, &k7);
    assert_int_equal(ah_store_secrets_key_id(s, id), AH_OK);
    assert_string_equal(id, k7.keys[0].id);
    assert_int_equal(ah_store_webhook_get(s, a.id, &got), AH_OK);
    assert_string_equal(got.secret, SECRET);
    assert_string_equal(got.prev_secret, OLD_SECRET);

    /* Then the old key can go. */
    assert_int_equal(keys_init(s, &k7, &n_sealed, err), AH_OK);
    assert_int_equal(n_sealed, 0);
    assert_int_equal(keys_init(s, &k42, NULL, err), AH_ENOTFOUND);
    assert_non_null(strstr(err, k7.keys[0].id));

    /* A secret sealed under a key not given (the key check passing) is refused too. */
    assert_int_equal(keys_init(s, &k7, NULL, err), AH_OK);
    char aad[AH_SECRET_AAD_SIZE], foreign[AH_SECRET_SEALED_SIZE];
    ah_sql_secret_aad(b.id, aad);
    assert_int_equal(ah_seal(&k9, aad, SECRET, strlen(SECRET), foreign, sizeof foreign), AH_OK);
    raw_set(s, b.id, foreign, NULL);
    assert_int_equal(keys_init(s, &k7, NULL, err), AH_ENOTFOUND);
    assert_non_null(strstr(err, "1 webhook secrets"));
    assert_non_null(strstr(err, k9.keys[0].id));
    assert_int_equal(ah_store_webhook_get(s, b.id, &got), AH_ESTORE);
}

/* Listener secrets (store_listener.c) are sealed like webhook secrets and move with a rotation. */
static void test_listener_secrets_rotate(void **state)
{
    ah_store_t *s = *state; /* sealed under the fresh store's key, 0x42 */
    ah_keyring_t k42, k7, rotated;
    tb_keyring(&k42, 0x42);
    tb_keyring(&k7, 7);
    char key[AH_ID_SIZE], got[AH_SECRET_MAX], err[512];
    ah_uuid_v4(key);
    assert_int_equal(ah_store_listener_secret(s, key, SECRET, 1, got), AH_OK);
    assert_string_equal(got, SECRET);
    rotated = k7;
    assert_int_equal(ah_keyring_add(&rotated, k42.keys[0].key), AH_OK);
    size_t n_sealed = 0;
    assert_int_equal(keys_init(s, &rotated, &n_sealed, err), AH_OK);
    assert_int_equal(n_sealed, 1); /* the listener secret: no webhooks here */
    /* The old key can go: the secret opens under the new one alone. */
    assert_int_equal(keys_init(s, &k7, &n_sealed, err), AH_OK);
    assert_int_equal(n_sealed, 0);
    assert_int_equal(ah_store_listener_secret(s, key, "whsec_other", 2, got), AH_OK);
    assert_string_equal(got, SECRET);
}

static void test_no_keys_is_refused(void **state)
{
    ah_store_t *s = *state;
    ah_keyring_t none = {0};
    char err[512];
    assert_int_equal(keys_init(s, &none, NULL, err), AH_EINVAL);
    assert_int_equal(keys_init(s, NULL, NULL, err), AH_EINVAL);
}

int main(void)
{
    if (tb_check())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_secrets_are_sealed_and_opened, open_fresh,
                                        close_store),
        cmocka_unit_test_setup_teardown(test_rotation_moves_the_sealed_secret, open_fresh,
                                        close_store),
        cmocka_unit_test_setup_teardown(test_a_sealed_secret_does_not_open_in_another_row,
                                        open_fresh, close_store),
        cmocka_unit_test_setup_teardown(test_plain_secrets_are_sealed_at_start, open_plain,
                                        close_store),
        cmocka_unit_test_setup_teardown(test_keys_rotate_and_a_missing_key_is_refused, open_fresh,
                                        close_store),
        cmocka_unit_test_setup_teardown(test_no_keys_is_refused, open_fresh, close_store),
        cmocka_unit_test_setup_teardown(test_listener_secrets_rotate, open_fresh, close_store),
    };
    return cmocka_run_group_tests_name(tb_name(), tests, NULL, NULL);
}
