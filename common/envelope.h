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

/*
 * Credentials. The master holds the cluster's root secret (STATE_DIR/secret)
 * and derives three keys from it (HMAC-SHA256 of the root over a label):
 *
 *   AUTH_CRED_CLUSTER   master and workers ("worker secret")
 *   AUTH_CRED_OPERATOR  clients that may change state (submit, stop)
 *   AUTH_CRED_READER    clients that may only look (workers, jobs, stats)
 *
 * A frame is MACed with one of them, and the credential that verifies it,
 * not the sender name inside, decides what the sender may do: a client
 * token cannot register a worker or send worker messages, the worker
 * secret cannot submit or stop a job, a reader token cannot change state.
 * A process holding the root (the master; tests and `sluice standalone`,
 * which share the master's file) holds all three. A role file written by
 * the master ("worker.secret", "operator.token", "reader.token") holds one.
 */
typedef enum {
	AUTH_CRED_CLUSTER = 0,
	AUTH_CRED_OPERATOR,
	AUTH_CRED_READER,
	AUTH_CRED_COUNT
} auth_cred;

#define AUTH_CRED_KEY_LEN 32

typedef struct {
	uint8_t root[256]; /* the root secret, when held (root_len > 0) */
	size_t root_len;
	uint8_t cred[AUTH_CRED_COUNT][AUTH_CRED_KEY_LEN];
	unsigned have; /* bit (1 << auth_cred) for each key held */
} auth_key;

/* Sets the root secret and derives every credential. Returns SL_EINVAL if
 * empty or longer than 256 bytes. */
int auth_key_set(auth_key *k, const char *secret);
/* Reads a credential file: a role file written by auth_key_write_roles
 * ("sluice-<role>:" and 64 hex digits) gives that one credential; any other
 * first line is a root secret. Refuses a file readable by group or others
 * (SL_EAUTH, message in err). */
int auth_key_load(auth_key *k, const char *path, char *err, size_t errlen);
/* Creates a file with a fresh random root secret (mode 0600) if it does not
 * exist, then loads it. */
int auth_key_create(auth_key *k, const char *path, char *err, size_t errlen);
/* Writes the three role files (mode 0600) into dir from a root secret,
 * replacing stale ones atomically. */
int auth_key_write_roles(const auth_key *k, const char *dir, char *err, size_t errlen);
/* The role a bearer token grants, for HTTP front ends (the REST API to
 * come) that take the same credentials as the RPC clients: the token is a
 * role file's line ("sluice-operator:<64 hex>") or its 64 hex digits.
 * ROLE_CLIENT for the operator token, ROLE_READER for the reader token, 0
 * for anything else (the worker secret included). Constant-time compare. */
int auth_token_role(const auth_key *k, const char *token);
/* The key of a credential, or NULL when not held. */
const uint8_t *auth_key_cred(const auth_key *k, auth_cred c);
/* Human name of a credential ("worker secret", "operator token", ...). */
const char *auth_cred_name(auth_cred c);
/* Roles (msgtypes.h) a frame verified with this credential may come from. */
int auth_cred_roles(auth_cred c);
/* The credential a sender name signs with: master/worker -> cluster;
 * client -> operator if held, else reader. -1 when none fits. */
int auth_cred_for_sender(const auth_key *k, const char *sender);

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
	int cred;           /* auth_cred that verified it; -1 when none */
	void *pb_;          /* the unpacked protobuf, owned */
} envelope;

/* Packs a frame into a new buffer (*out, freed with sl_free), MACed with
 * the credential the sender name calls for (auth_cred_for_sender); SL_EAUTH
 * when k does not hold it. */
int envelope_pack(const auth_key *k, uint32_t type, uint64_t request_id,
                  const char *sender, const void *payload, size_t payload_len,
                  uint8_t **out, size_t *out_len);
/* The same with an explicit credential (a server answers with the one that
 * verified the request). */
int envelope_pack_cred(const auth_key *k, auth_cred cred, uint32_t type,
                       uint64_t request_id, const char *sender, const void *payload,
                       size_t payload_len, uint8_t **out, size_t *out_len);

/* Unpacks and verifies a request frame of len bytes: the MAC with the
 * credential the sender name calls for, then that the type is known and
 * that the sender's role, as both its name and its credential say, may send
 * it. On failure returns a negative sl_err (SL_ETOOBIG, SL_EPROTO,
 * SL_EVERSION, SL_EAUTH, SL_EUNKNOWN_TYPE) and writes a message into err;
 * *env is then empty and need not be released, except env->cred, which
 * names the credential the frame was MACed with when one of ours verifies
 * it (-1 otherwise), so that the refusal can be signed for the sender. */
int envelope_unpack(const auth_key *k, const void *frame, size_t len, size_t max_len,
                    envelope *env, char *err, size_t errlen);
/* Unpacks and verifies a reply to a request we MACed with cred: the MAC
 * with that credential, version, timestamp and known type; the caller
 * checks that it answers its request (id and type). */
int envelope_unpack_reply(const auth_key *k, auth_cred cred, const void *frame,
                          size_t len, size_t max_len, envelope *env, char *err,
                          size_t errlen);

void envelope_release(envelope *env);

/* The credential to answer a frame that could not be verified with: the
 * one its (unverified) sender name calls for, found by a bounded scan of
 * the frame that allocates nothing, whatever its size. -1 when none. */
int envelope_reply_cred(const auth_key *k, const void *frame, size_t len);

#endif
