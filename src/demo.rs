//! `congvan demo`: the demo organisation (a provincial People's Committee) and
//! one incoming and one outgoing document walked through their whole journey,
//! printing after each step where the document sits.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::civil::Date;

use crate::app::{App, AppError, Outcome, RequestMeta};
use crate::domain::decide::{
    Action, AssignmentSpec, DeadlineSpec, RegistrationFacts, ReviewDecision, agency_date,
};
use crate::domain::directory::DirectoryEvent;
use crate::domain::events::default_notation;
use crate::domain::model::{
    CaseFile, DocumentId, Holder, Issuer, Metadata, OfficialRole, Role, RowId, Series,
    SignatureKind, Signer, Source, Task,
};
use crate::domain::values::{
    AgencyCode, DocumentType, NumberNotation, OrganName, PersonName, Secrecy, Subject, Text,
    UnitId, Urgency, UserId, ValueError,
};
use crate::pdf::sample::sample_pdf;
use crate::projections;

/// The demo agency.
pub const AGENCY_CODE: &str = "000.00.00.H49";
pub const AGENCY_NAME: &str = "Ủy ban nhân dân tỉnh Quảng Ninh";
pub const AGENCY_ABBREVIATION: &str = "UBND";
pub const CLERK_UNIT: &str = "VT";

/// (user, full name, position, unit, roles)
pub const OFFICIALS: &[(&str, &str, &str, &str, &[OfficialRole])] = &[
    (
        "vanthu",
        "Nguyễn Thị Lan",
        "Văn thư",
        "VT",
        &[OfficialRole::Clerk],
    ),
    (
        "lanhdao",
        "Trần Văn Minh",
        "Chủ tịch",
        "LD",
        &[OfficialRole::Leader],
    ),
    (
        "truongphong",
        "Lê Văn Hùng",
        "Trưởng phòng Tổng hợp",
        "TH",
        &[OfficialRole::UnitHead],
    ),
    (
        "chuyenvien",
        "Phạm Thị Hoa",
        "Chuyên viên",
        "TH",
        &[OfficialRole::Specialist],
    ),
    (
        "truongphongkt",
        "Đỗ Văn Nam",
        "Trưởng phòng Kinh tế",
        "KT",
        &[OfficialRole::UnitHead],
    ),
    (
        "thanhtra",
        "Vũ Thị Mai",
        "Thanh tra viên",
        "TTr",
        &[OfficialRole::Auditor],
    ),
    (
        "quantri",
        "Hoàng Văn Long",
        "Quản trị hệ thống",
        "VP",
        &[OfficialRole::Admin],
    ),
];

/// (unit id, name)
pub const UNITS: &[(&str, &str)] = &[
    ("VT", "Văn thư"),
    ("LD", "Lãnh đạo Ủy ban nhân dân tỉnh"),
    ("VP", "Văn phòng Ủy ban nhân dân tỉnh"),
    ("TH", "Phòng Tổng hợp"),
    ("KT", "Phòng Kinh tế"),
    ("TTr", "Thanh tra"),
];

fn v<T>(r: Result<T, ValueError>) -> Result<T, AppError> {
    r.map_err(|e| {
        AppError::Domain(crate::domain::DomainError::Invalid {
            field: e.field,
            rule: e.rule,
        })
    })
}

/// The directory events of the demo organisation.
pub fn organisation(at: Timestamp) -> Result<Vec<DirectoryEvent>, AppError> {
    let mut events = vec![DirectoryEvent::AgencyDefined {
        at,
        code: v(AgencyCode::parse(AGENCY_CODE))?,
        name: v(OrganName::parse(AGENCY_NAME))?,
        abbreviation: AGENCY_ABBREVIATION.to_string(),
        clerk_unit: v(UnitId::parse(CLERK_UNIT))?,
    }];
    for (id, name) in UNITS {
        events.push(DirectoryEvent::UnitCreated {
            at,
            id: v(UnitId::parse(id))?,
            name: v(OrganName::parse(name))?,
        });
    }
    for (user, full_name, position, unit, roles) in OFFICIALS {
        events.push(DirectoryEvent::OfficialCreated {
            at,
            user: v(UserId::parse(user))?,
            full_name: v(PersonName::parse(full_name))?,
            position: v(PersonName::parse(position))?,
            unit: v(UnitId::parse(unit))?,
            roles: roles.to_vec(),
        });
    }
    Ok(events)
}

/// Seeds the demo organisation unless the directory has an agency already.
pub async fn seed_organisation(app: &App) -> Result<bool, AppError> {
    if projections::agency(app.projections.pool()).await?.is_some() {
        return Ok(false);
    }
    app.define_directory(organisation(Timestamp::now())?)
        .await?;
    Ok(true)
}

/// The password of every demo official (`serve --demo` only).
pub const DEMO_PASSWORD: &str = "demo";

/// `serve --demo`: into an empty data directory, the demo organisation and
/// a password (`demo`) for each of its officials. A data directory that
/// holds any event is left exactly as it is. Returns whether it seeded.
pub async fn seed_users(app: &App) -> Result<bool, AppError> {
    let head = *crate::store::EventStore::head(&app.store).borrow();
    if head > 0 {
        return Ok(false);
    }
    let at = Timestamp::now();
    let mut events = organisation(at)?;
    for (user, ..) in OFFICIALS {
        // The demo password is shorter than the rule for real passwords
        // (`check_new_password`): it is set here, never through the API.
        let password_hash = crate::auth::password::hash_password(DEMO_PASSWORD)
            .map_err(|e| AppError::Io(std::io::Error::other(e.to_string())))?;
        events.push(DirectoryEvent::PasswordSet {
            at,
            user: v(UserId::parse(user))?,
            password_hash,
        });
    }
    app.define_directory(events).await?;
    Ok(true)
}

struct Walk<'a> {
    app: &'a App,
    out: &'a mut String,
    step: u32,
}

fn user(s: &str) -> Result<UserId, AppError> {
    v(UserId::parse(s))
}

fn unit(s: &str) -> Result<Holder, AppError> {
    Ok(Holder::Unit(v(UnitId::parse(s))?))
}

fn text(field: &'static str, s: &str) -> Result<Text, AppError> {
    v(Text::parse(field, s, 2000))
}

impl Walk<'_> {
    /// Signs with the keystore's key and prints the verdict.
    async fn sign(
        &mut self,
        who: &str,
        id: DocumentId,
        kind: SignatureKind,
        what: &str,
    ) -> Result<Outcome, AppError> {
        self.step += 1;
        let outcome = self
            .app
            .sign(
                &user(who)?,
                id,
                kind,
                &crate::signing::SignRequest::default(),
                &RequestMeta::default(),
                None,
            )
            .await?;
        let verdict = outcome
            .document
            .signature(kind)
            .map(|s| s.file.verdict.indication.clone())
            .unwrap_or_default();
        let _ = writeln!(
            self.out,
            "{:>2}. {who}: {what}  [status: {}, signature {verdict}]",
            self.step,
            outcome.document.status.as_str()
        );
        Ok(outcome)
    }

    async fn step(
        &mut self,
        who: &str,
        id: DocumentId,
        what: &str,
        action: Action,
    ) -> Result<Outcome, AppError> {
        self.step += 1;
        let outcome = self
            .app
            .execute(&user(who)?, id, action, &RequestMeta::default())
            .await?;
        let today = agency_date(Timestamp::now());
        let rows = projections::location(
            self.app.projections.pool(),
            id,
            today,
            &self.app.config.policy.calendar,
        )
        .await?;
        let _ = writeln!(
            self.out,
            "{:>2}. {who}: {what}  [status: {}]",
            self.step,
            outcome.document.status.as_str()
        );
        if rows.is_empty() {
            let _ = writeln!(self.out, "      sits with: nobody (no open rows)");
        }
        for r in rows {
            let deadline = match r.deadline.deadline {
                Some(d) if r.deadline.overdue => format!(", due {d} (OVERDUE)"),
                Some(d) if r.deadline.due_soon => format!(", due {d} (due soon)"),
                Some(d) => format!(", due {d}"),
                None => String::new(),
            };
            let _ = writeln!(
                self.out,
                "      sits with: {}:{} — {}{} ({}){deadline}",
                r.holder_kind,
                r.holder_id,
                r.task,
                r.role.map(|x| format!(" as {x}")).unwrap_or_default(),
                r.status,
            );
        }
        Ok(outcome)
    }
}

fn row_of(o: &Outcome, task: Task, holder: &Holder) -> Result<RowId, AppError> {
    o.document
        .rows
        .iter()
        .find(|r| r.task == task && &r.holder == holder && r.status.is_open())
        .map(|r| r.id)
        .ok_or_else(|| {
            AppError::Domain(crate::domain::DomainError::State(format!(
                "no open {task:?} row for {holder}"
            )))
        })
}

/// Runs the demo and returns what it printed.
pub async fn run(app: &App) -> Result<String, AppError> {
    let mut out = String::new();
    if seed_organisation(app).await? {
        let _ = writeln!(
            out,
            "Created the demo organisation: {AGENCY_NAME} ({AGENCY_CODE}), {} units, {} officials.",
            UNITS.len(),
            OFFICIALS.len()
        );
    } else {
        let _ = writeln!(out, "The demo organisation exists already.");
    }
    let now = Timestamp::now();
    let today: Date = agency_date(now);
    let year = today.year();
    let mut walk = Walk {
        app,
        out: &mut out,
        step: 0,
    };

    // ---- Incoming: a scanned letter from the Ministry of Finance.
    let _ = writeln!(walk.out, "\nIncoming document (văn bản đến)");
    let pdf = app
        .store_pdf(sample_pdf("Cong van 1234/BTC-NSNN: du toan ngan sach", 2))
        .await?;
    let incoming = DocumentId(uuid::Uuid::now_v7());
    let metadata = Metadata {
        document_type: DocumentType::CongVan,
        number_notation: Some(v(NumberNotation::parse("1234/BTC-NSNN"))?),
        issuer: Some(Issuer {
            code: v(AgencyCode::parse("000.00.00.G12"))?,
            name: v(OrganName::parse("Bộ Tài chính"))?,
        }),
        issue_date: Some(today),
        subject: v(Subject::parse(
            "Về việc hướng dẫn xây dựng dự toán ngân sách nhà nước năm sau",
        ))?,
        urgency: Urgency::Normal,
        secrecy: Secrecy::Normal,
        pages: Some(2),
        signer: Some(Signer {
            position: v(PersonName::parse("Thứ trưởng"))?,
            full_name: v(PersonName::parse("Nguyễn Văn Thắng"))?,
        }),
        recipients: vec![text("recipients", "UBND các tỉnh, thành phố")?],
        due_date: None,
    };
    walk.step(
        "vanthu",
        incoming,
        "receives the scanned letter and registers it (số đến)",
        Action::Receive {
            document_id: incoming,
            source: Source::Scan,
            metadata,
            pdf: Some(pdf),
            register: Some(RegistrationFacts {
                arrival_number: 0,
                year,
                arrival_date: today,
                possible_duplicates: Vec::new(),
                signatures: None,
            }),
        },
    )
    .await?;
    walk.step(
        "vanthu",
        incoming,
        "submits it to the chairman (trình)",
        Action::SubmitToLeader {
            leader: user("lanhdao")?,
        },
    )
    .await?;
    let o = walk
        .step(
            "lanhdao",
            incoming,
            "directs it (bút phê): Tổng hợp leads, Kinh tế coordinates, 5 working days",
            Action::Direct {
                instruction: Some(text(
                    "instruction",
                    "Giao Phòng Tổng hợp chủ trì, phối hợp Phòng Kinh tế tham mưu dự toán.",
                )?),
                assignments: vec![
                    AssignmentSpec {
                        holder: unit("TH")?,
                        role: Role::Lead,
                        deadline: Some(DeadlineSpec::WorkingDays { working_days: 5 }),
                    },
                    AssignmentSpec {
                        holder: unit("KT")?,
                        role: Role::Coordinate,
                        deadline: Some(DeadlineSpec::WorkingDays { working_days: 4 }),
                    },
                ],
            },
        )
        .await?;
    let th_row = row_of(&o, Task::Handle, &unit("TH")?)?;
    let kt_row = row_of(&o, Task::Handle, &unit("KT")?)?;
    walk.step(
        "truongphong",
        incoming,
        "accepts it for Phòng Tổng hợp",
        Action::Accept { row: th_row },
    )
    .await?;
    let o = walk
        .step(
            "truongphong",
            incoming,
            "forwards it inside the unit to the specialist as lead",
            Action::Forward {
                row: th_row,
                instruction: Some(text(
                    "instruction",
                    "Đồng chí Hoa nghiên cứu, dự thảo báo cáo.",
                )?),
                assignments: vec![AssignmentSpec {
                    holder: Holder::User(user("chuyenvien")?),
                    role: Role::Lead,
                    deadline: Some(DeadlineSpec::WorkingDays { working_days: 3 }),
                }],
                // Filled in from the directory by the service.
                unit_members: Vec::new(),
            },
        )
        .await?;
    let cv_row = row_of(&o, Task::Handle, &Holder::User(user("chuyenvien")?))?;
    walk.step(
        "chuyenvien",
        incoming,
        "accepts it",
        Action::Accept { row: cv_row },
    )
    .await?;
    walk.step(
        "chuyenvien",
        incoming,
        "reports progress: 50%",
        Action::ReportProgress {
            row: cv_row,
            percent: 50,
            note: text("note", "Đã tổng hợp số liệu các sở.")?,
        },
    )
    .await?;
    walk.step(
        "truongphongkt",
        incoming,
        "accepts it for Phòng Kinh tế",
        Action::Accept { row: kt_row },
    )
    .await?;
    walk.step(
        "truongphongkt",
        incoming,
        "sends the coordinating input",
        Action::Complete {
            row: kt_row,
            result: Some(text("result", "Đã gửi ý kiến phối hợp.")?),
            reply_document: None,
        },
    )
    .await?;
    walk.step(
        "chuyenvien",
        incoming,
        "completes it; completion propagates up to the unit and the direction",
        Action::Complete {
            row: cv_row,
            result: Some(text("result", "Đã hoàn thành báo cáo dự toán.")?),
            reply_document: None,
        },
    )
    .await?;
    walk.step(
        "chuyenvien",
        incoming,
        "files it into a case file (hồ sơ)",
        Action::File {
            case_file: CaseFile {
                code: text("case_file", &format!("{year}-TH-01"))?,
                title: Some(text("title", "Hồ sơ dự toán ngân sách")?),
            },
        },
    )
    .await?;

    // ---- Outgoing: a decision drafted by the specialist.
    let _ = writeln!(walk.out, "\nOutgoing document (văn bản đi)");
    let outgoing = DocumentId(uuid::Uuid::now_v7());
    let draft_pdf = app
        .store_pdf(sample_pdf("Du thao Quyet dinh giao du toan (v1)", 1))
        .await?;
    walk.step(
        "chuyenvien",
        outgoing,
        "drafts a decision",
        Action::Draft {
            document_id: outgoing,
            metadata: Metadata {
                document_type: DocumentType::QuyetDinh,
                number_notation: None,
                issuer: Some(Issuer {
                    code: v(AgencyCode::parse(AGENCY_CODE))?,
                    name: v(OrganName::parse(AGENCY_NAME))?,
                }),
                issue_date: None,
                subject: v(Subject::parse("Về việc giao dự toán ngân sách nhà nước"))?,
                urgency: Urgency::Normal,
                secrecy: Secrecy::Normal,
                pages: Some(1),
                signer: Some(Signer {
                    position: v(PersonName::parse("Chủ tịch"))?,
                    full_name: v(PersonName::parse("Trần Văn Minh"))?,
                }),
                recipients: vec![
                    text("recipients", "Như Điều 3")?,
                    text("recipients", "Lưu: VT, TH")?,
                ],
                due_date: None,
            },
            pdf: Some(draft_pdf),
            clerk_unit: v(UnitId::parse(CLERK_UNIT))?,
        },
    )
    .await?;
    walk.step(
        "chuyenvien",
        outgoing,
        "submits the draft to the unit head for review",
        Action::SubmitForReview {
            reviewer: user("truongphong")?,
        },
    )
    .await?;
    walk.step(
        "truongphong",
        outgoing,
        "returns it for changes",
        Action::Review(ReviewDecision::Return {
            comment: text("comment", "Bổ sung căn cứ pháp lý.")?,
        }),
    )
    .await?;
    let v2 = app
        .store_pdf(sample_pdf("Du thao Quyet dinh giao du toan (v2)", 1))
        .await?;
    walk.step(
        "chuyenvien",
        outgoing,
        "uploads revision 2",
        Action::AddRevision {
            pdf: v2,
            note: Some(text("note", "Đã bổ sung căn cứ.")?),
        },
    )
    .await?;
    walk.step(
        "chuyenvien",
        outgoing,
        "submits it again",
        Action::SubmitForReview {
            reviewer: user("truongphong")?,
        },
    )
    .await?;
    walk.step(
        "truongphong",
        outgoing,
        "approves and passes it to the chairman",
        Action::Review(ReviewDecision::Approve {
            comment: None,
            next_reviewer: Some(user("lanhdao")?),
        }),
    )
    .await?;
    let approved = walk
        .step(
            "lanhdao",
            outgoing,
            "approves it",
            Action::Review(ReviewDecision::Approve {
                comment: Some(text("comment", "Đồng ý ban hành.")?),
                next_reviewer: None,
            }),
        )
        .await?;
    let signing = &app.config.keystore;
    if !signing.officials.contains_key("lanhdao") || signing.seal.is_none() {
        let _ = writeln!(
            walk.out,
            "    (the keystore has no key for lanhdao or the agency's seal: the draft stays approved, unsigned; run from the repository, whose keys-dev/ holds the demo keys)"
        );
        return finish(app, out, year, incoming).await;
    }
    walk.sign(
        "lanhdao",
        outgoing,
        SignatureKind::Personal,
        "signs it (PAdES)",
    )
    .await?;
    let drafting_unit = approved
        .document
        .drafting_unit
        .as_ref()
        .map(|u| u.as_str().to_string())
        .unwrap_or_default();
    let notation = v(default_notation(
        &approved.document.metadata,
        AGENCY_ABBREVIATION,
        &drafting_unit,
    ))?;
    let o = walk
        .step(
            "vanthu",
            outgoing,
            "numbers it from the outgoing register",
            Action::Number {
                number: 0,
                year,
                series: Series::Regular,
                notation,
                issue_date: today,
            },
        )
        .await?;
    let number = o
        .document
        .issued
        .as_ref()
        .map(|i| i.number_notation.to_string())
        .unwrap_or_default();
    walk.sign(
        "vanthu",
        outgoing,
        SignatureKind::AgencySeal,
        "fills in the number and date and applies the agency's seal signature",
    )
    .await?;
    walk.step(
        "vanthu",
        outgoing,
        &format!("dispatches {number} to Phòng Tổng hợp and Phòng Kinh tế"),
        Action::Dispatch {
            assignments: vec![
                AssignmentSpec {
                    holder: unit("TH")?,
                    role: Role::Lead,
                    deadline: None,
                },
                AssignmentSpec {
                    holder: unit("KT")?,
                    role: Role::ForInformation,
                    deadline: None,
                },
            ],
        },
    )
    .await?;

    finish(app, out, year, incoming).await
}

/// The registers, after the walk.
async fn finish(
    app: &App,
    mut out: String,
    year: i16,
    incoming: DocumentId,
) -> Result<String, AppError> {
    let pool = app.projections.pool();
    let _ = writeln!(out, "\nIncoming register {year} (sổ văn bản đến):");
    for r in projections::incoming_register(pool, year).await? {
        let _ = writeln!(
            out,
            "  số đến {:>3}  {}  {}  {}  → {}",
            r.arrival_number,
            r.arrival_date,
            r.number_notation.unwrap_or_default(),
            r.issuer,
            r.recipients
        );
    }
    let _ = writeln!(out, "Outgoing register {year} (sổ văn bản đi):");
    for r in projections::outgoing_register(pool, year).await? {
        let _ = writeln!(
            out,
            "  {}  {}  {}  → {}",
            r.number_notation, r.issue_date, r.type_and_subject, r.recipients
        );
    }
    let _ = writeln!(
        out,
        "\nTrail of the incoming document (congvan.db has the full log):"
    );
    for t in projections::trail(pool, incoming).await? {
        let _ = writeln!(
            out,
            "  #{:<4} {:<14} {:<20} {}  {}…",
            t.position,
            t.actor,
            t.action,
            t.summary,
            &t.hash[..12]
        );
    }
    let _ = writeln!(
        out,
        "\nData directory: {} (congvan.db = the event log, projections.db = read models, pdf/ = PDFs by SHA-256)",
        app.data_dir().display()
    );
    Ok(out)
}
