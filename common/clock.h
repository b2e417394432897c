/* Time helpers: wall clock and monotonic milliseconds. */
#ifndef SLUICE_CLOCK_H
#define SLUICE_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock, may jump). */
int64_t clock_wall_ms(void);
/* Monotonic milliseconds (never goes backwards; for timeouts and delays). */
int64_t clock_mono_ms(void);
/* Monotonic nanoseconds, for benchmarks and busy-time accounting. */
int64_t clock_mono_ns(void);
/* Sleeps for ms milliseconds (restarts on EINTR). */
void clock_sleep_ms(int64_t ms);

#endif
