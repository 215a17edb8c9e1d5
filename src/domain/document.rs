//! Documents a funder files: a call for funds and its credit note as PDF, in French.
//!
//! Pure: the same data gives the same bytes (no dates, no ids of the PDF's own). The one font,
//! DejaVu Sans (`assets/fonts/`, its licence beside it), is embedded as a CID-keyed TrueType
//! font with Identity-H encoding and a ToUnicode map, so that every reader shows the same
//! glyphs and `pdftotext` reads the text back, accents included.

use super::month::{Date, Month};
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};
use std::collections::BTreeMap;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 50.0;
const BODY_SIZE: f32 = 9.5;
const LINE: f32 = 13.5;

/// One run of text on a page.
#[derive(Debug, Clone)]
struct Run {
    page: usize,
    x: f32,
    y: f32,
    size: f32,
    text: String,
}

/// A document being laid out: runs of text and horizontal rules, page by page, top down.
pub struct Sheet {
    runs: Vec<Run>,
    rules: Vec<(usize, f32)>,
    page: usize,
    y: f32,
    face: ttf_parser::Face<'static>,
}

impl Sheet {
    fn new() -> Option<Sheet> {
        Some(Sheet {
            runs: Vec::new(),
            rules: Vec::new(),
            page: 0,
            y: PAGE_HEIGHT - MARGIN,
            face: ttf_parser::Face::parse(FONT, 0).ok()?,
        })
    }

    /// The width of `text` at `size`, in points.
    fn width(&self, text: &str, size: f32) -> f32 {
        let per_em = f32::from(self.face.units_per_em());
        text.chars()
            .map(|c| {
                self.face
                    .glyph_index(c)
                    .and_then(|g| self.face.glyph_hor_advance(g))
                    .map_or(0.0, f32::from)
            })
            .sum::<f32>()
            * size
            / per_em
    }

    /// Moves down by `lines` lines, starting a new page when the bottom margin is reached.
    fn down(&mut self, lines: f32) {
        self.y -= LINE * lines;
        if self.y < MARGIN + LINE {
            self.page += 1;
            self.y = PAGE_HEIGHT - MARGIN;
        }
    }

    fn at(&mut self, x: f32, size: f32, text: &str) {
        self.runs.push(Run {
            page: self.page,
            x,
            y: self.y,
            size,
            text: text.to_owned(),
        });
    }

    /// Text at `x` on the current line.
    pub fn text(&mut self, x: f32, size: f32, text: &str) {
        self.at(MARGIN + x, size, text);
    }

    /// Text ending at `right` on the current line (amounts).
    pub fn right(&mut self, right: f32, size: f32, text: &str) {
        let x = MARGIN + right - self.width(text, size);
        self.at(x, size, text);
    }

    /// A line of text, then the next line.
    pub fn line(&mut self, size: f32, text: &str) {
        self.text(0.0, size, text);
        self.down(size / BODY_SIZE);
    }

    /// A horizontal rule under the current line.
    pub fn rule(&mut self) {
        self.rules.push((self.page, self.y + LINE * 0.55));
    }

    /// The PDF: one page per page laid out, the font embedded with the glyphs used.
    fn render(&self) -> Vec<u8> {
        let mut pdf = Pdf::new();
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let type0 = Ref::new(3);
        let cid = Ref::new(4);
        let descriptor = Ref::new(5);
        let file = Ref::new(6);
        let to_unicode = Ref::new(7);
        let first_page = 8;
        let pages = self.page + 1;
        let page_ids: Vec<Ref> = (0..pages)
            .map(|i| Ref::new(first_page + 2 * i as i32))
            .collect();
        let font_name = Name(b"F1");
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree)
            .kids(page_ids.iter().copied())
            .count(pages as i32);

        // Glyphs used, for the widths and the ToUnicode map.
        let mut used: BTreeMap<u16, char> = BTreeMap::new();
        for run in &self.runs {
            for c in run.text.chars() {
                if let Some(g) = self.face.glyph_index(c) {
                    used.entry(g.0).or_insert(c);
                }
            }
        }
        let scale = 1000.0 / f32::from(self.face.units_per_em());
        for (i, id) in page_ids.iter().enumerate() {
            let content_id = Ref::new(id.get() + 1);
            let mut page = pdf.page(*id);
            page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
            page.parent(tree);
            page.contents(content_id);
            page.resources().fonts().pair(font_name, type0);
            page.finish();
            let mut content = Content::new();
            for (_, y) in self.rules.iter().filter(|(p, _)| *p == i) {
                content.set_line_width(0.5);
                content.move_to(MARGIN, *y);
                content.line_to(PAGE_WIDTH - MARGIN, *y);
                content.stroke();
            }
            for run in self.runs.iter().filter(|r| r.page == i) {
                let glyphs: Vec<u8> = run
                    .text
                    .chars()
                    .flat_map(|c| self.face.glyph_index(c).map_or(0, |g| g.0).to_be_bytes())
                    .collect();
                content.begin_text();
                content.set_font(font_name, run.size);
                content.next_line(run.x, run.y);
                content.show(Str(&glyphs));
                content.end_text();
            }
            pdf.stream(content_id, &content.finish());
        }

        let info = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };
        let base = Name(b"DejaVuSans");
        pdf.type0_font(type0)
            .base_font(base)
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(to_unicode);
        let mut cid_font = pdf.cid_font(cid);
        cid_font
            .subtype(CidFontType::Type2)
            .base_font(base)
            .system_info(info)
            .font_descriptor(descriptor)
            .cid_to_gid_map_predefined(Name(b"Identity"))
            .default_width(500.0);
        let mut widths = cid_font.widths();
        for gid in used.keys() {
            let advance = self
                .face
                .glyph_hor_advance(ttf_parser::GlyphId(*gid))
                .map_or(0.0, f32::from);
            widths.consecutive(*gid, [advance * scale]);
        }
        widths.finish();
        cid_font.finish();
        let bbox = self.face.global_bounding_box();
        pdf.font_descriptor(descriptor)
            .name(base)
            .flags(FontFlags::NON_SYMBOLIC)
            .bbox(Rect::new(
                f32::from(bbox.x_min) * scale,
                f32::from(bbox.y_min) * scale,
                f32::from(bbox.x_max) * scale,
                f32::from(bbox.y_max) * scale,
            ))
            .italic_angle(0.0)
            .ascent(f32::from(self.face.ascender()) * scale)
            .descent(f32::from(self.face.descender()) * scale)
            .cap_height(f32::from(self.face.capital_height().unwrap_or(729)) * scale)
            .stem_v(80.0)
            .font_file2(file);
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(FONT, 6);
        pdf.stream(file, &compressed)
            .filter(Filter::FlateDecode)
            .pair(Name(b"Length1"), FONT.len() as i32);
        let mut cmap = UnicodeCmap::new(Name(b"Custom"), info);
        for (gid, c) in &used {
            cmap.pair(*gid, *c);
        }
        pdf.cmap(to_unicode, &cmap.finish());
        pdf.finish()
    }
}

/// A line of a call: the post, the month, the amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentLine {
    /// The post's title.
    pub post_title: String,
    /// The post's reference, if it has one.
    pub post_reference: Option<String>,
    /// The month, as "novembre 2026".
    pub month: String,
    /// The amount, in cents.
    pub amount_cents: i64,
}

/// What a call document or credit note shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallDocument {
    /// `Appel de fonds` or `Avoir`.
    pub title: String,
    /// The document's number (`AF-2026-0001`, `AV-2026-0001`).
    pub number: String,
    /// For a credit note: the call it cancels.
    pub cancels: Option<String>,
    /// The employer's name, SIREN, address, IBAN and BIC.
    pub employer: Vec<String>,
    /// The funder's name.
    pub funder: String,
    /// The issue date, as "2 avril 2026".
    pub issued_on: String,
    /// The due date, for a call.
    pub due_on: Option<String>,
    /// The conventions the call draws on.
    pub conventions: Vec<String>,
    /// Its lines.
    pub lines: Vec<DocumentLine>,
    /// What was settled already, in cents (a call).
    pub paid_cents: Option<i64>,
}

/// Euros as French documents write them: `1 234,56 €` (no-break spaces).
pub fn french_euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let whole = (cents.abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push('\u{a0}');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped},{:02}\u{a0}€", cents.abs() % 100)
}

/// The month in French words: "novembre 2026".
pub fn french_month(month: Month) -> String {
    const NAMES: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    let name = NAMES
        .get(month.number().saturating_sub(1) as usize)
        .unwrap_or(&"");
    format!("{name} {}", month.year())
}

/// The date in French words: "2 avril 2026".
pub fn french_date(date: Date) -> String {
    format!("{} {}", date.day(), french_month(date.month()))
}

/// The PDF of a call for funds or of its credit note.
pub fn call_pdf(doc: &CallDocument) -> Option<Vec<u8>> {
    let mut sheet = Sheet::new()?;
    sheet.line(16.0, &format!("{} {}", doc.title, doc.number));
    if let Some(call) = &doc.cancels {
        sheet.line(BODY_SIZE, &format!("Annule l'appel de fonds {call}"));
    }
    sheet.down(0.5);
    sheet.line(BODY_SIZE, "Émetteur");
    for line in &doc.employer {
        sheet.line(BODY_SIZE, &format!("    {line}"));
    }
    sheet.down(0.5);
    sheet.line(BODY_SIZE, &format!("Destinataire : {}", doc.funder));
    sheet.line(BODY_SIZE, &format!("Date d'émission : {}", doc.issued_on));
    if let Some(due) = &doc.due_on {
        sheet.line(BODY_SIZE, &format!("Date d'échéance : {due}"));
    }
    if !doc.conventions.is_empty() {
        // Wrapped by words at the page's width.
        let mut line = String::from("Conventions :");
        for (i, convention) in doc.conventions.iter().enumerate() {
            let piece = if i + 1 < doc.conventions.len() {
                format!(" {convention},")
            } else {
                format!(" {convention}")
            };
            if sheet.width(&format!("{line}{piece}"), BODY_SIZE) > PAGE_WIDTH - 2.0 * MARGIN {
                sheet.line(BODY_SIZE, &line);
                line = String::from("   ");
            }
            line.push_str(&piece);
        }
        sheet.line(BODY_SIZE, &line);
    }
    sheet.down(0.7);
    let amount_right = PAGE_WIDTH - 2.0 * MARGIN;
    sheet.text(0.0, BODY_SIZE, "Poste");
    sheet.text(300.0, BODY_SIZE, "Mois");
    sheet.right(amount_right, BODY_SIZE, "Montant");
    sheet.rule();
    sheet.down(1.0);
    let mut total = 0;
    for line in &doc.lines {
        let post = match &line.post_reference {
            Some(reference) => format!("{} ({reference})", line.post_title),
            None => line.post_title.clone(),
        };
        let post: String = post.chars().take(60).collect();
        sheet.text(0.0, BODY_SIZE, &post);
        sheet.text(300.0, BODY_SIZE, &line.month);
        sheet.right(amount_right, BODY_SIZE, &french_euros(line.amount_cents));
        total += line.amount_cents;
        sheet.down(1.0);
    }
    sheet.rule();
    sheet.down(0.3);
    sheet.text(300.0, BODY_SIZE, "Total");
    sheet.right(amount_right, BODY_SIZE, &french_euros(total));
    sheet.down(1.0);
    if let Some(paid) = doc.paid_cents {
        sheet.text(300.0, BODY_SIZE, "Déjà réglé");
        sheet.right(amount_right, BODY_SIZE, &french_euros(paid));
        sheet.down(1.0);
        sheet.text(300.0, BODY_SIZE, "Reste dû");
        sheet.right(amount_right, BODY_SIZE, &french_euros(total - paid));
        sheet.down(1.0);
    }
    Some(sheet.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CallDocument {
        CallDocument {
            title: "Appel de fonds".into(),
            number: "AF-2026-0001".into(),
            cancels: None,
            employer: vec!["Régie de quartier".into(), "SIREN 732829320".into()],
            funder: "Lille Métropole Habitat".into(),
            issued_on: "2 avril 2026".into(),
            due_on: Some("31 mai 2026".into()),
            conventions: vec!["LMH-CONV-2026-03".into()],
            lines: vec![DocumentLine {
                post_title: "Médiateur".into(),
                post_reference: Some("MED-001".into()),
                month: french_month(Month::new(2026, 1).unwrap()),
                amount_cents: 123_456,
            }],
            paid_cents: Some(0),
        }
    }

    #[test]
    fn amounts_and_months_are_written_the_french_way() {
        assert_eq!(french_euros(123_456), "1\u{a0}234,56\u{a0}€");
        assert_eq!(french_euros(5), "0,05\u{a0}€");
        assert_eq!(french_euros(100_000_000), "1\u{a0}000\u{a0}000,00\u{a0}€");
        assert_eq!(french_month(Month::new(2026, 8).unwrap()), "août 2026");
        assert_eq!(
            french_date(Date::parse("2026-04-02").unwrap()),
            "2 avril 2026"
        );
    }

    #[test]
    fn the_same_call_gives_the_same_bytes() {
        let a = call_pdf(&sample()).unwrap();
        let b = call_pdf(&sample()).unwrap();
        assert_eq!(a, b);
        assert!(a.starts_with(b"%PDF-"));
        assert!(a.windows(9).any(|w| w == b"FontFile2"));
    }

    #[test]
    fn long_calls_run_over_several_pages() {
        let mut doc = sample();
        doc.lines = (0..120).map(|_| doc.lines[0].clone()).collect();
        let pdf = call_pdf(&doc).unwrap();
        let pages = pdf.windows(10).filter(|w| w == b"/Type /Pag").count();
        assert!(pages >= 3, "{pages}");
    }
}
