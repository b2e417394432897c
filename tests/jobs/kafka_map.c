/*
 * kafka_map: Kafka -> map -> exactly-once Kafka sink, record for record.
 * The chaos test (tests/integration/kafka/test_kafka_chaos.py) feeds it
 * distinct records and checks the output is exactly the mapped input set.
 *
 * Configuration (sluice submit --conf k=v):
 *   map.brokers   bootstrap servers (required)
 *   map.input     input topic (required)
 *   map.output    output topic (required)
 *   map.group     consumer group (default: the job's)
 */
#include <sluice/sluice.h>

#include <stdio.h>
#include <string.h>

/* value v -> key v, value "m:" v */
int chaos_map(const sl_record *in, sl_emitter *out)
{
	char buf[512];
	if (in->value_len + 2 > sizeof(buf))
		return -1;
	memcpy(buf, "m:", 2);
	memcpy(buf + 2, in->value, in->value_len);
	return sl_emit(out, in->value, in->value_len, buf, in->value_len + 2,
	               in->event_time_ms);
}

int sluice_job_define(sl_ctx *ctx)
{
	char src[1024], sink[512];
	const char *brokers = sl_conf_get(ctx, "map.brokers", NULL);
	const char *input = sl_conf_get(ctx, "map.input", NULL);
	const char *output = sl_conf_get(ctx, "map.output", NULL);
	if (brokers == NULL || input == NULL || output == NULL)
		return sl_fail(ctx,
		               "kafka_map needs map.brokers, map.input and map.output");
	snprintf(src, sizeof(src),
	         "bootstrap.servers=%s;group.id=%s;auto.offset.reset=earliest;"
	         "commit.offsets=true",
	         brokers, sl_conf_get(ctx, "map.group", "kafka-map"));
	snprintf(sink, sizeof(sink), "bootstrap.servers=%s;exactly_once=true", brokers);
	sl_stream *in = sl_kafka_direct_stream(ctx, input, src);
	sl_kafka_sink(sl_map(in, "chaos_map"), output, sink);
	return 0;
}
