//! The command line: `serve` (the default), `migrate`, `check-config` and `token`, with `--help`
//! and `--version`. `main` parses it, loads the settings and runs the command.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pairpad_store::{PostgresRepo, SqliteRepo, StoreUrl};

use crate::access::{TokenAccess, claims_for};
use crate::config::Settings;

/// Pairpad's server: real-time collaborative code editing.
///
/// Settings come from config/default.toml, then config/local.toml (in the working directory), then
/// PAIRPAD__SECTION__KEY environment variables, then DATABASE_URL and PORT; `check-config` shows
/// the result.
#[derive(Debug, Parser)]
#[command(name = "pairpad-server", version)]
pub struct Cli {
    /// What to do; `serve` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve rooms over HTTP and WebSocket until SIGINT or SIGTERM (the default).
    Serve,
    /// Open the configured store, run its pending migrations, and exit (for deploy pipelines).
    Migrate,
    /// Print the effective settings as TOML, secrets masked; exit 1 if they are invalid.
    CheckConfig,
    /// Print a JWT signed with auth.secret (token mode), for operators and tests.
    Token(TokenArgs),
}

/// `token`'s options: the token's claims.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The room it opens: a room id, or * for every room.
    #[arg(long, value_name = "ROOM_ID|*", value_parser = parse_room)]
    pub room: String,
    /// What it grants: view reads, edit also edits, admin also creates and deletes rooms.
    #[arg(long, value_enum)]
    pub access: AccessArg,
    /// How long it is valid, e.g. 30m, 1h or 7days.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    /// The display name it carries (the `name` claim).
    #[arg(long)]
    pub name: Option<String>,
}

/// `--access`: the values of [`TokenAccess`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AccessArg {
    /// Read the room.
    View,
    /// Read and edit it.
    Edit,
    /// Also create and delete rooms.
    Admin,
}

impl From<AccessArg> for TokenAccess {
    fn from(access: AccessArg) -> Self {
        match access {
            AccessArg::View => Self::View,
            AccessArg::Edit => Self::Edit,
            AccessArg::Admin => Self::Admin,
        }
    }
}

fn parse_room(room: &str) -> Result<String, String> {
    if room == "*" || pairpad_domain::RoomId::parse(room).is_ok() {
        Ok(room.to_owned())
    } else {
        Err(format!("{room} is neither a room id nor *"))
    }
}

impl TokenArgs {
    /// The token: these claims, signed with `auth.secret`. Fails outside token mode.
    pub fn mint(&self, settings: &Settings) -> Result<String, String> {
        let gate = settings.gate().map_err(|e| e.to_string())?;
        let claims = claims_for(&self.room, self.access.into(), self.ttl, self.name.clone());
        gate.sign(&claims).ok_or_else(|| {
            "auth.mode is not \"token\": set PAIRPAD__AUTH__MODE=token and PAIRPAD__AUTH__SECRET".to_owned()
        })
    }
}

/// `migrate`: opens the configured store, which runs its pending migrations (on PostgreSQL under
/// the advisory lock that processes starting together share), then closes it. Neither the server's
/// bus nor any room is started. Returns what to tell the operator, or a one-line error.
pub async fn migrate(settings: &Settings) -> Result<String, String> {
    let url = settings.store_url().map_err(|e| e.to_string())?;
    let one_line = |e: pairpad_domain::RepoError| format!("{url}: {}", e.to_string().replace('\n', " "));
    match &url {
        StoreUrl::Memory => return Ok("the store is memory: nothing to migrate (it starts empty every time)".into()),
        StoreUrl::Sqlite(path) => drop(SqliteRepo::open(path, settings.store_options()).await.map_err(one_line)?),
        StoreUrl::Postgres(pg) => drop(PostgresRepo::connect(pg, settings.store_options()).await.map_err(one_line)?),
    }
    Ok(format!("{url}: migrations applied, the schema is up to date"))
}

/// `check-config`: the effective settings as TOML, with `auth.secret` and URL passwords masked
/// (see [`Settings`]'s serialization).
pub fn effective_settings(settings: &Settings) -> Result<String, String> {
    let toml = toml::to_string(settings).map_err(|e| e.to_string())?;
    Ok(format!("# The effective settings (secrets masked).\n\n{toml}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_serves() {
        assert!(Cli::try_parse_from(["pairpad-server"]).unwrap().command.is_none());
    }

    #[test]
    fn token_takes_its_options() {
        let cli = Cli::try_parse_from(["pairpad-server", "token", "--room", "*", "--access", "edit", "--name", "Ada"]);
        let Some(Command::Token(args)) = cli.unwrap().command else { panic!("not a token command") };
        assert_eq!((args.room.as_str(), args.access, args.ttl), ("*", AccessArg::Edit, Duration::from_secs(3600)));
        assert_eq!(args.name.as_deref(), Some("Ada"));
        let refused = |args: &[&str]| Cli::try_parse_from([&["pairpad-server", "token"], args].concat()).is_err();
        assert!(refused(&["--room", "kitchen", "--access", "edit"]));
        assert!(refused(&["--room", "*", "--access", "owner"]));
        assert!(refused(&["--room", "*", "--access", "view", "--ttl", "soon"]));
        assert!(refused(&["--access", "view"]));
    }
}
