//! Host implementations of the OS services.
//!
//! `linux`: Linux userspace, the test host.  The NetBSD kernel host (module
//! and rump component) comes with the kernel bindings.

#[cfg(feature = "linux-host")]
pub mod linux;
#[cfg(feature = "netbsd")]
pub mod netbsd;
