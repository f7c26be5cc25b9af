//! The portable AIO engine.
//!
//! Pure logic over the [`Os`](crate::os::Os) traits: no `unsafe`, no FFI,
//! no host types.  Modules:
//! * [`job`]: one job and its state machine (the diagram lives there);
//! * [`proc`]: per-process state, its lock story, workers, retirement, exit;
//! * [`submit`]: `aio_read`, `aio_write`, `aio_fsync`, `aio_error`,
//!   `aio_return`;
//! * [`cancel`], [`suspend`], [`lio`]: the calls of those names;
//! * [`limits`]: the system-wide limits and counters.
#![forbid(unsafe_code)]

pub mod cancel;
pub mod job;
pub mod limits;
pub mod lio;
pub mod proc;
pub mod submit;
pub mod suspend;

pub use limits::System;
pub use proc::AioProc;

#[cfg(test)]
mod tests;
