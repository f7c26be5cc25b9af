//! Worker LWPs.
//!
//! A worker is an LWP of the user process (so it shares the vmspace that
//! copyout and uiomove reach), created with every signal blocked.  Its body
//! is a boxed Rust closure handed through a thin pointer; when the body
//! returns the LWP leaves (`aiok_worker_trampoline` and `aiok_worker_leave`
//! in helpers.c: `lwp_exit`, reaped by the exit or exec's `exit_lwps`, or
//! `lwp_userret` of a departed client's LWP in a rump kernel).  Workers
//! live until their process exits or execs.

use alloc::boxed::Box;
use core::ffi::c_void;

use crate::errno::Errno;
use crate::sys;

use super::check;

type Body = Box<dyn FnOnce() + Send + 'static>;

/// A worker LWP's body, called by its trampoline (`aiok_worker_trampoline`
/// in helpers.c), which makes the LWP leave when this returns.
///
/// # Safety
///
/// `arg` is the `Box<Body>` leaked by [`spawn`] for this LWP alone.
#[no_mangle]
pub unsafe extern "C" fn aio_rs_worker_run(arg: *mut c_void) {
    // SAFETY: `arg` is the Box<Body> leaked by `spawn` for this LWP alone
    // (this function's contract).
    let body = unsafe { Box::from_raw(arg.cast::<Body>()) };
    body();
}

/// Starts a worker LWP in process `p` running `body`.
///
/// # Safety
///
/// `p` is the calling LWP's process.
pub unsafe fn spawn(p: *mut sys::proc, body: Body) -> Result<(), Errno> {
    let arg = Box::into_raw(Box::new(body));
    // SAFETY: `p` is the current process; `aio_rs_worker_run` takes
    // ownership of `arg` when the LWP runs.
    let rv = unsafe { sys::aiok_worker_create(p, arg.cast()) };
    if rv != 0 {
        // SAFETY: no LWP was created, so `arg` is still ours.
        drop(unsafe { Box::from_raw(arg) });
    }
    check(rv)
}
