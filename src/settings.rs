//! Server settings: defaults, then a TOML file, then `CONGVAN_*` environment
//! variables, then command-line flags — each overriding the one before.
//! Read in this one place; nothing else reads the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

/// Every setting, with its default.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The data directory (created when missing): congvan.db,
    /// projections.db, pdf/, token.key.
    pub data_dir: PathBuf,
    /// A `postgres://user:password@host:port/database` URL: the event log
    /// and the read models live in that PostgreSQL database instead of the
    /// data directory (which still holds PDFs, token.key and http.db).
    pub database_url: Option<SecretString>,
    /// A folder of trust anchors for verifying signatures: its self-signed
    /// certificates (*.pem, *.crt, *.cer, *.der) are the anchors, its *.crl
    /// files the CRLs; other certificates in it are ignored. With `--demo`
    /// and no setting, ./keys-dev when it exists.
    pub trust_dir: Option<PathBuf>,
    /// The keystore (TOML): how each official signs (a PKCS#8 key file, a
    /// PKCS#11 token, or externally in two phases) and the agency's seal
    /// key. With `--demo` and no setting, ./keys-dev/keystore.toml when it
    /// exists. Without one, the server verifies but does not sign.
    pub keystore: Option<PathBuf>,
    /// Where the API listens.
    pub listen: String,
    /// Where Prometheus metrics are served (GET /metrics), apart from the
    /// API; empty turns them off.
    pub metrics_listen: String,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// How long an access token lives, in seconds.
    pub token_ttl_seconds: u64,
    /// The key that signs access tokens (base64, at least 32 bytes). When
    /// unset, a key is generated into `<data_dir>/token.key` on first start.
    pub token_key: Option<SecretString>,
    /// Largest accepted request body for uploads, in bytes.
    pub max_upload_bytes: usize,
    /// Largest accepted JSON body, in bytes.
    pub max_json_bytes: usize,
    /// PDFs parsed at the same time (parsing is CPU-bound).
    pub max_concurrent_pdf_checks: usize,
    /// Working-day calendar overrides (JSON), merged over the built-in
    /// Vietnamese holidays.
    pub calendar: Option<PathBuf>,
    /// `json` (one JSON object per line) or `text`.
    pub log_format: LogFormat,
    /// Store secret documents' content (only on an isolated deployment).
    pub allow_secret_content: bool,
    /// Seconds the server waits for requests in flight when asked to stop.
    pub shutdown_timeout_seconds: u64,
    /// Also accept RS256/ES256 tokens of this OpenID Connect issuer (`iss`).
    pub oidc_issuer: Option<String>,
    /// The audience (`aud`) such tokens must name.
    pub oidc_audience: Option<String>,
    /// The issuer's JWK set (JSON), kept current by the deployment.
    pub oidc_jwks_file: Option<PathBuf>,
    /// The claim naming the official (default `preferred_username`).
    pub oidc_username_claim: String,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Json,
    Text,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            trust_dir: None,
            keystore: None,
            listen: "127.0.0.1:8080".into(),
            metrics_listen: "127.0.0.1:9464".into(),
            workers: 0,
            token_ttl_seconds: 8 * 3600,
            token_key: None,
            max_upload_bytes: crate::pdf::DEFAULT_MAX_BYTES + 1024 * 1024,
            max_json_bytes: 256 * 1024,
            max_concurrent_pdf_checks: 2,
            calendar: None,
            log_format: LogFormat::Json,
            allow_secret_content: false,
            shutdown_timeout_seconds: 30,
            oidc_issuer: None,
            oidc_audience: None,
            oidc_jwks_file: None,
            oidc_username_claim: "preferred_username".into(),
        }
    }
}

/// Settings given on the command line (they win over everything else).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("settings: {0}")]
    Invalid(String),
}

pub const ENV_PREFIX: &str = "CONGVAN_";

impl Settings {
    /// Defaults < file (`overrides.config`, else `CONGVAN_CONFIG`) <
    /// environment (`vars`, e.g. `std::env::vars()`) < flags.
    pub fn load(
        overrides: &Overrides,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let env: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        let file = overrides
            .config
            .clone()
            .or_else(|| env.get("CONGVAN_CONFIG").map(PathBuf::from));
        let mut table = match &file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        let known = known_keys();
        for (name, value) in &env {
            let key = name[ENV_PREFIX.len()..].to_ascii_lowercase();
            if key == "config" || !known.contains(&key.as_str()) {
                // Other CONGVAN_ variables belong to other commands.
                continue;
            }
            table.insert(key, env_value(value));
        }
        let mut settings: Settings =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| match &file {
                    Some(path) => SettingsError::File {
                        path: path.clone(),
                        message: e.message().to_string(),
                    },
                    None => SettingsError::Env {
                        name: "CONGVAN_*".into(),
                        message: e.message().to_string(),
                    },
                })?;
        if let Some(d) = &overrides.data_dir {
            settings.data_dir = d.clone();
        }
        if let Some(u) = &overrides.database_url {
            settings.database_url = Some(SecretString::from(u.clone()));
        }
        if let Some(l) = &overrides.listen {
            settings.listen = l.clone();
        }
        if let Some(l) = &overrides.metrics_listen {
            settings.metrics_listen = l.clone();
        }
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), SettingsError> {
        if self.token_ttl_seconds == 0 {
            return Err(SettingsError::Invalid(
                "token_ttl_seconds must be at least 1".into(),
            ));
        }
        let oidc = [
            self.oidc_issuer.is_some(),
            self.oidc_audience.is_some(),
            self.oidc_jwks_file.is_some(),
        ];
        if oidc.iter().any(|x| *x) && !oidc.iter().all(|x| *x) {
            return Err(SettingsError::Invalid(
                "oidc_issuer, oidc_audience and oidc_jwks_file go together".into(),
            ));
        }
        if let Some(url) = &self.database_url {
            let url = secrecy::ExposeSecret::expose_secret(url);
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(SettingsError::Invalid(
                    "database_url must be a postgres:// or postgresql:// URL".into(),
                ));
            }
        }
        if self.max_concurrent_pdf_checks == 0 {
            return Err(SettingsError::Invalid(
                "max_concurrent_pdf_checks must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

fn known_keys() -> Vec<&'static str> {
    vec![
        "data_dir",
        "database_url",
        "trust_dir",
        "keystore",
        "listen",
        "metrics_listen",
        "workers",
        "token_ttl_seconds",
        "token_key",
        "max_upload_bytes",
        "max_json_bytes",
        "max_concurrent_pdf_checks",
        "calendar",
        "log_format",
        "allow_secret_content",
        "shutdown_timeout_seconds",
        "oidc_issuer",
        "oidc_audience",
        "oidc_jwks_file",
        "oidc_username_claim",
    ]
}

fn read_file(path: &Path) -> Result<toml::Table, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| SettingsError::File {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })
}

/// An environment value as TOML: a number or boolean when it reads as one,
/// else a string.
fn env_value(s: &str) -> toml::Value {
    if let Ok(i) = s.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(b) = s.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_then_file_then_env_then_flags() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("congvan.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nworkers = 3\ndata_dir = \"/srv/a\"\n",
        )
        .expect("write");
        let d = Settings::load(&Overrides::default(), vars(&[])).expect("defaults");
        assert_eq!(d.listen, "127.0.0.1:8080");
        assert_eq!(d.data_dir, PathBuf::from("./data"));

        let o = Overrides {
            config: Some(file.clone()),
            ..Default::default()
        };
        let f = Settings::load(&o, vars(&[])).expect("file");
        assert_eq!((f.listen.as_str(), f.workers), ("0.0.0.0:9000", 3));

        let e = Settings::load(
            &o,
            vars(&[
                ("CONGVAN_WORKERS", "5"),
                ("CONGVAN_DATA_DIR", "/srv/b"),
                ("OTHER", "x"),
            ]),
        )
        .expect("env");
        assert_eq!(
            (e.workers, e.data_dir.clone()),
            (5, PathBuf::from("/srv/b"))
        );
        assert_eq!(e.listen, "0.0.0.0:9000");

        let flags = Overrides {
            config: Some(file),
            data_dir: Some(PathBuf::from("/srv/c")),
            listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        let all = Settings::load(&flags, vars(&[("CONGVAN_DATA_DIR", "/srv/b")])).expect("flags");
        assert_eq!(all.data_dir, PathBuf::from("/srv/c"));
        assert_eq!(all.listen, "127.0.0.1:0");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lissen = \"x\"\n").expect("write");
        let o = Overrides {
            config: Some(file),
            ..Default::default()
        };
        let err = Settings::load(&o, vars(&[]))
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("lissen"), "{err}");
        let err = Settings::load(&Overrides::default(), vars(&[("CONGVAN_WORKERS", "many")]))
            .expect_err("bad value")
            .to_string();
        assert!(err.contains("CONGVAN_"), "{err}");
        let err = Settings::load(
            &Overrides {
                config: Some(PathBuf::from("/nonexistent/congvan.toml")),
                ..Default::default()
            },
            vars(&[]),
        )
        .expect_err("missing file")
        .to_string();
        assert!(err.contains("/nonexistent/congvan.toml"), "{err}");
    }
}
