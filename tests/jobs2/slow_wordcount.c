/*
 * slow_wordcount: socket_wordcount with a deliberately slow word splitter,
 * for tests that need batches to queue up behind the one being processed.
 *
 * Configuration (sluice submit --conf k=v):
 *   source.host, source.port   where to read lines from (required port)
 *   output.path                save each batch's counts under this prefix
 *                              (required)
 *   slow.line_ms               milliseconds slept per input line before it
 *                              is split (default 20), read on the worker
 *                              with sl_task_conf
 *   reduce.partitions          reducers (default: total slots)
 *
 * Output: PREFIX-<batch time ms>/part-* files of "word<TAB>count" lines.
 */
#include <sluice/sluice.h>

#include <stdlib.h>
#include <time.h>

int slow_split_words(const sl_record *in, sl_emitter *out)
{
	const char *ms = sl_task_conf("slow.line_ms");
	long delay = ms != NULL ? atol(ms) : 20;
	if (delay > 0) {
		struct timespec ts = {.tv_sec = delay / 1000,
		                      .tv_nsec = (delay % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) != 0)
			;
	}
	uint32_t i = 0, n = in->value_len;
	const uint8_t *v = in->value;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		uint32_t start = i;
		while (i < n && v[i] != ' ' && v[i] != '\t')
			i++;
		if (i > start &&
		    sl_emit(out, NULL, 0, v + start, i - start, in->event_time_ms) != 0)
			return -1;
	}
	return 0;
}

int sluice_job_define(sl_ctx *ctx)
{
	const char *host = sl_conf_get(ctx, "source.host", "127.0.0.1");
	const char *port = sl_conf_get(ctx, "source.port", NULL);
	const char *out = sl_conf_get(ctx, "output.path", NULL);
	int reducers = atoi(sl_conf_get(ctx, "reduce.partitions", "0"));

	if (port == NULL || out == NULL)
		return sl_fail(
		    ctx, "slow_wordcount needs --conf source.port=N and output.path=P");
	sl_stream *lines = sl_socket_text_stream(ctx, host, atoi(port));
	sl_stream *words = sl_flat_map(lines, "slow_split_words");
	sl_stream *pairs = sl_map_to_pair(words, "sl_pair_one");
	sl_stream *counts = sl_reduce_by_key(pairs, "sl_sum_i64", reducers);
	sl_save_as_text_files(counts, out, NULL);
	return 0;
}
