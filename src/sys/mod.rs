//! Raw NetBSD kernel bindings: bindgen's output over
//! `sys-headers/wrapper.h`, and the layout assertions that pin the ABI.
//!
//! This is the crate's one FFI crossing point.  Only `src/kern` and
//! `src/hosts` may use it (scripts/test checks); nothing here is safe to
//! call directly.
#![allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    missing_docs,
    // bindgen output: not ours to document.
    clippy::missing_safety_doc,
    clippy::undocumented_unsafe_blocks,
    clippy::useless_transmute,
    clippy::ptr_offset_with_cast
)]

mod generated {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}
/// `struct proc` (bindgen spells it `proc_`: `proc` was a Rust keyword).
/// Opaque, like `lwp`, `file`, `kmutex` and `kcondvar`: only the C helpers
/// look inside.
pub use generated::proc_ as proc;
pub use generated::*;

mod layout {
    //! The NetBSD/amd64 ABI, checked against whichever headers bindgen
    //! read (the real tree or sys-headers).
    use super::*;
    use crate::abi::netbsd_aiocb as L;
    use core::mem::{align_of, offset_of, size_of};
    use static_assertions::const_assert_eq;

    const_assert_eq!(size_of::<aiocb>(), L::SIZE);
    const_assert_eq!(align_of::<aiocb>(), 8);
    const_assert_eq!(offset_of!(aiocb, aio_offset), L::OFFSET);
    const_assert_eq!(offset_of!(aiocb, aio_buf), L::BUF);
    const_assert_eq!(offset_of!(aiocb, aio_nbytes), L::NBYTES);
    const_assert_eq!(offset_of!(aiocb, aio_fildes), L::FILDES);
    const_assert_eq!(offset_of!(aiocb, aio_lio_opcode), L::LIO_OPCODE);
    const_assert_eq!(offset_of!(aiocb, aio_reqprio), L::REQPRIO);
    const_assert_eq!(offset_of!(aiocb, aio_sigevent), L::SIGEVENT);
    const_assert_eq!(offset_of!(aiocb, _state), L::STATE);
    const_assert_eq!(offset_of!(aiocb, _errno), L::ERRNO);
    const_assert_eq!(offset_of!(aiocb, _retval), L::RETVAL);

    const_assert_eq!(size_of::<sigevent>(), L::SIGEV_SIZE);
    const_assert_eq!(offset_of!(sigevent, sigev_notify), L::SIGEV_NOTIFY);
    const_assert_eq!(offset_of!(sigevent, sigev_signo), L::SIGEV_SIGNO);
    const_assert_eq!(offset_of!(sigevent, sigev_value), L::SIGEV_VALUE);
    const_assert_eq!(
        offset_of!(sigevent, sigev_notify_function),
        L::SIGEV_FUNCTION
    );
    const_assert_eq!(
        offset_of!(sigevent, sigev_notify_attributes),
        L::SIGEV_ATTRIBUTES
    );
    const_assert_eq!(size_of::<timespec>(), L::TIMESPEC_SIZE);

    // Every syscall argument takes one 8-byte register_t slot.
    const_assert_eq!(size_of::<sys_aio_read_args>(), 8);
    const_assert_eq!(size_of::<sys_aio_write_args>(), 8);
    const_assert_eq!(size_of::<sys_aio_error_args>(), 8);
    const_assert_eq!(size_of::<sys_aio_return_args>(), 8);
    const_assert_eq!(size_of::<sys_aio_cancel_args>(), 16);
    const_assert_eq!(size_of::<sys_aio_fsync_args>(), 16);
    const_assert_eq!(size_of::<sys___aio_suspend50_args>(), 24);
    const_assert_eq!(size_of::<sys_lio_listio_args>(), 32);
    const_assert_eq!(offset_of!(sys_lio_listio_args, sig), 24);
    const_assert_eq!(offset_of!(sys___aio_suspend50_args, timeout), 16);

    // The module loader's view of a module and a syscall package entry.
    const_assert_eq!(size_of::<modinfo_t>(), 32);
    const_assert_eq!(offset_of!(modinfo_t, mi_class), 4);
    const_assert_eq!(offset_of!(modinfo_t, mi_modcmd), 8);
    const_assert_eq!(offset_of!(modinfo_t, mi_name), 16);
    const_assert_eq!(offset_of!(modinfo_t, mi_required), 24);
    const_assert_eq!(size_of::<syscall_package>(), 16);
    const_assert_eq!(offset_of!(syscall_package, sp_call), 8);

    // The syscall numbers the module registers.
    const_assert_eq!(SYS_aio_cancel, 399);
    const_assert_eq!(SYS_aio_error, 400);
    const_assert_eq!(SYS_aio_fsync, 401);
    const_assert_eq!(SYS_aio_read, 402);
    const_assert_eq!(SYS_aio_return, 403);
    const_assert_eq!(SYS_aio_write, 405);
    const_assert_eq!(SYS_lio_listio, 406);
    const_assert_eq!(SYS___aio_suspend50, 438);
}
