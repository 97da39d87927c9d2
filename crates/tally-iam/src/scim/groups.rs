//! SCIM Groups: the organization's teams, matched by display name.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use tally_store::{StoreError, Team};
use tally_types::{ErrorKind, Principal, TeamId, UserId};

use super::*;

/// Groups are teams of the organization, matched by display name.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// What a group should be after a write.
pub(super) struct GroupState {
    name: String,
    external_id: Option<String>,
    members: Vec<i64>,
}

pub(super) fn member_ids(value: &Value) -> Result<Vec<i64>, ScimError> {
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
    pub(super) fn team_id(id: &str) -> Result<TeamId, ScimError> {
        id.parse::<i64>().ok().filter(|id| *id > 0).map(TeamId).ok_or_else(ScimError::not_found)
    }

    /// The ids of the users SCIM may show and manage.
    pub(super) async fn visible_users(&self) -> Result<&HashSet<i64>, ScimError> {
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
    pub(super) async fn team_users(&self, team: &Team) -> Result<Vec<i64>, ScimError> {
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
    pub(super) async fn check_members(&self, members: &[i64]) -> Result<(), ScimError> {
        let visible = self.visible_users().await?;
        match members.iter().find(|id| !visible.contains(id)) {
            Some(stranger) => Err(ScimError::invalid(format!("member {stranger} is not a user of this organization"))),
            None => Ok(()),
        }
    }

    /// The group as SCIM shows it.
    pub(super) async fn group_resource(&self, team: &Team) -> Result<Value, ScimError> {
        self.with_members(self.group_without_members(team), team).await
    }

    /// The group's own attributes: enough to match a filter (which never looks at members).
    pub(super) fn group_without_members(&self, team: &Team) -> Value {
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

    pub(super) async fn with_members(&self, mut resource: Value, team: &Team) -> Result<Value, ScimError> {
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

    pub(super) async fn team(&self, id: &str) -> Result<Team, ScimError> {
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

    pub(super) fn group_state(body: &Map<String, Value>) -> Result<GroupState, ScimError> {
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
    pub(super) async fn write_group(&self, team: &Team, state: GroupState) -> Result<Value, ScimError> {
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
                ErrorKind::Conflict,
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
                        ScimError::new(
                            ErrorKind::InvalidInput,
                            Some("invalidPath"),
                            format!("the path {path} is not supported"),
                        )
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
