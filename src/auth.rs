//! Bearer tokens (HS256 JWT) and the caller's scope.
//!
//! Validation fixes the algorithm, the leeway and the required claims explicitly instead of
//! trusting library defaults. A token that fails any check answers 401; what the caller may do
//! once identified is decided by [`Caller`]'s methods.

use crate::domain::ids::{EmployerId, FunderId};
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::future::{ready, Ready};
use uuid::Uuid;

/// Clock skew tolerated on `exp`, in seconds. Tokens are minted by this service's own
/// `token` command, so servers and minter share a clock: no tolerance is needed, and an
/// expired token is refused at once.
const LEEWAY_SECONDS: u64 = 0;

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
}

/// What a caller may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// The keys tokens are signed and checked with.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    /// Keys from the shared HS256 secret.
    pub fn from_secret(secret: &[u8]) -> anyhow::Result<TokenKeys> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = false;
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
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| ApiError::Unauthorized(format!("invalid token: {e}")))?;
        caller_from_claims(data.claims)
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
    })
}

impl Caller {
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

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let result = (|| {
            let keys = req
                .app_data::<web::Data<TokenKeys>>()
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("token keys not configured")))?;
            let caller = keys.verify(bearer_token(req)?)?;
            tracing::Span::current().record("caller", caller.key());
            Ok(caller)
        })();
        ready(result)
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

    fn claims(role: &str) -> Claims {
        Claims {
            sub: "test".into(),
            role: role.into(),
            employer_id: None,
            funder_id: None,
            exp: now_seconds() + 600,
            iat: Some(now_seconds()),
        }
    }

    #[test]
    fn a_signed_token_round_trips() {
        let keys = TokenKeys::from_secret(b"secret").unwrap();
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
        let keys = TokenKeys::from_secret(b"secret").unwrap();
        let other = TokenKeys::from_secret(b"other").unwrap();
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
}
