/*
 * Envelope codec: the frame every Sluice message travels in.
 *
 * A frame is a protobuf Envelope (proto/envelope.proto). Packing fills in the
 * protocol version, the sender, the time and an HMAC-SHA256 (mbedTLS) over
 * every other field, keyed with the cluster secret. Unpacking checks, in this
 * order, before the payload is looked at: the frame size against the cap, the
 * protobuf structure, the protocol version, the MAC, the timestamp window,
 * the message type and whether the sender's role may send it. Each failure
 * is a distinct error with a message that names the problem (both versions,
 * the type number, ...), which the RPC layer logs and sends back.
 *
 * Thread-safe: no shared state beyond the read-only auth key.
 */
#ifndef SLUICE_ENVELOPE_H
#define SLUICE_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

/* How far a frame's timestamp may be from our clock before it is refused as
 * a replay or a badly skewed clock. */
#define ENVELOPE_MAX_SKEW_MS (5 * 60 * 1000)
/* Length of the HMAC-SHA256 carried by every frame. */
#define ENVELOPE_MAC_LEN 32

/* The cluster secret, shared by every process of a cluster. */
typedef struct {
	uint8_t key[256];
	size_t len;
} auth_key;

/* Sets the key from a secret string. Returns SL_EINVAL if empty or longer
 * than 256 bytes. */
int auth_key_set(auth_key *k, const char *secret);
/* Reads the secret from a file (first line, trailing newline stripped).
 * Refuses a file readable by group or others (SL_EAUTH, message in err). */
int auth_key_load(auth_key *k, const char *path, char *err, size_t errlen);
/* Creates a file with a fresh random secret (mode 0600) if it does not
 * exist, then loads it. */
int auth_key_create(auth_key *k, const char *path, char *err, size_t errlen);

/* A decoded, verified envelope. payload points into storage owned by the
 * envelope; release it with envelope_release. */
typedef struct {
	uint32_t version;
	uint32_t type;
	uint64_t request_id;
	const char *sender;
	int64_t timestamp_ms;
	const uint8_t *payload;
	size_t payload_len;
	const uint8_t *mac; /* ENVELOPE_MAC_LEN bytes, verified */
	void *pb_;          /* the unpacked protobuf, owned */
} envelope;

/* Packs a frame into a new buffer (*out, freed with sl_free). */
int envelope_pack(const auth_key *k, uint32_t type, uint64_t request_id,
                  const char *sender, const void *payload, size_t payload_len,
                  uint8_t **out, size_t *out_len);

/* Unpacks and verifies a frame of len bytes. On failure returns a negative
 * sl_err (SL_ETOOBIG, SL_EPROTO, SL_EVERSION, SL_EAUTH, SL_EUNKNOWN_TYPE) and
 * writes a message into err; *env is then empty and need not be released. */
int envelope_unpack(const auth_key *k, const void *frame, size_t len, size_t max_len,
                    envelope *env, char *err, size_t errlen);

void envelope_release(envelope *env);

#endif
