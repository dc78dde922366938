//! Connections to one Redis server: the pipelined one the [`crate::Client`] uses
//! for each master, and a plain blocking one.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use fencelock_core::redlock::Script;
use fencelock_core::wire::resp::{decode, encode_command, Limits, RespValue};
use fencelock_core::RequestId;

/// What a reply on a node connection answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    /// A machine's command: `machine` is the host's id for the `Redlock` machine
    /// (request ids restart at 1 for every machine, so they alone are ambiguous).
    Eval { machine: u64, req: RequestId },
    /// A `SCRIPT LOAD` the host sent on its own.
    Load { script: Script },
}

/// One reply (or connection failure) handed from a reader thread to the driver.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub node: u16,
    pub tag: Tag,
    /// The reply, or why the connection broke before it came.
    pub result: Result<RespValue, String>,
}

/// Requests written on a connection and not answered yet, in order.
#[derive(Debug, Default)]
struct Pending {
    tags: VecDeque<Tag>,
    /// Set by the reader when the connection is finished; every tag pushed before
    /// was (or will be) answered by the reader, and no tag may be pushed after.
    closed: bool,
}

fn lock(pending: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    // A panicking reader thread leaves consistent data behind: keep going.
    pending.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A pipelined connection to one node. Commands are queued to a writer thread
/// in the order the driver submits them, so a stopped server never blocks the
/// driver; a reader thread parses replies in order, pairs each with its tag and
/// sends it to the driver's channel. Every submitted tag is answered exactly
/// once: by its reply, or by a connection error when the connection ends.
#[derive(Debug)]
pub(crate) struct NodeConn {
    stream: TcpStream,
    pending: Arc<Mutex<Pending>>,
    writer: Sender<Vec<u8>>,
}

impl NodeConn {
    /// Connects (bounded by `timeout`) and starts the reader and writer threads.
    pub(crate) fn connect(
        node: u16,
        addr: SocketAddr,
        timeout: Duration,
        deliveries: Sender<Delivery>,
    ) -> io::Result<NodeConn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (writer, outbox) = mpsc::channel();
        let read_half = stream.try_clone()?;
        let write_half = stream.try_clone()?;
        {
            let pending = Arc::clone(&pending);
            thread::Builder::new()
                .name(format!("fencelock-read-{node}"))
                .spawn(move || read_replies(node, read_half, &pending, &deliveries))?;
        }
        thread::Builder::new()
            .name(format!("fencelock-write-{node}"))
            .spawn(move || write_commands(write_half, &outbox))?;
        Ok(NodeConn {
            stream,
            pending,
            writer,
        })
    }

    /// Whether the connection is finished (the reader saw EOF, an I/O error or a
    /// malformed reply); a new one must be made.
    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.pending).closed
    }

    /// Queues `bytes` (holding one command per tag, in order) for writing.
    /// Returns `false`, having sent nothing, if the connection is already finished.
    pub(crate) fn submit(&self, tags: &[Tag], bytes: Vec<u8>) -> bool {
        {
            let mut pending = lock(&self.pending);
            if pending.closed {
                return false;
            }
            pending.tags.extend(tags.iter().copied());
        }
        if self.writer.send(bytes).is_err() {
            // The writer failed and shut the socket down: the reader answers the
            // tags just pushed with connection errors.
            let _ = self.stream.shutdown(Shutdown::Both);
        }
        true
    }
}

impl Drop for NodeConn {
    fn drop(&mut self) {
        // Ends both threads; the reader answers what is still pending.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn write_commands(mut stream: TcpStream, outbox: &Receiver<Vec<u8>>) {
    while let Ok(mut bytes) = outbox.recv() {
        // Coalesce what is already queued into one write.
        while let Ok(more) = outbox.try_recv() {
            bytes.extend_from_slice(&more);
        }
        if stream.write_all(&bytes).is_err() {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

fn read_replies(
    node: u16,
    mut stream: TcpStream,
    pending: &Mutex<Pending>,
    deliveries: &Sender<Delivery>,
) {
    let limits = Limits::default();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let reason = 'read: loop {
        match stream.read(&mut chunk) {
            Ok(0) => break "connection closed".to_string(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break format!("connection error: {e}"),
        }
        let mut used = 0;
        loop {
            match decode(&buf[used..], &limits) {
                Ok(Some((value, len))) => {
                    used += len;
                    let Some(tag) = lock(pending).tags.pop_front() else {
                        break 'read "reply without a request".to_string();
                    };
                    let delivery = Delivery {
                        node,
                        tag,
                        result: Ok(value),
                    };
                    if deliveries.send(delivery).is_err() {
                        break 'read "client gone".to_string();
                    }
                }
                Ok(None) => break,
                Err(e) => break 'read format!("bad reply ({}): {e}", e.code()),
            }
        }
        buf.drain(..used);
    };
    let _ = stream.shutdown(Shutdown::Both);
    let orphans: Vec<Tag> = {
        let mut pending = lock(pending);
        pending.closed = true;
        pending.tags.drain(..).collect()
    };
    for tag in orphans {
        let delivery = Delivery {
            node,
            tag,
            result: Err(reason.clone()),
        };
        if deliveries.send(delivery).is_err() {
            return;
        }
    }
}

/// A plain blocking RESP connection: one command, one reply. For the fenced
/// resource and for script-level checks, not for lock masters.
#[derive(Debug)]
pub struct BlockingConn {
    stream: TcpStream,
    buf: Vec<u8>,
    limits: Limits,
}

impl BlockingConn {
    /// Connects to `127.0.0.1:port`; every reply must arrive within `timeout`.
    pub fn connect(port: u16, timeout: Duration) -> io::Result<BlockingConn> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(BlockingConn {
            stream,
            buf: Vec::new(),
            limits: Limits::default(),
        })
    }

    /// Sends one command and waits for its reply. Error replies are returned as
    /// [`RespValue::Error`], not as `Err`; `Err` means the connection failed.
    pub fn call(&mut self, args: &[&[u8]]) -> io::Result<RespValue> {
        let mut out = Vec::new();
        encode_command(args, &mut out);
        self.stream.write_all(&out)?;
        let mut chunk = [0u8; 4096];
        loop {
            match decode(&self.buf, &self.limits) {
                Ok(Some((value, used))) => {
                    self.buf.drain(..used);
                    return Ok(value);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// [`BlockingConn::call`] with string arguments.
    pub fn call_str(&mut self, args: &[&str]) -> io::Result<RespValue> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.call(&args)
    }

    /// Runs `EVALSHA <sha> <keys.len()> keys.. args..`.
    pub fn evalsha(&mut self, sha: &str, keys: &[&str], args: &[&str]) -> io::Result<RespValue> {
        let numkeys = keys.len().to_string();
        let mut all: Vec<&str> = vec!["EVALSHA", sha, &numkeys];
        all.extend_from_slice(keys);
        all.extend_from_slice(args);
        self.call_str(&all)
    }

    /// Loads `source` with `SCRIPT LOAD` and returns the SHA1 the server reports.
    pub fn script_load(&mut self, source: &str) -> io::Result<String> {
        match self.call(&[b"SCRIPT", b"LOAD", source.as_bytes()])? {
            RespValue::Bulk(Some(sha)) => Ok(String::from_utf8_lossy(&sha).into_owned()),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("SCRIPT LOAD answered {other:?}"),
            )),
        }
    }
}
