//! The write-ahead log: segment files of frames `[len u32 LE][crc32c u32 LE][payload]`,
//! written by one task that gathers concurrent appends into one write and one `fdatasync`
//! (group commit) and answers every waiter after the sync.
//!
//! Segments are numbered. A flush asks the writer to *rotate*: the current segment is
//! sealed (never written again) and a new one started; once the sealed segments' contents
//! are in catalogued Parquet files they are removed ([`remove_through`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::Record;

/// How long the writer waits for more appends before syncing.
const COMMIT_WINDOW: Duration = Duration::from_millis(2);
/// Most bytes gathered into one commit.
const MAX_COMMIT_BYTES: usize = 8 * 1024 * 1024;
/// A segment is closed past this size and a new one started.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
const HEADER: usize = 8;

#[derive(Debug, thiserror::Error, Clone)]
pub enum WalError {
    #[error("cannot write the event log: {0}")]
    Io(String),
    #[error("cannot encode events: {0}")]
    Encode(String),
    #[error("the event log writer has stopped")]
    Stopped,
}

type Waiter = oneshot::Sender<Result<(), WalError>>;

/// Run by the writer once the frame is on disk, before the next frame's: what must become
/// visible in log order (profile updates) is published here.
pub(crate) type Publish = Box<dyn FnOnce() + Send>;

enum Request {
    Append(Vec<u8>, Waiter, Option<Publish>),
    /// Seal the current segment and start the next; answers the sealed segment's number,
    /// or `None` when the current segment is empty (nothing to seal).
    Rotate(oneshot::Sender<Result<Option<u64>, WalError>>),
}

#[derive(Clone)]
pub(crate) struct Wal {
    sender: mpsc::Sender<Request>,
}

/// A replayed frame and the segment it came from.
pub(crate) struct Replayed {
    pub(crate) segment: u64,
    pub(crate) record: Record,
}

fn segment_name(sequence: u64) -> String {
    format!("wal-{sequence:020}.log")
}

fn io(error: std::io::Error) -> WalError {
    WalError::Io(error.to_string())
}

/// Reads one segment's frames; returns the payloads and the length of the valid prefix.
fn read_frames(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut frames = Vec::new();
    let mut offset = 0usize;
    while bytes.len() - offset >= HEADER {
        let length =
            u32::from_le_bytes([bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]]) as usize;
        let crc = u32::from_le_bytes([bytes[offset + 4], bytes[offset + 5], bytes[offset + 6], bytes[offset + 7]]);
        let start = offset + HEADER;
        let Some(end) = start.checked_add(length).filter(|end| *end <= bytes.len()) else { break };
        let payload = &bytes[start..end];
        if crc32c::crc32c(payload) != crc {
            break;
        }
        frames.push(payload);
        offset = end;
    }
    (frames, offset)
}

fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

impl Wal {
    /// Opens the log in `dir`, removing the segments up to `flushed_through` (their events
    /// are in catalogued files) and replaying the others (a torn or corrupt tail is cut
    /// off), and starts the writer.
    pub(crate) async fn open(dir: &Path, flushed_through: Option<u64>) -> Result<(Wal, Vec<Replayed>), WalError> {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        // A new log folder (and a new region root) must survive a crash with its first frames.
        let mut ancestor = dir.parent();
        for _ in 0..2 {
            if let Some(folder) = ancestor {
                sync_dir(folder).await;
                ancestor = folder.parent();
            }
        }
        if let Some(flushed) = flushed_through {
            remove_through(dir, flushed).await?;
        }
        let mut sequences = segments(dir).await?;
        sequences.sort_unstable();
        let mut replayed = Vec::new();
        for sequence in &sequences {
            let path = dir.join(segment_name(*sequence));
            let mut bytes = Vec::new();
            File::open(&path).await.map_err(io)?.read_to_end(&mut bytes).await.map_err(io)?;
            let (frames, valid) = read_frames(&bytes);
            for payload in frames {
                match serde_json::from_slice::<Record>(payload) {
                    Ok(record) => replayed.push(Replayed { segment: *sequence, record }),
                    Err(error) => {
                        tracing::error!(segment = %path.display(), %error, "skipping an unreadable log frame")
                    }
                }
            }
            if valid < bytes.len() {
                if Some(sequence) != sequences.last() {
                    // Damage before the newest segment is not a torn write: keep the whole
                    // segment aside for recovery by hand before cutting it.
                    let aside = dir.join(format!("{}.damaged", segment_name(*sequence)));
                    let mut copy = File::create(&aside).await.map_err(io)?;
                    copy.write_all(&bytes).await.map_err(io)?;
                    copy.flush().await.map_err(io)?;
                    copy.sync_all().await.map_err(io)?;
                    sync_dir(dir).await;
                    tracing::error!(
                        segment = %path.display(),
                        copy = %aside.display(),
                        lost = bytes.len() - valid,
                        "an older event log segment is damaged: its frames before the damage are replayed and a copy of \
                         the whole segment is kept beside it"
                    );
                }
                tracing::warn!(segment = %path.display(), cut = bytes.len() - valid, "cutting a torn tail off the event log");
                let file = OpenOptions::new().write(true).open(&path).await.map_err(io)?;
                file.set_len(valid as u64).await.map_err(io)?;
                file.sync_all().await.map_err(io)?;
            }
        }
        // Numbering continues after the flushed segments even when none is left on disk, so
        // a number is never reused.
        let sequence = sequences.last().copied().unwrap_or(flushed_through.map_or(0, |flushed| flushed + 1));
        let path = dir.join(segment_name(sequence));
        let file = OpenOptions::new().create(true).append(true).open(&path).await.map_err(io)?;
        let length = file.metadata().await.map_err(io)?.len();
        sync_dir(dir).await;
        let (sender, receiver) = mpsc::channel(1024);
        tokio::spawn(writer(dir.to_path_buf(), sequence, file, length, receiver));
        Ok((Wal { sender }, replayed))
    }

    /// Appends one payload; resolves once it is on disk (and `publish` has run, in log
    /// order).
    pub(crate) async fn append(&self, payload: Vec<u8>, publish: Option<Publish>) -> Result<(), WalError> {
        let (waiter, done) = oneshot::channel();
        self.sender.send(Request::Append(payload, waiter, publish)).await.map_err(|_| WalError::Stopped)?;
        done.await.map_err(|_| WalError::Stopped)?
    }

    /// Seals the current segment (after every append sent before this call) and starts
    /// the next. `None`: the current segment was empty and stays current.
    pub(crate) async fn rotate(&self) -> Result<Option<u64>, WalError> {
        let (waiter, done) = oneshot::channel();
        self.sender.send(Request::Rotate(waiter)).await.map_err(|_| WalError::Stopped)?;
        done.await.map_err(|_| WalError::Stopped)?
    }
}

/// The numbers of the segments in `dir` (none when it does not exist yet).
pub(crate) async fn segment_numbers(dir: &Path) -> Result<Vec<u64>, WalError> {
    match tokio::fs::metadata(dir).await {
        Ok(_) => segments(dir).await,
        Err(_) => Ok(Vec::new()),
    }
}

/// The numbers of the segments in `dir`.
async fn segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut sequences = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await.map_err(io)?;
    while let Some(entry) = entries.next_entry().await.map_err(io)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(sequence) =
            name.strip_prefix("wal-").and_then(|rest| rest.strip_suffix(".log")).and_then(|n| n.parse::<u64>().ok())
        {
            sequences.push(sequence);
        }
    }
    Ok(sequences)
}

/// Removes the sealed segments up to `through`, whose events are in catalogued files.
pub(crate) async fn remove_through(dir: &Path, through: u64) -> Result<usize, WalError> {
    let mut removed = 0;
    for sequence in segments(dir).await? {
        if sequence <= through {
            tokio::fs::remove_file(dir.join(segment_name(sequence))).await.map_err(io)?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir).await;
    }
    Ok(removed)
}

/// Makes a new file's name durable.
/// Syncs a folder, as far as the system allows (errors are not the log's to report).
async fn sync_dir(dir: &Path) {
    let _ = crate::flush::sync_folder(dir).await;
}

async fn writer(
    dir: PathBuf,
    mut sequence: u64,
    mut file: File,
    mut length: u64,
    mut receiver: mpsc::Receiver<Request>,
) {
    // Set when a failed write could not be cut back: appending after a torn frame would
    // make the next replay drop everything after it, so nothing more is accepted.
    let mut torn = false;
    // A rotation that arrived while appends were being gathered: done after their commit.
    let mut pending_rotate: Option<oneshot::Sender<Result<Option<u64>, WalError>>> = None;
    loop {
        if let Some(waiter) = pending_rotate.take() {
            let _ = waiter.send(rotate(&dir, &mut sequence, &mut file, &mut length).await);
        }
        let Some(request) = receiver.recv().await else { break };
        let first = match request {
            Request::Rotate(waiter) => {
                pending_rotate = Some(waiter);
                continue;
            }
            Request::Append(payload, waiter, publish) => (payload, waiter, publish),
        };
        if torn {
            let refused =
                WalError::Io("the event log could not be repaired after a failed write; restart Tally".into());
            let _ = first.1.send(Err(refused));
            continue;
        }
        let mut batch = vec![first];
        let mut bytes: usize = batch[0].0.len();
        let deadline = tokio::time::Instant::now() + COMMIT_WINDOW;
        while bytes < MAX_COMMIT_BYTES {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(Request::Append(payload, waiter, publish))) => {
                    bytes += payload.len();
                    batch.push((payload, waiter, publish));
                }
                Ok(Some(Request::Rotate(waiter))) => {
                    pending_rotate = Some(waiter);
                    break;
                }
                _ => break,
            }
        }
        let mut buffer = Vec::with_capacity(bytes + batch.len() * HEADER);
        for (payload, _, _) in &batch {
            frame(payload, &mut buffer);
        }
        let result = async {
            file.write_all(&buffer).await?;
            // tokio hands writes to a blocking thread and reports their failure on the next
            // flush or write, not on sync_data: without this a full disk would be
            // acknowledged as durable.
            file.flush().await?;
            file.sync_data().await
        }
        .await;
        let outcome = match result {
            Ok(()) => {
                length += buffer.len() as u64;
                Ok(())
            }
            Err(error) => {
                // Nothing of this batch counts: cut back to the last synced length so the
                // log never holds a torn frame in the middle.
                tracing::error!(%error, "event log write failed; the batch is refused");
                let repaired = async {
                    file.set_len(length).await?;
                    file.seek(std::io::SeekFrom::Start(length)).await?;
                    file.sync_data().await
                }
                .await;
                if let Err(repair) = repaired {
                    tracing::error!(error = %repair, "cannot cut the event log back; refusing further writes");
                    torn = true;
                }
                Err(io(error))
            }
        };
        for (_, waiter, publish) in batch {
            if outcome.is_ok()
                && let Some(publish) = publish
            {
                publish();
            }
            let _ = waiter.send(outcome.clone());
        }
        if length >= SEGMENT_BYTES
            && let Err(error) = rotate(&dir, &mut sequence, &mut file, &mut length).await
        {
            tracing::error!(%error, "cannot start a new event log segment; continuing in the old one")
        }
    }
}

/// Starts the next segment; answers the sealed one's number (`None` if the current one is
/// empty). Everything in the sealed segment was synced by its commit.
async fn rotate(dir: &Path, sequence: &mut u64, file: &mut File, length: &mut u64) -> Result<Option<u64>, WalError> {
    if *length == 0 {
        return Ok(None);
    }
    let next =
        OpenOptions::new().create(true).append(true).open(dir.join(segment_name(*sequence + 1))).await.map_err(io)?;
    sync_dir(dir).await;
    let sealed = *sequence;
    *sequence += 1;
    *file = next;
    *length = 0;
    Ok(Some(sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn damage_in_an_older_segment_keeps_a_copy_and_replays_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let record = |n: u64| {
            serde_json::to_vec(&Record::Profiles(Vec::new())).map(|mut bytes| {
                bytes.extend(std::iter::repeat_n(b' ', n as usize));
                bytes
            })
        };
        let mut older = Vec::new();
        frame(&record(1).unwrap(), &mut older);
        let first = older.len();
        frame(&record(2).unwrap(), &mut older);
        let last = older.len() - 1;
        older[last] ^= 0x20;
        let mut newer = Vec::new();
        frame(&record(3).unwrap(), &mut newer);
        std::fs::write(dir.path().join(segment_name(0)), &older).unwrap();
        std::fs::write(dir.path().join(segment_name(1)), &newer).unwrap();

        let (_wal, replayed) = Wal::open(dir.path(), None).await.unwrap();
        let segments: Vec<u64> = replayed.iter().map(|replayed| replayed.segment).collect();
        assert_eq!(segments, [0, 1], "the good frame of the damaged segment, then the next segment");
        assert_eq!(std::fs::read(dir.path().join(format!("{}.damaged", segment_name(0)))).unwrap(), older);
        assert_eq!(std::fs::metadata(dir.path().join(segment_name(0))).unwrap().len(), first as u64);
    }

    #[test]
    fn frames_round_trip_and_stop_at_damage() {
        let mut bytes = Vec::new();
        frame(b"one", &mut bytes);
        frame(b"two", &mut bytes);
        let whole = bytes.len();
        frame(b"three", &mut bytes);
        let (frames, valid) = read_frames(&bytes);
        assert_eq!(frames, [b"one".as_slice(), b"two", b"three"]);
        assert_eq!(valid, bytes.len());

        // A torn tail (half a frame) and a flipped byte both stop the replay there.
        let torn = &bytes[..bytes.len() - 2];
        assert_eq!(read_frames(torn), (vec![b"one".as_slice(), b"two"], whole));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(read_frames(&flipped).1, whole);
    }
}
