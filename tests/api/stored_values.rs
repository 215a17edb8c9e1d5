//! Stored values read back typed: a value that does not parse is an error that names it, and
//! never a default (a nil id, the first month) passed on as if it were data.

use crate::support::TestApp;
use diesel::prelude::*;
use portage_ledger::db::schema::posts;

async fn a_corrupt_stored_month_is_an_error_not_a_default(app: &TestApp) {
    let employer = app.employer("Régie de quartier").await;
    let post = app.post_of(&employer, "2026-01", "3000.00").await;
    let token = app.token("employer", Some(&employer));
    app.get(&format!("/v1/posts/{post}"), &token)
        .await
        .expect(200);

    // A row damaged under the service (by hand, by a bad migration): its month is no month.
    let mut conn = app.pool.get().unwrap();
    diesel::update(posts::table.find(&post))
        .set(posts::start_month.eq("2026-13"))
        .execute(&mut *conn)
        .unwrap();

    let answer = app
        .get(&format!("/v1/posts/{post}"), &token)
        .await
        .problem(500, "internal");
    // The answer reveals nothing of the store; the month is not silently turned into 2000-01.
    assert!(!answer.text.contains("2000-01"), "{}", answer.text);
    let listed = app
        .get(&format!("/v1/posts?employer_id={employer}"), &token)
        .await;
    assert_eq!(
        listed.status, 500,
        "a list with a corrupt row fails: {}",
        listed.body
    );
}

async fn a_corrupt_stored_id_is_an_error_not_the_nil_uuid(app: &TestApp) {
    let employer = app.employer("Association Trait d'union").await;
    let post = app.post_of(&employer, "2026-01", "3000.00").await;
    let mut conn = app.pool.get().unwrap();
    // Foreign keys would refuse a dangling employer; the check is off for this one write.
    if let portage_ledger::db::DbConnection::Sqlite(c) = &mut *conn {
        diesel::connection::SimpleConnection::batch_execute(c, "PRAGMA foreign_keys = OFF")
            .unwrap();
    }
    let outcome = diesel::update(posts::table.find(&post))
        .set(posts::employer_id.eq("not-a-uuid"))
        .execute(&mut *conn);
    if outcome.is_err() {
        // PostgreSQL's foreign key refuses the damage outright: nothing can be read back wrong.
        return;
    }
    drop(conn);
    let answer = app.get("/v1/posts", &app.admin()).await;
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert!(!answer.text.contains("00000000-0000-0000-0000-000000000000"));
}

crate::on_both_databases!(
    a_corrupt_stored_month_is_an_error_not_a_default,
    a_corrupt_stored_id_is_an_error_not_the_nil_uuid
);
