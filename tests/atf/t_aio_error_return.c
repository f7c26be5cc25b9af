/*
 * t_aio_error_return: submission errors, aio_error() and aio_return().
 *
 * POSIX lets aio_read()/aio_write() report EBADF and EINVAL either
 * synchronously (-1 and errno) or asynchronously (the operation's error
 * status), so those cases accept both, but insist on the right errno;
 * with AIO_STRICT an EBADF (descriptor -1, closed, or open in the wrong
 * mode: all known at submission) must come from the call itself (see
 * H_SUBMIT_ERR in h_aio.h).
 * Checks of optional behaviour (EINVAL for an aiocb that is not a
 * submitted operation, for an invalid sigevent, for an aiocb already in
 * progress) use H_OPT()/H_STRICT_ONLY(), see h_aio.h.
 *
 * EAGAIN for exceeding the per-process limit is not tested: the limit
 * cannot be provoked portably.
 *
 * Pending operations are made with a pipe whose write end stays open and
 * empty: a read on it cannot complete until the test writes.
 */

#include <sys/socket.h>

#include "h_aio.h"

static char buf[256];

/* A regular file with 100 bytes, opened with the given flags. */
static int
file_with(int flags)
{
	char data[100];
	int fd;

	h_fill(data, sizeof(data), 11);
	fd = h_file("f", data, sizeof(data));
	ATF_REQUIRE(close(fd) == 0);
	fd = open("f", flags);
	ATF_REQUIRE(fd != -1);
	return fd;
}

H_TC(einval_negative_offset, "EINVAL for a negative offset on a file")
ATF_TC_BODY(einval_negative_offset, tc)
{
	struct aiocb cb;
	int fd;

	fd = file_with(O_RDWR);
	h_cb(&cb, fd, buf, 10, -1);
	H_SUBMIT_ERR(aio_read(&cb), &cb, EINVAL);
	h_cb(&cb, fd, buf, 10, -4096);
	H_SUBMIT_ERR(aio_write(&cb), &cb, EINVAL);
	H_EQ(h_size(fd), 100);
}

H_TC(einval_nbytes, "EINVAL for aio_nbytes > SSIZE_MAX")
ATF_TC_BODY(einval_nbytes, tc)
{
	struct aiocb cb;
	int fd;

	/* Empty file: even a wrongly accepted read transfers nothing. */
	fd = h_file("f", NULL, 0);
	h_cb(&cb, fd, buf, (size_t)SSIZE_MAX + 1, 0);
	H_SUBMIT_ERR_OPT(aio_read(&cb), &cb, EINVAL);
	h_cb(&cb, fd, buf, SIZE_MAX, 0);
	H_SUBMIT_ERR_OPT(aio_write(&cb), &cb, EINVAL);
}

H_TC(einval_reqprio, "EINVAL for a negative aio_reqprio")
ATF_TC_BODY(einval_reqprio, tc)
{
	struct aiocb cb;
	int fd;

	fd = file_with(O_RDWR);
	h_cb(&cb, fd, buf, 10, 0);
	cb.aio_reqprio = -1;
	H_SUBMIT_ERR(aio_read(&cb), &cb, EINVAL);
	h_cb(&cb, fd, buf, 10, 0);
	cb.aio_reqprio = INT_MIN;
	H_SUBMIT_ERR(aio_write(&cb), &cb, EINVAL);
}

H_TC(einval_sigev_notify, "EINVAL for an unknown sigev_notify")
ATF_TC_BODY(einval_sigev_notify, tc)
{
	struct aiocb cb;
	int fd;

	fd = file_with(O_RDWR);
	h_cb(&cb, fd, buf, 10, 0);
	cb.aio_sigevent.sigev_notify = 12345;
	H_SUBMIT_ERR_OPT(aio_read(&cb), &cb, EINVAL);
}

H_TC(einval_sigev_signo_zero, "SIGEV_SIGNAL with signal 0: EINVAL, "
    "except on Linux where it means no notification")
ATF_TC_BODY(einval_sigev_signo_zero, tc)
{
	struct aiocb cb;
	int fd;

	fd = file_with(O_RDWR);
	h_cb(&cb, fd, buf, 10, 0);
	cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb.aio_sigevent.sigev_signo = 0;
#ifdef __linux__
	/*
	 * SIGEV_SIGNAL is 0 on Linux, so every zeroed aiocb asks for signal
	 * 0; glibc sends nothing for it and programs rely on that.
	 */
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_wait_ok(&cb, 10);
#else
	H_SUBMIT_ERR_OPT(aio_read(&cb), &cb, EINVAL);
#endif
}

H_TC(einval_sigev_signo_big, "EINVAL for SIGEV_SIGNAL with signal 1000")
ATF_TC_BODY(einval_sigev_signo_big, tc)
{
	struct aiocb cb;
	int fd;

	fd = file_with(O_RDWR);
	h_cb(&cb, fd, buf, 10, 0);
	cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb.aio_sigevent.sigev_signo = 1000;
	H_SUBMIT_ERR_OPT(aio_write(&cb), &cb, EINVAL);
	h_cb(&cb, fd, buf, 10, 0);
	cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb.aio_sigevent.sigev_signo = -1;
	H_SUBMIT_ERR_OPT(aio_read(&cb), &cb, EINVAL);
}

H_TC(einval_in_progress, "EINVAL when resubmitting an aiocb in progress")
ATF_TC_BODY(einval_in_progress, tc)
{
	struct aiocb cb;
	int s[2], r;

	/* Undefined in POSIX: glibc would queue the aiocb twice. */
	H_STRICT_ONLY("resubmitting an in-progress aiocb is undefined");
	/* A socket, so that aio_write on the descriptor is valid too. */
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
	h_cb(&cb, s[0], buf, 10, 0);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_sleep_ms(20);
	ATF_REQUIRE_EQ(aio_error(&cb), EINPROGRESS);
	errno = 0;
	r = aio_read(&cb);
	ATF_REQUIRE_MSG(r == -1 && errno == EINVAL,
	    "second aio_read gave %d errno %d", r, errno);
	errno = 0;
	r = aio_write(&cb);
	ATF_REQUIRE_MSG(r == -1 && errno == EINVAL,
	    "aio_write on it gave %d errno %d", r, errno);
	/* The original operation is unaffected. */
	ATF_REQUIRE_EQ(aio_error(&cb), EINPROGRESS);
	h_write_all(s[1], "0123456789", 10);
	h_wait_ok(&cb, 10);
	ATF_REQUIRE(memcmp(buf, "0123456789", 10) == 0);
}

H_TC(ebadf_minus_one, "EBADF for aio_fildes -1")
ATF_TC_BODY(ebadf_minus_one, tc)
{
	struct aiocb cb;

	h_cb(&cb, -1, buf, 10, 0);
	H_SUBMIT_ERR(aio_read(&cb), &cb, EBADF);
	h_cb(&cb, -1, buf, 10, 0);
	H_SUBMIT_ERR(aio_write(&cb), &cb, EBADF);
}

H_TC(ebadf_closed, "EBADF for a closed descriptor")
ATF_TC_BODY(ebadf_closed, tc)
{
	struct aiocb cb;
	int fd;

	fd = file_with(O_RDWR);
	ATF_REQUIRE(close(fd) == 0);
	h_cb(&cb, fd, buf, 10, 0);
	H_SUBMIT_ERR(aio_read(&cb), &cb, EBADF);
	h_cb(&cb, fd, buf, 10, 0);
	H_SUBMIT_ERR(aio_write(&cb), &cb, EBADF);
}

H_TC(ebadf_read_wronly, "EBADF for aio_read on an O_WRONLY descriptor")
ATF_TC_BODY(ebadf_read_wronly, tc)
{
	struct aiocb cb;
	int fd;

	fd = file_with(O_WRONLY);
	memset(buf, 0x5a, sizeof(buf));
	h_cb(&cb, fd, buf, 10, 0);
	H_SUBMIT_ERR(aio_read(&cb), &cb, EBADF);
	ATF_REQUIRE(buf[0] == 0x5a);
}

H_TC(ebadf_write_rdonly, "EBADF for aio_write on an O_RDONLY descriptor")
ATF_TC_BODY(ebadf_write_rdonly, tc)
{
	struct aiocb cb;
	int fd;

	fd = file_with(O_RDONLY);
	h_cb(&cb, fd, buf, 10, 200);
	H_SUBMIT_ERR(aio_write(&cb), &cb, EBADF);
	H_EQ(h_size(fd), 100);
}

H_TC(error_inprogress, "aio_error is EINPROGRESS while pending, then 0")
ATF_TC_BODY(error_inprogress, tc)
{
	struct aiocb cb;
	int p[2], i;

	h_pipe(p);
	h_cb(&cb, p[0], buf, 5, 0);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	/* It stays in progress: sample it for a while. */
	for (i = 0; i < 20; i++) {
		ATF_REQUIRE_EQ(aio_error(&cb), EINPROGRESS);
		h_sleep_ms(5);
	}
	h_write_all(p[1], "hello", 5);
	ATF_REQUIRE_EQ(h_wait(&cb), 0);
	ATF_REQUIRE_EQ(aio_error(&cb), 0);
	H_EQ(aio_return(&cb), 5);
	ATF_REQUIRE(memcmp(buf, "hello", 5) == 0);
}

H_TC(error_job_errno, "aio_error gives the failed operation's errno")
ATF_TC_BODY(error_job_errno, tc)
{
	struct aiocb cb;
	int p[2], e;

	/* A write to a pipe without reader fails with EPIPE when it runs. */
	h_pipe(p);
	ATF_REQUIRE(close(p[0]) == 0);
	h_cb(&cb, p[1], buf, 10, 0);
	ATF_REQUIRE_EQ(aio_write(&cb), 0);
	ATF_REQUIRE_EQ(h_wait(&cb), EPIPE);
	ATF_REQUIRE_EQ(aio_error(&cb), EPIPE);	/* stable until reaped */
	H_EQ(aio_return(&cb), -1);
	/* Optional: the status is gone once reaped. */
	errno = 0;
	e = aio_error(&cb);
	H_OPT(e == -1 && errno == EINVAL,
	    "aio_error after aio_return of a failed job gave %d (errno %d)",
	    e, errno);
}

H_TC(error_never_submitted, "aio_error is EINVAL for a zeroed aiocb")
ATF_TC_BODY(error_never_submitted, tc)
{
	struct aiocb cb;
	int e;

	memset(&cb, 0, sizeof(cb));
	errno = 0;
	e = aio_error(&cb);
	H_OPT(e == -1 && errno == EINVAL,
	    "aio_error on a never-submitted aiocb gave %d (errno %d)",
	    e, errno);
}

H_TC(return_once, "aio_return gives the count once, then EINVAL")
ATF_TC_BODY(return_once, tc)
{
	struct aiocb cb;
	ssize_t r;
	int fd, e;

	fd = file_with(O_RDWR);
	h_cb(&cb, fd, buf, 60, 10);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	ATF_REQUIRE_EQ(h_wait(&cb), 0);
	H_EQ(aio_return(&cb), 60);

	errno = 0;
	r = aio_return(&cb);
	H_OPT(r == -1 && errno == EINVAL,
	    "second aio_return gave %zd (errno %d)", r, errno);
	errno = 0;
	e = aio_error(&cb);
	H_OPT(e == -1 && errno == EINVAL,
	    "aio_error after aio_return gave %d (errno %d)", e, errno);
}

H_TC(status_consistency, "aio_error 0 always comes with the final count")
ATF_TC_BODY(status_consistency, tc)
{
	enum { DEPTH = 4, LEN = 16 };
	struct aiocb cb[DEPTH];
	char data[4096], rb[DEPTH][LEN];
	long long deadline, spins;
	long n;
	ssize_t r;
	int fd, i, e;

	/*
	 * Poll aio_error() as fast as possible while operations complete:
	 * once it says 0 the return status must already be final, never a
	 * stale -1 or 0 (a non-atomic status write-back shows up here).
	 */
	h_fill(data, sizeof(data), 12);
	fd = h_file("f", data, sizeof(data));
	deadline = h_now_ms() + 3000;
	for (n = 0; n < 200000 && h_now_ms() < deadline; n += DEPTH) {
		for (i = 0; i < DEPTH; i++) {
			h_cb(&cb[i], fd, rb[i], LEN,
			    (off_t)(((n + i) * LEN) % (long)sizeof(data)));
			ATF_REQUIRE_EQ(aio_read(&cb[i]), 0);
		}
		for (i = 0; i < DEPTH; i++) {
			for (spins = 0; (e = aio_error(&cb[i])) == EINPROGRESS;
			    spins++)
				if ((spins & 0xfff) == 0xfff)
					ATF_REQUIRE_MSG(h_now_ms() <
					    deadline + H_WAIT_MS,
					    "operation %ld never completed",
					    n + i);
			ATF_REQUIRE_MSG(e == 0, "operation %ld: error %d",
			    n + i, e);
			r = aio_return(&cb[i]);
			ATF_REQUIRE_MSG(r == LEN, "operation %ld: aio_error "
			    "was 0 but aio_return gave %zd", n + i, r);
		}
	}
	ATF_REQUIRE(n >= 1000);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, einval_negative_offset);
	ATF_TP_ADD_TC(tp, einval_nbytes);
	ATF_TP_ADD_TC(tp, einval_reqprio);
	ATF_TP_ADD_TC(tp, einval_sigev_notify);
	ATF_TP_ADD_TC(tp, einval_sigev_signo_zero);
	ATF_TP_ADD_TC(tp, einval_sigev_signo_big);
	ATF_TP_ADD_TC(tp, einval_in_progress);
	ATF_TP_ADD_TC(tp, ebadf_minus_one);
	ATF_TP_ADD_TC(tp, ebadf_closed);
	ATF_TP_ADD_TC(tp, ebadf_read_wronly);
	ATF_TP_ADD_TC(tp, ebadf_write_rdonly);
	ATF_TP_ADD_TC(tp, error_inprogress);
	ATF_TP_ADD_TC(tp, error_job_errno);
	ATF_TP_ADD_TC(tp, error_never_submitted);
	ATF_TP_ADD_TC(tp, return_once);
	ATF_TP_ADD_TC(tp, status_consistency);
	return atf_no_error();
}
