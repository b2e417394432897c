/* A job whose graph has sources and transformations but no output. */
#include <sluice/sluice.h>

int sluice_job_define(sl_ctx *ctx)
{
	sl_stream *lines = sl_socket_text_stream(ctx, "127.0.0.1", 9);
	sl_stream *words = sl_flat_map(lines, "sl_split_words");
	sl_reduce_by_key(sl_map_to_pair(words, "sl_pair_one"), "sl_sum_i64", 0);
	return 0;
}
