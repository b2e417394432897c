/*
 * libFuzzer target for the job messages (SPEC §11): the input is unpacked
 * as every schema of proto/job.proto, and when it is a JobGraph or a
 * SubmitJob, the master's checks run on it (graph_validate, which also
 * checks Kafka parameters by building librdkafka configurations, and
 * graph_check_symbols with a resolver that knows nothing). Everything is
 * freed; the allocation counter must return to its start.
 */
#include "alloc.h"
#include "api.h"
#include "sluice/err.h"
#include "job.pb-c.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const schemas[] = {
    &sluice__job_graph__descriptor,         &sluice__submit_job__descriptor,
    &sluice__task_spec__descriptor,         &sluice__launch_task__descriptor,
    &sluice__task_status__descriptor,       &sluice__start_receiver__descriptor,
    &sluice__add_block__descriptor,         &sluice__remove_blocks__descriptor,
    &sluice__fetch_block_reply__descriptor, &sluice__put_block__descriptor,
    &sluice__batch_stats_reply__descriptor, &sluice__fetch_library_reply__descriptor,
    &sluice__job_control__descriptor,
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
		else if (schemas[i] == &sluice__submit_job__descriptor &&
		         ((Sluice__SubmitJob *)m)->graph != NULL)
			check_graph(((Sluice__SubmitJob *)m)->graph);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	if (alloc_live() != live) {
		fprintf(stderr, "allocation counter moved: %lld -> %lld\n",
		        (long long)live, (long long)alloc_live());
		abort();
	}
	return 0;
}
