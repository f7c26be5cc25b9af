/*
 * t_aio_suspend: aio_suspend().
 *
 * It returns 0 as soon as one listed operation is complete (immediately
 * if one already is), skips NULL entries, gives -1/EAGAIN when the
 * timeout passes (immediately for a zero timeout) and -1/EINTR when a
 * caught signal interrupts it.  Pending operations are reads on empty
 * pipes; other threads write into them after a delay.  Operations are
 * submitted so that the first one submitted is the first to complete:
 * these cases test aio_suspend, not whether unrelated operations make
 * progress on their own (t_aio_files:independent_progress does).
 * The interrupting signal is sent with pthread_kill() to the waiting
 * thread, so it cannot land in one of the implementation's helper
 * threads.  POSIX defines no error for a bad nent; EINVAL for nent < 1
 * or > {AIO_LISTIO_MAX} is checked with H_OPT() (see h_aio.h).
 */

#include "h_aio.h"

static char bufs[4][32];

/*
 * a: a read pending on the empty pipe p (made here); f: a read of a
 * 4-byte file, complete (its result not yet collected).
 */
static void
pending_and_done(int p[2], struct aiocb *a, struct aiocb *f)
{
	int fd;

	h_pipe(p);
	fd = h_file("f", "file", 4);
	h_cb(a, p[0], bufs[0], 4, 0);
	h_cb(f, fd, bufs[1], 4, 0);
	ATF_REQUIRE_EQ(aio_read(f), 0);
	ATF_REQUIRE_EQ(h_wait(f), 0);
	ATF_REQUIRE_EQ(aio_read(a), 0);
}

H_TC(one_of_several, "returns when one of several operations completes")
ATF_TC_BODY(one_of_several, tc)
{
	struct aiocb a, b;
	const struct aiocb *list[2] = { &b, &a };
	struct h_delayed d;
	struct timespec to = h_ts_ms(H_WAIT_MS);
	long long t0, dt;
	int p[2], q[2];

	/*
	 * The operation submitted first is the one completed first, so an
	 * implementation running operations one at a time passes too
	 * (t_aio_files:independent_progress tests the other order).
	 */
	h_pipe(p);
	h_pipe(q);
	h_cb(&a, p[0], bufs[0], 4, 0);
	h_cb(&b, q[0], bufs[1], 4, 0);
	ATF_REQUIRE_EQ(aio_read(&a), 0);
	ATF_REQUIRE_EQ(aio_read(&b), 0);

	t0 = h_now_ms();
	h_delayed_write(&d, p[1], "aaaa", 4, 100);
	ATF_REQUIRE_EQ(aio_suspend(list, 2, &to), 0);
	dt = h_now_ms() - t0;
	h_delayed_join(&d);
	ATF_REQUIRE_MSG(dt >= 80, "returned after %lld ms, before the "
	    "write at 100 ms", dt);
	ATF_REQUIRE_EQ(aio_error(&a), 0);
	ATF_REQUIRE_EQ(aio_error(&b), EINPROGRESS);
	H_EQ(aio_return(&a), 4);

	/* Now the other one, with no timeout at all. */
	list[1] = NULL;
	h_delayed_write(&d, q[1], "bbbb", 4, 50);
	ATF_REQUIRE_EQ(aio_suspend(list, 2, NULL), 0);
	h_delayed_join(&d);
	ATF_REQUIRE_EQ(aio_error(&b), 0);
	H_EQ(aio_return(&b), 4);
	ATF_REQUIRE(memcmp(bufs[0], "aaaa", 4) == 0);
	ATF_REQUIRE(memcmp(bufs[1], "bbbb", 4) == 0);
}

H_TC(already_done, "returns at once if a listed operation is complete")
ATF_TC_BODY(already_done, tc)
{
	struct aiocb a, f;
	const struct aiocb *list[2] = { &a, &f };
	struct timespec to = h_ts_ms(H_WAIT_MS);
	long long t0;
	int p[2];

	pending_and_done(p, &a, &f);

	t0 = h_now_ms();
	ATF_REQUIRE_EQ(aio_suspend(list, 2, &to), 0);
	ATF_REQUIRE(h_now_ms() - t0 < 1000);
	ATF_REQUIRE_EQ(aio_error(&a), EINPROGRESS);
	H_EQ(aio_return(&f), 4);
	h_write_all(p[1], "pppp", 4);
	h_wait_ok(&a, 4);
}

H_TC(null_entries, "NULL entries in the list are ignored")
ATF_TC_BODY(null_entries, tc)
{
	struct aiocb a, f;
	const struct aiocb *list[5];
	struct timespec to;
	struct h_delayed d;
	int p[2];

	pending_and_done(p, &a, &f);

	/* Only a pending operation among NULLs: times out. */
	list[0] = NULL;
	list[1] = &a;
	list[2] = NULL;
	to = h_ts_ms(50);
	H_ERR(aio_suspend(list, 3, &to), EAGAIN);

	/* A complete one after NULLs is found. */
	list[3] = NULL;
	list[4] = &f;
	to = h_ts_ms(H_WAIT_MS);
	ATF_REQUIRE_EQ(aio_suspend(list, 5, &to), 0);
	H_EQ(aio_return(&f), 4);

	/* The pending one completing while waiting is found too. */
	list[4] = NULL;
	h_delayed_write(&d, p[1], "pppp", 4, 50);
	to = h_ts_ms(H_WAIT_MS);
	ATF_REQUIRE_EQ(aio_suspend(list, 5, &to), 0);
	h_delayed_join(&d);
	h_wait_ok(&a, 4);
}

H_TC(timeout, "a 50 ms timeout gives -1/EAGAIN after about 50 ms")
ATF_TC_BODY(timeout, tc)
{
	struct aiocb a;
	const struct aiocb *list[1] = { &a };
	struct timespec to = h_ts_ms(50);
	long long t0, dt;
	int p[2];

	h_pipe(p);
	h_cb(&a, p[0], bufs[0], 4, 0);
	ATF_REQUIRE_EQ(aio_read(&a), 0);
	t0 = h_now_ms();
	H_ERR(aio_suspend(list, 1, &to), EAGAIN);
	dt = h_now_ms() - t0;
	ATF_REQUIRE_MSG(dt >= 45 && dt < 2000, "timed out after %lld ms", dt);
	ATF_REQUIRE_EQ(aio_error(&a), EINPROGRESS);
	ATF_REQUIRE_EQ(to.tv_sec, 0);
	ATF_REQUIRE_EQ(to.tv_nsec, 50000000L);	/* const: not modified */
	ATF_REQUIRE(close(p[1]) == 0);
	h_wait_ok(&a, 0);
}

H_TC(zero_timeout, "a zero timeout polls")
ATF_TC_BODY(zero_timeout, tc)
{
	struct aiocb a, f;
	const struct aiocb *list[1];
	struct timespec to = { 0, 0 };
	long long t0;
	int p[2];

	pending_and_done(p, &a, &f);

	list[0] = &a;
	t0 = h_now_ms();
	H_ERR(aio_suspend(list, 1, &to), EAGAIN);
	ATF_REQUIRE(h_now_ms() - t0 < 500);
	list[0] = &f;
	ATF_REQUIRE_EQ(aio_suspend(list, 1, &to), 0);
	H_EQ(aio_return(&f), 4);
	ATF_REQUIRE(close(p[1]) == 0);
	h_wait_ok(&a, 0);
}

static volatile sig_atomic_t alarms;
static volatile int stop_kicker;

static void
on_alarm(int sig)
{

	(void)sig;
	alarms++;
}

static void *
kicker(void *arg)
{
	pthread_t target = *(pthread_t *)arg;
	int i;

	/* Repeat, in case the first one comes before aio_suspend blocks. */
	for (i = 0; i < 100 && !stop_kicker; i++) {
		h_sleep_ms(100);
		if (!stop_kicker)
			(void)pthread_kill(target, SIGALRM);
	}
	return NULL;
}

H_TC(eintr, "a caught signal interrupts aio_suspend with EINTR")
ATF_TC_BODY(eintr, tc)
{
	struct aiocb a;
	const struct aiocb *list[1] = { &a };
	struct timespec to = h_ts_ms(H_WAIT_MS);
	struct sigaction sa;
	pthread_t self, thr;
	long long t0;
	int p[2], r, err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = 0;		/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	ATF_REQUIRE(sigaction(SIGALRM, &sa, NULL) == 0);

	h_pipe(p);
	h_cb(&a, p[0], bufs[0], 4, 0);
	ATF_REQUIRE_EQ(aio_read(&a), 0);
	self = pthread_self();
	ATF_REQUIRE(pthread_create(&thr, NULL, kicker, &self) == 0);
	t0 = h_now_ms();
	errno = 0;
	r = aio_suspend(list, 1, &to);
	err = errno;
	stop_kicker = 1;
	ATF_REQUIRE(pthread_join(thr, NULL) == 0);
	ATF_REQUIRE_MSG(r == -1 && err == EINTR,
	    "aio_suspend gave %d errno %d after %lld ms, %d signal(s)",
	    r, err, h_now_ms() - t0, (int)alarms);
	ATF_REQUIRE(alarms >= 1);
	ATF_REQUIRE_EQ(aio_error(&a), EINPROGRESS);
	ATF_REQUIRE(close(p[1]) == 0);
	h_wait_ok(&a, 0);
}

H_TC(einval_nent, "EINVAL for nent < 1 or nent > AIO_LISTIO_MAX")
ATF_TC_BODY(einval_nent, tc)
{
	struct aiocb a;
	const struct aiocb **big;
	const struct aiocb *list[1] = { &a };
	struct timespec to = { 0, 0 };
	int p[2], max, r, err, rz, errz, rb, errb;

	h_pipe(p);
	h_cb(&a, p[0], bufs[0], 4, 0);
	ATF_REQUIRE_EQ(aio_read(&a), 0);
	max = h_listio_max();
	/* A real array, so an implementation without the check is safe. */
	big = calloc((size_t)max + 1, sizeof(*big));
	ATF_REQUIRE(big != NULL);
	big[max] = &a;

	errno = 0;
	r = aio_suspend(list, -1, &to);
	err = errno;
	errno = 0;
	rz = aio_suspend(list, 0, &to);
	errz = errno;
	errno = 0;
	rb = aio_suspend(big, max + 1, &to);
	errb = errno;
	free(big);
	ATF_REQUIRE_EQ(aio_error(&a), EINPROGRESS);
	ATF_REQUIRE(close(p[1]) == 0);
	h_wait_ok(&a, 0);

	H_OPT(r == -1 && err == EINVAL, "nent -1 gave %d errno %d", r, err);
	H_OPT(rz == -1 && errz == EINVAL, "nent 0 gave %d errno %d", rz, errz);
	H_OPT(rb == -1 && errb == EINVAL, "nent %d gave %d errno %d",
	    max + 1, rb, errb);
}

/* aio_suspend(list, n) with a 50 ms timeout must wait it out: EAGAIN. */
static void
waits_out(const struct aiocb *const *list, int n, const char *what)
{
	struct timespec to = h_ts_ms(50);
	long long t0, dt;
	int r, err;

	t0 = h_now_ms();
	errno = 0;
	r = aio_suspend(list, n, &to);
	err = errno;
	dt = h_now_ms() - t0;
	H_OPT(r == -1 && err == EAGAIN && dt >= 40, "%s: %d errno %d after "
	    "%lld ms, want -1/EAGAIN after 50 ms", what, r, err, dt);
}

H_TC(nothing_pending, "entries neither in progress nor complete are "
    "ignored: with nothing else listed, the timeout passes")
ATF_TC_BODY(nothing_pending, tc)
{
	struct aiocb never, got;
	const struct aiocb *nulls[2] = { NULL, NULL };
	const struct aiocb *list[2] = { &never, &got };
	int fd;

	fd = h_file("f", "file", 4);
	h_cb(&never, fd, bufs[0], 4, 0);
	h_cb(&got, fd, bufs[1], 4, 0);
	ATF_REQUIRE_EQ(aio_read(&got), 0);
	h_wait_ok(&got, 4);		/* collected: no longer complete */

	waits_out(nulls, 2, "all-NULL list");
	waits_out(list, 2, "never submitted and collected");
}

H_TC(efault_entry, "an entry that cannot be read is EFAULT")
ATF_TC_BODY(efault_entry, tc)
{
	const struct aiocb *list[1];
	struct timespec to = h_ts_ms(50);
	void *page;

	H_STRICT_ONLY("POSIX leaves a bad aiocb pointer undefined");
	page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANON, -1, 0);
	ATF_REQUIRE(page != MAP_FAILED);
	list[0] = page;
	H_ERR(aio_suspend(list, 1, &to), EFAULT);
	ATF_REQUIRE(munmap(page, 4096) == 0);
}

/*
 * Once aio_error() has seen a result, aio_suspend() on that request
 * returns 0, even with a zero timeout: a worker publishes the result and
 * only later takes the request out of its table, and the answer must not
 * depend on that moment.  Writes, so that every request goes through a
 * worker; four threads, so that the workers' lock passes are delayed.
 */
#define AGREE_THREADS	4
#define AGREE_ROUNDS	3000

struct agree {
	int	fd;
	int	slot;
	int	bad;
	int	first_r, first_errno;
};

static void *
agree_main(void *arg)
{
	struct agree *ag = arg;
	struct aiocb w;
	const struct aiocb *list[1] = { &w };
	struct timespec zero = { 0, 0 };
	char buf[16];
	int i, r;

	memset(buf, 'a' + ag->slot, sizeof(buf));
	for (i = 0; i < AGREE_ROUNDS; i++) {
		h_cb(&w, ag->fd, buf, sizeof(buf),
		    (off_t)(ag->slot * 64 + i % 64) * 16);
		if (aio_write(&w) != 0)
			break;
		while (aio_error(&w) == EINPROGRESS)
			continue;
		errno = 0;
		r = aio_suspend(list, 1, &zero);
		if (r != 0 && ag->bad++ == 0) {
			ag->first_r = r;
			ag->first_errno = errno;
		}
		(void)aio_return(&w);
	}
	return NULL;
}

H_TC(agrees_with_aio_error, "a request aio_error saw complete is "
    "complete for aio_suspend, even with a zero timeout")
ATF_TC_BODY(agrees_with_aio_error, tc)
{
	struct agree ag[AGREE_THREADS];
	pthread_t t[AGREE_THREADS];
	int fd, i, bad = 0;

	fd = h_file("f", "", 0);
	memset(ag, 0, sizeof(ag));
	for (i = 0; i < AGREE_THREADS; i++) {
		ag[i].fd = fd;
		ag[i].slot = i;
		ATF_REQUIRE(pthread_create(&t[i], NULL, agree_main, &ag[i]) == 0);
	}
	for (i = 0; i < AGREE_THREADS; i++) {
		ATF_REQUIRE(pthread_join(t[i], NULL) == 0);
		if (ag[i].bad != 0)
			fprintf(stderr, "thread %d: %d misses, the first "
			    "%d errno %d\n", i, ag[i].bad, ag[i].first_r,
			    ag[i].first_errno);
		bad += ag[i].bad;
	}
	ATF_REQUIRE_MSG(bad == 0, "%d of %d aio_suspend calls missed a "
	    "result aio_error had seen", bad, AGREE_THREADS * AGREE_ROUNDS);
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, one_of_several);
	ATF_TP_ADD_TC(tp, already_done);
	ATF_TP_ADD_TC(tp, null_entries);
	ATF_TP_ADD_TC(tp, timeout);
	ATF_TP_ADD_TC(tp, zero_timeout);
	ATF_TP_ADD_TC(tp, eintr);
	ATF_TP_ADD_TC(tp, einval_nent);
	ATF_TP_ADD_TC(tp, nothing_pending);
	ATF_TP_ADD_TC(tp, efault_entry);
	ATF_TP_ADD_TC(tp, agrees_with_aio_error);
	return atf_no_error();
}
