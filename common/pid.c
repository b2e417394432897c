/*
 * PID rate estimator: see pid.h. The arithmetic follows SPEC §6 line by line
 * (which is Spark's PIDRateEstimator.compute): the error is how far the last
 * rate is above the rate the batch was processed at, the historical error is
 * the backlog (scheduling delay) expressed as records per second of a batch,
 * and the derivative is the change of the error per second since the last
 * update.
 */
#include "pid.h"

#include "sluice/err.h"

#include <math.h>
#include <stdio.h>

int pid_params_from_conf(pid_params *p, const sl_conf *conf, int64_t batch_interval_ms,
                         char *err, size_t errlen)
{
	p->batch_interval_ms = batch_interval_ms;
	p->proportional =
	    conf_get_double(conf, "spark.streaming.backpressure.pid.proportional");
	p->integral = conf_get_double(conf, "spark.streaming.backpressure.pid.integral");
	p->derivative = conf_get_double(conf, "spark.streaming.backpressure.pid.derived");
	p->min_rate = conf_get_double(conf, "spark.streaming.backpressure.pid.minRate");
	const char *bad = NULL;
	if (!(p->proportional >= 0))
		bad = "spark.streaming.backpressure.pid.proportional must be >= 0";
	else if (!(p->integral >= 0))
		bad = "spark.streaming.backpressure.pid.integral must be >= 0";
	else if (!(p->derivative >= 0))
		bad = "spark.streaming.backpressure.pid.derived must be >= 0";
	else if (!(p->min_rate > 0))
		bad = "spark.streaming.backpressure.pid.minRate must be > 0";
	else if (batch_interval_ms <= 0)
		bad = "the batch interval must be > 0";
	if (bad == NULL)
		return SL_OK;
	snprintf(err, errlen, "%s", bad);
	return SL_EINVAL;
}

void pid_init(pid_estimator *e, const pid_params *params)
{
	e->p = *params;
	e->s.first_run = true;
	e->s.latest_time = -1;
	e->s.latest_rate = -1;
	e->s.latest_error = -1;
	e->s.published = -1;
}

bool pid_compute(pid_estimator *e, int64_t time, int64_t records,
                 int64_t processing_delay, int64_t scheduling_delay, double *rate)
{
	pid_state *s = &e->s;
	if (!(time > s->latest_time && records > 0 && processing_delay > 0))
		return false;
	double since_update = (double)(time - s->latest_time) / 1000.0;
	double processing_rate = (double)records / (double)processing_delay * 1000.0;
	double error = s->latest_rate - processing_rate;
	double historical_error =
	    (double)scheduling_delay * processing_rate / (double)e->p.batch_interval_ms;
	double d_error = (error - s->latest_error) / since_update;
	double new_rate = s->latest_rate - e->p.proportional * error -
	                  e->p.integral * historical_error - e->p.derivative * d_error;
	new_rate = fmax(new_rate, e->p.min_rate);
	s->latest_time = time;
	if (s->first_run) {
		s->latest_rate = processing_rate;
		s->latest_error = 0;
		s->first_run = false;
		return false;
	}
	s->latest_rate = new_rate;
	s->latest_error = error;
	s->published = new_rate;
	*rate = new_rate;
	return true;
}

double pid_latest_rate(const pid_estimator *e)
{
	return e->s.published;
}
