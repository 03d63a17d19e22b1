//! Filling text fields after a signature: one incremental revision that
//! sets each field's /V and gives its widgets a new appearance, drawn with
//! an embedded Liberation Serif subset. Validators class such a revision as
//! form filling, which leaves the earlier signatures valid — the document
//! number and date of a decision are filled in after the head of the agency
//! signed it, and before the seal.

use std::collections::{BTreeMap, BTreeSet};

use lopdf::{Dictionary, Document, Object, ObjectId};
use unicode_normalization::UnicodeNormalization;

use super::appearance::{self, FieldStyle};
use super::font::FontSubset;
use super::writer::{
    NewObjects, SignPdfError, appearance_dict, append_revision, last_xref,
    newest_compressed_objects, text_of, text_string,
};
use crate::pdf::PdfLimits;

/// Longest value accepted, in characters.
const MAX_VALUE_CHARS: usize = 500;

/// Fills the text fields named in `values` (fully qualified names, e.g.
/// `so_van_ban` or `parent.child`) with their values, as one incremental
/// revision of `input` in its cross-reference form, and returns the new
/// file.
///
/// Refused: a name no field has ([`SignPdfError::UnknownField`]), a field
/// that is not a text field ([`SignPdfError::NotATextField`]), a read-only
/// field or one a signature locks ([`SignPdfError::LockedField`]), a value
/// given twice, with a line break, longer than the field's /MaxLen, or with
/// a character the font lacks ([`SignPdfError::InvalidField`]).
pub fn fill_fields(
    input: &[u8],
    values: &[(String, String)],
    limits: &PdfLimits,
) -> Result<Vec<u8>, SignPdfError> {
    fill(input, values, limits).map_err(|e| match e {
        SignPdfError::Unsupported(m) => SignPdfError::CannotFill(m),
        e => e,
    })
}

fn fill(
    input: &[u8],
    values: &[(String, String)],
    limits: &PdfLimits,
) -> Result<Vec<u8>, SignPdfError> {
    if values.is_empty() {
        return Err(SignPdfError::Unsupported(
            "no field values were given".into(),
        ));
    }
    if !input.starts_with(b"%PDF-") {
        return Err(SignPdfError::Unsupported(
            "it has data before its %PDF- header".into(),
        ));
    }
    let (info, mut doc) = crate::pdf::open(input, limits)?;
    newest_compressed_objects(&mut doc);
    if info.encrypted {
        return Err(SignPdfError::Unsupported(
            "it is encrypted (filling encrypted PDFs is not supported yet)".into(),
        ));
    }
    let (prev_xref, xref_form) = last_xref(input)?;
    let fields = form_fields(&doc);

    // Check every value before writing anything.
    let mut seen = BTreeSet::new();
    let mut font = FontSubset::new()?;
    let mut chosen = Vec::new();
    for (name, value) in values {
        // Stored and drawn alike: a letter and its marks precomposed.
        let value: String = value.nfc().collect();
        let invalid = |reason: String| SignPdfError::InvalidField {
            name: name.clone(),
            reason,
        };
        if !seen.insert(name.as_str()) {
            return Err(invalid("the field is given twice".into()));
        }
        let field = fields
            .iter()
            .find(|f| &f.name == name)
            .ok_or_else(|| SignPdfError::UnknownField(name.clone()))?;
        if field.kind.as_deref() != Some(&b"Tx"[..]) {
            return Err(SignPdfError::NotATextField(name.clone()));
        }
        if field.flags & 1 != 0 {
            return Err(SignPdfError::LockedField(
                name.clone(),
                "it is read-only".into(),
            ));
        }
        if let Some(by) = locked_by(&doc, &fields, name) {
            return Err(SignPdfError::LockedField(
                name.clone(),
                format!("the signature in field {by:?} locks it"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid(
                "the value contains a line break or another control character".into(),
            ));
        }
        let chars = value.chars().count();
        if chars > MAX_VALUE_CHARS {
            return Err(invalid(format!(
                "the value is longer than {MAX_VALUE_CHARS} characters"
            )));
        }
        if let Some(max) = field.max_len
            && chars as i64 > max
        {
            return Err(invalid(format!(
                "the value is longer than the field's {max} characters"
            )));
        }
        if field.widgets.is_empty() {
            return Err(invalid("the field has no widget on a page".into()));
        }
        let operand = font.encode(&value).map_err(invalid)?;
        chosen.push((field, value, operand));
    }

    let mut objects = NewObjects::new(&doc);
    // The subset is written last, once every glyph is known, under the id
    // the appearances name.
    let font_id = objects.reserve();
    let mut updated: BTreeMap<ObjectId, Dictionary> = BTreeMap::new();
    for (field, value, operand) in &chosen {
        for widget in &field.widgets {
            let dict = updated
                .entry(*widget)
                .or_insert_with(|| dict_at(&doc, *widget).cloned().unwrap_or_default());
            let size = rect_size(&doc, dict).ok_or_else(|| SignPdfError::InvalidField {
                name: field.name.clone(),
                reason: "a widget of the field has no usable /Rect".into(),
            })?;
            let form = appearance::filled(
                &mut objects,
                &font,
                font_id,
                value,
                operand,
                size,
                &field.style,
            )?;
            dict.set("AP", appearance_dict(form));
        }
    }
    font.write_as(&mut objects, font_id)?;
    for (field, value, _) in &chosen {
        let dict = updated
            .entry(field.id)
            .or_insert_with(|| dict_at(&doc, field.id).cloned().unwrap_or_default());
        dict.set("V", text_string(value));
    }
    for (id, dict) in updated {
        objects.put_object(id, &Object::Dictionary(dict))?;
    }
    let out = append_revision(input, &doc.trailer, prev_xref, xref_form, objects)?.bytes;
    if last_xref(&out)?.1 != xref_form {
        return Err(SignPdfError::Check(
            "the new revision changed the cross-reference form".into(),
        ));
    }
    if Document::load_mem(&out).is_err() {
        return Err(SignPdfError::Check(
            "the filled file cannot be read back".into(),
        ));
    }
    Ok(out)
}

/// A terminal field of the form (one with a value), with what it inherits.
#[derive(Debug)]
struct Field {
    id: ObjectId,
    /// The fully qualified name: the partial names joined with ".".
    name: String,
    /// /FT: Tx, Btn, Ch, Sig.
    kind: Option<Vec<u8>>,
    /// /Ff.
    flags: i64,
    max_len: Option<i64>,
    style: FieldStyle,
    /// The field's widgets (the field itself when they are merged).
    widgets: Vec<ObjectId>,
    /// /V, for signature fields: the signature dictionary.
    value: Option<Object>,
    /// /Lock, for signature fields.
    lock: Option<Dictionary>,
}

/// What a field passes to its kids.
#[derive(Clone, Default)]
struct Inherited {
    name: String,
    kind: Option<Vec<u8>>,
    flags: i64,
    da: Option<String>,
    quadding: i64,
}

fn dict_at(doc: &Document, id: ObjectId) -> Option<&Dictionary> {
    doc.get_object(id).and_then(Object::as_dict).ok()
}

fn resolve<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Object> {
    match o {
        Object::Reference(id) => doc.get_object(*id).ok(),
        o => Some(o),
    }
}

/// Every terminal field of the AcroForm that is an object of its own.
fn form_fields(doc: &Document) -> Vec<Field> {
    let mut out = Vec::new();
    let Some(acroform) = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"AcroForm").ok())
        .and_then(|o| resolve(doc, o))
        .and_then(|o| o.as_dict().ok())
    else {
        return out;
    };
    let root = Inherited {
        da: acroform.get(b"DA").ok().and_then(text_of),
        quadding: acroform.get(b"Q").and_then(Object::as_i64).unwrap_or(0),
        ..Inherited::default()
    };
    let fields = acroform
        .get(b"Fields")
        .ok()
        .and_then(|o| resolve(doc, o))
        .and_then(|o| o.as_array().ok())
        .cloned()
        .unwrap_or_default();
    let mut visited = BTreeSet::new();
    for f in &fields {
        if let Object::Reference(id) = f {
            walk(doc, *id, &root, 0, &mut visited, &mut out);
        }
    }
    out
}

fn walk(
    doc: &Document,
    id: ObjectId,
    parent: &Inherited,
    depth: usize,
    visited: &mut BTreeSet<ObjectId>,
    out: &mut Vec<Field>,
) {
    if depth > 32 || !visited.insert(id) {
        return;
    }
    let Some(d) = dict_at(doc, id) else { return };
    let mut here = parent.clone();
    if let Some(t) = d.get(b"T").ok().and_then(text_of) {
        here.name = if parent.name.is_empty() {
            t
        } else {
            format!("{}.{t}", parent.name)
        };
    }
    if let Ok(ft) = d.get(b"FT").and_then(Object::as_name) {
        here.kind = Some(ft.to_vec());
    }
    if let Ok(ff) = d.get(b"Ff").and_then(Object::as_i64) {
        here.flags = ff;
    }
    if let Some(da) = d.get(b"DA").ok().and_then(text_of) {
        here.da = Some(da);
    }
    if let Ok(q) = d.get(b"Q").and_then(Object::as_i64) {
        here.quadding = q;
    }
    let kids: Vec<ObjectId> = d
        .get(b"Kids")
        .ok()
        .and_then(|o| resolve(doc, o))
        .and_then(|o| o.as_array().ok())
        .map(|a| a.iter().filter_map(|k| k.as_reference().ok()).collect())
        .unwrap_or_default();
    let (child_fields, widgets): (Vec<ObjectId>, Vec<ObjectId>) = kids
        .into_iter()
        .partition(|k| dict_at(doc, *k).is_some_and(|k| k.has(b"T")));
    for child in child_fields {
        walk(doc, child, &here, depth + 1, visited, out);
    }
    let merged =
        d.has(b"Rect") || d.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Widget");
    let mut field_widgets = widgets;
    if merged {
        field_widgets.push(id);
    }
    if d.has(b"T") && (merged || !field_widgets.is_empty() || !d.has(b"Kids")) {
        out.push(Field {
            id,
            name: here.name.clone(),
            kind: here.kind.clone(),
            flags: here.flags,
            max_len: d.get(b"MaxLen").and_then(Object::as_i64).ok(),
            style: FieldStyle::from_da(here.da.as_deref().unwrap_or(""), here.quadding),
            widgets: field_widgets,
            value: d.get(b"V").ok().cloned(),
            lock: d
                .get(b"Lock")
                .ok()
                .and_then(|o| resolve(doc, o))
                .and_then(|o| o.as_dict().ok())
                .cloned(),
        });
    }
}

/// The width and height of a widget's /Rect.
fn rect_size(doc: &Document, widget: &Dictionary) -> Option<(f32, f32)> {
    let rect = resolve(doc, widget.get(b"Rect").ok()?)?.as_array().ok()?;
    let n: Vec<f32> = rect
        .iter()
        .filter_map(|o| match o {
            Object::Integer(i) => Some(*i as f32),
            Object::Real(r) => Some(*r),
            _ => None,
        })
        .collect();
    let [a, b, c, d] = n[..] else { return None };
    let (w, h) = ((c - a).abs(), (d - b).abs());
    (w > 0.0 && h > 0.0 && w.is_finite() && h.is_finite()).then_some((w, h))
}

/// The signature field whose signature locks `name`, if one does: a
/// field-lock dictionary (/Lock on the signed field, or a FieldMDP
/// transform in the signature's /Reference) that names it, or a DocMDP
/// transform that permits no changes.
fn locked_by(doc: &Document, fields: &[Field], name: &str) -> Option<String> {
    for sig in fields
        .iter()
        .filter(|f| f.kind.as_deref() == Some(&b"Sig"[..]))
    {
        let Some(value) = sig.value.as_ref().and_then(|v| resolve(doc, v)) else {
            continue;
        };
        let Ok(value) = value.as_dict() else { continue };
        let mut locks: Vec<Dictionary> = sig.lock.iter().cloned().collect();
        let references = value
            .get(b"Reference")
            .ok()
            .and_then(|o| resolve(doc, o))
            .and_then(|o| o.as_array().ok())
            .cloned()
            .unwrap_or_default();
        for r in &references {
            let Some(r) = resolve(doc, r).and_then(|o| o.as_dict().ok()) else {
                continue;
            };
            let method = r.get(b"TransformMethod").and_then(Object::as_name).ok();
            let Some(params) = r
                .get(b"TransformParams")
                .ok()
                .and_then(|o| resolve(doc, o))
                .and_then(|o| o.as_dict().ok())
            else {
                continue;
            };
            match method {
                Some(b"FieldMDP") => locks.push(params.clone()),
                Some(b"DocMDP") if params.get(b"P").and_then(Object::as_i64).ok() == Some(1) => {
                    return Some(sig.name.clone());
                }
                _ => {}
            }
        }
        for lock in &locks {
            let named: Vec<String> = lock
                .get(b"Fields")
                .ok()
                .and_then(|o| resolve(doc, o))
                .and_then(|o| o.as_array().ok())
                .map(|a| a.iter().filter_map(text_of).collect())
                .unwrap_or_default();
            let listed = named.iter().any(|n| n == name);
            let locked = match lock.get(b"Action").and_then(Object::as_name).ok() {
                Some(b"All") => true,
                Some(b"Include") => listed,
                Some(b"Exclude") => !listed,
                _ => false,
            };
            if locked {
                return Some(sig.name.clone());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pades::appearance::TextField;
    use crate::pades::writer::{SignatureSpec, prepare};

    fn spec() -> SignatureSpec {
        SignatureSpec {
            field: None,
            pdf_date: "D:20261122143005+07'00'".into(),
            reason: None,
            location: None,
            contents_size: 64,
            visible: None,
            text_fields: vec![
                TextField {
                    name: "so".into(),
                    page: 1,
                    rect: [72.0, 700.0, 200.0, 20.0],
                    font_size: 12.0,
                },
                TextField {
                    name: "ngay".into(),
                    page: 1,
                    rect: [300.0, 700.0, 250.0, 20.0],
                    font_size: 12.0,
                },
            ],
        }
    }

    fn with_fields() -> Vec<u8> {
        let input = crate::pdf::sample::sample_pdf("Quyết định", 1);
        prepare(&input, &spec(), &PdfLimits::default())
            .expect("prepare")
            .finish(&[0x30, 0x00])
            .expect("finish")
    }

    fn values(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn filled_values_are_set_and_drawn_so_that_they_read_back() {
        let signed = with_fields();
        let number = "12/QĐ-UBND";
        let date = "Hà Nội, ngày 23 tháng 11 năm 2026";
        let out = fill_fields(
            &signed,
            &values(&[("so", number), ("ngay", date)]),
            &PdfLimits::default(),
        )
        .expect("fill");
        assert!(out.starts_with(&signed), "an incremental revision");
        let doc = Document::load_mem(&out).expect("read back");
        let fields = form_fields(&doc);
        for (name, value) in [("so", number), ("ngay", date)] {
            let f = fields.iter().find(|f| f.name == name).expect("field");
            assert_eq!(f.value.as_ref().and_then(text_of).as_deref(), Some(value));
            // The appearance's text, through the font's /ToUnicode, is the value.
            let widget = dict_at(&doc, f.widgets[0]).expect("widget");
            let ap = widget.get(b"AP").and_then(Object::as_dict).expect("AP");
            let form_id = ap.get(b"N").and_then(Object::as_reference).expect("N");
            let Ok(Object::Stream(form)) = doc.get_object(form_id) else {
                panic!("a form stream")
            };
            let content = form.decompressed_content().expect("content");
            let content = String::from_utf8(content).expect("ASCII content");
            let hex = content
                .split('<')
                .nth(1)
                .and_then(|s| s.split('>').next())
                .expect("a hex string");
            let operand = hex::decode(hex).expect("hex");
            let resources = form
                .dict
                .get(b"Resources")
                .and_then(Object::as_dict)
                .expect("res");
            let font_id = resources
                .get(b"Font")
                .and_then(Object::as_dict)
                .and_then(|f| f.get(b"F1"))
                .and_then(Object::as_reference)
                .expect("F1");
            let font = dict_at(&doc, font_id).expect("font");
            assert_eq!(
                font.get(b"Subtype").and_then(Object::as_name).ok(),
                Some(&b"Type0"[..])
            );
            let cmap_id = font
                .get(b"ToUnicode")
                .and_then(Object::as_reference)
                .expect("ToUnicode");
            let Ok(Object::Stream(cmap)) = doc.get_object(cmap_id) else {
                panic!("a CMap stream")
            };
            let cmap = String::from_utf8(cmap.decompressed_content().expect("cmap")).expect("cmap");
            assert_eq!(crate::pades::font::decode_with_cmap(&cmap, &operand), value);
        }
    }

    #[test]
    fn a_fill_after_an_xref_stream_is_an_xref_stream() {
        let input = crate::pdf::sample::sample_pdf("Quyết định", 1);
        let Some(streamed) = crate::pades::writer::with_xref_stream(&input) else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("qpdf is required in CI");
            }
            eprintln!("SKIPPED: qpdf is not installed");
            return;
        };
        let mut spec = spec();
        spec.contents_size = 64;
        let signed = prepare(&streamed, &spec, &PdfLimits::default())
            .expect("prepare")
            .finish(&[0x30, 0x00])
            .expect("finish");
        let out = fill_fields(
            &signed,
            &values(&[("so", "12/QĐ-UBND")]),
            &PdfLimits::default(),
        )
        .expect("fill");
        assert_eq!(
            last_xref(&out).expect("xref").1,
            crate::pades::writer::XrefForm::Stream
        );
        let doc = Document::load_mem(&out).expect("read back");
        let so = form_fields(&doc)
            .into_iter()
            .find(|f| f.name == "so")
            .expect("so");
        assert_eq!(
            so.value.as_ref().and_then(text_of).as_deref(),
            Some("12/QĐ-UBND")
        );
    }

    #[test]
    fn unknown_non_text_and_bad_values_are_refused() {
        let signed = with_fields();
        let limits = PdfLimits::default();
        let err = fill_fields(&signed, &values(&[("nope", "x")]), &limits).expect_err("unknown");
        assert!(
            matches!(&err, SignPdfError::UnknownField(n) if n == "nope"),
            "{err}"
        );
        let err = fill_fields(&signed, &values(&[("Signature1", "x")]), &limits).expect_err("sig");
        assert!(
            matches!(&err, SignPdfError::NotATextField(n) if n == "Signature1"),
            "{err}"
        );
        let err = fill_fields(&signed, &values(&[("so", "a\nb")]), &limits).expect_err("newline");
        assert!(matches!(&err, SignPdfError::InvalidField { .. }), "{err}");
        let err = fill_fields(&signed, &values(&[("so", "😀")]), &limits).expect_err("glyph");
        assert!(err.to_string().contains("U+1F600"), "{err}");
        let err =
            fill_fields(&signed, &values(&[("so", "1"), ("so", "2")]), &limits).expect_err("twice");
        assert!(err.to_string().contains("twice"), "{err}");
        let err = fill_fields(&signed, &[], &limits).expect_err("nothing");
        assert_eq!(
            err.to_string(),
            "the PDF's fields cannot be filled: no field values were given"
        );
    }

    #[test]
    fn a_read_only_or_signature_locked_field_is_refused() {
        let signed = with_fields();
        let doc = Document::load_mem(&signed).expect("read");
        let fields = form_fields(&doc);
        let so = fields.iter().find(|f| f.name == "so").expect("so");
        let sig = fields.iter().find(|f| f.name == "Signature1").expect("sig");
        // A revision that makes "so" read-only.
        let mut objects = NewObjects::new(&doc);
        let mut d = dict_at(&doc, so.id).expect("dict").clone();
        d.set("Ff", Object::Integer(1));
        objects
            .put_object(so.id, &Object::Dictionary(d))
            .expect("put");
        let (prev, form) = last_xref(&signed).expect("xref");
        let read_only = append_revision(&signed, &doc.trailer, prev, form, objects)
            .expect("append")
            .bytes;
        let err = fill_fields(&read_only, &values(&[("so", "1")]), &PdfLimits::default())
            .expect_err("read-only");
        assert!(
            matches!(&err, SignPdfError::LockedField(n, _) if n == "so"),
            "{err}"
        );
        // A revision that gives the signature field a /Lock naming "ngay".
        let mut objects = NewObjects::new(&doc);
        let mut d = dict_at(&doc, sig.id).expect("dict").clone();
        let mut lock = Dictionary::new();
        lock.set("Type", Object::Name(b"SigFieldLock".to_vec()));
        lock.set("Action", Object::Name(b"Include".to_vec()));
        lock.set("Fields", Object::Array(vec![text_string("ngay")]));
        d.set("Lock", Object::Dictionary(lock));
        objects
            .put_object(sig.id, &Object::Dictionary(d))
            .expect("put");
        let locked = append_revision(&signed, &doc.trailer, prev, form, objects)
            .expect("append")
            .bytes;
        let err = fill_fields(&locked, &values(&[("ngay", "x")]), &PdfLimits::default())
            .expect_err("locked");
        assert!(
            matches!(&err, SignPdfError::LockedField(n, why) if n == "ngay" && why.contains("Signature1")),
            "{err}"
        );
        fill_fields(&locked, &values(&[("so", "x")]), &PdfLimits::default()).expect("not locked");
    }
}
