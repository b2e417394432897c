/*
 * Unit tests for the worker's receivers (worker/receivers.c) over real
 * loopback sockets.
 *
 * Two rpc_servers on tcp://127.0.0.1:0 play the master (MSG_ADD_BLOCK) and
 * the replica worker (MSG_PUT_BLOCK; a separate server because a reply's
 * sender role is checked: only a worker may answer MSG_PUT_BLOCK) and record
 * what they are sent. A
 * source thread listens on another loopback port, serves a known text of
 * numbered lines (in uneven chunks, some lines ending in "\r\n", the last one
 * without a newline) and closes. Blocks are read back from the worker's
 * BlockManager, its replica copies and its WAL files, and every line must
 * arrive exactly once. Every test also checks that it leaves no allocation
 * behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <nng/nng.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "blockmgr.h"
#include "clock.h"
#include "envelope.h"
#include "msgtypes.h"
#include "peers.h"
#include "receivers.h"
#include "record.h"
#include "rpc.h"
#include "sluice/err.h"
#include "job.pb-c.h"

#define ERRLEN     512
#define MAX_MSG    (16 * 1024 * 1024)
#define TIMEOUT_MS 10000
#define SELF_URL   "tcp://127.0.0.1:1"
#define JOB_ID     7

/* ---- the fake master / replica ----------------------------------------- */

typedef struct {
	char *id;
	uint64_t records, bytes;
	size_t holders;
	char *holder1; /* second worker id, if any */
	char *wal_path;
	uint32_t receiver_id;
} added_block;

typedef struct {
	char *id;
	uint8_t *data;
	size_t len;
	bool disk;
} put_block;

typedef struct {
	int64_t live;
	char dir[64];
	auth_key key;
	rpc_opts srv_opts, rep_opts, cli_opts;
	rpc_server *srv, *replica;
	char url[64], replica_url[64];
	rpc_client *master;
	peer_pool *peers;
	blockmgr *bm;
	receivers *rcv;

	pthread_mutex_t lock;
	added_block *added;
	size_t n_added, cap_added;
	uint64_t added_records;
	put_block *puts;
	size_t n_puts, cap_puts;
	atomic_int bad_sender;
} fixture;

static void record_add(fixture *f, const Sluice__AddBlock *m)
{
	pthread_mutex_lock(&f->lock);
	if (f->n_added == f->cap_added) {
		f->cap_added = f->cap_added ? f->cap_added * 2 : 64;
		f->added = realloc(f->added, f->cap_added * sizeof(*f->added));
	}
	added_block *a = &f->added[f->n_added++];
	a->id = strdup(m->block_id);
	a->records = m->records;
	a->bytes = m->bytes;
	a->holders = m->n_worker_ids;
	a->holder1 = strdup(m->n_worker_ids > 1 ? m->worker_ids[1] : "");
	a->wal_path = strdup(m->wal_path ? m->wal_path : "");
	a->receiver_id = m->receiver_id;
	f->added_records += m->records;
	pthread_mutex_unlock(&f->lock);
}

static void record_put(fixture *f, const Sluice__PutBlock *m)
{
	pthread_mutex_lock(&f->lock);
	if (f->n_puts == f->cap_puts) {
		f->cap_puts = f->cap_puts ? f->cap_puts * 2 : 64;
		f->puts = realloc(f->puts, f->cap_puts * sizeof(*f->puts));
	}
	put_block *p = &f->puts[f->n_puts++];
	p->id = strdup(m->block_id);
	p->data = malloc(m->data.len);
	memcpy(p->data, m->data.data, m->data.len);
	p->len = m->data.len;
	p->disk = m->disk;
	pthread_mutex_unlock(&f->lock);
}

static int handler(void *arg, const envelope *req, rpc_reply *rep)
{
	fixture *f = arg;
	if (strncmp(req->sender, "worker", 6) != 0)
		atomic_fetch_add(&f->bad_sender, 1);
	if (req->type == MSG_ADD_BLOCK) {
		Sluice__AddBlock *m =
		    sluice__add_block__unpack(NULL, req->payload_len, req->payload);
		if (m == NULL)
			return rpc_reply_error(rep, SL_EPROTO, "bad AddBlock");
		record_add(f, m);
		sluice__add_block__free_unpacked(m, NULL);
		Sluice__AddBlockReply r = SLUICE__ADD_BLOCK_REPLY__INIT;
		rpc_reply_set(rep, MSG_ADD_BLOCK_REPLY, &r);
		return SL_OK;
	}
	if (req->type == MSG_PUT_BLOCK) {
		Sluice__PutBlock *m =
		    sluice__put_block__unpack(NULL, req->payload_len, req->payload);
		if (m == NULL)
			return rpc_reply_error(rep, SL_EPROTO, "bad PutBlock");
		record_put(f, m);
		sluice__put_block__free_unpacked(m, NULL);
		Sluice__PutBlockReply r = SLUICE__PUT_BLOCK_REPLY__INIT;
		rpc_reply_set(rep, MSG_PUT_BLOCK_REPLY, &r);
		return SL_OK;
	}
	return rpc_reply_error(rep, SL_ESTATE, "test server does not serve %s",
	                       msg_type_name(req->type));
}

static uint64_t added_records(fixture *f)
{
	pthread_mutex_lock(&f->lock);
	uint64_t n = f->added_records;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void opts_init(rpc_opts *o, const auth_key *k, const char *identity)
{
	memset(o, 0, sizeof(*o));
	o->key = k;
	o->identity = identity;
	o->max_msg = MAX_MSG;
	o->timeout_ms = TIMEOUT_MS;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char err[ERRLEN] = "";
	int port = 0;
	f->live = alloc_live();
	pthread_mutex_init(&f->lock, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-rcv-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	auth_key_set(&f->key, "receivers-unit-test-secret");
	opts_init(&f->srv_opts, &f->key, "master");
	opts_init(&f->rep_opts, &f->key, "worker-2");
	opts_init(&f->cli_opts, &f->key, "worker-1");
	if (rpc_server_start(&f->srv, "tcp://127.0.0.1:0", &f->srv_opts, handler, f,
	                     &port, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "server: %s\n", err);
		return -1;
	}
	snprintf(f->url, sizeof(f->url), "tcp://127.0.0.1:%d", port);
	if (rpc_server_start(&f->replica, "tcp://127.0.0.1:0", &f->rep_opts, handler, f,
	                     &port, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "replica: %s\n", err);
		return -1;
	}
	snprintf(f->replica_url, sizeof(f->replica_url), "tcp://127.0.0.1:%d", port);
	if (rpc_client_open(&f->master, f->url, &f->cli_opts, err, sizeof(err)) != SL_OK)
		return -1;
	f->peers = peers_new(&f->cli_opts);
	if (blockmgr_new(&f->bm, f->dir, 64 << 20, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "blockmgr: %s\n", err);
		return -1;
	}
	receiver_env env = {.bm = f->bm,
	                    .master = f->master,
	                    .peers = f->peers,
	                    .worker_id = "worker-1",
	                    .worker_url = SELF_URL,
	                    .dir = f->dir};
	if (receivers_new(&f->rcv, &env) != SL_OK)
		return -1;
	*state = f;
	return 0;
}

static int64_t live_settled(int64_t n)
{
	int64_t deadline = clock_mono_ms() + 5000, live;
	while ((live = alloc_live()) != n && clock_mono_ms() < deadline)
		clock_sleep_ms(5);
	return live;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char cmd[128];
	receivers_free(f->rcv);
	peers_free(f->peers);
	rpc_client_close(f->master);
	rpc_server_close(f->srv);
	rpc_server_close(f->replica);
	blockmgr_free(f->bm);
	int64_t live = live_settled(f->live);
	if (live != f->live)
		fprintf(stderr, "leak: %lld allocations left\n",
		        (long long)(live - f->live));
	for (size_t i = 0; i < f->n_added; i++) {
		free(f->added[i].id);
		free(f->added[i].holder1);
		free(f->added[i].wal_path);
	}
	for (size_t i = 0; i < f->n_puts; i++) {
		free(f->puts[i].id);
		free(f->puts[i].data);
	}
	free(f->added);
	free(f->puts);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	bool ok = live == f->live && atomic_load(&f->bad_sender) == 0;
	pthread_mutex_destroy(&f->lock);
	free(f);
	return ok ? 0 : -1;
}

/* ---- the text source ---------------------------------------------------- */

typedef struct {
	int listen_fd;
	int port;
	int lines;
	bool keep_open; /* hold the connection until `release` */
	atomic_bool release;
	atomic_bool served;
	pthread_t thread;
} source;

/* Line i of the text: "line-<i>", with "\r\n" on every seventh, no newline
 * after the last. */
static size_t source_text(int lines, char **out)
{
	size_t cap = (size_t)lines * 24 + 16, len = 0;
	char *buf = malloc(cap);
	for (int i = 0; i < lines; i++) {
		const char *eol = i == lines - 1 ? "" : i % 7 == 0 ? "\r\n" : "\n";
		len += (size_t)snprintf(buf + len, cap - len, "line-%d%s", i, eol);
	}
	*out = buf;
	return len;
}

static void *source_main(void *arg)
{
	source *s = arg;
	char *text;
	size_t len = source_text(s->lines, &text), off = 0, step = 1;
	int fd = accept(s->listen_fd, NULL, NULL);
	close(s->listen_fd);
	/* Uneven writes, so lines straddle the receiver's reads. */
	while (fd >= 0 && off < len) {
		size_t n = len - off < step ? len - off : step;
		ssize_t w = write(fd, text + off, n);
		if (w <= 0)
			break;
		off += (size_t)w;
		step = step * 3 % 4093 + 1;
	}
	atomic_store(&s->served, true);
	while (s->keep_open && !atomic_load(&s->release))
		clock_sleep_ms(10);
	if (fd >= 0)
		close(fd);
	free(text);
	return NULL;
}

/* Binds 127.0.0.1:0 and returns the socket, with the port in *port. */
static int listen_any(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void source_start(source *s, int lines, bool keep_open)
{
	memset(s, 0, sizeof(*s));
	s->lines = lines;
	s->keep_open = keep_open;
	s->listen_fd = listen_any(&s->port);
	assert_int_equal(pthread_create(&s->thread, NULL, source_main, s), 0);
}

static void source_join(source *s)
{
	atomic_store(&s->release, true);
	pthread_join(s->thread, NULL);
}

/* ---- helpers ------------------------------------------------------------ */

static void spec_init(Sluice__StartReceiver *spec, uint32_t id, int port,
                      const char *level)
{
	sluice__start_receiver__init(spec);
	spec->job_id = JOB_ID;
	spec->node = 1;
	spec->receiver_id = id;
	spec->kind = SLUICE__NODE_KIND__SRC_SOCKET;
	spec->host = "127.0.0.1";
	spec->port = port;
	spec->storage_level = (char *)level;
	spec->block_interval_ms = 100;
}

static void start_ok(fixture *f, const Sluice__StartReceiver *spec)
{
	char err[ERRLEN] = "";
	int rc = receivers_start(f->rcv, spec, err, sizeof(err));
	if (rc != SL_OK)
		fail_msg("receivers_start: %s: %s", sl_strerror(rc), err);
}

/* Waits until the master was told about n records; returns the ms it took. */
static int64_t wait_records(fixture *f, uint64_t n, int64_t timeout_ms)
{
	int64_t t0 = clock_mono_ms();
	while (added_records(f) < n && clock_mono_ms() - t0 < timeout_ms)
		clock_sleep_ms(10);
	assert_int_equal(added_records(f), n);
	return clock_mono_ms() - t0;
}

/* Marks the line numbers of the records in data; fails on a duplicate or a
 * record that is not a line of the text. */
static void mark_lines(const uint8_t *data, size_t len, uint8_t *seen, int lines)
{
	rbuf_iter it;
	sl_record rec;
	int rc;
	int64_t now = clock_wall_ms();
	rbuf_iter_init(&it, data, len);
	while ((rc = rbuf_iter_next(&it, &rec)) == 1) {
		char line[32] = "";
		int i = -1;
		assert_int_equal(rec.key_len, 0);
		assert_true(rec.value_len < sizeof(line));
		memcpy(line, rec.value, rec.value_len);
		assert_int_equal(sscanf(line, "line-%d", &i), 1);
		assert_true(i >= 0 && i < lines);
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		assert_true(rec.event_time_ms > now - 600000 && rec.event_time_ms <= now);
	}
	assert_int_equal(rc, 0);
}

/* Reads every reported block back from the BlockManager and checks that the
 * lines 0..lines-1 arrived exactly once. */
static void check_blocks(fixture *f, int lines)
{
	uint8_t *seen = calloc((size_t)lines, 1);
	uint64_t total = 0;
	for (size_t b = 0; b < f->n_added; b++) {
		block_ref *ref;
		assert_int_equal(blockmgr_get(f->bm, f->added[b].id, &ref), SL_OK);
		const rbuf *data = block_ref_data(ref);
		assert_int_equal(data->count, f->added[b].records);
		assert_int_equal(data->len, f->added[b].bytes);
		mark_lines(data->data, data->len, seen, lines);
		total += data->count;
		block_ref_release(ref);
	}
	assert_int_equal(total, (uint64_t)lines);
	for (int i = 0; i < lines; i++)
		assert_int_equal(seen[i], 1);
	free(seen);
}

/* Checks that an encoded block decodes to the same records the
 * BlockManager holds under id. */
static void check_same_block(fixture *f, const char *id, const uint8_t *enc, size_t len)
{
	rbuf dec;
	block_ref *ref;
	char err[ERRLEN] = "";
	assert_int_equal(block_decode(enc, len, MAX_MSG, &dec, err, sizeof(err)), SL_OK);
	assert_int_equal(blockmgr_get(f->bm, id, &ref), SL_OK);
	const rbuf *data = block_ref_data(ref);
	assert_int_equal(dec.count, data->count);
	assert_int_equal(dec.len, data->len);
	assert_memory_equal(dec.data, data->data, data->len);
	block_ref_release(ref);
	rbuf_free(&dec);
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	uint8_t *buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

/* ---- tests -------------------------------------------------------------- */

/* 20,000 lines arrive exactly once, stored (MEMORY_AND_DISK_SER) and
 * reported with this worker as the only holder. */
static void test_lines_exactly_once(void **state)
{
	fixture *f = *state;
	Sluice__StartReceiver spec;
	source src;
	source_start(&src, 20000, false);
	spec_init(&spec, 1, src.port, "MEMORY_AND_DISK_SER");
	start_ok(f, &spec);
	assert_int_equal(receivers_count(f->rcv), 1);
	wait_records(f, 20000, 30000);
	assert_int_equal(receivers_stop(f->rcv, JOB_ID, 1), SL_OK);
	source_join(&src);
	assert_int_equal(receivers_count(f->rcv), 0);
	check_blocks(f, 20000);
	for (size_t b = 0; b < f->n_added; b++) {
		assert_int_equal(f->added[b].holders, 1);
		assert_string_equal(f->added[b].wal_path, "");
		assert_true(strncmp(f->added[b].id, "rcv-7-1-", 8) == 0);
	}
	assert_int_equal(f->n_puts, 0);
}

/* *_2: every block goes to the replica first and is reported with two
 * holders; the replica's copy decodes to the same records. */
static void test_replicated(void **state)
{
	fixture *f = *state;
	Sluice__StartReceiver spec;
	source src;
	source_start(&src, 5000, false);
	spec_init(&spec, 2, src.port, "MEMORY_AND_DISK_SER_2");
	spec.replica_url = f->replica_url;
	spec.replica_worker_id = "worker-2";
	start_ok(f, &spec);
	wait_records(f, 5000, 30000);
	assert_int_equal(receivers_stop(f->rcv, JOB_ID, 2), SL_OK);
	source_join(&src);
	check_blocks(f, 5000);
	assert_int_equal(f->n_puts, f->n_added);
	for (size_t b = 0; b < f->n_added; b++) {
		assert_int_equal(f->added[b].holders, 2);
		assert_string_equal(f->added[b].holder1, "worker-2");
		size_t p = 0;
		while (p < f->n_puts && strcmp(f->puts[p].id, f->added[b].id) != 0)
			p++;
		assert_true(p < f->n_puts);
		assert_true(f->puts[p].disk);
		check_same_block(f, f->added[b].id, f->puts[p].data, f->puts[p].len);
	}
}

/* With the WAL each block is in dir/wal/<job>/<id>.blk before it is
 * reported, and the file decodes to the stored records. */
static void test_wal(void **state)
{
	fixture *f = *state;
	Sluice__StartReceiver spec;
	source src;
	char want[256];
	source_start(&src, 5000, false);
	spec_init(&spec, 3, src.port, "MEMORY_ONLY");
	spec.wal = true;
	start_ok(f, &spec);
	wait_records(f, 5000, 30000);
	assert_int_equal(receivers_stop(f->rcv, JOB_ID, 3), SL_OK);
	source_join(&src);
	check_blocks(f, 5000);
	for (size_t b = 0; b < f->n_added; b++) {
		size_t len;
		snprintf(want, sizeof(want), "%s/wal/%d/%s.blk", f->dir, JOB_ID,
		         f->added[b].id);
		assert_string_equal(f->added[b].wal_path, want);
		uint8_t *enc = read_file(want, &len);
		check_same_block(f, f->added[b].id, enc, len);
		free(enc);
	}
}

/* 3,000 lines at 5,000 records/s (a 500-record burst) take at least 0.5 s,
 * and blocks are cut on time meanwhile. */
static void test_rate_limit(void **state)
{
	fixture *f = *state;
	Sluice__StartReceiver spec;
	source src;
	source_start(&src, 3000, false);
	spec_init(&spec, 4, src.port, "MEMORY_ONLY");
	spec.max_rate = 5000;
	int64_t t0 = clock_mono_ms();
	start_ok(f, &spec);
	wait_records(f, 3000, 30000);
	int64_t took = clock_mono_ms() - t0;
	/* the source offers far more than 5000/s: the reader waited on its
	 * bucket most of the time, and /metrics' figures say so */
	receiver_load *l;
	assert_int_equal(receivers_load(f->rcv, &l), 1);
	assert_int_equal(l[0].receiver_id, 4);
	assert_int_equal(l[0].records, 3000);
	assert_float_equal(l[0].rate, 5000, 0);
	assert_true(l[0].blocked_s > 0.2);
	/* (the last window may end after the source stopped: only bounded) */
	assert_true(l[0].blocked_share >= 0 && l[0].blocked_share <= 1.0);
	sl_free(l);
	assert_int_equal(receivers_stop(f->rcv, JOB_ID, 4), SL_OK);
	source_join(&src);
	check_blocks(f, 3000);
	assert_true(took >= 400);
	assert_true(f->n_added >= 3);
}

/* A source faster than the block interval: with a 1 MiB storage budget a
 * block is cut as soon as it reaches 256 KiB (budget / 8, raised to the
 * minimum), so no block is bigger than that plus one record, and every line
 * still arrives exactly once. */
static void test_block_size_bounded(void **state)
{
	fixture *f = *state;
	Sluice__StartReceiver spec;
	source src;
	char err[ERRLEN] = "";
	const uint64_t max_block = 256 * 1024, max_record = 16 + 16;
	const int lines = 200000;
	receivers_free(f->rcv);
	blockmgr_free(f->bm);
	assert_int_equal(blockmgr_new(&f->bm, f->dir, 1 << 20, err, sizeof(err)), SL_OK);
	receiver_env env = {.bm = f->bm,
	                    .master = f->master,
	                    .peers = f->peers,
	                    .worker_id = "worker-1",
	                    .worker_url = SELF_URL,
	                    .dir = f->dir};
	assert_int_equal(receivers_new(&f->rcv, &env), SL_OK);
	source_start(&src, lines, false);
	spec_init(&spec, 10, src.port, "MEMORY_AND_DISK_SER");
	spec.block_interval_ms = 2000;
	start_ok(f, &spec);
	wait_records(f, (uint64_t)lines, 30000);
	assert_int_equal(receivers_stop(f->rcv, JOB_ID, 10), SL_OK);
	source_join(&src);
	check_blocks(f, lines);
	uint64_t total = 0;
	for (size_t b = 0; b < f->n_added; b++) {
		assert_true(f->added[b].bytes <= max_block + max_record);
		total += f->added[b].bytes;
	}
	assert_true(total > 8 * max_block);
	assert_true(f->n_added >= total / (max_block + max_record));
}

/* Stopping flushes the current buffer as a last, reported block. */
static void test_stop_flushes(void **state)
{
	fixture *f = *state;
	Sluice__StartReceiver spec;
	source src;
	source_start(&src, 1000, true);
	spec_init(&spec, 5, src.port, "MEMORY_ONLY");
	spec.block_interval_ms = 60000;
	start_ok(f, &spec);
	while (!atomic_load(&src.served))
		clock_sleep_ms(10);
	clock_sleep_ms(1000); /* let the receiver read it all */
	assert_int_equal(f->n_added, 0);
	assert_int_equal(receivers_stop(f->rcv, JOB_ID, 5), SL_OK);
	source_join(&src);
	assert_int_equal(f->n_added, 1);
	check_blocks(f, 1000); /* the last line came at stop, without newline */
}

/* An unreachable source is retried until stop, which is prompt; empty
 * intervals cut no blocks. */
static void test_unreachable_stops_promptly(void **state)
{
	fixture *f = *state;
	Sluice__StartReceiver spec;
	int port;
	close(listen_any(&port)); /* a port nobody listens on */
	spec_init(&spec, 6, port, "MEMORY_AND_DISK_SER_2");
	spec.replica_url = f->replica_url;
	start_ok(f, &spec);
	clock_sleep_ms(700);
	assert_int_equal(receivers_count(f->rcv), 1);
	int64_t t0 = clock_mono_ms();
	assert_int_equal(receivers_stop(f->rcv, JOB_ID, 6), SL_OK);
	assert_true(clock_mono_ms() - t0 < 2000);
	assert_int_equal(f->n_added, 0);
	assert_int_equal(f->n_puts, 0);
}

/* Duplicates, unsupported kinds and bad specs are refused; stop_job and
 * free stop whatever still runs. */
static void test_refusals_and_stop_job(void **state)
{
	fixture *f = *state;
	Sluice__StartReceiver spec;
	char err[ERRLEN] = "";
	int port;
	close(listen_any(&port));
	spec_init(&spec, 8, port, "MEMORY_ONLY");
	spec.kind = SLUICE__NODE_KIND__SRC_KAFKA;
	assert_int_equal(receivers_start(f->rcv, &spec, err, sizeof(err)), SL_EINVAL);
	assert_true(strlen(err) > 0);
	spec.kind = SLUICE__NODE_KIND__SRC_SOCKET;
	spec.storage_level = "MEMORY_SOMETIMES";
	assert_int_equal(receivers_start(f->rcv, &spec, err, sizeof(err)), SL_EINVAL);
	spec.storage_level = "MEMORY_ONLY";
	spec.port = 0;
	assert_int_equal(receivers_start(f->rcv, &spec, err, sizeof(err)), SL_EINVAL);
	spec.port = port;
	start_ok(f, &spec);
	assert_int_equal(receivers_start(f->rcv, &spec, err, sizeof(err)), SL_EEXIST);
	spec.receiver_id = 9;
	start_ok(f, &spec);
	spec.job_id = JOB_ID + 1;
	start_ok(f, &spec);
	assert_int_equal(receivers_count(f->rcv), 3);
	assert_int_equal(receivers_stop(f->rcv, JOB_ID, 42), SL_ENOTFOUND);
	receivers_stop_job(f->rcv, JOB_ID);
	assert_int_equal(receivers_count(f->rcv), 1);
	/* teardown's receivers_free stops the last one */
}

/* A receiver set whose master client dials url with options o. */
static receivers *receivers_to(fixture *f, const char *url, const rpc_opts *o,
                               rpc_client **master)
{
	char err[ERRLEN] = "";
	receivers *rs;
	assert_int_equal(rpc_client_open(master, url, o, err, sizeof(err)), SL_OK);
	receiver_env env = {.bm = f->bm,
	                    .master = *master,
	                    .peers = f->peers,
	                    .worker_id = "worker-1",
	                    .worker_url = SELF_URL,
	                    .dir = f->dir};
	assert_int_equal(receivers_new(&rs, &env), SL_OK);
	return rs;
}

/* While the master is unreachable (calls time out after 300 ms), blocks are
 * cut and queued; once it is back every queued block is reported exactly
 * once. */
static void test_reports_retried(void **state)
{
	fixture *f = *state;
	Sluice__StartReceiver spec;
	rpc_opts o = f->cli_opts;
	rpc_client *master;
	rpc_server *late;
	source src;
	char url[64], err[ERRLEN] = "";
	int port;
	close(listen_any(&port));
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	o.timeout_ms = 300;
	receivers *rs = receivers_to(f, url, &o, &master);
	source_start(&src, 2000, false);
	spec_init(&spec, 10, src.port, "MEMORY_ONLY");
	spec.max_rate = 2000; /* ~0.9 s of data: several blocks queue up */
	assert_int_equal(receivers_start(rs, &spec, err, sizeof(err)), SL_OK);
	clock_sleep_ms(1000);
	assert_int_equal(added_records(f), 0);
	assert_int_equal(rpc_server_start(&late, url, &f->srv_opts, handler, f, NULL, err,
	                                  sizeof(err)),
	                 SL_OK);
	wait_records(f, 2000, 20000);
	assert_int_equal(receivers_stop(rs, JOB_ID, 10), SL_OK);
	receivers_free(rs);
	source_join(&src);
	rpc_client_close(master);
	rpc_server_close(late);
	check_blocks(f, 2000);
	assert_true(f->n_added >= 3);
}

/* Stopping while the master stays unreachable is bounded: the blocks are
 * logged as unreported and nothing leaks. */
static void test_stop_with_master_down(void **state)
{
	fixture *f = *state;
	Sluice__StartReceiver spec;
	rpc_opts o = f->cli_opts;
	rpc_client *master;
	source src;
	char url[64], err[ERRLEN] = "";
	int port;
	close(listen_any(&port));
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	o.timeout_ms = 300;
	receivers *rs = receivers_to(f, url, &o, &master);
	source_start(&src, 100, false);
	spec_init(&spec, 11, src.port, "MEMORY_ONLY");
	assert_int_equal(receivers_start(rs, &spec, err, sizeof(err)), SL_OK);
	clock_sleep_ms(500);
	int64_t t0 = clock_mono_ms();
	receivers_free(rs);
	assert_true(clock_mono_ms() - t0 < 3000);
	source_join(&src);
	rpc_client_close(master);
	assert_int_equal(added_records(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lines_exactly_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replicated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_block_size_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_flushes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable_stops_promptly, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_and_stop_job, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reports_retried, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_with_master_down, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	/* nng closes pipes and dialers on its own threads after nng_close
	 * returns; finishing the library reaps them before LeakSanitizer
	 * looks at the heap (CI saw a dialer's pipe reported as leaked). */
	nng_fini();
	return failed;
}
