/* Helpers shared by unit tests. */
#ifndef CERTGATE_TEST_TESTUTIL_H
#define CERTGATE_TEST_TESTUTIL_H

#include <stddef.h>

/* test_tmpdir: a fresh private directory under $TMPDIR (or /tmp); returns a malloc'd path.
 * Aborts the test process on failure. */
char *test_tmpdir(const char *tag);

/* test_rmtree: remove a directory tree created by test_tmpdir. */
void test_rmtree(const char *path);

/* test_read_file: the whole file as a malloc'd NUL-terminated buffer; NULL if unreadable. */
char *test_read_file(const char *path, size_t *len);

#endif
