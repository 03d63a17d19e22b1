//! What a signature or a field looks like on the page: appearance streams
//! (form XObjects) drawn with the embedded Liberation Serif subset
//! ([`super::font`]) and, for a visible signature, a PNG image (a
//! handwritten signature, a seal).

use std::io::Cursor;

use lopdf::{Dictionary, Object, ObjectId};

use super::font::{FontSubset, VIETNAMESE, hex_operand};
use super::writer::{NewObjects, SignPdfError, number, number_object};

/// Where and how a signature shows on the page.
///
/// The rectangle is `[x, y, width, height]` in PDF points from the lower-left
/// corner of the page's /MediaBox. With an image and lines, the image takes
/// the upper part and the lines go under it; lines alone make a text-only
/// stamp (for an attachment: the agency, the number, the time).
#[derive(Clone, PartialEq)]
pub struct Visible {
    /// 1-based page number.
    pub page: u32,
    pub rect: [f32; 4],
    /// PNG bytes (gray, RGB, with or without alpha; palettes and 16-bit
    /// are converted): drawn scaled to fit, keeping its aspect ratio.
    pub image: Option<Vec<u8>>,
    /// Text lines, drawn centred with the embedded font; may be empty.
    pub lines: Vec<String>,
    /// RGB (each 0 to 1) of the text: blue (0, 0, 0.6) for a person, red
    /// for the seal.
    pub color: [f32; 3],
}

impl std::fmt::Debug for Visible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visible")
            .field("page", &self.page)
            .field("rect", &self.rect)
            .field(
                "image",
                &self.image.as_ref().map(|i| format!("{} bytes", i.len())),
            )
            .field("lines", &self.lines)
            .field("color", &self.color)
            .finish()
    }
}

/// The blue of a person's signature text.
pub const PERSON_BLUE: [f32; 3] = [0.0, 0.0, 0.6];
/// The red of a seal.
pub const SEAL_RED: [f32; 3] = [0.8, 0.0, 0.0];

/// An empty text field the signing revision creates, to be filled later
/// ([`super::fill::fill_fields`]) without breaking the signature: the
/// document number, the date.
#[derive(Clone, Debug, PartialEq)]
pub struct TextField {
    /// The field's name (/T): not empty, no ".".
    pub name: String,
    /// 1-based page number.
    pub page: u32,
    /// `[x, y, width, height]` in points from the page's lower-left corner.
    pub rect: [f32; 4],
    /// The text's size in points (2 to 72); a value too long for the
    /// field is drawn smaller.
    pub font_size: f32,
}

/// Most lines a visible signature takes, and most characters in one.
const MAX_LINES: usize = 12;
const MAX_LINE_CHARS: usize = 200;
/// Largest image, in pixels, and largest PNG file.
const MAX_PIXELS: u64 = 16 * 1024 * 1024;
const MAX_PNG_BYTES: usize = 16 * 1024 * 1024;
/// Space between the rectangle's edge and what is drawn, in points.
const PAD: f32 = 2.0;
/// Line height as a multiple of the font size.
const LEADING: f32 = 1.2;

fn visible_error(m: impl Into<String>) -> SignPdfError {
    SignPdfError::Visible(m.into())
}

/// Writes the appearance of a visible signature (a form XObject the size
/// of the rectangle, with its own font and image) and returns its id. The
/// rectangle must already be checked against the page.
pub(crate) fn signature(v: &Visible, objects: &mut NewObjects) -> Result<ObjectId, SignPdfError> {
    let [_, _, w, h] = v.rect;
    if v.color
        .iter()
        .any(|c| !c.is_finite() || !(0.0..=1.0).contains(c))
    {
        return Err(visible_error(format!(
            "each colour component is between 0 and 1 (got {:?})",
            v.color
        )));
    }
    if v.lines.len() > MAX_LINES {
        return Err(visible_error(format!(
            "at most {MAX_LINES} lines of text (got {})",
            v.lines.len()
        )));
    }
    if let Some(long) = v.lines.iter().find(|l| l.chars().count() > MAX_LINE_CHARS) {
        return Err(visible_error(format!(
            "a line has more than {MAX_LINE_CHARS} characters: {:?}...",
            long.chars().take(20).collect::<String>()
        )));
    }
    if v.lines.iter().any(|l| l.chars().any(char::is_control)) {
        return Err(visible_error("a line of text contains a control character"));
    }
    if v.image.is_none() && v.lines.iter().all(|l| l.trim().is_empty()) {
        return Err(visible_error("give an image, lines of text, or both"));
    }
    let mut content = String::from("q\n");
    let mut resources = Dictionary::new();

    // The text block: at the bottom under an image, or centred alone.
    let mut text_height = 0.0;
    if !v.lines.is_empty() {
        let mut font = FontSubset::new()?;
        let mut encoded = Vec::new();
        for line in &v.lines {
            encoded.push(font.encode(line).map_err(visible_error)?);
        }
        let widest = v
            .lines
            .iter()
            .map(|l| font.width(l))
            .fold(0.0_f32, f32::max)
            .max(0.01);
        let n = v.lines.len() as f32;
        let room = if v.image.is_some() { h * 0.5 } else { h } - 2.0 * PAD;
        let size = 12.0_f32
            .min((w - 2.0 * PAD) / widest)
            .min(room / (n * LEADING));
        if size < 2.0 {
            return Err(visible_error(format!(
                "the text does not fit a {w} x {h} point rectangle: make it larger or the lines shorter"
            )));
        }
        let (ascent, descent) = font.vertical_metrics();
        let leading = size * LEADING;
        text_height = n * leading;
        let top = if v.image.is_some() {
            PAD + text_height
        } else {
            (h + text_height) / 2.0
        };
        let [r, g, b] = v.color;
        content.push_str(&format!("{} {} {} rg\n", number(r), number(g), number(b)));
        for (i, (line, operand)) in v.lines.iter().zip(&encoded).enumerate() {
            let x = (w - font.width(line) * size) / 2.0;
            let glyphs = (ascent - descent) * size;
            let baseline = top - i as f32 * leading - (leading - glyphs) / 2.0 - ascent * size;
            content.push_str(&format!(
                "BT /F1 {} Tf 1 0 0 1 {} {} Tm {} Tj ET\n",
                number(size),
                number(x),
                number(baseline),
                hex_operand(operand)
            ));
        }
        let font_id = font.write(objects)?;
        let mut fonts = Dictionary::new();
        fonts.set("F1", Object::Reference(font_id));
        resources.set("Font", Object::Dictionary(fonts));
    }

    // The image, in the space above the text, scaled to fit.
    if let Some(png) = &v.image {
        let image = decode_png(png)?;
        let (area_w, area_h) = (w - 2.0 * PAD, h - 2.0 * PAD - text_height);
        if area_w <= 0.0 || area_h <= 0.0 {
            return Err(visible_error("the rectangle leaves no room for the image"));
        }
        let scale = (area_w / image.width as f32).min(area_h / image.height as f32);
        let (dw, dh) = (image.width as f32 * scale, image.height as f32 * scale);
        let x = PAD + (area_w - dw) / 2.0;
        let y = PAD + text_height + (area_h - dh) / 2.0;
        let id = image.write(objects)?;
        let mut xobjects = Dictionary::new();
        xobjects.set("Im1", Object::Reference(id));
        resources.set("XObject", Object::Dictionary(xobjects));
        content.push_str(&format!(
            "q {} 0 0 {} {} {} cm /Im1 Do Q\n",
            number(dw),
            number(dh),
            number(x),
            number(y)
        ));
    }
    content.push_str("Q\n");
    form(objects, w, h, resources, content.as_bytes())
}

/// A form XObject `w` x `h` points with `resources` and `content`.
fn form(
    objects: &mut NewObjects,
    w: f32,
    h: f32,
    resources: Dictionary,
    content: &[u8],
) -> Result<ObjectId, SignPdfError> {
    let mut dict = Dictionary::new();
    dict.set("Type", Object::Name(b"XObject".to_vec()));
    dict.set("Subtype", Object::Name(b"Form".to_vec()));
    dict.set(
        "BBox",
        Object::Array(vec![
            Object::Integer(0),
            Object::Integer(0),
            number_object(w),
            number_object(h),
        ]),
    );
    dict.set("Resources", Object::Dictionary(resources));
    objects.add_stream(dict, content, true)
}

/// The appearance of an empty text field of `rect` (a /Rect).
pub(crate) fn empty(rect: &[f32; 4], objects: &mut NewObjects) -> Result<ObjectId, SignPdfError> {
    form(
        objects,
        rect[2] - rect[0],
        rect[3] - rect[1],
        Dictionary::new(),
        b"/Tx BMC\nEMC\n",
    )
}

/// The default font of the text fields (AcroForm /DR): Liberation Serif
/// with ASCII and the Vietnamese letters, so that a viewer that redraws a
/// field while it is typed in can draw Vietnamese.
pub(crate) fn field_font(objects: &mut NewObjects) -> Result<ObjectId, SignPdfError> {
    let mut font = FontSubset::new()?;
    let ascii: String = (' '..='~').collect();
    for text in [ascii.as_str(), VIETNAMESE] {
        font.encode(text)
            .map_err(|e| SignPdfError::Unsupported(format!("the built-in font: {e}")))?;
    }
    font.write(objects)
}

/// How a text field's value is drawn: from its /DA and /Q.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldStyle {
    /// The font size; 0 means "fit the field".
    pub size: f32,
    /// The colour operator with its operands, e.g. `0 g` or `0 0 0.6 rg`.
    pub color: String,
    /// 0 left, 1 centred, 2 right.
    pub quadding: i64,
}

impl FieldStyle {
    /// Reads the size and colour of a /DA string (`/Helv 11 Tf 0 g`).
    pub(crate) fn from_da(da: &str, quadding: i64) -> FieldStyle {
        let tokens: Vec<&str> = da.split_whitespace().collect();
        let mut size: f32 = 0.0;
        let mut color = "0 g".to_string();
        for (i, t) in tokens.iter().enumerate() {
            let operands = |n: usize| -> Option<Vec<&str>> {
                let ops = tokens.get(i.checked_sub(n)?..i)?;
                ops.iter()
                    .all(|o| o.parse::<f32>().is_ok())
                    .then(|| ops.to_vec())
            };
            match *t {
                "Tf" => {
                    if let Some(s) = tokens.get(i.wrapping_sub(1)).and_then(|s| s.parse().ok()) {
                        size = s;
                    }
                }
                "g" | "rg" | "k" => {
                    let n = match *t {
                        "g" => 1,
                        "rg" => 3,
                        _ => 4,
                    };
                    if let Some(ops) = operands(n) {
                        color = format!("{} {t}", ops.join(" "));
                    }
                }
                _ => {}
            }
        }
        FieldStyle {
            size: if size.is_finite() && size >= 0.0 {
                size
            } else {
                0.0
            },
            color,
            quadding: quadding.clamp(0, 2),
        }
    }
}

/// The appearance of a filled text field: one line, `operand` (encoded
/// with `font`, whose Type 0 font is `font_id`), clipped to the field,
/// drawn smaller when it would not fit.
pub(crate) fn filled(
    objects: &mut NewObjects,
    font: &FontSubset,
    font_id: ObjectId,
    text: &str,
    operand: &[u8],
    (w, h): (f32, f32),
    style: &FieldStyle,
) -> Result<ObjectId, SignPdfError> {
    let (ascent, descent) = font.vertical_metrics();
    let per_point = font.width(text).max(0.01);
    let fit_height = (h - 2.0) / (ascent - descent);
    let mut size = if style.size > 0.0 {
        style.size
    } else {
        fit_height.min(12.0)
    };
    size = size.min((w - 2.0 * PAD) / per_point).max(1.0);
    let text_w = per_point * size;
    let x = match style.quadding {
        1 => (w - text_w) / 2.0,
        2 => w - PAD - text_w,
        _ => PAD,
    };
    let baseline = (h - (ascent - descent) * size) / 2.0 - descent * size;
    let content = format!(
        "/Tx BMC\nq\n1 1 {} {} re W n\nBT\n/F1 {} Tf\n{}\n{} {} Td\n{} Tj\nET\nQ\nEMC\n",
        number((w - 2.0).max(0.0)),
        number((h - 2.0).max(0.0)),
        number(size),
        style.color,
        number(x),
        number(baseline),
        hex_operand(operand)
    );
    let mut fonts = Dictionary::new();
    fonts.set("F1", Object::Reference(font_id));
    let mut resources = Dictionary::new();
    resources.set("Font", Object::Dictionary(fonts));
    form(objects, w, h, resources, content.as_bytes())
}

/// A decoded PNG: 8-bit gray or RGB samples, and an alpha channel when
/// the image has transparency.
struct Image {
    width: u32,
    height: u32,
    rgb: bool,
    samples: Vec<u8>,
    alpha: Option<Vec<u8>>,
}

fn decode_png(bytes: &[u8]) -> Result<Image, SignPdfError> {
    let bad = |e: &dyn std::fmt::Display| {
        visible_error(format!("the image is not a PNG that can be read: {e}"))
    };
    if bytes.len() > MAX_PNG_BYTES {
        return Err(visible_error(format!(
            "the image is larger than {} MiB",
            MAX_PNG_BYTES / (1024 * 1024)
        )));
    }
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: 4 * MAX_PIXELS as usize,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| bad(&e))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| visible_error("the image is too large"))?;
    let mut buffer = vec![0; size];
    let frame = reader.next_frame(&mut buffer).map_err(|e| bad(&e))?;
    let (width, height) = (frame.width, frame.height);
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(visible_error(format!(
            "the image's size ({width} x {height} pixels) is not accepted"
        )));
    }
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => {
            return Err(visible_error(format!(
                "unexpected PNG colour type {other:?}"
            )));
        }
    };
    if frame.bit_depth != png::BitDepth::Eight {
        return Err(visible_error(
            "the image is not 8 bits per sample after decoding",
        ));
    }
    let line = frame.line_size;
    let row_bytes = width as usize * channels;
    let (rgb, has_alpha) = (channels >= 3, channels % 2 == 0);
    let color_channels = if rgb { 3 } else { 1 };
    let mut samples = Vec::with_capacity(width as usize * height as usize * color_channels);
    let mut alpha = Vec::with_capacity(if has_alpha {
        width as usize * height as usize
    } else {
        0
    });
    for row in buffer.chunks(line).take(height as usize) {
        let row = row
            .get(..row_bytes)
            .ok_or_else(|| visible_error("the image's rows are shorter than its width"))?;
        for pixel in row.chunks(channels) {
            samples.extend_from_slice(&pixel[..color_channels]);
            if has_alpha {
                alpha.push(pixel[channels - 1]);
            }
        }
    }
    let alpha = (has_alpha && alpha.iter().any(|&a| a != 255)).then_some(alpha);
    Ok(Image {
        width,
        height,
        rgb,
        samples,
        alpha,
    })
}

impl Image {
    /// Writes the image XObject (and its /SMask) and returns its id.
    fn write(self, objects: &mut NewObjects) -> Result<ObjectId, SignPdfError> {
        let dict = |gray: bool| {
            let mut d = Dictionary::new();
            d.set("Type", Object::Name(b"XObject".to_vec()));
            d.set("Subtype", Object::Name(b"Image".to_vec()));
            d.set("Width", Object::Integer(i64::from(self.width)));
            d.set("Height", Object::Integer(i64::from(self.height)));
            d.set(
                "ColorSpace",
                Object::Name(if gray {
                    b"DeviceGray".to_vec()
                } else {
                    b"DeviceRGB".to_vec()
                }),
            );
            d.set("BitsPerComponent", Object::Integer(8));
            d
        };
        let mut image = dict(!self.rgb);
        if let Some(alpha) = &self.alpha {
            let mask = objects.add_stream(dict(true), alpha, true)?;
            image.set("SMask", Object::Reference(mask));
        }
        objects.add_stream(image, &self.samples, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, color: png::ColorType, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = png::Encoder::new(&mut out, width, height);
        e.set_color(color);
        e.set_depth(png::BitDepth::Eight);
        let mut w = e.write_header().expect("header");
        w.write_image_data(data).expect("data");
        w.finish().expect("finish");
        out
    }

    #[test]
    fn an_rgba_png_becomes_rgb_samples_and_a_soft_mask() {
        let data = [255, 0, 0, 0, 0, 0, 255, 128];
        let image = decode_png(&png(2, 1, png::ColorType::Rgba, &data)).expect("decode");
        assert!(image.rgb);
        assert_eq!(image.samples, vec![255, 0, 0, 0, 0, 255]);
        assert_eq!(image.alpha, Some(vec![0, 128]));
        let opaque =
            decode_png(&png(1, 1, png::ColorType::GrayscaleAlpha, &[7, 255])).expect("decode");
        assert!(!opaque.rgb);
        assert_eq!(opaque.samples, vec![7]);
        assert_eq!(opaque.alpha, None, "an opaque image needs no mask");
    }

    #[test]
    fn what_is_not_a_png_is_refused_in_one_line() {
        let err = decode_png(b"GIF89a....").err().expect("refused");
        let text = err.to_string();
        assert!(
            text.starts_with("visible signature: the image is not a PNG"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1);
        let mut truncated = png(4, 4, png::ColorType::Rgb, &[9; 48]);
        truncated.truncate(truncated.len() - 20);
        assert!(decode_png(&truncated).is_err());
    }

    /// The widget of the signature field in a prepared file, and the file.
    fn signed_widget(visible: Option<Visible>) -> (lopdf::Document, Dictionary) {
        let input = crate::pdf::sample::sample_pdf("x", 2);
        let spec = crate::pades::writer::SignatureSpec {
            field: None,
            pdf_date: "D:20261122143005+07'00'".into(),
            reason: None,
            location: None,
            contents_size: 64,
            visible,
            text_fields: Vec::new(),
        };
        let pdf = crate::pades::writer::prepare(&input, &spec, &crate::pdf::PdfLimits::default())
            .expect("prepare")
            .finish(&[0x30, 0x00])
            .expect("finish");
        let doc = lopdf::Document::load_mem(&pdf).expect("read back");
        let widget = doc
            .objects
            .values()
            .filter_map(|o| o.as_dict().ok())
            .find(|d| d.get(b"FT").and_then(Object::as_name).ok() == Some(&b"Sig"[..]))
            .expect("the widget")
            .clone();
        (doc, widget)
    }

    fn stream<'a>(doc: &'a lopdf::Document, o: &Object) -> &'a lopdf::Stream {
        match doc.get_object(o.as_reference().expect("a reference")) {
            Ok(Object::Stream(s)) => s,
            other => panic!("a stream: {other:?}"),
        }
    }

    #[test]
    fn the_lines_of_a_visible_signature_read_back_through_to_unicode() {
        let lines = vec![
            "UBND TỈNH QUẢNG NINH".to_string(),
            "Số: 12/QĐ-UBND".to_string(),
            "2026-11-23T14:30:05+07:00".to_string(),
        ];
        let (doc, widget) = signed_widget(Some(Visible {
            page: 2,
            rect: [395.0, 760.0, 190.0, 60.0],
            image: None,
            lines: lines.clone(),
            color: SEAL_RED,
        }));
        let rect: Vec<f32> = widget
            .get(b"Rect")
            .and_then(Object::as_array)
            .expect("Rect")
            .iter()
            .map(|o| o.as_float().expect("number"))
            .collect();
        assert_eq!(rect, vec![395.0, 760.0, 585.0, 820.0]);
        let pages = doc.get_pages();
        assert_eq!(
            widget.get(b"P").and_then(Object::as_reference).ok(),
            Some(pages[&2])
        );
        let ap = widget.get(b"AP").and_then(Object::as_dict).expect("AP");
        let form = stream(&doc, ap.get(b"N").expect("N"));
        let content =
            String::from_utf8(form.decompressed_content().expect("content")).expect("ASCII");
        assert!(content.contains("0.8 0 0 rg"), "{content}");
        let font = form
            .dict
            .get(b"Resources")
            .and_then(Object::as_dict)
            .and_then(|r| r.get(b"Font"))
            .and_then(Object::as_dict)
            .and_then(|f| f.get(b"F1"))
            .and_then(Object::as_reference)
            .and_then(|id| doc.get_object(id))
            .and_then(Object::as_dict)
            .expect("the font");
        let cmap = stream(&doc, font.get(b"ToUnicode").expect("ToUnicode"));
        let cmap = String::from_utf8(cmap.decompressed_content().expect("cmap")).expect("ASCII");
        let shown: Vec<String> = content
            .split('<')
            .skip(1)
            .filter_map(|s| s.split('>').next())
            .map(|hex| crate::pades::font::decode_with_cmap(&cmap, &hex::decode(hex).expect("hex")))
            .collect();
        assert_eq!(shown, lines);
    }

    #[test]
    fn an_invisible_signature_stays_a_zero_rectangle_without_appearance() {
        let (doc, widget) = signed_widget(None);
        let rect = widget
            .get(b"Rect")
            .and_then(Object::as_array)
            .expect("Rect");
        assert_eq!(rect, &vec![Object::Integer(0); 4]);
        assert!(!widget.has(b"AP"));
        assert_eq!(
            widget.get(b"P").and_then(Object::as_reference).ok(),
            Some(doc.get_pages()[&1])
        );
    }

    #[test]
    fn a_field_style_comes_from_its_default_appearance() {
        let s = FieldStyle::from_da("/CvSerif 11 Tf 0 g", 0);
        assert_eq!((s.size, s.color.as_str(), s.quadding), (11.0, "0 g", 0));
        let s = FieldStyle::from_da("0 0 0.6 rg /Helv 0 Tf", 1);
        assert_eq!(
            (s.size, s.color.as_str(), s.quadding),
            (0.0, "0 0 0.6 rg", 1)
        );
        let s = FieldStyle::from_da("", 7);
        assert_eq!((s.size, s.color.as_str(), s.quadding), (0.0, "0 g", 2));
    }
}
