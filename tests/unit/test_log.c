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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_one_line_per_call),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
