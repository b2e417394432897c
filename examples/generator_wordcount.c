/*
 * Word count over the built-in generator source: the demo and benchmark job.
 *
 * Configuration (sluice submit --conf k=v):
 *   gen.rate        records per second (default 100000)
 *   gen.partitions  generator tasks per batch (default 4)
 *   output.path     also save every batch under this prefix (optional)
 *   print.num       top words shown per batch (default 10)
 */
#include <sluice/sluice.h>

#include "top_counts.h"

#include <stdlib.h>

int sluice_job_define(sl_ctx *ctx)
{
	long long rate = atoll(sl_conf_get(ctx, "gen.rate", "100000"));
	int parts = atoi(sl_conf_get(ctx, "gen.partitions", "4"));
	int num = atoi(sl_conf_get(ctx, "print.num", "10"));
	const char *out = sl_conf_get(ctx, "output.path", NULL);

	sl_stream *lines = sl_generator_stream(ctx, "sl_gen_lines", rate, parts);
	sl_stream *words = sl_flat_map(lines, "sl_split_words");
	sl_stream *pairs = sl_map_to_pair(words, "sl_pair_one");
	sl_stream *counts = sl_reduce_by_key(pairs, "sl_sum_i64", 0);
	/* print the top words, largest count first */
	sl_print(sl_with_value_format(sl_transform(counts, "top_counts"), SL_FORMAT_I64),
	         num);
	if (out != NULL)
		sl_save_as_text_files(counts, out, NULL);
	return 0;
}
