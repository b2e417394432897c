/*
 * Joins of two keyed streams (issue 11), for tests/integration/test_joins.py
 * (socket sources), test_window_joins.py, test_shared_joins.py and
 * kafka/test_kafka_joins.py (Kafka direct streams): each side saved as it
 * is, so the test knows every record's batch, and each join saved, so the
 * test can check it against a join of the saved sides computed in Python.
 *
 *   left  = map_to_pair(source of the left side, "KEY VALUE" -> (KEY, VALUE))
 *   right = the same for the right side
 *   OUT/left-T, OUT/right-T   each side as it is: "KEY<TAB>VALUE" lines
 *
 * join.mode=plain (default), the joins of the same batch:
 *   OUT/join-T   join(left, right, 2)              KEY<TAB>[a,b]
 *   OUT/lo-T     left_outer_join(left, right, 3)   KEY<TAB>[a,null] too
 *   OUT/ro-T     right_outer_join(left, right, 0)  KEY<TAB>[null,b] too
 *   OUT/fo-T     full_outer_join(left, right, 2)   both kinds of null
 *   OUT/cg-T     cogroup(left, right, 3)           KEY<TAB>[[a,..],[b,..]]
 * join.mode=window, windowed streams (window.ms, slide.ms):
 *   OUT/wjoin-T  join(window(left), window(right), 2)
 *   OUT/wfo-T    full_outer_join(window(left), right, 3)   (a window and a
 *                plain stream: output every slide)
 *   OUT/wcg-T    cogroup(window(left), window(right), 0)
 *   OUT/swfo-T   full_outer_join(rl, rr, 0) of rl, rr =
 *                reduce_by_key_and_window(left/right, join_concat, 3):
 *                partitioned alike, so read without a reshuffle
 * join.mode=shared, joins of reduce_by_key outputs (join.partitions each;
 * reduce "join_concat" here and above: the key's values sorted, joined by
 * '+'):
 *   OUT/rl-T, OUT/rr-T  the two reduced sides
 *   OUT/sjoin-T  join(rl, rr, join.partitions)     co-partitioned: no reshuffle
 *   OUT/sfo-T    full_outer_join(rl, rr, 0)         0: takes the sides' count
 *   join.reshuffle=1 joins with join.partitions + 1 instead (a reshuffle).
 *
 * Sources: with source.brokers set, Kafka direct streams of left.topic and
 * right.topic read from the earliest offset (source.params: more
 * "k=v;..." source parameters); else socket text streams on left.port and
 * right.port. output.path: the prefix directory.
 */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* map_to_pair: "KEY VALUE" -> (KEY, VALUE); a line without a space is
 * dropped. */
int join_kv(const sl_record *in, sl_emitter *out)
{
	const uint8_t *sp =
	    in->value_len > 0 ? memchr(in->value, ' ', in->value_len) : NULL;
	if (sp == NULL)
		return 0;
	size_t klen = (size_t)(sp - in->value);
	return sl_emit(out, in->value, klen, sp + 1, in->value_len - klen - 1,
	               in->event_time_ms);
}

static int cmp_token(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* reduce: the '+'-separated tokens of a and b, sorted, so the result does
 * not depend on the order the values meet in. Returns 1 when out of memory. */
int join_concat(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                sl_value *out)
{
	size_t n = (size_t)alen + blen + 2;
	char *s = malloc(n), *res = malloc(n);
	char **tok = malloc(n * sizeof(*tok));
	if (s == NULL || res == NULL || tok == NULL) {
		free(s);
		free(res);
		free(tok);
		return 1;
	}
	snprintf(s, n, "%.*s+%.*s", (int)alen, (const char *)a, (int)blen,
	         (const char *)b);
	size_t nt = 0, len = 0;
	for (char *save = NULL, *t = strtok_r(s, "+", &save); t != NULL;
	     t = strtok_r(NULL, "+", &save))
		tok[nt++] = t;
	qsort(tok, nt, sizeof(*tok), cmp_token);
	for (size_t i = 0; i < nt; i++)
		len += (size_t)snprintf(res + len, n - len, "%s%s", i ? "+" : "", tok[i]);
	sl_value_set(out, res, len);
	free(s);
	free(res);
	free(tok);
	return 0;
}

static void save(sl_stream *s, const char *dir, const char *name)
{
	char prefix[1024];
	snprintf(prefix, sizeof(prefix), "%s/%s", dir, name);
	sl_save_as_text_files(s, prefix, NULL);
}

/* One side's keyed stream: Kafka topic SIDE.topic, or socket SIDE.port. */
static sl_stream *side(sl_ctx *ctx, const char *name)
{
	char key[64];
	sl_stream *src;
	const char *brokers = sl_conf_get(ctx, "source.brokers", NULL);
	if (brokers != NULL) {
		char params[1024];
		snprintf(
		    params, sizeof(params),
		    "bootstrap.servers=%s;auto.offset.reset=earliest;group.id=%s-%s%s%s",
		    brokers, sl_conf_get(ctx, "source.group", "joins"), name,
		    sl_conf_get(ctx, "source.params", "")[0] ? ";" : "",
		    sl_conf_get(ctx, "source.params", ""));
		snprintf(key, sizeof(key), "%s.topic", name);
		src = sl_kafka_direct_stream(ctx, sl_conf_get(ctx, key, name), params);
	} else {
		snprintf(key, sizeof(key), "%s.port", name);
		src = sl_socket_text_stream(ctx, "127.0.0.1",
		                            atoi(sl_conf_get(ctx, key, "0")));
	}
	return sl_map_to_pair(src, "join_kv");
}

static void plain_joins(sl_stream *l, sl_stream *r, const char *dir)
{
	save(sl_join(l, r, 2), dir, "join");
	save(sl_left_outer_join(l, r, 3), dir, "lo");
	save(sl_right_outer_join(l, r, 0), dir, "ro");
	save(sl_full_outer_join(l, r, 2), dir, "fo");
	save(sl_cogroup(l, r, 3), dir, "cg");
}

static void window_joins(sl_ctx *ctx, sl_stream *l, sl_stream *r, const char *dir)
{
	int64_t len = atoll(sl_conf_get(ctx, "window.ms", "1500"));
	int64_t slide = atoll(sl_conf_get(ctx, "slide.ms", "500"));
	sl_stream *lw = sl_window(l, len, slide), *rw = sl_window(r, len, slide);
	save(sl_join(lw, rw, 2), dir, "wjoin");
	save(sl_full_outer_join(lw, r, 3), dir, "wfo");
	save(sl_cogroup(lw, rw, 0), dir, "wcg");
	sl_stream *rl =
	    sl_reduce_by_key_and_window(l, "join_concat", NULL, NULL, len, slide, 3);
	sl_stream *rr =
	    sl_reduce_by_key_and_window(r, "join_concat", NULL, NULL, len, slide, 3);
	save(sl_full_outer_join(rl, rr, 0), dir, "swfo");
}

static void shared_joins(sl_ctx *ctx, sl_stream *l, sl_stream *r, const char *dir)
{
	int parts = atoi(sl_conf_get(ctx, "join.partitions", "3"));
	int jparts = parts + (atoi(sl_conf_get(ctx, "join.reshuffle", "0")) ? 1 : 0);
	sl_stream *rl = sl_reduce_by_key(l, "join_concat", parts);
	sl_stream *rr = sl_reduce_by_key(r, "join_concat", parts);
	save(rl, dir, "rl");
	save(rr, dir, "rr");
	save(sl_join(rl, rr, jparts), dir, "sjoin");
	save(sl_full_outer_join(rl, rr, jparts == parts ? 0 : jparts), dir, "sfo");
}

int sluice_job_define(sl_ctx *ctx)
{
	const char *dir = sl_conf_get(ctx, "output.path", "/tmp/sluice-joins");
	const char *mode = sl_conf_get(ctx, "join.mode", "plain");
	sl_stream *l = side(ctx, "left"), *r = side(ctx, "right");
	save(l, dir, "left");
	save(r, dir, "right");
	if (strcmp(mode, "plain") == 0)
		plain_joins(l, r, dir);
	else if (strcmp(mode, "window") == 0)
		window_joins(ctx, l, r, dir);
	else if (strcmp(mode, "shared") == 0)
		shared_joins(ctx, l, r, dir);
	else
		return sl_fail(ctx, "join.mode must be plain, window or shared, not '%s'",
		               mode);
	return 0;
}
