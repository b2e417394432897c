/*
 * Sticky placement of state partitions: see stateplan.h.
 *
 * A job has a few stateful nodes with a few partitions each, so the
 * placement is a short array per node searched linearly.
 */
#include "stateplan.h"
#include "alloc.h"
#include "api.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static stplace *place_find(const job *j, uint32_t node)
{
	for (size_t i = 0; i < j->nstp; i++)
		if (j->stp[i].node == node)
			return &j->stp[i];
	return NULL;
}

static stplace *place_add(job *j, uint32_t node, uint32_t nparts)
{
	j->stp = sl_realloc(j->stp, (j->nstp + 1) * sizeof(*j->stp));
	stplace *p = &j->stp[j->nstp++];
	p->node = node;
	p->nparts = nparts;
	p->worker = sl_calloc(nparts, sizeof(*p->worker));
	return p;
}

static bool worker_usable(job *j, const worker_entry *w)
{
	if (w->state != WORKER_ALIVE)
		return false;
	return j->run_worker[0] == '\0' || strcmp(j->run_worker, w->id) == 0;
}

/* Partitions of every stateful node of j placed on worker id. */
static size_t parts_on(const job *j, const char *id)
{
	size_t n = 0;
	for (size_t i = 0; i < j->nstp; i++)
		for (uint32_t p = 0; p < j->stp[i].nparts; p++)
			n += strcmp(j->stp[i].worker[p], id) == 0;
	return n;
}

/* The usable worker holding the fewest of j's partitions, or NULL. */
static worker_entry *least_loaded(job *j)
{
	cluster *cl = j->e->m->cl;
	worker_entry *best = NULL;
	size_t best_n = SIZE_MAX;
	for (size_t i = 0; i < cluster_count(cl); i++) {
		worker_entry *w = cluster_at(cl, i);
		if (!worker_usable(j, w))
			continue;
		size_t n = parts_on(j, w->id);
		if (n < best_n) {
			best_n = n;
			best = w;
		}
	}
	return best;
}

/* Places partition part of p on the least loaded usable worker; false
 * when none is alive. */
static bool place_one(job *j, stplace *p, uint32_t part)
{
	worker_entry *w = least_loaded(j);
	if (w == NULL)
		return false;
	snprintf(p->worker[part], sizeof(p->worker[part]), "%s", w->id);
	log_info("job %s: state partition %u of node %u placed on worker %s", j->name,
	         part, p->node, w->id);
	job_checkpoint(j);
	return true;
}

uint32_t stateplan_parts(job *j, const Sluice__Node *n, uint32_t dflt)
{
	stplace *p = place_find(j, n->id);
	if (p != NULL)
		return p->nparts;
	p = place_add(j, n->id, n->partitions ? n->partitions : (dflt ? dflt : 1));
	for (uint32_t i = 0; i < p->nparts; i++)
		place_one(j, p, i);
	job_checkpoint(j);
	return p->nparts;
}

bool stateplan_worker(job *j, uint32_t node, uint32_t part, char out[32])
{
	stplace *p = place_find(j, node);
	if (p == NULL || part >= p->nparts)
		return false;
	if (p->worker[part][0] == '\0')
		place_one(j, p, part);
	snprintf(out, 32, "%s", p->worker[part]);
	return true;
}

size_t stateplan_worker_lost(job *j, const char *worker_id)
{
	size_t n = 0;
	for (size_t i = 0; i < j->nstp; i++)
		for (uint32_t p = 0; p < j->stp[i].nparts; p++) {
			if (strcmp(j->stp[i].worker[p], worker_id) != 0)
				continue;
			log_error("job %s: worker %s holding state partition %u of node "
			          "%u was lost; the partition is placed again and its "
			          "state starts empty (rebuilding from a checkpoint is "
			          "not built yet)",
			          j->name, worker_id, p, j->stp[i].node);
			j->stp[i].worker[p][0] = '\0';
			n++;
		}
	if (n > 0)
		job_checkpoint(j);
	return n;
}

void stateplan_snapshot(const job *j, ckpt_job *c)
{
	size_t n = 0;
	for (size_t i = 0; i < j->nstp; i++)
		n += j->stp[i].nparts;
	c->stparts = n ? sl_calloc(n, sizeof(*c->stparts)) : NULL;
	c->nstparts = 0;
	for (size_t i = 0; i < j->nstp; i++)
		for (uint32_t p = 0; p < j->stp[i].nparts; p++) {
			ckpt_statepart *cp = &c->stparts[c->nstparts++];
			cp->node = j->stp[i].node;
			cp->part = p;
			cp->nparts = j->stp[i].nparts;
			snprintf(cp->worker, sizeof(cp->worker), "%s",
			         j->stp[i].worker[p]);
		}
}

void stateplan_restore(job *j, const ckpt_job *c)
{
	for (size_t i = 0; i < c->nstparts; i++) {
		const ckpt_statepart *cp = &c->stparts[i];
		stplace *p = place_find(j, cp->node);
		if (p == NULL)
			p = place_add(j, cp->node, cp->nparts);
		if (cp->part < p->nparts)
			snprintf(p->worker[cp->part], sizeof(p->worker[cp->part]), "%s",
			         cp->worker);
	}
}

void stateplan_free(job *j)
{
	for (size_t i = 0; i < j->nstp; i++)
		sl_free(j->stp[i].worker);
	sl_free(j->stp);
	j->stp = NULL;
	j->nstp = 0;
}
