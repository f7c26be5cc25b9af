/*
 * h_preload: does LD_PRELOAD put a library's POSIX AIO in front of an
 * unmodified program?
 *
 * Not an ATF program: scripts/atf builds it against plain glibc (no link
 * to libnetbsd_aio.so) and runs it once without and once with
 * LD_PRELOAD=LIBRARY.  It asks the dynamic linker where aio_read is
 * defined, both for the address this program's own reference resolved
 * to and for dlsym(RTLD_DEFAULT, "aio_read"), and looks up
 * netbsd_aio_version; then it writes a block with aio_write, reads it
 * back with aio_read (waiting with aio_suspend) and checks the data.
 *
 * usage: h_preload LIBRARY
 *
 * Exit status: 0 if aio_read is LIBRARY's (by both lookups, and
 * netbsd_aio_version exists) and the I/O is right; 1 if the I/O is right
 * but aio_read comes from somewhere else (glibc); 2 if the I/O went
 * wrong or the check could not run.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* dladdr, RTLD_DEFAULT */
#endif

#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { BS = 4096, OFF = 3 * BS };

static char wbuf[BS], rbuf[BS];

/* The object defining the function at fn, as a real path, into buf. */
static const char *
object_of(const char *what, void *fn, char *buf)
{
	Dl_info info;

	if (fn == NULL || dladdr(fn, &info) == 0 || info.dli_fname == NULL) {
		fprintf(stderr, "h_preload: dladdr cannot place %s\n", what);
		exit(2);
	}
	if (realpath(info.dli_fname, buf) == NULL)
		snprintf(buf, PATH_MAX, "%s", info.dli_fname);
	return buf;
}

/* Wait (bounded) with aio_suspend for cb; return its aio_return. */
static ssize_t
finish(struct aiocb *cb, const char *op)
{
	const struct aiocb *list[1] = { cb };
	struct timespec ts = { 1, 0 };
	int e, i;

	for (i = 0; i < 10 && (e = aio_error(cb)) == EINPROGRESS; i++)
		if (aio_suspend(list, 1, &ts) == -1 && errno != EAGAIN &&
		    errno != EINTR) {
			fprintf(stderr, "h_preload: aio_suspend: %s\n",
			    strerror(errno));
			exit(2);
		}
	if (e != 0) {
		fprintf(stderr, "h_preload: %s: %s\n", op,
		    e == EINPROGRESS ? "still in progress after 10 s" :
		    strerror(e));
		exit(2);
	}
	return aio_return(cb);
}

/* BS bytes at OFF of fd through submit (aio_read or aio_write). */
static ssize_t
transfer(int (*submit)(struct aiocb *), const char *op, int fd, char *buf)
{
	struct aiocb cb;

	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_buf = buf;
	cb.aio_nbytes = BS;
	cb.aio_offset = OFF;
	cb.aio_sigevent.sigev_notify = SIGEV_NONE;
	if (submit(&cb) == -1) {
		fprintf(stderr, "h_preload: %s: %s\n", op, strerror(errno));
		exit(2);
	}
	return finish(&cb, op);
}

int
main(int argc, char **argv)
{
	char want[PATH_MAX], own[PATH_MAX], dflt[PATH_MAX];
	char path[] = "/tmp/h_preload.XXXXXX";
	const char *(*version)(void);
	ssize_t n;
	bool ours;
	int fd;
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: h_preload LIBRARY\n");
		return 2;
	}
	if (realpath(argv[1], want) == NULL) {
		fprintf(stderr, "h_preload: %s: %s\n", argv[1],
		    strerror(errno));
		return 2;
	}
	object_of("aio_read (this program's reference)", (void *)aio_read,
	    own);
	object_of("aio_read (RTLD_DEFAULT)", dlsym(RTLD_DEFAULT, "aio_read"),
	    dflt);
	version = (const char *(*)(void))dlsym(RTLD_DEFAULT,
	    "netbsd_aio_version");

	fd = mkstemp(path);
	if (fd == -1) {
		fprintf(stderr, "h_preload: mkstemp: %s\n", strerror(errno));
		return 2;
	}
	(void)unlink(path);
	for (i = 0; i < BS; i++)
		wbuf[i] = (char)(i * 7 + 3);
	if ((n = transfer(aio_write, "aio_write", fd, wbuf)) != BS) {
		fprintf(stderr, "h_preload: aio_write gave %zd\n", n);
		return 2;
	}
	if ((n = transfer(aio_read, "aio_read", fd, rbuf)) != BS ||
	    memcmp(rbuf, wbuf, BS) != 0) {
		fprintf(stderr, "h_preload: aio_read gave %zd bytes%s\n", n,
		    n == BS ? " of other data" : "");
		return 2;
	}
	(void)close(fd);

	ours = strcmp(own, want) == 0 && strcmp(dflt, want) == 0 &&
	    version != NULL;
	printf("h_preload: aio_read from %s (RTLD_DEFAULT: %s), %s; "
	    "aio_write/aio_read of %d bytes right\n", own, dflt,
	    version != NULL ? version() : "no netbsd_aio_version", BS);
	return ours ? 0 : 1;
}
