//! Queueing a job: `aio_read`, `aio_write`, `aio_fsync` and each entry of
//! `lio_listio`.
//!
//! No copyout happens under the AIO lock, and a worker must never publish
//! a result before the submitter has marked the aiocb in progress
//! (`JOB_WIP`).  An aiocb that does not say `JOB_WIP` when it is copied in
//! cannot be another job's in progress (a job's aiocb says so from before
//! the job is queued until its result is out), so `aio_read`, `aio_write`
//! and `aio_fsync` mark it first and then queue the job in one lock pass:
//! 1. unlocked: write `JOB_WIP` (and the in-progress token);
//! 2. under the lock: refuse a duplicate, take a slot, insert the job and
//!    `Enqueue` it.  On refusal the aiocb's old status is written back,
//!    except for a duplicate, whose aiocb belongs to the other job.
//!
//! An aiocb copied in as `JOB_WIP` may be in flight, and `lio_listio`
//! must hand its whole list over at once, so these take three steps:
//! 1. under the lock: refuse a duplicate, take a slot, insert the job as
//!    `Reserved` (invisible to workers);
//! 2. unlocked: write `JOB_WIP`;
//! 3. under the lock: `Enqueue` (or, if a cancel arrived meanwhile, finish
//!    the job as cancelled).  `lio_listio` takes this step once for its
//!    whole list.
//!
//! Either way a process's first job starts its first worker unlocked,
//! before the job is queued (so that a failure to start one is the
//! caller's EAGAIN, not a job's).

use alloc::vec::Vec;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::abi::{
    AIO_PRIO_DELTA_MAX, JOB_DONE, JOB_NONE, JOB_WIP, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD,
    SSIZE_MAX,
};
use crate::errno::Errno;
use crate::os::{Aiocb, AiocbReq, Notify, Os, SigeventReq, Sleep, SyncKind, UserPtr, Wakeup};

use super::job::{Class, Event, Io, Job, JobOp, JobResult, JobState, LioId, Order};
use super::limits::{INLINE_CALL_BYTES, INLINE_REQUEST_BYTES, INLINE_WRITE_SCAN};
use super::proc::{AioProc, Guard, ProcState, Retired, Waiting, GROW_LOOKAHEAD};

/// A checked request, holding its own file reference.
pub(crate) struct Prepared<O: Os> {
    uaddr: UserPtr<Aiocb>,
    fd: i32,
    op: JobOp,
    class: Class,
    key: usize,
    notify: Notify,
    io: Io<O>,
}

/// Who asks [`AioProc::kick`] what the queue needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kicker {
    /// A submitter that has just queued one job, at the tail.
    Tail,
    /// A submitter that has just queued several (`lio_listio`).
    Batch,
    /// A worker that has just taken a job.
    Worker,
}

/// What [`AioProc::kick`] found the queue needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kick {
    /// Nothing: a worker will take the job.
    None,
    /// Wake an idle worker.
    Signal,
    /// Start a worker (already counted).
    Grow,
}

/// What a submitter knows of an aiocb's `_state` as it enters the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// It said `JOB_WIP`: it may be another job's in flight.
    Wip,
    /// It did not, and the submitter has marked it in progress already:
    /// the job can go to the workers at once.
    Marked,
    /// It did not; it is marked in step 2 (`lio_listio`).
    Unmarked,
}

/// Why a submission was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The aiocb is already in flight: its fields belong to that job and
    /// must not be touched.
    InUse,
    /// Any other error; `lio_listio` publishes it into the entry.
    Error(Errno),
}

impl Refusal {
    pub(crate) fn errno(self) -> Errno {
        match self {
            Refusal::InUse => Errno::EINVAL,
            Refusal::Error(e) => e,
        }
    }
}

/// The field checks of a read or write request (aio_fsync ignores all but
/// the descriptor and sigevent): a priority in range, a count that fits
/// the `ssize_t` result.
fn check_io_fields(req: &AiocbReq) -> Result<(), Errno> {
    if !(0..=AIO_PRIO_DELTA_MAX).contains(&req.reqprio) || req.nbytes > SSIZE_MAX {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Checks a user sigevent and turns it into a notification.
pub(crate) fn validate_sigevent<O: Os>(os: &O, s: &SigeventReq) -> Result<Notify, Errno> {
    match s.notify {
        SIGEV_NONE => Ok(Notify::None),
        SIGEV_SIGNAL if os.valid_signal(s.signo) => Ok(Notify::Signal {
            signo: s.signo,
            value: s.value,
        }),
        SIGEV_THREAD if os.sigev_thread() && s.function != 0 => Ok(Notify::Thread {
            function: s.function,
            value: s.value,
            attributes: s.attributes,
        }),
        _ => Err(Errno::EINVAL),
    }
}

impl<O: Os> AioProc<O> {
    /// Checks `req` for `op` and takes the job's own file reference.
    pub(crate) fn prepare(
        &self,
        uaddr: UserPtr<Aiocb>,
        req: &AiocbReq,
        op: JobOp,
    ) -> Result<Prepared<O>, Errno> {
        let notify = validate_sigevent(&self.os, &req.sigevent)?;
        let is_io = !matches!(op, JobOp::Sync(_));
        if is_io {
            check_io_fields(req)?;
        }
        let (file, mut info) = self.os.getfile(req.fildes)?;
        if op == JobOp::Write && info.seekable && !info.append && req.offset < 0 {
            // The one answer a cached, stale `append` would get wrong.
            info = self.os.refresh_info(req.fildes, &file, info);
        }
        let mode_ok = match op {
            JobOp::Read => info.readable,
            JobOp::Write | JobOp::Sync(_) => info.writable,
        };
        if !mode_ok {
            return Err(Errno::EBADF);
        }
        let append = op == JobOp::Write && info.append;
        let positioned = is_io && info.seekable && !append;
        if positioned && req.offset < 0 {
            return Err(Errno::EINVAL);
        }
        let order = match op {
            JobOp::Sync(_) => Order::Barrier,
            _ if !info.seekable => Order::Stream,
            _ if append => Order::Append,
            _ => Order::Free,
        };
        let offset = positioned.then_some(req.offset);
        Ok(Prepared {
            uaddr,
            fd: req.fildes,
            op,
            class: Class::new(op, order, offset, req.nbytes, &info),
            key: info.key,
            notify,
            io: Io {
                file,
                buf: req.buf,
                nbytes: req.nbytes,
                offset,
            },
        })
    }

    /// Queues a prepared job; `prior` is the aiocb's status as it was
    /// copied in ([`AiocbReq::status`](crate::os::AiocbReq)).
    pub(crate) fn enqueue(
        &self,
        p: Prepared<O>,
        prior: (i32, Option<Errno>, isize),
    ) -> Result<(), Refusal> {
        let uaddr = p.uaddr;
        let seen = if prior.0 == JOB_WIP {
            Seen::Wip
        } else {
            self.mark(uaddr).map_err(Refusal::Error)?;
            Seen::Marked
        };
        match self.reserve(p, None, false, seen) {
            Ok(None) => Ok(()),
            Ok(Some(addr)) => {
                self.release(&[addr]);
                Ok(())
            }
            Err(r) => {
                if seen == Seen::Marked && r != Refusal::InUse {
                    // A refused request leaves the aiocb as it found it.
                    let _ = self.os.copyout_status(uaddr, prior.0, prior.1, prior.2);
                }
                Err(r)
            }
        }
    }

    /// Enters a prepared job into the table.  An aiocb the caller has
    /// marked ([`Seen::Marked`]) has its job queued at once (`Ok(None)`)
    /// unless the process has no worker yet.  Else the job stays
    /// `Reserved`, its aiocb is marked, and its address is returned for
    /// [`release`](Self::release) (steps 1 and 2 of the three).
    /// `reserved`: its slot was taken beforehand by `lio_listio` (and is
    /// given back here on failure).
    pub(crate) fn reserve(
        &self,
        p: Prepared<O>,
        lio: Option<LioId>,
        reserved: bool,
        seen: Seen,
    ) -> Result<Option<usize>, Refusal> {
        let addr = p.uaddr.addr();
        let marked = seen == Seen::Marked;
        self.note_cpu(&self.submit_cpu);
        // Step 1.
        let need_worker = {
            let mut g = self.state.lock();
            // A job whose result is already published but which its
            // finisher has not yet removed leaves within moments: a
            // program that collected the result with aio_return and
            // resubmits at once must not be refused for it.  That is a
            // `Finishing` job, or a `Running` one when the aiocb did not
            // say `JOB_WIP` (its worker has published; or the program
            // overwrote an aiocb in flight, and then it may wait for that
            // job, interruptibly).
            let mut interrupted = false;
            while let Some(j) = g.jobs.get_mut(&addr).filter(|j| match j.state() {
                JobState::Finishing => true,
                JobState::Running => seen != Seen::Wip,
                _ => false,
            }) {
                let how = if j.state() == JobState::Running {
                    Sleep::Interruptible { timeout_ns: None }
                } else {
                    Sleep::Uninterruptible
                };
                j.waited = true;
                g.waiters += 1;
                let w = self.done.wait(&mut g, how);
                g.waiters -= 1;
                if w == Wakeup::Interrupted {
                    interrupted = true;
                    break;
                }
            }
            let refusal = if interrupted {
                Some(Refusal::Error(Errno::EINTR))
            } else if g.exiting {
                Some(Refusal::Error(Errno::EAGAIN))
            } else if g.jobs.contains_key(&addr) {
                Some(Refusal::InUse)
            } else if !reserved {
                self.take_slots(1).err().map(Refusal::Error)
            } else {
                None
            };
            if let Some(r) = refusal {
                if reserved {
                    self.put_slots(1);
                }
                drop(g);
                drop(p);
                return Err(r);
            }
            let job = Job::new(p.fd, p.op, p.class, p.key, p.notify, lio, p.io);
            g.writes += usize::from(p.class.write);
            g.jobs.insert(addr, job);
            if let Some(id) = lio {
                if let Some(l) = g.lios.get_mut(&id) {
                    l.pending += 1;
                }
            }
            let need = g.workers == 0;
            if need {
                // A worker being started counts as idle: it looks at the
                // queue before it first sleeps.
                g.workers += 1;
                g.idle += 1;
            } else if marked {
                // Marked already: straight to the workers.
                let queued = self.queue(&mut g, addr, &mut Vec::new());
                debug_assert!(queued, "a job just admitted was not queued");
                let kick = self.kick(&mut g, Kicker::Tail);
                drop(g);
                match kick {
                    Kick::Signal => self.work.signal(),
                    Kick::Grow => self.grow(),
                    Kick::None => {}
                }
                return Ok(None);
            }
            need
        };

        // Step 2.
        if need_worker {
            if let Err(e) = self.spawn_worker() {
                self.worker_failed();
                return Err(self.abort(addr, lio, e));
            }
        }
        if !marked {
            if let Err(e) = self.mark(p.uaddr) {
                return Err(self.abort(addr, lio, e));
            }
        }
        Ok(Some(addr))
    }

    /// Step 3, for jobs [`reserve`](Self::reserve)d by this thread: hands
    /// them to the workers in one go (`lio_listio` releases its whole list
    /// at once, so no entry starts before the list is in), or finishes
    /// those cancelled meanwhile.
    pub(crate) fn release(&self, addrs: &[usize]) {
        let mut batch = Vec::new();
        let mut grow = 0usize;
        {
            let mut g = self.state.lock();
            let mut queued = 0usize;
            for addr in addrs {
                queued += usize::from(self.queue(&mut g, *addr, &mut batch));
            }
            // One look per worker the list may want: for each, whether the
            // first runnable job needs a worker woken or started.  (Asking
            // for each entry whether it can run would compare it with
            // every entry before it: quadratic in a list of 512.)
            let who = if addrs.len() == 1 {
                Kicker::Tail
            } else {
                Kicker::Batch
            };
            for _ in 0..queued.min(self.sys.max_workers()) {
                match self.kick(&mut g, who) {
                    Kick::Signal => self.work.signal(),
                    Kick::Grow => grow += 1,
                    Kick::None => break,
                }
            }
        }
        if !batch.is_empty() {
            self.retire(&mut batch, false);
        }
        for _ in 0..grow {
            self.grow();
        }
    }

    /// Applies `Enqueue` to the job at `addr` under the lock: onto the run
    /// queue (`true`), or, if a cancel arrived while it was `Reserved`, into
    /// `batch` to be retired.  The caller then asks [`kick`](Self::kick)
    /// what the queue needs of the workers.
    fn queue(&self, g: &mut Guard<'_, O>, addr: usize, batch: &mut Vec<Retired<O>>) -> bool {
        let st = &mut **g;
        let Some(job) = st.jobs.get_mut(&addr) else {
            debug_assert!(false, "reserved job vanished");
            return false;
        };
        match job.apply(Event::Enqueue) {
            Ok(JobState::Queued) => {
                st.queue.push_back(Waiting {
                    addr,
                    key: job.key,
                    class: job.class,
                });
                st.queued_copies += usize::from(job.class.memory);
                self.queued.fetch_add(1, Release);
                true
            }
            Ok(_) => {
                batch.push(Retired::canceled(addr, job));
                false
            }
            Err(_) => {
                debug_assert!(false, "enqueue refused");
                false
            }
        }
    }

    /// What the queue needs after a submitter queued jobs or a worker took
    /// one ([`Kicker`]), under the lock.  A worker busy with a file job
    /// comes back for the queue within moments: waking another for a job
    /// it would take next is a sleep/wake pair for nothing.  One busy with
    /// a stream may wait forever (a pipe nobody feeds), so it does not
    /// count.  Idle workers (including ones still starting) each take one
    /// job.  Jobs that must wait for others ([`Class`]) need no worker.
    ///
    /// The pool grows when queued jobs outnumber the workers that will
    /// take them and one of them can run now (for a submitter of one job:
    /// that job; otherwise: any): a job that can run does not wait for a
    /// busy worker's I/O, however long that takes.  A worker that finds
    /// more runnable work grows the pool too, so that a burst queued
    /// before the first worker ran still fans out.  Workers live on after
    /// their work (see `worker_main`), so a process pays for starting
    /// them once, not per job.  A `Grow` answer has counted the new worker
    /// already.
    pub(crate) fn kick(&self, st: &mut ProcState<O>, who: Kicker) -> Kick {
        let submitter = who != Kicker::Worker;
        let returning = st
            .running
            .iter()
            .filter(|r| r.2.order != Order::Stream)
            .count()
            + st.between;
        let queued = st.queue.len();
        if queued <= returning {
            return Kick::None;
        }
        let next = if who == Kicker::Tail {
            // The job just queued, at the tail.
            (!self.blocked(st, queued - 1)).then_some(queued - 1)
        } else {
            self.runnable_within(st, GROW_LOOKAHEAD)
        };
        let Some(next) = next else {
            return Kick::None;
        };
        if submitter && st.spinning > 0 {
            // A spinning worker takes the job without being woken.
            return Kick::None;
        }
        if st.idle > 0 && submitter {
            return Kick::Signal;
        }
        let coming = returning + st.idle + st.spinning;
        // A memory copy can use no more workers than `copy_budget`; one
        // coming back will take it.
        let copies_covered =
            st.queue[next].class.memory && returning > 0 && st.workers >= self.copy_budget();
        if queued > coming && st.workers < self.sys.max_workers() && !copies_covered {
            st.workers += 1;
            st.idle += 1;
            return Kick::Grow;
        }
        Kick::None
    }

    /// Starts a worker counted by [`kick`](Self::kick); if it cannot be
    /// started the pool stays as it is and its workers serve the queue.
    pub(crate) fn grow(&self) {
        if self.spawn_worker().is_err() {
            let mut g = self.state.lock();
            g.workers -= 1;
            g.idle -= 1;
        }
    }

    /// Backs a `Reserved` job out of the table (step 2 failed) and gives its
    /// slot back; the job never became visible to workers or the user.
    fn abort(&self, addr: usize, lio: Option<LioId>, e: Errno) -> Refusal {
        let job = {
            let mut g = self.state.lock();
            let job = g.jobs.remove(&addr);
            if job.as_ref().is_some_and(|j| j.class.write) {
                g.writes -= 1;
            }
            self.put_slots(1);
            if let Some(id) = lio {
                if let Some(l) = g.lios.get_mut(&id) {
                    l.pending -= 1;
                }
            }
            if g.waiters > 0 {
                self.done.broadcast();
            }
            job
        };
        drop(job);
        Refusal::Error(e)
    }

    /// The first worker could not be started.  If no worker exists any
    /// more, nothing would ever run the queue: fail the queued jobs with
    /// EAGAIN rather than leave them hanging.
    fn worker_failed(&self) {
        let mut batch = Vec::new();
        {
            let mut g = self.state.lock();
            g.workers -= 1;
            g.idle -= 1;
            if g.workers == 0 {
                // No worker, so no job is polling: nobody to wake.
                Self::cancel_where(
                    &mut g,
                    &mut batch,
                    &mut Vec::new(),
                    super::proc::Select::All,
                );
            }
        }
        for r in batch.iter_mut() {
            r.result = JobResult::Failed(Errno::EAGAIN);
        }
        self.retire(&mut batch, false);
    }

    /// Takes `n` job slots against the per-process and system limits, or
    /// none (EAGAIN).
    pub(crate) fn take_slots(&self, n: usize) -> Result<(), Errno> {
        let max = self.sys.listio_max();
        self.slots
            .fetch_update(AcqRel, Acquire, |s| s.checked_add(n).filter(|&t| t <= max))
            .map_err(|_| Errno::EAGAIN)?;
        if let Err(e) = self.sys.reserve(n) {
            self.slots.fetch_sub(n, AcqRel);
            return Err(e);
        }
        Ok(())
    }

    /// Gives back `n` slots taken by [`take_slots`](Self::take_slots).
    pub(crate) fn put_slots(&self, n: usize) {
        let prev = self.slots.fetch_sub(n, AcqRel);
        debug_assert!(prev >= n, "process slot count underflow");
        self.sys.release(n);
    }

    /// `aio_read(2)` and `aio_write(2)`.
    pub fn submit_rw(&self, p: UserPtr<Aiocb>, write: bool) -> Result<(), Errno> {
        let req = self.os.copyin_aiocb(p)?;
        if !write && self.read_inline(p, &req, &mut { INLINE_CALL_BYTES }) {
            self.submitted();
            return Ok(());
        }
        let op = if write { JobOp::Write } else { JobOp::Read };
        let prepared = self.prepare(p, &req, op)?;
        self.enqueue(prepared, req.status).map_err(Refusal::errno)?;
        self.submitted();
        Ok(())
    }

    /// Completes a positioned read at once when the data is already in
    /// memory ([`Os::read_nowait`]), with no job, worker or hand-off: the
    /// result is published and notified before `aio_read` returns, which
    /// POSIX allows.  Only plain reads qualify (streams and ordered jobs
    /// take the queue), only when the aiocb is not in flight, and only while
    /// the process has no write in flight that the read might have to wait
    /// for ([`Class`]); anything unusual, including every error, takes the
    /// normal path, which reports it.  The copy is bounded: a request of
    /// more than [`INLINE_REQUEST_BYTES`], or one that would take the
    /// call's inline work (`budget`, from [`INLINE_CALL_BYTES`]) below
    /// zero, goes to a worker, so that the caller never waits long for a
    /// copy: that is what AIO is for.
    pub(crate) fn read_inline(
        &self,
        p: UserPtr<Aiocb>,
        req: &AiocbReq,
        budget: &mut usize,
    ) -> bool {
        if req.offset < 0
            || req.nbytes > INLINE_REQUEST_BYTES.min(*budget)
            || check_io_fields(req).is_err()
            || self.outstanding.load(Relaxed) >= self.sys.inline_limit()
        {
            return false;
        }
        let Ok(notify) = validate_sigevent(&self.os, &req.sigevent) else {
            return false;
        };
        {
            let g = self.state.lock();
            if g.exiting
                || g.jobs.contains_key(&p.addr())
                || !Self::no_write_in_the_way(&g, req.fildes, req.offset, req.nbytes)
            {
                return false;
            }
        }
        let Some(n) = self
            .os
            .read_nowait(req.fildes, req.buf, req.nbytes, req.offset)
        else {
            return false;
        };
        *budget -= req.nbytes;
        self.publish(p, JobResult::Done(n));
        self.os.notify(&notify);
        true
    }

    /// Whether a read of `nbytes` at `off` of descriptor `fd` has no write
    /// in flight to wait for ([`Class::waits_for`]): none in the table, or
    /// only positioned writes submitted on the same descriptor to other
    /// byte ranges (a program keeping reads and writes in flight on one
    /// file, the common case).  A write submitted on another descriptor
    /// may be to the same file (a dup, another open), which only its file
    /// reference could tell: then the read is queued, as are reads while
    /// more than [`INLINE_WRITE_SCAN`] writes are in flight (the look
    /// stays short).
    fn no_write_in_the_way(g: &ProcState<O>, fd: i32, off: i64, nbytes: usize) -> bool {
        if g.writes == 0 {
            return true;
        }
        if g.writes > INLINE_WRITE_SCAN {
            return false;
        }
        let (start, end) = (off as u64, (off as u64).saturating_add(nbytes as u64));
        // Every write is looked at once; the look ends with the last one.
        g.jobs
            .values()
            .filter(|j| j.class.write)
            .take(g.writes)
            .all(|j| {
                j.fd == fd
                    && j.class.order == Order::Free
                    && (j.class.span.1 <= start || end <= j.class.span.0)
            })
    }

    /// `aio_fsync(2)`: a barrier behind every job queued before it on the
    /// same file.
    pub fn submit_fsync(&self, kind: SyncKind, p: UserPtr<Aiocb>) -> Result<(), Errno> {
        let req = self.os.copyin_aiocb(p)?;
        let prepared = self.prepare(p, &req, JobOp::Sync(kind))?;
        self.enqueue(prepared, req.status).map_err(Refusal::errno)?;
        self.submitted();
        Ok(())
    }
}

/// `aio_error(2)`, from the aiocb.
///
/// A finished job's result is read without a lock (POSIX makes aio_error
/// async-signal-safe, and completion handlers call it): `_state` becomes
/// JOB_DONE only once `_errno`/`_retval` hold the result (see
/// [`AioProc::publish`]).  JOB_WIP is confirmed against the process's
/// table: an aiocb that claims to be in progress but is not this process's
/// job (a forked child looking at its parent's) is EINVAL.
pub fn aio_error<O: Os>(
    os: &O,
    proc: Option<&AioProc<O>>,
    p: UserPtr<Aiocb>,
) -> Result<isize, Errno> {
    let mut status = os.copyin_status(p)?;
    if status.0 == JOB_WIP {
        // The token in `_retval` vouches for a job of this process on this
        // aiocb (see `AioProc::wip_token`) until exit begins (its jobs may
        // then end unpublished); anything else asks the table.
        if proc.is_some_and(|a| a.vouches(p, status.2) || a.in_flight(p)) {
            return Ok(Errno::EINPROGRESS.get() as isize);
        }
        // Not in the table: either never ours, or it finished since we
        // looked, and then its JOB_DONE is visible now (it is published
        // before the job leaves the table).
        status = os.copyin_status(p)?;
    }
    match status {
        (JOB_DONE, error, _) => Ok(error.map_or(0, |e| e.get() as isize)),
        _ => Err(Errno::EINVAL),
    }
}

/// `aio_return(2)`: the result, once; the aiocb then reads as never
/// submitted.  Lock-free like [`aio_error`].
pub fn aio_return<O: Os>(os: &O, p: UserPtr<Aiocb>) -> Result<isize, Errno> {
    let (state, _, retval) = os.copyin_status(p)?;
    if state != JOB_DONE {
        return Err(Errno::EINVAL);
    }
    os.copyout_state(p, JOB_NONE)?;
    Ok(retval)
}
