//! POSIX asynchronous I/O for NetBSD.
//!
//! The `aio` system calls of NetBSD with the design NetBSD chose in 2007:
//! per-process AIO state created on the first request, a per-process job
//! queue served by worker LWPs that share the process's address space, no
//! queue of completed jobs (results live in the kernel-private fields of the
//! user's `aiocb`), and teardown at process exit.
//!
//! # Layers
//!
//! ```text
//!  hosts::linux (C API)      hosts::netbsd (module, rump)    (tests: fakeos)
//!          │                          │
//!          └────────────► syscalls ◄──┘       sys_aio_*: decode, dispatch
//!                            │
//!                         engine            portable, #![forbid(unsafe_code)]
//!                            │
//!                  os (traits) + sync       the only view of the OS
//!                            │
//!          hosts::* implement os; kern wraps sys (raw bindgen output)
//! ```
//!
//! Only `kern` and `hosts` may use `sys`; the engine never sees a host type.
//! The crate is `no_std` with `alloc`; `std` comes in only for the Linux
//! host and the tests.
//!
//! # Lints
//!
//! `unsafe` is forbidden in the engine; elsewhere every `unsafe` block
//! carries a `// SAFETY:` comment and every `unsafe fn` a `# Safety`
//! section (enforced by clippy's `undocumented_unsafe_blocks` and
//! `missing_safety_doc`).
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod abi;
pub mod engine;
pub mod errno;
pub mod os;
pub mod sync;
pub mod syscalls;

#[cfg(any(test, feature = "fake-os"))]
pub mod fakeos;

#[cfg(any(feature = "linux-host", feature = "netbsd"))]
pub mod hosts;

#[cfg(feature = "netbsd")]
pub mod kern;
#[cfg(feature = "netbsd")]
pub mod sys;

pub use errno::Errno;

/// Names the exported macros refer to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use alloc::vec::Vec;
}
