/*
 * BlockManager: see blockmgr.h for the contract.
 *
 * Blocks live in a chained hash table keyed by id. An entry is in one of
 * three states:
 *   MEM       records in memory (a refcounted bm_mem shared with readers);
 *   SPILLING  still in memory, while one thread writes its file;
 *   DISK      only the file DIR/blocks/<id>.blk exists.
 * MEMORY_AND_DISK entries in state MEM are also on an LRU list (head = most
 * recently used); those are the only spill candidates, so choosing a victim
 * is O(1). MEMORY_ONLY blocks never leave memory.
 *
 * A put that does not fit spills victims from the LRU tail until it does.
 * The spill (encode + write to a temporary file) runs without the lock; the
 * entry stays counted in mem_bytes until its file is renamed into place, so
 * mem_bytes never exceeds the budget even with concurrent puts, which wait
 * on a condition variable when the only memory they could free is already
 * being spilled by someone else. Renames, unlinks and opens of block files
 * are done under the lock, since they are what makes a file belong to an
 * entry; reading and writing file contents are not.
 *
 * A reader's block_ref holds a reference on the bm_mem (so removal or spill
 * only drops the store's reference) or, for a disk block, a private decoded
 * copy read through a descriptor opened under the lock (so a concurrent
 * remove cannot pull the file away mid-read).
 */
#include "blockmgr.h"

#include "alloc.h"
#include "log.h"
#include "sluice/err.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BM_ID_MAX        200
#define BM_MIN_BUCKETS   64
#define BM_TMP_INFIX     ".blk.tmp."
#define BM_MAX_FILE_SIZE ((uint64_t)1 << 40)

typedef struct {
	atomic_int refs;
	rbuf data;
} bm_mem;

typedef enum { ENTRY_MEM, ENTRY_SPILLING, ENTRY_DISK } entry_state;

typedef struct bm_entry {
	char *id;
	uint64_t hash;
	block_level level;
	entry_state state;
	bool removed; /* dropped while SPILLING: the spiller frees it */
	bm_mem *mem;  /* the store's reference (MEM, SPILLING) */
	uint64_t raw_len, disk_len;
	struct bm_entry *hnext;
	struct bm_entry *lru_prev, *lru_next;
} bm_entry;

struct blockmgr {
	pthread_mutex_t mu;
	pthread_cond_t spill_done;
	char *blocks_dir;
	bm_entry **buckets;
	size_t nbuckets, nentries;
	bm_entry *lru_head, *lru_tail;
	uint64_t lru_bytes;      /* raw bytes on the LRU list */
	uint64_t spilling_bytes; /* raw bytes of entries being spilled */
	uint32_t spills_in_flight;
	uint64_t tmp_seq;
	uint64_t disk_reserved; /* bytes of disk writes in flight */
	blockmgr_stats st;
};

struct block_ref {
	bm_mem *mem; /* shared in-memory records, or NULL */
	rbuf priv;   /* decoded copy of a disk block */
};

/* ---- ids and paths ---- */

static bool bm_id_valid(const char *id)
{
	if (id == NULL)
		return false;
	size_t n = strlen(id);
	if (n == 0 || n > BM_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

static char *bm_path(const blockmgr *bm, const char *id)
{
	return sl_asprintf("%s/%s.blk", bm->blocks_dir, id);
}

static char *bm_tmp_path(const blockmgr *bm, const char *id, uint64_t seq)
{
	return sl_asprintf("%s/%s" BM_TMP_INFIX "%llu", bm->blocks_dir, id,
	                   (unsigned long long)seq);
}

/* ---- shared in-memory data ---- */

static bm_mem *mem_new(rbuf *data)
{
	bm_mem *m = sl_malloc(sizeof(*m));
	atomic_init(&m->refs, 1);
	rbuf_init(&m->data);
	rbuf_move(&m->data, data);
	return m;
}

static bm_mem *mem_ref(bm_mem *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

static void mem_release(bm_mem *m)
{
	if (m == NULL)
		return;
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	rbuf_free(&m->data);
	sl_free(m);
}

/* ---- hash table ---- */

static uint64_t bm_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *id != '\0'; id++)
		h = (h ^ (uint8_t)*id) * 1099511628211ull;
	return h;
}

static bm_entry *ht_find(const blockmgr *bm, const char *id)
{
	bm_entry *e = bm->buckets[bm_hash(id) & (bm->nbuckets - 1)];
	while (e != NULL && strcmp(e->id, id) != 0)
		e = e->hnext;
	return e;
}

static void ht_grow(blockmgr *bm)
{
	size_t n = bm->nbuckets * 2;
	bm_entry **nb = sl_calloc(n, sizeof(*nb));
	for (size_t i = 0; i < bm->nbuckets; i++) {
		bm_entry *e = bm->buckets[i], *next;
		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	sl_free(bm->buckets);
	bm->buckets = nb;
	bm->nbuckets = n;
}

static void ht_insert(blockmgr *bm, bm_entry *e)
{
	if (bm->nentries >= bm->nbuckets)
		ht_grow(bm);
	bm_entry **slot = &bm->buckets[e->hash & (bm->nbuckets - 1)];
	e->hnext = *slot;
	*slot = e;
	bm->nentries++;
}

static void ht_unlink(blockmgr *bm, bm_entry *e)
{
	bm_entry **pp = &bm->buckets[e->hash & (bm->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	bm->nentries--;
}

/* ---- LRU of spillable in-memory entries ---- */

static void lru_unlink(blockmgr *bm, bm_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		bm->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		bm->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
	bm->lru_bytes -= e->raw_len;
}

static void lru_push_head(blockmgr *bm, bm_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = bm->lru_head;
	if (bm->lru_head != NULL)
		bm->lru_head->lru_prev = e;
	else
		bm->lru_tail = e;
	bm->lru_head = e;
	bm->lru_bytes += e->raw_len;
}

static bool entry_on_lru(const bm_entry *e)
{
	return e->state == ENTRY_MEM && e->level == BLOCK_MEMORY_AND_DISK;
}

/* ---- entries ---- */

static bm_entry *entry_new(const char *id, block_level level, uint64_t raw_len)
{
	bm_entry *e = sl_calloc(1, sizeof(*e));
	e->id = sl_strdup(id);
	e->hash = bm_hash(id);
	e->level = level;
	e->raw_len = raw_len;
	return e;
}

static void entry_free(bm_entry *e)
{
	mem_release(e->mem);
	sl_free(e->id);
	sl_free(e);
}

/* Adds an in-memory entry taking the contents of data. Locked. */
static void bm_insert_mem(blockmgr *bm, const char *id, rbuf *data, block_level level)
{
	bm_entry *e = entry_new(id, level, data->len);
	e->state = ENTRY_MEM;
	e->mem = mem_new(data);
	ht_insert(bm, e);
	if (entry_on_lru(e))
		lru_push_head(bm, e);
	bm->st.mem_bytes += e->raw_len;
	bm->st.mem_blocks++;
}

static void bm_insert_disk(blockmgr *bm, const char *id, block_level level,
                           uint64_t raw_len, uint64_t disk_len)
{
	bm_entry *e = entry_new(id, level, raw_len);
	e->state = ENTRY_DISK;
	e->disk_len = disk_len;
	ht_insert(bm, e);
	bm->st.disk_bytes += disk_len;
	bm->st.disk_blocks++;
}

/* Unlinks e from the store and frees what it owns. Locked. */
static void bm_drop(blockmgr *bm, bm_entry *e)
{
	ht_unlink(bm, e);
	if (e->state == ENTRY_DISK) {
		char *path = bm_path(bm, e->id);
		if (unlink(path) != 0 && errno != ENOENT)
			log_error("blockmgr: cannot delete %s: %s", path,
			          strerror(errno));
		sl_free(path);
		bm->st.disk_bytes -= e->disk_len;
		bm->st.disk_blocks--;
		entry_free(e);
		return;
	}
	if (entry_on_lru(e))
		lru_unlink(bm, e);
	bm->st.mem_bytes -= e->raw_len;
	bm->st.mem_blocks--;
	if (e->state == ENTRY_MEM) {
		entry_free(e);
		return;
	}
	/* SPILLING: the spilling thread still points at e and frees it. */
	bm->spilling_bytes -= e->raw_len;
	mem_release(e->mem);
	e->mem = NULL;
	e->removed = true;
}

/* ---- disk budget ---- */

/* The most a block of raw bytes can take on disk once encoded (LZ4 bound
 * plus the block header), reserved before writing it. */
static uint64_t bm_enc_bound(uint64_t raw)
{
	return raw + raw / 255 + 64;
}

/* Whether n more bytes fit on disk within share of the budget. Locked. */
static bool bm_disk_fits(const blockmgr *bm, uint64_t n, double share)
{
	if (bm->st.disk_budget == 0)
		return true;
	double limit = (double)bm->st.disk_budget * share;
	return (double)(bm->st.disk_bytes + bm->disk_reserved + n) <= limit;
}

/* Reserves n bytes of disk for a write, or counts a refusal. Locked. */
static bool bm_disk_take(blockmgr *bm, uint64_t n)
{
	if (!bm_disk_fits(bm, n, 1.0)) {
		bm->st.disk_refused++;
		return false;
	}
	bm->disk_reserved += n;
	return true;
}

/* ---- file I/O (no lock held) ---- */

static int file_write(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			close(fd);
			errno = saved;
			goto fail;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0)
		goto fail;
	return SL_OK;
fail:
	log_error("blockmgr: cannot write %s: %s", path, strerror(errno));
	unlink(path);
	return SL_EIO;
}

/* Reads all of fd (closing it) into a new buffer; id names the file in
 * the error message. */
static int file_read_fd(const blockmgr *bm, int fd, const char *id, uint8_t **out,
                        size_t *out_len)
{
	struct stat sb;
	uint8_t *buf = NULL;
	const char *why = "file too large";
	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size > BM_MAX_FILE_SIZE)
		goto fail;
	size_t len = (size_t)sb.st_size, off = 0;
	buf = sl_malloc(len);
	while (off < len) {
		ssize_t n = read(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			why = n == 0 ? "short read" : strerror(errno);
			goto fail;
		}
		off += (size_t)n;
	}
	close(fd);
	*out = buf;
	*out_len = len;
	return SL_OK;
fail:
	log_error("blockmgr: cannot read %s/%s.blk: %s", bm->blocks_dir, id, why);
	close(fd);
	sl_free(buf);
	return SL_EIO;
}

/* ---- spilling and writing ---- */

/* Writes enc to the temporary file number seq for id; returns its path in
 * *tmp (sl_free). No lock held. */
static int bm_write_tmp(blockmgr *bm, const char *id, uint64_t seq, const uint8_t *enc,
                        size_t len, char **tmp)
{
	*tmp = bm_tmp_path(bm, id, seq);
	int rc = file_write(*tmp, enc, len);
	if (rc != SL_OK) {
		sl_free(*tmp);
		*tmp = NULL;
	}
	return rc;
}

/* Gives the file tmp the name of id's block. Locked. */
static int bm_commit_file(blockmgr *bm, const char *id, const char *tmp)
{
	char *path = bm_path(bm, id);
	int rc = SL_OK;
	if (rename(tmp, path) != 0) {
		log_error("blockmgr: cannot rename %s to %s: %s", tmp, path,
		          strerror(errno));
		unlink(tmp);
		rc = SL_EIO;
	}
	sl_free(path);
	return rc;
}

/* Called once the spill write of v finished (rc, file tmp of disk_len
 * bytes); moves v to DISK or back to MEM. Locked. */
static int bm_spill_finish(blockmgr *bm, bm_entry *v, int rc, char *tmp, size_t disk_len)
{
	bm->spills_in_flight--;
	bm->disk_reserved -= bm_enc_bound(v->raw_len);
	pthread_cond_broadcast(&bm->spill_done);
	if (v->removed) {
		if (tmp != NULL)
			unlink(tmp);
		sl_free(tmp);
		entry_free(v);
		return SL_OK;
	}
	bm->spilling_bytes -= v->raw_len;
	if (rc == SL_OK)
		rc = bm_commit_file(bm, v->id, tmp);
	sl_free(tmp);
	v->state = rc == SL_OK ? ENTRY_DISK : ENTRY_MEM;
	if (rc != SL_OK) {
		lru_push_head(bm, v);
		return rc;
	}
	mem_release(v->mem);
	v->mem = NULL;
	v->disk_len = disk_len;
	bm->st.mem_bytes -= v->raw_len;
	bm->st.mem_blocks--;
	bm->st.disk_bytes += disk_len;
	bm->st.disk_blocks++;
	bm->st.spilled_blocks++;
	return SL_OK;
}

/* Spills the least recently used spillable block. Called and returns
 * locked; unlocks while encoding and writing. */
static int bm_spill_one(blockmgr *bm)
{
	bm_entry *v = bm->lru_tail;
	lru_unlink(bm, v);
	v->state = ENTRY_SPILLING;
	bm->spilling_bytes += v->raw_len;
	bm->spills_in_flight++;
	bm_mem *m = mem_ref(v->mem);
	uint64_t seq = ++bm->tmp_seq;
	pthread_mutex_unlock(&bm->mu);

	uint8_t *enc;
	size_t len;
	char *tmp = NULL;
	block_encode(&m->data, &enc, &len);
	int rc = bm_write_tmp(bm, v->id, seq, enc, len, &tmp);
	sl_free(enc);
	mem_release(m);

	pthread_mutex_lock(&bm->mu);
	return bm_spill_finish(bm, v, rc, tmp, len);
}

/* Stores an encoded block as a file. Takes the lock itself. */
static int bm_put_file(blockmgr *bm, const char *id, const uint8_t *enc, size_t len,
                       uint64_t raw_len, block_level level)
{
	pthread_mutex_lock(&bm->mu);
	bool exists = ht_find(bm, id) != NULL;
	bool fits = !exists && bm_disk_take(bm, len);
	uint64_t seq = ++bm->tmp_seq;
	pthread_mutex_unlock(&bm->mu);
	if (exists)
		return SL_EEXIST;
	if (!fits)
		return SL_ENOSPC;

	char *tmp;
	int rc = bm_write_tmp(bm, id, seq, enc, len, &tmp);
	pthread_mutex_lock(&bm->mu);
	bm->disk_reserved -= len;
	if (rc != SL_OK) {
		pthread_mutex_unlock(&bm->mu);
		return rc;
	}
	if (ht_find(bm, id) != NULL) {
		unlink(tmp);
		rc = SL_EEXIST;
	} else {
		rc = bm_commit_file(bm, id, tmp);
	}
	if (rc == SL_OK)
		bm_insert_disk(bm, id, level, raw_len, len);
	pthread_mutex_unlock(&bm->mu);
	sl_free(tmp);
	return rc;
}

static int bm_put_rbuf_file(blockmgr *bm, const char *id, rbuf *data, block_level level)
{
	uint8_t *enc;
	size_t len;
	block_encode(data, &enc, &len);
	int rc = bm_put_file(bm, id, enc, len, data->len, level);
	sl_free(enc);
	if (rc == SL_OK)
		rbuf_free(data);
	return rc;
}

/* Makes room for n bytes and inserts the block in memory. SL_ENOSPC when
 * even spilling every spillable block would not make room. Locked. */
static int bm_put_mem_locked(blockmgr *bm, const char *id, rbuf *data, block_level level)
{
	uint64_t n = data->len;
	for (;;) {
		if (ht_find(bm, id) != NULL)
			return SL_EEXIST;
		/* Invariant: mem_bytes <= budget, so these cannot wrap. */
		if (n <= bm->st.budget - bm->st.mem_bytes) {
			bm_insert_mem(bm, id, data, level);
			return SL_OK;
		}
		uint64_t pinned = bm->st.mem_bytes - bm->lru_bytes - bm->spilling_bytes;
		if (n > bm->st.budget - pinned)
			return SL_ENOSPC;
		if (bm->lru_tail != NULL) {
			if (!bm_disk_take(bm, bm_enc_bound(bm->lru_tail->raw_len)))
				return SL_ENOSPC; /* nowhere to spill to */
			int rc = bm_spill_one(bm);
			if (rc != SL_OK)
				return rc;
		} else {
			/* Only in-flight spills can free memory: wait for them. */
			pthread_cond_wait(&bm->spill_done, &bm->mu);
		}
	}
}

/* ---- public API ---- */

/* Deletes block and temporary files left in blocks_dir by an earlier run. */
static void bm_clean_dir(const char *blocks_dir)
{
	DIR *d = opendir(blocks_dir);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		bool blk = n > 4 && strcmp(de->d_name + n - 4, ".blk") == 0;
		if (!blk && strstr(de->d_name, BM_TMP_INFIX) == NULL)
			continue;
		char *path = sl_asprintf("%s/%s", blocks_dir, de->d_name);
		unlink(path);
		sl_free(path);
	}
	closedir(d);
}

static int bm_mkdir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return SL_OK;
	snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
	log_error("blockmgr: %s", err);
	return SL_EIO;
}

int blockmgr_new(blockmgr **out, const char *dir, uint64_t budget, char *err,
                 size_t errlen)
{
	*out = NULL;
	if (dir == NULL || dir[0] == '\0') {
		snprintf(err, errlen, "block manager needs a directory");
		return SL_EINVAL;
	}
	char *blocks_dir = sl_asprintf("%s/blocks", dir);
	int rc = bm_mkdir(dir, err, errlen);
	if (rc == SL_OK)
		rc = bm_mkdir(blocks_dir, err, errlen);
	if (rc != SL_OK) {
		sl_free(blocks_dir);
		return rc;
	}
	bm_clean_dir(blocks_dir);
	blockmgr *bm = sl_calloc(1, sizeof(*bm));
	pthread_mutex_init(&bm->mu, NULL);
	pthread_cond_init(&bm->spill_done, NULL);
	bm->blocks_dir = blocks_dir;
	bm->nbuckets = BM_MIN_BUCKETS;
	bm->buckets = sl_calloc(bm->nbuckets, sizeof(*bm->buckets));
	bm->st.budget = budget;
	*out = bm;
	return SL_OK;
}

void blockmgr_free(blockmgr *bm)
{
	if (bm == NULL)
		return;
	assert(bm->spills_in_flight == 0);
	for (size_t i = 0; i < bm->nbuckets; i++)
		while (bm->buckets[i] != NULL)
			bm_drop(bm, bm->buckets[i]);
	bm_clean_dir(bm->blocks_dir);
	rmdir(bm->blocks_dir);
	pthread_cond_destroy(&bm->spill_done);
	pthread_mutex_destroy(&bm->mu);
	sl_free(bm->buckets);
	sl_free(bm->blocks_dir);
	sl_free(bm);
}

int blockmgr_put(blockmgr *bm, const char *id, rbuf *data, block_level level)
{
	if (!bm_id_valid(id) || (unsigned)level > BLOCK_DISK_ONLY)
		return SL_EINVAL;
	if (level == BLOCK_DISK_ONLY)
		return bm_put_rbuf_file(bm, id, data, level);
	pthread_mutex_lock(&bm->mu);
	int rc = bm_put_mem_locked(bm, id, data, level);
	if (rc == SL_ENOSPC && level == BLOCK_MEMORY_ONLY)
		bm->st.refused++;
	pthread_mutex_unlock(&bm->mu);
	if (rc == SL_ENOSPC && level == BLOCK_MEMORY_AND_DISK)
		rc = bm_put_rbuf_file(bm, id, data, level);
	return rc;
}

int blockmgr_put_encoded(blockmgr *bm, const char *id, const uint8_t *enc, size_t len,
                         block_level level)
{
	if (!bm_id_valid(id) || (unsigned)level > BLOCK_DISK_ONLY)
		return SL_EINVAL;
	rbuf data;
	char why[128];
	int rc = block_decode(enc, len, SIZE_MAX, &data, why, sizeof(why));
	if (rc != SL_OK) {
		log_error("blockmgr: refusing damaged block %s: %s", id, why);
		return rc;
	}
	if (level == BLOCK_DISK_ONLY)
		rc = bm_put_file(bm, id, enc, len, data.len, level);
	else
		rc = blockmgr_put(bm, id, &data, level);
	rbuf_free(&data);
	return rc;
}

/* Reads and decodes the file behind fd into r's private copy. */
static int bm_ref_load(const blockmgr *bm, block_ref *r, int fd, const char *id,
                       uint64_t raw_len)
{
	uint8_t *buf;
	size_t len;
	char why[128];
	int rc = file_read_fd(bm, fd, id, &buf, &len);
	if (rc != SL_OK)
		return rc;
	rc = block_decode(buf, len, raw_len, &r->priv, why, sizeof(why));
	sl_free(buf);
	if (rc != SL_OK) {
		log_error("blockmgr: %s/%s.blk is damaged: %s", bm->blocks_dir, id, why);
		return SL_EIO;
	}
	return SL_OK;
}

/* Opens e's file. Locked. */
static int bm_open_entry(blockmgr *bm, const bm_entry *e)
{
	char *path = bm_path(bm, e->id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		log_error("blockmgr: cannot open %s: %s", path, strerror(errno));
	sl_free(path);
	return fd;
}

int blockmgr_get(blockmgr *bm, const char *id, block_ref **out)
{
	*out = NULL;
	if (!bm_id_valid(id))
		return SL_EINVAL;
	block_ref *r = sl_calloc(1, sizeof(*r));
	rbuf_init(&r->priv);
	pthread_mutex_lock(&bm->mu);
	bm_entry *e = ht_find(bm, id);
	int rc = e == NULL ? SL_ENOTFOUND : SL_OK, fd = -1;
	uint64_t raw_len = 0;
	if (e != NULL && e->state != ENTRY_DISK) {
		r->mem = mem_ref(e->mem);
		if (entry_on_lru(e)) {
			lru_unlink(bm, e);
			lru_push_head(bm, e);
		}
	} else if (e != NULL) {
		raw_len = e->raw_len;
		fd = bm_open_entry(bm, e);
		rc = fd < 0 ? SL_EIO : SL_OK;
	}
	pthread_mutex_unlock(&bm->mu);
	if (fd >= 0)
		rc = bm_ref_load(bm, r, fd, id, raw_len);
	if (rc != SL_OK) {
		block_ref_release(r);
		return rc;
	}
	*out = r;
	return SL_OK;
}

const rbuf *block_ref_data(const block_ref *r)
{
	return r->mem != NULL ? &r->mem->data : &r->priv;
}

void block_ref_release(block_ref *r)
{
	if (r == NULL)
		return;
	mem_release(r->mem);
	rbuf_free(&r->priv);
	sl_free(r);
}

int blockmgr_get_encoded(blockmgr *bm, const char *id, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (!bm_id_valid(id))
		return SL_EINVAL;
	pthread_mutex_lock(&bm->mu);
	bm_entry *e = ht_find(bm, id);
	bm_mem *m = NULL;
	int fd = -1, rc = e == NULL ? SL_ENOTFOUND : SL_OK;
	if (e != NULL && e->state != ENTRY_DISK)
		m = mem_ref(e->mem);
	else if (e != NULL && (fd = bm_open_entry(bm, e)) < 0)
		rc = SL_EIO;
	pthread_mutex_unlock(&bm->mu);
	if (m != NULL) {
		rc = block_encode(&m->data, out, len);
		mem_release(m);
	} else if (fd >= 0) {
		rc = file_read_fd(bm, fd, id, out, len);
	}
	return rc;
}

bool blockmgr_contains(blockmgr *bm, const char *id)
{
	if (!bm_id_valid(id))
		return false;
	pthread_mutex_lock(&bm->mu);
	bool found = ht_find(bm, id) != NULL;
	pthread_mutex_unlock(&bm->mu);
	return found;
}

int blockmgr_remove(blockmgr *bm, const char *id)
{
	if (!bm_id_valid(id))
		return SL_EINVAL;
	pthread_mutex_lock(&bm->mu);
	bm_entry *e = ht_find(bm, id);
	if (e != NULL)
		bm_drop(bm, e);
	pthread_mutex_unlock(&bm->mu);
	return e != NULL ? SL_OK : SL_ENOTFOUND;
}

uint32_t blockmgr_remove_prefix(blockmgr *bm, const char *prefix)
{
	size_t plen = strlen(prefix);
	uint32_t n = 0;
	pthread_mutex_lock(&bm->mu);
	for (size_t i = 0; i < bm->nbuckets; i++) {
		bm_entry *e = bm->buckets[i], *next;
		for (; e != NULL; e = next) {
			next = e->hnext;
			if (strncmp(e->id, prefix, plen) == 0) {
				bm_drop(bm, e);
				n++;
			}
		}
	}
	pthread_mutex_unlock(&bm->mu);
	return n;
}

void blockmgr_set_disk_budget(blockmgr *bm, uint64_t bytes)
{
	pthread_mutex_lock(&bm->mu);
	bm->st.disk_budget = bytes;
	pthread_mutex_unlock(&bm->mu);
}

bool blockmgr_disk_room(blockmgr *bm, uint64_t raw_len, double share)
{
	pthread_mutex_lock(&bm->mu);
	bool mem = raw_len <= bm->st.budget - bm->st.mem_bytes;
	bool room = mem || bm_disk_fits(bm, bm_enc_bound(raw_len), share);
	pthread_mutex_unlock(&bm->mu);
	return room;
}

void blockmgr_get_stats(blockmgr *bm, blockmgr_stats *st)
{
	pthread_mutex_lock(&bm->mu);
	*st = bm->st;
	pthread_mutex_unlock(&bm->mu);
}
