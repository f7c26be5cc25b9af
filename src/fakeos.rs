//! A fake OS for the engine's tests.
//!
//! User memory is a flat byte array holding NetBSD/amd64 `aiocb`s (so the
//! engine is tested against NetBSD's layout); files are byte vectors or
//! streams; workers are std threads.  Every service that the AIO lock rules
//! forbid under the lock (copyin, copyout, file I/O, file release,
//! notification, worker creation) asserts that the calling thread does not
//! hold it, so any unit test that runs such a path checks the lock rules.
//! Tests can hold a file's I/O at a gate to keep a job running or queued for
//! as long as they need.

use std::boxed::Box;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar as StdCondvar, Mutex as StdMutex, MutexGuard as StdGuard};
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::abi::netbsd_aiocb as L;
use crate::abi::netbsd_codec as codec;
use crate::abi::{JOB_NONE, NSIG};
use crate::engine::{AioProc, System};
use crate::errno::Errno;
use crate::os::*;
use crate::syscalls::ProcHost;

std::thread_local! {
    static AIO_LOCKS_HELD: Cell<usize> = const { Cell::new(0) };
    static INTERRUPT_NEXT_WAIT: Cell<bool> = const { Cell::new(false) };
    static WAKEUPS: Cell<usize> = const { Cell::new(0) };
}

/// How many condition-variable waits of the calling thread ended by a
/// wakeup (not a timeout or an interruption) so far.
pub fn wakeups() -> usize {
    WAKEUPS.with(Cell::get)
}

fn assert_unlocked(what: &str) {
    assert_eq!(
        AIO_LOCKS_HELD.with(Cell::get),
        0,
        "{what} while holding the AIO lock"
    );
}

fn lock<T>(m: &StdMutex<T>) -> StdGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes the calling thread's next interruptible wait return `Interrupted`,
/// as if a signal had been caught.
pub fn interrupt_next_wait() {
    INTERRUPT_NEXT_WAIT.with(|c| c.set(true));
}

/// The fake's lock: a flag under a std mutex.
pub struct FakeMutex {
    locked: StdMutex<bool>,
    cv: StdCondvar,
}

// SAFETY: `lock` returns only after changing `locked` from false to true
// under the std mutex, and only `unlock` sets it back: mutual exclusion.
unsafe impl RawMutex for FakeMutex {
    fn new() -> Self {
        FakeMutex {
            locked: StdMutex::new(false),
            cv: StdCondvar::new(),
        }
    }
    fn lock(&self) {
        let mut g = lock(&self.locked);
        while *g {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        *g = true;
        AIO_LOCKS_HELD.with(|c| c.set(c.get() + 1));
    }
    unsafe fn unlock(&self) {
        AIO_LOCKS_HELD.with(|c| c.set(c.get() - 1));
        *lock(&self.locked) = false;
        self.cv.notify_one();
    }
}

/// The fake's condition variable: a wakeup counter under a std mutex.
pub struct FakeCondVar {
    seq: StdMutex<u64>,
    cv: StdCondvar,
}

// SAFETY: the waiter reads `seq` under its std mutex before releasing the
// AIO lock, and signallers bump `seq` under the same std mutex, so a wakeup
// sent after the AIO lock is released is never lost; `wait` re-takes the AIO
// lock before returning.
unsafe impl RawCondVar<FakeMutex> for FakeCondVar {
    fn new() -> Self {
        FakeCondVar {
            seq: StdMutex::new(0),
            cv: StdCondvar::new(),
        }
    }
    unsafe fn wait(&self, m: &FakeMutex, how: Sleep) -> Wakeup {
        let timeout = match how {
            Sleep::Uninterruptible => None,
            Sleep::Worker { timeout_ns } => timeout_ns,
            Sleep::Interruptible { timeout_ns } => {
                if INTERRUPT_NEXT_WAIT.with(|c| c.replace(false)) {
                    return Wakeup::Interrupted;
                }
                timeout_ns
            }
        };
        let deadline = timeout.map(|ns| Instant::now() + Duration::from_nanos(ns));
        let mut seq = lock(&self.seq);
        let start = *seq;
        // SAFETY: the caller holds `m` (this function's contract).
        unsafe { m.unlock() };
        let result = loop {
            if *seq != start {
                break Wakeup::Woken;
            }
            match deadline {
                None => seq = self.cv.wait(seq).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break Wakeup::TimedOut;
                    }
                    seq = self
                        .cv
                        .wait_timeout(seq, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        };
        drop(seq);
        m.lock();
        if result == Wakeup::Woken {
            WAKEUPS.with(|c| c.set(c.get() + 1));
        }
        result
    }
    fn signal(&self) {
        *lock(&self.seq) += 1;
        self.cv.notify_one();
    }
    fn broadcast(&self) {
        *lock(&self.seq) += 1;
        self.cv.notify_all();
    }
}

/// How a fake file behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Positioned I/O on a byte vector.
    Regular,
    /// A pipe: reads consume from the front and wait for data.
    Stream,
}

/// A fake open file.
pub struct FileObj {
    kind: Kind,
    readable: bool,
    writable: bool,
    append: bool,
    state: StdMutex<FileState>,
    cv: StdCondvar,
    refs: AtomicUsize,
    /// What `getfile` reports as `FileInfo::writes_serialize`.
    writes_serialize: AtomicBool,
    /// What `getfile` reports as `FileInfo::memory`.
    memory: AtomicBool,
}

#[derive(Default)]
struct FileState {
    data: Vec<u8>,
    /// I/O waits while the gate is closed.
    gate_closed: bool,
    /// A stream read returns 0 instead of waiting.
    eof: bool,
    /// I/O calls started (for tests that need a job to be running).
    started: usize,
    syncs: Vec<SyncKind>,
    /// Fails the next I/O with this errno.
    fail_next: Option<Errno>,
    /// A stream holds at most this many bytes (a pipe's buffer): a
    /// non-blocking write moves what fits.
    capacity: Option<usize>,
}

/// A fake worker's stream waiter.
#[derive(Default)]
pub struct FakeWaiter {
    woken: StdMutex<bool>,
    cv: StdCondvar,
}

/// The test's own reference to a fake file.
pub struct Handle(Arc<FileObj>);

impl Handle {
    /// Feeds a stream (a pipe write).
    pub fn feed(&self, bytes: &[u8]) {
        lock(&self.0.state).data.extend_from_slice(bytes);
        self.0.cv.notify_all();
    }

    /// Opens or closes the gate; I/O waits while it is closed.
    pub fn gate(&self, closed: bool) {
        lock(&self.0.state).gate_closed = closed;
        self.0.cv.notify_all();
    }

    /// The contents.
    pub fn contents(&self) -> Vec<u8> {
        lock(&self.0.state).data.clone()
    }

    /// References held by jobs.
    pub fn refs(&self) -> usize {
        self.0.refs.load(SeqCst)
    }
}

/// The job's reference to a fake file.
pub struct FileRef(Arc<FileObj>);

impl Drop for FileRef {
    fn drop(&mut self) {
        assert_unlocked("file release");
        self.0.refs.fetch_sub(1, SeqCst);
    }
}

struct Shared {
    base: usize,
    mem: StdMutex<Vec<u8>>,
    brk: AtomicUsize,
    fds: StdMutex<BTreeMap<i32, Arc<FileObj>>>,
    notes: StdMutex<Vec<Notify>>,
    notes_cv: StdCondvar,
    fail_spawn: AtomicBool,
    leave: AtomicBool,
    inline_reads: AtomicBool,
    spawned: AtomicUsize,
    /// What `cpu` answers for every thread (`u32::MAX`: not known).
    cpu: AtomicU32,
    epoch: Instant,
}

/// The fake OS handle (cheap to clone; clones share the same "process").
#[derive(Clone)]
pub struct FakeOs(Arc<Shared>);

impl Default for FakeOs {
    fn default() -> Self {
        Self::new()
    }
}

const MEM_BASE: usize = 0x10_0000;
const MEM_SIZE: usize = 4 << 20;

impl FakeOs {
    /// An empty process with 4 MiB of user memory.
    pub fn new() -> Self {
        FakeOs(Arc::new(Shared {
            base: MEM_BASE,
            mem: StdMutex::new(std::vec![0; MEM_SIZE]),
            brk: AtomicUsize::new(0),
            fds: StdMutex::new(BTreeMap::new()),
            notes: StdMutex::new(Vec::new()),
            notes_cv: StdCondvar::new(),
            fail_spawn: AtomicBool::new(false),
            leave: AtomicBool::new(false),
            inline_reads: AtomicBool::new(false),
            spawned: AtomicUsize::new(0),
            cpu: AtomicU32::new(u32::MAX),
            epoch: Instant::now(),
        }))
    }

    /// Puts every thread of the process on CPU `cpu` (`None`: the CPU is
    /// not known), as [`Os::cpu`] tells the engine.
    pub fn set_cpu(&self, cpu: Option<u32>) {
        self.0.cpu.store(cpu.unwrap_or(u32::MAX), SeqCst);
    }

    /// Allocates zeroed user memory (16-aligned) and returns its address.
    pub fn alloc(&self, len: usize) -> usize {
        let len = (len + 15) & !15;
        let off = self.0.brk.fetch_add(len, SeqCst);
        assert!(off + len <= MEM_SIZE, "fake user memory exhausted");
        self.0.base + off
    }

    fn range(&self, addr: usize, len: usize) -> Result<std::ops::Range<usize>, Errno> {
        let off = addr.checked_sub(self.0.base).ok_or(Errno::EFAULT)?;
        let end = off.checked_add(len).ok_or(Errno::EFAULT)?;
        if end > MEM_SIZE {
            return Err(Errno::EFAULT);
        }
        Ok(off..end)
    }

    /// Reads user memory (test side: no lock assertion).
    pub fn peek(&self, addr: usize, len: usize) -> Vec<u8> {
        let r = self.range(addr, len).expect("peek out of range");
        lock(&self.0.mem)[r].to_vec()
    }

    /// Writes user memory (test side).
    pub fn poke(&self, addr: usize, bytes: &[u8]) {
        let r = self.range(addr, bytes.len()).expect("poke out of range");
        lock(&self.0.mem)[r].copy_from_slice(bytes);
    }

    fn copyin(&self, addr: usize, out: &mut [u8]) -> Result<(), Errno> {
        assert_unlocked("copyin");
        let r = self.range(addr, out.len())?;
        out.copy_from_slice(&lock(&self.0.mem)[r]);
        Ok(())
    }

    fn copyout(&self, addr: usize, bytes: &[u8]) -> Result<(), Errno> {
        assert_unlocked("copyout");
        let r = self.range(addr, bytes.len())?;
        lock(&self.0.mem)[r].copy_from_slice(bytes);
        Ok(())
    }

    /// Builds a NetBSD aiocb in user memory and returns its address.
    pub fn aiocb(
        &self,
        fd: i32,
        opcode: i32,
        buf: usize,
        nbytes: usize,
        offset: i64,
    ) -> UserPtr<Aiocb> {
        let a = self.alloc(L::SIZE);
        self.set_aiocb(UserPtr::new(a), fd, opcode, buf, nbytes, offset);
        UserPtr::new(a)
    }

    /// Rewrites the user-set fields of an aiocb.
    pub fn set_aiocb(
        &self,
        p: UserPtr<Aiocb>,
        fd: i32,
        opcode: i32,
        buf: usize,
        nbytes: usize,
        offset: i64,
    ) {
        let a = p.addr();
        self.poke(a + L::OFFSET, &offset.to_ne_bytes());
        self.poke(a + L::BUF, &(buf as u64).to_ne_bytes());
        self.poke(a + L::NBYTES, &(nbytes as u64).to_ne_bytes());
        self.poke(a + L::FILDES, &fd.to_ne_bytes());
        self.poke(a + L::LIO_OPCODE, &opcode.to_ne_bytes());
    }

    /// Sets an aiocb's `aio_reqprio`.
    pub fn set_reqprio(&self, p: UserPtr<Aiocb>, prio: i32) {
        self.poke(p.addr() + L::REQPRIO, &prio.to_ne_bytes());
    }

    /// Sets an aiocb's sigevent (NetBSD numbering).
    pub fn set_sigevent(&self, p: UserPtr<Aiocb>, notify: i32, signo: i32, value: usize) {
        self.write_sigevent(p.addr() + L::SIGEVENT, notify, signo, value);
    }

    /// Writes a `struct sigevent` at `addr`.
    pub fn write_sigevent(&self, addr: usize, notify: i32, signo: i32, value: usize) {
        self.poke(addr + L::SIGEV_NOTIFY, &notify.to_ne_bytes());
        self.poke(addr + L::SIGEV_SIGNO, &signo.to_ne_bytes());
        self.poke(addr + L::SIGEV_VALUE, &(value as u64).to_ne_bytes());
    }

    /// The kernel-private fields of an aiocb: (`_state`, `_errno`, `_retval`).
    pub fn private(&self, p: UserPtr<Aiocb>) -> (i32, i32, i64) {
        let b = self.peek(p.addr(), L::SIZE);
        (
            i32::from_ne_bytes(b[L::STATE..L::STATE + 4].try_into().unwrap()),
            i32::from_ne_bytes(b[L::ERRNO..L::ERRNO + 4].try_into().unwrap()),
            i64::from_ne_bytes(b[L::RETVAL..L::RETVAL + 8].try_into().unwrap()),
        )
    }

    /// An aiocb's `aio_buf`.
    pub fn private_buf(&self, p: UserPtr<Aiocb>) -> usize {
        let b = self.peek(p.addr() + L::BUF, 8);
        u64::from_ne_bytes(b.try_into().unwrap()) as usize
    }

    /// Writes an array of aiocb pointers and returns its address.
    pub fn ptr_array(&self, ptrs: &[UserPtr<Aiocb>]) -> UserPtr<UserPtr<Aiocb>> {
        let a = self.alloc(ptrs.len() * 8);
        for (i, p) in ptrs.iter().enumerate() {
            self.poke(a + 8 * i, &(p.addr() as u64).to_ne_bytes());
        }
        UserPtr::new(a)
    }

    /// Writes a `struct timespec` and returns its address.
    pub fn timespec(&self, sec: i64, nsec: i64) -> UserPtr<Timespec> {
        let a = self.alloc(16);
        self.poke(a, &sec.to_ne_bytes());
        self.poke(a + 8, &nsec.to_ne_bytes());
        UserPtr::new(a)
    }

    /// Opens a file and returns its descriptor.
    pub fn open(
        &self,
        kind: Kind,
        readable: bool,
        writable: bool,
        append: bool,
        data: &[u8],
    ) -> i32 {
        let f = Arc::new(FileObj {
            kind,
            readable,
            writable,
            append,
            state: StdMutex::new(FileState {
                data: data.to_vec(),
                ..FileState::default()
            }),
            cv: StdCondvar::new(),
            refs: AtomicUsize::new(0),
            writes_serialize: AtomicBool::new(false),
            memory: AtomicBool::new(false),
        });
        let mut fds = lock(&self.0.fds);
        let fd = (3..).find(|n| !fds.contains_key(n)).unwrap();
        fds.insert(fd, f);
        fd
    }

    /// Another descriptor of the same open file (`dup`).
    pub fn dup(&self, fd: i32) -> i32 {
        let f = self.file(fd);
        let mut fds = lock(&self.0.fds);
        let n = (3..).find(|n| !fds.contains_key(n)).unwrap();
        fds.insert(n, f);
        n
    }

    /// Closes a descriptor (jobs keep their own references).
    pub fn close(&self, fd: i32) {
        lock(&self.0.fds).remove(&fd);
    }

    fn file(&self, fd: i32) -> Arc<FileObj> {
        lock(&self.0.fds).get(&fd).cloned().expect("no such fd")
    }

    /// A file's contents.
    pub fn contents(&self, fd: i32) -> Vec<u8> {
        lock(&self.file(fd).state).data.clone()
    }

    /// The open file behind `fd`, usable after `fd` is closed.
    pub fn handle(&self, fd: i32) -> Handle {
        Handle(self.file(fd))
    }

    /// Feeds a stream (a pipe write).
    pub fn feed(&self, fd: i32, bytes: &[u8]) {
        self.handle(fd).feed(bytes)
    }

    /// Opens or closes a file's gate; I/O waits while it is closed.
    pub fn gate(&self, fd: i32, closed: bool) {
        self.handle(fd).gate(closed)
    }

    /// Gives a stream a buffer of `n` bytes (a pipe's): a non-blocking
    /// write moves what fits.
    pub fn set_capacity(&self, fd: i32, n: usize) {
        lock(&self.file(fd).state).capacity = Some(n);
    }

    /// Takes `n` bytes out of a stream (the reading end of a pipe).
    pub fn drain(&self, fd: i32, n: usize) -> Vec<u8> {
        let f = self.file(fd);
        let out: Vec<u8> = {
            let mut s = lock(&f.state);
            let n = n.min(s.data.len());
            s.data.drain(..n).collect()
        };
        f.cv.notify_all();
        out
    }

    /// Makes the file's next I/O fail with `e`.
    pub fn fail_next(&self, fd: i32, e: Errno) {
        lock(&self.file(fd).state).fail_next = Some(e);
    }

    /// Waits until `n` I/O calls have started on the file.
    pub fn wait_started(&self, fd: i32, n: usize) {
        let f = self.file(fd);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut s = lock(&f.state);
        while s.started < n {
            assert!(Instant::now() < deadline, "I/O did not start");
            s = f.cv.wait_timeout(s, Duration::from_millis(10)).unwrap().0;
        }
    }

    /// Makes the file report that its writes exclude each other in the
    /// host (`FileInfo::writes_serialize`), for jobs submitted from now on.
    pub fn writes_serialize(&self, fd: i32, on: bool) {
        self.file(fd).writes_serialize.store(on, SeqCst);
    }

    /// Makes the file report that its I/O is a memory copy
    /// (`FileInfo::memory`), for jobs submitted from now on.
    pub fn memory_file(&self, fd: i32, on: bool) {
        self.file(fd).memory.store(on, SeqCst);
    }

    /// I/O calls started on the file so far.
    pub fn started(&self, fd: i32) -> usize {
        lock(&self.file(fd).state).started
    }

    /// The syncs performed on a file.
    pub fn syncs(&self, fd: i32) -> Vec<SyncKind> {
        lock(&self.file(fd).state).syncs.clone()
    }

    /// References held on a file by jobs.
    pub fn refs(&self, fd: i32) -> usize {
        self.file(fd).refs.load(SeqCst)
    }

    /// Notifications delivered so far.
    pub fn notes(&self) -> Vec<Notify> {
        lock(&self.0.notes).clone()
    }

    /// Waits until at least `n` notifications have been delivered.
    pub fn wait_notes(&self, n: usize) -> Vec<Notify> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut g = lock(&self.0.notes);
        while g.len() < n {
            assert!(Instant::now() < deadline, "notification missing");
            g = self
                .0
                .notes_cv
                .wait_timeout(g, Duration::from_millis(10))
                .unwrap()
                .0;
        }
        g.clone()
    }

    /// Lets `read_nowait` succeed on regular files whose gate is open (off
    /// by default: most tests want every job to go through a worker).
    pub fn inline_reads(&self, on: bool) {
        self.0.inline_reads.store(on, SeqCst);
    }

    /// Makes worker creation fail.
    pub fn fail_spawn(&self, fail: bool) {
        self.0.fail_spawn.store(fail, SeqCst);
    }

    /// Tells every worker to leave before its next job, as NetBSD's
    /// exit_lwps() does with LW_WEXIT.
    pub fn tell_workers_to_leave(&self) {
        self.0.leave.store(true, SeqCst);
    }

    /// Workers started so far.
    pub fn spawned(&self) -> usize {
        self.0.spawned.load(SeqCst)
    }

    /// Starts an I/O call: counts it, waits at the gate, fails it if asked.
    fn enter(obj: &FileObj) -> Result<StdGuard<'_, FileState>, Errno> {
        assert_unlocked("file I/O");
        let mut s = lock(&obj.state);
        s.started += 1;
        obj.cv.notify_all();
        while s.gate_closed {
            s = obj.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        match s.fail_next.take() {
            Some(e) => Err(e),
            None => Ok(s),
        }
    }

    fn io(
        &self,
        f: &FileRef,
        buf: usize,
        len: usize,
        off: Option<i64>,
        write: bool,
    ) -> Result<usize, Errno> {
        let s = Self::enter(&f.0)?;
        self.transfer(&f.0, s, buf, len, off, write)
    }

    /// Whether a stream is ready for a transfer in that direction.
    fn stream_ready(s: &FileState, write: bool) -> bool {
        if s.gate_closed {
            return false;
        }
        if s.fail_next.is_some() {
            return true;
        }
        if write {
            s.capacity.map_or(true, |c| s.data.len() < c)
        } else {
            !s.data.is_empty() || s.eof
        }
    }

    fn transfer(
        &self,
        obj: &FileObj,
        mut s: StdGuard<'_, FileState>,
        buf: usize,
        len: usize,
        off: Option<i64>,
        write: bool,
    ) -> Result<usize, Errno> {
        if write {
            let len = match (obj.kind, s.capacity) {
                (Kind::Stream, Some(c)) => len.min(c.saturating_sub(s.data.len())),
                _ => len,
            };
            let mut tmp = std::vec![0; len];
            self.copyin(buf, &mut tmp)?;
            match (obj.kind, off) {
                (Kind::Regular, Some(o)) => {
                    let o = o as usize;
                    if s.data.len() < o + len {
                        s.data.resize(o + len, 0);
                    }
                    s.data[o..o + len].copy_from_slice(&tmp);
                }
                _ => s.data.extend_from_slice(&tmp),
            }
            obj.cv.notify_all();
            Ok(len)
        } else {
            let bytes: Vec<u8> = match (obj.kind, off) {
                (Kind::Regular, Some(o)) => {
                    let o = (o as usize).min(s.data.len());
                    let end = (o + len).min(s.data.len());
                    s.data[o..end].to_vec()
                }
                _ => {
                    while s.data.is_empty() && !s.eof && len > 0 {
                        s = obj.cv.wait(s).unwrap_or_else(|e| e.into_inner());
                    }
                    let n = len.min(s.data.len());
                    s.data.drain(..n).collect()
                }
            };
            drop(s);
            self.copyout(buf, &bytes)?;
            Ok(bytes.len())
        }
    }
}

impl codec::UserBytes for FakeOs {
    fn copyin(&self, addr: usize, out: &mut [u8]) -> Result<(), Errno> {
        FakeOs::copyin(self, addr, out)
    }
    fn copyout(&self, addr: usize, bytes: &[u8]) -> Result<(), Errno> {
        FakeOs::copyout(self, addr, bytes)
    }
}

impl Os for FakeOs {
    type Mutex = FakeMutex;
    type CondVar = FakeCondVar;
    type File = FileRef;
    type Waiter = FakeWaiter;

    fn new_waiter(&self) -> Option<FakeWaiter> {
        Some(FakeWaiter::default())
    }

    fn rw_nowait(&self, f: &FileRef, write: bool, buf: usize, len: usize) -> Result<usize, Errno> {
        assert_unlocked("file I/O");
        let obj = &f.0;
        let mut s = lock(&obj.state);
        s.started += 1;
        obj.cv.notify_all();
        if len > 0 && !Self::stream_ready(&s, write) {
            return Err(Errno::EAGAIN);
        }
        if let Some(e) = s.fail_next.take() {
            return Err(e);
        }
        self.transfer(obj, s, buf, len, None, write)
    }

    fn wait_ready(&self, w: &FakeWaiter, f: &FileRef, write: bool, _want: usize) {
        assert_unlocked("stream wait");
        let mut woken = lock(&w.woken);
        loop {
            if std::mem::take(&mut *woken) || Self::stream_ready(&lock(&f.0.state), write) {
                return;
            }
            woken =
                w.cv.wait_timeout(woken, Duration::from_millis(1))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
        }
    }

    fn wake(&self, w: &FakeWaiter) {
        assert_unlocked("stream wake");
        *lock(&w.woken) = true;
        w.cv.notify_all();
    }

    fn getfile(&self, fd: i32) -> Result<(FileRef, FileInfo), Errno> {
        let f = lock(&self.0.fds).get(&fd).cloned().ok_or(Errno::EBADF)?;
        f.refs.fetch_add(1, SeqCst);
        let info = FileInfo {
            readable: f.readable,
            writable: f.writable,
            append: f.append,
            seekable: f.kind == Kind::Regular,
            key: Arc::as_ptr(&f) as usize,
            writes_serialize: f.writes_serialize.load(SeqCst),
            memory: f.memory.load(SeqCst),
        };
        Ok((FileRef(f), info))
    }

    fn fd_is_open(&self, fd: i32) -> bool {
        lock(&self.0.fds).contains_key(&fd)
    }

    fn read(&self, f: &FileRef, buf: usize, len: usize, off: Option<i64>) -> Result<usize, Errno> {
        self.io(f, buf, len, off, false)
    }

    fn write(&self, f: &FileRef, buf: usize, len: usize, off: Option<i64>) -> Result<usize, Errno> {
        self.io(f, buf, len, off, true)
    }

    fn fsync(&self, f: &FileRef, kind: SyncKind) -> Result<(), Errno> {
        Self::enter(&f.0)?.syncs.push(kind);
        Ok(())
    }

    fn read_nowait(&self, fd: i32, buf: usize, len: usize, off: i64) -> Option<usize> {
        assert_unlocked("file I/O");
        if !self.0.inline_reads.load(SeqCst) {
            return None;
        }
        let f = lock(&self.0.fds).get(&fd).cloned()?;
        let bytes = {
            let s = lock(&f.state);
            if f.kind != Kind::Regular || !f.readable || s.gate_closed || off < 0 {
                return None;
            }
            let o = (off as usize).min(s.data.len());
            s.data[o..(o + len).min(s.data.len())].to_vec()
        };
        if bytes.len() != len && !bytes.is_empty() {
            return None;
        }
        self.copyout(buf, &bytes).ok()?;
        Some(bytes.len())
    }

    fn spawn_worker(&self, body: Box<dyn FnOnce() + Send + 'static>) -> Result<(), Errno> {
        assert_unlocked("worker creation");
        if self.0.fail_spawn.load(SeqCst) {
            return Err(Errno::EAGAIN);
        }
        self.0.spawned.fetch_add(1, SeqCst);
        std::thread::Builder::new()
            .name("aio-worker".into())
            .spawn(body)
            .map(|_| ())
            .map_err(|_| Errno::EAGAIN)
    }

    fn worker_must_leave(&self) -> bool {
        self.0.leave.load(SeqCst)
    }

    crate::netbsd_user_memory!(self => self);

    fn valid_signal(&self, signo: i32) -> bool {
        (1..NSIG).contains(&signo)
    }

    fn sigev_thread(&self) -> bool {
        false
    }

    fn notify(&self, n: &Notify) {
        assert_unlocked("notification");
        if *n != Notify::None {
            lock(&self.0.notes).push(*n);
            self.0.notes_cv.notify_all();
        }
    }

    fn now_ns(&self) -> u64 {
        self.0.epoch.elapsed().as_nanos() as u64
    }

    fn cpu(&self) -> Option<u32> {
        Some(self.0.cpu.load(SeqCst)).filter(|&c| c != u32::MAX)
    }
}

/// A process of the fake OS, as the syscall layer sees it.
pub struct FakeHost {
    /// The process's services.
    pub os: FakeOs,
    /// Its own limits, so tests do not disturb each other.
    pub sys: &'static System,
    aio: StdMutex<Option<Arc<AioProc<FakeOs>>>>,
}

impl Default for FakeHost {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeHost {
    /// A fresh process with default limits.
    pub fn new() -> Self {
        Self::with_sys(Box::leak(Box::new(System::new())))
    }

    /// A fresh process sharing `sys` with others.
    pub fn with_sys(sys: &'static System) -> Self {
        FakeHost {
            os: FakeOs::new(),
            sys,
            aio: StdMutex::new(None),
        }
    }

    /// Runs process exit, as NetBSD's exit hook would.
    pub fn exit(&self) {
        let a = lock(&self.aio).take();
        if let Some(a) = a {
            a.exit();
        }
    }

    /// Clears an aiocb's private state as if never submitted.
    pub fn forget(&self, p: UserPtr<Aiocb>) {
        self.os.poke(p.addr() + L::STATE, &JOB_NONE.to_ne_bytes());
    }
}

impl ProcHost for FakeHost {
    type Os = FakeOs;
    type Aio<'a> = Arc<AioProc<FakeOs>>;
    fn os(&self) -> FakeOs {
        self.os.clone()
    }
    fn sys(&self) -> &'static System {
        self.sys
    }
    fn aio(&self) -> Option<Arc<AioProc<FakeOs>>> {
        lock(&self.aio).clone()
    }
    fn aio_create(&self) -> Result<Arc<AioProc<FakeOs>>, Errno> {
        let mut g = lock(&self.aio);
        Ok(
            g.get_or_insert_with(|| AioProc::new(self.os.clone(), self.sys))
                .clone(),
        )
    }
}
