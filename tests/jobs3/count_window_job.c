/*
 * A job with the windowed counts (issue 11), for
 * tests/integration/test_count_windows.py: the words of a socket stream
 * counted per batch and over windows of 3 and 5 batches sliding by 1 and 2,
 * each saved, so the test can check every window against the batches it
 * covers.
 *
 *   words = flat_map(socket lines, split words)    (value-only records)
 *   OUT/batch-T  reduce_by_key(map_to_pair(words, (word, 1)), sum)  each batch
 *   OUT/c3s1-T   count_by_window(words, 3 x I, 1 x I)        one number
 *   OUT/c5s2-T   count_by_window(words, 5 x I, 2 x I)
 *   OUT/v3s1-T   count_by_value_and_window(words, 3 x I, 1 x I)  word, count
 *   OUT/v5s2-T   count_by_value_and_window(words, 5 x I, 2 x I)
 *
 * Configuration: source.port, output.path (prefix directory), window.unit_ms
 * (I: the job's batch interval).
 */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>

static void save(sl_stream *s, const char *dir, const char *name)
{
	char prefix[1024];
	snprintf(prefix, sizeof(prefix), "%s/%s", dir, name);
	sl_save_as_text_files(s, prefix, NULL);
}

int sluice_job_define(sl_ctx *ctx)
{
	int port = atoi(sl_conf_get(ctx, "source.port", "9999"));
	const char *dir = sl_conf_get(ctx, "output.path", "/tmp/sluice-count-windows");
	int64_t i = atoll(sl_conf_get(ctx, "window.unit_ms", "1000"));
	sl_stream *lines = sl_socket_text_stream(ctx, "127.0.0.1", port);
	sl_stream *words = sl_flat_map(lines, "sl_split_words");
	save(sl_reduce_by_key(sl_map_to_pair(words, "sl_pair_one"), "sl_sum_i64", 2), dir,
	     "batch");
	save(sl_count_by_window(words, 3 * i, i), dir, "c3s1");
	save(sl_count_by_window(words, 5 * i, 2 * i), dir, "c5s2");
	save(sl_count_by_value_and_window(words, 3 * i, i, 2), dir, "v3s1");
	save(sl_count_by_value_and_window(words, 5 * i, 2 * i, 3), dir, "v5s2");
	return 0;
}
