//! Boards, saved reports (bookmarks) and annotations, under the access model: each
//! function takes the permit of its project permission, and a board's own rules decide the
//! rest (Mixpanel's, §9.2):
//!
//! - every project member can open any board by its link, except a private one (made by
//!   someone who may not share: only its owner sees it, and another's answers 404);
//! - a board is listed (discoverable) for its owner, those it is shared with (users, or
//!   teams they belong to) and, unless its project-wide access is `off`, everyone;
//! - its owner, its editors (user or team shares) and, when its project-wide access is
//!   `editor`, everyone may change it and its reports; a viewer may not;
//! - changing who it is shared with also needs `ShareEntities`; deleting it or giving it
//!   to someone else is for its owner and for those who may edit the project's settings.

use serde_json::json;
use tally_store::{Annotation, AnnotationTag, Board, BoardCard, BoardShare, Bookmark};
use tally_types::permissions::project;
use tally_types::{Principal, ProjectPermission, TeamId, UserId};

use crate::IamError;
use crate::admin::{Ctx, WithChange};
use crate::authz::{DataScope, ProjectPermit, ProjectScope};

/// Boards nest at most this deep (a top-level board is level 1).
pub const MAX_BOARD_DEPTH: usize = 3;
/// A layout row holds at most this many cards.
pub const MAX_ROW_CARDS: usize = 4;

/// What the caller may do with a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BoardAccess {
    View,
    Edit,
}

impl BoardAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            BoardAccess::View => "viewer",
            BoardAccess::Edit => "editor",
        }
    }
}

/// Who is asking, as boards see them.
struct Viewer {
    user: Option<UserId>,
    teams: Vec<i64>,
    /// The project's default for boards without their own project-wide access.
    default_access: String,
}

async fn viewer(ctx: &Ctx<'_>, scope: &ProjectScope) -> Result<Viewer, IamError> {
    let user = match scope.principal() {
        Principal::User(id) if id.0 > 0 => Some(id),
        _ => None,
    };
    let teams = match user {
        Some(id) => ctx.store.team_ids_of_user(id).await?,
        None => Vec::new(),
    };
    let default_access = ctx.store.board_default_access(scope.project_id()).await?;
    Ok(Viewer { user, teams, default_access })
}

impl Viewer {
    fn project_access<'a>(&'a self, board: &'a Board) -> &'a str {
        board.project_access.as_deref().unwrap_or(&self.default_access)
    }

    fn share_of(&self, shares: &[BoardShare]) -> Option<BoardAccess> {
        shares
            .iter()
            .filter(|share| match share.principal_kind.as_str() {
                "user" => self.user.is_some_and(|user| user.0 == share.principal_id),
                "team" => self.teams.contains(&share.principal_id),
                _ => false,
            })
            .map(|share| if share.access == "editor" { BoardAccess::Edit } else { BoardAccess::View })
            .max()
    }

    /// `None`: the board is another's private one, which does not exist for the caller.
    fn access(&self, board: &Board, shares: &[BoardShare]) -> Option<BoardAccess> {
        let owner = self.user == Some(board.owner_id);
        if board.private {
            return owner.then_some(BoardAccess::Edit);
        }
        if owner || self.project_access(board) == "editor" {
            return Some(BoardAccess::Edit);
        }
        Some(self.share_of(shares).unwrap_or(BoardAccess::View))
    }

    fn discoverable(&self, board: &Board, shares: &[BoardShare]) -> bool {
        if board.private {
            return self.user == Some(board.owner_id);
        }
        self.user == Some(board.owner_id) || self.share_of(shares).is_some() || self.project_access(board) != "off"
    }
}

/// A board the caller may see, with what they may do with it.
#[derive(Debug, Clone)]
pub struct VisibleBoard {
    pub board: Board,
    pub access: BoardAccess,
}

/// A board with its cards, the saved reports they show, and its sharing.
#[derive(Debug, Clone)]
pub struct BoardDetail {
    pub board: Board,
    pub access: BoardAccess,
    pub cards: Vec<BoardCard>,
    pub bookmarks: Vec<Bookmark>,
    pub shares: Vec<BoardShare>,
    /// The project-wide access in force (the board's own, or the project's default).
    pub project_access: String,
}

async fn load<P: tally_types::permissions::ProjectMarker>(
    ctx: &Ctx<'_>,
    permit: &ProjectPermit<'_, P>,
    viewer: &Viewer,
    board_id: i64,
) -> Result<(Board, Vec<BoardShare>, BoardAccess), IamError> {
    let board = ctx.store.board(permit.project_id(), board_id).await?.ok_or(IamError::NotFound("board"))?;
    let shares = ctx.store.board_shares(permit.project_id(), board_id).await?;
    let access = viewer.access(&board, &shares).ok_or(IamError::NotFound("board"))?;
    Ok((board, shares, access))
}

async fn editable<P: tally_types::permissions::ProjectMarker>(
    ctx: &Ctx<'_>,
    permit: &ProjectPermit<'_, P>,
    viewer: &Viewer,
    board_id: i64,
) -> Result<Board, IamError> {
    let (board, _, access) = load(ctx, permit, viewer, board_id).await?;
    if access != BoardAccess::Edit {
        return Err(IamError::Forbidden(
            "you may view this board but not change it: ask its owner to make you an editor".into(),
        ));
    }
    Ok(board)
}

fn checked_title(field: &'static str, text: &str) -> Result<String, IamError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 200 {
        return Err(IamError::invalid(field, "must be 1 to 200 characters"));
    }
    Ok(text.to_string())
}

pub(crate) fn checked_text(field: &'static str, text: &str, most: usize) -> Result<String, IamError> {
    if text.chars().count() > most {
        return Err(IamError::invalid(field, format!("must be at most {most} characters")));
    }
    Ok(text.trim().to_string())
}

fn checked_access(field: &'static str, access: &str, allowed: &[&str]) -> Result<String, IamError> {
    if !allowed.contains(&access) {
        return Err(IamError::invalid(field, format!("must be one of {}", allowed.join(", "))));
    }
    Ok(access.to_string())
}

/// How deep `parent` sits (1 for a top-level board), following its parents.
async fn depth(ctx: &Ctx<'_>, project_id: tally_types::ProjectId, parent: i64) -> Result<usize, IamError> {
    let mut level = 1;
    let mut current = ctx.store.board(project_id, parent).await?;
    while let Some(board) = current {
        match board.parent_id {
            Some(next) if level <= MAX_BOARD_DEPTH => {
                level += 1;
                current = ctx.store.board(project_id, next).await?;
            }
            _ => break,
        }
    }
    Ok(level)
}

/// How many levels of boards hang below `board_id` (0 without children).
fn height(boards: &[Board], board_id: i64) -> usize {
    boards
        .iter()
        .filter(|board| board.parent_id == Some(board_id))
        .map(|child| 1 + height(boards, child.id))
        .max()
        .unwrap_or(0)
}

/// The boards the caller finds in the list: their own, those shared with them, and those
/// open to the whole project.
pub async fn list_boards(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
) -> Result<Vec<VisibleBoard>, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let mut visible = Vec::new();
    for board in ctx.store.boards(permit.project_id()).await? {
        let shares = ctx.store.board_shares(permit.project_id(), board.id).await?;
        if !viewer.discoverable(&board, &shares) {
            continue;
        }
        if let Some(access) = viewer.access(&board, &shares) {
            visible.push(VisibleBoard { board, access });
        }
    }
    Ok(visible)
}

pub async fn board(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    board_id: i64,
) -> Result<BoardDetail, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let (board, shares, access) = load(&ctx, permit, &viewer, board_id).await?;
    let cards = ctx.store.board_cards(permit.project_id(), board_id).await?;
    let mut bookmarks = Vec::new();
    for card in &cards {
        if let Some(id) = card.bookmark_id
            && let Some(bookmark) = ctx.store.bookmark(permit.project_id(), id).await?
        {
            bookmarks.push(bookmark);
        }
    }
    let project_access = viewer.project_access(&board).to_string();
    // Who a board is shared with is for those who may change it.
    let shares = if access == BoardAccess::Edit { shares } else { Vec::new() };
    Ok(BoardDetail { board, access, cards, bookmarks, shares, project_access })
}

#[derive(Debug, Clone, Default)]
pub struct BoardInput {
    pub title: String,
    pub description: String,
    pub parent_id: Option<i64>,
}

/// A new board, owned by the caller. One made by someone who may not share
/// (`ShareEntities`: a Consumer) is private to them.
pub async fn create_board(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::CreateBoards>,
    input: &BoardInput,
) -> Result<Board, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let Some(owner) = viewer.user else {
        return Err(IamError::Forbidden("boards belong to people: a service account cannot own one".into()));
    };
    if let Some(parent) = input.parent_id {
        editable(&ctx, permit, &viewer, parent).await?;
        if depth(&ctx, permit.project_id(), parent).await? >= MAX_BOARD_DEPTH {
            return Err(IamError::invalid("parent_id", format!("boards nest at most {MAX_BOARD_DEPTH} levels deep")));
        }
    }
    let now = ctx.now();
    let board = Board {
        id: 0,
        project_id: permit.project_id(),
        parent_id: input.parent_id,
        title: checked_title("title", &input.title)?,
        description: checked_text("description", &input.description, 5000)?,
        owner_id: owner,
        private: !permit.allows(ProjectPermission::ShareEntities),
        project_access: None,
        created_by: Some(owner),
        created_at: now,
        modified_at: now,
    };
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "board.created", "board", "")
        .with(None, Some(json!({ "title": board.title, "private": board.private })));
    Ok(ctx.store.create_board(&board, &audit).await?)
}

#[derive(Debug, Clone, Default)]
pub struct BoardPatch {
    pub title: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` makes it a top-level board.
    pub parent_id: Option<Option<i64>>,
}

pub async fn update_board(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    board_id: i64,
    patch: &BoardPatch,
) -> Result<Board, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let mut board = editable(&ctx, permit, &viewer, board_id).await?;
    let before = json!({ "title": board.title, "parent_id": board.parent_id });
    if let Some(title) = &patch.title {
        board.title = checked_title("title", title)?;
    }
    if let Some(description) = &patch.description {
        board.description = checked_text("description", description, 5000)?;
    }
    if let Some(parent) = patch.parent_id {
        if let Some(parent) = parent {
            editable(&ctx, permit, &viewer, parent).await?;
            let boards = ctx.store.boards(permit.project_id()).await?;
            // Not under itself or one of its own, and no deeper than three levels with
            // everything nested in it.
            let mut ancestor = Some(parent);
            while let Some(id) = ancestor {
                if id == board.id {
                    return Err(IamError::invalid("parent_id", "a board cannot be nested in itself or its own boards"));
                }
                ancestor = boards.iter().find(|candidate| candidate.id == id).and_then(|found| found.parent_id);
            }
            if depth(&ctx, permit.project_id(), parent).await? + 1 + height(&boards, board.id) > MAX_BOARD_DEPTH {
                return Err(IamError::invalid(
                    "parent_id",
                    format!("boards nest at most {MAX_BOARD_DEPTH} levels deep"),
                ));
            }
        }
        board.parent_id = parent;
    }
    board.modified_at = ctx.now();
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "board.updated", "board", board.id)
        .with(Some(before), Some(json!({ "title": board.title, "parent_id": board.parent_id })));
    ctx.store.update_board(&board, &audit).await?;
    Ok(board)
}

/// Whether the caller may delete or give away `board`: its owner, or someone who may edit
/// the project's settings.
fn may_manage(permit_scope: &ProjectScope, viewer: &Viewer, board: &Board) -> bool {
    viewer.user == Some(board.owner_id) || permit_scope.allows(ProjectPermission::EditProjectSettings)
}

pub async fn delete_board(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    board_id: i64,
) -> Result<(), IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let (board, _, _) = load(&ctx, permit, &viewer, board_id).await?;
    if !may_manage(permit.scope(), &viewer, &board) {
        return Err(IamError::Forbidden("only the board's owner or a project admin may delete it".into()));
    }
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "board.deleted", "board", board.id)
        .with(Some(json!({ "title": board.title })), None);
    ctx.store.delete_board(permit.project_id(), board.id, &audit).await.map_err(refused)
}

fn refused(error: tally_store::StoreError) -> IamError {
    match error {
        tally_store::StoreError::Refused(message) => IamError::Conflict(message.to_string()),
        tally_store::StoreError::Conflict(what) => IamError::Conflict(format!("there is already {what}")),
        tally_store::StoreError::NotFound => IamError::NotFound("board item"),
        other => IamError::Store(other),
    }
}

/// Gives the board to another member of the organization.
pub async fn transfer_board(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    board_id: i64,
    new_owner: UserId,
) -> Result<Board, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let (mut board, _, _) = load(&ctx, permit, &viewer, board_id).await?;
    if !may_manage(permit.scope(), &viewer, &board) {
        return Err(IamError::Forbidden("only the board's owner or a project admin may give it away".into()));
    }
    if ctx.store.org_standing(permit.org_id(), Principal::User(new_owner)).await?.is_none() {
        return Err(IamError::invalid("owner_id", "is not a member of this organization"));
    }
    let before = board.owner_id;
    board.owner_id = new_owner;
    board.modified_at = ctx.now();
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "board.transferred", "board", board.id)
        .with(Some(json!({ "owner_id": before.0 })), Some(json!({ "owner_id": new_owner.0 })));
    ctx.store.update_board(&board, &audit).await?;
    Ok(board)
}

#[derive(Debug, Clone, Default)]
pub struct SharingInput {
    pub shares: Vec<BoardShare>,
    /// `off`, `viewer`, `editor`, or `None` for the project's default.
    pub project_access: Option<String>,
}

/// Sets who a board is shared with (users and teams of the organization, as viewers or
/// editors) and its project-wide access.
pub async fn share_board(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ShareEntities>,
    board_id: i64,
    input: &SharingInput,
) -> Result<Vec<BoardShare>, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let mut board = editable(&ctx, permit, &viewer, board_id).await?;
    if board.private {
        return Err(IamError::Conflict("this board is private to its owner, who may not share".into()));
    }
    let mut shares = Vec::with_capacity(input.shares.len());
    for share in &input.shares {
        let access = checked_access("access", &share.access, &["viewer", "editor"])?;
        match share.principal_kind.as_str() {
            "user" => {
                if ctx.store.org_standing(permit.org_id(), Principal::User(UserId(share.principal_id))).await?.is_none()
                {
                    return Err(IamError::invalid(
                        "user_id",
                        format!("{} is not a member of this organization", share.principal_id),
                    ));
                }
            }
            "team" => {
                if ctx.store.team(permit.org_id(), TeamId(share.principal_id)).await?.is_none() {
                    return Err(IamError::invalid(
                        "team_id",
                        format!("{} is not a team of this organization", share.principal_id),
                    ));
                }
            }
            _ => return Err(IamError::invalid("shares", "each share names a user_id or a team_id")),
        }
        shares.push(BoardShare {
            principal_kind: share.principal_kind.clone(),
            principal_id: share.principal_id,
            access,
        });
    }
    board.project_access = match &input.project_access {
        Some(access) => Some(checked_access("project_access", access, &["off", "viewer", "editor"])?),
        None => None,
    };
    board.modified_at = ctx.now();
    let after: Vec<_> = shares
        .iter()
        .map(|share| json!({ "kind": share.principal_kind, "id": share.principal_id, "access": share.access }))
        .collect();
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "board.shared", "board", board.id)
        .with(None, Some(json!({ "shares": after, "project_access": board.project_access })));
    ctx.store.set_board_sharing(&board, &shares, &audit).await.map_err(refused)?;
    Ok(shares)
}

/// The project's default access to boards: `off`, `viewer` or `editor`.
pub async fn board_default_access(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
) -> Result<String, IamError> {
    Ok(ctx.store.board_default_access(permit.project_id()).await?)
}

pub async fn set_board_default_access(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditProjectSettings>,
    access: &str,
) -> Result<(), IamError> {
    let access = checked_access("board_default_access", access, &["off", "viewer", "editor"])?;
    let audit = ctx
        .audit(
            permit.org_id(),
            Some(permit.project_id()),
            "project.board_default_access",
            "project",
            permit.project_id().0,
        )
        .with(None, Some(json!({ "board_default_access": access })));
    Ok(ctx.store.set_board_default_access(permit.project_id(), &access, &audit).await?)
}

/// A text card at the bottom of a board.
pub async fn add_text_card(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    board_id: i64,
    text: &str,
) -> Result<BoardCard, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let board = editable(&ctx, permit, &viewer, board_id).await?;
    let text = checked_text("text", text, 20_000)?;
    let audit = ctx.audit(permit.org_id(), Some(permit.project_id()), "board.card_added", "board_card", "");
    ctx.store.add_card(permit.project_id(), board.id, None, Some(&text), &audit).await.map_err(refused)
}

pub async fn update_text_card(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    board_id: i64,
    card_id: i64,
    text: &str,
) -> Result<(), IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let board = editable(&ctx, permit, &viewer, board_id).await?;
    let text = checked_text("text", text, 20_000)?;
    let audit = ctx.audit(permit.org_id(), Some(permit.project_id()), "board.card_updated", "board_card", card_id);
    ctx.store.update_card_text(permit.project_id(), board.id, card_id, &text, &audit).await.map_err(|error| match error
    {
        tally_store::StoreError::NotFound => IamError::NotFound("text card"),
        other => refused(other),
    })
}

pub async fn delete_card(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    board_id: i64,
    card_id: i64,
) -> Result<(), IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let board = editable(&ctx, permit, &viewer, board_id).await?;
    let audit = ctx.audit(permit.org_id(), Some(permit.project_id()), "board.card_removed", "board_card", card_id);
    ctx.store.delete_card(permit.project_id(), board.id, card_id, &audit).await.map_err(|error| match error {
        tally_store::StoreError::NotFound => IamError::NotFound("card"),
        other => refused(other),
    })
}

/// Lays out every card of a board: rows of up to four card ids, each card exactly once.
pub async fn set_layout(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    board_id: i64,
    rows: &[Vec<i64>],
) -> Result<Vec<BoardCard>, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let board = editable(&ctx, permit, &viewer, board_id).await?;
    let cards = ctx.store.board_cards(permit.project_id(), board.id).await?;
    if let Some(row) = rows.iter().find(|row| row.is_empty() || row.len() > MAX_ROW_CARDS) {
        return Err(IamError::invalid("rows", format!("each row holds 1 to {MAX_ROW_CARDS} cards, not {}", row.len())));
    }
    let mut placed: Vec<i64> = rows.iter().flatten().copied().collect();
    placed.sort_unstable();
    let mut existing: Vec<i64> = cards.iter().map(|card| card.id).collect();
    existing.sort_unstable();
    if placed != existing {
        return Err(IamError::invalid("rows", "the layout must place every card of the board exactly once"));
    }
    let placements: Vec<(i64, i64, i64)> = rows
        .iter()
        .enumerate()
        .flat_map(|(row, cards)| cards.iter().enumerate().map(move |(col, card)| (*card, row as i64, col as i64)))
        .collect();
    let audit = ctx.audit(permit.org_id(), Some(permit.project_id()), "board.layout_changed", "board", board.id);
    ctx.store.set_layout(permit.project_id(), board.id, &placements, &audit).await?;
    Ok(ctx.store.board_cards(permit.project_id(), board.id).await?)
}

/// A saved report: its original board and the report model (JSON the caller has checked).
#[derive(Debug, Clone, Default)]
pub struct BookmarkInput {
    pub board_id: i64,
    pub name: String,
    pub description: String,
    /// `insights`, `funnels`, `retention` or `flows`.
    pub kind: String,
    pub report: String,
}

/// Whether the caller may see the saved report: on a board they can open.
async fn visible_bookmark<P: tally_types::permissions::ProjectMarker>(
    ctx: &Ctx<'_>,
    permit: &ProjectPermit<'_, P>,
    viewer: &Viewer,
    bookmark_id: i64,
) -> Result<(Bookmark, BoardAccess), IamError> {
    let bookmark =
        ctx.store.bookmark(permit.project_id(), bookmark_id).await?.ok_or(IamError::NotFound("saved report"))?;
    // Its access is its original board's; where it is only linked, it can be seen.
    match load(ctx, permit, viewer, bookmark.board_id).await {
        Ok((_, _, access)) => return Ok((bookmark, access)),
        Err(IamError::NotFound(_)) => {}
        Err(other) => return Err(other),
    }
    for board_id in ctx.store.boards_showing(permit.project_id(), bookmark.id).await? {
        if load(ctx, permit, viewer, board_id).await.is_ok() {
            return Ok((bookmark, BoardAccess::View));
        }
    }
    Err(IamError::NotFound("saved report"))
}

pub async fn create_bookmark(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::SaveReports>,
    input: &BookmarkInput,
) -> Result<Bookmark, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let board = editable(&ctx, permit, &viewer, input.board_id).await?;
    let kind = checked_access("type", &input.kind, &["insights", "funnels", "retention", "flows"])?;
    let now = ctx.now();
    let bookmark = Bookmark {
        id: 0,
        project_id: permit.project_id(),
        board_id: board.id,
        name: checked_title("name", &input.name)?,
        description: checked_text("description", &input.description, 5000)?,
        kind,
        report: input.report.clone(),
        created_by: viewer.user,
        created_at: now,
        modified_at: now,
    };
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "bookmark.created", "bookmark", "")
        .with(None, Some(json!({ "name": bookmark.name, "board_id": board.id })));
    Ok(ctx.store.create_bookmark(&bookmark, &audit).await?)
}

/// A saved report the caller may see, and what they may do with it.
pub async fn bookmark(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    bookmark_id: i64,
) -> Result<(Bookmark, BoardAccess), IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    visible_bookmark(&ctx, permit, &viewer, bookmark_id).await
}

/// Every saved report on a board the caller may open.
pub async fn list_bookmarks(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
) -> Result<Vec<(Bookmark, BoardAccess)>, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let mut found = Vec::new();
    for bookmark in ctx.store.bookmarks(permit.project_id()).await? {
        match visible_bookmark(&ctx, permit, &viewer, bookmark.id).await {
            Ok(visible) => found.push(visible),
            Err(IamError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(found)
}

#[derive(Debug, Clone, Default)]
pub struct BookmarkPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// A new model of the same type: its type and its JSON (which the caller has checked).
    pub report: Option<(String, String)>,
}

/// Changes a saved report (every board that shows it shows the change).
pub async fn update_bookmark(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::SaveReports>,
    bookmark_id: i64,
    patch: &BookmarkPatch,
) -> Result<Bookmark, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let (mut bookmark, access) = visible_bookmark(&ctx, permit, &viewer, bookmark_id).await?;
    if access != BoardAccess::Edit {
        return Err(IamError::Forbidden(
            "you may view this report but not change it: duplicate it to change a copy".into(),
        ));
    }
    if let Some(name) = &patch.name {
        bookmark.name = checked_title("name", name)?;
    }
    if let Some(description) = &patch.description {
        bookmark.description = checked_text("description", description, 5000)?;
    }
    if let Some((kind, report)) = &patch.report {
        if *kind != bookmark.kind {
            return Err(IamError::invalid(
                "report",
                format!("this saved report is a {} report; save a {kind} report as a new one", bookmark.kind),
            ));
        }
        bookmark.report = report.clone();
    }
    bookmark.modified_at = ctx.now();
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "bookmark.updated", "bookmark", bookmark.id)
        .with(None, Some(json!({ "name": bookmark.name })));
    ctx.store.update_bookmark(&bookmark, &audit).await?;
    Ok(bookmark)
}

pub async fn delete_bookmark(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::SaveReports>,
    bookmark_id: i64,
) -> Result<(), IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let (bookmark, access) = visible_bookmark(&ctx, permit, &viewer, bookmark_id).await?;
    if access != BoardAccess::Edit {
        return Err(IamError::Forbidden("you may view this report but not delete it".into()));
    }
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "bookmark.deleted", "bookmark", bookmark.id)
        .with(Some(json!({ "name": bookmark.name })), None);
    Ok(ctx.store.delete_bookmark(permit.project_id(), bookmark.id, &audit).await?)
}

/// A copy of a saved report on a board the caller may change.
pub async fn duplicate_bookmark(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::SaveReports>,
    bookmark_id: i64,
    board_id: i64,
) -> Result<Bookmark, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let (original, _) = visible_bookmark(&ctx, permit, &viewer, bookmark_id).await?;
    let board = editable(&ctx, permit, &viewer, board_id).await?;
    let now = ctx.now();
    let copy = Bookmark {
        id: 0,
        board_id: board.id,
        name: format!("Copy of {}", original.name).chars().take(200).collect(),
        created_by: viewer.user,
        created_at: now,
        modified_at: now,
        ..original.clone()
    };
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "bookmark.duplicated", "bookmark", "")
        .with(Some(json!({ "from": original.id })), Some(json!({ "board_id": board.id })));
    Ok(ctx.store.create_bookmark(&copy, &audit).await?)
}

/// Makes another board the saved report's own (the caller may change both).
pub async fn move_bookmark(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::SaveReports>,
    bookmark_id: i64,
    board_id: i64,
) -> Result<Bookmark, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let (mut bookmark, access) = visible_bookmark(&ctx, permit, &viewer, bookmark_id).await?;
    if access != BoardAccess::Edit {
        return Err(IamError::Forbidden("you may view this report but not move it".into()));
    }
    let board = editable(&ctx, permit, &viewer, board_id).await?;
    let from = bookmark.board_id;
    bookmark.board_id = board.id;
    bookmark.modified_at = ctx.now();
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "bookmark.moved", "bookmark", bookmark.id)
        .with(Some(json!({ "board_id": from })), Some(json!({ "board_id": board.id })));
    ctx.store.update_bookmark(&bookmark, &audit).await?;
    Ok(bookmark)
}

/// Shows a saved report the caller may see on another board they may change (a linked
/// report: changes to it show on every board).
pub async fn link_bookmark(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::SaveReports>,
    bookmark_id: i64,
    board_id: i64,
) -> Result<BoardCard, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let (bookmark, _) = visible_bookmark(&ctx, permit, &viewer, bookmark_id).await?;
    let board = editable(&ctx, permit, &viewer, board_id).await?;
    let audit = ctx.audit(permit.org_id(), Some(permit.project_id()), "bookmark.linked", "board_card", "");
    ctx.store.add_card(permit.project_id(), board.id, Some(bookmark.id), None, &audit).await.map_err(refused)
}

/// A saved report for Mixpanel's Query API (the API secret or a service account): any of
/// the project's, except those on a board private to its owner.
pub async fn api_bookmark(
    store: &impl crate::Metadata,
    scope: &DataScope<project::ViewReports>,
    bookmark_id: i64,
) -> Result<Option<Bookmark>, IamError> {
    let store = crate::directory::raw(store);
    let Some(bookmark) = store.bookmark(scope.project_id(), bookmark_id).await? else { return Ok(None) };
    let private = store.board(scope.project_id(), bookmark.board_id).await?.is_none_or(|board| board.private);
    Ok((!private).then_some(bookmark))
}

/// The project's saved reports of one type for the Query API (not those on private boards).
pub async fn api_bookmarks(
    store: &impl crate::Metadata,
    scope: &DataScope<project::ViewReports>,
    kind: &str,
) -> Result<Vec<Bookmark>, IamError> {
    let store = crate::directory::raw(store);
    let private: Vec<i64> = store
        .boards(scope.project_id())
        .await?
        .into_iter()
        .filter(|board| board.private)
        .map(|board| board.id)
        .collect();
    Ok(store
        .bookmarks(scope.project_id())
        .await?
        .into_iter()
        .filter(|bookmark| bookmark.kind == kind && !private.contains(&bookmark.board_id))
        .collect())
}

/// Annotations between two instants, with their tags.
pub async fn annotations(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    from: jiff::Timestamp,
    to: jiff::Timestamp,
) -> Result<Vec<Annotation>, IamError> {
    Ok(ctx.store.annotations(permit.project_id(), from, to).await?)
}

pub async fn annotation(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
    id: i64,
) -> Result<Annotation, IamError> {
    ctx.store.annotation(permit.project_id(), id).await?.ok_or(IamError::NotFound("annotation"))
}

fn unique_tags(tags: &[i64]) -> Vec<i64> {
    let mut tags = tags.to_vec();
    tags.sort_unstable();
    tags.dedup();
    tags
}

pub async fn create_annotation(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::CreateAnnotations>,
    at: jiff::Timestamp,
    description: &str,
    tags: &[i64],
) -> Result<Annotation, IamError> {
    let viewer = viewer(&ctx, permit.scope()).await?;
    let annotation = Annotation {
        id: 0,
        project_id: permit.project_id(),
        at,
        description: checked_title("description", description)?,
        user_id: viewer.user,
        tag_ids: unique_tags(tags),
    };
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "annotation.created", "annotation", "")
        .with(None, Some(json!({ "description": annotation.description, "at": at.to_string() })));
    ctx.store.create_annotation(&annotation, &audit).await.map_err(|error| match error {
        tally_store::StoreError::Refused(message) => IamError::invalid("tags", message),
        other => IamError::Store(other),
    })
}

/// Changes an annotation's description and tags; its time never changes.
pub async fn update_annotation(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::CreateAnnotations>,
    id: i64,
    description: Option<&str>,
    tags: Option<&[i64]>,
) -> Result<Annotation, IamError> {
    let mut annotation =
        ctx.store.annotation(permit.project_id(), id).await?.ok_or(IamError::NotFound("annotation"))?;
    if let Some(description) = description {
        annotation.description = checked_title("description", description)?;
    }
    if let Some(tags) = tags {
        annotation.tag_ids = unique_tags(tags);
    }
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "annotation.updated", "annotation", id)
        .with(None, Some(json!({ "description": annotation.description, "tags": annotation.tag_ids })));
    ctx.store.update_annotation(&annotation, &audit).await.map_err(|error| match error {
        tally_store::StoreError::Refused(message) => IamError::invalid("tags", message),
        other => IamError::Store(other),
    })?;
    Ok(annotation)
}

pub async fn delete_annotation(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::CreateAnnotations>,
    id: i64,
) -> Result<(), IamError> {
    let audit = ctx.audit(permit.org_id(), Some(permit.project_id()), "annotation.deleted", "annotation", id);
    ctx.store.delete_annotation(permit.project_id(), id, &audit).await.map_err(|error| match error {
        tally_store::StoreError::NotFound => IamError::NotFound("annotation"),
        other => IamError::Store(other),
    })
}

pub async fn annotation_tags(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
) -> Result<Vec<AnnotationTag>, IamError> {
    Ok(ctx.store.annotation_tags(permit.project_id()).await?)
}

pub async fn create_annotation_tag(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::CreateAnnotations>,
    name: &str,
) -> Result<AnnotationTag, IamError> {
    let name = checked_title("name", name)?;
    let audit = ctx.audit(permit.org_id(), Some(permit.project_id()), "annotation_tag.created", "annotation_tag", "");
    ctx.store.create_annotation_tag(permit.project_id(), &name, &audit).await.map_err(refused)
}

/// Whether the project's boards may have public links.
pub async fn public_boards_enabled(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
) -> Result<bool, IamError> {
    Ok(ctx.store.public_boards_enabled(permit.project_id()).await?)
}

/// Turns public links on or off for the project (its Owner); off revokes every link.
pub async fn set_public_boards(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ManagePublicBoardsFeature>,
    enabled: bool,
) -> Result<(), IamError> {
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "project.public_boards", "project", permit.project_id().0)
        .with(None, Some(json!({ "enabled": enabled })));
    Ok(ctx.store.set_public_boards(permit.project_id(), enabled, &audit).await?)
}

/// A public link and its address (and, just made, its passcode: shown this once).
#[derive(Debug, Clone)]
pub struct PublicLinkView {
    pub link: tally_store::PublicLink,
    pub url: String,
    pub passcode: Option<tally_types::Secret<String>>,
}

fn link_url(ctx: &Ctx<'_>, token: &str) -> String {
    format!("{}/public/boards/{token}", ctx.settings.base_url.trim_end_matches('/'))
}

/// A public link to a board the caller may change (not a private one), with a passcode
/// when asked for one, answering through the data view `view_id` (one the caller may open;
/// `None`: the caller's default), never showing classified values. Refused while the
/// project's public boards are off.
pub async fn create_public_link(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::MakeBoardsPublic>,
    board_id: i64,
    with_passcode: bool,
    view_id: Option<i64>,
) -> Result<PublicLinkView, IamError> {
    let view_id =
        crate::views::data_scope(ctx.store, permit, view_id).await?.visibility().view.as_ref().map(|view| view.id);
    let viewer = viewer(&ctx, permit.scope()).await?;
    let board = editable(&ctx, permit, &viewer, board_id).await?;
    if board.private {
        return Err(IamError::Conflict("this board is private to its owner and cannot be made public".into()));
    }
    let token = tally_types::token::random_alphanumeric(40);
    let passcode = with_passcode.then(|| tally_types::Secret::new(tally_types::token::random_alphanumeric(12)));
    let passcode_hash = match &passcode {
        Some(passcode) => Some(crate::password::hash(passcode)?),
        None => None,
    };
    let link = tally_store::PublicLink {
        id: 0,
        project_id: permit.project_id(),
        board_id: board.id,
        token_hash: crate::token_hash(&token),
        token_sealed: ctx.sealer.seal(&tally_types::Secret::new(token.clone()))?,
        passcode_hash,
        view_id,
        created_by: viewer.user,
        created_at: ctx.now(),
    };
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "board.public_link_created", "public_link", "")
        .with(None, Some(json!({ "board_id": board.id, "passcode": with_passcode, "view_id": view_id })));
    let link = ctx.store.create_public_link(&link, &audit).await.map_err(refused)?;
    Ok(PublicLinkView { url: link_url(&ctx, &token), link, passcode })
}

/// Every public link of the project, with its address.
pub async fn public_links(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::MakeBoardsPublic>,
) -> Result<Vec<PublicLinkView>, IamError> {
    let mut views = Vec::new();
    for link in ctx.store.public_links(permit.project_id()).await? {
        let token = ctx.sealer.open(&link.token_sealed)?;
        views.push(PublicLinkView { url: link_url(&ctx, token.expose()), link, passcode: None });
    }
    Ok(views)
}

/// Revokes a public link: its maker, or those who may turn the feature off or edit the
/// project's settings.
pub async fn revoke_public_link(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::MakeBoardsPublic>,
    link_id: i64,
) -> Result<(), IamError> {
    let link = ctx.store.public_link(permit.project_id(), link_id).await?.ok_or(IamError::NotFound("public link"))?;
    let maker = matches!(permit.principal(), Principal::User(id) if Some(id) == link.created_by);
    if !maker
        && !permit.allows(ProjectPermission::ManagePublicBoardsFeature)
        && !permit.allows(ProjectPermission::EditProjectSettings)
    {
        return Err(IamError::Forbidden("only the link's maker or a project admin may revoke it".into()));
    }
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "board.public_link_revoked", "public_link", link_id)
        .with(Some(json!({ "board_id": link.board_id })), None);
    Ok(ctx.store.delete_public_link(permit.project_id(), link_id, &audit).await?)
}

/// Why a public link opens nothing.
#[derive(Debug, thiserror::Error)]
pub enum PublicRefusal {
    /// No such live link (revoked, its project's feature off, or never made).
    #[error("no such public board")]
    NotFound,
    /// The link has a passcode and none, or a wrong one, came.
    #[error("this board needs its passcode")]
    Passcode,
    #[error(transparent)]
    Store(#[from] tally_store::StoreError),
}

/// What a public link opens: one board, its cards and saved reports, and a data scope to
/// answer those reports (and nothing else) with.
#[derive(Debug, Clone)]
pub struct PublicBoard {
    pub link_id: i64,
    pub scope: DataScope<project::ViewReports>,
    pub board: Board,
    pub cards: Vec<BoardCard>,
    pub bookmarks: Vec<Bookmark>,
}

/// A live public link, found by its token but not yet opened (its passcode unchecked):
/// callers count the attempt against the link's limits first, then open it.
#[derive(Debug, Clone)]
pub struct FoundPublicLink {
    link: tally_store::PublicLink,
}

impl FoundPublicLink {
    pub fn id(&self) -> i64 {
        self.link.id
    }
}

/// Finds the live link with this token (revoked links and those of projects whose public
/// boards are off are not found).
pub async fn find_public_link(store: &impl crate::Metadata, token: &str) -> Result<FoundPublicLink, PublicRefusal> {
    let store = crate::directory::raw(store);
    match store.public_link_by_token_hash(&crate::token_hash(token)).await? {
        Some(link) => Ok(FoundPublicLink { link }),
        None => Err(PublicRefusal::NotFound),
    }
}

/// Opens a public link for a signed-out visitor: the escape hatch by which a request
/// without an account reads a project, named to stand out. Only the link's own board and
/// the reports on it come back; callers answer nothing else with the scope.
pub async fn open_public_board_without_account(
    store: &impl crate::Metadata,
    found: FoundPublicLink,
    passcode: Option<&str>,
) -> Result<PublicBoard, PublicRefusal> {
    let store = crate::directory::raw(store);
    let link = found.link;
    if let Some(hash) = &link.passcode_hash {
        let given = tally_types::Secret::new(passcode.unwrap_or_default().to_string());
        if passcode.is_none() || !crate::password::verify(&given, hash) {
            return Err(PublicRefusal::Passcode);
        }
    }
    let Some(project) = store.project(link.project_id).await? else { return Err(PublicRefusal::NotFound) };
    let Some(visibility) = crate::views::public_visibility(store, link.project_id, link.view_id).await? else {
        return Err(PublicRefusal::NotFound);
    };
    let Some(board) = store.board(link.project_id, link.board_id).await? else { return Err(PublicRefusal::NotFound) };
    let cards = store.board_cards(link.project_id, board.id).await?;
    let mut bookmarks = Vec::new();
    for card in &cards {
        if let Some(id) = card.bookmark_id
            && let Some(bookmark) = store.bookmark(link.project_id, id).await?
        {
            bookmarks.push(bookmark);
        }
    }
    Ok(PublicBoard {
        link_id: link.id,
        scope: DataScope::for_public_link(project, visibility),
        board,
        cards,
        bookmarks,
    })
}

/// Whether the caller sees a cohort: its creator, or anyone once it is shared.
fn sees(scope: &ProjectScope, cohort: &tally_store::Cohort) -> bool {
    cohort.shared || matches!(scope.principal(), Principal::User(id) if Some(id) == cohort.created_by)
}

/// Whether the caller may change or delete a cohort: its creator, or a project admin.
fn may_change(scope: &ProjectScope, cohort: &tally_store::Cohort) -> bool {
    matches!(scope.principal(), Principal::User(id) if Some(id) == cohort.created_by)
        || scope.allows(ProjectPermission::EditProjectSettings)
}

/// The cohorts the caller may see and use: their own and the shared ones.
pub async fn cohorts(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
) -> Result<Vec<tally_store::Cohort>, IamError> {
    Ok(ctx
        .store
        .cohorts(permit.project_id())
        .await?
        .into_iter()
        .filter(|cohort| sees(permit.scope(), cohort))
        .collect())
}

pub async fn cohort<P: tally_types::permissions::ProjectMarker>(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, P>,
    cohort_id: i64,
) -> Result<tally_store::Cohort, IamError> {
    ctx.store
        .cohorts(permit.project_id())
        .await?
        .into_iter()
        .find(|cohort| cohort.id == cohort_id && sees(permit.scope(), cohort))
        .ok_or(IamError::NotFound("cohort"))
}

/// A cohort's name, description, definition (JSON the caller has checked) and sharing.
#[derive(Debug, Clone, Default)]
pub struct CohortInput {
    pub name: String,
    pub description: String,
    pub definition: String,
    pub shared: bool,
}

fn check_sharing(scope: &ProjectScope, shared: bool) -> Result<(), IamError> {
    if shared && !scope.allows(ProjectPermission::ShareEntities) {
        return Err(IamError::Forbidden("your role may not share: the cohort stays yours alone".into()));
    }
    Ok(())
}

/// A new cohort, private to its creator unless shared (sharing needs `ShareEntities`).
pub async fn create_cohort(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditCohorts>,
    input: &CohortInput,
) -> Result<tally_store::Cohort, IamError> {
    check_sharing(permit.scope(), input.shared)?;
    let now = ctx.now();
    let cohort = tally_store::Cohort {
        id: 0,
        project_id: permit.project_id(),
        name: checked_title("name", &input.name)?,
        description: checked_text("description", &input.description, 5000)?,
        definition: input.definition.clone(),
        shared: input.shared,
        created_by: match permit.principal() {
            Principal::User(id) if id.0 > 0 => Some(id),
            _ => None,
        },
        created_at: now,
        modified_at: now,
    };
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "cohort.created", "cohort", "")
        .with(None, Some(json!({ "name": cohort.name, "shared": cohort.shared })));
    Ok(ctx.store.create_cohort(&cohort, &audit).await?)
}

pub async fn update_cohort(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditCohorts>,
    cohort_id: i64,
    input: &CohortInput,
) -> Result<tally_store::Cohort, IamError> {
    let mut cohort = cohort(Ctx { ..ctx }, permit, cohort_id).await?;
    if !may_change(permit.scope(), &cohort) {
        return Err(IamError::Forbidden("only the cohort's creator or a project admin may change it".into()));
    }
    check_sharing(permit.scope(), input.shared && !cohort.shared)?;
    cohort.name = checked_title("name", &input.name)?;
    cohort.description = checked_text("description", &input.description, 5000)?;
    cohort.definition = input.definition.clone();
    cohort.shared = input.shared;
    cohort.modified_at = ctx.now();
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "cohort.updated", "cohort", cohort.id)
        .with(None, Some(json!({ "name": cohort.name, "shared": cohort.shared })));
    ctx.store.update_cohort(&cohort, &audit).await?;
    Ok(cohort)
}

pub async fn delete_cohort(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditCohorts>,
    cohort_id: i64,
) -> Result<(), IamError> {
    let found = cohort(Ctx { ..ctx }, permit, cohort_id).await?;
    if !may_change(permit.scope(), &found) {
        return Err(IamError::Forbidden("only the cohort's creator or a project admin may delete it".into()));
    }
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "cohort.deleted", "cohort", cohort_id)
        .with(Some(json!({ "name": found.name })), None);
    Ok(ctx.store.delete_cohort(permit.project_id(), cohort_id, &audit).await?)
}

/// The project's shared cohorts, for Mixpanel's Query API (`cohorts/list`, engage's
/// `filter_by_cohort`): a private cohort is its creator's alone.
pub async fn api_cohorts<P: tally_types::permissions::ProjectMarker>(
    store: &impl crate::Metadata,
    scope: &DataScope<P>,
) -> Result<Vec<tally_store::Cohort>, IamError> {
    let store = crate::directory::raw(store);
    Ok(store.cohorts(scope.project_id()).await?.into_iter().filter(|cohort| cohort.shared).collect())
}

/// The project's Lexicon edits (display names, descriptions, tags, hidden, dropped).
pub async fn lexicon_entries(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewReports>,
) -> Result<Vec<tally_store::LexiconEntry>, IamError> {
    Ok(ctx.store.lexicon_entries(permit.project_id()).await?)
}

/// What an editor of the Lexicon changes of an event or property.
#[derive(Debug, Clone, Default)]
pub struct LexiconPatch {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub hidden: Option<bool>,
    /// Who to ask about it: members of the organization, by e-mail.
    pub owners: Option<Vec<String>>,
}

pub(crate) async fn entry_of(
    ctx: &Ctx<'_>,
    project_id: tally_types::ProjectId,
    kind: &str,
    name: &str,
) -> Result<tally_store::LexiconEntry, IamError> {
    if !matches!(kind, "event" | "property") {
        return Err(IamError::NotFound("lexicon entry"));
    }
    if name.is_empty() || name.chars().count() > 255 {
        return Err(IamError::invalid("name", "must be 1 to 255 characters"));
    }
    Ok(ctx
        .store
        .lexicon_entries(project_id)
        .await?
        .into_iter()
        .find(|entry| entry.kind == kind && entry.name == name)
        .unwrap_or(tally_store::LexiconEntry { kind: kind.to_string(), name: name.to_string(), ..Default::default() }))
}

/// Changes an event's or property's display name, description, tags or visibility (the
/// raw name never changes; exports keep it).
pub async fn edit_lexicon_entry(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditLexicon>,
    kind: &str,
    name: &str,
    patch: &LexiconPatch,
) -> Result<tally_store::LexiconEntry, IamError> {
    let mut entry = entry_of(&ctx, permit.project_id(), kind, name).await?;
    if let Some(display_name) = &patch.display_name {
        entry.display_name = checked_text("display_name", display_name, 255)?;
    }
    if let Some(description) = &patch.description {
        entry.description = checked_text("description", description, 5000)?;
    }
    if let Some(tags) = &patch.tags {
        if tags.len() > 50 || tags.iter().any(|tag| tag.trim().is_empty() || tag.chars().count() > 100) {
            return Err(IamError::invalid("tags", "at most 50 tags of 1 to 100 characters"));
        }
        let mut tags: Vec<String> = tags.iter().map(|tag| tag.trim().to_string()).collect();
        tags.sort();
        tags.dedup();
        entry.tags = tags;
    }
    if let Some(hidden) = patch.hidden {
        entry.hidden = hidden;
    }
    if let Some(owners) = &patch.owners {
        entry.owners = crate::lexicon::checked_owners(&ctx, permit.org_id(), owners).await?;
    }
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "lexicon.edited", "lexicon_entry", format!("{kind}:{name}"))
        .with(None, Some(json!({ "display_name": entry.display_name, "tags": entry.tags, "hidden": entry.hidden })));
    ctx.store.save_lexicon_entry(permit.project_id(), &entry, &audit).await?;
    Ok(entry)
}

/// Drops an event (its new data is not stored from now on) or stops dropping it: the
/// project's Owner only (`MergeDropData`). What was not stored stays lost.
pub async fn set_event_dropped(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::MergeDropData>,
    name: &str,
    dropped: bool,
) -> Result<tally_store::LexiconEntry, IamError> {
    let mut entry = entry_of(&ctx, permit.project_id(), "event", name).await?;
    entry.dropped = dropped;
    let audit = ctx
        .audit(
            permit.org_id(),
            Some(permit.project_id()),
            "lexicon.event_dropped",
            "lexicon_entry",
            format!("event:{name}"),
        )
        .with(None, Some(json!({ "dropped": dropped })));
    ctx.store.save_lexicon_entry(permit.project_id(), &entry, &audit).await?;
    Ok(entry)
}

/// The events whose new data the project does not store, for the ingestion path.
pub async fn dropped_events(
    store: &impl crate::Metadata,
    scope: &crate::authz::IngestScope,
) -> Result<std::collections::HashSet<String>, tally_store::StoreError> {
    let store = crate::directory::raw(store);
    Ok(store
        .lexicon_entries(scope.project_id())
        .await?
        .into_iter()
        .filter(|entry| entry.kind == "event" && entry.dropped)
        .map(|entry| entry.name)
        .collect())
}
