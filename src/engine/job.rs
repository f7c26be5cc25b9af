//! One AIO job and its life cycle.
//!
//! A job exists in the per-process table from the moment its submission is
//! accepted until its result has been published into the user's aiocb.  The
//! table is not a list of completed jobs: a job leaves it the moment the user
//! can see its result, and from then on the result lives only in the aiocb.
//!
//! ```text
//!              reserve               enqueue              pick
//!   (none) ────────────► Reserved ────────────► Queued ────────► Running
//!                         │  ▲  │                  │              │  ▲  │
//!                 cancel  └──┘  │ enqueue          │ cancel  park │  │  │ I/O done
//!           (flag is set) │     │ (flag set)       │              ▼  │  │
//!                         │     │                  │        Polling ─┘  │
//!                         │     │                  │      │  ▲ ready    │
//!                         │     │                  │      │  └─┐        │
//!                         │     │                  │ cancel,  │ cancel, │
//!                         │     │                  │ nothing  │ partial │
//!                         │     │                  │ written  │ (stop)  │
//!                         │     │                  ▼      ▼             ▼
//!                         │     └─────────────► Finishing ◄─────────────┘
//!                   abort │                        │ publish, then remove
//!                         ▼                        ▼
//!                      (none)                   (none)
//! ```
//!
//! * `Reserved`: the submitter has a table slot and is writing `JOB_WIP`
//!   into the aiocb (a copyout, so outside the lock); workers cannot see it.
//!   A cancel here only sets a flag; the submitter then finishes the job as
//!   cancelled instead of queueing it.  `abort` is the submitter backing out
//!   (the copyout failed).  A job whose aiocb was marked before the lock
//!   was taken passes through `Reserved` to `Queued` in one lock pass.
//! * `Queued`: on the run queue.  Cancel moves it straight to `Finishing`.
//! * `Running`: a worker owns the I/O.  It cannot be cancelled.  When the
//!   I/O returns the worker publishes the result (outside the lock), then
//!   applies `IoDone` and removes the job in one lock pass.
//! * `Polling`: a worker holds a stream job (pipe, socket) whose stream was
//!   not ready, and waits for it without being committed to any I/O
//!   (`Os::wait_ready`, on hosts that can).  Cancel ends the wait: with
//!   nothing transferred the job goes to `Finishing` (ECANCELED, published
//!   by the canceller; the worker finds it gone and lets it be); a write
//!   that has transferred part of its bytes is stopped instead and
//!   completes with that short count (aio_cancel answers AIO_NOTCANCELED,
//!   as for any job that completes rather than being cancelled).  `ready`
//!   takes it back to `Running` for the next non-blocking attempt.
//! * `Finishing`: the result is fixed; a canceller publishes it (outside
//!   the lock), sends its notification and removes the job.
//!
//! A job whose result is out leaves the table within moments.  A
//! resubmission of the same aiocb (after `aio_return` saw the result)
//! waits that moment: for a `Finishing` job, and for a `Running` one when
//! the aiocb no longer said `JOB_WIP` (see `reserve` in `submit.rs`).
//!
//! [`JobState::next`] is the only place a state changes.

use alloc::sync::Arc;

use crate::errno::Errno;
use crate::os::{FileInfo, Notify, Os, SyncKind};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Slot taken, aiocb being marked in progress; `cancel` records a cancel
    /// that arrived meanwhile.
    Reserved {
        /// A cancel request arrived before the job was queued.
        cancel: bool,
    },
    /// Waiting for a worker.
    Queued,
    /// A worker is performing the I/O.
    Running,
    /// A worker waits for the job's stream to be ready, committed to no
    /// I/O: cancellable.
    Polling {
        /// Part of a write is transferred: a cancel stops the job with the
        /// short count instead of cancelling it.
        partial: bool,
        /// A cancel asked the worker to stop with the short count.
        stop: bool,
    },
    /// Result decided and being published.
    Finishing,
}

/// What happens to a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The submitter has marked the aiocb and hands the job to the workers.
    Enqueue,
    /// A worker takes the job.
    Pick,
    /// The worker's I/O returned.
    IoDone,
    /// The worker found the stream not ready and waits for it; `partial`:
    /// part of a write is transferred already.
    Park {
        /// Part of a write is transferred.
        partial: bool,
    },
    /// The worker's wait for the stream ended (ready, or woken by cancel).
    Ready,
    /// `aio_cancel` or process exit.
    Cancel,
}

/// An event that the current state does not allow.  For `Cancel` this is an
/// answer, not a bug: `Running` means AIO_NOTCANCELED and `Finishing` means
/// AIO_ALLDONE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused;

impl JobState {
    /// The state after `ev`, or `Refused`.
    pub fn next(self, ev: Event) -> Result<JobState, Refused> {
        use Event::*;
        use JobState::*;
        match (self, ev) {
            (Reserved { cancel: false }, Enqueue) => Ok(Queued),
            (Reserved { cancel: true }, Enqueue) => Ok(Finishing),
            (Reserved { .. }, Cancel) => Ok(Reserved { cancel: true }),
            (Queued, Pick) => Ok(Running),
            (Queued, Cancel) => Ok(Finishing),
            (Running, IoDone) => Ok(Finishing),
            (Running, Park { partial }) => Ok(Polling {
                partial,
                stop: false,
            }),
            (Polling { .. }, Ready) => Ok(Running),
            (Polling { partial: false, .. }, Cancel) => Ok(Finishing),
            (Polling { partial: true, .. }, Cancel) => Ok(Polling {
                partial: true,
                stop: true,
            }),
            _ => Err(Refused),
        }
    }
}

/// What the job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOp {
    /// `aio_read` or `LIO_READ`.
    Read,
    /// `aio_write` or `LIO_WRITE`.
    Write,
    /// `aio_fsync`.
    Sync(SyncKind),
}

/// How a job is ordered against earlier jobs on the same open file.
///
/// POSIX lets positioned I/O on one file run in any order; it does not let
/// an fsync overtake what came before it, appends reorder, or a stream's
/// bytes be taken out of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// No constraint.
    Free,
    /// Stream I/O (pipe, socket, tty): after every earlier stream job.
    Stream,
    /// Append-mode write: after every earlier append.
    Append,
    /// `aio_fsync`: after every earlier job.
    Barrier,
}

impl Order {
    /// Whether a job of class `self` must wait for an earlier job of class
    /// `earlier` on the same file.
    pub fn waits_for(self, earlier: Order) -> bool {
        match self {
            Order::Free => false,
            Order::Barrier => true,
            Order::Stream => earlier == Order::Stream,
            Order::Append => earlier == Order::Append,
        }
    }
}

/// Everything that decides whether a job may start before an earlier job
/// on the same file: its ordering class and the bytes it touches.
///
/// Besides the [`Order`] rules, jobs whose byte ranges overlap where at
/// least one of them writes run in submission order (a read sees the
/// write queued before it; of overlapping writes the last one queued
/// wins), as they would on NetBSD's single worker.  POSIX leaves this
/// unspecified, but a program that queues overlapping writes in one
/// `lio_listio` expects the file to end up deterministic, and jobs that do
/// not overlap lose no parallelism to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Class {
    /// The ordering class.
    pub order: Order,
    /// The job writes to the file.
    pub write: bool,
    /// A positioned write to a file whose writes exclude each other in the
    /// host ([`FileInfo::writes_serialize`]): it runs after earlier such
    /// writes, never beside them.
    pub serial: bool,
    /// The file's I/O is a memory copy ([`FileInfo::memory`]): CPU work.
    pub memory: bool,
    /// Bytes `[start, end)` of the file the job touches; empty for jobs
    /// without a range (streams, syncs).  Appends touch the end of the
    /// file, wherever it is when they run: `[0, u64::MAX)`.
    pub span: (u64, u64),
}

impl Class {
    /// The class of a read or write at `offset` (`None`: a stream or an
    /// append) of `nbytes` bytes, or of a sync, on the file `info`
    /// describes.
    pub fn new(
        op: JobOp,
        order: Order,
        offset: Option<i64>,
        nbytes: usize,
        info: &FileInfo,
    ) -> Class {
        let span = match (op, order, offset) {
            (JobOp::Sync(_), _, _) | (_, Order::Stream, _) => (0, 0),
            (_, Order::Append, _) => (0, u64::MAX),
            // `prepare` refused negative offsets of positioned jobs.
            (_, _, Some(o)) => {
                let start = o as u64;
                (start, start.saturating_add(nbytes as u64))
            }
            (_, _, None) => (0, 0),
        };
        let write = op == JobOp::Write;
        Class {
            order,
            write,
            serial: write && order == Order::Free && info.writes_serialize,
            memory: info.memory,
            span,
        }
    }

    /// Whether a job of this class must wait for an earlier job of class
    /// `earlier` on the same file.
    pub fn waits_for(&self, earlier: &Class) -> bool {
        self.order.waits_for(earlier.order)
            || (self.serial && earlier.serial)
            || self.overlaps_write(earlier)
    }

    /// A read-after-write, write-after-read or write-after-write hazard
    /// (an empty range overlaps nothing).
    fn overlaps_write(&self, other: &Class) -> bool {
        let ((a0, a1), (b0, b1)) = (self.span, other.span);
        (self.write || other.write) && a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1
    }
}

/// A job's outcome: what `aio_error` and `aio_return` will report.  This is
/// the job's result, distinct from any error of the syscall that queued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobResult {
    /// Transferred this many bytes (0 for a sync).
    Done(usize),
    /// The I/O failed with this errno.
    Failed(Errno),
    /// Cancelled before it started.
    Canceled,
}

impl JobResult {
    /// The `_errno`/`_retval` pair the user sees.
    pub fn user_fields(self) -> (Option<Errno>, isize) {
        match self {
            // The count came from a request of at most SSIZE_MAX bytes.
            JobResult::Done(n) => (None, n as isize),
            JobResult::Failed(e) => (Some(e), -1),
            JobResult::Canceled => (Some(Errno::ECANCELED), -1),
        }
    }

    /// Whether the job failed (for `lio_listio`'s EIO).
    pub fn is_failure(self) -> bool {
        !matches!(self, JobResult::Done(_))
    }
}

/// Identity of a `lio_listio` list within its process.
pub type LioId = u64;

/// A job in the per-process table.
pub struct Job<O: Os> {
    /// Life-cycle state; change it only through [`Job::apply`].
    state: JobState,
    /// The descriptor it was submitted on, for `aio_cancel(fd, NULL)`.
    pub fd: i32,
    /// What to do.
    pub op: JobOp,
    /// What it waits for among earlier jobs with the same `key`.
    pub class: Class,
    /// Identity of the open file.
    pub key: usize,
    /// Notification on completion.
    pub notify: Notify,
    /// The `lio_listio` list the job belongs to.
    pub lio: Option<LioId>,
    /// The I/O: moved to the worker when it runs, dropped outside the lock
    /// when the job is cancelled.
    pub io: Option<Io<O>>,
    /// A thread sleeps until this job is gone (aio_suspend, or a
    /// resubmission of its aiocb): its removal must wake the waiters.
    pub waited: bool,
    /// While `Polling`: what ends the worker's wait, for a canceller to
    /// use once it has let the lock go.  It also tells the worker its job
    /// from another on the same aiocb address: a canceller that finishes
    /// the job takes it.
    pub waiter: Option<Arc<O::Waiter>>,
}

/// The part of a job a worker needs without holding the lock.
pub struct Io<O: Os> {
    /// The job's own reference to the file, taken at submission.
    pub file: O::File,
    /// User buffer.
    pub buf: usize,
    /// Byte count.
    pub nbytes: usize,
    /// File offset; `None` for streams and appends.
    pub offset: Option<i64>,
}

impl<O: Os> Job<O> {
    /// A job in state `Reserved`.
    pub fn new(
        fd: i32,
        op: JobOp,
        class: Class,
        key: usize,
        notify: Notify,
        lio: Option<LioId>,
        io: Io<O>,
    ) -> Self {
        Job {
            state: JobState::Reserved { cancel: false },
            fd,
            op,
            class,
            key,
            notify,
            lio,
            io: Some(io),
            waited: false,
            waiter: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> JobState {
        self.state
    }

    /// Applies `ev` through the transition function.
    pub fn apply(&mut self, ev: Event) -> Result<JobState, Refused> {
        let s = self.state.next(ev)?;
        self.state = s;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Event::*;
    use JobState::*;

    const P00: JobState = Polling {
        partial: false,
        stop: false,
    };
    const P10: JobState = Polling {
        partial: true,
        stop: false,
    };
    const P11: JobState = Polling {
        partial: true,
        stop: true,
    };
    const STATES: [JobState; 8] = [
        Reserved { cancel: false },
        Reserved { cancel: true },
        Queued,
        Running,
        P00,
        P10,
        P11,
        Finishing,
    ];
    const EVENTS: [Event; 7] = [
        Enqueue,
        Pick,
        IoDone,
        Cancel,
        Park { partial: false },
        Park { partial: true },
        Ready,
    ];

    #[test]
    fn transition_table_is_exactly_the_diagram() {
        let allowed = [
            (Reserved { cancel: false }, Enqueue, Queued),
            (Reserved { cancel: true }, Enqueue, Finishing),
            (
                Reserved { cancel: false },
                Cancel,
                Reserved { cancel: true },
            ),
            (Reserved { cancel: true }, Cancel, Reserved { cancel: true }),
            (Queued, Pick, Running),
            (Queued, Cancel, Finishing),
            (Running, IoDone, Finishing),
            (Running, Park { partial: false }, P00),
            (Running, Park { partial: true }, P10),
            (P00, Ready, Running),
            (P10, Ready, Running),
            (P11, Ready, Running),
            (P00, Cancel, Finishing),
            (P10, Cancel, P11),
            (P11, Cancel, P11),
        ];
        for s in STATES {
            for e in EVENTS {
                let want = allowed
                    .iter()
                    .find(|(a, b, _)| *a == s && *b == e)
                    .map(|t| t.2);
                assert_eq!(s.next(e).ok(), want, "{s:?} on {e:?}");
            }
        }
    }

    #[test]
    fn running_and_finishing_jobs_refuse_cancel() {
        assert_eq!(Running.next(Cancel), Err(Refused));
        assert_eq!(Finishing.next(Cancel), Err(Refused));
    }

    #[test]
    fn ordering_rules() {
        use Order::*;
        assert!(Barrier.waits_for(Free));
        assert!(Barrier.waits_for(Append));
        assert!(Stream.waits_for(Stream));
        assert!(Append.waits_for(Append));
        assert!(!Append.waits_for(Free));
        assert!(!Free.waits_for(Barrier));
        assert!(!Free.waits_for(Free));
    }

    fn info(writes_serialize: bool) -> FileInfo {
        FileInfo {
            readable: true,
            writable: true,
            append: false,
            seekable: true,
            key: 1,
            writes_serialize,
            memory: false,
        }
    }

    #[test]
    fn overlapping_ranges_order_when_one_side_writes() {
        let rd = |off, n| Class::new(JobOp::Read, Order::Free, Some(off), n, &info(false));
        let wr = |off, n| Class::new(JobOp::Write, Order::Free, Some(off), n, &info(false));
        // Reads never wait for reads.
        assert!(!rd(0, 10).waits_for(&rd(0, 10)));
        // Overlap with a write, in either direction.
        assert!(wr(0, 10).waits_for(&wr(5, 10)));
        assert!(rd(9, 1).waits_for(&wr(0, 10)));
        assert!(wr(0, 10).waits_for(&rd(9, 1)));
        // Adjacent ranges do not overlap; empty ranges overlap nothing.
        assert!(!wr(10, 10).waits_for(&wr(0, 10)));
        assert!(!wr(5, 0).waits_for(&wr(0, 10)));
        // An offset near the top does not wrap around.
        assert!(!wr(i64::MAX, usize::MAX).waits_for(&wr(0, 10)));
        // A read waits for an earlier append: it may read what it adds.
        let app = Class::new(JobOp::Write, Order::Append, None, 1, &info(false));
        assert!(rd(1 << 40, 1).waits_for(&app));
        // Streams and syncs have no range; syncs wait by their order.
        let st = Class::new(JobOp::Write, Order::Stream, None, 1, &info(false));
        let sy = Class::new(
            JobOp::Sync(SyncKind::Data),
            Order::Barrier,
            None,
            0,
            &info(false),
        );
        assert!(!st.waits_for(&wr(0, 10)) && !wr(0, 10).waits_for(&st));
        // Writes to a file whose writes serialize in the host queue up
        // behind each other; reads beside them do not.
        let sw = |off, n| Class::new(JobOp::Write, Order::Free, Some(off), n, &info(true));
        let sr = Class::new(JobOp::Read, Order::Free, Some(100), 1, &info(true));
        assert!(sw(0, 1).waits_for(&sw(50, 1)));
        assert!(!sr.waits_for(&sw(0, 1)) && !sw(0, 1).waits_for(&sr));
        assert!(!sw(0, 1).waits_for(&wr(50, 1)));
        assert_eq!(sy.span, (0, 0));
        assert!(!rd(0, 1).waits_for(&sy));
        assert!(sy.waits_for(&rd(0, 1)));
    }

    #[test]
    fn user_fields() {
        assert_eq!(JobResult::Done(7).user_fields(), (None, 7));
        assert_eq!(
            JobResult::Failed(Errno::EBADF).user_fields(),
            (Some(Errno::EBADF), -1)
        );
        assert_eq!(
            JobResult::Canceled.user_fields(),
            (Some(Errno::ECANCELED), -1)
        );
        assert!(JobResult::Canceled.is_failure());
        assert!(!JobResult::Done(0).is_failure());
    }
}
