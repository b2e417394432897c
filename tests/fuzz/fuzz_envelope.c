/*
 * libFuzzer target for the wire decoders (SPEC §11).
 *
 * Each input is used three ways:
 *  1. as a whole frame: envelope_unpack with a fixed cluster key (and with a
 *     cap below its size, which must refuse it as too big);
 *  2. as the raw bytes of every schema in proto/envelope.proto and
 *     proto/cluster.proto, each unpacked, re-packed and freed; when it
 *     parses as an Envelope, its payload is also unpacked with the schema
 *     its type selects;
 *  3. as the fields of a frame signed with the fixed key (type: 4 bytes
 *     little-endian, sender and credential: chosen by the next byte,
 *     payload: the rest), packed with envelope_pack_cred and unpacked
 *     again, so the checks after the MAC (timestamp, type, the role of the
 *     sender name and of the credential) and the payload decoders are
 *     reached with a valid MAC, which pure mutation never finds; accepted
 *     frames then go through a replay cache, which must refuse them the
 *     second time;
 *  4. as a string to escape for a log line (log_escape), as a frame whose
 *     reply credential is looked up without decoding it, and as a URL for
 *     the transport policy (rpc_check_url: a worker's REGISTER_WORKER
 *     carries the URL the master then dials, so it comes from the wire);
 *     the rpc_url of a decoded RegisterWorker is checked the same way.
 *
 * Everything allocated is freed; the allocation counter (alloc_live) must
 * be back where it started after each input, and LeakSanitizer checks the
 * rest.
 */
#include "alloc.h"
#include "clock.h"
#include "envelope.h"
#include "log.h"
#include "msgtypes.h"
#include "replay.h"
#include "rpc.h"
#include "sluice/err.h"
#include "cluster.pb-c.h"
#include "envelope.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const schemas[] = {
    &sluice__envelope__descriptor,
    &sluice__error_reply__descriptor,
    &sluice__register_worker__descriptor,
    &sluice__register_worker_reply__descriptor,
    &sluice__heartbeat__descriptor,
    &sluice__heartbeat_reply__descriptor,
    &sluice__list_workers__descriptor,
    &sluice__worker_info__descriptor,
    &sluice__list_workers_reply__descriptor,
    &sluice__ping__descriptor,
    &sluice__pong__descriptor,
};

/* The payload schema of a message type, or NULL if it has none here. */
static const ProtobufCMessageDescriptor *schema_of(uint32_t type)
{
	switch (type) {
	case MSG_ERROR:
		return &sluice__error_reply__descriptor;
	case MSG_PING:
		return &sluice__ping__descriptor;
	case MSG_PONG:
		return &sluice__pong__descriptor;
	case MSG_REGISTER_WORKER:
		return &sluice__register_worker__descriptor;
	case MSG_REGISTER_WORKER_REPLY:
		return &sluice__register_worker_reply__descriptor;
	case MSG_HEARTBEAT:
		return &sluice__heartbeat__descriptor;
	case MSG_HEARTBEAT_REPLY:
		return &sluice__heartbeat_reply__descriptor;
	case MSG_LIST_WORKERS:
		return &sluice__list_workers__descriptor;
	case MSG_LIST_WORKERS_REPLY:
		return &sluice__list_workers_reply__descriptor;
	default:
		return NULL;
	}
}

static const char *const senders[] = {
    "master", "worker-1", "worker", "client", "client-cli", "", "nobody", "Master",
};

static auth_key key;
static replay_cache *seen;

/* Unpacks data as one schema, then packs the result again (which walks
 * every field, unknown ones included) and unpacks that. The second unpack
 * may fail: protobuf-c 1.4 accepts a field number 0 written as a multi-byte
 * varint tag (80 00) but re-packs it as 00, which it then refuses. That is
 * harmless here (the MAC covers decoded fields, not bytes), so it is not
 * treated as a finding. */
static void decode(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, size, data);
	if (m == NULL)
		return;
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = sl_malloc(n);
	if (protobuf_c_message_pack(m, buf) != n)
		abort();
	ProtobufCMessage *again = protobuf_c_message_unpack(d, NULL, n, buf);
	if (again != NULL)
		protobuf_c_message_free_unpacked(again, NULL);
	sl_free(buf);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* Unpacks a frame; on success also decodes its payload by type. */
static int unpack(const uint8_t *frame, size_t len, size_t cap)
{
	envelope env;
	char err[512];
	err[0] = '\0';
	int rv = envelope_unpack(&key, frame, len, cap, &env, err, sizeof(err));
	if (rv == SL_OK) {
		const ProtobufCMessageDescriptor *d = schema_of(env.type);
		if (d != NULL)
			decode(d, env.payload, env.payload_len);
		envelope_release(&env);
	} else if (rv > 0 || err[0] == '\0' || env.pb_ != NULL) {
		fprintf(stderr, "refusal %d without a message or with state left\n", rv);
		abort();
	}
	return rv;
}

/* The input as a URL, under a strict and a permissive transport policy. */
static void check_url(const char *data, size_t size)
{
	char url[512], err[512];
	rpc_opts o;
	memset(&o, 0, sizeof(o));
	snprintf(url, sizeof(url), "%.*s", (int)(size < 511 ? size : 511), data);
	int strict = rpc_check_url(url, &o, err, sizeof(err));
	o.insecure = true;
	o.tls_cert = o.tls_key = o.tls_ca = "/nonexistent";
	int loose = rpc_check_url(url, &o, err, sizeof(err));
	/* what the strict policy accepts, the permissive one accepts too */
	if (strict == SL_OK && loose != SL_OK)
		abort();
}

/* Packs the input's fields as a frame signed with a chosen credential and
 * checks that exactly the expected refusal comes back. */
static void signed_frame(const uint8_t *data, size_t size)
{
	uint32_t type = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
	                (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
	const char *sender =
	    senders[(data[4] & 15) % (sizeof(senders) / sizeof(senders[0]))];
	auth_cred cred = (auth_cred)((data[4] >> 4) % AUTH_CRED_COUNT);
	uint8_t *frame;
	size_t len;
	if (envelope_pack_cred(&key, cred, type, size, sender, data + 5, size - 5, &frame,
	                       &len) != SL_OK)
		abort();
	envelope env;
	char err[512];
	int rv = envelope_unpack(&key, frame, len, CAP, &env, err, sizeof(err));
	/* a signed, fresh frame is refused only for its type or role */
	int known = msg_type_name(type) != NULL;
	int allowed = known && (msg_type_roles(type) & msg_sender_role(sender) &
	                        auth_cred_roles(cred)) != 0;
	int want = !known ? SL_EUNKNOWN_TYPE : allowed ? SL_OK : SL_EAUTH;
	if (rv != want) {
		fprintf(stderr, "type %u from '%s' with the %s: got %d, expected %d\n",
		        type, sender, auth_cred_name(cred), rv, want);
		abort();
	}
	if (rv == SL_OK) {
		const ProtobufCMessageDescriptor *d = schema_of(env.type);
		if (d != NULL)
			decode(d, env.payload, env.payload_len);
		int64_t now = clock_wall_ms();
		int first =
		    replay_check(seen, env.mac, env.timestamp_ms, now, err, sizeof(err));
		if (first == SL_OK && replay_check(seen, env.mac, env.timestamp_ms, now,
		                                   err, sizeof(err)) != SL_EAUTH)
			abort();
		envelope_release(&env);
	}
	sl_free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (key.root_len == 0 && auth_key_set(&key, "sluice-fuzz-key") != SL_OK)
		abort();
	if (seen == NULL)
		seen = replay_new(0, ENVELOPE_MAX_SKEW_MS, 4096);
	int64_t live = alloc_live();

	/* 1. the input as a frame */
	unpack(data, size, CAP);
	if (size > 0 && unpack(data, size, size - 1) != SL_ETOOBIG)
		abort();

	/* 2. the input as every schema, and an envelope's payload by type */
	for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++)
		decode(schemas[i], data, size);
	Sluice__Envelope *e = sluice__envelope__unpack(NULL, size, data);
	if (e != NULL) {
		const ProtobufCMessageDescriptor *d = schema_of(e->type);
		if (d != NULL)
			decode(d, e->payload.data, e->payload.len);
		sluice__envelope__free_unpacked(e, NULL);
	}

	/* 3. the input as the fields of a validly signed frame */
	if (size >= 5)
		signed_frame(data, size);

	/* 4. the input as text for a log line, and as a frame to answer */
	char line[256];
	size_t used = log_escape(line, sizeof(line), (const char *)data, size);
	if (used > size || strlen(line) >= sizeof(line) || strpbrk(line, "\n\r\x1b"))
		abort();
	envelope_reply_cred(&key, data, size);
	check_url((const char *)data, size);
	Sluice__RegisterWorker *rw = sluice__register_worker__unpack(NULL, size, data);
	if (rw != NULL) {
		if (rw->rpc_url != NULL)
			check_url(rw->rpc_url, strlen(rw->rpc_url));
		sluice__register_worker__free_unpacked(rw, NULL);
	}

	if (alloc_live() != live) {
		fprintf(stderr, "allocation count changed by %lld\n",
		        (long long)(alloc_live() - live));
		abort();
	}
	return 0;
}
