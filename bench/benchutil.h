/* SPDX-License-Identifier: MIT */
/*
 * benchutil.h: what the benchmark programs (baseline.c, receiver.c,
 * loadgen.c) share: reading a body file, the --listen address, and the
 * signals a server waits for.
 */
#ifndef AH_BENCHUTIL_H
#define AH_BENCHUTIL_H

#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>

/* The whole file, NUL-terminated, malloc'd; its length in *len (may be NULL); NULL on failure. */
char *bench_read_file(const char *path, size_t *len);

/* "A.B.C.D:PORT" into *sa; -1 when it is not one. */
int bench_parse_listen(const char *s, struct sockaddr_in *sa);

/*
 * Blocks SIGTERM and SIGINT in this thread and those it starts (call before
 * starting any), so that the caller can sigwait(sigs) for them; ignores SIGPIPE.
 */
void bench_block_signals(sigset_t *sigs);

#endif
