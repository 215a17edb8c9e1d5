//! Bearer tokens (HS256 JWT) and the caller's scope.
//!
//! Validation fixes the algorithm, the leeway and the required claims explicitly instead of
//! trusting library defaults. A token that fails any check answers 401; what the caller may do
//! once identified is decided by [`Caller`]'s methods.

use crate::domain::ids::{EmployerId, FunderId};
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// Clock skew tolerated on `exp`, in seconds. Tokens are minted by this service's own
/// `token` command, so servers and minter share a clock: no tolerance is needed, and an
/// expired token is refused at once.
const LEEWAY_SECONDS: u64 = 0;

/// How far in the future an `iat` may lie: a little room for the clocks of several servers
/// behind one balancer, never more (a token "issued tomorrow" was not issued by us).
const IAT_SKEW_SECONDS: u64 = 5;

/// The shortest secret accepted: HS256 wants a key at least as long as its hash (RFC 7518,
/// section 3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// The longest token read. Ours are a few hundred bytes; a longer one is refused before any
/// decoding, so that its size costs nothing.
pub const MAX_TOKEN_BYTES: usize = 8_192;

/// The claims of a portage-ledger token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Who: a person or a system, for the logs.
    pub sub: String,
    /// `employer`, `funder`, `mission` or `admin`.
    pub role: String,
    /// The employer an `employer` token is scoped to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer_id: Option<String>,
    /// The funder a `funder` token is scoped to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funder_id: Option<String>,
    /// Expiry, in seconds since the epoch.
    pub exp: u64,
    /// Issue time, in seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before, in seconds since the epoch: checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// What a caller may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// An employer, for its own data.
    Employer(EmployerId),
    /// A funder, for what concerns itself.
    Funder(FunderId),
    /// The regional support mission: reads everything, registers employers and funders.
    Mission,
    /// The operator: everything.
    Admin,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's subject.
    pub sub: String,
    /// The token's scope.
    pub scope: Scope,
    /// The request's id (its `X-Request-Id`), stored with what the request records.
    pub request_id: Option<String>,
}

/// The keys tokens are signed and checked with.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    /// Keys from the shared HS256 secret, which must be at least [`MIN_SECRET_BYTES`] long.
    pub fn from_secret(secret: &[u8]) -> anyhow::Result<TokenKeys> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "PORTAGE_JWT_SECRET is {} bytes long: HS256 needs at least {MIN_SECRET_BYTES} \
             (for instance `openssl rand -hex 32`)",
            secret.len()
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
        })
    }

    /// Signs claims into a token.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.encoding,
        )?)
    }

    /// Checks a token and reads the caller from it.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ApiError::Unauthorized(format!(
                "the token is longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| {
                // The library's words (serde positions, variant lists) go to the log; the
                // caller is told what is wrong in ours.
                tracing::info!(%error, "token refused");
                ApiError::Unauthorized(refusal_reason(error.kind()))
            })?;
        if data
            .claims
            .iat
            .is_some_and(|iat| iat > now_seconds() + IAT_SKEW_SECONDS)
        {
            return Err(ApiError::Unauthorized(
                "the token's issue time (iat) is in the future".into(),
            ));
        }
        caller_from_claims(data.claims)
    }
}

/// Why a token was refused, in the service's words.
fn refusal_reason(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidSignature => "the token's signature is not ours".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            "the token must be signed with HS256".into()
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the token's {claim} claim is malformed"),
        ErrorKind::Json(_) => {
            "the token's header or claims are not those of a portage-ledger token".into()
        }
        _ => "the token is not a well-formed JWT".into(),
    }
}

fn scope_id<T: From<Uuid>>(value: Option<&str>, claim: &str) -> Result<T, ApiError> {
    let text =
        value.ok_or_else(|| ApiError::Unauthorized(format!("the token has no {claim} claim")))?;
    Uuid::parse_str(text)
        .map(T::from)
        .map_err(|_| ApiError::Unauthorized(format!("the token's {claim} is not a UUID")))
}

/// Turns verified claims into a caller, refusing unknown roles and roles without their id.
pub fn caller_from_claims(claims: Claims) -> Result<Caller, ApiError> {
    let scope = match claims.role.as_str() {
        "employer" => Scope::Employer(scope_id(claims.employer_id.as_deref(), "employer_id")?),
        "funder" => Scope::Funder(scope_id(claims.funder_id.as_deref(), "funder_id")?),
        "mission" => Scope::Mission,
        "admin" => Scope::Admin,
        other => return Err(ApiError::Unauthorized(format!("unknown role {other:?}"))),
    };
    Ok(Caller {
        sub: claims.sub,
        scope,
        request_id: None,
    })
}

impl Caller {
    /// Who records what this request writes.
    pub fn recorder(&self) -> crate::db::Recorder {
        crate::db::Recorder {
            sub: self.sub.clone(),
            role: self.role(),
            request_id: self.request_id.clone(),
        }
    }

    /// A stable name of the caller, for idempotency keys and logs.
    pub fn key(&self) -> String {
        match self.scope {
            Scope::Employer(id) => format!("employer:{id}:{}", self.sub),
            Scope::Funder(id) => format!("funder:{id}:{}", self.sub),
            Scope::Mission => format!("mission:{}", self.sub),
            Scope::Admin => format!("admin:{}", self.sub),
        }
    }

    /// The role's name.
    pub fn role(&self) -> &'static str {
        match self.scope {
            Scope::Employer(_) => "employer",
            Scope::Funder(_) => "funder",
            Scope::Mission => "mission",
            Scope::Admin => "admin",
        }
    }

    /// Registering employers and funders: the mission and the operator.
    pub fn require_registrar(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Mission | Scope::Admin => Ok(()),
            Scope::Employer(_) | Scope::Funder(_) => Err(ApiError::Forbidden(
                "only the mission and the operator register employers and funders".into(),
            )),
        }
    }

    /// Changing an employer's data: that employer or the operator. Other employers get 404
    /// (existence is not leaked); the roles that may never write get 403.
    pub fn require_employer_writer(&self, employer_id: EmployerId) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin => Ok(()),
            Scope::Employer(own) if own == employer_id => Ok(()),
            Scope::Employer(_) => Err(ApiError::NotFound("employer")),
            Scope::Mission | Scope::Funder(_) => Err(ApiError::Forbidden(format!(
                "the {} role may not change an employer's records",
                self.role()
            ))),
        }
    }

    /// Whether the role may ever write employer data (before any id is known).
    pub fn require_writer_role(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin | Scope::Employer(_) => Ok(()),
            Scope::Mission | Scope::Funder(_) => Err(ApiError::Forbidden(format!(
                "the {} role may not change an employer's records",
                self.role()
            ))),
        }
    }

    /// Reading all of an employer's data: that employer, the mission, the operator.
    pub fn can_read_employer(&self, employer_id: EmployerId) -> bool {
        match self.scope {
            Scope::Admin | Scope::Mission => true,
            Scope::Employer(own) => own == employer_id,
            Scope::Funder(_) => false,
        }
    }

    /// Reading a record between an employer and a funder (a commitment, a call, a payment): the
    /// employer's side as for all its data, or the funder it concerns.
    pub fn can_read_between(&self, employer_id: EmployerId, funder_id: FunderId) -> bool {
        match self.scope {
            Scope::Funder(own) => funder_id == own,
            _ => self.can_read_employer(employer_id),
        }
    }

    /// The employer a request about employers' data is narrowed to: an employer's own (naming
    /// another answers 404, so that its existence is not leaked); for the other roles the one
    /// asked, if any.
    pub fn employer_in_scope(
        &self,
        asked: Option<EmployerId>,
    ) -> Result<Option<EmployerId>, ApiError> {
        match (self.scope, asked) {
            (Scope::Employer(own), Some(other)) if other != own => {
                Err(ApiError::NotFound("employer"))
            }
            (Scope::Employer(own), _) => Ok(Some(own)),
            (_, asked) => Ok(asked),
        }
    }

    /// The funder the caller is, if it is one.
    pub fn own_funder(&self) -> Option<FunderId> {
        match self.scope {
            Scope::Funder(id) => Some(id),
            _ => None,
        }
    }
}

fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization header".into()))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("unreadable Authorization header".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("expected 'Authorization: Bearer <token>'".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "expected 'Authorization: Bearer <token>'".into(),
        ));
    }
    Ok(token.trim())
}

/// The employers and funders tokens have been found to name, so that the check that a token's
/// party exists (on every request) reads the database once per party. Parties are never
/// deleted, so a party once found stays valid; a party not found is looked up again next time
/// (it may have been registered since).
#[derive(Debug, Clone, Default)]
pub struct KnownParties {
    found: Arc<Mutex<HashSet<Scope>>>,
}

/// How many parties [`KnownParties`] remembers before starting afresh: far more than any
/// region has, and a bound on what forged-but-signed tokens could make it hold.
const KNOWN_PARTIES_LIMIT: usize = 100_000;

impl KnownParties {
    /// Refuses a caller whose token names an employer or funder that is not registered.
    pub async fn check(&self, state: &AppState, caller: &Caller) -> Result<(), ApiError> {
        let scope = caller.scope;
        if matches!(scope, Scope::Mission | Scope::Admin) || self.knows(scope) {
            return Ok(());
        }
        let exists = state
            .with_connection(move |conn| {
                Ok(match scope {
                    Scope::Employer(id) => crate::db::scope::employer_exists(conn, id)?,
                    Scope::Funder(id) => crate::db::scope::funder_exists(conn, id)?,
                    Scope::Mission | Scope::Admin => true,
                })
            })
            .await?;
        if !exists {
            return Err(ApiError::Unauthorized(format!(
                "the token names an {} that is not registered",
                caller.role()
            )));
        }
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        if found.len() >= KNOWN_PARTIES_LIMIT {
            found.clear();
        }
        found.insert(scope);
        Ok(())
    }

    fn knows(&self, scope: Scope) -> bool {
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&scope)
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let verified = (|| {
            let keys = req
                .app_data::<web::Data<TokenKeys>>()
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("token keys not configured")))?;
            keys.verify(bearer_token(req)?)
        })();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let request_id = req
            .extensions()
            .get::<crate::http::ops::RequestId>()
            .map(|id| id.0.clone());
        Box::pin(async move {
            let mut caller = verified?;
            caller.request_id = request_id;
            let state =
                state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("state not configured")))?;
            state.parties.check(&state, &caller).await?;
            tracing::Span::current().record("caller", caller.key());
            Ok(caller)
        })
    }
}

/// The current time in seconds since the epoch.
pub fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"unit-test-secret-of-at-least-32-bytes";

    fn claims(role: &str) -> Claims {
        Claims {
            sub: "test".into(),
            role: role.into(),
            employer_id: None,
            funder_id: None,
            exp: now_seconds() + 600,
            iat: Some(now_seconds()),
            nbf: None,
        }
    }

    #[test]
    fn a_signed_token_round_trips() {
        let keys = TokenKeys::from_secret(SECRET).unwrap();
        let id = Uuid::now_v7();
        let token = keys
            .sign(&Claims {
                employer_id: Some(id.to_string()),
                ..claims("employer")
            })
            .unwrap();
        assert_eq!(
            keys.verify(&token).unwrap().scope,
            Scope::Employer(EmployerId(id))
        );
    }

    #[test]
    fn bad_tokens_are_refused() {
        let keys = TokenKeys::from_secret(SECRET).unwrap();
        let other = TokenKeys::from_secret(b"another-secret-of-thirty-two-bytes!!").unwrap();
        let expired = Claims {
            exp: now_seconds() - 5,
            ..claims("admin")
        };
        assert!(keys.verify(&keys.sign(&expired).unwrap()).is_err());
        assert!(keys.verify(&other.sign(&claims("admin")).unwrap()).is_err());
        assert!(keys
            .verify(&keys.sign(&claims("employer")).unwrap())
            .is_err());
        assert!(keys.verify(&keys.sign(&claims("root")).unwrap()).is_err());
        // alg: none, with the same claims.
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let body = keys.sign(&claims("admin")).unwrap();
        let payload = body.split('.').nth(1).unwrap();
        assert!(keys.verify(&format!("{header}.{payload}.")).is_err());
    }

    #[test]
    fn short_secrets_are_refused() {
        let error = TokenKeys::from_secret(b"short").err().unwrap().to_string();
        assert!(error.contains("at least 32"), "{error}");
        assert!(TokenKeys::from_secret(&[b'x'; MIN_SECRET_BYTES]).is_ok());
    }

    #[test]
    fn tokens_from_the_future_are_refused() {
        let keys = TokenKeys::from_secret(SECRET).unwrap();
        let reason = |claims: &Claims| match keys.verify(&keys.sign(claims).unwrap()) {
            Err(ApiError::Unauthorized(reason)) => reason,
            other => panic!("{other:?}"),
        };
        let later = Claims {
            nbf: Some(now_seconds() + 60),
            ..claims("admin")
        };
        assert!(reason(&later).contains("nbf"));
        let issued_later = Claims {
            iat: Some(now_seconds() + 60),
            ..claims("admin")
        };
        assert!(reason(&issued_later).contains("iat"));
        // A few seconds of skew between servers are tolerated; a past nbf is fine.
        let skewed = Claims {
            iat: Some(now_seconds() + 3),
            nbf: Some(now_seconds() - 10),
            ..claims("admin")
        };
        assert!(keys.verify(&keys.sign(&skewed).unwrap()).is_ok());
    }

    #[test]
    fn refusals_speak_the_service_words() {
        let keys = TokenKeys::from_secret(SECRET).unwrap();
        // A role that is not a string: the library would quote serde.
        let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
        let payload = "eyJzdWIiOiJ4Iiwicm9sZSI6NDIsImV4cCI6OTk5OTk5OTk5OX0";
        let token = format!("{header}.{payload}.sig");
        let Err(ApiError::Unauthorized(reason)) = keys.verify(&token) else {
            panic!("accepted");
        };
        assert!(
            !reason.contains("JSON error") && !reason.contains('`'),
            "{reason}"
        );
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        let Err(ApiError::Unauthorized(reason)) = keys.verify(&long) else {
            panic!("accepted");
        };
        assert!(reason.contains("longer"), "{reason}");
    }
}
