//! The journal written out for accountants, as pure text: the French FEC (*fichier des
//! écritures comptables*, art. A47 A-1 of the Livre des procédures fiscales) and a plain-text
//! journal that hledger and ledger-cli read.
//!
//! Both are built from the same [`ExportEntry`] values, in the order the caller gives them: the
//! FEC numbers entries in that order, so the caller gives them in the order they were recorded.

use super::ledger::{
    BANK, COSTS_PAYABLE, FUNDING_TO_CALL, GRANTS_RECEIVABLE, OPERATING_GRANTS, POST_COSTS,
};
use super::money::Money;
use super::month::Date;
use std::collections::HashMap;
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
    Money::from_cents(cents).to_string().replace('.', ",")
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

/// Appends an entry's FEC lines, numbered `number`; `letter` letters its 441 line.
pub fn write_fec_entry(
    out: &mut String,
    number: u64,
    entry: &ExportEntry,
    letter: Option<&Letter>,
) {
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
        let (letter_code, lettered_on) = match letter {
            Some(letter) if line.account == GRANTS_RECEIVABLE => {
                (letter.code.clone(), fec_date(letter.on))
            }
            _ => (String::new(), String::new()),
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
            letter_code,
            lettered_on,
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
    format!("{} EUR", Money::from_cents(cents))
}

/// A tag value made safe for a journal comment (tags end at a comma or a line end).
fn tag(text: &str) -> String {
    field(text).replace(',', " ")
}

/// The type of an account for hledger (`X` expense, `R` revenue, `L` liability, `A` asset,
/// `C` cash), so that `hledger bs` and `hledger is` know where each belongs.
pub fn account_type(account: &str) -> &'static str {
    match account {
        POST_COSTS => "X",
        OPERATING_GRANTS => "R",
        COSTS_PAYABLE => "L",
        BANK => "C",
        _ => "A",
    }
}

/// The accounts the service posts to, in chart order.
pub const ACCOUNTS: [&str; 6] = [
    COSTS_PAYABLE,
    GRANTS_RECEIVABLE,
    FUNDING_TO_CALL,
    BANK,
    POST_COSTS,
    OPERATING_GRANTS,
];

/// The name of a funder as a sub-account: its name made safe for an account name (no `:`,
/// `;` nor runs of spaces, which the journal formats read as separators), then its SIREN, or
/// the start of its id when it has none, so that two funders of one name never share one.
pub fn funder_subaccount(party: &Party) -> String {
    let name: String = party
        .name
        .chars()
        .map(|c| {
            if c == ':' || c == ';' || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mark = match &party.siren {
        Some(siren) => siren.clone(),
        None => party.id.chars().take(8).collect(),
    };
    format!("{name} {mark}")
}

/// The funders' sub-account names, by funder id: [`funder_subaccount`], or the name with the
/// whole id for funders that would share one (same name and SIREN, or ids started alike).
pub fn subaccount_names(parties: &[Party]) -> HashMap<String, String> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for party in parties {
        *count.entry(funder_subaccount(party)).or_default() += 1;
    }
    parties
        .iter()
        .map(|party| {
            let short = funder_subaccount(party);
            let name = if count.get(&short).copied().unwrap_or(0) > 1 {
                let plain = Party {
                    siren: None,
                    ..party.clone()
                };
                let base = funder_subaccount(&plain);
                let base = base.rsplit_once(' ').map_or(base.as_str(), |(b, _)| b);
                format!("{base} {}", party.id)
            } else {
                short
            };
            (party.id.clone(), name)
        })
        .collect()
}

/// The journal account of a line: its PCG root with its label, and the funder's sub-account
/// (named by `names`) when the line concerns one.
pub fn journal_account(line: &ExportLine, names: &HashMap<String, String>) -> String {
    let root = format!("{} {}", line.account, account_label(&line.account));
    match &line.funder {
        Some(party) => match names.get(&party.id) {
            Some(name) => format!("{root}:{name}"),
            None => format!("{root}:{}", funder_subaccount(party)),
        },
        None => root,
    }
}

/// The head of a journal for hledger and ledger-cli: the commodity, every account that
/// `accounts` lists (the roots and the funders' sub-accounts met in the books) with its type,
/// and the tags the postings carry, so that `hledger check --strict` and `ledger --strict
/// --pedantic` accept it.
pub fn journal_header(
    title: &str,
    accounts: &[(String, Option<Party>)],
    names: &HashMap<String, String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "; {}", field(title));
    out.push_str(
        "; accounts are roots of the French chart of accounts (PCG); amounts in euros\n\n\
         commodity EUR\n  format 1000.00 EUR\n\n",
    );
    let mut declared = std::collections::BTreeSet::new();
    for root in ACCOUNTS {
        declared.insert((root.to_owned(), format!("{root} {}", account_label(root))));
    }
    for (account, party) in accounts {
        let line = ExportLine {
            account: account.clone(),
            debit_cents: 0,
            credit_cents: 0,
            funder: party.clone(),
            post_id: None,
            month: None,
        };
        declared.insert((account.clone(), journal_account(&line, names)));
    }
    for (root, name) in &declared {
        let _ = writeln!(out, "account {name}\n  ; type: {}", account_type(root));
    }
    out.push('\n');
    for name in [
        "entry",
        "kind",
        "reverses",
        "funder",
        "funder_name",
        "post",
        "month",
    ] {
        let _ = writeln!(out, "tag {name}");
    }
    out.push('\n');
    out
}

/// Appends an entry as an hledger / ledger-cli transaction: the date, `*` (the journal is
/// never edited, so every entry is cleared), the document in parentheses, a description, and
/// one posting per line, debit positive and credit negative, with tags naming the funder, post
/// and month.
pub fn write_journal_entry(out: &mut String, entry: &ExportEntry, names: &HashMap<String, String>) {
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
        let account = journal_account(line, names);
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

/// One component of a Beancount account name: letters (accents kept), digits and dashes,
/// starting with a capital or a digit.
fn beancount_component(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_owned();
    let mut chars = out.chars();
    match chars.next() {
        Some(first) if first.is_uppercase() || first.is_ascii_digit() => out,
        Some(first) if first.is_lowercase() => first.to_uppercase().chain(chars).collect(),
        _ => format!("X{out}"),
    }
}

/// The Beancount account of a PCG root (under the section its type belongs to) and, when a
/// funder is named, of its sub-account.
pub fn beancount_account(account: &str, funder: Option<&str>) -> String {
    let section = match account_type(account) {
        "X" => "Expenses",
        "R" => "Income",
        "L" => "Liabilities",
        _ => "Assets",
    };
    let root = beancount_component(&format!("PCG{account} {}", account_label(account)));
    match funder {
        Some(name) => format!("{section}:{root}:{}", beancount_component(name)),
        None => format!("{section}:{root}"),
    }
}

/// A string for Beancount: in double quotes, without quotes, backslashes or line breaks.
fn beancount_string(text: &str) -> String {
    format!("\"{}\"", field(text).replace(['"', '\\'], "'"))
}

/// The head of a Beancount file: the currency, and an `open` for every account `accounts`
/// lists (the roots and the funders' sub-accounts met in the books).
pub fn beancount_header(
    title: &str,
    accounts: &[(String, Option<Party>)],
    names: &HashMap<String, String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "; {}", field(title));
    out.push_str("option \"operating_currency\" \"EUR\"\n\n2000-01-01 commodity EUR\n\n");
    let mut declared = std::collections::BTreeSet::new();
    for root in ACCOUNTS {
        declared.insert(beancount_account(root, None));
    }
    for (account, party) in accounts {
        let name = party.as_ref().map(|p| {
            names
                .get(&p.id)
                .cloned()
                .unwrap_or_else(|| funder_subaccount(p))
        });
        declared.insert(beancount_account(account, name.as_deref()));
    }
    for account in &declared {
        let _ = writeln!(out, "2000-01-01 open {account} EUR");
    }
    out.push('\n');
    out
}

/// Appends an entry as a Beancount transaction: the date, `*`, the kind's label as payee and
/// the reference as narration, the entry's id as metadata, and one posting per line with the
/// post and month it concerns.
pub fn write_beancount_entry(
    out: &mut String,
    entry: &ExportEntry,
    names: &HashMap<String, String>,
) {
    let (_, journal) = journal_of(&entry.kind);
    let _ = writeln!(
        out,
        "{} * {} {}",
        entry.date,
        beancount_string(journal),
        beancount_string(&entry_label(entry))
    );
    let _ = writeln!(out, "  entry: {}", beancount_string(&entry.id));
    let _ = writeln!(out, "  kind: {}", beancount_string(&entry.kind));
    if let Some(reverses) = &entry.reverses {
        let _ = writeln!(out, "  reverses: {}", beancount_string(reverses));
    }
    for line in &entry.lines {
        let funder = line.funder.as_ref().map(|p| {
            names
                .get(&p.id)
                .cloned()
                .unwrap_or_else(|| funder_subaccount(p))
        });
        let account = beancount_account(&line.account, funder.as_deref());
        let amount = journal_amount(line.debit_cents - line.credit_cents);
        let _ = writeln!(out, "  {account}  {amount}");
        if let Some(post) = &line.post_id {
            let _ = writeln!(out, "    post: {}", beancount_string(post));
        }
        if let Some(month) = &line.month {
            let _ = writeln!(out, "    month: {}", beancount_string(month));
        }
    }
    out.push('\n');
}

/// A call for funds, as lettering sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetteredCall {
    /// Its id.
    pub id: String,
    /// Its amount, in cents.
    pub amount_cents: i64,
    /// Its journal entry.
    pub entry_id: String,
    /// The day it was issued.
    pub issued_on: Date,
    /// Its credit note's entry and date, when cancelled.
    pub cancelled: Option<(String, Date)>,
}

/// A payment, as lettering sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetteredPayment {
    /// Its id.
    pub id: String,
    /// Its amount, in cents.
    pub amount_cents: i64,
    /// Its journal entry.
    pub entry_id: String,
    /// The day it was received.
    pub received_on: Date,
}

/// The code and date that letter an entry's 441 line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    /// `A`, `B`, … `Z`, `AA`, …
    pub code: String,
    /// The day the group balanced.
    pub on: Date,
}

/// The lettering code of the `index`-th group: `A`…`Z`, then `AA`, `AB`…
fn letter_code(mut index: usize) -> String {
    let mut code = Vec::new();
    loop {
        code.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    code.reverse();
    String::from_utf8(code).unwrap_or_default()
}

/// Letters the 441 lines that offset each other exactly (*lettrage*): a cancelled call with its
/// credit note, and each set of calls and payments joined by applications in which every call
/// is paid in full and every payment applied in full. Groups that do not balance (a call partly
/// paid, a payment with credit left) stay unlettered. Codes follow the groups' dates, then
/// their first entry, so that they do not depend on the order the rows come in.
pub fn letters(
    calls: &[LetteredCall],
    payments: &[LetteredPayment],
    applications: &[(String, String, i64)],
) -> std::collections::HashMap<String, Letter> {
    use std::collections::{BTreeMap, HashMap};
    // Union-find over calls (0..n) and payments (n..n+m).
    let index: HashMap<&str, usize> = calls
        .iter()
        .map(|c| c.id.as_str())
        .chain(payments.iter().map(|p| p.id.as_str()))
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let mut parent: Vec<usize> = (0..calls.len() + payments.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut applied: HashMap<usize, i64> = HashMap::new();
    for (payment_id, call_id, amount) in applications {
        let (Some(&p), Some(&c)) = (index.get(payment_id.as_str()), index.get(call_id.as_str()))
        else {
            continue;
        };
        *applied.entry(p).or_default() += amount;
        *applied.entry(c).or_default() += amount;
        let (a, b) = (root(&mut parent, p), root(&mut parent, c));
        parent[a] = b;
    }
    // Each group: (entries, balanced so far, latest date).
    let mut groups: BTreeMap<usize, (Vec<String>, bool, Date)> = BTreeMap::new();
    let mut closed: Vec<(Date, String, Vec<String>)> = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        if let Some((note_entry, cancelled_on)) = &call.cancelled {
            closed.push((
                *cancelled_on,
                call.entry_id.clone(),
                vec![call.entry_id.clone(), note_entry.clone()],
            ));
            continue;
        }
        let group =
            groups
                .entry(root(&mut parent, i))
                .or_insert((Vec::new(), true, call.issued_on));
        group.0.push(call.entry_id.clone());
        group.1 &= applied.get(&i).copied().unwrap_or(0) == call.amount_cents;
        group.2 = group.2.max(call.issued_on);
    }
    for (j, payment) in payments.iter().enumerate() {
        let i = calls.len() + j;
        let group =
            groups
                .entry(root(&mut parent, i))
                .or_insert((Vec::new(), true, payment.received_on));
        group.0.push(payment.entry_id.clone());
        group.1 &= applied.get(&i).copied().unwrap_or(0) == payment.amount_cents;
        group.2 = group.2.max(payment.received_on);
    }
    for (mut entries, balanced, on) in groups.into_values() {
        if balanced && entries.len() > 1 {
            entries.sort();
            closed.push((on, entries[0].clone(), entries));
        }
    }
    closed.sort();
    let mut letters = HashMap::new();
    for (n, (on, _, entries)) in closed.into_iter().enumerate() {
        for entry in entries {
            letters.insert(
                entry,
                Letter {
                    code: letter_code(n),
                    on,
                },
            );
        }
    }
    letters
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
        write_fec_entry(&mut out, 7, &call_entry(), None);
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
    fn lettered_lines_carry_their_code_and_date() {
        let letter = Letter {
            code: "B".into(),
            on: date("2026-04-10"),
        };
        let mut out = String::new();
        write_fec_entry(&mut out, 1, &call_entry(), Some(&letter));
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!((rows[0][13], rows[0][14]), ("B", "20260410"));
        // Only the 441 line: 4687 is not a third-party account.
        assert_eq!((rows[1][13], rows[1][14]), ("", ""));
    }

    fn call(id: &str, amount_cents: i64, on: &str) -> LetteredCall {
        LetteredCall {
            id: id.into(),
            amount_cents,
            entry_id: format!("e-{id}"),
            issued_on: date(on),
            cancelled: None,
        }
    }

    fn payment(id: &str, amount_cents: i64, on: &str) -> LetteredPayment {
        LetteredPayment {
            id: id.into(),
            amount_cents,
            entry_id: format!("e-{id}"),
            received_on: date(on),
        }
    }

    #[test]
    fn only_groups_that_offset_exactly_are_lettered() {
        let mut cancelled = call("c4", 900, "2026-02-01");
        cancelled.cancelled = Some(("e-av1".into(), date("2026-02-03")));
        let calls = [
            call("c1", 1_000, "2026-03-01"),
            call("c2", 500, "2026-03-01"),
            call("c3", 700, "2026-03-01"),
            cancelled,
        ];
        let payments = [
            // Pays c1 and c2 in full between them.
            payment("p1", 1_200, "2026-04-10"),
            payment("p2", 300, "2026-04-20"),
            // Pays c3 in part.
            payment("p3", 200, "2026-04-01"),
            // Applied to nothing: a credit.
            payment("p4", 50, "2026-04-01"),
        ];
        let applications = [
            ("p1".to_string(), "c1".to_string(), 1_000),
            ("p1".to_string(), "c2".to_string(), 200),
            ("p2".to_string(), "c2".to_string(), 300),
            ("p3".to_string(), "c3".to_string(), 200),
        ];
        let letters = letters(&calls, &payments, &applications);
        let code = |entry: &str| {
            letters
                .get(entry)
                .map(|l| (l.code.as_str(), l.on.to_string()))
        };
        // The cancelled call and its credit note balance first (February).
        assert_eq!(code("e-c4"), Some(("A", "2026-02-03".into())));
        assert_eq!(code("e-av1"), Some(("A", "2026-02-03".into())));
        for entry in ["e-c1", "e-c2", "e-p1", "e-p2"] {
            assert_eq!(code(entry), Some(("B", "2026-04-20".into())), "{entry}");
        }
        for entry in ["e-c3", "e-p3", "e-p4"] {
            assert_eq!(code(entry), None, "{entry}");
        }
        // The rows' order does not matter.
        let mut reversed_calls = calls.to_vec();
        reversed_calls.reverse();
        let mut reversed_applications = applications.to_vec();
        reversed_applications.reverse();
        assert_eq!(
            super::letters(&reversed_calls, &payments, &reversed_applications),
            letters
        );
    }

    #[test]
    fn beancount_accounts_are_valid_names() {
        assert_eq!(
            beancount_account("441", Some("Préfecture du Nord – adultes-relais 732829320")),
            "Assets:PCG441-Subventions-à-recevoir:Préfecture-du-Nord-adultes-relais-732829320"
        );
        assert_eq!(
            beancount_account("74", Some("ville d'Arras")),
            "Income:PCG74-Subventions-d-exploitation:Ville-d-Arras"
        );
        assert_eq!(
            beancount_account("64", None),
            "Expenses:PCG64-Charges-de-personnel"
        );
        assert_eq!(
            beancount_account("42", Some("«»")),
            "Liabilities:PCG42-Personnel-et-comptes-rattachés:X"
        );
    }

    #[test]
    fn codes_run_from_a_to_zz_and_on() {
        assert_eq!(letter_code(0), "A");
        assert_eq!(letter_code(25), "Z");
        assert_eq!(letter_code(26), "AA");
        assert_eq!(letter_code(27), "AB");
        assert_eq!(letter_code(26 + 26 * 26 - 1), "ZZ");
        assert_eq!(letter_code(26 + 26 * 26), "AAA");
    }

    #[test]
    fn journal_transactions_balance_and_carry_their_tags() {
        let mut out = String::new();
        write_journal_entry(&mut out, &call_entry(), &HashMap::new());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "2026-03-02 * (AF-2026-0001) Appel de fonds - AF-2026-0001"
        );
        assert_eq!(lines[1], "    ; entry:e1, kind:call");
        assert!(
            lines[2].starts_with("    441 Subventions à recevoir:Bailleur | Nord Est 732829320 ")
        );
        assert!(lines[2].contains("  1234.56 EUR"));
        assert!(lines[2].ends_with("; funder:f1, funder_name:Bailleur   Nord Est"));
        assert!(lines[3].contains(" -1234.56 EUR"));
        assert!(lines[3].ends_with("post:p1, month:2026-01"));
        assert_eq!(lines[4], "");
    }
}
