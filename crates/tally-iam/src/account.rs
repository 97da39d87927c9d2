//! The signed-in account's own records: its organizations and its sessions. Each function
//! takes the account as authentication produced it (a live session's user, or the service
//! account whose secret was checked), never an id from a request.

use tally_store::{Membership, ServiceAccount, SessionInfo, User};
use tally_types::Principal;

use crate::IamError;
use crate::directory::{Metadata, raw};

/// Who authenticated.
#[derive(Debug, Clone)]
pub enum Account {
    User(User),
    ServiceAccount(ServiceAccount),
}

impl Account {
    pub fn principal(&self) -> Principal {
        match self {
            Account::User(user) => Principal::User(user.id),
            Account::ServiceAccount(account) => Principal::ServiceAccount(account.id),
        }
    }
}

/// The organizations the account belongs to, with its role in each.
pub async fn memberships(metadata: &impl Metadata, account: &Account) -> Result<Vec<Membership>, IamError> {
    let store = raw(metadata);
    Ok(match account {
        Account::User(user) => store.memberships(user.id).await?,
        Account::ServiceAccount(service) => store.memberships_of_service_account(service.id).await?,
    })
}

/// The person's live sessions.
pub async fn sessions(metadata: &impl Metadata, user: &User) -> Result<Vec<SessionInfo>, IamError> {
    Ok(raw(metadata).sessions_of(user.id).await?)
}

/// Ends one of the person's sessions; `false` when they have none by that id.
pub async fn end_session(metadata: &impl Metadata, user: &User, public_id: &str) -> Result<bool, IamError> {
    Ok(raw(metadata).delete_session_by_public_id(user.id, public_id).await?)
}
