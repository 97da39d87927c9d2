//! Brute-force throttling: failed sign-in steps are counted per account and per client
//! address over a sliding window; past the limit, that account or address is refused
//! until old failures age out. The refusal looks exactly like any other failure.

use jiff::SignedDuration;
use tally_store::Store;
use tally_types::Clock;

use crate::IamError;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures_per_account: i64,
    pub max_failures_per_ip: i64,
    /// The window failures are counted over, and so how long a lock lasts.
    pub window: SignedDuration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy { max_failures_per_account: 5, max_failures_per_ip: 50, window: SignedDuration::from_mins(15) }
    }
}

pub(crate) fn account_subject(email: &str) -> String {
    format!("account:{}", tally_store::email_key(email))
}

pub(crate) fn ip_subject(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Whether either subject is locked now.
pub(crate) async fn is_locked(
    store: &Store,
    clock: &dyn Clock,
    policy: ThrottlePolicy,
    account: &str,
    ip: Option<&str>,
) -> Result<bool, IamError> {
    let since = clock.now().checked_sub(policy.window).unwrap_or(clock.now());
    let (n_account, _) = store.auth_failures(account, since).await?;
    if n_account >= policy.max_failures_per_account {
        return Ok(true);
    }
    if let Some(ip) = ip {
        let (n_ip, _) = store.auth_failures(&ip_subject(ip), since).await?;
        if n_ip >= policy.max_failures_per_ip {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) async fn record_failure(
    store: &Store,
    clock: &dyn Clock,
    account: &str,
    ip: Option<&str>,
) -> Result<(), IamError> {
    let mut subjects = vec![account.to_string()];
    if let Some(ip) = ip {
        subjects.push(ip_subject(ip));
    }
    store.record_auth_failure(&subjects, clock.now()).await?;
    Ok(())
}
