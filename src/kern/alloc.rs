//! Kernel memory for `alloc` (kmem, KM_SLEEP) and the panic handler.
//!
//! Every engine allocation happens in LWP context where sleeping is
//! allowed, so KM_SLEEP (which cannot fail) is right.  kmem aligns to 8
//! bytes; larger alignments are refused (no type of the crate needs one).
//! A Rust panic is a kernel bug: it ends in the kernel's `panic`.

use core::alloc::{GlobalAlloc, Layout};

use crate::sys;

/// The kmem allocator.
pub struct Kmem;

const KMEM_ALIGN: usize = 8;

// SAFETY: kmem_alloc returns distinct, live blocks of at least the size
// asked, 8-aligned; kmem_free is given back exactly the size allocated.
unsafe impl GlobalAlloc for Kmem {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.align() > KMEM_ALIGN {
            return core::ptr::null_mut();
        }
        // SAFETY: size is non-zero (GlobalAlloc's contract).
        unsafe { sys::aiok_alloc(l.size() as _).cast() }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `alloc` with this layout's size.
        unsafe { sys::aiok_free(p.cast(), l.size() as _) }
    }
}

#[cfg(not(any(test, feature = "std")))]
#[global_allocator]
static KMEM: Kmem = Kmem;

#[cfg(not(any(test, feature = "std")))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    struct Buf {
        b: [u8; 160],
        n: usize,
    }
    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for &c in s.as_bytes() {
                if self.n + 1 < self.b.len() && c != 0 {
                    self.b[self.n] = c;
                    self.n += 1;
                }
            }
            Ok(())
        }
    }
    let mut buf = Buf { b: [0; 160], n: 0 };
    let _ = write!(buf, "{}", info);
    // SAFETY: `buf.b` is NUL-terminated (the writer keeps the last byte 0).
    unsafe { sys::aiok_panic(buf.b.as_ptr().cast()) }
}
