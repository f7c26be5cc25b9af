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

/// Copies in a value of a plain-data binding type.
pub fn copyin_struct<T: Plain>(uaddr: usize) -> Result<T, Errno> {
    let mut v = T::default();
    // SAFETY: `T: Plain` promises every byte pattern is a valid T and no
    // padding invariant exists, so viewing it as bytes to fill is sound.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut((&mut v as *mut T).cast::<u8>(), core::mem::size_of::<T>())
    };
    copyin(uaddr, bytes)?;
    Ok(v)
}

/// Binding types made of integers, pointers and unions of them: any byte
/// pattern is a valid value.
///
/// # Safety
///
/// Implement only for `#[repr(C)]` types whose fields are all integers,
/// raw pointers, `Option` of function pointers, or unions/arrays of those.
pub unsafe trait Plain: Default + Copy {}

// SAFETY: aiocb holds integers, raw pointers and a sigevent.
unsafe impl Plain for sys::aiocb {}
// SAFETY: sigevent holds integers, a pointer union and an optional fn ptr.
unsafe impl Plain for sys::sigevent {}
// SAFETY: two integers.
unsafe impl Plain for sys::timespec {}
