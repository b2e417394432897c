/* Peer connection pool: see peers.h. A short list; clusters are small. */
#include "peers.h"
#include "alloc.h"
#include "sluice/err.h"

#include <pthread.h>
#include <string.h>

typedef struct {
	char *url;
	rpc_client *client;
} peer;

struct peer_pool {
	pthread_mutex_t lock;
	const rpc_opts *opts;
	peer *v;
	size_t n, cap;
};

peer_pool *peers_new(const rpc_opts *opts)
{
	peer_pool *p = sl_calloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->opts = opts;
	return p;
}

void peers_free(peer_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		rpc_client_close(p->v[i].client);
		sl_free(p->v[i].url);
	}
	sl_free(p->v);
	pthread_mutex_destroy(&p->lock);
	sl_free(p);
}

rpc_client *peers_get(peer_pool *p, const char *url, char *err, size_t errlen)
{
	rpc_client *c = NULL;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->v[i].url, url) == 0) {
			c = p->v[i].client;
			goto out;
		}
	}
	if (rpc_client_open(&c, url, p->opts, err, errlen) != SL_OK) {
		c = NULL;
		goto out;
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = sl_realloc(p->v, p->cap * sizeof(*p->v));
	}
	p->v[p->n].url = sl_strdup(url);
	p->v[p->n].client = c;
	p->n++;
out:
	pthread_mutex_unlock(&p->lock);
	return c;
}
