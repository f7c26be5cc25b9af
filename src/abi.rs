//! NetBSD's user ABI for AIO: the numbers a NetBSD program passes to and
//! reads from the `aio` system calls.
//!
//! The syscall layer speaks these values on every host; the Linux host maps
//! glibc's numbers onto them at its C boundary.  The byte layout of
//! `struct aiocb` lives with the code that copies it (see
//! [`netbsd_aiocb`]), pinned against the real headers by the binding layer.

/// `aiocb._state`: the job was never submitted, or its result was collected.
pub const JOB_NONE: i32 = 0;
/// `aiocb._state`: the job is queued or running.
pub const JOB_WIP: i32 = 1;
/// `aiocb._state`: `_errno`/`_retval` hold the result.
pub const JOB_DONE: i32 = 2;

/// `aio_cancel` results.
pub const AIO_CANCELED: isize = 1;
/// The job could not be cancelled (it is running).
pub const AIO_NOTCANCELED: isize = 2;
/// Nothing to cancel: every matching job has completed.
pub const AIO_ALLDONE: isize = 3;

/// `aio_lio_opcode` values.
pub const LIO_NOP: i32 = 0;
/// Write request in a `lio_listio` list.
pub const LIO_WRITE: i32 = 1;
/// Read request in a `lio_listio` list.
pub const LIO_READ: i32 = 2;
/// `lio_listio` mode: return once queued.
pub const LIO_NOWAIT: i32 = 0;
/// `lio_listio` mode: return when every job is done.
pub const LIO_WAIT: i32 = 1;

/// `sigev_notify` values.
pub const SIGEV_NONE: i32 = 0;
/// Post `sigev_signo` with `sigev_value`.
pub const SIGEV_SIGNAL: i32 = 1;
/// Call `sigev_notify_function` in a new thread (libc's business on NetBSD).
pub const SIGEV_THREAD: i32 = 2;
/// Scheduler activations upcall; NetBSD has not supported it since 5.0.
pub const SIGEV_SA: i32 = 3;

/// `si_code` of an AIO completion signal.
pub const SI_ASYNCIO: i32 = -3;

/// `aio_fsync` operations (the `open(2)` flags).
pub const O_SYNC: i32 = 0x0080;
/// Data-only synchronisation.
pub const O_DSYNC: i32 = 0x0001_0000;

/// Default of `kern.aio_listio_max`: the longest list, and the per-process
/// job limit.
pub const AIO_LISTIO_MAX: usize = 512;
/// Default of `kern.aio_max`: jobs in flight in the whole system.
pub const AIO_MAX: usize = 8192;
/// Largest `aio_reqprio` accepted.  Priorities lower a job's priority
/// relative to the submitter's; this engine records but does not use them.
pub const AIO_PRIO_DELTA_MAX: i32 = 20;
/// `_POSIX_ASYNCHRONOUS_IO`, the value of `kern.posix_aio`.
pub const POSIX_ASYNCHRONOUS_IO: i32 = 200_112;
/// Number of signals on NetBSD (`NSIG`); valid signals are 1..NSIG-1.
pub const NSIG: i32 = 64;
/// `SSIZE_MAX` on the LP64 ports.
pub const SSIZE_MAX: usize = isize::MAX as usize;

/// Byte layout of NetBSD/amd64 `struct aiocb` (88 bytes, 8-aligned) and
/// `struct sigevent` (32 bytes).  Host code that copies an aiocb as bytes
/// decodes it with these offsets; the binding layer asserts them against the
/// bindgen layout of the real header.
pub mod netbsd_aiocb {
    /// `sizeof(struct aiocb)`.
    pub const SIZE: usize = 88;
    /// `aio_offset` (`off_t`).
    pub const OFFSET: usize = 0;
    /// `aio_buf` (`void *`).
    pub const BUF: usize = 8;
    /// `aio_nbytes` (`size_t`).
    pub const NBYTES: usize = 16;
    /// `aio_fildes` (`int`).
    pub const FILDES: usize = 24;
    /// `aio_lio_opcode` (`int`).
    pub const LIO_OPCODE: usize = 28;
    /// `aio_reqprio` (`int`).
    pub const REQPRIO: usize = 32;
    /// `aio_sigevent` (`struct sigevent`).
    pub const SIGEVENT: usize = 40;
    /// `_state` (`int`, kernel-private).
    pub const STATE: usize = 72;
    /// `_errno` (`int`, kernel-private).
    pub const ERRNO: usize = 76;
    /// `_retval` (`ssize_t`, kernel-private).
    pub const RETVAL: usize = 80;

    /// `sizeof(struct sigevent)`.
    pub const SIGEV_SIZE: usize = 32;
    /// `sigev_notify`.
    pub const SIGEV_NOTIFY: usize = 0;
    /// `sigev_signo`.
    pub const SIGEV_SIGNO: usize = 4;
    /// `sigev_value` (`union sigval`, pointer sized).
    pub const SIGEV_VALUE: usize = 8;
    /// `sigev_notify_function`.
    pub const SIGEV_FUNCTION: usize = 16;
    /// `sigev_notify_attributes`.
    pub const SIGEV_ATTRIBUTES: usize = 24;

    /// `sizeof(struct timespec)`: `time_t tv_sec; long tv_nsec`.
    pub const TIMESPEC_SIZE: usize = 16;
}

/// Copying NetBSD aiocbs as bytes, for every host whose user memory is
/// NetBSD-shaped (the kernel and rump hosts, the fake OS, the loom
/// models): one decoder, so the tests exercise the kernel's own.
/// [`netbsd_user_memory!`](crate::netbsd_user_memory) writes the
/// corresponding `Os` methods.
pub mod netbsd_codec {
    use core::sync::atomic::{fence, Ordering};

    use super::netbsd_aiocb as L;
    use super::{JOB_DONE, JOB_WIP};
    use crate::errno::Errno;
    use crate::os::{Aiocb, AiocbReq, Sigevent, SigeventReq, Timespec, TimespecReq, UserPtr};

    /// Byte copies to and from user memory.
    pub trait UserBytes {
        /// Copies `out.len()` bytes in from `addr`.
        fn copyin(&self, addr: usize, out: &mut [u8]) -> Result<(), Errno>;
        /// Copies `bytes` out to `addr`.
        fn copyout(&self, addr: usize, bytes: &[u8]) -> Result<(), Errno>;
    }

    fn i32_at(b: &[u8], at: usize) -> i32 {
        i32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        u64::from_ne_bytes(w)
    }

    fn sigevent(b: &[u8]) -> SigeventReq {
        SigeventReq {
            notify: i32_at(b, L::SIGEV_NOTIFY),
            signo: i32_at(b, L::SIGEV_SIGNO),
            value: u64_at(b, L::SIGEV_VALUE) as usize,
            function: u64_at(b, L::SIGEV_FUNCTION) as usize,
            attributes: u64_at(b, L::SIGEV_ATTRIBUTES) as usize,
        }
    }

    /// The user-set fields of an aiocb.
    pub fn copyin_aiocb(m: &impl UserBytes, p: UserPtr<Aiocb>) -> Result<AiocbReq, Errno> {
        let mut b = [0u8; L::SIZE];
        m.copyin(p.addr(), &mut b)?;
        Ok(AiocbReq {
            fildes: i32_at(&b, L::FILDES),
            opcode: i32_at(&b, L::LIO_OPCODE),
            reqprio: i32_at(&b, L::REQPRIO),
            buf: u64_at(&b, L::BUF) as usize,
            nbytes: u64_at(&b, L::NBYTES) as usize,
            offset: u64_at(&b, L::OFFSET) as i64,
            sigevent: sigevent(&b[L::SIGEVENT..L::SIGEVENT + L::SIGEV_SIZE]),
            status: (
                i32_at(&b, L::STATE),
                Some(i32_at(&b, L::ERRNO))
                    .filter(|&e| e != 0)
                    .map(Errno::new),
                u64_at(&b, L::RETVAL) as i64 as isize,
            ),
        })
    }

    /// A `struct sigevent`.
    pub fn copyin_sigevent(m: &impl UserBytes, p: UserPtr<Sigevent>) -> Result<SigeventReq, Errno> {
        let mut b = [0u8; L::SIGEV_SIZE];
        m.copyin(p.addr(), &mut b)?;
        Ok(sigevent(&b))
    }

    /// `n` aiocb pointers, appended to `out`.
    /// `out.len()` aiocb pointers, through a small buffer on the stack (no
    /// allocation: `aio_suspend` copies its list in on every call).
    pub fn copyin_aiocb_list(
        m: &impl UserBytes,
        p: UserPtr<UserPtr<Aiocb>>,
        out: &mut [UserPtr<Aiocb>],
    ) -> Result<(), Errno> {
        let mut b = [0u8; 16 * 8];
        let mut addr = p.addr();
        for part in out.chunks_mut(16) {
            let bytes = &mut b[..part.len() * 8];
            m.copyin(addr, bytes)?;
            for (o, c) in part.iter_mut().zip(bytes.chunks_exact(8)) {
                *o = UserPtr::new(u64_at(c, 0) as usize);
            }
            addr = addr.checked_add(bytes.len()).ok_or(Errno::EFAULT)?;
        }
        Ok(())
    }

    /// A `struct timespec`.
    pub fn copyin_timespec(m: &impl UserBytes, p: UserPtr<Timespec>) -> Result<TimespecReq, Errno> {
        let mut b = [0u8; L::TIMESPEC_SIZE];
        m.copyin(p.addr(), &mut b)?;
        Ok(TimespecReq {
            sec: u64_at(&b, 0) as i64,
            nsec: u64_at(&b, 8) as i64,
        })
    }

    /// `_state`.
    pub fn copyin_state(m: &impl UserBytes, p: UserPtr<Aiocb>) -> Result<i32, Errno> {
        let mut b = [0u8; 4];
        m.copyin(p.addr() + L::STATE, &mut b)?;
        Ok(i32::from_ne_bytes(b))
    }

    /// Writes `_state`.
    pub fn copyout_state(m: &impl UserBytes, p: UserPtr<Aiocb>, state: i32) -> Result<(), Errno> {
        m.copyout(p.addr() + L::STATE, &state.to_ne_bytes())
    }

    /// `_errno` and `_retval`, then `_state` (the publication order).
    /// Marking an aiocb in progress (`JOB_WIP`) needs no order and takes
    /// one copy: a reader that pairs `JOB_WIP` with an old `_retval` does
    /// not see the in-progress token and asks the job table instead.
    pub fn copyout_status(
        m: &impl UserBytes,
        p: UserPtr<Aiocb>,
        state: i32,
        error: Option<Errno>,
        retval: isize,
    ) -> Result<(), Errno> {
        let mut b = [0u8; L::SIZE - L::STATE];
        b[..4].copy_from_slice(&state.to_ne_bytes());
        b[L::ERRNO - L::STATE..L::ERRNO - L::STATE + 4]
            .copy_from_slice(&error.map_or(0, Errno::get).to_ne_bytes());
        b[L::RETVAL - L::STATE..].copy_from_slice(&(retval as i64).to_ne_bytes());
        if state == JOB_WIP {
            return m.copyout(p.addr() + L::STATE, &b);
        }
        m.copyout(p.addr() + L::ERRNO, &b[L::ERRNO - L::STATE..])?;
        // The copies are calls the compiler cannot move stores across; the
        // fence orders them for the CPU (free on x86's TSO).
        fence(Ordering::Release);
        copyout_state(m, p, state)
    }

    /// `_state` with `_errno` and `_retval` in one copy; for `JOB_DONE`
    /// the result again, after it.  A copy routine may read the fields in
    /// any order, so only a second read orders a result after the state
    /// that announced it; any other state's result fields are a hint (the
    /// in-progress token), and the call a polling program makes while its
    /// job runs takes one copy.
    pub fn copyin_status(
        m: &impl UserBytes,
        p: UserPtr<Aiocb>,
    ) -> Result<(i32, Option<Errno>, isize), Errno> {
        let mut b = [0u8; L::SIZE - L::STATE];
        m.copyin(p.addr() + L::STATE, &mut b)?;
        let state = i32_at(&b, 0);
        if state == JOB_DONE {
            fence(Ordering::Acquire);
            m.copyin(p.addr() + L::ERRNO, &mut b[L::ERRNO - L::STATE..])?;
        }
        let e = i32_at(&b, L::ERRNO - L::STATE);
        let r = u64_at(&b, L::RETVAL - L::STATE) as i64 as isize;
        Ok((state, (e != 0).then(|| Errno::new(e)), r))
    }
}

/// Inside an `impl Os for T`: the user-memory methods, delegated to
/// [`netbsd_codec`] over `$bytes` (an expression implementing
/// [`netbsd_codec::UserBytes`], evaluated with `self` in scope).
#[macro_export]
macro_rules! netbsd_user_memory {
    ($self:ident => $bytes:expr) => {
        fn copyin_aiocb(
            &$self,
            p: $crate::os::UserPtr<$crate::os::Aiocb>,
        ) -> Result<$crate::os::AiocbReq, $crate::Errno> {
            $crate::abi::netbsd_codec::copyin_aiocb($bytes, p)
        }
        fn copyin_sigevent(
            &$self,
            p: $crate::os::UserPtr<$crate::os::Sigevent>,
        ) -> Result<$crate::os::SigeventReq, $crate::Errno> {
            $crate::abi::netbsd_codec::copyin_sigevent($bytes, p)
        }
        fn copyin_aiocb_list(
            &$self,
            p: $crate::os::UserPtr<$crate::os::UserPtr<$crate::os::Aiocb>>,
            out: &mut [$crate::os::UserPtr<$crate::os::Aiocb>],
        ) -> Result<(), $crate::Errno> {
            $crate::abi::netbsd_codec::copyin_aiocb_list($bytes, p, out)
        }
        fn copyin_timespec(
            &$self,
            p: $crate::os::UserPtr<$crate::os::Timespec>,
        ) -> Result<$crate::os::TimespecReq, $crate::Errno> {
            $crate::abi::netbsd_codec::copyin_timespec($bytes, p)
        }
        fn copyin_state(&$self, p: $crate::os::UserPtr<$crate::os::Aiocb>) -> Result<i32, $crate::Errno> {
            $crate::abi::netbsd_codec::copyin_state($bytes, p)
        }
        fn copyout_state(
            &$self,
            p: $crate::os::UserPtr<$crate::os::Aiocb>,
            state: i32,
        ) -> Result<(), $crate::Errno> {
            $crate::abi::netbsd_codec::copyout_state($bytes, p, state)
        }
        fn copyout_status(
            &$self,
            p: $crate::os::UserPtr<$crate::os::Aiocb>,
            state: i32,
            error: Option<$crate::Errno>,
            retval: isize,
        ) -> Result<(), $crate::Errno> {
            $crate::abi::netbsd_codec::copyout_status($bytes, p, state, error, retval)
        }
        fn copyin_status(
            &$self,
            p: $crate::os::UserPtr<$crate::os::Aiocb>,
        ) -> Result<(i32, Option<$crate::Errno>, isize), $crate::Errno> {
            $crate::abi::netbsd_codec::copyin_status($bytes, p)
        }
    };
}

#[cfg(test)]
mod tests {
    extern crate std;
    use core::cell::RefCell;
    use std::vec::Vec;

    use super::netbsd_aiocb as L;
    use super::netbsd_codec::{self as codec, UserBytes};
    use super::{JOB_DONE, JOB_NONE, JOB_WIP};
    use crate::errno::Errno;
    use crate::os::UserPtr;

    /// One aiocb of user memory that logs each copy, and can serve the
    /// first copy in from an older picture of the aiocb, as a copy routine
    /// that reads the result fields before `_state` would see it while a
    /// publication is under way.
    struct Mem {
        now: RefCell<[u8; L::SIZE]>,
        stale: RefCell<Option<[u8; L::SIZE]>>,
        log: RefCell<Vec<(char, usize, usize)>>,
    }

    impl Mem {
        fn new() -> Self {
            Mem {
                now: RefCell::new([0; L::SIZE]),
                stale: RefCell::new(None),
                log: RefCell::new(Vec::new()),
            }
        }
        fn log(&self) -> Vec<(char, usize, usize)> {
            self.log.take()
        }
    }

    impl UserBytes for Mem {
        fn copyin(&self, addr: usize, out: &mut [u8]) -> Result<(), Errno> {
            self.log.borrow_mut().push(('i', addr, out.len()));
            let now = *self.now.borrow();
            let old = self.stale.take().unwrap_or(now);
            out.copy_from_slice(&now[addr..addr + out.len()]);
            // The result fields as they were; `_state` as it is.
            for (i, b) in out.iter_mut().enumerate() {
                if addr + i >= L::ERRNO {
                    *b = old[addr + i];
                }
            }
            Ok(())
        }
        fn copyout(&self, addr: usize, bytes: &[u8]) -> Result<(), Errno> {
            self.log.borrow_mut().push(('o', addr, bytes.len()));
            self.now.borrow_mut()[addr..addr + bytes.len()].copy_from_slice(bytes);
            Ok(())
        }
    }

    const P: UserPtr<crate::os::Aiocb> = UserPtr::new(0);

    #[test]
    fn a_result_goes_out_before_its_state_and_a_mark_in_one_copy() {
        let m = Mem::new();
        codec::copyout_status(&m, P, JOB_DONE, Some(Errno::EIO), -1).unwrap();
        assert_eq!(
            m.log(),
            [('o', L::ERRNO, L::SIZE - L::ERRNO), ('o', L::STATE, 4)]
        );
        codec::copyout_status(&m, P, JOB_WIP, Some(Errno::EINPROGRESS), -7).unwrap();
        assert_eq!(m.log(), [('o', L::STATE, L::SIZE - L::STATE)]);
        assert_eq!(
            codec::copyin_status(&m, P).unwrap(),
            (JOB_WIP, Some(Errno::EINPROGRESS), -7)
        );
    }

    #[test]
    fn a_done_state_is_paired_with_the_result_read_after_it() {
        let m = Mem::new();
        codec::copyout_status(&m, P, JOB_WIP, Some(Errno::EINPROGRESS), -7).unwrap();
        let in_flight = *m.now.borrow();
        codec::copyout_status(&m, P, JOB_DONE, None, 4).unwrap();
        m.log();
        // The first copy pairs the new JOB_DONE with the token and
        // EINPROGRESS; the answer must not.
        *m.stale.borrow_mut() = Some(in_flight);
        assert_eq!(codec::copyin_status(&m, P).unwrap(), (JOB_DONE, None, 4));
        assert_eq!(
            m.log(),
            [
                ('i', L::STATE, L::SIZE - L::STATE),
                ('i', L::ERRNO, L::SIZE - L::ERRNO)
            ]
        );
        // Any other state takes one copy.
        codec::copyout_state(&m, P, JOB_NONE).unwrap();
        m.log();
        assert_eq!(codec::copyin_status(&m, P).unwrap().0, JOB_NONE);
        assert_eq!(m.log().len(), 1);
    }
}
