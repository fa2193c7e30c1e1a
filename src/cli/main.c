/* SPDX-License-Identifier: MIT */
/*
 * main.c: entry point of the `airhook` executable.
 *
 * airhook is one binary (SPEC §1): `airhook serve` runs the server
 * (serve.c), every other subcommand is an HTTP client of a running server's
 * admin API (cmd_admin.c, cmd_delivery.c) or of the public API, local or Airmeet's own
 * (cmd_public.c).  This file only dispatches on argv[1] and prints the
 * top-level usage, which it builds from the same command tables the parser
 * uses, so the listing cannot drift from what is accepted.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "airhook/airhook.h"
#include "cli/cli.h"
#include "cli/client.h"
#include "common/util.h"

static void usage(FILE *out)
{
    fputs("airhook " AH_VERSION
          ": a webhook platform implementing Airmeet's platform-integration API\n"
          "\n"
          "usage: airhook <command> [flags]    (every command takes -h/--help)\n"
          "\n"
          "server:\n"
          "  serve [flags]\n"
          "      Run the server: admin API, public API and delivery.\n"
          "  receive [--listen HOST:PORT] [--secret whsec_...] [--status CODE]\n"
          "      A test receiver: prints each delivery and checks its signature.\n"
          "\n"
          "admin commands (--server URL, --admin-token TOKEN):\n",
          out);
    ah_cmd_table_list(&ah_admin_cmds, out);
    ah_cmd_table_list(&ah_delivery_cmds, out);
    ah_cmd_table_list(&ah_catalog_cmds, out);
    ah_cmd_table_list(&ah_trigger_cmds, out);
    fputs("\npublic API commands (--base-url URL or --region mumbai|eu|us,\n"
          "                     --access-key KEY, --secret-key KEY):\n",
          out);
    ah_cmd_table_list(&ah_public_cmds, out);
    ah_cmd_table_list(&ah_listen_cmds, out);
    fputs("\nother:\n"
          "  version\n"
          "      Print the version.\n"
          "  help [COMMAND]\n"
          "      Show this help, or COMMAND's.\n"
          "\n"
          "exit status: 0 success, 1 HTTP error status, 2 usage error,\n"
          "3 server unreachable.  See docs/cli.md.\n",
          out);
}

static bool is_any(const char *s, const char *a, const char *b, const char *c)
{
    return strcmp(s, a) == 0 || strcmp(s, b) == 0 || (c && strcmp(s, c) == 0);
}

/* Every client command table; a group (`webhooks`) may span several. */
static const ah_cmd_table_t *const tables[] = {&ah_admin_cmds,   &ah_delivery_cmds,
                                               &ah_catalog_cmds, &ah_trigger_cmds,
                                               &ah_public_cmds,  &ah_listen_cmds};

/*
 * The rows of every table whose group is name, gathered into one table (in
 * static storage), or NULL when no table has that group.
 */
static const ah_cmd_table_t *table_for(const char *name)
{
    static ah_cmd_t rows[32];
    static ah_cmd_table_t merged;
    size_t n = 0;
    for (size_t t = 0; t < AH_ARRAY_LEN(tables); t++)
        for (size_t i = 0; i < tables[t]->n && n < AH_ARRAY_LEN(rows); i++)
            if (strcmp(tables[t]->cmds[i].group, name) == 0)
                rows[n++] = tables[t]->cmds[i];
    merged = (ah_cmd_table_t){rows, n};
    return n ? &merged : NULL;
}

/* Runs a client subcommand with libcurl initialised around it. */
static int run_client(const ah_cmd_table_t *table, int argc, char **argv)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("error: cannot initialise libcurl\n", stderr);
        return AH_EXIT_UNREACHABLE;
    }
    int rc = ah_cmd_dispatch(table, argc, argv);
    curl_global_cleanup();
    return rc;
}

/* `airhook help [COMMAND]`. */
static int help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return AH_EXIT_OK;
    }
    char help_flag[] = "--help";
    char *sub_argv[] = {argv[1], help_flag, NULL};
    if (strcmp(argv[1], "serve") == 0)
        return ah_cmd_serve(2, sub_argv);
    if (strcmp(argv[1], "receive") == 0)
        return ah_cmd_receive(2, sub_argv);
    const ah_cmd_table_t *table = table_for(argv[1]);
    if (table)
        return ah_cmd_dispatch(table, 2, sub_argv);
    fprintf(stderr, "airhook help: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return AH_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return help(argc - 1, argv + 1);
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return ah_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "receive") == 0)
        return ah_cmd_receive(argc - 1, argv + 1);
    if (is_any(cmd, "version", "--version", NULL)) {
        puts("airhook " AH_VERSION);
        return AH_EXIT_OK;
    }
    if (is_any(cmd, "help", "--help", "-h"))
        return help(argc - 1, argv + 1);
    const ah_cmd_table_t *table = table_for(cmd);
    if (table)
        return run_client(table, argc - 1, argv + 1);
    fprintf(stderr, "airhook: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return AH_EXIT_USAGE;
}
