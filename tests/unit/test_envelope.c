/*
 * Unit tests for the envelope codec and the cluster secret
 * (common/envelope.c).
 *
 * They pin down the order of the checks made before a payload is looked at
 * (size, structure, version, MAC, timestamp window, type, sender role), the
 * error code and the wording of each refusal, that no tampering with any
 * field or byte of a frame gets through, that random and truncated input is
 * refused without a crash, and the file modes of the secret file.
 *
 * Frames with chosen field values and a valid MAC are built here from the
 * canonical MAC encoding documented in envelope.c (HMAC-SHA256 from mbedTLS);
 * test_mac_format checks that this helper agrees with envelope_pack, so the
 * other tests really do exercise the checks that follow the MAC.
 *
 * Every test also checks that it leaves no allocation behind (alloc_live()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "alloc.h"
#include "clock.h"
#include "envelope.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "envelope.pb-c.h"

#define ERRLEN 512
#define CAP    (1 << 20)

typedef struct {
	int64_t live; /* alloc_live() when the test started */
	char dir[64]; /* scratch directory for secret files */
	auth_key key;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-test-envelope-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	if (auth_key_set(&f->key, "unit-test-cluster-secret") != SL_OK) {
		free(f);
		return -1;
	}
	f->live = alloc_live();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	int64_t live = alloc_live();
	char path[128];
	const char *names[] = {"secret", "secret644", "secret600", "empty", "created"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
		unlink(path);
	}
	rmdir(f->dir);
	int leaked = live != f->live;
	if (leaked)
		fprintf(stderr, "leak: %lld allocations left\n",
		        (long long)(live - f->live));
	free(f);
	return leaked ? -1 : 0;
}

/* ---- helpers ----------------------------------------------------------- */

/* The fields of a frame to craft. */
typedef struct {
	uint32_t version;
	uint32_t type;
	uint64_t rid;
	const char *sender;
	int64_t ts;
	const uint8_t *payload;
	size_t plen;
	const auth_key *mac_key; /* NULL: a MAC of 32 zero bytes */
} spec;

static void put_le(mbedtls_md_context_t *md, uint64_t v, int bytes)
{
	uint8_t b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	mbedtls_md_hmac_update(md, b, (size_t)bytes);
}

/* The canonical MAC of envelope.c: "SLUICE-MAC1" | version u32 | type u32 |
 * request_id u64 | timestamp i64 | sender length u32 | sender | payload. */
static void canonical_mac(const auth_key *k, const spec *s, uint8_t out[32])
{
	mbedtls_md_context_t md;
	mbedtls_md_init(&md);
	assert_int_equal(
	    mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1), 0);
	/* the key of the credential the sender name calls for (envelope.h) */
	int cred = auth_cred_for_sender(k, s->sender);
	const uint8_t *key = auth_key_cred(k, cred < 0 ? AUTH_CRED_CLUSTER : cred);
	assert_non_null(key);
	mbedtls_md_hmac_starts(&md, key, AUTH_CRED_KEY_LEN);
	mbedtls_md_hmac_update(&md, (const uint8_t *)"SLUICE-MAC1", 11);
	put_le(&md, s->version, 4);
	put_le(&md, s->type, 4);
	put_le(&md, s->rid, 8);
	put_le(&md, (uint64_t)s->ts, 8);
	put_le(&md, strlen(s->sender), 4);
	mbedtls_md_hmac_update(&md, (const uint8_t *)s->sender, strlen(s->sender));
	if (s->plen > 0)
		mbedtls_md_hmac_update(&md, s->payload, s->plen);
	assert_int_equal(mbedtls_md_hmac_finish(&md, out), 0);
	mbedtls_md_free(&md);
}

/* Builds a frame (malloc'd) from s. */
static uint8_t *craft(const spec *s, size_t *len)
{
	Sluice__Envelope e = SLUICE__ENVELOPE__INIT;
	uint8_t mac[32] = {0};
	if (s->mac_key != NULL)
		canonical_mac(s->mac_key, s, mac);
	e.version = s->version;
	e.type = s->type;
	e.request_id = s->rid;
	e.sender = (char *)s->sender;
	e.timestamp_ms = s->ts;
	e.payload.data = (uint8_t *)s->payload;
	e.payload.len = s->plen;
	e.mac.data = mac;
	e.mac.len = sizeof(mac);
	*len = sluice__envelope__get_packed_size(&e);
	uint8_t *buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	sluice__envelope__pack(&e, buf);
	return buf;
}

/* A well-formed spec signed with k, at the current time. */
static spec good_spec(const auth_key *k, uint32_t type, const char *sender)
{
	static const uint8_t payload[] = "some payload bytes";
	spec s = {
	    .version = SLUICE_PROTOCOL_VERSION,
	    .type = type,
	    .rid = 77,
	    .sender = sender,
	    .ts = clock_wall_ms(),
	    .payload = payload,
	    .plen = sizeof(payload) - 1,
	    .mac_key = k,
	};
	return s;
}

/* Unpacks, expecting refusal with code want and a message containing each of
 * the NULL-terminated substrings. */
static void expect_refused(const auth_key *k, const void *frame, size_t len, size_t cap,
                           int want, ...)
{
	envelope env;
	char err[ERRLEN] = "";
	int rv = envelope_unpack(k, frame, len, cap, &env, err, sizeof(err));
	if (rv != want)
		fail_msg("expected %s, got %s (%s)", sl_errname(want), sl_errname(rv),
		         err);
	assert_null(env.pb_);
	va_list ap;
	va_start(ap, want);
	for (const char *sub; (sub = va_arg(ap, const char *)) != NULL;)
		if (strstr(err, sub) == NULL)
			fail_msg("error message '%s' does not contain '%s'", err, sub);
	va_end(ap);
}

static void expect_ok(const auth_key *k, const void *frame, size_t len)
{
	envelope env;
	char err[ERRLEN] = "";
	int rv = envelope_unpack(k, frame, len, CAP, &env, err, sizeof(err));
	if (rv != SL_OK)
		fail_msg("refused: %s (%s)", sl_errname(rv), err);
	envelope_release(&env);
}

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* ---- round trip -------------------------------------------------------- */

static void test_round_trip(void **state)
{
	fixture *f = *state;
	uint8_t *frame;
	size_t len;
	envelope env;
	char err[ERRLEN] = "";
	const char payload[] = "hello, sluice";
	int64_t before = clock_wall_ms();
	assert_int_equal(envelope_pack(&f->key, MSG_HEARTBEAT, 0x1234567890abcdefULL,
	                               "worker-7", payload, sizeof(payload), &frame,
	                               &len),
	                 SL_OK);
	assert_int_equal(
	    envelope_unpack(&f->key, frame, len, CAP, &env, err, sizeof(err)), SL_OK);
	assert_int_equal(env.version, SLUICE_PROTOCOL_VERSION);
	assert_int_equal(env.type, MSG_HEARTBEAT);
	assert_true(env.request_id == 0x1234567890abcdefULL);
	assert_string_equal(env.sender, "worker-7");
	assert_true(env.timestamp_ms >= before && env.timestamp_ms <= clock_wall_ms());
	assert_int_equal(env.payload_len, sizeof(payload));
	assert_memory_equal(env.payload, payload, sizeof(payload));
	assert_non_null(env.pb_);
	envelope_release(&env);
	assert_null(env.pb_);
	envelope_release(&env); /* idempotent on a released envelope */
	/* the frame is exactly as large as the cap: still accepted */
	assert_int_equal(
	    envelope_unpack(&f->key, frame, len, len, &env, err, sizeof(err)), SL_OK);
	envelope_release(&env);
	sl_free(frame);

	/* an empty payload */
	assert_int_equal(
	    envelope_pack(&f->key, MSG_PING, 1, "client", NULL, 0, &frame, &len), SL_OK);
	assert_int_equal(
	    envelope_unpack(&f->key, frame, len, CAP, &env, err, sizeof(err)), SL_OK);
	assert_int_equal(env.type, MSG_PING);
	assert_int_equal(env.payload_len, 0);
	envelope_release(&env);
	sl_free(frame);
}

/* The helper used by the other tests computes the MAC envelope_pack does. */
static void test_mac_format(void **state)
{
	fixture *f = *state;
	uint8_t *frame, mac[32];
	size_t len;
	assert_int_equal(
	    envelope_pack(&f->key, MSG_ADD_BLOCK, 99, "worker-2", "abc", 3, &frame, &len),
	    SL_OK);
	Sluice__Envelope *e = sluice__envelope__unpack(NULL, len, frame);
	assert_non_null(e);
	spec s = {e->version,      e->type,         e->request_id,  e->sender,
	          e->timestamp_ms, e->payload.data, e->payload.len, &f->key};
	canonical_mac(&f->key, &s, mac);
	assert_int_equal(e->mac.len, 32);
	assert_memory_equal(e->mac.data, mac, 32);
	sluice__envelope__free_unpacked(e, NULL);
	sl_free(frame);

	/* and a crafted frame is accepted */
	s = good_spec(&f->key, MSG_PING, "client");
	frame = craft(&s, &len);
	expect_ok(&f->key, frame, len);
	free(frame);
}

/* ---- authentication ---------------------------------------------------- */

static void test_wrong_secret(void **state)
{
	fixture *f = *state;
	auth_key other;
	uint8_t *frame;
	size_t len;
	assert_int_equal(auth_key_set(&other, "unit-test-cluster-secreT"), SL_OK);
	assert_int_equal(
	    envelope_pack(&other, MSG_PING, 5, "client", "x", 1, &frame, &len), SL_OK);
	expect_refused(&f->key, frame, len, CAP, SL_EAUTH, "MAC", "'client'", NULL);
	sl_free(frame);

	/* a key that is a prefix of the real one is a different key */
	assert_int_equal(auth_key_set(&other, "unit-test-cluster-secre"), SL_OK);
	assert_int_equal(
	    envelope_pack(&other, MSG_PING, 5, "client", "x", 1, &frame, &len), SL_OK);
	expect_refused(&f->key, frame, len, CAP, SL_EAUTH, "MAC", NULL);
	sl_free(frame);
}

/* Unpacks a packed frame, applies a change, repacks it (MAC unchanged). */
typedef void (*tamper_fn)(Sluice__Envelope *e);

static void tamper_payload(Sluice__Envelope *e)
{
	e->payload.data[0] ^= 0x20;
}
static void tamper_payload_len(Sluice__Envelope *e)
{
	e->payload.len--;
}
static void tamper_type(Sluice__Envelope *e)
{
	e->type = MSG_PONG;
}
static void tamper_rid(Sluice__Envelope *e)
{
	e->request_id++;
}
static void tamper_sender(Sluice__Envelope *e)
{
	e->sender = "master";
}
static void tamper_ts(Sluice__Envelope *e)
{
	e->timestamp_ms -= 1;
}
static void tamper_mac(Sluice__Envelope *e)
{
	e->mac.data[31] ^= 1;
}
static void tamper_mac_short(Sluice__Envelope *e)
{
	e->mac.len = 31;
}
static void tamper_mac_none(Sluice__Envelope *e)
{
	e->mac.len = 0;
}

static void test_tampered_fields(void **state)
{
	fixture *f = *state;
	const tamper_fn fns[] = {tamper_payload, tamper_payload_len, tamper_type,
	                         tamper_rid,     tamper_sender,      tamper_ts,
	                         tamper_mac,     tamper_mac_short,   tamper_mac_none};
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		uint8_t *frame;
		size_t len;
		assert_int_equal(envelope_pack(&f->key, MSG_PING, 1000, "client",
		                               "payload", 7, &frame, &len),
		                 SL_OK);
		Sluice__Envelope *e = sluice__envelope__unpack(NULL, len, frame);
		assert_non_null(e);
		sl_free(frame);
		char *sender = e->sender;
		size_t mac_len = e->mac.len;
		fns[i](e);
		size_t tlen = sluice__envelope__get_packed_size(e);
		uint8_t *t = malloc(tlen);
		assert_non_null(t);
		sluice__envelope__pack(e, t);
		e->sender = sender; /* so free_unpacked frees what it allocated */
		e->mac.len = mac_len;
		sluice__envelope__free_unpacked(e, NULL);
		expect_refused(&f->key, t, tlen, CAP, SL_EAUTH, "MAC", NULL);
		free(t);
	}
}

/* Flipping any single bit anywhere in a frame never yields an accepted frame. */
static void test_tampered_bytes(void **state)
{
	fixture *f = *state;
	uint8_t *frame;
	size_t len;
	assert_int_equal(envelope_pack(&f->key, MSG_HEARTBEAT, 31337, "worker-1",
	                               "heartbeat payload", 17, &frame, &len),
	                 SL_OK);
	uint8_t *t = malloc(len);
	assert_non_null(t);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			envelope env;
			char err[ERRLEN];
			memcpy(t, frame, len);
			t[i] ^= (uint8_t)(1u << bit);
			int rv =
			    envelope_unpack(&f->key, t, len, CAP, &env, err, sizeof(err));
			if (rv == SL_OK)
				fail_msg("flipping bit %d of byte %zu was accepted", bit,
				         i);
			assert_null(env.pb_);
		}
	}
	free(t);
	sl_free(frame);
}

/* ---- version ----------------------------------------------------------- */

static void test_version_mismatch(void **state)
{
	fixture *f = *state;
	uint8_t *frame;
	size_t len;

	/* repacked with version 99: the MAC no longer matches, but the version
	 * is checked first and is what the peer is told about */
	assert_int_equal(
	    envelope_pack(&f->key, MSG_PING, 3, "client", "p", 1, &frame, &len), SL_OK);
	Sluice__Envelope *e = sluice__envelope__unpack(NULL, len, frame);
	assert_non_null(e);
	sl_free(frame);
	e->version = 99;
	size_t tlen = sluice__envelope__get_packed_size(e);
	uint8_t *t = malloc(tlen);
	assert_non_null(t);
	sluice__envelope__pack(e, t);
	sluice__envelope__free_unpacked(e, NULL);
	expect_refused(&f->key, t, tlen, CAP, SL_EVERSION, "version 99", "version 1",
	               NULL);
	free(t);

	/* version 99 with a valid MAC: same refusal */
	spec s = good_spec(&f->key, MSG_PING, "client");
	s.version = 99;
	t = craft(&s, &tlen);
	expect_refused(&f->key, t, tlen, CAP, SL_EVERSION, "version 99", "version 1",
	               NULL);
	free(t);

	/* version 99 signed with another key: still the version is reported */
	auth_key other;
	assert_int_equal(auth_key_set(&other, "another secret"), SL_OK);
	s.mac_key = &other;
	t = craft(&s, &tlen);
	expect_refused(&f->key, t, tlen, CAP, SL_EVERSION, "version 99", "version 1",
	               NULL);
	free(t);

	/* version 0 (the field absent) is a mismatch too */
	s = good_spec(&f->key, MSG_PING, "client");
	s.version = 0;
	t = craft(&s, &tlen);
	expect_refused(&f->key, t, tlen, CAP, SL_EVERSION, "version 0", "version 1",
	               NULL);
	free(t);
}

/* ---- size and structure ------------------------------------------------ */

static void test_oversized(void **state)
{
	fixture *f = *state;
	size_t plen = 100000, len;
	uint8_t *payload = calloc(1, plen), *frame;
	assert_non_null(payload);
	assert_int_equal(envelope_pack(&f->key, MSG_PUT_BLOCK, 1, "worker-1", payload,
	                               plen, &frame, &len),
	                 SL_OK);
	free(payload);
	char want[128];
	snprintf(want, sizeof(want),
	         "message of %zu bytes exceeds the limit of %zu bytes", len, len - 1);
	expect_refused(&f->key, frame, len, len - 1, SL_ETOOBIG, want, NULL);
	expect_refused(&f->key, frame, len, 64 * 1024, SL_ETOOBIG, "exceeds", NULL);
	/* the cap is checked before anything else: garbage over the cap is
	 * refused as too big, not as malformed */
	expect_refused(&f->key, "\xff\xff\xff\xff\xff\xff\xff\xff", 8, 4, SL_ETOOBIG,
	               "message of 8 bytes exceeds the limit of 4 bytes", NULL);
	expect_ok(&f->key, frame, len);
	sl_free(frame);
}

static void test_truncated(void **state)
{
	fixture *f = *state;
	uint8_t *frame;
	size_t len;
	assert_int_equal(envelope_pack(&f->key, MSG_REGISTER_WORKER, 12, "worker-3",
	                               "registration payload", 20, &frame, &len),
	                 SL_OK);
	int seen_proto = 0;
	for (size_t cut = 0; cut < len; cut++) {
		envelope env;
		char err[ERRLEN] = "";
		/* a fresh copy of exactly cut bytes, so valgrind/ASan catch any
		 * read past the end */
		uint8_t *t = malloc(cut ? cut : 1);
		assert_non_null(t);
		memcpy(t, frame, cut);
		int rv = envelope_unpack(&f->key, t, cut, CAP, &env, err, sizeof(err));
		free(t);
		if (rv != SL_EPROTO && rv != SL_EAUTH && rv != SL_EVERSION)
			fail_msg("frame cut at %zu/%zu: got %s (%s)", cut, len,
			         sl_errname(rv), err);
		assert_true(strlen(err) > 0);
		assert_null(env.pb_);
		seen_proto += rv == SL_EPROTO;
	}
	assert_true(seen_proto > 0);
	/* cut in half, as the wire probe sends it */
	expect_refused(&f->key, frame, len / 2, CAP, SL_EPROTO, "malformed frame", NULL);
	sl_free(frame);
}

static void test_random_bytes(void **state)
{
	fixture *f = *state;
	rng_state = 0x5eed5eed5eed5eedULL;
	for (int iter = 0; iter < 1000; iter++) {
		size_t len = (size_t)(rng() % 513);
		uint8_t *buf = malloc(len ? len : 1);
		assert_non_null(buf);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rng();
		envelope env;
		char err[ERRLEN] = "";
		int rv = envelope_unpack(&f->key, buf, len, CAP, &env, err, sizeof(err));
		free(buf);
		if (rv == SL_OK)
			fail_msg("random frame %d of %zu bytes accepted", iter, len);
		assert_true(rv < 0);
		assert_true(strlen(err) > 0);
		assert_null(env.pb_);
	}
}

/* ---- type and role ----------------------------------------------------- */

static void test_unknown_type(void **state)
{
	fixture *f = *state;
	uint8_t *frame;
	size_t len;
	/* envelope_pack signs whatever type it is given */
	assert_int_equal(envelope_pack(&f->key, 999, 8, "client", "?", 1, &frame, &len),
	                 SL_OK);
	expect_refused(&f->key, frame, len, CAP, SL_EUNKNOWN_TYPE,
	               "unknown message type 999", "'client'", NULL);
	sl_free(frame);
	assert_int_equal(envelope_pack(&f->key, 0, 8, "master", NULL, 0, &frame, &len),
	                 SL_OK);
	expect_refused(&f->key, frame, len, CAP, SL_EUNKNOWN_TYPE,
	               "unknown message type 0", NULL);
	sl_free(frame);
	assert_int_equal(
	    envelope_pack(&f->key, UINT32_MAX, 8, "master", NULL, 0, &frame, &len),
	    SL_OK);
	expect_refused(&f->key, frame, len, CAP, SL_EUNKNOWN_TYPE,
	               "unknown message type 4294967295", NULL);
	sl_free(frame);
}

static void test_roles(void **state)
{
	fixture *f = *state;
	uint8_t *frame;
	size_t len;
	assert_int_equal(
	    envelope_pack(&f->key, MSG_REGISTER_WORKER, 1, "client", "", 0, &frame, &len),
	    SL_OK);
	expect_refused(
	    &f->key, frame, len, CAP, SL_EAUTH,
	    "sender 'client' signed with the operator token (role operator) may not "
	    "send MSG_REGISTER_WORKER",
	    NULL);
	sl_free(frame);

	/* a worker may */
	assert_int_equal(envelope_pack(&f->key, MSG_REGISTER_WORKER, 1, "worker-4", "", 0,
	                               &frame, &len),
	                 SL_OK);
	expect_ok(&f->key, frame, len);
	sl_free(frame);

	/* a worker may not launch tasks; a client may not answer for the master */
	assert_int_equal(
	    envelope_pack(&f->key, MSG_LAUNCH_TASK, 1, "worker-4", "", 0, &frame, &len),
	    SL_OK);
	expect_refused(&f->key, frame, len, CAP, SL_EAUTH, "may not send MSG_LAUNCH_TASK",
	               NULL);
	sl_free(frame);
	assert_int_equal(envelope_pack(&f->key, MSG_LIST_WORKERS_REPLY, 1, "client-cli",
	                               "", 0, &frame, &len),
	                 SL_OK);
	expect_refused(&f->key, frame, len, CAP, SL_EAUTH, "may not send", NULL);
	sl_free(frame);

	/* a sender with no role may send nothing, not even a ping */
	const char *nobody[] = {"", "nobody", "masterful", "Master"};
	for (size_t i = 0; i < sizeof(nobody) / sizeof(nobody[0]); i++) {
		/* envelope_pack itself refuses a name with no role */
		assert_int_equal(
		    envelope_pack(&f->key, MSG_PING, 1, nobody[i], "", 0, &frame, &len),
		    SL_EAUTH);
		assert_int_equal(envelope_pack_cred(&f->key, AUTH_CRED_CLUSTER, MSG_PING,
		                                    1, nobody[i], "", 0, &frame, &len),
		                 SL_OK);
		expect_refused(&f->key, frame, len, CAP, SL_EAUTH,
		               "may not send MSG_PING", NULL);
		sl_free(frame);
	}
}

/* The sender comes from the peer, before any authentication, and is logged:
 * it must not be able to forge log lines or flood a message. */
static void test_sender_shown_safely(void **state)
{
	fixture *f = *state;
	auth_key other;
	uint8_t *frame;
	size_t len;
	envelope env;
	char err[ERRLEN] = "", sender[1100];
	assert_int_equal(auth_key_set(&other, "not the cluster secret"), SL_OK);

	const char *forged =
	    "evil\n2026-01-01T00:00:00.000Z WARN  [master] forged\r\x1b[2J";
	assert_int_equal(envelope_pack_cred(&other, AUTH_CRED_CLUSTER, MSG_PING, 1,
	                                    forged, NULL, 0, &frame, &len),
	                 SL_OK);
	assert_int_equal(
	    envelope_unpack(&f->key, frame, len, CAP, &env, err, sizeof(err)), SL_EAUTH);
	sl_free(frame);
	assert_null(strpbrk(err, "\r\n\x1b"));
	assert_non_null(strstr(err, "'evil\\x0a2026-01-01T00:00:00.000Z WARN  [master] "
	                            "forged\\x0d"));

	/* a long sender is cut, with a mark */
	snprintf(sender, sizeof(sender), "client-");
	memset(sender + 7, 'x', 1000);
	sender[1007] = '\0';
	assert_int_equal(envelope_pack(&f->key, 999, 1, sender, NULL, 0, &frame, &len),
	                 SL_OK);
	assert_int_equal(
	    envelope_unpack(&f->key, frame, len, CAP, &env, err, sizeof(err)),
	    SL_EUNKNOWN_TYPE);
	sl_free(frame);
	assert_non_null(strstr(err, "from 'client-xxx"));
	assert_non_null(strstr(err, "x...'"));
	assert_true(strlen(err) < 150);

	/* non-ASCII bytes too, in the role check */
	assert_int_equal(envelope_pack(&f->key, MSG_LAUNCH_TASK, 1, "worker-\xff\xfe",
	                               NULL, 0, &frame, &len),
	                 SL_OK);
	expect_refused(&f->key, frame, len, CAP, SL_EAUTH,
	               "sender 'worker-\\xff\\xfe' signed with the worker secret (role "
	               "master/worker) "
	               "may not send MSG_LAUNCH_TASK",
	               NULL);
	sl_free(frame);

	/* an ordinary sender is shown as it is */
	assert_int_equal(
	    envelope_pack(&other, MSG_PING, 1, "worker-12", NULL, 0, &frame, &len),
	    SL_OK);
	expect_refused(&f->key, frame, len, CAP, SL_EAUTH, "from 'worker-12': bad", NULL);
	sl_free(frame);
}

/* ---- timestamp window -------------------------------------------------- */

static void test_timestamp_window(void **state)
{
	fixture *f = *state;
	uint8_t *frame;
	size_t len;
	const int64_t slack = 60 * 1000;
	spec s = good_spec(&f->key, MSG_PING, "client");
	int64_t now = s.ts;

	s.ts = now - ENVELOPE_MAX_SKEW_MS - slack; /* a replay from long ago */
	frame = craft(&s, &len);
	expect_refused(&f->key, frame, len, CAP, SL_EAUTH, "off our clock", "'client'",
	               NULL);
	free(frame);

	s.ts = now + ENVELOPE_MAX_SKEW_MS + slack; /* from the future */
	frame = craft(&s, &len);
	expect_refused(&f->key, frame, len, CAP, SL_EAUTH, "off our clock", NULL);
	free(frame);

	/* inside the window on either side */
	s.ts = now - ENVELOPE_MAX_SKEW_MS + slack;
	frame = craft(&s, &len);
	expect_ok(&f->key, frame, len);
	free(frame);
	s.ts = now + ENVELOPE_MAX_SKEW_MS - slack;
	frame = craft(&s, &len);
	expect_ok(&f->key, frame, len);
	free(frame);

	/* the extremes are refused without arithmetic overflow (UBSan) */
	const int64_t extremes[] = {INT64_MIN, INT64_MIN + 1, INT64_MAX, -1, 0};
	for (size_t i = 0; i < sizeof(extremes) / sizeof(extremes[0]); i++) {
		s.ts = extremes[i];
		frame = craft(&s, &len);
		expect_refused(&f->key, frame, len, CAP, SL_EAUTH, "off our clock", NULL);
		free(frame);
	}
}

/* ---- the secret file --------------------------------------------------- */

static void test_auth_key_set(void **state)
{
	auth_key k;
	char big[300];
	assert_int_equal(auth_key_set(&k, ""), SL_EINVAL);
	memset(big, 'a', 256);
	big[256] = '\0';
	assert_int_equal(auth_key_set(&k, big), SL_OK);
	assert_int_equal(k.root_len, 256);
	big[256] = 'a';
	big[257] = '\0';
	assert_int_equal(auth_key_set(&k, big), SL_EINVAL);
	assert_int_equal(auth_key_set(&k, "s3cret"), SL_OK);
	assert_int_equal(k.root_len, 6);
	assert_memory_equal(k.root, "s3cret", 6);
}

static void test_auth_key_load_modes(void **state)
{
	fixture *f = *state;
	auth_key k;
	char path[128], err[ERRLEN] = "";

	snprintf(path, sizeof(path), "%s/secret644", f->dir);
	write_text(path, "world-readable-secret\n", 0644);
	assert_int_equal(auth_key_load(&k, path, err, sizeof(err)), SL_EAUTH);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "0600"));
	/* group-readable only is refused too */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(auth_key_load(&k, path, err, sizeof(err)), SL_EAUTH);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(auth_key_load(&k, path, err, sizeof(err)), SL_EAUTH);

	snprintf(path, sizeof(path), "%s/secret600", f->dir);
	write_text(path, "owner-only-secret\r\nsecond line ignored\n", 0600);
	err[0] = '\0';
	assert_int_equal(auth_key_load(&k, path, err, sizeof(err)), SL_OK);
	assert_int_equal(k.root_len, strlen("owner-only-secret"));
	assert_memory_equal(k.root, "owner-only-secret", k.root_len);
	/* 0400 is fine too */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(auth_key_load(&k, path, err, sizeof(err)), SL_OK);

	snprintf(path, sizeof(path), "%s/empty", f->dir);
	write_text(path, "\n", 0600);
	assert_int_equal(auth_key_load(&k, path, err, sizeof(err)), SL_EAUTH);
	assert_non_null(strstr(err, "empty"));

	snprintf(path, sizeof(path), "%s/missing", f->dir);
	assert_int_equal(auth_key_load(&k, path, err, sizeof(err)), SL_EAUTH);
	assert_non_null(strstr(err, "cannot open"));
	assert_non_null(strstr(err, path));
}

static void test_auth_key_create(void **state)
{
	fixture *f = *state;
	auth_key k, k2;
	char path[128], err[ERRLEN] = "", buf[128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/created", f->dir);
	mode_t old = umask(0); /* the file mode must not depend on the umask */
	int rv = auth_key_create(&k, path, err, sizeof(err));
	umask(old);
	if (rv != SL_OK)
		fail_msg("auth_key_create: %s", err);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	size_t n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	assert_int_equal(n, 65);
	assert_int_equal(buf[64], '\n');
	for (int i = 0; i < 64; i++)
		assert_true(isxdigit((unsigned char)buf[i]) &&
		            !isupper((unsigned char)buf[i]));
	assert_int_equal(k.root_len, 64);
	assert_memory_equal(k.root, buf, 64);

	/* a second call loads the existing secret rather than replacing it */
	assert_int_equal(auth_key_create(&k2, path, err, sizeof(err)), SL_OK);
	assert_int_equal(k2.root_len, 64);
	assert_memory_equal(k2.root, k.root, 64);

	/* an existing file with a bad mode is refused, not rewritten */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(auth_key_create(&k2, path, err, sizeof(err)), SL_EAUTH);
	assert_non_null(strstr(err, "0600"));

	/* two fresh secrets differ */
	unlink(path);
	assert_int_equal(auth_key_create(&k2, path, err, sizeof(err)), SL_OK);
	assert_int_equal(k2.root_len, 64);
	assert_memory_not_equal(k2.root, k.root, 64);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_round_trip),       T(test_mac_format),     T(test_wrong_secret),
	    T(test_tampered_fields),  T(test_tampered_bytes), T(test_version_mismatch),
	    T(test_oversized),        T(test_truncated),      T(test_random_bytes),
	    T(test_unknown_type),     T(test_roles),          T(test_sender_shown_safely),
	    T(test_timestamp_window), T(test_auth_key_set),   T(test_auth_key_load_modes),
	    T(test_auth_key_create),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
