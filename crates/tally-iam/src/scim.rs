//! SCIM 2.0 provisioning of an organization's members (RFC 7643/7644, the subset
//! identity providers use): `/Users` with `eq`/`and` filters, replace and patch,
//! discovery documents. Only members whose e-mail is on one of the organization's
//! verified claimed domains are visible and manageable; SCIM creates Members and never
//! grants a higher organization role, and it cannot remove or turn off an Owner.
//!
//! The provider's view of a user (the published attributes as it last wrote them) is kept
//! beside Tally's own state, so what it reads back is what it sent; Tally's state wins
//! where they meet (`userName` is the account's e-mail, `active` the membership's state).
//!
//! One file per job: [`filter`] (the `eq`/`and` filters), [`patch`] (PatchOp as Okta and
//! Entra send it), [`users`] and [`groups`] (the resources), [`discovery`] (the
//! documents that describe the service). Nothing here knows HTTP: errors carry an
//! [`ErrorKind`] that the server maps to a status.

use std::collections::HashSet;

use serde_json::{Value, json};
use tally_store::StoreError;
use tally_types::{ErrorKind, OrgId, Secret};

use crate::admin::Ctx;
use crate::authz::OrgPermit;
use crate::{IamError, token_hash};
use tally_types::permissions::org::ManageSecurity;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const CONFIG_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// The user attributes Tally publishes, keeps and returns (besides id, externalId, meta).
const USER_ATTRIBUTES: [&str; 5] = ["userName", "name", "displayName", "active", "emails"];
/// Most resources in one list response.
pub const MAX_RESULTS: usize = 1000;

/// A SCIM error: what kind of failure it is (the server turns it into an HTTP status),
/// its `scimType`, and a message an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub kind: ErrorKind,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(kind: ErrorKind, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError { kind, scim_type, detail: detail.into() }
    }

    fn invalid(detail: impl Into<String>) -> ScimError {
        ScimError::new(ErrorKind::InvalidInput, Some("invalidValue"), detail)
    }

    fn not_found() -> ScimError {
        ScimError::new(ErrorKind::NotFound, None, "no such resource")
    }
}

impl From<StoreError> for ScimError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ScimError::not_found(),
            StoreError::Conflict(what) => {
                ScimError::new(ErrorKind::Conflict, Some("uniqueness"), format!("{what} already exists"))
            }
            StoreError::Unavailable(_) => {
                ScimError::new(ErrorKind::Unavailable, None, "the metadata database is unavailable; try again shortly")
            }
            other => {
                tracing::error!(error = %other, "SCIM request failed in the store");
                ScimError::new(ErrorKind::Internal, None, "internal error")
            }
        }
    }
}

/// The organization a SCIM bearer token belongs to.
pub async fn authenticate(store: &impl crate::Metadata, token: &str) -> Result<Option<ScimGrant>, StoreError> {
    let store = crate::directory::raw(store);
    Ok(store.scim_org(&token_hash(token)).await?.map(|org_id| ScimGrant { org_id }))
}

/// Proof that a request carried an organization's SCIM token: only [`authenticate`] makes
/// one, and [`Scim`] serves only the organization it names (no raw id reaches it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScimGrant {
    org_id: OrgId,
}

impl ScimGrant {
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }
}

/// A new SCIM token for the organization (password re-entry), shown once; the previous
/// one stops working.
pub async fn issue_token(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageSecurity>,
    password: Option<&Secret<String>>,
) -> Result<Secret<String>, IamError> {
    crate::domains::reenter_password(ctx, permit, password).await?;
    let org_id = permit.org_id();
    let token = Secret::new(format!("scim_{}", tally_types::token::random_hex(24)));
    let audit = ctx.audit(org_id, None, "scim.token_issued", "organization", org_id);
    ctx.store.set_scim_token(org_id, &token_hash(token.expose()), &audit).await?;
    Ok(token)
}

/// One organization's SCIM service, answering at `base` (the absolute URL of
/// `/api/app/scim/v2`).
pub struct Scim<'a> {
    ctx: Ctx<'a>,
    org_id: OrgId,
    base: String,
    /// Read once per request: the organization's verified domains, and the users on them.
    domains: tokio::sync::OnceCell<Vec<String>>,
    visible: tokio::sync::OnceCell<HashSet<i64>>,
}

mod discovery;
mod filter;
mod groups;
mod patch;
mod users;

pub use filter::parse_filter;
pub use groups::GROUP_SCHEMA;

use filter::matches;
use patch::{apply_operation, operations};
use users::external_id;

fn domain_of(email: &str) -> Option<String> {
    let (local, domain) = email.rsplit_once('@')?;
    (!local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'))
        .then(|| domain.to_ascii_lowercase())
}

/// Keeps only `attributes` (or drops `excluded`) of a resource; `schemas` and `id` stay.
pub fn project(resource: Value, attributes: Option<&str>, excluded: Option<&str>) -> Value {
    let Value::Object(mut fields) = resource else { return resource };
    let names = |list: &str| -> Vec<String> {
        list.split(',')
            .map(|name| {
                name.trim().rsplit(':').next().unwrap_or_default().split('.').next().unwrap_or_default().to_string()
            })
            .filter(|name| !name.is_empty())
            .collect()
    };
    let always = ["schemas", "id"];
    if let Some(attributes) = attributes.filter(|list| !list.trim().is_empty()) {
        let wanted = names(attributes);
        fields.retain(|key, _| {
            always.contains(&key.as_str()) || wanted.iter().any(|name| name.eq_ignore_ascii_case(key))
        });
    } else if let Some(excluded) = excluded {
        let dropped = names(excluded);
        fields.retain(|key, _| {
            always.contains(&key.as_str()) || !dropped.iter().any(|name| name.eq_ignore_ascii_case(key))
        });
    }
    Value::Object(fields)
}

/// The list response of `resources` (already filtered), one page.
pub fn list_response(resources: Vec<Value>, start_index: usize, count: Option<usize>) -> Value {
    let total = resources.len();
    let start = start_index.max(1);
    let count = count.unwrap_or(MAX_RESULTS).min(MAX_RESULTS);
    let page: Vec<Value> = resources.into_iter().skip(start - 1).take(count).collect();
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": page.len(),
        "Resources": page,
    })
}

/// The resources served: users (members) and groups (teams).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    /// The kind a path segment (`Users`, `Groups`) names.
    pub fn from_segment(segment: &str) -> Option<Kind> {
        match segment {
            "Users" => Some(Kind::User),
            "Groups" => Some(Kind::Group),
            _ => None,
        }
    }
}

impl Scim<'_> {
    pub async fn list(&self, kind: Kind, filter: Option<&str>) -> Result<Vec<Value>, ScimError> {
        match kind {
            Kind::User => self.list_users(filter).await,
            Kind::Group => self.list_groups(filter).await,
        }
    }

    pub async fn get(&self, kind: Kind, id: &str) -> Result<Value, ScimError> {
        match kind {
            Kind::User => self.get_user(id).await,
            Kind::Group => self.get_group(id).await,
        }
    }

    pub async fn create(&self, kind: Kind, body: &Value) -> Result<Value, ScimError> {
        match kind {
            Kind::User => self.create_user(body).await,
            Kind::Group => self.create_group(body).await,
        }
    }

    pub async fn replace(&self, kind: Kind, id: &str, body: &Value) -> Result<Value, ScimError> {
        match kind {
            Kind::User => self.replace_user(id, body).await,
            Kind::Group => self.replace_group(id, body).await,
        }
    }

    pub async fn patch(&self, kind: Kind, id: &str, body: &Value) -> Result<Value, ScimError> {
        match kind {
            Kind::User => self.patch_user(id, body).await,
            Kind::Group => self.patch_group(id, body).await,
        }
    }

    pub async fn delete(&self, kind: Kind, id: &str) -> Result<(), ScimError> {
        match kind {
            Kind::User => self.delete_user(id).await,
            Kind::Group => self.delete_group(id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::users::published;

    use super::*;

    #[test]
    fn filters_are_eq_joined_by_and() {
        let clauses = parse_filter(r#"userName eq "ada@acme.example" and externalId eq "x\"y""#).unwrap();
        assert_eq!(clauses, vec![("userName".into(), json!("ada@acme.example")), ("externalId".into(), json!("x\"y"))]);
        assert_eq!(parse_filter("EMAILS.VALUE Eq \"a@b.c\"").unwrap()[0].0, "emails.value");
        for bad in [
            "userName co \"a\"",
            "userName eq \"a\" or id eq \"1\"",
            "title eq \"x\"",
            "userName eq",
            "(userName eq \"a\")",
        ] {
            let error = parse_filter(bad).unwrap_err();
            assert_eq!((error.kind, error.scim_type), (ErrorKind::InvalidInput, Some("invalidFilter")), "{bad}");
        }
    }

    #[test]
    fn patches_as_okta_and_entra_send_them() {
        let mut resource = Map::new();
        resource.insert("userName".into(), json!("ada@acme.example"));
        resource.insert("active".into(), json!(true));
        for operation in [
            json!({ "op": "Replace", "value": { "active": "False", "displayName": "Ada L." } }),
            json!({ "op": "Add", "path": "emails[type eq \"work\"].value", "value": "ada@acme.example" }),
            json!({ "op": "replace", "path": "name.givenName", "value": "Ada" }),
            json!({ "op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:displayName", "value": "Ada" }),
        ] {
            apply_operation(&mut resource, &operation).unwrap();
        }
        let attributes = published(&resource).unwrap();
        assert_eq!(attributes["active"], json!(false), "string booleans");
        assert_eq!(attributes["displayName"], "Ada");
        assert_eq!(attributes["emails"], json!([{ "type": "work", "value": "ada@acme.example" }]));
        assert_eq!(attributes["name"], json!({ "givenName": "Ada" }));
        apply_operation(&mut resource, &json!({ "op": "remove", "path": "emails[type eq \"work\"]" })).unwrap();
        assert_eq!(resource["emails"], json!([]));
        let error = apply_operation(&mut resource, &json!({ "op": "move", "path": "x" })).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidInput);
    }

    #[test]
    fn projection_keeps_schemas_and_id() {
        let resource =
            json!({ "schemas": [USER_SCHEMA], "id": "1", "userName": "a", "name": { "givenName": "A" }, "emails": [] });
        assert_eq!(
            project(resource.clone(), Some("userName"), None),
            json!({ "schemas": [USER_SCHEMA], "id": "1", "userName": "a" })
        );
        let without = project(resource, None, Some("name,emails"));
        assert_eq!(without, json!({ "schemas": [USER_SCHEMA], "id": "1", "userName": "a" }));
    }
}
