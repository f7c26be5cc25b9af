/*
 * t_aio_rw64: the cases of t_aio_rw built with _FILE_OFFSET_BITS=64.
 *
 * On glibc this makes <aio.h> route every call to its *64 name
 * (aio_read64, aio_error64, ...), so the large-file aliases of the
 * library under test are exercised too; on NetBSD, where off_t is always
 * 64 bits, it is simply a second run of the same cases.
 */

#define _FILE_OFFSET_BITS 64

#include "t_aio_rw.c"
