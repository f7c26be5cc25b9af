//! The NetBSD kernel host: [`Os`] over `crate::kern`, the per-process AIO
//! state on `p->p_aio`, and the Rust side of the module glue in
//! `sys-headers/helpers.c` (handler bodies, init/fini, exit hook, sysctl).
//! Shared by the loadable module and the rump component.

use alloc::sync::Arc;
use core::ffi::{c_int, c_long, c_longlong, c_void};
use core::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use crate::abi::{netbsd_codec as codec, NSIG};
use crate::engine::{AioProc, System};
use crate::errno::Errno;
use crate::kern::{self, file::FileRef, stream::StreamWaiter, sync::KCondVar, sync::KMutex, user};
use crate::os::*;
use crate::sys;
use crate::syscalls::{self, ProcHost};

/// The system-wide limits (`kern.aio_max`, `kern.aio_listio_max`,
/// `kern.aio_workers`).  Two workers per process by default: here every
/// read, cached or not, runs on a worker, and measured in a rump kernel on
/// tmpfs each worker beyond the first costs throughput (scheduling
/// hand-offs), while the second keeps a job blocked on a pipe from
/// stalling the rest.  Raise `kern.aio_workers` for slow devices.
#[cfg(not(feature = "rump"))]
pub static SYS: System = System::with_max_workers(2);
/// In a rump kernel every call enters the rump scheduler, which costs more
/// than copying a cached block: reads complete inline only for a program
/// with nothing else outstanding ([`System::inline_limit`]), so that one
/// that keeps many requests outstanding has a worker on another virtual
/// CPU make the copies while it makes its calls.  A rump kernel with one
/// CPU has no other to give them to ([`aio_rs_init`]).
#[cfg(feature = "rump")]
pub static SYS: System = System::with_policy(2, 1);

/// The OS services of one process.
pub struct NetBsdOs {
    p: *mut sys::proc,
}

// SAFETY: the pointer names a process that outlives its AIO state: the
// state is torn down by the exit hook, which runs before the proc is freed,
// and only LWPs of that process (submitters, workers, the exiting LWP) use
// it.
unsafe impl Send for NetBsdOs {}
// SAFETY: as above; the pointer itself is never written.
unsafe impl Sync for NetBsdOs {}

/// The calling process's memory through copyin/copyout.
struct KernelBytes;

impl codec::UserBytes for KernelBytes {
    fn copyin(&self, addr: usize, out: &mut [u8]) -> Result<(), Errno> {
        user::copyin(addr, out)
    }
    fn copyout(&self, addr: usize, bytes: &[u8]) -> Result<(), Errno> {
        user::copyout(bytes, addr)
    }
}

impl Os for NetBsdOs {
    type Mutex = KMutex;
    type CondVar = KCondVar;
    type File = FileRef;
    /// A stream job waits for its pipe or socket on the stream's own
    /// condition variable, where aio_cancel can end the wait
    /// (`aiok_stream_wait` in helpers.c).
    type Waiter = StreamWaiter;

    fn getfile(&self, fd: i32) -> Result<(FileRef, FileInfo), Errno> {
        // SAFETY: the engine takes file references only in the submitting
        // LWP, an LWP of `self.p`.
        unsafe { FileRef::get(self.p, fd) }
    }

    fn fd_is_open(&self, fd: i32) -> bool {
        // SAFETY: called from aio_cancel in an LWP of `self.p`.
        unsafe { kern::file::fd_is_open(self.p, fd) }
    }

    fn read(&self, f: &FileRef, buf: usize, len: usize, off: Option<i64>) -> Result<usize, Errno> {
        f.rw(false, buf, len, off)
    }

    fn write(&self, f: &FileRef, buf: usize, len: usize, off: Option<i64>) -> Result<usize, Errno> {
        f.rw(true, buf, len, off)
    }

    fn fsync(&self, f: &FileRef, kind: SyncKind) -> Result<(), Errno> {
        f.fsync(kind)
    }

    fn read_nowait(&self, fd: i32, buf: usize, len: usize, off: i64) -> Option<usize> {
        // SAFETY: the engine reads inline only in the submitting LWP, an
        // LWP of `self.p`.  A short count from tmpfs is end of file.
        unsafe { kern::file::read_resident(self.p, fd, buf, len, off) }
    }

    fn new_waiter(&self) -> Option<StreamWaiter> {
        Some(StreamWaiter::new())
    }

    fn rw_nowait(&self, f: &FileRef, write: bool, buf: usize, len: usize) -> Result<usize, Errno> {
        f.rw_nowait(write, buf, len)
    }

    fn wait_ready(&self, w: &StreamWaiter, f: &FileRef, write: bool, want: usize) {
        w.wait(f, write, want)
    }

    fn wake(&self, w: &StreamWaiter) {
        w.wake()
    }

    fn spawn_worker(
        &self,
        body: alloc::boxed::Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<(), Errno> {
        // SAFETY: workers are started by the submitting LWP, of `self.p`.
        unsafe { kern::lwp::spawn(self.p, body) }
    }

    fn worker_must_leave(&self) -> bool {
        // SAFETY: asked by a worker on its own LWP (the engine's
        // contract), which is what the helper reads.
        unsafe { sys::aiok_curlwp_exiting() != 0 }
    }

    crate::netbsd_user_memory!(self => &KernelBytes);

    fn valid_signal(&self, signo: i32) -> bool {
        (1..NSIG).contains(&signo)
    }

    fn sigev_thread(&self) -> bool {
        // SIGEV_THREAD is libc's business; the kernel cannot start one.
        false
    }

    fn notify(&self, n: &Notify) {
        if let Notify::Signal { signo, value } = *n {
            // SAFETY: `self.p` is alive while its AIO state exists.
            unsafe { kern::post_signal(self.p, signo, value) }
        }
    }

    fn now_ns(&self) -> u64 {
        kern::uptime_ns()
    }
}

/// The calling LWP, as the syscall layer sees it.
pub struct NetBsdHost {
    l: *mut sys::lwp,
}

impl NetBsdHost {
    fn proc(&self) -> *mut sys::proc {
        // SAFETY: `l` is the calling LWP, alive for the whole syscall.
        unsafe { sys::aiok_lwp_proc(self.l) }
    }
}

/// Borrows the state behind a `p_aio` pointer for one system call.
///
/// # Safety
///
/// `raw` is null or came from `Arc::into_raw` in `aio_create` and is
/// still owned by `p_aio`, and `'a` ends before the calling LWP leaves
/// the system call: `p_aio`'s reference is released only by the exit hook
/// of the same process, which cannot run while one of its LWPs is in a
/// system call.
unsafe fn p_aio_ref<'a>(raw: *mut c_void) -> Option<&'a AioProc<NetBsdOs>> {
    // SAFETY: see the function's contract: p_aio holds one reference, so
    // a non-null pointer names a live state for all of `'a`.
    unsafe { raw.cast::<AioProc<NetBsdOs>>().cast_const().as_ref() }
}

impl ProcHost for NetBsdHost {
    type Os = NetBsdOs;
    type Aio<'a> = &'a AioProc<NetBsdOs>;

    fn os(&self) -> NetBsdOs {
        NetBsdOs { p: self.proc() }
    }

    fn sys(&self) -> &'static System {
        &SYS
    }

    fn aio(&self) -> Option<&AioProc<NetBsdOs>> {
        // SAFETY: a NetBsdHost is made by `host` in an `aio_rs_*` handler
        // body and lives for that one syscall of the process, so its p_aio
        // is null or owned by the process for longer than the borrow of
        // `self`.
        unsafe { p_aio_ref(sys::aiok_proc_aio(self.proc())) }
    }

    fn aio_create(&self) -> Result<&AioProc<NetBsdOs>, Errno> {
        if let Some(a) = self.aio() {
            return Ok(a);
        }
        let new = AioProc::new(self.os(), &SYS);
        let raw = Arc::into_raw(Arc::clone(&new)).cast_mut().cast::<c_void>();
        // SAFETY: publishes under p_lock; the proc is the caller's.
        let cur = unsafe { sys::aiok_proc_aio_publish(self.proc(), raw) };
        if cur == raw {
            // p_aio owns the reference made for it; ours goes.
            drop(new);
            return self.aio().ok_or(Errno::EAGAIN);
        }
        // Another LWP of the process won: use its state.
        // SAFETY: `raw` was not published and is still our reference.
        drop(unsafe { Arc::from_raw(raw.cast::<AioProc<NetBsdOs>>().cast_const()) });
        new.exit();
        self.aio().ok_or(Errno::EAGAIN)
    }
}

fn finish(r: Result<isize, Errno>, retval: *mut c_long) -> c_int {
    match r {
        Ok(v) => {
            // SAFETY: the kernel passes a valid retval array to handlers.
            unsafe { *retval = v as c_long };
            0
        }
        Err(e) => e.get(),
    }
}

/// The host of one system call: it must not outlive the call (see
/// [`p_aio_ref`]).
fn host(l: *mut sys::lwp) -> NetBsdHost {
    NetBsdHost { l }
}

/// Body of `sys_aio_read`.
///
/// # Safety
///
/// Called by the handler in helpers.c: `l` is the calling LWP and `retval`
/// its return-value array.
#[no_mangle]
pub unsafe extern "C" fn aio_rs_read(
    l: *mut sys::lwp,
    aiocbp: *mut c_void,
    retval: *mut c_long,
) -> c_int {
    finish(
        syscalls::sys_aio_read(&host(l), UserPtr::new(aiocbp as usize)),
        retval,
    )
}

/// Body of `sys_aio_write`.
///
/// # Safety
///
/// As for [`aio_rs_read`].
#[no_mangle]
pub unsafe extern "C" fn aio_rs_write(
    l: *mut sys::lwp,
    aiocbp: *mut c_void,
    retval: *mut c_long,
) -> c_int {
    finish(
        syscalls::sys_aio_write(&host(l), UserPtr::new(aiocbp as usize)),
        retval,
    )
}

/// Body of `sys_aio_fsync`.
///
/// # Safety
///
/// As for [`aio_rs_read`].
#[no_mangle]
pub unsafe extern "C" fn aio_rs_fsync(
    l: *mut sys::lwp,
    op: c_int,
    aiocbp: *mut c_void,
    retval: *mut c_long,
) -> c_int {
    finish(
        syscalls::sys_aio_fsync(&host(l), op, UserPtr::new(aiocbp as usize)),
        retval,
    )
}

/// Body of `sys_aio_error`.
///
/// # Safety
///
/// As for [`aio_rs_read`].
#[no_mangle]
pub unsafe extern "C" fn aio_rs_error(
    l: *mut sys::lwp,
    aiocbp: *const c_void,
    retval: *mut c_long,
) -> c_int {
    finish(
        syscalls::sys_aio_error(&host(l), UserPtr::new(aiocbp as usize)),
        retval,
    )
}

/// Body of `sys_aio_return`.
///
/// # Safety
///
/// As for [`aio_rs_read`].
#[no_mangle]
pub unsafe extern "C" fn aio_rs_return(
    l: *mut sys::lwp,
    aiocbp: *mut c_void,
    retval: *mut c_long,
) -> c_int {
    finish(
        syscalls::sys_aio_return(&host(l), UserPtr::new(aiocbp as usize)),
        retval,
    )
}

/// Body of `sys_aio_cancel`.
///
/// # Safety
///
/// As for [`aio_rs_read`].
#[no_mangle]
pub unsafe extern "C" fn aio_rs_cancel(
    l: *mut sys::lwp,
    fd: c_int,
    aiocbp: *mut c_void,
    retval: *mut c_long,
) -> c_int {
    finish(
        syscalls::sys_aio_cancel(&host(l), fd, UserPtr::new(aiocbp as usize)),
        retval,
    )
}

/// Body of `sys___aio_suspend50`.
///
/// # Safety
///
/// As for [`aio_rs_read`].
#[no_mangle]
pub unsafe extern "C" fn aio_rs_suspend(
    l: *mut sys::lwp,
    list: *const c_void,
    nent: c_int,
    timeout: *const c_void,
    retval: *mut c_long,
) -> c_int {
    let r = syscalls::sys_aio_suspend(
        &host(l),
        UserPtr::new(list as usize),
        nent,
        UserPtr::new(timeout as usize),
    );
    finish(r, retval)
}

/// Body of `sys_lio_listio`.
///
/// # Safety
///
/// As for [`aio_rs_read`].
#[no_mangle]
pub unsafe extern "C" fn aio_rs_lio_listio(
    l: *mut sys::lwp,
    mode: c_int,
    list: *const c_void,
    nent: c_int,
    sig: *mut c_void,
    retval: *mut c_long,
) -> c_int {
    let r = syscalls::sys_lio_listio(
        &host(l),
        mode,
        UserPtr::new(list as usize),
        nent,
        UserPtr::new(sig as usize),
    );
    finish(r, retval)
}

/// MODULE_CMD_INIT, before the syscalls are established.
#[no_mangle]
pub extern "C" fn aio_rs_init() -> c_int {
    let cpus = kern::ncpu();
    SYS.set_cpus(cpus);
    if cpus == 1 {
        // Nothing runs beside the submitter on one CPU (a rumprun
        // unikernel): a worker would make the same copy later, after two
        // context switches, so every cached read completes inline.
        SYS.set_inline_limit(usize::MAX);
    }
    0
}

/// MODULE_CMD_FINI, after the syscalls are disestablished: EBUSY while any
/// process still has AIO state.
#[no_mangle]
pub extern "C" fn aio_rs_fini() -> c_int {
    if SYS.procs() > 0 || HOOKS_RUNNING.load(SeqCst) > 0 {
        Errno::EBUSY.get()
    } else {
        0
    }
}

/// Exit and exec hooks between their start and the state's last byte
/// freed: [`System::procs`] drops inside the free (`Drop` of the state),
/// and the module must not go while the free still runs its code.  What
/// remains unguarded is the hook's return path, a few instructions, as for
/// any module's exit hook (exithook_disestablish does not wait for running
/// hooks).
static HOOKS_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The exit and exec hook: by now exit_lwps() has ended every worker;
/// cancel what is left and free the state.
///
/// # Safety
///
/// `p` is the exiting or exec'ing process, in that path.
#[no_mangle]
pub unsafe extern "C" fn aio_rs_proc_exit(p: *mut sys::proc) {
    HOOKS_RUNNING.fetch_add(1, SeqCst);
    // SAFETY: as this function's.
    unsafe { proc_exit(p) };
    HOOKS_RUNNING.fetch_sub(1, SeqCst);
}

/// # Safety
///
/// As [`aio_rs_proc_exit`].
unsafe fn proc_exit(p: *mut sys::proc) {
    // SAFETY: `p` is the exiting process, in its exit path.
    let raw = unsafe { sys::aiok_proc_aio(p) }
        .cast::<AioProc<NetBsdOs>>()
        .cast_const();
    if raw.is_null() {
        return;
    }
    // SAFETY: `p` is the exiting process; after this nothing can reach
    // its state through p_aio.
    unsafe { sys::aiok_proc_aio_clear(p) };
    // SAFETY: `raw` came from Arc::into_raw in aio_create and was owned by
    // p_aio, which no longer names it: the reference is ours to drop.
    let a = unsafe { Arc::from_raw(raw) };
    a.exit();
    drop(a);
}

/// Reads a sysctl value (`AIOK_SYSCTL_*`).
#[no_mangle]
pub extern "C" fn aio_rs_sysctl_get(which: c_int) -> c_longlong {
    (match which as u32 {
        sys::AIOK_SYSCTL_AIO_MAX => SYS.aio_max(),
        sys::AIOK_SYSCTL_AIO_LISTIO_MAX => SYS.listio_max(),
        sys::AIOK_SYSCTL_AIO_WORKERS => SYS.max_workers(),
        _ => 0,
    }) as c_longlong
}

/// Writes a sysctl value, validated by the engine's limits.
#[no_mangle]
pub extern "C" fn aio_rs_sysctl_set(which: c_int, value: c_longlong) -> c_int {
    let Ok(v) = usize::try_from(value) else {
        return Errno::EINVAL.get();
    };
    let r = match which as u32 {
        sys::AIOK_SYSCTL_AIO_MAX => SYS.set_aio_max(v),
        sys::AIOK_SYSCTL_AIO_LISTIO_MAX => SYS.set_listio_max(v),
        sys::AIOK_SYSCTL_AIO_WORKERS => SYS.set_max_workers(v),
        _ => Err(Errno::EINVAL),
    };
    r.err().map_or(0, Errno::get)
}
