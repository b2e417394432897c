/*
 * RPC over nng REQ/REP: see rpc.h.
 *
 * Server: a REP socket with RPC_SERVER_CTXS contexts; each context is one
 * state machine (RECV -> handle -> SEND -> RECV) driven by its aio callback,
 * in the manner of nng's demo/async server. Handlers run inside that
 * callback, so they are short by contract.
 *
 * Client: a REQ socket with a non-blocking dialer that reconnects on its
 * own. A synchronous call opens a context, sends, receives and closes it; an
 * asynchronous call owns a context and an aio that it reaps (nng_aio_reap)
 * from its own completion, never freeing the aio inside the callback.
 */
#include "rpc.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "msgtypes.h"
#include "replay.h"
#include "sluice/err.h"
#include "envelope.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RPC_SERVER_CTXS 16
#define RPC_NNG_SLACK   (64 * 1024)
/* Frames a server remembers for replay detection (replay.h): a table of at
 * most 512 Ki slots of 24 bytes (12 MiB), half full at most, which holds a
 * sustained ~870 requests/s over the 5 minutes a frame stays fresh before
 * the floor starts rising. */
#define RPC_REPLAY_MAX (256 * 1024)

/* Request ids start at a random point per process, so two processes that
 * share a sender name (every client is "client") never produce the same
 * frame and the replay cache never mistakes one for the other. */
static atomic_uint_fast64_t rpc_next_id;
static pthread_once_t rpc_id_once = PTHREAD_ONCE_INIT;

static void rpc_id_seed(void)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)clock_wall_ms() << 20 ^ (uint64_t)clock_mono_ns();
	atomic_store(&rpc_next_id, seed >> 1);
}

static uint64_t rpc_request_id(void)
{
	pthread_once(&rpc_id_once, rpc_id_seed);
	return atomic_fetch_add(&rpc_next_id, 1);
}
static atomic_int rpc_inflight;

/* ---- transport policy ---- */

static void url_host(const char *url, char *host, size_t hostlen)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	if (*p == '[') {
		const char *e = strchr(p, ']');
		size_t n = e ? (size_t)(e - p - 1) : strlen(p);
		snprintf(host, hostlen, "%.*s", (int)n, p + 1);
		return;
	}
	size_t n = strcspn(p, ":/");
	snprintf(host, hostlen, "%.*s", (int)n, p);
}

static bool host_is_loopback(const char *h)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (strcmp(h, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* The port of a tcp:// or tls+tcp:// URL: digits after the host, 0..65535
 * (0: any free port, for listeners). nng would refuse the rest only when
 * dialing, in the background, which looks like a timeout. */
static int url_port_check(const char *url, char *err, size_t errlen)
{
	const char *p = strstr(url, "://") + 3;
	if (*p == '[')
		p = strchr(p, ']') ? strchr(p, ']') + 1 : p + strlen(p);
	else
		p += strcspn(p, ":/");
	if (*p != ':' || p[1] == '\0') {
		snprintf(err, errlen, "URL '%s' has no port: use HOST:PORT", url);
		return SL_EINVAL;
	}
	char *end;
	errno = 0;
	long port = strtol(p + 1, &end, 10);
	if (!(p[1] >= '0' && p[1] <= '9') || errno != 0 ||
	    (*end != '\0' && *end != '/') || port > 65535) {
		snprintf(err, errlen, "URL '%s': port must be a number from 0 to 65535",
		         url);
		return SL_EINVAL;
	}
	return SL_OK;
}

int rpc_check_url(const char *url, const rpc_opts *o, char *err, size_t errlen)
{
	char host[256];
	if (strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0)
		return SL_OK;
	url_host(url, host, sizeof(host));
	if ((strncmp(url, "tls+tcp://", 10) == 0 || strncmp(url, "tcp://", 6) == 0) &&
	    url_port_check(url, err, errlen) != SL_OK)
		return SL_EINVAL;
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		if (o->tls_cert == NULL || o->tls_key == NULL || o->tls_ca == NULL) {
			snprintf(err, errlen,
			         "%s needs sluice.tls.cert, sluice.tls.key and "
			         "sluice.tls.ca for mutual TLS",
			         url);
			return SL_ECONFIG;
		}
		return SL_OK;
	}
	if (strncmp(url, "tcp://", 6) != 0) {
		snprintf(err, errlen,
		         "unsupported URL '%s': use tcp://, tls+tcp:// or ipc://", url);
		return SL_EINVAL;
	}
	if (!host_is_loopback(host) && !o->insecure) {
		snprintf(err, errlen,
		         "plain tcp:// to non-loopback address '%s' refused: use "
		         "tls+tcp:// or set sluice.transport.insecure=true",
		         host);
		return SL_EINSECURE;
	}
	return SL_OK;
}

/* The credential our identity signs with; refuses a process whose
 * credential file is for another role (a worker secret given to the
 * client, a client token given to a worker). */
static int own_cred(const rpc_opts *o, auth_cred *cred, char *err, size_t errlen)
{
	int c = auth_cred_for_sender(o->key, o->identity);
	if (c >= 0) {
		*cred = (auth_cred)c;
		return SL_OK;
	}
	bool client = msg_sender_role(o->identity) & ROLE_LOOK;
	snprintf(err, errlen,
	         "our credential cannot act as '%s': %s needs %s (see docs/security.md)",
	         o->identity, client ? "a client" : "a master or worker",
	         client ? "an operator or reader token (operator.token, reader.token) "
	                  "or the cluster secret"
	                : "the worker secret (worker.secret) or the cluster secret");
	return SL_EAUTH;
}

static char *file_slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = sl_malloc(cap);
	size_t n;
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2)
			buf = sl_realloc(buf, cap *= 2);
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* Builds an nng TLS config for mutual TLS; server_name only for clients. */
static int tls_config_make(const rpc_opts *o, bool server, const char *server_name,
                           nng_tls_config **out, char *err, size_t errlen)
{
	nng_tls_config *cfg = NULL;
	char *cert = file_slurp(o->tls_cert), *key = file_slurp(o->tls_key);
	int rv = SL_ECONFIG, nrv = 0;
	if (cert == NULL || key == NULL) {
		snprintf(err, errlen, "cannot read TLS certificate %s or key %s",
		         o->tls_cert, o->tls_key);
		goto done;
	}
	if ((nrv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER
	                                             : NNG_TLS_MODE_CLIENT)) != 0 ||
	    (nrv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0 ||
	    (nrv = nng_tls_config_ca_file(cfg, o->tls_ca)) != 0 ||
	    (nrv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)) != 0 ||
	    (server_name && (nrv = nng_tls_config_server_name(cfg, server_name)) != 0)) {
		snprintf(err, errlen, "TLS configuration (cert %s, CA %s): %s",
		         o->tls_cert, o->tls_ca, nng_strerror(nrv));
		if (cfg)
			nng_tls_config_free(cfg);
		cfg = NULL;
		goto done;
	}
	rv = SL_OK;
done:
	sl_free(cert);
	sl_free(key);
	*out = cfg;
	return rv;
}

static int map_nng(int nrv)
{
	switch (nrv) {
	case 0:
		return SL_OK;
	case NNG_ETIMEDOUT:
		return SL_ETIMEDOUT;
	case NNG_ECLOSED:
		return SL_ECLOSED;
	case NNG_ENOMEM:
		return SL_ENOMEM;
	case NNG_ECANCELED:
		return SL_ECANCELED;
	default:
		return SL_ETRANSPORT;
	}
}

/* ---- server ---- */

typedef enum { CTX_RECV, CTX_SEND } ctx_state;

typedef struct {
	struct rpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	ctx_state state;
} srv_ctx;

/* Failed TLS handshakes on a listener. nng 1.5.2 drops such a connection
 * inside its TLS transport, before any pipe exists, so neither pipe
 * notifications nor the TLS configuration can report it, and the peer's
 * address is not kept anywhere we can read. What nng does keep are the
 * listener's error counters (statistics "auth": peer authentication or TLS
 * failures, "proto": not SP after the handshake, "disconnect": reset during
 * the handshake); the server reads them every RPC_TLS_WATCH_MS on an nng
 * timer and logs each increase with the listener's URL and the reason. */
#define RPC_TLS_WATCH_MS 1000

typedef struct {
	const char *stat;
	const char *reason;
} tls_counter;

static const tls_counter tls_counters[] = {
    {"auth", "TLS handshake refused: peer certificate missing, expired, not from "
             "the cluster CA, or our certificate refused by the peer"},
    {"proto", "not an SP peer after the TLS handshake"},
    {"disconnect", "connection reset during the TLS handshake (e.g. the peer "
                   "refused our certificate)"},
};
#define TLS_NCOUNTERS (sizeof(tls_counters) / sizeof(tls_counters[0]))

struct rpc_server {
	nng_socket sock;
	nng_listener listener;
	nng_tls_config *tls;
	nng_aio *tls_watch;
	uint64_t tls_seen[TLS_NCOUNTERS];
	char url[256];
	rpc_opts opts;
	rpc_handler handler;
	void *arg;
	atomic_uint_fast64_t refused;
	replay_cache *seen;
	srv_ctx ctxs[RPC_SERVER_CTXS];
};

static void peer_name(nng_msg *msg, char *out, size_t outlen)
{
	nng_sockaddr sa;
	nng_pipe p = nng_msg_get_pipe(msg);
	snprintf(out, outlen, "?");
	if (nng_pipe_id(p) < 0 || nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	char ip[INET6_ADDRSTRLEN];
	if (sa.s_family == NNG_AF_INET) {
		inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
		snprintf(out, outlen, "%s:%u", ip, ntohs(sa.s_in.sa_port));
	} else if (sa.s_family == NNG_AF_INET6) {
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
		snprintf(out, outlen, "[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
	} else if (sa.s_family == NNG_AF_IPC) {
		snprintf(out, outlen, "ipc");
	}
}

static uint8_t *error_payload(int code, const char *msg, size_t *len)
{
	Sluice__ErrorReply er = SLUICE__ERROR_REPLY__INIT;
	er.code = code;
	er.message = (char *)msg;
	*len = sluice__error_reply__get_packed_size(&er);
	uint8_t *buf = sl_malloc(*len);
	sluice__error_reply__pack(&er, buf);
	return buf;
}

/* Refuses a verified frame this server has accepted before (replay.h). */
static int srv_check_replay(rpc_server *s, envelope *env, char *err, size_t errlen)
{
	char why[256];
	int rv = replay_check(s->seen, env->mac, env->timestamp_ms, clock_wall_ms(), why,
	                      sizeof(why));
	if (rv == SL_OK)
		return SL_OK;
	snprintf(err, errlen, "%s from '%s' (request %llu): %s", msg_type_name(env->type),
	         env->sender, (unsigned long long)env->request_id, why);
	envelope_release(env);
	return rv;
}

/* Verifies and dispatches one request frame; returns the reply frame. */
static nng_msg *srv_handle(rpc_server *s, nng_msg *in)
{
	envelope env;
	rpc_reply rep;
	char err[512];
	uint8_t *frame = NULL;
	size_t frame_len = 0;
	memset(&rep, 0, sizeof(rep));
	peer_name(in, rep.peer, sizeof(rep.peer));
	int rv = envelope_unpack(s->opts.key, nng_msg_body(in), nng_msg_len(in),
	                         s->opts.max_msg, &env, err, sizeof(err));
	uint64_t rid = env.request_id;
	int cred = env.cred;
	if (cred < 0)
		cred =
		    envelope_reply_cred(s->opts.key, nng_msg_body(in), nng_msg_len(in));
	if (rv == SL_OK)
		rv = srv_check_replay(s, &env, err, sizeof(err));
	if (rv != SL_OK) {
		atomic_fetch_add(&s->refused, 1);
		log_warn("refused message from %s: %s", rep.peer, err);
		rep.payload = error_payload(rv, err, &rep.payload_len);
		rep.type = MSG_ERROR;
	} else {
		rv = s->handler(s->arg, &env, &rep);
		envelope_release(&env);
		if (rv != SL_OK) {
			sl_free(rep.payload);
			rep.payload = error_payload(
			    rv, rep.errmsg[0] ? rep.errmsg : sl_strerror(rv),
			    &rep.payload_len);
			rep.type = MSG_ERROR;
		}
	}
	/* answer with the credential the request was signed with, so that a
	 * client, which holds only its own, can verify the answer */
	if (cred >= 0)
		envelope_pack_cred(s->opts.key, (auth_cred)cred, rep.type, rid,
		                   s->opts.identity, rep.payload, rep.payload_len, &frame,
		                   &frame_len);
	else
		envelope_pack(s->opts.key, rep.type, rid, s->opts.identity, rep.payload,
		              rep.payload_len, &frame, &frame_len);
	sl_free(rep.payload);
	nng_msg *out = in;
	nng_msg_clear(out);
	nng_msg_append(out, frame, frame_len);
	sl_free(frame);
	return out;
}

static void srv_ctx_cb(void *arg)
{
	srv_ctx *c = arg;
	int rv = nng_aio_result(c->aio);
	if (c->state == CTX_SEND) {
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		c->state = CTX_RECV;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	if (rv != 0) {
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	nng_msg *out = srv_handle(c->srv, nng_aio_get_msg(c->aio));
	nng_aio_set_msg(c->aio, out);
	c->state = CTX_SEND;
	nng_ctx_send(c->ctx, c->aio);
}

/* Logs the failed TLS handshakes counted since the last look. */
static void srv_tls_check(rpc_server *s)
{
	nng_stat *all = NULL;
	if (nng_stats_get(&all) != 0)
		return;
	nng_stat *l = nng_stat_find_listener(all, s->listener);
	for (size_t i = 0; l != NULL && i < TLS_NCOUNTERS; i++) {
		nng_stat *st = nng_stat_find(l, tls_counters[i].stat);
		uint64_t v = st ? nng_stat_value(st) : 0;
		if (v > s->tls_seen[i])
			log_warn(
			    "refused TLS connection on %s: %llu failed handshake(s): %s "
			    "(peer address not available from nng 1.5)",
			    s->url, (unsigned long long)(v - s->tls_seen[i]),
			    tls_counters[i].reason);
		s->tls_seen[i] = v;
	}
	nng_stats_free(all);
}

static void srv_tls_watch_cb(void *arg)
{
	rpc_server *s = arg;
	if (nng_aio_result(s->tls_watch) != 0)
		return; /* stopped by rpc_server_close */
	srv_tls_check(s);
	nng_sleep_aio(RPC_TLS_WATCH_MS, s->tls_watch);
}

static int srv_listen(rpc_server *s, const char *url, int *port_out, char *err,
                      size_t errlen)
{
	int nrv = nng_listener_create(&s->listener, s->sock, url);
	if (nrv != 0)
		goto fail;
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		int rv = tls_config_make(&s->opts, true, NULL, &s->tls, err, errlen);
		if (rv != SL_OK)
			return rv;
		if ((nrv = nng_listener_set_ptr(s->listener, NNG_OPT_TLS_CONFIG,
		                                s->tls)) != 0)
			goto fail;
	}
	if ((nrv = nng_listener_start(s->listener, 0)) != 0)
		goto fail;
	if (s->tls != NULL && nng_aio_alloc(&s->tls_watch, srv_tls_watch_cb, s) == 0)
		nng_sleep_aio(RPC_TLS_WATCH_MS, s->tls_watch);
	if (port_out != NULL && strstr(url, "tcp://") != NULL) {
		int port = 0;
		nng_listener_get_int(s->listener, NNG_OPT_TCP_BOUND_PORT, &port);
		*port_out = port;
	}
	return SL_OK;
fail:
	snprintf(err, errlen, "cannot listen on %s: %s", url, nng_strerror(nrv));
	return SL_ETRANSPORT;
}

int rpc_server_start(rpc_server **out, const char *url, const rpc_opts *o, rpc_handler h,
                     void *arg, int *port_out, char *err, size_t errlen)
{
	auth_cred cred;
	int rv = rpc_check_url(url, o, err, errlen);
	if (rv == SL_OK)
		rv = own_cred(o, &cred, err, errlen);
	if (rv != SL_OK)
		return rv;
	rpc_server *s = sl_calloc(1, sizeof(*s));
	s->opts = *o;
	snprintf(s->url, sizeof(s->url), "%s", url);
	s->handler = h;
	s->arg = arg;
	s->seen = replay_new(clock_wall_ms(), ENVELOPE_MAX_SKEW_MS, RPC_REPLAY_MAX);
	if (nng_rep0_open(&s->sock) != 0) {
		snprintf(err, errlen, "cannot open REP socket");
		replay_free(s->seen);
		sl_free(s);
		return SL_ETRANSPORT;
	}
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, o->max_msg + RPC_NNG_SLACK);
	for (int i = 0; i < RPC_SERVER_CTXS; i++) {
		srv_ctx *c = &s->ctxs[i];
		c->srv = s;
		nng_aio_alloc(&c->aio, srv_ctx_cb, c);
		nng_ctx_open(&c->ctx, s->sock);
	}
	if ((rv = srv_listen(s, url, port_out, err, errlen)) != SL_OK) {
		rpc_server_close(s);
		return rv;
	}
	for (int i = 0; i < RPC_SERVER_CTXS; i++) {
		s->ctxs[i].state = CTX_RECV;
		nng_ctx_recv(s->ctxs[i].ctx, s->ctxs[i].aio);
	}
	*out = s;
	return SL_OK;
}

void rpc_server_close(rpc_server *s)
{
	if (s == NULL)
		return;
	if (s->tls_watch != NULL)
		nng_aio_free(s->tls_watch); /* stops the timer, waits for its callback */
	nng_close(s->sock);
	for (int i = 0; i < RPC_SERVER_CTXS; i++) {
		if (s->ctxs[i].aio == NULL)
			continue;
		/* nng_close aborted every operation; the callback has freed any
		 * unsent reply. nng_aio_free waits for callbacks to drain. */
		nng_aio_free(s->ctxs[i].aio);
	}
	if (s->tls)
		nng_tls_config_free(s->tls);
	replay_free(s->seen);
	sl_free(s);
}

uint64_t rpc_server_refused(const rpc_server *s)
{
	return atomic_load(&((rpc_server *)s)->refused);
}

void rpc_reply_set(rpc_reply *rep, uint32_t type, const void *pb_msg)
{
	const ProtobufCMessage *m = pb_msg;
	rep->type = type;
	rep->payload_len = protobuf_c_message_get_packed_size(m);
	rep->payload = sl_malloc(rep->payload_len);
	protobuf_c_message_pack(m, rep->payload);
}

int rpc_reply_error(rpc_reply *rep, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rep->errmsg, sizeof(rep->errmsg), fmt, ap);
	va_end(ap);
	return code;
}

/* ---- client ---- */

struct rpc_client {
	nng_socket sock;
	nng_dialer dialer;
	nng_tls_config *tls;
	rpc_opts opts;
	auth_cred cred; /* what our requests are signed with */
	char url[256];
	atomic_int refs; /* the opener's and rpc_client_hold's; freed at 0 */
};

/* Why a call over TLS may have timed out: nng retries a dial whose TLS
 * handshake fails, silently, until the call's timeout. Its dialer counts
 * such failures ("auth"), which turns "Timed out" into the real reason. */
static const char *client_tls_hint(rpc_client *c)
{
	nng_stat *all = NULL;
	const char *hint = "";
	if (c->tls == NULL || nng_stats_get(&all) != 0)
		return hint;
	nng_stat *d = nng_stat_find_dialer(all, c->dialer);
	nng_stat *auth = d ? nng_stat_find(d, "auth") : NULL;
	if (auth != NULL && nng_stat_value(auth) > 0)
		hint = " (the TLS handshake failed: a certificate was refused, ours by "
		       "the peer or the peer's by us; check sluice.tls.* and the CA)";
	nng_stats_free(all);
	return hint;
}

int rpc_client_open(rpc_client **out, const char *url, const rpc_opts *o, char *err,
                    size_t errlen)
{
	auth_cred cred;
	int rv = rpc_check_url(url, o, err, errlen), nrv;
	if (rv == SL_OK)
		rv = own_cred(o, &cred, err, errlen);
	if (rv != SL_OK)
		return rv;
	rpc_client *c = sl_calloc(1, sizeof(*c));
	atomic_init(&c->refs, 1);
	c->opts = *o;
	c->cred = cred;
	snprintf(c->url, sizeof(c->url), "%s", url);
	if ((nrv = nng_req0_open(&c->sock)) != 0)
		goto fail;
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, o->max_msg + RPC_NNG_SLACK);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
	/* A request is sent once; retrying is the caller's decision. */
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if ((nrv = nng_dialer_create(&c->dialer, c->sock, url)) != 0)
		goto fail;
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		char host[256];
		url_host(url, host, sizeof(host));
		if ((rv = tls_config_make(o, false, host, &c->tls, err, errlen)) != SL_OK)
			goto fail_rv;
		if ((nrv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, c->tls)) !=
		    0)
			goto fail;
	}
	if ((nrv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK)) != 0)
		goto fail;
	*out = c;
	return SL_OK;
fail:
	snprintf(err, errlen, "cannot dial %s: %s", url, nng_strerror(nrv));
	rv = SL_ETRANSPORT;
fail_rv:
	rpc_client_close(c);
	return rv;
}

rpc_client *rpc_client_hold(rpc_client *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void rpc_client_release(rpc_client *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) > 1)
		return;
	if (c->tls)
		nng_tls_config_free(c->tls);
	sl_free(c);
}

void rpc_client_close(rpc_client *c)
{
	if (c == NULL)
		return;
	nng_close(c->sock);
	rpc_client_release(c);
}

const char *rpc_client_url(const rpc_client *c)
{
	return c->url;
}

int rpc_decode_error(const envelope *env, char *err, size_t errlen)
{
	Sluice__ErrorReply *er =
	    sluice__error_reply__unpack(NULL, env->payload_len, env->payload);
	if (er == NULL) {
		snprintf(err, errlen, "peer '%s' sent a malformed error reply",
		         env->sender);
		return SL_EPROTO;
	}
	int code = er->code < 0 ? er->code : SL_EPROTO;
	/* the peer's words, shown to users and logged: escaped (log.h) */
	const char *msg = er->message ? er->message : sl_strerror(code);
	log_escape(err, errlen, msg, strlen(msg));
	sluice__error_reply__free_unpacked(er, NULL);
	return code;
}

static nng_msg *client_frame(rpc_client *c, uint32_t type, const void *payload,
                             size_t len, uint64_t rid)
{
	uint8_t *frame;
	size_t flen;
	nng_msg *m;
	if (envelope_pack_cred(c->opts.key, c->cred, type, rid, c->opts.identity, payload,
	                       len, &frame, &flen) != SL_OK)
		return NULL;
	if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, frame, flen) != 0) {
		sl_free(frame);
		return NULL;
	}
	sl_free(frame);
	return m;
}

/* A reply answers our request only if it echoes its id and has the type
 * that answers it (or MSG_ERROR; a frame the server could not read at all
 * is answered with request id 0). This is what makes a replayed reply, or
 * one meant for another request, worthless. */
static int client_reply_matches(const envelope *reply, uint32_t type, uint64_t rid,
                                const char *url, char *err, size_t errlen)
{
	bool is_error = reply->type == MSG_ERROR;
	if ((reply->request_id == rid || (is_error && reply->request_id == 0)) &&
	    (is_error || reply->type == type + 1))
		return SL_OK;
	snprintf(err, errlen,
	         "%s answered %s (request %llu) with type %u for request %llu: "
	         "not our reply",
	         url, msg_type_name(type), (unsigned long long)rid, reply->type,
	         (unsigned long long)reply->request_id);
	return SL_EPROTO;
}

/* Verifies a reply frame; maps MSG_ERROR to the peer's code. Takes the
 * options and URL rather than the client: an asynchronous call may complete
 * after its client was closed and freed. */
static int client_reply(const rpc_opts *o, auth_cred cred, const char *url, uint32_t type,
                        uint64_t rid, nng_msg *m, envelope *reply, char *err,
                        size_t errlen)
{
	int rv = envelope_unpack_reply(o->key, cred, nng_msg_body(m), nng_msg_len(m),
	                               o->max_msg, reply, err, errlen);
	nng_msg_free(m);
	if (rv == SL_EAUTH)
		snprintf(err, errlen,
		         "%s did not accept our credentials or we cannot verify its "
		         "reply: the cluster secret differs from the peer's",
		         url);
	if (rv != SL_OK)
		return rv;
	if ((rv = client_reply_matches(reply, type, rid, url, err, errlen)) != SL_OK) {
		envelope_release(reply);
		return rv;
	}
	if (reply->type == MSG_ERROR) {
		rv = rpc_decode_error(reply, err, errlen);
		envelope_release(reply);
	}
	return rv;
}

static int rpc_call_once(rpc_client *c, uint32_t type, const void *payload, size_t len,
                         envelope *reply, char *err, size_t errlen)
{
	nng_ctx ctx;
	nng_aio *aio = NULL;
	uint64_t rid = rpc_request_id();
	nng_msg *m = client_frame(c, type, payload, len, rid);
	int nrv;
	memset(reply, 0, sizeof(*reply));
	if (m == NULL) {
		snprintf(err, errlen, "cannot build request");
		return SL_ENOMEM;
	}
	if ((nrv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_msg_free(m);
		goto fail;
	}
	if ((nrv = nng_ctx_open(&ctx, c->sock)) != 0) {
		nng_msg_free(m);
		goto fail;
	}
	nng_aio_set_timeout(aio, (nng_duration)c->opts.timeout_ms);
	nng_aio_set_msg(aio, m);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((nrv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio));
		nng_ctx_close(ctx);
		goto fail;
	}
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	nrv = nng_aio_result(aio);
	nng_ctx_close(ctx);
	if (nrv != 0)
		goto fail;
	m = nng_aio_get_msg(aio);
	nng_aio_free(aio);
	return client_reply(&c->opts, c->cred, c->url, type, rid, m, reply, err, errlen);
fail:
	nng_aio_free(aio);
	snprintf(err, errlen, "%s to %s: %s%s", msg_type_name(type), c->url,
	         nng_strerror(nrv), client_tls_hint(c));
	return map_nng(nrv);
}

/* A request refused with SL_ESTALE was stamped before the server started
 * (it waited in nng's queue while the server restarted) and was not acted
 * on: it is sent once more as a new frame, which is not a replay. */
int rpc_call(rpc_client *c, uint32_t type, const void *payload, size_t len,
             envelope *reply, char *err, size_t errlen)
{
	int rv = rpc_call_once(c, type, payload, len, reply, err, errlen);
	if (rv == SL_ESTALE)
		rv = rpc_call_once(c, type, payload, len, reply, err, errlen);
	return rv;
}

int rpc_call_pb(rpc_client *c, uint32_t type, const void *pb_msg, envelope *reply,
                char *err, size_t errlen)
{
	const ProtobufCMessage *m = pb_msg;
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t stackbuf[1024];
	uint8_t *buf = len <= sizeof(stackbuf) ? stackbuf : sl_malloc(len);
	protobuf_c_message_pack(m, buf);
	int rv = rpc_call(c, type, buf, len, reply, err, errlen);
	if (buf != stackbuf)
		sl_free(buf);
	return rv;
}

/* An asynchronous call. It keeps its own copy of the client's options and
 * URL: rpc_client_close does not wait for calls in flight, whose callbacks
 * then run (with NNG_ECLOSED) after the client is freed. */
typedef struct {
	rpc_opts opts;
	char url[256];
	nng_ctx ctx;
	nng_aio *aio;
	ctx_state state;
	uint32_t type;
	uint64_t rid;
	auth_cred cred;
	rpc_done_fn fn;
	void *arg;
} async_call;

static void async_finish(async_call *a, int rv, const envelope *reply, const char *err)
{
	a->fn(a->arg, rv, reply, err);
	atomic_fetch_sub(&rpc_inflight, 1);
	nng_ctx_close(a->ctx);
	nng_aio_reap(a->aio);
	sl_free(a);
}

static void async_cb(void *arg)
{
	async_call *a = arg;
	char err[512] = "";
	int nrv = nng_aio_result(a->aio);
	if (nrv != 0) {
		if (a->state == CTX_SEND)
			nng_msg_free(nng_aio_get_msg(a->aio));
		snprintf(err, sizeof(err), "%s to %s: %s", msg_type_name(a->type), a->url,
		         nng_strerror(nrv));
		async_finish(a, map_nng(nrv), NULL, err);
		return;
	}
	if (a->state == CTX_SEND) {
		a->state = CTX_RECV;
		nng_ctx_recv(a->ctx, a->aio);
		return;
	}
	envelope reply;
	int rv = client_reply(&a->opts, a->cred, a->url, a->type, a->rid,
	                      nng_aio_get_msg(a->aio), &reply, err, sizeof(err));
	async_finish(a, rv, rv == SL_OK ? &reply : NULL, err);
	if (rv == SL_OK)
		envelope_release(&reply);
}

int rpc_call_async(rpc_client *c, uint32_t type, const void *pb_msg, rpc_done_fn fn,
                   void *arg)
{
	const ProtobufCMessage *pm = pb_msg;
	size_t len = protobuf_c_message_get_packed_size(pm);
	uint8_t stackbuf[1024];
	uint8_t *buf = len <= sizeof(stackbuf) ? stackbuf : sl_malloc(len);
	protobuf_c_message_pack(pm, buf);
	int rv = rpc_call_async_bytes(c, type, buf, len, fn, arg);
	if (buf != stackbuf)
		sl_free(buf);
	return rv;
}

int rpc_call_async_bytes(rpc_client *c, uint32_t type, const void *payload, size_t len,
                         rpc_done_fn fn, void *arg)
{
	uint64_t rid = rpc_request_id();
	nng_msg *m = client_frame(c, type, payload, len, rid);
	if (m == NULL)
		return SL_ENOMEM;
	async_call *a = sl_calloc(1, sizeof(*a));
	a->opts = c->opts;
	a->rid = rid;
	a->cred = c->cred;
	snprintf(a->url, sizeof(a->url), "%s", c->url);
	a->type = type;
	a->fn = fn;
	a->arg = arg;
	if (nng_ctx_open(&a->ctx, c->sock) != 0 ||
	    nng_aio_alloc(&a->aio, async_cb, a) != 0) {
		nng_msg_free(m);
		sl_free(a);
		return SL_ETRANSPORT;
	}
	nng_aio_set_timeout(a->aio, (nng_duration)c->opts.timeout_ms);
	atomic_fetch_add(&rpc_inflight, 1);
	nng_aio_set_msg(a->aio, m);
	a->state = CTX_SEND;
	nng_ctx_send(a->ctx, a->aio);
	return SL_OK;
}

int rpc_async_inflight(void)
{
	return atomic_load(&rpc_inflight);
}
