//! Safe wrappers over the raw NetBSD bindings (`crate::sys`).
//!
//! The only users of `sys`.  Each wrapper owns the kernel object it names
//! (a lock, a file reference, a worker's start packet) and releases it in
//! `Drop`; user memory is reached only through copyin/copyout.  Kernel
//! errors come back as [`Errno`](crate::Errno).

pub mod alloc;
pub mod file;
pub mod lwp;
pub mod stream;
pub mod sync;
pub mod user;

use crate::errno::Errno;
use crate::sys;

/// Turns a kernel return value (0 or an errno) into a `Result`.
pub fn check(rv: core::ffi::c_int) -> Result<(), Errno> {
    if rv == 0 {
        Ok(())
    } else {
        Err(Errno::new(rv))
    }
}

/// The monotonic clock in nanoseconds (`nanouptime`: aio_suspend timeouts
/// to the nanosecond, not to the tick).
pub fn uptime_ns() -> u64 {
    // SAFETY: no preconditions; reads the kernel's timecounter.
    unsafe { sys::aiok_uptime_ns() }
}

/// CPUs configured (`ncpu`; in a rump kernel, its virtual CPUs).
pub fn ncpu() -> usize {
    // SAFETY: no preconditions; reads a variable set at boot.
    unsafe { sys::aiok_ncpu() as usize }
}

/// Posts `signo` to `p` with `si_code` SI_ASYNCIO and `value`.
///
/// # Safety
///
/// `p` is a live process (the caller's own process, or one whose AIO state
/// keeps it from being torn down: exit hooks run before the proc is freed).
pub unsafe fn post_signal(p: *mut sys::proc, signo: i32, value: usize) {
    // SAFETY: `p` is live (caller's contract); signo was validated by the
    // engine; the helper takes proc_lock around kpsignal.
    unsafe { sys::aiok_signal(p, signo, value as *mut core::ffi::c_void) }
}
