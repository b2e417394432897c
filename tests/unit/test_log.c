/*
 * Unit tests for log escaping (common/log.c): whatever the arguments, one
 * call writes one line, with control characters, terminal escapes and
 * invalid UTF-8 shown as \xNN, printable UTF-8 kept, and long messages cut
 * with a mark.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static void test_escape(void **state)
{
	char out[256];
	const char *in = "a\nb\r\x1b[31mc\\d\x7f\x01";
	assert_int_equal(log_escape(out, sizeof(out), in, strlen(in)), strlen(in));
	assert_string_equal(out, "a\\x0ab\\x0d\\x1b[31mc\\\\d\\x7f\\x01");
	/* printable UTF-8 kept; C1 controls (U+009B, an 8-bit CSI) and invalid
	 * bytes escaped */
	const char *u = "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xc2\x9b \xff\xc3";
	log_escape(out, sizeof(out), u, strlen(u));
	assert_string_equal(out, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \\xc2\\x9b \\xff\\xc3");
	/* a small buffer: cut on a whole escape, NUL-terminated */
	assert_int_equal(log_escape(out, 6, "ab\ncd", 5), 2);
	assert_string_equal(out, "ab");
}

/* Reads the file written by the logger. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = calloc(1, 65536);
	assert_non_null(buf);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_one_line_per_call(void **state)
{
	char path[] = "/tmp/sluice-logtest-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_open("test", LOG_INFO, path), 0);
	log_info("job %s submitted: library %s",
	         "evil\n2026-01-01T00:00:00.000Z WARN  [master] FORGED: worker-1 LOST",
	         "x\x1b]0;title\x07\x1b[2J.so");
	char big[5000];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_warn("value %s", big);
	log_close();
	char *text = slurp(path);
	unlink(path);
	assert_int_equal(count_lines(text), 2);
	assert_null(strchr(text, '\x1b'));
	assert_null(strchr(text, '\x07'));
	assert_non_null(strstr(text, "evil\\x0a2026-01-01T00:00:00.000Z WARN  [master] "
	                             "FORGED: worker-1 LOST"));
	assert_non_null(strstr(text, "x\\x1b]0;title\\x07\\x1b[2J.so"));
	assert_non_null(strstr(text, "bytes cut]\n"));
	char *second = strchr(text, '\n') + 1;
	assert_true(strlen(second) <= LOG_LINE_MAX);
	free(text);
}

/* The file is rotated to FILE.1 past the limit: neither exceeds it by more
 * than a line, and the newest lines are in FILE. */
static void test_rotation(void **state)
{
	char path[] = "/tmp/sluice-logrot-XXXXXX", old[64];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(old, sizeof(old), "%s.1", path);
	assert_int_equal(log_open("test", LOG_INFO, path), 0);
	log_set_max_size(1000);
	for (int i = 0; i < 100; i++)
		log_info("line %03d of the rotation test", i);
	log_set_max_size(0);
	log_close();
	char *cur = slurp(path), *prev = slurp(old);
	unlink(path);
	unlink(old);
	/* FILE.1 was rotated once past the limit; FILE never passes it */
	assert_true(strlen(cur) <= 1000);
	assert_true(strlen(prev) > 1000 && strlen(prev) <= 1000 + LOG_LINE_MAX);
	assert_true(strstr(cur, "line 099 of") || strstr(prev, "line 099 of"));
	assert_null(strstr(cur, "line 000 of"));
	assert_null(strstr(prev, "line 000 of"));
	free(cur);
	free(prev);
}

static bool has_seven(const char *line, void *arg)
{
	(void)arg;
	return strstr(line, "seven") != NULL;
}

/* The last LOG_KEEP_LINES lines are kept in order; since and match filter. */
static void test_recent(void **state)
{
	assert_int_equal(log_open("test", LOG_ERROR, "/dev/null"), 0);
	for (int i = 0; i < LOG_KEEP_LINES + 10; i++)
		log_error("kept %d %s", i, i % 1000 == 7 ? "seven" : "");
	char **out = malloc(LOG_KEEP_LINES * sizeof(*out));
	size_t n = log_recent("", NULL, NULL, out, LOG_KEEP_LINES);
	assert_int_equal(n, LOG_KEEP_LINES);
	assert_non_null(strstr(out[0], "kept 10 "));
	assert_non_null(strstr(out[n - 1], "kept 4105 "));
	for (size_t i = 0; i < n; i++)
		free(out[i]);
	n = log_recent("", has_seven, NULL, out, LOG_KEEP_LINES);
	assert_int_equal(n, 4); /* 1007, 2007, 3007, 4007: line 7 is gone */
	for (size_t i = 0; i < n; i++)
		free(out[i]);
	n = log_recent("9999", NULL, NULL, out, LOG_KEEP_LINES); /* the future */
	assert_int_equal(n, 0);
	free(out);
	log_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_one_line_per_call),
	    cmocka_unit_test(test_rotation),
	    cmocka_unit_test(test_recent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
