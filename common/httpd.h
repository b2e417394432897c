/*
 * A small HTTP front on nng's HTTP server (nng/supplemental/http), shared by
 * the master (REST API, /metrics) and the worker (/metrics).
 *
 * One tree handler on "/" takes every request of every method and hands it
 * to a single application callback as a plain httpd_req; the callback fills
 * an httpd_res. Doing the routing in the application keeps every endpoint in
 * one table, lets an unknown path get a JSON 404 naming it instead of nng's
 * HTML page, and keeps nng's types out of the callers.
 *
 * Threads: the callback runs on one of nng's threads, possibly several at
 * once for concurrent connections; it must not block for long (take a lock
 * briefly, copy what it needs, answer). Bodies are capped at
 * HTTPD_MAX_BODY bytes before the callback sees them (nng answers 400).
 */
#ifndef SLUICE_HTTPD_H
#define SLUICE_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#define HTTPD_MAX_BODY (1u << 20)

typedef struct httpd httpd;

typedef struct {
	const char *method;        /* "GET", "POST", ... */
	const char *path;          /* URI path, without the query string */
	const char *query;         /* after '?', "" when none */
	const char *authorization; /* Authorization header, NULL when absent */
	const char *content_type;  /* NULL when absent */
	const uint8_t *body;       /* request body (not NUL-terminated) */
	size_t body_len;
} httpd_req;

typedef struct {
	int status;               /* default 200 */
	const char *content_type; /* static string; default application/json */
	char *body;               /* sl_malloc'd; freed by httpd */
	size_t len;
} httpd_res;

typedef void (*httpd_fn)(void *arg, const httpd_req *req, httpd_res *res);

/* Starts serving http://host:port (port 0 = any free port) and calls fn for
 * every request. Returns SL_OK, or an error with a message naming the
 * address in err (port in use, bad host). */
int httpd_start(httpd **out, const char *host, int port, httpd_fn fn, void *arg,
                char *err, size_t errlen);

/* Server-side TLS: PEM files of the server's certificate (chain) and key. */
typedef struct {
	const char *cert, *key;
} httpd_tls;

/* Largest PEM file httpd_start_tls reads. */
#define HTTPD_MAX_PEM (64u << 10)

/* httpd_start over HTTPS when tls is not NULL. A certificate or key that
 * cannot be read or used is refused with SL_ECONFIG naming the files. */
int httpd_start_tls(httpd **out, const char *host, int port, const httpd_tls *tls,
                    httpd_fn fn, void *arg, char *err, size_t errlen);

/* The port actually bound (useful after port 0). */
int httpd_port(const httpd *h);

/* Stops accepting, waits for running callbacks, frees. NULL is ignored. */
void httpd_stop(httpd *h);

/* Sets res to a JSON error {"error": "<message>"} with the given status. */
void httpd_error(httpd_res *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets res->body to a copy of text (len bytes) with the given type. */
void httpd_text(httpd_res *res, int status, const char *content_type, const char *text,
                size_t len);

/* The token of an "Authorization: Bearer TOKEN" header, or NULL. The
 * pointer is into req->authorization. */
const char *httpd_bearer(const httpd_req *req);

#endif
