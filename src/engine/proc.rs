//! Per-process AIO state: created on a process's first request, torn down
//! when it exits.
//!
//! # Locking
//!
//! Lock legend for [`AioProc`]:
//! * `(a)` the AIO lock, `AioProc::state`: the job table, the run queue, the
//!   `lio_listio` lists, the worker and waiter counts, the exit flag;
//! * `(c)` constant after creation: `os`, `sys`, `serial`;
//! * `(h)` hints, atomics read without the lock: `queued` and `removed`
//!   (bumped under the AIO lock, watched by spinning workers and waiters,
//!   who re-check under the lock before acting), `outstanding`,
//!   `service_ns`, `submit_cpu` and `worker_cpu` (statistics: a stale
//!   value only changes a choice between two correct paths), `quiet`
//!   (set under the lock with `exiting`; read by workers about to
//!   publish);
//! * `(s)` counters, atomics that take no lock: [`System`]'s, and
//!   `slots`.
//!
//! Lock order: the AIO lock is the only lock the engine takes, and while it
//! is held the engine calls nothing of the host but its condition variables
//! (`work`, `done`).  In particular no copyin or copyout, no file I/O, no
//! file release (a job's [`Io`] is always moved out and dropped after
//! unlocking), no notification and no worker creation happen under it, so
//! host locks taken by those services never nest inside the AIO lock, and a
//! page fault on user memory never sleeps with it held.
//!
//! # Publishing a result
//!
//! A job's result reaches the user's aiocb in this order: `_errno` and `_retval`,
//! then `_state = JOB_DONE` ([`Os::copyout_status`]); `aio_error` and
//! `aio_return` read `_state` first and the result after it
//! ([`Os::copyin_status`]).  So no reader ever pairs a new `_state` with an
//! old result, the torn read NetBSD's C code allows.  A job stays in the
//! table until its result is out, so "not in the table" implies "result
//! visible".
//!
//! While a job is in flight its aiocb holds `JOB_WIP`, `EINPROGRESS` and,
//! in `_retval`, a token of this process and that aiocb address
//! ([`AioProc::wip_token`]: negative and not -1, so never a result).
//! `aio_error` of a job in flight, the call a polling program makes most,
//! answers from the token alone, without the lock; only a `JOB_WIP` the
//! token does not vouch for (another process's, as in a forked child, or a
//! copy of an aiocb at another address) is checked against the table.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release,
};
use hashbrown::HashMap;

use crate::abi::{JOB_DONE, JOB_WIP};
use crate::errno::Errno;
use crate::os::{Aiocb, Notify, Os, Sleep, UserPtr, Wakeup};
use crate::sync::{CondVar, Mutex, MutexGuard};

use super::job::{Class, Event, Io, Job, JobOp, JobResult, JobState, LioId, Order};
use super::limits::System;
use super::submit::{Kick, Kicker};

/// State of one `lio_listio` list.
pub(crate) struct Lio {
    /// Jobs of the list not yet retired, plus one while the list is being
    /// submitted (so that it cannot complete half-queued).
    pub pending: usize,
    /// Some entry failed to queue, or some job failed.
    pub failed: bool,
    /// The list's own notification (`LIO_NOWAIT` only).
    pub notify: Notify,
    /// A `LIO_WAIT` caller is waiting and will remove the list itself.
    pub waiter: bool,
}

/// Everything under the AIO lock `(a)`.
pub(crate) struct ProcState<O: Os> {
    /// Jobs in flight, by user aiocb address (O(1) expected: duplicate
    /// checks, `aio_error` of a running job, single-job cancel).
    pub jobs: HashMap<usize, Job<O>>,
    /// Queued jobs in submission order.
    pub queue: VecDeque<Waiting>,
    /// How many of the queued jobs are memory copies ([`Class`]): when
    /// all are and the copy budget is spent, nothing queued can run, which
    /// [`AioProc::runnable`] then knows without looking at each.
    pub queued_copies: usize,
    /// Jobs being run: (aiocb address, file key, class).
    pub running: Vec<(usize, usize, Class)>,
    /// Write jobs in the table.  While there are none, reads have nothing
    /// to wait for (see [`Class`]) and may complete inline.
    pub writes: usize,
    /// Lists with jobs outstanding or a waiter.
    pub lios: BTreeMap<LioId, Lio>,
    pub next_lio: LioId,
    /// Workers started (or being started) and not yet gone.
    pub workers: usize,
    /// Workers asleep on `work`, or started and not yet running.
    pub idle: usize,
    /// Workers between two jobs, releasing the last one's file with the
    /// lock let go: they look at the queue next, like a returning worker.
    pub between: usize,
    /// Workers watching [`AioProc::queued`] for a job before they sleep
    /// (see [`System::spin_ns`]): they take the next job without a wakeup.
    pub spinning: usize,
    /// Threads asleep on `done`.
    pub waiters: usize,
    /// The process is exiting: no new jobs.
    pub exiting: bool,
}

/// A queued job as the rules that choose the next one see it: copied from
/// the job when it is queued, so that choosing reads no table entry (a
/// write compares itself with every job queued before it on its file).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Waiting {
    /// The aiocb address (the job's table key).
    pub addr: usize,
    /// The job's file.
    pub key: usize,
    /// The job's ordering class.
    pub class: Class,
}

/// Which jobs a cancellation applies to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Select {
    /// The job of this aiocb address.
    One(usize),
    /// Every job submitted on this descriptor.
    Fd(i32),
    /// Every job (process exit).
    All,
}

/// A job whose result is fixed and must be published, notified and
/// removed, in that order.
pub(crate) struct Retired<O: Os> {
    pub uaddr: UserPtr<Aiocb>,
    pub result: JobResult,
    pub notify: Notify,
    pub lio: Option<LioId>,
    /// The job's file reference, released last, outside the lock.
    pub io: Option<Io<O>>,
}

impl<O: Os> Retired<O> {
    /// A job that ends cancelled, taking its file reference with it.
    pub(crate) fn canceled(addr: usize, job: &mut Job<O>) -> Self {
        Retired {
            uaddr: UserPtr::new(addr),
            result: JobResult::Canceled,
            notify: job.notify,
            lio: job.lio,
            io: job.io.take(),
        }
    }
}

/// A job a worker has taken, with what the worker needs without the lock.
pub(crate) struct Picked<O: Os> {
    pub addr: usize,
    pub op: JobOp,
    /// A read or write on a stream: waited for cancellably where the host
    /// can ([`AioProc::perform_stream`]).
    pub stream: bool,
    pub io: Io<O>,
    pub notify: Notify,
    pub lio: Option<LioId>,
}

/// The AIO state of one process.
pub struct AioProc<O: Os> {
    /// `(c)` Host services of this process.
    pub(crate) os: O,
    /// `(c)` System-wide limits.
    pub(crate) sys: &'static System,
    /// `(c)` This state itself, for workers to hold (the syscall layer
    /// borrows the state from the process and never clones it).
    me: Weak<AioProc<O>>,
    /// `(c)` This state's serial number ([`System`] counts them): part of
    /// the in-progress token.
    serial: u64,
    /// `(s)` Job slots taken against the per-process limit: jobs whose
    /// result is not out yet, plus slots reserved by a `lio_listio` still
    /// being submitted.  A job gives its slot back (and its system-wide
    /// one) just before its result is published, so a program that has
    /// seen all its results may queue as many jobs again at once, although
    /// the last ones may still be leaving the table.
    pub(crate) slots: AtomicUsize,
    /// `(h)` The recent success of spins ([`spin_pays`](Self::spin_pays)).
    pub(crate) spin_score: AtomicU32,
    /// `(h)` Chances to spin skipped while spinning did not pay.
    pub(crate) spin_probe: AtomicU32,
    /// `(h)` Set with `ProcState::exiting`: a worker that finds it set
    /// writes no result into user memory.
    pub(crate) quiet: AtomicBool,
    /// `(a)`
    pub(crate) state: Mutex<O::Mutex, ProcState<O>>,
    /// Workers sleep here for jobs (and exit).
    pub(crate) work: CondVar<O::Mutex, O::CondVar>,
    /// `aio_suspend`, `LIO_WAIT` and exit sleep here for jobs leaving the
    /// table and workers leaving.
    pub(crate) done: CondVar<O::Mutex, O::CondVar>,
    /// Counts jobs handed to the workers, for spinning workers to watch
    /// without the lock (bumped under it).
    pub(crate) queued: AtomicUsize,
    /// Counts jobs leaving the table, for spinning waiters to watch.
    pub(crate) removed: AtomicUsize,
    /// Requests submitted and not yet collected with `aio_return` (see
    /// [`System::inline_limit`]); a hint, never below 0.
    pub(crate) outstanding: AtomicUsize,
    /// Recent time a worker spends on one job (a moving average, in ns; 0
    /// before the first; kept only where the host spins): workers and
    /// waiters spin only when a job is likely to end within the spin.
    pub(crate) service_ns: AtomicU64,
    /// The CPU of the last submission ([`Os::cpu`]; [`NO_CPU`] if not
    /// known): a worker out of jobs does not spin there.
    pub(crate) submit_cpu: AtomicU32,
    /// The CPU of the last worker to start a job: a waiter does not spin
    /// there.
    pub(crate) worker_cpu: AtomicU32,
}

/// [`AioProc::submit_cpu`] and [`AioProc::worker_cpu`] before anything
/// is known.
pub(crate) const NO_CPU: u32 = u32::MAX;

impl<O: Os> Drop for AioProc<O> {
    fn drop(&mut self) {
        self.sys.proc_gone();
    }
}

/// Ceiling of [`AioProc::spin_pays`]'s score: after a long run of hits,
/// this many misses in a row (halved) stop the spinning.
pub(crate) const SPIN_SCORE_MAX: u32 = 16;
/// While spinning does not pay, one chance in this many spins anyway.
pub(crate) const SPIN_PROBE: u32 = 64;

/// How many queued jobs [`AioProc::kick`] looks at for one that could use
/// another worker (see [`AioProc::runnable_within`]).
pub(crate) const GROW_LOOKAHEAD: usize = 64;

pub(crate) type Guard<'a, O> = MutexGuard<'a, <O as Os>::Mutex, ProcState<O>>;

impl<O: Os> AioProc<O> {
    /// Creates a process's AIO state; the host keeps the returned reference
    /// (NetBSD: `p->p_aio`) until [`AioProc::exit`] has returned.  The
    /// process counts in [`System::procs`] from here until the state is
    /// dropped: a module may unload only once no state is left to free.
    pub fn new(os: O, sys: &'static System) -> Arc<Self> {
        let serial = sys.proc_created();
        Arc::new_cyclic(|me| AioProc {
            me: me.clone(),
            os,
            sys,
            serial,
            quiet: AtomicBool::new(false),
            slots: AtomicUsize::new(0),
            state: Mutex::new(ProcState {
                jobs: HashMap::new(),
                queue: VecDeque::new(),
                queued_copies: 0,
                running: Vec::new(),
                writes: 0,
                lios: BTreeMap::new(),
                next_lio: 0,
                workers: 0,
                idle: 0,
                spinning: 0,
                between: 0,
                waiters: 0,
                exiting: false,
            }),
            work: CondVar::new(),
            done: CondVar::new(),
            queued: AtomicUsize::new(0),
            removed: AtomicUsize::new(0),
            spin_score: AtomicU32::new(SPIN_SCORE_MAX / 2),
            spin_probe: AtomicU32::new(0),
            service_ns: AtomicU64::new(0),
            submit_cpu: AtomicU32::new(NO_CPU),
            worker_cpu: AtomicU32::new(NO_CPU),
            outstanding: AtomicUsize::new(0),
        })
    }

    /// The host services this state was created with.
    pub fn os(&self) -> &O {
        &self.os
    }

    /// Whether a job on `p` is in flight.
    pub fn in_flight(&self, p: UserPtr<Aiocb>) -> bool {
        self.state.lock().jobs.contains_key(&p.addr())
    }

    /// Counts a request the user will collect with `aio_return` (where
    /// the count steers inline reads).
    pub(crate) fn submitted(&self) {
        if self.sys.counts_outstanding() {
            self.outstanding.fetch_add(1, Relaxed);
        }
    }

    /// `aio_return` collected a result (the syscall layer calls this only
    /// where [`System::counts_outstanding`]).
    pub fn collected(&self) {
        let _ = self
            .outstanding
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }

    /// Jobs in flight (for diagnostics and tests).
    pub fn jobs(&self) -> usize {
        self.state.lock().jobs.len()
    }

    /// `lio_listio` lists still tracked (for tests: none once every
    /// job of every list has left the table and no `LIO_WAIT` is waiting).
    #[doc(hidden)]
    pub fn lists(&self) -> usize {
        self.state.lock().lios.len()
    }

    /// Workers alive (for diagnostics and tests).
    pub fn workers(&self) -> usize {
        self.state.lock().workers
    }

    /// What `_retval` of aiocb `p` holds while a job of this process runs
    /// on it: a mix of the state's serial number and the address, with
    /// the sign bit set, and never -1 (see the module documentation).
    pub(crate) fn wip_token(&self, p: UserPtr<Aiocb>) -> isize {
        let x = (self.serial ^ p.addr() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        match (x as isize) | isize::MIN {
            -1 => -2,
            t => t,
        }
    }

    /// Whether `retval`, read from aiocb `p` beside `JOB_WIP`, is this
    /// process's token for it and exit has not begun: then a job of this
    /// process is in flight on `p`.
    pub(crate) fn vouches(&self, p: UserPtr<Aiocb>, retval: isize) -> bool {
        retval == self.wip_token(p) && !self.quiet.load(Acquire)
    }

    /// Marks aiocb `p` in progress for a job of this process.
    pub(crate) fn mark(&self, p: UserPtr<Aiocb>) -> Result<(), Errno> {
        self.os
            .copyout_status(p, JOB_WIP, Some(Errno::EINPROGRESS), self.wip_token(p))
    }

    /// Writes a result into the user's aiocb: result fields first, state
    /// last (see the module documentation).
    pub(crate) fn publish(&self, p: UserPtr<Aiocb>, result: JobResult) {
        let (error, retval) = result.user_fields();
        // A failed copyout means the user unmapped its own aiocb while the
        // job ran; there is nobody left to tell, so it is dropped.
        let _ = self.os.copyout_status(p, JOB_DONE, error, retval);
    }

    /// Finishes `batch` (emptied): publishes and notifies each job, releases
    /// its file, then removes it and wakes waiters under the lock, and last
    /// sends any list notification.  `quiet` (the process is exiting)
    /// writes nothing to user memory and sends nothing: nobody will look,
    /// and an aiocb that lived on a stack the exit path has since reused
    /// must not be written (on the Linux host that stack is our own).
    pub(crate) fn retire(&self, batch: &mut Vec<Retired<O>>, quiet: bool) {
        // Notify after publishing and before waking waiters: a program
        // whose aio_suspend or LIO_WAIT returns has its completion signals
        // already queued.
        self.put_slots(batch.len());
        if !quiet {
            for r in batch.iter() {
                self.publish(r.uaddr, r.result);
            }
            for r in batch.iter() {
                self.os.notify(&r.notify);
            }
        }
        for r in batch.iter_mut() {
            drop(r.io.take());
        }
        let mut lio_notes: Vec<Notify> = Vec::new();
        {
            let mut g = self.state.lock();
            for r in batch.iter() {
                lio_notes.extend(self.remove(&mut g, r.uaddr.addr(), r.lio, r.result));
            }
        }
        batch.clear();
        if !quiet {
            for n in &lio_notes {
                self.os.notify(n);
            }
        }
    }

    /// The last step of a job, under the lock: it leaves the table (its
    /// result is published; its file released, or about to be by the
    /// worker that ran it) and waiters wake.  Returns its list's
    /// notification if the list just completed.
    fn remove(
        &self,
        g: &mut Guard<'_, O>,
        addr: usize,
        lio: Option<LioId>,
        result: JobResult,
    ) -> Option<Notify> {
        let (note, mut wake) = self.unlink(g, addr, lio, result);
        self.wake_waiters(&mut wake);
        note
    }

    /// [`remove`](Self::remove) without the wake-up: also returns whether
    /// waiters must be woken, for a caller that wakes them once it has let
    /// the lock go (a waiter woken while the lock is still held would
    /// block on it at once).
    fn unlink(
        &self,
        g: &mut Guard<'_, O>,
        addr: usize,
        lio: Option<LioId>,
        result: JobResult,
    ) -> (Option<Notify>, bool) {
        let job = g.jobs.remove(&addr);
        debug_assert!(
            matches!(job.as_ref().map(|j| j.state()), Some(JobState::Finishing)),
            "removing a job that is not finishing"
        );
        debug_assert!(
            job.as_ref().is_some_and(|j| j.io.is_none()),
            "the table still holds the job's file"
        );
        if let Some(pos) = g.running.iter().position(|e| e.0 == addr) {
            g.running.swap_remove(pos);
        }
        if job.as_ref().is_some_and(|j| j.class.write) {
            g.writes -= 1;
        }
        self.removed.fetch_add(1, Release);
        let mut relevant = job.is_some_and(|j| j.waited) || g.exiting;
        let note = lio.and_then(|id| {
            let (note, list_done) = Self::lio_account(g, id, result.is_failure());
            relevant |= list_done;
            note
        });
        // Waiters sleep only for jobs they marked (aio_suspend, a
        // resubmission) or for a whole list (LIO_WAIT), or for everything
        // (exit): other completions do not wake them.
        (note, relevant && g.waiters > 0)
    }

    /// Wakes the waiters on `done` if `pending` says a finished job has
    /// some (see [`unlink`](Self::unlink)), and clears it.
    fn wake_waiters(&self, pending: &mut bool) {
        if core::mem::take(pending) {
            self.done.broadcast();
        }
    }

    /// Counts one retired job (or the submission guard) against list `id`;
    /// returns the list's notification when it has just completed and no
    /// `LIO_WAIT` caller will collect it, and whether a `LIO_WAIT` caller
    /// must be woken because it has.
    pub(crate) fn lio_account(
        g: &mut Guard<'_, O>,
        id: LioId,
        failed: bool,
    ) -> (Option<Notify>, bool) {
        let Some(l) = g.lios.get_mut(&id) else {
            return (None, false);
        };
        l.pending -= 1;
        l.failed |= failed;
        match (l.pending, l.waiter) {
            (0, false) => (g.lios.remove(&id).map(|l| l.notify), false),
            (0, true) => (None, true),
            _ => (None, false),
        }
    }

    /// Starts a worker for this process.
    pub(crate) fn spawn_worker(&self) -> Result<(), crate::errno::Errno> {
        // The process holds the state until `exit` has returned, and
        // `exit` waits for every worker: the upgrade fails only for a state
        // being created and already dropped, which runs no jobs.
        let me = self.me.upgrade().ok_or(crate::errno::Errno::EAGAIN)?;
        self.os.spawn_worker(Box::new(move || me.worker_main()))
    }

    /// A worker's life: take runnable jobs until the process exits.
    fn worker_main(self: Arc<Self>) {
        // Streams are waited for cancellably where the host can.
        let waiter = self.os.new_waiter().map(Arc::new);
        let mut g = self.state.lock();
        // Counted idle by whoever started us, until now.
        g.idle -= 1;
        let mut spun = false;
        // The file of the job last finished: released the next time the
        // lock is let go, so that neither the waiters of that job nor the
        // pick of the next one wait for it (on Linux its release is the
        // close of a duplicated descriptor, several microseconds when it
        // is the last reference), and without a lock round trip of its own.
        let mut finished: Option<Io<O>> = None;
        // Waiters of the job last finished, woken once the lock is let go
        // after the next pick (the pick is short; waking them first would
        // have them block on the lock the pick holds: under a CPU hog,
        // where the scheduler puts a waiter and the worker on one CPU, a
        // sleep/wake pair per job), or before anything else.
        let mut wake = false;
        loop {
            if self.os.worker_must_leave() {
                self.wake_waiters(&mut wake);
                // The process is exiting (or exec'ing): what is still
                // queued is cancelled by its hook, not run now.
                if let Some(f) = finished.take() {
                    drop(g);
                    drop(f);
                    g = self.state.lock();
                }
                break;
            }
            if let Some(job) = self.pick(&mut g) {
                spun = false;
                self.note_cpu(&self.worker_cpu);
                // More queued than the pool will come back for: start a
                // worker now rather than make the submitters do it.
                let grow = self.kick(&mut g, Kicker::Worker) == Kick::Grow;
                drop(g);
                self.wake_waiters(&mut wake);
                drop(finished.take());
                if grow {
                    self.grow();
                }
                let result = match &waiter {
                    Some(w) if job.stream => self.perform_stream(&job, w),
                    _ => Some(self.timed(|| self.perform(job.op, &job.io))),
                };
                let Picked {
                    addr,
                    io,
                    notify,
                    lio,
                    ..
                } = job;
                let Some(result) = result else {
                    // Cancelled while polling: nothing more to do here
                    // but let the file go.
                    finished = Some(io);
                    g = self.state.lock();
                    continue;
                };
                // The steps of `retire`, with one lock pass: the slot goes
                // back before the result goes out (see `slots`), the job
                // stays `Running` meanwhile (a resubmission of the aiocb
                // after its result was seen waits for it to go, see
                // `reserve`), and the file goes last (`finished`).  As in
                // `retire(.., quiet)`: no user memory once exit began.
                self.put_slots(1);
                if !self.quiet.load(Acquire) {
                    self.publish(UserPtr::new(addr), result);
                    self.os.notify(&notify);
                }
                g = self.state.lock();
                if let Some(job) = g.jobs.get_mut(&addr) {
                    let done = job.apply(Event::IoDone);
                    debug_assert_eq!(done, Ok(JobState::Finishing));
                }
                finished = Some(io);
                let (note, woken) = self.unlink(&mut g, addr, lio, result);
                wake |= woken;
                if let Some(n) = note {
                    g.between += 1;
                    drop(g);
                    self.wake_waiters(&mut wake);
                    drop(finished.take());
                    // As for the job's own notification: none once exit
                    // began (the list's last job may end after that).
                    if !self.quiet.load(Acquire) {
                        self.os.notify(&n);
                    }
                    g = self.state.lock();
                    g.between -= 1;
                }
                continue;
            }
            if finished.is_some() {
                // Out of jobs: let the last file go before waiting, and
                // look again (a job may have come meanwhile).
                g.between += 1;
                drop(g);
                self.wake_waiters(&mut wake);
                drop(finished.take());
                g = self.state.lock();
                g.between -= 1;
                continue;
            }
            self.wake_waiters(&mut wake);
            if g.exiting {
                break;
            }
            // Out of jobs: watch for the next one for a moment before
            // sleeping (submitters see `spinning` and do not wake anyone),
            // if jobs are short: next to device I/O a wake-up is cheap, and
            // a spinning CPU is one the completion path cannot use.
            let spin = self.sys.spin_ns();
            if spin > 0
                && !spun
                && self.service_ns.load(Relaxed) < spin
                && self.spin_apart(&self.submit_cpu)
                && self.spin_pays()
            {
                spun = true;
                g.spinning += 1;
                let seen = self.queued.load(Acquire);
                drop(g);
                self.spin_until(spin, || self.queued.load(Acquire) != seen);
                g = self.state.lock();
                g.spinning -= 1;
                continue;
            }
            // The first worker stays; spares retire after an idle period.
            let timeout_ns = (g.workers > 1).then(|| self.sys.worker_idle_ns());
            g.idle += 1;
            let w = self.work.wait(&mut g, Sleep::Worker { timeout_ns });
            g.idle -= 1;
            match w {
                // The process is exiting; its exit hook cancels whatever
                // is still queued once every worker is gone.
                Wakeup::Interrupted => break,
                Wakeup::TimedOut if g.workers > 1 && g.queue.is_empty() => break,
                _ => {}
            }
        }
        g.workers -= 1;
        if g.waiters > 0 {
            self.done.broadcast();
        }
    }

    /// Whether queued job `i` must wait ([`Class::waits_for`]) for a
    /// running job or an earlier queued job on the same file, or, being a
    /// memory copy, for a CPU ([`copy_budget`](Self::copy_budget)).  Free
    /// reads skip the look at earlier queued jobs while no write is in the
    /// table: nothing can hold them back.
    pub(crate) fn blocked(&self, st: &ProcState<O>, i: usize) -> bool {
        self.blocked_by(st, i, self.copies_spent(st))
    }

    /// [`blocked`](Self::blocked), told whether the copy budget is spent
    /// (a scan of the queue asks that once).
    #[inline]
    fn blocked_by(&self, st: &ProcState<O>, i: usize, copies_spent: bool) -> bool {
        let job = &st.queue[i];
        (job.class.memory && copies_spent)
            || st
                .running
                .iter()
                .any(|(_, key, c)| *key == job.key && job.class.waits_for(c))
            || ((job.class.order != Order::Free || st.writes > 0)
                && st
                    .queue
                    .iter()
                    .take(i)
                    .any(|e| e.key == job.key && job.class.waits_for(&e.class)))
    }

    /// The first queued job that may run now.  Workers ask after every
    /// job; with a deep queue of copies and the budget spent the answer
    /// comes from the count, not from a look at every queued job.
    pub(crate) fn runnable(&self, st: &ProcState<O>) -> Option<usize> {
        self.runnable_within(st, usize::MAX)
    }

    /// [`runnable`](Self::runnable) among the first `n` queued jobs.  The
    /// question whether the pool should grow looks no further than
    /// [`GROW_LOOKAHEAD`]: its cost stays bounded while a deep queue waits
    /// behind a running job (writes to one file), and a runnable job
    /// further back is found when a worker picks.
    pub(crate) fn runnable_within(&self, st: &ProcState<O>, n: usize) -> Option<usize> {
        debug_assert_eq!(
            st.queued_copies,
            st.queue.iter().filter(|w| w.class.memory).count(),
            "queued_copies out of step"
        );
        let spent = self.copies_spent(st);
        if st.queued_copies == st.queue.len() && spent {
            return None;
        }
        // A serial write waits for every earlier serial write on its file
        // (`Class::waits_for`): behind one that cannot run, the others on
        // that file need no look.  A deep queue of buffered writes to one
        // file, which a worker scans after every pick, costs a compare per
        // job instead of a look at the running jobs.
        let mut serial_key = None;
        for (i, job) in st.queue.iter().take(n).enumerate() {
            if job.class.serial && serial_key == Some(job.key) {
                continue;
            }
            if !self.blocked_by(st, i, spent) {
                return Some(i);
            }
            if job.class.serial {
                serial_key = Some(job.key);
            }
        }
        None
    }

    /// Whether as many memory copies run as [`copy_budget`](Self::copy_budget)
    /// allows.
    fn copies_spent(&self, st: &ProcState<O>) -> bool {
        st.running.iter().filter(|(_, _, c)| c.memory).count() >= self.copy_budget()
    }

    /// How many jobs that are memory copies may run at once: one per CPU
    /// beyond the submitting one, at least one ([`System::cpus`]; no
    /// bound while the CPUs are not known).
    pub(crate) fn copy_budget(&self) -> usize {
        match self.sys.cpus() {
            0 => usize::MAX,
            n => (n - 1).max(1),
        }
    }

    /// Takes the first queued job that may run now.
    #[allow(clippy::type_complexity)]
    fn pick(&self, g: &mut Guard<'_, O>) -> Option<Picked<O>> {
        let st = &mut **g;
        let chosen = self.runnable(st);
        let addr = st.queue.remove(chosen?)?.addr;
        let job = st.jobs.get_mut(&addr)?;
        st.queued_copies -= usize::from(job.class.memory);
        let picked = job.apply(Event::Pick);
        debug_assert_eq!(picked, Ok(JobState::Running));
        let io = job.io.take()?;
        st.running.push((addr, job.key, job.class));
        Some(Picked {
            addr,
            op: job.op,
            stream: job.class.order == Order::Stream && !matches!(job.op, JobOp::Sync(_)),
            io,
            notify: job.notify,
            lio: job.lio,
        })
    }

    /// A stream job's I/O on a host that can wait for a stream cancellably
    /// ([`Os::wait_ready`]): non-blocking attempts, and between them a
    /// wait in `Polling`, where a cancel can end the job.  A write goes on
    /// until every byte is out, as `write(2)` on a blocking stream does.
    /// `None`: the job was cancelled while polling, and its canceller has
    /// published it and taken it out of the table.
    fn perform_stream(&self, job: &Picked<O>, w: &Arc<O::Waiter>) -> Option<JobResult> {
        let write = job.op == JobOp::Write;
        let io = &job.io;
        let mut done = 0usize;
        loop {
            match self
                .os
                .rw_nowait(&io.file, write, io.buf + done, io.nbytes - done)
            {
                Err(Errno::EAGAIN) => {}
                Err(e) if done == 0 => return Some(JobResult::Failed(e)),
                Err(_) => return Some(JobResult::Done(done)),
                Ok(n) => {
                    done += n;
                    if !write || n == 0 || done == io.nbytes {
                        return Some(JobResult::Done(done));
                    }
                    continue;
                }
            }
            // The process is going (nobody will look at the result), or
            // exit cancelled what was polling while this job was between
            // two attempts: end it, with what a write moved so far.
            let gone = if done > 0 {
                JobResult::Done(done)
            } else {
                JobResult::Canceled
            };
            if self.os.worker_must_leave() {
                return Some(gone);
            }
            {
                let mut g = self.state.lock();
                if g.exiting {
                    return Some(gone);
                }
                // A running job is this worker's: nobody else takes it
                // out of the table.
                let Some(j) = g.jobs.get_mut(&job.addr) else {
                    debug_assert!(false, "a running job left the table");
                    return None;
                };
                let parked = j.apply(Event::Park { partial: done > 0 });
                debug_assert!(parked.is_ok(), "parking a job that is not running");
                j.waiter = Some(w.clone());
            }
            self.os.wait_ready(w, &io.file, write, io.nbytes - done);
            let mut g = self.state.lock();
            match g.jobs.get_mut(&job.addr) {
                Some(j) if j.waiter.as_ref().is_some_and(|x| Arc::ptr_eq(x, w)) => {
                    let was = j.state();
                    j.waiter = None;
                    let ready = j.apply(Event::Ready);
                    debug_assert_eq!(ready, Ok(JobState::Running));
                    if matches!(was, JobState::Polling { stop: true, .. }) {
                        // Cancelled after part of a write went out.
                        return Some(JobResult::Done(done));
                    }
                }
                _ => return None,
            }
        }
    }

    /// Runs a job's I/O, adding its length to `service_ns` where the host
    /// spins (elsewhere nothing reads it, and the clock is not free).
    fn timed(&self, io: impl FnOnce() -> JobResult) -> JobResult {
        if self.sys.spin_ns() == 0 {
            return io();
        }
        let t0 = self.os.now_ns();
        let result = io();
        // One eighth of each new sample (the first sets it); races between
        // workers only lose a sample.
        let took = self.os.now_ns().saturating_sub(t0);
        let avg = self.service_ns.load(Relaxed);
        let avg = if avg == 0 {
            took.max(1)
        } else {
            avg - avg / 8 + took / 8
        };
        self.service_ns.store(avg, Relaxed);
        result
    }

    /// Busy-waits, without the lock, until `done` or `ns` have passed, and
    /// keeps the score of [`spin_pays`](Self::spin_pays).
    pub(crate) fn spin_until(&self, ns: u64, mut done: impl FnMut() -> bool) {
        let start = self.os.now_ns();
        let deadline = start.saturating_add(ns);
        let hit = 'spin: loop {
            for _ in 0..64 {
                if done() {
                    break 'spin true;
                }
                core::hint::spin_loop();
            }
            if self.os.now_ns() >= deadline {
                break false;
            }
        };
        // A quick hit adds one, a late hit takes one, a miss two: spinning
        // goes on while most spins end soon with what they wait for.  A
        // hit late in the spin cost about as much CPU as the sleep/wake
        // pair it saved (a program that submits its next request only
        // after a signal handler and a sweep of aio_error calls keeps a
        // spinning worker busy for most of the spin).
        let quick = hit && self.os.now_ns().saturating_sub(start) <= self.sys.spin_ns() / 4;
        let s = self.spin_score.load(Relaxed);
        let s = match (hit, quick) {
            (_, true) => (s + 1).min(SPIN_SCORE_MAX),
            (true, false) => s.saturating_sub(1),
            (false, _) => s.saturating_sub(2),
        };
        self.spin_score.store(s, Relaxed);
    }

    /// Whether this thread runs on another CPU than the one `other`
    /// last recorded, the thread whose work a spin here would wait for (a
    /// submitter for a worker, a worker for a waiter).  On the same CPU
    /// the spin only keeps that thread from running, which is how it
    /// goes on a loaded machine, where the scheduler puts the two on one
    /// CPU beside the load.  Unknown CPUs count as apart.
    pub(crate) fn spin_apart(&self, other: &AtomicU32) -> bool {
        match self.os.cpu() {
            Some(c) => other.load(Relaxed) != c,
            None => true,
        }
    }

    /// Records the calling thread's CPU in `slot` (for
    /// [`spin_apart`](Self::spin_apart)), where spinning is on.
    pub(crate) fn note_cpu(&self, slot: &AtomicU32) {
        if self.sys.spin_ns() > 0 {
            let c = self.os.cpu().unwrap_or(NO_CPU);
            if slot.load(Relaxed) != c {
                slot.store(c, Relaxed);
            }
        }
    }

    /// Whether spinning pays in this process now.  A spin that ends
    /// without what it waits for is CPU taken from the thread that was to
    /// provide it, or from the rest of the machine: on a busy machine, or
    /// when the other side is not running (a program asleep in
    /// `sigsuspend`, a worker preempted), most spins miss, the score falls
    /// to zero and threads sleep at once.  Then one chance in
    /// [`SPIN_PROBE`] spins anyway, to find out whether it pays again.
    pub(crate) fn spin_pays(&self) -> bool {
        self.spin_score.load(Relaxed) > 0
            || self.spin_probe.fetch_add(1, Relaxed) % SPIN_PROBE == SPIN_PROBE - 1
    }

    /// The I/O itself, without the lock.
    fn perform(&self, op: JobOp, io: &Io<O>) -> JobResult {
        let r = match op {
            JobOp::Read => self.os.read(&io.file, io.buf, io.nbytes, io.offset),
            JobOp::Write => self.os.write(&io.file, io.buf, io.nbytes, io.offset),
            JobOp::Sync(kind) => self.os.fsync(&io.file, kind).map(|()| 0),
        };
        match r {
            Ok(n) => JobResult::Done(n),
            Err(e) => JobResult::Failed(e),
        }
    }

    /// Process exit: cancel what has not started, let running jobs finish
    /// (their buffers are still mapped), then stop every worker.  On return
    /// no worker touches the process any more and no job is left.
    pub fn exit(&self) {
        self.exit_cancel();
        self.exit_drain(|st| !st.jobs.is_empty() || st.workers > 0);
    }

    /// Exit for a host whose workers die with the process (Linux
    /// userspace, from `atexit`): [`exit_cancel`](Self::exit_cancel), then
    /// wait for the running jobs on files (regular files, devices), whose
    /// I/O ends by itself, so that none is cut short when the process's
    /// threads are killed (a write would be left partial).  Not for jobs
    /// on streams: a read from a pipe may wait forever.
    pub fn exit_settle(&self) {
        self.exit_cancel();
        self.exit_drain(|st| st.running.iter().any(|(_, _, c)| c.order != Order::Stream));
    }

    /// After [`exit_cancel`](Self::exit_cancel): sleeps while `busy` holds,
    /// waking idle workers so that they see the exit and leave (jobs
    /// leaving the table wake exit, see `remove`).
    fn exit_drain(&self, busy: impl Fn(&ProcState<O>) -> bool) {
        let mut g = self.state.lock();
        g.waiters += 1;
        while busy(&g) {
            self.work.broadcast();
            self.done.wait(&mut g, Sleep::Uninterruptible);
        }
        g.waiters -= 1;
    }

    /// The first half of [`exit`](Self::exit) and
    /// [`exit_settle`](Self::exit_settle): refuse new jobs and cancel every
    /// job that has not started, without notifications.
    fn exit_cancel(&self) {
        let mut batch = Vec::new();
        let mut wake = Vec::new();
        {
            let mut g = self.state.lock();
            g.exiting = true;
            self.quiet.store(true, Release);
            Self::cancel_where(&mut g, &mut batch, &mut wake, Select::All);
        }
        self.wake_pollers(&wake);
        self.retire(&mut batch, true);
    }

    /// Ends the waits of the workers whose stream jobs a cancel took
    /// (step 3 of cancellation, without the lock).
    pub(crate) fn wake_pollers(&self, wake: &[Arc<O::Waiter>]) {
        for w in wake {
            self.os.wake(w);
        }
    }

    /// Step 1 of cancellation, under the lock: every job selected by `pick`
    /// in `range` that has not started moves to `Finishing` (queued ones, collected
    /// into `batch`) or is flagged (reserved ones, which their submitter
    /// then finishes).  Running jobs are left alone.  Returns
    /// (some job was cancelled, some job could not be).
    pub(crate) fn cancel_where(
        g: &mut Guard<'_, O>,
        batch: &mut Vec<Retired<O>>,
        wake: &mut Vec<Arc<O::Waiter>>,
        which: Select,
    ) -> (bool, bool) {
        let st = &mut **g;
        let (mut canceled, mut notcanceled) = (false, false);
        let mut dequeued = false;
        let mut cancel_one = |addr: usize, job: &mut Job<O>| {
            let was = job.state();
            match job.apply(Event::Cancel) {
                Ok(JobState::Finishing) => {
                    canceled = true;
                    dequeued |= was == JobState::Queued;
                    // A polling worker is told to let the job go.
                    wake.extend(job.waiter.take());
                    batch.push(Retired::canceled(addr, job));
                }
                // Part of a write is out: the worker stops it with that
                // count, a completion rather than a cancellation.
                Ok(JobState::Polling { .. }) => {
                    notcanceled = true;
                    wake.extend(job.waiter.clone());
                }
                Ok(_) => canceled = true,
                Err(_) => notcanceled |= was == JobState::Running,
            }
        };
        match which {
            Select::One(addr) => {
                if let Some(job) = st.jobs.get_mut(&addr) {
                    cancel_one(addr, job);
                }
            }
            Select::Fd(fd) => {
                for (&addr, job) in st.jobs.iter_mut().filter(|(_, j)| j.fd == fd) {
                    cancel_one(addr, job);
                }
            }
            Select::All => {
                for (&addr, job) in st.jobs.iter_mut() {
                    cancel_one(addr, job);
                }
            }
        }
        if dequeued {
            let jobs = &st.jobs;
            st.queue
                .retain(|w| jobs[&w.addr].state() == JobState::Queued);
            st.queued_copies = st.queue.iter().filter(|w| w.class.memory).count();
        }
        (canceled, notcanceled)
    }
}
