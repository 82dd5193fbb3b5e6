/* unixfs: UnixFS Data message codec, validated node views, and the HAMT hash. */
#include "unixfs.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "varint.h"

#define UFS_HASH_MURMUR3 0x22
#define UFS_MAX_FANOUT	 1024
#define UFS_NSEC_PER_SEC 1000000000u

static const char *const ufs_field_names[] = {
    "?", "Type", "Data", "filesize", "blocksizes", "hashType", "fanout", "mode", "mtime",
};

/* ---- decoding ---- */

static int ufs_add_blocksize(struct ufs_data *d, size_t *alloc, uint64_t v, struct errbuf *e)
{
	uint64_t *p;
	size_t na;

	if (d->nblocksizes >= DAGPB_MAX_LINKS)
		return err_set(e, -EINVAL, "unixfs: more than %d blocksizes", DAGPB_MAX_LINKS);
	if (d->nblocksizes == *alloc) {
		na = *alloc ? *alloc * 2 : 16;
		if (na > DAGPB_MAX_LINKS)
			na = DAGPB_MAX_LINKS;
		p = realloc(d->blocksizes, na * sizeof(*p));
		if (!p)
			return err_set(e, -ENOMEM, "unixfs: out of memory for blocksizes");
		d->blocksizes = p;
		*alloc = na;
	}
	d->blocksizes[d->nblocksizes++] = v;
	return 0;
}

static int ufs_packed_blocksizes(struct ufs_data *d, size_t *alloc, const struct pb_field *f,
				 struct errbuf *e)
{
	size_t pos = 0, len = (size_t)f->val;
	uint64_t v;
	int n, rc;

	while (pos < len) {
		n = varint_decode_pb(f->body + pos, len - pos, &v);
		if (n < 0)
			return err_set(e, -EINVAL, "unixfs: bad varint in packed blocksizes at %zu",
				       pos);
		pos += (size_t)n;
		rc = ufs_add_blocksize(d, alloc, v, e);
		if (rc)
			return rc;
	}
	return 0;
}

/* mtime: { int64 Seconds = 1 (varint); fixed32 FractionalNanoseconds = 2 } */
static int ufs_decode_mtime(struct ufs_data *d, const struct pb_field *mf, struct errbuf *e)
{
	struct pb_field f;
	size_t pos = 0, len = (size_t)mf->val;
	uint64_t last = 0;
	int rc;

	while (pos < len) {
		rc = pb_field_read(mf->body, len, &pos, 0, "unixfs: mtime", &f, e);
		if (rc)
			return rc;
		if (f.num != 1 && f.num != 2)
			return err_set(e, -EINVAL, "unixfs: mtime: unknown field %llu",
				       (unsigned long long)f.num);
		if (f.num <= last)
			return err_set(e, -EINVAL,
				       "unixfs: mtime: field %llu duplicated or out of order",
				       (unsigned long long)f.num);
		last = f.num;
		if (f.num == 1 && f.wt != PB_WT_VARINT)
			return err_set(e, -EINVAL, "unixfs: mtime: Seconds has wire type %d", f.wt);
		if (f.num == 2 && f.wt != PB_WT_FIXED32)
			return err_set(e, -EINVAL,
				       "unixfs: mtime: FractionalNanoseconds has wire type %d",
				       f.wt);
		if (f.num == 1) {
			d->mtime_sec = (int64_t)f.val; /* two's complement int64 */
		} else {
			if (f.val >= UFS_NSEC_PER_SEC)
				return err_set(e, -EINVAL, "unixfs: mtime: nanoseconds %llu >= 1e9",
					       (unsigned long long)f.val);
			d->mtime_nsec = (uint32_t)f.val;
		}
	}
	d->has_mtime = true;
	return 0;
}

/* Store a varint-typed scalar field (Type, filesize, hashType, fanout, mode). */
static int ufs_set_scalar(struct ufs_data *d, const struct pb_field *f, struct errbuf *e)
{
	switch (f->num) {
	case 1:
		if (f->val > INT_MAX)
			return err_set(e, -EINVAL, "unixfs: Type %llu out of range",
				       (unsigned long long)f->val);
		d->type = (int)f->val;
		break;
	case 3:
		d->filesize = f->val;
		d->has_filesize = true;
		break;
	case 5:
		d->hash_type = f->val;
		d->has_hash_type = true;
		break;
	case 6:
		d->fanout = f->val;
		d->has_fanout = true;
		break;
	case 7:
		if (f->val > UINT32_MAX)
			return err_set(e, -EINVAL, "unixfs: mode %llu out of range",
				       (unsigned long long)f->val);
		d->mode = (uint32_t)f->val;
		d->has_mode = true;
		break;
	}
	return 0;
}

static int ufs_check_wire_type(const struct pb_field *f, struct errbuf *e)
{
	int want = (f->num == 2 || f->num == 8) ? PB_WT_LEN : PB_WT_VARINT;

	if (f->num == 4 && (f->wt == PB_WT_VARINT || f->wt == PB_WT_LEN))
		return 0;
	if (f->wt != want)
		return err_set(e, -EINVAL, "unixfs: %s field has wire type %d, want %d",
			       ufs_field_names[f->num], f->wt, want);
	return 0;
}

static int ufs_decode_field(struct ufs_data *d, const struct pb_field *f, uint32_t *seen,
			    size_t *alloc, struct errbuf *e)
{
	int rc;

	if (f->num < 1 || f->num > 8)
		return err_set(e, -EINVAL, "unixfs: unknown field %llu at byte %zu",
			       (unsigned long long)f->num, f->start);
	rc = ufs_check_wire_type(f, e);
	if (rc)
		return rc;
	if (f->num != 4 && (*seen & (1u << f->num)))
		return err_set(e, -EINVAL, "unixfs: duplicate %s field", ufs_field_names[f->num]);
	*seen |= 1u << f->num;
	switch (f->num) {
	case 2:
		d->data = f->body;
		d->data_len = (size_t)f->val;
		d->has_data = true;
		return 0;
	case 4:
		if (f->wt == PB_WT_LEN)
			return ufs_packed_blocksizes(d, alloc, f, e);
		return ufs_add_blocksize(d, alloc, f->val, e);
	case 8:
		return ufs_decode_mtime(d, f, e);
	default:
		return ufs_set_scalar(d, f, e);
	}
}

int ufs_decode(const uint8_t *buf, size_t len, struct ufs_data *out, struct errbuf *e)
{
	struct pb_field f;
	size_t pos = 0, alloc = 0;
	uint32_t seen = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	while (pos < len) {
		rc = pb_field_read(buf, len, &pos, 0, "unixfs", &f, e);
		if (!rc)
			rc = ufs_decode_field(out, &f, &seen, &alloc, e);
		if (rc) {
			ufs_data_free(out);
			return rc;
		}
	}
	if (!(seen & (1u << 1))) {
		ufs_data_free(out);
		return err_set(e, -EINVAL, "unixfs: missing Type field");
	}
	return 0;
}

void ufs_data_free(struct ufs_data *d)
{
	if (!d)
		return;
	free(d->blocksizes);
	memset(d, 0, sizeof(*d));
}

/* ---- encoding ---- */

static int ufs_put_varint(struct dynbuf *out, uint8_t tag, uint64_t v)
{
	uint8_t tmp[1 + VARINT_MAX];

	tmp[0] = tag;
	return dynbuf_append(out, tmp, 1 + varint_encode(v, tmp + 1));
}

static int ufs_put_mtime(const struct ufs_data *d, struct dynbuf *out)
{
	uint8_t tmp[2 + 1 + VARINT_MAX + 5];
	size_t n = 2;
	uint32_t ns = d->mtime_nsec;

	tmp[n++] = 0x08;
	n += varint_encode((uint64_t)d->mtime_sec, tmp + n);
	if (ns) {
		tmp[n++] = 0x15;
		tmp[n++] = (uint8_t)ns;
		tmp[n++] = (uint8_t)(ns >> 8);
		tmp[n++] = (uint8_t)(ns >> 16);
		tmp[n++] = (uint8_t)(ns >> 24);
	}
	tmp[0] = 0x42;
	tmp[1] = (uint8_t)(n - 2); /* at most 16: one length byte */
	return dynbuf_append(out, tmp, n);
}

static int ufs_encode_fields(const struct ufs_data *d, struct dynbuf *out)
{
	size_t i;
	int rc;

	rc = ufs_put_varint(out, 0x08, (uint64_t)d->type);
	if (!rc && d->has_data) {
		rc = ufs_put_varint(out, 0x12, d->data_len);
		if (!rc)
			rc = dynbuf_append(out, d->data, d->data_len);
	}
	if (!rc && d->has_filesize)
		rc = ufs_put_varint(out, 0x18, d->filesize);
	for (i = 0; !rc && i < d->nblocksizes; i++)
		rc = ufs_put_varint(out, 0x20, d->blocksizes[i]);
	if (!rc && d->has_hash_type)
		rc = ufs_put_varint(out, 0x28, d->hash_type);
	if (!rc && d->has_fanout)
		rc = ufs_put_varint(out, 0x30, d->fanout);
	if (!rc && d->has_mode)
		rc = ufs_put_varint(out, 0x38, d->mode);
	if (!rc && d->has_mtime)
		rc = ufs_put_mtime(d, out);
	return rc;
}

int ufs_encode(const struct ufs_data *d, struct dynbuf *out)
{
	size_t start = out->len;
	int rc = ufs_encode_fields(d, out);

	if (rc)
		out->len = start; /* leave out as it was */
	return rc;
}

/* ---- node views ---- */

static int unode_file(struct unode *n, const struct ufs_data *u, struct errbuf *e)
{
	size_t i, nl = n->pb.nlinks;
	uint64_t sum;

	n->kind = UNODE_FILE;
	n->data = u->data;
	n->data_len = u->data_len;
	if (nl != u->nblocksizes)
		return err_set(e, -EINVAL, "unixfs: file has %zu links but %zu blocksizes", nl,
			       u->nblocksizes);
	if (nl == 0) {
		if (u->has_filesize && u->filesize != u->data_len)
			return err_set(e, -EINVAL, "unixfs: leaf filesize %llu != data length %zu",
				       (unsigned long long)u->filesize, u->data_len);
		n->size = u->data_len;
		return 0;
	}
	n->offsets = malloc((nl + 1) * sizeof(*n->offsets));
	if (!n->offsets)
		return err_set(e, -ENOMEM, "unixfs: out of memory for %zu offsets", nl);
	sum = u->data_len;
	for (i = 0; i < nl; i++) {
		n->offsets[i] = sum;
		if (u->blocksizes[i] > UINT64_MAX - sum)
			return err_set(e, -EINVAL, "unixfs: blocksizes overflow at child %zu", i);
		sum += u->blocksizes[i];
	}
	n->offsets[nl] = sum;
	if (!u->has_filesize)
		return err_set(e, -EINVAL, "unixfs: file with links has no filesize");
	if (u->filesize != sum)
		return err_set(e, -EINVAL,
			       "unixfs: filesize %llu != data length + sum of blocksizes %llu",
			       (unsigned long long)u->filesize, (unsigned long long)sum);
	n->size = sum;
	return 0;
}

/* A directory entry name must be usable as a single path component. */
static int unode_check_dir_names(const struct unode *n, struct errbuf *e)
{
	size_t i;

	for (i = 0; i < n->pb.nlinks; i++) {
		const struct pb_link *l = &n->pb.links[i];

		if (!l->has_name || l->name_len == 0)
			return err_set(e, -EINVAL, "unixfs: directory link %zu has no name", i);
		if (memchr(l->name, '/', l->name_len) || memchr(l->name, '\0', l->name_len) ||
		    (l->name_len == 1 && l->name[0] == '.') ||
		    (l->name_len == 2 && l->name[0] == '.' && l->name[1] == '.'))
			return err_set(e, -EINVAL, "unixfs: directory link %zu has an unsafe name",
				       i);
	}
	return 0;
}

static unsigned unode_popcount(const uint8_t *p, size_t len)
{
	unsigned c = 0;
	size_t i;

	for (i = 0; i < len; i++)
		c += (unsigned)__builtin_popcount(p[i]);
	return c;
}

static int unode_hamt(struct unode *n, const struct ufs_data *u, struct errbuf *e)
{
	n->kind = UNODE_HAMT;
	if (!u->has_hash_type || u->hash_type != UFS_HASH_MURMUR3)
		return err_set(e, -EINVAL, "unixfs: HAMT hashType %s%llx, want 0x22",
			       u->has_hash_type ? "0x" : "missing ",
			       (unsigned long long)u->hash_type);
	if (!u->has_fanout || u->fanout < 2 || u->fanout > UFS_MAX_FANOUT ||
	    (u->fanout & (u->fanout - 1)))
		return err_set(e, -EINVAL,
			       "unixfs: HAMT fanout %llu is not a power of two in "
			       "2..1024",
			       (unsigned long long)u->fanout);
	if (unode_popcount(u->data, u->data_len) != n->pb.nlinks)
		return err_set(e, -EINVAL, "unixfs: HAMT bitfield has %u bits set but %zu links",
			       unode_popcount(u->data, u->data_len), n->pb.nlinks);
	n->fanout = u->fanout;
	n->bitfield = u->data;
	n->bitfield_len = u->data_len;
	return 0;
}

static int unode_typed(struct unode *n, const struct ufs_data *u, struct errbuf *e)
{
	switch (u->type) {
	case UFS_RAW:
	case UFS_FILE:
		return unode_file(n, u, e);
	case UFS_DIRECTORY:
		n->kind = UNODE_DIR;
		return unode_check_dir_names(n, e);
	case UFS_HAMT:
		return unode_hamt(n, u, e);
	case UFS_SYMLINK:
		n->kind = UNODE_SYMLINK;
		if (n->pb.nlinks)
			return err_set(e, -EINVAL, "unixfs: symlink node has %zu links",
				       n->pb.nlinks);
		n->data = u->data;
		n->data_len = u->data_len;
		n->size = u->data_len;
		return 0;
	case UFS_METADATA:
		return err_set(e, -ENOTSUP, "unixfs: Metadata nodes are not supported");
	default:
		return err_set(e, -EINVAL, "unixfs: unknown node Type %d", u->type);
	}
}

static int unode_parse_pb(struct unode *n, struct errbuf *e)
{
	struct ufs_data u;
	int rc;

	rc = pb_decode(n->block, n->block_len, &n->pb, e);
	if (rc)
		return rc;
	if (!n->pb.has_data)
		return err_set(e, -EINVAL, "unixfs: dag-pb node has no UnixFS Data");
	rc = ufs_decode(n->pb.data, n->pb.data_len, &u, e);
	if (rc)
		return rc;
	rc = unode_typed(n, &u, e);
	if (!rc) {
		n->mode = u.has_mode ? u.mode : 0;
		n->has_mtime = u.has_mtime;
		n->mtime = u.has_mtime ? u.mtime_sec : 0;
	}
	ufs_data_free(&u);
	return rc;
}

int unode_parse(const struct cid *cid, const uint8_t *block, size_t len, struct unode **out,
		struct errbuf *e)
{
	struct unode *n;
	int rc;

	*out = NULL;
	if (cid->codec != CID_CODEC_RAW && cid->codec != CID_CODEC_DAG_PB)
		return err_set(e, -ENOTSUP, "unixfs: unsupported codec 0x%llx",
			       (unsigned long long)cid->codec);
	n = calloc(1, sizeof(*n));
	if (!n)
		return err_set(e, -ENOMEM, "unixfs: out of memory");
	n->cid = *cid;
	n->block = malloc(len ? len : 1);
	if (!n->block) {
		free(n);
		return err_set(e, -ENOMEM, "unixfs: out of memory for a %zu-byte block", len);
	}
	if (len)
		memcpy(n->block, block, len);
	n->block_len = len;
	if (cid->codec == CID_CODEC_RAW) {
		n->kind = UNODE_FILE;
		n->data = n->block;
		n->data_len = len;
		n->size = len;
		*out = n;
		return 0;
	}
	rc = unode_parse_pb(n, e);
	if (rc) {
		unode_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

void unode_free(struct unode *n)
{
	if (!n)
		return;
	pb_node_free(&n->pb);
	free(n->offsets);
	free(n->block);
	free(n);
}

int unode_child_at(const struct unode *n, uint64_t off)
{
	size_t lo, hi, mid;

	if (n->kind != UNODE_FILE || !n->offsets || n->pb.nlinks == 0)
		return -ERANGE;
	if (off < n->offsets[0] || off >= n->offsets[n->pb.nlinks])
		return -ERANGE;
	/* Last i in [0, nlinks) with offsets[i] <= off; skips empty children. */
	lo = 0;
	hi = n->pb.nlinks;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (n->offsets[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return (int)lo;
}

/* ---- HAMT hash: murmur3_x64_128, seed 0, h1 only ---- */

static uint64_t mm_rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t mm_fmix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

static uint64_t mm_le64(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#define MM_C1 0x87c37b91114253d5ULL
#define MM_C2 0x4cf5ad432745937fULL

static uint64_t mm_mix_k1(uint64_t k1)
{
	return mm_rotl(k1 * MM_C1, 31) * MM_C2;
}

static uint64_t mm_mix_k2(uint64_t k2)
{
	return mm_rotl(k2 * MM_C2, 33) * MM_C1;
}

uint64_t hamt_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h1 = 0, h2 = 0;
	size_t i, nblocks = len / 16, rest = len % 16;

	for (i = 0; i < nblocks; i++, p += 16) {
		h1 ^= mm_mix_k1(mm_le64(p, 8));
		h1 = mm_rotl(h1, 27) + h2;
		h1 = h1 * 5 + 0x52dce729;
		h2 ^= mm_mix_k2(mm_le64(p + 8, 8));
		h2 = mm_rotl(h2, 31) + h1;
		h2 = h2 * 5 + 0x38495ab5;
	}
	if (rest > 8)
		h2 ^= mm_mix_k2(mm_le64(p + 8, rest - 8));
	if (rest > 0)
		h1 ^= mm_mix_k1(mm_le64(p, rest > 8 ? 8 : rest));
	h1 ^= (uint64_t)len;
	h2 ^= (uint64_t)len;
	h1 += h2;
	h2 += h1;
	h1 = mm_fmix(h1);
	h2 = mm_fmix(h2);
	h1 += h2;
	/* The digest's first 8 bytes are h1 big-endian (JS @multiformats/murmur3,
	 * Go spaolacci/murmur3 Sum); HAMT indexes are taken from their top bits. */
	return h1;
}
