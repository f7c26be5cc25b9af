//! `kmutex_t` and `kcondvar_t` as the engine's raw lock traits.
//!
//! Both are allocated by the C helpers (their size is private to the
//! kernel) and never move; the Rust values hold the pointers.

use core::ptr::NonNull;

use crate::errno::Errno;
use crate::os::{RawCondVar, RawMutex, Sleep, Wakeup};
use crate::sys;

/// An adaptive `kmutex_t` (MUTEX_DEFAULT, IPL_NONE): may be held across
/// nothing that sleeps for long, which the engine's lock rules ensure.
pub struct KMutex(NonNull<sys::kmutex>);

// SAFETY: a kmutex is made to be shared between LWPs; the pointer is owned.
unsafe impl Send for KMutex {}
// SAFETY: as above.
unsafe impl Sync for KMutex {}

// SAFETY: mutex_enter/mutex_exit provide mutual exclusion.
unsafe impl RawMutex for KMutex {
    fn new() -> Self {
        // SAFETY: the helper allocates with KM_SLEEP (never null) and
        // initialises the mutex.
        let m = unsafe { sys::aiok_mutex_create() };
        KMutex(NonNull::new(m).expect("kmem_alloc(KM_SLEEP) returned NULL"))
    }

    fn lock(&self) {
        // SAFETY: the mutex is initialised and alive while `self` is.
        unsafe { sys::aiok_mutex_enter(self.0.as_ptr()) }
    }

    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the mutex (this function's contract).
        unsafe { sys::aiok_mutex_exit(self.0.as_ptr()) }
    }
}

impl Drop for KMutex {
    fn drop(&mut self) {
        // SAFETY: nobody holds or waits on the mutex once its owner drops.
        unsafe { sys::aiok_mutex_destroy(self.0.as_ptr()) }
    }
}

/// A `kcondvar_t`.
pub struct KCondVar(NonNull<sys::kcondvar>);

// SAFETY: condition variables are shared between LWPs by design.
unsafe impl Send for KCondVar {}
// SAFETY: as above.
unsafe impl Sync for KCondVar {}

// SAFETY: cv_wait* release and re-take the mutex atomically with respect
// to cv_signal/cv_broadcast.
unsafe impl RawCondVar<KMutex> for KCondVar {
    fn new() -> Self {
        // SAFETY: allocated with KM_SLEEP and initialised by the helper.
        let cv = unsafe { sys::aiok_cv_create() };
        KCondVar(NonNull::new(cv).expect("kmem_alloc(KM_SLEEP) returned NULL"))
    }

    unsafe fn wait(&self, m: &KMutex, how: Sleep) -> Wakeup {
        let (kind, ns) = match how {
            Sleep::Uninterruptible => (0, 0),
            // Workers here never retire (they are joinable LWPs that
            // exit_lwps() reaps; see aiok_worker_create): no idle timeout.
            Sleep::Worker { .. } => (2, 0),
            // 0 means "no timeout" to the helper: an expired timeout is
            // handled by the engine before it waits, so clamp up to 1 ns.
            Sleep::Interruptible { timeout_ns } => (1, timeout_ns.map_or(0, |t| t.max(1))),
        };
        // SAFETY: the caller holds `m` (contract); both objects are alive.
        let r = unsafe { sys::aiok_cv_wait(self.0.as_ptr(), m.0.as_ptr(), kind, ns) };
        match r {
            0 => Wakeup::Woken,
            // EWOULDBLOCK is EAGAIN on NetBSD.
            r if r == Errno::EAGAIN.get() => Wakeup::TimedOut,
            _ => Wakeup::Interrupted,
        }
    }

    fn signal(&self) {
        // SAFETY: the condvar is alive while `self` is.
        unsafe { sys::aiok_cv_signal(self.0.as_ptr()) }
    }

    fn broadcast(&self) {
        // SAFETY: as above.
        unsafe { sys::aiok_cv_broadcast(self.0.as_ptr()) }
    }
}

impl Drop for KCondVar {
    fn drop(&mut self) {
        // SAFETY: no waiter remains once the owner drops it.
        unsafe { sys::aiok_cv_destroy(self.0.as_ptr()) }
    }
}
