/* jsonw: a small streaming JSON writer. */
#include "jsonw.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void jw_init(struct jsonw *w, size_t cap)
{
	memset(w, 0, sizeof(*w));
	dynbuf_init(&w->buf, cap);
}

void jw_free(struct jsonw *w)
{
	dynbuf_free(&w->buf);
}

static void put(struct jsonw *w, const void *p, size_t n)
{
	if (!w->err)
		w->err = dynbuf_append(&w->buf, p, n);
}

static void puts_(struct jsonw *w, const char *s)
{
	put(w, s, strlen(s));
}

/* Comma before a value unless it follows a key. */
static void sep(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->need_comma[w->depth])
		put(w, ",", 1);
	w->need_comma[w->depth] = true;
}

const char *jw_text(struct jsonw *w)
{
	put(w, "", 1);
	if (w->err)
		return NULL;
	w->buf.len--;
	return (const char *)w->buf.data;
}

static void open_(struct jsonw *w, const char *c)
{
	sep(w);
	put(w, c, 1);
	if (w->depth + 1 >= JSONW_MAX_DEPTH) {
		w->err = -E2BIG;
		return;
	}
	w->need_comma[++w->depth] = false;
}

static void close_(struct jsonw *w, const char *c)
{
	if (w->depth > 0)
		w->depth--;
	put(w, c, 1);
}

void jw_obj(struct jsonw *w)
{
	open_(w, "{");
}
void jw_obj_end(struct jsonw *w)
{
	close_(w, "}");
}
void jw_arr(struct jsonw *w)
{
	open_(w, "[");
}
void jw_arr_end(struct jsonw *w)
{
	close_(w, "]");
}

/* Writes s as a JSON string through put: quotes and backslashes escaped,
 * control bytes as \u00XX, other bytes (UTF-8) as they are. */
static void escape_to(void (*put_fn)(void *ctx, const void *p, size_t n), void *ctx, const char *s,
		      size_t n)
{
	char u[8];
	size_t i, start = 0;

	put_fn(ctx, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put_fn(ctx, s + start, i - start);
		if (c == '"' || c == '\\') {
			u[0] = '\\';
			u[1] = (char)c;
			put_fn(ctx, u, 2);
		} else {
			snprintf(u, sizeof(u), "\\u%04x", c);
			put_fn(ctx, u, 6);
		}
		start = i + 1;
	}
	put_fn(ctx, s + start, n - start);
	put_fn(ctx, "\"", 1);
}

static void put_jw(void *ctx, const void *p, size_t n)
{
	put(ctx, p, n);
}

static void put_file(void *ctx, const void *p, size_t n)
{
	fwrite(p, 1, n, ctx);
}

static void escaped(struct jsonw *w, const char *s, size_t n)
{
	escape_to(put_jw, w, s, n);
}

void jw_fput_str(FILE *f, const char *s)
{
	escape_to(put_file, f, s, strlen(s));
}

void jw_key(struct jsonw *w, const char *k)
{
	sep(w);
	escaped(w, k, strlen(k));
	put(w, ":", 1);
	w->after_key = true;
}

void jw_strn(struct jsonw *w, const char *s, size_t n)
{
	sep(w);
	escaped(w, s, n);
}

void jw_str(struct jsonw *w, const char *s)
{
	if (!s) {
		jw_null(w);
		return;
	}
	jw_strn(w, s, strlen(s));
}

void jw_u64(struct jsonw *w, uint64_t v)
{
	char b[32];

	sep(w);
	snprintf(b, sizeof(b), "%" PRIu64, v);
	puts_(w, b);
}

void jw_i64(struct jsonw *w, int64_t v)
{
	char b[32];

	sep(w);
	snprintf(b, sizeof(b), "%" PRId64, v);
	puts_(w, b);
}

void jw_dbl(struct jsonw *w, double v)
{
	char b[64];

	sep(w);
	if (!isfinite(v))
		v = 0;
	snprintf(b, sizeof(b), "%.6g", v);
	puts_(w, b);
}

void jw_bool(struct jsonw *w, bool v)
{
	sep(w);
	puts_(w, v ? "true" : "false");
}

void jw_null(struct jsonw *w)
{
	sep(w);
	puts_(w, "null");
}

void jw_raw(struct jsonw *w, const char *json)
{
	sep(w);
	puts_(w, json);
}

void jw_kstr(struct jsonw *w, const char *k, const char *s)
{
	jw_key(w, k);
	jw_str(w, s);
}
void jw_ku64(struct jsonw *w, const char *k, uint64_t v)
{
	jw_key(w, k);
	jw_u64(w, v);
}
void jw_kdbl(struct jsonw *w, const char *k, double v)
{
	jw_key(w, k);
	jw_dbl(w, v);
}
void jw_kbool(struct jsonw *w, const char *k, bool v)
{
	jw_key(w, k);
	jw_bool(w, v);
}
