/*
 * netbsd-aio: C helpers of the kernel component.
 *
 * Everything here is a thin shim over a kernel interface that Rust cannot
 * call directly (a macro, an inline, a structure field), plus the module
 * glue (modinfo, syscall table, sysctl nodes, exit hook) whose shape the
 * kernel's macros define.  The logic lives in Rust; see helpers.h.
 *
 * Compiled against the real kernel headers of the target tree: NetBSD
 * 7.99 (the rump tree) and later releases, where interfaces changed as
 * noted at each __NetBSD_Version__ test.  build.rs defines AIOK_RUMP for
 * the rump kernel component, and AIOK_RUMPRUN as well for the rumprun
 * (unikernel) build of it.
 */

#include <sys/param.h>
#include <sys/types.h>
#include <sys/systm.h>
#include <sys/aio.h>
#include <sys/condvar.h>
#include <sys/errno.h>
#include <sys/exec.h>
#include <sys/file.h>
#include <sys/filedesc.h>
#include <sys/kmem.h>
#include <sys/ksyms.h>
#include <sys/lwp.h>
#include <sys/module.h>
#include <sys/mount.h>
#include <sys/mutex.h>
#include <sys/pipe.h>
#include <sys/proc.h>
#include <sys/sched.h>
#include <sys/signalvar.h>
#include <sys/socket.h>
#include <sys/socketvar.h>
#include <sys/syscall.h>
#include <sys/syscallargs.h>
#include <sys/syscallvar.h>
#include <sys/sysctl.h>
#include <sys/uio.h>
#include <sys/vnode.h>

#include <uvm/uvm_extern.h>

#include "helpers.h"

/*
 * NetBSD 8.99 added the signal mask and stack to lwp_create(); 9.99
 * replaced the hand-made enqueue by lwp_start() and made proc_lock a
 * mutex rather than a pointer to one.  The tests below draw the line at
 * x.99.0: right for every release (7.99 here, 9.x, 10.x, 11.x), wrong
 * for 8.99 and 9.99 development snapshots older than those changes.
 */
#if __NetBSD_Version__ >= 899000000
#define	AIOK_LWP_CREATE_HAS_SIGMASK
#endif
#if __NetBSD_Version__ >= 999000000
#define	AIOK_HAS_LWP_START
#define	AIOK_PROC_LOCK	(&proc_lock)
#else
#define	AIOK_PROC_LOCK	(proc_lock)
#endif

/*
 * Workers are created joinable (flags 0) and live until their process
 * exits or execs: exit_lwps() wakes them (LW_WEXIT), they call lwp_exit()
 * and it reaps them, as it reaps the single worker of NetBSD's own C
 * component.  A worker never retires early: a joinable LWP that exits
 * stays a zombie until exit_lwps(), a detached one cannot be created in a
 * rump kernel (its lwp_create() panics on any flag), and a rump kernel's
 * lwp_exit() cannot end a running LWP.  One build of the module therefore
 * runs in both kernels; the pool is bounded by kern.aio_workers.
 *
 * A rump kernel ends a departed remote client's LWPs differently (see
 * aiok_worker_leave); the module finds out at run time which kernel it is
 * in (aiok_rump_releaselwp below), the rump component knows at build time.
 */
#if defined(AIOK_RUMP)
void	rump_lwproc_releaselwp(void);
#define	aiok_rump_releaselwp	rump_lwproc_releaselwp
#else
static void (*aiok_rump_releaselwp)(void);
#endif

static int	aiok_rump_draining(struct lwp *);

/*
 * rumprun: a rump kernel's lwp_create() asks its hypervisor for a thread
 * with rumpuser_thread_create(..., NULL) (rumpkern/threads.c), and
 * rumprun's bare-metal hypervisor stores the new thread through that
 * pointer (lib/libbmk_rumpuser/rumpuser_synch.c: `*tptr = thr`): the
 * first worker would fault, with NetBSD's own C component as with this
 * one.  kthread_create() passes a slot, so there the workers are kernel
 * threads.  That is enough in a unikernel: every process of it runs in
 * the kernel's one address space (its vmspace is vmspace_kernel, as a
 * kernel thread's is), so the worker's uio and copyout reach the user's
 * buffers; it holds its own references to the files; no LWP of the
 * process is needed to deliver a signal; and exit waits for the workers
 * to leave (AioProc::exit) before the state goes.  There is no unload,
 * so a worker ending in module text after that is harmless.
 */
#ifdef AIOK_RUMPRUN
#include <sys/kthread.h>
#endif

struct kmutex *
aiok_mutex_create(void)
{
	kmutex_t *mtx;

	mtx = kmem_alloc(sizeof(*mtx), KM_SLEEP);
	mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE);
	return mtx;
}

void
aiok_mutex_destroy(struct kmutex *mtx)
{

	mutex_destroy(mtx);
	kmem_free(mtx, sizeof(*mtx));
}

/*
 * A rump kernel's mutex_enter does not spin: when the mutex is held it
 * gives up its virtual CPU, sleeps on the host mutex and queues for a
 * CPU again, several microseconds for a critical section of a few hundred
 * nanoseconds held by a worker on the other CPU.  Try for a moment first,
 * as the kernel's adaptive mutex does while the owner is running.  (In
 * the kernel itself mutex_enter spins already.)  Not with one CPU, where
 * the owner cannot run while we try: a rumprun unikernel has one, and its
 * scheduler never preempts.
 */
#define	AIOK_MUTEX_TRIES	200

void
aiok_mutex_enter(struct kmutex *mtx)
{
#ifdef AIOK_RUMP
	int i;

	for (i = 0; ncpu > 1 && i < AIOK_MUTEX_TRIES; i++) {
		if (mutex_tryenter(mtx))
			return;
		__asm volatile("pause");
	}
#endif
	mutex_enter(mtx);
}

void
aiok_mutex_exit(struct kmutex *mtx)
{

	mutex_exit(mtx);
}

struct kcondvar *
aiok_cv_create(void)
{
	kcondvar_t *cv;

	cv = kmem_alloc(sizeof(*cv), KM_SLEEP);
	cv_init(cv, "aiowait");
	return cv;
}

void
aiok_cv_destroy(struct kcondvar *cv)
{

	cv_destroy(cv);
	kmem_free(cv, sizeof(*cv));
}

static int
aiok_ns2ticks(unsigned long long ns)
{
	unsigned long long per, t;

	per = 1000000000ULL / (unsigned long long)hz;
	if (per == 0)
		per = 1;
	t = ns / per + (ns % per != 0);
	if (t > INT_MAX)
		t = INT_MAX;
	return t == 0 ? 1 : (int)t;
}

int
aiok_cv_wait(struct kcondvar *cv, struct kmutex *mtx, int how,
    unsigned long long timeout_ns)
{
	int error;

	switch (how) {
	case 0:
		cv_wait(cv, mtx);
		return 0;
	case 2:
		/*
		 * A worker sleeps interruptibly so that exit_lwps() can wake
		 * it (LW_WEXIT); with every signal blocked nothing else but a
		 * stop interrupts it, and a stop must not make it spin: pause
		 * one tick uninterruptibly and report a plain wakeup.  No
		 * idle timeout: workers do not retire (aiok_worker_create).
		 *
		 * A rump kernel marks every LWP of a departed remote client
		 * LW_RUMP_QEXIT, after which each of its sleeps returns at
		 * once: aiok_curlwp_exiting() is true then and the worker
		 * leaves.  A worker started during that drain is not marked
		 * (aiok_rump_draining): the drain's broadcast of the
		 * condition variable it sleeps on wakes it, and it must not
		 * sleep again.
		 */
		if (aiok_rump_draining(curlwp))
			return EINTR;
		error = cv_wait_sig(cv, mtx);
		if (error == 0)
			return aiok_rump_draining(curlwp) ? EINTR : 0;
		if (aiok_curlwp_exiting())
			return EINTR;
		(void)cv_timedwait(cv, mtx, 1);
		return 0;
	default:
		if (timeout_ns == 0)
			error = cv_wait_sig(cv, mtx);
		else
			error = cv_timedwait_sig(cv, mtx,
			    aiok_ns2ticks(timeout_ns));
		if (error == EWOULDBLOCK)
			return EWOULDBLOCK;
		if (error == EINTR || error == ERESTART)
			return EINTR;
		return 0;
	}
}

void
aiok_cv_signal(struct kcondvar *cv)
{

	cv_signal(cv);
}

void
aiok_cv_broadcast(struct kcondvar *cv)
{

	cv_broadcast(cv);
}

struct proc *
aiok_lwp_proc(struct lwp *l)
{

	return l->l_proc;
}

struct proc *
aiok_curproc(void)
{

	return curproc;
}

void *
aiok_proc_aio(struct proc *p)
{

	/* Written once under p_lock; a pointer-sized load. */
	return (void *)p->p_aio;
}

void *
aiok_proc_aio_publish(struct proc *p, void *aio)
{
	void *cur;

	mutex_enter(p->p_lock);
	if (p->p_aio == NULL)
		p->p_aio = aio;
	cur = p->p_aio;
	mutex_exit(p->p_lock);
	return cur;
}

void
aiok_proc_aio_clear(struct proc *p)
{

	mutex_enter(p->p_lock);
	p->p_aio = NULL;
	mutex_exit(p->p_lock);
}

/* A regular file on tmpfs: its I/O is a copy, never a device wait. */
static int
aiok_vnode_in_memory(struct vnode *vp)
{

	return vp->v_type == VREG && vp->v_mount != NULL &&
	    strcmp(vp->v_mount->mnt_stat.f_fstypename, MOUNT_TMPFS) == 0;
}

struct file *
aiok_getfile(struct proc *p, int fd, struct aiok_fileinfo *fi, int *errorp)
{
	file_t *fp;
	struct vnode *vp;

	if (fd < 0 || (fp = fd_getfile2(p, fd)) == NULL) {
		*errorp = EBADF;
		return NULL;
	}
	fi->fi_readable = (fp->f_flag & FREAD) != 0;
	fi->fi_writable = (fp->f_flag & FWRITE) != 0;
	fi->fi_append = (fp->f_flag & FAPPEND) != 0;
	fi->fi_seekable = 0;
	fi->fi_memory = 0;
	if (fp->f_type == DTYPE_VNODE) {
		vp = fp->f_data;
		fi->fi_seekable = vp->v_type == VREG || vp->v_type == VBLK;
		fi->fi_memory = aiok_vnode_in_memory(vp);
	}
	*errorp = 0;
	return fp;
}

void
aiok_putfile(struct file *fp)
{

	(void)closef(fp);
}

int
aiok_fd_is_open(struct proc *p, int fd)
{
	file_t *fp;

	KASSERT(p == curproc);
	if (fd < 0 || (fp = fd_getfile(fd)) == NULL)
		return 0;
	fd_putfile(fd);
	return 1;
}

/* A uio over len bytes at user address buf of the current process. */
static void
aiok_uio_init(struct uio *uio, struct iovec *iov, int write, void *buf,
    unsigned long len)
{

	iov->iov_base = buf;
	iov->iov_len = len;
	uio->uio_iov = iov;
	uio->uio_iovcnt = 1;
	uio->uio_resid = len;
	uio->uio_offset = 0;
	uio->uio_rw = write ? UIO_WRITE : UIO_READ;
	/*
	 * The worker is an LWP of the process: its vmspace is the user's.
	 * (rumprun's kernel-thread workers: every vmspace is the kernel's.)
	 */
	uio->uio_vmspace = curproc->p_vmspace;
}

/*
 * As read(2) and write(2) do: a transfer cut short by a signal, or by a
 * stream that had no more, is a success with what it moved.
 */
static int
aiok_rw_result(int error, unsigned long len, const struct uio *uio,
    unsigned long *done)
{

	*done = len - uio->uio_resid;
	if (error != 0 && *done != 0 &&
	    (error == ERESTART || error == EINTR || error == EWOULDBLOCK))
		error = 0;
	if (error == ERESTART)
		error = EINTR;
	return error;
}

int
aiok_file_rw(struct file *fp, int write, void *buf, unsigned long len,
    long long off, unsigned long *done)
{
	struct iovec aiov;
	struct uio auio;
	off_t offset, *offp;
	int error, flags;

	aiok_uio_init(&auio, &aiov, write, buf, len);
	if (off >= 0) {
		offset = off;
		offp = &offset;
		flags = 0;
	} else {
		offp = &fp->f_offset;
		flags = FOF_UPDATE_OFFSET;
	}
	auio.uio_offset = *offp;
	if (write)
		error = (*fp->f_ops->fo_write)(fp, offp, &auio, fp->f_cred,
		    flags);
	else
		error = (*fp->f_ops->fo_read)(fp, offp, &auio, fp->f_cred,
		    flags);
	return aiok_rw_result(error, len, &auio, done);
}

int
aiok_read_resident(struct proc *p, int fd, void *buf, unsigned long len,
    long long off, unsigned long *done)
{
	file_t *fp;
	struct vnode *vp;
	int error;

	KASSERT(p == curproc);
	if (fd < 0 || (fp = fd_getfile(fd)) == NULL)
		return EBADF;
	error = EWOULDBLOCK;
	if ((fp->f_flag & FREAD) != 0 && fp->f_type == DTYPE_VNODE) {
		vp = fp->f_data;
		if (aiok_vnode_in_memory(vp))
			error = aiok_file_rw(fp, 0, buf, len, off, done);
	}
	fd_putfile(fd);
	return error;
}

int
aiok_file_fsync(struct file *fp, int dataonly)
{
	struct vnode *vp;
	int error;

	if (fp->f_type != DTYPE_VNODE)
		return EINVAL;
	vp = fp->f_data;
	vn_lock(vp, LK_EXCLUSIVE | LK_RETRY);
	error = VOP_FSYNC(vp, fp->f_cred,
	    FSYNC_WAIT | (dataonly ? FSYNC_DATAONLY : 0), 0, 0);
	VOP_UNLOCK(vp);
	return error;
}

/*
 * Streams a canceller can take a worker off.
 *
 * A worker that finds a pipe or socket not ready waits for it here rather
 * than inside fo_read/fo_write, so that it is not committed to any
 * transfer while it waits: aio_cancel ends the wait (aiok_stream_wake)
 * and the job is cancelled with nothing moved.  The worker sleeps on the
 * stream's own condition variable, under the stream's own lock, with the
 * condition the blocking transfer itself would wait for, so it is woken
 * by exactly what would wake a blocked read(2) or write(2); the canceller
 * broadcasts that condition variable, which the stream's other sleepers
 * take as a spurious wakeup.  (fo_poll cannot serve: it records its
 * caller in the file's selinfo, which only the select/poll machinery
 * may do; and a rump kernel's sleeps cannot be interrupted from outside.)
 *
 * Lock order: w_lock, then the stream's lock (pipe_lock, so_lock).
 * w_fp is set only while the worker waits, holding the job's reference to
 * the file, so the canceller never reaches a stream that is gone.
 */
#ifdef AIOK_RUMP
/*
 * Sockets live in librumpnet, which a rump kernel need not have: a vfs
 * component must load without it.  Where it is missing, no socket file
 * exists for these to be called on.
 */
#pragma weak sbwait
#pragma weak solockretry
#pragma weak solocked
#endif

struct aiok_waiter {
	kmutex_t	w_lock;
	struct file	*w_fp;		/* stream waited for, or NULL */
	int		w_write;	/* waiting for room, not for data */
	volatile bool	w_woken;	/* end the current or next wait */
};

struct aiok_waiter *
aiok_waiter_create(void)
{
	struct aiok_waiter *w;

	w = kmem_zalloc(sizeof(*w), KM_SLEEP);
	mutex_init(&w->w_lock, MUTEX_DEFAULT, IPL_NONE);
	return w;
}

void
aiok_waiter_destroy(struct aiok_waiter *w)
{

	KASSERT(w->w_fp == NULL);
	mutex_destroy(&w->w_lock);
	kmem_free(w, sizeof(*w));
}

/* Whether the waiting worker must stop waiting (cancel, exit, drain). */
static bool
aiok_stream_stop(struct aiok_waiter *w)
{

	return w->w_woken || aiok_curlwp_exiting();
}

/*
 * A read of our end (rpipe) waits on rpipe->pipe_rcv; the file reference
 * keeps rpipe.  A write goes to the peer and waits on its pipe_wcv: the
 * peer is counted busy meanwhile, as pipe_write() counts it, so that
 * pipeclose() of the other end waits for us before freeing it.
 */
static int
aiok_pipe_wait(struct aiok_waiter *w, struct pipe *rpipe, int write,
    unsigned long want)
{
	struct pipe *wpipe;
	struct pipebuf *bp;
	kmutex_t *lock = rpipe->pipe_lock;
	size_t space;
	int error = 0;

	mutex_enter(lock);
	if (!write) {
		while (!aiok_stream_stop(w) && rpipe->pipe_buffer.cnt == 0 &&
		    (rpipe->pipe_state & (PIPE_DIRECTR | PIPE_EOF)) == 0) {
			error = cv_wait_sig(&rpipe->pipe_rcv, lock);
			if (error != 0)
				break;
		}
		mutex_exit(lock);
		return error;
	}
	wpipe = rpipe->pipe_peer;
	if (wpipe == NULL) {		/* the write fails with EPIPE */
		mutex_exit(lock);
		return 0;
	}
	++wpipe->pipe_busy;
	bp = &wpipe->pipe_buffer;
	while (!aiok_stream_stop(w) &&
	    (wpipe->pipe_state & PIPE_EOF) == 0) {
		/*
		 * pipe_write()'s test: a write of at most PIPE_BUF bytes
		 * goes in whole or not at all; a longer one moves what
		 * fits.  Waiting for PIPE_BUF bytes of room (poll's
		 * POLLOUT) keeps a long write from trickling.
		 */
		space = bp->size - bp->cnt;
		if ((wpipe->pipe_state & PIPE_DIRECTW) == 0 &&
		    (space >= PIPE_BUF || space >= want))
			break;
		error = cv_wait_sig(&wpipe->pipe_wcv, lock);
		if (error != 0)
			break;
	}
	if (--wpipe->pipe_busy == 0) {
#ifdef PIPE_RESTART
		wpipe->pipe_state &= ~PIPE_RESTART;
#endif
		cv_broadcast(&wpipe->pipe_draincv);
	}
	mutex_exit(lock);
	return error;
}

/*
 * The conditions under which soreceive() and sosend() would not sleep,
 * for a transfer of want bytes (MSG_NBIO then gives no EWOULDBLOCK).
 */
static bool
aiok_socket_ready(struct socket *so, int write, unsigned long want)
{
	struct sockbuf *sb;
	long space;

	if (so->so_error != 0)
		return true;
	if (!write) {
		sb = &so->so_rcv;
		return soreadable(so) || sb->sb_cc >= want ||
		    (sb->sb_mb != NULL && sosendallatonce(so));
	}
	if ((so->so_state & SS_CANTSENDMORE) != 0)
		return true;
	sb = &so->so_snd;
	space = sbspace(sb);
	if (sosendallatonce(so))	/* too long is EMSGSIZE at once */
		return space >= (long)want || want > sb->sb_hiwat;
	return space >= (long)want || space >= (long)sb->sb_lowat;
}

static int
aiok_socket_wait(struct aiok_waiter *w, struct socket *so, int write,
    unsigned long want)
{
	int error = 0;

	solock(so);
	while (!aiok_stream_stop(w) && !aiok_socket_ready(so, write, want)) {
		/* Sets SB_NOTIFY, so that sowakeup() broadcasts. */
		error = sbwait(write ? &so->so_snd : &so->so_rcv);
		if (error != 0)
			break;
	}
	sounlock(so);
	return error;
}

void
aiok_stream_wait(struct aiok_waiter *w, struct file *fp, int write,
    unsigned long want)
{
	int error;

	mutex_enter(&w->w_lock);
	if (w->w_woken) {
		w->w_woken = false;
		mutex_exit(&w->w_lock);
		return;
	}
	w->w_fp = fp;
	w->w_write = write;
	mutex_exit(&w->w_lock);

	switch (fp->f_type) {
	case DTYPE_PIPE:
		error = aiok_pipe_wait(w, fp->f_pipe, write, want);
		break;
	case DTYPE_SOCKET:
		error = aiok_socket_wait(w, fp->f_socket, write, want);
		break;
	default:
		/*
		 * aiok_file_rw_nowait blocks in the transfer for these, so
		 * only a file the program made non-blocking (a FIFO or a
		 * terminal opened O_NONBLOCK) says EWOULDBLOCK and comes
		 * here.  There is nothing to sleep on: look again after a
		 * tick, so that the worker waits without spinning and a
		 * cancel ends the job within a tick.
		 */
		error = kpause("aiopoll", true, 1, NULL);
		if (error == EWOULDBLOCK)
			error = 0;
		break;
	}

	mutex_enter(&w->w_lock);
	w->w_fp = NULL;
	w->w_woken = false;
	mutex_exit(&w->w_lock);
	/*
	 * Signals are blocked in a worker, but a stop cannot be: an
	 * interrupted sleep that is not the LWP's exit pauses a tick, or
	 * the worker would spin between the transfer and the wait.
	 */
	if (error != 0 && !aiok_curlwp_exiting())
		(void)kpause("aiostop", false, 1, NULL);
}

void
aiok_stream_wake(struct aiok_waiter *w)
{
	struct file *fp;
	struct pipe *pipe;
	struct socket *so;

	mutex_enter(&w->w_lock);
	w->w_woken = true;
	if ((fp = w->w_fp) != NULL) {
		switch (fp->f_type) {
		case DTYPE_PIPE:
			pipe = fp->f_pipe;
			mutex_enter(pipe->pipe_lock);
			if (!w->w_write)
				cv_broadcast(&pipe->pipe_rcv);
			else if (pipe->pipe_peer != NULL)
				cv_broadcast(&pipe->pipe_peer->pipe_wcv);
			mutex_exit(pipe->pipe_lock);
			break;
		case DTYPE_SOCKET:
			so = fp->f_socket;
			solock(so);
			cv_broadcast(w->w_write ? &so->so_snd.sb_cv :
			    &so->so_rcv.sb_cv);
			sounlock(so);
			break;
		}
	}
	mutex_exit(&w->w_lock);
}

int
aiok_file_rw_nowait(struct file *fp, int write, void *buf,
    unsigned long len, unsigned long *done)
{
	struct file nbfp;
	struct socket *so;
	struct iovec aiov;
	struct uio auio;
	int error, flags;

	switch (fp->f_type) {
	case DTYPE_PIPE:
		/*
		 * A pipe takes non-blocking mode from the open file
		 * (f_flag), not from the call, and the program's file is
		 * not ours to change.  So the transfer goes through a
		 * private file naming the same pipe with FNONBLOCK: never
		 * in a descriptor table, never referenced beyond this
		 * call.  pipe_read() and pipe_write() read f_data and
		 * f_flag of it, nothing else.
		 */
		memset(&nbfp, 0, sizeof(nbfp));
		nbfp.f_type = DTYPE_PIPE;
		nbfp.f_ops = fp->f_ops;
		nbfp.f_data = fp->f_data;
		nbfp.f_cred = fp->f_cred;
		nbfp.f_flag = (fp->f_flag & (FREAD | FWRITE)) | FNONBLOCK;
		nbfp.f_count = 1;
		return aiok_file_rw(&nbfp, write, buf, len, -1, done);
	case DTYPE_SOCKET:
		break;
	default:
		/*
		 * FIFOs, terminals and devices: no way to ask them without
		 * committing to the transfer.  It blocks, as before, and
		 * the job is not cancellable once a worker has it; unless
		 * the program opened the file non-blocking, when its
		 * EWOULDBLOCK sends the worker to aiok_stream_wait.
		 */
		return aiok_file_rw(fp, write, buf, len, -1, done);
	}

	/* soo_read()/soo_write() with MSG_NBIO: the socket's own flags stay. */
	so = fp->f_socket;
	aiok_uio_init(&auio, &aiov, write, buf, len);
	if (write) {
		error = (*so->so_send)(so, NULL, &auio, NULL, NULL, MSG_NBIO,
		    curlwp);
	} else {
		flags = MSG_NBIO;
		error = (*so->so_receive)(so, NULL, &auio, NULL, NULL,
		    &flags);
	}
	return aiok_rw_result(error, len, &auio, done);
}

int
aiok_copyin(const void *uaddr, void *kaddr, unsigned long len)
{

	return copyin(uaddr, kaddr, len);
}

int
aiok_copyout(const void *kaddr, void *uaddr, unsigned long len)
{

	return copyout(kaddr, uaddr, len);
}

#ifndef AIOK_RUMPRUN
/*
 * The worker LWP's first function, in assembly so that no frame of the
 * module is left on its stack when it leaves.  It runs the Rust body
 * (aio_rs_worker_run), then aiok_worker_leave: in a kernel that calls
 * lwp_exit() and never returns; in a rump kernel, for a departed remote
 * client, it gives the LWP up and returns it, and the trampoline jumps
 * (does not call) to lwp_userret(), which ends the host thread with
 * pthread_exit().  pthread_exit() unwinds the thread's stack, reading
 * each return address on it: had a module frame stayed, its return
 * address would point into module text that an unload may already have
 * unmapped (the process's AIO state, and so the last hold on the module,
 * is gone by then).  With the jump, lwp_userret() returns, as far as the
 * unwinder can tell, into the rump kernel's own thread entry.
 */
void	aiok_worker_trampoline(void *);
__asm(
"	.text\n"
"	.p2align 4\n"
"	.type	aiok_worker_trampoline, @function\n"
"aiok_worker_trampoline:\n"
"	.cfi_startproc\n"
"	subq	$8, %rsp\n"
"	.cfi_adjust_cfa_offset 8\n"
"	call	aio_rs_worker_run@PLT\n"
"	call	aiok_worker_leave@PLT\n"
"	addq	$8, %rsp\n"
"	.cfi_adjust_cfa_offset -8\n"
"	movq	%rax, %rdi\n"
"	jmp	lwp_userret@PLT\n"
"	.cfi_endproc\n"
"	.size	aiok_worker_trampoline, . - aiok_worker_trampoline\n"
);

int
aiok_worker_create(struct proc *p, void *arg)
{
	struct lwp *l;
	kmutex_t *lmtx __unused;
	vaddr_t uaddr;
	sigset_t mask;
	int error;

	uaddr = uvm_uarea_alloc();
	if (uaddr == 0)
		return EAGAIN;
	sigfillset(&mask);
#ifdef AIOK_LWP_CREATE_HAS_SIGMASK
	error = lwp_create(curlwp, p, uaddr, 0, NULL, 0,
	    aiok_worker_trampoline, arg, &l, SCHED_OTHER, &mask, NULL);
#else
	error = lwp_create(curlwp, p, uaddr, 0, NULL, 0,
	    aiok_worker_trampoline, arg, &l, SCHED_OTHER);
#endif
	if (error != 0) {
		uvm_uarea_free(uaddr);
		return error;
	}
#if defined(AIOK_HAS_LWP_START)
	lwp_start(l, 0);
#else
	/*
	 * Make the LWP runnable under its lock, as fork1() does.  The lock
	 * released is the one taken: in a kernel l_mutex cannot change while
	 * it is held, so this is lwp_unlock(); in a rump kernel the new
	 * thread may switch l_mutex to its virtual CPU's as soon as
	 * sched_enqueue() lets it run, and lwp_unlock() would then release a
	 * mutex nobody holds.
	 */
	mutex_enter(p->p_lock);
#ifndef AIOK_LWP_CREATE_HAS_SIGMASK
	l->l_sigmask = mask;
#endif
	lwp_lock(l);
	lmtx = l->l_mutex;
	l->l_stat = LSRUN;
	l->l_priority = MAXPRI_USER;
	sched_enqueue(l, false);
	mutex_spin_exit(lmtx);
	mutex_exit(p->p_lock);
#endif
	return 0;
}
#else /* AIOK_RUMPRUN */
static void
aiok_worker_kthread(void *arg)
{

	aio_rs_worker_run(arg);
	kthread_exit(0);
}

int
aiok_worker_create(struct proc *p, void *arg)
{

	return kthread_create(PRI_NONE, KTHREAD_MPSAFE, NULL,
	    aiok_worker_kthread, arg, NULL, "aiow%d", (int)p->p_pid);
}
#endif /* AIOK_RUMPRUN */

/*
 * Whether a departed rump client's process is being drained: the server
 * marks the LWPs it finds LW_RUMP_QEXIT and then sets PS_RUMP_LWPEXIT; a
 * worker started by a call still running in that moment is not marked,
 * and without this test it would stay, and keep the process, forever.
 * A kernel never sets either bit (both are reserved for rump).
 */
static int
aiok_rump_draining(struct lwp *l)
{

	return (l->l_flag & LW_RUMP_QEXIT) != 0 ||
	    (l->l_proc->p_sflag & PS_RUMP_LWPEXIT) != 0;
}

/*
 * Whether the calling LWP must leave: exit_lwps() (exit, exec) sets
 * LW_WEXIT on it, a rump kernel drains a departed remote client's
 * process.
 */
int
aiok_curlwp_exiting(void)
{

	return (curlwp->l_flag & LW_WEXIT) != 0 || aiok_rump_draining(curlwp);
}

#ifndef AIOK_RUMPRUN	/* kernel threads there end in aiok_worker_kthread */
struct lwp *
aiok_worker_leave(void)
{
	struct lwp *l = curlwp;
	struct proc *p = l->l_proc;

	if (aiok_rump_draining(l)) {
		/*
		 * A departed remote client's LWP in a rump kernel, whose
		 * lwp_exit() only cancels an LWP that never ran: a running
		 * one leaves through lwp_userret() (the trampoline's jump).
		 * Dropping the LWP's reference first makes leaving the CPU
		 * free it, and with the process's last LWP the process, whose
		 * exit hooks then free its AIO state.  Without it the
		 * process, its descriptors and its AIO state would outlive
		 * the client.
		 */
		if (aiok_rump_releaselwp == NULL)
			panic("netbsd-aio: LW_RUMP_QEXIT outside a rump kernel");
		/* lwp_userret() ends the thread only for a marked LWP. */
		mutex_enter(p->p_lock);
		l->l_flag |= LW_RUMP_QEXIT;
		mutex_exit(p->p_lock);
		(*aiok_rump_releaselwp)();
		return l;
	}
	/* Joinable: exit_lwps() of the exit or exec reaps it. */
	lwp_exit(l);
	panic("netbsd-aio: lwp_exit returned");
}
#endif

void
aiok_signal(struct proc *p, int signo, void *value)
{
	ksiginfo_t ksi;

	KSI_INIT(&ksi);
	ksi.ksi_signo = signo;
	ksi.ksi_code = SI_ASYNCIO;
	ksi.ksi_value.sival_ptr = value;
	mutex_enter(AIOK_PROC_LOCK);
	kpsignal(p, &ksi, NULL);
	mutex_exit(AIOK_PROC_LOCK);
}

unsigned long long
aiok_uptime_ns(void)
{
	struct timespec ts;

	nanouptime(&ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

unsigned int
aiok_ncpu(void)
{

	return (unsigned int)ncpu;
}

void *
aiok_alloc(unsigned long len)
{

	return kmem_alloc(len, KM_SLEEP);
}

void
aiok_free(void *p, unsigned long len)
{

	kmem_free(p, len);
}

void
aiok_panic(const char *msg)
{

	panic("netbsd-aio: %s", msg);
}

/*
 * System call entry points: NetBSD's handler signature, arguments taken
 * with SCARG, bodies in Rust.
 */
int
sys_aio_read(struct lwp *l, const struct sys_aio_read_args *uap,
    register_t *retval)
{

	return aio_rs_read(l, SCARG(uap, aiocbp), retval);
}

int
sys_aio_write(struct lwp *l, const struct sys_aio_write_args *uap,
    register_t *retval)
{

	return aio_rs_write(l, SCARG(uap, aiocbp), retval);
}

int
sys_aio_fsync(struct lwp *l, const struct sys_aio_fsync_args *uap,
    register_t *retval)
{

	return aio_rs_fsync(l, SCARG(uap, op), SCARG(uap, aiocbp), retval);
}

int
sys_aio_error(struct lwp *l, const struct sys_aio_error_args *uap,
    register_t *retval)
{
#ifdef AIOK_RUMPRUN
	static unsigned int inprogress;	/* answers; races only lose counts */
#endif
	int error;

	error = aio_rs_error(l, SCARG(uap, aiocbp), retval);
#ifdef AIOK_RUMPRUN
	/*
	 * rumprun's scheduler never preempts a thread: a program polling
	 * aio_error() in a loop would keep the workers off the CPU for good
	 * (seen: t_aio_error_return:status_consistency never ended, and its
	 * own clock check never fired).  Every 16th answer of "in progress"
	 * gives the CPU away once: a rump kernel's kpause() is a hypervisor
	 * sleep, and one that ends now lets every runnable thread run first
	 * (lib/libbmk_rumpuser/rumpuser_clock.c).  Not every answer: a
	 * program that sweeps its list and yields after a sweep would pay a
	 * switch per request (measured: 0.80 of NetBSD's C component polling
	 * 32 requests).  Never in a kernel, where a timeout of 0 means no
	 * timeout.
	 */
	if (error == 0 && *retval == EINPROGRESS && (++inprogress & 15) == 0)
		(void)kpause("aioyield", false, 0, NULL);
#endif
	return error;
}

int
sys_aio_return(struct lwp *l, const struct sys_aio_return_args *uap,
    register_t *retval)
{

	return aio_rs_return(l, SCARG(uap, aiocbp), retval);
}

int
sys_aio_cancel(struct lwp *l, const struct sys_aio_cancel_args *uap,
    register_t *retval)
{

	return aio_rs_cancel(l, SCARG(uap, fildes), SCARG(uap, aiocbp),
	    retval);
}

int
sys___aio_suspend50(struct lwp *l, const struct sys___aio_suspend50_args *uap,
    register_t *retval)
{

	return aio_rs_suspend(l, SCARG(uap, list), SCARG(uap, nent),
	    SCARG(uap, timeout), retval);
}

int
sys_lio_listio(struct lwp *l, const struct sys_lio_listio_args *uap,
    register_t *retval)
{

	return aio_rs_lio_listio(l, SCARG(uap, mode), SCARG(uap, list),
	    SCARG(uap, nent), SCARG(uap, sig), retval);
}

static const struct syscall_package aio_syscalls[] = {
	{ SYS_aio_cancel, 0, (sy_call_t *)sys_aio_cancel },
	{ SYS_aio_error, 0, (sy_call_t *)sys_aio_error },
	{ SYS_aio_fsync, 0, (sy_call_t *)sys_aio_fsync },
	{ SYS_aio_read, 0, (sy_call_t *)sys_aio_read },
	{ SYS_aio_return, 0, (sy_call_t *)sys_aio_return },
	{ SYS___aio_suspend50, 0, (sy_call_t *)sys___aio_suspend50 },
	{ SYS_aio_write, 0, (sy_call_t *)sys_aio_write },
	{ SYS_lio_listio, 0, (sy_call_t *)sys_lio_listio },
	{ 0, 0, NULL },
};

static struct sysctllog *aio_sysctllog;
static void *aio_exithook;
static void *aio_exechook;

/*
 * Both hooks run after every other LWP of the process is gone (exit1()
 * and execve call exit_lwps() first, and our workers sleep interruptibly
 * for it): what is left are queued jobs, cancelled without notification,
 * and the state.  An exec must not leave them: the next request would
 * start a worker that runs the old image's jobs against the new one.
 */
static void
aio_exit_hook(struct proc *p, void *arg)
{

	if (p->p_aio != NULL)
		aio_rs_proc_exit(p);
}

static int
aio_sysctl_common(SYSCTLFN_ARGS, int which)
{
	struct sysctlnode node;
	int error, value;

	value = (int)aio_rs_sysctl_get(which);
	node = *rnode;
	node.sysctl_data = &value;
	error = sysctl_lookup(SYSCTLFN_CALL(&node));
	if (error != 0 || newp == NULL)
		return error;
	return aio_rs_sysctl_set(which, value);
}

static int
aio_sysctl_max(SYSCTLFN_ARGS)
{

	return aio_sysctl_common(SYSCTLFN_CALL(rnode), AIOK_SYSCTL_AIO_MAX);
}

static int
aio_sysctl_listio_max(SYSCTLFN_ARGS)
{

	return aio_sysctl_common(SYSCTLFN_CALL(rnode),
	    AIOK_SYSCTL_AIO_LISTIO_MAX);
}

static int
aio_sysctl_workers(SYSCTLFN_ARGS)
{

	return aio_sysctl_common(SYSCTLFN_CALL(rnode),
	    AIOK_SYSCTL_AIO_WORKERS);
}

static int
aio_sysctl_init(void)
{
	int error;

	error = sysctl_createv(&aio_sysctllog, 0, NULL, NULL,
	    CTLFLAG_PERMANENT | CTLFLAG_IMMEDIATE, CTLTYPE_INT, "posix_aio",
	    SYSCTL_DESCR("Version of IEEE Std 1003.1 and its "
	    "Asynchronous I/O option to which the system attempts "
	    "to conform"), NULL, _POSIX_ASYNCHRONOUS_IO, NULL, 0,
	    CTL_KERN, CTL_CREATE, CTL_EOL);
	if (error == 0)
		error = sysctl_createv(&aio_sysctllog, 0, NULL, NULL,
		    CTLFLAG_PERMANENT | CTLFLAG_READWRITE, CTLTYPE_INT,
		    "aio_listio_max",
		    SYSCTL_DESCR("Maximum number of asynchronous I/O "
		    "operations in a single list I/O call, and per process"),
		    aio_sysctl_listio_max, 0, NULL, 0,
		    CTL_KERN, CTL_CREATE, CTL_EOL);
	if (error == 0)
		error = sysctl_createv(&aio_sysctllog, 0, NULL, NULL,
		    CTLFLAG_PERMANENT | CTLFLAG_READWRITE, CTLTYPE_INT,
		    "aio_max",
		    SYSCTL_DESCR("Maximum number of asynchronous I/O "
		    "operations in the system"),
		    aio_sysctl_max, 0, NULL, 0,
		    CTL_KERN, CTL_CREATE, CTL_EOL);
	if (error == 0)
		error = sysctl_createv(&aio_sysctllog, 0, NULL, NULL,
		    CTLFLAG_PERMANENT | CTLFLAG_READWRITE, CTLTYPE_INT,
		    "aio_workers",
		    SYSCTL_DESCR("Maximum number of asynchronous I/O "
		    "worker LWPs per process"),
		    aio_sysctl_workers, 0, NULL, 0,
		    CTL_KERN, CTL_CREATE, CTL_EOL);
	return error;
}

#if !defined(AIOK_RUMP)
/*
 * Which kernel loaded the module: only a rump kernel has
 * rump_lwproc_releaselwp, which a worker of a departed remote client
 * needs (aiok_worker_leave).  Looked up, not linked: a kernel's loader
 * would refuse a module that names a symbol the kernel lacks.
 */
static void
aiok_rump_probe(void)
{
	unsigned long va;

	if (ksyms_getval(NULL, "rump_lwproc_releaselwp", &va,
	    KSYMS_EXTERN) == 0)
		aiok_rump_releaselwp = (void (*)(void))va;
	else
		aiok_rump_releaselwp = NULL;
}
#endif

MODULE(MODULE_CLASS_MISC, aio, NULL);

static int
aio_modcmd(modcmd_t cmd, void *arg)
{
	int error;

	switch (cmd) {
	case MODULE_CMD_INIT:
#if !defined(AIOK_RUMP)
		aiok_rump_probe();
#endif
		error = aio_rs_init();
		if (error != 0)
			return error;
		/*
		 * The hooks before the calls: a process that gets AIO state
		 * must find them in place when it exits or execs.
		 */
		aio_exithook = exithook_establish(aio_exit_hook, NULL);
		aio_exechook = exechook_establish(aio_exit_hook, NULL);
		if (aio_exithook == NULL || aio_exechook == NULL) {
			error = ENOMEM;
			goto fail_hooks;
		}
		error = aio_sysctl_init();
		if (error != 0)
			goto fail_sysctl;
		error = syscall_establish(NULL, aio_syscalls);
		if (error != 0)
			goto fail_sysctl;
		return 0;
	fail_sysctl:
		sysctl_teardown(&aio_sysctllog);
	fail_hooks:
		if (aio_exechook != NULL)
			exechook_disestablish(aio_exechook);
		if (aio_exithook != NULL)
			exithook_disestablish(aio_exithook);
		aio_exechook = aio_exithook = NULL;
		return error;
	case MODULE_CMD_FINI:
		/*
		 * Take the calls away first so that no process can start
		 * using AIO behind the check, then refuse while one still
		 * has AIO state or a hook is freeing some.
		 */
		error = syscall_disestablish(NULL, aio_syscalls);
		if (error != 0)
			return error;
		error = aio_rs_fini();
		if (error != 0) {
			(void)syscall_establish(NULL, aio_syscalls);
			return error;
		}
		sysctl_teardown(&aio_sysctllog);
		exechook_disestablish(aio_exechook);
		exithook_disestablish(aio_exithook);
		aio_exechook = aio_exithook = NULL;
		return 0;
	default:
		return ENOTTY;
	}
}
