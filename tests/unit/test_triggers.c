/* SPDX-License-Identifier: MIT */
/*
 * test_triggers.c: the built-in trigger catalog (data/triggers.json, compiled
 * in) and its sample bodies (SPEC §4, docs/triggers.md).
 *
 * The catalog must hold the twelve triggers of SPEC §4 in SPEC order with
 * the SPEC's airmeetId/sessionId rules, then the ten newer ids of Airmeet's
 * current catalog with the rules airhook chose, and find them by exact name
 * only.  docs/triggers.md must say exactly what the catalog generates.  Each sample
 * must be a JSON object that carries its trigger as "triggerMetaInfoId", has
 * the fields its kind promises, uses lowercase UUID v4 ids, wire-format
 * times and example.com emails, and is byte-identical from call to call.
 * Building a sample when memory runs out returns NULL and leaks nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/triggers.h"

static const struct {
    const char *id;
    ah_scope_t airmeet;
    ah_scope_t session;
} spec[] = {
    {"trigger.airmeet.created", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.airmeet.started", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.airmeet.finished", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.airmeet.reminder", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.airmeet.recording.available", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.airmeet.attendee.added", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.airmeet.registrant.added", AH_SCOPE_REQUIRED, AH_SCOPE_NONE},
    {"trigger.airmeet.attendee.joined", AH_SCOPE_REQUIRED, AH_SCOPE_NONE},
    {"trigger.session.attendee.joined", AH_SCOPE_REQUIRED, AH_SCOPE_OPTIONAL},
    {"trigger.airmeet.polls", AH_SCOPE_REQUIRED, AH_SCOPE_OPTIONAL},
    {"trigger.airmeet.questions", AH_SCOPE_OPTIONAL, AH_SCOPE_OPTIONAL},
    {"trigger.attendee.booth.joined", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    /* The newer ids (docs/triggers.md, "Sources"): scope rules chosen by airhook. */
    {"trigger.attendee.entered_airmeet", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.attendee.clicked_cta", AH_SCOPE_OPTIONAL, AH_SCOPE_OPTIONAL},
    {"trigger.attendee.engagement_score", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.leaderboard.scoreboard", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.attendee.joined_stage", AH_SCOPE_OPTIONAL, AH_SCOPE_OPTIONAL},
    {"trigger.attendee.joined_booth", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.attendee.joined_table", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.attendee.joined_session", AH_SCOPE_OPTIONAL, AH_SCOPE_OPTIONAL},
    {"trigger.attendee.opened_resource", AH_SCOPE_OPTIONAL, AH_SCOPE_OPTIONAL},
    {"trigger.attendee.ondemand_session_attendance", AH_SCOPE_OPTIONAL, AH_SCOPE_OPTIONAL},
};
#define SPEC_N (sizeof spec / sizeof spec[0])

/* The sample of the trigger named id; fails the test if there is none. */
static json_t *sample_of(const char *id)
{
    const ah_trigger_t *t = ah_trigger_find(id);
    assert_non_null(t);
    json_t *body = ah_trigger_sample(t);
    assert_non_null(body);
    assert_true(json_is_object(body));
    return body;
}

static void assert_string_field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("field \"%s\" is missing or not a string", key);
    assert_true(json_string_length(v) > 0);
}

static void assert_string_fields(const json_t *obj, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++)
        assert_string_field(obj, keys[i]);
}

/* obj[key] is a non-empty array of objects; returns it. */
static const json_t *nonempty_array(const json_t *obj, const char *key)
{
    const json_t *arr = json_object_get(obj, key);
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        fail_msg("field \"%s\" is missing or not a non-empty array", key);
    for (size_t i = 0; i < json_array_size(arr); i++)
        assert_true(json_is_object(json_array_get(arr, i)));
    return arr;
}

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int is_uuid_v4_lower(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!is_lower_hex(s[i])) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* "2020-08-04T06:38:51.106+00:00" */
static int is_wire_time(const char *s)
{
    const char *shape = "dddd-dd-ddTdd:dd:dd.ddd+00:00";
    if (strlen(s) != strlen(shape))
        return 0;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Key naming an id: "id", "sessionId", "community_id" (not "triggerMetaInfoId"). */
static int is_id_key(const char *key)
{
    return strcmp(key, "triggerMetaInfoId") != 0 &&
           (strcmp(key, "id") == 0 || ends_with(key, "Id") || ends_with(key, "_id"));
}

static int is_time_key(const char *key)
{
    return ends_with(key, "At") || ends_with(key, "Time") || ends_with(key, "_time");
}

/* Every id, time and email anywhere in v has the wire shape. */
static void check_values(const json_t *v)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            check_values(json_array_get(v, i));
        return;
    }
    if (!json_is_object(v))
        return;
    const char *key;
    const json_t *child;
    json_object_foreach((json_t *)v, key, child)
    {
        if (json_is_string(child)) {
            const char *s = json_string_value(child);
            if (is_id_key(key) && !is_uuid_v4_lower(s))
                fail_msg("\"%s\": \"%s\" is not a lowercase UUID v4", key, s);
            if (is_time_key(key) && !is_wire_time(s))
                fail_msg("\"%s\": \"%s\" is not a wire timestamp", key, s);
            if (strstr(key, "email") && !ends_with(s, "@example.com"))
                fail_msg("\"%s\": \"%s\" is not an example.com address", key, s);
        } else {
            check_values(child);
        }
    }
}

/* The id of the airmeet the lifecycle samples describe, into out. */
static void lifecycle_airmeet_id(char out[64])
{
    json_t *body = sample_of("trigger.airmeet.created");
    const char *id = json_string_value(json_object_get(body, "id"));
    assert_non_null(id);
    assert_true(strlen(id) < 64);
    memcpy(out, id, strlen(id) + 1);
    json_decref(body);
}

static void test_catalog_in_spec_order(void **state)
{
    (void)state;
    size_t n = 0;
    const ah_trigger_t *all = ah_triggers(&n);
    assert_non_null(all);
    assert_null(ah_triggers_problem());
    assert_int_equal(n, 22);
    assert_int_equal(n, SPEC_N);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(all[i].id, spec[i].id);
        assert_ptr_equal(ah_trigger_find(spec[i].id), &all[i]);
        assert_non_null(all[i].fires_when);
        size_t len = strlen(all[i].fires_when);
        assert_true(len > 10);
        assert_int_equal(all[i].fires_when[len - 1], '.');
    }
    assert_ptr_equal(ah_triggers(NULL), all);
}

static void test_scopes_match_spec(void **state)
{
    (void)state;
    for (size_t i = 0; i < SPEC_N; i++) {
        const ah_trigger_t *t = ah_trigger_find(spec[i].id);
        assert_non_null(t);
        if (t->airmeet != spec[i].airmeet || t->session != spec[i].session)
            fail_msg("%s: scope airmeet=%d session=%d, SPEC says %d/%d", t->id, (int)t->airmeet,
                     (int)t->session, (int)spec[i].airmeet, (int)spec[i].session);
        /* A session scope without an airmeet scope would be unregistrable. */
        if (t->session != AH_SCOPE_NONE)
            assert_int_not_equal(t->airmeet, AH_SCOPE_NONE);
    }
}

static void test_find_rejects_near_misses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "trigger",
        "trigger.airmeet",
        "Trigger.airmeet.created",
        "TRIGGER.AIRMEET.CREATED",
        "trigger.airmeet.created ",
        " trigger.airmeet.created",
        "trigger.airmeet.created.x",
        "trigger.airmeet.create",
        "trigger.airmeet.attendee.registered",
        "trigger.airmeet.poll",
        "trigger.airmeet.created\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ah_trigger_find(bad[i]))
            fail_msg("ah_trigger_find(\"%s\") should be NULL", bad[i]);
    assert_null(ah_trigger_find(NULL));
}

static void test_sample_rejects_unknown(void **state)
{
    (void)state;
    assert_null(ah_trigger_sample(NULL));
    ah_trigger_t fake = {.id = "trigger.nope", .fires_when = "Never."};
    assert_null(ah_trigger_sample(&fake));
    ah_trigger_t no_id = {.id = NULL, .fires_when = "Never."};
    assert_null(ah_trigger_sample(&no_id));
    /* A copy of a catalog row is the same trigger. */
    ah_trigger_t copy = *ah_trigger_find("trigger.airmeet.polls");
    json_t *body = ah_trigger_sample(&copy);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "triggerMetaInfoId")),
                        "trigger.airmeet.polls");
    json_decref(body);
}

static void test_every_sample_is_stable_and_well_formed(void **state)
{
    (void)state;
    char airmeet[64];
    lifecycle_airmeet_id(airmeet);
    size_t n = 0;
    const ah_trigger_t *all = ah_triggers(&n);
    for (size_t i = 0; i < n; i++) {
        json_t *a = ah_trigger_sample(&all[i]);
        json_t *b = ah_trigger_sample(&all[i]);
        assert_non_null(a);
        assert_non_null(b);
        assert_true(a != b);
        assert_true(json_is_object(a));
        /* The trigger rides in the body, first. */
        void *it = json_object_iter(a);
        assert_non_null(it);
        assert_string_equal(json_object_iter_key(it), "triggerMetaInfoId");
        assert_string_equal(json_string_value(json_object_iter_value(it)), all[i].id);
        assert_true(json_object_size(a) > 3);
        check_values(a);
        const json_t *am = json_object_get(a, "airmeetId");
        if (am)
            assert_string_equal(json_string_value(am), airmeet);

        char *ta = json_dumps(a, JSON_COMPACT);
        char *tb = json_dumps(b, JSON_COMPACT);
        assert_non_null(ta);
        assert_non_null(tb);
        assert_string_equal(ta, tb);
        /* It round-trips: what is served is what parses. */
        json_t *back = json_loads(ta, 0, NULL);
        assert_non_null(back);
        assert_true(json_equal(back, a));
        json_decref(back);
        free(ta);
        free(tb);
        json_decref(a);
        json_decref(b);
    }
}

static void test_lifecycle_samples(void **state)
{
    (void)state;
    static const char *const keys[] = {
        "id",         "name",         "status",         "start_time",     "end_time",
        "timezone",   "community_id", "community_name", "organiser_name", "organiser_email",
        "short_desc", NULL,
    };
    static const struct {
        const char *id;
        const char *status;
    } cases[] = {
        {"trigger.airmeet.created", "CREATED"},
        {"trigger.airmeet.started", "ONGOING"},
        {"trigger.airmeet.finished", "FINISHED"},
        {"trigger.airmeet.reminder", "CREATED"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        json_t *body = sample_of(cases[c].id);
        assert_string_fields(body, keys);
        assert_string_equal(json_string_value(json_object_get(body, "status")), cases[c].status);
        const json_t *sessions = nonempty_array(body, "sessions");
        for (size_t i = 0; i < json_array_size(sessions); i++) {
            static const char *const skeys[] = {"sessionId", "name", "start_time", "end_time",
                                                NULL};
            assert_string_fields(json_array_get(sessions, i), skeys);
        }
        const json_t *speakers = nonempty_array(body, "speakers");
        for (size_t i = 0; i < json_array_size(speakers); i++) {
            static const char *const pkeys[] = {"name", "email", "designation", "organization",
                                                NULL};
            assert_string_fields(json_array_get(speakers, i), pkeys);
        }
        json_decref(body);
    }
}

static void test_registration_samples(void **state)
{
    (void)state;
    static const char *const keys[] = {
        "airmeetId",
        "airmeetName",
        "firstName",
        "lastName",
        "name",
        "email",
        "city",
        "country",
        "designation",
        "organization",
        "phoneNumber",
        "registrationTime",
        "registrationLink",
        "entryLink",
        "utmSource",
        "utmMedium",
        "utmCampaign",
        "utmTerm",
        "utmContent",
        NULL,
    };
    static const char *const ids[] = {"trigger.airmeet.attendee.added",
                                      "trigger.airmeet.registrant.added"};
    for (size_t i = 0; i < 2; i++) {
        json_t *body = sample_of(ids[i]);
        assert_string_fields(body, keys);
        json_decref(body);
    }
}

/* True when sid is one of the sessions of the lifecycle sample. */
static int session_of_airmeet(const char *sid)
{
    json_t *body = sample_of("trigger.airmeet.created");
    const json_t *sessions = json_object_get(body, "sessions");
    int found = 0;
    for (size_t i = 0; i < json_array_size(sessions); i++) {
        const json_t *s = json_array_get(sessions, i);
        if (strcmp(json_string_value(json_object_get(s, "sessionId")), sid) == 0)
            found = 1;
    }
    json_decref(body);
    return found;
}

static void test_recording_sample(void **state)
{
    (void)state;
    json_t *body = sample_of("trigger.airmeet.recording.available");
    assert_string_field(body, "airmeetId");
    const json_t *recs = nonempty_array(body, "recordings");
    for (size_t i = 0; i < json_array_size(recs); i++) {
        const json_t *r = json_array_get(recs, i);
        static const char *const keys[] = {"link", "sessionId", NULL};
        assert_string_fields(r, keys);
        assert_true(strncmp(json_string_value(json_object_get(r, "link")), "https://", 8) == 0);
        const char *sid = json_string_value(json_object_get(r, "sessionId"));
        assert_true(session_of_airmeet(sid));
    }
    json_decref(body);
}

static void assert_attendee(const json_t *body)
{
    const json_t *a = json_object_get(body, "attendee");
    assert_true(json_is_object(a));
    static const char *const keys[] = {"name", "firstName", "lastName", "email", NULL};
    assert_string_fields(a, keys);
}

static void assert_session(const json_t *body)
{
    const json_t *s = json_object_get(body, "session");
    assert_true(json_is_object(s));
    static const char *const keys[] = {"sessionId", "name", NULL};
    assert_string_fields(s, keys);
    assert_true(session_of_airmeet(json_string_value(json_object_get(s, "sessionId"))));
}

static void test_polls_sample(void **state)
{
    (void)state;
    json_t *body = sample_of("trigger.airmeet.polls");
    assert_string_field(body, "airmeetId");
    assert_attendee(body);
    assert_session(body);
    const json_t *polls = nonempty_array(body, "polls");
    static const char *const keys[] = {"question", "answer", NULL};
    for (size_t i = 0; i < json_array_size(polls); i++)
        assert_string_fields(json_array_get(polls, i), keys);
    json_decref(body);
}

static void test_questions_sample(void **state)
{
    (void)state;
    json_t *body = sample_of("trigger.airmeet.questions");
    assert_string_field(body, "airmeetId");
    assert_attendee(body);
    assert_session(body);
    const json_t *qs = nonempty_array(body, "questions");
    static const char *const keys[] = {"question", "askedAt", NULL};
    for (size_t i = 0; i < json_array_size(qs); i++)
        assert_string_fields(json_array_get(qs, i), keys);
    json_decref(body);
}

static void test_joined_samples(void **state)
{
    (void)state;
    char airmeet[64];
    lifecycle_airmeet_id(airmeet);

    json_t *body = sample_of("trigger.airmeet.attendee.joined");
    static const char *const akeys[] = {"airmeetId", "joinedAt", NULL};
    assert_string_fields(body, akeys);
    assert_string_equal(json_string_value(json_object_get(body, "airmeetId")), airmeet);
    assert_attendee(body);
    json_decref(body);

    body = sample_of("trigger.session.attendee.joined");
    static const char *const skeys[] = {"airmeetId", "sessionId", "sessionName", "joinedAt", NULL};
    assert_string_fields(body, skeys);
    const char *sid = json_string_value(json_object_get(body, "sessionId"));
    assert_true(session_of_airmeet(sid));
    assert_attendee(body);
    json_decref(body);

    body = sample_of("trigger.attendee.booth.joined");
    static const char *const bkeys[] = {"airmeetId", "boothId", "boothName", "joinedAt", NULL};
    assert_string_fields(body, bkeys);
    assert_attendee(body);
    json_decref(body);
}

static void test_newer_samples(void **state)
{
    (void)state;
    char airmeet[64];
    lifecycle_airmeet_id(airmeet);
    /* Each newer trigger's body names the airmeet, and a person or the leaderboard. */
    for (size_t i = 12; i < SPEC_N; i++) {
        json_t *body = sample_of(spec[i].id);
        assert_string_equal(json_string_value(json_object_get(body, "airmeetId")), airmeet);
        assert_string_field(body, "airmeetName");
        if (strcmp(spec[i].id, "trigger.leaderboard.scoreboard") == 0)
            nonempty_array(body, "leaderboard");
        else
            assert_attendee(body);
        /* A session-scoped trigger's body says which session of the airmeet. */
        const json_t *sid = json_object_get(body, "sessionId");
        if (spec[i].session != AH_SCOPE_NONE) {
            assert_non_null(sid);
            assert_true(session_of_airmeet(json_string_value(sid)));
        }
        json_decref(body);
    }
    json_t *body = sample_of("trigger.attendee.clicked_cta");
    const json_t *cta = json_object_get(body, "cta");
    static const char *const ckeys[] = {"ctaText", "ctaLink", NULL};
    assert_string_fields(cta, ckeys);
    json_decref(body);
}

static void test_every_trigger_cites_and_explains(void **state)
{
    (void)state;
    size_t n = 0, n_sources = 0;
    const ah_trigger_t *all = ah_triggers(&n);
    const ah_trigger_source_t *src = ah_trigger_sources(&n_sources);
    assert_true(n_sources >= 5);
    for (size_t i = 0; i < n_sources; i++)
        assert_true(src[i].tag[0] && src[i].what[0] && src[i].where[0]);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(all[i].sources);
        assert_non_null(all[i].sample_note);
        assert_non_null(all[i].chosen);
        /* Every tag a trigger cites is a listed source. */
        for (const char *tag = all[i].sources; *tag;) {
            size_t len = strcspn(tag, " "), k = 0;
            while (k < n_sources && !(strlen(src[k].tag) == len && !strncmp(src[k].tag, tag, len)))
                k++;
            if (k == n_sources)
                fail_msg("%s cites %.*s, which is not a listed source", all[i].id, (int)len, tag);
            tag += len + (tag[len] == ' ');
        }
    }
}

static void test_scope_names(void **state)
{
    (void)state;
    ah_scope_t s;
    for (int i = AH_SCOPE_NONE; i <= AH_SCOPE_REQUIRED; i++) {
        assert_true(ah_scope_parse(ah_scope_name((ah_scope_t)i), &s));
        assert_int_equal(s, i);
    }
    assert_false(ah_scope_parse("Optional", &s));
    assert_false(ah_scope_parse("", &s));
    assert_false(ah_scope_parse(NULL, &s));
    assert_string_equal(ah_scope_name((ah_scope_t)7), "?");
}

/* The text of path (malloc'd), or NULL. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[8192];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *grown = realloc(buf, cap);
            assert_non_null(grown);
            buf = grown;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* docs/triggers.md holds what the catalog generates, byte for byte. */
static void test_docs_match_catalog(void **state)
{
    (void)state;
    char *doc = read_file(AH_SOURCE_DIR "/docs/triggers.md");
    if (!doc)
        fail_msg("cannot read %s", AH_SOURCE_DIR "/docs/triggers.md");
    char *want = ah_triggers_markdown();
    assert_non_null(want);
    const char *begin = strstr(doc, AH_TRIGGERS_DOC_BEGIN);
    const char *end = begin ? strstr(begin, AH_TRIGGERS_DOC_END) : NULL;
    if (!begin || !end)
        fail_msg("docs/triggers.md lacks the generated part's markers; run make triggers-doc");
    size_t have_len = (size_t)(end - begin) + strlen(AH_TRIGGERS_DOC_END) + 1;
    if (strlen(want) != have_len || strncmp(begin, want, have_len) != 0) {
        /* Say where they part, line by line. */
        size_t line = 1, i = 0;
        while (begin[i] && want[i] && begin[i] == want[i])
            line += begin[i++] == '\n';
        const char *a = begin + i, *b = want + i;
        while (a > begin && a[-1] != '\n')
            a--, b--;
        fail_msg("docs/triggers.md differs from data/triggers.json at line %zu of the generated "
                 "part:\n  docs: %.120s\n  data: %.120s\nrun make triggers-doc",
                 line, a, b);
    }
    free(want);
    free(doc);
}

/* An allocator that fails every allocation after the first `budget`. */
static long budget;
static void *failing_malloc(size_t size)
{
    if (budget-- <= 0)
        return NULL;
    return malloc(size);
}

static void test_samples_survive_allocation_failure(void **state)
{
    (void)state;
    size_t n = 0;
    const ah_trigger_t *all = ah_triggers(&n);
    for (size_t i = 0; i < n; i++) {
        /* Fail the 1st, 2nd, ... allocation until the sample builds. */
        for (long k = 0;; k++) {
            assert_true(k < 10000);
            budget = k;
            json_set_alloc_funcs(failing_malloc, free);
            json_t *body = ah_trigger_sample(&all[i]);
            json_set_alloc_funcs(malloc, free);
            if (body) {
                assert_true(json_is_object(body));
                json_decref(body);
                break;
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_in_spec_order),
        cmocka_unit_test(test_scopes_match_spec),
        cmocka_unit_test(test_find_rejects_near_misses),
        cmocka_unit_test(test_sample_rejects_unknown),
        cmocka_unit_test(test_every_sample_is_stable_and_well_formed),
        cmocka_unit_test(test_lifecycle_samples),
        cmocka_unit_test(test_registration_samples),
        cmocka_unit_test(test_recording_sample),
        cmocka_unit_test(test_polls_sample),
        cmocka_unit_test(test_questions_sample),
        cmocka_unit_test(test_joined_samples),
        cmocka_unit_test(test_newer_samples),
        cmocka_unit_test(test_every_trigger_cites_and_explains),
        cmocka_unit_test(test_scope_names),
        cmocka_unit_test(test_docs_match_catalog),
        cmocka_unit_test(test_samples_survive_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
