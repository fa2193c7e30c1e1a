/* SPDX-License-Identifier: MIT */
/*
 * trigger_admin.c: the operator's side of the trigger catalog, under
 * /admin/v1/triggers (docs/api.md, "Triggers"; the CLI's `airhook triggers`).
 *
 *   GET    /triggers        every trigger: built-in (hidden or not) and the operator's
 *   GET    /triggers/{id}   one
 *   POST   /triggers        add an operator's trigger
 *   PATCH  /triggers/{id}   change an operator's trigger, retire or restore it
 *                           ("retired"); hide or show a built-in one ("hidden")
 *   DELETE /triggers/{id}   retire an operator's trigger; a built-in one is 409
 *
 * A trigger's id follows Airmeet's style (letters, digits, '.', '_', '-')
 * and may not be a built-in id.  Its JSON Schema, if any, must be within
 * the subset schema.h checks, and its sample must satisfy it: a sample is
 * what the trigger's deliveries look like.  Nothing is ever deleted: a
 * retired trigger keeps its row so that its webhooks' history still names
 * a trigger the catalog knows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/catalog.h"
#include "api/schema.h"

#define ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

static const char *const operator_fields[] = {
    "id", "description", "airmeetId", "sessionId", "samplePayload", "schema", "retired"};

/* The trigger id in path capture 0 into id; false with 404 answered when it cannot be one. */
static bool path_trigger(const ah_call_t *c, const ah_http_req_t *req, ah_http_resp_t *resp,
                         char id[AH_TRIGGER_MAX])
{
    const char *raw = req->n_params ? req->params[0] : "";
    if (ah_strlcpy(id, raw, AH_TRIGGER_MAX) || !*raw) {
        ah_error(resp, c->dialect, 404, "no trigger with id %.64s", raw);
        return false;
    }
    return true;
}

/* The current catalog, or NULL with the store's failure answered. */
static ah_catalog_t *catalog_or_error(const ah_call_t *c, ah_http_resp_t *resp)
{
    int rc;
    ah_catalog_t *cat = ah_catalog_acquire(c->app->catalog, c->app->store, NULL, &rc);
    if (!cat)
        ah_store_error(resp, c->dialect, rc);
    return cat;
}

void ah_h_trigger_list(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    (void)req;
    ah_catalog_t *cat = catalog_or_error(c, resp);
    if (!cat)
        return;
    size_t n;
    const ah_catalog_trigger_t *all = ah_catalog_all(cat, &n);
    json_t *arr = json_array();
    bool ok = arr != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = !json_array_append_new(arr, ah_catalog_json(&all[i]));
    ah_catalog_release(cat);
    json_t *body = ok ? json_pack("{s:o}", "triggers", arr) : NULL;
    if (!body) {
        if (!ok)
            json_decref(arr);
        ah_store_error(resp, c->dialect, AH_ENOMEM);
        return;
    }
    ah_http_resp_json(resp, 200, body);
}

/* Answers 200 with the catalog's view of id as it is now (after a change). */
static void answer_trigger(const ah_call_t *c, ah_http_resp_t *resp, const char *id, int status)
{
    ah_catalog_t *cat = catalog_or_error(c, resp);
    if (!cat)
        return;
    const ah_catalog_trigger_t *t = ah_catalog_find(cat, id);
    json_t *body = t ? ah_catalog_json(t) : NULL;
    ah_catalog_release(cat);
    if (!t)
        ah_error(resp, c->dialect, 404, "no trigger with id %s", id);
    else if (!body)
        ah_store_error(resp, c->dialect, AH_ENOMEM);
    else
        ah_http_resp_json(resp, status, body);
}

void ah_h_trigger_get(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_TRIGGER_MAX];
    if (path_trigger(c, req, resp, id))
        answer_trigger(c, resp, id, 200);
}

/* A scope field ("airmeetId", "sessionId") into out; 0, or 400 with why. */
static int scope_field(json_t *body, const char *name, char out[AH_SCOPE_NAME_MAX], char *why,
                       size_t whylen)
{
    json_t *v = json_object_get(body, name);
    ah_scope_t s;
    if (!v)
        return 0;
    if (!json_is_string(v) || !ah_scope_parse(json_string_value(v), &s)) {
        snprintf(why, whylen, "field '%s' must be \"none\", \"optional\" or \"required\"", name);
        return 400;
    }
    ah_strlcpy(out, json_string_value(v), AH_SCOPE_NAME_MAX);
    return 0;
}

/* JSON field name as text into *out (malloc'd); 0, or 400 with why. */
static int json_field(json_t *body, const char *name, bool object_only, char **out, char *why,
                      size_t whylen)
{
    json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (object_only ? !json_is_object(v) : !(json_is_object(v) || json_is_boolean(v))) {
        snprintf(why, whylen, "field '%s' must be a JSON object%s", name,
                 object_only ? "" : " (or a boolean schema), or null for none");
        return 400;
    }
    *out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!*out)
        return AH_ENOMEM;
    if (strlen(*out) > AH_TRIGGER_JSON_MAX) {
        snprintf(why, whylen, "field '%s' is too long (at most %d bytes of JSON)", name,
                 AH_TRIGGER_JSON_MAX);
        return 400;
    }
    return 0;
}

/*
 * Checks the fields of an operator's trigger that body gives and applies
 * them to d (a copy of the stored row, or a new one).  d's sample and
 * schema are replaced by malloc'd texts the caller frees.  0, a 400 with
 * why, or AH_ENOMEM.
 */
static int apply_body(json_t *body, ah_trigger_def_t *d, bool *retire_given, bool *retire,
                      char *why, size_t whylen)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (i < AH_ARRAY_LEN(operator_fields) && strcmp(key, operator_fields[i]) != 0)
            i++;
        if (i == AH_ARRAY_LEN(operator_fields)) {
            snprintf(why, whylen,
                     "unknown field '%.64s'; the fields are id, description, airmeetId, "
                     "sessionId, samplePayload, schema and retired",
                     key);
            return 400;
        }
    }
    char desc[AH_DESC_MAX];
    int r = ah_get_str(body, "description", desc, sizeof desc, why, whylen);
    if (r < 0)
        return 400;
    if (r == 1 || json_is_null(json_object_get(body, "description"))) {
        if (!desc[0]) {
            snprintf(why, whylen, "field 'description' must be a non-empty sentence");
            return 400;
        }
        memcpy(d->description, desc, sizeof desc);
    }
    int st;
    if ((st = scope_field(body, "airmeetId", d->airmeet_scope, why, whylen)) ||
        (st = scope_field(body, "sessionId", d->session_scope, why, whylen)))
        return st;
    if (!strcmp(d->airmeet_scope, "none") && strcmp(d->session_scope, "none") != 0) {
        snprintf(why, whylen,
                 "a trigger that takes no airmeetId takes no sessionId either "
                 "(sessionId needs airmeetId)");
        return 400;
    }
    json_t *rv = json_object_get(body, "retired");
    if (rv && !json_is_boolean(rv)) {
        snprintf(why, whylen, "field 'retired' must be true or false");
        return 400;
    }
    *retire_given = rv != NULL;
    *retire = json_is_true(rv);
    char *text = NULL;
    if (json_object_get(body, "samplePayload")) {
        if ((st = json_field(body, "samplePayload", true, &text, why, whylen)))
            goto fail;
        if (!text) {
            snprintf(why, whylen, "field 'samplePayload' must be a JSON object");
            return 400;
        }
        free(d->sample);
        d->sample = text;
        text = NULL;
    }
    if (json_object_get(body, "schema")) {
        if ((st = json_field(body, "schema", false, &text, why, whylen)))
            goto fail;
        free(d->schema);
        d->schema = text;
        text = NULL;
    }
    return 0;
fail:
    free(text);
    return st;
}

/* The schema's checks: within the subset, and the sample satisfies it.  0 or 400 with why. */
static int check_schema_and_sample(const ah_trigger_def_t *d, char *why, size_t whylen)
{
    if (!d->schema)
        return 0;
    json_t *schema = json_loads(d->schema, JSON_DECODE_ANY, NULL);
    json_t *sample = json_loads(d->sample, 0, NULL);
    char inner[AH_WHY_SIZE - 48];
    int st = 0;
    if (!schema || !sample) {
        st = AH_ENOMEM;
    } else if (ah_schema_check(schema, inner, sizeof inner)) {
        snprintf(why, whylen,
                 "field 'schema': %.150s (the keywords airhook checks: docs/triggers.md)", inner);
        st = 400;
    } else if (!ah_schema_validate(schema, sample, inner, sizeof inner)) {
        snprintf(why, whylen, "field 'samplePayload' does not satisfy the schema %.200s", inner);
        st = 400;
    }
    json_decref(schema);
    json_decref(sample);
    return st;
}

/* Answers a failed apply/check: 400 with why, or the store status. */
static void refuse(const ah_call_t *c, ah_http_resp_t *resp, int st, const char *why)
{
    if (st == 400)
        ah_error(resp, c->dialect, 400, "%s", why);
    else
        ah_store_error(resp, c->dialect, st);
}

void ah_h_trigger_create(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char why[AH_WHY_SIZE];
    ah_trigger_def_t d;
    memset(&d, 0, sizeof d);
    ah_strlcpy(d.airmeet_scope, "optional", sizeof d.airmeet_scope);
    ah_strlcpy(d.session_scope, "none", sizeof d.session_scope);
    bool retire_given, retire;
    ah_catalog_t *cat = NULL;
    int st;
    json_t *body = ah_parse_body(req, false, why, sizeof why);
    if (!body) {
        ah_error(resp, c->dialect, 400, "%s", why);
        return;
    }
    if (ah_get_str(body, "id", d.id, sizeof d.id, why, sizeof why) < 0) {
        st = 400;
        goto fail;
    }
    if (!d.id[0] || strspn(d.id, ID_CHARS) != strlen(d.id)) {
        snprintf(why, sizeof why,
                 "field 'id' is required: letters, digits, '.', '_' and '-', at most %d bytes, "
                 "such as trigger.ticket.sold",
                 AH_TRIGGER_MAX - 1);
        st = 400;
        goto fail;
    }
    if ((st = apply_body(body, &d, &retire_given, &retire, why, sizeof why)))
        goto fail;
    if (!d.description[0] || !d.sample) {
        snprintf(why, sizeof why, "field '%s' is required",
                 !d.description[0] ? "description" : "samplePayload");
        st = 400;
        goto fail;
    }
    if (retire_given) {
        snprintf(why, sizeof why, "field 'retired' is for PATCH: a new trigger is in use");
        st = 400;
        goto fail;
    }
    if ((st = check_schema_and_sample(&d, why, sizeof why)))
        goto fail;
    if (ah_trigger_find(d.id)) {
        ah_error(resp, c->dialect, 409, "%s is a built-in trigger", d.id);
        goto out;
    }
    if (!(cat = catalog_or_error(c, resp)))
        goto out;
    size_t n, mine = 0;
    const ah_catalog_trigger_t *all = ah_catalog_all(cat, &n);
    for (size_t i = 0; i < n; i++)
        mine += all[i].builtin == NULL;
    if (mine >= AH_OPERATOR_TRIGGERS_MAX) {
        ah_error(resp, c->dialect, 409,
                 "the catalog has %zu operator triggers, the most it holds (%d); retired ones "
                 "count too",
                 mine, AH_OPERATOR_TRIGGERS_MAX);
        goto out;
    }
    d.created_at = d.updated_at = ah_now_ms();
    int rc = ah_store_trigger_create(c->app->store, &d);
    if (rc == AH_EEXISTS)
        ah_error(resp, c->dialect, 409, "a trigger with id %s already exists", d.id);
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
    else
        answer_trigger(c, resp, d.id, 201);
    goto out;
fail:
    refuse(c, resp, st, why);
out:
    ah_catalog_release(cat);
    ah_trigger_def_clear(&d);
    json_decref(body);
}

/* Hides or shows built-in trigger id: its row in the store says since when. */
static int set_hidden(ah_store_t *s, const char *id, bool hidden)
{
    ah_trigger_def_t d;
    int64_t now = ah_now_ms();
    int rc = ah_store_trigger_get(s, id, &d);
    if (rc == AH_ENOTFOUND) {
        if (!hidden)
            return AH_OK;
        memset(&d, 0, sizeof d);
        ah_strlcpy(d.id, id, sizeof d.id);
        d.builtin = true;
        ah_strlcpy(d.airmeet_scope, "none", sizeof d.airmeet_scope);
        ah_strlcpy(d.session_scope, "none", sizeof d.session_scope);
        d.sample = (char *)"{}";
        d.retired_at = d.created_at = d.updated_at = now;
        rc = ah_store_trigger_create(s, &d);
        if (rc != AH_EEXISTS)
            return rc;
        rc = ah_store_trigger_get(s, id, &d); /* another request hid it first */
    }
    if (rc)
        return rc;
    if ((d.retired_at != 0) != hidden) {
        d.retired_at = hidden ? now : 0;
        d.updated_at = now;
        rc = ah_store_trigger_update(s, &d);
    }
    ah_trigger_def_clear(&d);
    return rc;
}

/* PATCH on a built-in trigger: {"hidden": bool} and nothing else. */
static void patch_builtin(const ah_call_t *c, ah_http_resp_t *resp, const char *id, json_t *body)
{
    json_t *h = json_object_get(body, "hidden");
    if (json_object_size(body) != 1 || !json_is_boolean(h)) {
        ah_error(resp, c->dialect, 400,
                 "%s is a built-in trigger: it cannot be changed, only hidden or shown "
                 "({\"hidden\": true} or false)",
                 id);
        return;
    }
    int rc = set_hidden(c->app->store, id, json_is_true(h));
    if (rc)
        ah_store_error(resp, c->dialect, rc);
    else
        answer_trigger(c, resp, id, 200);
}

void ah_h_trigger_update(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_TRIGGER_MAX], why[AH_WHY_SIZE];
    ah_trigger_def_t d;
    memset(&d, 0, sizeof d);
    bool retire_given = false, retire = false;
    int st;
    json_t *body = NULL;
    if (!path_trigger(c, req, resp, id))
        return;
    if (!(body = ah_parse_body(req, false, why, sizeof why))) {
        ah_error(resp, c->dialect, 400, "%s", why);
        return;
    }
    if (ah_trigger_find(id)) {
        patch_builtin(c, resp, id, body);
        goto out;
    }
    int rc = ah_store_trigger_get(c->app->store, id, &d);
    if (rc == AH_ENOTFOUND || (!rc && d.builtin)) {
        ah_error(resp, c->dialect, 404, "no trigger with id %s", id);
        goto out;
    }
    if (rc) {
        ah_store_error(resp, c->dialect, rc);
        goto out;
    }
    if (json_object_get(body, "hidden")) {
        ah_error(resp, c->dialect, 400,
                 "field 'hidden' is for built-in triggers; an operator's trigger is retired "
                 "({\"retired\": true})");
        goto out;
    }
    json_t *given_id = json_object_get(body, "id");
    if (given_id && !(json_is_string(given_id) && !strcmp(json_string_value(given_id), id))) {
        ah_error(resp, c->dialect, 400, "field 'id' cannot change; add a new trigger instead");
        goto out;
    }
    if ((st = apply_body(body, &d, &retire_given, &retire, why, sizeof why)) ||
        (st = check_schema_and_sample(&d, why, sizeof why))) {
        refuse(c, resp, st, why);
        goto out;
    }
    d.updated_at = ah_now_ms();
    if (retire_given && retire != (d.retired_at != 0))
        d.retired_at = retire ? d.updated_at : 0;
    rc = ah_store_trigger_update(c->app->store, &d);
    if (rc == AH_ENOTFOUND)
        ah_error(resp, c->dialect, 404, "no trigger with id %s", id);
    else if (rc)
        ah_store_error(resp, c->dialect, rc);
    else
        answer_trigger(c, resp, id, 200);
out:
    ah_trigger_def_clear(&d);
    json_decref(body);
}

void ah_h_trigger_retire(ah_call_t *c, ah_http_req_t *req, ah_http_resp_t *resp)
{
    char id[AH_TRIGGER_MAX];
    ah_trigger_def_t d;
    if (!path_trigger(c, req, resp, id))
        return;
    if (ah_trigger_find(id)) {
        ah_error(resp, c->dialect, 409,
                 "%s is a built-in trigger: it cannot be removed, only hidden "
                 "(PATCH /admin/v1/triggers/%s {\"hidden\": true})",
                 id, id);
        return;
    }
    int rc = ah_store_trigger_get(c->app->store, id, &d);
    if (rc == AH_ENOTFOUND || (!rc && d.builtin)) {
        ah_error(resp, c->dialect, 404, "no trigger with id %s", id);
    } else if (rc) {
        ah_store_error(resp, c->dialect, rc);
    } else {
        if (!d.retired_at) {
            d.retired_at = d.updated_at = ah_now_ms();
            rc = ah_store_trigger_update(c->app->store, &d);
        }
        if (rc)
            ah_store_error(resp, c->dialect, rc);
        else
            answer_trigger(c, resp, id, 200);
    }
    ah_trigger_def_clear(&d);
}
