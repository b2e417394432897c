/*
 * Request/reply messaging between Sluice processes over nng.
 *
 * Every process serves one rpc_server (master: cluster RPC on 7077; worker:
 * commands from the master and block/shuffle fetches from peers) and opens
 * an rpc_client per peer it calls. Both sit on nng's REQ/REP protocol with
 * one context per request in flight, driven by aio callbacks: no thread per
 * peer. Every frame, in both directions, is an envelope (envelope.h) checked
 * before any handler sees it; a refused frame is logged with the peer's
 * address and answered with MSG_ERROR, and the server keeps serving.
 *
 * Transport policy (SPEC §10), applied by rpc_check_url for both ends:
 *   tcp://      only to or on a loopback address, unless opts.insecure;
 *   tls+tcp://  mutual TLS: own certificate + key, peers verified against
 *               the cluster CA (nng's mbedTLS engine), peer auth required;
 *   ipc://, inproc://   local only, allowed.
 *
 * Frames larger than opts.max_msg are refused with a logged error; frames
 * larger than max_msg + 64 KiB are dropped by nng (NNG_OPT_RECVMAXSZ) before
 * anything is allocated for them, closing that connection.
 */
#ifndef SLUICE_RPC_H
#define SLUICE_RPC_H

#include "envelope.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	const auth_key *key;  /* cluster secret; required */
	const char *identity; /* our sender name: "master", "worker-3", "client" */
	size_t max_msg;       /* frame cap in bytes */
	int64_t timeout_ms;   /* per call (client) */
	bool insecure;        /* allow plain tcp:// to non-loopback addresses */
	const char *tls_cert; /* PEM files, needed for tls+tcp:// */
	const char *tls_key;
	const char *tls_ca;
} rpc_opts;

/* Checks a URL against the transport policy, and that it can be used at all
 * (a known scheme; for tcp:// and tls+tcp:// a port from 0 to 65535).
 * SL_EINSECURE / SL_EINVAL / SL_ECONFIG with a message in err when
 * refused. Cheap and local: processes call it on their URLs at start, so an
 * impossible URL is refused at once rather than found by a dial timing out. */
int rpc_check_url(const char *url, const rpc_opts *o, char *err, size_t errlen);

/* ---- server ---- */

typedef struct rpc_server rpc_server;

/* A reply under construction. The handler sets type and payload (payload
 * allocated with sl_malloc, ownership passes to the server), or returns a
 * negative sl_err with a message in errmsg, which is sent as MSG_ERROR. */
typedef struct {
	uint32_t type;
	uint8_t *payload;
	size_t payload_len;
	char errmsg[512];
	/* Where the request came from, for logs ("127.0.0.1:40312"). */
	char peer[64];
} rpc_reply;

/* Called on an nng callback thread for each verified request; may run
 * concurrently with itself. Must not block for long (no calls to other
 * processes): take a lock, update state, answer. */
typedef int (*rpc_handler)(void *arg, const envelope *req, rpc_reply *rep);

/* Listens on url and serves requests. *port_out (if not NULL) receives the
 * bound TCP port, useful with port 0. */
int rpc_server_start(rpc_server **out, const char *url, const rpc_opts *o, rpc_handler h,
                     void *arg, int *port_out, char *err, size_t errlen);
/* Stops serving, waits for handlers in progress to return, frees. */
void rpc_server_close(rpc_server *s);
/* Number of requests refused so far (bad frames, auth, version, type). */
uint64_t rpc_server_refused(const rpc_server *s);

/* Sets a reply with a packed protobuf-c message (helper for handlers). */
void rpc_reply_set(rpc_reply *rep, uint32_t type, const void *pb_msg);
/* Formats an error message into the reply; returns code for `return`. */
int rpc_reply_error(rpc_reply *rep, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- client ---- */

typedef struct rpc_client rpc_client;

/* Opens a client that dials url in the background (reconnecting as needed).
 * The rpc_opts strings must outlive the client. */
int rpc_client_open(rpc_client **out, const char *url, const rpc_opts *o, char *err,
                    size_t errlen);
/* Closes the socket at once (calls in flight end with an error, later ones
 * fail to start) and drops the opener's reference. */
void rpc_client_close(rpc_client *c);
/* Another reference, for a thread that calls through c later without the
 * owner's lock (a sender): the struct stays valid until its holders call
 * rpc_client_release, even if the owner closes c meanwhile. Thread-safe. */
rpc_client *rpc_client_hold(rpc_client *c);
void rpc_client_release(rpc_client *c);
const char *rpc_client_url(const rpc_client *c);

/* Sends a request and waits up to opts.timeout_ms for the reply. On success
 * returns SL_OK and a verified reply in *reply (release with
 * envelope_release). If the peer answers MSG_ERROR, returns the peer's code
 * and copies its message into err. Thread-safe. */
int rpc_call(rpc_client *c, uint32_t type, const void *payload, size_t len,
             envelope *reply, char *err, size_t errlen);
/* Same with a protobuf-c message as the payload. */
int rpc_call_pb(rpc_client *c, uint32_t type, const void *pb_msg, envelope *reply,
                char *err, size_t errlen);

/* Completion of an asynchronous call, on an nng callback thread. reply is
 * NULL unless rv == SL_OK; it is released after the callback returns. */
typedef void (*rpc_done_fn)(void *arg, int rv, const envelope *reply, const char *err);
/* Starts a call and returns at once; fn runs exactly once if it returns
 * SL_OK, never otherwise. Never blocks on the peer: a thread that must not
 * wait for it (a worker's task slot) may call it. */
int rpc_call_async(rpc_client *c, uint32_t type, const void *pb_msg, rpc_done_fn fn,
                   void *arg);
/* Same with an already packed payload (copied; the caller keeps it). */
int rpc_call_async_bytes(rpc_client *c, uint32_t type, const void *payload, size_t len,
                         rpc_done_fn fn, void *arg);

/* Asynchronous calls whose callback has not yet returned (process-wide).
 * Used at shutdown to let completions drain before freeing their state. */
int rpc_async_inflight(void);

/* Decodes an ErrorReply payload into code and message (for MSG_ERROR). */
int rpc_decode_error(const envelope *env, char *err, size_t errlen);

#endif
