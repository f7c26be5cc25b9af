/* aio_suspend. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "rump_aio.h"

static struct aiocb *
read_cb(int fd, size_t n)
{
	struct aiocb *cb = t_cb();

	cb->aio_fildes = fd;
	cb->aio_buf = t_buf(n);
	cb->aio_nbytes = n;
	return cb;
}

static struct aiocb *
done_cb(const char *name)
{
	struct aiocb *cb;
	int fd, e;

	if ((fd = t_file(name, 100, RUMP_O_RDWR)) < 0)
		return NULL;
	cb = read_cb(fd, 16);
	if ((e = t_submit('r', cb)) != 0) {
		FAIL("aio_read: %d", e);
		return NULL;
	}
	if ((e = t_wait(cb, 5000)) != 0) {
		FAIL("aio_error: %d", e);
		return NULL;
	}
	return cb;
}

static struct aiocb *
pending_cb(int p[2])
{
	struct aiocb *cb;
	int e;

	t_pipe(p);
	if (p[0] < 0)
		return NULL;
	cb = read_cb(p[0], 16);
	if ((e = t_submit('r', cb)) != 0) {
		FAIL("aio_read on pipe: %d", e);
		return NULL;
	}
	t_settle();
	if (rump_sys_aio_error(cb) != NB_EINPROGRESS) {
		FAIL("pipe read not in progress");
		return NULL;
	}
	return cb;
}

static int
suspend_ms(const struct aiocb *const *list, int n, long ms, int64_t *took)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	int64_t t0 = t_now_ms();
	int rv;

	errno = 0;
	rv = rump_sys_aio_suspend(list, n, &ts);
	*took = t_now_ms() - t0;
	return rv;
}

void
suspend_done(void)
{
	const struct aiocb *list[1];
	struct aiocb *cb;
	int64_t took;
	int rv;

	REQUIRE((cb = done_cb("susdone")) != NULL);
	list[0] = cb;
	rv = suspend_ms(list, 1, 3000, &took);
	CHECK(rv == 0 && took < 1000, "completed job: aio_suspend %d errno %d "
	    "after %lld ms", rv, errno, (long long)took);
	errno = 0;
	rv = rump_sys_aio_suspend(list, 1, NULL);
	CHECK(rv == 0, "completed job, no timeout: aio_suspend %d errno %d",
	    rv, errno);
}

void
suspend_timeout(void)
{
	const struct aiocb *list[1];
	struct aiocb *cb;
	int64_t took;
	int p[2], rv;

	REQUIRE((cb = pending_cb(p)) != NULL);
	list[0] = cb;
	rv = suspend_ms(list, 1, 300, &took);
	CHECK(rv == -1 && errno == NB_EAGAIN, "pending job, 300 ms: "
	    "aio_suspend %d errno %d, want -1/EAGAIN", rv, errno);
	CHECK(took >= 250 && took < 3000, "300 ms timeout took %lld ms",
	    (long long)took);
	rv = suspend_ms(list, 1, 0, &took);
	CHECK(rv == -1 && errno == NB_EAGAIN, "pending job, zero timeout: "
	    "aio_suspend %d errno %d, want -1/EAGAIN", rv, errno);
	CHECK(took < 1000, "zero timeout took %lld ms", (long long)took);
}

void
suspend_null_entries(void)
{
	const struct aiocb *list[3];
	struct aiocb *pend, *done;
	int64_t took;
	int p[2], rv;

	REQUIRE((done = done_cb("susnull")) != NULL);
	REQUIRE((pend = pending_cb(p)) != NULL);
	list[0] = NULL;
	list[1] = pend;
	list[2] = NULL;
	rv = suspend_ms(list, 3, 300, &took);
	CHECK(rv == -1 && errno == NB_EAGAIN, "{NULL, pending, NULL}: "
	    "aio_suspend %d errno %d, want -1/EAGAIN", rv, errno);
	list[1] = done;
	rv = suspend_ms(list, 3, 3000, &took);
	CHECK(rv == 0 && took < 1000, "{NULL, done, NULL}: aio_suspend %d "
	    "errno %d after %lld ms", rv, errno, (long long)took);
	list[0] = pend;
	list[2] = NULL;
	rv = suspend_ms(list, 3, 3000, &took);
	CHECK(rv == 0 && took < 1000, "{pending, done, NULL}: aio_suspend %d "
	    "errno %d after %lld ms", rv, errno, (long long)took);
}

struct writer {
	int fd;
	int delay_ms;
	ssize_t rv;
	int err;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;

	usleep((useconds_t)w->delay_ms * 1000);
	w->rv = rump_sys_write(w->fd, "0123456789abcdef", 16);
	w->err = errno;
	return NULL;
}

void
suspend_wakeup(void)
{
	const struct aiocb *list[2];
	struct aiocb *cb;
	struct writer w;
	pthread_t th;
	int64_t took;
	ssize_t r;
	int p[2], rv, e;

	REQUIRE((cb = pending_cb(p)) != NULL);
	w.fd = p[1];
	w.delay_ms = 300;
	w.rv = -1;
	w.err = 0;
	REQUIRE(pthread_create(&th, NULL, writer_main, &w) == 0);
	list[0] = NULL;
	list[1] = cb;
	rv = suspend_ms(list, 2, 10000, &took);
	pthread_join(th, NULL);
	CHECK(w.rv == 16, "writer thread: write %zd errno %d", w.rv, w.err);
	CHECK(rv == 0, "aio_suspend %d errno %d after %lld ms", rv, errno,
	    (long long)took);
	CHECK(took >= 200 && took < 5000, "woke after %lld ms (writer at "
	    "300 ms)", (long long)took);
	CHECK((e = rump_sys_aio_error(cb)) == 0, "aio_error %d", e);
	CHECK((r = rump_sys_aio_return(cb)) == 16, "aio_return %zd", r);
}

void
suspend_bad_nent(void)
{
	const struct aiocb *list[1];
	struct aiocb *cb;
	int64_t took;
	int rv;

	REQUIRE((cb = done_cb("susnent")) != NULL);
	list[0] = cb;
	rv = suspend_ms(list, 0, 100, &took);
	CHECK(rv == -1 && errno == NB_EINVAL, "nent 0: aio_suspend %d errno "
	    "%d, want -1/EINVAL", rv, errno);
	rv = suspend_ms(list, -1, 100, &took);
	CHECK(rv == -1 && errno == NB_EINVAL, "nent -1: aio_suspend %d errno "
	    "%d, want -1/EINVAL", rv, errno);
}

/*
 * Entries neither in progress nor complete (never submitted, collected
 * with aio_return, NULL) are ignored: with nothing else listed the
 * timeout passes.  (An unreadable entry's EFAULT is not tried here: a
 * local client's copyin is a plain memory copy, and a remote client
 * serves the kernel's copyin from its own memory.)
 */
void
suspend_nothing_pending(void)
{
	const struct aiocb *list[3];
	struct aiocb *never, *got;
	int64_t took;
	int fd, rv;

	REQUIRE((got = done_cb("susnone")) != NULL);
	REQUIRE(rump_sys_aio_return(got) == 16, "aio_return");
	REQUIRE((fd = t_file("susnone2", 100, RUMP_O_RDWR)) >= 0);
	never = read_cb(fd, 16);
	list[0] = NULL;
	list[1] = never;
	list[2] = got;
	rv = suspend_ms(list, 3, 100, &took);
	CHECK(rv == -1 && errno == NB_EAGAIN && took >= 80,
	    "{NULL, never submitted, collected}: aio_suspend %d errno %d "
	    "after %lld ms, want -1/EAGAIN after 100 ms", rv, errno,
	    (long long)took);
}
