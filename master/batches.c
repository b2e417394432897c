/*
 * Batches: the JobGenerator, the DAG scheduler and the batch lifecycle.
 *
 * At every multiple of the batch interval a batch is generated: the
 * receivers' unallocated blocks are allocated to it and the generator and
 * file sources are split into partitions. Each output operation of the
 * batch becomes an output job (Spark's streaming job); at most
 * spark.streaming.concurrentJobs of them run at once, oldest batch first.
 *
 * Planning an output job walks its graph back from the output node: narrow
 * nodes extend the chain of the partitions below them (so a task runs a
 * fused chain in one pass), a union concatenates its inputs' partitions,
 * and a shuffle node ends a map stage (whose tasks write hash-partitioned
 * buckets) and begins `partitions` reduce partitions that read them. The
 * output node's partitions form the result stage.
 *
 * save_as_text_files: tasks write part files into PREFIX-TIME.tmp; when the
 * result stage is done the master renames it to PREFIX-TIME, so a batch's
 * output appears whole or not at all. (The directory must be on a
 * filesystem the master and workers share, as in Spark.)
 */
#include "alloc.h"
#include "api.h"
#include "clock.h"
#include "engine_int.h"
#include "kafka_src.h"
#include "log.h"
#include "proc.h"
#include "sluice/err.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
	tinput in;
	uint32_t *chain;
	size_t nchain;
} part;

typedef struct {
	part *v;
	size_t n, cap;
} parts;

static part *parts_add(parts *p)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = sl_realloc(p->v, p->cap * sizeof(*p->v));
	}
	part *x = &p->v[p->n++];
	memset(x, 0, sizeof(*x));
	return x;
}

static void part_push_chain(part *p, uint32_t node)
{
	p->chain = sl_realloc(p->chain, (p->nchain + 1) * sizeof(uint32_t));
	p->chain[p->nchain++] = node;
}

static uint32_t default_reducers(job *j)
{
	if (j->default_parts > 0)
		return j->default_parts;
	uint32_t slots = 0;
	cluster *cl = j->e->m->cl;
	for (size_t i = 0; i < cluster_count(cl); i++)
		if (cluster_at(cl, i)->state == WORKER_ALIVE)
			slots += cluster_at(cl, i)->slots;
	return slots ? slots : 1;
}

static stage *stage_new(ojob *oj, bool is_map)
{
	stage *s = sl_calloc(1, sizeof(*s));
	s->id = (uint32_t)oj->nstages;
	s->oj = oj;
	s->is_map = is_map;
	oj->stages = sl_realloc(oj->stages, (oj->nstages + 1) * sizeof(*oj->stages));
	oj->stages[oj->nstages++] = s;
	return s;
}

static void stage_take_parts(stage *s, parts *p)
{
	job *j = s->oj->b->job;
	s->ntasks = p->n;
	s->tasks = sl_calloc(p->n ? p->n : 1, sizeof(*s->tasks));
	for (size_t i = 0; i < p->n; i++) {
		mtask *t = sl_calloc(1, sizeof(*t));
		t->id = j->e->next_task_id++;
		t->stage = s;
		t->index = (uint32_t)i;
		t->in = p->v[i].in;
		t->chain = p->v[i].chain;
		t->nchain = p->v[i].nchain;
		s->tasks[i] = t;
	}
	sl_free(p->v);
	memset(p, 0, sizeof(*p));
}

/* Whether path, as list_new_files makes it (DIR/NAME), is a file of dir:
 * the batch's files are those of every file stream of the job. */
static bool file_in_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && path[n] == '/' &&
	       strchr(path + n + 1, '/') == NULL;
}

static void source_parts(ojob *oj, const Sluice__Node *n, parts *out)
{
	batch *b = oj->b;
	if (n->kind == SLUICE__NODE_KIND__SRC_GENERATOR) {
		int64_t total = n->rate * b->job->interval_ms / 1000;
		uint32_t np = n->partitions ? n->partitions : 1;
		for (uint32_t i = 0; i < np; i++) {
			part *p = parts_add(out);
			p->in.kind = TIN_GENERATOR;
			p->in.source_node = n->id;
			p->in.gen_start = total * i / np;
			p->in.gen_count = total * (i + 1) / np - p->in.gen_start;
		}
	} else if (n->kind == SLUICE__NODE_KIND__SRC_KAFKA) {
		for (size_t i = 0; i < b->nkr; i++) {
			if (b->kr[i].node != n->id || b->kr[i].until <= b->kr[i].from)
				continue;
			part *p = parts_add(out);
			p->in.kind = TIN_KAFKA;
			p->in.source_node = n->id;
			p->in.kr = &b->kr[i];
		}
	} else if (n->kind == SLUICE__NODE_KIND__SRC_FILES) {
		for (size_t i = 0; i < b->nfiles; i++) {
			if (!file_in_dir(b->files[i], n->path))
				continue;
			part *p = parts_add(out);
			p->in.kind = TIN_FILE;
			p->in.source_node = n->id;
			p->in.file = sl_strdup(b->files[i]);
		}
	} else {
		for (size_t i = 0; i < b->nblocks; i++) {
			if (b->blocks[i]->node != n->id)
				continue;
			part *p = parts_add(out);
			p->in.kind = TIN_BLOCK;
			p->in.source_node = n->id;
			p->in.block = b->blocks[i];
		}
	}
}

static void node_parts(ojob *oj, uint32_t id, parts *out);

/* A shuffle node: its input becomes a map stage; it yields reduce partitions. */
static stage *batch_shuffle_find(const batch *b, uint32_t node)
{
	for (size_t i = 0; i < b->nshuffles; i++)
		if (b->shuffles[i]->shuffle_node == node)
			return b->shuffles[i];
	return NULL;
}

static void reduce_parts(stage *s, parts *out)
{
	for (uint32_t r = 0; r < s->num_reducers; r++) {
		part *p = parts_add(out);
		p->in.kind = TIN_SHUFFLE;
		p->in.parent = s;
		p->in.reduce_partition = r;
	}
}

static void shuffle_parts(ojob *oj, const Sluice__Node *n, parts *out)
{
	batch *b = oj->b;
	stage *shared = batch_shuffle_find(b, n->id);
	if (shared != NULL) {
		reduce_parts(shared, out); /* planned by another output job */
		return;
	}
	stage *s = stage_new(oj, true);
	parts in = {0};
	node_parts(oj, n->inputs[0], &in);
	stage_take_parts(s, &in);
	s->shuffle_node = n->id;
	s->num_reducers = n->partitions ? n->partitions : default_reducers(b->job);
	/* The master's epoch: a batch re-run after a master restart must not
	 * read buckets an earlier run left behind (its reducer count may differ).
	 * The prefix shf-JOB-TIME- still names every bucket of the batch. */
	snprintf(s->shuffle_id, sizeof(s->shuffle_id), "shf-%llu-%lld-e%u-%u-%u",
	         (unsigned long long)b->job->id, (long long)b->time_ms, b->job->e->epoch,
	         oj->index, s->id);
	b->shuffles = sl_realloc(b->shuffles, (b->nshuffles + 1) * sizeof(*b->shuffles));
	b->shuffles[b->nshuffles++] = s;
	reduce_parts(s, out);
}

static void node_parts(ojob *oj, uint32_t id, parts *out)
{
	const Sluice__Node *n = graph_node(oj->b->job->graph, id);
	if (graph_is_source(n->kind)) {
		source_parts(oj, n, out);
	} else if (graph_is_shuffle(n->kind)) {
		shuffle_parts(oj, n, out);
	} else if (n->kind == SLUICE__NODE_KIND__OP_UNION) {
		for (size_t i = 0; i < n->n_inputs; i++)
			node_parts(oj, n->inputs[i], out);
	} else {
		size_t first = out->n;
		node_parts(oj, n->inputs[0], out);
		for (size_t i = first; i < out->n; i++)
			part_push_chain(&out->v[i], n->id);
	}
}

static void ojob_plan(ojob *oj)
{
	const Sluice__Node *out = graph_node(oj->b->job->graph, oj->output_node);
	parts p = {0};
	node_parts(oj, out->inputs[0], &p);
	stage *s = stage_new(oj, false);
	stage_take_parts(s, &p);
	oj->result = s;
	for (size_t i = 0; i < oj->nstages; i++) {
		stage *st = oj->stages[i];
		for (size_t t = 0; t < st->ntasks; t++) {
			stage *parent = st->tasks[t]->in.kind == TIN_SHUFFLE
			                    ? st->tasks[t]->in.parent
			                    : NULL;
			if (parent == NULL)
				continue;
			bool have = false;
			for (size_t k = 0; k < st->nparents; k++)
				have |= st->parents[k] == parent;
			if (!have) {
				st->parents =
				    sl_realloc(st->parents,
				               (st->nparents + 1) * sizeof(*st->parents));
				st->parents[st->nparents++] = parent;
			}
		}
	}
	if (out->kind == SLUICE__NODE_KIND__OUT_SAVE_TEXT) {
		const char *sfx = out->suffix && out->suffix[0] ? out->suffix : NULL;
		oj->save_final =
		    sfx ? sl_asprintf("%s-%lld.%s", out->path, (long long)oj->b->time_ms,
		                      sfx)
		        : sl_asprintf("%s-%lld", out->path, (long long)oj->b->time_ms);
		/* per master epoch: tasks of a run cut short by a master restart
		 * may still write into theirs, never into the re-run's */
		oj->save_tmp =
		    sl_asprintf("%s.tmp-e%u", oj->save_final, oj->b->job->e->epoch);
	}
}

static void list_new_files(job *j, const Sluice__Node *n, batch *b)
{
	DIR *d = opendir(n->path);
	struct dirent *de;
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.' || strstr(de->d_name, "._COPYING_") != NULL)
			continue;
		char *path = sl_asprintf("%s/%s", n->path, de->d_name);
		bool seen = false;
		for (size_t i = 0; i < j->nseen && !seen; i++)
			seen = strcmp(j->seen_files[i], path) == 0;
		if (seen || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    (int64_t)st.st_mtime * 1000 > b->time_ms) {
			sl_free(path);
			continue;
		}
		j->seen_files =
		    sl_realloc(j->seen_files, (j->nseen + 1) * sizeof(char *));
		j->seen_files[j->nseen++] = sl_strdup(path);
		b->files = sl_realloc(b->files, (b->nfiles + 1) * sizeof(char *));
		b->files[b->nfiles++] = path;
	}
	closedir(d);
}

/* A batch's shell: its output jobs, no input yet. */
static batch *batch_make(job *j, int64_t t)
{
	batch *b = sl_calloc(1, sizeof(*b));
	b->job = j;
	b->time_ms = t;
	for (size_t i = 0; i < j->graph->n_nodes; i++) {
		const Sluice__Node *n = j->graph->nodes[i];
		if (!graph_is_output(n->kind))
			continue;
		ojob *oj = sl_calloc(1, sizeof(*oj));
		oj->b = b;
		oj->index = (uint32_t)b->nojobs;
		oj->output_node = n->id;
		b->ojobs = sl_realloc(b->ojobs, (b->nojobs + 1) * sizeof(*b->ojobs));
		b->ojobs[b->nojobs++] = oj;
	}
	return b;
}

/* The job's next offset of one Kafka partition (for the checkpoint). */
static void koff_note(job *j, const krange *r)
{
	for (size_t i = 0; i < j->nkoff; i++)
		if (j->koff[i].node == r->node && j->koff[i].partition == r->partition &&
		    strcmp(j->koff[i].topic, r->topic) == 0) {
			if (r->until > j->koff[i].until)
				j->koff[i].until = r->until;
			return;
		}
	ckpt_range *k = ckpt_add_range(&j->koff, &j->nkoff);
	k->node = r->node;
	k->topic = sl_strdup(r->topic);
	k->partition = r->partition;
	k->from = k->until = r->until;
}

static batch *batch_new(job *j, int64_t t)
{
	batch *b = batch_make(j, t);
	rtracker_allocate(j, b);
	kafka_take(j, b);
	for (size_t i = 0; i < b->nkr; i++)
		koff_note(j, &b->kr[i]);
	for (size_t i = 0; i < j->graph->n_nodes; i++) {
		const Sluice__Node *n = j->graph->nodes[i];
		if (n->kind == SLUICE__NODE_KIND__SRC_GENERATOR)
			b->input_records += (uint64_t)(n->rate * j->interval_ms / 1000);
		else if (n->kind == SLUICE__NODE_KIND__SRC_FILES)
			list_new_files(j, n, b);
	}
	for (size_t i = 0; i < b->nblocks; i++)
		b->input_records += b->blocks[i]->records;
	return b;
}

void batches_generate(job *j, int64_t now_wall)
{
	/* stopping gracefully: only batches for what the receivers delivered */
	while (now_wall >= j->next_batch_ms && j->state == JOB_RUNNING &&
	       (!j->draining || j->npending > 0) && kafka_ready(j, j->next_batch_ms)) {
		batch *b = batch_new(j, j->next_batch_ms);
		j->next_batch_ms += j->interval_ms;
		if (j->nbatches == j->batches_cap) {
			j->batches_cap = j->batches_cap ? j->batches_cap * 2 : 8;
			j->batches =
			    sl_realloc(j->batches, j->batches_cap * sizeof(*j->batches));
		}
		j->batches[j->nbatches++] = b;
		/* runs once the checkpoint that records it is durable */
		b->gen_seq = j->ckpt_seq + 1;
		job_checkpoint(j);
		log_debug("job %s: batch %lld generated, %zu blocks, %llu records",
		          j->name, (long long)b->time_ms, b->nblocks,
		          (unsigned long long)b->input_records);
	}
}

/* A save output published by an earlier run of this batch (a master that
 * died before checkpointing the commit): committed, so not run again. */
static bool save_published(ojob *oj)
{
	struct stat st;
	if (oj->save_final == NULL || stat(oj->save_final, &st) != 0 ||
	    !S_ISDIR(st.st_mode))
		return false;
	log_info("job %s batch %lld: output %u was already published as %s; not "
	         "re-run",
	         oj->b->job->name, (long long)oj->b->time_ms, oj->index, oj->save_final);
	oj->state = OJ_DONE;
	oj->b->ojobs_ended++;
	job_checkpoint(oj->b->job);
	return true;
}

void batches_start_ojobs(job *j)
{
	uint32_t running = 0;
	for (size_t i = 0; i < j->nbatches; i++)
		for (size_t k = 0; k < j->batches[i]->nojobs; k++)
			running += j->batches[i]->ojobs[k]->state == OJ_RUNNING;
	for (size_t i = 0; i < j->nbatches && running < j->concurrent_jobs; i++) {
		batch *b = j->batches[i];
		if (b->gen_seq > j->ckpt_durable)
			break; /* not yet durably generated (nor any later one) */
		for (size_t k = 0; k < b->nojobs && running < j->concurrent_jobs; k++) {
			ojob *oj = b->ojobs[k];
			if (oj->state != OJ_WAITING)
				continue;
			if (b->state == BATCH_QUEUED) {
				b->state = BATCH_RUNNING;
				b->start_wall = clock_wall_ms();
				job_checkpoint(j);
			}
			ojob_plan(oj);
			oj->state = OJ_RUNNING;
			if (save_published(oj))
				continue;
			running++;
		}
	}
}

static void tinput_free(tinput *in)
{
	sl_free(in->file);
}

static void stage_free(stage *s)
{
	for (size_t i = 0; i < s->ntasks; i++) {
		mtask *t = s->tasks[i];
		tinput_free(&t->in);
		sl_free(t->chain);
		for (size_t k = 0; k < t->nlines; k++)
			sl_free(t->lines[k]);
		sl_free(t->lines);
		sl_free(t);
	}
	sl_free(s->tasks);
	sl_free(s->parents);
	sl_free(s);
}

void batch_free(batch *b)
{
	for (size_t i = 0; i < b->nojobs; i++) {
		ojob *oj = b->ojobs[i];
		for (size_t s = 0; s < oj->nstages; s++)
			stage_free(oj->stages[s]);
		sl_free(oj->stages);
		sl_free(oj->save_tmp);
		sl_free(oj->save_final);
		sl_free(oj);
	}
	for (size_t i = 0; i < b->nblocks; i++)
		rblock_free(b->blocks[i]);
	for (size_t i = 0; i < b->nfiles; i++)
		sl_free(b->files[i]);
	for (size_t i = 0; i < b->nkr; i++)
		sl_free(b->kr[i].topic);
	sl_free(b->kr);
	for (size_t i = 0; i < b->noutput; i++)
		sl_free(b->output[i]);
	sl_free(b->output);
	sl_free(b->files);
	sl_free(b->blocks);
	sl_free(b->ojobs);
	sl_free(b->shuffles);
	sl_free(b);
}

void ojob_fail(ojob *oj, const char *fmt, ...)
{
	if (oj->state != OJ_RUNNING)
		return;
	batch *b = oj->b;
	va_list ap;
	va_start(ap, fmt);
	if (b->error[0] == '\0')
		vsnprintf(b->error, sizeof(b->error), fmt, ap);
	va_end(ap);
	oj->state = OJ_FAILED;
	b->ojobs_ended++;
	log_error("job %s batch %lld: output %u failed: %s", b->job->name,
	          (long long)b->time_ms, oj->index, b->error);
}

static bool ojob_uses(const ojob *oj, const stage *s)
{
	if (s->oj == oj)
		return true;
	for (size_t i = 0; i < oj->nstages; i++)
		for (size_t k = 0; k < oj->stages[i]->nparents; k++)
			if (oj->stages[i]->parents[k] == s)
				return true;
	return false;
}

bool stage_live(const stage *s)
{
	const batch *b = s->oj->b;
	for (size_t i = 0; i < b->nojobs; i++)
		if (b->ojobs[i]->state == OJ_RUNNING && ojob_uses(b->ojobs[i], s))
			return true;
	return false;
}

void stage_fail_users(stage *s, const char *why)
{
	batch *b = s->oj->b;
	for (size_t i = 0; i < b->nojobs; i++)
		if (b->ojobs[i]->state == OJ_RUNNING && ojob_uses(b->ojobs[i], s))
			ojob_fail(b->ojobs[i], "%s", why);
}

static void print_output(ojob *oj)
{
	batch *b = oj->b;
	const Sluice__Node *n = graph_node(b->job->graph, oj->output_node);
	size_t shown = 0;
	char *head =
	    sl_asprintf("-------------------------------------------\nTime: %lld ms "
	                "(%s)\n-------------------------------------------",
	                (long long)b->time_ms, b->job->name);
	printf("%s\n", head);
	sl_free(head);
	for (size_t i = 0; i < oj->result->ntasks && shown < n->num; i++) {
		mtask *t = oj->result->tasks[i];
		for (size_t k = 0; k < t->nlines && shown < n->num; k++, shown++) {
			printf("%s\n", t->lines[k]);
			b->output =
			    sl_realloc(b->output, (b->noutput + 1) * sizeof(char *));
			b->output[b->noutput++] = sl_strdup(t->lines[k]);
		}
	}
	printf("\n");
	fflush(stdout);
}

static int save_commit(ojob *oj)
{
	char err[512];
	if (proc_mkdirs_parent(oj->save_tmp, err, sizeof(err)) != SL_OK)
		return -1;
	if (mkdir(oj->save_tmp, 0755) != 0 && errno != EEXIST)
		return -1;
	char *ok = sl_asprintf("%s/_SUCCESS", oj->save_tmp);
	FILE *f = fopen(ok, "w");
	sl_free(ok);
	if (f != NULL)
		fclose(f);
	return rename(oj->save_tmp, oj->save_final);
}

static void ojob_complete(ojob *oj)
{
	const Sluice__Node *n = graph_node(oj->b->job->graph, oj->output_node);
	if (n->kind == SLUICE__NODE_KIND__OUT_PRINT)
		print_output(oj);
	if (n->kind == SLUICE__NODE_KIND__OUT_SAVE_TEXT && save_commit(oj) != 0) {
		ojob_fail(oj, "cannot publish %s: %s", oj->save_final, strerror(errno));
		return;
	}
	oj->state = OJ_DONE;
	oj->b->ojobs_ended++;
	job_checkpoint(oj->b->job); /* this output is committed: never re-run */
}

void ojob_task_done(ojob *oj, mtask *t, const Sluice__TaskStatus *st)
{
	stage *s = t->stage;
	batch *b = oj->b;
	t->state = TASK_DONE;
	s->done++;
	if (s == oj->result && st->n_lines > 0) {
		t->lines = sl_calloc(st->n_lines, sizeof(char *));
		for (size_t i = 0; i < st->n_lines; i++)
			t->lines[i] = sl_strdup(st->lines[i]);
		t->nlines = st->n_lines;
	}
	(void)b;
	ojob_maybe_complete(oj);
}

void ojob_maybe_complete(ojob *oj)
{
	if (oj->state == OJ_RUNNING && oj->result->done == oj->result->ntasks)
		ojob_complete(oj);
}

static void batch_record(job *j, batch *b)
{
	batch_summary *h = &j->hist[j->hist_next];
	if (j->nhist == BATCH_HISTORY) {
		sl_free(h->error);
		for (size_t k = 0; k < h->noutput; k++)
			sl_free(h->output[k]);
		sl_free(h->output);
		for (size_t k = 0; k < h->noffsets; k++)
			sl_free(h->offsets[k]);
		sl_free(h->offsets);
	} else {
		j->nhist++;
	}
	j->hist_next = (j->hist_next + 1) % BATCH_HISTORY;
	h->time_ms = b->time_ms;
	h->state = b->state;
	h->input_records = b->input_records;
	h->sched_ms = b->start_wall - b->time_ms;
	h->proc_ms = b->end_wall - b->start_wall;
	h->total_ms = b->end_wall - b->time_ms;
	h->first_task_ms = b->first_task_wall ? b->first_task_wall - b->start_wall : -1;
	h->tasks = b->tasks;
	h->task_failures = b->task_failures;
	h->error = b->error[0] ? sl_strdup(b->error) : NULL;
	h->output = b->output;
	h->noutput = b->noutput;
	h->offsets = NULL;
	h->noffsets = 0;
	for (size_t i = 0; i < b->nkr; i++) {
		h->offsets = sl_realloc(h->offsets, (h->noffsets + 1) * sizeof(char *));
		h->offsets[h->noffsets++] =
		    sl_asprintf("%s-%d:%lld-%lld", b->kr[i].topic, b->kr[i].partition,
		                (long long)b->kr[i].from, (long long)b->kr[i].until);
	}
	b->output = NULL;
	b->noutput = 0;
}

static void batch_finish(job *j, batch *b)
{
	bool failed = false;
	for (size_t i = 0; i < b->nojobs; i++)
		failed |= b->ojobs[i]->state == OJ_FAILED;
	b->state = failed ? BATCH_FAILED : BATCH_DONE;
	b->end_wall = clock_wall_ms();
	if (b->start_wall == 0)
		b->start_wall = b->end_wall;
	if (failed)
		j->batches_failed++;
	else
		j->batches_done++;
	j->records += b->input_records;
	j->last_batch_ms = b->time_ms;
	log_info("job %s batch %lld %s: %llu records, scheduling delay %lld ms, "
	         "processing %lld "
	         "ms, %u tasks",
	         j->name, (long long)b->time_ms, failed ? "FAILED" : "done",
	         (unsigned long long)b->input_records,
	         (long long)(b->start_wall - b->time_ms),
	         (long long)(b->end_wall - b->start_wall), b->tasks);
	batch_record(j, b);
	if (failed && j->stop_on_failure)
		job_fail(j,
		         "batch %lld failed after all retries (%s); job stopped with the "
		         "batch's input kept (sluice.batch.onFailure=stop)",
		         (long long)b->time_ms, b->error);
}

void batches_check_done(job *j)
{
	size_t k = 0;
	for (size_t i = 0; i < j->nbatches; i++) {
		batch *b = j->batches[i];
		bool ended = b->state == BATCH_RUNNING && b->ojobs_ended == b->nojobs;
		/* A batch with no outputs in flight and nothing to run also ends. */
		if (ended) {
			batch_finish(j, b);
			sched_release_batch(j->e, b);
			if (b->state == BATCH_FAILED && j->stop_on_failure) {
				/* kept with its blocks and Kafka ranges in the
				 * checkpoint, offsets not committed: a restart of
				 * the job re-runs it */
				j->batches[k++] = b;
				continue;
			}
			b->end_seq = j->ckpt_seq + 1;
			job_checkpoint(j);
			j->retiring = sl_realloc(j->retiring, (j->nretiring + 1) *
			                                          sizeof(*j->retiring));
			j->retiring[j->nretiring++] = b;
		} else {
			j->batches[k++] = b;
		}
	}
	j->nbatches = k;
}

void batch_summarise(job *j, const batch *b, Sluice__BatchInfo *bi)
{
	(void)j;
	int64_t now = clock_wall_ms();
	sluice__batch_info__init(bi);
	bi->batch_ms = b->time_ms;
	bi->state = b->state == BATCH_QUEUED ? "QUEUED" : "RUNNING";
	bi->input_records = b->input_records;
	bi->scheduling_delay_ms =
	    b->start_wall ? b->start_wall - b->time_ms : now - b->time_ms;
	bi->processing_ms = b->start_wall ? now - b->start_wall : 0;
	bi->total_delay_ms = now - b->time_ms;
	bi->first_task_ms =
	    b->first_task_wall && b->start_wall ? b->first_task_wall - b->start_wall : -1;
	bi->tasks = b->tasks;
	bi->task_failures = b->task_failures;
	bi->error = (char *)b->error;
}

/* Its end is durable: nothing will re-run it, so its blocks and shuffle
 * buckets go and its Kafka offsets may be committed to the group. */
static void batch_retire(job *j, batch *b)
{
	char prefix[96];
	snprintf(prefix, sizeof(prefix), "shf-%llu-%lld-", (unsigned long long)j->id,
	         (long long)b->time_ms);
	sched_broadcast_remove(j->e, prefix, b->blocks, b->nblocks);
	if (b->state == BATCH_DONE)
		kafka_batch_done(j, b);
	batch_free(b);
}

void batches_retire(job *j)
{
	size_t k = 0;
	for (size_t i = 0; i < j->nretiring; i++) {
		batch *b = j->retiring[i];
		if (b->end_seq <= j->ckpt_durable)
			batch_retire(j, b);
		else
			j->retiring[k++] = b;
	}
	j->nretiring = k;
}

static const char *batch_state_name(batch_state s)
{
	static const char *const names[] = {"QUEUED", "RUNNING", "DONE", "FAILED"};
	return names[s];
}

static void snapshot_block(ckpt_job *c, const rblock *rb, int64_t batch_ms)
{
	ckpt_block *cb = ckpt_add_block(c);
	cb->id = sl_strdup(rb->id);
	cb->node = rb->node;
	cb->batch_ms = batch_ms;
	cb->records = rb->records;
	cb->bytes = rb->bytes;
	cb->created_ms = rb->created_ms;
	cb->nholders = rb->nholders;
	for (int h = 0; h < rb->nholders && h < CKPT_HOLDERS; h++) {
		cb->holder_id[h] = sl_strdup(rb->holder_id[h]);
		cb->holder_url[h] = sl_strdup(rb->holder_url[h]);
	}
	cb->wal = sl_strdup(rb->wal ? rb->wal : "");
}

static void snapshot_batch(ckpt_job *c, const batch *b, bool live)
{
	ckpt_batch *cb = ckpt_add_batch(c);
	cb->time_ms = b->time_ms;
	/* a failed batch still among the job's batches is kept for a re-run */
	snprintf(cb->state, sizeof(cb->state), "%s",
	         live && b->state == BATCH_FAILED ? "HALTED"
	                                          : batch_state_name(b->state));
	for (size_t i = 0; i < b->nojobs && i < 64; i++)
		if (b->ojobs[i]->state == OJ_DONE)
			cb->outputs_done |= 1ull << i;
	cb->input_records = b->input_records;
	cb->start_ms = b->start_wall;
	cb->end_ms = b->end_wall;
	cb->error = sl_strdup(b->error);
	if (!live)
		return;
	for (size_t i = 0; i < b->nkr; i++) {
		ckpt_range *r = ckpt_add_range(&c->ranges, &c->nranges);
		r->batch_ms = b->time_ms;
		r->node = b->kr[i].node;
		r->topic = sl_strdup(b->kr[i].topic);
		r->partition = b->kr[i].partition;
		r->from = b->kr[i].from;
		r->until = b->kr[i].until;
	}
	for (size_t i = 0; i < b->nblocks; i++)
		snapshot_block(c, b->blocks[i], b->time_ms);
}

void batches_snapshot(job *j, ckpt_job *c)
{
	for (size_t i = 0; i < j->nretiring; i++)
		snapshot_batch(c, j->retiring[i], false);
	for (size_t i = 0; i < j->nbatches; i++)
		snapshot_batch(c, j->batches[i], true);
	for (size_t i = 0; i < j->npending; i++)
		snapshot_block(c, j->pending[i], 0);
	for (size_t i = 0; i < j->nkoff; i++) {
		ckpt_range *r = ckpt_add_range(&c->offsets, &c->noffsets);
		*r = j->koff[i];
		r->topic = sl_strdup(j->koff[i].topic);
	}
}

static rblock *block_from(const ckpt_block *cb)
{
	rblock *b = sl_calloc(1, sizeof(*b));
	b->id = sl_strdup(cb->id);
	b->node = cb->node;
	b->records = cb->records;
	b->bytes = cb->bytes;
	b->created_ms = cb->created_ms;
	b->nholders = cb->nholders < HOLDERS_MAX ? cb->nholders : HOLDERS_MAX;
	for (int h = 0; h < b->nholders; h++) {
		snprintf(b->holder_id[h], sizeof(b->holder_id[h]), "%s",
		         cb->holder_id[h]);
		b->holder_url[h] = sl_strdup(cb->holder_url[h]);
	}
	b->wal = sl_strdup(cb->wal);
	return b;
}

static void batch_restore(job *j, const ckpt_job *c, const ckpt_batch *cb)
{
	batch *b = batch_make(j, cb->time_ms);
	b->input_records = cb->input_records;
	for (size_t i = 0; i < b->nojobs && i < 64; i++)
		if (cb->outputs_done & (1ull << i)) {
			b->ojobs[i]->state = OJ_DONE; /* committed before the restart */
			b->ojobs_ended++;
		}
	if (b->ojobs_ended > 0)
		b->state = BATCH_RUNNING;
	for (size_t i = 0; i < c->nranges; i++) {
		const ckpt_range *r = &c->ranges[i];
		if (r->batch_ms != cb->time_ms)
			continue;
		b->kr = sl_realloc(b->kr, (b->nkr + 1) * sizeof(*b->kr));
		b->kr[b->nkr++] = (krange){.node = r->node,
		                           .topic = sl_strdup(r->topic),
		                           .partition = r->partition,
		                           .from = r->from,
		                           .until = r->until};
	}
	for (size_t i = 0; i < c->nblocks; i++) {
		if (c->blocks[i].batch_ms != cb->time_ms)
			continue;
		b->blocks = sl_realloc(b->blocks, (b->nblocks + 1) * sizeof(*b->blocks));
		b->blocks[b->nblocks++] = block_from(&c->blocks[i]);
	}
	if (j->nbatches == j->batches_cap) {
		j->batches_cap = j->batches_cap ? j->batches_cap * 2 : 8;
		j->batches = sl_realloc(j->batches, j->batches_cap * sizeof(*j->batches));
	}
	j->batches[j->nbatches++] = b;
	log_info("job %s: batch %lld re-queued from the checkpoint (%zu blocks, %zu "
	         "Kafka ranges, %zu of %zu outputs already committed)",
	         j->name, (long long)b->time_ms, b->nblocks, b->nkr, b->ojobs_ended,
	         b->nojobs);
}

void batches_restore(job *j, const ckpt_job *c)
{
	if (c->next_batch_ms > j->next_batch_ms)
		j->next_batch_ms = c->next_batch_ms;
	j->last_batch_ms = c->last_batch_ms;
	for (size_t i = 0; i < c->nbatches; i++)
		batch_restore(j, c, &c->batches[i]);
	for (size_t i = 0; i < c->nblocks; i++) {
		if (c->blocks[i].batch_ms != 0)
			continue;
		if (j->npending == j->pending_cap) {
			j->pending_cap = j->pending_cap ? j->pending_cap * 2 : 64;
			j->pending =
			    sl_realloc(j->pending, j->pending_cap * sizeof(*j->pending));
		}
		j->pending[j->npending++] = block_from(&c->blocks[i]);
	}
	for (size_t i = 0; i < c->noffsets; i++) {
		ckpt_range *r = ckpt_add_range(&j->koff, &j->nkoff);
		*r = c->offsets[i];
		r->topic = sl_strdup(c->offsets[i].topic);
	}
}

static void ojob_reset(ojob *oj)
{
	for (size_t s = 0; s < oj->nstages; s++)
		stage_free(oj->stages[s]);
	sl_free(oj->stages);
	sl_free(oj->save_tmp);
	sl_free(oj->save_final);
	oj->stages = NULL;
	oj->nstages = 0;
	oj->result = NULL;
	oj->save_tmp = oj->save_final = NULL;
	oj->fetch_failures = 0;
	oj->state = OJ_WAITING;
}

void batches_rearm(job *j)
{
	for (size_t i = 0; i < j->nbatches; i++) {
		batch *b = j->batches[i];
		if (b->state != BATCH_FAILED)
			continue;
		b->nshuffles = 0; /* the failed output jobs' stages go */
		b->ojobs_ended = 0;
		for (size_t k = 0; k < b->nojobs; k++) {
			if (b->ojobs[k]->state == OJ_DONE)
				b->ojobs_ended++;
			else
				ojob_reset(b->ojobs[k]);
		}
		b->state = b->ojobs_ended > 0 ? BATCH_RUNNING : BATCH_QUEUED;
		b->error[0] = '\0';
		b->gen_seq = b->end_seq = 0;
		log_info("job %s: batch %lld runs again (%zu of %zu outputs committed)",
		         j->name, (long long)b->time_ms, b->ojobs_ended, b->nojobs);
	}
}

void batches_drop_pending(job *j)
{
	if (j->npending == 0)
		return;
	sched_broadcast_remove(j->e, "", j->pending, j->npending);
	for (size_t i = 0; i < j->npending; i++)
		rblock_free(j->pending[i]);
	j->npending = 0;
}
