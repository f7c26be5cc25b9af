/*
 * aio_sigwork: the signal-driven AIO pattern of stress programs.  Keeps
 * DEPTH small requests (16 bytes, reads and writes at distinct offsets of
 * one file) in flight, each asking for SIGEV_SIGNAL with SIGUSR1; sleeps
 * in sigsuspend() until a signal arrives, then polls every request with
 * aio_error() and resubmits the finished ones.  Reports requests per
 * second and CPU time (user + system, getrusage, every thread of the
 * process) per request.
 *
 * usage: aio_sigwork [-d depth] [-s seconds] [-f file]
 * prints: "sigwork: N req/s, M us CPU/req (user U s, sys S s, R requests)"
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAXDEPTH 1024

static volatile sig_atomic_t got;

static void
on_usr1(int s)
{
	(void)s;
	got = 1;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
tv(struct timeval t)
{
	return t.tv_sec + t.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	static struct aiocb cb[MAXDEPTH];
	static char buf[MAXDEPTH][16];
	struct sigaction sa;
	struct rusage r0, r1;
	sigset_t block, old;
	const char *path = "aio_sigwork.dat";
	double secs = 3, t0, t1, cpu;
	long done = 0;
	int depth = 64, c, fd, i, e;

	while ((c = getopt(argc, argv, "d:s:f:")) != -1) {
		switch (c) {
		case 'd': depth = atoi(optarg); break;
		case 's': secs = atof(optarg); break;
		case 'f': path = optarg; break;
		default:
			fprintf(stderr, "usage: aio_sigwork [-d depth] "
			    "[-s seconds] [-f file]\n");
			return 2;
		}
	}
	if (depth < 1 || depth > MAXDEPTH)
		depth = 64;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)depth * 16) != 0) {
		perror(path);
		return 2;
	}
	unlink(path);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);

	for (i = 0; i < depth; i++) {
		cb[i].aio_fildes = fd;
		cb[i].aio_buf = buf[i];
		cb[i].aio_nbytes = 16;
		cb[i].aio_offset = (off_t)i * 16;
		cb[i].aio_sigevent.sigev_notify = SIGEV_SIGNAL;
		cb[i].aio_sigevent.sigev_signo = SIGUSR1;
		if ((i % 2 ? aio_write(&cb[i]) : aio_read(&cb[i])) != 0) {
			perror("submit");
			return 1;
		}
	}
	getrusage(RUSAGE_SELF, &r0);
	t0 = now();
	t1 = t0;
	while (t1 - t0 < secs) {
		/* Sleep until a completion signal, unless one came already. */
		while (!got)
			sigsuspend(&old);
		got = 0;
		for (i = 0; i < depth; i++) {
			e = aio_error(&cb[i]);
			if (e == EINPROGRESS)
				continue;
			if (e != 0 || aio_return(&cb[i]) != 16) {
				fprintf(stderr, "request %d failed: %d\n", i,
				    e);
				return 1;
			}
			done++;
			if ((i % 2 ? aio_write(&cb[i]) :
			    aio_read(&cb[i])) != 0) {
				perror("resubmit");
				return 1;
			}
		}
		t1 = now();
	}
	getrusage(RUSAGE_SELF, &r1);
	cpu = tv(r1.ru_utime) - tv(r0.ru_utime) + tv(r1.ru_stime) -
	    tv(r0.ru_stime);
	printf("sigwork: %.0f req/s, %.2f us CPU/req (user %.2f s, sys %.2f "
	    "s, %ld requests)\n", done / (t1 - t0), cpu * 1e6 / done,
	    tv(r1.ru_utime) - tv(r0.ru_utime),
	    tv(r1.ru_stime) - tv(r0.ru_stime), done);
	return 0;
}
