/*
 * Token bucket rate limiter: see ratelimit.h.
 *
 * Tokens are a double so that fractional rates and sub-token refills over
 * short intervals add up exactly; the bucket is refilled lazily, from the
 * time elapsed since the last look, whenever a thread takes tokens or the
 * rate changes. A thread short of tokens computes when enough will have
 * accrued and sleeps on the condition variable until then (or until a rate
 * change wakes it to recompute): no spinning.
 */
#include "ratelimit.h"
#include "clock.h"

#include <time.h>

/* The bucket holds this many seconds' worth of tokens (at least one). */
#define RATELIMIT_BURST_S 0.1
/* Slack for floating-point rounding when comparing token counts. */
#define RATELIMIT_EPS 1e-9

static double rl_burst(double rate)
{
	double b = rate * RATELIMIT_BURST_S;
	return b < 1.0 ? 1.0 : b;
}

/* Adds the tokens earned since last_ns. Locked; rate > 0. */
static void rl_refill(ratelimit *rl, int64_t now)
{
	if (now > rl->last_ns) {
		rl->tokens += (double)(now - rl->last_ns) * rl->rate / 1e9;
		if (rl->tokens > rl->burst)
			rl->tokens = rl->burst;
	}
	rl->last_ns = now;
}

void ratelimit_init(ratelimit *rl, double rate)
{
	pthread_condattr_t ca;
	pthread_mutex_init(&rl->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rl->cond, &ca);
	pthread_condattr_destroy(&ca);
	rl->rate = rate > 0 ? rate : 0;
	rl->burst = rl_burst(rl->rate);
	rl->tokens = rl->burst;
	rl->last_ns = clock_mono_ns();
	rl->interrupted = false;
}

void ratelimit_fini(ratelimit *rl)
{
	pthread_cond_destroy(&rl->cond);
	pthread_mutex_destroy(&rl->lock);
}

void ratelimit_set_rate(ratelimit *rl, double rate)
{
	int64_t now = clock_mono_ns();
	pthread_mutex_lock(&rl->lock);
	bool was_unlimited = rl->rate <= 0;
	if (!was_unlimited)
		rl_refill(rl, now);
	rl->rate = rate > 0 ? rate : 0;
	rl->burst = rl_burst(rl->rate);
	/* Leaving "unlimited" starts with a full bucket, as init does. */
	if (was_unlimited || rl->tokens > rl->burst)
		rl->tokens = rl->burst;
	rl->last_ns = now;
	pthread_cond_broadcast(&rl->cond);
	pthread_mutex_unlock(&rl->lock);
}

double ratelimit_rate(ratelimit *rl)
{
	pthread_mutex_lock(&rl->lock);
	double r = rl->rate;
	pthread_mutex_unlock(&rl->lock);
	return r;
}

/* Takes n tokens if the bucket allows it now. Locked; rate > 0. */
static bool rl_take_locked(ratelimit *rl, uint64_t n, double *need)
{
	rl_refill(rl, clock_mono_ns());
	*need = (double)n < rl->burst ? (double)n : rl->burst;
	if (rl->tokens + RATELIMIT_EPS < *need)
		return false;
	rl->tokens -= (double)n;
	return true;
}

int64_t ratelimit_acquire(ratelimit *rl, uint64_t n)
{
	int64_t start = 0;
	bool waited = false;
	double need;
	pthread_mutex_lock(&rl->lock);
	while (!rl->interrupted && rl->rate > 0 && !rl_take_locked(rl, n, &need)) {
		if (!waited)
			start = rl->last_ns;
		waited = true;
		/* Sleep until the missing tokens have accrued (at least 1 µs). */
		int64_t wait_ns = (int64_t)((need - rl->tokens) / rl->rate * 1e9) + 1000;
		int64_t until = rl->last_ns + wait_ns;
		struct timespec ts = {.tv_sec = until / 1000000000,
		                      .tv_nsec = until % 1000000000};
		pthread_cond_timedwait(&rl->cond, &rl->lock, &ts);
	}
	pthread_mutex_unlock(&rl->lock);
	return waited ? clock_mono_ns() - start : 0;
}

bool ratelimit_try_acquire(ratelimit *rl, uint64_t n)
{
	double need;
	pthread_mutex_lock(&rl->lock);
	bool ok = rl->rate <= 0 || rl_take_locked(rl, n, &need);
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

void ratelimit_interrupt(ratelimit *rl)
{
	pthread_mutex_lock(&rl->lock);
	rl->interrupted = true;
	pthread_cond_broadcast(&rl->cond);
	pthread_mutex_unlock(&rl->lock);
}
