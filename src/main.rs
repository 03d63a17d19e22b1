use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The allocator the product runs with (glibc's malloc spent a quarter of the
// projector's time in consolidation under this load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use congvan::app::{App, Config, PDF_DIR};
use congvan::audit::verify_log;
use congvan::blobs::BlobStore;
use congvan::store::Store;

/// congvan: official documents of Vietnamese state agencies, as event streams.
#[derive(Parser, Debug)]
#[command(name = "congvan", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(clap::Args, Debug, Clone)]
struct DataDir {
    /// The data directory (created when missing): congvan.db, projections.db, pdf/.
    #[arg(long, env = "CONGVAN_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Keep the log and the read models in this PostgreSQL database
    /// (postgres://user@host:port/db) instead of the data directory, which
    /// then holds the PDFs only.
    #[arg(long, env = "CONGVAN_DATABASE_URL")]
    database_url: Option<String>,
}

impl DataDir {
    async fn open_store(&self) -> Result<Store, congvan::store::StoreError> {
        std::fs::create_dir_all(&self.data_dir)?;
        Store::open(&self.data_dir, self.database_url.as_deref()).await
    }

    fn config(&self) -> Config {
        let mut config = Config::new(&self.data_dir);
        config.database_url = self.database_url.clone();
        config
    }
}

#[derive(Subcommand, Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only complicate the matches"
)]
enum Commands {
    /// Run the HTTP API. Settings: defaults < --config FILE (TOML) <
    /// CONGVAN_* environment variables < these flags.
    Serve {
        /// A TOML settings file (also CONGVAN_CONFIG).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The data directory (default ./data, created when missing).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A postgres:// URL for the log and the read models (also
        /// CONGVAN_DATABASE_URL); default: SQLite files in the data directory.
        #[arg(long)]
        database_url: Option<String>,
        /// ADDR:PORT to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// ADDR:PORT for Prometheus metrics (default 127.0.0.1:9464; "" turns them off).
        #[arg(long)]
        metrics_listen: Option<String>,
        /// Seed the demo organisation and its users (password "demo") into an
        /// empty data directory; a directory with data is left unchanged.
        #[arg(long)]
        demo: bool,
    },
    /// Create the demo organisation and walk one incoming and one outgoing
    /// document through their whole journey, printing where each one sits.
    Demo {
        #[command(flatten)]
        dir: DataDir,
        /// Working-day calendar overrides (JSON: {"years": {"2027": {"days_off":
        /// [..], "working_days": [..]}}}), merged over the built-in Vietnamese
        /// holidays.
        #[arg(long, env = "CONGVAN_CALENDAR")]
        calendar: Option<PathBuf>,
    },
    /// The event log.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// The read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Back up an embedded data directory into the new directory OUT: a
    /// consistent snapshot of the log, the PDFs, token.key and a manifest.
    /// Safe while a server runs on the data directory.
    Backup {
        /// The data directory to back up.
        #[arg(long, env = "CONGVAN_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The backup directory to create (it must not exist, or be empty).
        out: PathBuf,
    },
    /// Restore a backup into a new data directory: verify the hash chain,
    /// every PDF and the manifest, rebuild the projections, then move the
    /// directory into place. Nothing is created when a check fails.
    Restore {
        /// The backup directory (made by `congvan backup`).
        backup: PathBuf,
        /// The data directory to create (it must not exist, or be empty).
        #[arg(long, env = "CONGVAN_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Copy an embedded log into an empty PostgreSQL database, event by
    /// event as stored, and verify it there. Stop the server first.
    Migrate {
        /// The embedded data directory to migrate (opened read-only).
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database: postgres://user[:password]@host[:port]/db
        /// (or PGPASSWORD / ~/.pgpass for the password).
        #[arg(long)]
        to: String,
        /// The PostgreSQL deployment's data directory, to copy the PDFs
        /// into; without it, that deployment uses the source's directory.
        #[arg(long)]
        to_data_dir: Option<PathBuf>,
    },
    /// PDF signatures (PAdES).
    Pdf {
        #[command(subcommand)]
        command: PdfCommand,
    },
    /// Generate the development PKI (root and intermediate CA, the demo
    /// signers, a time-stamping certificate, CRLs) — for development only.
    KeysDev {
        /// The directory to write (must be new or empty).
        #[arg(long, default_value = "keys-dev")]
        out: PathBuf,
        /// Where the certificates' CRL distribution points say the CRLs are.
        #[arg(long, default_value = congvan::pades::devpki::DEFAULT_CRL_BASE)]
        crl_base: String,
        /// Write only the demo signature and seal images (PNG) into OUT,
        /// leaving its keys and certificates as they are.
        #[arg(long)]
        images_only: bool,
    },
    /// Diagnostics for tests and benchmarks.
    #[command(hide = true)]
    Debug {
        #[command(subcommand)]
        command: DebugCommand,
    },
}

#[derive(Subcommand, Debug)]
enum DebugCommand {
    /// Fill a data directory for load benchmarks: the demo organisation,
    /// UNITS units of SPECIALISTS specialists (password "demo"), and
    /// DOCUMENTS incoming documents walked to "in progress" (10 events each, the register's included).
    Load {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long, default_value_t = 100_000)]
        documents: usize,
        #[arg(long, default_value_t = 50)]
        units: usize,
        #[arg(long, default_value_t = 20)]
        specialists: usize,
    },
    /// Append small events from N concurrent writers until killed, printing
    /// "ack <position> <event id>" after each append's commit has returned.
    AppendLoop {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long, default_value_t = 8)]
        writers: usize,
    },
}

#[derive(Subcommand, Debug)]
enum PdfCommand {
    /// Sign IN.pdf as one incremental revision (PAdES B-B) and write OUT.pdf;
    /// on any failure OUT is not written and the reason is printed.
    Sign {
        /// The signer's private key: PKCS#8 PEM, RSA 2048-4096 or ECDSA P-256
        /// (or the key in a PKCS#11 token: --pkcs11-module).
        #[arg(
            long,
            required_unless_present = "pkcs11_module",
            conflicts_with = "pkcs11_module"
        )]
        key: Option<PathBuf>,
        /// A PKCS#11 module holding the key (e.g. /usr/lib/softhsm/libsofthsm2.so).
        #[arg(long, requires_all = ["token", "key_label"])]
        pkcs11_module: Option<PathBuf>,
        /// The token's label (with --pkcs11-module).
        #[arg(long)]
        token: Option<String>,
        /// The private key's label on the token (with --pkcs11-module).
        #[arg(long)]
        key_label: Option<String>,
        /// The token's user PIN (with --pkcs11-module).
        #[arg(long, env = "CONGVAN_PKCS11_PIN", hide_env_values = true)]
        pin: Option<String>,
        /// The signer's certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// The rest of the chain (PEM, issuer first).
        #[arg(long)]
        chain: Option<PathBuf>,
        /// The signature field's name (default: Signature1, 2, ...).
        #[arg(long)]
        field: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        location: Option<String>,
        /// Sign RSA keys with RSASSA-PSS instead of PKCS#1 v1.5.
        #[arg(long)]
        pss: bool,
        /// An RFC 3161 time-stamping authority (http://...): PAdES B-T.
        #[arg(long)]
        tsa: Option<String>,
        #[command(flatten)]
        look: VisibleArgs,
        input: PathBuf,
        output: PathBuf,
    },
    /// Two-phase signing, phase 1: write the signing revision and SESSION
    /// (JSON); print the SHA-256 to sign. The key signs elsewhere (a token,
    /// a remote signing service).
    Prepare {
        /// The signer's certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        chain: Option<PathBuf>,
        /// What the key will make.
        #[arg(long, value_enum)]
        algorithm: KeyAlgorithm,
        #[arg(long)]
        field: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        location: Option<String>,
        /// Also write the exact bytes to sign (the DER signed attributes).
        #[arg(long)]
        data_out: Option<PathBuf>,
        #[command(flatten)]
        look: VisibleArgs,
        input: PathBuf,
        session: PathBuf,
    },
    /// Fill text fields of IN.pdf (made by `pdf sign --text-field`) as one
    /// incremental revision that leaves earlier signatures valid (form
    /// filling), and write OUT.pdf.
    Fill {
        /// NAME=VALUE (repeatable).
        #[arg(long = "value", value_name = "NAME=VALUE", required = true)]
        values: Vec<String>,
        input: PathBuf,
        output: PathBuf,
    },
    /// Two-phase signing, phase 2: complete SESSION with the key's signature
    /// over the prepared data (or with a whole CMS) and write OUT.pdf.
    Finish {
        /// The raw signature (RSA bytes; ECDSA DER or r||s).
        #[arg(long, required_unless_present = "cms", conflicts_with = "cms")]
        signature: Option<PathBuf>,
        /// A whole CMS SignedData over the ByteRange, made elsewhere.
        #[arg(long)]
        cms: Option<PathBuf>,
        session: PathBuf,
        output: PathBuf,
    },
    /// Verify every signature of FILE.pdf (ETSI EN 319 102-1 indications):
    /// exit 0 when every signature is TOTAL-PASSED, 1 when one is not or
    /// there is none, 2 when the file cannot be read. Never uses the network.
    Verify {
        /// A trust anchor (PEM or DER certificate); repeatable. Without
        /// one, no chain is found.
        #[arg(long = "trust", value_name = "ROOT.pem")]
        trust: Vec<PathBuf>,
        /// A CRL (DER or PEM) to check the signers' certificates against;
        /// repeatable.
        #[arg(long = "crl", value_name = "FILE")]
        crl: Vec<PathBuf>,
        /// Print exactly one JSON object on stdout.
        #[arg(long)]
        json: bool,
        input: PathBuf,
    },
}

/// How a signature shows, and the empty fields its revision creates.
#[derive(clap::Args, Debug, Clone)]
struct VisibleArgs {
    /// Show the signature on page PAGE in the rectangle X,Y,W,H (points
    /// from the page's lower-left corner), e.g. 1,350,80,200,90.
    #[arg(long, value_name = "PAGE,X,Y,W,H")]
    visible: Option<String>,
    /// A PNG (a handwritten signature, a seal) drawn in the rectangle.
    #[arg(long, value_name = "IMG.png")]
    image: Option<PathBuf>,
    /// A line of text, under the image if there is one (repeatable).
    #[arg(long = "text", value_name = "LINE")]
    text: Vec<String>,
    /// The text's colour, R,G,B from 0 to 1 (default 0,0,0.6: blue; a seal: 0.8,0,0).
    #[arg(long, value_name = "R,G,B")]
    color: Option<String>,
    /// Also create an empty text field, filled later with `pdf fill`
    /// without breaking this signature: NAME,PAGE,X,Y,W,H[,SIZE] (repeatable).
    #[arg(long = "text-field", value_name = "NAME,PAGE,X,Y,W,H[,SIZE]")]
    text_fields: Vec<String>,
}

impl VisibleArgs {
    /// The signing options these flags ask for; a malformed value is a
    /// one-line error naming the flag.
    fn options(
        &self,
        field: Option<String>,
        reason: Option<String>,
        location: Option<String>,
    ) -> Result<congvan::pades::sign::SignOptions, String> {
        let numbers = |flag: &str, text: &str, n: std::ops::RangeInclusive<usize>| {
            let parts: Vec<&str> = text.split(',').map(str::trim).collect();
            if !n.contains(&parts.len()) {
                return Err(format!(
                    "--{flag} {text:?}: expected {} comma-separated numbers",
                    n.start()
                ));
            }
            parts
                .iter()
                .map(|p| {
                    p.parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| format!("--{flag} {text:?}: {p:?} is not a number"))
                })
                .collect::<Result<Vec<f32>, String>>()
        };
        let page = |flag: &str, text: &str, v: f32| {
            if v.fract() == 0.0 && v >= 1.0 && v <= u32::MAX as f32 {
                Ok(v as u32)
            } else {
                Err(format!("--{flag} {text:?}: the page is a number from 1"))
            }
        };
        let visible = match &self.visible {
            None if self.image.is_some() || !self.text.is_empty() || self.color.is_some() => {
                return Err("--image, --text and --color need --visible PAGE,X,Y,W,H".into());
            }
            None => None,
            Some(text) => {
                let n = numbers("visible", text, 5..=5)?;
                let color = match &self.color {
                    None => congvan::pades::appearance::PERSON_BLUE,
                    Some(c) => {
                        let v = numbers("color", c, 3..=3)?;
                        if v.iter().any(|x| !(0.0..=1.0).contains(x)) {
                            return Err(format!("--color {c:?}: each component is from 0 to 1"));
                        }
                        [v[0], v[1], v[2]]
                    }
                };
                let image = match &self.image {
                    None => None,
                    Some(p) => Some(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?),
                };
                if image.is_none() && self.text.is_empty() {
                    return Err("--visible: give --image, --text, or both".into());
                }
                Some(congvan::pades::Visible {
                    page: page("visible", text, n[0])?,
                    rect: [n[1], n[2], n[3], n[4]],
                    image,
                    lines: self.text.clone(),
                    color,
                })
            }
        };
        let mut text_fields = Vec::new();
        for text in &self.text_fields {
            let (name, rest) = text.split_once(',').ok_or_else(|| {
                format!("--text-field {text:?}: expected NAME,PAGE,X,Y,W,H[,SIZE]")
            })?;
            let n = numbers("text-field", rest, 5..=6)?;
            text_fields.push(congvan::pades::TextField {
                name: name.trim().to_string(),
                page: page("text-field", text, n[0])?,
                rect: [n[1], n[2], n[3], n[4]],
                font_size: n.get(5).copied().unwrap_or(12.0),
            });
        }
        Ok(congvan::pades::sign::SignOptions {
            field,
            reason,
            location,
            reserve_extra: 0,
            visible,
            text_fields,
        })
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum KeyAlgorithm {
    /// RSA, PKCS#1 v1.5 with SHA-256.
    Rsa,
    /// RSASSA-PSS with SHA-256.
    RsaPss,
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256,
}

#[derive(Subcommand, Debug)]
enum LogCommand {
    /// Walk the hash chain and check every referenced PDF; exits 1 and names
    /// the first position (or PDF) that does not match.
    Verify(DataDir),
}

#[derive(Subcommand, Debug)]
enum ProjectionsCommand {
    /// Drop every projection and rebuild it from the log (stop the server first).
    Rebuild(DataDir),
    /// Prove that every projection applied every position exactly once.
    Check(DataDir),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (default_filter, json) = match &cli.command {
        Commands::Serve { .. } => (
            "info",
            std::env::var("CONGVAN_LOG_FORMAT").map_or(true, |f| f != "text"),
        ),
        // lopdf logs every repair and failure; a refusal says why in one line.
        _ => ("warn,lopdf=off", false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONGVAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    if json {
        // One line per request when its span closes (method, route, status,
        // request id, time), and every event with its request's fields.
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    // The PDF commands run on this thread without an async runtime; the
    // server and the load tools want every core.
    let outcome = match cli.command {
        Commands::Pdf { command } => pdf(command),
        command => {
            let one_shot = matches!(command, Commands::KeysDev { .. });
            let runtime = if one_shot {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Runtime::new()
            };
            match runtime {
                Ok(runtime) => runtime.block_on(run(Cli { command })),
                Err(e) => {
                    eprintln!("congvan: cannot start the runtime: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            let mut msg = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("congvan: {msg}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cli.command {
        Commands::Serve {
            config,
            data_dir,
            database_url,
            listen,
            metrics_listen,
            demo,
        } => {
            let overrides = congvan::settings::Overrides {
                config,
                data_dir,
                database_url,
                listen,
                metrics_listen,
            };
            let settings = congvan::settings::Settings::load(&overrides, std::env::vars())?;
            let app = congvan::http::Application::build(settings.clone(), demo).await?;
            tracing::info!(
                listen = %settings.listen,
                port = app.port(),
                metrics_port = ?app.metrics_port(),
                data_dir = %settings.data_dir.display(),
                "congvan is serving"
            );
            eprintln!(
                "congvan: serving http://{} (docs at /docs), data in {}",
                local_addr(&settings.listen, app.port()),
                settings.data_dir.display()
            );
            app.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Commands::Demo { dir: d, calendar } => {
            let mut config = d
                .config()
                .with_dev_keys()
                .map_err(|e| format!("keys-dev: {e}"))?;
            if let Some(path) = calendar {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("calendar {}: {e}", path.display()))?;
                config.policy.calendar =
                    congvan::domain::calendar::WorkingCalendar::from_json(&text)
                        .map_err(|e| format!("calendar {}: {e}", path.display()))?;
            }
            let app = App::open(config).await?;
            print!("{}", congvan::demo::run(&app).await?);
            Ok(ExitCode::SUCCESS)
        }
        Commands::Log {
            command: LogCommand::Verify(d),
        } => {
            let store = d.open_store().await?;
            let blobs = BlobStore::open(d.data_dir.join(PDF_DIR))?;
            let report = verify_log(&store, &blobs).await?;
            match report.finding {
                None => {
                    println!(
                        "ok: {} events, hash chain intact, {} PDFs present with their digests",
                        report.events, report.pdfs
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Some(f) => {
                    println!("FAILED: {f}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Commands::Projections {
            command: ProjectionsCommand::Rebuild(d),
        } => {
            let store = d.open_store().await?;
            let r = congvan::projections::rebuild(&d.data_dir, &store).await?;
            let rate = if r.seconds > 0.0 {
                r.events as f64 / r.seconds
            } else {
                0.0
            };
            println!(
                "rebuilt every projection from {} events in {:.2} s ({rate:.0} events/s)",
                r.events, r.seconds
            );
            check(&d, &store).await
        }
        Commands::Backup { data_dir, out } => {
            let r = congvan::backup::backup(&data_dir, &out).await?;
            let m = &r.manifest;
            println!(
                "backed up {} events (last position {}) and {} PDFs{} from {} to {}",
                m.events,
                m.last_position,
                m.pdfs,
                if m.token_key { " and token.key" } else { "" },
                data_dir.display(),
                r.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Commands::Restore { backup, data_dir } => {
            let r = congvan::backup::restore(&backup, &data_dir).await?;
            println!(
                "restored {} events (hash chain verified up to position {}) and {} PDFs{} into {}; \
                 projections rebuilt in {:.2} s",
                r.events,
                r.manifest.last_position,
                r.pdfs,
                if r.manifest.token_key {
                    " and token.key"
                } else {
                    ""
                },
                r.data_dir.display(),
                r.rebuild_seconds
            );
            Ok(ExitCode::SUCCESS)
        }
        Commands::Migrate {
            from,
            to,
            to_data_dir,
        } => {
            use congvan::migrate::PdfPlacement;
            let r = congvan::migrate::migrate(&from, &to, to_data_dir.as_deref()).await?;
            println!(
                "migrated {} events from {} to {} and verified the hash chain there (last hash {})",
                r.events,
                from.display(),
                congvan::migrate::redact_url(&to),
                r.last_hash.as_deref().unwrap_or("none")
            );
            match r.pdfs {
                PdfPlacement::Copied {
                    data_dir,
                    copied,
                    new,
                } => println!(
                    "copied {copied} PDFs ({new} new) to {}: run the PostgreSQL deployment with --data-dir {}",
                    data_dir.join(PDF_DIR).display(),
                    data_dir.display()
                ),
                PdfPlacement::Source { data_dir, pdfs } => println!(
                    "the {pdfs} PDFs stay in {}: run the PostgreSQL deployment with --data-dir {}",
                    data_dir.join(PDF_DIR).display(),
                    data_dir.display()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Commands::Debug {
            command: DebugCommand::AppendLoop { dir, writers },
        } => append_loop(&dir, writers).await,
        Commands::Pdf { command } => pdf(command),
        Commands::KeysDev {
            out,
            crl_base,
            images_only,
        } => {
            if images_only {
                let written = congvan::pades::devpki::write_images(&out)?;
                println!(
                    "wrote the demo images to {}: {}",
                    written.dir.display(),
                    written.files.join(", ")
                );
                return Ok(ExitCode::SUCCESS);
            }
            let pki = tokio::task::spawn_blocking(move || {
                congvan::pades::devpki::generate(&out, &crl_base)
            })
            .await??;
            println!(
                "wrote the development PKI to {} ({} files) — for development only",
                pki.dir.display(),
                pki.files.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Commands::Debug {
            command:
                DebugCommand::Load {
                    dir,
                    documents,
                    units,
                    specialists,
                },
        } => {
            let started = std::time::Instant::now();
            let app = App::open(dir.config()).await?;
            let shape = congvan::load::Shape {
                documents,
                units: units.max(1),
                specialists_per_unit: specialists.max(1),
            };
            let events = congvan::load::load(&app, &shape).await?;
            println!(
                "appended {events} events for {documents} documents in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Commands::Projections {
            command: ProjectionsCommand::Check(d),
        } => {
            let store = d.open_store().await?;
            check(&d, &store).await
        }
    }
}

/// The PDF commands: one-shot and CPU-bound, run on the calling thread
/// without an async runtime (only a time-stamp request starts one).
fn pdf(command: PdfCommand) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match command {
        PdfCommand::Sign {
            key,
            pkcs11_module,
            token,
            key_label,
            pin,
            cert,
            chain,
            field,
            reason,
            location,
            pss,
            tsa,
            look,
            input,
            output,
        } => {
            let options = look.options(field, reason, location)?;
            let text = |p: &PathBuf| {
                std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
            };
            let chain = chain.as_ref().map(text).transpose()?;
            let signer: Box<dyn congvan::pades::Signer> = match (key, pkcs11_module) {
                (Some(key), _) => Box::new(congvan::pades::KeyFileSigner::from_pem(
                    &text(&key)?,
                    &text(&cert)?,
                    chain.as_deref(),
                    pss,
                )?),
                (None, Some(module)) => Box::new(congvan::pades::pkcs11::Pkcs11Signer::open(
                    &congvan::pades::pkcs11::TokenKey {
                        module: &module,
                        token: token.as_deref().unwrap_or_default(),
                        key_label: key_label.as_deref().unwrap_or_default(),
                        pin: pin.as_deref().ok_or(
                            "--pin (or CONGVAN_PKCS11_PIN) is required with --pkcs11-module",
                        )?,
                    },
                    &text(&cert)?,
                    chain.as_deref(),
                )?),
                (None, None) => return Err("give --key or --pkcs11-module".into()),
            };
            let pdf = read_with_room(&input)?;
            let limits = congvan::pdf::PdfLimits::default();
            // The work runs on this thread; only the time-stamp request
            // needs an async runtime, started for it alone.
            let signed = match tsa {
                None => {
                    congvan::pades::sign::sign_pdf_owned(pdf, signer.as_ref(), &options, &limits)?
                }
                Some(url) => {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    congvan::pades::sign::sign_pdf_timestamped(
                        &pdf,
                        signer.as_ref(),
                        &options,
                        &limits,
                        |digest| runtime.block_on(congvan::pades::tsa::timestamp(&url, digest)),
                    )?
                }
            };
            write_signed(&output, &signed)
        }
        PdfCommand::Prepare {
            cert,
            chain,
            algorithm,
            field,
            reason,
            location,
            data_out,
            look,
            input,
            session,
        } => {
            let options = look.options(field, reason, location)?;
            use congvan::pades::SignatureAlgorithm as A;
            let text = |p: &PathBuf| {
                std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
            };
            let pdf = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
            let prepared = congvan::pades::external::prepare(
                &pdf,
                &text(&cert)?,
                chain.as_ref().map(text).transpose()?.as_deref(),
                match algorithm {
                    KeyAlgorithm::Rsa => A::RsaPkcs1Sha256,
                    KeyAlgorithm::RsaPss => A::RsaPssSha256,
                    KeyAlgorithm::EcdsaP256 => A::EcdsaP256Sha256,
                },
                &options,
                &congvan::pdf::PdfLimits::default(),
            )?;
            if let Some(path) = data_out {
                write_atomically(&path, prepared.data_to_sign())?;
            }
            write_atomically(&session, &serde_json::to_vec(&prepared)?)?;
            println!("{}", hex::encode(prepared.digest_to_sign()));
            Ok(ExitCode::SUCCESS)
        }
        PdfCommand::Finish {
            signature,
            cms,
            session,
            output,
        } => {
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let pending: congvan::pades::external::Session =
                serde_json::from_slice(&read(&session)?)
                    .map_err(|e| format!("{}: not a signing session: {e}", session.display()))?;
            let signed = match (signature, cms) {
                (Some(sig), _) => pending.finish(&read(&sig)?)?,
                (None, Some(cms)) => pending.finish_with_cms(&read(&cms)?)?,
                (None, None) => return Err("give --signature or --cms".into()),
            };
            write_signed(&output, &signed)
        }
        PdfCommand::Fill {
            values,
            input,
            output,
        } => {
            let mut pairs = Vec::new();
            for v in &values {
                let (name, value) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--value {v:?}: expected NAME=VALUE"))?;
                pairs.push((name.to_string(), value.to_string()));
            }
            let pdf = std::fs::read(&input).map_err(|e| format!("{}: {e}", input.display()))?;
            let filled =
                congvan::pades::fill_fields(&pdf, &pairs, &congvan::pdf::PdfLimits::default())?;
            write_atomically(&output, &filled)?;
            println!(
                "filled {} field{} into {}: {} bytes",
                pairs.len(),
                if pairs.len() == 1 { "" } else { "s" },
                output.display(),
                filled.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        PdfCommand::Verify {
            trust,
            crl,
            json,
            input,
        } => {
            use congvan::pades::verify;
            let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let mut anchors = Vec::new();
            for p in &trust {
                anchors.extend(
                    verify::read_certificates(&read(p)?)
                        .map_err(|e| format!("{}: {e}", p.display()))?,
                );
            }
            let mut crls = Vec::new();
            for p in &crl {
                crls.push(
                    verify::read_crl(&read(p)?).map_err(|e| format!("{}: {e}", p.display()))?,
                );
            }
            let pdf = read(&input)?;
            let options = verify::VerifyOptions {
                trust: anchors,
                crls,
                now: jiff::Timestamp::now(),
            };
            let report = verify::verify_pdf(&pdf, &options, &congvan::pdf::PdfLimits::default())
                .map_err(|e| format!("{}: {e}", input.display()))?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", verify::render_text(&report));
            }
            Ok(if report.all_passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Reads a PDF to be signed into a buffer with room for the signing
/// revision after it, so appending it does not copy the file.
fn read_with_room(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = std::fs::File::open(path).map_err(failed)?;
    let len = file.metadata().map_err(failed)?.len();
    let room = congvan::pades::writer::REVISION_ROOM;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0) + room);
    file.read_to_end(&mut bytes).map_err(failed)?;
    Ok(bytes)
}

/// Writes a signed PDF to OUT and says so.
fn write_signed(
    output: &std::path::Path,
    signed: &congvan::pades::sign::Signed,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    write_atomically(output, &signed.pdf)?;
    println!(
        "signed {} as field {:?}: {} bytes",
        output.display(),
        signed.field,
        signed.pdf.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to a temporary file beside `path` and renames it into
/// place: `path` holds the whole file or is not there. (Not forced to disk:
/// the server keeps its PDFs in the blob store, which is.)
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The address to print: the configured host with the bound port.
fn local_addr(listen: &str, port: u16) -> String {
    match listen.rsplit_once(':') {
        Some((host, _)) => format!("{host}:{port}"),
        None => format!("{listen}:{port}"),
    }
}

async fn append_loop(d: &DataDir, writers: usize) -> Result<ExitCode, Box<dyn std::error::Error>> {
    use congvan::store::{EventStore, ExpectedVersion, NewEvent, StreamAppend};
    use std::io::Write;
    let store = d.open_store().await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for w in 0..writers.max(1) {
        let store = store.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in 0u64.. {
                let id = uuid::Uuid::now_v7();
                let r = store
                    .append(vec![StreamAppend {
                        stream: format!("load-{w}"),
                        expected: ExpectedVersion::Any,
                        events: vec![NewEvent {
                            event_id: id,
                            event_type: "load".into(),
                            schema_version: 1,
                            payload: format!("{{\"writer\":{w},\"i\":{i}}}"),
                            metadata: "{}".into(),
                        }],
                    }])
                    .await;
                match r {
                    Ok(r) => {
                        if tx.send(format!("ack {} {id}", r.last_position)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        eprintln!("append failed: {e}");
                        return;
                    }
                }
            }
        });
    }
    drop(tx);
    let mut out = std::io::stdout().lock();
    while let Some(line) = rx.recv().await {
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(ExitCode::FAILURE)
}

async fn check(d: &DataDir, store: &Store) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let report = congvan::projections::check(&d.data_dir, store).await?;
    for (name, position, applied) in &report.checkpoints {
        println!("  {name:<10} checkpoint {position:>8}  applied {applied:>8}");
    }
    if report.problems.is_empty() {
        println!(
            "ok: the log is gap-free up to {} and no projection skipped a position",
            report.head
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &report.problems {
            println!("FAILED: {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
