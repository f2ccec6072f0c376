/*
 * repo_home.c - COFFER_HOME (device identity, verified chain heads), COFFER_CACHE, and the
 * small file helpers they need.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../device/device.h"
#include "repo.h"

#define HEAD_FILE_MAX 256
#define PASS_FILE_MAX 4096

/* Join a directory from the environment with a suffix; NULL when @base is unset or empty. */
static char *
join(const char *base, const char *suffix)
{
	size_t n = 0;
	char *p = NULL;

	if (base == NULL || *base == '\0')
		return NULL;
	n = strlen(base) + strlen(suffix) + 1;
	if ((p = cf_malloc(n)) == NULL)
		return NULL;
	(void)snprintf(p, n, "%s%s", base, suffix);
	return p;
}

/* Resolve a directory: option, then environment, then XDG variable, then ~/fallback. */
static int
resolve_dir(const struct cf_opts *o, const char *opt, const char *env, const char *xdg,
            const char *fallback, char **out)
{
	const char *v = cf_opts_get(o, opt);
	char *p = NULL;

	*out = NULL;
	if (v == NULL || *v == '\0')
		v = getenv(env);
	if (v != NULL && *v != '\0')
		p = cf_strdup(v);
	else if ((p = join(getenv(xdg), "/coffer")) == NULL)
		p = join(getenv("HOME"), fallback);
	if (p == NULL)
		return cf_err_set(CF_EINVAL, "cannot find a directory for %s: set %s", opt, env);
	*out = p;
	return 0;
}

int
cf_home_dir(const struct cf_opts *o, char **out)
{
	return resolve_dir(o, "home", "COFFER_HOME", "XDG_CONFIG_HOME", "/.config/coffer", out);
}

int
cf_cache_dir(const struct cf_opts *o, char **out)
{
	return resolve_dir(o, "cache", "COFFER_CACHE", "XDG_CACHE_HOME", "/.cache/coffer", out);
}

int
cf_mkdir_p(const char *path, unsigned mode)
{
	char *p = cf_strdup(path);
	int rc = 0;

	if (p == NULL)
		return CF_ENOMEM;
	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
			rc = cf_err_set(CF_ESYS, "cannot create directory '%s'", p);
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST)
		rc = cf_err_set(CF_ESYS, "cannot create directory '%s'", p);
out:
	cf_free(p);
	return rc;
}

int
cf_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd = -1;
	int rc = 0;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = errno == ENOENT ? CF_ENOENT : CF_ESYS;
		return cf_err_set(rc, "cannot open '%s'", path);
	}
	if (fstat(fd, &st) != 0) {
		rc = cf_err_set(CF_ESYS, "cannot stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		rc = cf_err_set(CF_ETOOBIG, "'%s' is not a regular file of at most %zu bytes", path,
		                max);
		goto out;
	}
	if ((buf = cf_malloc((size_t)st.st_size)) == NULL) {
		rc = CF_ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = cf_err_set(CF_ESYS, "cannot read '%s'", path);
			goto out;
		}
		got += (size_t)n;
	}
	*out = buf;
	*len = got;
	buf = NULL;
out:
	cf_free_wipe(buf, (size_t)st.st_size);
	(void)close(fd);
	return rc;
}

int
cf_lock_file(const char *path, int *fd)
{
	struct flock fl;

	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return cf_err_set(CF_ESYS, "cannot open '%s'", path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(*fd, F_SETLKW, &fl) != 0) {
		if (errno != EINTR) {
			(void)close(*fd);
			*fd = -1;
			return cf_err_set(CF_ESYS, "cannot lock '%s'", path);
		}
	}
	return 0;
}

int
cf_write_file_atomic(const char *path, const uint8_t *p, size_t len, unsigned mode)
{
	uint8_t rnd[8];
	char suffix[sizeof(".tmp.") + 2 * sizeof(rnd)];
	char *tmp = NULL;
	int fd = -1;
	int rc = 0;

	/* a name of its own: several processes of one device may write the same file at once */
	cf_random(rnd, sizeof(rnd));
	memcpy(suffix, ".tmp.", 5);
	cf_hex(suffix + 5, rnd, sizeof(rnd));
	if ((tmp = join(path, suffix)) == NULL)
		return CF_ENOMEM;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode)) < 0) {
		rc = cf_err_set(CF_ESYS, "cannot create '%s'", tmp);
		goto out;
	}
	if (cf_write_all(fd, p, len) != 0 || fsync(fd) != 0) {
		rc = cf_err_set(CF_ESYS, "cannot write '%s'", tmp);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = cf_err_set(CF_ESYS, "cannot write '%s'", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		rc = cf_err_set(CF_ESYS, "cannot rename '%s'", tmp);
out:
	if (fd >= 0)
		(void)close(fd);
	if (rc != 0)
		(void)unlink(tmp);
	cf_free(tmp);
	return rc;
}

/* Read the passphrase from "passphrase-file" / COFFER_PASSPHRASE_FILE (first line). */
static int
read_passphrase(const struct cf_opts *o, uint8_t **pass, size_t *len)
{
	const char *f = cf_opts_get(o, "passphrase-file");
	int rc;

	const char *typed = cf_opts_get(o, "passphrase");

	*pass = NULL;
	*len = 0;
	if (typed != NULL) {
		*len = strlen(typed);
		return (*pass = cf_memdup(typed, *len + 1)) == NULL ? CF_ENOMEM : 0;
	}
	if (f == NULL)
		f = getenv("COFFER_PASSPHRASE_FILE");
	if (f == NULL || *f == '\0')
		return 0;
	if ((rc = cf_read_file(f, PASS_FILE_MAX, pass, len)) != 0)
		return rc;
	while (*len > 0 && ((*pass)[*len - 1] == '\n' || (*pass)[*len - 1] == '\r'))
		(*len)--;
	return 0;
}

/* Make a new device identity named @name (or the host name) and save it to @path. */
static int
create_device(const char *path, const uint8_t *pass, size_t passlen, const char *name,
              struct cf_device **out)
{
	char host[65] = "device";
	struct cf_device *d = NULL;
	uint8_t *file = NULL;
	size_t flen = 0;
	int rc;

	if (name == NULL || *name == '\0') {
		if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
			(void)snprintf(host, sizeof(host), "device");
		host[sizeof(host) - 1] = '\0';
		name = host;
	}
	if ((rc = cf_device_new(name, &d)) != 0) {
		rc = cf_err_set(rc, "invalid device name '%s'", name);
		goto out;
	}
	if ((rc = cf_device_save(d, (const char *)pass, passlen, &file, &flen)) != 0)
		goto out;
	if ((rc = cf_write_file_atomic(path, file, flen, 0600)) != 0)
		goto out;
	*out = d;
	d = NULL;
out:
	cf_free_wipe(file, flen);
	cf_device_free(d);
	return rc;
}

int
cf_home_load_device(const char *home, const struct cf_opts *o, bool create, const char *name,
                    struct cf_device **out)
{
	char *path = join(home, "/device.key");
	uint8_t *file = NULL;
	uint8_t *pass = NULL;
	size_t flen = 0;
	size_t plen = 0;
	int rc;

	*out = NULL;
	if (path == NULL)
		return CF_ENOMEM;
	if ((rc = read_passphrase(o, &pass, &plen)) != 0)
		goto out;
	rc = cf_read_file(path, CF_DEVICE_FILE_MAX, &file, &flen);
	if (rc == CF_ENOENT && create) {
		if ((rc = cf_mkdir_p(home, 0700)) == 0)
			rc = create_device(path, pass, plen, name, out);
		goto out;
	}
	if (rc == CF_ENOENT) {
		rc = cf_err_set(CF_ENOKEY,
		                "no device identity in '%s' (run 'coffer init' or "
		                "'coffer recover')",
		                home);
		goto out;
	}
	if (rc != 0)
		goto out;
	if (cf_device_file_locked(file, flen) && pass == NULL) {
		rc = cf_err_set(CF_EINVAL,
		                "'%s' is passphrase-protected: set COFFER_PASSPHRASE_FILE", path);
		goto out;
	}
	if ((rc = cf_device_load(file, flen, (const char *)pass, plen, out)) != 0)
		rc = cf_err_set(rc == CF_EAUTH ? CF_ENOKEY : rc, "cannot load device key '%s': %s",
		                path, rc == CF_EAUTH ? "wrong passphrase" : cf_strerror(rc));
out:
	cf_free_wipe(file, flen);
	cf_free_wipe(pass, plen);
	cf_free(path);
	return rc;
}

/* The path of the head file of the chain with fingerprint @fp. */
static char *
head_path(const char *home, const uint8_t fp[static CF_HASH_BYTES], bool mkdirs)
{
	char hex[2 * CF_HASH_BYTES + 1];
	char *dir = NULL;
	char *path = NULL;
	size_t n = 0;

	cf_hex(hex, fp, CF_HASH_BYTES);
	n = strlen(home) + sizeof("/repos/") + sizeof(hex) + sizeof("/head");
	if ((dir = cf_malloc(n)) == NULL)
		return NULL;
	(void)snprintf(dir, n, "%s/repos/%s", home, hex);
	if (mkdirs && cf_mkdir_p(dir, 0700) != 0) {
		cf_free(dir);
		return NULL;
	}
	path = join(dir, "/head");
	cf_free(dir);
	return path;
}

/* Parse "head <seq> <64 hex>\n" into @seq and @hash. */
static int
parse_head(const uint8_t *file, size_t len, uint64_t *seq, uint8_t hash[static CF_HASH_BYTES])
{
	char line[HEAD_FILE_MAX + 1];
	char *sp = NULL;

	if (len > HEAD_FILE_MAX)
		return CF_EFORMAT;
	memcpy(line, file, len);
	line[len] = '\0';
	if (len < 5 + 1 + 1 + 64 + 1 || strncmp(line, "head ", 5) != 0 || line[len - 1] != '\n')
		return CF_EFORMAT;
	line[len - 1] = '\0';
	if ((sp = strchr(line + 5, ' ')) == NULL)
		return CF_EFORMAT;
	*sp = '\0';
	if (cf_parse_u64(line + 5, 0, UINT64_MAX, seq) != 0)
		return CF_EFORMAT;
	return cf_unhex(hash, CF_HASH_BYTES, sp + 1, strlen(sp + 1));
}

int
cf_home_check_head(const char *home, struct cf_chain_entry *const *entries, size_t n,
                   const struct cf_chain_state *cs)
{
	char *path = head_path(home, cs->fingerprint, false);
	uint8_t want[CF_HASH_BYTES];
	uint8_t *file = NULL;
	size_t flen = 0;
	uint64_t seq = 0;
	int rc;

	if (path == NULL)
		return CF_ENOMEM;
	rc = cf_read_file(path, HEAD_FILE_MAX, &file, &flen);
	if (rc == CF_ENOENT) {
		rc = 0; /* first contact: trust on first use, recorded after verification */
		goto out;
	}
	if (rc != 0)
		goto out;
	if (parse_head(file, flen, &seq, want) != 0) {
		rc = cf_err_set(CF_EFORMAT, "malformed chain head file '%s'", path);
		goto out;
	}
	if (seq >= n) {
		rc = cf_err_set(CF_EROLLBACK,
		                "device chain rolled back: this device has seen %llu entries, the "
		                "repository shows only %zu",
		                (unsigned long long)seq + 1, n);
		goto out;
	}
	if (memcmp(entries[seq]->hash, want, CF_HASH_BYTES) != 0)
		rc = cf_err_set(CF_EROLLBACK,
		                "device chain does not extend the one this device has seen (entry "
		                "%llu differs): fork or tampering",
		                (unsigned long long)seq);
out:
	cf_free(file);
	cf_free(path);
	return rc;
}

int
cf_home_record_head(const char *home, const struct cf_chain_state *cs)
{
	char *path = head_path(home, cs->fingerprint, true);
	char hex[2 * CF_HASH_BYTES + 1];
	char line[HEAD_FILE_MAX];
	int n;
	int rc;

	if (path == NULL)
		return cf_err_set(CF_ESYS, "cannot record the chain head in '%s'", home);
	cf_hex(hex, cs->head, CF_HASH_BYTES);
	n = snprintf(line, sizeof(line), "head %llu %s\n", (unsigned long long)cs->head_seq, hex);
	rc = cf_write_file_atomic(path, (const uint8_t *)line, (size_t)n, 0600);
	cf_free(path);
	return rc;
}

bool
cf_device_needs_passphrase(const struct cf_opts *o)
{
	const char *f = cf_opts_get(o, "passphrase-file");
	char *home = NULL;
	char *path = NULL;
	uint8_t *file = NULL;
	size_t len = 0;
	bool locked = false;

	if (cf_opts_get(o, "passphrase") != NULL || f != NULL ||
	    ((f = getenv("COFFER_PASSPHRASE_FILE")) != NULL && *f != '\0'))
		return false;
	if (cf_home_dir(o, &home) != 0 || (path = join(home, "/device.key")) == NULL)
		goto out;
	if (cf_read_file(path, CF_DEVICE_FILE_MAX, &file, &len) == 0)
		locked = cf_device_file_locked(file, len);
out:
	cf_err_clear();
	cf_free_wipe(file, len);
	cf_free(path);
	cf_free(home);
	return locked;
}
