//! Calls and credit notes as PDF documents: read back with `pdftotext`, they hold the number,
//! every line and the total the API gives; a funder fetches only the calls addressed to it.

use crate::money_in::{call_body, three_allocated_months};
use crate::support::TestApp;
use serde_json::json;

/// The text of a PDF, by Debian's `pdftotext`; `None` when it is not installed here and the
/// run does not require it (CI sets PORTAGE_TEST_REQUIRE_TOOLS=1).
fn text_of(pdf: &[u8]) -> Option<String> {
    let dir = tempfile_dir();
    let path = format!("{dir}/doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    match std::process::Command::new("pdftotext")
        .args(["-layout", &path, "-"])
        .output()
    {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        _ if std::env::var("PORTAGE_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1") => {
            panic!("pdftotext (poppler-utils) is required by this run")
        }
        _ => {
            eprintln!("pdftotext is not installed: the PDF's text is not checked here");
            None
        }
    }
}

fn tempfile_dir() -> String {
    let dir = std::env::temp_dir().join(format!("portage-doc-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_string_lossy().into_owned()
}

/// Spaces as the French formats write them, taken as one.
fn plain(text: &str) -> String {
    text.replace(['\u{a0}', '\u{202f}'], " ")
}

async fn calls_and_credit_notes_read_back(app: &TestApp) {
    let (employer, _post, funders) = three_allocated_months(app).await;
    let token = app.token("employer", Some(&employer));
    app.send(
        "PATCH",
        &format!("/v1/employers/{employer}"),
        Some(&token),
        Some(
            &json!({"iban": "FR76 3000 6000 0112 3456 7890 189", "bic": "AGRIFRPP",
                    "address": "12 rue de Lille\n59100 Roubaix"})
            .to_string(),
        ),
        &[],
    )
    .await
    .expect(200);
    let state = &funders["state"];
    let call = app
        .post(
            "/v1/calls",
            &token,
            &call_body(&employer, state, "2026-01", "2026-03", "2026-04-02"),
        )
        .await
        .expect(201);
    let id = call.body["id"].as_str().unwrap().to_owned();
    let state_token = app.token("funder", Some(state));
    let doc = app
        .get(&format!("/v1/calls/{id}/document"), &state_token)
        .await;
    assert_eq!(doc.status, 200);
    assert_eq!(
        doc.header("content-type").as_deref(),
        Some("application/pdf")
    );
    let again = app.get(&format!("/v1/calls/{id}/document"), &token).await;
    assert_eq!(
        doc.bytes, again.bytes,
        "the same call gives the same document"
    );
    if let Some(text) = text_of(&doc.bytes).map(|t| plain(&t)) {
        assert!(text.contains("Appel de fonds AF-2026-0001"), "{text}");
        assert!(text.contains("IBAN FR7630006000011234567890189"), "{text}");
        assert!(text.contains("59100 Roubaix"), "{text}");
        assert!(text.contains("31 mai 2026"), "{text}");
        for line in call.body["lines"].as_array().unwrap() {
            let cents: i64 = line["amount"]
                .as_str()
                .unwrap()
                .replace('.', "")
                .parse()
                .unwrap();
            let amount = portage_ledger::domain::document::french_euros(cents);
            assert!(text.contains(&plain(&amount)), "{amount} in {text}");
        }
        assert!(text.contains("janvier 2026") && text.contains("mars 2026"));
        assert!(
            text.contains("Total") && text.contains("5 334,99 €"),
            "{text}"
        );
        assert!(text.contains("Reste dû"));
    }
    // Another funder, another employer: no such call. A call not cancelled has no credit note.
    app.get(
        &format!("/v1/calls/{id}/document"),
        &app.token("funder", Some(&funders["B"])),
    )
    .await
    .problem(404, "not_found");
    let other = app.employer("Other").await;
    app.get(
        &format!("/v1/calls/{id}/document"),
        &app.token("employer", Some(&other)),
    )
    .await
    .problem(404, "not_found");
    app.get(&format!("/v1/calls/{id}/credit-note"), &token)
        .await
        .problem(404, "not_found");
    app.post(&format!("/v1/calls/{id}/cancel"), &token, &json!({}))
        .await
        .expect(200);
    let credit = app
        .get(&format!("/v1/calls/{id}/credit-note"), &app.mission())
        .await;
    assert_eq!(credit.status, 200);
    if let Some(text) = text_of(&credit.bytes).map(|t| plain(&t)) {
        assert!(text.contains("Avoir AV-2026-0001"), "{text}");
        assert!(
            text.contains("Annule l'appel de fonds AF-2026-0001"),
            "{text}"
        );
        assert!(text.contains("5 334,99 €"), "{text}");
    }
}

crate::on_both_databases!(calls_and_credit_notes_read_back);
