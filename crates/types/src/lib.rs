//! Wire types shared by every front door: the OpenAI chat-completions shapes that Fusion speaks
//! to clients and upstream servers, and the council result contract (`CouncilResult`).
//! These are plain data: no behaviour beyond small constructors and accessors.

pub mod chat;
pub mod council;

pub use chat::*;
pub use council::*;
