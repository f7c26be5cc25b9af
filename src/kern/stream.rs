//! Cancellable waits for streams (pipes, sockets).
//!
//! A worker whose stream is not ready waits in
//! [`StreamWaiter::wait`] on the stream's own condition variable, not
//! inside `fo_read`/`fo_write`, so that a canceller can end the wait
//! ([`StreamWaiter::wake`]) with nothing transferred; then
//! [`FileRef::rw_nowait`](super::file::FileRef::rw_nowait) moves what
//! the stream has.  The mechanism and its lock order are described in
//! `sys-headers/helpers.c` (`aiok_stream_wait`).

use core::ptr::NonNull;

use super::file::FileRef;
use crate::sys;

/// One worker's wait state (`struct aiok_waiter`, allocated by the
/// helpers: its size holds a `kmutex_t`).
pub struct StreamWaiter(NonNull<sys::aiok_waiter>);

// SAFETY: the waiter's fields are guarded by its own kmutex; `wait` (the
// worker) and `wake` (a canceller) are made to run on different LWPs.
unsafe impl Send for StreamWaiter {}
// SAFETY: as above.
unsafe impl Sync for StreamWaiter {}

impl StreamWaiter {
    /// A new waiter, not woken.
    pub fn new() -> Self {
        // SAFETY: the helper allocates with KM_SLEEP (never null) and
        // initialises the lock.
        let w = unsafe { sys::aiok_waiter_create() };
        StreamWaiter(NonNull::new(w).expect("kmem_zalloc(KM_SLEEP) returned NULL"))
    }

    /// Sleeps until `f` could take (`write`) or give `want` bytes without
    /// sleeping, [`wake`](Self::wake) was called since the last wait
    /// ended, or the calling LWP must exit.  May return early.
    pub fn wait(&self, f: &FileRef, write: bool, want: usize) {
        // SAFETY: the waiter is alive while `self` is; `f`'s reference
        // keeps the file (and its pipe or socket) alive for the call, and
        // the helper forgets the file before it returns.
        unsafe { sys::aiok_stream_wait(self.0.as_ptr(), f.as_ptr(), write as _, want as _) }
    }

    /// Ends the current wait, or the next one if none is under way.
    pub fn wake(&self) {
        // SAFETY: the waiter is alive while `self` is; the helper reaches
        // the stream only while a wait holds its file (see `wait`).
        unsafe { sys::aiok_stream_wake(self.0.as_ptr()) }
    }
}

impl Default for StreamWaiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for StreamWaiter {
    fn drop(&mut self) {
        // SAFETY: dropped by its last owner, so no wait or wake is under
        // way.
        unsafe { sys::aiok_waiter_destroy(self.0.as_ptr()) }
    }
}
