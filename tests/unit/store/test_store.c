#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "store/store.h"
#include "support/testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    char *dir;
    char path[512];
    struct store *s;
};

static struct store *open_at(const char *path)
{
    struct store_config cfg;
    store_config_defaults(&cfg);
    cfg.path = path;
    char err[256] = "";
    struct store *s = store_open(&cfg, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "store_open: %s\n", err);
    }
    return s;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = test_tmpdir("store");
    snprintf(f->path, sizeof(f->path), "%s/db.sqlite", f->dir);
    f->s = open_at(f->path);
    assert_non_null(f->s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->s);
    test_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int insert_tenant(struct store_conn *c, void *arg)
{
    const char *id = arg;
    struct store_val p[] = {SV_TEXT(id), SV_TEXT("Acme"), SV_TEXT(id), SV_INT(1)};
    return store_exec(
        c, "INSERT INTO tenants(id, company, domain, created_ms) VALUES ($1,$2,$3,$4)", p, 4);
}

static int count_tenants(struct store_conn *c, void *arg)
{
    int64_t n = -1;
    int rc = store_query_int(c, "SELECT COUNT(*) FROM tenants", NULL, 0, &n);
    return rc < 0 ? rc : (int)n;
}

static void migrations_applied(void **state)
{
    struct fixture *f = *state;
    assert_true(store_schema_version(f->s) >= 1);
    assert_int_equal(store_read(f->s, count_tenants, NULL), 0);
}

static void write_read_and_conflict(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_write(f->s, insert_tenant, NULL, "t1"), 1);
    assert_int_equal(store_write(f->s, insert_tenant, NULL, "t1"), CG_ECONFLICT);
    assert_int_equal(store_read(f->s, count_tenants, NULL), 1);
}

static int fails_after_insert(struct store_conn *c, void *arg)
{
    int rc = insert_tenant(c, arg);
    assert_int_equal(rc, 1);
    return -EINVAL; /* the insert must be rolled back */
}

static void failed_function_is_rolled_back(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_write(f->s, fails_after_insert, NULL, "t9"), -EINVAL);
    assert_int_equal(store_read(f->s, count_tenants, NULL), 0);
}

static int committed_hook_calls;
static void on_commit(void *arg, int rc)
{
    committed_hook_calls++;
}

static void on_commit_runs_only_for_success(void **state)
{
    struct fixture *f = *state;
    committed_hook_calls = 0;
    assert_int_equal(store_write(f->s, insert_tenant, on_commit, "a"), 1);
    assert_int_equal(store_write(f->s, insert_tenant, on_commit, "a"), CG_ECONFLICT);
    assert_int_equal(committed_hook_calls, 1);
}

struct thread_arg {
    struct store *s;
    int base;
    int ok;
};

static void *writer_thread(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof(id), "t%d", a->base + i);
        if (store_write(a->s, insert_tenant, NULL, id) == 1) {
            a->ok++;
        }
    }
    return NULL;
}

static void concurrent_writers_are_grouped_and_all_commit(void **state)
{
    struct fixture *f = *state;
    pthread_t th[8];
    struct thread_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (struct thread_arg){.s = f->s, .base = i * 1000};
        pthread_create(&th[i], NULL, writer_thread, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 50);
    }
    assert_int_equal(store_read(f->s, count_tenants, NULL), 400);
}

static pthread_mutex_t async_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t async_cond = PTHREAD_COND_INITIALIZER;
static int async_done;

static void async_finished(void *arg, int rc)
{
    pthread_mutex_lock(&async_lock);
    if (rc == 1) {
        async_done++;
    }
    pthread_cond_signal(&async_cond);
    pthread_mutex_unlock(&async_lock);
}

static void async_writes_complete(void **state)
{
    struct fixture *f = *state;
    static char ids[20][8];
    async_done = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof(ids[i]), "x%d", i);
        assert_int_equal(store_write_async(f->s, insert_tenant, NULL, async_finished, ids[i]), 0);
    }
    pthread_mutex_lock(&async_lock);
    while (async_done < 20) {
        pthread_cond_wait(&async_cond, &async_lock);
    }
    pthread_mutex_unlock(&async_lock);
    assert_int_equal(store_read(f->s, count_tenants, NULL), 20);
}

static void data_survives_reopen(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_write(f->s, insert_tenant, NULL, "keep"), 1);
    store_close(f->s);
    f->s = open_at(f->path);
    assert_non_null(f->s);
    assert_int_equal(store_read(f->s, count_tenants, NULL), 1);
}

static int bump_version(struct store_conn *c, void *arg)
{
    return store_exec(c, "INSERT INTO schema_migrations(version, applied_ms) VALUES (999, 0)", NULL,
                      0);
}

static void newer_schema_is_refused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_write(f->s, bump_version, NULL, NULL), 1);
    store_close(f->s);
    struct store_config cfg;
    store_config_defaults(&cfg);
    cfg.path = f->path;
    char err[256] = "";
    assert_null(store_open(&cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "newer certgate"));
    f->s = NULL;
}

struct row_collect {
    char names[4][32];
    int n;
};

static int collect_row(const struct store_row *r, void *arg)
{
    struct row_collect *rc = arg;
    snprintf(rc->names[rc->n++], 32, "%s", store_row_text(r, 0));
    assert_true(store_row_is_null(r, 1));
    return 0;
}

static int query_rows(struct store_conn *c, void *arg)
{
    struct store_val p[] = {SV_TEXT("b")};
    return store_query(c, "SELECT id, parent FROM tenants WHERE id >= $1 ORDER BY id", p, 1,
                       collect_row, arg);
}

static void query_visits_rows_in_order(void **state)
{
    struct fixture *f = *state;
    store_write(f->s, insert_tenant, NULL, "a");
    store_write(f->s, insert_tenant, NULL, "c");
    store_write(f->s, insert_tenant, NULL, "b");
    struct row_collect rc = {0};
    assert_int_equal(store_read(f->s, query_rows, &rc), 2);
    assert_string_equal(rc.names[0], "b");
    assert_string_equal(rc.names[1], "c");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrations_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(write_read_and_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_function_is_rolled_back, setup, teardown),
        cmocka_unit_test_setup_teardown(on_commit_runs_only_for_success, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_writers_are_grouped_and_all_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(async_writes_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(data_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(query_visits_rows_in_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
