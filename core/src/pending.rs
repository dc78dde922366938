//! Request bookkeeping shared by every machine:
//! ids from 1, send times (a reply proves what the server saw at its *send*
//! time), reply deadlines, given-up requests whose late replies are accepted and
//! ignored, and duplicates.

use alloc::vec::Vec;

use crate::error::UsageError;
use crate::types::{Millis, RequestId};

/// Given-up requests remembered so that their late replies are told apart from
/// duplicates. Beyond this many, the oldest are forgotten: a reply for a forgotten
/// request is accepted and ignored, whether it is late or a duplicate.
pub const MAX_GIVEN_UP: usize = 256;

#[derive(Clone, Copy, Debug)]
struct Pending<T> {
    req: u64,
    tag: T,
    sent: Millis,
    /// `None`: no reply deadline.
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

    /// Allocates the next id for a live request sent at `sent`.
    pub(crate) fn issue(&mut self, tag: T, sent: Millis, deadline: Option<Millis>) -> RequestId {
        let req = self.next;
        self.next += 1;
        self.pending.push(Pending {
            req,
            tag,
            sent,
            deadline,
            live: true,
        });
        RequestId(req)
    }

    /// Allocates the next id for a request the machine does not wait for (a
    /// clean-up sent to every node): its reply, whenever it comes, is ignored.
    pub(crate) fn issue_given_up(&mut self, tag: T, sent: Millis) -> RequestId {
        let req = self.issue(tag, sent, None);
        self.give_up(req);
        req
    }

    /// The tag of an outstanding request (live or given up), if it is still known.
    pub(crate) fn tag_of(&self, req: RequestId) -> Option<T> {
        self.pending.iter().find(|p| p.req == req.0).map(|p| p.tag)
    }

    /// Rejects an id this tracker never issued.
    pub(crate) fn check_issued(&self, req: RequestId) -> Result<(), UsageError> {
        if req.0 == 0 || req.0 >= self.next {
            return Err(UsageError::UnknownRequest { req });
        }
        Ok(())
    }

    /// Rejects replies for requests never issued, or already answered.
    pub(crate) fn check(&self, req: RequestId) -> Result<(), UsageError> {
        self.check_issued(req)?;
        if self.pending.iter().any(|p| p.req == req.0) || req.0 < self.forgotten_below {
            Ok(())
        } else {
            Err(UsageError::DuplicateReply { req })
        }
    }

    /// Stops counting every live request.
    pub(crate) fn give_up_all(&mut self) {
        for p in self.pending.iter_mut().filter(|p| p.live) {
            p.live = false;
            self.given_up += 1;
        }
        self.forget_excess();
    }

    /// Removes an answered request: `Some((tag, sent))` if the machine still counts
    /// it, `None` if it was given up (or forgotten).
    pub(crate) fn answer(&mut self, req: RequestId) -> Option<(T, Millis)> {
        let index = self.pending.iter().position(|p| p.req == req.0)?;
        let pending = self.pending.remove(index);
        if pending.live {
            Some((pending.tag, pending.sent))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_count_from_one_and_late_replies_are_told_from_duplicates() {
        let mut reqs = Requests::new();
        let a = reqs.issue('a', Millis(10), Some(Millis(20)));
        let b = reqs.issue('b', Millis(11), None);
        assert_eq!((a, b), (RequestId(1), RequestId(2)));
        assert_eq!(reqs.next_deadline(), Some(Millis(20)));
        assert_eq!(reqs.time_out(Millis(20)), Some((a, 'a')));
        assert!(reqs.check(a).is_ok());
        assert_eq!(reqs.answer(a), None, "late reply of a given-up request");
        assert_eq!(
            reqs.check(a),
            Err(UsageError::DuplicateReply { req: a }),
            "answered twice"
        );
        assert_eq!(reqs.answer(b), Some(('b', Millis(11))));
        assert_eq!(
            reqs.check(RequestId(3)),
            Err(UsageError::UnknownRequest { req: RequestId(3) })
        );
        assert_eq!(
            reqs.check(RequestId(0)),
            Err(UsageError::UnknownRequest { req: RequestId(0) })
        );
    }

    #[test]
    fn given_up_requests_beyond_the_cap_are_forgotten() {
        let mut reqs = Requests::new();
        for _ in 0..MAX_GIVEN_UP + 10 {
            let req = reqs.issue((), Millis(0), None);
            reqs.give_up(req);
        }
        assert!(reqs.check(RequestId(1)).is_ok(), "forgotten: accepted");
        assert_eq!(reqs.answer(RequestId(1)), None);
        assert_eq!(reqs.next, MAX_GIVEN_UP as u64 + 11);
    }
}
