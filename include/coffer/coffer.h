/*
 * coffer/coffer.h - the public API of libcoffer: open or create a repository, back up,
 * list, restore, compare and check snapshots.
 *
 * Options are passed as a string multimap (struct cf_opts); everything the library has to
 * say while it works (progress, per-file errors, warnings, listing entries, differences,
 * check problems) reaches the caller as events through one callback. The library never
 * prints and never exits.
 */
#ifndef CF_COFFER_H
#define CF_COFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/common.h"

struct cf_opts;
struct cf_repo;
struct cf_snapshot;
struct cf_node;
struct cf_event;

/* ---- options ---- */

/* cf_opts_new() - an empty option set. 0 or CF_ENOMEM. */
CF_API int cf_opts_new(struct cf_opts **out) CF_MUST_CHECK;
CF_API void cf_opts_free(struct cf_opts *o);
/*
 * cf_opts_add() - append @value (copied) under @key. Keys used by the library:
 *   open:    "repo", "home", "cache", "passphrase-file", "recovery-key-file"
 *   init:    "device-name"
 *   backup:  "path" (repeat), "tag" (repeat), "host", "exclude" (repeat), "exclude-file",
 *            "one-file-system" ("1"), "dry-run" ("1"), "parent"
 *   restore: "target", "include" (repeat), "verify" ("1")
 *   ls:      "path", "long" ("1")
 *   check:   "read-data" ("1"), "read-data-subset" (a percentage: "5", "2.5%")
 *   filters: "host", "tag", "path" for snapshot lists
 * Returns 0 or CF_ENOMEM.
 */
CF_API int cf_opts_add(struct cf_opts *o, const char *key, const char *value) CF_MUST_CHECK;
/* cf_opts_get() - the last value given for @key, or NULL. */
CF_API const char *cf_opts_get(const struct cf_opts *o, const char *key);
/* cf_opts_nth() - the @i-th value (0-based) given for @key, or NULL past the end. */
CF_API const char *cf_opts_nth(const struct cf_opts *o, const char *key, size_t i);

/*
 * cf_device_needs_passphrase() - true when this device's key file ("home") is
 * passphrase-protected and no "passphrase", "passphrase-file" or COFFER_PASSPHRASE_FILE is
 * given, so the program should ask for one (and pass it as "passphrase").
 */
CF_API bool cf_device_needs_passphrase(const struct cf_opts *o);

/* ---- events ---- */

enum cf_event_kind {
	CF_EV_PROGRESS = 1, /* counters changed (throttled by the library to ~10 Hz) */
	CF_EV_ITEM_ERROR,   /* a file or object failed; the operation goes on */
	CF_EV_WARNING,      /* something worth saying (socket skipped, file changed while read) */
	CF_EV_ENTRY,        /* ls: one node, with its full path */
	CF_EV_CHANGE,  /* diff: one difference: code '+', '-', 'M' (content), 'U' (metadata), 'T'
	                  (type) */
	CF_EV_PROBLEM, /* check: one problem found */
};

enum cf_counter {
	CF_CTR_FILES_DONE = 1,
	CF_CTR_BYTES_DONE,
	CF_CTR_FILES_TOTAL, /* 0 while unknown */
	CF_CTR_BYTES_TOTAL, /* 0 while unknown */
	CF_CTR_ERRORS,
};

typedef void cf_event_fn(void *arg, const struct cf_event *ev);

CF_API enum cf_event_kind cf_event_kind(const struct cf_event *ev);
/* cf_event_path() - the item's path (bytes, may hold any byte but NUL), or NULL. */
CF_API const uint8_t *cf_event_path(const struct cf_event *ev, size_t *len);
/* cf_event_message() - the one-line message of an error, warning or problem; "" otherwise. */
CF_API const char *cf_event_message(const struct cf_event *ev);
/* cf_event_code() - an error's cf_err code, or the diff code character. */
CF_API int cf_event_code(const struct cf_event *ev);
/* cf_event_node() - the node of an ENTRY event (and the new node of a CHANGE), or NULL. */
CF_API const struct cf_node *cf_event_node(const struct cf_event *ev);
CF_API uint64_t cf_event_counter(const struct cf_event *ev, enum cf_counter which);

/* ---- nodes (directory entries) ---- */

enum cf_node_kind {
	CF_FILE = 1,
	CF_DIR = 2,
	CF_SYMLINK = 3,
	CF_HARDLINK = 4,
	CF_FIFO = 5,
	CF_CHARDEV = 6,
	CF_BLOCKDEV = 7,
};

CF_API enum cf_node_kind cf_node_kind(const struct cf_node *n);
/* cf_node_kind_name() - "file", "dir", "symlink", "hardlink", "fifo", "chardev", "blockdev". */
CF_API const char *cf_node_kind_name(enum cf_node_kind k);
CF_API const uint8_t *cf_node_name(const struct cf_node *n, size_t *len);
/* cf_node_mode() - permission and special bits (mode & 07777). */
CF_API uint32_t cf_node_mode(const struct cf_node *n);
CF_API uint32_t cf_node_uid(const struct cf_node *n);
CF_API uint32_t cf_node_gid(const struct cf_node *n);
CF_API const uint8_t *cf_node_user(const struct cf_node *n, size_t *len);
CF_API const uint8_t *cf_node_group(const struct cf_node *n, size_t *len);
CF_API uint64_t cf_node_size(const struct cf_node *n);
CF_API int64_t cf_node_mtime(const struct cf_node *n, uint32_t *nsec);
CF_API const uint8_t *cf_node_target(const struct cf_node *n, size_t *len);

/* ---- repository ---- */

/*
 * cf_repo_create() - create a repository at @o's "repo" (a directory path) and, when
 * COFFER_HOME ("home") holds no device identity yet, this device's identity. Writes
 * the recovery key's typable code (NUL-terminated) to @recovery_code (at least 70 bytes).
 * Returns 0, CF_EEXIST (a repository is already there), CF_EUSAGE (no or a wrong location or
 * token), CF_EINVAL, CF_ESYS or CF_ENOMEM.
 */
CF_API int cf_repo_create(const struct cf_opts *o, char *recovery_code, size_t cap) CF_MUST_CHECK;
/*
 * cf_repo_open() - open a repository: verify its device chain from genesis against the head
 * recorded in "home", open this device's key slots (or, with "recovery-key-file", the
 * recovery key's). Returns 0, CF_ENOREPO, CF_ENOKEY (no slot opens with this key),
 * CF_EROLLBACK (chain older than seen), CF_EINTEGRITY/CF_EAUTH (damage or tampering),
 * CF_EUSAGE (no location given), CF_ESYS or CF_ENOMEM. A local directory is opened before the
 * identity is loaded: a missing repository is CF_ENOREPO even with no identity yet.
 */
CF_API int cf_repo_open(const struct cf_opts *o, struct cf_repo **out) CF_MUST_CHECK;
CF_API void cf_repo_free(struct cf_repo *r);
/* cf_repo_fingerprint() - the genesis hash as 64 hex digits (@out: 65 bytes). */
CF_API void cf_repo_fingerprint(const struct cf_repo *r, char *out);

/* ---- devices (the device chain) ---- */

/* Asked before a device is added: its name, role ("full"/"backup-only") and pairing code. */
typedef bool cf_confirm_fn(void *arg, const char *name, const char *role, const char *code);

/* cf_repo_ndevices() - devices in the verified chain, removed ones included. */
CF_API size_t cf_repo_ndevices(const struct cf_repo *r);
/* Accessors of device @i (< cf_repo_ndevices): id (64 hex + NUL into @out), name, role,
 * who added it (a name, at most 64 chars + NUL), when, removed, this device. */
CF_API void cf_repo_device_id_hex(const struct cf_repo *r, size_t i, char *out);
CF_API const char *cf_repo_device_name(const struct cf_repo *r, size_t i);
CF_API const char *cf_repo_device_role(const struct cf_repo *r, size_t i);
CF_API void cf_repo_device_added_by(const struct cf_repo *r, size_t i, char *out);
CF_API int64_t cf_repo_device_added_at(const struct cf_repo *r, size_t i);
CF_API bool cf_repo_device_removed(const struct cf_repo *r, size_t i);
CF_API bool cf_repo_device_is_self(const struct cf_repo *r, size_t i);
/* cf_repo_head_code() - "<seq>:xxxx-xxxx-xxxx-xxxx" of the chain head (@out: 32 bytes). */
CF_API void cf_repo_head_code(const struct cf_repo *r, char *out);
/* cf_repo_self_public() - this device's X25519 public key, 64 hex + NUL (for --to). */
CF_API void cf_repo_self_public(const struct cf_repo *r, char *out);

/*
 * cf_devices_join() - on a new device: create its identity if needed and write a join request
 * ("role": "full" or "backup-only"). @code gets the pairing code (at least 20 bytes).
 * Returns 0, CF_EEXIST (already a member), CF_ENOREPO, CF_EUSAGE (a bad role, no location) or
 * an error.
 */
CF_API int cf_devices_join(const struct cf_opts *o, char *code, size_t cap) CF_MUST_CHECK;
/*
 * cf_devices_approve() - on a full device: find the join request with pairing code @code,
 * ask @confirm (NULL: no question), append add-device, write the key slots.
 * Returns 0, CF_ENOENT (no such request), CF_EINVAL (requests with the code ask for
 * different roles), CF_ECANCELED, CF_EPERM, CF_EEXIST or an error.
 */
CF_API int cf_devices_approve(struct cf_repo *r, const char *code, cf_confirm_fn *confirm,
                              void *arg) CF_MUST_CHECK;
/* cf_devices_revoke() - remove device @id (a prefix of 8+ hex digits) and rotate the data key. */
CF_API int cf_devices_revoke(struct cf_repo *r, const char *id) CF_MUST_CHECK;
/* cf_devices_rename() - rename device @id. */
CF_API int cf_devices_rename(struct cf_repo *r, const char *id, const char *name) CF_MUST_CHECK;
/*
 * cf_recover() - with "recovery-key-file": add this machine (its identity created in "home"
 * if needed) as a full device, signed by the recovery key.
 */
CF_API int cf_recover(const struct cf_opts *o) CF_MUST_CHECK;

/*
 * cf_recovery_rotate() - replace the recovery key: a new one, vouched for by a set-recovery
 * entry, then a new data epoch the old key cannot open. @code gets the new key's typable
 * code (at least 70 bytes). Full devices only. Returns 0, CF_EPERM, CF_EEXIST (another
 * device changed the chain meanwhile) or an error.
 */
CF_API int cf_recovery_rotate(struct cf_repo *r, char *code, size_t cap) CF_MUST_CHECK;

/* ---- snapshots ---- */

/*
 * cf_snapshots_list() - every snapshot matching the "host"/"tag"/"path" filters of @o,
 * verified and decrypted, oldest first. *@out: an array of @n snapshots freed with
 * cf_snapshots_free(). A damaged or forged snapshot object is left out, and named by
 * cf_snapshots_damaged_view(). Returns 0, CF_EPERM (this device cannot read snapshots),
 * CF_EINTEGRITY (the sequences show snapshots withheld or rolled back, or a verified one is
 * gone: cf_err_last), CF_ENOKEY (one is sealed to an epoch this device lacks), a store error
 * or CF_ENOMEM.
 */
CF_API int cf_snapshots_list(struct cf_repo *r, const struct cf_opts *o, struct cf_snapshot ***out,
                             size_t *n) CF_MUST_CHECK;
/*
 * cf_snapshots_damaged_view() - the @i-th snapshot object left out as damaged or forged since
 * @r was opened (by a listing, a find, a backup or a check): a message that names it,
 * borrowed from @r and valid until cf_repo_free(); NULL past the last. Not thread-safe
 * against other calls on @r.
 */
CF_API const char *cf_snapshots_damaged_view(const struct cf_repo *r, size_t i);
CF_API void cf_snapshots_free(struct cf_snapshot **list, size_t n);
/*
 * cf_snapshot_find() - resolve "latest", a full id or a unique prefix of at least 8 hex digits.
 * Returns 0, CF_ENOENT, CF_EUSAGE (malformed or ambiguous), CF_EINTEGRITY (the
 * snapshot asked for, or with "latest" any snapshot, is damaged), or as cf_snapshots_list().
 */
CF_API int cf_snapshot_find(struct cf_repo *r, const char *ref,
                            struct cf_snapshot **out) CF_MUST_CHECK;
CF_API void cf_snapshot_release(struct cf_snapshot *s);

/* Snapshot accessors. Ids are written as 64 hex digits plus NUL into @out (65 bytes). */
CF_API void cf_snapshot_id_hex(const struct cf_snapshot *s, char *out);
CF_API void cf_snapshot_tree_hex(const struct cf_snapshot *s, char *out);
CF_API void cf_snapshot_parent_hex(const struct cf_snapshot *s, char *out); /* "" when none */
CF_API void cf_snapshot_device_hex(const struct cf_snapshot *s, char *out);
CF_API int64_t cf_snapshot_time(const struct cf_snapshot *s, uint32_t *nsec);
CF_API const char *cf_snapshot_host(const struct cf_snapshot *s);
CF_API const char *cf_snapshot_username(const struct cf_snapshot *s);
CF_API size_t cf_snapshot_npaths(const struct cf_snapshot *s);
CF_API const char *cf_snapshot_path(const struct cf_snapshot *s, size_t i);
CF_API size_t cf_snapshot_ntags(const struct cf_snapshot *s);
CF_API const char *cf_snapshot_tag(const struct cf_snapshot *s, size_t i);
CF_API uint64_t cf_snapshot_seq(const struct cf_snapshot *s);

/* ---- retention (docs/format.md 16) ---- */

/*
 * cf_forget_plan() - decide which snapshots to keep: by the policy in @o ("keep-last",
 * "keep-within", "keep-hourly" .. "keep-yearly", "keep-tag"; filters "host", "tag", "path"),
 * or, with @nids > 0, forget exactly the snapshots @ids name. Nothing is written. Full
 * devices only. CF_EINVAL (with a message) for a bad or missing policy.
 */
struct cf_forget_plan;
CF_API int cf_forget_plan(struct cf_repo *r, const struct cf_opts *o, const char *const *ids,
                          size_t nids, struct cf_forget_plan **out) CF_MUST_CHECK;
CF_API void cf_forget_plan_free(struct cf_forget_plan *p);
/* The snapshots considered, oldest first; each kept or not, its group and the reasons. */
CF_API size_t cf_forget_plan_count(const struct cf_forget_plan *p);
CF_API const struct cf_snapshot *cf_forget_plan_snapshot(const struct cf_forget_plan *p, size_t i);
CF_API bool cf_forget_plan_keep(const struct cf_forget_plan *p, size_t i);
CF_API size_t cf_forget_plan_group(const struct cf_forget_plan *p, size_t i);
CF_API void cf_forget_plan_reasons(const struct cf_forget_plan *p, size_t i, char *out, size_t cap);
/* cf_forget_apply() - write the forget record, then delete the snapshots not kept. */
CF_API int cf_forget_apply(struct cf_repo *r, const struct cf_forget_plan *p,
                           size_t *removed) CF_MUST_CHECK;

enum cf_prune_stat {
	CF_PRUNE_PACKS_CONDEMNED = 0, /* phase 1: packs condemned by this run */
	CF_PRUNE_PACKS_REPACKED,      /* partly used packs whose live blobs were copied */
	CF_PRUNE_BYTES_REPACKED,
	CF_PRUNE_PACKS_DELETED, /* phase 2: condemned packs deleted */
	CF_PRUNE_BYTES_FREED,
	CF_PRUNE_BLOBS_RESURRECTED, /* live blobs a running backup reused, copied out */
	CF_PRUNE_PACKS_WAITING,     /* condemned packs whose record is not ripe yet */
	CF_PRUNE_NSTATS,
};
/*
 * cf_prune() - two-phase, lock-free prune (docs/format.md 16.4). Options: "dry-run",
 * "max-repack-size" (bytes, suffixes k/m/g), "grace" (a duration; default 24h). @stats gets
 * CF_PRUNE_NSTATS counters. Full devices only.
 */
CF_API int cf_prune(struct cf_repo *r, const struct cf_opts *o, cf_event_fn *fn, void *arg,
                    uint64_t stats[CF_PRUNE_NSTATS]) CF_MUST_CHECK;

/* ---- operations ---- */

/* Result of a backup. */
struct cf_backup_result;
/*
 * cf_backup() - back up the "path" options of @o into a new snapshot. Files that cannot be
 * read are reported as CF_EV_ITEM_ERROR and left out. Returns 0 (snapshot written),
 * CF_EPARTIAL (snapshot written, some files failed), CF_EUSAGE (a bad option), or another
 * error: none written, unless the failure came after it was stored (recording it as seen,
 * or the sequences or the snapshot read back showing the storage side withholding or
 * garbling it: CF_EINTEGRITY); *@res is not set then.
 * *@res (free with cf_backup_result_free) is set when a snapshot was written or dry-run.
 */
CF_API int cf_backup(struct cf_repo *r, const struct cf_opts *o, cf_event_fn *fn, void *arg,
                     struct cf_backup_result **res) CF_MUST_CHECK;
CF_API void cf_backup_result_free(struct cf_backup_result *res);
CF_API void cf_backup_result_id_hex(const struct cf_backup_result *res, char *out);
enum cf_stat {
	CF_STAT_FILES_NEW = 1,
	CF_STAT_FILES_CHANGED,
	CF_STAT_FILES_UNMODIFIED,
	CF_STAT_DIRS,
	CF_STAT_DATA_ADDED,
	CF_STAT_TOTAL_BYTES,
	CF_STAT_DURATION_NS,
	CF_STAT_FILES_CACHED, /* files taken from the local files cache without reading them */
	CF_STAT_BYTES_READ,   /* file bytes read and chunked by this run */
};
CF_API uint64_t cf_backup_result_stat(const struct cf_backup_result *res, enum cf_stat which);

/*
 * cf_restore() - restore @snap into "target" (created if missing; may be non-empty). Never
 * follows a symlink in the target. Every chunk is verified; a file with a damaged chunk is
 * reported (CF_EV_ITEM_ERROR), removed, and the rest restored. Returns 0, CF_EINTEGRITY
 * (some files damaged), CF_EPARTIAL (some files could not be written), or an error.
 */
CF_API int cf_restore(struct cf_repo *r, const struct cf_snapshot *snap, const struct cf_opts *o,
                      cf_event_fn *fn, void *arg) CF_MUST_CHECK;
/* cf_ls() - one CF_EV_ENTRY per node under "path" (default: all). 0 or an error. */
CF_API int cf_ls(struct cf_repo *r, const struct cf_snapshot *snap, const struct cf_opts *o,
                 cf_event_fn *fn, void *arg) CF_MUST_CHECK;
/* cf_diff() - one CF_EV_CHANGE per difference from @a to @b. 0 or an error. */
CF_API int cf_diff(struct cf_repo *r, const struct cf_snapshot *a, const struct cf_snapshot *b,
                   cf_event_fn *fn, void *arg) CF_MUST_CHECK;
/*
 * cf_check() - verify the chain, key slots, index, snapshots and every tree; with
 * "read-data" also every pack byte; with "read-data-subset" P, every byte of the P% of the
 * packs verified least recently (docs/format.md 16.5). Packs found intact are recorded in
 * COFFER_CACHE. Problems are CF_EV_PROBLEM events; while reading data, CF_EV_PROGRESS
 * counts packs (CF_CTR_FILES_*) and their bytes, the last event gives the packs read.
 * Returns 0 (clean), CF_EINTEGRITY (problems found), CF_EINVAL (bad options, as
 * cf_check_validate) or an error that stopped the check.
 */
CF_API int cf_check(struct cf_repo *r, const struct cf_opts *o, cf_event_fn *fn,
                    void *arg) CF_MUST_CHECK;
/*
 * cf_check_validate() - check @o's options of cf_check() without a repository: a
 * "read-data-subset" that is not a number 0 < P <= 100 (optionally followed by '%'), or
 * given with "read-data". Returns 0 or CF_EINVAL with a one-line message. Thread-safe.
 */
CF_API int cf_check_validate(const struct cf_opts *o) CF_MUST_CHECK;

/*
 * cf_undelete() - on a cofferd repository, bring back every object a full device deleted
 * that the server still keeps (its retention window). *@count: how many. Full devices only.
 * Returns 0, CF_EINVAL (not a cofferd repository), CF_EPERM or an error.
 */
CF_API int cf_undelete(struct cf_repo *r, uint64_t *count) CF_MUST_CHECK;

/* cf_version() - the library version string. */
CF_API const char *cf_version(void);
/* cf_format_version() - the repository format version this library writes. */
CF_API int cf_format_version(void);

#endif
