/*
 * State blocks to the replica, and the full checkpoint's sending thread:
 * see stateckpt.h.
 *
 * The sending thread is detached and holds its own references (to the
 * checkpoint and to the RPC client), so neither a task dropping the
 * checkpoint nor the peer pool closing the client waits for it: a send to a
 * replica that died ends with the RPC timeout, on that thread only.
 */
#include "stateckpt.h"
#include "alloc.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "job.pb-c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct state_ckpt {
	atomic_int refs;   /* the task's hold and the thread's */
	atomic_int result; /* 0 in flight, 1 acknowledged, -1 failed */
	rpc_client *client;
	rbuf records;
	int64_t batch_ms;
	char id[160], replica[64], err[512];
};

static int put_client(rpc_client *c, const char *id, const rbuf *b, char *err,
                      size_t errlen)
{
	uint8_t *enc = NULL;
	size_t len = 0;
	envelope rep;
	int rv = block_encode(b, &enc, &len);
	if (rv != SL_OK) {
		snprintf(err, errlen, "encoding state block %s", id);
		return rv;
	}
	Sluice__PutBlock m = SLUICE__PUT_BLOCK__INIT;
	m.block_id = (char *)id;
	m.data.data = enc;
	m.data.len = len;
	m.disk = true;
	rv = rpc_call_pb(c, MSG_PUT_BLOCK, &m, &rep, err, errlen);
	sl_free(enc);
	if (rv == SL_OK) {
		if (rep.type != MSG_PUT_BLOCK_REPLY) {
			snprintf(err, errlen, "replica refused state block %s", id);
			rv = SL_EIO;
		}
		envelope_release(&rep);
	}
	return rv;
}

int state_put_replica(peer_pool *peers, const char *url, const char *id, const rbuf *b,
                      char *err, size_t errlen)
{
	rpc_client *c = peers_get(peers, url, err, errlen);
	return c == NULL ? SL_ETRANSPORT : put_client(c, id, b, err, errlen);
}

void state_ckpt_release(void *arg)
{
	state_ckpt *c = arg;
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	rbuf_free(&c->records);
	if (c->client != NULL)
		rpc_client_release(c->client);
	sl_free(c);
}

static void *ckpt_main(void *arg)
{
	state_ckpt *c = arg;
	char err[sizeof(c->err)];
	int rv = put_client(c->client, c->id, &c->records, err, sizeof(err));
	rbuf_free(&c->records); /* the copy is not needed any more */
	if (rv != SL_OK)
		snprintf(c->err, sizeof(c->err), "%s", err);
	atomic_store(&c->result, rv == SL_OK ? 1 : -1); /* err written before */
	state_ckpt_release(c);
	return NULL;
}

state_ckpt *state_ckpt_start(peer_pool *peers, const char *url, const char *replica_id,
                             const char *id, int64_t batch_ms, rbuf *records, char *err,
                             size_t errlen)
{
	rpc_client *client = peers_get(peers, url, err, errlen);
	if (client == NULL)
		return NULL;
	state_ckpt *c = sl_calloc(1, sizeof(*c));
	atomic_init(&c->refs, 2);
	atomic_init(&c->result, 0);
	c->client = rpc_client_hold(client);
	c->records = *records;
	rbuf_init(records);
	c->batch_ms = batch_ms;
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->replica, sizeof(c->replica), "%s", replica_id ? replica_id : "");
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int e = pthread_create(&t, &attr, ckpt_main, c);
	pthread_attr_destroy(&attr);
	if (e != 0) {
		snprintf(err, errlen, "cannot start a thread for state checkpoint %s: %s",
		         id, strerror(e));
		atomic_store(&c->refs, 1);
		state_ckpt_release(c);
		return NULL;
	}
	return c;
}

int state_ckpt_poll(state_ckpt *c, char *err, size_t errlen)
{
	int r = atomic_load(&c->result);
	if (r < 0)
		snprintf(err, errlen, "%s", c->err);
	return r;
}

int64_t state_ckpt_batch(const state_ckpt *c)
{
	return c->batch_ms;
}

const char *state_ckpt_replica(const state_ckpt *c)
{
	return c->replica;
}
