//! Value types parsed at the edge: every field is private, so a value that
//! exists is valid. Deserialising goes through the same `parse` functions, so
//! JSON cannot smuggle in an invalid value either.
//!
//! Text is normalised to Unicode NFC (Vietnamese arrives both precomposed and
//! decomposed, e.g. from macOS) and lengths are counted in characters, not
//! bytes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A value refused at the edge: which field, and the rule it broke, in words
/// a clerk understands. Displays as "{field}: {rule}".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct ValueError {
    pub field: &'static str,
    pub rule: String,
}

impl ValueError {
    pub fn new(field: &'static str, rule: impl Into<String>) -> Self {
        Self {
            field,
            rule: rule.into(),
        }
    }
}

/// Lowercase, strip diacritics (NFD then drop combining marks; đ/Đ → d) and
/// collapse runs of whitespace into one space, trimming the ends. Used for
/// search: `fold_vietnamese("Quyết Định  số 05") == "quyet dinh so 05"`.
pub fn fold_vietnamese(s: &str) -> String {
    let stripped: String = s
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            other => other,
        })
        .collect::<String>()
        .to_lowercase();
    stripped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// NFC, trim, non-empty, at most `max` characters.
fn bounded_text(field: &'static str, s: &str, max: usize) -> Result<String, ValueError> {
    let normalised: String = s.nfc().collect();
    let trimmed = normalised.trim();
    if trimmed.is_empty() {
        return Err(ValueError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(ValueError::new(field, format!("at most {max} characters")));
    }
    Ok(trimmed.to_owned())
}

/// Shown in error messages: a character, quoted, or its code point when it
/// would not print.
fn describe_char(c: char) -> String {
    if c.is_whitespace() || c.is_control() {
        format!("U+{:04X}", u32::from(c))
    } else {
        format!("'{c}'")
    }
}

/// The boilerplate shared by string-backed values: `as_str`, Display,
/// `FromStr`, `TryFrom<String>` (what serde uses) and `From<T> for String`.
macro_rules! string_value {
    ($ty:ident) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $ty {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = ValueError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// For values whose canonical string is produced by Display.
macro_rules! display_serde {
    ($ty:ident) => {
        impl FromStr for $ty {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = ValueError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.to_string()
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Identifiers

/// A login name: 1–64 characters of `a-z 0-9 . _ -`. ASCII capitals are
/// lowercased on the way in ("Nguyen.An" is the same user as "nguyen.an").
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(String);

impl UserId {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        const FIELD: &str = "user_id";
        let lower = s.to_ascii_lowercase();
        check_identifier(FIELD, &lower, Self::MAX_CHARS, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
        })
        .map_err(|bad| {
            bad.unwrap_or_else(|c| {
                ValueError::new(
                    FIELD,
                    format!(
                        "only letters a-z, digits, '.', '_' and '-' are allowed (found {})",
                        describe_char(c)
                    ),
                )
            })
        })?;
        Ok(Self(lower))
    }
}
string_value!(UserId);

/// An organisational unit's identifier: 1–64 characters of
/// `A-Z a-z 0-9 . _ -`, case preserved.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitId(String);

impl UnitId {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        const FIELD: &str = "unit_id";
        check_identifier(FIELD, s, Self::MAX_CHARS, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
        })
        .map_err(|bad| {
            bad.unwrap_or_else(|c| {
                ValueError::new(
                    FIELD,
                    format!(
                        "only letters A-Z and a-z, digits, '.', '_' and '-' are allowed (found {})",
                        describe_char(c)
                    ),
                )
            })
        })?;
        Ok(Self(s.to_owned()))
    }
}
string_value!(UnitId);

/// Non-empty, at most `max` chars, every char allowed. On failure: either a
/// finished error (empty / too long) or the first offending character.
fn check_identifier(
    field: &'static str,
    s: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), Result<ValueError, char>> {
    if s.is_empty() {
        return Err(Ok(ValueError::new(field, "must not be empty")));
    }
    if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        return Err(Err(c));
    }
    if s.chars().count() > max {
        return Err(Ok(ValueError::new(
            field,
            format!("at most {max} characters"),
        )));
    }
    Ok(())
}

/// An agency's identifier (mã định danh) under QCVN 102:2016/BTTTT:
/// `V1V2V3.Z1Z2.Y1Y2.MX1X2` = `ddd.dd.dd.Ldd`, e.g. `000.00.00.H49` (UBND
/// Quảng Ninh) or `000.00.00.G22` (Government Office); or the longer form
/// allowed by Decision 20/2020/QĐ-TTg: up to 35 characters of `A-Z 0-9 .`
/// starting with a valid 13-character code. Surrounding whitespace is trimmed
/// and lowercase letters are uppercased.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgencyCode(String);

impl AgencyCode {
    pub const SHORT_LEN: usize = 13;
    pub const MAX_CHARS: usize = 35;

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        const FIELD: &str = "agency_code";
        let code = s.trim().to_ascii_uppercase();
        if code.is_empty() {
            return Err(ValueError::new(FIELD, "must not be empty"));
        }
        let shape = || {
            ValueError::new(
                FIELD,
                "must look like 000.00.00.H49 (3 digits, 2 digits, 2 digits, \
                 a capital letter and 2 digits, separated by dots)",
            )
        };
        let bytes = code.as_bytes();
        if bytes.len() < Self::SHORT_LEN || !code.is_ascii() {
            return Err(shape());
        }
        for (i, b) in bytes[..Self::SHORT_LEN].iter().enumerate() {
            let ok = match i {
                3 | 6 | 9 => *b == b'.',
                10 => b.is_ascii_uppercase(),
                _ => b.is_ascii_digit(),
            };
            if !ok {
                return Err(shape());
            }
        }
        if let Some(c) = code
            .chars()
            .find(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '.'))
        {
            return Err(ValueError::new(
                FIELD,
                format!(
                    "only capital letters, digits and '.' are allowed (found {})",
                    describe_char(c)
                ),
            ));
        }
        if code.len() > Self::MAX_CHARS {
            return Err(ValueError::new(
                FIELD,
                format!("at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(code))
    }
}
string_value!(AgencyCode);

// ---------------------------------------------------------------------------
// Texts

/// An agency's name as written on a document (edXML OrganName, ≤ 200 chars).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrganName(String);

impl OrganName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        bounded_text("organ_name", s, Self::MAX_CHARS).map(Self)
    }
}
string_value!(OrganName);

/// The subject line of a document (trích yếu, edXML Subject, ≤ 500 chars).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subject(String);

impl Subject {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        bounded_text("subject", s, Self::MAX_CHARS).map(Self)
    }
}
string_value!(Subject);

/// A person's full name (≤ 100 chars).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

impl PersonName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        bounded_text("person_name", s, Self::MAX_CHARS).map(Self)
    }
}
string_value!(PersonName);

/// Free text for instructions, reasons, notes: trimmed, non-empty, bounded by
/// the caller (`Text::parse("reason", s, 1000)`).
///
/// Deserialising cannot know the caller's field name and bound, so it checks
/// the field name "text" and the ceiling [`Text::MAX_CHARS`]; callers should
/// not pass a larger `max` to `parse` than that ceiling, or values they
/// accepted would not deserialise.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    /// Ceiling used when deserialising.
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(field: &'static str, s: &str, max: usize) -> Result<Self, ValueError> {
        bounded_text(field, s, max).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Text {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse("text", &s, Self::MAX_CHARS)
    }
}

impl From<Text> for String {
    fn from(v: Text) -> String {
        v.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------
// Number and notation

/// The number part of "05/QĐ-UBND" (edXML CodeNumber, ≤ 11 digits), ≥ 1.
/// Displays zero-padded to two digits: "05", "12", "123".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocumentNumber(u32);

impl DocumentNumber {
    pub const MAX_DIGITS: usize = 11;
    const FIELD: &'static str = "number";

    pub fn new(n: u32) -> Result<Self, ValueError> {
        if n == 0 {
            return Err(ValueError::new(Self::FIELD, "must be at least 1"));
        }
        Ok(Self(n))
    }

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let digits = s.trim();
        if digits.is_empty() {
            return Err(ValueError::new(Self::FIELD, "must not be empty"));
        }
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(ValueError::new(Self::FIELD, "digits only"));
        }
        if digits.len() > Self::MAX_DIGITS {
            return Err(ValueError::new(
                Self::FIELD,
                format!("at most {} digits", Self::MAX_DIGITS),
            ));
        }
        let n: u32 = digits
            .parse()
            .map_err(|_| ValueError::new(Self::FIELD, format!("at most {}", u32::MAX)))?;
        Self::new(n)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.0)
    }
}
display_serde!(DocumentNumber);

/// The notation part of "05/QĐ-UBND" (edXML CodeNotation): trimmed,
/// non-empty, ≤ 30 characters, no whitespace, no '/'.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Notation(String);

impl Notation {
    pub const MAX_CHARS: usize = 30;

    pub fn parse(s: &str) -> Result<Self, ValueError> {
        const FIELD: &str = "notation";
        let text = bounded_text(FIELD, s, Self::MAX_CHARS)?;
        if text.chars().any(char::is_whitespace) {
            return Err(ValueError::new(FIELD, "must not contain spaces"));
        }
        if text.contains('/') {
            return Err(ValueError::new(FIELD, "must not contain '/'"));
        }
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(ValueError::new(
                FIELD,
                format!("must not contain {}", describe_char(c)),
            ));
        }
        Ok(Self(text))
    }
}
string_value!(Notation);

/// Number and notation together (số, ký hiệu): "05/QĐ-UBND".
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NumberNotation {
    number: DocumentNumber,
    notation: Notation,
}

impl NumberNotation {
    pub fn new(number: DocumentNumber, notation: Notation) -> Self {
        Self { number, notation }
    }

    /// "05/QĐ-UBND": the number, a '/', the notation (spaces around the '/'
    /// are tolerated).
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let Some((number, notation)) = s.trim().split_once('/') else {
            return Err(ValueError::new(
                "number_notation",
                "must look like 05/QĐ-UBND (number, '/', notation)",
            ));
        };
        Ok(Self {
            number: DocumentNumber::parse(number)?,
            notation: Notation::parse(notation)?,
        })
    }

    pub fn number(&self) -> DocumentNumber {
        self.number
    }

    pub fn notation(&self) -> &Notation {
        &self.notation
    }
}

impl fmt::Display for NumberNotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number, self.notation)
    }
}
display_serde!(NumberNotation);

// ---------------------------------------------------------------------------
// Document type

/// Kinds of document: Decree 30/2020/NĐ-CP art. 7 and appendix III, plus
/// copies (sao y, trích sao, sao lục) and Công văn (no abbreviation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DocumentType {
    NghiQuyet,
    QuyetDinh,
    ChiThi,
    QuyChe,
    QuyDinh,
    ThongCao,
    ThongBao,
    HuongDan,
    ChuongTrinh,
    KeHoach,
    PhuongAn,
    DeAn,
    DuAn,
    BaoCao,
    BienBan,
    ToTrinh,
    HopDong,
    CongVan,
    CongDien,
    BanGhiNho,
    BanThoaThuan,
    GiayUyQuyen,
    GiayMoi,
    GiayGioiThieu,
    GiayNghiPhep,
    PhieuGui,
    PhieuChuyen,
    PhieuBao,
    BanSaoY,
    BanTrichSao,
    BanSaoLuc,
}

impl DocumentType {
    const ALL: [DocumentType; 31] = [
        Self::NghiQuyet,
        Self::QuyetDinh,
        Self::ChiThi,
        Self::QuyChe,
        Self::QuyDinh,
        Self::ThongCao,
        Self::ThongBao,
        Self::HuongDan,
        Self::ChuongTrinh,
        Self::KeHoach,
        Self::PhuongAn,
        Self::DeAn,
        Self::DuAn,
        Self::BaoCao,
        Self::BienBan,
        Self::ToTrinh,
        Self::HopDong,
        Self::CongVan,
        Self::CongDien,
        Self::BanGhiNho,
        Self::BanThoaThuan,
        Self::GiayUyQuyen,
        Self::GiayMoi,
        Self::GiayGioiThieu,
        Self::GiayNghiPhep,
        Self::PhieuGui,
        Self::PhieuChuyen,
        Self::PhieuBao,
        Self::BanSaoY,
        Self::BanTrichSao,
        Self::BanSaoLuc,
    ];

    /// Every type, in the order of Decree 30 appendix III.
    pub fn all() -> &'static [DocumentType] {
        &Self::ALL
    }

    /// (code, Vietnamese name, abbreviation)
    fn info(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            Self::NghiQuyet => ("nghi_quyet", "Nghị quyết", Some("NQ")),
            Self::QuyetDinh => ("quyet_dinh", "Quyết định", Some("QĐ")),
            Self::ChiThi => ("chi_thi", "Chỉ thị", Some("CT")),
            Self::QuyChe => ("quy_che", "Quy chế", Some("QC")),
            Self::QuyDinh => ("quy_dinh", "Quy định", Some("QyĐ")),
            Self::ThongCao => ("thong_cao", "Thông cáo", Some("TC")),
            Self::ThongBao => ("thong_bao", "Thông báo", Some("TB")),
            Self::HuongDan => ("huong_dan", "Hướng dẫn", Some("HD")),
            Self::ChuongTrinh => ("chuong_trinh", "Chương trình", Some("CTr")),
            Self::KeHoach => ("ke_hoach", "Kế hoạch", Some("KH")),
            Self::PhuongAn => ("phuong_an", "Phương án", Some("PA")),
            Self::DeAn => ("de_an", "Đề án", Some("ĐA")),
            Self::DuAn => ("du_an", "Dự án", Some("DA")),
            Self::BaoCao => ("bao_cao", "Báo cáo", Some("BC")),
            Self::BienBan => ("bien_ban", "Biên bản", Some("BB")),
            Self::ToTrinh => ("to_trinh", "Tờ trình", Some("TTr")),
            Self::HopDong => ("hop_dong", "Hợp đồng", Some("HĐ")),
            Self::CongVan => ("cong_van", "Công văn", None),
            Self::CongDien => ("cong_dien", "Công điện", Some("CĐ")),
            Self::BanGhiNho => ("ban_ghi_nho", "Bản ghi nhớ", Some("BGN")),
            Self::BanThoaThuan => ("ban_thoa_thuan", "Bản thỏa thuận", Some("BTT")),
            Self::GiayUyQuyen => ("giay_uy_quyen", "Giấy ủy quyền", Some("GUQ")),
            Self::GiayMoi => ("giay_moi", "Giấy mời", Some("GM")),
            Self::GiayGioiThieu => ("giay_gioi_thieu", "Giấy giới thiệu", Some("GGT")),
            Self::GiayNghiPhep => ("giay_nghi_phep", "Giấy nghỉ phép", Some("GNP")),
            Self::PhieuGui => ("phieu_gui", "Phiếu gửi", Some("PG")),
            Self::PhieuChuyen => ("phieu_chuyen", "Phiếu chuyển", Some("PC")),
            Self::PhieuBao => ("phieu_bao", "Phiếu báo", Some("PB")),
            Self::BanSaoY => ("ban_sao_y", "Bản sao y", Some("SY")),
            Self::BanTrichSao => ("ban_trich_sao", "Bản trích sao", Some("TrS")),
            Self::BanSaoLuc => ("ban_sao_luc", "Bản sao lục", Some("SL")),
        }
    }

    /// Unaccented snake_case Vietnamese name, unique: "quyet_dinh".
    pub fn code(self) -> &'static str {
        self.info().0
    }

    /// The Vietnamese name: "Quyết định".
    pub fn name_vi(self) -> &'static str {
        self.info().1
    }

    /// The abbreviation of appendix III used in notations: "QĐ"; None for
    /// Công văn, whose notation is issuer + drafting unit.
    pub fn abbreviation(self) -> Option<&'static str> {
        self.info().2
    }

    /// Accepts the code ("quyet_dinh"), the exact abbreviation ("QĐ"; "HD"
    /// is Hướng dẫn, "HĐ" Hợp đồng) or the Vietnamese name ignoring case and
    /// diacritics ("Quyết định", "quyet dinh").
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let input: String = s.trim().nfc().collect();
        if let Some(t) = Self::ALL
            .iter()
            .find(|t| t.abbreviation() == Some(input.as_str()))
        {
            return Ok(*t);
        }
        let folded = fold_vietnamese(&input.replace('_', " "));
        if !folded.is_empty() {
            if let Some(t) = Self::ALL
                .iter()
                .find(|t| fold_vietnamese(t.name_vi()) == folded)
            {
                return Ok(*t);
            }
        }
        Err(ValueError::new(
            "document_type",
            format!("unknown document type '{}'", s.trim()),
        ))
    }
}

impl fmt::Display for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name_vi())
    }
}

impl FromStr for DocumentType {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for DocumentType {
    type Error = ValueError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<DocumentType> for String {
    fn from(t: DocumentType) -> String {
        t.code().to_owned()
    }
}

// ---------------------------------------------------------------------------
// Urgency and secrecy

/// Độ khẩn. edXML Priority: 0 normal, 1 Khẩn, 2 Thượng khẩn, 3 Hỏa tốc,
/// 4 Hỏa tốc hẹn giờ. Ordered from least to most urgent.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub enum Urgency {
    #[default]
    Normal,
    /// Khẩn
    Urgent,
    /// Thượng khẩn
    VeryUrgent,
    /// Hỏa tốc
    Flash,
    /// Hỏa tốc hẹn giờ
    FlashScheduled,
}

impl Urgency {
    const ALL: [Urgency; 5] = [
        Self::Normal,
        Self::Urgent,
        Self::VeryUrgent,
        Self::Flash,
        Self::FlashScheduled,
    ];

    pub fn all() -> &'static [Urgency] {
        &Self::ALL
    }

    /// snake_case name, as serialised: "very_urgent".
    pub fn code(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Urgent => "urgent",
            Self::VeryUrgent => "very_urgent",
            Self::Flash => "flash",
            Self::FlashScheduled => "flash_scheduled",
        }
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Self::Normal => "Thường",
            Self::Urgent => "Khẩn",
            Self::VeryUrgent => "Thượng khẩn",
            Self::Flash => "Hỏa tốc",
            Self::FlashScheduled => "Hỏa tốc hẹn giờ",
        }
    }

    pub fn edxml_priority(self) -> u8 {
        match self {
            Self::Normal => 0,
            Self::Urgent => 1,
            Self::VeryUrgent => 2,
            Self::Flash => 3,
            Self::FlashScheduled => 4,
        }
    }

    pub fn from_edxml_priority(p: u8) -> Result<Self, ValueError> {
        Self::ALL
            .iter()
            .copied()
            .find(|u| u.edxml_priority() == p)
            .ok_or_else(|| ValueError::new("priority", format!("must be 0 to 4 (got {p})")))
    }

    pub fn is_urgent(self) -> bool {
        self != Self::Normal
    }

    /// Accepts the snake_case name or the Vietnamese name ignoring case and
    /// diacritics ("Thượng khẩn", "thuong khan"); "bình thường" is Normal too.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        parse_level(s, &Self::ALL, Self::code, Self::name_vi, "urgency")
    }
}

/// Độ mật. Ordered from least to most secret.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub enum Secrecy {
    #[default]
    Normal,
    /// Mật
    Confidential,
    /// Tối mật
    Secret,
    /// Tuyệt mật
    TopSecret,
}

impl Secrecy {
    const ALL: [Secrecy; 4] = [
        Self::Normal,
        Self::Confidential,
        Self::Secret,
        Self::TopSecret,
    ];

    pub fn all() -> &'static [Secrecy] {
        &Self::ALL
    }

    /// snake_case name, as serialised: "top_secret".
    pub fn code(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Confidential => "confidential",
            Self::Secret => "secret",
            Self::TopSecret => "top_secret",
        }
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Self::Normal => "Thường",
            Self::Confidential => "Mật",
            Self::Secret => "Tối mật",
            Self::TopSecret => "Tuyệt mật",
        }
    }

    pub fn is_secret(self) -> bool {
        self != Self::Normal
    }

    /// Accepts the snake_case name or the Vietnamese name ignoring case and
    /// diacritics ("Tối mật", "toi mat"); "bình thường" is Normal too.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        parse_level(s, &Self::ALL, Self::code, Self::name_vi, "secrecy")
    }
}

fn parse_level<T: Copy + Default + PartialEq>(
    s: &str,
    all: &[T],
    code: fn(T) -> &'static str,
    name_vi: fn(T) -> &'static str,
    field: &'static str,
) -> Result<T, ValueError> {
    let trimmed = s.trim();
    if let Some(v) = all.iter().copied().find(|v| code(*v) == trimmed) {
        return Ok(v);
    }
    let folded = fold_vietnamese(trimmed);
    if folded == "binh thuong" {
        return Ok(T::default());
    }
    if let Some(v) = all
        .iter()
        .copied()
        .find(|v| fold_vietnamese(name_vi(*v)) == folded || code(*v).replace('_', " ") == folded)
    {
        return Ok(v);
    }
    let names: Vec<&str> = all.iter().map(|v| name_vi(*v)).collect();
    Err(ValueError::new(
        field,
        format!(
            "unknown value '{trimmed}' (expected one of: {})",
            names.join(", ")
        ),
    ))
}

macro_rules! level_serde {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name_vi())
            }
        }

        impl FromStr for $ty {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = ValueError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.code().to_owned()
            }
        }
    };
}
level_serde!(Urgency);
level_serde!(Secrecy);

// ---------------------------------------------------------------------------
// JSON Schemas
//
// Written by hand so each schema states the rule `parse` enforces, as far as
// JSON Schema can say it. Lengths are in characters (JSON Schema counts code
// points, as `parse` does); NFC normalisation cannot be expressed and is said
// in the description. The schemas describe the stored (serialised) form.

/// A value serialised as a string, checked against `rule`.
fn string_schema(description: &str, rule: serde_json::Value) -> schemars::Schema {
    let mut schema = schemars::json_schema!({
        "type": "string",
        "description": description,
    });
    if let serde_json::Value::Object(rule) = rule {
        for (k, v) in rule {
            schema.insert(k, v);
        }
    }
    schema
}

/// The characters Rust's `char::is_whitespace` (Unicode White_Space) accepts,
/// for a regex character class. (`\s` differs between regex dialects.)
const WHITESPACE: &str =
    r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// Trimmed (no whitespace at either end) and non-empty.
fn trimmed_pattern() -> String {
    format!(r"^[^{WHITESPACE}]([\s\S]*[^{WHITESPACE}])?$")
}

/// One notation character: no whitespace, no '/', no control character.
fn notation_char() -> String {
    format!(r"[^{WHITESPACE}/\x00-\x1F\x7F-\x9F]")
}

/// The canonical number as a regular expression (no anchors): at least 1,
/// zero-padded to two digits, no other leading zeros, at most `u32::MAX`.
fn number_pattern() -> String {
    let max = u32::MAX.to_string();
    let digits: Vec<u32> = max.chars().filter_map(|c| c.to_digit(10)).collect();
    let n = digits.len();
    let range = |lo: u32, hi: u32| {
        if lo == hi {
            lo.to_string()
        } else {
            format!("[{lo}-{hi}]")
        }
    };
    let rest = |k: usize| match k {
        0 => String::new(),
        1 => "[0-9]".to_string(),
        _ => format!("[0-9]{{{k}}}"),
    };
    // 1 to 9 padded; 10 up to n - 1 digits; n digits below max, digit by digit; max.
    let mut alternatives = vec!["0[1-9]".to_string(), format!("[1-9][0-9]{{1,{}}}", n - 2)];
    for (i, d) in digits.iter().enumerate() {
        let lo = u32::from(i == 0);
        if *d > lo {
            alternatives.push(format!(
                "{}{}{}",
                &max[..i],
                range(lo, d - 1),
                rest(n - i - 1)
            ));
        }
    }
    alternatives.push(max);
    format!("({})", alternatives.join("|"))
}

fn bounded_text_schema(description: &str, max: usize) -> schemars::Schema {
    string_schema(
        &format!("{description} Unicode NFC, trimmed, non-empty, at most {max} characters."),
        serde_json::json!({
            "minLength": 1,
            "maxLength": max,
            "pattern": trimmed_pattern(),
        }),
    )
}

/// A string enumeration of codes, each with its Vietnamese name.
fn code_enum_schema(description: &str, values: &[(&str, String, String)]) -> schemars::Schema {
    let codes: Vec<&str> = values.iter().map(|(code, _, _)| *code).collect();
    let one_of: Vec<serde_json::Value> = values
        .iter()
        .map(|(code, title, description)| {
            serde_json::json!({
                "const": code,
                "title": title,
                "description": description,
            })
        })
        .collect();
    string_schema(
        description,
        serde_json::json!({ "enum": codes, "oneOf": one_of }),
    )
}

macro_rules! json_schema_impl {
    ($ty:ident, |$generator:ident| $body:expr) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }

            fn schema_id() -> std::borrow::Cow<'static, str> {
                concat!(module_path!(), "::", stringify!($ty)).into()
            }

            fn json_schema($generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                $body
            }
        }
    };
}

json_schema_impl!(UserId, |_g| string_schema(
    "A login name: 1–64 characters of a-z, 0-9, '.', '_' and '-' (ASCII capitals are \
     lowercased on the way in).",
    serde_json::json!({
        "minLength": 1,
        "maxLength": UserId::MAX_CHARS,
        "pattern": format!("^[a-z0-9._-]{{1,{}}}$", UserId::MAX_CHARS),
    }),
));

json_schema_impl!(UnitId, |_g| string_schema(
    "An organisational unit's identifier: 1–64 characters of A-Z, a-z, 0-9, '.', '_' \
     and '-', case preserved.",
    serde_json::json!({
        "minLength": 1,
        "maxLength": UnitId::MAX_CHARS,
        "pattern": format!("^[A-Za-z0-9._-]{{1,{}}}$", UnitId::MAX_CHARS),
    }),
));

json_schema_impl!(AgencyCode, |_g| string_schema(
    "An agency's identifier (mã định danh) under QCVN 102:2016/BTTTT: ddd.dd.dd.Ldd, \
     e.g. 000.00.00.H49 (UBND Quảng Ninh); or the longer form of Decision \
     20/2020/QĐ-TTg: up to 35 characters of A-Z, 0-9 and '.' starting with a valid \
     13-character code. Stored uppercase.",
    serde_json::json!({
        "minLength": AgencyCode::SHORT_LEN,
        "maxLength": AgencyCode::MAX_CHARS,
        "pattern": format!(
            r"^[0-9]{{3}}\.[0-9]{{2}}\.[0-9]{{2}}\.[A-Z][0-9]{{2}}[A-Z0-9.]{{0,{}}}$",
            AgencyCode::MAX_CHARS - AgencyCode::SHORT_LEN
        ),
        "examples": ["000.00.00.H49", "000.00.00.G22"],
    }),
));

json_schema_impl!(OrganName, |_g| bounded_text_schema(
    "An agency's name as written on a document (edXML OrganName).",
    OrganName::MAX_CHARS,
));

json_schema_impl!(Subject, |_g| bounded_text_schema(
    "The subject line of a document (trích yếu, edXML Subject).",
    Subject::MAX_CHARS,
));

json_schema_impl!(PersonName, |_g| bounded_text_schema(
    "A person's full name or position (chức vụ).",
    PersonName::MAX_CHARS,
));

json_schema_impl!(Text, |_g| bounded_text_schema(
    "Free text: an instruction, reason, note, comment or case file code.",
    Text::MAX_CHARS,
));

json_schema_impl!(DocumentNumber, |_g| string_schema(
    "The number part of a number and notation (edXML CodeNumber): from 1 to 4294967295, \
     stored zero-padded to two digits (\"05\", \"12\", \"123\"). Readers also accept it \
     unpadded or with up to 11 digits.",
    serde_json::json!({ "pattern": format!("^{}$", number_pattern()) }),
));

json_schema_impl!(Notation, |_g| string_schema(
    "The notation part of a number and notation (edXML CodeNotation), e.g. \"QĐ-UBND\": \
     Unicode NFC, 1–30 characters, no whitespace, no '/', no control character.",
    serde_json::json!({
        "minLength": 1,
        "maxLength": Notation::MAX_CHARS,
        "pattern": format!("^{}{{1,{}}}$", notation_char(), Notation::MAX_CHARS),
    }),
));

json_schema_impl!(NumberNotation, |_g| string_schema(
    "Number and notation (số, ký hiệu), e.g. \"05/QĐ-UBND\": the number (from 1 to \
     4294967295, zero-padded to two digits), '/', the notation (Unicode NFC, 1–30 \
     characters, no whitespace, no '/', no control character).",
    serde_json::json!({
        "pattern": format!(
            "^{}/{}{{1,{}}}$",
            number_pattern(),
            notation_char(),
            Notation::MAX_CHARS
        ),
        "examples": ["05/QĐ-UBND", "7816/VPCP-TTĐT"],
    }),
));

json_schema_impl!(DocumentType, |_g| code_enum_schema(
    "The kind of document (Decree 30/2020/NĐ-CP art. 7 and appendix III, plus copies and \
     Công văn): the unaccented snake_case Vietnamese name.",
    &DocumentType::all()
        .iter()
        .map(|t| {
            let description = match t.abbreviation() {
                Some(a) => format!("{}; abbreviation {a}", t.name_vi()),
                None => format!(
                    "{}; no abbreviation (its notation is the agency's and the drafting \
                     unit's)",
                    t.name_vi()
                ),
            };
            (t.code(), t.name_vi().to_string(), description)
        })
        .collect::<Vec<_>>(),
));

json_schema_impl!(Urgency, |_g| code_enum_schema(
    "Độ khẩn, from least to most urgent.",
    &Urgency::all()
        .iter()
        .map(|u| {
            (
                u.code(),
                u.name_vi().to_string(),
                format!("{}; edXML Priority {}", u.name_vi(), u.edxml_priority()),
            )
        })
        .collect::<Vec<_>>(),
));

json_schema_impl!(Secrecy, |_g| code_enum_schema(
    "Độ mật, from least to most secret.",
    &Secrecy::all()
        .iter()
        .map(|s| {
            let description = if s.is_secret() {
                format!("{}; numbered in the secret series", s.name_vi())
            } else {
                format!("{}; not secret", s.name_vi())
            };
            (s.code(), s.name_vi().to_string(), description)
        })
        .collect::<Vec<_>>(),
));

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn err_of<T: fmt::Debug>(r: Result<T, ValueError>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    // --- ValueError, fold ---------------------------------------------------

    #[test]
    fn value_error_displays_field_and_rule() {
        let e = ValueError::new("subject", "must not be empty");
        assert_eq!(e.to_string(), "subject: must not be empty");
        assert_eq!(e.field, "subject");
    }

    #[test]
    fn fold_vietnamese_strips_case_diacritics_and_spaces() {
        assert_eq!(fold_vietnamese("Quyết Định  số 05"), "quyet dinh so 05");
        assert_eq!(fold_vietnamese("  ĐỀ ÁN\tđường\n"), "de an duong");
        // Decomposed input folds the same as precomposed.
        let nfd: String = "Thượng khẩn".nfd().collect();
        assert_eq!(fold_vietnamese(&nfd), "thuong khan");
        assert_eq!(fold_vietnamese(""), "");
    }

    // --- identifiers --------------------------------------------------------

    #[test]
    fn user_id_accepts_and_lowercases() {
        let u = UserId::parse("Nguyen.Van-An_2").expect("valid");
        assert_eq!(u.as_str(), "nguyen.van-an_2");
        assert_eq!(u.to_string(), "nguyen.van-an_2");
        assert!(UserId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn user_id_refusals_name_the_field() {
        assert_eq!(err_of(UserId::parse("")), "user_id: must not be empty");
        assert_eq!(
            err_of(UserId::parse(&"a".repeat(65))),
            "user_id: at most 64 characters"
        );
        let e = err_of(UserId::parse("an nguyen"));
        assert!(e.starts_with("user_id: only letters a-z"), "{e}");
        assert!(e.contains("U+0020"), "{e}");
        let e = err_of(UserId::parse("nguyễn"));
        assert!(e.contains("'ễ'"), "{e}");
        assert!(err_of(UserId::parse("a@b")).contains("'@'"));
    }

    #[test]
    fn unit_id_accepts_and_refuses() {
        assert_eq!(
            UnitId::parse("VP.UBND_01-a").expect("valid").as_str(),
            "VP.UBND_01-a"
        );
        assert_eq!(err_of(UnitId::parse("")), "unit_id: must not be empty");
        assert_eq!(
            err_of(UnitId::parse(&"A".repeat(65))),
            "unit_id: at most 64 characters"
        );
        assert!(err_of(UnitId::parse("phòng")).starts_with("unit_id: only letters"));
        assert!(err_of(UnitId::parse("a/b")).contains("'/'"));
    }

    #[test]
    fn agency_code_accepts_short_and_long_forms() {
        let c = AgencyCode::parse("000.00.00.H49").expect("valid");
        assert_eq!(c.as_str(), "000.00.00.H49");
        assert_eq!(
            AgencyCode::parse(" 000.00.00.g22 ")
                .expect("valid")
                .as_str(),
            "000.00.00.G22"
        );
        let long = "000.00.00.H49.01.02.A03";
        assert_eq!(AgencyCode::parse(long).expect("valid").as_str(), long);
        let max = format!("000.00.00.H49{}", "1".repeat(22));
        assert_eq!(max.len(), 35);
        assert!(AgencyCode::parse(&max).is_ok());
    }

    #[test]
    fn agency_code_refusals() {
        assert_eq!(
            err_of(AgencyCode::parse("  ")),
            "agency_code: must not be empty"
        );
        for bad in [
            "000.00.00.H4",
            "000.00.00.149",
            "000-00-00-H49",
            "00.000.00.H49",
            "000.00.00.HH9",
            "H49",
            "000.00.00.Ê49",
        ] {
            let e = err_of(AgencyCode::parse(bad));
            assert!(
                e.starts_with("agency_code: must look like 000.00.00.H49"),
                "{bad}: {e}"
            );
        }
        let too_long = format!("000.00.00.H49{}", "1".repeat(23));
        assert_eq!(
            err_of(AgencyCode::parse(&too_long)),
            "agency_code: at most 35 characters"
        );
        let e = err_of(AgencyCode::parse("000.00.00.H49-01"));
        assert!(e.starts_with("agency_code: only capital letters"), "{e}");
    }

    // --- texts --------------------------------------------------------------

    #[test]
    fn texts_trim_and_count_characters_not_bytes() {
        let s = Subject::parse("  Về việc triển khai Nghị định 30  ").expect("valid");
        assert_eq!(s.as_str(), "Về việc triển khai Nghị định 30");
        // 500 Vietnamese characters are well over 500 bytes, and allowed.
        let vi = "ệ".repeat(500);
        assert!(vi.len() > 500);
        assert!(Subject::parse(&vi).is_ok());
        assert_eq!(
            err_of(Subject::parse(&"ệ".repeat(501))),
            "subject: at most 500 characters"
        );
    }

    #[test]
    fn texts_are_normalised_to_nfc() {
        let nfd: String = "Ủy ban nhân dân".nfd().collect();
        let name = OrganName::parse(&nfd).expect("valid");
        assert_eq!(name, OrganName::parse("Ủy ban nhân dân").expect("valid"));
    }

    #[test]
    fn text_refusals_name_the_field() {
        assert_eq!(err_of(Subject::parse(" \n ")), "subject: must not be empty");
        assert_eq!(
            err_of(OrganName::parse("")),
            "organ_name: must not be empty"
        );
        assert_eq!(
            err_of(OrganName::parse(&"a".repeat(201))),
            "organ_name: at most 200 characters"
        );
        assert!(OrganName::parse(&"a".repeat(200)).is_ok());
        assert_eq!(
            err_of(PersonName::parse("")),
            "person_name: must not be empty"
        );
        assert_eq!(
            err_of(PersonName::parse(&"Ă".repeat(101))),
            "person_name: at most 100 characters"
        );
        assert_eq!(
            PersonName::parse(" Nguyễn Văn A ").expect("valid").as_str(),
            "Nguyễn Văn A"
        );
    }

    #[test]
    fn generic_text_uses_callers_field_and_bound() {
        let t = Text::parse("reason", " Sai địa chỉ ", 1000).expect("valid");
        assert_eq!(t.as_str(), "Sai địa chỉ");
        assert_eq!(
            err_of(Text::parse("reason", "", 1000)),
            "reason: must not be empty"
        );
        assert_eq!(
            err_of(Text::parse("instruction", "abcd", 3)),
            "instruction: at most 3 characters"
        );
    }

    // --- number and notation ------------------------------------------------

    #[test]
    fn document_number_parses_and_pads() {
        assert_eq!(DocumentNumber::parse("05").expect("valid").get(), 5);
        assert_eq!(DocumentNumber::parse("5").expect("valid").get(), 5);
        assert_eq!(DocumentNumber::parse("5").expect("valid").to_string(), "05");
        assert_eq!(DocumentNumber::new(12).expect("valid").to_string(), "12");
        assert_eq!(DocumentNumber::new(123).expect("valid").to_string(), "123");
        assert_eq!(
            DocumentNumber::parse("00000000007").expect("valid").get(),
            7
        );
    }

    #[test]
    fn document_number_refusals() {
        assert_eq!(err_of(DocumentNumber::new(0)), "number: must be at least 1");
        assert_eq!(
            err_of(DocumentNumber::parse("00")),
            "number: must be at least 1"
        );
        assert_eq!(
            err_of(DocumentNumber::parse("")),
            "number: must not be empty"
        );
        assert_eq!(err_of(DocumentNumber::parse("5a")), "number: digits only");
        assert_eq!(err_of(DocumentNumber::parse("-5")), "number: digits only");
        assert_eq!(
            err_of(DocumentNumber::parse("000000000001")),
            "number: at most 11 digits"
        );
        assert_eq!(
            err_of(DocumentNumber::parse("99999999999")),
            "number: at most 4294967295"
        );
    }

    #[test]
    fn notation_accepts_and_refuses() {
        assert_eq!(
            Notation::parse(" QĐ-UBND ").expect("valid").as_str(),
            "QĐ-UBND"
        );
        assert!(Notation::parse(&"Đ".repeat(30)).is_ok());
        assert_eq!(err_of(Notation::parse("")), "notation: must not be empty");
        assert_eq!(
            err_of(Notation::parse(&"Đ".repeat(31))),
            "notation: at most 30 characters"
        );
        assert_eq!(
            err_of(Notation::parse("QĐ UBND")),
            "notation: must not contain spaces"
        );
        assert_eq!(
            err_of(Notation::parse("VPCP/TTĐT")),
            "notation: must not contain '/'"
        );
    }

    #[test]
    fn number_notation_parses_and_displays() {
        let nn = NumberNotation::parse("05/QĐ-UBND").expect("valid");
        assert_eq!(nn.number().get(), 5);
        assert_eq!(nn.notation().as_str(), "QĐ-UBND");
        assert_eq!(nn.to_string(), "05/QĐ-UBND");
        assert_eq!(NumberNotation::parse("5/QĐ-UBND").expect("valid"), nn);
        assert_eq!(
            NumberNotation::parse("7816/VPCP-TTĐT")
                .expect("valid")
                .to_string(),
            "7816/VPCP-TTĐT"
        );
        let built = NumberNotation::new(
            DocumentNumber::new(5).expect("valid"),
            Notation::parse("QĐ-UBND").expect("valid"),
        );
        assert_eq!(built, nn);
    }

    #[test]
    fn number_notation_refusals() {
        assert!(err_of(NumberNotation::parse("05 QĐ-UBND")).starts_with("number_notation: "));
        assert_eq!(err_of(NumberNotation::parse("x/QĐ")), "number: digits only");
        assert_eq!(
            err_of(NumberNotation::parse("05/")),
            "notation: must not be empty"
        );
        assert_eq!(
            err_of(NumberNotation::parse("05/QĐ/UBND")),
            "notation: must not contain '/'"
        );
    }

    // --- document type ------------------------------------------------------

    #[test]
    fn document_type_parses_code_abbreviation_and_name() {
        for input in [
            "quyet_dinh",
            "QĐ",
            "Quyết định",
            "quyet dinh",
            "QUYẾT ĐỊNH",
            " Quyet_Dinh ",
        ] {
            assert_eq!(
                DocumentType::parse(input),
                Ok(DocumentType::QuyetDinh),
                "{input}"
            );
        }
        assert_eq!(DocumentType::parse("cong_van"), Ok(DocumentType::CongVan));
        assert_eq!(DocumentType::parse("Công văn"), Ok(DocumentType::CongVan));
        assert_eq!(DocumentType::parse("QyĐ"), Ok(DocumentType::QuyDinh));
        assert_eq!(DocumentType::parse("quy che"), Ok(DocumentType::QuyChe));
        assert_eq!(DocumentType::parse("ban_sao_y"), Ok(DocumentType::BanSaoY));
        assert_eq!(DocumentType::parse("TrS"), Ok(DocumentType::BanTrichSao));
        // Decomposed input.
        let nfd: String = "HĐ".nfd().collect();
        assert_eq!(DocumentType::parse(&nfd), Ok(DocumentType::HopDong));
    }

    #[test]
    fn document_type_abbreviation_match_is_exact() {
        assert_eq!(DocumentType::parse("HD"), Ok(DocumentType::HuongDan));
        assert_eq!(DocumentType::parse("HĐ"), Ok(DocumentType::HopDong));
        assert_eq!(DocumentType::parse("DA"), Ok(DocumentType::DuAn));
        assert_eq!(DocumentType::parse("ĐA"), Ok(DocumentType::DeAn));
        assert_eq!(DocumentType::parse("hop dong"), Ok(DocumentType::HopDong));
        assert_eq!(DocumentType::parse("huong dan"), Ok(DocumentType::HuongDan));
        // A lowercased abbreviation is not an abbreviation.
        assert!(DocumentType::parse("hd").is_err());
        assert_eq!(
            err_of(DocumentType::parse("Luật")),
            "document_type: unknown document type 'Luật'"
        );
        assert!(DocumentType::parse("").is_err());
    }

    #[test]
    fn document_type_codes_and_abbreviations_are_unique_and_consistent() {
        let all = DocumentType::all();
        assert_eq!(all.len(), 31);
        let codes: HashSet<_> = all.iter().map(|t| t.code()).collect();
        assert_eq!(codes.len(), all.len());
        let abbrevs: Vec<_> = all.iter().filter_map(|t| t.abbreviation()).collect();
        assert_eq!(abbrevs.len(), all.len() - 1, "only Công văn lacks one");
        assert_eq!(abbrevs.iter().collect::<HashSet<_>>().len(), abbrevs.len());
        let names: HashSet<_> = all.iter().map(|t| fold_vietnamese(t.name_vi())).collect();
        assert_eq!(names.len(), all.len());
        for t in all {
            assert_eq!(t.code(), fold_vietnamese(t.name_vi()).replace(' ', "_"));
            assert_eq!(DocumentType::parse(t.code()), Ok(*t));
            assert_eq!(DocumentType::parse(t.name_vi()), Ok(*t));
            if let Some(a) = t.abbreviation() {
                assert_eq!(DocumentType::parse(a), Ok(*t));
            }
        }
        assert_eq!(DocumentType::QuyetDinh.name_vi(), "Quyết định");
        assert_eq!(DocumentType::QuyetDinh.abbreviation(), Some("QĐ"));
        assert_eq!(DocumentType::CongVan.abbreviation(), None);
    }

    // --- urgency and secrecy ------------------------------------------------

    #[test]
    fn urgency_edxml_priority_round_trip() {
        for (p, u) in (0u8..).zip(Urgency::all()) {
            assert_eq!(u.edxml_priority(), p);
            assert_eq!(Urgency::from_edxml_priority(p), Ok(*u));
        }
        assert_eq!(
            err_of(Urgency::from_edxml_priority(5)),
            "priority: must be 0 to 4 (got 5)"
        );
        assert!(!Urgency::Normal.is_urgent());
        assert!(Urgency::Urgent.is_urgent() && Urgency::FlashScheduled.is_urgent());
        assert_eq!(Urgency::VeryUrgent.name_vi(), "Thượng khẩn");
    }

    #[test]
    fn urgency_parses_code_and_vietnamese() {
        assert_eq!(Urgency::parse("very_urgent"), Ok(Urgency::VeryUrgent));
        assert_eq!(Urgency::parse("Thượng khẩn"), Ok(Urgency::VeryUrgent));
        assert_eq!(Urgency::parse("thuong khan"), Ok(Urgency::VeryUrgent));
        assert_eq!(Urgency::parse("KHẨN"), Ok(Urgency::Urgent));
        assert_eq!(Urgency::parse("hoa toc"), Ok(Urgency::Flash));
        assert_eq!(
            Urgency::parse("Hỏa tốc hẹn giờ"),
            Ok(Urgency::FlashScheduled)
        );
        assert_eq!(Urgency::parse("thường"), Ok(Urgency::Normal));
        assert_eq!(Urgency::parse("Bình thường"), Ok(Urgency::Normal));
        let e = err_of(Urgency::parse("gấp"));
        assert!(e.starts_with("urgency: unknown value 'gấp'"), "{e}");
    }

    #[test]
    fn secrecy_parses_and_classifies() {
        assert_eq!(Secrecy::parse("top_secret"), Ok(Secrecy::TopSecret));
        assert_eq!(Secrecy::parse("Tuyệt mật"), Ok(Secrecy::TopSecret));
        assert_eq!(Secrecy::parse("toi mat"), Ok(Secrecy::Secret));
        assert_eq!(Secrecy::parse("MẬT"), Ok(Secrecy::Confidential));
        assert_eq!(Secrecy::parse("normal"), Ok(Secrecy::Normal));
        assert!(!Secrecy::Normal.is_secret());
        assert!(Secrecy::Confidential.is_secret() && Secrecy::TopSecret.is_secret());
        assert_eq!(Secrecy::Secret.name_vi(), "Tối mật");
        assert!(err_of(Secrecy::parse("bí mật")).starts_with("secrecy: unknown value"));
    }

    // --- serde --------------------------------------------------------------

    fn round_trip<T>(v: &T, json: &str)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
    {
        let out = serde_json::to_string(v).expect("serialise");
        assert_eq!(out, json);
        let back: T = serde_json::from_str(&out).expect("deserialise");
        assert_eq!(&back, v);
    }

    fn rejects<T>(json: &str, message: &str)
    where
        T: for<'de> Deserialize<'de> + fmt::Debug,
    {
        match serde_json::from_str::<T>(json) {
            Ok(v) => panic!("{json} should be rejected, got {v:?}"),
            Err(e) => assert!(e.to_string().contains(message), "{json}: {e}"),
        }
    }

    #[test]
    fn serde_round_trips() {
        round_trip(
            &UserId::parse("an.nguyen").expect("valid"),
            r#""an.nguyen""#,
        );
        round_trip(&UnitId::parse("VP").expect("valid"), r#""VP""#);
        round_trip(
            &AgencyCode::parse("000.00.00.H49").expect("valid"),
            r#""000.00.00.H49""#,
        );
        round_trip(
            &OrganName::parse("UBND tỉnh Quảng Ninh").expect("valid"),
            r#""UBND tỉnh Quảng Ninh""#,
        );
        round_trip(&Subject::parse("Về việc").expect("valid"), r#""Về việc""#);
        round_trip(
            &PersonName::parse("Lê Thị B").expect("valid"),
            r#""Lê Thị B""#,
        );
        round_trip(
            &Text::parse("note", "ghi chú", 100).expect("valid"),
            r#""ghi chú""#,
        );
        round_trip(&DocumentNumber::new(5).expect("valid"), r#""05""#);
        round_trip(&Notation::parse("QĐ-UBND").expect("valid"), r#""QĐ-UBND""#);
        round_trip(
            &NumberNotation::parse("5/QĐ-UBND").expect("valid"),
            r#""05/QĐ-UBND""#,
        );
        round_trip(&DocumentType::QuyetDinh, r#""quyet_dinh""#);
        round_trip(&DocumentType::CongVan, r#""cong_van""#);
        round_trip(&Urgency::FlashScheduled, r#""flash_scheduled""#);
        round_trip(&Urgency::VeryUrgent, r#""very_urgent""#);
        round_trip(&Secrecy::TopSecret, r#""top_secret""#);
        round_trip(&Secrecy::Normal, r#""normal""#);
        for t in DocumentType::all() {
            let json = serde_json::to_string(t).expect("serialise");
            assert_eq!(
                serde_json::from_str::<DocumentType>(&json).expect("deserialise"),
                *t
            );
        }
    }

    #[test]
    fn serde_rejects_invalid_values_with_the_parse_message() {
        rejects::<UserId>(r#""a b""#, "user_id: only letters a-z");
        rejects::<UnitId>(r#""""#, "unit_id: must not be empty");
        rejects::<AgencyCode>(r#""H49""#, "agency_code: must look like");
        rejects::<OrganName>(r#"" ""#, "organ_name: must not be empty");
        rejects::<Subject>(
            &format!("\"{}\"", "x".repeat(501)),
            "subject: at most 500 characters",
        );
        rejects::<PersonName>(r#""""#, "person_name: must not be empty");
        rejects::<Text>(r#""  ""#, "text: must not be empty");
        rejects::<DocumentNumber>(r#""0""#, "number: must be at least 1");
        rejects::<DocumentNumber>("5", "expected a string");
        rejects::<Notation>(r#""QĐ UBND""#, "notation: must not contain spaces");
        rejects::<NumberNotation>(r#""05-QĐ""#, "number_notation: must look like");
        rejects::<DocumentType>(r#""luat""#, "document_type: unknown document type");
        rejects::<Urgency>(r#""super""#, "urgency: unknown value");
        rejects::<Secrecy>(r#""classified""#, "secrecy: unknown value");
    }
}
