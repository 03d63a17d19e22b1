//! The application: the store, the PDF folder and the projections of one data
//! directory, and the service that runs commands: load -> fold -> decide ->
//! append -> wait until the projections show the effect.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::blobs::BlobStore;
use crate::domain::access::{AUTH_STREAM, AuthEvent, ViewKind, Viewed};
use crate::domain::decide::{Action, Command, DomainError, Policy, RegistrationFacts, agency_date};
use crate::domain::directory::{self, DirectoryEvent};
use crate::domain::model::{Actor, Document, DocumentId, PdfRef, Series};
use crate::domain::register::{NumberTaken, RegisterKind};
use crate::domain::values::UserId;
use crate::domain::{DocumentEvent, decide, evolve};
use crate::pdf::{PdfError, PdfLimits};
use crate::projections::{self, ProjectionError, Projections};
use crate::store::{EventStore, ExpectedVersion, NewEvent, Store, StoreError, StreamAppend};

/// Settings of one deployment.
#[derive(Clone, Debug)]
pub struct Config {
    /// PDFs (and, for the embedded store, the log and read models).
    pub data_dir: PathBuf,
    /// A `postgres://` URL: the log and the read models live there instead
    /// of in the data directory.
    pub database_url: Option<String>,
    pub policy: Policy,
    pub pdf_limits: PdfLimits,
    /// Trust anchors and CRLs: signatures are judged with them.
    pub trust: Arc<crate::signing::Trust>,
    /// How officials (and the agency's seal) sign.
    pub keystore: Arc<crate::signing::Keystore>,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            database_url: None,
            policy: Policy::default(),
            pdf_limits: PdfLimits::default(),
            trust: Arc::default(),
            keystore: Arc::default(),
        }
    }

    /// The development PKI of the repository (./keys-dev, when it exists):
    /// its roots are the trust anchors and keys-dev/keystore.toml the
    /// keystore. For the demo and tests only.
    pub fn with_dev_keys(mut self) -> Result<Self, crate::signing::ConfigError> {
        let dir = Path::new(crate::signing::DEV_KEYS);
        if dir.is_dir() {
            self.trust = Arc::new(crate::signing::Trust::load(dir)?);
            let keystore = dir.join("keystore.toml");
            if keystore.exists() {
                self.keystore = Arc::new(crate::signing::Keystore::load(&keystore)?);
            }
        }
        Ok(self)
    }
}

/// The sub-folder of the data directory that holds PDFs by digest.
pub const PDF_DIR: &str = "pdf";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{0}")]
    Pdf(#[from] PdfError),
    #[error("unknown official {0}")]
    UnknownOfficial(String),
    #[error("the document was changed by someone else at the same time; try again")]
    Contention,
    /// The caller's `If-Match` names another version than the document's.
    #[error("the document is at version {actual}, not {expected}: reload it and try again")]
    StaleVersion { expected: u64, actual: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error("projection database error")]
    Database(#[from] sqlx::Error),
    #[error("stored event at position {position} cannot be read: {reason}")]
    Decode { position: u64, reason: String },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A signature could not be made or does not verify (the keystore has
    /// no key for the signer, the PDF cannot be signed, the signed file
    /// does not verify).
    #[error("{0}")]
    Signing(String),
}

/// Request facts that go into each event's metadata.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct RequestMeta {
    /// The official the actor acted for, when not for themself.
    pub on_behalf_of: Option<String>,
    /// Ties together the commands of one piece of work.
    pub correlation_id: Option<String>,
    /// The message or event that caused this command.
    pub causation_id: Option<String>,
    /// The request's identifier at the edge.
    pub request_id: Option<String>,
    /// The network address the request came from.
    pub client_address: Option<String>,
    /// The W3C Trace Context `traceparent` of the request.
    pub traceparent: Option<String>,
}

/// The metadata of the events a command appends (document and register
/// events): who gave the command, and the request's facts.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct EventMetadata<'a> {
    /// The official who gave the command.
    pub(crate) actor: &'a UserId,
    #[serde(flatten)]
    pub(crate) request: &'a RequestMeta,
}

/// An uploaded PDF, parsed and hashed but not stored yet.
#[derive(Clone, Debug)]
pub struct Upload {
    pub pdf: PdfRef,
    bytes: Vec<u8>,
}

/// What a command did.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub document: Document,
    pub version: u64,
    pub events: Vec<DocumentEvent>,
    pub last_position: u64,
}

pub struct App {
    pub config: Config,
    pub store: Store,
    pub blobs: BlobStore,
    pub projections: Projections,
    /// One lock per register and year: commands that take a number from the
    /// same register queue here instead of racing on its expected version.
    /// (The expected version still guards against any other writer.)
    register_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Two-phase signatures waiting for their value.
    pub(crate) sessions: crate::signing::Sessions,
}

const ATTEMPTS: usize = 8;

impl App {
    /// Opens the data directory (created when missing) and starts the projector.
    pub async fn open(config: Config) -> Result<App, AppError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store = Store::open(&config.data_dir, config.database_url.as_deref()).await?;
        let blobs = BlobStore::open(config.data_dir.join(PDF_DIR))?;
        let projections = Projections::start(&config.data_dir, store.clone()).await?;
        Ok(App {
            config,
            store,
            blobs,
            projections,
            register_locks: Default::default(),
            sessions: Default::default(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// Parses an uploaded PDF (off the async reactor) and computes its
    /// digest. Nothing is stored: give the upload to [`App::execute_with_upload`],
    /// which stores it only once the command has been accepted — so refused
    /// content (a secret document's file, say) is never kept.
    pub async fn inspect_upload(&self, bytes: Vec<u8>) -> Result<Upload, AppError> {
        let limits = self.config.pdf_limits;
        tokio::task::spawn_blocking(move || {
            let info = crate::pdf::inspect(&bytes, &limits)?;
            let pdf = PdfRef {
                sha256: crate::digest::Sha256Digest::of(&bytes),
                pages: info.pages,
                bytes: bytes.len() as u64,
            };
            Ok(Upload { pdf, bytes })
        })
        .await
        .map_err(|e| AppError::Io(std::io::Error::other(e)))?
    }

    /// Parses and stores a PDF whose acceptance is not in question (demo
    /// content, fixtures). Uploads that come with a command go through
    /// [`App::inspect_upload`] and [`App::execute_with_upload`].
    pub async fn store_pdf(&self, bytes: Vec<u8>) -> Result<PdfRef, AppError> {
        let upload = self.inspect_upload(bytes).await?;
        self.put_upload(&upload).await?;
        Ok(upload.pdf)
    }

    async fn put_upload(&self, upload: &Upload) -> Result<(), AppError> {
        let blobs = self.blobs.clone();
        let bytes = upload.bytes.clone();
        tokio::task::spawn_blocking(move || blobs.put(&bytes))
            .await
            .map_err(|e| AppError::Io(std::io::Error::other(e)))??;
        Ok(())
    }

    /// The official as the directory knows them.
    pub async fn actor(&self, user: &UserId) -> Result<Actor, AppError> {
        let o = projections::official(self.projections.pool(), user.as_str())
            .await?
            .ok_or_else(|| AppError::UnknownOfficial(user.to_string()))?;
        Ok(Actor {
            user: user.clone(),
            unit: crate::domain::values::UnitId::parse(&o.unit)
                .map_err(|e| AppError::UnknownOfficial(e.to_string()))?,
            roles: o.roles,
        })
    }

    /// Appends directory events (units, officials) and waits for the projection.
    pub async fn define_directory(&self, events: Vec<DirectoryEvent>) -> Result<(), AppError> {
        self.change_directory(events, ExpectedVersion::Any, &RequestMeta::default(), None)
            .await
    }

    /// The directory stream's version, for [`App::change_directory`].
    pub async fn directory_version(&self) -> Result<Option<u64>, AppError> {
        Ok(self.store.stream_version(directory::STREAM).await?)
    }

    /// Appends directory changes made by `admin` if the directory is still
    /// at `expected` (checked against the projection by the caller);
    /// otherwise [`AppError::Contention`] and nothing is appended.
    pub async fn change_directory(
        &self,
        events: Vec<DirectoryEvent>,
        expected: ExpectedVersion,
        meta: &RequestMeta,
        admin: Option<&UserId>,
    ) -> Result<(), AppError> {
        let metadata = match admin {
            Some(a) => event_metadata(a, meta),
            None => "{}".to_string(),
        };
        let events = events
            .iter()
            .map(|e| NewEvent {
                event_id: new_event_id(),
                event_type: e.event_type().to_string(),
                schema_version: DirectoryEvent::SCHEMA_VERSION,
                payload: e.to_payload(),
                metadata: metadata.clone(),
            })
            .collect();
        let r = self
            .store
            .append(vec![StreamAppend {
                stream: directory::STREAM.to_string(),
                expected,
                events,
            }])
            .await
            .map_err(|e| match e {
                StoreError::WrongExpectedVersion { .. } => AppError::Contention,
                other => other.into(),
            })?;
        self.projections.wait_for(r.last_position).await?;
        Ok(())
    }

    /// Records that `user` read document `id`, in the stream
    /// `views-<id>` (never the document's own: a read changes no version),
    /// and waits until the trail shows it.
    pub async fn record_view(
        &self,
        user: &UserId,
        id: DocumentId,
        what: ViewKind,
        revision: Option<u32>,
        meta: &RequestMeta,
    ) -> Result<(), AppError> {
        let view = Viewed {
            at: Timestamp::now(),
            user: user.clone(),
            what,
            revision,
        };
        let r = self
            .store
            .append(vec![StreamAppend {
                stream: Viewed::stream(id),
                expected: ExpectedVersion::Any,
                events: vec![NewEvent {
                    event_id: new_event_id(),
                    event_type: Viewed::EVENT_TYPE.to_string(),
                    schema_version: Viewed::SCHEMA_VERSION,
                    payload: serde_json::to_string(&view).unwrap_or_default(),
                    metadata: event_metadata(user, meta),
                }],
            }])
            .await?;
        self.projections.wait_for(r.last_position).await?;
        Ok(())
    }

    /// Appends a sign-in, failed sign-in or sign-out to the stream `auth`.
    pub async fn record_auth(&self, event: &AuthEvent, meta: &RequestMeta) -> Result<(), AppError> {
        self.store
            .append(vec![StreamAppend {
                stream: AUTH_STREAM.to_string(),
                expected: ExpectedVersion::Any,
                events: vec![NewEvent {
                    event_id: new_event_id(),
                    event_type: event.event_type().to_string(),
                    schema_version: AuthEvent::SCHEMA_VERSION,
                    payload: event.to_payload(),
                    metadata: serde_json::to_string(meta).unwrap_or_else(|_| "{}".into()),
                }],
            }])
            .await?;
        Ok(())
    }

    /// Every `auth` event, oldest first (the server rebuilds its list of
    /// revoked tokens from it when it starts).
    pub async fn auth_events(&self) -> Result<Vec<AuthEvent>, AppError> {
        let mut out = Vec::new();
        let mut from = 1;
        loop {
            let batch = self.store.read_stream(AUTH_STREAM, from, 1000).await?;
            let Some(last) = batch.last() else { break };
            from = last.version + 1;
            for e in batch {
                out.push(AuthEvent::decode(&e.event_type, &e.payload).map_err(|err| {
                    AppError::Decode {
                        position: e.position,
                        reason: err.to_string(),
                    }
                })?);
            }
        }
        Ok(out)
    }

    /// Loads a document's events and folds them.
    pub async fn load(&self, id: DocumentId) -> Result<(Option<Document>, u64), AppError> {
        let stream = id.stream();
        let mut state = None;
        let mut version = 0;
        loop {
            let events = self.store.read_stream(&stream, version + 1, 1000).await?;
            if events.is_empty() {
                break;
            }
            for e in events {
                let ev = DocumentEvent::decode(&e.event_type, e.schema_version, &e.payload)
                    .map_err(|err| AppError::Decode {
                        position: e.position,
                        reason: err.to_string(),
                    })?;
                state = evolve(state, &ev);
                version = e.version;
            }
        }
        Ok((state, version))
    }

    /// Runs one command for `user` on document `id`.
    pub async fn execute(
        &self,
        user: &UserId,
        id: DocumentId,
        action: Action,
        meta: &RequestMeta,
    ) -> Result<Outcome, AppError> {
        self.run(user, id, action, meta, &[], None).await
    }

    /// Runs a command only if the document's stream is at version
    /// `if_match` (HTTP `If-Match`); otherwise [`AppError::StaleVersion`],
    /// and nothing is appended. `upload` as for [`App::execute_with_upload`].
    pub async fn execute_if(
        &self,
        user: &UserId,
        id: DocumentId,
        action: Action,
        meta: &RequestMeta,
        upload: Option<&Upload>,
        if_match: Option<u64>,
    ) -> Result<Outcome, AppError> {
        self.execute_with_uploads(user, id, action, meta, upload.as_slice(), if_match)
            .await
    }

    /// As [`App::execute_if`], for a command that carries several files
    /// (a seal over the document and its attachments): every upload must be
    /// one the command names; all are stored once `decide` accepts it.
    pub async fn execute_with_uploads(
        &self,
        user: &UserId,
        id: DocumentId,
        action: Action,
        meta: &RequestMeta,
        uploads: &[&Upload],
        if_match: Option<u64>,
    ) -> Result<Outcome, AppError> {
        for upload in uploads {
            check_carried(&action, upload)?;
        }
        self.run(user, id, action, meta, uploads, if_match).await
    }

    /// Runs a command that carries an uploaded PDF (its `PdfRef` is
    /// `upload.pdf`): the file is stored after `decide` accepts the command
    /// and before its events are appended; a refused command stores nothing.
    pub async fn execute_with_upload(
        &self,
        user: &UserId,
        id: DocumentId,
        action: Action,
        meta: &RequestMeta,
        upload: &Upload,
    ) -> Result<Outcome, AppError> {
        self.execute_if(user, id, action, meta, Some(upload), None)
            .await
    }

    async fn run(
        &self,
        user: &UserId,
        id: DocumentId,
        action: Action,
        meta: &RequestMeta,
        uploads: &[&Upload],
        if_match: Option<u64>,
    ) -> Result<Outcome, AppError> {
        let actor = self.actor(user).await?;
        let metadata = event_metadata(user, meta);
        let _register_guard = match register_lock_key(&action) {
            Some(key) => {
                let lock = {
                    let mut locks = self
                        .register_locks
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    locks.entry(key).or_default().clone()
                };
                Some(lock.lock_owned().await)
            }
            None => None,
        };
        for _ in 0..ATTEMPTS {
            let (state, version) = self.load(id).await?;
            if let Some(expected) = if_match
                && expected != version
            {
                return Err(AppError::StaleVersion {
                    expected,
                    actual: version,
                });
            }
            let now = Timestamp::now();
            let today = agency_date(now);
            let mut action = action.clone();
            let register = self
                .fill_facts(
                    &mut action,
                    &actor,
                    state.as_ref(),
                    uploads.first().copied(),
                )
                .await?;
            let cmd = Command {
                actor: actor.clone(),
                at: now,
                today,
                action,
            };
            let events = decide(&self.config.policy, &cmd, state.as_ref())?;
            let mut appends = vec![StreamAppend {
                stream: id.stream(),
                expected: if version == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(version)
                },
                events: events
                    .iter()
                    .map(|e| NewEvent {
                        event_id: new_event_id(),
                        event_type: e.event_type().to_string(),
                        schema_version: e.schema_version(),
                        payload: e.to_payload(),
                        metadata: metadata.clone(),
                    })
                    .collect(),
            }];
            if let Some((stream, expected, number)) = register {
                let taken = NumberTaken {
                    number,
                    document_id: id,
                    at: now,
                };
                appends.push(StreamAppend {
                    stream,
                    expected,
                    events: vec![NewEvent {
                        event_id: new_event_id(),
                        event_type: NumberTaken::EVENT_TYPE.to_string(),
                        schema_version: NumberTaken::SCHEMA_VERSION,
                        payload: serde_json::to_string(&taken).unwrap_or_default(),
                        metadata: metadata.clone(),
                    }],
                });
            }
            for upload in uploads {
                if !self.blobs.contains(&upload.pdf.sha256) {
                    self.put_upload(upload).await?;
                }
            }
            match self.store.append(appends).await {
                Ok(r) => {
                    self.projections.wait_for(r.last_position).await?;
                    let document = events
                        .iter()
                        .fold(state, evolve)
                        .ok_or(DomainError::NotFound)?;
                    return Ok(Outcome {
                        document,
                        version: version + events.len() as u64,
                        events,
                        last_position: r.last_position,
                    });
                }
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Contention)
    }

    /// Fills the facts a command takes from registers and read models: the
    /// officials of the forwarder's unit; the next number of a register (returned with the register's stream and
    /// expected version, to append in the same transaction) and possible
    /// duplicates.
    async fn fill_facts(
        &self,
        action: &mut Action,
        actor: &Actor,
        state: Option<&Document>,
        upload: Option<&Upload>,
    ) -> Result<Option<(String, ExpectedVersion, u32)>, AppError> {
        let (kind, year, facts_metadata) = match action {
            Action::Forward { unit_members, .. } => {
                *unit_members =
                    projections::unit_members(self.projections.pool(), actor.unit.as_str())
                        .await?
                        .iter()
                        .filter_map(|u| UserId::parse(u).ok())
                        .collect();
                return Ok(None);
            }
            Action::Receive {
                register: Some(reg),
                metadata,
                ..
            } => (
                RegisterKind::Incoming,
                reg.arrival_date.year(),
                Some(metadata.clone()),
            ),
            Action::Register(reg) => (
                RegisterKind::Incoming,
                reg.arrival_date.year(),
                state.map(|d| d.metadata.clone()),
            ),
            Action::Number {
                issue_date, series, ..
            } => {
                let series = state
                    .map(|d| Series::for_secrecy(d.metadata.secrecy))
                    .unwrap_or(*series);
                (RegisterKind::outgoing(series), issue_date.year(), None)
            }
            _ => return Ok(None),
        };
        // Decree 30: the clerk checks an incoming document's authenticity
        // and integrity when registering it.
        let signatures = match action {
            Action::Receive {
                register: Some(_),
                pdf: Some(_),
                ..
            } => match upload {
                Some(u) => Some(self.verdicts_of(u.bytes.clone()).await?),
                None => None,
            },
            Action::Register(_) => match state.and_then(|d| d.current_pdf()) {
                Some(pdf) => Some(self.verdicts_of(self.pdf_bytes(&pdf.sha256).await?).await?),
                None => None,
            },
            _ => None,
        };
        let stream = kind.stream(year);
        let current = self.store.stream_version(&stream).await?;
        let number = NumberTaken::next_number(current);
        let expected = match current {
            None => ExpectedVersion::NoStream,
            Some(v) => ExpectedVersion::Exact(v),
        };
        let duplicates = match facts_metadata {
            Some(m) => match (&m.issuer, &m.number_notation) {
                (Some(i), Some(nn)) => {
                    projections::duplicates(
                        self.projections.pool(),
                        i.code.as_str(),
                        &nn.to_string(),
                    )
                    .await?
                }
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        match action {
            Action::Receive {
                register: Some(reg),
                ..
            }
            | Action::Register(reg) => {
                *reg = RegistrationFacts {
                    arrival_number: number,
                    year,
                    arrival_date: reg.arrival_date,
                    possible_duplicates: duplicates,
                    signatures,
                };
            }
            Action::Number {
                number: n,
                year: y,
                series,
                ..
            } => {
                *n = number;
                *y = year;
                *series = match kind {
                    RegisterKind::OutgoingSecret => Series::Secret,
                    _ => Series::Regular,
                };
            }
            _ => {}
        }
        Ok(Some((stream, expected, number)))
    }
}

/// An upload must be the file the command carries.
fn check_carried(action: &Action, upload: &Upload) -> Result<(), AppError> {
    let carried: Vec<&PdfRef> = match action {
        Action::Receive { pdf, .. } | Action::Draft { pdf, .. } => pdf.iter().collect(),
        Action::AddRevision { pdf, .. } | Action::AddAttachment { pdf, .. } => vec![pdf],
        Action::Sign {
            facts, attachments, ..
        } => std::iter::once(&facts.pdf)
            .chain(attachments.iter().map(|a| &a.pdf))
            .collect(),
        _ => Vec::new(),
    };
    if !carried.contains(&&upload.pdf) {
        return Err(DomainError::Invalid {
            field: "file",
            rule: "the command must carry the uploaded file's reference".into(),
        }
        .into());
    }
    Ok(())
}

/// Which register (and year) a command takes a number from, if any.
fn register_lock_key(action: &Action) -> Option<String> {
    match action {
        Action::Receive {
            register: Some(reg),
            ..
        }
        | Action::Register(reg) => Some(format!("incoming-{}", reg.arrival_date.year())),
        Action::Number { issue_date, .. } => Some(format!("outgoing-{}", issue_date.year())),
        _ => None,
    }
}

pub(crate) fn event_metadata(user: &UserId, meta: &RequestMeta) -> String {
    serde_json::to_string(&EventMetadata {
        actor: user,
        request: meta,
    })
    .unwrap_or_else(|_| "{}".into())
}

/// Event ids are UUIDv7: unique, and ordered by time for index locality.
pub(crate) fn new_event_id() -> Uuid {
    Uuid::now_v7()
}
