//! Public board links, signed out: `GET /api/public/boards/{token}` shows the one board the
//! link opens (its cards and saved reports with their settings), and
//! `GET /api/public/boards/{token}/reports/{bookmark_id}` answers one report of that board
//! as saved. Nothing else can be asked through a link: no other report, no other setting.
//! A link with a passcode wants it in the `X-Tally-Passcode` header; each link answers so
//! many requests an hour (`query.public_per_hour`). A revoked link, or one of a project
//! whose public boards are off, is not found.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;
use tally_iam::reports::{PublicBoard, PublicRefusal};
use tally_types::ErrorKind;

use super::app::ok;
use crate::extract::Ids;
use crate::{ApiError, AppState};

/// The header a link's passcode comes in.
pub(crate) const PASSCODE_HEADER: &str = "x-tally-passcode";

/// The link's board, once the request is counted against the link's hourly allowance
/// (before its passcode is checked, so guessing one costs the same) and the passcode, if
/// it has one, matches.
async fn open(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
) -> Result<(PublicBoard, crate::query_limit::Admitted), ApiError> {
    let refusal = |refusal: PublicRefusal| match refusal {
        PublicRefusal::NotFound => ApiError::not_found(),
        PublicRefusal::Passcode => ApiError::new(
            ErrorKind::Unauthenticated,
            "passcode_required",
            "this board needs its passcode: ask whoever shared the link",
        ),
        PublicRefusal::Store(error) => error.into(),
    };
    let found = tally_iam::reports::find_public_link(state.directory(), token).await.map_err(refusal)?;
    let place = state.public_limits().admit(found.id(), state.clock().now().as_millisecond()).map_err(|_| {
        ApiError::new(
            ErrorKind::RateLimited,
            "rate_limited",
            "this public board has been opened too often; try again later",
        )
    })?;
    let passcode = headers.get(PASSCODE_HEADER).and_then(|value| value.to_str().ok());
    let board = tally_iam::reports::open_public_board_without_account(state.directory(), found, passcode)
        .await
        .map_err(refusal)?;
    Ok((board, place))
}

/// A card of a public board.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PublicCardView {
    id: i64,
    bookmark_id: Option<i64>,
    text: Option<String>,
    row: i64,
    col: i64,
}

/// A saved report as a public board shows it: its name and saved settings.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PublicReportView {
    id: i64,
    name: String,
    description: String,
    #[serde(rename = "type")]
    kind: String,
    #[schema(value_type = tally_query::model::Report)]
    report: serde_json::Value,
}

/// What a public link shows.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PublicBoardView {
    title: String,
    description: String,
    time_zone: String,
    cards: Vec<PublicCardView>,
    reports: Vec<PublicReportView>,
}

pub(crate) async fn board(
    State(state): State<AppState>,
    headers: HeaderMap,
    Ids((token,)): Ids<(String,)>,
) -> Result<Response, ApiError> {
    let (board, _place) = open(&state, &headers, &token).await?;
    Ok(ok(PublicBoardView {
        title: board.board.title.clone(),
        description: board.board.description.clone(),
        time_zone: board.scope.project().timezone.clone(),
        cards: board
            .cards
            .iter()
            .map(|card| PublicCardView {
                id: card.id,
                bookmark_id: card.bookmark_id,
                text: card.body.clone(),
                row: card.row,
                col: card.col,
            })
            .collect(),
        reports: board
            .bookmarks
            .iter()
            .map(|bookmark| PublicReportView {
                id: bookmark.id,
                name: bookmark.name.clone(),
                description: bookmark.description.clone(),
                kind: bookmark.kind.clone(),
                report: serde_json::from_str(&bookmark.report).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
    }))
}

pub(crate) async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Ids((token, bookmark_id)): Ids<(String, i64)>,
) -> Result<Response, ApiError> {
    let (board, _place) = open(&state, &headers, &token).await?;
    // Only a report on the link's board, with its saved settings.
    let Some(bookmark) = board.bookmarks.iter().find(|bookmark| bookmark.id == bookmark_id) else {
        return Err(ApiError::not_found());
    };
    let report: tally_query::model::Report = serde_json::from_str(&bookmark.report).map_err(|_| {
        ApiError::new(ErrorKind::Conflict, "report_unreadable", "this saved report no longer reads as a report")
    })?;
    let engine = state.query_engine_of(&board.scope)?;
    let answer = engine.run(&board.scope, &report).await.map_err(super::app::query::query_error)?;
    Ok(ok(answer))
}
