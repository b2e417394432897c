/*
 * Levelled logging with timestamps, to stderr or to a file.
 *
 * One line per call: "2026-11-21T12:00:00.123Z INFO  [component] message".
 * Thread-safe (one write(2) per line). log_open may be called once at start;
 * until then lines go to stderr at INFO.
 *
 * Arguments may come from outside (job and library names, paths,
 * configuration values, errors from peers): the formatted message is
 * escaped with log_escape before it is written, so one call is always one
 * line, with no terminal control sequences, of at most LOG_LINE_MAX bytes.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* The longest line written, and the longest message before escaping. */
#define LOG_LINE_MAX 2048
#define LOG_MSG_MAX  4096
/* Lines kept in memory for log_recent. */
#define LOG_KEEP_LINES 4096

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Sets the component tag, the minimum level and the output (NULL = stderr).
 * Returns SL_OK or SL_EIO when the file cannot be opened (stderr is kept). */
int log_open(const char *component, log_level min, const char *path);
void log_close(void);

/* Bounds the log file (log_open's path) to about bytes: past it the file is
 * renamed FILE.1 (replacing the previous FILE.1) and a new one begun. 0 =
 * unbounded (the default). No effect when logging to stderr. */
void log_set_max_size(size_t bytes);

/* Copies into out (at most max, oldest first) the lines kept in memory (the
 * last LOG_KEEP_LINES of this process) whose timestamp is not before since
 * (a prefix of the line format, "2026-11-21T12:00:00"; "" = all) and for
 * which match returns true (NULL = all). Each copy is malloc'd: free() it.
 * Returns how many. Thread-safe; match runs under the log's lock and must
 * not log. */
size_t log_recent(const char *since, bool (*match)(const char *line, void *arg),
                  void *arg, char **out, size_t max);

/* Parses "debug", "info", "warn", "error"; returns -1 when unknown. */
int log_level_parse(const char *s);

/* Copies up to srclen bytes of src into dst (NUL-terminated, at most
 * dstlen bytes with the NUL), escaping what could forge or garble a line:
 * bytes below 0x20, DEL, C1 controls and invalid UTF-8 as \xNN, and '\'
 * as "\\". Valid printable UTF-8 is kept. Returns how many bytes of src
 * were consumed (less than srclen when dst was too small). */
size_t log_escape(char *dst, size_t dstlen, const char *src, size_t srclen);

void log_write(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
