/* cid: parse, decode, build and format CIDv0/CIDv1 content identifiers. */
#include "cid.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "multibase.h"
#include "varint.h"

#define CID_MH_IDENTITY 0x00
#define CID_MH_SHA2_256 0x12
#define CID_DIGEST_MAX	128 /* longest digest accepted; equals MH_IDENTITY_MAX */
#define CID_V0_TEXT_LEN 46
#define CID_V0_BIN_LEN	34
#define CID_TEXT_MAX	MBASE_BASEX_MAX /* longest text cid_parse looks at */

/* Read one varint field at *pos; `what` names it in messages. */
static int cid_varint(const uint8_t *buf, size_t len, size_t *pos, const char *what, uint64_t *v,
		      struct errbuf *e)
{
	int n = varint_decode(buf + *pos, len - *pos, v);

	if (n == -EAGAIN)
		return err_set(e, -EINVAL, "cid: truncated varint (%s at byte %zu)", what, *pos);
	if (n < 0)
		return err_set(e, -EINVAL,
			       "cid: bad varint (%s at byte %zu): not minimal or over 9 bytes",
			       what, *pos);
	*pos += (size_t)n;
	return 0;
}

static int cid_check_digest_len(uint64_t code, uint64_t dlen, struct errbuf *e)
{
	if (code == CID_MH_SHA2_256 && dlen != 32)
		return err_set(e, -EINVAL, "cid: sha2-256 digest must be 32 bytes, got %llu",
			       (unsigned long long)dlen);
	if (dlen > CID_DIGEST_MAX && code == CID_MH_IDENTITY)
		return err_set(e, -EINVAL, "cid: identity digest too long: %llu bytes (max %d)",
			       (unsigned long long)dlen, CID_DIGEST_MAX);
	if (dlen > CID_DIGEST_MAX)
		return err_set(e, -EINVAL,
			       "cid: multihash 0x%llx digest too long: %llu bytes (max %d)",
			       (unsigned long long)code, (unsigned long long)dlen, CID_DIGEST_MAX);
	return 0;
}

static int cid_decode_v0(const uint8_t *buf, size_t len, struct cid *out, size_t *used,
			 struct errbuf *e)
{
	if (len < CID_V0_BIN_LEN)
		return err_set(e, -EINVAL, "cid: truncated CIDv0: %zu of %d bytes", len,
			       CID_V0_BIN_LEN);
	memset(out, 0, sizeof(*out));
	out->version = 0;
	out->codec = CID_CODEC_DAG_PB;
	out->mh_code = CID_MH_SHA2_256;
	out->mh_off = 0;
	out->mh_len = CID_V0_BIN_LEN;
	out->digest_off = 2;
	out->digest_len = 32;
	out->len = CID_V0_BIN_LEN;
	memcpy(out->bin, buf, CID_V0_BIN_LEN);
	*used = CID_V0_BIN_LEN;
	return 0;
}

static int cid_decode_v1(const uint8_t *buf, size_t len, struct cid *out, size_t *used,
			 struct errbuf *e)
{
	uint64_t version, codec, code, dlen;
	size_t pos = 0, mh_off;
	int rc;

	if ((rc = cid_varint(buf, len, &pos, "version", &version, e)))
		return rc;
	if (version != 1)
		return err_set(e, -EINVAL, "cid: version %llu is not supported",
			       (unsigned long long)version);
	if ((rc = cid_varint(buf, len, &pos, "codec", &codec, e)))
		return rc;
	mh_off = pos;
	if ((rc = cid_varint(buf, len, &pos, "multihash code", &code, e)))
		return rc;
	if ((rc = cid_varint(buf, len, &pos, "digest length", &dlen, e)))
		return rc;
	if ((rc = cid_check_digest_len(code, dlen, e)))
		return rc;
	if (len - pos < dlen)
		return err_set(e, -EINVAL, "cid: truncated digest: %zu of %llu bytes", len - pos,
			       (unsigned long long)dlen);
	/* 1 + 9 + 9 + 1 + 128 bytes at most: always fits CID_MAX_BIN */
	memset(out, 0, sizeof(*out));
	out->version = 1;
	out->codec = codec;
	out->mh_code = code;
	out->mh_off = (uint16_t)mh_off;
	out->digest_off = (uint16_t)pos;
	out->digest_len = (uint16_t)dlen;
	out->len = (uint16_t)(pos + dlen);
	out->mh_len = (uint16_t)(out->len - mh_off);
	memcpy(out->bin, buf, out->len);
	*used = out->len;
	return 0;
}

int cid_decode(const uint8_t *buf, size_t len, struct cid *out, size_t *used, struct errbuf *e)
{
	if (len == 0)
		return err_set(e, -EINVAL, "cid: empty binary CID");
	if (buf[0] == CID_MH_SHA2_256) {
		if (len < 2)
			return err_set(e, -EINVAL, "cid: truncated CIDv0: 1 of %d bytes",
				       CID_V0_BIN_LEN);
		if (buf[1] != 32)
			return err_set(e, -EINVAL,
				       "cid: CIDv0 must be a sha2-256 multihash with a 32-byte "
				       "digest (12 20), got 12 %02x",
				       buf[1]);
		return cid_decode_v0(buf, len, out, used, e);
	}
	return cid_decode_v1(buf, len, out, used, e);
}

/* Reject whitespace and anything outside printable ASCII, naming it. */
static int cid_check_chars(const char *text, size_t len, struct errbuf *e)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == ' ' || (c >= '\t' && c <= '\r'))
			return err_set(e, -EINVAL, "cid: whitespace (0x%02x) at %zu", c, i);
		if (c < 0x20 || c >= 0x7f)
			return err_set(e, -EINVAL, "cid: invalid character 0x%02x at %zu", c, i);
	}
	return 0;
}

static int cid_parse_v0(const char *text, size_t len, struct cid *out, struct errbuf *e)
{
	uint8_t bin[CID_MAX_BIN];
	size_t used;
	int n;

	if (len != CID_V0_TEXT_LEN)
		return err_set(e, -EINVAL, "cid: CIDv0 text must be %d characters, got %zu",
			       CID_V0_TEXT_LEN, len);
	n = base58_decode(text, len, bin, sizeof(bin), e);
	if (n < 0)
		return err_prefix(e, -EINVAL, "cid");
	if (n != CID_V0_BIN_LEN || bin[0] != CID_MH_SHA2_256 || bin[1] != 32)
		return err_set(e, -EINVAL,
			       "cid: CIDv0 text must decode to 34 bytes 12 20 <digest>, got %d "
			       "bytes starting %02x %02x",
			       n, bin[0], n > 1 ? bin[1] : 0);
	return cid_decode_v0(bin, (size_t)n, out, &used, e);
}

static int cid_parse_v1(const char *text, size_t len, struct cid *out, struct errbuf *e)
{
	uint8_t bin[CID_MAX_BIN];
	size_t used;
	int n, rc;

	if (!strchr("bBzkKfF", text[0]))
		return err_set(e, -EINVAL, "cid: unsupported multibase prefix '%c'", text[0]);
	if (len == 1)
		return err_set(e, -EINVAL, "cid: nothing after multibase prefix '%c'", text[0]);
	n = mbase_decode(text[0], text + 1, len - 1, bin, sizeof(bin), e);
	if (n == -EOVERFLOW)
		return err_set(e, -EINVAL, "cid: decodes to more than %d bytes", CID_MAX_BIN);
	if (n < 0)
		return err_prefix(e, -EINVAL, "cid");
	if (n == 0)
		return err_set(e, -EINVAL, "cid: empty after decoding");
	if (bin[0] == CID_MH_SHA2_256)
		return err_set(e, -EINVAL,
			       "cid: CIDv1 text holds a bare CIDv0 multihash (first byte 0x12)");
	if ((rc = cid_decode(bin, (size_t)n, out, &used, e)))
		return rc;
	if (used != (size_t)n)
		return err_set(e, -EINVAL, "cid: trailing bytes after CID (%zu of %d bytes used)",
			       used, n);
	return 0;
}

int cid_parse(const char *text, size_t len, struct cid *out, struct errbuf *e)
{
	int rc;

	if (!text || len == 0)
		return err_set(e, -EINVAL, "cid: empty string");
	if (len > CID_TEXT_MAX)
		return err_set(e, -EINVAL, "cid: text too long (%zu chars, max %d)", len,
			       CID_TEXT_MAX);
	if ((rc = cid_check_chars(text, len, e)))
		return rc;
	if (len >= 2 && text[0] == 'Q' && text[1] == 'm')
		return cid_parse_v0(text, len, out, e);
	return cid_parse_v1(text, len, out, e);
}

int cid_from_digest(int version, uint64_t codec, uint64_t mh_code, const uint8_t *digest,
		    size_t digest_len, struct cid *out)
{
	uint8_t bin[CID_MAX_BIN];
	size_t pos = 0, used;

	if (version == 0 && (codec != CID_CODEC_DAG_PB || mh_code != CID_MH_SHA2_256))
		return -EINVAL;
	if (version != 0 && version != 1)
		return -EINVAL;
	if (cid_check_digest_len(mh_code, digest_len, NULL))
		return -EINVAL;
	if (version == 1) {
		pos += varint_encode(1, bin);
		pos += varint_encode(codec, bin + pos);
	}
	pos += varint_encode(mh_code, bin + pos);
	pos += varint_encode(digest_len, bin + pos);
	if (digest_len)
		memcpy(bin + pos, digest, digest_len);
	/* decoding what we built fills every field and rejects codes over 63 bits */
	return cid_decode(bin, pos + digest_len, out, &used, NULL);
}

int cid_for_block(int version, uint64_t codec, const void *data, size_t len, struct cid *out)
{
	static const uint8_t empty[1];
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(len ? data : empty, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	return cid_from_digest(version, codec, CID_MH_SHA2_256, md, 32, out);
}

int cid_format_base(const struct cid *c, char base, char *out, size_t cap)
{
	int n;

	if (c->version != 1 || !strchr("bzkf", base) || base == '\0')
		return -ENOTSUP;
	if (cap < 2)
		return -EOVERFLOW;
	out[0] = base;
	n = mbase_encode(base, c->bin, c->len, out + 1, cap - 1);
	if (n < 0) {
		out[0] = '\0';
		return n;
	}
	return n + 1;
}

size_t cid_format(const struct cid *c, char *out, size_t cap)
{
	int n;

	if (cap == 0)
		return 0;
	if (c->version == 0)
		n = base58_encode(c->bin, c->len, out, cap);
	else
		n = cid_format_base(c, 'b', out, cap);
	if (n < 0) {
		out[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

const char *cid_str(const struct cid *c)
{
	static _Thread_local char buf[CID_MAX_TEXT];

	cid_format(c, buf, sizeof(buf));
	return buf;
}

bool cid_equal(const struct cid *a, const struct cid *b)
{
	return a->len == b->len && memcmp(a->bin, b->bin, a->len) == 0;
}

bool cid_mh_equal(const struct cid *a, const struct cid *b)
{
	return a->mh_len == b->mh_len && memcmp(cid_mh(a), cid_mh(b), a->mh_len) == 0;
}

/* FNV-1a 64 over the multihash bytes, so v0/v1 and raw/dag-pb of one digest collide. */
uint64_t cid_hash(const struct cid *c)
{
	const uint8_t *p = cid_mh(c);
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < c->mh_len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

int cid_to_v1(const struct cid *in, struct cid *out)
{
	if (in->version == 1) {
		*out = *in;
		return 0;
	}
	return cid_from_digest(1, CID_CODEC_DAG_PB, in->mh_code, cid_digest(in), in->digest_len,
			       out);
}

int cid_to_v0(const struct cid *in, struct cid *out)
{
	if (in->version == 0) {
		*out = *in;
		return 0;
	}
	if (in->codec != CID_CODEC_DAG_PB || in->mh_code != CID_MH_SHA2_256 || in->digest_len != 32)
		return -EINVAL;
	return cid_from_digest(0, CID_CODEC_DAG_PB, CID_MH_SHA2_256, cid_digest(in), 32, out);
}
