//! Per-project ingestion rate limits (`ingest.events_per_second_per_project`): a token
//! bucket per project holding one second's worth, refilled continuously on the instance
//! clock (so tests move time instead of sleeping).

use std::collections::HashMap;
use std::sync::Mutex;

pub(crate) struct ProjectLimiter {
    /// Events per second; 0 is no limit.
    rate: u64,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at_ms: i64,
}

impl ProjectLimiter {
    pub(crate) fn new(rate: u64) -> ProjectLimiter {
        ProjectLimiter { rate, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes each project's count from its bucket, for all projects or none. `Err` holds
    /// the seconds to wait before the request could pass. A request larger than a
    /// second's worth passes on a full bucket and leaves it in debt for the rest, so
    /// batching cannot exceed the rate.
    pub(crate) fn take(&self, now_ms: i64, counts: &HashMap<i64, u64>) -> Result<(), u64> {
        if self.rate == 0 {
            return Ok(());
        }
        let rate = self.rate as f64;
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut wait_s: f64 = 0.0;
        for (project, n) in counts {
            let bucket = buckets.entry(*project).or_insert(Bucket { tokens: rate, at_ms: now_ms });
            let elapsed_s = (now_ms - bucket.at_ms).max(0) as f64 / 1000.0;
            bucket.tokens = (bucket.tokens + elapsed_s * rate).min(rate);
            bucket.at_ms = now_ms.max(bucket.at_ms);
            let needed = (*n as f64).min(rate);
            if bucket.tokens < needed {
                wait_s = wait_s.max((needed - bucket.tokens) / rate);
            }
        }
        if wait_s > 0.0 {
            return Err((wait_s.ceil() as u64).max(1));
        }
        for (project, n) in counts {
            if let Some(bucket) = buckets.get_mut(project) {
                bucket.tokens -= *n as f64;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(i64, u64)]) -> HashMap<i64, u64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn a_second_worth_passes_then_waits_for_refill() {
        let limiter = ProjectLimiter::new(100);
        assert_eq!(limiter.take(0, &counts(&[(1, 100)])), Ok(()));
        assert_eq!(limiter.take(0, &counts(&[(1, 1)])), Err(1));
        assert_eq!(limiter.take(500, &counts(&[(1, 50)])), Ok(()), "half a second refills half");
        assert_eq!(limiter.take(500, &counts(&[(2, 100)])), Ok(()), "projects have their own buckets");
    }

    #[test]
    fn all_or_nothing_across_projects_and_big_requests_cost_a_full_bucket() {
        let limiter = ProjectLimiter::new(10);
        assert_eq!(limiter.take(0, &counts(&[(1, 5)])), Ok(()));
        assert_eq!(limiter.take(0, &counts(&[(1, 6), (2, 1)])), Err(1));
        assert_eq!(limiter.take(0, &counts(&[(2, 10)])), Ok(()), "project 2 was not charged");
        assert_eq!(limiter.take(10_000, &counts(&[(1, 5000)])), Ok(()), "a full bucket admits a big batch");
        assert_eq!(limiter.take(10_000, &counts(&[(1, 1)])), Err(500), "and then waits it off");
        assert_eq!(limiter.take(510_000, &counts(&[(1, 1)])), Ok(()));
        assert_eq!(ProjectLimiter::new(0).take(0, &counts(&[(1, u64::MAX)])), Ok(()));
    }
}
