/* errbuf: a readable error message written into a caller's buffer.
 *
 * Functions that can fail take a `struct errbuf *` (may be NULL) as their last
 * parameter, return 0 or -errno, and on failure leave one line describing the
 * cause ("cid: bad base32 character 'x' at 7"). */
#ifndef MPACK_ERRBUF_H
#define MPACK_ERRBUF_H

#define ERRBUF_MAX 512

struct errbuf {
	char msg[ERRBUF_MAX];
};

/* Format the message into e (if non-NULL) and return code unchanged, so that
 * callers can write `return err_set(e, -EINVAL, "...", ...)`. */
int err_set(struct errbuf *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with "prefix: ". Returns code. */
int err_prefix(struct errbuf *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
