/*
 * Unit tests for the RPC layer (common/rpc.c) over real loopback sockets.
 *
 * A server on tcp://127.0.0.1:0 answers MSG_PING with MSG_PONG and refuses
 * every other type with its own error code and text. The tests drive it with
 * rpc_client (synchronous and asynchronous calls, a wrong cluster secret, a
 * refused type, frames over the cap) and with a raw nng REQ socket (a frame
 * that is not an envelope), and check the transport policy of
 * rpc_check_url. Every test also checks that it leaves no allocation behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "envelope.h"
#include "msgtypes.h"
#include "rpc.h"
#include "sluice/err.h"
#include "cluster.pb-c.h"
#include "envelope.pb-c.h"

#define ERRLEN  512
#define MAX_MSG (64 * 1024)
/* Generous: the tests also run under valgrind. */
#define TIMEOUT_MS 10000

typedef struct {
	int64_t live; /* alloc_live() when the test started */
	auth_key key;
	rpc_opts srv_opts, cli_opts;
	rpc_server *srv;
	int port;
	char url[64];
	atomic_int handled;    /* requests the handler saw */
	atomic_int peer_ok;    /* ... with a 127.0.0.1:port peer */
	atomic_int bad_sender; /* ... whose sender was not "client" */
} fixture;

static int handler(void *arg, const envelope *req, rpc_reply *rep)
{
	fixture *f = arg;
	atomic_fetch_add(&f->handled, 1);
	if (strncmp(rep->peer, "127.0.0.1:", 10) == 0)
		atomic_fetch_add(&f->peer_ok, 1);
	if (strncmp(req->sender, "client", 6) != 0)
		atomic_fetch_add(&f->bad_sender, 1);
	if (req->type == MSG_PING) {
		Sluice__Ping *ping =
		    sluice__ping__unpack(NULL, req->payload_len, req->payload);
		if (ping == NULL)
			return rpc_reply_error(rep, SL_EPROTO, "malformed Ping");
		sluice__ping__free_unpacked(ping, NULL);
		Sluice__Pong p = SLUICE__PONG__INIT;
		p.role = "test";
		p.version = SLUICE_PROTOCOL_VERSION;
		rpc_reply_set(rep, MSG_PONG, &p);
		return SL_OK;
	}
	return rpc_reply_error(rep, SL_ESTATE, "test server does not serve %s",
	                       msg_type_name(req->type));
}

static void opts_init(rpc_opts *o, const auth_key *k, const char *identity)
{
	memset(o, 0, sizeof(*o));
	o->key = k;
	o->identity = identity;
	o->max_msg = MAX_MSG;
	o->timeout_ms = TIMEOUT_MS;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char err[ERRLEN];
	if (f == NULL)
		return -1;
	f->live = alloc_live();
	auth_key_set(&f->key, "rpc-unit-test-secret");
	opts_init(&f->srv_opts, &f->key, "master");
	opts_init(&f->cli_opts, &f->key, "client");
	if (rpc_server_start(&f->srv, "tcp://127.0.0.1:0", &f->srv_opts, handler, f,
	                     &f->port, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "server: %s\n", err);
		free(f);
		return -1;
	}
	if (f->port <= 0) {
		rpc_server_close(f->srv);
		free(f);
		return -1;
	}
	snprintf(f->url, sizeof(f->url), "tcp://127.0.0.1:%d", f->port);
	*state = f;
	return 0;
}

/* Waits (bounded) for the allocation count to settle back to n: an async
 * call frees its state just after its completion callback returns. */
static int64_t live_settled(int64_t n)
{
	int64_t deadline = clock_mono_ms() + 5000, live;
	while ((live = alloc_live()) != n && clock_mono_ms() < deadline)
		clock_sleep_ms(5);
	return live;
}

static int teardown(void **state)
{
	fixture *f = *state;
	rpc_server_close(f->srv);
	int64_t live = live_settled(f->live);
	int leaked = live != f->live;
	if (leaked)
		fprintf(stderr, "leak: %lld allocations left\n",
		        (long long)(live - f->live));
	free(f);
	return leaked ? -1 : 0;
}

static rpc_client *client_open(fixture *f, const rpc_opts *o)
{
	rpc_client *c = NULL;
	char err[ERRLEN] = "";
	int rv = rpc_client_open(&c, f->url, o, err, sizeof(err));
	if (rv != SL_OK)
		fail_msg("rpc_client_open %s: %s", f->url, err);
	assert_string_equal(rpc_client_url(c), f->url);
	return c;
}

static void check_pong(const envelope *rep)
{
	assert_int_equal(rep->type, MSG_PONG);
	assert_string_equal(rep->sender, "master");
	Sluice__Pong *p = sluice__pong__unpack(NULL, rep->payload_len, rep->payload);
	assert_non_null(p);
	assert_string_equal(p->role, "test");
	assert_int_equal(p->version, SLUICE_PROTOCOL_VERSION);
	sluice__pong__free_unpacked(p, NULL);
}

/* ---- calls ------------------------------------------------------------- */

static void test_sync_call(void **state)
{
	fixture *f = *state;
	rpc_client *c = client_open(f, &f->cli_opts);
	envelope rep;
	char err[ERRLEN] = "";
	Sluice__Ping ping = SLUICE__PING__INIT;
	for (int i = 0; i < 5; i++) {
		int rv = rpc_call_pb(c, MSG_PING, &ping, &rep, err, sizeof(err));
		if (rv != SL_OK)
			fail_msg("call %d: %s (%s)", i, sl_errname(rv), err);
		check_pong(&rep);
		envelope_release(&rep);
	}
	/* raw payload variant */
	assert_int_equal(rpc_call(c, MSG_PING, NULL, 0, &rep, err, sizeof(err)), SL_OK);
	check_pong(&rep);
	envelope_release(&rep);
	rpc_client_close(c);
	assert_int_equal(atomic_load(&f->handled), 6);
	assert_int_equal(atomic_load(&f->peer_ok), 6);
	assert_int_equal(atomic_load(&f->bad_sender), 0);
	assert_int_equal(rpc_server_refused(f->srv), 0);
}

typedef struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done, ok, calls;
	int rv;
	char err[ERRLEN];
} waiter;

static void waiter_init(waiter *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
}

static void waiter_destroy(waiter *w)
{
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
}

static void async_done(void *arg, int rv, const envelope *reply, const char *err)
{
	waiter *w = arg;
	int good = 0;
	if (rv == SL_OK && reply != NULL && reply->type == MSG_PONG) {
		Sluice__Pong *p =
		    sluice__pong__unpack(NULL, reply->payload_len, reply->payload);
		good = p != NULL && strcmp(p->role, "test") == 0;
		if (p)
			sluice__pong__free_unpacked(p, NULL);
	}
	pthread_mutex_lock(&w->lock);
	w->done++;
	w->ok += good;
	w->rv = rv;
	if (rv != SL_OK && reply != NULL)
		w->ok = -1000; /* reply must be NULL unless rv == SL_OK */
	snprintf(w->err, sizeof(w->err), "%s", err ? err : "");
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Waits until n completions have arrived or TIMEOUT_MS * 2 passed. */
static int waiter_wait(waiter *w, int n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2 * TIMEOUT_MS / 1000;
	pthread_mutex_lock(&w->lock);
	while (w->done < n)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0)
			break;
	int done = w->done;
	pthread_mutex_unlock(&w->lock);
	return done;
}

static void test_async_call(void **state)
{
	fixture *f = *state;
	rpc_client *c = client_open(f, &f->cli_opts);
	waiter w;
	waiter_init(&w);
	Sluice__Ping ping = SLUICE__PING__INIT;
	assert_int_equal(rpc_call_async(c, MSG_PING, &ping, async_done, &w), SL_OK);
	assert_int_equal(waiter_wait(&w, 1), 1);
	if (w.rv != SL_OK)
		fail_msg("async call: %s (%s)", sl_errname(w.rv), w.err);
	assert_int_equal(w.ok, 1);

	/* many at once, each completing exactly once */
	const int n = 40;
	for (int i = 0; i < n; i++)
		assert_int_equal(rpc_call_async(c, MSG_PING, &ping, async_done, &w),
		                 SL_OK);
	assert_int_equal(waiter_wait(&w, 1 + n), 1 + n);
	assert_int_equal(w.ok, 1 + n);
	clock_sleep_ms(50);
	assert_int_equal(w.done, 1 + n); /* and no more */
	/* only the server (with its replay cache: 3) and the client are left */
	assert_int_equal(live_settled(f->live + 4), f->live + 4);

	/* a refused type: the handler's code reaches the callback */
	Sluice__ListWorkers lw = SLUICE__LIST_WORKERS__INIT;
	assert_int_equal(rpc_call_async(c, MSG_LIST_WORKERS, &lw, async_done, &w), SL_OK);
	assert_int_equal(waiter_wait(&w, 2 + n), 2 + n);
	assert_int_equal(w.rv, SL_ESTATE);
	assert_string_equal(w.err, "test server does not serve MSG_LIST_WORKERS");
	assert_int_equal(w.ok, 1 + n);
	rpc_client_close(c);
	waiter_destroy(&w);
}

/* An already packed payload (a worker's task status): the call copies it,
 * so the caller may overwrite and free it at once. The payload is a valid
 * Ping (one unknown field) that the overwrite would make malformed. */
static void test_async_call_bytes(void **state)
{
	fixture *f = *state;
	rpc_client *c = client_open(f, &f->cli_opts);
	waiter w;
	waiter_init(&w);
	const uint8_t ping[] = {0x0a, 0x01, 'x'}; /* field 1, "x" */
	for (int i = 0; i < 3; i++) {
		uint8_t *buf = sl_malloc(sizeof(ping));
		memcpy(buf, ping, sizeof(ping));
		assert_int_equal(
		    rpc_call_async_bytes(c, MSG_PING, buf, sizeof(ping), async_done, &w),
		    SL_OK);
		memset(buf, 0xff, sizeof(ping));
		sl_free(buf);
	}
	assert_int_equal(waiter_wait(&w, 3), 3);
	if (w.rv != SL_OK)
		fail_msg("async call: %s (%s)", sl_errname(w.rv), w.err);
	assert_int_equal(w.ok, 3);
	/* what the overwrite would have sent is refused, so the check can fail */
	const uint8_t junk[] = {0xff, 0xff, 0xff};
	assert_int_equal(
	    rpc_call_async_bytes(c, MSG_PING, junk, sizeof(junk), async_done, &w), SL_OK);
	assert_int_equal(waiter_wait(&w, 4), 4);
	assert_int_equal(w.rv, SL_EPROTO);
	assert_string_equal(w.err, "malformed Ping");
	assert_int_equal(w.ok, 3);
	rpc_client_close(c);
	waiter_destroy(&w);
}

/* Closing a client with a call in flight: the callback still runs exactly
 * once, with an error, and nothing is touched after the client is freed. */
static void test_async_close_in_flight(void **state)
{
	fixture *f = *state;
	rpc_client *c = NULL;
	char err[ERRLEN];
	waiter w;
	waiter_init(&w);
	/* a port nobody listens on: the request waits for a connection */
	assert_int_equal(
	    rpc_client_open(&c, "tcp://127.0.0.1:1", &f->cli_opts, err, sizeof(err)),
	    SL_OK);
	Sluice__Ping ping = SLUICE__PING__INIT;
	for (int i = 0; i < 4; i++)
		assert_int_equal(rpc_call_async(c, MSG_PING, &ping, async_done, &w),
		                 SL_OK);
	rpc_client_close(c);
	assert_int_equal(waiter_wait(&w, 4), 4);
	assert_true(w.rv != SL_OK);
	assert_int_equal(w.ok, 0);
	clock_sleep_ms(50);
	assert_int_equal(w.done, 4);
	waiter_destroy(&w);
}

static void test_timeout(void **state)
{
	fixture *f = *state;
	rpc_client *c = NULL;
	rpc_opts o = f->cli_opts;
	char err[ERRLEN] = "";
	envelope rep;
	o.timeout_ms = 300;
	assert_int_equal(rpc_client_open(&c, "tcp://127.0.0.1:1", &o, err, sizeof(err)),
	                 SL_OK);
	int64_t t0 = clock_mono_ms();
	assert_int_equal(rpc_call(c, MSG_PING, NULL, 0, &rep, err, sizeof(err)),
	                 SL_ETIMEDOUT);
	int64_t took = clock_mono_ms() - t0;
	assert_true(took >= 250 && took < 5000);
	assert_non_null(strstr(err, "MSG_PING to tcp://127.0.0.1:1"));
	assert_null(rep.pb_);
	rpc_client_close(c);
}

/* ---- refusals ---------------------------------------------------------- */

static void test_wrong_key(void **state)
{
	fixture *f = *state;
	auth_key other;
	rpc_opts o = f->cli_opts;
	envelope rep;
	char err[ERRLEN] = "";
	assert_int_equal(auth_key_set(&other, "not-the-cluster-secret"), SL_OK);
	o.key = &other;
	rpc_client *c = client_open(f, &o);
	int rv = rpc_call(c, MSG_PING, NULL, 0, &rep, err, sizeof(err));
	assert_int_equal(rv, SL_EAUTH);
	assert_non_null(strstr(err, f->url));
	assert_non_null(strstr(err, "cluster secret"));
	assert_null(rep.pb_);
	rpc_client_close(c);
	assert_int_equal(rpc_server_refused(f->srv), 1);
	assert_int_equal(atomic_load(&f->handled), 0); /* the handler never saw it */

	/* the server keeps serving clients with the right key */
	c = client_open(f, &f->cli_opts);
	assert_int_equal(rpc_call(c, MSG_PING, NULL, 0, &rep, err, sizeof(err)), SL_OK);
	check_pong(&rep);
	envelope_release(&rep);
	rpc_client_close(c);
	assert_int_equal(rpc_server_refused(f->srv), 1);
}

static void test_handler_refuses(void **state)
{
	fixture *f = *state;
	rpc_client *c = client_open(f, &f->cli_opts);
	envelope rep;
	char err[ERRLEN] = "";
	Sluice__ListWorkers lw = SLUICE__LIST_WORKERS__INIT;
	assert_int_equal(rpc_call_pb(c, MSG_LIST_WORKERS, &lw, &rep, err, sizeof(err)),
	                 SL_ESTATE);
	assert_string_equal(err, "test server does not serve MSG_LIST_WORKERS");
	assert_null(rep.pb_);
	/* a refusal by the handler is not a refused frame */
	assert_int_equal(rpc_server_refused(f->srv), 0);
	assert_int_equal(atomic_load(&f->handled), 1);

	/* a type the client's role may not send never reaches the handler */
	assert_int_equal(rpc_call(c, MSG_HEARTBEAT, NULL, 0, &rep, err, sizeof(err)),
	                 SL_EAUTH);
	assert_non_null(strstr(err, "may not send MSG_HEARTBEAT"));
	assert_int_equal(atomic_load(&f->handled), 1);
	assert_int_equal(rpc_server_refused(f->srv), 1);

	/* an unknown type is refused by number */
	assert_int_equal(rpc_call(c, 999, NULL, 0, &rep, err, sizeof(err)),
	                 SL_EUNKNOWN_TYPE);
	assert_non_null(strstr(err, "unknown message type 999"));
	assert_int_equal(rpc_server_refused(f->srv), 2);
	rpc_client_close(c);
}

static void test_oversized(void **state)
{
	fixture *f = *state;
	rpc_opts o = f->cli_opts;
	envelope rep;
	char err[ERRLEN] = "";
	o.max_msg = 4 * MAX_MSG; /* so the client itself sends it */
	rpc_client *c = client_open(f, &o);

	/* over the cap but within nng's slack: refused with a reply */
	size_t n = MAX_MSG + 1024;
	uint8_t *big = calloc(1, n);
	assert_non_null(big);
	assert_int_equal(rpc_call(c, MSG_PING, big, n, &rep, err, sizeof(err)),
	                 SL_ETOOBIG);
	assert_non_null(strstr(err, "exceeds the limit of 65536 bytes"));
	assert_int_equal(rpc_server_refused(f->srv), 1);
	free(big);
	rpc_client_close(c);

	/* far over: nng drops the connection, so no reply at all; the request
	 * is not resent, so the caller sees the reset (or, if the close were
	 * missed, its timeout) */
	o.timeout_ms = 2000;
	c = client_open(f, &o);
	n = 3 * MAX_MSG;
	big = calloc(1, n);
	assert_non_null(big);
	int rv = rpc_call(c, MSG_PING, big, n, &rep, err, sizeof(err));
	if (rv != SL_ETRANSPORT && rv != SL_ETIMEDOUT)
		fail_msg("huge frame: expected no reply, got %s (%s)", sl_errname(rv),
		         err);
	assert_null(rep.pb_);
	free(big);
	rpc_client_close(c);
	assert_int_equal(rpc_server_refused(f->srv), 1); /* never unpacked */
	assert_int_equal(atomic_load(&f->handled), 0);

	/* and the server still answers */
	c = client_open(f, &f->cli_opts);
	assert_int_equal(rpc_call(c, MSG_PING, NULL, 0, &rep, err, sizeof(err)), SL_OK);
	envelope_release(&rep);
	rpc_client_close(c);
}

/* A raw REQ socket sends frames that are not envelopes. */
static void test_bad_frame_counted(void **state)
{
	fixture *f = *state;
	nng_socket s;
	nng_msg *m;
	envelope rep;
	char err[ERRLEN] = "";
	assert_int_equal(nng_req0_open(&s), 0);
	assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, TIMEOUT_MS), 0);
	assert_int_equal(nng_dial(s, f->url, NULL, 0), 0);
	assert_int_equal(rpc_server_refused(f->srv), 0);

	const char *frames[] = {"\xff\xff\xff\xff not an envelope", "", "\x08\x01"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(nng_send(s, (void *)frames[i], strlen(frames[i]), 0), 0);
		assert_int_equal(nng_recvmsg(s, &m, 0), 0);
		/* the reply is a signed MSG_ERROR */
		assert_int_equal(envelope_unpack(&f->key, nng_msg_body(m), nng_msg_len(m),
		                                 MAX_MSG, &rep, err, sizeof(err)),
		                 SL_OK);
		nng_msg_free(m);
		assert_int_equal(rep.type, MSG_ERROR);
		assert_true(rep.request_id == 0);
		int code = rpc_decode_error(&rep, err, sizeof(err));
		envelope_release(&rep);
		if (i == 0) {
			assert_int_equal(code, SL_EPROTO);
			assert_non_null(strstr(err, "malformed frame"));
		} else if (i == 1) {
			/* an empty frame decodes to all defaults: version 0 */
			assert_int_equal(code, SL_EVERSION);
			assert_non_null(strstr(err, "version 0"));
		} else {
			/* version 1 and nothing else: no MAC */
			assert_int_equal(code, SL_EAUTH);
			assert_non_null(strstr(err, "MAC"));
		}
		assert_int_equal(rpc_server_refused(f->srv), (uint64_t)i + 1);
	}
	nng_close(s);
	assert_int_equal(atomic_load(&f->handled), 0);
}

/* ---- transport policy -------------------------------------------------- */

static void expect_url(const char *url, const rpc_opts *o, int want, const char *sub)
{
	char err[ERRLEN] = "";
	int rv = rpc_check_url(url, o, err, sizeof(err));
	if (rv != want)
		fail_msg("%s: expected %s, got %s (%s)", url, sl_errname(want),
		         sl_errname(rv), err);
	if (sub != NULL && strstr(err, sub) == NULL)
		fail_msg("%s: message '%s' does not contain '%s'", url, err, sub);
}

static void test_check_url(void **state)
{
	fixture *f = *state;
	rpc_opts o = f->cli_opts;
	expect_url("tcp://127.0.0.1:7077", &o, SL_OK, NULL);
	/* a port is required, from 0 (listeners: any) to 65535 */
	expect_url("tcp://127.0.0.1", &o, SL_EINVAL, "has no port");
	expect_url("tcp://127.0.0.1:", &o, SL_EINVAL, "has no port");
	expect_url("tcp://127.0.0.1:99999", &o, SL_EINVAL, "from 0 to 65535");
	expect_url("tcp://127.0.0.1:-1", &o, SL_EINVAL, "from 0 to 65535");
	expect_url("tcp://127.0.0.1:80x", &o, SL_EINVAL, "from 0 to 65535");
	expect_url("tls+tcp://[::1]:123456", &o, SL_EINVAL, "from 0 to 65535");
	expect_url("tcp://127.0.0.1:65535", &o, SL_OK, NULL);
	expect_url("tcp://127.1.2.3:0", &o, SL_OK, NULL);
	expect_url("tcp://localhost:7077", &o, SL_OK, NULL);
	expect_url("tcp://[::1]:7077", &o, SL_OK, NULL);
	expect_url("tcp://10.1.2.3:7077", &o, SL_EINSECURE, "'10.1.2.3'");
	expect_url("tcp://10.1.2.3:7077", &o, SL_EINSECURE, "sluice.transport.insecure");
	expect_url("tcp://0.0.0.0:7077", &o, SL_EINSECURE, NULL);
	expect_url("tcp://[2001:db8::1]:7077", &o, SL_EINSECURE, "'2001:db8::1'");
	expect_url("tcp://example.com:7077", &o, SL_EINSECURE, NULL);
	expect_url("tcp://127.0.0.1.example.com:7077", &o, SL_EINSECURE, NULL);
	expect_url("tls+tcp://10.1.2.3:7077", &o, SL_ECONFIG, "sluice.tls.cert");
	o.tls_cert = "/nonexistent/cert.pem";
	o.tls_key = "/nonexistent/key.pem";
	expect_url("tls+tcp://10.1.2.3:7077", &o, SL_ECONFIG, NULL); /* no CA */
	o.tls_ca = "/nonexistent/ca.pem";
	expect_url("tls+tcp://10.1.2.3:7077", &o, SL_OK, NULL);
	expect_url("ftp://127.0.0.1:21", &o, SL_EINVAL,
	           "unsupported URL 'ftp://127.0.0.1:21'");
	expect_url("127.0.0.1:7077", &o, SL_EINVAL, NULL);
	expect_url("ipc:///tmp/sluice.sock", &o, SL_OK, NULL);
	expect_url("inproc://sluice", &o, SL_OK, NULL);
	o.insecure = true;
	expect_url("tcp://10.1.2.3:7077", &o, SL_OK, NULL);
	expect_url("ftp://10.1.2.3:21", &o, SL_EINVAL, NULL);

	/* both ends apply the policy */
	rpc_server *s = NULL;
	rpc_client *c = NULL;
	char err[ERRLEN];
	assert_int_equal(rpc_server_start(&s, "tcp://10.1.2.3:0", &f->srv_opts, handler,
	                                  f, NULL, err, sizeof(err)),
	                 SL_EINSECURE);
	assert_null(s);
	assert_int_equal(
	    rpc_client_open(&c, "tcp://10.1.2.3:7077", &f->cli_opts, err, sizeof(err)),
	    SL_EINSECURE);
	assert_null(c);
	assert_int_equal(rpc_server_start(&s, "tls+tcp://127.0.0.1:0", &f->srv_opts,
	                                  handler, f, NULL, err, sizeof(err)),
	                 SL_ECONFIG);
	assert_int_equal(
	    rpc_client_open(&c, "ftp://127.0.0.1:21", &f->cli_opts, err, sizeof(err)),
	    SL_EINVAL);
	/* TLS files that do not exist are refused with their names */
	rpc_opts t = f->srv_opts;
	t.tls_cert = "/nonexistent/cert.pem";
	t.tls_key = "/nonexistent/key.pem";
	t.tls_ca = "/nonexistent/ca.pem";
	assert_int_equal(rpc_server_start(&s, "tls+tcp://127.0.0.1:0", &t, handler, f,
	                                  NULL, err, sizeof(err)),
	                 SL_ECONFIG);
	assert_non_null(strstr(err, "/nonexistent/cert.pem"));
}

/* A server on ipc:// works like one on tcp://. */
static void test_ipc(void **state)
{
	fixture *f = *state;
	rpc_server *s = NULL;
	rpc_client *c = NULL;
	char err[ERRLEN] = "", url[96];
	envelope rep;
	snprintf(url, sizeof(url), "ipc:///tmp/sluice-test-rpc-%d.sock", (int)getpid());
	if (rpc_server_start(&s, url, &f->srv_opts, handler, f, NULL, err, sizeof(err)) !=
	    SL_OK)
		fail_msg("ipc server: %s", err);
	assert_int_equal(rpc_client_open(&c, url, &f->cli_opts, err, sizeof(err)), SL_OK);
	assert_int_equal(rpc_call(c, MSG_PING, NULL, 0, &rep, err, sizeof(err)), SL_OK);
	check_pong(&rep);
	envelope_release(&rep);
	rpc_client_close(c);
	rpc_server_close(s);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_sync_call),
	    T(test_async_call),
	    T(test_async_call_bytes),
	    T(test_async_close_in_flight),
	    T(test_timeout),
	    T(test_wrong_key),
	    T(test_handler_refuses),
	    T(test_oversized),
	    T(test_bad_frame_counted),
	    T(test_check_url),
	    T(test_ipc),
	};
#undef T
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	/* nng closes pipes and dialers on its own threads after nng_close
	 * returns; finishing the library reaps them before LeakSanitizer
	 * looks at the heap (CI saw a dialer's pipe reported as leaked). */
	nng_fini();
	return failed;
}
