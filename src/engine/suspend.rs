//! `aio_suspend(2)`: sleep until one of a list of jobs is done.
//!
//! "Done" means the job has left the table, which happens only after its
//! result is in the aiocb, so a caller woken here always finds the result
//! with `aio_error`.  A non-null entry that is not in flight counts as done
//! (it completed earlier, or was never queued, and will not become done by
//! waiting); null entries are ignored, as POSIX asks.

use alloc::vec::Vec;
use core::sync::atomic::Ordering::{Acquire, Relaxed};

use crate::errno::Errno;
use crate::os::{Aiocb, Os, Sleep, Timespec, TimespecReq, UserPtr, Wakeup};

use super::limits::System;
use super::proc::AioProc;

const NSEC_PER_SEC: u64 = 1_000_000_000;

/// Lists up to this long are copied into a buffer on the stack (256
/// bytes); the kernel flavour keeps every frame under 1 KiB.
const SMALL_LIST: usize = 32;

/// Converts a relative timeout, rejecting a malformed one.
pub(crate) fn timeout_ns(ts: TimespecReq) -> Result<u64, Errno> {
    if !(0..NSEC_PER_SEC as i64).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    if ts.sec < 0 {
        // Already expired: a poll.
        return Ok(0);
    }
    Ok((ts.sec as u64)
        .saturating_mul(NSEC_PER_SEC)
        .saturating_add(ts.nsec as u64))
}

/// `aio_suspend(list, nent, timeout)`.
pub fn aio_suspend<O: Os>(
    os: &O,
    sys: &System,
    proc: Option<&AioProc<O>>,
    list: UserPtr<UserPtr<Aiocb>>,
    nent: i32,
    timeout: UserPtr<Timespec>,
) -> Result<isize, Errno> {
    let n = usize::try_from(nent).map_err(|_| Errno::EINVAL)?;
    if n == 0 || n > sys.listio_max() {
        return Err(Errno::EINVAL);
    }
    let limit = if timeout.is_null() {
        None
    } else {
        Some(timeout_ns(os.copyin_timespec(timeout)?)?)
    };
    // The list is copied in on every call: short ones (the usual case)
    // stay on the stack, longer ones take an allocation.
    let mut small = [const { UserPtr::<Aiocb>::null() }; SMALL_LIST];
    let mut big = Vec::new();
    let all: &mut [UserPtr<Aiocb>] = if n <= SMALL_LIST {
        &mut small[..n]
    } else {
        big.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        big.resize(n, UserPtr::null());
        &mut big
    };
    os.copyin_aiocb_list(list, all)?;
    // Null entries are ignored.
    let mut kept = 0;
    for i in 0..all.len() {
        if !all[i].is_null() {
            all[kept] = all[i];
            kept += 1;
        }
    }
    let ptrs = &all[..kept];
    let Some(proc) = proc else {
        // Nothing was ever queued by this process: nothing is in flight.
        return Ok(0);
    };
    if ptrs.is_empty() {
        return Ok(0);
    }

    let start = os.now_ns();
    // Before sleeping, watch for completions for a moment (spinning
    // waiters are not counted in `waiters`, so finishing workers need not
    // wake anyone), but never past the caller's timeout, and not at all
    // when jobs take longer than the spin (device I/O): then the spin
    // would only take a CPU from whoever completes the I/O.
    let spin = match sys.spin_ns() {
        s if proc.service_ns.load(Relaxed) < s => s.min(limit.unwrap_or(u64::MAX)),
        _ => 0,
    };
    let spin_end = start.saturating_add(spin);
    let mut g = proc.state.lock();
    loop {
        if ptrs.iter().any(|p| !g.jobs.contains_key(&p.addr())) {
            return Ok(0);
        }
        let now = if spin > 0 { os.now_ns() } else { spin_end };
        if now < spin_end {
            let seen = proc.removed.load(Acquire);
            drop(g);
            proc.spin_until(spin_end - now, || proc.removed.load(Acquire) != seen);
            g = proc.state.lock();
            continue;
        }
        let how = match limit {
            None => Sleep::Interruptible { timeout_ns: None },
            Some(l) => {
                let spent = os.now_ns().saturating_sub(start);
                if spent >= l {
                    return Err(Errno::EAGAIN);
                }
                Sleep::Interruptible {
                    timeout_ns: Some(l - spent),
                }
            }
        };
        for p in ptrs {
            if let Some(j) = g.jobs.get_mut(&p.addr()) {
                j.waited = true;
            }
        }
        g.waiters += 1;
        let w = proc.done.wait(&mut g, how);
        g.waiters -= 1;
        match w {
            Wakeup::Woken => {}
            // Re-checked at the top: a job may have finished just as the
            // time ran out, and then the caller is better served by 0.
            Wakeup::TimedOut => {
                if ptrs.iter().all(|p| g.jobs.contains_key(&p.addr())) {
                    return Err(Errno::EAGAIN);
                }
            }
            Wakeup::Interrupted => return Err(Errno::EINTR),
        }
    }
}
