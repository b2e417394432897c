/*
 * conf_bench: the cost of one configuration lookup from job code
 * (sl_task_conf and sl_conf_get go through api_conf_lookup), for a job's
 * own key and for a declared Sluice/Spark key. Job code may call it per
 * record (bench/state_e2e_job.c once did; 45 % of a worker's CPU).
 *
 * Usage: conf_bench [LOOKUPS]   (default 2,000,000); prints ns per lookup.
 * Results and the machine: docs/performance.md, "Configuration lookups".
 */
#include "api.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static double per_lookup(const sl_conf *c, const char *key, long n)
{
	size_t hits = 0;
	double t0 = now_ns();
	for (long i = 0; i < n; i++)
		hits += api_conf_lookup(c, key) != NULL;
	double ns = (now_ns() - t0) / (double)n;
	if (hits != (size_t)n) {
		fprintf(stderr, "conf_bench: %s not found\n", key);
		exit(1);
	}
	return ns;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	char err[256];
	sl_conf *c = conf_new(CONF_APP_KEYS);
	if (n <= 0 ||
	    conf_set(c, "wordcount.brokers", "127.0.0.1:9092", err, sizeof(err)) ||
	    conf_set(c, "print.num", "10", err, sizeof(err))) {
		fprintf(stderr, "usage: conf_bench [LOOKUPS > 0]\n");
		return 2;
	}
	printf("job key (print.num):                  %.1f ns per lookup\n",
	       per_lookup(c, "print.num", n));
	printf("declared key (maxRatePerPartition):  %.1f ns per lookup\n",
	       per_lookup(c, "spark.streaming.kafka.maxRatePerPartition", n));
	conf_free(c);
	return 0;
}
