/*
 * Alert delivery: see notify.h.
 *
 * The queue is a fixed array of items, each with the time of its next
 * attempt. The thread sleeps until the earliest one is due (or a new one
 * arrives), runs that attempt with no lock held, then either reports the
 * item done or pushes its next attempt back by the backoff. One thread is
 * enough: attempts are bounded in time, alerts are rare, and an unreachable
 * mail server delays other alerts by at most one timeout per attempt, never a
 * batch.
 */
#include "notify.h"

#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "sluice/err.h"

#include <curl/curl.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define QUEUE_CAP 1024

typedef struct {
	uint64_t alert_id;
	notify_kind kind;
	char *target, *subject, *json;
	char **rcpt;
	size_t nrcpt;
	int attempts;
	int64_t due_ms;
} item;

typedef struct {
	char smtp_url[300], from[256], user[256], password[256], ca[1024];
	long starttls; /* CURLUSESSL_* */
	int64_t timeout_ms, backoff_ms;
	int retries;
} settings;

struct notifier {
	settings s;
	notify_done_fn done;
	void *arg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	item *q[QUEUE_CAP];
	size_t n;
	bool stopping;
};

typedef struct {
	const char *name;
	int (*deliver)(const settings *s, const item *it, char *err, size_t errlen);
} notify_channel_ops;

/* ---- email (libcurl SMTP) ---- */

typedef struct {
	char *buf;
	size_t len, off;
} payload;

static size_t mail_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	payload *p = arg;
	size_t n = size * nmemb, left = p->len - p->off;
	if (n > left)
		n = left;
	memcpy(dst, p->buf + p->off, n);
	p->off += n;
	return n;
}

static char *mail_text(const settings *s, const item *it)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	char to[1024] = "";
	for (size_t i = 0; i < it->nrcpt; i++)
		snprintf(to + strlen(to), sizeof(to) - strlen(to), "%s%s", i ? ", " : "",
		         it->rcpt[i]);
	return sl_asprintf("Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\n"
	                   "MIME-Version: 1.0\r\n"
	                   "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	                   "%s\r\n\r\n%s\r\n",
	                   date, s->from, to, it->subject, it->subject, it->json);
}

/* libcurl is loaded when the first email is sent, not linked into the
 * master: linked, its dependency tree (gnutls, krb5, ldap, ssh2, ...) and
 * curl_global_init's OpenSSL start took about 6 MB of every master's RSS,
 * with or without email alerts (docs/performance.md, idle memory). The
 * delivery thread is the only caller, so it loads the library once and
 * keeps it for the life of the process. */
typedef struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	void (*easy_cleanup)(CURL *c);
	const char *(*easy_strerror)(CURLcode rc);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
} curl_api;

#define CURL_SONAME "libcurl.so.4"

static const struct {
	const char *name;
	size_t off;
} curl_syms[] = {
    {"curl_global_init", offsetof(curl_api, global_init)},
    {"curl_easy_init", offsetof(curl_api, easy_init)},
    {"curl_easy_setopt", offsetof(curl_api, easy_setopt)},
    {"curl_easy_perform", offsetof(curl_api, easy_perform)},
    {"curl_easy_cleanup", offsetof(curl_api, easy_cleanup)},
    {"curl_easy_strerror", offsetof(curl_api, easy_strerror)},
    {"curl_slist_append", offsetof(curl_api, slist_append)},
    {"curl_slist_free_all", offsetof(curl_api, slist_free_all)},
};

static curl_api cu;
static bool cu_ok;
static char cu_error[320];
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;

static void curl_load(void)
{
	void *h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(cu_error, sizeof(cu_error),
		         "email alerts need libcurl (Debian package libcurl4): %s",
		         dlerror());
		return;
	}
	curl_api a;
	for (size_t i = 0; i < sizeof(curl_syms) / sizeof(curl_syms[0]); i++) {
		void *p = dlsym(h, curl_syms[i].name);
		if (p == NULL) {
			snprintf(cu_error, sizeof(cu_error), "%s has no %s", CURL_SONAME,
			         curl_syms[i].name);
			return;
		}
		/* POSIX: a dlsym result converts to a function pointer */
		memcpy((char *)&a + curl_syms[i].off, &p, sizeof(p));
	}
	CURLcode rc = a.global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(cu_error, sizeof(cu_error), "curl_global_init: %s",
		         a.easy_strerror(rc));
		return;
	}
	cu = a;
	cu_ok = true;
}

static int email_deliver(const settings *s, const item *it, char *err, size_t errlen)
{
	pthread_once(&cu_once, curl_load);
	if (!cu_ok) {
		snprintf(err, errlen, "SMTP %s: %s", s->smtp_url, cu_error);
		return SL_EIO;
	}
	CURL *c = cu.easy_init();
	if (c == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return SL_ENOMEM;
	}
	struct curl_slist *rcpt = NULL;
	for (size_t i = 0; i < it->nrcpt; i++)
		rcpt = cu.slist_append(rcpt, it->rcpt[i]);
	payload p = {.buf = mail_text(s, it)};
	p.len = strlen(p.buf);
	cu.easy_setopt(c, CURLOPT_URL, s->smtp_url);
	cu.easy_setopt(c, CURLOPT_MAIL_FROM, s->from);
	cu.easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	cu.easy_setopt(c, CURLOPT_READFUNCTION, mail_read);
	cu.easy_setopt(c, CURLOPT_READDATA, &p);
	cu.easy_setopt(c, CURLOPT_UPLOAD, 1L);
	cu.easy_setopt(c, CURLOPT_USE_SSL, s->starttls);
	cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
	cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
	if (s->user[0]) {
		cu.easy_setopt(c, CURLOPT_USERNAME, s->user);
		cu.easy_setopt(c, CURLOPT_PASSWORD, s->password);
	}
	if (s->ca[0])
		cu.easy_setopt(c, CURLOPT_CAINFO, s->ca);
	CURLcode rc = cu.easy_perform(c);
	if (rc != CURLE_OK)
		snprintf(err, errlen, "SMTP %s: %s", s->smtp_url, cu.easy_strerror(rc));
	cu.slist_free_all(rcpt);
	cu.easy_cleanup(c);
	sl_free(p.buf);
	return rc == CURLE_OK ? SL_OK : SL_EIO;
}

/* ---- webhook (nng HTTP client) ---- */

static int webhook_tls(nng_http_client *cli, const nng_url *u, const settings *s)
{
	nng_tls_config *cfg = NULL;
	const char *ca = s->ca[0] ? s->ca : "/etc/ssl/certs/ca-certificates.crt";
	int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
	if (rv == 0)
		rv = nng_tls_config_ca_file(cfg, ca);
	if (rv == 0)
		rv = nng_tls_config_server_name(cfg, u->u_hostname);
	if (rv == 0)
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	if (rv == 0)
		rv = nng_http_client_set_tls(cli, cfg);
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	return rv;
}

static int webhook_deliver(const settings *s, const item *it, char *err, size_t errlen)
{
	nng_url *u = NULL;
	nng_http_client *cli = NULL;
	nng_http_req *req = NULL;
	nng_http_res *res = NULL;
	nng_aio *aio = NULL;
	int rv = nng_url_parse(&u, it->target);
	if (rv == 0)
		rv = nng_http_client_alloc(&cli, u);
	if (rv == 0 && strcmp(u->u_scheme, "https") == 0)
		rv = webhook_tls(cli, u, s);
	if (rv == 0)
		rv = nng_http_req_alloc(&req, u);
	if (rv == 0)
		rv = nng_http_req_set_method(req, "POST");
	if (rv == 0)
		rv = nng_http_req_set_header(req, "Content-Type", "application/json");
	if (rv == 0)
		rv = nng_http_req_copy_data(req, it->json, strlen(it->json));
	if (rv == 0)
		rv = nng_http_res_alloc(&res);
	if (rv == 0)
		rv = nng_aio_alloc(&aio, NULL, NULL);
	if (rv == 0) {
		nng_aio_set_timeout(aio, (nng_duration)s->timeout_ms);
		nng_http_client_transact(cli, req, res, aio);
		nng_aio_wait(aio);
		rv = nng_aio_result(aio);
	}
	int out = SL_OK;
	if (rv != 0) {
		snprintf(err, errlen, "webhook %s: %s", it->target, nng_strerror(rv));
		out = SL_ETRANSPORT;
	} else if (nng_http_res_get_status(res) / 100 != 2) {
		snprintf(err, errlen, "webhook %s answered %u %s", it->target,
		         nng_http_res_get_status(res), nng_http_res_get_reason(res));
		out = SL_EIO;
	}
	nng_aio_free(aio);
	nng_http_res_free(res);
	nng_http_req_free(req);
	nng_http_client_free(cli);
	nng_url_free(u);
	return out;
}

/* ---- exec (posix_spawn, JSON on stdin) ---- */

static int wait_child(pid_t pid, int64_t timeout_ms, int *status)
{
	int64_t deadline = clock_mono_ms() + timeout_ms;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return SL_OK;
		if (r < 0 && errno != EINTR)
			return SL_EIO;
		if (clock_mono_ms() >= deadline) {
			kill(-pid, SIGKILL); /* its process group: children too */
			waitpid(pid, status, 0);
			return SL_ETIMEDOUT;
		}
		clock_sleep_ms(10);
	}
}

static int exec_one(const settings *s, const item *it, const char *rcpt, char *err,
                    size_t errlen)
{
	int fds[2];
	if (pipe(fds) != 0) {
		snprintf(err, errlen, "exec %s: pipe: %s", it->target, strerror(errno));
		return SL_EIO;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	/* its own process group, so a timeout kills whatever it started */
	posix_spawnattr_t sa;
	posix_spawnattr_init(&sa);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&sa, 0);
	char *argv[] = {it->target, (char *)rcpt, NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, it->target, &fa, &sa, argv, environ);
	posix_spawnattr_destroy(&sa);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	if (rc != 0) {
		close(fds[1]);
		snprintf(err, errlen, "exec %s: %s", it->target, strerror(rc));
		return SL_EIO;
	}
	/* The JSON is small (well under a pipe buffer). A command that exits
	 * without reading it makes the write fail with EPIPE; the delivery
	 * thread blocks SIGPIPE, so the signal is only pending: take it. */
	if (write(fds[1], it->json, strlen(it->json)) < 0 && errno == EPIPE) {
		sigset_t pipe_set;
		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		struct timespec zero = {0, 0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	close(fds[1]);
	int status = 0;
	int rv = wait_child(pid, s->timeout_ms, &status);
	if (rv == SL_ETIMEDOUT)
		snprintf(err, errlen, "exec %s %s: killed after %lld ms", it->target,
		         rcpt, (long long)s->timeout_ms);
	else if (rv == SL_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		snprintf(err, errlen, "exec %s %s: %s %d", it->target, rcpt,
		         WIFEXITED(status) ? "exit status" : "killed by signal",
		         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		rv = SL_EIO;
	}
	return rv;
}

static int exec_deliver(const settings *s, const item *it, char *err, size_t errlen)
{
	for (size_t i = 0; i < it->nrcpt; i++) {
		int rv = exec_one(s, it, it->rcpt[i], err, errlen);
		if (rv != SL_OK)
			return rv;
	}
	return SL_OK;
}

static const notify_channel_ops channels[] = {
    [NOTIFY_EMAIL] = {.name = "email", .deliver = email_deliver},
    [NOTIFY_WEBHOOK] = {.name = "webhook", .deliver = webhook_deliver},
    [NOTIFY_EXEC] = {.name = "exec", .deliver = exec_deliver},
};

const char *notify_kind_name(notify_kind k)
{
	return (unsigned)k < sizeof(channels) / sizeof(channels[0]) ? channels[k].name
	                                                            : "unknown";
}

int notify_kind_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++)
		if (strcmp(s, channels[i].name) == 0)
			return (int)i;
	return -1;
}

/* ---- queue and delivery thread ---- */

static void item_free(item *it)
{
	for (size_t i = 0; i < it->nrcpt; i++)
		sl_free(it->rcpt[i]);
	sl_free(it->rcpt);
	sl_free(it->target);
	sl_free(it->subject);
	sl_free(it->json);
	sl_free(it);
}

/* A header line must not carry CR/LF (header injection) or other controls. */
static char *one_line(const char *s)
{
	char *o = sl_strdup(s ? s : "");
	for (char *p = o; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return o;
}

static bool bad_address(const char *a)
{
	if (a == NULL || a[0] == '\0' || strlen(a) > 254 || strchr(a, '@') == NULL)
		return true;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == '<' || *p == '>' || *p == 0x7f)
			return true;
	return false;
}

static int msg_check(const notify_msg *m, char *err, size_t errlen)
{
	if ((unsigned)m->kind > NOTIFY_EXEC)
		return snprintf(err, errlen, "unknown alert channel kind %d",
		                (int)m->kind),
		       SL_EINVAL;
	if (m->kind != NOTIFY_WEBHOOK && m->nrecipients == 0)
		return snprintf(err, errlen, "%s alert without recipients",
		                notify_kind_name(m->kind)),
		       SL_EINVAL;
	if (m->kind == NOTIFY_EMAIL)
		for (size_t i = 0; i < m->nrecipients; i++)
			if (bad_address(m->recipients[i]))
				return snprintf(err, errlen, "bad email address '%.100s'",
				                m->recipients[i] ? m->recipients[i] : ""),
				       SL_EINVAL;
	if (m->kind == NOTIFY_WEBHOOK &&
	    (m->target == NULL || (strncmp(m->target, "http://", 7) != 0 &&
	                           strncmp(m->target, "https://", 8) != 0)))
		return snprintf(err, errlen,
		                "webhook URL must start with http:// or https://"),
		       SL_EINVAL;
	if (m->kind == NOTIFY_EXEC && (m->target == NULL || m->target[0] != '/'))
		return snprintf(err, errlen, "exec command must be an absolute path"),
		       SL_EINVAL;
	return SL_OK;
}

int notify_send(notifier *n, const notify_msg *m, char *err, size_t errlen)
{
	int rv = msg_check(m, err, errlen);
	if (rv != SL_OK)
		return rv;
	item *it = sl_calloc(1, sizeof(*it));
	it->alert_id = m->alert_id;
	it->kind = m->kind;
	it->target = sl_strdup(m->target ? m->target : "");
	it->subject = one_line(m->subject);
	it->json = sl_strdup(m->json ? m->json : "{}");
	it->rcpt = sl_calloc(m->nrecipients + 1, sizeof(char *));
	for (size_t i = 0; i < m->nrecipients; i++)
		it->rcpt[i] = one_line(m->recipients[i]);
	it->nrcpt = m->nrecipients;
	it->due_ms = clock_mono_ms();
	pthread_mutex_lock(&n->mu);
	if (n->n == QUEUE_CAP || n->stopping) {
		pthread_mutex_unlock(&n->mu);
		item_free(it);
		snprintf(err, errlen, "alert queue full (%d alerts waiting)", QUEUE_CAP);
		return SL_EBUSY;
	}
	n->q[n->n++] = it;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	return SL_OK;
}

/* Index of the earliest due item; n->n > 0. Called with mu held. */
static size_t earliest(const notifier *n)
{
	size_t best = 0;
	for (size_t i = 1; i < n->n; i++)
		if (n->q[i]->due_ms < n->q[best]->due_ms)
			best = i;
	return best;
}

static item *take_due(notifier *n)
{
	pthread_mutex_lock(&n->mu);
	for (;;) {
		if (n->stopping) {
			pthread_mutex_unlock(&n->mu);
			return NULL;
		}
		if (n->n > 0) {
			size_t i = earliest(n);
			int64_t wait = n->q[i]->due_ms - clock_mono_ms();
			if (wait <= 0) {
				item *it = n->q[i];
				n->q[i] = n->q[--n->n];
				pthread_mutex_unlock(&n->mu);
				return it;
			}
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&n->cv, &n->mu, &ts);
		} else {
			pthread_cond_wait(&n->cv, &n->mu);
		}
	}
}

static void *delivery_main(void *arg)
{
	notifier *n = arg;
	item *it;
	sigset_t pipe_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
	while ((it = take_due(n)) != NULL) {
		char err[512] = "";
		int rv = channels[it->kind].deliver(&n->s, it, err, sizeof(err));
		it->attempts++;
		if (rv != SL_OK && it->attempts <= n->s.retries) {
			int64_t delay =
			    n->s.backoff_ms
			    << (it->attempts - 1 < 16 ? it->attempts - 1 : 16);
			log_warn(
			    "alert %llu (%s) attempt %d failed: %s; retrying in %lld ms",
			    (unsigned long long)it->alert_id, notify_kind_name(it->kind),
			    it->attempts, err, (long long)delay);
			it->due_ms = clock_mono_ms() + delay;
			pthread_mutex_lock(&n->mu);
			bool room = n->n < QUEUE_CAP;
			if (room)
				n->q[n->n++] = it;
			pthread_mutex_unlock(&n->mu);
			if (room)
				continue;
			snprintf(err + strlen(err), sizeof(err) - strlen(err),
			         " (no retry: alert queue full)");
		}
		n->done(n->arg, it->alert_id, it->kind, rv, it->attempts, err);
		item_free(it);
	}
	return NULL;
}

static int settings_load(settings *s, const sl_conf *c, char *err, size_t errlen)
{
	const char *host = conf_get_str(c, "sluice.alerts.smtp.host");
	snprintf(s->smtp_url, sizeof(s->smtp_url), "smtp://%s:%lld", host,
	         (long long)conf_get_int(c, "sluice.alerts.smtp.port"));
	snprintf(s->from, sizeof(s->from), "%s",
	         conf_get_str(c, "sluice.alerts.smtp.from"));
	const char *v = conf_get_str(c, "sluice.alerts.smtp.user");
	snprintf(s->user, sizeof(s->user), "%s", v ? v : "");
	v = conf_get_str(c, "sluice.alerts.smtp.password");
	snprintf(s->password, sizeof(s->password), "%s", v ? v : "");
	v = conf_get_str(c, "sluice.alerts.ca");
	snprintf(s->ca, sizeof(s->ca), "%s", v ? v : "");
	const char *tls = conf_get_str(c, "sluice.alerts.smtp.starttls");
	s->starttls = strcmp(tls, "required") == 0 ? (long)CURLUSESSL_ALL
	              : strcmp(tls, "try") == 0    ? (long)CURLUSESSL_TRY
	                                           : (long)CURLUSESSL_NONE;
	s->timeout_ms = conf_get_duration_ms(c, "sluice.alerts.timeout");
	s->backoff_ms = conf_get_duration_ms(c, "sluice.alerts.backoff");
	s->retries = (int)conf_get_int(c, "sluice.alerts.retries");
	if (bad_address(s->from)) {
		snprintf(err, errlen,
		         "sluice.alerts.smtp.from: '%s' is not an email address",
		         s->from);
		return SL_ECONFIG;
	}
	return SL_OK;
}

int notifier_new(notifier **out, const sl_conf *conf, notify_done_fn done, void *arg,
                 char *err, size_t errlen)
{
	notifier *n = sl_calloc(1, sizeof(*n));
	int rv = settings_load(&n->s, conf, err, errlen);
	if (rv != SL_OK) {
		sl_free(n);
		return rv;
	}
	n->done = done;
	n->arg = arg;
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&n->thread, NULL, delivery_main, n) != 0) {
		snprintf(err, errlen, "alert delivery thread: %s", strerror(errno));
		pthread_cond_destroy(&n->cv);
		pthread_mutex_destroy(&n->mu);
		sl_free(n);
		return SL_EIO;
	}
	*out = n;
	return SL_OK;
}

void notifier_free(notifier *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->mu);
	n->stopping = true;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	pthread_join(n->thread, NULL);
	for (size_t i = 0; i < n->n; i++) {
		n->done(n->arg, n->q[i]->alert_id, n->q[i]->kind, SL_ECANCELED,
		        n->q[i]->attempts, "stopping");
		item_free(n->q[i]);
	}
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	sl_free(n);
}
