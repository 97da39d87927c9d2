//! `GET|POST /engage` and `/groups`: profile updates, the project named by each `$token`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use tally_ingest::profiles::{Operation, ProfileUpdate, validate_update};

use super::{
    Refusal, charge, client_items, misdirected_answer, now_ms, peer_ip, project_named, rate_limit_message,
    rate_limited, refused, track_answer, unavailable, with_cors,
};
use crate::AppState;
use crate::extract::QueryParams;

pub(crate) async fn engage(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = profile_updates(state, query, &headers, peer_ip(&extensions), body, false).await;
    with_cors(&headers, response)
}

pub(crate) async fn groups(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = profile_updates(state, query, &headers, peer_ip(&extensions), body, true).await;
    with_cors(&headers, response)
}

async fn profile_updates(
    state: AppState,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    body: Body,
    group: bool,
) -> Response {
    let (query, items) = match client_items(&state, query, headers, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let now = now_ms(&state);
    let mut projects: HashMap<String, Option<tally_iam::authz::IngestScope>> = HashMap::new();
    let mut by_region: HashMap<String, Vec<ProfileUpdate>> = HashMap::new();
    // Which item each update came from, to name the refused ones.
    let mut items_of: HashMap<String, Vec<usize>> = HashMap::new();
    let mut failed = Vec::new();
    let mut misdirected = None;
    for (index, item) in items.into_iter().enumerate() {
        match validate_update(index, item, group, now) {
            Ok((mut update, token, ip)) => {
                let project = match project_named(&state, &mut projects, &token).await {
                    Ok(Some(scope)) => scope.project(),
                    Ok(None) => {
                        failed.push(refused(index, None, "$token", "'$token' names no project"));
                        continue;
                    }
                    Err(response) => return response,
                };
                if state.event_store(&project.region).is_none() {
                    misdirected = Some(project.region.clone());
                    continue;
                }
                update.project_id = project.id.0;
                let updates = by_region.entry(project.region.clone()).or_default();
                let sources = items_of.entry(project.region.clone()).or_default();
                // Geolocated updates overwrite the profile's geo properties first (§6.7);
                // /engage locates by the caller's address unless ip=0.
                let request_ip = peer.filter(|_| query.get("ip").is_none_or(|value| value != "0"));
                if update.operation != Operation::Delete
                    && let Some(geo) = state.geoip().and_then(|geoip| geoip.profile_properties(ip.as_ref(), request_ip))
                {
                    updates.push(ProfileUpdate { operation: Operation::Set(geo), ignore_time: true, ..update.clone() });
                    sources.push(index);
                }
                updates.push(update);
                sources.push(index);
            }
            Err(error) => failed.push(error),
        }
    }
    // Updates for a region this node does not serve make the whole request misdirected.
    if let Some(region) = misdirected {
        return misdirected_answer(&state, &region);
    }
    if let Err(Refusal::RateLimited(seconds)) =
        charge(&state, by_region.values().flatten().map(|update| update.project_id))
    {
        return rate_limited(seconds, json!({ "status": 0, "error": rate_limit_message(seconds) }));
    }
    let mut any = false;
    for (region, updates) in by_region {
        let Some(store) = state.event_store(&region) else { continue };
        let n_updates = updates.len();
        let sources = items_of.remove(&region).unwrap_or_default();
        match store.update_profiles(updates).await {
            Ok(failures) => {
                any |= failures.len() < n_updates;
                for (position, message) in failures {
                    let index = sources.get(position).copied().unwrap_or(position);
                    failed.push(refused(index, None, "update", &message));
                }
            }
            Err(error) => return unavailable(json!({ "status": 0, "error": error.to_string() })),
        }
    }
    failed.sort_by_key(|failure| failure.index);
    track_answer(&query, any, &failed, None)
}
