/*
 * netbsd-aio: the part of ATF's C interface that tests/atf uses, for a
 * rumprun unikernel.
 *
 * Why not ATF itself: an ATF test program expects a runner (kyua) that
 * starts it once per case in a fresh process and reads a result file;
 * a unikernel has one process, no fork and no exec.  This header keeps
 * the test sources unchanged and runs every case of every program of
 * one image in turn, in the one process (atfr_main.c), printing each
 * verdict on the console.  What the unikernel lacks turns into a skip
 * with the reason, at the call that needs it:
 *
 *	fork			one process (libc's fork is a stub that
 *				prints "STUB __fork called")
 *	sigaction		signals are ignored: rumprun boots its rump
 *				kernel with RUMP_SIGMODEL_IGNORE
 *				(lib/librumprun_base/rumprun.c), so no
 *				SIGEV_SIGNAL or pthread_kill() arrives
 *	mmap/mprotect PROT_NONE, munmap
 *				one address space without protection:
 *				copyin is a memcpy, so a bad pointer is not
 *				an EFAULT but a fault of the whole unikernel
 *
 * A failed ATF_REQUIRE ends the case with longjmp back to the runner.
 *
 * aio_return: in a rump kernel's system call glue the call returns int
 * (kern/syscalls.master declares it so; rump_syscalls.c keeps that type)
 * while <aio.h> declares ssize_t, and rumprun's libc aliases aio_return to
 * that glue: the caller reads all of %rax, of which the glue set only
 * %eax, so -1 arrives as 4294967295.  The component's value is the full
 * register (a NetBSD kernel's libc stub returns it whole); the wrapper
 * takes the int the glue returns, for both components alike.
 */

#ifndef ATFR_ATF_C_H
#define ATFR_ATF_C_H

#include <sys/types.h>
#include <sys/mman.h>

#include <aio.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <unistd.h>

typedef struct atfr_tc atf_tc_t;
typedef struct atfr_tp atf_tp_t;
typedef int atf_error_t;

struct atfr_tc {
	const char	*tc_name;
	void		(*tc_head)(atf_tc_t *);
	void		(*tc_body)(const atf_tc_t *);
	void		(*tc_cleanup)(const atf_tc_t *);
	struct atfr_tc	*tc_next;
};

void	atfr_register(atf_tp_t *, atf_tc_t *);
void	atf_tc_set_md_var(atf_tc_t *, const char *, const char *, ...);
void	atf_tc_fail(const char *, ...)
	    __attribute__((__noreturn__, __format__(__printf__, 1, 2)));
void	atf_tc_fail_requirement(const char *, size_t, const char *, ...)
	    __attribute__((__noreturn__, __format__(__printf__, 3, 4)));
void	atf_tc_skip(const char *, ...)
	    __attribute__((__noreturn__, __format__(__printf__, 1, 2)));

pid_t	atfr_fork(void) __attribute__((__noreturn__));
ssize_t	atfr_aio_return(struct aiocb *);
int	atfr_sigaction(int, const struct sigaction *, struct sigaction *);
void	*atfr_mmap(void *, size_t, int, int, int, off_t);
int	atfr_mprotect(void *, size_t, int);
int	atfr_munmap(void *, size_t);

#define	atf_no_error()	0

#define	ATF_TC(name)							\
	static void atfr_head_##name(atf_tc_t *);			\
	static void atfr_body_##name(const atf_tc_t *);			\
	static atf_tc_t atfr_tc_##name = {				\
		#name, atfr_head_##name, atfr_body_##name, NULL, NULL	\
	}
#define	ATF_TC_WITH_CLEANUP(name)					\
	static void atfr_head_##name(atf_tc_t *);			\
	static void atfr_body_##name(const atf_tc_t *);			\
	static void atfr_cleanup_##name(const atf_tc_t *);		\
	static atf_tc_t atfr_tc_##name = {				\
		#name, atfr_head_##name, atfr_body_##name,		\
		atfr_cleanup_##name, NULL				\
	}
#define	ATF_TC_HEAD(name, tc)	static void atfr_head_##name(atf_tc_t *tc)
#define	ATF_TC_BODY(name, tc)						\
	static void atfr_body_##name(const atf_tc_t *tc __unused)
#define	ATF_TC_CLEANUP(name, tc)					\
	static void atfr_cleanup_##name(const atf_tc_t *tc __unused)

/* One image holds several programs: build.sh renames each one's list. */
#define	ATF_TP_ADD_TCS(tp)	atf_error_t ATFR_PROGRAM(atf_tp_t *tp)
#define	ATF_TP_ADD_TC(tp, name)	atfr_register(tp, &atfr_tc_##name)

#define	ATF_REQUIRE(e) do {						\
	if (!(e))							\
		atf_tc_fail_requirement(__FILE__, __LINE__, "%s", #e);	\
} while (/*CONSTCOND*/0)
#define	ATF_REQUIRE_MSG(e, ...) do {					\
	if (!(e))							\
		atf_tc_fail_requirement(__FILE__, __LINE__, __VA_ARGS__);	\
} while (/*CONSTCOND*/0)
#define	ATF_REQUIRE_EQ(a, b) do {					\
	if (!((a) == (b)))						\
		atf_tc_fail_requirement(__FILE__, __LINE__, "%s != %s",	\
		    #a, #b);						\
} while (/*CONSTCOND*/0)

/* After the system headers (h_aio.h includes them first). */
#define	fork()			atfr_fork()
#define	aio_return(cb)		atfr_aio_return(cb)
#define	sigaction(s, a, o)	atfr_sigaction(s, a, o)
#define	mmap(a, l, p, f, d, o)	atfr_mmap(a, l, p, f, d, o)
#define	mprotect(a, l, p)	atfr_mprotect(a, l, p)
#define	munmap(a, l)		atfr_munmap(a, l)

#endif /* !ATFR_ATF_C_H */
