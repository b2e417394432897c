/*
 * Unit tests for the configuration store (common/config.c) and the table of
 * declared keys (common/config_keys.c).
 *
 * They pin down the user-visible contract: the value syntaxes, defaults, the
 * order in which overrides apply, the exact wording of every kind of error
 * (users grep for these, and scripts match on them), properties file parsing,
 * and that docs/configuration.md still lists every declared key with its
 * type and default. Every test also checks that it leaves no allocation
 * behind (alloc_live() back to where it started).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "config.h"
#include "sluice/err.h"

#define ERRLEN 512

typedef struct {
	int64_t live; /* alloc_live() when the test started */
	char dir[64]; /* scratch directory for properties files */
	char path[128];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-test-config-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	f->live = alloc_live();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	int64_t live = alloc_live();
	if (f->path[0] != '\0')
		unlink(f->path);
	rmdir(f->dir);
	int leaked = live != f->live;
	if (leaked)
		fprintf(stderr, "leak: %lld allocations left\n",
		        (long long)(live - f->live));
	free(f);
	return leaked ? -1 : 0;
}

/* Writes text to <dir>/<name> and returns its path (kept in the fixture). */
static const char *write_file(fixture *f, const char *name, const char *text)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
	FILE *fp = fopen(f->path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
	return f->path;
}

/* Sets key=value, expecting refusal with exactly the message want. */
static void expect_error(sl_conf *c, const char *key, const char *value, const char *want)
{
	char err[ERRLEN] = "";
	assert_int_equal(conf_set(c, key, value, err, sizeof(err)), SL_ECONFIG);
	assert_string_equal(err, want);
}

static void expect_ok(sl_conf *c, const char *key, const char *value)
{
	char err[ERRLEN] = "";
	int rc = conf_set(c, key, value, err, sizeof(err));
	if (rc != SL_OK)
		fail_msg("%s=%s refused: %s", key, value, err);
}

/* ---- the table --------------------------------------------------------- */

static void test_table_is_consistent(void **state)
{
	const char *ns[] = {"spark.", "sluice.", "kafka."};
	int n = 0;
	for (const conf_key *k = conf_keys(); k->name != NULL; k++, n++) {
		int in_ns = 0;
		for (int i = 0; i < 3; i++)
			in_ns |= strncmp(k->name, ns[i], strlen(ns[i])) == 0;
		assert_true(in_ns);
		assert_ptr_equal(conf_key_find(k->name), k); /* also: names unique */
		assert_non_null(k->doc);
		assert_true(strlen(k->doc) > 10);
		assert_true(k->choices == NULL || k->type == CONF_STRING);
		if (k->type != CONF_STRING && k->type != CONF_BOOL)
			assert_true(k->min < k->max);
	}
	assert_true(n >= 40);
	assert_null(conf_key_find("spark.no.such.key"));
	assert_null(conf_key_find(NULL));
}

/* Every declared default is itself a valid value of its key. */
static void test_defaults_are_valid(void **state)
{
	sl_conf *c = conf_new(CONF_STRICT);
	for (const conf_key *k = conf_keys(); k->name != NULL; k++)
		if (k->def != NULL)
			expect_ok(c, k->name, k->def);
	conf_free(c);
}

static void test_defaults(void **state)
{
	sl_conf *c = conf_new(CONF_STRICT);
	assert_string_equal(conf_get_str(c, "sluice.master.url"), "tcp://127.0.0.1:7077");
	assert_int_equal(conf_get_int(c, "sluice.master.port"), 7077);
	assert_int_equal(conf_get_int(c, "sluice.http.port"), 8080);
	assert_int_equal(conf_get_int(c, "spark.task.maxFailures"), 4);
	assert_int_equal(conf_get_bytes(c, "sluice.worker.memory"), 1LL << 30);
	assert_int_equal(conf_get_bytes(c, "sluice.rpc.maxMessageSize"), 64LL << 20);
	assert_int_equal(conf_get_duration_ms(c, "spark.streaming.blockInterval"), 200);
	assert_int_equal(conf_get_duration_ms(c, "sluice.pause.maxDuration"), 86400000);
	assert_true(conf_get_double(c, "spark.memory.fraction") == 0.6);
	assert_true(conf_get_double(c, "spark.streaming.backpressure.pid.integral") ==
	            0.2);
	assert_false(conf_get_bool(c, "sluice.transport.insecure"));
	assert_string_equal(conf_get_str(c, "spark.scheduler.mode"), "FIFO");
	assert_string_equal(conf_get_str(c, "sluice.storage.level"),
	                    "MEMORY_AND_DISK_SER_2");
	/* Declared without default: unset sentinels. */
	assert_null(conf_get_str(c, "sluice.tls.cert"));
	assert_int_equal(conf_get_duration_ms(c, "sluice.worker.timeout"), -1);
	assert_false(conf_is_set(c, "sluice.worker.timeout"));
	assert_false(conf_is_set(c, "sluice.master.port"));
	conf_free(c);
}

/* ---- good values ------------------------------------------------------- */

static void test_good_values(void **state)
{
	sl_conf *c = conf_new(CONF_STRICT);
	expect_ok(c, "sluice.worker.slots", " 16 ");
	assert_int_equal(conf_get_int(c, "sluice.worker.slots"), 16);
	expect_ok(c, "spark.streaming.receiver.maxRate", "+250000");
	assert_int_equal(conf_get_int(c, "spark.streaming.receiver.maxRate"), 250000);
	expect_ok(c, "spark.memory.fraction", "0.75");
	assert_true(conf_get_double(c, "spark.memory.fraction") == 0.75);
	expect_ok(c, "spark.streaming.backpressure.pid.derived", "1e-1");
	assert_true(conf_get_double(c, "spark.streaming.backpressure.pid.derived") ==
	            0.1);
	expect_ok(c, "sluice.transport.insecure", "YES");
	assert_true(conf_get_bool(c, "sluice.transport.insecure"));
	expect_ok(c, "sluice.worker.memory", "1.5g");
	assert_int_equal(conf_get_bytes(c, "sluice.worker.memory"), 3LL << 29);
	expect_ok(c, "sluice.worker.memory", "512MB");
	assert_int_equal(conf_get_bytes(c, "sluice.worker.memory"), 512LL << 20);
	expect_ok(c, "sluice.batch.interval", "1.5s");
	assert_int_equal(conf_get_duration_ms(c, "sluice.batch.interval"), 1500);
	expect_ok(c, "sluice.batch.interval", "250");
	assert_int_equal(conf_get_duration_ms(c, "sluice.batch.interval"), 250);
	expect_ok(c, "sluice.worker.timeout", "2min");
	assert_int_equal(conf_get_duration_ms(c, "sluice.worker.timeout"), 120000);
	expect_ok(c, "sluice.log.file", "/var/log/sluice.log");
	assert_string_equal(conf_get_str(c, "sluice.log.file"), "/var/log/sluice.log");
	/* Choices match ignoring case and are stored in the declared spelling. */
	expect_ok(c, "spark.scheduler.mode", "fair");
	assert_string_equal(conf_get_str(c, "spark.scheduler.mode"), "FAIR");
	expect_ok(c, "sluice.log.level", "DEBUG");
	assert_string_equal(conf_get_str(c, "sluice.log.level"), "debug");
	expect_ok(c, "sluice.storage.level", " memory_only_2 ");
	assert_string_equal(conf_get_str(c, "sluice.storage.level"), "MEMORY_ONLY_2");
	assert_true(conf_is_set(c, "sluice.log.file"));
	conf_free(c);
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
	    {"0", 0},       {"250", 250},     {"250ms", 250},   {"10 ms", 10},
	    {"1s", 1000},   {"5S", 5000},     {"1.5s", 1500},   {"0.25s", 250},
	    {"2m", 120000}, {"2min", 120000}, {"1h", 3600000},  {"1d", 86400000},
	    {" 3s ", 3000}, {"1.5ms", 2},     {"0.1h", 360000},
	};
	static const char *const bad[] = {
	    "",
	    "s",
	    "fast",
	    "-1s",
	    "1x",
	    "1.s",
	    ".5s",
	    "1e3s",
	    "1 s s",
	    "1sec",
	    "1,5s",
	    "0x10",
	    "s1",
	    "1 ms1",
	    "99999999999999999999",
	    "9223372036854775807d",
	};
	int64_t v;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(conf_parse_duration_ms(good[i].s, &v), SL_OK);
		assert_int_equal(v, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (conf_parse_duration_ms(bad[i], &v) != SL_EINVAL)
			fail_msg("duration \"%s\" accepted", bad[i]);
	assert_int_equal(conf_parse_duration_ms(NULL, &v), SL_EINVAL);
}

static void test_parse_bytes(void **state)
{
	static const struct {
		const char *s;
		int64_t n;
	} good[] = {
	    {"0", 0},
	    {"512", 512},
	    {"100b", 100},
	    {"64k", 65536},
	    {"64KB", 65536},
	    {"1.5k", 1536},
	    {"2m", 2 << 20},
	    {"2Mb", 2 << 20},
	    {"1g", 1LL << 30},
	    {"3GB", 3LL << 30},
	    {"1t", 1LL << 40},
	    {"1 tb", 1LL << 40},
	    {"8388607t", 8388607LL << 40},
	};
	static const char *const bad[] = {"",   "k",   "1x",  "-1k",     "1.5.5k",
	                                  "1p", "1kk", "nan", "8388608t"};
	int64_t v;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(conf_parse_bytes(good[i].s, &v), SL_OK);
		assert_int_equal(v, good[i].n);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (conf_parse_bytes(bad[i], &v) != SL_EINVAL)
			fail_msg("size \"%s\" accepted", bad[i]);
}

static void test_parse_bool(void **state)
{
	static const char *const yes[] = {"true", "TRUE", "yes", "Yes",
	                                  "on",   "1",    " on "};
	static const char *const no[] = {"false", "False", "no", "NO", "off", "0"};
	static const char *const bad[] = {"", "maybe", "2", "t", "truee", "yes please"};
	bool b;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(conf_parse_bool(yes[i], &b), SL_OK);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_int_equal(conf_parse_bool(no[i], &b), SL_OK);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(conf_parse_bool(bad[i], &b), SL_EINVAL);
}

/* ---- bad values -------------------------------------------------------- */

static void test_bad_values(void **state)
{
	sl_conf *c = conf_new(CONF_APP_KEYS);
	expect_error(
	    c, "spark.streaming.blockInterval", "fast",
	    "spark.streaming.blockInterval: expected a duration such as 200ms or 1s, "
	    "got \"fast\"");
	expect_error(c, "spark.task.maxFailures", "four",
	             "spark.task.maxFailures: expected an integer, got \"four\"");
	expect_error(c, "spark.task.maxFailures", "4.5",
	             "spark.task.maxFailures: expected an integer, got \"4.5\"");
	expect_error(c, "spark.task.maxFailures", "99999999999999999999",
	             "spark.task.maxFailures: expected an integer, got "
	             "\"99999999999999999999\"");
	expect_error(c, "sluice.transport.insecure", "maybe",
	             "sluice.transport.insecure: expected true or false, got \"maybe\"");
	expect_error(c, "spark.memory.fraction", "lots",
	             "spark.memory.fraction: expected a number, got \"lots\"");
	expect_error(c, "spark.memory.fraction", "nan",
	             "spark.memory.fraction: expected a number, got \"nan\"");
	expect_error(
	    c, "spark.streaming.backpressure.pid.proportional", "inf",
	    "spark.streaming.backpressure.pid.proportional: expected a number, got "
	    "\"inf\"");
	expect_error(
	    c, "sluice.worker.memory", "1x",
	    "sluice.worker.memory: expected a size such as 512k, 64m or 1g, got \"1x\"");
	expect_error(c, "spark.scheduler.mode", "LIFO",
	             "spark.scheduler.mode: expected one of FIFO|FAIR, got \"LIFO\"");
	expect_error(
	    c, "sluice.batch.interval", "",
	    "sluice.batch.interval: expected a duration such as 200ms or 1s, got \"\"");
	/* Control bytes are not echoed back raw. */
	expect_error(
	    c, "sluice.batch.interval", "1\033[2Js",
	    "sluice.batch.interval: expected a duration such as 200ms or 1s, got "
	    "\"1\\x1b[2Js\"");
	/* A refused value leaves the key as it was. */
	assert_false(conf_is_set(c, "spark.task.maxFailures"));
	expect_ok(c, "spark.task.maxFailures", "8");
	expect_error(c, "spark.task.maxFailures", "eight",
	             "spark.task.maxFailures: expected an integer, got \"eight\"");
	assert_int_equal(conf_get_int(c, "spark.task.maxFailures"), 8);
	conf_free(c);
}

static void test_long_bad_value_is_cut(void **state)
{
	sl_conf *c = conf_new(CONF_STRICT);
	char value[300], err[ERRLEN];
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	assert_int_equal(conf_set(c, "sluice.batch.interval", value, err, sizeof(err)),
	                 SL_ECONFIG);
	assert_non_null(strstr(err, "xxx...\""));
	assert_true(strlen(err) < 200);
	/* A tiny error buffer truncates, never overflows. */
	char tiny[8];
	assert_int_equal(conf_set(c, "sluice.batch.interval", "x", tiny, sizeof(tiny)),
	                 SL_ECONFIG);
	assert_int_equal(strlen(tiny), 7);
	assert_int_equal(conf_set(c, "sluice.batch.interval", "x", NULL, 0), SL_ECONFIG);
	conf_free(c);
}

static void test_out_of_range(void **state)
{
	sl_conf *c = conf_new(CONF_STRICT);
	expect_error(c, "spark.task.maxFailures", "0",
	             "spark.task.maxFailures: must be between 1 and 1000, got 0");
	expect_error(c, "spark.task.maxFailures", "1001",
	             "spark.task.maxFailures: must be between 1 and 1000, got 1001");
	expect_error(c, "sluice.master.port", "65536",
	             "sluice.master.port: must be between 0 and 65535, got 65536");
	expect_error(c, "sluice.worker.memory", "1m",
	             "sluice.worker.memory: must be between 16m and 1t, got 1m");
	expect_error(c, "sluice.rpc.maxMessageSize", "2g",
	             "sluice.rpc.maxMessageSize: must be between 64k and 1g, got 2g");
	expect_error(c, "sluice.heartbeat.interval", "10ms",
	             "sluice.heartbeat.interval: must be between 50ms and 1m, got 10ms");
	expect_error(c, "sluice.batch.interval", "2h",
	             "sluice.batch.interval: must be between 10ms and 1h, got 2h");
	expect_error(c, "spark.memory.fraction", "1.5",
	             "spark.memory.fraction: must be between 0.01 and 1, got 1.5");
	expect_error(
	    c, "spark.streaming.kafka.minRatePerPartition", "0",
	    "spark.streaming.kafka.minRatePerPartition: must be at least 1, got 0");
	expect_error(c, "spark.streaming.receiver.maxRate", "-5",
	             "spark.streaming.receiver.maxRate: must be at least 0, got -5");
	expect_error(
	    c, "spark.streaming.backpressure.pid.minRate", "0",
	    "spark.streaming.backpressure.pid.minRate: must be at least 0.001, got 0");
	/* Bounds are inclusive. */
	expect_ok(c, "spark.task.maxFailures", "1");
	expect_ok(c, "spark.task.maxFailures", "1000");
	expect_ok(c, "sluice.master.port", "65535");
	expect_ok(c, "sluice.worker.memory", "16m");
	expect_ok(c, "spark.memory.storageFraction", "0");
	expect_ok(c, "spark.streaming.receiver.maxRate", "9223372036854775807");
	conf_free(c);
}

/* ---- keys -------------------------------------------------------------- */

static void test_unknown_key(void **state)
{
	sl_conf *c = conf_new(CONF_APP_KEYS);
	expect_error(
	    c, "spark.streaming.blocInterval", "200ms",
	    "spark.streaming.blocInterval: unknown configuration key (did you mean "
	    "spark.streaming.blockInterval?)");
	expect_error(c, "spark.task.maxFailrues", "4",
	             "spark.task.maxFailrues: unknown configuration key (did you mean "
	             "spark.task.maxFailures?)");
	expect_error(c, "spark.nothing.like.this", "1",
	             "spark.nothing.like.this: unknown configuration key");
	expect_error(c, "kafka.bootstrap.servers", "localhost:9092",
	             "kafka.bootstrap.servers: unknown configuration key");
	expect_error(c, "sluice.worker.Slots", "2",
	             "sluice.worker.Slots: unknown configuration key (did you mean "
	             "sluice.worker.slots?)");
	/* A misspelt namespace is not taken for a job key. */
	expect_error(c, "sprak.task.maxFailures", "4",
	             "sprak.task.maxFailures: unknown configuration key (did you mean "
	             "spark.task.maxFailures?)");
	char err[ERRLEN];
	assert_int_equal(conf_set(c, NULL, "x", err, sizeof(err)), SL_EINVAL);
	assert_int_equal(conf_set(c, "source.host", NULL, err, sizeof(err)), SL_EINVAL);
	assert_int_equal(conf_set(NULL, "source.host", "x", err, sizeof(err)), SL_EINVAL);
	conf_free(c);
}

static void test_app_keys(void **state)
{
	sl_conf *app = conf_new(CONF_APP_KEYS);
	expect_ok(app, "source.host", "localhost");
	expect_ok(app, "output_path-2", "/data/out");
	expect_ok(app, "sparkly.threshold", "0.5"); /* near a namespace, not a key */
	expect_ok(app, "window", "");
	assert_string_equal(conf_get_str(app, "source.host"), "localhost");
	assert_string_equal(conf_get_str(app, "output_path-2"), "/data/out");
	assert_string_equal(conf_get_str(app, "window"), "");
	assert_null(conf_get_str(app, "source.port"));
	assert_true(conf_is_set(app, "source.host"));
	assert_false(conf_is_set(app, "source.port"));
	expect_error(app, "", "x", "empty configuration key");
	expect_error(
	    app, "bad key", "x",
	    "\"bad key\": invalid configuration key (use letters, digits, '.', '_' "
	    "and '-')");
	expect_error(
	    app, "a/b", "x",
	    "\"a/b\": invalid configuration key (use letters, digits, '.', '_' and "
	    "'-')");
	expect_error(
	    app, "k\n", "x",
	    "\"k\": invalid configuration key (use letters, digits, '.', '_' and "
	    "'-')");
	conf_free(app);

	sl_conf *strict = conf_new(CONF_STRICT);
	expect_error(strict, "source.host", "localhost",
	             "source.host: unknown configuration key");
	assert_null(conf_get_str(strict, "source.host"));
	conf_free(strict);
}

static void test_set_kv(void **state)
{
	sl_conf *c = conf_new(CONF_APP_KEYS);
	char err[ERRLEN];
	assert_int_equal(
	    conf_set_kv(c, "  spark.task.maxFailures =  7 ", err, sizeof(err)), SL_OK);
	assert_int_equal(conf_get_int(c, "spark.task.maxFailures"), 7);
	assert_int_equal(conf_set_kv(c, "source.query=a=b", err, sizeof(err)), SL_OK);
	assert_string_equal(conf_get_str(c, "source.query"), "a=b");
	assert_int_equal(conf_set_kv(c, "novalue", err, sizeof(err)), SL_ECONFIG);
	assert_string_equal(err, "expected key=value, got \"novalue\"");
	assert_int_equal(conf_set_kv(c, " = 5", err, sizeof(err)), SL_ECONFIG);
	assert_string_equal(err, "empty configuration key");
	assert_int_equal(conf_set_kv(c, "spark.task.maxFailures=0", err, sizeof(err)),
	                 SL_ECONFIG);
	assert_string_equal(err,
	                    "spark.task.maxFailures: must be between 1 and 1000, got 0");
	assert_int_equal(conf_set_kv(c, NULL, err, sizeof(err)), SL_EINVAL);
	conf_free(c);
}

/* ---- order, foreach, merge --------------------------------------------- */

typedef struct {
	char buf[1024];
	int n;
} collected;

static void collect(void *arg, const char *key, const char *value)
{
	collected *col = arg;
	size_t len = strlen(col->buf);
	snprintf(col->buf + len, sizeof(col->buf) - len, "%s=%s;", key, value);
	col->n++;
}

static void test_override_order(void **state)
{
	sl_conf *c = conf_new(CONF_APP_KEYS);
	char err[ERRLEN];
	expect_ok(c, "sluice.worker.slots", "4");
	expect_ok(c, "source.host", "a");
	expect_ok(c, "sluice.batch.interval", "2s");
	/* Command-line overrides come after the file: the last set wins... */
	assert_int_equal(conf_set_kv(c, "sluice.worker.slots=8", err, sizeof(err)),
	                 SL_OK);
	expect_ok(c, "source.host", "b");
	assert_int_equal(conf_get_int(c, "sluice.worker.slots"), 8);
	assert_string_equal(conf_get_str(c, "source.host"), "b");
	/* ...and keeps the position of the first set. */
	collected col = {.n = 0};
	conf_foreach(c, collect, &col);
	assert_int_equal(col.n, 3);
	assert_string_equal(
	    col.buf, "sluice.worker.slots=8;source.host=b;sluice.batch.interval=2s;");
	conf_free(c);
}

static void test_many_keys(void **state)
{
	sl_conf *c = conf_new(CONF_APP_KEYS);
	char key[32], value[32];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "app.k%d", i);
		snprintf(value, sizeof(value), "v%d", i);
		expect_ok(c, key, value);
	}
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "app.k%d", i);
		snprintf(value, sizeof(value), "v%d", i);
		assert_string_equal(conf_get_str(c, key), value);
	}
	conf_free(c);
}

static void test_merge(void **state)
{
	char err[ERRLEN];
	sl_conf *dst = conf_new(CONF_APP_KEYS), *src = conf_new(CONF_APP_KEYS);
	expect_ok(dst, "sluice.worker.slots", "4");
	expect_ok(dst, "sluice.batch.interval", "2s");
	expect_ok(src, "sluice.batch.interval", "500ms");
	expect_ok(src, "source.host", "example.org");
	assert_int_equal(conf_merge(dst, src, err, sizeof(err)), SL_OK);
	assert_int_equal(conf_get_int(dst, "sluice.worker.slots"), 4);
	assert_int_equal(conf_get_duration_ms(dst, "sluice.batch.interval"), 500);
	assert_string_equal(conf_get_str(dst, "source.host"), "example.org");
	collected col = {.n = 0};
	conf_foreach(dst, collect, &col);
	assert_string_equal(col.buf, "sluice.worker.slots=4;sluice.batch.interval=500ms;"
	                             "source.host=example.org;");
	/* Merging into itself changes nothing. */
	assert_int_equal(conf_merge(dst, dst, err, sizeof(err)), SL_OK);
	assert_string_equal(conf_get_str(dst, "source.host"), "example.org");

	/* A strict destination refuses job keys, and then takes nothing. */
	sl_conf *strict = conf_new(CONF_STRICT);
	assert_int_equal(conf_merge(strict, src, err, sizeof(err)), SL_ECONFIG);
	assert_string_equal(err, "source.host: unknown configuration key");
	assert_false(conf_is_set(strict, "sluice.batch.interval"));
	assert_int_equal(conf_merge(NULL, src, err, sizeof(err)), SL_EINVAL);
	conf_free(strict);
	conf_free(src);
	conf_free(dst);
}

/* ---- properties files -------------------------------------------------- */

static void test_properties_file(void **state)
{
	fixture *f = *state;
	const char *path = write_file(f, "sluice.properties",
	                              "# Sluice configuration\n"
	                              "! also a comment\n"
	                              "\n"
	                              "   \t\n"
	                              "sluice.worker.slots=6\n"
	                              "sluice.batch.interval 2s\n"
	                              "spark.scheduler.mode: FAIR\n"
	                              "  spark.task.maxFailures   =   9   \n"
	                              "sluice.log.file = /tmp/a b.log\r\n"
	                              "source.path = /data/in\\\n"
	                              "               /more\n"
	                              "source.sep = \\t|\\u00e9|\\\\|\\#\n"
	                              "source.empty =\n"
	                              "source.hash = a#b\n"
	                              "sluice.worker.memory=2g");
	sl_conf *c = conf_new(CONF_APP_KEYS);
	char err[ERRLEN] = "";
	assert_int_equal(conf_load_file(c, path, err, sizeof(err)), SL_OK);
	assert_string_equal(err, "");
	assert_int_equal(conf_get_int(c, "sluice.worker.slots"), 6);
	assert_int_equal(conf_get_duration_ms(c, "sluice.batch.interval"), 2000);
	assert_string_equal(conf_get_str(c, "spark.scheduler.mode"), "FAIR");
	assert_int_equal(conf_get_int(c, "spark.task.maxFailures"), 9);
	assert_string_equal(conf_get_str(c, "sluice.log.file"), "/tmp/a b.log");
	assert_string_equal(conf_get_str(c, "source.path"), "/data/in/more");
	assert_string_equal(conf_get_str(c, "source.sep"), "\t|\xc3\xa9|\\|#");
	assert_string_equal(conf_get_str(c, "source.empty"), "");
	assert_string_equal(conf_get_str(c, "source.hash"), "a#b");
	assert_int_equal(conf_get_bytes(c, "sluice.worker.memory"), 2LL << 30);
	conf_free(c);
}

static void test_properties_then_overrides(void **state)
{
	fixture *f = *state;
	const char *path = write_file(
	    f, "o.properties", "sluice.worker.slots=6\nsluice.batch.interval=2s\n");
	sl_conf *c = conf_new(CONF_STRICT);
	char err[ERRLEN];
	assert_int_equal(conf_load_file(c, path, err, sizeof(err)), SL_OK);
	assert_int_equal(conf_set_kv(c, "sluice.worker.slots=3", err, sizeof(err)),
	                 SL_OK);
	assert_int_equal(conf_get_int(c, "sluice.worker.slots"), 3);
	assert_int_equal(conf_get_duration_ms(c, "sluice.batch.interval"), 2000);
	conf_free(c);
}

static void test_properties_bad_line(void **state)
{
	fixture *f = *state;
	const char *path = write_file(f, "x.properties",
	                              "# header\n"
	                              "sluice.worker.slots=6\n"
	                              "\n"
	                              "sluice.batch.interval=2s\n"
	                              "# note\n"
	                              "\n"
	                              "foo\n"
	                              "sluice.http.port=9090\n");
	sl_conf *c = conf_new(CONF_APP_KEYS);
	char err[ERRLEN], want[ERRLEN];
	assert_int_equal(conf_load_file(c, path, err, sizeof(err)), SL_ECONFIG);
	snprintf(want, sizeof(want), "%s:7: expected key=value, got \"foo\"", path);
	assert_string_equal(err, want);
	/* A bad file applies nothing. */
	assert_false(conf_is_set(c, "sluice.worker.slots"));
	conf_free(c);
}

static void test_properties_bad_value(void **state)
{
	fixture *f = *state;
	const char *path = write_file(f, "v.properties",
	                              "sluice.worker.slots=6\n"
	                              "spark.streaming.blockInterval = \\\n"
	                              "    fast\n"
	                              "spark.streaming.blocInterval=1s\n");
	sl_conf *c = conf_new(CONF_STRICT);
	char err[ERRLEN], want[ERRLEN];
	assert_int_equal(conf_load_file(c, path, err, sizeof(err)), SL_ECONFIG);
	snprintf(
	    want, sizeof(want),
	    "%s:2: spark.streaming.blockInterval: expected a duration such as 200ms or "
	    "1s, got \"fast\"",
	    path);
	assert_string_equal(err, want);

	path = write_file(f, "v.properties", "a=1\nspark.streaming.blocInterval=1s\n");
	assert_int_equal(conf_load_file(c, path, err, sizeof(err)), SL_ECONFIG);
	snprintf(want, sizeof(want), "%s:1: a: unknown configuration key", path);
	assert_string_equal(err, want);

	path = write_file(f, "v.properties", "source.x=\\u12\n");
	assert_int_equal(conf_load_file(c, path, err, sizeof(err)), SL_ECONFIG);
	snprintf(want, sizeof(want), "%s:1: source.x: bad \\u escape in the value", path);
	assert_string_equal(err, want);
	conf_free(c);
}

static void test_properties_missing_and_odd_files(void **state)
{
	fixture *f = *state;
	sl_conf *c = conf_new(CONF_STRICT);
	char err[ERRLEN], want[ERRLEN], path[128];
	snprintf(path, sizeof(path), "%s/missing.properties", f->dir);
	assert_int_equal(conf_load_file(c, path, err, sizeof(err)), SL_ECONFIG);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);
	/* A directory is not a properties file. */
	assert_int_equal(conf_load_file(c, f->dir, err, sizeof(err)), SL_ECONFIG);
	assert_non_null(strstr(err, f->dir));
	/* Empty file, comment-only file, byte order mark, missing final newline. */
	assert_int_equal(
	    conf_load_file(c, write_file(f, "e.properties", ""), err, sizeof(err)),
	    SL_OK);
	assert_int_equal(conf_load_file(c, write_file(f, "e.properties", "# only\n"), err,
	                                sizeof(err)),
	                 SL_OK);
	assert_int_equal(conf_load_file(c,
	                                write_file(f, "e.properties",
	                                           "\xEF\xBB\xBFsluice.worker.slots=5"),
	                                err, sizeof(err)),
	                 SL_OK);
	assert_int_equal(conf_get_int(c, "sluice.worker.slots"), 5);
	/* A continuation at the very end of the file. */
	assert_int_equal(
	    conf_load_file(c, write_file(f, "e.properties", "sluice.log.file=x\\"), err,
	                   sizeof(err)),
	    SL_OK);
	assert_string_equal(conf_get_str(c, "sluice.log.file"), "x");
	assert_int_equal(conf_load_file(c, NULL, err, sizeof(err)), SL_EINVAL);
	conf_free(c);
}

/* ---- programming errors abort ------------------------------------------ */

typedef void (*misuse_fn)(const sl_conf *c);

static void get_undeclared(const sl_conf *c)
{
	conf_get_int(c, "spark.no.such.key");
}
static void get_wrong_type(const sl_conf *c)
{
	conf_get_int(c, "sluice.master.url");
}
static void get_str_of_int(const sl_conf *c)
{
	conf_get_str(c, "sluice.master.port");
}
static void get_str_reserved(const sl_conf *c)
{
	conf_get_str(c, "sluice.no.such.key");
}
static void get_duration_of_bytes(const sl_conf *c)
{
	conf_get_duration_ms(c, "sluice.worker.memory");
}

static void test_getter_misuse_aborts(void **state)
{
	misuse_fn fns[] = {get_undeclared, get_wrong_type, get_str_of_int,
	                   get_str_reserved, get_duration_of_bytes};
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (freopen("/dev/null", "w", stderr) == NULL)
				_exit(1);
			sl_conf *c = conf_new(CONF_APP_KEYS);
			fns[i](c);
			_exit(0); /* not reached when the getter aborts */
		}
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGABRT);
	}
}

/* ---- docs/configuration.md --------------------------------------------- */

static const char *const doc_types[] = {"string", "int",   "bool",
                                        "double", "bytes", "duration"};

/* The reference must have one table row per declared key, starting
 * "| `name` | type | default |". */
static void test_docs_list_every_key(void **state)
{
	const char *self = __FILE__, *suffix = "tests/unit/test_config.c";
	size_t n = strlen(self), sn = strlen(suffix);
	if (n < sn || strcmp(self + n - sn, suffix) != 0)
		skip();
	char path[128];
	snprintf(path, sizeof(path), "%.*sdocs/configuration.md", (int)(n - sn), self);
	FILE *fp = fopen(path, "r");
	if (fp == NULL)
		skip();
	static char text[1 << 17];
	size_t len = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[len] = '\0';
	int rows = 0;
	for (const char *p = text; (p = strstr(p, "\n| `")) != NULL; p++)
		rows++;
	int keys = 0;
	for (const conf_key *k = conf_keys(); k->name != NULL; k++, keys++) {
		char row[256];
		snprintf(row, sizeof(row), "\n| `%s` | %s | %s%s%s |", k->name,
		         doc_types[k->type], k->def ? "`" : "", k->def ? k->def : "unset",
		         k->def ? "`" : "");
		if (strstr(text, row) == NULL)
			fail_msg("%s: no row starting %s", path, row + 1);
	}
	assert_int_equal(rows, keys);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_table_is_consistent),
	    T(test_defaults_are_valid),
	    T(test_defaults),
	    T(test_good_values),
	    T(test_parse_duration),
	    T(test_parse_bytes),
	    T(test_parse_bool),
	    T(test_bad_values),
	    T(test_long_bad_value_is_cut),
	    T(test_out_of_range),
	    T(test_unknown_key),
	    T(test_app_keys),
	    T(test_set_kv),
	    T(test_override_order),
	    T(test_many_keys),
	    T(test_merge),
	    T(test_properties_file),
	    T(test_properties_then_overrides),
	    T(test_properties_bad_line),
	    T(test_properties_bad_value),
	    T(test_properties_missing_and_odd_files),
	    T(test_getter_misuse_aborts),
	    T(test_docs_list_every_key),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
