//! Starting, stopping, and refusing to start when something is wrong.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use tally_testkit::TestBackend;
use tokio::sync::mpsc;

use crate::support::{Instance, binary, client, setup_body, token_of};

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_then_exits_zero() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let mut server = instance.serve().await;
    let token = token_of(server.started.setup_url.as_deref().unwrap());
    let body = serde_json::to_vec(&setup_body(&token, "ada@example.com", "Acme")).unwrap();
    let body_len = body.len();
    let (first_half, second_half) = body.split_at(body_len / 2);
    let (first_half, second_half) = (first_half.to_vec(), second_half.to_vec());

    // A request whose body arrives in two parts, with the SIGTERM in between.
    let (sender, receiver) = mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
    sender.send(Ok(first_half)).await.unwrap();
    let stream = tokio_stream_from(receiver);
    let http = client();
    let url = server.url("/api/app/setup");
    let request = tokio::spawn(async move {
        http.post(url)
            .header("content-type", "application/json")
            .header("content-length", body_len.to_string())
            .body(reqwest::Body::wrap_stream(stream))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // While draining, the server takes no new connections...
    let refused = client().get(server.url("/healthz")).timeout(Duration::from_secs(2)).send().await;
    assert!(refused.is_err(), "a new request after SIGTERM must not be served: {refused:?}");

    // ...but finishes the one in flight.
    sender.send(Ok(second_half)).await.unwrap();
    drop(sender);
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let status = server.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "exit status {status:?}");
    let log = server.output_so_far().join("\n");
    assert!(log.contains("stopped"), "{log}");

    // And what it finished is there after a restart.
    let server = instance.serve().await;
    assert!(server.started.setup_url.is_none());
}

fn tokio_stream_from(
    mut receiver: mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed()
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_refuses_to_start() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let _first = instance.serve().await;
    let data_dir = instance.data_dir.to_str().unwrap();
    let output = tally_testkit::process::run_command(
        binary(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        &[],
        None,
    )
    .await;
    assert!(!output.status.success());
    assert!(output.stderr.contains("another Tally server is using the data dir"), "{}", output.stderr);
}

#[tokio::test]
async fn a_port_in_use_stops_start_up_with_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (_dir, data_dir) = tally_testkit::process::data_dir();
    let output = tally_testkit::process::run_command(
        binary(),
        &["serve", "--listen", &addr, "--data-dir", data_dir.to_str().unwrap()],
        &[],
        None,
    )
    .await;
    assert!(!output.status.success());
    let last = output.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: cannot listen on"), "{}", output.stderr);
    assert!(last.contains("--listen"), "{last}");
}

#[tokio::test]
async fn an_unwritable_data_dir_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a folder").unwrap();
    let data_dir = file.join("tally-data");
    let output = tally_testkit::process::run_command(
        binary(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()],
        &[],
        None,
    )
    .await;
    assert!(!output.status.success());
    assert!(output.stderr.contains("cannot write to the data dir"), "{}", output.stderr);
    assert!(output.stderr.contains("--data-dir"), "{}", output.stderr);
}
