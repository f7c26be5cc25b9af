//! Translation between Linux and NetBSD errno values.
//!
//! The engine speaks NetBSD errnos; what the Linux kernel returns to the
//! host's I/O calls is translated in, and what the C API reports to a glibc
//! program is translated out.  Values equal on both systems (1-34 except
//! EAGAIN's neighbours) pass through unchanged.

use crate::errno::Errno;

/// (NetBSD, Linux) pairs for the values that differ.
const DIFFERENT: &[(i32, i32)] = &[
    (35, 11),  // EAGAIN
    (36, 115), // EINPROGRESS
    (38, 88),  // ENOTSOCK
    (45, 95),  // EOPNOTSUPP
    (54, 104), // ECONNRESET
    (57, 107), // ENOTCONN
    (60, 110), // ETIMEDOUT
    (69, 122), // EDQUOT
    (70, 116), // ESTALE
    (78, 38),  // ENOSYS
    (84, 75),  // EOVERFLOW
    (86, 95),  // ENOTSUP (same as EOPNOTSUPP on Linux)
    (87, 125), // ECANCELED
];

/// The Linux value of a NetBSD errno.
pub fn to_linux(e: Errno) -> i32 {
    let v = e.get();
    match DIFFERENT.iter().find(|(n, _)| *n == v) {
        Some(&(_, l)) => l,
        None if v <= 34 => v,
        None => libc::EIO,
    }
}

/// The NetBSD errno of a Linux value (EIO for one NetBSD lacks).
pub fn from_linux(v: i32) -> Errno {
    match DIFFERENT.iter().find(|(_, l)| *l == v) {
        Some(&(n, _)) => Errno::new(n),
        None if (1..=34).contains(&v) && v != 11 => Errno::new(v),
        None => Errno::EIO,
    }
}

/// The calling thread's `errno`, as a NetBSD errno.
pub fn last() -> Errno {
    from_linux(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for e in [
            Errno::EBADF,
            Errno::EINVAL,
            Errno::EAGAIN,
            Errno::EINPROGRESS,
            Errno::ECANCELED,
            Errno::EFAULT,
            Errno::EINTR,
            Errno::ENOSYS,
            Errno::EOVERFLOW,
        ] {
            assert_eq!(from_linux(to_linux(e)), e, "{e:?}");
        }
        assert_eq!(to_linux(Errno::EAGAIN), libc::EAGAIN);
        assert_eq!(to_linux(Errno::ECANCELED), libc::ECANCELED);
        assert_eq!(to_linux(Errno::EINPROGRESS), libc::EINPROGRESS);
        assert_eq!(from_linux(libc::ESPIPE), Errno::ESPIPE);
        assert_eq!(from_linux(libc::ENOMEDIUM), Errno::EIO);
    }
}
