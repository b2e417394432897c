/*
 * Unit tests for credentials and roles (common/auth.c, envelope.c): the
 * role files the master writes, what each credential may sign and send, and
 * that the credential, not the sender name, decides: a client token cannot
 * register a worker, the worker secret cannot submit or stop a job, a
 * reader token can only look.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "envelope.h"
#include "msgtypes.h"
#include "sluice/err.h"

#define CAP (1 << 20)

typedef struct {
	char dir[64];
	auth_key root, worker, operator, reader;
} fixture;

static const char *const files[] = {"worker.secret", "operator.token", "reader.token"};

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char err[256], path[128];
	snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-auth-XXXXXX");
	if (mkdtemp(f->dir) == NULL || auth_key_set(&f->root, "the-root-secret") != SL_OK)
		return -1;
	mode_t old = umask(0);
	int rv = auth_key_write_roles(&f->root, f->dir, err, sizeof(err));
	umask(old);
	if (rv != SL_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	auth_key *dst[] = {&f->worker, &f->operator, & f->reader };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		if (auth_key_load(dst[i], path, err, sizeof(err)) != SL_OK) {
			fprintf(stderr, "%s\n", err);
			return -1;
		}
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char path[128];
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		unlink(path);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Packs as sender with cred and unpacks at the master (root). */
static int at_master(fixture *f, const auth_key *k, int cred, uint32_t type,
                     const char *sender, char *err, size_t errlen)
{
	uint8_t *frame;
	size_t len;
	envelope env;
	int rv = cred < 0 ? envelope_pack(k, type, 1, sender, "", 0, &frame, &len)
	                  : envelope_pack_cred(k, (auth_cred)cred, type, 1, sender, "", 0,
	                                       &frame, &len);
	assert_int_equal(rv, SL_OK);
	rv = envelope_unpack(&f->root, frame, len, CAP, &env, err, errlen);
	sl_free(frame);
	if (rv == SL_OK)
		envelope_release(&env);
	return rv;
}

static void test_role_files(void **state)
{
	fixture *f = *state;
	char path[128], line[128];
	struct stat st;
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600); /* even under umask 0 */
	}
	/* each file holds exactly its one credential, equal to the root's */
	assert_int_equal(f->worker.have, 1u << AUTH_CRED_CLUSTER);
	assert_int_equal(f->operator.have, 1u << AUTH_CRED_OPERATOR);
	assert_int_equal(f->reader.have, 1u << AUTH_CRED_READER);
	assert_int_equal(f->worker.root_len, 0);
	assert_memory_equal(auth_key_cred(&f->worker, AUTH_CRED_CLUSTER),
	                    auth_key_cred(&f->root, AUTH_CRED_CLUSTER),
	                    AUTH_CRED_KEY_LEN);
	assert_memory_equal(auth_key_cred(&f->reader, AUTH_CRED_READER),
	                    auth_key_cred(&f->root, AUTH_CRED_READER), AUTH_CRED_KEY_LEN);
	/* the three keys differ */
	assert_memory_not_equal(auth_key_cred(&f->root, AUTH_CRED_CLUSTER),
	                        auth_key_cred(&f->root, AUTH_CRED_OPERATOR),
	                        AUTH_CRED_KEY_LEN);
	/* a role file cannot make more role files */
	char err[256];
	assert_int_equal(auth_key_write_roles(&f->worker, f->dir, err, sizeof(err)),
	                 SL_EAUTH);
	/* a damaged role file is refused by name */
	snprintf(path, sizeof(path), "%s/%s", f->dir, files[1]);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	fp = fopen(path, "w");
	line[30] = 'Z';
	fputs(line, fp);
	fclose(fp);
	auth_key k;
	assert_int_equal(auth_key_load(&k, path, err, sizeof(err)), SL_EAUTH);
	assert_non_null(strstr(err, "operator token needs 64 hex digits"));
}

/* What each process may sign: a credential only signs for its own role. */
static void test_signing(void **state)
{
	fixture *f = *state;
	uint8_t *frame;
	size_t len;
	assert_int_equal(auth_cred_for_sender(&f->worker, "worker-1"), AUTH_CRED_CLUSTER);
	assert_int_equal(auth_cred_for_sender(&f->worker, "client"), -1);
	assert_int_equal(auth_cred_for_sender(&f->operator, "worker-1"), -1);
	assert_int_equal(auth_cred_for_sender(&f->operator, "client"),
	                 AUTH_CRED_OPERATOR);
	assert_int_equal(auth_cred_for_sender(&f->reader, "client"), AUTH_CRED_READER);
	assert_int_equal(auth_cred_for_sender(&f->root, "client"), AUTH_CRED_OPERATOR);
	assert_int_equal(
	    envelope_pack(&f->worker, MSG_SUBMIT_JOB, 1, "client", "", 0, &frame, &len),
	    SL_EAUTH);
	assert_int_equal(envelope_pack(&f->operator, MSG_REGISTER_WORKER, 1, "worker", "",
	                               0, &frame, &len),
	                 SL_EAUTH);
}

/* A client token cannot register a worker or send worker messages. */
static void test_client_cannot_be_worker(void **state)
{
	fixture *f = *state;
	char err[512];
	uint32_t worker_types[] = {MSG_REGISTER_WORKER, MSG_HEARTBEAT, MSG_TASK_STATUS,
	                           MSG_ADD_BLOCK, MSG_FETCH_LIBRARY};
	for (size_t i = 0; i < sizeof(worker_types) / sizeof(worker_types[0]); i++) {
		assert_int_equal(at_master(f, &f->operator, AUTH_CRED_OPERATOR,
		                           worker_types[i], "worker-1", err, sizeof(err)),
		                 SL_EAUTH);
		assert_non_null(
		    strstr(err, "signed with the operator token (role operator)"));
		assert_non_null(strstr(err, msg_type_name(worker_types[i])));
		assert_int_equal(at_master(f, &f->reader, AUTH_CRED_READER,
		                           worker_types[i], "worker", err, sizeof(err)),
		                 SL_EAUTH);
	}
	/* nor act as the master towards a worker */
	assert_int_equal(at_master(f, &f->operator, AUTH_CRED_OPERATOR, MSG_LAUNCH_TASK,
	                           "master", err, sizeof(err)),
	                 SL_EAUTH);
	/* the worker secret may */
	assert_int_equal(
	    at_master(f, &f->worker, -1, MSG_REGISTER_WORKER, "worker", err, sizeof(err)),
	    SL_OK);
}

/* The worker secret cannot submit or stop a job, nor even list them. */
static void test_worker_cannot_be_client(void **state)
{
	fixture *f = *state;
	char err[512];
	uint32_t client_types[] = {MSG_SUBMIT_JOB, MSG_JOB_CONTROL, MSG_LIST_JOBS};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(at_master(f, &f->worker, AUTH_CRED_CLUSTER,
		                           client_types[i], "client", err, sizeof(err)),
		                 SL_EAUTH);
		assert_non_null(
		    strstr(err, "signed with the worker secret (role master/worker)"));
		assert_non_null(strstr(err, msg_type_name(client_types[i])));
	}
	assert_int_equal(
	    at_master(f, &f->operator, - 1, MSG_SUBMIT_JOB, "client", err, sizeof(err)),
	    SL_OK);
}

/* A reader token may look, not change. */
static void test_reader(void **state)
{
	fixture *f = *state;
	char err[512];
	uint32_t look[] = {MSG_PING, MSG_LIST_WORKERS, MSG_LIST_JOBS, MSG_BATCH_STATS};
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(
		    at_master(f, &f->reader, -1, look[i], "client", err, sizeof(err)),
		    SL_OK);
	assert_int_equal(
	    at_master(f, &f->reader, -1, MSG_SUBMIT_JOB, "client", err, sizeof(err)),
	    SL_EAUTH);
	assert_non_null(strstr(err,
	                       "signed with the reader token (role reader) may not send "
	                       "MSG_SUBMIT_JOB"));
	assert_int_equal(
	    at_master(f, &f->reader, -1, MSG_JOB_CONTROL, "client", err, sizeof(err)),
	    SL_EAUTH);
}

/* A reply is verified with the credential of the request. */
static void test_reply_cred(void **state)
{
	fixture *f = *state;
	uint8_t *frame;
	size_t len;
	envelope env;
	char err[256];
	assert_int_equal(envelope_pack_cred(&f->root, AUTH_CRED_READER,
	                                    MSG_LIST_JOBS_REPLY, 5, "master", "", 0,
	                                    &frame, &len),
	                 SL_OK);
	assert_int_equal(envelope_reply_cred(&f->root, frame, len), AUTH_CRED_CLUSTER);
	assert_int_equal(envelope_unpack_reply(&f->reader, AUTH_CRED_READER, frame, len,
	                                       CAP, &env, err, sizeof(err)),
	                 SL_OK);
	assert_int_equal(env.request_id, 5);
	envelope_release(&env);
	assert_int_equal(envelope_unpack_reply(&f->operator, AUTH_CRED_OPERATOR, frame,
	                                       len, CAP, &env, err, sizeof(err)),
	                 SL_EAUTH);
	sl_free(frame);
}

/* The tokens as a REST front end will take them. */
static void test_bearer_tokens(void **state)
{
	fixture *f = *state;
	char path[128], line[128];
	int want[] = {0, ROLE_CLIENT, ROLE_READER};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		FILE *fp = fopen(path, "r");
		assert_non_null(fp);
		assert_non_null(fgets(line, sizeof(line), fp));
		fclose(fp);
		/* the whole line, and the hex digits alone */
		assert_int_equal(auth_token_role(&f->root, line), want[i]);
		assert_int_equal(auth_token_role(&f->root, strchr(line, ':') + 1),
		                 want[i]);
	}
	assert_int_equal(auth_token_role(&f->root, ""), 0);
	assert_int_equal(auth_token_role(&f->root, "the-root-secret"), 0);
	assert_int_equal(auth_token_role(&f->root, NULL), 0);
	snprintf(path, sizeof(path), "%s/%s", f->dir, files[1]);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	line[20] = line[20] == 'a' ? 'b' : 'a'; /* one digit off */
	assert_int_equal(auth_token_role(&f->root, line), 0);
	/* a process holding only a reader token knows no operator token */
	assert_int_equal(auth_token_role(&f->reader, strchr(line, ':') + 1), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_role_files),
	    T(test_signing),
	    T(test_client_cannot_be_worker),
	    T(test_worker_cannot_be_client),
	    T(test_reader),
	    T(test_reply_cred),
	    T(test_bearer_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
