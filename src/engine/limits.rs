//! System-wide limits and counters, shared by every process.
//!
//! `kern.aio_max` bounds the jobs in flight in the whole system and
//! `kern.aio_listio_max` bounds both a `lio_listio` list and one process's
//! jobs.  Both can change at run time; a lowered limit applies to new
//! submissions and never disturbs jobs already queued.  Plain atomics: no
//! lock is taken here, so the counters sit outside the lock order.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};

use crate::abi::{AIO_LISTIO_MAX, AIO_MAX};
use crate::errno::Errno;

/// Default bound of a process's worker pool.  Workers start on demand, one
/// more whenever a job is queued and none is idle, so that a job blocked
/// on a stream (a pipe nobody writes) does not stall jobs on other files.
pub const DEFAULT_MAX_WORKERS: usize = 8;
/// How long a spare worker (beyond a process's first) waits for work
/// before it retires: 10 s.
pub const DEFAULT_WORKER_IDLE_NS: u64 = 10_000_000_000;
/// The largest read completed inside `aio_read` or `lio_listio`
/// (`AioProc::read_inline` in `submit.rs`): 256 KiB.  Beyond it a
/// worker makes the copy.  Measured on the Linux host (2-CPU KVM guest,
/// page-cache file): an inline read costs the caller about 6 us at 128
/// KiB, 11-12 us at 256 KiB, 20-23 us at 512 KiB and 87 us at 1 MiB, while
/// handing a request to a sleeping worker costs the caller 25-80 us (a
/// wake-up) and the request 150-270 us in all.  At this bound the caller
/// still spends less than a hand-over would cost it.
pub const INLINE_REQUEST_BYTES: usize = 256 << 10;
/// The inline work of one call, a `lio_listio` list as a whole: 512 KiB,
/// about 20 us of copying (see [`INLINE_REQUEST_BYTES`]).  The entries
/// after the budget is spent go to the workers.
pub const INLINE_CALL_BYTES: usize = 512 << 10;
/// A read completes inline beside at most this many writes in flight,
/// each looked at for an overlap (see `no_write_in_the_way` in
/// `submit.rs`); beyond, it is queued.
pub const INLINE_WRITE_SCAN: usize = 64;
/// Largest pool a process may be given.
pub const MAX_WORKERS_LIMIT: usize = 256;
/// Longest spin a host may set ([`System::set_spin_ns`]): 1 ms.
pub const MAX_SPIN_NS: u64 = 1_000_000;
/// Largest `kern.aio_listio_max`: a `lio_listio` copies its whole list in
/// at once (a few MiB of kernel memory at this bound, taken with KM_SLEEP,
/// which waits rather than fails: an unbounded value would let one call
/// wait forever for memory).
pub const MAX_LISTIO_MAX: usize = 65_536;
/// Largest `kern.aio_max` (jobs are allocated one by one, each bounded
/// per process by `kern.aio_listio_max`; this keeps the value an `int`).
pub const MAX_AIO_MAX: usize = 1 << 20;

/// The limits and the system-wide job count.
#[derive(Debug)]
pub struct System {
    aio_max: AtomicUsize,
    listio_max: AtomicUsize,
    max_workers: AtomicUsize,
    worker_idle_ns: AtomicU64,
    spin_ns: AtomicU64,
    inline_limit: AtomicUsize,
    cpus: AtomicUsize,
    jobs: AtomicUsize,
    procs: AtomicUsize,
    created: AtomicU64,
}

impl Default for System {
    fn default() -> Self {
        Self::new()
    }
}

impl System {
    /// NetBSD's defaults: 8192 system-wide, 512 per list and per process;
    /// pools of [`DEFAULT_MAX_WORKERS`].
    pub const fn new() -> Self {
        Self::with_max_workers(DEFAULT_MAX_WORKERS)
    }

    /// The defaults with another pool bound (a host whose cached I/O runs
    /// on the workers, CPU-bound, gains nothing from many).
    pub const fn with_max_workers(workers: usize) -> Self {
        Self::with_policy(workers, usize::MAX)
    }

    /// The defaults with another pool bound and
    /// [`inline_limit`](Self::inline_limit).
    pub const fn with_policy(workers: usize, inline_limit: usize) -> Self {
        System {
            aio_max: AtomicUsize::new(AIO_MAX),
            listio_max: AtomicUsize::new(AIO_LISTIO_MAX),
            max_workers: AtomicUsize::new(workers),
            worker_idle_ns: AtomicU64::new(DEFAULT_WORKER_IDLE_NS),
            spin_ns: AtomicU64::new(0),
            inline_limit: AtomicUsize::new(inline_limit),
            cpus: AtomicUsize::new(0),
            jobs: AtomicUsize::new(0),
            procs: AtomicUsize::new(0),
            created: AtomicU64::new(0),
        }
    }

    /// `kern.aio_max`.
    pub fn aio_max(&self) -> usize {
        self.aio_max.load(Relaxed)
    }

    /// `kern.aio_listio_max`.
    pub fn listio_max(&self) -> usize {
        self.listio_max.load(Relaxed)
    }

    /// Workers per process.
    pub fn max_workers(&self) -> usize {
        self.max_workers.load(Relaxed)
    }

    /// Sets `kern.aio_max`: at least 1 and at least `aio_listio_max`, at
    /// most [`MAX_AIO_MAX`].
    pub fn set_aio_max(&self, v: usize) -> Result<(), Errno> {
        if v < 1 || v < self.listio_max() || v > MAX_AIO_MAX {
            return Err(Errno::EINVAL);
        }
        self.aio_max.store(v, SeqCst);
        Ok(())
    }

    /// Sets `kern.aio_listio_max`: between 1 and `aio_max`, at most
    /// [`MAX_LISTIO_MAX`].
    pub fn set_listio_max(&self, v: usize) -> Result<(), Errno> {
        if v < 1 || v > self.aio_max() || v > MAX_LISTIO_MAX {
            return Err(Errno::EINVAL);
        }
        self.listio_max.store(v, SeqCst);
        Ok(())
    }

    /// Sets the per-process pool size: between 1 and [`MAX_WORKERS_LIMIT`].
    pub fn set_max_workers(&self, v: usize) -> Result<(), Errno> {
        if !(1..=MAX_WORKERS_LIMIT).contains(&v) {
            return Err(Errno::EINVAL);
        }
        self.max_workers.store(v, SeqCst);
        Ok(())
    }

    /// Idle time after which a spare worker retires.
    pub fn worker_idle_ns(&self) -> u64 {
        self.worker_idle_ns.load(Relaxed)
    }

    /// Sets the idle time after which a spare worker retires (at least
    /// 1 ms).
    pub fn set_worker_idle_ns(&self, ns: u64) -> Result<(), Errno> {
        if ns < 1_000_000 {
            return Err(Errno::EINVAL);
        }
        self.worker_idle_ns.store(ns, SeqCst);
        Ok(())
    }

    /// How long a worker that ran out of jobs, and a caller of
    /// `aio_suspend` or `LIO_WAIT` whose jobs are still running, watch for
    /// the next job or completion before they sleep.  A job or completion
    /// that comes within that time is handed over without a sleep/wake
    /// pair (two context switches and a wake-up call on the other side).
    /// 0, the default, never spins: the NetBSD kernel and rump hosts keep
    /// it, since a kernel thread must not busy-wait; the Linux host sets
    /// it only from `NETBSD_AIO_SPIN_NS`, and only with more than one CPU
    /// (its lock's own polling makes sleeping hand-overs cheaper there).
    /// (Tried in a rump kernel with 5 µs: the benchmark hung with a worker spinning for good while
    /// other kernel threads queued for a virtual CPU; a spin timed by the
    /// kernel's clock ends only if the clock's thread gets to run.)
    pub fn spin_ns(&self) -> u64 {
        self.spin_ns.load(Relaxed)
    }

    /// Sets [`spin_ns`](Self::spin_ns): at most [`MAX_SPIN_NS`].
    pub fn set_spin_ns(&self, ns: u64) -> Result<(), Errno> {
        if ns > MAX_SPIN_NS {
            return Err(Errno::EINVAL);
        }
        self.spin_ns.store(ns, SeqCst);
        Ok(())
    }

    /// A read whose data is in memory completes inside `aio_read` only
    /// while the process has fewer requests outstanding (submitted and not
    /// yet collected with `aio_return`) than this.  Unbounded by default:
    /// doing the copy at once beats handing it over.  A host whose
    /// system calls cost more than the copy (a rump kernel: every call
    /// enters the rump scheduler) sets 1: a program that keeps many
    /// requests outstanding then has the copies made by a worker on
    /// another CPU while it makes its calls, and one that waits for each
    /// request still gets it at once.  (A program that never calls
    /// `aio_return` ends up with every read handed over.)
    pub fn inline_limit(&self) -> usize {
        self.inline_limit.load(Relaxed)
    }

    /// Sets [`inline_limit`](Self::inline_limit): 0 completes no read
    /// inline (every job goes through a worker), `usize::MAX` counts
    /// nothing.  For a host to set before any process has AIO state: a
    /// process that was not counting its outstanding requests does not
    /// start in the middle.
    pub fn set_inline_limit(&self, n: usize) {
        self.inline_limit.store(n, SeqCst);
    }

    /// Whether processes count their outstanding requests: only where
    /// that count limits inline reads.
    pub fn counts_outstanding(&self) -> bool {
        self.inline_limit() != usize::MAX
    }

    /// CPUs of the machine, as the host reported them (0: not known).
    /// Jobs on files whose I/O is a memory copy (`FileInfo::memory`:
    /// tmpfs) keep a CPU busy for their whole length, so a process runs at
    /// most one of them per CPU beyond the submitting one (at least one):
    /// more only take turns on the same CPUs, and the pool does not grow
    /// for them.  Workers waiting on devices or streams need no CPU, and
    /// the pool grows for them up to `max_workers`.  Set by the host when
    /// it starts; 0 (unknown) sets no bound.
    pub fn cpus(&self) -> usize {
        self.cpus.load(Relaxed)
    }

    /// Sets [`cpus`](Self::cpus).
    pub fn set_cpus(&self, n: usize) {
        self.cpus.store(n, SeqCst);
    }

    /// Jobs in flight in the system.
    pub fn jobs(&self) -> usize {
        self.jobs.load(SeqCst)
    }

    /// Processes that have AIO state (a module must not unload while any
    /// does).
    pub fn procs(&self) -> usize {
        self.procs.load(SeqCst)
    }

    /// Takes `n` system-wide job slots, or none (`EAGAIN`).
    pub(crate) fn reserve(&self, n: usize) -> Result<(), Errno> {
        let max = self.aio_max();
        self.jobs
            .fetch_update(SeqCst, SeqCst, |cur| {
                cur.checked_add(n).filter(|&t| t <= max)
            })
            .map(|_| ())
            .map_err(|_| Errno::EAGAIN)
    }

    /// Returns `n` system-wide slots.
    pub(crate) fn release(&self, n: usize) {
        let prev = self.jobs.fetch_sub(n, SeqCst);
        debug_assert!(prev >= n, "system job count underflow");
    }

    /// Counts a new process state; returns its serial number, unique
    /// among the states this `System` has made.
    pub(crate) fn proc_created(&self) -> u64 {
        self.procs.fetch_add(1, SeqCst);
        self.created.fetch_add(1, Relaxed) + 1
    }

    pub(crate) fn proc_gone(&self) {
        self.procs.fetch_sub(1, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_is_all_or_nothing() {
        let s = System::new();
        s.set_listio_max(4).unwrap();
        s.set_aio_max(10).unwrap();
        s.reserve(8).unwrap();
        assert_eq!(s.reserve(3), Err(Errno::EAGAIN));
        assert_eq!(s.jobs(), 8);
        s.reserve(2).unwrap();
        assert_eq!(s.reserve(1), Err(Errno::EAGAIN));
        s.release(10);
        assert_eq!(s.jobs(), 0);
    }

    #[test]
    fn limits_are_validated() {
        let s = System::new();
        assert_eq!(s.set_listio_max(0), Err(Errno::EINVAL));
        assert_eq!(s.set_listio_max(AIO_MAX + 1), Err(Errno::EINVAL));
        assert_eq!(s.set_aio_max(AIO_LISTIO_MAX - 1), Err(Errno::EINVAL));
        assert_eq!(s.set_max_workers(0), Err(Errno::EINVAL));
        assert_eq!(s.set_aio_max(MAX_AIO_MAX + 1), Err(Errno::EINVAL));
        s.set_aio_max(MAX_AIO_MAX).unwrap();
        assert_eq!(s.set_listio_max(MAX_LISTIO_MAX + 1), Err(Errno::EINVAL));
        s.set_listio_max(MAX_LISTIO_MAX).unwrap();
        s.set_aio_max(100_000).unwrap();
        s.set_listio_max(2048).unwrap();
        assert_eq!(s.listio_max(), 2048);
        s.set_max_workers(8).unwrap();
        assert_eq!(s.max_workers(), 8);
        assert_eq!(s.spin_ns(), 0);
        assert_eq!(s.set_spin_ns(MAX_SPIN_NS + 1), Err(Errno::EINVAL));
        s.set_spin_ns(20_000).unwrap();
        assert_eq!(s.spin_ns(), 20_000);
    }
}
