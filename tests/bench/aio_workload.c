/*
 * aio_workload: a small POSIX AIO read workload for comparing AIO engines.
 *
 * Reads random 4 KiB-aligned blocks of a file through one of four paths:
 *
 *	pread	a synchronous pread(2) loop (the baseline)
 *	suspend	keep `depth' aio_read()s in flight, wait with aio_suspend()
 *		on the whole list
 *	poll	keep `depth' aio_read()s in flight, poll aio_error()
 *		round-robin
 *	lio	lio_listio(LIO_WAIT) batches of `depth' reads
 *
 * The offsets come from a fixed-seed xorshift generator, so every mode
 * reads the same sequence.  The file is filled with a pattern in which each
 * 8-byte word encodes its own offset, so a read of the wrong place, a short
 * read or a torn buffer is detected.  Every completion must satisfy
 * aio_error() == 0 and aio_return() == block size; anything else is counted
 * (errors, torn) and makes the program exit non-zero, as does a data
 * mismatch.
 *
 * Output is one machine-readable line:
 *
 *	mode=suspend depth=32 ops=N secs=S ops_per_s=R cpu_us_per_op=C
 *	    errors=0 torn=0 ...
 * where C is the CPU time (user + system, every thread of the process,
 * getrusage) per completed operation, in microseconds.
 *
 * Only <aio.h> and other POSIX interfaces are used, so the same source
 * builds against any POSIX AIO implementation.
 */

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define	ALIGN		4096		/* offset granularity */
#define	PATTERN_MAGIC	UINT64_C(0x5aa5c33c00000000)
#define	POISON		UINT64_C(0xdeadbeefdeadbeef)
#define	FULL_CHECK_EVERY 64		/* verify a whole block every Nth op */
#define	MAX_REPORTS	5		/* mismatches described on stderr */
#define	DEFAULT_SIZE	(64 * 1024 * 1024)

enum mode {
	MODE_PREAD,
	MODE_SUSPEND,
	MODE_POLL,
	MODE_LIO
};

static const char *mode_names[] = { "pread", "suspend", "poll", "lio" };

/* Global run state. */
static int		fd;
static off_t		file_size;
static size_t		bsize = 4096;
static int		depth = 1;
static enum mode	mode = MODE_SUSPEND;
static double		duration = 2.0;
static uint64_t		max_ops;	/* 0: run for `duration' */
static uint64_t		rng_state = UINT64_C(0x9e3779b97f4a7c15);
static uint64_t		nslots;		/* number of ALIGN-sized start slots */
static struct timespec	t_start, t_deadline;

static uint64_t		submitted;	/* operations started */
static uint64_t		completed;	/* operations reaped */
static uint64_t		n_errors;	/* aio_error() != 0 or pread failed */
static uint64_t		n_torn;		/* error 0 but return != bsize */
static uint64_t		n_bad_data;	/* data did not match the pattern */
static unsigned		n_reports;

/*
 * One request.  The offset is kept outside the aiocb too, so that the check
 * does not trust an aiocb the engine might have modified.
 */
struct slot {
	struct aiocb	cb;
	unsigned char	*buf;
	off_t		off;		/* where the read was aimed */
	uint64_t	seq;		/* decides how much gets checked */
	int		busy;
};

static void
usage(void)
{

	fprintf(stderr,
	    "usage: aio_workload -f file [-s size] [-b bsize] [-d depth]\n"
	    "           [-m pread|suspend|poll|lio] [-t secs | -n ops]\n");
	exit(2);
}

static void __attribute__((__noreturn__))
die(const char *what)
{

	fprintf(stderr, "aio_workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void __attribute__((__noreturn__))
diex(const char *what)
{

	fprintf(stderr, "aio_workload: %s\n", what);
	exit(1);
}

static uint64_t
xorshift64(void)
{
	uint64_t x;

	x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static off_t
next_offset(void)
{

	return (off_t)(xorshift64() % nslots) * ALIGN;
}

static uint64_t
pattern_word(uint64_t off)
{

	return off ^ PATTERN_MAGIC;
}

static double
ts_diff(const struct timespec *a, const struct timespec *b)
{

	return (double)(a->tv_sec - b->tv_sec) +
	    (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

static int
past_deadline(void)
{
	struct timespec now;

	if (max_ops != 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t_deadline.tv_sec ||
	    (now.tv_sec == t_deadline.tv_sec &&
	    now.tv_nsec >= t_deadline.tv_nsec);
}

/* May another operation be started? */
static int
want_more(void)
{

	if (max_ops != 0)
		return submitted < max_ops;
	return !past_deadline();
}

static uint64_t
get_word(const unsigned char *buf, size_t i)
{
	uint64_t w;

	memcpy(&w, buf + i * 8, sizeof(w));
	return w;
}

static void
put_word(unsigned char *buf, size_t i, uint64_t w)
{

	memcpy(buf + i * 8, &w, sizeof(w));
}

/*
 * Before a read: overwrite what the check after it will look at, so stale
 * data from the previous read of this buffer cannot pass for a good read.
 */
static void
poison(unsigned char *buf, uint64_t seq)
{
	size_t nw = bsize / 8;

	if (seq % FULL_CHECK_EVERY == 0) {
		memset(buf, 0xa5, bsize);
		return;
	}
	put_word(buf, 0, POISON);
	put_word(buf, nw / 2, POISON);
	put_word(buf, nw - 1, POISON);
}

static void
check_word(const unsigned char *buf, off_t off, size_t i)
{
	uint64_t want, got;

	want = pattern_word((uint64_t)off + i * 8);
	got = get_word(buf, i);
	if (got == want)
		return;
	n_bad_data++;
	if (n_reports++ < MAX_REPORTS)
		fprintf(stderr, "aio_workload: data mismatch: read at offset "
		    "%jd, byte %zu: got 0x%016" PRIx64 " (pattern of offset "
		    "%#" PRIx64 "), want 0x%016" PRIx64 "\n", (intmax_t)off,
		    i * 8, got, got ^ PATTERN_MAGIC, want);
}

/* After a read of bsize bytes: compare a sample against the pattern. */
static void
verify(const unsigned char *buf, off_t off, uint64_t seq)
{
	size_t i, nw = bsize / 8;
	uint64_t before = n_bad_data;

	if (seq % FULL_CHECK_EVERY == 0) {
		for (i = 0; i < nw && n_bad_data == before; i++)
			check_word(buf, off, i);
		return;
	}
	check_word(buf, off, 0);
	if (n_bad_data == before)
		check_word(buf, off, nw / 2);
	if (n_bad_data == before)
		check_word(buf, off, nw - 1);
}

static void
fill_file(const char *path, off_t size)
{
	unsigned char *buf;
	size_t chunk = 1024 * 1024, i, n;
	off_t off;
	ssize_t w;
	int wfd;

	if ((wfd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)) == -1)
		die(path);
	if ((buf = malloc(chunk)) == NULL)
		die("malloc");
	for (off = 0; off < size; off += (off_t)n) {
		n = (size_t)(size - off) < chunk ? (size_t)(size - off) : chunk;
		for (i = 0; i < n / 8; i++)
			put_word(buf, i, pattern_word((uint64_t)off + i * 8));
		if ((w = pwrite(wfd, buf, n, off)) != (ssize_t)n) {
			if (w >= 0)
				errno = EIO;
			die("write");
		}
	}
	if (close(wfd) == -1)
		die("close");
	free(buf);
}

/* Account for one finished read with the given results. */
static void
finish(const unsigned char *buf, off_t off, uint64_t seq, int err,
    ssize_t ret)
{

	completed++;
	if (err != 0) {
		n_errors++;
		if (n_reports++ < MAX_REPORTS)
			fprintf(stderr, "aio_workload: read at offset %jd "
			    "failed: %s\n", (intmax_t)off, strerror(err));
		return;
	}
	if (ret != (ssize_t)bsize) {
		n_torn++;
		if (n_reports++ < MAX_REPORTS)
			fprintf(stderr, "aio_workload: torn result: error 0 "
			    "but return %zd (want %zu) at offset %jd\n",
			    ret, bsize, (intmax_t)off);
		return;
	}
	verify(buf, off, seq);
}

static void
run_pread(unsigned char *buf)
{
	off_t off;
	ssize_t r;
	uint64_t seq;

	while (want_more()) {
		seq = submitted++;
		off = next_offset();
		poison(buf, seq);
		r = pread(fd, buf, bsize, off);
		finish(buf, off, seq, r == -1 ? errno : 0, r);
	}
}

/* Fill in and start the read for slot `s'. */
static void
submit(struct slot *s)
{

	s->seq = submitted++;
	s->off = next_offset();
	s->cb.aio_offset = s->off;
	s->cb.aio_buf = s->buf;
	s->cb.aio_nbytes = bsize;
	poison(s->buf, s->seq);
	while (aio_read(&s->cb) == -1) {
		if (errno != EAGAIN)
			die("aio_read");
		/* Out of resources: let the engine drain and retry. */
		sched_yield();
	}
	s->busy = 1;
}

/* Slot `s' is no longer EINPROGRESS: collect it. */
static void
reap(struct slot *s, int err)
{
	ssize_t ret;

	ret = aio_return(&s->cb);
	s->busy = 0;
	finish(s->buf, s->off, s->seq, err, ret);
}

static void
run_suspend(struct slot *slots)
{
	const struct aiocb **list;
	int i, err, inflight = 0;

	if ((list = calloc((size_t)depth, sizeof(*list))) == NULL)
		die("calloc");
	for (i = 0; i < depth && want_more(); i++) {
		submit(&slots[i]);
		list[i] = &slots[i].cb;
		inflight++;
	}
	while (inflight > 0) {
		if (aio_suspend(list, depth, NULL) == -1 && errno != EINTR)
			die("aio_suspend");
		for (i = 0; i < depth; i++) {
			if (!slots[i].busy)
				continue;
			if ((err = aio_error(&slots[i].cb)) == EINPROGRESS)
				continue;
			if (err == -1)
				die("aio_error");
			reap(&slots[i], err);
			if (want_more()) {
				submit(&slots[i]);
			} else {
				list[i] = NULL;
				inflight--;
			}
		}
	}
	free(list);
}

static void
run_poll(struct slot *slots)
{
	int i, err, inflight = 0, idle = 0;

	for (i = 0; i < depth && want_more(); i++) {
		submit(&slots[i]);
		inflight++;
	}
	for (i = 0; inflight > 0; i = (i + 1) % depth) {
		if (!slots[i].busy ||
		    (err = aio_error(&slots[i].cb)) == EINPROGRESS) {
			/* A whole sweep found nothing: give the CPU away. */
			if (++idle >= depth) {
				sched_yield();
				idle = 0;
			}
			continue;
		}
		if (err == -1)
			die("aio_error");
		idle = 0;
		reap(&slots[i], err);
		if (want_more())
			submit(&slots[i]);
		else
			inflight--;
	}
}

static void
run_lio(struct slot *slots)
{
	struct aiocb **list;
	const struct aiocb *one[1];
	int i, n, err;

	if ((list = calloc((size_t)depth, sizeof(*list))) == NULL)
		die("calloc");
	while (want_more()) {
		for (n = 0; n < depth && want_more(); n++) {
			slots[n].seq = submitted++;
			slots[n].off = next_offset();
			slots[n].cb.aio_offset = slots[n].off;
			slots[n].cb.aio_buf = slots[n].buf;
			slots[n].cb.aio_nbytes = bsize;
			slots[n].cb.aio_lio_opcode = LIO_READ;
			poison(slots[n].buf, slots[n].seq);
			list[n] = &slots[n].cb;
		}
		if (lio_listio(LIO_WAIT, list, n, NULL) == -1) {
			/*
			 * EIO: at least one request failed, which the loop
			 * below counts.  EINTR: the requests are still
			 * running, so wait for each of them.  EAGAIN (not
			 * all could be queued) is a resource failure that
			 * this workload does not provoke; treat it as fatal.
			 */
			if (errno != EIO && errno != EINTR)
				die("lio_listio");
		}
		for (i = 0; i < n; i++) {
			one[0] = list[i];
			while ((err = aio_error(list[i])) == EINPROGRESS)
				if (aio_suspend(one, 1, NULL) == -1 &&
				    errno != EINTR)
					die("aio_suspend");
			if (err == -1)
				die("aio_error");
			reap(&slots[i], err);
		}
	}
	free(list);
}

static int
parse_mode(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (strcmp(s, mode_names[i]) == 0) {
			mode = (enum mode)i;
			return 0;
		}
	return -1;
}

static long long
parse_num(const char *s, long long min)
{
	char *end;
	long long v;
	long long mult = 1;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (*end == 'k' || *end == 'K')
		mult = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mult = 1024 * 1024, end++;
	else if (*end == 'g' || *end == 'G')
		mult = 1024 * 1024 * 1024, end++;
	if (errno != 0 || end == s || *end != '\0' || v < min ||
	    v > LLONG_MAX / mult) {
		fprintf(stderr, "aio_workload: bad number: %s\n", s);
		usage();
	}
	return v * mult;
}

static double
tv_secs(const struct timeval *tv)
{

	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	struct slot *slots = NULL;
	struct timespec t_end;
	struct stat st;
	const char *path = NULL;
	unsigned char *buf = NULL;
	off_t want_size = 0;
	struct rusage ru_start, ru_end;
	double secs, frac, cpu;
	int ch, i, bad;

	while ((ch = getopt(argc, argv, "b:d:f:m:n:s:t:")) != -1) {
		switch (ch) {
		case 'b':
			bsize = (size_t)parse_num(optarg, 8);
			break;
		case 'd':
			depth = (int)parse_num(optarg, 1);
			break;
		case 'f':
			path = optarg;
			break;
		case 'm':
			if (parse_mode(optarg) == -1)
				usage();
			break;
		case 'n':
			max_ops = (uint64_t)parse_num(optarg, 1);
			break;
		case 's':
			want_size = (off_t)parse_num(optarg, ALIGN);
			break;
		case 't':
			duration = strtod(optarg, NULL);
			if (duration <= 0)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || path == NULL)
		usage();
	if (bsize % 8 != 0)
		diex("block size must be a multiple of 8");
	if (depth > 1024 * 1024)
		diex("depth too large");
	if (mode == MODE_PREAD)
		depth = 1;

	if (stat(path, &st) == -1) {
		if (errno != ENOENT)
			die(path);
		fill_file(path, want_size != 0 ? want_size : DEFAULT_SIZE);
	}
	if ((fd = open(path, O_RDONLY)) == -1)
		die(path);
	if (fstat(fd, &st) == -1)
		die("fstat");
	file_size = want_size != 0 ? want_size : st.st_size;
	if (file_size > st.st_size)
		diex("file is smaller than the requested size");
	if ((off_t)bsize > file_size)
		diex("block size is larger than the file");
	nslots = (uint64_t)(file_size - (off_t)bsize) / ALIGN + 1;

	/* Refuse a file that does not carry the pattern at all. */
	if (posix_memalign((void **)&buf, ALIGN, bsize) != 0)
		diex("out of memory");
	if (pread(fd, buf, 8, 0) != 8)
		die("pread");
	if (get_word(buf, 0) != pattern_word(0))
		diex("file does not hold the workload pattern "
		    "(remove it to have it recreated)");

	if (mode != MODE_PREAD) {
		if ((slots = calloc((size_t)depth, sizeof(*slots))) == NULL)
			die("calloc");
		for (i = 0; i < depth; i++) {
			void *p;

			if (posix_memalign(&p, ALIGN, bsize) != 0)
				diex("out of memory");
			slots[i].buf = p;
			slots[i].cb.aio_fildes = fd;
			slots[i].cb.aio_sigevent.sigev_notify = SIGEV_NONE;
		}
	}

	getrusage(RUSAGE_SELF, &ru_start);
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	t_deadline = t_start;
	frac = duration - (double)(time_t)duration;
	t_deadline.tv_sec += (time_t)duration;
	t_deadline.tv_nsec += (long)(frac * 1e9);
	if (t_deadline.tv_nsec >= 1000000000L) {
		t_deadline.tv_sec++;
		t_deadline.tv_nsec -= 1000000000L;
	}

	switch (mode) {
	case MODE_PREAD:
		run_pread(buf);
		break;
	case MODE_SUSPEND:
		run_suspend(slots);
		break;
	case MODE_POLL:
		run_poll(slots);
		break;
	case MODE_LIO:
		run_lio(slots);
		break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t_end);
	getrusage(RUSAGE_SELF, &ru_end);
	secs = ts_diff(&t_end, &t_start);
	/* CPU of every thread of the process: the caller and the AIO
	 * implementation's own threads. */
	cpu = tv_secs(&ru_end.ru_utime) - tv_secs(&ru_start.ru_utime) +
	    tv_secs(&ru_end.ru_stime) - tv_secs(&ru_start.ru_stime);

	if (completed != submitted)
		fprintf(stderr, "aio_workload: %" PRIu64 " submitted but %"
		    PRIu64 " completed\n", submitted, completed);
	printf("mode=%s depth=%d ops=%" PRIu64 " secs=%.3f ops_per_s=%.0f "
	    "cpu_us_per_op=%.3f errors=%" PRIu64 " torn=%" PRIu64
	    " bad_data=%" PRIu64 " bs=%zu\n", mode_names[mode], depth,
	    completed, secs, secs > 0 ? (double)completed / secs : 0.0,
	    completed > 0 ? cpu * 1e6 / (double)completed : 0.0, n_errors,
	    n_torn, n_bad_data, bsize);
	if (slots != NULL) {
		for (i = 0; i < depth; i++)
			free(slots[i].buf);
		free(slots);
	}
	free(buf);
	close(fd);
	bad = n_errors != 0 || n_torn != 0 || n_bad_data != 0 ||
	    completed != submitted;
	return bad ? 1 : 0;
}
