//! The command line: `serve` (the default) and `keys create|list|revoke|rotate-master`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::startup::{open_store, Application, StartupError};
use crate::store::KeyKind;
use crate::vault::Vault;

#[derive(Parser)]
#[command(name = "cardtoken-server", about = "The cardtoken payment server", version)]
pub struct Cli {
    /// A TOML config file (also CARDTOKEN_CONFIG); CARDTOKEN_* variables override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API (and the demo checkout).
    Serve,
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Manage API keys and the master key.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Subcommand)]
pub enum KeysAction {
    /// Make a new publishable/secret key pair and print it (the secret key is shown only now).
    Create,
    /// List keys (secret keys by their last four characters).
    List,
    /// Revoke a key by its id (key_…).
    Revoke { id: String },
    /// Add a new master key version and re-wrap every data key under it; the server keeps running.
    RotateMaster,
    /// Set who may frame a publishable key's card fields: origins (`https://shop.example`), `'self'`,
    /// `'none'`, or `*` (the default).
    FrameAncestors { id: String, origins: Vec<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("no key with id {0}, or it is already revoked")]
    NoSuchKey(String),
    #[error(
        "`{0}` is not a frame-ancestors list: give origins like https://shop.example, 'self', 'none' or *"
    )]
    InvalidAncestors(String),
}

/// Re-wraps every data key under a new master key version. Answers (new version, keys re-wrapped).
pub fn rotate_master(config: &Config) -> Result<(u32, usize), CliError> {
    let vault = Vault::open(&config.data_dir, config.master_key.as_ref())?;
    let store = open_store(config)?;
    let version = vault.add_master_version()?;
    let mut rewrapped = Vec::new();
    for (id, v, wrapped) in store.wrapped_keys()? {
        if v != version {
            let (nv, nk) = vault.rewrap(&id, v, &wrapped)?;
            rewrapped.push((id, nv, nk));
        }
    }
    store.rewrap_keys(&rewrapped)?;
    Ok((version, rewrapped.len()))
}

fn config_for_listing(app: &Application) -> Config {
    (*app.state().config).clone()
}

fn print_pair(pair: &crate::keys::NewKeyPair) {
    println!("  publishable key: {}", pair.publishable);
    println!("  secret key:      {}   (shown once: keep it on your server)", pair.secret.expose_secret());
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    if let Some(Command::Openapi) = cli.command {
        println!("{}", crate::openapi::json());
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {}
        Command::Serve => {
            crate::telemetry::init();
            let app = Application::build(config).await?;
            println!("cardtoken API listening on {}", app.api_base());
            if let Some(url) = app.demo_url() {
                println!("demo checkout on {url}");
            }
            println!("monitoring dashboard on {}/dashboard (sign in with a secret key)", app.api_base());
            if let Some(pair) = &app.first_run_keys {
                println!("first start: a key pair was created");
                print_pair(pair);
            } else {
                let keys = open_store(&config_for_listing(&app))?.list_keys()?;
                for k in keys.iter().filter(|k| k.kind == KeyKind::Publishable && k.revoked.is_none()) {
                    println!("  publishable key: {}", k.hint);
                }
                println!("  (secret keys are shown only when made: `cardtoken-server keys create` makes a new pair)");
            }
            app.run_until_stopped().await?;
        }
        Command::Keys { action } => {
            let store = open_store(&config)?;
            let now = SystemClock.now();
            match action {
                KeysAction::Create => {
                    let pair = crate::keys::create_pair(store.as_ref(), now, !config.test_mode)?;
                    println!("created {} and {}", pair.publishable_id, pair.secret_id);
                    print_pair(&pair);
                }
                KeysAction::List => {
                    for k in store.list_keys()? {
                        let kind = if k.kind == KeyKind::Secret { "secret" } else { "publishable" };
                        let state = if k.revoked.is_some() { "revoked" } else { "active" };
                        println!("{}  {kind:<11}  {state:<7}  {}", k.id, k.hint);
                    }
                }
                KeysAction::Revoke { id } => {
                    if !store.revoke_key(&id, now)? {
                        return Err(CliError::NoSuchKey(id));
                    }
                    println!("revoked {id}");
                }
                KeysAction::FrameAncestors { id, origins } => {
                    let value = origins.join(" ");
                    if !crate::routes::elements::valid_ancestors(&value) {
                        return Err(CliError::InvalidAncestors(value));
                    }
                    if !store.set_frame_ancestors(&id, Some(&value))? {
                        return Err(CliError::NoSuchKey(id));
                    }
                    println!("{id}'s card fields may be framed by: {value}");
                }
                KeysAction::RotateMaster => {
                    let (version, n) = rotate_master(&config)?;
                    println!("master key version {version} is current; {n} data keys re-wrapped under it");
                }
            }
        }
    }
    Ok(())
}
