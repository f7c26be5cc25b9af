//! The POSIX AIO C API with glibc's ABI, over the syscall layer.
//!
//! Each exported call translates glibc's numbering into NetBSD's, calls the
//! `sys_aio_*` handler a NetBSD kernel would run, and reports the result the
//! way libc does: a value, or -1 with the Linux `errno`.  A program built
//! against glibc's `<aio.h>` uses these when linked with the library or
//! when it is in `LD_PRELOAD`; the `*64` names are the same functions
//! (`off_t` is 64-bit on x86-64).
//!
//! Process life: the AIO state is created on the first request and never
//! freed (the process owns it until it ends).  `atexit` cancels the queued
//! jobs and waits for the running ones on files, whose I/O ends by itself
//! (killed with the process's threads, a write would be cut short); ones
//! on pipes and sockets, which may never end, die with the threads.  A
//! program that leaves with `_exit` gets no such wait.  A forked child
//! starts with no state.
//!
//! Run-time limits come from the environment at the first request:
//! `NETBSD_AIO_MAX` (`kern.aio_max`), `NETBSD_AIO_LISTIO_MAX`
//! (`kern.aio_listio_max`), `NETBSD_AIO_WORKERS` (workers per process),
//! `NETBSD_AIO_SPIN_NS` (how long workers and waiters spin before they
//! sleep, at most 1 ms; unset or 0: never, and never with one CPU),
//! `NETBSD_AIO_INLINE` (cached reads complete
//! inside `aio_read`/`lio_listio` only while the process has fewer
//! requests outstanding than this, [`System::inline_limit`]; unset:
//! always; 0: never, so every job goes through a worker, which is how
//! `scripts/atf` runs its second pass).
//!
//! The program can read and change the two limits afterwards with
//! [`netbsd_aio_sysctlbyname`], which has the signature and conventions of
//! NetBSD's `sysctlbyname(3)`: `kern.aio_max` and `kern.aio_listio_max`
//! (`int`, read-write, validated as the NetBSD sysctls are: EINVAL for a
//! value below 1, an `aio_max` below `aio_listio_max` or an
//! `aio_listio_max` above `aio_max`), and `kern.posix_aio` (`int`,
//! `_POSIX_ASYNCHRONOUS_IO`, read-only: EPERM).  Unknown name: ENOENT; new
//! value not an `int`, or `oldp` without `oldlenp`: EINVAL; `*oldlenp` too
//! small: ENOMEM with the size needed in `*oldlenp`; a bad pointer:
//! EFAULT.  Here "system-wide" means this process: the limits are its
//! own, inherited by a forked child, and a lowered limit applies to new
//! requests only.  The environment's limits are applied at the first
//! call, before it reads or changes anything.

use core::ptr;
use std::sync::atomic::{AtomicPtr, Ordering::AcqRel, Ordering::Acquire, Ordering::Release};
use std::sync::{Arc, Once};

use libc::{c_int, ssize_t};

use super::errno::to_linux;
use super::os::{forget_files, forget_pid, LinuxOs};
use crate::abi;
use crate::engine::{AioProc, System};
use crate::errno::Errno;
use crate::os::UserPtr;
use crate::syscalls::{self, ProcHost};

static SYS: System = System::new();
static PROC: AtomicPtr<AioProc<LinuxOs>> = AtomicPtr::new(ptr::null_mut());
static INIT: Once = Once::new();

/// The system-wide limits of this (single-process) host.
pub fn system() -> &'static System {
    &SYS
}

extern "C" fn fork_child() {
    // The parent's state (its locks possibly held by threads that do not
    // exist here) is abandoned, not freed: the child starts with none.
    PROC.store(ptr::null_mut(), Release);
    forget_pid();
    forget_files();
}

extern "C" fn at_exit() {
    if let Some(a) = LinuxHost.aio() {
        a.exit_settle();
    }
}

fn env_limit(name: &str, set: impl Fn(usize) -> Result<(), Errno>) {
    let Ok(v) = std::env::var(name) else { return };
    match v
        .trim()
        .parse::<usize>()
        .map_err(|_| Errno::EINVAL)
        .and_then(&set)
    {
        Ok(()) => {}
        Err(e) => std::eprintln!("netbsd-aio: ignoring {name}={v}: {e}"),
    }
}

fn init() {
    INIT.call_once(|| {
        // SAFETY: both handlers are `extern "C" fn()` with static lifetime
        // that only touch atomics (fork_child is async-signal-safe).
        unsafe {
            libc::pthread_atfork(None, None, Some(fork_child));
            libc::atexit(at_exit);
        }
        // aio_max first: listio_max must not exceed it.
        env_limit("NETBSD_AIO_MAX", |v| SYS.set_aio_max(v));
        env_limit("NETBSD_AIO_LISTIO_MAX", |v| SYS.set_listio_max(v));
        env_limit("NETBSD_AIO_WORKERS", |v| SYS.set_max_workers(v));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        SYS.set_cpus(cpus);
        // No spinning unless asked for: since the AIO lock polls for a few
        // microseconds before sleeping (sync.rs), a sleeping hand-over
        // costs less here than a 5 or 20 µs spin, idle or beside a CPU hog
        // (docs/performance.md).  A machine where wake-ups cost more may
        // set it; it is never used with one CPU, where a spin only delays
        // the thread it waits for.
        if cpus > 1 {
            env_limit("NETBSD_AIO_SPIN_NS", |v| SYS.set_spin_ns(v as u64));
        }
        // Before the first process state exists (aio_create runs after
        // init), so the outstanding count is kept from the start.
        env_limit("NETBSD_AIO_INLINE", |v| {
            SYS.set_inline_limit(v);
            Ok(())
        });
    });
}

/// The calling process, as the syscall layer sees it.
pub struct LinuxHost;

impl ProcHost for LinuxHost {
    type Os = LinuxOs;
    type Aio<'a> = &'static AioProc<LinuxOs>;

    fn os(&self) -> LinuxOs {
        LinuxOs
    }

    fn sys(&self) -> &'static System {
        &SYS
    }

    fn aio(&self) -> Option<&'static AioProc<LinuxOs>> {
        let p = PROC.load(Acquire);
        // SAFETY: a non-null PROC came from Arc::into_raw in aio_create, and
        // that reference is never released (the state lives as long as the
        // process; a forked child abandons its copy without freeing it), so
        // the object is alive for the rest of the process.
        unsafe { p.as_ref() }
    }

    fn aio_create(&self) -> Result<&'static AioProc<LinuxOs>, Errno> {
        if let Some(a) = self.aio() {
            return Ok(a);
        }
        init();
        let new = AioProc::new(LinuxOs, &SYS);
        let raw = Arc::into_raw(Arc::clone(&new)).cast_mut();
        match PROC.compare_exchange(ptr::null_mut(), raw, AcqRel, Acquire) {
            // PROC owns the reference made for it; ours goes.
            Ok(_) => self.aio().ok_or(Errno::EAGAIN),
            Err(_) => {
                // Another thread won the race: use its state.
                // SAFETY: `raw` came from Arc::into_raw just above and was
                // not published.
                drop(unsafe { Arc::from_raw(raw) });
                new.exit();
                self.aio().ok_or(Errno::EAGAIN)
            }
        }
    }
}

fn set_errno(e: Errno) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = to_linux(e) };
}

fn int_result(r: Result<isize, Errno>) -> c_int {
    match r {
        Ok(v) => v as c_int,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

fn uptr<T, U>(p: *const T) -> UserPtr<U> {
    UserPtr::new(p as usize)
}

/// `sigaction(2)`, interposed so that a program's SIGSEGV/SIGBUS action
/// is chained behind the handler that turns faults on bad aiocb pointers
/// into EFAULT ([`super::ucopy`]) instead of replacing it.  Every other
/// signal goes straight to the C library.
///
/// # Safety
///
/// As for sigaction(2): `act` and `oldact` are null or valid.
#[cfg(target_arch = "x86_64")]
#[no_mangle]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    oldact: *mut libc::sigaction,
) -> c_int {
    // SAFETY: the caller's pointers are passed on unchanged.
    unsafe {
        match super::ucopy::chained_sigaction(sig, act, oldact) {
            Some(r) => r,
            None => super::ucopy::real_sigaction(sig, act, oldact),
        }
    }
}

/// `signal(2)`, interposed like [`sigaction`] and with glibc's semantics
/// (the handler stays installed, interrupted calls restart).
#[cfg(target_arch = "x86_64")]
#[no_mangle]
pub extern "C" fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: `act` and `old` are plain values owned here and fully
    // initialised before use.
    unsafe {
        let mut act: libc::sigaction = core::mem::zeroed();
        let mut old: libc::sigaction = core::mem::zeroed();
        act.sa_sigaction = handler;
        act.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut act.sa_mask);
        if libc::sigaddset(&mut act.sa_mask, sig) != 0 {
            set_errno(Errno::EINVAL);
            return libc::SIG_ERR;
        }
        if sigaction(sig, &act, &mut old) != 0 {
            return libc::SIG_ERR;
        }
        old.sa_sigaction
    }
}

/// `aio_read(3)`.
#[no_mangle]
pub extern "C" fn aio_read(aiocbp: *mut libc::aiocb) -> c_int {
    int_result(syscalls::sys_aio_read(&LinuxHost, uptr(aiocbp)))
}

/// `aio_write(3)`.
#[no_mangle]
pub extern "C" fn aio_write(aiocbp: *mut libc::aiocb) -> c_int {
    int_result(syscalls::sys_aio_write(&LinuxHost, uptr(aiocbp)))
}

/// `aio_fsync(3)`.
#[no_mangle]
pub extern "C" fn aio_fsync(op: c_int, aiocbp: *mut libc::aiocb) -> c_int {
    // O_SYNC includes O_DSYNC's bit on Linux: test it first.
    let op = if op == libc::O_SYNC {
        abi::O_SYNC
    } else if op == libc::O_DSYNC {
        abi::O_DSYNC
    } else {
        0
    };
    int_result(syscalls::sys_aio_fsync(&LinuxHost, op, uptr(aiocbp)))
}

/// `aio_error(3)`.
#[no_mangle]
pub extern "C" fn aio_error(aiocbp: *const libc::aiocb) -> c_int {
    match syscalls::sys_aio_error(&LinuxHost, uptr(aiocbp)) {
        Ok(0) => 0,
        Ok(v) => to_linux(Errno::new(v as i32)),
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `aio_return(3)`.
#[no_mangle]
pub extern "C" fn aio_return(aiocbp: *mut libc::aiocb) -> ssize_t {
    match syscalls::sys_aio_return(&LinuxHost, uptr(aiocbp)) {
        Ok(v) => v,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `aio_cancel(3)`.
#[no_mangle]
pub extern "C" fn aio_cancel(fildes: c_int, aiocbp: *mut libc::aiocb) -> c_int {
    match syscalls::sys_aio_cancel(&LinuxHost, fildes, uptr(aiocbp)) {
        Ok(abi::AIO_CANCELED) => libc::AIO_CANCELED,
        Ok(abi::AIO_NOTCANCELED) => libc::AIO_NOTCANCELED,
        Ok(_) => libc::AIO_ALLDONE,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `aio_suspend(3)`.
#[no_mangle]
pub extern "C" fn aio_suspend(
    list: *const *const libc::aiocb,
    nent: c_int,
    timeout: *const libc::timespec,
) -> c_int {
    int_result(syscalls::sys_aio_suspend(
        &LinuxHost,
        uptr(list),
        nent,
        uptr(timeout),
    ))
}

/// `lio_listio(3)`.
#[no_mangle]
pub extern "C" fn lio_listio(
    mode: c_int,
    list: *const *mut libc::aiocb,
    nent: c_int,
    sig: *mut libc::sigevent,
) -> c_int {
    let mode = match mode {
        libc::LIO_WAIT => abi::LIO_WAIT,
        libc::LIO_NOWAIT => abi::LIO_NOWAIT,
        _ => -1,
    };
    int_result(syscalls::sys_lio_listio(
        &LinuxHost,
        mode,
        uptr(list),
        nent,
        uptr(sig),
    ))
}

/// `aio_read64(3)`: `aio_read` (64-bit `off_t` either way).
#[no_mangle]
pub extern "C" fn aio_read64(aiocbp: *mut libc::aiocb) -> c_int {
    aio_read(aiocbp)
}

/// `aio_write64(3)`.
#[no_mangle]
pub extern "C" fn aio_write64(aiocbp: *mut libc::aiocb) -> c_int {
    aio_write(aiocbp)
}

/// `aio_fsync64(3)`.
#[no_mangle]
pub extern "C" fn aio_fsync64(op: c_int, aiocbp: *mut libc::aiocb) -> c_int {
    aio_fsync(op, aiocbp)
}

/// `aio_error64(3)`.
#[no_mangle]
pub extern "C" fn aio_error64(aiocbp: *const libc::aiocb) -> c_int {
    aio_error(aiocbp)
}

/// `aio_return64(3)`.
#[no_mangle]
pub extern "C" fn aio_return64(aiocbp: *mut libc::aiocb) -> ssize_t {
    aio_return(aiocbp)
}

/// `aio_cancel64(3)`.
#[no_mangle]
pub extern "C" fn aio_cancel64(fildes: c_int, aiocbp: *mut libc::aiocb) -> c_int {
    aio_cancel(fildes, aiocbp)
}

/// `aio_suspend64(3)`.
#[no_mangle]
pub extern "C" fn aio_suspend64(
    list: *const *const libc::aiocb,
    nent: c_int,
    timeout: *const libc::timespec,
) -> c_int {
    aio_suspend(list, nent, timeout)
}

/// `lio_listio64(3)`.
#[no_mangle]
pub extern "C" fn lio_listio64(
    mode: c_int,
    list: *const *mut libc::aiocb,
    nent: c_int,
    sig: *mut libc::sigevent,
) -> c_int {
    lio_listio(mode, list, nent, sig)
}

/// Longest name [`netbsd_aio_sysctlbyname`] reads, NUL included; every
/// known name is shorter, so a longer one is unknown (ENOENT).
const SYSCTL_NAME_MAX: usize = 64;

/// The nodes [`netbsd_aio_sysctlbyname`] knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sysctl {
    AioMax,
    ListioMax,
    PosixAio,
}

/// Copies in the NUL-terminated name at `p`, a page at a time so that a
/// short name at the end of a mapping is read without touching the next
/// page.
fn sysctl_name(p: *const libc::c_char) -> Result<Sysctl, Errno> {
    // The smallest page size of the architectures Linux runs on.
    const PAGE: usize = 4096;
    if p.is_null() {
        return Err(Errno::EFAULT);
    }
    let mut buf = [0u8; SYSCTL_NAME_MAX];
    let mut have = 0;
    let len = loop {
        if have == buf.len() {
            return Err(Errno::ENOENT);
        }
        let addr = p as usize + have;
        let n = (PAGE - addr % PAGE).min(buf.len() - have);
        super::os::copyin_bytes(addr, &mut buf[have..have + n])?;
        if let Some(i) = buf[have..have + n].iter().position(|&b| b == 0) {
            break have + i;
        }
        have += n;
    };
    match &buf[..len] {
        b"kern.aio_max" => Ok(Sysctl::AioMax),
        b"kern.aio_listio_max" => Ok(Sysctl::ListioMax),
        b"kern.posix_aio" => Ok(Sysctl::PosixAio),
        _ => Err(Errno::ENOENT),
    }
}

fn sysctl(
    name: *const libc::c_char,
    oldp: *mut libc::c_void,
    oldlenp: *mut libc::size_t,
    newp: *const libc::c_void,
    newlen: libc::size_t,
) -> Result<(), Errno> {
    const INT: usize = core::mem::size_of::<c_int>();
    const SIZE: usize = core::mem::size_of::<libc::size_t>();
    let node = sysctl_name(name)?;
    // Limits set in the environment are in place before anything is
    // reported or changed.
    init();
    let new = if newp.is_null() {
        None
    } else {
        if node == Sysctl::PosixAio {
            return Err(Errno::EPERM);
        }
        if newlen != INT {
            return Err(Errno::EINVAL);
        }
        let mut b = [0u8; INT];
        super::os::copyin_bytes(newp as usize, &mut b)?;
        // A negative value is no count: EINVAL, like 0.
        Some(usize::try_from(c_int::from_ne_bytes(b)).map_err(|_| Errno::EINVAL)?)
    };
    let cur = match node {
        Sysctl::AioMax => SYS.aio_max(),
        Sysctl::ListioMax => SYS.listio_max(),
        Sysctl::PosixAio => abi::POSIX_ASYNCHRONOUS_IO as usize,
    };
    // Limits above INT_MAX (set through the environment) read as INT_MAX.
    let cur = c_int::try_from(cur).unwrap_or(c_int::MAX);
    if oldlenp.is_null() {
        if !oldp.is_null() {
            return Err(Errno::EINVAL);
        }
    } else {
        let mut b = [0u8; SIZE];
        super::os::copyin_bytes(oldlenp as usize, &mut b)?;
        if !oldp.is_null() {
            if usize::from_ne_bytes(b) < INT {
                // As NetBSD's sysctl: the size needed, and ENOMEM.
                super::os::copyout_bytes(oldlenp as usize, &INT.to_ne_bytes())?;
                return Err(Errno::ENOMEM);
            }
            super::os::copyout_bytes(oldp as usize, &cur.to_ne_bytes())?;
        }
        super::os::copyout_bytes(oldlenp as usize, &INT.to_ne_bytes())?;
    }
    match (node, new) {
        (_, None) => Ok(()),
        (Sysctl::AioMax, Some(v)) => SYS.set_aio_max(v),
        (Sysctl::ListioMax, Some(v)) => SYS.set_listio_max(v),
        (Sysctl::PosixAio, Some(_)) => Err(Errno::EPERM),
    }
}

/// `sysctlbyname(3)` for this host's AIO limits (see the module
/// documentation): reads the `int` value of `name` into `oldp` when
/// `oldp` is not null (`*oldlenp` bytes available, set to the size
/// stored), and sets it from `newp` (`newlen` bytes) when `newp` is not
/// null.  0, or -1 with `errno`.
#[no_mangle]
pub extern "C" fn netbsd_aio_sysctlbyname(
    name: *const libc::c_char,
    oldp: *mut libc::c_void,
    oldlenp: *mut libc::size_t,
    newp: *const libc::c_void,
    newlen: libc::size_t,
) -> c_int {
    match sysctl(name, oldp, oldlenp, newp, newlen) {
        Ok(()) => 0,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// Identifies the library, so test harnesses can prove which AIO
/// implementation answered: returns a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn netbsd_aio_version() -> *const libc::c_char {
    concat!("netbsd-aio ", env!("CARGO_PKG_VERSION"), "\0")
        .as_ptr()
        .cast()
}
