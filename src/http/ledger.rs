//! `GET /v1/ledger/entries` and `GET /v1/ledger/balances`: the journal and its balances, for
//! the employer itself, the mission and the operator.

use crate::auth::{Caller, Scope};
use crate::db::ledger::{EntryFilter, StoredEntry};
use crate::db::{self, DbConnection, RecordedBy};
use crate::domain::ids::{EmployerId, EntryId, FunderId, PostId};
use crate::domain::{Date, Money, Month};
use crate::error::ApiError;
use crate::http::extract::{id_param, page_response, parse_param, Page, Query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The employer whose books are read: the ledger and its exports belong to employers, and
/// funders read their statements instead.
pub fn books_in_scope(
    caller: &Caller,
    asked: Option<EmployerId>,
) -> Result<Option<EmployerId>, ApiError> {
    if let Scope::Funder(_) = caller.scope {
        return Err(ApiError::Forbidden(
            "funders read their statement, not an employer's books".into(),
        ));
    }
    caller.employer_in_scope(asked)
}

/// The query of `GET /v1/ledger/entries`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    employer_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    account: Option<String>,
    funder_id: Option<String>,
    post_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn checked_account(text: &str) -> Result<String, ApiError> {
    if !text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(ApiError::field(
            "/account",
            "must be an account number such as 4687",
        ))
    }
}

/// `GET /v1/ledger/entries`: the journal ordered by date then creation, with filters; an entry
/// is listed with all its lines when one of them matches the account, funder and post asked.
pub async fn entries(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<EntriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = Page::parse_with(q.limit.as_deref(), q.cursor.as_deref(), |c| {
        let (date, id) = c.split_once('_')?;
        Date::parse(date).ok()?;
        Uuid::parse_str(id).ok()?;
        Some(c.to_owned())
    })?;
    let employer = books_in_scope(&caller, id_param("employer_id", q.employer_id.as_deref())?)?;
    let from = parse_param("from", q.from.as_deref(), Date::parse)?;
    let to = parse_param("to", q.to.as_deref(), Date::parse)?;
    let account = q.account.as_deref().map(checked_account).transpose()?;
    let funder: Option<FunderId> = id_param("funder_id", q.funder_id.as_deref())?;
    let post: Option<PostId> = id_param("post_id", q.post_id.as_deref())?;
    let filter = EntryFilter {
        employer,
        from,
        to,
        account,
        funder,
        post,
    };
    let (items, next) = state
        .with_connection(move |conn| {
            let (rows, next) = db::ledger::entries_page(conn, &filter, &page)?;
            Ok((with_lines(conn, rows)?, next))
        })
        .await?;
    Ok(page_response(items, next))
}

/// A line of an entry; funder, post and month appear on the lines that concern one.
#[derive(Debug, Serialize)]
struct LineView {
    account: String,
    debit: Money,
    credit: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    funder_id: Option<FunderId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_id: Option<PostId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    month: Option<Month>,
}

/// An entry with its lines.
#[derive(Debug, Serialize)]
struct EntryView {
    id: EntryId,
    employer_id: EmployerId,
    date: Date,
    kind: String,
    reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverses: Option<EntryId>,
    lines: Vec<LineView>,
    recorded_by: RecordedBy,
    recorded_at: String,
}

fn with_lines(conn: &mut DbConnection, rows: Vec<StoredEntry>) -> Result<Vec<EntryView>, ApiError> {
    let ids: Vec<EntryId> = rows.iter().map(|r| r.id).collect();
    let mut lines: BTreeMap<EntryId, Vec<LineView>> = BTreeMap::new();
    for (entry, account, debit, credit, funder_id, post_id, month) in
        db::ledger::lines_of(conn, &ids)?
    {
        lines.entry(entry).or_default().push(LineView {
            account,
            debit: Money::from_cents(debit),
            credit: Money::from_cents(credit),
            funder_id,
            post_id,
            month,
        });
    }
    rows.into_iter()
        .map(|row| {
            // Every entry is posted balanced, so with two lines at least.
            let lines = lines
                .remove(&row.id)
                .ok_or_else(|| anyhow::anyhow!("journal entry {} has no lines", row.id))?;
            Ok(EntryView {
                recorded_by: db::recorded_by_view(&row.recorded_by_sub, &row.recorded_by_role),
                recorded_at: row.created_at,
                id: row.id,
                employer_id: row.employer_id,
                date: row.date,
                kind: row.kind,
                reference: row.reference,
                reverses: row.reverses,
                lines,
            })
        })
        .collect()
}

/// The query of `GET /v1/ledger/balances`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancesQuery {
    employer_id: Option<String>,
    as_of: Option<String>,
    group_by: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// A balance; funder and post appear when the balances are grouped by them and the lines
/// concern one.
#[derive(Debug, Serialize)]
struct BalanceView {
    account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    funder_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_id: Option<String>,
    debit: Money,
    credit: Money,
    balance: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grouping {
    Account,
    Funder,
    Post,
}

/// `GET /v1/ledger/balances`: balances by account, by account and funder, or by account and
/// post. Without `as_of` they come from the running balances; with it, from the lines dated
/// up to that day, summed per key by the database.
pub async fn balances(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<BalancesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.0;
    let page = Page::parse_with(q.limit.as_deref(), q.cursor.as_deref(), |c| {
        (!c.is_empty() && c.len() <= 200).then(|| c.to_owned())
    })?;
    let employer = books_in_scope(&caller, id_param("employer_id", q.employer_id.as_deref())?)?;
    let as_of = parse_param("as_of", q.as_of.as_deref(), Date::parse)?;
    let grouping = match q.group_by.as_deref() {
        None | Some("account") => Grouping::Account,
        Some("funder") => Grouping::Funder,
        Some("post") => Grouping::Post,
        Some(_) => {
            return Err(ApiError::field(
                "/group_by",
                "must be account, funder or post",
            ))
        }
    };
    let rows = state
        .with_connection(move |conn| Ok(db::ledger::balances(conn, employer, as_of)?))
        .await?;
    let mut grouped: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    for (account, funder, post, debit, credit) in rows {
        let key = match grouping {
            Grouping::Account => (account, String::new(), String::new()),
            Grouping::Funder => (account, funder, String::new()),
            Grouping::Post => (account, String::new(), post),
        };
        let total = grouped.entry(key).or_default();
        total.0 += debit;
        total.1 += credit;
    }
    let cursor_of = |(a, f, p): &(String, String, String)| format!("{a}|{f}|{p}");
    let mut selected: Vec<_> = grouped
        .into_iter()
        .filter(|(key, _)| {
            page.after
                .as_ref()
                .is_none_or(|after| cursor_of(key) > *after)
        })
        .take(page.limit as usize + 1)
        .collect();
    let more = selected.len() as i64 > page.limit;
    selected.truncate(page.limit as usize);
    let next = if more {
        selected.last().map(|(k, _)| cursor_of(k))
    } else {
        None
    };
    let items: Vec<BalanceView> = selected
        .into_iter()
        .map(|((account, funder, post), (debit, credit))| BalanceView {
            account,
            debit: Money::from_cents(debit),
            credit: Money::from_cents(credit),
            balance: Money::from_cents(debit - credit),
            funder_id: (!funder.is_empty()).then_some(funder),
            post_id: (!post.is_empty()).then_some(post),
        })
        .collect();
    Ok(page_response(items, next))
}
