/*
 * aio_soak: threads x seconds of mixed AIO against one implementation,
 * with every answer checked.
 *
 * Each thread owns a range of one shared file, a pipe and a shadow copy
 * of its range.  In rounds it submits a batch of requests on disjoint
 * slots of its range (aio_write, aio_read, lio_listio with LIO_WAIT or
 * LIO_NOWAIT), an aio_fsync now and then, a read on its empty pipe that
 * it cancels or feeds, and waits for the batch with aio_suspend (zero,
 * short or no timeout) or by polling aio_error.  Checked:
 *
 *  - every byte read equals the shadow (what this thread wrote there);
 *  - every request ends exactly once with the right result (aio_return);
 *  - every request that asked for a signal (SIGEV_SIGNAL with a realtime
 *    signal, so none is merged) is notified exactly once, with its value;
 *  - aio_suspend agrees with aio_error: if aio_error said a listed
 *    request was done just before the call, the call returns 0;
 *  - a cancelled pipe read ends ECANCELED (or, if not cancelled, with the
 *    data fed to it), and the pipe loses no byte;
 *  - threads and memory are flat: the process's thread count and resident
 *    size at the end are compared with those after the first quarter.
 *
 * Built against the Linux host library or glibc (scripts/soak), or with
 * -DRUMP against an AIO component in a local rump kernel (soak_rump.h:
 * the file and pipes are the rump kernel's, no signals).  Prints one
 * summary and "soak: PASS" or "soak: FAIL".
 *
 * usage: aio_soak [-t threads] [-s seconds] [-d dir]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef RUMP
#include "soak_rump.h"		/* last: it renames read, write, ... */
#else
#include <aio.h>
#define SOAK_SIGNALS	1
static int soak_boot(void) { return 0; }
#endif

#define SLOTS		8		/* requests of a batch */
#define SLOT_BYTES	4096
#define RANGE		(SLOTS * SLOT_BYTES)
#define MAX_THREADS	32
#define NOTE_RING	(1 << 16)	/* request ids, for notifications */

static int nthreads = 4;
static double seconds = 10;
static int fd;				/* the shared file */
static int sig;				/* SIGRTMIN + 1 */
static atomic_int stop;
static atomic_long failures;

/* Notifications by request id (modulo the ring), and how many asked. */
static atomic_uchar noted[NOTE_RING];
static atomic_long notes_wanted, notes_got, notes_bad;
static atomic_long next_id = 1;

struct stats {
	long	ops, reads, writes, lists, fsyncs, cancels, canceled;
	long	bytes_checked, suspends, suspend_checked;
};

static void
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("soak: FAILED CHECK: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	atomic_fetch_add(&failures, 1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
on_signal(int signo, siginfo_t *si, void *ctx)
{
	long id = si->si_value.sival_int;

	(void)signo;
	(void)ctx;
	if (si->si_code != SI_ASYNCIO || id <= 0) {
		atomic_fetch_add(&notes_bad, 1);
		return;
	}
	if (atomic_fetch_add(&noted[id % NOTE_RING], 1) != 0)
		atomic_fetch_add(&notes_bad, 1);	/* twice */
	atomic_fetch_add(&notes_got, 1);
}

static unsigned
xorshift(unsigned *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
pattern(unsigned char *b, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		b[i] = (unsigned char)(seed >> 16);
	}
}

/* A request, with its own id for notifications. */
static void
prep(struct aiocb *cb, int fildes, void *buf, size_t n, off_t off,
    int notify)
{
	long id;

	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = fildes;
	cb->aio_buf = buf;
	cb->aio_nbytes = n;
	cb->aio_offset = off;
	cb->aio_sigevent.sigev_notify = SIGEV_NONE;
	if (notify && SOAK_SIGNALS) {
		id = atomic_fetch_add(&next_id, 1);
		atomic_store(&noted[id % NOTE_RING], 0);
		cb->aio_sigevent.sigev_notify = SIGEV_SIGNAL;
		cb->aio_sigevent.sigev_signo = sig;
		cb->aio_sigevent.sigev_value.sival_int = (int)id;
		atomic_fetch_add(&notes_wanted, 1);
	}
}

/*
 * Waits for every request of the batch, in one of four ways, checking
 * each aio_suspend answer against aio_error just before it.
 */
static void
wait_batch(struct aiocb **cbs, int n, unsigned *rnd, struct stats *st)
{
	const struct aiocb *list[SLOTS + 2];
	struct timespec zero = { 0, 0 }, shortt = { 0, 200000 };
	int i, k, done_before, pending, r, e, how = xorshift(rnd) % 4;
	double deadline = now() + 30;

	for (;;) {
		pending = 0;
		done_before = 0;
		for (i = k = 0; i < n; i++) {
			if (cbs[i] == NULL)
				continue;
			e = aio_error(cbs[i]);
			if (e == EINPROGRESS) {
				pending++;
				list[k++] = cbs[i];
			} else {
				done_before = 1;
				list[k++] = cbs[i];
			}
		}
		if (pending == 0)
			return;
		if (now() > deadline) {
			fail("a batch did not complete within 30 s");
			return;
		}
		if (how == 3)
			continue;		/* polling */
		r = aio_suspend(list, k, how == 0 ? &zero : how == 1 ?
		    &shortt : NULL);
		e = errno;
		st->suspends++;
		if (done_before) {
			st->suspend_checked++;
			if (r != 0)
				fail("aio_suspend %d errno %d with a request "
				    "aio_error had seen done", r, e);
		}
		if (r != 0 && e != EAGAIN && e != EINTR)
			fail("aio_suspend: errno %d", e);
		if (done_before)
			return;		/* the caller collects what is done */
	}
}

struct worker {
	int		id;
	pthread_t	thr;
	struct stats	st;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct stats *st = &w->st;
	static __thread unsigned char shadow[RANGE];
	unsigned char *buf[SLOTS], pipebuf[8];
	struct aiocb cb[SLOTS], pcb, scb, *cbs[SLOTS + 2], *lio[SLOTS];
	struct sigevent lsev;
	off_t base = (off_t)w->id * RANGE;
	unsigned rnd = 0x9e3779b9u * (unsigned)(w->id + 1), gen = 0;
	int p[2], i, nl, r, e, op[SLOTS], inflight, fed;
	ssize_t rv;

	for (i = 0; i < SLOTS; i++)
		if ((buf[i] = malloc(SLOT_BYTES)) == NULL)
			abort();
	if (pipe(p) != 0) {
		fail("pipe: %s", strerror(errno));
		return NULL;
	}
	memset(shadow, 0, sizeof(shadow));
	while (!atomic_load(&stop)) {
		gen++;
		/* A batch: each slot read or written, some through lio. */
		nl = 0;
		for (i = 0; i < SLOTS; i++) {
			op[i] = xorshift(&rnd) % 2;	/* 0 read, 1 write */
			if (op[i])
				pattern(buf[i], SLOT_BYTES,
				    gen * 131 + i * 7 + w->id);
			else
				memset(buf[i], 0xee, SLOT_BYTES);
			prep(&cb[i], fd, buf[i], SLOT_BYTES,
			    base + i * SLOT_BYTES, xorshift(&rnd) % 4 == 0);
			cbs[i] = &cb[i];
			if (xorshift(&rnd) % 3 == 0) {
				cb[i].aio_lio_opcode = op[i] ? LIO_WRITE :
				    LIO_READ;
				lio[nl++] = &cb[i];
				continue;
			}
			r = op[i] ? aio_write(&cb[i]) : aio_read(&cb[i]);
			if (r != 0) {
				e = errno;
				if (e != EAGAIN)
					fail("submit: errno %d", e);
				cbs[i] = NULL;
				if (cb[i].aio_sigevent.sigev_notify ==
				    SIGEV_SIGNAL)
					atomic_fetch_sub(&notes_wanted, 1);
			}
		}
		if (nl > 0) {
			int wait = xorshift(&rnd) % 2;

			memset(&lsev, 0, sizeof(lsev));
			lsev.sigev_notify = SIGEV_NONE;
			r = lio_listio(wait ? LIO_WAIT : LIO_NOWAIT,
			    lio, nl, &lsev);
			st->lists++;
			if (r != 0 && errno != EAGAIN && errno != EIO &&
			    errno != EINTR)
				fail("lio_listio: errno %d", errno);
			if (r != 0 && errno == EAGAIN) {
				/* Nothing was queued: the entries say so. */
				for (i = 0; i < nl; i++) {
					if (aio_error(lio[i]) == EINPROGRESS)
						continue;
					for (int j = 0; j < SLOTS; j++)
						if (cbs[j] == lio[i]) {
							if (aio_return(lio[i]) !=
							    -1)
								fail("refused "
								    "entry has a "
								    "result");
							if (cb[j].aio_sigevent.
							    sigev_notify ==
							    SIGEV_SIGNAL)
								atomic_fetch_sub(
								    &notes_wanted,
								    1);
							cbs[j] = NULL;
						}
				}
			}
		}
		/* Sometimes an fsync behind the batch. */
		inflight = SLOTS;
		if (xorshift(&rnd) % 4 == 0) {
			prep(&scb, fd, NULL, 0, 0, 0);
			if (aio_fsync(xorshift(&rnd) % 2 ? O_SYNC : O_DSYNC,
			    &scb) == 0) {
				cbs[inflight++] = &scb;
				st->fsyncs++;
			} else if (errno != EAGAIN)
				fail("aio_fsync: errno %d", errno);
		}
		/* A read on the empty pipe: cancelled, or fed. */
		fed = xorshift(&rnd) % 2;
		prep(&pcb, p[0], pipebuf, 4, 0, xorshift(&rnd) % 2);
		if (aio_read(&pcb) == 0) {
			st->cancels++;
			if (fed) {
				if (write(p[1], "soak", 4) != 4)
					fail("pipe write");
			} else {
				r = aio_cancel(p[0], &pcb);
				if (r == AIO_CANCELED)
					st->canceled++;
				else if (r == AIO_NOTCANCELED) {
					/* Running: give it its data. */
					fed = 1;
					if (write(p[1], "soak", 4) != 4)
						fail("pipe write");
				} else if (r != AIO_ALLDONE)
					fail("aio_cancel: %d errno %d", r,
					    errno);
			}
			cbs[inflight++] = &pcb;
		} else {
			if (errno != EAGAIN)
				fail("pipe aio_read: errno %d", errno);
			if (pcb.aio_sigevent.sigev_notify == SIGEV_SIGNAL)
				atomic_fetch_sub(&notes_wanted, 1);
			fed = -1;
		}

		wait_batch(cbs, inflight, &rnd, st);
		/* Collect and check everything (the rest may still run). */
		for (i = 0; i < inflight; i++) {
			double deadline = now() + 30;

			if (cbs[i] == NULL)
				continue;
			while ((e = aio_error(cbs[i])) == EINPROGRESS) {
				if (now() > deadline) {
					fail("request %d never completed", i);
					goto out;
				}
				usleep(100);
			}
			rv = aio_return(cbs[i]);
			st->ops++;
			if (cbs[i] == &scb) {
				if (e != 0 || rv != 0)
					fail("fsync: error %d return %zd", e,
					    rv);
				continue;
			}
			if (cbs[i] == &pcb) {
				if (e == ECANCELED) {
					if (fed || rv != -1)
						fail("pipe read: ECANCELED "
						    "with fed %d rv %zd", fed,
						    rv);
				} else if (e != 0 || rv != 4 ||
				    memcmp(pipebuf, "soak", 4) != 0) {
					fail("pipe read: error %d rv %zd", e,
					    rv);
				} else if (!fed)
					fail("pipe read got data nobody "
					    "wrote");
				continue;
			}
			if (e != 0 || rv != SLOT_BYTES) {
				fail("slot %d: error %d return %zd", i, e, rv);
				continue;
			}
			if (op[i]) {
				memcpy(shadow + i * SLOT_BYTES, buf[i],
				    SLOT_BYTES);
				st->writes++;
			} else {
				if (memcmp(buf[i], shadow + i * SLOT_BYTES,
				    SLOT_BYTES) != 0)
					fail("thread %d slot %d: data differs "
					    "from what was written", w->id, i);
				st->bytes_checked += SLOT_BYTES;
				st->reads++;
			}
		}
		/* The pipe holds nothing the reader did not take. */
		{
			int n;
			char junk[16];

			fcntl(p[0], F_SETFL, O_NONBLOCK);
			n = (int)read(p[0], junk, sizeof(junk));
			fcntl(p[0], F_SETFL, 0);
			if (n > 0)
				fail("the pipe kept %d bytes its read did not "
				    "take", n);
		}
	}
out:
	close(p[0]);
	close(p[1]);
	for (i = 0; i < SLOTS; i++)
		free(buf[i]);
	return NULL;
}

/* Threads and resident KiB of this process. */
static void
sample(long *threads, long *rss)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	*threads = *rss = -1;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "Threads:", 8) == 0)
			*threads = atol(line + 8);
		else if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = atol(line + 6);
	}
	fclose(f);
}

int
main(int argc, char **argv)
{
	struct worker w[MAX_THREADS];
	struct stats tot;
	struct sigaction sa;
#ifdef RUMP
	const char *dir = "/tmp";	/* the rump kernel's tmpfs */
#else
	const char *dir = ".";
#endif
	char path[512];
	double t0, quarter;
	long th0, rss0, th1, rss1, wait_ms;
	int c, i, ok;

	while ((c = getopt(argc, argv, "t:s:d:")) != -1) {
		switch (c) {
		case 't': nthreads = atoi(optarg); break;
		case 's': seconds = atof(optarg); break;
		case 'd': dir = optarg; break;
		default:
			fprintf(stderr, "usage: aio_soak [-t threads] "
			    "[-s seconds] [-d dir]\n");
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > MAX_THREADS)
		nthreads = 4;
	sig = SIGRTMIN + 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);

	if (soak_boot() != 0) {
		fprintf(stderr, "soak: cannot boot the rump kernel\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/aio_soak.%d", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)nthreads * RANGE) != 0) {
		perror(path);
		return 2;
	}
	unlink(path);

	t0 = now();
	for (i = 0; i < nthreads; i++) {
		w[i].id = i;
		memset(&w[i].st, 0, sizeof(w[i].st));
		pthread_create(&w[i].thr, NULL, worker_main, &w[i]);
	}
	quarter = t0 + seconds / 4;
	while (now() < quarter)
		usleep(10000);
	sample(&th0, &rss0);
	while (now() < t0 + seconds && atomic_load(&failures) < 20)
		usleep(10000);
	atomic_store(&stop, 1);
	memset(&tot, 0, sizeof(tot));
	for (i = 0; i < nthreads; i++) {
		pthread_join(w[i].thr, NULL);
		tot.ops += w[i].st.ops;
		tot.reads += w[i].st.reads;
		tot.writes += w[i].st.writes;
		tot.lists += w[i].st.lists;
		tot.fsyncs += w[i].st.fsyncs;
		tot.cancels += w[i].st.cancels;
		tot.canceled += w[i].st.canceled;
		tot.bytes_checked += w[i].st.bytes_checked;
		tot.suspends += w[i].st.suspends;
		tot.suspend_checked += w[i].st.suspend_checked;
	}
	/* Signals are queued before the result is seen: give them 2 s. */
	for (wait_ms = 0; wait_ms < 2000 &&
	    atomic_load(&notes_got) < atomic_load(&notes_wanted); wait_ms++)
		usleep(1000);
	sample(&th1, &rss1);

	printf("soak: %d threads, %.1f s: %ld requests (%ld reads, %ld "
	    "writes, %ld lists, %ld fsyncs, %ld pipe reads of which %ld "
	    "cancelled), %ld bytes verified, %ld aio_suspend calls (%ld "
	    "checked against aio_error), notifications %ld of %ld (%ld "
	    "bad), threads %ld -> %ld, RSS %ld -> %ld KiB\n",
	    nthreads, now() - t0, tot.ops, tot.reads, tot.writes, tot.lists,
	    tot.fsyncs, tot.cancels, tot.canceled, tot.bytes_checked,
	    tot.suspends, tot.suspend_checked, atomic_load(&notes_got),
	    atomic_load(&notes_wanted), atomic_load(&notes_bad), th0, th1,
	    rss0, rss1);
	ok = atomic_load(&failures) == 0;
	if (atomic_load(&notes_got) != atomic_load(&notes_wanted) ||
	    atomic_load(&notes_bad) != 0) {
		fprintf(stderr, "soak: FAILED CHECK: notifications\n");
		ok = 0;
	}
	/* Flat: no more threads than at the first quarter (workers may
	 * have retired since), resident size within 25% + 16 MiB. */
	if (th1 > th0 || rss1 > rss0 + rss0 / 4 + 16384) {
		fprintf(stderr, "soak: FAILED CHECK: threads %ld -> %ld, RSS "
		    "%ld -> %ld KiB\n", th0, th1, rss0, rss1);
		ok = 0;
	}
	if (tot.ops == 0) {
		fprintf(stderr, "soak: FAILED CHECK: no request completed\n");
		ok = 0;
	}
	printf("soak: %s\n", ok ? "PASS" : "FAIL");
	return ok ? 0 : 1;
}
