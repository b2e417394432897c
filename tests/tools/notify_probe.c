/*
 * sluice-notify-probe: delivers alerts through master/notify.c and prints
 * each outcome, for integration/test_alerts_delivery.py.
 *
 *   sluice-notify-probe [--conf k=v]... KIND TARGET SUBJECT JSON [RECIPIENT]...
 *
 * KIND is email, webhook or exec. Prints one line per alert:
 *   done id=N kind=K rv=R attempts=A err=...
 * and exits 0 when it was delivered, 1 when it failed, 2 on usage errors.
 */
#include "config.h"
#include "notify.h"
#include "sluice/err.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool finished;
static int result;

static void on_done(void *arg, uint64_t id, notify_kind kind, int rv, int attempts,
                    const char *err)
{
	printf("done id=%llu kind=%s rv=%d attempts=%d err=%s\n", (unsigned long long)id,
	       notify_kind_name(kind), rv, attempts, err);
	fflush(stdout);
	pthread_mutex_lock(&mu);
	finished = true;
	result = rv;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
}

int main(int argc, char **argv)
{
	char err[512];
	sl_conf *conf = conf_new(CONF_STRICT);
	int i = 1;
	for (; i + 1 < argc && strcmp(argv[i], "--conf") == 0; i += 2)
		if (conf_set_kv(conf, argv[i + 1], err, sizeof(err)) != SL_OK) {
			fprintf(stderr, "notify-probe: %s\n", err);
			conf_free(conf);
			return 2;
		}
	int kind = i < argc ? notify_kind_parse(argv[i]) : -1;
	if (argc - i < 4 || kind < 0) {
		fprintf(stderr,
		        "usage: sluice-notify-probe [--conf k=v]... "
		        "email|webhook|exec TARGET SUBJECT JSON [RECIPIENT]...\n");
		conf_free(conf);
		return 2;
	}
	notifier *n = NULL;
	if (notifier_new(&n, conf, on_done, NULL, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "notify-probe: %s\n", err);
		conf_free(conf);
		return 2;
	}
	notify_msg m = {.alert_id = 1,
	                .kind = (notify_kind)kind,
	                .target = argv[i + 1],
	                .subject = argv[i + 2],
	                .json = argv[i + 3],
	                .recipients = (const char *const *)&argv[i + 4],
	                .nrecipients = (size_t)(argc - i - 4)};
	int rv = notify_send(n, &m, err, sizeof(err));
	if (rv != SL_OK) {
		printf("refused rv=%d err=%s\n", rv, err);
		notifier_free(n);
		conf_free(conf);
		return 1;
	}
	pthread_mutex_lock(&mu);
	while (!finished)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	notifier_free(n);
	conf_free(conf);
	return result == SL_OK ? 0 : 1;
}
