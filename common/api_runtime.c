/*
 * The runtime half of the job API: the calls user functions make on a
 * worker. Everything is a thin forward through the vtables in api.h, plus
 * the thread-local description of the running task.
 */
#include "alloc.h"
#include "api.h"

#include <string.h>

static _Thread_local const api_task *api_current;

typedef struct {
	const char *key, *value;
} conf_text;

static void conf_text_find(void *arg, const char *key, const char *value)
{
	conf_text *t = arg;
	if (strcmp(key, t->key) == 0)
		t->value = value;
}

const char *api_conf_lookup(const sl_conf *c, const char *key)
{
	static const char *const reserved[] = {"spark.", "sluice.", "kafka."};
	if (c == NULL || key == NULL)
		return NULL;
	const conf_key *k = conf_key_find(key);
	for (int i = 0; i < 3 && k == NULL; i++)
		if (strncmp(key, reserved[i], strlen(reserved[i])) == 0)
			return NULL;
	/* conf_get_str aborts on a declared key that is not a STRING: give the
	 * text as set, else the declared default. */
	if (k != NULL && k->type != CONF_STRING) {
		conf_text t = {.key = key};
		conf_foreach(c, conf_text_find, &t);
		return t.value ? t.value : k->def;
	}
	return conf_get_str(c, key);
}

void api_task_set(const api_task *t)
{
	api_current = t;
}

int sl_emit(sl_emitter *out, const void *key, size_t key_len, const void *value,
            size_t value_len, int64_t event_time_ms)
{
	if (key_len > UINT32_MAX / 2 || value_len > UINT32_MAX / 2)
		return SL_EINVAL;
	sl_record r = {
	    .key = key,
	    .key_len = (uint32_t)key_len,
	    .value = value,
	    .value_len = (uint32_t)value_len,
	    .event_time_ms = event_time_ms,
	};
	return out->emit(out, &r);
}

int sl_emit_value(sl_emitter *out, const void *value, size_t value_len)
{
	return sl_emit(out, NULL, 0, value, value_len, 0);
}

int sl_iter_next(sl_iter *it, sl_record *rec)
{
	return it->next(it, rec);
}

void sl_value_set(sl_value *out, const void *data, size_t len)
{
	if (len > out->cap) {
		out->data = sl_realloc(out->data, len);
		out->cap = (uint32_t)len;
	}
	if (len > 0)
		memcpy(out->data, data, len);
	out->len = (uint32_t)len;
}

int sl_state_exists(const sl_state *st)
{
	return st->exists;
}

const uint8_t *sl_state_get(const sl_state *st, uint32_t *len)
{
	if (len != NULL)
		*len = st->exists ? st->value.len : 0;
	return st->exists ? st->value.data : NULL;
}

int sl_state_update(sl_state *st, const void *data, size_t len)
{
	if (len > UINT32_MAX / 2)
		return SL_EINVAL;
	sl_value_set(&st->value, data, len);
	st->exists = true;
	st->changed = true;
	return SL_OK;
}

void sl_state_remove(sl_state *st)
{
	st->exists = false;
	st->changed = true;
}

int sl_state_is_timing_out(const sl_state *st)
{
	return st->timing_out;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int sl_list_next(const uint8_t *list, uint32_t len, uint32_t *off, const uint8_t **elem,
                 uint32_t *elem_len)
{
	if (*off == len)
		return 0;
	if (*off > len || len - *off < 4)
		return SL_EPROTO;
	uint32_t n = get_u32(list + *off);
	*off += 4;
	if (n == SL_LIST_NULL) {
		*elem = NULL;
		*elem_len = 0;
		return 1;
	}
	if (n > len - *off)
		return SL_EPROTO;
	*elem = list + *off;
	*elem_len = n;
	*off += n;
	return 1;
}

int64_t sl_task_batch_time(void)
{
	return api_current ? api_current->batch_ms : 0;
}

int sl_task_partition(void)
{
	return api_current ? api_current->partition : -1;
}

int sl_task_attempt(void)
{
	return api_current ? api_current->attempt : 0;
}

const char *sl_task_conf(const char *key)
{
	if (api_current == NULL)
		return NULL;
	return api_conf_lookup(api_current->conf, key);
}

/* Little-endian on every host; a fixed-size memcpy compiles to one load or
 * store on a little-endian machine (these run once per record in a count). */
void sl_i64_encode(int64_t v, uint8_t out[8])
{
	uint64_t u = (uint64_t)v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(out, &u, 8);
#else
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(u >> (8 * i));
#endif
}

int64_t sl_i64_decode(const uint8_t *p, uint32_t len)
{
	if (len != 8)
		return 0;
	uint64_t u = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&u, p, 8);
#else
	for (int i = 7; i >= 0; i--)
		u = (u << 8) | p[i];
#endif
	return (int64_t)u;
}
