/* carsrc: CAR files as an indexed, verified block source (see carsrc.h). */
#include "carsrc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "car.h"
#include "multihash.h"
#include "varint.h"

#define CARSRC_MAX_BLOCKS (1u << 24) /* 16 M blocks: 4 TB of 256 KiB leaves */
#define CARSRC_V2_HEADER  51	     /* 11-byte pragma + 40-byte header */

struct carsrc_file {
	int fd;
	char *path;
};

struct carsrc_ent {
	uint64_t off;	 /* block bytes in the file */
	uint64_t mh_off; /* multihash bytes in the arena */
	uint32_t len;
	uint16_t mh_len;
	uint16_t file;
	uint64_t hash;
};

struct carsrc {
	struct carsrc_file *files;
	size_t nfiles;
	struct carsrc_ent *ents;
	size_t nents, ents_cap;
	uint8_t *arena; /* multihashes */
	size_t arena_len, arena_cap;
	uint32_t *slots; /* entry index + 1; 0 = empty; power-of-two size */
	size_t nslots;
};

/* ---- the hash table ---- */

static const uint8_t *carsrc_ent_mh(const struct carsrc *c, const struct carsrc_ent *en)
{
	return c->arena + en->mh_off;
}

static long carsrc_find(const struct carsrc *c, const struct cid *cid)
{
	uint64_t h = cid_hash(cid);
	size_t i, mask = c->nslots - 1;

	if (!c->nslots)
		return -1;
	for (i = h & mask; c->slots[i]; i = (i + 1) & mask) {
		const struct carsrc_ent *en = &c->ents[c->slots[i] - 1];

		if (en->hash == h && en->mh_len == cid->mh_len &&
		    !memcmp(carsrc_ent_mh(c, en), cid_mh(cid), cid->mh_len))
			return (long)(c->slots[i] - 1);
	}
	return -1;
}

static void carsrc_slot_put(struct carsrc *c, uint32_t idx)
{
	size_t i, mask = c->nslots - 1;

	for (i = c->ents[idx].hash & mask; c->slots[i]; i = (i + 1) & mask)
		;
	c->slots[i] = idx + 1;
}

static int carsrc_rehash(struct carsrc *c)
{
	size_t n = c->nslots ? c->nslots * 2 : 1024, i;
	uint32_t *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	free(c->slots);
	c->slots = s;
	c->nslots = n;
	for (i = 0; i < c->nents; i++)
		carsrc_slot_put(c, (uint32_t)i);
	return 0;
}

static int carsrc_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* Record one block unless its multihash is already indexed. */
static int carsrc_add(struct carsrc *c, const struct cid *cid, uint16_t file, uint64_t off,
		      uint32_t len)
{
	struct carsrc_ent *en;

	if (carsrc_find(c, cid) >= 0)
		return 0;
	if (c->nents >= CARSRC_MAX_BLOCKS)
		return -EFBIG;
	if (carsrc_grow((void **)&c->ents, &c->ents_cap, c->nents + 1, sizeof(*c->ents)) ||
	    carsrc_grow((void **)&c->arena, &c->arena_cap, c->arena_len + cid->mh_len, 1))
		return -ENOMEM;
	if ((c->nents + 1) * 2 > c->nslots && carsrc_rehash(c))
		return -ENOMEM;
	en = &c->ents[c->nents];
	en->off = off;
	en->len = len;
	en->file = file;
	en->mh_off = c->arena_len;
	en->mh_len = cid->mh_len;
	en->hash = cid_hash(cid);
	memcpy(c->arena + c->arena_len, cid_mh(cid), cid->mh_len);
	c->arena_len += cid->mh_len;
	carsrc_slot_put(c, (uint32_t)c->nents);
	c->nents++;
	return 0;
}

/* ---- scanning one file ---- */

struct carsrc_rd {
	int fd;
	uint64_t pos;
};

static ssize_t carsrc_read_cb(void *ctx, void *buf, size_t n)
{
	struct carsrc_rd *r = ctx;
	ssize_t got;

	do
		got = pread(r->fd, buf, n, (off_t)r->pos);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	r->pos += (uint64_t)got;
	return got;
}

/* pread as much as possible of n bytes; returns bytes read or -errno. */
static ssize_t carsrc_pread(int fd, void *buf, size_t n, uint64_t off)
{
	struct carsrc_rd r = {fd, off};
	size_t done = 0;
	ssize_t got;

	while (done < n) {
		got = carsrc_read_cb(&r, (uint8_t *)buf + done, n - done);
		if (got < 0)
			return got;
		if (got == 0)
			break;
		done += (size_t)got;
	}
	return (ssize_t)done;
}

static uint64_t carsrc_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Where the CARv1 payload's header starts and the payload ends. */
static int carsrc_payload(int fd, int version, uint64_t fsize, uint64_t *start, uint64_t *end,
			  struct errbuf *e)
{
	uint8_t h[CARSRC_V2_HEADER];
	uint64_t doff, dsize;

	*start = 0;
	*end = fsize;
	if (version == 1)
		return 0;
	if (carsrc_pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return err_set(e, -EINVAL, "CARv2 header truncated");
	doff = carsrc_le64(h + 11 + 16);
	dsize = carsrc_le64(h + 11 + 24);
	if (doff < CARSRC_V2_HEADER || doff > fsize || dsize > fsize - doff)
		return err_set(
		    e, -EINVAL, "CARv2 data offset %llu size %llu outside the %llu-byte file",
		    (unsigned long long)doff, (unsigned long long)dsize, (unsigned long long)fsize);
	*start = doff;
	*end = doff + dsize;
	return 0;
}

/* Validate the header with the car reader; *first = offset of the first section. */
static int carsrc_header(int fd, uint64_t fsize, uint64_t *first, uint64_t *end, struct errbuf *e)
{
	struct carsrc_rd r = {fd, 0};
	struct car_reader *cr;
	uint8_t buf[VARINT_MAX];
	uint64_t start, hlen;
	ssize_t n;
	int rc, version, v;

	rc = car_reader_open(carsrc_read_cb, &r, &cr, e);
	if (rc)
		return rc;
	version = car_reader_version(cr);
	car_reader_free(cr);
	rc = carsrc_payload(fd, version, fsize, &start, end, e);
	if (rc)
		return rc;
	n = carsrc_pread(fd, buf, sizeof(buf), start);
	if (n < 0)
		return err_set(e, (int)n, "read at %llu: %s", (unsigned long long)start,
			       strerror((int)-n));
	v = varint_decode(buf, (size_t)n, &hlen);
	if (v <= 0 || hlen > CAR_MAX_HEADER || start + (uint64_t)v + hlen > *end)
		return err_set(e, -EINVAL, "bad CARv1 header length at offset %llu",
			       (unsigned long long)start);
	*first = start + (uint64_t)v + hlen;
	return 0;
}

/* Parse the section at pos; on success *next is the following section. */
static int carsrc_section(struct carsrc *c, uint16_t file, uint64_t pos, uint64_t end,
			  uint64_t *next, struct errbuf *e)
{
	uint8_t buf[VARINT_MAX + CID_MAX_BIN];
	uint64_t slen, blen;
	struct cid cid;
	size_t want = sizeof(buf), used;
	ssize_t n;
	int v, rc;

	if (end - pos < want)
		want = (size_t)(end - pos);
	n = carsrc_pread(c->files[file].fd, buf, want, pos);
	if (n < 0)
		return err_set(e, (int)n, "read at %llu: %s", (unsigned long long)pos,
			       strerror((int)-n));
	v = varint_decode(buf, (size_t)n, &slen);
	if (v <= 0 || slen == 0)
		return err_set(e, -EINVAL, "bad section length at offset %llu",
			       (unsigned long long)pos);
	if (slen > end - pos - (uint64_t)v)
		return err_set(e, -EINVAL, "section at offset %llu (%llu bytes) is truncated",
			       (unsigned long long)pos, (unsigned long long)slen);
	rc = cid_decode(buf + v, (size_t)n - (size_t)v, &cid, &used, e);
	if (rc || used > slen)
		return err_set(e, -EINVAL, "bad CID in section at offset %llu",
			       (unsigned long long)pos);
	blen = slen - used;
	if (blen > BLOCK_MAX)
		return err_set(e, -EFBIG, "block at offset %llu is %llu bytes (limit %u)",
			       (unsigned long long)pos, (unsigned long long)blen, BLOCK_MAX);
	rc = carsrc_add(c, &cid, file, pos + (uint64_t)v + used, (uint32_t)blen);
	if (rc == -EFBIG)
		return err_set(e, rc, "more than %u blocks", CARSRC_MAX_BLOCKS);
	if (rc)
		return err_set(e, rc, "out of memory indexing");
	*next = pos + (uint64_t)v + slen;
	return 0;
}

static int carsrc_index(struct carsrc *c, uint16_t file, struct errbuf *e)
{
	const char *path = c->files[file].path;
	uint64_t pos = 0, end = 0;
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "car %s: %s", path, strerror(errno));
	c->files[file].fd = fd;
	if (fstat(fd, &st))
		return err_set(e, -errno, "car %s: %s", path, strerror(errno));
	rc = carsrc_header(fd, (uint64_t)st.st_size, &pos, &end, e);
	while (!rc && pos < end)
		rc = carsrc_section(c, file, pos, end, &pos, e);
	return rc ? err_prefix(e, rc, "car %s", path) : 0;
}

int carsrc_open(const char *const *paths, size_t n, struct carsrc **out, struct errbuf *e)
{
	struct carsrc *c;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (n > UINT16_MAX)
		return err_set(e, -EINVAL, "car: too many files");
	c = calloc(1, sizeof(*c));
	if (!c || !(c->files = calloc(n ? n : 1, sizeof(*c->files)))) {
		free(c);
		return err_set(e, -ENOMEM, "car: out of memory");
	}
	for (i = 0; i < n; i++)
		c->files[i].fd = -1;
	c->nfiles = n;
	for (i = 0; i < n && !rc; i++) {
		c->files[i].path = strdup(paths[i]);
		rc = c->files[i].path ? carsrc_index(c, (uint16_t)i, e)
				      : err_set(e, -ENOMEM, "car: out of memory");
	}
	if (rc) {
		carsrc_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void carsrc_free(struct carsrc *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nfiles; i++) {
		if (c->files[i].fd >= 0)
			close(c->files[i].fd);
		free(c->files[i].path);
	}
	free(c->files);
	free(c->ents);
	free(c->arena);
	free(c->slots);
	free(c);
}

int carsrc_has(const struct carsrc *c, const struct cid *cid)
{
	return c && carsrc_find(c, cid) >= 0;
}

size_t carsrc_count(const struct carsrc *c)
{
	return c ? c->nents : 0;
}

int carsrc_get(const struct carsrc *c, const struct cid *cid, uint8_t **data, size_t *len,
	       struct errbuf *e)
{
	const struct carsrc_ent *en;
	const char *path;
	uint8_t *buf;
	long idx;
	ssize_t n;
	int rc;

	*data = NULL;
	*len = 0;
	idx = c ? carsrc_find(c, cid) : -1;
	if (idx < 0)
		return err_set(e, -ENOENT, "not in any CAR file");
	en = &c->ents[idx];
	path = c->files[en->file].path;
	buf = malloc(en->len ? en->len : 1);
	if (!buf)
		return err_set(e, -ENOMEM, "car: out of memory");
	n = carsrc_pread(c->files[en->file].fd, buf, en->len, en->off);
	if (n != (ssize_t)en->len) {
		free(buf);
		return err_set(e, -EIO, "car %s: block at offset %llu: %s", path,
			       (unsigned long long)en->off,
			       n < 0 ? strerror((int)-n) : "file shrank (short read)");
	}
	rc = mh_verify(cid, buf, en->len, e);
	if (rc) {
		free(buf);
		return err_prefix(e, rc, "car %s: block at offset %llu", path,
				  (unsigned long long)en->off);
	}
	*data = buf;
	*len = en->len;
	return 0;
}
