//! The few calls Fusion makes into C — the allocators and the scheduler — behind safe
//! functions. The only crate of the workspace allowed `unsafe`: each call is allowed where it
//! is made, with its safety argument.

pub mod memory;
pub mod thread;

pub use memory::Allocator;
