/*
 * Channels and their system jobs (channels.h has the model). The master
 * builds each system job's graph with the job API's own builders (api.h),
 * exactly as a client builds a user job's, and submits it through the
 * engine's SubmitJob handler, so a system job is validated, stored,
 * started, stopped, checkpointed and restored by the same code as any job.
 * Its library is the system library (sluice_system.so, no functions of its
 * own: the graph names built-in nodes only), because every job has one.
 */
#include "channels.h"

#include "alloc.h"
#include "chgate.h"
#include "jobviews.h"
#include "api.h"
#include "lifecycle.h"
#include "log.h"
#include "sluice/err.h"
#include "sluice/sluice.h"

#include <cjson/cJSON.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHANNEL_NAME_MAX 90
/* Each system job keeps a Kafka client (threads, connections) even while
 * PUBLISHED: a bounded number of channels keeps a flood of creations (or a
 * fuzzer) from exhausting the master. */
#define CHANNELS_MAX 32

/* A channel as given to POST /api/v1/channels; dir is "" for a Kafka
 * channel, else the directory of a directory channel. */
typedef struct {
	const char *name, *topic, *brokers, *source, *dir;
	int64_t interval_ms;
} chan_spec;

static bool is_active(const job *j)
{
	return j->state == JOB_RUNNING || j->state == JOB_PAUSED;
}

/* ---- building the system jobs ---- */

/* The system library's path: sluice.channels.library, else
 * ../lib/sluice_system.so next to the master's executable. */
static void syslib_path(const master *m, char *out, size_t len)
{
	const char *p = conf_get_str(m->conf, "sluice.channels.library");
	if (p != NULL) {
		snprintf(out, len, "%s", p);
		return;
	}
	char exe[1024];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	snprintf(out, len, "%s/../lib/sluice_system.so", dirname(exe));
}

/* Adds the channel's source to ctx (the data write job's input). */
static sl_stream *source_stream(sl_ctx *ctx, const chan_spec *s, char *err, size_t len)
{
	const char *v = strchr(s->source, ':');
	size_t kl = v ? (size_t)(v - s->source) : 0;
	v = v ? v + 1 : "";
	if (kl == 5 && strncmp(s->source, "kafka", 5) == 0 && v[0]) {
		char params[700];
		snprintf(params, sizeof(params),
		         "bootstrap.servers=%s;group.id=sluice-channel-%s-write;"
		         "auto.offset.reset=earliest",
		         s->brokers, s->name);
		return sl_kafka_direct_stream(ctx, v, params);
	}
	if (kl == 3 && strncmp(s->source, "dir", 3) == 0 && v[0] == '/')
		return sl_text_file_stream(ctx, v);
	const char *colon = strrchr(v, ':');
	if (kl == 6 && strncmp(s->source, "socket", 6) == 0 && colon && colon > v) {
		char host[256];
		snprintf(host, sizeof(host), "%.*s", (int)(colon - v), v);
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (*end == '\0')
			return sl_socket_text_stream(ctx, host, (int)port);
	}
	snprintf(err, len,
	         "source '%.200s': expected kafka:TOPIC, socket:HOST:PORT or "
	         "dir:/ABSOLUTE/PATH",
	         s->source);
	return NULL;
}

/* A directory channel's system job: write: SRC -> DIR/landing/batch-T;
 * read: DIR/landing (finished save directories) -> DIR/data/batch-T, each
 * batch published whole by save_as_text_files. */
static int build_dir_graph(sl_ctx *ctx, const chan_spec *s, bool write, char *err,
                           size_t len)
{
	char path[600];
	sl_stream *in;
	if (write) {
		if ((in = source_stream(ctx, s, err, len)) == NULL)
			return SL_EINVAL;
	} else {
		snprintf(path, sizeof(path), "%s/landing", s->dir);
		in = sl_text_file_stream(ctx, path);
	}
	snprintf(path, sizeof(path), "%s/%s/batch", s->dir, write ? "landing" : "data");
	sl_save_as_text_files(in, path, NULL);
	if (api_ctx_error(ctx) != NULL) {
		snprintf(err, len, "%s", api_ctx_error(ctx));
		return SL_EINVAL;
	}
	return SL_OK;
}

/* Builds the graph of the system job with role into ctx. */
static int build_graph(sl_ctx *ctx, const chan_spec *s, bool write, char *err, size_t len)
{
	char landing[300], params[700];
	if (s->dir[0] != '\0')
		return build_dir_graph(ctx, s, write, err, len);
	snprintf(landing, sizeof(landing), "%s.in", s->topic);
	sl_stream *in;
	if (write) {
		if ((in = source_stream(ctx, s, err, len)) == NULL)
			return SL_EINVAL;
	} else {
		snprintf(params, sizeof(params),
		         "bootstrap.servers=%s;group.id=sluice-channel-%s-read;"
		         "auto.offset.reset=earliest",
		         s->brokers, s->name);
		in = sl_kafka_direct_stream(ctx, landing, params);
	}
	snprintf(params, sizeof(params), "bootstrap.servers=%s;exactly_once=true",
	         s->brokers);
	sl_kafka_sink(in, write ? landing : s->topic, params);
	if (api_ctx_error(ctx) != NULL) {
		snprintf(err, len, "%s", api_ctx_error(ctx));
		return SL_EINVAL;
	}
	return SL_OK;
}

static Sluice__SubmitJob__ConfEntry *conf_entry(const char *k, const char *v)
{
	Sluice__SubmitJob__ConfEntry *c = sl_malloc(sizeof(*c));
	sluice__submit_job__conf_entry__init(c);
	c->key = (char *)k;
	c->value = (char *)v;
	return c;
}

/* Submits one system job through the engine's SubmitJob handler (as a
 * client's submission), PUBLISHED. */
static int submit_system(master *m, const chan_spec *s, bool write, const char *who,
                         const uint8_t *lib, size_t liblen, char *err, size_t len)
{
	sl_conf *none = conf_new(CONF_APP_KEYS);
	sl_ctx *ctx = api_ctx_new(none);
	int rv = build_graph(ctx, s, write, err, len);
	char jname[128];
	snprintf(jname, sizeof(jname), "%s.%s", s->name, write ? "write" : "read");
	/* a directory channel has no topic: the gate matches its data dir */
	Sluice__SubmitJob__ConfEntry *conf[5] = {
	    conf_entry("sluice.channel.name", s->name),
	    conf_entry("sluice.channel.role", write ? "write" : "read"),
	    conf_entry("sluice.channel.source", s->source),
	    conf_entry("sluice.channel.brokers", s->brokers),
	    s->dir[0] ? conf_entry("sluice.channel.dir", s->dir)
	              : conf_entry("sluice.channel.topic", s->topic)};
	Sluice__SubmitJob sj = SLUICE__SUBMIT_JOB__INIT;
	sj.name = jname;
	sj.library.data = (uint8_t *)lib;
	sj.library.len = liblen;
	sj.library_name = "sluice_system.so";
	sj.graph = (Sluice__JobGraph *)api_ctx_graph(ctx);
	sj.n_conf = 5;
	sj.conf = conf;
	sj.batch_interval_ms = s->interval_ms;
	char from[128];
	snprintf(from, sizeof(from), "channel %.100s", s->name);
	if (rv == SL_OK)
		rv = jobviews_submit(m, &sj, who, from, err, len);
	for (int i = 0; i < 5; i++)
		sl_free(conf[i]);
	api_ctx_free(ctx);
	conf_free(none);
	return rv;
}

/* ---- REST ---- */

static cJSON *sysjob_json(const job *j)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", j ? j->name : "");
	cJSON_AddStringToObject(o, "state", j ? job_shown_state(j) : "MISSING");
	return o;
}

/* The channel of read job r, as the API shows it. */
static cJSON *channel_json(const job *r)
{
	const char *name = chgate_channel(r);
	const job *w = chgate_system_job(r->e, name, "write");
	const char *topic = conf_get_str(r->conf, "sluice.channel.topic");
	const char *dir = conf_get_str(r->conf, "sluice.channel.dir");
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "kind", dir ? "dir" : "kafka");
	cJSON_AddStringToObject(o, "topic", topic ? topic : "");
	char landing[600];
	snprintf(landing, sizeof(landing), "%s.in", topic ? topic : "");
	cJSON_AddStringToObject(o, "landing_topic", topic ? landing : "");
	cJSON_AddStringToObject(o, "dir", dir ? dir : "");
	snprintf(landing, sizeof(landing), "%s/landing", dir ? dir : "");
	cJSON_AddStringToObject(o, "landing_dir", dir ? landing : "");
	snprintf(landing, sizeof(landing), "%s/data", dir ? dir : "");
	cJSON_AddStringToObject(o, "data_dir", dir ? landing : "");
	const char *b = conf_get_str(r->conf, "sluice.channel.brokers");
	const char *src = conf_get_str(r->conf, "sluice.channel.source");
	cJSON_AddStringToObject(o, "brokers", b ? b : "");
	cJSON_AddStringToObject(o, "source", src ? src : "");
	bool ready = w && w->state == JOB_RUNNING && r->state == JOB_RUNNING;
	cJSON_AddStringToObject(o, "state", ready ? "READY" : "NOT_READY");
	cJSON_AddItemToObject(o, "write_job", sysjob_json(w));
	cJSON_AddItemToObject(o, "read_job", sysjob_json(r));
	cJSON *readers = cJSON_AddArrayToObject(o, "readers");
	for (size_t i = 0; i < r->e->njobs; i++) {
		const job *u = r->e->jobs[i];
		if (chgate_role(u) == NULL && chgate_reads_channel(u, r))
			cJSON_AddItemToArray(readers, cJSON_CreateString(u->name));
	}
	return o;
}

static void reply_json(httpd_res *res, int status, cJSON *o)
{
	char *txt = cJSON_PrintUnformatted(o);
	httpd_text(res, status, "application/json", txt, strlen(txt));
	cJSON_free(txt);
	cJSON_Delete(o);
}

static size_t channel_count(struct engine *e)
{
	size_t n = 0;
	for (size_t i = 0; i < e->njobs; i++)
		n += chgate_role(e->jobs[i]) &&
		     strcmp(chgate_role(e->jobs[i]), "read") == 0;
	return n;
}

static void list_channels(struct engine *e, httpd_res *res)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "channels");
	for (size_t i = 0; i < e->njobs; i++) {
		const char *role = chgate_role(e->jobs[i]);
		if (role && strcmp(role, "read") == 0 && chgate_channel(e->jobs[i]))
			cJSON_AddItemToArray(a, channel_json(e->jobs[i]));
	}
	reply_json(res, 200, o);
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > CHANNEL_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!(*s == '-' || *s == '_' || (*s >= '0' && *s <= '9') ||
		      (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			return false;
	return true;
}

static const char *opt_str(const cJSON *o, const char *k, const char *def, bool *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (v == NULL)
		return def;
	if (!cJSON_IsString(v) || strlen(v->valuestring) > 500) {
		*bad = true;
		return def;
	}
	return v->valuestring;
}

#define KAFKA_TOPIC_CHARS                                                                \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* Whether s is not empty and made of the characters in set only. */
static bool chars_ok(const char *s, const char *set)
{
	return s[0] != '\0' && s[strspn(s, set)] == '\0';
}

#define SOURCE_RULE                                                                      \
	"a source: kafka:TOPIC, socket:HOST:PORT or dir:/PATH (letters, digits, "        \
	"'.', '_', '-', ':' and '/')"

/* What is wrong with a directory channel's spec, or NULL. */
static const char *dir_spec_problem(const chan_spec *s)
{
	size_t n = strlen(s->dir);
	if (s->dir[0] != '/' || n < 2 || n > 400 || s->dir[n - 1] == '/' ||
	    !chars_ok(s->dir, KAFKA_TOPIC_CHARS "/") || strstr(s->dir, "..") ||
	    strstr(s->dir, "//"))
		return "dir as an absolute path of at most 400 letters, digits, '.', "
		       "'_', '-' and '/' (not /, no '..', no trailing '/')";
	if (strncmp(s->source, "kafka:", 6) == 0 &&
	    !chars_ok(s->brokers, KAFKA_TOPIC_CHARS ":,[]"))
		return "brokers as host:port[,host:port] for a kafka: source";
	if (!chars_ok(s->source, KAFKA_TOPIC_CHARS ":/"))
		return SOURCE_RULE;
	return NULL;
}

/* Reads the POST body into s (strings point into o); NULL when it is
 * usable, else what is wrong. */
static const char *parse_spec(const cJSON *o, chan_spec *s)
{
	bool bad = false;
	if (!cJSON_IsObject(o))
		return "a JSON object";
	const char *kind = opt_str(o, "kind", "kafka", &bad);
	s->name = opt_str(o, "name", "", &bad);
	s->topic = opt_str(o, "topic", s->name, &bad);
	s->brokers = opt_str(o, "brokers", "", &bad);
	s->source = opt_str(o, "source", "", &bad);
	s->dir = opt_str(o, "dir", "", &bad);
	const cJSON *iv = cJSON_GetObjectItemCaseSensitive(o, "batch_interval_ms");
	/* converted only within range: a double outside int64 is undefined */
	s->interval_ms = !cJSON_IsNumber(iv) ? 1000
	                 : iv->valuedouble >= 10 && iv->valuedouble <= 3600000
	                     ? (int64_t)iv->valuedouble
	                     : -1;
	if (bad)
		return "string values of at most 500 characters";
	if (iv != NULL &&
	    (!cJSON_IsNumber(iv) || s->interval_ms < 10 || s->interval_ms > 3600000))
		return "batch_interval_ms as an integer 10..3600000";
	if (!name_ok(s->name))
		return "a name of 1..90 letters, digits, '-' or '_'";
	if (strcmp(kind, "dir") == 0 && cJSON_GetObjectItemCaseSensitive(o, "topic"))
		return "no topic for kind \"dir\" (user jobs read DIR/data)";
	if (strcmp(kind, "dir") == 0)
		return dir_spec_problem(s);
	if (strcmp(kind, "kafka") != 0 || s->dir[0] != '\0')
		return "kind \"kafka\" (with brokers) or \"dir\" (with dir)";
	if (!chars_ok(s->topic, KAFKA_TOPIC_CHARS) || strlen(s->topic) > 245)
		return "a topic of 1..245 letters, digits, '.', '_' or '-' (Kafka's "
		       "rule)";
	if (!chars_ok(s->brokers, KAFKA_TOPIC_CHARS ":,[]"))
		return "brokers as host:port[,host:port]";
	if (!chars_ok(s->source, KAFKA_TOPIC_CHARS ":/"))
		return SOURCE_RULE;
	return NULL;
}

/* Reads the system library (a few KiB) into *lib. */
static int read_syslib(master *m, uint8_t **lib, size_t *len, char *err, size_t elen)
{
	char path[1200];
	syslib_path(m, path, sizeof(path));
	FILE *f = fopen(path, "rb");
	long n = -1;
	if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    n < (16L << 20) && fseek(f, 0, SEEK_SET) == 0) {
		*lib = sl_malloc((size_t)n);
		*len = fread(*lib, 1, (size_t)n, f);
	}
	if (f != NULL)
		fclose(f);
	if (*lib != NULL && *len == (size_t)n)
		return SL_OK;
	snprintf(err, elen,
	         "cannot read the system job library %.400s (sluice.channels.library)",
	         path);
	return SL_EIO;
}

/* The channel whose directory is dir, or NULL: two channels never share
 * one (each would take the other's files). */
static const job *dir_owner(struct engine *e, const char *dir)
{
	for (size_t i = 0; i < e->njobs; i++) {
		const char *d = conf_get_str(e->jobs[i]->conf, "sluice.channel.dir");
		if (d != NULL && strcmp(d, dir) == 0)
			return e->jobs[i];
	}
	return NULL;
}

static void create_channel(master *m, const httpd_req *req, const char *who,
                           httpd_res *res, channels_gc *gc)
{
	cJSON *o = cJSON_ParseWithLength((const char *)req->body, req->body_len);
	chan_spec s = {.name = ""};
	const char *bad = parse_spec(o, &s);
	char err[600], jn[2][128];
	if (bad != NULL)
		s.name = "";
	uint8_t *lib = NULL;
	size_t liblen = 0;
	snprintf(jn[0], sizeof(jn[0]), "%.100s.write", s.name);
	snprintf(jn[1], sizeof(jn[1]), "%.100s.read", s.name);
	if (bad != NULL) {
		httpd_error(res, 400, "request body: expected %s", bad);
	} else if (chgate_system_job(m->engine, s.name, "read") != NULL ||
	           jobs_find(m->engine, jn[0]) != NULL ||
	           jobs_find(m->engine, jn[1]) != NULL) {
		httpd_error(res, 409, "channel '%s' or a job named %s/%s already exists",
		            s.name, jn[0], jn[1]);
	} else if (s.dir[0] && dir_owner(m->engine, s.dir) != NULL) {
		httpd_error(res, 409,
		            "directory %s is already the directory of channel '%s'",
		            s.dir, chgate_channel(dir_owner(m->engine, s.dir)));
	} else if (channel_count(m->engine) >= CHANNELS_MAX) {
		httpd_error(res, 409,
		            "there are already %d channels, the most a master keeps",
		            CHANNELS_MAX);
	} else if (read_syslib(m, &lib, &liblen, err, sizeof(err)) != SL_OK) {
		httpd_error(res, 500, "%s", err);
	} else if (submit_system(m, &s, true, who, lib, liblen, err, sizeof(err)) !=
	           SL_OK) {
		httpd_error(res, 400, "channel '%s': %s", s.name, err);
	} else if (submit_system(m, &s, false, who, lib, liblen, err, sizeof(err)) !=
	           SL_OK) {
		job *w = jobs_find(m->engine, jn[0]);
		httpd_error(res, 400, "channel '%s': %s", s.name, err);
		if (w != NULL) { /* undo the half-made channel */
			gc->ids[gc->n++] = w->id;
			for (size_t i = 0; i < m->engine->njobs; i++)
				if (m->engine->jobs[i] == w)
					m->engine->jobs[i] =
					    m->engine->jobs[--m->engine->njobs];
			job_free(w);
		}
	} else {
		log_info("channel %s created by %s: %s %s, source %s", s.name, who,
		         s.dir[0] ? "directory" : "topic", s.dir[0] ? s.dir : s.topic,
		         s.source);
		reply_json(res, 201,
		           channel_json(chgate_system_job(m->engine, s.name, "read")));
	}
	sl_free(lib);
	cJSON_Delete(o);
}

/* Why channel name cannot be deleted now, or NULL. */
static const char *delete_blocker(const job *sys[2], const job **who)
{
	for (int k = 0; k < 2; k++) {
		*who = sys[k];
		if (sys[k] == NULL)
			continue;
		if (is_active(sys[k]) || sys[k]->draining)
			return "is running: stop it first";
		if (sys[k]->nbatches || sys[k]->nretiring || sys[k]->ckpt_dirty ||
		    sys[k]->ckpt_durable < sys[k]->ckpt_seq)
			return "is still finishing its stop: retry in a moment";
	}
	return NULL;
}

static void remove_job(struct engine *e, job *j, channels_gc *gc)
{
	gc->ids[gc->n++] = j->id;
	for (size_t i = 0; i < e->njobs; i++)
		if (e->jobs[i] == j) {
			memmove(&e->jobs[i], &e->jobs[i + 1],
			        (e->njobs - i - 1) * sizeof(*e->jobs));
			e->njobs--;
			break;
		}
	job_free(j);
}

static void delete_channel(master *m, const char *name, const char *who, httpd_res *res,
                           channels_gc *gc)
{
	struct engine *e = m->engine;
	job *sys[2] = {chgate_system_job(e, name, "write"),
	               chgate_system_job(e, name, "read")};
	if (sys[1] == NULL) {
		httpd_error(res, 404, "no channel named '%.100s'", name);
		return;
	}
	for (size_t i = 0; i < e->njobs; i++) {
		const job *u = e->jobs[i];
		if (chgate_role(u) == NULL && is_active(u) &&
		    chgate_reads_channel(u, sys[1])) {
			httpd_error(res, 409,
			            "channel '%s' is read by job '%s', which is %s: stop "
			            "it first",
			            name, u->name, job_shown_state(u));
			return;
		}
	}
	const job *blocker;
	const char *why = delete_blocker((const job **)sys, &blocker);
	if (why != NULL) {
		httpd_error(res, 409, "channel '%s': system job '%s' %s", name,
		            blocker->name, why);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "deleted", name);
	for (int k = 0; k < 2; k++)
		if (sys[k] != NULL)
			remove_job(e, sys[k], gc);
	log_info("channel %s deleted by %s", name, who);
	reply_json(res, 200, o);
}

void channels_route(master *m, const char *sub, const httpd_req *req, const char *who,
                    httpd_res *res, channels_gc *gc)
{
	bool get = strcmp(req->method, "GET") == 0;
	bool post = strcmp(req->method, "POST") == 0;
	bool del = strcmp(req->method, "DELETE") == 0;
	if (sub[0] == '\0') {
		if (get)
			list_channels(m->engine, res);
		else if (post)
			create_channel(m, req, who, res, gc);
		else
			httpd_error(res, 405,
			            "method %.20s not allowed on %.200s (GET or POST)",
			            req->method, req->path);
		return;
	}
	const char *name = sub + 1;
	if (sub[0] != '/' || !name_ok(name)) {
		httpd_error(res, 404, "no such path: %.200s", req->path);
	} else if (get) {
		job *r = chgate_system_job(m->engine, name, "read");
		if (r == NULL)
			httpd_error(res, 404, "no channel named '%.100s'", name);
		else
			reply_json(res, 200, channel_json(r));
	} else if (del) {
		delete_channel(m, name, who, res, gc);
	} else {
		httpd_error(res, 405,
		            "method %.20s not allowed on %.200s (GET or DELETE)",
		            req->method, req->path);
	}
}

void channels_purge(master *m, const channels_gc *gc)
{
	static const char *const tables[] = {
	    "jobs",   "batches",   "kafka_ranges",    "kafka_offsets",
	    "blocks", "receivers", "job_transitions", "alert_incidents"};
	if (gc->n == 0)
		return;
	char path[1200];
	snprintf(path, sizeof(path), "%s/master.db", m->state_dir);
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(db, 10000);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < gc->n; i++)
		for (size_t t = 0;
		     rc == SQLITE_OK && t < sizeof(tables) / sizeof(*tables); t++) {
			char sql[200];
			snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = %llu",
			         tables[t],
			         strcmp(tables[t], "jobs") == 0 ? "id" : "job_id",
			         (unsigned long long)gc->ids[i]);
			rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		log_warn("channels: cannot delete system jobs from the state store: %s",
		         db ? sqlite3_errmsg(db) : "cannot open it");
	sqlite3_close(db);
}
