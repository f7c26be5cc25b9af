/* Jobs in flight: closing the descriptor, and the user's own fields. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "rump_aio.h"

struct closer {
	int fd;
	int rv;
	int err;
};

static void *
closer_main(void *arg)
{
	struct closer *c = arg;

	c->rv = rump_sys_close(c->fd);
	c->err = errno;
	return NULL;
}

/*
 * POSIX close(): an outstanding I/O that is not cancelled "completes as if
 * the close() operation had not yet occurred".  The read is running (not
 * cancellable), so it must get the data written after the close.
 */
void
close_in_flight(void)
{
	struct aiocb *a;
	struct closer c;
	struct timespec ts;
	pthread_t th;
	ssize_t r, wr;
	int p[2], e;

	t_pipe(p);
	REQUIRE(p[0] >= 0);
	a = t_cb_io(p[0], 16);
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read: %d", e);
	t_settle();
	REQUIRE(rump_sys_aio_error(a) == NB_EINPROGRESS, "read not pending");

	/* close in a thread, so that a close that blocks is seen, bounded */
	c.fd = p[0];
	c.rv = -2;
	c.err = 0;
	REQUIRE(pthread_create(&th, NULL, closer_main, &c) == 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	if (pthread_timedjoin_np(th, NULL, &ts) != 0) {
		FAIL("close() of the read end blocked while the read was "
		    "pending (3 s)");
		(void)rump_sys_write(p[1], "0123456789abcdef", 16);
		pthread_join(th, NULL);
		return;
	}
	CHECK(c.rv == 0, "close: %d errno %d", c.rv, c.err);
	t_close(p[0]);	/* already closed: forget it */

	e = rump_sys_aio_error(a);
	if (e != NB_EINPROGRESS)
		FAIL("the pending read ended when its descriptor was closed: "
		    "aio_error %d, aio_return %zd", e,
		    (ssize_t)rump_sys_aio_return(a));
	errno = 0;
	wr = rump_sys_write(p[1], "0123456789abcdef", 16);
	CHECK(wr == 16, "write to the pipe after closing the read end: %zd "
	    "errno %d", wr, errno);
	if (e != NB_EINPROGRESS)
		return;
	CHECK((e = t_wait(a, 5000)) == 0, "read after close: aio_error %d", e);
	CHECK((r = rump_sys_aio_return(a)) == 16, "read after close: "
	    "aio_return %zd", r);
	CHECK(memcmp((const void *)a->aio_buf, "0123456789abcdef", 16) == 0,
	    "read after close: data differs");
}

/*
 * THE CHECK THAT TELLS THE COMPONENTS APART.  NetBSD's C librumpvfs_aio
 * keeps a copy of the whole aiocb taken at submission and copies it back
 * over the user's at completion, so a change the user makes to a field it
 * owns while the read is pending (here aio_reqprio and sigev_value) is
 * reverted.  The Rust component writes only the kernel-private fields.
 */
void
component_is_rust(void)
{
	struct aiocb *a;
	ssize_t r;
	int p[2], e;

	t_pipe(p);
	REQUIRE(p[0] >= 0);
	a = t_cb_io(p[0], 16);
	a->aio_reqprio = 0;
	a->aio_sigevent.sigev_value.sival_int = 1;
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read: %d", e);
	t_settle();
	REQUIRE(rump_sys_aio_error(a) == NB_EINPROGRESS, "read not pending");
	a->aio_reqprio = 5;
	a->aio_sigevent.sigev_value.sival_int = 4242;
	REQUIRE(rump_sys_write(p[1], "0123456789abcdef", 16) == 16,
	    "pipe write: %d", errno);
	REQUIRE((e = t_wait(a, 5000)) == 0, "aio_error %d", e);
	REQUIRE((r = rump_sys_aio_return(a)) == 16, "aio_return %zd", r);
	CHECK(a->aio_reqprio == 5,
	    "aio_reqprio set to 5 by the user during the read is %d after "
	    "completion: the component copied its saved aiocb back "
	    "(NetBSD's C librumpvfs_aio does this)", a->aio_reqprio);
	CHECK(a->aio_sigevent.sigev_value.sival_int == 4242,
	    "sigev_value set to 4242 during the read is %d after completion",
	    a->aio_sigevent.sigev_value.sival_int);
}

#ifdef REMOTE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <rump/rumpclient.h>

/*
 * Waits up to 5 s for forked client pid; on a timeout fails the case and
 * kills it.  Returns 0 with its status in *st, or -1.
 */
static int
wait_client(pid_t pid, int *st)
{
	int64_t deadline = t_now_ms() + 5000;
	pid_t w;

	while ((w = waitpid(pid, st, WNOHANG)) == 0 && t_now_ms() < deadline)
		usleep(10000);
	if (w == pid)
		return 0;
	FAIL("forked client did not exit within 5 s");
	kill(pid, SIGKILL);
	waitpid(pid, st, 0);
	return -1;
}

/*
 * A process exits with AIO in flight (a pipe read that cannot complete, a
 * second read queued behind it): the server must tear its AIO state down
 * without hanging or crashing, and keep serving AIO to other processes.
 * POSIX lets the dead process's read be cancelled or still complete, so
 * the parent writes enough for both and only needs its own read served.
 */
void
exit_in_flight(void)
{
	struct aiocb *a, *f;
	int p[2], st, e, fd;
	pid_t pid;
	ssize_t r;

	REQUIRE((fd = t_file("exitfly", 100, RUMP_O_RDWR)) >= 0);
	t_pipe(p);
	REQUIRE(p[0] >= 0);
	pid = rumpclient_fork();
	REQUIRE(pid != -1, "rumpclient_fork: errno %d", errno);
	if (pid == 0) {
		static struct aiocb c1, c2;
		static char b1[16], b2[16];

		c1.aio_fildes = c2.aio_fildes = p[0];
		c1.aio_buf = b1;
		c2.aio_buf = b2;
		c1.aio_nbytes = c2.aio_nbytes = 16;
		if (rump_sys_aio_read(&c1) != 0 || rump_sys_aio_read(&c2) != 0)
			_exit(1);
		usleep(200000);
		_exit(rump_sys_aio_error(&c1) == NB_EINPROGRESS ? 0 : 2);
	}
	if (wait_client(pid, &st) != 0)
		return;
	REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked client: status "
	    "%#x (1: aio_read refused, 2: read not pending)", st);
	t_settle();
	t_settle();

	/* serve the dead process's reads if they still exist, then ours */
	REQUIRE(rump_sys_write(p[1], "deaddeaddeaddeaddeaddeaddeaddead", 32)
	    == 32, "pipe write: errno %d", errno);
	a = t_cb_io(p[0], 16);
	REQUIRE((e = t_submit('r', a)) == 0, "aio_read after the exit: %d", e);
	REQUIRE(rump_sys_write(p[1], "0123456789abcdef", 16) == 16,
	    "pipe write: errno %d", errno);
	CHECK((e = t_wait(a, 5000)) == 0, "read after the other process "
	    "exited: aio_error %d", e);
	CHECK((r = rump_sys_aio_return(a)) == 16, "aio_return %zd", r);
	if (r == 16)
		t_info("the exited process's reads were %s",
		    memcmp((const void *)a->aio_buf, "dead", 4) == 0 ?
		    "cancelled (its data was left in the pipe)" :
		    "completed after its exit (they consumed the data)");

	f = t_cb();
	f->aio_fildes = fd;
	f->aio_buf = t_buf(50);
	f->aio_nbytes = 50;
	REQUIRE((e = t_submit('r', f)) == 0, "file aio_read: %d", e);
	CHECK((e = t_wait(f, 5000)) == 0, "file read: aio_error %d", e);
	CHECK((r = rump_sys_aio_return(f)) == 50, "file read: %zd", r);
}

/* utime + stime of process pid in clock ticks, or -1 */
static long
cpu_ticks(long pid)
{
	char path[64], buf[1024], *q;
	unsigned long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* fields 14 and 15, counted after the ")" that ends the name */
	if ((q = strrchr(buf, ')')) == NULL ||
	    sscanf(q + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/*
 * A client that goes away must take its AIO state with it: its workers
 * leave, its jobs let their files go, and the process is freed (a rump
 * kernel frees a process, and runs its exit hooks, when its last LWP is
 * gone; until then getsid(pid) finds it).  The departed client had an
 * aio_read pending on a pipe.  And the server must not be left busy: a
 * worker that ignored the client's departure would spin, as every sleep
 * of such an LWP returns at once.
 */
void
exit_teardown(void)
{
	const char *spid = getenv("RUMP_TEST_SERVER_PID");
	long t0, t1, hz = sysconf(_SC_CLK_TCK);
	int hp[2], st, w, r;
	pid_t pid, rpid;
	int64_t deadline;

	REQUIRE(pipe(hp) == 0, "pipe: errno %d", errno);
	pid = rumpclient_fork();
	REQUIRE(pid != -1, "rumpclient_fork: errno %d", errno);
	if (pid == 0) {
		static struct aiocb c;
		static char b[16];
		int p[2];

		close(hp[0]);
		rpid = rump_sys_getpid();
		if (write(hp[1], &rpid, sizeof(rpid)) != sizeof(rpid))
			_exit(1);
		if (rump_sys_pipe(p) != 0)
			_exit(2);
		c.aio_fildes = p[0];
		c.aio_buf = b;
		c.aio_nbytes = sizeof(b);
		if (rump_sys_aio_read(&c) != 0)
			_exit(3);
		usleep(200000);
		_exit(rump_sys_aio_error(&c) == NB_EINPROGRESS ? 0 : 4);
	}
	close(hp[1]);
	r = read(hp[0], &rpid, sizeof(rpid));
	close(hp[0]);
	if (wait_client(pid, &st) != 0)
		return;
	REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked client: status "
	    "%#x (1: pid, 2: pipe, 3: aio_read refused, 4: read not pending)",
	    st);
	REQUIRE(r == sizeof(rpid) && rpid > 0, "no rump pid from the client");

	deadline = t_now_ms() + 5000;
	while ((w = rump_sys_getsid(rpid)) >= 0 && t_now_ms() < deadline)
		usleep(50000);
	CHECK(w < 0 && errno == 3 /* ESRCH */, "5 s after the client left "
	    "its rump process %d still exists (getsid: %d, errno %d): a "
	    "worker or the AIO state kept it", (int)rpid, w, w < 0 ? errno : 0);

	if (spid == NULL) {
		t_info("RUMP_TEST_SERVER_PID not set: server CPU not checked");
		return;
	}
	t0 = cpu_ticks(atol(spid));
	usleep(1000000);
	t1 = cpu_ticks(atol(spid));
	REQUIRE(t0 >= 0 && t1 >= 0, "cannot read /proc/%s/stat", spid);
	CHECK((t1 - t0) * 4 < hz, "idle rump_server used %ld ticks of %ld in "
	    "the second after a client left", t1 - t0, hz);
}
#else
void
exit_teardown(void)
{
	t_skip("remote only (needs rumpclient_fork)");
}

void
exit_in_flight(void)
{
	t_skip("remote only (needs rumpclient_fork)");
}
#endif
