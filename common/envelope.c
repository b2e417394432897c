/*
 * Envelope codec and message authentication: see envelope.h.
 *
 * The MAC covers a canonical encoding of the fields, not the protobuf bytes,
 * so that re-encoding by another protobuf implementation cannot change it:
 *   "SLUICE-MAC1" | version u32 | type u32 | request_id u64 | timestamp i64 |
 *   sender length u32 | sender | payload          (integers little-endian)
 * HMAC-SHA256 from mbedTLS; the comparison is constant-time.
 */
#include "envelope.h"
#include "alloc.h"
#include "clock.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "envelope.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAC_LEN ENVELOPE_MAC_LEN

int auth_key_set(auth_key *k, const char *secret)
{
	size_t n = strlen(secret);
	if (n == 0 || n > sizeof(k->key))
		return SL_EINVAL;
	memcpy(k->key, secret, n);
	k->len = n;
	return SL_OK;
}

int auth_key_load(auth_key *k, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char buf[300];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open secret file %s: %s", path,
		         strerror(errno));
		return SL_EAUTH;
	}
	if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
		snprintf(err, errlen,
		         "secret file %s must be readable by its owner only (mode 0600)",
		         path);
		close(fd);
		return SL_EAUTH;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (auth_key_set(k, buf) != SL_OK) {
		snprintf(err, errlen, "secret file %s is empty or longer than 256 bytes",
		         path);
		return SL_EAUTH;
	}
	return SL_OK;
}

int auth_key_create(auth_key *k, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		uint8_t raw[32];
		char hex[65];
		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
			close(fd);
			snprintf(err, errlen, "getrandom failed: %s", strerror(errno));
			return SL_EAUTH;
		}
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", raw[i]);
		ssize_t w = write(fd, hex, 64);
		w += write(fd, "\n", 1);
		close(fd);
		if (w != 65) {
			snprintf(err, errlen, "cannot write secret file %s", path);
			return SL_EAUTH;
		}
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "cannot create secret file %s: %s", path,
		         strerror(errno));
		return SL_EAUTH;
	}
	return auth_key_load(k, path, err, errlen);
}

static void mac_put(mbedtls_md_context_t *md, uint64_t v, int bytes)
{
	uint8_t b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	mbedtls_md_hmac_update(md, b, (size_t)bytes);
}

static int mac_compute(const auth_key *k, uint32_t version, uint32_t type, uint64_t rid,
                       int64_t ts, const char *sender, const uint8_t *payload,
                       size_t plen, uint8_t out[MAC_LEN])
{
	mbedtls_md_context_t md;
	int rv = SL_EAUTH;
	mbedtls_md_init(&md);
	if (mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) != 0)
		goto done;
	mbedtls_md_hmac_starts(&md, k->key, k->len);
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

int envelope_pack(const auth_key *k, uint32_t type, uint64_t request_id,
                  const char *sender, const void *payload, size_t payload_len,
                  uint8_t **out, size_t *out_len)
{
	Sluice__Envelope e = SLUICE__ENVELOPE__INIT;
	uint8_t mac[MAC_LEN];
	e.version = SLUICE_PROTOCOL_VERSION;
	e.type = type;
	e.request_id = request_id;
	e.sender = (char *)sender;
	e.timestamp_ms = clock_wall_ms();
	e.payload.data = (uint8_t *)payload;
	e.payload.len = payload_len;
	if (mac_compute(k, e.version, type, request_id, e.timestamp_ms, sender, payload,
	                payload_len, mac) != SL_OK)
		return SL_EAUTH;
	e.mac.data = mac;
	e.mac.len = MAC_LEN;
	*out_len = sluice__envelope__get_packed_size(&e);
	*out = sl_malloc(*out_len);
	sluice__envelope__pack(&e, *out);
	return SL_OK;
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
 * control characters (a forged log line) and non-ASCII bytes become '?' and
 * it is cut to 64 characters. */
static const char *sender_shown(const char *s, char *buf, size_t buflen)
{
	size_t i;
	for (i = 0; s[i] != '\0' && i + 1 < buflen; i++)
		buf[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i]
		                                                                   : '?';
	buf[i] = '\0';
	if (s[i] != '\0' && i >= 3)
		memcpy(buf + i - 3, "...", 3);
	return buf;
}

static int envelope_verify(const auth_key *k, const Sluice__Envelope *e, char *err,
                           size_t errlen)
{
	uint8_t mac[MAC_LEN];
	char who[65];
	if (e->version != SLUICE_PROTOCOL_VERSION) {
		snprintf(err, errlen,
		         "protocol version mismatch: peer speaks version %u, this "
		         "process speaks version %u",
		         e->version, SLUICE_PROTOCOL_VERSION);
		return SL_EVERSION;
	}
	if (e->mac.len != MAC_LEN ||
	    mac_compute(k, e->version, e->type, e->request_id, e->timestamp_ms, e->sender,
	                e->payload.data, e->payload.len, mac) != SL_OK ||
	    !mac_equal(mac, e->mac.data, MAC_LEN)) {
		snprintf(err, errlen,
		         "authentication failed for message from '%s': bad or "
		         "missing MAC (wrong cluster secret?)",
		         sender_shown(e->sender, who, sizeof(who)));
		return SL_EAUTH;
	}
	/* The timestamp is any int64 the signer chose: subtract with an overflow
	 * check (saturating), since now - INT64_MIN is undefined behaviour. */
	int64_t skew;
	if (__builtin_sub_overflow(clock_wall_ms(), e->timestamp_ms, &skew))
		skew = e->timestamp_ms < 0 ? INT64_MAX : INT64_MIN;
	if (skew > ENVELOPE_MAX_SKEW_MS || skew < -ENVELOPE_MAX_SKEW_MS) {
		snprintf(err, errlen,
		         "message from '%s' is %lld ms off our clock (limit %d ms)",
		         sender_shown(e->sender, who, sizeof(who)), (long long)skew,
		         ENVELOPE_MAX_SKEW_MS);
		return SL_EAUTH;
	}
	const char *name = msg_type_name(e->type);
	if (name == NULL) {
		snprintf(err, errlen, "unknown message type %u from '%s'", e->type,
		         sender_shown(e->sender, who, sizeof(who)));
		return SL_EUNKNOWN_TYPE;
	}
	if ((msg_type_roles(e->type) & msg_sender_role(e->sender)) == 0) {
		snprintf(err, errlen, "sender '%s' may not send %s",
		         sender_shown(e->sender, who, sizeof(who)), name);
		return SL_EAUTH;
	}
	return SL_OK;
}

int envelope_unpack(const auth_key *k, const void *frame, size_t len, size_t max_len,
                    envelope *env, char *err, size_t errlen)
{
	memset(env, 0, sizeof(*env));
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
	int rv = envelope_verify(k, e, err, errlen);
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

void envelope_release(envelope *env)
{
	if (env->pb_ != NULL)
		sluice__envelope__free_unpacked(env->pb_, NULL);
	memset(env, 0, sizeof(*env));
}
