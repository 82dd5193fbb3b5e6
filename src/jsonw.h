/* jsonw: a small streaming JSON writer into a capped dynbuf (for --json
 * output and the stats file). Commas are inserted automatically; nesting is
 * tracked up to JSONW_MAX_DEPTH. Errors (ENOMEM, cap) are sticky: check
 * jw->err once at the end. */
#ifndef MPACK_JSONW_H
#define MPACK_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dynbuf.h"

#define JSONW_MAX_DEPTH 32

struct jsonw {
	struct dynbuf buf;
	int depth;
	bool need_comma[JSONW_MAX_DEPTH];
	bool after_key;
	int err;
};

void jw_init(struct jsonw *w, size_t cap);
void jw_free(struct jsonw *w);
/* NUL-terminated text (owned by w) or NULL if an error happened. */
const char *jw_text(struct jsonw *w);

void jw_obj(struct jsonw *w);
void jw_obj_end(struct jsonw *w);
void jw_arr(struct jsonw *w);
void jw_arr_end(struct jsonw *w);
void jw_key(struct jsonw *w, const char *k);
void jw_str(struct jsonw *w, const char *s);
void jw_strn(struct jsonw *w, const char *s, size_t n);
void jw_u64(struct jsonw *w, uint64_t v);
void jw_i64(struct jsonw *w, int64_t v);
void jw_dbl(struct jsonw *w, double v);
void jw_bool(struct jsonw *w, bool v);
void jw_null(struct jsonw *w);
void jw_raw(struct jsonw *w, const char *json); /* already-valid JSON text */

/* Write s to f as a JSON string (for output streamed without a jsonw). */
void jw_fput_str(FILE *f, const char *s);

/* key + value shorthands */
void jw_kstr(struct jsonw *w, const char *k, const char *s);
void jw_ku64(struct jsonw *w, const char *k, uint64_t v);
void jw_kdbl(struct jsonw *w, const char *k, double v);
void jw_kbool(struct jsonw *w, const char *k, bool v);

#endif
