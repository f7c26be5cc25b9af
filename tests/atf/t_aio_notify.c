/*
 * t_aio_notify: completion notification through aio_sigevent.
 *
 * SIGEV_NONE sends nothing; SIGEV_SIGNAL queues the chosen signal with
 * si_code SI_ASYNCIO and si_value equal to sigev_value (pointer and int
 * forms), only once the operation's status is final, once per operation
 * (a real-time signal is used where available, so deliveries queue);
 * SIGEV_THREAD runs the function in another thread with sigev_value.
 * Signals are recorded by a SA_SIGINFO handler and waited for by bounded
 * polling (see h_aio.h), which works whichever thread receives them.
 */

#include "h_aio.h"

static char data[4096], buf[4096];

H_TC(sigev_none, "SIGEV_NONE sends no signal")
ATF_TC_BODY(sigev_none, tc)
{
	struct aiocb cb;
	int fd, sig;

	sig = h_rtsig();
	h_sig_catch(sig);
	h_fill(data, sizeof(data), 61);
	fd = h_file("f", data, sizeof(data));
	h_cb(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_sigevent.sigev_notify = SIGEV_NONE;
	cb.aio_sigevent.sigev_signo = sig;	/* must be ignored */
	ATF_REQUIRE_EQ(aio_read(&cb), 0);
	h_wait_ok(&cb, sizeof(buf));
	h_sleep_ms(100);
	ATF_REQUIRE_EQ(h_sig_count, 0);
}

static void
signal_once(int sig, bool is_write, union sigval val)
{
	struct aiocb cb;
	int fd;

	h_sig_catch(sig);
	h_fill(data, sizeof(data), 62);
	fd = h_file("f", is_write ? NULL : data, is_write ? 0 : sizeof(data));
	h_cb(&cb, fd, is_write ? data : buf, sizeof(data), 0);
	h_sigev_signal(&cb.aio_sigevent, sig, val);
	h_sig_watch = &cb;
	ATF_REQUIRE_EQ(is_write ? aio_write(&cb) : aio_read(&cb), 0);
	ATF_REQUIRE_MSG(h_sig_wait(1, H_WAIT_MS), "no signal %d arrived", sig);
	ATF_REQUIRE_EQ(h_sig_signo, sig);
	ATF_REQUIRE_EQ(h_sig_code, SI_ASYNCIO);
	ATF_REQUIRE_MSG(h_sig_watch_err == 0,
	    "aio_error in the handler gave %d: the signal came before the "
	    "status was final", h_sig_watch_err);
	ATF_REQUIRE_EQ(aio_error(&cb), 0);
	H_EQ(aio_return(&cb), sizeof(data));
	if (!is_write)
		ATF_REQUIRE(memcmp(buf, data, sizeof(data)) == 0);
	h_sleep_ms(50);
	ATF_REQUIRE_EQ(h_sig_count, 1);
}

H_TC(sigev_signal_ptr, "SIGEV_SIGNAL: SI_ASYNCIO and sival_ptr (read)")
ATF_TC_BODY(sigev_signal_ptr, tc)
{
	static int cookie;

	signal_once(h_rtsig(), false, (union sigval){ .sival_ptr = &cookie });
	ATF_REQUIRE(h_sig_ptr == &cookie);
}

H_TC(sigev_signal_int, "SIGEV_SIGNAL: SIGUSR1 with sival_int (write)")
ATF_TC_BODY(sigev_signal_int, tc)
{

	signal_once(SIGUSR1, true, (union sigval){ .sival_int = 0x5a5a1234 });
	ATF_REQUIRE_EQ(h_sig_ints[0], 0x5a5a1234);
}

H_TC(sigev_signal_each, "SIGEV_SIGNAL: one signal per operation")
ATF_TC_BODY(sigev_signal_each, tc)
{
	enum { N = 16 };
	struct aiocb cb[N];
	bool seen[N];
	int fd, sig, i, v;

	sig = h_rtsig();
	if (sig == SIGUSR1)
		atf_tc_skip("no real-time signals: deliveries would merge");
	h_sig_catch(sig);
	h_fill(data, sizeof(data), 63);
	fd = h_file("f", data, sizeof(data));
	for (i = 0; i < N; i++) {
		h_cb(&cb[i], fd, buf + i * 256, 256, (off_t)i * 256);
		h_sigev_signal(&cb[i].aio_sigevent, sig,
		    (union sigval){ .sival_int = 1000 + i });
		ATF_REQUIRE_EQ(aio_read(&cb[i]), 0);
	}
	ATF_REQUIRE_MSG(h_sig_wait(N, H_WAIT_MS), "only %d of %d signals",
	    (int)h_sig_count, N);
	h_sleep_ms(50);
	ATF_REQUIRE_EQ(h_sig_count, N);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < N; i++) {
		v = h_sig_ints[i] - 1000;
		ATF_REQUIRE_MSG(v >= 0 && v < N && !seen[v],
		    "unexpected or repeated value %d", h_sig_ints[i]);
		seen[v] = true;
	}
	for (i = 0; i < N; i++)
		h_wait_ok(&cb[i], 256);
	ATF_REQUIRE(memcmp(buf, data, sizeof(data)) == 0);
}

#ifdef SIGEV_THREAD
static pthread_mutex_t th_lock = PTHREAD_MUTEX_INITIALIZER;
static int th_calls;
static void *th_value;
static pthread_t th_thread;
static const struct aiocb *th_cb;
static int th_err;

static void
th_notify(union sigval val)
{

	pthread_mutex_lock(&th_lock);
	th_value = val.sival_ptr;
	th_thread = pthread_self();
	th_err = aio_error(th_cb);
	th_calls++;
	pthread_mutex_unlock(&th_lock);
}

static int
th_count(void)
{
	int n;

	pthread_mutex_lock(&th_lock);
	n = th_calls;
	pthread_mutex_unlock(&th_lock);
	return n;
}
#endif

H_TC(sigev_thread, "SIGEV_THREAD calls the function with sigev_value")
ATF_TC_BODY(sigev_thread, tc)
{
#ifdef SIGEV_THREAD
	static int cookie;
	struct aiocb cb;
	long long deadline;
	int fd, r;

	h_fill(data, sizeof(data), 64);
	fd = h_file("f", data, sizeof(data));
	h_cb(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_sigevent.sigev_notify = SIGEV_THREAD;
	cb.aio_sigevent.sigev_notify_function = th_notify;
	cb.aio_sigevent.sigev_notify_attributes = NULL;
	cb.aio_sigevent.sigev_value.sival_ptr = &cookie;
	th_cb = &cb;
	errno = 0;
	r = aio_read(&cb);
#ifdef __NetBSD__
	if (r == -1 && errno == EINVAL)
		atf_tc_skip("SIGEV_THREAD not supported by this kernel's AIO");
#endif
	ATF_REQUIRE_MSG(r == 0, "aio_read with SIGEV_THREAD: %s",
	    strerror(errno));
	deadline = h_now_ms() + H_WAIT_MS;
	while (th_count() == 0 && h_now_ms() < deadline)
		h_sleep_ms(1);
	ATF_REQUIRE_MSG(th_count() == 1, "notify function ran %d times",
	    th_count());
	pthread_mutex_lock(&th_lock);
	ATF_REQUIRE(th_value == &cookie);
	ATF_REQUIRE(!pthread_equal(th_thread, pthread_self()));
	ATF_REQUIRE_EQ(th_err, 0);
	pthread_mutex_unlock(&th_lock);
	h_wait_ok(&cb, sizeof(buf));
	ATF_REQUIRE(memcmp(buf, data, sizeof(data)) == 0);
	h_sleep_ms(50);
	ATF_REQUIRE_EQ(th_count(), 1);
#else
	atf_tc_skip("SIGEV_THREAD is not defined");
#endif
}

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, sigev_none);
	ATF_TP_ADD_TC(tp, sigev_signal_ptr);
	ATF_TP_ADD_TC(tp, sigev_signal_int);
	ATF_TP_ADD_TC(tp, sigev_signal_each);
	ATF_TP_ADD_TC(tp, sigev_thread);
	return atf_no_error();
}
