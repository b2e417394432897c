/*
 * Rate-control arithmetic: see ratectl.h.
 */
#include "ratectl.h"

#include <math.h>

double ratectl_stream_rate(bool backpressure, double published, int64_t initial_rate,
                           double utilization, double seen_rate)
{
	if (!backpressure)
		return -1;
	if (published >= 0 && seen_rate > 0)
		return fmin(published * utilization, RATECTL_GROWTH * seen_rate);
	if (published >= 0)
		return published * utilization;
	return initial_rate > 0 ? (double)initial_rate : -1;
}

static int64_t lag_of(const ratectl_part *p)
{
	return p->latest > p->from ? p->latest - p->from : 0;
}

void ratectl_clamp(ratectl_part *parts, size_t n, double rate, int64_t max_pp,
                   int64_t min_pp, int64_t batch_ms)
{
	double total_lag = 0;
	for (size_t i = 0; i < n; i++)
		total_lag += (double)lag_of(&parts[i]);
	double secs = (double)batch_ms / 1000.0;
	for (size_t i = 0; i < n; i++) {
		ratectl_part *p = &parts[i];
		int64_t lag = lag_of(p);
		p->until = p->from + lag;
		if (lag == 0)
			continue;
		double rp;
		if (rate >= 0) {
			rp = rate * (double)lag / total_lag;
			if (max_pp > 0)
				rp = fmin(rp, (double)max_pp);
		} else if (max_pp > 0) {
			rp = (double)max_pp;
		} else {
			continue; /* unlimited */
		}
		rp = fmax(rp, (double)min_pp);
		double want = floor(rp * secs);
		int64_t take = want < 1 ? 1 : want >= (double)lag ? lag : (int64_t)want;
		p->until = p->from + take;
	}
}

double ratectl_receiver_rate(double stream_rate, int64_t receiver_max_rate,
                             size_t nreceivers)
{
	double r = 0; /* unlimited */
	if (stream_rate >= 0 && nreceivers > 0)
		r = fmax(stream_rate / (double)nreceivers,
		         1e-3); /* 0 would mean unlimited */
	if (receiver_max_rate > 0 && (r == 0 || r > (double)receiver_max_rate))
		r = (double)receiver_max_rate;
	return r;
}
