/* SPDX-License-Identifier: MIT */
/*
 * suggest.c: the nearest names to a mistyped one (suggest.h says what
 * "near" means).
 *
 * Each candidate gets one score, the smallest distance between the name and
 * the candidate or any of its dot-separated tails; a tail equal to the name
 * scores 0.  The distance is the optimal-string-alignment variant of
 * Damerau-Levenshtein over three rolling rows, so a call costs
 * O(len(name) * len(candidate)) per tail and no allocation: names are short
 * (trigger ids are at most 63 bytes) and the catalog has tens of entries.
 */
#include "cli/suggest.h"

#include <ctype.h>
#include <string.h>

#define MAX_LEN 255

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

static int lower(char c)
{
    return tolower((unsigned char)c);
}

/* OSA distance between a[0..la) and b[0..lb), both at most MAX_LEN bytes. */
static size_t osa(const char *a, size_t la, const char *b, size_t lb)
{
    size_t rows[3][MAX_LEN + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]) && prev2[j - 2] + 1 < cur[j])
                cur[j] = prev2[j - 2] + 1;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

/* How many edits a name of len bytes may be away from a suggestion. */
static size_t allowed(size_t len)
{
    if (len < 4)
        return 0;
    if (len < 12)
        return 1;
    return len < 16 ? 2 : 3;
}

/* The smallest distance between name and cand or one of cand's dot tails. */
static size_t score(const char *name, size_t ln, const char *cand)
{
    size_t lc = strlen(cand), best = (size_t)-1;
    if (lc > MAX_LEN)
        return best;
    for (const char *tail = cand; tail; tail = strchr(tail, '.')) {
        if (*tail == '.')
            tail++;
        size_t lt = lc - (size_t)(tail - cand);
        size_t gap = lt > ln ? lt - ln : ln - lt;
        if (gap < best) { /* the distance is at least the length gap */
            size_t d = osa(name, ln, tail, lt);
            if (d < best)
                best = d;
        }
    }
    return best;
}

size_t ah_suggest(const char *name, const char *const *candidates, size_t n,
                  const char *out[AH_SUGGEST_MAX])
{
    size_t ln = strlen(name), found = 0, dist[AH_SUGGEST_MAX];
    if (ln == 0 || ln > MAX_LEN)
        return 0;
    size_t limit = allowed(ln);
    for (size_t i = 0; i < n; i++) {
        const char *cand = candidates[i];
        if (!cand || strcmp(cand, name) == 0)
            continue;
        size_t d = score(name, ln, cand);
        if (d > limit)
            continue;
        /* Insert in order: distance, then shorter, then by name. */
        size_t at = found;
        while (at > 0 &&
               (d < dist[at - 1] || (d == dist[at - 1] && (strlen(cand) < strlen(out[at - 1]) ||
                                                           (strlen(cand) == strlen(out[at - 1]) &&
                                                            strcmp(cand, out[at - 1]) < 0)))))
            at--;
        if (at >= AH_SUGGEST_MAX)
            continue;
        size_t last = found < AH_SUGGEST_MAX ? found : AH_SUGGEST_MAX - 1;
        for (size_t k = last; k > at; k--) {
            out[k] = out[k - 1];
            dist[k] = dist[k - 1];
        }
        out[at] = cand;
        dist[at] = d;
        if (found < AH_SUGGEST_MAX)
            found++;
    }
    /* Keep only the best and those one edit behind them. */
    size_t keep = found;
    while (keep > 1 && dist[keep - 1] > dist[0] + 1)
        keep--;
    return keep;
}

size_t ah_suggest_print(FILE *f, const char *name, const char *const *candidates, size_t n)
{
    const char *out[AH_SUGGEST_MAX];
    size_t k = ah_suggest(name, candidates, n, out);
    if (k == 0)
        return 0;
    fputs("did you mean: ", f);
    for (size_t i = 0; i < k; i++)
        fprintf(f, "%s%s", i ? ", " : "", out[i]);
    fputs("?\n", f);
    return k;
}
