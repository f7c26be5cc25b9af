/*
 * netbsd-aio: the C helpers' interface.
 *
 * The Rust side of the component reaches the kernel through these small
 * functions wherever a kernel interface is a macro, an inline function or
 * a structure field (curlwp, p->p_aio, fp->f_ops, SCARG, ...), so that the
 * Rust code depends on no private structure layout.  helpers.c implements
 * them against the real kernel headers; bindgen reads this file (through
 * wrapper.h) for their prototypes.
 */
#ifndef _NETBSD_AIO_HELPERS_H_
#define _NETBSD_AIO_HELPERS_H_

struct lwp;
struct proc;
struct file;
struct kmutex;
struct kcondvar;

/* What a descriptor's file allows, for the engine's checks and ordering. */
struct aiok_fileinfo {
	int	fi_readable;
	int	fi_writable;
	int	fi_append;
	int	fi_seekable;	/* regular vnode or block device */
	int	fi_memory;	/* regular file on tmpfs: I/O is a copy */
};

/* Locks: allocated and initialised here, since their size is private. */
struct kmutex	*aiok_mutex_create(void);
void		 aiok_mutex_destroy(struct kmutex *);
void		 aiok_mutex_enter(struct kmutex *);
void		 aiok_mutex_exit(struct kmutex *);
struct kcondvar	*aiok_cv_create(void);
void		 aiok_cv_destroy(struct kcondvar *);
/*
 * how: 0 uninterruptible, 1 interruptible (timeout_ns 0 = none),
 * 2 worker (no timeout: timeout_ns is ignored; returns EINTR only when
 * the LWP must exit).
 * Returns 0 (woken), EWOULDBLOCK (timed out) or EINTR.
 */
int		 aiok_cv_wait(struct kcondvar *, struct kmutex *, int how,
		    unsigned long long timeout_ns);
void		 aiok_cv_signal(struct kcondvar *);
void		 aiok_cv_broadcast(struct kcondvar *);

/* Processes. */
struct proc	*aiok_lwp_proc(struct lwp *);
struct proc	*aiok_curproc(void);
void		*aiok_proc_aio(struct proc *);
/* Sets p->p_aio to new unless it is set; returns the value it holds. */
void		*aiok_proc_aio_publish(struct proc *, void *);
void		 aiok_proc_aio_clear(struct proc *);

/* Files: a reference that survives close(2) and dup2(2). */
struct file	*aiok_getfile(struct proc *, int, struct aiok_fileinfo *,
		    int *);
void		 aiok_putfile(struct file *);
int		 aiok_fd_is_open(struct proc *, int);
int		 aiok_file_rw(struct file *, int write, void *buf,
		    unsigned long len, long long off /* -1: stream */,
		    unsigned long *done);
int		 aiok_file_fsync(struct file *, int dataonly);
/*
 * Reads at once, in the calling LWP, if fd is a regular file on a memory
 * file system (tmpfs): no device I/O can be needed.  EWOULDBLOCK
 * otherwise, or the read's own error.
 */
int		 aiok_read_resident(struct proc *, int fd, void *buf,
		    unsigned long len, long long off, unsigned long *done);

/*
 * Streams (pipes, sockets) waited for cancellably: a worker waits in
 * aiok_stream_wait until the stream could take or give want bytes
 * without sleeping, or aiok_stream_wake was called since its last wait
 * ended, or it must exit; aiok_file_rw_nowait then moves what it can
 * (EWOULDBLOCK: nothing).  Other file types block in the transfer.
 */
struct aiok_waiter;
struct aiok_waiter *aiok_waiter_create(void);
void		 aiok_waiter_destroy(struct aiok_waiter *);
void		 aiok_stream_wait(struct aiok_waiter *, struct file *,
		    int write, unsigned long want);
void		 aiok_stream_wake(struct aiok_waiter *);
int		 aiok_file_rw_nowait(struct file *, int write, void *buf,
		    unsigned long len, unsigned long *done);

/* User memory of the current process. */
int		 aiok_copyin(const void *uaddr, void *kaddr, unsigned long);
int		 aiok_copyout(const void *kaddr, void *uaddr, unsigned long);

/*
 * Workers: an LWP of p with every signal blocked, running
 * aio_rs_worker_run(arg) and then leaving (aiok_worker_leave, called by
 * the LWP's trampoline in helpers.c, not by Rust).
 */
int		 aiok_worker_create(struct proc *, void *);
struct lwp	*aiok_worker_leave(void);
int		 aiok_curlwp_exiting(void);

/* Notification: signo with si_code SI_ASYNCIO and the sigval. */
void		 aiok_signal(struct proc *, int, void *);

/* Time, memory, diagnostics. */
unsigned long long aiok_uptime_ns(void);
unsigned int	 aiok_ncpu(void);
void		*aiok_alloc(unsigned long);
void		 aiok_free(void *, unsigned long);
void		 aiok_panic(const char *) __attribute__((__noreturn__));

/* Module glue implemented in Rust, called from helpers.c. */
void		 aio_rs_worker_run(void *);
int		 aio_rs_init(void);
int		 aio_rs_fini(void);
void		 aio_rs_proc_exit(struct proc *);
int		 aio_rs_sysctl_set(int which, long long value);
long long	 aio_rs_sysctl_get(int which);

/* Handler bodies implemented in Rust; the sys_* entry points are C. */
int	aio_rs_read(struct lwp *, void *aiocbp, long *retval);
int	aio_rs_write(struct lwp *, void *aiocbp, long *retval);
int	aio_rs_fsync(struct lwp *, int op, void *aiocbp, long *retval);
int	aio_rs_error(struct lwp *, const void *aiocbp, long *retval);
int	aio_rs_return(struct lwp *, void *aiocbp, long *retval);
int	aio_rs_cancel(struct lwp *, int fd, void *aiocbp, long *retval);
int	aio_rs_suspend(struct lwp *, const void *list, int nent,
	    const void *timeout, long *retval);
int	aio_rs_lio_listio(struct lwp *, int mode, const void *list, int nent,
	    void *sig, long *retval);

/* sysctl indices for aio_rs_sysctl_{get,set}. */
#define	AIOK_SYSCTL_AIO_MAX		0
#define	AIOK_SYSCTL_AIO_LISTIO_MAX	1
#define	AIOK_SYSCTL_AIO_WORKERS		2

#endif /* !_NETBSD_AIO_HELPERS_H_ */
