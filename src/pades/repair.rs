//! A repair revision for files whose cross-reference data lopdf cannot read.
//!
//! pyHanko (reading non-strictly) signs files whose last `startxref` is a
//! few bytes off, whose table lines have the wrong length, or whose streams
//! name a filter by its abbreviation (`/Fl`, legal only in inline images);
//! lopdf refuses them all. When [`crate::pdf::open`] refuses a file as
//! damaged, [`open`] appends ONE repair revision to it and reads that
//! instead; the signing revision then goes after the repair. The original
//! bytes stay a byte-identical prefix, and the repaired file passes every
//! intake check again, whole.
//!
//! Only a file whose last `startxref` leads (give or take a few bytes, as
//! pyHanko corrects it) to a cross-reference section whose trailer names a
//! catalog is repaired, in the form of that section (a table after a table,
//! a stream after a stream); encrypted files are not. Two repairs are
//! tried, and the first one the intake checks and lopdf accept is kept:
//!
//! 1. Chained, when the `startxref` is off (or its line is one lopdf cannot
//!    read, as `startxref 565 565`): an empty section whose trailer
//!    carries the last trailer's /Root /Info /ID, its /Size, and /Prev =
//!    where that section really starts. No object is listed again: the
//!    revisions before stay exactly as they were.
//! 2. Rebuilt, when lopdf cannot read the section itself: the file is
//!    scanned for objects (`N G obj` headers, stream data skipped, plus the
//!    objects each object stream's index lists), and a complete section
//!    lists the last definition of each, with no /Prev (lopdf fails on any
//!    section it cannot parse, and a chain through one would send it
//!    there). An object stream whose /Filter is abbreviated is written again
//!    in the repair revision with the full name and the same data. A file
//!    that already carries signatures is not rebuilt: cutting the chain of
//!    revisions would hide the revisions those signatures cover.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;

use lopdf::Document;

use super::writer::{SignPdfError, XrefForm};
use crate::pdf::lex::{
    Dict, Kind, dict_at, find, is_regular, is_ws, keyword_at, skip_space, skip_ws, token,
    value_span,
};
use crate::pdf::{PdfInfo, PdfLimits};

/// How far (bytes, either way) from where `startxref` points a section may
/// start. pyHanko looks about 10 bytes around it.
const SLACK: usize = 16;

/// The file as [`crate::pdf::open`] reads it, with a repair revision added
/// first when it cannot be read as is (see the module documentation).
/// Returns the bytes the signing revision goes after.
pub fn open<'a>(
    input: &'a [u8],
    limits: &PdfLimits,
) -> Result<(Cow<'a, [u8]>, PdfInfo, Document), SignPdfError> {
    let refused = match crate::pdf::open(input, limits) {
        Ok((info, doc)) => return Ok((Cow::Borrowed(input), info, doc)),
        // Only a file whose structure could not be read: not one read
        // whole that has no pages or needs a password.
        Err(e) if e.is_damaged() => e,
        Err(e) => return Err(e.into()),
    };
    if !input.starts_with(b"%PDF-") {
        return Err(refused.into());
    }
    let Some(last) = Section::last(input) else {
        return Err(refused.into());
    };
    let scan = Scan::new(input, limits);
    let repairs = [chained(input, &last, &scan), rebuilt(input, &last, &scan)];
    for repaired in repairs.into_iter().flatten() {
        if let Ok((info, doc)) = crate::pdf::open(&repaired, limits) {
            return Ok((Cow::Owned(repaired), info, doc));
        }
    }
    Err(refused.into())
}

/// `input` with a repair revision when it cannot be read as is, else
/// unchanged; an error when no repair makes it readable.
pub fn repair(input: &[u8], limits: &PdfLimits) -> Result<Vec<u8>, SignPdfError> {
    open(input, limits).map(|(bytes, _, _)| bytes.into_owned())
}

/// The offset the last `startxref` gives, as written.
pub(crate) fn declared_startxref(bytes: &[u8]) -> Result<usize, SignPdfError> {
    let tail = &bytes[bytes.len().saturating_sub(2048)..];
    let at = tail
        .windows(9)
        .rposition(|w| w == b"startxref")
        .ok_or_else(|| SignPdfError::Unsupported("it has no startxref at its end".into()))?;
    let rest = &tail[at + b"startxref".len()..];
    let digits: String = rest
        .iter()
        .skip_while(|c| c.is_ascii_whitespace())
        .take_while(|c| c.is_ascii_digit())
        .map(|&c| c as char)
        .collect();
    let offset: usize = digits
        .parse()
        .map_err(|_| SignPdfError::Unsupported("its startxref has no offset".into()))?;
    if offset > bytes.len() {
        return Err(SignPdfError::Unsupported(
            "its startxref points past its end".into(),
        ));
    }
    Ok(offset)
}

/// Where the cross-reference section `startxref` points to starts, and its
/// form. At the offset itself (whitespace skipped) an `xref` keyword or any
/// object header counts, and the offset is returned as written; otherwise
/// the nearest `xref` keyword or cross-reference stream header within
/// [`SLACK`] bytes, and its exact position.
pub(crate) fn locate_section(bytes: &[u8], declared: usize) -> Option<(usize, XrefForm)> {
    let at = skip_ws(bytes, declared);
    if keyword_at(bytes, at, b"xref") {
        return Some((declared, XrefForm::Table));
    }
    if header_at(bytes, at).is_some() {
        return Some((declared, XrefForm::Stream));
    }
    for d in 1..=SLACK {
        for p in [declared.checked_sub(d), declared.checked_add(d)]
            .into_iter()
            .flatten()
        {
            if p > 0 && bytes.get(p - 1).copied().is_some_and(is_regular) {
                continue;
            }
            if keyword_at(bytes, p, b"xref") {
                return Some((p, XrefForm::Table));
            }
            if let Some((_, _, after)) = header_at(bytes, p)
                && dict_at(bytes, after)
                    .is_some_and(|d| d.name(bytes, b"Type") == Some(&b"XRef"[..]))
            {
                return Some((p, XrefForm::Stream));
            }
        }
    }
    None
}

/// The last cross-reference section: where it really starts, its form and
/// its trailer dictionary.
struct Section {
    start: usize,
    form: XrefForm,
    trailer: Dict,
}

impl Section {
    fn last(bytes: &[u8]) -> Option<Section> {
        let declared = declared_startxref(bytes).ok()?;
        let (found, form) = locate_section(bytes, declared)?;
        let start = skip_ws(bytes, found);
        let trailer = match form {
            XrefForm::Table => {
                let at = find(bytes, start, b"trailer")?;
                dict_at(bytes, at + b"trailer".len())?
            }
            XrefForm::Stream => dict_at(bytes, header_at(bytes, start)?.2)?,
        };
        if trailer.get(bytes, b"Encrypt").is_some() || trailer.get(bytes, b"Root").is_none() {
            return None;
        }
        Some(Section {
            start,
            form,
            trailer,
        })
    }
}

/// Repair 1: an empty section chained to where the last one really starts
/// (also where `startxref` points, when lopdf could not read the
/// `startxref` line itself).
fn chained(input: &[u8], last: &Section, scan: &Scan) -> Option<Vec<u8>> {
    let size = last
        .trailer
        .int(input, b"Size")
        .and_then(|s| u32::try_from(s).ok())
        .unwrap_or(0)
        .max(scan.next_number());
    let mut rows = BTreeMap::new();
    if last.form == XrefForm::Table {
        rows.insert(0, Row::Free);
    }
    let mut out = start_revision(input);
    write_section(&mut out, input, last, rows, size, Some(last.start));
    Some(out)
}

/// Repair 2: a complete section from a scan of the file, no /Prev. Not for
/// a signed file: a signature's /ByteRange is always plain text (its
/// /Contents is patched in place, so it is never in an object stream).
fn rebuilt(input: &[u8], last: &Section, scan: &Scan) -> Option<Vec<u8>> {
    if find(input, 0, b"/ByteRange").is_some() || scan.entries.is_empty() {
        return None;
    }
    let compressed = scan
        .entries
        .values()
        .any(|(_, e)| matches!(e, Entry::Compressed { .. }));
    if compressed && last.form == XrefForm::Table {
        // A table cannot list objects in object streams.
        return None;
    }
    let mut out = start_revision(input);
    let mut rows = BTreeMap::new();
    rows.insert(0, Row::Free);
    for (&num, &(at, entry)) in &scan.entries {
        let row = match entry {
            Entry::Plain { generation } => match scan.renamed.get(&at) {
                Some(copy) => {
                    let offset = out.len();
                    out.extend_from_slice(format!("{num} {generation} obj\n").as_bytes());
                    out.extend_from_slice(&copy.dict);
                    out.extend_from_slice(b"\nstream\n");
                    out.extend_from_slice(&input[copy.data.0..copy.data.1]);
                    out.extend_from_slice(b"\nendstream\nendobj\n");
                    Row::Plain(offset, generation)
                }
                None => Row::Plain(at, generation),
            },
            Entry::Compressed { container, index } => Row::Compressed(container, index),
        };
        rows.insert(num, row);
    }
    let size = last
        .trailer
        .int(input, b"Size")
        .and_then(|s| u32::try_from(s).ok())
        .unwrap_or(0)
        .max(scan.next_number());
    write_section(&mut out, input, last, rows, size, None);
    Some(out)
}

fn start_revision(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 4096);
    out.extend_from_slice(input);
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}

/// One line of a cross-reference section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    /// Object 0, the head of the free list.
    Free,
    /// Offset, generation.
    Plain(usize, u16),
    /// Object stream, index in it.
    Compressed(u32, u32),
}

/// Writes the section (in `last`'s form) listing `rows`, its trailer
/// (`last`'s /Root /Info /ID; /Size at least `size`; `prev`), `startxref`
/// and `%%EOF`.
fn write_section(
    out: &mut Vec<u8>,
    input: &[u8],
    last: &Section,
    mut rows: BTreeMap<u32, Row>,
    size: u32,
    prev: Option<usize>,
) {
    let mut carried = Vec::new();
    for key in [&b"Root"[..], b"Info", b"ID"] {
        if let Some(value) = last.trailer.get(input, key) {
            carried.push(b'/');
            carried.extend_from_slice(key);
            carried.push(b' ');
            carried.extend_from_slice(value);
            carried.push(b' ');
        }
    }
    if let Some(prev) = prev {
        carried.extend_from_slice(format!("/Prev {prev} ").as_bytes());
    }
    let xref_at = out.len();
    match last.form {
        XrefForm::Table => {
            out.extend_from_slice(b"xref\n");
            for run in runs(&rows) {
                out.extend_from_slice(format!("{} {}\n", run[0].0, run.len()).as_bytes());
                for (_, row) in run {
                    let line = match row {
                        Row::Plain(offset, generation) => {
                            format!("{offset:010} {generation:05} n\r\n")
                        }
                        _ => "0000000000 65535 f\r\n".to_string(),
                    };
                    out.extend_from_slice(line.as_bytes());
                }
            }
            out.extend_from_slice(format!("trailer\n<< /Size {size} ").as_bytes());
            out.extend_from_slice(&carried);
            out.extend_from_slice(b">>\n");
        }
        XrefForm::Stream => {
            let number = size;
            rows.insert(number, Row::Plain(xref_at, 0));
            let mut index = String::new();
            let mut data = Vec::new();
            for run in runs(&rows) {
                index.push_str(&format!("{} {} ", run[0].0, run.len()));
                for (_, row) in run {
                    let (kind, field2, field3) = match row {
                        Row::Free => (0u8, 0u64, 0xffffu16),
                        Row::Plain(offset, generation) => (1, offset as u64, generation),
                        Row::Compressed(container, i) => (
                            2,
                            u64::from(container),
                            u16::try_from(i).unwrap_or(u16::MAX),
                        ),
                    };
                    data.push(kind);
                    data.extend_from_slice(&field2.to_be_bytes());
                    data.extend_from_slice(&field3.to_be_bytes());
                }
            }
            out.extend_from_slice(
                format!(
                    "{number} 0 obj\n<< /Type /XRef /Size {} /W [1 8 2] /Index [{}] ",
                    number + 1,
                    index.trim_end()
                )
                .as_bytes(),
            );
            out.extend_from_slice(&carried);
            out.extend_from_slice(format!("/Length {} >>\nstream\n", data.len()).as_bytes());
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\nendstream\nendobj\n");
        }
    }
    out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
}

/// Consecutive object numbers, grouped (subsections).
fn runs(rows: &BTreeMap<u32, Row>) -> Vec<Vec<(u32, Row)>> {
    let mut out: Vec<Vec<(u32, Row)>> = Vec::new();
    for (&n, &row) in rows {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|(m, _)| m + 1 == n) => run.push((n, row)),
            _ => out.push(vec![(n, row)]),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The scan

#[derive(Debug, Clone, Copy)]
enum Entry {
    Plain { generation: u16 },
    Compressed { container: u32, index: u32 },
}

/// An object stream written again with its filter's full name: its
/// dictionary, and its data (a range of the input).
#[derive(Debug)]
struct Renamed {
    dict: Vec<u8>,
    data: (usize, usize),
}

/// Every object a scan of the file finds, the last definition of each.
#[derive(Debug, Default)]
struct Scan {
    /// Object number → (where its definition starts: the header, or the
    /// header of the object stream holding it; the entry).
    entries: BTreeMap<u32, (usize, Entry)>,
    /// Largest object number seen (cross-reference streams included).
    max_number: Option<u32>,
    /// Object streams to write again, by where their header starts.
    renamed: BTreeMap<usize, Renamed>,
}

impl Scan {
    fn new(buf: &[u8], limits: &PdfLimits) -> Scan {
        let mut scan = Scan::default();
        // What object stream indexes may be inflated to, together.
        let mut budget = limits.max_decompressed;
        // Bytes read in vain by values that never end (an unclosed array
        // reads to the end of the file): the scan stops before that work
        // outgrows the file, so that it stays linear.
        let mut wasted = 0usize;
        let mut i = 0;
        while let Some(k) = find(buf, i, b"obj") {
            i = k + 3;
            if buf.get(k + 3).copied().is_some_and(is_regular) {
                continue;
            }
            let Some(start) = header_start_before(buf, k) else {
                continue;
            };
            let Some((num, generation, after)) = header_at(buf, start) else {
                continue;
            };
            scan.max_number = scan.max_number.max(Some(num));
            // Object 0 heads the list of free objects: never in use.
            if num == 0 {
                continue;
            }
            if wasted > buf.len() {
                break;
            }
            let Some((value_start, value_end)) = value_span(buf, after) else {
                wasted += buf.len() - after;
                continue;
            };
            i = value_end;
            let dict = dict_at(buf, value_start);
            let mut data = None;
            if let Some(d) = &dict {
                let s = skip_space(buf, value_end);
                if keyword_at(buf, s, b"stream") {
                    let data_start = match &buf[s + 6..] {
                        [b'\r', b'\n', ..] => s + 8,
                        [b'\n' | b'\r', ..] => s + 7,
                        _ => s + 6,
                    };
                    let (data_end, exact) = stream_end(buf, d, data_start);
                    data = Some((data_start, data_end, exact));
                    i = find(buf, data_end, b"endstream").map_or(buf.len(), |e| e + 9);
                }
            }
            let kind = dict.as_ref().and_then(|d| d.name(buf, b"Type"));
            if kind == Some(&b"XRef"[..]) {
                continue;
            }
            scan.entries
                .insert(num, (start, Entry::Plain { generation }));
            if let (Some(d), Some(b"ObjStm"), Some((data_start, data_end, exact))) =
                (&dict, kind, data)
            {
                let data_range = (data_start, data_end);
                let members = objstm_index(buf, d, data_range, &mut budget);
                for (index, member) in members.into_iter().enumerate() {
                    scan.max_number = scan.max_number.max(Some(member));
                    if member != num && member != 0 {
                        let index = u32::try_from(index).unwrap_or(u32::MAX);
                        scan.entries.insert(
                            member,
                            (
                                start,
                                Entry::Compressed {
                                    container: num,
                                    index,
                                },
                            ),
                        );
                    }
                }
                if exact && let Some(dict) = renamed_filters(buf, d) {
                    scan.renamed.insert(
                        start,
                        Renamed {
                            dict,
                            data: data_range,
                        },
                    );
                }
            }
        }
        scan
    }

    /// The first object number no object uses.
    fn next_number(&self) -> u32 {
        self.max_number.map_or(1, |n| n.saturating_add(1))
    }
}

/// Where a stream's data ends: after /Length bytes when it is a direct
/// number and `endstream` follows (exact), else just before the next
/// `endstream`.
fn stream_end(buf: &[u8], dict: &Dict, data_start: usize) -> (usize, bool) {
    if let Some(len) = dict
        .int(buf, b"Length")
        .and_then(|l| usize::try_from(l).ok())
        && let Some(end) = data_start.checked_add(len).filter(|&e| e <= buf.len())
        && keyword_at(buf, skip_ws(buf, end), b"endstream")
    {
        return (end, true);
    }
    match find(buf, data_start, b"endstream") {
        Some(e) => {
            let mut end = e;
            if end > data_start && buf[end - 1] == b'\n' {
                end -= 1;
            }
            if end > data_start && buf[end - 1] == b'\r' {
                end -= 1;
            }
            (end, false)
        }
        None => (buf.len(), false),
    }
}

/// The object numbers an object stream's index lists, in order. Only
/// unfiltered and Flate-compressed streams (with no predictor) are read,
/// and only their first /First bytes, charged to `budget`.
fn objstm_index(buf: &[u8], dict: &Dict, data: (usize, usize), budget: &mut usize) -> Vec<u32> {
    let (Some(first), Some(n)) = (dict.int(buf, b"First"), dict.int(buf, b"N")) else {
        return Vec::new();
    };
    let (Ok(first), Ok(n)) = (usize::try_from(first), usize::try_from(n)) else {
        return Vec::new();
    };
    if first > *budget || dict.get(buf, b"DecodeParms").is_some() {
        return Vec::new();
    }
    *budget -= first;
    let raw = &buf[data.0..data.1];
    let filters: Vec<&[u8]> = match dict.get(buf, b"Filter") {
        None => Vec::new(),
        Some(value) => names_in(value),
    };
    let index: Vec<u8> = match filters.as_slice() {
        [] => raw[..first.min(raw.len())].to_vec(),
        [name] if full_filter_name(name) == b"FlateDecode" => {
            let mut out = Vec::new();
            // A corrupt stream still gives what came before the damage.
            let _ = flate2::read::ZlibDecoder::new(raw)
                .take(first as u64)
                .read_to_end(&mut out);
            out
        }
        _ => return Vec::new(),
    };
    let numbers: Vec<Option<u32>> = String::from_utf8_lossy(&index)
        .split_ascii_whitespace()
        .map(|w| w.parse().ok())
        .collect();
    numbers
        .chunks_exact(2)
        .take(n)
        .map_while(|pair| pair[0])
        .collect()
}

/// The full name of a filter given by its abbreviation (allowed only in
/// inline images, but pyHanko and qpdf read it anywhere).
fn full_filter_name(name: &[u8]) -> &[u8] {
    match name {
        b"Fl" => b"FlateDecode",
        b"AHx" => b"ASCIIHexDecode",
        b"A85" => b"ASCII85Decode",
        b"LZW" => b"LZWDecode",
        b"RL" => b"RunLengthDecode",
        b"CCF" => b"CCITTFaxDecode",
        b"DCT" => b"DCTDecode",
        other => other,
    }
}

/// The dictionary `dict` with the abbreviated filter names in its /Filter
/// written out in full; None when there is none to rename.
fn renamed_filters(buf: &[u8], dict: &Dict) -> Option<Vec<u8>> {
    let (_, (from, to)) = dict
        .entries
        .iter()
        .rev()
        .find(|((k0, k1), _)| &buf[*k0..*k1] == b"Filter")?;
    let (from, to) = (*from, *to);
    let mut value = Vec::new();
    let mut renamed = false;
    let mut i = from;
    while let Some(t) = token(buf, i).filter(|t| t.end <= to) {
        value.extend_from_slice(&buf[i..t.start]);
        let text = &buf[t.start..t.end];
        if t.kind == Kind::Name && full_filter_name(&text[1..]) != &text[1..] {
            value.push(b'/');
            value.extend_from_slice(full_filter_name(&text[1..]));
            renamed = true;
        } else {
            value.extend_from_slice(text);
        }
        i = t.end;
    }
    if !renamed {
        return None;
    }
    let mut out = buf[dict.start..from].to_vec();
    out.extend_from_slice(&value);
    out.extend_from_slice(&buf[to..dict.end]);
    Some(out)
}

/// The names in a value (a name, or an array of names).
fn names_in(value: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(t) = token(value, i) {
        if t.kind == Kind::Name {
            out.push(&value[t.start + 1..t.end]);
        }
        i = t.end;
    }
    out
}

// ---------------------------------------------------------------------------
// Object headers, read with the lexer of `crate::pdf::lex`.

fn uint<T: std::str::FromStr>(buf: &[u8], i: usize) -> Option<(T, usize)> {
    let n = buf
        .get(i..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let value = std::str::from_utf8(&buf[i..i + n]).ok()?.parse().ok()?;
    Some((value, i + n))
}

/// An object header `N G obj` starting exactly at `i`: its number,
/// generation, and where the object after it starts.
fn header_at(buf: &[u8], i: usize) -> Option<(u32, u16, usize)> {
    let (num, j) = uint::<u32>(buf, i)?;
    let k = skip_ws(buf, j);
    if k == j {
        return None;
    }
    let (generation, l) = uint::<u16>(buf, k)?;
    let m = skip_ws(buf, l);
    keyword_at(buf, m, b"obj").then_some((num, generation, m + 3))
}

/// Where the header ending in the `obj` at `k` starts, if one does, at the
/// start of a token.
fn header_start_before(buf: &[u8], k: usize) -> Option<usize> {
    let mut j = k;
    while j > 0 && is_ws(buf[j - 1]) {
        j -= 1;
    }
    let generation_end = j;
    while j > 0 && buf[j - 1].is_ascii_digit() {
        j -= 1;
    }
    if j == generation_end || generation_end - j > 5 {
        return None;
    }
    let generation_start = j;
    while j > 0 && is_ws(buf[j - 1]) {
        j -= 1;
    }
    let number_end = j;
    if number_end == generation_start {
        return None;
    }
    while j > 0 && buf[j - 1].is_ascii_digit() {
        j -= 1;
    }
    if j == number_end || number_end - j > 10 || (j > 0 && is_regular(buf[j - 1])) {
        return None;
    }
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::sample::sample_pdf;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use lopdf::Object;
    use std::io::Write;

    fn limits() -> PdfLimits {
        PdfLimits::default()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).expect("zlib");
        e.finish().expect("zlib")
    }

    /// `bytes` with the number after the last `startxref` replaced.
    fn with_startxref(bytes: &[u8], offset: usize) -> Vec<u8> {
        let at = bytes
            .windows(9)
            .rposition(|w| w == b"startxref")
            .expect("startxref");
        let mut out = bytes[..at].to_vec();
        out.extend_from_slice(format!("startxref\n{offset}\n%%EOF\n").as_bytes());
        out
    }

    /// What lopdf and our checks make of the repaired file: its page count,
    /// and the trailer of the repair revision (its last; lopdf drops /Prev).
    fn read(repaired: &[u8]) -> (u32, lopdf::Dictionary) {
        let (info, doc) = crate::pdf::open(repaired, &limits()).expect("the repair reads");
        (info.pages, doc.trailer)
    }

    /// The /Prev of the repair revision that starts at `at`.
    fn prev(repaired: &[u8], at: usize) -> Option<usize> {
        let p = find(repaired, at, b"/Prev ")? + 6;
        uint(repaired, p).map(|(v, _)| v)
    }

    /// A PDF 1.5 whose catalog, page tree and pages are in an object stream
    /// (object 1..=2+pages; the stream is object 3+pages), cross-referenced
    /// by a stream; `filter` names the Flate filter of both streams; `extra`
    /// goes before the object stream (uncompressed, not cross-referenced).
    fn streamed_pdf(pages: u32, filter: &str, extra: &[u8]) -> (Vec<u8>, usize) {
        let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", i + 3)).collect();
        let mut objects = vec![
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            format!(
                "<< /Type /Pages /Kids [{}] /Count {pages} >>",
                kids.join(" ")
            ),
        ];
        for _ in 0..pages {
            objects.push("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".into());
        }
        let mut index = String::new();
        let mut body = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            index.push_str(&format!("{} {} ", i + 1, body.len()));
            body.extend_from_slice(o.as_bytes());
            body.push(b'\n');
        }
        let first = index.len();
        let mut data = index.into_bytes();
        data.extend_from_slice(&body);
        let n = objects.len() as u32;
        let (container, xref_id) = (n + 1, n + 2);
        let mut out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n".to_vec();
        out.extend_from_slice(extra);
        let container_at = out.len();
        let packed = zlib(&data);
        out.extend_from_slice(
            format!(
                "{container} 0 obj\n<< /Type /ObjStm /N {n} /First {first} /Filter /{filter} /Length {} >>\nstream\n",
                packed.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&packed);
        out.extend_from_slice(b"\nendstream\nendobj\n");
        let xref_at = out.len();
        let mut rows = vec![0u8, 0, 0, 0, 0, 0xff, 0xff];
        for i in 0..n {
            rows.push(2);
            rows.extend_from_slice(&container.to_be_bytes());
            rows.extend_from_slice(&(i as u16).to_be_bytes());
        }
        for at in [container_at, xref_at] {
            rows.push(1);
            rows.extend_from_slice(&(at as u32).to_be_bytes());
            rows.extend_from_slice(&[0, 0]);
        }
        let rows = zlib(&rows);
        out.extend_from_slice(
            format!(
                "{xref_id} 0 obj\n<< /Type /XRef /Size {} /W [1 4 2] /Root 1 0 R /ID [<0102> <0102>] /Filter /{filter} /Length {} >>\nstream\n",
                xref_id + 1,
                rows.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&rows);
        out.extend_from_slice(
            format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes(),
        );
        (out, xref_at)
    }

    #[test]
    fn a_file_that_reads_is_left_alone() {
        let input = sample_pdf("x", 1);
        let (bytes, _, _) = open(&input, &limits()).expect("open");
        assert!(matches!(bytes, Cow::Borrowed(_)));
        let (streamed, _) = streamed_pdf(2, "FlateDecode", b"");
        assert_eq!(repair(&streamed, &limits()).expect("repair"), streamed);
    }

    #[test]
    fn a_table_whose_startxref_is_off_gets_a_chained_section() {
        let good = sample_pdf("Tài liệu", 2);
        let xref = find(&good, 0, b"\nxref\n").expect("xref") + 1;
        for off in [xref - 3, xref + 2] {
            let input = with_startxref(&good, off);
            assert!(
                crate::pdf::open(&input, &limits()).is_err(),
                "lopdf refuses it"
            );
            let repaired = repair(&input, &limits()).expect("repaired");
            assert!(repaired.starts_with(&input), "the original is a prefix");
            let revision = &repaired[input.len()..];
            assert!(
                revision.starts_with(b"xref\n0 1\n"),
                "a table, nothing listed"
            );
            let (pages, trailer) = read(&repaired);
            assert_eq!(pages, 2);
            assert_eq!(trailer.get(b"Size").and_then(Object::as_i64).ok(), Some(8));
            assert_eq!(prev(&repaired, input.len()), Some(xref));
            assert_eq!(
                crate::pades::writer::last_xref(&input).expect("tolerant"),
                (xref, XrefForm::Table)
            );
        }
    }

    #[test]
    fn a_startxref_line_lopdf_cannot_read_gets_a_chained_section() {
        // pyHanko's minimal-startxref-hopeless2.pdf: the offset twice.
        let good = sample_pdf("x", 1);
        let xref = find(&good, 0, b"\nxref\n").expect("xref") + 1;
        let at = good
            .windows(9)
            .rposition(|w| w == b"startxref")
            .expect("startxref");
        let mut input = good[..at].to_vec();
        input.extend_from_slice(format!("startxref\n{xref}\n{xref}\n%%EOF\n").as_bytes());
        assert!(
            crate::pdf::open(&input, &limits()).is_err(),
            "lopdf refuses it"
        );
        let repaired = repair(&input, &limits()).expect("repaired");
        assert!(repaired[input.len()..].starts_with(b"xref\n0 1\n"));
        assert_eq!(prev(&repaired, input.len()), Some(xref));
        assert_eq!(read(&repaired).0, 1);
    }

    #[test]
    fn a_table_lopdf_cannot_parse_is_rebuilt_without_prev() {
        // Entry lines of 19 and 21 bytes (pyHanko's minimal-badxref.pdf).
        let good = sample_pdf("x", 1);
        let text = String::from_utf8_lossy(&good).into_owned();
        let broken = text.replacen(" 00000 n \n", " 00000 n\n", 1).replacen(
            " 00000 n \n",
            " 00000 n \r\n",
            1,
        );
        let mut input = broken.into_bytes();
        assert_eq!(input.len(), good.len());
        // An object 0 after the end (qpdf's obj0.pdf has one): never listed.
        input.extend_from_slice(b"0 0 obj\nnull\nendobj\n");
        assert!(
            crate::pdf::open(&input, &limits()).is_err(),
            "lopdf refuses it"
        );
        let repaired = repair(&input, &limits()).expect("repaired");
        assert!(repaired.starts_with(&input));
        let revision = String::from_utf8_lossy(&repaired[input.len()..]).into_owned();
        assert!(
            revision.starts_with("xref\n0 6\n0000000000 65535 f\r\n"),
            "{revision}"
        );
        let (pages, trailer) = read(&repaired);
        assert_eq!(pages, 1);
        assert_eq!(trailer.get(b"Size").and_then(Object::as_i64).ok(), Some(6));
        assert_eq!(prev(&repaired, input.len()), None);
        // Every object at its real offset.
        for (num, line) in revision.lines().skip(3).take(5).enumerate() {
            let offset: usize = line[..10].parse().expect("offset");
            assert!(input[offset..].starts_with(format!("{} 0 obj", num + 1).as_bytes()));
        }
    }

    #[test]
    fn a_stream_whose_startxref_is_off_gets_a_chained_stream() {
        let (good, xref_at) = streamed_pdf(2, "FlateDecode", b"");
        for off in [xref_at + 1, xref_at + 2, xref_at - 3] {
            let input = with_startxref(&good, off);
            assert!(
                crate::pdf::open(&input, &limits()).is_err(),
                "lopdf refuses it"
            );
            let repaired = repair(&input, &limits()).expect("repaired");
            assert!(repaired.starts_with(&input));
            let (pages, trailer) = read(&repaired);
            assert_eq!(pages, 2);
            assert_eq!(
                trailer.get(b"Type").and_then(Object::as_name).ok(),
                Some(&b"XRef"[..])
            );
            assert_eq!(prev(&repaired, input.len()), Some(xref_at));
            assert!(trailer.get(b"ID").is_ok());
            assert_eq!(
                crate::pades::writer::last_xref(&input).expect("tolerant"),
                (xref_at, XrefForm::Stream)
            );
        }
    }

    #[test]
    fn a_stream_with_abbreviated_filters_is_rebuilt_with_its_object_stream_renamed() {
        // /Fl (qpdf's filter-abbreviation.pdf): lopdf reads neither stream.
        let (input, _) = streamed_pdf(3, "Fl", b"");
        assert!(
            crate::pdf::open(&input, &limits()).is_err(),
            "lopdf refuses it"
        );
        let repaired = repair(&input, &limits()).expect("repaired");
        assert!(repaired.starts_with(&input));
        let revision = &repaired[input.len()..];
        assert!(revision.starts_with(b"6 0 obj\n<< /Type /ObjStm"));
        assert!(find(revision, 0, b"/Filter /FlateDecode").is_some());
        assert!(find(revision, 0, b"/Fl ").is_none());
        let (pages, trailer) = read(&repaired);
        assert_eq!(pages, 3);
        assert_eq!(prev(&repaired, input.len()), None);
        assert_eq!(trailer.get(b"Size").and_then(Object::as_i64).ok(), Some(9));
    }

    #[test]
    fn signed_encrypted_and_hopeless_files_are_not_repaired() {
        let (signed, _) = streamed_pdf(1, "Fl", b"9 0 obj\n<< /ByteRange [0 1 2 3] >>\nendobj\n");
        assert!(
            repair(&signed, &limits()).is_err(),
            "no rebuild under a signature"
        );
        let (unsigned, _) = streamed_pdf(1, "Fl", b"9 0 obj\n<< /Range [0 1 2 3] >>\nendobj\n");
        assert!(repair(&unsigned, &limits()).is_ok());
        let good = sample_pdf("x", 1);
        let xref = find(&good, 0, b"\nxref\n").expect("xref") + 1;
        let encrypted = String::from_utf8_lossy(&with_startxref(&good, xref + 1))
            .replace("/Root 1 0 R", "/Root 1 0 R /Encrypt 9 0 R")
            .into_bytes();
        assert!(repair(&encrypted, &limits()).is_err(), "encrypted");
        let far = with_startxref(&good, xref - 100);
        assert!(
            repair(&far, &limits()).is_err(),
            "no section near startxref"
        );
        let truncated = &good[..xref];
        assert!(repair(truncated, &limits()).is_err(), "no startxref");
    }
}
