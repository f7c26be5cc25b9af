/*
 * Harness of the rump AIO tests: boots (or connects to) a rump kernel,
 * mounts tmpfs on /tmp, runs the cases in order and prints one result line
 * per case ("PASS [tag] name" / "FAIL [tag] name"), indented details, and
 * a final "N passed, N failed".  Exit status 1 if any case failed.
 *
 * Tags: P = behaviour POSIX requires; C = this project's contract where
 * POSIX leaves a choice; X = the check that tells the components apart.
 *
 * usage: aio-{local,remote,kmod} [--list] [case ...]
 *        aio-kmod --lifecycle | --serve URL; aio-remote --kmod-hold
 *        (kmod.c)
 * env:   RUMP_TEST_TORN_OPS (torn_results operations, default 20000)
 *        RUMP_TEST_CASE_SECONDS (watchdog per case, default 60)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef REMOTE
#include <rump/rumpclient.h>
#endif

#include "rump_aio.h"

/* kmod.c */
int kmod_boot_load(void);
int kmod_lifecycle(void);
int kmod_serve(const char *);
int kmod_hold(void);

#define CASE(n) void n(void);
#define CASES							\
	CASE(cancel_nothing_queued)				\
	CASE(rw_roundtrip)					\
	CASE(rw_queue_depth)					\
	CASE(short_read_eof)					\
	CASE(rw_large_read_not_inline)				\
	CASE(fields_unchanged)					\
	CASE(einval_negative_offset)				\
	CASE(einval_nbytes)					\
	CASE(einval_reqprio)					\
	CASE(einval_sigevent)					\
	CASE(einval_in_progress_queued)				\
	CASE(einval_in_progress_running)			\
	CASE(ebadf_bad_fd)					\
	CASE(ebadf_wrong_mode)					\
	CASE(error_states)					\
	CASE(return_once)					\
	CASE(cancel_canceled)					\
	CASE(cancel_canceled_same_fd)				\
	CASE(cancel_pipe_waiting)				\
	CASE(cancel_socket_waiting)				\
	CASE(cancel_write_room)					\
	CASE(cancel_write_partial)				\
	CASE(cancel_fifo_nonblock)				\
	CASE(cancel_alldone)					\
	CASE(cancel_ebadf)					\
	CASE(cancel_fd_mismatch)				\
	CASE(fsync_sync)					\
	CASE(fsync_dsync)					\
	CASE(fsync_bad_op)					\
	CASE(fsync_ebadf)					\
	CASE(suspend_done)					\
	CASE(suspend_timeout)					\
	CASE(suspend_null_entries)				\
	CASE(suspend_nothing_pending)				\
	CASE(suspend_wakeup)					\
	CASE(suspend_bad_nent)					\
	CASE(lio_wait)						\
	CASE(lio_nowait)					\
	CASE(lio_nop)						\
	CASE(lio_null_entries)					\
	CASE(lio_einval_mode)					\
	CASE(lio_einval_nent)					\
	CASE(lio_eio_bad_entry)					\
	CASE(close_in_flight)					\
	CASE(component_is_rust)					\
	CASE(exit_in_flight)					\
	CASE(exit_teardown)					\
	CASE(torn_results)
CASES
#undef CASE

static const struct tcase {
	const char *name;
	char tag;
	void (*fn)(void);
	const char *what;
} cases[] = {
	{ "cancel_nothing_queued", 'P', cancel_nothing_queued,
	  "aio_cancel before any AIO: AIO_ALLDONE (runs first)" },
	{ "rw_roundtrip", 'P', rw_roundtrip,
	  "aio_write then aio_read back, data and return values" },
	{ "rw_queue_depth", 'P', rw_queue_depth,
	  "32 writes then 32 reads in flight at once" },
	{ "short_read_eof", 'P', short_read_eof,
	  "read across EOF returns the short count, at/after EOF 0" },
	{ "rw_large_read_not_inline", 'C', rw_large_read_not_inline,
	  "a 16 MiB read of tmpfs data completes after aio_read returns" },
	{ "fields_unchanged", 'P', fields_unchanged,
	  "aio_offset/aio_nbytes/... not modified by a completed read/write" },
	{ "einval_negative_offset", 'P', einval_negative_offset,
	  "negative aio_offset on a file: EINVAL (sync or async)" },
	{ "einval_nbytes", 'P', einval_nbytes,
	  "aio_nbytes > SSIZE_MAX: EINVAL" },
	{ "einval_reqprio", 'C', einval_reqprio,
	  "aio_reqprio outside 0..AIO_PRIO_DELTA_MAX: EINVAL" },
	{ "einval_sigevent", 'C', einval_sigevent,
	  "bad sigev_notify / sigev_signo: EINVAL" },
	{ "einval_in_progress_queued", 'C', einval_in_progress_queued,
	  "resubmitting a queued aiocb: EINVAL, job untouched" },
	{ "einval_in_progress_running", 'C', einval_in_progress_running,
	  "resubmitting a running aiocb: EINVAL, job untouched" },
	{ "ebadf_bad_fd", 'P', ebadf_bad_fd,
	  "read/write on a bad descriptor: EBADF (sync or async)" },
	{ "ebadf_wrong_mode", 'P', ebadf_wrong_mode,
	  "read on O_WRONLY, write on O_RDONLY: EBADF (sync or async)" },
	{ "error_states", 'P', error_states,
	  "aio_error: EINVAL never submitted, EINPROGRESS, 0, errno" },
	{ "return_once", 'P', return_once,
	  "aio_return gives the result once, then EINVAL" },
	{ "cancel_canceled", 'P', cancel_canceled,
	  "queued job (other fd of the pipe): AIO_CANCELED, ECANCELED" },
	{ "cancel_canceled_same_fd", 'P', cancel_canceled_same_fd,
	  "queued job on the running job's fd: AIO_CANCELED" },
	{ "cancel_pipe_waiting", 'C', cancel_pipe_waiting,
	  "read waiting for data on a pipe: AIO_CANCELED, nothing consumed" },
	{ "cancel_socket_waiting", 'C', cancel_socket_waiting,
	  "second read waiting on a socket: AIO_CANCELED, socket usable" },
	{ "cancel_write_room", 'C', cancel_write_room,
	  "write waiting for room (socket, pipe): AIO_CANCELED; EPIPE on "
	  "close" },
	{ "cancel_write_partial", 'C', cancel_write_partial,
	  "write partly out: AIO_NOTCANCELED, completes with its count" },
	{ "cancel_fifo_nonblock", 'C', cancel_fifo_nonblock,
	  "read of an empty O_NONBLOCK FIFO waits: AIO_CANCELED, later "
	  "data read" },
	{ "cancel_alldone", 'P', cancel_alldone,
	  "completed job: AIO_ALLDONE, result still there" },
	{ "cancel_ebadf", 'P', cancel_ebadf,
	  "aio_cancel on a bad descriptor: EBADF" },
	{ "cancel_fd_mismatch", 'C', cancel_fd_mismatch,
	  "aiocb of another descriptor: EINVAL" },
	{ "fsync_sync", 'P', fsync_sync,
	  "aio_fsync(O_SYNC) after queued writes: writes done first" },
	{ "fsync_dsync", 'P', fsync_dsync,
	  "aio_fsync(O_DSYNC) completes with 0" },
	{ "fsync_bad_op", 'P', fsync_bad_op,
	  "aio_fsync op not O_SYNC/O_DSYNC: EINVAL" },
	{ "fsync_ebadf", 'P', fsync_ebadf,
	  "aio_fsync on a non-writable/bad descriptor: EBADF at the call" },
	{ "suspend_done", 'P', suspend_done,
	  "aio_suspend on a completed job returns 0 at once" },
	{ "suspend_timeout", 'P', suspend_timeout,
	  "aio_suspend timeout: EAGAIN after the timeout" },
	{ "suspend_null_entries", 'P', suspend_null_entries,
	  "NULL list entries are ignored" },
	{ "suspend_nothing_pending", 'C', suspend_nothing_pending,
	  "entries neither in flight nor done are ignored: the timeout "
	  "passes" },
	{ "suspend_wakeup", 'P', suspend_wakeup,
	  "aio_suspend wakes when another thread completes the job" },
	{ "suspend_bad_nent", 'C', suspend_bad_nent,
	  "aio_suspend nent 0 / negative: EINVAL" },
	{ "lio_wait", 'P', lio_wait,
	  "LIO_WAIT returns with every entry complete" },
	{ "lio_nowait", 'P', lio_nowait,
	  "LIO_NOWAIT queues, entries complete later" },
	{ "lio_nop", 'P', lio_nop,
	  "LIO_NOP entries are skipped and left alone" },
	{ "lio_null_entries", 'P', lio_null_entries,
	  "NULL list entries are ignored" },
	{ "lio_einval_mode", 'P', lio_einval_mode,
	  "bad mode: EINVAL, nothing queued" },
	{ "lio_einval_nent", 'P', lio_einval_nent,
	  "nent > AIO_LISTIO_MAX, negative: EINVAL (nent 0: 0 or EINVAL)" },
	{ "lio_eio_bad_entry", 'P', lio_eio_bad_entry,
	  "one bad entry: EIO, the others still run" },
	{ "close_in_flight", 'P', close_in_flight,
	  "close the pipe's read end during a read: the read gets the data" },
	{ "component_is_rust", 'X', component_is_rust,
	  "user's aio_reqprio change during a read survives completion "
	  "(NetBSD's C component copies the aiocb back)" },
	{ "exit_in_flight", 'P', exit_in_flight,
	  "remote: a process exits with reads in flight; the server goes on" },
	{ "exit_teardown", 'C', exit_teardown,
	  "remote: a departed client's jobs, files and process are freed; "
	  "the server does not spin" },
	{ "torn_results", 'P', torn_results,
	  "many polled reads: never aio_error()==0 with aio_return()==-1" },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

int t_remote =
#ifdef REMOTE
    1;
#else
    0;
#endif

/* ---- result bookkeeping ---- */

static char msgbuf[16384];
static size_t msglen;
static int case_failed;
static int case_skipped;
static int nskipped;
static const struct tcase *current;
static int npassed, nfailed;

static void
vappend(const char *prefix, const char *fmt, va_list ap)
{
	int n;

	if (msglen >= sizeof(msgbuf) - 2)
		return;
	n = snprintf(msgbuf + msglen, sizeof(msgbuf) - msglen, "    %s", prefix);
	if (n > 0)
		msglen += (size_t)n;
	if (msglen >= sizeof(msgbuf) - 2) {
		msglen = sizeof(msgbuf) - 2;
		return;
	}
	n = vsnprintf(msgbuf + msglen, sizeof(msgbuf) - msglen, fmt, ap);
	if (n > 0)
		msglen += (size_t)n;
	if (msglen > sizeof(msgbuf) - 2)
		msglen = sizeof(msgbuf) - 2;
	msgbuf[msglen++] = '\n';
	msgbuf[msglen] = '\0';
}

void
t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	char prefix[128];

	case_failed = 1;
	snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vappend(prefix, fmt, ap);
	va_end(ap);
}

void
t_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vappend("info: ", fmt, ap);
	va_end(ap);
}

void
t_skip(const char *reason)
{
	char r[256];

	case_skipped = 1;
	snprintf(r, sizeof(r), "%s", reason);
	msglen = 0;
	msgbuf[0] = '\0';
	snprintf(msgbuf, sizeof(msgbuf), "    %s\n", r);
	msglen = strlen(msgbuf);
}

int
t_failed(void)
{
	return case_failed;
}

/* ---- tracked resources ---- */

#define MAXFD 64
#define MAXCB 2048
static int fds[MAXFD];
static int nfds;
static struct aiocb *cbs[MAXCB];
static int ncbs;
static int wedged;	/* a previous case left I/O in flight */

struct aiocb *
t_cb(void)
{
	struct aiocb *cb;

	/*
	 * Never freed: a broken component may write into an aiocb long
	 * after the case is over (the process is short-lived).
	 */
	cb = calloc(1, sizeof(*cb));
	if (cb == NULL)
		abort();
	cb->aio_sigevent.sigev_notify = NB_SIGEV_NONE;
	if (ncbs < MAXCB)
		cbs[ncbs++] = cb;
	return cb;
}

struct aiocb *
t_cb_io(int fd, size_t n)
{
	struct aiocb *cb;

	cb = t_cb();
	cb->aio_fildes = fd;
	cb->aio_buf = t_buf(n);
	cb->aio_nbytes = n;
	return cb;
}

void *
t_buf(size_t n)
{
	void *b = calloc(1, n ? n : 1);	/* never freed, as above */

	if (b == NULL)
		abort();
	return b;
}

int
t_fd(int fd)
{
	if (fd >= 0 && nfds < MAXFD)
		fds[nfds++] = fd;
	return fd;
}

void
t_close(int fd)
{
	int i;

	for (i = 0; i < nfds; i++) {
		if (fds[i] == fd) {
			fds[i] = -1;
			rump_sys_close(fd);
			return;
		}
	}
	rump_sys_close(fd);
}

void
t_pattern(void *b, size_t n, unsigned seed)
{
	unsigned char *p = b;
	uint32_t x = seed * 2654435761u + 12345;
	size_t i;

	for (i = 0; i < n; i++) {
		x = x * 1103515245u + 12345;
		p[i] = (unsigned char)(x >> 16);
	}
}

int
t_file(const char *name, size_t size, int flags)
{
	char path[256];
	void *b;
	int fd;

	snprintf(path, sizeof(path), "/tmp/%s", name);
	fd = rump_sys_open(path, RUMP_O_RDWR | RUMP_O_CREAT | RUMP_O_TRUNC,
	    0644);
	if (fd < 0) {
		FAIL("open %s: errno %d", path, errno);
		return -1;
	}
	if (size > 0) {
		b = t_buf(size);
		t_pattern(b, size, 0x5eed);
		if (rump_sys_pwrite(fd, b, size, 0) != (ssize_t)size)
			FAIL("pwrite %s: errno %d", path, errno);
	}
	if (flags == RUMP_O_RDWR)
		return t_fd(fd);
	rump_sys_close(fd);
	fd = rump_sys_open(path, flags, 0);
	if (fd < 0)
		FAIL("reopen %s flags %#x: errno %d", path, flags, errno);
	return t_fd(fd);
}

void
t_pipe(int p[2])
{
	p[0] = p[1] = -1;
	if (rump_sys_pipe(p) != 0) {
		FAIL("rump_sys_pipe: errno %d", errno);
		p[0] = p[1] = -1;
		return;
	}
	/* Write end first: closing it ends pending reads with EOF. */
	t_fd(p[1]);
	t_fd(p[0]);
}

int64_t
t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
t_settle(void)
{
	usleep(t_remote ? 200000 : 100000);
}

const char *
t_opname(int op)
{
	switch (op) {
	case 'r': return "aio_read";
	case 'w': return "aio_write";
	case 's': return "aio_fsync(O_SYNC)";
	case 'd': return "aio_fsync(O_DSYNC)";
	}
	return "?";
}

int
t_submit(int op, struct aiocb *cb)
{
	int rv = -1;

	errno = 0;
	switch (op) {
	case 'r': rv = rump_sys_aio_read(cb); break;
	case 'w': rv = rump_sys_aio_write(cb); break;
	case 's': rv = rump_sys_aio_fsync(NB_O_SYNC, cb); break;
	case 'd': rv = rump_sys_aio_fsync(NB_O_DSYNC, cb); break;
	default: abort();
	}
	if (rv == 0)
		return 0;
	return errno ? errno : -1;
}

int
t_wait(struct aiocb *cb, int ms)
{
	const struct aiocb *list[1] = { cb };
	int64_t deadline = t_now_ms() + ms, left;
	struct timespec ts;
	int e;

	for (;;) {
		e = rump_sys_aio_error(cb);
		if (e == -1)
			return -1;
		if (e != NB_EINPROGRESS)
			return e;
		left = deadline - t_now_ms();
		if (left <= 0)
			return -2;
		if (left > 200)
			left = 200;
		ts.tv_sec = 0;
		ts.tv_nsec = left * 1000000;
		(void)rump_sys_aio_suspend(list, 1, &ts);
	}
}

int
t_expect_err(int op, struct aiocb *cb, int err, int sync_only,
    const char *what)
{
	int rv, e;
	ssize_t r;

	rv = t_submit(op, cb);
	if (rv == err)
		return 's';
	if (rv != 0) {
		FAIL("%s: %s refused with errno %d, expected %d", what,
		    t_opname(op), rv, err);
		return 0;
	}
	e = t_wait(cb, 5000);
	if (sync_only) {
		FAIL("%s: %s accepted (then aio_error %d); expected the call "
		    "to fail with errno %d", what, t_opname(op), e, err);
		return 0;
	}
	if (e != err) {
		FAIL("%s: %s accepted and completed with aio_error %d "
		    "(errno %d), expected %d at the call or as the result",
		    what, t_opname(op), e, e == -1 ? errno : 0, err);
		return 0;
	}
	r = rump_sys_aio_return(cb);
	if (r != -1) {
		FAIL("%s: aio_error %d but aio_return %zd", what, e, r);
		return 0;
	}
	return 'a';
}

/* ---- per-case cleanup ---- */

static void
cleanup(void)
{
	const struct aiocb *list[MAXCB];
	int64_t deadline;
	struct timespec ts;
	int i, n;

	for (i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			rump_sys_close(fds[i]);
	nfds = 0;

	deadline = t_now_ms() + 5000;
	for (;;) {
		n = 0;
		for (i = 0; i < ncbs; i++)
			if (rump_sys_aio_error(cbs[i]) == NB_EINPROGRESS)
				list[n++] = cbs[i];
		if (n == 0 || t_now_ms() >= deadline)
			break;
		ts.tv_sec = 0;
		ts.tv_nsec = 100 * 1000000;
		(void)rump_sys_aio_suspend(list, n, &ts);
	}
	if (n > 0) {
		FAIL("cleanup: %d aiocb(s) still in progress 5 s after their "
		    "descriptors were closed", n);
		wedged = 1;
	} else {
		for (i = 0; i < ncbs; i++)
			(void)rump_sys_aio_return(cbs[i]);
	}
	ncbs = 0;
}

/* ---- watchdog ---- */

static int case_seconds = 60;

static void
watchdog(int sig)
{
	char b[512];
	int n;

	(void)sig;
	n = snprintf(b, sizeof(b),
	    "FAIL  [%c] %s\n    watchdog: case still running after %d s "
	    "(hung); giving up\n%s%d passed, %d failed\n",
	    current ? current->tag : '?', current ? current->name : "?",
	    case_seconds, msgbuf, npassed, nfailed + 1);
	if (n > 0)
		(void)write(1, b, (size_t)(n < (int)sizeof(b) ? n : (int)sizeof(b) - 1));
	_exit(3);
}

/* ---- boot ---- */

static int
boot(int load)
{
	struct nb_tmpfs_args ta;
	int rv;

#ifdef REMOTE
	rv = rumpclient_init();
	if (rv != 0) {
		printf("rumpclient_init failed (errno %d), RUMP_SERVER=%s\n",
		    errno, getenv("RUMP_SERVER") ? getenv("RUMP_SERVER") : "");
		return -1;
	}
#else
	rump_boot_setsigmodel(RUMP_SIGMODEL_IGNORE);
	rv = rump_init();
	if (rv != 0) {
		printf("rump_init failed: %d\n", rv);
		return -1;
	}
#endif
	if (rump_sys_mkdir("/tmp", 0777) != 0 && errno != 17 /* EEXIST */) {
		printf("mkdir /tmp: errno %d\n", errno);
		return -1;
	}
	memset(&ta, 0, sizeof(ta));
	ta.ta_version = NB_TMPFS_ARGS_VERSION;
	ta.ta_root_mode = 0777;
	if (rump_sys_mount("tmpfs", "/tmp", 0, &ta, sizeof(ta)) != 0) {
		printf("mount tmpfs on /tmp: errno %d\n", errno);
		return -1;
	}
#ifdef KMOD
	if (load && kmod_boot_load() != 0)
		return -1;
#endif
	return 0;
}

int
main(int argc, char **argv)
{
	const char *s;
	size_t i;
	int a, run;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (i = 0; i < NCASES; i++)
			printf("%-28s [%c] %s\n", cases[i].name, cases[i].tag,
			    cases[i].what);
		return 0;
	}
	/* Options of kmod.c's modes are checked where they are handled. */
	for (a = argc > 1 && argv[1][0] == '-' ? argc : 1; a < argc; a++) {
		for (i = 0; i < NCASES; i++)
			if (strcmp(argv[a], cases[i].name) == 0)
				break;
		if (i == NCASES) {
			fprintf(stderr, "unknown case %s (see --list)\n", argv[a]);
			return 2;
		}
	}
	if ((s = getenv("RUMP_TEST_CASE_SECONDS")) != NULL && atoi(s) > 0)
		case_seconds = atoi(s);

	/*
	 * Host signals a rump kernel may raise at a remote client (SIGPIPE
	 * from a pipe, SIGXFSZ with EFBIG, SIGSYS for a missing syscall):
	 * fail the call instead of killing the test.
	 */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGSYS, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGALRM, watchdog);

#ifdef REMOTE
	if (argc == 2 && strcmp(argv[1], "--kmod-hold") == 0)
		return boot(0) != 0 ? 1 : kmod_hold();
#endif
#ifdef KMOD
	if (argc == 2 && strcmp(argv[1], "--lifecycle") == 0) {
		alarm(120);
		if (boot(0) != 0) {
			printf("FAIL  [-] boot\n0 passed, 1 failed\n");
			return 1;
		}
		return kmod_lifecycle();
	}
	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return boot(1) != 0 ? 1 : kmod_serve(argv[2]);
#endif
	if (argc > 1 && argv[1][0] == '-') {
		fprintf(stderr, "unknown option %s\n", argv[1]);
		return 2;
	}
	alarm(30);
	if (boot(1) != 0) {
		printf("FAIL  [-] boot\n0 passed, 1 failed\n");
		return 1;
	}
	alarm(0);
	printf("rump AIO tests (%s client)\n", t_remote ? "remote" :
#ifdef KMOD
	    "local, aio.kmod"
#else
	    "local"
#endif
	    );

	for (i = 0; i < NCASES; i++) {
		if (argc > 1) {
			for (run = 0, a = 1; a < argc; a++)
				if (strcmp(argv[a], cases[i].name) == 0)
					run = 1;
			if (!run)
				continue;
		}
		current = &cases[i];
		case_failed = 0;
		case_skipped = 0;
		msglen = 0;
		msgbuf[0] = '\0';
		if (wedged)
			t_info("an earlier case left I/O in flight");
		alarm((unsigned)case_seconds);
		cases[i].fn();
		cleanup();
		alarm(0);
		if (case_failed)
			nfailed++;
		else if (case_skipped)
			nskipped++;
		else
			npassed++;
		printf("%s  [%c] %s\n%s", case_failed ? "FAIL" :
		    case_skipped ? "SKIP" : "PASS", cases[i].tag, cases[i].name,
		    msgbuf);
	}
	if (nskipped)
		printf("%d skipped\n", nskipped);
	printf("%d passed, %d failed\n", npassed, nfailed);
	return nfailed ? 1 : 0;
}
