/*
 * libFuzzer target for the block readers (SPEC §11): the encoded block
 * format of common/record.c, which is what the worker keeps on disk, writes
 * to the receiver WAL and receives in PUT_BLOCK / FETCH_BLOCK replies, and
 * the worker's block manager (worker/blockmgr.c) that stores, reloads from
 * disk and serves such blocks.
 *
 * Input: byte 0 selects the storage level (bits 0-1) and the mode (bit 2).
 * Raw mode: the rest is an encoded block as found on disk or the wire.
 * Built mode: the rest is records (u8 key length, u8 value length, key,
 * value ...) that are encoded with block_encode, and the last three bytes
 * name one byte of the encoded block to flip (u16 position, u8 xor mask),
 * which reaches the checks behind the CRC and the LZ4 decoder that random
 * bytes rarely pass. Each block is also read as the body of a state
 * checkpoint (worker/statestore.c: version record, keys with deadlines). Every decoded
 * record is iterated; everything is freed and the allocation counter must return to its
 * start.
 */
#include "alloc.h"
#include "blockmgr.h"
#include "log.h"
#include "record.h"
#include "sluice/err.h"
#include "statestore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static blockmgr *bm;

static void iterate(const uint8_t *p, size_t len)
{
	rbuf_iter it;
	sl_record r;
	rbuf_iter_init(&it, p, len);
	while (rbuf_iter_next(&it, &r) == 1)
		;
}

/* Encodes the records described by in, then flips one byte. */
static int build(const uint8_t *in, size_t n, uint8_t **out, size_t *out_len)
{
	rbuf b;
	size_t i = 0, body = n >= 3 ? n - 3 : 0;
	rbuf_init(&b);
	while (i + 2 <= body) {
		size_t kl = in[i], vl = in[i + 1];
		i += 2;
		if (i + kl + vl > body)
			break;
		rbuf_append(&b, in + i, (uint32_t)kl, in + i + kl, (uint32_t)vl,
		            (int64_t)i);
		i += kl + vl;
	}
	int rv = block_encode(&b, out, out_len);
	rbuf_free(&b);
	if (rv == SL_OK && n >= 3 && *out_len > 0 && in[n - 1] != 0)
		(*out)[((size_t)in[n - 3] << 8 | in[n - 2]) % *out_len] ^= in[n - 1];
	return rv;
}

/* The same block as the body of a state checkpoint (worker/statestore.c). */
static void decode_state(const uint8_t *enc, size_t len)
{
	char err[256];
	state_part *sp;
	uint8_t *ckpt = sl_malloc(len + 8);
	memcpy(ckpt, "SLSTATE1", 8);
	memcpy(ckpt + 8, enc, len);
	if (state_part_decode(ckpt, len + 8, "fuzz", 1 << 20, &sp, err, sizeof(err)) ==
	    SL_OK)
		state_part_free(sp);
	sl_free(ckpt);
}

static void decode(const uint8_t *enc, size_t len)
{
	char err[256];
	uint64_t count, raw;
	rbuf out;
	block_peek(enc, len, &count, &raw);
	if (block_decode(enc, len, 1 << 20, &out, err, sizeof(err)) == SL_OK) {
		iterate(out.data, out.len);
		rbuf_free(&out);
	}
	decode_state(enc, len);
}

/* Stores the block at a level, reads it back (from disk for DISK_ONLY)
 * and drops it. */
static void through_blockmgr(const uint8_t *enc, size_t len, block_level level)
{
	block_ref *ref;
	uint8_t *copy;
	size_t clen;
	if (blockmgr_put_encoded(bm, "fuzz-0-0", enc, len, level) != SL_OK)
		return;
	if (blockmgr_get(bm, "fuzz-0-0", &ref) == SL_OK) {
		const rbuf *d = block_ref_data(ref);
		iterate(d->data, d->len);
		block_ref_release(ref);
	}
	if (blockmgr_get_encoded(bm, "fuzz-0-0", &copy, &clen) == SL_OK) {
		decode(copy, clen);
		sl_free(copy);
	}
	blockmgr_remove(bm, "fuzz-0-0");
}

static void setup(void)
{
	char dir[64], err[256];
	/* refusals are logged; keep them out of the fuzzer's output */
	log_open("fuzz", LOG_ERROR, "/dev/null");
	snprintf(dir, sizeof(dir), "/tmp/sluice-fuzz-blocks-%d", (int)getpid());
	if (blockmgr_new(&bm, dir, 64u << 20, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "blockmgr: %s\n", err);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (bm == NULL)
		setup();
	if (size == 0)
		return 0;
	int64_t live = alloc_live();
	block_level level = (block_level)((data[0] & 3) % 3);
	uint8_t *enc = NULL;
	size_t len = size - 1;
	const uint8_t *p = data + 1;
	if (data[0] & 4) {
		if (build(data + 1, size - 1, &enc, &len) != SL_OK)
			return 0;
		p = enc;
	}
	decode(p, len);
	through_blockmgr(p, len, level);
	sl_free(enc);
	if (alloc_live() != live) {
		fprintf(stderr, "allocation counter moved\n");
		abort();
	}
	return 0;
}
