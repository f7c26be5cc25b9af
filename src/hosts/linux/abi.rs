//! glibc's `struct aiocb` (x86-64), the user ABI of the Linux host.
//!
//! The host copies aiocbs as bytes and decodes them at the offsets of
//! [`GlibcAiocb`], whose layout is pinned against the `libc` crate's
//! definition.  The kernel-private fields map as follows: `_errno` is
//! glibc's `__error_code` (holding the Linux errno, as glibc keeps it),
//! `_retval` is `__return_value`, and `_state` takes the first word of
//! `__glibc_reserved`, which glibc never uses.

use core::mem::{offset_of, size_of};

use static_assertions::const_assert_eq;

use crate::abi::{LIO_NOP, LIO_READ, LIO_WRITE, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD};

/// glibc's `struct aiocb` on x86-64.
#[repr(C)]
pub struct GlibcAiocb {
    /// `aio_fildes`.
    pub fildes: i32,
    /// `aio_lio_opcode`.
    pub lio_opcode: i32,
    /// `aio_reqprio`.
    pub reqprio: i32,
    /// `aio_buf`.
    pub buf: u64,
    /// `aio_nbytes`.
    pub nbytes: u64,
    /// `aio_sigevent`.
    pub sigevent: GlibcSigevent,
    /// `__next_prio`.
    pub next_prio: u64,
    /// `__abs_prio`.
    pub abs_prio: i32,
    /// `__policy`.
    pub policy: i32,
    /// `__error_code`: our `_errno`.
    pub error_code: i32,
    /// `__return_value`: our `_retval`.
    pub return_value: i64,
    /// `aio_offset`.
    pub offset: i64,
    /// `__glibc_reserved`; the first word is our `_state`.
    pub reserved: [u32; 8],
}

/// glibc's `struct sigevent`.
#[repr(C)]
pub struct GlibcSigevent {
    /// `sigev_value`.
    pub value: u64,
    /// `sigev_signo`.
    pub signo: i32,
    /// `sigev_notify`.
    pub notify: i32,
    /// `sigev_notify_function` (the `_sigev_thread` union member).
    pub function: u64,
    /// `sigev_notify_attributes`.
    pub attributes: u64,
    /// The rest of the union.
    pub pad: [u64; 4],
}

const_assert_eq!(size_of::<GlibcAiocb>(), size_of::<libc::aiocb>());
const_assert_eq!(size_of::<GlibcAiocb>(), 168);
const_assert_eq!(
    offset_of!(GlibcAiocb, fildes),
    offset_of!(libc::aiocb, aio_fildes)
);
const_assert_eq!(
    offset_of!(GlibcAiocb, lio_opcode),
    offset_of!(libc::aiocb, aio_lio_opcode)
);
const_assert_eq!(
    offset_of!(GlibcAiocb, reqprio),
    offset_of!(libc::aiocb, aio_reqprio)
);
const_assert_eq!(
    offset_of!(GlibcAiocb, buf),
    offset_of!(libc::aiocb, aio_buf)
);
const_assert_eq!(
    offset_of!(GlibcAiocb, nbytes),
    offset_of!(libc::aiocb, aio_nbytes)
);
const_assert_eq!(
    offset_of!(GlibcAiocb, sigevent),
    offset_of!(libc::aiocb, aio_sigevent)
);
const_assert_eq!(
    offset_of!(GlibcAiocb, offset),
    offset_of!(libc::aiocb, aio_offset)
);
const_assert_eq!(offset_of!(GlibcAiocb, error_code), 112);
const_assert_eq!(offset_of!(GlibcAiocb, return_value), 120);
const_assert_eq!(size_of::<GlibcSigevent>(), size_of::<libc::sigevent>());
const_assert_eq!(
    offset_of!(GlibcSigevent, signo),
    offset_of!(libc::sigevent, sigev_signo)
);
const_assert_eq!(
    offset_of!(GlibcSigevent, notify),
    offset_of!(libc::sigevent, sigev_notify)
);
const_assert_eq!(
    offset_of!(GlibcSigevent, value),
    offset_of!(libc::sigevent, sigev_value)
);

/// Size of the aiocb.
pub const SIZE: usize = size_of::<GlibcAiocb>();
/// Offset of our `_state`.
pub const STATE: usize = offset_of!(GlibcAiocb, reserved);
/// Offset of our `_errno`.
pub const ERRNO: usize = offset_of!(GlibcAiocb, error_code);
/// Offset of our `_retval`.
pub const RETVAL: usize = offset_of!(GlibcAiocb, return_value);
/// Size of a sigevent.
pub const SIGEV_SIZE: usize = size_of::<GlibcSigevent>();

const SIGEV: usize = offset_of!(GlibcAiocb, sigevent);

fn rd_i32(b: &[u8], at: usize) -> i32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    i32::from_ne_bytes(w)
}

fn rd_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

/// glibc `LIO_*` → NetBSD `LIO_*` (-1 for an unknown opcode).
pub fn lio_opcode_to_netbsd(op: i32) -> i32 {
    match op {
        libc::LIO_READ => LIO_READ,
        libc::LIO_WRITE => LIO_WRITE,
        libc::LIO_NOP => LIO_NOP,
        _ => -1,
    }
}

/// glibc `SIGEV_*` → NetBSD `SIGEV_*` (-1 for one the engine lacks, such
/// as SIGEV_THREAD_ID).
pub fn sigev_notify_to_netbsd(n: i32) -> i32 {
    match n {
        libc::SIGEV_NONE => SIGEV_NONE,
        libc::SIGEV_SIGNAL => SIGEV_SIGNAL,
        libc::SIGEV_THREAD => SIGEV_THREAD,
        _ => -1,
    }
}

/// Decodes a sigevent copied in as bytes.
///
/// glibc's SIGEV_SIGNAL is 0, so an aiocb that a program zeroed and never
/// set up reads as "SIGEV_SIGNAL with signal 0"; glibc sends nothing for
/// it, and so many programs rely on that that the host does the same:
/// signal 0 means no notification.
pub fn decode_sigevent(b: &[u8]) -> crate::os::SigeventReq {
    let notify = rd_i32(b, offset_of!(GlibcSigevent, notify));
    let signo = rd_i32(b, offset_of!(GlibcSigevent, signo));
    let notify = if notify == libc::SIGEV_SIGNAL && signo == 0 {
        SIGEV_NONE
    } else {
        sigev_notify_to_netbsd(notify)
    };
    crate::os::SigeventReq {
        notify,
        signo,
        value: rd_u64(b, offset_of!(GlibcSigevent, value)) as usize,
        function: rd_u64(b, offset_of!(GlibcSigevent, function)) as usize,
        attributes: rd_u64(b, offset_of!(GlibcSigevent, attributes)) as usize,
    }
}

/// Decodes an aiocb copied in as bytes.
pub fn decode_aiocb(b: &[u8; SIZE]) -> crate::os::AiocbReq {
    crate::os::AiocbReq {
        fildes: rd_i32(b, offset_of!(GlibcAiocb, fildes)),
        opcode: lio_opcode_to_netbsd(rd_i32(b, offset_of!(GlibcAiocb, lio_opcode))),
        reqprio: rd_i32(b, offset_of!(GlibcAiocb, reqprio)),
        buf: rd_u64(b, offset_of!(GlibcAiocb, buf)) as usize,
        nbytes: rd_u64(b, offset_of!(GlibcAiocb, nbytes)) as usize,
        offset: rd_u64(b, offset_of!(GlibcAiocb, offset)) as i64,
        sigevent: decode_sigevent(&b[SIGEV..SIGEV + SIGEV_SIZE]),
        status: (
            rd_i32(b, STATE),
            Some(rd_i32(b, offset_of!(GlibcAiocb, error_code)))
                .filter(|&e| e != 0)
                .map(super::errno::from_linux),
            rd_u64(b, offset_of!(GlibcAiocb, return_value)) as i64 as isize,
        ),
    }
}
