/*
 * A pool of RPC clients to peers, keyed by URL, so that a worker opens one
 * connection per peer (for block fetches, shuffle fetches, replication)
 * however many tasks talk to it. Clients live until the pool is freed.
 * Thread-safe.
 */
#ifndef SLUICE_PEERS_H
#define SLUICE_PEERS_H

#include "rpc.h"

typedef struct peer_pool peer_pool;

/* opts (and the strings in it) must outlive the pool. */
peer_pool *peers_new(const rpc_opts *opts);
void peers_free(peer_pool *p);
/* Returns the client for url, opening it on first use; NULL with a message
 * in err when the URL is refused by the transport policy. */
rpc_client *peers_get(peer_pool *p, const char *url, char *err, size_t errlen);

#endif
