//! What went wrong in one LDAP exchange, classified for the operator (transient, refused, a result code).

use super::*;

/// LDAP result codes the connector tells apart.
pub(super) mod rc {
    pub const NO_SUCH_ATTRIBUTE: u32 = 16;
    pub const CONSTRAINT_VIOLATION: u32 = 19;
    pub const ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const INSUFFICIENT_ACCESS: u32 = 50;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
    pub const UNWILLING: u32 = 53;
    pub const ALREADY_EXISTS: u32 = 68;
    pub const OTHER: u32 = 80;
}
/// What went wrong in one LDAP exchange, before it is given an operator's meaning.
#[derive(Debug, Clone)]
pub(super) enum Failure {
    /// The connection failed, dropped or timed out: retry on a new connection.
    Transport(String),
    /// The server answered with a result code.
    Result { code: u32, text: String },
    /// Refused before anything was sent.
    Refused(String),
}
impl Failure {
    pub(super) fn transient(&self) -> bool {
        match self {
            Failure::Transport(_) => true,
            Failure::Result { code, .. } => matches!(*code, rc::BUSY | rc::UNAVAILABLE | rc::OTHER),
            Failure::Refused(_) => false,
        }
    }
}
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(t) => write!(f, "connection problem: {t}"),
            Failure::Result { code, text } => {
                let hint = match *code {
                    rc::INVALID_CREDENTIALS => {
                        " (invalid credentials: check bind_dn and bind_password)"
                    }
                    rc::INSUFFICIENT_ACCESS => {
                        " (insufficient access: the service account lacks rights on this object)"
                    }
                    rc::NO_SUCH_OBJECT => {
                        " (no such object: the entry or its container does not exist)"
                    }
                    rc::CONSTRAINT_VIOLATION => {
                        " (constraint violation: the directory refused the value)"
                    }
                    rc::UNWILLING => {
                        " (the server is unwilling to perform this; for a password, use LDAPS)"
                    }
                    _ => "",
                };
                write!(f, "LDAP result {code}{hint}: {text}")
            }
            Failure::Refused(t) => f.write_str(t),
        }
    }
}
pub(super) fn from_ldap(e: LdapError) -> Failure {
    match e {
        LdapError::LdapResult { result } => Failure::Result {
            code: result.rc,
            text: result.text,
        },
        other => Failure::Transport(other.to_string()),
    }
}
pub(super) fn check(result: ldap3::LdapResult) -> Result<(), Failure> {
    if result.rc == 0 {
        Ok(())
    } else {
        Err(Failure::Result {
            code: result.rc,
            text: result.text,
        })
    }
}
