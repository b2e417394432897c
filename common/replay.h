/*
 * Replay cache: every authenticated frame is accepted once.
 *
 * The MAC of a frame (envelope.h) proves who sent it, not that it is new: a
 * frame captured on the wire verifies again when sent again. The timestamp
 * window (ENVELOPE_MAX_SKEW_MS) bounds how long a captured frame stays
 * valid; this cache closes the window itself. A receiver remembers the MAC of
 * every request it accepted, for as long as that frame's timestamp is inside
 * the window, and refuses a MAC it has seen. Two honest frames never share a
 * MAC: the MAC covers the sender, the request id (random start per process,
 * see rpc.c), the millisecond timestamp and the payload.
 *
 * Restarts. A restarted receiver has forgotten what it saw, so it refuses
 * every frame stamped before it started (the "floor"): such a frame is a
 * replay, or an honest request that waited in a queue while we restarted,
 * or comes from a peer whose clock lags ours. That refusal has its own code
 * (SL_ESTALE) so that an honest sender can retry with a fresh frame
 * (rpc_call does, once). A restarted sender needs nothing: its new frames
 * have new MACs.
 *
 * Memory is bounded: the table grows up to max_entries; when it is full of
 * frames still inside the window, the floor is raised to the median
 * timestamp held and the older half is forgotten, so memory never exceeds the
 * bound and a forgotten frame is still refused (it is below the floor).
 *
 * One cache per receiving server (rpc_server). Thread-safe; every call is
 * O(1) amortised under a short internal mutex (no I/O under it).
 */
#ifndef SLUICE_REPLAY_H
#define SLUICE_REPLAY_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the MAC kept per frame: 128 bits make a chance collision of two
 * honest frames impossible in practice. */
#define REPLAY_TAG_LEN 16

typedef struct replay_cache replay_cache;

/* A cache whose floor is now_ms (frames stamped earlier are refused), that
 * forgets frames stamped more than window_ms ago and holds at most
 * max_entries frames (rounded up to a power of two, at least 1024). */
replay_cache *replay_new(int64_t now_ms, int64_t window_ms, size_t max_entries);
void replay_free(replay_cache *r);

/* Records a frame by its MAC (at least REPLAY_TAG_LEN bytes) and timestamp.
 * Returns SL_OK the first time; with a message in err, SL_EAUTH when the
 * MAC was seen before, SL_ESTALE when the timestamp is below the floor
 * (the sender may retry with a new frame: this one was not acted on). */
int replay_check(replay_cache *r, const uint8_t *mac, int64_t ts_ms, int64_t now_ms,
                 char *err, size_t errlen);

/* Frames held (for tests and stats). */
size_t replay_size(replay_cache *r);
/* Frames stamped before this time are refused. */
int64_t replay_floor(replay_cache *r);

#endif
