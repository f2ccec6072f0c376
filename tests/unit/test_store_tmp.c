/*
 * test_store_tmp.c - staged puts (store.h cf_store_tmp_new() .. cf_store_put_tmp()): the
 * local store links the temporary file into place and leaves nothing in tmp/; a failed or
 * abandoned temporary file stores nothing and is removed; stale leftovers of a crash are
 * swept; a store without file support gets an anonymous file and a put of its bytes; the
 * cofferd client uploads from the file (against a minimal HTTP server on 127.0.0.1). And a
 * streamed pack writer on a temporary file: a write error is reported, nothing is stored.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "pack/pack.h"
#include "remote/remote.h"
#include "store/store.h"

#define NREQ     4
#define HEAD_MAX 4096

/* A file @name in @dir whose times are @age seconds in the past. */
static void
old_file(const char *dir, const char *name, time_t age)
{
	char *p = th_join(dir, name);
	struct timespec ts[2];
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CF_ASSERT(fd >= 0);
	CF_ASSERT(write(fd, "x", 1) == 1);
	ts[0].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = 0;
	ts[1] = ts[0];
	CF_ASSERT(futimens(fd, ts) == 0);
	close(fd);
	free(p);
}

/* A new local repository in a scratch directory; *@dir gets the scratch directory. */
static char *
new_repo(struct cf_store **s, char **dir)
{
	char *repo = NULL;

	*dir = th_scratch("stmp");
	repo = th_join(*dir, "repo");
	CHECK_EQ(cf_store_open_local(repo, true, s), 0);
	CHECK_EQ(cf_store_put(*s, CF_OBJ_CHAIN, "0000000000000000", (const uint8_t *)"g", 1), 0);
	return repo;
}

static void
repo_done(struct cf_store *s, char *repo, char *dir)
{
	cf_store_free(s);
	th_rm_tree(dir);
	free(repo);
	free(dir);
}

/* Write @p in pieces of @step bytes; *@sha gets its SHA-256 and @name its hex. */
static int
write_pieces(struct cf_store_tmp *t, const uint8_t *p, size_t len, size_t step,
             uint8_t sha[static 32], char name[static 65])
{
	int rc = 0;

	for (size_t off = 0; off < len && rc == 0; off += step)
		rc = cf_store_tmp_write(t, p + off, len - off < step ? len - off : step);
	cf_hash(sha, p, len);
	cf_hex(name, sha, 32);
	return rc;
}

/* Make writes to @t fail (EBADF) from now on. */
static void
break_fd(struct cf_store_tmp *t)
{
	int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);

	CF_ASSERT(ro >= 0);
	CF_ASSERT(dup2(ro, t->fd) == t->fd);
	close(ro);
}

/* ---- the local store ---- */

CF_TEST(local_put_tmp)
{
	struct cf_store *s = NULL;
	struct cf_store_tmp *t = NULL;
	struct cf_store_tmp *t2 = NULL;
	uint8_t data[100000];
	uint8_t sha[32];
	char name[65];
	uint8_t *out = NULL;
	size_t outlen = 0;
	char *dir = NULL;
	char *repo = new_repo(&s, &dir);

	th_randbuf(data, sizeof(data));
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	if (t == NULL)
		goto out;
	CHECK_EQ(th_count_entries(repo, "tmp"), 1);
	CHECK(strstr(t->where, "/repo/tmp/") != NULL);
	CHECK_EQ(write_pieces(t, data, sizeof(data), 7777, sha, name), 0);
	CHECK_EQ(t->len, sizeof(data));
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, sha), 0);
	CHECK(t->committed);
	CHECK_EQ(th_count_entries(repo, "tmp"), 0);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, name, 0, SIZE_MAX, SIZE_MAX, &out, &outlen), 0);
	CHECK(outlen == sizeof(data) && out != NULL && memcmp(out, data, outlen) == 0);
	/* committed: nothing more to write or put */
	CHECK_EQ(cf_store_tmp_write(t, data, 1), CF_EINVAL);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, sha), CF_EINVAL);
	cf_store_tmp_free(t);
	t = NULL;
	/* write-once: a second file under the same name is refused, and removed when freed */
	CHECK_EQ(cf_store_tmp_new(s, &t2), 0);
	if (t2 == NULL)
		goto out;
	CHECK_EQ(cf_store_tmp_write(t2, (const uint8_t *)"other", 5), 0);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t2, sha), CF_EEXIST);
	CHECK(!t2->committed);
	CHECK_EQ(th_count_entries(repo, "tmp"), 1);
	cf_store_tmp_free(t2);
	t2 = NULL;
	CHECK_EQ(th_count_entries(repo, "tmp"), 0);
	/* other kinds too; an invalid name is refused before anything happens */
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	if (t == NULL)
		goto out;
	CHECK_EQ(cf_store_tmp_write(t, data, 10), 0);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, "../x", t, sha), CF_EINVAL);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_INDEX, "abcd", t, sha), 0);
	CHECK(th_exists(repo, "index/abcd"));
out:
	cf_free(out);
	cf_store_tmp_free(t);
	cf_store_tmp_free(t2);
	repo_done(s, repo, dir);
}

/*
 * Direct I/O: an object of 3 MiB and a ragged tail, written in uneven pieces, goes through
 * the aligned stage in whole blocks and its tail through the page cache: the stored bytes
 * are exactly what was written, and the stage is empty afterwards.
 */
CF_TEST(local_direct_stage)
{
	struct cf_store *s = NULL;
	struct cf_store_tmp *t = NULL;
	size_t len = (3u << 20) + 123;
	uint8_t *data = malloc(len);
	uint8_t *back = NULL;
	size_t blen = 0;
	uint8_t sha[32];
	uint8_t got[32];
	char name[65];
	char *dir = NULL;
	char *repo = new_repo(&s, &dir);

	CHECK(data != NULL);
	if (data == NULL)
		goto out;
	th_randbuf(data, len);
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	if (t == NULL)
		goto out;
	CHECK_EQ(write_pieces(t, data, len, 777777, sha, name), 0);
	CHECK(t->len == len);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, sha), 0);
	CHECK(t->staged == 0 && !t->direct); /* the tail went through the page cache */
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, name, 0, SIZE_MAX, CF_PACK_MAX_BYTES, &back, &blen),
	         0);
	CHECK(blen == len);
	cf_hash(got, back, blen);
	CHECK(memcmp(got, sha, 32) == 0);
out:
	cf_free(back);
	free(data);
	cf_store_tmp_free(t);
	repo_done(s, repo, dir);
}

/* A write that fails marks the file: it cannot be put, nothing is stored, and it is removed. */
CF_TEST(local_failed_write)
{
	struct cf_store *s = NULL;
	struct cf_store_tmp *t = NULL;
	uint8_t data[4096];
	uint8_t sha[32];
	char name[65];
	uint64_t size = 0;
	char *dir = NULL;
	char *repo = new_repo(&s, &dir);
	int rc;

	th_randbuf(data, sizeof(data));
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	if (t == NULL)
		goto out;
	CHECK_EQ(write_pieces(t, data, 100, 100, sha, name), 0);
	break_fd(t);
	/* with direct I/O the bytes wait in the stage: the failure shows at the put */
	rc = cf_store_tmp_write(t, data, sizeof(data));
	if (rc == 0)
		rc = cf_store_put_tmp(s, CF_OBJ_PACK, name, t, sha);
	CHECK_EQ(rc, CF_ESYS);
	CHECK(strstr(cf_err_last(), "cannot write '") != NULL);
	CHECK(strstr(cf_err_last(), "/repo/tmp/") != NULL);
	CHECK(t->failed);
	CHECK_EQ(cf_store_tmp_write(t, data, 1), CF_EINVAL);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, sha), CF_EINVAL);
	CHECK_EQ(cf_store_size(s, CF_OBJ_PACK, name, &size), CF_ENOENT);
	CHECK_EQ(th_count_entries(repo, "packs"), 0);
	CHECK_EQ(th_count_entries(repo, "tmp"), 1);
	cf_store_tmp_free(t);
	t = NULL;
	CHECK_EQ(th_count_entries(repo, "tmp"), 0);
	/* abandoned without a failure: removed as well */
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	CHECK_EQ(cf_store_tmp_write(t, data, 10), 0);
	cf_store_tmp_free(t);
	t = NULL;
	CHECK_EQ(th_count_entries(repo, "tmp"), 0);
out:
	cf_store_tmp_free(t);
	repo_done(s, repo, dir);
}

/* A child process that holds a write lock on @path until killed; -1 on failure. */
static pid_t
hold_lock(const char *path)
{
	int ready[2];
	char c = 0;
	pid_t pid;

	if (pipe(ready) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct flock fl;
		int fd = open(path, O_RDWR | O_CLOEXEC);

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (pid > 0 && read(ready[0], &c, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(ready[0]);
	return pid;
}

/*
 * The first temporary file of an open store removes *.tmp files untouched for a day that no
 * live process holds locked; a crashed writer's lock is gone with it.
 */
CF_TEST(local_sweeps_stale)
{
	struct cf_store *s = NULL;
	struct cf_store_tmp *t = NULL;
	char *dir = NULL;
	char *repo = new_repo(&s, &dir);
	char *tmpdir = th_join(repo, "tmp");
	char *held = th_join(tmpdir, "89ab.tmp");
	pid_t pid;

	cf_store_free(s);
	s = NULL;
	old_file(tmpdir, "0123.tmp", 2 * 86400);
	old_file(tmpdir, "4567.tmp", 3600);
	old_file(tmpdir, "keep", 2 * 86400);
	old_file(tmpdir, "89ab.tmp", 2 * 86400);
	pid = hold_lock(held);
	CHECK(pid > 0);
	CHECK_EQ(cf_store_open_local(repo, false, &s), 0);
	CHECK_EQ(th_count_entries(repo, "tmp"), 4); /* opening alone removes nothing */
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	CHECK(!th_exists(tmpdir, "0123.tmp"));
	CHECK(th_exists(tmpdir, "4567.tmp"));
	CHECK(th_exists(tmpdir, "keep"));
	CHECK(th_exists(tmpdir, "89ab.tmp"));
	cf_store_tmp_free(t);
	t = NULL;
	CHECK_EQ(th_count_entries(repo, "tmp"), 3);
	cf_store_free(s);
	s = NULL;
	/* the holder dies: its file goes at the next store's first temporary file */
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	CHECK_EQ(cf_store_open_local(repo, false, &s), 0);
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	CHECK(!th_exists(tmpdir, "89ab.tmp"));
	/* our own file is locked against other processes */
	if (t != NULL) {
		struct flock fl;
		int fd = open(t->where, O_RDONLY | O_CLOEXEC);

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		pid = fork();
		if (pid == 0)
			_exit(fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_WRLCK ? 0 : 1);
		CHECK(pid > 0);
		if (pid > 0) {
			int st = 1;

			waitpid(pid, &st, 0);
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
		close(fd);
	}
	cf_store_tmp_free(t);
	free(held);
	free(tmpdir);
	repo_done(s, repo, dir);
}

/* A streamed pack on a temporary file: a write error comes back and nothing is stored. */
static int
tmp_sink(void *arg, const uint8_t *p, size_t len)
{
	return cf_store_tmp_write(arg, p, len);
}

CF_TEST(pack_on_tmp)
{
	struct cf_store *s = NULL;
	struct cf_store_tmp *t = NULL;
	struct cf_pack_writer *w = NULL;
	struct cf_boxkey *dk = NULL;
	uint8_t repo_id[32];
	uint8_t blob[3000];
	uint8_t id[32];
	uint8_t pid[32];
	char name[65];
	uint64_t len = 0;
	uint8_t *back = NULL;
	size_t blen = 0;
	char *dir = NULL;
	char *repo = new_repo(&s, &dir);
	int rc;

	cf_random(repo_id, sizeof(repo_id));
	th_randbuf(blob, sizeof(blob));
	memset(id, 7, sizeof(id));
	CHECK_EQ(cf_boxkey_new(&dk), 0);
	/* a good pack: stored under its SHA-256, bytes as written */
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	CHECK_EQ(cf_pack_writer_new_stream(repo_id, 0, cf_boxkey_pk(dk), tmp_sink, t, &w), 0);
	if (w == NULL || t == NULL)
		goto out;
	CHECK_EQ(cf_pack_writer_add(w, CF_BLOB_DATA, 0, id, sizeof(blob), blob, sizeof(blob)), 0);
	CHECK_EQ(cf_pack_writer_finish_stream(w, &len, pid), 0);
	CHECK_EQ(len, t->len);
	cf_hex(name, pid, 32);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, pid), 0);
	CHECK_EQ(cf_store_get(s, CF_OBJ_PACK, name, 0, SIZE_MAX, CF_PACK_MAX_BYTES, &back, &blen),
	         0);
	CHECK_EQ(blen, len);
	cf_hash(id, back, blen);
	CHECK(memcmp(id, pid, 32) == 0);
	cf_store_tmp_free(t);
	t = NULL;
	/* the next pack's file stops taking writes after the head */
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	if (t == NULL)
		goto out;
	CHECK_EQ(cf_pack_writer_restart(w, 0, cf_boxkey_pk(dk), tmp_sink, t), 0);
	break_fd(t);
	/* the failure shows at the add, the finish or (bytes staged for direct I/O) the put */
	rc = cf_pack_writer_add(w, CF_BLOB_DATA, 0, id, sizeof(blob), blob, sizeof(blob));
	if (rc == 0)
		rc = cf_pack_writer_finish_stream(w, &len, pid);
	if (rc == 0)
		rc = cf_store_put_tmp(s, CF_OBJ_PACK, name, t, pid);
	CHECK_EQ(rc, CF_ESYS);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, pid), CF_EINVAL);
	cf_store_tmp_free(t);
	t = NULL;
	CHECK_EQ(th_count_entries(repo, "tmp"), 0);
	CHECK_EQ(th_count_entries(repo, "packs"), 1); /* the fan-out directory of the good pack */
out:
	cf_free(back);
	cf_pack_writer_free(w);
	cf_store_tmp_free(t);
	cf_boxkey_free(dk);
	repo_done(s, repo, dir);
}

/* ---- a store without file support ---- */

struct mem_store {
	uint8_t *last;
	size_t last_len;
	int puts;
};

static int
mem_put(void *ctx, enum cf_obj_kind kind, const char *name, const uint8_t *p, size_t len)
{
	struct mem_store *m = ctx;

	(void)kind;
	(void)name;
	cf_free(m->last);
	m->last = cf_memdup(p, len > 0 ? len : 1);
	m->last_len = len;
	m->puts++;
	return m->last == NULL ? CF_ENOMEM : 0;
}

static void
mem_free(void *ctx)
{
	struct mem_store *m = ctx;

	cf_free(m->last);
	m->last = NULL;
}

/* An anonymous file in $TMPDIR (nothing stays there), read back into a plain put. */
CF_TEST(generic_anonymous)
{
	static const struct cf_store_ops ops = {.put = mem_put, .free = mem_free};
	struct mem_store m = {0};
	struct cf_store *s = NULL;
	struct cf_store_tmp *t = NULL;
	const char *old = getenv("TMPDIR");
	char *saved = old != NULL ? strdup(old) : NULL;
	char *dir = th_scratch("stmp");
	uint8_t data[50000];
	uint8_t sha[32];
	char name[65];

	th_randbuf(data, sizeof(data));
	CHECK_EQ(setenv("TMPDIR", dir, 1), 0);
	CHECK_EQ(cf_store_new(&ops, &m, "mem", &s), 0);
	if (saved != NULL)
		CHECK_EQ(setenv("TMPDIR", saved, 1), 0);
	else
		CHECK_EQ(unsetenv("TMPDIR"), 0);
	if (s == NULL)
		goto out;
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	if (t == NULL)
		goto out;
	CHECK(strncmp(t->where, dir, strlen(dir)) == 0);
	CHECK_EQ(th_count_entries(dir, "."), 0);
	CHECK_EQ(write_pieces(t, data, sizeof(data), 4096, sha, name), 0);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, sha), 0);
	CHECK(m.puts == 1 && m.last_len == sizeof(data) && m.last != NULL &&
	      memcmp(m.last, data, sizeof(data)) == 0);
	cf_store_tmp_free(t);
	t = NULL;
	/* a failed file is not put */
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	if (t == NULL)
		goto out;
	break_fd(t);
	CHECK_EQ(cf_store_tmp_write(t, data, 10), CF_ESYS);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, sha), CF_EINVAL);
	CHECK_EQ(m.puts, 1);
out:
	cf_store_tmp_free(t);
	cf_store_free(s);
	th_rm_tree(dir);
	free(dir);
	free(saved);
}

/* ---- the cofferd client, against a minimal HTTP server ---- */

struct srv {
	int lfd;
	int port;
	int nreq;
	int status[NREQ];
	char head[NREQ][HEAD_MAX]; /* request line and headers, lower-cased */
	uint8_t *body[NREQ];
	size_t body_len[NREQ];
	pthread_t th;
};

static void
lower(char *p)
{
	for (; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

static void
send_str(int fd, const char *s)
{
	size_t n = strlen(s);

	if (write(fd, s, n) != (ssize_t)n)
		return; /* the client went away; the test's checks tell */
}

/* Read one request (headers, then the body up to Content-Length or EOF), answer it. */
static void
serve_one(struct srv *sv, int i, int fd)
{
	static uint8_t buf[1 << 20];
	size_t have = 0;
	char *end = NULL;
	char *cl = NULL;
	size_t hlen;
	size_t want = 0;
	char ans[128];

	while (end == NULL && have < HEAD_MAX - 1) {
		ssize_t n = read(fd, buf + have, HEAD_MAX - 1 - have);

		if (n <= 0)
			return;
		have += (size_t)n;
		buf[have] = 0;
		end = strstr((char *)buf, "\r\n\r\n");
	}
	if (end == NULL)
		return;
	hlen = (size_t)(end + 4 - (char *)buf);
	memcpy(sv->head[i], buf, hlen);
	sv->head[i][hlen] = '\0';
	lower(sv->head[i]);
	if ((cl = strstr(sv->head[i], "content-length: ")) != NULL)
		want = strtoul(cl + 16, NULL, 10);
	if (strstr(sv->head[i], "expect: 100-continue") != NULL)
		send_str(fd, "HTTP/1.1 100 Continue\r\n\r\n");
	memmove(buf, buf + hlen, have - hlen);
	have -= hlen;
	while (have < want && have < sizeof(buf)) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);

		if (n <= 0)
			break;
		have += (size_t)n;
	}
	sv->body[i] = malloc(have > 0 ? have : 1);
	if (sv->body[i] != NULL)
		memcpy(sv->body[i], buf, have);
	sv->body_len[i] = have;
	(void)snprintf(ans, sizeof(ans),
	               "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
	               sv->status[i]);
	send_str(fd, ans);
}

static void *
srv_main(void *arg)
{
	struct srv *sv = arg;

	for (int i = 0; i < sv->nreq; i++) {
		int fd = accept(sv->lfd, NULL, NULL);

		if (fd < 0)
			break;
		serve_one(sv, i, fd);
		close(fd);
	}
	return NULL;
}

static bool
srv_start(struct srv *sv)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	sv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sv->lfd < 0)
		return false;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(sv->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(sv->lfd, 4) != 0 ||
	    getsockname(sv->lfd, (struct sockaddr *)&a, &alen) != 0)
		return false;
	sv->port = ntohs(a.sin_port);
	return pthread_create(&sv->th, NULL, srv_main, sv) == 0;
}

/*
 * A pack goes up from its file with the SHA-256 given (not recomputed) in its signed
 * header; a refusal is an error; a file that shrank is an error, not a short upload; a
 * small object of another kind is read back and put as usual.
 */
CF_TEST(remote_put_tmp)
{
	static struct srv sv;
	struct cf_store *s = NULL;
	struct cf_store_tmp *t = NULL;
	uint8_t data[200000];
	uint8_t sha[32];
	char name[65];
	char hdr[128];
	char url[64];

	memset(&sv, 0, sizeof(sv));
	sv.nreq = NREQ;
	sv.status[0] = 201;
	sv.status[1] = 403;
	sv.status[2] = 201;
	sv.status[3] = 201;
	th_randbuf(data, sizeof(data));
	if (!srv_start(&sv)) {
		CHECK(!"cannot start the test server");
		return;
	}
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/alice", sv.port);
	CHECK_EQ(cf_store_open_remote(url, NULL, &s), 0);
	if (s == NULL)
		goto out;
	cf_remote_set_retries(s, 1, 1);
	/* 1: stored */
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	if (t == NULL)
		goto out;
	CHECK_EQ(write_pieces(t, data, sizeof(data), 65536, sha, name), 0);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, sha), 0);
	CHECK(t->committed);
	cf_store_tmp_free(t);
	t = NULL;
	/* 2: refused; after a failure the same file may be put again */
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	if (t == NULL)
		goto out;
	CHECK_EQ(write_pieces(t, data, sizeof(data), 100000, sha, name), 0);
	CHECK(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, sha) < 0);
	CHECK(!t->committed);
	/* 3: the file shrank under the upload */
	CHECK_EQ(ftruncate(t->fd, 1000), 0);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_PACK, name, t, sha), CF_ETRUNC);
	CHECK(strstr(cf_err_last(), "shrank") != NULL);
	cf_store_tmp_free(t);
	t = NULL;
	/* 4: another kind, small */
	CHECK_EQ(cf_store_tmp_new(s, &t), 0);
	if (t == NULL)
		goto out;
	CHECK_EQ(write_pieces(t, data, 77, 10, sha, name), 0);
	CHECK_EQ(cf_store_put_tmp(s, CF_OBJ_KEYS, "abcd", t, sha), 0);
out:
	cf_store_tmp_free(t);
	cf_store_free(s);
	shutdown(sv.lfd, SHUT_RDWR);
	pthread_join(sv.th, NULL);
	close(sv.lfd);
	cf_hash(sha, data, sizeof(data));
	cf_hex(name, sha, 32);
	(void)snprintf(hdr, sizeof(hdr), "x-coffer-content-sha256: %s", name);
	CHECK(strncmp(sv.head[0], "put /v1/alice/packs/", 20) == 0);
	CHECK(strstr(sv.head[0], hdr) != NULL);
	CHECK(sv.body_len[0] == sizeof(data) && sv.body[0] != NULL &&
	      memcmp(sv.body[0], data, sizeof(data)) == 0);
	CHECK(strstr(sv.head[1], hdr) != NULL);
	CHECK(sv.body_len[2] < sizeof(data)); /* the shrunken upload never completed */
	CHECK(strncmp(sv.head[3], "put /v1/alice/keys/abcd ", 24) == 0);
	CHECK(sv.body_len[3] == 77 && sv.body[3] != NULL && memcmp(sv.body[3], data, 77) == 0);
	for (int i = 0; i < NREQ; i++)
		free(sv.body[i]);
}
