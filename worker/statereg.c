/*
 * The registry of a worker's state partitions (statestore.h, bottom): one
 * state_part per (job, state node, partition), created on first use, handed
 * to one task at a time (a task of the next batch waits for the previous
 * one), dropped with its job. A short list under one mutex: a worker holds
 * a few partitions per stateful node, and a lookup happens once per task.
 */
#include "alloc.h"
#include "statestore.h"

#include <pthread.h>

typedef struct st_slot {
	uint64_t job;
	uint32_t node, part;
	state_part *sp;
	bool busy;
	struct st_slot *next;
} st_slot;

struct state_store {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	st_slot *slots;
};

state_store *state_store_new(void)
{
	state_store *ss = sl_calloc(1, sizeof(*ss));
	pthread_mutex_init(&ss->lock, NULL);
	pthread_cond_init(&ss->freed, NULL);
	return ss;
}

void state_store_free(state_store *ss)
{
	if (ss == NULL)
		return;
	for (st_slot *s = ss->slots, *next; s != NULL; s = next) {
		next = s->next;
		state_part_free(s->sp);
		sl_free(s);
	}
	pthread_cond_destroy(&ss->freed);
	pthread_mutex_destroy(&ss->lock);
	sl_free(ss);
}

state_part *state_store_acquire(state_store *ss, uint64_t job, uint32_t node,
                                uint32_t part, int64_t timeout_ms)
{
	pthread_mutex_lock(&ss->lock);
	st_slot *s = ss->slots;
	while (s != NULL && !(s->job == job && s->node == node && s->part == part))
		s = s->next;
	if (s == NULL) {
		s = sl_calloc(1, sizeof(*s));
		*s = (st_slot){.job = job, .node = node, .part = part, .next = ss->slots};
		s->sp = state_part_new(timeout_ms);
		ss->slots = s;
	}
	while (s->busy)
		pthread_cond_wait(&ss->freed, &ss->lock);
	s->busy = true;
	pthread_mutex_unlock(&ss->lock);
	return s->sp;
}

void state_store_release(state_store *ss, state_part *sp)
{
	pthread_mutex_lock(&ss->lock);
	for (st_slot *s = ss->slots; s != NULL; s = s->next)
		if (s->sp == sp)
			s->busy = false;
	pthread_cond_broadcast(&ss->freed);
	pthread_mutex_unlock(&ss->lock);
}

size_t state_store_drop_job(state_store *ss, uint64_t job)
{
	size_t n = 0;
	pthread_mutex_lock(&ss->lock);
	for (st_slot **p = &ss->slots; *p != NULL;) {
		st_slot *s = *p;
		if (s->job != job || s->busy) {
			p = &s->next;
			continue;
		}
		*p = s->next;
		state_part_free(s->sp);
		sl_free(s);
		n++;
	}
	pthread_mutex_unlock(&ss->lock);
	return n;
}
