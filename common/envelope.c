/*
 * Envelope codec and message authentication: see envelope.h.
 *
 * The MAC covers a canonical encoding of the fields, not the protobuf bytes,
 * so that re-encoding by another protobuf implementation cannot change it:
 *   "SLUICE-MAC1" | version u32 | type u32 | request_id u64 | timestamp i64 |
 *   sender length u32 | sender | payload          (integers little-endian)
 * HMAC-SHA256 from mbedTLS, keyed with one of the three credentials
 * (auth.c); the comparison is constant-time. The credential is chosen by
 * the sender name, and what the frame may do is then decided by both the
 * name and the credential, so a holder of one credential cannot borrow the
 * rights of another by writing another name.
 */
#include "envelope.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "envelope.pb-c.h"

#include <mbedtls/md.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAC_LEN ENVELOPE_MAC_LEN

static void mac_put(mbedtls_md_context_t *md, uint64_t v, int bytes)
{
	uint8_t b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	mbedtls_md_hmac_update(md, b, (size_t)bytes);
}

static int mac_compute(const uint8_t *key, uint32_t version, uint32_t type, uint64_t rid,
                       int64_t ts, const char *sender, const uint8_t *payload,
                       size_t plen, uint8_t out[MAC_LEN])
{
	mbedtls_md_context_t md;
	int rv = SL_EAUTH;
	mbedtls_md_init(&md);
	if (mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) != 0)
		goto done;
	mbedtls_md_hmac_starts(&md, key, AUTH_CRED_KEY_LEN);
	mbedtls_md_hmac_update(&md, (const uint8_t *)"SLUICE-MAC1", 11);
	mac_put(&md, version, 4);
	mac_put(&md, type, 4);
	mac_put(&md, rid, 8);
	mac_put(&md, (uint64_t)ts, 8);
	size_t slen = strlen(sender);
	mac_put(&md, slen, 4);
	mbedtls_md_hmac_update(&md, (const uint8_t *)sender, slen);
	if (plen > 0)
		mbedtls_md_hmac_update(&md, payload, plen);
	if (mbedtls_md_hmac_finish(&md, out) == 0)
		rv = SL_OK;
done:
	mbedtls_md_free(&md);
	return rv;
}

int envelope_pack_cred(const auth_key *k, auth_cred cred, uint32_t type,
                       uint64_t request_id, const char *sender, const void *payload,
                       size_t payload_len, uint8_t **out, size_t *out_len)
{
	Sluice__Envelope e = SLUICE__ENVELOPE__INIT;
	uint8_t mac[MAC_LEN];
	const uint8_t *key = auth_key_cred(k, cred);
	if (key == NULL)
		return SL_EAUTH;
	e.version = SLUICE_PROTOCOL_VERSION;
	e.type = type;
	e.request_id = request_id;
	e.sender = (char *)sender;
	e.timestamp_ms = clock_wall_ms();
	e.payload.data = (uint8_t *)payload;
	e.payload.len = payload_len;
	if (mac_compute(key, e.version, type, request_id, e.timestamp_ms, sender, payload,
	                payload_len, mac) != SL_OK)
		return SL_EAUTH;
	e.mac.data = mac;
	e.mac.len = MAC_LEN;
	*out_len = sluice__envelope__get_packed_size(&e);
	*out = sl_malloc(*out_len);
	sluice__envelope__pack(&e, *out);
	return SL_OK;
}

int envelope_pack(const auth_key *k, uint32_t type, uint64_t request_id,
                  const char *sender, const void *payload, size_t payload_len,
                  uint8_t **out, size_t *out_len)
{
	int cred = auth_cred_for_sender(k, sender);
	if (cred < 0)
		return SL_EAUTH;
	return envelope_pack_cred(k, (auth_cred)cred, type, request_id, sender, payload,
	                          payload_len, out, out_len);
}

static int mac_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

/* The sender as it may appear in an error message, which is logged and sent
 * back: it comes from the peer before (or without) any authentication, so
 * it is escaped (log_escape: no forged line, no terminal codes) and cut to
 * about 64 characters, with a mark. */
static const char *sender_shown(const char *s, char *buf, size_t buflen)
{
	size_t n = strlen(s);
	if (log_escape(buf, buflen - 3, s, n) < n)
		strcat(buf, "...");
	return buf;
}

static bool mac_verifies(const auth_key *k, int cred, const Sluice__Envelope *e)
{
	uint8_t mac[MAC_LEN];
	const uint8_t *key = cred < 0 ? NULL : auth_key_cred(k, (auth_cred)cred);
	return key != NULL && e->mac.len == MAC_LEN &&
	       mac_compute(key, e->version, e->type, e->request_id, e->timestamp_ms,
	                   e->sender, e->payload.data, e->payload.len, mac) == SL_OK &&
	       mac_equal(mac, e->mac.data, MAC_LEN);
}

/* The credential of ours that verifies the frame: the one the sender name
 * calls for (for a client, operator then reader); failing that, any other
 * we hold, so that a frame signed with the wrong role's credential is
 * refused by name rather than as a bad MAC. -1 when none does. */
static int mac_find_cred(const auth_key *k, const Sluice__Envelope *e, int expect)
{
	if (expect >= 0)
		return mac_verifies(k, expect, e) ? expect : -1;
	int role = msg_sender_role(e->sender);
	int order[AUTH_CRED_COUNT] = {AUTH_CRED_CLUSTER, AUTH_CRED_OPERATOR,
	                              AUTH_CRED_READER};
	if (role & ROLE_LOOK) {
		order[0] = AUTH_CRED_OPERATOR;
		order[1] = AUTH_CRED_READER;
		order[2] = AUTH_CRED_CLUSTER;
	}
	for (int i = 0; i < AUTH_CRED_COUNT; i++)
		if (mac_verifies(k, order[i], e))
			return order[i];
	return -1;
}

static int check_version(const Sluice__Envelope *e, char *err, size_t errlen)
{
	if (e->version == SLUICE_PROTOCOL_VERSION)
		return SL_OK;
	snprintf(err, errlen,
	         "protocol version mismatch: peer speaks version %u, this "
	         "process speaks version %u",
	         e->version, SLUICE_PROTOCOL_VERSION);
	return SL_EVERSION;
}

static int check_time(const Sluice__Envelope *e, const char *who, char *err,
                      size_t errlen)
{
	/* The timestamp is any int64 the signer chose: subtract with an overflow
	 * check (saturating), since now - INT64_MIN is undefined behaviour. */
	int64_t skew;
	if (__builtin_sub_overflow(clock_wall_ms(), e->timestamp_ms, &skew))
		skew = e->timestamp_ms < 0 ? INT64_MAX : INT64_MIN;
	if (skew <= ENVELOPE_MAX_SKEW_MS && skew >= -ENVELOPE_MAX_SKEW_MS)
		return SL_OK;
	snprintf(err, errlen, "message from '%s' is %lld ms off our clock (limit %d ms)",
	         who, (long long)skew, ENVELOPE_MAX_SKEW_MS);
	return SL_EAUTH;
}

/* May a sender with this name and credential send this type? Both must
 * allow it: the name says what the peer claims to be, the credential what
 * it has proven. */
static int check_role(const Sluice__Envelope *e, int cred, const char *who,
                      const char *name, char *err, size_t errlen)
{
	int claimed = msg_sender_role(e->sender), proven = auth_cred_roles(cred);
	int allowed = msg_type_roles(e->type);
	if (allowed & claimed & proven)
		return SL_OK;
	const char *role_name = proven == (ROLE_MASTER | ROLE_WORKER)
	                            ? "master/worker"
	                            : msg_role_name(proven);
	snprintf(err, errlen, "sender '%s' signed with the %s (role %s) may not send %s",
	         who, auth_cred_name(cred), role_name, name);
	return SL_EAUTH;
}

/* Verifies a frame. expect_cred >= 0 for a reply (that credential, no role
 * check). Sets *cred to the credential that verified the MAC. */
static int envelope_verify(const auth_key *k, const Sluice__Envelope *e, int expect_cred,
                           int *cred, char *err, size_t errlen)
{
	char who[65];
	int rv = check_version(e, err, errlen);
	if (rv != SL_OK)
		return rv;
	sender_shown(e->sender, who, sizeof(who));
	if ((*cred = mac_find_cred(k, e, expect_cred)) < 0) {
		snprintf(err, errlen,
		         "authentication failed for message from '%s': bad or "
		         "missing MAC (wrong cluster secret or credential?)",
		         who);
		return SL_EAUTH;
	}
	if ((rv = check_time(e, who, err, errlen)) != SL_OK)
		return rv;
	const char *name = msg_type_name(e->type);
	if (name == NULL) {
		snprintf(err, errlen, "unknown message type %u from '%s'", e->type, who);
		return SL_EUNKNOWN_TYPE;
	}
	if (expect_cred >= 0)
		return SL_OK;
	return check_role(e, *cred, who, name, err, errlen);
}

static int unpack_common(const auth_key *k, int expect_cred, const void *frame,
                         size_t len, size_t max_len, envelope *env, char *err,
                         size_t errlen)
{
	memset(env, 0, sizeof(*env));
	env->cred = -1;
	if (len > max_len) {
		snprintf(err, errlen,
		         "message of %zu bytes exceeds the limit of %zu bytes", len,
		         max_len);
		return SL_ETOOBIG;
	}
	Sluice__Envelope *e = sluice__envelope__unpack(NULL, len, frame);
	if (e == NULL) {
		snprintf(err, errlen,
		         "malformed frame of %zu bytes: not a Sluice envelope", len);
		return SL_EPROTO;
	}
	int cred = -1;
	int rv = envelope_verify(k, e, expect_cred, &cred, err, errlen);
	env->cred = cred;
	if (rv != SL_OK) {
		sluice__envelope__free_unpacked(e, NULL);
		return rv;
	}
	env->version = e->version;
	env->type = e->type;
	env->request_id = e->request_id;
	env->sender = e->sender;
	env->timestamp_ms = e->timestamp_ms;
	env->payload = e->payload.data;
	env->payload_len = e->payload.len;
	env->mac = e->mac.data;
	env->pb_ = e;
	return SL_OK;
}

int envelope_unpack(const auth_key *k, const void *frame, size_t len, size_t max_len,
                    envelope *env, char *err, size_t errlen)
{
	return unpack_common(k, -1, frame, len, max_len, env, err, errlen);
}

int envelope_unpack_reply(const auth_key *k, auth_cred cred, const void *frame,
                          size_t len, size_t max_len, envelope *env, char *err,
                          size_t errlen)
{
	return unpack_common(k, (int)cred, frame, len, max_len, env, err, errlen);
}

void envelope_release(envelope *env)
{
	if (env->pb_ != NULL)
		sluice__envelope__free_unpacked(env->pb_, NULL);
	memset(env, 0, sizeof(*env));
	env->cred = -1;
}

/* Reads a protobuf varint at *i; false at the end or on overflow. */
static bool scan_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *i < len && shift < 64; shift += 7) {
		uint8_t b = p[(*i)++];
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

int envelope_reply_cred(const auth_key *k, const void *frame, size_t len)
{
	const uint8_t *p = frame;
	size_t i = 0;
	uint64_t key, n;
	while (i < len && scan_varint(p, len, &i, &key)) {
		unsigned wt = (unsigned)(key & 7);
		if (wt == 0 && scan_varint(p, len, &i, &n))
			continue;
		if (wt != 2 || !scan_varint(p, len, &i, &n) || n > len - i)
			return -1;
		if (key >> 3 == 4) { /* sender */
			char sender[64];
			snprintf(sender, sizeof(sender), "%.*s", (int)(n < 63 ? n : 63),
			         (const char *)p + i);
			return auth_cred_for_sender(k, sender);
		}
		i += n;
	}
	return -1;
}
