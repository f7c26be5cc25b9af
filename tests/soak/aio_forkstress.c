/*
 * aio_forkstress: fork while AIO is in flight, and start AIO in the child.
 *
 * The parent keeps eight requests in flight on a 1 MiB file (reads, and
 * with -w every second one a write, so that workers run and may be
 * starting when fork() comes), forks, and the child submits one request
 * of its own and waits for it, which starts the child's AIO from nothing.
 * Every child must exit 0; the loop runs for the given seconds.  Written
 * to chase a glibc assertion in thread creation seen by the fuzzer's fork
 * inputs (docs/reliability.md).
 *
 *   cc -O2 -o fs tests/soak/aio_forkstress.c -lrt                (glibc)
 *   cc -O2 -o fs tests/soak/aio_forkstress.c -L$PWD/target/release \
 *       -Wl,-rpath,$PWD/target/release -lnetbsd_aio              (ours)
 *   ./fs [-w] [seconds] [file]
 */
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define	NCB	8

int
main(int argc, char **argv)
{
	static char buf[NCB][4096], cbuf[16];
	struct aiocb cb[NCB], c;
	const char *path = "aio_forkstress.dat";
	int fd, i, st, writes = 0, secs = 30;
	long n = 0;
	time_t end;
	pid_t pid;

	if (argc > 1 && strcmp(argv[1], "-w") == 0) {
		writes = 1;
		argc--;
		argv++;
	}
	if (argc > 1)
		secs = atoi(argv[1]);
	if (argc > 2)
		path = argv[2];
	if ((fd = open(path, O_RDWR | O_CREAT, 0600)) == -1 ||
	    ftruncate(fd, 1 << 20) == -1) {
		perror(path);
		return 2;
	}
	end = time(NULL) + secs;
	while (time(NULL) < end) {
		for (i = 0; i < NCB; i++) {
			memset(&cb[i], 0, sizeof(cb[i]));
			cb[i].aio_fildes = fd;
			cb[i].aio_buf = buf[i];
			cb[i].aio_nbytes = sizeof(buf[i]);
			cb[i].aio_offset = (off_t)(random() % 256) * 4096;
			if ((writes && (i & 1) ? aio_write(&cb[i]) :
			    aio_read(&cb[i])) != 0) {
				perror("aio_read/aio_write");
				return 1;
			}
		}
		if ((pid = fork()) == -1) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			memset(&c, 0, sizeof(c));
			c.aio_fildes = fd;
			c.aio_buf = cbuf;
			c.aio_nbytes = 4;
			if ((writes ? aio_write(&c) : aio_read(&c)) != 0)
				_exit(4);
			while (aio_error(&c) == EINPROGRESS)
				usleep(100);
			_exit(aio_return(&c) >= 0 ? 0 : 5);
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			fprintf(stderr, "child %d: status %#x after %ld forks\n",
			    (int)pid, st, n);
			return 1;
		}
		for (i = 0; i < NCB; i++) {
			while (aio_error(&cb[i]) == EINPROGRESS)
				continue;
			(void)aio_return(&cb[i]);
		}
		n++;
	}
	printf("%ld forks, every child clean\n", n);
	unlink(path);
	return 0;
}
