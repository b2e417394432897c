/*
 * sluice-kafka-tool: a small librdkafka client for the Kafka integration
 * tests and bench/kafka_bench.sh.
 *
 *   sluice-kafka-tool produce BOOTSTRAP TOPIC FILE [--partition N] [--timestamps]
 *       Each line of FILE ("-" = stdin) becomes one record (value = the line
 *       without its newline, no key), to partition N or spread by the default
 *       partitioner. With --timestamps each line is "MS<TAB>VALUE": the
 *       record gets timestamp MS (ms since the epoch, the event time an
 *       event-time window reads) instead of the produce time. Waits for every delivery
 * report; exits 1 if any record was not delivered. Prints "produced N records".
 *
 *   sluice-kafka-tool consume BOOTSTRAP TOPIC [--read-committed] [--timeout-ms N]
 *       Reads every partition of TOPIC from its beginning and prints
 *       "key<TAB>value" lines until the end of every partition (the last
 *       stable offset with --read-committed). Exits 1 if that end is not
 *       reached within N ms (default 60000) or on a consumer error.
 *
 *   sluice-kafka-tool rate BOOTSTRAP TOPIC [--timeout-ms N]
 *       Reads the whole topic (every partition up to its high watermark at
 *       start) with one consumer and prints
 *       "records N seconds S records/s R": the single-consumer ceiling.
 */
#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "sluice-kafka-tool";

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char msg[512];
	if (rd_kafka_conf_set(c, k, v, msg, sizeof(msg)) != RD_KAFKA_CONF_OK)
		die("config: %s", msg);
}

static rd_kafka_t *client(rd_kafka_type_t type, rd_kafka_conf_t *c)
{
	char msg[512];
	rd_kafka_t *rk = rd_kafka_new(type, c, msg, sizeof(msg));
	if (rk == NULL)
		die("%s", msg);
	return rk;
}

/* ---- produce ---- */

static long delivered, failed;
static char first_error[512];

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err) {
		if (failed++ == 0)
			snprintf(first_error, sizeof(first_error), "%s",
			         rd_kafka_err2str(m->err));
	} else {
		delivered++;
	}
}

/* A --timestamps line "MS<TAB>VALUE": *ts, and the value's start. */
static const char *split_timestamp(char *line, int64_t *ts)
{
	char *tab = strchr(line, '\t'), *end;
	if (tab == NULL)
		die("--timestamps: line '%s' has no tab after its timestamp", line);
	*tab = '\0';
	errno = 0;
	long long v = strtoll(line, &end, 10);
	if (errno || *end || end == line || v < 0)
		die("--timestamps: bad timestamp '%s'", line);
	*ts = v;
	return tab + 1;
}

static int produce(const char *bootstrap, const char *topic, const char *file,
                   int32_t partition, int timestamps)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	conf_set(c, "bootstrap.servers", bootstrap);
	conf_set(c, "enable.idempotence", "true");
	conf_set(c, "linger.ms", "20");
	/* no key: a random partition per record (not sticky), so partitions fill evenly
	 */
	conf_set(c, "sticky.partitioning.linger.ms", "0");
	conf_set(c, "batch.num.messages", "10000");
	conf_set(c, "queue.buffering.max.messages", "500000");
	conf_set(c, "message.timeout.ms", "60000");
	rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
	rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, c);

	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (f == NULL)
		die("cannot open %s", file);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long sent = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		int64_t ts = 0; /* 0: librdkafka stamps the produce time */
		const char *value = timestamps ? split_timestamp(line, &ts) : line;
		size_t vlen = (size_t)n - (size_t)(value - line);
		for (;;) {
			rd_kafka_resp_err_t e = rd_kafka_producev(
			    rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
			    RD_KAFKA_V_VALUE((void *)value, vlen),
			    RD_KAFKA_V_TIMESTAMP(ts),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
			if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
				break;
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				fprintf(stderr, "%s: producing to %s: %s\n", prog, topic,
				        rd_kafka_err2str(e));
				exit(1);
			}
			rd_kafka_poll(rk, 50);
		}
		if (++sent % 10000 == 0)
			rd_kafka_poll(rk, 0);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	/* Wait for every delivery report (bounded by message.timeout.ms). */
	rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 120000);
	int left = rd_kafka_outq_len(rk);
	rd_kafka_destroy(rk);
	if (fe != RD_KAFKA_RESP_ERR_NO_ERROR || left > 0) {
		fprintf(stderr,
		        "%s: %d records still in flight after the flush timeout\n", prog,
		        left);
		return 1;
	}
	if (failed > 0 || delivered != sent) {
		fprintf(stderr, "%s: %ld of %ld records not delivered: %s\n", prog,
		        sent - delivered, sent,
		        first_error[0] ? first_error : "no delivery report");
		return 1;
	}
	printf("produced %ld records\n", sent);
	return 0;
}

/* ---- consume / rate ---- */

/* Assigns every partition of topic from its beginning; returns the count. */
static int assign_all(rd_kafka_t *rk, const char *topic, int64_t **high)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10000);
	rd_kafka_topic_destroy(t);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("metadata: %s", rd_kafka_err2str(e));
	if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("topic %s does not exist", topic);
	int np = md->topics[0].partition_cnt;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
	*high = calloc((size_t)np, sizeof(**high));
	for (int p = 0; p < np; p++) {
		int32_t id = md->topics[0].partitions[p].id;
		int64_t lo, hi;
		if (id < 0 || id >= np)
			die("unexpected partition ids in %s", topic);
		e = rd_kafka_query_watermark_offsets(rk, topic, id, &lo, &hi, 10000);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
			die("watermarks: %s", rd_kafka_err2str(e));
		(*high)[id] = hi;
		rd_kafka_topic_partition_list_add(l, topic, id)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	}
	rd_kafka_metadata_destroy(md);
	if ((e = rd_kafka_assign(rk, l)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		die("assign: %s", rd_kafka_err2str(e));
	rd_kafka_topic_partition_list_destroy(l);
	return np;
}

static rd_kafka_t *consumer(const char *bootstrap, int read_committed)
{
	char group[64];
	snprintf(group, sizeof(group), "sluice-kafka-tool-%ld", (long)getpid());
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	conf_set(c, "bootstrap.servers", bootstrap);
	conf_set(c, "group.id", group);
	conf_set(c, "enable.auto.commit", "false");
	conf_set(c, "enable.partition.eof", "true");
	conf_set(c, "isolation.level",
	         read_committed ? "read_committed" : "read_uncommitted");
	conf_set(c, "fetch.wait.max.ms", "100");
	return client(RD_KAFKA_CONSUMER, c);
}

static void print_field(const void *p, size_t n)
{
	if (n > 0)
		fwrite(p, 1, n, stdout);
}

static int consume(const char *bootstrap, const char *topic, int read_committed,
                   long timeout_ms, int rate)
{
	rd_kafka_t *rk = consumer(bootstrap, read_committed);
	int64_t *high = NULL;
	int np = assign_all(rk, topic, &high);
	char *at_eof = calloc((size_t)np, 1);
	int eofs = 0;
	long records = 0;
	double t0 = now_s(), first = 0, last = 0, deadline = t0 + timeout_ms / 1000.0;
	int rv = 0;
	/* rate: done when every partition reached its high watermark at start. */
	if (rate)
		for (int p = 0; p < np; p++)
			if (high[p] == 0 && !at_eof[p]) {
				at_eof[p] = 1;
				eofs++;
			}
	/* Batches from the consumer queue: several times faster than one
	 * rd_kafka_consumer_poll per record, so `rate` is a real ceiling. */
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
	rd_kafka_message_t *batch[1024];
	while (eofs < np && rv == 0) {
		if (now_s() > deadline) {
			fprintf(stderr,
			        "%s: only %d of %d partitions of %s reached their end in "
			        "%ld ms "
			        "(%ld records)\n",
			        prog, eofs, np, topic, timeout_ms, records);
			rv = 1;
			break;
		}
		ssize_t got = rd_kafka_consume_batch_queue(q, 100, batch, 1024);
		for (ssize_t i = 0; i < got; i++) {
			rd_kafka_message_t *m = batch[i];
			if (rv != 0) {
				/* an error earlier in this batch: just free the rest */
			} else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				if (!rate && m->partition >= 0 && m->partition < np &&
				    !at_eof[m->partition]) {
					at_eof[m->partition] = 1;
					eofs++;
				}
			} else if (m->err) {
				fprintf(stderr, "%s: consuming %s: %s\n", prog, topic,
				        rd_kafka_message_errstr(m));
				rv = 1;
			} else {
				if (records++ == 0)
					first = now_s();
				if (rate) {
					if (m->offset + 1 >= high[m->partition] &&
					    !at_eof[m->partition]) {
						at_eof[m->partition] = 1;
						eofs++;
					}
				} else {
					print_field(m->key, m->key_len);
					putchar('\t');
					print_field(m->payload, m->len);
					putchar('\n');
				}
			}
			rd_kafka_message_destroy(m);
		}
		if (got > 0)
			last = now_s();
	}
	rd_kafka_queue_destroy(q);
	double end = now_s();
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	free(high);
	free(at_eof);
	if (rate && rv == 0) {
		double secs = end - t0;
		printf(
		    "records %ld seconds %.3f records/s %.0f (first record after %.3f s, "
		    "last at %.3f s)\n",
		    records, secs, secs > 0 ? records / secs : 0.0,
		    records ? first - t0 : 0.0, records ? last - t0 : 0.0);
	}
	fflush(stdout);
	return rv;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: %s produce BOOTSTRAP TOPIC FILE [--partition N] [--timestamps]\n"
	        "       %s consume BOOTSTRAP TOPIC [--read-committed] [--timeout-ms N]\n"
	        "       %s rate BOOTSTRAP TOPIC [--timeout-ms N]\n",
	        prog, prog, prog);
	exit(2);
}

static long num_arg(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0)
		die("bad number '%s'", s);
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		usage();
	const char *cmd = argv[1], *bootstrap = argv[2], *topic = argv[3];
	int read_committed = 0, timestamps = 0;
	long timeout_ms = 60000;
	int32_t partition = RD_KAFKA_PARTITION_UA;
	const char *file = NULL;
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--read-committed") == 0)
			read_committed = 1;
		else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
			timeout_ms = num_arg(argv[++i]);
		else if (strcmp(argv[i], "--timestamps") == 0)
			timestamps = 1;
		else if (strcmp(argv[i], "--partition") == 0 && i + 1 < argc)
			partition = (int32_t)num_arg(argv[++i]);
		else if (file == NULL && strcmp(cmd, "produce") == 0 &&
		         (argv[i][0] != '-' || argv[i][1] == '\0'))
			file = argv[i];
		else
			usage();
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (strcmp(cmd, "produce") == 0) {
		if (file == NULL)
			usage();
		return produce(bootstrap, topic, file, partition, timestamps);
	}
	if (strcmp(cmd, "consume") == 0)
		return consume(bootstrap, topic, read_committed, timeout_ms, 0);
	if (strcmp(cmd, "rate") == 0)
		return consume(bootstrap, topic, 0, timeout_ms, 1);
	usage();
	return 2;
}
