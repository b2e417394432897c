/*
 * State checkpoints as files (statestore.h: state_part_checkpoint and
 * state_part_load): the encoded partition written atomically (temporary
 * file, fsync, rename) and read back. Kept apart from the store's table
 * and transactions, which never touch the disk.
 */
#include "alloc.h"
#include "sluice/err.h"
#include "statestore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define STATE_FILE_MAX_RAW ((size_t)16 << 30)

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int state_part_checkpoint(state_part *sp, const char *path, char *err, size_t errlen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int rv = state_part_encode(sp, &data, &len);
	int fd =
	    rv == SL_OK ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	bool ok = fd >= 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0;
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	if (ok && rename(tmp, path) != 0)
		ok = false;
	sl_free(data);
	if (!ok) {
		snprintf(err, errlen, "state checkpoint %s: %s", path,
		         rv != SL_OK ? sl_strerror(rv) : strerror(errno));
		unlink(tmp);
		return SL_EIO;
	}
	state_part_checkpointed(sp);
	return SL_OK;
}

static uint8_t *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, r;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = sl_realloc(buf, cap);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		sl_free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

int state_part_load(const char *path, state_part **out, char *err, size_t errlen)
{
	size_t len = 0;
	*out = NULL;
	uint8_t *data = read_whole(path, &len);
	if (data == NULL) {
		snprintf(err, errlen, "state checkpoint %s: %s", path, strerror(errno));
		return SL_EIO;
	}
	int rv = state_part_decode(data, len, path, STATE_FILE_MAX_RAW, out, err, errlen);
	sl_free(data);
	return rv;
}
