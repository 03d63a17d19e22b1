//! `congvan debug load`: a large data directory for benchmarks — units,
//! officials and documents walked through registration, direction, forward,
//! acceptance and progress by the real `decide`, appended in large
//! multi-stream batches (the same events the API would append, without the
//! HTTP round trips).

use jiff::Timestamp;

use crate::app::{App, AppError, RequestMeta, event_metadata, new_event_id};
use crate::domain::decide::{
    Action, AssignmentSpec, Command, DeadlineSpec, RegistrationFacts, agency_date,
};
use crate::domain::directory::DirectoryEvent;
use crate::domain::model::{
    Actor, Document, DocumentId, Holder, Issuer, Metadata, OfficialRole, Role, RowId, Source,
};
use crate::domain::register::{NumberTaken, RegisterKind};
use crate::domain::values::{
    AgencyCode, DocumentType, NumberNotation, OrganName, PersonName, Secrecy, Subject, Text,
    UnitId, Urgency, UserId, ValueError,
};
use crate::domain::{DocumentEvent, decide, evolve};
use crate::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};

/// Units `U01`…, each with a head `head01`… and specialists `sp0001`….
pub struct Shape {
    pub documents: usize,
    pub units: usize,
    pub specialists_per_unit: usize,
}

fn v<T>(r: Result<T, ValueError>) -> Result<T, AppError> {
    r.map_err(|e| {
        AppError::Domain(crate::domain::DomainError::Invalid {
            field: e.field,
            rule: e.rule,
        })
    })
}

pub fn unit_id(u: usize) -> String {
    format!("U{u:02}")
}

pub fn head(u: usize) -> String {
    format!("head{u:02}")
}

pub fn specialist(n: usize) -> String {
    format!("sp{n:04}")
}

/// Seeds the demo organisation (with passwords) and the load's units and
/// officials (password `demo`), then appends the documents. Returns the
/// number of events appended.
pub async fn load(app: &App, shape: &Shape) -> Result<u64, AppError> {
    crate::demo::seed_users(app).await?;
    let at = Timestamp::now();
    let hash = crate::auth::password::hash_password(crate::demo::DEMO_PASSWORD)
        .map_err(|e| AppError::Io(std::io::Error::other(e.to_string())))?;
    let mut dir = Vec::new();
    for u in 0..shape.units {
        let unit = v(UnitId::parse(&unit_id(u)))?;
        dir.push(DirectoryEvent::UnitCreated {
            at,
            id: unit.clone(),
            name: v(OrganName::parse(&format!("Phòng thử tải {u}")))?,
        });
        let mut people = vec![(head(u), OfficialRole::UnitHead)];
        for s in 0..shape.specialists_per_unit {
            people.push((
                specialist(u * shape.specialists_per_unit + s),
                OfficialRole::Specialist,
            ));
        }
        for (user, role) in people {
            let user = v(UserId::parse(&user))?;
            dir.push(DirectoryEvent::OfficialCreated {
                at,
                user: user.clone(),
                full_name: v(PersonName::parse("Nguyễn Văn Tải"))?,
                position: v(PersonName::parse("Chuyên viên"))?,
                unit: unit.clone(),
                roles: vec![role],
            });
            dir.push(DirectoryEvent::PasswordSet {
                at,
                user,
                password_hash: hash.clone(),
            });
        }
    }
    app.define_directory(dir).await?;

    let pdf = app
        .store_pdf(crate::pdf::sample::sample_pdf("Cong van thu tai", 1))
        .await?;
    let clerk = actor("vanthu", "VT", OfficialRole::Clerk)?;
    let leader = actor("lanhdao", "LD", OfficialRole::Leader)?;
    let policy = &app.config.policy;
    let meta = RequestMeta::default();
    let register = RegisterKind::Incoming.stream(agency_date(at).year());
    let mut register_version = app.store.stream_version(&register).await?.unwrap_or(0);
    let mut appended = 0u64;
    let batch = 500;
    let mut start = 0;
    while start < shape.documents {
        let end = (start + batch).min(shape.documents);
        let mut appends = Vec::new();
        let mut taken = Vec::new();
        let expected_register = match register_version {
            0 => ExpectedVersion::NoStream,
            n => ExpectedVersion::Exact(n),
        };
        for i in start..end {
            let u = i % shape.units;
            let sp =
                u * shape.specialists_per_unit + (i / shape.units) % shape.specialists_per_unit;
            let unit_head = actor(&head(u), &unit_id(u), OfficialRole::UnitHead)?;
            let spec = actor(&specialist(sp), &unit_id(u), OfficialRole::Specialist)?;
            let id = DocumentId(uuid::Uuid::now_v7());
            let now = Timestamp::now();
            let today = agency_date(now);
            register_version += 1;
            let number = register_version as u32;
            let mut state: Option<Document> = None;
            let mut events = Vec::new();
            let mut run = |who: &Actor,
                           action: Action,
                           state: &mut Option<Document>|
             -> Result<(), AppError> {
                let cmd = Command {
                    actor: who.clone(),
                    at: now,
                    today,
                    action,
                };
                for e in decide(policy, &cmd, state.as_ref())? {
                    *state = evolve(state.take(), &e);
                    events.push(new_event(&e, &who.user, &meta));
                }
                Ok(())
            };
            let open_row = |state: &Option<Document>, holder: &Holder| -> Result<RowId, AppError> {
                state
                    .as_ref()
                    .and_then(|d| {
                        d.rows
                            .iter()
                            .rev()
                            .find(|r| &r.holder == holder && r.status.is_open())
                    })
                    .map(|r| r.id)
                    .ok_or(AppError::Domain(crate::domain::DomainError::NotFound))
            };
            run(
                &clerk,
                Action::Receive {
                    document_id: id,
                    source: Source::Scan,
                    metadata: metadata(i)?,
                    pdf: Some(pdf.clone()),
                    register: Some(RegistrationFacts {
                        arrival_number: number,
                        year: today.year(),
                        arrival_date: today,
                        possible_duplicates: vec![],
                        signatures: None,
                    }),
                },
                &mut state,
            )?;
            run(
                &clerk,
                Action::SubmitToLeader {
                    leader: leader.user.clone(),
                },
                &mut state,
            )?;
            let unit_holder = Holder::Unit(unit_head.unit.clone());
            run(
                &leader,
                Action::Direct {
                    instruction: None,
                    assignments: vec![AssignmentSpec {
                        holder: unit_holder.clone(),
                        role: Role::Lead,
                        deadline: Some(DeadlineSpec::WorkingDays {
                            working_days: 5 + (i % 20) as u32,
                        }),
                    }],
                },
                &mut state,
            )?;
            let row = open_row(&state, &unit_holder)?;
            run(
                &unit_head,
                Action::Forward {
                    row,
                    instruction: None,
                    assignments: vec![AssignmentSpec {
                        holder: Holder::User(spec.user.clone()),
                        role: Role::Lead,
                        deadline: None,
                    }],
                    unit_members: vec![spec.user.clone()],
                },
                &mut state,
            )?;
            let row = open_row(&state, &Holder::User(spec.user.clone()))?;
            run(&spec, Action::Accept { row }, &mut state)?;
            for (percent, note) in [
                (30, "Đang xử lý."),
                (60, "Đã có dự thảo."),
                (80, "Đang lấy ý kiến."),
            ] {
                run(
                    &spec,
                    Action::ReportProgress {
                        row,
                        percent,
                        note: v(Text::parse("note", note, 100))?,
                    },
                    &mut state,
                )?;
            }
            appended += events.len() as u64 + 1;
            appends.push(StreamAppend {
                stream: id.stream(),
                expected: ExpectedVersion::NoStream,
                events,
            });
            taken.push(NewEvent {
                event_id: new_event_id(),
                event_type: NumberTaken::EVENT_TYPE.to_string(),
                schema_version: NumberTaken::SCHEMA_VERSION,
                payload: serde_json::to_string(&NumberTaken {
                    number,
                    document_id: id,
                    at: now,
                })
                .unwrap_or_default(),
                metadata: event_metadata(&clerk.user, &meta),
            });
        }
        appends.push(StreamAppend {
            stream: register.clone(),
            expected: expected_register,
            events: taken,
        });
        let r = app.store.append(appends).await?;
        app.projections.wait_for(r.last_position).await?;
        start = end;
    }
    Ok(appended)
}

fn actor(user: &str, unit: &str, role: OfficialRole) -> Result<Actor, AppError> {
    Ok(Actor {
        user: v(UserId::parse(user))?,
        unit: v(UnitId::parse(unit))?,
        roles: vec![role],
    })
}

fn new_event(e: &DocumentEvent, user: &UserId, meta: &RequestMeta) -> NewEvent {
    NewEvent {
        event_id: new_event_id(),
        event_type: e.event_type().to_string(),
        schema_version: e.schema_version(),
        payload: e.to_payload(),
        metadata: event_metadata(user, meta),
    }
}

fn metadata(i: usize) -> Result<Metadata, AppError> {
    Ok(Metadata {
        document_type: DocumentType::CongVan,
        number_notation: Some(v(NumberNotation::parse(&format!("{}/BTC-NSNN", i + 1)))?),
        issuer: Some(Issuer {
            code: v(AgencyCode::parse("000.00.00.G12"))?,
            name: v(OrganName::parse("Bộ Tài chính"))?,
        }),
        issue_date: None,
        subject: v(Subject::parse(&format!("Về việc thử tải số {i}")))?,
        urgency: Urgency::Normal,
        secrecy: Secrecy::Normal,
        pages: None,
        signer: None,
        recipients: vec![],
        due_date: None,
    })
}
