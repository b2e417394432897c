/*
 * sluice: the command-line client. Global options come before the command:
 *   sluice [--master URL] [--secret-file F] [--conf k=v]... COMMAND [ARGS]
 * The master is found from --master, then $SLUICE_MASTER, then
 * sluice.master.url (default tcp://127.0.0.1:7077).
 */
#include "client.h"
#include "log.h"
#include "msgtypes.h"
#include "proc.h"
#include "sluice/err.h"

#include <stdlib.h>
#include <string.h>

static const client_cmd *const commands[] = {
    &cmd_workers,     &cmd_submit,     &cmd_publish, &cmd_jobs,    &cmd_start,
    &cmd_pause,       &cmd_resume,     &cmd_stop,    &cmd_monitor, &cmd_standalone,
    &cmd_transitions, &cmd_alerts,     &cmd_config,  &cmd_new_job, &cmd_channels,
    &cmd_summary,     &cmd_run_config, &cmd_logs,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: sluice [--master URL] [--secret-file F] [--conf k=v]... COMMAND "
	        "[ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\nGlobal options:\n"
	           "  --master URL        master RPC URL (or $SLUICE_MASTER; default "
	           "tcp://127.0.0.1:7077)\n"
	           "  --secret-file F     cluster secret (or $SLUICE_SECRET_FILE)\n"
	           "  --conf k=v          configuration (TLS files, timeouts, ...)\n"
	           "Run 'sluice COMMAND --help' for a command's options.\n"
	           "Exit codes: 0 success, 1 error, 2 usage.\n");
}

void client_cmd_usage(const client_cmd *cmd, FILE *f)
{
	fprintf(f, "%s", cmd->usage);
}

int client_call(client *c, uint32_t type, const void *pb_msg, envelope *reply)
{
	char err[1024];
	int rv = rpc_call_pb(c->master, type, pb_msg, reply, err, sizeof(err));
	if (rv != SL_OK) {
		fprintf(stderr, "sluice: %s\n", err);
		return EXIT_ERR;
	}
	return EXIT_OK;
}

static int client_connect(client *c)
{
	char err[1024];
	if (proc_load_secret(c->conf, NULL, false, &c->key, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sluice: %s\n", err);
		return EXIT_ERR;
	}
	proc_rpc_opts(c->conf, &c->key, "client", &c->rpc);
	if (rpc_client_open(&c->master, c->master_url, &c->rpc, err, sizeof(err)) !=
	    SL_OK) {
		fprintf(stderr, "sluice: %s\n", err);
		return EXIT_ERR;
	}
	return EXIT_OK;
}

/* Parses global options; returns the index of the command or -1. */
static int parse_globals(client *c, int argc, char **argv)
{
	char err[1024];
	int i;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		int rv = proc_conf_arg(c->conf, argc, argv, &i, err, sizeof(err));
		if (rv < 0) {
			fprintf(stderr, "sluice: %s\n", err);
			return -1;
		}
		if (rv == 1)
			continue;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			exit(EXIT_OK);
		}
		if (i + 1 >= argc)
			goto bad;
		if (strcmp(argv[i], "--master") == 0)
			c->master_url = argv[++i];
		else if (strcmp(argv[i], "--secret-file") == 0)
			conf_set(c->conf, "sluice.authenticate.secretFile", argv[++i],
			         err, sizeof(err));
		else
			goto bad;
	}
	return i;
bad:
	fprintf(stderr, "sluice: unknown or incomplete option '%s'\n", argv[i]);
	return -1;
}

static const client_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	client c;
	int rv = EXIT_USAGE;
	memset(&c, 0, sizeof(c));
	c.conf = conf_new(CONF_STRICT);
	log_open("client", LOG_WARN, NULL);
	int ci = parse_globals(&c, argc, argv);
	if (ci < 0 || ci >= argc) {
		usage(stderr);
		goto out;
	}
	const client_cmd *cmd = find_command(argv[ci]);
	if (cmd == NULL) {
		fprintf(stderr, "sluice: unknown command '%s'\n", argv[ci]);
		usage(stderr);
		goto out;
	}
	if (ci + 1 < argc &&
	    (!strcmp(argv[ci + 1], "--help") || !strcmp(argv[ci + 1], "-h"))) {
		client_cmd_usage(cmd, stdout);
		rv = EXIT_OK;
		goto out;
	}
	if (c.master_url == NULL)
		c.master_url = getenv("SLUICE_MASTER");
	if (c.master_url == NULL)
		c.master_url = conf_get_str(c.conf, "sluice.master.url");
	if (cmd->needs_master) {
		char err[1024];
		/* an impossible URL is a usage error, found before dialing */
		if (proc_check_url(c.conf, "--master", c.master_url, err, sizeof(err)) !=
		    SL_OK) {
			fprintf(stderr, "sluice: %s\n", err);
			rv = EXIT_USAGE;
			goto out;
		}
		if ((rv = client_connect(&c)) != EXIT_OK)
			goto out;
	}
	rv = cmd->run(&c, argc - ci, argv + ci);
out:
	rpc_client_close(c.master);
	conf_free(c.conf);
	return rv;
}
