//! Reading requests strictly: JSON bodies with unknown fields refused and every error named
//! by its JSON pointer, query strings and path ids parsed into domain types, page parameters
//! bounded.

use crate::domain::ids::{EmployerId, FunderId};
use crate::error::{ApiError, FieldError};
use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The largest page a list answers.
pub const MAX_PAGE_SIZE: i64 = 1_000;
/// The page size when `limit` is not given.
pub const DEFAULT_PAGE_SIZE: i64 = 100;

/// A JSON body read strictly, with the fingerprint of the request it came in (method, path
/// and canonical body) for idempotency.
#[derive(Debug)]
pub struct Body<T> {
    /// The parsed body.
    pub value: T,
    /// SHA-256 over method, path and the canonical JSON of the body.
    pub fingerprint: String,
}

/// The size limit of bodies, set from `PORTAGE_MAX_BODY_BYTES`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// How long a client may take to send a body, set from `PORTAGE_BODY_TIMEOUT_MS`: a body
/// trickling in would otherwise hold its connection for ever, as a slow header would (actix
/// times those out itself).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

/// Awaits a body read within the request's [`BodyTimeout`] (10 s when none is set).
pub async fn within_body_timeout<T>(
    req: &HttpRequest,
    read: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let limit = req
        .app_data::<BodyTimeout>()
        .map_or(std::time::Duration::from_secs(10), |t| t.0);
    match actix_web::rt::time::timeout(limit, read).await {
        Ok(result) => result,
        Err(_) => {
            tracing::info!(
                timeout_ms = limit.as_millis() as u64,
                "request body too slow"
            );
            Err(ApiError::RequestTimeout(limit.as_millis() as u64))
        }
    }
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                pointer.push_str(&format!("/{}", key.replace('~', "~0").replace('/', "~1")))
            }
            Segment::Enum { variant } => pointer.push_str(&format!("/{variant}")),
            Segment::Unknown => pointer.push_str("/?"),
        }
    }
    pointer
}

/// The name between the first pair of backticks of a serde message (`missing field `x``).
fn quoted_name(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(&message[start..end])
}

/// Deserializes a JSON value into `T`, naming the offending field on failure.
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|error| {
        let mut pointer = pointer_of(error.path());
        let message = error.inner().to_string();
        // A missing field is reported at its parent; an unknown one already at itself.
        if message.starts_with("missing field") {
            if let Some(name) = quoted_name(&message) {
                pointer = format!("{pointer}/{name}");
            }
        }
        if pointer.is_empty() {
            pointer = "/".to_owned();
        }
        ApiError::Validation(vec![FieldError::new(pointer, message)])
    })
}

/// Reads an optional field that may be absent but not `null`: `#[serde(default,
/// deserialize_with = "not_null")]`. Without it serde reads `null` as "absent", and a client
/// sending `"fte": null` would be told nothing of a value the schema does not allow.
pub fn not_null<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Reads a field that may be absent (leave it), `null` (clear it) or a value (set it):
/// `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>`.
pub fn present<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A JSON document parsed into a `serde_json::Value`, refusing an object that gives a key twice
/// (serde_json keeps the last silently, while a proxy or a log may read the first: the two would
/// disagree about what was asked). On a duplicate, `duplicate` receives its JSON pointer.
struct StrictValue<'a> {
    pointer: String,
    duplicate: &'a std::cell::RefCell<Option<String>>,
}

impl<'a> StrictValue<'a> {
    fn child(&self, segment: &str) -> StrictValue<'a> {
        StrictValue {
            pointer: format!(
                "{}/{}",
                self.pointer,
                segment.replace('~', "~0").replace('/', "~1")
            ),
            duplicate: self.duplicate,
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for StrictValue<'_> {
    type Value = serde_json::Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for StrictValue<'_> {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(&items.len().to_string()))? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&key);
            if object.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(child.pointer);
                return Err(serde::de::Error::custom("a key is given twice"));
            }
            let value = map.next_value_seed(child)?;
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

/// Parses JSON text, refusing duplicate keys (422 naming the key) as well as malformed text.
pub fn parse_json_strictly(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    use serde::de::DeserializeSeed;
    let duplicate = std::cell::RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue {
        pointer: String::new(),
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|error| match duplicate.into_inner() {
        Some(pointer) => ApiError::field(pointer, "this key is given more than once"),
        None => ApiError::field("/", format!("the body is not valid JSON: {error}")),
    })
}

/// SHA-256 of a request's method, path and canonical body, in hex.
pub fn fingerprint(method: &str, path: &str, canonical_body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(canonical_body.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Refuses a body whose `Content-Type` is missing or not one of `accepted` (parameters such as
/// `charset` allowed): a body sent as text must not be read as JSON by accident.
pub fn require_media_type(req: &HttpRequest, accepted: &[&str]) -> Result<(), ApiError> {
    let given = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match given {
        Some(media) if accepted.contains(&media.as_str()) => Ok(()),
        Some(media) => Err(ApiError::UnsupportedMediaType(format!(
            "the body is sent as {media:?}; send it as {}",
            accepted.join(" or ")
        ))),
        None => Err(ApiError::UnsupportedMediaType(format!(
            "the body has no Content-Type; send it as {}",
            accepted.join(" or ")
        ))),
    }
}

/// Reads and parses a body. An empty body reads as `{}` so that actions without parameters
/// accept both no body and an empty object.
pub async fn read_body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Result<Body<T>, ApiError> {
    let limit = req.app_data::<BodyLimit>().map_or(65_536, |l| l.0);
    // The limit itself is enforced by the `web::PayloadConfig` registered with the app.
    let read =
        async {
            Bytes::from_request(req, payload).await.map_err(|error| {
                match error.as_error::<actix_web::error::PayloadError>() {
                    Some(actix_web::error::PayloadError::Overflow) => {
                        ApiError::PayloadTooLarge(limit)
                    }
                    _ => ApiError::field("/", format!("the body could not be read: {error}")),
                }
            })
        };
    let bytes = within_body_timeout(req, read).await?;
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let value: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        require_media_type(req, &["application/json"])?;
        parse_json_strictly(&bytes)?
    };
    // Every JSON body of the API is an object; serde would otherwise read a struct from an
    // array of its fields in order (`[]` for a body without fields).
    if !value.is_object() {
        return Err(ApiError::field("/", "the body must be a JSON object"));
    }
    let canonical = value.to_string();
    let fingerprint = fingerprint(req.method().as_str(), req.path(), &canonical);
    Ok(Body {
        value: from_json_value(value)?,
        fingerprint,
    })
}

/// The roles that may ever send a kind of body.
#[derive(Debug, Clone, Copy)]
pub enum Senders {
    /// Registering employers and funders: the mission and the operator.
    Registrars,
    /// Changing an employer's records: employers and the operator.
    EmployerSide,
    /// What every role may do for its own scope (webhooks).
    Anyone,
}

/// A request body, with the roles that may ever send it. [`Body`] checks them before reading
/// the body, so that a role that may never act gets 403 whatever it sends, rather than a 422
/// that tells it how to make a body the rules would then refuse.
pub trait SentBy: DeserializeOwned {
    /// Who may send it.
    const SENDERS: Senders;
}

impl Senders {
    fn check(self, caller: &crate::auth::Caller) -> Result<(), ApiError> {
        match self {
            Senders::Registrars => caller.require_registrar(),
            Senders::EmployerSide => caller.require_writer_role(),
            Senders::Anyone => Ok(()),
        }
    }
}

impl<T: SentBy + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Body<T>, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let caller = crate::auth::Caller::extract(&req).await?;
            T::SENDERS.check(&caller)?;
            read_body(&req, &mut payload).await
        })
    }
}

/// A query string read strictly into `T` (unknown parameters refused).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Query<T>, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let pairs: Result<Vec<(String, String)>, _> =
            serde_urlencoded::from_str(req.query_string());
        let result = pairs
            .map_err(|e| ApiError::field("/", format!("unreadable query string: {e}")))
            .and_then(|pairs| {
                let mut map = serde_json::Map::new();
                for (key, value) in pairs {
                    if map.contains_key(&key) {
                        return Err(ApiError::field(
                            format!("/{key}"),
                            "the parameter is given more than once",
                        ));
                    }
                    map.insert(key, serde_json::Value::String(value));
                }
                from_json_value(serde_json::Value::Object(map)).map(Query)
            });
        std::future::ready(result)
    }
}

/// Parses an id from a path segment. A malformed id cannot name anything: 404.
pub fn path_id<T: From<Uuid>>(text: &str, resource: &'static str) -> Result<T, ApiError> {
    Uuid::parse_str(text)
        .map(T::from)
        .map_err(|_| ApiError::NotFound(resource))
}

/// Parses an id given as a query parameter: a malformed one is a 422 naming it.
pub fn id_param<T: From<Uuid>>(name: &str, value: Option<&str>) -> Result<Option<T>, ApiError> {
    Ok(parse_param(name, value, Uuid::parse_str)?.map(T::from))
}

/// Parses an optional query parameter with `parse`, naming it on failure.
pub fn parse_param<T, E: std::fmt::Display>(
    name: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| parse(v).map_err(|e| ApiError::field(format!("/{name}"), e.to_string())))
        .transpose()
}

pub use crate::db::paging::Page;

impl Page {
    /// Reads `limit` (1 to 1000, default 100) and `cursor` (an id from a previous page).
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Page, ApiError> {
        Page::parse_with(limit, cursor, |c| {
            Uuid::parse_str(c).ok().map(|id| id.to_string())
        })
    }

    /// Reads `limit` and a cursor that `read_cursor` checks (`None`: not a cursor of this list).
    pub fn parse_with(
        limit: Option<&str>,
        cursor: Option<&str>,
        read_cursor: impl Fn(&str) -> Option<String>,
    ) -> Result<Page, ApiError> {
        let limit = match limit {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    ApiError::field(
                        "/limit",
                        format!("must be an integer from 1 to {MAX_PAGE_SIZE}"),
                    )
                })?,
        };
        let after = cursor
            .map(|c| {
                read_cursor(c)
                    .ok_or_else(|| ApiError::field("/cursor", "not a cursor returned by this list"))
            })
            .transpose()?;
        Ok(Page { limit, after })
    }
}

/// The query of the lists of records between employers and funders (calls, payments):
/// either party, and the page.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartiesQuery {
    pub(crate) funder_id: Option<String>,
    pub(crate) employer_id: Option<String>,
    pub(crate) limit: Option<String>,
    pub(crate) cursor: Option<String>,
}

impl PartiesQuery {
    /// The page, and the employer and funder asked for.
    pub fn parse(&self) -> Result<(Page, Option<EmployerId>, Option<FunderId>), ApiError> {
        let page = Page::parse(self.limit.as_deref(), self.cursor.as_deref())?;
        let funder = id_param("funder_id", self.funder_id.as_deref())?;
        let employer = id_param("employer_id", self.employer_id.as_deref())?;
        Ok((page, employer, funder))
    }
}

/// The answer of every list: `{"items": [...], "next_cursor": ...}`.
pub fn page_response<T: serde::Serialize>(
    items: T,
    next_cursor: Option<String>,
) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(PageBody { items, next_cursor })
}

/// The body of every list: a page of items and the cursor of the next page.
#[derive(Debug, serde::Serialize)]
pub struct PageBody<T> {
    /// The page's items.
    pub items: T,
    /// The cursor of the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Reads an optional request header as text.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::field(format!("/headers/{name}"), "not readable text"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer_of_error(text: &str) -> Option<String> {
        match parse_json_strictly(text.as_bytes()) {
            Err(ApiError::Validation(errors)) => Some(errors[0].pointer.clone()),
            _ => None,
        }
    }

    #[test]
    fn duplicate_keys_are_named_wherever_they_are() {
        let twice = r#"{"month":"2026-12","amount":"10.00","amount":"99999.00"}"#;
        assert_eq!(pointer_of_error(twice).as_deref(), Some("/amount"));
        let nested = r#"{"applications":[{"call_id":"a"},{"amount":"1","amount":"2"}]}"#;
        assert_eq!(
            pointer_of_error(nested).as_deref(),
            Some("/applications/1/amount")
        );
        assert_eq!(
            pointer_of_error(r#"{"a/b":1,"a/b":2}"#).as_deref(),
            Some("/a~1b")
        );
    }

    #[test]
    fn strict_parsing_reads_what_serde_json_reads() {
        let text = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":"é"}"#;
        let strict = parse_json_strictly(text.as_bytes()).unwrap();
        assert_eq!(
            strict,
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
        assert_eq!(pointer_of_error("{} trailing").as_deref(), Some("/"));
        assert_eq!(pointer_of_error("[1,").as_deref(), Some("/"));
    }
}
