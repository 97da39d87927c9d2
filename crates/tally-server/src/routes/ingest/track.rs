//! `GET|POST /track`: events from clients, the project named by each event's token.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use tally_ingest::{Endpoint, Outcome, Rules, validate_event};

use super::{
    Refusal, client_items, misdirected_answer, now_ms, peer_ip, project_named, random_insert_id, rate_limit_message,
    rate_limited, refused, request_ip, store, track_answer, unavailable, with_cors,
};
use crate::AppState;
use crate::extract::QueryParams;

pub(crate) async fn track(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = track_events(state, query, &headers, peer_ip(&extensions), body).await;
    with_cors(&headers, response)
}

async fn track_events(
    state: AppState,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    body: Body,
) -> Response {
    let (query, items) = match client_items(&state, query, headers, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let rules = Rules { endpoint: Endpoint::Track, now_ms: now_ms(&state), trusted: false, strict: false };
    let mut projects: HashMap<String, Option<tally_iam::authz::IngestScope>> = HashMap::new();
    let mut accepted = Vec::new();
    let mut n_ignored = 0;
    let mut failed = Vec::new();
    let mut misdirected: Option<String> = None;
    for (index, item) in items.into_iter().enumerate() {
        match validate_event(index, item, rules, 0, &mut random_insert_id) {
            Ok(Outcome::Accepted { mut event, token, ip, sent_distinct_id }) => {
                if let Some(geoip) = state.geoip() {
                    geoip.annotate(&mut event.properties, ip.as_ref(), request_ip(&query, peer));
                }
                let Some(token) = token else {
                    failed.push(refused(
                        index,
                        Some(&event.insert_id),
                        "properties.token",
                        "'properties.token' is required",
                    ));
                    continue;
                };
                let scope = match project_named(&state, &mut projects, &token).await {
                    Ok(Some(scope)) => scope,
                    Ok(None) => {
                        let message = "'properties.token' names no project";
                        failed.push(refused(index, Some(&event.insert_id), "properties.token", message));
                        continue;
                    }
                    Err(response) => return response,
                };
                // A dropped event is taken and not stored, as Mixpanel drops it.
                match state.dropped_events(scope).await {
                    Ok(dropped) if dropped.contains(&event.name) => {
                        n_ignored += 1;
                        continue;
                    }
                    Ok(_) => {}
                    Err(error) => return super::metadata_unavailable(&error),
                }
                let project = scope.project();
                if state.event_store(&project.region).is_none() {
                    misdirected = Some(project.region.clone());
                    continue;
                }
                event.project_id = project.id.0;
                event.apply_id_merge(project.id_merge, sent_distinct_id);
                // No distinct_id, sent with ip=1: Mixpanel hashes the caller's address.
                if event.distinct_id.is_empty()
                    && let Some(ip) = request_ip(&query, peer)
                {
                    event.distinct_id = tally_ingest::distinct_id_from_ip(&project.token, ip);
                }
                accepted.push((*event, project.region.clone()));
            }
            Ok(Outcome::Ignored) => n_ignored += 1,
            Err(error) => failed.push(error),
        }
    }
    // One request, one answer: events for a region this node does not serve make the whole
    // request misdirected (nothing is stored), rather than a `1` that hides what was dropped.
    if let Some(region) = misdirected {
        return misdirected_answer(&state, &region);
    }
    let any = !accepted.is_empty() || n_ignored > 0;
    match store(&state, accepted).await {
        Ok(()) => track_answer(&query, any, &failed, None),
        Err(Refusal::Unavailable(error)) => unavailable(json!({ "status": 0, "error": error })),
        Err(Refusal::RateLimited(seconds)) => {
            rate_limited(seconds, json!({ "status": 0, "error": rate_limit_message(seconds) }))
        }
    }
}
