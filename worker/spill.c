/*
 * Sorted runs of combined records on local disk, merged by key: see
 * spill.h.
 *
 * A run file is a sequence of frames, each
 *   u32 raw length | u32 compressed length | LZ4 (block format) of raw
 * where raw is up to SPILL_FRAME bytes of records in the rbuf encoding
 * (record.h), in kvmap_order. Frames keep a reader's memory to one frame
 * per run however large the run. The merge is a linear scan for the
 * smallest key over the sources (the runs and the map): a set has few
 * runs (its map's data over its budget), so a heap would not pay.
 */
#include "spill.h"
#include "alloc.h"
#include "api.h"
#include "record.h"
#include "sluice/err.h"

#include <errno.h>
#include <lz4.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPILL_FRAME     (64 * 1024)
#define SPILL_FRAME_MAX (1u << 30) /* a frame holds at least one record */
#define SPILL_MAX_RUNS  16         /* open files (and frames) a set keeps */

/* One source of the merge: a run file being read, or the sorted map. */
typedef struct {
	FILE *fp;      /* NULL for the map */
	uint64_t size; /* bytes on disk */
	rbuf frame;    /* the current frame, decompressed */
	uint8_t *comp;
	size_t comp_cap;
	rbuf_iter it;
	size_t pos; /* kvmap_next position (the map) */
	bool has;   /* cur holds the source's next record */
	sl_record cur;
	uint64_t h; /* kvmap_order_hash of cur's key */
} spill_src;

struct spill_set {
	char *dir;
	sl_reduce_fn merge;
	spill_src *src; /* runs, then the map while merging */
	size_t nruns;
	size_t nsrc; /* sources of the merge under way: the runs (+ the map) */
	kvmap *map;
	sl_value key, acc, tmp;
};

spill_set *spill_set_new(const char *dir, sl_reduce_fn merge)
{
	spill_set *s = sl_calloc(1, sizeof(*s));
	s->dir = sl_strdup(dir);
	s->merge = merge;
	return s;
}

void spill_set_free(spill_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nruns; i++) {
		fclose(s->src[i].fp);
		rbuf_free(&s->src[i].frame);
		sl_free(s->src[i].comp);
	}
	sl_free(s->src);
	sl_free(s->dir);
	sl_free(s->key.data);
	sl_free(s->acc.data);
	sl_free(s->tmp.data);
	sl_free(s);
}

size_t spill_set_runs(const spill_set *s)
{
	return s->nruns;
}

uint64_t spill_set_disk_bytes(const spill_set *s)
{
	uint64_t n = 0;
	for (size_t i = 0; i < s->nruns; i++)
		n += s->src[i].size;
	return n;
}

/* ---- writing a run ---- */

static FILE *run_create(spill_set *s, char *err, size_t errlen)
{
	char *path = sl_asprintf("%s/spill-XXXXXX", s->dir);
	int fd = mkstemp(path);
	FILE *fp = NULL;
	if (fd < 0) {
		snprintf(err, errlen, "creating a spill file in %s: %s", s->dir,
		         strerror(errno));
	} else {
		unlink(path); /* the open descriptor keeps it until closed */
		fp = fdopen(fd, "w+");
		if (fp == NULL) {
			snprintf(err, errlen, "opening spill file: %s", strerror(errno));
			close(fd);
		}
	}
	sl_free(path);
	return fp;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Writes records as frames of a run. */
typedef struct {
	FILE *fp;
	rbuf raw;
	uint8_t *comp;
	size_t cap;
	uint64_t size;
	int rv;
} run_writer;

static void frame_write(run_writer *w)
{
	if (w->raw.len > SPILL_FRAME_MAX) {
		w->rv = SL_EINVAL;
		return;
	}
	size_t bound = (size_t)LZ4_compressBound((int)w->raw.len);
	if (bound > w->cap) {
		w->comp = sl_realloc(w->comp, bound);
		w->cap = bound;
	}
	int n = LZ4_compress_default((const char *)w->raw.data, (char *)w->comp,
	                             (int)w->raw.len, (int)bound);
	uint8_t hdr[8];
	put_u32(hdr, (uint32_t)w->raw.len);
	put_u32(hdr + 4, (uint32_t)n);
	if (n <= 0 || fwrite(hdr, 1, 8, w->fp) != 8 ||
	    fwrite(w->comp, 1, (size_t)n, w->fp) != (size_t)n)
		w->rv = SL_EIO;
	w->size += 8 + (uint64_t)n;
	rbuf_reset(&w->raw);
}

static void run_put(run_writer *w, const sl_record *r)
{
	if (w->rv != SL_OK)
		return;
	rbuf_append_record(&w->raw, r);
	if (w->raw.len >= SPILL_FRAME)
		frame_write(w);
}

/* Writes the last frame; the writer's result (SL_EIO, SL_EINVAL when a
 * record is too large for a frame). */
static int run_finish(run_writer *w)
{
	if (w->rv == SL_OK && w->raw.len > 0)
		frame_write(w);
	if (w->rv == SL_OK && fflush(w->fp) != 0)
		w->rv = SL_EIO;
	rbuf_free(&w->raw);
	sl_free(w->comp);
	return w->rv;
}

static void run_report(const spill_set *s, int rv, size_t keys, char *err, size_t errlen)
{
	snprintf(err, errlen, "writing a spill run of %zu keys to %s: %s", keys, s->dir,
	         rv == SL_EIO ? strerror(errno) : "a record is too large");
}

/* Appends the run in fp (size bytes) to the set. */
static void run_keep(spill_set *s, FILE *fp, uint64_t size)
{
	s->src = sl_realloc(s->src, (s->nruns + 1) * sizeof(spill_src));
	memset(&s->src[s->nruns], 0, sizeof(spill_src));
	s->src[s->nruns].fp = fp;
	s->src[s->nruns].size = size;
	rbuf_init(&s->src[s->nruns].frame);
	s->nruns++;
}

static int compact(spill_set *s, char *err, size_t errlen);

int spill_set_add(spill_set *s, kvmap *m, char *err, size_t errlen)
{
	FILE *fp = run_create(s, err, errlen);
	if (fp == NULL)
		return SL_EIO;
	run_writer w = {.fp = fp};
	size_t pos = 0;
	sl_record r;
	rbuf_init(&w.raw);
	kvmap_sort(m);
	while (kvmap_next(m, &pos, &r))
		run_put(&w, &r);
	int rv = run_finish(&w);
	if (rv != SL_OK) {
		run_report(s, rv, kvmap_count(m), err, errlen);
		fclose(fp);
		return SL_EIO;
	}
	run_keep(s, fp, w.size);
	kvmap_clear(m);
	return s->nruns < SPILL_MAX_RUNS ? SL_OK : compact(s, err, errlen);
}

/* ---- reading back ---- */

/* Reads the next frame of a run: 1, 0 at the end of the file, or an error. */
static int frame_read(spill_src *r, char *err, size_t errlen)
{
	uint8_t hdr[8];
	size_t got = fread(hdr, 1, 8, r->fp);
	if (got == 0 && feof(r->fp))
		return 0;
	uint32_t raw = got == 8 ? get_u32(hdr) : 0,
	         clen = got == 8 ? get_u32(hdr + 4) : 0;
	if (got != 8 || raw > SPILL_FRAME_MAX ||
	    clen > (uint32_t)LZ4_compressBound((int)raw)) {
		snprintf(err, errlen, "a spill run is truncated or damaged");
		return SL_EPROTO;
	}
	if (clen > r->comp_cap) {
		r->comp = sl_realloc(r->comp, clen);
		r->comp_cap = clen;
	}
	rbuf_reset(&r->frame);
	rbuf_reserve(&r->frame, raw);
	if (fread(r->comp, 1, clen, r->fp) != clen ||
	    LZ4_decompress_safe((const char *)r->comp, (char *)r->frame.data, (int)clen,
	                        (int)raw) != (int)raw) {
		snprintf(err, errlen, "a spill run cannot be read back: %s",
		         ferror(r->fp) ? strerror(errno) : "damaged frame");
		return ferror(r->fp) ? SL_EIO : SL_EPROTO;
	}
	r->frame.len = raw;
	rbuf_iter_init(&r->it, r->frame.data, raw);
	return 1;
}

/* Loads a source's next record into cur (has = false at its end). */
static int src_advance(spill_set *s, spill_src *r, char *err, size_t errlen)
{
	int rv;
	if (r->fp == NULL) {
		rv = kvmap_next(s->map, &r->pos, &r->cur);
	} else {
		while ((rv = rbuf_iter_next(&r->it, &r->cur)) == 0 &&
		       (rv = frame_read(r, err, errlen)) > 0)
			;
		if (rv < 0) {
			if (err[0] == '\0')
				snprintf(err, errlen,
				         "a spill run holds a malformed record");
			return rv;
		}
	}
	r->has = rv > 0;
	if (r->has)
		r->h = kvmap_order_hash(r->cur.key, r->cur.key_len);
	return SL_OK;
}

/* Starts a merge of the runs, and of m when not NULL (sorted here). */
static int merge_begin(spill_set *s, kvmap *m, char *err, size_t errlen)
{
	err[0] = '\0';
	s->nsrc = s->nruns;
	s->map = m;
	if (m != NULL) {
		s->src = sl_realloc(s->src, (s->nruns + 1) * sizeof(spill_src));
		memset(&s->src[s->nruns], 0, sizeof(spill_src));
		rbuf_init(&s->src[s->nruns].frame);
		kvmap_sort(m);
		s->nsrc++;
	}
	for (size_t i = 0; i < s->nsrc; i++) {
		spill_src *r = &s->src[i];
		if (r->fp != NULL && fseek(r->fp, 0, SEEK_SET) != 0) {
			snprintf(err, errlen, "rewinding a spill run: %s",
			         strerror(errno));
			return SL_EIO;
		}
		rbuf_iter_init(&r->it, NULL, 0);
		int rv = src_advance(s, r, err, errlen);
		if (rv != SL_OK)
			return rv;
	}
	return SL_OK;
}

static int src_cmp(const spill_src *a, const spill_src *b)
{
	return kvmap_order_cmp(a->h, a->cur.key, a->cur.key_len, b->h, b->cur.key,
	                       b->cur.key_len);
}

/* Folds source r's record (same key) into acc, then advances r. */
static int merge_in(spill_set *s, spill_src *r, char *err, size_t errlen)
{
	s->tmp.len = 0;
	const uint8_t *a = s->acc.data ? s->acc.data : (const uint8_t *)"";
	const uint8_t *b = r->cur.value ? r->cur.value : (const uint8_t *)"";
	int rv = s->merge(a, s->acc.len, b, r->cur.value_len, &s->tmp);
	if (rv != 0) {
		snprintf(err, errlen, "merging spilled values failed with %d", rv);
		return rv;
	}
	sl_value t = s->acc;
	s->acc = s->tmp;
	s->tmp = t;
	return src_advance(s, r, err, errlen);
}

int spill_merge_start(spill_set *s, kvmap *m, char *err, size_t errlen)
{
	return merge_begin(s, m, err, errlen);
}

int spill_merge_next(spill_set *s, sl_record *out, char *err, size_t errlen)
{
	spill_src *min = NULL;
	err[0] = '\0';
	for (size_t i = 0; i < s->nsrc; i++)
		if (s->src[i].has && (min == NULL || src_cmp(&s->src[i], min) < 0))
			min = &s->src[i];
	if (min == NULL)
		return 0;
	sl_value_set(&s->key, min->cur.key, min->cur.key_len);
	sl_value_set(&s->acc, min->cur.value, min->cur.value_len);
	uint64_t h = min->h;
	int rv = src_advance(s, min, err, errlen);
	for (size_t i = 0; i < s->nsrc && rv == SL_OK; i++) {
		spill_src *r = &s->src[i];
		if (r->has && kvmap_order_cmp(h, s->key.data, s->key.len, r->h,
		                              r->cur.key, r->cur.key_len) == 0)
			rv = merge_in(s, r, err, errlen);
	}
	if (rv != SL_OK)
		return rv;
	*out = (sl_record){.key = s->key.data ? s->key.data : (const uint8_t *)"",
	                   .key_len = s->key.len,
	                   .value = s->acc.data ? s->acc.data : (const uint8_t *)"",
	                   .value_len = s->acc.len};
	return 1;
}

int spill_concat(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                 sl_value *out)
{
	if ((uint64_t)alen + blen > UINT32_MAX)
		return SL_EINVAL;
	sl_value_set(out, NULL, 0);
	if (out->cap < alen + blen) {
		out->data = sl_realloc(out->data, (size_t)alen + blen);
		out->cap = alen + blen;
	}
	if (alen > 0)
		memcpy(out->data, a, alen);
	if (blen > 0)
		memcpy(out->data + alen, b, blen);
	out->len = alen + blen;
	return 0;
}

/* Merges all the runs into one: keeps a set's open files and its merge's
 * memory bounded whatever the data (Spark merges its spills at the end
 * only; a set that spills more often than SPILL_MAX_RUNS pays one rewrite
 * of its runs for each SPILL_MAX_RUNS spills instead). */
static int compact(spill_set *s, char *err, size_t errlen)
{
	FILE *fp = run_create(s, err, errlen);
	if (fp == NULL)
		return SL_EIO;
	run_writer w = {.fp = fp};
	sl_record r;
	size_t keys = 0;
	rbuf_init(&w.raw);
	int rv = merge_begin(s, NULL, err, errlen);
	while (rv == SL_OK && (rv = spill_merge_next(s, &r, err, errlen)) > 0) {
		run_put(&w, &r);
		keys++;
		rv = SL_OK;
	}
	int wrv = run_finish(&w);
	if (rv == SL_OK && wrv != SL_OK)
		run_report(s, rv = wrv, keys, err, errlen);
	if (rv != SL_OK) {
		fclose(fp);
		return rv;
	}
	for (size_t i = 0; i < s->nruns; i++) {
		fclose(s->src[i].fp);
		rbuf_free(&s->src[i].frame);
		sl_free(s->src[i].comp);
	}
	s->nruns = 0;
	run_keep(s, fp, w.size);
	return SL_OK;
}
