//! Build script: only the NetBSD flavours (`netbsd`, `rump`, `netbsd-kmod`)
//! have work here.
//!
//! * Headers: from the NetBSD source tree in `NETBSDSRCDIR` when set
//!   (`/usr/src` on NetBSD, a rumpkernel/src-netbsd checkout elsewhere),
//!   otherwise from `sys-headers/netbsd-kernel.h`.
//! * bindgen reads `sys-headers/wrapper.h` with allowlists only and writes
//!   `$OUT_DIR/bindings.rs` for `src/sys`.
//! * The C helpers (`sys-headers/helpers.c`) need the real headers: they
//!   are compiled only with a tree (the rump and kmod builds require one).

use std::env;
#[cfg(feature = "netbsd")]
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=sys-headers");
    println!("cargo:rerun-if-env-changed=NETBSDSRCDIR");
    if env::var_os("CARGO_FEATURE_NETBSD").is_none() {
        return;
    }
    netbsd::build();
}

#[cfg(not(feature = "netbsd"))]
mod netbsd {
    pub fn build() {}
}

#[cfg(feature = "netbsd")]
mod netbsd {
    use super::*;

    /// Types and functions the Rust side may see.  Everything else in the
    /// headers stays out of the bindings.
    const TYPES: &[&str] = &[
        "aiocb",
        "sigevent",
        "timespec",
        "modinfo_t",
        "syscall_package",
        "sys_aio_cancel_args",
        "sys_aio_error_args",
        "sys_aio_fsync_args",
        "sys_aio_read_args",
        "sys_aio_return_args",
        "sys_aio_write_args",
        "sys_lio_listio_args",
        "sys___aio_suspend50_args",
        "aiok_fileinfo",
    ];
    const FUNCTIONS: &str = "aiok_.*";
    const VARS: &str = "SYS_aio_.*|SYS_lio_listio|SYS___aio_suspend50|AIOK_SYSCTL_.*";

    /// A folder with the `machine` and `x86` links the amd64 headers expect.
    fn machine_links(src: &Path, out: &Path) -> PathBuf {
        let dir = out.join("netbsd-machine");
        let _ = std::fs::create_dir_all(&dir);
        for (name, target) in [
            ("machine", "sys/arch/amd64/include"),
            ("x86", "sys/arch/x86/include"),
        ] {
            let link = dir.join(name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(src.join(target), &link)
                .expect("cannot create the machine header links");
        }
        dir
    }

    /// Compiler flags for the real headers: NetBSD kernel, amd64, and for
    /// rump the rump kernel's own options.
    fn kernel_cflags(src: &Path, out: &Path, rump: bool, rumprun: bool) -> Vec<String> {
        let s = |p: &str| src.join(p).display().to_string();
        let mut f = vec![
            "-nostdinc".to_string(),
            format!("-I{}", machine_links(src, out).display()),
        ];
        if rump {
            // As the rump kernel's own components are built: its options
            // file (_KERNEL, _MODULE, MULTIPROCESSOR, ...), its include
            // folders after the amd64 `machine` links.
            f.extend([
                "-imacros".to_string(),
                s("sys/rump/include/opt/opt_rumpkernel.h"),
                format!("-I{}", s("common/include")),
                format!("-I{}", s("sys/rump/include")),
                format!("-I{}", s("sys/rump/include/opt")),
                "-DRUMP_CURLWP=RUMP_CURLWP___THREAD".into(),
                "-DDIAGNOSTIC".into(),
            ]);
            // How the kernel finds the module: a rump kernel built for a
            // hosted system runs constructors (modinfo_boot_chain); rumprun's
            // is linked statically without them and walks link_set_modules
            // at boot, as a NetBSD kernel does for its built-in modules.
            if !rumprun {
                f.push("-DRUMP_USE_CTOR".into());
            }
        } else {
            // As bsd.kmodule.mk compiles a module.
            f.extend([
                "-D_KERNEL".to_string(),
                "-D_MODULE".into(),
                "-DSYSCTL_INCLUDE_DESCR".into(),
                format!("-I{}", s("common/include")),
            ]);
        }
        f.extend([format!("-I{}", s("sys/arch")), format!("-I{}", s("sys"))]);
        f
    }

    pub fn build() {
        let out = PathBuf::from(env::var("OUT_DIR").unwrap());
        let hdrs = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("sys-headers");
        let rump = env::var_os("CARGO_FEATURE_RUMP").is_some();
        let rumprun = env::var_os("CARGO_FEATURE_RUMPRUN").is_some();
        let src = env::var_os("NETBSDSRCDIR").map(PathBuf::from);

        let mut clang = vec![
            "-target".to_string(),
            "x86_64--netbsd".into(),
            format!("-I{}", hdrs.display()),
        ];
        match &src {
            Some(src) => {
                if !src.join("sys/sys/aio.h").exists() {
                    panic!(
                        "NETBSDSRCDIR={} has no sys/sys/aio.h: not a NetBSD source tree",
                        src.display()
                    );
                }
                clang.push("-DNETBSD_AIO_REAL_HEADERS".into());
                clang.extend(kernel_cflags(src, &out, rump, rumprun));
                println!("cargo:rustc-cfg=netbsd_real_headers");
            }
            None => {
                clang.push("-nostdinc".into());
                println!(
                    "cargo:warning=NETBSDSRCDIR not set: binding to sys-headers/netbsd-kernel.h; \
                     the C helpers are not built"
                );
            }
        }
        println!("cargo:rustc-check-cfg=cfg(netbsd_real_headers)");

        let mut b = bindgen::Builder::default()
            .header(hdrs.join("wrapper.h").display().to_string())
            .clang_args(&clang)
            .use_core()
            .ctypes_prefix("core::ffi")
            .layout_tests(false) // src/sys pins the layouts it relies on
            .derive_default(true)
            .allowlist_function(FUNCTIONS)
            .allowlist_var(VARS)
            // Kernel structures the helpers hide: never laid out in Rust.
            .opaque_type("lwp|proc|file|kmutex|kcondvar");
        for t in TYPES {
            b = b.allowlist_type(t);
        }
        b.generate()
            .expect("bindgen failed on sys-headers/wrapper.h")
            .write_to_file(out.join("bindings.rs"))
            .expect("cannot write bindings.rs");

        if let Some(src) = &src {
            let mut cc = cc::Build::new();
            cc.file(hdrs.join("helpers.c"))
                .include(&hdrs)
                .flag("-ffreestanding")
                .flag("-fno-common")
                .flag("-mno-red-zone")
                .flag("-mno-sse")
                .flag("-mno-mmx")
                .flag("-mno-avx")
                .flag("-msoft-float")
                .flag("-fno-strict-aliasing")
                .flag("-std=gnu99")
                .warnings(true)
                .flag("-Wno-unused-parameter")
                .flag("-Wno-sign-compare");
            for f in kernel_cflags(src, &out, rump, rumprun) {
                cc.flag(&f);
            }
            if rump {
                // AIOK_RUMP: the few places where a rump kernel's
                // scheduler and LWPs differ (see helpers.c).
                cc.flag("-fPIC")
                    .define("AIOK_RUMP", None)
                    .define("__NetBSD__", None)
                    .flag("-U__linux__")
                    .flag("-Ulinux")
                    .flag("-U__linux")
                    .flag("-U__gnu_linux__");
                if rumprun {
                    // Kernel-thread workers (see helpers.c).
                    cc.define("AIOK_RUMPRUN", None);
                }
            } else {
                // A Linux compiler is not a NetBSD one: NetBSD's
                // predefines, none of Linux's, and no stack protector
                // (a module may not assume the kernel has SSP).
                cc.flag("-mcmodel=kernel")
                    .flag("-fno-pic")
                    .flag("-fno-stack-protector")
                    .define("__NetBSD__", None)
                    .flag("-U__linux__")
                    .flag("-Ulinux")
                    .flag("-U__linux")
                    .flag("-U__gnu_linux__");
            }
            cc.compile("aio_helpers");
        }
    }
}
