/* aio_error / aio_return, and the torn-result stress. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rump_aio.h"

void
error_states(void)
{
	struct aiocb *never, *pend, *dir;
	int p[2], e, fd, k;
	ssize_t rv;

	REQUIRE((fd = t_file("errstates", 100, RUMP_O_RDWR)) >= 0);
	never = t_cb();
	never->aio_fildes = fd;
	never->aio_buf = t_buf(16);
	never->aio_nbytes = 16;
	errno = 0;
	e = rump_sys_aio_error(never);
	CHECK(e == -1 && errno == NB_EINVAL,
	    "never-submitted aiocb: aio_error %d errno %d, want -1/EINVAL",
	    e, errno);

	t_pipe(p);
	REQUIRE(p[0] >= 0);
	pend = t_cb_io(p[0], 16);
	REQUIRE((e = t_submit('r', pend)) == 0, "aio_read: %d", e);
	t_settle();
	CHECK((e = rump_sys_aio_error(pend)) == NB_EINPROGRESS,
	    "pending pipe read: aio_error %d, want EINPROGRESS", e);
	REQUIRE(rump_sys_write(p[1], "12345678", 8) == 8, "pipe write: %d",
	    errno);
	CHECK((e = t_wait(pend, 5000)) == 0, "after data: aio_error %d", e);
	CHECK((rv = rump_sys_aio_return(pend)) == 8, "aio_return %zd", rv);
	CHECK(memcmp((const void *)pend->aio_buf, "12345678", 8) == 0,
	    "data differs");

	/* An error only the I/O itself can find: reading a directory. */
	REQUIRE((fd = t_fd(rump_sys_open("/tmp", RUMP_O_RDONLY, 0))) >= 0,
	    "open /tmp: %d", errno);
	dir = t_cb();
	dir->aio_fildes = fd;
	dir->aio_buf = t_buf(64);
	dir->aio_nbytes = 64;
	k = t_expect_err('r', dir, NB_EISDIR, 0, "aio_read of a directory");
	CHECK(k != 's', "EISDIR came at the call: aio_error's errno path "
	    "not exercised");
}

void
return_once(void)
{
	struct aiocb *cb, *never;
	ssize_t rv;
	int fd, e;

	REQUIRE((fd = t_file("retonce", 100, RUMP_O_RDWR)) >= 0);
	cb = t_cb();
	cb->aio_fildes = fd;
	cb->aio_buf = t_buf(10);
	cb->aio_nbytes = 10;
	REQUIRE((e = t_submit('r', cb)) == 0, "aio_read: %d", e);
	REQUIRE((e = t_wait(cb, 5000)) == 0, "aio_error %d", e);
	CHECK((e = rump_sys_aio_error(cb)) == 0, "aio_error again: %d", e);
	CHECK((rv = rump_sys_aio_return(cb)) == 10, "aio_return %zd", rv);
	errno = 0;
	rv = rump_sys_aio_return(cb);
	CHECK(rv == -1 && errno == NB_EINVAL,
	    "second aio_return: %zd errno %d, want -1/EINVAL", rv, errno);
	errno = 0;
	e = rump_sys_aio_error(cb);
	CHECK(e == -1 && errno == NB_EINVAL,
	    "aio_error after aio_return: %d errno %d, want -1/EINVAL", e,
	    errno);

	never = t_cb();
	never->aio_fildes = fd;
	errno = 0;
	rv = rump_sys_aio_return(never);
	CHECK(rv == -1 && errno == NB_EINVAL,
	    "aio_return of a never-submitted aiocb: %zd errno %d", rv, errno);

	/* The aiocb can be reused after aio_return. */
	REQUIRE((e = t_submit('r', cb)) == 0, "reuse: aio_read: %d", e);
	REQUIRE((e = t_wait(cb, 5000)) == 0, "reuse: aio_error %d", e);
	CHECK((rv = rump_sys_aio_return(cb)) == 10, "reuse: aio_return %zd", rv);
}

/*
 * Keeps QD reads in flight and polls them round-robin with aio_error;
 * each one that is no longer in progress is reaped with aio_return at once
 * (racing with the completion's write-back) and resubmitted.  A torn result
 * is aio_error()==0 followed by aio_return()==-1.
 */
void
torn_results(void)
{
	enum { QD = 32, SZ = 8 };
	struct aiocb *cb[QD];
	const char *s;
	long ops = 20000, submitted = 0, done = 0, idle = 0;
	long torn = 0, wrong = 0, errs = 0;
	int64_t t0, deadline;
	ssize_t rv;
	int fd, e, k, inflight = 0;

	if ((s = getenv("RUMP_TEST_TORN_OPS")) != NULL && atol(s) > 0)
		ops = atol(s);
	REQUIRE((fd = t_file("torn", 4096, RUMP_O_RDWR)) >= 0);
	for (k = 0; k < QD; k++) {
		cb[k] = t_cb();
		cb[k]->aio_buf = t_buf(SZ);
	}
	t0 = t_now_ms();
	deadline = t0 + 45000;
	for (k = 0; k < QD && submitted < ops; k++) {
		cb[k]->aio_fildes = fd;
		cb[k]->aio_nbytes = SZ;
		cb[k]->aio_offset = (submitted * SZ) % 4096;
		REQUIRE((e = t_submit('r', cb[k])) == 0, "aio_read: %d", e);
		submitted++;
		inflight++;
	}
	while (inflight > 0) {
		for (k = 0; k < QD; k++) {
			if (cb[k]->aio_fildes != fd)
				continue;
			e = rump_sys_aio_error(cb[k]);
			if (e == NB_EINPROGRESS)
				continue;
			rv = rump_sys_aio_return(cb[k]);
			done++;
			if (e == 0 && rv == -1) {
				torn++;
				/* reap the real result before reuse */
				(void)t_wait(cb[k], 1000);
				(void)rump_sys_aio_return(cb[k]);
			} else if (e == 0 && rv != SZ)
				wrong++;
			else if (e != 0)
				errs++;
			inflight--;
			cb[k]->aio_fildes = -1;
			if (submitted < ops && t_now_ms() < deadline) {
				cb[k]->aio_fildes = fd;
				cb[k]->aio_offset = (submitted * SZ) % 4096;
				if ((e = t_submit('r', cb[k])) != 0) {
					FAIL("aio_read: %d", e);
					cb[k]->aio_fildes = -1;
					break;
				}
				submitted++;
				inflight++;
			}
		}
		if (t_now_ms() > deadline + 10000) {
			idle = inflight;
			break;
		}
	}
	t_info("torn results (aio_error 0, aio_return -1): %ld of %ld "
	    "operations (%d in flight) in %.1f s", torn, done, QD,
	    (double)(t_now_ms() - t0) / 1000.0);
	CHECK(torn == 0, "%ld torn result(s) seen", torn);
	CHECK(wrong == 0, "%ld read(s) returned a count other than %d", wrong,
	    SZ);
	CHECK(errs == 0, "%ld read(s) failed", errs);
	CHECK(idle == 0, "%ld read(s) never completed", idle);
	CHECK(done == ops, "stopped after %ld of %ld operations (time limit)",
	    done, ops);
}
