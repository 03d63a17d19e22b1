//! Visible signatures and filled fields, judged by real tools: pyHanko
//! (validity, modification level), poppler's pdffonts (the embedded font)
//! and pdftoppm (something is drawn where it should be), and our own
//! `pdf verify`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::{bin, have_pyhanko, have_tool, keys, pyhanko};
use crate::pades_verify::{append_revision, dict_text, first_page, verify_dev};

/// Rectangles used below, [x, y, w, h] in points on an A4-ish 595 x 842 page.
const SIGNATURE: [f32; 4] = [330.0, 80.0, 220.0, 110.0];
const SEAL: [f32; 4] = [300.0, 60.0, 120.0, 120.0];
const NUMBER: [f32; 4] = [72.0, 690.0, 200.0, 22.0];
const DATE: [f32; 4] = [300.0, 690.0, 260.0, 22.0];

fn rect_arg(page: u32, r: [f32; 4]) -> String {
    format!("{page},{},{},{},{}", r[0], r[1], r[2], r[3])
}

fn sample(dir: &Path) -> PathBuf {
    let p = dir.join("in.pdf");
    std::fs::write(&p, congvan::pdf::sample::sample_pdf("Quyet dinh", 2)).expect("write");
    p
}

/// `congvan pdf sign` with keys-dev's `key` and the extra `flags`.
fn sign(key: &str, flags: &[String], input: &Path, output: &Path) -> Output {
    let k = keys();
    Command::new(bin())
        .args(["pdf", "sign", "--key"])
        .arg(k.join(format!("{key}.key.pem")))
        .arg("--cert")
        .arg(k.join(format!("{key}.cert.pem")))
        .arg("--chain")
        .arg(k.join("chain.pem"))
        .args(flags)
        .arg(input)
        .arg(output)
        .output()
        .expect("run congvan pdf sign")
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn flags(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Page `page` of `pdf` rendered by pdftoppm at 50 dpi: (width, height, RGB).
fn render(pdf: &Path, page: u32) -> (usize, usize, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let prefix = dir.path().join("page");
    let p = page.to_string();
    let o = Command::new("pdftoppm")
        .args(["-r", "50", "-f", &p, "-l", &p, "-png"])
        .arg(pdf)
        .arg(&prefix)
        .output()
        .expect("pdftoppm");
    assert!(o.status.success(), "{o:?}");
    let png = std::fs::read_dir(dir.path())
        .expect("read dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "png"))
        .expect("a rendered page");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).expect("open"),
    ));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("png");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("frame");
    let channels = info.color_type.samples();
    let mut rgb = Vec::with_capacity(info.width as usize * info.height as usize * 3);
    for row in buf.chunks(info.line_size).take(info.height as usize) {
        for px in row.chunks(channels).take(info.width as usize) {
            match channels {
                1 | 2 => rgb.extend_from_slice(&[px[0]; 3]),
                _ => rgb.extend_from_slice(&px[..3]),
            }
        }
    }
    (info.width as usize, info.height as usize, rgb)
}

/// Pixels inside `rect` (points from the lower-left corner of a 842 point
/// high page) that are not white, and those that are clearly blue or red.
fn inked(image: &(usize, usize, Vec<u8>), rect: [f32; 4]) -> (usize, usize, usize) {
    let (w, h, rgb) = image;
    let scale = 50.0 / 72.0;
    let x0 = (rect[0] * scale) as usize;
    let x1 = (((rect[0] + rect[2]) * scale) as usize).min(*w);
    let y0 = ((842.0 - rect[1] - rect[3]) * scale).max(0.0) as usize;
    let y1 = (((842.0 - rect[1]) * scale) as usize).min(*h);
    let (mut ink, mut blue, mut red) = (0, 0, 0);
    for y in y0..y1 {
        for x in x0..x1 {
            let i = (y * w + x) * 3;
            let (r, g, b) = (
                i32::from(rgb[i]),
                i32::from(rgb[i + 1]),
                i32::from(rgb[i + 2]),
            );
            if r < 235 || g < 235 || b < 235 {
                ink += 1;
            }
            if b > r + 60 && b > g + 60 {
                blue += 1;
            }
            if r > b + 60 && r > g + 60 {
                red += 1;
            }
        }
    }
    (ink, blue, red)
}

/// pdffonts' lines for page `page` that name an embedded Liberation Serif.
fn liberation_fonts(pdf: &Path, page: u32) -> Vec<String> {
    let p = page.to_string();
    let o = Command::new("pdffonts")
        .args(["-f", &p, "-l", &p])
        .arg(pdf)
        .output()
        .expect("pdffonts");
    assert!(o.status.success(), "{o:?}");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains("+LiberationSerif"))
        .map(str::to_string)
        .collect()
}

/// A subset CID TrueType font, Identity-H, embedded, subset, with a
/// ToUnicode map: "emb sub uni" all "yes".
fn assert_embedded_subset(line: &str) {
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert!(
        line.contains("CID TrueType") && line.contains("Identity-H"),
        "{line}"
    );
    let tag = cols[0].split('+').next().unwrap_or_default();
    assert!(
        tag.len() == 6 && tag.chars().all(|c| c.is_ascii_uppercase()),
        "{line}"
    );
    // name, "CID", "TrueType", encoding, emb, sub, uni, object id, generation
    assert_eq!(&cols[4..7], ["yes", "yes", "yes"], "{line}");
}

#[test]
fn a_visible_signature_with_an_image_and_vietnamese_lines_is_valid_embedded_and_drawn() {
    if !have_pyhanko() || !have_tool("pdffonts") || !have_tool("pdftoppm") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let input = sample(dir.path());
    let out = dir.path().join("visible.pdf");
    let image = keys().join("lanhdao-signature.png");
    let mut f = flags(&["--visible", &rect_arg(2, SIGNATURE), "--image"]);
    f.push(image.display().to_string());
    f.extend(flags(&["--text", "CHỦ TỊCH", "--text", "Trần Văn Minh"]));
    ok(&sign("lanhdao", &f, &input, &out));

    let judged = pyhanko(std::slice::from_ref(&out));
    let v = &judged[&out]["signatures"]["Signature1"];
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["trusted"], true, "{v}");
    assert_eq!(v["coverage"], "ENTIRE_FILE", "{v}");

    let fonts = liberation_fonts(&out, 2);
    assert_eq!(fonts.len(), 1, "{fonts:?}");
    assert_embedded_subset(&fonts[0]);

    // Drawn inside the rectangle on page 2, in blue; the page was blank there.
    let (ink, blue, _) = inked(&render(&out, 2), SIGNATURE);
    assert!(ink > 200 && blue > 100, "ink {ink}, blue {blue}");
    assert_eq!(inked(&render(&input, 2), SIGNATURE).0, 0);
    // Nothing was drawn on page 1.
    assert_eq!(inked(&render(&out, 1), SIGNATURE).0, 0);
}

#[test]
fn a_text_only_stamp_draws_its_lines() {
    if !have_pyhanko() || !have_tool("pdftoppm") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let input = sample(dir.path());
    let out = dir.path().join("stamp.pdf");
    let stamp = [395.0, 760.0, 190.0, 60.0];
    let f = flags(&[
        "--visible",
        &rect_arg(1, stamp),
        "--text",
        "UBND TỈNH QUẢNG NINH",
        "--text",
        "Số: 12/QĐ-UBND",
        "--text",
        "2026-11-23T14:30:05+07:00",
        "--color",
        "0.8,0,0",
    ]);
    ok(&sign("agency-seal", &f, &input, &out));
    let judged = pyhanko(std::slice::from_ref(&out));
    assert_eq!(judged[&out]["signatures"]["Signature1"]["valid"], true);
    let (ink, _, red) = inked(&render(&out, 1), stamp);
    assert!(ink > 100 && red > 30, "ink {ink}, red {red}");
}

/// The journey of a decision: the head signs (visibly, with empty number
/// and date fields), the clerk fills the number and date, the seal signs.
/// pyHanko and our verifier: the first signature VALID / TOTAL-PASSED with
/// form filling after it, the second VALID with nothing after it. A
/// content change after the first signature instead is "other".
#[test]
fn fields_filled_between_two_signatures_are_form_filling() {
    if !have_pyhanko() || !have_tool("pdftoppm") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let input = sample(dir.path());
    let k = keys();
    let one = dir.path().join("1-signed.pdf");
    let mut f = flags(&["--visible", &rect_arg(2, SIGNATURE), "--image"]);
    f.push(k.join("lanhdao-signature.png").display().to_string());
    f.extend(flags(&[
        "--text",
        "Trần Văn Minh",
        "--text-field",
        &format!("so_van_ban,{}", rect_arg(1, NUMBER)),
        "--text-field",
        &format!("ngay_ban_hanh,{},13", rect_arg(1, DATE)),
    ]));
    ok(&sign("lanhdao", &f, &input, &one));

    let two = dir.path().join("2-filled.pdf");
    let o = Command::new(bin())
        .args([
            "pdf",
            "fill",
            "--value",
            "so_van_ban=12/QĐ-UBND",
            "--value",
            "ngay_ban_hanh=Hà Nội, ngày 23 tháng 11 năm 2026",
        ])
        .arg(&one)
        .arg(&two)
        .output()
        .expect("run congvan pdf fill");
    ok(&o);
    let three = dir.path().join("3-sealed.pdf");
    let mut f = flags(&["--visible", &rect_arg(2, SEAL), "--image"]);
    f.push(k.join("agency-seal.png").display().to_string());
    ok(&sign("agency-seal", &f, &two, &three));

    let judged = pyhanko(&[two.clone(), three.clone()]);
    let first = &judged[&two]["signatures"]["Signature1"];
    assert_eq!(first["valid"], true, "{first}");
    assert_eq!(first["modification_level"], "FORM_FILLING", "{first}");
    let sigs = &judged[&three]["signatures"];
    for (field, level, coverage) in [
        ("Signature1", "FORM_FILLING", "ENTIRE_REVISION"),
        ("Signature2", "NONE", "ENTIRE_FILE"),
    ] {
        let v = &sigs[field];
        assert_eq!(v["valid"], true, "{field}: {v}");
        assert_eq!(v["intact"], true, "{field}: {v}");
        assert_eq!(v["trusted"], true, "{field}: {v}");
        assert_eq!(v["modification_level"], level, "{field}: {v}");
        assert_eq!(v["coverage"], coverage, "{field}: {v}");
    }

    let (code, json) = verify_dev(&three);
    assert_eq!(code, 0, "{json}");
    let ours = |field: &str| -> Value {
        json["signatures"]
            .as_array()
            .expect("signatures")
            .iter()
            .find(|s| s["field"] == field)
            .cloned()
            .unwrap_or_else(|| panic!("no {field} in {json}"))
    };
    for (field, modifications) in [("Signature1", "form_filling"), ("Signature2", "none")] {
        let s = ours(field);
        assert_eq!(s["indication"], "TOTAL-PASSED", "{s}");
        assert_eq!(s["intact"], true, "{s}");
        assert_eq!(s["modifications"], modifications, "{s}");
    }

    // The values are drawn in their fields on page 1 (empty before).
    let (before, after) = (render(&one, 1), render(&three, 1));
    for rect in [NUMBER, DATE] {
        assert_eq!(inked(&before, rect).0, 0, "{rect:?} empty before filling");
        assert!(inked(&after, rect).0 > 40, "{rect:?} drawn after filling");
    }

    // A content change after the first signature, instead of the filling:
    // "other", TOTAL-FAILED, and pyHanko says not valid.
    let bytes = std::fs::read(&one).expect("read");
    let (page_id, mut page, size) = first_page(&bytes);
    let stream_id = u32::try_from(size).expect("size");
    let content = "BT /F1 14 Tf 72 700 Td (So: 99/QD-UBND) Tj ET";
    page.set("Contents", lopdf::Object::Reference((stream_id, 0)));
    let changed = append_revision(
        &bytes,
        &[
            (page_id, dict_text(&page)),
            (
                stream_id,
                format!(
                    "<</Length {}>>\nstream\n{content}\nendstream",
                    content.len()
                ),
            ),
        ],
    );
    let changed_path = dir.path().join("changed.pdf");
    std::fs::write(&changed_path, &changed).expect("write");
    let (code, json) = verify_dev(&changed_path);
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["signatures"][0]["modifications"], "other", "{json}");
    assert_eq!(
        json["signatures"][0]["indication"], "TOTAL-FAILED",
        "{json}"
    );
    let judged = pyhanko(std::slice::from_ref(&changed_path));
    assert_eq!(
        judged[&changed_path]["signatures"]["Signature1"]["valid"],
        false
    );
}

/// A bad page, rectangle, colour or image, and a bad fill, are refused with
/// one line on stderr, exit 2, and no output file.
#[test]
fn bad_visible_values_and_fills_are_refused_in_one_line_with_no_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = sample(dir.path());
    let not_png = dir.path().join("not.png");
    std::fs::write(&not_png, b"GIF89a, not a PNG at all").expect("write");
    let not_png = not_png.display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            flags(&["--visible", "3,10,10,100,50", "--text", "x"]),
            "page 3 does not exist (the document has 2 pages",
        ),
        (
            flags(&["--visible", "0,10,10,100,50", "--text", "x"]),
            "the page is a number from 1",
        ),
        (
            flags(&["--visible", "1,500,10,200,50", "--text", "x"]),
            "does not fit the page (595 x 842 points)",
        ),
        (
            flags(&["--visible", "1,10,10,0,50", "--text", "x"]),
            "width and height must be positive",
        ),
        (
            flags(&["--visible", "1,10,10", "--text", "x"]),
            "expected 5 comma-separated numbers",
        ),
        (
            flags(&["--visible", "1,10,10,100,abc", "--text", "x"]),
            "\"abc\" is not a number",
        ),
        (
            flags(&[
                "--visible",
                "1,10,10,100,50",
                "--text",
                "x",
                "--color",
                "2,0,0",
            ]),
            "each component is from 0 to 1",
        ),
        (
            flags(&["--visible", "1,10,10,100,50"]),
            "give --image, --text, or both",
        ),
        (
            flags(&["--visible", "1,10,10,100,50", "--image", &not_png]),
            "visible signature: the image is not a PNG that can be read",
        ),
        (
            flags(&["--visible", "1,10,10,100,50", "--text", "ok 😀"]),
            "U+1F600",
        ),
        (
            flags(&["--text", "x"]),
            "--image, --text and --color need --visible PAGE,X,Y,W,H",
        ),
        (
            flags(&["--text-field", "so,9,10,10,100,20"]),
            "page 9 does not exist",
        ),
        (flags(&["--text-field", "a.b,1,10,10,100,20"]), "no \".\""),
    ];
    for (i, (f, expected)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("refused-{i}.pdf"));
        let o = sign("lanhdao", f, &input, &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{f:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{f:?}: one line: {err}");
        assert!(err.contains(expected), "{f:?}: {err}");
        assert!(!out.exists(), "{f:?}: no output on a refusal");
    }

    // Filling: an unknown field, a field that is not a text field.
    let signed = dir.path().join("signed.pdf");
    ok(&sign(
        "lanhdao",
        &flags(&["--text-field", "so,1,72,690,200,22"]),
        &input,
        &signed,
    ));
    for (value, expected) in [
        ("nope=1", "the PDF has no field named \"nope\""),
        (
            "Signature1=1",
            "the field \"Signature1\" is not a text field",
        ),
        ("so", "expected NAME=VALUE"),
    ] {
        let out = dir.path().join("filled.pdf");
        let o = Command::new(bin())
            .args(["pdf", "fill", "--value", value])
            .arg(&signed)
            .arg(&out)
            .output()
            .expect("run congvan pdf fill");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{value}: {err}");
        assert_eq!(err.lines().count(), 1, "{value}: {err}");
        assert!(err.contains(expected), "{value}: {err}");
        assert!(!out.exists(), "{value}: no output");
    }
}
