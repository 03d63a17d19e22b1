//! Projection rebuild rate: `cargo bench --bench rebuild` (add
//! `-- --documents N`). Fills a store with the journeys of N incoming
//! documents (about 11 events each, made by the real decide/evolve), then
//! times `projections::rebuild` over the whole log.

use std::time::Instant;

use congvan::domain::decide::{
    Action, AssignmentSpec, Command, DeadlineSpec, Policy, RegistrationFacts, agency_date,
};
use congvan::domain::model::{
    Actor, Document, DocumentId, Holder, Issuer, Metadata, OfficialRole, PdfRef, Role, Source, Task,
};
use congvan::domain::values::{
    AgencyCode, DocumentType, NumberNotation, OrganName, Secrecy, Subject, Text, UnitId, Urgency,
    UserId,
};
use congvan::domain::{DocumentEvent, decide, evolve};
use congvan::store::sqlite::SqliteStore;

// The allocator the product runs with (glibc's malloc spent a quarter of the
// projector's time in consolidation under this load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use congvan::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};

fn actor(user: &str, unit: &str, role: OfficialRole) -> Actor {
    Actor {
        user: UserId::parse(user).expect("user"),
        unit: UnitId::parse(unit).expect("unit"),
        roles: vec![role],
    }
}

fn journey(n: u32, policy: &Policy) -> Vec<DocumentEvent> {
    let at = jiff::Timestamp::now();
    let today = agency_date(at);
    let id = DocumentId(uuid::Uuid::now_v7());
    let clerk = actor("vanthu", "VT", OfficialRole::Clerk);
    let leader = actor("lanhdao", "LD", OfficialRole::Leader);
    let head = actor("truongphong", "TH", OfficialRole::UnitHead);
    let head_kt = actor("truongphongkt", "KT", OfficialRole::UnitHead);
    let specialist = actor("chuyenvien", "TH", OfficialRole::Specialist);
    let text = |s: &str| Text::parse("text", s, 1000).expect("text");
    let mut state: Option<Document> = None;
    let mut events = Vec::new();
    let mut step = |who: &Actor, action: Action, state: &mut Option<Document>| {
        let cmd = Command {
            actor: who.clone(),
            at,
            today,
            action,
        };
        let new = decide(policy, &cmd, state.as_ref()).expect("valid step");
        for e in &new {
            *state = evolve(state.take(), e);
        }
        events.extend(new);
    };
    step(
        &clerk,
        Action::Receive {
            document_id: id,
            source: Source::Scan,
            metadata: Metadata {
                document_type: DocumentType::CongVan,
                number_notation: Some(
                    NumberNotation::parse(&format!("{}/BTC-NSNN", n + 1)).expect("nn"),
                ),
                issuer: Some(Issuer {
                    code: AgencyCode::parse("000.00.00.G12").expect("code"),
                    name: OrganName::parse("Bộ Tài chính").expect("name"),
                }),
                issue_date: Some(today),
                subject: Subject::parse("Về việc hướng dẫn xây dựng dự toán ngân sách").expect("s"),
                urgency: Urgency::Normal,
                secrecy: Secrecy::Normal,
                pages: Some(2),
                signer: None,
                recipients: vec![],
                due_date: None,
            },
            pdf: Some(PdfRef {
                sha256: congvan::digest::Sha256Digest::of(b"bench"),
                pages: 2,
                bytes: 1000,
            }),
            register: Some(RegistrationFacts {
                arrival_number: n + 1,
                year: today.year(),
                arrival_date: today,
                possible_duplicates: vec![],
                signatures: None,
            }),
        },
        &mut state,
    );
    step(
        &clerk,
        Action::SubmitToLeader {
            leader: leader.user.clone(),
        },
        &mut state,
    );
    step(
        &leader,
        Action::Direct {
            instruction: Some(text("Giao xử lý")),
            assignments: vec![
                AssignmentSpec {
                    holder: Holder::Unit(head.unit.clone()),
                    role: Role::Lead,
                    deadline: Some(DeadlineSpec::WorkingDays { working_days: 5 }),
                },
                AssignmentSpec {
                    holder: Holder::Unit(head_kt.unit.clone()),
                    role: Role::Coordinate,
                    deadline: Some(DeadlineSpec::WorkingDays { working_days: 5 }),
                },
            ],
        },
        &mut state,
    );
    let row = |s: &Option<Document>, h: &Holder| {
        s.as_ref()
            .and_then(|d| {
                d.rows
                    .iter()
                    .find(|r| r.task == Task::Handle && &r.holder == h && r.status.is_open())
            })
            .map(|r| r.id)
            .expect("row")
    };
    let th = row(&state, &Holder::Unit(head.unit.clone()));
    let kt = row(&state, &Holder::Unit(head_kt.unit.clone()));
    step(&head, Action::Accept { row: th }, &mut state);
    step(&head_kt, Action::Accept { row: kt }, &mut state);
    step(
        &head,
        Action::Forward {
            row: th,
            instruction: None,
            assignments: vec![AssignmentSpec {
                holder: Holder::User(specialist.user.clone()),
                role: Role::Lead,
                deadline: None,
            }],
            unit_members: vec![specialist.user.clone()],
        },
        &mut state,
    );
    let cv = row(&state, &Holder::User(specialist.user.clone()));
    step(&specialist, Action::Accept { row: cv }, &mut state);
    step(
        &specialist,
        Action::ReportProgress {
            row: cv,
            percent: 50,
            note: text("Đang làm"),
        },
        &mut state,
    );
    step(
        &head_kt,
        Action::Complete {
            row: kt,
            result: None,
            reply_document: None,
        },
        &mut state,
    );
    step(
        &specialist,
        Action::Complete {
            row: cv,
            result: None,
            reply_document: None,
        },
        &mut state,
    );
    events
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let documents: u32 = args
        .iter()
        .position(|a| a == "--documents")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let dir = tempfile::tempdir()?;
        let store = SqliteStore::open_dir(dir.path()).await?;
        let policy = Policy::default();
        let fill = Instant::now();
        let mut batch = Vec::new();
        for n in 0..documents {
            let events = journey(n, &policy);
            let id = match &events[0] {
                DocumentEvent::Received { document_id, .. } => *document_id,
                _ => unreachable!("a journey starts with received"),
            };
            batch.push(StreamAppend {
                stream: id.stream(),
                expected: ExpectedVersion::NoStream,
                events: events
                    .iter()
                    .map(|e| NewEvent {
                        event_id: uuid::Uuid::now_v7(),
                        event_type: e.event_type().into(),
                        schema_version: e.schema_version(),
                        payload: e.to_payload(),
                        metadata: "{\"actor\":\"bench\"}".into(),
                    })
                    .collect(),
            });
            if batch.len() == 200 {
                store.append(std::mem::take(&mut batch)).await?;
            }
        }
        if !batch.is_empty() {
            store.append(batch).await?;
        }
        let head = *store.head().borrow();
        println!(
            "filled {documents} documents = {head} events in {:.2} s",
            fill.elapsed().as_secs_f64()
        );
        let r = congvan::projections::rebuild(
            dir.path(),
            &congvan::store::Store::Sqlite(store.clone()),
        )
        .await?;
        println!(
            "rebuild: {} events in {:.2} s = {:.0} events/s",
            r.events,
            r.seconds,
            r.events as f64 / r.seconds
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}
