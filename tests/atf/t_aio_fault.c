/*
 * t_aio_fault: bad user pointers give EFAULT, never a crash, and the
 * program's own SIGSEGV handling is left as it was.
 *
 * A NetBSD kernel reaches the aiocb, the aio_suspend/lio_listio lists,
 * the sigevent and the timeout with copyin/copyout, so an unmapped or
 * inaccessible address is EFAULT.  POSIX leaves it undefined (glibc
 * dereferences the pointer and the process dies), so those cases run only
 * with AIO_STRICT.  Whatever an implementation does to catch its faults
 * must not change how faults of the program itself behave: those cases
 * run everywhere.
 *
 * Bad addresses: a PROT_NONE page (mapped, inaccessible) and a page that
 * was unmapped, plus an aiocb that straddles the edge into a PROT_NONE
 * page, so a partial copy must fail as a whole.
 */

#include <sys/mman.h>
#include <sys/resource.h>

#include <setjmp.h>
#include <stddef.h>

#include "h_aio.h"

static long
h_pagesize(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	ATF_REQUIRE(ps > 0);
	return ps;
}

/* Two pages: the first read-write, the second PROT_NONE. */
static char *
h_edge(void)
{
	long ps = h_pagesize();
	char *p;

	p = mmap(NULL, (size_t)ps * 2, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANON, -1, 0);
	ATF_REQUIRE(p != MAP_FAILED);
	ATF_REQUIRE(mprotect(p + ps, (size_t)ps, PROT_NONE) == 0);
	return p;
}

/* An address in no mapping. */
static void *
h_unmapped(void)
{
	long ps = h_pagesize();
	void *p;

	p = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANON, -1, 0);
	ATF_REQUIRE(p != MAP_FAILED);
	ATF_REQUIRE(munmap(p, (size_t)ps) == 0);
	return p;
}

/* A file with some data, for requests that would otherwise succeed. */
static int
h_datafile(void)
{
	char data[64];

	h_fill(data, sizeof(data), 3);
	return h_file("f", data, sizeof(data));
}

H_TC(efault_aiocb, "EFAULT for an aiocb in an inaccessible or unmapped page")
ATF_TC_BODY(efault_aiocb, tc)
{
	long ps = h_pagesize();
	char *edge, *bads[3];
	struct aiocb *cb;
	char buf[16];
	size_t i;
	int fd;

	H_STRICT_ONLY("a bad aiocb pointer is undefined behaviour in POSIX");
	fd = h_datafile();
	edge = h_edge();
	bads[0] = edge + ps;			/* PROT_NONE */
	bads[1] = h_unmapped();
	/* The user fields readable, the kernel-private tail not. */
	bads[2] = edge + ps - offsetof(struct aiocb, aio_sigevent);
	for (i = 0; i < 3; i++) {
		cb = (struct aiocb *)(void *)bads[i];
		if (i == 2) {
			memset(bads[2], 0, (size_t)(edge + ps - bads[2]));
			cb->aio_fildes = fd;
			cb->aio_buf = buf;
			cb->aio_nbytes = sizeof(buf);
		}
		H_ERR(aio_read(cb), EFAULT);
		H_ERR(aio_write(cb), EFAULT);
		H_ERR(aio_fsync(O_SYNC, cb), EFAULT);
		if (i < 2) {
			H_ERR(aio_error(cb), EFAULT);
			H_ERR(aio_return(cb), EFAULT);
			H_ERR(aio_cancel(fd, cb), EFAULT);
		}
	}
	/* Nothing was queued: the file is untouched and AIO still works. */
	H_EQ(h_size(fd), 64);
	cb = calloc(1, sizeof(*cb));
	ATF_REQUIRE(cb != NULL);
	h_cb(cb, fd, buf, sizeof(buf), 0);
	ATF_REQUIRE(aio_read(cb) == 0);
	h_wait_ok(cb, sizeof(buf));
	free(cb);
}

H_TC(efault_lists, "EFAULT for bad aio_suspend/lio_listio lists, "
    "sigevents and timeouts")
ATF_TC_BODY(efault_lists, tc)
{
	long ps = h_pagesize();
	struct aiocb cb, *list[1];
	struct timespec ts = { 0, 0 };
	struct sigevent *badsig;
	char *edge, buf[16];
	void *unmapped;
	int fd;

	H_STRICT_ONLY("a bad list pointer is undefined behaviour in POSIX");
	fd = h_datafile();
	edge = h_edge();
	unmapped = h_unmapped();
	H_ERR(aio_suspend((const struct aiocb *const *)unmapped, 1, NULL),
	    EFAULT);
	H_ERR(aio_suspend((const struct aiocb *const *)(void *)(edge + ps),
	    1, &ts), EFAULT);
	H_ERR(lio_listio(LIO_WAIT, (struct aiocb *const *)unmapped, 1, NULL),
	    EFAULT);
	H_ERR(lio_listio(LIO_NOWAIT,
	    (struct aiocb *const *)(void *)(edge + ps), 1, NULL), EFAULT);

	/* A bad timeout with a job in progress (a pipe nobody feeds). */
	{
		int p[2];

		h_pipe(p);
		h_cb(&cb, p[0], buf, 1, 0);
		ATF_REQUIRE(aio_read(&cb) == 0);
		list[0] = &cb;
		H_ERR(aio_suspend((const struct aiocb *const *)list, 1,
		    (const struct timespec *)unmapped), EFAULT);
		h_write_all(p[1], "x", 1);
		h_wait_ok(&cb, 1);
	}

	/* A bad list sigevent: nothing is queued. */
	badsig = (struct sigevent *)(void *)(edge + ps);
	h_cb(&cb, fd, buf, sizeof(buf), 0);
	cb.aio_lio_opcode = LIO_READ;
	list[0] = &cb;
	H_ERR(lio_listio(LIO_NOWAIT, list, 1, badsig), EFAULT);
	H_ERR(aio_error(&cb), EINVAL);
}

H_TC(lio_bad_entry, "a list entry pointing at an inaccessible aiocb fails "
    "alone, with EIO from lio_listio")
ATF_TC_BODY(lio_bad_entry, tc)
{
	long ps = h_pagesize();
	struct aiocb good, *list[2];
	char buf[16];
	int fd;

	H_STRICT_ONLY("a bad aiocb pointer is undefined behaviour in POSIX");
	fd = h_datafile();
	h_cb(&good, fd, buf, sizeof(buf), 0);
	good.aio_lio_opcode = LIO_READ;
	list[0] = (struct aiocb *)(void *)(h_edge() + ps);
	list[1] = &good;
	H_ERR(lio_listio(LIO_WAIT, list, 2, NULL), EIO);
	H_EQ(aio_error(&good), 0);
	H_EQ(aio_return(&good), sizeof(buf));
}

H_TC(unmapped_in_flight, "an aiocb unmapped while its job runs: the result "
    "is dropped, the process lives on, nothing leaks")
ATF_TC_BODY(unmapped_in_flight, tc)
{
	long ps = h_pagesize();
	struct aiocb *cb, cb2;
	char buf[4], *pages;
	int p[2], i;

	H_STRICT_ONLY("unmapping an aiocb in flight is undefined in POSIX");
	h_pipe(p);
	/* One page per aiocb, so no address is reused while a job is on it. */
	pages = mmap(NULL, (size_t)ps * 64, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANON, -1, 0);
	ATF_REQUIRE(pages != MAP_FAILED);
	for (i = 0; i < 64; i++) {
		cb = (struct aiocb *)(void *)(pages + (size_t)ps * i);
		h_cb(cb, p[0], buf, 1, 0);
		ATF_REQUIRE(aio_read(cb) == 0);
		ATF_REQUIRE(munmap(cb, (size_t)ps) == 0);
		h_write_all(p[1], "y", 1);
	}
	/*
	 * The jobs end on their own (their results go nowhere); a request
	 * made after them on the same pipe is served after them, so its
	 * completion means they are all gone, and the per-process limit
	 * has its slots back.
	 */
	h_cb(&cb2, p[0], buf, 1, 0);
	ATF_REQUIRE(aio_read(&cb2) == 0);
	h_write_all(p[1], "z", 1);
	h_wait_ok(&cb2, 1);
	ATF_REQUIRE(buf[0] == 'z');
}

static sigjmp_buf h_jb;
static volatile sig_atomic_t h_caught;

static void
h_on_segv(int sig)
{
	h_caught = sig;
	siglongjmp(h_jb, 1);
}

static void
h_on_segv_info(int sig, siginfo_t *si, void *ctx)
{
	(void)si;
	(void)ctx;
	h_on_segv(sig);
}

/* Make some AIO request, so an implementation has set itself up. */
static void
h_use_aio(void)
{
	struct aiocb cb;
	char buf[8];
	int fd;

	fd = h_datafile();
	h_cb(&cb, fd, buf, sizeof(buf), 0);
	ATF_REQUIRE(aio_read(&cb) == 0);
	h_wait_ok(&cb, sizeof(buf));
	ATF_REQUIRE(close(fd) == 0);
}

/* Touch an inaccessible page; returns whether a handler jumped out. */
static bool
h_fault(char *bad)
{
	h_caught = 0;
	if (sigsetjmp(h_jb, 1) == 0) {
		*(volatile char *)bad = 1;
		return false;
	}
	return true;
}

H_TC(own_segv_handler, "the program's SIGSEGV handler, set with sigaction "
    "or signal before or after AIO is used, sees its own faults")
ATF_TC_BODY(own_segv_handler, tc)
{
	long ps = h_pagesize();
	struct sigaction sa, old;
	char *bad;

	bad = h_edge() + ps;

	/* Set before the first AIO request, with SA_SIGINFO. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h_on_segv_info;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ATF_REQUIRE(sigaction(SIGSEGV, &sa, NULL) == 0);
	h_use_aio();
	ATF_REQUIRE(h_fault(bad));
	H_EQ(h_caught, SIGSEGV);
	/* The action reads back as the program set it. */
	ATF_REQUIRE(sigaction(SIGSEGV, NULL, &old) == 0);
	ATF_REQUIRE(old.sa_sigaction == h_on_segv_info);
	ATF_REQUIRE(old.sa_flags & SA_SIGINFO);

	/* Replaced after AIO is in use, with signal(). */
	ATF_REQUIRE(signal(SIGSEGV, h_on_segv) != SIG_ERR);
	ATF_REQUIRE(h_fault(bad));
	H_EQ(h_caught, SIGSEGV);
	ATF_REQUIRE(signal(SIGSEGV, SIG_DFL) == h_on_segv);

	/* Bad pointers to the AIO calls still do not reach the handler. */
	if (H_STRICT) {
		ATF_REQUIRE(signal(SIGSEGV, h_on_segv) != SIG_ERR);
		h_caught = 0;
		H_ERR(aio_error((struct aiocb *)(void *)bad), EFAULT);
		H_EQ(h_caught, 0);
		ATF_REQUIRE(signal(SIGSEGV, SIG_DFL) == h_on_segv);
	}
}

H_TC(default_segv_kills, "with the default action a fault of the program "
    "still kills it with SIGSEGV once AIO is in use")
ATF_TC_BODY(default_segv_kills, tc)
{
	long ps = h_pagesize();
	char *bad;
	pid_t pid;
	int status;

	bad = h_edge() + ps;
	h_use_aio();
	pid = fork();
	ATF_REQUIRE(pid != -1);
	if (pid == 0) {
		struct rlimit rl = { 0, 0 };

		/* The handler state came with fork (glibc's AIO does not
		 * work in a forked child, so no request is made here). */
		(void)setrlimit(RLIMIT_CORE, &rl);
		*(volatile char *)bad = 1;
		_exit(0);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_REQUIRE_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
	    "child status %#x", status);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, efault_aiocb);
	ATF_TP_ADD_TC(tp, efault_lists);
	ATF_TP_ADD_TC(tp, lio_bad_entry);
	ATF_TP_ADD_TC(tp, unmapped_in_flight);
	ATF_TP_ADD_TC(tp, own_segv_handler);
	ATF_TP_ADD_TC(tp, default_segv_kills);
	return atf_no_error();
}
