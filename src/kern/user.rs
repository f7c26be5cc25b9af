//! Copies between user memory of the current process and the kernel.
//!
//! User addresses are plain integers here; `copyin`/`copyout` validate
//! them (EFAULT) and may sleep on a page fault, which is why the engine
//! never calls them with the AIO lock held.

use core::ffi::c_void;

use crate::errno::Errno;
use crate::sys;

use super::check;

/// Copies `out.len()` bytes in from user address `uaddr`.
pub fn copyin(uaddr: usize, out: &mut [u8]) -> Result<(), Errno> {
    // SAFETY: `out` is a valid kernel buffer of the given length; the user
    // address is validated by copyin itself.
    check(unsafe {
        sys::aiok_copyin(
            uaddr as *const c_void,
            out.as_mut_ptr().cast(),
            out.len() as _,
        )
    })
}

/// Copies `bytes` out to user address `uaddr`.
pub fn copyout(bytes: &[u8], uaddr: usize) -> Result<(), Errno> {
    // SAFETY: `bytes` is a valid kernel buffer; copyout validates `uaddr`.
    check(unsafe {
        sys::aiok_copyout(
            bytes.as_ptr().cast(),
            uaddr as *mut c_void,
            bytes.len() as _,
        )
    })
}
