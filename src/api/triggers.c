/* SPDX-License-Identifier: MIT */
/*
 * triggers.c: the built-in trigger catalog, read from the data the build
 * embeds (data/triggers.json, as the byte array ah_triggers_json), and the
 * Markdown docs/triggers.md is generated from.
 *
 * The file is parsed once, at first use (pthread_once), into a table of
 * ah_trigger_t whose strings point into the parsed document, which is kept
 * for the life of the process; the table is then read-only and shared by
 * every thread.  Each row is checked as it is read: a unique id that fits
 * AH_TRIGGER_MAX, a sentence for when it fires, scope names, a session
 * scope only with an airmeet scope, and a sample that is an object whose
 * first key is "triggerMetaInfoId" naming the trigger.  A catalog that
 * fails any check is no catalog at all (ah_triggers_problem says why), so a
 * bad edit of the data file stops the server at start and fails the unit
 * tests instead of serving half a catalog.
 *
 * A sample is handed out as a deep copy of its parsed body, so the order
 * of its keys is the file's and every call returns the same bytes.
 */
#include "api/triggers.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "store/store.h"

/* The embedded file (the build generates them from data/triggers.json). */
extern const unsigned char ah_triggers_json[];
extern const size_t ah_triggers_json_len;

#define MAX_TRIGGERS 128
#define MAX_SOURCES 32
#define SOURCES_TEXT 96 /* "S1 S3 S4 S5 S9 S13" */

static struct {
    json_t *doc; /* the parsed file: every string below points into it */
    ah_trigger_t rows[MAX_TRIGGERS];
    json_t *samples[MAX_TRIGGERS];
    char sources_text[MAX_TRIGGERS][SOURCES_TEXT];
    size_t n;
    ah_trigger_source_t sources[MAX_SOURCES];
    size_t n_sources;
    char problem[256]; /* "" when the catalog was read whole */
} cat;

static pthread_once_t cat_once = PTHREAD_ONCE_INIT;

static const char *const scope_names[] = {"none", "optional", "required"};

const char *ah_scope_name(ah_scope_t s)
{
    return (unsigned)s < AH_ARRAY_LEN(scope_names) ? scope_names[s] : "?";
}

bool ah_scope_parse(const char *s, ah_scope_t *out)
{
    for (size_t i = 0; s && i < AH_ARRAY_LEN(scope_names); i++) {
        if (strcmp(s, scope_names[i]) == 0) {
            *out = (ah_scope_t)i;
            return true;
        }
    }
    return false;
}

static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cat.problem, sizeof cat.problem, fmt, ap);
    va_end(ap);
    return false;
}

/* obj[key] as a non-empty string, or NULL. */
static const char *text_of(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

static bool read_sources(json_t *arr)
{
    if (!json_is_array(arr) || json_array_size(arr) > MAX_SOURCES)
        return fail("\"sources\" must be an array of at most %d sources", MAX_SOURCES);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        ah_trigger_source_t *s = &cat.sources[i];
        s->tag = text_of(v, "tag");
        s->what = text_of(v, "what");
        s->where = text_of(v, "where");
        if (!s->tag || !s->what || !s->where)
            return fail("source %zu needs \"tag\", \"what\" and \"where\"", i + 1);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cat.sources[j].tag, s->tag) == 0)
                return fail("source tag %s is given twice", s->tag);
    }
    cat.n_sources = json_array_size(arr);
    return true;
}

static bool known_source(const char *tag)
{
    for (size_t i = 0; i < cat.n_sources; i++)
        if (strcmp(cat.sources[i].tag, tag) == 0)
            return true;
    return false;
}

/* The row's "sources" (tags of known sources) joined with spaces into out. */
static bool read_row_sources(const char *id, json_t *arr, char out[SOURCES_TEXT])
{
    size_t used = 0, i;
    json_t *v;
    out[0] = '\0';
    if (!json_is_array(arr) || !json_array_size(arr))
        return fail("%s: \"sources\" must name at least one source", id);
    json_array_foreach(arr, i, v)
    {
        const char *tag = json_string_value(v);
        if (!tag || !known_source(tag))
            return fail("%s: source %zu is not a tag of \"sources\"", id, i + 1);
        int n = snprintf(out + used, SOURCES_TEXT - used, "%s%s", used ? " " : "", tag);
        if (n < 0 || (size_t)n >= SOURCES_TEXT - used)
            return fail("%s: too many sources", id);
        used += (size_t)n;
    }
    return true;
}

static bool read_scope(const char *id, json_t *row, const char *key, ah_scope_t *out)
{
    if (!ah_scope_parse(text_of(row, key), out))
        return fail("%s: \"%s\" must be none, optional or required", id, key);
    return true;
}

static bool read_row(size_t i, json_t *row)
{
    ah_trigger_t *t = &cat.rows[i];
    const char *id = text_of(row, "id");
    if (!id || strlen(id) >= AH_TRIGGER_MAX)
        return fail("trigger %zu: \"id\" must be 1 to %d bytes", i + 1, AH_TRIGGER_MAX - 1);
    for (size_t j = 0; j < i; j++)
        if (strcmp(cat.rows[j].id, id) == 0)
            return fail("%s is in the catalog twice", id);
    t->id = id;
    t->fires_when = text_of(row, "firesWhen");
    t->sample_note = text_of(row, "sampleNote");
    t->chosen = text_of(row, "chosen");
    if (!t->fires_when || t->fires_when[strlen(t->fires_when) - 1] != '.')
        return fail("%s: \"firesWhen\" must be a sentence", id);
    if (!t->sample_note || !t->chosen)
        return fail("%s: \"sampleNote\" and \"chosen\" are required", id);
    if (!read_scope(id, row, "airmeetId", &t->airmeet) ||
        !read_scope(id, row, "sessionId", &t->session) ||
        !read_row_sources(id, json_object_get(row, "sources"), cat.sources_text[i]))
        return false;
    t->sources = cat.sources_text[i];
    if (t->session != AH_SCOPE_NONE && t->airmeet == AH_SCOPE_NONE)
        return fail("%s: a sessionId scope needs an airmeetId scope", id);
    json_t *sample = json_object_get(row, "samplePayload");
    void *first = json_object_iter(sample);
    if (!json_is_object(sample) || !first ||
        strcmp(json_object_iter_key(first), "triggerMetaInfoId") != 0 ||
        !json_is_string(json_object_iter_value(first)) ||
        strcmp(json_string_value(json_object_iter_value(first)), id) != 0)
        return fail("%s: \"samplePayload\" must be an object whose first key is "
                    "\"triggerMetaInfoId\" naming the trigger",
                    id);
    cat.samples[i] = sample;
    return true;
}

static bool read_catalog(void)
{
    json_error_t err;
    cat.doc = json_loadb((const char *)ah_triggers_json, ah_triggers_json_len,
                         JSON_REJECT_DUPLICATES, &err);
    if (!cat.doc)
        return fail("data/triggers.json line %d: %s", err.line, err.text);
    if (!read_sources(json_object_get(cat.doc, "sources")))
        return false;
    json_t *rows = json_object_get(cat.doc, "triggers");
    if (!json_is_array(rows) || !json_array_size(rows) || json_array_size(rows) > MAX_TRIGGERS)
        return fail("\"triggers\" must be an array of 1 to %d triggers", MAX_TRIGGERS);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (!read_row(i, row))
            return false;
    }
    cat.n = json_array_size(rows);
    return true;
}

static void load(void)
{
    if (!read_catalog()) {
        /* No half catalog: the server refuses to start on ah_triggers_problem(). */
        cat.n = cat.n_sources = 0;
        json_decref(cat.doc);
        cat.doc = NULL;
    }
}

static void ensure_loaded(void)
{
    pthread_once(&cat_once, load);
}

const char *ah_triggers_problem(void)
{
    ensure_loaded();
    return cat.problem[0] ? cat.problem : NULL;
}

const ah_trigger_t *ah_triggers(size_t *n)
{
    ensure_loaded();
    if (n)
        *n = cat.n;
    return cat.rows;
}

const ah_trigger_source_t *ah_trigger_sources(size_t *n)
{
    ensure_loaded();
    *n = cat.n_sources;
    return cat.sources;
}

/* The catalog row of id, or -1. */
static long row_of(const char *id)
{
    ensure_loaded();
    if (!id)
        return -1;
    for (size_t i = 0; i < cat.n; i++)
        if (strcmp(cat.rows[i].id, id) == 0)
            return (long)i;
    return -1;
}

const ah_trigger_t *ah_trigger_find(const char *id)
{
    long row = row_of(id);
    return row < 0 ? NULL : &cat.rows[row];
}

json_t *ah_trigger_sample(const ah_trigger_t *t)
{
    long row = row_of(t ? t->id : NULL);
    return row < 0 ? NULL : json_deep_copy(cat.samples[row]);
}

/* ---- docs/triggers.md ---- */

typedef struct md {
    char *s;
    size_t len, cap;
    bool failed;
} md_t;

static void put(md_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(md_t *m, const char *fmt, ...)
{
    if (m->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->s ? m->s + m->len : NULL, m->s ? m->cap - m->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        m->failed = true;
        return;
    }
    if (m->s && m->len + (size_t)n < m->cap) {
        m->len += (size_t)n;
        return;
    }
    size_t cap = m->cap ? m->cap : 16384;
    while (cap <= m->len + (size_t)n)
        cap *= 2;
    char *grown = realloc(m->s, cap);
    if (!grown) {
        m->failed = true;
        return;
    }
    m->s = grown;
    m->cap = cap;
    va_start(ap, fmt);
    vsnprintf(m->s + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    m->len += (size_t)n;
}

static const char *scope_cell(ah_scope_t s)
{
    return s == AH_SCOPE_REQUIRED ? "**required**" : ah_scope_name(s);
}

static void md_sources(md_t *m)
{
    put(m, "## Sources\n\n"
           "Where each trigger is documented, as its `sources` cell names them. Airmeet's own\n"
           "text (S1, S3) was readable only up to the polls row of its trigger table; the ten\n"
           "newer ids come from a third-party description (S13), two of them also from a\n"
           "third-party integration (S15).\n\n"
           "| tag | what | where |\n| --- | --- | --- |\n");
    for (size_t i = 0; i < cat.n_sources; i++) {
        const ah_trigger_source_t *s = &cat.sources[i];
        bool link = strncmp(s->where, "https://", 8) == 0;
        put(m, "| %s | %s | %s%s%s |\n", s->tag, s->what, link ? "<" : "", s->where,
            link ? ">" : "");
    }
}

static void md_table(md_t *m)
{
    put(m, "\n## The catalog\n\n"
           "| triggerMetaInfoId | fires when | airmeetId | sessionId | sources |\n"
           "| --- | --- | --- | --- | --- |\n");
    for (size_t i = 0; i < cat.n; i++) {
        const ah_trigger_t *t = &cat.rows[i];
        put(m, "| `%s` | %s | %s | %s | %s |\n", t->id, t->fires_when, scope_cell(t->airmeet),
            scope_cell(t->session), t->sources);
    }
}

static void md_samples(md_t *m)
{
    put(m, "\n## Sample bodies\n");
    for (size_t i = 0; i < cat.n && !m->failed; i++) {
        const ah_trigger_t *t = &cat.rows[i];
        char *body = json_dumps(cat.samples[i], JSON_INDENT(2));
        if (!body) {
            m->failed = true;
            break;
        }
        put(m, "\n### `%s`\n\n%s\n\nWhere airhook chose: %s\n\n```json\n%s\n```\n", t->id,
            t->sample_note, t->chosen, body);
        free(body);
    }
}

char *ah_triggers_markdown(void)
{
    ensure_loaded();
    md_t m = {0};
    put(&m, "%s\n\n", AH_TRIGGERS_DOC_BEGIN);
    md_sources(&m);
    md_table(&m);
    md_samples(&m);
    put(&m, "\n%s\n", AH_TRIGGERS_DOC_END);
    if (m.failed) {
        free(m.s);
        return NULL;
    }
    return m.s;
}
