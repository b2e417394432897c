/*
 * An event-time window job (issue 11), for
 * kafka/test_kafka_event_time.py: counts per key over event-time windows
 * of a Kafka topic whose records carry explicit timestamps (the event
 * time), out of order.
 *
 *   pairs = map_to_pair(kafka topic, (value, 1)), event time = timestamp
 *   OUT/in-T    map(pairs, "KEY@TS"): each batch's input with its event time
 *   OUT/win-T   map(event_time_window(pairs, count, L, S, lateness, 2),
 *                   "KEY@END" = the key tagged with its window's end)
 *
 * The tags make each input record and each (window, key) result a line of
 * its own in the saved batch, so the test knows which batch every record
 * fell in (the watermark depends on it) and checks every window is emitted
 * once.
 *
 * Configuration: source.brokers, source.topic, source.group, output.path,
 * win.length_ms, win.slide_ms, win.lateness_ms, source.params (more
 * librdkafka properties, ";"-separated).
 */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>

/* (key, v) -> ("KEY@" + the record's event time, v). */
static int tag(const sl_record *in, int64_t t, sl_emitter *out)
{
	char key[512];
	int n = snprintf(key, sizeof(key), "%.*s@%lld", (int)in->key_len,
	                 (const char *)in->key, (long long)t);
	if (n < 0 || (size_t)n >= sizeof(key))
		return -1;
	return sl_emit(out, key, (size_t)n, in->value, in->value_len, in->event_time_ms);
}

int tag_time(const sl_record *in, sl_emitter *out)
{
	return tag(in, in->event_time_ms, out);
}

/* (key, count) with event time END - 1 -> ("KEY@END", count). */
int tag_window(const sl_record *in, sl_emitter *out)
{
	return tag(in, in->event_time_ms + 1, out);
}

static void save(sl_ctx *ctx, sl_stream *s, const char *name)
{
	char prefix[1024];
	snprintf(prefix, sizeof(prefix), "%s/%s", sl_conf_get(ctx, "output.path", "out"),
	         name);
	sl_save_as_text_files(sl_with_value_format(s, SL_FORMAT_I64), prefix, NULL);
}

int sluice_job_define(sl_ctx *ctx)
{
	char params[1024];
	const char *extra = sl_conf_get(ctx, "source.params", "");
	snprintf(params, sizeof(params),
	         "bootstrap.servers=%s;auto.offset.reset=earliest;group.id=%s%s%s",
	         sl_conf_get(ctx, "source.brokers", "127.0.0.1:9092"),
	         sl_conf_get(ctx, "source.group", "evtime"), extra[0] ? ";" : "", extra);
	sl_stream *src = sl_kafka_direct_stream(
	    ctx, sl_conf_get(ctx, "source.topic", "events"), params);
	sl_stream *pairs = sl_map_to_pair(src, "sl_pair_one");
	save(ctx, sl_map(pairs, "tag_time"), "in");
	sl_stream *w = sl_event_time_window(
	    pairs, NULL, atoll(sl_conf_get(ctx, "win.length_ms", "1000")),
	    atoll(sl_conf_get(ctx, "win.slide_ms", "1000")),
	    atoll(sl_conf_get(ctx, "win.lateness_ms", "0")), 2);
	save(ctx, sl_map(w, "tag_window"), "win");
	return 0;
}
