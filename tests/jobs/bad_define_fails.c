/* A job whose definition refuses to build: it calls sl_fail. */
#include <sluice/sluice.h>

int sluice_job_define(sl_ctx *ctx)
{
	sl_socket_text_stream(ctx, "127.0.0.1", 9);
	return sl_fail(ctx, "bad_define_fails: the %s setting is missing",
	               "widget.count");
}
