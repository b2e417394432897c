/* Process set-up helpers: see proc.h. */
#include "proc.h"
#include "log.h"
#include "sluice/err.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int proc_conf_arg(sl_conf *c, int argc, char **argv, int *i, char *err, size_t errlen)
{
	const char *a = argv[*i];
	if (strncmp(a, "--conf=", 7) == 0)
		return conf_set_kv(c, a + 7, err, errlen) == SL_OK ? 1 : SL_ECONFIG;
	if (strncmp(a, "--properties-file=", 18) == 0)
		return conf_load_file(c, a + 18, err, errlen) == SL_OK ? 1 : SL_ECONFIG;
	bool is_conf = strcmp(a, "--conf") == 0 || strcmp(a, "-c") == 0;
	bool is_file = strcmp(a, "--properties-file") == 0;
	if (!is_conf && !is_file)
		return 0;
	if (*i + 1 >= argc) {
		snprintf(err, errlen, "%s needs a value", a);
		return SL_ECONFIG;
	}
	(*i)++;
	int rv = is_conf ? conf_set_kv(c, argv[*i], err, errlen)
	                 : conf_load_file(c, argv[*i], err, errlen);
	return rv == SL_OK ? 1 : SL_ECONFIG;
}

static int proc_find_secret(const sl_conf *c, const char *default_file, bool create,
                            auth_key *k, char *err, size_t errlen)
{
	const char *secret = conf_get_str(c, "spark.authenticate.secret");
	if (secret != NULL) {
		if (auth_key_set(k, secret) != SL_OK) {
			snprintf(err, errlen,
			         "spark.authenticate.secret: must be 1 to 256 bytes");
			return SL_ECONFIG;
		}
		return SL_OK;
	}
	const char *file = conf_get_str(c, "sluice.authenticate.secretFile");
	if (file == NULL)
		file = getenv("SLUICE_SECRET_FILE");
	if (file == NULL)
		file = default_file;
	if (file == NULL) {
		snprintf(err, errlen,
		         "no cluster secret: set spark.authenticate.secret, "
		         "sluice.authenticate.secretFile or SLUICE_SECRET_FILE");
		return SL_EAUTH;
	}
	if (create)
		return auth_key_create(k, file, err, errlen);
	return auth_key_load(k, file, err, errlen);
}

/* The master needs the root (it verifies every role) and hands out the
 * role files next to its default secret file. */
static int proc_master_creds(const auth_key *k, const char *default_file, char *err,
                             size_t errlen)
{
	char dir[4096];
	if (k->root_len == 0) {
		snprintf(err, errlen,
		         "the master needs the cluster secret itself, not a role file "
		         "(worker.secret, operator.token, reader.token)");
		return SL_EAUTH;
	}
	snprintf(dir, sizeof(dir), "%s", default_file);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (auth_key_write_roles(k, dir, err, errlen) != SL_OK)
		return SL_EAUTH;
	log_info("credentials in %s: worker.secret for workers, operator.token and "
	         "reader.token for clients (docs/security.md)",
	         dir);
	return SL_OK;
}

void proc_rpc_opts(const sl_conf *c, const auth_key *k, const char *identity, rpc_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->key = k;
	o->identity = identity;
	o->max_msg = (size_t)conf_get_bytes(c, "sluice.rpc.maxMessageSize");
	o->timeout_ms = conf_get_duration_ms(c, "sluice.rpc.timeout");
	o->insecure = conf_get_bool(c, "sluice.transport.insecure");
	o->tls_cert = conf_get_str(c, "sluice.tls.cert");
	o->tls_key = conf_get_str(c, "sluice.tls.key");
	o->tls_ca = conf_get_str(c, "sluice.tls.ca");
}

int proc_log_setup(const sl_conf *c, const char *component, char *err, size_t errlen)
{
	const char *lvl = conf_get_str(c, "sluice.log.level");
	int level = log_level_parse(lvl);
	if (level < 0) {
		snprintf(err, errlen,
		         "sluice.log.level: expected debug, info, warn or error, got "
		         "\"%s\"",
		         lvl);
		return SL_ECONFIG;
	}
	const char *file = conf_get_str(c, "sluice.log.file");
	if (log_open(component, (log_level)level, file) != SL_OK) {
		snprintf(err, errlen, "sluice.log.file: cannot open %s: %s", file,
		         strerror(errno));
		return SL_ECONFIG;
	}
	log_set_max_size((size_t)conf_get_bytes(c, "sluice.log.maxSize"));
	return SL_OK;
}

static volatile int *proc_stop_flag;

static void proc_on_signal(int sig)
{
	(void)sig;
	if (proc_stop_flag)
		*proc_stop_flag = 1;
}

void proc_signals(volatile int *flag)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	proc_stop_flag = flag;
	sa.sa_handler = proc_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int proc_mkdirs(const char *path, char *err, size_t errlen)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		goto fail;
	return SL_OK;
fail:
	snprintf(err, errlen, "cannot create directory %s: %s", buf, strerror(errno));
	return SL_EIO;
}

int proc_mkdirs_parent(const char *path, char *err, size_t errlen)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", path);
	char *slash = strrchr(buf, '/');
	if (slash == NULL || slash == buf)
		return SL_OK;
	*slash = '\0';
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		goto fail;
	return SL_OK;
fail:
	snprintf(err, errlen, "cannot create directory %s: %s", buf, strerror(errno));
	return SL_EIO;
}

int proc_load_secret(const sl_conf *c, const char *default_file, bool create, auth_key *k,
                     char *err, size_t errlen)
{
	int rv = proc_find_secret(c, default_file, create, k, err, errlen);
	if (rv == SL_OK && create && default_file != NULL)
		rv = proc_master_creds(k, default_file, err, errlen);
	return rv;
}

int proc_check_url(const sl_conf *c, const char *what, const char *url, char *err,
                   size_t errlen)
{
	rpc_opts o;
	char why[512];
	if (url == NULL || url[0] == '\0')
		return SL_OK;
	proc_rpc_opts(c, NULL, "client", &o);
	int rv = rpc_check_url(url, &o, why, sizeof(why));
	if (rv != SL_OK)
		snprintf(err, errlen, "%s: %s", what, why);
	return rv;
}
