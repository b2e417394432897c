/*
 * The table of every configuration key Sluice understands.
 *
 * It exists so that each key is declared exactly once, with its type, default,
 * bounds and meaning, and so that config.c can refuse unknown keys and bad
 * values for all of them uniformly. docs/configuration.md documents this table
 * row by row (tests/unit/test_config.c checks that the two agree); add a key
 * here and there together. Bounds are inclusive and in base units: bytes for
 * BYTES, milliseconds for DURATION. Keys named after Spark's keep Spark's
 * meaning and default.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>

#define KiB  1024.0
#define MiB  (1024.0 * KiB)
#define GiB  (1024.0 * MiB)
#define TiB  (1024.0 * GiB)
#define SEC  1000.0
#define MIN  (60.0 * SEC)
#define HOUR (60.0 * MIN)
#define DAY  (24.0 * HOUR)
#define NONE INFINITY

#define STORAGE_LEVELS                                                                   \
	"MEMORY_ONLY|MEMORY_ONLY_2|MEMORY_AND_DISK|MEMORY_AND_DISK_2|MEMORY_ONLY_SER|"   \
	"MEMORY_ONLY_SER_2|MEMORY_AND_DISK_SER|MEMORY_AND_DISK_SER_2"

/* A key with bounds (ignored for STRING and BOOL). */
#define KEY(n, t, d, lo, hi, text)                                                       \
	{                                                                                \
		.name = (n), .type = (t), .def = (d), .min = (lo), .max = (hi),          \
		.doc = (text)                                                            \
	}
/* A STRING key restricted to a list of values. */
#define CHOICE(n, d, list, text)                                                         \
	{                                                                                \
		.name = (n), .type = CONF_STRING, .def = (d), .doc = (text),             \
		.choices = (list)                                                        \
	}

static const conf_key keys[] = {
    /* Cluster: master and workers. */
    KEY("sluice.master.url", CONF_STRING, "tcp://127.0.0.1:7077", 0, 0,
        "master RPC URL that workers and clients dial"),
    KEY("sluice.master.host", CONF_STRING, "127.0.0.1", 0, 0,
        "address the master listens on"),
    KEY("sluice.master.port", CONF_INT, "7077", 0, 65535,
        "master RPC listen port (0 = any free port)"),
    KEY("sluice.http.port", CONF_INT, "8080", 0, 65535,
        "master HTTP port: REST API, web console, /metrics (0 = any free port)"),
    KEY("sluice.http.tls.cert", CONF_STRING, NULL, 0, 0,
        "PEM certificate of the master's HTTP port: with sluice.http.tls.key set, the "
        "REST API and /metrics are served over HTTPS only"),
    KEY("sluice.http.tls.key", CONF_STRING, NULL, 0, 0,
        "PEM private key matching sluice.http.tls.cert"),
    KEY("sluice.state.dir", CONF_STRING, "./sluice-state", 0, 0,
        "directory of the master's SQLite state (jobs, checkpoints, rules, history)"),
    KEY("sluice.worker.host", CONF_STRING, "127.0.0.1", 0, 0,
        "address the worker listens on and advertises to the master and peers"),
    KEY("sluice.worker.port", CONF_INT, "0", 0, 65535,
        "worker RPC port for block and shuffle fetches (0 = any free port)"),
    KEY("sluice.worker.http.port", CONF_INT, "0", 0, 65535,
        "worker HTTP port for /metrics (0 = any free port)"),
    KEY("sluice.worker.slots", CONF_INT, "2", 1, 1024, "task slots the worker offers"),
    KEY("sluice.worker.memory", CONF_BYTES, "1g", 16 * MiB, TiB,
        "the worker's memory budget, split into storage and execution"),
    KEY("sluice.worker.diskBudget", CONF_BYTES, "0", 0, NONE,
        "most bytes of blocks a worker keeps on disk; past it receivers stop reading "
        "(0 = half the free space of the work directory at start)"),
    KEY("sluice.worker.dir", CONF_STRING, "./sluice-worker", 0, 0,
        "worker work directory: blocks, spill files, WAL, job libraries"),
    KEY("sluice.heartbeat.interval", CONF_DURATION, "1s", 50, MIN,
        "how often workers send heartbeats to the master"),
    KEY("sluice.worker.timeout", CONF_DURATION, NULL, 100, HOUR,
        "silence after which the master declares a worker dead (unset = 3 x "
        "sluice.heartbeat.interval)"),
    /* Transport and security. */
    KEY("sluice.rpc.maxMessageSize", CONF_BYTES, "64m", 64 * KiB, GiB,
        "largest RPC message accepted; larger frames are refused before unpacking"),
    KEY("sluice.rpc.timeout", CONF_DURATION, "10s", 100, HOUR,
        "how long an RPC call waits for its reply"),
    KEY("sluice.transport.insecure", CONF_BOOL, "false", 0, 0,
        "allow plain tcp:// to non-loopback addresses (no TLS)"),
    KEY("sluice.tls.cert", CONF_STRING, NULL, 0, 0,
        "PEM certificate of this process for mutual TLS"),
    KEY("sluice.tls.key", CONF_STRING, NULL, 0, 0,
        "PEM private key matching sluice.tls.cert"),
    KEY("sluice.tls.ca", CONF_STRING, NULL, 0, 0,
        "PEM CA certificate that peer certificates must chain to"),
    KEY("spark.authenticate.secret", CONF_STRING, NULL, 0, 0,
        "cluster secret required by the client and state-changing REST calls"),
    KEY("sluice.authenticate.secretFile", CONF_STRING, NULL, 0, 0,
        "file holding the cluster secret (mode 0600); used when "
        "spark.authenticate.secret is unset"),
    /* Logging. */
    CHOICE("sluice.log.level", "info", "debug|info|warn|error", "lowest level logged"),
    KEY("sluice.log.file", CONF_STRING, NULL, 0, 0, "log file (unset = standard error)"),
    KEY("sluice.log.maxSize", CONF_BYTES, "64m", 64 * KiB, TiB,
        "log file size at which it is rotated to FILE.1 (at most twice this on disk)"),
    /* Jobs and scheduling. */
    KEY("sluice.batch.interval", CONF_DURATION, "1s", 10, HOUR,
        "the job's batch interval"),
    KEY("spark.streaming.checkpoint.interval", CONF_DURATION, NULL, 10, DAY,
        "how often each state partition (update_state_by_key, map_with_state) is "
        "checkpointed to disk, LZ4-compressed (unset = 10 x the batch interval)"),
    KEY("spark.streaming.blockInterval", CONF_DURATION, "200ms", 1, HOUR,
        "receivers cut received records into a block this often (and sooner once "
        "a block reaches the storage budget / 8, at most 8 MiB)"),
    KEY("spark.streaming.concurrentJobs", CONF_INT, "1", 1, 64,
        "output jobs of a streaming job allowed in flight at once"),
    CHOICE("spark.scheduler.mode", "FIFO", "FIFO|FAIR",
           "scheduling between concurrent jobs; FAIR is accepted but not implemented yet "
           "(FIFO is used)"),
    KEY("spark.task.maxFailures", CONF_INT, "4", 1, 1000,
        "attempts of one task before its job fails"),
    KEY("sluice.shuffle.partitions", CONF_INT, "0", 0, 100000,
        "default number of reducers of a shuffle (0 = total task slots)"),
    CHOICE("sluice.storage.level", "MEMORY_AND_DISK_SER_2", STORAGE_LEVELS,
           "storage level of received blocks"),
    KEY("spark.streaming.receiver.writeAheadLog.enable", CONF_BOOL, "false", 0, 0,
        "write received blocks to the write-ahead log (fsync) before acknowledging them"),
    KEY("spark.streaming.stopGracefullyOnShutdown", CONF_BOOL, "false", 0, 0,
        "on stop, process the data already received before stopping"),
    CHOICE("sluice.batch.onFailure", "stop", "stop|continue",
           "a batch failing after all task retries stops the job, keeping its input "
           "for a re-run (stop, as Spark), or is recorded and skipped (continue)"),
    KEY("sluice.pause.maxDuration", CONF_DURATION, "24h", SEC, 365 * DAY,
        "a job paused longer than this is stopped"),
    CHOICE("sluice.run.mode", "cluster", "standalone|cluster",
           "run configuration: the job's CUs on one worker (standalone) or any "
           "(cluster)"),
    KEY("sluice.run.cus", CONF_INT, "0", 0, 1000000,
        "run configuration: compute units the job needs, checked against free "
        "capacity at start (0 = none reserved)"),
    /* Channels (master/channels.c): set by the master on system jobs. */
    KEY("sluice.channels.library", CONF_STRING, NULL, 0, 0,
        "the channels' system job library (unset = ../lib/sluice_system.so next "
        "to sluice-master)"),
    KEY("sluice.channel.name", CONF_STRING, NULL, 0, 0,
        "system jobs only, set by the master: the channel the job serves"),
    CHOICE("sluice.channel.role", NULL, "write|read",
           "system jobs only, set by the master: data write or data read"),
    KEY("sluice.channel.topic", CONF_STRING, NULL, 0, 0,
        "system jobs only, set by the master: the channel's topic (user jobs read it)"),
    KEY("sluice.channel.dir", CONF_STRING, NULL, 0, 0,
        "system jobs only, set by the master: a directory channel's directory "
        "(user jobs read DIR/data)"),
    KEY("sluice.channel.brokers", CONF_STRING, NULL, 0, 0,
        "system jobs only, set by the master: the channel's Kafka bootstrap servers"),
    KEY("sluice.channel.source", CONF_STRING, NULL, 0, 0,
        "system jobs only, set by the master: where the data write job reads "
        "(kafka:TOPIC, socket:HOST:PORT, dir:PATH)"),
    /* Memory. */
    KEY("spark.memory.fraction", CONF_DOUBLE, "0.6", 0.01, 1,
        "share of the worker memory budget used for storage and execution"),
    KEY("spark.memory.storageFraction", CONF_DOUBLE, "0.5", 0, 1,
        "share of that memory reserved for storage (blocks) rather than execution"),
    KEY("spark.executor.memoryOverhead", CONF_BYTES, "64m", 0, TiB,
        "memory a worker reserves outside its budget for the process itself"),
    KEY("spark.driver.memoryOverhead", CONF_BYTES, "64m", 0, TiB,
        "memory the master reserves per job outside the budget for driving it"),
    KEY("sluice.cu.memory", CONF_BYTES, "512m", 16 * MiB, TiB,
        "memory share of one compute unit (1 CU = 1 task slot + this much memory)"),
    KEY("sluice.shuffle.spillThreshold", CONF_BYTES, "0", 0, TiB,
        "bytes a task's combine maps hold before they spill sorted runs to the work "
        "directory "
        "(0 = the task's share of execution memory)"),
    /* Rate control and backpressure. */
    KEY("spark.streaming.receiver.maxRate", CONF_INT, "0", 0, NONE,
        "most records per second each receiver accepts (0 = unlimited)"),
    KEY("spark.streaming.backpressure.enabled", CONF_BOOL, "false", 0, 0,
        "adapt the ingestion rate to the processing rate with the PID estimator"),
    KEY("spark.streaming.backpressure.initialRate", CONF_INT, "0", 0, NONE,
        "records per second allowed before the first rate estimate (0 = unset)"),
    KEY("sluice.backpressure.targetUtilization", CONF_DOUBLE, "0.85", 0.01, 1,
        "share of the estimated processing rate the receivers and the Kafka clamp "
        "use (1.0 = Spark's behaviour)"),
    KEY("spark.streaming.backpressure.pid.proportional", CONF_DOUBLE, "1.0", 0, NONE,
        "PID estimator: weight of the current error"),
    KEY("spark.streaming.backpressure.pid.integral", CONF_DOUBLE, "0.2", 0, NONE,
        "PID estimator: weight of the accumulated error (scheduling delay)"),
    KEY("spark.streaming.backpressure.pid.derived", CONF_DOUBLE, "0.0", 0, NONE,
        "PID estimator: weight of the error's rate of change"),
    KEY("spark.streaming.backpressure.pid.minRate", CONF_DOUBLE, "100", 0.001, NONE,
        "PID estimator: lowest rate it publishes (records per second)"),
    KEY("spark.streaming.kafka.maxRatePerPartition", CONF_INT, "0", 0, NONE,
        "most records per second read from one Kafka partition (0 = unlimited)"),
    KEY("spark.streaming.kafka.minRatePerPartition", CONF_INT, "1", 1, NONE,
        "least records per second read from one Kafka partition with a lag"),
    /* Alerts (master). */
    KEY("sluice.alerts.interval", CONF_DURATION, "10s", 100, HOUR,
        "how often alert conditions (Kafka lag) are evaluated"),
    KEY("sluice.alerts.timeout", CONF_DURATION, "10s", 100, 10 * MIN,
        "longest one delivery attempt (SMTP session, webhook call, command) may take"),
    KEY("sluice.alerts.retries", CONF_INT, "5", 0, 100,
        "retries of a failed delivery before it is recorded as failed"),
    KEY("sluice.alerts.backoff", CONF_DURATION, "1s", 10, HOUR,
        "wait before the first retry; doubled for each further one"),
    KEY("sluice.alerts.smtp.host", CONF_STRING, "127.0.0.1", 0, 0,
        "SMTP server that email alerts are sent through"),
    KEY("sluice.alerts.smtp.port", CONF_INT, "25", 1, 65535, "SMTP server port"),
    KEY("sluice.alerts.smtp.from", CONF_STRING, "sluice@localhost", 0, 0,
        "sender address of email alerts"),
    CHOICE("sluice.alerts.smtp.starttls", "try", "off|try|required",
           "STARTTLS to the SMTP server: off, when offered (try), or required"),
    KEY("sluice.alerts.smtp.user", CONF_STRING, NULL, 0, 0,
        "SMTP login (unset = no authentication)"),
    KEY("sluice.alerts.smtp.password", CONF_STRING, NULL, 0, 0,
        "SMTP password for sluice.alerts.smtp.user"),
    KEY("sluice.alerts.ca", CONF_STRING, NULL, 0, 0,
        "PEM CA bundle for STARTTLS and https:// webhooks (unset = the system bundle)"),
    /* Alerts (job). */
    KEY("sluice.alerts.states", CONF_STRING, "FAILED", 0, 0,
        "job states that raise an alert, comma-separated (PUBLISHED, RUNNING, PAUSED, "
        "STOPPED, FAILED)"),
    KEY("sluice.alerts.email.to", CONF_STRING, NULL, 0, 0,
        "email addresses (comma-separated) the job's alerts are mailed to"),
    KEY("sluice.alerts.webhook.url", CONF_STRING, NULL, 0, 0,
        "http:// or https:// URL the job's alerts are POSTed to as JSON"),
    KEY("sluice.alerts.exec.command", CONF_STRING, NULL, 0, 0,
        "absolute path of a command run per alert (JSON on stdin), e.g. an SMS gateway"),
    KEY("sluice.alerts.lag.total", CONF_INT, "0", 0, NONE,
        "alert when the job's Kafka lag summed over partitions exceeds this many "
        "records (0 = off); resolved at 90% or below"),
    KEY("sluice.alerts.lag.partition", CONF_INT, "0", 0, NONE,
        "alert when one partition's Kafka lag exceeds this many records (0 = off)"),
    KEY("sluice.alerts.exec.to", CONF_STRING, NULL, 0, 0,
        "recipients (comma-separated) of sluice.alerts.exec.command, one run each as "
        "argv[1]"),
    {.name = NULL},
};

const conf_key *conf_keys(void)
{
	return keys;
}
