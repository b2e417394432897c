/*
 * A receiver's block generator thread (Spark's BlockGenerator and the
 * storing half of its ReceiverSupervisor): see rcv_int.h and the design
 * notes atop receivers.c. Every block interval, and at once when the reader
 * finds the buffer full, it swaps the block buffer out; a block with records
 * is written to the WAL when asked, stored in the BlockManager (waiting for
 * room in the disk budget, during which the reader finds its buffer full and
 * stops reading), replicated for the _2 levels, and its AddBlock report
 * queued; queued reports go to the master in order, with the receiver's
 * blocked share since its previous report.
 */
#include "rcv_int.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "msgtypes.h"
#include "sluice/err.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* Makes the encoded block durable in the WAL; returns its path (sl_free) or
 * NULL after logging why not. */
static char *rcv_wal_write(receiver *r, const char *id, const uint8_t *enc, size_t len)
{
	char *path = sl_asprintf("%s/%s.blk", r->wal_dir, id);
	char *tmp = sl_asprintf("%s.tmp", path);
	const char *step = "open";
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	step = "write";
	if (write_all(fd, enc, len) != 0)
		goto fail;
	step = "fsync";
	if (fsync(fd) != 0)
		goto fail;
	step = "close";
	int rc = close(fd);
	fd = -1;
	if (rc != 0)
		goto fail;
	step = "rename";
	if (rename(tmp, path) != 0)
		goto fail;
	step = "fsync directory of";
	if (fsync_dir(r->wal_dir) != 0)
		goto fail;
	sl_free(tmp);
	return path;
fail:
	log_error("%s: WAL: cannot %s %s: %s; block %s goes on without the WAL", r->name,
	          step, tmp, strerror(errno), id);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	sl_free(tmp);
	sl_free(path);
	return NULL;
}

/* Disk budget: while a block fits neither in free memory nor within this
 * share of the disk budget, the generator holds it and the reader, finding
 * its buffer full, stops reading (TCP backpressure on the source). The rest
 * of the budget is left to shuffle output, so batches can still drain. */
#define RCV_DISK_SHARE 0.75

static void rcv_wait_disk(receiver *r, uint64_t len)
{
	bool logged = false;
	while (!blockmgr_disk_room(r->env->bm, len, RCV_DISK_SHARE) &&
	       !atomic_load(&r->stop_generator)) {
		if (!logged)
			log_warn(
			    "%s: disk budget full: not reading until blocks are removed",
			    r->name);
		logged = true;
		clock_sleep_ms(RCV_ENOSPC_PAUSE_MS);
	}
	if (logged)
		log_info("%s: disk budget has room again: reading", r->name);
}

/* Stores the block in the BlockManager (blk is emptied on success). */
static bool rcv_store(receiver *r, const char *id, rbuf *blk)
{
	block_level level = r->level;
	int rc = SL_OK;
	rcv_wait_disk(r, blk->len);
	for (int attempt = 0; attempt < RCV_STORE_ATTEMPTS; attempt++) {
		rc = blockmgr_put(r->env->bm, id, blk, level);
		if (rc == SL_OK)
			return true;
		if (rc == SL_EEXIST || rc == SL_EINVAL)
			break;
		if (rc == SL_ENOSPC) {
			log_warn("%s: no memory for block %s, storing it on disk",
			         r->name, id);
			level = BLOCK_DISK_ONLY;
			clock_sleep_ms(RCV_ENOSPC_PAUSE_MS);
		} else {
			log_warn("%s: cannot store block %s: %s (attempt %d)", r->name,
			         id, sl_strerror(rc), attempt + 1);
			clock_sleep_ms(RCV_BACKOFF_MIN_MS << attempt);
		}
	}
	log_error("%s: block %s not stored on this worker: %s", r->name, id,
	          sl_strerror(rc));
	return false;
}

/* Sends the encoded block to the replica; true once it holds it. */
static bool rcv_replicate(receiver *r, const char *id, const uint8_t *enc, size_t len)
{
	char err[512] = "";
	envelope rep;
	int rc;
	rpc_client *c = r->env->peers
	                    ? peers_get(r->env->peers, r->replica_url, err, sizeof(err))
	                    : NULL;
	if (c != NULL) {
		Sluice__PutBlock m = SLUICE__PUT_BLOCK__INIT;
		m.block_id = (char *)id;
		m.data.data = (uint8_t *)enc;
		m.data.len = len;
		m.disk = true;
		rc = rpc_call_pb(c, MSG_PUT_BLOCK, &m, &rep, err, sizeof(err));
		if (rc == SL_OK) {
			bool ok = rep.type == MSG_PUT_BLOCK_REPLY;
			envelope_release(&rep);
			if (ok) {
				if (rcv_fail_log_clear(&r->replica_log) > 0)
					log_info("%s: replicating to %s again", r->name,
					         r->replica_url);
				return true;
			}
			snprintf(err, sizeof(err), "unexpected reply type");
		}
	}
	r->replica_paused_until_ms = clock_mono_ms() + RCV_REPLICA_PAUSE_MS;
	if (rcv_fail_log_due(&r->replica_log))
		log_warn(
		    "%s: cannot replicate block %s to %s: %s; blocks are held by this "
		    "worker only until the replica answers",
		    r->name, id, r->replica_url, err);
	return false;
}

static void pending_free(pending_block *pb)
{
	sl_free(pb->id);
	sl_free(pb->wal_path);
	sl_free(pb);
}

/* Stores, logs and replicates one cut block; returns its report. */
static pending_block *rcv_persist(receiver *r, rbuf *blk)
{
	pending_block *pb = sl_calloc(1, sizeof(*pb));
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	pb->id = sl_asprintf("rcv-%llu-%u-%lld-%llu", (unsigned long long)r->job_id,
	                     r->id, (long long)r->start_ms, (unsigned long long)r->seq++);
	pb->records = blk->count;
	pb->bytes = blk->len;
	pb->created_ms = clock_wall_ms();
	bool replicate = r->replicate && clock_mono_ms() >= r->replica_paused_until_ms;
	if ((r->wal || replicate) && block_encode(blk, &enc, &enc_len) != SL_OK) {
		log_error("%s: cannot encode block %s", r->name, pb->id);
		enc = NULL;
	}
	if (r->wal && enc != NULL)
		pb->wal_path = rcv_wal_write(r, pb->id, enc, enc_len);
	pb->stored = rcv_store(r, pb->id, blk);
	if (replicate && enc != NULL)
		pb->replicated = rcv_replicate(r, pb->id, enc, enc_len);
	sl_free(enc);
	return pb;
}

/* Cuts the buffer into a block and queues its report; skips empty ones. */
static void rcv_cut(receiver *r)
{
	rbuf blk;
	rbuf_init(&blk);
	pthread_mutex_lock(&r->lock);
	rbuf_move(&blk, &r->buf);
	r->cut_now = false;
	pthread_cond_broadcast(&r->cond); /* a reader waiting for room */
	pthread_mutex_unlock(&r->lock);
	if (blk.count == 0) {
		rbuf_free(&blk);
		return;
	}
	pending_block *pb = rcv_persist(r, &blk);
	rbuf_free(&blk);
	if (!pb->stored && !pb->replicated && pb->wal_path == NULL) {
		log_error("%s: block %s (%llu records) lost: no copy could be kept",
		          r->name, pb->id, (unsigned long long)pb->records);
		pending_free(pb);
		return;
	}
	r->blocks++;
	*r->pending_tail = pb;
	r->pending_tail = &pb->next;
	r->npending++;
}

static int rcv_add_block(receiver *r, const pending_block *pb, char *err, size_t errlen)
{
	Sluice__AddBlock m = SLUICE__ADD_BLOCK__INIT;
	char *ids[2], *urls[2];
	size_t n = 0;
	envelope rep;
	if (pb->stored) {
		ids[n] = (char *)r->env->worker_id;
		urls[n++] = (char *)r->env->worker_url;
	}
	if (pb->replicated) {
		ids[n] = r->replica_worker_id;
		urls[n++] = r->replica_url;
	}
	m.job_id = r->job_id;
	m.receiver_id = r->id;
	m.node = r->node;
	m.block_id = pb->id;
	m.records = pb->records;
	m.bytes = pb->bytes;
	m.n_worker_ids = m.n_urls = n;
	m.worker_ids = ids;
	m.urls = urls;
	m.created_ms = pb->created_ms;
	m.wal_path = pb->wal_path != NULL ? pb->wal_path : "";
	int64_t now = clock_mono_ns();
	uint64_t blocked = atomic_load(&r->blocked_ns);
	if (now > r->share_since_ns)
		m.blocked_share = fmin((double)(blocked - r->share_blocked_ns) /
		                           (double)(now - r->share_since_ns),
		                       1.0); /* a wait begun before the window */
	r->share_since_ns = now;
	r->share_blocked_ns = blocked;
	pthread_mutex_lock(&r->lock);
	r->last_share = m.blocked_share;
	pthread_mutex_unlock(&r->lock);
	m.rate = ratelimit_rate(&r->rl);
	int rc = rpc_call_pb(r->env->master, MSG_ADD_BLOCK, &m, &rep, err, errlen);
	if (rc == SL_OK) {
		if (rep.type != MSG_ADD_BLOCK_REPLY) {
			snprintf(err, errlen, "unexpected reply type %u", rep.type);
			rc = SL_EPROTO;
		}
		envelope_release(&rep);
	}
	return rc;
}

/* Sends queued reports in order. On a failure the rest wait for the next
 * attempt (backoff); when final, they are logged as unreported instead. */
static void rcv_report(receiver *r, bool final)
{
	char err[512] = "";
	while (r->pending != NULL) {
		pending_block *pb = r->pending;
		int rc = rcv_add_block(r, pb, err, sizeof(err));
		if (rc != SL_OK) {
			int64_t b = r->report_backoff_ms * 2;
			r->report_backoff_ms = b < RCV_BACKOFF_MIN_MS ? RCV_BACKOFF_MIN_MS
			                       : b > RCV_BACKOFF_MAX_MS
			                           ? RCV_BACKOFF_MAX_MS
			                           : b;
			r->report_at_ms = clock_mono_ms() + r->report_backoff_ms;
			if (!final && rcv_fail_log_due(&r->report_log))
				log_warn("%s: cannot report block %s to the master (%u "
				         "queued): %s; retrying",
				         r->name, pb->id, r->npending, err);
			break;
		}
		r->pending = pb->next;
		if (r->pending == NULL)
			r->pending_tail = &r->pending;
		r->npending--;
		pending_free(pb);
		r->report_backoff_ms = 0;
		if (rcv_fail_log_clear(&r->report_log) > 0)
			log_info("%s: master reachable again, reporting queued blocks",
			         r->name);
	}
	for (pending_block *pb = final ? r->pending : NULL; pb != NULL; pb = pb->next)
		log_error("%s: stopped with block %s (%llu records%s%s) unreported: %s",
		          r->name, pb->id, (unsigned long long)pb->records,
		          pb->stored ? ", in the block manager" : "",
		          pb->wal_path ? ", in the WAL" : "", err);
}

/* The monotonic time of the next block cut. Cuts fall half a block interval
 * off the wall-clock multiples of the interval, where the master's batch
 * times are (when the batch interval is a multiple of the block interval):
 * a block's report then reaches the master about half a block interval
 * before or after a batch is generated, never at the same moment, so the
 * batch a block lands in does not swing with a few ms of timer or tick
 * jitter (one block more in one batch, one fewer in the next, which the
 * rate controller would see as a burst). */
static int64_t rcv_next_cut(const receiver *r)
{
	int64_t iv = r->interval_ms, off = iv / 2;
	int64_t wall = clock_wall_ms(), mono = clock_mono_ms();
	int64_t next = ((wall - off) / iv + 1) * iv + off;
	if (next - wall < iv / 4) /* woke a little early by the wall clock */
		next += iv;
	return mono + (next - wall);
}

void *rcv_generator_main(void *arg)
{
	receiver *r = arg;
	int64_t next_cut = rcv_next_cut(r);
	for (;;) {
		int64_t wake = next_cut;
		if (r->pending != NULL && r->report_at_ms < wake)
			wake = r->report_at_ms;
		if (rcv_sleep_until(r, wake, &r->stop_generator, true))
			break;
		int64_t now = clock_mono_ms();
		pthread_mutex_lock(&r->lock);
		bool full = r->cut_now;
		pthread_mutex_unlock(&r->lock);
		if (now >= next_cut || full)
			rcv_cut(r);
		if (now >= next_cut)
			next_cut = rcv_next_cut(r);
		if (r->pending != NULL && clock_mono_ms() >= r->report_at_ms)
			rcv_report(r, false);
	}
	/* The reader has been joined: this block is the last one. */
	rcv_cut(r);
	rcv_report(r, true);
	while (r->pending != NULL) {
		pending_block *pb = r->pending;
		r->pending = pb->next;
		pending_free(pb);
	}
	return NULL;
}
