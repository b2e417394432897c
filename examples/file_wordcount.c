/*
 * File word count: text files dropped into a directory, words counted per
 * batch. Each file is taken whole by exactly one batch, so running it over a
 * known set of files gives exact totals: the cluster launch test and the
 * package check use it, and it is the smallest job to try a cluster with.
 *
 * Configuration (sluice submit --conf k=v):
 *   input.dir          directory watched for new files (required); write a
 *                      file elsewhere and rename it in, so it appears whole
 *   output.path        save each batch's counts under this prefix (optional)
 *   print.num          top counts shown per batch (default 10)
 *   reduce.partitions  reducers (default: total slots)
 *
 * Each saved batch is a directory PREFIX-<batch time ms> with part files of
 * "word<TAB>count" lines, published atomically when the batch is complete.
 */
#include <sluice/sluice.h>

#include "top_counts.h"

#include <stdlib.h>

int sluice_job_define(sl_ctx *ctx)
{
	const char *dir = sl_conf_get(ctx, "input.dir", NULL);
	const char *out = sl_conf_get(ctx, "output.path", NULL);
	int num = atoi(sl_conf_get(ctx, "print.num", "10"));
	int reducers = atoi(sl_conf_get(ctx, "reduce.partitions", "0"));

	if (dir == NULL)
		return sl_fail(ctx, "file_wordcount needs --conf input.dir=DIR");
	sl_stream *lines = sl_text_file_stream(ctx, dir);
	sl_stream *words = sl_flat_map(lines, "sl_split_words");
	sl_stream *pairs = sl_map_to_pair(words, "sl_pair_one");
	sl_stream *counts = sl_reduce_by_key(pairs, "sl_sum_i64", reducers);
	/* print the top words, largest count first */
	sl_print(sl_with_value_format(sl_transform(counts, "top_counts"), SL_FORMAT_I64),
	         num);
	if (out != NULL)
		sl_save_as_text_files(counts, out, NULL);
	return 0;
}
