/*
 * t_aio_fork: AIO across fork() and exit().
 *
 * POSIX: "Asynchronous input or output operations shall not be inherited
 * by the child process."  The child must be able to do its own AIO, must
 * not see (or be able to cancel) the parent's pending operation, and
 * the parent's operation must complete normally after the child is gone.
 * A process that exits with operations pending must not hang.
 *
 * Children never use ATF macros: they report through their exit status
 * and a result pipe, and the parent waits for them with a deadline.
 * What the child sees of the parent's aiocb (aio_error, aio_cancel) is
 * not specified by POSIX beyond "not inherited"; with AIO_STRICT the
 * child must get EINVAL and AIO_ALLDONE (see h_aio.h).
 */

#include "h_aio.h"

#define CHILD_MS	5000	/* deadline for a child's own waits */

static char pbuf[16];

struct child_view {
	int	err_ret;	/* aio_error(parent's aiocb) */
	int	err_errno;
	int	cancel_ret;	/* aio_cancel(fd, NULL) */
	int	cancel_errno;
};

/* The child's own deadline-bounded wait; -1 on timeout. */
static int
child_wait(const struct aiocb *cb)
{
	int e;

	e = h_wait_ms(cb, CHILD_MS);
	return e == EINPROGRESS ? -1 : e;
}

/* Parent: pending read on a fresh pipe. */
static void
parent_pending(struct aiocb *cb, int p[2])
{

	h_pipe(p);
	h_cb(cb, p[0], pbuf, 10, 0);
	ATF_REQUIRE_EQ(aio_read(cb), 0);
	h_sleep_ms(20);
	ATF_REQUIRE_EQ(aio_error(cb), EINPROGRESS);
}

/* Parent: the pending read still completes normally. */
static void
parent_finish(struct aiocb *cb, int p[2])
{

	ATF_REQUIRE_MSG(aio_error(cb) == EINPROGRESS,
	    "parent's read is no longer pending after the child: %d",
	    aio_error(cb));
	h_write_all(p[1], "0123456789", 10);
	h_wait_ok(cb, 10);
	ATF_REQUIRE(memcmp(pbuf, "0123456789", 10) == 0);
}

static void
require_exit0(int status, const char *what)
{

	ATF_REQUIRE_MSG(WIFEXITED(status),
	    "%s: child died (signal %d)", what,
	    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ATF_REQUIRE_MSG(WEXITSTATUS(status) == 0,
	    "%s: child exited with %d", what, WEXITSTATUS(status));
}

H_TC(child_no_inherit, "the child does not inherit the parent's operation")
ATF_TC_BODY(child_no_inherit, tc)
{
	struct aiocb cb;
	struct child_view v;
	int p[2], rp[2];
	pid_t pid;

	parent_pending(&cb, p);
	ATF_REQUIRE(pipe(rp) == 0);
	fflush(NULL);
	pid = fork();
	ATF_REQUIRE(pid != -1);
	if (pid == 0) {
		errno = 0;
		v.err_ret = aio_error(&cb);
		v.err_errno = errno;
		errno = 0;
		v.cancel_ret = aio_cancel(p[0], NULL);
		v.cancel_errno = errno;
		if (write(rp[1], &v, sizeof(v)) != sizeof(v))
			_exit(2);
		_exit(0);
	}
	require_exit0(h_waitpid(pid, H_WAIT_MS), "child_no_inherit");
	ATF_REQUIRE_EQ(read(rp[0], &v, sizeof(v)), (ssize_t)sizeof(v));
	/* Whatever the child did, the parent's operation is intact. */
	parent_finish(&cb, p);

	H_OPT(v.err_ret == -1 && v.err_errno == EINVAL,
	    "in the child, aio_error(parent's aiocb) gave %d errno %d",
	    v.err_ret, v.err_errno);
	H_OPT(v.cancel_ret == AIO_ALLDONE,
	    "in the child, aio_cancel(fd, NULL) gave %d errno %d",
	    v.cancel_ret, v.cancel_errno);
}

H_TC(child_own_io, "the child can do its own AIO while the parent's pends")
ATF_TC_BODY(child_own_io, tc)
{
	struct aiocb cb;
	int p[2];
	pid_t pid;

	parent_pending(&cb, p);
	fflush(NULL);
	pid = fork();
	ATF_REQUIRE(pid != -1);
	if (pid == 0) {
		char data[512], back[512];
		struct aiocb w, r;
		int fd, e;

		h_fill(data, sizeof(data), 81);
		fd = open("child", O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd == -1)
			_exit(3);
		h_cb(&w, fd, data, sizeof(data), 0);
		if (aio_write(&w) != 0)
			_exit(4);
		if ((e = child_wait(&w)) != 0)
			_exit(e == -1 ? 5 : 6);
		if (aio_return(&w) != (ssize_t)sizeof(data))
			_exit(7);
		h_cb(&r, fd, back, sizeof(back), 0);
		if (aio_read(&r) != 0)
			_exit(8);
		if ((e = child_wait(&r)) != 0)
			_exit(e == -1 ? 9 : 10);
		if (aio_return(&r) != (ssize_t)sizeof(back) ||
		    memcmp(back, data, sizeof(data)) != 0)
			_exit(11);
		_exit(0);
	}
	require_exit0(h_waitpid(pid, H_WAIT_MS),
	    "child AIO (5/9: its write/read never completed)");
	parent_finish(&cb, p);
}

H_TC(exit_with_pending, "a process exits promptly with operations pending")
ATF_TC_BODY(exit_with_pending, tc)
{
	struct aiocb cb;
	long long t0;
	int p[2], status;
	pid_t pid;

	parent_pending(&cb, p);
	fflush(NULL);
	pid = fork();
	ATF_REQUIRE(pid != -1);
	if (pid == 0) {
		struct aiocb c[3];
		char b[3][8];
		int q[2], i;

		if (pipe(q) != 0)
			_exit(3);
		/* Reads that can never complete: nobody writes to q. */
		for (i = 0; i < 3; i++) {
			h_cb(&c[i], q[0], b[i], 8, 0);
			if (aio_read(&c[i]) != 0)
				_exit(4);
		}
		/* exit(), not _exit(): run atexit handlers and destructors. */
		exit(0);
	}
	t0 = h_now_ms();
	status = h_waitpid(pid, H_WAIT_MS);
	require_exit0(status, "exit_with_pending");
	ATF_REQUIRE_MSG(h_now_ms() - t0 < 3000, "child took %lld ms to exit",
	    h_now_ms() - t0);
	parent_finish(&cb, p);
}

/*
 * POSIX lets exit() cancel an operation or let it complete, but not leave
 * it half done: a write running when the process exits is either not
 * done at all (cancelled before it started) or whole.  A large write is
 * running for tens of milliseconds when the child exits.
 */
#define	BIG_MB	128

H_TC(exit_running_write_whole, "a write running at exit() is whole or absent")
ATF_TC_BODY(exit_running_write_whole, tc)
{
	const size_t n = (size_t)BIG_MB << 20;
	struct stat sb;
	char *b;
	ssize_t r;
	size_t off;
	int fd, status, round;
	pid_t pid;

	H_STRICT_ONLY("glibc's AIO threads are killed mid-write at exit");
	for (round = 0; round < 3; round++) {
		fd = open("big", O_RDWR | O_CREAT | O_TRUNC, 0644);
		ATF_REQUIRE(fd >= 0);
		fflush(NULL);
		pid = fork();
		ATF_REQUIRE(pid != -1);
		if (pid == 0) {
			static struct aiocb c;

			if ((b = malloc(n)) == NULL)
				_exit(3);
			memset(b, 'w', n);
			h_cb(&c, fd, b, n, 0);
			if (aio_write(&c) != 0)
				_exit(4);
			usleep(10000 * (round + 1));
			exit(0);
		}
		status = h_waitpid(pid, H_WAIT_MS);
		require_exit0(status, "exit_running_write_whole");
		ATF_REQUIRE(fstat(fd, &sb) == 0);
		ATF_REQUIRE_MSG(sb.st_size == 0 || (size_t)sb.st_size == n,
		    "round %d: the file has %lld of %zu bytes: a write cut "
		    "short by exit", round, (long long)sb.st_size, n);
		if (sb.st_size != 0) {
			b = malloc(1 << 20);
			ATF_REQUIRE(b != NULL);
			for (off = 0; off < n; off += 1 << 20) {
				r = pread(fd, b, 1 << 20, (off_t)off);
				ATF_REQUIRE(r == 1 << 20);
				ATF_REQUIRE_MSG(memchr(b, 0, 1 << 20) == NULL &&
				    b[0] == 'w' && b[(1 << 20) - 1] == 'w',
				    "round %d: bad data at %zu", round, off);
			}
			free(b);
		}
		ATF_REQUIRE(close(fd) == 0);
	}
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, child_no_inherit);
	ATF_TP_ADD_TC(tp, child_own_io);
	ATF_TP_ADD_TC(tp, exit_with_pending);
	ATF_TP_ADD_TC(tp, exit_running_write_whole);
	return atf_no_error();
}
