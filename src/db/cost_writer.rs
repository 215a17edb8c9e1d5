//! Group commit for single costs on PostgreSQL: two threads take the costs requests have
//! queued and write them together, in one transaction with one multi-row statement per table
//! and one upsert of the running balances, as an import does.
//!
//! Why: on PostgreSQL a cost written alone costs about ten statements and a commit, and the
//! database's CPU, shared with the service here, is what bounds the writes a second; a batch of
//! sixteen costs costs about the same ten statements. Every cost still gets its own entry and
//! row, recorded by its own request's caller.
//!
//! The batch only takes what it can write at once: a cost whose post is not found or not the
//! caller's, whose month is outside the post or closed, or whose employer is locked exclusively
//! (a run, a period close: the batch never waits for them) is *declined*, and its request goes
//! the ordinary way ([`super::costs::record`] in a transaction of its own), which answers the
//! refusal in its own words or waits for the lock. A batch that fails before its commit is
//! declined as a whole (nothing of it was written); a commit whose outcome is unknown answers
//! 503 to each of its requests, as the ordinary way does.

use super::costs::{self, CostRow, NewCost};
use super::{DbConnection, LockedEmployer, Pool, Recorder, StoreError};
use crate::auth::Caller;
use crate::domain::ids::{EmployerId, PostId};
use crate::domain::kinds::CostCategory;
use crate::domain::Month;
use diesel::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{mpsc, Arc, Mutex};

/// The most costs written together.
const MAX_BATCH: usize = 64;
/// Batches written at once. Two overlap one batch's statements with the other's commit; more
/// would only queue on the running balances of a busy post, which each batch locks from its
/// upsert to its commit (always in the same order: employer, then key, so never a deadlock).
const WRITERS: usize = 2;

/// A cost one request asks to record, as its handler checked it.
#[derive(Debug, Clone)]
pub struct CostRequest {
    /// Who asks.
    pub caller: Caller,
    /// The post.
    pub post_id: PostId,
    /// The month the cost belongs to.
    pub month: Month,
    /// What it is for.
    pub category: CostCategory,
    /// The amount, in cents (positive).
    pub amount_cents: i64,
    /// The employer's own reference.
    pub reference: Option<String>,
}

/// What became of a request.
#[derive(Debug)]
pub enum Written {
    /// Recorded and committed.
    Recorded(Box<CostRow>),
    /// Not taken by the batch: the request must go the ordinary way.
    Declined,
}

type Reply = tokio::sync::oneshot::Sender<Result<Written, StoreError>>;

struct Job {
    request: CostRequest,
    by: Recorder,
    reply: Reply,
}

/// The queue in front of the cost-writing thread.
#[derive(Clone)]
pub struct CostWriter {
    sender: mpsc::Sender<Job>,
}

impl CostWriter {
    /// Starts the writing threads on a pool each takes one connection of per batch.
    pub fn start(pool: Pool) -> std::io::Result<CostWriter> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..WRITERS {
            let (pool, receiver) = (pool.clone(), Arc::clone(&receiver));
            std::thread::Builder::new()
                .name(format!("cost-writer-{n}"))
                .spawn(move || {
                    while let Some(batch) = next_batch(&receiver) {
                        // A panic must not stop the thread. Its batch's replies are dropped
                        // while unwinding, which their requests answer 503 (the connection,
                        // dropped mid-transaction, is discarded by the pool and rolls back).
                        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            run_batch(&pool, batch)
                        }));
                        if ran.is_err() {
                            tracing::error!("a batch of costs panicked; it was rolled back");
                        }
                    }
                })?;
        }
        Ok(CostWriter { sender })
    }

    /// Queues a cost and waits for its batch's commit.
    pub async fn record(&self, request: CostRequest) -> Result<Written, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let by = request.caller.recorder();
        if self.sender.send(Job { request, by, reply }).is_err() {
            // The thread is gone and wrote nothing of this cost.
            return Ok(Written::Declined);
        }
        answer.await.map_err(|_| {
            StoreError::Unavailable("the database did not take the write; retry later".into())
        })?
    }
}

/// Waits for a job, then takes those queued behind it; `None` once the queue is closed. One
/// thread collects while the others write: a batch fills while the one before it commits.
fn next_batch(receiver: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let receiver = receiver
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut batch = vec![receiver.recv().ok()?];
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

/// How a batch failed.
enum BatchFault {
    /// Before its commit: nothing of it was written.
    NotWritten(StoreError),
    /// At its commit: it may or may not have been written.
    Uncertain(StoreError),
}

fn run_batch(pool: &Pool, jobs: Vec<Job>) {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(error) => {
            // The ordinary way will wait for a connection, or answer 503, on its own.
            tracing::debug!(%error, "no connection for a batch of costs; declined");
            return decline_all(jobs);
        }
    };
    match write_batch(&mut conn, &jobs) {
        Ok(rows) => {
            for (job, row) in jobs.into_iter().zip(rows) {
                let written = row.map_or(Written::Declined, |row| Written::Recorded(Box::new(row)));
                // The requester may have gone away; its cost is durable all the same.
                let _ = job.reply.send(Ok(written));
            }
        }
        Err(BatchFault::NotWritten(error)) => {
            // Most often an employer locked by a run or a close (NOWAIT).
            tracing::debug!(%error, costs = jobs.len(), "a batch of costs was declined");
            super::drop_if_dead(&mut conn);
            decline_all(jobs);
        }
        Err(BatchFault::Uncertain(error)) => {
            tracing::error!(%error, costs = jobs.len(), "a batch of costs failed to commit");
            super::drop_if_dead(&mut conn);
            for job in jobs {
                let _ = job.reply.send(Err(StoreError::Unavailable(
                    "the database did not confirm the write; check before retrying".into(),
                )));
            }
        }
    }
}

fn decline_all(jobs: Vec<Job>) {
    for job in jobs {
        let _ = job.reply.send(Ok(Written::Declined));
    }
}

/// Writes the batch in one transaction; answers each job's row, or `None` for one declined.
fn write_batch(conn: &mut DbConnection, jobs: &[Job]) -> Result<Vec<Option<CostRow>>, BatchFault> {
    let mut body_done = false;
    let result = conn.transaction(|conn| {
        let rows = write_costs(conn, jobs)?;
        body_done = true;
        Ok::<_, StoreError>(rows)
    });
    result.map_err(|error| {
        if body_done {
            BatchFault::Uncertain(error)
        } else {
            BatchFault::NotWritten(error)
        }
    })
}

/// The batch's statements: its posts read at once, its employers locked at once (or not at
/// all), then per employer its closed months read and its costs written.
fn write_costs(conn: &mut DbConnection, jobs: &[Job]) -> Result<Vec<Option<CostRow>>, StoreError> {
    let post_ids: Vec<PostId> = jobs
        .iter()
        .map(|job| job.request.post_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let posts = super::posts::find_rows(conn, &post_ids)?;
    // The same checks as the ordinary way, asked only whether they pass.
    let mut by_employer: BTreeMap<EmployerId, Vec<usize>> = BTreeMap::new();
    for (i, job) in jobs.iter().enumerate() {
        let Some(post) = posts.get(&job.request.post_id) else {
            continue;
        };
        let writable = job
            .request
            .caller
            .require_employer_writer(post.employer())
            .is_ok();
        if writable && post.check_month(job.request.month).is_ok() {
            by_employer.entry(post.employer()).or_default().push(i);
        }
    }
    let employers: Vec<EmployerId> = by_employer.keys().copied().collect();
    let locks = super::try_lock_employers_to_append(conn, &employers)?;
    let mut rows: Vec<Option<CostRow>> = vec![None; jobs.len()];
    for (lock, indices) in locks.iter().zip(by_employer.values()) {
        let closed = super::periods::closed_through(conn, lock.employer())?;
        let open: Vec<usize> = indices
            .iter()
            .copied()
            .filter(|&i| closed.is_none_or(|last| jobs[i].request.month > last))
            .collect();
        if open.is_empty() {
            continue;
        }
        let new: Vec<NewCost<'_>> = open
            .iter()
            .map(|&i| {
                let request = &jobs[i].request;
                NewCost {
                    post_id: request.post_id,
                    month: request.month,
                    category: request.category,
                    amount_cents: request.amount_cents,
                    reference: request.reference.as_deref(),
                }
            })
            .collect();
        let written = costs::record_open_by(conn, lock, &new, None, |k| &jobs[open[k]].by)?;
        for (i, row) in open.iter().zip(written) {
            rows[*i] = Some(row);
        }
    }
    Ok(rows)
}
