/* SPDX-License-Identifier: MIT */
/*
 * triggers.c: the trigger catalog of SPEC §4 and one sample body per trigger.
 *
 * The catalog is a constant table in SPEC order; each entry says when the
 * trigger fires and whether a webhook for it takes an airmeetId and a
 * sessionId.  A second table, in the same order, names the function that
 * builds the trigger's sample body.  ah_trigger_sample() finds the row by
 * the trigger's id (so a copy of a catalog entry works too), builds the body
 * and puts "triggerMetaInfoId" first in it: every sample carries the id of
 * its trigger under that key, the same name the public API uses.
 *
 * The samples describe one fictional world (a community, one airmeet with
 * two sessions, two speakers, one attendee, one booth) held in constants, so
 * a sample is the same on every call and every sample agrees with the
 * others: the session a poll was answered in is a session of the airmeet.
 * Bodies are built with json_pack; its "o" conversion steals the reference
 * even on failure, so helpers compose without leaking when one returns NULL.
 */
#include "api/triggers.h"

#include <string.h>

#include "common/util.h"

#define COMMUNITY_ID "6f1c2a9e-4b7d-4e3a-9f52-1d8b0c7e6a34"
#define AIRMEET_ID "3f2b8c1e-7a4d-4e9b-9c21-5d6e8f0a1b2c"
#define SESSION1_ID "a7d4e2f1-0b3c-4d5e-8f6a-7b8c9d0e1f2a"
#define SESSION2_ID "c2e9f7b3-5a1d-4c8e-b6f0-3d4a5b6c7d8e"
#define BOOTH_ID "e5b1c8d2-9f3a-4b6c-a7d0-2e4f6a8b0c1d"
#define ENTRY_TOKEN "9c4e7a2b-1d3f-4e5a-8b6c-0d2e4f6a8b9c"

#define AIRMEET_NAME "Product-Led Growth Summit 2020"
#define AIRMEET_START "2020-08-20T10:30:00.000+00:00"
#define AIRMEET_END "2020-08-20T13:30:00.000+00:00"
#define EVENT_LINK "https://www.airmeet.com/e/" AIRMEET_ID

typedef struct person {
    const char *first;
    const char *last;
    const char *name;
    const char *email;
    const char *city;
    const char *country;
    const char *designation;
    const char *organization;
    const char *phone;
} person_t;

typedef struct session {
    const char *id;
    const char *name;
    const char *start;
    const char *end;
} session_t;

static const person_t attendee_p = {
    "Maya",           "Lindqvist", "Maya Lindqvist",           "maya.lindqvist@example.com",
    "Stockholm",      "Sweden",    "Growth Marketing Manager", "Northwind Analytics",
    "+1-202-555-0143"};
static const person_t organiser_p = {
    "Daniel",         "Okafor",  "Daniel Okafor",     "daniel.okafor@example.com",
    "Lagos",          "Nigeria", "Head of Community", "Growth Guild",
    "+1-202-555-0178"};
static const person_t speakers_p[] = {
    {"Arjun", "Mehta", "Arjun Mehta", "arjun.mehta@example.com", "Bengaluru", "India", "VP Product",
     "Lumen Labs", "+1-202-555-0116"},
    {"Sofia", "Reyes", "Sofia Reyes", "sofia.reyes@example.com", "Madrid", "Spain",
     "Director of Lifecycle Marketing", "Brightpath", "+1-202-555-0191"},
};
static const session_t sessions_s[] = {
    {SESSION1_ID, "Opening keynote: growth loops that compound", "2020-08-20T10:30:00.000+00:00",
     "2020-08-20T11:15:00.000+00:00"},
    {SESSION2_ID, "Panel: onboarding that converts", "2020-08-20T11:30:00.000+00:00",
     "2020-08-20T12:30:00.000+00:00"},
};

static const ah_trigger_t catalog[] = {
    {"trigger.airmeet.created", "An airmeet is created in the community.", AH_SCOPE_OPTIONAL,
     AH_SCOPE_NONE},
    {"trigger.airmeet.started", "An airmeet reaches its scheduled start time.", AH_SCOPE_OPTIONAL,
     AH_SCOPE_NONE},
    {"trigger.airmeet.finished", "An airmeet reaches its scheduled end time.", AH_SCOPE_OPTIONAL,
     AH_SCOPE_NONE},
    {"trigger.airmeet.reminder", "An airmeet is 4 hours away from its scheduled start time.",
     AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.airmeet.recording.available",
     "The session recordings of an airmeet become available.", AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.airmeet.attendee.added", "Someone registers for any airmeet of the community.",
     AH_SCOPE_OPTIONAL, AH_SCOPE_NONE},
    {"trigger.airmeet.registrant.added", "Someone registers for the one airmeet the webhook names.",
     AH_SCOPE_REQUIRED, AH_SCOPE_NONE},
    {"trigger.airmeet.attendee.joined", "An attendee joins the airmeet.", AH_SCOPE_REQUIRED,
     AH_SCOPE_NONE},
    {"trigger.session.attendee.joined", "An attendee joins a session.", AH_SCOPE_REQUIRED,
     AH_SCOPE_OPTIONAL},
    {"trigger.airmeet.polls", "An attendee answers a poll.", AH_SCOPE_REQUIRED, AH_SCOPE_OPTIONAL},
    {"trigger.airmeet.questions", "An attendee asks a question.", AH_SCOPE_OPTIONAL,
     AH_SCOPE_OPTIONAL},
    {"trigger.attendee.booth.joined", "An attendee enters a booth.", AH_SCOPE_OPTIONAL,
     AH_SCOPE_NONE},
};

/* The attendee as the interaction triggers nest it under "attendee". */
static json_t *attendee(const person_t *p)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", p->name, "firstName",
                     p->first, "lastName", p->last, "email", p->email, "city", p->city, "country",
                     p->country, "designation", p->designation, "organization", p->organization);
}

static json_t *speakers(void)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < AH_ARRAY_LEN(speakers_p); i++) {
        const person_t *p = &speakers_p[i];
        json_t *s = json_pack("{s:s, s:s, s:s, s:s}", "name", p->name, "email", p->email,
                              "designation", p->designation, "organization", p->organization);
        if (json_array_append_new(arr, s)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *sessions(void)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < AH_ARRAY_LEN(sessions_s); i++) {
        const session_t *s = &sessions_s[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "sessionId", s->id, "name", s->name,
                              "start_time", s->start, "end_time", s->end);
        if (json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* {"sessionId","name"}: the session a poll or question happened in. */
static json_t *session_ref(const session_t *s)
{
    return json_pack("{s:s, s:s}", "sessionId", s->id, "name", s->name);
}

/* The airmeet as the lifecycle triggers (created ... reminder) send it. */
static json_t *airmeet_lifecycle(const char *status)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
                     " s:o, s:o}",
                     "id", AIRMEET_ID, "name", AIRMEET_NAME, "status", status, "start_time",
                     AIRMEET_START, "end_time", AIRMEET_END, "timezone", "Asia/Kolkata",
                     "community_id", COMMUNITY_ID, "community_name", "Growth Guild",
                     "organiser_name", organiser_p.name, "organiser_email", organiser_p.email,
                     "short_desc", "Three hours of talks and panels on product-led growth.",
                     "sessions", sessions(), "speakers", speakers());
}

static json_t *sample_created(void)
{
    return airmeet_lifecycle("CREATED");
}
static json_t *sample_started(void)
{
    return airmeet_lifecycle("ONGOING");
}
static json_t *sample_finished(void)
{
    return airmeet_lifecycle("FINISHED");
}
static json_t *sample_reminder(void)
{
    return airmeet_lifecycle("CREATED");
}

static json_t *sample_recording(void)
{
    json_t *recs =
        json_pack("[{s:s, s:s}, {s:s, s:s}]", "sessionId", SESSION1_ID, "link",
                  "https://recordings.example.com/" SESSION1_ID ".mp4", "sessionId", SESSION2_ID,
                  "link", "https://recordings.example.com/" SESSION2_ID ".mp4");
    return json_pack("{s:s, s:s, s:o}", "airmeetId", AIRMEET_ID, "airmeetName", AIRMEET_NAME,
                     "recordings", recs);
}

/* A registration: flat, as Airmeet's registrant exports are. */
static json_t *sample_registration(void)
{
    const person_t *p = &attendee_p;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
                     " s:s, s:s, s:s, s:s, s:s, s:s}",
                     "airmeetId", AIRMEET_ID, "airmeetName", AIRMEET_NAME, "firstName", p->first,
                     "lastName", p->last, "name", p->name, "email", p->email, "city", p->city,
                     "country", p->country, "designation", p->designation, "organization",
                     p->organization, "phoneNumber", p->phone, "registrationTime",
                     "2020-08-04T06:38:51.106+00:00", "registrationLink", EVENT_LINK, "entryLink",
                     EVENT_LINK "?t=" ENTRY_TOKEN, "utmSource", "newsletter", "utmMedium", "email",
                     "utmCampaign", "plg-summit-2020", "utmTerm", "product led growth",
                     "utmContent", "hero-button");
}

static json_t *sample_attendee_joined(void)
{
    return json_pack("{s:s, s:s, s:o, s:s}", "airmeetId", AIRMEET_ID, "airmeetName", AIRMEET_NAME,
                     "attendee", attendee(&attendee_p), "joinedAt",
                     "2020-08-20T10:27:14.482+00:00");
}

static json_t *sample_session_joined(void)
{
    const session_t *s = &sessions_s[0];
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "airmeetId", AIRMEET_ID, "airmeetName",
                     AIRMEET_NAME, "sessionId", s->id, "sessionName", s->name, "attendee",
                     attendee(&attendee_p), "joinedAt", "2020-08-20T10:31:02.917+00:00");
}

static json_t *sample_polls(void)
{
    json_t *polls = json_pack(
        "[{s:s, s:s, s:s}]", "question", "Which growth loop drives most of your signups today?",
        "answer", "Referrals from existing users", "answeredAt", "2020-08-20T10:52:40.315+00:00");
    return json_pack("{s:s, s:s, s:o, s:o, s:o}", "airmeetId", AIRMEET_ID, "airmeetName",
                     AIRMEET_NAME, "session", session_ref(&sessions_s[0]), "attendee",
                     attendee(&attendee_p), "polls", polls);
}

static json_t *sample_questions(void)
{
    json_t *questions = json_pack("[{s:s, s:s, s:i}]", "question",
                                  "How do you measure activation for a freemium product?",
                                  "askedAt", "2020-08-20T11:48:09.624+00:00", "upvotes", 7);
    return json_pack("{s:s, s:s, s:o, s:o, s:o}", "airmeetId", AIRMEET_ID, "airmeetName",
                     AIRMEET_NAME, "session", session_ref(&sessions_s[1]), "attendee",
                     attendee(&attendee_p), "questions", questions);
}

static json_t *sample_booth_joined(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "airmeetId", AIRMEET_ID, "airmeetName",
                     AIRMEET_NAME, "boothId", BOOTH_ID, "boothName", "Lumen Labs", "attendee",
                     attendee(&attendee_p), "joinedAt", "2020-08-20T12:41:55.208+00:00");
}

/* Builders, one per catalog row and in the same order. */
static json_t *(*const builders[])(void) = {
    sample_created,        sample_started,      sample_finished,     sample_reminder,
    sample_recording,      sample_registration, sample_registration, sample_attendee_joined,
    sample_session_joined, sample_polls,        sample_questions,    sample_booth_joined,
};

_Static_assert(AH_ARRAY_LEN(builders) == AH_ARRAY_LEN(catalog), "one sample builder per trigger");

const ah_trigger_t *ah_triggers(size_t *n)
{
    if (n)
        *n = AH_ARRAY_LEN(catalog);
    return catalog;
}

/* The catalog row of id, or -1. */
static long row_of(const char *id)
{
    if (!id)
        return -1;
    for (size_t i = 0; i < AH_ARRAY_LEN(catalog); i++)
        if (strcmp(catalog[i].id, id) == 0)
            return (long)i;
    return -1;
}

const ah_trigger_t *ah_trigger_find(const char *id)
{
    long row = row_of(id);
    return row < 0 ? NULL : &catalog[row];
}

json_t *ah_trigger_sample(const ah_trigger_t *t)
{
    long row = row_of(t ? t->id : NULL);
    if (row < 0)
        return NULL;
    json_t *body = builders[row]();
    if (!body)
        return NULL;
    /* A fresh object with the trigger first, then the body's keys in order. */
    json_t *out = json_pack("{s:s}", "triggerMetaInfoId", catalog[row].id);
    if (!out || json_object_update(out, body)) {
        json_decref(out);
        out = NULL;
    }
    json_decref(body);
    return out;
}
