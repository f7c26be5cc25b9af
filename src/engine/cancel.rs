//! `aio_cancel(2)`.
//!
//! Cancellation in steps:
//! 1. check the arguments (no lock): the descriptor is open, the aiocb (if
//!    any) names that descriptor;
//! 2. under the AIO lock, apply `Cancel` to each selected job
//!    ([`AioProc::cancel_where`]): queued jobs and stream jobs a worker is
//!    waiting on (`Polling`, nothing transferred) become `Finishing` and
//!    are collected, reserved ones are flagged for their submitter, running
//!    ones refuse, and a polling write with part of its bytes out is told
//!    to stop with that count;
//! 3. unlocked, wake the polling workers (they find their job gone, or
//!    stop it), publish ECANCELED into each collected aiocb, deliver its
//!    notification (POSIX: a cancelled job still notifies) and release its
//!    file (a polling worker releases the file of its job);
//! 4. under the lock, remove them and wake waiters.
//!
//! Steps 3 and 4 are [`AioProc::retire`], shared with normal completion.

use alloc::vec::Vec;

use crate::abi::{AIO_ALLDONE, AIO_CANCELED, AIO_NOTCANCELED};
use crate::errno::Errno;
use crate::os::{Aiocb, Os, UserPtr};

use super::proc::{AioProc, Select};

/// `aio_cancel(fd, p)`; `p` null cancels every job on `fd`.
pub fn aio_cancel<O: Os>(
    os: &O,
    proc: Option<&AioProc<O>>,
    fd: i32,
    p: UserPtr<Aiocb>,
) -> Result<isize, Errno> {
    if !os.fd_is_open(fd) {
        return Err(Errno::EBADF);
    }
    if !p.is_null() && os.copyin_aiocb(p)?.fildes != fd {
        return Err(Errno::EINVAL);
    }
    let Some(proc) = proc else {
        return Ok(AIO_ALLDONE);
    };
    let mut batch = Vec::new();
    let mut wake = Vec::new();
    let (canceled, notcanceled) = {
        let mut g = proc.state.lock();
        let which = if p.is_null() {
            Select::Fd(fd)
        } else {
            Select::One(p.addr())
        };
        AioProc::cancel_where(&mut g, &mut batch, &mut wake, which)
    };
    proc.wake_pollers(&wake);
    proc.retire(&mut batch, false);
    Ok(if notcanceled {
        AIO_NOTCANCELED
    } else if canceled {
        AIO_CANCELED
    } else {
        AIO_ALLDONE
    })
}
