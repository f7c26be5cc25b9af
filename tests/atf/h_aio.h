/*
 * h_aio.h: helpers shared by the POSIX asynchronous I/O test programs.
 *
 * The programs are written to POSIX.1-2008 and build against glibc (Linux
 * test host, with or without libnetbsd_aio.so bound in front of libc) and
 * against NetBSD's native libc.  Everything here is header-only so that
 * each test program stays a single source file.
 *
 * Bounded waiting: no helper waits without a deadline.  Completion is
 * detected by polling aio_error() (deliberately not aio_suspend(), so a
 * broken aio_suspend() cannot hide or hang other tests), and every test
 * case also carries an ATF "timeout" property.
 *
 * Strictness (AIO_STRICT): some checks test behaviour that POSIX leaves
 * optional ("may fail", "undefined") or that glibc is known not to
 * implement, for example EINVAL from aio_error() on an aiocb that was
 * never submitted.  Such checks use H_OPT().  When the build defines
 * AIO_STRICT (scripts/atf does so whenever it tests a given library, the
 * NetBSD Makefile when AIO_STRICT is set in make's environment) a miss
 * is a test failure; otherwise the test case ends as "skipped" with the
 * observed value in the reason, so the run stays green on a libc that
 * legitimately lacks the check, but the deviation is still reported.
 * Checks for behaviour that POSIX requires are never relaxed.
 */

#ifndef H_AIO_H
#define H_AIO_H

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <aio.h>
#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Upper bound of any single wait inside a test, in milliseconds. */
#define H_WAIT_MS	10000
/* ATF timeout of every test case, in seconds. */
#define H_TC_TIMEOUT	"30"

#ifdef AIO_STRICT
#define H_STRICT	1
#else
#define H_STRICT	0
#endif

/*
 * Declare a test case with a description and the common timeout; use as
 *	H_TC(name, "description")
 *	ATF_TC_BODY(name, tc)
 *	{ ... }
 */
#define H_TC(name, descr)						\
	ATF_TC(name);							\
	ATF_TC_HEAD(name, tc)						\
	{								\
		atf_tc_set_md_var(tc, "descr", descr);			\
		atf_tc_set_md_var(tc, "timeout", H_TC_TIMEOUT);		\
	}

static inline void
h_opt_miss(const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (H_STRICT)
		atf_tc_fail_requirement(file, (size_t)line, "%s", msg);
	atf_tc_skip("optional/known-deviant check not met by this libc "
	    "(build with -DAIO_STRICT to require it): %s:%d: %s",
	    file, line, msg);
}

/* A check that is only a hard requirement under AIO_STRICT. */
#define H_OPT(cond, ...) do {						\
	if (!(cond))							\
		h_opt_miss(__FILE__, __LINE__, __VA_ARGS__);		\
} while (/*CONSTCOND*/0)

/* A test whose very action is undefined by POSIX: run it only if strict. */
#define H_STRICT_ONLY(why) do {						\
	if (!H_STRICT)							\
		atf_tc_skip("only meaningful with AIO_STRICT: %s", why); \
} while (/*CONSTCOND*/0)

/* Require a value, printing both sides (long long) on failure. */
#define H_EQ(got, exp) do {						\
	long long h_got_ = (long long)(got);				\
	long long h_exp_ = (long long)(exp);				\
	ATF_REQUIRE_MSG(h_got_ == h_exp_, "%s is %lld, expected %s (%lld)", \
	    #got, h_got_, #exp, h_exp_);				\
} while (/*CONSTCOND*/0)

/* Require a call returning -1 with the given errno. */
#define H_ERR(call, experr) do {					\
	long long h_r_;							\
	errno = 0;							\
	h_r_ = (long long)(call);					\
	ATF_REQUIRE_MSG(h_r_ == -1 && errno == (experr),		\
	    "%s returned %lld errno %d (%s), expected -1 and %s",	\
	    #call, h_r_, errno, strerror(errno), #experr);		\
} while (/*CONSTCOND*/0)

static inline long long
h_now_ms(void)
{
	struct timespec ts;

	ATF_REQUIRE(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void
h_sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

static inline struct timespec
h_ts_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	return ts;
}

/* Fill in an aiocb from scratch; notification off (SIGEV_NONE). */
static inline void
h_cb(struct aiocb *cb, int fd, void *buf, size_t n, off_t off)
{

	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = fd;
	cb->aio_buf = buf;
	cb->aio_nbytes = n;
	cb->aio_offset = off;
	cb->aio_reqprio = 0;
	cb->aio_lio_opcode = LIO_NOP;
	cb->aio_sigevent.sigev_notify = SIGEV_NONE;
}

/*
 * Wait (bounded, polling) until aio_error() says the operation is no
 * longer in progress; return that error status.
 */
static inline int
h_wait_ms(const struct aiocb *cb, long ms)
{
	long long deadline = h_now_ms() + ms;
	int e;

	for (;;) {
		e = aio_error(cb);
		if (e != EINPROGRESS)
			return e;
		if (h_now_ms() > deadline)
			return EINPROGRESS;
		h_sleep_ms(1);
	}
}

static inline int
h_wait(const struct aiocb *cb)
{
	int e;

	e = h_wait_ms(cb, H_WAIT_MS);
	ATF_REQUIRE_MSG(e != EINPROGRESS,
	    "operation on fd %d still in progress after %d ms",
	    cb->aio_fildes, H_WAIT_MS);
	return e;
}

/* Wait for success and return aio_return(), requiring the byte count. */
static inline void
h_wait_ok(struct aiocb *cb, ssize_t expect)
{
	int e;
	ssize_t r;

	e = h_wait(cb);
	ATF_REQUIRE_MSG(e == 0, "operation on fd %d failed: %d (%s)",
	    cb->aio_fildes, e, strerror(e));
	r = aio_return(cb);
	ATF_REQUIRE_MSG(r == expect, "aio_return gave %zd, expected %zd",
	    r, expect);
}

/*
 * Outcome of a submission that may be reported synchronously (call
 * returned -1 with errno) or asynchronously (aio_error/aio_return).
 * Pass the call's result and the errno saved right after it.  Returns
 * the error (0 on success) after waiting for and reaping the operation.
 */
static inline int
h_outcome(struct aiocb *cb, int r, int saved_errno)
{
	int e;
	ssize_t rv;

	if (r == -1)
		return saved_errno;
	ATF_REQUIRE_MSG(r == 0, "submission returned %d", r);
	e = h_wait(cb);
	rv = aio_return(cb);
	if (e != 0)
		ATF_REQUIRE_MSG(rv == -1,
		    "failed operation (error %d) has aio_return %zd, not -1",
		    e, rv);
	return e;
}

/*
 * Require an error.  POSIX lets the submission report it either
 * synchronously (-1 and errno) or asynchronously (the operation's error
 * status), and both are accepted, except for EBADF with AIO_STRICT:
 * whether the descriptor is open, and open in the operation's mode, is
 * known when the call is made, so the call itself must fail with EBADF.
 * (Errors that depend on the kind of file, such as EINVAL for aio_fsync
 * on a pipe or for a negative offset, which a pipe ignores, may still be
 * found by the job.)
 */
#define H_SUBMIT_ERR(call, cbp, experr) do {				\
	int h_r_, h_e_, h_got_;						\
	errno = 0;							\
	h_r_ = (call);							\
	h_e_ = errno;							\
	h_got_ = h_outcome((cbp), h_r_, h_e_);				\
	ATF_REQUIRE_MSG(h_got_ == (experr),				\
	    "%s: got %s error %d (%s), expected %s",			\
	    #call, h_r_ == -1 ? "synchronous" : "asynchronous",	\
	    h_got_, strerror(h_got_), #experr);				\
	ATF_REQUIRE_MSG(!H_STRICT || (experr) != EBADF || h_r_ == -1,	\
	    "%s: EBADF reported asynchronously; with AIO_STRICT the "	\
	    "call itself must fail with it", #call);			\
} while (/*CONSTCOND*/0)

/* The same, as an optional check (see H_OPT). */
#define H_SUBMIT_ERR_OPT(call, cbp, experr) do {			\
	int h_r_, h_e_, h_got_;						\
	errno = 0;							\
	h_r_ = (call);							\
	h_e_ = errno;							\
	h_got_ = h_outcome((cbp), h_r_, h_e_);				\
	H_OPT(h_got_ == (experr) &&					\
	    (!H_STRICT || (experr) != EBADF || h_r_ == -1),		\
	    "%s: got %s result %d (%s), expected %s",			\
	    #call, h_r_ == -1 ? "synchronous" : "asynchronous",	\
	    h_got_, strerror(h_got_), #experr);				\
} while (/*CONSTCOND*/0)

/* Deterministic byte pattern: distinct per seed and position. */
static inline void
h_fill(void *buf, size_t len, unsigned seed)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 31u + seed * 131u + (i >> 8)) ^
		    (seed >> 3));
}

/* Create (truncate) a file in the test's work dir, with contents. */
static inline int
h_file(const char *name, const void *data, size_t len)
{
	int fd;

	fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ATF_REQUIRE_MSG(fd != -1, "open %s: %s", name, strerror(errno));
	if (len > 0)
		ATF_REQUIRE_MSG(pwrite(fd, data, len, 0) == (ssize_t)len,
		    "pwrite %s: %s", name, strerror(errno));
	return fd;
}

static inline off_t
h_size(int fd)
{
	struct stat st;

	ATF_REQUIRE(fstat(fd, &st) == 0);
	return st.st_size;
}

/* A pipe; SIGPIPE ignored so writes to a widowed pipe give EPIPE. */
static inline void
h_pipe(int p[2])
{

	ATF_REQUIRE(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
	ATF_REQUIRE_MSG(pipe(p) == 0, "pipe: %s", strerror(errno));
}

static inline void
h_write_all(int fd, const void *buf, size_t len)
{
	ATF_REQUIRE_MSG(write(fd, buf, len) == (ssize_t)len,
	    "write %zu bytes to fd %d: %s", len, fd, strerror(errno));
}

/* {AIO_LISTIO_MAX}: sysconf if it knows, else the macro, else 512. */
static inline int
h_listio_max(void)
{
	long v;

	v = sysconf(_SC_AIO_LISTIO_MAX);
	if (v > 0 && v < INT_MAX)
		return (int)v;
#ifdef AIO_LISTIO_MAX
	return AIO_LISTIO_MAX;
#else
	return 512;
#endif
}

#ifdef __linux__
/*
 * sysctlbyname(3) of the Linux host library (libnetbsd_aio.so) for its
 * kern.aio_max, kern.aio_listio_max and kern.posix_aio.  Weak: in a
 * program that uses glibc's own AIO it is NULL, and the tests that need
 * it skip.
 */
int	netbsd_aio_sysctlbyname(const char *, void *, size_t *, const void *,
	    size_t) __attribute__((__weak__));
#endif

/* A queued (real-time if available) signal for notification tests. */
static inline int
h_rtsig(void)
{
#ifdef SIGRTMIN
	if (SIGRTMIN + 1 <= SIGRTMAX)
		return SIGRTMIN + 1;
#endif
	return SIGUSR1;
}

/*
 * Signal recorder: a SA_SIGINFO handler counting deliveries and keeping
 * the siginfo of the last one (and, for real-time signals, the values of
 * up to H_SIGREC_MAX deliveries).  If h_sig_watch is set, the handler
 * also samples aio_error() on it (async-signal-safe) to check that the
 * operation was complete when its notification arrived.
 */
#define H_SIGREC_MAX	256

static volatile sig_atomic_t h_sig_count;
static volatile int h_sig_signo;
static volatile int h_sig_code;
static void *volatile h_sig_ptr;
static volatile int h_sig_ints[H_SIGREC_MAX];
static const struct aiocb *volatile h_sig_watch;
static volatile int h_sig_watch_err;

static inline void
h_sig_handler(int signo, siginfo_t *si, void *ctx)
{
	int n = h_sig_count;

	(void)ctx;
	h_sig_signo = signo;
	h_sig_code = si->si_code;
	h_sig_ptr = si->si_value.sival_ptr;
	if (n < H_SIGREC_MAX)
		h_sig_ints[n] = si->si_value.sival_int;
	if (h_sig_watch != NULL)
		h_sig_watch_err = aio_error(h_sig_watch);
	h_sig_count = n + 1;
}

/* Install the recorder on signo (no SA_RESTART) and reset it. */
static inline void
h_sig_catch(int signo)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h_sig_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ATF_REQUIRE(sigaction(signo, &sa, NULL) == 0);
	sigemptyset(&set);
	sigaddset(&set, signo);
	ATF_REQUIRE(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
	h_sig_count = 0;
	h_sig_signo = 0;
	h_sig_code = 0;
	h_sig_ptr = NULL;
	h_sig_watch = NULL;
	h_sig_watch_err = -1;
}

/* Wait (bounded) until at least n signals were recorded. */
static inline bool
h_sig_wait(int n, long ms)
{
	long long deadline = h_now_ms() + ms;

	while (h_sig_count < n) {
		if (h_now_ms() > deadline)
			return false;
		h_sleep_ms(1);
	}
	return true;
}

static inline void
h_sigev_signal(struct sigevent *sev, int signo, union sigval val)
{

	memset(sev, 0, sizeof(*sev));
	sev->sigev_notify = SIGEV_SIGNAL;
	sev->sigev_signo = signo;
	sev->sigev_value = val;
}

/*
 * Write into a descriptor from another thread after a delay, so a test
 * can be blocked in an AIO call while its operation becomes ready.
 */
struct h_delayed {
	pthread_t	 thr;
	int		 fd;
	const void	*buf;
	size_t		 len;
	long		 ms;
	ssize_t		 result;
};

static inline void *
h_delayed_main(void *arg)
{
	struct h_delayed *d = arg;

	h_sleep_ms(d->ms);
	d->result = write(d->fd, d->buf, d->len);
	return NULL;
}

static inline void
h_delayed_write(struct h_delayed *d, int fd, const void *buf, size_t len,
    long ms)
{

	d->fd = fd;
	d->buf = buf;
	d->len = len;
	d->ms = ms;
	d->result = -2;
	ATF_REQUIRE(pthread_create(&d->thr, NULL, h_delayed_main, d) == 0);
}

static inline void
h_delayed_join(struct h_delayed *d)
{

	ATF_REQUIRE(pthread_join(d->thr, NULL) == 0);
	ATF_REQUIRE_MSG(d->result == (ssize_t)d->len,
	    "delayed write returned %zd", d->result);
}

/*
 * Wait (bounded) for a child; kill it on timeout.  Returns the wait
 * status.
 */
static inline int
h_waitpid(pid_t pid, long ms)
{
	long long deadline = h_now_ms() + ms;
	pid_t r;
	int status;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		ATF_REQUIRE_MSG(r == 0, "waitpid: %s", strerror(errno));
		if (h_now_ms() > deadline) {
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			atf_tc_fail("child %d did not exit within %ld ms",
			    (int)pid, ms);
		}
		h_sleep_ms(2);
	}
}

#endif /* !H_AIO_H */
