//! The connection: TLS, bind, the per-operation timeout, and retrying transient failures on a new connection.

use super::*;

impl LdapConnector {
    pub(super) fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs.max(1))
    }

    pub(super) fn encrypted(&self) -> bool {
        self.config.url.starts_with("ldaps://") || self.config.starttls
    }

    pub(super) fn tls_connector(&self) -> Result<native_tls::TlsConnector, Failure> {
        let mut b = native_tls::TlsConnector::builder();
        if let Some(path) = &self.config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Failure::Refused(format!("cannot read ca_file {}: {e}", path.display()))
            })?;
            let cert = native_tls::Certificate::from_pem(&pem).map_err(|e| {
                Failure::Refused(format!(
                    "ca_file {} is not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
            b.add_root_certificate(cert);
        }
        b.danger_accept_invalid_hostnames(!self.config.tls_verify_hostname);
        b.build()
            .map_err(|e| Failure::Refused(format!("cannot set up TLS: {e}")))
    }

    /// A live, bound connection: the cached one, or a new one.
    pub(super) async fn ldap(&self) -> Result<Ldap, Failure> {
        let mut slot = self.conn.lock().await;
        if let Some(l) = slot.as_mut()
            && !l.is_closed()
        {
            return Ok(l.clone());
        }
        if !self.encrypted() && !self.config.allow_plain_bind {
            return Err(Failure::Refused(format!(
                "refusing to send the bind password over plain LDAP to {}: use ldaps:// or starttls = true (allow_plain_bind is for a lab only)",
                self.config.url
            )));
        }
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout())
            .set_starttls(self.config.starttls);
        if self.encrypted() {
            settings = settings.set_connector(self.tls_connector()?);
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(from_ldap)?;
        ldap3::drive!(conn);
        ldap.with_timeout(self.timeout());
        let bound = ldap
            .simple_bind(&self.config.bind_dn, self.config.bind_password.expose())
            .await
            .map_err(from_ldap)?;
        check(bound)?;
        *slot = Some(ldap.clone());
        Ok(ldap)
    }

    /// Forgets the cached connection so the next attempt reconnects.
    pub(super) async fn drop_connection(&self) {
        if let Some(mut l) = self.conn.lock().await.take() {
            let _ = l.unbind().await;
        }
    }

    /// Runs one LDAP exchange with retries for transient failures.
    pub(super) async fn exchange<T, F, Fut>(&self, what: &str, op: F) -> Result<T, Failure>
    where
        F: Fn(Ldap) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        self.exchange_retried(what, op).await.0
    }

    /// [`exchange`](Self::exchange), also saying whether an attempt failed transiently
    /// before the last: a write whose connection was cut may have been made by the server
    /// all the same, so a retry that finds it already made is the first attempt's success
    /// (the callers decide which answers mean that), not a failure to record.
    pub(super) async fn exchange_retried<T, F, Fut>(
        &self,
        what: &str,
        op: F,
    ) -> (Result<T, Failure>, bool)
    where
        F: Fn(Ldap) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let retried = std::sync::atomic::AtomicBool::new(false);
        let attempt = || async {
            let mut ldap = self.ldap().await?;
            // ldap3's timeout covers the next operation only, so set it every time.
            ldap.with_timeout(self.timeout());
            let result = op(ldap).await;
            if let Err(e) = &result
                && e.transient()
            {
                tracing::warn!(system = %self.config.system, what, error = %e, "LDAP transient failure, retrying");
                self.drop_connection().await;
                retried.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            result
        };
        let result = attempt
            .retry(crate::retry::policy(
                Duration::from_millis(200),
                Duration::from_secs(10),
                Some(self.config.retries),
            ))
            .when(Failure::transient)
            .await;
        (result, retried.into_inner())
    }

    pub(super) fn to_error(&self, change: Option<&Change>, f: Failure) -> ConnectorError {
        let system = self.config.system.clone();
        match (&f, change) {
            (
                Failure::Result {
                    code: rc::INVALID_CREDENTIALS,
                    ..
                },
                _,
            )
            | (Failure::Refused(_), None) => ConnectorError::Fatal {
                system,
                detail: f.to_string(),
            },
            _ if f.transient() => ConnectorError::Transient {
                system,
                detail: f.to_string(),
            },
            (_, Some(c)) => ConnectorError::Permanent {
                system,
                change: format!(
                    "{} for employee {} (account {})",
                    c.action,
                    c.employee_number,
                    c.account.as_deref().unwrap_or("not yet created")
                ),
                detail: f.to_string(),
            },
            (_, None) => ConnectorError::Fatal {
                system,
                detail: f.to_string(),
            },
        }
    }
}
