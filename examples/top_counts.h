/*
 * top_counts: a transform for word counts, shared by the examples. It sees a
 * batch's (word, i64 count) pairs in one call and emits the `print.num`
 * largest (ties by word), largest first, so print() shows the top words.
 * Included by each example (a job library is one .c file).
 */
#include <sluice/sluice.h>

#include <stdlib.h>
#include <string.h>

typedef struct {
	char *word;
	uint32_t len;
	int64_t count;
} wc_pair;

static int wc_cmp(const void *a, const void *b)
{
	const wc_pair *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	uint32_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->word, y->word, n);
	return c ? c : (int)x->len - (int)y->len;
}

int top_counts(int64_t batch_time_ms, sl_iter *in, sl_emitter *out)
{
	const char *num = sl_task_conf("print.num");
	size_t keep = num ? (size_t)atoi(num) : 10, n = 0, cap = 0;
	wc_pair *v = NULL;
	sl_record r;
	int rv = 0;
	while (sl_iter_next(in, &r)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			wc_pair *nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				rv = -1;
				goto out;
			}
			v = nv;
		}
		v[n].word = malloc(r.key_len ? r.key_len : 1);
		if (v[n].word == NULL) {
			rv = -1;
			goto out;
		}
		memcpy(v[n].word, r.key, r.key_len);
		v[n].len = r.key_len;
		v[n].count = sl_i64_decode(r.value, r.value_len);
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), wc_cmp);
	for (size_t i = 0; i < n && i < keep && rv == 0; i++) {
		uint8_t c[8];
		sl_i64_encode(v[i].count, c);
		rv = sl_emit(out, v[i].word, v[i].len, c, 8, batch_time_ms);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(v[i].word);
	free(v);
	return rv;
}
