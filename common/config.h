/*
 * Configuration: properties files plus --conf key=value overrides, with typed
 * getters.
 *
 * Every key Sluice understands is declared once, in the table in
 * config_keys.c (name, type, default, bounds, one-line meaning); that table
 * is also what docs/configuration.md documents. Setting a key validates it at
 * once: an unknown key or a value that does not parse or is out of range is
 * refused with a message naming the key and what was expected, e.g.
 *   spark.streaming.blockInterval: expected a duration such as 200ms or 1s, got "fast"
 * Later sets override earlier ones, so callers load the file first and then
 * apply command-line overrides.
 *
 * Keys in the spark.*, sluice.* and kafka.* namespaces must be declared.
 * A configuration made with CONF_APP_KEYS also accepts keys of any other
 * namespace (e.g. "source.host", "output.path"): they are the job's own
 * parameters, stored as strings and readable by the job (like SparkConf).
 *
 * Getters on a declared key return the set value or the declared default;
 * a getter called with an undeclared key or the wrong type is a programming
 * error and aborts (an assertion, never reached from input).
 * Not thread-safe for writes; concurrent reads are fine once built.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	CONF_STRING,
	CONF_INT,      /* 64-bit integer, bounds checked */
	CONF_BOOL,     /* true/false (also yes/no, 1/0, on/off) */
	CONF_DOUBLE,   /* bounds checked */
	CONF_BYTES,    /* 512, 64k, 512m, 2g (powers of 1024); stored as bytes */
	CONF_DURATION, /* 200ms, 1s, 5m, 1h, 2d; bare number = ms; stored as ms */
} conf_type;

typedef struct {
	const char *name;
	conf_type type;
	const char *def; /* default in the same syntax a user writes; NULL = unset */
	double min, max; /* bounds for INT, DOUBLE, BYTES, DURATION (inclusive);
	                    -INFINITY / INFINITY for an open end */
	const char *doc; /* one line: what it means */
	/* STRING only: the allowed values, "FIFO|FAIR"; matched ignoring case and
	 * stored in the spelling given here. NULL = any string. */
	const char *choices;
} conf_key;

enum { CONF_STRICT = 0, CONF_APP_KEYS = 1 };

typedef struct sl_conf sl_conf;

/* Allocates an empty configuration. flags: CONF_STRICT or CONF_APP_KEYS. */
sl_conf *conf_new(int flags);
void conf_free(sl_conf *c);

/* Sets one key. On failure returns SL_ECONFIG and writes a message naming the
 * key and the problem into err (if err != NULL). */
int conf_set(sl_conf *c, const char *key, const char *value, char *err, size_t errlen);
/* Sets from "key=value" (whitespace around key and value trimmed). */
int conf_set_kv(sl_conf *c, const char *kv, char *err, size_t errlen);
/* Loads a Java-style properties file: "key=value" or "key value" or
 * "key: value" lines, '#' and '!' comments, blank lines. Errors name the
 * file and line. */
int conf_load_file(sl_conf *c, const char *path, char *err, size_t errlen);

/* True when the key was set explicitly (not only defaulted). */
bool conf_is_set(const sl_conf *c, const char *key);

/* Typed getters; see the contract above. get_str returns NULL for an unset
 * key without default; the pointer lives as long as the configuration.
 * The other getters return -1 (INT, BYTES, DURATION), NAN (DOUBLE) or false
 * (BOOL) for an unset key without default; check conf_is_set first.
 * get_str also reads job keys (CONF_APP_KEYS): NULL when not set. */
const char *conf_get_str(const sl_conf *c, const char *key);
int64_t conf_get_int(const sl_conf *c, const char *key);
bool conf_get_bool(const sl_conf *c, const char *key);
double conf_get_double(const sl_conf *c, const char *key);
int64_t conf_get_bytes(const sl_conf *c, const char *key);
int64_t conf_get_duration_ms(const sl_conf *c, const char *key);

/* Calls fn for every explicitly set key in insertion order (overrides keep
 * the position of the first set). */
void conf_foreach(const sl_conf *c,
                  void (*fn)(void *arg, const char *key, const char *value), void *arg);

/* Copies every explicitly set key of src into dst (validated again). */
int conf_merge(sl_conf *dst, const sl_conf *src, char *err, size_t errlen);

/* The declared keys (NULL-name terminated) and a lookup by name. */
const conf_key *conf_keys(void);
const conf_key *conf_key_find(const char *name);

/* Parsers shared with the CLI (e.g. --batch-interval 1s). Return SL_OK or
 * SL_EINVAL. */
int conf_parse_duration_ms(const char *s, int64_t *out);
int conf_parse_bytes(const char *s, int64_t *out);
int conf_parse_bool(const char *s, bool *out);

#endif
