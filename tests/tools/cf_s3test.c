/*
 * cf_s3test.c - a test tool that drives cofferd's S3 blob store (server/blobs_s3.c) and its
 * S3 client (server/s3*.c) against a real S3 endpoint, one operation per run, for
 * tests/system/test_s3_blobs.sh. Test-only: built from the server's sources, never installed.
 *
 *   cf_s3test --uri URI [--tmp DIR] COMMAND ARGS...
 *
 * Through the blob store (cfd_blobs_open_s3; credentials from the environment, as cofferd):
 *   init                                create the bucket
 *   open                                check that the bucket is there and usable
 *   put ACCOUNT KIND NAME FILE          upload FILE as an object and commit it
 *   get ACCOUNT KIND NAME [OFF LEN]     the object (or a range) to stdout
 *   read ACCOUNT KIND NAME MAX          cfd_blobs_read() of the whole object to stdout
 *   size ACCOUNT KIND NAME              print the size
 *   rm ACCOUNT KIND NAME                remove an object
 *   rm-account ACCOUNT                  remove every object of an account
 *   clean-tmp                           cfd_blobs_clean_tmp()
 * Through the client alone (cfd_s3_open_uri: nothing is sent before the operation):
 *   raw-put KEY FILE [--if-none-match]  one PUT of FILE, its SHA-256 as x-amz-meta-sha256
 *   raw-head KEY                        print "SIZE SHA256-METADATA"
 *   raw-get KEY OFF LEN                 a range to stdout
 *   raw-del KEY                         DELETE
 *   list PREFIX                         print "KEY SIZE" for every key under PREFIX
 *   put-many PREFIX N THREADS           N small objects PREFIX00000.., THREADS at a time
 *
 * Exit status: 0 done, 1 failed (one line "cf_s3test: ..." on stderr), 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "blobs.h"
#include "crypto/crypto.h"
#include "s3.h"

#define COPY_BLOCK  65536
#define THREADS_MAX 16
#define USAGE       1 /* from the command dispatchers: wrong arguments */

struct args {
	const char *uri;
	const char *tmp;
	const char *cmd;
	char **pos;
	int npos;
};

static int
usage(void)
{
	(void)fputs("usage: cf_s3test --uri URI [--tmp DIR] COMMAND ARGS... (see the source)\n",
	            stderr);
	return 2;
}

static int
fail(int rc, const char *what)
{
	const char *m = cf_err_last();

	(void)fprintf(stderr, "cf_s3test: %s: %s\n", what, m[0] != '\0' ? m : cf_strerror(rc));
	return 1;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	return cf_parse_u64(s, 0, UINT64_MAX, out) == 0 ? 0 : -1;
}

static int
write_out(const uint8_t *p, size_t n)
{
	return fwrite(p, 1, n, stdout) == n ? 0 : cf_err_set(CF_ESYS, "cannot write stdout");
}

/* @len bytes at @off of @fd to stdout. */
static int
copy_fd(int fd, uint64_t off, uint64_t len)
{
	uint8_t buf[COPY_BLOCK];
	int rc = 0;

	while (len > 0 && rc == 0) {
		ssize_t n =
		        pread(fd, buf, len < sizeof(buf) ? (size_t)len : sizeof(buf), (off_t)off);

		if (n <= 0)
			return cf_err_set(CF_ESYS, "cannot read a spooled part");
		rc = write_out(buf, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return rc;
}

/* The hex SHA-256 of the whole file @fd. */
static int
file_sha(int fd, uint64_t *size, char hex[CFD_S3_SHA_HEX + 1])
{
	struct cf_hash_ctx *h = NULL;
	uint8_t hash[CF_HASH_BYTES];
	uint8_t buf[COPY_BLOCK];
	ssize_t n;
	int rc;

	*size = 0;
	if ((rc = cf_hash_ctx_new(&h)) != 0)
		return rc;
	while ((n = pread(fd, buf, sizeof(buf), (off_t)*size)) > 0) {
		cf_hash_ctx_update(h, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	cf_hash_ctx_final(h, hash);
	cf_hash_ctx_free(h);
	cf_hex(hex, hash, sizeof(hash));
	return n < 0 ? cf_err_set(CF_ESYS, "cannot read the file") : 0;
}

/* ---- through the blob store ---- */

static int
obj_key(char **pos, char *name, struct cfd_obj_key *k)
{
	enum cf_obj_kind kind;

	if (cf_obj_kind_parse(pos[1], &kind) != 0)
		return cf_err_set(CF_EINVAL, "unknown kind '%s'", pos[1]);
	(void)snprintf(name, CF_OBJ_NAME_MAX + 1, "%s", pos[2]);
	*k = (struct cfd_obj_key){pos[0], kind, name};
	return 0;
}

static int
upload_file(struct cfd_upload *u, int fd)
{
	uint8_t buf[COPY_BLOCK];
	uint8_t hash[CF_HASH_BYTES];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		int rc = cfd_upload_write(u, buf, (size_t)n);

		if (rc != 0)
			return rc;
	}
	if (n < 0)
		return cf_err_set(CF_ESYS, "cannot read the file");
	return cfd_upload_finish(u, hash);
}

static int
cmd_put(struct cfd_blobs *b, char **pos)
{
	struct cfd_upload *u = NULL;
	struct cfd_obj_key k;
	char name[CF_OBJ_NAME_MAX + 1];
	int fd = -1;
	int rc;

	if ((rc = obj_key(pos, name, &k)) != 0)
		return rc;
	fd = open(pos[3], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cf_err_set(CF_ESYS, "cannot open '%s'", pos[3]);
	if ((rc = cfd_upload_new(b, 0, &u)) == 0 && (rc = upload_file(u, fd)) == 0)
		rc = cfd_upload_commit(u, &k);
	cfd_upload_free(u);
	(void)close(fd);
	return rc;
}

static int
cmd_get(struct cfd_blobs *b, char **pos, int npos)
{
	struct cfd_blob_part part = {-1, 0, NULL, 0};
	struct cfd_obj_key k;
	char name[CF_OBJ_NAME_MAX + 1];
	uint64_t off = 0;
	uint64_t len = 0;
	int rc;

	if ((rc = obj_key(pos, name, &k)) != 0)
		return rc;
	if (npos == 5 && (parse_u64(pos[3], &off) != 0 || parse_u64(pos[4], &len) != 0))
		return cf_err_set(CF_EINVAL, "bad range");
	if (npos != 5 && (rc = cfd_blobs_size(b, &k, &len)) != 0)
		return rc;
	if ((rc = cfd_blobs_read_range(b, &k, off, len, &part)) != 0)
		return rc;
	/* say which way the bytes came, for the test to check both */
	(void)fprintf(stderr, "cf_s3test: part in %s\n", part.fd >= 0 ? "a file" : "memory");
	if (part.fd >= 0)
		rc = copy_fd(part.fd, part.off, part.len);
	else
		rc = write_out(part.mem, (size_t)part.len);
	cfd_blob_part_release(&part);
	return rc;
}

static int
cmd_read(struct cfd_blobs *b, char **pos)
{
	struct cfd_obj_key k;
	char name[CF_OBJ_NAME_MAX + 1];
	uint8_t *p = NULL;
	uint64_t max = 0;
	size_t len = 0;
	int rc;

	if ((rc = obj_key(pos, name, &k)) != 0)
		return rc;
	if (parse_u64(pos[3], &max) != 0)
		return cf_err_set(CF_EINVAL, "bad maximum");
	if ((rc = cfd_blobs_read(b, &k, (size_t)max, &p, &len)) == 0)
		rc = write_out(p, len);
	cf_free(p);
	return rc;
}

static int
cmd_key_op(struct cfd_blobs *b, const char *cmd, char **pos)
{
	struct cfd_obj_key k;
	char name[CF_OBJ_NAME_MAX + 1];
	uint64_t size = 0;
	int rc;

	if ((rc = obj_key(pos, name, &k)) != 0)
		return rc;
	if (strcmp(cmd, "rm") == 0)
		return cfd_blobs_remove(b, &k);
	if ((rc = cfd_blobs_size(b, &k, &size)) == 0)
		(void)printf("%llu\n", (unsigned long long)size);
	return rc;
}

static int
blob_cmd(struct cfd_blobs *b, const struct args *a)
{
	const char *c = a->cmd;

	if (strcmp(c, "init") == 0 || strcmp(c, "open") == 0)
		return a->npos == 0 ? 0 : USAGE;
	if (strcmp(c, "put") == 0 && a->npos == 4)
		return cmd_put(b, a->pos);
	if (strcmp(c, "get") == 0 && (a->npos == 3 || a->npos == 5))
		return cmd_get(b, a->pos, a->npos);
	if (strcmp(c, "read") == 0 && a->npos == 4)
		return cmd_read(b, a->pos);
	if ((strcmp(c, "size") == 0 || strcmp(c, "rm") == 0) && a->npos == 3)
		return cmd_key_op(b, c, a->pos);
	if (strcmp(c, "rm-account") == 0 && a->npos == 1)
		return cfd_blobs_remove_account(b, a->pos[0]);
	if (strcmp(c, "clean-tmp") == 0 && a->npos == 0)
		return cfd_blobs_clean_tmp(b);
	return USAGE;
}

static bool
is_blob_cmd(const char *c)
{
	static const char *const cmds[] = {"init", "open", "put",        "get",      "read",
	                                   "size", "rm",   "rm-account", "clean-tmp"};

	for (size_t i = 0; i < CF_ARRAY_LEN(cmds); i++) {
		if (strcmp(c, cmds[i]) == 0)
			return true;
	}
	return false;
}

/* ---- through the client ---- */

static int
cmd_raw_put(struct cfd_s3 *s, char **pos, int npos)
{
	struct cfd_s3_body body;
	bool inm = npos == 3 && strcmp(pos[2], "--if-none-match") == 0;
	int rc;

	if (npos == 3 && !inm)
		return cf_err_set(CF_EINVAL, "unknown option '%s'", pos[2]);
	memset(&body, 0, sizeof(body));
	body.fd = open(pos[1], O_RDONLY | O_CLOEXEC);
	if (body.fd < 0)
		return cf_err_set(CF_ESYS, "cannot open '%s'", pos[1]);
	if ((rc = file_sha(body.fd, &body.len, body.sha)) == 0)
		rc = cfd_s3_put(s, pos[0], &body, body.sha, inm);
	(void)close(body.fd);
	return rc;
}

static int
cmd_raw_head(struct cfd_s3 *s, char **pos)
{
	char sha[CFD_S3_SHA_HEX + 1];
	uint64_t size = 0;
	int rc = cfd_s3_head(s, pos[0], &size, sha);

	if (rc == 0)
		(void)printf("%llu %s\n", (unsigned long long)size, sha[0] != '\0' ? sha : "-");
	return rc;
}

static int
cmd_raw_get(struct cfd_s3 *s, char **pos)
{
	uint8_t *p = NULL;
	uint64_t off = 0;
	uint64_t len = 0;
	int rc;

	if (parse_u64(pos[1], &off) != 0 || parse_u64(pos[2], &len) != 0)
		return cf_err_set(CF_EINVAL, "bad range");
	if ((rc = cfd_s3_get_mem(s, pos[0], off, len, &p)) == 0)
		rc = write_out(p, (size_t)len);
	cf_free(p);
	return rc;
}

static int
print_key(void *arg, const char *key, uint64_t size)
{
	(void)arg;
	return printf("%s %llu\n", key, (unsigned long long)size) > 0 ? 0 : CF_ESYS;
}

struct many {
	struct cfd_s3 *s;
	const char *prefix;
	uint64_t n;
	uint64_t next;
	pthread_mutex_t lock;
	int rc;
	char err[512];
};

/* Each worker takes the next number until all are stored or one fails. */
static void *
many_worker(void *arg)
{
	struct many *m = arg;
	char key[CFD_S3_KEY_MAX + 1];
	struct cfd_s3_body body;

	for (;;) {
		uint8_t hash[CF_HASH_BYTES];
		uint64_t i;
		int rc;

		(void)pthread_mutex_lock(&m->lock);
		i = m->rc == 0 ? m->next++ : m->n;
		(void)pthread_mutex_unlock(&m->lock);
		if (i >= m->n)
			return NULL;
		(void)snprintf(key, sizeof(key), "%s%05llu", m->prefix, (unsigned long long)i);
		memset(&body, 0, sizeof(body));
		body.fd = -1;
		body.mem = (const uint8_t *)key;
		body.len = strlen(key);
		cf_hash(hash, key, strlen(key));
		cf_hex(body.sha, hash, sizeof(hash));
		if ((rc = cfd_s3_put(m->s, key, &body, NULL, false)) != 0) {
			(void)pthread_mutex_lock(&m->lock);
			if (m->rc == 0) {
				m->rc = rc;
				cf_err_copy(m->err, sizeof(m->err));
			}
			(void)pthread_mutex_unlock(&m->lock);
		}
	}
}

static int
cmd_put_many(struct cfd_s3 *s, char **pos)
{
	pthread_t t[THREADS_MAX];
	struct many m;
	uint64_t nt = 0;
	size_t started = 0;

	memset(&m, 0, sizeof(m));
	m.s = s;
	m.prefix = pos[0];
	if (parse_u64(pos[1], &m.n) != 0 || parse_u64(pos[2], &nt) != 0 || nt == 0 ||
	    nt > THREADS_MAX)
		return cf_err_set(CF_EINVAL, "bad count or thread count");
	if (pthread_mutex_init(&m.lock, NULL) != 0)
		return CF_ENOMEM;
	for (; started < nt; started++) {
		if (pthread_create(&t[started], NULL, many_worker, &m) != 0)
			break;
	}
	for (size_t i = 0; i < started; i++)
		(void)pthread_join(t[i], NULL);
	(void)pthread_mutex_destroy(&m.lock);
	if (started == 0)
		return cf_err_set(CF_ESYS, "cannot start a thread");
	if (m.rc != 0)
		cf_err_restore(m.err);
	return m.rc;
}

static int
raw_cmd(struct cfd_s3 *s, const struct args *a)
{
	const char *c = a->cmd;

	if (strcmp(c, "raw-put") == 0 && (a->npos == 2 || a->npos == 3))
		return cmd_raw_put(s, a->pos, a->npos);
	if (strcmp(c, "raw-head") == 0 && a->npos == 1)
		return cmd_raw_head(s, a->pos);
	if (strcmp(c, "raw-get") == 0 && a->npos == 3)
		return cmd_raw_get(s, a->pos);
	if (strcmp(c, "raw-del") == 0 && a->npos == 1)
		return cfd_s3_delete(s, a->pos[0]);
	if (strcmp(c, "list") == 0 && a->npos == 1)
		return cfd_s3_list(s, a->pos[0], print_key, NULL);
	if (strcmp(c, "put-many") == 0 && a->npos == 3)
		return cmd_put_many(s, a->pos);
	return USAGE;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
	int i = 1;

	memset(a, 0, sizeof(*a));
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--uri") == 0)
			a->uri = argv[i + 1];
		else if (strcmp(argv[i], "--tmp") == 0)
			a->tmp = argv[i + 1];
		else
			return -1;
	}
	if (a->uri == NULL || i >= argc)
		return -1;
	a->cmd = argv[i];
	a->pos = argv + i + 1;
	a->npos = argc - i - 1;
	return 0;
}

static int
run_blob(const struct args *a)
{
	struct cfd_blobs *b = NULL;
	int rc;

	if (a->tmp == NULL)
		return usage();
	rc = cfd_blobs_open_s3(a->uri, a->tmp, strcmp(a->cmd, "init") == 0, &b);
	if (rc != 0)
		return fail(rc, "open");
	rc = blob_cmd(b, a);
	cfd_blobs_close(b);
	if (rc == USAGE)
		return usage();
	return rc == 0 ? 0 : fail(rc, a->cmd);
}

static int
run_raw(const struct args *a)
{
	struct cfd_s3 *s = NULL;
	int rc;

	if ((rc = cfd_s3_open_uri(a->uri, &s)) != 0)
		return fail(rc, "open");
	rc = raw_cmd(s, a);
	cfd_s3_free(s);
	if (rc == USAGE)
		return usage();
	return rc == 0 ? 0 : fail(rc, a->cmd);
}

int
main(int argc, char **argv)
{
	struct args a;
	int status;

	if (parse_args(argc, argv, &a) != 0)
		return usage();
	if (cf_init() != 0)
		return fail(CF_EINTERNAL, "cannot initialise");
	status = is_blob_cmd(a.cmd) ? run_blob(&a) : run_raw(&a);
	if (fflush(stdout) != 0)
		return fail(CF_ESYS, "stdout");
	return status;
}
