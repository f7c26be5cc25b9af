//! Copies between this process's memory and ours that turn a bad address
//! into EFAULT instead of a crash, without a system call.
//!
//! A kernel's copyin/copyout is a copy loop whose faults the page-fault
//! handler redirects to an error exit through an exception table.  This is
//! the same in userspace: `nbaio_ucopy` is one `rep movsb` in assembly, and a
//! SIGSEGV/SIGBUS handler that finds the fault's instruction pointer on
//! that instruction moves it to the routine's error exit.  Any other fault
//! goes to the handler the program had (or to the default action, which
//! kills the process as if we had not been there).
//!
//! The program keeps its own SIGSEGV/SIGBUS handlers: [`sigaction`] and
//! [`signal`] of the C API record them as the next handler in the chain
//! instead of replacing ours.  A program that sets them with a raw system
//! call, or blocks SIGSEGV/SIGBUS in a thread that calls the AIO API,
//! gets a crash on a bad pointer instead of EFAULT; the workers keep both
//! unblocked.
//!
//! Other architectures, and a process where the handler cannot be
//! installed, use `process_vm_readv`/`writev` ([`super::os`]), about
//! 0.9 µs a call here against a few nanoseconds.
//!
//! Ordering: the pieces of one call are copied in order by separate
//! `rep movsb`s; x86-64 keeps stores in program order and loads in program
//! order, which is what publication (`_state` written last, read first)
//! needs.
//!
//! [`sigaction`]: super::capi::sigaction
//! [`signal`]: super::capi::signal

#![deny(unsafe_op_in_unsafe_fn)]

use core::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use std::sync::Mutex as StdMutex;

core::arch::global_asm!(
    ".pushsection .text.nbaio_ucopy,\"ax\",@progbits",
    ".p2align 4",
    ".type nbaio_ucopy,@function",
    ".hidden nbaio_ucopy",
    ".globl nbaio_ucopy",
    "nbaio_ucopy:",
    "    mov rcx, rdx",
    ".hidden nbaio_ucopy_insn",
    ".globl nbaio_ucopy_insn",
    "nbaio_ucopy_insn:",
    "    rep movsb",
    "    xor eax, eax",
    "    ret",
    ".hidden nbaio_ucopy_fault",
    ".globl nbaio_ucopy_fault",
    "nbaio_ucopy_fault:",
    "    mov eax, 1",
    "    ret",
    ".size nbaio_ucopy, . - nbaio_ucopy",
    ".popsection",
);

extern "C" {
    /// Copies `len` bytes from `src` to `dst`; 0 on success, 1 if an
    /// address faulted (some bytes may have been copied).
    fn nbaio_ucopy(dst: *mut u8, src: *const u8, len: usize) -> u32;
    /// The faulting instruction (`rep movsb`), and where a fault on it
    /// resumes.  Only their addresses are used.
    static nbaio_ucopy_insn: u8;
    static nbaio_ucopy_fault: u8;
}

/// The fault handler's state: 0 not tried, 1 installed, 2 unavailable.
static STATE: AtomicU8 = AtomicU8::new(0);
/// Serialises installation.
static SETUP: StdMutex<()> = StdMutex::new(());

/// The program's own action for one signal, called for faults that are
/// not ours.  Field by field atomic, without a lock (sigaction is
/// async-signal-safe, so it may be called from a handler that interrupted
/// another call): a handler change racing a fault in another thread may
/// be seen half done, as two racing `sigaction` calls may leave either
/// action.
struct Chained {
    handler: AtomicUsize,
    flags: AtomicI32,
    mask: [AtomicU64; 16],
}

impl Chained {
    const fn new() -> Self {
        Chained {
            handler: AtomicUsize::new(0),
            flags: AtomicI32::new(0),
            mask: [const { AtomicU64::new(0) }; 16],
        }
    }

    fn store(&self, sa: &libc::sigaction) {
        // SAFETY: sigset_t is plain data of 128 bytes on Linux; viewed as
        // 16 words for storing.
        let words: [u64; 16] = unsafe { core::mem::transmute_copy(&sa.sa_mask) };
        for (a, w) in self.mask.iter().zip(words) {
            a.store(w, Relaxed);
        }
        self.flags.store(sa.sa_flags, Relaxed);
        self.handler.store(sa.sa_sigaction, Release);
    }

    fn load(&self) -> libc::sigaction {
        // SAFETY: an all-zero sigaction is valid (SIG_DFL, no flags).
        let mut sa: libc::sigaction = unsafe { core::mem::zeroed() };
        sa.sa_sigaction = self.handler.load(Acquire);
        sa.sa_flags = self.flags.load(Relaxed);
        let mut words = [0u64; 16];
        for (w, a) in words.iter_mut().zip(&self.mask) {
            *w = a.load(Relaxed);
        }
        // SAFETY: as in `store`.
        sa.sa_mask = unsafe { core::mem::transmute_copy(&words) };
        sa
    }
}

static CHAINED: [Chained; 2] = [Chained::new(), Chained::new()];

fn slot(sig: libc::c_int) -> Option<&'static Chained> {
    match sig {
        libc::SIGSEGV => Some(&CHAINED[0]),
        libc::SIGBUS => Some(&CHAINED[1]),
        _ => None,
    }
}

/// Installs the fault handler for SIGSEGV and SIGBUS, keeping the actions
/// found as the chain; whether fast copies can be used.
fn ready() -> bool {
    match STATE.load(Acquire) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    // try_lock: this may run in a signal handler (aio_error is
    // async-signal-safe) that interrupted the installation itself; that
    // call takes the slow path instead of waiting for itself.
    let Ok(_g) = SETUP.try_lock() else {
        return false;
    };
    if STATE.load(Acquire) == 0 {
        let ok = [libc::SIGSEGV, libc::SIGBUS]
            .iter()
            .all(|&sig| install(sig));
        STATE.store(if ok { 1 } else { 2 }, Release);
    }
    STATE.load(Acquire) == 1
}

fn install(sig: libc::c_int) -> bool {
    // SAFETY: `old` and `sa` are plain sigaction values owned here; the
    // real sigaction only reads `sa` and fills `old`.  `on_fault` has the
    // SA_SIGINFO signature.
    unsafe {
        let mut old: libc::sigaction = core::mem::zeroed();
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_fault as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if real_sigaction(sig, core::ptr::null(), &mut old) != 0 {
            return false;
        }
        if let Some(s) = slot(sig) {
            s.store(&old);
        }
        real_sigaction(sig, &sa, core::ptr::null_mut()) == 0
    }
}

/// The C library's `sigaction`, past ours.
///
/// # Safety
///
/// As for sigaction(2): `act` and `old` are null or valid.
pub(super) unsafe fn real_sigaction(
    sig: libc::c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> libc::c_int {
    type F = unsafe extern "C" fn(
        libc::c_int,
        *const libc::sigaction,
        *mut libc::sigaction,
    ) -> libc::c_int;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut f = NEXT.load(Relaxed);
    if f == 0 {
        // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name.
        f = unsafe { libc::dlsym(libc::RTLD_NEXT, c"sigaction".as_ptr()) } as usize;
        if f == 0 {
            return -1;
        }
        NEXT.store(f, Relaxed);
    }
    // SAFETY: `f` is the next `sigaction` in link order, which has this
    // signature; the caller vouches for the pointers.
    unsafe { core::mem::transmute::<usize, F>(f)(sig, act, old) }
}

/// Our SIGSEGV/SIGBUS handler: resume a faulting `nbaio_ucopy` at its error
/// exit; pass anything else on.
extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an
    // SA_SIGINFO handler; REG_RIP indexes the saved general registers.
    unsafe {
        let uc = ctx.cast::<libc::ucontext_t>();
        let rip = &mut (*uc).uc_mcontext.gregs[libc::REG_RIP as usize];
        let insn = core::ptr::addr_of!(nbaio_ucopy_insn) as usize;
        if (*info).si_code > 0 && *rip as usize == insn {
            *rip = core::ptr::addr_of!(nbaio_ucopy_fault) as usize as i64;
            return;
        }
        pass_on(sig, info, ctx);
    }
}

/// Hands a fault that is not ours to the program's action.
///
/// # Safety
///
/// Called only from [`on_fault`] with its arguments.
unsafe fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(s) = slot(sig) else { return };
    let sa = s.load();
    // SAFETY: `info` is the kernel's siginfo for this delivery (caller).
    let sent = unsafe { (*info).si_code } <= 0;
    match sa.sa_sigaction {
        libc::SIG_DFL | libc::SIG_IGN => {
            // As if we had never been installed: with the default action
            // back, a real fault happens again on return and kills the
            // process with the right signal and a core; a sent one is
            // raised again.  An ignored sent signal stays ignored.
            if sa.sa_sigaction == libc::SIG_IGN && sent {
                return;
            }
            // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask;
            // sigaction and raise are async-signal-safe.
            unsafe {
                let dfl: libc::sigaction = core::mem::zeroed();
                real_sigaction(sig, &dfl, core::ptr::null_mut());
                if sent {
                    libc::raise(sig);
                }
            }
        }
        h => {
            if sa.sa_flags & libc::SA_RESETHAND != 0 {
                // SAFETY: an all-zero sigaction is SIG_DFL.
                s.store(&unsafe { core::mem::zeroed() });
            }
            // The program's handler runs with its own mask, as the kernel
            // would have set it.
            // SAFETY: `old` is filled by pthread_sigmask before it is used;
            // `h` is the handler the program installed with the signature
            // its SA_SIGINFO flag names, and `info`/`ctx` are the kernel's.
            unsafe {
                let mut old: libc::sigset_t = core::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_BLOCK, &sa.sa_mask, &mut old);
                if sa.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        core::mem::transmute(h);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(libc::c_int) = core::mem::transmute(h);
                    f(sig);
                }
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
            }
        }
    }
}

/// `sigaction` for SIGSEGV/SIGBUS: installs the fault handler if it is not
/// in yet (so that the program's action lands in the chain, not under
/// ours), then reads and replaces the program's action in the chain.
/// `None`: not ours to handle, call the C library.
///
/// # Safety
///
/// As for sigaction(2).
pub(super) unsafe fn chained_sigaction(
    sig: libc::c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> Option<libc::c_int> {
    let s = slot(sig)?;
    if !ready() {
        return None;
    }
    if !old.is_null() {
        // SAFETY: a non-null `old` is valid for writing (caller).
        unsafe { *old = s.load() };
    }
    if !act.is_null() {
        // SAFETY: a non-null `act` is valid for reading (caller).
        s.store(unsafe { &*act });
    }
    Some(0)
}

/// Copies pieces of this process's memory, in order, into the buffers:
/// `Some(Err(()))` if an address faulted, `None` if fast copies cannot be
/// used here (the caller falls back).
pub(super) fn copyin(pieces: &mut [(usize, &mut [u8])]) -> Option<Result<(), ()>> {
    if !ready() {
        return None;
    }
    Some(pieces.iter_mut().try_for_each(|(src, dst)| {
        // SAFETY: the handler is installed (`ready`); `dst` is ours and
        // valid for its length; `src` is a user address that may be bad:
        // a fault on it is caught by `on_fault` and reported, never
        // dereferenced elsewhere.
        let r = unsafe { nbaio_ucopy(dst.as_mut_ptr(), *src as *const u8, dst.len()) };
        if r == 0 {
            Ok(())
        } else {
            Err(())
        }
    }))
}

/// Copies buffers to pieces of this process's memory, in order (as
/// [`copyin`]).
pub(super) fn copyout(pieces: &[(usize, &[u8])]) -> Option<Result<(), ()>> {
    if !ready() {
        return None;
    }
    Some(pieces.iter().try_for_each(|(dst, src)| {
        // SAFETY: as in `copyin`, the other way round.
        let r = unsafe { nbaio_ucopy(*dst as *mut u8, src.as_ptr(), src.len()) };
        if r == 0 {
            Ok(())
        } else {
            Err(())
        }
    }))
}
