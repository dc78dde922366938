//! Per-process clocks.
//!
//! The simulator's global time is real time, in microseconds. Each process (client
//! or server) reads its own clock: `local = base_local + elapsed + elapsed * rate_ppm / 1e6`
//! since the last rebase, where `rate_ppm` is the process's rate error and a jump
//! rebases the clock by a signed amount.

/// One process's clock, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    base_global: u64,
    base_local: u64,
    rate_ppm: i64,
}

impl Clock {
    /// A clock that reads `start_local` at global time `now` and runs `rate_ppm`
    /// parts per million fast (negative: slow).
    #[must_use]
    pub fn new(now: u64, start_local: u64, rate_ppm: i64) -> Self {
        Clock {
            base_global: now,
            base_local: start_local,
            rate_ppm,
        }
    }

    /// Rate error in parts per million.
    #[must_use]
    pub fn rate_ppm(&self) -> i64 {
        self.rate_ppm
    }

    /// The local reading at global time `global` (`>=` the last rebase).
    #[must_use]
    pub fn local(&self, global: u64) -> u64 {
        let elapsed = global.saturating_sub(self.base_global) as i64;
        let skew = elapsed.saturating_mul(self.rate_ppm) / 1_000_000;
        (self.base_local as i64 + elapsed + skew).max(0) as u64
    }

    /// Steps the clock by `delta_us` at global time `now` (an NTP step, a VM
    /// resume, an operator); the reading never goes below zero.
    pub fn jump(&mut self, now: u64, delta_us: i64) {
        let local = self.local(now) as i64;
        self.base_local = (local + delta_us).max(0) as u64;
        self.base_global = now;
    }

    /// The earliest global time `>= now` at which the clock reads at least
    /// `target` (assuming no later jump).
    #[must_use]
    pub fn global_at(&self, target: u64, now: u64) -> u64 {
        if self.local(now) >= target {
            return now;
        }
        let need = (target - self.base_local) as i128;
        let per = 1_000_000i128 + i128::from(self.rate_ppm);
        let mut g = self.base_global as i128 + (need * 1_000_000 + per - 1) / per;
        let mut guard = 0;
        // Integer rounding can leave the estimate a step off either way.
        while self.local(g.max(0) as u64) < target && guard < 8 {
            g += 1;
            guard += 1;
        }
        while g > now as i128 && self.local((g - 1) as u64) >= target && guard < 16 {
            g -= 1;
            guard += 1;
        }
        (g.max(now as i128)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn rates_jumps_and_inversion() {
        let clock = Clock::new(1_000, 5_000, 10_000); // 1 % fast
        assert_eq!(clock.local(1_000), 5_000);
        assert_eq!(clock.local(101_000), 106_000);
        let g = clock.global_at(106_000, 1_000);
        assert_eq!(g, 101_000);
        assert!(clock.local(g - 1) < 106_000);
        let slow = Clock::new(0, 0, -20_000);
        for target in [1u64, 999, 1_000, 123_457, 9_999_999] {
            let g = slow.global_at(target, 0);
            assert!(slow.local(g) >= target && (g == 0 || slow.local(g - 1) < target));
        }
        let mut jumpy = Clock::new(0, 1_000, 0);
        jumpy.jump(500, -2_000);
        assert_eq!(jumpy.local(500), 0);
        assert_eq!(jumpy.local(1_500), 1_000);
    }
}
