/* SPDX-License-Identifier: MIT */
/*
 * cli.h: the airhook command's subcommands.  main.c dispatches on argv[1];
 * `serve` runs the server (serve.c); everything else is an HTTP client of a
 * running server or of Airmeet's gateway (client.c and cmd_*.c).
 */
#ifndef AH_CLI_H
#define AH_CLI_H

/* `airhook serve [flags]`: runs until SIGTERM/SIGINT.  argv[0] is "serve". */
int ah_cmd_serve(int argc, char **argv);
/* `airhook receive [flags]`: a receiver that prints and verifies deliveries. */
int ah_cmd_receive(int argc, char **argv);

#endif
