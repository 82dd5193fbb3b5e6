/* fdio: small file-descriptor helpers. */
#ifndef MPACK_FDIO_H
#define MPACK_FDIO_H

#include <stddef.h>

/* Write all n bytes to fd, retrying short writes and EINTR. 0 or -errno. */
int fd_write_all(int fd, const void *p, size_t n);

#endif
