//! Read models fed with journeys that happened on chosen dates: statistics
//! (early / on time / late per unit) and "overdue" / "due soon", which are
//! computed when read, from the deadline and the date asked about.

use congvan::app::App;
use congvan::domain::decide::{Action, AssignmentSpec, Command, DeadlineSpec, Policy};
use congvan::domain::model::{Actor, Document, DocumentId, Holder, OfficialRole, Role, Task};
use congvan::domain::values::{Text, UnitId, UserId};
use congvan::domain::{DocumentEvent, decide, evolve};
use congvan::projections;
use congvan::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};
use jiff::civil::{Date, date};

use crate::journey::{demo_app, incoming_metadata, receive};

fn actor(user: &str, unit: &str, role: OfficialRole) -> Actor {
    Actor {
        user: UserId::parse(user).expect("user"),
        unit: UnitId::parse(unit).expect("unit"),
        roles: vec![role],
    }
}

/// Runs commands through `decide` on given dates and appends the events, as
/// if they had happened then.
struct Past<'a> {
    app: &'a App,
    id: DocumentId,
    state: Option<Document>,
    version: u64,
}

impl Past<'_> {
    async fn run(&mut self, on: Date, who: &Actor, action: Action) {
        let at = on
            .at(9, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
            .expect("time")
            .timestamp();
        let cmd = Command {
            actor: who.clone(),
            at,
            today: on,
            action,
        };
        let events = decide(&Policy::default(), &cmd, self.state.as_ref()).expect("valid");
        let expected = if self.version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(self.version)
        };
        let r = self
            .app
            .store
            .append(vec![StreamAppend {
                stream: self.id.stream(),
                expected,
                events: events
                    .iter()
                    .map(|e: &DocumentEvent| NewEvent {
                        event_id: uuid::Uuid::now_v7(),
                        event_type: e.event_type().into(),
                        schema_version: e.schema_version(),
                        payload: e.to_payload(),
                        metadata: format!("{{\"actor\":\"{}\"}}", who.user),
                    })
                    .collect(),
            }])
            .await
            .expect("append");
        self.app
            .projections
            .wait_for(r.last_position)
            .await
            .expect("projected");
        for e in &events {
            self.state = evolve(self.state.take(), e);
        }
        self.version += events.len() as u64;
    }

    fn row(&self, holder: &Holder) -> congvan::domain::model::RowId {
        self.state
            .as_ref()
            .and_then(|d| {
                d.rows
                    .iter()
                    .find(|r| r.task == Task::Handle && &r.holder == holder && r.status.is_open())
            })
            .map(|r| r.id)
            .expect("an open row")
    }
}

fn unit(s: &str) -> Holder {
    Holder::Unit(UnitId::parse(s).expect("unit"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_early_on_time_and_late_and_overdue_is_computed_when_read() {
    let (_d, app) = demo_app().await;
    let clerk = actor("vanthu", "VT", OfficialRole::Clerk);
    let leader = actor("lanhdao", "LD", OfficialRole::Leader);
    let th = actor("truongphong", "TH", OfficialRole::UnitHead);
    let pdf = app
        .store_pdf(congvan::pdf::sample::sample_pdf("x", 1))
        .await
        .expect("pdf");
    // Monday 2 November 2026: three documents directed with a deadline of
    // Friday 6 November, completed on the 5th (early), the 6th (on time) and
    // the 9th (late) by TH; KT coordinates each and stays open.
    let monday = date(2026, 11, 2);
    for (n, done_on) in [date(2026, 11, 5), date(2026, 11, 6), date(2026, 11, 9)]
        .into_iter()
        .enumerate()
    {
        let id = DocumentId(uuid::Uuid::now_v7());
        let mut past = Past {
            app: &app,
            id,
            state: None,
            version: 0,
        };
        let mut action = receive(
            id,
            incoming_metadata(
                &format!("{}/A-B", n + 1),
                congvan::domain::values::Secrecy::Normal,
            ),
            Some(pdf.clone()),
        );
        if let Action::Receive {
            register: Some(reg),
            metadata,
            ..
        } = &mut action
        {
            reg.arrival_number = n as u32 + 1;
            reg.year = 2026;
            reg.arrival_date = monday;
            metadata.issue_date = Some(monday);
        }
        past.run(monday, &clerk, action).await;
        past.run(
            monday,
            &clerk,
            Action::SubmitToLeader {
                leader: leader.user.clone(),
            },
        )
        .await;
        past.run(
            monday,
            &leader,
            Action::Direct {
                instruction: Some(Text::parse("instruction", "Giao xử lý", 100).expect("text")),
                assignments: vec![
                    AssignmentSpec {
                        holder: unit("TH"),
                        role: Role::Lead,
                        deadline: Some(DeadlineSpec::WorkingDays { working_days: 4 }),
                    },
                    AssignmentSpec {
                        holder: unit("KT"),
                        role: Role::Coordinate,
                        deadline: Some(DeadlineSpec::Date(date(2026, 11, 4))),
                    },
                ],
            },
        )
        .await;
        let row = past.row(&unit("TH"));
        past.run(monday, &th, Action::Accept { row }).await;
        past.run(
            done_on,
            &th,
            Action::Complete {
                row,
                result: None,
                reply_document: None,
            },
        )
        .await;
    }
    let pool = app.projections.pool();
    let stats = projections::stats(
        pool,
        date(2026, 11, 1),
        date(2026, 11, 30),
        None,
        date(2026, 11, 10),
    )
    .await
    .expect("stats");
    let th_stats = stats.iter().find(|s| s.unit == "TH").expect("TH");
    assert_eq!(
        (
            th_stats.early,
            th_stats.on_time,
            th_stats.late,
            th_stats.no_deadline
        ),
        (1, 1, 1, 0),
        "{stats:?}"
    );
    let kt_stats = stats.iter().find(|s| s.unit == "KT").expect("KT");
    assert_eq!(
        kt_stats.overdue_open, 3,
        "KT's rows were due on the 4th: {stats:?}"
    );
    // A unit filter and a period that excludes the late completion.
    let only_th = projections::stats(
        pool,
        date(2026, 11, 1),
        date(2026, 11, 8),
        Some("TH"),
        date(2026, 11, 10),
    )
    .await
    .expect("stats");
    assert_eq!(only_th.len(), 1);
    assert_eq!(
        (only_th[0].early, only_th[0].on_time, only_th[0].late),
        (1, 1, 0)
    );

    // Overdue / due soon depend on the date asked about, not on stored flags.
    let calendar = &app.config.policy.calendar;
    let kt_holder = unit("KT");
    let inbox_on = |day: Date| {
        let kt_holder = kt_holder.clone();
        async move {
            projections::inbox(pool, &kt_holder, day, calendar)
                .await
                .expect("inbox")
        }
    };
    let before = inbox_on(date(2026, 11, 2)).await;
    assert_eq!(before.len(), 3);
    assert!(
        before
            .iter()
            .all(|r| !r.deadline.overdue && r.deadline.due_soon)
    );
    let after = inbox_on(date(2026, 11, 5)).await;
    assert!(
        after
            .iter()
            .all(|r| r.deadline.overdue && !r.deadline.due_soon)
    );
    let far = inbox_on(date(2026, 10, 1)).await;
    assert!(
        far.iter()
            .all(|r| !r.deadline.overdue && !r.deadline.due_soon)
    );
}
