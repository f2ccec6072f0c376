/*
 * main.c - cofferd: argument parsing, `init` and `serve` (cmd.h).
 *
 * serve: SIGTERM and SIGINT are blocked in every thread and taken by the main thread with
 * sigtimedwait(), which also paces the timers (nonce pruning every minute, gc every hour).
 * On a signal the daemon stops accepting connections, requests in flight get up to --grace
 * seconds to finish, new requests on open connections get 503, and what is still running
 * then is cut off: an unfinished upload is discarded whole. The exit status is 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "cmd.h"
#include "gc.h"
#include "http.h"

#define PATH_CAP        4096
#define TICK_SECONDS    60
#define GC_SECONDS      3600
#define THREADS_DEFAULT 4u
#define THREADS_MAX     256u
#define TIMEOUT_DEFAULT 60u
#define GRACE_DEFAULT   30u
#define STOP_POLL_NS    50000000L

struct opt {
	const char *name;
	size_t offset;
};

static const struct opt opts[] = {
        {"--data", offsetof(struct cfd_args, data)},
        {"--listen", offsetof(struct cfd_args, listen)},
        {"--tls-cert", offsetof(struct cfd_args, tls_cert)},
        {"--tls-key", offsetof(struct cfd_args, tls_key)},
        {"--retention", offsetof(struct cfd_args, retention)},
        {"--threads", offsetof(struct cfd_args, threads)},
        {"--timeout", offsetof(struct cfd_args, timeout)},
        {"--grace", offsetof(struct cfd_args, grace)},
        {"--quota", offsetof(struct cfd_args, quota)},
        {"--meta", offsetof(struct cfd_args, meta)},
        {"--blobs", offsetof(struct cfd_args, blobs)},
};

int
cfd_args_parse(int argc, char **argv, int first, struct cfd_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = first; i < argc; i++) {
		const struct opt *o = NULL;

		for (size_t k = 0; k < CF_ARRAY_LEN(opts) && o == NULL; k++)
			o = strcmp(argv[i], opts[k].name) == 0 ? &opts[k] : NULL;
		if (o == NULL && strncmp(argv[i], "--", 2) == 0) {
			(void)fprintf(stderr, "cofferd: unknown option '%s'\n", argv[i]);
			return -1;
		}
		if (o == NULL) {
			if (a->npos == CFD_POS_MAX)
				return -1;
			a->pos[a->npos++] = argv[i];
			continue;
		}
		if (i + 1 >= argc) {
			(void)fprintf(stderr, "cofferd: option '%s' needs a value\n", argv[i]);
			return -1;
		}
		*(const char **)(void *)((char *)a + o->offset) = argv[++i];
	}
	return 0;
}

int
cfd_fail(int rc, const char *what)
{
	const char *m = cf_err_last();

	if (m[0] != '\0')
		(void)fprintf(stderr, "cofferd: %s: %s\n", what, m);
	else
		(void)fprintf(stderr, "cofferd: %s: %s\n", what, cf_strerror(rc));
	return CFD_EXIT_ERR;
}

static void
usage_to(FILE *f)
{
	(void)fputs(
	        "usage: cofferd init --data DIR [STORES]\n"
	        "       cofferd serve --data DIR [STORES] --listen HOST:PORT [--tls-cert F "
	        "--tls-key F]\n"
	        "                     [--retention 7d] [--threads N] [--timeout S] [--grace S]\n"
	        "       cofferd admin --data DIR [STORES] create-account NAME --quota SIZE\n"
	        "       cofferd admin --data DIR [STORES] list-accounts | list-deletions | gc\n"
	        "                     | delete-account NAME [--retention D]\n"
	        "  STORES: --meta postgres://USER@HOST:PORT/DB (password: PGPASSWORD or "
	        "PGPASSFILE)\n"
	        "          --blobs 's3://BUCKET?endpoint=http://HOST:PORT&region=R' (keys:\n"
	        "          AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
	        "COFFERD_S3_CREDENTIALS=FILE)\n"
	        "  DIR holds SQLite and the blobs by default, else only uploads in flight.\n"
	        "       cofferd version\n",
	        f);
}

int
cfd_usage(void)
{
	usage_to(stderr);
	return CFD_EXIT_USAGE;
}

int
cfd_data_path(char *out, size_t cap, const char *dir, const char *leaf)
{
	int n = snprintf(out, cap, "%s/%s", dir, leaf);

	if (n < 0 || (size_t)n >= cap)
		return cf_err_set(CF_EINVAL, "data directory name too long");
	return 0;
}

static int
cmd_init(const struct cfd_args *a)
{
	struct cfd_meta *m = NULL;
	struct cfd_blobs *b = NULL;
	int64_t retention = 0;
	int rc;

	if (a->data == NULL || a->npos != 1)
		return cfd_usage();
	if (mkdir(a->data, 0700) != 0 && errno != EEXIST)
		return cfd_fail(cf_err_set(CF_ESYS, "cannot create '%s'", a->data), "init");
	if (chmod(a->data, 0700) != 0)
		return cfd_fail(cf_err_set(CF_ESYS, "cannot chmod '%s'", a->data), "init");
	if ((rc = cfd_open_meta_any(a, true, &m)) != 0 ||
	    (rc = cfd_open_blobs_any(a, true, &b)) != 0)
		goto out;
	/* a shared database may already have one: keep what the operator set */
	if (a->meta == NULL || m->ops->setting_get(m, CFD_RETENTION_KEY, &retention) != 0)
		rc = m->ops->setting_set(m, CFD_RETENTION_KEY, CFD_RETENTION_DEFAULT);
	cf_err_clear();
out:
	cfd_blobs_close(b);
	cfd_meta_close(m);
	if (rc != 0)
		return cfd_fail(rc, "init");
	(void)printf("initialised '%s'\n", a->data);
	return CFD_EXIT_OK;
}

/* One serve per data directory: the database is shared with `admin`, the server is not. */
static int
lock_data(const char *dir, int *fd)
{
	struct flock fl;
	char path[PATH_CAP];
	int rc;

	if ((rc = cfd_data_path(path, sizeof(path), dir, "cofferd.lock")) != 0)
		return rc;
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0)
		return cf_err_set(CF_ESYS, "cannot open '%s'", path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(*fd, F_SETLK, &fl) != 0)
		return cf_err_set(CF_EEXIST, "another cofferd serves '%s'", dir);
	return 0;
}

struct serve_cfg {
	struct cfd_serve_opts http;
	int64_t retention;
	unsigned grace;
	bool shared; /* other instances use the same metadata */
};

static int
parse_uint(const char *s, unsigned def, unsigned min, unsigned max, const char *what, unsigned *out)
{
	uint64_t v = 0;

	*out = def;
	if (s == NULL)
		return 0;
	if (cf_parse_u64(s, min, max, &v) != 0)
		return cf_err_set(CF_EINVAL, "%s wants a number in %u..%u, not '%s'", what, min,
		                  max, s);
	*out = (unsigned)v;
	return 0;
}

static int
serve_config(const struct cfd_args *a, struct cfd_meta *m, struct serve_cfg *cfg)
{
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->http.listen = a->listen;
	cfg->http.tls_cert = a->tls_cert;
	cfg->http.tls_key = a->tls_key;
	if ((rc = parse_uint(a->threads, THREADS_DEFAULT, 1, THREADS_MAX, "--threads",
	                     &cfg->http.threads)) != 0 ||
	    (rc = parse_uint(a->timeout, TIMEOUT_DEFAULT, 1, 86400, "--timeout",
	                     &cfg->http.timeout)) != 0 ||
	    (rc = parse_uint(a->grace, GRACE_DEFAULT, 0, 3600, "--grace", &cfg->grace)) != 0)
		return rc;
	cfg->retention = CFD_RETENTION_DEFAULT;
	if (a->retention != NULL && cfd_parse_duration(a->retention, &cfg->retention) != 0)
		return cf_err_set(CF_EINVAL, "--retention wants a duration like 7d, not '%s'",
		                  a->retention);
	/* recorded so that `admin gc` and `admin list-deletions` use the same window */
	return m->ops->setting_set(m, CFD_RETENTION_KEY, cfg->retention);
}

static void
run_gc(struct cfd_server *srv, int64_t retention)
{
	struct cfd_gc_stats st = {0, 0, 0};
	int rc = cfd_gc_run(srv->meta, srv->blobs, retention, cfd_now(), &st);

	if (rc != 0)
		cfd_log("gc failed: %s", cf_err_last());
	else if (st.objects > 0 || st.failed > 0)
		cfd_log("gc: removed %" PRIu64 " objects (%" PRIu64 " bytes), %" PRIu64 " failed",
		        st.objects, st.bytes, st.failed);
}

/*
 * Finish what a crash left: every unfinished row when this instance is alone; when others
 * share the metadata, a PENDING row may be their upload in flight, so only rows older than
 * any upload can last are taken.
 */
static int
recover(struct cfd_server *srv, bool shared)
{
	struct cfd_gc_stats st = {0, 0, 0};
	int64_t cutoff = shared ? cfd_now() - CFD_PENDING_STALE : INT64_MAX;
	int rc = cfd_gc_recover(srv->meta, srv->blobs, cutoff, &st);

	if (rc == 0 && (st.objects > 0 || st.failed > 0))
		cfd_log("recovered %" PRIu64 " unfinished objects, %" PRIu64 " failed", st.objects,
		        st.failed);
	return rc;
}

static int
start_state(struct cfd_server *srv, bool shared)
{
	int rc;

	if ((rc = cfd_blobs_clean_tmp(srv->blobs)) != 0 || (rc = recover(srv, shared)) != 0)
		return rc;
	return 0;
}

/* Wait for a signal, running the timers meanwhile. */
static void
serve_loop(struct cfd_server *srv, const sigset_t *sigs, const struct serve_cfg *cfg)
{
	struct timespec tick = {TICK_SECONDS, 0};
	int64_t next_gc = cfd_now() + GC_SECONDS;

	for (;;) {
		int sig = sigtimedwait(sigs, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT) {
			cfd_log("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return;
		}
		if (srv->meta->ops->nonce_prune(srv->meta, cfd_now()) != 0)
			cfd_log("cannot prune nonces: %s", cf_err_last());
		if (cfd_now() >= next_gc) {
			run_gc(srv, cfg->retention);
			/* another instance may have died with uploads in flight */
			if (cfg->shared && recover(srv, true) != 0)
				cfd_log("recovery failed: %s", cf_err_last());
			next_gc = cfd_now() + GC_SECONDS;
		}
	}
}

/* Let requests in flight finish for up to @grace seconds (a second signal cuts it short). */
static void
drain(struct cfd_server *srv, const sigset_t *sigs, unsigned grace)
{
	struct timespec poll = {0, STOP_POLL_NS};
	int64_t until = cfd_now() + grace;

	atomic_store(&srv->stopping, true);
	cfd_http_quiesce(srv);
	while (atomic_load(&srv->in_flight) > 0 && cfd_now() < until) {
		int sig = sigtimedwait(sigs, NULL, &poll);

		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	if (atomic_load(&srv->in_flight) > 0)
		cfd_log("%" PRId64 " requests cut off", (int64_t)atomic_load(&srv->in_flight));
	cfd_http_stop(srv);
}

static int
serve_run(struct cfd_server *srv, const struct serve_cfg *cfg)
{
	sigset_t sigs;
	int rc;

	(void)sigemptyset(&sigs);
	(void)sigaddset(&sigs, SIGTERM);
	(void)sigaddset(&sigs, SIGINT);
	/* blocked before the daemon's threads exist, so they inherit the mask */
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0)
		return cf_err_set(CF_ESYS, "cannot block signals");
	if ((rc = start_state(srv, cfg->shared)) != 0)
		return rc;
	run_gc(srv, cfg->retention);
	if ((rc = cfd_http_start(srv, &cfg->http)) != 0)
		return rc;
	cfd_log("serving on %s (%s, %u threads, retention %" PRId64 " s)", cfg->http.listen,
	        cfg->http.tls_key != NULL ? "tls" : "plain http", cfg->http.threads,
	        cfg->retention);
	serve_loop(srv, &sigs, cfg);
	drain(srv, &sigs, cfg->grace);
	cfd_log("stopped");
	return 0;
}

static int
cmd_serve(const struct cfd_args *a)
{
	struct cfd_server srv;
	struct serve_cfg cfg;
	int lock = -1;
	int rc;

	if (a->data == NULL || a->listen == NULL || a->npos != 1)
		return cfd_usage();
	memset(&srv, 0, sizeof(srv));
	if ((rc = lock_data(a->data, &lock)) != 0 ||
	    (rc = cfd_open_meta_any(a, false, &srv.meta)) != 0 ||
	    (rc = cfd_open_blobs_any(a, false, &srv.blobs)) != 0 ||
	    (rc = serve_config(a, srv.meta, &cfg)) != 0)
		goto out;
	cfg.shared = cfd_meta_shared(a);
	rc = serve_run(&srv, &cfg);
out:
	cfd_http_stop(&srv);
	cfd_blobs_close(srv.blobs);
	cfd_meta_close(srv.meta);
	if (lock >= 0)
		(void)close(lock);
	return rc == 0 ? CFD_EXIT_OK : cfd_fail(rc, "serve");
}

/* The process setup every command shares: no core dumps (keys in memory), private files. */
static int
harden(void)
{
	struct rlimit rl = {0, 0};
	struct sigaction sa;

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return -1;
	(void)umask(077);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

int
main(int argc, char **argv)
{
	struct cfd_args a;

	if (harden() != 0 || cf_init() != 0) {
		(void)fputs("cofferd: cannot initialise\n", stderr);
		return CFD_EXIT_ERR;
	}
	if (argc < 2)
		return cfd_usage();
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage_to(stdout);
		return CFD_EXIT_OK;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		(void)printf("cofferd %s\n", CF_VERSION);
		return CFD_EXIT_OK;
	}
	if (cfd_args_parse(argc, argv, 1, &a) != 0)
		return cfd_usage();
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(&a);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(&a);
	if (strcmp(argv[1], "admin") == 0)
		return cfd_cmd_admin(&a);
	return cfd_usage();
}
