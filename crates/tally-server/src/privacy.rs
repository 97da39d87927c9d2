//! The runner of privacy requests (GDPR and CCPA retrievals and deletions): every second,
//! the requests waiting, or cut short by a stop, for a region this node serves are done one
//! at a time. Doing one again is harmless (a deletion finishes what remains; a retrieval
//! writes its file again), so a request survives restarts.

use std::time::Duration;

use serde_json::{Value, json};
use tally_iam::privacy::PrivacyJob;

use crate::AppState;

/// Where a retrieval's answer is kept, under the data directory.
pub(crate) fn retrieval_path(state: &AppState, tracking_id: &str) -> std::path::PathBuf {
    state.config().data_dir.join("privacy").join(format!("{tracking_id}.json"))
}

/// Runs until the returned handle is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        loop {
            interval.tick().await;
            if let Err(error) = run_waiting(&state).await {
                tracing::warn!(%error, "privacy requests could not be read; will retry");
            }
        }
    })
}

async fn run_waiting(state: &AppState) -> Result<(), tally_iam::IamError> {
    for job in tally_iam::privacy::jobs_authorized_when_requested(state.directory()).await? {
        let Some(events) = state.event_store(&job.scope.project().region) else { continue };
        if !job.start(state.directory()).await? {
            continue;
        }
        let outcome = match job.request.kind.as_str() {
            "deletion" => events.delete_users(&job.scope, &job.request.distinct_ids).await.map(|report| {
                let details = json!({ "distinct_ids": report.distinct_ids.len(), "profiles": report.profiles,
                    "files_rewritten": report.files_rewritten, "events_in_files": report.events_in_files });
                (String::new(), details)
            }),
            _ => retrieve(state, events, &job).await,
        };
        let (succeeded, result, details) = match outcome {
            Ok((result, details)) => (true, result, details),
            Err(error) => {
                tracing::error!(tracking_id = %job.request.tracking_id, %error, "a privacy request failed");
                (false, format!("the request failed: {error}"), Value::Null)
            }
        };
        job.finish(state.directory(), state.clock(), succeeded, &result, details).await?;
    }
    Ok(())
}

/// Writes what is stored of the request's users as one JSON document; returns its address.
async fn retrieve(
    state: &AppState,
    events: &tally_events::EventStore,
    job: &PrivacyJob,
) -> Result<(String, Value), tally_events::StorageError> {
    let request = &job.request;
    // A CCPA request covers the last twelve months; a GDPR one everything.
    let from_ms = match request.compliance_type.as_str() {
        "CCPA" => state.clock().now().as_millisecond() - 365 * 86_400_000,
        _ => i64::MIN,
    };
    let (found, profiles) = events.user_data(&job.scope, &request.distinct_ids, from_ms).await?;
    let profiles: Vec<Value> = profiles
        .iter()
        .map(|(id, profile)| {
            json!({ "$distinct_id": id, "$properties": crate::routes::ingest::profile_properties(profile) })
        })
        .collect();
    let body = match request.disclosure_type.as_str() {
        // The kinds of data held: property names, never values.
        "Categories" => {
            let mut names = std::collections::BTreeSet::new();
            for event in &found {
                names.extend(event.properties.keys().cloned());
            }
            for profile in &profiles {
                if let Some(properties) = profile["$properties"].as_object() {
                    names.extend(properties.keys().cloned());
                }
            }
            json!({ "categories": names })
        }
        // Where the data came from: the libraries and events that sent it.
        "Sources" => {
            let libraries: std::collections::BTreeSet<String> = found
                .iter()
                .filter_map(|event| event.properties.get("$lib").or_else(|| event.properties.get("mp_lib")))
                .filter_map(|lib| lib.as_str().map(str::to_string))
                .collect();
            let names: std::collections::BTreeSet<&str> = found.iter().map(|event| event.name.as_str()).collect();
            json!({ "libraries": libraries, "events": names, "profiles": !profiles.is_empty() })
        }
        _ => json!({
            "events": found.iter().map(|event| event.to_export_json(true)).collect::<Vec<_>>(),
            "profiles": profiles,
        }),
    };
    let document = json!({
        "tracking_id": request.tracking_id,
        "compliance_type": request.compliance_type,
        "disclosure_type": request.disclosure_type,
        "distinct_ids": request.distinct_ids,
        "results": body,
    });
    let path = retrieval_path(state, &request.tracking_id);
    let bytes = serde_json::to_vec(&document).map_err(|error| tally_events::StorageError::Io(error.to_string()))?;
    tally_events::write_durably(&path, &bytes).await?;
    let actor = tally_iam::admin::Actor::operator();
    let base = state.ctx(&actor).settings.base_url.trim_end_matches('/').to_string();
    let url =
        format!("{base}/api/app/projects/{}/data-retrievals/{}/download", request.project_id.0, request.tracking_id);
    Ok((url, json!({ "events": found.len(), "profiles": profiles.len() })))
}
