//! The fenced resource: records every write with its token and owner, admits a
//! token only if it is `>=` the highest admitted (the core's `FenceGuard`), and
//! reports what it saw.

use fencelock_core::{Admission, FenceGuard, FencingToken};

/// What happened to one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Admitted.
    Accepted,
    /// Refused: a higher token was already admitted.
    Rejected,
}

/// One accepted or refused write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Write {
    /// Real time, µs.
    pub at: u64,
    /// Writer's token (`None` without fencing).
    pub token: Option<u64>,
    /// Writer (the hold / lease index).
    pub owner: u32,
    /// Outcome.
    pub outcome: WriteOutcome,
}

/// One protected resource.
#[derive(Clone, Debug, Default)]
pub struct Resource {
    guard: FenceGuard,
    /// Every write, in order (kept only when the run records a trace).
    pub log: Vec<Write>,
    keep_log: bool,
    last_owner: Option<u32>,
    /// Latest acquisition time among the owners whose writes were accepted.
    pub newest_writer_acquired: u64,
    /// Writes accepted.
    pub accepted: u64,
    /// Writes refused as stale.
    pub rejected: u64,
}

impl Resource {
    /// A resource that has seen nothing; `keep_log` keeps every write.
    #[must_use]
    pub fn new(keep_log: bool) -> Self {
        Resource {
            keep_log,
            ..Resource::default()
        }
    }

    /// The owner of the last accepted write.
    #[must_use]
    pub fn last_owner(&self) -> Option<u32> {
        self.last_owner
    }

    /// Applies one write: with a token, through the guard; without, always.
    pub fn write(&mut self, at: u64, token: Option<u64>, owner: u32) -> WriteOutcome {
        let outcome = match token {
            Some(t) => match self.guard.admit(FencingToken(t)) {
                Admission::Accepted => WriteOutcome::Accepted,
                _ => WriteOutcome::Rejected,
            },
            None => WriteOutcome::Accepted,
        };
        match outcome {
            WriteOutcome::Accepted => {
                self.accepted += 1;
                self.last_owner = Some(owner);
            }
            WriteOutcome::Rejected => self.rejected += 1,
        }
        if self.keep_log {
            self.log.push(Write {
                at,
                token,
                owner,
                outcome,
            });
        }
        outcome
    }
}
