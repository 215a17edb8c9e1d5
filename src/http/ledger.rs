//! `GET /v1/ledger/entries` and `GET /v1/ledger/balances`: the journal and its balances, for
//! the employer itself, the mission and the operator.

use crate::auth::{Caller, Scope};
use crate::db::schema::{account_balances, journal_entries, journal_lines};
use crate::db::DbConnection;
use crate::domain::ids::{EmployerId, EntryId, FunderId, PostId};
use crate::domain::{Date, Money};
use crate::error::ApiError;
use crate::http::extract::{id_param, page_response, parse_param, Page, Query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use diesel::prelude::*;
use serde::Deserialize;
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

type EntryRow = (
    EntryId,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
);
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
    let employer = books_in_scope(&caller, id_param("employer_id", q.employer_id.as_deref())?)?
        .map(|id| id.to_string());
    let from = parse_param("from", q.from.as_deref(), Date::parse)?;
    let to = parse_param("to", q.to.as_deref(), Date::parse)?;
    let account = q.account.as_deref().map(checked_account).transpose()?;
    let funder: Option<FunderId> = id_param("funder_id", q.funder_id.as_deref())?;
    let post: Option<PostId> = id_param("post_id", q.post_id.as_deref())?;
    let (items, next) = state
        .with_connection(move |conn| {
            let mut e = journal_entries::table
                .select((
                    journal_entries::id,
                    journal_entries::employer_id,
                    journal_entries::entry_date,
                    journal_entries::kind,
                    journal_entries::reference,
                    journal_entries::reverses_entry_id,
                    journal_entries::created_at,
                    journal_entries::recorded_by_sub,
                    journal_entries::recorded_by_role,
                ))
                .order((journal_entries::entry_date, journal_entries::id))
                .limit(page.limit + 1)
                .into_boxed();
            if let Some(employer) = &employer {
                e = e.filter(journal_entries::employer_id.eq(employer.clone()));
            }
            if let Some(from) = from {
                e = e.filter(journal_entries::entry_date.ge(from.to_string()));
            }
            if let Some(to) = to {
                e = e.filter(journal_entries::entry_date.le(to.to_string()));
            }
            if account.is_some() || funder.is_some() || post.is_some() {
                // One subquery shape for every combination of filters (a boxed subquery does
                // not go through the multi-backend connection): an absent filter is "1 = 1".
                let absent = |missing: bool| {
                    diesel::dsl::sql::<diesel::sql_types::Bool>(if missing {
                        "1 = 1"
                    } else {
                        "1 = 0"
                    })
                };
                let matching = journal_lines::table
                    .filter(
                        journal_lines::account
                            .eq(account.clone().unwrap_or_default())
                            .or(absent(account.is_none())),
                    )
                    .filter(
                        journal_lines::funder_id
                            .eq(funder.map(|f| f.to_string()).unwrap_or_default())
                            .or(absent(funder.is_none())),
                    )
                    .filter(
                        journal_lines::post_id
                            .eq(post.map(|p| p.to_string()).unwrap_or_default())
                            .or(absent(post.is_none())),
                    )
                    .select(journal_lines::entry_id);
                e = e.filter(journal_entries::id.eq_any(matching));
            }
            if let Some((date, id)) = page.after.as_deref().and_then(|c| c.split_once('_')) {
                e = e.filter(
                    journal_entries::entry_date
                        .gt(date.to_owned())
                        .or(journal_entries::entry_date
                            .eq(date.to_owned())
                            .and(journal_entries::id.gt(id.to_owned()))),
                );
            }
            let rows: Vec<EntryRow> = e.load(conn)?;
            let (rows, next) = page.finish(rows, |r| format!("{}_{}", r.2, r.0));
            let items = with_lines(conn, rows)?;
            Ok((items, next))
        })
        .await?;
    Ok(page_response(items, next))
}

fn with_lines(
    conn: &mut DbConnection,
    rows: Vec<EntryRow>,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let ids: Vec<EntryId> = rows.iter().map(|r| r.0).collect();
    let mut lines: BTreeMap<EntryId, Vec<serde_json::Value>> = BTreeMap::new();
    let loaded = crate::db::ledger::lines_of(conn, &ids)?;
    for (entry, account, debit, credit, funder, post, month) in loaded {
        let mut line = serde_json::json!({
            "account": account, "debit": Money::from_cents(debit), "credit": Money::from_cents(credit),
        });
        let concerning = [
            ("funder_id", funder.map(|f| f.to_string())),
            ("post_id", post.map(|p| p.to_string())),
            ("month", month.map(|m| m.to_string())),
        ];
        for (name, value) in concerning {
            if let Some(value) = value {
                line[name] = serde_json::Value::String(value);
            }
        }
        lines.entry(entry).or_default().push(line);
    }
    Ok(rows
        .into_iter()
        .map(|(id, employer, date, kind, reference, reverses, at, sub, role)| {
            let mut entry = serde_json::json!({
                "id": id, "employer_id": employer, "date": date, "kind": kind, "reference": reference,
                "lines": lines.remove(&id).unwrap_or_default(),
                "recorded_by": crate::db::recorded_by_view(&sub, &role),
                "recorded_at": at,
            });
            if let Some(reverses) = reverses {
                entry["reverses"] = serde_json::Value::String(reverses);
            }
            entry
        })
        .collect())
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
    let employer = books_in_scope(&caller, id_param("employer_id", q.employer_id.as_deref())?)?
        .map(|id| id.to_string());
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
    let rows: Vec<(String, String, String, i64, i64)> = state
        .with_connection(move |conn| {
            let rows: Vec<(String, String, String, i64, i64)> = match as_of {
                None => {
                    let mut b = account_balances::table
                        .select((
                            account_balances::account,
                            account_balances::funder_key,
                            account_balances::post_key,
                            account_balances::debit_cents,
                            account_balances::credit_cents,
                        ))
                        .into_boxed();
                    if let Some(employer) = &employer {
                        b = b.filter(account_balances::employer_id.eq(employer.clone()));
                    }
                    b.load(conn)?
                }
                Some(date) => {
                    // Summed by the database, one row per key: the lines themselves never
                    // come into the server's memory, however long the ledger.
                    let mut l = journal_lines::table
                        .filter(journal_lines::entry_date.le(date.to_string()))
                        .group_by((
                            journal_lines::account,
                            journal_lines::funder_id,
                            journal_lines::post_id,
                        ))
                        .select((
                            journal_lines::account,
                            journal_lines::funder_id,
                            journal_lines::post_id,
                            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                                "CAST(COALESCE(SUM(debit_cents), 0) AS BIGINT)",
                            ),
                            diesel::dsl::sql::<diesel::sql_types::BigInt>(
                                "CAST(COALESCE(SUM(credit_cents), 0) AS BIGINT)",
                            ),
                        ))
                        .into_boxed();
                    if let Some(employer) = &employer {
                        l = l.filter(journal_lines::employer_id.eq(employer.clone()));
                    }
                    l.load::<(String, Option<String>, Option<String>, i64, i64)>(conn)?
                        .into_iter()
                        .map(|(a, f, p, d, c)| {
                            (a, f.unwrap_or_default(), p.unwrap_or_default(), d, c)
                        })
                        .collect()
                }
            };
            Ok(rows)
        })
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
    let items: Vec<serde_json::Value> = selected
        .into_iter()
        .map(|((account, funder, post), (debit, credit))| {
            let mut row = serde_json::json!({
                "account": account,
                "debit": Money::from_cents(debit),
                "credit": Money::from_cents(credit),
                "balance": Money::from_cents(debit - credit),
            });
            if !funder.is_empty() {
                row["funder_id"] = serde_json::Value::String(funder);
            }
            if !post.is_empty() {
                row["post_id"] = serde_json::Value::String(post);
            }
            row
        })
        .collect();
    Ok(page_response(items, next))
}
