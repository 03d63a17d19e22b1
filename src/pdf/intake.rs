//! The implementation of [`inspect`].
//!
//! lopdf parses objects only where the cross-reference data points: the
//! `startxref`, `/Prev` and `/XRefStm` offsets, the entries of the
//! cross-reference tables and streams found there, and the offsets listed at
//! the start of object streams. `inspect` works out all those places first
//! (over-approximating: it collects every such offset written anywhere in the
//! file) and checks what lopdf would do there before letting lopdf load the
//! file:
//!
//! 1. size and `%PDF-` header checks;
//! 2. [`prescan`]: every offset a cross-reference section might be read at,
//!    and whether any `/Encrypt` name occurs;
//! 3. the cross-reference sections: tables are read here, and the objects at
//!    those offsets are checked with a [`Scanner`] for nesting depth (lopdf's
//!    parser recurses once per level of arrays and dictionaries, and a stack
//!    overflow aborts the process) before lopdf parses them; cross-reference
//!    streams are then decompressed here, streaming, against the shared
//!    [`Budget`], and their layout is checked for what lopdf would allocate;
//! 4. every object the cross-reference data lists is checked by a second
//!    [`Scanner`] for nesting depth, which also finds the object streams;
//! 5. the object streams are decompressed against the budget and the objects
//!    in them checked for nesting; for an encrypted file, lopdf decrypts its
//!    object streams before decompressing them, so they are decrypted here
//!    first with lopdf's own key derivation;
//! 6. lopdf loads the file and walks the page tree. Two of its readings are
//!    corrected first (unencrypted files): of an object some entry sent
//!    lopdf to under another number, the copy furthest into the file is
//!    kept, and objects of an object stream that start with a comment are
//!    parsed after it. In an unencrypted file, lopdf is given a copy in
//!    which the data of ordinary streams (not object streams or
//!    cross-reference streams) is left out (zero pages that are never
//!    touched), so the document does not hold the file a second time; those streams come back with empty `content` and their data's
//!    place in `start_position` ([`stream_data`] reads it), and the result
//!    is checked to be lopdf's reading of the file but for that content.
//!
//! Steps 2 onwards run on a thread with a large stack, and every call into
//! lopdf runs inside `catch_unwind`. The checks emulate what lopdf 0.38 does
//! while loading (`reader.rs`, `parser/mod.rs`, `object.rs`,
//! `object_stream.rs` and `parser_aux.rs` in its sources) and err on the side
//! of counting or refusing what lopdf *might* do. Every step is linear in the
//! size of the file, or its work is charged to the budget.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read;
use std::panic::{self, AssertUnwindSafe};

use lopdf::encryption::decrypt_object;
use lopdf::filters::png::{FilterType, decode_row};
use lopdf::xref::XrefEntry;
use lopdf::{Dictionary, Document, EncryptionState, Object, ObjectId, Reader, Stream};

use super::{PdfError, PdfInfo, PdfLimits};

/// The `%PDF-` header must start within this many bytes.
const HEADER_WINDOW: usize = 1024;
/// Deepest nesting of arrays and dictionaries accepted. lopdf's parser uses a
/// few KiB of stack per level; see [`READER_STACK`].
const MAX_NESTING: u32 = 256;
/// lopdf refuses literal strings nested deeper than its `MAX_BRACKET` (100)
/// inside the outermost parentheses.
const MAX_STRING_NESTING: i64 = 101;
/// Stack size of the thread lopdf runs on: ample for [`MAX_NESTING`] levels.
const READER_STACK: usize = 64 * 1024 * 1024;
/// Most entries all cross-reference streams together may declare. lopdf keeps
/// every entry in a `BTreeMap`; real files have far fewer objects.
const MAX_XREF_STREAM_ENTRIES: u64 = 4_000_000;
/// Widest field a cross-reference stream may declare in `/W` (lopdf allocates
/// a buffer of that size; real files use at most 8).
const MAX_XREF_FIELD_WIDTH: i64 = 16;
/// Most distinct parses that may meet in one object stream dictionary.
const MAX_ORIGINS: usize = 8;
/// How much of the file after a `trailer` keyword is given to lopdf's parser
/// when reading a trailer dictionary (only for encrypted files).
const TRAILER_WINDOW: usize = 64 * 1024;
/// Size of the chunks decompressed output is produced in.
const CHUNK: usize = 64 * 1024;

/// Checks that `bytes` are a PDF that lopdf can safely read and describes it.
///
/// The checks, in order: the size limit ([`PdfError::TooLarge`]), a `%PDF-`
/// header in the first 1024 bytes ([`PdfError::NotPdf`]), the decompression
/// limit on everything lopdf would inflate while loading
/// ([`PdfError::DecompressionLimit`]), structural safety and lopdf's own
/// parse and page walk ([`PdfError::Broken`]). Encrypted files are accepted
/// when lopdf can open them with the empty user password (they are reported
/// with `encrypted: true`).
///
/// This is CPU-bound and may take a second or two on a large file: call it
/// from a blocking context (e.g. `tokio::task::spawn_blocking`).
pub fn inspect(bytes: &[u8], limits: &PdfLimits) -> Result<PdfInfo, PdfError> {
    open(bytes, limits).map(|(info, _)| info)
}

/// [`inspect`], keeping lopdf's reading of the file for the caller (the
/// signer). Offsets in the document are relative to the `%PDF-` header.
pub fn open(bytes: &[u8], limits: &PdfLimits) -> Result<(PdfInfo, Document), PdfError> {
    if bytes.len() > limits.max_bytes {
        return Err(PdfError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let start = find_subslice(&bytes[..bytes.len().min(HEADER_WINDOW)], b"%PDF-")
        .ok_or(PdfError::NotPdf)?;
    // lopdf also starts at the first "%PDF-" and takes every offset in the
    // file relative to it; from here on all positions are relative to it too.
    let buf = &bytes[start..];
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("pdf-inspect".into())
            .stack_size(READER_STACK)
            .spawn_scoped(scope, || inspect_pdf(buf, limits));
        match worker {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|payload| Err(reader_failed(payload.as_ref()))),
            // Without a thread of our own, run here: the nesting check keeps
            // lopdf's recursion within a few MiB of stack.
            Err(_) => inspect_pdf(buf, limits),
        }
    })
}

/// The bytes from the `%PDF-` header on (all of `bytes` when there is none
/// in the first 1024 bytes): the offsets in [`open`]'s document, and the
/// `start_position` of its streams, are relative to them.
pub fn body(bytes: &[u8]) -> &[u8] {
    let start = find_subslice(&bytes[..bytes.len().min(HEADER_WINDOW)], b"%PDF-").unwrap_or(0);
    &bytes[start..]
}

/// The data of `stream`, a stream of the document [`open`] read from
/// `bytes`: its `content`, or for a stream read without its data (see
/// [`Blank`]), the bytes of the file it stands for. `None` when its length
/// cannot be known.
pub fn stream_data<'a>(
    bytes: &'a [u8],
    document: &Document,
    stream: &'a Stream,
) -> Option<&'a [u8]> {
    let Some(start) = stream.start_position.filter(|_| stream.content.is_empty()) else {
        return Some(&stream.content);
    };
    let length = stream
        .dict
        .get(b"Length")
        .and_then(|l| document.dereference(l))
        .and_then(|(_, l)| l.as_i64())
        .ok()
        .and_then(|l| usize::try_from(l).ok())?;
    body(bytes).get(start..start.checked_add(length)?)
}

/// Steps 2 to 6 of the module documentation, on the bytes from `%PDF-` on.
fn inspect_pdf(buf: &[u8], limits: &PdfLimits) -> Result<(PdfInfo, Document), PdfError> {
    let mut budget = Budget::new(limits.max_decompressed, buf.len());
    let marks = prescan(buf);
    let xref = read_cross_references(buf, &marks, &mut budget)?;
    let mut objects = Scanner::file(xref.object_anchors(buf, &mut budget)?);
    objects.scan_file(buf);
    if objects.too_deep {
        return Err(too_deep());
    }
    check_object_streams(buf, &objects.candidates, &mut budget)?;
    if marks.encrypt && !xref.containers.is_empty() {
        check_encrypted_containers(buf, &xref, &mut budget)?;
    }
    let blanks = if marks.encrypt {
        Vec::new()
    } else {
        plan_blanks(buf, &marks, &xref)
    };
    load(buf, &blanks)
}

// ---------------------------------------------------------------------------
// Errors and lopdf guards

const PASSWORD_PROTECTED: &str = "the PDF is protected by a password and cannot be read";

fn too_deep() -> PdfError {
    PdfError::damaged(format!(
        "its objects are nested more than {MAX_NESTING} levels deep"
    ))
}

/// For structures the checks cannot vouch for. Real-world files do not have
/// them; crafted ones might.
fn unverifiable(what: &str) -> PdfError {
    PdfError::Broken {
        reason: format!("the PDF cannot be accepted because {what}"),
    }
}

fn reader_failed(payload: &(dyn std::any::Any + Send)) -> PdfError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown error".to_owned());
    PdfError::damaged(format!("the PDF reader failed on it ({message})"))
}

/// Runs `f`, turning a panic into [`PdfError::Broken`].
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, PdfError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| reader_failed(payload.as_ref()))
}

// ---------------------------------------------------------------------------
// Byte classes of PDF syntax, as lopdf's parser defines them

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | b'\x0c')
}

fn is_delimiter(c: u8) -> bool {
    matches!(
        c,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(c: u8) -> bool {
    !is_ws(c) && !is_delimiter(c)
}

/// Bytes that can occur in a keyword or number lopdf accepts inside an
/// object (`true`, `false`, `null`, `R`, `endobj`, `stream`, numbers).
/// A word with any other byte makes lopdf's parse fail.
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_digit() || b"+-.Rtruefalsnobjdm".contains(&c)
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn find_subslice(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// The position after the comment starting at `i` and its end of line.
fn end_of_comment(buf: &[u8], i: usize) -> usize {
    let rest = buf.get(i..).unwrap_or_default();
    match rest.iter().position(|&c| c == b'\r' || c == b'\n') {
        Some(p) if rest.get(p..p + 2) == Some(b"\r\n") => i + p + 2,
        Some(p) => i + p + 1,
        None => buf.len(),
    }
}

/// lopdf's `space` from `i`: whitespace and comments (a comment needs its
/// end of line). Returns where it ends.
fn skip_space(buf: &[u8], mut i: usize) -> usize {
    loop {
        match buf.get(i) {
            Some(&c) if is_ws(c) => i += 1,
            Some(b'%') => {
                let end = end_of_comment(buf, i);
                if end == buf.len() && !matches!(buf.last(), Some(b'\r' | b'\n')) {
                    return i;
                }
                i = end;
            }
            _ => return i,
        }
    }
}

fn read_uint<T: std::str::FromStr>(buf: &[u8], i: usize) -> Option<(T, usize)> {
    let digits = buf
        .get(i..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let value = std::str::from_utf8(buf.get(i..i + digits)?)
        .ok()?
        .parse()
        .ok()?;
    Some((value, i + digits))
}

/// Reads an object header ("12 0 obj") at `x` as lopdf does. Returns its id
/// and where the object after it starts, if it is one, and how many bytes
/// were read (to be charged: many offsets may point into one long gap).
fn header_at(buf: &[u8], x: usize) -> (Option<(ObjectId, usize)>, usize) {
    let i = skip_space(buf, x);
    let Some((num, i)) = read_uint::<u32>(buf, i) else {
        return (None, i - x);
    };
    let i = skip_space(buf, i);
    let Some((generation, i)) = read_uint::<u16>(buf, i) else {
        return (None, i - x);
    };
    let i = skip_space(buf, i);
    if !buf.get(i..).is_some_and(|rest| rest.starts_with(b"obj")) {
        return (None, i - x);
    }
    (Some(((num, generation), i + 3)), i + 3 - x)
}

/// Parses the object `id` with lopdf's own parser, as if the cross-reference
/// table held exactly `entries`. Does not decompress anything. Only call it
/// where a [`Scanner`] has vouched for the nesting depth.
fn parse_object(
    buf: &[u8],
    entries: &[(ObjectId, usize)],
    id: ObjectId,
) -> Result<Option<Object>, PdfError> {
    let mut document = Document::new();
    for &((num, generation), offset) in entries {
        let Ok(offset) = u32::try_from(offset) else {
            return Ok(None);
        };
        document
            .reference_table
            .insert(num, XrefEntry::Normal { offset, generation });
    }
    let reader = Reader {
        buffer: buf,
        document,
        encryption_state: None,
        raw_objects: BTreeMap::new(),
    };
    guarded(|| reader.get_object(id, &mut HashSet::new()).ok())
}

// ---------------------------------------------------------------------------
// Step 2: where cross-reference sections may be

/// What [`prescan`] found.
#[derive(Debug, Default)]
struct Marks {
    /// Every offset lopdf might parse a cross-reference section at.
    xref_offsets: BTreeSet<usize>,
    /// Some name decodes to `Encrypt`.
    encrypt: bool,
}

/// Reads a name (after its `/`) the way lopdf does: regular bytes, `#hh`
/// escapes decoded; a `#` without two hex digits ends it. Returns the decoded
/// name if it is at most 16 bytes long, and where it ends.
fn read_name(buf: &[u8], mut i: usize) -> (Option<([u8; 16], usize)>, usize) {
    let mut out = [0u8; 16];
    let mut len = 0usize;
    let mut long = false;
    while let Some(&c) = buf.get(i) {
        if !is_regular(c) {
            break;
        }
        let byte = if c == b'#' {
            match (
                buf.get(i + 1).copied().and_then(hex_value),
                buf.get(i + 2).copied().and_then(hex_value),
            ) {
                (Some(h), Some(l)) => {
                    i += 3;
                    (h << 4) | l
                }
                _ => break,
            }
        } else {
            i += 1;
            c
        };
        match out.get_mut(len) {
            Some(slot) => {
                *slot = byte;
                len += 1;
            }
            None => long = true,
        }
    }
    ((!long).then_some((out, len)), i)
}

/// Parses an optionally signed integer at `i`; returns it (if it fits) and
/// where it ends.
fn read_integer(buf: &[u8], mut i: usize) -> (Option<i64>, usize) {
    let negative = match buf.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut value: Option<i64> = Some(0);
    while let Some(&c) = buf.get(i).filter(|c| c.is_ascii_digit()) {
        value = value
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(i64::from(c - b'0')));
        i += 1;
    }
    if i == start {
        return (None, i);
    }
    (value.map(|v| if negative { -v } else { v }), i)
}

/// Step 2, see [`Marks`]. Deliberately ignorant of strings and streams: it
/// may find too much, never too little.
fn prescan(buf: &[u8]) -> Marks {
    let mut marks = Marks::default();
    // Just after `/Prev`, `/XRefStm` or `startxref`: the next integer (after
    // whitespace and comments) is an offset.
    let mut expect_offset = false;
    let mut i = 0;
    while let Some(&c) = buf.get(i) {
        if expect_offset {
            if is_ws(c) {
                i += 1;
                continue;
            }
            if c == b'%' {
                i = end_of_comment(buf, i);
                continue;
            }
            expect_offset = false;
            if c == b'+' || c == b'-' || c.is_ascii_digit() {
                let (value, end) = read_integer(buf, i);
                if let Some(offset) = value.and_then(|v| usize::try_from(v).ok()) {
                    if offset < buf.len() {
                        marks.xref_offsets.insert(offset);
                    }
                }
                i = end;
                continue;
            }
        }
        match c {
            // Only names that can decode to Prev, XRefStm or Encrypt are
            // read; the bytes of any other are scanned like the rest (which
            // can only find more).
            b'/' if !matches!(buf.get(i + 1), Some(b'P' | b'X' | b'E' | b'#')) => i += 1,
            b'/' => {
                let (name, end) = read_name(buf, i + 1);
                if let Some((name, len)) = name {
                    match name.get(..len) {
                        Some(b"Prev" | b"XRefStm") => expect_offset = true,
                        Some(b"Encrypt") => marks.encrypt = true,
                        _ => {}
                    }
                }
                i = end;
            }
            // lopdf looks for the substring, not the keyword.
            b's' if buf[i..].starts_with(b"startxref") => {
                i += b"startxref".len();
                expect_offset = true;
            }
            // Nothing else matters here: on to the next `/` or `s`.
            _ => i = memchr::memchr2(b'/', b's', &buf[i + 1..]).map_or(buf.len(), |n| i + 1 + n),
        }
    }
    marks
}

// ---------------------------------------------------------------------------
// Step 3: cross-reference sections

/// Where a parse is started: at `at`, on behalf of the object whose header
/// starts at `origin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Anchor {
    at: usize,
    origin: usize,
}

/// Everything the cross-reference sections say.
#[derive(Debug, Default)]
struct CrossReferences {
    /// Every entry of every table and stream: object number, generation,
    /// offset. lopdf reads objects at all of them.
    entries: Vec<(u32, u16, usize)>,
    /// Object numbers of the object streams compressed entries point to.
    containers: BTreeSet<u32>,
    /// Entries declared by cross-reference streams, all together.
    stream_entries: u64,
    /// Dictionaries of cross-reference streams (trailers of encrypted files).
    stream_dicts: Vec<Dictionary>,
    /// Where the dictionaries after `trailer` keywords of tables start.
    trailers: Vec<usize>,
}

impl CrossReferences {
    /// The places lopdf parses objects at, sorted: just after the header of
    /// each object the entries point to.
    fn object_anchors(&self, buf: &[u8], budget: &mut Budget) -> Result<Vec<Anchor>, PdfError> {
        let mut offsets: Vec<usize> = self.entries.iter().map(|&(_, _, o)| o).collect();
        offsets.sort_unstable();
        offsets.dedup();
        let mut anchors = Vec::with_capacity(offsets.len());
        for origin in offsets {
            let (header, read) = header_at(buf, origin);
            budget.spend_input(read)?;
            if let Some((_, at)) = header {
                anchors.push(Anchor { at, origin });
            }
        }
        anchors.sort_unstable();
        Ok(anchors)
    }
}

/// Step 3: reads the cross-reference tables and decompresses (counting) the
/// cross-reference streams at every offset [`prescan`] found.
fn read_cross_references(
    buf: &[u8],
    marks: &Marks,
    budget: &mut Budget,
) -> Result<CrossReferences, PdfError> {
    let mut xref = CrossReferences::default();
    // Objects at the offsets (cross-reference streams) and trailer
    // dictionaries: lopdf parses them, so check their nesting first.
    let mut anchors = Vec::new();
    let mut stream_objects = Vec::new();
    for &x in &marks.xref_offsets {
        if buf.get(x..).is_some_and(|rest| rest.starts_with(b"xref")) {
            let trailer = read_xref_table(buf, x, &mut xref.entries);
            budget.spend_input(trailer.unwrap_or(buf.len()) - x)?;
            if let Some(t) = trailer {
                anchors.push(Anchor { at: t, origin: t });
                xref.trailers.push(t);
            }
            continue;
        }
        let (header, read) = header_at(buf, x);
        budget.spend_input(read)?;
        if let Some((id, at)) = header {
            anchors.push(Anchor { at, origin: x });
            stream_objects.push((x, id));
        }
    }
    anchors.sort_unstable();
    let mut sections = Scanner::file(anchors);
    sections.scan_file(buf);
    if sections.too_deep {
        return Err(too_deep());
    }
    for (x, id) in stream_objects {
        let Some(Object::Stream(stream)) = parse_object(buf, &[(id, x)], id)? else {
            continue;
        };
        let content = stream.content.as_slice();
        let decoded = if stream.dict.get(b"Filter").is_ok() {
            let Some(filters) = stream_filters(&stream) else {
                continue;
            };
            decode_stream(
                content,
                true,
                &filters,
                decode_params(&stream),
                budget,
                true,
                None,
            )?
        } else {
            budget.spend_input(content.len())?;
            Decoded {
                data: Some(content.to_vec()),
                len: content.len(),
            }
        };
        xref_stream_layout(&stream.dict, &decoded, &mut xref)?;
        if marks.encrypt {
            xref.stream_dicts.push(stream.dict.clone());
        }
    }
    Ok(xref)
}

/// Reads the cross-reference table at `x` (which starts with `xref`) like
/// lopdf, a little more leniently, adding its in-use entries to `entries`.
/// Returns where the dictionary after its `trailer` keyword starts.
fn read_xref_table(buf: &[u8], x: usize, entries: &mut Vec<(u32, u16, usize)>) -> Option<usize> {
    let mut i = x + b"xref".len();
    loop {
        i = skip_space(buf, i);
        if buf.get(i..)?.starts_with(b"trailer") {
            return Some(i + b"trailer".len());
        }
        // A subsection: first object number and count, then its entries
        // (lopdf numbers them `(start + index) as u32`).
        let (start, j) = read_uint::<u64>(buf, i)?;
        let (_count, j) = read_uint::<u32>(buf, skip_space(buf, j))?;
        i = j;
        let mut num = (start & 0xffff_ffff) as u32;
        loop {
            let k = skip_space(buf, i);
            let Some((offset, k)) = read_uint::<usize>(buf, k) else {
                break;
            };
            let Some((generation, k)) = read_uint::<u32>(buf, skip_space(buf, k)) else {
                break;
            };
            let k = skip_space(buf, k);
            let kind = buf.get(k).copied();
            if !matches!(kind, Some(b'n' | b'f')) || buf.get(k + 1).copied().is_some_and(is_regular)
            {
                break;
            }
            if kind == Some(b'n') && offset < buf.len() {
                if let Ok(generation) = u16::try_from(generation) {
                    entries.push((num, generation, offset));
                }
            }
            num = num.wrapping_add(1);
            i = k + 1;
        }
    }
}

/// Emulates lopdf's `decode_xref_stream` on decoded data: refuses layouts
/// that make lopdf allocate absurdly, and collects the entries.
fn xref_stream_layout(
    dict: &Dictionary,
    decoded: &Decoded,
    xref: &mut CrossReferences,
) -> Result<(), PdfError> {
    let int_array = |key: &[u8]| -> Option<Vec<i64>> {
        dict.get(key)
            .and_then(Object::as_array)
            .ok()?
            .iter()
            .map(|o| o.as_i64().ok())
            .collect()
    };
    let Ok(size) = dict.get(b"Size").and_then(Object::as_i64) else {
        return Ok(());
    };
    let index = int_array(b"Index").unwrap_or_else(|| vec![0, size]);
    let Some(widths) = int_array(b"W") else {
        return Ok(());
    };
    let [w0, w1, w2] = match widths.get(..3) {
        Some(&[a, b, c]) if a >= 0 && b >= 0 && c >= 0 => [a, b, c],
        _ => return Ok(()),
    };
    if [w0, w1, w2].iter().any(|&w| w > MAX_XREF_FIELD_WIDTH) {
        return Err(PdfError::damaged(
            "a cross-reference stream declares impossibly wide fields",
        ));
    }
    let sum = u64::try_from(w0 + w1 + w2).unwrap_or(0);
    let declared = index
        .chunks_exact(2)
        .map(|pair| u64::try_from(pair[1].max(0)).unwrap_or(0))
        .fold(0u64, u64::saturating_add);
    let data_len = u64::try_from(decoded.len).unwrap_or(u64::MAX);
    let entries = match data_len.checked_div(sum) {
        Some(rows) => declared.min(rows + 1),
        None => declared,
    };
    xref.stream_entries = xref.stream_entries.saturating_add(entries);
    if xref.stream_entries > MAX_XREF_STREAM_ENTRIES {
        return Err(PdfError::damaged(format!(
            "its cross-reference streams declare more than {MAX_XREF_STREAM_ENTRIES} objects"
        )));
    }
    let Some(data) = &decoded.data else {
        return Ok(());
    };
    if sum == 0 {
        return Ok(());
    }
    let widths = [w0, w1, w2].map(|w| usize::try_from(w).unwrap_or(0));
    let mut pos = 0usize;
    let mut read = |width: usize| -> Option<u32> {
        let bytes = data.get(pos..pos + width)?;
        pos += width;
        Some(bytes.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b)))
    };
    for pair in index.chunks_exact(2) {
        let Ok(start) = u32::try_from(pair[0] & 0xffff_ffff) else {
            continue;
        };
        let mut num = start;
        for _ in 0..pair[1].max(0) {
            let kind = if widths[0] == 0 {
                Some(1)
            } else {
                read(widths[0])
            };
            let Some(kind) = kind else {
                return Ok(());
            };
            if kind <= 2 {
                // lopdf reads the other two fields of known entry types only.
                let (Some(field2), Some(field3)) = (read(widths[1]), read(widths[2])) else {
                    return Ok(());
                };
                if kind == 1 {
                    let offset = usize::try_from(field2).unwrap_or(usize::MAX);
                    let generation = u16::try_from(field3 & 0xffff).unwrap_or(0);
                    xref.entries.push((num, generation, offset));
                } else if kind == 2 {
                    xref.containers.insert(field2);
                }
            }
            num = num.wrapping_add(1);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Nesting depth and object streams: the scanner

/// The headers a parse may have started at. Merged parses keep all of them
/// (up to [`MAX_ORIGINS`]).
#[derive(Debug, Clone, Copy, Default)]
struct Origins {
    at: [usize; MAX_ORIGINS],
    len: u8,
    overflow: bool,
}

impl Origins {
    fn one(position: usize) -> Self {
        let mut origins = Origins::default();
        origins.at[0] = position;
        origins.len = 1;
        origins
    }

    fn as_slice(&self) -> &[usize] {
        self.at.get(..usize::from(self.len)).unwrap_or_default()
    }

    fn union(&mut self, other: &Origins) {
        self.overflow |= other.overflow;
        for &p in other.as_slice() {
            if self.as_slice().contains(&p) {
                continue;
            }
            match self.at.get_mut(usize::from(self.len)) {
                Some(slot) => {
                    *slot = p;
                    self.len += 1;
                }
                None => self.overflow = true,
            }
        }
    }
}

/// One parse lopdf might be making: how deeply nested it is, which objects
/// it may belong to, and whether its dictionary named `/ObjStm`.
#[derive(Debug, Clone, Copy, Default)]
struct Hyp {
    depth: u32,
    objstm: bool,
    origins: Origins,
}

impl Hyp {
    /// Merging keeps the worst case of both.
    fn merge(&mut self, other: &Hyp) {
        self.depth = self.depth.max(other.depth);
        self.objstm |= other.objstm;
        self.origins.union(&other.origins);
    }
}

/// Where in a token a parse outside strings and comments is.
#[derive(Debug, Clone, Copy)]
enum Tok {
    /// Between tokens.
    Between,
    /// After a `<`: `<<` or a hex string.
    Lt,
    /// After a `>`: `>>` or an error.
    Gt,
    /// In a name; the decoded bytes so far (if short).
    Name {
        buf: [u8; 8],
        len: u8,
        long: bool,
        escape: NameEscape,
    },
    /// In a keyword or number.
    Word {
        buf: [u8; 16],
        len: usize,
        valid: bool,
    },
}

#[derive(Debug, Clone, Copy)]
enum NameEscape {
    None,
    Hash,
    HashDigit(u8),
}

impl Tok {
    fn kind(&self) -> u8 {
        match self {
            Tok::Between => 0,
            Tok::Lt => 1,
            Tok::Gt => 2,
            Tok::Name { .. } => 3,
            Tok::Word { .. } => 4,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Normal {
    hyp: Hyp,
    tok: Tok,
}

/// A stream that may be an object stream lopdf decompresses.
#[derive(Debug, Clone)]
struct Candidate {
    /// Where the stream data starts (after `stream` and its end of line).
    content_start: usize,
    /// The object headers its dictionary may belong to.
    origins: Origins,
}

/// What the scanner reads.
#[derive(Debug)]
enum Mode {
    /// The file: parses start at the anchors; object streams are noted.
    File,
    /// The objects of an object stream: parses start at the offsets its
    /// index (the first `first` bytes) lists.
    ObjectStream { first: usize, index: Vec<u8> },
}

/// A linear-time over-approximation of all the parses lopdf makes of some
/// bytes: every parse starting at an anchor is followed at once, those in
/// the same lexical state merged (keeping the deepest nesting), the way a
/// regular-expression engine runs an NFA. It finds the deepest nesting of
/// arrays and dictionaries any of them reaches (lopdf's parser recurses once
/// per level) and, in the file, the streams whose dictionary names `/ObjStm`.
///
/// A parse is followed until lopdf's would end (`stream`, `endobj`) or
/// certainly fail (an unbalanced `)` or `]`, a `{`, a word lopdf does not
/// know, ...); the checks are looser than lopdf, never stricter.
#[derive(Debug)]
struct Scanner {
    mode: Mode,
    /// Where parses start, sorted, and the next one.
    anchors: Vec<Anchor>,
    next_anchor: usize,
    /// Parses outside strings and comments (a handful at most).
    normals: Vec<Normal>,
    spare: Vec<Normal>,
    /// Parses inside a comment.
    comment: Option<Hyp>,
    /// Parses inside a hex string.
    hex: Option<Hyp>,
    /// Parses inside literal strings: all see the same bytes, so their string
    /// depths differ by constants; each is keyed by its depth minus
    /// `lit_shift`.
    literal: BTreeMap<i64, Hyp>,
    lit_shift: i64,
    lit_escape: bool,
    /// Offset of the next byte.
    pos: usize,
    /// Some parse nested deeper than [`MAX_NESTING`].
    too_deep: bool,
    /// Object stream candidates found (in the file).
    candidates: Vec<Candidate>,
}

impl Scanner {
    fn new(mode: Mode, anchors: Vec<Anchor>) -> Self {
        Scanner {
            mode,
            anchors,
            next_anchor: 0,
            normals: Vec::with_capacity(8),
            spare: Vec::with_capacity(8),
            comment: None,
            hex: None,
            literal: BTreeMap::new(),
            lit_shift: 0,
            lit_escape: false,
            pos: 0,
            too_deep: false,
            candidates: Vec::new(),
        }
    }

    /// A scanner for the file, starting parses at `anchors` (sorted).
    fn file(anchors: Vec<Anchor>) -> Self {
        Scanner::new(Mode::File, anchors)
    }

    /// A scanner for the decompressed data of an object stream whose
    /// dictionary says `/First first`; `None` if lopdf would parse nothing
    /// in it.
    fn object_stream(first: Option<usize>) -> Self {
        let mode = Mode::ObjectStream {
            first: first.unwrap_or(usize::MAX),
            index: Vec::new(),
        };
        Scanner::new(mode, Vec::new())
    }

    /// Scans the whole file.
    fn scan_file(&mut self, buf: &[u8]) {
        self.run(buf, Some(buf));
    }

    /// Scans the next piece of an object stream's data.
    fn feed(&mut self, chunk: &[u8]) {
        self.run(chunk, None);
    }

    fn alive(&self) -> bool {
        !self.normals.is_empty()
            || self.comment.is_some()
            || self.hex.is_some()
            || !self.literal.is_empty()
    }

    /// Only one parse, between tokens: whitespace leaves everything as is.
    fn idle(&self) -> bool {
        self.comment.is_none()
            && self.hex.is_none()
            && self.literal.is_empty()
            && matches!(
                self.normals.as_slice(),
                [Normal {
                    tok: Tok::Between,
                    ..
                }]
            )
    }

    /// `chunk` continues the data at `self.pos`; `whole` is the whole file
    /// when scanning the file (then `chunk` is all of it).
    fn run(&mut self, chunk: &[u8], whole: Option<&[u8]>) {
        let base = self.pos;
        let end = base + chunk.len();
        if let Mode::ObjectStream { first, index } = &mut self.mode {
            if self.pos < *first {
                let take = (*first - self.pos).min(chunk.len());
                index.extend_from_slice(&chunk[..take]);
                self.pos += take;
                if self.pos == *first {
                    let first = *first;
                    self.anchors = object_stream_anchors(index, first);
                }
            }
        }
        while self.pos < end {
            if !self.alive() {
                // Nothing to follow until the next anchor.
                match self.anchors.get(self.next_anchor) {
                    Some(a) if a.at < end => self.pos = self.pos.max(a.at),
                    _ => {
                        self.pos = end;
                        break;
                    }
                }
            }
            let Some(&c) = chunk.get(self.pos - base) else {
                break;
            };
            if is_ws(c)
                && self.idle()
                && self
                    .anchors
                    .get(self.next_anchor)
                    .is_none_or(|a| a.at > self.pos)
            {
                // Whitespace between tokens changes nothing: skip the run.
                let limit = self
                    .anchors
                    .get(self.next_anchor)
                    .map_or(end, |a| a.at.min(end));
                while self.pos < limit && chunk.get(self.pos - base).copied().is_some_and(is_ws) {
                    self.pos += 1;
                }
                continue;
            }
            self.step(c, whole);
            if self.too_deep {
                return;
            }
        }
    }

    fn step(&mut self, c: u8, whole: Option<&[u8]>) {
        let p = self.pos;
        while let Some(anchor) = self.anchors.get(self.next_anchor).copied() {
            if anchor.at > p {
                break;
            }
            self.next_anchor += 1;
            if anchor.at == p {
                let hyp = Hyp {
                    depth: 0,
                    objstm: false,
                    origins: Origins::one(anchor.origin),
                };
                match self
                    .normals
                    .iter_mut()
                    .find(|n| matches!(n.tok, Tok::Between))
                {
                    Some(n) => n.hyp.merge(&hyp),
                    None => self.normals.push(Normal {
                        hyp,
                        tok: Tok::Between,
                    }),
                }
            }
        }
        let mut next = std::mem::take(&mut self.spare);
        next.clear();

        // Comments and strings first: parses entering them at this byte must
        // not see it.
        if let Some(h) = self.comment {
            if c == b'\r' || c == b'\n' {
                self.comment = None;
                next.push(Normal {
                    hyp: h,
                    tok: Tok::Between,
                });
            }
        }
        if let Some(h) = self.hex {
            if c == b'>' {
                self.hex = None;
                next.push(Normal {
                    hyp: h,
                    tok: Tok::Between,
                });
            } else if !(is_ws(c) || c.is_ascii_hexdigit()) {
                self.hex = None;
            }
        }
        if self.literal.is_empty() {
            self.lit_shift = 0;
            self.lit_escape = false;
        } else if self.lit_escape {
            self.lit_escape = false;
        } else {
            match c {
                b'\\' => self.lit_escape = true,
                b'(' => {
                    self.lit_shift += 1;
                    while let Some((&key, _)) = self.literal.last_key_value() {
                        if key + self.lit_shift <= MAX_STRING_NESTING {
                            break;
                        }
                        self.literal.pop_last();
                    }
                }
                b')' => {
                    self.lit_shift -= 1;
                    while let Some((&key, _)) = self.literal.first_key_value() {
                        if key + self.lit_shift > 0 {
                            break;
                        }
                        if let Some((_, h)) = self.literal.pop_first() {
                            next.push(Normal {
                                hyp: h,
                                tok: Tok::Between,
                            });
                        }
                    }
                }
                _ => {}
            }
        }

        let normals = std::mem::take(&mut self.normals);
        for n in &normals {
            self.step_normal(*n, c, p, whole, &mut next);
        }
        self.spare = normals;
        merge_normals(&mut next);
        self.normals = next;
        self.pos += 1;
    }

    fn step_normal(
        &mut self,
        n: Normal,
        c: u8,
        p: usize,
        whole: Option<&[u8]>,
        next: &mut Vec<Normal>,
    ) {
        let mut hyp = n.hyp;
        match n.tok {
            Tok::Between => self.between(hyp, c, next),
            Tok::Lt => {
                if c == b'<' {
                    if self.deeper(&mut hyp) {
                        next.push(Normal {
                            hyp,
                            tok: Tok::Between,
                        });
                    }
                } else if c == b'>' {
                    // "<>", an empty hex string.
                    next.push(Normal {
                        hyp,
                        tok: Tok::Between,
                    });
                } else if is_ws(c) || c.is_ascii_hexdigit() {
                    self.enter_hex(hyp);
                }
            }
            Tok::Gt => {
                if c == b'>' && hyp.depth > 0 {
                    hyp.depth -= 1;
                    next.push(Normal {
                        hyp,
                        tok: Tok::Between,
                    });
                }
            }
            Tok::Name {
                mut buf,
                mut len,
                mut long,
                escape,
            } => {
                if !is_regular(c) {
                    if !matches!(escape, NameEscape::None) {
                        // A '#' without two hex digits: lopdf fails.
                        return;
                    }
                    if !long && buf.get(..usize::from(len)) == Some(b"ObjStm") {
                        hyp.objstm = true;
                    }
                    self.between(hyp, c, next);
                    return;
                }
                let (escape, decoded) = match (escape, c) {
                    (NameEscape::None, b'#') => (NameEscape::Hash, None),
                    (NameEscape::None, c) => (NameEscape::None, Some(c)),
                    (NameEscape::Hash, c) => match hex_value(c) {
                        Some(h) => (NameEscape::HashDigit(h), None),
                        None => return,
                    },
                    (NameEscape::HashDigit(h), c) => match hex_value(c) {
                        Some(l) => (NameEscape::None, Some((h << 4) | l)),
                        None => return,
                    },
                };
                if let Some(byte) = decoded {
                    match buf.get_mut(usize::from(len)) {
                        Some(slot) => {
                            *slot = byte;
                            len += 1;
                        }
                        None => long = true,
                    }
                }
                next.push(Normal {
                    hyp,
                    tok: Tok::Name {
                        buf,
                        len,
                        long,
                        escape,
                    },
                });
            }
            Tok::Word {
                mut buf,
                mut len,
                mut valid,
            } => {
                if is_regular(c) {
                    if let Some(slot) = buf.get_mut(len) {
                        *slot = c;
                    }
                    len += 1;
                    valid &= is_word_byte(c);
                    next.push(Normal {
                        hyp,
                        tok: Tok::Word { buf, len, valid },
                    });
                } else if let Some(hyp) = self.end_word(hyp, &buf, len, valid, p, whole) {
                    self.between(hyp, c, next);
                }
            }
        }
    }

    /// A parse between tokens reads `c`.
    fn between(&mut self, mut hyp: Hyp, c: u8, next: &mut Vec<Normal>) {
        let tok = match c {
            c if is_ws(c) => Tok::Between,
            b'/' => Tok::Name {
                buf: [0; 8],
                len: 0,
                long: false,
                escape: NameEscape::None,
            },
            b'[' => {
                if !self.deeper(&mut hyp) {
                    return;
                }
                Tok::Between
            }
            b']' => {
                if hyp.depth == 0 {
                    return;
                }
                hyp.depth -= 1;
                Tok::Between
            }
            b'<' => Tok::Lt,
            b'>' => Tok::Gt,
            b'(' => {
                let key = 1 - self.lit_shift;
                self.literal
                    .entry(key)
                    .and_modify(|h| h.merge(&hyp))
                    .or_insert(hyp);
                return;
            }
            b'%' => {
                match &mut self.comment {
                    Some(h) => h.merge(&hyp),
                    None => self.comment = Some(hyp),
                }
                return;
            }
            b')' | b'{' | b'}' => return,
            c => {
                let mut buf = [0u8; 16];
                buf[0] = c;
                Tok::Word {
                    buf,
                    len: 1,
                    valid: is_word_byte(c),
                }
            }
        };
        next.push(Normal { hyp, tok });
    }

    fn enter_hex(&mut self, hyp: Hyp) {
        match &mut self.hex {
            Some(h) => h.merge(&hyp),
            None => self.hex = Some(hyp),
        }
    }

    /// One level deeper; false (and `too_deep` set) past the limit.
    fn deeper(&mut self, hyp: &mut Hyp) -> bool {
        hyp.depth += 1;
        if hyp.depth > MAX_NESTING {
            self.too_deep = true;
            return false;
        }
        true
    }

    /// A word of `len` bytes (the first 16 in `buf`) ended just before `end`.
    /// Returns the parse to continue with, or `None` if lopdf's parse ends
    /// (successfully or not) with this word.
    fn end_word(
        &mut self,
        hyp: Hyp,
        buf: &[u8; 16],
        len: usize,
        valid: bool,
        end: usize,
        whole: Option<&[u8]>,
    ) -> Option<Hyp> {
        if !valid {
            return None;
        }
        let Some(word) = buf.get(..len) else {
            // Longer than any keyword: a (long) number.
            return Some(hyp);
        };
        match word {
            b"stream" => {
                if let (true, Mode::File, Some(whole)) = (hyp.objstm, &self.mode, whole) {
                    if let Some(content_start) = stream_data_start(whole, end) {
                        self.candidates.push(Candidate {
                            content_start,
                            origins: hyp.origins,
                        });
                    }
                }
                None
            }
            // The end of the object, or a header where lopdf expects a value.
            b"endobj" => None,
            w if w.ends_with(b"obj") => None,
            _ => Some(hyp),
        }
    }
}

/// The offsets an object stream's index lists (lopdf reads a pair of
/// numbers per object: its number and its offset after `first`).
fn object_stream_anchors(index: &[u8], first: usize) -> Vec<Anchor> {
    let Ok(text) = std::str::from_utf8(index) else {
        return Vec::new();
    };
    let numbers: Vec<Option<u32>> = text.split_whitespace().map(|n| n.parse().ok()).collect();
    let mut anchors: Vec<Anchor> = numbers
        .chunks_exact(2)
        .filter_map(|pair| {
            pair[0]?;
            let at = first.checked_add(usize::try_from(pair[1]?).ok()?)?;
            Some(Anchor { at, origin: at })
        })
        .collect();
    anchors.sort_unstable();
    anchors.dedup();
    anchors
}

/// Merges parses in the same token state (there are only a few).
fn merge_normals(list: &mut Vec<Normal>) {
    let mut i = 0;
    while i < list.len() {
        let mut j = i + 1;
        while j < list.len() {
            if list[i].tok.kind() == list[j].tok.kind() {
                let other = list.swap_remove(j);
                list[i].hyp.merge(&other.hyp);
                if let (Tok::Word { valid, .. }, Tok::Word { valid: v2, .. }) =
                    (&mut list[i].tok, other.tok)
                {
                    *valid |= v2;
                }
            } else {
                j += 1;
            }
        }
        i += 1;
    }
}

/// Where the data of a stream starts whose `stream` keyword ends at `after`:
/// lopdf accepts spaces and tabs, then one end of line.
fn stream_data_start(buf: &[u8], after: usize) -> Option<usize> {
    let mut i = after;
    while matches!(buf.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    match (buf.get(i), buf.get(i + 1)) {
        (Some(b'\r'), Some(b'\n')) => Some(i + 2),
        (Some(b'\r' | b'\n'), _) => Some(i + 1),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Decompression against a budget

/// The decompression allowance shared by every stream of one file.
#[derive(Debug)]
struct Budget {
    limit: usize,
    output: u64,
    /// Compressed bytes read, bounded too: streams could overlap or consume
    /// input without producing output.
    input: u64,
    input_limit: u64,
}

impl Budget {
    fn new(limit: usize, file_len: usize) -> Self {
        let limit64 = u64::try_from(limit).unwrap_or(u64::MAX);
        let file64 = u64::try_from(file_len).unwrap_or(u64::MAX);
        Budget {
            limit,
            output: 0,
            input: 0,
            input_limit: file64.saturating_mul(2).saturating_add(limit64),
        }
    }

    fn exceeded(&self) -> PdfError {
        PdfError::DecompressionLimit { limit: self.limit }
    }

    fn spend_output(&mut self, n: usize) -> Result<(), PdfError> {
        self.output = self
            .output
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if self.output > u64::try_from(self.limit).unwrap_or(u64::MAX) {
            return Err(self.exceeded());
        }
        Ok(())
    }

    fn spend_input(&mut self, n: usize) -> Result<(), PdfError> {
        self.input = self
            .input
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        if self.input > self.input_limit {
            return Err(self.exceeded());
        }
        Ok(())
    }
}

/// Receives decompressed bytes: charges them to the budget, and keeps them
/// and/or checks their nesting as asked.
struct Sink<'a> {
    budget: &'a mut Budget,
    keep: Option<Vec<u8>>,
    nest: Option<&'a mut Scanner>,
    produced: usize,
}

impl Sink<'_> {
    fn put(&mut self, data: &[u8]) -> Result<(), PdfError> {
        self.budget.spend_output(data.len())?;
        self.produced += data.len();
        if let Some(keep) = &mut self.keep {
            keep.extend_from_slice(data);
        }
        if let Some(nest) = &mut self.nest {
            nest.feed(data);
            if nest.too_deep {
                return Err(too_deep());
            }
        }
        Ok(())
    }
}

/// Inflates zlib data like lopdf (`flate2::read::ZlibDecoder`, errors end
/// the output without failing). Returns the compressed bytes consumed.
fn inflate(input: &[u8], sink: &mut Sink<'_>) -> Result<usize, PdfError> {
    let mut decoder = flate2::read::ZlibDecoder::new(input);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        match decoder.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => sink.put(chunk.get(..n).unwrap_or_default())?,
        }
    }
    Ok(usize::try_from(decoder.total_in()).unwrap_or(input.len()))
}

/// LZW decoding exactly as `weezl` (lopdf's decoder) does for PDF: MSB
/// first, 9 to 12 bit codes, clear 256, end 257, code size switched one code
/// early unless `/EarlyChange 0`; errors end the output. Returns the input
/// bytes consumed.
fn lzw(input: &[u8], early_change: bool, sink: &mut Sink<'_>) -> Result<usize, PdfError> {
    const CLEAR: usize = 256;
    const END: usize = 257;
    const FIRST: usize = 258;
    const ENTRIES: usize = 4096;
    let mut prefix = vec![0u16; ENTRIES];
    let mut suffix = vec![0u8; ENTRIES];
    let mut first = vec![0u8; ENTRIES];
    let mut length = vec![0u16; ENTRIES];
    for b in 0..=255u8 {
        suffix[usize::from(b)] = b;
        first[usize::from(b)] = b;
        length[usize::from(b)] = 1;
    }
    let early = usize::from(early_change);
    let mut next = FIRST;
    let mut size: u32 = 9;
    let mut previous: Option<usize> = None;
    let mut bits: u64 = 0;
    let mut nbits: u32 = 0;
    let mut pos = 0;
    let mut out: Vec<u8> = Vec::with_capacity(CHUNK + ENTRIES);
    let mut word = [0u8; ENTRIES];

    // Writes the string of `code` (then `extra` if any) to `out`.
    let emit = |code: usize,
                extra: Option<u8>,
                out: &mut Vec<u8>,
                word: &mut [u8; ENTRIES],
                prefix: &[u16],
                suffix: &[u8],
                length: &[u16]| {
        let len = usize::from(length[code]);
        let mut c = code;
        for slot in word[..len].iter_mut().rev() {
            *slot = suffix[c];
            c = usize::from(prefix[c]);
        }
        out.extend_from_slice(&word[..len]);
        if let Some(e) = extra {
            out.push(e);
        }
    };

    loop {
        while nbits < size {
            let Some(&b) = input.get(pos) else {
                sink.put(&out)?;
                return Ok(pos);
            };
            bits = (bits << 8) | u64::from(b);
            nbits += 8;
            pos += 1;
        }
        nbits -= size;
        let code = usize::try_from((bits >> nbits) & ((1u64 << size) - 1)).unwrap_or(usize::MAX);
        bits &= (1u64 << nbits) - 1;
        if code == CLEAR {
            next = FIRST;
            size = 9;
            previous = None;
            continue;
        }
        if code == END {
            break;
        }
        match previous {
            None => {
                if code >= CLEAR {
                    break;
                }
                emit(code, None, &mut out, &mut word, &prefix, &suffix, &length);
                previous = Some(code);
            }
            Some(prev) => {
                if code > next || (code == next && next >= ENTRIES) {
                    break;
                }
                let k = if code == next {
                    emit(
                        prev,
                        Some(first[prev]),
                        &mut out,
                        &mut word,
                        &prefix,
                        &suffix,
                        &length,
                    );
                    first[prev]
                } else {
                    emit(code, None, &mut out, &mut word, &prefix, &suffix, &length);
                    first[code]
                };
                if next < ENTRIES {
                    prefix[next] = u16::try_from(prev).unwrap_or(0);
                    suffix[next] = k;
                    first[next] = first[prev];
                    length[next] = length[prev].saturating_add(1);
                    if next + 1 + early >= (1usize << size) && size < 12 {
                        size += 1;
                    }
                    next += 1;
                }
                previous = Some(code);
            }
        }
        if out.len() >= CHUNK {
            sink.put(&out)?;
            out.clear();
        }
    }
    sink.put(&out)?;
    Ok(pos)
}

/// ASCII85 decoding exactly as lopdf does. Returns whether lopdf would
/// succeed and the input bytes consumed.
fn ascii85(input: &[u8], sink: &mut Sink<'_>) -> Result<(bool, usize), PdfError> {
    let body = match input.strip_suffix(b"~>") {
        Some(body) => body,
        None => input,
    };
    let mut out: Vec<u8> = Vec::with_capacity(CHUNK + 4);
    let mut buffer: u32 = 0;
    let mut count = 0usize;
    let mut ok = true;
    for &ch in body {
        if out.len() >= CHUNK {
            sink.put(&out)?;
            out.clear();
        }
        if ch == b'z' {
            if count != 0 {
                ok = false;
                break;
            }
            out.extend_from_slice(&[0, 0, 0, 0]);
            continue;
        }
        if ch.is_ascii_whitespace() {
            continue;
        }
        if !(b'!'..=b'u').contains(&ch) {
            break;
        }
        match buffer.checked_mul(85) {
            Some(b) => buffer = b.wrapping_add(u32::from(ch - b'!')),
            None => {
                ok = false;
                break;
            }
        }
        count += 1;
        if count == 5 {
            out.extend_from_slice(&buffer.to_be_bytes());
            buffer = 0;
            count = 0;
        }
    }
    if ok && count > 0 {
        for _ in count..5 {
            match buffer.checked_mul(85) {
                Some(b) => buffer = b.wrapping_add(84),
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            out.extend_from_slice(buffer.to_be_bytes().get(..count - 1).unwrap_or_default());
        }
    }
    sink.put(&out)?;
    Ok((ok, input.len()))
}

/// The PNG predictor lopdf applies after Flate and LZW: bytes per pixel and
/// pixels per row, when `/DecodeParms` asks for one (`/Predictor` 10 to 15).
fn png_predictor(params: Option<&Dictionary>) -> Option<(usize, usize)> {
    let params = params?;
    let get =
        |key: &[u8], default: i64| params.get(key).and_then(Object::as_i64).unwrap_or(default);
    if !(10..=15).contains(&get(b"Predictor", 1)) {
        return None;
    }
    let columns = usize::try_from(get(b"Columns", 1).max(1)).unwrap_or(usize::MAX);
    let colors = usize::try_from(get(b"Colors", 1).max(1)).unwrap_or(usize::MAX);
    let bits = usize::try_from(get(b"BitsPerComponent", 8).max(8)).unwrap_or(usize::MAX);
    Some((colors.saturating_mul(bits) / 8, columns))
}

/// Undoes the PNG predictor row by row like lopdf's `decode_frame`, but
/// keeps the rows decoded before an error. Returns them and whether lopdf
/// would have succeeded.
fn unpredict(data: &[u8], bpp: usize, columns: usize) -> (Vec<u8>, bool) {
    let row = bpp.saturating_mul(columns);
    let mut previous = vec![0u8; row];
    let mut current = vec![0u8; row];
    let mut decoded = Vec::with_capacity(data.len());
    let mut pos = 0;
    while pos < data.len() {
        let Ok(filter) = FilterType::try_from(data[pos]) else {
            return (decoded, false);
        };
        let Some(raw) = data.get(pos + 1..pos + 1 + row) else {
            return (decoded, false);
        };
        current.copy_from_slice(raw);
        decode_row(filter, bpp, &previous, &mut current);
        decoded.extend_from_slice(&current);
        std::mem::swap(&mut previous, &mut current);
        pos += 1 + row;
    }
    (decoded, true)
}

/// Result of [`decode_stream`].
#[derive(Debug, Default)]
struct Decoded {
    /// The decoded data, when asked for and lopdf would get it.
    data: Option<Vec<u8>>,
    /// Its length (before the last predictor), or what was produced.
    len: usize,
}

/// Emulates lopdf's `Stream::decompressed_content` on `content` with the
/// given filters and `/DecodeParms`, charging every stage's output to
/// `budget` and keeping nothing it need not keep. `exact` says `content` is
/// exactly the stream's data (otherwise it runs to the end of the file and
/// only what the first stage consumes is charged as input). With `nest`,
/// the final output (what lopdf would parse objects from) is checked for
/// nesting depth.
fn decode_stream(
    content: &[u8],
    exact: bool,
    filters: &[Vec<u8>],
    params: Option<&Dictionary>,
    budget: &mut Budget,
    want_data: bool,
    mut nest: Option<&mut Scanner>,
) -> Result<Decoded, PdfError> {
    #[derive(Clone, Copy)]
    enum Kind {
        Flate,
        Lzw,
        Ascii85,
    }
    if exact {
        budget.spend_input(content.len())?;
    }
    let predictor = png_predictor(params);
    let early_change = params
        .and_then(|p| p.get(b"EarlyChange").and_then(Object::as_i64).ok())
        .is_none_or(|v| v != 0);
    let mut current: Cow<'_, [u8]> = Cow::Borrowed(content);
    for (i, filter) in filters.iter().enumerate() {
        let last = i + 1 == filters.len();
        let kind = match filter.as_slice() {
            b"FlateDecode" => Kind::Flate,
            b"LZWDecode" => Kind::Lzw,
            b"ASCII85Decode" => Kind::Ascii85,
            // lopdf gives up: nothing more is produced.
            _ => return Ok(Decoded::default()),
        };
        let predicted = predictor.filter(|_| matches!(kind, Kind::Flate | Kind::Lzw));
        // The last stage without a predictor streams straight into the nesting
        // check; everything else must be kept for the next step.
        let streaming = last && predicted.is_none() && !want_data;
        let mut sink = Sink {
            budget: &mut *budget,
            keep: (!streaming).then(Vec::new),
            nest: if streaming { nest.as_deref_mut() } else { None },
            produced: 0,
        };
        let (ok, consumed) = match kind {
            Kind::Flate => (true, inflate(&current, &mut sink)?),
            Kind::Lzw => (true, lzw(&current, early_change, &mut sink)?),
            Kind::Ascii85 => ascii85(&current, &mut sink)?,
        };
        let produced = sink.produced;
        let kept = sink.keep.take();
        if i == 0 && !exact {
            budget.spend_input(consumed)?;
        }
        if !ok {
            return Ok(Decoded {
                data: None,
                len: produced,
            });
        }
        let mut output = kept.unwrap_or_default();
        if let Some((bpp, columns)) = predicted {
            // lopdf allocates two rows up front, whatever the data.
            budget.spend_output(bpp.saturating_mul(columns).saturating_mul(2))?;
            let (rows, complete) = unpredict(&output, bpp, columns);
            if !complete {
                // lopdf fails here and uses nothing; the rows decoded so far
                // are still checked in case the data was longer than its own.
                if let Some(nest) = nest.as_deref_mut() {
                    check_nesting(nest, &rows)?;
                }
                return Ok(Decoded {
                    data: None,
                    len: produced,
                });
            }
            output = rows;
        }
        if last {
            if !streaming {
                if let Some(nest) = nest.as_deref_mut() {
                    check_nesting(nest, &output)?;
                }
            }
            return Ok(Decoded {
                data: want_data.then_some(output),
                len: produced,
            });
        }
        current = Cow::Owned(output);
    }
    // No filters at all: lopdf's output is empty.
    Ok(Decoded::default())
}

fn check_nesting(nest: &mut Scanner, data: &[u8]) -> Result<(), PdfError> {
    nest.feed(data);
    if nest.too_deep {
        Err(too_deep())
    } else {
        Ok(())
    }
}

/// A stream's filter names, as lopdf's `Stream::filters` reads them; `None`
/// if lopdf would not decompress it.
fn stream_filters(stream: &Stream) -> Option<Vec<Vec<u8>>> {
    stream
        .filters()
        .ok()
        .map(|names| names.into_iter().map(<[u8]>::to_vec).collect())
}

fn decode_params(stream: &Stream) -> Option<&Dictionary> {
    stream
        .dict
        .get(b"DecodeParms")
        .and_then(Object::as_dict)
        .ok()
}

// ---------------------------------------------------------------------------
// Step 5: object streams

/// Decompresses (counting, and checking nesting) every object stream the
/// scanner found, with the dictionary lopdf parses for it.
fn check_object_streams(
    buf: &[u8],
    candidates: &[Candidate],
    budget: &mut Budget,
) -> Result<(), PdfError> {
    // Objects already checked: by header, or by header and data start when
    // the data had to be located by the scanner.
    let mut done: HashSet<usize> = HashSet::new();
    let mut done_at: HashSet<(usize, usize)> = HashSet::new();
    for candidate in candidates {
        if candidate.origins.overflow {
            return Err(unverifiable(
                "one of its object streams is listed in too many places",
            ));
        }
        for &origin in candidate.origins.as_slice() {
            if done.contains(&origin) || done_at.contains(&(origin, candidate.content_start)) {
                continue;
            }
            let (Some((id, _)), _) = header_at(buf, origin) else {
                continue;
            };
            let Some(Object::Stream(stream)) = parse_object(buf, &[(id, origin)], id)? else {
                done.insert(origin);
                continue;
            };
            // lopdf resolves an indirect /Length with its full table; here it
            // stays unresolved, so take everything up to the end of the file.
            let (content, exact) = if stream.start_position.is_some() {
                done_at.insert((origin, candidate.content_start));
                (
                    buf.get(candidate.content_start..).unwrap_or_default(),
                    false,
                )
            } else {
                done.insert(origin);
                (stream.content.as_slice(), true)
            };
            if !stream.dict.has_type(b"ObjStm") {
                continue;
            }
            let Some(filters) = stream_filters(&stream) else {
                continue;
            };
            let mut nest = Scanner::object_stream(object_stream_first(&stream));
            decode_stream(
                content,
                exact,
                &filters,
                decode_params(&stream),
                budget,
                false,
                Some(&mut nest),
            )?;
        }
    }
    Ok(())
}

/// An object stream's `/First`, as lopdf reads it.
fn object_stream_first(stream: &Stream) -> Option<usize> {
    let first = stream.dict.get(b"First").and_then(Object::as_i64).ok()?;
    usize::try_from(first).ok()
}

/// lopdf decrypts the object streams of an encrypted file (any stream that
/// compressed entries point to, whatever its /Type) and then decompresses
/// them; their encrypted bytes tell nothing. So derive the keys the way lopdf
/// does (empty user password), decrypt each object stream with lopdf's own
/// code and decompress the result against the budget.
fn check_encrypted_containers(
    buf: &[u8],
    xref: &CrossReferences,
    budget: &mut Budget,
) -> Result<(), PdfError> {
    let mut trailers: Vec<Dictionary> = xref.stream_dicts.clone();
    let mut unknown_trailer = false;
    for &pos in &xref.trailers {
        match parse_trailer(buf, pos)? {
            Some(dict) => trailers.push(dict),
            None => unknown_trailer = true,
        }
    }
    let claims_encryption = trailers.iter().any(|t| t.get(b"Encrypt").is_ok());
    if !claims_encryption && !unknown_trailer {
        return Ok(());
    }
    let mut offsets: BTreeMap<u32, Vec<(u16, usize)>> = BTreeMap::new();
    for &(num, generation, offset) in &xref.entries {
        offsets.entry(num).or_default().push((generation, offset));
    }
    let places = |(num, generation): ObjectId| -> Vec<usize> {
        offsets
            .get(&num)
            .map(|list| {
                list.iter()
                    .filter(|&&(g, _)| g == generation)
                    .map(|&(_, o)| o)
                    .collect()
            })
            .unwrap_or_default()
    };

    let mut states: Vec<EncryptionState> = Vec::new();
    for trailer in &trailers {
        let Ok(r) = trailer.get(b"Encrypt").and_then(Object::as_reference) else {
            continue;
        };
        for pos in places(r) {
            let Some(Object::Dictionary(encrypt)) = parse_object(buf, &[(r, pos)], r)? else {
                continue;
            };
            let state = guarded(|| {
                let mut document = Document::new();
                document.trailer = trailer.clone();
                document
                    .objects
                    .insert(r, Object::Dictionary(encrypt.clone()));
                document.authenticate_password("").ok()?;
                EncryptionState::decode(&document, "").ok()
            })?;
            states.extend(state);
        }
    }
    if states.is_empty() {
        // lopdf will not be able to decrypt (and then not decompress)
        // anything either: the file needs a password, or the checks could
        // not follow its encryption.
        return Err(if claims_encryption {
            PdfError::Broken {
                reason: PASSWORD_PROTECTED.to_owned(),
            }
        } else {
            unverifiable("its encryption could not be checked")
        });
    }

    // The object streams, with their data exactly as lopdf reads it.
    let mut streams: Vec<(ObjectId, Stream)> = Vec::new();
    for &c in &xref.containers {
        let id = (c, 0);
        for pos in places(id) {
            let Some(Object::Stream(stream)) = parse_object(buf, &[(id, pos)], id)? else {
                continue;
            };
            if stream.start_position.is_none() {
                streams.push((id, stream));
                continue;
            }
            let Ok(length) = stream.dict.get(b"Length").and_then(Object::as_reference) else {
                continue;
            };
            let length_places = places(length);
            if length_places.is_empty() {
                return Err(unverifiable(
                    "the length of one of its encrypted object streams cannot be found",
                ));
            }
            for lpos in length_places {
                if let Some(Object::Stream(stream)) =
                    parse_object(buf, &[(id, pos), (length, lpos)], id)?
                {
                    if stream.start_position.is_none() {
                        streams.push((id, stream));
                    }
                }
            }
        }
    }

    for (id, stream) in streams {
        // lopdf decompresses the raw bytes when decryption fails.
        let mut variants = vec![stream.clone()];
        for state in &states {
            let mut object = Object::Stream(stream.clone());
            if guarded(|| decrypt_object(state, id, &mut object))?.is_ok() {
                if let Object::Stream(decrypted) = object {
                    variants.push(decrypted);
                }
            }
        }
        for variant in variants {
            let Some(filters) = stream_filters(&variant) else {
                continue;
            };
            let mut nest = Scanner::object_stream(object_stream_first(&variant));
            decode_stream(
                &variant.content,
                true,
                &filters,
                decode_params(&variant),
                budget,
                false,
                Some(&mut nest),
            )?;
        }
    }
    Ok(())
}

/// Parses the dictionary after a `trailer` keyword with lopdf's parser.
fn parse_trailer(buf: &[u8], pos: usize) -> Result<Option<Dictionary>, PdfError> {
    let end = buf.len().min(pos.saturating_add(TRAILER_WINDOW));
    let mut wrapped = b"1 0 obj\n".to_vec();
    wrapped.extend_from_slice(buf.get(pos..end).unwrap_or_default());
    match parse_object(&wrapped, &[((1, 0), 0)], (1, 0))? {
        Some(Object::Dictionary(dict)) => Ok(Some(dict)),
        _ => Ok(None),
    }
}

// ---------------------------------------------------------------------------
// Step 6: lopdf

fn load(buf: &[u8], blanks: &[Blank]) -> Result<(PdfInfo, Document), PdfError> {
    struct Loaded {
        document: Document,
        version: String,
        encrypted: bool,
        decrypted: bool,
        pages: usize,
        signature_dict: bool,
    }
    let loaded = guarded(|| {
        read_without_stream_data(buf, blanks)
            .map_or_else(|| read_whole(buf), Ok)
            .map(|document| Loaded {
                version: document.version.trim().to_owned(),
                encrypted: document.trailer.get(b"Encrypt").is_ok(),
                decrypted: document.encryption_state.is_some(),
                pages: document.get_pages().len(),
                signature_dict: document.objects.values().any(|object| match object {
                    Object::Dictionary(dict) => dict.has(b"ByteRange"),
                    Object::Stream(stream) => stream.dict.has(b"ByteRange"),
                    _ => false,
                }),
                document,
            })
    })?
    .map_err(PdfError::damaged)?;
    if loaded.pages == 0 {
        return Err(PdfError::Broken {
            reason: if loaded.encrypted && !loaded.decrypted {
                PASSWORD_PROTECTED.to_owned()
            } else {
                "the PDF has no pages".to_owned()
            },
        });
    }
    let info = PdfInfo {
        pages: u32::try_from(loaded.pages).unwrap_or(u32::MAX),
        version: loaded.version,
        encrypted: loaded.encrypted,
        has_signatures: loaded.signature_dict || find_subslice(buf, b"/ByteRange").is_some(),
    };
    Ok((info, loaded.document))
}

/// lopdf's reading of `buf`, with the corrections of
/// [`newest_copies_of_misread_objects`] and [`objects_after_comments`]
/// (unencrypted files).
fn read_whole(buf: &[u8]) -> lopdf::Result<Document> {
    Document::load_mem(buf).map(|mut document| {
        if document.trailer.get(b"Encrypt").is_err() {
            newest_copies_of_misread_objects(buf, &mut document, &BTreeSet::new());
            objects_after_comments(&mut document);
        }
        document
    })
}

// ---------------------------------------------------------------------------
// Step 6, without copying stream data

/// Longest stream dictionary looked at (from the end of its object header).
const DICT_WINDOW: usize = 64 * 1024;
/// Nothing in the last bytes of the file is left out: lopdf looks for
/// `startxref` and `%%EOF` there.
const TAIL: usize = 1024;

/// lopdf copies the data of every stream it reads into the document, so a
/// whole-file read holds the file twice. Callers of [`open`] need the data
/// of object streams and cross-reference streams only (lopdf reads those
/// while loading); for the other streams an object and where its data is
/// are enough. A stream whose data is left out this way:
///
/// - reads back from [`open`] as a [`Stream`] with empty `content` and
///   `start_position` = where its data starts in the file (relative to the
///   `%PDF-` header), its dictionary exactly as lopdf reads it;
/// - has a `/Length` written as a number or as a reference;
/// - is read by lopdf, everything else equal, as a stream of exactly that
///   dictionary and data (checked after loading, else the whole file is
///   read again the usual way).
#[derive(Debug, Clone)]
struct Blank {
    /// Where the object's header starts, and its number.
    origin: usize,
    id: ObjectId,
    /// Where the text of the `/Length` value is.
    length_text: (usize, usize),
    length: BlankLength,
    /// Where the data starts, and where the bytes left out end (the data's
    /// end, or for an indirect length the next `endstream`).
    data: usize,
    left_out_end: usize,
}

#[derive(Debug, Clone, Copy)]
enum BlankLength {
    Direct(usize),
    Indirect(ObjectId),
}

/// `endstream` at `end`, after an optional end of line: what lopdf wants
/// after the data of a stream.
fn endstream_at(buf: &[u8], end: usize) -> bool {
    let rest = buf.get(end..).unwrap_or_default();
    let rest = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
        .or_else(|| rest.strip_prefix(b"\r"))
        .unwrap_or(rest);
    rest.starts_with(b"endstream")
}

/// The streams whose data [`read_without_stream_data`] leaves out.
///
/// Every place lopdf may start reading at is known (the offsets the
/// cross-reference entries give, the sections, the trailers, the header and
/// the end of the file), and lopdf reads forward from each. A stream is
/// left out only when nothing read from an earlier place can reach it
/// (the extent of each read is bounded from above with [`read_extent`]) and
/// no place lies inside it, so that only its own reading sees the bytes
/// that change: its /Length value and its data. Object streams,
/// cross-reference streams and streams whose /Length is neither a number
/// nor a reference keep their data. The work is bounded by a budget of a
/// few times the file's size; when it runs out, the streams after are read
/// whole.
fn plan_blanks(buf: &[u8], marks: &Marks, xref: &CrossReferences) -> Vec<Blank> {
    let origins: BTreeSet<usize> = xref.entries.iter().map(|&(_, _, o)| o).collect();
    let trailers: BTreeSet<usize> = xref.trailers.iter().copied().collect();
    let mut starts: Vec<usize> = origins.iter().copied().collect();
    starts.extend(marks.xref_offsets.iter().copied());
    starts.extend(trailers.iter().copied());
    starts.retain(|&p| p < buf.len());
    starts.sort_unstable();
    starts.dedup();
    let tail = buf.len().saturating_sub(TAIL);
    let mut budget = buf.len().saturating_mul(4).saturating_add(1 << 20);
    // How far the reads from the places so far may go: lopdf reads the
    // header line and the comment lines after it first.
    let mut reach = header_extent(buf);
    let mut last_search = None;
    let mut blanks = Vec::new();
    for (i, &p) in starts.iter().enumerate() {
        if reach >= buf.len() {
            break;
        }
        let next = starts.get(i + 1).copied().unwrap_or(buf.len());
        let stream = if origins.contains(&p) && !marks.xref_offsets.contains(&p) {
            planned_stream(buf, p, tail, &mut last_search, &mut budget)
        } else {
            None
        };
        match stream {
            Some(blank) if reach <= p && next >= blank.left_out_end => {
                reach = blank.left_out_end;
                blanks.push(blank);
            }
            _ => {
                let Some(end) = read_extent(buf, p, trailers.contains(&p), &mut budget) else {
                    break;
                };
                reach = reach.max(end);
            }
        }
    }
    blanks
}

/// How far lopdf reads at the start of the file: the header line and the
/// comment lines right after it (`header`), and the comment lines after
/// the first `\n` (`binary_mark`).
fn header_extent(buf: &[u8]) -> usize {
    let comments_from = |mut i: usize| {
        while buf.get(i) == Some(&b'%') {
            i = end_of_comment(buf, i);
        }
        i
    };
    let header = match buf.iter().position(|&c| c == b'\r' || c == b'\n') {
        Some(q) if buf.get(q..q + 2) == Some(b"\r\n") => q + 2,
        Some(q) => q + 1,
        None => buf.len(),
    };
    let mark = buf
        .iter()
        .position(|&c| c == b'\n')
        .map_or(buf.len(), |q| q + 1);
    comments_from(header).max(comments_from(mark))
}

/// The stream whose header starts at `origin`, planned as a [`Blank`], if
/// it can be one. The bytes left out stop before `tail`.
fn planned_stream(
    buf: &[u8],
    origin: usize,
    tail: usize,
    last_search: &mut Option<(usize, Option<usize>)>,
    budget: &mut usize,
) -> Option<Blank> {
    let (Some((id, after_header)), _) = header_at(buf, origin) else {
        return None;
    };
    let window = &buf[..buf.len().min(after_header + DICT_WINDOW)];
    let dict = super::lex::dict_at(window, after_header);
    *budget = budget.checked_sub(dict.as_ref().map_or(window.len(), |d| d.end) - after_header)?;
    let dict = dict?;
    if matches!(dict.name(buf, b"Type"), Some(b"ObjStm" | b"XRef")) {
        return None;
    }
    let keyword = skip_space(buf, dict.end);
    if !buf[keyword..].starts_with(b"stream") {
        return None;
    }
    let data = stream_data_start(buf, keyword + b"stream".len())?;
    let length_text = dict.span(buf, b"Length")?;
    let text = &buf[length_text.0..length_text.1];
    let (length, end) = if text.iter().all(u8::is_ascii_digit) {
        let n: usize = std::str::from_utf8(text).ok()?.parse().ok()?;
        let end = data.checked_add(n).filter(|&e| endstream_at(buf, e))?;
        (BlankLength::Direct(n), end)
    } else {
        let reference = read_reference(text)?;
        // Origins come in order, so each search goes on from the last.
        let found = match *last_search {
            Some((from, found)) if from <= data && found.is_none_or(|f| f >= data) => found,
            _ => super::lex::find(buf, data, b"endstream"),
        };
        *last_search = Some((data, found));
        (BlankLength::Indirect(reference), found?)
    };
    Some(Blank {
        origin,
        id,
        length_text,
        length,
        data,
        left_out_end: end.min(tail).max(data),
    })
}

/// How far (at most) what lopdf reads from `p` depends on the bytes there:
/// a cross-reference table and its trailer, a trailer dictionary (`p`
/// after its `trailer` keyword), or an object with a stream's data. `None`
/// when that cannot be bounded (or the budget runs out).
fn read_extent(buf: &[u8], p: usize, trailer: bool, budget: &mut usize) -> Option<usize> {
    let window = &buf[..buf.len().min(p.saturating_add(DICT_WINDOW))];
    let charge = |budget: &mut usize, end: Option<usize>| -> Option<usize> {
        *budget = budget.checked_sub(end.unwrap_or(window.len()).saturating_sub(p))?;
        end
    };
    if trailer {
        let end = super::lex::dict_at(window, p).map(|d| d.end);
        return charge(budget, end);
    }
    if buf[p..].starts_with(b"xref") {
        let at = read_xref_table(buf, p, &mut Vec::new())?;
        let end = super::lex::dict_at(&buf[..buf.len().min(at + DICT_WINDOW)], at).map(|d| d.end);
        return charge(budget, end);
    }
    let (header, read) = header_at(buf, p);
    let Some((_, after_header)) = header else {
        return Some(p + read);
    };
    let (start, end) = charge(
        budget,
        super::lex::value_span(window, after_header).map(|v| v.1),
    )
    .map(|end| (skip_space(buf, after_header), end))?;
    let keyword = skip_space(buf, end);
    if buf[start] != b'<' || !buf[keyword..].starts_with(b"stream") {
        return Some(end);
    }
    let Some(data) = stream_data_start(buf, keyword + b"stream".len()) else {
        return Some(keyword + b"stream".len() + 2);
    };
    // A stream's data, with the end of line and `endstream` after it.
    let dict = super::lex::dict_at(window, after_header)?;
    let n: usize = std::str::from_utf8(dict.get(buf, b"Length")?)
        .ok()?
        .parse()
        .ok()?;
    data.checked_add(n)?.checked_add(b"\r\nendstream".len())
}

/// `N G R` as the lexer delimits it.
fn read_reference(text: &[u8]) -> Option<ObjectId> {
    let mut words = text
        .split(|&c| super::lex::is_ws(c))
        .filter(|w| !w.is_empty());
    let num = std::str::from_utf8(words.next()?).ok()?.parse().ok()?;
    let generation = std::str::from_utf8(words.next()?).ok()?.parse().ok()?;
    (words.next()? == b"R" && words.next().is_none()).then_some((num, generation))
}

/// lopdf's reading of `buf` without the data of the [`Blank`] streams, or
/// `None` when that is not certain to equal [`read_whole`] but for those
/// streams' content (then the caller reads the whole file).
///
/// lopdf reads a copy of the file of the same length in which the data is
/// zero (a fresh zeroed allocation: untouched pages cost no memory) and
/// each such stream's /Length is an empty name, which lopdf cannot take as
/// a length, so it records where the data starts and copies nothing.
/// Afterwards each stream gets its /Length back, and what lopdf would have
/// read from the real file is checked: the length (resolved as lopdf does,
/// for a reference) followed by `endstream`.
fn read_without_stream_data(buf: &[u8], blanks: &[Blank]) -> Option<Document> {
    if blanks.is_empty() {
        return None;
    }
    let mut skeleton = vec![0u8; buf.len()];
    let mut from = 0;
    for blank in blanks {
        skeleton[from..blank.data].copy_from_slice(&buf[from..blank.data]);
        let (a, b) = blank.length_text;
        skeleton[a..b].fill(b' ');
        skeleton[a] = b'/';
        if blank.left_out_end > blank.data {
            // lopdf skips whitespace after the object, and zero is
            // whitespace to it: stop it at once.
            skeleton[blank.data] = b'x';
        }
        from = blank.left_out_end;
    }
    skeleton[from..].copy_from_slice(&buf[from..]);
    let mut document = Document::load_mem(&skeleton).ok()?;
    if document.trailer.get(b"Encrypt").is_ok() {
        return None;
    }
    let data_starts: BTreeSet<usize> = blanks.iter().map(|b| b.data).collect();
    newest_copies_of_misread_objects(&skeleton, &mut document, &data_starts);
    objects_after_comments(&mut document);
    drop(skeleton);
    restore_lengths(buf, &mut document, blanks).then_some(document)
}

/// Gives each stream read without its data its /Length back (as lopdf
/// does: the number of bytes, even where the file has a reference),
/// checking that lopdf would have found `endstream` after that many bytes
/// in `buf`.
fn restore_lengths(buf: &[u8], document: &mut Document, blanks: &[Blank]) -> bool {
    let by_data: BTreeMap<usize, &Blank> = blanks.iter().map(|b| (b.data, b)).collect();
    let by_origin: BTreeMap<usize, &Blank> = blanks.iter().map(|b| (b.origin, b)).collect();
    // lopdf reads objects only where entries of the table it built point
    // (also when it resolves a reference or is corrected): each such
    // object must have come out as a stream whose data starts where
    // planned, of a kind whose data lopdf does not need.
    for entry in document.reference_table.entries.values() {
        let XrefEntry::Normal { offset, .. } = *entry else {
            continue;
        };
        let Some(blank) = by_origin.get(&(offset as usize)) else {
            continue;
        };
        match document.objects.get(&blank.id) {
            Some(Object::Stream(stream))
                if stream.start_position == Some(blank.data)
                    && !stream.dict.has_type(b"ObjStm")
                    && !stream.dict.has_type(b"XRef") => {}
            _ => return false,
        }
    }
    // A reader over the real file, for indirect lengths only (it needs its
    // own copy of the table).
    let reader = blanks
        .iter()
        .any(|b| matches!(b.length, BlankLength::Indirect(_)))
        .then(|| {
            let mut table = Document::new();
            table.reference_table = document.reference_table.clone();
            Reader {
                buffer: buf,
                document: table,
                encryption_state: None,
                raw_objects: BTreeMap::new(),
            }
        });
    for object in document.objects.values_mut() {
        let Object::Stream(stream) = object else {
            continue;
        };
        let Some(blank) = stream.start_position.and_then(|p| by_data.get(&p)) else {
            continue;
        };
        if !stream.content.is_empty()
            || stream.dict.get(b"Length").ok() != Some(&Object::Name(Vec::new()))
        {
            return false;
        }
        let length = match blank.length {
            BlankLength::Direct(n) => n,
            BlankLength::Indirect(id) => {
                let resolved = reader
                    .as_ref()
                    .and_then(|r| r.get_object(id, &mut HashSet::new()).ok())
                    .and_then(|o| o.as_i64().ok())
                    .and_then(|n| usize::try_from(n).ok());
                let Some(n) = resolved else {
                    return false;
                };
                n
            }
        };
        let Some(end) = blank.data.checked_add(length) else {
            return false;
        };
        // The bytes left out must all be data (or the end of line before
        // `endstream`).
        if !endstream_at(buf, end) || blank.left_out_end > end + 2 {
            return false;
        }
        // lopdf writes the length it read into the dictionary.
        let Ok(value) = i64::try_from(length) else {
            return false;
        };
        stream.dict.set("Length", value);
    }
    true
}

/// lopdf files each object it reads under the number in the header it finds
/// there, not under the entry that sent it there, and where two entries lead
/// to copies of one object, the entry with the higher number wins. So an
/// entry whose offset lands on another object's header can bring back an
/// old copy: qpdf's zero-offset.pdf lists its object 6 at offset 0, where
/// lopdf skips the header comments and reads the first revision's `1 0 obj`,
/// which then hides the catalog of every later revision. For each object
/// read that way, keep the copy furthest into the file (the newest
/// revision's; in qpdf's good17.pdf, a hybrid file whose table and stream
/// lopdf merges in the wrong order, that is the copy lopdf kept). Every
/// offset read here is one lopdf parsed while loading, so the checks before
/// loading cover it.
fn newest_copies_of_misread_objects(
    buf: &[u8],
    document: &mut Document,
    blanked: &BTreeSet<usize>,
) {
    let mut copies: BTreeMap<ObjectId, usize> = BTreeMap::new();
    let mut misread = BTreeSet::new();
    for (&num, entry) in &document.reference_table.entries {
        if let XrefEntry::Normal { offset, generation } = *entry {
            if let (Some((id, _)), _) = header_at(buf, offset as usize) {
                let newest = copies.entry(id).or_insert(offset as usize);
                *newest = (*newest).max(offset as usize);
                if id != (num, generation) {
                    misread.insert(id);
                }
            }
        }
    }
    if misread.is_empty() {
        return;
    }
    let mut table = Document::new();
    table.reference_table = document.reference_table.clone();
    let mut reader = Reader {
        buffer: buf,
        document: table,
        encryption_state: None,
        raw_objects: BTreeMap::new(),
    };
    for id in misread {
        let Some(offset) = copies.get(&id).and_then(|&o| u32::try_from(o).ok()) else {
            continue;
        };
        reader.document.reference_table.insert(
            id.0,
            XrefEntry::Normal {
                offset,
                generation: id.1,
            },
        );
        match reader.get_object(id, &mut HashSet::new()) {
            // A stream whose data lopdf found only after loading everything
            // (an indirect /Length it could not resolve yet) is left as is;
            // not one whose data was left out of `buf` on purpose.
            Ok(Object::Stream(s))
                if s.content.is_empty()
                    && s.start_position.is_some_and(|p| !blanked.contains(&p)) => {}
            Ok(object) => {
                document.objects.insert(id, object);
            }
            Err(_) => {}
        }
        if let Some(entry) = document.reference_table.get(id.0) {
            reader.document.reference_table.insert(id.0, entry.clone());
        }
    }
}

/// An object in an object stream may be preceded by comments (qpdf's QDF
/// files put one before every object), but lopdf parses each object exactly
/// at its offset and drops the ones that start with a comment. Parses those
/// again with lopdf's parser, after the comments, each up to where the next
/// object of the stream starts. The object streams are the ones lopdf
/// decompressed while loading (already counted against the budget); the
/// nesting of what is parsed here is checked first.
fn objects_after_comments(document: &mut Document) {
    let mut containers: BTreeMap<u32, Vec<(u32, u16)>> = BTreeMap::new();
    for (&num, entry) in &document.reference_table.entries {
        if let XrefEntry::Compressed { container, index } = *entry {
            containers.entry(container).or_default().push((num, index));
        }
    }
    let mut found = Vec::new();
    for (container, members) in containers {
        let Some(Object::Stream(stream)) = document.objects.get(&(container, 0)) else {
            continue;
        };
        // Still compressed: lopdf could not decompress it.
        if stream.dict.get(b"Filter").is_ok() {
            continue;
        }
        let Some(first) = object_stream_first(stream) else {
            continue;
        };
        let (Some(index), Some(body)) = (stream.content.get(..first), stream.content.get(first..))
        else {
            continue;
        };
        if !body.contains(&b'%') {
            continue;
        }
        // The index as lopdf reads it: pairs of numbers.
        let numbers: Vec<Option<usize>> = String::from_utf8_lossy(index)
            .split_whitespace()
            .map(|n| n.parse().ok())
            .collect();
        let pairs: Vec<(Option<usize>, Option<usize>)> =
            numbers.chunks_exact(2).map(|p| (p[0], p[1])).collect();
        let mut starts: Vec<usize> = pairs.iter().filter_map(|p| p.1).collect();
        starts.sort_unstable();
        let parsed = lopdf::ObjectStream::new(&mut stream.clone())
            .map(|s| s.objects)
            .unwrap_or_default();
        for (num, index) in members {
            if parsed.contains_key(&(num, 0)) {
                continue;
            }
            // The entry's place in the index, if it names this object there.
            let Some(&(Some(n), Some(start))) = pairs.get(usize::from(index)) else {
                continue;
            };
            if n != num as usize {
                continue;
            }
            let end = starts
                .iter()
                .find(|&&s| s > start)
                .map_or(body.len(), |&s| s.min(body.len()));
            let Some(text) = body.get(start..end) else {
                continue;
            };
            if let Some(object) = parse_after_comments(num, text) {
                found.push(((num, 0), object));
            }
        }
    }
    document.objects.extend(found);
}

/// Parses `text` (an object from an object stream, comments before it
/// allowed) as the body of object `num` with lopdf's parser, if its nesting
/// is within bounds. Object streams hold no streams.
fn parse_after_comments(num: u32, text: &[u8]) -> Option<Object> {
    let mut wrapped = format!("{num} 0 obj").into_bytes();
    let at = wrapped.len();
    wrapped.push(b'\n');
    wrapped.extend_from_slice(text);
    wrapped.extend_from_slice(b"\nendobj\n");
    let mut nest = Scanner::file(vec![Anchor { at, origin: 0 }]);
    nest.scan_file(&wrapped);
    if nest.too_deep {
        return None;
    }
    match parse_object(&wrapped, &[((num, 0), 0)], (num, 0)) {
        Ok(Some(Object::Stream(_))) | Ok(None) | Err(_) => None,
        Ok(Some(object)) => Some(object),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prescan_finds_offsets_after_prev_xrefstm_and_startxref_among_binary_bytes() {
        let mut buf = Vec::new();
        // Bytes of every value around the keys, as in image data.
        let noise: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        buf.extend_from_slice(&noise);
        buf.extend_from_slice(b"<< /Prev 11 /P#72ev 12 /XRefStm %c\n 13 >>");
        buf.extend_from_slice(&noise);
        buf.extend_from_slice(b"/Sstartxref 14 startxref\n15");
        buf.extend_from_slice(&noise);
        let marks = prescan(&buf);
        for offset in 11..=15 {
            assert!(marks.xref_offsets.contains(&offset), "{offset}");
        }
        assert!(!marks.encrypt);
        buf.extend_from_slice(b"/#45ncrypt");
        assert!(prescan(&buf).encrypt);
    }
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, ZlibEncoder};
    use std::collections::HashMap;
    use std::io::Write;

    const MIB: usize = 1024 * 1024;

    fn limits(max_decompressed: usize) -> PdfLimits {
        PdfLimits {
            max_bytes: PdfLimits::default().max_bytes,
            max_decompressed,
        }
    }

    fn inspect_default(bytes: &[u8]) -> Result<PdfInfo, PdfError> {
        inspect(bytes, &PdfLimits::default())
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).expect("compress");
        e.finish().expect("compress")
    }

    /// zlib data inflating to `n` spaces, compressed chunk by chunk so the
    /// test never holds the inflated data.
    fn zlib_spaces(n: usize) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::best());
        let chunk = vec![b' '; MIB];
        let mut left = n;
        while left > 0 {
            let k = left.min(MIB);
            e.write_all(&chunk[..k]).expect("compress");
            left -= k;
        }
        e.finish().expect("compress")
    }

    /// zlib data inflating to `mib` MiB of spaces, built by repeating one
    /// deflate block: gigabytes of output from a few MB, built instantly.
    fn zlib_spaces_repeated(mib: usize) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::best());
        let chunk = vec![b' '; MIB];
        e.write_all(&chunk).expect("compress");
        e.flush().expect("flush");
        let first_len = e.get_ref().len();
        e.write_all(&chunk).expect("compress");
        e.flush().expect("flush");
        let raw = e.get_ref().clone();
        let (first, block) = raw.split_at(first_len);
        let mut out = vec![0x78, 0xda];
        out.extend_from_slice(first);
        for _ in 1..mib {
            out.extend_from_slice(block);
        }
        out.extend_from_slice(&[0x03, 0x00, 0, 0, 0, 0]); // final empty block; checksum not checked
        out
    }

    use crate::pdf::sample::classic_pdf;

    /// Catalog, page tree and `pages` pages: objects 1 to `pages + 2`.
    fn page_objects(pages: u32) -> Vec<Vec<u8>> {
        let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", i + 3)).collect();
        let mut objects = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            format!(
                "<< /Type /Pages /Kids [{}] /Count {pages} >>",
                kids.join(" ")
            )
            .into_bytes(),
        ];
        for _ in 0..pages {
            objects.push(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_vec());
        }
        objects
    }

    fn simple_pdf(pages: u32) -> Vec<u8> {
        classic_pdf("1.7", &page_objects(pages), "")
    }

    /// A stream object body.
    fn stream_body(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut body = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        body
    }

    /// An object stream body holding `objects` (numbered from `first_id`).
    fn objstm_data(objects: &[Vec<u8>], first_id: u32) -> (Vec<u8>, usize) {
        let mut index = String::new();
        let mut data = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            index.push_str(&format!("{} {} ", first_id as usize + i, data.len()));
            data.extend_from_slice(o);
            data.push(b'\n');
        }
        let mut out = index.into_bytes();
        let first = out.len();
        out.extend_from_slice(&data);
        (out, first)
    }

    /// A PDF 1.5 whose page objects live in a compressed object stream and
    /// whose cross-reference table is a compressed stream. `padding` is
    /// appended to the object stream's data before compression.
    fn objstm_pdf(pages: u32, padding: &[u8]) -> Vec<u8> {
        let objects = page_objects(pages);
        let n = objects.len() as u32;
        let (mut data, first) = objstm_data(&objects, 1);
        data.extend_from_slice(padding);
        objstm_file(n, &data, first)
    }

    /// A PDF 1.5 whose objects 1 to `n` are in one compressed object stream
    /// with `data` (its index being the first `first` bytes), and whose
    /// cross-reference table is a compressed stream.
    fn objstm_file(n: u32, data: &[u8], first: usize) -> Vec<u8> {
        let container = n + 1;
        let xref_id = n + 2;
        let mut out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let container_offset = out.len();
        out.extend_from_slice(format!("{container} 0 obj\n").as_bytes());
        out.extend_from_slice(&stream_body(
            &format!("/Type /ObjStm /N {n} /First {first} /Filter /FlateDecode"),
            &zlib(data),
        ));
        out.extend_from_slice(b"\nendobj\n");
        let xref_offset = out.len();
        let mut entries = vec![0u8, 0, 0, 0, 0, 0xff, 0xff];
        for i in 0..n {
            entries.push(2);
            entries.extend_from_slice(&container.to_be_bytes());
            entries.extend_from_slice(&(i as u16).to_be_bytes());
        }
        for offset in [container_offset, xref_offset] {
            entries.push(1);
            entries.extend_from_slice(&(offset as u32).to_be_bytes());
            entries.extend_from_slice(&[0, 0]);
        }
        out.extend_from_slice(format!("{xref_id} 0 obj\n").as_bytes());
        out.extend_from_slice(&stream_body(
            &format!(
                "/Type /XRef /Size {} /W [1 4 2] /Root 1 0 R /Filter /FlateDecode",
                xref_id + 1
            ),
            &zlib(&entries),
        ));
        out.extend_from_slice(format!("\nendobj\nstartxref\n{xref_offset}\n%%EOF\n").as_bytes());
        out
    }

    fn expect_broken(result: Result<PdfInfo, PdfError>) -> String {
        match result {
            Err(PdfError::Broken { reason }) => reason,
            other => panic!("expected Broken, got {other:?}"),
        }
    }

    fn expect_decompression_limit(result: Result<PdfInfo, PdfError>, limit: usize) {
        match result {
            Err(PdfError::DecompressionLimit { limit: l }) => assert_eq!(l, limit),
            other => panic!("expected DecompressionLimit, got {other:?}"),
        }
    }

    // --- valid files ---------------------------------------------------

    #[test]
    fn one_and_three_page_files_are_counted() {
        for pages in [1, 3] {
            let info = inspect_default(&simple_pdf(pages)).expect("valid PDF");
            assert_eq!(
                info,
                PdfInfo {
                    pages,
                    version: "1.7".into(),
                    encrypted: false,
                    has_signatures: false
                }
            );
        }
    }

    #[test]
    fn a_file_written_by_lopdf_is_accepted() {
        use lopdf::dictionary;
        let mut doc = Document::with_version("1.6");
        let pages_id = doc.new_object_id();
        let kids: Vec<Object> = (0..3)
            .map(|_| {
                doc.add_object(dictionary! {
                    "Type" => "Page",
                    "Parent" => pages_id,
                    "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                })
                .into()
            })
            .collect();
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => 3 }),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).expect("save");
        let info = inspect_default(&bytes).expect("valid PDF");
        assert_eq!((info.pages, info.version.as_str()), (3, "1.6"));
    }

    #[test]
    fn object_streams_and_xref_streams_are_read() {
        let info = inspect_default(&objstm_pdf(3, b"")).expect("valid PDF");
        assert_eq!((info.pages, info.version.as_str()), (3, "1.5"));
    }

    #[test]
    fn comments_before_the_objects_of_an_object_stream_are_skipped() {
        // As in qpdf's QDF files: a comment where each offset points, and
        // two numbers with no space between them ("no-space-compressed-object").
        let mut objects = page_objects(1);
        objects.push(b"1234".to_vec());
        objects.push(b"5678".to_vec());
        let mut index = String::new();
        let mut body = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            index.push_str(&format!("{} {} ", i + 1, body.len()));
            if i < 3 {
                body.extend_from_slice(format!("%% object {}\n", i + 1).as_bytes());
            }
            body.extend_from_slice(o);
        }
        let mut data = index.into_bytes();
        let first = data.len();
        data.extend_from_slice(&body);
        let bytes = objstm_file(objects.len() as u32, &data, first);
        assert!(
            Document::load_mem(&bytes)
                .expect("lopdf loads it")
                .get_pages()
                .is_empty(),
            "lopdf alone drops the objects after comments"
        );
        let (info, doc) = open(&bytes, &PdfLimits::default()).expect("read");
        assert_eq!(info.pages, 1);
        assert_eq!(
            doc.catalog().and_then(|c| c.get(b"Pages")).ok(),
            Some(&Object::Reference((2, 0)))
        );
        // lopdf's own reading of the objects it could parse is kept.
        assert_eq!(
            doc.get_object((4, 0)).ok(),
            Some(&Object::Integer(12345678))
        );
        assert_eq!(doc.get_object((5, 0)).ok(), Some(&Object::Integer(5678)));
    }

    #[test]
    fn an_entry_pointing_at_another_objects_header_does_not_replace_it() {
        // Object 4 is listed at offset 0 (as in qpdf's zero-offset.pdf):
        // lopdf reads "1 0 obj" there after the header comments. A later
        // revision replaces the catalog; the entry for 4 must not bring the
        // first one back.
        let mut objects = page_objects(1);
        objects.push(b"null".to_vec());
        let mut bytes = classic_pdf("1.7", &objects, "");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let entry4 = text.rfind(" 00000 n \n").expect("entry 4") - 10;
        bytes[entry4..entry4 + 10].copy_from_slice(b"0000000000");
        let prev = text.rfind("startxref\n").expect("startxref") + 10;
        let prev: usize = text[prev..]
            .lines()
            .next()
            .expect("n")
            .parse()
            .expect("offset");
        let at = bytes.len();
        bytes.extend_from_slice(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R /Lang (vi) >>\nendobj\n");
        let xref = bytes.len();
        bytes.extend_from_slice(
            format!(
                "xref\n1 1\n{at:010} 00000 n \ntrailer\n<< /Size 5 /Root 1 0 R /Prev {prev} >>\nstartxref\n{xref}\n%%EOF\n"
            )
            .as_bytes(),
        );
        let (_, doc) = open(&bytes, &PdfLimits::default()).expect("read");
        let catalog = doc.catalog().expect("catalog");
        assert!(catalog.has(b"Lang"), "the newest catalog: {catalog:?}");
    }

    #[test]
    fn an_entry_pointing_at_a_newer_copy_keeps_it() {
        // As in qpdf's good17.pdf: the entry for 1 leads to the first
        // revision's catalog, another entry (4) to the newer one.
        let mut objects = page_objects(1);
        objects.push(b"null".to_vec());
        let mut bytes = classic_pdf("1.7", &objects, "");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let prev = text.rfind("startxref\n").expect("startxref") + 10;
        let prev: usize = text[prev..]
            .lines()
            .next()
            .expect("n")
            .parse()
            .expect("offset");
        let at = bytes.len();
        bytes.extend_from_slice(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R /Lang (vi) >>\nendobj\n");
        let xref = bytes.len();
        bytes.extend_from_slice(
            format!(
                "xref\n4 1\n{at:010} 00000 n \ntrailer\n<< /Size 5 /Root 1 0 R /Prev {prev} >>\nstartxref\n{xref}\n%%EOF\n"
            )
            .as_bytes(),
        );
        let (_, doc) = open(&bytes, &PdfLimits::default()).expect("read");
        let catalog = doc.catalog().expect("catalog");
        assert!(catalog.has(b"Lang"), "the newest catalog: {catalog:?}");
    }

    #[test]
    fn junk_before_the_header_within_1024_bytes_is_tolerated() {
        let mut bytes = vec![b'x'; 1000];
        bytes.extend_from_slice(&simple_pdf(2));
        assert_eq!(inspect_default(&bytes).expect("valid").pages, 2);
    }

    #[test]
    fn signatures_are_noticed() {
        let mut objects = page_objects(1);
        objects.push(b"<< /Type /Sig /ByteRange [0 10 20 30] /Contents <00> >>".to_vec());
        let info = inspect_default(&classic_pdf("1.7", &objects, "")).expect("valid");
        assert!(info.has_signatures);
    }

    // --- not PDFs, broken PDFs, limits ---------------------------------

    #[test]
    fn empty_and_text_files_are_not_pdfs() {
        assert!(matches!(inspect_default(b""), Err(PdfError::NotPdf)));
        assert!(matches!(
            inspect_default("Công văn số 12/UBND, không phải PDF".as_bytes()),
            Err(PdfError::NotPdf)
        ));
        let mut late = vec![b' '; 1024];
        late.extend_from_slice(&simple_pdf(1));
        assert!(matches!(inspect_default(&late), Err(PdfError::NotPdf)));
    }

    #[test]
    fn truncated_and_garbage_files_are_broken() {
        let whole = simple_pdf(2);
        for cut in [20, whole.len() / 2, whole.len() - 30] {
            let reason = expect_broken(inspect_default(&whole[..cut]));
            assert!(
                reason.starts_with("the PDF is damaged and cannot be read: "),
                "{reason}"
            );
        }
        let mut garbage = b"%PDF-1.7\n".to_vec();
        let mut x: u32 = 12345;
        garbage.extend((0..100_000).map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        }));
        expect_broken(inspect_default(&garbage));
        expect_broken(inspect_default(b"%PDF-1.4"));
    }

    #[test]
    fn a_file_without_pages_is_broken() {
        let objects = vec![
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [] /Count 0 >>".to_vec(),
        ];
        let reason = expect_broken(inspect_default(&classic_pdf("1.7", &objects, "")));
        assert_eq!(reason, "the PDF has no pages");
    }

    #[test]
    fn files_over_the_size_limit_are_too_large() {
        let bytes = simple_pdf(1);
        let small = PdfLimits {
            max_bytes: 100,
            max_decompressed: MIB,
        };
        match inspect(&bytes, &small) {
            Err(PdfError::TooLarge { size, limit }) => {
                assert_eq!((size, limit), (bytes.len(), 100))
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // The size check comes first, even for non-PDFs.
        assert!(matches!(
            inspect(&[b'x'; 101], &small),
            Err(PdfError::TooLarge { .. })
        ));
    }

    // --- decompression bombs -------------------------------------------

    /// A valid one-page PDF plus an object stream inflating to `data`.
    fn pdf_with_objstm(dict_prefix: &str, compressed: &[u8]) -> Vec<u8> {
        let mut objects = page_objects(1);
        objects.push(stream_body(
            &format!("{dict_prefix} /Type /ObjStm /N 0 /First 0 /Filter /FlateDecode"),
            compressed,
        ));
        classic_pdf("1.5", &objects, "")
    }

    /// How long lopdf's copy of object `num` ends up when it loads the file
    /// (object streams are left decompressed).
    fn lopdf_inflated_len(bytes: &[u8], num: u32) -> usize {
        let doc = Document::load_mem(bytes).expect("lopdf loads it");
        match doc.get_object((num, 0)) {
            Ok(Object::Stream(s)) => s.content.len(),
            other => panic!("object {num}: {other:?}"),
        }
    }

    #[test]
    fn an_object_stream_bomb_hits_the_decompression_limit() {
        let bytes = pdf_with_objstm("", &zlib_spaces(10 * MIB));
        assert_eq!(lopdf_inflated_len(&bytes, 4), 10 * MIB, "lopdf inflates it");
        assert!(
            bytes.len() < 100 * 1024,
            "the bomb is small: {}",
            bytes.len()
        );
        expect_decompression_limit(inspect(&bytes, &limits(MIB)), MIB);
        // Within a large enough limit the same file is fine.
        assert_eq!(
            inspect(&bytes, &limits(11 * MIB)).expect("accepted").pages,
            1
        );
    }

    /// Peak resident memory of this process, in bytes (Linux only).
    fn peak_rss() -> Option<usize> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    #[test]
    fn a_gigabyte_bomb_is_stopped_without_inflating_it_in_memory() {
        // 4 GiB of spaces from a ~4 MB file, in an object stream and in the
        // cross-reference stream.
        let data = zlib_spaces_repeated(4096);
        let objstm = pdf_with_objstm("", &data);
        let mut xref = b"%PDF-1.5\n".to_vec();
        let offset = xref.len();
        xref.extend_from_slice(b"1 0 obj\n");
        xref.extend_from_slice(&stream_body(
            "/Type /XRef /Size 2 /W [1 2 1] /Filter /FlateDecode",
            &data,
        ));
        xref.extend_from_slice(format!("\nendobj\nstartxref\n{offset}\n%%EOF\n").as_bytes());
        let limit = 64 * MIB;
        expect_decompression_limit(inspect(&objstm, &limits(limit)), limit);
        expect_decompression_limit(inspect(&xref, &limits(limit)), limit);
        expect_decompression_limit(
            inspect(&xref, &PdfLimits::default()),
            PdfLimits::default().max_decompressed,
        );
        if let Some(peak) = peak_rss() {
            assert!(peak < 1024 * MIB, "peak memory {} MiB", peak / MIB);
        }
    }

    #[test]
    fn a_bomb_is_found_whatever_its_dictionary_looks_like() {
        let bomb = zlib_spaces(10 * MIB);
        // Escaped names, a fake keyword and object header in a string, a
        // comment, and a stream at the startxref offset without /Type.
        let hidden = |dict: &str| {
            let mut objects = page_objects(1);
            objects.push(stream_body(dict, &bomb));
            classic_pdf("1.5", &objects, "")
        };
        for dict in [
            "/Type /Obj#53tm /Filter /Flate#44ecode /N 0 /First 0",
            "/Type /ObjStm /X (stream 5 0 obj endobj \\) \\( [[[ (nested)) /Filter /FlateDecode /N 0 /First 0",
            "/Type %comment /Filter\n/ObjStm /Filter [/FlateDecode] /N 0 /First 0",
            "/Filter /FlateDecode /N 0 /First 0 /Type /ObjStm /DecodeParms << /Filter /LZWDecode >>",
        ] {
            let bytes = hidden(dict);
            assert_eq!(
                lopdf_inflated_len(&bytes, 4),
                10 * MIB,
                "{dict}: lopdf inflates it"
            );
            match inspect(&bytes, &limits(MIB)) {
                Err(PdfError::DecompressionLimit { limit }) => assert_eq!(limit, MIB),
                other => panic!("{dict}: expected DecompressionLimit, got {other:?}"),
            }
        }
        let mut untyped = b"%PDF-1.5\n".to_vec();
        let offset = untyped.len();
        untyped.extend_from_slice(b"7 0 obj\n");
        untyped.extend_from_slice(&stream_body("/Filter /FlateDecode /Size 8", &bomb));
        untyped.extend_from_slice(format!("\nendobj\nstartxref\n{offset}\n%%EOF\n").as_bytes());
        expect_decompression_limit(inspect(&untyped, &limits(MIB)), MIB);
    }

    #[test]
    fn chained_filters_count_every_stage() {
        // Flate of Flate: the inner stream alone is small.
        let inner = zlib_spaces(10 * MIB);
        let outer = zlib(&inner);
        let mut objects = page_objects(1);
        objects.push(stream_body(
            "/Type /ObjStm /N 0 /First 0 /Filter [/FlateDecode /FlateDecode]",
            &outer,
        ));
        let bytes = classic_pdf("1.5", &objects, "");
        expect_decompression_limit(inspect(&bytes, &limits(MIB)), MIB);
    }

    /// MSB-first bit writer for LZW test data.
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }

    impl Bits {
        fn new() -> Self {
            Bits {
                out: Vec::new(),
                acc: 0,
                n: 0,
            }
        }
        fn put(&mut self, code: usize, size: u32) {
            self.acc = (self.acc << size) | code as u64;
            self.n += size;
            while self.n >= 8 {
                self.n -= 8;
                self.out.push((self.acc >> self.n) as u8);
            }
        }
        fn finish(mut self) -> Vec<u8> {
            if self.n > 0 {
                self.out.push((self.acc << (8 - self.n)) as u8);
            }
            self.out
        }
    }

    /// An LZW code stream: `choose(next)` picks each code in `0..=next`
    /// (`None` ends the table with a clear code). Widths follow the PDF
    /// early-change rule.
    fn lzw_codes(rounds: usize, mut choose: impl FnMut(usize) -> Option<usize>) -> Vec<u8> {
        let mut bits = Bits::new();
        for _ in 0..rounds {
            bits.put(256, 9);
            let mut next = 258usize;
            let mut size = 9u32;
            let mut first = true;
            loop {
                let code = if first {
                    choose(255)
                } else {
                    choose(next.min(4095))
                };
                let Some(code) = code else { break };
                // Clear and end-of-data codes only where intended.
                let code = if code == 256 || code == 257 { 0 } else { code };
                bits.put(code, size);
                if !first && next < 4096 {
                    if next + 2 >= (1 << size) && size < 12 {
                        size += 1;
                    }
                    next += 1;
                }
                first = false;
            }
            bits.put(256, size);
        }
        let mut out = bits.finish();
        out.push(0);
        out
    }

    fn lopdf_decode(filter: &str, data: &[u8]) -> Vec<u8> {
        use lopdf::dictionary;
        Stream::new(dictionary! { "Filter" => filter }, data.to_vec())
            .decompressed_content()
            .unwrap_or_default()
    }

    fn our_decode(filter: &str, data: &[u8]) -> Vec<u8> {
        let mut budget = Budget::new(usize::MAX, 0);
        decode_stream(
            data,
            true,
            &[filter.as_bytes().to_vec()],
            None,
            &mut budget,
            true,
            None,
        )
        .expect("decode")
        .data
        .unwrap_or_default()
    }

    #[test]
    fn lzw_and_ascii85_decode_exactly_like_lopdf() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rand = move |bound: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % (bound as u64 + 1)) as usize
        };
        for round in 0..20 {
            let mut remaining = 500 + round * 400;
            let data = lzw_codes(1 + round % 3, |next| {
                remaining = remaining.checked_sub(1)?;
                // Mostly valid codes, sometimes the newest ones.
                Some(if rand(3) == 0 { next } else { rand(next) })
            });
            let ours = our_decode("LZWDecode", &data);
            assert!(ours.len() > 400, "round {round}: only {} bytes", ours.len());
            assert_eq!(ours, lopdf_decode("LZWDecode", &data), "round {round}");
        }
        for sample in [
            &b"87cURD]i,\"Ebo80~>"[..],
            b"z!!!!!z~>",
            b"<~9jqo^BlbD-BleB1DJ+*+F(f,q/0JhKF<GL>Cj@.4Gp$d7F!,L7@<6@)/0JDEF<G%<+EV:2F!,O<DJ+*.@<*K0@<6L(Df-\\0Ec5e;DffZ(EZee.Bl.9pF\"AGXBPCsi+DGm>@3BB/F*&OCAfu2/AKYi(DIb:@FD,*)+C]U=@3BN#EcYf8ATD3s@q?d$AftVqCh[NqF<G:8+EV:.+Cf>-FD5W8ARlolDIal(DId<j@<?3r@:F%a+D58'ATD4$Bl@l3De:,-DJs`8ARoFb/0JMK@qB4^F!,R<AKZ&-DfTqBG%G>uD.RTpAKYo'+CT/5+Cei#DII?(E,9)oF*2M7/c~>",
            b"abc\xffdef",
            b"!!!!z",
        ] {
            assert_eq!(our_decode("ASCII85Decode", sample), lopdf_decode("ASCII85Decode", sample));
        }
    }

    #[test]
    fn an_lzw_bomb_hits_the_decompression_limit() {
        // Each code repeats the previous string plus one byte.
        let data = lzw_codes(8, {
            let mut n = 0usize;
            move |next| {
                n += 1;
                if n % 3839 == 0 {
                    return None;
                }
                Some(if next == 255 { usize::from(b' ') } else { next })
            }
        });
        assert!(data.len() < 64 * 1024);
        assert!(our_decode("LZWDecode", &data).len() > 50 * MIB);
        let mut objects = page_objects(1);
        objects.push(stream_body(
            "/Type /ObjStm /N 0 /First 0 /Filter /LZWDecode",
            &data,
        ));
        expect_decompression_limit(
            inspect(&classic_pdf("1.5", &objects, ""), &limits(MIB)),
            MIB,
        );
    }

    // --- structures that would crash or exhaust the reader -------------

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn deep_nesting_is_refused_instead_of_overflowing_the_stack() {
        let mut objects = page_objects(1);
        objects.push(format!("<< /Deep {} >>", nested(100_000)).into_bytes());
        let reason = expect_broken(inspect_default(&classic_pdf("1.7", &objects, "")));
        assert!(reason.contains("nested more than 256 levels"), "{reason}");
        // Dictionaries too, and unterminated.
        let mut objects = page_objects(1);
        objects.push("<< /A ".repeat(10_000).into_bytes());
        expect_broken(inspect_default(&classic_pdf("1.7", &objects, "")));
        // Moderate nesting is fine; brackets inside strings do not count.
        let mut objects = page_objects(1);
        objects.push(format!("<< /Ok {} /S ({}) >>", nested(200), "[".repeat(5000)).into_bytes());
        assert_eq!(
            inspect_default(&classic_pdf("1.7", &objects, ""))
                .expect("valid")
                .pages,
            1
        );
    }

    #[test]
    fn deep_nesting_in_trailers_and_cross_reference_streams_is_refused() {
        let deep = format!("/Deep {}", nested(100_000));
        let reason = expect_broken(inspect_default(&classic_pdf(
            "1.7",
            &page_objects(1),
            &deep,
        )));
        assert!(reason.contains("nested more than 256 levels"), "{reason}");
        let reason = expect_broken(inspect_default(&xref_stream_pdf(
            &format!("/Type /XRef /Size 2 /W [1 2 1] {deep}"),
            &[0; 8],
        )));
        assert!(reason.contains("nested more than 256 levels"), "{reason}");
    }

    #[test]
    fn brackets_in_raw_stream_data_do_not_count_as_nesting() {
        // E.g. an uncompressed grey image whose pixels are 0x5B, '['.
        let mut objects = page_objects(1);
        let pixels = vec![b'['; 100_000];
        objects.push(stream_body(
            "/Type /XObject /Subtype /Image /Width 1000 /Height 100 /ColorSpace /DeviceGray /BitsPerComponent 8",
            &pixels,
        ));
        objects.push(stream_body("", "<<".repeat(50_000).as_bytes()));
        let info = inspect_default(&classic_pdf("1.7", &objects, "")).expect("valid");
        assert_eq!(info.pages, 1);
    }

    #[test]
    fn deep_nesting_inside_an_object_stream_is_refused() {
        let deep = format!("<< /Deep {} >>\n", nested(50_000));
        let reason = expect_broken(inspect_default(&objstm_pdf(1, deep.as_bytes())));
        assert!(reason.contains("nested more than 256 levels"), "{reason}");
    }

    fn xref_stream_pdf(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"%PDF-1.5\n".to_vec();
        let offset = out.len();
        out.extend_from_slice(b"1 0 obj\n");
        out.extend_from_slice(&stream_body(dict, data));
        out.extend_from_slice(format!("\nendobj\nstartxref\n{offset}\n%%EOF\n").as_bytes());
        out
    }

    #[test]
    fn absurd_cross_reference_stream_layouts_are_refused() {
        // A field width lopdf would allocate 100 GB for.
        expect_broken(inspect_default(&xref_stream_pdf(
            "/Type /XRef /Size 2 /W [1 100000000000 1]",
            &[0; 8],
        )));
        // Zero-width entries: lopdf would insert four billion of them.
        let reason = expect_broken(inspect_default(&xref_stream_pdf(
            "/Type /XRef /Size 2 /W [0 0 0] /Index [0 4000000000]",
            b"",
        )));
        assert!(reason.contains("more than 4000000 objects"), "{reason}");
        // A predictor row lopdf would allocate 8 GB for.
        let pdf = xref_stream_pdf(
            "/Type /XRef /Size 2 /W [1 2 1] /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 4000000000 >>",
            &zlib(&[0; 16]),
        );
        expect_decompression_limit(inspect_default(&pdf), PdfLimits::default().max_decompressed);
    }

    // --- encryption ----------------------------------------------------

    /// Writes simple objects the way a PDF does (strings as hex).
    fn write_object(o: &Object) -> String {
        match o {
            Object::Null => "null".into(),
            Object::Boolean(b) => b.to_string(),
            Object::Integer(i) => i.to_string(),
            Object::Real(r) => r.to_string(),
            Object::Name(n) => format!("/{}", String::from_utf8_lossy(n)),
            Object::String(s, _) => format!("<{}>", hex::encode(s)),
            Object::Array(a) => format!(
                "[{}]",
                a.iter().map(write_object).collect::<Vec<_>>().join(" ")
            ),
            Object::Dictionary(d) => format!(
                "<< {} >>",
                d.iter()
                    .map(|(k, v)| format!("/{} {}", String::from_utf8_lossy(k), write_object(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Object::Reference((n, g)) => format!("{n} {g} R"),
            Object::Stream(_) => unreachable!("no streams here"),
        }
    }

    /// An RC4-encrypted PDF 1.5 (user password `user_password`) whose page
    /// objects live in an encrypted object stream with `padding` appended.
    fn encrypted_objstm_pdf(user_password: &str, padding: &[u8]) -> Vec<u8> {
        use lopdf::{EncryptionVersion, Permissions, StringFormat};
        let id = Object::String(b"0123456789abcdef".to_vec(), StringFormat::Hexadecimal);
        let mut doc = Document::with_version("1.5");
        doc.trailer.set("ID", vec![id.clone(), id.clone()]);
        let state = EncryptionState::try_from(EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner",
            user_password,
            key_length: 128,
            permissions: Permissions::default(),
        })
        .expect("encryption state");
        let encrypt = state.encode().expect("encrypt dictionary");

        let objects = page_objects(1);
        let n = objects.len() as u32;
        let (mut data, first) = objstm_data(&objects, 1);
        data.extend_from_slice(padding);
        let (container, encrypt_id, xref_id) = (n + 1, n + 2, n + 3);
        let mut dict = Dictionary::new();
        dict.set("Type", "ObjStm");
        dict.set("N", i64::from(n));
        dict.set("First", first as i64);
        dict.set("Filter", "FlateDecode");
        let mut stream = Object::Stream(Stream::new(dict, zlib(&data)));
        lopdf::encryption::encrypt_object(&state, (container, 0), &mut stream).expect("encrypt");
        let Object::Stream(stream) = stream else {
            unreachable!()
        };

        let mut out = b"%PDF-1.5\n".to_vec();
        let container_offset = out.len();
        out.extend_from_slice(format!("{container} 0 obj\n").as_bytes());
        out.extend_from_slice(&stream_body(
            &format!("/Type /ObjStm /N {n} /First {first} /Filter /FlateDecode"),
            &stream.content,
        ));
        out.extend_from_slice(b"\nendobj\n");
        let encrypt_offset = out.len();
        out.extend_from_slice(
            format!(
                "{encrypt_id} 0 obj\n{}\nendobj\n",
                write_object(&Object::Dictionary(encrypt))
            )
            .as_bytes(),
        );
        let xref_offset = out.len();
        let mut entries = vec![0u8, 0, 0, 0, 0, 0xff, 0xff];
        for i in 0..n {
            entries.push(2);
            entries.extend_from_slice(&container.to_be_bytes());
            entries.extend_from_slice(&(i as u16).to_be_bytes());
        }
        for offset in [container_offset, encrypt_offset, xref_offset] {
            entries.push(1);
            entries.extend_from_slice(&(offset as u32).to_be_bytes());
            entries.extend_from_slice(&[0, 0]);
        }
        out.extend_from_slice(format!("{xref_id} 0 obj\n").as_bytes());
        out.extend_from_slice(&stream_body(
            &format!(
                "/Type /XRef /Size {} /W [1 4 2] /Root 1 0 R /Encrypt {encrypt_id} 0 R /ID [{} {}]",
                xref_id + 1,
                write_object(&id),
                write_object(&id)
            ),
            &entries,
        ));
        out.extend_from_slice(format!("\nendobj\nstartxref\n{xref_offset}\n%%EOF\n").as_bytes());
        out
    }

    #[test]
    fn encrypted_files_with_an_empty_user_password_are_read() {
        let info = inspect_default(&encrypted_objstm_pdf("", b"")).expect("readable");
        assert_eq!(info.pages, 1);
        assert!(info.encrypted);
    }

    #[test]
    fn encrypted_files_needing_a_password_are_refused() {
        let reason = expect_broken(inspect_default(&encrypted_objstm_pdf("secret", b"")));
        assert_eq!(
            reason,
            "the PDF is protected by a password and cannot be read"
        );
    }

    #[test]
    fn a_bomb_in_an_encrypted_object_stream_is_found() {
        // lopdf decrypts the object stream, then inflates it without limit.
        let padding = vec![b' '; 10 * MIB];
        let bytes = encrypted_objstm_pdf("", &padding);
        assert!(bytes.len() < 100 * 1024);
        expect_decompression_limit(inspect(&bytes, &limits(MIB)), MIB);
        assert_eq!(
            inspect(&bytes, &limits(12 * MIB)).expect("accepted").pages,
            1
        );
        // Deep nesting hidden the same way.
        let deep = format!("<< /Deep {} >>", nested(50_000));
        expect_broken(inspect_default(&encrypted_objstm_pdf("", deep.as_bytes())));
    }

    #[test]
    fn a_file_encrypted_by_lopdf_is_read() {
        use lopdf::{EncryptionVersion, Permissions, StringFormat};
        let mut doc = Document::load_mem(&simple_pdf(2)).expect("load");
        let id = Object::String(b"fedcba9876543210".to_vec(), StringFormat::Literal);
        doc.trailer.set("ID", vec![id.clone(), id]);
        let state = EncryptionState::try_from(EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner",
            user_password: "",
            key_length: 128,
            permissions: Permissions::default(),
        })
        .expect("state");
        doc.encrypt(&state).expect("encrypt");
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).expect("save");
        let info = inspect_default(&bytes).expect("readable");
        assert_eq!((info.pages, info.encrypted), (2, true));
    }

    // --- reading without stream data ------------------------------------

    /// lopdf's own reading of `bytes` (with the intake's corrections).
    fn read_whole_of(bytes: &[u8]) -> Document {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(READER_STACK)
                .spawn_scoped(scope, || read_whole(body(bytes)).expect("lopdf reads it"))
                .expect("thread")
                .join()
                .expect("lopdf does not panic")
        })
    }

    /// `lazy`, read by [`open`] from `bytes`, is lopdf's reading `whole`
    /// but for the content of the streams read without their data, which
    /// [`stream_data`] gives back. Returns how many streams those are.
    fn assert_same_but_data(name: &str, bytes: &[u8], lazy: &Document, whole: &Document) -> usize {
        assert_eq!(lazy.trailer, whole.trailer, "{name}: trailer");
        assert_eq!(
            lazy.objects.keys().collect::<Vec<_>>(),
            whole.objects.keys().collect::<Vec<_>>(),
            "{name}: object numbers"
        );
        let mut left_out = 0;
        for (id, expected) in &whole.objects {
            let got = &lazy.objects[id];
            if let (Object::Stream(l), Object::Stream(w)) = (got, expected)
                && got != expected
            {
                assert!(
                    l.content.is_empty() && l.start_position.is_some(),
                    "{name}: {id:?}"
                );
                assert_eq!(l.dict, w.dict, "{name}: dictionary of {id:?}");
                let data = stream_data(bytes, lazy, l).expect("the data is found");
                assert!(data == w.content.as_slice(), "{name}: data of {id:?}");
                left_out += 1;
            } else {
                assert_eq!(got, expected, "{name}: {id:?}");
            }
        }
        left_out
    }

    /// A PDF 1.7 of `objects` (the text after the header) with a table
    /// listing each of `ids` at the first `\n{id} 0 obj` in it.
    fn with_table(objects: &[u8], ids: std::ops::RangeInclusive<u32>) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
        out.extend_from_slice(objects);
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", ids.end() + 1).as_bytes(),
        );
        for id in ids.clone() {
            let header = format!("\n{id} 0 obj");
            let at = find_subslice(&out, header.as_bytes()).expect("header") + 1;
            out.extend_from_slice(format!("{at:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                ids.end() + 1
            )
            .as_bytes(),
        );
        out
    }

    /// Bytes that look like PDF syntax inside stream data: whitespace,
    /// delimiters, keywords.
    fn noisy_data(n: usize) -> Vec<u8> {
        let pattern = b" endobj\r\n<< >> ( ] % endstream0 0 R\x00\xff/Name ";
        pattern.iter().copied().cycle().take(n).collect()
    }

    fn open_default(bytes: &[u8]) -> Document {
        open(bytes, &PdfLimits::default()).expect("accepted").1
    }

    #[test]
    fn streams_are_read_without_their_data_and_give_it_back() {
        let big = noisy_data(200_000);
        let mut objects = b"\n".to_vec();
        for (i, body) in page_objects(1).iter().enumerate() {
            objects.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            objects.extend_from_slice(body);
            objects.extend_from_slice(b"\nendobj\n");
        }
        // 4: direct length; 5: indirect length (6); 7: a tiny stream.
        objects.extend_from_slice(b"4 0 obj\n");
        objects.extend_from_slice(&stream_body("/Subtype /Image", &big));
        objects.extend_from_slice(b"\nendobj\n5 0 obj\n<< /Length 6 0 R >>\r\nstream\r\n");
        objects.extend_from_slice(&big[..1000]);
        objects.extend_from_slice(b"\r\nendstream\nendobj\n6 0 obj\n1000\nendobj\n");
        objects.extend_from_slice(b"7 0 obj\n<</Length 2>>stream\nq\n\nendstream\nendobj\n");
        let bytes = with_table(&objects, 1..=7);
        let lazy = open_default(&bytes);
        let whole = read_whole_of(&bytes);
        assert_eq!(
            assert_same_but_data("three streams", &bytes, &lazy, &whole),
            3
        );
        // Junk before the header: positions stay relative to `%PDF-`.
        let mut shifted = b"junk\n".to_vec();
        shifted.extend_from_slice(&bytes);
        let lazy = open_default(&shifted);
        assert_eq!(assert_same_but_data("shifted", &shifted, &lazy, &whole), 3);
    }

    #[test]
    fn streams_other_reads_may_reach_keep_their_data() {
        let page_text = |objects: &mut Vec<u8>| {
            objects.extend_from_slice(b"\n");
            for (i, body) in page_objects(1).iter().enumerate() {
                objects.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
                objects.extend_from_slice(body);
                objects.extend_from_slice(b"\nendobj\n");
            }
        };
        // An entry points inside the data of stream 4.
        let mut inside = Vec::new();
        page_text(&mut inside);
        let mut data = noisy_data(50_000);
        data.extend_from_slice(b"\n5 0 obj\n42\nendobj\n");
        data.extend_from_slice(&noisy_data(50_000));
        inside.extend_from_slice(b"4 0 obj\n");
        inside.extend_from_slice(&stream_body("", &data));
        inside.extend_from_slice(b"\nendobj\n");
        // A string (object 4) runs over all of stream 5.
        let mut string = Vec::new();
        page_text(&mut string);
        string.extend_from_slice(b"4 0 obj\n(runs on\n5 0 obj\n");
        string.extend_from_slice(&stream_body("", &noisy_data(50_000)));
        string.extend_from_slice(b"\nendobj\n)\nendobj\n");
        // A /Length the lexer and lopdf read differently.
        let mut odd = Vec::new();
        page_text(&mut odd);
        odd.extend_from_slice(b"4 0 obj\n<< /Length 5 0 Rfoo >>\nstream\n");
        odd.extend_from_slice(&noisy_data(20_000));
        odd.extend_from_slice(b"\nendstream\nendobj\n5 0 obj\n20000\nendobj\n");
        for (name, objects, ids, expected) in [
            ("entry inside", inside, 1..=5, 0),
            ("string over", string, 1..=5, 0),
            ("odd length", odd, 1..=5, 0),
        ] {
            let bytes = with_table(&objects, ids);
            let lazy = open_default(&bytes);
            let whole = read_whole_of(&bytes);
            assert_eq!(
                assert_same_but_data(name, &bytes, &lazy, &whole),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn an_object_stream_whose_type_is_escaped_is_read_whole() {
        // The planning sees no /ObjStm; lopdf does, and needs its data.
        let plain = objstm_pdf(2, b"");
        let at = find_subslice(&plain, b"/Type /ObjStm /N").expect("type");
        let mut bytes = plain.clone();
        bytes[at..at + 16].copy_from_slice(b"/Type/Obj#53tm/N");
        let lazy = open_default(&bytes);
        assert_eq!(lazy.get_pages().len(), 2);
        let whole = read_whole_of(&bytes);
        assert_eq!(assert_same_but_data("escaped", &bytes, &lazy, &whole), 0);
    }

    // --- the shared corpus ---------------------------------------------

    #[test]
    fn corpus_files_never_crash_and_non_pdfs_are_recognised() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pdf");
        if !dir.is_dir() {
            eprintln!("SKIPPED corpus test: {} does not exist", dir.display());
            return;
        }
        let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
        let mut rows: HashMap<String, Vec<String>> = HashMap::new();
        let mut lines = manifest.lines();
        let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
        let column = |name: &str| header.iter().position(|h| *h == name).expect("column");
        let (check_col, sig_col) = (column("qpdf_check"), column("has_signature"));
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let fields: Vec<String> = line.split('\t').map(str::to_owned).collect();
            rows.insert(fields[0].clone(), fields);
        }
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("read corpus")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n != "MANIFEST.tsv")
            .collect();
        names.sort();
        let mut tally: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_check: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut signature_disagreements = Vec::new();
        for name in &names {
            let bytes = std::fs::read(dir.join(name)).expect("read");
            let result = panic::catch_unwind(|| inspect_default(&bytes))
                .unwrap_or_else(|_| panic!("inspect panicked on {name}"));
            let kind = match &result {
                Ok(info) if info.encrypted => "accepted (encrypted)".to_owned(),
                Ok(_) => "accepted".to_owned(),
                Err(PdfError::NotPdf) => "NotPdf".to_owned(),
                Err(PdfError::TooLarge { .. }) => "TooLarge".to_owned(),
                Err(PdfError::DecompressionLimit { .. }) => "DecompressionLimit".to_owned(),
                Err(PdfError::Broken { reason }) => format!("Broken: {reason}"),
            };
            let row = rows.get(name);
            let check = row.map_or("?", |r| r[check_col].as_str()).to_owned();
            if check == "notpdf" {
                assert!(matches!(result, Err(PdfError::NotPdf)), "{name}: {kind}");
            }
            if let (Ok(info), Some(row)) = (&result, row) {
                if info.has_signatures != (row[sig_col] == "yes") {
                    signature_disagreements.push(name.clone());
                }
            }
            let short = if kind.starts_with("Broken") {
                "Broken".to_owned()
            } else {
                kind.clone()
            };
            *by_check.entry((check, short)).or_default() += 1;
            *tally.entry(kind).or_default() += 1;
        }
        eprintln!("corpus: {} files", names.len());
        for (kind, n) in &tally {
            eprintln!("  {n:4}  {kind}");
        }
        eprintln!("by qpdf --check result:");
        for ((check, kind), n) in &by_check {
            eprintln!("  {n:4}  {check:8} -> {kind}");
        }
        eprintln!("has_signatures disagrees with the manifest for: {signature_disagreements:?}");
        assert!(!names.is_empty());
    }

    /// ../shared/corpus/pdf, or `None` (with a SKIPPED line) where it is
    /// missing; in CI it must be there.
    fn corpus_dir() -> Option<std::path::PathBuf> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/pdf");
        if dir.is_dir() {
            return Some(dir);
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "the corpus is required in CI"
        );
        eprintln!("SKIPPED corpus test: {} does not exist", dir.display());
        None
    }

    /// Corpus files with bytes changed where streams, strings and lengths
    /// are read: whenever [`open`] accepts one, its document is still
    /// lopdf's own reading but for the data it left in the file.
    #[test]
    fn changed_corpus_files_are_still_lopdfs_reading_but_for_stream_data() {
        let Some(dir) = corpus_dir() else {
            return;
        };
        const CHANGES_PER_FILE: usize = 4;
        let inserts: [&[u8]; 8] = [
            b"endstream",
            b"stream\n",
            b"(",
            b")",
            b"<<",
            b">>",
            b"%",
            b" 9 0 R",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n.max(1) as u64) as usize
        };
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("read corpus")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        let (mut accepted, mut left_out) = (0, 0);
        for path in paths {
            let original = std::fs::read(&path).expect("read");
            // Places near a /Length or a stream keyword, and anywhere.
            let mut marks: Vec<usize> = memchr::memmem::find_iter(&original, b"/Length").collect();
            marks.extend(memchr::memmem::find_iter(&original, b"stream"));
            for _ in 0..CHANGES_PER_FILE {
                if original.is_empty() {
                    break;
                }
                let mut bytes = original.clone();
                let at = if marks.is_empty() || next(3) == 0 {
                    next(bytes.len())
                } else {
                    (marks[next(marks.len())] + next(24)).min(bytes.len() - 1)
                };
                match next(3) {
                    0 => bytes[at] = bytes[at].wrapping_add(1 + next(255) as u8),
                    1 => {
                        let insert = inserts[next(inserts.len())];
                        let end = (at + insert.len()).min(bytes.len());
                        bytes[at..end].copy_from_slice(&insert[..end - at]);
                    }
                    _ => bytes[at] = b"0123456789"[next(10)],
                }
                let Ok((info, lazy)) = open(&bytes, &PdfLimits::default()) else {
                    continue;
                };
                if info.encrypted {
                    continue;
                }
                let name = format!("{} changed at {at}", path.display());
                let whole = read_whole_of(&bytes);
                left_out += assert_same_but_data(&name, &bytes, &lazy, &whole);
                accepted += 1;
            }
        }
        eprintln!("{accepted} changed files read, {left_out} streams left out");
        assert!(accepted > 0 && left_out > 0);
    }

    /// On every corpus file [`open`] accepts, its document is lopdf's own
    /// reading but for the data it left in the file.
    #[test]
    fn corpus_documents_are_lopdfs_reading_but_for_stream_data() {
        let Some(dir) = corpus_dir() else {
            return;
        };
        let (mut files, mut with_left_out, mut left_out) = (0, 0, 0);
        for entry in std::fs::read_dir(&dir).expect("read corpus") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read");
            let Ok((info, lazy)) = open(&bytes, &PdfLimits::default()) else {
                continue;
            };
            if info.encrypted {
                continue;
            }
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let whole = read_whole_of(&bytes);
            let n = assert_same_but_data(&name, &bytes, &lazy, &whole);
            files += 1;
            with_left_out += usize::from(n > 0);
            left_out += n;
        }
        eprintln!(
            "{files} files read, {with_left_out} with stream data left out ({left_out} streams)"
        );
        assert!(
            with_left_out * 2 > files,
            "most files have ordinary streams"
        );
    }
}
