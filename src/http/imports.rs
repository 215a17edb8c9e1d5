//! `/v1/imports`: files of lines imported in one call — a month's payroll (costs), an
//! employer's posts and conventions (commitments), timesheets (hours) — as JSON
//! (`{"employer_id", "lines": [...]}`) or CSV (`text/csv` with `?employer_id=`).
//!
//! All or nothing: every line goes through the rules of its single endpoint inside one write
//! transaction, every bad line is listed (`/lines/17/amount`, the CSV file's line, a code), and
//! any bad line rolls the whole file back. The same file (its SHA-256) imported twice for an
//! employer is refused unless `?allow_duplicate=true`. An import is a record; a cost import can
//! be reversed as a whole.

use crate::auth::Caller;
use crate::db::imports::ImportRow;
use crate::db::posts::PostRow;
use crate::db::LockedEmployer;
use crate::db::{self, DbConnection, RecordedBy};
use crate::domain::ids::{CommitmentId, EmployerId, ImportId, PostId};
use crate::domain::{clock, Money, Month};
use crate::error::{ApiError, FieldError};
use crate::http::extract::{
    fingerprint, from_json_value, id_param, page_response, parse_json_strictly, path_id,
    require_media_type, Body, Page, Query,
};
use crate::http::idempotency::{self, Outcome};
use crate::http::{activity, commitments as commitment_api, costs as cost_api, posts};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::QueryResult;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The largest import body, set from `PORTAGE_MAX_IMPORT_BYTES` (default 8 MiB).
#[derive(Debug, Clone, Copy)]
pub struct ImportLimit(pub usize);

/// The most lines a file may hold.
pub const MAX_LINES: usize = 50_000;
/// The most bad lines listed in a refusal.
pub const MAX_ERRORS: usize = 1_000;

/// What a file imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Costs of posts (a payroll).
    Costs,
    /// Posts.
    Posts,
    /// Commitments (conventions).
    Commitments,
    /// Hours by activity commitment (timesheets).
    Activity,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Costs => "costs",
            Kind::Posts => "posts",
            Kind::Commitments => "commitments",
            Kind::Activity => "activity",
        }
    }

    /// The fields whose values are decimal numbers: in a `;`-separated file they may use a
    /// decimal comma, as French spreadsheets write them.
    fn decimal_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Costs => &["amount"],
            Kind::Posts => &["fte", "monthly_budget"],
            Kind::Commitments => &["monthly_amount", "percent", "fte", "cap"],
            Kind::Activity => &["hours"],
        }
    }
}

/// The query of an import.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    employer_id: Option<String>,
    allow_duplicate: Option<String>,
}

/// One line of a file: its fields as JSON values (CSV cells as strings, empty cells left
/// out), its index among the data records and, for CSV, its line in the file.
struct Line {
    index: usize,
    file_line: Option<u64>,
    fields: Map<String, Value>,
}

/// A parsed file.
struct Upload {
    format: &'static str,
    employer_id: Option<EmployerId>,
    lines: Vec<Line>,
    sha256: String,
}

/// The errors of a file's lines, capped at [`MAX_ERRORS`].
#[derive(Default)]
struct LineErrors {
    errors: Vec<FieldError>,
}

impl LineErrors {
    fn push(&mut self, line: &Line, field: &str, code: &'static str, detail: impl Into<String>) {
        if self.errors.len() < MAX_ERRORS {
            let mut error = FieldError::new(format!("/lines/{}{field}", line.index), detail);
            error.line = line.file_line;
            error.code = Some(code);
            self.errors.push(error);
        }
    }

    /// Lists what a single endpoint's rules said of a line.
    fn refused(&mut self, line: &Line, error: ApiError) -> Result<(), ApiError> {
        match error {
            ApiError::Validation(fields) => {
                for f in fields {
                    let field = if f.pointer == "/" {
                        String::new()
                    } else {
                        f.pointer
                    };
                    self.push(line, &field, "validation_failed", f.detail);
                }
            }
            ApiError::Conflict { code, detail } | ApiError::Unprocessable { code, detail } => {
                self.push(line, "", code, detail)
            }
            ApiError::NotFound(what) => self.push(line, "", "not_found", format!("no such {what}")),
            ApiError::Forbidden(detail) => self.push(line, "", "forbidden", detail),
            // Faults of the service (a lost connection…) refuse the file as they are.
            other => return Err(other),
        }
        Ok(())
    }

    fn into_result(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// Reads the body with the import limit, refusing other media types than JSON and CSV.
async fn read_bytes(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, ApiError> {
    require_media_type(req, &["application/json", "text/csv"])?;
    let limit = req.app_data::<ImportLimit>().map_or(8 * 1_048_576, |l| l.0);
    let mut bytes = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::field("/", format!("the body could not be read: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn is_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/csv"))
}

/// Parses a JSON import: `{"employer_id", "lines": [{...}, ...]}`.
fn parse_json(bytes: &[u8]) -> Result<(Option<EmployerId>, Vec<Line>), ApiError> {
    let value = parse_json_strictly(bytes)?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::field(
            "/",
            "must be an object with employer_id and lines",
        ));
    };
    if let Some(unknown) = object.keys().find(|k| *k != "employer_id" && *k != "lines") {
        return Err(ApiError::field(format!("/{unknown}"), "unknown field"));
    }
    let employer_id = match object.remove("employer_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(
            text.parse::<uuid::Uuid>()
                .map(EmployerId::from)
                .map_err(|_| ApiError::field("/employer_id", "not a UUID"))?,
        ),
        Some(_) => return Err(ApiError::field("/employer_id", "must be a string")),
    };
    let Some(Value::Array(items)) = object.remove("lines") else {
        return Err(ApiError::field("/lines", "must be an array of lines"));
    };
    let mut lines = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(fields) => lines.push(Line {
                index,
                file_line: None,
                fields,
            }),
            _ => {
                return Err(ApiError::field(
                    format!("/lines/{index}"),
                    "must be an object",
                ))
            }
        }
    }
    Ok((employer_id, lines))
}

/// Parses a CSV import: a header row naming the fields, `,` or `;` separated (read from the
/// header), UTF-8 with or without BOM, CRLF or LF, RFC 4180 quoting. With `;`, the decimal
/// fields may use a decimal comma.
fn parse_csv(bytes: &[u8], kind: Kind) -> Result<Vec<Line>, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ApiError::field("/", format!("the file is not UTF-8: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header = text.lines().next().unwrap_or_default();
    let separator = if header.matches(';').count() > header.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::field("/", format!("the header row cannot be read: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    if names.iter().any(String::is_empty) {
        return Err(ApiError::field(
            "/",
            "every column of the header row needs a name",
        ));
    }
    let mut lines = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let at = e
                .position()
                .map_or(String::new(), |p| format!(" (line {})", p.line()));
            ApiError::field(
                format!("/lines/{index}"),
                format!("unreadable CSV{at}: {e}"),
            )
        })?;
        if index >= MAX_LINES {
            return Err(ApiError::field(
                "/lines",
                format!("at most {MAX_LINES} lines"),
            ));
        }
        let file_line = record.position().map(|p| p.line());
        let mut fields = Map::new();
        for (name, cell) in names.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let cell = if separator == b';' && kind.decimal_fields().contains(&name.as_str()) {
                cell.replace(',', ".")
            } else {
                cell.to_owned()
            };
            fields.insert(name.clone(), Value::String(cell));
        }
        lines.push(Line {
            index,
            file_line,
            fields,
        });
    }
    Ok(lines)
}

/// Reads a file: its format, its lines, and its SHA-256 (of the body's bytes).
async fn read_upload(
    req: &HttpRequest,
    payload: web::Payload,
    kind: Kind,
) -> Result<Upload, ApiError> {
    let bytes = read_bytes(req, payload).await?;
    let sha256: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (format, employer_id, lines) = if is_csv(req) {
        ("csv", None, parse_csv(&bytes, kind)?)
    } else {
        let (employer_id, lines) = parse_json(&bytes)?;
        ("json", employer_id, lines)
    };
    if lines.is_empty() {
        return Err(ApiError::field("/lines", "the file has no lines"));
    }
    if lines.len() > MAX_LINES {
        return Err(ApiError::field(
            "/lines",
            format!("at most {MAX_LINES} lines"),
        ));
    }
    Ok(Upload {
        format,
        employer_id,
        lines,
        sha256,
    })
}

/// The employer's posts, to resolve the lines that name one by `post_id` or `post_reference`.
struct PostIndex {
    by_id: HashMap<PostId, PostRow>,
    by_reference: HashMap<String, Vec<PostId>>,
}

impl PostIndex {
    fn load(conn: &mut DbConnection, employer: EmployerId) -> QueryResult<PostIndex> {
        let rows: Vec<PostRow> = db::posts::of_employer(conn, employer)?;
        let mut by_reference: HashMap<String, Vec<PostId>> = HashMap::new();
        for row in &rows {
            if let Some(reference) = &row.reference {
                by_reference
                    .entry(reference.clone())
                    .or_default()
                    .push(row.id);
            }
        }
        Ok(PostIndex {
            by_id: rows.into_iter().map(|r| (r.id, r)).collect(),
            by_reference,
        })
    }

    /// The post a line names, taking its `post_id` or `post_reference` out of its fields. A
    /// post of another employer is "no such post", exactly as one that does not exist.
    fn resolve(&self, line: &mut Line, errors: &mut LineErrors) -> Option<PostId> {
        let id = line.fields.remove("post_id");
        let reference = line.fields.remove("post_reference");
        match (id, reference) {
            (Some(Value::String(id)), None) => {
                let found = id
                    .parse::<uuid::Uuid>()
                    .ok()
                    .map(PostId::from)
                    .filter(|id| self.by_id.contains_key(id));
                if found.is_none() {
                    errors.push(line, "/post_id", "no_such_post", "no such post");
                }
                found
            }
            (None, Some(Value::String(reference))) => match self.by_reference.get(&reference) {
                Some(ids) if ids.len() == 1 => Some(ids[0]),
                Some(_) => {
                    errors.push(
                        line,
                        "/post_reference",
                        "ambiguous_reference",
                        "several posts have this reference",
                    );
                    None
                }
                None => {
                    errors.push(
                        line,
                        "/post_reference",
                        "no_such_post",
                        "no post has this reference",
                    );
                    None
                }
            },
            (Some(_), Some(_)) => {
                errors.push(
                    line,
                    "/post_id",
                    "validation_failed",
                    "give post_id or post_reference, not both",
                );
                None
            }
            (None, None) => {
                errors.push(
                    line,
                    "/post_id",
                    "validation_failed",
                    "a post_id or a post_reference is required",
                );
                None
            }
            _ => {
                errors.push(line, "/post_id", "validation_failed", "must be a string");
                None
            }
        }
    }
}

/// Deserializes a line's fields into a single endpoint's body type, its errors listed at the
/// line.
fn body_of<T: serde::de::DeserializeOwned>(line: &Line, errors: &mut LineErrors) -> Option<T> {
    match from_json_value::<T>(Value::Object(line.fields.clone())) {
        Ok(value) => Some(value),
        Err(error) => {
            // Validation errors only: from_json_value yields nothing else.
            let _ = errors.refused(line, error);
            None
        }
    }
}

/// What an import recorded, for its record.
struct Summary {
    total_cents: Option<i64>,
    months: BTreeSet<Month>,
    cost_ids: Vec<String>,
}

/// Checks and records a cost import: every line checked with the rules of `POST
/// /v1/posts/{id}/costs` before anything is written, then the costs recorded at once.
fn import_costs(
    conn: &mut DbConnection,
    lock: &db::EmployerLock,
    lines: &mut [Line],
    import_id: ImportId,
    caller: &Caller,
) -> Result<Summary, ApiError> {
    let employer = lock.employer();
    let index = PostIndex::load(conn, employer)?;
    let closed = db::periods::closed_through(conn, employer)?;
    let mut errors = LineErrors::default();
    let mut accepted = Vec::new();
    for line in lines.iter_mut() {
        let post = index.resolve(line, &mut errors);
        let Some(cost) = body_of::<cost_api::NewCost>(line, &mut errors) else {
            continue;
        };
        let cost = match cost.checked() {
            Ok(cost) => cost,
            Err(error) => {
                errors.refused(line, error)?;
                continue;
            }
        };
        let Some(post) = post.and_then(|id| index.by_id.get(&id)) else {
            continue;
        };
        if let Err(error) = post.check_month(cost.month) {
            errors.refused(line, error.into())?;
            continue;
        }
        if let Some(last) = closed.filter(|last| cost.month <= *last) {
            errors.push(
                line,
                "/month",
                "period_closed",
                format!(
                    "{} is in a closed period (the books are closed through {last})",
                    cost.month
                ),
            );
            continue;
        }
        accepted.push((post.id, cost));
    }
    errors.into_result()?;
    let new: Vec<db::costs::NewCost<'_>> = accepted
        .iter()
        .map(|(post_id, cost)| db::costs::NewCost {
            post_id: *post_id,
            month: cost.month,
            category: cost.category,
            amount_cents: cost.amount_cents,
            reference: cost.reference.as_deref(),
        })
        .collect();
    let rows = db::costs::record_many(conn, lock, &new, Some(import_id), &caller.recorder())?;
    Ok(Summary {
        total_cents: Some(rows.iter().map(|r| r.amount_cents).sum()),
        months: rows.iter().map(|r| r.month).collect(),
        cost_ids: rows.iter().map(|r| r.id.to_string()).collect(),
    })
}

/// Checks and records a post import, line by line with the rules of `POST /v1/posts` (a
/// reference already taken, in the file or before, included).
fn import_posts(
    conn: &mut DbConnection,
    employer: EmployerId,
    lines: &mut [Line],
    caller: &Caller,
) -> Result<Summary, ApiError> {
    let mut errors = LineErrors::default();
    let mut months = BTreeSet::new();
    for line in lines.iter_mut() {
        line.fields
            .insert("employer_id".into(), Value::String(employer.to_string()));
        let Some(post) = body_of::<posts::NewPost>(line, &mut errors) else {
            continue;
        };
        match post
            .checked()
            .and_then(|p| posts::record_checked(conn, caller, p))
        {
            Ok(post) => {
                months.insert(post.start());
            }
            Err(error) => errors.refused(line, error)?,
        }
    }
    errors.into_result()?;
    Ok(Summary {
        total_cents: None,
        months,
        cost_ids: Vec::new(),
    })
}

/// Checks and records a commitment import, line by line with the rules of `POST
/// /v1/commitments`: the shares of a post over 100 % across the file and the stored
/// commitments are refused, since each line sees those recorded before it.
fn import_commitments(
    conn: &mut DbConnection,
    lock: &db::EmployerLock,
    lines: &mut [Line],
    caller: &Caller,
) -> Result<Summary, ApiError> {
    let employer = db::LockedEmployer::employer(lock);
    // What each line's checks read, read once: the posts, the funders, the commitments (the
    // lines recorded join them as they go).
    let index = PostIndex::load(conn, employer)?;
    let funders_by_siren = db::funders::by_siren(conn)?;
    let funders = db::funders::kinds(conn)?;
    let mut commitments_of = db::commitments::of_employer_by_post(conn, employer)?;
    let mut errors = LineErrors::default();
    let mut months = BTreeSet::new();
    for line in lines.iter_mut() {
        let Some(post) = index.resolve(line, &mut errors) else {
            continue;
        };
        line.fields
            .insert("post_id".into(), Value::String(post.to_string()));
        if let Some(siren) = line.fields.remove("funder_siren") {
            let Some(siren) = siren.as_str() else {
                errors.push(
                    line,
                    "/funder_siren",
                    "validation_failed",
                    "must be a string of nine digits",
                );
                continue;
            };
            let found: Vec<String> = funders_by_siren
                .get(siren)
                .into_iter()
                .flatten()
                .map(ToString::to_string)
                .collect();
            match found.as_slice() {
                [one] if !line.fields.contains_key("funder_id") => {
                    line.fields
                        .insert("funder_id".into(), Value::String(one.clone()));
                }
                [_] => {
                    errors.push(
                        line,
                        "/funder_siren",
                        "validation_failed",
                        "give funder_id or funder_siren, not both",
                    );
                    continue;
                }
                [] => {
                    errors.push(
                        line,
                        "/funder_siren",
                        "no_such_funder",
                        "no funder has this SIREN",
                    );
                    continue;
                }
                _ => {
                    errors.push(
                        line,
                        "/funder_siren",
                        "ambiguous_reference",
                        "several funders have this SIREN",
                    );
                    continue;
                }
            }
        }
        let Some(commitment) = body_of::<commitment_api::NewCommitment>(line, &mut errors) else {
            continue;
        };
        let recorded = commitment.checked().and_then(|c| {
            // The post is the one the line resolved to, among the employer's.
            let post_row = index
                .by_id
                .get(&c.post())
                .ok_or(ApiError::NotFound("post"))?;
            if !funders.contains_key(&c.funder()) {
                return Err(ApiError::from(db::StoreError::NotFound("funder")));
            }
            let existing = commitments_of.get(&c.post()).map_or(&[][..], Vec::as_slice);
            commitment_api::record_known(conn, lock, caller, post_row, existing, c)
        });
        match recorded {
            Ok(row) => {
                months.insert(row.start_month);
                commitments_of.entry(post).or_default().push(row);
            }
            Err(error) => errors.refused(line, error)?,
        }
    }
    errors.into_result()?;
    Ok(Summary {
        total_cents: None,
        months,
        cost_ids: Vec::new(),
    })
}

/// Checks and records an activity import: the lines of one post and month make one record
/// (a line without a commitment holds other hours), recorded with the rules of `PUT
/// /v1/posts/{id}/activity/{month}`. A `commitment_reference` is looked up among the post's
/// commitments in force that month; none or several is a bad line.
fn import_activity(
    conn: &mut DbConnection,
    employer: EmployerId,
    lines: &mut [Line],
    caller: &Caller,
) -> Result<Summary, ApiError> {
    let index = PostIndex::load(conn, employer)?;
    let mut errors = LineErrors::default();
    // (post, month) → (first line, record)
    let mut records: BTreeMap<(PostId, Month), (usize, activity::ActivityRecord)> = BTreeMap::new();
    for line in lines.iter_mut() {
        let Some(post) = index.resolve(line, &mut errors) else {
            continue;
        };
        let month = match line.fields.remove("month") {
            Some(Value::String(m)) => match Month::parse(&m) {
                Ok(m) => m,
                Err(e) => {
                    errors.push(line, "/month", "validation_failed", e.to_string());
                    continue;
                }
            },
            _ => {
                errors.push(line, "/month", "validation_failed", "a month is required");
                continue;
            }
        };
        let hours = match line.fields.remove("hours") {
            Some(Value::String(h)) => match crate::domain::Hours::parse(&h) {
                Some(h) => h,
                None => {
                    errors.push(
                        line,
                        "/hours",
                        "validation_failed",
                        "must be hours from 0 to 744 with at most two decimals",
                    );
                    continue;
                }
            },
            _ => {
                errors.push(line, "/hours", "validation_failed", "hours are required");
                continue;
            }
        };
        let by_id = line.fields.remove("commitment_id");
        let by_reference = line.fields.remove("commitment_reference");
        if let Some(unknown) = line.fields.keys().next() {
            let field = format!("/{unknown}");
            errors.push(line, &field, "validation_failed", "unknown field");
            continue;
        }
        let commitment: Option<CommitmentId> = match (by_id, by_reference) {
            (None, None) => None,
            (Some(Value::String(id)), None) => match id.parse::<uuid::Uuid>() {
                Ok(id) => Some(CommitmentId::from(id)),
                Err(_) => {
                    errors.push(line, "/commitment_id", "validation_failed", "not a UUID");
                    continue;
                }
            },
            (None, Some(Value::String(reference))) => {
                let found: Vec<CommitmentId> =
                    db::commitments::in_force_with_reference(conn, post, &reference, month)?;
                match found.as_slice() {
                    [one] => Some(*one),
                    [] => {
                        errors.push(
                            line,
                            "/commitment_reference",
                            "no_such_commitment",
                            format!(
                                "no commitment of this post in force in {month} has this reference"
                            ),
                        );
                        continue;
                    }
                    _ => {
                        errors.push(
                            line,
                            "/commitment_reference",
                            "ambiguous_reference",
                            "several commitments of this post have this reference",
                        );
                        continue;
                    }
                }
            }
            _ => {
                errors.push(
                    line,
                    "/commitment_id",
                    "validation_failed",
                    "give commitment_id or commitment_reference, not both",
                );
                continue;
            }
        };
        let entry = records.entry((post, month)).or_insert_with(|| {
            (
                line.index,
                activity::ActivityRecord {
                    hours: Vec::new(),
                    other_hours: None,
                },
            )
        });
        match commitment {
            Some(commitment_id) => entry.1.hours.push(activity::CommitmentHours {
                commitment_id,
                hours,
            }),
            None => {
                let other =
                    entry.1.other_hours.unwrap_or_default().hundredths() + hours.hundredths();
                entry.1.other_hours = crate::domain::Hours::from_hundredths(other);
            }
        }
    }
    let mut months = BTreeSet::new();
    for ((post, month), (first, record)) in &records {
        if let Err(error) = activity::record_checked(conn, caller, *post, *month, record) {
            let line = &lines[*first];
            errors.refused(line, error)?;
        } else {
            months.insert(*month);
        }
    }
    errors.into_result()?;
    Ok(Summary {
        total_cents: None,
        months,
        cost_ids: Vec::new(),
    })
}

/// The answer for an import.
/// An import's record.
#[derive(Debug, Serialize)]
struct ImportView {
    id: ImportId,
    employer_id: EmployerId,
    kind: String,
    format: String,
    lines: i64,
    total: Option<Money>,
    months: Vec<Month>,
    sha256: String,
    reversed_at: Option<String>,
    recorded_by: RecordedBy,
    recorded_at: String,
}

fn view(row: &ImportRow) -> Result<ImportView, ApiError> {
    Ok(ImportView {
        id: row.id,
        employer_id: row.employer_id,
        kind: row.kind.clone(),
        format: row.format.clone(),
        lines: row.line_count,
        total: row.total_cents.map(Money::from_cents),
        months: row.months()?,
        sha256: row.sha256.clone(),
        reversed_at: row.reversed_at.clone(),
        recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
        recorded_at: row.created_at.clone(),
    })
}

/// Runs an import of `kind`.
async fn import(
    kind: Kind,
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    query: ImportQuery,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Authorization first: a role that may never write gets 403 whatever its file holds.
    caller.require_writer_role()?;
    let asked: Option<EmployerId> = id_param("employer_id", query.employer_id.as_deref())?;
    let allow_duplicate = match query.allow_duplicate.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("/allow_duplicate", "must be true or false")),
    };
    let mut upload = read_upload(&req, payload, kind).await?;
    let employer = match (asked, upload.employer_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::field(
                "/employer_id",
                "the query and the body name different employers",
            ))
        }
        (Some(e), _) | (None, Some(e)) => e,
        (None, None) => caller.employer_in_scope(None)?.ok_or_else(|| {
            ApiError::field("/employer_id", "name the employer the file is imported for")
        })?,
    };
    caller.require_employer_writer(employer)?;
    let key_fingerprint = fingerprint(
        req.method().as_str(),
        &format!("{}?{}", req.path(), req.query_string()),
        &upload.sha256,
    );
    idempotency::run(&state, &req, caller.key(), key_fingerprint, move |conn| {
        crate::db::employers::find(conn, employer)?;
        let lock = db::lock_employer(conn, employer)?;
        if !allow_duplicate {
            if let Some((id, at)) = db::imports::first_of_file(conn, employer, &upload.sha256)? {
                return Err(ApiError::conflict(
                    "duplicate_import",
                    format!(
                        "this file was already imported as {id} at {at}; add ?allow_duplicate=true if it is meant"
                    ),
                ));
            }
        }
        let id = ImportId::generate();
        let by = caller.recorder();
        // The record first, so that the costs can name it; rolled back with them on any error.
        db::imports::insert(
            conn,
            &db::imports::NewImport {
                id,
                employer_id: employer,
                kind: kind.as_str(),
                sha256: &upload.sha256,
                format: upload.format,
                line_count: upload.lines.len() as i64,
                created_at: &db::now_timestamp(),
            },
            &by,
        )?;
        let summary = match kind {
            Kind::Costs => import_costs(conn, &lock, &mut upload.lines, id, &caller)?,
            Kind::Posts => import_posts(conn, employer, &mut upload.lines, &caller)?,
            Kind::Commitments => import_commitments(conn, &lock, &mut upload.lines, &caller)?,
            Kind::Activity => import_activity(conn, employer, &mut upload.lines, &caller)?,
        };
        if kind != Kind::Costs {
            // Conventions, posts and hours may change what time brings: caps, risks.
            crate::db::sweep::after_write(
                conn,
                crate::db::sweep::SweepScope::Employer(employer),
            )?;
        }
        let months: Vec<Month> = summary.months.iter().copied().collect();
        db::imports::set_summary(conn, id, summary.total_cents, &months)?;
        tracing::info!(
            import_id = %id,
            kind = kind.as_str(),
            lines = upload.lines.len(),
            costs = summary.cost_ids.len(),
            "file imported"
        );
        let row = db::imports::find(conn, id)?;
        Outcome::created_as(format!("/v1/imports/{id}"), view(&row)?)
    })
    .await
}

/// `POST /v1/imports/costs`.
pub async fn costs(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    query: Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    import(Kind::Costs, state, req, caller, query.0, payload).await
}

/// `POST /v1/imports/posts`.
pub async fn posts(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    query: Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    import(Kind::Posts, state, req, caller, query.0, payload).await
}

/// `POST /v1/imports/commitments`.
pub async fn commitments(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    query: Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    import(Kind::Commitments, state, req, caller, query.0, payload).await
}

/// `POST /v1/imports/activity`.
pub async fn activity(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    query: Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    import(Kind::Activity, state, req, caller, query.0, payload).await
}

/// The query of `GET /v1/imports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    employer_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// Funders have no imports to read.
fn refuse_funders(caller: &Caller) -> Result<(), ApiError> {
    match caller.own_funder() {
        Some(_) => Err(ApiError::Forbidden(
            "funders do not read employers' imports".into(),
        )),
        None => Ok(()),
    }
}

/// `GET /v1/imports?employer_id=`: an employer's own, the mission and the operator all.
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    refuse_funders(&caller)?;
    let q = query.0;
    let page = Page::parse(q.limit.as_deref(), q.cursor.as_deref())?;
    let asked: Option<EmployerId> = id_param("employer_id", q.employer_id.as_deref())?;
    let employer = caller.employer_in_scope(asked)?;
    let (items, next) = state
        .with_connection(move |conn| {
            let (rows, next) = db::imports::page(conn, employer, &page)?;
            let items = rows
                .iter()
                .map(view)
                .collect::<Result<Vec<_>, ApiError>>()?;
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}

fn readable(conn: &mut DbConnection, caller: &Caller, id: ImportId) -> Result<ImportRow, ApiError> {
    let row = db::imports::find(conn, id)?;
    if caller.can_read_employer(row.employer_id) {
        Ok(row)
    } else {
        Err(ApiError::NotFound("import"))
    }
}

/// `GET /v1/imports/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    refuse_funders(&caller)?;
    let id: ImportId = path_id(&path, "import")?;
    let row = state
        .with_connection(move |conn| readable(conn, &caller, id))
        .await?;
    Ok(HttpResponse::Ok().json(view(&row)?))
}

/// The body of `POST /v1/imports/{id}/reverse`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportReversal {
    #[serde(default, deserialize_with = "crate::http::extract::not_null")]
    reason: Option<String>,
}

impl crate::http::extract::SentBy for ImportReversal {
    const SENDERS: crate::http::extract::Senders = crate::http::extract::Senders::EmployerSide;
}

/// `POST /v1/imports/{id}/reverse`: reverses every cost of a cost import (one reversing record
/// per cost, dated today), or none: refused as a whole if any is already reversed or in a
/// closed month.
pub async fn reverse(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    body: Body<ImportReversal>,
) -> Result<HttpResponse, ApiError> {
    caller.require_writer_role()?;
    let id: ImportId = path_id(&path, "import")?;
    let reason = crate::http::text::optional_label("/reason", body.value.reason.as_deref())?;
    idempotency::run(&state, &req, caller.key(), body.fingerprint, move |conn| {
        let row = db::imports::find(conn, id)?;
        caller
            .require_employer_writer(row.employer_id)
            .map_err(|_| ApiError::NotFound("import"))?;
        let lock = db::lock_employer(conn, row.employer_id)?;
        if row.kind != "costs" {
            return Err(ApiError::unprocessable(
                "not_a_cost_import",
                format!(
                    "only a cost import can be reversed; this one imported {}",
                    row.kind
                ),
            ));
        }
        let originals = db::imports::costs_of(conn, id)?;
        let reason = reason.unwrap_or_else(|| format!("reversal of import {id}"));
        let today = clock::today();
        let by = caller.recorder();
        for original in &originals {
            // Each reversal checks the cost is not reversed yet and its month open; the first
            // refusal rolls back those before it.
            db::costs::reverse(conn, &lock, original, &reason, today, &by)?;
        }
        db::imports::set_reversed(conn, id, &db::now_timestamp())?;
        tracing::info!(import_id = %id, costs = originals.len(), "import reversed");
        Outcome::ok_as(view(&db::imports::find(conn, id)?)?)
    })
    .await
}
