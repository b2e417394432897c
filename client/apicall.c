/*
 * The CLI's door to the REST API: one REST operation (method, path, JSON
 * body) sent over the authenticated cluster RPC (MSG_API_CALL), run by the
 * master's own REST handler (rest.h), so every CLI command built on it
 * prints exactly what the API answers (with --json, the same JSON).
 */
#include "client.h"
#include "msgtypes.h"
#include "ops.pb-c.h"

#include <stdio.h>
#include <string.h>

cJSON *client_api(client *c, const char *method, const char *path, const char *query,
                  const cJSON *body)
{
	envelope rep;
	char *txt = body ? cJSON_PrintUnformatted(body) : NULL;
	Sluice__ApiCall q = SLUICE__API_CALL__INIT;
	q.method = (char *)method;
	q.path = (char *)path;
	q.query = (char *)(query ? query : "");
	q.body.data = (uint8_t *)txt;
	q.body.len = txt ? strlen(txt) : 0;
	int rv = client_call(c, MSG_API_CALL, &q, &rep);
	cJSON_free(txt);
	if (rv != EXIT_OK)
		return NULL;
	Sluice__ApiCallReply *r =
	    sluice__api_call_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	cJSON *o = r ? cJSON_Parse(r->json) : NULL;
	if (o == NULL) {
		fprintf(stderr, "sluice: malformed reply from the master\n");
	} else if (r->status < 200 || r->status > 299) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
		fprintf(stderr, "sluice: %s\n",
		        cJSON_IsString(e) ? e->valuestring : "request refused");
		cJSON_Delete(o);
		o = NULL;
	}
	if (r != NULL)
		sluice__api_call_reply__free_unpacked(r, NULL);
	return o;
}

const char *json_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

long long json_num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

void json_print(const cJSON *o, bool pretty)
{
	char *txt = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
	printf("%s\n", txt);
	cJSON_free(txt);
}
