/*
 * fuzz_s3_list.c - libFuzzer harness for the XML of S3 answers that cofferd parses
 * (server/s3_xml.c): ListObjectsV2 pages, and the single fields it takes from the answer
 * to a new multipart upload (<UploadId>) and from error answers (<Code>).
 *
 * The first byte picks the parser; the rest is its input. The parser is not in coffer_core,
 * so its file is compiled into this harness directly (it links expat, tests/CMakeLists.txt).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../../server/s3_xml.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

struct seen {
	size_t n;
	bool stop_at_3; /* a callback that stops the listing must stop it */
};

static int
on_key(void *arg, const char *key, uint64_t size)
{
	struct seen *s = arg;
	size_t n = strlen(key);

	(void)size;
	CF_ASSERT(n >= 1 && n <= CFD_S3_KEY_MAX);
	s->n++;
	return s->stop_at_3 && s->n == 3 ? CF_ECANCELED : 0;
}

static void
fuzz_list(const uint8_t *p, size_t len, bool stop)
{
	struct cfd_s3_list_page page;
	struct seen s = {0, stop};
	int rc = cfd_s3_list_parse(p, len, on_key, &s, &page);

	if (rc == 0) {
		CF_ASSERT(page.nkeys == s.n);
		CF_ASSERT(!page.truncated || page.token[0] != '\0');
		CF_ASSERT(strlen(page.token) <= CFD_S3_TOKEN_MAX);
	}
	CF_ASSERT(!stop || s.n <= 3);
}

static void
fuzz_field(const uint8_t *p, size_t len, bool error)
{
	char out[64];

	if (cfd_s3_xml_field(p, len, error ? "Error" : "InitiateMultipartUploadResult",
	                     error ? "Code" : "UploadId", out, sizeof(out)) == 0)
		CF_ASSERT(strlen(out) < sizeof(out));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static bool ready;

	if (!ready) {
		if (cf_init() != 0)
			return 0;
		ready = true;
	}
	if (len == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_list(data + 1, len - 1, false);
		break;
	case 1:
		fuzz_list(data + 1, len - 1, true);
		break;
	case 2:
		fuzz_field(data + 1, len - 1, false);
		break;
	default:
		fuzz_field(data + 1, len - 1, true);
		break;
	}
	return 0;
}
