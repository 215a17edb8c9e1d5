//! The FEC and journal exports, held to the ledger the API reports.

use crate::money_in::{call_body, three_allocated_months};
use crate::support::TestApp;
use portage_ledger::db::exports::{entries_page, PageSize};
use portage_ledger::domain::export::FEC_FIELDS;
use portage_ledger::domain::Date;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Registers the employer's SIREN, which names its FEC.
pub async fn give_siren(app: &TestApp, employer: &str) {
    app.send(
        "PATCH",
        &format!("/v1/employers/{employer}"),
        Some(&app.admin()),
        Some(&json!({"siren": "732829320"}).to_string()),
        &[],
    )
    .await
    .expect(200);
}

/// Every journal entry of the employer dated in 2026, as `/v1/ledger/entries` lists them.
async fn ledger_entries(app: &TestApp, token: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(
                &format!("/v1/ledger/entries?from=2026-01-01&to=2026-12-31&limit=2{cursor}"),
                token,
            )
            .await
            .expect(200);
        entries.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return entries,
        }
    }
}

fn cents(text: &str) -> i64 {
    let (units, decimals) = text.split_once(['.', ',']).unwrap();
    let value = units.trim_start_matches('-').parse::<i64>().unwrap() * 100
        + decimals.parse::<i64>().unwrap();
    if text.starts_with('-') {
        -value
    } else {
        value
    }
}

/// Costs, allocations, a call and a payment: one entry of every kind but credit notes.
async fn books_with_every_kind(app: &TestApp) -> (String, String, BTreeMap<&'static str, String>) {
    let (employer, post, funders) = three_allocated_months(app).await;
    let token = app.token("employer", Some(&employer));
    let state = &funders["state"];
    app.post(
        "/v1/calls",
        &token,
        &call_body(&employer, state, "2026-01", "2026-03", "2026-04-02"),
    )
    .await
    .expect(201);
    app.post(
        "/v1/payments",
        &token,
        &json!({"employer_id": employer, "funder_id": state, "amount": "1000.00",
                "received_on": "2026-04-10", "reference": "VIR 0001"}),
    )
    .await
    .expect(201);
    (employer, post, funders)
}

async fn the_fec_holds_every_line_of_the_year(app: &TestApp) {
    let (employer, _post, _funders) = books_with_every_kind(app).await;
    let token = app.token("employer", Some(&employer));
    let entries = ledger_entries(app, &token).await;
    let ledger_lines: usize = entries
        .iter()
        .map(|e| e["lines"].as_array().unwrap().len())
        .sum();
    let ledger_debits: i64 = entries
        .iter()
        .flat_map(|e| e["lines"].as_array().unwrap().iter())
        .map(|l| cents(l["debit"].as_str().unwrap()))
        .sum();

    app.get("/v1/exports/fec?year=2026", &token)
        .await
        .problem(422, "siren_required");
    give_siren(app, &employer).await;
    let fec = app
        .get("/v1/exports/fec?year=2026", &token)
        .await
        .expect(200);
    assert_eq!(
        fec.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(fec
        .header("content-disposition")
        .unwrap()
        .contains("732829320FEC20261231.txt"));
    let rows: Vec<Vec<&str>> = fec
        .text
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows[0], FEC_FIELDS);
    let rows = &rows[1..];
    assert_eq!(rows.len(), ledger_lines);
    let mut per_entry: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
    let mut last_number = 0;
    let mut journals = BTreeSet::new();
    for row in rows {
        assert_eq!(row.len(), 18, "{row:?}");
        let number: u64 = row[2].parse().unwrap();
        // Numbered without gaps, in file order.
        assert!(
            number == last_number || number == last_number + 1,
            "{row:?}"
        );
        last_number = number;
        assert!(row[3].starts_with("2026") && row[3].len() == 8);
        assert!(
            ["640000", "420000", "468700", "740000", "441000", "512000"].contains(&row[4]),
            "{row:?}"
        );
        let totals = per_entry.entry(number).or_default();
        totals.0 += cents(row[11]);
        totals.1 += cents(row[12]);
        journals.insert(row[0]);
        if row[0] == "AF" {
            assert_eq!(row[8], "AF-2026-0001");
        }
        if row[4] == "441000" || row[4] == "468700" {
            assert!(!row[6].is_empty() && !row[7].is_empty(), "{row:?}");
        }
        assert_eq!(row[15].len(), 8, "ValidDate: {row:?}");
    }
    assert_eq!(per_entry.len(), entries.len());
    assert!(per_entry.values().all(|(debit, credit)| debit == credit));
    assert_eq!(
        per_entry.values().map(|(debit, _)| debit).sum::<i64>(),
        ledger_debits
    );
    assert_eq!(journals, BTreeSet::from(["AF", "AL", "BQ", "CP"]));

    // A year without entries: the header alone.
    let empty = app
        .get("/v1/exports/fec?year=2025", &token)
        .await
        .expect(200);
    assert_eq!(empty.text, format!("{}\r\n", FEC_FIELDS.join("\t")));
}

async fn the_fec_letters_what_offsets(app: &TestApp) {
    let (employer, _post, funders) = books_with_every_kind(app).await;
    give_siren(app, &employer).await;
    let token = app.token("employer", Some(&employer));
    let fec_rows = |text: &str| -> Vec<Vec<String>> {
        text.split("\r\n")
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    };
    // The State's call is paid in part: nothing is lettered yet.
    let before = app
        .get("/v1/exports/fec?year=2026", &token)
        .await
        .expect(200);
    assert!(fec_rows(&before.text)
        .iter()
        .all(|r| r[13].is_empty() && r[14].is_empty()));

    // The rest of it, and a call to A cancelled by its credit note.
    app.post(
        "/v1/payments",
        &token,
        &json!({"employer_id": employer, "funder_id": funders["state"], "amount": "4334.99",
                "received_on": "2026-04-15", "reference": "VIR 0002"}),
    )
    .await
    .expect(201);
    let cancelled = app
        .post(
            "/v1/calls",
            &token,
            &call_body(&employer, &funders["A"], "2026-01", "2026-02", "2026-04-02"),
        )
        .await
        .expect(201);
    let cancelled = cancelled.body["id"].as_str().unwrap();
    let note = app
        .post(&format!("/v1/calls/{cancelled}/cancel"), &token, &json!({}))
        .await
        .expect(200);
    let note_number = note.body["credit_note_number"].as_str().unwrap().to_owned();
    let today = portage_ledger::domain::clock::today()
        .to_string()
        .replace('-', "");

    let after = app
        .get("/v1/exports/fec?year=2026", &token)
        .await
        .expect(200);
    let rows = fec_rows(&after.text);
    let lettered: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .filter(|r| !r[13].is_empty())
        .map(|r| (r[8].as_str(), r[4].as_str(), r[13].as_str(), r[14].as_str()))
        .collect();
    assert_eq!(
        lettered,
        [
            ("AF-2026-0001", "441000", "A", "20260415"),
            ("payment VIR 0001", "441000", "A", "20260415"),
            ("payment VIR 0002", "441000", "A", "20260415"),
            ("AF-2026-0002", "441000", "B", today.as_str()),
            (note_number.as_str(), "441000", "B", today.as_str()),
        ]
    );
    // Each lettered group offsets to the cent.
    let mut per_code: BTreeMap<&str, i64> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r[13].is_empty()) {
        *per_code.entry(r[13].as_str()).or_default() += cents(&r[11]) - cents(&r[12]);
    }
    assert!(per_code.values().all(|&sum| sum == 0), "{per_code:?}");
}

async fn the_journal_balances_transaction_by_transaction(app: &TestApp) {
    let (employer, _post, _funders) = books_with_every_kind(app).await;
    let token = app.token("employer", Some(&employer));
    let entries = ledger_entries(app, &token).await;
    let journal = app
        .get(
            &format!("/v1/exports/journal?employer_id={employer}&from=2026-01-01&to=2026-12-31"),
            &token,
        )
        .await
        .expect(200);
    assert!(journal
        .header("content-disposition")
        .unwrap()
        .ends_with(".journal\""));
    let mut transactions: Vec<(String, i64, usize)> = Vec::new();
    for line in journal.text.lines() {
        if line.starts_with("2026-") {
            transactions.push((line.to_owned(), 0, 0));
        } else if let Some(posting) = line.strip_prefix("    ") {
            if posting.starts_with(';') {
                continue;
            }
            let amount = posting
                .split("  ")
                .map(str::trim)
                .find(|part| part.ends_with(" EUR"))
                .unwrap();
            let last = transactions.last_mut().unwrap();
            last.1 += cents(amount.trim_end_matches(" EUR"));
            last.2 += 1;
        }
    }
    assert_eq!(transactions.len(), entries.len());
    for (header, sum, postings) in &transactions {
        assert_eq!(*sum, 0, "{header} does not balance");
        assert!(*postings >= 2, "{header}");
    }
    assert!(transactions
        .iter()
        .any(|(header, _, _)| header.starts_with("2026-04-02 * (AF-2026-0001)")));
    // A range that holds only the payment.
    let april = app
        .get("/v1/exports/journal?from=2026-04-05&to=2026-04-30", &token)
        .await
        .expect(200);
    assert_eq!(april.text.matches("\n2026-").count(), 1, "{}", april.text);
    assert!(april
        .text
        .contains("2026-04-10 * Règlement - payment VIR 0001"));
}

async fn the_fec_follows_the_fiscal_year(app: &TestApp) {
    // An association closing on 30 June: the FEC of 2026 runs from July 2025 to June 2026.
    let employer = app
        .post(
            "/v1/employers",
            &app.admin(),
            &json!({"name": "Association", "kind": "association", "siren": "732829320",
                    "fiscal_year_end_month": 6}),
        )
        .await
        .expect(201);
    assert_eq!(employer.body["fiscal_year_end_month"], 6);
    let employer = employer.body["id"].as_str().unwrap().to_owned();
    let token = app.token("employer", Some(&employer));
    // The employer changes it before its books start; If-Match guards the change.
    let path = format!("/v1/employers/{employer}");
    let change = |body: Value, version: &str| {
        let path = path.clone();
        let token = token.clone();
        let version = version.to_owned();
        async move {
            app.send(
                "PATCH",
                &path,
                Some(&token),
                Some(&body.to_string()),
                &[("If-Match", &version)],
            )
            .await
        }
    };
    let changed = change(
        json!({"fiscal_year_end_month": 8, "iban": "FR76 3000 6000 0112 3456 7890 189",
                                "bic": "AGRIFRPP", "address": "12 rue de Lille\n59100 Roubaix"}),
        "\"1\"",
    )
    .await
    .expect(200);
    assert_eq!(changed.body["iban"], "FR7630006000011234567890189");
    assert_eq!(changed.body["version"], 2);
    assert_eq!(changed.header("etag").as_deref(), Some("\"2\""));
    change(json!({"fiscal_year_end_month": 6}), "\"1\"")
        .await
        .problem(412, "version_mismatch");
    let refused = change(json!({"iban": "FR76 3000 6000 0112 3456 7890 188"}), "*")
        .await
        .problem(422, "validation_failed");
    assert_eq!(refused.pointers(), ["/iban"]);
    change(json!({"fiscal_year_end_month": 13}), "*")
        .await
        .problem(422, "validation_failed");
    change(json!({}), "*")
        .await
        .problem(422, "validation_failed");
    change(json!({"fiscal_year_end_month": 6}), "*")
        .await
        .expect(200);
    // Others may not: another employer 404, the mission and funders 403.
    let other = app.employer("O").await;
    app.send(
        "PATCH",
        &path,
        Some(&app.token("employer", Some(&other))),
        Some(r#"{"bic": "AGRIFRPP"}"#),
        &[],
    )
    .await
    .problem(404, "not_found");
    app.send(
        "PATCH",
        &path,
        Some(&app.mission()),
        Some(r#"{"bic": "AGRIFRPP"}"#),
        &[],
    )
    .await
    .problem(403, "forbidden");
    // Costs in June 2025 (previous fiscal year), July 2025 and June 2026.
    let post = app.post_of(&employer, "2025-06", "1000.00").await;
    for month in ["2025-06", "2025-07", "2026-06", "2026-07"] {
        app.post(
            &format!("/v1/posts/{post}/costs"),
            &token,
            &json!({"month": month, "category": "salary", "amount": "100.00"}),
        )
        .await
        .expect(201);
    }
    let fec = app
        .get("/v1/exports/fec?year=2026", &token)
        .await
        .expect(200);
    assert!(fec
        .header("content-disposition")
        .unwrap()
        .contains("732829320FEC20260630.txt"));
    let dates: BTreeSet<String> = fec
        .text
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').nth(3).unwrap().to_owned())
        .collect();
    assert_eq!(
        dates,
        BTreeSet::from(["20250731".to_owned(), "20260630".to_owned()])
    );
    // Once the books have entries, the fiscal year is fixed.
    change(json!({"fiscal_year_end_month": 12}), "*")
        .await
        .problem(409, "fiscal_year_locked");
    change(json!({"bic": "AGRIFRPP867"}), "*").await.expect(200);
}

/// Opens a download and never reads it, from a socket with a tiny receive buffer.
fn stalled_download(base: &str, path: &str, token: &str) -> std::net::TcpStream {
    use std::io::Write;
    let address: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(2_048).unwrap();
    socket.connect(&address.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    stream
}

async fn stalled_downloads_give_back_their_connections(app: &TestApp) {
    let employer = app.employer("E").await;
    let token = app.token("employer", Some(&employer));
    let post = app.post_of(&employer, "2026-01", "1000.00").await;
    for batch in 0..10 {
        let lines: Vec<serde_json::Value> = (0..500)
            .map(|i| {
                json!({"post_id": post, "month": format!("2026-{:02}", 1 + (i % 12)),
                            "category": "salary", "amount": "1.00",
                            "reference": format!("paie {batch}-{i} de la régie de quartier")})
            })
            .collect();
        app.post(
            "/v1/imports/costs",
            &token,
            &json!({"employer_id": employer, "lines": lines}),
        )
        .await
        .expect(201);
    }
    // Two downloads whose clients stop reading take the exports' share of the pool (half of
    // four connections); a third is told to come back, and the service answers meanwhile.
    let stalled: Vec<_> = (0..2)
        .map(|_| stalled_download(&app.base, "/v1/exports/journal", &token))
        .collect();
    // Wait until the server holds both slots rather than for a guessed time: on a loaded
    // machine the downloads may take a while to be handled (CI failed this test once under load).
    let taken_by = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.export_slots.available_permits() > 0 {
        assert!(
            std::time::Instant::now() < taken_by,
            "the stalled downloads never took the export slots"
        );
        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    app.get("/v1/exports/journal", &token)
        .await
        .problem(503, "unavailable");
    app.send("GET", "/healthz", None, None, &[])
        .await
        .expect(200);
    app.get("/v1/posts", &token).await.expect(200);
    // After the idle limit the stalled downloads are given up and their connections return
    // (within a generous deadline: a loaded machine may take a while to notice the stall).
    let deadline = std::time::Instant::now() + crate::support::EXPORT_IDLE * 10;
    actix_rt::time::sleep(crate::support::EXPORT_IDLE).await;
    let journal = loop {
        let answer = app.get("/v1/exports/journal", &token).await;
        if answer.status == 200 || std::time::Instant::now() > deadline {
            break answer.expect(200);
        }
        answer.problem(503, "unavailable");
        actix_rt::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert!(journal.text.matches("\n2026-").count() >= 2_000);
    drop(stalled);
}

async fn exports_are_the_employers_own(app: &TestApp) {
    let (employer, post, funders) = books_with_every_kind(app).await;
    let token = app.token("employer", Some(&employer));
    let other = app.employer("Other").await;
    let other_token = app.token("employer", Some(&other));
    give_siren(app, &employer).await;
    give_siren(app, &other).await;
    for path in [
        "/v1/exports/fec?year=2026",
        "/v1/exports/journal",
        "/v1/exports/beancount",
    ] {
        let separator = if path.contains('?') { '&' } else { '?' };
        app.get(
            &format!("{path}{separator}employer_id={employer}"),
            &other_token,
        )
        .await
        .problem(404, "not_found");
        app.get(path, &app.token("funder", Some(&funders["state"])))
            .await
            .problem(403, "forbidden");
        let asked = app
            .get(path, &app.mission())
            .await
            .problem(422, "validation_failed");
        assert_eq!(asked.pointers(), ["/employer_id"]);
        app.get(
            &format!("{path}{separator}employer_id={}", uuid::Uuid::now_v7()),
            &app.admin(),
        )
        .await
        .problem(404, "not_found");
        app.get(
            &format!("{path}{separator}employer_id={employer}"),
            &app.mission(),
        )
        .await
        .expect(200);
        app.get(&format!("{path}{separator}post_id={post}"), &token)
            .await
            .problem(422, "validation_failed");
    }
    // The other employer's books are its own, and empty.
    let theirs = app
        .get("/v1/exports/fec?year=2026", &other_token)
        .await
        .expect(200);
    assert_eq!(theirs.text.lines().count(), 1);
    for bad in [
        "",
        "year=",
        "year=1999",
        "year=2200",
        "year=26",
        "year=abcd",
    ] {
        let answer = app
            .get(&format!("/v1/exports/fec?{bad}"), &token)
            .await
            .problem(422, "validation_failed");
        assert_eq!(answer.pointers(), ["/year"], "{bad}");
    }
    for bad in ["from=2026-13-01", "to=x", "from=2026-05-01&to=2026-04-30"] {
        app.get(&format!("/v1/exports/journal?{bad}"), &token)
            .await
            .problem(422, "validation_failed");
    }
}

/// Reading page by page gives the same entries, in the same order, as reading at once, whether
/// pages are bounded by entries or by lines; a page bounded by lines holds no more lines than
/// its bound unless it holds a single entry.
async fn pages_follow_one_another_without_gaps(app: &TestApp) {
    let (employer, _post, _funders) = books_with_every_kind(app).await;
    let mut conn = app.pool.get().unwrap();
    let year = (
        Date::parse("2026-01-01").unwrap(),
        Date::parse("2026-12-31").unwrap(),
    );
    let unbounded = PageSize {
        entries: 1_000,
        lines: 1_000_000,
    };
    let (all, next) = entries_page(&mut conn, &employer, year, None, unbounded).unwrap();
    assert!(all.len() > 6);
    assert_eq!(next, None, "a page short of its bound is the last");
    let most_lines = all.iter().map(|e| e.lines.len()).max().unwrap();
    assert!(
        most_lines > 2,
        "a call of several lines is among the entries"
    );
    for size in [
        PageSize {
            entries: 2,
            lines: 1_000_000,
        },
        PageSize {
            entries: 1_000,
            lines: 3,
        },
        PageSize {
            entries: 1_000,
            lines: 1,
        },
    ] {
        let mut paged = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let (page, next) =
                entries_page(&mut conn, &employer, year, after.as_ref(), size).unwrap();
            pages += 1;
            assert!(page.len() as i64 <= size.entries, "{size:?}");
            let lines: usize = page.iter().map(|e| e.lines.len()).sum();
            assert!(
                page.len() == 1 || lines as i64 <= size.lines,
                "{size:?}: {} entries of {lines} lines",
                page.len()
            );
            paged.extend(page);
            match next {
                Some(key) => after = Some(key),
                None => break,
            }
        }
        assert!(pages > 1, "{size:?} cuts the books into pages");
        assert_eq!(paged, all, "{size:?}");
    }
}

crate::on_both_databases!(
    the_fec_holds_every_line_of_the_year,
    the_fec_letters_what_offsets,
    the_fec_follows_the_fiscal_year,
    stalled_downloads_give_back_their_connections,
    the_journal_balances_transaction_by_transaction,
    exports_are_the_employers_own,
    pages_follow_one_another_without_gaps,
);
