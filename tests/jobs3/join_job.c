/*
 * Joins of two socket streams in the same batch (issue 11), for
 * tests/integration/test_joins.py: each side saved as it is, so the test
 * knows every record's batch, and each join kind saved, so the test can
 * check it against a join of the saved sides.
 *
 *   left  = map_to_pair(socket lines on left.port, "KEY VALUE" -> (KEY, VALUE))
 *   right = the same on right.port
 *   OUT/left-T, OUT/right-T   each side as it is: "KEY<TAB>VALUE" lines
 *   OUT/join-T   join(left, right, 2)              KEY<TAB>[a,b]
 *   OUT/lo-T     left_outer_join(left, right, 3)   KEY<TAB>[a,null] too
 *   OUT/ro-T     right_outer_join(left, right, 0)  KEY<TAB>[null,b] too
 *   OUT/fo-T     full_outer_join(left, right, 2)   both kinds of null
 *   OUT/cg-T     cogroup(left, right, 3)           KEY<TAB>[[a,..],[b,..]]
 *
 * Configuration: left.port, right.port, output.path (prefix directory).
 */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* map_to_pair: "KEY VALUE" -> (KEY, VALUE); a line without a space is
 * dropped. */
int join_kv(const sl_record *in, sl_emitter *out)
{
	const uint8_t *sp =
	    in->value_len > 0 ? memchr(in->value, ' ', in->value_len) : NULL;
	if (sp == NULL)
		return 0;
	size_t klen = (size_t)(sp - in->value);
	return sl_emit(out, in->value, klen, sp + 1, in->value_len - klen - 1,
	               in->event_time_ms);
}

static void save(sl_stream *s, const char *dir, const char *name)
{
	char prefix[1024];
	snprintf(prefix, sizeof(prefix), "%s/%s", dir, name);
	sl_save_as_text_files(s, prefix, NULL);
}

int sluice_job_define(sl_ctx *ctx)
{
	int lport = atoi(sl_conf_get(ctx, "left.port", "9998"));
	int rport = atoi(sl_conf_get(ctx, "right.port", "9999"));
	const char *dir = sl_conf_get(ctx, "output.path", "/tmp/sluice-joins");
	sl_stream *l =
	    sl_map_to_pair(sl_socket_text_stream(ctx, "127.0.0.1", lport), "join_kv");
	sl_stream *r =
	    sl_map_to_pair(sl_socket_text_stream(ctx, "127.0.0.1", rport), "join_kv");
	save(l, dir, "left");
	save(r, dir, "right");
	save(sl_join(l, r, 2), dir, "join");
	save(sl_left_outer_join(l, r, 3), dir, "lo");
	save(sl_right_outer_join(l, r, 0), dir, "ro");
	save(sl_full_outer_join(l, r, 2), dir, "fo");
	save(sl_cogroup(l, r, 3), dir, "cg");
	return 0;
}
