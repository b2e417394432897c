/*
 * Running one task: input -> fused chain of narrow operators -> sink.
 *
 * The chain is a push pipeline: each operator is an sl_emitter whose emit
 * calls the user function with the next operator as its output, so a record
 * goes from the input to the sink without being buffered between operators
 * (Spark's pipelining of narrow transformations within a stage).
 *
 * Inputs: generator indices, receiver blocks (local, else fetched from a
 * holder), text files, Kafka offset ranges (kafka_io.h), or the shuffle
 * buckets of a parent map stage (worker/shuffle.c). Sinks: shuffle buckets
 * (worker/shuffle.c), print lines, a part file of a save_as_text_files
 * directory, a Kafka topic, or a foreach_partition call.
 *
 * A missing receiver block fails the task (retried; the block may come back
 * with its replica's holder); a missing shuffle bucket is FETCH_FAILED so
 * the master recomputes that map output instead.
 */
#include "alloc.h"
#include "log.h"
#include "msgtypes.h"
#include "ops_int.h"
#include "proc.h"
#include "sluice/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int ops_fail(task_run *tr, Sluice__TaskStatus__State state, const char *fmt, ...)
{
	if (tr->state == SLUICE__TASK_STATUS__STATE__FINISHED) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(tr->err, sizeof(tr->err), fmt, ap);
		va_end(ap);
		tr->state = state;
	}
	return SL_EUSER;
}

int ops_user_failed(task_run *tr, const Sluice__Node *n, int rv)
{
	return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
	                "user function '%s' (%s, node %u) returned %d", n->fn,
	                graph_kind_name(n->kind), n->id, rv);
}

/* ---- the operator chain ---- */

static int op_emit(sl_emitter *self, const sl_record *r)
{
	op_em *op = (op_em *)self;
	int rv;
	if (op->tr->state != SLUICE__TASK_STATUS__STATE__FINISHED)
		return SL_EUSER;
	if (op->node->kind == SLUICE__NODE_KIND__OP_FILTER) {
		rv = ((sl_filter_fn)op->fn)(r);
		if (rv < 0)
			return ops_user_failed(op->tr, op->node, rv);
		return rv > 0 ? op->next->emit(op->next, r) : 0;
	}
	if (op->node->kind == SLUICE__NODE_KIND__OP_ASSIGN_EVENT_TIME) {
		sl_record timed = *r;
		rv = ((sl_event_time_fn)op->fn)(r, &timed.event_time_ms);
		if (rv != 0)
			return ops_user_failed(op->tr, op->node, rv);
		return op->next->emit(op->next, &timed);
	}
	rv = ((sl_map_fn)op->fn)(r, op->next);
	if (rv != 0)
		return op->tr->state != SLUICE__TASK_STATUS__STATE__FINISHED
		           ? rv
		           : ops_user_failed(op->tr, op->node, rv);
	return 0;
}

/* The fused word count (builtin_split_count) standing in for the last two
 * operators split -> pair and the combine of the shuffle sink. */
static int op_split_count(sl_emitter *self, const sl_record *r)
{
	task_run *tr = ((op_em *)self)->tr;
	tr->st->records_out += builtin_split_count(r, tr->maps, tr->nred);
	return shuffle_sink_note(tr, (size_t)r->value_len + 1);
}

/* Fuses the chain's tail when it is exactly sl_split_words -> sl_pair_one
 * into a shuffle sink summing i64 values (or counting keys): the common word
 * count then runs in one pass per line instead of three calls per word. */
static void chain_fuse(task_run *tr)
{
	size_t n = tr->ts->n_chain;
	if (n < 2 || tr->maps == NULL ||
	    !((tr->sum_i64 && tr->keying == SHK_AS_IS) || tr->keying == SHK_COUNT_KEY))
		return;
	void *const *fns = tr->j->fns;
	const uint32_t *chain = tr->ts->chain;
	if (fns[chain[n - 2]] != builtin_find("sl_split_words", NULL) ||
	    fns[chain[n - 1]] != builtin_find("sl_pair_one", NULL))
		return;
	tr->ops[n - 2].base.emit = op_split_count;
}

static void chain_build(task_run *tr)
{
	const Sluice__TaskSpec *ts = tr->ts;
	tr->ops = sl_calloc(ts->n_chain + 1, sizeof(op_em));
	sl_emitter *next = &tr->sink;
	for (size_t i = ts->n_chain; i-- > 0;) {
		op_em *op = &tr->ops[i];
		op->base.emit = op_emit;
		op->tr = tr;
		op->node = graph_node(tr->g, ts->chain[i]);
		op->fn = tr->j->fns[ts->chain[i]];
		op->next = next;
		next = &op->base;
	}
	tr->head = next;
}

/* ---- formatting for print and save ---- */

static int effective_format(const Sluice__JobGraph *g, uint32_t id)
{
	for (int guard = 0; guard < 10000; guard++) {
		const Sluice__Node *n = graph_node(g, id);
		if (n->value_format != 0)
			return n->value_format;
		if (n->kind != SLUICE__NODE_KIND__OP_FILTER &&
		    n->kind != SLUICE__NODE_KIND__OP_REPARTITION &&
		    n->kind != SLUICE__NODE_KIND__OP_UNION &&
		    n->kind != SLUICE__NODE_KIND__OP_WINDOW)
			return 0;
		id = n->inputs[0];
	}
	return 0;
}

static void fmt_put(task_run *tr, size_t *len, const void *p, size_t n)
{
	if (*len + n + 32 > tr->fmtcap) {
		tr->fmtcap = (*len + n + 32) * 2;
		tr->fmtbuf = sl_realloc(tr->fmtbuf, tr->fmtcap);
	}
	if (n > 0) /* p may be NULL for an empty value */
		memcpy(tr->fmtbuf + *len, p, n);
	*len += n;
}

/* A value list as "[a,b]", an absent element as "null"; with nested set,
 * each element is itself a list (cogroup). A malformed list ends at the
 * damage, marked "...". */
static void fmt_list(task_run *tr, size_t *len, const uint8_t *v, uint32_t vlen,
                     bool nested)
{
	uint32_t off = 0, elen;
	const uint8_t *e;
	int rv;
	fmt_put(tr, len, "[", 1);
	for (bool first = true; (rv = sl_list_next(v, vlen, &off, &e, &elen)) > 0;
	     first = false) {
		if (!first)
			fmt_put(tr, len, ",", 1);
		if (e == NULL)
			fmt_put(tr, len, "null", 4);
		else if (nested)
			fmt_list(tr, len, e, elen, false);
		else
			fmt_put(tr, len, e, elen);
	}
	if (rv < 0)
		fmt_put(tr, len, "...", 3);
	fmt_put(tr, len, "]", 1);
}

static void fmt_value(task_run *tr, size_t *len, const uint8_t *v, uint32_t vlen)
{
	char num[32];
	if (tr->val_fmt == SLUICE__VALUE_FORMAT__FORMAT_I64 && vlen == 8) {
		int n = snprintf(num, sizeof(num), "%" PRId64, sl_i64_decode(v, 8));
		fmt_put(tr, len, num, (size_t)n);
	} else if (tr->val_fmt == SLUICE__VALUE_FORMAT__FORMAT_LIST_TEXT ||
	           tr->val_fmt == SLUICE__VALUE_FORMAT__FORMAT_LIST_LISTS) {
		fmt_list(tr, len, v, vlen,
		         tr->val_fmt == SLUICE__VALUE_FORMAT__FORMAT_LIST_LISTS);
	} else {
		fmt_put(tr, len, v, vlen);
	}
}

/* Formats a record as a line: "key<TAB>value" or "value". */
static const char *fmt_record(task_run *tr, const sl_record *r, size_t *len)
{
	*len = 0;
	if (r->key_len > 0) {
		fmt_put(tr, len, r->key, r->key_len);
		fmt_put(tr, len, "\t", 1);
	}
	fmt_value(tr, len, r->value, r->value_len);
	tr->fmtbuf[*len] = '\0';
	return tr->fmtbuf;
}

/* ---- sinks ---- */

static int sink_print(sl_emitter *self, const sl_record *r)
{
	task_run *tr = self->arg;
	size_t len;
	tr->st->records_out++;
	if (tr->nlines < tr->ts->output->print_limit) {
		fmt_record(tr, r, &len);
		tr->lines = sl_realloc(tr->lines, (tr->nlines + 1) * sizeof(char *));
		tr->lines[tr->nlines++] = sl_strndup(tr->fmtbuf, len);
	}
	return 0;
}

static int sink_save(sl_emitter *self, const sl_record *r)
{
	task_run *tr = self->arg;
	size_t len;
	tr->st->records_out++;
	fmt_record(tr, r, &len);
	tr->fmtbuf[len] = '\n';
	if (fwrite(tr->fmtbuf, 1, len + 1, tr->save) != len + 1)
		return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		                "writing part file: %s", strerror(errno));
	return 0;
}

static int sink_kafka(sl_emitter *self, const sl_record *r)
{
	task_run *tr = self->arg;
	char err[512];
	tr->st->records_out++;
	if (tr->kdone)
		return 0;
	int rv = kafka_out_write(tr->kout, r, err, sizeof(err));
	return rv == SL_OK ? 0
	                   : ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "%s", err);
}

static int sink_kafka_open(task_run *tr)
{
	char err[512];
	const Sluice__Node *n = graph_node(tr->g, tr->ts->output->output_node);
	tr->sink.emit = sink_kafka;
	int rv = kafka_out_open(wengine_kafka(tr->we), tr->j->info->name, n,
	                        tr->ts->batch_ms, tr->ts->partition, tr->ts->attempt,
	                        &tr->kout, &tr->kdone, err, sizeof(err));
	if (rv != SL_OK)
		return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "%s", err);
	if (tr->kdone)
		log_info("batch %lld partition %u: output already committed to %s; not "
		         "written "
		         "again",
		         (long long)tr->ts->batch_ms, tr->ts->partition, n->topics);
	return SL_OK;
}

static int sink_collect(sl_emitter *self, const sl_record *r)
{
	task_run *tr = self->arg;
	tr->st->records_out++;
	rbuf_append_record(&tr->collect, r);
	return 0;
}

static char *part_path(task_run *tr, bool tmp)
{
	return sl_asprintf("%s/part-%05u%s", tr->ts->output->save_dir, tr->ts->partition,
	                   tmp ? ".inprogress" : "");
}

static int sink_open(task_run *tr)
{
	const Sluice__TaskOutput *o = tr->ts->output;
	tr->sink.arg = tr;
	const Sluice__Node *on = graph_node(tr->g, o->output_node);
	if (graph_is_output(on->kind))
		tr->val_fmt = effective_format(tr->g, on->inputs[0]);
	switch (o->kind) {
	case SLUICE__TASK_OUTPUT__KIND__SHUFFLE:
		return shuffle_sink_open(tr);
	case SLUICE__TASK_OUTPUT__KIND__PRINT:
		tr->sink.emit = sink_print;
		return SL_OK;
	case SLUICE__TASK_OUTPUT__KIND__SAVE: {
		char err[512];
		tr->sink.emit = sink_save;
		char *tmp = part_path(tr, true);
		if (proc_mkdirs_parent(tmp, err, sizeof(err)) != SL_OK ||
		    (tr->save = fopen(tmp, "w")) == NULL)
			ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			         "cannot create %s: %s", tmp, strerror(errno));
		sl_free(tmp);
		return tr->save ? SL_OK : SL_EIO;
	}
	case SLUICE__TASK_OUTPUT__KIND__FOREACH:
		tr->sink.emit = sink_collect;
		return SL_OK;
	case SLUICE__TASK_OUTPUT__KIND__KAFKA:
		return sink_kafka_open(tr);
	default:
		return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		                "output kind %d is not supported by this worker",
		                o->kind);
	}
}

int ops_rbuf_iter_next(sl_iter *it, sl_record *r)
{
	int rv = rbuf_iter_next(it->arg, r);
	return rv > 0 ? 1 : 0;
}

static void sink_close(task_run *tr)
{
	const Sluice__TaskOutput *o = tr->ts->output;
	bool ok = tr->state == SLUICE__TASK_STATUS__STATE__FINISHED;
	if (o->kind == SLUICE__TASK_OUTPUT__KIND__SHUFFLE && ok) {
		shuffle_sink_close(tr);
	} else if (o->kind == SLUICE__TASK_OUTPUT__KIND__SAVE && tr->save != NULL) {
		char *tmp = part_path(tr, true), *fin = part_path(tr, false);
		if (fclose(tr->save) != 0 && ok)
			ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "closing %s: %s",
			         tmp, strerror(errno));
		else if (ok && rename(tmp, fin) != 0)
			ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			         "publishing %s: %s", fin, strerror(errno));
		tr->save = NULL;
		sl_free(tmp);
		sl_free(fin);
	} else if (o->kind == SLUICE__TASK_OUTPUT__KIND__KAFKA && tr->kout != NULL) {
		char err[512];
		if (kafka_out_close(tr->kout, ok, err, sizeof(err)) != SL_OK)
			ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "%s", err);
		tr->kout = NULL;
	} else if (o->kind == SLUICE__TASK_OUTPUT__KIND__FOREACH && ok) {
		const Sluice__Node *n = graph_node(tr->g, o->output_node);
		rbuf_iter ri;
		rbuf_iter_init(&ri, tr->collect.data, tr->collect.len);
		sl_iter it = {.next = ops_rbuf_iter_next, .arg = &ri};
		int rv = ((sl_partition_fn)tr->j->fns[n->id])(
		    tr->ts->batch_ms, (int)tr->ts->partition, &it);
		if (rv != 0)
			ops_user_failed(tr, n, rv);
	}
}

/* ---- inputs ---- */

int ops_push_rbuf(task_run *tr, const uint8_t *data, size_t len)
{
	rbuf_iter it;
	sl_record r;
	int rv;
	rbuf_iter_init(&it, data, len);
	while ((rv = rbuf_iter_next(&it, &r)) > 0) {
		tr->st->records_in++;
		if ((rv = tr->head->emit(tr->head, &r)) != 0)
			return rv;
	}
	if (rv < 0)
		return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		                "a block is malformed");
	return SL_OK;
}

/* Gets a block from this worker or fetches it from url; *ref or *copy is set. */
static int block_get(task_run *tr, const char *id, const char *worker_id, const char *url,
                     block_ref **ref, rbuf *copy, char *err, size_t errlen)
{
	worker *w = wengine_worker(tr->we);
	envelope rep;
	if (strcmp(worker_id, w->id) == 0)
		return blockmgr_get(wengine_blocks(tr->we), id, ref);
	rpc_client *c = peers_get(wengine_peers(tr->we), url, err, errlen);
	if (c == NULL)
		return SL_ETRANSPORT;
	Sluice__FetchBlock q = SLUICE__FETCH_BLOCK__INIT;
	q.block_id = (char *)id;
	int rv = rpc_call_pb(c, MSG_FETCH_BLOCK, &q, &rep, err, errlen);
	if (rv != SL_OK)
		return rv;
	Sluice__FetchBlockReply *r =
	    sluice__fetch_block_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	if (r == NULL || !r->found) {
		snprintf(err, errlen, "block %s not found on %s", id, worker_id);
		rv = SL_ENOTFOUND;
	} else {
		rv = block_decode(r->data.data, r->data.len, SIZE_MAX / 2, copy, err,
		                  errlen);
	}
	if (r)
		sluice__fetch_block_reply__free_unpacked(r, NULL);
	return rv;
}

int ops_with_block(task_run *tr, const char *id, const char *wid, const char *url,
                   ops_block_fn fn, char *err, size_t errlen)
{
	block_ref *ref = NULL;
	rbuf copy;
	rbuf_init(&copy);
	int rv = block_get(tr, id, wid, url, &ref, &copy, err, errlen);
	if (rv == SL_ENOTFOUND && err[0] == '\0')
		snprintf(err, errlen, "block %s not found on %s", id, wid);
	if (rv != SL_OK)
		return rv;
	const rbuf *b = ref ? block_ref_data(ref) : &copy;
	rv = fn(tr, b->data, b->len);
	if (ref)
		block_ref_release(ref);
	rbuf_free(&copy);
	return rv == SL_OK ? SL_OK : SL_EUSER;
}

/* Reads each input block from a holder: this worker's own copy first (no
 * copy over the network, and no wait on a remote holder that may be dead
 * but not yet known LOST), then the others in the master's order. */
static int input_blocks(task_run *tr)
{
	const Sluice__TaskInput *in = tr->ts->input;
	const char *self = wengine_worker(tr->we)->id;
	for (size_t b = 0; b < in->n_blocks; b++) {
		const Sluice__BlockRef *br = in->blocks[b];
		char err[512] = "";
		int rv = SL_ENOTFOUND;
		/* pass 0: the local holder; pass 1: the remote ones */
		for (int pass = 0; pass < 2 && rv != SL_OK && rv != SL_EUSER; pass++) {
			for (size_t h = 0; h < br->n_worker_ids && h < br->n_urls; h++) {
				if ((strcmp(br->worker_ids[h], self) == 0) != (pass == 0))
					continue;
				err[0] = '\0';
				rv = ops_with_block(tr, br->block_id, br->worker_ids[h],
				                    br->urls[h], ops_push_rbuf, err,
				                    sizeof(err));
				if (rv == SL_OK || rv == SL_EUSER)
					break;
				log_warn("block %s from %s: %s", br->block_id,
				         br->worker_ids[h], err);
			}
		}
		if (rv == SL_EUSER)
			return rv;
		if (rv != SL_OK)
			return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			                "input block %s unavailable on every holder: %s",
			                br->block_id, err);
	}
	return SL_OK;
}

static int input_generator(task_run *tr)
{
	const Sluice__TaskInput *in = tr->ts->input;
	sl_generator_fn gen = (sl_generator_fn)tr->j->fns[in->source_node];
	const Sluice__Node *n = graph_node(tr->g, in->source_node);
	for (int64_t i = 0; i < in->gen_count; i++) {
		tr->st->records_in++;
		int rv = gen(tr->ts->batch_ms, in->gen_start + i, tr->head);
		if (rv != 0)
			return tr->state != SLUICE__TASK_STATUS__STATE__FINISHED
			           ? rv
			           : ops_user_failed(tr, n, rv);
	}
	return SL_OK;
}

static int kafka_emit(void *arg, const sl_record *r)
{
	task_run *tr = arg;
	tr->st->records_in++;
	return tr->head->emit(tr->head, r);
}

static int input_kafka(task_run *tr)
{
	char err[512];
	const Sluice__TaskInput *in = tr->ts->input;
	const Sluice__Node *n = graph_node(tr->g, in->source_node);
	int rv = kafka_read_range(wengine_kafka(tr->we), tr->ts->job_id, n, in,
	                          kafka_emit, tr, err, sizeof(err));
	if (rv == SL_OK || tr->state != SLUICE__TASK_STATUS__STATE__FINISHED)
		return rv;
	return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "%s", err);
}

static int input_files(task_run *tr)
{
	const Sluice__TaskInput *in = tr->ts->input;
	for (size_t f = 0; f < in->n_files; f++) {
		FILE *fp = fopen(in->files[f], "r");
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		int rv = SL_OK;
		if (fp == NULL)
			return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			                "cannot read %s: %s", in->files[f],
			                strerror(errno));
		while (rv == SL_OK && (n = getline(&line, &cap, fp)) >= 0) {
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
				n--;
			sl_record r = {.value = (uint8_t *)line,
			               .value_len = (uint32_t)n};
			tr->st->records_in++;
			rv = tr->head->emit(tr->head, &r);
		}
		free(line);
		fclose(fp);
		if (rv != SL_OK)
			return rv;
	}
	return SL_OK;
}

static int input_run(task_run *tr)
{
	switch (tr->ts->input->kind) {
	case SLUICE__TASK_INPUT__KIND__BLOCKS:
		return input_blocks(tr);
	case SLUICE__TASK_INPUT__KIND__GENERATOR:
		return input_generator(tr);
	case SLUICE__TASK_INPUT__KIND__FILES:
		return input_files(tr);
	case SLUICE__TASK_INPUT__KIND__SHUFFLE:
		return shuffle_input_run(tr);
	case SLUICE__TASK_INPUT__KIND__KAFKA:
		return input_kafka(tr);
	default:
		return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		                "input kind %d is not "
		                "supported by this worker",
		                tr->ts->input->kind);
	}
}

static bool spec_valid(task_run *tr)
{
	const Sluice__TaskSpec *ts = tr->ts;
	size_t n = tr->g->n_nodes;
	for (size_t i = 0; i < ts->n_chain; i++)
		if (ts->chain[i] >= n)
			return false;
	const Sluice__TaskInput *in = ts->input;
	const Sluice__TaskOutput *o = ts->output;
	if (in->source_node >= n || in->shuffle_node >= n || o->shuffle_node >= n ||
	    o->output_node >= n)
		return false;
	if (in->kind == SLUICE__TASK_INPUT__KIND__GENERATOR &&
	    graph_node(tr->g, in->source_node)->kind != SLUICE__NODE_KIND__SRC_GENERATOR)
		return false;
	return true;
}

static void run_free(task_run *tr)
{
	shuffle_sink_free(tr);
	sl_free(tr->ops);
	sl_free(tr->fmtbuf);
	rbuf_free(&tr->collect);
	if (tr->save)
		fclose(tr->save);
}

void ops_run_task(wengine *we, wjob *j, const Sluice__TaskSpec *ts,
                  Sluice__TaskStatus *st)
{
	task_run tr;
	memset(&tr, 0, sizeof(tr));
	tr.we = we;
	tr.j = j;
	tr.ts = ts;
	tr.g = j->info->graph;
	tr.st = st;
	tr.state = SLUICE__TASK_STATUS__STATE__FINISHED;
	rbuf_init(&tr.collect);
	tr.api = (api_task){.batch_ms = ts->batch_ms,
	                    .partition = (int)ts->partition,
	                    .attempt = (int)ts->attempt,
	                    .conf = j->conf};
	if (!spec_valid(&tr)) {
		ops_fail(&tr, SLUICE__TASK_STATUS__STATE__FAILED,
		         "task names nodes outside the graph");
	} else {
		api_task_set(&tr.api);
		chain_build(&tr);
		if (sink_open(&tr) == SL_OK) {
			chain_fuse(&tr);
			input_run(&tr);
		}
		sink_close(&tr);
		api_task_set(NULL);
	}
	st->state = tr.state;
	if (tr.state != SLUICE__TASK_STATUS__STATE__FINISHED) {
		st->error = sl_strdup(tr.err);
		st->missing_worker_id = sl_strdup(tr.missing);
	}
	st->lines = tr.lines;
	st->n_lines = tr.nlines;
	run_free(&tr);
}

void ops_status_free(Sluice__TaskStatus *st)
{
	for (size_t i = 0; i < st->n_lines; i++)
		sl_free(st->lines[i]);
	sl_free(st->lines);
	sl_free(st->bucket_bytes);
	if (st->state != SLUICE__TASK_STATUS__STATE__FINISHED) {
		sl_free(st->error);
		sl_free(st->missing_worker_id);
	}
}
