/*
 * The system job library: the library of every channel's system jobs
 * (master/channels.c). Every job has a library, which workers load; a
 * system job's graph is built by the master from built-in nodes only, so
 * this library exports nothing the graph calls. sluice_job_define is here
 * for `sluice submit`: it refuses, naming the way system jobs are made.
 */
#include <sluice/sluice.h>

int sluice_job_define(sl_ctx *ctx)
{
	return sl_fail(ctx, "sluice_system.so holds system jobs: create a channel "
	                    "(sluice channels create) instead of submitting it");
}
