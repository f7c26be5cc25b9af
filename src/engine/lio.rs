//! `lio_listio(2)`: queue a list of jobs, optionally wait for all of them.
//!
//! Every entry is copied in before any is queued, and the slots for the
//! whole list are taken at once, so `EAGAIN` means nothing was queued;
//! each entry then says so itself (`aio_error` gives EAGAIN, as POSIX
//! describes for a request not queued for lack of resources), except an
//! aiocb already in flight.  After that each entry succeeds or fails on its own: a failed entry gets
//! its error published into its aiocb (except an aiocb already in flight,
//! whose fields belong to that job) and the call returns `EIO`.  The list
//! keeps one extra pending count while entries are being queued, so its
//! notification cannot fire before the last entry is in, and its entries
//! reach the workers together once all are in: none has started (nor, with
//! `LIO_NOWAIT`, finished) while the caller is still inside the call.

use alloc::vec::Vec;

use crate::abi::{JOB_WIP, LIO_NOP, LIO_NOWAIT, LIO_READ, LIO_WAIT, LIO_WRITE};
use crate::errno::Errno;
use crate::os::{Aiocb, AiocbReq, Notify, Os, Sigevent, Sleep, UserPtr, Wakeup};

use super::job::{JobOp, JobResult, LioId};
use super::limits::INLINE_CALL_BYTES;
use super::proc::{AioProc, Lio};
use super::submit::{validate_sigevent, Refusal, Seen};

/// An entry of the list after copyin.
enum Entry {
    Job(UserPtr<Aiocb>, AiocbReq),
    /// The aiocb itself could not be read: nothing can be published there.
    Unreadable,
}

impl<O: Os> AioProc<O> {
    /// `lio_listio(mode, list, nent, sig)`.
    pub fn lio_listio(
        &self,
        mode: i32,
        list: UserPtr<UserPtr<Aiocb>>,
        nent: i32,
        sig: UserPtr<Sigevent>,
    ) -> Result<isize, Errno> {
        let wait = match mode {
            LIO_WAIT => true,
            LIO_NOWAIT => false,
            _ => return Err(Errno::EINVAL),
        };
        let n = usize::try_from(nent).map_err(|_| Errno::EINVAL)?;
        if n > self.sys.listio_max() {
            return Err(Errno::EINVAL);
        }
        // POSIX ignores `sig` for LIO_WAIT.
        let notify = if wait || sig.is_null() {
            Notify::None
        } else {
            validate_sigevent(&self.os, &self.os.copyin_sigevent(sig)?)?
        };
        let mut ptrs = Vec::new();
        ptrs.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        ptrs.resize(n, UserPtr::null());
        self.os.copyin_aiocb_list(list, &mut ptrs)?;

        let mut entries = Vec::new();
        entries.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        // Addresses of the entries reserved, released to the workers
        // together once all are in.
        let mut reserved = Vec::new();
        reserved.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        for p in ptrs.into_iter().filter(|p| !p.is_null()) {
            match self.os.copyin_aiocb(p) {
                Ok(r) if r.opcode == LIO_NOP => {}
                Ok(r) => entries.push(Entry::Job(p, r)),
                Err(_) => entries.push(Entry::Unreadable),
            }
        }

        let id = {
            let mut g = self.state.lock();
            if g.exiting {
                return Err(Errno::EAGAIN);
            }
            if let Err(e) = self.take_slots(entries.len()) {
                drop(g);
                for entry in &entries {
                    match entry {
                        Entry::Job(p, req) if req.status.0 != JOB_WIP => {
                            self.publish(*p, JobResult::Failed(e));
                            // A result for aio_return to collect.
                            self.submitted();
                        }
                        _ => {}
                    }
                }
                return Err(e);
            }
            let id = g.next_lio;
            g.next_lio += 1;
            g.lios.insert(
                id,
                Lio {
                    pending: 1,
                    failed: false,
                    notify,
                    waiter: wait,
                },
            );
            id
        };

        let mut failed = false;
        let mut queued = 0usize;
        // One call's inline work is bounded as a whole (INLINE_CALL_BYTES).
        let mut inline_budget = INLINE_CALL_BYTES;
        for e in entries {
            match self.submit_entry(e, id, &mut inline_budget) {
                Ok(r) => {
                    queued += 1;
                    reserved.extend(r);
                }
                Err(_) => failed = true,
            }
        }
        self.release(&reserved);

        // Drop the submission guard.
        let note = {
            let mut g = self.state.lock();
            if queued == 0 && failed && !wait {
                // Nothing will complete: no list notification for a list
                // that was refused entirely.
                g.lios.remove(&id);
                None
            } else {
                // The caller itself is the LIO_WAIT waiter, if any: no one
                // to wake.
                Self::lio_account(&mut g, id, failed).0
            }
        };
        if let Some(n) = note {
            self.os.notify(&n);
        }

        if !wait {
            return if failed { Err(Errno::EIO) } else { Ok(0) };
        }
        self.lio_wait(id)
    }

    /// Reserves one entry of list `id`, whose slot is already taken;
    /// returns its address for [`AioProc::release`], or `None` if it
    /// completed inline.
    fn submit_entry(
        &self,
        e: Entry,
        id: LioId,
        inline_budget: &mut usize,
    ) -> Result<Option<usize>, Refusal> {
        let (p, req) = match e {
            Entry::Job(p, req) => (p, req),
            Entry::Unreadable => {
                self.put_slots(1);
                return Err(Refusal::Error(Errno::EFAULT));
            }
        };
        if req.opcode == LIO_READ && self.read_inline(p, &req, inline_budget) {
            // Done already: the slot taken for it is not needed.
            self.put_slots(1);
            self.submitted();
            return Ok(None);
        }
        let op = match req.opcode {
            LIO_READ => Ok(JobOp::Read),
            LIO_WRITE => Ok(JobOp::Write),
            _ => Err(Errno::EINVAL),
        };
        let r = match op.and_then(|op| self.prepare(p, &req, op)) {
            Ok(prepared) => {
                let seen = if req.status.0 == JOB_WIP {
                    Seen::Wip
                } else {
                    Seen::Unmarked
                };
                self.reserve(prepared, Some(id), true, seen)
            }
            Err(e) => {
                self.put_slots(1);
                Err(Refusal::Error(e))
            }
        };
        if let Err(Refusal::Error(e)) = r {
            self.publish(p, JobResult::Failed(e));
        }
        if !matches!(r, Err(Refusal::InUse)) {
            // A result (or the entry's error) for aio_return to collect.
            self.submitted();
        }
        r
    }

    /// `LIO_WAIT`: sleep until list `id` has no job left.
    fn lio_wait(&self, id: LioId) -> Result<isize, Errno> {
        let mut g = self.state.lock();
        loop {
            let Some(l) = g.lios.get(&id) else {
                debug_assert!(false, "waited-for list vanished");
                return Err(Errno::EIO);
            };
            if l.pending == 0 {
                let failed = l.failed;
                g.lios.remove(&id);
                return if failed { Err(Errno::EIO) } else { Ok(0) };
            }
            g.waiters += 1;
            let w = self
                .done
                .wait(&mut g, Sleep::Interruptible { timeout_ns: None });
            g.waiters -= 1;
            if w == Wakeup::Interrupted {
                // The jobs go on; the last one to finish removes the list.
                if let Some(l) = g.lios.get_mut(&id) {
                    l.waiter = false;
                    if l.pending == 0 {
                        g.lios.remove(&id);
                    }
                }
                return Err(Errno::EINTR);
            }
        }
    }
}
