/* errbuf: readable error messages for callers. */
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct errbuf *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int err_prefix(struct errbuf *e, int code, const char *fmt, ...)
{
	char old[ERRBUF_MAX];
	size_t n;
	va_list ap;

	if (!e)
		return code;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", old);
	return code;
}
