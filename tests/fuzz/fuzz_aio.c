/*
 * fuzz_aio: a libFuzzer target for the AIO system-call layer, through the
 * Linux host library's POSIX API (link the library before libc).
 *
 * Each input is a sequence of calls: aio_read, aio_write, aio_fsync,
 * aio_error, aio_return, aio_cancel, aio_suspend and lio_listio with
 * arbitrary aiocb contents (descriptor, offset, length, priority,
 * sigevent), pointers that are valid, NULL, unmapped, misaligned or into
 * the aiocb itself, list lengths and op codes, interleaved with close,
 * dup2, data written to and read from the streams, and fork.  Invariants,
 * checked after every call and when the input ends:
 *
 *  - no crash and no hang (libFuzzer's own checks, and a 5 s bound on
 *    every request to end once the streams are drained);
 *  - every error is one the call documents;
 *  - no torn result: aio_error() == 0 is never followed by
 *    aio_return() == -1;
 *  - every request accepted ends exactly once, and one that asked for a
 *    notification gets exactly one.
 *
 * Signals are one realtime signal (any other number an input names is
 * replaced by it or by an invalid one), and SIGEV_THREAD always names the
 * target's own function: the target tests the library, not what a signal
 * or a wild function pointer does to the process.
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NCB	8
#define BUFSZ	256

/* Memory the inputs point into: the aiocbs, buffers, an unmapped page. */
static struct aiocb *cbs;		/* NCB, page-aligned */
static char *spare;			/* a page no slot uses */
static char *bufs;			/* NCB * BUFSZ */
static char *hole;			/* PROT_NONE, right after spare */
static int sig;
static int trace;		/* FUZZ_AIO_TRACE set: print each call */
static int no_fork;		/* FUZZ_AIO_NO_FORK set: skip the fork op */

/* What each slot holds: submitted and not yet collected, and its id. */
static int live[NCB];
static long ids[NCB];
static int wants_note[NCB];
static long next_id = 1;

/* Notifications by id (a ring larger than any input's requests). */
#define RING	4096
static atomic_int notes[RING];

/* Descriptors of one input. */
enum { F_FILE, F_PIPE_R, F_PIPE_W, F_SOCK_A, F_SOCK_B, NFD };
static int fds[NFD];

static void
die(const char *what, long a, long b)
{
	fprintf(stderr, "fuzz_aio: INVARIANT BROKEN: %s (%ld, %ld)\n", what,
	    a, b);
	abort();
}

static void
on_signal(int signo, siginfo_t *si, void *ctx)
{
	(void)signo;
	(void)ctx;
	if (si->si_code == SI_ASYNCIO && si->si_value.sival_int > 0)
		atomic_fetch_add(&notes[si->si_value.sival_int % RING], 1);
}

static void
on_thread(union sigval v)
{
	if (v.sival_int > 0)
		atomic_fetch_add(&notes[v.sival_int % RING], 1);
}

static void
setup_once(void)
{
	static int done;
	struct sigaction sa;
	char *m;

	if (done)
		return;
	done = 1;
	trace = getenv("FUZZ_AIO_TRACE") != NULL;
	no_fork = getenv("FUZZ_AIO_NO_FORK") != NULL;
	m = mmap(NULL, 3 * 4096 + NCB * BUFSZ, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		abort();
	cbs = (struct aiocb *)m;
	spare = m + 4096;
	hole = m + 4096 * 2;
	mprotect(hole, 4096, PROT_NONE);
	bufs = m + 4096 * 3;
	sig = SIGRTMIN + 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(sig, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The input, read a byte at a time (zeros once it is used up). */
struct in {
	const uint8_t *p;
	size_t n;
};

static unsigned
take(struct in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static long
take_long(struct in *in)
{
	long v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | take(in);
	return v;
}

static int
pick_fd(struct in *in)
{
	switch (take(in) % 8) {
	case 5: return -1;
	case 6: return 1000;			/* not open */
	case 7: return fds[F_FILE] + 100;	/* not open either */
	default: return fds[take(in) % NFD];
	}
}

/* A pointer of one of the kinds the target tries. */
static void *
pick_ptr(struct in *in, int slot)
{
	/*
	 * Misaligned and half-mapped aiocbs are in a page of their own: one
	 * overlapping a live slot would let the target scribble on its own
	 * request, which is the program's doing, not the library's.
	 */
	switch (take(in) % 8) {
	case 0: return NULL;
	case 1: return hole;
	case 2: return spare + 1;		/* misaligned */
	case 3: return hole - 8;		/* runs into the hole */
	default: return &cbs[slot];
	}
}

static void
fill_sigevent(struct in *in, struct sigevent *sev, long id)
{
	memset(sev, 0, sizeof(*sev));
	switch (take(in) % 6) {
	case 0:
	case 1:
		sev->sigev_notify = SIGEV_NONE;
		break;
	case 2:
		sev->sigev_notify = SIGEV_SIGNAL;
		sev->sigev_signo = sig;
		break;
	case 3:
		sev->sigev_notify = SIGEV_THREAD;
		sev->sigev_notify_function = on_thread;
		break;
	case 4:
		sev->sigev_notify = SIGEV_SIGNAL;
		sev->sigev_signo = take(in) % 2 ? 1000 : -1;	/* invalid */
		break;
	default:
		sev->sigev_notify = 99;				/* invalid */
		break;
	}
	sev->sigev_value.sival_int = (int)id;
}

static int
notifies(const struct sigevent *sev)
{
	return (sev->sigev_notify == SIGEV_SIGNAL && sev->sigev_signo == sig)
	    || sev->sigev_notify == SIGEV_THREAD;
}

/* Fills slot's aiocb from the input, unless it is in flight. */
static int
fill_cb(struct in *in, int slot, int opcode)
{
	struct aiocb *cb = &cbs[slot];
	long id;

	if (live[slot])
		return 0;	/* keep an in-flight aiocb as it is */
	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = pick_fd(in);
	switch (take(in) % 6) {
	case 0: cb->aio_buf = NULL; break;
	case 1: cb->aio_buf = hole; break;
	case 2: cb->aio_buf = cb; break;		/* into itself */
	default: cb->aio_buf = bufs + slot * BUFSZ; break;
	}
	switch (take(in) % 6) {
	case 0: cb->aio_nbytes = 0; break;
	case 1: cb->aio_nbytes = (size_t)take_long(in); break;
	default: cb->aio_nbytes = take(in) % (BUFSZ + 1); break;
	}
	if (cb->aio_buf == cb && cb->aio_nbytes > sizeof(*cb))
		cb->aio_nbytes = sizeof(*cb);
	switch (take(in) % 5) {
	case 0: cb->aio_offset = -1 - (take(in) % 4); break;
	case 1: cb->aio_offset = take_long(in); break;
	default: cb->aio_offset = take(in) * 16; break;
	}
	cb->aio_reqprio = take(in) % 4 == 0 ? (int)take(in) - 128 : 0;
	cb->aio_lio_opcode = opcode >= 0 ? opcode : (int)(take(in) % 5) - 1;
	id = next_id++;
	fill_sigevent(in, &cb->aio_sigevent, id);
	ids[slot] = id;
	wants_note[slot] = notifies(&cb->aio_sigevent);
	atomic_store(&notes[id % RING], 0);
	return 1;
}

static int
allowed(int e, const int *ok)
{
	for (; *ok != 0; ok++)
		if (e == *ok)
			return 1;
	return 0;
}

static const int submit_ok[] = { EAGAIN, EBADF, EINVAL, EFAULT, ENOMEM,
    ENOSYS, 0 };
static const int lookup_ok[] = { EINVAL, EFAULT, 0 };
static const int cancel_ok[] = { EBADF, EINVAL, EFAULT, 0 };
static const int suspend_ok[] = { EAGAIN, EINTR, EINVAL, EFAULT, ENOMEM,
    0 };
static const int lio_ok[] = { EAGAIN, EINVAL, EIO, EINTR, EFAULT, ENOMEM,
    EBADF, 0 };

static void
accepted(int slot)
{
	/* wants_note was set by fill_cb: a read into the aiocb itself may
	 * have overwritten its sigevent since. */
	live[slot] = 1;
	if (trace)
		fprintf(stderr, "  accepted slot %d id %ld fd %d buf %p n %zu "
		    "off %lld notify %d signo %d op %d\n", slot, ids[slot],
		    cbs[slot].aio_fildes, (void *)cbs[slot].aio_buf,
		    cbs[slot].aio_nbytes, (long long)cbs[slot].aio_offset,
		    cbs[slot].aio_sigevent.sigev_notify,
		    cbs[slot].aio_sigevent.sigev_signo,
		    cbs[slot].aio_lio_opcode);
}

/* Collects a slot's result: never torn, notified once if asked. */
static void
collect(int slot)
{
	int e = aio_error(&cbs[slot]);
	ssize_t r;

	if (e == EINPROGRESS)
		return;
	if (e < 0)
		die("aio_error of an accepted request failed", errno, slot);
	r = aio_return(&cbs[slot]);
	if (e == 0 && r == -1)
		die("torn result: aio_error 0, aio_return -1", slot, 0);
	if (e != 0 && r != -1)
		die("aio_error set but aio_return not -1", e, r);
	live[slot] = 0;
	if (wants_note[slot]) {
		/* A notification is queued before... or just after the
		 * result is seen: give it a moment. */
		long t;
		for (t = 0; t < 2000 &&
		    atomic_load(&notes[ids[slot] % RING]) == 0; t++)
			usleep(100);
		if (atomic_load(&notes[ids[slot] % RING]) != 1)
			die("notifications of a request",
			    atomic_load(&notes[ids[slot] % RING]), ids[slot]);
	}
}

static void
open_fds(void)
{
	char path[64];
	int p[2], s[2];

	snprintf(path, sizeof(path), "/tmp/fuzz_aio.%d", (int)getpid());
	fds[F_FILE] = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	unlink(path);
	if (fds[F_FILE] < 0 || pipe(p) != 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0)
		abort();
	fds[F_PIPE_R] = p[0];
	fds[F_PIPE_W] = p[1];
	fds[F_SOCK_A] = s[0];
	fds[F_SOCK_B] = s[1];
	if (write(fds[F_FILE], "0123456789abcdef", 16) != 16)
		abort();
}

/* Ends the input: cancel, feed and drain the streams, collect all. */
static void
drain(void)
{
	char junk[4096];
	int i, n, any;
	long t;

	for (i = 0; i < NFD; i++)
		(void)aio_cancel(fds[i], NULL);
	for (t = 0; t < 5000; t++) {
		any = 0;
		for (i = 0; i < NCB; i++) {
			if (live[i])
				collect(i);
			any |= live[i];
		}
		if (!any)
			break;
		/* Data for pending reads, room for pending writes. */
		for (i = 0; i < NFD; i++) {
			if (i == F_FILE)
				continue;
			(void)send(fds[i], "feed", 4, MSG_DONTWAIT);
			n = (int)recv(fds[i], junk, sizeof(junk),
			    MSG_DONTWAIT);
			(void)n;
		}
		for (i = 0; i < NFD; i++)
			if (i == F_PIPE_W) {
				fcntl(fds[i], F_SETFL, O_NONBLOCK);
				(void)write(fds[i], "feed", 4);
				fcntl(fds[i], F_SETFL, 0);
			} else if (i == F_PIPE_R) {
				fcntl(fds[i], F_SETFL, O_NONBLOCK);
				(void)read(fds[i], junk, sizeof(junk));
				fcntl(fds[i], F_SETFL, 0);
			}
		usleep(1000);
	}
	for (i = 0; i < NCB; i++)
		if (live[i])
			die("a request did not end within 5 s of draining",
			    i, cbs[i].aio_fildes);
	for (i = 0; i < NFD; i++)
		close(fds[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	const struct aiocb *list[NCB + 2];
	struct aiocb *wlist[NCB + 2];
	struct sigevent sev;
	struct timespec ts;
	int slot, r, e, i, n, ops = 0;

	setup_once();
	open_fds();
	memset(live, 0, sizeof(live));
	while (in.n > 0 && ops++ < 64) {
		unsigned op = take(&in) % 13;

		slot = take(&in) % NCB;
		if (trace)
			fprintf(stderr, "op %u slot %d live %d\n", op, slot,
			    live[slot]);
		switch (op) {
		case 0:
		case 1:
			if (!fill_cb(&in, slot, -1))
				break;
			r = op == 0 ? aio_read(&cbs[slot]) :
			    aio_write(&cbs[slot]);
			e = errno;
			if (r == 0)
				accepted(slot);
			else if (r != -1 || !allowed(e, submit_ok))
				die("aio_read/aio_write answer", r, e);
			break;
		case 2:
			if (!fill_cb(&in, slot, -1))
				break;
			r = aio_fsync(take(&in) % 3 == 0 ? 12345 :
			    take(&in) % 2 ? O_SYNC : O_DSYNC, &cbs[slot]);
			e = errno;
			if (r == 0)
				accepted(slot);
			else if (r != -1 || !allowed(e, submit_ok))
				die("aio_fsync answer", r, e);
			break;
		case 3: {
			void *p = pick_ptr(&in, slot);

			errno = 0;
			r = aio_error(p);
			e = errno;
			if (r == -1 && !allowed(e, lookup_ok))
				die("aio_error answer", r, e);
			if (p == &cbs[slot] && live[slot] && r == -1)
				die("aio_error of a live request", e, slot);
			if (p == &cbs[slot] && live[slot] && r != EINPROGRESS)
				collect(slot);
			break;
		}
		case 4: {
			void *p = pick_ptr(&in, slot);

			if (p == &cbs[slot] && live[slot]) {
				collect(slot);
				break;
			}
			errno = 0;
			r = aio_return(p);
			e = errno;
			if (r == -1 && e != 0 && !allowed(e, lookup_ok))
				die("aio_return answer", r, e);
			break;
		}
		case 5:
			errno = 0;
			r = aio_cancel(pick_fd(&in), take(&in) % 3 == 0 ?
			    NULL : pick_ptr(&in, slot));
			e = errno;
			if (r != AIO_CANCELED && r != AIO_NOTCANCELED &&
			    r != AIO_ALLDONE && !(r == -1 &&
			    allowed(e, cancel_ok)))
				die("aio_cancel answer", r, e);
			break;
		case 6:
			n = (int)(take(&in) % (NCB + 2));
			for (i = 0; i < n; i++)
				list[i] = take(&in) % 4 == 0 ? NULL :
				    pick_ptr(&in, take(&in) % NCB);
			ts.tv_sec = 0;
			ts.tv_nsec = take(&in) % 2 ? 0 : 1000000;
			if (take(&in) % 8 == 0)
				ts.tv_nsec = 1000000000;	/* invalid */
			if (take(&in) % 8 == 0)
				n = -(int)take(&in);
			errno = 0;
			r = aio_suspend(list, n, &ts);
			e = errno;
			if (r != 0 && !(r == -1 && allowed(e, suspend_ok)))
				die("aio_suspend answer", r, e);
			break;
		case 7: {
			int mode = take(&in) % 4 == 0 ? 7 : take(&in) % 2 ?
			    LIO_WAIT : LIO_NOWAIT;
			int idx[NCB + 2];
			int m = 0;

			n = (int)(take(&in) % (NCB + 2));
			for (i = 0; i < n; i++) {
				int s = take(&in) % NCB;
				int kind = take(&in) % 6;

				if (kind == 0 || live[s]) {
					wlist[i] = NULL;
					continue;
				}
				if (kind == 1) {
					wlist[i] = (struct aiocb *)hole;
					continue;
				}
				/* Each slot at most once in a list. */
				for (r = 0; r < m; r++)
					if (idx[r] == s)
						break;
				if (r < m) {
					wlist[i] = NULL;
					continue;
				}
				fill_cb(&in, s, (int)(take(&in) % 4) - 1 ==
				    2 ? LIO_NOP : take(&in) % 2 ? LIO_READ :
				    LIO_WRITE);
				wlist[i] = &cbs[s];
				idx[m++] = s;
			}
			if (mode == LIO_WAIT) {
				/* A LIO_WAIT on a stream with no data waits
				 * forever; keep lists positioned. */
				for (r = 0; r < m; r++)
					cbs[idx[r]].aio_fildes = fds[F_FILE];
			}
			fill_sigevent(&in, &sev, next_id++);
			sev.sigev_notify = notifies(&sev) ? SIGEV_NONE :
			    sev.sigev_notify;
			errno = 0;
			r = lio_listio(mode, wlist, n, take(&in) % 4 == 0 ?
			    (struct sigevent *)hole : &sev);
			e = errno;
			if (r != 0 && !(r == -1 && allowed(e, lio_ok)))
				die("lio_listio answer", r, e);
			/* Entries that were queued say so in aio_error. */
			for (r = 0; r < m; r++) {
				int s = idx[r];

				if (cbs[s].aio_lio_opcode == LIO_NOP)
					continue;
				e = aio_error(&cbs[s]);
				if (e == -1)
					continue;	/* never queued */
				/*
				 * Ends once; its notification is not counted:
				 * an entry refused at submission carries its
				 * error without one.
				 */
				accepted(s);
				wants_note[s] = 0;
			}
			break;
		}
		case 8: {
			/* close one of the streams or the file, open again */
			int which = take(&in) % NFD;
			int nfd;

			if (which == F_FILE) {
				char path[64];

				snprintf(path, sizeof(path), "/tmp/fuzz_aio.%d",
				    (int)getpid());
				nfd = open(path, O_RDWR | O_CREAT, 0600);
				unlink(path);
				if (nfd >= 0) {
					dup2(nfd, fds[F_FILE]);
					close(nfd);
				}
			} else {
				/* dup2 another stream over it */
				int other = take(&in) % NFD;

				if (other != which && other != F_FILE) {
					nfd = dup(fds[which]);
					dup2(fds[other], fds[which]);
					dup2(nfd, fds[which]);
					close(nfd);
				}
			}
			break;
		}
		case 9:
			(void)send(fds[F_SOCK_B], "data", take(&in) % 5,
			    MSG_DONTWAIT);
			fcntl(fds[F_PIPE_W], F_SETFL, O_NONBLOCK);
			(void)write(fds[F_PIPE_W], "data", take(&in) % 5);
			fcntl(fds[F_PIPE_W], F_SETFL, 0);
			break;
		case 10: {
			/* fork: the child sees the parent's aiocbs as not its
			 * own and can start AIO of its own */
			pid_t pid;
			int st;

			if (take(&in) % 16 != 0 || no_fork)
				break;
			pid = fork();
			if (pid == 0) {
				struct aiocb c;
				int e2 = aio_error(&cbs[slot]);

				if (live[slot] && e2 != -1 && e2 != 0 &&
				    e2 != EINPROGRESS && e2 < 0)
					_exit(3);
				memset(&c, 0, sizeof(c));
				c.aio_fildes = fds[F_FILE];
				c.aio_buf = bufs;
				c.aio_nbytes = 4;
				if (aio_read(&c) != 0)
					_exit(4);
				while (aio_error(&c) == EINPROGRESS)
					usleep(100);
				_exit(aio_return(&c) >= 0 ? 0 : 5);
			}
			if (pid > 0) {
				pid_t w;

				while ((w = waitpid(pid, &st, 0)) == -1 &&
				    errno == EINTR)
					continue;
				if (w != pid)
					die("waitpid of the forked child", w,
					    errno);
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
					die("forked child's status", pid, st);
			}
			break;
		}
		default:
			if (live[slot])
				collect(slot);
			break;
		}
	}
	drain();
	return 0;
}
