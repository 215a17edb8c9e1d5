//! Tables for French spreadsheet software: `;` separated, decimal comma, UTF-8 with a BOM, CRLF
//! line ends, a header row, RFC 4180 quoting — what LibreOffice and Excel open as they are.

use super::money::Money;

/// An amount as French spreadsheets read it: a decimal comma, no thousands separator
/// (`1234,56`, `-12,00`).
pub fn amount(cents: i64) -> String {
    Money::from_cents(cents).to_string().replace('.', ",")
}

/// A cell: quoted when it holds the separator, a quote or a line break, quotes doubled.
fn cell(text: &str) -> String {
    if text.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Writes a table: the BOM, the header row, then each row.
pub fn write(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("\u{feff}");
    out.push_str(&header.join(";"));
    out.push_str("\r\n");
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&cells.join(";"));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_what_french_spreadsheets_open() {
        let text = write(
            &["a", "b"],
            &[
                vec!["Régie; \"Nord\"".into(), amount(123_456)],
                vec!["x".into(), amount(-5)],
            ],
        );
        assert_eq!(
            text,
            "\u{feff}a;b\r\n\"Régie; \"\"Nord\"\"\";1234,56\r\nx;-0,05\r\n"
        );
    }
}
