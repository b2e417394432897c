/*
 * A job that runs every operator on the lines of a text_file_stream, with
 * outputs from which a test can check each operator independently
 * (tests/integration/test_operators.py):
 *
 *   lines  = text_file_stream(input.dir)             one partition a file
 *   kept   = filter(map(lines, upper), not '#...')   upper-cased, comments out
 *   words  = flat_map(kept, split on ' ' and '\t')
 *   tags   = map(filter(lines, '#...'), "#COMMENT#") one tag per comment line
 *   all    = union(words, tags)                      words' partitions, then tags'
 *
 *   OUT/words-T   all as it is (narrow: one part file per union partition)
 *   pairs  = map_to_pair(all, (value, no value))     NULL value pointers
 *   OUT/pairs-T   pairs as it is: "KEY<TAB>" lines
 *   OUT/counts-T  count_by_key(pairs, 3)
 *   OUT/groups-T  group_by_key(map_to_pair(words, (first byte, word)), 2)
 *   OUT/lines-T   repartition(kept, 3)
 *   OUT/total-T   transform(all): ("BATCH", T) and ("RECORDS", n), as i64
 *   OUT/again-T   a second text_file_stream on input.dir, as it is
 *   OUT/second-T  a text_file_stream on input2.dir (when set), as it is
 *   foreach_partition(lines): FOREACH_DIR/<T>-<partition> holds one line
 *                 "<T> <partition> <records>", written via a temporary file
 *                 and a rename, so a re-run task rewrites the same content.
 *
 * The transform and foreach functions also check that sl_task_batch_time()
 * and sl_task_partition() agree with their arguments (else fail the task).
 *
 * Configuration: input.dir, output.path (prefix directory), foreach.dir;
 * input2.dir (optional).
 */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* map: ASCII letters upper-cased, other bytes as they are. */
int ops_upper(const sl_record *in, sl_emitter *out)
{
	uint8_t *buf = malloc(in->value_len ? in->value_len : 1);
	if (buf == NULL)
		return -1;
	for (uint32_t i = 0; i < in->value_len; i++) {
		uint8_t c = in->value[i];
		buf[i] = c >= 'a' && c <= 'z' ? (uint8_t)(c - 'a' + 'A') : c;
	}
	int rv =
	    sl_emit(out, in->key, in->key_len, buf, in->value_len, in->event_time_ms);
	free(buf);
	return rv;
}

static int is_comment(const sl_record *in)
{
	return in->value_len > 0 && in->value[0] == '#';
}

/* filter: keeps lines that do not start with '#'. */
int ops_not_comment(const sl_record *in)
{
	return !is_comment(in);
}

/* filter: keeps lines that start with '#'. */
int ops_is_comment(const sl_record *in)
{
	return is_comment(in);
}

/* flat_map: the words of a line, separated by spaces and tabs. */
int ops_split(const sl_record *in, sl_emitter *out)
{
	uint32_t i = 0, n = in->value_len;
	while (i < n) {
		while (i < n && (in->value[i] == ' ' || in->value[i] == '\t'))
			i++;
		uint32_t w = i;
		while (i < n && in->value[i] != ' ' && in->value[i] != '\t')
			i++;
		if (i > w &&
		    sl_emit(out, NULL, 0, in->value + w, i - w, in->event_time_ms) != 0)
			return -1;
	}
	return 0;
}

/* map: a comment line becomes the tag "#COMMENT#". */
int ops_comment_tag(const sl_record *in, sl_emitter *out)
{
	(void)in;
	return sl_emit_value(out, "#COMMENT#", 9);
}

/* map_to_pair: (value, no value): count_by_key only needs the key. */
int ops_pair_word(const sl_record *in, sl_emitter *out)
{
	return sl_emit(out, in->value, in->value_len, NULL, 0, in->event_time_ms);
}

/* map_to_pair: (first byte of the word, word). */
int ops_pair_initial(const sl_record *in, sl_emitter *out)
{
	if (in->value_len == 0)
		return -1;
	return sl_emit(out, in->value, 1, in->value, in->value_len, in->event_time_ms);
}

/* transform: the batch time and the number of records of the batch. */
int ops_count(int64_t batch_time_ms, sl_iter *in, sl_emitter *out)
{
	sl_record r;
	int64_t n = 0;
	uint8_t v[8];
	if (batch_time_ms != sl_task_batch_time())
		return -2;
	while (sl_iter_next(in, &r))
		n++;
	sl_i64_encode(batch_time_ms, v);
	if (sl_emit(out, "BATCH", 5, v, 8, batch_time_ms) != 0)
		return -1;
	sl_i64_encode(n, v);
	return sl_emit(out, "RECORDS", 7, v, 8, batch_time_ms) == 0 ? 0 : -1;
}

/* foreach_partition: FOREACH_DIR/<batch>-<partition> = "<batch> <partition>
 * <records>\n", published by rename (idempotent for re-runs). */
int ops_store(int64_t batch_time_ms, int partition, sl_iter *records)
{
	const char *dir = sl_task_conf("foreach.dir");
	char tmp[4096], fin[4096];
	sl_record r;
	long long n = 0;
	if (dir == NULL)
		return -1;
	if (batch_time_ms != sl_task_batch_time() || partition != sl_task_partition())
		return -2;
	while (sl_iter_next(records, &r))
		n++;
	snprintf(fin, sizeof(fin), "%s/%lld-%d", dir, (long long)batch_time_ms,
	         partition);
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%lld-%d-%d-%d", dir, (long long)batch_time_ms,
	         partition, (int)getpid(), sl_task_attempt());
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -3;
	int ok = fprintf(f, "%lld %d %lld\n", (long long)batch_time_ms, partition, n) > 0;
	ok &= fclose(f) == 0;
	if (!ok || rename(tmp, fin) != 0) {
		unlink(tmp);
		return -4;
	}
	return 0;
}

int sluice_job_define(sl_ctx *ctx)
{
	const char *in = sl_conf_get(ctx, "input.dir", NULL);
	const char *out = sl_conf_get(ctx, "output.path", NULL);
	char path[4096];
	if (in == NULL || out == NULL || sl_conf_get(ctx, "foreach.dir", NULL) == NULL)
		return sl_fail(ctx,
		               "ops_job needs input.dir, output.path and foreach.dir");

	sl_stream *lines = sl_named(sl_text_file_stream(ctx, in), "lines");
	sl_stream *kept = sl_filter(sl_map(lines, "ops_upper"), "ops_not_comment");
	sl_stream *words = sl_flat_map(kept, "ops_split");
	sl_stream *tags = sl_map(sl_filter(lines, "ops_is_comment"), "ops_comment_tag");
	sl_stream *all = sl_named(sl_union(words, tags), "all");

	snprintf(path, sizeof(path), "%s/words", out);
	sl_save_as_text_files(all, path, NULL);
	sl_stream *pairs = sl_map_to_pair(all, "ops_pair_word");
	snprintf(path, sizeof(path), "%s/pairs", out);
	sl_save_as_text_files(pairs, path, NULL);
	snprintf(path, sizeof(path), "%s/counts", out);
	sl_save_as_text_files(sl_count_by_key(pairs, 3), path, NULL);
	snprintf(path, sizeof(path), "%s/groups", out);
	sl_save_as_text_files(
	    sl_group_by_key(sl_map_to_pair(words, "ops_pair_initial"), 2), path, NULL);
	snprintf(path, sizeof(path), "%s/lines", out);
	sl_save_as_text_files(sl_repartition(kept, 3), path, NULL);
	snprintf(path, sizeof(path), "%s/total", out);
	sl_save_as_text_files(
	    sl_with_value_format(sl_transform(all, "ops_count"), SL_FORMAT_I64), path,
	    NULL);
	sl_foreach_partition(lines, "ops_store");
	/* more file streams: each takes the new files of its own directory */
	snprintf(path, sizeof(path), "%s/again", out);
	sl_save_as_text_files(sl_text_file_stream(ctx, in), path, NULL);
	const char *in2 = sl_conf_get(ctx, "input2.dir", NULL);
	if (in2 != NULL) {
		snprintf(path, sizeof(path), "%s/second", out);
		sl_save_as_text_files(sl_text_file_stream(ctx, in2), path, NULL);
	}
	return 0;
}
