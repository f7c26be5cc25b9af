//! The `sys_aio_*` entry points.
//!
//! Arguments arrive as NetBSD passes them (user pointers, ints in NetBSD's
//! numbering); each handler decodes them, finds or creates the process's
//! AIO state through the host, calls the engine and returns
//! `Ok(retval[0])` or the syscall's errno.  No policy lives here.  The NetBSD
//! module wraps these in C-ABI handlers; the Linux host's C API calls them
//! after translating glibc's numbering.

use core::ops::Deref;

use crate::abi::{O_DSYNC, O_SYNC};
use crate::engine::{cancel, submit, suspend, AioProc, System};
use crate::errno::Errno;
use crate::os::{Aiocb, Os, Sigevent, SyncKind, Timespec, UserPtr};

/// What a host provides to the handlers: the current process's services and
/// its AIO state.
pub trait ProcHost {
    /// The host's OS services.
    type Os: Os;
    /// The services of the calling process.
    fn os(&self) -> Self::Os;
    /// The system-wide limits.
    fn sys(&self) -> &'static System;
    /// How a handler holds the process's AIO state for the length of one
    /// call.  A host whose process keeps a reference that outlives every
    /// call of that process (NetBSD: `p_aio`, released by the exit hook)
    /// lends a plain `&AioProc`: no reference count is touched per system
    /// call (a shared counter written by every call costs a contended
    /// cache line against the workers).
    type Aio<'a>: Deref<Target = AioProc<Self::Os>>
    where
        Self: 'a;
    /// The process's AIO state, if it has any.
    fn aio(&self) -> Option<Self::Aio<'_>>;
    /// The process's AIO state, created on first use.  Two racing LWPs must
    /// end up with the same state.
    fn aio_create(&self) -> Result<Self::Aio<'_>, Errno>;
}

/// Syscall 402, `aio_read(struct aiocb *)`.
pub fn sys_aio_read<H: ProcHost>(h: &H, aiocbp: UserPtr<Aiocb>) -> Result<isize, Errno> {
    h.aio_create()?.submit_rw(aiocbp, false).map(|()| 0)
}

/// Syscall 405, `aio_write(struct aiocb *)`.
pub fn sys_aio_write<H: ProcHost>(h: &H, aiocbp: UserPtr<Aiocb>) -> Result<isize, Errno> {
    h.aio_create()?.submit_rw(aiocbp, true).map(|()| 0)
}

/// Syscall 401, `aio_fsync(int op, struct aiocb *)`.
pub fn sys_aio_fsync<H: ProcHost>(h: &H, op: i32, aiocbp: UserPtr<Aiocb>) -> Result<isize, Errno> {
    let kind = match op {
        O_SYNC => SyncKind::Full,
        O_DSYNC => SyncKind::Data,
        _ => return Err(Errno::EINVAL),
    };
    h.aio_create()?.submit_fsync(kind, aiocbp).map(|()| 0)
}

/// Syscall 400, `aio_error(const struct aiocb *)`.
pub fn sys_aio_error<H: ProcHost>(h: &H, aiocbp: UserPtr<Aiocb>) -> Result<isize, Errno> {
    submit::aio_error(&h.os(), h.aio().as_deref(), aiocbp)
}

/// Syscall 403, `aio_return(struct aiocb *)`.
pub fn sys_aio_return<H: ProcHost>(h: &H, aiocbp: UserPtr<Aiocb>) -> Result<isize, Errno> {
    let r = submit::aio_return(&h.os(), aiocbp)?;
    if h.sys().counts_outstanding() {
        if let Some(a) = h.aio() {
            a.collected();
        }
    }
    Ok(r)
}

/// Syscall 399, `aio_cancel(int fildes, struct aiocb *)`.
pub fn sys_aio_cancel<H: ProcHost>(h: &H, fd: i32, aiocbp: UserPtr<Aiocb>) -> Result<isize, Errno> {
    cancel::aio_cancel(&h.os(), h.aio().as_deref(), fd, aiocbp)
}

/// Syscall 438, `__aio_suspend50(const struct aiocb *const *, int, const
/// struct timespec *)`.
pub fn sys_aio_suspend<H: ProcHost>(
    h: &H,
    list: UserPtr<UserPtr<Aiocb>>,
    nent: i32,
    timeout: UserPtr<Timespec>,
) -> Result<isize, Errno> {
    suspend::aio_suspend(
        &h.os(),
        h.sys(),
        h.aio(),
        || h.aio_create(),
        list,
        nent,
        timeout,
    )
}

/// Syscall 406, `lio_listio(int mode, struct aiocb *const *, int nent,
/// struct sigevent *)`.
pub fn sys_lio_listio<H: ProcHost>(
    h: &H,
    mode: i32,
    list: UserPtr<UserPtr<Aiocb>>,
    nent: i32,
    sig: UserPtr<Sigevent>,
) -> Result<isize, Errno> {
    h.aio_create()?.lio_listio(mode, list, nent, sig)
}
