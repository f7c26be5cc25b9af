//! Concurrency model tests: loom runs each scenario under every
//! interleaving of the engine's threads (submitter, workers, canceller,
//! waiter, exiting thread) up to a preemption bound, at the engine's lock
//! and condition-variable operations and at each copy to or from user
//! memory.  Copies are modelled as atomic steps (what separate copyouts or
//! system calls give on x86-64); the fences between them are not modelled.
//!
//! Interruptible waits (`aio_suspend`, `lio_listio(LIO_WAIT)`) can end
//! early: a model thread may deliver a signal ([`deliver_signal`]) or let
//! every timeout pass ([`expire_timeouts`]); the condition variable then
//! ends such waits with `Interrupted` or `TimedOut`, as NetBSD's
//! `cv_timedwait_sig` does (a pending signal wins over a wakeup).
//!
//! Run with `cargo test --release --test loom_engine --features fake-os`
//! (scripts/test does); LOOM_MAX_PREEMPTIONS defaults to 2 here.

use std::collections::BTreeMap;
use std::sync::Mutex as StdMutex;

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::{Condvar, Mutex};
use netbsd_aio::abi::{self, netbsd_aiocb as L, netbsd_codec as codec};
use netbsd_aio::engine::{AioProc, System};
use netbsd_aio::os::*;
use netbsd_aio::syscalls::*;
use netbsd_aio::Errno;

/// Raw lock from a loom mutex and condvar.
struct LMutex {
    held: Mutex<bool>,
    cv: Condvar,
}

// SAFETY: `lock` flips `held` from false to true under the loom mutex and
// only `unlock` flips it back.
unsafe impl RawMutex for LMutex {
    fn new() -> Self {
        LMutex {
            held: Mutex::new(false),
            cv: Condvar::new(),
        }
    }
    fn lock(&self) {
        let mut g = self.held.lock().unwrap();
        while *g {
            g = self.cv.wait(g).unwrap();
        }
        *g = true;
    }
    unsafe fn unlock(&self) {
        *self.held.lock().unwrap() = false;
        self.cv.notify_one();
    }
}

/// Condition variable over a loom-modelled sequence counter.
struct CondInner {
    seq: Mutex<u64>,
    cv: Condvar,
}

struct LCond(std::sync::Arc<CondInner>);

/// What ends interruptible waits early, for one execution of a model.
struct Signals {
    /// A signal is pending for the process; the one thread of a model
    /// that waits interruptibly takes it (its handler runs when the call
    /// returns), the workers block every signal and exit sleeps
    /// uninterruptibly.
    pending: AtomicBool,
    /// Every timeout has passed: timed interruptible waits end.
    expired: AtomicBool,
    /// Every condition variable created, for a delivery to wake.
    conds: StdMutex<Vec<std::sync::Arc<CondInner>>>,
}

loom::lazy_static! {
    static ref SIGNALS: Signals = Signals {
        pending: AtomicBool::new(false),
        expired: AtomicBool::new(false),
        conds: StdMutex::new(Vec::new()),
    };
}

/// Wakes every sleeper without changing any sequence: each re-checks the
/// signal and timeout flags, and all others sleep on.
fn wake_sleepers() {
    let conds = SIGNALS.conds.lock().unwrap().clone();
    for c in conds {
        let _g = c.seq.lock().unwrap();
        c.cv.notify_all();
    }
}

/// A signal is posted to the process: the next (or current) interruptible
/// wait ends with `Interrupted`.
fn deliver_signal() {
    SIGNALS.pending.store(true, SeqCst);
    wake_sleepers();
}

/// The signal's handler has run: later waits are not interrupted by it.
fn signal_handled() {
    SIGNALS.pending.store(false, SeqCst);
}

/// Every timeout passes: timed interruptible waits end with `TimedOut`
/// (the model's clock stands still, so the engine never sees the time
/// spent; only the wait reports it).
fn expire_timeouts() {
    SIGNALS.expired.store(true, SeqCst);
    wake_sleepers();
}

// SAFETY: the sequence is read under `seq` before the AIO lock is released
// and bumped under `seq` by signallers, so no wakeup is lost; the signal
// and timeout flags are set before a delivery takes `seq` and read under
// it, so no delivery is lost either.
unsafe impl RawCondVar<LMutex> for LCond {
    fn new() -> Self {
        let c = std::sync::Arc::new(CondInner {
            seq: Mutex::new(0),
            cv: Condvar::new(),
        });
        SIGNALS.conds.lock().unwrap().push(c.clone());
        LCond(c)
    }
    // Workers' waits (never timed out here) and exit's end only by a
    // wakeup; interruptible waits end by a wakeup, by a pending signal
    // (which wins, as it does in NetBSD's sleepq_block) or, if timed, once
    // timeouts have expired.
    unsafe fn wait(&self, m: &LMutex, how: Sleep) -> Wakeup {
        let (sig, timed) = match how {
            Sleep::Interruptible { timeout_ns } => (true, timeout_ns.is_some()),
            _ => (false, false),
        };
        let mut g = self.0.seq.lock().unwrap();
        let start = *g;
        // SAFETY: the caller holds `m`.
        unsafe { m.unlock() };
        let w = loop {
            if sig && SIGNALS.pending.swap(false, SeqCst) {
                break Wakeup::Interrupted;
            }
            if timed && SIGNALS.expired.load(SeqCst) {
                break Wakeup::TimedOut;
            }
            if *g != start {
                break Wakeup::Woken;
            }
            g = self.0.cv.wait(g).unwrap();
        };
        drop(g);
        m.lock();
        w
    }
    fn signal(&self) {
        *self.0.seq.lock().unwrap() += 1;
        self.0.cv.notify_one();
    }
    fn broadcast(&self) {
        *self.0.seq.lock().unwrap() += 1;
        self.0.cv.notify_all();
    }
}

const BASE: usize = 0x1000;

/// One modelled process: user memory and an in-memory file table.
struct Shared {
    mem: Mutex<Vec<u8>>,
    files: StdMutex<BTreeMap<i32, std::sync::Arc<StdMutex<Vec<u8>>>>>,
    notes: Mutex<Vec<Notify>>,
    /// Writes of `JOB_DONE` into the `_state` of each aiocb made with
    /// [`LoomOs::aiocb`]: publications.
    done_writes: StdMutex<BTreeMap<usize, usize>>,
    /// For each signal notification: its number and how many results had
    /// been published (into any aiocb) when it was sent.
    sent: StdMutex<Vec<(i32, usize)>>,
    /// Set by a model once exit has returned: no notification may follow.
    exited: AtomicBool,
    /// Stream descriptors (pipes): read from the front, FIFO.
    streams: StdMutex<Vec<i32>>,
    /// Transfers tried on streams (a worker has had a stream job).
    stream_tries: StdMutex<usize>,
    /// Stream events (data fed, a waiter woken) for stream waits.
    hub: Mutex<u64>,
    hub_cv: Condvar,
}

/// A worker's stream waiter.  Its flag is read and written under the
/// hub's loom mutex, which orders it for the model.
struct LWaiter {
    woken: std::sync::atomic::AtomicBool,
}

#[derive(Clone)]
struct LoomOs(std::sync::Arc<Shared>);

struct LFile(std::sync::Arc<StdMutex<Vec<u8>>>, bool);

impl LoomOs {
    fn new(mem: usize) -> Self {
        LoomOs(std::sync::Arc::new(Shared {
            mem: Mutex::new(vec![0; mem]),
            files: StdMutex::new(BTreeMap::new()),
            notes: Mutex::new(Vec::new()),
            done_writes: StdMutex::new(BTreeMap::new()),
            sent: StdMutex::new(Vec::new()),
            exited: AtomicBool::new(false),
            streams: StdMutex::new(Vec::new()),
            stream_tries: StdMutex::new(0),
            hub: Mutex::new(0),
            hub_cv: Condvar::new(),
        }))
    }
    /// A stream (a pipe) on `fd`, empty.
    fn add_stream(&self, fd: i32) {
        self.add_file(fd, b"");
        self.0.streams.lock().unwrap().push(fd);
    }
    /// Writes into a stream, as the other end of a pipe.
    fn feed(&self, fd: i32, b: &[u8]) {
        let f = self.0.files.lock().unwrap()[&fd].clone();
        f.lock().unwrap().extend_from_slice(b);
        self.stream_event();
    }
    fn stream_event(&self) {
        *self.0.hub.lock().unwrap() += 1;
        self.0.hub_cv.notify_all();
    }
    fn copyin(&self, addr: usize, out: &mut [u8]) -> Result<(), Errno> {
        let m = self.0.mem.lock().unwrap();
        let off = addr.checked_sub(BASE).ok_or(Errno::EFAULT)?;
        let src = m.get(off..off + out.len()).ok_or(Errno::EFAULT)?;
        out.copy_from_slice(src);
        Ok(())
    }
    fn copyout(&self, addr: usize, b: &[u8]) -> Result<(), Errno> {
        let mut m = self.0.mem.lock().unwrap();
        let off = addr.checked_sub(BASE).ok_or(Errno::EFAULT)?;
        m.get_mut(off..off + b.len())
            .ok_or(Errno::EFAULT)?
            .copy_from_slice(b);
        if b == abi::JOB_DONE.to_ne_bytes() && addr >= BASE + L::STATE {
            if let Some(n) = self
                .0
                .done_writes
                .lock()
                .unwrap()
                .get_mut(&(addr - L::STATE))
            {
                *n += 1;
            }
        }
        Ok(())
    }
    /// How many times a result was published into aiocb `p`.
    fn published(&self, p: UserPtr<Aiocb>) -> usize {
        self.0
            .done_writes
            .lock()
            .unwrap()
            .get(&p.addr())
            .copied()
            .unwrap_or(0)
    }
    fn bytes(&self, addr: usize, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        self.copyin(addr, &mut b).unwrap();
        b
    }
    /// An array of aiocb pointers at `at`.
    fn list(&self, at: usize, ps: &[UserPtr<Aiocb>]) -> UserPtr<UserPtr<Aiocb>> {
        for (i, p) in ps.iter().enumerate() {
            self.poke(at + 8 * i, &(p.addr() as u64).to_ne_bytes());
        }
        UserPtr::new(at)
    }
    /// A `SIGEV_SIGNAL` sigevent at `at`.
    fn sigevent(&self, at: usize, signo: i32) -> UserPtr<Sigevent> {
        self.poke(at + L::SIGEV_NOTIFY, &abi::SIGEV_SIGNAL.to_ne_bytes());
        self.poke(at + L::SIGEV_SIGNO, &signo.to_ne_bytes());
        UserPtr::new(at)
    }
    /// A `struct timespec` at `at`.
    fn timespec(&self, at: usize, sec: i64, nsec: i64) -> UserPtr<Timespec> {
        self.poke(at, &sec.to_ne_bytes());
        self.poke(at + 8, &nsec.to_ne_bytes());
        UserPtr::new(at)
    }
    fn poke(&self, addr: usize, b: &[u8]) {
        self.copyout(addr, b).unwrap()
    }
    // A test helper mirroring the aiocb's fields one to one.
    #[allow(clippy::too_many_arguments)]
    fn aiocb(
        &self,
        at: usize,
        fd: i32,
        opcode: i32,
        buf: usize,
        n: usize,
        off: i64,
        signo: i32,
    ) -> UserPtr<Aiocb> {
        self.poke(at + L::OFFSET, &off.to_ne_bytes());
        self.poke(at + L::BUF, &(buf as u64).to_ne_bytes());
        self.poke(at + L::NBYTES, &(n as u64).to_ne_bytes());
        self.poke(at + L::FILDES, &fd.to_ne_bytes());
        self.poke(at + L::LIO_OPCODE, &opcode.to_ne_bytes());
        if signo != 0 {
            self.poke(
                at + L::SIGEVENT + L::SIGEV_NOTIFY,
                &abi::SIGEV_SIGNAL.to_ne_bytes(),
            );
            self.poke(at + L::SIGEVENT + L::SIGEV_SIGNO, &signo.to_ne_bytes());
        }
        self.0.done_writes.lock().unwrap().insert(at, 0);
        UserPtr::new(at)
    }
    fn add_file(&self, fd: i32, data: &[u8]) {
        self.0
            .files
            .lock()
            .unwrap()
            .insert(fd, std::sync::Arc::new(StdMutex::new(data.to_vec())));
    }
    fn notes(&self) -> usize {
        self.0.notes.lock().unwrap().len()
    }
    /// For each notification of signal `signo`: how many results were out
    /// when it was sent.
    fn published_when(&self, signo: i32) -> Vec<usize> {
        self.0
            .sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == signo)
            .map(|&(_, done)| done)
            .collect()
    }
    /// Notifications of signal `signo` delivered.
    fn notes_for(&self, signo: i32) -> usize {
        self.0
            .notes
            .lock()
            .unwrap()
            .iter()
            .filter(|n| matches!(n, Notify::Signal { signo: s, .. } if *s == signo))
            .count()
    }
    fn contents(&self, fd: i32) -> Vec<u8> {
        self.0.files.lock().unwrap()[&fd].lock().unwrap().clone()
    }
}

impl codec::UserBytes for LoomOs {
    fn copyin(&self, addr: usize, out: &mut [u8]) -> Result<(), Errno> {
        LoomOs::copyin(self, addr, out)
    }
    fn copyout(&self, addr: usize, bytes: &[u8]) -> Result<(), Errno> {
        LoomOs::copyout(self, addr, bytes)
    }
}

impl Os for LoomOs {
    type Mutex = LMutex;
    type CondVar = LCond;
    type File = LFile;
    type Waiter = LWaiter;

    fn new_waiter(&self) -> Option<LWaiter> {
        Some(LWaiter {
            woken: std::sync::atomic::AtomicBool::new(false),
        })
    }
    fn rw_nowait(&self, f: &LFile, write: bool, buf: usize, len: usize) -> Result<usize, Errno> {
        assert!(!write, "the models write no streams");
        *self.0.stream_tries.lock().unwrap() += 1;
        let bytes: Vec<u8> = {
            let mut d = f.0.lock().unwrap();
            if d.is_empty() {
                return Err(Errno::EAGAIN);
            }
            let n = len.min(d.len());
            d.drain(..n).collect()
        };
        self.copyout(buf, &bytes)?;
        Ok(bytes.len())
    }
    fn wait_ready(&self, w: &LWaiter, f: &LFile, _write: bool, _want: usize) {
        let mut g = self.0.hub.lock().unwrap();
        while !w.woken.swap(false, SeqCst) && f.0.lock().unwrap().is_empty() {
            g = self.0.hub_cv.wait(g).unwrap();
        }
        drop(g);
    }
    fn wake(&self, w: &LWaiter) {
        let mut g = self.0.hub.lock().unwrap();
        w.woken.store(true, SeqCst);
        *g += 1;
        drop(g);
        self.0.hub_cv.notify_all();
    }

    fn getfile(&self, fd: i32) -> Result<(LFile, FileInfo), Errno> {
        let f = self
            .0
            .files
            .lock()
            .unwrap()
            .get(&fd)
            .cloned()
            .ok_or(Errno::EBADF)?;
        let key = std::sync::Arc::as_ptr(&f) as usize;
        let stream = self.0.streams.lock().unwrap().contains(&fd);
        Ok((
            LFile(f, stream),
            FileInfo {
                readable: true,
                writable: true,
                append: false,
                seekable: !stream,
                key,
                writes_serialize: false,
                memory: false,
            },
        ))
    }
    fn fd_is_open(&self, fd: i32) -> bool {
        self.0.files.lock().unwrap().contains_key(&fd)
    }
    fn read(&self, f: &LFile, buf: usize, len: usize, off: Option<i64>) -> Result<usize, Errno> {
        if f.1 {
            // A blocking read of a stream (a host without waiters).
            *self.0.stream_tries.lock().unwrap() += 1;
            let mut g = self.0.hub.lock().unwrap();
            while f.0.lock().unwrap().is_empty() {
                g = self.0.hub_cv.wait(g).unwrap();
            }
            drop(g);
            return self.rw_nowait(f, false, buf, len);
        }
        let data = f.0.lock().unwrap().clone();
        let o = (off.unwrap_or(0) as usize).min(data.len());
        let end = (o + len).min(data.len());
        self.copyout(buf, &data[o..end])?;
        Ok(end - o)
    }
    fn write(&self, f: &LFile, buf: usize, len: usize, off: Option<i64>) -> Result<usize, Errno> {
        let mut tmp = vec![0; len];
        self.copyin(buf, &mut tmp)?;
        let mut d = f.0.lock().unwrap();
        let o = off.unwrap_or(0) as usize;
        if d.len() < o + len {
            d.resize(o + len, 0);
        }
        d[o..o + len].copy_from_slice(&tmp);
        Ok(len)
    }
    fn fsync(&self, _f: &LFile, _k: SyncKind) -> Result<(), Errno> {
        Ok(())
    }
    fn spawn_worker(&self, body: Box<dyn FnOnce() + Send + 'static>) -> Result<(), Errno> {
        loom::thread::spawn(body);
        Ok(())
    }
    netbsd_aio::netbsd_user_memory!(self => self);

    fn valid_signal(&self, s: i32) -> bool {
        (1..64).contains(&s)
    }
    fn sigev_thread(&self) -> bool {
        false
    }
    fn notify(&self, n: &Notify) {
        if *n != Notify::None {
            assert!(
                !self.0.exited.load(SeqCst),
                "notification {n:?} after exit returned"
            );
            if let Notify::Signal { signo, .. } = *n {
                let done = self.0.done_writes.lock().unwrap().values().sum();
                self.0.sent.lock().unwrap().push((signo, done));
            }
            self.0.notes.lock().unwrap().push(*n);
        }
    }
    fn now_ns(&self) -> u64 {
        0
    }
}

struct Host {
    os: LoomOs,
    sys: &'static System,
    aio: std::sync::Arc<AioProc<LoomOs>>,
}

impl ProcHost for Host {
    type Os = LoomOs;
    type Aio<'a> = &'a AioProc<LoomOs>;
    fn os(&self) -> LoomOs {
        self.os.clone()
    }
    fn sys(&self) -> &'static System {
        self.sys
    }
    fn aio(&self) -> Option<&AioProc<LoomOs>> {
        Some(&self.aio)
    }
    fn aio_create(&self) -> Result<&AioProc<LoomOs>, Errno> {
        Ok(&self.aio)
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

fn host() -> std::sync::Arc<Host> {
    let os = LoomOs::new(1024);
    os.add_file(3, b"abcdefgh");
    let sys: &'static System = Box::leak(Box::new(System::new()));
    let aio = AioProc::new(os.clone(), sys);
    std::sync::Arc::new(Host { os, sys, aio })
}

const INPROG: isize = Errno::EINPROGRESS.get() as isize;

/// Submit, then wait in aio_suspend while a second thread polls aio_error:
/// the waiter is always woken, and the poller sees EINPROGRESS or the final
/// result, never a half-published one.
#[test]
fn submit_complete_suspend_and_concurrent_error() {
    model(|| {
        let h = host();
        let p = h.os.aiocb(BASE, 3, 0, BASE + 200, 4, 2, 0);
        assert_eq!(sys_aio_read(&*h, p), Ok(0));
        let h2 = h.clone();
        let poller = loom::thread::spawn(move || {
            let e = sys_aio_error(&*h2, p).unwrap();
            assert!(e == INPROG || e == 0, "torn aio_error: {e}");
        });
        h.os.poke(BASE + 400, &(BASE as u64).to_ne_bytes());
        let list = UserPtr::new(BASE + 400);
        assert_eq!(sys_aio_suspend(&*h, list, 1, UserPtr::null()), Ok(0));
        assert_eq!(sys_aio_error(&*h, p), Ok(0));
        // aio_return collects the result (aio_error then says EINVAL), so
        // the poller must have looked before.
        poller.join().unwrap();
        assert_eq!(sys_aio_return(&*h, p), Ok(4));
        h.aio.exit();
        assert_eq!(h.aio.workers(), 0);
        assert_eq!(h.sys.jobs(), 0);
    });
}

/// Cancel races the worker: either the job is cancelled (ECANCELED) or it
/// ran (its data); the notification is delivered exactly once either way.
#[test]
fn cancel_races_completion() {
    model(|| {
        let h = host();
        let p = h.os.aiocb(BASE, 3, 0, BASE + 200, 4, 0, 30);
        assert_eq!(sys_aio_read(&*h, p), Ok(0));
        let r = sys_aio_cancel(&*h, 3, p).unwrap();
        // Whatever cancel answered, the job ends: wait for it.
        h.os.poke(BASE + 400, &(BASE as u64).to_ne_bytes());
        let list = UserPtr::new(BASE + 400);
        assert_eq!(sys_aio_suspend(&*h, list, 1, UserPtr::null()), Ok(0));
        let e = sys_aio_error(&*h, p).unwrap();
        match r {
            abi::AIO_CANCELED => assert_eq!(e, Errno::ECANCELED.get() as isize),
            abi::AIO_NOTCANCELED | abi::AIO_ALLDONE => assert_eq!(e, 0),
            other => panic!("aio_cancel returned {other}"),
        }
        assert_eq!(h.os.notes(), 1, "notification count");
        h.aio.exit();
        assert_eq!(h.sys.jobs(), 0);
    });
}

/// Exit from another thread while a job is queued or running: exit
/// returns only when no job and no worker is left, and the aiocb holds a
/// final result.
#[test]
fn exit_races_submission_and_worker() {
    model(|| {
        let h = host();
        let p = h.os.aiocb(BASE, 3, 0, BASE + 200, 4, 0, 0);
        let h2 = h.clone();
        let submitter = loom::thread::spawn(move || {
            let r = sys_aio_read(&*h2, p);
            assert!(r == Ok(0) || r == Err(Errno::EAGAIN), "{r:?}");
            r
        });
        h.aio.exit();
        let r = submitter.join().unwrap();
        // A submission that lost the race to exit was refused outright;
        // one that won has ended: published before exit began (0 or
        // ECANCELED), or left unpublished because exit had begun (the
        // aiocb still says in progress but no job is: EINVAL).
        if r.is_ok() {
            let e = sys_aio_error(&*h, p);
            assert!(
                matches!(e, Ok(0) | Err(Errno::EINVAL)) || e == Ok(Errno::ECANCELED.get() as isize),
                "{e:?}"
            );
        }
        assert_eq!(h.aio.workers(), 0);
        assert_eq!(h.aio.jobs(), 0);
        assert_eq!(h.sys.jobs(), 0);
    });
}

/// A program that resubmits an aiocb the moment aio_error and aio_return
/// have given its result is accepted, even while the worker that
/// published that result has not yet taken the job out of the table.
#[test]
fn resubmit_as_soon_as_the_result_is_seen() {
    model(|| {
        let h = host();
        let p = h.os.aiocb(BASE, 3, 0, BASE + 200, 4, 2, 0);
        for _ in 0..2 {
            assert_eq!(sys_aio_read(&*h, p), Ok(0));
            loop {
                let e = sys_aio_error(&*h, p).unwrap();
                if e != INPROG {
                    assert_eq!(e, 0);
                    break;
                }
                loom::thread::yield_now();
            }
            assert_eq!(sys_aio_return(&*h, p), Ok(4));
        }
        h.aio.exit();
        assert_eq!(h.aio.jobs(), 0);
        assert_eq!(h.sys.jobs(), 0);
    });
}

/// A job's slot is free by the time its result can be seen: at the
/// per-process limit, a program that has collected its one result may
/// queue another job at once (no spurious EAGAIN while the finished job is
/// still leaving the table).
#[test]
fn slot_is_free_once_the_result_is_seen() {
    model(|| {
        let h = host();
        h.sys.set_listio_max(1).unwrap();
        let p = h.os.aiocb(BASE, 3, 0, BASE + 200, 4, 2, 0);
        let q = h.os.aiocb(BASE + 100, 3, 0, BASE + 300, 4, 0, 0);
        assert_eq!(sys_aio_read(&*h, p), Ok(0));
        while sys_aio_error(&*h, p) == Ok(INPROG) {
            loom::thread::yield_now();
        }
        assert_eq!(sys_aio_return(&*h, p), Ok(4));
        assert_eq!(sys_aio_read(&*h, q), Ok(0));
        h.aio.exit();
        assert_eq!(h.sys.jobs(), 0);
    });
}

/// lio_listio(LIO_WAIT) of two jobs returns only after both are published.
#[test]
fn lio_wait_sees_every_result() {
    model(|| {
        let h = host();
        let a = h.os.aiocb(BASE, 3, abi::LIO_READ, BASE + 300, 2, 0, 0);
        let b =
            h.os.aiocb(BASE + 100, 3, abi::LIO_READ, BASE + 310, 2, 4, 0);
        h.os.poke(BASE + 400, &(a.addr() as u64).to_ne_bytes());
        h.os.poke(BASE + 408, &(b.addr() as u64).to_ne_bytes());
        let list = UserPtr::new(BASE + 400);
        assert_eq!(
            sys_lio_listio(&*h, abi::LIO_WAIT, list, 2, UserPtr::null()),
            Ok(0)
        );
        assert_eq!(sys_aio_error(&*h, a), Ok(0));
        assert_eq!(sys_aio_error(&*h, b), Ok(0));
        assert_eq!(sys_aio_return(&*h, b), Ok(2));
        h.aio.exit();
    });
}

/// Two overlapping writes and a read elsewhere in the file, with a pool
/// that grows a second worker for the read: the writes never run side by
/// side, so the later one's bytes are the ones that stay.  (Without the
/// ordering of overlapping ranges the second worker takes the second
/// write, and some interleaving leaves the first write's bytes.)
#[test]
fn overlapping_writes_keep_order_on_a_pool() {
    model(|| {
        let h = host();
        h.os.poke(BASE + 300, b"11");
        h.os.poke(BASE + 310, b"22");
        let w1 = h.os.aiocb(BASE, 3, 0, BASE + 300, 2, 0, 0);
        let w2 = h.os.aiocb(BASE + 100, 3, 0, BASE + 310, 2, 1, 0);
        let r = h.os.aiocb(BASE + 200, 3, 0, BASE + 320, 2, 6, 0);
        assert_eq!(sys_aio_write(&*h, w1), Ok(0));
        assert_eq!(sys_aio_write(&*h, w2), Ok(0));
        assert_eq!(sys_aio_read(&*h, r), Ok(0));
        for p in [w1, w2, r] {
            h.os.poke(BASE + 400, &(p.addr() as u64).to_ne_bytes());
            let list = UserPtr::new(BASE + 400);
            assert_eq!(sys_aio_suspend(&*h, list, 1, UserPtr::null()), Ok(0));
            assert_eq!(sys_aio_error(&*h, p), Ok(0));
        }
        assert_eq!(&h.os.contents(3)[..3], b"122");
        h.aio.exit();
        assert_eq!(h.sys.jobs(), 0);
    });
}

/// The outcomes a model reached, over all its executions: each model below
/// asserts that its race went both ways at least once, so that it cannot
/// pass by never reaching the path it guards.
type Outcomes = std::sync::Arc<StdMutex<std::collections::BTreeSet<String>>>;

fn outcomes() -> Outcomes {
    Default::default()
}

fn assert_reached(seen: &Outcomes, want: &[&str]) {
    let seen = seen.lock().unwrap();
    for w in want {
        assert!(
            seen.iter().any(|s| s.starts_with(w)),
            "outcome {w} never reached; reached: {seen:?}"
        );
    }
}

const ECANCELED: isize = Errno::ECANCELED.get() as isize;

/// aio_suspend on one job in flight while a worker completes it and a
/// third thread cuts the wait short (`timed`: the timeout passes; else a
/// signal arrives).  aio_suspend returns 0 only with the result out, or
/// EINTR (EAGAIN); either way the job's result is published exactly once,
/// notified once, collected by aio_return, and nothing is left behind.
fn suspend_cut_short(timed: bool) {
    let seen = outcomes();
    let s = seen.clone();
    model(move || {
        let h = host();
        let p = h.os.aiocb(BASE, 3, 0, BASE + 300, 4, 2, 30);
        let list = h.os.list(BASE + 400, &[p]);
        let ts = if timed {
            h.os.timespec(BASE + 500, 1, 0)
        } else {
            UserPtr::null()
        };
        assert_eq!(sys_aio_read(&*h, p), Ok(0));
        let cutter = loom::thread::spawn(move || {
            if timed {
                expire_timeouts()
            } else {
                deliver_signal()
            }
        });
        let early = if timed { Errno::EAGAIN } else { Errno::EINTR };
        let r = sys_aio_suspend(&*h, list, 1, ts);
        match r {
            Ok(0) => assert_eq!(sys_aio_error(&*h, p), Ok(0), "woken before the result"),
            Err(e) if e == early => {}
            other => panic!("aio_suspend: {other:?}"),
        }
        s.lock().unwrap().insert(format!("{r:?}"));
        cutter.join().unwrap();
        signal_handled();
        // The job goes on regardless: wait for it without a timeout.
        assert_eq!(sys_aio_suspend(&*h, list, 1, UserPtr::null()), Ok(0));
        assert_eq!(sys_aio_error(&*h, p), Ok(0));
        assert_eq!(sys_aio_return(&*h, p), Ok(4));
        assert_eq!(h.os.bytes(BASE + 300, 4), b"cdef");
        assert_eq!(h.os.published(p), 1, "publications");
        assert_eq!(h.os.notes_for(30), 1, "notifications");
        assert_eq!(h.aio.jobs(), 0);
        h.aio.exit();
        assert_eq!(h.aio.workers(), 0);
        assert_eq!(h.sys.jobs(), 0);
    });
    let early = if timed { "Err(EAGAIN" } else { "Err(EINTR" };
    assert_reached(&seen, &["Ok(0)", early]);
}

/// A signal races aio_suspend and the job's completion.
#[test]
fn suspend_interrupted_racing_completion() {
    suspend_cut_short(false);
}

/// The timeout passes as the job completes (the `TimedOut` re-check).
#[test]
fn suspend_timeout_racing_completion() {
    suspend_cut_short(true);
}

/// lio_listio(LIO_WAIT) of two jobs, with a signal arriving at any point,
/// also just as the last job completes.  The call returns 0 with both
/// results out, or EINTR; the jobs go on either way and end with their
/// results, each notified once; the list's sigevent is ignored (POSIX: not
/// for LIO_WAIT), also for an interrupted wait; and once both results are
/// collected the engine tracks no list (whoever comes last, the
/// interrupted waiter or the last job, removes it).
#[test]
fn lio_wait_interrupted_racing_last_completion() {
    let seen = outcomes();
    let s = seen.clone();
    model(move || {
        let h = host();
        let a = h.os.aiocb(BASE, 3, abi::LIO_READ, BASE + 300, 2, 0, 30);
        let b =
            h.os.aiocb(BASE + 100, 3, abi::LIO_READ, BASE + 310, 2, 4, 31);
        let list = h.os.list(BASE + 400, &[a, b]);
        let sig = h.os.sigevent(BASE + 450, 40);
        let signaller = loom::thread::spawn(deliver_signal);
        let r = sys_lio_listio(&*h, abi::LIO_WAIT, list, 2, sig);
        match r {
            Ok(0) => {
                assert_eq!(sys_aio_error(&*h, a), Ok(0));
                assert_eq!(sys_aio_error(&*h, b), Ok(0));
            }
            Err(Errno::EINTR) => {}
            other => panic!("lio_listio: {other:?}"),
        }
        s.lock().unwrap().insert(format!("{r:?}"));
        signaller.join().unwrap();
        signal_handled();
        for p in [a, b] {
            let one = h.os.list(BASE + 420, &[p]);
            assert_eq!(sys_aio_suspend(&*h, one, 1, UserPtr::null()), Ok(0));
            assert_eq!(sys_aio_error(&*h, p), Ok(0));
            assert_eq!(sys_aio_return(&*h, p), Ok(2));
            assert_eq!(h.os.published(p), 1, "publications");
        }
        assert_eq!(h.os.bytes(BASE + 300, 2), b"ab");
        assert_eq!(h.os.bytes(BASE + 310, 2), b"ef");
        assert_eq!(h.aio.lists(), 0, "list left behind");
        assert_eq!(h.os.notes_for(30), 1, "notifications of a");
        assert_eq!(h.os.notes_for(31), 1, "notifications of b");
        assert_eq!(h.os.notes_for(40), 0, "LIO_WAIT list notified");
        h.aio.exit();
        assert_eq!(h.aio.lists(), 0);
        assert_eq!(h.sys.jobs(), 0);
    });
    assert_reached(&seen, &["Ok(0)", "Err(EINTR"]);
}

/// aio_cancel(fd, NULL) on another thread while lio_listio(LIO_NOWAIT)
/// queues two jobs on that descriptor: the cancel may find entries
/// `Reserved` (the submitter then finishes them cancelled), queued,
/// running, done or not there yet.  Each entry ends ECANCELED or with its
/// result and is notified once; the cancel's answer agrees (AIO_CANCELED:
/// something was cancelled; AIO_NOTCANCELED: something could not be,
/// so it ran; AIO_ALLDONE: nothing was cancelled); the list is notified
/// exactly once, after both entries' results are out, and not tracked
/// afterwards.
#[test]
fn cancel_races_lio_nowait() {
    let seen = outcomes();
    let s = seen.clone();
    model(move || {
        let h = host();
        let a = h.os.aiocb(BASE, 3, abi::LIO_READ, BASE + 300, 2, 0, 30);
        let b =
            h.os.aiocb(BASE + 100, 3, abi::LIO_READ, BASE + 310, 2, 4, 31);
        let list = h.os.list(BASE + 400, &[a, b]);
        let sig = h.os.sigevent(BASE + 450, 40);
        let h2 = h.clone();
        let canceller =
            loom::thread::spawn(move || sys_aio_cancel(&*h2, 3, UserPtr::null()).unwrap());
        assert_eq!(sys_lio_listio(&*h, abi::LIO_NOWAIT, list, 2, sig), Ok(0));
        let r = canceller.join().unwrap();
        let mut errs = Vec::new();
        for (p, buf, data) in [(a, BASE + 300, b"ab"), (b, BASE + 310, b"ef")] {
            let one = h.os.list(BASE + 420, &[p]);
            assert_eq!(sys_aio_suspend(&*h, one, 1, UserPtr::null()), Ok(0));
            let e = sys_aio_error(&*h, p).unwrap();
            match e {
                0 => {
                    assert_eq!(sys_aio_return(&*h, p), Ok(2));
                    assert_eq!(&h.os.bytes(buf, 2)[..], data);
                }
                ECANCELED => assert_eq!(sys_aio_return(&*h, p), Ok(-1)),
                other => panic!("aio_error: {other}"),
            }
            assert_eq!(h.os.published(p), 1, "publications");
            errs.push(e);
        }
        let canceled = errs.iter().filter(|&&e| e == ECANCELED).count();
        match r {
            abi::AIO_CANCELED => assert!(canceled > 0, "AIO_CANCELED, none cancelled"),
            abi::AIO_NOTCANCELED => assert!(canceled < 2, "AIO_NOTCANCELED, all cancelled"),
            abi::AIO_ALLDONE => assert_eq!(canceled, 0, "AIO_ALLDONE, some cancelled"),
            other => panic!("aio_cancel returned {other}"),
        }
        s.lock().unwrap().insert(format!("{r} {errs:?}"));
        assert_eq!(h.os.notes_for(30), 1, "notifications of a");
        assert_eq!(h.os.notes_for(31), 1, "notifications of b");
        // Workers send a list's notification after the job has left the
        // table: wait for it (exit is no barrier: it silences a worker that
        // has not sent it yet).
        while h.os.notes_for(40) == 0 {
            loom::thread::yield_now();
        }
        h.aio.exit();
        assert_eq!(
            h.os.published_when(40),
            [2],
            "list notifications (results out when sent)"
        );
        assert_eq!(h.aio.lists(), 0);
        assert_eq!(h.sys.jobs(), 0);
    });
    let c = abi::AIO_CANCELED;
    let n = abi::AIO_NOTCANCELED;
    let d = abi::AIO_ALLDONE;
    assert_reached(
        &seen,
        &[
            &format!("{c} [{ECANCELED}, {ECANCELED}]"),
            &format!("{c} [{ECANCELED}, 0]"),
            &format!("{n} "),
            &format!("{d} [0, 0]"),
        ],
    );
}

/// The publication window: a worker publishes a result, then takes the
/// job out of the table in a later lock pass.  A caller that saw the
/// result with aio_error gets 0 from aio_suspend, even with a zero
/// timeout (never EAGAIN), and by then the completion is notified.
#[test]
fn suspend_agrees_with_a_published_result() {
    let seen = outcomes();
    let s = seen.clone();
    model(move || {
        let h = host();
        let p = h.os.aiocb(BASE, 3, 0, BASE + 300, 4, 2, 30);
        let list = h.os.list(BASE + 400, &[p]);
        let zero = h.os.timespec(BASE + 500, 0, 0);
        assert_eq!(sys_aio_read(&*h, p), Ok(0));
        let e = sys_aio_error(&*h, p).unwrap();
        let r = sys_aio_suspend(&*h, list, 1, zero);
        if e == 0 {
            assert_eq!(r, Ok(0), "aio_error saw the result, aio_suspend did not");
        } else {
            assert!(r == Ok(0) || r == Err(Errno::EAGAIN), "aio_suspend: {r:?}");
        }
        if r == Ok(0) {
            assert_eq!(
                h.os.notes_for(30),
                1,
                "aio_suspend returned before the notification"
            );
        }
        s.lock().unwrap().insert(format!("{e} {r:?}"));
        assert_eq!(sys_aio_suspend(&*h, list, 1, UserPtr::null()), Ok(0));
        assert_eq!(sys_aio_return(&*h, p), Ok(4));
        h.aio.exit();
        assert_eq!(h.sys.jobs(), 0);
    });
    assert_reached(&seen, &["0 Ok(0)", "36 Ok(0)", "36 Err(EAGAIN"]);
}

/// A thread waits in aio_suspend on a queued job while another runs the
/// process exit: exit returns, the waiter returns (0: the job left the
/// table having run; 0 or EINTR: exit cancelled it, and with nothing
/// published there is nothing left to wait for), and the job either ran and was
/// published and notified once, or ended unpublished and unnotified
/// (exit writes nothing to user memory and sends nothing); nothing is
/// notified after exit returned.
#[test]
fn exit_races_suspend_waiter() {
    let seen = outcomes();
    let s = seen.clone();
    model(move || {
        let h = host();
        let p = h.os.aiocb(BASE, 3, 0, BASE + 300, 4, 2, 30);
        let list = h.os.list(BASE + 400, &[p]);
        assert_eq!(sys_aio_read(&*h, p), Ok(0));
        let h2 = h.clone();
        let exiter = loom::thread::spawn(move || {
            h2.aio.exit();
            h2.os.0.exited.store(true, SeqCst);
        });
        let r = sys_aio_suspend(&*h, list, 1, UserPtr::null());
        exiter.join().unwrap();
        let e = sys_aio_error(&*h, p);
        match e {
            Ok(0) => {
                assert_eq!(r, Ok(0), "published, but aio_suspend said {r:?}");
                assert_eq!(h.os.published(p), 1, "publications");
                assert_eq!(h.os.notes_for(30), 1, "notifications");
                assert_eq!(h.os.bytes(BASE + 300, 4), b"cdef");
            }
            Err(Errno::EINVAL) => {
                // Cancelled unpublished: nothing to wait for any more.
                assert!(r == Ok(0) || r == Err(Errno::EINTR), "aio_suspend: {r:?}");
                assert_eq!(h.os.published(p), 0, "published after exit began");
                assert_eq!(h.os.notes(), 0, "notified after exit began");
            }
            other => panic!("aio_error: {other:?}"),
        }
        s.lock().unwrap().insert(format!("{e:?}"));
        assert_eq!(h.aio.workers(), 0);
        assert_eq!(h.aio.jobs(), 0);
        assert_eq!(h.sys.jobs(), 0);
    });
    assert_reached(&seen, &["Ok(0)", "Err(EINVAL"]);
}

/// Exit races the one job of a lio_listio(LIO_NOWAIT) list: the list's
/// notification says every job of the list is done, so it goes out only
/// if the job's result did (exit publishes nothing and sends nothing).
///
/// Found a bug (fixed): the worker running the job when exit began saw
/// `quiet`, skipped publishing and the job's own notification, then
/// `remove` completed the list and the worker sent the list's
/// notification regardless.  Interleaving: lio_listio(LIO_NOWAIT) ->
/// worker picks the job -> exit_cancel sets quiet (job running, not
/// cancellable) -> worker reads, publishes nothing -> worker removes the
/// job, list complete -> worker sent signal 40 -> exit returns.
#[test]
fn exit_races_lio_nowait_notification() {
    let seen = outcomes();
    let s = seen.clone();
    model(move || {
        let h = host();
        let a = h.os.aiocb(BASE, 3, abi::LIO_READ, BASE + 300, 2, 0, 0);
        let list = h.os.list(BASE + 400, &[a]);
        let sig = h.os.sigevent(BASE + 450, 40);
        assert_eq!(sys_lio_listio(&*h, abi::LIO_NOWAIT, list, 1, sig), Ok(0));
        let h2 = h.clone();
        let exiter = loom::thread::spawn(move || {
            h2.aio.exit();
            h2.os.0.exited.store(true, SeqCst);
        });
        exiter.join().unwrap();
        let (published, noted) = (h.os.published(a), h.os.notes_for(40));
        assert!(noted <= published, "list notified, its job unpublished");
        s.lock().unwrap().insert(format!("{published} {noted}"));
        assert_eq!(h.aio.lists(), 0);
        assert_eq!(h.sys.jobs(), 0);
    });
    assert_reached(&seen, &["0 0", "1 1"]);
}

/// aio_cancel races the data a read on a stream waits for.  Either the
/// read is cancelled (AIO_CANCELED: ECANCELED, and the byte stays in the
/// stream for the next reader) or it gets the byte (AIO_NOTCANCELED when
/// the worker had it in hand, AIO_ALLDONE when it was done); one
/// publication and one notification either way; exit leaves nothing.
#[test]
fn cancel_races_stream_data() {
    let seen = outcomes();
    let s = seen.clone();
    model(move || {
        let h = host();
        h.os.add_stream(4);
        let p = h.os.aiocb(BASE, 4, 0, BASE + 300, 1, 0, 30);
        assert_eq!(sys_aio_read(&*h, p), Ok(0));
        let os = h.os.clone();
        let feeder = loom::thread::spawn(move || os.feed(4, b"x"));
        let tried = *h.os.0.stream_tries.lock().unwrap() > 0;
        let r = sys_aio_cancel(&*h, 4, p).unwrap();
        feeder.join().unwrap();
        let list = h.os.list(BASE + 400, &[p]);
        assert_eq!(sys_aio_suspend(&*h, list, 1, UserPtr::null()), Ok(0));
        let e = sys_aio_error(&*h, p).unwrap();
        match r {
            abi::AIO_CANCELED => {
                assert_eq!(e, ECANCELED);
                assert_eq!(h.os.contents(4), b"x", "a cancelled read took data");
            }
            abi::AIO_NOTCANCELED | abi::AIO_ALLDONE => {
                assert_eq!(e, 0);
                assert_eq!(h.os.bytes(BASE + 300, 1), b"x");
                assert!(h.os.contents(4).is_empty());
            }
            other => panic!("aio_cancel returned {other}"),
        }
        assert_eq!(h.os.published(p), 1, "publications");
        assert_eq!(h.os.notes_for(30), 1, "notifications");
        s.lock().unwrap().insert(format!("{r} {tried}"));
        h.aio.exit();
        assert_eq!(h.aio.workers(), 0);
        assert_eq!(h.sys.jobs(), 0);
    });
    // Cancelled after the worker had tried the stream: the wait was ended.
    let canceled_waiting = format!("{} true", abi::AIO_CANCELED);
    let alldone = abi::AIO_ALLDONE.to_string();
    assert_reached(&seen, &[&canceled_waiting, &alldone]);
}

/// Exit while a read waits on a stream that never gets data: exit
/// returns (the worker is woken and leaves), the job ends unpublished.
#[test]
fn exit_with_a_read_waiting_on_an_empty_stream() {
    model(|| {
        let h = host();
        h.os.add_stream(4);
        let p = h.os.aiocb(BASE, 4, 0, BASE + 300, 1, 0, 30);
        assert_eq!(sys_aio_read(&*h, p), Ok(0));
        h.aio.exit();
        assert_eq!(h.aio.workers(), 0);
        assert_eq!(h.aio.jobs(), 0);
        assert_eq!(h.os.published(p), 0);
        assert_eq!(h.sys.jobs(), 0);
    });
}
