/* Logging: see log.h.
 *
 * Log injection: names, paths, keys and error messages from peers and users
 * reach log lines through printf arguments. Rather than trust every call
 * site to escape them, log_write escapes the whole formatted message in one
 * place (log_escape): control characters, DEL, C1 controls and bytes that
 * are not valid UTF-8 become \xNN and a backslash becomes \\, so a line
 * is always exactly one line, cannot move the cursor or recolour a
 * terminal, and cannot be mistaken for an escaped one. The message is cut
 * at LOG_MSG_MAX bytes, with a mark saying how much was cut.
 *
 * Keeping: the last LOG_KEEP_LINES lines stay in memory (a ring, read by
 * log_recent for `sluice logs`), and a log file is bounded on disk: past
 * log_set_max_size bytes it is renamed to FILE.1 (replacing the previous
 * one) and a new FILE is started, so at most twice the limit is kept. */
#include "log.h"
#include "sluice/err.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static log_level log_min = LOG_INFO;
static char log_component[32] = "sluice";

static const char *const log_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

/* Guards what follows (one short critical section per line). */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_path[1024]; /* "" when logging to stderr */
static size_t log_size;     /* bytes in the current file */
static size_t log_max;      /* 0 = unbounded */
static char *log_ring[LOG_KEEP_LINES];
static size_t log_ring_next, log_ring_n;

/* Length of a valid UTF-8 sequence at p (up to n bytes) that is not a C1
 * control character, or 0. */
static size_t utf8_printable(const unsigned char *p, size_t n)
{
	size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
	if (len == 0 || len > n || p[0] > 0xf4)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	uint32_t cp = len == 2   ? (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f)
	              : len == 3 ? (uint32_t)(p[0] & 0x0f) << 12 |
	                               (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f)
	                         : (uint32_t)(p[0] & 0x07) << 18 |
	                               (uint32_t)(p[1] & 0x3f) << 12 |
	                               (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp <= 0x9f)
		return 0;
	return len;
}

size_t log_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, i = 0;
	if (dstlen == 0)
		return 0;
	while (i < srclen) {
		size_t u = s[i] >= 0x80 ? utf8_printable(s + i, srclen - i) : 0;
		size_t need = u                               ? u
		              : (s[i] < 0x20 || s[i] >= 0x7f) ? 4
		              : s[i] == '\\'                  ? 2
		                                              : 1;
		if (o + need >= dstlen)
			break;
		if (u) {
			memcpy(dst + o, s + i, u);
		} else if (need == 4) {
			dst[o] = '\\';
			dst[o + 1] = 'x';
			dst[o + 2] = hex[s[i] >> 4];
			dst[o + 3] = hex[s[i] & 15];
		} else {
			dst[o] = '\\'; /* overwritten when need == 1 */
			dst[o + need - 1] = (char)s[i];
		}
		o += need;
		i += u ? u : 1;
	}
	dst[o] = '\0';
	return i;
}

int log_open(const char *component, log_level min, const char *path)
{
	if (component != NULL)
		snprintf(log_component, sizeof(log_component), "%s", component);
	log_min = min;
	if (path == NULL)
		return SL_OK;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return SL_EIO;
	log_fd = fd;
	pthread_mutex_lock(&log_mu);
	snprintf(log_path, sizeof(log_path), "%s", path);
	off_t end = lseek(fd, 0, SEEK_END);
	log_size = end > 0 ? (size_t)end : 0;
	pthread_mutex_unlock(&log_mu);
	return SL_OK;
}

void log_set_max_size(size_t bytes)
{
	pthread_mutex_lock(&log_mu);
	log_max = bytes;
	pthread_mutex_unlock(&log_mu);
}

void log_close(void)
{
	if (log_fd > 2)
		close(log_fd);
	log_fd = 2;
	pthread_mutex_lock(&log_mu);
	log_path[0] = '\0';
	for (size_t i = 0; i < LOG_KEEP_LINES; i++) {
		free(log_ring[i]);
		log_ring[i] = NULL;
	}
	log_ring_n = log_ring_next = 0;
	pthread_mutex_unlock(&log_mu);
}

/* FILE -> FILE.1, a new FILE on the same descriptor (log_mu held). A
 * failure leaves the current file growing (and is retried next line). */
static void log_rotate(void)
{
	char old[1100];
	snprintf(old, sizeof(old), "%s.1", log_path);
	if (rename(log_path, old) != 0)
		return;
	int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (dup2(fd, log_fd) >= 0)
		log_size = 0;
	close(fd);
}

/* Keeps the line (without its newline) and bounds the file. */
static void log_keep(const char *line, size_t len)
{
	char *copy = malloc(len + 1);
	if (copy != NULL) {
		memcpy(copy, line, len);
		copy[len] = '\0';
	}
	pthread_mutex_lock(&log_mu);
	free(log_ring[log_ring_next]);
	log_ring[log_ring_next] = copy;
	log_ring_next = (log_ring_next + 1) % LOG_KEEP_LINES;
	log_ring_n += log_ring_n < LOG_KEEP_LINES;
	log_size += len + 1;
	if (log_path[0] && log_max > 0 && log_size > log_max)
		log_rotate();
	pthread_mutex_unlock(&log_mu);
}

size_t log_recent(const char *since, bool (*match)(const char *line, void *arg),
                  void *arg, char **out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&log_mu);
	size_t first = (log_ring_next + LOG_KEEP_LINES - log_ring_n) % LOG_KEEP_LINES;
	for (size_t k = 0; k < log_ring_n && n < max; k++) {
		const char *l = log_ring[(first + k) % LOG_KEEP_LINES];
		if (l == NULL || strncmp(l, since, strlen(since)) < 0 ||
		    (match != NULL && !match(l, arg)))
			continue;
		if ((out[n] = strdup(l)) != NULL)
			n++;
	}
	pthread_mutex_unlock(&log_mu);
	return n;
}

int log_level_parse(const char *s)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	return -1;
}

void log_write(log_level lvl, const char *fmt, ...)
{
	if (lvl < log_min)
		return;
	char line[LOG_LINE_MAX];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n =
	    snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	             tm.tm_sec, (long)(tv.tv_usec / 1000), log_names[lvl], log_component);
	char msg[LOG_MSG_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	size_t mlen = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
	/* room for the escaped message and a cut mark */
	size_t room = sizeof(line) - (size_t)n - 40;
	size_t used = log_escape(line + n, room, msg, mlen);
	size_t len = strlen(line);
	if (used < (size_t)(m < 0 ? 0 : m))
		len += (size_t)snprintf(line + len, sizeof(line) - len,
		                        "...[%zu bytes cut]", (size_t)m - used);
	line[len++] = '\n';
	ssize_t w = write(log_fd, line, len);
	(void)w;
	log_keep(line, len - 1);
}
