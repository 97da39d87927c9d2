//! Boards, saved reports (bookmarks) and annotations: the app's doors to
//! `tally_iam::reports`, which holds every rule of who may see and change them.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tally_iam::records::{Annotation, AnnotationTag, Board, BoardCard, BoardShare, Bookmark};
use tally_iam::reports::{self, BoardAccess, BoardInput, BoardPatch, BookmarkInput, BookmarkPatch, SharingInput};
use tally_query::model::Report;
use tally_types::UserId;
use tally_types::permissions::project;

use super::{created, done, ok};
use crate::access::ProjectAccess;
use crate::extract::{Ids, JsonBody, QueryParams};
use crate::{ApiError, AppState};

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid("invalid_input", message)
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(deserializer).map(Some)
}

fn millis(at: jiff::Timestamp) -> String {
    at.to_string()
}

/// A board as lists show it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BoardView {
    id: i64,
    parent_id: Option<i64>,
    title: String,
    description: String,
    owner_id: i64,
    /// Only its owner sees it: made by someone who may not share.
    private: bool,
    /// What the caller may do: `viewer` or `editor`.
    your_access: &'static str,
    created_at: String,
    modified_at: String,
}

fn board_view(board: &Board, access: BoardAccess) -> BoardView {
    BoardView {
        id: board.id,
        parent_id: board.parent_id,
        title: board.title.clone(),
        description: board.description.clone(),
        owner_id: board.owner_id.0,
        private: board.private,
        your_access: access.as_str(),
        created_at: millis(board.created_at),
        modified_at: millis(board.modified_at),
    }
}

/// A card of a board: a saved report (`bookmark_id`) or a text, at its place in the layout.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CardView {
    id: i64,
    bookmark_id: Option<i64>,
    text: Option<String>,
    row: i64,
    col: i64,
}

fn card_view(card: &BoardCard) -> CardView {
    CardView { id: card.id, bookmark_id: card.bookmark_id, text: card.body.clone(), row: card.row, col: card.col }
}

/// A share: a user or a team, as viewer or editor.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ShareView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    team_id: Option<i64>,
    /// `viewer` or `editor`.
    access: String,
}

fn share_view(share: &BoardShare) -> ShareView {
    let (user_id, team_id) = if share.principal_kind == "team" {
        (None, Some(share.principal_id))
    } else {
        (Some(share.principal_id), None)
    };
    ShareView { user_id, team_id, access: share.access.clone() }
}

/// A saved report.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BookmarkView {
    id: i64,
    /// Its original board.
    board_id: i64,
    name: String,
    description: String,
    /// `insights`, `funnels`, `retention` or `flows`.
    #[serde(rename = "type")]
    kind: String,
    #[schema(value_type = Report)]
    report: serde_json::Value,
    created_by: Option<i64>,
    /// What the caller may do: `viewer` or `editor`.
    your_access: &'static str,
    created_at: String,
    modified_at: String,
}

fn bookmark_view(bookmark: &Bookmark, access: BoardAccess) -> BookmarkView {
    BookmarkView {
        id: bookmark.id,
        board_id: bookmark.board_id,
        name: bookmark.name.clone(),
        description: bookmark.description.clone(),
        kind: bookmark.kind.clone(),
        report: serde_json::from_str(&bookmark.report).unwrap_or(serde_json::Value::Null),
        created_by: bookmark.created_by.map(|id| id.0),
        your_access: access.as_str(),
        created_at: millis(bookmark.created_at),
        modified_at: millis(bookmark.modified_at),
    }
}

/// A board with its cards, the saved reports they show, and (for its editors) its sharing.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BoardDetailView {
    #[serde(flatten)]
    board: BoardView,
    cards: Vec<CardView>,
    reports: Vec<BookmarkView>,
    shares: Vec<ShareView>,
    /// Everyone in the project: `off` (by link only), `viewer` or `editor`.
    project_access: String,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let boards = reports::list_boards(state.ctx(&actor), &permit).await?;
    Ok(ok(boards.iter().map(|visible| board_view(&visible.board, visible.access)).collect::<Vec<_>>()))
}

async fn detail(
    state: &AppState,
    scope: &tally_iam::authz::ProjectScope,
    caller: &crate::access::Caller,
    board_id: i64,
) -> Result<BoardDetailView, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let detail = reports::board(state.ctx(&actor), &permit, board_id).await?;
    // Reports shown here are as open as this board.
    let access = |bookmark: &Bookmark| if bookmark.board_id == board_id { detail.access } else { BoardAccess::View };
    Ok(BoardDetailView {
        board: board_view(&detail.board, detail.access),
        cards: detail.cards.iter().map(card_view).collect(),
        reports: detail.bookmarks.iter().map(|bookmark| bookmark_view(bookmark, access(bookmark))).collect(),
        shares: detail.shares.iter().map(share_view).collect(),
        project_access: detail.project_access,
    })
}

pub(crate) async fn get(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, board_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    Ok(ok(detail(&state, &scope, &caller, board_id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardBody {
    title: String,
    #[serde(default)]
    description: String,
    /// The board to nest it in (three levels at most).
    #[serde(default)]
    parent_id: Option<i64>,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<BoardBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::CreateBoards>()?;
    let input = BoardInput { title: body.title, description: body.description, parent_id: body.parent_id };
    let board = reports::create_board(state.ctx(&actor), &permit, &input).await?;
    Ok(created(board_view(&board, BoardAccess::Edit)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardPatchBody {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// A board to nest it in; `null` makes it a top-level board; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    parent_id: Option<Option<i64>>,
}

pub(crate) async fn update(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, board_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<BoardPatchBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let patch = BoardPatch { title: body.title, description: body.description, parent_id: body.parent_id };
    reports::update_board(state.ctx(&actor), &permit, board_id, &patch).await?;
    Ok(ok(detail(&state, &scope, &caller, board_id).await?))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, board_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    reports::delete_board(state.ctx(&actor), &permit, board_id).await?;
    Ok(done())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SharingBody {
    #[serde(default)]
    shares: Vec<ShareView>,
    /// Everyone in the project: `off`, `viewer` or `editor`; absent or `null` follows the
    /// project's default.
    #[serde(default)]
    project_access: Option<String>,
}

pub(crate) async fn share(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, board_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<SharingBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ShareEntities>()?;
    let mut shares = Vec::with_capacity(body.shares.len());
    for share in body.shares {
        let (principal_kind, principal_id) = match (share.user_id, share.team_id) {
            (Some(user), None) => ("user", user),
            (None, Some(team)) => ("team", team),
            _ => return Err(invalid("each share names either a user_id or a team_id")),
        };
        shares.push(BoardShare { principal_kind: principal_kind.into(), principal_id, access: share.access });
    }
    let input = SharingInput { shares, project_access: body.project_access };
    reports::share_board(state.ctx(&actor), &permit, board_id, &input).await?;
    Ok(ok(detail(&state, &scope, &caller, board_id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardTransferBody {
    /// The new owner, a member of the organization.
    owner_id: i64,
}

pub(crate) async fn transfer(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, board_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<BoardTransferBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    reports::transfer_board(state.ctx(&actor), &permit, board_id, UserId(body.owner_id)).await?;
    Ok(ok(detail(&state, &scope, &caller, board_id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LayoutBody {
    /// Rows of up to four card ids, top to bottom, each card of the board once.
    rows: Vec<Vec<i64>>,
}

pub(crate) async fn layout(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, board_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<LayoutBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let cards = reports::set_layout(state.ctx(&actor), &permit, board_id, &body.rows).await?;
    Ok(ok(cards.iter().map(card_view).collect::<Vec<_>>()))
}

/// A text card, or a saved report linked from another board.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CardBody {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    bookmark_id: Option<i64>,
}

pub(crate) async fn add_card(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, board_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<CardBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let card = match (body.text, body.bookmark_id) {
        (Some(text), None) => {
            let permit = scope.require::<project::ViewReports>()?;
            reports::add_text_card(state.ctx(&actor), &permit, board_id, &text).await?
        }
        (None, Some(bookmark_id)) => {
            let permit = scope.require::<project::SaveReports>()?;
            reports::link_bookmark(state.ctx(&actor), &permit, bookmark_id, board_id).await?
        }
        _ => return Err(invalid("a card holds either a text or a bookmark_id")),
    };
    Ok(created(card_view(&card)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextBody {
    text: String,
}

pub(crate) async fn update_card(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, board_id, card_id)): Ids<(i64, i64, i64)>,
    JsonBody(body): JsonBody<TextBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    reports::update_text_card(state.ctx(&actor), &permit, board_id, card_id, &body.text).await?;
    Ok(done())
}

pub(crate) async fn delete_card(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, board_id, card_id)): Ids<(i64, i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    reports::delete_card(state.ctx(&actor), &permit, board_id, card_id).await?;
    Ok(done())
}

/// The project's default for boards without their own project-wide access.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BoardSettingsBody {
    /// `off` (reachable by link only), `viewer` or `editor`.
    default_access: String,
}

pub(crate) async fn settings(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let default_access = reports::board_default_access(state.ctx(&actor), &permit).await?;
    Ok(ok(BoardSettingsBody { default_access }))
}

pub(crate) async fn set_settings(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<BoardSettingsBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::EditProjectSettings>()?;
    reports::set_board_default_access(state.ctx(&actor), &permit, &body.default_access).await?;
    Ok(ok(body))
}

fn kind_of(report: &Report) -> &'static str {
    match report {
        Report::Insights(_) => "insights",
        Report::Funnels(_) => "funnels",
        Report::Retention(_) => "retention",
        Report::Flows(_) => "flows",
    }
}

fn report_json(report: &Report) -> Result<String, ApiError> {
    serde_json::to_string(report).map_err(|_| invalid("the report cannot be saved as given"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BookmarkBody {
    /// The board it is saved to (its original board), which the caller may change.
    board_id: i64,
    name: String,
    #[serde(default)]
    description: String,
    report: Report,
}

pub(crate) async fn bookmarks(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let found = reports::list_bookmarks(state.ctx(&actor), &permit).await?;
    Ok(ok(found.iter().map(|(bookmark, access)| bookmark_view(bookmark, *access)).collect::<Vec<_>>()))
}

pub(crate) async fn create_bookmark(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<BookmarkBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::SaveReports>()?;
    let input = BookmarkInput {
        board_id: body.board_id,
        name: body.name,
        description: body.description,
        kind: kind_of(&body.report).to_string(),
        report: report_json(&body.report)?,
    };
    let bookmark = reports::create_bookmark(state.ctx(&actor), &permit, &input).await?;
    Ok(created(bookmark_view(&bookmark, BoardAccess::Edit)))
}

pub(crate) async fn bookmark(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, bookmark_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let (bookmark, access) = reports::bookmark(state.ctx(&actor), &permit, bookmark_id).await?;
    Ok(ok(bookmark_view(&bookmark, access)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BookmarkPatchBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// A new model of the same type.
    #[serde(default)]
    report: Option<Report>,
}

pub(crate) async fn update_bookmark(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, bookmark_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<BookmarkPatchBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::SaveReports>()?;
    let report = match &body.report {
        Some(report) => Some((kind_of(report).to_string(), report_json(report)?)),
        None => None,
    };
    let patch = BookmarkPatch { name: body.name, description: body.description, report };
    let bookmark = reports::update_bookmark(state.ctx(&actor), &permit, bookmark_id, &patch).await?;
    Ok(ok(bookmark_view(&bookmark, BoardAccess::Edit)))
}

pub(crate) async fn delete_bookmark(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, bookmark_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::SaveReports>()?;
    reports::delete_bookmark(state.ctx(&actor), &permit, bookmark_id).await?;
    Ok(done())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetBoardBody {
    /// A board the caller may change.
    board_id: i64,
}

pub(crate) async fn duplicate_bookmark(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, bookmark_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<TargetBoardBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::SaveReports>()?;
    let copy = reports::duplicate_bookmark(state.ctx(&actor), &permit, bookmark_id, body.board_id).await?;
    Ok(created(bookmark_view(&copy, BoardAccess::Edit)))
}

pub(crate) async fn move_bookmark(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, bookmark_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<TargetBoardBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::SaveReports>()?;
    let moved = reports::move_bookmark(state.ctx(&actor), &permit, bookmark_id, body.board_id).await?;
    Ok(ok(bookmark_view(&moved, BoardAccess::Edit)))
}

/// Mixpanel's annotation: `date` is `YYYY-MM-DD HH:mm:ss` in the project's time zone.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AnnotationView {
    id: i64,
    date: String,
    description: String,
    /// The user who made it.
    user: Option<i64>,
    tags: Vec<i64>,
}

const ANNOTATION_DATE: &str = "%Y-%m-%d %H:%M:%S";

fn annotation_view(annotation: &Annotation, zone: &jiff::tz::TimeZone) -> AnnotationView {
    AnnotationView {
        id: annotation.id,
        date: annotation.at.to_zoned(zone.clone()).strftime(ANNOTATION_DATE).to_string(),
        description: annotation.description.clone(),
        user: annotation.user_id.map(|id| id.0),
        tags: annotation.tag_ids.clone(),
    }
}

fn zone_of(scope: &tally_iam::authz::ProjectScope) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(&scope.project().timezone).unwrap_or(jiff::tz::TimeZone::UTC)
}

pub(crate) async fn annotations(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let zone = zone_of(&scope);
    let day = |name: &str| -> Result<Option<jiff::Timestamp>, ApiError> {
        let Some(text) = params.get(name) else { return Ok(None) };
        let date: jiff::civil::Date =
            text.parse().map_err(|_| invalid(format!("{name} {text:?} is not a date such as 2026-11-27")))?;
        let start = if name == "toDate" { date.tomorrow().unwrap_or(date) } else { date };
        start
            .to_zoned(zone.clone())
            .map(|zoned| Some(zoned.timestamp()))
            .map_err(|_| invalid(format!("{name} {text:?} is out of range")))
    };
    let from = day("fromDate")?.unwrap_or(jiff::Timestamp::MIN);
    let to = day("toDate")?
        .map(|end| end.checked_sub(jiff::SignedDuration::from_millis(1)).unwrap_or(end))
        .unwrap_or(jiff::Timestamp::MAX);
    let found = reports::annotations(state.ctx(&actor), &permit, from, to).await?;
    Ok(ok(found.iter().map(|annotation| annotation_view(annotation, &zone)).collect::<Vec<_>>()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnnotationBody {
    /// `YYYY-MM-DD HH:mm:ss`, in the project's time zone.
    date: String,
    description: String,
    /// Tag ids of this project.
    #[serde(default)]
    tags: Vec<i64>,
}

pub(crate) async fn create_annotation(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<AnnotationBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::CreateAnnotations>()?;
    let zone = zone_of(&scope);
    let at = jiff::civil::DateTime::strptime(ANNOTATION_DATE, &body.date)
        .ok()
        .and_then(|local| local.to_zoned(zone.clone()).ok())
        .ok_or_else(|| invalid(format!("date {:?} is not a time such as 2026-11-27 14:30:00", body.date)))?
        .timestamp();
    let annotation = reports::create_annotation(state.ctx(&actor), &permit, at, &body.description, &body.tags).await?;
    Ok(created(annotation_view(&annotation, &zone)))
}

pub(crate) async fn annotation(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, annotation_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let annotation = reports::annotation(state.ctx(&actor), &permit, annotation_id).await?;
    Ok(ok(annotation_view(&annotation, &zone_of(&scope))))
}

/// Only the description and the tags change; an annotation's time never does.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnnotationPatchBody {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Option<Vec<i64>>,
}

pub(crate) async fn update_annotation(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, annotation_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<AnnotationPatchBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::CreateAnnotations>()?;
    let annotation = reports::update_annotation(
        state.ctx(&actor),
        &permit,
        annotation_id,
        body.description.as_deref(),
        body.tags.as_deref(),
    )
    .await?;
    Ok(ok(annotation_view(&annotation, &zone_of(&scope))))
}

pub(crate) async fn delete_annotation(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, annotation_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::CreateAnnotations>()?;
    reports::delete_annotation(state.ctx(&actor), &permit, annotation_id).await?;
    Ok(done())
}

/// `{id, name, project_id, has_annotations}`, as Mixpanel's annotation tags.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AnnotationTagView {
    id: i64,
    name: String,
    project_id: i64,
    has_annotations: bool,
}

fn tag_view(tag: &AnnotationTag) -> AnnotationTagView {
    AnnotationTagView {
        id: tag.id,
        name: tag.name.clone(),
        project_id: tag.project_id.0,
        has_annotations: tag.has_annotations,
    }
}

pub(crate) async fn annotation_tags(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let tags = reports::annotation_tags(state.ctx(&actor), &permit).await?;
    Ok(ok(tags.iter().map(tag_view).collect::<Vec<_>>()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TagBody {
    name: String,
}

pub(crate) async fn create_annotation_tag(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<TagBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::CreateAnnotations>()?;
    let tag = reports::create_annotation_tag(state.ctx(&actor), &permit, &body.name).await?;
    Ok(created(tag_view(&tag)))
}

/// Whether the project's boards may have public links.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublicBoardsBody {
    enabled: bool,
}

pub(crate) async fn public_boards(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let enabled = reports::public_boards_enabled(state.ctx(&actor), &permit).await?;
    Ok(ok(PublicBoardsBody { enabled }))
}

pub(crate) async fn set_public_boards(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<PublicBoardsBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManagePublicBoardsFeature>()?;
    reports::set_public_boards(state.ctx(&actor), &permit, body.enabled).await?;
    Ok(ok(body))
}

/// A public link to a board.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PublicLinkView {
    id: i64,
    board_id: i64,
    /// The address to share: anyone with it sees the board, signed out.
    url: String,
    passcode_protected: bool,
    /// The passcode, in the answer that made the link only: it is never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    passcode: Option<String>,
    /// The data view the link answers through (`None`: all project data).
    view_id: Option<i64>,
    created_by: Option<i64>,
    created_at: String,
}

fn link_view(view: &reports::PublicLinkView) -> PublicLinkView {
    PublicLinkView {
        id: view.link.id,
        board_id: view.link.board_id,
        url: view.url.clone(),
        passcode_protected: view.link.passcode_hash.is_some(),
        passcode: view.passcode.as_ref().map(|passcode| passcode.expose().clone()),
        view_id: view.link.view_id,
        created_by: view.link.created_by.map(|id| id.0),
        created_at: millis(view.link.created_at),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublicLinkBody {
    /// Protect the link with a passcode, shown once in the answer.
    #[serde(default)]
    passcode: bool,
    /// The data view the link answers through: one the maker may open (absent: the maker's
    /// default). Classified values are never shown.
    #[serde(default)]
    view_id: Option<i64>,
}

pub(crate) async fn create_public_link(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, board_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<PublicLinkBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::MakeBoardsPublic>()?;
    let link = reports::create_public_link(state.ctx(&actor), &permit, board_id, body.passcode, body.view_id).await?;
    Ok(created(link_view(&link)))
}

pub(crate) async fn public_links(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::MakeBoardsPublic>()?;
    let links = reports::public_links(state.ctx(&actor), &permit).await?;
    Ok(ok(links.iter().map(link_view).collect::<Vec<_>>()))
}

pub(crate) async fn revoke_public_link(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, link_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::MakeBoardsPublic>()?;
    reports::revoke_public_link(state.ctx(&actor), &permit, link_id).await?;
    Ok(done())
}
