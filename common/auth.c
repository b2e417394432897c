/*
 * Credentials: the root secret, the three keys derived from it and the
 * files that hold them (see envelope.h for the contract).
 *
 * Derivation: key(role) = HMAC-SHA256(root, "sluice-cred:" role). One root
 * file on the master stays the single thing to back up; the role files it
 * writes are what other hosts and users get, so that holding one gives that
 * role and nothing more (HMAC is one-way: no role key reveals the root or
 * another role's key).
 */
#include "envelope.h"
#include "msgtypes.h"
#include "sluice/err.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	const char *label; /* derivation label and role-file prefix */
	const char *file;  /* role file name in the state directory */
	const char *name;  /* for messages */
	int roles;
} cred_info;

static const cred_info creds[AUTH_CRED_COUNT] = {
    [AUTH_CRED_CLUSTER] = {"worker", "worker.secret", "worker secret",
                           ROLE_MASTER | ROLE_WORKER},
    [AUTH_CRED_OPERATOR] = {"operator", "operator.token", "operator token", ROLE_CLIENT},
    [AUTH_CRED_READER] = {"reader", "reader.token", "reader token", ROLE_READER},
};

const char *auth_cred_name(auth_cred c)
{
	return (unsigned)c < AUTH_CRED_COUNT ? creds[c].name : "no credential";
}

int auth_cred_roles(auth_cred c)
{
	return (unsigned)c < AUTH_CRED_COUNT ? creds[c].roles : 0;
}

const uint8_t *auth_key_cred(const auth_key *k, auth_cred c)
{
	if ((unsigned)c >= AUTH_CRED_COUNT || !(k->have & (1u << c)))
		return NULL;
	return k->cred[c];
}

int auth_cred_for_sender(const auth_key *k, const char *sender)
{
	int role = msg_sender_role(sender);
	if (role & (ROLE_MASTER | ROLE_WORKER))
		return auth_key_cred(k, AUTH_CRED_CLUSTER) ? AUTH_CRED_CLUSTER : -1;
	if (role & ROLE_LOOK) {
		if (auth_key_cred(k, AUTH_CRED_OPERATOR))
			return AUTH_CRED_OPERATOR;
		return auth_key_cred(k, AUTH_CRED_READER) ? AUTH_CRED_READER : -1;
	}
	return -1;
}

static int derive(const uint8_t *root, size_t len, const char *label,
                  uint8_t out[AUTH_CRED_KEY_LEN])
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "sluice-cred:%s", label);
	return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), root, len,
	                       (const uint8_t *)msg, (size_t)n, out) == 0
	           ? SL_OK
	           : SL_EAUTH;
}

int auth_key_set(auth_key *k, const char *secret)
{
	size_t n = strlen(secret);
	if (n == 0 || n > sizeof(k->root))
		return SL_EINVAL;
	memset(k, 0, sizeof(*k));
	memcpy(k->root, secret, n);
	k->root_len = n;
	for (int c = 0; c < AUTH_CRED_COUNT; c++) {
		if (derive(k->root, n, creds[c].label, k->cred[c]) != SL_OK)
			return SL_EINVAL;
		k->have |= 1u << c;
	}
	return SL_OK;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "sluice-<label>:<64 hex>" -> one credential. Returns 1 when line is a
 * role line (set or refused), 0 when it is something else (a root). */
static int parse_role_line(auth_key *k, const char *line, const char *path, int *rv,
                           char *err, size_t errlen)
{
	if (strncmp(line, "sluice-", 7) != 0)
		return 0;
	for (int c = 0; c < AUTH_CRED_COUNT; c++) {
		size_t ll = strlen(creds[c].label);
		if (strncmp(line + 7, creds[c].label, ll) != 0 || line[7 + ll] != ':')
			continue;
		const char *hex = line + 8 + ll;
		memset(k, 0, sizeof(*k));
		for (int i = 0; i < AUTH_CRED_KEY_LEN; i++) {
			int hi = hex_value(hex[2 * i]),
			    lo = hi < 0 ? -1 : hex_value(hex[2 * i + 1]);
			if (lo < 0) {
				snprintf(err, errlen,
				         "credential file %s: the %s needs 64 hex digits "
				         "after "
				         "'sluice-%s:'",
				         path, creds[c].name, creds[c].label);
				*rv = SL_EAUTH;
				return 1;
			}
			k->cred[c][i] = (uint8_t)(hi << 4 | lo);
		}
		k->have = 1u << c;
		*rv = SL_OK;
		return 1;
	}
	return 0;
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
	int rv;
	if (parse_role_line(k, buf, path, &rv, err, errlen))
		return rv;
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

/* Writes one role file through a temporary file (mode 0600 from creation,
 * whatever the umask) renamed over the old one. */
static int write_role_file(const auth_key *k, auth_cred c, const char *dir, char *err,
                           size_t errlen)
{
	char path[4096], tmp[4200], line[128];
	snprintf(path, sizeof(path), "%s/%s", dir, creds[c].file);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	int n = snprintf(line, sizeof(line), "sluice-%s:", creds[c].label);
	for (int i = 0; i < AUTH_CRED_KEY_LEN; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", k->cred[c][i]);
	line[n++] = '\n';
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 || write(fd, line, (size_t)n) != n) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return SL_EIO;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path,
		         strerror(errno));
		unlink(tmp);
		return SL_EIO;
	}
	return SL_OK;
}

int auth_key_write_roles(const auth_key *k, const char *dir, char *err, size_t errlen)
{
	if (k->root_len == 0) {
		snprintf(err, errlen, "role files are derived from the root secret");
		return SL_EAUTH;
	}
	for (int c = 0; c < AUTH_CRED_COUNT; c++) {
		int rv = write_role_file(k, (auth_cred)c, dir, err, errlen);
		if (rv != SL_OK)
			return rv;
	}
	return SL_OK;
}

int auth_token_role(const auth_key *k, const char *token)
{
	static const auth_cred tokens[] = {AUTH_CRED_OPERATOR, AUTH_CRED_READER};
	auth_key got;
	int rv = 0;
	char err[128];
	if (token == NULL || strlen(token) > 200)
		return 0;
	char line[256];
	snprintf(line, sizeof(line), "%s", token);
	line[strcspn(line, "\r\n")] = '\0';
	for (size_t t = 0; t < sizeof(tokens) / sizeof(tokens[0]); t++) {
		const uint8_t *want = auth_key_cred(k, tokens[t]);
		char full[300];
		/* the bare hex digits are read as that role's line */
		if (strncmp(line, "sluice-", 7) == 0)
			snprintf(full, sizeof(full), "%s", line);
		else
			snprintf(full, sizeof(full), "sluice-%s:%s",
			         creds[tokens[t]].label, line);
		if (want == NULL ||
		    parse_role_line(&got, full, "token", &rv, err, sizeof(err)) == 0 ||
		    rv != SL_OK || !(got.have & (1u << tokens[t])))
			continue;
		uint8_t d = 0;
		for (int i = 0; i < AUTH_CRED_KEY_LEN; i++)
			d |= want[i] ^ got.cred[tokens[t]][i];
		if (d == 0)
			return creds[tokens[t]].roles;
	}
	return 0;
}
