/*
 * The channel gate (chgate.h). A channel is recognised by its data read
 * job (sluice.channel.role=read), which names the channel's topic; its data
 * write job is found by the channel's name.
 */
#include "chgate.h"

#include "sluice/err.h"

#include <stdio.h>
#include <string.h>

const char *chgate_role(const job *j)
{
	return conf_get_str(j->conf, "sluice.channel.role");
}

const char *chgate_channel(const job *j)
{
	return conf_get_str(j->conf, "sluice.channel.name");
}

job *chgate_system_job(struct engine *e, const char *name, const char *role)
{
	for (size_t i = 0; i < e->njobs; i++) {
		job *j = e->jobs[i];
		const char *r = chgate_role(j), *c = chgate_channel(j);
		if (r && c && strcmp(r, role) == 0 && strcmp(c, name) == 0)
			return j;
	}
	return NULL;
}

bool chgate_reads_topic(const job *j, const char *topic)
{
	size_t tl = strlen(topic);
	for (size_t i = 0; i < j->graph->n_nodes; i++) {
		const Sluice__Node *n = j->graph->nodes[i];
		if (n->kind != SLUICE__NODE_KIND__SRC_KAFKA)
			continue;
		for (const char *p = n->topics; p && *p;) {
			size_t l = strcspn(p, ",");
			if (l == tl && strncmp(p, topic, l) == 0)
				return true;
			p += l + (p[l] == ',');
		}
	}
	return false;
}

/* Whether one of j's text_file_stream sources names dir (a trailing '/'
 * of the job's path aside). */
static bool reads_dir(const job *j, const char *dir)
{
	size_t dl = strlen(dir);
	for (size_t i = 0; i < j->graph->n_nodes; i++) {
		const Sluice__Node *n = j->graph->nodes[i];
		if (n->kind == SLUICE__NODE_KIND__SRC_FILES && n->path &&
		    strncmp(n->path, dir, dl) == 0 &&
		    n->path[dl + strspn(n->path + dl, "/")] == '\0')
			return true;
	}
	return false;
}

bool chgate_reads_channel(const job *j, const job *r)
{
	const char *dir = conf_get_str(r->conf, "sluice.channel.dir");
	const char *topic = conf_get_str(r->conf, "sluice.channel.topic");
	if (dir != NULL) {
		char data[600];
		snprintf(data, sizeof(data), "%s/data", dir);
		return reads_dir(j, data);
	}
	return topic != NULL && chgate_reads_topic(j, topic);
}

/* The state a user sees (as job_shown_state, without calling back into
 * lifecycle.c, which calls this file through runconf.c). */
static const char *state_of(const job *s)
{
	static const char *const names[] = {[JOB_RUNNING] = "RUNNING",
	                                    [JOB_STOPPED] = "STOPPED",
	                                    [JOB_FAILED] = "FAILED",
	                                    [JOB_PUBLISHED] = "PUBLISHED",
	                                    [JOB_PAUSED] = "PAUSED"};
	if (s == NULL)
		return "missing";
	return s->draining ? "STOPPING" : names[s->state];
}

/* The gate for one channel (its read job r): SL_OK or SL_ESTATE. */
static int check_channel(const job *j, const job *r, char *err, size_t errlen)
{
	const char *name = chgate_channel(r);
	const char *topic = conf_get_str(r->conf, "sluice.channel.topic");
	const char *dir = conf_get_str(r->conf, "sluice.channel.dir");
	if (!chgate_reads_channel(j, r))
		return SL_OK;
	char src[600];
	if (dir != NULL)
		snprintf(src, sizeof(src), "directory %s/data", dir);
	else
		snprintf(src, sizeof(src), "topic %s", topic);
	const job *sys[2] = {chgate_system_job(r->e, name, "write"), r};
	const char *what[2] = {"data write", "data read"};
	for (int k = 0; k < 2; k++) {
		if (sys[k] != NULL && sys[k]->state == JOB_RUNNING && !sys[k]->draining)
			continue;
		snprintf(err, errlen,
		         "job '%s' reads channel '%s' (%s), whose %s system job "
		         "'%s.%s' is %s: start it first",
		         j->name, name, src, what[k], name, k == 0 ? "write" : "read",
		         state_of(sys[k]));
		return SL_ESTATE;
	}
	return SL_OK;
}

int chgate_check_start(const job *j, char *err, size_t errlen)
{
	if (chgate_role(j) != NULL)
		return SL_OK;
	for (size_t i = 0; i < j->e->njobs; i++) {
		const job *r = j->e->jobs[i];
		const char *role = chgate_role(r);
		if (r != j && role && strcmp(role, "read") == 0 && chgate_channel(r) &&
		    check_channel(j, r, err, errlen) != SL_OK)
			return SL_ESTATE;
	}
	return SL_OK;
}
