//! File references held by jobs.
//!
//! A job takes its reference at submission (`fd_getfile2`, which counts a
//! reference on the `struct file`), so `close(2)` or `dup2(2)` on the
//! descriptor changes nothing for the job; `closef` in `Drop` releases it.

use core::ptr::NonNull;

use crate::errno::Errno;
use crate::os::{FileInfo, SyncKind};
use crate::sys;

use super::check;

/// A counted reference to a `struct file`.
pub struct FileRef(NonNull<sys::file>);

// SAFETY: a counted file reference may be used and released from any LWP.
unsafe impl Send for FileRef {}

impl FileRef {
    /// Takes a reference to the file on `fd` of process `p`.
    ///
    /// # Safety
    ///
    /// `p` is the calling LWP's process.
    pub unsafe fn get(p: *mut sys::proc, fd: i32) -> Result<(FileRef, FileInfo), Errno> {
        let mut fi = sys::aiok_fileinfo::default();
        let mut err = 0;
        // SAFETY: `p` is the current process (caller's contract); `fi` and
        // `err` are valid out-parameters.
        let fp = unsafe { sys::aiok_getfile(p, fd, &mut fi, &mut err) };
        let Some(fp) = NonNull::new(fp) else {
            return Err(Errno::new(err));
        };
        let info = FileInfo {
            readable: fi.fi_readable != 0,
            writable: fi.fi_writable != 0,
            append: fi.fi_append != 0,
            seekable: fi.fi_seekable != 0,
            key: fp.as_ptr() as usize,
            // vn_write locks the vnode exclusively.
            writes_serialize: fi.fi_seekable != 0,
            memory: fi.fi_memory != 0,
        };
        Ok((FileRef(fp), info))
    }

    /// Reads or writes `len` bytes at user address `buf` of the current
    /// process; `off` `None` uses and advances the file offset (streams,
    /// appends).
    pub fn rw(
        &self,
        write: bool,
        buf: usize,
        len: usize,
        off: Option<i64>,
    ) -> Result<usize, Errno> {
        let mut done = 0;
        // SAFETY: the reference keeps the file alive; `buf` is a user
        // address moved through a uio on the caller's vmspace, validated
        // by uiomove; `done` is a valid out-parameter.
        let rv = unsafe {
            sys::aiok_file_rw(
                self.0.as_ptr(),
                write as _,
                buf as *mut core::ffi::c_void,
                len as _,
                off.unwrap_or(-1),
                &mut done,
            )
        };
        check(rv).map(|()| done as usize)
    }

    /// One transfer on a stream that does not sleep for the stream: what
    /// it moved, `EAGAIN` if it was not ready (nothing moved).  Pipes and
    /// sockets only; other file types (FIFOs, terminals) block in it.
    pub fn rw_nowait(&self, write: bool, buf: usize, len: usize) -> Result<usize, Errno> {
        let mut done = 0;
        // SAFETY: as in `rw`.
        let rv = unsafe {
            sys::aiok_file_rw_nowait(
                self.0.as_ptr(),
                write as _,
                buf as *mut core::ffi::c_void,
                len as _,
                &mut done,
            )
        };
        check(rv).map(|()| done as usize)
    }

    /// The `struct file`, for helpers that take it.
    pub(super) fn as_ptr(&self) -> *mut sys::file {
        self.0.as_ptr()
    }

    /// `VOP_FSYNC` with FSYNC_WAIT, data-only for `SyncKind::Data`.
    pub fn fsync(&self, kind: SyncKind) -> Result<(), Errno> {
        // SAFETY: the reference keeps the file alive.
        check(unsafe { sys::aiok_file_fsync(self.0.as_ptr(), (kind == SyncKind::Data) as _) })
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference, taken by fd_getfile2.
        unsafe { sys::aiok_putfile(self.0.as_ptr()) }
    }
}

/// Reads `len` bytes at `off` of `fd` in the calling LWP if the file lives
/// on a memory file system (no device I/O can be needed); `None` when it
/// does not, or on any error (the queued path reports errors).
///
/// # Safety
///
/// `p` is the calling LWP's process.
pub unsafe fn read_resident(
    p: *mut sys::proc,
    fd: i32,
    buf: usize,
    len: usize,
    off: i64,
) -> Option<usize> {
    let mut done = 0;
    // SAFETY: `p` is the current process (caller's contract); `buf` is a
    // user address the uio validates; `done` is a valid out-parameter.
    let rv = unsafe {
        sys::aiok_read_resident(
            p,
            fd,
            buf as *mut core::ffi::c_void,
            len as _,
            off,
            &mut done,
        )
    };
    (rv == 0).then_some(done as usize)
}

/// Whether `fd` is open in the calling process.
///
/// # Safety
///
/// `p` is the calling LWP's process.
pub unsafe fn fd_is_open(p: *mut sys::proc, fd: i32) -> bool {
    // SAFETY: `p` is the current process (caller's contract).
    unsafe { sys::aiok_fd_is_open(p, fd) != 0 }
}
