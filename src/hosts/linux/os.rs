//! [`Os`] for Linux userspace.

use std::boxed::Box;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex as StdMutex, Weak};

use std::collections::HashMap;

use super::abi;
use super::errno::{self as lerrno, to_linux};
use super::sync::{FutexCondVar, FutexMutex};
use crate::errno::Errno;
use crate::os::*;

/// `si_code` of an AIO completion signal on Linux.
const SI_ASYNCIO_LINUX: i32 = -4;

static PID: AtomicI32 = AtomicI32::new(0);

/// This process's id, cached; [`forget_pid`] clears it in a forked child.
pub fn self_pid() -> libc::pid_t {
    let p = PID.load(Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: getpid has no preconditions.
    let p = unsafe { libc::getpid() };
    PID.store(p, Relaxed);
    p
}

/// Drops the cached pid (fork child handler).
pub fn forget_pid() {
    PID.store(0, Relaxed);
}

/// Copies pieces of this process's memory, in order, into the buffers; an
/// unmapped address is EFAULT, not a crash.  With the fault-catching copy
/// ([`super::ucopy`]) where it is available, otherwise with one
/// `process_vm_readv`.
fn vm_read(pieces: &mut [(usize, &mut [u8])]) -> Result<(), Errno> {
    #[cfg(target_arch = "x86_64")]
    if let Some(r) = super::ucopy::copyin(pieces) {
        return r.map_err(|()| Errno::EFAULT);
    }
    let mut iov = [(0, core::ptr::null_mut(), 0); VM_PIECES];
    for (v, (addr, buf)) in iov.iter_mut().zip(pieces.iter_mut()) {
        *v = (*addr, buf.as_mut_ptr().cast(), buf.len());
    }
    // SAFETY: each buffer is held mutably for the call.
    unsafe { vm_transfer(&iov[..pieces.len()], false) }
}

/// Copies buffers to pieces of this process's memory, in order (as
/// [`vm_read`]; with `process_vm_writev` as the fallback).
fn vm_write(pieces: &[(usize, &[u8])]) -> Result<(), Errno> {
    #[cfg(target_arch = "x86_64")]
    if let Some(r) = super::ucopy::copyout(pieces) {
        return r.map_err(|()| Errno::EFAULT);
    }
    let mut iov = [(0, core::ptr::null_mut(), 0); VM_PIECES];
    for (v, (addr, buf)) in iov.iter_mut().zip(pieces.iter()) {
        *v = (*addr, buf.as_ptr() as *mut libc::c_void, buf.len());
    }
    // SAFETY: each buffer is borrowed for the call, and a write only reads
    // it.
    unsafe { vm_transfer(&iov[..pieces.len()], true) }
}

/// Copies `out.len()` bytes of this process's memory at `addr` into `out`;
/// an unmapped address is EFAULT, not a crash.
pub(super) fn copyin_bytes(addr: usize, out: &mut [u8]) -> Result<(), Errno> {
    vm_read(&mut [(addr, out)])
}

/// Copies `bytes` to this process's memory at `addr` (as
/// [`copyin_bytes`]).
pub(super) fn copyout_bytes(addr: usize, bytes: &[u8]) -> Result<(), Errno> {
    vm_write(&[(addr, bytes)])
}

/// This process's memory as bytes, for the shared decoders.
struct LinuxBytes;

impl crate::abi::netbsd_codec::UserBytes for LinuxBytes {
    fn copyin(&self, addr: usize, out: &mut [u8]) -> Result<(), Errno> {
        vm_read(&mut [(addr, out)])
    }
    fn copyout(&self, addr: usize, bytes: &[u8]) -> Result<(), Errno> {
        vm_write(&[(addr, bytes)])
    }
}

/// Most pieces one [`vm_read`] or [`vm_write`] moves.
const VM_PIECES: usize = 4;

/// One `process_vm_readv` (or, `write`, `process_vm_writev`) on this
/// process of pieces (address in this process's user memory, our buffer,
/// length).
///
/// # Safety
///
/// Every buffer is valid for its length for the whole call, for writing
/// unless `write`.
unsafe fn vm_transfer(
    pieces: &[(usize, *mut libc::c_void, usize)],
    write: bool,
) -> Result<(), Errno> {
    let empty = libc::iovec {
        iov_base: core::ptr::null_mut(),
        iov_len: 0,
    };
    let (mut local, mut remote) = ([empty; VM_PIECES], [empty; VM_PIECES]);
    let mut total = 0;
    for (i, &(addr, buf, len)) in pieces.iter().enumerate() {
        local[i] = libc::iovec {
            iov_base: buf,
            iov_len: len,
        };
        remote[i] = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: len,
        };
        total += len;
    }
    if total == 0 {
        return Ok(());
    }
    let n = pieces.len() as libc::c_ulong;
    // SAFETY: `local` describes buffers valid for the call (the caller's
    // contract); `remote` holds addresses the kernel validates (EFAULT if
    // unmapped), never dereferenced by us.
    let r = unsafe {
        if write {
            libc::process_vm_writev(self_pid(), local.as_ptr(), n, remote.as_ptr(), n, 0)
        } else {
            libc::process_vm_readv(self_pid(), local.as_ptr(), n, remote.as_ptr(), n, 0)
        }
    };
    if r == total as isize {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// Retries a system call returning -1/errno on EINTR: the workers block
/// every signal, but a stopped-and-continued process can still see EINTR.
fn retry(mut f: impl FnMut() -> isize) -> Result<usize, Errno> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = lerrno::last();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

/// The job's own reference to the file: a descriptor duplicated at
/// submission, shared by the jobs in flight on the same open file.
pub struct LinuxFile(Arc<OwnedFd>);

/// Duplicates `fd` and describes the open file.
fn open_file(fd: i32) -> Result<(LinuxFile, FileInfo), Errno> {
    // SAFETY: fcntl on any integer is safe; it fails with EBADF when fd is
    // not open.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(match lerrno::last() {
            // Out of descriptors: a resource shortage, not a bad fd.
            Errno::EMFILE | Errno::ENFILE => Errno::EAGAIN,
            e => e,
        });
    }
    // SAFETY: `dup` is a fresh descriptor that nothing else owns.
    let file = LinuxFile(Arc::new(unsafe { OwnedFd::from_raw_fd(dup) }));
    // SAFETY: F_GETFL on our own open descriptor.
    let fl = unsafe { libc::fcntl(dup, libc::F_GETFL) };
    if fl < 0 {
        return Err(lerrno::last());
    }
    // SAFETY: `st` is plain data that fstat fills in completely on
    // success; on failure it is not read.
    let st = unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        if libc::fstat(dup, &mut st) != 0 {
            return Err(lerrno::last());
        }
        st
    };
    let fmt = st.st_mode & libc::S_IFMT;
    let acc = fl & libc::O_ACCMODE;
    let mut info = FileInfo {
        readable: acc == libc::O_RDONLY || acc == libc::O_RDWR,
        writable: acc == libc::O_WRONLY || acc == libc::O_RDWR,
        append: false,
        seekable: fmt == libc::S_IFREG || fmt == libc::S_IFBLK,
        key: (st.st_dev as usize).rotate_left(40) ^ st.st_ino as usize,
        writes_serialize: true,
        // Not known without another system call, and cached reads complete
        // inline here anyway.
        memory: false,
    };
    set_status_flags(&mut info, fl);
    Ok((file, info))
}

/// The parts of a [`FileInfo`] that come from the open file's status
/// flags (`F_GETFL`), the only ones F_SETFL can change later.
fn set_status_flags(info: &mut FileInfo, fl: libc::c_int) {
    info.append = fl & libc::O_APPEND != 0;
    // Buffered writes take the inode lock exclusively; O_DIRECT overwrites
    // run in parallel.
    info.writes_serialize = fl & libc::O_DIRECT == 0;
}

/// Descriptors already duplicated for jobs in flight, by user descriptor
/// number.  A new job on the same number shares the duplicate when
/// [`same_file`] says the number still names the same open file (one
/// system call, two for an O_APPEND or O_DIRECT file open for writing,
/// instead of dup, fcntl, fstat and close).  Entries hold only weak
/// references: when the last job on a file ends, its duplicate is closed,
/// so the cache never keeps a file (a pipe's write end, say) open behind
/// the program's back.  Where neither F_DUPFD_QUERY nor kcmp works the
/// cache turns itself off.
///
/// The program can change `O_APPEND` and `O_DIRECT` with F_SETFL while
/// jobs keep an entry alive.  A hit on an entry of a file open for
/// writing with either flag asks F_GETFL again: an append runs as
/// `write(2)` at the file offset, so it must see the flag cleared, and
/// O_DIRECT writes run side by side, so they must see it set (below).
/// An entry of a plain buffered file (the common case) may be stale
/// without harm, and a hit on it stays one call (F_GETFL was a second
/// system call in every write's submission, contending with the
/// worker's write for the file's reference count):
///
/// * its writes run as `pwrite(2)`, which on Linux appends when the file
///   is O_APPEND when it runs, as glibc's and NetBSD's workers decide
///   when the request is performed, not when it is queued;
/// * they keep submission order among themselves and with appends
///   (`Class`: positioned writes to a buffered file run one at a time in
///   order, and an append overlaps every write);
/// * the one request it would refuse, a write with a negative
///   `aio_offset` (valid with O_APPEND), makes the engine ask again
///   (`refresh_info`);
/// * O_DIRECT set since only keeps its writes one at a time
///   (`writes_serialize`, a hint), and the read hints correct
///   themselves (`DirectHints`).
///
/// A file open read-only is never written through and its reads depend
/// on neither flag: a hit on it stays one call too.
type FileMap = HashMap<i32, (Weak<OwnedFd>, FileInfo)>;

struct FileCache {
    map: StdMutex<Option<FileMap>>,
    off: AtomicBool,
}

static FILES: FileCache = FileCache {
    map: StdMutex::new(None),
    off: AtomicBool::new(false),
};

impl FileCache {
    /// A cached duplicate of `fd` and its description; `true` if the
    /// status flags in it were just asked for, `false` if they are the
    /// entry's (perhaps stale: see above).
    fn lookup(&self, fd: i32) -> Option<(LinuxFile, FileInfo, bool)> {
        if self.off.load(Relaxed) {
            return None;
        }
        // try_lock: a busy cache is skipped, never waited for (and after
        // fork a lock held by a vanished thread must not hang the child).
        let (weak, info) = self.map.try_lock().ok()?.as_ref()?.get(&fd).cloned()?;
        let dup = weak.upgrade()?;
        match same_file(fd, dup.as_raw_fd()) {
            Some(true) if info.writable && (info.append || !info.writes_serialize) => {
                let file = LinuxFile(dup);
                let fresh = self.refresh(fd, &file, info)?;
                Some((file, fresh, true))
            }
            Some(true) => Some((LinuxFile(dup), info, false)),
            Some(false) => None,
            None => {
                self.off.store(true, Relaxed);
                None
            }
        }
    }

    /// `info` with the status flags of `f` (our duplicate of `fd`) as
    /// they are now; the entry is updated if they changed.
    fn refresh(&self, fd: i32, f: &LinuxFile, info: FileInfo) -> Option<FileInfo> {
        let mut fresh = info;
        // SAFETY: F_GETFL on our own open descriptor.
        let fl = unsafe { libc::fcntl(f.0.as_raw_fd(), libc::F_GETFL) };
        if fl < 0 {
            return None;
        }
        set_status_flags(&mut fresh, fl);
        if fresh != info {
            self.remember(fd, f, fresh);
        }
        Some(fresh)
    }

    fn remember(&self, fd: i32, f: &LinuxFile, info: FileInfo) {
        if self.off.load(Relaxed) {
            return;
        }
        if let Ok(mut m) = self.map.try_lock() {
            let m = m.get_or_insert_with(HashMap::new);
            if m.len() >= 4096 {
                m.retain(|_, (w, _)| w.strong_count() > 0);
            }
            m.insert(fd, (Arc::downgrade(&f.0), info));
        }
    }
}

/// What each descriptor number was last seen to be, O_DIRECT or not, so
/// that a read need not ask (F_GETFL) every time (`read_nowait`).  The
/// program can close a number and open another file on it, or change
/// O_DIRECT with F_SETFL, without our knowing.  A number wrongly taken for
/// O_DIRECT sends one read to a worker, whose look at the file
/// (`getfile`) corrects the entry.  One wrongly taken for buffered makes
/// one read wait for the device inside aio_read (with the right data); it
/// is found slower than a copy from memory and the entry is dropped.
/// Numbers from 4096 up are always asked about.
struct DirectHints {
    buffered: [AtomicU64; 64],
    direct: [AtomicU64; 64],
}

static HINTS: DirectHints = DirectHints {
    buffered: [const { AtomicU64::new(0) }; 64],
    direct: [const { AtomicU64::new(0) }; 64],
};

impl DirectHints {
    fn slot(fd: i32) -> Option<(usize, u64)> {
        let fd = usize::try_from(fd).ok().filter(|&fd| fd < 64 * 64)?;
        Some((fd / 64, 1 << (fd % 64)))
    }

    /// `Some(true)`: O_DIRECT; `Some(false)`: not; `None`: not known.
    fn get(&self, fd: i32) -> Option<bool> {
        let (w, bit) = Self::slot(fd)?;
        if self.buffered[w].load(Relaxed) & bit != 0 {
            Some(false)
        } else if self.direct[w].load(Relaxed) & bit != 0 {
            Some(true)
        } else {
            None
        }
    }

    fn set(&self, fd: i32, direct: Option<bool>) {
        let Some((w, bit)) = Self::slot(fd) else {
            return;
        };
        // A reader between the two steps sees "not known" and asks.
        self.buffered[w].fetch_and(!bit, Relaxed);
        self.direct[w].fetch_and(!bit, Relaxed);
        match direct {
            Some(true) => self.direct[w].fetch_or(bit, Relaxed),
            Some(false) => self.buffered[w].fetch_or(bit, Relaxed),
            None => 0,
        };
    }
}

/// Longest a `len`-byte read from the page cache plausibly takes, in
/// time-stamp counter cycles: 100 000 (25-50 µs at 2-4 GHz) plus one a
/// byte.  A device read takes longer.
fn slow_copy_cycles(len: usize) -> u64 {
    100_000 + len as u64
}

/// A cycle count for timing short intervals: the time-stamp counter (a
/// few nanoseconds to read, against tens for clock_gettime); elsewhere
/// the monotonic clock in nanoseconds, which is as good for the purpose.
fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions and touches no memory.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        LinuxOs.now_ns()
    }
}

/// `KCMP_FILE` of `<linux/kcmp.h>`.
const KCMP_FILE: libc::c_int = 0;
/// `F_DUPFD_QUERY` of `<linux/fcntl.h>` (Linux 6.10).
const F_DUPFD_QUERY: libc::c_int = 1024 + 3;

/// How [`same_file`] asks: 0 not yet known, 1 `F_DUPFD_QUERY`, 2 `kcmp`.
static SAME_FILE_BY: AtomicU8 = AtomicU8::new(0);

/// Whether descriptor `fd` names the open file that our descriptor `dup`
/// names; `None` if the kernel cannot tell (then the cache is off).
/// `fcntl(F_DUPFD_QUERY)` looks at the descriptor table only; `kcmp`, for
/// kernels before 6.10, also finds the task and checks ptrace access, and
/// with security modules loaded that cost more than the rest of a
/// submission (measured in a profile of fio's randwrite job here).
fn same_file(fd: i32, dup: i32) -> Option<bool> {
    let by = SAME_FILE_BY.load(Relaxed);
    if by != 2 {
        // SAFETY: F_DUPFD_QUERY compares two descriptors of this process;
        // it reads no memory of ours.
        match unsafe { libc::fcntl(fd, F_DUPFD_QUERY, dup) } {
            r @ (0 | 1) => {
                if by == 0 {
                    SAME_FILE_BY.store(1, Relaxed);
                }
                return Some(r == 1);
            }
            // `fd` is not open: not the same file.
            _ if by == 1 || lerrno::last() == Errno::EBADF => return Some(false),
            // EINVAL: a kernel without it.
            _ => SAME_FILE_BY.store(2, Relaxed),
        }
    }
    let pid = self_pid();
    // SAFETY: kcmp only compares the two descriptors' open files in our
    // own process; it reads no memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, pid, pid, KCMP_FILE, fd, dup) };
    match r {
        0 => Some(true),
        r if r > 0 => Some(false),
        _ if matches!(lerrno::last(), Errno::ENOSYS | Errno::EPERM) => None,
        _ => Some(false),
    }
}

/// Turns the descriptor cache off (fork child: the parent's entries count
/// references held by jobs that do not exist in the child).
pub fn forget_files() {
    FILES.off.store(true, Relaxed);
}

/// A worker's stream waiter: an eventfd that a canceller writes to, polled
/// together with the stream.
pub struct EventWaiter(OwnedFd);

/// The events that make a stream ready for a transfer in one direction.
fn ready_events(write: bool) -> libc::c_short {
    if write {
        libc::POLLOUT
    } else {
        libc::POLLIN
    }
}

/// The Linux host's services (one process, so no state).
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxOs;

impl Os for LinuxOs {
    type Mutex = FutexMutex;
    type CondVar = FutexCondVar;
    type File = LinuxFile;
    type Waiter = EventWaiter;

    fn new_waiter(&self) -> Option<EventWaiter> {
        // SAFETY: eventfd has no memory arguments; it returns a new
        // descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        // SAFETY: `fd` is a descriptor we just created and own alone.
        (fd >= 0).then(|| EventWaiter(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn rw_nowait(
        &self,
        f: &LinuxFile,
        write: bool,
        buf: usize,
        len: usize,
    ) -> Result<usize, Errno> {
        let fd = f.0.as_raw_fd();
        let iov = libc::iovec {
            iov_base: buf as *mut libc::c_void,
            iov_len: len,
        };
        // RWF_NOWAIT, not O_NONBLOCK: the open file description is the
        // program's too, and its flags are not ours to change.  Offset -1:
        // the stream's own position, as read(2) and write(2).
        // SAFETY: the kernel moves at most `len` bytes between the stream
        // and the user's memory at `buf`, validating the address (EFAULT);
        // `iov` lives across the call.
        let r = retry(|| unsafe {
            if write {
                libc::pwritev2(fd, &iov, 1, -1, libc::RWF_NOWAIT) as isize
            } else {
                libc::preadv2(fd, &iov, 1, -1, libc::RWF_NOWAIT) as isize
            }
        });
        match r {
            // A file type without non-blocking transfers (a tty): a read
            // that poll calls ready does not block; a write may block for
            // the part that does not fit.
            Err(Errno::EOPNOTSUPP) => {
                let mut p = libc::pollfd {
                    fd,
                    events: ready_events(write),
                    revents: 0,
                };
                // SAFETY: one valid pollfd, no timeout.
                if unsafe { libc::poll(&mut p, 1, 0) } == 1 {
                    if write {
                        self.write(f, buf, len, None)
                    } else {
                        self.read(f, buf, len, None)
                    }
                } else {
                    Err(Errno::EAGAIN)
                }
            }
            r => r,
        }
    }

    fn wait_ready(&self, w: &EventWaiter, f: &LinuxFile, write: bool, _want: usize) {
        let mut fds = [
            libc::pollfd {
                fd: f.0.as_raw_fd(),
                events: ready_events(write),
                revents: 0,
            },
            libc::pollfd {
                fd: w.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds; the engine tries the transfer again
        // whatever poll answers (EINTR included).
        unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if fds[1].revents & libc::POLLIN != 0 {
            let mut v = 0u64;
            // SAFETY: reads the 8-byte counter into `v`, resetting it
            // (non-blocking: a racing reader finds it empty).
            unsafe { libc::read(w.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        }
    }

    fn wake(&self, w: &EventWaiter) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from `one` to our eventfd (it cannot
        // overflow: each wait resets it).
        unsafe { libc::write(w.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn getfile(&self, fd: i32) -> Result<(LinuxFile, FileInfo), Errno> {
        if fd < 0 {
            return Err(Errno::EBADF);
        }
        let (file, info, fresh) = match FILES.lookup(fd) {
            Some(hit) => hit,
            None => {
                let (file, info) = open_file(fd)?;
                FILES.remember(fd, &file, info);
                (file, info, true)
            }
        };
        if fresh {
            // On this host writes_serialize is exactly "not O_DIRECT".  A
            // cached answer may predate an F_SETFL and would undo what
            // `read_nowait` has learnt since.
            HINTS.set(fd, Some(!info.writes_serialize));
        }
        Ok((file, info))
    }

    fn refresh_info(&self, fd: i32, f: &LinuxFile, info: FileInfo) -> FileInfo {
        FILES.refresh(fd, f, info).unwrap_or(info)
    }

    fn fd_is_open(&self, fd: i32) -> bool {
        // SAFETY: F_GETFD on any integer is safe.
        fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0
    }

    fn read(
        &self,
        f: &LinuxFile,
        buf: usize,
        len: usize,
        off: Option<i64>,
    ) -> Result<usize, Errno> {
        let fd = f.0.as_raw_fd();
        // SAFETY: the kernel writes at most `len` bytes at the user's
        // address `buf`, validating it (EFAULT); this is the transfer the
        // user asked for, into memory the user owns, and we never touch it.
        retry(|| unsafe {
            match off {
                Some(o) => libc::pread(fd, buf as *mut libc::c_void, len, o),
                None => libc::read(fd, buf as *mut libc::c_void, len),
            }
        })
    }

    fn write(
        &self,
        f: &LinuxFile,
        buf: usize,
        len: usize,
        off: Option<i64>,
    ) -> Result<usize, Errno> {
        let fd = f.0.as_raw_fd();
        // SAFETY: the kernel reads at most `len` bytes at the user's address
        // `buf`, validating it (EFAULT).
        retry(|| unsafe {
            match off {
                Some(o) => libc::pwrite(fd, buf as *const libc::c_void, len, o),
                None => libc::write(fd, buf as *const libc::c_void, len),
            }
        })
    }

    fn fsync(&self, f: &LinuxFile, kind: SyncKind) -> Result<(), Errno> {
        let fd = f.0.as_raw_fd();
        // SAFETY: fsync/fdatasync on our own descriptor.
        retry(|| unsafe {
            (match kind {
                SyncKind::Full => libc::fsync(fd),
                SyncKind::Data => libc::fdatasync(fd),
            }) as isize
        })
        .map(|_| ())
    }

    fn read_nowait(&self, fd: i32, buf: usize, len: usize, off: i64) -> Option<usize> {
        if len > isize::MAX as usize {
            return None;
        }
        // With O_DIRECT, RWF_NOWAIT does not mean "only from the cache":
        // the device read would happen right here, synchronously.  Asking
        // (F_GETFL) costs as much as the read's own system call, so the
        // answer is remembered per descriptor number (HINTS).
        let hinted = match HINTS.get(fd) {
            Some(true) => return None,
            Some(false) => true,
            None => {
                // SAFETY: F_GETFL on any integer is safe (EBADF if not open).
                let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
                if fl < 0 {
                    return None;
                }
                let direct = fl & libc::O_DIRECT != 0;
                HINTS.set(fd, Some(direct));
                if direct {
                    return None;
                }
                false
            }
        };
        let t0 = if hinted { cycles() } else { 0 };
        let iov = libc::iovec {
            iov_base: buf as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: as for `read`: the kernel writes at most `len` bytes at the
        // user's address, validating it; RWF_NOWAIT makes it fail with
        // EAGAIN instead of sleeping.  `iov` lives across the call.
        let n = unsafe { libc::preadv2(fd, &iov, 1, off, libc::RWF_NOWAIT) };
        if hinted && cycles().wrapping_sub(t0) > slow_copy_cycles(len) {
            // Longer than a copy from memory takes: the number may now name
            // an O_DIRECT file (closed and reopened, or F_SETFL), and this
            // read waited for the device.  Ask again next time.
            HINTS.set(fd, None);
        }
        // Partial data (some pages not cached) is not a result: the queued
        // job reads the whole range.  0 is end of file.
        (n == len as isize || n == 0).then_some(n as usize)
    }

    fn spawn_worker(&self, body: Box<dyn FnOnce() + Send + 'static>) -> Result<(), Errno> {
        // The new thread inherits the creator's signal mask: block
        // everything around the spawn so that no user signal handler can
        // ever run on a worker, not even before its first instruction.
        // Except SIGSEGV and SIGBUS: a fault on a blocked one kills the
        // process, and a worker's copyout to an aiocb the program unmapped
        // must end in EFAULT (super::ucopy).
        // SAFETY: `all` and `old` are plain sigset_t values owned here;
        // sigfillset initialises `all`, pthread_sigmask fills `old`.
        let old = unsafe {
            let mut all: libc::sigset_t = core::mem::zeroed();
            let mut old: libc::sigset_t = core::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::sigdelset(&mut all, libc::SIGSEGV);
            libc::sigdelset(&mut all, libc::SIGBUS);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            old
        };
        let r = std::thread::Builder::new()
            .name("aio-worker".into())
            .stack_size(256 << 10)
            .spawn(body);
        // SAFETY: restores the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut()) };
        r.map(|_| ()).map_err(|_| Errno::EAGAIN)
    }

    fn copyin_aiocb(&self, p: UserPtr<Aiocb>) -> Result<AiocbReq, Errno> {
        let mut b = [0u8; abi::SIZE];
        vm_read(&mut [(p.addr(), &mut b[..])])?;
        Ok(abi::decode_aiocb(&b))
    }

    fn copyin_sigevent(&self, p: UserPtr<Sigevent>) -> Result<SigeventReq, Errno> {
        let mut b = [0u8; abi::SIGEV_SIZE];
        vm_read(&mut [(p.addr(), &mut b[..])])?;
        Ok(abi::decode_sigevent(&b))
    }

    fn copyin_aiocb_list(
        &self,
        p: UserPtr<UserPtr<Aiocb>>,
        out: &mut [UserPtr<Aiocb>],
    ) -> Result<(), Errno> {
        // An array of 8-byte pointers, the same on glibc's ABI as on
        // NetBSD's: the shared decoder reads it.
        crate::abi::netbsd_codec::copyin_aiocb_list(&LinuxBytes, p, out)
    }

    fn copyin_timespec(&self, p: UserPtr<Timespec>) -> Result<TimespecReq, Errno> {
        let mut b = [0u8; 16];
        vm_read(&mut [(p.addr(), &mut b[..])])?;
        let (s, ns) = b.split_at(8);
        Ok(TimespecReq {
            sec: i64::from_ne_bytes(s.try_into().map_err(|_| Errno::EFAULT)?),
            nsec: i64::from_ne_bytes(ns.try_into().map_err(|_| Errno::EFAULT)?),
        })
    }

    fn copyin_state(&self, p: UserPtr<Aiocb>) -> Result<i32, Errno> {
        let mut b = [0u8; 4];
        vm_read(&mut [(p.addr() + abi::STATE, &mut b[..])])?;
        Ok(i32::from_ne_bytes(b))
    }

    fn copyout_state(&self, p: UserPtr<Aiocb>, state: i32) -> Result<(), Errno> {
        vm_write(&[(p.addr() + abi::STATE, &state.to_ne_bytes()[..])])
    }

    fn copyout_status(
        &self,
        p: UserPtr<Aiocb>,
        state: i32,
        error: Option<Errno>,
        retval: isize,
    ) -> Result<(), Errno> {
        let e = error.map_or(0, to_linux).to_ne_bytes();
        let r = (retval as i64).to_ne_bytes();
        let st = state.to_ne_bytes();
        // One call, three pieces in this order: the kernel copies iovecs
        // one after the other, and x86 keeps stores in program order, so
        // `_state` becomes visible last.
        vm_write(&[
            (p.addr() + abi::ERRNO, &e[..]),
            (p.addr() + abi::RETVAL, &r[..]),
            (p.addr() + abi::STATE, &st[..]),
        ])
    }

    fn copyin_status(&self, p: UserPtr<Aiocb>) -> Result<(i32, Option<Errno>, isize), Errno> {
        let (mut st, mut e, mut r) = ([0u8; 4], [0u8; 4], [0u8; 8]);
        // `_state` first, then the result, in one call (see copyout_status).
        vm_read(&mut [
            (p.addr() + abi::STATE, &mut st[..]),
            (p.addr() + abi::ERRNO, &mut e[..]),
            (p.addr() + abi::RETVAL, &mut r[..]),
        ])?;
        let e = i32::from_ne_bytes(e);
        Ok((
            i32::from_ne_bytes(st),
            (e != 0).then(|| lerrno::from_linux(e)),
            i64::from_ne_bytes(r) as isize,
        ))
    }

    fn valid_signal(&self, signo: i32) -> bool {
        (1..=64).contains(&signo)
    }

    fn sigev_thread(&self) -> bool {
        true
    }

    fn notify(&self, n: &Notify) {
        match *n {
            Notify::None => {}
            Notify::Signal { signo, value } => post_signal(signo, value),
            Notify::Thread {
                function,
                value,
                attributes,
            } => start_notify_thread(function, value, attributes),
        }
    }

    fn cpu(&self) -> Option<u32> {
        // SAFETY: sched_getcpu has no preconditions (glibc answers from
        // the thread's rseq area: a couple of nanoseconds).
        u32::try_from(unsafe { libc::sched_getcpu() }).ok()
    }

    fn now_ns(&self) -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// Queues `signo` to the process with `si_code` SI_ASYNCIO and `value`.
fn post_signal(signo: i32, value: usize) {
    // siginfo_t is 128 bytes: si_signo @0, si_errno @4, si_code @8, and for
    // queued signals si_pid @16, si_uid @20, si_value @24.
    let mut info = [0u64; 16];
    info[0] = signo as u32 as u64;
    info[1] = SI_ASYNCIO_LINUX as u32 as u64;
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    info[2] = (self_pid() as u32 as u64) | ((uid as u64) << 32);
    info[3] = value as u64;
    // SAFETY: `info` is a 128-byte, 8-aligned buffer laid out as siginfo_t;
    // the kernel only reads it.  Queueing to our own pid with a negative
    // si_code is permitted.
    let r = unsafe { libc::syscall(libc::SYS_rt_sigqueueinfo, self_pid(), signo, info.as_ptr()) };
    if r != 0 {
        // Best effort, as the trait says: the job's result is already out.
        // EAGAIN (queue full) is the only realistic failure.
    }
}

struct ThreadNote {
    function: usize,
    value: usize,
}

extern "C" fn notify_trampoline(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the Box<ThreadNote> leaked by start_notify_thread for
    // exactly this thread.
    let note = unsafe { Box::from_raw(arg.cast::<ThreadNote>()) };
    // The worker that created us blocks every signal; the user's function
    // runs with signals unblocked, like a thread the user started.
    // SAFETY: `set` is initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::pthread_sigmask(libc::SIG_SETMASK, &set, core::ptr::null_mut());
    }
    // SAFETY: POSIX defines sigev_notify_function as
    // `void (*)(union sigval)`; union sigval is pointer-sized and passed
    // like a pointer in the x86-64 ABI.  The user supplied this function for
    // this purpose and the engine checked it is non-null.
    let f: extern "C" fn(usize) = unsafe { core::mem::transmute(note.function) };
    f(note.value);
    core::ptr::null_mut()
}

/// SIGEV_THREAD: runs the user's function on a new thread, with the user's
/// attributes if given (as glibc does), detached otherwise.
fn start_notify_thread(function: usize, value: usize, attributes: usize) {
    let arg = Box::into_raw(Box::new(ThreadNote { function, value }));
    // SAFETY: `attr` is initialised by pthread_attr_init before use and
    // destroyed after; a user-supplied attributes pointer is passed through
    // as POSIX requires (the user vouches for it); `arg` is handed to the
    // trampoline, or reclaimed below if no thread was created.
    unsafe {
        let mut tid: libc::pthread_t = 0;
        let r = if attributes != 0 {
            libc::pthread_create(
                &mut tid,
                attributes as *const libc::pthread_attr_t,
                notify_trampoline,
                arg.cast(),
            )
        } else {
            let mut attr: libc::pthread_attr_t = core::mem::zeroed();
            libc::pthread_attr_init(&mut attr);
            libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
            let r = libc::pthread_create(&mut tid, &attr, notify_trampoline, arg.cast());
            libc::pthread_attr_destroy(&mut attr);
            r
        };
        if r != 0 {
            drop(Box::from_raw(arg));
        }
    }
}
