//! The Lexicon beyond single edits (`reports` holds those): merging events and event
//! properties at query time, importing a dictionary from CSV, and Mixpanel's Lexicon
//! Schemas API. Merging, like dropping, is the project Owner's (`merge_drop_data`); the rest
//! is for those who edit the Lexicon (`edit_lexicon`).

use serde_json::{Value, json};
use tally_store::{LexiconEntry, LexiconSchema};
use tally_types::OrgId;
use tally_types::permissions::project;

use crate::IamError;
use crate::admin::{Ctx, WithChange};
use crate::authz::ProjectPermit;

/// At most this many owners per entry.
const MAX_OWNERS: usize = 20;

/// Owners by e-mail, each a member of the organization, sorted.
pub(crate) async fn checked_owners(ctx: &Ctx<'_>, org_id: OrgId, owners: &[String]) -> Result<Vec<String>, IamError> {
    crate::admin::member_emails(ctx, org_id, owners, "owners", MAX_OWNERS, "owners", "").await
}

/// Merges an event or event property (`kind`) into another in every query (`into`), or
/// stops merging it (`None`); the raw data and the export keep the raw names.
pub async fn set_merged(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::MergeDropData>,
    kind: &str,
    name: &str,
    into: Option<&str>,
) -> Result<LexiconEntry, IamError> {
    let mut entry = crate::reports::entry_of(&ctx, permit.project_id(), kind, name).await?;
    let entries = ctx.store.lexicon_entries(permit.project_id()).await?;
    let into = into.map(str::trim).filter(|into| !into.is_empty());
    if let Some(into) = into {
        if into == name {
            return Err(IamError::invalid("into", "an event or property merges into another, not itself"));
        }
        if into.chars().count() > 255 {
            return Err(IamError::invalid("into", "must be 1 to 255 characters"));
        }
        if let Some(target) = entries.iter().find(|other| other.kind == kind && other.name == into)
            && !target.merged_into.is_empty()
        {
            return Err(IamError::invalid(
                "into",
                format!("{into} is itself merged into {}: merge into that instead", target.merged_into),
            ));
        }
        if entries.iter().any(|other| other.kind == kind && other.merged_into == name) {
            return Err(IamError::invalid("into", format!("others are merged into {name}: unmerge them first")));
        }
    }
    entry.merged_into = into.unwrap_or_default().to_string();
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "lexicon.merged", "lexicon_entry", format!("{kind}:{name}"))
        .with(None, Some(json!({ "merged_into": entry.merged_into })));
    ctx.store.save_lexicon_entry(permit.project_id(), &entry, &audit).await?;
    Ok(entry)
}

/// One row of a Lexicon CSV import (the export's columns).
#[derive(Debug, Clone, Default)]
pub struct ImportRow {
    /// `event` or `property`.
    pub kind: String,
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub hidden: bool,
    pub owners: Vec<String>,
}

/// Imports a dictionary: each row overwrites the edits of the entry of the same kind and
/// name; with `replace`, every other entry loses its edits. Drops, merges and classification
/// are not the dictionary's: they stay as they are.
pub async fn import_csv(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditLexicon>,
    rows: &[ImportRow],
    replace: bool,
) -> Result<usize, IamError> {
    if rows.len() > 20_000 {
        return Err(IamError::invalid("csv", "at most 20,000 rows"));
    }
    let existing = ctx.store.lexicon_entries(permit.project_id()).await?;
    let mut entries = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let line = index + 2;
        if !matches!(row.kind.as_str(), "event" | "property") {
            return Err(IamError::invalid(
                "csv",
                format!("line {line}: kind is event or property, not {:?}", row.kind),
            ));
        }
        if row.name.is_empty() || row.name.chars().count() > 255 {
            return Err(IamError::invalid("csv", format!("line {line}: a name is 1 to 255 characters")));
        }
        if row.display_name.chars().count() > 255 || row.description.chars().count() > 5000 {
            return Err(IamError::invalid("csv", format!("line {line}: the display name or description is too long")));
        }
        let mut entry = existing
            .iter()
            .find(|entry| entry.kind == row.kind && entry.name == row.name)
            .cloned()
            .unwrap_or(LexiconEntry { kind: row.kind.clone(), name: row.name.clone(), ..Default::default() });
        entry.display_name = row.display_name.trim().to_string();
        entry.description = row.description.trim().to_string();
        let mut tags: Vec<String> =
            row.tags.iter().map(|tag| tag.trim().to_string()).filter(|tag| !tag.is_empty()).collect();
        tags.sort();
        tags.dedup();
        entry.tags = tags;
        entry.hidden = row.hidden;
        entry.owners = checked_owners(&ctx, permit.org_id(), &row.owners)
            .await
            .map_err(|error| IamError::invalid("csv", format!("line {line}: {error}")))?;
        entries.push(entry);
    }
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "lexicon.imported", "lexicon", permit.project_id().0)
        .with(None, Some(json!({ "rows": entries.len(), "replace": replace })));
    ctx.store.save_lexicon_entries(permit.project_id(), &entries, replace, &audit).await?;
    Ok(entries.len())
}

/// The project's schemas (Mixpanel's Lexicon Schemas API), narrowed by entity type and name.
pub async fn schemas(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    entity_type: Option<&str>,
    name: Option<&str>,
) -> Result<Vec<LexiconSchema>, IamError> {
    if let Some(entity_type) = entity_type {
        checked_entity(entity_type)?;
    }
    Ok(ctx.store.lexicon_schemas(permit.project_id(), entity_type, name).await?)
}

fn checked_entity(entity_type: &str) -> Result<(), IamError> {
    if !matches!(entity_type, "event" | "profile") {
        return Err(IamError::NotFound("schema entity type (event or profile)"));
    }
    Ok(())
}

fn com_mixpanel(value: &Value) -> &Value {
    &value["metadata"]["com.mixpanel"]
}

/// The Lexicon entries a schema sets: the event (or nothing, for a profile) and its
/// properties, with display names, descriptions, tags, hidden, dropped and contacts.
fn entries_of(schema: &LexiconSchema, document: &Value, existing: &[LexiconEntry]) -> Vec<LexiconEntry> {
    let entry = |kind: &str, name: &str| {
        existing.iter().find(|entry| entry.kind == kind && entry.name == name).cloned().unwrap_or(LexiconEntry {
            kind: kind.to_string(),
            name: name.to_string(),
            ..Default::default()
        })
    };
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let mut entries = Vec::new();
    if schema.entity_type == "event" {
        let mut event = entry("event", &schema.name);
        let meta = com_mixpanel(document);
        event.description = text(&document["description"]);
        event.display_name = text(&meta["displayName"]);
        event.tags = meta["tags"].as_array().map(|tags| tags.iter().map(text).collect()).unwrap_or_default();
        event.hidden = meta["hidden"].as_bool().unwrap_or(false);
        event.dropped = meta["dropped"].as_bool().unwrap_or(false);
        event.owners = meta["contacts"].as_array().map(|owners| owners.iter().map(text).collect()).unwrap_or_default();
        entries.push(event);
    }
    for (name, property) in document["properties"].as_object().into_iter().flatten() {
        let mut entry = entry("property", name);
        let meta = com_mixpanel(property);
        entry.description = text(&property["description"]);
        entry.display_name = text(&meta["displayName"]);
        entry.hidden = meta["hidden"].as_bool().unwrap_or(false);
        entries.push(entry);
    }
    entries
}

/// One schema to save: its entity type, name and document.
#[derive(Debug, Clone)]
pub struct SchemaInput {
    pub entity_type: String,
    pub name: String,
    pub schema_json: Value,
}

/// Saves schemas and applies what they say to the Lexicon; dropping an event through a
/// schema needs `merge_drop_data` too (`may_drop`). Returns (added, deleted).
pub async fn save_schemas(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditLexicon>,
    inputs: &[SchemaInput],
    truncate: bool,
    may_drop: bool,
) -> Result<(u64, u64), IamError> {
    if inputs.len() > 3000 {
        return Err(IamError::invalid("entries", "at most 3000 entries in one request"));
    }
    let existing = ctx.store.lexicon_entries(permit.project_id()).await?;
    let mut schemas = Vec::new();
    let mut entries = Vec::new();
    for input in inputs {
        checked_entity(&input.entity_type)
            .map_err(|_| IamError::invalid("entityType", format!("{:?} is not event or profile", input.entity_type)))?;
        if input.name.is_empty() || input.name.chars().count() > 255 {
            return Err(IamError::invalid("name", "a name is 1 to 255 characters"));
        }
        if !input.schema_json.is_object() {
            return Err(IamError::invalid("schemaJson", format!("the schema of {} is not a JSON object", input.name)));
        }
        let schema = LexiconSchema {
            entity_type: input.entity_type.clone(),
            name: input.name.clone(),
            schema_json: input.schema_json.to_string(),
        };
        let mut set = entries_of(&schema, &input.schema_json, &existing);
        for entry in &mut set {
            let was_dropped =
                existing.iter().any(|old| old.kind == entry.kind && old.name == entry.name && old.dropped);
            if entry.dropped != was_dropped && !may_drop {
                return Err(IamError::Forbidden(format!(
                    "dropping {} (or stopping) is for the project's Owner (merge_drop_data)",
                    entry.name
                )));
            }
            entry.owners = checked_owners(&ctx, permit.org_id(), &entry.owners).await?;
        }
        entries.extend(set);
        schemas.push(schema);
    }
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "lexicon.schemas_saved", "lexicon", permit.project_id().0)
        .with(None, Some(json!({ "entries": schemas.len(), "truncate": truncate })));
    Ok(ctx.store.save_lexicon_schemas(permit.project_id(), &schemas, truncate, &entries, &audit, ctx.now()).await?)
}

/// Deletes schemas (all, one entity type's, or one); the Lexicon's entries stay.
pub async fn delete_schemas(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditLexicon>,
    entity_type: Option<&str>,
    name: Option<&str>,
) -> Result<u64, IamError> {
    if let Some(entity_type) = entity_type {
        checked_entity(entity_type)?;
    }
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "lexicon.schemas_deleted", "lexicon", permit.project_id().0)
        .with(None, Some(json!({ "entity_type": entity_type, "name": name })));
    Ok(ctx.store.delete_lexicon_schemas(permit.project_id(), entity_type, name, &audit).await?)
}
