/*
 * DirectKafkaWordCount: lines from Kafka topics -> word counts per batch ->
 * an output topic (key = word, value = count as text), exactly once.
 *
 * Configuration (sluice submit --conf k=v):
 *   wordcount.brokers      bootstrap servers (default 127.0.0.1:19092)
 *   wordcount.topics       input topics, comma-separated (default "lines")
 *   wordcount.output       output topic (default "counts")
 *   wordcount.group        consumer group for committed offsets (default wordcount)
 *   wordcount.start        auto.offset.reset: earliest (default) or latest
 *   wordcount.print        words printed per batch (default 5; 0 = no print
 *                          output, so the sink is the job's only output, as
 *                          in bench/vs_spark.sh)
 *   wordcount.source.extra / wordcount.sink.extra   more "k=v;k=v" parameters
 */
#include <sluice/sluice.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* (word, i64 count) -> (word, decimal text) for the output topic. */
int count_to_text(const sl_record *in, sl_emitter *out)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRId64,
	                 sl_i64_decode(in->value, in->value_len));
	return sl_emit(out, in->key, in->key_len, buf, (size_t)n, in->event_time_ms);
}

int sluice_job_define(sl_ctx *ctx)
{
	char src[1024], sink[1024];
	const char *brokers = sl_conf_get(ctx, "wordcount.brokers", "127.0.0.1:19092");
	snprintf(src, sizeof(src),
	         "bootstrap.servers=%s;group.id=%s;auto.offset.reset=%s;"
	         "commit.offsets=true;%s",
	         brokers, sl_conf_get(ctx, "wordcount.group", "wordcount"),
	         sl_conf_get(ctx, "wordcount.start", "earliest"),
	         sl_conf_get(ctx, "wordcount.source.extra", ""));
	snprintf(sink, sizeof(sink), "bootstrap.servers=%s;exactly_once=true;%s", brokers,
	         sl_conf_get(ctx, "wordcount.sink.extra", ""));

	sl_stream *lines = sl_kafka_direct_stream(
	    ctx, sl_conf_get(ctx, "wordcount.topics", "lines"), src);
	sl_stream *words = sl_flat_map(lines, "sl_split_words");
	sl_stream *pairs = sl_map_to_pair(words, "sl_pair_one");
	sl_stream *counts = sl_reduce_by_key(pairs, "sl_sum_i64", 0);
	sl_stream *text = sl_map(counts, "count_to_text");
	sl_kafka_sink(text, sl_conf_get(ctx, "wordcount.output", "counts"), sink);
	int print = atoi(sl_conf_get(ctx, "wordcount.print", "5"));
	if (print > 0)
		sl_print(counts, print);
	return 0;
}
