/*
 * t_aio_limits: EAGAIN at the AIO limits.
 *
 * kern.aio_listio_max bounds the requests a process has in flight as well
 * as the length of a list, and kern.aio_max the requests in flight in the
 * whole system.  POSIX: a request that cannot be queued for lack of
 * resources fails with EAGAIN, and so does a lio_listio() whose entries
 * cannot all be queued.  The requests held in flight here are reads on
 * empty pipes: they stay pending until the write end is closed, and then
 * complete with end of file (0 bytes).
 *
 * The limits are read, and lowered to keep the cases short, with
 * sysctlbyname(3) on NetBSD (lowering needs root; otherwise the limit in
 * force is used) and with netbsd_aio_sysctlbyname() of libnetbsd_aio.so
 * on Linux, where they are the process's own.  glibc's AIO has neither
 * the limits nor the function: there the cases skip.  Changed limits are
 * put back at the end of a case and, should the body fail half-way, by
 * its cleanup routine, from values saved in the work directory.
 *
 * How the entries of a refused lio_listio() are left is up to the
 * implementation; the exact check of this project's (nothing queued, the
 * aiocbs untouched) uses H_OPT() (see h_aio.h).
 */

#ifdef __NetBSD__
#include <sys/sysctl.h>
#endif

#include <poll.h>

#include "h_aio.h"

#define LISTIO		"kern.aio_listio_max"
#define AIOMAX		"kern.aio_max"
#define POSIXAIO	"kern.posix_aio"
/* The per-process limit set where the limits can be changed. */
#define LOW_LISTIO	16
/* Limits in force before the case changed them: "aio_max listio_max". */
#define SAVED		"limits.saved"

static int
lim_sysctl(const char *name, void *oldp, size_t *oldlenp, const void *newp,
    size_t newlen)
{

#if defined(__NetBSD__)
	return sysctlbyname(name, oldp, oldlenp, newp, newlen);
#else
#if defined(__linux__)
	if (netbsd_aio_sysctlbyname != NULL)
		return netbsd_aio_sysctlbyname(name, oldp, oldlenp, newp,
		    newlen);
#endif
	(void)name;
	(void)oldp;
	(void)oldlenp;
	(void)newp;
	(void)newlen;
	errno = ENOSYS;
	return -1;
#endif
}

static int
lim_get(const char *name)
{
	size_t len;
	int v;

	len = sizeof(v);
	ATF_REQUIRE_MSG(lim_sysctl(name, &v, &len, NULL, 0) == 0,
	    "reading %s: %s", name, strerror(errno));
	H_EQ(len, sizeof(v));
	return v;
}

static void
lim_set(const char *name, int v)
{

	ATF_REQUIRE_MSG(lim_sysctl(name, NULL, NULL, &v, sizeof(v)) == 0,
	    "setting %s to %d: %s", name, v, strerror(errno));
	H_EQ(lim_get(name), v);
}

/*
 * Skips the case unless this process has AIO limits it can read; returns
 * whether it may change them.
 */
static bool
lim_available(void)
{
#if defined(__linux__)
	if (netbsd_aio_sysctlbyname == NULL)
		atf_tc_skip("glibc's AIO has no per-process or system-wide "
		    "limit to reach (netbsd_aio_sysctlbyname is not in this "
		    "program)");
	return true;
#elif defined(__NetBSD__)
	size_t len;
	int v;

	len = sizeof(v);
	if (sysctlbyname(LISTIO, &v, &len, NULL, 0) == -1) {
		/* The aio module is loaded by the first AIO system call. */
		(void)aio_cancel(0, NULL);
		len = sizeof(v);
		if (sysctlbyname(LISTIO, &v, &len, NULL, 0) == -1)
			atf_tc_skip("no %s: %s", LISTIO, strerror(errno));
	}
	return geteuid() == 0;
#else
	atf_tc_skip("no known way to read the AIO limits on this system");
	return false;
#endif
}

/* Saves the limits in force, for lim_restore(). */
static void
lim_save(void)
{
	FILE *f;

	f = fopen(SAVED, "w");
	ATF_REQUIRE_MSG(f != NULL, "%s: %s", SAVED, strerror(errno));
	fprintf(f, "%d %d\n", lim_get(AIOMAX), lim_get(LISTIO));
	ATF_REQUIRE(fclose(f) == 0);
}

/*
 * Puts back the limits lim_save() saved, if it did.  No ATF checks: this
 * also runs as the cleanup routine.  The cases only lower the limits, so
 * aio_max can go first (aio_listio_max may not exceed it).
 */
static void
lim_restore(void)
{
	FILE *f;
	int v[2], i;
	const char *names[2] = { AIOMAX, LISTIO };

	f = fopen(SAVED, "r");
	if (f == NULL)
		return;
	if (fscanf(f, "%d %d", &v[0], &v[1]) == 2) {
		for (i = 0; i < 2; i++)
			if (lim_sysctl(names[i], NULL, NULL, &v[i],
			    sizeof(v[i])) == -1)
				fprintf(stderr, "restoring %s to %d: %s\n",
				    names[i], v[i], strerror(errno));
	}
	(void)fclose(f);
	(void)unlink(SAVED);
}

/*
 * The per-process limit a case works with: lowered to `want' where the
 * limits can be changed, else the one in force.
 */
static int
lim_listio(int want)
{
	int n;

	if (lim_available()) {
		lim_save();
		lim_set(LISTIO, want);
	}
	n = lim_get(LISTIO);
	ATF_REQUIRE_MSG(n >= 1, "%s is %d", LISTIO, n);
	if (n > 65536)
		atf_tc_skip("%s is %d: too many requests to hold", LISTIO, n);
	return n;
}

/* Requests held in flight: reads of 1 byte on one empty pipe. */
struct pend {
	int		 p[2];
	int		 n;
	struct aiocb	*cb;
	char		*buf;
};

static void
pend_queue(struct pend *pd, int n)
{
	int i, r;

	h_pipe(pd->p);
	pd->n = n;
	pd->cb = calloc((size_t)n + 1, sizeof(*pd->cb));
	pd->buf = calloc((size_t)n + 1, 1);
	ATF_REQUIRE(pd->cb != NULL && pd->buf != NULL);
	for (i = 0; i < n; i++) {
		h_cb(&pd->cb[i], pd->p[0], &pd->buf[i], 1, 0);
		errno = 0;
		r = aio_read(&pd->cb[i]);
		ATF_REQUIRE_MSG(r == 0, "aio_read %d of %d on an empty pipe "
		    "gave %d (%s)", i + 1, n, r, strerror(errno));
	}
}

static void
pend_check(const struct pend *pd)
{
	int i;

	for (i = 0; i < pd->n; i++)
		ATF_REQUIRE_MSG(aio_error(&pd->cb[i]) == EINPROGRESS,
		    "read %d of %d is no longer in progress", i + 1, pd->n);
}

/*
 * Closes the write end, so that every read ends at end of file, and
 * collects the results with aio_suspend(), aio_error() and aio_return():
 * 0 bytes each.
 */
static void
pend_release(struct pend *pd)
{
	const struct aiocb **list;
	struct timespec ts;
	long long deadline;
	int left, i, e;

	ATF_REQUIRE(close(pd->p[1]) == 0);
	list = calloc((size_t)pd->n + 1, sizeof(*list));
	ATF_REQUIRE(list != NULL);
	for (i = 0; i < pd->n; i++)
		list[i] = &pd->cb[i];
	deadline = h_now_ms() + H_WAIT_MS;
	for (left = pd->n; left > 0;) {
		ATF_REQUIRE_MSG(h_now_ms() < deadline, "%d of %d reads still "
		    "in progress %d ms after end of file", left, pd->n,
		    H_WAIT_MS);
		ts = h_ts_ms(1000);
		if (aio_suspend(list, pd->n, &ts) == -1)
			ATF_REQUIRE_MSG(errno == EAGAIN || errno == EINTR,
			    "aio_suspend: %s", strerror(errno));
		for (i = 0; i < pd->n; i++) {
			if (list[i] == NULL)
				continue;
			e = aio_error(list[i]);
			if (e == EINPROGRESS)
				continue;
			ATF_REQUIRE_MSG(e == 0, "read %d of %d ended with %d "
			    "(%s)", i + 1, pd->n, e, strerror(e));
			H_EQ(aio_return(&pd->cb[i]), 0);
			list[i] = NULL;
			left--;
		}
	}
	ATF_REQUIRE(close(pd->p[0]) == 0);
	free(list);
	free(pd->cb);
	free(pd->buf);
}

/* One read on the empty read end `fd' must be refused with EAGAIN. */
static void
refused_read(int fd)
{
	struct aiocb cb;
	char c;

	h_cb(&cb, fd, &c, 1, 0);
	H_ERR(aio_read(&cb), EAGAIN);
}

/* A case whose cleanup routine puts the limits back. */
#define LIM_TC(name, descr)						\
	ATF_TC_WITH_CLEANUP(name);					\
	ATF_TC_HEAD(name, tc)						\
	{								\
		atf_tc_set_md_var(tc, "descr", descr);			\
		atf_tc_set_md_var(tc, "timeout", H_TC_TIMEOUT);		\
	}								\
	ATF_TC_CLEANUP(name, tc)					\
	{								\
		lim_restore();						\
	}

H_TC(sysctl_values, "the limits read back as ints; kern.posix_aio is "
    "read-only; bad names, lengths and values are refused")
ATF_TC_BODY(sysctl_values, tc)
{
	size_t len;
	int v, old, listio, max, posix;
	bool rw;

	rw = lim_available();
	listio = lim_get(LISTIO);
	max = lim_get(AIOMAX);
	ATF_REQUIRE_MSG(listio >= 1 && max >= listio,
	    "%s %d, %s %d", LISTIO, listio, AIOMAX, max);
	posix = lim_get(POSIXAIO);
#ifdef __NetBSD__
	H_EQ(posix, _POSIX_ASYNCHRONOUS_IO);
#else
	/* NetBSD's value (glibc's <unistd.h> says 200809). */
	H_EQ(posix, 200112);
#endif

	/* Asking for the size only. */
	len = 0;
	ATF_REQUIRE(lim_sysctl(LISTIO, NULL, &len, NULL, 0) == 0);
	H_EQ(len, sizeof(int));
	/* Too little room: ENOMEM, and the size needed. */
	len = sizeof(int) - 1;
	v = -7;
	H_ERR(lim_sysctl(LISTIO, &v, &len, NULL, 0), ENOMEM);
	H_EQ(len, sizeof(int));

	H_ERR(lim_sysctl("kern.aio_no_such_limit", &v, &len, NULL, 0),
	    ENOENT);
	v = 1;
	H_ERR(lim_sysctl(POSIXAIO, NULL, NULL, &v, sizeof(v)), EPERM);
	H_EQ(lim_get(POSIXAIO), posix);
#ifdef __linux__
	H_ERR(lim_sysctl(NULL, &v, &len, NULL, 0), EFAULT);
	len = sizeof(v);
	H_ERR(lim_sysctl(LISTIO, (void *)8, &len, NULL, 0), EFAULT);
	H_ERR(lim_sysctl(LISTIO, NULL, NULL, (void *)8, sizeof(int)), EFAULT);
#endif
	if (!rw)
		return;

	lim_save();
	v = listio;
	H_ERR(lim_sysctl(LISTIO, NULL, NULL, &v, sizeof(v) + 1), EINVAL);
	H_ERR(lim_sysctl(LISTIO, NULL, NULL, &v, 1), EINVAL);
	v = 0;
	H_ERR(lim_sysctl(LISTIO, NULL, NULL, &v, sizeof(v)), EINVAL);
	v = -1;
	H_ERR(lim_sysctl(LISTIO, NULL, NULL, &v, sizeof(v)), EINVAL);
	H_ERR(lim_sysctl(AIOMAX, NULL, NULL, &v, sizeof(v)), EINVAL);
	/* aio_listio_max may not exceed aio_max, nor aio_max go below it. */
	if (max < INT_MAX) {
		v = max + 1;
		H_ERR(lim_sysctl(LISTIO, NULL, NULL, &v, sizeof(v)), EINVAL);
	}
	if (listio > 1) {
		v = listio - 1;
		H_ERR(lim_sysctl(AIOMAX, NULL, NULL, &v, sizeof(v)), EINVAL);
	}
	/* Nothing refused changed anything. */
	H_EQ(lim_get(LISTIO), listio);
	H_EQ(lim_get(AIOMAX), max);

	/* Old and new value in one call. */
	v = LOW_LISTIO;
	old = -1;
	len = sizeof(old);
	ATF_REQUIRE(lim_sysctl(LISTIO, &old, &len, &v, sizeof(v)) == 0);
	H_EQ(old, listio);
	H_EQ(len, sizeof(old));
	H_EQ(lim_get(LISTIO), LOW_LISTIO);
	lim_restore();
	H_EQ(lim_get(LISTIO), listio);
	H_EQ(lim_get(AIOMAX), max);
}

LIM_TC(eagain_process, "EAGAIN for aio_read and aio_write beyond "
    "kern.aio_listio_max requests in flight; the slots come back once "
    "the results are collected")
ATF_TC_BODY(eagain_process, tc)
{
	struct pend a, b;
	struct aiocb cb;
	char c;
	int q[2], n, fl;

	n = lim_listio(LOW_LISTIO);
	pend_queue(&a, n);

	/* One more read, on the same pipe or another, is refused... */
	h_pipe(q);
	refused_read(a.p[0]);
	refused_read(q[0]);
	/* ...and so is a write, which writes nothing. */
	h_cb(&cb, q[1], "w", 1, 0);
	H_ERR(aio_write(&cb), EAGAIN);
	h_sleep_ms(20);
	fl = fcntl(q[0], F_GETFL);
	ATF_REQUIRE(fl != -1 && fcntl(q[0], F_SETFL, fl | O_NONBLOCK) == 0);
	H_ERR(read(q[0], &c, 1), EAGAIN);
	/* The refusals did not disturb the requests in flight. */
	pend_check(&a);

	pend_release(&a);
	/* All collected: the whole limit can be in flight again. */
	pend_queue(&b, n);
	refused_read(q[0]);
	pend_release(&b);
	lim_restore();
}

LIM_TC(eagain_lio, "lio_listio gives EAGAIN when its entries cannot all "
    "be queued; nothing leaks")
ATF_TC_BODY(eagain_lio, tc)
{
	enum { NL = 5 };
	struct aiocb l[NL], *list[NL];
	struct pend a, b;
	char lbuf[NL];
	int err[NL], st[NL];
	int q[2], n, i, queued;

	n = lim_listio(LOW_LISTIO);
	ATF_REQUIRE_MSG(n >= NL, "%s %d is shorter than the list", LISTIO, n);
	/* Room for 2 more: the list of 5 does not fit. */
	pend_queue(&a, n - 2);
	h_pipe(q);
	for (i = 0; i < NL; i++) {
		h_cb(&l[i], q[0], &lbuf[i], 1, 0);
		l[i].aio_lio_opcode = LIO_READ;
		list[i] = &l[i];
	}
	H_ERR(lio_listio(LIO_NOWAIT, list, NL, NULL), EAGAIN);

	/*
	 * POSIX lets an implementation queue some of the entries; those
	 * not queued say why in their error status.  Note each entry's
	 * status now, then let the queued ones (if any) end.
	 */
	queued = 0;
	for (i = 0; i < NL; i++) {
		errno = 0;
		st[i] = aio_error(&l[i]);
		err[i] = errno;
		if (st[i] == EINPROGRESS)
			queued++;
		else
			ATF_REQUIRE_MSG(st[i] == EAGAIN ||
			    (st[i] == -1 && err[i] == EINVAL),
			    "entry %d: aio_error %d errno %d: neither queued, "
			    "refused (EAGAIN) nor left unsubmitted", i, st[i],
			    err[i]);
	}
	ATF_REQUIRE_MSG(queued < NL, "EAGAIN, but all %d entries queued", NL);
	pend_check(&a);
	ATF_REQUIRE(close(q[1]) == 0);
	for (i = 0; i < NL; i++)
		if (st[i] == EINPROGRESS)
			h_wait_ok(&l[i], 0);
	ATF_REQUIRE(close(q[0]) == 0);
	pend_release(&a);

	/* Nothing leaked: the whole limit can be in flight again. */
	pend_queue(&b, n);
	refused_read(b.p[0]);
	pend_release(&b);

	/*
	 * This implementation takes the slots of the whole list at once
	 * (src/engine/lio.rs): with EAGAIN no entry is queued, and each
	 * says so in its own status, as POSIX describes.
	 */
	for (i = 0; i < NL; i++) {
		H_OPT(st[i] == EAGAIN, "entry %d of the refused list: "
		    "aio_error %d errno %d, not EAGAIN", i, st[i], err[i]);
		if (st[i] == EAGAIN)
			H_OPT(aio_return(&l[i]) == -1,
			    "entry %d: aio_return not -1", i);
	}
	lim_restore();
}

#ifdef __NetBSD__
/*
 * The child of eagain_system: holds n reads in flight until told to go
 * (or until the parent is gone), then collects them.  Exit status 0 if
 * all went as planned.
 */
static int
hold_in_child(int n, int ready, int go)
{
	struct aiocb *cb;
	char *buf, c;
	int p[2], i, e;

	cb = calloc((size_t)n, sizeof(*cb));
	buf = calloc((size_t)n, 1);
	if (cb == NULL || buf == NULL || pipe(p) == -1)
		return 1;
	for (i = 0; i < n; i++) {
		h_cb(&cb[i], p[0], &buf[i], 1, 0);
		if (aio_read(&cb[i]) != 0) {
			(void)write(ready, "E", 1);
			return 2;
		}
	}
	if (write(ready, "R", 1) != 1)
		return 3;
	(void)read(go, &c, 1);
	(void)close(p[1]);
	for (i = 0; i < n; i++) {
		e = h_wait_ms(&cb[i], H_WAIT_MS);
		if (e != 0 || aio_return(&cb[i]) != 0)
			return 4;
	}
	return 0;
}

ATF_TC_WITH_CLEANUP(eagain_system);
ATF_TC_HEAD(eagain_system, tc)
{
	atf_tc_set_md_var(tc, "descr", "EAGAIN beyond kern.aio_max requests "
	    "in flight in the system, below the process's own limit");
	atf_tc_set_md_var(tc, "timeout", H_TC_TIMEOUT);
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_CLEANUP(eagain_system, tc)
{
	lim_restore();
}
ATF_TC_BODY(eagain_system, tc)
{
	enum { L = 4, M = 6 };
	struct aiocb cb[L + 1];
	struct pollfd pfd;
	char buf[L + 1], c;
	int ready[2], go[2], p[2], k, r, err, status;
	pid_t pid;

	r = 0;
	err = 0;
	ATF_REQUIRE(lim_available());
	lim_save();
	/* aio_listio_max first: aio_max may not go below it. */
	lim_set(LISTIO, L);
	lim_set(AIOMAX, M);
	h_pipe(ready);
	h_pipe(go);
	pid = fork();
	ATF_REQUIRE(pid != -1);
	if (pid == 0) {
		(void)close(ready[0]);
		(void)close(go[1]);
		_exit(hold_in_child(L, ready[1], go[0]));
	}
	ATF_REQUIRE(close(ready[1]) == 0);
	ATF_REQUIRE(close(go[0]) == 0);
	pfd.fd = ready[0];
	pfd.events = POLLIN;
	ATF_REQUIRE_MSG(poll(&pfd, 1, H_WAIT_MS) == 1,
	    "the child did not report within %d ms", H_WAIT_MS);
	ATF_REQUIRE_EQ(read(ready[0], &c, 1), 1);
	ATF_REQUIRE_MSG(c == 'R', "the child could not queue %d reads", L);

	/*
	 * The child holds L of the M slots of the system: this process gets
	 * at most M - L (fewer if other processes have requests in flight),
	 * although its own limit is L.
	 */
	h_pipe(p);
	for (k = 0; k < L; k++) {
		h_cb(&cb[k], p[0], &buf[k], 1, 0);
		errno = 0;
		r = aio_read(&cb[k]);
		err = errno;
		if (r != 0)
			break;
	}
	ATF_REQUIRE_MSG(r == -1 && err == EAGAIN && k <= M - L,
	    "read %d of at most %d gave %d (%s): kern.aio_max not applied",
	    k + 1, M - L, r, strerror(err));

	/* Once the child's requests are gone, their slots come back. */
	ATF_REQUIRE_EQ(write(go[1], "G", 1), 1);
	status = h_waitpid(pid, H_WAIT_MS);
	ATF_REQUIRE_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %#x", status);
	h_cb(&cb[k], p[0], &buf[k], 1, 0);
	ATF_REQUIRE_MSG(aio_read(&cb[k]) == 0, "aio_read after the child "
	    "ended: %s", strerror(errno));
	ATF_REQUIRE(close(p[1]) == 0);
	for (r = 0; r <= k; r++)
		h_wait_ok(&cb[r], 0);
	lim_restore();
}
#else
H_TC(eagain_system, "EAGAIN beyond kern.aio_max requests in flight in "
    "the system (NetBSD only)")
ATF_TC_BODY(eagain_system, tc)
{

	atf_tc_skip("needs a system of processes: on the Linux host one "
	    "process is the whole system, its limits are its own (a forked "
	    "child starts with a copy), and kern.aio_max >= "
	    "kern.aio_listio_max, so a process reaches its own limit first");
}
#endif

ATF_TP_ADD_TCS(tp)
{

	ATF_TP_ADD_TC(tp, sysctl_values);
	ATF_TP_ADD_TC(tp, eagain_process);
	ATF_TP_ADD_TC(tp, eagain_lio);
	ATF_TP_ADD_TC(tp, eagain_system);
	return atf_no_error();
}
