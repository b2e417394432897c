/*
 * Unit tests for the block manager (worker/blockmgr.c).
 *
 * Each test gets its own scratch directory. Block contents are generated
 * from the block id, so any reader (including another thread) can check
 * what it got without sharing state with the writer. The tests cover the
 * contract in blockmgr.h: immutability, the memory budget and LRU spilling,
 * MEMORY_ONLY refusal, oversized and DISK_ONLY blocks, readers keeping
 * blocks alive, prefix removal, replication through the encoded form, disk
 * errors, concurrent use, and cleanup of spill files. Every test checks that
 * alloc_live() returns to where it started.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "blockmgr.h"
#include "record.h"
#include "sluice/err.h"

#define KB 1024u

typedef struct {
	int64_t live;
	char dir[64];
	char blocks[96];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-test-blockmgr-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->blocks, sizeof(f->blocks), "%s/blocks", f->dir);
	f->live = alloc_live();
	*state = f;
	return 0;
}

/* Removes every file in path and then path itself. */
static void rm_dir(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return;
	struct dirent *de;
	char p[512];
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (unlink(p) != 0)
			rm_dir(p);
	}
	closedir(d);
	rmdir(path);
}

static int teardown(void **state)
{
	fixture *f = *state;
	int64_t live = alloc_live();
	if (live != f->live)
		fprintf(stderr, "leak: %lld allocations left\n",
		        (long long)(live - f->live));
	int rc = live == f->live ? 0 : -1;
	rm_dir(f->dir);
	free(f);
	return rc;
}

/* Number of files in dir whose name ends with suffix (-1: no directory). */
static int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -1;
	int n = 0;
	size_t sl = strlen(suffix);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] != '.' && l >= sl &&
		    strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static bool block_file_exists(const fixture *f, const char *id)
{
	char p[512];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/%s.blk", f->blocks, id);
	return stat(p, &sb) == 0;
}

/* ---- deterministic block contents ---- */

static uint64_t id_seed(const char *id)
{
	uint64_t h = 1469598103934665603ull;
	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 1099511628211ull;
	return h | 1;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Fills b with about `bytes` raw bytes of records derived from id: half
 * random (incompressible), half repetitive. */
static void make_block(rbuf *b, const char *id, size_t bytes)
{
	uint64_t s = id_seed(id);
	uint8_t val[512];
	rbuf_init(b);
	for (int i = 0; b->len + RECORD_HEADER_LEN + 8 <= bytes; i++) {
		size_t room = bytes - b->len - RECORD_HEADER_LEN - 8;
		size_t vl = room < sizeof(val) ? room : sizeof(val);
		for (size_t k = 0; k < vl; k++)
			val[k] = i % 2 ? (uint8_t)rng_next(&s) : (uint8_t)('a' + k % 7);
		rbuf_append(b, &s, 8, val, (uint32_t)vl, i);
	}
}

/* Size of the block the concurrency test derives from an id. */
static size_t id_size(const char *id)
{
	return 1 * KB + id_seed(id) % (12 * KB);
}

static bool block_matches(const rbuf *got, const char *id, size_t bytes)
{
	rbuf want;
	make_block(&want, id, bytes);
	bool ok = got->len == want.len && got->count == want.count &&
	          (want.len == 0 || memcmp(got->data, want.data, want.len) == 0);
	rbuf_free(&want);
	return ok;
}

static void put_block(blockmgr *bm, const char *id, size_t bytes, block_level level,
                      int want)
{
	rbuf b;
	make_block(&b, id, bytes);
	size_t len = b.len;
	assert_int_equal(blockmgr_put(bm, id, &b, level), want);
	if (want == SL_OK) {
		assert_null(b.data);
		assert_int_equal(b.len, 0);
	} else {
		assert_int_equal(b.len, len); /* untouched on failure */
	}
	rbuf_free(&b);
}

static void expect_block(blockmgr *bm, const char *id, size_t bytes)
{
	block_ref *r;
	assert_int_equal(blockmgr_get(bm, id, &r), SL_OK);
	assert_true(block_matches(block_ref_data(r), id, bytes));
	block_ref_release(r);
}

static blockmgr *new_bm(const char *dir, uint64_t budget)
{
	blockmgr *bm;
	char err[256] = "";
	assert_int_equal(blockmgr_new(&bm, dir, budget, err, sizeof(err)), SL_OK);
	return bm;
}

static blockmgr_stats stats(blockmgr *bm)
{
	blockmgr_stats st;
	blockmgr_get_stats(bm, &st);
	return st;
}

/* ---- tests ---- */

static void test_put_get_remove(void **state)
{
	fixture *f = *state;
	blockmgr *bm = new_bm(f->dir, 1024 * KB);
	put_block(bm, "input-0-1700000000000", 10 * KB, BLOCK_MEMORY_ONLY, SL_OK);
	assert_true(blockmgr_contains(bm, "input-0-1700000000000"));
	assert_false(blockmgr_contains(bm, "other"));
	expect_block(bm, "input-0-1700000000000", 10 * KB);
	blockmgr_stats st = stats(bm);
	assert_int_equal(st.mem_blocks, 1);
	assert_int_equal(st.disk_blocks, 0);
	assert_true(st.mem_bytes > 9 * KB && st.mem_bytes <= 10 * KB);
	assert_int_equal(st.budget, 1024 * KB);

	put_block(bm, "empty", 0, BLOCK_MEMORY_AND_DISK, SL_OK);
	expect_block(bm, "empty", 0);

	block_ref *r = (block_ref *)1;
	assert_int_equal(blockmgr_get(bm, "missing", &r), SL_ENOTFOUND);
	assert_null(r);
	assert_int_equal(blockmgr_remove(bm, "input-0-1700000000000"), SL_OK);
	assert_int_equal(blockmgr_remove(bm, "input-0-1700000000000"), SL_ENOTFOUND);
	assert_int_equal(blockmgr_get(bm, "input-0-1700000000000", &r), SL_ENOTFOUND);
	assert_int_equal(blockmgr_remove(bm, "empty"), SL_OK);
	st = stats(bm);
	assert_int_equal(st.mem_blocks, 0);
	assert_int_equal(st.mem_bytes, 0);
	blockmgr_free(bm);
}

static void test_invalid_ids(void **state)
{
	fixture *f = *state;
	blockmgr *bm = new_bm(f->dir, 64 * KB);
	char long_id[202];
	memset(long_id, 'a', 201);
	long_id[201] = '\0';
	const char *bad[] = {"", "a/b", "../x", "a b", "x\n", "é", long_id};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		block_ref *r;
		uint8_t *enc;
		size_t len;
		put_block(bm, bad[i], 100, BLOCK_MEMORY_ONLY, SL_EINVAL);
		assert_int_equal(blockmgr_get(bm, bad[i], &r), SL_EINVAL);
		assert_int_equal(blockmgr_get_encoded(bm, bad[i], &enc, &len), SL_EINVAL);
		assert_int_equal(blockmgr_remove(bm, bad[i]), SL_EINVAL);
		assert_false(blockmgr_contains(bm, bad[i]));
	}
	long_id[200] = '\0'; /* 200 characters: the longest valid id */
	put_block(bm, long_id, 100, BLOCK_DISK_ONLY, SL_OK);
	expect_block(bm, long_id, 100);
	put_block(bm, "Az09_.-", 100, BLOCK_MEMORY_ONLY, SL_OK);
	put_block(bm, "lvl", 100, (block_level)7, SL_EINVAL);
	blockmgr_free(bm);
}

static void test_eexist(void **state)
{
	fixture *f = *state;
	blockmgr *bm = new_bm(f->dir, 64 * KB);
	put_block(bm, "m", 1 * KB, BLOCK_MEMORY_ONLY, SL_OK);
	put_block(bm, "m", 2 * KB, BLOCK_MEMORY_ONLY, SL_EEXIST);
	put_block(bm, "m", 2 * KB, BLOCK_DISK_ONLY, SL_EEXIST);
	put_block(bm, "d", 1 * KB, BLOCK_DISK_ONLY, SL_OK);
	put_block(bm, "d", 1 * KB, BLOCK_MEMORY_AND_DISK, SL_EEXIST);
	put_block(bm, "d", 1 * KB, BLOCK_DISK_ONLY, SL_EEXIST);

	uint8_t *enc;
	size_t len;
	assert_int_equal(blockmgr_get_encoded(bm, "m", &enc, &len), SL_OK);
	assert_int_equal(blockmgr_put_encoded(bm, "m", enc, len, BLOCK_MEMORY_ONLY),
	                 SL_EEXIST);
	assert_int_equal(blockmgr_put_encoded(bm, "d", enc, len, BLOCK_DISK_ONLY),
	                 SL_EEXIST);
	sl_free(enc);
	expect_block(bm, "m", 1 * KB); /* the first version stays */
	expect_block(bm, "d", 1 * KB);
	blockmgr_free(bm);
}

static void test_budget_spill(void **state)
{
	fixture *f = *state;
	const uint64_t budget = 64 * KB;
	blockmgr *bm = new_bm(f->dir, budget);
	char id[32];
	for (int i = 0; i < 24; i++) { /* 3x the budget */
		snprintf(id, sizeof(id), "blk-%d", i);
		put_block(bm, id, 8 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
		assert_true(stats(bm).mem_bytes <= budget);
	}
	blockmgr_stats st = stats(bm);
	assert_int_equal(st.mem_blocks + st.disk_blocks, 24);
	assert_true(st.disk_blocks >= 16);
	assert_int_equal(st.spilled_blocks, st.disk_blocks);
	assert_true(st.disk_bytes > 0);
	assert_int_equal(count_files(f->blocks, ".blk"), (int)st.disk_blocks);
	/* least recently used went first */
	assert_true(block_file_exists(f, "blk-0"));
	assert_false(block_file_exists(f, "blk-23"));
	for (int i = 0; i < 24; i++) {
		snprintf(id, sizeof(id), "blk-%d", i);
		expect_block(bm, id, 8 * KB);
	}
	assert_true(stats(bm).mem_bytes <= budget);
	blockmgr_free(bm);
}

/* sluice.worker.diskBudget: once memory is full, spills and disk writes
 * that would pass the disk budget are refused (nothing written), every
 * stored block stays readable, and removing blocks makes room again. */
static void test_disk_budget(void **state)
{
	fixture *f = *state;
	const uint64_t disk = 40 * KB;
	blockmgr *bm = new_bm(f->dir, 16 * KB);
	blockmgr_set_disk_budget(bm, disk);
	assert_int_equal(stats(bm).disk_budget, disk);
	char id[32];
	int stored = 0;
	while (stored < 200) {
		snprintf(id, sizeof(id), "blk-%d", stored);
		rbuf b;
		make_block(&b, id, 8 * KB);
		int rc = blockmgr_put(bm, id, &b, BLOCK_MEMORY_AND_DISK);
		rbuf_free(&b);
		assert_true(stats(bm).disk_bytes <= disk);
		if (rc == SL_ENOSPC)
			break;
		assert_int_equal(rc, SL_OK);
		stored++;
	}
	assert_true(stored > 2 && stored < 200); /* the budget stopped it */
	blockmgr_stats st = stats(bm);
	assert_true(st.disk_refused > 0);
	assert_int_equal(count_files(f->blocks, ".blk"), (int)st.disk_blocks);
	assert_false(blockmgr_disk_room(bm, 8 * KB, 1.0));
	for (int i = 0; i < stored; i++) {
		snprintf(id, sizeof(id), "blk-%d", i);
		expect_block(bm, id, 8 * KB);
	}
	/* the oldest blocks were spilled: removing them frees disk */
	for (int i = 0; i < stored / 2; i++) {
		snprintf(id, sizeof(id), "blk-%d", i);
		assert_int_equal(blockmgr_remove(bm, id), SL_OK);
	}
	assert_true(blockmgr_disk_room(bm, 8 * KB, 1.0));
	put_block(bm, "blk-again", 8 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	assert_true(stats(bm).disk_bytes <= disk);
	/* DISK_ONLY puts obey the budget too */
	blockmgr_set_disk_budget(bm, stats(bm).disk_bytes + 16);
	put_block(bm, "blk-disk", 8 * KB, BLOCK_DISK_ONLY, SL_ENOSPC);
	blockmgr_set_disk_budget(bm, 0);
	put_block(bm, "blk-disk", 8 * KB, BLOCK_DISK_ONLY, SL_OK);
	blockmgr_free(bm);
}

static void test_lru_order(void **state)
{
	fixture *f = *state;
	blockmgr *bm = new_bm(f->dir, 3 * 4 * KB);
	put_block(bm, "a", 4 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	put_block(bm, "b", 4 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	put_block(bm, "c", 4 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	expect_block(bm, "a", 4 * KB); /* a is now the most recently used */
	put_block(bm, "d", 4 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	assert_true(block_file_exists(f, "b"));
	assert_false(block_file_exists(f, "a"));
	assert_false(block_file_exists(f, "c"));
	assert_int_equal(stats(bm).spilled_blocks, 1);
	blockmgr_free(bm);
}

static void test_memory_only_enospc(void **state)
{
	fixture *f = *state;
	blockmgr *bm = new_bm(f->dir, 32 * KB);
	put_block(bm, "m1", 8 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	put_block(bm, "m2", 8 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	put_block(bm, "o1", 8 * KB, BLOCK_MEMORY_ONLY, SL_OK);
	put_block(bm, "o2", 8 * KB, BLOCK_MEMORY_ONLY, SL_OK);
	/* fits after spilling the spillable blocks, oldest first */
	put_block(bm, "o3", 8 * KB, BLOCK_MEMORY_ONLY, SL_OK);
	assert_true(block_file_exists(f, "m1"));
	assert_false(block_file_exists(f, "m2"));
	put_block(bm, "o4", 8 * KB, BLOCK_MEMORY_ONLY, SL_OK);
	assert_true(block_file_exists(f, "m2"));
	/* nothing left to spill */
	put_block(bm, "o5", 8 * KB, BLOCK_MEMORY_ONLY, SL_ENOSPC);
	put_block(bm, "huge", 64 * KB, BLOCK_MEMORY_ONLY, SL_ENOSPC);
	blockmgr_stats st = stats(bm);
	assert_int_equal(st.refused, 2);
	assert_int_equal(st.mem_blocks, 4);
	assert_true(st.mem_bytes <= 32 * KB);
	assert_false(blockmgr_contains(bm, "o5"));
	/* a spillable block that cannot get memory goes to disk instead */
	put_block(bm, "m3", 8 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	assert_true(block_file_exists(f, "m3"));
	expect_block(bm, "m1", 8 * KB);
	expect_block(bm, "m3", 8 * KB);
	expect_block(bm, "o1", 8 * KB);
	/* freeing memory makes room again */
	assert_int_equal(blockmgr_remove(bm, "o1"), SL_OK);
	put_block(bm, "o5", 8 * KB, BLOCK_MEMORY_ONLY, SL_OK);
	blockmgr_free(bm);
}

static void test_oversized_and_disk_only(void **state)
{
	fixture *f = *state;
	blockmgr *bm = new_bm(f->dir, 16 * KB);
	put_block(bm, "small", 4 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	put_block(bm, "big", 64 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	assert_true(block_file_exists(f, "big"));
	assert_false(block_file_exists(f, "small")); /* not evicted for nothing */
	put_block(bm, "disk", 2 * KB, BLOCK_DISK_ONLY, SL_OK);
	assert_true(block_file_exists(f, "disk"));
	blockmgr_stats st = stats(bm);
	assert_int_equal(st.mem_blocks, 1);
	assert_int_equal(st.disk_blocks, 2);
	assert_int_equal(st.spilled_blocks, 0);
	assert_true(st.mem_bytes <= 4 * KB);
	expect_block(bm, "big", 64 * KB);
	expect_block(bm, "disk", 2 * KB);
	assert_int_equal(blockmgr_remove(bm, "big"), SL_OK);
	assert_false(block_file_exists(f, "big"));
	assert_int_equal(stats(bm).disk_blocks, 1);
	blockmgr_free(bm);
}

static void test_ref_outlives_remove(void **state)
{
	fixture *f = *state;
	blockmgr *bm = new_bm(f->dir, 8 * KB);
	block_ref *mem_ref, *spilled_ref, *disk_ref;

	put_block(bm, "mem", 4 * KB, BLOCK_MEMORY_ONLY, SL_OK);
	assert_int_equal(blockmgr_get(bm, "mem", &mem_ref), SL_OK);
	assert_int_equal(blockmgr_remove(bm, "mem"), SL_OK);
	/* the same id may be reused while the old reader is still reading */
	put_block(bm, "mem", 1 * KB, BLOCK_MEMORY_ONLY, SL_OK);

	put_block(bm, "spill", 4 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	assert_int_equal(blockmgr_get(bm, "spill", &spilled_ref), SL_OK);
	put_block(bm, "push", 4 * KB, BLOCK_MEMORY_AND_DISK, SL_OK); /* spills "spill" */
	assert_true(block_file_exists(f, "spill"));

	put_block(bm, "disk", 4 * KB, BLOCK_DISK_ONLY, SL_OK);
	assert_int_equal(blockmgr_get(bm, "disk", &disk_ref), SL_OK);
	assert_int_equal(blockmgr_remove(bm, "disk"), SL_OK);
	assert_int_equal(blockmgr_remove(bm, "spill"), SL_OK);
	assert_false(block_file_exists(f, "spill"));
	assert_false(block_file_exists(f, "disk"));

	assert_true(block_matches(block_ref_data(mem_ref), "mem", 4 * KB));
	assert_true(block_matches(block_ref_data(spilled_ref), "spill", 4 * KB));
	assert_true(block_matches(block_ref_data(disk_ref), "disk", 4 * KB));
	expect_block(bm, "mem", 1 * KB);
	block_ref_release(mem_ref);
	block_ref_release(spilled_ref);
	/* refs may outlive the manager itself */
	blockmgr_free(bm);
	assert_true(block_matches(block_ref_data(disk_ref), "disk", 4 * KB));
	block_ref_release(disk_ref);
	block_ref_release(NULL);
}

static void test_remove_prefix(void **state)
{
	fixture *f = *state;
	blockmgr *bm = new_bm(f->dir, 16 * KB);
	char id[32];
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "shuffle-1-%d", i);
		put_block(bm, id, 4 * KB,
		          i == 4 ? BLOCK_DISK_ONLY : BLOCK_MEMORY_AND_DISK, SL_OK);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "shuffle-10-%d", i);
		put_block(bm, id, 1 * KB, BLOCK_MEMORY_ONLY, SL_OK);
	}
	assert_true(count_files(f->blocks, ".blk") >= 2);
	assert_int_equal(blockmgr_remove_prefix(bm, "shuffle-1-"), 5);
	assert_int_equal(count_files(f->blocks, ".blk"), 0);
	assert_false(blockmgr_contains(bm, "shuffle-1-0"));
	assert_true(blockmgr_contains(bm, "shuffle-10-0"));
	assert_int_equal(blockmgr_remove_prefix(bm, "shuffle-1-"), 0);
	blockmgr_stats st = stats(bm);
	assert_int_equal(st.mem_blocks, 3);
	assert_int_equal(st.disk_blocks, 0);
	assert_int_equal(st.disk_bytes, 0);
	assert_int_equal(blockmgr_remove_prefix(bm, ""), 3);
	assert_int_equal(stats(bm).mem_bytes, 0);
	blockmgr_free(bm);
}

/* Copies id from src to dst through the encoded form, as replication does. */
static void replicate(blockmgr *src, blockmgr *dst, const char *id, block_level level)
{
	uint8_t *enc;
	size_t len;
	assert_int_equal(blockmgr_get_encoded(src, id, &enc, &len), SL_OK);
	assert_int_equal(blockmgr_put_encoded(dst, id, enc, len, level), SL_OK);
	sl_free(enc);
}

static void test_encoded_replication(void **state)
{
	fixture *f = *state;
	char dir2[128];
	snprintf(dir2, sizeof(dir2), "%s/replica", f->dir);
	blockmgr *a = new_bm(f->dir, 16 * KB);
	blockmgr *b = new_bm(dir2, 16 * KB);
	put_block(a, "in-mem", 6 * KB, BLOCK_MEMORY_ONLY, SL_OK);
	put_block(a, "on-disk", 6 * KB, BLOCK_DISK_ONLY, SL_OK);
	put_block(a, "large", 40 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	replicate(a, b, "in-mem", BLOCK_MEMORY_AND_DISK);
	replicate(a, b, "on-disk", BLOCK_MEMORY_ONLY);
	replicate(a, b, "large", BLOCK_DISK_ONLY);
	expect_block(b, "in-mem", 6 * KB);
	expect_block(b, "on-disk", 6 * KB);
	expect_block(b, "large", 40 * KB);
	blockmgr_stats st = stats(b);
	assert_int_equal(st.mem_blocks, 2);
	assert_int_equal(st.disk_blocks, 1);

	uint8_t *enc;
	size_t len;
	assert_int_equal(blockmgr_get_encoded(a, "nope", &enc, &len), SL_ENOTFOUND);
	assert_null(enc);
	assert_int_equal(blockmgr_get_encoded(a, "in-mem", &enc, &len), SL_OK);
	enc[len - 1] ^= 0x55; /* damaged on the wire */
	assert_int_equal(blockmgr_put_encoded(b, "damaged", enc, len, BLOCK_MEMORY_ONLY),
	                 SL_EPROTO);
	assert_int_equal(blockmgr_put_encoded(b, "damaged", enc, len, BLOCK_DISK_ONLY),
	                 SL_EPROTO);
	assert_int_equal(blockmgr_put_encoded(b, "damaged", enc, 10, BLOCK_DISK_ONLY),
	                 SL_EPROTO);
	assert_false(blockmgr_contains(b, "damaged"));
	sl_free(enc);
	blockmgr_free(b);
	blockmgr_free(a);
}

static void test_disk_errors(void **state)
{
	fixture *f = *state;
	char path[256];
	blockmgr *bm = new_bm(f->dir, 8 * KB);
	put_block(bm, "victim", 6 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	assert_int_equal(rmdir(f->blocks), 0); /* writes now fail */
	put_block(bm, "d", 1 * KB, BLOCK_DISK_ONLY, SL_EIO);
	put_block(bm, "needs-spill", 6 * KB, BLOCK_MEMORY_AND_DISK, SL_EIO);
	assert_false(blockmgr_contains(bm, "d"));
	assert_false(blockmgr_contains(bm, "needs-spill"));
	blockmgr_stats st = stats(bm);
	assert_int_equal(st.mem_blocks, 1);
	assert_int_equal(st.disk_blocks, 0);
	expect_block(bm, "victim", 6 * KB); /* still in memory */
	assert_int_equal(mkdir(f->blocks, 0755), 0);

	/* a damaged file is an I/O error for the reader */
	put_block(bm, "bad", 1 * KB, BLOCK_DISK_ONLY, SL_OK);
	snprintf(path, sizeof(path), "%s/bad.blk", f->blocks);
	FILE *fp = fopen(path, "r+b");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 40, SEEK_SET), 0);
	assert_true(fputs("garbage", fp) >= 0);
	fclose(fp);
	block_ref *r = (block_ref *)1;
	assert_int_equal(blockmgr_get(bm, "bad", &r), SL_EIO);
	assert_null(r);
	/* a vanished file too */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(blockmgr_get(bm, "bad", &r), SL_EIO);
	uint8_t *enc;
	size_t len;
	assert_int_equal(blockmgr_get_encoded(bm, "bad", &enc, &len), SL_EIO);
	assert_int_equal(blockmgr_remove(bm, "bad"), SL_OK);
	blockmgr_free(bm);
}

static void test_new_cleans_and_free_removes(void **state)
{
	fixture *f = *state;
	char path[256];
	assert_int_equal(mkdir(f->blocks, 0755), 0);
	const char *names[] = {"stale.blk", "x.blk.tmp.3", "keep.txt"};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->blocks, names[i]);
		FILE *fp = fopen(path, "wb");
		assert_non_null(fp);
		fputs("old", fp);
		fclose(fp);
	}
	blockmgr *bm = new_bm(f->dir, 8 * KB);
	assert_int_equal(count_files(f->blocks, ".blk"), 0);
	assert_int_equal(count_files(f->blocks, ".3"), 0);
	assert_int_equal(count_files(f->blocks, ".txt"), 1);
	unlink(path);
	char id[32];
	for (int i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "b%d", i);
		put_block(bm, id, 3 * KB, BLOCK_MEMORY_AND_DISK, SL_OK);
	}
	assert_true(count_files(f->blocks, ".blk") >= 5);
	blockmgr_free(bm);
	assert_true(count_files(f->blocks, "") <= 0); /* gone, or at least empty */

	char err[256] = "";
	snprintf(path, sizeof(path), "%s/no/such/dir", f->dir);
	assert_int_equal(blockmgr_new(&bm, path, KB, err, sizeof(err)), SL_EIO);
	assert_null(bm);
	assert_non_null(strstr(err, "no/such"));
}

/* ---- concurrency ---- */

#define THREADS 4
#define OPS     150

typedef struct {
	blockmgr *bm;
	int t;
	uint64_t budget;
	atomic_int *errors;
} worker_arg;

static void check_get(worker_arg *a, const char *id, bool must_exist)
{
	block_ref *r;
	int rc = blockmgr_get(a->bm, id, &r);
	if (rc == SL_ENOTFOUND && !must_exist)
		return;
	if (rc != SL_OK || !block_matches(block_ref_data(r), id, id_size(id))) {
		fprintf(stderr, "thread %d: bad read of %s (%d)\n", a->t, id, rc);
		atomic_fetch_add(a->errors, 1);
	}
	if (rc == SL_OK)
		block_ref_release(r);
}

static void *worker_main(void *p)
{
	worker_arg *a = p;
	uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(a->t + 1);
	char id[32], other[32];
	for (int i = 0; i < OPS; i++) {
		snprintf(id, sizeof(id), "t%d-%d", a->t, i);
		rbuf b;
		make_block(&b, id, id_size(id));
		block_level lvl = i % 10 == 9 ? BLOCK_MEMORY_ONLY : BLOCK_MEMORY_AND_DISK;
		int rc = blockmgr_put(a->bm, id, &b, lvl);
		bool stored = rc == SL_OK;
		if (!stored && !(rc == SL_ENOSPC && lvl == BLOCK_MEMORY_ONLY))
			atomic_fetch_add(a->errors, 1);
		rbuf_free(&b);
		if (stored)
			check_get(a, id, true);
		/* someone else's block, possibly removed meanwhile */
		snprintf(other, sizeof(other), "t%d-%d", (int)(rng_next(&s) % THREADS),
		         (int)(rng_next(&s) % (uint64_t)(i + 1)));
		check_get(a, other, false);
		if (i % 3 == 0 && i > 0) {
			snprintf(other, sizeof(other), "t%d-%d", a->t, i - 1);
			blockmgr_remove(a->bm, other);
		}
		blockmgr_stats st;
		blockmgr_get_stats(a->bm, &st);
		if (st.mem_bytes > a->budget)
			atomic_fetch_add(a->errors, 1);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	fixture *f = *state;
	const uint64_t budget = 48 * KB;
	blockmgr *bm = new_bm(f->dir, budget);
	atomic_int errors;
	atomic_init(&errors, 0);
	pthread_t th[THREADS];
	worker_arg args[THREADS];
	for (int t = 0; t < THREADS; t++) {
		args[t] = (worker_arg){bm, t, budget, &errors};
		assert_int_equal(pthread_create(&th[t], NULL, worker_main, &args[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	assert_int_equal(atomic_load(&errors), 0);
	blockmgr_stats st = stats(bm);
	assert_true(st.mem_bytes <= budget);
	assert_true(st.spilled_blocks > 0);
	assert_int_equal(count_files(f->blocks, ".blk"), (int)st.disk_blocks);
	/* no temporary file left behind */
	assert_int_equal(count_files(f->blocks, ""), (int)st.disk_blocks);
	/* everything still present reads back intact */
	char id[32];
	uint32_t present = 0;
	for (int t = 0; t < THREADS; t++) {
		for (int i = 0; i < OPS; i++) {
			snprintf(id, sizeof(id), "t%d-%d", t, i);
			if (blockmgr_contains(bm, id)) {
				expect_block(bm, id, id_size(id));
				present++;
			}
		}
	}
	assert_int_equal(present, st.mem_blocks + st.disk_blocks);
	blockmgr_free(bm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_put_get_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_ids, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_eexist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_budget_spill, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lru_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_budget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_only_enospc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_and_disk_only, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_ref_outlives_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_prefix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_encoded_replication, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disk_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_cleans_and_free_removes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
