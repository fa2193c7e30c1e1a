/* SPDX-License-Identifier: MIT */
/*
 * airhook.h: the public face of libairhook.
 *
 * Status codes shared by every module, and the version.  Functions in
 * libairhook return 0 (AH_OK) on success and a negative ah_status_t on
 * failure; ah_strerror() names it.
 */
#ifndef AIRHOOK_H
#define AIRHOOK_H

#ifndef AH_VERSION
#define AH_VERSION "0.1.0"
#endif

typedef enum ah_status {
    AH_OK = 0,
    AH_ENOTFOUND = -1, /* no such row / resource */
    AH_EEXISTS = -2,   /* a row with that id or key already exists */
    AH_EINVAL = -3,    /* bad argument (caller bug or bad input) */
    AH_ESTORE = -4,    /* the storage backend failed */
    AH_ENOMEM = -5,    /* allocation failed */
    AH_EUNAVAIL = -6,  /* storage unreachable right now; try later */
    AH_ETOOBIG = -7,   /* a size cap was exceeded */
    AH_EIO = -8        /* network or file I/O failed */
} ah_status_t;

/* A static string naming the status; never NULL. */
const char *ah_strerror(int status);

#endif
