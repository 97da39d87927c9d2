//! SCIM 2.0 provisioning of an organization's members (RFC 7643/7644, the subset
//! identity providers use): `/Users` with `eq`/`and` filters, replace and patch,
//! discovery documents. Only members whose e-mail is on one of the organization's
//! verified claimed domains are visible and manageable; SCIM creates Members and never
//! grants a higher organization role, and it cannot remove or turn off an Owner.
//!
//! The provider's view of a user (the published attributes as it last wrote them) is kept
//! beside Tally's own state, so what it reads back is what it sent; Tally's state wins
//! where they meet (`userName` is the account's e-mail, `active` the membership's state).

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use tally_store::{ScimMember, StoreError, Team};
use tally_types::{OrgId, OrgRole, Principal, Secret, TeamId, UserId};

use crate::admin::Ctx;
use crate::authz::OrgScope;
use crate::{IamError, token_hash};

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

/// A SCIM error: its HTTP status, `scimType` and a message an administrator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError { status, scim_type, detail: detail.into() }
    }

    fn invalid(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidValue"), detail)
    }

    fn not_found() -> ScimError {
        ScimError::new(404, None, "no such resource")
    }

    /// The error's body.
    pub fn body(&self) -> Value {
        let mut body = json!({ "schemas": [ERROR_SCHEMA], "status": self.status.to_string(), "detail": self.detail });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        body
    }
}

impl From<StoreError> for ScimError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ScimError::not_found(),
            StoreError::Conflict(what) => ScimError::new(409, Some("uniqueness"), format!("{what} already exists")),
            StoreError::Unavailable(_) => {
                ScimError::new(503, None, "the metadata database is unavailable; try again shortly")
            }
            other => {
                tracing::error!(error = %other, "SCIM request failed in the store");
                ScimError::new(500, None, "internal error")
            }
        }
    }
}

/// The organization a SCIM bearer token belongs to.
pub async fn authenticate(store: &tally_store::Store, token: &str) -> Result<Option<OrgId>, StoreError> {
    store.scim_org(&token_hash(token)).await
}

/// A new SCIM token for the organization (password re-entry), shown once; the previous
/// one stops working.
pub async fn issue_token(
    ctx: Ctx<'_>,
    scope: &OrgScope,
    password: Option<&Secret<String>>,
) -> Result<Secret<String>, IamError> {
    crate::domains::reenter_password(ctx, scope, password).await?;
    let org_id = scope.org_id();
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

fn domain_of(email: &str) -> Option<String> {
    let (local, domain) = email.rsplit_once('@')?;
    (!local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'))
        .then(|| domain.to_ascii_lowercase())
}

/// A PatchOp's operations (Entra also spells the key in lower case).
fn operations(body: &Value) -> Result<&Vec<Value>, ScimError> {
    body.get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid(format!("a PatchOp ({PATCH_SCHEMA}) with Operations is required")))
}

/// Identity providers send booleans as JSON booleans or as "True"/"False" (Entra).
fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The published attributes of an incoming user, checked and normalized.
fn published(body: &Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
    let mut kept = Map::new();
    for (key, value) in body {
        let Some(name) = USER_ATTRIBUTES.iter().find(|name| name.eq_ignore_ascii_case(key)) else { continue };
        if value.is_null() {
            continue;
        }
        let value = match *name {
            "active" => Value::Bool(boolean(value).ok_or_else(|| ScimError::invalid("active must be true or false"))?),
            "userName" | "displayName" => match value {
                Value::String(text) => Value::String(text.trim().to_string()),
                _ => return Err(ScimError::invalid(format!("{name} must be a string"))),
            },
            "name" => match value {
                Value::Object(parts) => Value::Object(
                    parts
                        .iter()
                        .filter(|(part, value)| {
                            ["formatted", "familyName", "givenName"].contains(&part.as_str()) && value.is_string()
                        })
                        .map(|(part, value)| (part.clone(), value.clone()))
                        .collect(),
                ),
                _ => return Err(ScimError::invalid("name must be an object")),
            },
            _ => Value::Array(emails(value)?),
        };
        kept.insert((*name).to_string(), value);
    }
    Ok(kept)
}

fn emails(value: &Value) -> Result<Vec<Value>, ScimError> {
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![value.clone()],
        _ => return Err(ScimError::invalid("emails must be a list of {value, type, primary}")),
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(fields) = item else { return Err(ScimError::invalid("each email must be an object")) };
            let mut email = Map::new();
            for (field, value) in fields {
                match field.as_str() {
                    "value" | "type" if value.is_string() => {
                        email.insert(field.clone(), value.clone());
                    }
                    "primary" => {
                        let flag =
                            boolean(value).ok_or_else(|| ScimError::invalid("emails.primary must be a boolean"))?;
                        email.insert(field.clone(), Value::Bool(flag));
                    }
                    _ => {}
                }
            }
            Ok(Value::Object(email))
        })
        .collect()
}

/// What Tally calls the person: displayName, else name.formatted, else given + family.
fn person_name(attributes: &Map<String, Value>) -> String {
    if let Some(name) = attributes.get("displayName").and_then(Value::as_str).filter(|name| !name.is_empty()) {
        return name.to_string();
    }
    let name = attributes.get("name");
    if let Some(formatted) = name.and_then(|name| name.get("formatted")).and_then(Value::as_str) {
        return formatted.to_string();
    }
    let part = |key: &str| name.and_then(|name| name.get(key)).and_then(Value::as_str).unwrap_or_default();
    format!("{} {}", part("givenName"), part("familyName")).trim().to_string()
}

fn external_id(body: &Map<String, Value>) -> Result<Option<String>, ScimError> {
    match body.iter().find(|(key, _)| key.eq_ignore_ascii_case("externalId")).map(|(_, value)| value) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(_) => Err(ScimError::invalid("externalId must be a string")),
    }
}

/// One clause of a filter: attribute, value.
type Clause = (String, Value);

/// Parses the filters identity providers send: `attr eq "value"` joined by `and`.
pub fn parse_filter(filter: &str) -> Result<Vec<Clause>, ScimError> {
    let unsupported = |why: &str| {
        ScimError::new(
            400,
            Some("invalidFilter"),
            format!(
                "the filter {filter:?} is not supported ({why}): use attr eq \"value\" on userName, externalId, \
                 emails or id, joined by and"
            ),
        )
    };
    let mut clauses = Vec::new();
    let mut rest = filter.trim();
    loop {
        let (attribute, after) = rest.split_once(char::is_whitespace).ok_or_else(|| unsupported("incomplete"))?;
        let after = after.trim_start();
        let (operator, after) = after.split_once(char::is_whitespace).ok_or_else(|| unsupported("incomplete"))?;
        if !operator.eq_ignore_ascii_case("eq") {
            return Err(unsupported(&format!("operator {operator:?}")));
        }
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((index, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, escaped)) => text.push(escaped),
                        None => return Err(unsupported("unterminated string")),
                    },
                    '"' => {
                        end = Some(index + 1);
                        break;
                    }
                    c => text.push(c),
                }
            }
            let end = end.ok_or_else(|| unsupported("unterminated string"))?;
            (Value::String(text), &quoted[end..])
        } else {
            let (word, after) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            let value = match word {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                other => return Err(unsupported(&format!("value {other:?} is not a quoted string"))),
            };
            (value, after)
        };
        let known = ["userName", "externalId", "emails", "emails.value", "id", "active", "displayName"];
        let Some(attribute) = known.iter().find(|known| known.eq_ignore_ascii_case(attribute)) else {
            return Err(unsupported(&format!("attribute {attribute:?}")));
        };
        clauses.push(((*attribute).to_string(), value));
        let after = after.trim();
        if after.is_empty() {
            return Ok(clauses);
        }
        let (joiner, next) = after.split_once(char::is_whitespace).ok_or_else(|| unsupported("trailing text"))?;
        if !joiner.eq_ignore_ascii_case("and") {
            return Err(unsupported(&format!("{joiner:?}")));
        }
        rest = next.trim_start();
    }
}

fn matches(resource: &Value, (attribute, wanted): &Clause) -> bool {
    let same_text = |value: &Value| match (value.as_str(), wanted.as_str()) {
        (Some(have), Some(want)) => have.eq_ignore_ascii_case(want),
        _ => false,
    };
    match attribute.as_str() {
        "emails" | "emails.value" => {
            resource["emails"].as_array().is_some_and(|emails| emails.iter().any(|email| same_text(&email["value"])))
        }
        "externalId" | "id" => resource.get(attribute) == Some(wanted),
        "active" => resource.get("active").and_then(boolean).unwrap_or(true) == wanted.as_bool().unwrap_or(true),
        _ => resource.get(attribute).is_some_and(same_text),
    }
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

impl<'a> Scim<'a> {
    fn user_id(id: &str) -> Result<UserId, ScimError> {
        id.parse::<i64>().ok().filter(|id| *id > 0).map(UserId).ok_or_else(ScimError::not_found)
    }

    pub fn new(ctx: Ctx<'a>, org_id: OrgId, base: String) -> Scim<'a> {
        Scim { ctx, org_id, base, domains: Default::default(), visible: Default::default() }
    }

    async fn verified_domains(&self) -> Result<&[String], ScimError> {
        let domains = self
            .domains
            .get_or_try_init(|| async {
                let domains = self.ctx.store.domains(self.org_id).await?;
                Ok::<_, ScimError>(
                    domains
                        .into_iter()
                        .filter(|domain| domain.status == "verified")
                        .map(|domain| domain.domain)
                        .collect(),
                )
            })
            .await?;
        Ok(domains)
    }

    fn visible(member: &ScimMember, domains: &[String]) -> bool {
        domains.contains(&tally_store::email_domain(&member.user.email))
    }

    /// The user as SCIM shows it.
    fn resource(&self, member: &ScimMember) -> Value {
        let stored: Option<Map<String, Value>> =
            member.resource.as_deref().and_then(|text| serde_json::from_str(text).ok());
        let provisioned = stored.is_some();
        let mut attributes = stored.unwrap_or_else(|| {
            let mut synthesized = Map::new();
            if !member.user.name.is_empty() {
                synthesized.insert("displayName".into(), json!(member.user.name));
            }
            synthesized.insert("emails".into(), json!([{ "value": member.user.email, "primary": true }]));
            synthesized
        });
        attributes.insert("userName".into(), json!(member.user.email));
        if member.deactivated_at.is_some() {
            attributes.insert("active".into(), json!(false));
        } else if !provisioned || attributes.contains_key("active") {
            attributes.insert("active".into(), json!(true));
        }
        let id = member.user.id.0.to_string();
        let mut resource = json!({
            "schemas": [USER_SCHEMA],
            "id": id,
            "meta": {
                "resourceType": "User",
                "created": member.user.created_at.to_string(),
                "lastModified": member.updated_at.unwrap_or(member.user.created_at).to_string(),
                "location": format!("{}/Users/{id}", self.base),
            },
        });
        if let Some(external_id) = &member.external_id {
            resource["externalId"] = json!(external_id);
        }
        if let Value::Object(fields) = &mut resource {
            fields.extend(attributes);
        }
        resource
    }

    async fn member(&self, id: &str) -> Result<ScimMember, ScimError> {
        let member =
            self.ctx.store.scim_member(self.org_id, Self::user_id(id)?).await?.ok_or_else(ScimError::not_found)?;
        if !Self::visible(&member, self.verified_domains().await?) {
            return Err(ScimError::not_found());
        }
        Ok(member)
    }

    async fn checked_user_name(&self, attributes: &Map<String, Value>) -> Result<String, ScimError> {
        let user_name = attributes
            .get("userName")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| ScimError::invalid("userName is required: the person's e-mail address"))?;
        let domains = self.verified_domains().await?;
        match domain_of(user_name) {
            Some(domain) if domains.contains(&domain) => Ok(user_name.to_string()),
            _ => Err(ScimError::invalid(format!(
                "userName {user_name:?} must be an e-mail address on one of this organization's verified domains ({}); \
                 claim and verify the domain in Tally first",
                if domains.is_empty() { "none yet".to_string() } else { domains.join(", ") }
            ))),
        }
    }

    pub async fn list_users(&self, filter: Option<&str>) -> Result<Vec<Value>, ScimError> {
        let clauses = filter.filter(|text| !text.trim().is_empty()).map(parse_filter).transpose()?.unwrap_or_default();
        let domains = self.verified_domains().await?;
        let members = self.ctx.store.scim_members(self.org_id).await?;
        Ok(members
            .iter()
            .filter(|member| Self::visible(member, domains))
            .map(|member| self.resource(member))
            .filter(|resource| clauses.iter().all(|clause| matches(resource, clause)))
            .collect())
    }

    pub async fn get_user(&self, id: &str) -> Result<Value, ScimError> {
        Ok(self.resource(&self.member(id).await?))
    }

    pub async fn create_user(&self, body: &Value) -> Result<Value, ScimError> {
        let Value::Object(body) = body else { return Err(ScimError::invalid("the body must be a User object")) };
        let attributes = published(body)?;
        let email = self.checked_user_name(&attributes).await?;
        let existing = match self.ctx.store.user_by_email(&email).await? {
            Some(user) => self.ctx.store.scim_member(self.org_id, user.id).await?,
            None => None,
        };
        if existing.is_some() {
            return Err(ScimError::new(
                409,
                Some("uniqueness"),
                format!("a member with userName {email:?} already exists; find it with filter=userName eq \"{email}\""),
            ));
        }
        let audit = self.ctx.audit(self.org_id, None, "scim.user_created", "user", &email);
        let user = self.ctx.store.create_sso_member(self.org_id, &email, &person_name(&attributes), &audit).await?;
        let member = self.ctx.store.scim_member(self.org_id, user.id).await?.ok_or_else(ScimError::not_found)?;
        let sole = self.ctx.store.membership_count(user.id).await? == 1;
        self.write(&member, sole, &attributes, external_id(body)?.as_deref(), "scim.user_provisioned").await?;
        self.get_user(&user.id.0.to_string()).await
    }

    /// Stores what the provider wrote and applies it to Tally's state. `member` is the
    /// member before the write; `sole` says it belongs to this organization only (its
    /// account may then be renamed from here).
    async fn write(
        &self,
        member: &ScimMember,
        sole: bool,
        attributes: &Map<String, Value>,
        external_id: Option<&str>,
        event: &str,
    ) -> Result<(), ScimError> {
        let store = self.ctx.store;
        let user_id = member.user.id;
        store.set_member_external_id(self.org_id, user_id, external_id).await?;
        let active = attributes.get("active").and_then(Value::as_bool).unwrap_or(true);
        if member.deactivated_at.is_none() != active {
            let audit = self.ctx.audit(
                self.org_id,
                None,
                if active { "scim.user_activated" } else { "scim.user_deactivated" },
                "user",
                user_id.0,
            );
            store.set_member_active(self.org_id, user_id, active, &audit).await?;
        }
        let name = person_name(attributes);
        if !name.is_empty() && name != member.user.name && sole {
            store.set_user_name(user_id, &name).await?;
        }
        let text = serde_json::to_string(attributes).map_err(|error| ScimError::invalid(error.to_string()))?;
        let audit = self.ctx.audit(self.org_id, None, event, "user", user_id.0);
        store.put_scim_resource(self.org_id, user_id, &text, &audit).await?;
        Ok(())
    }

    pub async fn replace_user(&self, id: &str, body: &Value) -> Result<Value, ScimError> {
        let Value::Object(body) = body else { return Err(ScimError::invalid("the body must be a User object")) };
        let member = self.member(id).await?;
        let attributes = published(body)?;
        self.apply(&member, attributes, external_id(body)?).await
    }

    async fn apply(
        &self,
        member: &ScimMember,
        attributes: Map<String, Value>,
        external_id: Option<String>,
    ) -> Result<Value, ScimError> {
        let email = self.checked_user_name(&attributes).await?;
        let user_id = member.user.id;
        let active = attributes.get("active").and_then(Value::as_bool).unwrap_or(true);
        if member.role == OrgRole::Owner && !active {
            return Err(ScimError::new(
                403,
                None,
                "an organization Owner cannot be turned off by the identity provider; change their role in Tally first",
            ));
        }
        let sole = self.ctx.store.membership_count(user_id).await? == 1;
        if !email.eq_ignore_ascii_case(&member.user.email) && !sole {
            return Err(ScimError::new(
                400,
                Some("mutability"),
                "this account belongs to other organizations too, so its e-mail (userName) cannot change here",
            ));
        }
        if email != member.user.email && sole {
            self.ctx.store.set_user_email(user_id, &email).await?;
        }
        self.write(member, sole, &attributes, external_id.as_deref(), "scim.user_replaced").await?;
        self.get_user(&user_id.0.to_string()).await
    }

    pub async fn patch_user(&self, id: &str, body: &Value) -> Result<Value, ScimError> {
        let member = self.member(id).await?;
        let current = self.resource(&member);
        let Value::Object(mut resource) = current else { return Err(ScimError::not_found()) };
        let operations = operations(body)?;
        for operation in operations {
            apply_operation(&mut resource, operation)?;
        }
        let external_id = external_id(&resource)?;
        let attributes = published(&resource)?;
        self.apply(&member, attributes, external_id).await
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), ScimError> {
        let member = self.member(id).await?;
        let user_id = member.user.id;
        if member.role == OrgRole::Owner {
            return Err(ScimError::new(
                403,
                None,
                "an organization Owner cannot be removed by the identity provider; change their role in Tally first",
            ));
        }
        let audit = self.ctx.audit(self.org_id, None, "scim.user_deleted", "user", user_id.0);
        self.ctx.store.remove_org_member(self.org_id, user_id, &audit).await?;
        Ok(())
    }

    /// `/ServiceProviderConfig`.
    pub fn service_provider_config(&self) -> Value {
        json!({
            "schemas": [CONFIG_SCHEMA],
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": MAX_RESULTS },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": false },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "The organization's SCIM token (Organization settings, SCIM), sent as Authorization: Bearer",
                "primary": true,
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{}/ServiceProviderConfig", self.base) },
        })
    }

    /// `/ResourceTypes`.
    pub fn resource_types(&self) -> Vec<Value> {
        let kind = |id: &str, description: &str, schema: &str| {
            json!({
                "schemas": [RESOURCE_TYPE_SCHEMA],
                "id": id,
                "name": id,
                "endpoint": format!("/{id}s"),
                "description": description,
                "schema": schema,
                "meta": { "resourceType": "ResourceType", "location": format!("{}/ResourceTypes/{id}", self.base) },
            })
        };
        vec![
            kind("User", "A member of the organization", USER_SCHEMA),
            kind("Group", "A team of the organization", GROUP_SCHEMA),
        ]
    }

    /// `/Schemas`.
    pub fn schemas(&self) -> Vec<Value> {
        let text = |name: &str, description: &str, required: bool, uniqueness: &str| {
            json!({
                "name": name, "type": "string", "multiValued": false, "description": description, "required": required,
                "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": uniqueness,
            })
        };
        let sub = |name: &str, description: &str| text(name, description, false, "none");
        let mut email_type = sub("type", "work, home or other");
        email_type["canonicalValues"] = json!(["work", "home", "other"]);
        vec![
            json!({
                "schemas": [SCHEMA_SCHEMA],
                "id": USER_SCHEMA,
                "name": "User",
                "description": "A member of the organization",
                "attributes": [
                    text("userName", "The person's e-mail address, on a verified domain of the organization", true, "server"),
                    {
                        "name": "name", "type": "complex", "multiValued": false, "description": "The person's name",
                        "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                        "subAttributes": [sub("formatted", "The full name"), sub("familyName", "Family name"), sub("givenName", "Given name")],
                    },
                    text("displayName", "The name shown in Tally", false, "none"),
                    {
                        "name": "active", "type": "boolean", "multiValued": false, "description": "Whether the member may sign in",
                        "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                    },
                    {
                        "name": "emails", "type": "complex", "multiValued": true, "description": "E-mail addresses",
                        "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                        "subAttributes": [
                            sub("value", "The address"),
                            email_type,
                            {
                                "name": "primary", "type": "boolean", "multiValued": false, "description": "The main address",
                                "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                            },
                        ],
                    },
                ],
                "meta": { "resourceType": "Schema", "location": format!("{}/Schemas/{USER_SCHEMA}", self.base) },
            }),
            json!({
                "schemas": [SCHEMA_SCHEMA],
                "id": GROUP_SCHEMA,
                "name": "Group",
                "description": "A team of the organization; its members get the team's project roles",
                "attributes": [
                    text("displayName", "The team's name, unique in the organization", true, "server"),
                    {
                        "name": "members", "type": "complex", "multiValued": true, "description": "The team's users",
                        "required": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none",
                        "subAttributes": [
                            sub("value", "The user's id"),
                            {
                                "name": "$ref", "type": "reference", "referenceTypes": ["User"], "multiValued": false,
                                "description": "The user's URL", "required": false, "caseExact": false,
                                "mutability": "immutable", "returned": "default", "uniqueness": "none",
                            },
                            {
                                "name": "type", "type": "string", "canonicalValues": ["User"], "multiValued": false,
                                "description": "Always User", "required": false, "caseExact": false,
                                "mutability": "immutable", "returned": "default", "uniqueness": "none",
                            },
                        ],
                    },
                ],
                "meta": { "resourceType": "Schema", "location": format!("{}/Schemas/{GROUP_SCHEMA}", self.base) },
            }),
        ]
    }
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

/// Groups are teams of the organization, matched by display name.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// What a group should be after a write.
struct GroupState {
    name: String,
    external_id: Option<String>,
    members: Vec<i64>,
}

fn member_ids(value: &Value) -> Result<Vec<i64>, ScimError> {
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .map(|item| {
            let id = item.get("value").unwrap_or(item);
            let text = match id {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                _ => return Err(ScimError::invalid("members must be a list of {\"value\": user id}")),
            };
            text.parse::<i64>()
                .map_err(|_| ScimError::invalid(format!("member {text:?} is not a user of this organization")))
        })
        .collect()
}

impl Scim<'_> {
    fn team_id(id: &str) -> Result<TeamId, ScimError> {
        id.parse::<i64>().ok().filter(|id| *id > 0).map(TeamId).ok_or_else(ScimError::not_found)
    }

    /// The ids of the users SCIM may show and manage.
    async fn visible_users(&self) -> Result<&HashSet<i64>, ScimError> {
        self.visible
            .get_or_try_init(|| async {
                let domains = self.verified_domains().await?;
                let members = self.ctx.store.scim_members(self.org_id).await?;
                Ok(members
                    .iter()
                    .filter(|member| Self::visible(member, domains))
                    .map(|member| member.user.id.0)
                    .collect())
            })
            .await
    }

    /// The team's members that SCIM shows (users on verified domains), by id.
    async fn team_users(&self, team: &Team) -> Result<Vec<i64>, ScimError> {
        let visible = self.visible_users().await?;
        let mut users: Vec<i64> = self
            .ctx
            .store
            .team_members(team.id)
            .await?
            .iter()
            .filter_map(|member| match member.principal {
                Principal::User(id) if visible.contains(&id.0) => Some(id.0),
                _ => None,
            })
            .collect();
        users.sort_unstable();
        Ok(users)
    }

    /// Refuses members that are not users SCIM may manage.
    async fn check_members(&self, members: &[i64]) -> Result<(), ScimError> {
        let visible = self.visible_users().await?;
        match members.iter().find(|id| !visible.contains(id)) {
            Some(stranger) => Err(ScimError::invalid(format!("member {stranger} is not a user of this organization"))),
            None => Ok(()),
        }
    }

    /// The group as SCIM shows it.
    async fn group_resource(&self, team: &Team) -> Result<Value, ScimError> {
        self.with_members(self.group_without_members(team), team).await
    }

    /// The group's own attributes: enough to match a filter (which never looks at members).
    fn group_without_members(&self, team: &Team) -> Value {
        let id = team.id.0.to_string();
        let mut resource = json!({
            "schemas": [GROUP_SCHEMA],
            "id": id,
            "displayName": team.name,
            "meta": {
                "resourceType": "Group",
                "created": team.created_at.to_string(),
                "lastModified": team.created_at.to_string(),
                "location": format!("{}/Groups/{id}", self.base),
            },
        });
        if let Some(external_id) = &team.external_id {
            resource["externalId"] = json!(external_id);
        }
        resource
    }

    async fn with_members(&self, mut resource: Value, team: &Team) -> Result<Value, ScimError> {
        let members = self.team_users(team).await?;
        if !members.is_empty() {
            resource["members"] = Value::Array(
                members
                    .iter()
                    .map(|user| json!({ "value": user.to_string(), "$ref": format!("{}/Users/{user}", self.base), "type": "User" }))
                    .collect(),
            );
        }
        Ok(resource)
    }

    async fn team(&self, id: &str) -> Result<Team, ScimError> {
        self.ctx.store.team(self.org_id, Self::team_id(id)?).await?.ok_or_else(ScimError::not_found)
    }

    pub async fn list_groups(&self, filter: Option<&str>) -> Result<Vec<Value>, ScimError> {
        let clauses = filter.filter(|text| !text.trim().is_empty()).map(parse_filter).transpose()?.unwrap_or_default();
        let mut resources = Vec::new();
        for team in self.ctx.store.teams(self.org_id).await? {
            let resource = self.group_without_members(&team);
            if clauses.iter().all(|clause| matches(&resource, clause)) {
                resources.push(self.with_members(resource, &team).await?);
            }
        }
        Ok(resources)
    }

    pub async fn get_group(&self, id: &str) -> Result<Value, ScimError> {
        let team = self.team(id).await?;
        self.group_resource(&team).await
    }

    fn group_state(body: &Map<String, Value>) -> Result<GroupState, ScimError> {
        let name = body
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("displayName"))
            .and_then(|(_, value)| value.as_str())
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| ScimError::invalid("displayName is required: the team's name"))?
            .to_string();
        let members = body.iter().find(|(key, _)| key.eq_ignore_ascii_case("members")).map(|(_, value)| value);
        Ok(GroupState {
            name,
            external_id: external_id(body)?,
            members: members.map(member_ids).transpose()?.unwrap_or_default(),
        })
    }

    /// Makes the team what `state` says: name, external id, exactly these members.
    async fn write_group(&self, team: &Team, state: GroupState) -> Result<Value, ScimError> {
        let store = self.ctx.store;
        self.check_members(&state.members).await?;
        if state.name != team.name {
            let audit = self.ctx.audit(self.org_id, None, "scim.group_renamed", "team", team.id.0);
            store.rename_team(team.id, &state.name, &audit).await?;
        }
        store.set_team_external_id(team.id, state.external_id.as_deref()).await?;
        let current: HashSet<i64> = self.team_users(team).await?.into_iter().collect();
        let wanted: HashSet<i64> = state.members.into_iter().collect();
        for user in wanted.difference(&current) {
            let audit = self.ctx.audit(self.org_id, None, "scim.group_member_added", "team", team.id.0);
            store.add_team_member(team.id, Principal::User(UserId(*user)), &audit).await?;
        }
        for user in current.difference(&wanted) {
            let audit = self.ctx.audit(self.org_id, None, "scim.group_member_removed", "team", team.id.0);
            store.remove_team_member(team.id, Principal::User(UserId(*user)), &audit).await?;
        }
        self.get_group(&team.id.0.to_string()).await
    }

    pub async fn create_group(&self, body: &Value) -> Result<Value, ScimError> {
        let Value::Object(body) = body else { return Err(ScimError::invalid("the body must be a Group object")) };
        let state = Self::group_state(body)?;
        self.check_members(&state.members).await?;
        let audit = self.ctx.audit(self.org_id, None, "scim.group_created", "team", &state.name);
        let team = self.ctx.store.create_team(self.org_id, &state.name, &audit).await.map_err(|error| match error {
            StoreError::Conflict(_) => ScimError::new(
                409,
                Some("uniqueness"),
                format!(
                    "a team named {:?} already exists; find it with filter=displayName eq \"{}\"",
                    state.name, state.name
                ),
            ),
            other => other.into(),
        })?;
        self.write_group(&team, state).await
    }

    pub async fn replace_group(&self, id: &str, body: &Value) -> Result<Value, ScimError> {
        let Value::Object(body) = body else { return Err(ScimError::invalid("the body must be a Group object")) };
        let team = self.team(id).await?;
        let state = Self::group_state(body)?;
        self.write_group(&team, state).await
    }

    pub async fn patch_group(&self, id: &str, body: &Value) -> Result<Value, ScimError> {
        let team = self.team(id).await?;
        let Value::Object(mut resource) = self.group_resource(&team).await? else {
            return Err(ScimError::not_found());
        };
        let operations = operations(body)?;
        for operation in operations {
            let op = operation.get("op").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
            let path = operation.get("path").and_then(Value::as_str).unwrap_or_default();
            let value = operation.get("value").cloned().unwrap_or(Value::Null);
            let is_members = path.eq_ignore_ascii_case("members");
            match op.as_str() {
                // Okta and Entra: members[value eq "id"] removes one member.
                "remove" if path.starts_with("members[") => {
                    let wanted = path.split('"').nth(1).ok_or_else(|| {
                        ScimError::new(400, Some("invalidPath"), format!("the path {path} is not supported"))
                    })?;
                    if let Some(Value::Array(members)) = resource.get_mut("members") {
                        members.retain(|member| member["value"].as_str() != Some(wanted));
                    }
                }
                "remove" if is_members && !value.is_null() => {
                    let gone = member_ids(&value)?;
                    if let Some(Value::Array(members)) = resource.get_mut("members") {
                        members.retain(|member| {
                            member["value"]
                                .as_str()
                                .and_then(|id| id.parse::<i64>().ok())
                                .is_none_or(|id| !gone.contains(&id))
                        });
                    }
                }
                "add" if is_members => {
                    let added: Vec<Value> =
                        member_ids(&value)?.iter().map(|id| json!({ "value": id.to_string() })).collect();
                    let entry = resource.entry("members".to_string()).or_insert_with(|| json!([]));
                    if let Value::Array(members) = entry {
                        members.extend(added);
                    }
                }
                _ => apply_operation(&mut resource, operation)?,
            }
        }
        let state = Self::group_state(&resource)?;
        self.write_group(&team, state).await
    }

    pub async fn delete_group(&self, id: &str) -> Result<(), ScimError> {
        let team = self.team(id).await?;
        let audit = self.ctx.audit(self.org_id, None, "scim.group_deleted", "team", team.id.0);
        self.ctx.store.delete_team(team.id, &audit).await?;
        Ok(())
    }
}

/// Applies one PATCH operation to a resource (its published attributes and externalId),
/// accepting what Okta and Entra send: PascalCase ops, path-less replace with an object,
/// `emails[type eq "work"].value` paths, string booleans.
fn apply_operation(resource: &mut Map<String, Value>, operation: &Value) -> Result<(), ScimError> {
    let op = operation.get("op").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    if !["add", "replace", "remove"].contains(&op.as_str()) {
        return Err(ScimError::new(400, Some("invalidSyntax"), format!("op {op:?} must be add, replace or remove")));
    }
    let value = operation.get("value").cloned().unwrap_or(Value::Null);
    let path = operation.get("path").and_then(Value::as_str).map(|path| {
        // Paths may carry the schema URN (`urn:...:User:userName`).
        path.strip_prefix(USER_SCHEMA).map(|rest| rest.trim_start_matches(':')).unwrap_or(path).to_string()
    });
    let Some(path) = path.filter(|path| !path.is_empty()) else {
        if op == "remove" {
            return Err(ScimError::new(400, Some("noTarget"), "remove needs a path"));
        }
        let Value::Object(values) = value else {
            return Err(ScimError::new(400, Some("invalidValue"), "an operation without a path needs an object value"));
        };
        for (key, value) in values {
            set_attribute(resource, &op, &key, value);
        }
        return Ok(());
    };
    if let Some((attribute, rest)) = path.split_once('[') {
        return apply_filtered(resource, &op, attribute, rest, value);
    }
    if op == "remove" {
        match path.split_once('.') {
            Some((attribute, sub)) => {
                if let Some(Value::Object(parts)) = resource.get_mut(attribute) {
                    parts.remove(sub);
                }
            }
            None => {
                let key = resource.keys().find(|key| key.eq_ignore_ascii_case(&path)).cloned();
                if let Some(key) = key {
                    resource.remove(&key);
                }
            }
        }
        return Ok(());
    }
    match path.split_once('.') {
        Some((attribute, sub)) => {
            let entry = resource.entry(attribute.to_string()).or_insert_with(|| json!({}));
            if let Value::Object(parts) = entry {
                parts.insert(sub.to_string(), value);
            }
        }
        None => set_attribute(resource, &op, &path, value),
    }
    Ok(())
}

fn set_attribute(resource: &mut Map<String, Value>, op: &str, key: &str, value: Value) {
    let key = resource.keys().find(|have| have.eq_ignore_ascii_case(key)).cloned().unwrap_or_else(|| key.to_string());
    match (op, resource.get_mut(&key), value) {
        // `add` to a list appends.
        ("add", Some(Value::Array(list)), Value::Array(items)) => list.extend(items),
        (_, _, value) => {
            resource.insert(key, value);
        }
    }
}

/// `emails[type eq "work"].value` and `emails[type eq "work"]`.
fn apply_filtered(
    resource: &mut Map<String, Value>,
    op: &str,
    attribute: &str,
    rest: &str,
    value: Value,
) -> Result<(), ScimError> {
    let bad = || ScimError::new(400, Some("invalidPath"), format!("the path {attribute}[{rest} is not supported"));
    let (condition, sub) = rest.split_once(']').ok_or_else(bad)?;
    let sub = sub.strip_prefix('.').filter(|sub| !sub.is_empty());
    let clauses = parse_filter_on(condition).ok_or_else(bad)?;
    let list = resource.entry(attribute.to_string()).or_insert_with(|| json!([]));
    let Value::Array(items) = list else { return Err(bad()) };
    let found = |item: &Value| clauses.iter().all(|(field, wanted)| item.get(field) == Some(wanted));
    if op == "remove" {
        match sub {
            Some(sub) => items.iter_mut().filter(|item| found(item)).for_each(|item| {
                if let Value::Object(fields) = item {
                    fields.remove(sub);
                }
            }),
            None => items.retain(|item| !found(item)),
        }
        return Ok(());
    }
    if !items.iter().any(found) {
        items.push(Value::Object(clauses.iter().cloned().collect()));
    }
    for item in items.iter_mut().filter(|item| found(item)) {
        match (sub, &value, &mut *item) {
            (Some(sub), _, Value::Object(fields)) => {
                fields.insert(sub.to_string(), value.clone());
            }
            (None, Value::Object(update), Value::Object(fields)) => {
                fields.extend(update.clone());
            }
            _ => return Err(bad()),
        }
    }
    Ok(())
}

/// `type eq "work"` (and `and`-joined) inside a path's brackets.
fn parse_filter_on(condition: &str) -> Option<Vec<(String, Value)>> {
    let mut clauses = Vec::new();
    for clause in condition.split(" and ") {
        let mut words = clause.trim().splitn(3, ' ');
        let (field, operator, value) = (words.next()?, words.next()?, words.next()?);
        if !operator.eq_ignore_ascii_case("eq") {
            return None;
        }
        let value = serde_json::from_str::<Value>(value.trim()).ok()?;
        clauses.push((field.to_string(), value));
    }
    Some(clauses)
}

#[cfg(test)]
mod tests {
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
            assert_eq!((error.status, error.scim_type), (400, Some("invalidFilter")), "{bad}");
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
        assert_eq!(error.status, 400);
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
