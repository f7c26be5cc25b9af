//! NetBSD's user ABI for AIO: the numbers a NetBSD program passes to and
//! reads from the `aio` system calls.
//!
//! The syscall layer speaks these values on every host; the Linux host maps
//! glibc's numbers onto them at its C boundary.  The byte layout of
//! `struct aiocb` lives with the code that copies it (see
//! [`netbsd_aiocb`]), pinned against the real headers by the binding layer.

/// `aiocb._state`: the job was never submitted, or its result was collected.
pub const JOB_NONE: i32 = 0;
/// `aiocb._state`: the job is queued or running.
pub const JOB_WIP: i32 = 1;
/// `aiocb._state`: `_errno`/`_retval` hold the result.
pub const JOB_DONE: i32 = 2;

/// `aio_cancel` results.
pub const AIO_CANCELED: isize = 1;
/// The job could not be cancelled (it is running).
pub const AIO_NOTCANCELED: isize = 2;
/// Nothing to cancel: every matching job has completed.
pub const AIO_ALLDONE: isize = 3;

/// `aio_lio_opcode` values.
pub const LIO_NOP: i32 = 0;
/// Write request in a `lio_listio` list.
pub const LIO_WRITE: i32 = 1;
/// Read request in a `lio_listio` list.
pub const LIO_READ: i32 = 2;
/// `lio_listio` mode: return once queued.
pub const LIO_NOWAIT: i32 = 0;
/// `lio_listio` mode: return when every job is done.
pub const LIO_WAIT: i32 = 1;

/// `sigev_notify` values.
pub const SIGEV_NONE: i32 = 0;
/// Post `sigev_signo` with `sigev_value`.
pub const SIGEV_SIGNAL: i32 = 1;
/// Call `sigev_notify_function` in a new thread (libc's business on NetBSD).
pub const SIGEV_THREAD: i32 = 2;
/// Scheduler activations upcall; NetBSD has not supported it since 5.0.
pub const SIGEV_SA: i32 = 3;

/// `si_code` of an AIO completion signal.
pub const SI_ASYNCIO: i32 = -3;

/// `aio_fsync` operations (the `open(2)` flags).
pub const O_SYNC: i32 = 0x0080;
/// Data-only synchronisation.
pub const O_DSYNC: i32 = 0x0001_0000;

/// Default of `kern.aio_listio_max`: the longest list, and the per-process
/// job limit.
pub const AIO_LISTIO_MAX: usize = 512;
/// Default of `kern.aio_max`: jobs in flight in the whole system.
pub const AIO_MAX: usize = 8192;
/// Largest `aio_reqprio` accepted.  Priorities lower a job's priority
/// relative to the submitter's; this engine records but does not use them.
pub const AIO_PRIO_DELTA_MAX: i32 = 20;
/// `_POSIX_ASYNCHRONOUS_IO`, the value of `kern.posix_aio`.
pub const POSIX_ASYNCHRONOUS_IO: i32 = 200_112;
/// Number of signals on NetBSD (`NSIG`); valid signals are 1..NSIG-1.
pub const NSIG: i32 = 64;
/// `SSIZE_MAX` on the LP64 ports.
pub const SSIZE_MAX: usize = isize::MAX as usize;

/// Byte layout of NetBSD/amd64 `struct aiocb` (88 bytes, 8-aligned) and
/// `struct sigevent` (32 bytes).  Host code that copies an aiocb as bytes
/// decodes it with these offsets; the binding layer asserts them against the
/// bindgen layout of the real header.
pub mod netbsd_aiocb {
    /// `sizeof(struct aiocb)`.
    pub const SIZE: usize = 88;
    /// `aio_offset` (`off_t`).
    pub const OFFSET: usize = 0;
    /// `aio_buf` (`void *`).
    pub const BUF: usize = 8;
    /// `aio_nbytes` (`size_t`).
    pub const NBYTES: usize = 16;
    /// `aio_fildes` (`int`).
    pub const FILDES: usize = 24;
    /// `aio_lio_opcode` (`int`).
    pub const LIO_OPCODE: usize = 28;
    /// `aio_reqprio` (`int`).
    pub const REQPRIO: usize = 32;
    /// `aio_sigevent` (`struct sigevent`).
    pub const SIGEVENT: usize = 40;
    /// `_state` (`int`, kernel-private).
    pub const STATE: usize = 72;
    /// `_errno` (`int`, kernel-private).
    pub const ERRNO: usize = 76;
    /// `_retval` (`ssize_t`, kernel-private).
    pub const RETVAL: usize = 80;

    /// `sizeof(struct sigevent)`.
    pub const SIGEV_SIZE: usize = 32;
    /// `sigev_notify`.
    pub const SIGEV_NOTIFY: usize = 0;
    /// `sigev_signo`.
    pub const SIGEV_SIGNO: usize = 4;
    /// `sigev_value` (`union sigval`, pointer sized).
    pub const SIGEV_VALUE: usize = 8;
    /// `sigev_notify_function`.
    pub const SIGEV_FUNCTION: usize = 16;
    /// `sigev_notify_attributes`.
    pub const SIGEV_ATTRIBUTES: usize = 24;

    /// `sizeof(struct timespec)`: `time_t tv_sec; long tv_nsec`.
    pub const TIMESPEC_SIZE: usize = 16;
}
