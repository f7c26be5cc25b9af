//! Futex-based lock and condition variable for the Linux host.
//!
//! Hand-written rather than pthread-based because an `aio_suspend` must
//! return EINTR when a signal handler runs, and a futex wait reports that
//! where `pthread_cond_wait` hides it.

use core::sync::atomic::{AtomicU32, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};

use crate::os::{RawCondVar, RawMutex, Sleep, Wakeup};

fn futex_wait(word: &AtomicU32, expect: u32, timeout_ns: Option<u64>) -> Result<(), i32> {
    let ts = timeout_ns.map(|ns| libc::timespec {
        tv_sec: (ns / 1_000_000_000).min(i64::MAX as u64) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    });
    let tsp = ts
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live AtomicU32 (a valid, aligned u32 for the whole
    // call) and `tsp` is null or points to `ts`, alive until we return.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expect,
            tsp,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: `word` is a live AtomicU32; FUTEX_WAKE only reads its address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
        );
    }
}

/// Polls of a held lock before sleeping on it: a few microseconds, about
/// what the sleep/wake pair it saves costs here.  200 polls (well under a
/// microsecond) let a program's thread and a worker fall into a convoy,
/// each sleeping on the lock the other had just taken: in the signal-
/// driven benchmark the submitting thread spent 90% of its sleeps there.
const SPIN_TRIES: u32 = 2000;

/// A three-state futex lock: 0 free, 1 held, 2 held with sleepers.
pub struct FutexMutex {
    state: AtomicU32,
}

// SAFETY: `lock` returns only after moving `state` from 0 to non-zero with
// an atomic compare-exchange or swap, and only `unlock` stores 0: one holder
// at a time.
unsafe impl RawMutex for FutexMutex {
    fn new() -> Self {
        FutexMutex {
            state: AtomicU32::new(0),
        }
    }

    fn lock(&self) {
        if self.state.compare_exchange(0, 1, Acquire, Relaxed).is_ok() {
            return;
        }
        // The lock is held for a few hundred nanoseconds at most (nothing
        // slow happens under it), and a thread woken by a condition
        // variable finds it still held by its waker: spin a moment before
        // sleeping, as an adaptive mutex does, so such a hand-over costs
        // no second sleep/wake pair.  Plain loads, no PAUSE: under KVM a
        // PAUSE loop makes the hypervisor deschedule the virtual CPU.
        for _ in 0..SPIN_TRIES {
            if self.state.load(Relaxed) == 0
                && self.state.compare_exchange(0, 1, Acquire, Relaxed).is_ok()
            {
                return;
            }
        }
        while self.state.swap(2, Acquire) != 0 {
            let _ = futex_wait(&self.state, 2, None);
        }
    }

    unsafe fn unlock(&self) {
        if self.state.swap(0, Release) == 2 {
            futex_wake(&self.state, 1);
        }
    }
}

/// A sequence-counter condition variable.
pub struct FutexCondVar {
    seq: AtomicU32,
}

// SAFETY: the waiter reads `seq` while still holding the lock, and every
// signaller changes `seq` before waking; a signal sent after the unlock
// changes `seq`, so the futex wait (which compares atomically) returns at
// once instead of missing it.  `wait` re-takes the lock before returning.
unsafe impl RawCondVar<FutexMutex> for FutexCondVar {
    fn new() -> Self {
        FutexCondVar {
            seq: AtomicU32::new(0),
        }
    }

    unsafe fn wait(&self, m: &FutexMutex, how: Sleep) -> Wakeup {
        let seen = self.seq.load(Relaxed);
        // SAFETY: the caller holds `m` (this function's contract).
        unsafe { m.unlock() };
        let (timeout, interruptible) = match how {
            Sleep::Uninterruptible => (None, false),
            Sleep::Worker { timeout_ns } => (timeout_ns, false),
            Sleep::Interruptible { timeout_ns } => (timeout_ns, true),
        };
        let r = match futex_wait(&self.seq, seen, timeout) {
            Err(libc::ETIMEDOUT) => Wakeup::TimedOut,
            Err(libc::EINTR) if interruptible => Wakeup::Interrupted,
            _ => Wakeup::Woken,
        };
        m.lock();
        r
    }

    fn signal(&self) {
        self.seq.fetch_add(1, Release);
        futex_wake(&self.seq, 1);
    }

    fn broadcast(&self) {
        self.seq.fetch_add(1, Release);
        futex_wake(&self.seq, i32::MAX);
    }
}
