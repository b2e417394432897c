/*
 * Process set-up shared by sluice-master, sluice-worker and the client:
 * command-line configuration (--properties-file F, --conf k=v), the cluster
 * secret and the RPC options that follow from the configuration.
 */
#ifndef SLUICE_PROC_H
#define SLUICE_PROC_H

#include "config.h"
#include "envelope.h"
#include "rpc.h"

/* Applies one command-line option if it is a configuration option:
 * "--conf k=v" / "--conf=k=v" / "--properties-file F". Returns 1 and
 * advances *i past consumed arguments when it was, 0 when the argument is
 * something else, or SL_ECONFIG with a message in err. */
int proc_conf_arg(sl_conf *c, int argc, char **argv, int *i, char *err, size_t errlen);

/* Loads the cluster secret or a role credential (envelope.h):
 * spark.authenticate.secret if set, else the file
 * sluice.authenticate.secretFile, else $SLUICE_SECRET_FILE, else
 * default_file (if not NULL; created with a fresh secret when create is
 * true). With create (the master), the root secret is required and the
 * role files are (re)written next to default_file. Errors name where it
 * looked. */
int proc_load_secret(const sl_conf *c, const char *default_file, bool create, auth_key *k,
                     char *err, size_t errlen);

/* Fills RPC options from the configuration (TLS files, insecure flag, frame
 * cap, timeout). The strings point into c. */
void proc_rpc_opts(const sl_conf *c, const auth_key *k, const char *identity,
                   rpc_opts *o);

/* Checks a URL given on the command line or in the configuration (NULL or
 * empty: nothing to check) with rpc_check_url under the transport settings
 * of c, so that usage errors are found before anything starts. The message
 * names the option (what). */
int proc_check_url(const sl_conf *c, const char *what, const char *url, char *err,
                   size_t errlen);

/* Sets up logging from sluice.log.level / sluice.log.file. */
int proc_log_setup(const sl_conf *c, const char *component, char *err, size_t errlen);

/* Installs SIGINT/SIGTERM handlers that set *flag; ignores SIGPIPE. */
void proc_signals(volatile int *flag);

/* mkdir -p with mode 0700 for state directories. */
int proc_mkdirs(const char *path, char *err, size_t errlen);
/* mkdir -p of the directory part of path (mode 0755, for output). */
int proc_mkdirs_parent(const char *path, char *err, size_t errlen);

#endif
