/* version: the release version of mpack and mpackfs. */
#ifndef MPACK_VERSION_H
#define MPACK_VERSION_H
#define MPACK_VERSION "0.1.0"
#endif
