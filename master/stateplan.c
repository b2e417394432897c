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
	p->recompute = false;
	p->worker = sl_calloc(nparts, sizeof(*p->worker));
	p->replica = sl_calloc(nparts, sizeof(*p->replica));
	p->ckpt_ms = sl_calloc(nparts, sizeof(*p->ckpt_ms));
	p->full = sl_calloc(nparts, sizeof(*p->full));
	p->keys = sl_calloc(nparts, sizeof(*p->keys));
	p->bytes = sl_calloc(nparts, sizeof(*p->bytes));
	p->ev_max = sl_calloc(nparts, sizeof(*p->ev_max));
	p->ev_batch = sl_calloc(nparts, sizeof(*p->ev_batch));
	p->ev_bmax = sl_calloc(nparts, sizeof(*p->ev_bmax));
	p->ev_late = sl_calloc(nparts, sizeof(*p->ev_late));
	p->ev_blate = sl_calloc(nparts, sizeof(*p->ev_blate));
	for (uint32_t i = 0; i < nparts; i++)
		p->ev_max[i] = p->ev_bmax[i] = INT64_MIN;
	return p;
}

static bool worker_usable(job *j, const worker_entry *w)
{
	if (w->state != WORKER_ALIVE)
		return false;
	return j->run_worker[0] == '\0' || strcmp(j->run_worker, w->id) == 0;
}

/* Partitions and replicas of every stateful node of j on worker id. */
static size_t parts_on(const job *j, const char *id)
{
	size_t n = 0;
	for (size_t i = 0; i < j->nstp; i++)
		for (uint32_t p = 0; p < j->stp[i].nparts; p++)
			n += (strcmp(j->stp[i].worker[p], id) == 0) +
			     (strcmp(j->stp[i].replica[p], id) == 0);
	return n;
}

/* The usable worker other than but holding the fewest of j's partitions,
 * or NULL. */
static worker_entry *least_loaded(job *j, const char *but)
{
	cluster *cl = j->e->m->cl;
	worker_entry *best = NULL;
	size_t best_n = SIZE_MAX;
	for (size_t i = 0; i < cluster_count(cl); i++) {
		worker_entry *w = cluster_at(cl, i);
		if (!worker_usable(j, w) || strcmp(w->id, but) == 0)
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
	worker_entry *w = least_loaded(j, p->replica[part]);
	if (w == NULL)
		return false;
	snprintf(p->worker[part], sizeof(p->worker[part]), "%s", w->id);
	log_info("job %s: state partition %u of node %u placed on worker %s", j->name,
	         part, p->node, w->id);
	job_checkpoint(j);
	return true;
}

/* Gives partition part a replica (another worker, when there is one); its
 * next task then writes a full checkpoint there. */
static void replica_pick(job *j, stplace *p, uint32_t part)
{
	worker_entry *w = least_loaded(j, p->worker[part]);
	if (w == NULL)
		return;
	snprintf(p->replica[part], sizeof(p->replica[part]), "%s", w->id);
	p->full[part] = true;
	job_checkpoint(j);
}

uint32_t stateplan_parts(job *j, const Sluice__Node *n, uint32_t dflt)
{
	stplace *p = place_find(j, n->id);
	if (p != NULL)
		return p->nparts;
	p = place_add(j, n->id, n->partitions ? n->partitions : (dflt ? dflt : 1));
	for (uint32_t i = 0; i < p->nparts; i++)
		if (place_one(j, p, i))
			replica_pick(j, p, i);
	job_checkpoint(j);
	return p->nparts;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* The largest event time of p's batches before batch_ms, INT64_MIN = none. */
static int64_t events_before(const stplace *p, int64_t batch_ms)
{
	int64_t m = INT64_MIN;
	for (uint32_t i = 0; i < p->nparts; i++) {
		m = max64(m, p->ev_max[i]);
		if (p->ev_batch[i] < batch_ms)
			m = max64(m, p->ev_bmax[i]);
	}
	return m;
}

/* Node n's watermark for batch batch_ms: INT64_MIN while it has seen no
 * event time (the worker's evwin_watermark, the same rule). */
static int64_t watermark_of(const job *j, const stplace *p, int64_t batch_ms)
{
	const Sluice__Node *n = graph_node(j->graph, p->node);
	int64_t m = events_before(p, batch_ms);
	if (n == NULL || n->kind != SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW ||
	    m == INT64_MIN)
		return INT64_MIN;
	return m - n->lateness_ms;
}

bool stateplan_worker(job *j, uint32_t node, uint32_t part, int64_t batch_ms,
                      task_pinning *out)
{
	stplace *p = place_find(j, node);
	if (p == NULL || part >= p->nparts)
		return false;
	if (p->worker[part][0] == '\0')
		place_one(j, p, part);
	if (p->replica[part][0] == '\0' && p->worker[part][0] != '\0')
		replica_pick(j, p, part);
	memset(out, 0, sizeof(*out));
	worker_entry *r =
	    p->replica[part][0] ? cluster_find(j->e->m->cl, p->replica[part]) : NULL;
	if (r != NULL && r->state != WORKER_ALIVE)
		return true; /* waits for the replica to register again or be lost */
	snprintf(out->worker, sizeof(out->worker), "%s", p->worker[part]);
	if (r != NULL) {
		snprintf(out->replica_id, sizeof(out->replica_id), "%s", r->id);
		snprintf(out->replica_url, sizeof(out->replica_url), "%s", r->rpc_url);
	}
	out->full = p->full[part];
	out->ckpt_ms = p->ckpt_ms[part];
	out->watermark_ms = watermark_of(j, p, batch_ms);
	return true;
}

/* Partition part's event-time report for batch batch_ms: the pending
 * batch's figures fold into the totals when a later batch reports. */
static void events_done(job *j, stplace *p, uint32_t part, int64_t batch_ms,
                        const Sluice__TaskStatus *st)
{
	const Sluice__Node *n = graph_node(j->graph, p->node);
	if (n == NULL || n->kind != SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW)
		return;
	if (p->ev_batch[part] != batch_ms) {
		p->ev_max[part] = max64(p->ev_max[part], p->ev_bmax[part]);
		p->ev_late[part] += p->ev_blate[part];
		p->ev_batch[part] = batch_ms;
	}
	p->ev_bmax[part] = st->max_event_time_ms;
	p->ev_blate[part] = st->late_records;
	job_checkpoint(j); /* the next batch's watermark survives a restart */
}

void stateplan_task_done(job *j, uint32_t node, uint32_t part, int64_t batch_ms,
                         const Sluice__TaskStatus *st)
{
	stplace *p = place_find(j, node);
	if (p == NULL || part >= p->nparts)
		return;
	p->keys[part] = st->state_keys;
	p->bytes[part] = st->state_bytes;
	events_done(j, p, part, batch_ms, st);
	int64_t ckpt_ms = st->state_ckpt_ms;
	if (ckpt_ms <= 0)
		return;
	int64_t old = p->ckpt_ms[part];
	p->ckpt_ms[part] = ckpt_ms;
	p->full[part] = false;
	job_checkpoint(j);
	if (old <= 0 || old == ckpt_ms)
		return;
	char prefix[96]; /* the older checkpoint and its deltas go */
	snprintf(prefix, sizeof(prefix), "stb-%llu-%u-%u-c%lld-",
	         (unsigned long long)j->id, node, part, (long long)old);
	sched_remove_data(j->e->sched, prefix, NULL, 0);
}

/* Partition part of p lost its worker: its replica takes it over (and
 * rebuilds the state from the checkpoint and deltas it holds), or, without
 * one, it starts empty on another worker. */
static void primary_lost(job *j, stplace *p, uint32_t part, const char *worker_id)
{
	if (p->replica[part][0] != '\0') {
		log_warn("job %s: worker %s holding state partition %u of node %u was "
		         "lost; its replica %s takes it over from its checkpoint",
		         j->name, worker_id, part, p->node, p->replica[part]);
		snprintf(p->worker[part], sizeof(p->worker[part]), "%s",
		         p->replica[part]);
	} else {
		log_error("job %s: worker %s holding state partition %u of node %u was "
		          "lost and it had no replica: the partition starts empty",
		          j->name, worker_id, part, p->node);
		p->worker[part][0] = '\0';
		p->ckpt_ms[part] = 0; /* nothing to rebuild from */
		p->recompute = true;  /* an incremental window: recomputed whole */
	}
	p->replica[part][0] = '\0';
}

size_t stateplan_worker_lost(job *j, const char *worker_id)
{
	size_t n = 0;
	for (size_t i = 0; i < j->nstp; i++)
		for (uint32_t p = 0; p < j->stp[i].nparts; p++) {
			stplace *sp = &j->stp[i];
			if (strcmp(sp->worker[p], worker_id) == 0) {
				primary_lost(j, sp, p, worker_id);
				n++;
			} else if (strcmp(sp->replica[p], worker_id) == 0) {
				sp->replica[p][0] = '\0'; /* a new one at the next task */
				n++;
			}
		}
	if (n > 0)
		job_checkpoint(j);
	return n;
}

bool stateplan_holds(const job *j, const char *worker_id)
{
	return parts_on(j, worker_id) > 0;
}

void stateplan_started(job *j)
{
	for (size_t i = 0; i < j->nstp; i++) {
		const Sluice__Node *n = graph_node(j->graph, j->stp[i].node);
		if (n != NULL && graph_is_incremental_window(n))
			j->stp[i].recompute = true;
	}
}

void stateplan_size(const job *j, uint64_t *keys, uint64_t *bytes)
{
	*keys = *bytes = 0;
	for (size_t i = 0; i < j->nstp; i++)
		for (uint32_t p = 0; p < j->stp[i].nparts; p++) {
			*keys += j->stp[i].keys[p];
			*bytes += j->stp[i].bytes[p];
		}
}

bool stateplan_take_recompute(job *j, uint32_t node)
{
	stplace *p = place_find(j, node);
	bool r = p != NULL && p->recompute;
	if (p != NULL)
		p->recompute = false;
	return r;
}

void stateplan_events(const job *j, uint64_t *late, int64_t *watermark_ms)
{
	*late = 0;
	*watermark_ms = INT64_MIN;
	for (size_t i = 0; i < j->nstp; i++) {
		const stplace *p = &j->stp[i];
		for (uint32_t k = 0; k < p->nparts; k++)
			*late += p->ev_late[k] + p->ev_blate[k];
		*watermark_ms = max64(*watermark_ms, watermark_of(j, p, INT64_MAX));
	}
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
			snprintf(cp->replica, sizeof(cp->replica), "%s",
			         j->stp[i].replica[p]);
			cp->ckpt_ms = j->stp[i].ckpt_ms[p];
			cp->ev_max = j->stp[i].ev_max[p];
			cp->ev_batch = j->stp[i].ev_batch[p];
			cp->ev_bmax = j->stp[i].ev_bmax[p];
			cp->ev_late = j->stp[i].ev_late[p];
			cp->ev_blate = j->stp[i].ev_blate[p];
		}
}

void stateplan_restore(job *j, const ckpt_job *c)
{
	for (size_t i = 0; i < c->nstparts; i++) {
		const ckpt_statepart *cp = &c->stparts[i];
		stplace *p = place_find(j, cp->node);
		if (p == NULL)
			p = place_add(j, cp->node, cp->nparts);
		if (cp->part >= p->nparts)
			continue;
		snprintf(p->worker[cp->part], sizeof(p->worker[cp->part]), "%s",
		         cp->worker);
		snprintf(p->replica[cp->part], sizeof(p->replica[cp->part]), "%s",
		         cp->replica);
		p->ckpt_ms[cp->part] = cp->ckpt_ms;
		p->ev_max[cp->part] = cp->ev_max;
		p->ev_batch[cp->part] = cp->ev_batch;
		p->ev_bmax[cp->part] = cp->ev_bmax;
		p->ev_late[cp->part] = cp->ev_late;
		p->ev_blate[cp->part] = cp->ev_blate;
		p->full[cp->part] = cp->ckpt_ms <= 0 && cp->replica[0] != '\0';
	}
}

void stateplan_free(job *j)
{
	for (size_t i = 0; i < j->nstp; i++) {
		sl_free(j->stp[i].worker);
		sl_free(j->stp[i].replica);
		sl_free(j->stp[i].ckpt_ms);
		sl_free(j->stp[i].full);
		sl_free(j->stp[i].keys);
		sl_free(j->stp[i].bytes);
		sl_free(j->stp[i].ev_max);
		sl_free(j->stp[i].ev_batch);
		sl_free(j->stp[i].ev_bmax);
		sl_free(j->stp[i].ev_late);
		sl_free(j->stp[i].ev_blate);
	}
	sl_free(j->stp);
	j->stp = NULL;
	j->nstp = 0;
}
