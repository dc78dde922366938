//! Optional codecs for hosts that have no client library, only a socket or `fetch`.
//!
//! - [`resp`]: RESP2 (the Redis protocol), bytes in / bytes out: encodes the
//!   Redlock machine's commands (`EVALSHA` / `EVAL` / `SCRIPT LOAD`), decodes
//!   replies incrementally under [`resp::Limits`], and turns them into
//!   [`crate::redlock::NodeReply`] values.
//!
//! - [`etcd_gateway`] (feature `etcd-gateway`, on by default): the etcd v3 JSON
//!   gateway, for hosts with only `fetch`: encodes the etcd machines' commands as
//!   `POST /v3/...` requests and decodes the responses (and watch stream lines)
//!   into [`crate::etcd::Reply`] values.
//!
//! Nothing here does I/O or keeps connection state: the host owns the socket,
//! the read buffer, and the order in which commands reach each node.

#[cfg(feature = "etcd-gateway")]
pub mod etcd_gateway;
pub mod resp;
