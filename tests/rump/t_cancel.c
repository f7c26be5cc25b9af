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

/*
 * Cancels cb, which waits on its stream, and checks that it was cancelled:
 * AIO_CANCELED, then ECANCELED and aio_return -1.  what names it.
 */
static void
expect_cancelled(int fd, struct aiocb *cb, const char *what)
{
	ssize_t r;
	int rv, e;

	rv = rump_sys_aio_cancel(fd, cb);
	CHECK(rv == NB_AIO_CANCELED, "%s: aio_cancel = %d (%s) errno %d, want "
	    "AIO_CANCELED", what, rv, cancel_name(rv), rv == -1 ? errno : 0);
	CHECK((e = rump_sys_aio_error(cb)) == NB_ECANCELED,
	    "%s: aio_error %d after the cancel", what, e);
	errno = 0;
	CHECK((r = rump_sys_aio_return(cb)) == -1, "%s: aio_return %zd", what,
	    r);
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

/*
 * A read waiting for data on an empty pipe is cancelled (the worker waits
 * for the pipe without being committed to the read): AIO_CANCELED,
 * ECANCELED, and nothing is taken from the pipe afterwards.  NetBSD's C
 * component answers AIO_NOTCANCELED here.
 */
void
cancel_pipe_waiting(void)
{
	struct aiocb *a, *c;
	char got[32];
	int p[2], rv, e;
	ssize_t r;

	t_pipe(p);
	REQUIRE(p[0] >= 0);
	a = pipe_read_cb(p[0]);
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read: %d", e);
	t_settle();
	REQUIRE((e = rump_sys_aio_error(a)) == NB_EINPROGRESS,
	    "read of an empty pipe: aio_error %d", e);
	expect_cancelled(p[0], a, "read waiting for data");
	rv = rump_sys_aio_cancel(p[0], NULL);
	CHECK(rv == NB_AIO_ALLDONE, "aio_cancel(fd, NULL) afterwards = %d (%s)",
	    rv, cancel_name(rv));

	/* The cancelled read took nothing; the pipe still serves AIO. */
	REQUIRE(rump_sys_write(p[1], "0123456789abcdef", 16) == 16,
	    "pipe write: %d", errno);
	t_settle();
	CHECK((r = rump_sys_read(p[0], got, sizeof(got))) == 16,
	    "read after the cancel: %zd (the cancelled job consumed data?)", r);
	c = pipe_read_cb(p[0]);
	REQUIRE((e = t_submit('r', c)) == 0, "aio_read C: %d", e);
	REQUIRE(rump_sys_write(p[1], "fedcba9876543210", 16) == 16,
	    "pipe write: %d", errno);
	CHECK((e = t_wait(c, 5000)) == 0, "C: aio_error %d", e);
	CHECK((r = rump_sys_aio_return(c)) == 16, "C: aio_return %zd", r);
	CHECK(memcmp((const void *)c->aio_buf, "fedcba9876543210", 16) == 0,
	    "C's data differs");
}

/* An AF_LOCAL stream socketpair, or 0 after a skip (no librumpnet_local). */
static int
t_socketpair(int sv[2])
{

	sv[0] = sv[1] = -1;
	if (rump_sys_socketpair(RUMP_AF_LOCAL, RUMP_SOCK_STREAM, 0, sv) != 0) {
		t_skip("no AF_LOCAL sockets in this rump kernel "
		    "(librumpnet_local not linked)");
		return 0;
	}
	t_fd(sv[0]);
	t_fd(sv[1]);
	return 1;
}

/*
 * Two reads queued on a socket, one byte written: the first read gets it,
 * the second, now the one waiting for data, is cancelled, and the socket
 * serves a later request and a plain read.
 */
void
cancel_socket_waiting(void)
{
	struct aiocb *a, *b, *c;
	char got[4];
	int sv[2], e;
	ssize_t r;

	if (!t_socketpair(sv))
		return;
	a = t_cb_io(sv[0], 1);
	b = t_cb_io(sv[0], 1);
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read A: %d", e);
	REQUIRE((e = t_submit('r', b)) == 0, "aio_read B: %d", e);
	REQUIRE(rump_sys_write(sv[1], "x", 1) == 1, "socket write: %d", errno);
	CHECK((e = t_wait(a, 5000)) == 0, "A: aio_error %d", e);
	CHECK((r = rump_sys_aio_return(a)) == 1, "A: aio_return %zd", r);
	t_settle();
	REQUIRE((e = rump_sys_aio_error(b)) == NB_EINPROGRESS,
	    "B: aio_error %d, want EINPROGRESS", e);
	expect_cancelled(sv[0], b, "B, waiting for data");

	c = t_cb_io(sv[0], 1);
	REQUIRE((e = t_submit('r', c)) == 0, "aio_read C: %d", e);
	REQUIRE(rump_sys_write(sv[1], "yz", 2) == 2, "socket write: %d", errno);
	CHECK((e = t_wait(c, 5000)) == 0, "C: aio_error %d", e);
	CHECK(((const char *)c->aio_buf)[0] == 'y', "C read %#x, want 'y'",
	    ((const unsigned char *)c->aio_buf)[0]);
	t_settle();
	CHECK((r = rump_sys_read(sv[0], got, sizeof(got))) == 1 && got[0] == 'z',
	    "plain read after the cancel: %zd", r);
}

/* Fills fd's send room with non-blocking writes; returns the bytes put. */
static size_t
fill(int fd)
{
	static char junk[4096];
	size_t n = 0;
	ssize_t r;
	int fl;

	fl = rump_sys_fcntl(fd, NB_F_GETFL);
	rump_sys_fcntl(fd, NB_F_SETFL, fl | RUMP_O_NONBLOCK);
	while ((r = rump_sys_write(fd, junk, sizeof(junk))) > 0)
		n += r;
	while ((r = rump_sys_write(fd, junk, 1)) > 0)
		n += r;
	rump_sys_fcntl(fd, NB_F_SETFL, fl);
	return n;
}

/*
 * A write waiting for room is cancelled, on a full socket and on a full
 * pipe; then a write waiting on the pipe ends with EPIPE when the read end
 * is closed (the close must not wait for it).
 */
void
cancel_write_room(void)
{
	struct aiocb *w, *w2;
	int sv[2], p[2], e, i;
	const char *what[2] = { "socket", "pipe" };
	int wfd[2];

	t_pipe(p);
	REQUIRE(p[0] >= 0);
	wfd[1] = p[1];
	wfd[0] = t_socketpair(sv) ? sv[0] : -1;
	for (i = 0; i < 2; i++) {
		if (wfd[i] < 0)
			continue;
		REQUIRE(fill(wfd[i]) > 0, "%s: nothing written", what[i]);
		w = t_cb_io(wfd[i], 65536);
		REQUIRE((e = t_submit('w', w)) == 0, "%s aio_write: %d",
		    what[i], e);
		t_settle();
		REQUIRE((e = rump_sys_aio_error(w)) == NB_EINPROGRESS,
		    "%s: aio_error %d, want EINPROGRESS (not full?)", what[i],
		    e);
		expect_cancelled(wfd[i], w, what[i]);
	}

	w2 = t_cb_io(p[1], 512);
	REQUIRE((e = t_submit('w', w2)) == 0, "second pipe aio_write: %d", e);
	t_settle();
	REQUIRE((e = rump_sys_aio_error(w2)) == NB_EINPROGRESS,
	    "second pipe write: aio_error %d", e);
	t_close(p[0]);
	CHECK((e = t_wait(w2, 5000)) == NB_EPIPE,
	    "pipe write after the read end closed: aio_error %d, want EPIPE",
	    e);
	(void)rump_sys_aio_return(w2);
}

/*
 * A write that got part of its bytes out before the cancel is stopped,
 * not cancelled: AIO_NOTCANCELED, and it completes with what it wrote,
 * which is what the reader receives.
 */
void
cancel_write_partial(void)
{
	enum { LEN = 1 << 20 };
	struct aiocb *w;
	unsigned char *got;
	int sv[2], rv, e;
	ssize_t r, n, total;

	if (!t_socketpair(sv))
		return;
	w = t_cb_io(sv[0], LEN);
	t_pattern((void *)w->aio_buf, LEN, 7);
	REQUIRE((e = t_submit('w', w)) == 0, "aio_write: %d", e);
	t_settle();
	REQUIRE((e = rump_sys_aio_error(w)) == NB_EINPROGRESS,
	    "a write larger than the socket's room: aio_error %d", e);
	rv = rump_sys_aio_cancel(sv[0], w);
	CHECK(rv == NB_AIO_NOTCANCELED, "aio_cancel(partly written) = %d (%s) "
	    "errno %d, want AIO_NOTCANCELED", rv, cancel_name(rv),
	    rv == -1 ? errno : 0);
	CHECK((e = t_wait(w, 5000)) == 0, "stopped write: aio_error %d", e);
	r = rump_sys_aio_return(w);
	CHECK(r > 0 && r < LEN, "stopped write: aio_return %zd, want a short "
	    "count", r);
	if (r <= 0 || r >= LEN)
		return;

	got = t_buf(LEN);
	total = 0;
	rump_sys_fcntl(sv[1], NB_F_SETFL, RUMP_O_NONBLOCK);
	while ((n = rump_sys_read(sv[1], got + total, LEN - total)) > 0)
		total += n;
	CHECK(total == r, "the reader got %zd bytes, the write reported %zd",
	    total, r);
	CHECK(memcmp(got, (const void *)w->aio_buf, total) == 0,
	    "the bytes received differ from those written");
}

/*
 * A read of a FIFO the program opened non-blocking, with no data: the
 * FIFO says EWOULDBLOCK, and the worker waits for data (looking again
 * every tick; fifofs has no wait of ours to end) where a cancel can end
 * it.  A later read gets the data once it comes.
 */
void
cancel_fifo_nonblock(void)
{
	struct aiocb *a, *c;
	const char *path = "/tmp/cfifo";
	int rfd, wfd, rv, e;
	ssize_t r;

	(void)rump_sys_unlink(path);
	if (rump_sys_mkfifo(path, 0600) != 0) {
		t_skip("no FIFOs in this rump kernel (librumpvfs_fifofs not "
		    "linked)");
		return;
	}
	rfd = t_fd(rump_sys_open(path, RUMP_O_RDONLY | RUMP_O_NONBLOCK));
	if (rfd < 0 && errno == NB_EOPNOTSUPP) {
		t_skip("FIFOs cannot be opened in this rump kernel "
		    "(EOPNOTSUPP: librumpvfs_fifofs missing, or loaded by "
		    "rump_server after tmpfs set up its FIFO operations)");
		return;
	}
	REQUIRE(rfd >= 0, "open the FIFO to read: %d", errno);
	REQUIRE((wfd = t_fd(rump_sys_open(path, RUMP_O_WRONLY))) >= 0,
	    "open the FIFO to write: %d", errno);
	a = pipe_read_cb(rfd);
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read: %d", e);
	t_settle();
	REQUIRE((e = rump_sys_aio_error(a)) == NB_EINPROGRESS,
	    "read of an empty non-blocking FIFO: aio_error %d, want "
	    "EINPROGRESS (it waits for data, as on a pipe)", e);
	rv = rump_sys_aio_cancel(rfd, a);
	CHECK(rv == NB_AIO_CANCELED, "aio_cancel = %d (%s) errno %d, want "
	    "AIO_CANCELED", rv, cancel_name(rv), rv == -1 ? errno : 0);
	CHECK((e = t_wait(a, 5000)) == NB_ECANCELED, "after the cancel: "
	    "aio_error %d", e);

	c = pipe_read_cb(rfd);
	REQUIRE((e = t_submit('r', c)) == 0, "aio_read C: %d", e);
	REQUIRE(rump_sys_write(wfd, "0123456789abcdef", 16) == 16,
	    "FIFO write: %d", errno);
	CHECK((e = t_wait(c, 5000)) == 0, "C: aio_error %d", e);
	CHECK((r = rump_sys_aio_return(c)) == 16, "C: aio_return %zd", r);
	CHECK(memcmp((const void *)c->aio_buf, "0123456789abcdef", 16) == 0,
	    "C's data differs");
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
