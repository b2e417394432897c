/*
 * sluice-wire-probe: sends one bad (or one good) frame to a Sluice RPC
 * server and reports what came back. Used by tests/integration/
 * test_bad_input.py to check that every process refuses bad input with a
 * clear error and keeps running (SPEC §11).
 *
 *   sluice-wire-probe URL MODE [--secret-file F] [--sign-as ROLE] [--max-msg BYTES]
 *                     [--timeout MS]
 *
 * Valid frames are made with the real envelope code (common/envelope.c) and
 * the cluster secret (--secret-file, else $SLUICE_SECRET_FILE). Modes, and
 * the outcome each expects:
 *
 *   ping          a valid MSG_PING                    -> MSG_PONG
 *   random        64 random bytes as the message body -> MSG_ERROR (any code)
 *   truncated     a valid envelope cut in half        -> MSG_ERROR SL_EPROTO/SL_EAUTH
 *   oversized     a valid envelope with a payload of max-msg + 1 KiB (within
 *                 nng's slack of 64 KiB)              -> MSG_ERROR SL_ETOOBIG
 *   huge          payload of max-msg + 1 MiB (over nng's hard cap: the server
 *                 drops the connection)               -> no reply
 *   unknown-type  valid MAC, type 999                 -> MSG_ERROR SL_EUNKNOWN_TYPE
 *   bad-version   version 99                          -> MSG_ERROR SL_EVERSION
 *   bad-mac       signed with a wrong secret          -> MSG_ERROR SL_EAUTH
 *   raw-garbage   plain TCP, not nng: 4 KiB of random bytes, then close
 *                                                     -> no reply
 *   as-register   MSG_REGISTER_WORKER as sender "worker"  \  signed with the
 *   as-submit     MSG_SUBMIT_JOB as "client"               > credential of
 *   as-stop       MSG_JOB_CONTROL (stop job 1) as "client" /  --sign-as
 *                 (a credential of another role)      -> MSG_ERROR SL_EAUTH
 *   replay-launch a valid MSG_LAUNCH_TASK signed as the master (for a job
 *                 that does not exist), sent once (any reply), then the
 *                 very same bytes again over a new connection
 *                                                     -> MSG_ERROR SL_EAUTH
 *
 * Prints one line, "reply: <type name> <code name> <message>" or
 * "no reply: <reason>", and exits 0 when the outcome is the expected one,
 * 1 when it is not, 2 on a usage or set-up error. max-msg defaults to 64 MiB
 * (the default sluice.rpc.maxMessageSize); timeout to 10 s (3 s for modes
 * that expect no reply).
 */
#include "alloc.h"
#include "envelope.h"
#include "msgtypes.h"
#include "rpc.h"
#include "sluice/err.h"
#include "cluster.pb-c.h"
#include "envelope.pb-c.h"
#include "job.pb-c.h"

#include <errno.h>
#include <netdb.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLACK    (64 * 1024) /* nng's slack over the cap (common/rpc.c) */
#define IDENTITY "client-probe"

typedef enum { EXPECT_REPLY, EXPECT_ERROR, EXPECT_NOTHING } expect_kind;

typedef struct {
	const char *name;
	expect_kind kind;
	int codes[3]; /* accepted error codes; all 0: any */
	bool needs_key;
} mode;

static const mode modes[] = {
    {"ping", EXPECT_REPLY, {0}, true},
    {"random", EXPECT_ERROR, {0}, false},
    {"truncated", EXPECT_ERROR, {SL_EPROTO, SL_EAUTH}, true},
    {"oversized", EXPECT_ERROR, {SL_ETOOBIG}, true},
    {"huge", EXPECT_NOTHING, {0}, true},
    {"unknown-type", EXPECT_ERROR, {SL_EUNKNOWN_TYPE}, true},
    {"bad-version", EXPECT_ERROR, {SL_EVERSION}, true},
    {"bad-mac", EXPECT_ERROR, {SL_EAUTH}, true},
    {"raw-garbage", EXPECT_NOTHING, {0}, false},
    {"replay-launch", EXPECT_ERROR, {SL_EAUTH}, true},
    {"as-register", EXPECT_ERROR, {SL_EAUTH}, true},
    {"as-submit", EXPECT_ERROR, {SL_EAUTH}, true},
    {"as-stop", EXPECT_ERROR, {SL_EAUTH}, true},
};

/* --sign-as: the credential the as-* modes sign with (-1: by sender). */
static int sign_as = -1;
/* The credential the request was signed with; replies are verified with it. */
static auth_cred probe_cred;

static void usage(FILE *f)
{
	fprintf(f, "usage: sluice-wire-probe URL MODE [--secret-file F] [--sign-as ROLE] "
	           "[--max-msg BYTES] [--timeout MS]\nmodes:");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(f, " %s", modes[i].name);
	fprintf(f, "\n");
}

static void fill_random(uint8_t *buf, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t r = getrandom(buf + off, n - off, 0);
		if (r <= 0) {
			/* getrandom cannot really fail for small sizes; fall
			 * back to something that is at least not constant */
			srand((unsigned)time(NULL) ^ (unsigned)getpid());
			for (; off < n; off++)
				buf[off] = (uint8_t)rand();
			return;
		}
		off += (size_t)r;
	}
}

/* Repacks a frame with a different version (its MAC is then stale). */
static uint8_t *with_version(uint8_t *frame, size_t *len, uint32_t version)
{
	Sluice__Envelope *e = sluice__envelope__unpack(NULL, *len, frame);
	sl_free(frame);
	if (e == NULL)
		return NULL;
	e->version = version;
	*len = sluice__envelope__get_packed_size(e);
	uint8_t *out = sl_malloc(*len);
	sluice__envelope__pack(e, out);
	sluice__envelope__free_unpacked(e, NULL);
	return out;
}

/* The as-* frames: a message of one role, signed with --sign-as. */
static int make_as_frame(const mode *m, const auth_key *key, const uint8_t *reg,
                         size_t reg_len, uint8_t **out, size_t *out_len)
{
	uint8_t buf[256];
	size_t n;
	uint32_t type;
	const char *sender = "client";
	if (strcmp(m->name, "as-register") == 0) {
		memcpy(buf, reg, reg_len);
		n = reg_len;
		type = MSG_REGISTER_WORKER;
		sender = "worker";
	} else if (strcmp(m->name, "as-submit") == 0) {
		Sluice__SubmitJob sj = SLUICE__SUBMIT_JOB__INIT;
		sj.name = "probe-job";
		n = sluice__submit_job__pack(&sj, buf);
		type = MSG_SUBMIT_JOB;
	} else {
		Sluice__JobControl jc = SLUICE__JOB_CONTROL__INIT;
		jc.job = "1";
		jc.action = "stop";
		n = sluice__job_control__pack(&jc, buf);
		type = MSG_JOB_CONTROL;
	}
	int cred = sign_as >= 0 ? sign_as : auth_cred_for_sender(key, sender);
	if (cred < 0 || auth_key_cred(key, (auth_cred)cred) == NULL) {
		fprintf(stderr,
		        "sluice-wire-probe: the credential file does not hold the %s\n",
		        auth_cred_name((auth_cred)cred));
		return SL_EAUTH;
	}
	return envelope_pack_cred(key, (auth_cred)cred, type, 8, sender, buf, n, out,
	                          out_len);
}

/* Builds the frame a mode sends. */
static int make_frame(const mode *m, const auth_key *key, size_t max_msg, uint8_t **out,
                      size_t *out_len)
{
	Sluice__RegisterWorker r = SLUICE__REGISTER_WORKER__INIT;
	uint8_t small[256];
	size_t small_len;
	r.worker_id = "worker-probe";
	r.host = "127.0.0.1";
	r.rpc_url = "tcp://127.0.0.1:1";
	r.slots = 4;
	r.memory_bytes = 1 << 30;
	small_len = sluice__register_worker__pack(&r, small);

	if (strcmp(m->name, "ping") == 0)
		return envelope_pack(key, MSG_PING, 1, IDENTITY, NULL, 0, out, out_len);
	if (strcmp(m->name, "random") == 0) {
		*out_len = 64;
		*out = sl_malloc(*out_len);
		fill_random(*out, *out_len);
		return SL_OK;
	}
	if (strcmp(m->name, "truncated") == 0) {
		int rv = envelope_pack(key, MSG_PING, 2, IDENTITY, small, small_len, out,
		                       out_len);
		*out_len /= 2;
		return rv;
	}
	if (strcmp(m->name, "oversized") == 0 || strcmp(m->name, "huge") == 0) {
		size_t n = max_msg + (strcmp(m->name, "huge") == 0 ? 1024 * 1024 : 1024);
		uint8_t *payload = sl_calloc(1, n);
		int rv =
		    envelope_pack(key, MSG_PING, 3, IDENTITY, payload, n, out, out_len);
		sl_free(payload);
		return rv;
	}
	if (strcmp(m->name, "unknown-type") == 0)
		return envelope_pack(key, 999, 4, IDENTITY, small, small_len, out,
		                     out_len);
	if (strcmp(m->name, "bad-version") == 0) {
		int rv = envelope_pack(key, MSG_PING, 5, IDENTITY, NULL, 0, out, out_len);
		if (rv == SL_OK && (*out = with_version(*out, out_len, 99)) == NULL)
			rv = SL_EPROTO;
		return rv;
	}
	if (strcmp(m->name, "replay-launch") == 0) {
		Sluice__TaskSpec t = SLUICE__TASK_SPEC__INIT;
		Sluice__LaunchTask lt = SLUICE__LAUNCH_TASK__INIT;
		uint8_t buf[256];
		t.task_id = 424242;
		t.job_id = 999999;
		t.library_hash = "0000000000000000000000000000000000000000000000000000"
		                 "000000000000";
		lt.task = &t;
		size_t n = sluice__launch_task__pack(&lt, buf);
		return envelope_pack(key, MSG_LAUNCH_TASK, 7, "master", buf, n, out,
		                     out_len);
	}
	if (strncmp(m->name, "as-", 3) == 0)
		return make_as_frame(m, key, small, small_len, out, out_len);
	if (strcmp(m->name, "bad-mac") == 0) {
		auth_key wrong;
		char secret[65];
		uint8_t raw[32];
		fill_random(raw, sizeof(raw));
		for (int i = 0; i < 32; i++)
			snprintf(secret + 2 * i, 3, "%02x", raw[i]);
		auth_key_set(&wrong, secret);
		return envelope_pack(&wrong, MSG_PING, 6, IDENTITY, NULL, 0, out,
		                     out_len);
	}
	return SL_EINVAL;
}

static bool code_expected(const mode *m, int code)
{
	if (m->codes[0] == 0)
		return true;
	for (int i = 0; i < 3 && m->codes[i] != 0; i++)
		if (m->codes[i] == code)
			return true;
	return false;
}

/* Prints and judges a reply frame. */
static int judge_reply(const mode *m, const auth_key *key, bool have_key, size_t max_msg,
                       nng_msg *msg)
{
	envelope env;
	char err[1024] = "";
	if (!have_key) {
		/* without the secret the reply cannot be verified: decode it
		 * anyway and say so */
		Sluice__Envelope *e =
		    sluice__envelope__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
		Sluice__ErrorReply *er = e && e->type == MSG_ERROR
		                             ? sluice__error_reply__unpack(
		                                   NULL, e->payload.len, e->payload.data)
		                             : NULL;
		const char *tname = e ? msg_type_name(e->type) : NULL;
		int code = er ? er->code : SL_OK;
		printf("reply: %s %s %s (not verified: no cluster secret)\n",
		       tname ? tname : "?", sl_errname(code),
		       er && er->message ? er->message : "");
		int rv = er && m->kind == EXPECT_ERROR && code_expected(m, code) ? 0 : 1;
		if (er)
			sluice__error_reply__free_unpacked(er, NULL);
		if (e)
			sluice__envelope__free_unpacked(e, NULL);
		return rv;
	}
	int rv =
	    envelope_unpack_reply(key, probe_cred, nng_msg_body(msg), nng_msg_len(msg),
	                          max_msg + SLACK, &env, err, sizeof(err));
	if (rv != SL_OK) {
		printf("reply: ? %s cannot verify the reply: %s\n", sl_errname(rv), err);
		return 1;
	}
	const char *tname = msg_type_name(env.type);
	if (env.type == MSG_ERROR) {
		int code = rpc_decode_error(&env, err, sizeof(err));
		envelope_release(&env);
		printf("reply: %s %s %s\n", tname, sl_errname(code), err);
		return m->kind == EXPECT_ERROR && code_expected(m, code) ? 0 : 1;
	}
	if (env.type == MSG_PONG) {
		Sluice__Pong *p =
		    sluice__pong__unpack(NULL, env.payload_len, env.payload);
		printf("reply: %s SL_OK role=%s version=%u\n", tname, p ? p->role : "?",
		       p ? p->version : 0);
		if (p)
			sluice__pong__free_unpacked(p, NULL);
	} else {
		printf("reply: %s SL_OK %zu bytes of payload\n", tname, env.payload_len);
	}
	envelope_release(&env);
	return m->kind == EXPECT_REPLY ? 0 : 1;
}

/* The probe itself must end: nng_close of a socket still pushing a frame
 * the server stopped reading (the `huge` case) can block past every nng
 * timeout. The watchdog reports "no reply" and exits once timeout + 5 s have
 * passed; the test's checks on the server (refusal logged, still serving)
 * do not depend on how the probe ends. */
static volatile sig_atomic_t watchdog_expect_nothing;

static void watchdog_fire(int sig)
{
	static const char msg[] = "no reply: probe watchdog expired\n";
	(void)sig;
	ssize_t w = write(1, msg, sizeof(msg) - 1);
	(void)w;
	_exit(watchdog_expect_nothing ? 0 : 1);
}

static void watchdog_arm(bool expect_nothing, int timeout_ms)
{
	watchdog_expect_nothing = expect_nothing;
	signal(SIGALRM, watchdog_fire);
	alarm((unsigned)(timeout_ms / 1000 + 5));
}

/* Sends one frame over a new nng REQ socket (a new connection) and waits
 * for the reply. Returns 0 with *reply set, 1 when none came (a line saying
 * why is printed), 2 on a set-up error. */
static int exchange(const char *url, const uint8_t *frame, size_t len, size_t max_msg,
                    int timeout_ms, nng_msg **reply)
{
	nng_socket s;
	nng_msg *msg = NULL;
	int nrv, result = 1;
	*reply = NULL;
	if ((nrv = nng_req0_open(&s)) != 0) {
		fprintf(stderr, "sluice-wire-probe: REQ socket: %s\n", nng_strerror(nrv));
		return 2;
	}
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, max_msg + SLACK);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	/* one attempt: a dropped connection must not resend the frame */
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if ((nrv = nng_dial(s, url, NULL, 0)) != 0) {
		printf("no reply: cannot connect to %s: %s\n", url, nng_strerror(nrv));
		goto done;
	}
	if ((nrv = nng_msg_alloc(&msg, 0)) != 0 ||
	    (nrv = nng_msg_append(msg, frame, len)) != 0) {
		fprintf(stderr, "sluice-wire-probe: message: %s\n", nng_strerror(nrv));
		nng_msg_free(msg);
		result = 2;
		goto done;
	}
	if ((nrv = nng_sendmsg(s, msg, 0)) != 0) {
		nng_msg_free(msg);
		printf("no reply: send failed: %s\n", nng_strerror(nrv));
		goto done;
	}
	if ((nrv = nng_recvmsg(s, &msg, 0)) != 0) {
		if (nrv == NNG_ETIMEDOUT)
			printf("no reply: nothing within %d ms\n", timeout_ms);
		else if (nrv == NNG_ECONNRESET || nrv == NNG_ECONNSHUT ||
		         nrv == NNG_ECLOSED)
			printf("no reply: the server dropped the connection (%s)\n",
			       nng_strerror(nrv));
		else
			printf("no reply: %s\n", nng_strerror(nrv));
		goto done;
	}
	*reply = msg;
	result = 0;
done:
	nng_close(s);
	return result;
}

/* Sends the frame of a mode and judges the reply. A replay mode sends it
 * twice, each time over a new connection, and judges the second reply. */
static int probe_nng(const char *url, const mode *m, const auth_key *key, bool have_key,
                     size_t max_msg, int timeout_ms)
{
	nng_msg *reply;
	uint8_t *frame = NULL;
	size_t len = 0;
	if (make_frame(m, key, max_msg, &frame, &len) != SL_OK) {
		fprintf(stderr, "sluice-wire-probe: cannot build the %s frame\n",
		        m->name);
		return 2;
	}
	/* the server answers with the credential the request's sender name
	 * calls for, and a frame without one with its own (the cluster's) */
	int c = envelope_reply_cred(key, frame, len);
	probe_cred = sign_as >= 0 ? (auth_cred)sign_as
	                          : (c >= 0 ? (auth_cred)c : AUTH_CRED_CLUSTER);
	int rv = 0;
	if (strncmp(m->name, "replay-", 7) == 0) {
		rv = exchange(url, frame, len, max_msg, timeout_ms, &reply);
		if (rv == 0) {
			printf("first: ");
			mode any = {"first", EXPECT_REPLY, {0}, true};
			judge_reply(&any, key, have_key, max_msg, reply);
			nng_msg_free(reply);
		}
	}
	if (rv == 0)
		rv = exchange(url, frame, len, max_msg, timeout_ms, &reply);
	sl_free(frame);
	if (rv == 1)
		return m->kind == EXPECT_NOTHING ? 0 : 1;
	if (rv != 0)
		return rv;
	rv = judge_reply(m, key, have_key, max_msg, reply);
	nng_msg_free(reply);
	return rv;
}

/* Connects with plain TCP, writes 4 KiB of random bytes, and reports what
 * the server does: nng sends its 8-byte SP header and closes the
 * connection on seeing a peer that does not speak SP. */
static int probe_raw(const char *url, int timeout_ms)
{
	char host[256], port[16];
	const char *p = strncmp(url, "tcp://", 6) == 0 ? url + 6 : NULL;
	if (p == NULL) {
		fprintf(stderr, "sluice-wire-probe: raw-garbage needs a tcp:// URL\n");
		return 2;
	}
	const char *colon = strrchr(p, ':');
	if (colon == NULL || (size_t)(colon - p) >= sizeof(host)) {
		fprintf(stderr, "sluice-wire-probe: no port in %s\n", url);
		return 2;
	}
	size_t hl = (size_t)(colon - p);
	if (p[0] == '[' && hl >= 2 && p[hl - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), p + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)hl, p);
	snprintf(port, sizeof(port), "%s", colon + 1);

	struct addrinfo hints = {0}, *ai = NULL;
	hints.ai_socktype = SOCK_STREAM;
	int grv = getaddrinfo(host, port, &hints, &ai);
	if (grv != 0) {
		fprintf(stderr, "sluice-wire-probe: %s: %s\n", url, gai_strerror(grv));
		return 2;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		printf("no reply: cannot connect to %s: %s\n", url, strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	freeaddrinfo(ai);

	uint8_t junk[4096];
	fill_random(junk, sizeof(junk));
	junk[0] = 0xff; /* never a valid SP header (which starts 00 'S' 'P' 00) */
	size_t off = 0;
	const char *why = NULL;
	while (off < sizeof(junk)) {
		ssize_t w = send(fd, junk + off, sizeof(junk) - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			why = strerror(errno);
			break;
		}
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);

	/* read until the server closes the connection */
	size_t got = 0;
	int result = 0;
	char line[256];
	struct pollfd pfd = {fd, POLLIN, 0};
	for (;;) {
		int prv = poll(&pfd, 1, timeout_ms);
		if (prv == 0) {
			snprintf(line, sizeof(line),
			         "no reply: connection still open after %d ms (%zu bytes "
			         "received)",
			         timeout_ms, got);
			break;
		}
		if (prv < 0 && errno == EINTR)
			continue;
		uint8_t buf[512];
		ssize_t r = prv < 0 ? -1 : recv(fd, buf, sizeof(buf), 0);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			snprintf(line, sizeof(line),
			         "no reply: connection closed by the server after %zu "
			         "bytes sent, "
			         "%zu bytes received%s%s",
			         off, got, why ? "; send: " : "", why ? why : "");
		else
			snprintf(line, sizeof(line),
			         "no reply: connection reset by the server after %zu "
			         "bytes sent, "
			         "%zu bytes received (%s)",
			         off, got, strerror(errno));
		break;
	}
	/* the server's own SP header is all it may send: anything more
	 * would be a reply to garbage */
	if (got > 8)
		result = 1;
	printf("%s\n", line);
	close(fd);
	return result;
}

int main(int argc, char **argv)
{
	const char *url = NULL, *mode_name = NULL,
	           *secret_file = getenv("SLUICE_SECRET_FILE");
	size_t max_msg = 64u << 20;
	int timeout_ms = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--secret-file") == 0 && i + 1 < argc) {
			secret_file = argv[++i];
		} else if (strcmp(argv[i], "--sign-as") == 0 && i + 1 < argc) {
			const char *r = argv[++i];
			sign_as = strcmp(r, "worker") == 0     ? AUTH_CRED_CLUSTER
			          : strcmp(r, "operator") == 0 ? AUTH_CRED_OPERATOR
			          : strcmp(r, "reader") == 0   ? AUTH_CRED_READER
			                                       : -2;
			if (sign_as == -2) {
				fprintf(
				    stderr,
				    "sluice-wire-probe: --sign-as worker, operator or "
				    "reader, not '%s'\n",
				    r);
				return 2;
			}
		} else if (strcmp(argv[i], "--max-msg") == 0 && i + 1 < argc) {
			max_msg = (size_t)strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout_ms = atoi(argv[++i]);
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "sluice-wire-probe: unknown option %s\n",
			        argv[i]);
			usage(stderr);
			return 2;
		} else if (url == NULL) {
			url = argv[i];
		} else if (mode_name == NULL) {
			mode_name = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	const mode *m = NULL;
	for (size_t i = 0; mode_name && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(modes[i].name, mode_name) == 0)
			m = &modes[i];
	if (url == NULL || m == NULL || max_msg == 0) {
		usage(stderr);
		return 2;
	}
	if (timeout_ms <= 0)
		timeout_ms = m->kind == EXPECT_NOTHING ? 3000 : 10000;
	watchdog_arm(m->kind == EXPECT_NOTHING, timeout_ms);
	signal(SIGPIPE, SIG_IGN);

	if (strcmp(m->name, "raw-garbage") == 0)
		return probe_raw(url, timeout_ms);

	auth_key key;
	bool have_key = false;
	memset(&key, 0, sizeof(key));
	if (secret_file != NULL) {
		char err[512];
		if (auth_key_load(&key, secret_file, err, sizeof(err)) != SL_OK) {
			fprintf(stderr, "sluice-wire-probe: %s\n", err);
			return 2;
		}
		have_key = true;
	}
	if (m->needs_key && !have_key) {
		fprintf(stderr,
		        "sluice-wire-probe: mode %s needs the cluster secret: "
		        "--secret-file F or SLUICE_SECRET_FILE\n",
		        m->name);
		return 2;
	}
	return probe_nng(url, m, &key, have_key, max_msg, timeout_ms);
}
