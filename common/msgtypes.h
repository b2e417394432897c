/*
 * The table of message types: number, name, and which role may send it.
 *
 * The envelope's `type` selects the payload schema. A receiver refuses types
 * it does not know (SL_EUNKNOWN_TYPE, logged with the number) and types the
 * sender's role may not send, so every message type is authorised on every
 * message, not only the first one of a connection.
 */
#ifndef SLUICE_MSGTYPES_H
#define SLUICE_MSGTYPES_H

#include <stdint.h>

/* Version of the wire protocol; bumped on any incompatible schema change. */
#define SLUICE_PROTOCOL_VERSION 1

/* Roles a sender may have. A type lists the roles allowed to send it.
 * ROLE_CLIENT is an operator (may change state), ROLE_READER a read-only
 * client; which one a client is comes from its credential (envelope.h). */
enum {
	ROLE_MASTER = 1 << 0,
	ROLE_WORKER = 1 << 1,
	ROLE_CLIENT = 1 << 2,
	ROLE_READER = 1 << 3,
	ROLE_LOOK = ROLE_CLIENT | ROLE_READER,
	ROLE_ANY = ROLE_MASTER | ROLE_WORKER | ROLE_CLIENT | ROLE_READER,
};

/* X(enum name, number, roles allowed to send) */
#define MSG_TYPE_MAP(X)                                                                  \
	X(MSG_ERROR, 1, ROLE_ANY)                                                        \
	X(MSG_PING, 2, ROLE_ANY)                                                         \
	X(MSG_PONG, 3, ROLE_ANY)                                                         \
	X(MSG_REGISTER_WORKER, 10, ROLE_WORKER)                                          \
	X(MSG_REGISTER_WORKER_REPLY, 11, ROLE_MASTER)                                    \
	X(MSG_HEARTBEAT, 12, ROLE_WORKER)                                                \
	X(MSG_HEARTBEAT_REPLY, 13, ROLE_MASTER)                                          \
	X(MSG_LIST_WORKERS, 20, ROLE_LOOK)                                               \
	X(MSG_LIST_WORKERS_REPLY, 21, ROLE_MASTER)                                       \
	X(MSG_SUBMIT_JOB, 30, ROLE_CLIENT)                                               \
	X(MSG_SUBMIT_JOB_REPLY, 31, ROLE_MASTER)                                         \
	X(MSG_LIST_JOBS, 32, ROLE_LOOK)                                                  \
	X(MSG_LIST_JOBS_REPLY, 33, ROLE_MASTER)                                          \
	X(MSG_JOB_CONTROL, 34, ROLE_CLIENT)                                              \
	X(MSG_JOB_CONTROL_REPLY, 35, ROLE_MASTER)                                        \
	X(MSG_BATCH_STATS, 36, ROLE_LOOK)                                                \
	X(MSG_BATCH_STATS_REPLY, 37, ROLE_MASTER)                                        \
	X(MSG_JOB_QUERY, 90, ROLE_LOOK)                                                  \
	X(MSG_JOB_QUERY_REPLY, 91, ROLE_MASTER)                                          \
	X(MSG_API_CALL, 92, ROLE_LOOK)                                                   \
	X(MSG_API_CALL_REPLY, 93, ROLE_MASTER)                                           \
	X(MSG_LOG_QUERY, 94, ROLE_MASTER)                                                \
	X(MSG_LOG_QUERY_REPLY, 95, ROLE_WORKER)                                          \
	X(MSG_FETCH_LIBRARY, 40, ROLE_WORKER)                                            \
	X(MSG_FETCH_LIBRARY_REPLY, 41, ROLE_MASTER)                                      \
	X(MSG_LAUNCH_TASK, 50, ROLE_MASTER)                                              \
	X(MSG_LAUNCH_TASK_REPLY, 51, ROLE_WORKER)                                        \
	X(MSG_TASK_STATUS, 52, ROLE_WORKER)                                              \
	X(MSG_TASK_STATUS_REPLY, 53, ROLE_MASTER)                                        \
	X(MSG_START_RECEIVER, 54, ROLE_MASTER)                                           \
	X(MSG_START_RECEIVER_REPLY, 55, ROLE_WORKER)                                     \
	X(MSG_STOP_RECEIVER, 56, ROLE_MASTER)                                            \
	X(MSG_STOP_RECEIVER_REPLY, 57, ROLE_WORKER)                                      \
	X(MSG_ADD_BLOCK, 58, ROLE_WORKER)                                                \
	X(MSG_ADD_BLOCK_REPLY, 59, ROLE_MASTER)                                          \
	X(MSG_REMOVE_BLOCKS, 60, ROLE_MASTER)                                            \
	X(MSG_REMOVE_BLOCKS_REPLY, 61, ROLE_WORKER)                                      \
	X(MSG_SET_RATE, 62, ROLE_MASTER)                                                 \
	X(MSG_SET_RATE_REPLY, 63, ROLE_WORKER)                                           \
	X(MSG_DROP_JOB, 64, ROLE_MASTER)                                                 \
	X(MSG_DROP_JOB_REPLY, 65, ROLE_WORKER)                                           \
	X(MSG_FETCH_BLOCK, 70, ROLE_WORKER | ROLE_MASTER)                                \
	X(MSG_FETCH_BLOCK_REPLY, 71, ROLE_WORKER)                                        \
	X(MSG_PUT_BLOCK, 72, ROLE_WORKER)                                                \
	X(MSG_PUT_BLOCK_REPLY, 73, ROLE_WORKER)

typedef enum {
#define MSG_TYPE_ENUM(name, num, roles) name = num,
	MSG_TYPE_MAP(MSG_TYPE_ENUM)
#undef MSG_TYPE_ENUM
} msg_type;

/* Name of a type ("MSG_HEARTBEAT"), or NULL when the number is unknown. */
const char *msg_type_name(uint32_t type);
/* Name of a single role bit ("worker", "reader"), "?" otherwise. */
const char *msg_role_name(int role);
/* Roles allowed to send the type; 0 when unknown. */
int msg_type_roles(uint32_t type);
/* Role a sender name claims: "master", "worker-N", "client[-...]" (an
 * operator or a reader: ROLE_LOOK); 0 if none. */
int msg_sender_role(const char *sender);

#endif
