/*
 * Token bucket rate limiter, in records per second.
 *
 * Receivers pass every record through one of these before it enters the
 * block buffer (SPEC §6): spark.streaming.receiver.maxRate caps the rate and
 * the backpressure rate controller lowers or raises it while the receiver
 * runs, so the rate may change under a thread that is waiting.
 *
 * The bucket refills continuously at `rate` tokens per second and holds at
 * most `burst` = max(rate x 0.1 s, 1) tokens, so after an idle spell a
 * source may send a tenth of a second's worth at once and never more; it
 * starts full. A request for more than the burst is granted once the bucket
 * is full and leaves it in debt, so large requests still average out to the
 * rate. Rate 0 means unlimited: acquiring never waits.
 *
 * Thread-safe: a mutex guards the bucket and waiters sleep on a condition
 * variable (monotonic clock) that ratelimit_set_rate and
 * ratelimit_interrupt broadcast, so a new rate takes effect at once, even
 * for a thread already waiting.
 */
#ifndef SLUICE_RATELIMIT_H
#define SLUICE_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	double rate;   /* tokens per second; 0 = unlimited */
	double burst;  /* bucket capacity */
	double tokens; /* may be negative (debt) after a request above the burst */
	int64_t last_ns;
	bool interrupted;
} ratelimit;

/* Initialises rl at rate records/s (0 or negative = unlimited), bucket full. */
void ratelimit_init(ratelimit *rl, double rate);
/* Releases the mutex and condition variable; no thread may be waiting. */
void ratelimit_fini(ratelimit *rl);

/* Changes the rate (0 = unlimited). Tokens earned so far are kept, up to the
 * new burst; waiting threads re-evaluate at once. Any thread. */
void ratelimit_set_rate(ratelimit *rl, double rate);
double ratelimit_rate(ratelimit *rl);

/* Takes n tokens, sleeping until they are available. Returns the
 * nanoseconds spent waiting (0 when none), for "time blocked on the rate
 * limiter". Returns early, without taking tokens, once the limiter has been
 * interrupted. */
int64_t ratelimit_acquire(ratelimit *rl, uint64_t n);
/* Takes n tokens if they are available now (same burst rule); never waits
 * and ignores ratelimit_interrupt. */
bool ratelimit_try_acquire(ratelimit *rl, uint64_t n);

/* Makes every current and future acquire return at once (for stopping the
 * thread that owns the limiter). Not undone. */
void ratelimit_interrupt(ratelimit *rl);

#endif
