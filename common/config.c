/*
 * Configuration store: see config.h for the contract.
 *
 * This file exists so that every process reads its settings the same way and
 * a bad setting is refused where it enters (a properties file line, a --conf
 * flag, a job submitted over the wire) with a message naming the key, instead
 * of surfacing later as a strange runtime failure. Values are parsed and
 * range-checked once, when set, and kept both as the text the user wrote (for
 * export) and as the parsed number (for the getters). Entries live in a plain
 * vector in insertion order: configurations hold tens of keys, so a linear
 * scan is both fast enough and the simplest thing that keeps export order
 * stable. The declared keys themselves are in config_keys.c.
 */
#include "config.h"
#include "log.h"
#include "alloc.h"
#include "sluice/err.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	KEY_MAX_SUGGEST = 128,      /* longer keys get no "did you mean" */
	SUGGEST_DISTANCE = 3,       /* farthest declared key still suggested */
	SHOW_MAX = 64,              /* longest value quoted back in a message */
	FILE_MAX = 16 << 20,        /* largest properties file read */
	NAMESPACE_TYPO_DISTANCE = 2 /* "sprak." is a typo of "spark." */
};

typedef union {
	int64_t i;
	double d;
	bool b;
} conf_val;

typedef struct {
	char *key;
	char *value;          /* text as set (canonical spelling for choices) */
	const conf_key *decl; /* NULL for a job key */
	conf_val v;           /* parsed value of a declared non-string key */
} conf_entry;

struct sl_conf {
	int flags;
	conf_entry *v;
	size_t n, cap;
};

/* A validated value waiting to be stored. */
typedef struct {
	const conf_key *decl;
	conf_val v;
	char *text; /* owned */
} conf_parsed;

static const char *const reserved_ns[] = {"spark", "sluice", "kafka", NULL};

static const char *const type_names[] = {"STRING", "INT",   "BOOL",
                                         "DOUBLE", "BYTES", "DURATION"};

static const char *const type_expect[] = {
    "a string",
    "an integer",
    "true or false",
    "a number",
    "a size such as 512k, 64m or 1g",
    "a duration such as 200ms or 1s",
};

static int conf_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int conf_fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return SL_ECONFIG;
}

/* Copies s into buf for quoting in a message: whitespace-trimmed, control
 * bytes escaped as \xNN (log_escape), long text cut with "...". */
static const char *show(const char *s, char buf[SHOW_MAX + 4])
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	size_t used = log_escape(buf, SHOW_MAX + 1, s, n);
	if (used < n)
		strcat(buf, "...");
	return buf;
}

/* ---- scalar parsers ---------------------------------------------------- */

/* Parses "<digits>[.<digits>]" at *p into an integer part and a fraction. */
static int parse_decimal(const char **p, int64_t *ip, double *frac)
{
	const char *s = *p;
	int64_t v = 0;
	if (!isdigit((unsigned char)*s))
		return SL_EINVAL;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return SL_EINVAL;
		v = v * 10 + (*s - '0');
	}
	double f = 0, scale = 0.1;
	if (*s == '.') {
		if (!isdigit((unsigned char)*++s))
			return SL_EINVAL;
		for (; isdigit((unsigned char)*s); s++, scale /= 10)
			f += (*s - '0') * scale;
	}
	*p = s, *ip = v, *frac = f;
	return SL_OK;
}

typedef struct {
	const char *name;
	int64_t mult;
} conf_unit;

static const conf_unit duration_units[] = {
    {"", 1},        {"ms", 1},      {"s", 1000},     {"m", 60000},
    {"min", 60000}, {"h", 3600000}, {"d", 86400000}, {NULL, 0},
};

static const conf_unit byte_units[] = {
    {"", 1},          {"b", 1},          {"k", 1LL << 10}, {"kb", 1LL << 10},
    {"m", 1LL << 20}, {"mb", 1LL << 20}, {"g", 1LL << 30}, {"gb", 1LL << 30},
    {"t", 1LL << 40}, {"tb", 1LL << 40}, {NULL, 0},
};

/* Finds the unit spelled by [s, s+n), ignoring case; 0 when unknown. */
static int64_t unit_mult(const conf_unit *units, const char *s, size_t n)
{
	for (const conf_unit *u = units; u->name != NULL; u++)
		if (strlen(u->name) == n && strncasecmp(u->name, s, n) == 0)
			return u->mult;
	return 0;
}

/* "<number>[ ]<unit>" with surrounding whitespace; result rounded to an
 * integer count of the base unit. */
static int parse_scaled(const char *s, const conf_unit *units, int64_t *out)
{
	int64_t ip;
	double frac;
	while (isspace((unsigned char)*s))
		s++;
	if (parse_decimal(&s, &ip, &frac) != SL_OK)
		return SL_EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	int64_t mult = unit_mult(units, s, n);
	if (mult == 0 || ip > INT64_MAX / mult)
		return SL_EINVAL;
	int64_t f = llround(frac * (double)mult);
	if (ip * mult > INT64_MAX - f)
		return SL_EINVAL;
	*out = ip * mult + f;
	return SL_OK;
}

int conf_parse_duration_ms(const char *s, int64_t *out)
{
	return s == NULL ? SL_EINVAL : parse_scaled(s, duration_units, out);
}

int conf_parse_bytes(const char *s, int64_t *out)
{
	return s == NULL ? SL_EINVAL : parse_scaled(s, byte_units, out);
}

int conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	if (s == NULL)
		return SL_EINVAL;
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	for (int i = 0; i < 4; i++) {
		if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0)
			return *out = true, SL_OK;
		if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0)
			return *out = false, SL_OK;
	}
	return SL_EINVAL;
}

/* True when s, apart from surrounding whitespace, is non-empty and made only
 * of characters in allowed. */
static bool only_chars(const char *s, const char *allowed)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return n > 0 && strspn(s, allowed) == n;
}

static int parse_int(const char *s, int64_t *out)
{
	if (!only_chars(s, "+-0123456789"))
		return SL_EINVAL;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return SL_EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return SL_EINVAL;
	*out = v;
	return SL_OK;
}

static int parse_double(const char *s, double *out)
{
	if (!only_chars(s, "+-0123456789.eE"))
		return SL_EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno == ERANGE || end == s || !isfinite(v))
		return SL_EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	if (*end != '\0')
		return SL_EINVAL;
	*out = v;
	return SL_OK;
}

/* Parses a value of a non-string type. */
static int parse_typed(conf_type t, const char *s, conf_val *v)
{
	switch (t) {
	case CONF_INT:
		return parse_int(s, &v->i);
	case CONF_BOOL:
		return conf_parse_bool(s, &v->b);
	case CONF_DOUBLE:
		return parse_double(s, &v->d);
	case CONF_BYTES:
		return conf_parse_bytes(s, &v->i);
	case CONF_DURATION:
		return conf_parse_duration_ms(s, &v->i);
	default:
		return SL_EINVAL;
	}
}

/* ---- formatting bounds ------------------------------------------------- */

/* Writes x in the largest unit that divides it exactly. */
static void fmt_scaled(int64_t x, const conf_unit *units, char *buf, size_t n)
{
	const conf_unit *best = NULL;
	for (const conf_unit *u = units; u->name != NULL; u++)
		if (u->name[0] != '\0' && x != 0 && x % u->mult == 0 &&
		    (best == NULL || u->mult > best->mult))
			best = u;
	if (best == NULL || best->mult == 1)
		snprintf(buf, n, "%lld%s", (long long)x, units == byte_units ? "" : "ms");
	else
		snprintf(buf, n, "%lld%s", (long long)(x / best->mult), best->name);
}

static void fmt_bound(conf_type t, double x, char *buf, size_t n)
{
	/* Open bounds are +-INFINITY: converting them to an integer is undefined. */
	if (!isfinite(x) || x >= 9.2e18 || x <= -9.2e18)
		snprintf(buf, n, "%s", x > 0 ? "unlimited" : "-unlimited");
	else if (t == CONF_BYTES)
		fmt_scaled((int64_t)x, byte_units, buf, n);
	else if (t == CONF_DURATION)
		fmt_scaled((int64_t)x, duration_units, buf, n);
	else if (t == CONF_INT)
		snprintf(buf, n, "%lld", (long long)x);
	else
		snprintf(buf, n, "%g", x);
}

/* ---- validation -------------------------------------------------------- */

static int check_range(const conf_key *k, conf_val v, const char *text, char *err,
                       size_t errlen)
{
	double x = k->type == CONF_DOUBLE ? v.d : (double)v.i;
	if (x >= k->min && x <= k->max)
		return SL_OK;
	char lo[32], hi[32], got[SHOW_MAX + 4];
	fmt_bound(k->type, k->min, lo, sizeof(lo));
	fmt_bound(k->type, k->max, hi, sizeof(hi));
	show(text, got);
	if (isinf(k->max))
		return conf_fail(err, errlen, "%s: must be at least %s, got %s", k->name,
		                 lo, got);
	if (isinf(k->min))
		return conf_fail(err, errlen, "%s: must be at most %s, got %s", k->name,
		                 hi, got);
	return conf_fail(err, errlen, "%s: must be between %s and %s, got %s", k->name,
	                 lo, hi, got);
}

/* Matches value against k->choices; stores the canonical spelling. */
static int check_choice(const conf_key *k, const char *value, conf_parsed *out, char *err,
                        size_t errlen)
{
	const char *v = value;
	while (isspace((unsigned char)*v))
		v++;
	size_t n = strlen(v);
	while (n > 0 && isspace((unsigned char)v[n - 1]))
		n--;
	for (const char *c = k->choices; *c != '\0';) {
		size_t len = strcspn(c, "|");
		if (len == n && strncasecmp(c, v, n) == 0) {
			out->text = sl_strndup(c, len);
			return SL_OK;
		}
		c += len + (c[len] == '|');
	}
	char got[SHOW_MAX + 4];
	return conf_fail(err, errlen, "%s: expected one of %s, got \"%s\"", k->name,
	                 k->choices, show(value, got));
}

static int check_value(const conf_key *k, const char *value, conf_parsed *out, char *err,
                       size_t errlen)
{
	char got[SHOW_MAX + 4];
	if (k->type == CONF_STRING && k->choices != NULL)
		return check_choice(k, value, out, err, errlen);
	if (k->type != CONF_STRING) {
		if (parse_typed(k->type, value, &out->v) != SL_OK)
			return conf_fail(err, errlen, "%s: expected %s, got \"%s\"",
			                 k->name, type_expect[k->type], show(value, got));
		if (k->type != CONF_BOOL &&
		    check_range(k, out->v, value, err, errlen) != SL_OK)
			return SL_ECONFIG;
	}
	out->text = sl_strdup(value);
	return SL_OK;
}

/* Optimal-string-alignment distance (a transposition counts as one edit);
 * INT_MAX for strings too long to be worth comparing. */
static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > KEY_MAX_SUGGEST || lb > KEY_MAX_SUGGEST)
		return INT_MAX;
	int rows[3][KEY_MAX_SUGGEST + 1];
	int *pp = rows[0], *p = rows[1], *cur = rows[2];
	for (size_t j = 0; j <= lb; j++)
		p[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int v = p[j - 1] + (a[i - 1] != b[j - 1]);
			if (p[j] + 1 < v)
				v = p[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			cur[j] = v;
		}
		int *t = pp;
		pp = p, p = cur, cur = t;
	}
	return p[lb];
}

/* The declared key nearest to name, if within SUGGEST_DISTANCE edits. */
static const conf_key *suggest(const char *name)
{
	const conf_key *best = NULL;
	int best_d = SUGGEST_DISTANCE + 1;
	for (const conf_key *k = conf_keys(); k->name != NULL; k++) {
		int d = edit_distance(name, k->name);
		if (d < best_d)
			best = k, best_d = d;
	}
	return best;
}

static bool key_reserved(const char *key)
{
	for (int i = 0; reserved_ns[i] != NULL; i++) {
		size_t n = strlen(reserved_ns[i]);
		if (strncmp(key, reserved_ns[i], n) == 0 && key[n] == '.')
			return true;
	}
	return false;
}

/* A job key that is really a misspelt declared key ("sprak.task.maxFailures"):
 * its namespace is close to a reserved one and the whole key to a declared
 * one. Refusing it beats silently ignoring the setting. */
static bool key_looks_like_typo(const char *key)
{
	size_t n = strcspn(key, ".");
	if (key[n] != '.' || n > 16 || suggest(key) == NULL)
		return false;
	char ns[17];
	memcpy(ns, key, n);
	ns[n] = '\0';
	for (int i = 0; reserved_ns[i] != NULL; i++)
		if (edit_distance(ns, reserved_ns[i]) <= NAMESPACE_TYPO_DISTANCE)
			return true;
	return false;
}

static int unknown_key(const char *key, char *err, size_t errlen)
{
	const conf_key *s = suggest(key);
	if (s != NULL)
		return conf_fail(err, errlen,
		                 "%s: unknown configuration key (did you mean %s?)", key,
		                 s->name);
	return conf_fail(err, errlen, "%s: unknown configuration key", key);
}

/* Resolves key to its declaration (NULL for an accepted job key). */
static int check_key(int flags, const char *key, const conf_key **decl, char *err,
                     size_t errlen)
{
	char shown[SHOW_MAX + 4];
	*decl = conf_key_find(key);
	if (*decl != NULL)
		return SL_OK;
	if (key[0] == '\0')
		return conf_fail(err, errlen, "empty configuration key");
	size_t n = strlen(key);
	if (strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                "0123456789._-") != n)
		return conf_fail(
		    err, errlen,
		    "\"%s\": invalid configuration key (use letters, digits, "
		    "'.', '_' and '-')",
		    show(key, shown));
	if (key_reserved(key) || !(flags & CONF_APP_KEYS) || key_looks_like_typo(key))
		return unknown_key(key, err, errlen);
	return SL_OK;
}

static int conf_validate(int flags, const char *key, const char *value, conf_parsed *out,
                         char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (key == NULL || value == NULL) {
		conf_fail(err, errlen, "configuration key or value missing");
		return SL_EINVAL;
	}
	int rc = check_key(flags, key, &out->decl, err, errlen);
	if (rc != SL_OK)
		return rc;
	if (out->decl == NULL) {
		out->text = sl_strdup(value);
		return SL_OK;
	}
	return check_value(out->decl, value, out, err, errlen);
}

/* ---- the store --------------------------------------------------------- */

sl_conf *conf_new(int flags)
{
	sl_conf *c = sl_calloc(1, sizeof(*c));
	c->flags = flags;
	return c;
}

void conf_free(sl_conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		sl_free(c->v[i].key);
		sl_free(c->v[i].value);
	}
	sl_free(c->v);
	sl_free(c);
}

static conf_entry *conf_find(const sl_conf *c, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].key, key) == 0)
			return &c->v[i];
	return NULL;
}

/* Stores a validated value, taking ownership of p->text. */
static void conf_store(sl_conf *c, const char *key, conf_parsed *p)
{
	conf_entry *e = conf_find(c, key);
	if (e == NULL) {
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 16;
			c->v = sl_realloc(c->v, c->cap * sizeof(*c->v));
		}
		e = &c->v[c->n++];
		e->key = sl_strdup(key);
		e->value = NULL;
	}
	sl_free(e->value);
	e->value = p->text;
	e->decl = p->decl;
	e->v = p->v;
	p->text = NULL;
}

int conf_set(sl_conf *c, const char *key, const char *value, char *err, size_t errlen)
{
	conf_parsed p;
	if (c == NULL)
		return SL_EINVAL;
	int rc = conf_validate(c->flags, key, value, &p, err, errlen);
	if (rc == SL_OK)
		conf_store(c, key, &p);
	sl_free(p.text);
	return rc;
}

/* Returns a new string holding [s, s+n) without surrounding whitespace. */
static char *dup_trimmed(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s))
		s++, n--;
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return sl_strndup(s, n);
}

int conf_set_kv(sl_conf *c, const char *kv, char *err, size_t errlen)
{
	char got[SHOW_MAX + 4];
	if (c == NULL || kv == NULL)
		return SL_EINVAL;
	const char *eq = strchr(kv, '=');
	if (eq == NULL)
		return conf_fail(err, errlen, "expected key=value, got \"%s\"",
		                 show(kv, got));
	char *key = dup_trimmed(kv, (size_t)(eq - kv));
	char *value = dup_trimmed(eq + 1, strlen(eq + 1));
	int rc = conf_set(c, key, value, err, errlen);
	sl_free(key);
	sl_free(value);
	return rc;
}

bool conf_is_set(const sl_conf *c, const char *key)
{
	return c != NULL && key != NULL && conf_find(c, key) != NULL;
}

void conf_foreach(const sl_conf *c,
                  void (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	if (c == NULL || fn == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		fn(arg, c->v[i].key, c->v[i].value);
}

int conf_merge(sl_conf *dst, const sl_conf *src, char *err, size_t errlen)
{
	conf_parsed p;
	if (dst == NULL || src == NULL)
		return SL_EINVAL;
	/* Validate everything first so that a refused key leaves dst as it was. */
	for (size_t i = 0; i < src->n; i++) {
		int rc = conf_validate(dst->flags, src->v[i].key, src->v[i].value, &p,
		                       err, errlen);
		sl_free(p.text);
		if (rc != SL_OK)
			return rc;
	}
	for (size_t i = 0; i < src->n; i++)
		if (conf_set(dst, src->v[i].key, src->v[i].value, err, errlen) != SL_OK)
			return SL_ECONFIG;
	return SL_OK;
}

/* ---- properties files -------------------------------------------------- */

typedef struct {
	char *s;
	size_t n, cap;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = sl_realloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

typedef struct {
	const char *p, *end; /* text not yet read */
	int lineno;          /* physical line last read */
} prop_reader;

/* The next physical line, without "\n" or "\r\n"; false at end of text. */
static bool next_line(prop_reader *r, const char **s, size_t *n)
{
	if (r->p >= r->end)
		return false;
	const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
	const char *e = nl != NULL ? nl : r->end;
	*s = r->p;
	*n = (size_t)(e - r->p);
	if (*n > 0 && (*s)[*n - 1] == '\r')
		(*n)--;
	r->p = nl != NULL ? nl + 1 : r->end;
	r->lineno++;
	return true;
}

static size_t skip_blank(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\f'))
		i++;
	return i;
}

/* An odd number of trailing backslashes continues the line. */
static bool continued(const char *s, size_t n)
{
	size_t k = 0;
	while (k < n && s[n - 1 - k] == '\\')
		k++;
	return k % 2 == 1;
}

/* Reads one logical line into b: comments and blank lines skipped,
 * continuation lines joined with their leading blanks dropped. *lineno is the
 * line it starts on. False at end of text. */
static bool next_logical(prop_reader *r, strbuf *b, int *lineno)
{
	const char *s;
	size_t n, w;
	b->n = 0;
	do {
		if (!next_line(r, &s, &n))
			return false;
		w = skip_blank(s, n);
	} while (w == n || s[w] == '#' || s[w] == '!');
	*lineno = r->lineno;
	s += w, n -= w;
	while (continued(s, n)) {
		sb_add(b, s, n - 1);
		if (!next_line(r, &s, &n)) {
			n = 0;
			break;
		}
		w = skip_blank(s, n);
		s += w, n -= w;
	}
	sb_add(b, s, n);
	return true;
}

/* Splits a logical line as java.util.Properties does: the key ends at the
 * first '=', ':' or blank; then blanks, one optional '=' or ':', blanks. A
 * line with a key but no separator and no value is refused. */
static int split_line(char *line, char **key, char **value)
{
	size_t k = strcspn(line, "=: \t\f");
	char *p = line + k + skip_blank(line + k, strlen(line + k));
	bool sep = p != line + k && *p != '\0';
	if (*p == '=' || *p == ':') {
		p++;
		p += skip_blank(p, strlen(p));
		sep = true;
	}
	if (!sep || k == 0)
		return SL_EINVAL;
	line[k] = '\0';
	*key = line;
	*value = p;
	return SL_OK;
}

/* Decodes "\uXXXX" at p (pointing at the 'u') into UTF-8 at *o. */
static int put_unicode(char **pp, char **oo)
{
	char *p = *pp, *o = *oo;
	unsigned cp = 0;
	for (int i = 1; i <= 4; i++) {
		if (!isxdigit((unsigned char)p[i]))
			return SL_EINVAL;
		cp = cp * 16 + (unsigned)(isdigit((unsigned char)p[i])
		                              ? p[i] - '0'
		                              : tolower((unsigned char)p[i]) - 'a' + 10);
	}
	if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
		return SL_EINVAL;
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xC0 | cp >> 6);
		*o++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*o++ = (char)(0xE0 | cp >> 12);
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*o++ = (char)(0x80 | (cp & 0x3F));
	}
	*pp = p + 4, *oo = o;
	return SL_OK;
}

/* Java escapes in a value, in place (the result is never longer). */
static int unescape(char *s)
{
	static const char from[] = "tnrf", to[] = "\t\n\r\f";
	char *o = s;
	for (char *p = s; *p != '\0'; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		if (*++p == '\0')
			break;
		const char *e = strchr(from, *p);
		if (*p == 'u') {
			if (put_unicode(&p, &o) != SL_OK)
				return SL_EINVAL;
		} else {
			*o++ = e != NULL ? to[e - from] : *p;
		}
	}
	*o = '\0';
	return SL_OK;
}

static int load_line(sl_conf *c, const char *path, int lineno, char *line, char *err,
                     size_t errlen)
{
	char *key, *value, got[SHOW_MAX + 4], msg[512];
	if (split_line(line, &key, &value) != SL_OK)
		return conf_fail(err, errlen, "%s:%d: expected key=value, got \"%s\"",
		                 path, lineno, show(line, got));
	if (unescape(value) != SL_OK)
		return conf_fail(err, errlen, "%s:%d: %s: bad \\u escape in the value",
		                 path, lineno, key);
	size_t n = strlen(value);
	while (n > 0 && isspace((unsigned char)value[n - 1]))
		value[--n] = '\0';
	if (conf_set(c, key, value, msg, sizeof(msg)) != SL_OK)
		return conf_fail(err, errlen, "%s:%d: %s", path, lineno, msg);
	return SL_OK;
}

/* Reads a whole file into a NUL-terminated buffer of text. */
static int read_text(const char *path, strbuf *b, char *err, size_t errlen)
{
	char chunk[4096];
	size_t n;
	int rc = SL_OK;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return conf_fail(err, errlen, "%s: cannot open: %s", path,
		                 strerror(errno));
	sb_add(b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b->n + n > FILE_MAX) {
			rc = conf_fail(err, errlen, "%s: larger than %d MiB", path,
			               FILE_MAX >> 20);
			goto fail;
		}
		sb_add(b, chunk, n);
	}
	if (ferror(f))
		rc = conf_fail(err, errlen, "%s: cannot read: %s", path, strerror(errno));
	else if (memchr(b->s, '\0', b->n) != NULL)
		rc = conf_fail(err, errlen, "%s: not a text file (contains a NUL byte)",
		               path);
fail:
	fclose(f);
	return rc;
}

int conf_load_file(sl_conf *c, const char *path, char *err, size_t errlen)
{
	strbuf text = {0}, line = {0};
	sl_conf *tmp = NULL;
	prop_reader r = {0};
	int lineno = 0, rc = SL_EINVAL;
	if (c == NULL || path == NULL)
		goto fail;
	if ((rc = read_text(path, &text, err, errlen)) != SL_OK)
		goto fail;
	r.p = text.s, r.end = text.s + text.n;
	if (text.n >= 3 && memcmp(text.s, "\xEF\xBB\xBF", 3) == 0)
		r.p += 3; /* UTF-8 byte order mark */
	/* Load into a scratch configuration so a bad line changes nothing. */
	tmp = conf_new(c->flags);
	while (next_logical(&r, &line, &lineno))
		if ((rc = load_line(tmp, path, lineno, line.s, err, errlen)) != SL_OK)
			goto fail;
	rc = conf_merge(c, tmp, err, errlen);
fail:
	conf_free(tmp);
	sl_free(line.s);
	sl_free(text.s);
	return rc;
}

/* The declared keys sorted by name, built once: conf_key_find runs for
 * every configuration read, also from job code (sl_task_conf, sl_conf_get)
 * that may call it per record. A static array: no allocation for the unit
 * tests' leak checks to see. */
#define CONF_KEYS_MAX 512
static const conf_key *key_index[CONF_KEYS_MAX];
static size_t key_count;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static int key_cmp(const void *a, const void *b)
{
	return strcmp((*(const conf_key *const *)a)->name,
	              (*(const conf_key *const *)b)->name);
}

static void key_index_build(void)
{
	for (const conf_key *k = conf_keys(); k->name != NULL; k++) {
		if (key_count == CONF_KEYS_MAX) { /* a build error, not input */
			fprintf(stderr,
			        "sluice: config_keys.c declares more than %d keys\n",
			        CONF_KEYS_MAX);
			abort();
		}
		key_index[key_count++] = k;
	}
	qsort(key_index, key_count, sizeof(key_index[0]), key_cmp);
}

static int name_cmp(const void *name, const void *k)
{
	return strcmp(name, (*(const conf_key *const *)k)->name);
}

const conf_key *conf_key_find(const char *name)
{
	if (name == NULL)
		return NULL;
	pthread_once(&key_once, key_index_build);
	const conf_key *const *k =
	    bsearch(name, key_index, key_count, sizeof(key_index[0]), name_cmp);
	return k ? *k : NULL;
}

/* ---- getters ----------------------------------------------------------- */

static _Noreturn void conf_abort(const char *fn, const char *key, const char *why)
{
	fprintf(stderr, "sluice: %s(\"%s\"): %s\n", fn, key ? key : "(null)", why);
	abort();
}

/* The parsed value of a declared key of type t: set, defaulted or unset. */
static conf_val conf_get(const sl_conf *c, const char *key, conf_type t, const char *fn)
{
	const conf_key *k = conf_key_find(key);
	char why[64];
	if (k == NULL)
		conf_abort(fn, key, "key is not declared in config_keys.c");
	if (k->type != t) {
		snprintf(why, sizeof(why), "key is %s, not %s", type_names[k->type],
		         type_names[t]);
		conf_abort(fn, key, why);
	}
	const conf_entry *e = conf_find(c, key);
	if (e != NULL)
		return e->v;
	conf_val v = {.i = -1};
	if (k->def == NULL) {
		if (t == CONF_DOUBLE)
			v.d = NAN;
		else if (t == CONF_BOOL)
			v.b = false;
		return v;
	}
	if (parse_typed(t, k->def, &v) != SL_OK)
		conf_abort(fn, key, "declared default does not parse");
	return v;
}

const char *conf_get_str(const sl_conf *c, const char *key)
{
	const conf_key *k = conf_key_find(key);
	if (k == NULL && (key == NULL || key_reserved(key)))
		conf_abort(__func__, key, "key is not declared in config_keys.c");
	if (k != NULL && k->type != CONF_STRING)
		conf_abort(__func__, key, "key is not a STRING");
	const conf_entry *e = conf_find(c, key);
	if (e != NULL)
		return e->value;
	return k != NULL ? k->def : NULL;
}

int64_t conf_get_int(const sl_conf *c, const char *key)
{
	return conf_get(c, key, CONF_INT, __func__).i;
}

bool conf_get_bool(const sl_conf *c, const char *key)
{
	return conf_get(c, key, CONF_BOOL, __func__).b;
}

double conf_get_double(const sl_conf *c, const char *key)
{
	return conf_get(c, key, CONF_DOUBLE, __func__).d;
}

int64_t conf_get_bytes(const sl_conf *c, const char *key)
{
	return conf_get(c, key, CONF_BYTES, __func__).i;
}

int64_t conf_get_duration_ms(const sl_conf *c, const char *key)
{
	return conf_get(c, key, CONF_DURATION, __func__).i;
}
