/*
 * The job generator and the batch lifecycle (contract in jobgen.h): batch
 * generation at every interval, output jobs started oldest batch first,
 * batch end, retirement once durable, and the batches' part of the
 * checkpoint (snapshot and restore).
 */
#include "jobgen.h"
#include "alloc.h"
#include "api.h"
#include "clock.h"
#include "jobdrop.h"
#include "kafka_src.h"
#include "log.h"
#include "plan.h"
#include "ratecontrol.h"
#include "stateplan.h"
#include "rtracker.h"
#include "sluice/err.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A finished save_as_text_files directory (DIR/SUB holding _SUCCESS; never
 * an uncommitted SUB.tmp-eN): its part files go into the batch. */
static bool take_save_dir(batch *b, const char *sub)
{
	char *ok = sl_asprintf("%s/_SUCCESS", sub);
	bool done = strstr(strrchr(sub, '/'), ".tmp-e") == NULL && access(ok, F_OK) == 0;
	sl_free(ok);
	DIR *d = done ? opendir(sub) : NULL;
	if (d == NULL)
		return false;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		if (strncmp(de->d_name, "part-", 5) != 0)
			continue;
		b->files = sl_realloc(b->files, (b->nfiles + 1) * sizeof(char *));
		b->files[b->nfiles++] = sl_asprintf("%s/%s", sub, de->d_name);
	}
	closedir(d);
	return true;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether path is an entry of dir itself (not of a subdirectory). */
static bool entry_of(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && path[n] == '/' &&
	       strchr(path + n + 1, '/') == NULL;
}

/* The set of taken files after listing dir: those still there (hit), those
 * of other directories, and the new ones; sorted again. A taken file that
 * left the directory is forgotten, so the set stays the size of the
 * directories and a new file of the same name later is read. */
static void seen_update(job *j, const char *dir, const bool *hit, char **fresh,
                        size_t nfresh)
{
	size_t k = 0;
	for (size_t i = 0; i < j->nseen; i++) {
		if (hit[i] || !entry_of(j->seen_files[i], dir))
			j->seen_files[k++] = j->seen_files[i];
		else
			sl_free(j->seen_files[i]);
	}
	j->seen_files = sl_realloc(j->seen_files, (k + nfresh + 1) * sizeof(char *));
	if (nfresh > 0)
		memcpy(j->seen_files + k, fresh, nfresh * sizeof(char *));
	j->nseen = k + nfresh;
	if (j->nseen > 1)
		qsort(j->seen_files, j->nseen, sizeof(char *), cmp_path);
}

static void list_new_files(job *j, const Sluice__Node *n, batch *b)
{
	DIR *d = opendir(n->path);
	if (d == NULL)
		return;
	bool *hit = sl_calloc(j->nseen + 1, sizeof(bool));
	char **fresh = NULL;
	size_t nfresh = 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		struct stat st;
		if (de->d_name[0] == '.' || strstr(de->d_name, "._COPYING_") != NULL)
			continue;
		char *path = sl_asprintf("%s/%s", n->path, de->d_name);
		char **at = j->nseen ? bsearch(&path, j->seen_files, j->nseen,
		                               sizeof(char *), cmp_path)
		                     : NULL;
		if (at != NULL)
			hit[at - j->seen_files] = true;
		if (at != NULL || stat(path, &st) != 0 ||
		    (int64_t)st.st_mtime * 1000 > b->time_ms ||
		    !(S_ISREG(st.st_mode) ||
		      (S_ISDIR(st.st_mode) && take_save_dir(b, path)))) {
			sl_free(path);
			continue;
		}
		fresh = sl_realloc(fresh, (nfresh + 1) * sizeof(char *));
		fresh[nfresh++] = sl_strdup(path);
		if (S_ISREG(st.st_mode)) {
			b->files = sl_realloc(b->files, (b->nfiles + 1) * sizeof(char *));
			b->files[b->nfiles++] = path;
		} else {
			sl_free(path);
		}
	}
	closedir(d);
	seen_update(j, n->path, hit, fresh, nfresh);
	sl_free(hit);
	sl_free(fresh);
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
	rtracker_allocate(&j->rt, &b->blocks, &b->nblocks);
	kafka_take(&j->kafka, &b->kr, &b->nkr, &b->input_records);
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
	       (!j->draining || j->rt.npending > 0) &&
	       kafka_ready(&j->kafka, j->next_batch_ms, j->halt, sizeof(j->halt))) {
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
		/* State: batch t applies to the state batch t-1 left, and a
		 * worker can undo only its last batch, so a stateful job runs
		 * its batches one at a time, each once the previous one's end is
		 * durable (a restarted master never re-runs an older batch than
		 * the workers' state has seen). */
		if (j->stateful && (i > 0 || j->nretiring > 0))
			break;
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
			running += oj->state == OJ_RUNNING;
		}
	}
}

void batch_free(batch *b)
{
	for (size_t i = 0; i < b->nojobs; i++)
		ojob_free(b->ojobs[i]);
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
	sl_free(b->wins);
	sl_free(b->joins);
	sl_free(b);
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
	plan_stats ps = plan_batch_stats(b);
	h->first_task_ms = ps.first_task_wall ? ps.first_task_wall - b->start_wall : -1;
	h->tasks = ps.tasks;
	h->task_failures = ps.task_failures;
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
	         (long long)(b->end_wall - b->start_wall), plan_batch_stats(b).tasks);
	batch_record(j, b);
	ratecontrol_batch_done(j, b);
	if (failed && j->stop_on_failure)
		snprintf(j->halt, sizeof(j->halt),
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
			plan_release_batch(b);
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
	plan_stats ps = plan_batch_stats(b);
	bi->first_task_ms =
	    ps.first_task_wall && b->start_wall ? ps.first_task_wall - b->start_wall : -1;
	bi->tasks = ps.tasks;
	bi->task_failures = ps.task_failures;
	bi->error = (char *)b->error;
}

/* No batch reads b's datasets any more: its shuffle buckets and its
 * references to receiver blocks go, and it is freed. */
static void batch_drop(job *j, batch *b)
{
	char prefix[96];
	snprintf(prefix, sizeof(prefix), "shf-%llu-%lld-", (unsigned long long)j->id,
	         (long long)b->time_ms);
	sched_remove_data(j->e->sched, prefix, NULL, 0);
	rtracker_release(&j->rt, b->blocks, b->nblocks);
	batch_free(b);
}

/* Its end is durable: nothing will re-run it, so its Kafka offsets may be
 * committed to the group, and its datasets go unless a later batch's window
 * may still read them (job.retain_ms: then it is kept). */
static void batch_retire(job *j, batch *b)
{
	if (b->state == BATCH_DONE)
		kafka_batch_done(&j->kafka, b->kr, b->nkr);
	if (j->retain_ms <= 0) {
		batch_drop(j, b);
		return;
	}
	j->kept = sl_realloc(j->kept, (j->nkept + 1) * sizeof(*j->kept));
	j->kept[j->nkept++] = b;
}

/* Drops the kept batches no window can reach: every batch within
 * retain_ms after them has retired (or the job stopped). */
static void kept_release(job *j)
{
	int64_t oldest = j->next_batch_ms;
	for (size_t i = 0; i < j->nbatches; i++)
		if (j->batches[i]->time_ms < oldest)
			oldest = j->batches[i]->time_ms;
	for (size_t i = 0; i < j->nretiring; i++)
		if (j->retiring[i]->time_ms < oldest)
			oldest = j->retiring[i]->time_ms;
	bool all = j->state == JOB_STOPPED || j->state == JOB_FAILED;
	size_t k = 0;
	for (size_t i = 0; i < j->nkept; i++) {
		batch *b = j->kept[i];
		if (all || b->time_ms + j->retain_ms < oldest)
			batch_drop(j, b);
		else
			j->kept[k++] = b;
	}
	j->nkept = k;
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
	kept_release(j);
	jobdrop_maybe(j); /* a stopped job with nothing left: clean the workers */
}

static const char *batch_state_name(batch_state s)
{
	static const char *const names[] = {"QUEUED", "RUNNING", "DONE", "FAILED"};
	return names[s];
}

/* live: still to run (a failed one is HALTED); data: its Kafka ranges and
 * blocks too (those of a batch kept for the windows of later batches). */
static void snapshot_batch(ckpt_job *c, const batch *b, bool live, bool data)
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
	if (!data)
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
		rtracker_snapshot_block(c, b->blocks[i], b->time_ms);
	for (size_t i = 0; i < b->nfiles; i++)
		ckpt_add_file(c, b->time_ms, b->files[i]);
}

void batches_snapshot(job *j, ckpt_job *c)
{
	for (size_t i = 0; i < j->nkept; i++)
		snapshot_batch(c, j->kept[i], false, true);
	for (size_t i = 0; i < j->nretiring; i++)
		snapshot_batch(c, j->retiring[i], false, j->retain_ms > 0);
	for (size_t i = 0; i < j->nbatches; i++)
		snapshot_batch(c, j->batches[i], true, true);
	for (size_t i = 0; i < j->nkoff; i++) {
		ckpt_range *r = ckpt_add_range(&c->offsets, &c->noffsets);
		*r = j->koff[i];
		r->topic = sl_strdup(j->koff[i].topic);
	}
	for (size_t i = 0; i < j->nseen; i++)
		ckpt_add_file(c, 0, j->seen_files[i]);
	stateplan_snapshot(j, c);
}

/* The Kafka ranges and blocks a checkpoint holds for b's time. */
static void batch_restore_data(job *j, const ckpt_job *c, batch *b)
{
	for (size_t i = 0; i < c->nranges; i++) {
		const ckpt_range *r = &c->ranges[i];
		if (r->batch_ms != b->time_ms)
			continue;
		b->kr = sl_realloc(b->kr, (b->nkr + 1) * sizeof(*b->kr));
		b->kr[b->nkr++] = (krange){.node = r->node,
		                           .topic = sl_strdup(r->topic),
		                           .partition = r->partition,
		                           .from = r->from,
		                           .until = r->until};
	}
	for (size_t i = 0; i < c->nblocks; i++) {
		if (c->blocks[i].batch_ms != b->time_ms)
			continue;
		b->blocks = sl_realloc(b->blocks, (b->nblocks + 1) * sizeof(*b->blocks));
		b->blocks[b->nblocks++] = rtracker_adopt(&j->rt, &c->blocks[i]);
	}
	for (size_t i = 0; i < c->nfiles; i++) {
		if (c->files[i].batch_ms != b->time_ms)
			continue;
		b->files = sl_realloc(b->files, (b->nfiles + 1) * sizeof(char *));
		b->files[b->nfiles++] = sl_strdup(c->files[i].path);
	}
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
	batch_restore_data(j, c, b);
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

/* A retired batch kept for windows (checkpoint_load_kept), made again with
 * its blocks and Kafka ranges, ended, into job.kept. */
static void kept_restore(job *j, const ckpt_job *c, const ckpt_batch *cb)
{
	batch *b = batch_make(j, cb->time_ms);
	b->state = strcmp(cb->state, "FAILED") == 0 ? BATCH_FAILED : BATCH_DONE;
	b->input_records = cb->input_records;
	for (size_t i = 0; i < b->nojobs; i++)
		b->ojobs[i]->state = OJ_DONE;
	b->ojobs_ended = b->nojobs;
	batch_restore_data(j, c, b);
	j->kept = sl_realloc(j->kept, (j->nkept + 1) * sizeof(*j->kept));
	j->kept[j->nkept++] = b;
}

void batches_restore(job *j, const ckpt_job *c)
{
	if (c->next_batch_ms > j->next_batch_ms)
		j->next_batch_ms = c->next_batch_ms;
	j->last_batch_ms = c->last_batch_ms;
	for (size_t i = 0; i < c->nbatches; i++)
		batch_restore(j, c, &c->batches[i]);
	for (size_t i = 0; i < c->nblocks; i++) {
		if (c->blocks[i].batch_ms == 0)
			rtracker_adopt(&j->rt, &c->blocks[i]);
	}
	for (size_t i = 0; i < c->nkept; i++)
		kept_restore(j, c, &c->kept[i]);
	if (j->nkept > 0)
		log_info("job %s: %zu retired batches kept again for windows", j->name,
		         j->nkept);
	for (size_t i = 0; i < c->noffsets; i++) {
		ckpt_range *r = ckpt_add_range(&j->koff, &j->nkoff);
		*r = c->offsets[i];
		r->topic = sl_strdup(c->offsets[i].topic);
	}
	for (size_t i = 0; i < c->nfiles; i++) {
		if (c->files[i].batch_ms != 0)
			continue;
		j->seen_files =
		    sl_realloc(j->seen_files, (j->nseen + 1) * sizeof(char *));
		j->seen_files[j->nseen++] = sl_strdup(c->files[i].path);
	}
	if (j->nseen > 1)
		qsort(j->seen_files, j->nseen, sizeof(char *), cmp_path);
	stateplan_restore(j, c);
}

void batches_rearm(job *j)
{
	for (size_t i = 0; i < j->nbatches; i++) {
		batch *b = j->batches[i];
		if (b->state != BATCH_FAILED)
			continue;
		b->nshuffles = 0; /* the failed output jobs' stages go */
		b->nwins = 0;
		b->njoins = 0;
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
	rtracker_drop_pending(&j->rt);
}
