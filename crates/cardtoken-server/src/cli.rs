//! The command line (`shared/contract.md` §6): `serve` (the default), `migrate`, `openapi`,
//! `accounts create|list`, `keys create|list|revoke|roll|rotate-master|frame-ancestors` and
//! `users create|list|remove` (the dashboard's people).

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::accounts::{self, NewKey, NewKeyPair};
use crate::domain::users;
use crate::startup::{open_store, Application, StartupError};
use crate::store::{self, KeyKind, Store};

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
    /// Create or upgrade the database's schema, then exit.
    Migrate,
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Manage accounts (the tenants: each has a test and a live key pair).
    Accounts {
        #[command(subcommand)]
        action: AccountsAction,
    },
    /// Manage API keys and the master key.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage dashboard users: the people who sign in to an account's dashboard.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
}

#[derive(Subcommand)]
pub enum UsersAction {
    /// Add a person to an account's dashboard. The password is read from standard input: one line, at
    /// least 12 characters (typed without echo on a terminal).
    Create {
        #[arg(long)]
        account: String,
        #[arg(long)]
        email: String,
    },
    /// List users (ids, accounts, emails; never passwords).
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Remove a user (by email or id); their sessions end at once.
    Remove { user: String },
}

#[derive(Subcommand)]
pub enum AccountsAction {
    /// Make an account with a test and a live key pair, and print them (secret keys are shown only now).
    Create {
        #[arg(long)]
        name: String,
    },
    /// List accounts.
    List,
    /// Take cards only encrypted to the server's key (`card_jwe`): a card sent in clear is refused with a
    /// 400. `--off` takes both again.
    RequireEncryption {
        id: String,
        #[arg(long)]
        off: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Mode {
    Test,
    Live,
}

#[derive(Subcommand)]
pub enum KeysAction {
    /// Make a new publishable/secret key pair for an account and mode (the secret key is shown only now).
    Create {
        #[arg(long)]
        account: String,
        #[arg(long, value_enum)]
        mode: Mode,
    },
    /// List keys (secret keys by their last four characters).
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Revoke a key by its id (key_…): it stops working at once.
    Revoke { id: String },
    /// Replace a key by a new one; the old one keeps working for the grace period (`0`, `90s`, `1h`,
    /// `24h`, `7d`; default 24h), then is refused.
    Roll {
        id: String,
        #[arg(long, default_value = "24h")]
        grace: String,
    },
    /// Add a new master key version and re-wrap every data key under it; running servers pick it up
    /// within seconds.
    RotateMaster,
    /// Add a new card-encryption key pair (the JWKS's first key from now on); the older ones keep
    /// decrypting for the grace period (default 24h, at most 7d), then are retired. Running servers pick
    /// it up within seconds.
    RotateEncryption {
        #[arg(long, default_value = "24h")]
        grace: String,
    },
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
    #[error("{0}")]
    Domain(String),
    #[error("no key with id {0}")]
    NoSuchKey(String),
    #[error("`{0}` is not a duration: give seconds, or a number with s, m, h or d (`0`, `90s`, `1h`, `7d`)")]
    Duration(String),
    #[error(
        "`{0}` is not a frame-ancestors list: give origins like https://shop.example, 'self', 'none' or *"
    )]
    InvalidAncestors(String),
}

impl From<crate::domain::Error> for CliError {
    fn from(e: crate::domain::Error) -> CliError {
        CliError::Domain(e.to_wire().message)
    }
}

/// `0`, `90`, `90s`, `15m`, `1h`, `7d` in seconds.
pub fn parse_duration(s: &str) -> Result<i64, CliError> {
    let s = s.trim();
    let (number, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], &s[i..]),
        _ => (s, "s"),
    };
    let n: i64 = number.parse().map_err(|_| CliError::Duration(s.to_string()))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(CliError::Duration(s.to_string())),
    };
    n.checked_mul(scale).filter(|v| *v >= 0).ok_or_else(|| CliError::Duration(s.to_string()))
}

/// Re-wraps every data key under a new master key version. Answers (new version, keys re-wrapped).
pub async fn rotate_master(config: &Config) -> Result<(u32, usize), CliError> {
    let vault = Arc::new(crate::startup::open_vault(config)?);
    let store = open_store(config).await?;
    let version = vault.add_master_version()?;
    let v = vault.clone();
    let n = store::write(&store, move |tx| {
        let mut n = 0;
        for (id, old, wrapped) in tx.wrapped_keys()? {
            if old != version {
                let (nv, nk) =
                    v.rewrap(&id, old, &wrapped).map_err(|e| store::StoreError::Corrupt(e.to_string()))?;
                tx.rewrap_key(&id, nv, &nk)?;
                n += 1;
            }
        }
        Ok(n)
    })
    .await?;
    Ok((version, n))
}

/// Adds a new current card-encryption key; the others retire at `now + grace`. Answers the new key's id
/// and those retiring.
pub fn rotate_encryption(config: &Config, now: i64, grace: i64) -> Result<(String, Vec<String>), CliError> {
    let vault = crate::startup::open_vault(config)?;
    Ok(vault.rotate_encryption(now, grace).map_err(StartupError::from)?)
}

/// Prints a line to stdout; a closed stdout (`npm start | head`, a supervisor that stopped reading) must
/// not stop the server, so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn print_pair(label: &str, pair: &NewKeyPair) {
    say!("  {label} publishable key: {}", accounts::reveal(&pair.publishable));
    say!(
        "  {label} secret key:      {}   (shown once: keep it on your server)",
        accounts::reveal(&pair.secret)
    );
}

fn print_key(k: &NewKey) {
    let kind = if k.kind == KeyKind::Secret { "secret key:     " } else { "publishable key:" };
    let note = if k.kind == KeyKind::Secret { "   (shown once: keep it on your server)" } else { "" };
    say!("  {kind} {}{note}", accounts::reveal(k));
}

async fn serve(config: Config) -> Result<(), CliError> {
    crate::telemetry::init();
    let app = Application::build(config).await?;
    say!("cardtoken API listening on {}", app.api_base());
    if let Some(url) = app.demo_url() {
        say!("demo checkout on {url}");
    }
    say!(
        "dashboard on {}/dashboard (people sign in: `cardtoken-server users create --account ID --email EMAIL`)",
        app.api_base()
    );
    if let Some(first) = &app.first_account {
        say!("first start: account {} was created with a test key pair", first.account.id);
        say!("  publishable key: {}", accounts::reveal(&first.test.publishable));
        say!(
            "  secret key:      {}   (shown once: keep it on your server)",
            accounts::reveal(&first.test.secret)
        );
        say!("  (its live keys: `cardtoken-server keys create --account {} --mode live`)", first.account.id);
    } else {
        say!(
            "  (secret keys are shown only when made: `cardtoken-server keys create --account ID --mode test` makes a new pair)"
        );
    }
    app.run_until_stopped().await?;
    Ok(())
}

/// One line of standard input (without its line ending), or, on a terminal, a line typed without echo.
fn read_password(email: &str) -> Result<secrecy::SecretString, CliError> {
    use std::io::{BufRead, IsTerminal};
    let line = if std::io::stdin().is_terminal() {
        eprint!("Password for {email}: ");
        rpassword::read_password()?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    Ok(line.trim_end_matches(['\n', '\r']).to_string().into())
}

async fn users(store: &Arc<dyn Store>, action: UsersAction) -> Result<(), CliError> {
    match action {
        UsersAction::Create { account, email } => {
            let password = read_password(&email)?;
            let user = users::create(store, &account, &email, password, SystemClock.now()).await?;
            say!("created user {} ({}) in account {}", user.id, user.email, user.account_id);
        }
        UsersAction::List { account } => {
            for u in users::list(store, account).await? {
                say!("{}  {}  {}  created {}", u.id, u.account_id, u.email, u.created);
            }
        }
        UsersAction::Remove { user } => {
            let removed = users::remove(store, &user).await?;
            say!("removed user {} ({}); their sessions have ended", removed.id, removed.email);
        }
    }
    Ok(())
}

async fn keys(store: &Arc<dyn Store>, config: &Config, action: KeysAction) -> Result<(), CliError> {
    let now = SystemClock.now();
    match action {
        KeysAction::Create { account, mode } => {
            let pair = accounts::create_pair(store, &account, matches!(mode, Mode::Live), now).await?;
            say!("created {} and {}", pair.publishable.id, pair.secret.id);
            print_pair(if matches!(mode, Mode::Live) { "live" } else { "test" }, &pair);
        }
        KeysAction::List { account } => {
            let keys = store::read(store, move |tx| tx.list_keys(account.as_deref())).await?;
            for k in keys {
                say!("{}", accounts::describe(&k, now));
            }
        }
        KeysAction::Revoke { id } => {
            accounts::revoke_key(store, &id, now).await?;
            say!("revoked {id}");
        }
        KeysAction::Roll { id, grace } => {
            let grace = parse_duration(&grace)?;
            let new = accounts::roll_key(store, &id, grace, now).await?;
            say!("rolled {id}: it stops working in {grace} s; its replacement is {}", new.id);
            print_key(&new);
        }
        KeysAction::FrameAncestors { id, origins } => {
            let value = origins.join(" ");
            if !crate::http::routes::elements::valid_ancestors(&value) {
                return Err(CliError::InvalidAncestors(value));
            }
            let (key, v) = (id.clone(), value.clone());
            if !store::write(store, move |tx| tx.set_frame_ancestors(&key, Some(&v))).await? {
                return Err(CliError::NoSuchKey(id));
            }
            say!("{id}'s card fields may be framed by: {value}");
        }
        KeysAction::RotateMaster => {
            let (version, n) = rotate_master(config).await?;
            say!("master key version {version} is current; {n} data keys re-wrapped under it");
        }
        KeysAction::RotateEncryption { grace } => {
            let grace = parse_duration(&grace)?;
            let now = crate::clock::SystemClock.now();
            let (kid, retiring) = rotate_encryption(config, now, grace)?;
            // Instances started from now on hold the new key: the database knows it as the deployment's.
            let vault = crate::startup::open_vault(config)?;
            crate::domain::tokens::record_encryption_keys(store, &vault).await?;
            say!("encryption key {kid} is current");
            for old in retiring {
                say!("  {old} decrypts until {}", now + grace);
            }
        }
    }
    Ok(())
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    if let Some(Command::Openapi) = cli.command {
        say!("{}", crate::http::openapi::json());
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {}
        Command::Serve => serve(config).await?,
        Command::Migrate => {
            let store = open_store(&config).await?;
            let ready = store.clone();
            tokio::task::spawn_blocking(move || ready.ready())
                .await
                .map_err(|e| CliError::Domain(e.to_string()))??;
            say!("the {} database is migrated", store.backend());
        }
        Command::Accounts { action } => {
            let store = open_store(&config).await?;
            match action {
                AccountsAction::Create { name } => {
                    let made = accounts::create_account(&store, &name, SystemClock.now()).await?;
                    say!("created account {} ({})", made.account.id, made.account.name);
                    print_pair("test", &made.test);
                    print_pair("live", &made.live);
                }
                AccountsAction::List => {
                    for a in store::read(&store, |tx| tx.list_accounts()).await? {
                        let cards = if a.require_encryption { "  cards encrypted only" } else { "" };
                        say!("{}  {}  created {}{cards}", a.id, a.name, a.created);
                    }
                }
                AccountsAction::RequireEncryption { id, off } => {
                    accounts::set_require_encryption(&store, &id, !off).await?;
                    if off {
                        say!("{id} takes cards in clear (inside TLS) or encrypted (card_jwe)");
                    } else {
                        say!("{id} takes cards only encrypted (card_jwe); running servers apply it within seconds");
                    }
                }
            }
        }
        Command::Keys { action } => {
            let store = open_store(&config).await?;
            keys(&store, &config, action).await?;
        }
        Command::Users { action } => {
            let store = open_store(&config).await?;
            users(&store, action).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn grace_periods_parse() {
        for (s, v) in [("0", 0), ("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604_800)] {
            assert_eq!(super::parse_duration(s).unwrap(), v, "{s}");
        }
        for bad in ["", "h", "1w", "-1h", "1.5h"] {
            assert!(super::parse_duration(bad).is_err(), "{bad}");
        }
    }
}
