//! Sign-in sessions: a 256-bit random token in a cookie, only its hash in the store.

use jiff::SignedDuration;
use tally_store::SessionOrigin;
use tally_types::{Clock, OrgId, Secret, UserId};

use crate::{IamError, token_hash};

/// Characters of a session token: 43 alphanumerics carry 256 bits.
const TOKEN_LEN: usize = 43;

/// Don't write `last_seen_at` on every request: once a minute is precise enough for the
/// idle timeout.
const TOUCH_EVERY: SignedDuration = SignedDuration::from_secs(60);

/// How long a session lives.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Ends after this long without a request.
    pub idle: SignedDuration,
    /// Ends this long after sign-in, however active.
    pub absolute: SignedDuration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy { idle: SignedDuration::from_hours(24 * 7), absolute: SignedDuration::from_hours(24 * 30) }
    }
}

/// Where a request comes from, for session lists, throttling and the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Starts a session and returns its token, to be handed to the client once.
pub async fn start(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
    policy: SessionPolicy,
    user_id: UserId,
    client: &ClientInfo,
) -> Result<Secret<String>, IamError> {
    let store = crate::directory::raw(store);
    start_with(store, clock, policy, user_id, client, None).await
}

/// Starts a session; one made by an organization's single sign-on (`sso_org`) opens that
/// organization only.
pub async fn start_with(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
    policy: SessionPolicy,
    user_id: UserId,
    client: &ClientInfo,
    sso_org: Option<OrgId>,
) -> Result<Secret<String>, IamError> {
    let store = crate::directory::raw(store);
    let token = tally_types::token::random_alphanumeric(TOKEN_LEN);
    let now = clock.now();
    let expires_at = now.checked_add(policy.absolute).unwrap_or(now);
    let origin = SessionOrigin {
        public_id: tally_types::token::random_hex(8),
        ip: client.ip.clone(),
        user_agent: client.user_agent.as_ref().map(|agent| agent.chars().take(300).collect()),
    };
    store.insert_session(&token_hash(&token), user_id, now, expires_at, &origin, sso_org).await?;
    Ok(Secret::new(token))
}

/// A live session: whose it is, and the one organization it opens when single sign-on
/// made it.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The account the session signed in.
    pub user: tally_store::User,
    pub sso_org: Option<OrgId>,
}

/// The live session a token names; `None` for unknown, expired or idle ones.
pub async fn resolve(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
    policy: SessionPolicy,
    token: &str,
) -> Result<Option<LiveSession>, IamError> {
    let store = crate::directory::raw(store);
    let hash = token_hash(token);
    let Some(session) = store.session(&hash).await? else { return Ok(None) };
    let now = clock.now();
    let idle_until = session.last_seen_at.checked_add(policy.idle).unwrap_or(session.last_seen_at);
    if now >= session.expires_at || now >= idle_until {
        store.delete_session(&hash).await?;
        return Ok(None);
    }
    if now.duration_since(session.last_seen_at) >= TOUCH_EVERY {
        store.touch_session(&hash, now).await?;
    }
    let Some(user) = store.user_by_id(session.user_id).await? else { return Ok(None) };
    Ok(Some(LiveSession { user, sso_org: session.sso_org_id }))
}

/// Ends a session (sign-out). Unknown tokens are ignored.
pub async fn end(store: &impl crate::Metadata, token: &str) -> Result<(), IamError> {
    let store = crate::directory::raw(store);
    store.delete_session(&token_hash(token)).await?;
    Ok(())
}
