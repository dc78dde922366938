//! The core's etcd JSON-gateway codec (`fencelock_core::wire::etcd_gateway`)
//! for JavaScript: encode a command into its `POST /v3/...` request, decode a
//! response body or one watch-stream line into the machine's reply. Values
//! cross as the vectors' JSON text.

use fencelock_core::etcd::Command;
use fencelock_core::wire::etcd_gateway;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::fault::{fault, Result};
use crate::json;
use crate::machines::parse;

/// Encodes an etcd command (JSON text of the vocabulary) as its gateway
/// request: JSON text `{"path", "body"}` (`body` is the request's JSON text),
/// or `null` for `cancel_watch` (abort the watch's request instead).
#[napi(catch_unwind)]
pub fn gateway_encode(command_json: String) -> Result<Option<String>> {
    let command: Command = parse("command", &command_json)?;
    match etcd_gateway::encode(&command) {
        None => Ok(None),
        Some(request) => {
            #[derive(serde::Serialize)]
            struct Request<'a> {
                path: &'a str,
                body: &'a str,
            }
            json::to_text(&Request {
                path: request.path,
                body: &request.body,
            })
            .map(Some)
        }
    }
}

/// Decodes a gateway response body (any HTTP status) for `command` (JSON
/// text) into the reply vocabulary (JSON text). A malformed body throws
/// `ETCD_GATEWAY_JSON` or `ETCD_GATEWAY_FIELD`.
#[napi(catch_unwind)]
pub fn gateway_decode(command_json: String, body: Buffer) -> Result<String> {
    let command: Command = parse("command", &command_json)?;
    let reply = etcd_gateway::decode(&command, body.as_ref()).map_err(|e| fault(e.code(), e))?;
    json::to_text(&reply)
}

/// Decodes one line of a watch stream: the reply (JSON text), or `null` for a
/// line that does not answer the watch (the `created` message, a progress
/// notification). A malformed line throws like [`gateway_decode`].
#[napi(catch_unwind)]
pub fn gateway_decode_watch_line(line: Buffer) -> Result<Option<String>> {
    match etcd_gateway::decode_watch_line(line.as_ref()).map_err(|e| fault(e.code(), e))? {
        None => Ok(None),
        Some(reply) => json::to_text(&reply).map(Some),
    }
}
