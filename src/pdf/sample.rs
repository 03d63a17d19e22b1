//! Small, valid PDFs made from nothing: for the demo, tests and benchmarks.
//! Text is drawn in Helvetica, so keep it ASCII (the standard fonts cannot
//! draw Vietnamese; visible signatures embed a font of their own).

/// A PDF 1.7 with `pages` pages (at least 1), each showing `title` and its
/// page number. The cross-reference table's offsets are exact.
pub fn sample_pdf(title: &str, pages: u32) -> Vec<u8> {
    let pages = pages.max(1);
    let title: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .filter(|c| !matches!(c, '(' | ')' | '\\'))
        .collect();
    // Objects: 1 catalog, 2 page tree, 3 font, then per page: page, content.
    let mut objects: Vec<String> = Vec::new();
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".to_string());
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {pages} >>",
        kids.join(" ")
    ));
    objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string());
    for i in 0..pages {
        let content = format!(
            "BT /F1 14 Tf 72 770 Td ({title}) Tj 0 -24 Td (Page {} of {pages}) Tj ET",
            i + 1
        );
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let objects: Vec<Vec<u8>> = objects.into_iter().map(String::into_bytes).collect();
    classic_pdf("1.7", &objects, "")
}

/// A PDF with a classic cross-reference table whose offsets are exact:
/// `objects[i]` is the body of object `i + 1`, object 1 is the catalog;
/// `trailer_extra` is added to the trailer dictionary.
pub fn classic_pdf(version: &str, objects: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
    let mut out = format!("%PDF-{version}\n%\u{e2}\u{e3}\n").into_bytes();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}
