//! The journal written out for accountants, as pure text: the French FEC (*fichier des
//! écritures comptables*, art. A47 A-1 of the Livre des procédures fiscales) and a plain-text
//! journal that hledger and ledger-cli read.
//!
//! Both are built from the same [`ExportEntry`] values, in the order the caller gives them: the
//! FEC numbers entries in that order, so the caller gives them in the order they were recorded.

use super::ledger::{
    BANK, COSTS_PAYABLE, FUNDING_TO_CALL, GRANTS_RECEIVABLE, OPERATING_GRANTS, POST_COSTS,
};
use super::month::Date;
use std::fmt::Write;

/// A funder named on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its SIREN, when known.
    pub siren: Option<String>,
}

/// A journal line to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportLine {
    /// The account (a root of the PCG, such as `4687`).
    pub account: String,
    /// Debit, in cents.
    pub debit_cents: i64,
    /// Credit, in cents.
    pub credit_cents: i64,
    /// The funder it concerns.
    pub funder: Option<Party>,
    /// The post it concerns.
    pub post_id: Option<String>,
    /// The month it concerns (`YYYY-MM`).
    pub month: Option<String>,
}

/// A journal entry to export, with its lines in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportEntry {
    /// Its id.
    pub id: String,
    /// Its date, which decides its period.
    pub date: Date,
    /// What it records (`cost`, `allocation`, `call`…).
    pub kind: String,
    /// Its reference (cost id, call number…).
    pub reference: String,
    /// The day it was recorded, which is the day it was validated: the journal is append-only.
    pub recorded_on: Date,
    /// The entry it reverses, if any.
    pub reverses: Option<String>,
    /// Its lines.
    pub lines: Vec<ExportLine>,
}

/// The journal an entry belongs to: (code, label).
pub fn journal_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "cost" | "cost_reversal" => ("CP", "Coûts des postes"),
        "allocation" => ("AL", "Allocations aux financeurs"),
        "call" | "credit_note" => ("AF", "Appels de fonds et avoirs"),
        "payment" => ("BQ", "Banque"),
        _ => ("OD", "Opérations diverses"),
    }
}

/// The label of an account of the PCG root the service posts to.
pub fn account_label(account: &str) -> &'static str {
    match account {
        POST_COSTS => "Charges de personnel",
        COSTS_PAYABLE => "Personnel et comptes rattachés",
        FUNDING_TO_CALL => "Produits à recevoir - financements à appeler",
        OPERATING_GRANTS => "Subventions d'exploitation",
        GRANTS_RECEIVABLE => "Subventions à recevoir",
        BANK => "Banques",
        _ => "Compte",
    }
}

/// The account number as the FEC wants it: at least three digits, so a root of fewer digits
/// is written as its first sub-account padded with zeros to six (`64` → `640000`), which
/// stays under its root.
pub fn fec_account(account: &str) -> String {
    format!("{account:0<6}")
}

/// The FEC's field names, in order.
pub const FEC_FIELDS: [&str; 18] = [
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
];

/// The FEC's field separator (a tab, which the norm allows besides `|`).
const FEC_SEPARATOR: char = '\t';

/// The FEC's first line.
pub fn fec_header() -> String {
    let mut line = FEC_FIELDS.join(&FEC_SEPARATOR.to_string());
    line.push_str("\r\n");
    line
}

/// `YYYYMMDD`, as the FEC writes dates.
fn fec_date(date: Date) -> String {
    date.to_string().replace('-', "")
}

/// Cents as the FEC writes amounts: a comma before two decimals, no thousands separator.
pub fn fec_amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{},{:02}", cents / 100, cents % 100)
}

/// Free text made safe for a delimited line: no separator, no line break, no control
/// character.
fn field(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() || c == '|' { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The document an entry rests on: the call or credit note number, else its reference.
fn piece_ref(entry: &ExportEntry) -> &str {
    match entry.kind.as_str() {
        "credit_note" => entry.reference.split_whitespace().next().unwrap_or(""),
        _ => &entry.reference,
    }
}

/// What an entry records, in words.
fn entry_label(entry: &ExportEntry) -> String {
    let what = match entry.kind.as_str() {
        "cost" => "Coût",
        "cost_reversal" => "Annulation de coût",
        "allocation" => "Allocation",
        "call" => "Appel de fonds",
        "credit_note" => "Avoir",
        "payment" => "Règlement",
        _ => "Écriture",
    };
    format!("{what} - {}", entry.reference)
}

/// Appends an entry's FEC lines, numbered `number`.
pub fn write_fec_entry(out: &mut String, number: u64, entry: &ExportEntry) {
    let (journal_code, journal_label) = journal_of(&entry.kind);
    let date = fec_date(entry.date);
    let validated = fec_date(entry.recorded_on);
    let piece = field(piece_ref(entry));
    let label = field(&entry_label(entry));
    for line in &entry.lines {
        let (aux_number, aux_label) = match &line.funder {
            Some(party) => (
                field(party.siren.as_deref().unwrap_or(&party.id)),
                field(&party.name),
            ),
            None => (String::new(), String::new()),
        };
        let fields = [
            journal_code.to_owned(),
            journal_label.to_owned(),
            number.to_string(),
            date.clone(),
            fec_account(&line.account),
            account_label(&line.account).to_owned(),
            aux_number,
            aux_label,
            piece.clone(),
            date.clone(),
            label.clone(),
            fec_amount(line.debit_cents),
            fec_amount(line.credit_cents),
            String::new(),
            String::new(),
            validated.clone(),
            String::new(),
            String::new(),
        ];
        out.push_str(&fields.join(&FEC_SEPARATOR.to_string()));
        out.push_str("\r\n");
    }
}

/// Cents as a journal amount: a dot before two decimals, signed, in euros.
fn journal_amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02} EUR", cents / 100, cents % 100)
}

/// A tag value made safe for a journal comment (tags end at a comma or a line end).
fn tag(text: &str) -> String {
    field(text).replace(',', " ")
}

/// Appends an entry as an hledger / ledger-cli transaction: the date, `*` (the journal is
/// never edited, so every entry is cleared), the document in parentheses, a description, and
/// one posting per line, debit positive and credit negative, with tags naming the funder, post
/// and month.
pub fn write_journal_entry(out: &mut String, entry: &ExportEntry) {
    // The code in parentheses is a document number: calls and credit notes have one.
    let _ = match entry.kind.as_str() {
        "call" | "credit_note" => writeln!(
            out,
            "{} * ({}) {}",
            entry.date,
            tag(piece_ref(entry)),
            field(&entry_label(entry))
        ),
        _ => writeln!(out, "{} * {}", entry.date, field(&entry_label(entry))),
    };
    let _ = write!(out, "    ; entry:{}, kind:{}", entry.id, entry.kind);
    if let Some(reverses) = &entry.reverses {
        let _ = write!(out, ", reverses:{reverses}");
    }
    out.push('\n');
    for line in &entry.lines {
        let account = format!("{} {}", line.account, account_label(&line.account));
        let amount = journal_amount(line.debit_cents - line.credit_cents);
        let mut tags = Vec::new();
        if let Some(party) = &line.funder {
            tags.push(format!("funder:{}", party.id));
            tags.push(format!("funder_name:{}", tag(&party.name)));
        }
        if let Some(post) = &line.post_id {
            tags.push(format!("post:{post}"));
        }
        if let Some(month) = &line.month {
            tags.push(format!("month:{month}"));
        }
        let _ = write!(out, "    {account:<48}  {amount:>18}");
        if !tags.is_empty() {
            let _ = write!(out, "  ; {}", tags.join(", "));
        }
        out.push('\n');
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    fn call_entry() -> ExportEntry {
        let funder = Party {
            id: "f1".into(),
            name: "Bailleur | Nord\tEst".into(),
            siren: Some("732829320".into()),
        };
        ExportEntry {
            id: "e1".into(),
            date: date("2026-03-02"),
            kind: "call".into(),
            reference: "AF-2026-0001".into(),
            recorded_on: date("2026-03-03"),
            reverses: None,
            lines: vec![
                ExportLine {
                    account: GRANTS_RECEIVABLE.into(),
                    debit_cents: 123_456,
                    credit_cents: 0,
                    funder: Some(funder.clone()),
                    post_id: None,
                    month: None,
                },
                ExportLine {
                    account: FUNDING_TO_CALL.into(),
                    debit_cents: 0,
                    credit_cents: 123_456,
                    funder: Some(funder),
                    post_id: Some("p1".into()),
                    month: Some("2026-01".into()),
                },
            ],
        }
    }

    #[test]
    fn fec_lines_have_eighteen_fields_in_the_norms_formats() {
        let mut out = fec_header();
        write_fec_entry(&mut out, 7, &call_entry());
        let lines: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 3);
        for line in &lines {
            assert_eq!(line.split('\t').count(), 18, "{line}");
        }
        let first: Vec<&str> = lines[1].split('\t').collect();
        assert_eq!(
            first,
            [
                "AF",
                "Appels de fonds et avoirs",
                "7",
                "20260302",
                "441000",
                "Subventions à recevoir",
                "732829320",
                "Bailleur   Nord Est",
                "AF-2026-0001",
                "20260302",
                "Appel de fonds - AF-2026-0001",
                "1234,56",
                "0,00",
                "",
                "",
                "20260303",
                "",
                ""
            ]
        );
        let second: Vec<&str> = lines[2].split('\t').collect();
        assert_eq!(
            (second[4], second[11], second[12]),
            ("468700", "0,00", "1234,56")
        );
    }

    #[test]
    fn accounts_amounts_and_documents() {
        assert_eq!(fec_account("64"), "640000");
        assert_eq!(fec_account("4687"), "468700");
        assert_eq!(fec_account("4411000"), "4411000");
        assert_eq!(fec_amount(5), "0,05");
        assert_eq!(fec_amount(-120_000), "-1200,00");
        let mut note = call_entry();
        note.kind = "credit_note".into();
        note.reference = "AV-2026-0001 cancels AF-2026-0001".into();
        assert_eq!(piece_ref(&note), "AV-2026-0001");
    }

    #[test]
    fn journal_transactions_balance_and_carry_their_tags() {
        let mut out = String::new();
        write_journal_entry(&mut out, &call_entry());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "2026-03-02 * (AF-2026-0001) Appel de fonds - AF-2026-0001"
        );
        assert_eq!(lines[1], "    ; entry:e1, kind:call");
        assert!(lines[2].starts_with("    441 Subventions à recevoir"));
        assert!(lines[2].contains("  1234.56 EUR"));
        assert!(lines[2].ends_with("; funder:f1, funder_name:Bailleur   Nord Est"));
        assert!(lines[3].contains(" -1234.56 EUR"));
        assert!(lines[3].ends_with("post:p1, month:2026-01"));
        assert_eq!(lines[4], "");
    }
}
