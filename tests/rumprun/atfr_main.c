/*
 * netbsd-aio: the case runner of the rumprun test image (see atf-c.h).
 *
 * Runs one case ("--case program:case"; scripts/rumprun-test boots the
 * image once per case, so that every case has a fresh kernel and process
 * as under kyua) or all of them in turn, in a directory of its own under
 * /work (a tmpfs of its own, rr_tmpfs.c), and prints one line per case on
 * the console:
 *
 *	ATFR RESULT <program>:<case> passed
 *	ATFR RESULT <program>:<case> failed: <reason>
 *	ATFR RESULT <program>:<case> skipped: <reason>
 *
 * then "ATFR DONE passed=N failed=N skipped=N"; "--list" prints the
 * cases.  A watchdog thread reports a case that outlives its timeout (the
 * "timeout" variable of its head, 300 s by default, as ATF) and says
 * "ATFR HALT": rumprun's _exit ends only the calling thread
 * (lib/librumprun_base/syscall_misc.c), so the script ends the boot.
 *
 * _setjmp, not setjmp: rumprun's setjmp saves the signal mask through
 * a sigprocmask stub that prints a notice, and reaches it with the stack
 * misaligned (seen: a general-protection trap on a movaps in vfprintf
 * under __setjmp14); no signal is delivered there anyway.
 *
 * ATFR_PROGRAMS (from the build) lists the programs: X(name) each, whose
 * ATF_TP_ADD_TCS was renamed atfr_tp_<name>.
 */

#include <sys/stat.h>
#include <sys/sysctl.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atf-c.h"

/* The runner itself needs the real calls. */
#undef fork
#undef aio_return
#undef sigaction
#undef mmap
#undef mprotect
#undef munmap

struct atfr_tp {
	atf_tc_t	*tp_first;
	atf_tc_t	**tp_lastp;
};

int	rr_tmpfs_mount(void);

#define	X(name)	atf_error_t atfr_tp_##name(atf_tp_t *);
ATFR_PROGRAMS
#undef X

static const struct {
	const char	*name;
	atf_error_t	(*add)(atf_tp_t *);
} programs[] = {
#define	X(name)	{ #name, atfr_tp_##name },
	ATFR_PROGRAMS
#undef X
};

enum verdict { V_PASSED, V_FAILED, V_SKIPPED };

static pthread_mutex_t atfr_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t case_thread;
static jmp_buf case_env;
static enum verdict case_verdict;
static char case_reason[1024];
static char case_id[256];
static long case_timeout;
static struct timespec case_start;	/* guarded by atfr_lock */
static int case_running;		/* guarded by atfr_lock */
static int signals_work;

static void
verdict(enum verdict v, const char *fmt, va_list ap)
{

	/* The first verdict other than a pass stands. */
	if (case_verdict != V_PASSED)
		return;
	case_verdict = v;
	vsnprintf(case_reason, sizeof(case_reason), fmt, ap);
}

static void __attribute__((__noreturn__))
end_case(void)
{

	if (!pthread_equal(pthread_self(), case_thread)) {
		/* A helper thread of the case: it cannot unwind the case. */
		pthread_exit(NULL);
	}
	_longjmp(case_env, 1);
}

void
atf_tc_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verdict(V_FAILED, fmt, ap);
	va_end(ap);
	end_case();
}

void
atf_tc_fail_requirement(const char *file, size_t line, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	atf_tc_fail("%s:%zu: %s", file, line, msg);
}

void
atf_tc_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verdict(V_SKIPPED, fmt, ap);
	va_end(ap);
	end_case();
}

void
atf_tc_set_md_var(atf_tc_t *tc, const char *name, const char *fmt, ...)
{
	char value[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	if (strcmp(name, "timeout") == 0)
		case_timeout = strtol(value, NULL, 10);
}

void
atfr_register(atf_tp_t *tp, atf_tc_t *tc)
{

	tc->tc_next = NULL;
	*tp->tp_lastp = tc;
	tp->tp_lastp = &tc->tc_next;
}

pid_t
atfr_fork(void)
{

	/* rumprun's libc has fork only as a stub ("STUB __fork called"). */
	atf_tc_skip("rumprun: no fork (a unikernel has one process; its "
	    "libc's fork is a stub)");
}

ssize_t
atfr_aio_return(struct aiocb *cb)
{
	/* The glue's int, declared as ssize_t (see atf-c.h). */
	int (*glue)(struct aiocb *) = (int (*)(struct aiocb *))aio_return;

	return glue(cb);
}

int
atfr_sigaction(int signo, const struct sigaction *sa, struct sigaction *osa)
{

	if (!signals_work)
		atf_tc_skip("rumprun: signals are not delivered (the probe "
		    "at boot saw none; rumprun boots its rump kernel with "
		    "RUMP_SIGMODEL_IGNORE, lib/librumprun_base/rumprun.c)");
	return sigaction(signo, sa, osa);
}

#define	NO_PROTECTION							\
	"rumprun: one address space without page protection: copyin is "\
	"a memcpy there, so a bad pointer is not an EFAULT but a fault "\
	"of the whole unikernel"

void *
atfr_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{

	if (prot == PROT_NONE)
		atf_tc_skip(NO_PROTECTION);
	return mmap(addr, len, prot, flags, fd, off);
}

int
atfr_mprotect(void *addr, size_t len, int prot)
{

	if (prot == PROT_NONE)
		atf_tc_skip(NO_PROTECTION);
	return mprotect(addr, len, prot);
}

int
atfr_munmap(void *addr, size_t len)
{

	/* The tests unmap only to make a bad pointer. */
	atf_tc_skip(NO_PROTECTION);
}

static volatile sig_atomic_t probe_hits;

static void
probe_handler(int signo)
{

	probe_hits++;
}

/* Whether a signal sent to this process arrives. */
static int
probe_signals(void)
{
	struct sigaction sa;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = probe_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR2, &sa, NULL) == -1)
		return 0;
	(void)kill(getpid(), SIGUSR2);
	nanosleep(&ts, NULL);
	sa.sa_handler = SIG_DFL;
	(void)sigaction(SIGUSR2, &sa, NULL);
	return probe_hits > 0;
}

static void *
watchdog(void *arg)
{
	struct timespec now;

	for (;;) {
		sleep(1);
		clock_gettime(CLOCK_MONOTONIC, &now);
		pthread_mutex_lock(&atfr_lock);
		if (case_running &&
		    now.tv_sec - case_start.tv_sec > case_timeout) {
			printf("ATFR RESULT %s failed: timed out after %ld s\n",
			    case_id, case_timeout);
			printf("ATFR HALT\n");
			fflush(stdout);
			_exit(3);
		}
		pthread_mutex_unlock(&atfr_lock);
	}
	return NULL;
}

static void
run_case(const char *prog, atf_tc_t *tc, int *counts)
{
	static const char *const names[] = { "passed", "failed", "skipped" };
	char dir[512];

	snprintf(case_id, sizeof(case_id), "%s:%s", prog, tc->tc_name);
	snprintf(dir, sizeof(dir), "/work/atfr.%s.%s", prog, tc->tc_name);
	case_verdict = V_PASSED;
	case_reason[0] = '\0';
	case_timeout = 300;
	case_thread = pthread_self();
	printf("ATFR BEGIN %s\n", case_id);
	fflush(stdout);
	if (_setjmp(case_env) == 0) {
		tc->tc_head(tc);
		if (mkdir(dir, 0755) == -1 || chdir(dir) == -1)
			atf_tc_fail("cannot make the work directory %s: %s",
			    dir, strerror(errno));
		pthread_mutex_lock(&atfr_lock);
		clock_gettime(CLOCK_MONOTONIC, &case_start);
		case_running = 1;
		pthread_mutex_unlock(&atfr_lock);
		tc->tc_body(tc);
	}
	if (tc->tc_cleanup != NULL) {
		enum verdict v = case_verdict;
		char reason[sizeof(case_reason)];

		memcpy(reason, case_reason, sizeof(reason));
		if (_setjmp(case_env) == 0)
			tc->tc_cleanup(tc);
		case_verdict = v;
		memcpy(case_reason, reason, sizeof(reason));
	}
	pthread_mutex_lock(&atfr_lock);
	case_running = 0;
	pthread_mutex_unlock(&atfr_lock);
	(void)chdir("/");
	counts[case_verdict]++;
	if (case_verdict == V_PASSED)
		printf("ATFR RESULT %s passed\n", case_id);
	else
		printf("ATFR RESULT %s %s: %s\n", case_id,
		    names[case_verdict], case_reason);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	const char *only = NULL;
	int counts[3] = { 0, 0, 0 };
	int list, i, workers;
	size_t len;
	pthread_t wd;

	list = argc == 2 && strcmp(argv[1], "--list") == 0;
	if (argc == 3 && strcmp(argv[1], "--case") == 0)
		only = argv[2];
	else if (argc != 1 && !list) {
		fprintf(stderr, "usage: %s [--list | --case program:case]\n",
		    argv[0]);
		return 2;
	}
	if (!list) {
		if (rr_tmpfs_mount() == -1) {
			printf("ATFR HALT: no tmpfs on /work: %s\n",
			    strerror(errno));
			return 3;
		}
		signals_work = probe_signals();
		/* Which component answers: only netbsd-aio's has this node. */
		len = sizeof(workers);
		printf("ATFR START signals %s, kern.aio_workers %s\n",
		    signals_work ? "delivered" : "not delivered",
		    sysctlbyname("kern.aio_workers", &workers, &len, NULL,
		    0) == 0 ? "present" : "absent");
		if (pthread_create(&wd, NULL, watchdog, NULL) != 0) {
			printf("ATFR HALT: no watchdog thread\n");
			return 3;
		}
	}
	for (i = 0; i < (int)(sizeof(programs) / sizeof(programs[0])); i++) {
		atf_tp_t tp = { NULL, &tp.tp_first };
		atf_tc_t *tc;
		char id[256];

		programs[i].add(&tp);
		for (tc = tp.tp_first; tc != NULL; tc = tc->tc_next) {
			snprintf(id, sizeof(id), "%s:%s", programs[i].name,
			    tc->tc_name);
			if (list)
				printf("ATFR CASE %s\n", id);
			else if (only == NULL || strcmp(id, only) == 0)
				run_case(programs[i].name, tc, counts);
		}
	}
	if (list)
		return 0;
	printf("ATFR DONE passed=%d failed=%d skipped=%d\n",
	    counts[V_PASSED], counts[V_FAILED], counts[V_SKIPPED]);
	fflush(stdout);
	return counts[V_FAILED] != 0;
}
