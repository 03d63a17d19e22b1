//! The application service end to end on a real data directory: the demo
//! journeys, read-your-writes, numbering without gaps, refusals that append
//! nothing, and uploads that are not PDFs.

use congvan::app::{App, AppError, Config, RequestMeta};
use congvan::domain::DomainError;
use congvan::domain::decide::{Action, RegistrationFacts};
use congvan::domain::model::{DocumentId, Issuer, Metadata, Source, Status};
use congvan::domain::values::{
    AgencyCode, DocumentType, NumberNotation, OrganName, Secrecy, Subject, Urgency, UserId,
};
use congvan::pdf::sample::sample_pdf;
use congvan::projections;
use congvan::store::EventStore;
use jiff::Timestamp;

pub async fn demo_app() -> (tempfile::TempDir, App) {
    demo_app_on(None).await
}

/// The demo organisation in a fresh data directory, with the log and read
/// models in `database_url` when given.
pub async fn demo_app_on(database_url: Option<&str>) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::new(dir.path()).with_dev_keys().expect("keys-dev");
    config.database_url = database_url.map(str::to_string);
    let app = App::open(config).await.expect("open app");
    congvan::demo::seed_organisation(&app).await.expect("seed");
    (dir, app)
}

pub fn user(s: &str) -> UserId {
    UserId::parse(s).expect("user id")
}

pub fn today() -> jiff::civil::Date {
    congvan::domain::decide::agency_date(Timestamp::now())
}

pub fn incoming_metadata(number: &str, secrecy: Secrecy) -> Metadata {
    Metadata {
        document_type: DocumentType::CongVan,
        number_notation: Some(NumberNotation::parse(number).expect("number")),
        issuer: Some(Issuer {
            code: AgencyCode::parse("000.00.00.G12").expect("code"),
            name: OrganName::parse("Bộ Tài chính").expect("name"),
        }),
        issue_date: Some(today()),
        subject: Subject::parse("Về việc kiểm tra").expect("subject"),
        urgency: Urgency::Normal,
        secrecy,
        pages: None,
        signer: None,
        recipients: vec![],
        due_date: None,
    }
}

pub fn receive(
    id: DocumentId,
    metadata: Metadata,
    pdf: Option<congvan::domain::model::PdfRef>,
) -> Action {
    Action::Receive {
        document_id: id,
        source: Source::Scan,
        metadata,
        pdf,
        register: Some(RegistrationFacts {
            arrival_number: 0,
            year: today().year(),
            arrival_date: today(),
            possible_duplicates: vec![],
            signatures: None,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walks_both_journeys_to_the_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::new(dir.path()).with_dev_keys().expect("keys-dev");
    let app = App::open(config).await.expect("open");
    let out = congvan::demo::run(&app).await.expect("demo");
    assert!(out.contains("[status: completed]"), "{out}");
    assert!(out.contains("[status: issued]"), "{out}");
    assert!(out.contains("số đến   1"), "{out}");
    assert!(out.contains("01/QĐ-UBND"), "{out}");
    // A second run continues the numbering and does not seed twice.
    let out2 = congvan::demo::run(&app).await.expect("demo again");
    assert!(out2.contains("exists already"), "{out2}");
    assert!(out2.contains("số đến   2"), "{out2}");
    assert!(out2.contains("02/QĐ-UBND"), "{out2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrival_numbers_are_consecutive_under_concurrency_and_duplicates_are_flagged() {
    let (_d, app) = demo_app().await;
    let app = std::sync::Arc::new(app);
    let pdf = app.store_pdf(sample_pdf("x", 1)).await.expect("pdf");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let app = app.clone();
        let pdf = pdf.clone();
        tasks.push(tokio::spawn(async move {
            let id = DocumentId(uuid::Uuid::now_v7());
            // Two documents share a number: the second is flagged.
            let number = if i < 2 {
                "77/BTC-NSNN".to_string()
            } else {
                format!("{i}/BTC-NSNN")
            };
            app.execute(
                &user("vanthu"),
                id,
                receive(id, incoming_metadata(&number, Secrecy::Normal), Some(pdf)),
                &RequestMeta::default(),
            )
            .await
            .expect("receive and register")
        }));
    }
    let mut numbers = Vec::new();
    let mut flagged = 0;
    for t in tasks {
        let o = t.await.expect("task");
        numbers.push(o.document.arrival.as_ref().expect("registered").number);
        if let Some(congvan::domain::DocumentEvent::Registered {
            possible_duplicates,
            ..
        }) = o.events.get(1)
        {
            flagged += usize::from(!possible_duplicates.is_empty());
        }
    }
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=12).collect::<Vec<u32>>(),
        "no gaps, no duplicates"
    );
    assert_eq!(
        flagged, 1,
        "the second 77/BTC-NSNN is flagged as a possible duplicate"
    );
    let register = projections::incoming_register(app.projections.pool(), today().year())
        .await
        .expect("register");
    assert_eq!(register.len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_append_nothing_and_say_why() {
    let (_d, app) = demo_app().await;
    let head = *app.store.head().borrow();
    let id = DocumentId(uuid::Uuid::now_v7());
    // A specialist cannot receive documents.
    let pdf = app.store_pdf(sample_pdf("x", 1)).await.expect("pdf");
    let err = app
        .execute(
            &user("chuyenvien"),
            id,
            receive(id, incoming_metadata("1/A-B", Secrecy::Normal), Some(pdf)),
            &RequestMeta::default(),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(err, AppError::Domain(DomainError::Forbidden(_))),
        "{err:?}"
    );
    // A secret document with content is refused with the reason, and its
    // file is not kept.
    let secret = app
        .inspect_upload(sample_pdf("secret content", 1))
        .await
        .expect("a valid pdf");
    let err = app
        .execute_with_upload(
            &user("vanthu"),
            id,
            receive(
                id,
                incoming_metadata("2/A-B", Secrecy::Secret),
                Some(secret.pdf.clone()),
            ),
            &RequestMeta::default(),
            &secret,
        )
        .await
        .expect_err("secret content");
    assert!(err.to_string().contains("state secrets"), "{err}");
    assert!(
        !app.blobs.contains(&secret.pdf.sha256),
        "refused content is not stored"
    );
    // Commands on a document that does not exist.
    let err = app
        .execute(
            &user("lanhdao"),
            DocumentId(uuid::Uuid::now_v7()),
            Action::SubmitToLeader {
                leader: user("lanhdao"),
            },
            &RequestMeta::default(),
        )
        .await
        .expect_err("no document");
    assert!(matches!(err, AppError::Domain(DomainError::NotFound)));
    // An unknown official.
    let err = app
        .execute(
            &user("nobody"),
            id,
            Action::Recall {
                reason: congvan::domain::values::Text::parse("r", "x", 10).expect("t"),
            },
            &RequestMeta::default(),
        )
        .await
        .expect_err("unknown");
    assert!(matches!(err, AppError::UnknownOfficial(_)));
    assert_eq!(*app.store.head().borrow(), head, "nothing was appended");
    // A secret document without content is registered by metadata only.
    let o = app
        .execute(
            &user("vanthu"),
            id,
            receive(id, incoming_metadata("3/A-B", Secrecy::TopSecret), None),
            &RequestMeta::default(),
        )
        .await
        .expect("metadata only");
    assert_eq!(o.document.status, Status::Registered);
    assert!(o.document.revisions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_upload_is_stored_with_its_command() {
    let (_d, app) = demo_app().await;
    let upload = app
        .inspect_upload(sample_pdf("uploaded scan", 2))
        .await
        .expect("a valid pdf");
    assert!(
        !app.blobs.contains(&upload.pdf.sha256),
        "not stored before the command"
    );
    let id = DocumentId(uuid::Uuid::now_v7());
    let o = app
        .execute_with_upload(
            &user("vanthu"),
            id,
            receive(
                id,
                incoming_metadata("6/A-B", Secrecy::Normal),
                Some(upload.pdf.clone()),
            ),
            &RequestMeta::default(),
            &upload,
        )
        .await
        .expect("accepted");
    assert_eq!(o.document.current_pdf(), Some(&upload.pdf));
    assert_eq!(upload.pdf.pages, 2);
    app.blobs
        .check(&upload.pdf.sha256)
        .expect("stored with its digest");
    // A command that does not carry the upload's reference is refused.
    let other = DocumentId(uuid::Uuid::now_v7());
    let err = app
        .execute_with_upload(
            &user("vanthu"),
            other,
            receive(other, incoming_metadata("7/A-B", Secrecy::Normal), None),
            &RequestMeta::default(),
            &upload,
        )
        .await
        .expect_err("mismatch");
    assert!(err.to_string().contains("uploaded file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_that_are_not_pdfs_are_refused_before_anything_is_stored() {
    let (d, app) = demo_app().await;
    let err = app
        .store_pdf(b"hello, this is not a PDF".to_vec())
        .await
        .expect_err("not a pdf");
    assert!(err.to_string().contains("not a PDF"), "{err}");
    let mut broken = sample_pdf("x", 1);
    broken.truncate(40);
    let err = app.store_pdf(broken).await.expect_err("broken");
    assert!(matches!(err, AppError::Pdf(_)), "{err:?}");
    assert!(app.blobs.list().expect("list").is_empty(), "nothing stored");
    let ok = app
        .store_pdf(sample_pdf("three pages", 3))
        .await
        .expect("ok");
    assert_eq!(ok.pages, 3);
    assert!(d.path().join("pdf").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_read_sees_the_command() {
    let (_d, app) = demo_app().await;
    let pdf = app.store_pdf(sample_pdf("x", 1)).await.expect("pdf");
    let id = DocumentId(uuid::Uuid::now_v7());
    for _ in 0..20 {
        let id = DocumentId(uuid::Uuid::now_v7());
        app.execute(
            &user("vanthu"),
            id,
            receive(
                id,
                incoming_metadata("9/A-B", Secrecy::Normal),
                Some(pdf.clone()),
            ),
            &RequestMeta::default(),
        )
        .await
        .expect("receive");
    }
    let o = app
        .execute(
            &user("vanthu"),
            id,
            receive(id, incoming_metadata("10/A-B", Secrecy::Normal), Some(pdf)),
            &RequestMeta::default(),
        )
        .await
        .expect("receive");
    // Immediately visible in every read model.
    let (doc, version) = projections::document(app.projections.pool(), id)
        .await
        .expect("read")
        .expect("projected");
    assert_eq!(version, o.version);
    assert_eq!(doc, o.document);
    let rows = projections::location(
        app.projections.pool(),
        id,
        today(),
        &app.config.policy.calendar,
    )
    .await
    .expect("location");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].holder_id.as_str(), rows[0].task.as_str()),
        ("VT", "submit")
    );
    let trail = projections::trail(app.projections.pool(), id)
        .await
        .expect("trail");
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].action, "received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_head_forwards_only_to_officials_of_the_unit() {
    use congvan::domain::decide::AssignmentSpec;
    use congvan::domain::model::{Holder, Role, Task};
    let (_d, app) = demo_app().await;
    let pdf = app.store_pdf(sample_pdf("x", 1)).await.expect("pdf");
    let id = DocumentId(uuid::Uuid::now_v7());
    let meta = RequestMeta::default();
    app.execute(
        &user("vanthu"),
        id,
        receive(id, incoming_metadata("5/A-B", Secrecy::Normal), Some(pdf)),
        &meta,
    )
    .await
    .expect("receive");
    app.execute(
        &user("vanthu"),
        id,
        Action::SubmitToLeader {
            leader: user("lanhdao"),
        },
        &meta,
    )
    .await
    .expect("submit");
    let th = Holder::Unit(congvan::domain::values::UnitId::parse("TH").expect("unit"));
    let o = app
        .execute(
            &user("lanhdao"),
            id,
            Action::Direct {
                instruction: None,
                assignments: vec![AssignmentSpec {
                    holder: th.clone(),
                    role: Role::Lead,
                    deadline: None,
                }],
            },
            &meta,
        )
        .await
        .expect("direct");
    let row = o
        .document
        .rows
        .iter()
        .find(|r| r.task == Task::Handle && r.holder == th)
        .expect("TH row")
        .id;
    let forward_to = |who: &str| Action::Forward {
        row,
        instruction: None,
        assignments: vec![AssignmentSpec {
            holder: Holder::User(user(who)),
            role: Role::Lead,
            deadline: None,
        }],
        // Whatever the caller claims, the service takes the unit's officials
        // from the directory.
        unit_members: vec![user(who)],
    };
    let err = app
        .execute(&user("truongphong"), id, forward_to("truongphongkt"), &meta)
        .await
        .expect_err("truongphongkt is in KT, not TH");
    assert!(
        err.to_string().contains("is not an official of unit TH"),
        "{err}"
    );
    let o = app
        .execute(&user("truongphong"), id, forward_to("chuyenvien"), &meta)
        .await
        .expect("chuyenvien is in TH");
    assert!(
        o.document
            .rows
            .iter()
            .any(|r| r.holder == Holder::User(user("chuyenvien")))
    );
}
