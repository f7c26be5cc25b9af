//! Locks that own their data, over the raw primitives a host provides.
//!
//! `Mutex<R, T>` is the only way the engine reaches shared state, and
//! `CondVar::wait` takes the guard, so a wait without the lock cannot be
//! written.  This module is outside the engine because the data cell needs
//! `unsafe`; its soundness rests on the contract of [`RawMutex`].

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use crate::os::{RawCondVar, RawMutex, Sleep, Wakeup};

/// A lock around `T`.
pub struct Mutex<R: RawMutex, T> {
    raw: R,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by `raw` (RawMutex's contract), so
// sharing the Mutex across threads only ever moves `T` between threads, which
// `T: Send` allows.
unsafe impl<R: RawMutex, T: Send> Sync for Mutex<R, T> {}
// SAFETY: as above; the Mutex owns its `T`.
unsafe impl<R: RawMutex, T: Send> Send for Mutex<R, T> {}

impl<R: RawMutex, T> Mutex<R, T> {
    /// A new lock holding `v`.
    pub fn new(v: T) -> Self {
        Mutex {
            raw: R::new(),
            data: UnsafeCell::new(v),
        }
    }

    /// Acquires the lock.
    pub fn lock(&self) -> MutexGuard<'_, R, T> {
        self.raw.lock();
        MutexGuard {
            m: self,
            _not_send: PhantomData,
        }
    }
}

/// Proof that the lock is held; releases it when dropped.  Not `Send`:
/// kernel locks must be released by the LWP that took them.
pub struct MutexGuard<'a, R: RawMutex, T> {
    m: &'a Mutex<R, T>,
    _not_send: PhantomData<*const ()>,
}

impl<R: RawMutex, T> Deref for MutexGuard<'_, R, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds `raw`
        // (taken in `Mutex::lock`), so no other reference to `data` is live.
        unsafe { &*self.m.data.get() }
    }
}

impl<R: RawMutex, T> DerefMut for MutexGuard<'_, R, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow.
        unsafe { &mut *self.m.data.get() }
    }
}

impl<R: RawMutex, T> Drop for MutexGuard<'_, R, T> {
    fn drop(&mut self) {
        // SAFETY: the guard was created by `Mutex::lock` on this thread and
        // is not Send, so this thread holds `raw`.
        unsafe { self.m.raw.unlock() }
    }
}

/// A condition variable for use with [`Mutex<R, _>`](Mutex).
pub struct CondVar<R: RawMutex, C: RawCondVar<R>> {
    raw: C,
    _m: PhantomData<fn(&R)>,
}

impl<R: RawMutex, C: RawCondVar<R>> Default for CondVar<R, C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: RawMutex, C: RawCondVar<R>> CondVar<R, C> {
    /// A new condition variable.
    pub fn new() -> Self {
        CondVar {
            raw: C::new(),
            _m: PhantomData,
        }
    }

    /// Releases the guard's lock, sleeps, and takes the lock again.  The
    /// caller re-checks its condition: wakeups may be spurious.
    pub fn wait<T>(&self, g: &mut MutexGuard<'_, R, T>, how: Sleep) -> Wakeup {
        // SAFETY: the guard proves this thread holds `g.m.raw`; `wait`
        // returns with it held again, so the guard stays truthful.
        unsafe { self.raw.wait(&g.m.raw, how) }
    }

    /// Wakes one waiter.
    pub fn signal(&self) {
        self.raw.signal()
    }

    /// Wakes all waiters.
    pub fn broadcast(&self) {
        self.raw.broadcast()
    }
}
