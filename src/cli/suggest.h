/* SPDX-License-Identifier: MIT */
/*
 * suggest.h: "did you mean" for names the user mistyped, such as a trigger
 * the catalog does not know.
 *
 * A candidate is close when the name is one of its dot-separated tails
 * (`registrant.added` for `trigger.airmeet.registrant.added`), or when the
 * optimal-string-alignment distance (Levenshtein plus swaps of two
 * neighbouring letters, case ignored) between the name and the candidate,
 * or one of its tails, is small for the name's length: 1 edit for names of
 * 4 to 11 bytes, 2 up to 15, 3 beyond; names under 4 bytes match only
 * tails exactly.  Only the best matches are kept (distance at most one
 * above the best), at most AH_SUGGEST_MAX, nearest first.
 */
#ifndef AH_CLI_SUGGEST_H
#define AH_CLI_SUGGEST_H

#include <stddef.h>
#include <stdio.h>

#define AH_SUGGEST_MAX 3

/*
 * Fills out[] with up to AH_SUGGEST_MAX of the n candidates closest to name
 * (pointers into candidates; nothing is allocated) and returns how many.
 * A candidate equal to name is not suggested.  Names or candidates longer
 * than 255 bytes match nothing.
 */
size_t ah_suggest(const char *name, const char *const *candidates, size_t n,
                  const char *out[AH_SUGGEST_MAX]);

/*
 * Prints "did you mean: a, b, c?\n" on f when ah_suggest() finds any;
 * returns how many it printed.
 */
size_t ah_suggest_print(FILE *f, const char *name, const char *const *candidates, size_t n);

#endif
