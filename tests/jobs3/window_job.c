/*
 * A job with batch-time windows (issue 11), for
 * tests/integration/test_windows.py: word counts of a socket stream per
 * batch and over windows of 3 and 5 batches sliding by 1 and 2, each saved,
 * so the test can check every window against the batches it covers.
 *
 *   pairs = map_to_pair(flat_map(socket lines, split words), (word, 1))
 *   OUT/batch-T  reduce_by_key(pairs, sum)                 each batch alone
 *   OUT/r3s1-T   reduce_by_key_and_window(pairs, sum, 3 x I, 1 x I)
 *   OUT/r5s2-T   reduce_by_key_and_window(pairs, sum, 5 x I, 2 x I)
 *   OUT/w3s1-T   reduce_by_key(window(pairs, 3 x I, 1 x I), sum)
 *   OUT/w5s2-T   reduce_by_key(window(pairs, 5 x I, 2 x I), sum)
 *
 * With window.inverse=1 (test_windows_inverse.py), also the incremental
 * form (inverse sl_sub_i64), which makes the job stateful:
 *   OUT/i3s1-T, OUT/i5s2-T   without a filter (keys back at 0 stay)
 *   OUT/f3s1-T, OUT/f5s2-T   filter sl_nonzero_i64 (keys at 0 dropped)
 *
 * Configuration: source.port, output.path (prefix directory), window.unit_ms
 * (I: the job's batch interval), window.inverse.
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
	const char *dir = sl_conf_get(ctx, "output.path", "/tmp/sluice-windows");
	int64_t i = atoll(sl_conf_get(ctx, "window.unit_ms", "1000"));
	sl_stream *lines = sl_socket_text_stream(ctx, "127.0.0.1", port);
	sl_stream *pairs =
	    sl_map_to_pair(sl_flat_map(lines, "sl_split_words"), "sl_pair_one");
	save(sl_reduce_by_key(pairs, "sl_sum_i64", 2), dir, "batch");
	save(sl_reduce_by_key_and_window(pairs, "sl_sum_i64", NULL, NULL, 3 * i, i, 2),
	     dir, "r3s1");
	save(
	    sl_reduce_by_key_and_window(pairs, "sl_sum_i64", NULL, NULL, 5 * i, 2 * i, 2),
	    dir, "r5s2");
	save(sl_reduce_by_key(sl_window(pairs, 3 * i, i), "sl_sum_i64", 2), dir, "w3s1");
	save(sl_reduce_by_key(sl_window(pairs, 5 * i, 2 * i), "sl_sum_i64", 3), dir,
	     "w5s2");
	if (atoi(sl_conf_get(ctx, "window.inverse", "0")) == 0)
		return 0;
	static const char *const filters[] = {NULL, "sl_nonzero_i64"};
	for (int f = 0; f < 2; f++) {
		char name[8];
		snprintf(name, sizeof(name), "%c3s1", f ? 'f' : 'i');
		save(sl_reduce_by_key_and_window(pairs, "sl_sum_i64", "sl_sub_i64",
		                                 filters[f], 3 * i, i, 2),
		     dir, name);
		snprintf(name, sizeof(name), "%c5s2", f ? 'f' : 'i');
		save(sl_reduce_by_key_and_window(pairs, "sl_sum_i64", "sl_sub_i64",
		                                 filters[f], 5 * i, 2 * i, 3),
		     dir, name);
	}
	return 0;
}
