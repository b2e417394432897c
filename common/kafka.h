/*
 * Kafka parameters shared by the client (checks at submit), the master (the
 * direct stream's offset planning) and the workers (consumers, producers).
 *
 * A job gives Kafka parameters as one string, "key=value;key=value". Keys
 * that librdkafka knows are passed to it (bootstrap.servers, group.id,
 * security settings, ...); a few keys are Sluice's own and are taken out
 * first (kafka_sluice_keys). Building a librdkafka configuration from the
 * parameters is the check: an unknown property or a bad value is refused
 * with librdkafka's message, naming the key.
 */
#ifndef SLUICE_KAFKA_H
#define SLUICE_KAFKA_H

#include "job.pb-c.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sluice's own keys (not given to librdkafka), NULL-terminated:
 *   exactly_once       sink: one transaction per (batch, output partition)
 *   starting.offsets   source: "topic:partition:offset,..." (explicit start)
 *   commit.offsets     source: commit processed offsets to group.id
 *   poll.timeout.ms    source: give up a range that does not arrive in time
 *   inject.fail_after  sink, fault injection for tests: the first attempt of
 *                      each task dies after N records, its transaction open */
extern const char *const kafka_sluice_keys[];

/* Parses "k=v;k=v" into node params (allocated with sl_malloc, owned by the
 * node; see api_build.c). SL_EINVAL with a message for a malformed pair. */
int kafka_params_parse(const char *s, Sluice__Node__ParamsEntry ***out, size_t *n,
                       char *err, size_t errlen);
/* A parameter's value, or NULL. */
const char *kafka_param(const Sluice__Node *n, const char *key);

/* Builds a librdkafka configuration from the node's parameters (without
 * Sluice's keys) plus `extra` ("k", "v", ..., NULL). NULL with librdkafka's
 * message in err when a property is unknown or its value bad. */
rd_kafka_conf_t *kafka_conf(const Sluice__Node *n, const char *const *extra, char *err,
                            size_t errlen);

/* Checks a kafka source or sink node as `sluice submit` does: the
 * parameters build a configuration, the topic names are valid, and for an
 * exactly-once sink message.timeout.ms < transaction.timeout.ms. */
int kafka_check_node(const Sluice__Node *n, char *err, size_t errlen);

/* transaction.timeout.ms used by exactly-once sinks unless set. */
#define KAFKA_TXN_TIMEOUT_DEFAULT "60000"
/* message.timeout.ms used by sinks unless set (must stay below the above). */
#define KAFKA_MSG_TIMEOUT_DEFAULT "30000"

#endif
