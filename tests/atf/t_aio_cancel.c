/*
 * t_aio_cancel: aio_cancel().
 *
 * Pending operations are reads on pipes with no data.  POSIX lets an
 * implementation refuse to cancel an operation that is already running
 * (AIO_NOTCANCELED); glibc runs the first request of a descriptor in a
 * helper thread blocked in read(2) and cannot cancel it, but it can
 * cancel the requests queued behind it.  So the tests queue two or more
 * reads per pipe: the second one must be cancellable everywhere, and
 * either answer is accepted for the first (running) one.  netbsd-aio
 * cancels a read or write that waits for its pipe or socket too, on
 * every host (a worker waits for the stream without being committed to
 * the transfer, src/engine/job.rs and sys-headers/helpers.c):
 * canceled_waiting_on_stream and canceled_waiting_for_room require it
 * with AIO_STRICT.
 *
 * A mismatch between aio_cancel's fildes and aiocb->aio_fildes "may"
 * fail with EINVAL in POSIX: that check uses H_OPT() (see h_aio.h).
 */

#include "h_aio.h"

static char bufs[4][64];

/* Write data so that every uncancelled read completes, then reap all. */
static void
drain(int wfd, struct aiocb *cb, int n)
{
	int i;

	ATF_REQUIRE(close(wfd) == 0);	/* readers then see end of file */
	for (i = 0; i < n; i++) {
		ATF_REQUIRE(h_wait(&cb[i]) != EINPROGRESS);
		(void)aio_return(&cb[i]);
	}
}

H_TC(cancel_pending, "a pending read is cancelled: ECANCELED, return -1")
ATF_TC_BODY(cancel_pending, tc)
{
	struct aiocb cb[2];
	char got[16];
	int p[2], r, i;

	h_pipe(p);
	for (i = 0; i < 2; i++) {
		h_cb(&cb[i], p[0], bufs[i], 10, 0);
		ATF_REQUIRE_EQ(aio_read(&cb[i]), 0);
	}
	h_sleep_ms(20);
	ATF_REQUIRE_EQ(aio_error(&cb[0]), EINPROGRESS);
	ATF_REQUIRE_EQ(aio_error(&cb[1]), EINPROGRESS);

	/* The second read is queued behind the first: cancellable. */
	r = aio_cancel(p[0], &cb[1]);
	ATF_REQUIRE_MSG(r == AIO_CANCELED,
	    "aio_cancel of a queued read gave %d, expected AIO_CANCELED", r);
	ATF_REQUIRE_EQ(aio_error(&cb[1]), ECANCELED);
	H_EQ(aio_return(&cb[1]), -1);

	/*
	 * The first one is already running (a worker waits in read(2) for
	 * the pipe): POSIX lets that be AIO_NOTCANCELED, and then it must
	 * still complete normally; if cancelled, it must not consume data.
	 */
	r = aio_cancel(p[0], &cb[0]);
	ATF_REQUIRE_MSG(r == AIO_CANCELED || r == AIO_NOTCANCELED,
	    "aio_cancel of a read waiting for data gave %d", r);
	if (r == AIO_NOTCANCELED) {
		ATF_REQUIRE_EQ(aio_error(&cb[0]), EINPROGRESS);
		h_write_all(p[1], "abcdefghij", 10);
		h_wait_ok(&cb[0], 10);
		ATF_REQUIRE(memcmp(bufs[0], "abcdefghij", 10) == 0);
		return;
	}
	ATF_REQUIRE_EQ(aio_error(&cb[0]), ECANCELED);
	H_EQ(aio_return(&cb[0]), -1);
	h_write_all(p[1], "0123456789", 10);
	h_sleep_ms(20);
	ATF_REQUIRE_EQ(read(p[0], got, sizeof(got)), 10);
	ATF_REQUIRE(memcmp(got, "0123456789", 10) == 0);
}

/*
 * A read waiting for data on a stream is cancelled (FreeBSD does this;
 * glibc and NetBSD's C code answer AIO_NOTCANCELED): two reads queued on
 * a socketpair, one byte written, the second read, now the one waiting,
 * cancelled; nothing is taken from the stream and it stays usable.
 */
H_TC(canceled_waiting_on_stream, "a read waiting for data on a socket is "
    "cancelled: AIO_CANCELED, ECANCELED, the socket usable afterwards")
ATF_TC_BODY(canceled_waiting_on_stream, tc)
{
	struct aiocb a, b, c;
	char got[4];
	int sv[2], r;

	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	h_cb(&a, sv[0], bufs[0], 1, 0);
	h_cb(&b, sv[0], bufs[1], 1, 0);
	ATF_REQUIRE_EQ(aio_read(&a), 0);
	ATF_REQUIRE_EQ(aio_read(&b), 0);
	h_write_all(sv[1], "x", 1);
	h_wait_ok(&a, 1);
	h_sleep_ms(50);		/* b is now the one waiting for data */
	ATF_REQUIRE_EQ(aio_error(&b), EINPROGRESS);
	r = aio_cancel(sv[0], &b);
	H_OPT(r == AIO_CANCELED, "aio_cancel of a read waiting for data "
	    "gave %d, expected AIO_CANCELED (%d)", r, AIO_CANCELED);
	H_EQ(aio_error(&b), ECANCELED);
	H_EQ(aio_return(&b), -1);
	/* Usable: a later request completes, a plain read sees the rest. */
	h_cb(&c, sv[0], bufs[2], 1, 0);
	ATF_REQUIRE_EQ(aio_read(&c), 0);
	h_write_all(sv[1], "yz", 2);
	h_wait_ok(&c, 1);
	ATF_REQUIRE_EQ(bufs[2][0], 'y');
	ATF_REQUIRE_EQ(read(sv[0], got, sizeof(got)), 1);
	ATF_REQUIRE_EQ(got[0], 'z');
}

/*
 * A write waiting for room on a full socket is cancelled; one that got
 * part of its bytes out before the cancel is not cancelled but completes
 * with that count (AIO_NOTCANCELED), as write(2) interrupted by a signal
 * returns what it wrote.
 */
H_TC(canceled_waiting_for_room, "a write waiting for room on a full "
    "socket is cancelled: AIO_CANCELED, ECANCELED")
ATF_TC_BODY(canceled_waiting_for_room, tc)
{
	static char big[65536];
	struct aiocb w;
	char junk[4096];
	int sv[2], r, fl, filled = 0;

	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	/*
	 * O_NONBLOCK, not send(MSG_DONTWAIT): NetBSD 7's sosend() ignores
	 * MSG_DONTWAIT, and the fill would block for good.
	 */
	fl = fcntl(sv[0], F_GETFL);
	ATF_REQUIRE(fl != -1 && fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) == 0);
	while (write(sv[0], junk, sizeof(junk)) > 0)
		filled++;
	ATF_REQUIRE_MSG(errno == EAGAIN || errno == EWOULDBLOCK,
	    "filling the socket: %s", strerror(errno));
	ATF_REQUIRE(fcntl(sv[0], F_SETFL, fl) == 0);
	h_cb(&w, sv[0], big, sizeof(big), 0);
	ATF_REQUIRE_EQ(aio_write(&w), 0);
	h_sleep_ms(50);
	ATF_REQUIRE_EQ(aio_error(&w), EINPROGRESS);
	r = aio_cancel(sv[0], &w);
	H_OPT(r == AIO_CANCELED, "aio_cancel of a write waiting for room "
	    "gave %d, expected AIO_CANCELED (%d)", r, AIO_CANCELED);
	H_EQ(aio_error(&w), ECANCELED);
	H_EQ(aio_return(&w), -1);
	ATF_REQUIRE(filled > 0);
}

/*
 * A process that exits with a read waiting on an empty pipe (its write
 * end still open, so no data and no end of file will ever come) is gone
 * promptly.
 */
H_TC(exit_with_read_waiting_on_pipe, "exit with a read waiting on an "
    "empty pipe is prompt")
ATF_TC_BODY(exit_with_read_waiting_on_pipe, tc)
{
	pid_t pid;
	long long t0;
	int st;

	t0 = h_now_ms();
	pid = fork();
	ATF_REQUIRE(pid != -1);
	if (pid == 0) {
		struct aiocb cb;
		int p[2];

		if (pipe(p) != 0)
			_exit(2);
		h_cb(&cb, p[0], bufs[0], 1, 0);
		if (aio_read(&cb) != 0)
			_exit(3);
		h_sleep_ms(20);
		exit(0);
	}
	st = h_waitpid(pid, 5000);
	ATF_REQUIRE_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child status 0x%x", st);
	ATF_REQUIRE_MSG(h_now_ms() - t0 < 3000, "exit took %lld ms",
	    h_now_ms() - t0);
}

H_TC(cancel_all_fd, "aio_cancel(fd, NULL) cancels that fd's operations only")
ATF_TC_BODY(cancel_all_fd, tc)
{
	struct aiocb cb[3], other;
	char obuf[8];
	int p[2], q[2], r, i, ncanc;

	/*
	 * The other descriptor's read goes first, so that it is not queued
	 * behind the ones cancelled (or not) here.
	 */
	h_pipe(p);
	h_pipe(q);
	h_cb(&other, q[0], obuf, 4, 0);
	ATF_REQUIRE_EQ(aio_read(&other), 0);
	for (i = 0; i < 3; i++) {
		h_cb(&cb[i], p[0], bufs[i], 10, 0);
		ATF_REQUIRE_EQ(aio_read(&cb[i]), 0);
	}
	h_sleep_ms(20);

	r = aio_cancel(p[0], NULL);
	ATF_REQUIRE_MSG(r == AIO_CANCELED || r == AIO_NOTCANCELED,
	    "aio_cancel(fd, NULL) gave %d (errno %d)", r, errno);
	ncanc = 0;
	for (i = 0; i < 3; i++) {
		int e = aio_error(&cb[i]);

		if (e == ECANCELED) {
			H_EQ(aio_return(&cb[i]), -1);
			ncanc++;
		} else
			ATF_REQUIRE_MSG(e == EINPROGRESS,
			    "read %d has status %d after cancel", i, e);
	}
	/* The other descriptor's operation was not touched. */
	ATF_REQUIRE_EQ(aio_error(&other), EINPROGRESS);
	h_write_all(q[1], "qqqq", 4);
	h_wait_ok(&other, 4);
	ATF_REQUIRE(memcmp(obuf, "qqqq", 4) == 0);

	if (r == AIO_CANCELED)
		ATF_REQUIRE_EQ(ncanc, 3);
	else
		ATF_REQUIRE_MSG(ncanc >= 2 && ncanc < 3,
		    "AIO_NOTCANCELED but %d of 3 cancelled", ncanc);
	if (ncanc < 3) {
		/*
		 * The read a worker had already started waits in read(2) for
		 * the pipe and cannot be cancelled (AIO_NOTCANCELED, allowed
		 * by POSIX); closing the write end finishes it with EOF.
		 */
		ATF_REQUIRE(close(p[1]) == 0);
		for (i = 0; i < 3; i++)
			if (aio_error(&cb[i]) == EINPROGRESS) {
				ATF_REQUIRE_EQ(h_wait(&cb[i]), 0);
				(void)aio_return(&cb[i]);
			}
	}
	/* Nothing left: a second call finds everything done. */
	ATF_REQUIRE_EQ(aio_cancel(p[0], NULL), AIO_ALLDONE);
}

H_TC(cancel_alldone, "cancelling a completed operation gives AIO_ALLDONE")
ATF_TC_BODY(cancel_alldone, tc)
{
	struct aiocb cb;
	char data[32];
	int fd;

	h_fill(data, sizeof(data), 21);
	fd = h_file("f", data, sizeof(data));
	h_cb(&cb, fd, bufs[0], 32, 0);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	ATF_REQUIRE_EQ(h_wait(&cb), 0);
	ATF_REQUIRE_EQ(aio_cancel(fd, &cb), AIO_ALLDONE);
	/* Its status is not changed by the attempt. */
	ATF_REQUIRE_EQ(aio_error(&cb), 0);
	H_EQ(aio_return(&cb), 32);
	ATF_REQUIRE(memcmp(bufs[0], data, 32) == 0);
	/* No operations at all on the descriptor. */
	ATF_REQUIRE_EQ(aio_cancel(fd, NULL), AIO_ALLDONE);
}

H_TC(cancel_ebadf, "aio_cancel with an invalid descriptor gives EBADF")
ATF_TC_BODY(cancel_ebadf, tc)
{
	int fd;

	H_ERR(aio_cancel(-1, NULL), EBADF);
	fd = h_file("f", NULL, 0);
	ATF_REQUIRE(close(fd) == 0);
	H_ERR(aio_cancel(fd, NULL), EBADF);
}

H_TC(cancel_einval_fd_mismatch, "EINVAL if aiocb->aio_fildes != fildes")
ATF_TC_BODY(cancel_einval_fd_mismatch, tc)
{
	struct aiocb cb;
	int p[2], q[2], r, err;

	h_pipe(p);
	h_pipe(q);
	h_cb(&cb, p[0], bufs[0], 10, 0);
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_sleep_ms(20);
	errno = 0;
	r = aio_cancel(q[0], &cb);
	err = errno;
	/* Whatever happened, the operation must be left alone or finish. */
	if (r != AIO_CANCELED && aio_error(&cb) == EINPROGRESS) {
		h_write_all(p[1], "0123456789", 10);
		h_wait_ok(&cb, 10);
	} else
		(void)aio_return(&cb);
	H_OPT(r == -1 && err == EINVAL,
	    "aio_cancel(other fd, aiocb) gave %d errno %d", r, err);
}

H_TC(cancel_notifies, "a cancelled operation still sends its SIGEV_SIGNAL")
ATF_TC_BODY(cancel_notifies, tc)
{
	struct aiocb cb[2];
	int p[2], sig, i;

	sig = h_rtsig();
	h_sig_catch(sig);
	h_pipe(p);
	for (i = 0; i < 2; i++) {
		h_cb(&cb[i], p[0], bufs[i], 10, 0);
		if (i == 1)
			h_sigev_signal(&cb[i].aio_sigevent, sig,
			    (union sigval){ .sival_ptr = &cb[i] });
		ATF_REQUIRE_EQ(aio_read(&cb[i]), 0);
	}
	h_sleep_ms(20);
	ATF_REQUIRE_EQ(h_sig_count, 0);
	h_sig_watch = &cb[1];
	ATF_REQUIRE_EQ(aio_cancel(p[0], &cb[1]), AIO_CANCELED);
	ATF_REQUIRE_MSG(h_sig_wait(1, H_WAIT_MS),
	    "no notification for the cancelled operation");
	ATF_REQUIRE_EQ(h_sig_signo, sig);
	ATF_REQUIRE_EQ(h_sig_code, SI_ASYNCIO);
	ATF_REQUIRE(h_sig_ptr == &cb[1]);
	ATF_REQUIRE_EQ(h_sig_watch_err, ECANCELED);
	ATF_REQUIRE_EQ(aio_error(&cb[1]), ECANCELED);
	H_EQ(aio_return(&cb[1]), -1);
	drain(p[1], &cb[0], 1);
	h_sleep_ms(20);
	ATF_REQUIRE_EQ(h_sig_count, 1);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, cancel_pending);
	ATF_TP_ADD_TC(tp, canceled_waiting_on_stream);
	ATF_TP_ADD_TC(tp, canceled_waiting_for_room);
	ATF_TP_ADD_TC(tp, exit_with_read_waiting_on_pipe);
	ATF_TP_ADD_TC(tp, cancel_all_fd);
	ATF_TP_ADD_TC(tp, cancel_alldone);
	ATF_TP_ADD_TC(tp, cancel_ebadf);
	ATF_TP_ADD_TC(tp, cancel_einval_fd_mismatch);
	ATF_TP_ADD_TC(tp, cancel_notifies);
	return atf_no_error();
}
