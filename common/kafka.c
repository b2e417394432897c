/* Kafka parameters: see kafka.h. */
#include "kafka.h"
#include "alloc.h"
#include "api.h"
#include "sluice/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const kafka_sluice_keys[] = {
    "exactly_once",    "starting.offsets",  "commit.offsets",
    "poll.timeout.ms", "inject.fail_after", NULL,
};

static bool sluice_key(const char *k)
{
	for (int i = 0; kafka_sluice_keys[i]; i++)
		if (strcmp(k, kafka_sluice_keys[i]) == 0)
			return true;
	return false;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

int kafka_params_parse(const char *s, Sluice__Node__ParamsEntry ***out, size_t *n,
                       char *err, size_t errlen)
{
	char *copy = sl_strdup(s ? s : ""), *save = NULL;
	int rv = SL_OK;
	*out = NULL;
	*n = 0;
	for (char *tok = strtok_r(copy, ";", &save); tok;
	     tok = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(tok, '=');
		if (trim(tok)[0] == '\0')
			continue;
		if (eq == NULL) {
			snprintf(err, errlen, "kafka parameter '%s': expected key=value",
			         trim(tok));
			rv = SL_EINVAL;
			break;
		}
		*eq = '\0';
		Sluice__Node__ParamsEntry *e = sl_malloc(sizeof(*e));
		sluice__node__params_entry__init(e);
		e->key = sl_strdup(trim(tok));
		e->value = sl_strdup(trim(eq + 1));
		*out = sl_realloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = e;
	}
	sl_free(copy);
	return rv;
}

const char *kafka_param(const Sluice__Node *n, const char *key)
{
	for (size_t i = 0; i < n->n_params; i++)
		if (strcmp(n->params[i]->key, key) == 0)
			return n->params[i]->value;
	return NULL;
}

rd_kafka_conf_t *kafka_conf(const Sluice__Node *n, const char *const *extra, char *err,
                            size_t errlen)
{
	char msg[512];
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	for (size_t i = 0; i < n->n_params; i++) {
		const char *k = n->params[i]->key, *v = n->params[i]->value;
		if (sluice_key(k))
			continue;
		if (rd_kafka_conf_set(c, k, v, msg, sizeof(msg)) != RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "kafka property %s=%s: %s", k, v, msg);
			rd_kafka_conf_destroy(c);
			return NULL;
		}
	}
	for (int i = 0; extra && extra[i]; i += 2) {
		if (rd_kafka_conf_set(c, extra[i], extra[i + 1], msg, sizeof(msg)) !=
		    RD_KAFKA_CONF_OK) {
			snprintf(err, errlen, "kafka property %s=%s: %s", extra[i],
			         extra[i + 1], msg);
			rd_kafka_conf_destroy(c);
			return NULL;
		}
	}
	return c;
}

static int check_topics(const char *topics, char *err, size_t errlen)
{
	if (topics == NULL || topics[0] == '\0') {
		snprintf(err, errlen, "kafka: no topic given");
		return SL_EJOB;
	}
	for (const char *p = topics; *p; p++) {
		if (*p == ',' || *p == '.' || *p == '_' || *p == '-' ||
		    (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z'))
			continue;
		snprintf(err, errlen,
		         "kafka topic list '%s': topic names use [A-Za-z0-9._-]", topics);
		return SL_EJOB;
	}
	return SL_OK;
}

int kafka_check_node(const Sluice__Node *n, char *err, size_t errlen)
{
	bool sink = n->kind == SLUICE__NODE_KIND__OUT_KAFKA;
	if (check_topics(n->topics, err, errlen) != SL_OK)
		return SL_EJOB;
	if (kafka_param(n, "bootstrap.servers") == NULL) {
		snprintf(err, errlen, "%s: bootstrap.servers is required",
		         graph_kind_name(n->kind));
		return SL_EJOB;
	}
	rd_kafka_conf_t *c = kafka_conf(n, NULL, err, errlen);
	if (c == NULL)
		return SL_EJOB;
	rd_kafka_conf_destroy(c);
	const char *eo = kafka_param(n, "exactly_once");
	if (sink && eo != NULL && strcmp(eo, "true") == 0) {
		const char *tt = kafka_param(n, "transaction.timeout.ms");
		const char *mt = kafka_param(n, "message.timeout.ms");
		long long t = atoll(tt ? tt : KAFKA_TXN_TIMEOUT_DEFAULT);
		long long m = atoll(mt ? mt : KAFKA_MSG_TIMEOUT_DEFAULT);
		if (m >= t) {
			snprintf(err, errlen,
			         "kafka_sink: message.timeout.ms (%lld) must be less "
			         "than transaction.timeout.ms (%lld) for exactly_once",
			         m, t);
			return SL_EJOB;
		}
	}
	return SL_OK;
}
