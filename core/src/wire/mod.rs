//! Optional codecs for hosts that have no client library, only a socket or `fetch`.
//!
//! - [`resp`]: RESP2 (the Redis protocol), bytes in / bytes out: encodes the
//!   Redlock machine's commands (`EVALSHA` / `EVAL` / `SCRIPT LOAD`), decodes
//!   replies incrementally under [`resp::Limits`], and turns them into
//!   [`crate::redlock::NodeReply`] values.
//!
//! Nothing here does I/O or keeps connection state: the host owns the socket,
//! the read buffer, and the order in which commands reach each node.

pub mod resp;
