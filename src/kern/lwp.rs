//! Worker LWPs.
//!
//! A worker is an LWP of the user process (so it shares the vmspace that
//! copyout and uiomove reach), created with every signal blocked.  Its body
//! is a boxed Rust closure handed through a thin pointer; when the body
//! returns the LWP exits (`aiok_worker_exit`: `lwp_exit`, reaped by the
//! exit or exec's `exit_lwps`, or `lwp_userret` of a departed client's LWP
//! in a rump kernel).  Workers live until their process exits or execs.

use alloc::boxed::Box;
use core::ffi::c_void;

use crate::errno::Errno;
use crate::sys;

use super::check;

type Body = Box<dyn FnOnce() + Send + 'static>;

extern "C" fn worker_start(arg: *mut c_void) {
    // SAFETY: `arg` is the Box<Body> leaked by `spawn` for this LWP alone.
    let body = unsafe { Box::from_raw(arg.cast::<Body>()) };
    body();
    // SAFETY: called on the worker LWP itself, which owns nothing more.
    unsafe { sys::aiok_worker_exit() }
}

/// Starts a worker LWP in process `p` running `body`.
///
/// # Safety
///
/// `p` is the calling LWP's process.
pub unsafe fn spawn(p: *mut sys::proc, body: Body) -> Result<(), Errno> {
    let arg = Box::into_raw(Box::new(body));
    // SAFETY: `p` is the current process; `worker_start` takes ownership of
    // `arg` when the LWP runs.
    let rv = unsafe { sys::aiok_worker_create(p, Some(worker_start), arg.cast()) };
    if rv != 0 {
        // SAFETY: no LWP was created, so `arg` is still ours.
        drop(unsafe { Box::from_raw(arg) });
    }
    check(rv)
}
