/* dagpb: strict decoder and canonical encoder for dag-pb PBNode / PBLink messages. */
#include "dagpb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "varint.h"

static const char *const link_field_names[] = {"?", "Hash", "Name", "Tsize"};

static int pb_read_fixed(const uint8_t *buf, size_t len, size_t *pos, size_t nbytes, uint64_t *out)
{
	size_t i;

	if (nbytes > len - *pos)
		return -1;
	*out = 0;
	for (i = 0; i < nbytes; i++)
		*out |= (uint64_t)buf[*pos + i] << (8 * i);
	*pos += nbytes;
	return 0;
}

int pb_field_read(const uint8_t *buf, size_t len, size_t *pos, size_t base, const char *what,
		  struct pb_field *f, struct errbuf *e)
{
	uint64_t tag;
	int n;

	f->start = *pos;
	f->body = NULL;
	n = varint_decode_pb(buf + *pos, len - *pos, &tag);
	if (n < 0)
		return err_set(e, -EINVAL, "%s: %s field tag at byte %zu", what,
			       n == -EAGAIN ? "truncated" : "malformed", base + *pos);
	*pos += (size_t)n;
	f->num = tag >> 3;
	f->wt = (int)(tag & 7);
	if (f->wt == PB_WT_FIXED64 || f->wt == PB_WT_FIXED32) {
		if (pb_read_fixed(buf, len, pos, f->wt == PB_WT_FIXED64 ? 8 : 4, &f->val))
			return err_set(e, -EINVAL, "%s: truncated fixed-size field at byte %zu",
				       what, base + f->start);
		return 0;
	}
	if (f->wt != PB_WT_VARINT && f->wt != PB_WT_LEN)
		return err_set(e, -EINVAL,
			       "%s: field %llu has unsupported wire type %d at byte %zu", what,
			       (unsigned long long)f->num, f->wt, base + f->start);
	n = varint_decode_pb(buf + *pos, len - *pos, &f->val);
	if (n < 0)
		return err_set(e, -EINVAL, "%s: %s varint in field %llu at byte %zu", what,
			       n == -EAGAIN ? "truncated" : "malformed", (unsigned long long)f->num,
			       base + *pos);
	*pos += (size_t)n;
	if (f->wt == PB_WT_LEN) {
		if (f->val > len - *pos)
			return err_set(e, -EINVAL,
				       "%s: truncated length-delimited field at byte %zu "
				       "(length %llu, %zu bytes left)",
				       what, base + f->start, (unsigned long long)f->val,
				       len - *pos);
		f->body = buf + *pos;
		*pos += (size_t)f->val;
	}
	return 0;
}

static int pb_link_hash(struct pb_link *l, const struct pb_field *f, const char *what,
			struct errbuf *e)
{
	size_t used = 0;
	int rc;

	rc = cid_decode(f->body, (size_t)f->val, &l->cid, &used, e);
	if (rc < 0)
		return err_prefix(e, -EINVAL, "%s: Hash", what);
	if (used != f->val)
		return err_set(e, -EINVAL, "%s: Hash has %zu bytes after the CID", what,
			       (size_t)f->val - used);
	return 0;
}

/* Decode one PBLink from buf[0..len); off is its offset in the node. */
static int pb_decode_link(const uint8_t *buf, size_t len, size_t off, size_t idx, struct pb_link *l,
			  struct errbuf *e)
{
	char what[48];
	struct pb_field f;
	uint64_t last = 0;
	size_t pos = 0;
	bool has_hash = false;
	int rc;

	snprintf(what, sizeof(what), "dag-pb: link %zu", idx);
	memset(l, 0, sizeof(*l));
	while (pos < len) {
		rc = pb_field_read(buf, len, &pos, off, what, &f, e);
		if (rc)
			return rc;
		if (f.num < 1 || f.num > 3)
			return err_set(e, -EINVAL, "%s: unknown field %llu", what,
				       (unsigned long long)f.num);
		if (f.num == last)
			return err_set(e, -EINVAL, "%s: duplicate %s", what,
				       link_field_names[f.num]);
		if (f.num < last)
			return err_set(e, -EINVAL, "%s: %s before %s", what, link_field_names[last],
				       link_field_names[f.num]);
		last = f.num;
		if (f.wt != (f.num == 3 ? PB_WT_VARINT : PB_WT_LEN))
			return err_set(e, -EINVAL, "%s: %s has wrong wire type %d", what,
				       link_field_names[f.num], f.wt);
		if (f.num == 1) {
			rc = pb_link_hash(l, &f, what, e);
			if (rc)
				return rc;
			has_hash = true;
		} else if (f.num == 2) {
			l->name = f.body;
			l->name_len = (size_t)f.val;
			l->has_name = true;
		} else {
			l->tsize = f.val;
			l->has_tsize = true;
		}
	}
	if (!has_hash)
		return err_set(e, -EINVAL, "%s: missing Hash", what);
	return 0;
}

/* First pass: check the node-level layout and count the links. */
static int pb_scan_node(const uint8_t *buf, size_t len, size_t *nlinks, struct errbuf *e)
{
	struct pb_field f;
	size_t pos = 0, n = 0, before_data = 0;
	bool has_data = false;
	int rc;

	while (pos < len) {
		rc = pb_field_read(buf, len, &pos, 0, "dag-pb", &f, e);
		if (rc)
			return rc;
		if (f.num != 1 && f.num != 2)
			return err_set(e, -EINVAL, "dag-pb: unknown field %llu at byte %zu",
				       (unsigned long long)f.num, f.start);
		if (f.wt != PB_WT_LEN)
			return err_set(e, -EINVAL, "dag-pb: %s field has wire type %d, want 2",
				       f.num == 1 ? "Data" : "Links", f.wt);
		if (f.num == 1) {
			if (has_data)
				return err_set(e, -EINVAL,
					       "dag-pb: duplicate Data field at byte %zu", f.start);
			has_data = true;
			before_data = n;
			continue;
		}
		if (has_data && before_data > 0)
			return err_set(e, -EINVAL,
				       "dag-pb: link %zu at byte %zu: Links on both sides of Data",
				       n, f.start);
		if (++n > DAGPB_MAX_LINKS)
			return err_set(e, -EINVAL, "dag-pb: more than %d links", DAGPB_MAX_LINKS);
	}
	*nlinks = n;
	return 0;
}

int pb_decode(const uint8_t *buf, size_t len, struct pb_node *out, struct errbuf *e)
{
	struct pb_field f;
	size_t pos = 0, n = 0, nlinks = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = pb_scan_node(buf, len, &nlinks, e);
	if (rc)
		return rc;
	if (nlinks) {
		out->links = calloc(nlinks, sizeof(*out->links));
		if (!out->links)
			return err_set(e, -ENOMEM, "dag-pb: out of memory for %zu links", nlinks);
	}
	while (pos < len) {
		rc = pb_field_read(buf, len, &pos, 0, "dag-pb", &f, e);
		if (rc)
			goto fail;
		if (f.num == 1) {
			out->data = f.body;
			out->data_len = (size_t)f.val;
			out->has_data = true;
			continue;
		}
		rc = pb_decode_link(f.body, (size_t)f.val, (size_t)(f.body - buf), n,
				    &out->links[n], e);
		if (rc)
			goto fail;
		n++;
	}
	out->nlinks = n;
	return 0;
fail:
	pb_node_free(out);
	return rc;
}

void pb_node_free(struct pb_node *n)
{
	if (!n)
		return;
	free(n->links);
	memset(n, 0, sizeof(*n));
}

static size_t pb_len_field_size(size_t len)
{
	return 1 + varint_size(len) + len;
}

static size_t pb_link_size(const struct pb_link *l)
{
	size_t s = pb_len_field_size(l->cid.len);

	if (l->has_name)
		s += pb_len_field_size(l->name_len);
	if (l->has_tsize)
		s += 1 + varint_size(l->tsize);
	return s;
}

/* Append a tag and a varint; space was reserved by the caller. */
static void pb_put_varint_field(struct dynbuf *out, uint8_t tag, uint64_t v)
{
	uint8_t tmp[1 + VARINT_MAX];
	size_t n;

	tmp[0] = tag;
	n = varint_encode(v, tmp + 1);
	dynbuf_append(out, tmp, 1 + n);
}

static void pb_put_bytes_field(struct dynbuf *out, uint8_t tag, const uint8_t *p, size_t len)
{
	pb_put_varint_field(out, tag, len);
	dynbuf_append(out, p, len);
}

int pb_encode(const struct pb_node *n, struct dynbuf *out)
{
	size_t total = 0, i, ls;
	int rc;

	for (i = 0; i < n->nlinks; i++) {
		ls = pb_link_size(&n->links[i]);
		total += pb_len_field_size(ls);
	}
	if (n->has_data)
		total += pb_len_field_size(n->data_len);
	rc = dynbuf_reserve(out, total);
	if (rc)
		return rc;
	/* Space is reserved: the appends below cannot fail. */
	for (i = 0; i < n->nlinks; i++) {
		const struct pb_link *l = &n->links[i];

		pb_put_varint_field(out, 0x12, pb_link_size(l));
		pb_put_bytes_field(out, 0x0a, l->cid.bin, l->cid.len);
		if (l->has_name)
			pb_put_bytes_field(out, 0x12, l->name, l->name_len);
		if (l->has_tsize)
			pb_put_varint_field(out, 0x18, l->tsize);
	}
	if (n->has_data)
		pb_put_bytes_field(out, 0x0a, n->data, n->data_len);
	return 0;
}
