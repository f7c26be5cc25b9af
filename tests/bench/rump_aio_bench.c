/*	$NetBSD$	*/

/*
 * rump_aio_bench: 4 KiB random reads of a tmpfs file inside a rump kernel,
 * synchronously and through the POSIX AIO system calls of one AIO
 * component.
 *
 * usage: rump_aio_bench [-T] [-s seconds] [-m mode[,mode...]]
 *	[-w workers] component.so
 *
 * The component (a librumpvfs_aio.so: NetBSD's C one or netbsd-aio's) is
 * loaded with dlopen() before rump_init(), so that its constructor puts
 * module "aio" on the boot chain; this program links no AIO component.
 * A process can hold only one, so comparing two takes two runs.
 *
 * Modes:
 *	pread		synchronous rump_sys_pread, one block at a time
 *	suspend1	one aio_read in flight, aio_suspend
 *	suspend32	32 aio_reads in flight, aio_suspend on all of them
 *	poll32		32 aio_reads in flight, aio_error polled round-robin
 *
 * Every 8-byte word of the file holds its own byte offset, so each block
 * read is checked against the offset it was asked for.  A completion that
 * aio_error() reports as successful while aio_return() gives -1 is a torn
 * result; it is counted (its data is still checked).
 *
 * -w sets the sysctl kern.aio_workers (netbsd-aio's pool size) first; a
 * component without that node (NetBSD's C one: one worker) refuses it.
 *
 * The calls are made from a process of the rump kernel with an LWP of its
 * own (rump_lwproc_rfork), as rump_server serves each client and as any
 * program that cares about speed runs: a host thread without one is given
 * a temporary LWP, allocated and freed inside every system call, which
 * then costs more than anything the AIO component does.  -T measures that
 * way instead.
 *
 * Output: "component path=P ... workers=W" (W = kern.aio_workers, -1 when
 * the node does not exist), then one line per mode, fields separated by
 * spaces:
 *	result mode=M depth=D ops=N seconds=S ops_per_s=R cpu_us_per_op=C
 *	    verified=V
 *	    mismatches=X torn=T errors=E
 * and a final "status ok" or "status failed".  Exit status 0 when no
 * mode had errors or mismatches (torn results alone do not fail a run).
 */

#include <sys/resource.h>
#include <sys/types.h>
#include <sys/time.h>

#include <dlfcn.h>
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#include <rump/rumpdefs.h>

/*
 * NetBSD/amd64 user ABI, declared here: the host's <aio.h> describes
 * glibc's, which differs.
 */
struct nb_sigevent {
	int		nb_notify;		/* 0 */
	int		nb_signo;		/* 4 */
	void		*nb_value;		/* 8 */
	void		*nb_notify_function;	/* 16 */
	void		*nb_notify_attributes; /* 24 */
};

struct aiocb {
	int64_t		aio_offset;		/* 0 */
	void		*aio_buf;		/* 8 */
	size_t		aio_nbytes;		/* 16 */
	int		aio_fildes;		/* 24 */
	int		aio_lio_opcode;		/* 28 */
	int		aio_reqprio;		/* 32 */
	struct nb_sigevent aio_sigevent;	/* 40 */
	int		_state;			/* 72 */
	int		_errno;			/* 76 */
	ssize_t		_retval;		/* 80 */
};

_Static_assert(sizeof(struct aiocb) == 88, "NetBSD amd64 aiocb is 88 bytes");
_Static_assert(offsetof(struct aiocb, aio_sigevent) == 40, "aio_sigevent");
_Static_assert(offsetof(struct aiocb, _state) == 72, "_state");
_Static_assert(offsetof(struct aiocb, _retval) == 80, "_retval");

/* NetBSD errno values (the rump kernel reports these unchanged). */
#define NB_EINTR	4
#define NB_EAGAIN	35
#define NB_EINPROGRESS	36
#define NB_ENOSYS	78

#define NB_SIGEV_NONE	0

/* Enough of NetBSD's sysctl(3) ABI to find a node by name. */
#define NB_CTL_KERN		1
#define NB_CTL_QUERY		(-2)
#define NB_SYSCTL_VERSION	0x01000000

struct nb_sysctlnode {
	uint32_t	flags;			/* 0 */
	int32_t		num;			/* 4 */
	char		name[32];		/* 8 */
	uint32_t	ver;			/* 40 */
	uint32_t	rsvd;			/* 44 */
	uint64_t	un[2];			/* 48 */
	uint64_t	size, func, parent, desc; /* 64 */
};

_Static_assert(sizeof(struct nb_sysctlnode) == 96, "struct sysctlnode");

/* struct tmpfs_args of NetBSD/amd64 (version 1). */
struct nb_tmpfs_args {
	int		ta_version;
	uint64_t	ta_nodes_max;
	int64_t		ta_size_max;
	uint32_t	ta_root_uid;
	uint32_t	ta_root_gid;
	uint32_t	ta_root_mode;
};

#define BLKSIZE		4096
#define FILESIZE	(64 * 1024 * 1024)
#define NBLOCKS		(FILESIZE / BLKSIZE)
#define MAXDEPTH	32
#define MNTDIR		"/mnt"
#define FILEPATH	"/mnt/bench"

struct stats {
	uint64_t	ops;
	uint64_t	verified;
	uint64_t	mismatches;
	uint64_t	torn;
	uint64_t	errors;
};

struct slot {
	struct aiocb	cb;
	uint64_t	*buf;
	int64_t		off;		/* own copy: the cb may be rewritten */
	bool		busy;
};

static const char *progname;
static int fd;
static double runsecs = 2.0;
static uint64_t rngstate = 0x9e3779b97f4a7c15ULL;
static struct slot slots[MAXDEPTH];

static void usage(void) __attribute__((__noreturn__));

static void
usage(void)
{

	fprintf(stderr, "usage: %s [-T] [-s seconds] [-m mode[,mode...]] "
	    "[-w workers] component.so\n"
	    "modes: pread suspend1 suspend32 poll32 (default: all)\n",
	    progname);
	exit(2);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t
randoff(void)
{

	/* xorshift64 */
	rngstate ^= rngstate << 13;
	rngstate ^= rngstate >> 7;
	rngstate ^= rngstate << 17;
	return (int64_t)(rngstate % NBLOCKS) * BLKSIZE;
}

static void
fill(uint64_t *buf, int64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len / sizeof(*buf); i++)
		buf[i] = (uint64_t)off + i * sizeof(*buf);
}

static void
check(struct stats *st, const uint64_t *buf, int64_t off)
{
	size_t i;

	for (i = 0; i < BLKSIZE / sizeof(*buf); i++) {
		if (buf[i] != (uint64_t)off + i * sizeof(*buf)) {
			if (st->mismatches++ < 5)
				warnx("mismatch at offset %" PRId64
				    " word %zu: %#" PRIx64, off, i, buf[i]);
			return;
		}
	}
	st->verified++;
}

static void
setup(void)
{
	struct nb_tmpfs_args ta;
	uint64_t *buf;
	int64_t off;
	ssize_t n;

	if (rump_sys_mkdir(MNTDIR, 0755) == -1 && errno != 17 /* EEXIST */)
		err(1, "rump mkdir %s", MNTDIR);
	memset(&ta, 0, sizeof(ta));
	ta.ta_version = 1;
	ta.ta_root_mode = 0755;
	if (rump_sys_mount(RUMP_MOUNT_TMPFS, MNTDIR, 0, &ta, sizeof(ta)) == -1)
		err(1, "rump mount tmpfs");
	fd = rump_sys_open(FILEPATH, RUMP_O_RDWR | RUMP_O_CREAT, 0644);
	if (fd == -1)
		err(1, "rump open %s", FILEPATH);
	if ((buf = malloc(1024 * 1024)) == NULL)
		err(1, "malloc");
	for (off = 0; off < FILESIZE; off += 1024 * 1024) {
		fill(buf, off, 1024 * 1024);
		n = rump_sys_pwrite(fd, buf, 1024 * 1024, off);
		if (n != 1024 * 1024)
			err(1, "rump pwrite at %" PRId64 ": %zd", off, n);
	}
	free(buf);
}

/* The mib number of kern.<name>, or -1. */
static int
kern_node(const char *name)
{
	struct nb_sysctlnode q, *nodes;
	int mib[2] = { NB_CTL_KERN, NB_CTL_QUERY };
	size_t len, i;
	int num = -1;

	memset(&q, 0, sizeof(q));
	q.flags = NB_SYSCTL_VERSION;
	len = 0;
	if (rump_sys___sysctl(mib, 2, NULL, &len, &q, sizeof(q)) == -1)
		err(1, "sysctl query kern");
	len += 16 * sizeof(*nodes);
	if ((nodes = malloc(len)) == NULL)
		err(1, "malloc");
	if (rump_sys___sysctl(mib, 2, nodes, &len, &q, sizeof(q)) == -1)
		err(1, "sysctl query kern");
	for (i = 0; i < len / sizeof(*nodes); i++) {
		if (strncmp(nodes[i].name, name, sizeof(nodes[i].name)) == 0) {
			num = nodes[i].num;
			break;
		}
	}
	free(nodes);
	return num;
}

/* Reads kern.aio_workers (-1 if absent) and sets it if set >= 1. */
static int
aio_workers(int set)
{
	int mib[2] = { NB_CTL_KERN, 0 };
	size_t len = sizeof(int);
	int v;

	if ((mib[1] = kern_node("aio_workers")) == -1) {
		if (set >= 1)
			errx(1, "-w: this component has no kern.aio_workers");
		return -1;
	}
	if (set >= 1 && rump_sys___sysctl(mib, 2, NULL, NULL, &set,
	    sizeof(set)) == -1)
		err(1, "sysctl kern.aio_workers=%d", set);
	if (rump_sys___sysctl(mib, 2, &v, &len, NULL, 0) == -1)
		err(1, "sysctl kern.aio_workers");
	return v;
}

/* CPU time of the process when the run started. */
static struct rusage ru_start;

static double
start_clock(void)
{

	getrusage(RUSAGE_SELF, &ru_start);
	return now();
}

static double
tv_secs(const struct timeval *tv)
{

	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/*
 * cpu_us_per_op: user + system time of every thread of the process (the
 * client's and the rump kernel's, which are the process's threads) per
 * operation.
 */
static void
report(const char *mode, int depth, const struct stats *st, double secs)
{
	struct rusage ru;
	double cpu;

	getrusage(RUSAGE_SELF, &ru);
	cpu = tv_secs(&ru.ru_utime) - tv_secs(&ru_start.ru_utime) +
	    tv_secs(&ru.ru_stime) - tv_secs(&ru_start.ru_stime);
	printf("result mode=%s depth=%d ops=%" PRIu64 " seconds=%.3f "
	    "ops_per_s=%.0f cpu_us_per_op=%.3f verified=%" PRIu64
	    " mismatches=%" PRIu64 " torn=%" PRIu64 " errors=%" PRIu64 "\n",
	    mode, depth, st->ops, secs, st->ops / secs,
	    st->ops ? cpu * 1e6 / (double)st->ops : 0.0, st->verified,
	    st->mismatches, st->torn, st->errors);
	fflush(stdout);
}

static void
run_pread(struct stats *st)
{
	uint64_t *buf = slots[0].buf;
	double t0, end;
	int64_t off;
	ssize_t n;
	int i;

	t0 = start_clock();
	end = t0 + runsecs;
	do {
		for (i = 0; i < 64; i++) {
			off = randoff();
			buf[0] = ~(uint64_t)0;
			n = rump_sys_pread(fd, buf, BLKSIZE, off);
			if (n != BLKSIZE) {
				if (st->errors++ < 5)
					warnx("pread at %" PRId64 ": %zd, "
					    "errno %d", off, n, errno);
				continue;
			}
			st->ops++;
			check(st, buf, off);
		}
	} while (now() < end);
	report("pread", 1, st, now() - t0);
}

/* Start a read on slot s; false if it could not be queued. */
static bool
submit(struct stats *st, struct slot *s)
{
	int e, tries;

	memset(&s->cb, 0, sizeof(s->cb));
	s->off = randoff();
	s->cb.aio_offset = s->off;
	s->cb.aio_buf = s->buf;
	s->cb.aio_nbytes = BLKSIZE;
	s->cb.aio_fildes = fd;
	s->cb.aio_sigevent.nb_notify = NB_SIGEV_NONE;
	s->buf[0] = ~(uint64_t)0;
	for (tries = 0; tries < 1000; tries++) {
		if (rump_sys_aio_read(&s->cb) == 0) {
			s->busy = true;
			return true;
		}
		if (errno != NB_EAGAIN)
			break;
		sched_yield();
	}
	e = errno;
	if (st->errors++ < 5)
		warnx("aio_read at %" PRId64 ": errno %d", s->off, e);
	s->busy = false;
	errno = e;
	return false;
}

/*
 * If slot s has finished, collect its result and return true; false while
 * it is in progress.
 */
static bool
reap(struct stats *st, struct slot *s)
{
	int64_t off = s->off;
	ssize_t n;
	int e;

	e = rump_sys_aio_error(&s->cb);
	if (e == NB_EINPROGRESS)
		return false;
	errno = 0;
	n = rump_sys_aio_return(&s->cb);
	s->busy = false;
	if (e == 0 && n == -1) {
		/* Reported done and successful, yet no result: torn. */
		st->torn++;
		st->ops++;
		check(st, s->buf, off);
		return true;
	}
	if (e != 0 || n != BLKSIZE) {
		if (st->errors++ < 5)
			warnx("aio at %" PRId64 ": aio_error %d, "
			    "aio_return %zd (errno %d)", off, e, n, errno);
		return true;
	}
	st->ops++;
	check(st, s->buf, off);
	return true;
}

/* Wait for every slot still in flight, outside the measured window. */
static void
drain(int depth)
{
	const struct aiocb *list[MAXDEPTH];
	int i, left;

	do {
		left = 0;
		for (i = 0; i < depth; i++) {
			list[i] = NULL;
			if (!slots[i].busy)
				continue;
			if (rump_sys_aio_error(&slots[i].cb) == NB_EINPROGRESS) {
				list[i] = &slots[i].cb;
				left++;
			} else {
				(void)rump_sys_aio_return(&slots[i].cb);
				slots[i].busy = false;
			}
		}
		if (left > 0)
			(void)rump_sys_aio_suspend(list, depth, NULL);
	} while (left > 0);
}

static void
run_suspend(struct stats *st, int depth)
{
	const struct aiocb *list[MAXDEPTH];
	char mode[16];
	double t0, end;
	int i, rounds;

	t0 = start_clock();
	end = t0 + runsecs;
	for (i = 0; i < depth; i++) {
		list[i] = &slots[i].cb;
		(void)submit(st, &slots[i]);
	}
	rounds = 0;
	for (;;) {
		if (rump_sys_aio_suspend(list, depth, NULL) == -1 &&
		    errno != NB_EINTR && errno != NB_EAGAIN) {
			if (st->errors++ < 5)
				warnx("aio_suspend: errno %d", errno);
		}
		for (i = 0; i < depth; i++) {
			if (!slots[i].busy)
				continue;
			if (reap(st, &slots[i]))
				(void)submit(st, &slots[i]);
		}
		if ((++rounds & 15) == 0 && now() >= end)
			break;
		if (st->errors > 1000)
			break;
	}
	snprintf(mode, sizeof(mode), "suspend%d", depth);
	report(mode, depth, st, now() - t0);
	drain(depth);
}

static void
run_poll(struct stats *st, int depth)
{
	char mode[16];
	double t0, end;
	uint64_t polls;
	int i;

	t0 = start_clock();
	end = t0 + runsecs;
	for (i = 0; i < depth; i++)
		(void)submit(st, &slots[i]);
	polls = 0;
	for (;;) {
		for (i = 0; i < depth; i++) {
			if (slots[i].busy && !reap(st, &slots[i]))
				continue;
			(void)submit(st, &slots[i]);
		}
		if ((++polls & 63) == 0 && now() >= end)
			break;
		if (st->errors > 1000)
			break;
	}
	snprintf(mode, sizeof(mode), "poll%d", depth);
	report(mode, depth, st, now() - t0);
	drain(depth);
}

/* One read through the component, so that a missing one fails loudly. */
static void
probe(void)
{
	const struct aiocb *list[1];
	struct stats st;

	memset(&st, 0, sizeof(st));
	if (!submit(&st, &slots[0])) {
		if (errno == NB_ENOSYS)
			errx(1, "aio_read: ENOSYS: module \"aio\" not loaded");
		errx(1, "aio_read probe failed");
	}
	list[0] = &slots[0].cb;
	while (!reap(&st, &slots[0]))
		(void)rump_sys_aio_suspend(list, 1, NULL);
	if (st.errors != 0 || st.verified != 1)
		errx(1, "probe read was not correct");
}

static bool
wanted(const char *modes, const char *m)
{
	const char *p;
	size_t len = strlen(m);

	if (modes == NULL)
		return true;
	for (p = modes; (p = strstr(p, m)) != NULL; p += len) {
		if ((p == modes || p[-1] == ',') &&
		    (p[len] == '\0' || p[len] == ','))
			return true;
	}
	return false;
}

int
main(int argc, char **argv)
{
	struct stats st;
	const char *modes = NULL;
	char *ep;
	void *h;
	bool bad = false;
	int ch, i, workers = 0;
	bool templwp = false;

	progname = argv[0];
	while ((ch = getopt(argc, argv, "Tm:s:w:")) != -1) {
		switch (ch) {
		case 'T':
			templwp = true;
			break;
		case 'm':
			modes = optarg;
			break;
		case 's':
			runsecs = strtod(optarg, &ep);
			if (*ep != '\0' || !(runsecs > 0))
				errx(2, "-s wants a positive number of seconds");
			break;
		case 'w':
			workers = (int)strtol(optarg, &ep, 10);
			if (*ep != '\0' || workers < 1)
				errx(2, "-w wants a positive integer");
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();

	/* Before rump_init(): the constructor must run while "cold". */
	if ((h = dlopen(argv[0], RTLD_NOW | RTLD_GLOBAL)) == NULL)
		errx(1, "dlopen %s: %s", argv[0], dlerror());
	rump_boot_setsigmodel(RUMP_SIGMODEL_IGNORE);
	if ((errno = rump_init()) != 0)
		err(1, "rump_init");
	if (!templwp && (errno = rump_pub_lwproc_rfork(RUMP_RFCFDG)) != 0)
		err(1, "rump_lwproc_rfork");

	for (i = 0; i < MAXDEPTH; i++) {
		if ((slots[i].buf = aligned_alloc(BLKSIZE, BLKSIZE)) == NULL)
			err(1, "aligned_alloc");
	}
	setup();
	printf("component path=%s file_mib=%d block=%d seconds=%.3f "
	    "workers=%d lwp=%s\n", argv[0], FILESIZE >> 20, BLKSIZE, runsecs,
	    aio_workers(workers), templwp ? "temporary" : "own");
	fflush(stdout);
	probe();

	if (wanted(modes, "pread")) {
		memset(&st, 0, sizeof(st));
		run_pread(&st);
		bad |= st.errors != 0 || st.mismatches != 0;
	}
	if (wanted(modes, "suspend1")) {
		memset(&st, 0, sizeof(st));
		run_suspend(&st, 1);
		bad |= st.errors != 0 || st.mismatches != 0;
	}
	if (wanted(modes, "suspend32")) {
		memset(&st, 0, sizeof(st));
		run_suspend(&st, 32);
		bad |= st.errors != 0 || st.mismatches != 0;
	}
	if (wanted(modes, "poll32")) {
		memset(&st, 0, sizeof(st));
		run_poll(&st, 32);
		bad |= st.errors != 0 || st.mismatches != 0;
	}
	printf("status %s\n", bad ? "failed" : "ok");
	return bad ? 1 : 0;
}
