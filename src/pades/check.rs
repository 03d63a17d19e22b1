//! Reading back the revision the signer just wrote, without parsing the
//! whole file again: the last cross-reference section (which must be ours),
//! every object it lists parsed by lopdf at its offset, the trailer's
//! /Root, /Size and /Prev, and the signature dictionary's /ByteRange and
//! /Contents. The revisions before it were read by the intake checks
//! moments earlier and are an unchanged prefix of the file.

use std::collections::{BTreeMap, HashSet};
use std::panic::{self, AssertUnwindSafe};

use lopdf::xref::XrefEntry;
use lopdf::{Dictionary, Document, Object, ObjectId, Reader};

use super::writer::{XrefForm, last_xref};

/// Checks that the last revision of `pdf` reads back: see the module
/// documentation. `byte_range` is the one the signature must carry. The
/// error says what did not read back.
pub(crate) fn revision_reads_back(
    pdf: &[u8],
    byte_range: [usize; 4],
    form: XrefForm,
) -> Result<(), String> {
    panic::catch_unwind(AssertUnwindSafe(|| check(pdf, byte_range, form)))
        .unwrap_or_else(|_| Err("the PDF reader failed on the new revision".into()))
}

fn check(pdf: &[u8], [_, a, b, _]: [usize; 4], form: XrefForm) -> Result<(), String> {
    if a.saturating_add(2) > b || b > pdf.len() {
        return Err("the /ByteRange gap is not inside the file".into());
    }
    let (at, found) = last_xref(pdf).map_err(|e| e.to_string())?;
    if found != form {
        return Err("the new revision changed the cross-reference form".into());
    }
    // Every section this revision writes starts after /Contents.
    if at < b {
        return Err("the last cross-reference section is not the new revision's".into());
    }
    let mut reader = reader_of(pdf);
    let (entries, trailer) = match form {
        XrefForm::Table => {
            let (entries, trailer_at) =
                table(pdf, at).ok_or("its cross-reference table does not read back")?;
            (entries, parse_trailer(pdf, trailer_at)?)
        }
        XrefForm::Stream => {
            let id = header(pdf, at).ok_or("its cross-reference stream has no object header")?;
            reader.document.reference_table.insert(
                id.0,
                XrefEntry::Normal {
                    offset: u32::try_from(at).map_err(|_| "the file is too large")?,
                    generation: id.1,
                },
            );
            let object = reader
                .get_object(id, &mut HashSet::new())
                .map_err(|e| format!("its cross-reference stream does not read back ({e})"))?;
            let Object::Stream(stream) = object else {
                return Err("its cross-reference stream is not a stream".into());
            };
            let entries = stream_entries(&stream.dict, &stream.content)
                .ok_or("its cross-reference stream does not read back")?;
            (entries, stream.dict)
        }
    };
    if entries.is_empty() {
        return Err("the new revision lists no objects".into());
    }
    for &(n, g, offset) in &entries {
        reader.document.reference_table.insert(
            n,
            XrefEntry::Normal {
                offset: u32::try_from(offset).map_err(|_| "the file is too large")?,
                generation: g,
            },
        );
    }
    // The object holding /Contents is read with the hex string emptied (its
    // digits are checked apart): lopdf would take the CMS's tens of
    // kilobytes of hex one character at a time.
    let holder = entries
        .iter()
        .filter(|e| e.2 < a)
        .max_by_key(|e| e.2)
        .map(|e| (e.0, e.1));
    let mut signature = false;
    for &(n, g, offset) in &entries {
        let read_back = |e: lopdf::Error| {
            format!("object {n} {g} of the new revision does not read back ({e})")
        };
        let object = if holder == Some((n, g)) {
            let end = entries
                .iter()
                .map(|e| e.2)
                .filter(|&o| o > b)
                .min()
                .unwrap_or(at)
                .min(pdf.len());
            let mut copy = Vec::with_capacity(end - offset);
            copy.extend_from_slice(&pdf[offset..a]);
            copy.extend_from_slice(b"<>");
            copy.resize(copy.len() + (b - a - 2), b' ');
            copy.extend_from_slice(&pdf[b..end]);
            let mut alone = reader_of(&copy);
            alone.document.reference_table.insert(
                n,
                XrefEntry::Normal {
                    offset: 0,
                    generation: g,
                },
            );
            alone
                .get_object((n, g), &mut HashSet::new())
                .map_err(read_back)?
        } else {
            reader
                .get_object((n, g), &mut HashSet::new())
                .map_err(read_back)?
        };
        if let Object::Dictionary(d) = &object
            && d.has(b"ByteRange")
        {
            signature |= holder == Some((n, g)) && is_the_signature(d, pdf, a, b);
        }
    }
    if !signature {
        return Err("the signature dictionary does not read back with its /ByteRange".into());
    }
    let size = trailer.get(b"Size").and_then(Object::as_i64).ok();
    let max = entries.iter().map(|e| i64::from(e.0)).max().unwrap_or(0);
    if size.is_none_or(|s| s <= max) {
        return Err("the new trailer's /Size does not cover its objects".into());
    }
    if trailer.get(b"Root").and_then(Object::as_reference).is_err() {
        return Err("the new trailer names no catalog".into());
    }
    let prev = trailer
        .get(b"Prev")
        .and_then(Object::as_i64)
        .ok()
        .and_then(|p| usize::try_from(p).ok());
    let Some(prev) = prev.filter(|&p| p < at && super::repair::locate_section(pdf, p).is_some())
    else {
        return Err("the new trailer's /Prev does not lead to the previous section".into());
    };
    // The revision only adds: every object it lists comes after the
    // previous section.
    if let Some((n, g, _)) = entries.iter().find(|e| e.2 <= prev) {
        return Err(format!("object {n} {g} is listed before the new revision"));
    }
    Ok(())
}

/// A lopdf reader over `buffer` with an empty cross-reference table, for
/// objects read one at a time at offsets the caller enters.
fn reader_of(buffer: &[u8]) -> Reader<'_> {
    Reader {
        buffer,
        document: Document::new(),
        encryption_state: None,
        raw_objects: BTreeMap::new(),
    }
}

/// The signature dictionary (read with /Contents emptied): /ByteRange
/// exactly `[0 a b len-b]`, and between `a` and `b` a hex string of an even
/// number of digits.
fn is_the_signature(d: &Dictionary, pdf: &[u8], a: usize, b: usize) -> bool {
    let range: Option<Vec<i64>> = d
        .get(b"ByteRange")
        .and_then(Object::as_array)
        .ok()
        .and_then(|r| r.iter().map(|o| o.as_i64().ok()).collect());
    let expected = [0, a, b, pdf.len() - b].map(|n| n as i64);
    let emptied = d
        .get(b"Contents")
        .and_then(Object::as_str)
        .is_ok_and(<[u8]>::is_empty);
    let hex = &pdf[a + 1..b - 1];
    range.as_deref() == Some(&expected[..])
        && emptied
        && pdf[a] == b'<'
        && pdf[b - 1] == b'>'
        && hex.len() % 2 == 0
        && hex.iter().all(u8::is_ascii_hexdigit)
}

/// `N G obj` at `at` (whitespace skipped).
fn header(pdf: &[u8], at: usize) -> Option<ObjectId> {
    let mut words = pdf
        .get(at..pdf.len().min(at + 64))?
        .split(|c| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let n = std::str::from_utf8(words.next()?).ok()?.parse().ok()?;
    let g = std::str::from_utf8(words.next()?).ok()?.parse().ok()?;
    (words.next()? == b"obj").then_some((n, g))
}

/// The in-use entries of the `xref` table at `at`, and where the trailer
/// dictionary starts.
/// One in-use entry: object number, generation, offset.
type Entry = (u32, u16, usize);

fn table(pdf: &[u8], at: usize) -> Option<(Vec<Entry>, usize)> {
    let mut i = skip_ws(pdf, at);
    i = pdf.get(i..)?.starts_with(b"xref").then_some(i + 4)?;
    let mut entries = Vec::new();
    loop {
        i = skip_ws(pdf, i);
        if pdf.get(i..)?.starts_with(b"trailer") {
            return Some((entries, i + 7));
        }
        let (start, j) = uint::<u32>(pdf, i)?;
        let (count, j) = uint::<u32>(pdf, skip_ws(pdf, j))?;
        i = j;
        for n in start..start.checked_add(count)? {
            let (offset, j) = uint::<usize>(pdf, skip_ws(pdf, i))?;
            let (generation, j) = uint::<u16>(pdf, skip_ws(pdf, j))?;
            let j = skip_ws(pdf, j);
            match pdf.get(j)? {
                b'n' => entries.push((n, generation, offset)),
                b'f' => {}
                _ => return None,
            }
            i = j + 1;
        }
    }
}

/// The in-use entries of an uncompressed cross-reference stream.
fn stream_entries(dict: &Dictionary, data: &[u8]) -> Option<Vec<Entry>> {
    if dict.get(b"Type").and_then(Object::as_name).ok() != Some(&b"XRef"[..]) || dict.has(b"Filter")
    {
        return None;
    }
    let widths: Vec<usize> = dict
        .get(b"W")
        .and_then(Object::as_array)
        .ok()?
        .iter()
        .map(|o| o.as_i64().ok().and_then(|w| usize::try_from(w).ok()))
        .collect::<Option<_>>()?;
    let [w0, w1, w2] = <[usize; 3]>::try_from(widths).ok()?;
    if w0 > 8 || w1 > 8 || w2 > 8 || w0 + w1 + w2 == 0 {
        return None;
    }
    let index: Vec<u32> = dict
        .get(b"Index")
        .and_then(Object::as_array)
        .ok()?
        .iter()
        .map(|o| o.as_i64().ok().and_then(|n| u32::try_from(n).ok()))
        .collect::<Option<_>>()?;
    let field = |bytes: &[u8]| bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    let mut rows = data.chunks_exact(w0 + w1 + w2);
    let mut entries = Vec::new();
    for pair in index.chunks(2) {
        let [start, count] = <[u32; 2]>::try_from(pair).ok()?;
        for n in start..start.checked_add(count)? {
            let row = rows.next()?;
            let kind = if w0 == 0 { 1 } else { field(&row[..w0]) };
            let offset = usize::try_from(field(&row[w0..w0 + w1])).ok()?;
            let generation = u16::try_from(field(&row[w0 + w1..])).ok()?;
            match kind {
                0 => {}
                1 => entries.push((n, generation, offset)),
                // The signer never puts objects into object streams.
                _ => return None,
            }
        }
    }
    Some(entries)
}

/// The trailer dictionary from `at` on, parsed by lopdf (as an object of
/// its own, which is how lopdf's parser is reached).
fn parse_trailer(pdf: &[u8], at: usize) -> Result<Dictionary, String> {
    let end = pdf[at..]
        .windows(9)
        .position(|w| w == b"startxref")
        .map_or(pdf.len(), |p| at + p);
    let mut wrapped = b"1 0 obj\n".to_vec();
    wrapped.extend_from_slice(&pdf[at..end]);
    wrapped.extend_from_slice(b"\nendobj\n");
    let mut reader = Reader {
        buffer: &wrapped,
        document: Document::new(),
        encryption_state: None,
        raw_objects: BTreeMap::new(),
    };
    reader.document.reference_table.insert(
        1,
        XrefEntry::Normal {
            offset: 0,
            generation: 0,
        },
    );
    match reader.get_object((1, 0), &mut HashSet::new()) {
        Ok(Object::Dictionary(d)) => Ok(d),
        _ => Err("the new trailer does not read back".into()),
    }
}

fn skip_ws(pdf: &[u8], mut i: usize) -> usize {
    while pdf
        .get(i)
        .is_some_and(|c| c.is_ascii_whitespace() || *c == 0)
    {
        i += 1;
    }
    i
}

fn uint<T: std::str::FromStr>(pdf: &[u8], i: usize) -> Option<(T, usize)> {
    let digits = pdf
        .get(i..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let n = std::str::from_utf8(pdf.get(i..i + digits)?)
        .ok()?
        .parse()
        .ok()?;
    Some((n, i + digits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pades::writer::{SignatureSpec, prepare};
    use crate::pdf::PdfLimits;

    fn spec() -> SignatureSpec {
        SignatureSpec {
            field: None,
            pdf_date: "D:20261122143005+07'00'".into(),
            reason: None,
            location: None,
            contents_size: 64,
            visible: None,
            text_fields: Vec::new(),
        }
    }

    fn signed(input: &[u8]) -> (Vec<u8>, [usize; 4], XrefForm) {
        let prepared = prepare(input, &spec(), &PdfLimits::default()).expect("prepare");
        let range = prepared.byte_range();
        let form = prepared.xref_form;
        let out = prepared
            .finish(&[0x30, 0x03, 0x02, 0x01, 0x01])
            .expect("finish");
        (out, range, form)
    }

    #[test]
    fn check_written_revisions_read_back_in_either_form() {
        let input = crate::pdf::sample::sample_pdf("x", 2);
        let (out, range, form) = signed(&input);
        assert_eq!(revision_reads_back(&out, range, form), Ok(()));
        if let Some(streamed) = crate::pades::writer::with_xref_stream(&input) {
            let (out, range, form) = signed(&streamed);
            assert_eq!(form, XrefForm::Stream);
            assert_eq!(revision_reads_back(&out, range, form), Ok(()));
        }
    }

    #[test]
    fn check_written_a_damaged_revision_fails() {
        let input = crate::pdf::sample::sample_pdf("x", 2);
        let (out, range, form) = signed(&input);
        let new = input.len();
        // The widget's dictionary broken, an object's header, the trailer's
        // /Prev, the cross-reference table.
        for (from, to) in [
            (&b"/Widget"[..], &b"<<<<<<<"[..]),
            (b" 0 obj", b" 0 obk"),
            (b"/Prev", b"/Prew"),
            (b" n\r\n", b" x\r\n"),
        ] {
            let at = new
                + out[new..]
                    .windows(from.len())
                    .position(|w| w == from)
                    .expect("in the revision");
            let mut bad = out.clone();
            bad[at..at + to.len()].copy_from_slice(to);
            assert!(
                revision_reads_back(&bad, range, form).is_err(),
                "{}",
                String::from_utf8_lossy(from)
            );
        }
        let mut moved = range;
        moved[1] += 1;
        assert!(revision_reads_back(&out, moved, form).is_err());
    }

    #[test]
    fn check_written_the_contents_gap_and_signature_dictionary_are_checked() {
        let input = crate::pdf::sample::sample_pdf("x", 2);
        let (out, range @ [_, a, b, _], form) = signed(&input);
        // A digit of /Contents that is not hex, the string's brackets, the
        // dictionary after /Contents, and the /ByteRange's numbers.
        let sig_end = b + out[b..].windows(2).position(|w| w == b">>").expect(">>");
        let byte_range = out[..a]
            .windows(10)
            .rposition(|w| w == b"/ByteRange")
            .expect("/ByteRange");
        for (at, byte) in [
            (a + 3, b'G'),
            (a, b'('),
            (b - 1, b')'),
            (sig_end, b'<'),
            (byte_range + 12, b'7'),
        ] {
            let mut bad = out.clone();
            bad[at] = byte;
            assert!(
                revision_reads_back(&bad, range, form).is_err(),
                "byte {at} set to {}",
                char::from(byte)
            );
        }
    }
}
