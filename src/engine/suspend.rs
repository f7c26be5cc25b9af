//! `aio_suspend(2)`: sleep until one of a list of jobs is done.
//!
//! An entry is done when its aiocb says `JOB_DONE` (a result published and
//! not yet collected by `aio_return`): that is what `aio_error` reads, so
//! once a caller has seen a result there, `aio_suspend` agrees at once,
//! even in the moment between a worker's publication and its removal of
//! the job from the table.  An entry is pending while its job is in the
//! table.  Any other entry (null, never submitted, already collected, a
//! copy of another process's aiocb) is ignored, as NetBSD does; an entry
//! whose `_state` cannot be read is EFAULT.  A list with nothing pending
//! waits for its timeout (EAGAIN) or a signal (EINTR).
//!
//! The aiocbs are read without the AIO lock (it is never held across a
//! copyin), so the answer is settled in passes: under the lock, the
//! entries whose answer the table cannot give (not in it, or running or
//! finishing: their result may be out) are noted with the table's
//! removal count; their `_state` is read unlocked; back under the lock,
//! a changed count means a job left meanwhile and the pass is repeated.
//! Sleeping follows under the same lock hold as the last look, so a
//! removal cannot slip between the look and the sleep.
//!
//! `nent` outside `1..=kern.aio_listio_max` is EINVAL, as for
//! `lio_listio` and as FreeBSD answers.  NetBSD's C code answers EAGAIN,
//! which a caller cannot tell from an expired timeout and would retry.

use alloc::vec::Vec;
use core::ops::Deref;
use core::sync::atomic::Ordering::{Acquire, Relaxed};

use crate::abi::JOB_DONE;
use crate::errno::Errno;
use crate::os::{Aiocb, Os, Sleep, Timespec, TimespecReq, UserPtr, Wakeup};

use super::job::JobState;
use super::limits::System;
use super::proc::{AioProc, ProcState};

const NSEC_PER_SEC: u64 = 1_000_000_000;

/// How long `aio_suspend` with a timeout (even zero) waits at least for a
/// job whose result it has seen to leave the table (so that its
/// notification is queued first), before it returns 0 anyway: 10 ms,
/// thousands of times the moment it normally takes.
const LEAVING_WAIT_NS: u64 = 10_000_000;

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

/// `aio_suspend(list, nent, timeout)`.  `proc` is the process's AIO
/// state if it has one; `create` makes it when a process without one must
/// sleep (its entries are then all ignored: it waits for the timeout or a
/// signal on the state's condition variable).
pub fn aio_suspend<O: Os, P: Deref<Target = AioProc<O>>>(
    os: &O,
    sys: &System,
    proc: Option<P>,
    create: impl FnOnce() -> Result<P, Errno>,
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
    let start = os.now_ns();
    let proc = match proc {
        Some(p) => p,
        None => {
            // No job of this process was ever queued: only a published,
            // uncollected result (a forked child's copy of its parent's
            // aiocb) makes an entry done; nothing is pending.
            if first_done(os, ptrs, |_| true)?.is_some() {
                return Ok(0);
            }
            if limit == Some(0) {
                return Err(Errno::EAGAIN);
            }
            create()?
        }
    };

    // Before sleeping, watch for completions for a moment (spinning
    // waiters are not counted in `waiters`, so finishing workers need not
    // wake anyone), but never past the caller's timeout, and not at all
    // when jobs take longer than the spin (device I/O): then the spin
    // would only take a CPU from whoever completes the I/O.
    let spin = match sys.spin_ns() {
        s if proc.service_ns.load(Relaxed) < s
            && proc.spin_apart(&proc.worker_cpu)
            && proc.spin_pays() =>
        {
            s.min(limit.unwrap_or(u64::MAX))
        }
        _ => 0,
    };
    let spin_end = start.saturating_add(spin);
    let mut g = proc.state.lock();
    // An entry whose result is out and whose job is still leaving the
    // table (its notification being sent): done, but returned only once
    // it has left, so that the caller's completion signal is queued.
    let mut leaving = false;
    // The wait timed out: one more look, then EAGAIN.
    let mut expired = false;
    loop {
        // Entries the table cannot answer for: read their aiocbs.
        let look = LookSet::new(ptrs, |p| needs_look(&g, p));
        if look.any() {
            let seen = proc.removed.load(Acquire);
            drop(g);
            let done = first_done(os, ptrs, |i| look.has(i));
            g = proc.state.lock();
            if let Some(i) = done? {
                if !g.jobs.contains_key(&ptrs[i].addr()) {
                    return Ok(0);
                }
                leaving = true;
            } else if proc.removed.load(Acquire) != seen {
                // A job left while we read: its aiocb may say done now.
                continue;
            }
        }
        let pending = ptrs.iter().any(|p| g.jobs.contains_key(&p.addr()));
        if !pending && g.exiting {
            // Exit cancelled the jobs without publishing anything: there
            // is nothing left to wait for, and the process is going.
            return Err(Errno::EINTR);
        }
        let now = if spin > 0 && pending {
            os.now_ns()
        } else {
            spin_end
        };
        if now < spin_end {
            let seen = proc.removed.load(Acquire);
            drop(g);
            proc.spin_until(spin_end - now, || proc.removed.load(Acquire) != seen);
            g = proc.state.lock();
            continue;
        }
        let how = match limit {
            // The moment between a worker's publication and its removal
            // of the job (microseconds: the worker does not sleep in
            // between).  Bounded all the same, and interruptible: an
            // aiocb that says done while its job runs may also be the
            // program's own scribbling, and that must not hang the call.
            _ if leaving && expired => return Ok(0),
            _ if leaving => Sleep::Interruptible {
                timeout_ns: limit.map(|l| l.max(LEAVING_WAIT_NS)),
            },
            _ if expired => return Err(Errno::EAGAIN),
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
            // A job left, a spurious wakeup, or the time ran out: look
            // again (a job may have finished just as the time ran out, and
            // then the caller is better served by 0).
            Wakeup::Woken => {}
            Wakeup::TimedOut => expired = true,
            // A signal (the completion signal itself, often): with an
            // entry already seen done the answer is 0, not EINTR.
            Wakeup::Interrupted if leaving => return Ok(0),
            Wakeup::Interrupted => return Err(Errno::EINTR),
        }
    }
}

/// Whether entry `p`'s answer needs its aiocb: it is not in the table
/// (done and uncollected, or to be ignored), or its job is running or
/// finishing (its result may already be published).  A reserved or queued
/// job is pending whatever its aiocb still says.
fn needs_look<O: Os>(g: &ProcState<O>, p: &UserPtr<Aiocb>) -> bool {
    match g.jobs.get(&p.addr()) {
        None => true,
        Some(j) => matches!(j.state(), JobState::Running | JobState::Finishing),
    }
}

/// The first entry `i` for which `want(i)` holds that says `JOB_DONE`;
/// EFAULT if one of them cannot be read.
fn first_done<O: Os>(
    os: &O,
    ptrs: &[UserPtr<Aiocb>],
    want: impl Fn(usize) -> bool,
) -> Result<Option<usize>, Errno> {
    for (i, p) in ptrs.iter().enumerate() {
        if want(i) && os.copyin_state(*p)? == JOB_DONE {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// The entries to read in one pass: a bit each for the first 64, and for
/// longer lists (rare) one flag for all the rest (reading a few more
/// aiocbs is cheaper than an allocation).
struct LookSet {
    first: u64,
    rest: bool,
}

impl LookSet {
    fn new(ptrs: &[UserPtr<Aiocb>], f: impl Fn(&UserPtr<Aiocb>) -> bool) -> Self {
        let mut first = 0u64;
        for (i, p) in ptrs.iter().enumerate().take(64) {
            if f(p) {
                first |= 1 << i;
            }
        }
        let rest = ptrs.iter().skip(64).any(f);
        LookSet { first, rest }
    }

    fn any(&self) -> bool {
        self.first != 0 || self.rest
    }

    fn has(&self, i: usize) -> bool {
        if i >= 64 {
            self.rest
        } else {
            self.first & (1 << i) != 0
        }
    }
}
