//! Liberation Serif (assets/fonts, SIL Open Font License 1.1), embedded as
//! a subset: a Type 0 font, Identity-H encoding, over a CIDFontType2 whose
//! CIDs are the subset's glyph ids (/CIDToGIDMap /Identity), with /W
//! widths and a /ToUnicode map so that the text can be copied and searched.
//!
//! The standard 14 fonts cannot draw Vietnamese ("Đ", "ụ", "ế"); this font
//! can, and is metric-compatible with Times New Roman, which official
//! documents use. Text is normalised to NFC first, so that a letter with
//! its marks is one precomposed glyph.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lopdf::{Dictionary, Object, ObjectId};
use unicode_normalization::UnicodeNormalization;

use super::writer::{NewObjects, SignPdfError};

/// The font program, compiled in: the server needs no system font.
const LIBERATION_SERIF: &[u8] = include_bytes!("../../assets/fonts/LiberationSerif-Regular.ttf");

/// The PostScript name of the font.
const BASE_NAME: &str = "LiberationSerif";

/// The letters a Vietnamese text may use besides ASCII: what a form
/// field's default font (AcroForm /DR) carries, for viewers that redraw a
/// field as it is typed.
pub(crate) const VIETNAMESE: &str = "ÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝàáâãèéêìíòóôõùúýĂăĐđĨĩŨũƠơƯư\
    ẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợ\
    ỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹ–—‘’“”…";

/// The glyphs a piece of text needs, collected before the subset is
/// written.
pub(crate) struct FontSubset {
    face: ttf_parser::Face<'static>,
    remapper: subsetter::GlyphRemapper,
    /// CID (the glyph's id in the subset) → the text it stands for.
    to_unicode: BTreeMap<u16, char>,
    /// CID → advance width in thousandths of the font size.
    widths: BTreeMap<u16, f32>,
}

impl FontSubset {
    pub(crate) fn new() -> Result<FontSubset, SignPdfError> {
        let face = ttf_parser::Face::parse(LIBERATION_SERIF, 0)
            .map_err(|e| SignPdfError::Unsupported(format!("the built-in font: {e}")))?;
        Ok(FontSubset {
            face,
            remapper: subsetter::GlyphRemapper::new(),
            to_unicode: BTreeMap::new(),
            widths: BTreeMap::new(),
        })
    }

    fn units_per_em(&self) -> f32 {
        f32::from(self.face.units_per_em())
    }

    /// `text` as the bytes of a string operand for `Tj` (two bytes per
    /// glyph), its glyphs added to the subset; or the first character the
    /// font cannot draw.
    pub(crate) fn encode(&mut self, text: &str) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let units_per_em = self.units_per_em();
        for c in text.nfc() {
            let glyph = self
                .face
                .glyph_index(c)
                .filter(|g| g.0 != 0)
                .ok_or_else(|| format!("the font has no glyph for {c:?} (U+{:04X})", c as u32))?;
            let cid = self.remapper.remap(glyph.0);
            if let std::collections::btree_map::Entry::Vacant(e) = self.to_unicode.entry(cid) {
                e.insert(c);
                let advance = f32::from(self.face.glyph_hor_advance(glyph).unwrap_or(0));
                self.widths.insert(cid, advance * 1000.0 / units_per_em);
            }
            out.extend_from_slice(&cid.to_be_bytes());
        }
        Ok(out)
    }

    /// The width of `text` at font size 1 (in points per point of size);
    /// characters the font lacks count as nothing.
    pub(crate) fn width(&self, text: &str) -> f32 {
        text.nfc()
            .filter_map(|c| self.face.glyph_index(c))
            .filter_map(|g| self.face.glyph_hor_advance(g))
            .map(|a| f32::from(a) / self.units_per_em())
            .sum()
    }

    /// The ascender and descender (negative) at font size 1.
    pub(crate) fn vertical_metrics(&self) -> (f32, f32) {
        (
            f32::from(self.face.ascender()) / self.units_per_em(),
            f32::from(self.face.descender()) / self.units_per_em(),
        )
    }

    /// Writes the subset as new objects and returns the Type 0 font's id.
    pub(crate) fn write(self, objects: &mut NewObjects) -> Result<ObjectId, SignPdfError> {
        let id = objects.reserve();
        self.write_as(objects, id)?;
        Ok(id)
    }

    /// Writes the subset, its Type 0 font as object `id` (reserved before,
    /// for appearances drawn before the last glyph was known).
    pub(crate) fn write_as(
        self,
        objects: &mut NewObjects,
        id: ObjectId,
    ) -> Result<(), SignPdfError> {
        let program = subsetter::subset(LIBERATION_SERIF, 0, &self.remapper)
            .map_err(|e| SignPdfError::Unsupported(format!("subsetting the font failed: {e}")))?;
        let base_font = format!("{}+{BASE_NAME}", self.tag()).into_bytes();
        let scale = 1000.0 / self.units_per_em();
        let name = |s: &[u8]| Object::Name(s.to_vec());
        let int = |v: f32| Object::Integer(v.round() as i64);

        let mut file = Dictionary::new();
        file.set("Length1", Object::Integer(program.len() as i64));
        let file_id = objects.add_stream(file, &program, true)?;

        let bbox = self.face.global_bounding_box();
        let (ascent, descent) = (
            f32::from(self.face.ascender()),
            f32::from(self.face.descender()),
        );
        let cap_height = self.face.capital_height().map_or(ascent, f32::from);
        let mut descriptor = Dictionary::new();
        descriptor.set("Type", name(b"FontDescriptor"));
        descriptor.set("FontName", Object::Name(base_font.clone()));
        // Serif (2) and Nonsymbolic (32).
        descriptor.set("Flags", Object::Integer(34));
        descriptor.set(
            "FontBBox",
            Object::Array(vec![
                int(f32::from(bbox.x_min) * scale),
                int(f32::from(bbox.y_min) * scale),
                int(f32::from(bbox.x_max) * scale),
                int(f32::from(bbox.y_max) * scale),
            ]),
        );
        descriptor.set("ItalicAngle", Object::Integer(0));
        descriptor.set("Ascent", int(ascent * scale));
        descriptor.set("Descent", int(descent * scale));
        descriptor.set("CapHeight", int(cap_height * scale));
        descriptor.set("StemV", Object::Integer(80));
        descriptor.set("FontFile2", Object::Reference(file_id));
        let descriptor_id = objects.add(&Object::Dictionary(descriptor))?;

        // /W: the widths of the CIDs the text uses, in runs of consecutive
        // CIDs: [first [w w ...] first [w ...]].
        let mut w = Vec::new();
        let mut run: Vec<Object> = Vec::new();
        let mut run_start = None;
        let mut previous = None;
        for (&cid, &width) in &self.widths {
            if previous.is_some_and(|p: u16| p + 1 != cid) {
                w.push(Object::Integer(i64::from(run_start.unwrap_or(0))));
                w.push(Object::Array(std::mem::take(&mut run)));
                run_start = None;
            }
            run_start.get_or_insert(cid);
            run.push(int(width));
            previous = Some(cid);
        }
        if let Some(start) = run_start {
            w.push(Object::Integer(i64::from(start)));
            w.push(Object::Array(run));
        }

        let mut system_info = Dictionary::new();
        system_info.set("Registry", Object::string_literal("Adobe"));
        system_info.set("Ordering", Object::string_literal("Identity"));
        system_info.set("Supplement", Object::Integer(0));
        let mut cid_font = Dictionary::new();
        cid_font.set("Type", name(b"Font"));
        cid_font.set("Subtype", name(b"CIDFontType2"));
        cid_font.set("BaseFont", Object::Name(base_font.clone()));
        cid_font.set("CIDSystemInfo", Object::Dictionary(system_info));
        cid_font.set("FontDescriptor", Object::Reference(descriptor_id));
        cid_font.set("DW", Object::Integer(1000));
        cid_font.set("W", Object::Array(w));
        cid_font.set("CIDToGIDMap", name(b"Identity"));
        let cid_font_id = objects.add(&Object::Dictionary(cid_font))?;

        let to_unicode_id = objects.add_stream(
            Dictionary::new(),
            to_unicode_cmap(&self.to_unicode).as_bytes(),
            true,
        )?;

        let mut font = Dictionary::new();
        font.set("Type", name(b"Font"));
        font.set("Subtype", name(b"Type0"));
        font.set("BaseFont", Object::Name(base_font));
        font.set("Encoding", name(b"Identity-H"));
        font.set(
            "DescendantFonts",
            Object::Array(vec![Object::Reference(cid_font_id)]),
        );
        font.set("ToUnicode", Object::Reference(to_unicode_id));
        objects.put_object(id, &Object::Dictionary(font))
    }

    /// Six capital letters naming this subset (PDF 32000-1, 9.6.4), from
    /// its glyphs: the same glyphs give the same tag.
    fn tag(&self) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for cid in self.to_unicode.keys() {
            ctx.update(&cid.to_be_bytes());
        }
        for g in self.remapper.remapped_gids() {
            ctx.update(&g.to_be_bytes());
        }
        ctx.finish()
            .as_ref()
            .iter()
            .take(6)
            .map(|b| char::from(b'A' + b % 26))
            .collect()
    }
}

/// A hex string operand: `<0001002A>`.
pub(crate) fn hex_operand(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2 + 2);
    s.push('<');
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s.push('>');
    s
}

/// The /ToUnicode CMap: each CID to its character (UTF-16BE).
fn to_unicode_cmap(map: &BTreeMap<u16, char>) -> String {
    let mut s = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let entries: Vec<(&u16, &char)> = map.iter().collect();
    for chunk in entries.chunks(100) {
        let _ = writeln!(s, "{} beginbfchar", chunk.len());
        for (cid, c) in chunk {
            let mut units = [0u16; 2];
            let text: String = c
                .encode_utf16(&mut units)
                .iter()
                .map(|u| format!("{u:04X}"))
                .collect();
            let _ = writeln!(s, "<{cid:04X}> <{text}>");
        }
        s.push_str("endbfchar\n");
    }
    s.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    s
}

/// For tests: the text a /ToUnicode CMap and a string operand stand for.
#[cfg(test)]
pub(crate) fn decode_with_cmap(cmap: &str, operand: &[u8]) -> String {
    let mut map = BTreeMap::new();
    let mut in_bfchar = false;
    for line in cmap.lines() {
        if line.ends_with("beginbfchar") {
            in_bfchar = true;
        } else if line == "endbfchar" {
            in_bfchar = false;
        } else if in_bfchar {
            let parts: Vec<&str> = line
                .split(['<', '>', ' '])
                .filter(|p| !p.is_empty())
                .collect();
            if let [cid, text] = parts[..] {
                let cid = u16::from_str_radix(cid, 16).unwrap_or(0);
                let units: Vec<u16> = text
                    .as_bytes()
                    .chunks(4)
                    .filter_map(|c| std::str::from_utf8(c).ok())
                    .filter_map(|c| u16::from_str_radix(c, 16).ok())
                    .collect();
                map.insert(cid, String::from_utf16_lossy(&units));
            }
        }
    }
    operand
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
        .map(|cid| map.get(&cid).cloned().unwrap_or_else(|| "\u{fffd}".into()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_round_trips_through_the_to_unicode_map() {
        let mut font = FontSubset::new().expect("font");
        let text =
            "Số: 12/QĐ-UBND — Hà Nội, ngày 23 tháng 11 năm 2026; Ủy ban nhân dân tỉnh Quảng Ninh";
        let operand = font.encode(text).expect("encode");
        assert_eq!(operand.len(), 2 * text.chars().count());
        let cmap = to_unicode_cmap(&font.to_unicode);
        assert_eq!(decode_with_cmap(&cmap, &operand), text);
        // Decomposed input (e + combining marks) becomes the precomposed letters.
        let decomposed = "Nguye\u{0302}\u{0303}n";
        let again = font.encode(decomposed).expect("encode");
        assert_eq!(decode_with_cmap(&cmap_of(&font), &again), "Nguyễn");
    }

    fn cmap_of(font: &FontSubset) -> String {
        to_unicode_cmap(&font.to_unicode)
    }

    #[test]
    fn every_vietnamese_letter_has_a_glyph() {
        let mut font = FontSubset::new().expect("font");
        font.encode(VIETNAMESE).expect("every letter");
        let mut ascii = String::new();
        for c in ' '..='~' {
            ascii.push(c);
        }
        font.encode(&ascii).expect("ASCII");
    }

    #[test]
    fn a_character_the_font_lacks_is_named() {
        let mut font = FontSubset::new().expect("font");
        let err = font.encode("ok 😀").expect_err("no emoji");
        assert!(err.contains("U+1F600"), "{err}");
    }

    #[test]
    fn the_subset_is_small_and_names_itself() {
        let mut font = FontSubset::new().expect("font");
        font.encode("Trần Văn Minh").expect("encode");
        let tag = font.tag();
        assert_eq!(tag.len(), 6);
        assert!(tag.chars().all(|c| c.is_ascii_uppercase()));
        let program = subsetter::subset(LIBERATION_SERIF, 0, &font.remapper).expect("subset");
        assert!(program.len() < 20_000, "{} bytes", program.len());
    }
}
