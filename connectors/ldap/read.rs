//! Reading the directory: paged searches (capped by `max_entries`), one person's accounts, correlation's candidates.

use super::*;

pub(super) fn filetime(text: &str) -> Option<jiff::Timestamp> {
    crate::feed::export::filetime(text.parse().ok()?)
}
pub(super) fn first_rdn_value(dn: &str) -> String {
    escape::first_value(dn)
}
pub(super) fn parent_dn(dn: &str) -> Option<String> {
    escape::split_dn(dn).1.map(str::to_string)
}
pub(super) fn one(entry: &SearchEntry, attr: &str) -> Option<String> {
    entry.attrs.get(attr).and_then(|v| v.first()).cloned()
}

impl LdapConnector {
    pub(super) async fn search(
        &self,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, Failure> {
        self.search_map(base, filter, attrs, &Some).await
    }

    /// A paged search whose entries are turned into `T` as each page arrives, so a large
    /// directory is never held as raw entries and as results at once.
    pub(super) async fn search_map<T, F>(
        &self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        convert: &F,
    ) -> Result<Vec<T>, Failure>
    where
        F: Fn(SearchEntry) -> Option<T>,
    {
        let base = base.to_string();
        let filter = filter.to_string();
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        let page = self.config.page_size;
        let max = self.config.max_entries;
        self.exchange("search", |mut ldap| {
            let (base, filter, attrs) = (base.clone(), filter.clone(), attrs.clone());
            async move {
                let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
                    Box::new(EntriesOnly::new()),
                    Box::new(PagedResults::new(page)),
                ];
                let mut stream = ldap
                    .streaming_search_with(adapters, &base, Scope::Subtree, &filter, attrs)
                    .await
                    .map_err(from_ldap)?;
                let mut out = Vec::new();
                let mut seen: u64 = 0;
                while let Some(entry) = stream.next().await.map_err(from_ldap)? {
                    seen += 1;
                    if seen > max {
                        // Asked to stop; the connection stays usable for what follows.
                        let ldap = stream.ldap_handle();
                        let id = ldap.last_id();
                        let _ = ldap.abandon(id).await;
                        return Err(Failure::Refused(format!(
                            "{base}: the search returns more than {max} entries (max_entries): refused rather than held in memory; raise max_entries if the directory really holds that many"
                        )));
                    }
                    out.extend(convert(SearchEntry::construct(entry)));
                }
                check(stream.finish().await)?;
                Ok(out)
            }
        })
        .await
    }

    /// A plain (unpaged) search for lookups that return an entry or two.
    pub(super) async fn lookup(
        &self,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, Failure> {
        let base = self.config.base_dn.clone();
        let filter = filter.to_string();
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        self.exchange("lookup", |mut ldap| {
            let (base, filter, attrs) = (base.clone(), filter.clone(), attrs.clone());
            async move {
                let (entries, result) = ldap
                    .search(&base, Scope::Subtree, &filter, attrs)
                    .await
                    .map_err(from_ldap)?
                    .success()
                    .map_err(from_ldap)?;
                let _ = result;
                Ok(entries.into_iter().map(SearchEntry::construct).collect())
            }
        })
        .await
    }

    pub(super) fn account_filter(&self) -> String {
        match self.config.dialect {
            Dialect::ActiveDirectory => "(&(objectCategory=person)(objectClass=user))".into(),
            Dialect::OpenLdap => "(objectClass=inetOrgPerson)".into(),
        }
    }

    pub(super) async fn find(&self, account: &str) -> Result<Option<SearchEntry>, Failure> {
        let filter = format!(
            "(&{}({}={}))",
            self.account_filter(),
            self.account_attr(),
            escape::filter_value(account)
        );
        let mut found = self
            .search(
                &self.config.base_dn,
                &filter,
                &[
                    "userAccountControl",
                    self.config.disabled_attribute.as_str(),
                ],
            )
            .await?;
        Ok(found.pop())
    }

    /// The account's entry, or "no such object" naming it.
    pub(super) async fn must_find(&self, account: &str) -> Result<SearchEntry, Failure> {
        self.find(account).await?.ok_or_else(|| Failure::Result {
            code: rc::NO_SUCH_OBJECT,
            text: format!("no account {account}"),
        })
    }

    pub(super) async fn find_by_anchor(
        &self,
        employee_number: &str,
    ) -> Result<Option<String>, Failure> {
        let filter = format!(
            "(&{}({}={}))",
            self.account_filter(),
            self.anchor_attr(),
            escape::filter_value(employee_number)
        );
        Ok(self
            .search(&self.config.base_dn, &filter, &["1.1"])
            .await?
            .pop()
            .map(|e| e.dn))
    }

    /// Reads every account, in name order.
    pub(super) async fn read_all(&self) -> Result<Vec<Account>, Failure> {
        self.read_matching(&self.account_filter(), "(objectClass=groupOfNames)")
            .await
    }

    /// The accounts anchored on one employee number, looked up by the (indexed) anchor;
    /// their groups and their managers' employee numbers are looked up for them alone.
    pub(super) async fn read_person_accounts(
        &self,
        employee_number: &str,
    ) -> Result<Vec<Account>, Failure> {
        let filter = format!(
            "(&{}({}={}))",
            self.account_filter(),
            self.anchor_attr(),
            escape::filter_value(employee_number)
        );
        let Some(groups) = self.groups_of_matching(&filter).await? else {
            return Ok(Vec::new());
        };
        let mut accounts = self.read_matching(&filter, &groups).await?;
        for a in &mut accounts {
            if let Some(manager) = a.attributes.get_mut("manager")
                && manager.contains('=')
                && let Some(anchor) = self.anchor_at(manager).await?
            {
                *manager = anchor;
            }
        }
        Ok(accounts)
    }

    /// OpenLDAP (no memberOf): the filter for the groups the entries `filter` finds are
    /// members of, or `None` when it finds none; AD needs none (empty).
    pub(super) async fn groups_of_matching(&self, filter: &str) -> Result<Option<String>, Failure> {
        if self.config.dialect != Dialect::OpenLdap {
            return Ok(Some(String::new()));
        }
        let dns: Vec<String> = self
            .lookup(filter, &["1.1"])
            .await?
            .into_iter()
            .map(|e| format!("(member={})", escape::filter_value(&e.dn)))
            .collect();
        if dns.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!(
            "(&(objectClass=groupOfNames)(|{}))",
            dns.concat()
        )))
    }

    /// The entries a correlation rule could match for `person`: no anchor (or one ending
    /// in their number), and their email, a word of their surname, or the start of the
    /// account name their pattern gives. Correlation decides among them.
    pub(super) async fn candidate_accounts(
        &self,
        person: &Person,
    ) -> Result<Vec<Account>, Failure> {
        use escape::filter_value as v;
        let mut any = Vec::new();
        if let Some(mail) = person
            .work_email
            .as_deref()
            .map(str::trim)
            .filter(|m| m.contains('@'))
        {
            any.push(format!("(mail={})", v(mail)));
            if self.config.dialect == Dialect::ActiveDirectory {
                any.push(format!("(userPrincipalName={})", v(mail)));
                any.push(format!("(proxyAddresses=smtp:{})", v(mail)));
            }
        }
        // The longest plain run of the surname: LDAP compares without case, not without
        // accents or hyphens, so the search is wide and correlation narrows it.
        let word: String = person
            .family_name
            .as_str()
            .split(|c: char| !c.is_alphanumeric())
            .max_by_key(|w| w.chars().count())
            .unwrap_or("")
            .to_string();
        if word.chars().count() >= 2 {
            let plain = crate::naming::fold(&word);
            for attr in ["sn", "displayName", "cn"] {
                any.push(format!("({attr}=*{}*)", v(&word)));
                if !plain.is_empty() && !plain.eq_ignore_ascii_case(&word) {
                    any.push(format!("({attr}=*{}*)", v(&plain)));
                }
            }
        }
        let base = base_name(&self.config.name_pattern, person, self.config.name_max_len);
        let stem: String = base
            .chars()
            .take(self.config.name_max_len.saturating_sub(3).max(1))
            .collect();
        if !stem.is_empty() {
            any.push(format!("({}={}*)", self.account_attr(), v(&stem)));
        }
        let number = person.employee_number.as_str().trim_start_matches('0');
        if !number.is_empty() {
            any.push(format!("({}=*{})", self.anchor_attr(), v(number)));
        }
        if any.is_empty() {
            return Ok(Vec::new());
        }
        let filter = format!("(&{}(|{}))", self.account_filter(), any.concat());
        let Some(groups) = self.groups_of_matching(&filter).await? else {
            return Ok(Vec::new());
        };
        let accounts = self.read_matching(&filter, &groups).await?;
        Ok(accounts
            .into_iter()
            .filter(|a| crate::correlate::could_be_theirs(a, person))
            .collect())
    }

    /// The anchor (employee number) of the entry at `dn`, if it exists and has one.
    pub(super) async fn anchor_at(&self, dn: &str) -> Result<Option<String>, Failure> {
        let dn = dn.to_string();
        let anchor = self.anchor_attr();
        self.exchange("lookup", |mut ldap| {
            let dn = dn.clone();
            async move {
                let found = ldap
                    .search(&dn, Scope::Base, "(objectClass=*)", vec![anchor])
                    .await
                    .map_err(from_ldap)?;
                if found.1.rc == rc::NO_SUCH_OBJECT {
                    return Ok(None);
                }
                let (entries, _) = found.success().map_err(from_ldap)?;
                Ok(entries
                    .into_iter()
                    .next()
                    .and_then(|e| one(&SearchEntry::construct(e), anchor)))
            }
        })
        .await
    }

    /// One entry as an account, with its DN (lower case), as a read sees it: `None` for
    /// an entry without an account name. `member_of`: OpenLDAP's groups by member DN.
    pub(super) fn account_of(
        &self,
        e: SearchEntry,
        member_of: &BTreeMap<String, BTreeSet<String>>,
    ) -> Option<(String, Account)> {
        let d = self.config.dialect;
        let id = one(&e, self.account_attr())?;
        let (enabled, last_logon, entitlements) = match d {
            Dialect::ActiveDirectory => {
                let uac: u32 = one(&e, "userAccountControl")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let groups = e
                    .attrs
                    .get("memberOf")
                    .into_iter()
                    .flatten()
                    .map(|dn| first_rdn_value(dn))
                    .collect();
                (
                    uac & UAC_ACCOUNTDISABLE == 0,
                    one(&e, "lastLogonTimestamp").and_then(|t| filetime(&t)),
                    groups,
                )
            }
            Dialect::OpenLdap => {
                let disabled = e
                    .attrs
                    .get(&self.config.disabled_attribute)
                    .is_some_and(|v| {
                        v.iter()
                            .any(|x| x.eq_ignore_ascii_case(&self.config.disabled_value))
                    });
                (
                    !disabled,
                    None,
                    member_of
                        .get(&e.dn.to_lowercase())
                        .cloned()
                        .unwrap_or_default(),
                )
            }
        };
        Some((
            e.dn.to_lowercase(),
            Account {
                system: self.config.system.clone(),
                id,
                employee_number: one(&e, self.anchor_attr()),
                display_name: one(&e, "displayName")
                    .or_else(|| one(&e, "cn"))
                    .unwrap_or_default(),
                enabled,
                last_logon,
                entitlements: entitlements.into_iter().collect(),
                container: parent_dn(&e.dn),
                attributes: {
                    let mut attributes: BTreeMap<String, String> = self
                        .person_attrs()
                        .into_iter()
                        .map(|(name, ldap)| (name.to_string(), one(&e, ldap).unwrap_or_default()))
                        .collect();
                    // What correlation compares, only where the entry holds it.
                    for (name, ldap) in self.match_attrs() {
                        if let Some(v) = one(&e, ldap).filter(|v| !v.trim().is_empty()) {
                            attributes.insert(name.to_string(), v);
                        }
                    }
                    if let Some(more) = e.attrs.get("proxyAddresses")
                        && !more.is_empty()
                    {
                        attributes.insert(
                            crate::correlate::attr::OTHER_MAIL.to_string(),
                            more.join(";"),
                        );
                    }
                    attributes
                },
            },
        ))
    }

    /// The accounts `filter` finds (OpenLDAP: with the groups `groups_filter` finds),
    /// in name order.
    pub(super) async fn read_matching(
        &self,
        filter: &str,
        groups_filter: &str,
    ) -> Result<Vec<Account>, Failure> {
        let d = self.config.dialect;
        let mut attrs = vec![self.account_attr(), self.anchor_attr(), "cn"];
        attrs.extend(self.person_attrs().map(|(_, ldap)| ldap));
        attrs.extend(self.match_attrs().iter().map(|(_, ldap)| *ldap));
        if d == Dialect::ActiveDirectory {
            attrs.push("proxyAddresses");
        }
        match d {
            Dialect::ActiveDirectory => {
                attrs.extend(["userAccountControl", "lastLogonTimestamp", "memberOf"])
            }
            Dialect::OpenLdap => attrs.push(self.config.disabled_attribute.as_str()),
        }
        // OpenLDAP has no memberOf without an overlay: read the groups once and invert.
        let mut member_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        if d == Dialect::OpenLdap {
            for g in self
                .search(
                    &self.config.groups_container,
                    groups_filter,
                    &["cn", "member"],
                )
                .await?
            {
                let name = one(&g, "cn").unwrap_or_else(|| first_rdn_value(&g.dn));
                for m in g.attrs.get("member").into_iter().flatten() {
                    member_of
                        .entry(m.to_lowercase())
                        .or_default()
                        .insert(name.clone());
                }
            }
        }
        // Each entry becomes an account (kept with its DN) as its page arrives; managers are
        // named by DN and compared as employee numbers, so they are resolved once every
        // page is in.
        let convert = |e: SearchEntry| self.account_of(e, &member_of);
        let read = self
            .search_map(&self.config.base_dn, filter, &attrs, &convert)
            .await?;
        let anchor_of: BTreeMap<&str, &str> = read
            .iter()
            .filter_map(|(dn, a)| Some((dn.as_str(), a.employee_number.as_deref()?)))
            .collect();
        let anchors: Vec<Option<String>> = read
            .iter()
            .map(|(_, a)| {
                let manager = a.attributes.get("manager")?.to_lowercase();
                anchor_of.get(manager.as_str()).map(|s| s.to_string())
            })
            .collect();
        drop(anchor_of);
        let mut out: Vec<Account> = read.into_iter().map(|(_, a)| a).collect();
        for (a, anchor) in out.iter_mut().zip(anchors) {
            if let (Some(manager), Some(anchor)) = (a.attributes.get_mut("manager"), anchor) {
                *manager = anchor;
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
