/*
 * sluice channels [list] | show | create | delete: channels and their
 * system jobs (docs/operations.md, "Channels and system jobs") through the
 * REST API's /api/v1/channels (client_api). Table output by default, the
 * API's JSON with --json.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>

static void print_row(const cJSON *ch)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(ch, "write_job");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(ch, "read_job");
	char wj[160], rj[160];
	snprintf(wj, sizeof(wj), "%s=%s", json_str(w, "name"), json_str(w, "state"));
	snprintf(rj, sizeof(rj), "%s=%s", json_str(r, "name"), json_str(r, "state"));
	bool dir = strcmp(json_str(ch, "kind"), "dir") == 0;
	printf("%-16s %-6s %-20s %-10s %-30s %-30s %s\n", json_str(ch, "name"),
	       json_str(ch, "kind"), json_str(ch, dir ? "dir" : "topic"),
	       json_str(ch, "state"), wj, rj, json_str(ch, "source"));
}

static void print_header(void)
{
	printf("%-16s %-6s %-20s %-10s %-30s %-30s %s\n", "NAME", "KIND", "TOPIC/DIR",
	       "STATE", "WRITE JOB", "READ JOB", "SOURCE");
}

/* Prints the API's answer o (one channel, a list, or a deletion). */
static int show(cJSON *o, bool json)
{
	if (o == NULL)
		return EXIT_ERR;
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "channels");
	if (json) {
		json_print(o, false);
	} else if (cJSON_IsArray(list)) {
		print_header();
		const cJSON *ch;
		cJSON_ArrayForEach(ch, list) print_row(ch);
	} else if (json_str(o, "deleted")[0]) {
		printf("channel %s deleted\n", json_str(o, "deleted"));
	} else {
		print_header();
		print_row(o);
	}
	cJSON_Delete(o);
	return EXIT_OK;
}

/* create NAME (--topic T --brokers B | --dir PATH) --source S
 * [--batch-interval D]: the request body, or NULL (usage printed); --dir
 * makes a directory channel. */
static cJSON *create_body(int argc, char **argv, const char *name)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "name", name);
	cJSON_AddStringToObject(b, "kind", "kafka");
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		const char *key = strcmp(o, "--topic") == 0     ? "topic"
		                  : strcmp(o, "--brokers") == 0 ? "brokers"
		                  : strcmp(o, "--source") == 0  ? "source"
		                  : strcmp(o, "--dir") == 0     ? "dir"
		                                                : NULL;
		if (i + 1 < argc && key != NULL && strcmp(key, "dir") == 0)
			cJSON_ReplaceItemInObjectCaseSensitive(b, "kind",
			                                       cJSON_CreateString("dir"));
		int64_t ms;
		if (i + 1 < argc && key != NULL) {
			cJSON_AddStringToObject(b, key, argv[++i]);
		} else if (i + 1 < argc && strcmp(o, "--batch-interval") == 0 &&
		           conf_parse_duration_ms(argv[i + 1], &ms) == 0) {
			cJSON_AddNumberToObject(b, "batch_interval_ms", (double)ms);
			i++;
		} else if (strcmp(o, "--json") != 0) {
			fprintf(stderr,
			        "sluice channels create: bad or incomplete option '%s'\n",
			        o);
			cJSON_Delete(b);
			return NULL;
		}
	}
	return b;
}

static int channels_run(client *c, int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++)
		json |= strcmp(argv[i], "--json") == 0;
	const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : "list";
	const char *name = argc > 2 && argv[2][0] != '-' ? argv[2] : NULL;
	char path[300];
	snprintf(path, sizeof(path), "/api/v1/channels/%.200s", name ? name : "");
	if (strcmp(sub, "list") == 0)
		return show(client_api(c, "GET", "/api/v1/channels", "", NULL), json);
	if (name != NULL && strcmp(sub, "show") == 0)
		return show(client_api(c, "GET", path, "", NULL), json);
	if (name != NULL && strcmp(sub, "delete") == 0)
		return show(client_api(c, "DELETE", path, "", NULL), json);
	if (name != NULL && strcmp(sub, "create") == 0) {
		cJSON *b = create_body(argc - 3, argv + 3, name);
		if (b == NULL) {
			client_cmd_usage(&cmd_channels, stderr);
			return EXIT_USAGE;
		}
		cJSON *o = client_api(c, "POST", "/api/v1/channels", "", b);
		cJSON_Delete(b);
		return show(o, json);
	}
	fprintf(stderr, "sluice channels: expected list, show NAME, create NAME or "
	                "delete NAME\n");
	client_cmd_usage(&cmd_channels, stderr);
	return EXIT_USAGE;
}

const client_cmd cmd_channels = {
    .name = "channels",
    .summary = "list, create and delete channels (and their system jobs)",
    .usage = "usage: sluice channels [list] [--json]\n"
             "       sluice channels show NAME [--json]\n"
             "       sluice channels create NAME --brokers HOST:PORT --source SRC\n"
             "                              [--topic T] [--batch-interval D] [--json]\n"
             "       sluice channels create NAME --dir /PATH --source SRC\n"
             "                              [--batch-interval D] [--json]\n"
             "       sluice channels delete NAME [--json]\n"
             "A channel is a Kafka topic T (default NAME) that user jobs read. Creating\n"
             "it creates two system jobs, PUBLISHED: NAME.write (data write: SRC ->\n"
             "topic T.in) and NAME.read (data read: T.in -> T, exactly once). SRC is\n"
             "kafka:TOPIC, socket:HOST:PORT or dir:/PATH. Start both (sluice start)\n"
             "before any job that reads T. Delete needs both stopped and no running\n"
             "reader; it removes the system jobs (the topics stay).\n"
             "With --dir, the channel is the directory PATH: NAME.write saves SRC\n"
             "under PATH/landing, NAME.read copies each finished batch to PATH/data,\n"
             "which user jobs read with text_file_stream(PATH/data).\n",
    .run = channels_run,
    .needs_master = 1,
};
