//! Engine tests through the syscall layer, against the fake OS (NetBSD
//! aiocb layout, NetBSD numbering).  The fake asserts the lock rules on
//! every copyin, copyout, file I/O, file release and notification.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};
use std::vec;
use std::vec::Vec;

use crate::abi::netbsd_aiocb as L;
use crate::abi::*;
use crate::errno::Errno;
use crate::fakeos::{interrupt_next_wait, FakeHost, Kind};
use crate::os::{Aiocb, Notify, SyncKind, UserPtr};
use crate::syscalls::ProcHost as _;
use crate::syscalls::*;

fn host() -> FakeHost {
    FakeHost::new()
}

/// Polls aio_error until the job is no longer in progress.
fn wait_done(h: &FakeHost, p: UserPtr<Aiocb>) -> isize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = sys_aio_error(h, p).expect("aio_error");
        if e != Errno::EINPROGRESS.get() as isize {
            return e;
        }
        assert!(Instant::now() < deadline, "job never completed");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The job ended cancelled: ECANCELED, and -1 from aio_return.
fn assert_cancelled(h: &FakeHost, p: UserPtr<Aiocb>) {
    assert_eq!(sys_aio_error(h, p), Ok(Errno::ECANCELED.get() as isize));
    assert_eq!(sys_aio_return(h, p), Ok(-1));
}

/// Exactly one notification came (waiting for it): this signal.
fn assert_one_signal(h: &FakeHost, signo: i32, value: usize) {
    assert_eq!(h.os.wait_notes(1), vec![Notify::Signal { signo, value }]);
}

/// The references jobs hold on a file once they let go: a worker releases
/// its job's reference just after the result is visible, so this waits
/// (10 s at most) for the count to reach 0.
fn settled(refs: impl Fn() -> usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while refs() != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    refs()
}

fn regular(h: &FakeHost, data: &[u8]) -> i32 {
    h.os.open(Kind::Regular, true, true, false, data)
}

#[test]
fn read_round_trip_and_user_fields_untouched() {
    let h = host();
    let fd = regular(&h, b"0123456789abcdef");
    let buf = h.os.alloc(8);
    let p = h.os.aiocb(fd, 0, buf, 8, 4);
    let before = h.os.peek(p.addr(), 72);
    assert_eq!(sys_aio_read(&h, p), Ok(0));
    assert_eq!(wait_done(&h, p), 0);
    assert_eq!(h.os.peek(buf, 8), b"456789ab");
    assert_eq!(h.os.peek(p.addr(), 72), before, "user fields changed");
    assert_eq!(sys_aio_return(&h, p), Ok(8));
    // Second aio_return, and aio_error after it: the aiocb is collected.
    assert_eq!(sys_aio_return(&h, p), Err(Errno::EINVAL));
    assert_eq!(sys_aio_error(&h, p), Err(Errno::EINVAL));
    assert_eq!(settled(|| h.os.refs(fd)), 0, "file reference leaked");
}

#[test]
fn write_then_short_read_at_eof() {
    let h = host();
    let fd = regular(&h, b"");
    let src = h.os.alloc(5);
    h.os.poke(src, b"hello");
    let w = h.os.aiocb(fd, 0, src, 5, 10);
    sys_aio_write(&h, w).unwrap();
    assert_eq!(wait_done(&h, w), 0);
    assert_eq!(sys_aio_return(&h, w), Ok(5));
    assert_eq!(&h.os.contents(fd)[10..], b"hello");
    let dst = h.os.alloc(64);
    let r = h.os.aiocb(fd, 0, dst, 64, 12);
    sys_aio_read(&h, r).unwrap();
    assert_eq!(wait_done(&h, r), 0);
    assert_eq!(sys_aio_return(&h, r), Ok(3));
    assert_eq!(h.os.peek(dst, 3), b"llo");
}

#[test]
fn never_submitted_aiocb() {
    let h = host();
    let p = h.os.aiocb(3, 0, 0, 0, 0);
    assert_eq!(sys_aio_error(&h, p), Err(Errno::EINVAL));
    assert_eq!(sys_aio_return(&h, p), Err(Errno::EINVAL));
    assert_eq!(sys_aio_error(&h, UserPtr::new(8)), Err(Errno::EFAULT));
}

#[test]
fn submission_errors() {
    let h = host();
    let fd = regular(&h, b"data");
    let ro = h.os.open(Kind::Regular, true, false, false, b"x");
    let wo = h.os.open(Kind::Regular, false, true, false, b"x");
    let buf = h.os.alloc(16);
    let p = h.os.aiocb(fd, 0, buf, 4, -1);
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EINVAL), "negative offset");
    h.os.set_aiocb(p, fd, 0, buf, SSIZE_MAX + 1, 0);
    assert_eq!(
        sys_aio_read(&h, p),
        Err(Errno::EINVAL),
        "nbytes > SSIZE_MAX"
    );
    h.os.set_aiocb(p, fd, 0, buf, 4, 0);
    h.os.set_reqprio(p, -1);
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EINVAL), "reqprio");
    h.os.set_reqprio(p, AIO_PRIO_DELTA_MAX + 1);
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EINVAL), "reqprio");
    h.os.set_reqprio(p, 0);
    h.os.set_sigevent(p, 12345, 0, 0);
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EINVAL), "notify");
    h.os.set_sigevent(p, SIGEV_SIGNAL, 0, 0);
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EINVAL), "signo 0");
    h.os.set_sigevent(p, SIGEV_SIGNAL, NSIG, 0);
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EINVAL), "signo NSIG");
    h.os.set_sigevent(p, SIGEV_THREAD, 0, 0);
    assert_eq!(
        sys_aio_read(&h, p),
        Err(Errno::EINVAL),
        "no SIGEV_THREAD in this host"
    );
    h.os.set_sigevent(p, SIGEV_NONE, 0, 0);
    h.os.set_aiocb(p, -1, 0, buf, 4, 0);
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EBADF));
    h.os.set_aiocb(p, 99, 0, buf, 4, 0);
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EBADF));
    h.os.set_aiocb(p, wo, 0, buf, 4, 0);
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EBADF), "read on O_WRONLY");
    h.os.set_aiocb(p, ro, 0, buf, 4, 0);
    assert_eq!(sys_aio_write(&h, p), Err(Errno::EBADF), "write on O_RDONLY");
    assert_eq!(
        sys_aio_fsync(&h, O_SYNC, p),
        Err(Errno::EBADF),
        "fsync on O_RDONLY"
    );
    assert_eq!(sys_aio_fsync(&h, 0, p), Err(Errno::EINVAL), "fsync op");
    assert_eq!(sys_aio_read(&h, UserPtr::new(16)), Err(Errno::EFAULT));
    // None of the refused submissions touched the aiocb or leaked.
    assert_eq!(h.os.private(p).0, JOB_NONE);
    assert_eq!(h.sys.jobs(), 0);
    assert_eq!(settled(|| h.os.refs(fd) + h.os.refs(ro) + h.os.refs(wo)), 0);
}

#[test]
fn offset_is_ignored_for_streams_and_appends() {
    let h = host();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"xyz");
    let buf = h.os.alloc(3);
    let p = h.os.aiocb(pipe, 0, buf, 3, -5);
    sys_aio_read(&h, p).unwrap();
    assert_eq!(wait_done(&h, p), 0);
    assert_eq!(h.os.peek(buf, 3), b"xyz");
    let app = h.os.open(Kind::Regular, true, true, true, b"ab");
    let w = h.os.aiocb(app, 0, buf, 3, -5);
    sys_aio_write(&h, w).unwrap();
    assert_eq!(wait_done(&h, w), 0);
    assert_eq!(h.os.contents(app), b"abxyz");
}

#[test]
fn in_progress_aiocb_is_refused_and_left_alone() {
    let h = host();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    let buf = h.os.alloc(4);
    let p = h.os.aiocb(pipe, 0, buf, 4, 0);
    sys_aio_read(&h, p).unwrap();
    assert_eq!(sys_aio_error(&h, p), Ok(Errno::EINPROGRESS.get() as isize));
    let wip = h.os.private(p);
    assert_eq!((wip.0, wip.1), (JOB_WIP, Errno::EINPROGRESS.get()));
    assert!(wip.2 < -1, "_retval holds the in-progress token");
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EINVAL));
    assert_eq!(sys_aio_return(&h, p), Err(Errno::EINVAL), "still running");
    assert_eq!(h.os.private(p), wip);
    h.os.feed(pipe, b"abcd");
    assert_eq!(wait_done(&h, p), 0);
    assert_eq!(sys_aio_return(&h, p), Ok(4));
}

/// An aiocb that says `JOB_WIP` without being a job of this process in
/// flight (a forked child's copy, at the same address, of its parent's
/// aiocb; a copy at another address) is EINVAL for aio_error, whatever its
/// `_retval` holds: the in-progress token is tied to one process state
/// and one address.
#[test]
fn foreign_in_progress_aiocb_is_not_in_progress() {
    // The same allocations in the same order give the same addresses.
    let setup = |h: &FakeHost| {
        let pipe = h.os.open(Kind::Stream, true, true, false, b"");
        let p = h.os.aiocb(pipe, 0, h.os.alloc(4), 4, 0);
        (pipe, p)
    };
    let parent = host();
    let (pipe, p) = setup(&parent);
    sys_aio_read(&parent, p).unwrap();
    let image = parent.os.peek(p.addr(), L::SIZE);
    assert_eq!(parent.os.private(p).0, JOB_WIP);

    // A child with no AIO state, and one with its own.
    let child = FakeHost::with_sys(parent.sys);
    let (_, q) = setup(&child);
    assert_eq!(q.addr(), p.addr(), "the test needs the same address");
    child.os.poke(q.addr(), &image);
    assert_eq!(sys_aio_error(&child, q), Err(Errno::EINVAL));
    let fd = regular(&child, b"x");
    let r = child.os.aiocb(fd, 0, child.os.alloc(1), 1, 0);
    sys_aio_read(&child, r).unwrap();
    assert_eq!(wait_done(&child, r), 0);
    assert_eq!(sys_aio_error(&child, q), Err(Errno::EINVAL));

    // A copy at another address in the same process.
    let copy = UserPtr::new(parent.os.alloc(L::SIZE));
    parent.os.poke(copy.addr(), &image);
    assert_eq!(sys_aio_error(&parent, copy), Err(Errno::EINVAL));
    assert_eq!(
        sys_aio_error(&parent, p),
        Ok(Errno::EINPROGRESS.get() as isize)
    );
    parent.os.feed(pipe, b"abcd");
    assert_eq!(wait_done(&parent, p), 0);
}

/// A submission refused after its aiocb was marked in progress writes the
/// aiocb's old status back: an uncollected result stays collectable.
#[test]
fn refused_resubmission_leaves_the_old_result() {
    let h = host();
    h.sys.set_listio_max(1).unwrap();
    let fd = regular(&h, b"abc");
    let p = h.os.aiocb(fd, 0, h.os.alloc(3), 3, 0);
    sys_aio_read(&h, p).unwrap();
    assert_eq!(wait_done(&h, p), 0);
    let done = h.os.private(p);
    assert_eq!(done, (JOB_DONE, 0, 3));
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    let blocker = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, blocker).unwrap();
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EAGAIN));
    assert_eq!(h.os.private(p), done);
    assert_eq!(sys_aio_return(&h, p), Ok(3));
    h.os.feed(pipe, b"z");
    assert_eq!(wait_done(&h, blocker), 0);
}

/// A program that overwrites the status of an aiocb whose job is running
/// and submits it again waits for that job (it cannot tell a result that
/// is out from its own scribbling), interruptibly: a caught signal ends
/// the wait with EINTR, the aiocb is given back as the program left it,
/// and the running job finishes normally.
#[test]
fn resubmitting_an_overwritten_aiocb_in_flight_waits_interruptibly() {
    let h = host();
    let fd = regular(&h, b"ok");
    h.os.gate(fd, true);
    let buf = h.os.alloc(2);
    let p = h.os.aiocb(fd, 0, buf, 2, 0);
    sys_aio_read(&h, p).unwrap();
    // Until the worker has the job, a resubmission is a plain duplicate.
    h.os.wait_started(fd, 1);
    h.forget(p);
    interrupt_next_wait();
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EINTR));
    assert_eq!(h.os.private(p).0, JOB_NONE, "the program's status is back");
    h.os.gate(fd, false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.aio().unwrap().jobs() != 0 {
        assert!(Instant::now() < deadline, "the running job never ended");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(sys_aio_error(&h, p), Ok(0));
    assert_eq!(sys_aio_return(&h, p), Ok(2));
    assert_eq!(h.os.peek(buf, 2), b"ok");
}

#[test]
fn io_error_is_the_jobs_result_not_the_syscalls() {
    let h = host();
    let fd = regular(&h, b"abc");
    h.os.fail_next(fd, Errno::EIO);
    let buf = h.os.alloc(3);
    let p = h.os.aiocb(fd, 0, buf, 3, 0);
    assert_eq!(sys_aio_read(&h, p), Ok(0));
    assert_eq!(wait_done(&h, p), Errno::EIO.get() as isize);
    assert_eq!(sys_aio_return(&h, p), Ok(-1));
}

#[test]
fn close_while_in_flight_completes_on_the_original_file() {
    let h = host();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    let buf = h.os.alloc(4);
    let p = h.os.aiocb(pipe, 0, buf, 4, 0);
    sys_aio_read(&h, p).unwrap();
    let original = h.os.handle(pipe);
    h.os.close(pipe);
    // The descriptor number now names another file with other data.
    let other = h.os.open(Kind::Stream, true, true, false, b"WRONG");
    assert_eq!(other, pipe, "descriptor number reused");
    assert_eq!(sys_aio_error(&h, p), Ok(Errno::EINPROGRESS.get() as isize));
    original.feed(b"late");
    assert_eq!(wait_done(&h, p), 0);
    assert_eq!(sys_aio_return(&h, p), Ok(4));
    assert_eq!(h.os.peek(buf, 4), b"late");
    assert_eq!(h.os.contents(other), b"WRONG");
    assert_eq!(
        settled(|| original.refs()),
        0,
        "job kept the file after completing"
    );
}

#[test]
fn cancel_queued_running_and_done() {
    let h = host();
    // One worker, so that later jobs wait in the queue behind a gated one.
    h.sys.set_max_workers(1).unwrap();
    let fd = regular(&h, b"0123456789");
    h.os.gate(fd, true);
    let b1 = h.os.alloc(4);
    let b2 = h.os.alloc(4);
    let p1 = h.os.aiocb(fd, 0, b1, 4, 0);
    let p2 = h.os.aiocb(fd, 0, b2, 4, 4);
    h.os.set_sigevent(p2, SIGEV_SIGNAL, 30, 0xbeef);
    sys_aio_read(&h, p1).unwrap();
    h.os.wait_started(fd, 1); // p1 is running, held at the gate
    sys_aio_read(&h, p2).unwrap(); // p2 is queued behind it (one worker)
    assert_eq!(sys_aio_cancel(&h, fd, p1), Ok(AIO_NOTCANCELED));
    assert_eq!(sys_aio_cancel(&h, fd, p2), Ok(AIO_CANCELED));
    assert_cancelled(&h, p2);
    // The cancelled job's notification is still delivered.
    assert_one_signal(&h, 30, 0xbeef);
    h.os.gate(fd, false);
    assert_eq!(wait_done(&h, p1), 0);
    assert_eq!(sys_aio_cancel(&h, fd, p1), Ok(AIO_ALLDONE));
    assert_eq!(settled(|| h.os.refs(fd)), 0);
    assert_eq!(h.sys.jobs(), 0);
}

#[test]
fn cancel_argument_errors() {
    let h = host();
    let fd = regular(&h, b"x");
    let p = h.os.aiocb(fd, 0, 0, 0, 0);
    assert_eq!(sys_aio_cancel(&h, 77, p), Err(Errno::EBADF));
    let other = regular(&h, b"y");
    assert_eq!(sys_aio_cancel(&h, other, p), Err(Errno::EINVAL));
    assert_eq!(sys_aio_cancel(&h, fd, UserPtr::null()), Ok(AIO_ALLDONE));
}

#[test]
fn cancel_all_on_a_descriptor() {
    let h = host();
    // One worker, so that later jobs wait in the queue behind a gated one.
    h.sys.set_max_workers(1).unwrap();
    let a = regular(&h, b"aaaa");
    let b = regular(&h, b"bbbb");
    h.os.gate(a, true);
    let first = h.os.aiocb(a, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, first).unwrap();
    h.os.wait_started(a, 1);
    let mut on_a = Vec::new();
    for i in 0..3 {
        let p = h.os.aiocb(a, 0, h.os.alloc(1), 1, i);
        sys_aio_read(&h, p).unwrap();
        on_a.push(p);
    }
    h.os.gate(b, true);
    let on_b = h.os.aiocb(b, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, on_b).unwrap();
    // One of a's jobs is running: the answer is AIO_NOTCANCELED, the queued
    // ones are cancelled all the same, b's job is untouched.
    assert_eq!(sys_aio_cancel(&h, a, UserPtr::null()), Ok(AIO_NOTCANCELED));
    for p in &on_a {
        assert_eq!(sys_aio_error(&h, *p), Ok(Errno::ECANCELED.get() as isize));
    }
    assert_eq!(
        sys_aio_error(&h, on_b),
        Ok(Errno::EINPROGRESS.get() as isize)
    );
    h.os.gate(a, false);
    h.os.gate(b, false);
    assert_eq!(wait_done(&h, first), 0);
    assert_eq!(wait_done(&h, on_b), 0);
}

#[test]
fn fsync_is_a_barrier_and_honours_its_kind() {
    let h = host();
    h.sys.set_max_workers(4).unwrap();
    let fd = regular(&h, b"");
    h.os.gate(fd, true);
    let src = h.os.alloc(1);
    let w = h.os.aiocb(fd, 0, src, 1, 0);
    sys_aio_write(&h, w).unwrap();
    let s = h.os.aiocb(fd, 0, 0, 0, 0);
    sys_aio_fsync(&h, O_DSYNC, s).unwrap();
    let s2 = h.os.aiocb(fd, 0, 0, 0, 0);
    sys_aio_fsync(&h, O_SYNC, s2).unwrap();
    h.os.wait_started(fd, 1);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(sys_aio_error(&h, s), Ok(Errno::EINPROGRESS.get() as isize));
    h.os.gate(fd, false);
    assert_eq!(wait_done(&h, s2), 0);
    assert_eq!(wait_done(&h, s), 0);
    assert_eq!(wait_done(&h, w), 0);
    assert_eq!(h.os.syncs(fd), vec![SyncKind::Data, SyncKind::Full]);
}

#[test]
fn suspend_waits_times_out_and_is_interrupted() {
    let h = host();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    let p = h.os.aiocb(pipe, 0, h.os.alloc(2), 2, 0);
    sys_aio_read(&h, p).unwrap();
    let list = h.os.ptr_array(&[UserPtr::null(), p]);
    let ts = h.os.timespec(0, 20_000_000);
    let t0 = Instant::now();
    assert_eq!(sys_aio_suspend(&h, list, 2, ts), Err(Errno::EAGAIN));
    assert!(t0.elapsed() >= Duration::from_millis(20));
    let zero = h.os.timespec(0, 0);
    assert_eq!(sys_aio_suspend(&h, list, 2, zero), Err(Errno::EAGAIN));
    interrupt_next_wait();
    assert_eq!(
        sys_aio_suspend(&h, list, 2, UserPtr::null()),
        Err(Errno::EINTR)
    );
    assert_eq!(sys_aio_suspend(&h, list, 0, ts), Err(Errno::EINVAL));
    assert_eq!(sys_aio_suspend(&h, list, -1, ts), Err(Errno::EINVAL));
    assert_eq!(sys_aio_suspend(&h, list, 513, ts), Err(Errno::EINVAL));
    let bad = h.os.timespec(0, 1_000_000_000);
    assert_eq!(sys_aio_suspend(&h, list, 2, bad), Err(Errno::EINVAL));
    let os = h.os.clone();
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        os.feed(pipe, b"hi");
    });
    assert_eq!(sys_aio_suspend(&h, list, 2, UserPtr::null()), Ok(0));
    // Woken means the result is already visible.
    assert_eq!(sys_aio_error(&h, p), Ok(0));
    feeder.join().unwrap();
    // Everything done (or null): immediate.
    assert_eq!(sys_aio_suspend(&h, list, 2, UserPtr::null()), Ok(0));
}

#[test]
fn lio_wait_mixed_with_nop_null_and_a_bad_entry() {
    let h = host();
    let fd = regular(&h, b"abcdefgh");
    let src = h.os.alloc(4);
    h.os.poke(src, b"WXYZ");
    let r = h.os.aiocb(fd, LIO_READ, h.os.alloc(4), 4, 0);
    let w = h.os.aiocb(fd, LIO_WRITE, src, 4, 8);
    let nop = h.os.aiocb(fd, LIO_NOP, 0, 0, 0);
    let bad = h.os.aiocb(-1, LIO_READ, h.os.alloc(1), 1, 0);
    let list = h.os.ptr_array(&[r, UserPtr::null(), w, nop, bad]);
    assert_eq!(
        sys_lio_listio(&h, LIO_WAIT, list, 5, UserPtr::null()),
        Err(Errno::EIO)
    );
    assert_eq!(sys_aio_error(&h, r), Ok(0));
    assert_eq!(sys_aio_error(&h, w), Ok(0));
    assert_eq!(sys_aio_error(&h, bad), Ok(Errno::EBADF.get() as isize));
    assert_eq!(
        sys_aio_error(&h, nop),
        Err(Errno::EINVAL),
        "LIO_NOP untouched"
    );
    assert_eq!(h.os.contents(fd), b"abcdefghWXYZ");
    let ok = h.os.ptr_array(&[r, w]);
    assert_eq!(sys_lio_listio(&h, LIO_WAIT, ok, 2, UserPtr::null()), Ok(0));
}

#[test]
fn lio_nowait_notifies_once_after_all() {
    let h = host();
    let fd = regular(&h, b"0123456789");
    h.os.gate(fd, true);
    let mut ptrs = Vec::new();
    for i in 0..4 {
        ptrs.push(h.os.aiocb(fd, LIO_READ, h.os.alloc(2), 2, 2 * i));
    }
    let list = h.os.ptr_array(&ptrs);
    let sig = h.os.alloc(32);
    h.os.write_sigevent(sig, SIGEV_SIGNAL, 31, 7);
    assert_eq!(
        sys_lio_listio(&h, LIO_NOWAIT, list, 4, UserPtr::new(sig)),
        Ok(0)
    );
    std::thread::sleep(Duration::from_millis(10));
    assert!(h.os.notes().is_empty(), "list notified before its jobs ran");
    h.os.gate(fd, false);
    assert_one_signal(&h, 31, 7);
    for p in &ptrs {
        assert_eq!(wait_done(&h, *p), 0);
    }
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(h.os.notes().len(), 1, "list notified more than once");
}

#[test]
fn lio_argument_errors_and_eagain_is_all_or_nothing() {
    let h = host();
    let fd = regular(&h, b"abc");
    let p = h.os.aiocb(fd, LIO_READ, h.os.alloc(1), 1, 0);
    let list = h.os.ptr_array(&[p]);
    assert_eq!(
        sys_lio_listio(&h, 7, list, 1, UserPtr::null()),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys_lio_listio(&h, LIO_WAIT, list, -1, UserPtr::null()),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys_lio_listio(&h, LIO_WAIT, list, 513, UserPtr::null()),
        Err(Errno::EINVAL)
    );
    let sig = h.os.alloc(32);
    h.os.write_sigevent(sig, 99, 0, 0);
    assert_eq!(
        sys_lio_listio(&h, LIO_NOWAIT, list, 1, UserPtr::new(sig)),
        Err(Errno::EINVAL)
    );
    h.sys.set_listio_max(2).unwrap();
    h.sys.set_aio_max(2).unwrap();
    h.os.gate(fd, true);
    let q = h.os.aiocb(fd, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, q).unwrap();
    let p2 = h.os.aiocb(fd, LIO_READ, h.os.alloc(1), 1, 1);
    let two = h.os.ptr_array(&[p, p2]);
    assert_eq!(
        sys_lio_listio(&h, LIO_NOWAIT, two, 2, UserPtr::null()),
        Err(Errno::EAGAIN)
    );
    // Nothing was queued; each entry carries its own EAGAIN.
    for e in [p, p2] {
        assert_eq!(
            h.os.private(e),
            (JOB_DONE, Errno::EAGAIN.get(), -1),
            "an entry of the refused list"
        );
        assert_eq!(sys_aio_error(&h, e), Ok(Errno::EAGAIN.get() as isize));
        assert_eq!(sys_aio_return(&h, e), Ok(-1));
    }
    h.os.gate(fd, false);
    assert_eq!(wait_done(&h, q), 0);
    // The slots were never taken: the whole list fits now.
    assert_eq!(sys_lio_listio(&h, LIO_WAIT, two, 2, UserPtr::null()), Ok(0));
}

#[test]
fn per_process_and_system_limits() {
    let h = host();
    h.sys.set_listio_max(2).unwrap();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    let a = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    let b = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    let c = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, a).unwrap();
    sys_aio_read(&h, b).unwrap();
    assert_eq!(sys_aio_read(&h, c), Err(Errno::EAGAIN));
    assert_eq!(h.os.private(c).0, JOB_NONE);
    h.os.feed(pipe, b"xy");
    assert_eq!(wait_done(&h, a), 0);
    assert_eq!(wait_done(&h, b), 0);
    sys_aio_read(&h, c).unwrap();
    // System-wide: another process shares `sys`.
    h.sys.set_listio_max(1).unwrap();
    h.sys.set_aio_max(1).unwrap();
    let other = FakeHost::with_sys(h.sys);
    let fd2 = regular(&other, b"z");
    let d = other.os.aiocb(fd2, 0, other.os.alloc(1), 1, 0);
    assert_eq!(sys_aio_read(&other, d), Err(Errno::EAGAIN));
    h.os.feed(pipe, b"z");
    assert_eq!(wait_done(&h, c), 0);
    sys_aio_read(&other, d).unwrap();
    assert_eq!(wait_done(&other, d), 0);
}

#[test]
fn append_writes_keep_submission_order_with_many_workers() {
    let h = host();
    h.sys.set_max_workers(8).unwrap();
    let fd = h.os.open(Kind::Regular, true, true, true, b"");
    let mut ps = Vec::new();
    for i in 0..32u8 {
        let b = h.os.alloc(1);
        h.os.poke(b, &[i]);
        let p = h.os.aiocb(fd, 0, b, 1, 0);
        sys_aio_write(&h, p).unwrap();
        ps.push(p);
    }
    for p in ps {
        assert_eq!(wait_done(&h, p), 0);
    }
    assert_eq!(h.os.contents(fd), (0..32u8).collect::<Vec<_>>());
}

#[test]
fn overlapping_writes_run_in_submission_order_others_in_parallel() {
    let h = host();
    h.sys.set_max_workers(8).unwrap();
    let fd = regular(&h, b"");
    h.os.gate(fd, true);
    // Eight writes over the same four bytes, then one elsewhere.
    let mut ps = Vec::new();
    for i in 0..8u8 {
        let b = h.os.alloc(4);
        h.os.poke(b, &[i; 4]);
        let p = h.os.aiocb(fd, 0, b, 4, 0);
        sys_aio_write(&h, p).unwrap();
        ps.push(p);
    }
    let far = h.os.alloc(2);
    h.os.poke(far, b"zz");
    let z = h.os.aiocb(fd, 0, far, 2, 6);
    sys_aio_write(&h, z).unwrap();
    // A read overlapping the writes waits for all of them, even with
    // cached reads allowed to complete inline.
    h.os.inline_reads(true);
    let rb = h.os.alloc(4);
    let r = h.os.aiocb(fd, 0, rb, 4, 2);
    sys_aio_read(&h, r).unwrap();
    assert_eq!(h.os.private(r).0, JOB_WIP, "read overtook the writes");
    // The first overlapping write and the far one start; nothing else can.
    h.os.wait_started(fd, 2);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(h.os.started(fd), 2, "an overlapping job started early");
    h.os.gate(fd, false);
    for p in &ps {
        assert_eq!(wait_done(&h, *p), 0);
    }
    assert_eq!(wait_done(&h, z), 0);
    assert_eq!(wait_done(&h, r), 0);
    assert_eq!(h.os.contents(fd), b"\x07\x07\x07\x07\0\0zz");
    assert_eq!(h.os.peek(rb, 4), b"\x07\x07\0\0");
    // Each write's notification came in submission order, before the next
    // overlapping write started.
    assert_eq!(settled(|| h.os.refs(fd)), 0);
}

#[test]
fn pool_grows_for_runnable_jobs_only() {
    // Writes to a file whose writes exclude each other in the host run one
    // at a time, and the pool does not grow for them; other writes fan out
    // over the pool, grown by the workers themselves.
    for serialize in [true, false] {
        let h = host();
        h.sys.set_max_workers(4).unwrap();
        let fd = regular(&h, b"");
        h.os.writes_serialize(fd, serialize);
        h.os.gate(fd, true);
        let mut ps = Vec::new();
        for i in 0..8 {
            let b = h.os.alloc(1);
            let p = h.os.aiocb(fd, 0, b, 1, i);
            sys_aio_write(&h, p).unwrap();
            ps.push(p);
        }
        let want = if serialize { 1 } else { 4 };
        h.os.wait_started(fd, want);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(h.os.started(fd), want, "serialize={serialize}");
        assert_eq!(h.os.spawned(), want, "serialize={serialize}");
        h.os.gate(fd, false);
        for p in ps {
            assert_eq!(wait_done(&h, p), 0);
        }
    }
}

/// Serial writes to one file queued ahead of writes to another (one
/// list): the look for runnable work skips the rest of the first file's
/// chain, not the other file's writes, which start beside it.
#[test]
fn writes_behind_another_files_serial_chain_start() {
    let h = host();
    h.sys.set_max_workers(4).unwrap();
    let a = regular(&h, b"");
    let b = regular(&h, b"");
    for fd in [a, b] {
        h.os.writes_serialize(fd, true);
        h.os.gate(fd, true);
    }
    let mut ptrs = Vec::new();
    for (fd, n) in [(a, 6), (b, 2)] {
        for i in 0..n {
            ptrs.push(h.os.aiocb(fd, LIO_WRITE, h.os.alloc(1), 1, i));
        }
    }
    let list = h.os.ptr_array(&ptrs);
    let n = ptrs.len() as i32;
    assert_eq!(
        sys_lio_listio(&h, LIO_NOWAIT, list, n, UserPtr::null()),
        Ok(0)
    );
    h.os.wait_started(a, 1);
    h.os.wait_started(b, 1);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!((h.os.started(a), h.os.started(b)), (1, 1));
    h.os.gate(a, false);
    h.os.gate(b, false);
    for p in ptrs {
        assert_eq!(wait_done(&h, p), 0);
    }
}

#[test]
fn copy_jobs_get_a_worker_per_spare_cpu_waits_get_the_pool() {
    let h = host();
    h.sys.set_max_workers(4).unwrap();
    h.sys.set_cpus(2);
    // A tmpfs-like file: its jobs are CPU work.
    let mem = regular(&h, b"");
    h.os.memory_file(mem, true);
    h.os.gate(mem, true);
    let mut ps = Vec::new();
    for i in 0..4 {
        let b = h.os.alloc(1);
        let p = h.os.aiocb(mem, 0, b, 1, i);
        sys_aio_write(&h, p).unwrap();
        ps.push(p);
    }
    h.os.wait_started(mem, 1);
    std::thread::sleep(Duration::from_millis(50));
    // One worker for 2 CPUs (the submitter has the other).
    assert_eq!(h.os.started(mem), 1, "copies fanned out");
    assert_eq!(h.os.spawned(), 1);
    // Jobs on a file that may wait for a device grow the pool.
    let disk = regular(&h, b"");
    h.os.gate(disk, true);
    for i in 0..4 {
        let b = h.os.alloc(1);
        let p = h.os.aiocb(disk, 0, b, 1, i);
        sys_aio_write(&h, p).unwrap();
        ps.push(p);
    }
    h.os.wait_started(disk, 3);
    assert_eq!(h.os.spawned(), 4);
    h.os.gate(mem, false);
    h.os.gate(disk, false);
    for p in ps {
        assert_eq!(wait_done(&h, p), 0);
    }
}

#[test]
fn spinning_waiters_and_workers_hand_over_without_sleeping() {
    let h = host();
    h.sys.set_spin_ns(1_000_000).unwrap();
    let fd = regular(&h, b"0123456789");
    // Without spinning every one of 40 hand-overs sleeps; with it most do
    // not.  A machine whose CPUs are taken by something else (another
    // build) can starve the spinning worker for a whole round: the best
    // of three rounds counts.
    let mut fewest = usize::MAX;
    for _round in 0..3 {
        let before = crate::fakeos::wakeups();
        for i in 0..40 {
            let buf = h.os.alloc(2);
            let p = h.os.aiocb(fd, 0, buf, 2, i % 8);
            sys_aio_read(&h, p).unwrap();
            let list = h.os.ptr_array(&[p]);
            // The job completes within the spin: aio_suspend returns
            // without sleeping.  (A worker only sleeps once it saw no job
            // for 1 ms.)
            assert_eq!(sys_aio_suspend(&h, list, 1, UserPtr::null()), Ok(0));
            assert_eq!(sys_aio_return(&h, p), Ok(2));
            assert_eq!(h.os.peek(buf, 2), &b"0123456789"[(i % 8) as usize..][..2]);
        }
        fewest = fewest.min(crate::fakeos::wakeups() - before);
        if fewest < 30 {
            break;
        }
    }
    assert!(
        fewest < 30,
        "aio_suspend slept {fewest} times in 40 hand-overs (best of 3)"
    );
    // With nothing coming, the worker stops spinning and sleeps; exit
    // still finds it.
    std::thread::sleep(Duration::from_millis(5));
    h.exit();
    assert_eq!(h.aio().map_or(0, |a| a.workers()), 0);
}

#[test]
fn exit_cancels_queued_waits_for_running_and_stops_workers() {
    let h = host();
    // One worker, so that later jobs wait in the queue behind a gated one.
    h.sys.set_max_workers(1).unwrap();
    let fd = regular(&h, b"abcd");
    h.os.gate(fd, true);
    let run = h.os.aiocb(fd, 0, h.os.alloc(1), 1, 0);
    let queued = h.os.aiocb(fd, 0, h.os.alloc(1), 1, 1);
    h.os.set_sigevent(queued, SIGEV_SIGNAL, 5, 0);
    sys_aio_read(&h, run).unwrap();
    h.os.wait_started(fd, 1);
    sys_aio_read(&h, queued).unwrap();
    let aio = h.aio().unwrap();
    let os = h.os.clone();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        os.gate(fd, false);
    });
    h.exit();
    opener.join().unwrap();
    assert_eq!(aio.jobs(), 0);
    assert_eq!(aio.workers(), 0);
    // The running job finished its I/O (its data arrived), the queued one
    // never ran; neither aiocb was written after exit began.
    assert_eq!(h.os.peek(h.os.private_buf(run), 1), b"a");
    assert_eq!(h.os.private(run).0, JOB_WIP);
    assert_eq!(h.os.private(queued).0, JOB_WIP);
    assert!(h.os.notes().is_empty(), "notified a dying process");
    assert_eq!(settled(|| h.os.refs(fd)), 0);
    assert_eq!(h.sys.jobs(), 0);
    // The process still counts while its state exists (a module unloading
    // now would pull the code from under whoever frees it).
    assert_eq!(h.sys.procs(), 1);
    drop(aio);
    // A worker that has left may hold the last reference a moment longer.
    assert_eq!(settled(|| h.sys.procs()), 0);
}

/// The Linux host's exit (`atexit`): running I/O on a file finishes before
/// exit_settle returns; a read waiting on a pipe is cancelled, not waited
/// for.
#[test]
fn exit_settle_waits_for_running_file_io_only() {
    let h = host();
    h.sys.set_max_workers(2).unwrap();
    let fd = regular(&h, b"abcd");
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    h.os.gate(fd, true);
    let file_job = h.os.aiocb(fd, 0, h.os.alloc(1), 1, 0);
    let pipe_job = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, pipe_job).unwrap();
    sys_aio_read(&h, file_job).unwrap();
    h.os.wait_started(fd, 1);
    let aio = h.aio().unwrap();
    let os = h.os.clone();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        os.gate(fd, false);
    });
    aio.exit_settle();
    // The file read's data arrived before exit went on (its result is not
    // published: nothing is written to a dying process's aiocbs).
    assert_eq!(h.os.peek(h.os.private_buf(file_job), 1), b"a");
    opener.join().unwrap();
    // The pipe read, waiting for data, was cancelled (unpublished), not
    // waited for.
    assert_eq!(settled(|| aio.jobs()), 0, "the pipe read outlived exit");
    assert_eq!(h.os.private(pipe_job).0, JOB_WIP);
    h.exit();
    assert_eq!(h.sys.jobs(), 0);
}

/// NetBSD's exit_lwps() (exit, exec) marks the workers LW_WEXIT before the
/// exit hook runs: a worker that finishes its job then must leave, not run
/// the rest of the queue first (the hook cancels it, as exit promises).
#[test]
fn worker_told_to_leave_runs_no_more_jobs() {
    let h = host();
    h.sys.set_max_workers(1).unwrap();
    let fd = regular(&h, b"abcd");
    let other = regular(&h, b"wxyz");
    h.os.gate(fd, true);
    let run = h.os.aiocb(fd, 0, h.os.alloc(1), 1, 0);
    let next = h.os.aiocb(other, 0, h.os.alloc(1), 1, 0);
    let last = h.os.aiocb(other, 0, h.os.alloc(1), 1, 1);
    sys_aio_read(&h, run).unwrap();
    h.os.wait_started(fd, 1);
    sys_aio_read(&h, next).unwrap();
    sys_aio_read(&h, last).unwrap();
    h.os.tell_workers_to_leave();
    h.os.gate(fd, false);
    // The running job ends normally (the process is not exiting yet).
    assert_eq!(wait_done(&h, run), 0);
    assert_eq!(sys_aio_return(&h, run), Ok(1));
    let aio = h.aio().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while aio.workers() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(aio.workers(), 0, "the worker did not leave");
    h.exit();
    for q in [next, last] {
        assert_eq!(h.os.peek(h.os.private_buf(q), 1), b"\0", "ran after leave");
        assert_eq!(h.os.private(q).0, JOB_WIP);
    }
    assert_eq!(settled(|| h.os.refs(other)), 0);
    assert_eq!(h.sys.jobs(), 0);
}

#[test]
fn first_worker_failing_to_start_fails_the_submission() {
    let h = host();
    let fd = regular(&h, b"abc");
    h.os.fail_spawn(true);
    let p = h.os.aiocb(fd, 0, h.os.alloc(1), 1, 0);
    assert_eq!(sys_aio_read(&h, p), Err(Errno::EAGAIN));
    assert_eq!(h.os.private(p).0, JOB_NONE);
    assert_eq!(h.sys.jobs(), 0);
    h.os.fail_spawn(false);
    sys_aio_read(&h, p).unwrap();
    assert_eq!(wait_done(&h, p), 0);
}

#[test]
fn bad_buffer_is_the_jobs_efault() {
    let h = host();
    let fd = regular(&h, b"abc");
    let p = h.os.aiocb(fd, 0, 0x10, 3, 0);
    assert_eq!(sys_aio_read(&h, p), Ok(0));
    assert_eq!(wait_done(&h, p), Errno::EFAULT.get() as isize);
}

#[test]
fn a_blocked_stream_does_not_stall_other_files() {
    let h = host();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    let stuck = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, stuck).unwrap();
    h.os.wait_started(pipe, 1);
    let fd = regular(&h, b"abc");
    let p = h.os.aiocb(fd, 0, h.os.alloc(3), 3, 0);
    sys_aio_read(&h, p).unwrap();
    assert_eq!(wait_done(&h, p), 0);
    assert_eq!(
        sys_aio_error(&h, stuck),
        Ok(Errno::EINPROGRESS.get() as isize)
    );
    assert_eq!(h.aio().unwrap().workers(), 2, "pool grew by one");
    h.os.feed(pipe, b"x");
    assert_eq!(wait_done(&h, stuck), 0);
}

#[test]
fn resubmitting_right_after_aio_return_is_accepted() {
    let h = host();
    let fd = regular(&h, b"abcdef");
    let p = h.os.aiocb(fd, 0, h.os.alloc(2), 2, 0);
    for _ in 0..200 {
        sys_aio_read(&h, p).unwrap();
        while sys_aio_error(&h, p) == Ok(Errno::EINPROGRESS.get() as isize) {
            std::thread::yield_now();
        }
        assert_eq!(sys_aio_return(&h, p), Ok(2));
    }
}

#[test]
fn cached_reads_complete_inline_without_a_worker() {
    let h = host();
    h.os.inline_reads(true);
    let fd = regular(&h, b"0123456789");
    let buf = h.os.alloc(4);
    let p = h.os.aiocb(fd, 0, buf, 4, 3);
    h.os.set_sigevent(p, SIGEV_SIGNAL, 12, 99);
    assert_eq!(sys_aio_read(&h, p), Ok(0));
    // Done before aio_read returned: result, data and notification.
    assert_eq!(h.os.private(p), (JOB_DONE, 0, 4));
    assert_eq!(h.os.peek(buf, 4), b"3456");
    assert_eq!(
        h.os.notes(),
        vec![Notify::Signal {
            signo: 12,
            value: 99
        }]
    );
    assert_eq!(h.os.spawned(), 0, "a worker was started");
    assert_eq!(sys_aio_return(&h, p), Ok(4));
    // A partial range (end of file inside it) goes through a worker and
    // still returns the short count.
    let q = h.os.aiocb(fd, 0, buf, 4, 8);
    sys_aio_read(&h, q).unwrap();
    assert_eq!(wait_done(&h, q), 0);
    assert_eq!(sys_aio_return(&h, q), Ok(2));
    assert_eq!(h.os.spawned(), 1);
    // Errors are still reported by the normal path.
    let r = h.os.aiocb(fd, 0, buf, 4, -1);
    assert_eq!(sys_aio_read(&h, r), Err(Errno::EINVAL));
    let wo = h.os.open(Kind::Regular, false, true, false, b"abcd");
    let w = h.os.aiocb(wo, 0, buf, 4, 0);
    assert_eq!(sys_aio_read(&h, w), Err(Errno::EBADF));
}

#[test]
fn inline_limit_hands_reads_over_while_requests_are_outstanding() {
    use crate::engine::System;
    let h = FakeHost::with_sys(std::boxed::Box::leak(std::boxed::Box::new(
        System::with_policy(2, 1),
    )));
    h.os.inline_reads(true);
    let fd = regular(&h, b"0123456789");
    let (a, b, c) = (h.os.alloc(2), h.os.alloc(2), h.os.alloc(2));
    let pa = h.os.aiocb(fd, 0, a, 2, 0);
    let pb = h.os.aiocb(fd, 0, b, 2, 2);
    // Nothing outstanding: inline.
    sys_aio_read(&h, pa).unwrap();
    assert_eq!(h.os.private(pa).0, JOB_DONE);
    // One outstanding (not yet collected): a worker does it.
    sys_aio_read(&h, pb).unwrap();
    assert_eq!(wait_done(&h, pb), 0);
    assert_eq!(h.os.spawned(), 1);
    assert_eq!(sys_aio_return(&h, pa), Ok(2));
    assert_eq!(sys_aio_return(&h, pb), Ok(2));
    // Both collected: inline again.
    let pc = h.os.aiocb(fd, 0, c, 2, 4);
    sys_aio_read(&h, pc).unwrap();
    assert_eq!(h.os.private(pc).0, JOB_DONE);
    assert_eq!(sys_aio_return(&h, pc), Ok(2));
    assert_eq!(h.os.peek(b, 2), b"23");
    assert_eq!(h.os.peek(c, 2), b"45");
    // A second aio_return of a collected aiocb does not count.
    assert_eq!(sys_aio_return(&h, pc), Err(Errno::EINVAL));
    sys_aio_read(&h, pc).unwrap();
    assert_eq!(h.os.private(pc).0, JOB_DONE);
}

#[test]
fn spare_workers_retire_when_idle_the_first_stays() {
    let h = host();
    h.sys.set_worker_idle_ns(20_000_000).unwrap();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    let other = h.os.open(Kind::Stream, true, true, false, b"");
    let a = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    let b = h.os.aiocb(other, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, a).unwrap();
    h.os.wait_started(pipe, 1);
    sys_aio_read(&h, b).unwrap();
    h.os.wait_started(other, 1);
    let aio = h.aio().unwrap();
    assert_eq!(aio.workers(), 2);
    h.os.feed(pipe, b"x");
    h.os.feed(other, b"y");
    assert_eq!(wait_done(&h, a), 0);
    assert_eq!(wait_done(&h, b), 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while aio.workers() > 1 {
        assert!(Instant::now() < deadline, "spare worker never retired");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(aio.workers(), 1, "the first worker retired too");
    // The pool still serves work.
    let c = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, c).unwrap();
    h.os.feed(pipe, b"z");
    assert_eq!(wait_done(&h, c), 0);
}

#[test]
fn memory_per_job_and_process_is_bounded() {
    use crate::engine::job::Job;
    use crate::engine::AioProc;
    use crate::fakeos::FakeOs;
    // A job: its table entry (key, value, one control byte of the hash
    // table) plus its run-queue slot; docs/performance.md quotes these figures.
    let job = core::mem::size_of::<Job<FakeOs>>();
    let slot = core::mem::size_of::<crate::engine::proc::Waiting>();
    let per_job = job + core::mem::size_of::<usize>() + 1 + slot;
    let proc_base = core::mem::size_of::<AioProc<FakeOs>>();
    std::println!(
        "job {job} B, queue slot {slot} B, per queued job ~{per_job} B, process {proc_base} B"
    );
    assert!(job <= 136, "Job grew to {job} bytes");
    // At the default limit (512 jobs per process) a process's tables stay
    // under 192 KiB even with the hash table and the queue at half load.
    assert!(slot <= 40, "queue slot grew to {slot} bytes");
    assert!(per_job * 512 * 2 + proc_base < 192 << 10);
}

#[test]
fn suspend_is_not_woken_by_unrelated_completions() {
    let h = host();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    let waited = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, waited).unwrap();
    let fd = regular(&h, b"0123456789abcdef");
    let mut others = Vec::new();
    for i in 0..40 {
        others.push(h.os.aiocb(fd, 0, h.os.alloc(1), 1, i % 16));
    }
    let list = h.os.ptr_array(&[waited]);
    let ts = h.os.timespec(0, 300_000_000);
    let before = crate::fakeos::wakeups();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            for p in &others {
                sys_aio_read(&h, *p).unwrap();
                assert_eq!(wait_done(&h, *p), 0);
            }
        });
        assert_eq!(sys_aio_suspend(&h, list, 1, ts), Err(Errno::EAGAIN));
    });
    let woken = crate::fakeos::wakeups() - before;
    assert!(
        woken <= 2,
        "aio_suspend woken {woken} times by 40 unrelated completions"
    );
    h.os.feed(pipe, b"x");
    assert_eq!(sys_aio_suspend(&h, list, 1, UserPtr::null()), Ok(0));
}

#[test]
fn suspend_ignores_entries_not_in_flight_and_faults_on_unreadable_ones() {
    let h = host();
    let ts = h.os.timespec(0, 10_000_000);
    // No AIO state yet: all-null, never-submitted entries wait for the
    // timeout instead of answering 0.
    let never = h.os.aiocb(regular(&h, b"x"), 0, h.os.alloc(1), 1, 0);
    let nulls = h.os.ptr_array(&[UserPtr::null(), UserPtr::null()]);
    assert_eq!(sys_aio_suspend(&h, nulls, 2, ts), Err(Errno::EAGAIN));
    let l = h.os.ptr_array(&[never]);
    let t0 = Instant::now();
    assert_eq!(sys_aio_suspend(&h, l, 1, ts), Err(Errno::EAGAIN));
    assert!(t0.elapsed() >= Duration::from_millis(10));
    interrupt_next_wait();
    assert_eq!(
        sys_aio_suspend(&h, l, 1, UserPtr::null()),
        Err(Errno::EINTR)
    );
    // Done and not yet collected: 0; collected: ignored again.
    let fd = regular(&h, b"abcd");
    let p = h.os.aiocb(fd, 0, h.os.alloc(4), 4, 0);
    sys_aio_read(&h, p).unwrap();
    assert_eq!(wait_done(&h, p), 0);
    let l = h.os.ptr_array(&[never, p]);
    assert_eq!(sys_aio_suspend(&h, l, 2, ts), Ok(0));
    assert_eq!(sys_aio_return(&h, p), Ok(4));
    assert_eq!(sys_aio_suspend(&h, l, 2, ts), Err(Errno::EAGAIN));
    // An unmapped aiocb pointer: EFAULT, with or without AIO state.
    let bad = UserPtr::new(0x10);
    let l = h.os.ptr_array(&[never, bad]);
    assert_eq!(sys_aio_suspend(&h, l, 2, ts), Err(Errno::EFAULT));
    let h2 = host();
    let l2 = h2.os.ptr_array(&[bad]);
    assert_eq!(sys_aio_suspend(&h2, l2, 1, ts), Err(Errno::EFAULT));
}

#[test]
fn suspend_agrees_with_aio_error_before_the_job_leaves_the_table() {
    let h = host();
    let fd = regular(&h, b"ok");
    h.os.gate(fd, true);
    let p = h.os.aiocb(fd, 0, h.os.alloc(2), 2, 0);
    sys_aio_read(&h, p).unwrap();
    h.os.wait_started(fd, 1);
    // What a worker's publication leaves in the aiocb, before the lock
    // pass that takes the job out of the table.
    h.os.poke(p.addr() + L::ERRNO, &0i32.to_ne_bytes());
    h.os.poke(p.addr() + L::RETVAL, &0isize.to_ne_bytes());
    h.os.poke(p.addr() + L::STATE, &JOB_DONE.to_ne_bytes());
    assert_eq!(sys_aio_error(&h, p), Ok(0));
    // aio_suspend agrees even with a zero timeout (no EAGAIN).  It waits
    // for the job to leave the table (so that its notification is out),
    // here for 2 ms; a job that stays (a program's scribbling, not a
    // publication) is answered 0 after 10 ms.
    let os = h.os.clone();
    let worker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2));
        os.gate(fd, false);
    });
    let l = h.os.ptr_array(&[p]);
    let zero = h.os.timespec(0, 0);
    assert_eq!(sys_aio_suspend(&h, l, 1, zero), Ok(0));
    worker.join().unwrap();
    assert_eq!(sys_aio_suspend(&h, l, 1, zero), Ok(0));
    assert_eq!(wait_done(&h, p), 0);
}

#[test]
fn inline_reads_are_bounded_per_request_and_per_call() {
    use crate::engine::limits::{INLINE_CALL_BYTES, INLINE_REQUEST_BYTES};
    let h = host();
    h.os.inline_reads(true);
    let big = INLINE_REQUEST_BYTES;
    let fd = regular(&h, &vec![7u8; 4 * big]);
    // At the bound: inline.
    let p = h.os.aiocb(fd, 0, h.os.alloc(big), big, 0);
    assert_eq!(sys_aio_read(&h, p), Ok(0));
    assert_eq!(h.os.private(p).0, JOB_DONE, "a read at the bound waited");
    assert_eq!(sys_aio_return(&h, p), Ok(big as isize));
    assert_eq!(h.os.spawned(), 0);
    // One byte more: a worker copies it.
    let q = h.os.aiocb(fd, 0, h.os.alloc(big + 1), big + 1, 0);
    assert_eq!(sys_aio_read(&h, q), Ok(0));
    assert_eq!(wait_done(&h, q), 0);
    assert_eq!(sys_aio_return(&h, q), Ok(big as isize + 1));
    assert_eq!(h.os.spawned(), 1, "an oversized read completed inline");
    // A list: inline until the call's budget is spent, the rest queued.
    let n = INLINE_CALL_BYTES / big + 1;
    let cbs: Vec<_> = (0..n)
        .map(|i| {
            h.os.aiocb(fd, LIO_READ, h.os.alloc(big), big, (i % 3 * big) as i64)
        })
        .collect();
    let list = h.os.ptr_array(&cbs);
    assert_eq!(
        sys_lio_listio(&h, LIO_WAIT, list, n as i32, UserPtr::null()),
        Ok(0)
    );
    for c in &cbs {
        assert_eq!(sys_aio_return(&h, *c), Ok(big as isize));
    }
    assert_eq!(
        h.os.started(fd),
        2,
        "the worker ran the oversized read and the list's last entry only"
    );
}

/// Polls until a stream job is waiting for its stream (`Polling`).
fn wait_polling(h: &FakeHost, p: UserPtr<Aiocb>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let polling =
            h.aio().is_some_and(|a| {
                a.state.lock().jobs.get(&p.addr()).is_some_and(|j| {
                    matches!(j.state(), crate::engine::job::JobState::Polling { .. })
                })
            });
        if polling {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the job never waited for its stream"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_read_waiting_on_a_stream_is_cancelled_and_the_stream_goes_on() {
    let h = host();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    let a = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    let b = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    h.os.set_sigevent(b, SIGEV_SIGNAL, 12, 7);
    sys_aio_read(&h, a).unwrap();
    sys_aio_read(&h, b).unwrap();
    // One byte: the first read gets it, the second waits for more.
    h.os.feed(pipe, b"x");
    assert_eq!(wait_done(&h, a), 0);
    assert_eq!(sys_aio_return(&h, a), Ok(1));
    wait_polling(&h, b);
    assert_eq!(sys_aio_cancel(&h, pipe, b), Ok(AIO_CANCELED));
    // Cancelled at once: its result and notification are out.
    assert_cancelled(&h, b);
    assert_one_signal(&h, 12, 7);
    // The stream is still usable, and nothing was taken from it.
    let c = h.os.aiocb(pipe, 0, h.os.alloc(2), 2, 0);
    sys_aio_read(&h, c).unwrap();
    h.os.feed(pipe, b"yz");
    assert_eq!(wait_done(&h, c), 0);
    assert_eq!(sys_aio_return(&h, c), Ok(2));
    assert_eq!(h.os.peek(h.os.private_buf(c), 2), b"yz");
    assert_eq!(settled(|| h.os.refs(pipe)), 0);
}

#[test]
fn a_write_waiting_for_room_is_cancelled_or_stopped_with_its_count() {
    let h = host();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"full");
    h.os.set_capacity(pipe, 4);
    // Full: nothing written; cancelled.
    let w = h.os.aiocb(pipe, 0, h.os.alloc(8), 8, 0);
    sys_aio_write(&h, w).unwrap();
    wait_polling(&h, w);
    assert_eq!(sys_aio_cancel(&h, pipe, UserPtr::null()), Ok(AIO_CANCELED));
    assert_cancelled(&h, w);
    assert_eq!(h.os.contents(pipe), b"full");
    // Room for 4 of 8: the write is stopped with what it wrote, a
    // completion (AIO_NOTCANCELED), not a cancellation.
    assert_eq!(h.os.drain(pipe, 4), b"full");
    let w2 = h.os.aiocb(pipe, 0, h.os.alloc(8), 8, 0);
    sys_aio_write(&h, w2).unwrap();
    wait_polling(&h, w2);
    assert_eq!(sys_aio_cancel(&h, pipe, w2), Ok(AIO_NOTCANCELED));
    assert_eq!(wait_done(&h, w2), 0);
    assert_eq!(sys_aio_return(&h, w2), Ok(4));
    assert_eq!(h.os.contents(pipe).len(), 4);
    // Room again: a write goes through whole.
    h.os.drain(pipe, 4);
    let w3 = h.os.aiocb(pipe, 0, h.os.alloc(3), 3, 0);
    sys_aio_write(&h, w3).unwrap();
    assert_eq!(wait_done(&h, w3), 0);
    assert_eq!(sys_aio_return(&h, w3), Ok(3));
}

#[test]
fn exit_does_not_wait_for_a_stream_that_stays_empty() {
    let h = host();
    let pipe = h.os.open(Kind::Stream, true, true, false, b"");
    let r = h.os.aiocb(pipe, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, r).unwrap();
    wait_polling(&h, r);
    let t0 = Instant::now();
    h.exit();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "exit waited for data"
    );
    assert_eq!(h.sys.jobs(), 0);
    assert_eq!(settled(|| h.os.refs(pipe)), 0);
}

#[test]
fn cached_reads_complete_inline_beside_writes_to_other_ranges() {
    let h = host();
    h.sys.set_max_workers(1).unwrap();
    h.os.inline_reads(true);
    // The only worker is held by a read of another file, so the write
    // stays queued: in flight, with the file itself free to read.
    let other = regular(&h, b"x");
    h.os.gate(other, true);
    let hold = h.os.aiocb(other, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, hold).unwrap();
    h.os.wait_started(other, 1);
    let fd = regular(&h, b"0123456789abcdef");
    let w = h.os.aiocb(fd, 0, h.os.alloc(4), 4, 0);
    sys_aio_write(&h, w).unwrap();
    // Another range of the same descriptor: done inside aio_read.
    let r = h.os.aiocb(fd, 0, h.os.alloc(4), 4, 8);
    assert_eq!(sys_aio_read(&h, r), Ok(0));
    assert_eq!(h.os.private(r).0, JOB_DONE, "waited for an unrelated write");
    assert_eq!(h.os.peek(h.os.private_buf(r), 4), b"89ab");
    // The write's own range: queued behind it.
    let o = h.os.aiocb(fd, 0, h.os.alloc(4), 4, 2);
    assert_eq!(sys_aio_read(&h, o), Ok(0));
    assert_eq!(
        h.os.private(o).0,
        JOB_WIP,
        "a read overtook the write it overlaps"
    );
    // Another descriptor of the same file: queued (it could be the file).
    let fd2 = h.os.dup(fd);
    let r2 = h.os.aiocb(fd2, 0, h.os.alloc(4), 4, 12);
    assert_eq!(sys_aio_read(&h, r2), Ok(0));
    assert_eq!(h.os.private(r2).0, JOB_WIP);
    h.os.gate(other, false);
    for p in [hold, w, r, o, r2] {
        assert_eq!(wait_done(&h, p), 0);
    }
    // The overlapping read saw the write (zeros over "23").
    assert_eq!(h.os.peek(h.os.private_buf(o), 4), b"\0\x0045");
}

#[test]
fn spinning_stops_when_it_does_not_pay_and_is_tried_again() {
    let h = host();
    h.sys.set_spin_ns(1_000_000).unwrap();
    let fd = regular(&h, b"x");
    let p = h.os.aiocb(fd, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, p).unwrap();
    assert_eq!(wait_done(&h, p), 0);
    let aio = h.aio().unwrap();
    assert!(aio.spin_pays(), "a new process does not spin");
    // Misses: what the spin waits for never comes.
    for _ in 0..16 {
        aio.spin_until(1_000, || false);
    }
    let tries = (0..256).filter(|_| aio.spin_pays()).count();
    assert_eq!(tries, 256 / 64, "spinning went on after a run of misses");
    // Quick hits bring it back.
    for _ in 0..4 {
        aio.spin_until(1_000, || true);
    }
    assert!(aio.spin_pays());
    // Hits late in the spin (here after 0.4 ms of a 1 ms spin) cost
    // about what they save: they wear the score down too.
    for _ in 0..4 {
        let start = Instant::now();
        aio.spin_until(1_000_000, || start.elapsed() >= Duration::from_micros(400));
    }
    let tries = (0..256).filter(|_| aio.spin_pays()).count();
    assert_eq!(tries, 256 / 64, "late hits kept spinning on");
}

/// A thread does not spin on the CPU of the thread whose work it would
/// wait for: there the spin only keeps that thread from running (a
/// loaded machine puts a submitter and its worker on one CPU).  On
/// another CPU, or where the CPU is not known, it may.
#[test]
fn no_spinning_on_the_cpu_of_the_thread_waited_for() {
    let h = host();
    h.sys.set_spin_ns(1_000_000).unwrap();
    let fd = regular(&h, b"x");
    h.os.set_cpu(Some(1));
    let p = h.os.aiocb(fd, 0, h.os.alloc(1), 1, 0);
    sys_aio_read(&h, p).unwrap();
    assert_eq!(wait_done(&h, p), 0);
    let aio = h.aio().unwrap();
    // The submission and the worker's job both ran "on CPU 1".
    assert_eq!(aio.submit_cpu.load(SeqCst), 1);
    assert_eq!(aio.worker_cpu.load(SeqCst), 1);
    assert!(
        !aio.spin_apart(&aio.submit_cpu),
        "a worker spins on its submitter's CPU"
    );
    assert!(
        !aio.spin_apart(&aio.worker_cpu),
        "a waiter spins on its worker's CPU"
    );
    h.os.set_cpu(Some(0));
    assert!(aio.spin_apart(&aio.submit_cpu) && aio.spin_apart(&aio.worker_cpu));
    h.os.set_cpu(None);
    assert!(aio.spin_apart(&aio.submit_cpu) && aio.spin_apart(&aio.worker_cpu));
}

/// A program that writes JOB_DONE into the aiocb of a job still running
/// (its own scribbling) does not hang aio_suspend: with a timeout it gets
/// 0 (the aiocb says done) within the bound, without one a signal ends
/// the wait, with 0 too.
#[test]
fn a_scribbled_done_does_not_hang_aio_suspend() {
    let h = host();
    let fd = regular(&h, b"ok");
    h.os.gate(fd, true);
    let p = h.os.aiocb(fd, 0, h.os.alloc(2), 2, 0);
    sys_aio_read(&h, p).unwrap();
    h.os.wait_started(fd, 1);
    h.os.poke(p.addr() + L::STATE, &JOB_DONE.to_ne_bytes());
    let l = h.os.ptr_array(&[p]);
    let t0 = Instant::now();
    assert_eq!(
        sys_aio_suspend(&h, l, 1, h.os.timespec(0, 1_000_000)),
        Ok(0)
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    interrupt_next_wait();
    assert_eq!(sys_aio_suspend(&h, l, 1, UserPtr::null()), Ok(0));
    h.os.gate(fd, false);
    assert_eq!(settled(|| h.aio().map_or(0, |a| a.jobs())), 0);
}
