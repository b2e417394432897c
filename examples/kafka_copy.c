/*
 * Copies a Kafka topic into another, record for record, through the sink:
 * the job where the sink's producer does all the work, used by
 * bench/sink_settings.sh to measure the producer settings (linger.ms,
 * batch.size, compression.type) that docs/performance.md recommends.
 *
 * Configuration (sluice submit --conf k=v):
 *   copy.brokers       bootstrap servers (default 127.0.0.1:19092)
 *   copy.input         input topics, comma-separated (default "lines")
 *   copy.output        output topic (default "copy")
 *   copy.group         consumer group (default copy)
 *   copy.exactly_once  transactional sink, true (default) or false
 *   copy.sink.extra    more sink parameters "k=v;k=v" (producer settings)
 */
#include <sluice/sluice.h>

#include <stdio.h>

int sluice_job_define(sl_ctx *ctx)
{
	char src[1024], sink[1024];
	const char *brokers = sl_conf_get(ctx, "copy.brokers", "127.0.0.1:19092");
	snprintf(src, sizeof(src),
	         "bootstrap.servers=%s;group.id=%s;auto.offset.reset=earliest", brokers,
	         sl_conf_get(ctx, "copy.group", "copy"));
	snprintf(sink, sizeof(sink), "bootstrap.servers=%s;exactly_once=%s;%s", brokers,
	         sl_conf_get(ctx, "copy.exactly_once", "true"),
	         sl_conf_get(ctx, "copy.sink.extra", ""));
	sl_stream *lines =
	    sl_kafka_direct_stream(ctx, sl_conf_get(ctx, "copy.input", "lines"), src);
	sl_kafka_sink(lines, sl_conf_get(ctx, "copy.output", "copy"), sink);
	return 0;
}
