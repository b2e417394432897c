/*
 * HTTP front on nng's HTTP server: see httpd.h.
 *
 * nng may still be inside our handler when the application stops the
 * server, and the handler's data (this httpd) must outlive every call, so
 * calls are counted under a mutex and httpd_stop waits for the count to
 * reach zero after nng has stopped accepting (nng's own reaping of the
 * handler happens after that, with no reference to us left). A request
 * that nng has dispatched but whose callback has not yet reached the counter
 * when httpd_stop runs is the one window left: stop the server only when the
 * process is shutting down.
 */
#include "httpd.h"

#include "alloc.h"
#include "log.h"
#include "sluice/err.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct httpd {
	nng_http_server *srv;
	nng_http_handler *handler;
	httpd_fn fn;
	void *arg;
	int port;
	pthread_mutex_t mu;
	pthread_cond_t idle;
	int inflight;
	bool closing;
	bool started;
};

void httpd_text(httpd_res *res, int status, const char *content_type, const char *text,
                size_t len)
{
	sl_free(res->body);
	res->status = status;
	res->content_type = content_type;
	res->body = sl_malloc(len + 1);
	memcpy(res->body, text, len);
	res->body[len] = '\0';
	res->len = len;
}

void httpd_error(httpd_res *res, int status, const char *fmt, ...)
{
	char msg[512], clean[1100], out[2300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Messages name what the client sent (a key, a path): bytes that are
	 * not valid UTF-8 (or a character the cut above split) become \xNN
	 * text, so the body is always valid JSON (log_escape). */
	log_escape(clean, sizeof(clean), msg, strlen(msg));
	/* a JSON string: escape quotes, backslashes and control characters */
	size_t n = 0;
	n += (size_t)snprintf(out, sizeof(out), "{\"error\":\"");
	for (const char *p = clean; *p && n + 8 < sizeof(out); p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			n += (size_t)snprintf(out + n, sizeof(out) - n, "\\%c", c);
		else if (c < 0x20)
			n += (size_t)snprintf(out + n, sizeof(out) - n, "\\u%04x", c);
		else
			out[n++] = (char)c;
	}
	n += (size_t)snprintf(out + n, sizeof(out) - n, "\"}\n");
	httpd_text(res, status, "application/json", out, n);
}

const char *httpd_bearer(const httpd_req *req)
{
	const char *a = req->authorization;
	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return NULL;
	a += 7;
	while (*a == ' ')
		a++;
	return *a ? a : NULL;
}

static bool call_begin(httpd *h)
{
	pthread_mutex_lock(&h->mu);
	bool ok = !h->closing;
	if (ok)
		h->inflight++;
	pthread_mutex_unlock(&h->mu);
	return ok;
}

static void call_end(httpd *h)
{
	pthread_mutex_lock(&h->mu);
	if (--h->inflight == 0)
		pthread_cond_broadcast(&h->idle);
	pthread_mutex_unlock(&h->mu);
}

/* Runs the application callback on a request; fills r. */
static void dispatch(httpd *h, nng_http_req *req, httpd_res *r)
{
	const char *uri = nng_http_req_get_uri(req);
	char path[1024];
	const char *q = strchr(uri, '?');
	size_t plen = q ? (size_t)(q - uri) : strlen(uri);
	if (plen >= sizeof(path)) {
		httpd_error(r, 414, "request path longer than %zu bytes",
		            sizeof(path) - 1);
		return;
	}
	memcpy(path, uri, plen);
	path[plen] = '\0';
	void *body = NULL;
	size_t blen = 0;
	nng_http_req_get_data(req, &body, &blen);
	httpd_req in = {
	    .method = nng_http_req_get_method(req),
	    .path = path,
	    .query = q ? q + 1 : "",
	    .authorization = nng_http_req_get_header(req, "Authorization"),
	    .content_type = nng_http_req_get_header(req, "Content-Type"),
	    .body = body,
	    .body_len = blen,
	};
	h->fn(h->arg, &in, r);
	if (r->body == NULL)
		httpd_text(r, r->status ? r->status : 204, "text/plain", "", 0);
}

static void on_request(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *hh = nng_aio_get_input(aio, 1);
	httpd *h = nng_http_handler_get_data(hh);
	httpd_res r = {.status = 200, .content_type = "application/json"};
	if (call_begin(h)) {
		dispatch(h, req, &r);
		call_end(h);
	} else {
		httpd_error(&r, 503, "server is stopping");
	}
	nng_http_res *res = NULL;
	int rv = nng_http_res_alloc(&res);
	if (rv == 0)
		rv = nng_http_res_set_status(res, (uint16_t)r.status);
	if (rv == 0)
		rv = nng_http_res_set_header(res, "Content-Type", r.content_type);
	if (rv == 0)
		rv = nng_http_res_copy_data(res, r.body, r.len);
	sl_free(r.body);
	if (rv != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

/* Reads a (small) PEM file into a NUL-terminated string; NULL if it cannot. */
static char *read_pem(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	char *buf = sl_malloc(HTTPD_MAX_PEM + 1);
	size_t n = fread(buf, 1, HTTPD_MAX_PEM, f);
	bool whole = feof(f) && !ferror(f);
	fclose(f);
	buf[n] = '\0';
	if (!whole || n == 0) {
		sl_free(buf);
		return NULL;
	}
	return buf;
}

/* Gives the server its certificate and key (server-side TLS: clients are
 * not asked for one). */
static int setup_tls(httpd *h, const httpd_tls *tls, char *err, size_t errlen)
{
	char *cert = read_pem(tls->cert), *key = read_pem(tls->key);
	nng_tls_config *cfg = NULL;
	int rv = cert && key ? nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER) : -1;
	if (rv == 0)
		rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
	if (rv == 0)
		rv = nng_http_server_set_tls(h->srv, cfg);
	if (rv != 0)
		snprintf(err, errlen, "HTTPS certificate %.300s / key %.300s: %s",
		         tls->cert, tls->key,
		         rv < 0 ? "cannot read them (PEM files)" : nng_strerror(rv));
	if (cfg != NULL)
		nng_tls_config_free(cfg); /* the server holds its own reference */
	sl_free(cert);
	sl_free(key);
	return rv == 0 ? SL_OK : SL_ECONFIG;
}

static int setup(httpd *h, const char *host, int port, const httpd_tls *tls, char *err,
                 size_t errlen)
{
	char url[300];
	snprintf(url, sizeof(url), "%s://%s:%d", tls ? "https" : "http", host, port);
	nng_url *u = NULL;
	int rv = nng_url_parse(&u, url);
	if (rv == 0)
		rv = nng_http_server_hold(&h->srv, u);
	nng_url_free(u);
	if (rv == 0 && tls != NULL && setup_tls(h, tls, err, errlen) != SL_OK)
		return SL_ECONFIG;
	if (rv == 0)
		rv = nng_http_handler_alloc(&h->handler, "/", on_request);
	if (rv == 0)
		rv = nng_http_handler_set_method(h->handler, NULL);
	if (rv == 0)
		rv = nng_http_handler_set_tree(h->handler);
	if (rv == 0)
		rv = nng_http_handler_collect_body(h->handler, true, HTTPD_MAX_BODY);
	if (rv == 0)
		rv = nng_http_handler_set_data(h->handler, h, NULL);
	if (rv == 0) {
		rv = nng_http_server_add_handler(h->srv, h->handler);
		if (rv == 0)
			h->handler = NULL; /* the server owns it now */
	}
	if (rv == 0)
		rv = nng_http_server_start(h->srv);
	h->started = rv == 0;
	nng_sockaddr sa;
	h->port = port;
	if (rv == 0 && nng_http_server_get_addr(h->srv, &sa) == 0) {
		if (sa.s_family == NNG_AF_INET)
			h->port = ntohs(sa.s_in.sa_port);
		else if (sa.s_family == NNG_AF_INET6)
			h->port = ntohs(sa.s_in6.sa_port);
	}
	if (rv != 0)
		snprintf(err, errlen, "HTTP server on %s: %s", url, nng_strerror(rv));
	return rv == 0 ? SL_OK : SL_ETRANSPORT;
}

int httpd_start(httpd **out, const char *host, int port, httpd_fn fn, void *arg,
                char *err, size_t errlen)
{
	return httpd_start_tls(out, host, port, NULL, fn, arg, err, errlen);
}

int httpd_start_tls(httpd **out, const char *host, int port, const httpd_tls *tls,
                    httpd_fn fn, void *arg, char *err, size_t errlen)
{
	httpd *h = sl_calloc(1, sizeof(*h));
	h->fn = fn;
	h->arg = arg;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->idle, NULL);
	int rv = setup(h, host, port, tls, err, errlen);
	if (rv != SL_OK) {
		if (h->handler != NULL)
			nng_http_handler_free(h->handler);
		h->handler = NULL;
		httpd_stop(h);
		return rv;
	}
	*out = h;
	return SL_OK;
}

int httpd_port(const httpd *h)
{
	return h->port;
}

void httpd_stop(httpd *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mu);
	h->closing = true;
	pthread_mutex_unlock(&h->mu);
	if (h->started)
		nng_http_server_stop(h->srv);
	pthread_mutex_lock(&h->mu);
	while (h->inflight > 0)
		pthread_cond_wait(&h->idle, &h->mu);
	pthread_mutex_unlock(&h->mu);
	if (h->srv != NULL)
		nng_http_server_release(h->srv);
	pthread_cond_destroy(&h->idle);
	pthread_mutex_destroy(&h->mu);
	sl_free(h);
}
