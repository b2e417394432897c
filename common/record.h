/*
 * Record buffers and the block codec.
 *
 * An rbuf holds records back to back in one growable buffer, each as
 *   u32 key_len | u32 value_len | i64 event_time_ms | key | value
 * (little-endian), which is both the in-memory form and the body of an
 * encoded block, so storing, replicating and reading a block never
 * re-serialises record by record.
 *
 * An encoded block, as kept on disk, in the WAL and sent on the wire:
 *   magic "SLB1" | u32 flags | u64 record count | u64 raw length |
 *   u32 CRC-32 (IEEE, zlib's polynomial) of the raw body |
 *   LZ4 (block format) of the body
 * (flags bit 0: body is LZ4-compressed; a body that does not shrink is
 * stored raw; other flag bits must be clear). The header is 28 bytes.
 * Decoding checks every field, the CRC and that the records fill the body
 * exactly: a damaged block is refused (SL_EPROTO), never half-read.
 *
 * Not thread-safe: an rbuf belongs to one thread at a time.
 */
#ifndef SLUICE_RECORD_H
#define SLUICE_RECORD_H

#include "sluice/sluice.h"

#include <stddef.h>
#include <stdint.h>

#define RECORD_HEADER_LEN 16

typedef struct {
	uint8_t *data;
	size_t len, cap;
	uint64_t count;
} rbuf;

void rbuf_init(rbuf *b);
void rbuf_free(rbuf *b);  /* frees data; the rbuf can be reused after init */
void rbuf_reset(rbuf *b); /* keeps the allocation */
void rbuf_reserve(rbuf *b, size_t extra);
void rbuf_append(rbuf *b, const void *key, uint32_t key_len, const void *value,
                 uint32_t value_len, int64_t ts);
void rbuf_append_record(rbuf *b, const sl_record *r);
/* Moves the contents of src into dst (dst freed first); src is left empty. */
void rbuf_move(rbuf *dst, rbuf *src);

typedef struct {
	const uint8_t *p, *end;
} rbuf_iter;

void rbuf_iter_init(rbuf_iter *it, const uint8_t *data, size_t len);
/* 1 = a record in *r (pointing into the buffer), 0 = end, SL_EPROTO = the
 * buffer is malformed (a length runs past the end). */
int rbuf_iter_next(rbuf_iter *it, sl_record *r);

/* Encodes b into a new buffer (*out, sl_free). */
int block_encode(const rbuf *b, uint8_t **out, size_t *out_len);
/* Decodes an encoded block into out (initialised by the call). SL_EPROTO
 * with the reason in err if it is damaged or exceeds max_raw bytes. */
int block_decode(const uint8_t *in, size_t len, size_t max_raw, rbuf *out, char *err,
                 size_t errlen);
/* Reads the header only: record count and raw length. */
int block_peek(const uint8_t *in, size_t len, uint64_t *count, uint64_t *raw_len);

#endif
