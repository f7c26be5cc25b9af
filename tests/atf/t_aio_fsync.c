/*
 * t_aio_fsync: aio_fsync().
 *
 * Both O_SYNC and O_DSYNC must be accepted on a descriptor open for
 * writing; the sync operation covers the I/O queued before it, so when
 * it has completed the writes queued earlier on the same descriptor have
 * completed too.  Invalid op values fail synchronously with EINVAL
 * (the op is checked by aio_fsync itself); an invalid descriptor gives
 * EBADF, synchronously or through the operation's status, and so does a
 * read-only one (optional, glibc does not check it: see h_aio.h).
 */

#include "h_aio.h"

static void
sync_after_write(int op)
{
	char data[4096], back[4096];
	struct aiocb w, s;
	int fd;

	h_fill(data, sizeof(data), 31);
	fd = h_file("f", NULL, 0);
	h_cb(&w, fd, data, sizeof(data), 0);
	ATF_REQUIRE_EQ(aio_write(&w), 0);
	h_wait_ok(&w, sizeof(data));

	h_cb(&s, fd, NULL, 0, 0);
	ATF_REQUIRE_EQ(aio_fsync(op, &s), 0);
	ATF_REQUIRE_EQ(h_wait(&s), 0);
	H_EQ(aio_return(&s), 0);
	ATF_REQUIRE_EQ(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
	ATF_REQUIRE(memcmp(back, data, sizeof(data)) == 0);
	ATF_REQUIRE(close(fd) == 0);
}

H_TC(fsync_sync, "aio_fsync(O_SYNC) succeeds after a write")
ATF_TC_BODY(fsync_sync, tc)
{

	sync_after_write(O_SYNC);
}

H_TC(fsync_dsync, "aio_fsync(O_DSYNC) succeeds after a write")
ATF_TC_BODY(fsync_dsync, tc)
{

	sync_after_write(O_DSYNC);
}

H_TC(fsync_after_writes, "when aio_fsync completes, earlier writes have")
ATF_TC_BODY(fsync_after_writes, tc)
{
	enum { N = 16, BS = 256 * 1024 };
	static char data[N * BS], back[N * BS];
	struct aiocb w[N], s;
	int fd, i, round;

	h_fill(data, sizeof(data), 32);
	for (round = 0; round < 2; round++) {
		fd = h_file("f", NULL, 0);
		for (i = 0; i < N; i++) {
			h_cb(&w[i], fd, data + (size_t)i * BS, BS,
			    (off_t)i * BS);
			ATF_REQUIRE_EQ(aio_write(&w[i]), 0);
		}
		h_cb(&s, fd, NULL, 0, 0);
		ATF_REQUIRE_EQ(aio_fsync(round == 0 ? O_SYNC : O_DSYNC, &s),
		    0);
		ATF_REQUIRE_EQ(h_wait(&s), 0);
		/* Sample the writes immediately, without waiting. */
		for (i = 0; i < N; i++)
			ATF_REQUIRE_MSG(aio_error(&w[i]) != EINPROGRESS,
			    "write %d still in progress after aio_fsync "
			    "completed (round %d)", i, round);
		H_EQ(aio_return(&s), 0);
		for (i = 0; i < N; i++)
			h_wait_ok(&w[i], BS);
		ATF_REQUIRE_EQ(pread(fd, back, sizeof(back), 0),
		    (ssize_t)sizeof(back));
		ATF_REQUIRE(memcmp(back, data, sizeof(data)) == 0);
		ATF_REQUIRE(close(fd) == 0);
	}
}

H_TC(fsync_einval_op, "aio_fsync with op other than O_SYNC/O_DSYNC: EINVAL")
ATF_TC_BODY(fsync_einval_op, tc)
{
	struct aiocb s;
	int fd;

	fd = h_file("f", "x", 1);
	h_cb(&s, fd, NULL, 0, 0);
	H_ERR(aio_fsync(0, &s), EINVAL);
	h_cb(&s, fd, NULL, 0, 0);
	H_ERR(aio_fsync(12345, &s), EINVAL);
	h_cb(&s, fd, NULL, 0, 0);
	H_ERR(aio_fsync(O_SYNC | O_DSYNC | 0x40000000, &s), EINVAL);
}

H_TC(fsync_ebadf, "aio_fsync on an invalid or read-only descriptor: EBADF")
ATF_TC_BODY(fsync_ebadf, tc)
{
	struct aiocb s;
	int fd;

	h_cb(&s, -1, NULL, 0, 0);
	H_SUBMIT_ERR(aio_fsync(O_SYNC, &s), &s, EBADF);
	fd = h_file("f", "x", 1);
	ATF_REQUIRE(close(fd) == 0);
	h_cb(&s, fd, NULL, 0, 0);
	H_SUBMIT_ERR(aio_fsync(O_DSYNC, &s), &s, EBADF);

	/*
	 * POSIX: "not a valid file descriptor open for writing".  glibc
	 * only checks that the descriptor is valid (and Linux fsync(2)
	 * accepts a read-only one), hence optional.
	 */
	fd = open("f", O_RDONLY);
	ATF_REQUIRE(fd != -1);
	h_cb(&s, fd, NULL, 0, 0);
	H_SUBMIT_ERR_OPT(aio_fsync(O_SYNC, &s), &s, EBADF);
	h_cb(&s, fd, NULL, 0, 0);
	H_SUBMIT_ERR_OPT(aio_fsync(O_DSYNC, &s), &s, EBADF);
}

H_TC(fsync_pipe, "aio_fsync on a pipe fails with EINVAL")
ATF_TC_BODY(fsync_pipe, tc)
{
	struct aiocb s;
	int p[2];

	/* POSIX: EINVAL if synchronized I/O is not supported for the file. */
	h_pipe(p);
	h_cb(&s, p[1], NULL, 0, 0);
	H_SUBMIT_ERR(aio_fsync(O_SYNC, &s), &s, EINVAL);
}

H_TC(fsync_notify, "aio_fsync sends its SIGEV_SIGNAL notification")
ATF_TC_BODY(fsync_notify, tc)
{
	struct aiocb s;
	int fd, sig;

	sig = h_rtsig();
	h_sig_catch(sig);
	fd = h_file("f", "data", 4);
	h_cb(&s, fd, NULL, 0, 0);
	h_sigev_signal(&s.aio_sigevent, sig, (union sigval){ .sival_int = 77 });
	h_sig_watch = &s;
	ATF_REQUIRE_EQ(aio_fsync(O_SYNC, &s), 0);
	ATF_REQUIRE_MSG(h_sig_wait(1, H_WAIT_MS), "no signal from aio_fsync");
	ATF_REQUIRE_EQ(h_sig_code, SI_ASYNCIO);
	ATF_REQUIRE_EQ(h_sig_ints[0], 77);
	ATF_REQUIRE_EQ(h_sig_watch_err, 0);
	ATF_REQUIRE_EQ(h_wait(&s), 0);
	H_EQ(aio_return(&s), 0);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, fsync_sync);
	ATF_TP_ADD_TC(tp, fsync_dsync);
	ATF_TP_ADD_TC(tp, fsync_after_writes);
	ATF_TP_ADD_TC(tp, fsync_einval_op);
	ATF_TP_ADD_TC(tp, fsync_ebadf);
	ATF_TP_ADD_TC(tp, fsync_pipe);
	ATF_TP_ADD_TC(tp, fsync_notify);
	return atf_no_error();
}
