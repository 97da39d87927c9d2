//! SCIM Users: the organization's members on its verified domains.

use serde_json::{Map, Value, json};
use tally_store::ScimMember;
use tally_types::{ErrorKind, OrgRole, UserId};

use super::*;
use crate::admin::Ctx;

/// Identity providers send booleans as JSON booleans or as "True"/"False" (Entra).
pub(super) fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The published attributes of an incoming user, checked and normalized.
pub(super) fn published(body: &Map<String, Value>) -> Result<Map<String, Value>, ScimError> {
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

pub(super) fn emails(value: &Value) -> Result<Vec<Value>, ScimError> {
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
pub(super) fn person_name(attributes: &Map<String, Value>) -> String {
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

pub(super) fn external_id(body: &Map<String, Value>) -> Result<Option<String>, ScimError> {
    match body.iter().find(|(key, _)| key.eq_ignore_ascii_case("externalId")).map(|(_, value)| value) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(_) => Err(ScimError::invalid("externalId must be a string")),
    }
}

impl<'a> Scim<'a> {
    pub(super) fn user_id(id: &str) -> Result<UserId, ScimError> {
        id.parse::<i64>().ok().filter(|id| *id > 0).map(UserId).ok_or_else(ScimError::not_found)
    }

    pub fn new(ctx: Ctx<'a>, grant: &ScimGrant, base: String) -> Scim<'a> {
        Scim { ctx, org_id: grant.org_id(), base, domains: Default::default(), visible: Default::default() }
    }

    pub(super) async fn verified_domains(&self) -> Result<&[String], ScimError> {
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

    pub(super) fn visible(member: &ScimMember, domains: &[String]) -> bool {
        domains.contains(&tally_store::email_domain(&member.user.email))
    }

    /// The user as SCIM shows it.
    pub(super) fn resource(&self, member: &ScimMember) -> Value {
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

    pub(super) async fn member(&self, id: &str) -> Result<ScimMember, ScimError> {
        let member =
            self.ctx.store.scim_member(self.org_id, Self::user_id(id)?).await?.ok_or_else(ScimError::not_found)?;
        if !Self::visible(&member, self.verified_domains().await?) {
            return Err(ScimError::not_found());
        }
        Ok(member)
    }

    pub(super) async fn checked_user_name(&self, attributes: &Map<String, Value>) -> Result<String, ScimError> {
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
                ErrorKind::Conflict,
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
    pub(super) async fn write(
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

    pub(super) async fn apply(
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
                ErrorKind::Forbidden,
                None,
                "an organization Owner cannot be turned off by the identity provider; change their role in Tally first",
            ));
        }
        let sole = self.ctx.store.membership_count(user_id).await? == 1;
        if !email.eq_ignore_ascii_case(&member.user.email) && !sole {
            return Err(ScimError::new(
                ErrorKind::InvalidInput,
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
                ErrorKind::Forbidden,
                None,
                "an organization Owner cannot be removed by the identity provider; change their role in Tally first",
            ));
        }
        let audit = self.ctx.audit(self.org_id, None, "scim.user_deleted", "user", user_id.0);
        self.ctx.store.remove_org_member(self.org_id, user_id, &audit).await?;
        Ok(())
    }
}
