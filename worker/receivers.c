/*
 * Receivers: see receivers.h. This file holds the reader thread, the
 * lifecycle and the registry of a worker's receivers; the generator thread
 * is in rcvgen.c, what the two share in rcv_int.h.
 *
 * Each receiver has two threads, so that reading never waits on storage or
 * on the master and blocks are cut on time whatever the source does:
 *
 *   reader     the supervisor loop. Connects to host:port (non-blocking
 *              connect polled in 100 ms slices, so stop is prompt; then
 *              SO_RCVTIMEO of 100 ms), splits the bytes into lines ('\n',
 *              a trailing '\r' stripped, a partial line kept until its
 *              newline comes and emitted when the connection ends), passes
 *              each line through the token bucket and appends it to the
 *              block buffer. When the connection fails or ends it waits
 *              (100 ms doubling to 2 s, reset once a connection delivered
 *              data) and connects again, until stopped. Failures are logged
 *              when they start, then at most every 30 s, and recovery once.
 *
 *   generator  the BlockGenerator (rcvgen.c). Every block interval (half
 *              an interval off the wall-clock multiples of it, whether or
 *              not data came: rcv_next_cut), and at once when the
 *              reader finds the buffer full (max_block bytes; the reader
 *              then waits until the buffer is swapped out, so reading never
 *              outruns storing by more than one block), it swaps the buffer out
 *              under the lock and, if it holds records: writes the encoded
 *              block to the WAL (temp file, fsync, rename, fsync of the
 *              directory) when asked, stores it in the BlockManager,
 *              replicates it for the _2 levels, and queues its AddBlock
 *              report. It then sends queued reports to the master in order;
 *              a failed report stays queued and is retried with backoff
 *              (100 ms doubling to 2 s) between cuts, so an unreachable
 *              master delays reports but loses no block, and blocks keep
 *              being cut (each failed call costs at most one RPC timeout).
 *              The master may see an AddBlock twice (a reply lost after it
 *              was applied): it must treat block ids idempotently.
 *
 * Storage levels: MEMORY_ONLY[_SER] -> BLOCK_MEMORY_ONLY,
 * MEMORY_AND_DISK[_SER] -> BLOCK_MEMORY_AND_DISK, DISK_ONLY ->
 * BLOCK_DISK_ONLY; a _2 suffix replicates when a replica_url is given. An
 * empty level means Spark's receiver default, MEMORY_AND_DISK_SER_2.
 *
 * Stopping: the reader is told first and joined (it emits its partial
 * line), then the generator cuts the last block, makes one more attempt at
 * the queued reports, logs each block it could not report, and exits.
 *
 * Failures while cutting: a failed WAL write is logged and the block goes
 * on without a wal_path (memory and replica still hold it); a MEMORY_ONLY
 * block refused for lack of memory goes to disk (DISK_ONLY) after a short
 * pause; other store failures are retried a few times. A failed
 * replication is logged, the block is reported with this worker alone, and
 * replication pauses for RCV_REPLICA_PAUSE_MS so a dead replica does not
 * cost an RPC timeout per block.
 */
#include "receivers.h"
#include "rcv_int.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "msgtypes.h"
#include "ratelimit.h"
#include "record.h"
#include "sluice/err.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

struct receivers {
	receiver_env env;
	pthread_mutex_t lock; /* list */
	receiver *list;
	uint32_t count;
};

/* ---- small helpers ----------------------------------------------------- */

bool rcv_fail_log_due(fail_log *fl)
{
	int64_t now = clock_mono_ms();
	fl->count++;
	if (fl->failing && now - fl->last_log_ms < RCV_LOG_EVERY_MS)
		return false;
	fl->failing = true;
	fl->last_log_ms = now;
	return true;
}

uint64_t rcv_fail_log_clear(fail_log *fl)
{
	uint64_t n = fl->failing ? fl->count : 0;
	fl->failing = false;
	fl->count = 0;
	return n;
}

bool rcv_sleep_until(receiver *r, int64_t until_ms, atomic_bool *flag, bool wake_on_cut)
{
	struct timespec ts = {.tv_sec = until_ms / 1000,
	                      .tv_nsec = (until_ms % 1000) * 1000000};
	pthread_mutex_lock(&r->lock);
	while (!atomic_load(flag) && clock_mono_ms() < until_ms &&
	       !(wake_on_cut && r->cut_now))
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	pthread_mutex_unlock(&r->lock);
	return atomic_load(flag);
}

static void rcv_raise(receiver *r, atomic_bool *flag)
{
	atomic_store(flag, true);
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Parses a storage level name: MEMORY_ONLY, MEMORY_AND_DISK, DISK_ONLY,
 * each optionally _SER and/or _2. */
static int parse_level(const char *s, block_level *level, bool *two)
{
	static const struct {
		const char *name;
		block_level level;
	} levels[] = {
	    {"MEMORY_ONLY", BLOCK_MEMORY_ONLY},
	    {"MEMORY_ONLY_SER", BLOCK_MEMORY_ONLY},
	    {"MEMORY_AND_DISK", BLOCK_MEMORY_AND_DISK},
	    {"MEMORY_AND_DISK_SER", BLOCK_MEMORY_AND_DISK},
	    {"DISK_ONLY", BLOCK_DISK_ONLY},
	};
	size_t n = strlen(s);
	*two = ends_with(s, "_2");
	if (*two)
		n -= 2;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strlen(levels[i].name) == n && strncmp(s, levels[i].name, n) == 0) {
			*level = levels[i].level;
			return SL_OK;
		}
	}
	return SL_EINVAL;
}

/* Creates path and its missing parents; a directory it creates is made
 * durable by an fsync of its parent. */
static int mkdir_durable(const char *path)
{
	char buf[1024];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(buf))
		return SL_EINVAL;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, 0755) == 0) {
			char *slash = strrchr(buf, '/');
			char *parent = slash == buf
			                   ? sl_strdup("/")
			                   : sl_strndup(buf, (size_t)(slash - buf));
			int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0) {
				fsync(fd);
				close(fd);
			}
			sl_free(parent);
		} else if (errno != EEXIST) {
			return SL_EIO;
		}
		if (c == '\0')
			return SL_OK;
		*p = c;
	}
}

/* ---- reader: lines into the block buffer ------------------------------- */

/* Appends a record to the block buffer. A full buffer (max_block bytes) is
 * cut at once by the generator, and the reader waits for that cut, so a
 * fast source is held back by TCP flow control instead of growing the
 * buffer: a receiver holds at most the buffer being filled and the block
 * being stored. */
static void rcv_emit(receiver *r, const uint8_t *p, size_t len, int64_t ts)
{
	if (len > 0 && p[len - 1] == '\r')
		len--;
	uint64_t blocked = (uint64_t)ratelimit_acquire(&r->rl, 1);
	pthread_mutex_lock(&r->lock);
	if (r->buf.len >= r->max_block) {
		/* a full downstream buffer blocks the reader too */
		int64_t t0 = clock_mono_ns();
		while (r->buf.len >= r->max_block && !atomic_load(&r->stop_reader)) {
			r->cut_now = true;
			pthread_cond_broadcast(&r->cond);
			pthread_cond_wait(&r->cond, &r->lock);
		}
		blocked += (uint64_t)(clock_mono_ns() - t0);
	}
	atomic_fetch_add(&r->blocked_ns, blocked);
	rbuf_append(&r->buf, NULL, 0, p, (uint32_t)len, ts);
	if (r->buf.len >= r->max_block) {
		r->cut_now = true;
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
	atomic_fetch_add(&r->records, 1);
}

static void rcv_line_append(receiver *r, const uint8_t *p, size_t n)
{
	if (r->line_len + n > r->line_cap) {
		size_t cap = r->line_cap ? r->line_cap : 256;
		while (cap < r->line_len + n)
			cap *= 2;
		r->line = sl_realloc(r->line, cap);
		r->line_cap = cap;
	}
	memcpy(r->line + r->line_len, p, n);
	r->line_len += n;
}

/* Emits the partial line, if any (the connection ended, or it grew past
 * RCV_MAX_LINE). */
static void rcv_line_flush(receiver *r, int64_t ts)
{
	if (r->line_len == 0)
		return;
	rcv_emit(r, r->line, r->line_len, ts);
	r->line_len = 0;
}

/* Splits a chunk of the stream into records. */
static void rcv_consume(receiver *r, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	int64_t ts = clock_wall_ms();
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			rcv_line_append(r, p, (size_t)(end - p));
			if (r->line_len >= RCV_MAX_LINE) {
				log_warn("%s: line longer than %d bytes cut into records",
				         r->name, RCV_MAX_LINE);
				rcv_line_flush(r, ts);
			}
			return;
		}
		if (r->line_len > 0) {
			rcv_line_append(r, p, (size_t)(nl - p));
			rcv_line_flush(r, ts);
		} else {
			rcv_emit(r, p, (size_t)(nl - p), ts);
		}
		p = nl + 1;
	}
}

/* Waits for a non-blocking connect in RCV_POLL_MS slices. */
static int rcv_connect_wait(receiver *r, int fd)
{
	int64_t deadline = clock_mono_ms() + RCV_CONNECT_TIMEOUT_MS;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		if (atomic_load(&r->stop_reader))
			return ECANCELED;
		int n = poll(&pfd, 1, RCV_POLL_MS);
		if (n < 0 && errno != EINTR)
			return errno;
		if (n > 0)
			break;
		if (clock_mono_ms() >= deadline)
			return ETIMEDOUT;
	}
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		return errno;
	return soerr;
}

static int rcv_connect_one(receiver *r, const struct addrinfo *ai, char *why,
                           size_t whylen)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = RCV_POLL_MS * 1000};
	int e, fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (fd < 0) {
		e = errno;
		goto fail;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	e = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
	if (e == EINPROGRESS)
		e = rcv_connect_wait(r, fd);
	if (e != 0)
		goto fail;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
		e = errno;
		goto fail;
	}
	return fd;
fail:
	snprintf(why, whylen, "%s", strerror(e));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int rcv_connect(receiver *r, char *why, size_t whylen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM},
	                *res;
	char port[16];
	int fd = -1;
	snprintf(port, sizeof(port), "%d", r->port);
	int rc = getaddrinfo(r->host, port, &hints, &res);
	if (rc != 0) {
		snprintf(why, whylen, "cannot resolve %s: %s", r->host, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		if (atomic_load(&r->stop_reader))
			break;
		fd = rcv_connect_one(r, ai, why, whylen);
	}
	freeaddrinfo(res);
	return fd;
}

/* Reads fd until the peer closes, an error, or stop. Returns the bytes read;
 * why says how it ended. */
static uint64_t rcv_read_all(receiver *r, int fd, uint8_t *chunk, char *why,
                             size_t whylen)
{
	uint64_t total = 0;
	while (!atomic_load(&r->stop_reader)) {
		ssize_t n = recv(fd, chunk, RCV_READ_CHUNK, 0);
		if (n > 0) {
			rcv_consume(r, chunk, (size_t)n);
			total += (uint64_t)n;
		} else if (n == 0) {
			snprintf(why, whylen, "closed by the source");
			return total;
		} else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(why, whylen, "%s", strerror(errno));
			return total;
		}
	}
	snprintf(why, whylen, "receiver stopped");
	return total;
}

/* One connection: connect, read to the end. Returns whether data came. */
static bool rcv_session(receiver *r, uint8_t *chunk)
{
	char why[256] = "";
	int fd = rcv_connect(r, why, sizeof(why));
	if (fd < 0) {
		if (!atomic_load(&r->stop_reader) && rcv_fail_log_due(&r->conn_log))
			log_warn(
			    "%s: cannot connect to %s:%d: %s (attempt %llu, retrying)",
			    r->name, r->host, r->port, why,
			    (unsigned long long)r->conn_log.count);
		return false;
	}
	r->connects++;
	uint64_t failed = rcv_fail_log_clear(&r->conn_log);
	log_info("%s: connected to %s:%d%s", r->name, r->host, r->port,
	         failed ? " (source reachable again)" : "");
	uint64_t bytes = rcv_read_all(r, fd, chunk, why, sizeof(why));
	close(fd);
	rcv_line_flush(r, clock_wall_ms());
	if (bytes > 0 || rcv_fail_log_due(&r->conn_log))
		log_info("%s: connection to %s:%d ended after %llu bytes: %s", r->name,
		         r->host, r->port, (unsigned long long)bytes, why);
	return bytes > 0;
}

static void *rcv_reader_main(void *arg)
{
	receiver *r = arg;
	uint8_t *chunk = sl_malloc(RCV_READ_CHUNK);
	int64_t backoff = RCV_BACKOFF_MIN_MS;
	while (!atomic_load(&r->stop_reader)) {
		if (rcv_session(r, chunk))
			backoff = RCV_BACKOFF_MIN_MS;
		if (rcv_sleep_until(r, clock_mono_ms() + backoff, &r->stop_reader, false))
			break;
		backoff =
		    backoff * 2 > RCV_BACKOFF_MAX_MS ? RCV_BACKOFF_MAX_MS : backoff * 2;
	}
	sl_free(chunk);
	return NULL;
}

/* ---- lifecycle --------------------------------------------------------- */

static void rcv_free(receiver *r)
{
	ratelimit_fini(&r->rl);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	rbuf_free(&r->buf);
	sl_free(r->line);
	sl_free(r->host);
	sl_free(r->replica_url);
	sl_free(r->replica_worker_id);
	sl_free(r->wal_dir);
	sl_free(r);
}

static receiver *rcv_new(const receiver_env *env, const Sluice__StartReceiver *spec)
{
	receiver *r = sl_calloc(1, sizeof(*r));
	pthread_condattr_t ca;
	r->env = env;
	r->job_id = spec->job_id;
	r->node = spec->node;
	r->id = spec->receiver_id;
	r->host = sl_strdup(spec->host);
	r->port = spec->port;
	r->replica_url = sl_strdup(spec->replica_url ? spec->replica_url : "");
	r->replica_worker_id =
	    sl_strdup(spec->replica_worker_id ? spec->replica_worker_id : "");
	r->interval_ms = spec->block_interval_ms > 0 ? spec->block_interval_ms
	                                             : RCV_DEFAULT_INTERVAL_MS;
	r->wal = spec->wal;
	r->start_ms = clock_wall_ms();
	blockmgr_stats bst;
	blockmgr_get_stats(env->bm, &bst);
	uint64_t mb = bst.budget / RCV_BLOCK_BUDGET_DIV;
	r->max_block = mb < RCV_BLOCK_MIN   ? RCV_BLOCK_MIN
	               : mb > RCV_BLOCK_MAX ? RCV_BLOCK_MAX
	                                    : (size_t)mb;
	snprintf(r->name, sizeof(r->name), "receiver %llu/%u",
	         (unsigned long long)r->job_id, r->id);
	ratelimit_init(&r->rl, spec->max_rate > 0 ? (double)spec->max_rate : 0);
	r->share_since_ns = clock_mono_ns();
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	rbuf_init(&r->buf);
	r->pending_tail = &r->pending;
	return r;
}

/* Checks the spec and fills the level and WAL settings of r. */
static int rcv_configure(receiver *r, const receivers *rs,
                         const Sluice__StartReceiver *spec, char *err, size_t errlen)
{
	const char *lv = spec->storage_level && spec->storage_level[0]
	                     ? spec->storage_level
	                     : RCV_DEFAULT_LEVEL;
	bool two;
	if (spec->kind != SLUICE__NODE_KIND__SRC_SOCKET) {
		snprintf(err, errlen,
		         "receiver kind %d is not supported (only socket sources)",
		         (int)spec->kind);
		return SL_EINVAL;
	}
	if (spec->host == NULL || spec->host[0] == '\0' || spec->port <= 0 ||
	    spec->port > 65535) {
		snprintf(err, errlen,
		         "socket receiver needs a host and a port in 1..65535");
		return SL_EINVAL;
	}
	if (parse_level(lv, &r->level, &two) != SL_OK) {
		snprintf(err, errlen, "unknown storage level '%s'", lv);
		return SL_EINVAL;
	}
	r->replicate = two && r->replica_url[0] != '\0';
	if (two && !r->replicate)
		log_warn(
		    "%s: storage level %s but no replica worker: blocks are kept once",
		    r->name, lv);
	if (!r->wal)
		return SL_OK;
	r->wal_dir =
	    sl_asprintf("%s/wal/%llu", rs->env.dir, (unsigned long long)r->job_id);
	if (mkdir_durable(r->wal_dir) != SL_OK) {
		snprintf(err, errlen, "cannot create WAL directory %s: %s", r->wal_dir,
		         strerror(errno));
		return SL_EIO;
	}
	return SL_OK;
}

static int rcv_start_threads(receiver *r, char *err, size_t errlen)
{
	int e = pthread_create(&r->generator, NULL, rcv_generator_main, r);
	if (e == 0) {
		r->generator_started = true;
		e = pthread_create(&r->reader, NULL, rcv_reader_main, r);
		r->reader_started = e == 0;
	}
	if (e != 0)
		snprintf(err, errlen, "cannot start receiver thread: %s", strerror(e));
	return e == 0 ? SL_OK : SL_EIO;
}

/* Asks the reader to stop (non-blocking). */
static void rcv_close(receiver *r)
{
	ratelimit_interrupt(&r->rl);
	rcv_raise(r, &r->stop_reader);
}

/* Joins the reader, then lets the generator flush the last block and joins
 * it; frees r. */
static void rcv_stop(receiver *r)
{
	rcv_close(r);
	if (r->reader_started)
		pthread_join(r->reader, NULL);
	rcv_raise(r, &r->stop_generator);
	if (r->generator_started)
		pthread_join(r->generator, NULL);
	log_info("%s: stopped: %llu records in %llu blocks, %llu connections, %.1f s "
	         "blocked on the rate limiter",
	         r->name, (unsigned long long)atomic_load(&r->records),
	         (unsigned long long)r->blocks, (unsigned long long)r->connects,
	         (double)atomic_load(&r->blocked_ns) / 1e9);
	rcv_free(r);
}

/* Closes every receiver of a detached list first, so they stop together,
 * then waits for each. */
static void rcv_stop_list(receiver *list)
{
	for (receiver *r = list; r != NULL; r = r->next)
		rcv_close(r);
	while (list != NULL) {
		receiver *next = list->next;
		rcv_stop(list);
		list = next;
	}
}

/* ---- public API -------------------------------------------------------- */

int receivers_new(receivers **out, const receiver_env *env)
{
	receivers *rs = sl_calloc(1, sizeof(*rs));
	rs->env = *env;
	pthread_mutex_init(&rs->lock, NULL);
	*out = rs;
	return SL_OK;
}

void receivers_free(receivers *rs)
{
	if (rs == NULL)
		return;
	pthread_mutex_lock(&rs->lock);
	receiver *list = rs->list;
	rs->list = NULL;
	rs->count = 0;
	pthread_mutex_unlock(&rs->lock);
	rcv_stop_list(list);
	pthread_mutex_destroy(&rs->lock);
	sl_free(rs);
}

static receiver **rcv_find_locked(receivers *rs, uint64_t job_id, uint32_t id)
{
	receiver **pp = &rs->list;
	while (*pp != NULL && ((*pp)->job_id != job_id || (*pp)->id != id))
		pp = &(*pp)->next;
	return pp;
}

int receivers_start(receivers *rs, const Sluice__StartReceiver *spec, char *err,
                    size_t errlen)
{
	receiver *r = rcv_new(&rs->env, spec);
	int rc = rcv_configure(r, rs, spec, err, errlen);
	if (rc != SL_OK)
		goto fail;
	pthread_mutex_lock(&rs->lock);
	if (*rcv_find_locked(rs, spec->job_id, spec->receiver_id) != NULL) {
		pthread_mutex_unlock(&rs->lock);
		snprintf(err, errlen, "receiver %llu/%u already runs on this worker",
		         (unsigned long long)spec->job_id, spec->receiver_id);
		rc = SL_EEXIST;
		goto fail;
	}
	rc = rcv_start_threads(r, err, errlen);
	if (rc == SL_OK) {
		/* Logged under the lock: once it is released, r may be stopped. */
		log_info("%s: receiving from %s:%d (%s, block interval %lld ms, max "
		         "rate %lld/s%s)",
		         r->name, r->host, r->port, spec->storage_level,
		         (long long)r->interval_ms, (long long)spec->max_rate,
		         r->wal ? ", WAL" : "");
		r->next = rs->list;
		rs->list = r;
		rs->count++;
	}
	pthread_mutex_unlock(&rs->lock);
	if (rc != SL_OK)
		rcv_stop(r);
	return rc;
fail:
	rcv_free(r);
	return rc;
}

int receivers_stop(receivers *rs, uint64_t job_id, uint32_t receiver_id)
{
	pthread_mutex_lock(&rs->lock);
	receiver **pp = rcv_find_locked(rs, job_id, receiver_id), *r = *pp;
	if (r != NULL) {
		*pp = r->next;
		r->next = NULL;
		rs->count--;
	}
	pthread_mutex_unlock(&rs->lock);
	if (r == NULL)
		return SL_ENOTFOUND;
	rcv_stop(r);
	return SL_OK;
}

void receivers_stop_job(receivers *rs, uint64_t job_id)
{
	receiver *stopped = NULL;
	pthread_mutex_lock(&rs->lock);
	receiver **pp = &rs->list;
	while (*pp != NULL) {
		receiver *r = *pp;
		if (r->job_id != job_id) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->next = stopped;
		stopped = r;
		rs->count--;
	}
	pthread_mutex_unlock(&rs->lock);
	rcv_stop_list(stopped);
}

int receivers_set_rate(receivers *rs, uint64_t job_id, uint32_t receiver_id, double rate)
{
	pthread_mutex_lock(&rs->lock);
	receiver *r = *rcv_find_locked(rs, job_id, receiver_id);
	if (r != NULL)
		ratelimit_set_rate(&r->rl, rate);
	pthread_mutex_unlock(&rs->lock);
	return r != NULL ? SL_OK : SL_ENOTFOUND;
}

uint32_t receivers_count(receivers *rs)
{
	pthread_mutex_lock(&rs->lock);
	uint32_t n = rs->count;
	pthread_mutex_unlock(&rs->lock);
	return n;
}

size_t receivers_load(receivers *rs, receiver_load **out)
{
	pthread_mutex_lock(&rs->lock);
	receiver_load *v = sl_calloc(rs->count + 1, sizeof(*v));
	size_t n = 0;
	for (receiver *r = rs->list; r != NULL && n < rs->count; r = r->next) {
		receiver_load *l = &v[n++];
		l->job_id = r->job_id;
		l->receiver_id = r->id;
		l->records = atomic_load(&r->records);
		l->blocked_s = (double)atomic_load(&r->blocked_ns) / 1e9;
		l->rate = ratelimit_rate(&r->rl);
		pthread_mutex_lock(&r->lock);
		l->blocked_share = r->last_share;
		pthread_mutex_unlock(&r->lock);
	}
	pthread_mutex_unlock(&rs->lock);
	*out = v;
	return n;
}
