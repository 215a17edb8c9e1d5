//! Group commit for SQLite: one thread owns the writing connection and runs queued write
//! jobs in batches, each job in a savepoint of one shared transaction, so that a single commit
//! (the expensive part of an SQLite write here) serves every request of the batch.
//!
//! A job that fails rolls back to its own savepoint and leaves the others untouched; no job
//! learns its outcome before the commit that makes it durable, and if that commit fails every
//! job of the batch is told so.

use super::{DbConnection, Pool, StoreError};
use std::sync::mpsc;

/// The most jobs committed together.
const MAX_BATCH: usize = 64;

/// Delivers a job's result once the batch's commit is known.
type Delivery = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A write job: runs on the writer's connection and answers how to deliver its result.
type Job = Box<dyn FnOnce(&mut DbConnection) -> Delivery + Send>;

/// The queue in front of the writer thread.
#[derive(Clone)]
pub struct WriteQueue {
    sender: mpsc::Sender<Job>,
}

impl WriteQueue {
    /// Starts the writer thread on a pool whose connections it uses one at a time.
    pub fn start(pool: Pool) -> std::io::Result<WriteQueue> {
        let (sender, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match receiver.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    // A job that panics must not take the writer with it: every later write
                    // would fail. The batch's connection is then dropped while unwinding, which
                    // the pool discards (its transaction rolls back), and the batch's requesters
                    // are answered 503, as for any write the database did not take.
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run_batch(&pool, batch)
                    }));
                    if ran.is_err() {
                        tracing::error!("a write batch panicked; it was rolled back");
                    }
                }
            })?;
        Ok(WriteQueue { sender })
    }

    /// Queues `work` and waits for it to be committed (or to fail). The work's own error type
    /// carries the queue's failures too.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |conn| {
            let result = span.in_scope(|| work(conn));
            Box::new(move |commit: Result<(), String>| {
                let outcome = match commit {
                    Ok(()) => result,
                    Err(message) => Err(E::from(StoreError::Internal(anyhow::anyhow!(
                        "the batch this request was written in failed to commit: {message}"
                    )))),
                };
                // The requester may have gone away; its result is durable all the same.
                let _ = reply.send(outcome);
            })
        });
        self.sender.send(job).map_err(|_| {
            E::from(StoreError::Internal(anyhow::anyhow!(
                "the SQLite writer has stopped"
            )))
        })?;
        answer.await.map_err(|_| {
            E::from(StoreError::Unavailable(
                "the database did not take the write; retry later".into(),
            ))
        })?
    }
}

/// Runs a batch in one transaction. Jobs dropped without running (no connection) make their
/// requesters answer 503.
fn run_batch(pool: &Pool, batch: Vec<Job>) {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(error) => {
            tracing::error!(%error, "the SQLite writer has no connection");
            return;
        }
    };
    let mut deliveries: Vec<Delivery> = Vec::with_capacity(batch.len());
    let committed = super::write_transaction::<(), diesel::result::Error, _>(&mut conn, |conn| {
        for job in batch {
            // Each job opens its own write transaction, which nests as a savepoint here.
            deliveries.push(job(conn));
        }
        Ok(())
    });
    let outcome = committed.map_err(|e| e.to_string());
    if let Err(message) = &outcome {
        tracing::error!(%message, jobs = deliveries.len(), "a write batch failed to commit");
    }
    for deliver in deliveries {
        deliver(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::WriteQueue;
    use crate::db::{self, DatabaseUrl, PoolSettings};
    use crate::error::ApiError;
    use diesel::prelude::*;
    use std::time::Duration;

    #[actix_web::test]
    async fn a_panicking_job_fails_alone_and_the_writer_goes_on() {
        let path = std::env::temp_dir().join(format!(
            "portage_write_queue_{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
        let pools = db::build_pools(
            &url,
            PoolSettings {
                max_size: 2,
                connection_timeout: Duration::from_secs(5),
                sqlite_writers: 1,
            },
        )
        .unwrap();
        db::run_migrations(&mut pools.write.get().unwrap()).unwrap();
        let queue = WriteQueue::start(pools.write.clone()).unwrap();
        let execute = |sql: &'static str| {
            move |conn: &mut db::DbConnection| -> Result<(), ApiError> {
                db::write_transaction(conn, |conn| {
                    diesel::sql_query(sql).execute(conn)?;
                    Ok(())
                })
            }
        };
        queue
            .run(execute("CREATE TABLE probe (x INTEGER NOT NULL)"))
            .await
            .unwrap();
        let panicked = queue
            .run(|conn| -> Result<(), ApiError> {
                db::write_transaction(conn, |conn| -> Result<(), ApiError> {
                    diesel::sql_query("INSERT INTO probe VALUES (1)").execute(conn)?;
                    std::panic::panic_any("a bug in a handler")
                })
            })
            .await;
        assert!(
            matches!(panicked, Err(ApiError::Unavailable(_))),
            "{panicked:?}"
        );
        queue
            .run(execute("INSERT INTO probe VALUES (2)"))
            .await
            .unwrap();
        let kept: Vec<i64> = queue
            .run(|conn| -> Result<Vec<i64>, ApiError> {
                Ok(
                    diesel::dsl::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                        "(SELECT COALESCE(SUM(x), 0) FROM probe)",
                    ))
                    .get_results::<i64>(conn)?,
                )
            })
            .await
            .unwrap();
        assert_eq!(kept, vec![2], "the panicking job's insert was rolled back");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
