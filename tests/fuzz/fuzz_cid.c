/* fuzz_cid: CID text/binary parsing, multibase and mh_verify on arbitrary input, with round trips.
 */
/* deps: cid multihash multibase varint errbuf */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cid.h"
#include "multibase.h"
#include "multihash.h"

#define FZ_TEXT 1100 /* base16 of the largest CID, or of 512 input bytes */

static void fz_check(int cond)
{
	if (!cond)
		abort();
}

/* Every field agrees with the binary form. */
static void fz_fields(const struct cid *c)
{
	fz_check(c->len <= CID_MAX_BIN);
	fz_check(c->mh_off + c->mh_len == c->len);
	fz_check(c->digest_off + c->digest_len == c->len);
	fz_check(c->digest_off > c->mh_off && c->digest_len <= 128);
	fz_check(c->mh_code != 0x12 || c->digest_len == 32);
	if (c->version == 0)
		fz_check(c->len == 34 && c->mh_off == 0 && c->codec == CID_CODEC_DAG_PB &&
			 c->bin[0] == 0x12 && c->bin[1] == 0x20);
	else
		fz_check(c->version == 1 && c->bin[0] == 1);
}

static void fz_reparse(const struct cid *c, const char *text, size_t n)
{
	struct errbuf e;
	struct cid back;

	fz_check(cid_parse(text, n, &back, &e) == 0);
	fz_check(cid_equal(c, &back));
}

/* Format canonically and in every base; binary decode; v0/v1 conversion. */
static void fz_roundtrip(const struct cid *c)
{
	char buf[FZ_TEXT];
	struct cid back, v0, v1;
	size_t used, n = cid_format(c, buf, CID_MAX_TEXT);
	const char *b;

	fz_check(n > 0 && n == strlen(buf));
	fz_check(strcmp(cid_str(c), buf) == 0);
	fz_reparse(c, buf, n);
	fz_check(cid_decode(c->bin, c->len, &back, &used, NULL) == 0 && used == c->len);
	fz_check(cid_equal(c, &back));
	for (b = "bzkf"; c->version == 1 && *b; b++) {
		int r = cid_format_base(c, *b, buf, sizeof(buf));

		fz_check(r > 0 && (size_t)r == strlen(buf));
		fz_reparse(c, buf, (size_t)r);
	}
	fz_check(cid_to_v1(c, &v1) == 0 && v1.version == 1 && cid_mh_equal(c, &v1));
	fz_check(cid_hash(c) == cid_hash(&v1));
	if (cid_to_v0(c, &v0) == 0) {
		fz_check(cid_mh_equal(c, &v0) && v0.version == 0);
		fz_check(cid_to_v1(&v0, &back) == 0 && cid_equal(&back, &v1));
	}
}

/* Strict multibase is a bijection: the canonical form equals the (lower-cased) input. */
static void fz_text(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char buf[FZ_TEXT], low[FZ_TEXT];
	struct errbuf e;
	struct cid c;
	size_t i;
	int r;

	if (cid_parse(text, size, &c, &e) != 0)
		return;
	fz_fields(&c);
	fz_roundtrip(&c);
	fz_check(size < sizeof(low));
	/* upper-case bases re-encode in lower case; the others (base58!) exactly */
	for (i = 0; i < size; i++)
		low[i] = isupper((unsigned char)text[0]) ? (char)tolower((unsigned char)text[i])
							 : text[i];
	if (c.version == 0) {
		fz_check(cid_format(&c, buf, sizeof(buf)) == size && memcmp(buf, text, size) == 0);
		return;
	}
	r = cid_format_base(&c, low[0], buf, sizeof(buf));
	fz_check(r > 0 && (size_t)r == size && memcmp(buf, low, size) == 0);
}

static void fz_binary(const uint8_t *data, size_t size)
{
	struct errbuf e;
	struct cid c;
	size_t used = 0;
	int r;

	if (cid_decode(data, size, &c, &used, &e) != 0)
		return;
	fz_check(used <= size && used == c.len && memcmp(c.bin, data, used) == 0);
	fz_fields(&c);
	fz_roundtrip(&c);
	/* the rest of the input as the block */
	r = mh_verify(&c, data + used, size - used, &e);
	fz_check(r == 0 || r == -EIO || r == -ENOTSUP);
	if (r == 0 && c.mh_code == MH_IDENTITY)
		fz_check(size - used == c.digest_len &&
			 memcmp(data + used, cid_digest(&c), c.digest_len) == 0);
	if (r == 0)
		fz_check(c.mh_code == MH_IDENTITY || c.mh_code == MH_SHA2_256);
}

/* A CID computed from the input verifies it; one flipped bit does not. */
static void fz_verify(const uint8_t *data, size_t size)
{
	uint8_t copy[512];
	struct errbuf e;
	struct cid c;
	size_t n = size < sizeof(copy) ? size : sizeof(copy);

	fz_check(cid_for_block(1, CID_CODEC_RAW, data, size, &c) == 0);
	fz_check(mh_verify(&c, data, size, &e) == 0);
	fz_check(cid_from_digest(1, CID_CODEC_RAW, MH_IDENTITY, data, n < 128 ? n : 128, &c) == 0);
	fz_check(mh_verify(&c, data, n < 128 ? n : 128, &e) == 0);
	if (n == 0)
		return;
	memcpy(copy, data, n);
	copy[n / 2] ^= 0x20;
	fz_check(cid_for_block(0, CID_CODEC_DAG_PB, data, n, &c) == 0);
	fz_check(mh_verify(&c, copy, n, &e) == -EIO);
}

/* Bytes → each base → bytes; and the input as text in each base → bytes → same text. */
static void fz_multibase(const uint8_t *data, size_t size)
{
	static const char enc[] = "bzkf", dec[] = "bBzkKfF";
	uint8_t back[FZ_TEXT];
	char txt[FZ_TEXT];
	size_t n = size < 256 ? size : 256, i, j;
	int r, m;

	for (i = 0; i < sizeof(enc) - 1; i++) {
		r = mbase_encode(enc[i], data, n, txt, sizeof(txt));
		fz_check(r >= 0 && (size_t)r == strlen(txt));
		m = mbase_decode(enc[i], txt, (size_t)r, back, sizeof(back), NULL);
		fz_check(m == (int)n && memcmp(back, data, n) == 0);
	}
	for (i = 0; i < sizeof(dec) - 1; i++) {
		m = mbase_decode(dec[i], (const char *)data, size, back, sizeof(back), NULL);
		if (m < 0)
			continue;
		r = mbase_encode((char)tolower((unsigned char)dec[i]), back, (size_t)m, txt,
				 sizeof(txt));
		fz_check(r >= 0 && (size_t)r == size);
		for (j = 0; j < size; j++)
			fz_check(txt[j] == (isupper((unsigned char)dec[i]) ? (char)tolower(data[j])
									   : (char)data[j]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1024)
		return 0;
	fz_text(data, size);
	fz_binary(data, size);
	fz_verify(data, size);
	fz_multibase(data, size);
	return 0;
}
