//! A randomized run of 1,000 documents through their journeys, then every
//! projection rebuilt from the log must equal what was built live, and the
//! checker must find no skipped position.

use std::sync::Arc;

use congvan::app::{App, AppError, RequestMeta};
use congvan::domain::decide::{
    Action, AssignmentSpec, DeadlineSpec, RegistrationFacts, ReviewDecision,
};
use congvan::domain::model::{
    CaseFile, Document, DocumentId, Holder, Metadata, PdfRef, Role, Row, RowStatus, Series, Task,
};
use congvan::domain::values::{DocumentType, Notation, Secrecy, Subject, Text, UnitId, Urgency};
use congvan::pdf::sample::sample_pdf;
use congvan::projections;
use congvan::store::EventStore;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::journey::{demo_app_on, incoming_metadata, receive, today, user};

const DOCUMENTS: usize = 1000;
const TASKS: usize = 8;

fn text(s: &str) -> Text {
    Text::parse("text", s, 1000).expect("text")
}

fn unit(s: &str) -> Holder {
    Holder::Unit(UnitId::parse(s).expect("unit"))
}

/// Who acts for a row in the demo organisation.
fn actor_for(row: &Row) -> &'static str {
    match &row.holder {
        Holder::Unit(u) => match u.as_str() {
            "VT" => "vanthu",
            "TH" => "truongphong",
            "KT" => "truongphongkt",
            _ => "lanhdao",
        },
        Holder::User(u) => match u.as_str() {
            "lanhdao" => "lanhdao",
            "truongphong" => "truongphong",
            "truongphongkt" => "truongphongkt",
            "chuyenvien" => "chuyenvien",
            _ => "vanthu",
        },
    }
}

fn assignments(rng: &mut StdRng) -> Vec<AssignmentSpec> {
    let deadline = |rng: &mut StdRng| match rng.random_range(0..3) {
        0 => None,
        1 => Some(DeadlineSpec::WorkingDays {
            working_days: rng.random_range(0..10),
        }),
        _ => Some(DeadlineSpec::Date(today())),
    };
    let mut out = vec![AssignmentSpec {
        holder: if rng.random_bool(0.7) {
            unit("TH")
        } else {
            Holder::User(user("truongphong"))
        },
        role: Role::Lead,
        deadline: deadline(rng),
    }];
    if rng.random_bool(0.5) {
        out.push(AssignmentSpec {
            holder: unit("KT"),
            role: if rng.random_bool(0.7) {
                Role::Coordinate
            } else {
                Role::ForInformation
            },
            deadline: deadline(rng),
        });
    }
    out
}

/// One plausible next action for the document, or None when nothing is open.
fn next_action(doc: &Document, rng: &mut StdRng) -> Option<(&'static str, Action)> {
    let open: Vec<&Row> = doc.open_rows().collect();
    if open.is_empty() {
        return match rng.random_range(0..4) {
            0 => None,
            1 => Some((
                "vanthu",
                Action::Recall {
                    reason: text("Thu hồi để sửa"),
                },
            )),
            _ => Some((
                "vanthu",
                Action::File {
                    case_file: CaseFile {
                        code: text(&format!("HS-{}", rng.random_range(1..20))),
                        title: None,
                    },
                },
            )),
        };
    }
    let row = open[rng.random_range(0..open.len())];
    let who = actor_for(row);
    let action = match row.task {
        Task::Register => Action::Register(RegistrationFacts {
            arrival_number: 0,
            year: today().year(),
            arrival_date: today(),
            possible_duplicates: vec![],
            signatures: None,
        }),
        Task::Submit => Action::SubmitToLeader {
            leader: user("lanhdao"),
        },
        Task::Direct => {
            if rng.random_bool(0.1) {
                Action::Return {
                    row: row.id,
                    reason: text("Không thuộc thẩm quyền"),
                }
            } else {
                Action::Direct {
                    instruction: Some(text("Giao xử lý")),
                    assignments: assignments(rng),
                }
            }
        }
        Task::Handle => match rng.random_range(0..10) {
            0 | 1 => Action::Accept { row: row.id },
            2 => Action::ReportProgress {
                row: row.id,
                percent: rng.random_range(0..=100),
                note: text("Đang xử lý"),
            },
            3 if row.holder == unit("TH") => Action::Forward {
                row: row.id,
                instruction: None,
                assignments: vec![AssignmentSpec {
                    holder: Holder::User(user("chuyenvien")),
                    role: row.role.unwrap_or(Role::Lead),
                    deadline: None,
                }],
                unit_members: Vec::new(),
            },
            4 => Action::Return {
                row: row.id,
                reason: text("Đề nghị giao đơn vị khác"),
            },
            _ => Action::Complete {
                row: row.id,
                result: Some(text("Xong")),
                reply_document: None,
            },
        },
        Task::Draft => {
            if rng.random_bool(0.2) {
                return Some((
                    who,
                    Action::AddRevision {
                        pdf: PdfRef {
                            sha256: doc.current_pdf()?.sha256,
                            pages: 1,
                            bytes: 1,
                        },
                        note: None,
                    },
                ));
            }
            Action::SubmitForReview {
                reviewer: user("truongphong"),
            }
        }
        Task::Review => {
            if rng.random_bool(0.2) {
                Action::Review(ReviewDecision::Return {
                    comment: text("Sửa lại"),
                })
            } else {
                let next = (row.holder == Holder::User(user("truongphong"))
                    && rng.random_bool(0.5))
                .then(|| user("lanhdao"));
                Action::Review(ReviewDecision::Approve {
                    comment: None,
                    next_reviewer: next,
                })
            }
        }
        Task::Number => Action::Number {
            number: 0,
            year: today().year(),
            series: Series::Regular,
            notation: Notation::parse("QĐ-UBND").expect("notation"),
            issue_date: today(),
        },
        Task::Dispatch => Action::Dispatch {
            assignments: vec![
                AssignmentSpec {
                    holder: unit("TH"),
                    role: Role::Lead,
                    deadline: None,
                },
                AssignmentSpec {
                    holder: unit("KT"),
                    role: Role::ForInformation,
                    deadline: None,
                },
            ],
        },
    };
    let _ = RowStatus::Pending;
    Some((who, action))
}

async fn journey(app: &App, n: usize, pdf: &PdfRef, rng: &mut StdRng) -> (u32, u32) {
    let id = DocumentId(uuid::Uuid::now_v7());
    let (mut ok, mut refused) = (0, 0);
    let first = if rng.random_bool(0.65) {
        let secrecy = if rng.random_bool(0.05) {
            Secrecy::Confidential
        } else {
            Secrecy::Normal
        };
        let pdf = (!secrecy.is_secret()).then(|| pdf.clone());
        let mut action = receive(
            id,
            incoming_metadata(&format!("{}/BTC-NSNN", n % 300 + 1), secrecy),
            pdf,
        );
        if rng.random_bool(0.3)
            && let Action::Receive {
                register, source, ..
            } = &mut action
        {
            // Delivered electronically: waits for registration.
            *register = None;
            *source = congvan::domain::model::Source::Delivered {
                from: congvan::domain::values::AgencyCode::parse("000.00.00.G12").expect("code"),
            };
        }
        ("vanthu", action)
    } else {
        (
            "chuyenvien",
            Action::Draft {
                document_id: id,
                metadata: Metadata {
                    document_type: DocumentType::QuyetDinh,
                    number_notation: None,
                    issuer: None,
                    issue_date: None,
                    subject: Subject::parse("Dự thảo quyết định").expect("subject"),
                    urgency: if rng.random_bool(0.2) {
                        Urgency::Urgent
                    } else {
                        Urgency::Normal
                    },
                    secrecy: Secrecy::Normal,
                    pages: None,
                    signer: None,
                    recipients: vec![],
                    due_date: None,
                },
                pdf: Some(pdf.clone()),
                clerk_unit: UnitId::parse("VT").expect("unit"),
            },
        )
    };
    let mut doc = app
        .execute(&user(first.0), id, first.1, &RequestMeta::default())
        .await
        .expect("the first command succeeds")
        .document;
    for _ in 0..14 {
        let Some((who, action)) = next_action(&doc, rng) else {
            break;
        };
        match app
            .execute(&user(who), id, action, &RequestMeta::default())
            .await
        {
            Ok(o) => {
                ok += 1;
                doc = o.document;
            }
            Err(AppError::Domain(_)) => refused += 1,
            Err(e) => panic!("document {n}: unexpected error {e}"),
        }
    }
    (ok, refused)
}

crate::on_sqlite_and_postgres!(rebuild_equals_live_after_a_randomized_run);

async fn rebuild_equals_live_after_a_randomized_run(database_url: Option<&str>) {
    let seed: u64 = std::env::var("CONGVAN_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("randomized run with CONGVAN_TEST_SEED={seed}");
    let (dir, app) = demo_app_on(database_url).await;
    let app = Arc::new(app);
    let pdf = app
        .store_pdf(sample_pdf("random run", 1))
        .await
        .expect("pdf");
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let app = app.clone();
        let pdf = pdf.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(t as u64));
            let (mut ok, mut refused) = (0, 0);
            for n in (t..DOCUMENTS).step_by(TASKS) {
                let (o, r) = journey(&app, n, &pdf, &mut rng).await;
                ok += o;
                refused += r;
            }
            (ok, refused)
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for h in handles {
        let (o, r) = h.await.expect("task");
        ok += o;
        refused += r;
    }
    let head = *app.store.head().borrow();
    app.projections.wait_for(head).await.expect("caught up");
    eprintln!(
        "{DOCUMENTS} documents, {ok} further commands accepted, {refused} refused, {head} events"
    );
    assert!(
        ok > DOCUMENTS as u32,
        "the run must exercise more than the first commands"
    );
    let live = projections::dump(app.projections.pool())
        .await
        .expect("dump live");
    assert!(
        live.contains(&format!("## documents ({DOCUMENTS} rows)")),
        "every document projected"
    );
    // Offline, as `congvan projections rebuild` is: the server is gone.
    drop(app);
    let store = congvan::store::Store::open(dir.path(), database_url)
        .await
        .expect("reopen the store");
    let report = projections::rebuild(dir.path(), &store)
        .await
        .expect("rebuild");
    assert_eq!(report.events, head);
    let pool = projections::open_pool(dir.path(), &store)
        .await
        .expect("open the read models");
    let rebuilt = projections::dump(&pool).await.expect("dump rebuilt");
    if live != rebuilt {
        let diff: Vec<_> = live
            .lines()
            .zip(rebuilt.lines())
            .filter(|(a, b)| a != b)
            .take(3)
            .collect();
        panic!("rebuild differs from live (seed {seed}): {diff:?}");
    }
    let check = projections::check(dir.path(), &store).await.expect("check");
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!(check.head, head);
}
