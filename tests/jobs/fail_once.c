/*
 * Socket word count whose flat_map fails exactly once in the whole cluster:
 * the first task that runs it as attempt 0 of partition 0 (of any batch)
 * claims the marker FAIL_DIR/failed (O_EXCL, so only one task anywhere
 * wins), writes "<pid> <batch ms>" into it and returns -1. The attempt of
 * that partition and batch that then runs the function again writes
 * FAIL_DIR/retry-<batch ms>-<attempt> with "<pid>", so the test can tell
 * which worker process ran the retry.
 *
 * Configuration: source.host, source.port, output.path (required),
 * fail.dir (required), reduce.partitions (default 0).
 */
#include <sluice/sluice.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Creates path with content; 0 when created, 1 when it already existed. */
static int create_once(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return errno == EEXIST ? 1 : -1;
	size_t n = strlen(content);
	int rv = write(fd, content, n) == (ssize_t)n ? 0 : -1;
	if (close(fd) != 0)
		rv = -1;
	return rv;
}

static int note_attempt(void)
{
	const char *dir = sl_task_conf("fail.dir");
	char path[1024], content[64];
	if (dir == NULL || sl_task_partition() != 0)
		return 0;
	if (sl_task_attempt() == 0) {
		snprintf(path, sizeof(path), "%s/failed", dir);
		snprintf(content, sizeof(content), "%d %lld\n", (int)getpid(),
		         (long long)sl_task_batch_time());
		return create_once(path, content) == 0 ? -1 : 0;
	}
	snprintf(path, sizeof(path), "%s/retry-%lld-%d", dir,
	         (long long)sl_task_batch_time(), sl_task_attempt());
	snprintf(content, sizeof(content), "%d\n", (int)getpid());
	return create_once(path, content) < 0 ? -1 : 0;
}

/* flat_map: words of the line, after the failure check. */
int fail_once_split(const sl_record *in, sl_emitter *out)
{
	if (note_attempt() != 0)
		return -1;
	const uint8_t *p = in->value, *end = in->value + in->value_len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const uint8_t *w = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		if (p > w &&
		    sl_emit(out, NULL, 0, w, (size_t)(p - w), in->event_time_ms) != 0)
			return -1;
	}
	return 0;
}

int sluice_job_define(sl_ctx *ctx)
{
	const char *host = sl_conf_get(ctx, "source.host", "127.0.0.1");
	const char *port = sl_conf_get(ctx, "source.port", NULL);
	const char *out = sl_conf_get(ctx, "output.path", NULL);
	int reducers = atoi(sl_conf_get(ctx, "reduce.partitions", "0"));

	if (port == NULL || out == NULL || sl_conf_get(ctx, "fail.dir", NULL) == NULL)
		return sl_fail(ctx,
		               "fail_once needs source.port, output.path and fail.dir");
	sl_stream *lines = sl_socket_text_stream(ctx, host, atoi(port));
	sl_stream *words = sl_flat_map(lines, "fail_once_split");
	sl_stream *pairs = sl_map_to_pair(words, "sl_pair_one");
	sl_save_as_text_files(sl_reduce_by_key(pairs, "sl_sum_i64", reducers), out, NULL);
	return 0;
}
