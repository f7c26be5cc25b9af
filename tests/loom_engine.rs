//! Concurrency model tests: loom runs each scenario under every
//! interleaving of the engine's threads (submitter, workers, canceller,
//! waiter, exiting thread) up to a preemption bound, at the engine's lock
//! and condition-variable operations and at each copy to or from user
//! memory.  Copies are modelled as atomic steps (what separate copyouts or
//! system calls give on x86-64); the fences between them are not modelled.
//!
//! Run with `cargo test --release --test loom_engine --features fake-os`
//! (scripts/test does); LOOM_MAX_PREEMPTIONS defaults to 2 here.

use std::collections::BTreeMap;
use std::sync::Mutex as StdMutex;

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
struct LCond {
    seq: Mutex<u64>,
    cv: Condvar,
}

// SAFETY: the sequence is read under `seq` before the AIO lock is released
// and bumped under `seq` by signallers, so no wakeup is lost.
unsafe impl RawCondVar<LMutex> for LCond {
    fn new() -> Self {
        LCond {
            seq: Mutex::new(0),
            cv: Condvar::new(),
        }
    }
    // No timeouts in the model: every wait ends by a wakeup.
    unsafe fn wait(&self, m: &LMutex, _how: Sleep) -> Wakeup {
        let mut g = self.seq.lock().unwrap();
        let start = *g;
        // SAFETY: the caller holds `m`.
        unsafe { m.unlock() };
        while *g == start {
            g = self.cv.wait(g).unwrap();
        }
        drop(g);
        m.lock();
        Wakeup::Woken
    }
    fn signal(&self) {
        *self.seq.lock().unwrap() += 1;
        self.cv.notify_one();
    }
    fn broadcast(&self) {
        *self.seq.lock().unwrap() += 1;
        self.cv.notify_all();
    }
}

const BASE: usize = 0x1000;

/// One modelled process: user memory and an in-memory file table.
struct Shared {
    mem: Mutex<Vec<u8>>,
    files: StdMutex<BTreeMap<i32, std::sync::Arc<StdMutex<Vec<u8>>>>>,
    notes: Mutex<Vec<Notify>>,
}

#[derive(Clone)]
struct LoomOs(std::sync::Arc<Shared>);

struct LFile(std::sync::Arc<StdMutex<Vec<u8>>>);

impl LoomOs {
    fn new(mem: usize) -> Self {
        LoomOs(std::sync::Arc::new(Shared {
            mem: Mutex::new(vec![0; mem]),
            files: StdMutex::new(BTreeMap::new()),
            notes: Mutex::new(Vec::new()),
        }))
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
        Ok(())
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
        Ok((
            LFile(f),
            FileInfo {
                readable: true,
                writable: true,
                append: false,
                seekable: true,
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
