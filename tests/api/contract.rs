//! The contracts around the code: the OpenAPI document matches the routes the server serves,
//! and the two migration folders hold the same migrations, which apply up, down and up again.

use diesel::migration::MigrationSource;
use diesel_migrations::MigrationHarness;
use portage_ledger::db::{self, DatabaseUrl, DbConnection, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use std::collections::BTreeSet;

#[test]
fn openapi_documents_exactly_the_served_routes() {
    let document = portage_ledger::openapi_document().unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = portage_ledger::http::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in openapi.yaml: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "in openapi.yaml but not served: {unserved:?}"
    );
    // Every operation names its responses, and every protected one its error answers.
    for (method, path) in &documented {
        let operation = &document["paths"][path][method.to_lowercase()];
        assert!(
            operation["responses"].is_object(),
            "{method} {path} has no responses"
        );
        assert!(
            operation["operationId"].is_string(),
            "{method} {path} has no operationId"
        );
    }
}

#[test]
fn both_dialects_hold_the_same_migrations() {
    let names = |source: &dyn Fn() -> Vec<String>| source();
    let sqlite = names(&|| {
        MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
            .unwrap()
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    });
    let postgres = names(&|| {
        MigrationSource::<diesel::pg::Pg>::migrations(&POSTGRES_MIGRATIONS)
            .unwrap()
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    });
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
}

fn up_down_up(conn: &mut DbConnection) {
    db::run_migrations(conn).unwrap();
    match conn {
        DbConnection::Sqlite(c) => {
            c.revert_all_migrations(SQLITE_MIGRATIONS).unwrap();
        }
        DbConnection::Postgresql(c) => {
            c.revert_all_migrations(POSTGRES_MIGRATIONS).unwrap();
        }
    }
    let applied = db::run_migrations(conn).unwrap();
    assert!(
        !applied.is_empty(),
        "every migration applies again after its down"
    );
}

#[test]
fn sqlite_migrations_apply_up_down_up() {
    let path = std::env::temp_dir().join(format!(
        "portage_migrations_{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    up_down_up(&mut url.connect().unwrap());
    let _ = std::fs::remove_file(&path);
}

#[actix_rt::test]
async fn postgres_migrations_apply_up_down_up() {
    // A database of its own, made by the harness and dropped afterwards.
    let Some(app) = crate::support::spawn(crate::support::Backend::Postgres).await else {
        return;
    };
    let mut conn = app.pool.get().unwrap();
    match &mut *conn {
        DbConnection::Postgresql(c) => {
            c.revert_all_migrations(POSTGRES_MIGRATIONS).unwrap();
        }
        DbConnection::Sqlite(_) => unreachable!("a PostgreSQL test database"),
    }
    up_down_up(&mut conn);
}
