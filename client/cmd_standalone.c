/*
 * sluice standalone: a whole cluster on this host for one job.
 *
 * Starts sluice-master and N sluice-worker processes (found next to this
 * binary) in a temporary state directory on loopback, waits until every
 * worker has registered, submits the job, and streams each batch's
 * statistics and print() output to the terminal. Ctrl-C (or --duration)
 * stops the job, then the workers and the master (SIGTERM, then SIGKILL
 * after a grace period), and removes the directory unless --keep is given.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "alloc.h"
#include "client.h"
#include "clock.h"
#include "msgtypes.h"
#include "proc.h"
#include "sluice/err.h"
#include "submit.h"
#include "cluster.pb-c.h"
#include "job.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 64

typedef struct {
	const char *lib, *name;
	int workers, slots;
	int64_t batch_ms, duration_ms;
	const char *memory;
	int keep;
	sl_conf *job_conf;
	char dir[PATH_MAX], bindir[PATH_MAX];
	pid_t master, worker[MAX_WORKERS];
} standalone;

static int parse(standalone *s, int argc, char **argv)
{
	char err[512];
	int i;
	for (i = 1; i < argc; i++) {
		int r = proc_conf_arg(s->job_conf, argc, argv, &i, err, sizeof(err));
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (r < 0) {
			fprintf(stderr, "sluice standalone: %s\n", err);
			return EXIT_USAGE;
		}
		if (r == 1)
			continue;
		if (!strcmp(a, "--keep")) {
			s->keep = 1;
			continue;
		}
		if (a[0] != '-' && s->lib == NULL) {
			s->lib = a;
			continue;
		}
		if (v == NULL) {
			i++;
			goto bad;
		}
		i++;
		if (!strcmp(a, "--workers"))
			s->workers = atoi(v);
		else if (!strcmp(a, "--slots"))
			s->slots = atoi(v);
		else if (!strcmp(a, "--name"))
			s->name = v;
		else if (!strcmp(a, "--memory"))
			s->memory = v;
		else if (!strcmp(a, "--batch-interval") &&
		         conf_parse_duration_ms(v, &s->batch_ms) == SL_OK)
			continue;
		else if (!strcmp(a, "--duration") &&
		         conf_parse_duration_ms(v, &s->duration_ms) == SL_OK)
			continue;
		else
			goto bad;
	}
	if (s->lib == NULL || s->workers < 1 || s->workers > MAX_WORKERS ||
	    s->slots < 1 || s->batch_ms < 10) {
		fprintf(stderr,
		        "sluice standalone: need JOB.so, --workers 1..%d, --slots >= 1, "
		        "--batch-interval >= 10ms\n",
		        MAX_WORKERS);
		return EXIT_USAGE;
	}
	return EXIT_OK;
bad:
	fprintf(stderr, "sluice standalone: unknown or incomplete option '%s'\n",
	        argv[i - 1]);
	return EXIT_USAGE;
}

static pid_t spawn(char *const argv[], const char *logpath)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		setpgid(0, 0);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int start_master(standalone *s, char *url, size_t urllen)
{
	char bin[PATH_MAX + 32], state[PATH_MAX + 16], log[PATH_MAX + 32],
	    path[PATH_MAX + 32];
	snprintf(bin, sizeof(bin), "%s/sluice-master", s->bindir);
	snprintf(state, sizeof(state), "%s/master", s->dir);
	snprintf(log, sizeof(log), "%s/master.log", s->dir);
	char *argv[] = {bin, "--state-dir", state, "--port", "0", NULL};
	s->master = spawn(argv, log);
	snprintf(path, sizeof(path), "%s/master.url", state);
	for (int i = 0; i < 100; i++) {
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			char *ok = fgets(url, (int)urllen, f);
			fclose(f);
			if (ok) {
				url[strcspn(url, "\n")] = '\0';
				return EXIT_OK;
			}
		}
		if (waitpid(s->master, NULL, WNOHANG) == s->master)
			break;
		clock_sleep_ms(50);
	}
	fprintf(stderr, "sluice standalone: the master did not start; see %s\n", log);
	return EXIT_ERR;
}

static void start_workers(standalone *s, const char *url)
{
	char bin[PATH_MAX + 32], slots[16], secret[PATH_MAX + 64];
	snprintf(bin, sizeof(bin), "%s/sluice-worker", s->bindir);
	snprintf(secret, sizeof(secret),
	         "sluice.authenticate.secretFile=%s/master/secret", s->dir);
	snprintf(slots, sizeof(slots), "%d", s->slots);
	for (int i = 0; i < s->workers; i++) {
		char wdir[PATH_MAX + 32], log[PATH_MAX + 32];
		snprintf(wdir, sizeof(wdir), "%s/worker-%d", s->dir, i + 1);
		snprintf(log, sizeof(log), "%s/worker-%d.log", s->dir, i + 1);
		char *argv[] = {
		    bin,   "--master", (char *)url,       "--work-dir", wdir,   "--slots",
		    slots, "--memory", (char *)s->memory, "--conf",     secret, NULL};
		s->worker[i] = spawn(argv, log);
	}
}

static int wait_workers(client *c, int n)
{
	for (int tries = 0; tries < 200; tries++) {
		envelope rep;
		char err[512];
		Sluice__ListWorkers q = SLUICE__LIST_WORKERS__INIT;
		if (rpc_call_pb(c->master, MSG_LIST_WORKERS, &q, &rep, err,
		                sizeof(err)) == SL_OK) {
			Sluice__ListWorkersReply *r = sluice__list_workers_reply__unpack(
			    NULL, rep.payload_len, rep.payload);
			envelope_release(&rep);
			size_t alive = 0;
			for (size_t i = 0; r && i < r->n_workers; i++)
				alive += strcmp(r->workers[i]->state, "ALIVE") == 0;
			if (r)
				sluice__list_workers_reply__free_unpacked(r, NULL);
			if ((int)alive >= n)
				return EXIT_OK;
		}
		clock_sleep_ms(50);
	}
	fprintf(stderr, "sluice standalone: workers did not register in 10 s\n");
	return EXIT_ERR;
}

static void stop_proc(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		clock_sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int connect_master(client *c, standalone *s, const char *url)
{
	char secret[PATH_MAX + 32], err[512];
	snprintf(secret, sizeof(secret), "%s/master/secret", s->dir);
	conf_set(c->conf, "sluice.authenticate.secretFile", secret, err, sizeof(err));
	if (proc_load_secret(c->conf, NULL, false, &c->key, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sluice standalone: %s\n", err);
		return EXIT_ERR;
	}
	proc_rpc_opts(c->conf, &c->key, "client", &c->rpc);
	if (rpc_client_open(&c->master, url, &c->rpc, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sluice standalone: %s\n", err);
		return EXIT_ERR;
	}
	return EXIT_OK;
}

static void stop_job(client *c, const char *name)
{
	envelope rep;
	Sluice__JobControl q = SLUICE__JOB_CONTROL__INIT;
	q.job = (char *)name;
	q.action = "stop";
	if (client_call(c, MSG_JOB_CONTROL, &q, &rep) == EXIT_OK)
		envelope_release(&rep);
}

static int run_cluster(client *c, standalone *s)
{
	char url[512];
	int rv = start_master(s, url, sizeof(url));
	if (rv != EXIT_OK || (rv = connect_master(c, s, url)) != EXIT_OK)
		return rv;
	start_workers(s, url);
	if ((rv = wait_workers(c, s->workers)) != EXIT_OK)
		return rv;
	printf("standalone: master %s, %d workers x %d slots, state in %s\n", url,
	       s->workers, s->slots, s->dir);
	if ((rv = submit_job(c, s->lib, s->name, s->batch_ms, s->job_conf, true)) !=
	    EXIT_OK)
		return rv;
	fflush(stdout);
	rv = monitor_job(c, s->name, s->duration_ms, 1);
	stop_job(c, s->name);
	return rv;
}

static int standalone_run(client *c, int argc, char **argv)
{
	standalone s = {.workers = 2,
	                .slots = 2,
	                .batch_ms = 1000,
	                .memory = "512m",
	                .name = "standalone"};
	s.job_conf = conf_new(CONF_APP_KEYS);
	int rv = parse(&s, argc, argv);
	if (rv != EXIT_OK)
		goto out;
	ssize_t n = readlink("/proc/self/exe", s.bindir, sizeof(s.bindir) - 1);
	s.bindir[n > 0 ? n : 0] = '\0';
	char *slash = strrchr(s.bindir, '/');
	if (slash)
		*slash = '\0';
	snprintf(s.dir, sizeof(s.dir), "%s/sluice-standalone-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(s.dir) == NULL) {
		fprintf(stderr, "sluice standalone: mkdtemp: %s\n", strerror(errno));
		rv = EXIT_ERR;
		goto out;
	}
	rv = run_cluster(c, &s);
	for (int i = 0; i < s.workers; i++)
		stop_proc(s.worker[i]);
	stop_proc(s.master);
	if (rv != EXIT_OK || s.keep)
		printf("standalone: logs kept in %s\n", s.dir);
	else
		nftw(s.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	printf("standalone: stopped\n");
out:
	conf_free(s.job_conf);
	return rv;
}

const client_cmd cmd_standalone = {
    .name = "standalone",
    .summary = "run a job on a local master and workers",
    .usage =
        "usage: sluice standalone JOB.so [--workers N] [--slots N] [--memory SIZE]\n"
        "                         [--batch-interval D] [--name NAME] [--duration D]\n"
        "                         [--keep] [--conf k=v]...\n"
        "Starts a master and N workers (default 2 x 2 slots) on this host in a\n"
        "temporary directory, submits JOB.so, and shows each batch and its print()\n"
        "output until Ctrl-C or --duration, then stops everything cleanly.\n",
    .run = standalone_run,
    .needs_master = 0,
};
