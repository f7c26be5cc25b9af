//! NetBSD error numbers.
//!
//! Every error inside the crate is an [`Errno`] with NetBSD's value, whatever
//! the host: the syscall layer returns them to NetBSD unchanged, and the Linux
//! host translates at its C boundary.  Two different things carry an errno and
//! the types keep them apart: `Result<_, Errno>` is a *syscall's* failure
//! (what `sys_aio_*` returns), while a job's outcome is a
//! [`JobResult`](crate::engine::job::JobResult) that may hold an errno the
//! user reads later through `aio_error`.

use core::fmt;

/// A NetBSD `errno` value (always positive).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(i32);

macro_rules! errnos {
    ($($name:ident = $val:expr, $text:expr;)*) => {
        impl Errno {
            $(#[doc = $text] pub const $name: Errno = Errno($val);)*

            /// The symbolic name, for logs and test failures.
            pub const fn name(self) -> &'static str {
                match self.0 {
                    $($val => stringify!($name),)*
                    _ => "E?",
                }
            }
        }
    };
}

errnos! {
    EPERM = 1, "Operation not permitted";
    ENOENT = 2, "No such file or directory";
    ESRCH = 3, "No such process";
    EINTR = 4, "Interrupted system call";
    EIO = 5, "Input/output error";
    ENXIO = 6, "Device not configured";
    E2BIG = 7, "Argument list too long";
    EBADF = 9, "Bad file descriptor";
    ENOMEM = 12, "Cannot allocate memory";
    EACCES = 13, "Permission denied";
    EFAULT = 14, "Bad address";
    EBUSY = 16, "Device busy";
    EEXIST = 17, "File exists";
    ENODEV = 19, "Operation not supported by device";
    ENOTDIR = 20, "Not a directory";
    EISDIR = 21, "Is a directory";
    EINVAL = 22, "Invalid argument";
    ENFILE = 23, "Too many open files in system";
    EMFILE = 24, "Too many open files";
    ENOTTY = 25, "Inappropriate ioctl for device";
    EFBIG = 27, "File too large";
    ENOSPC = 28, "No space left on device";
    ESPIPE = 29, "Illegal seek";
    EROFS = 30, "Read-only file system";
    EPIPE = 32, "Broken pipe";
    ERANGE = 34, "Result too large";
    EAGAIN = 35, "Resource temporarily unavailable";
    EINPROGRESS = 36, "Operation now in progress";
    ENOTSOCK = 38, "Socket operation on non-socket";
    EOPNOTSUPP = 45, "Operation not supported";
    ECONNRESET = 54, "Connection reset by peer";
    ENOTCONN = 57, "Socket is not connected";
    ETIMEDOUT = 60, "Operation timed out";
    EDQUOT = 69, "Disc quota exceeded";
    ESTALE = 70, "Stale NFS file handle";
    ENOSYS = 78, "Function not implemented";
    EOVERFLOW = 84, "Value too large to be stored in data type";
    ECANCELED = 87, "Operation canceled";
    ENOTSUP = 86, "Not supported";
}

impl Errno {
    /// Wraps a raw NetBSD errno.  Zero and negative values are not errors;
    /// they become `EIO` so that a confused host can never report success
    /// through the error path.
    pub const fn new(raw: i32) -> Errno {
        if raw > 0 {
            Errno(raw)
        } else {
            Errno::EIO
        }
    }

    /// The raw NetBSD value.
    pub const fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Errno;

    #[test]
    fn netbsd_values() {
        // The values the facts file pins for NetBSD; Linux differs for most.
        assert_eq!(Errno::EBADF.get(), 9);
        assert_eq!(Errno::EINVAL.get(), 22);
        assert_eq!(Errno::EAGAIN.get(), 35);
        assert_eq!(Errno::EINPROGRESS.get(), 36);
        assert_eq!(Errno::ENOSYS.get(), 78);
        assert_eq!(Errno::ECANCELED.get(), 87);
        assert_eq!(Errno::EAGAIN.name(), "EAGAIN");
    }

    #[test]
    fn non_positive_is_not_success() {
        assert_eq!(Errno::new(0), Errno::EIO);
        assert_eq!(Errno::new(-5), Errno::EIO);
        assert_eq!(Errno::new(87), Errno::ECANCELED);
    }
}
