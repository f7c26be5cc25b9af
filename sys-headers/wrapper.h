/*
 * netbsd-aio: the one header bindgen reads.
 *
 * With a NetBSD source tree (NETBSDSRCDIR), build.rs defines
 * NETBSD_AIO_REAL_HEADERS and the declarations come from the kernel's own
 * headers; without one, from netbsd-kernel.h, this project's declarations
 * of the subset it uses.  Either way the Rust side pins the layouts it
 * relies on (src/sys/mod.rs), so the two sources cannot drift apart.
 */
#ifdef NETBSD_AIO_REAL_HEADERS
#include <sys/param.h>
#include <sys/types.h>
#include <sys/aio.h>
#include <sys/signal.h>
#include <sys/time.h>
#include <sys/module.h>
#include <sys/syscall.h>
#include <sys/syscallargs.h>
#include <sys/syscallvar.h>
#else
#include "netbsd-kernel.h"
#endif

#include "helpers.h"
