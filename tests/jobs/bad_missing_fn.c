/* A job whose graph names a function the library does not export. */
#include <sluice/sluice.h>

int bad_missing_fn_present(const sl_record *in, sl_emitter *out)
{
	return sl_emit(out, in->key, in->key_len, in->value, in->value_len,
	               in->event_time_ms);
}

int sluice_job_define(sl_ctx *ctx)
{
	sl_stream *lines = sl_socket_text_stream(ctx, "127.0.0.1", 9);
	sl_stream *mapped = sl_map(lines, "bad_missing_fn_present");
	sl_print(sl_flat_map(mapped, "no_such_user_function"), 10);
	return 0;
}
