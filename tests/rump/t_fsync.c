/* aio_fsync. */
#include <errno.h>

#include "rump_aio.h"

static void
fsync_after_writes(int op)
{
	enum { N = 8, SZ = 4096 };
	struct aiocb *w[N], *s;
	ssize_t r;
	int fd, i, e, notdone = 0;

	REQUIRE((fd = t_file(op == 's' ? "fsync" : "fdsync", 0,
	    RUMP_O_RDWR)) >= 0);
	for (i = 0; i < N; i++) {
		w[i] = t_cb();
		w[i]->aio_fildes = fd;
		w[i]->aio_buf = t_buf(SZ);
		w[i]->aio_nbytes = SZ;
		w[i]->aio_offset = (int64_t)i * SZ;
		REQUIRE((e = t_submit('w', w[i])) == 0, "aio_write %d: %d", i, e);
	}
	s = t_cb();
	s->aio_fildes = fd;
	REQUIRE((e = t_submit(op, s)) == 0, "%s: errno %d", t_opname(op), e);
	REQUIRE((e = t_wait(s, 5000)) == 0, "%s: aio_error %d", t_opname(op),
	    e);
	for (i = 0; i < N; i++)
		if (rump_sys_aio_error(w[i]) == NB_EINPROGRESS)
			notdone++;
	CHECK(notdone == 0, "%d write(s) queued before %s still in progress "
	    "when it completed", notdone, t_opname(op));
	CHECK((r = rump_sys_aio_return(s)) == 0, "%s: aio_return %zd",
	    t_opname(op), r);
	for (i = 0; i < N; i++) {
		CHECK((e = t_wait(w[i], 5000)) == 0, "write %d: %d", i, e);
		CHECK((r = rump_sys_aio_return(w[i])) == SZ,
		    "write %d: aio_return %zd", i, r);
	}
}

void
fsync_sync(void)
{
	fsync_after_writes('s');
}

void
fsync_dsync(void)
{
	fsync_after_writes('d');
}

void
fsync_bad_op(void)
{
	static const int ops[] = { 0, RUMP_O_RDWR, 0x12345, -1 };
	struct aiocb *cb;
	unsigned i;
	int fd, rv;

	REQUIRE((fd = t_file("fsyncop", 10, RUMP_O_RDWR)) >= 0);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		cb = t_cb();
		cb->aio_fildes = fd;
		errno = 0;
		rv = rump_sys_aio_fsync(ops[i], cb);
		CHECK(rv == -1 && errno == NB_EINVAL,
		    "aio_fsync(op %#x): %d errno %d, want -1/EINVAL", ops[i],
		    rv, errno);
		if (rv == 0)
			(void)t_wait(cb, 3000);
	}
}

void
fsync_ebadf(void)
{
	struct aiocb *cb;
	int ro, k;

	/* POSIX lists EBADF among aio_fsync's "shall fail" errors. */
	REQUIRE((ro = t_file("fsyncro", 10, RUMP_O_RDONLY)) >= 0);
	cb = t_cb();
	cb->aio_fildes = ro;
	k = t_expect_err('s', cb, NB_EBADF, 0, "aio_fsync on O_RDONLY");
	if (k == 'a')
		FAIL("aio_fsync on O_RDONLY: EBADF only as the asynchronous "
		    "result, not at the call");
	cb = t_cb();
	cb->aio_fildes = 999;
	k = t_expect_err('d', cb, NB_EBADF, 0, "aio_fsync on fd 999");
	if (k == 'a')
		FAIL("aio_fsync on fd 999: EBADF only as the asynchronous "
		    "result, not at the call");
}
