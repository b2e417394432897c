/*
 * The return-value contract of include/sluice/sluice.h, end to end
 * (tests/integration/test_return_codes.py), on a generator of words:
 *
 *   map rc_map          fails exactly once in the cluster (attempt 0 of
 *                       partition 0 of the first batch, claimed by the
 *                       marker RC_DIR/failed) by returning rc.value (a
 *                       POSITIVE number: it must fail the task all the same)
 *   filter rc_keep      returns 7 for every record: any positive keeps
 *   assign_event_time   rc_time: event time = 1000 x the word's number
 *                       ("w042" -> 42000)
 *   foreach_partition   rc_write: RC_DIR/out/<batch>-<partition> with one
 *                       "<word> <event time>" line per record (tmp + rename)
 *
 * Configuration: rc.dir (required), rc.value (default 1).
 */
#include <sluice/sluice.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rc_map(const sl_record *in, sl_emitter *out);
int rc_map(const sl_record *in, sl_emitter *out)
{
	const char *dir = sl_task_conf("rc.dir");
	if (dir != NULL && sl_task_partition() == 0 && sl_task_attempt() == 0) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/failed", dir);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0) {
			close(fd);
			const char *v = sl_task_conf("rc.value");
			return v ? atoi(v) : 1;
		}
	}
	return sl_emit(out, in->key, in->key_len, in->value, in->value_len,
	               in->event_time_ms);
}

int rc_keep(const sl_record *in);
int rc_keep(const sl_record *in)
{
	(void)in;
	return 7;
}

int rc_time(const sl_record *in, int64_t *event_time_ms);
int rc_time(const sl_record *in, int64_t *event_time_ms)
{
	char num[16] = "";
	if (in->value_len < 2 || in->value_len > 10)
		return -1;
	memcpy(num, in->value + 1, in->value_len - 1);
	*event_time_ms = 1000 * (int64_t)atoi(num);
	return 0;
}

int rc_write(int64_t batch_time_ms, int partition, sl_iter *records);
int rc_write(int64_t batch_time_ms, int partition, sl_iter *records)
{
	const char *dir = sl_task_conf("rc.dir");
	char tmp[1100], path[1024];
	snprintf(path, sizeof(path), "%s/out/%lld-%d", dir, (long long)batch_time_ms,
	         partition);
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, sl_task_attempt());
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -errno;
	sl_record r;
	while (sl_iter_next(records, &r) == 1)
		fprintf(f, "%.*s %lld\n", (int)r.value_len, (const char *)r.value,
		        (long long)r.event_time_ms);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path) == 0 ? 0 : -1;
}

int sluice_job_define(sl_ctx *ctx)
{
	if (sl_conf_get(ctx, "rc.dir", NULL) == NULL)
		return sl_fail(ctx, "return_codes needs --conf rc.dir=DIR");
	sl_stream *words = sl_generator_stream(ctx, "sl_gen_words", 200, 2);
	sl_stream *kept = sl_filter(sl_map(words, "rc_map"), "rc_keep");
	sl_foreach_partition(sl_assign_event_time(kept, "rc_time"), "rc_write");
	return 0;
}
