//! Who may do what (PROTOCOL.md 1.1, "Access"). Every route that names a room asks
//! [`Gate::enter`] once per request or connection (never per operation): it finds the room by its
//! id or view id and decides the [`Access`] the caller gets.
//!
//! - **open** (the default): a room id grants editing, a view id reading; deleting a room needs
//!   its owner token, which `POST /api/rooms` shows once and the store keeps only as a SHA-256
//!   hash.
//! - **token**: every request carries an HS256 JWT signed with `auth.secret` (REST
//!   `Authorization: Bearer`, WebSocket `?token=`), verified by `jsonwebtoken`. Its claims name
//!   the room (or `*`), the access (`view`, `edit`, `admin`), the expiry and optionally the
//!   caller's display name. A token is checked when a connection opens: one that expires during a
//!   long session does not cut it, but reconnecting needs a valid one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;
use actix_web::http::header;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pairpad_domain::{Access, RepoError, RoomId, RoomKeys, RoomRepo};
use pairpad_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The shortest `auth.secret` accepted in token mode: HS256 is as strong as its key, and RFC 7518
/// §3.2 asks for at least the hash's size.
pub const MIN_SECRET_BYTES: usize = 32;

/// What a token grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenAccess {
    /// Read a room.
    View,
    /// Read and edit it.
    Edit,
    /// Also create and delete rooms.
    Admin,
}

/// A token's claims (PROTOCOL.md 1.1, "Access"). Unknown claims are allowed (an embedding
/// service may add its own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// A room id (or view id), or `*` for every room.
    pub room: String,
    pub access: TokenAccess,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// The display name others see; overrides `?name=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The access mode, from `auth.mode` and `auth.secret`.
#[derive(Clone)]
pub enum Gate {
    Open,
    Token { encoding: EncodingKey, decoding: DecodingKey, validation: Box<Validation> },
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.write_str(match self {
            Self::Open => "Gate::Open",
            Self::Token { .. } => "Gate::Token",
        })
    }
}

/// Where a caller got in, and as whom.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The room, found by its id or view id.
    pub keys: RoomKeys,
    /// What the caller may do in it.
    pub access: Access,
    /// The display name its token gives, if any.
    pub name: Option<String>,
    /// Whether its token is an `admin` one.
    pub admin: bool,
}

impl Entry {
    /// The id to show the caller: a reader never learns the edit id.
    pub fn shown_id(&self) -> RoomId {
        self.access.shown_id(self.keys.id)
    }
}

impl Gate {
    /// Token mode with this secret (at least [`MIN_SECRET_BYTES`]).
    pub fn token(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        // Clocks of the token's issuer and this server may differ a little.
        validation.leeway = 5;
        Self::Token {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation: Box::new(validation),
        }
    }

    /// Whether rooms get owner tokens (open mode; in token mode an `admin` token deletes).
    pub fn issues_owner_tokens(&self) -> bool {
        matches!(self, Self::Open)
    }

    /// Signs a token (the `token` command, tests).
    pub fn sign(&self, claims: &Claims) -> Option<String> {
        match self {
            Self::Open => None,
            Self::Token { encoding, .. } => jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, encoding).ok(),
        }
    }

    /// Verifies a token: `unauthorized` when it is missing, malformed, forged or expired.
    pub fn verify(&self, token: Option<&str>) -> Result<Option<Claims>, ApiError> {
        let Self::Token { decoding, validation, .. } = self else { return Ok(None) };
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "this server needs a token (Authorization: Bearer, or ?token= on a WebSocket)",
            ));
        };
        match jsonwebtoken::decode::<Claims>(token, decoding, validation) {
            Ok(data) => Ok(Some(data.claims)),
            Err(e) => Err(ApiError::new(ErrorCode::Unauthorized, format!("the token is not valid: {e}"))),
        }
    }

    /// May the caller create rooms? Open mode: anyone; token mode: an `admin` token for `*`.
    pub fn may_create(&self, token: Option<&str>) -> Result<(), ApiError> {
        match self.verify(token)? {
            None => Ok(()),
            Some(claims) if claims.access == TokenAccess::Admin && claims.room == "*" => Ok(()),
            Some(_) => Err(ApiError::new(ErrorCode::Forbidden, "creating rooms needs an admin token for room `*`")),
        }
    }

    /// Finds the room `id` names (its id or view id) and what the caller may do in it. `404` when
    /// there is no such room; in token mode `401`/`403` as the token says.
    pub async fn enter(&self, repo: &dyn RoomRepo, id: RoomId, token: Option<&str>) -> Result<Entry, ApiError> {
        // The token first: without a valid one, not even whether the room exists is told.
        let claims = self.verify(token)?;
        let keys = repo.keys(id).await.map_err(|e| match e {
            RepoError::NotFound(_) => ApiError::new(ErrorCode::RoomNotFound, format!("room {id} does not exist")),
            other => other.into(),
        })?;
        let by_id = keys.access_by(id);
        let Some(claims) = claims else { return Ok(Entry { access: by_id, keys, name: None, admin: false }) };
        if !grants(&claims, &keys) {
            return Err(ApiError::new(ErrorCode::Forbidden, "the token does not grant this room"));
        }
        let access = if claims.access == TokenAccess::View { by_id.read_only() } else { by_id };
        Ok(Entry { keys, access, name: claims.name, admin: claims.access == TokenAccess::Admin })
    }

    /// May the caller delete the room `id` names? Open mode: its owner token, on its (edit) id;
    /// token mode: an `admin` token for it. Answers the room's id.
    pub async fn may_delete(&self, repo: &dyn RoomRepo, id: RoomId, token: Option<&str>) -> Result<RoomId, ApiError> {
        let entry = self.enter(repo, id, token).await?;
        let allowed = entry.access.may_edit()
            && match self {
                Self::Open => match (&entry.keys.owner_token_hash, token) {
                    (Some(stored), Some(token)) => {
                        constant_time_eq(stored.as_bytes(), hash_owner_token(token).as_bytes())
                    }
                    _ => false,
                },
                Self::Token { .. } => entry.admin,
            };
        if allowed {
            return Ok(entry.keys.id);
        }
        let needed = if self.issues_owner_tokens() { "its owner token" } else { "an admin token for it" };
        Err(ApiError::new(ErrorCode::Forbidden, format!("deleting this room needs {needed}")))
    }
}

/// Whether the claims name this room (by id or view id, or `*`).
fn grants(claims: &Claims, keys: &RoomKeys) -> bool {
    claims.room == "*" || RoomId::parse(&claims.room).is_ok_and(|named| named == keys.id || named == keys.view_id)
}

/// The bearer token of a REST request.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A new owner token: 244 random bits (two v4 UUIDs), in hex.
pub fn new_owner_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// What the store keeps of an owner token.
pub fn hash_owner_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Compares without stopping at the first difference (the time taken does not tell how much of
/// a guess was right).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The claims of a token for `room` with `access`, valid for `ttl` from now.
pub fn claims_for(room: &str, access: TokenAccess, ttl: Duration, name: Option<String>) -> Claims {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Claims { room: room.to_owned(), access, exp: (now + ttl).as_secs(), name }
}
