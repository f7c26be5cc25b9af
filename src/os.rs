//! The OS services the portable engine is written against.
//!
//! Like a Tock capsule sees hardware only through HIL traits, the engine sees
//! the operating system only through [`Os`] and the two lock traits below.
//! Three implementations exist: the NetBSD kernel (also used inside a rump
//! kernel), Linux userspace (the test host), and a fake used by unit tests.
//!
//! Everything that touches user memory takes a typed [`UserPtr`]: an address
//! in the calling process that the engine never dereferences; only the
//! host's copyin/copyout routines (or the host's file I/O into a user
//! buffer) read or write it, and they fail with `EFAULT` on a bad address.

use core::marker::PhantomData;

use alloc::boxed::Box;

use crate::errno::Errno;

/// A mutual-exclusion lock with no data of its own; [`crate::sync::Mutex`]
/// wraps it around the data it protects.
///
/// # Safety
///
/// Implementations must provide mutual exclusion: between a `lock` that
/// returns and the matching `unlock`, no other `lock` on the same object
/// returns.  `crate::sync::Mutex` relies on this for the soundness of its
/// `&mut` access.
pub unsafe trait RawMutex: Send + Sync {
    /// A new, unlocked lock.
    fn new() -> Self;
    /// Acquires the lock, sleeping as long as needed.
    fn lock(&self);
    /// Releases the lock.
    ///
    /// # Safety
    ///
    /// The calling thread holds the lock (it returned from `lock` and has not
    /// unlocked since).
    unsafe fn unlock(&self);
}

/// How a condition-variable wait may end early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sleep {
    /// Only a wakeup ends it (exit drain).
    Uninterruptible,
    /// A worker waiting for jobs: ends with `Interrupted` only when the
    /// worker must leave because its process is exiting (NetBSD sets
    /// LW_WEXIT on every LWP before the exit and exec hooks run; a rump
    /// kernel sets LW_RUMP_QEXIT when a remote client goes; hosts whose workers
    /// die with the process never report it), and with `TimedOut` after
    /// the idle timeout if one is given.
    Worker {
        /// Idle time after which a spare worker retires.
        timeout_ns: Option<u64>,
    },
    /// A caught signal ends it, and so does the timeout if one is given
    /// (`aio_suspend`, `lio_listio(LIO_WAIT)`).
    Interruptible {
        /// Relative timeout in nanoseconds; `None` waits without limit.
        timeout_ns: Option<u64>,
    },
}

/// Why a condition-variable wait returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// Signalled, or a spurious wakeup: the caller re-checks its condition.
    Woken,
    /// The timeout passed.
    TimedOut,
    /// A signal is pending for the thread.
    Interrupted,
}

/// A condition variable paired with the raw lock type `M`.
///
/// # Safety
///
/// `wait` must release `m` and block atomically with respect to `signal` and
/// `broadcast` (no lost wakeup), and hold `m` again when it returns.
pub unsafe trait RawCondVar<M: RawMutex>: Send + Sync {
    /// A new condition variable.
    fn new() -> Self;
    /// Sleeps until woken, releasing `m` meanwhile.
    ///
    /// # Safety
    ///
    /// The calling thread holds `m`; it holds it again on return.
    unsafe fn wait(&self, m: &M, how: Sleep) -> Wakeup;
    /// Wakes one waiter.  A waker that changed the condition under `m`
    /// may call this with `m` held or after releasing it (a waiter checks
    /// the condition under `m` before it sleeps, so it either sees the
    /// change or is asleep by the time the waker has `m`).
    fn signal(&self);
    /// Wakes every waiter; `m` held or not, as for `signal`.
    fn broadcast(&self);
}

/// An address in the user process, typed by what it points to.  The engine
/// never dereferences it.
pub struct UserPtr<T> {
    addr: usize,
    _to: PhantomData<fn() -> T>,
}

impl<T> UserPtr<T> {
    /// A user pointer with the given address.
    pub const fn new(addr: usize) -> Self {
        UserPtr {
            addr,
            _to: PhantomData,
        }
    }
    /// The null pointer.
    pub const fn null() -> Self {
        Self::new(0)
    }
    /// The address.
    pub const fn addr(self) -> usize {
        self.addr
    }
    /// Whether this is the null pointer.
    pub const fn is_null(self) -> bool {
        self.addr == 0
    }
}

impl<T> Clone for UserPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for UserPtr<T> {}
impl<T> PartialEq for UserPtr<T> {
    fn eq(&self, o: &Self) -> bool {
        self.addr == o.addr
    }
}
impl<T> Eq for UserPtr<T> {}
impl<T> core::fmt::Debug for UserPtr<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#x}", self.addr)
    }
}

/// Tag for a user `struct aiocb` (layout chosen by the host's ABI).
pub enum Aiocb {}
/// Tag for a user `struct sigevent`.
pub enum Sigevent {}
/// Tag for a user `struct timespec`.
pub enum Timespec {}

/// The fields of a user aiocb the engine acts on, decoded by the host into
/// NetBSD's numbering (`LIO_*`, `SIGEV_*` of [`crate::abi`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AiocbReq {
    /// `aio_fildes`.
    pub fildes: i32,
    /// `aio_lio_opcode` (NetBSD numbering).
    pub opcode: i32,
    /// `aio_reqprio`.
    pub reqprio: i32,
    /// `aio_buf`: the I/O goes straight to or from this user address.
    pub buf: usize,
    /// `aio_nbytes`.
    pub nbytes: usize,
    /// `aio_offset`.
    pub offset: i64,
    /// `aio_sigevent`.
    pub sigevent: SigeventReq,
    /// The kernel-private `_state`, `_errno` and `_retval` as this copy
    /// found them: what the submitter saw of the aiocb before it acted
    /// (not an ordered read: a result being published concurrently may be
    /// half seen, which only a program racing with its own job can cause).
    pub status: (i32, Option<crate::errno::Errno>, isize),
}

/// A user `struct sigevent`, decoded into NetBSD's numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SigeventReq {
    /// `sigev_notify` (NetBSD `SIGEV_*`; an unknown host value maps to -1).
    pub notify: i32,
    /// `sigev_signo`.
    pub signo: i32,
    /// `sigev_value` (pointer-sized union).
    pub value: usize,
    /// `sigev_notify_function`.
    pub function: usize,
    /// `sigev_notify_attributes`.
    pub attributes: usize,
}

/// A decoded user `struct timespec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimespecReq {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds; valid values are 0..1e9.
    pub nsec: i64,
}

/// A validated completion notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// `SIGEV_NONE`.
    None,
    /// `SIGEV_SIGNAL`: post `signo` with `si_code` SI_ASYNCIO and `value`.
    Signal {
        /// Signal number (host numbering; valid per [`Os::valid_signal`]).
        signo: i32,
        /// `sigev_value`.
        value: usize,
    },
    /// `SIGEV_THREAD`: run `function(value)` on a new thread with
    /// `attributes` (only where [`Os::sigev_thread`] says so).
    Thread {
        /// `sigev_notify_function`.
        function: usize,
        /// `sigev_value`.
        value: usize,
        /// `sigev_notify_attributes`.
        attributes: usize,
    },
}

/// What the host tells the engine about an open file at submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Open for reading.
    pub readable: bool,
    /// Open for writing.
    pub writable: bool,
    /// Writes append (`O_APPEND`): they keep submission order.
    pub append: bool,
    /// Positioned I/O works (regular files, block devices); otherwise the
    /// file is a stream served first-in first-out.
    pub seekable: bool,
    /// Identity of the open file (not the descriptor number), for ordering.
    pub key: usize,
    /// Writes to the file exclude each other inside the host (NetBSD's
    /// `vn_write` locks the vnode exclusively, Linux buffered writes take
    /// the inode lock): running two at once only makes workers contend,
    /// so the pool runs them one at a time.  A scheduling hint, not an
    /// ordering promise.
    pub writes_serialize: bool,
    /// I/O on the file is a copy between memories (a regular file on
    /// tmpfs): a worker doing it needs a CPU throughout and never waits
    /// for a device.  Used to size the pool (`System::cpus`).
    pub memory: bool,
}

/// `aio_fsync` flavours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncKind {
    /// `O_DSYNC`: data and the metadata needed to read it.
    Data,
    /// `O_SYNC`: data and all metadata.
    Full,
}

/// The OS services of one process, as the engine sees them.
///
/// A value of this type is the per-process handle (on NetBSD it names the
/// `struct proc`); the engine keeps one inside each process's AIO state.
pub trait Os: Send + Sync + Sized + 'static {
    /// The lock type behind the per-process AIO lock.
    type Mutex: RawMutex;
    /// The condition-variable type used with it.
    type CondVar: RawCondVar<Self::Mutex>;
    /// A held reference to an open file.  Dropping it releases the
    /// reference, which may sleep: the engine never drops one while holding
    /// the AIO lock.
    type File: Send + 'static;
    /// What a worker waits on for a stream to become ready, which a
    /// canceller can end ([`wait_ready`](Os::wait_ready)); one per worker.
    type Waiter: Send + Sync + 'static;

    /// Takes a reference to the file open on `fd`; `EBADF` if none is.
    fn getfile(&self, fd: i32) -> Result<(Self::File, FileInfo), Errno>;
    /// `info` for `fd`, whose file `f` came from [`getfile`](Os::getfile),
    /// with the status flags as they are now.  A host whose `getfile`
    /// may answer from a cache that can miss a later `F_SETFL` (the Linux
    /// host) looks again here; the engine asks only where a stale
    /// [`FileInfo::append`] would turn a valid request into an error (a
    /// write with a negative `aio_offset`, which `O_APPEND` makes valid).
    fn refresh_info(&self, fd: i32, f: &Self::File, info: FileInfo) -> FileInfo {
        let _ = (fd, f);
        info
    }
    /// Whether `fd` is an open descriptor (for `aio_cancel`'s `EBADF`).
    fn fd_is_open(&self, fd: i32) -> bool;
    /// Reads up to `len` bytes at `off` (`None`: a stream) into user memory.
    fn read(
        &self,
        f: &Self::File,
        buf: usize,
        len: usize,
        off: Option<i64>,
    ) -> Result<usize, Errno>;
    /// Writes up to `len` bytes from user memory at `off` (`None`: a stream
    /// or an append-mode file).
    fn write(
        &self,
        f: &Self::File,
        buf: usize,
        len: usize,
        off: Option<i64>,
    ) -> Result<usize, Errno>;
    /// Flushes the file to stable storage.
    fn fsync(&self, f: &Self::File, kind: SyncKind) -> Result<(), Errno>;
    /// Reads `len` bytes at `off` of descriptor `fd` into user memory only
    /// if that needs no sleep (the data is in memory), in the calling
    /// thread.  `None`: it would block, the file is not positioned, or the
    /// host has no such operation; the engine then queues the job as
    /// usual.  A short count that is not end of file must also be `None`,
    /// and so must a read that would reach the device (O_DIRECT).  Called
    /// only by the submitting thread.
    fn read_nowait(&self, fd: i32, buf: usize, len: usize, off: i64) -> Option<usize> {
        let _ = (fd, buf, len, off);
        None
    }

    /// A worker's means of waiting for streams cancellably, or `None` if
    /// the host has none (then stream jobs run as blocking I/O and cannot
    /// be cancelled once a worker has them).  Called once per worker.
    fn new_waiter(&self) -> Option<Self::Waiter> {
        None
    }
    /// One non-blocking transfer on stream `f` (a pipe, a socket) between
    /// it and user memory: the bytes moved, or `EAGAIN` if the stream is
    /// not ready (nothing moved).  Only called where
    /// [`new_waiter`](Os::new_waiter) gave a waiter; a host that gives one
    /// must provide this, or its stream jobs fail with EOPNOTSUPP (rather
    /// than wait forever for a readiness that never counts).
    fn rw_nowait(
        &self,
        f: &Self::File,
        write: bool,
        buf: usize,
        len: usize,
    ) -> Result<usize, Errno> {
        let _ = (f, write, buf, len);
        Err(Errno::EOPNOTSUPP)
    }
    /// Waits until stream `f` is ready for reading (`write`: for writing;
    /// `want` is the size of the transfer, for streams that take small
    /// writes whole), has an error or a hang-up pending, or
    /// [`wake`](Os::wake) was called for `w` since the last wait
    /// returned.  May return early (the engine tries the transfer and
    /// waits again).  Never called with the AIO lock held.
    fn wait_ready(&self, w: &Self::Waiter, f: &Self::File, write: bool, want: usize) {
        let _ = (w, f, write, want);
    }
    /// Ends the current (or the next) [`wait_ready`](Os::wait_ready) on
    /// `w`.  Never called with the AIO lock held.
    fn wake(&self, w: &Self::Waiter) {
        let _ = w;
    }

    /// Starts a worker that shares the process's address space and runs
    /// `body` once; it must block every signal so that user signal actions
    /// never run on it.
    fn spawn_worker(&self, body: Box<dyn FnOnce() + Send + 'static>) -> Result<(), Errno>;

    /// Asked by a worker, on its own thread, before it takes another job:
    /// whether it must leave because its process is going (NetBSD: exit
    /// or exec set LW_WEXIT on it; rump: its remote client left).  The
    /// jobs it leaves queued are then the exit hook's to cancel, as exit
    /// promises, instead of being run first.  Hosts whose workers die
    /// with the process answer false.
    fn worker_must_leave(&self) -> bool {
        false
    }

    /// Copies in the user-set fields of an aiocb.
    fn copyin_aiocb(&self, p: UserPtr<Aiocb>) -> Result<AiocbReq, Errno>;
    /// Copies in a `struct sigevent`.
    fn copyin_sigevent(&self, p: UserPtr<Sigevent>) -> Result<SigeventReq, Errno>;
    /// Copies in `out.len()` aiocb pointers.
    fn copyin_aiocb_list(
        &self,
        p: UserPtr<UserPtr<Aiocb>>,
        out: &mut [UserPtr<Aiocb>],
    ) -> Result<(), Errno>;
    /// Copies in a `struct timespec`.
    fn copyin_timespec(&self, p: UserPtr<Timespec>) -> Result<TimespecReq, Errno>;
    /// Reads the kernel-private `_state` of an aiocb (`JOB_*`).
    fn copyin_state(&self, p: UserPtr<Aiocb>) -> Result<i32, Errno>;
    /// Writes the kernel-private `_state`.
    fn copyout_state(&self, p: UserPtr<Aiocb>, state: i32) -> Result<(), Errno>;
    /// Publishes a status: writes `_errno` (`None` for 0) and `_retval`,
    /// then `_state`, so that any thread that reads `_state` first (as
    /// [`copyin_status`](Os::copyin_status) does) and sees the new value
    /// also sees the new result.  `JOB_WIP` (marking an aiocb in progress)
    /// may be written in any order.
    fn copyout_status(
        &self,
        p: UserPtr<Aiocb>,
        state: i32,
        error: Option<Errno>,
        retval: isize,
    ) -> Result<(), Errno>;
    /// Reads `_state`, `_errno` and `_retval`.  The result that comes with
    /// `JOB_DONE` was read after `_state`; with any other state the result
    /// fields may be older or newer than it.
    fn copyin_status(&self, p: UserPtr<Aiocb>) -> Result<(i32, Option<Errno>, isize), Errno>;

    /// Whether `signo` is a signal a sigevent may name.
    fn valid_signal(&self, signo: i32) -> bool;
    /// Whether `SIGEV_THREAD` can be honoured by this host.
    fn sigev_thread(&self) -> bool;
    /// Delivers a completion notification to the process.  Best effort: a
    /// failure is the host's to report; the job's result is already out.
    fn notify(&self, n: &Notify);

    /// A monotonic clock in nanoseconds.
    fn now_ns(&self) -> u64;
    /// The CPU the calling thread runs on, where the host can tell for a
    /// few nanoseconds; `None` otherwise.  Spinning uses it: a thread
    /// that spins on the CPU of the thread it waits for only keeps that
    /// thread from running.
    fn cpu(&self) -> Option<u32> {
        None
    }
}
