//! Request bookkeeping shared by the etcd machines: ids from 1, reply deadlines,
//! given-up requests whose late replies are accepted and ignored, and duplicates.

use alloc::vec::Vec;

use crate::error::UsageError;
use crate::redlock::MAX_GIVEN_UP;
use crate::types::{Millis, RequestId};

#[derive(Clone, Copy, Debug)]
struct Pending<T> {
    req: u64,
    tag: T,
    /// `None`: no reply deadline (a watch).
    deadline: Option<Millis>,
    /// Counted by the machine; given-up requests only await late replies.
    live: bool,
}

/// Outstanding requests of one machine, tagged with what each one was for.
#[derive(Clone, Debug)]
pub(crate) struct Requests<T> {
    next: u64,
    pending: Vec<Pending<T>>,
    given_up: usize,
    forgotten_below: u64,
}

impl<T: Copy> Requests<T> {
    pub(crate) fn new() -> Self {
        Requests {
            next: 1,
            pending: Vec::with_capacity(4),
            given_up: 0,
            forgotten_below: 0,
        }
    }

    /// Allocates the next id for a live request.
    pub(crate) fn issue(&mut self, tag: T, deadline: Option<Millis>) -> RequestId {
        let req = self.next;
        self.next += 1;
        self.pending.push(Pending {
            req,
            tag,
            deadline,
            live: true,
        });
        RequestId(req)
    }

    /// Rejects replies for requests never issued, or already answered.
    pub(crate) fn check(&self, req: RequestId) -> Result<(), UsageError> {
        if req.0 == 0 || req.0 >= self.next {
            return Err(UsageError::UnknownRequest { req });
        }
        if self.pending.iter().any(|p| p.req == req.0) || req.0 < self.forgotten_below {
            Ok(())
        } else {
            Err(UsageError::DuplicateReply { req })
        }
    }

    /// Removes an answered request: `Some(tag)` if the machine still counts it,
    /// `None` if it was given up (or forgotten).
    pub(crate) fn answer(&mut self, req: RequestId) -> Option<T> {
        let index = self.pending.iter().position(|p| p.req == req.0)?;
        let pending = self.pending.remove(index);
        if pending.live {
            Some(pending.tag)
        } else {
            self.given_up -= 1;
            None
        }
    }

    /// Stops counting `req`; its late reply will be ignored.
    pub(crate) fn give_up(&mut self, req: RequestId) {
        if let Some(p) = self.pending.iter_mut().find(|p| p.req == req.0 && p.live) {
            p.live = false;
            self.given_up += 1;
        }
        self.forget_excess();
    }

    /// Stops counting every live request.
    pub(crate) fn give_up_all(&mut self) {
        for p in self.pending.iter_mut().filter(|p| p.live) {
            p.live = false;
            self.given_up += 1;
        }
        self.forget_excess();
    }

    /// Earliest reply deadline of a live request.
    pub(crate) fn next_deadline(&self) -> Option<Millis> {
        self.pending
            .iter()
            .filter(|p| p.live)
            .filter_map(|p| p.deadline)
            .min()
    }

    /// Gives up the earliest live request whose deadline is at or before `now`.
    pub(crate) fn time_out(&mut self, now: Millis) -> Option<(RequestId, T)> {
        let overdue = self
            .pending
            .iter_mut()
            .filter(|p| p.live && p.deadline.is_some_and(|d| d <= now))
            .min_by_key(|p| (p.deadline, p.req))?;
        overdue.live = false;
        let found = (RequestId(overdue.req), overdue.tag);
        self.given_up += 1;
        self.forget_excess();
        Some(found)
    }

    fn forget_excess(&mut self) {
        while self.given_up > MAX_GIVEN_UP {
            let Some(index) = self.pending.iter().position(|p| !p.live) else {
                break;
            };
            let forgotten = self.pending.remove(index);
            self.given_up -= 1;
            self.forgotten_below = self.forgotten_below.max(forgotten.req + 1);
        }
    }
}
