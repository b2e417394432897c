/*
 * libFuzzer target for the job messages (SPEC §11): the input is unpacked
 * as every request and reply schema of proto/job.proto, and when it is a JobGraph or a
 * SubmitJob, the master's checks run on it (graph_validate, which also
 * checks Kafka parameters by building librdkafka configurations, and
 * graph_check_symbols with a resolver that knows nothing); a SubmitJob's
 * configuration is applied as the master applies it (conf_set of every
 * entry on a job configuration, then the typed getters it reads). Everything
 * is freed; the allocation counter must return to its start.
 */
#include "alloc.h"
#include "api.h"
#include "config.h"
#include "sluice/err.h"
#include "job.pb-c.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every request and reply schema of job.proto (the payloads of message
 * types 30-73). */
static const ProtobufCMessageDescriptor *const schemas[] = {
    &sluice__job_graph__descriptor,           &sluice__submit_job__descriptor,
    &sluice__submit_job_reply__descriptor,    &sluice__list_jobs__descriptor,
    &sluice__list_jobs_reply__descriptor,     &sluice__job_control__descriptor,
    &sluice__job_control_reply__descriptor,   &sluice__batch_stats__descriptor,
    &sluice__batch_stats_reply__descriptor,   &sluice__fetch_library__descriptor,
    &sluice__fetch_library_reply__descriptor, &sluice__task_spec__descriptor,
    &sluice__launch_task__descriptor,         &sluice__launch_task_reply__descriptor,
    &sluice__task_status__descriptor,         &sluice__task_status_reply__descriptor,
    &sluice__start_receiver__descriptor,      &sluice__start_receiver_reply__descriptor,
    &sluice__stop_receiver__descriptor,       &sluice__stop_receiver_reply__descriptor,
    &sluice__add_block__descriptor,           &sluice__add_block_reply__descriptor,
    &sluice__remove_blocks__descriptor,       &sluice__remove_blocks_reply__descriptor,
    &sluice__fetch_block__descriptor,         &sluice__fetch_block_reply__descriptor,
    &sluice__put_block__descriptor,           &sluice__put_block_reply__descriptor,
};

static int resolve_none(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return -1;
}

static void check_graph(const Sluice__JobGraph *g)
{
	char err[512];
	if (graph_validate(g, err, sizeof(err)) == SL_OK)
		graph_check_symbols(g, resolve_none, NULL, err, sizeof(err));
}

/* What master/jobs.c does with a submitted configuration. */
static void apply_conf(const Sluice__SubmitJob *s)
{
	char err[512];
	sl_conf *c = conf_new(CONF_APP_KEYS);
	for (size_t i = 0; i < s->n_conf; i++)
		if (conf_set(c, s->conf[i]->key, s->conf[i]->value, err, sizeof(err)) !=
		    SL_OK)
			break;
	conf_get_int(c, "spark.task.maxFailures");
	conf_get_int(c, "spark.streaming.receiver.maxRate");
	conf_get_duration_ms(c, "spark.streaming.blockInterval");
	conf_get_bool(c, "spark.streaming.receiver.writeAheadLog.enable");
	conf_get_bytes(c, "sluice.rpc.maxMessageSize");
	conf_get_str(c, "sluice.storage.level");
	conf_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t live = alloc_live();
	for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
		ProtobufCMessage *m =
		    protobuf_c_message_unpack(schemas[i], NULL, size, data);
		if (m == NULL)
			continue;
		if (schemas[i] == &sluice__job_graph__descriptor)
			check_graph((const Sluice__JobGraph *)m);
		else if (schemas[i] == &sluice__submit_job__descriptor) {
			const Sluice__SubmitJob *s = (const Sluice__SubmitJob *)m;
			if (s->graph != NULL)
				check_graph(s->graph);
			apply_conf(s);
		}
		protobuf_c_message_free_unpacked(m, NULL);
	}
	if (alloc_live() != live) {
		fprintf(stderr, "allocation counter moved: %lld -> %lld\n",
		        (long long)live, (long long)alloc_live());
		abort();
	}
	return 0;
}
