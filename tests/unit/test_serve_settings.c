/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the settings table of `airhook serve` (src/cli/serve.c,
 * included to reach its static functions): defaults, environment
 * variables, both flag forms, switches, and the refusals with exit status 2.
 * That --help and README.md agree is tests/integration/test_settings_doc.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/stat.h>

#include "cli/serve.c"

/* `airhook serve ARGS...`, NULL-terminated. */
#define ARGV(...) ((char *[]){"serve", __VA_ARGS__, NULL})

/* load_settings() on a NULL-terminated argv. */
static int load(char **argv, serve_opts_t *o)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return load_settings(argc, argv, o);
}

/* Runs with the settings' environment variables unset. */
static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].env)
            unsetenv(settings[i].env);
    return 0;
}

static void test_table_rows_are_complete(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        assert_non_null(s->help);
        /* A row without a default says what happens without one. */
        assert_true(s->def || s->unset);
        assert_true(!s->def || !s->unset);
        assert_true(s->kind != KIND_SWITCH || !s->def);
        assert_true(s->kind != KIND_CHOICE || s->choices);
        /* AIRHOOK_ and the name in capitals, dashes as underscores. */
        if (s->env) {
            char want[64];
            size_t n = 0;
            n += (size_t)snprintf(want, sizeof want, "AIRHOOK_");
            for (const char *p = s->name; *p && n + 1 < sizeof want; p++)
                want[n++] = *p == '-' ? '_' : (char)(*p - 'a' + 'A');
            want[n] = '\0';
            assert_string_equal(s->env, want);
        }
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(settings[j].name, s->name);
    }
}

static void test_defaults(void **state)
{
    (void)state;
    serve_opts_t o;
    assert_int_equal(load(ARGV(NULL), &o), 0);
    assert_string_equal(o.cfg.listen, "127.0.0.1:8080");
    assert_string_equal(o.cfg.db, "sqlite:./airhook.db");
    assert_null(o.cfg.admin_token);
    assert_string_equal(o.cfg.base_path, "/prod");
    assert_string_equal(o.cfg.region, "mumbai");
    assert_int_equal(o.cfg.token_ttl_ms, 30LL * 86400 * 1000);
    assert_int_equal(o.cfg.retention_ms, 30LL * 86400 * 1000);
    assert_int_equal(o.cfg.auth_fail_limit, 10);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(o.cfg.threads, cores > 0 ? (unsigned)cores : 2);
    assert_string_equal(o.log_level, "info");
    assert_null(o.allow_net);
    assert_false(o.allow_private);
    assert_false(o.cfg.trust_forwarded_for);
    assert_false(o.cfg.demo);
    assert_int_equal(o.grace_ms, 10000);
    assert_string_equal(o.role, "all");
    assert_true(o.cfg.serve_api);
    assert_true(o.cfg.run_delivery);
    /* The listener's: max_connections 0 is derived from the open-file limit at start. */
    assert_int_equal(o.http.max_connections, 0);
    assert_int_equal(o.http.per_address, 256);
    assert_int_equal(o.http.header_timeout_ms, 10000);
    assert_int_equal(o.http.idle_timeout_ms, 60000);
    assert_int_equal(o.http.crowded_idle_timeout_ms, 5000);
    assert_int_equal(o.http.threads, o.cfg.threads);
    /* A community's default quotas (docs/operations.md). */
    assert_int_equal(o.cfg.quota[AH_QUOTA_WEBHOOKS], 1000);
    assert_int_equal(o.cfg.quota[AH_QUOTA_URL_BYTES], AH_URL_MAX - 1);
    assert_int_equal(o.cfg.quota[AH_QUOTA_NAME_BYTES], AH_NAME_MAX - 1);
    assert_int_equal(o.cfg.quota[AH_QUOTA_DESCRIPTION_BYTES], AH_DESC_MAX - 1);
    assert_int_equal(o.cfg.quota[AH_QUOTA_REGISTER_RATE], 1200);

    /* The delivery defaults of SPEC §6, and the same as the dispatcher's own. */
    static const int64_t schedule[] = {0,       5000,     300000,   1800000,
                                       7200000, 18000000, 36000000, 36000000};
    assert_int_equal(o.dcfg.schedule_len, 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(o.dcfg.schedule_ms[i], schedule[i]);
    assert_int_equal(o.dcfg.timeout_ms, 15000);
    assert_int_equal(o.dcfg.per_webhook_concurrency, 16);
    assert_true(o.dcfg.per_webhook_rate == 0);
    assert_int_equal(o.dcfg.disable_after_ms, 5LL * 86400 * 1000);
    assert_int_equal(o.dcfg.lease_ms, 60000);
    ah_dispatch_config_t d;
    ah_dispatch_config_default(&d);
    assert_memory_equal(&d, &o.dcfg, sizeof d);
}

static void test_environment(void **state)
{
    (void)state;
    serve_opts_t o;
    setenv("AIRHOOK_LISTEN", "127.0.0.1:0", 1);
    setenv("AIRHOOK_REGION", "eu", 1);
    setenv("AIRHOOK_LEASE", "90s", 1);
    setenv("AIRHOOK_WEBHOOK_RATE", "2.5", 1);
    setenv("AIRHOOK_THREADS", "3", 1);
    setenv("AIRHOOK_ALLOW_PRIVATE_TARGETS", "1", 1);
    setenv("AIRHOOK_TRUST_FORWARDED_FOR", "yes", 1);
    setenv("AIRHOOK_ROLE", "api", 1);
    setenv("AIRHOOK_DB", "", 1); /* empty counts as unset */
    setenv("AIRHOOK_MAX_WEBHOOKS", "50", 1);
    setenv("AIRHOOK_REGISTER_RATE", "0", 1);
    setenv("AIRHOOK_RETENTION", "60s", 1);
    assert_int_equal(load(ARGV(NULL), &o), 0);
    assert_int_equal(o.cfg.retention_ms, 60000);
    assert_string_equal(o.cfg.listen, "127.0.0.1:0");
    assert_string_equal(o.cfg.region, "eu");
    assert_int_equal(o.dcfg.lease_ms, 90000);
    assert_true(o.dcfg.per_webhook_rate == 2.5);
    assert_int_equal(o.cfg.threads, 3);
    assert_true(o.allow_private);
    assert_true(o.cfg.trust_forwarded_for);
    assert_true(o.cfg.serve_api);
    assert_false(o.cfg.run_delivery);
    assert_string_equal(o.cfg.db, "sqlite:./airhook.db");
    assert_int_equal(o.cfg.quota[AH_QUOTA_WEBHOOKS], 50);
    assert_int_equal(o.cfg.quota[AH_QUOTA_REGISTER_RATE], 0);
}

static void test_flags_win_over_environment(void **state)
{
    (void)state;
    serve_opts_t o;
    setenv("AIRHOOK_REGION", "eu", 1);
    setenv("AIRHOOK_DELIVERY_TIMEOUT", "nonsense", 1); /* only the value used is checked */
    assert_int_equal(load(ARGV("--region", "us", "--delivery-timeout=2s", "--retry-schedule=0,1s",
                               "--allow-private-targets", "--demo", "--admin-token=", "--role",
                               "worker", "--role=api", "--retention", "0"),
                          &o),
                     0);
    assert_string_equal(o.cfg.region, "us");
    assert_int_equal(o.dcfg.timeout_ms, 2000);
    assert_int_equal(o.dcfg.schedule_len, 2);
    assert_int_equal(o.dcfg.schedule_ms[1], 1000);
    assert_true(o.allow_private);
    assert_true(o.cfg.demo);
    assert_string_equal(o.cfg.admin_token, "");
    assert_string_equal(o.role, "api");      /* the last one given */
    assert_int_equal(o.cfg.retention_ms, 0); /* keep everything */
}

static void test_refusals_exit_2(void **state)
{
    (void)state;
    static const char *const bad[][3] = {
        {"--role", "nobody"},
        {"--region", "xx"},
        {"--base-path", "/admin/x"},
        {"--base-path", "prod"},
        {"--base-path", "/prod/"},
        {"--token-ttl", "3x"},
        {"--auth-fail-limit", "-1"},
        {"--threads", "0"},
        {"--threads", "257"},
        {"--log-level", "loud"},
        {"--retry-schedule", "0,5s,"},
        {"--retry-schedule", ""},
        {"--delivery-timeout", "0"},
        {"--lease", "15s"}, /* not longer than the 15 s timeout */
        {"--webhook-concurrency", "10001"},
        {"--max-webhooks", "0"},
        {"--max-webhooks", "100001"},
        {"--max-url-bytes", "2048"}, /* a quota never raises a field's cap */
        {"--max-name-bytes", "256"},
        {"--max-description-bytes", "1024"},
        {"--max-description-bytes", "-1"},
        {"--register-rate", "lots"},
        {"--webhook-rate", "-1"},
        {"--webhook-rate", "1e7"},
        {"--webhook-rate", "nan"},
        {"--webhook-rate", ""},
        {"--disable-after", "forever"},
        {"--shutdown-grace", "soon"},
        {"--retention", "a month"},
        {"--max-connections", "15"},
        {"--max-connections", "lots"},
        {"--max-connections-per-address", "-1"},
        {"--header-timeout", "0"},
        {"--header-timeout", "50ms"},
        {"--idle-timeout", "0s"},
        {"--crowded-idle-timeout", "90s"}, /* longer than the 60 s idle timeout */
        {"--demo", "--role=worker"},
        {"--demo=1"},
        {"--allow-private-targets=yes"},
        {"--listen"}, /* needs a value */
        {"--bogus"},
        {"--lease-x", "1s"},
        {"listen"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[4] = {"serve", (char *)bad[i][0], (char *)bad[i][1], NULL};
        serve_opts_t o;
        fprintf(stderr, "refusing %s %s: ", bad[i][0], bad[i][1] ? bad[i][1] : "");
        assert_int_equal(load(argv, &o), 2);
    }
}

/* The admin token and the secret keys come from files; each rule that joins them is checked. */
static void test_secret_files(void **state)
{
    (void)state;
    serve_opts_t o;
    assert_int_equal(load(ARGV(NULL), &o), 0);
    assert_null(o.admin_token_file);
    assert_null(o.secret_key_file);
    fprintf(stderr, "refusing both token settings: ");
    assert_int_equal(load(ARGV("--admin-token", "t", "--admin-token-file", "/run/t"), &o), 2);
    setenv("AIRHOOK_ADMIN_TOKEN", "t", 1);
    fprintf(stderr, "refusing the token's variable with its file: ");
    assert_int_equal(load(ARGV("--admin-token-file", "/run/t"), &o), 2);
    unsetenv("AIRHOOK_ADMIN_TOKEN");
    assert_int_equal(load(ARGV("--admin-token-file", "/run/t"), &o), 0);
    assert_string_equal(o.admin_token_file, "/run/t");
    fprintf(stderr, "refusing PostgreSQL without a key file: ");
    assert_int_equal(load(ARGV("--db", "postgres://db.internal/airhook"), &o), 2);
    setenv("AIRHOOK_SECRET_KEY_FILE", "/etc/airhook/keys", 1);
    assert_int_equal(load(ARGV("--db", "postgres://db.internal/airhook"), &o), 0);
    assert_string_equal(o.secret_key_file, "/etc/airhook/keys");
    unsetenv("AIRHOOK_SECRET_KEY_FILE");

    /* The token file: its first line, refused when others may read it. */
    char dir[] = "/tmp/ah-serve-XXXXXX", path[64], token[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/token", dir);
    static const struct {
        const char *text;
        int mode, rc;
        const char *token;
    } cases[] = {
        {"adm_tok3n\n", 0600, 0, "adm_tok3n"},
        {"adm_tok3n", 0400, 0, "adm_tok3n"},
        {"adm_tok3n\r\n\n", 0600, 0, "adm_tok3n"},
        {"adm_tok3n\n", 0644, 2, NULL},
        {"adm_tok3n\n", 0660, 2, NULL},
        {"\n", 0600, 2, NULL},
        {"two words\n", 0600, 2, NULL},
        {"line one\nline two\n", 0600, 2, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(cases[i].text, f);
        fclose(f);
        assert_int_equal(chmod(path, (mode_t)cases[i].mode), 0);
        fprintf(stderr, "token file case %zu: ", i);
        assert_int_equal(read_admin_token(path, token, sizeof token), cases[i].rc);
        if (cases[i].token)
            assert_string_equal(token, cases[i].token);
        fputc('\n', stderr);
    }
    unlink(path);
    fprintf(stderr, "a missing token file: ");
    assert_int_equal(read_admin_token(path, token, sizeof token), 2);
    rmdir(dir);
}

/* A switch's variable says on or off; "0" is off, and anything else is refused. */
static void test_switch_variables(void **state)
{
    (void)state;
    serve_opts_t o;
    setenv("AIRHOOK_ALLOW_PRIVATE_TARGETS", "0", 1);
    setenv("AIRHOOK_TRUST_FORWARDED_FOR", "off", 1);
    assert_int_equal(load(ARGV(NULL), &o), 0);
    assert_false(o.allow_private);
    assert_false(o.cfg.trust_forwarded_for);
    /* The flag wins over a variable that says off. */
    assert_int_equal(load(ARGV("--allow-private-targets"), &o), 0);
    assert_true(o.allow_private);
    setenv("AIRHOOK_ALLOW_PRIVATE_TARGETS", "TRUE", 1);
    assert_int_equal(load(ARGV(NULL), &o), 0);
    assert_true(o.allow_private);
    setenv("AIRHOOK_ALLOW_PRIVATE_TARGETS", "maybe", 1);
    fprintf(stderr, "refusing AIRHOOK_ALLOW_PRIVATE_TARGETS=maybe: ");
    assert_int_equal(load(ARGV(NULL), &o), 2);
}

static void test_help(void **state)
{
    (void)state;
    serve_opts_t o;
    assert_int_equal(load(ARGV("--help"), &o), -1);
    assert_int_equal(load(ARGV("--region", "eu", "-h"), &o), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_table_rows_are_complete, clear_env),
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_environment, clear_env),
        cmocka_unit_test_setup(test_flags_win_over_environment, clear_env),
        cmocka_unit_test_setup(test_refusals_exit_2, clear_env),
        cmocka_unit_test_setup(test_switch_variables, clear_env),
        cmocka_unit_test_setup(test_secret_files, clear_env),
        cmocka_unit_test_setup(test_help, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
