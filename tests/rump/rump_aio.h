/*
 * Test clients for an AIO component inside a NetBSD rump kernel.
 *
 * The clients run on Linux but talk to a NetBSD kernel, so the user ABI is
 * NetBSD's (amd64): struct aiocb and struct sigevent are declared here with
 * NetBSD's layout, and errno/constant values are NetBSD's.  glibc's <aio.h>
 * is deliberately not included (its layouts and numbers differ).
 *
 * Built twice from the same sources: local (rump_init in this process) and
 * remote (-DREMOTE: rumpclient_init, talking to a rump_server).
 */
#ifndef RUMP_AIO_H
#define RUMP_AIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <rump/rump.h>
#include <rump/rump_syscalls.h>
#include <rump/rumpdefs.h>

/* NetBSD <sys/signal.h> (amd64) */
union nb_sigval {
	int sival_int;
	void *sival_ptr;
};
struct nb_sigevent {
	int sigev_notify;
	int sigev_signo;
	union nb_sigval sigev_value;
	void (*nb_notify_function)(union nb_sigval);
	void *nb_notify_attributes;
};

/*
 * NetBSD <sys/aio.h> (amd64).  The tag must be "aiocb": rump_syscalls.h
 * declares the rump_sys_aio_* prototypes with an incomplete struct aiocb.
 */
struct aiocb {
	int64_t aio_offset;
	volatile void *aio_buf;
	size_t aio_nbytes;
	int aio_fildes;
	int aio_lio_opcode;
	int aio_reqprio;
	struct nb_sigevent aio_sigevent;
	int _state;	/* kernel-private */
	int _errno;	/* kernel-private */
	ssize_t _retval; /* kernel-private */
};

_Static_assert(sizeof(struct nb_sigevent) == 32, "NetBSD sigevent is 32 bytes");
_Static_assert(sizeof(struct aiocb) == 88, "NetBSD aiocb is 88 bytes");
_Static_assert(offsetof(struct aiocb, aio_reqprio) == 32, "aio_reqprio @32");
_Static_assert(offsetof(struct aiocb, aio_sigevent) == 40, "aio_sigevent @40");
_Static_assert(offsetof(struct aiocb, _state) == 72, "_state @72");
_Static_assert(offsetof(struct aiocb, _retval) == 80, "_retval @80");

/* Bytes of the aiocb that belong to the user (everything before _state). */
#define NB_AIOCB_USER_BYTES offsetof(struct aiocb, _state)

/* NetBSD constants */
#define NB_AIO_CANCELED		1
#define NB_AIO_NOTCANCELED	2
#define NB_AIO_ALLDONE		3
#define NB_LIO_NOP		0
#define NB_LIO_WRITE		1
#define NB_LIO_READ		2
#define NB_LIO_NOWAIT		0
#define NB_LIO_WAIT		1
#define NB_SIGEV_NONE		0
#define NB_SIGEV_SIGNAL		1
#define NB_SIGEV_THREAD		2
#define NB_SIGEV_SA		3
#define NB_O_SYNC		0x80
#define NB_O_DSYNC		0x10000
#define NB_AIO_LISTIO_MAX	512
#define NB_SSIZE_MAX		INT64_MAX
#define NB_F_GETFL		3
#define NB_F_SETFL		4

/* NetBSD errno values (the rump kernel returns them untranslated) */
#define NB_EIO			5
#define NB_EBADF		9
#define NB_EFAULT		14
#define NB_EISDIR		21
#define NB_EINVAL		22
#define NB_EPIPE		32
#define NB_EAGAIN		35
#define NB_EINPROGRESS		36
#define NB_EOPNOTSUPP		45
#define NB_ECANCELED		87

/* NetBSD <fs/tmpfs/tmpfs_args.h> */
struct nb_tmpfs_args {
	int ta_version;
	uint64_t ta_nodes_max;
	int64_t ta_size_max;
	uint32_t ta_root_uid, ta_root_gid, ta_root_mode;
};
#define NB_TMPFS_ARGS_VERSION 1

/* ---- harness (harness.c) ---- */

/* Fails the running case (printf-style detail); the case goes on. */
void t_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Informational line printed under the case's result. */
void t_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int t_failed(void);
/* Marks the running case skipped (not counted as passed or failed). */
void t_skip(const char *reason);

#ifdef __FILE_NAME__
#define T_FILE __FILE_NAME__
#else
#define T_FILE __FILE__
#endif
#define FAIL(...) t_fail(T_FILE, __LINE__, __VA_ARGS__)
/* Check; on failure record and leave the case (cleanup is the harness's). */
#define REQUIRE(cond, ...) do {						\
	if (!(cond)) {							\
		t_fail(T_FILE, __LINE__, "(" #cond ") " __VA_ARGS__);	\
		return;							\
	}								\
} while (0)
#define CHECK(cond, ...) do {						\
	if (!(cond))							\
		t_fail(T_FILE, __LINE__, "(" #cond ") " __VA_ARGS__);	\
} while (0)

/*
 * Resources handed to the harness are released after the case, even when
 * it failed early: descriptors are closed first (closing a pipe's write end
 * ends a pending read with EOF), then every tracked aiocb is waited for
 * (bounded) and reaped with aio_return; aiocbs and buffers are freed only
 * if nothing is still in flight (the kernel may still write into them).
 */
struct aiocb *t_cb(void);		/* zeroed aiocb, SIGEV_NONE */
struct aiocb *t_cb_io(int fd, size_t n); /* t_cb for n bytes of fd at 0 */
void *t_buf(size_t n);			/* zeroed buffer */
int t_fd(int fd);			/* returns fd */
int t_file(const char *name, size_t size, int flags); /* /tmp file */
void t_pipe(int p[2]);			/* rump pipe, both ends tracked */
void t_close(int fd);			/* close a tracked fd now */

/* Timing */
int64_t t_now_ms(void);
void t_settle(void);	/* let a worker pick up and block on a job */
extern int t_remote;

/*
 * Submits with op ('r' aio_read, 'w' aio_write, 's' aio_fsync O_SYNC,
 * 'd' aio_fsync O_DSYNC) and returns 0 or the errno of the submission.
 */
int t_submit(int op, struct aiocb *cb);
/*
 * Waits until cb is no longer in progress (at most ms): returns its
 * aio_error() value, -1 with the errno of aio_error if that failed, or
 * -2 if it is still in progress.
 */
int t_wait(struct aiocb *cb, int ms);
/*
 * Expects an error either at submission or as the asynchronous result:
 * returns 's' (synchronous), 'a' (asynchronous) or 0 (no such error;
 * the case has failed).  With sync_only, asynchronous detection fails.
 */
int t_expect_err(int op, struct aiocb *cb, int err, int sync_only,
    const char *what);
const char *t_opname(int op);

/* Fills b with a pattern depending on seed. */
void t_pattern(void *b, size_t n, unsigned seed);

#endif
