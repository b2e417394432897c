/*
 * state_bench: per-batch cost of the worker's state store
 * (worker/statestore.c) as a function of keys held and keys touched.
 *
 * The claim it checks (issue 11): map_with_state costs what the batch
 * touches, not what the partition holds. For each held count H it seeds H
 * keys, then runs measured batches of 1,000 (and 10,000) records on as many
 * distinct random held keys (a count per key as state, a timeout of 1 h so
 * the deadline heap is live but nothing expires) and prints the median and
 * mean CPU time per batch. update_state_by_key, which Spark defines to call
 * the function for every key held, is measured the same way for contrast,
 * and so is a checkpoint of the whole partition (time and LZ4 size).
 *
 * Usage: state_bench [HELD...]   (default: 1000 1000000); NOHEAP=1 runs
 * without a timeout (no deadline heap), to separate its cost.
 * Results and the machine: docs/performance.md, "State store".
 */
#include "alloc.h"
#include "api.h"
#include "record.h"
#include "sluice/err.h"
#include "statestore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOUCHED        1000
#define MAP_BATCHES    200
#define UPDATE_BATCHES 5

typedef struct {
	sl_iter base;
	rbuf buf;
	rbuf_iter it;
} batch;

static int batch_next(sl_iter *it, sl_record *r)
{
	return rbuf_iter_next(&((batch *)it)->it, r);
}

static int drop_emit(sl_emitter *self, const sl_record *r)
{
	(void)self;
	(void)r;
	return 0;
}

static int count_map(const uint8_t *key, uint32_t klen, const sl_record *in, sl_state *st,
                     sl_emitter *out)
{
	(void)key;
	(void)klen;
	(void)in;
	(void)out;
	uint32_t len = 0;
	const uint8_t *cur = sl_state_get(st, &len);
	uint8_t v[8];
	sl_i64_encode((cur ? sl_i64_decode(cur, len) : 0) + 1, v);
	return sl_state_update(st, v, 8);
}

static int count_update(const uint8_t *key, uint32_t klen, sl_iter *values,
                        const uint8_t *state, uint32_t slen, sl_value *out)
{
	(void)key;
	(void)klen;
	int64_t n = state ? sl_i64_decode(state, slen) : 0;
	sl_record r;
	while (sl_iter_next(values, &r) == 1)
		n++;
	uint8_t v[8];
	sl_i64_encode(n, v);
	sl_value_set(out, v, 8);
	return 0;
}

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Records for keys k<first>..k<first+n-1>, or n random distinct held keys. */
static void batch_fill(batch *b, uint64_t first, size_t n, size_t held, bool random)
{
	char key[32];
	uint8_t one[8];
	sl_i64_encode(1, one);
	rbuf_reset(&b->buf);
	for (size_t i = 0; i < n; i++) {
		/* a stride coprime to held over a random start: n distinct keys */
		uint64_t k = random ? (first + i * 7919) % held : first + i;
		int kl = snprintf(key, sizeof(key), "key-%llu", (unsigned long long)k);
		rbuf_append(&b->buf, key, (uint32_t)kl, one, 8, 0);
	}
	rbuf_iter_init(&b->it, b->buf.data, b->buf.len);
}

typedef int (*run_fn)(state_part *sp, sl_iter *in, sl_emitter *out, state_stats *st,
                      char *err, size_t errlen);

static int run_map(state_part *sp, sl_iter *in, sl_emitter *out, state_stats *st,
                   char *err, size_t errlen)
{
	return state_part_map_with_state(sp, in, count_map, out, st, err, errlen);
}

static int run_update(state_part *sp, sl_iter *in, sl_emitter *out, state_stats *st,
                      char *err, size_t errlen)
{
	return state_part_update_by_key(sp, in, count_update, out, st, err, errlen);
}

static int64_t batch_time = 1000;

static double one_batch(state_part *sp, batch *b, run_fn fn, state_stats *st)
{
	char err[512];
	sl_emitter out = {.emit = drop_emit};
	double t0 = cpu_ms();
	if (state_part_begin(sp, batch_time, err, sizeof(err)) != SL_OK ||
	    fn(sp, &b->base, &out, st, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "state_bench: %s\n", err);
		exit(1);
	}
	state_part_commit(sp);
	batch_time += 1000;
	return cpu_ms() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void measure(const char *what, state_part *sp, batch *b, size_t held,
                    size_t touched, run_fn fn, int nbatches)
{
	double *ms = sl_calloc((size_t)nbatches, sizeof(double)), sum = 0;
	state_stats st = {0};
	for (int i = 0; i < nbatches; i++) {
		batch_fill(b, (uint64_t)rand() % held, touched < held ? touched : held,
		           held, true);
		ms[i] = one_batch(sp, b, fn, &st);
		sum += ms[i];
	}
	qsort(ms, (size_t)nbatches, sizeof(double), cmp_double);
	printf(
	    "%-20s held %8zu  touched/batch %6llu  calls/batch %8llu  per batch: median "
	    "%8.3f ms  mean %8.3f ms  (%d batches)\n",
	    what, held, (unsigned long long)(st.touched / (uint64_t)nbatches),
	    (unsigned long long)(st.calls / (uint64_t)nbatches), ms[nbatches / 2],
	    sum / nbatches, nbatches);
	sl_free(ms);
}

static void checkpoint(state_part *sp, size_t held)
{
	char path[128], err[512];
	struct stat s;
	snprintf(path, sizeof(path), "/tmp/state_bench-%d.ckpt", (int)getpid());
	struct timespec a, z;
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (state_part_checkpoint(sp, path, err, sizeof(err)) != SL_OK ||
	    stat(path, &s) != 0) {
		fprintf(stderr, "state_bench: %s\n", err);
		exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &z);
	printf("%-20s held %8zu  %.1f MB (LZ4) in %.1f ms wall (incl. fsync)\n",
	       "checkpoint", held, (double)s.st_size / 1e6,
	       (double)(z.tv_sec - a.tv_sec) * 1e3 +
	           (double)(z.tv_nsec - a.tv_nsec) / 1e6);
	unlink(path);
}

static void bench_held(size_t held)
{
	state_part *sp = state_part_new(getenv("NOHEAP") ? 0 : 3600 * 1000);
	batch b = {.base.next = batch_next};
	rbuf_init(&b.buf);
	for (size_t first = 0; first < held; first += 10000) {
		batch_fill(&b, first, held - first < 10000 ? held - first : 10000, held,
		           false);
		state_stats st = {0};
		one_batch(sp, &b, run_map, &st);
	}
	measure("map_with_state", sp, &b, held, TOUCHED, run_map, MAP_BATCHES);
	measure("map_with_state", sp, &b, held, 10 * TOUCHED, run_map, MAP_BATCHES / 4);
	measure("update_state_by_key", sp, &b, held, TOUCHED, run_update, UPDATE_BATCHES);
	checkpoint(sp, held);
	rbuf_free(&b.buf);
	state_part_free(sp);
}

int main(int argc, char **argv)
{
	srand(11);
	if (argc < 2) {
		bench_held(1000);
		bench_held(1000000);
	}
	for (int i = 1; i < argc; i++)
		bench_held((size_t)strtoull(argv[i], NULL, 10));
	return 0;
}
