/*
 * NetworkWordCount: lines of text from a TCP socket, words counted per batch.
 *
 * Configuration (sluice submit --conf k=v):
 *   source.host, source.port   where to read lines from (required port)
 *   output.path                save each batch's counts under this prefix
 *   print.num                  top counts shown per batch (default 10)
 *   reduce.partitions          reducers (default: total slots)
 *
 * Each saved batch is a directory PREFIX-<batch time ms> with part files of
 * "word<TAB>count" lines, published atomically when the batch is complete.
 */
#include <sluice/sluice.h>

#include "top_counts.h"

#include <stdlib.h>

int sluice_job_define(sl_ctx *ctx)
{
	const char *host = sl_conf_get(ctx, "source.host", "127.0.0.1");
	const char *port = sl_conf_get(ctx, "source.port", NULL);
	const char *out = sl_conf_get(ctx, "output.path", NULL);
	int num = atoi(sl_conf_get(ctx, "print.num", "10"));
	int reducers = atoi(sl_conf_get(ctx, "reduce.partitions", "0"));

	if (port == NULL)
		return sl_fail(ctx, "socket_wordcount needs --conf source.port=N");
	sl_stream *lines = sl_socket_text_stream(ctx, host, atoi(port));
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
