//! Rates and hours as the engine reads them: the rate schedules the commitments name, and the
//! record of hours in force for each post and month.

use super::commitments::CommitmentRow;
use super::schema::{activity_hours, activity_records, rate_values};
use super::{DbConnection, Recorder};
use crate::domain::allocation_run::PostTerms;
use crate::domain::ids::{CommitmentId, EmployerId, PostId};
use crate::domain::keys::{HoursBook, MonthHours, RateSchedule};
use crate::domain::Month;
use diesel::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The schedules of the rates some commitments name, by code.
#[derive(Debug, Clone, Default)]
pub struct RateBook {
    schedules: HashMap<String, Arc<RateSchedule>>,
}

impl RateBook {
    /// The schedules of every rate the commitments name, with one query.
    pub fn for_commitments(
        conn: &mut DbConnection,
        commitments: &[&CommitmentRow],
    ) -> QueryResult<RateBook> {
        let mut codes: Vec<String> = commitments
            .iter()
            .filter_map(|c| c.rate_code.clone())
            .collect();
        codes.sort();
        codes.dedup();
        RateBook::of(conn, &codes)
    }

    /// The schedules of the rates named.
    pub fn of(conn: &mut DbConnection, codes: &[String]) -> QueryResult<RateBook> {
        if codes.is_empty() {
            return Ok(RateBook::default());
        }
        // In the order recorded: a later value for the same month supersedes an earlier one.
        let values: Vec<(String, Month, i64)> = rate_values::table
            .filter(rate_values::rate_code.eq_any(codes))
            .order((rate_values::created_at, rate_values::id))
            .select((
                rate_values::rate_code,
                rate_values::from_month,
                rate_values::annual_amount_cents,
            ))
            .load(conn)?;
        let mut by_code: HashMap<String, Vec<(Month, i64)>> = HashMap::new();
        for (code, from, annual) in values {
            by_code.entry(code).or_default().push((from, annual));
        }
        Ok(RateBook {
            schedules: codes
                .iter()
                .map(|code| {
                    let values = by_code.remove(code).unwrap_or_default();
                    (code.clone(), Arc::new(RateSchedule::new(values)))
                })
                .collect(),
        })
    }

    /// The schedule of a rate; a rate without values (or not loaded) asks nothing.
    pub fn schedule(&self, code: &str) -> Arc<RateSchedule> {
        self.schedules.get(code).cloned().unwrap_or_default()
    }
}

/// A record of hours as stored: the month's other hours and the hours by commitment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredHours {
    /// The hours on no commitment, in hundredths.
    pub other_hundredths: i64,
    /// The hours by commitment, in hundredths.
    pub by_commitment: Vec<(CommitmentId, i64)>,
}

/// The records of hours in force (the latest recorded for each month) of posts, by post and
/// month, for the months from `from` on (all months when `None`).
pub fn hours_in_force(
    conn: &mut DbConnection,
    post_ids: &[PostId],
    from: Option<Month>,
) -> QueryResult<HashMap<PostId, BTreeMap<Month, StoredHours>>> {
    if post_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut query = activity_records::table
        .filter(activity_records::post_id.eq_any(post_ids))
        .order((activity_records::created_at, activity_records::id))
        .select((
            activity_records::id,
            activity_records::post_id,
            activity_records::month,
            activity_records::other_hours_hundredths,
        ))
        .into_boxed();
    if let Some(from) = from {
        query = query.filter(activity_records::month.ge(from));
    }
    let records: Vec<(String, PostId, Month, i64)> = query.load(conn)?;
    // The latest record of each (post, month) wins: later rows overwrite earlier ones.
    let mut latest: HashMap<(PostId, Month), (String, i64)> = HashMap::new();
    for (id, post, month, other) in records {
        latest.insert((post, month), (id, other));
    }
    let ids: Vec<&String> = latest.values().map(|(id, _)| id).collect();
    let mut hours: HashMap<String, Vec<(CommitmentId, i64)>> = HashMap::new();
    for chunk in ids.chunks(super::BATCH_ROWS) {
        let rows: Vec<(String, CommitmentId, i64)> = activity_hours::table
            .filter(activity_hours::record_id.eq_any(chunk.iter().map(|s| s.as_str())))
            .order((activity_hours::record_id, activity_hours::commitment_id))
            .select((
                activity_hours::record_id,
                activity_hours::commitment_id,
                activity_hours::hours_hundredths,
            ))
            .load(conn)?;
        for (record, commitment, h) in rows {
            hours.entry(record).or_default().push((commitment, h));
        }
    }
    let mut out: HashMap<PostId, BTreeMap<Month, StoredHours>> = HashMap::new();
    for ((post, month), (id, other)) in latest {
        out.entry(post).or_default().insert(
            month,
            StoredHours {
                other_hundredths: other,
                by_commitment: hours.remove(&id).unwrap_or_default(),
            },
        );
    }
    Ok(out)
}

/// The engine's view of stored records: the hours laid out parallel to `commitments`; hours of
/// a commitment not among them count as other hours (they are no funder's part).
pub fn month_hours(
    records: &BTreeMap<Month, StoredHours>,
    commitments: &[CommitmentRow],
) -> BTreeMap<Month, MonthHours> {
    let index: HashMap<CommitmentId, usize> = commitments
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    records
        .iter()
        .map(|(month, stored)| {
            let mut hours = MonthHours {
                per_commitment: vec![0; commitments.len()],
                other_hundredths: stored.other_hundredths,
            };
            for (commitment, h) in &stored.by_commitment {
                match index.get(commitment) {
                    Some(&i) => hours.per_commitment[i] += h,
                    None => hours.other_hundredths += h,
                }
            }
            (*month, hours)
        })
        .collect()
}

/// What the engine reads of a post's commitments (in creation order): their terms, what each
/// was allocated before (`used_before`, by commitment) and the hours, for a run (each month
/// its own record) or a projection (`carried`: a record holds until the next).
pub fn post_terms(
    commitments: &[CommitmentRow],
    rates: &RateBook,
    hours: Option<&BTreeMap<Month, StoredHours>>,
    used_before: &HashMap<CommitmentId, i64>,
    carried: bool,
) -> QueryResult<PostTerms> {
    Ok(PostTerms {
        terms: commitments
            .iter()
            .enumerate()
            .map(|(rank, c)| c.terms(rank as i64, rates))
            .collect::<QueryResult<_>>()?,
        allocated_before: commitments
            .iter()
            .map(|c| used_before.get(&c.id).copied().unwrap_or(0))
            .collect(),
        hours: hours_book(hours, commitments, carried),
    })
}

/// The hours a run reads (each month its own record) or a projection reads (carried forward).
fn hours_book(
    records: Option<&BTreeMap<Month, StoredHours>>,
    commitments: &[CommitmentRow],
    carried: bool,
) -> HoursBook {
    match records {
        None => HoursBook::none(),
        Some(records) if carried => HoursBook::carried(month_hours(records, commitments)),
        Some(records) => HoursBook::exact(month_hours(records, commitments)),
    }
}

/// Adds a record of a post's hours for a month (the earlier records stay): the hours by
/// commitment and the other hours, in hundredths. The caller checked the commitments.
pub fn record_hours(
    conn: &mut DbConnection,
    employer_id: EmployerId,
    post_id: PostId,
    month: Month,
    record: &StoredHours,
    by: &Recorder,
) -> QueryResult<()> {
    let record_id = uuid::Uuid::now_v7().to_string();
    diesel::insert_into(activity_records::table)
        .values((
            activity_records::id.eq(&record_id),
            activity_records::employer_id.eq(employer_id),
            activity_records::post_id.eq(post_id),
            activity_records::month.eq(month),
            activity_records::other_hours_hundredths.eq(record.other_hundredths),
            activity_records::created_at.eq(super::now_timestamp()),
            crate::recorded_by!(activity_records, by),
        ))
        .execute(conn)?;
    for (commitment, hours) in &record.by_commitment {
        diesel::insert_into(activity_hours::table)
            .values((
                activity_hours::record_id.eq(&record_id),
                activity_hours::commitment_id.eq(commitment),
                activity_hours::hours_hundredths.eq(hours),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A month's record of hours in force, with who recorded it.
#[derive(Debug, Clone)]
pub struct HoursRecord {
    /// The month.
    pub month: Month,
    /// Its hours.
    pub stored: StoredHours,
    /// Who recorded it: (sub, role).
    pub recorded_by: (String, String),
    /// When.
    pub recorded_at: String,
}

/// The records in force of a post from `from` to `to`, by month, with who recorded them.
pub fn records_in_force(
    conn: &mut DbConnection,
    post_id: PostId,
    from: Option<Month>,
    to: Option<Month>,
) -> Result<Vec<HoursRecord>, crate::db::StoreError> {
    use super::schema::activity_records;
    let mut stored = hours_in_force(conn, &[post_id], from)?
        .remove(&post_id)
        .unwrap_or_default();
    let months: Vec<Month> = stored
        .keys()
        .copied()
        .filter(|m| to.is_none_or(|t| *m <= t))
        .collect();
    // Who recorded each month's record in force: the latest row of the month.
    let mut who: BTreeMap<Month, ((String, String), String)> = BTreeMap::new();
    if !months.is_empty() {
        let rows: Vec<(Month, String, String, String)> = activity_records::table
            .filter(activity_records::post_id.eq(post_id))
            .filter(activity_records::month.eq_any(&months))
            .order((activity_records::created_at, activity_records::id))
            .select((
                activity_records::month,
                activity_records::recorded_by_sub,
                activity_records::recorded_by_role,
                activity_records::created_at,
            ))
            .load(conn)?;
        for (month, sub, role, at) in rows {
            who.insert(month, ((sub, role), at));
        }
    }
    months
        .into_iter()
        .map(|month| {
            // Both come from the same rows: one without the other is a fault to report.
            let (recorded_by, recorded_at) = who.remove(&month).ok_or_else(|| {
                anyhow::anyhow!("hours of post {post_id} in {month} have no record row")
            })?;
            let hours = stored
                .remove(&month)
                .ok_or_else(|| anyhow::anyhow!("hours of post {post_id} in {month} vanished"))?;
            Ok(HoursRecord {
                month,
                stored: hours,
                recorded_by,
                recorded_at,
            })
        })
        .collect()
}
