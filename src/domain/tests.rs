//! Given / when / then tests of the pure domain: `decide` and `evolve` together.
//!
//! `given(history).when(command).then(expected_events)` folds the history with
//! `fold`, decides the command under the default policy (Vietnam's working
//! calendar, no content of secret documents) and compares the events exactly;
//! `.then_refused(kind, words)` checks the error's variant and that its message
//! says why in plain words. `Then::state` folds history + produced events, so a
//! test can go on to assert the rows and the status.
//!
//! The cast: the clerical office VP (clerk `van.thu`, its head `chanh.vp`, who
//! is not a clerk), the director `giam.doc` and deputy `pho.giam.doc` (BGD), the
//! economics unit PKT (head `truong.kt`, specialists `cv.kt`, `cv2.kt`) and the
//! finance unit PTC (head `truong.tc`, specialist `cv.tc`). The incoming
//! document arrives on Friday 2026-11-20 at 09:00 in Hanoi.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday, date};
use uuid::Uuid;

use super::calendar::WorkingCalendar;
use super::decide::{
    Action, AssignmentSpec, Command, DeadlineSpec, DomainError, Policy, RegistrationFacts,
    ReviewDecision, agency_date, decide,
};
use super::events::{Assignment, DecodeError, DocumentEvent, fold};
use super::model::{
    Actor, CaseFile, Direction, Document, DocumentId, Holder, Issuer, Metadata, OfficialRole,
    PdfRef, Role, Row, RowId, RowStatus, Series, SignatureKind, SignatureVerdict, SignedFile,
    Source, Status, Task,
};
use super::values::{
    AgencyCode, DocumentNumber, DocumentType, Notation, NumberNotation, OrganName, Secrecy,
    Subject, Text, UnitId, Urgency, UserId,
};
use crate::digest::Sha256Digest;

// ===========================================================================
// The harness

fn policy() -> Policy {
    Policy {
        calendar: WorkingCalendar::vietnam(),
        allow_secret_content: false,
    }
}

struct Given {
    history: Vec<DocumentEvent>,
    policy: Policy,
}

/// The document's stream so far.
fn given(history: Vec<DocumentEvent>) -> Given {
    Given {
        history,
        policy: policy(),
    }
}

/// No stream: the document does not exist.
fn nothing() -> Vec<DocumentEvent> {
    Vec::new()
}

impl Given {
    /// An isolated deployment, where the content of secret documents may be kept.
    fn allowing_secret_content(mut self) -> Self {
        self.policy.allow_secret_content = true;
        self
    }

    fn when(self, command: Command) -> When {
        let state = fold(self.history.iter());
        let outcome = decide(&self.policy, &command, state.as_ref());
        When {
            history: self.history,
            command,
            outcome,
        }
    }
}

struct When {
    history: Vec<DocumentEvent>,
    command: Command,
    outcome: Result<Vec<DocumentEvent>, DomainError>,
}

impl When {
    /// The command succeeds with exactly these events.
    #[track_caller]
    fn then(self, expected: Vec<DocumentEvent>) -> Then {
        match self.outcome {
            Ok(events) => {
                assert_eq!(
                    events, expected,
                    "events decided for {:?}",
                    self.command.action
                );
                let mut history = self.history;
                history.extend(events);
                Then { history }
            }
            Err(e) => panic!(
                "expected {expected:#?}\nbut {:?} was refused: {e} ({e:?})",
                self.command.action
            ),
        }
    }

    /// The command is refused with an error of this kind whose message
    /// contains `says`.
    #[track_caller]
    fn then_refused(self, kind: impl Fn(&DomainError) -> bool, says: &str) -> DomainError {
        match self.outcome {
            Ok(events) => panic!(
                "expected a refusal saying {says:?}, but {:?} produced {events:#?}",
                self.command.action
            ),
            Err(e) => {
                assert!(kind(&e), "refused, but with the wrong kind of error: {e:?}");
                let message = e.to_string();
                assert!(
                    message.contains(says),
                    "the refusal should say {says:?}; it says {message:?}"
                );
                e
            }
        }
    }
}

/// History + the events just produced.
struct Then {
    history: Vec<DocumentEvent>,
}

impl Then {
    #[track_caller]
    fn state(&self) -> Document {
        state_of(&self.history)
    }

    fn history(self) -> Vec<DocumentEvent> {
        self.history
    }
}

#[track_caller]
fn state_of(history: &[DocumentEvent]) -> Document {
    fold(history.iter()).expect("the history folds to a document")
}

#[track_caller]
fn row(doc: &Document, id: u32) -> Row {
    doc.row(RowId(id))
        .cloned()
        .unwrap_or_else(|| panic!("row {id} exists; rows are {:#?}", doc.rows))
}

/// The statuses of all rows, in order: compact to assert.
fn row_statuses(doc: &Document) -> Vec<RowStatus> {
    doc.rows.iter().map(|r| r.status).collect()
}

fn with(mut history: Vec<DocumentEvent>, more: Vec<DocumentEvent>) -> Vec<DocumentEvent> {
    history.extend(more);
    history
}

// Kinds of refusal.

fn state_err(e: &DomainError) -> bool {
    matches!(e, DomainError::State(_))
}

fn forbidden(e: &DomainError) -> bool {
    matches!(e, DomainError::Forbidden(_))
}

fn invalid(field: &'static str) -> impl Fn(&DomainError) -> bool {
    move |e| matches!(e, DomainError::Invalid { field: f, .. } if *f == field)
}

fn not_found(e: &DomainError) -> bool {
    matches!(e, DomainError::NotFound)
}

fn secret_content(e: &DomainError) -> bool {
    matches!(e, DomainError::SecretContent { .. })
}

// ===========================================================================
// Fixtures: values

// Friday 2026-11-20, Hanoi time = UTC + 7.
const T_RECEIVE: &str = "2026-11-20T02:00:00Z"; // 09:00
const T_REGISTER: &str = "2026-11-20T02:30:00Z";
const T_SUBMIT: &str = "2026-11-20T03:00:00Z";
const T_DIRECT: &str = "2026-11-20T04:00:00Z";
const T_FORWARD: &str = "2026-11-20T06:00:00Z";
const T_ACCEPT: &str = "2026-11-20T07:00:00Z";
const T_DONE: &str = "2026-11-20T08:00:00Z";
const T_LATER: &str = "2026-11-20T09:00:00Z"; // 16:00
const MONDAY: &str = "2026-11-23T02:00:00Z";
const TUESDAY: &str = "2026-11-24T02:00:00Z";

fn ts(s: &str) -> Timestamp {
    s.parse().expect("a timestamp")
}

fn user(s: &str) -> UserId {
    UserId::parse(s).expect("a user id")
}

fn unit(s: &str) -> UnitId {
    UnitId::parse(s).expect("a unit id")
}

fn to_user(s: &str) -> Holder {
    Holder::User(user(s))
}

fn to_unit(s: &str) -> Holder {
    Holder::Unit(unit(s))
}

fn text(s: &str) -> Text {
    Text::parse("text", s, 1000).expect("a text")
}

fn pdf(content: &[u8]) -> PdfRef {
    PdfRef {
        sha256: Sha256Digest::of(content),
        pages: 1,
        bytes: 100,
    }
}

fn doc_id() -> DocumentId {
    DocumentId(Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001))
}

fn other_doc(n: u128) -> DocumentId {
    DocumentId(Uuid::from_u128(
        0x0196_0000_0000_7000_8000_0000_0000_1000 + n,
    ))
}

fn actor(name: &str, unit_id: &str, roles: &[OfficialRole]) -> Actor {
    Actor {
        user: user(name),
        unit: unit(unit_id),
        roles: roles.to_vec(),
    }
}

fn clerk() -> Actor {
    actor("van.thu", "VP", &[OfficialRole::Clerk])
}

/// The head of the clerical office: acts for VP but is not a clerk.
fn head_vp() -> Actor {
    actor("chanh.vp", "VP", &[OfficialRole::UnitHead])
}

fn leader() -> Actor {
    actor("giam.doc", "BGD", &[OfficialRole::Leader])
}

fn deputy() -> Actor {
    actor("pho.giam.doc", "BGD", &[OfficialRole::Leader])
}

fn head_kt() -> Actor {
    actor("truong.kt", "PKT", &[OfficialRole::UnitHead])
}

fn spec_kt() -> Actor {
    actor("cv.kt", "PKT", &[OfficialRole::Specialist])
}

fn spec2_kt() -> Actor {
    actor("cv2.kt", "PKT", &[OfficialRole::Specialist])
}

fn head_tc() -> Actor {
    actor("truong.tc", "PTC", &[OfficialRole::UnitHead])
}

fn spec_tc() -> Actor {
    actor("cv.tc", "PTC", &[OfficialRole::Specialist])
}

/// A command at `at`; "today" is that instant's date in Hanoi.
fn command(actor: Actor, at: &str, action: Action) -> Command {
    let at = ts(at);
    Command {
        actor,
        at,
        today: agency_date(at),
        action,
    }
}

/// The due date written on the incoming document (Friday 4 December).
fn due_date() -> Date {
    date(2026, 12, 4)
}

fn incoming_metadata() -> Metadata {
    Metadata {
        document_type: DocumentType::CongVan,
        number_notation: Some(NumberNotation::parse("1234/UBND-KT").expect("a number")),
        issuer: Some(Issuer {
            code: AgencyCode::parse("000.00.00.H49").expect("an agency code"),
            name: OrganName::parse("Ủy ban nhân dân tỉnh Quảng Ninh").expect("a name"),
        }),
        issue_date: Some(date(2026, 11, 18)),
        subject: Subject::parse("Về việc triển khai Nghị định 30/2020/NĐ-CP").expect("a subject"),
        urgency: Urgency::Normal,
        secrecy: Secrecy::Normal,
        pages: Some(2),
        signer: None,
        recipients: Vec::new(),
        due_date: Some(due_date()),
    }
}

fn secret_metadata() -> Metadata {
    Metadata {
        secrecy: Secrecy::Confidential,
        ..incoming_metadata()
    }
}

fn outgoing_metadata() -> Metadata {
    Metadata {
        document_type: DocumentType::QuyetDinh,
        number_notation: None,
        issuer: None,
        issue_date: None,
        subject: Subject::parse("Quyết định ban hành quy chế văn thư").expect("a subject"),
        urgency: Urgency::Normal,
        secrecy: Secrecy::Normal,
        pages: Some(3),
        signer: None,
        recipients: Vec::new(),
        due_date: None,
    }
}

fn registration(possible_duplicates: Vec<DocumentId>) -> RegistrationFacts {
    RegistrationFacts {
        arrival_number: 17,
        year: 2026,
        arrival_date: date(2026, 11, 20),
        possible_duplicates,
        signatures: None,
    }
}

fn spec(holder: Holder, role: Role, deadline: Option<DeadlineSpec>) -> AssignmentSpec {
    AssignmentSpec {
        holder,
        role,
        deadline,
    }
}

fn on(d: Date) -> Option<DeadlineSpec> {
    Some(DeadlineSpec::Date(d))
}

fn assignment(holder: Holder, role: Role, deadline: Option<Date>) -> Assignment {
    Assignment {
        holder,
        role,
        deadline,
    }
}

fn notation() -> Notation {
    Notation::parse("QĐ-UBND").expect("a notation")
}

fn case_file() -> CaseFile {
    CaseFile {
        code: text("HS-2026-01"),
        title: Some(text("Hồ sơ triển khai Nghị định 30")),
    }
}

// ===========================================================================
// Fixtures: events (written out, so a given history does not depend on decide)

fn received_event(source: Source, metadata: Metadata, file: Option<PdfRef>) -> DocumentEvent {
    DocumentEvent::Received {
        document_id: doc_id(),
        at: ts(T_RECEIVE),
        by: user("van.thu"),
        source,
        metadata,
        pdf: file,
        clerk_unit: unit("VP"),
    }
}

fn received() -> DocumentEvent {
    received_event(Source::Scan, incoming_metadata(), Some(pdf(b"scan")))
}

fn registered_event(
    at: &str,
    on_time: bool,
    possible_duplicates: Vec<DocumentId>,
) -> DocumentEvent {
    DocumentEvent::Registered {
        at: ts(at),
        by: user("van.thu"),
        arrival_number: 17,
        year: 2026,
        arrival_date: date(2026, 11, 20),
        on_time,
        possible_duplicates,
        signatures: None,
    }
}

fn submitted_event(leader: &str) -> DocumentEvent {
    DocumentEvent::SubmittedToLeader {
        at: ts(T_SUBMIT),
        by: user("van.thu"),
        row: RowId(2),
        leader: user(leader),
    }
}

fn instruction() -> Text {
    text("Phòng Kinh tế chủ trì, Phòng Tài chính phối hợp, báo cáo trước ngày 04/12")
}

fn directed_event(assignments: Vec<Assignment>) -> DocumentEvent {
    DocumentEvent::Directed {
        at: ts(T_DIRECT),
        by: user("giam.doc"),
        row: RowId(3),
        instruction: Some(instruction()),
        assignments,
    }
}

fn forwarded_event(
    by: &str,
    from: u32,
    note: Option<Text>,
    assignments: Vec<Assignment>,
) -> DocumentEvent {
    DocumentEvent::Forwarded {
        at: ts(T_FORWARD),
        by: user(by),
        row: RowId(from),
        instruction: note,
        assignments,
    }
}

fn accepted_event(by: &str, r: u32) -> DocumentEvent {
    DocumentEvent::Accepted {
        at: ts(T_ACCEPT),
        by: user(by),
        row: RowId(r),
    }
}

fn completed_event(by: &str, r: u32) -> DocumentEvent {
    DocumentEvent::Completed {
        at: ts(T_DONE),
        by: user(by),
        row: RowId(r),
        result: Some(text("Đã báo cáo")),
        reply_document: None,
    }
}

fn returned_event(by: &str, at: &str, r: u32, reason: &str) -> DocumentEvent {
    DocumentEvent::Returned {
        at: ts(at),
        by: user(by),
        row: RowId(r),
        reason: text(reason),
    }
}

fn recalled_event(by: &str) -> DocumentEvent {
    DocumentEvent::Recalled {
        at: ts(T_LATER),
        by: user(by),
        reason: text("Cơ quan ban hành thu hồi văn bản"),
    }
}

fn drafted_event(metadata: Metadata, file: Option<PdfRef>) -> DocumentEvent {
    DocumentEvent::Drafted {
        document_id: doc_id(),
        at: ts(T_RECEIVE),
        by: user("cv.kt"),
        metadata,
        pdf: file,
        drafting_unit: unit("PKT"),
        clerk_unit: unit("VP"),
    }
}

fn submitted_for_review_event() -> DocumentEvent {
    DocumentEvent::SubmittedForReview {
        at: ts(T_SUBMIT),
        by: user("cv.kt"),
        row: RowId(1),
        reviewer: user("truong.kt"),
    }
}

fn approved_event(next_reviewer: Option<&str>) -> DocumentEvent {
    DocumentEvent::ReviewApproved {
        at: ts(T_DIRECT),
        by: user("truong.kt"),
        row: RowId(2),
        comment: Some(text("Đồng ý")),
        next_reviewer: next_reviewer.map(user),
    }
}

fn numbered_event(series: Series) -> DocumentEvent {
    DocumentEvent::Numbered {
        at: ts(T_FORWARD),
        by: user("van.thu"),
        row: RowId(3),
        number_notation: NumberNotation::new(DocumentNumber::new(5).expect("a number"), notation()),
        year: 2026,
        series,
        issue_date: date(2026, 11, 20),
    }
}

fn verdict(indication: &str) -> SignatureVerdict {
    SignatureVerdict {
        field: "ChuKy".into(),
        indication: indication.into(),
        sub_indication: None,
        modifications: "none".into(),
        signer: Some("CN=Test".into()),
    }
}

fn signature_facts(indication: &str) -> SignedFile {
    SignedFile {
        pdf: pdf(b"signed"),
        signed_at: ts(T_FORWARD),
        certificate_sha256: Sha256Digest::of(b"certificate"),
        revision_sha256: Sha256Digest::of(b"revision"),
        byte_range: [0, 10, 20, 30],
        verdict: verdict(indication),
    }
}

fn signed_event(kind: SignatureKind, by: &str) -> DocumentEvent {
    DocumentEvent::Signed {
        at: ts(T_FORWARD),
        by: user(by),
        kind,
        file: signature_facts("TOTAL-PASSED"),
    }
}

fn dispatched_event() -> DocumentEvent {
    DocumentEvent::Dispatched {
        at: ts(T_ACCEPT),
        by: user("van.thu"),
        row: RowId(4),
        assignments: vec![
            assignment(to_unit("PTC"), Role::Lead, None),
            assignment(to_unit("PKT"), Role::ForInformation, None),
        ],
    }
}

// Incoming histories. Rows: 1 register (VP), 2 submit (VP), 3 direct (giam.doc),
// 4 lead (PKT), 5 coordinate (PTC), 6 for information (pho.giam.doc), 7 cv.kt.

fn h_received() -> Vec<DocumentEvent> {
    vec![received()]
}

fn h_registered() -> Vec<DocumentEvent> {
    with(
        h_received(),
        vec![registered_event(T_REGISTER, true, vec![])],
    )
}

fn h_submitted() -> Vec<DocumentEvent> {
    with(h_registered(), vec![submitted_event("giam.doc")])
}

fn h_directed() -> Vec<DocumentEvent> {
    with(
        h_submitted(),
        vec![directed_event(vec![
            assignment(to_unit("PKT"), Role::Lead, Some(due_date())),
            assignment(to_unit("PTC"), Role::Coordinate, Some(due_date())),
            assignment(to_user("pho.giam.doc"), Role::ForInformation, None),
        ])],
    )
}

/// Two lead units: row 4 PKT, row 5 PTC.
fn h_directed_two_leads() -> Vec<DocumentEvent> {
    with(
        h_submitted(),
        vec![directed_event(vec![
            assignment(to_unit("PKT"), Role::Lead, Some(due_date())),
            assignment(to_unit("PTC"), Role::Lead, Some(due_date())),
        ])],
    )
}

/// Row 4 forwarded by the head of PKT to specialist cv.kt (row 7).
fn h_forwarded() -> Vec<DocumentEvent> {
    with(
        h_directed(),
        vec![forwarded_event(
            "truong.kt",
            4,
            Some(text("Đồng chí xử lý")),
            vec![assignment(
                to_user("cv.kt"),
                Role::Lead,
                Some(date(2026, 12, 2)),
            )],
        )],
    )
}

/// The only lead completed: the document is completed.
fn h_completed() -> Vec<DocumentEvent> {
    with(
        h_directed(),
        vec![
            accepted_event("truong.kt", 4),
            completed_event("truong.kt", 4),
        ],
    )
}

// Outgoing histories. Rows: 1 draft (cv.kt), 2 review (truong.kt),
// 3 number (VP), 4 dispatch (VP), 5 PTC, 6 PKT.

fn h_drafted() -> Vec<DocumentEvent> {
    vec![drafted_event(outgoing_metadata(), Some(pdf(b"draft v1")))]
}

fn h_in_review() -> Vec<DocumentEvent> {
    with(h_drafted(), vec![submitted_for_review_event()])
}

fn h_approved() -> Vec<DocumentEvent> {
    with(h_in_review(), vec![approved_event(None)])
}

/// Approved and signed by the competent person.
fn h_signed() -> Vec<DocumentEvent> {
    with(
        h_approved(),
        vec![signed_event(SignatureKind::Personal, "giam.doc")],
    )
}

fn h_numbered() -> Vec<DocumentEvent> {
    with(h_signed(), vec![numbered_event(Series::Regular)])
}

/// Numbered and sealed: ready to dispatch.
fn h_sealed() -> Vec<DocumentEvent> {
    with(
        h_numbered(),
        vec![signed_event(SignatureKind::AgencySeal, "van.thu")],
    )
}

fn h_issued() -> Vec<DocumentEvent> {
    with(h_sealed(), vec![dispatched_event()])
}

/// A secret outgoing document, approved: routed by metadata only.
fn h_secret_approved() -> Vec<DocumentEvent> {
    vec![
        drafted_event(
            Metadata {
                secrecy: Secrecy::Secret,
                ..outgoing_metadata()
            },
            None,
        ),
        submitted_for_review_event(),
        approved_event(None),
    ]
}

// Actions.

fn receive(
    metadata: Metadata,
    file: Option<PdfRef>,
    register: Option<RegistrationFacts>,
) -> Action {
    Action::Receive {
        document_id: doc_id(),
        source: Source::Scan,
        metadata,
        pdf: file,
        register,
    }
}

fn direct(assignments: Vec<AssignmentSpec>) -> Action {
    Action::Direct {
        instruction: Some(instruction()),
        assignments,
    }
}

/// Forwards to the given recipients, all of them officials of the
/// forwarder's unit.
fn forward(from: u32, assignments: Vec<AssignmentSpec>) -> Action {
    let unit_members = members_of(&assignments);
    Action::Forward {
        row: RowId(from),
        instruction: None,
        assignments,
        unit_members,
    }
}

fn members_of(assignments: &[AssignmentSpec]) -> Vec<UserId> {
    assignments
        .iter()
        .filter_map(|a| match &a.holder {
            Holder::User(u) => Some(u.clone()),
            Holder::Unit(_) => None,
        })
        .collect()
}

fn complete(r: u32) -> Action {
    Action::Complete {
        row: RowId(r),
        result: Some(text("Đã báo cáo")),
        reply_document: None,
    }
}

fn give_back(r: u32, reason: &str) -> Action {
    Action::Return {
        row: RowId(r),
        reason: text(reason),
    }
}

fn recall() -> Action {
    Action::Recall {
        reason: text("Cơ quan ban hành thu hồi văn bản"),
    }
}

fn number(series: Series, issue_date: Date) -> Action {
    Action::Number {
        number: 5,
        year: 2026,
        series,
        notation: notation(),
        issue_date,
    }
}

// ===========================================================================
// The fixtures' calendar facts

#[test]
fn fixture_dates_fall_on_the_weekdays_the_tests_assume() {
    assert_eq!(agency_date(ts(T_RECEIVE)), date(2026, 11, 20));
    assert_eq!(agency_date(ts(T_LATER)), date(2026, 11, 20));
    assert_eq!(date(2026, 11, 20).weekday(), Weekday::Friday);
    assert_eq!(agency_date(ts(MONDAY)).weekday(), Weekday::Monday);
    assert_eq!(agency_date(ts(TUESDAY)).weekday(), Weekday::Tuesday);
}

// ===========================================================================
// Receive

#[test]
fn receive_a_scanned_paper_document() {
    let doc = given(nothing())
        .when(command(
            clerk(),
            T_RECEIVE,
            receive(incoming_metadata(), Some(pdf(b"scan")), None),
        ))
        .then(vec![received()])
        .state();
    assert_eq!(doc.direction, Direction::Incoming);
    assert_eq!(doc.status, Status::AwaitingRegistration);
    assert_eq!(doc.source, Some(Source::Scan));
    assert_eq!(doc.clerk_unit, unit("VP"));
    assert_eq!(doc.current_pdf(), Some(&pdf(b"scan")));
    assert_eq!(doc.rows.len(), 1);
    let r = row(&doc, 1);
    assert_eq!(
        (r.task, r.status, r.holder),
        (Task::Register, RowStatus::Pending, to_unit("VP"))
    );
}

#[test]
fn receive_a_document_delivered_electronically() {
    let from = Source::Delivered {
        from: AgencyCode::parse("000.00.00.G22").expect("an agency code"),
    };
    let doc = given(nothing())
        .when(command(
            clerk(),
            T_RECEIVE,
            Action::Receive {
                document_id: doc_id(),
                source: from.clone(),
                metadata: incoming_metadata(),
                pdf: Some(pdf(b"edxml attachment")),
                register: None,
            },
        ))
        .then(vec![received_event(
            from.clone(),
            incoming_metadata(),
            Some(pdf(b"edxml attachment")),
        )])
        .state();
    assert_eq!(doc.source, Some(from));
    assert_eq!(doc.status, Status::AwaitingRegistration);
}

#[test]
fn receive_and_register_in_one_step() {
    let doc = given(nothing())
        .when(command(
            clerk(),
            T_RECEIVE,
            receive(
                incoming_metadata(),
                Some(pdf(b"scan")),
                Some(registration(vec![])),
            ),
        ))
        .then(vec![received(), registered_event(T_RECEIVE, true, vec![])])
        .state();
    assert_eq!(doc.status, Status::Registered);
    assert_eq!(
        row_statuses(&doc),
        vec![RowStatus::Completed, RowStatus::Pending]
    );
    assert_eq!(row(&doc, 2).task, Task::Submit);
    assert_eq!(doc.arrival.as_ref().map(|a| a.number), Some(17));
}

#[test]
fn receive_is_refused_for_a_non_clerk() {
    given(nothing())
        .when(command(
            head_kt(),
            T_RECEIVE,
            receive(incoming_metadata(), Some(pdf(b"scan")), None),
        ))
        .then_refused(forbidden, "only a clerk receives incoming documents");
}

#[test]
fn receive_of_a_secret_document_with_its_pdf_is_refused() {
    let e = given(nothing())
        .when(command(
            clerk(),
            T_RECEIVE,
            receive(secret_metadata(), Some(pdf(b"secret scan")), None),
        ))
        .then_refused(
            secret_content,
            "the law on state secrets forbids keeping the content",
        );
    assert_eq!(e, DomainError::SecretContent { secrecy: "Mật" });
    assert!(e.to_string().contains("do not attach the file"), "{e}");
}

#[test]
fn receive_of_a_secret_document_with_its_pdf_is_allowed_on_an_isolated_deployment() {
    given(nothing())
        .allowing_secret_content()
        .when(command(
            clerk(),
            T_RECEIVE,
            receive(secret_metadata(), Some(pdf(b"secret scan")), None),
        ))
        .then(vec![received_event(
            Source::Scan,
            secret_metadata(),
            Some(pdf(b"secret scan")),
        )]);
}

#[test]
fn receive_of_a_secret_document_without_a_pdf_is_accepted() {
    let doc = given(nothing())
        .when(command(
            clerk(),
            T_RECEIVE,
            receive(secret_metadata(), None, None),
        ))
        .then(vec![received_event(Source::Scan, secret_metadata(), None)])
        .state();
    assert!(doc.revisions.is_empty());
    assert_eq!(doc.status, Status::AwaitingRegistration);
}

#[test]
fn receive_of_a_normal_document_without_a_pdf_is_refused() {
    given(nothing())
        .when(command(
            clerk(),
            T_RECEIVE,
            receive(incoming_metadata(), None, None),
        ))
        .then_refused(invalid("file"), "attach the document's PDF");
}

#[test]
fn receive_is_refused_when_the_issue_date_is_in_the_future() {
    let metadata = Metadata {
        issue_date: Some(date(2026, 11, 21)),
        ..incoming_metadata()
    };
    given(nothing())
        .when(command(
            clerk(),
            T_RECEIVE,
            receive(metadata, Some(pdf(b"scan")), None),
        ))
        .then_refused(
            invalid("issue_date"),
            "the issue date cannot be in the future",
        );
}

#[test]
fn receive_is_refused_without_the_issuing_agency() {
    let metadata = Metadata {
        issuer: None,
        ..incoming_metadata()
    };
    given(nothing())
        .when(command(
            clerk(),
            T_RECEIVE,
            receive(metadata, Some(pdf(b"scan")), None),
        ))
        .then_refused(invalid("issuer"), "names its issuing agency");
}

#[test]
fn receiving_the_same_document_twice_is_refused() {
    given(h_received())
        .when(command(
            clerk(),
            T_REGISTER,
            receive(incoming_metadata(), Some(pdf(b"scan")), None),
        ))
        .then_refused(state_err, "a document with this id exists already");
}

// ===========================================================================
// Register

#[test]
fn register_on_the_day_of_arrival_is_on_time() {
    let doc = given(h_received())
        .when(command(
            clerk(),
            T_REGISTER,
            Action::Register(registration(vec![])),
        ))
        .then(vec![registered_event(T_REGISTER, true, vec![])])
        .state();
    assert_eq!(doc.status, Status::Registered);
    let arrival = doc.arrival.clone().expect("an arrival");
    assert_eq!(
        (arrival.number, arrival.year, arrival.on_time),
        (17, 2026, true)
    );
    assert_eq!(arrival.date, date(2026, 11, 20));
    let submit = row(&doc, 2);
    assert_eq!(submit.task, Task::Submit);
    assert_eq!(submit.parent, Some(RowId(1)));
    assert_eq!(submit.holder, to_unit("VP"));
    assert_eq!(row(&doc, 1).status, RowStatus::Completed);
}

#[test]
fn register_on_the_next_working_day_after_a_weekend_is_on_time() {
    // Received Friday, registered Monday: the next working day.
    given(h_received())
        .when(command(
            clerk(),
            MONDAY,
            Action::Register(registration(vec![])),
        ))
        .then(vec![registered_event(MONDAY, true, vec![])]);
}

#[test]
fn register_two_working_days_later_is_late() {
    // Received Friday, registered Tuesday.
    let doc = given(h_received())
        .when(command(
            clerk(),
            TUESDAY,
            Action::Register(registration(vec![])),
        ))
        .then(vec![registered_event(TUESDAY, false, vec![])])
        .state();
    assert_eq!(doc.arrival.map(|a| a.on_time), Some(false));
}

#[test]
fn register_of_an_urgent_document_the_next_day_is_late() {
    let urgent = Metadata {
        urgency: Urgency::Urgent,
        ..incoming_metadata()
    };
    given(vec![received_event(
        Source::Scan,
        urgent,
        Some(pdf(b"scan")),
    )])
    .when(command(
        clerk(),
        MONDAY,
        Action::Register(registration(vec![])),
    ))
    .then(vec![registered_event(MONDAY, false, vec![])]);
}

#[test]
fn register_carries_possible_duplicates_but_not_the_document_itself() {
    given(h_received())
        .when(command(
            clerk(),
            T_REGISTER,
            Action::Register(registration(vec![other_doc(1), doc_id(), other_doc(2)])),
        ))
        .then(vec![registered_event(
            T_REGISTER,
            true,
            vec![other_doc(1), other_doc(2)],
        )]);
}

#[test]
fn register_is_refused_when_registered_already() {
    given(h_registered())
        .when(command(
            clerk(),
            T_SUBMIT,
            Action::Register(registration(vec![])),
        ))
        .then_refused(state_err, "registered already");
}

#[test]
fn register_is_refused_for_an_outgoing_document() {
    given(h_drafted())
        .when(command(
            clerk(),
            T_REGISTER,
            Action::Register(registration(vec![])),
        ))
        .then_refused(state_err, "this applies to incoming documents only");
}

#[test]
fn register_is_refused_for_the_head_of_the_clerical_office_who_is_not_a_clerk() {
    given(h_received())
        .when(command(
            head_vp(),
            T_REGISTER,
            Action::Register(registration(vec![])),
        ))
        .then_refused(
            forbidden,
            "only a clerk of the clerical office registers documents",
        );
}

#[test]
fn register_is_refused_with_an_arrival_date_in_the_future() {
    let facts = RegistrationFacts {
        arrival_date: date(2026, 11, 21),
        ..registration(vec![])
    };
    given(h_received())
        .when(command(clerk(), T_REGISTER, Action::Register(facts)))
        .then_refused(invalid("arrival_date"), "cannot be in the future");
}

// ===========================================================================
// Submit to the leader

#[test]
fn submit_to_the_leader_opens_a_direct_row() {
    let doc = given(h_registered())
        .when(command(
            clerk(),
            T_SUBMIT,
            Action::SubmitToLeader {
                leader: user("giam.doc"),
            },
        ))
        .then(vec![submitted_event("giam.doc")])
        .state();
    assert_eq!(doc.status, Status::AwaitingDirection);
    assert_eq!(row(&doc, 2).status, RowStatus::Forwarded);
    let r = row(&doc, 3);
    assert_eq!((r.task, r.status), (Task::Direct, RowStatus::Pending));
    assert_eq!(r.holder, to_user("giam.doc"));
    assert_eq!(r.parent, Some(RowId(2)));
    assert_eq!(r.deadline, Some(due_date()), "the document's due date");
}

#[test]
fn submit_to_the_leader_is_refused_before_registration() {
    given(h_received())
        .when(command(
            clerk(),
            T_SUBMIT,
            Action::SubmitToLeader {
                leader: user("giam.doc"),
            },
        ))
        .then_refused(state_err, "not registered yet");
}

#[test]
fn submit_to_the_leader_is_refused_twice() {
    given(h_submitted())
        .when(command(
            clerk(),
            T_DIRECT,
            Action::SubmitToLeader {
                leader: user("pho.giam.doc"),
            },
        ))
        .then_refused(state_err, "submitted already");
}

#[test]
fn submit_to_the_leader_is_refused_outside_the_clerical_office() {
    given(h_registered())
        .when(command(
            head_kt(),
            T_SUBMIT,
            Action::SubmitToLeader {
                leader: user("giam.doc"),
            },
        ))
        .then_refused(
            forbidden,
            "only the clerical office submits documents to the leader",
        );
}

// ===========================================================================
// Direct

#[test]
fn direct_names_lead_coordinate_and_for_information_with_deadlines() {
    let doc = given(h_submitted())
        .when(command(
            leader(),
            T_DIRECT,
            direct(vec![
                spec(to_unit("PKT"), Role::Lead, on(date(2026, 12, 4))),
                spec(
                    to_unit("PTC"),
                    Role::Coordinate,
                    Some(DeadlineSpec::WorkingDays { working_days: 3 }),
                ),
                spec(
                    to_user("pho.giam.doc"),
                    Role::ForInformation,
                    Some(DeadlineSpec::WorkingDays { working_days: 1 }),
                ),
            ]),
        ))
        .then(vec![directed_event(vec![
            assignment(to_unit("PKT"), Role::Lead, Some(date(2026, 12, 4))),
            // Friday + 3 working days, over the weekend: Wednesday.
            assignment(to_unit("PTC"), Role::Coordinate, Some(date(2026, 11, 25))),
            // For information: nothing to meet, no deadline.
            assignment(to_user("pho.giam.doc"), Role::ForInformation, None),
        ])])
        .state();
    assert_eq!(doc.status, Status::InProgress);
    let direct_row = row(&doc, 3);
    assert_eq!(direct_row.status, RowStatus::Forwarded);
    assert_eq!(direct_row.instruction, Some(instruction()));
    assert_eq!(doc.rows.len(), 6);
    for (id, holder, role) in [
        (4, to_unit("PKT"), Role::Lead),
        (5, to_unit("PTC"), Role::Coordinate),
        (6, to_user("pho.giam.doc"), Role::ForInformation),
    ] {
        let r = row(&doc, id);
        assert_eq!(r.parent, Some(RowId(3)), "row {id}");
        assert_eq!(
            (r.task, r.status),
            (Task::Handle, RowStatus::Pending),
            "row {id}"
        );
        assert_eq!((r.holder, r.role), (holder, Some(role)), "row {id}");
        assert_eq!(r.instruction, Some(instruction()), "row {id}");
        assert_eq!(r.assigned_by, user("giam.doc"), "row {id}");
    }
    assert_eq!(row(&doc, 5).deadline, Some(date(2026, 11, 25)));
}

#[test]
fn direct_counts_one_working_day_from_friday_as_monday() {
    given(h_submitted())
        .when(command(
            leader(),
            T_DIRECT,
            direct(vec![spec(
                to_unit("PKT"),
                Role::Lead,
                Some(DeadlineSpec::WorkingDays { working_days: 1 }),
            )]),
        ))
        .then(vec![directed_event(vec![assignment(
            to_unit("PKT"),
            Role::Lead,
            Some(date(2026, 11, 23)),
        )])]);
}

#[test]
fn direct_without_a_deadline_takes_the_documents_due_date() {
    given(h_submitted())
        .when(command(
            leader(),
            T_DIRECT,
            direct(vec![spec(to_unit("PKT"), Role::Lead, None)]),
        ))
        .then(vec![directed_event(vec![assignment(
            to_unit("PKT"),
            Role::Lead,
            Some(due_date()),
        )])]);
}

#[test]
fn direct_for_information_only_completes_the_document() {
    let doc = given(h_submitted())
        .when(command(
            leader(),
            T_DIRECT,
            direct(vec![spec(to_unit("PKT"), Role::ForInformation, None)]),
        ))
        .then(vec![directed_event(vec![assignment(
            to_unit("PKT"),
            Role::ForInformation,
            None,
        )])])
        .state();
    assert_eq!(doc.status, Status::Completed);
    assert_eq!(row(&doc, 3).status, RowStatus::Completed);
    assert_eq!(row(&doc, 3).completed_at, Some(ts(T_DIRECT)));
    assert_eq!(row(&doc, 4).status, RowStatus::Pending, "still to be read");
}

#[test]
fn direct_is_refused_for_a_leader_it_was_not_submitted_to() {
    given(h_submitted())
        .when(command(
            deputy(),
            T_DIRECT,
            direct(vec![spec(to_unit("PKT"), Role::Lead, None)]),
        ))
        .then_refused(
            forbidden,
            "submitted to user:giam.doc; only they can direct it",
        );
}

#[test]
fn direct_is_refused_with_coordination_but_no_lead() {
    given(h_submitted())
        .when(command(
            leader(),
            T_DIRECT,
            direct(vec![
                spec(to_unit("PKT"), Role::Coordinate, None),
                spec(to_unit("PTC"), Role::Coordinate, None),
            ]),
        ))
        .then_refused(invalid("assignments"), "name the one who leads");
}

#[test]
fn direct_is_refused_when_a_recipient_is_named_twice() {
    given(h_submitted())
        .when(command(
            leader(),
            T_DIRECT,
            direct(vec![
                spec(to_unit("PKT"), Role::Lead, None),
                spec(to_unit("PKT"), Role::Coordinate, None),
            ]),
        ))
        .then_refused(invalid("assignments"), "unit:PKT is named twice");
}

#[test]
fn direct_is_refused_with_a_deadline_in_the_past() {
    given(h_submitted())
        .when(command(
            leader(),
            T_DIRECT,
            direct(vec![spec(
                to_unit("PKT"),
                Role::Lead,
                on(date(2026, 11, 19)),
            )]),
        ))
        .then_refused(invalid("deadline"), "a deadline cannot be in the past");
}

#[test]
fn direct_is_refused_without_recipients() {
    given(h_submitted())
        .when(command(leader(), T_DIRECT, direct(vec![])))
        .then_refused(invalid("assignments"), "name at least one recipient");
}

#[test]
fn direct_is_refused_before_the_document_is_submitted() {
    given(h_registered())
        .when(command(
            leader(),
            T_DIRECT,
            direct(vec![spec(to_unit("PKT"), Role::Lead, None)]),
        ))
        .then_refused(state_err, "has not been submitted to the leader yet");
}

#[test]
fn direct_is_refused_twice() {
    given(h_directed())
        .when(command(
            leader(),
            T_FORWARD,
            direct(vec![spec(to_unit("PTC"), Role::Lead, None)]),
        ))
        .then_refused(state_err, "directed already");
}

// ===========================================================================
// Forward

#[test]
fn forward_inside_a_unit_by_its_head() {
    let doc = given(h_directed())
        .when(command(
            head_kt(),
            T_FORWARD,
            Action::Forward {
                row: RowId(4),
                instruction: Some(text("Đồng chí xử lý")),
                assignments: vec![
                    spec(to_user("cv.kt"), Role::Lead, on(date(2026, 12, 2))),
                    spec(to_user("cv2.kt"), Role::Coordinate, None),
                ],
                unit_members: vec![user("cv.kt"), user("cv2.kt")],
            },
        ))
        .then(vec![forwarded_event(
            "truong.kt",
            4,
            Some(text("Đồng chí xử lý")),
            vec![
                assignment(to_user("cv.kt"), Role::Lead, Some(date(2026, 12, 2))),
                // No deadline given: the forwarder's own.
                assignment(to_user("cv2.kt"), Role::Coordinate, Some(due_date())),
            ],
        )])
        .state();
    assert_eq!(row(&doc, 4).status, RowStatus::Forwarded);
    let r = row(&doc, 7);
    assert_eq!(r.parent, Some(RowId(4)));
    assert_eq!(
        (r.holder, r.role, r.task),
        (to_user("cv.kt"), Some(Role::Lead), Task::Handle)
    );
    assert_eq!(r.deadline, Some(date(2026, 12, 2)));
    assert_eq!(r.assigned_by, user("truong.kt"));
    assert_eq!(doc.status, Status::InProgress);
}

#[test]
fn forward_is_refused_with_a_role_stronger_than_the_forwarders_own() {
    // PTC coordinates (row 5); it cannot make anyone lead.
    given(h_directed())
        .when(command(
            head_tc(),
            T_FORWARD,
            forward(5, vec![spec(to_user("cv.tc"), Role::Lead, None)]),
        ))
        .then_refused(
            invalid("assignments"),
            "you hold this document as coordinate",
        );
}

#[test]
fn forward_is_refused_with_a_deadline_later_than_the_forwarders() {
    given(h_directed())
        .when(command(
            head_kt(),
            T_FORWARD,
            forward(
                4,
                vec![spec(to_user("cv.kt"), Role::Lead, on(date(2026, 12, 10)))],
            ),
        ))
        .then_refused(
            invalid("deadline"),
            "cannot be later than your own deadline, 2026-12-04",
        );
}

#[test]
fn forward_is_refused_for_a_specialist_of_another_unit() {
    given(h_directed())
        .when(command(
            spec_tc(),
            T_FORWARD,
            forward(4, vec![spec(to_user("cv.kt"), Role::Lead, None)]),
        ))
        .then_refused(
            forbidden,
            "row 4 is held by unit:PKT; only its holder can act on it",
        );
}

#[test]
fn forward_is_refused_to_an_official_of_another_unit() {
    given(h_directed())
        .when(command(
            head_kt(),
            T_FORWARD,
            Action::Forward {
                row: RowId(4),
                instruction: None,
                assignments: vec![spec(to_user("cv.tc"), Role::Lead, None)],
                unit_members: vec![user("cv.kt"), user("cv2.kt")],
            },
        ))
        .then_refused(invalid("assignments"), "is not an official of unit");
}

#[test]
fn forward_is_refused_to_another_unit() {
    given(h_directed())
        .when(command(
            head_kt(),
            T_FORWARD,
            forward(4, vec![spec(to_unit("PTC"), Role::Lead, None)]),
        ))
        .then_refused(
            invalid("assignments"),
            "forwarded to officials inside the unit",
        );
}

#[test]
fn forward_is_refused_for_a_specialist_of_the_holding_unit() {
    // A unit's row is handled by its head, not by any member.
    given(h_directed())
        .when(command(
            spec_kt(),
            T_FORWARD,
            forward(4, vec![spec(to_user("cv2.kt"), Role::Lead, None)]),
        ))
        .then_refused(forbidden, "only its holder can act on it");
}

#[test]
fn forward_is_refused_to_oneself() {
    given(h_forwarded())
        .when(command(
            spec_kt(),
            T_ACCEPT,
            forward(7, vec![spec(to_user("cv.kt"), Role::Lead, None)]),
        ))
        .then_refused(
            invalid("assignments"),
            "you cannot assign the document to yourself",
        );
}

#[test]
fn a_coordinating_unit_can_hand_its_part_to_a_specialist() {
    // Decree 30 art. 23 asks for a lead when several units are involved; a
    // coordinating unit's head assigning its own specialist involves one
    // official, and "coordinate" is the strongest role the head may give.
    given(h_directed())
        .when(command(
            head_tc(),
            T_FORWARD,
            forward(5, vec![spec(to_user("cv.tc"), Role::Coordinate, None)]),
        ))
        .then(vec![forwarded_event(
            "truong.tc",
            5,
            None,
            vec![assignment(
                to_user("cv.tc"),
                Role::Coordinate,
                Some(due_date()),
            )],
        )]);
}

#[test]
fn forwarding_a_lead_row_for_information_only_does_not_strand_the_document() {
    // Either the forward is refused, or the lead unit can still finish the work.
    let outcome = decide(
        &policy(),
        &command(
            head_kt(),
            T_FORWARD,
            forward(4, vec![spec(to_user("cv.kt"), Role::ForInformation, None)]),
        ),
        fold(h_directed().iter()).as_ref(),
    );
    match outcome {
        Err(e) => {
            assert!(invalid("assignments")(&e), "{e:?}");
            assert!(e.to_string().contains("lead"), "{e}");
        }
        Ok(events) => {
            let mut history = with(h_directed(), events);
            history.push(accepted_event("cv.kt", 7));
            let doc = state_of(&history);
            assert_eq!(row(&doc, 7).status, RowStatus::Completed, "read");
            let then = given(history)
                .when(command(head_kt(), T_DONE, complete(4)))
                .then(vec![completed_event("truong.kt", 4)]);
            assert_eq!(then.state().status, Status::Completed);
        }
    }
}

// ===========================================================================
// Accept

#[test]
fn accept_puts_a_lead_row_in_progress() {
    let doc = given(h_directed())
        .when(command(
            head_kt(),
            T_ACCEPT,
            Action::Accept { row: RowId(4) },
        ))
        .then(vec![accepted_event("truong.kt", 4)])
        .state();
    assert_eq!(row(&doc, 4).status, RowStatus::InProgress);
    assert_eq!(row(&doc, 4).since, ts(T_ACCEPT));
    assert_eq!(doc.status, Status::InProgress);
}

#[test]
fn accept_of_a_for_information_row_completes_it() {
    let doc = given(h_directed())
        .when(command(
            deputy(),
            T_ACCEPT,
            Action::Accept { row: RowId(6) },
        ))
        .then(vec![accepted_event("pho.giam.doc", 6)])
        .state();
    let r = row(&doc, 6);
    assert_eq!(r.status, RowStatus::Completed);
    assert_eq!(r.completed_at, Some(ts(T_ACCEPT)));
    assert_eq!(
        doc.status,
        Status::InProgress,
        "reading does not complete the document"
    );
    assert_eq!(row(&doc, 3).status, RowStatus::Forwarded);
}

#[test]
fn accept_is_refused_twice() {
    given(with(h_directed(), vec![accepted_event("truong.kt", 4)]))
        .when(command(head_kt(), T_DONE, Action::Accept { row: RowId(4) }))
        .then_refused(state_err, "row 4 has been accepted already");
}

#[test]
fn accept_is_refused_for_a_task_that_is_not_handling() {
    given(h_submitted())
        .when(command(
            leader(),
            T_DIRECT,
            Action::Accept { row: RowId(3) },
        ))
        .then_refused(
            state_err,
            "only a recipient handling the document accepts it",
        );
}

#[test]
fn accept_is_refused_for_a_row_that_does_not_exist() {
    given(h_directed())
        .when(command(
            head_kt(),
            T_ACCEPT,
            Action::Accept { row: RowId(99) },
        ))
        .then_refused(invalid("row"), "the document has no recipient row 99");
}

// ===========================================================================
// Report progress

#[test]
fn report_progress_after_accepting() {
    let doc = given(with(h_directed(), vec![accepted_event("truong.kt", 4)]))
        .when(command(
            head_kt(),
            T_DONE,
            Action::ReportProgress {
                row: RowId(4),
                percent: 40,
                note: text("Đang tổng hợp số liệu"),
            },
        ))
        .then(vec![DocumentEvent::ProgressReported {
            at: ts(T_DONE),
            by: user("truong.kt"),
            row: RowId(4),
            percent: 40,
            note: text("Đang tổng hợp số liệu"),
        }])
        .state();
    assert_eq!(row(&doc, 4).progress, Some(40));
    assert_eq!(row(&doc, 4).status, RowStatus::InProgress);
}

#[test]
fn report_progress_is_refused_before_accepting() {
    given(h_directed())
        .when(command(
            head_kt(),
            T_DONE,
            Action::ReportProgress {
                row: RowId(4),
                percent: 40,
                note: text("Đang tổng hợp"),
            },
        ))
        .then_refused(state_err, "accept the document before reporting progress");
}

#[test]
fn report_progress_above_one_hundred_percent_is_refused() {
    given(with(h_directed(), vec![accepted_event("truong.kt", 4)]))
        .when(command(
            head_kt(),
            T_DONE,
            Action::ReportProgress {
                row: RowId(4),
                percent: 101,
                note: text("Vượt kế hoạch"),
            },
        ))
        .then_refused(invalid("percent"), "a percentage from 0 to 100");
}

#[test]
fn report_progress_is_refused_for_information() {
    given(h_directed())
        .when(command(
            deputy(),
            T_DONE,
            Action::ReportProgress {
                row: RowId(6),
                percent: 10,
                note: text("Đã đọc"),
            },
        ))
        .then_refused(
            state_err,
            "only a lead or coordinating recipient reports progress",
        );
}

// ===========================================================================
// Complete

#[test]
fn complete_by_the_only_lead_completes_the_direction_and_the_document() {
    let reply = other_doc(7);
    let doc = given(with(h_directed(), vec![accepted_event("truong.kt", 4)]))
        .when(command(
            head_kt(),
            T_DONE,
            Action::Complete {
                row: RowId(4),
                result: Some(text("Đã báo cáo")),
                reply_document: Some(reply),
            },
        ))
        .then(vec![DocumentEvent::Completed {
            at: ts(T_DONE),
            by: user("truong.kt"),
            row: RowId(4),
            result: Some(text("Đã báo cáo")),
            reply_document: Some(reply),
        }])
        .state();
    let lead = row(&doc, 4);
    assert_eq!(
        (lead.status, lead.progress),
        (RowStatus::Completed, Some(100))
    );
    assert_eq!(lead.completed_at, Some(ts(T_DONE)));
    assert_eq!(row(&doc, 3).status, RowStatus::Completed);
    assert_eq!(doc.status, Status::Completed);
    // Coordinate and for-information rows are not closed by the lead.
    assert_eq!(row(&doc, 5).status, RowStatus::Pending);
    assert_eq!(row(&doc, 6).status, RowStatus::Pending);
}

#[test]
fn complete_is_refused_for_a_for_information_recipient() {
    given(h_directed())
        .when(command(deputy(), T_DONE, complete(6)))
        .then_refused(state_err, "only a lead recipient can complete it");
}

#[test]
fn complete_is_refused_for_a_forwarded_row() {
    given(h_forwarded())
        .when(command(head_kt(), T_DONE, complete(4)))
        .then_refused(
            state_err,
            "row 4 has been forwarded; it completes when the lead recipients",
        );
}

#[test]
fn complete_is_refused_when_the_reply_is_the_document_itself() {
    given(h_directed())
        .when(command(
            head_kt(),
            T_DONE,
            Action::Complete {
                row: RowId(4),
                result: None,
                reply_document: Some(doc_id()),
            },
        ))
        .then_refused(
            invalid("reply_document"),
            "a document cannot reply to itself",
        );
}

#[test]
fn complete_by_a_forwarded_lead_completes_the_forwarded_row_and_the_direction() {
    let doc = given(h_forwarded())
        .when(command(spec_kt(), T_DONE, complete(7)))
        .then(vec![completed_event("cv.kt", 7)])
        .state();
    assert_eq!(row(&doc, 7).status, RowStatus::Completed);
    assert_eq!(row(&doc, 4).status, RowStatus::Completed);
    assert_eq!(row(&doc, 4).completed_at, Some(ts(T_DONE)));
    assert_eq!(row(&doc, 3).status, RowStatus::Completed);
    assert_eq!(doc.status, Status::Completed);
}

#[test]
fn complete_propagates_only_when_all_lead_siblings_are_done() {
    let then = given(h_directed_two_leads())
        .when(command(head_kt(), T_DONE, complete(4)))
        .then(vec![completed_event("truong.kt", 4)]);
    let doc = then.state();
    assert_eq!(doc.status, Status::InProgress, "PTC still leads its part");
    assert_eq!(row(&doc, 3).status, RowStatus::Forwarded);

    let doc = given(then.history())
        .when(command(head_tc(), T_DONE, complete(5)))
        .then(vec![completed_event("truong.tc", 5)])
        .state();
    assert_eq!(row(&doc, 3).status, RowStatus::Completed);
    assert_eq!(doc.status, Status::Completed);
}

#[test]
fn complete_of_one_of_two_forwarded_leads_leaves_the_forwarded_row_open() {
    let history = with(
        h_directed(),
        vec![forwarded_event(
            "truong.kt",
            4,
            None,
            vec![
                assignment(to_user("cv.kt"), Role::Lead, Some(due_date())),
                assignment(to_user("cv2.kt"), Role::Lead, Some(due_date())),
            ],
        )],
    );
    let then = given(history)
        .when(command(spec_kt(), T_DONE, complete(7)))
        .then(vec![completed_event("cv.kt", 7)]);
    let doc = then.state();
    assert_eq!(row(&doc, 4).status, RowStatus::Forwarded);
    assert_eq!(doc.status, Status::InProgress);

    let doc = given(then.history())
        .when(command(spec2_kt(), T_DONE, complete(8)))
        .then(vec![completed_event("cv2.kt", 8)])
        .state();
    assert_eq!(row(&doc, 4).status, RowStatus::Completed);
    assert_eq!(doc.status, Status::Completed);
}

#[test]
fn complete_by_a_coordinating_recipient_does_not_propagate() {
    let doc = given(h_directed())
        .when(command(head_tc(), T_DONE, complete(5)))
        .then(vec![completed_event("truong.tc", 5)])
        .state();
    assert_eq!(row(&doc, 5).status, RowStatus::Completed);
    assert_eq!(row(&doc, 3).status, RowStatus::Forwarded);
    assert_eq!(row(&doc, 4).status, RowStatus::Pending);
    assert_eq!(doc.status, Status::InProgress);
}

// ===========================================================================
// Return

#[test]
fn return_of_the_only_lead_reopens_the_direction() {
    let then = given(h_directed())
        .when(command(
            head_kt(),
            T_ACCEPT,
            give_back(4, "Không thuộc chức năng của phòng"),
        ))
        .then(vec![returned_event(
            "truong.kt",
            T_ACCEPT,
            4,
            "Không thuộc chức năng của phòng",
        )]);
    let doc = then.state();
    assert_eq!(row(&doc, 4).status, RowStatus::Returned);
    let direct_row = row(&doc, 3);
    assert_eq!(direct_row.status, RowStatus::Pending);
    assert_eq!(direct_row.completed_at, None);
    assert_eq!(doc.status, Status::AwaitingDirection);

    // The leader directs again, to another unit.
    let doc = given(then.history())
        .when(command(
            leader(),
            T_DIRECT,
            direct(vec![spec(to_unit("PTC"), Role::Lead, None)]),
        ))
        .then(vec![directed_event(vec![assignment(
            to_unit("PTC"),
            Role::Lead,
            Some(due_date()),
        )])])
        .state();
    assert_eq!(doc.status, Status::InProgress);
    let r = row(&doc, 7);
    assert_eq!((r.parent, r.holder), (Some(RowId(3)), to_unit("PTC")));
}

#[test]
fn return_of_a_forwarded_row_reopens_the_forwarders_row() {
    let doc = given(h_forwarded())
        .when(command(
            spec_kt(),
            T_ACCEPT,
            give_back(7, "Đề nghị giao đồng chí khác"),
        ))
        .then(vec![returned_event(
            "cv.kt",
            T_ACCEPT,
            7,
            "Đề nghị giao đồng chí khác",
        )])
        .state();
    assert_eq!(row(&doc, 7).status, RowStatus::Returned);
    assert_eq!(row(&doc, 4).status, RowStatus::Pending);
    assert_eq!(row(&doc, 3).status, RowStatus::Forwarded);
    assert_eq!(doc.status, Status::InProgress);
}

#[test]
fn return_by_the_leader_reopens_the_clerks_submit_row() {
    let then = given(h_submitted())
        .when(command(
            leader(),
            T_DIRECT,
            give_back(3, "Trình Phó Giám đốc phụ trách"),
        ))
        .then(vec![returned_event(
            "giam.doc",
            T_DIRECT,
            3,
            "Trình Phó Giám đốc phụ trách",
        )]);
    let doc = then.state();
    assert_eq!(row(&doc, 3).status, RowStatus::Returned);
    assert_eq!(row(&doc, 2).status, RowStatus::Pending);
    assert_eq!(doc.status, Status::Registered);

    // The clerk submits again, to the deputy.
    let doc = given(then.history())
        .when(command(
            clerk(),
            T_FORWARD,
            Action::SubmitToLeader {
                leader: user("pho.giam.doc"),
            },
        ))
        .then(vec![DocumentEvent::SubmittedToLeader {
            at: ts(T_FORWARD),
            by: user("van.thu"),
            row: RowId(2),
            leader: user("pho.giam.doc"),
        }])
        .state();
    assert_eq!(row(&doc, 4).holder, to_user("pho.giam.doc"));
    assert_eq!(doc.status, Status::AwaitingDirection);
}

#[test]
fn return_by_the_clerk_sends_the_document_back_to_its_sender() {
    let then = given(h_received())
        .when(command(
            clerk(),
            T_REGISTER,
            give_back(1, "Gửi nhầm địa chỉ"),
        ))
        .then(vec![returned_event(
            "van.thu",
            T_REGISTER,
            1,
            "Gửi nhầm địa chỉ",
        )]);
    let doc = then.state();
    assert_eq!(doc.status, Status::ReturnedToSender);
    assert_eq!(row(&doc, 1).status, RowStatus::Returned);

    given(then.history())
        .when(command(
            clerk(),
            T_SUBMIT,
            Action::Register(registration(vec![])),
        ))
        .then_refused(state_err, "the document was returned to its sender");
}

#[test]
fn return_is_refused_without_holding_the_row() {
    given(h_directed())
        .when(command(
            head_tc(),
            T_ACCEPT,
            give_back(4, "Không phải việc của tôi"),
        ))
        .then_refused(forbidden, "only its holder can act on it");
}

#[test]
fn return_of_a_submit_task_is_refused() {
    given(h_registered())
        .when(command(clerk(), T_SUBMIT, give_back(2, "Không trình")))
        .then_refused(state_err, "this task cannot be returned");
}

#[test]
fn a_coordinating_units_return_does_not_stop_the_lead_from_completing_the_document() {
    // Only a lead's completion propagates, when all lead siblings are done: a
    // coordinating unit giving its part back must not hold the document open.
    let history = with(
        h_directed(),
        vec![returned_event(
            "truong.tc",
            T_ACCEPT,
            5,
            "Không thuộc chức năng",
        )],
    );
    assert_eq!(state_of(&history).status, Status::InProgress);
    let doc = given(history)
        .when(command(head_kt(), T_DONE, complete(4)))
        .then(vec![completed_event("truong.kt", 4)])
        .state();
    assert_eq!(row(&doc, 4).status, RowStatus::Completed);
    assert_eq!(
        doc.status,
        Status::Completed,
        "rows: {:?}",
        row_statuses(&doc)
    );
}

// ===========================================================================
// File

#[test]
fn file_is_refused_while_the_document_is_in_progress() {
    given(h_directed())
        .when(command(
            clerk(),
            T_LATER,
            Action::File {
                case_file: case_file(),
            },
        ))
        .then_refused(state_err, "the document is still being handled");
}

#[test]
fn file_after_completion() {
    let doc = given(h_completed())
        .when(command(
            clerk(),
            T_LATER,
            Action::File {
                case_file: case_file(),
            },
        ))
        .then(vec![DocumentEvent::Filed {
            at: ts(T_LATER),
            by: user("van.thu"),
            case_file: case_file(),
        }])
        .state();
    assert_eq!(doc.case_file, Some(case_file()));
    assert_eq!(doc.status, Status::Completed);
}

#[test]
fn file_by_an_official_who_handled_the_document() {
    given(h_completed())
        .when(command(
            head_kt(),
            T_LATER,
            Action::File {
                case_file: case_file(),
            },
        ))
        .then(vec![DocumentEvent::Filed {
            at: ts(T_LATER),
            by: user("truong.kt"),
            case_file: case_file(),
        }]);
}

#[test]
fn file_is_refused_when_filed_already() {
    let history = with(
        h_completed(),
        vec![DocumentEvent::Filed {
            at: ts(T_LATER),
            by: user("van.thu"),
            case_file: case_file(),
        }],
    );
    given(history)
        .when(command(
            clerk(),
            T_LATER,
            Action::File {
                case_file: case_file(),
            },
        ))
        .then_refused(state_err, "filed already in case file HS-2026-01");
}

#[test]
fn file_is_refused_for_an_official_not_involved() {
    given(h_completed())
        .when(command(
            spec_tc(),
            T_LATER,
            Action::File {
                case_file: case_file(),
            },
        ))
        .then_refused(
            forbidden,
            "only an official who handled the document, or a clerk",
        );
}

#[test]
fn file_of_a_recalled_document_is_allowed() {
    given(with(h_directed(), vec![recalled_event("van.thu")]))
        .when(command(
            clerk(),
            T_LATER,
            Action::File {
                case_file: case_file(),
            },
        ))
        .then(vec![DocumentEvent::Filed {
            at: ts(T_LATER),
            by: user("van.thu"),
            case_file: case_file(),
        }]);
}

// ===========================================================================
// Recall

#[test]
fn recall_of_an_incoming_document_cancels_its_open_rows() {
    let doc = given(h_directed())
        .when(command(clerk(), T_LATER, recall()))
        .then(vec![recalled_event("van.thu")])
        .state();
    assert_eq!(doc.status, Status::Recalled);
    assert_eq!(
        doc.recall_reason,
        Some(text("Cơ quan ban hành thu hồi văn bản"))
    );
    assert_eq!(
        row_statuses(&doc),
        vec![
            RowStatus::Completed,
            RowStatus::Forwarded,
            RowStatus::Forwarded,
            RowStatus::Recalled,
            RowStatus::Recalled,
            RowStatus::Recalled,
        ]
    );
}

#[test]
fn recall_by_the_leader() {
    given(h_registered())
        .when(command(leader(), T_LATER, recall()))
        .then(vec![recalled_event("giam.doc")]);
}

#[test]
fn commands_after_a_recall_are_refused() {
    let history = with(h_directed(), vec![recalled_event("van.thu")]);
    for (who, action) in [
        (head_kt(), Action::Accept { row: RowId(4) }),
        (head_kt(), complete(4)),
        (
            head_tc(),
            forward(5, vec![spec(to_user("cv.tc"), Role::Coordinate, None)]),
        ),
        (clerk(), recall()),
    ] {
        given(history.clone())
            .when(command(who, T_LATER, action))
            .then_refused(state_err, "the document has been recalled");
    }
    given(vec![received(), recalled_event("van.thu")])
        .when(command(
            clerk(),
            T_LATER,
            Action::Register(registration(vec![])),
        ))
        .then_refused(state_err, "the document has been recalled");
}

#[test]
fn recall_of_an_outgoing_draft_is_refused() {
    given(h_drafted())
        .when(command(clerk(), T_LATER, recall()))
        .then_refused(
            state_err,
            "the document has not been issued; there is nothing to recall",
        );
}

#[test]
fn recall_is_refused_for_a_specialist() {
    given(h_directed())
        .when(command(spec_kt(), T_LATER, recall()))
        .then_refused(forbidden, "only a clerk or the leader records a recall");
}

#[test]
fn recall_of_a_completed_incoming_document_is_refused() {
    given(h_completed())
        .when(command(clerk(), T_LATER, recall()))
        .then_refused(state_err, "handled to completion already");
}

#[test]
fn recall_of_an_issued_outgoing_document_freezes_it() {
    let doc = given(h_issued())
        .when(command(clerk(), T_LATER, recall()))
        .then(vec![recalled_event("van.thu")])
        .state();
    assert_eq!(doc.status, Status::Recalled);
    assert_eq!(row(&doc, 5).status, RowStatus::Recalled);
    assert_eq!(row(&doc, 6).status, RowStatus::Recalled);
    assert!(doc.issued.is_some(), "the number stays on record");
}

// ===========================================================================
// Outgoing: draft

#[test]
fn draft_an_outgoing_document() {
    let doc = given(nothing())
        .when(command(
            spec_kt(),
            T_RECEIVE,
            Action::Draft {
                document_id: doc_id(),
                metadata: outgoing_metadata(),
                pdf: Some(pdf(b"draft v1")),
                clerk_unit: unit("VP"),
            },
        ))
        .then(h_drafted())
        .state();
    assert_eq!(doc.direction, Direction::Outgoing);
    assert_eq!(doc.status, Status::Draft);
    assert_eq!(doc.drafting_unit, Some(unit("PKT")));
    assert_eq!(doc.clerk_unit, unit("VP"));
    let r = row(&doc, 1);
    assert_eq!(
        (r.task, r.status, r.holder),
        (Task::Draft, RowStatus::InProgress, to_user("cv.kt"))
    );
}

#[test]
fn draft_is_refused_with_a_number_given() {
    let metadata = Metadata {
        number_notation: Some(NumberNotation::parse("05/QĐ-UBND").expect("a number")),
        ..outgoing_metadata()
    };
    given(nothing())
        .when(command(
            spec_kt(),
            T_RECEIVE,
            Action::Draft {
                document_id: doc_id(),
                metadata,
                pdf: Some(pdf(b"draft v1")),
                clerk_unit: unit("VP"),
            },
        ))
        .then_refused(
            invalid("number_notation"),
            "gets its number from the register when it is issued",
        );
}

#[test]
fn draft_of_a_secret_document_with_its_pdf_is_refused() {
    let metadata = Metadata {
        secrecy: Secrecy::TopSecret,
        ..outgoing_metadata()
    };
    let e = given(nothing())
        .when(command(
            spec_kt(),
            T_RECEIVE,
            Action::Draft {
                document_id: doc_id(),
                metadata,
                pdf: Some(pdf(b"draft v1")),
                clerk_unit: unit("VP"),
            },
        ))
        .then_refused(secret_content, "marked Tuyệt mật");
    assert_eq!(
        e,
        DomainError::SecretContent {
            secrecy: "Tuyệt mật"
        }
    );
}

#[test]
fn draft_is_refused_when_the_document_exists() {
    given(h_drafted())
        .when(command(
            spec_kt(),
            T_SUBMIT,
            Action::Draft {
                document_id: doc_id(),
                metadata: outgoing_metadata(),
                pdf: Some(pdf(b"draft v1")),
                clerk_unit: unit("VP"),
            },
        ))
        .then_refused(state_err, "exists already");
}

// ===========================================================================
// Outgoing: add a revision

fn revision(content: &[u8]) -> Action {
    Action::AddRevision {
        pdf: pdf(content),
        note: Some(text("Sửa theo góp ý")),
    }
}

#[test]
fn add_revision_to_a_draft() {
    let doc = given(h_drafted())
        .when(command(spec_kt(), T_REGISTER, revision(b"draft v2")))
        .then(vec![DocumentEvent::RevisionAdded {
            at: ts(T_REGISTER),
            by: user("cv.kt"),
            pdf: pdf(b"draft v2"),
            note: Some(text("Sửa theo góp ý")),
        }])
        .state();
    assert_eq!(doc.revisions.len(), 2);
    assert_eq!(doc.current_pdf(), Some(&pdf(b"draft v2")));
}

#[test]
fn add_revision_is_refused_while_in_review() {
    given(h_in_review())
        .when(command(spec_kt(), T_DIRECT, revision(b"draft v2")))
        .then_refused(state_err, "the draft is under review or approved");
}

#[test]
fn add_revision_is_refused_with_the_same_pdf() {
    given(h_drafted())
        .when(command(spec_kt(), T_REGISTER, revision(b"draft v1")))
        .then_refused(invalid("file"), "this PDF is the current revision already");
}

#[test]
fn add_revision_is_refused_for_someone_other_than_the_drafter() {
    given(h_drafted())
        .when(command(spec2_kt(), T_REGISTER, revision(b"draft v2")))
        .then_refused(forbidden, "only the drafter revises the draft");
}

#[test]
fn add_revision_is_refused_for_an_incoming_document() {
    given(h_received())
        .when(command(clerk(), T_REGISTER, revision(b"draft v2")))
        .then_refused(state_err, "this applies to outgoing documents only");
}

// ===========================================================================
// Outgoing: submit for review

#[test]
fn submit_for_review() {
    let doc = given(h_drafted())
        .when(command(
            spec_kt(),
            T_SUBMIT,
            Action::SubmitForReview {
                reviewer: user("truong.kt"),
            },
        ))
        .then(vec![submitted_for_review_event()])
        .state();
    assert_eq!(doc.status, Status::InReview);
    assert_eq!(row(&doc, 1).status, RowStatus::Forwarded);
    let r = row(&doc, 2);
    assert_eq!(
        (r.task, r.status, r.holder),
        (Task::Review, RowStatus::Pending, to_user("truong.kt"))
    );
    assert_eq!(r.parent, Some(RowId(1)));
}

#[test]
fn submit_for_review_to_oneself_is_refused() {
    given(h_drafted())
        .when(command(
            spec_kt(),
            T_SUBMIT,
            Action::SubmitForReview {
                reviewer: user("cv.kt"),
            },
        ))
        .then_refused(
            invalid("reviewer"),
            "reviewed by someone other than its drafter",
        );
}

#[test]
fn submit_for_review_is_refused_twice() {
    given(h_in_review())
        .when(command(
            spec_kt(),
            T_DIRECT,
            Action::SubmitForReview {
                reviewer: user("giam.doc"),
            },
        ))
        .then_refused(state_err, "submitted for review already");
}

// ===========================================================================
// Outgoing: review

fn approve(next_reviewer: Option<&str>) -> Action {
    Action::Review(ReviewDecision::Approve {
        comment: Some(text("Đồng ý")),
        next_reviewer: next_reviewer.map(user),
    })
}

#[test]
fn review_approved_with_a_next_reviewer_opens_another_review() {
    let doc = given(h_in_review())
        .when(command(head_kt(), T_DIRECT, approve(Some("giam.doc"))))
        .then(vec![approved_event(Some("giam.doc"))])
        .state();
    assert_eq!(doc.status, Status::InReview);
    assert_eq!(row(&doc, 2).status, RowStatus::Completed);
    let r = row(&doc, 3);
    assert_eq!(
        (r.task, r.status, r.holder),
        (Task::Review, RowStatus::Pending, to_user("giam.doc"))
    );
    assert_eq!(r.parent, Some(RowId(2)));

    // The director approves in turn: the clerical office numbers it.
    let doc = given(with(h_in_review(), vec![approved_event(Some("giam.doc"))]))
        .when(command(leader(), T_FORWARD, approve(None)))
        .then(vec![DocumentEvent::ReviewApproved {
            at: ts(T_FORWARD),
            by: user("giam.doc"),
            row: RowId(3),
            comment: Some(text("Đồng ý")),
            next_reviewer: None,
        }])
        .state();
    assert_eq!(doc.status, Status::Approved);
    assert_eq!(row(&doc, 4).task, Task::Number);
}

#[test]
fn review_approved_opens_a_number_row_for_the_clerical_office() {
    let doc = given(h_in_review())
        .when(command(head_kt(), T_DIRECT, approve(None)))
        .then(vec![approved_event(None)])
        .state();
    assert_eq!(doc.status, Status::Approved);
    let r = row(&doc, 3);
    assert_eq!(
        (r.task, r.status, r.holder),
        (Task::Number, RowStatus::Pending, to_unit("VP"))
    );
}

#[test]
fn review_returned_reopens_the_draft() {
    let then = given(h_in_review())
        .when(command(
            head_kt(),
            T_DIRECT,
            Action::Review(ReviewDecision::Return {
                comment: text("Bổ sung căn cứ pháp lý"),
            }),
        ))
        .then(vec![DocumentEvent::ReturnedForChanges {
            at: ts(T_DIRECT),
            by: user("truong.kt"),
            row: RowId(2),
            comment: text("Bổ sung căn cứ pháp lý"),
        }]);
    let doc = then.state();
    assert_eq!(doc.status, Status::Draft);
    assert_eq!(row(&doc, 1).status, RowStatus::InProgress);
    assert_eq!(row(&doc, 2).status, RowStatus::Returned);

    // The drafter can revise it again.
    given(then.history())
        .when(command(spec_kt(), T_FORWARD, revision(b"draft v2")))
        .then(vec![DocumentEvent::RevisionAdded {
            at: ts(T_FORWARD),
            by: user("cv.kt"),
            pdf: pdf(b"draft v2"),
            note: Some(text("Sửa theo góp ý")),
        }]);
}

#[test]
fn review_is_refused_for_someone_other_than_the_reviewer() {
    given(h_in_review())
        .when(command(leader(), T_DIRECT, approve(None)))
        .then_refused(
            forbidden,
            "the draft awaits review by user:truong.kt; only they can review it",
        );
}

#[test]
fn review_is_refused_before_submission() {
    given(h_drafted())
        .when(command(head_kt(), T_DIRECT, approve(None)))
        .then_refused(state_err, "the draft has not been submitted for review");
}

#[test]
fn review_passing_the_draft_to_oneself_is_refused() {
    given(h_in_review())
        .when(command(head_kt(), T_DIRECT, approve(Some("truong.kt"))))
        .then_refused(invalid("next_reviewer"), "not to yourself");
}

// ===========================================================================
// Outgoing: number

#[test]
fn number_an_approved_document() {
    let doc = given(h_signed())
        .when(command(
            clerk(),
            T_FORWARD,
            number(Series::Regular, date(2026, 11, 20)),
        ))
        .then(vec![numbered_event(Series::Regular)])
        .state();
    assert_eq!(doc.status, Status::Numbered);
    assert_eq!(
        doc.number_notation().map(|n| n.to_string()),
        Some("05/QĐ-UBND".to_string())
    );
    let issued = doc.issued.as_ref().expect("issued");
    assert_eq!((issued.year, issued.series), (2026, Series::Regular));
    assert_eq!(doc.metadata.issue_date, Some(date(2026, 11, 20)));
    assert_eq!(row(&doc, 3).status, RowStatus::Completed);
    let r = row(&doc, 4);
    assert_eq!(
        (r.task, r.status, r.holder),
        (Task::Dispatch, RowStatus::Pending, to_unit("VP"))
    );
}

#[test]
fn number_a_secret_document_in_the_secret_series() {
    given(h_secret_approved())
        .when(command(
            clerk(),
            T_FORWARD,
            number(Series::Secret, date(2026, 11, 20)),
        ))
        .then(vec![numbered_event(Series::Secret)]);
}

#[test]
fn number_of_a_secret_document_in_the_regular_series_is_refused() {
    given(h_secret_approved())
        .when(command(
            clerk(),
            T_FORWARD,
            number(Series::Regular, date(2026, 11, 20)),
        ))
        .then_refused(
            invalid("series"),
            "secret documents are numbered in their own series",
        );
}

#[test]
fn number_is_refused_for_a_non_clerk() {
    given(h_signed())
        .when(command(
            head_vp(),
            T_FORWARD,
            number(Series::Regular, date(2026, 11, 20)),
        ))
        .then_refused(
            forbidden,
            "only a clerk of the clerical office numbers documents",
        );
}

#[test]
fn number_is_refused_before_approval() {
    given(h_in_review())
        .when(command(
            clerk(),
            T_FORWARD,
            number(Series::Regular, date(2026, 11, 20)),
        ))
        .then_refused(state_err, "the draft is not approved yet");
}

#[test]
fn number_is_refused_with_an_issue_date_before_today() {
    given(h_signed())
        .when(command(
            clerk(),
            T_FORWARD,
            number(Series::Regular, date(2026, 11, 19)),
        ))
        .then_refused(
            invalid("issue_date"),
            "the issue date cannot be before today",
        );
}

#[test]
fn number_is_refused_from_another_years_register() {
    given(h_signed())
        .when(command(
            clerk(),
            T_FORWARD,
            Action::Number {
                number: 5,
                year: 2025,
                series: Series::Regular,
                notation: notation(),
                issue_date: date(2026, 11, 20),
            },
        ))
        .then_refused(invalid("year"), "the register of the issue year");
}

// ===========================================================================
// Outgoing: signatures

fn sign(kind: SignatureKind, indication: &str) -> Action {
    Action::Sign {
        kind,
        facts: Box::new(signature_facts(indication)),
        attachments: Vec::new(),
    }
}

#[test]
fn the_leader_signs_the_approved_draft() {
    let doc = given(h_approved())
        .when(command(
            leader(),
            T_FORWARD,
            sign(SignatureKind::Personal, "TOTAL-PASSED"),
        ))
        .then(vec![signed_event(SignatureKind::Personal, "giam.doc")])
        .state();
    assert_eq!(doc.status, Status::Approved);
    assert_eq!(doc.signatures.len(), 1);
    assert_eq!(doc.current_pdf(), Some(&pdf(b"signed")));
    assert!(doc.signature(SignatureKind::Personal).is_some());
}

#[test]
fn a_signature_that_does_not_verify_is_not_recorded() {
    given(h_approved())
        .when(command(
            leader(),
            T_FORWARD,
            sign(SignatureKind::Personal, "INDETERMINATE"),
        ))
        .then_refused(state_err, "the signed file does not verify (INDETERMINATE)");
}

#[test]
fn only_a_leader_signs_as_the_competent_person() {
    given(h_approved())
        .when(command(
            clerk(),
            T_FORWARD,
            sign(SignatureKind::Personal, "TOTAL-PASSED"),
        ))
        .then_refused(forbidden, "only a leader of the agency");
}

#[test]
fn the_draft_is_signed_once_and_only_once_approved() {
    given(h_in_review())
        .when(command(
            leader(),
            T_FORWARD,
            sign(SignatureKind::Personal, "TOTAL-PASSED"),
        ))
        .then_refused(state_err, "the draft is not approved yet");
    given(h_signed())
        .when(command(
            leader(),
            T_FORWARD,
            sign(SignatureKind::Personal, "TOTAL-PASSED"),
        ))
        .then_refused(state_err, "has signed this document already");
}

#[test]
fn numbering_waits_for_the_personal_signature() {
    given(h_approved())
        .when(command(
            clerk(),
            T_FORWARD,
            number(Series::Regular, date(2026, 11, 20)),
        ))
        .then_refused(
            state_err,
            "the competent person has not signed the document yet",
        );
}

#[test]
fn the_clerk_seals_the_numbered_document() {
    given(h_signed())
        .when(command(
            clerk(),
            T_FORWARD,
            sign(SignatureKind::AgencySeal, "TOTAL-PASSED"),
        ))
        .then_refused(state_err, "the document is not numbered yet");
    given(h_numbered())
        .when(command(
            leader(),
            T_FORWARD,
            sign(SignatureKind::AgencySeal, "TOTAL-PASSED"),
        ))
        .then_refused(
            forbidden,
            "only a clerk of the clerical office applies the agency's seal",
        );
    let doc = given(h_numbered())
        .when(command(
            clerk(),
            T_FORWARD,
            sign(SignatureKind::AgencySeal, "TOTAL-PASSED"),
        ))
        .then(vec![signed_event(SignatureKind::AgencySeal, "van.thu")])
        .state();
    assert!(doc.signature(SignatureKind::AgencySeal).is_some());
    assert_eq!(doc.status, Status::Numbered);
}

#[test]
fn the_drafter_adds_attachments_to_the_draft() {
    let add = |name: &str| Action::AddAttachment {
        name: text(name),
        pdf: pdf(name.as_bytes()),
    };
    let doc = given(h_drafted())
        .when(command(spec_kt(), T_SUBMIT, add("Phụ lục I")))
        .then(vec![DocumentEvent::AttachmentAdded {
            at: ts(T_SUBMIT),
            by: user("cv.kt"),
            name: text("Phụ lục I"),
            pdf: pdf("Phụ lục I".as_bytes()),
        }])
        .state();
    assert_eq!(doc.attachments.len(), 1);
    with_attachment(add("Phụ lục I"))
        .then_refused(invalid("name"), "an attachment of this name exists already");
    given(h_in_review())
        .when(command(spec_kt(), T_SUBMIT, add("Phụ lục II")))
        .then_refused(state_err, "attachments are added to the draft");
    given(h_drafted())
        .when(command(clerk(), T_SUBMIT, add("Phụ lục II")))
        .then_refused(forbidden, "only the drafter adds attachments");
}

fn attachment_sealed_event() -> DocumentEvent {
    DocumentEvent::AttachmentSealed {
        at: ts(T_FORWARD),
        by: user("van.thu"),
        attachment: 1,
        file: signature_facts("TOTAL-PASSED"),
    }
}

fn with_attachment(action: Action) -> When {
    given(with(
        h_drafted(),
        vec![DocumentEvent::AttachmentAdded {
            at: ts(T_SUBMIT),
            by: user("cv.kt"),
            name: text("Phụ lục I"),
            pdf: pdf("Phụ lục I".as_bytes()),
        }],
    ))
    .when(command(spec_kt(), T_SUBMIT, action))
}

#[test]
fn the_seal_signs_every_attachment() {
    let attached = |h: Vec<DocumentEvent>| {
        let mut h = h;
        h.insert(
            1,
            DocumentEvent::AttachmentAdded {
                at: ts(T_SUBMIT),
                by: user("cv.kt"),
                name: text("Phụ lục I"),
                pdf: pdf("Phụ lục I".as_bytes()),
            },
        );
        h
    };
    given(attached(h_numbered()))
        .when(command(
            clerk(),
            T_FORWARD,
            sign(SignatureKind::AgencySeal, "TOTAL-PASSED"),
        ))
        .then_refused(invalid("attachments"), "each of its 1 attachment(s)");
    let doc = given(attached(h_numbered()))
        .when(command(
            clerk(),
            T_FORWARD,
            Action::Sign {
                kind: SignatureKind::AgencySeal,
                facts: Box::new(signature_facts("TOTAL-PASSED")),
                attachments: vec![signature_facts("TOTAL-PASSED")],
            },
        ))
        .then(vec![
            signed_event(SignatureKind::AgencySeal, "van.thu"),
            attachment_sealed_event(),
        ])
        .state();
    let sealed = doc.attachments[0].seal.as_ref().expect("sealed");
    assert_eq!(sealed.kind, SignatureKind::AgencySeal);
    assert_eq!(doc.attachments[0].pdf, pdf(b"signed"));
    given(attached(h_numbered()))
        .when(command(
            clerk(),
            T_FORWARD,
            Action::Sign {
                kind: SignatureKind::AgencySeal,
                facts: Box::new(signature_facts("TOTAL-PASSED")),
                attachments: vec![signature_facts("TOTAL-FAILED")],
            },
        ))
        .then_refused(state_err, "attachment 1 does not verify (TOTAL-FAILED)");
}

#[test]
fn dispatch_waits_for_the_seal() {
    given(h_numbered())
        .when(command(
            clerk(),
            T_ACCEPT,
            Action::Dispatch {
                assignments: vec![spec(to_unit("PTC"), Role::Lead, None)],
            },
        ))
        .then_refused(state_err, "does not carry the agency's seal signature yet");
}

#[test]
fn incoming_documents_are_not_signed_here() {
    given(h_registered())
        .when(command(
            leader(),
            T_FORWARD,
            sign(SignatureKind::Personal, "TOTAL-PASSED"),
        ))
        .then_refused(state_err, "only outgoing documents are signed here");
}

// ===========================================================================
// Outgoing: dispatch

#[test]
fn dispatch_to_units() {
    let doc = given(h_sealed())
        .when(command(
            clerk(),
            T_ACCEPT,
            Action::Dispatch {
                assignments: vec![
                    spec(to_unit("PTC"), Role::Lead, None),
                    spec(to_unit("PKT"), Role::ForInformation, None),
                ],
            },
        ))
        .then(vec![dispatched_event()])
        .state();
    assert_eq!(doc.status, Status::Issued);
    assert_eq!(row(&doc, 4).status, RowStatus::Completed);
    for (id, holder, role) in [
        (5, to_unit("PTC"), Role::Lead),
        (6, to_unit("PKT"), Role::ForInformation),
    ] {
        let r = row(&doc, id);
        assert_eq!(
            (r.task, r.status),
            (Task::Handle, RowStatus::Pending),
            "row {id}"
        );
        assert_eq!(
            (r.holder, r.role, r.parent),
            (holder, Some(role), Some(RowId(4))),
            "row {id}"
        );
    }
}

#[test]
fn dispatch_to_a_person_is_refused() {
    given(h_sealed())
        .when(command(
            clerk(),
            T_ACCEPT,
            Action::Dispatch {
                assignments: vec![spec(to_user("truong.tc"), Role::Lead, None)],
            },
        ))
        .then_refused(invalid("assignments"), "a document is dispatched to units");
}

#[test]
fn dispatch_is_refused_before_numbering() {
    given(h_approved())
        .when(command(
            clerk(),
            T_ACCEPT,
            Action::Dispatch {
                assignments: vec![spec(to_unit("PTC"), Role::Lead, None)],
            },
        ))
        .then_refused(state_err, "the document is not numbered yet");
}

#[test]
fn dispatch_is_refused_twice() {
    given(h_issued())
        .when(command(
            clerk(),
            T_LATER,
            Action::Dispatch {
                assignments: vec![spec(to_unit("PTC"), Role::Lead, None)],
            },
        ))
        .then_refused(state_err, "dispatched already");
}

// ===========================================================================
// A document that does not exist

#[test]
fn any_command_on_a_document_that_does_not_exist_is_not_found() {
    let actions = [
        Action::Register(registration(vec![])),
        Action::SubmitToLeader {
            leader: user("giam.doc"),
        },
        direct(vec![spec(to_unit("PKT"), Role::Lead, None)]),
        forward(4, vec![spec(to_user("cv.kt"), Role::Lead, None)]),
        Action::Accept { row: RowId(1) },
        Action::ReportProgress {
            row: RowId(1),
            percent: 10,
            note: text("x"),
        },
        complete(1),
        give_back(1, "x"),
        Action::File {
            case_file: case_file(),
        },
        recall(),
        revision(b"v2"),
        Action::SubmitForReview {
            reviewer: user("truong.kt"),
        },
        approve(None),
        number(Series::Regular, date(2026, 11, 20)),
        Action::Dispatch {
            assignments: vec![spec(to_unit("PTC"), Role::Lead, None)],
        },
    ];
    for action in actions {
        given(nothing())
            .when(command(clerk(), T_LATER, action))
            .then_refused(not_found, "the document does not exist");
    }
}

// ===========================================================================
// Stored form: upcasting and round trips

#[test]
fn a_version_1_received_payload_is_upcast_to_a_scan_with_its_clerk_unit() {
    let v1 = r#"{
        "document_id": "01960000-0000-7000-8000-000000000001",
        "at": "2026-11-20T02:00:00Z",
        "by": "van.thu",
        "metadata": {
            "document_type": "cong_van",
            "number_notation": "1234/UBND-KT",
            "issuer": {"code": "000.00.00.H49", "name": "Ủy ban nhân dân tỉnh Quảng Ninh"},
            "issue_date": "2026-11-18",
            "subject": "Về việc triển khai Nghị định 30/2020/NĐ-CP"
        },
        "pdf": null,
        "registry_unit": "VP"
    }"#;
    let event = DocumentEvent::decode("received", 1, v1).expect("version 1 decodes");
    let expected_metadata = Metadata {
        pages: None,
        due_date: None,
        ..incoming_metadata()
    };
    assert_eq!(
        event,
        DocumentEvent::Received {
            document_id: doc_id(),
            at: ts(T_RECEIVE),
            by: user("van.thu"),
            source: Source::Scan,
            metadata: expected_metadata,
            pdf: None,
            clerk_unit: unit("VP"),
        }
    );
    // The current version requires the fields version 1 lacked.
    assert!(matches!(
        DocumentEvent::decode("received", 2, v1),
        Err(DecodeError::Payload(_))
    ));
}

#[test]
fn an_unknown_schema_version_is_an_error() {
    let payload = received().to_payload();
    let e = DocumentEvent::decode("received", 3, &payload).expect_err("version 3 is unknown");
    assert!(
        matches!(&e, DecodeError::UnknownVersion { event_type, version: 3 } if event_type == "received"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "event type received at schema version 3 is unknown"
    );
    let registered = registered_event(T_REGISTER, true, vec![]).to_payload();
    assert!(matches!(
        DocumentEvent::decode("registered", 2, &registered),
        Err(DecodeError::UnknownVersion { version: 2, .. })
    ));
    assert!(matches!(
        DocumentEvent::decode("registered", 0, &registered),
        Err(DecodeError::UnknownVersion { version: 0, .. })
    ));
}

/// One event of every kind, with the optional parts both present and absent.
fn every_kind_of_event() -> Vec<DocumentEvent> {
    vec![
        received(),
        received_event(
            Source::Delivered {
                from: AgencyCode::parse("000.00.00.G22").expect("an agency code"),
            },
            secret_metadata(),
            None,
        ),
        registered_event(T_REGISTER, false, vec![other_doc(1), other_doc(2)]),
        submitted_event("giam.doc"),
        directed_event(vec![
            assignment(to_unit("PKT"), Role::Lead, Some(due_date())),
            assignment(to_user("pho.giam.doc"), Role::ForInformation, None),
        ]),
        forwarded_event(
            "truong.kt",
            4,
            None,
            vec![assignment(to_user("cv.kt"), Role::Coordinate, None)],
        ),
        accepted_event("truong.kt", 4),
        DocumentEvent::ProgressReported {
            at: ts(T_DONE),
            by: user("truong.kt"),
            row: RowId(4),
            percent: 100,
            note: text("Xong"),
        },
        completed_event("truong.kt", 4),
        DocumentEvent::Completed {
            at: ts(T_DONE),
            by: user("truong.kt"),
            row: RowId(4),
            result: None,
            reply_document: Some(other_doc(3)),
        },
        returned_event("truong.kt", T_ACCEPT, 4, "Không thuộc chức năng"),
        DocumentEvent::Filed {
            at: ts(T_LATER),
            by: user("van.thu"),
            case_file: CaseFile {
                code: text("HS-01"),
                title: None,
            },
        },
        recalled_event("van.thu"),
        drafted_event(outgoing_metadata(), Some(pdf(b"draft v1"))),
        DocumentEvent::RevisionAdded {
            at: ts(T_REGISTER),
            by: user("cv.kt"),
            pdf: pdf(b"draft v2"),
            note: None,
        },
        submitted_for_review_event(),
        approved_event(Some("giam.doc")),
        approved_event(None),
        DocumentEvent::ReturnedForChanges {
            at: ts(T_DIRECT),
            by: user("truong.kt"),
            row: RowId(2),
            comment: text("Bổ sung"),
        },
        numbered_event(Series::Secret),
        dispatched_event(),
    ]
}

#[test]
fn every_event_kind_round_trips_through_its_stored_form() {
    let events = every_kind_of_event();
    let kinds: std::collections::BTreeSet<&str> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(kinds.len(), 18, "every kind is covered: {kinds:?}");
    for e in &events {
        let payload = e.to_payload();
        let object: serde_json::Value = serde_json::from_str(&payload).expect("JSON");
        assert!(
            object.get("type").is_none(),
            "the type is stored apart: {payload}"
        );
        let back = DocumentEvent::decode(e.event_type(), e.schema_version(), &payload)
            .unwrap_or_else(|err| panic!("{} does not decode: {err}\n{payload}", e.event_type()));
        assert_eq!(&back, e, "{}", e.event_type());
    }
}

#[test]
fn the_events_of_a_whole_life_decided_here_round_trip() {
    // Drive a document through decide, not through the fixtures, and check
    // that what decide produces is what is stored.
    let policy = policy();
    let steps: Vec<(Actor, &str, Action)> = vec![
        (
            clerk(),
            T_RECEIVE,
            receive(
                incoming_metadata(),
                Some(pdf(b"scan")),
                Some(registration(vec![])),
            ),
        ),
        (
            clerk(),
            T_SUBMIT,
            Action::SubmitToLeader {
                leader: user("giam.doc"),
            },
        ),
        (
            leader(),
            T_DIRECT,
            direct(vec![
                spec(
                    to_unit("PKT"),
                    Role::Lead,
                    Some(DeadlineSpec::WorkingDays { working_days: 5 }),
                ),
                spec(to_unit("PTC"), Role::Coordinate, None),
            ]),
        ),
        (
            head_kt(),
            T_FORWARD,
            forward(4, vec![spec(to_user("cv.kt"), Role::Lead, None)]),
        ),
        (spec_kt(), T_ACCEPT, Action::Accept { row: RowId(6) }),
        (
            spec_kt(),
            T_ACCEPT,
            Action::ReportProgress {
                row: RowId(6),
                percent: 50,
                note: text("Một nửa"),
            },
        ),
        (spec_kt(), T_DONE, complete(6)),
        (
            clerk(),
            T_LATER,
            Action::File {
                case_file: case_file(),
            },
        ),
    ];
    let mut history = Vec::new();
    for (who, at, action) in steps {
        let state = fold(history.iter());
        let events = decide(&policy, &command(who, at, action.clone()), state.as_ref())
            .unwrap_or_else(|e| panic!("{action:?} refused: {e}"));
        history.extend(events);
    }
    assert_eq!(state_of(&history).status, Status::Completed);
    assert_eq!(history.len(), 9);
    for e in &history {
        let back = DocumentEvent::decode(e.event_type(), e.schema_version(), &e.to_payload())
            .expect("decodes");
        assert_eq!(&back, e);
    }
}
