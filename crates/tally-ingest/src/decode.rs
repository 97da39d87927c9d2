//! Request bodies as the SDKs send them, turned into JSON items.

use std::io::Read;

use base64::Engine;
use serde_json::Value;

/// The most a request may hold once decompressed (Mixpanel: 10 MB uncompressed).
pub const MAX_DECODED_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("request exceeds max limit of {MAX_DECODED_BYTES} bytes")]
    TooLarge,
    #[error("the gzip body is not valid gzip")]
    BadGzip,
    #[error("no data: send a JSON body or a form field data=")]
    Empty,
    #[error("data is neither JSON nor base64-encoded JSON")]
    BadData,
    #[error("the body is not valid JSON: {0}")]
    BadJson(String),
}

/// What came with the request.
#[derive(Debug, Clone, Default)]
pub struct Payload<'a> {
    pub body: &'a [u8],
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    /// `?data=` on the query string (GET requests of old SDKs).
    pub query_data: Option<&'a str>,
}

/// Decompresses gzip without ever holding more than the limit (no zip bombs).
fn gunzip(body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut decoded = Vec::new();
    let limit = u64::try_from(MAX_DECODED_BYTES).unwrap_or(u64::MAX) + 1;
    flate2::read::MultiGzDecoder::new(body).take(limit).read_to_end(&mut decoded).map_err(|_| DecodeError::BadGzip)?;
    if decoded.len() > MAX_DECODED_BYTES {
        return Err(DecodeError::TooLarge);
    }
    Ok(decoded)
}

/// `data` as raw JSON or as (standard or URL-safe) base64 of JSON.
fn decode_data(text: &str) -> Result<Vec<Value>, DecodeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(DecodeError::Empty);
    }
    if text.starts_with('{') || text.starts_with('[') {
        return json_items(text.as_bytes());
    }
    // The Node SDK posts `data=<base64>` without URL-encoding it, so form decoding turns
    // every '+' into a space; base64 has no spaces, so they are put back.
    let repaired;
    let text = if text.contains(' ') {
        repaired = text.replace(' ', "+");
        repaired.as_str()
    } else {
        text
    };
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for engine in engines {
        if let Ok(bytes) = engine.decode(text) {
            return json_items(&bytes);
        }
    }
    Err(DecodeError::BadData)
}

/// A JSON object, a JSON array of items, or newline-delimited JSON objects.
fn json_items(bytes: &[u8]) -> Result<Vec<Value>, DecodeError> {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return Err(DecodeError::Empty);
    }
    match serde_json::from_slice::<Value>(trimmed) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(item) => Ok(vec![item]),
        Err(whole) => {
            // Newline-delimited JSON (what /import also takes).
            let mut items = Vec::new();
            for line in trimmed.split(|byte| *byte == b'\n') {
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                items.push(serde_json::from_slice(line).map_err(|_| DecodeError::BadJson(whole.to_string()))?);
            }
            Ok(items)
        }
    }
}

/// The items of a request, whichever way they came.
pub fn decode_items(payload: &Payload<'_>) -> Result<Vec<Value>, DecodeError> {
    let gzipped = payload.content_encoding.is_some_and(|encoding| encoding.eq_ignore_ascii_case("gzip"));
    let owned;
    let body = if gzipped {
        owned = gunzip(payload.body)?;
        owned.as_slice()
    } else {
        if payload.body.len() > MAX_DECODED_BYTES {
            return Err(DecodeError::TooLarge);
        }
        payload.body
    };
    let is_form = payload.content_type.is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"))
        || body.starts_with(b"data=");
    if is_form {
        for (key, value) in url::form_urlencoded::parse(body) {
            if key == "data" {
                return decode_data(&value);
            }
        }
        return Err(DecodeError::Empty);
    }
    if body.trim_ascii().is_empty() {
        return match payload.query_data {
            Some(data) => decode_data(data),
            None => Err(DecodeError::Empty),
        };
    }
    json_items(body)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use base64::Engine;

    use super::*;

    fn items(payload: Payload<'_>) -> Vec<Value> {
        decode_items(&payload).unwrap()
    }

    #[test]
    fn base64_posted_without_url_encoding_keeps_its_plus_signs() {
        // `~` and `>` and non-ASCII text make '+' in base64; the Node SDK posts it raw.
        let json = r#"[{"event":"a~b>c","properties":{"note":"café ~>"}}]"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(json);
        assert!(b64.contains('+'), "the fixture must exercise '+': {b64}");
        let body = format!("data={b64}");
        let decoded = items(Payload {
            body: body.as_bytes(),
            content_type: Some("application/x-www-form-urlencoded"),
            ..Default::default()
        });
        assert_eq!(decoded[0]["event"], "a~b>c");
        assert_eq!(decoded[0]["properties"]["note"], "café ~>");
    }

    #[test]
    fn every_way_the_sdks_send() {
        let json = r#"[{"event":"a","properties":{}},{"event":"b","properties":{}}]"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(json);
        let form_b64 = format!("data={}", url::form_urlencoded::byte_serialize(b64.as_bytes()).collect::<String>());
        let form_raw = format!(
            "data={}&verbose=1&ip=0",
            url::form_urlencoded::byte_serialize(json.as_bytes()).collect::<String>()
        );
        let form = Some("application/x-www-form-urlencoded");
        assert_eq!(items(Payload { body: form_b64.as_bytes(), content_type: form, ..Default::default() }).len(), 2);
        assert_eq!(items(Payload { body: form_raw.as_bytes(), content_type: form, ..Default::default() }).len(), 2);
        assert_eq!(
            items(Payload { body: json.as_bytes(), content_type: Some("application/json"), ..Default::default() })
                .len(),
            2
        );
        let single = r#"{"event":"a","properties":{}}"#;
        assert_eq!(items(Payload { body: single.as_bytes(), ..Default::default() }).len(), 1);
        let ndjson = "{\"event\":\"a\",\"properties\":{}}\n{\"event\":\"b\",\"properties\":{}}\n";
        assert_eq!(items(Payload { body: ndjson.as_bytes(), ..Default::default() }).len(), 2);
        assert_eq!(items(Payload { body: b"", query_data: Some(&b64), ..Default::default() }).len(), 2);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(items(Payload { body: &gz, content_encoding: Some("gzip"), ..Default::default() }).len(), 2);
    }

    #[test]
    fn bad_bodies_say_what_is_wrong() {
        assert_eq!(decode_items(&Payload { body: b"", ..Default::default() }), Err(DecodeError::Empty));
        assert!(matches!(
            decode_items(&Payload { body: b"{not json", ..Default::default() }),
            Err(DecodeError::BadJson(_))
        ));
        let form = Some("application/x-www-form-urlencoded");
        assert_eq!(
            decode_items(&Payload { body: b"data=%%%%", content_type: form, ..Default::default() }),
            Err(DecodeError::BadData)
        );
        assert_eq!(
            decode_items(&Payload { body: b"not gzip", content_encoding: Some("gzip"), ..Default::default() }),
            Err(DecodeError::BadGzip)
        );
    }

    #[test]
    fn a_zip_bomb_stops_at_the_limit() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; MAX_DECODED_BYTES + 10]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 100_000);
        assert_eq!(
            decode_items(&Payload { body: &bomb, content_encoding: Some("gzip"), ..Default::default() }),
            Err(DecodeError::TooLarge)
        );
    }
}
