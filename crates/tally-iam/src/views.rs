//! Data views and classified data (Mixpanel's §2.9), as the access model sees them: who may
//! open which view of a project, and the [`DataScope`] every read of its data goes through.
//!
//! The rules, additive like every grant:
//! - a project's "All Project Data" (view 0) is open to everyone, unless the project makes
//!   a filtered view its default: then it is open only to those who manage the project's
//!   views (`EditProjectSettings`) and to those added to it by hand (as users or teams);
//! - a filtered view is open to those managers, its members (as users or through a team),
//!   and, when it is the default, to everyone;
//! - a request names its view (`workspace_id`), or gets All Project Data when it may, and
//!   the default view otherwise; a view the caller may not open is "not found";
//! - a classified property's values are hidden from everyone without
//!   `access_classified_data` (no built-in role has it).

use std::collections::BTreeSet;

use serde_json::json;
use tally_store::{ALL_PROJECT_DATA, DataView, DataViewMember, Store, StoreError};
use tally_types::permissions::{ProjectMarker, project};
use tally_types::{Principal, ProjectId, ProjectPermission};

use crate::IamError;
use crate::admin::{Ctx, WithChange};
use crate::authz::{DataScope, ProjectPermit, ProjectScope, ViewFilter, Visibility};

/// The project's classified properties, and its Lexicon merges.
pub(crate) async fn lexicon_rules(
    store: &Store,
    project_id: ProjectId,
) -> Result<(BTreeSet<String>, crate::authz::Merges), StoreError> {
    let mut classified = BTreeSet::new();
    let mut merges = crate::authz::Merges::default();
    for entry in store.lexicon_entries(project_id).await? {
        if entry.kind == "property" && entry.classified {
            classified.insert(entry.name.clone());
        }
        if !entry.merged_into.is_empty() {
            let into = entry.merged_into.clone();
            match entry.kind.as_str() {
                "event" => merges.events.insert(entry.name, into),
                _ => merges.properties.insert(entry.name, into),
            };
        }
    }
    Ok((classified, merges))
}

/// Which views a caller may open.
struct Access {
    manages: bool,
    member_of: Vec<i64>,
    default: Option<i64>,
}

impl Access {
    fn may_open(&self, view_id: i64) -> bool {
        self.manages
            || self.member_of.contains(&view_id)
            || self.default == Some(view_id)
            || (view_id == ALL_PROJECT_DATA && self.default.is_none())
    }

    /// The view a request opens: the one it names, or All Project Data when it may, or the
    /// default view.
    fn chosen(&self, requested: Option<i64>) -> Option<i64> {
        match requested {
            Some(id) => self.may_open(id).then_some(id),
            None if self.may_open(ALL_PROJECT_DATA) => Some(ALL_PROJECT_DATA),
            None => self.default,
        }
    }
}

async fn access(store: &Store, scope: &ProjectScope, views: &[DataView]) -> Result<Access, StoreError> {
    let (kind, id) = match scope.principal() {
        Principal::User(id) => ("user", id.0),
        Principal::ServiceAccount(id) => ("service_account", id.0),
    };
    // Without filtered views, every member opens All Project Data: no membership to read.
    let member_of =
        if views.is_empty() { Vec::new() } else { store.data_views_of_member(scope.project_id(), kind, id).await? };
    Ok(Access {
        manages: scope.allows(ProjectPermission::EditProjectSettings),
        member_of,
        default: views.iter().find(|view| view.is_default).map(|view| view.id),
    })
}

fn filter_of(view: &DataView) -> Result<ViewFilter, IamError> {
    let filters = serde_json::from_str(&view.filters)
        .map_err(|error| IamError::Store(StoreError::Corrupt(format!("data view {}: {error}", view.id))))?;
    Ok(ViewFilter { id: view.id, name: view.name.clone(), filters })
}

/// The data scope of a read by the permit's holder: through the data view `requested`
/// (`None`: the one the holder opens by default), without the classified values the holder
/// may not see. A view the holder may not open, or that does not exist, is not found.
pub async fn data_scope<P: ProjectMarker>(
    store: &impl crate::Metadata,
    permit: &ProjectPermit<'_, P>,
    requested: Option<i64>,
) -> Result<DataScope<P>, IamError> {
    let store = crate::directory::raw(store);
    let scope = permit.scope();
    let views = store.data_views(scope.project_id()).await?;
    let access = access(store, scope, &views).await?;
    let chosen = access.chosen(requested).ok_or(IamError::NotFound("data view"))?;
    let view = match chosen {
        ALL_PROJECT_DATA => None,
        id => Some(filter_of(views.iter().find(|view| view.id == id).ok_or(IamError::NotFound("data view"))?)?),
    };
    let (classified, merges) = lexicon_rules(store, scope.project_id()).await?;
    let hidden = if scope.allows(ProjectPermission::AccessClassifiedData) { BTreeSet::new() } else { classified };
    Ok(DataScope::new(scope.project().clone(), Visibility { view, hidden, merges }))
}

/// The visibility of a public link made in view `view_id`: that view (gone: nothing opens)
/// and no classified values, ever.
pub(crate) async fn public_visibility(
    store: &Store,
    project_id: ProjectId,
    view_id: Option<i64>,
) -> Result<Option<Visibility>, StoreError> {
    let view = match view_id {
        None | Some(ALL_PROJECT_DATA) => None,
        Some(id) => {
            let views = store.data_views(project_id).await?;
            let Some(view) = views.iter().find(|view| view.id == id) else { return Ok(None) };
            match filter_of(view) {
                Ok(filter) => Some(filter),
                Err(_) => return Ok(None),
            }
        }
    };
    let (hidden, merges) = lexicon_rules(store, project_id).await?;
    Ok(Some(Visibility { view, hidden, merges }))
}

/// A data view as listed: All Project Data is id 0, with no filters.
#[derive(Debug, Clone)]
pub struct ListedView {
    pub view: DataView,
    /// Its members (listed only to those who manage views).
    pub members: Vec<DataViewMember>,
}

/// The views the caller may open (every view for those who manage them, with members).
pub async fn list_data_views(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
) -> Result<Vec<ListedView>, IamError> {
    let scope = permit.scope();
    let views = ctx.store.data_views(scope.project_id()).await?;
    let access = access(ctx.store, scope, &views).await?;
    let members = if access.manages { ctx.store.data_view_members(scope.project_id()).await? } else { Vec::new() };
    let all = DataView {
        id: ALL_PROJECT_DATA,
        project_id: scope.project_id(),
        name: "All Project Data".to_string(),
        description: "Every event and profile of the project.".to_string(),
        filters: "{}".to_string(),
        is_default: access.default.is_none(),
        created_by: None,
        created_at: scope.project().created_at,
        modified_at: scope.project().created_at,
    };
    Ok(std::iter::once(all)
        .chain(views)
        .filter(|view| access.may_open(view.id))
        .map(|view| ListedView {
            members: members.iter().filter(|member| member.view_id == view.id).cloned().collect(),
            view,
        })
        .collect())
}

/// What a manager of data views sets: the filters come validated by the caller (the query
/// engine owns their model).
#[derive(Debug, Clone, Default)]
pub struct DataViewInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub filters: Option<serde_json::Value>,
    pub is_default: Option<bool>,
}

fn apply(view: &mut DataView, input: &DataViewInput) -> Result<(), IamError> {
    if let Some(name) = &input.name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(IamError::invalid("name", "must be 1 to 255 characters"));
        }
        if name.eq_ignore_ascii_case("All Project Data") {
            return Err(IamError::invalid("name", "\"All Project Data\" is the name of the unfiltered view"));
        }
        view.name = name.to_string();
    }
    if let Some(description) = &input.description {
        view.description = crate::reports::checked_text("description", description, 5000)?;
    }
    if let Some(filters) = &input.filters {
        view.filters = filters.to_string();
    }
    if let Some(is_default) = input.is_default {
        view.is_default = is_default;
    }
    Ok(())
}

pub async fn create_data_view(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditProjectSettings>,
    input: &DataViewInput,
) -> Result<DataView, IamError> {
    if input.name.is_none() || input.filters.is_none() {
        return Err(IamError::invalid("name", "a data view needs a name and filters"));
    }
    let now = ctx.now();
    let mut view = DataView {
        id: 0,
        project_id: permit.project_id(),
        name: String::new(),
        description: String::new(),
        filters: String::new(),
        is_default: false,
        created_by: ctx.actor.user_id(),
        created_at: now,
        modified_at: now,
    };
    apply(&mut view, input)?;
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "data_view.created", "data_view", 0)
        .with(None, Some(json!({ "name": view.name, "filters": input.filters, "is_default": view.is_default })));
    Ok(ctx.store.create_data_view(&view, &audit).await?)
}

async fn existing(ctx: &Ctx<'_>, project_id: ProjectId, view_id: i64) -> Result<DataView, IamError> {
    ctx.store
        .data_views(project_id)
        .await?
        .into_iter()
        .find(|view| view.id == view_id)
        .ok_or(IamError::NotFound("data view"))
}

pub async fn update_data_view(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditProjectSettings>,
    view_id: i64,
    input: &DataViewInput,
) -> Result<DataView, IamError> {
    let mut view = existing(&ctx, permit.project_id(), view_id).await?;
    apply(&mut view, input)?;
    view.modified_at = ctx.now();
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "data_view.updated", "data_view", view_id)
        .with(None, Some(json!({ "name": view.name, "filters": input.filters, "is_default": view.is_default })));
    ctx.store.update_data_view(&view, &audit).await?;
    Ok(view)
}

/// Deletes a view, its members and the public links made in it.
pub async fn delete_data_view(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditProjectSettings>,
    view_id: i64,
) -> Result<(), IamError> {
    let audit = ctx.audit(permit.org_id(), Some(permit.project_id()), "data_view.deleted", "data_view", view_id);
    match ctx.store.delete_data_view(permit.project_id(), view_id, &audit).await {
        Err(StoreError::NotFound) => Err(IamError::NotFound("data view")),
        other => Ok(other?),
    }
}

/// Replaces the members of a view (0: All Project Data): users of the organization and its
/// teams.
pub async fn set_data_view_members(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditProjectSettings>,
    view_id: i64,
    members: &[(String, i64)],
) -> Result<Vec<DataViewMember>, IamError> {
    if view_id != ALL_PROJECT_DATA {
        existing(&ctx, permit.project_id(), view_id).await?;
    }
    if members.len() > 1000 {
        return Err(IamError::invalid("members", "at most 1000 members"));
    }
    let mut checked = Vec::new();
    for (kind, id) in members {
        match kind.as_str() {
            "user" => {
                let standing =
                    ctx.store.org_standing(permit.org_id(), Principal::User(tally_types::UserId(*id))).await?;
                if standing.is_none() {
                    return Err(IamError::invalid("members", format!("user {id} is not a member of the organization")));
                }
            }
            "team" => {
                if ctx.store.team(permit.org_id(), tally_types::TeamId(*id)).await?.is_none() {
                    return Err(IamError::invalid("members", format!("team {id} is not a team of the organization")));
                }
            }
            other => {
                return Err(IamError::invalid("members", format!("a member is a user or a team, not {other:?}")));
            }
        }
        checked.push(DataViewMember { view_id, kind: kind.clone(), id: *id });
    }
    checked.sort();
    checked.dedup();
    let audit =
        ctx.audit(permit.org_id(), Some(permit.project_id()), "data_view.members_set", "data_view", view_id).with(
            None,
            Some(json!(checked.iter().map(|member| format!("{}:{}", member.kind, member.id)).collect::<Vec<_>>())),
        );
    ctx.store.set_data_view_members(permit.project_id(), view_id, &checked, &audit).await?;
    Ok(checked)
}

/// Marks a property classified (its values then hidden from those without
/// `access_classified_data`) or not.
pub async fn set_property_classified(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::MarkClassifiedData>,
    name: &str,
    classified: bool,
) -> Result<tally_store::LexiconEntry, IamError> {
    let mut entry = crate::reports::entry_of(&ctx, permit.project_id(), "property", name).await?;
    entry.classified = classified;
    let audit = ctx
        .audit(
            permit.org_id(),
            Some(permit.project_id()),
            "lexicon.property_classified",
            "lexicon_entry",
            format!("property:{name}"),
        )
        .with(None, Some(json!({ "classified": classified })));
    ctx.store.save_lexicon_entry(permit.project_id(), &entry, &audit).await?;
    Ok(entry)
}
