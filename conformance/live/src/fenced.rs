//! A resource that admits writes only with a current fencing token.

use std::io;
use std::time::Duration;

use fencelock_core::fence::REDIS_FENCED_SET;
use fencelock_core::wire::resp::RespValue;

use crate::conn::BlockingConn;

/// The resource's verdict on one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FencedWrite {
    /// The token was at least the highest admitted: the value was written.
    Accepted,
    /// A later holder already wrote with a higher token: nothing was written.
    Rejected {
        /// Highest token admitted so far.
        highest: u64,
    },
}

/// A value in its own Redis server, guarded by
/// [`REDIS_FENCED_SET`](fencelock_core::fence::REDIS_FENCED_SET): keys
/// `<name>:fence` (highest admitted token) and `<name>:data` (the value).
#[derive(Debug)]
pub struct FencedResource {
    conn: BlockingConn,
    sha: String,
    fence_key: String,
    data_key: String,
}

impl FencedResource {
    /// Connects to the resource's Redis on `127.0.0.1:port` and loads the script.
    pub fn connect(port: u16, name: &str) -> io::Result<FencedResource> {
        let mut conn = BlockingConn::connect(port, Duration::from_secs(5))?;
        let sha = conn.script_load(REDIS_FENCED_SET)?;
        Ok(FencedResource {
            conn,
            sha,
            fence_key: format!("{name}:fence"),
            data_key: format!("{name}:data"),
        })
    }

    /// SHA1 of the fenced-set script, as the server computed it.
    #[must_use]
    pub fn script_sha(&self) -> &str {
        &self.sha
    }

    /// Writes `value` if `token` is at least the highest token admitted so far.
    pub fn write(&mut self, token: u64, value: &str) -> io::Result<FencedWrite> {
        let token_text = token.to_string();
        let keys = [self.fence_key.as_str(), self.data_key.as_str()];
        let mut reply = self.conn.evalsha(&self.sha, &keys, &[&token_text, value])?;
        if reply.is_noscript() {
            self.sha = self.conn.script_load(REDIS_FENCED_SET)?;
            reply = self.conn.evalsha(&self.sha, &keys, &[&token_text, value])?;
        }
        match reply {
            RespValue::Integer(highest) if highest == i64::try_from(token).unwrap_or(-1) => {
                Ok(FencedWrite::Accepted)
            }
            RespValue::Integer(highest) if highest > 0 => Ok(FencedWrite::Rejected {
                highest: highest.unsigned_abs(),
            }),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("fenced set answered {other:?}"),
            )),
        }
    }

    /// The current value, if any.
    pub fn read(&mut self) -> io::Result<Option<String>> {
        match self.conn.call_str(&["GET", &self.data_key])? {
            RespValue::Bulk(value) => {
                Ok(value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
            }
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("GET answered {other:?}"),
            )),
        }
    }

    /// The highest token admitted so far (0 if none).
    pub fn highest(&mut self) -> io::Result<u64> {
        match self.conn.call_str(&["GET", &self.fence_key])? {
            RespValue::Bulk(None) => Ok(0),
            RespValue::Bulk(Some(bytes)) => String::from_utf8_lossy(&bytes)
                .parse()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("GET answered {other:?}"),
            )),
        }
    }
}
