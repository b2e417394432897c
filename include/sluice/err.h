/*
 * Error codes shared by the job API and the runtime.
 *
 * Every function that can fail returns an int: SL_OK (0) on success or a
 * negative sl_err. One X-macro generates the enum and the strings so the two
 * never drift apart (the pattern of libuv's UV_ERRNO_MAP).
 */
#ifndef SLUICE_ERR_H
#define SLUICE_ERR_H

#define SL_ERR_MAP(X)                                                                    \
	X(SL_OK, 0, "success")                                                           \
	X(SL_ENOMEM, -1, "out of memory")                                                \
	X(SL_EINVAL, -2, "invalid argument")                                             \
	X(SL_EIO, -3, "input/output error")                                              \
	X(SL_ETIMEDOUT, -4, "timed out")                                                 \
	X(SL_ECLOSED, -5, "closed")                                                      \
	X(SL_EPROTO, -6, "malformed message")                                            \
	X(SL_EVERSION, -7, "protocol version mismatch")                                  \
	X(SL_EAUTH, -8, "authentication failed")                                         \
	X(SL_ETOOBIG, -9, "message too large")                                           \
	X(SL_EUNKNOWN_TYPE, -10, "unknown message type")                                 \
	X(SL_ENOTFOUND, -11, "not found")                                                \
	X(SL_EEXIST, -12, "already exists")                                              \
	X(SL_ESTATE, -13, "not allowed in this state")                                   \
	X(SL_ECONFIG, -14, "bad configuration")                                          \
	X(SL_ETRANSPORT, -15, "transport error")                                         \
	X(SL_EINSECURE, -16, "insecure transport refused")                               \
	X(SL_EDB, -17, "state store error")                                              \
	X(SL_EJOB, -18, "bad job")                                                       \
	X(SL_EUSER, -19, "user function failed")                                         \
	X(SL_ENOSPC, -20, "no space left")                                               \
	X(SL_EBUSY, -21, "busy")                                                         \
	X(SL_ECANCELED, -22, "canceled")                                                 \
	X(SL_EKAFKA, -23, "kafka error")                                                 \
	X(SL_ESTALE, -24, "message older than the receiver's replay memory")

typedef enum {
#define SL_ERR_ENUM(name, val, str) name = val,
	SL_ERR_MAP(SL_ERR_ENUM)
#undef SL_ERR_ENUM
} sl_err;

/* Returns a static string for an error code; never NULL. */
const char *sl_strerror(int err);

/* Returns the symbolic name ("SL_EINVAL") of an error code; never NULL. */
const char *sl_errname(int err);

#endif
