/*
 * Receiver WAL replay and removal: see wal.h.
 */
#include "wal.h"
#include "alloc.h"
#include "log.h"
#include "sluice/err.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (f == NULL)
		return NULL;
	if (fstat(fileno(f), &st) != 0 || st.st_size <= 0) {
		fclose(f);
		return NULL;
	}
	uint8_t *buf = sl_malloc((size_t)st.st_size);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (*len != (size_t)st.st_size) {
		sl_free(buf);
		return NULL;
	}
	return buf;
}

/* Replays one segment; true if the block is now in bm. */
static bool replay_one(blockmgr *bm, const char *jobdir, const char *name)
{
	size_t n = strlen(name), len = 0;
	char *path = sl_asprintf("%s/%s", jobdir, name);
	bool ok = false;
	if (n > 4 && strcmp(name + n - 4, ".tmp") == 0) {
		unlink(path); /* never acknowledged: the rename did not happen */
	} else if (n > 4 && strcmp(name + n - 4, ".blk") == 0) {
		char *id = sl_strndup(name, n - 4);
		uint8_t *data = read_file(path, &len);
		int rv =
		    data ? blockmgr_put_encoded(bm, id, data, len, BLOCK_MEMORY_AND_DISK)
		         : SL_EIO;
		ok = rv == SL_OK || rv == SL_EEXIST;
		if (!ok)
			log_error("WAL: cannot replay %s: %s", path, sl_strerror(rv));
		sl_free(data);
		sl_free(id);
	}
	sl_free(path);
	return ok;
}

uint32_t wal_replay(blockmgr *bm, const char *dir)
{
	char *root = sl_asprintf("%s/wal", dir);
	DIR *d = opendir(root);
	struct dirent *de;
	uint32_t n = 0;
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *jobdir = sl_asprintf("%s/%s", root, de->d_name);
		DIR *jd = opendir(jobdir);
		struct dirent *f;
		while (jd != NULL && (f = readdir(jd)) != NULL)
			if (f->d_name[0] != '.')
				n += replay_one(bm, jobdir, f->d_name);
		if (jd != NULL)
			closedir(jd);
		sl_free(jobdir);
	}
	if (d != NULL)
		closedir(d);
	if (n > 0)
		log_info("WAL: replayed %u receiver blocks from %s", n, root);
	sl_free(root);
	return n;
}

void wal_remove(const char *dir, const char *block_id)
{
	char *end;
	if (strncmp(block_id, "rcv-", 4) != 0 || strchr(block_id, '/') != NULL)
		return;
	unsigned long long job = strtoull(block_id + 4, &end, 10);
	if (end == block_id + 4 || *end != '-')
		return;
	char *path = sl_asprintf("%s/wal/%llu/%s.blk", dir, job, block_id);
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("WAL: cannot delete %s: %s", path, strerror(errno));
	sl_free(path);
}
