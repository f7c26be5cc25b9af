/* aio_cancel. */
#include <errno.h>
#include <string.h>

#include "rump_aio.h"

static const char *
cancel_name(int rv)
{
	switch (rv) {
	case NB_AIO_CANCELED: return "AIO_CANCELED";
	case NB_AIO_NOTCANCELED: return "AIO_NOTCANCELED";
	case NB_AIO_ALLDONE: return "AIO_ALLDONE";
	case -1: return "-1";
	}
	return "?";
}

static struct aiocb *
pipe_read_cb(int fd)
{
	struct aiocb *cb = t_cb();

	cb->aio_fildes = fd;
	cb->aio_buf = t_buf(16);
	cb->aio_nbytes = 16;
	return cb;
}

/* Runs first, before this process has queued any AIO. */
void
cancel_nothing_queued(void)
{
	struct aiocb *cb;
	int fd, rv;

	REQUIRE((fd = t_file("cnq", 100, RUMP_O_RDWR)) >= 0);
	rv = rump_sys_aio_cancel(fd, NULL);
	CHECK(rv == NB_AIO_ALLDONE, "aio_cancel(fd, NULL) with nothing ever "
	    "queued: %d (%s) errno %d, want AIO_ALLDONE", rv, cancel_name(rv),
	    rv == -1 ? errno : 0);
	cb = pipe_read_cb(fd);
	rv = rump_sys_aio_cancel(fd, cb);
	CHECK(rv == NB_AIO_ALLDONE, "aio_cancel(fd, never-submitted aiocb): "
	    "%d (%s) errno %d, want AIO_ALLDONE", rv, cancel_name(rv),
	    rv == -1 ? errno : 0);
}

/*
 * A reads the pipe and blocks; B is queued behind it (a second read of the
 * same pipe through fdb, which must wait for A).  Cancels B through fdb.
 */
static void
cancel_queued(int same_fd)
{
	struct aiocb *a, *b;
	unsigned char *bb;
	int p[2], fdb, rv, e;
	ssize_t r;

	t_pipe(p);
	REQUIRE(p[0] >= 0);
	if (same_fd)
		fdb = p[0];
	else
		REQUIRE((fdb = t_fd(rump_sys_dup(p[0]))) >= 0, "dup: %d", errno);
	a = pipe_read_cb(p[0]);
	b = pipe_read_cb(fdb);
	bb = (unsigned char *)b->aio_buf;
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read A: %d", e);
	t_settle();
	REQUIRE((e = t_submit('r', b)) == 0, "aio_read B: %d", e);
	t_settle();
	REQUIRE(rump_sys_aio_error(a) == NB_EINPROGRESS, "A not in progress");
	REQUIRE(rump_sys_aio_error(b) == NB_EINPROGRESS, "B not in progress");

	rv = rump_sys_aio_cancel(fdb, b);
	e = rump_sys_aio_error(b);
	CHECK(rv == NB_AIO_CANCELED, "aio_cancel(B) = %d (%s) errno %d, want "
	    "AIO_CANCELED; B's aio_error is now %d", rv, cancel_name(rv),
	    rv == -1 ? errno : 0, e);
	if (rv == NB_AIO_CANCELED || e != NB_EINPROGRESS) {
		CHECK(e == NB_ECANCELED, "cancelled B: aio_error %d", e);
		errno = 0;
		CHECK((r = rump_sys_aio_return(b)) == -1,
		    "cancelled B: aio_return %zd", r);
	}
	CHECK((e = rump_sys_aio_error(a)) == NB_EINPROGRESS,
	    "A after cancelling B: aio_error %d", e);
	REQUIRE(rump_sys_write(p[1], "0123456789abcdef", 16) == 16,
	    "pipe write: %d", errno);
	CHECK((e = t_wait(a, 5000)) == 0, "A: aio_error %d", e);
	CHECK((r = rump_sys_aio_return(a)) == 16, "A: aio_return %zd", r);
	CHECK(memcmp((const void *)a->aio_buf, "0123456789abcdef", 16) == 0,
	    "A's data differs");
	CHECK(bb[0] == 0, "cancelled B's buffer was written");
}

void
cancel_canceled(void)
{
	cancel_queued(0);
}

void
cancel_canceled_same_fd(void)
{
	cancel_queued(1);
}

void
cancel_notcanceled(void)
{
	struct aiocb *a;
	int p[2], rv, e;
	ssize_t r;

	t_pipe(p);
	REQUIRE(p[0] >= 0);
	a = pipe_read_cb(p[0]);
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read: %d", e);
	t_settle();
	rv = rump_sys_aio_cancel(p[0], a);
	CHECK(rv == NB_AIO_NOTCANCELED, "aio_cancel(running A) = %d (%s) "
	    "errno %d", rv, cancel_name(rv), rv == -1 ? errno : 0);
	rv = rump_sys_aio_cancel(p[0], NULL);
	CHECK(rv == NB_AIO_NOTCANCELED, "aio_cancel(fd, NULL) = %d (%s) "
	    "errno %d", rv, cancel_name(rv), rv == -1 ? errno : 0);
	CHECK((e = rump_sys_aio_error(a)) == NB_EINPROGRESS,
	    "A after cancel: aio_error %d", e);
	REQUIRE(rump_sys_write(p[1], "0123456789abcdef", 16) == 16,
	    "pipe write: %d", errno);
	CHECK((e = t_wait(a, 5000)) == 0, "A: aio_error %d", e);
	CHECK((r = rump_sys_aio_return(a)) == 16, "A: aio_return %zd", r);
}

void
cancel_alldone(void)
{
	struct aiocb *cb;
	int fd, rv, e;
	ssize_t r;

	REQUIRE((fd = t_file("alldone", 100, RUMP_O_RDWR)) >= 0);
	cb = pipe_read_cb(fd);
	REQUIRE((e = t_submit('r', cb)) == 0, "aio_read: %d", e);
	REQUIRE((e = t_wait(cb, 5000)) == 0, "aio_error %d", e);
	rv = rump_sys_aio_cancel(fd, cb);
	CHECK(rv == NB_AIO_ALLDONE, "aio_cancel(done) = %d (%s) errno %d", rv,
	    cancel_name(rv), rv == -1 ? errno : 0);
	rv = rump_sys_aio_cancel(fd, NULL);
	CHECK(rv == NB_AIO_ALLDONE, "aio_cancel(fd, NULL) = %d (%s) errno %d",
	    rv, cancel_name(rv), rv == -1 ? errno : 0);
	CHECK((e = rump_sys_aio_error(cb)) == 0, "aio_error after cancel: %d",
	    e);
	CHECK((r = rump_sys_aio_return(cb)) == 16,
	    "aio_return after cancel: %zd", r);
}

void
cancel_ebadf(void)
{
	int fd, rv;

	errno = 0;
	rv = rump_sys_aio_cancel(999, NULL);
	CHECK(rv == -1 && errno == NB_EBADF, "fd 999: %d errno %d", rv, errno);
	errno = 0;
	rv = rump_sys_aio_cancel(-1, NULL);
	CHECK(rv == -1 && errno == NB_EBADF, "fd -1: %d errno %d", rv, errno);
	REQUIRE((fd = t_file("cebadf", 10, RUMP_O_RDWR)) >= 0);
	t_close(fd);
	errno = 0;
	rv = rump_sys_aio_cancel(fd, NULL);
	CHECK(rv == -1 && errno == NB_EBADF, "closed fd: %d errno %d", rv,
	    errno);
}

void
cancel_fd_mismatch(void)
{
	struct aiocb *done, *a;
	int fd, other, p[2], rv, e;

	REQUIRE((fd = t_file("mism", 100, RUMP_O_RDWR)) >= 0);
	REQUIRE((other = t_file("mism2", 100, RUMP_O_RDWR)) >= 0);
	done = pipe_read_cb(fd);
	REQUIRE((e = t_submit('r', done)) == 0, "aio_read: %d", e);
	REQUIRE((e = t_wait(done, 5000)) == 0, "aio_error %d", e);
	errno = 0;
	rv = rump_sys_aio_cancel(other, done);
	CHECK(rv == -1 && errno == NB_EINVAL, "completed aiocb of another fd: "
	    "%d (%s) errno %d, want -1/EINVAL", rv, cancel_name(rv),
	    rv == -1 ? errno : 0);

	t_pipe(p);
	REQUIRE(p[0] >= 0);
	a = pipe_read_cb(p[0]);
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read: %d", e);
	t_settle();
	errno = 0;
	rv = rump_sys_aio_cancel(other, a);
	CHECK(rv == -1 && errno == NB_EINVAL, "in-flight aiocb of another fd: "
	    "%d (%s) errno %d, want -1/EINVAL", rv, cancel_name(rv),
	    rv == -1 ? errno : 0);
	CHECK((e = rump_sys_aio_error(a)) == NB_EINPROGRESS,
	    "A after mismatched cancel: aio_error %d", e);
}
