//! Writing the directory: create (named by the pattern, with an OS-random initial password), enable and disable, groups, moves, deletes, attribute updates.

use super::*;

/// AD `userAccountControl` bits.
pub(super) const UAC_ACCOUNTDISABLE: u32 = 0x2;
pub(super) const UAC_NORMAL_ACCOUNT: u32 = 0x200;
/// A random password meeting AD complexity, for an account that must change it at first
/// logon: 24 characters drawn from the operating system's random source (not a hash
/// seed), set once and never logged or stored. Without a random source nothing is
/// created.
pub(super) fn initial_password() -> Result<String, Failure> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 48];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| {
            Failure::Refused(format!(
                "no random source for the first password (/dev/urandom: {e}); nothing created"
            ))
        })?;
    let mut out = String::from("Ts-");
    // Rejection sampling: only bytes below the largest multiple of the alphabet's size,
    // so every character is equally likely.
    let limit = 256 - 256 % ALPHABET.len();
    for b in bytes.iter().filter(|b| usize::from(**b) < limit).take(24) {
        out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
    }
    if out.len() < 3 + 24 {
        return Err(Failure::Refused(
            "the random source gave too few usable bytes for the first password; nothing created"
                .into(),
        ));
    }
    out.push_str("!7");
    Ok(out)
}
/// `"password"` as UTF-16LE, as AD's `unicodePwd` wants it.
pub(super) fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}
/// The first RDN of a DN, honouring escaped commas.
pub(super) fn rdn_of(dn: &str) -> Option<&str> {
    match escape::split_dn(dn) {
        (rdn, Some(_)) => Some(rdn),
        (_, None) => None,
    }
}

impl LdapConnector {
    /// Sets one person attribute; `manager` is given as an employee number and written as
    /// the manager's DN.
    pub(super) async fn update(
        &self,
        account: &str,
        attribute: &str,
        value: &str,
    ) -> Result<(), Failure> {
        let entry = self.must_find(account).await?;
        if attribute == crate::plan::ANCHOR {
            // An empty anchor takes it off (a link undone).
            let values: HashSet<Vec<u8>> = if value.trim().is_empty() {
                HashSet::new()
            } else {
                [value.as_bytes().to_vec()].into()
            };
            return self
                .modify(
                    &entry.dn,
                    vec![Mod::Replace(self.anchor_attr().as_bytes().to_vec(), values)],
                )
                .await;
        }
        let Some((_, name)) = self
            .person_attrs()
            .into_iter()
            .find(|(a, _)| *a == attribute)
        else {
            return Err(Failure::Refused(format!(
                "attribute `{attribute}` is not one this connector keeps"
            )));
        };
        let value = if attribute == "manager" {
            self.find_by_anchor(value).await?.ok_or_else(|| Failure::Result {
                code: rc::NO_SUCH_OBJECT,
                text: format!("line manager {value} has no account in this directory, so `manager` cannot point at them"),
            })?
        } else {
            value.to_string()
        };
        self.modify(
            &entry.dn,
            vec![Mod::Replace(
                name.as_bytes().to_vec(),
                [value.into_bytes()].into(),
            )],
        )
        .await
    }

    pub(super) async fn modify(&self, dn: &str, mods: Vec<Mod<Vec<u8>>>) -> Result<(), Failure> {
        let dn = dn.to_string();
        let (result, retried) = self
            .exchange_retried("modify", |mut ldap| {
                let (dn, mods) = (dn.clone(), mods.clone());
                async move { check(ldap.modify(&dn, mods).await.map_err(from_ldap)?) }
            })
            .await;
        match result {
            // The attempt whose answer was lost made the change: the value it added is
            // there, the one it removed is gone.
            Err(Failure::Result {
                code: rc::ATTRIBUTE_OR_VALUE_EXISTS | rc::NO_SUCH_ATTRIBUTE,
                ..
            }) if retried => {
                tracing::info!(system = %self.config.system, dn = %dn, "a retried modify found the lost attempt's change made");
                Ok(())
            }
            other => other,
        }
    }

    pub(super) fn bytes(values: &[&str]) -> HashSet<Vec<u8>> {
        values.iter().map(|v| v.as_bytes().to_vec()).collect()
    }

    /// A free account name for a person: the pattern, then `name2`, `name3`, ... An existing
    /// account (a leaver's included) keeps its name, so a name is never reused while the
    /// account exists.
    pub(super) async fn free_name(&self, person: &Person) -> Result<String, Failure> {
        let base = base_name(&self.config.name_pattern, person, self.config.name_max_len);
        let anchor = format!(
            "({}={})",
            self.anchor_attr(),
            escape::filter_value(person.employee_number.as_str())
        );
        for n in 1..1000 {
            let name = candidate(&base, n, self.config.name_max_len);
            let mut taken = format!("({}={})", self.account_attr(), escape::filter_value(&name));
            if let (Dialect::ActiveDirectory, Some(suffix)) =
                (self.config.dialect, &self.config.upn_suffix)
            {
                taken = format!(
                    "{taken}(userPrincipalName={})",
                    escape::filter_value(&format!("{name}@{suffix}"))
                );
            }
            // The first query also asks whether this person already has an account: one
            // round trip for both safety checks.
            let filter = if n == 1 {
                format!("(|{anchor}{taken})")
            } else {
                format!("(|{taken})")
            };
            let found = self.lookup(&filter, &[self.anchor_attr()]).await?;
            if let Some(existing) = found.iter().find(|e| {
                one(e, self.anchor_attr()).as_deref() == Some(person.employee_number.as_str())
            }) {
                return Err(Failure::Refused(format!(
                    "employee {} already has an account at {}; read accounts again before creating",
                    person.employee_number, existing.dn
                )));
            }
            if found.is_empty() {
                return Ok(name);
            }
        }
        Err(Failure::Refused(format!(
            "no free account name for {base} after 999 tries"
        )))
    }

    pub(super) async fn create(&self, person: &Person) -> Result<String, Failure> {
        let name = self.free_name(person).await?;
        let display = person.display_name();
        let primary = person.primary();
        let manager_dn = match &person.line_manager {
            Some(m) if m != &person.employee_number => self.find_by_anchor(m.as_str()).await?,
            _ => None,
        };
        let mut attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = Vec::new();
        let mut put = |k: &str, v: &str| {
            if !v.trim().is_empty() {
                attrs.push((k.as_bytes().to_vec(), Self::bytes(&[v])));
            }
        };
        put("givenName", person.given_name.as_str());
        put("sn", person.family_name.as_str());
        put("displayName", &display);
        put(self.anchor_attr(), person.employee_number.as_str());
        if let Some(mail) = &person.work_email {
            put("mail", mail);
        }
        if let Some(title) = primary.and_then(|a| a.position_title.as_deref()) {
            put("title", title);
        }
        if let Some(m) = &manager_dn {
            put("manager", m);
        }
        let dn = match self.config.dialect {
            Dialect::ActiveDirectory => {
                put("sAMAccountName", &name);
                if let Some(suffix) = &self.config.upn_suffix {
                    put("userPrincipalName", &format!("{name}@{suffix}"));
                }
                if let Some(dept) = primary.and_then(|a| a.organisation.as_deref()) {
                    put("department", dept);
                }
                put(
                    "userAccountControl",
                    &(UAC_NORMAL_ACCOUNT | UAC_ACCOUNTDISABLE).to_string(),
                );
                attrs.push((
                    b"objectClass".to_vec(),
                    Self::bytes(&["top", "person", "organizationalPerson", "user"]),
                ));
                // CN must be unique in the container: the display name, then with the
                // account name when two people share it.
                format!(
                    "CN={} ({name}),{}",
                    escape::dn_value(&display),
                    self.config.users_container
                )
            }
            Dialect::OpenLdap => {
                put("uid", &name);
                put("cn", &display);
                if let Some(dept) = primary.and_then(|a| a.organisation.as_deref()) {
                    put("ou", dept);
                }
                put(
                    &self.config.disabled_attribute.clone(),
                    &self.config.disabled_value.clone(),
                );
                attrs.push((
                    b"objectClass".to_vec(),
                    Self::bytes(&["top", "person", "organizationalPerson", "inetOrgPerson"]),
                ));
                format!(
                    "uid={},{}",
                    escape::dn_value(&name),
                    self.config.users_container
                )
            }
        };
        let add_dn = dn.clone();
        let (added, retried) = self
            .exchange_retried("add", |mut ldap| {
                let (dn, attrs) = (add_dn.clone(), attrs.clone());
                async move { check(ldap.add(&dn, attrs).await.map_err(from_ldap)?) }
            })
            .await;
        match added {
            Ok(()) => {}
            // The attempt whose answer was lost made the entry: it is there with this
            // person's anchor. Anyone else's entry at that name is a real clash.
            Err(Failure::Result {
                code: rc::ALREADY_EXISTS,
                ..
            }) if retried
                && self.anchor_at(&dn).await?.as_deref()
                    == Some(person.employee_number.as_str()) =>
            {
                tracing::info!(system = %self.config.system, dn = %dn, "a retried add found the lost attempt's entry made");
            }
            Err(e) => return Err(e),
        }
        if self.config.dialect == Dialect::ActiveDirectory {
            if self.encrypted() {
                // A random first password the user must change at first logon (seed 002).
                self.modify(
                    &dn,
                    vec![
                        Mod::Replace(
                            b"unicodePwd".to_vec(),
                            [unicode_pwd(&initial_password()?)].into(),
                        ),
                        Mod::Replace(b"pwdLastSet".to_vec(), [b"0".to_vec()].into()),
                    ],
                )
                .await?;
            } else {
                tracing::warn!(system = %self.config.system, account = %name,
                    "created without a password: passwords are only sent over LDAPS or StartTLS");
            }
        }
        Ok(name)
    }

    pub(super) async fn set_enabled(&self, account: &str, enabled: bool) -> Result<(), Failure> {
        let entry = self.must_find(account).await?;
        match self.config.dialect {
            Dialect::ActiveDirectory => {
                let uac: u32 = one(&entry, "userAccountControl")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(UAC_NORMAL_ACCOUNT);
                // Only the disable bit changes; every other bit is kept.
                let new = if enabled {
                    uac & !UAC_ACCOUNTDISABLE
                } else {
                    uac | UAC_ACCOUNTDISABLE
                };
                if new != uac {
                    self.modify(
                        &entry.dn,
                        vec![Mod::Replace(
                            b"userAccountControl".to_vec(),
                            [new.to_string().into_bytes()].into(),
                        )],
                    )
                    .await?;
                }
                Ok(())
            }
            Dialect::OpenLdap => {
                let attr = self.config.disabled_attribute.as_bytes().to_vec();
                let value: HashSet<Vec<u8>> =
                    [self.config.disabled_value.as_bytes().to_vec()].into();
                let marked = entry
                    .attrs
                    .get(&self.config.disabled_attribute)
                    .is_some_and(|v| {
                        v.iter()
                            .any(|x| x.eq_ignore_ascii_case(&self.config.disabled_value))
                    });
                match (enabled, marked) {
                    (true, true) => self.modify(&entry.dn, vec![Mod::Delete(attr, value)]).await,
                    (false, false) => self.modify(&entry.dn, vec![Mod::Add(attr, value)]).await,
                    _ => Ok(()),
                }
            }
        }
    }

    pub(super) async fn membership(
        &self,
        account: &str,
        entitlement: &str,
        add: bool,
    ) -> Result<(), Failure> {
        let entry = self.must_find(account).await?;
        let group = self.group_dn(entitlement);
        let member: HashSet<Vec<u8>> = [entry.dn.into_bytes()].into();
        let m = if add {
            Mod::Add(b"member".to_vec(), member)
        } else {
            Mod::Delete(b"member".to_vec(), member)
        };
        match self.modify(&group, vec![m]).await {
            // Already a member / already not a member: the change is done.
            Err(Failure::Result { code, .. })
                if (add && matches!(code, rc::ATTRIBUTE_OR_VALUE_EXISTS | rc::ALREADY_EXISTS))
                    || (!add && matches!(code, rc::NO_SUCH_ATTRIBUTE | rc::UNWILLING)) =>
            {
                Ok(())
            }
            Err(Failure::Result {
                code: rc::NO_SUCH_OBJECT,
                text,
            }) => Err(Failure::Result {
                code: rc::NO_SUCH_OBJECT,
                text: format!(
                    "group {group} does not exist (create it, or remove {entitlement} from the role model): {text}"
                ),
            }),
            other => other,
        }
    }

    pub(super) async fn move_to(&self, account: &str, container: &str) -> Result<(), Failure> {
        let entry = self.must_find(account).await?;
        if parent_dn(&entry.dn).is_some_and(|p| p.eq_ignore_ascii_case(container)) {
            return Ok(());
        }
        let rdn = rdn_of(&entry.dn).unwrap_or(&entry.dn).to_string();
        let (dn, container) = (entry.dn.clone(), container.to_string());
        self.exchange("modifydn", |mut ldap| {
            let (dn, rdn, container) = (dn.clone(), rdn.clone(), container.clone());
            async move {
                check(
                    ldap.modifydn(&dn, &rdn, true, Some(&container))
                        .await
                        .map_err(from_ldap)?,
                )
            }
        })
        .await
    }

    pub(super) async fn delete(&self, account: &str) -> Result<(), Failure> {
        if !self.allows_delete {
            return Err(Failure::Refused(format!(
                "refusing to delete {account}: the role model says {} holds clinical history or never deletes; accounts there are disabled, never deleted",
                self.config.system
            )));
        }
        let entry = self.must_find(account).await?;
        let dn = entry.dn.clone();
        self.exchange("delete", |mut ldap| {
            let dn = dn.clone();
            async move { check(ldap.delete(&dn).await.map_err(from_ldap)?) }
        })
        .await
    }

    pub(super) async fn apply_change(
        &self,
        person: &Person,
        change: &Change,
    ) -> Result<Applied, Failure> {
        let account = || {
            change
                .account
                .clone()
                .ok_or_else(|| Failure::Refused(format!("{} needs an account name", change.action)))
        };
        match &change.action {
            Action::Create => Ok(Applied::Done {
                account: Some(self.create(person).await?),
            }),
            Action::Enable => self
                .set_enabled(&account()?, true)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Disable => self
                .set_enabled(&account()?, false)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Grant { entitlement } => self
                .membership(&account()?, entitlement, true)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Revoke { entitlement } => self
                .membership(&account()?, entitlement, false)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Update { attribute, value } => self
                .update(&account()?, attribute, value)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Move { container } => self
                .move_to(&account()?, container)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Delete => self
                .delete(&account()?)
                .await
                .map(|()| Applied::Done { account: None }),
        }
    }
}
