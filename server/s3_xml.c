/*
 * s3_xml.c - the XML of S3 answers (s3.h): ListObjectsV2 pages, the upload id of a new
 * multipart upload, the code of an error.
 *
 * The answers come from the network, so they are parsed like any untrusted input (fuzzed by
 * tests/fuzz/fuzz_s3_list.c): expat allocates through cf_malloc, so allocation failures can
 * be injected; a document with a DOCTYPE is refused before its declarations are read, so no
 * entity is ever defined, let alone expanded; only the few elements wanted are kept, each
 * text into a fixed buffer with a limit, and the shape is checked (a <Contents> needs a <Key>
 * and a <Size>). Namespaces are not processed: S3 puts its elements in the default
 * namespace, so their names arrive without a prefix.
 */
#include <expat.h>
#include <limits.h>
#include <string.h>

#include "base/base.h"
#include "s3.h"

#define TEXT_MAX CFD_S3_KEY_MAX /* the longest text kept: a key, a token or an upload id */

static void *
xml_malloc(size_t n)
{
	return cf_malloc(n);
}

static void *
xml_realloc(void *p, size_t n)
{
	return cf_realloc(p, n);
}

static void
xml_free(void *p)
{
	cf_free(p);
}

static const XML_Memory_Handling_Suite xml_mem = {xml_malloc, xml_realloc, xml_free};

/* What both parsers share: the depth, the element whose text is kept, and the outcome. */
struct xml_ctx {
	XML_Parser p;
	unsigned depth;
	bool keep; /* collecting the text of the current element */
	char text[TEXT_MAX + 1];
	size_t textlen;
	size_t textmax; /* the limit for the element being collected */
	int rc;         /* the first error, which stops the parser */
};

static void
stop(struct xml_ctx *x, int rc)
{
	if (x->rc == 0)
		x->rc = rc;
	(void)XML_StopParser(x->p, XML_FALSE);
}

static void
keep_text(struct xml_ctx *x, size_t max)
{
	x->keep = true;
	x->textlen = 0;
	x->textmax = max;
	x->text[0] = '\0';
}

static void XMLCALL
on_text(void *arg, const XML_Char *s, int len)
{
	struct xml_ctx *x = arg;

	if (!x->keep || len <= 0)
		return;
	if ((size_t)len > x->textmax - x->textlen) {
		stop(x, CF_ETOOBIG);
		return;
	}
	memcpy(x->text + x->textlen, s, (size_t)len);
	x->textlen += (size_t)len;
	x->text[x->textlen] = '\0';
}

static void XMLCALL
on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
           int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	stop(arg, CF_EFORMAT);
}

/* A parser with the text and DOCTYPE handlers; the caller adds the element handlers. */
static int
xml_new(struct xml_ctx *x, void *arg)
{
	x->p = XML_ParserCreate_MM("UTF-8", &xml_mem, NULL);
	if (x->p == NULL)
		return CF_ENOMEM;
	XML_SetUserData(x->p, arg);
	XML_SetCharacterDataHandler(x->p, on_text);
	XML_SetStartDoctypeDeclHandler(x->p, on_doctype);
	(void)XML_SetParamEntityParsing(x->p, XML_PARAM_ENTITY_PARSING_NEVER);
	return 0;
}

/* Parse the whole document; the first error of a handler wins over expat's own. */
static int
xml_run(struct xml_ctx *x, const uint8_t *xml, size_t len)
{
	enum XML_Status st;

	if (len > CFD_S3_LIST_MAX || len > INT_MAX)
		return CF_ETOOBIG;
	st = XML_Parse(x->p, (const char *)xml, (int)len, XML_TRUE);
	if (x->rc != 0)
		return x->rc;
	if (st != XML_STATUS_OK) {
		if (XML_GetErrorCode(x->p) == XML_ERROR_NO_MEMORY)
			return CF_ENOMEM;
		return CF_EFORMAT;
	}
	return 0;
}

/* ---- ListObjectsV2 ---- */

struct list_ctx {
	struct xml_ctx x; /* first: the handlers get a list_ctx as their xml_ctx */
	cfd_s3_key_fn *fn;
	void *arg;
	struct cfd_s3_list_page *page;
	char key[CFD_S3_KEY_MAX + 1];
	uint64_t size;
	bool in_contents;
	bool has_key;
	bool has_size;
	bool has_truncated;
	enum { F_NONE, F_KEY, F_SIZE, F_TRUNCATED, F_TOKEN } field;
};

/* Which element's text to keep: depth 2 of the root, depth 3 of a <Contents>. */
static void
list_pick(struct list_ctx *l, const char *name)
{
	l->field = F_NONE;
	if (l->x.depth == 2 && strcmp(name, "IsTruncated") == 0)
		l->field = F_TRUNCATED;
	else if (l->x.depth == 2 && strcmp(name, "NextContinuationToken") == 0)
		l->field = F_TOKEN;
	else if (l->x.depth == 3 && l->in_contents && strcmp(name, "Key") == 0)
		l->field = F_KEY;
	else if (l->x.depth == 3 && l->in_contents && strcmp(name, "Size") == 0)
		l->field = F_SIZE;
	if (l->field == F_KEY || l->field == F_TOKEN)
		keep_text(&l->x, TEXT_MAX);
	else if (l->field != F_NONE)
		keep_text(&l->x, 24);
}

static void XMLCALL
list_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct list_ctx *l = arg;

	(void)attrs;
	l->x.depth++;
	l->x.keep = false;
	if (l->x.depth == 1 && strcmp(name, "ListBucketResult") != 0) {
		stop(&l->x, CF_EFORMAT);
		return;
	}
	if (l->x.depth == 2 && strcmp(name, "Contents") == 0) {
		l->in_contents = true;
		l->has_key = false;
		l->has_size = false;
		return;
	}
	list_pick(l, name);
}

/* The end of a kept field: check and store its text. */
static int
list_field(struct list_ctx *l)
{
	const char *t = l->x.text;

	switch (l->field) {
	case F_KEY:
		if (l->has_key || l->x.textlen == 0 || strlen(t) != l->x.textlen)
			return CF_EFORMAT;
		memcpy(l->key, t, l->x.textlen + 1);
		l->has_key = true;
		return 0;
	case F_SIZE:
		if (l->has_size || cf_parse_u64(t, 0, UINT64_MAX, &l->size) != 0)
			return CF_EFORMAT;
		l->has_size = true;
		return 0;
	case F_TRUNCATED:
		if (strcmp(t, "true") != 0 && strcmp(t, "false") != 0)
			return CF_EFORMAT;
		l->page->truncated = strcmp(t, "true") == 0;
		l->has_truncated = true;
		return 0;
	case F_TOKEN:
		if (strlen(t) != l->x.textlen)
			return CF_EFORMAT;
		memcpy(l->page->token, t, l->x.textlen + 1);
		return 0;
	case F_NONE:
		break;
	}
	return 0;
}

/* The end of a <Contents>: it must have named one key and its size. */
static int
list_entry(struct list_ctx *l)
{
	int rc;

	l->in_contents = false;
	if (!l->has_key || !l->has_size)
		return CF_EFORMAT;
	if ((rc = l->fn(l->arg, l->key, l->size)) != 0)
		return rc;
	l->page->nkeys++;
	return 0;
}

static void XMLCALL
list_end(void *arg, const XML_Char *name)
{
	struct list_ctx *l = arg;
	int rc = 0;

	if (l->x.keep)
		rc = list_field(l);
	else if (l->x.depth == 2 && l->in_contents && strcmp(name, "Contents") == 0)
		rc = list_entry(l);
	l->x.keep = false;
	l->field = F_NONE;
	l->x.depth--;
	if (rc != 0)
		stop(&l->x, rc);
}

int
cfd_s3_list_parse(const uint8_t *xml, size_t len, cfd_s3_key_fn *fn, void *arg,
                  struct cfd_s3_list_page *page)
{
	struct list_ctx *l = NULL;
	int rc;

	memset(page, 0, sizeof(*page));
	l = cf_calloc(1, sizeof(*l)); /* 2 KiB of text buffers: not on a server thread's stack */
	if (l == NULL)
		return CF_ENOMEM;
	l->fn = fn;
	l->arg = arg;
	l->page = page;
	if ((rc = xml_new(&l->x, l)) != 0)
		goto out;
	XML_SetElementHandler(l->x.p, list_start, list_end);
	if ((rc = xml_run(&l->x, xml, len)) != 0)
		goto out;
	/* IsTruncated is always there; a further page needs the token that asks for it */
	if (!l->has_truncated || (page->truncated && page->token[0] == '\0'))
		rc = CF_EFORMAT;
out:
	if (l->x.p != NULL)
		XML_ParserFree(l->x.p);
	cf_free(l);
	return rc;
}

/* ---- one field of a small answer ---- */

struct field_ctx {
	struct xml_ctx x; /* first, as in list_ctx */
	const char *root;
	const char *field;
	bool found;
};

static void XMLCALL
field_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct field_ctx *f = arg;

	(void)attrs;
	f->x.depth++;
	f->x.keep = false;
	if (f->x.depth == 1 && strcmp(name, f->root) != 0)
		stop(&f->x, CF_ENOENT);
	else if (f->x.depth == 2 && !f->found && strcmp(name, f->field) == 0)
		keep_text(&f->x, f->x.textmax);
}

static void XMLCALL
field_end(void *arg, const XML_Char *name)
{
	struct field_ctx *f = arg;

	(void)name;
	if (f->x.keep) {
		if (strlen(f->x.text) != f->x.textlen)
			stop(&f->x, CF_EFORMAT);
		f->found = true;
	}
	f->x.keep = false;
	f->x.depth--;
}

int
cfd_s3_xml_field(const uint8_t *xml, size_t len, const char *root, const char *field, char *out,
                 size_t cap)
{
	struct field_ctx *f = NULL;
	int rc;

	CF_ASSERT(cap > 0);
	out[0] = '\0';
	f = cf_calloc(1, sizeof(*f));
	if (f == NULL)
		return CF_ENOMEM;
	f->root = root;
	f->field = field;
	f->x.textmax = cap - 1 < TEXT_MAX ? cap - 1 : TEXT_MAX;
	if ((rc = xml_new(&f->x, f)) != 0)
		goto out;
	XML_SetElementHandler(f->x.p, field_start, field_end);
	if ((rc = xml_run(&f->x, xml, len)) != 0)
		goto out;
	if (!f->found) {
		rc = CF_ENOENT;
		goto out;
	}
	memcpy(out, f->x.text, f->x.textlen + 1);
out:
	if (f->x.p != NULL)
		XML_ParserFree(f->x.p);
	cf_free(f);
	return rc;
}
