/* A shared library that is not a Sluice job: it lacks sluice_job_define. */
#include <sluice/sluice.h>

int not_the_entry_point(sl_ctx *ctx)
{
	(void)ctx;
	return 0;
}
