/* multihash: verify block bytes against a CID (sha2-256 via OpenSSL EVP, identity). */
#include "multihash.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#define MH_HEX_MAX 32 /* digest bytes shown in messages */

const char *mh_name(uint64_t code, char *buf, size_t cap)
{
	switch (code) {
	case 0x00:
		return "identity";
	case 0x11:
		return "sha1";
	case 0x12:
		return "sha2-256";
	case 0x13:
		return "sha2-512";
	case 0x14:
		return "sha3-512";
	case 0x16:
		return "sha3-256";
	case 0x1e:
		return "blake3";
	case 0x22:
		return "murmur3-x64-64";
	case 0xb220:
		return "blake2b-256";
	case 0xb240:
		return "blake2b-512";
	case 0xb260:
		return "blake2s-256";
	}
	if (buf && cap) {
		snprintf(buf, cap, "0x%llx", (unsigned long long)code);
		return buf;
	}
	return "unknown";
}

static bool mh_is_known(uint64_t code)
{
	char tmp[24];

	return mh_name(code, tmp, sizeof(tmp)) != tmp;
}

static int mh_unsupported(const struct cid *c, struct errbuf *e)
{
	char tmp[24];

	if (mh_is_known(c->mh_code))
		return err_set(e, -ENOTSUP, "unsupported multihash 0x%llx (%s) in block %s",
			       (unsigned long long)c->mh_code,
			       mh_name(c->mh_code, tmp, sizeof(tmp)), cid_str(c));
	return err_set(e, -ENOTSUP, "unsupported multihash 0x%llx in block %s",
		       (unsigned long long)c->mh_code, cid_str(c));
}

int mh_supported(const struct cid *c, struct errbuf *e)
{
	if (c->mh_code == MH_SHA2_256 && c->digest_len == 32)
		return 1;
	if (c->mh_code == MH_IDENTITY && c->digest_len <= MH_IDENTITY_MAX)
		return 1;
	mh_unsupported(c, e);
	return 0;
}

/* Lower-case hex of at most MH_HEX_MAX bytes, "..." when cut. out: 2*MH_HEX_MAX+4. */
static void mh_hex(const uint8_t *p, size_t n, char *out)
{
	size_t i, k = n > MH_HEX_MAX ? MH_HEX_MAX : n;

	if (n == 0) {
		strcpy(out, "(empty)");
		return;
	}

	for (i = 0; i < k; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * k] = '\0';
	if (k < n)
		strcpy(out + 2 * k, "...");
}

static int mh_mismatch(const struct cid *c, const uint8_t *got, size_t got_len, struct errbuf *e)
{
	char want_hex[2 * MH_HEX_MAX + 4], got_hex[2 * MH_HEX_MAX + 4];

	mh_hex(cid_digest(c), c->digest_len, want_hex);
	mh_hex(got, got_len, got_hex);
	return err_set(e, -EIO, "block %s hash mismatch: expected %s, got %s", cid_str(c), want_hex,
		       got_hex);
}

static int mh_verify_sha256(const struct cid *c, const void *data, size_t len, struct errbuf *e)
{
	uint8_t md[32];

	if (c->digest_len != 32)
		return err_set(e, -EIO, "block %s: sha2-256 digest is %u bytes, not 32", cid_str(c),
			       c->digest_len);
	mh_sha256(data, len, md);
	if (memcmp(md, cid_digest(c), 32) != 0)
		return mh_mismatch(c, md, 32, e);
	return 0;
}

static int mh_verify_identity(const struct cid *c, const void *data, size_t len, struct errbuf *e)
{
	if (c->digest_len > MH_IDENTITY_MAX)
		return err_set(e, -ENOTSUP, "block %s: identity digest over %d bytes", cid_str(c),
			       MH_IDENTITY_MAX);
	if (len != c->digest_len || (len && memcmp(data, cid_digest(c), len) != 0))
		return mh_mismatch(c, data, len, e);
	return 0;
}

int mh_verify(const struct cid *c, const void *data, size_t len, struct errbuf *e)
{
	if (len > BLOCK_MAX)
		return err_set(e, -EFBIG, "block %s is %zu bytes, over the %u-byte limit",
			       cid_str(c), len, BLOCK_MAX);
	switch (c->mh_code) {
	case MH_SHA2_256:
		return mh_verify_sha256(c, data, len, e);
	case MH_IDENTITY:
		return mh_verify_identity(c, data, len, e);
	}
	return mh_unsupported(c, e);
}

int mh_sha256_init(struct mh_sha256 *s)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	s->ctx = NULL;
	if (!ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return -EIO;
	}
	s->ctx = ctx;
	return 0;
}

void mh_sha256_update(struct mh_sha256 *s, const void *p, size_t n)
{
	if (s->ctx && n)
		EVP_DigestUpdate(s->ctx, p, n);
}

void mh_sha256_final(struct mh_sha256 *s, uint8_t out[32])
{
	unsigned int len = 0;

	if (!s->ctx || !EVP_DigestFinal_ex(s->ctx, out, &len) || len != 32)
		memset(out, 0, 32);
	mh_sha256_free(s);
}

void mh_sha256_free(struct mh_sha256 *s)
{
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

void mh_sha256(const void *p, size_t n, uint8_t out[32])
{
	static const uint8_t empty[1];
	unsigned int len = 0;

	if (!EVP_Digest(n ? p : empty, n, out, &len, EVP_sha256(), NULL) || len != 32)
		memset(out, 0, 32);
}
