//! The Linux userspace test host.
//!
//! The engine runs inside an ordinary Linux process: workers are threads
//! (sharing the address space, as NetBSD's worker LWPs do), a job's file
//! reference is a descriptor of its own duplicated at submission, user
//! memory is reached only through copy routines that turn a bad pointer
//! into EFAULT, never a crash ([`ucopy`]: a fault-catching copy, or
//! `process_vm_readv`/`process_vm_writev` on the own process), and
//! notifications are real signals with `si_code` SI_ASYNCIO or threads.
//! [`capi`] exports the POSIX calls with glibc's ABI.

pub mod abi;
pub mod capi;
pub mod errno;
pub mod os;
pub mod sync;
#[cfg(target_arch = "x86_64")]
mod ucopy;
