//! The signing revision: one incremental update that adds a signature field,
//! its widget and the signature dictionary, written by hand so that the
//! ByteRange and /Contents offsets are exact (lopdf's writer exposes no
//! offsets and would rewrite the whole file).
//!
//! The revision keeps the predecessor's cross-reference form: after a
//! classic `xref` table it writes a table, after a cross-reference stream a
//! stream (PDF Association pdf-issues #523: never downgrade). Objects it
//! changes (the catalog or the AcroForm, the page, a /Fields or /Annots
//! array that was an object of its own) are re-emitted whole as plain
//! indirect objects; nothing goes into an object stream. `/ByteRange` is
//! reserved with fixed-width numbers sized from the file, and `/Contents`
//! with the size the caller computed; both are patched in place.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lopdf::{Dictionary, Document, Object, ObjectId, StringFormat};

use super::appearance::{TextField, Visible};
use crate::pdf::{PdfError, PdfLimits};

/// Why a file cannot be signed (or its fields filled). Messages are one
/// line, for the CLI and API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignPdfError {
    #[error(transparent)]
    Pdf(#[from] PdfError),
    #[error("the PDF cannot be signed: {0}")]
    Unsupported(String),
    #[error(
        "a field named {0:?} already exists (signing into an existing field is not supported yet)"
    )]
    FieldExists(String),
    #[error(
        "the signature ({needed} bytes) does not fit the space reserved for it ({reserved} bytes)"
    )]
    TooLarge { needed: usize, reserved: usize },
    #[error("the signed file does not check out: {0}")]
    Check(String),
    /// The visible signature cannot be drawn as asked: no such page, a
    /// rectangle off the page, an unreadable image, a character the font
    /// lacks.
    #[error("visible signature: {0}")]
    Visible(String),
    /// A text field to create, or a value to fill in, is not acceptable.
    #[error("field {name:?}: {reason}")]
    InvalidField { name: String, reason: String },
    /// `fill_fields` was given a name no field of the file has.
    #[error("the PDF has no field named {0:?}")]
    UnknownField(String),
    /// `fill_fields` was given a field that is not a text field.
    #[error("the field {0:?} is not a text field")]
    NotATextField(String),
    /// The file's fields cannot be filled (what [`Self::Unsupported`] is
    /// for signing).
    #[error("the PDF's fields cannot be filled: {0}")]
    CannotFill(String),
    /// `fill_fields` was given a read-only field, or one a signature locks.
    #[error("the field {0:?} is locked: {1}")]
    LockedField(String, String),
}

/// How the cross-reference section of a revision is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum XrefForm {
    Table,
    Stream,
}

/// What the revision adds.
#[derive(Clone, Debug)]
pub struct SignatureSpec {
    /// The signature field's name (/T); a new unique name when None.
    pub field: Option<String>,
    /// The claimed signing time, as a PDF date (`D:20261122143005+07'00'`).
    pub pdf_date: String,
    pub reason: Option<String>,
    pub location: Option<String>,
    /// Bytes reserved for the DER of the CMS (written as twice as many hex digits).
    pub contents_size: usize,
    /// Where and how the signature shows; invisible when None.
    pub visible: Option<Visible>,
    /// Empty text fields the revision also creates.
    pub text_fields: Vec<TextField>,
}

/// A file with its signing revision written and /Contents still zero.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Prepared {
    #[serde(with = "base64_bytes")]
    bytes: Vec<u8>,
    byte_range: [usize; 4],
    /// The field's name.
    pub field: String,
    /// The predecessor's cross-reference form, kept by this revision.
    pub xref_form: XrefForm,
}

/// Bytes as base64 in serialised sessions.
pub(crate) mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Reads the last `startxref` and what it points at. A `startxref` a few
/// bytes off is corrected as pyHanko does (then the section's exact start is
/// returned); see [`super::repair::locate_section`].
pub fn last_xref(bytes: &[u8]) -> Result<(usize, XrefForm), SignPdfError> {
    let offset = super::repair::declared_startxref(bytes)?;
    super::repair::locate_section(bytes, offset).ok_or_else(|| {
        SignPdfError::Unsupported(
            "its startxref points at neither an xref table nor an xref stream".into(),
        )
    })
}

/// Writes `object` in PDF syntax (dictionaries, arrays, names, strings,
/// numbers, references; streams are never re-emitted by the signer).
pub fn write_object(out: &mut Vec<u8>, object: &Object) -> Result<(), SignPdfError> {
    match object {
        Object::Null => out.extend_from_slice(b"null"),
        Object::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Object::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Object::Real(r) => {
            // Shortest text that reads back as the same value; never exponents.
            let mut s = format!("{r}");
            if s.contains('e') || s.contains('E') {
                s = format!("{r:.6}");
            }
            out.extend_from_slice(s.as_bytes());
        }
        Object::Name(n) => write_name(out, n),
        Object::String(s, StringFormat::Hexadecimal) => {
            out.push(b'<');
            for b in s {
                let _ = write!(HexOut(out), "{b:02X}");
            }
            out.push(b'>');
        }
        Object::String(s, StringFormat::Literal) => write_literal(out, s),
        Object::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_object(out, item)?;
            }
            out.push(b']');
        }
        Object::Dictionary(d) => write_dict(out, d)?,
        Object::Reference((n, g)) => out.extend_from_slice(format!("{n} {g} R").as_bytes()),
        Object::Stream(_) => {
            return Err(SignPdfError::Unsupported(
                "an object the signature must change is a stream".into(),
            ));
        }
    }
    Ok(())
}

struct HexOut<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for HexOut<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn write_dict(out: &mut Vec<u8>, d: &Dictionary) -> Result<(), SignPdfError> {
    out.extend_from_slice(b"<<");
    for (k, v) in d.iter() {
        write_name(out, k);
        out.push(b' ');
        write_object(out, v)?;
    }
    out.extend_from_slice(b">>");
    Ok(())
}

fn write_name(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'/');
    for &c in name {
        let regular = c > b' '
            && c < 0x7f
            && !matches!(
                c,
                b'#' | b'/' | b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'%'
            );
        if regular {
            out.push(c);
        } else {
            let _ = write!(HexOut(out), "#{c:02X}");
        }
    }
}

fn write_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'(');
    for &c in s {
        match c {
            b'(' | b')' | b'\\' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(c),
        }
    }
    out.push(b')');
}

/// A text string for a PDF: PDFDocEncoding's ASCII part as is, anything
/// else as UTF-16BE with a byte order mark.
pub fn text_string(s: &str) -> Object {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
    } else {
        let mut bytes = vec![0xfe, 0xff];
        for u in s.encode_utf16() {
            bytes.extend_from_slice(&u.to_be_bytes());
        }
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

fn dict_of<'a>(doc: &'a Document, object: &'a Object) -> Result<&'a Dictionary, SignPdfError> {
    let (_, o) = doc
        .dereference(object)
        .map_err(|e| SignPdfError::Unsupported(format!("a reference cannot be followed ({e})")))?;
    o.as_dict()
        .map_err(|_| SignPdfError::Unsupported("a dictionary was expected".into()))
}

/// Resolves an array that may be inline or an object of its own.
fn array_of(
    doc: &Document,
    object: &Object,
) -> Result<(Option<ObjectId>, Vec<Object>), SignPdfError> {
    let (id, o) = doc
        .dereference(object)
        .map_err(|e| SignPdfError::Unsupported(format!("a reference cannot be followed ({e})")))?;
    match o {
        Object::Array(a) => Ok((id, a.clone())),
        _ => Err(SignPdfError::Unsupported("an array was expected".into())),
    }
}

/// A PDF text string as Rust text (UTF-16BE with its byte order mark, or
/// bytes taken as Latin-1).
pub(crate) fn text_of(o: &Object) -> Option<String> {
    match o {
        Object::String(s, _) => Some(if s.starts_with(&[0xfe, 0xff]) {
            let units: Vec<u16> = s[2..]
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            s.iter().map(|&b| b as char).collect()
        }),
        _ => None,
    }
}

/// lopdf merges the objects of EVERY object stream it meets, an older
/// revision's included, so an object compressed in two revisions may come
/// back in its old form. Puts back, for each object the newest
/// cross-reference section places in an object stream, the copy from that
/// very stream.
pub(crate) fn newest_compressed_objects(doc: &mut Document) {
    let mut containers: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (&id, entry) in &doc.reference_table.entries {
        if let lopdf::xref::XrefEntry::Compressed { container, .. } = entry {
            containers.entry(*container).or_default().push(id);
        }
    }
    for (container, ids) in containers {
        let Some(Object::Stream(stream)) = doc.objects.get(&(container, 0)) else {
            continue;
        };
        let mut stream = stream.clone();
        let Ok(objects) = lopdf::ObjectStream::new(&mut stream).map(|s| s.objects) else {
            continue;
        };
        for id in ids {
            if let Some(o) = objects.get(&(id, 0)) {
                doc.objects.insert((id, 0), o.clone());
            }
        }
    }
}

/// Writes the signing revision of `input` with /Contents zeroed.
pub fn prepare(
    input: &[u8],
    spec: &SignatureSpec,
    limits: &PdfLimits,
) -> Result<Prepared, SignPdfError> {
    let mut owned = Vec::with_capacity(input.len() + REVISION_ROOM);
    owned.extend_from_slice(input);
    prepare_owned(owned, spec, limits)
}

/// Room reserved after the input for a signing revision without a
/// visible appearance (the signature dictionary, its /Contents, the field,
/// the cross-reference section), so appending it rarely moves the file.
pub const REVISION_ROOM: usize = 64 * 1024;

/// [`prepare`], appending the revision to `input` itself: the signed file
/// is built in the buffer that holds the original (no second copy of it),
/// and lopdf's reading of the original is dropped before the revision is
/// appended. Give `input` spare capacity for the revision (about
/// [`REVISION_ROOM`] without an appearance) or appending may move it.
pub fn prepare_owned(
    input: Vec<u8>,
    spec: &SignatureSpec,
    limits: &PdfLimits,
) -> Result<Prepared, SignPdfError> {
    if !input.starts_with(b"%PDF-") {
        return Err(SignPdfError::Unsupported(
            "it has data before its %PDF- header".into(),
        ));
    }
    // A file lopdf cannot read as is gets a repair revision first.
    let (repaired, info, mut doc) = super::repair::open(&input, limits)?;
    let repaired = match repaired {
        std::borrow::Cow::Owned(bytes) => Some(bytes),
        std::borrow::Cow::Borrowed(_) => None,
    };
    let base = repaired.unwrap_or(input);
    let input: &[u8] = &base;
    newest_compressed_objects(&mut doc);
    if info.encrypted {
        return Err(SignPdfError::Unsupported(
            "it is encrypted (signing encrypted PDFs is not supported yet)".into(),
        ));
    }
    let (prev_xref, xref_form) = last_xref(input)?;
    let root_id = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|_| SignPdfError::Unsupported("its trailer names no catalog".into()))?;
    let catalog = doc
        .get_object(root_id)
        .and_then(Object::as_dict)
        .map_err(|_| SignPdfError::Unsupported("its catalog cannot be read".into()))?
        .clone();
    let pages = doc.get_pages();
    let mut objects = NewObjects::new(&doc);
    let sig_id = objects.reserve();
    let widget_id = objects.reserve();

    // The AcroForm and its /Fields.
    let (acroform_id, mut acroform) = match catalog.get(b"AcroForm") {
        Ok(o) => {
            let id = o.as_reference().ok();
            (id, dict_of(&doc, o)?.clone())
        }
        Err(_) => (None, Dictionary::new()),
    };
    let (fields_id, mut fields) = match acroform.get(b"Fields") {
        Ok(o) => array_of(&doc, o)?,
        Err(_) => (None, Vec::new()),
    };
    let mut names = Vec::new();
    for f in &fields {
        if let Ok(d) = dict_of(&doc, f)
            && let Some(t) = d.get(b"T").ok().and_then(text_of)
        {
            names.push(t);
        }
    }
    let field = match &spec.field {
        Some(name) => {
            if names.iter().any(|n| n == name) {
                // Filling an existing empty field is left to a later
                // version of the signer.
                return Err(SignPdfError::FieldExists(name.clone()));
            }
            name.clone()
        }
        None => (1..)
            .map(|i| format!("Signature{i}"))
            .find(|n| !names.contains(n) && !spec.text_fields.iter().any(|t| &t.name == n))
            .unwrap_or_else(|| "Signature".into()),
    };
    names.push(field.clone());
    fields.push(Object::Reference(widget_id));

    // New widgets, by the page whose /Annots takes them.
    let mut new_annots: BTreeMap<ObjectId, Vec<Object>> = BTreeMap::new();

    // The signature's widget (also the field): invisible on the first
    // page, or visible with its appearance where the caller put it.
    let (sig_page, rect, appearance) = match &spec.visible {
        None => {
            let first = *pages
                .get(&1)
                .ok_or_else(|| SignPdfError::Unsupported("it has no first page".into()))?;
            (first, [0.0; 4], None)
        }
        Some(visible) => {
            let page = page_numbered(&pages, visible.page).map_err(SignPdfError::Visible)?;
            let rect = place(visible.rect, page_box(&doc, page)?).map_err(SignPdfError::Visible)?;
            let form = super::appearance::signature(visible, &mut objects)?;
            (page, rect, Some(form))
        }
    };
    let mut widget = Dictionary::new();
    widget.set("Type", Object::Name(b"Annot".to_vec()));
    widget.set("Subtype", Object::Name(b"Widget".to_vec()));
    widget.set("FT", Object::Name(b"Sig".to_vec()));
    widget.set("T", text_string(&field));
    widget.set("V", Object::Reference(sig_id));
    widget.set("F", Object::Integer(132));
    widget.set("P", Object::Reference(sig_page));
    widget.set("Rect", rect_object(rect));
    if let Some(form) = appearance {
        widget.set("AP", appearance_dict(form));
    }
    objects.put_object(widget_id, &Object::Dictionary(widget))?;
    new_annots
        .entry(sig_page)
        .or_default()
        .push(Object::Reference(widget_id));

    // Empty text fields, filled later in revisions of their own
    // (`fill::fill_fields`) without breaking this signature.
    if !spec.text_fields.is_empty() {
        let font = super::appearance::field_font(&mut objects)?;
        let font_name = add_form_font(&doc, &mut acroform, font)?;
        for text_field in &spec.text_fields {
            let invalid = |reason: String| SignPdfError::InvalidField {
                name: text_field.name.clone(),
                reason,
            };
            let name = &text_field.name;
            if name.is_empty() || name.contains('.') {
                return Err(invalid("a field name is not empty and has no \".\"".into()));
            }
            if names.contains(name) {
                return Err(invalid("a field of that name already exists".into()));
            }
            if !(text_field.font_size.is_finite() && (2.0..=72.0).contains(&text_field.font_size)) {
                return Err(invalid(format!(
                    "the font size {} is not between 2 and 72 points",
                    text_field.font_size
                )));
            }
            let page = page_numbered(&pages, text_field.page).map_err(invalid)?;
            let rect = place(text_field.rect, page_box(&doc, page)?).map_err(invalid)?;
            let form = super::appearance::empty(&rect, &mut objects)?;
            let id = objects.reserve();
            let mut widget = Dictionary::new();
            widget.set("Type", Object::Name(b"Annot".to_vec()));
            widget.set("Subtype", Object::Name(b"Widget".to_vec()));
            widget.set("FT", Object::Name(b"Tx".to_vec()));
            widget.set("T", text_string(name));
            widget.set("F", Object::Integer(4));
            widget.set("P", Object::Reference(page));
            widget.set("Rect", rect_object(rect));
            widget.set(
                "DA",
                Object::String(
                    format!(
                        "/{} {} Tf 0 g",
                        String::from_utf8_lossy(&font_name),
                        number(text_field.font_size)
                    )
                    .into_bytes(),
                    StringFormat::Literal,
                ),
            );
            widget.set("Q", Object::Integer(0));
            widget.set("AP", appearance_dict(form));
            objects.put_object(id, &Object::Dictionary(widget))?;
            names.push(name.clone());
            fields.push(Object::Reference(id));
            new_annots
                .entry(page)
                .or_default()
                .push(Object::Reference(id));
        }
    }

    match fields_id {
        Some(id) => objects.put_object(id, &Object::Array(fields))?,
        None => acroform.set("Fields", Object::Array(fields)),
    }
    let sig_flags = acroform
        .get(b"SigFlags")
        .and_then(Object::as_i64)
        .unwrap_or(0);
    acroform.set("SigFlags", Object::Integer(sig_flags | 3));
    let mut catalog = catalog;
    match acroform_id {
        Some(id) => objects.put_object(id, &Object::Dictionary(acroform))?,
        None => {
            catalog.set("AcroForm", Object::Dictionary(acroform));
            objects.put_object(root_id, &Object::Dictionary(catalog))?;
        }
    }

    // Each page's /Annots.
    for (page_id, refs) in new_annots {
        add_annotations(&doc, page_id, refs, &mut objects)?;
    }

    // The signature dictionary, with placeholders.
    let width = (input.len() + 2 * spec.contents_size + objects.len_bytes() + 64 * 1024)
        .to_string()
        .len()
        + 1;
    let mut sig = Vec::new();
    sig.extend_from_slice(
        b"<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M ",
    );
    write_object(&mut sig, &text_string(&spec.pdf_date))?;
    if let Some(r) = &spec.reason {
        sig.extend_from_slice(b" /Reason ");
        write_object(&mut sig, &text_string(r))?;
    }
    if let Some(l) = &spec.location {
        sig.extend_from_slice(b" /Location ");
        write_object(&mut sig, &text_string(l))?;
    }
    sig.extend_from_slice(b" /ByteRange [");
    let byte_range_at = sig.len();
    sig.extend_from_slice(&vec![b' '; 3 * (width + 1) + 1]);
    sig.extend_from_slice(b"] /Contents ");
    let contents_at = sig.len();
    sig.push(b'<');
    sig.extend_from_slice(&vec![b'0'; 2 * spec.contents_size]);
    sig.push(b'>');
    sig.extend_from_slice(b">>");
    objects.put(sig_id, sig);

    let trailer = doc.trailer.clone();
    drop(doc);
    let appended = append_revision_to(base, &trailer, prev_xref, xref_form, objects)?;
    let sig_offset = appended.body_offset(sig_id)?;
    let mut out = appended.bytes;

    // Patch the ByteRange in place.
    let a = sig_offset + contents_at;
    let b = a + 2 * spec.contents_size + 2;
    let c = out.len() - b;
    let text = format!("0 {a:>width$} {b:>width$} {c:>width$}");
    let at = sig_offset + byte_range_at;
    let slot = &mut out[at..at + 3 * (width + 1) + 1];
    if text.len() > slot.len() {
        return Err(SignPdfError::Check(
            "the ByteRange does not fit its slot".into(),
        ));
    }
    slot[..text.len()].copy_from_slice(text.as_bytes());
    Ok(Prepared {
        bytes: out,
        byte_range: [0, a, b, c],
        field,
        xref_form,
    })
}

/// Consecutive object numbers, grouped (xref subsections).
fn runs(offsets: &BTreeMap<u32, (usize, u16)>) -> Vec<Vec<(u32, (usize, u16))>> {
    let mut out: Vec<Vec<(u32, (usize, u16))>> = Vec::new();
    for (&n, &off) in offsets {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|(m, _)| m + 1 == n) => run.push((n, off)),
            _ => out.push(vec![(n, off)]),
        }
    }
    out
}

/// The objects an incremental revision writes, by id: each one's body as
/// it goes between `N G obj` and `endobj`.
pub(crate) struct NewObjects {
    next_id: u32,
    bodies: BTreeMap<ObjectId, Vec<u8>>,
}

impl NewObjects {
    /// New objects for a revision of `doc`: fresh ids start past both the
    /// largest id lopdf saw and the trailer's /Size.
    pub(crate) fn new(doc: &Document) -> NewObjects {
        let prev_size = doc
            .trailer
            .get(b"Size")
            .and_then(Object::as_i64)
            .unwrap_or(0)
            .clamp(0, i64::from(u32::MAX)) as u32;
        NewObjects {
            next_id: (doc.max_id + 1).max(prev_size),
            bodies: BTreeMap::new(),
        }
    }

    /// A fresh id, for an object written later with [`Self::put`].
    pub(crate) fn reserve(&mut self) -> ObjectId {
        let id = (self.next_id, 0);
        self.next_id += 1;
        id
    }

    /// Writes (or re-writes) object `id` as `body`.
    pub(crate) fn put(&mut self, id: ObjectId, body: Vec<u8>) {
        self.bodies.insert(id, body);
    }

    /// Writes (or re-writes) object `id`: a dictionary, an array, any
    /// object but a stream.
    pub(crate) fn put_object(&mut self, id: ObjectId, object: &Object) -> Result<(), SignPdfError> {
        let mut body = Vec::new();
        write_object(&mut body, object)?;
        self.put(id, body);
        Ok(())
    }

    /// A new object.
    pub(crate) fn add(&mut self, object: &Object) -> Result<ObjectId, SignPdfError> {
        let id = self.reserve();
        self.put_object(id, object)?;
        Ok(id)
    }

    /// A new stream: `dict` with /Length (and /Filter /FlateDecode when
    /// `compress`) set here, then `data`.
    pub(crate) fn add_stream(
        &mut self,
        mut dict: Dictionary,
        data: &[u8],
        compress: bool,
    ) -> Result<ObjectId, SignPdfError> {
        let data = if compress {
            dict.set("Filter", Object::Name(b"FlateDecode".to_vec()));
            deflate(data)?
        } else {
            data.to_vec()
        };
        dict.set("Length", Object::Integer(data.len() as i64));
        let mut body = Vec::with_capacity(data.len() + 128);
        write_dict(&mut body, &dict)?;
        body.extend_from_slice(b"\nstream\n");
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\nendstream");
        let id = self.reserve();
        self.put(id, body);
        Ok(id)
    }

    /// The bytes written so far (bodies only).
    pub(crate) fn len_bytes(&self) -> usize {
        self.bodies.values().map(Vec::len).sum()
    }
}

fn deflate(data: &[u8]) -> Result<Vec<u8>, SignPdfError> {
    use std::io::Write as _;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data)
        .and_then(|()| z.finish())
        .map_err(|e| SignPdfError::Unsupported(format!("compressing a stream failed: {e}")))
}

/// A file with one more revision appended.
pub(crate) struct Appended {
    pub(crate) bytes: Vec<u8>,
    /// Where each new object's body starts (after `N G obj\n`).
    body_offsets: BTreeMap<ObjectId, usize>,
}

impl Appended {
    pub(crate) fn body_offset(&self, id: ObjectId) -> Result<usize, SignPdfError> {
        self.body_offsets
            .get(&id)
            .copied()
            .ok_or_else(|| SignPdfError::Check(format!("object {} was not written", id.0)))
    }
}

/// Appends one incremental revision to `input`: `objects`, then a
/// cross-reference section of the predecessor's form (`xref_form`) whose
/// trailer carries /Root, /Info and /ID from `prev_trailer`, /Prev
/// `prev_xref` and a /Size that never decreases.
pub(crate) fn append_revision(
    input: &[u8],
    prev_trailer: &Dictionary,
    prev_xref: usize,
    xref_form: XrefForm,
    objects: NewObjects,
) -> Result<Appended, SignPdfError> {
    let mut out = Vec::with_capacity(input.len() + objects.len_bytes() + 8192);
    out.extend_from_slice(input);
    append_revision_to(out, prev_trailer, prev_xref, xref_form, objects)
}

/// [`append_revision`], onto `out`, which holds the predecessor.
pub(crate) fn append_revision_to(
    mut out: Vec<u8>,
    prev_trailer: &Dictionary,
    prev_xref: usize,
    xref_form: XrefForm,
    objects: NewObjects,
) -> Result<Appended, SignPdfError> {
    out.reserve(objects.len_bytes() + 8192);
    let NewObjects {
        mut next_id,
        bodies,
    } = objects;
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut offsets: BTreeMap<u32, (usize, u16)> = BTreeMap::new();
    let mut body_offsets = BTreeMap::new();
    for (id, body) in &bodies {
        offsets.insert(id.0, (out.len(), id.1));
        out.extend_from_slice(format!("{} {} obj\n", id.0, id.1).as_bytes());
        body_offsets.insert(*id, out.len());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let mut trailer = Dictionary::new();
    for key in [&b"Root"[..], b"Info", b"ID"] {
        if let Ok(v) = prev_trailer.get(key) {
            trailer.set(key.to_vec(), v.clone());
        }
    }
    trailer.set("Prev", Object::Integer(prev_xref as i64));
    let xref_at = out.len();
    match xref_form {
        XrefForm::Table => {
            trailer.set("Size", Object::Integer(i64::from(next_id)));
            out.extend_from_slice(b"xref\n");
            for run in runs(&offsets) {
                out.extend_from_slice(format!("{} {}\n", run[0].0, run.len()).as_bytes());
                for (_, (off, generation)) in run {
                    out.extend_from_slice(format!("{off:010} {generation:05} n\r\n").as_bytes());
                }
            }
            out.extend_from_slice(b"trailer\n");
            write_dict(&mut out, &trailer)?;
            out.push(b'\n');
        }
        XrefForm::Stream => {
            let xref_id = next_id;
            next_id += 1;
            offsets.insert(xref_id, (xref_at, 0));
            trailer.set("Size", Object::Integer(i64::from(next_id)));
            trailer.set("Type", Object::Name(b"XRef".to_vec()));
            trailer.set(
                "W",
                Object::Array(vec![
                    Object::Integer(1),
                    Object::Integer(8),
                    Object::Integer(2),
                ]),
            );
            let mut index = Vec::new();
            let mut data = Vec::new();
            for run in runs(&offsets) {
                index.push(Object::Integer(i64::from(run[0].0)));
                index.push(Object::Integer(run.len() as i64));
                for (_, (off, generation)) in run {
                    data.push(1u8);
                    data.extend_from_slice(&(off as u64).to_be_bytes());
                    data.extend_from_slice(&generation.to_be_bytes());
                }
            }
            trailer.set("Index", Object::Array(index));
            trailer.set("Length", Object::Integer(data.len() as i64));
            out.extend_from_slice(format!("{xref_id} 0 obj\n").as_bytes());
            write_dict(&mut out, &trailer)?;
            out.extend_from_slice(b"\nstream\n");
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\nendstream\nendobj\n");
        }
    }
    out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
    Ok(Appended {
        bytes: out,
        body_offsets,
    })
}

/// Page `n` (1-based), or why not.
pub(crate) fn page_numbered(pages: &BTreeMap<u32, ObjectId>, n: u32) -> Result<ObjectId, String> {
    pages.get(&n).copied().ok_or_else(|| {
        format!(
            "page {n} does not exist (the document has {} page{}, numbered from 1)",
            pages.len(),
            if pages.len() == 1 { "" } else { "s" }
        )
    })
}

/// The page's /MediaBox (inherited from the page tree when the page has
/// none), normalised to [x0 y0 x1 y1] with x0 < x1, y0 < y1.
pub(crate) fn page_box(doc: &Document, page: ObjectId) -> Result<[f32; 4], SignPdfError> {
    let mut id = Some(page);
    for _ in 0..64 {
        let Some(current) = id else { break };
        let dict = doc
            .get_object(current)
            .and_then(Object::as_dict)
            .map_err(|_| SignPdfError::Unsupported("a page cannot be read".into()))?;
        if let Ok(o) = dict.get(b"MediaBox") {
            let numbers: Vec<f32> = array_of(doc, o)?
                .1
                .iter()
                .filter_map(|n| match n {
                    Object::Integer(i) => Some(*i as f32),
                    Object::Real(r) => Some(*r),
                    _ => None,
                })
                .collect();
            if let [a, b, c, d] = numbers[..] {
                return Ok([a.min(c), b.min(d), a.max(c), b.max(d)]);
            }
            break;
        }
        id = dict.get(b"Parent").and_then(Object::as_reference).ok();
    }
    Err(SignPdfError::Unsupported(
        "a page has no usable /MediaBox".into(),
    ))
}

/// `rect` ([x, y, width, height] from the lower-left corner of `page_box`)
/// as an annotation's /Rect, or why it does not fit the page.
pub(crate) fn place(rect: [f32; 4], page_box: [f32; 4]) -> Result<[f32; 4], String> {
    let [x, y, w, h] = rect;
    let (page_w, page_h) = (page_box[2] - page_box[0], page_box[3] - page_box[1]);
    if rect.iter().any(|v| !v.is_finite()) {
        return Err("the rectangle has a value that is not a number".into());
    }
    if w <= 0.0 || h <= 0.0 {
        return Err(format!(
            "the rectangle's width and height must be positive (got {w} x {h})"
        ));
    }
    // Half a point of slack for rounded page sizes (A4 is 595.28 x 841.89).
    if x < 0.0 || y < 0.0 || x + w > page_w + 0.5 || y + h > page_h + 0.5 {
        return Err(format!(
            "the rectangle [{x} {y} {w} {h}] does not fit the page ({page_w} x {page_h} points)"
        ));
    }
    Ok([
        page_box[0] + x,
        page_box[1] + y,
        page_box[0] + x + w,
        page_box[1] + y + h,
    ])
}

/// A number as PDF writes it: an integer when it is one.
pub(crate) fn number_object(v: f32) -> Object {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        Object::Integer(v as i64)
    } else {
        Object::Real(v)
    }
}

/// A number for content streams: at most three decimals, no exponent.
pub(crate) fn number(v: f32) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn rect_object(rect: [f32; 4]) -> Object {
    Object::Array(rect.iter().map(|&v| number_object(v)).collect())
}

/// `<< /N form >>`.
pub(crate) fn appearance_dict(form: ObjectId) -> Object {
    let mut ap = Dictionary::new();
    ap.set("N", Object::Reference(form));
    Object::Dictionary(ap)
}

/// Adds `font` to the AcroForm's default resources (/DR /Font), inlining a
/// /DR or /Font that was an object of its own; returns its resource name.
fn add_form_font(
    doc: &Document,
    acroform: &mut Dictionary,
    font: ObjectId,
) -> Result<Vec<u8>, SignPdfError> {
    let mut dr = match acroform.get(b"DR") {
        Ok(o) => dict_of(doc, o)?.clone(),
        Err(_) => Dictionary::new(),
    };
    let mut fonts = match dr.get(b"Font") {
        Ok(o) => dict_of(doc, o)?.clone(),
        Err(_) => Dictionary::new(),
    };
    let name = (0..)
        .map(|i| {
            if i == 0 {
                b"CvSerif".to_vec()
            } else {
                format!("CvSerif{i}").into_bytes()
            }
        })
        .find(|n| !fonts.has(n))
        .unwrap_or_else(|| b"CvSerif".to_vec());
    fonts.set(name.clone(), Object::Reference(font));
    dr.set("Font", Object::Dictionary(fonts));
    acroform.set("DR", Object::Dictionary(dr));
    Ok(name)
}

/// Appends `refs` to the page's /Annots (re-writing the page, or its
/// /Annots array when that is an object of its own).
fn add_annotations(
    doc: &Document,
    page_id: ObjectId,
    refs: Vec<Object>,
    objects: &mut NewObjects,
) -> Result<(), SignPdfError> {
    let mut page = doc
        .get_object(page_id)
        .and_then(Object::as_dict)
        .map_err(|_| SignPdfError::Unsupported("a page cannot be read".into()))?
        .clone();
    let (annots_id, mut annots) = match page.get(b"Annots") {
        Ok(o) => array_of(doc, o)?,
        Err(_) => (None, Vec::new()),
    };
    annots.extend(refs);
    match annots_id {
        Some(id) => objects.put_object(id, &Object::Array(annots)),
        None => {
            page.set("Annots", Object::Array(annots));
            objects.put_object(page_id, &Object::Dictionary(page))
        }
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .field("byte_range", &self.byte_range)
            .field("field", &self.field)
            .field("xref_form", &self.xref_form)
            .finish()
    }
}

impl Prepared {
    /// The file as it will be, /Contents still zero.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn byte_range(&self) -> [usize; 4] {
        self.byte_range
    }

    /// SHA-256 of the bytes the signature covers.
    pub fn digest(&self) -> [u8; 32] {
        let [_, a, b, c] = self.byte_range;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.bytes[..a]);
        ctx.update(&self.bytes[b..b + c]);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// Writes the CMS into /Contents and returns the signed file.
    pub fn finish(mut self, cms: &[u8]) -> Result<Vec<u8>, SignPdfError> {
        let [_, a, b, _] = self.byte_range;
        let reserved = (b - a - 2) / 2;
        if cms.len() > reserved {
            return Err(SignPdfError::TooLarge {
                needed: cms.len(),
                reserved,
            });
        }
        const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
        let slots = self.bytes[a + 1..a + 1 + 2 * cms.len()].chunks_exact_mut(2);
        for (slot, byte) in slots.zip(cms) {
            slot[0] = DIGITS[usize::from(byte >> 4)];
            slot[1] = DIGITS[usize::from(byte & 0xF)];
        }
        Ok(self.bytes)
    }
}

/// `input` rewritten with object streams and an xref stream by qpdf, when
/// qpdf is here (for tests of both cross-reference forms).
#[cfg(test)]
pub(crate) fn with_xref_stream(input: &[u8]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().ok()?;
    let (a, b) = (dir.path().join("a.pdf"), dir.path().join("b.pdf"));
    std::fs::write(&a, input).ok()?;
    let ok = std::process::Command::new("qpdf")
        .args(["--object-streams=generate"])
        .arg(&a)
        .arg(&b)
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    std::fs::read(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SignatureSpec {
        SignatureSpec {
            field: None,
            pdf_date: "D:20261122143005+07'00'".into(),
            reason: Some("Phê duyệt".into()),
            location: None,
            contents_size: 4096,
            visible: None,
            text_fields: Vec::new(),
        }
    }

    fn check(input: &[u8]) {
        check_with(input, &spec());
    }

    fn check_with(input: &[u8], spec: &SignatureSpec) {
        let (_, form) = last_xref(input).expect("input xref");
        let prepared = prepare(input, spec, &PdfLimits::default()).expect("prepare");
        assert_eq!(prepared.xref_form, form);
        let [zero, a, b, c] = prepared.byte_range();
        let digest = prepared.digest();
        let out = prepared
            .finish(&[0x30, 0x03, 0x02, 0x01, 0x01])
            .expect("finish");
        assert_eq!(zero, 0);
        assert_eq!(b + c, out.len(), "the range ends at the end of the file");
        assert_eq!(
            &out[..input.len()],
            input,
            "the predecessor is kept byte for byte"
        );
        assert_eq!(out[a], b'<');
        assert_eq!(out[b - 1], b'>');
        // The new revision keeps the predecessor's form and reads back.
        let (_, new_form) = last_xref(&out).expect("output xref");
        assert_eq!(new_form, form);
        let doc = Document::load_mem(&out).expect("lopdf reads the output");
        let sig = doc
            .objects
            .values()
            .filter_map(|o| o.as_dict().ok())
            .find(|d| d.get(b"Type").and_then(Object::as_name).ok() == Some(&b"Sig"[..]))
            .expect("a signature dictionary");
        let range: Vec<i64> = sig
            .get(b"ByteRange")
            .and_then(Object::as_array)
            .expect("ByteRange")
            .iter()
            .map(|o| o.as_i64().expect("integer"))
            .collect();
        assert_eq!(range, vec![0, a as i64, b as i64, c as i64]);
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&out[..a]);
        ctx.update(&out[b..]);
        assert_eq!(ctx.finish().as_ref(), &digest[..]);
        let catalog = doc.catalog().expect("catalog");
        let acroform = match catalog.get(b"AcroForm").expect("AcroForm") {
            Object::Reference(id) => doc.get_object(*id).and_then(Object::as_dict).expect("dict"),
            o => o.as_dict().expect("dict"),
        };
        assert_eq!(
            acroform.get(b"SigFlags").and_then(Object::as_i64).ok(),
            Some(3)
        );
    }

    #[test]
    fn the_revision_keeps_an_xref_table_and_covers_the_whole_file() {
        let input = crate::pdf::sample::sample_pdf("Tài liệu", 2);
        assert_eq!(last_xref(&input).expect("xref").1, XrefForm::Table);
        check(&input);
    }

    #[test]
    fn the_revision_keeps_an_xref_stream() {
        let input = crate::pdf::sample::sample_pdf("Tài liệu", 2);
        let Some(streamed) = with_xref_stream(&input) else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("qpdf is required in CI");
            }
            eprintln!("SKIPPED: qpdf is not installed");
            return;
        };
        assert_eq!(last_xref(&streamed).expect("xref").1, XrefForm::Stream);
        check(&streamed);
    }

    /// A visible signature with text fields, on both cross-reference forms.
    #[test]
    fn a_visible_revision_with_fields_keeps_either_xref_form() {
        let mut s = spec();
        s.visible = Some(Visible {
            page: 2,
            rect: [300.0, 60.0, 200.0, 80.0],
            image: None,
            lines: vec!["Trần Văn Minh".into()],
            color: [0.0, 0.0, 0.6],
        });
        s.text_fields = vec![TextField {
            name: "so".into(),
            page: 1,
            rect: [72.0, 700.0, 200.0, 20.0],
            font_size: 12.0,
        }];
        let input = crate::pdf::sample::sample_pdf("Tài liệu", 2);
        check_with(&input, &s);
        if let Some(streamed) = with_xref_stream(&input) {
            check_with(&streamed, &s);
        }
    }

    #[test]
    fn a_rectangle_is_placed_from_the_media_box_origin_and_must_fit() {
        let page = [100.0, 200.0, 695.0, 1042.0];
        assert_eq!(
            place([10.0, 20.0, 100.0, 50.0], page),
            Ok([110.0, 220.0, 210.0, 270.0])
        );
        assert!(place([500.0, 20.0, 100.0, 50.0], page).is_err());
        assert!(place([-1.0, 20.0, 100.0, 50.0], page).is_err());
        assert!(place([10.0, 20.0, 100.0, f32::NAN], page).is_err());
        // A4's 595.28 x 841.89 rounded up still fits.
        assert!(place([0.0, 0.0, 595.5, 842.0], [0.0, 0.0, 595.28, 841.89]).is_ok());
    }

    #[test]
    fn a_media_box_is_inherited_from_the_page_tree() {
        use lopdf::dictionary;
        let mut doc = Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => vec![page_id.into()],
                "Count" => 1,
                "MediaBox" => vec![0.into(), 842.into(), 595.into(), 0.into()],
            }),
        );
        let catalog = doc.add_object(dictionary! {
            "Type" => "Catalog",
            "Pages" => pages_id,
        });
        doc.trailer.set("Root", catalog);
        let page = doc.get_pages()[&1];
        assert_eq!(page_box(&doc, page).expect("box"), [0.0, 0.0, 595.0, 842.0]);
        let pages = doc.get_pages();
        let err = page_numbered(&pages, 2).expect_err("one page");
        assert_eq!(
            err,
            "page 2 does not exist (the document has 1 page, numbered from 1)"
        );
    }

    #[test]
    fn a_field_name_already_in_the_form_is_refused() {
        let input = crate::pdf::sample::sample_pdf("x", 1);
        let first = prepare(&input, &spec(), &PdfLimits::default())
            .expect("prepare")
            .finish(&[0x30, 0x00])
            .expect("finish");
        let mut s = spec();
        s.field = Some("Signature1".into());
        let err = prepare(&first, &s, &PdfLimits::default()).expect_err("taken");
        assert!(
            matches!(&err, SignPdfError::FieldExists(n) if n == "Signature1"),
            "{err}"
        );
        s.field = None;
        let second = prepare(&first, &s, &PdfLimits::default()).expect("prepare");
        assert_eq!(second.field, "Signature2");
        // A text field may not take a name in the form either, nor another
        // new field's.
        let field = |name: &str| TextField {
            name: name.into(),
            page: 1,
            rect: [72.0, 700.0, 100.0, 20.0],
            font_size: 12.0,
        };
        for (signature, names) in [
            (None, &["Signature1"][..]),
            (None, &["so", "so"]),
            (Some("so"), &["so"]),
        ] {
            s.field = signature.map(str::to_string);
            s.text_fields = names.iter().map(|n| field(n)).collect();
            let err = prepare(&first, &s, &PdfLimits::default()).expect_err("taken");
            assert!(
                err.to_string()
                    .contains("a field of that name already exists"),
                "{names:?}: {err}"
            );
        }
        // A signature named by default steps over the new text fields' names.
        s.field = None;
        s.text_fields = vec![field("Signature2")];
        let third = prepare(&first, &s, &PdfLimits::default()).expect("prepare");
        assert_eq!(third.field, "Signature3");
    }

    #[test]
    fn a_cms_larger_than_the_reservation_is_refused() {
        let input = crate::pdf::sample::sample_pdf("x", 1);
        let mut s = spec();
        s.contents_size = 16;
        let prepared = prepare(&input, &s, &PdfLimits::default()).expect("prepare");
        let err = prepared.finish(&[0u8; 17]).expect_err("too large");
        assert!(matches!(
            err,
            SignPdfError::TooLarge {
                needed: 17,
                reserved: 16
            }
        ));
    }
}
