//! Reading users and groups into accounts, and the versions last read.

use super::*;

impl ScimConnector {
    pub(crate) fn account_of(
        &self,
        user: &Value,
        member_of: &BTreeMap<String, Vec<String>>,
    ) -> Option<Account> {
        let id = user.get("id")?.as_str()?.to_string();
        let name = user.get("userName")?.as_str()?.to_string();
        let ext = user.get(ENTERPRISE);
        let mut attributes = BTreeMap::new();
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        attributes.insert("display_name".to_string(), text(user.get("displayName")));
        attributes.insert("title".to_string(), text(user.get("title")));
        attributes.insert(
            "department".to_string(),
            text(ext.and_then(|e| e.get("department"))),
        );
        attributes.insert(
            "mail".to_string(),
            user.get("emails")
                .and_then(Value::as_array)
                .and_then(|emails| {
                    emails
                        .iter()
                        .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
                        .or_else(|| emails.first())
                })
                .map(|e| text(e.get("value")))
                .unwrap_or_default(),
        );
        // What correlation compares, only where the user holds it.
        {
            use crate::correlate::attr;
            let name = user.get("name");
            for (key, field) in [
                (attr::GIVEN_NAME, "givenName"),
                (attr::FAMILY_NAME, "familyName"),
            ] {
                let v = text(name.and_then(|n| n.get(field)));
                if !v.trim().is_empty() {
                    attributes.insert(key.to_string(), v);
                }
            }
            let all: Vec<String> = user
                .get("emails")
                .and_then(Value::as_array)
                .map(|emails| {
                    emails
                        .iter()
                        .map(|e| text(e.get("value")))
                        .filter(|v| !v.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            if !all.is_empty() {
                attributes.insert(attr::OTHER_MAIL.to_string(), all.join(";"));
            }
        }
        let last_logon = self
            .config
            .last_logon_attribute
            .as_deref()
            .and_then(|path| {
                let (schema, attr) = path.rsplit_once(':').unwrap_or(("", path));
                let holder = if schema.is_empty() {
                    Some(user)
                } else {
                    user.get(schema)
                };
                holder?.get(attr)?.as_str()?.parse::<jiff::Timestamp>().ok()
            });
        Some(Account {
            system: self.system.clone(),
            employee_number: ext
                .and_then(|e| e.get("employeeNumber"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            display_name: text(user.get("displayName")),
            // `active` absent means active (RFC 7643 §4.1.1 leaves it to the provider;
            // every provider seen treats a user as usable unless told otherwise).
            enabled: user.get("active").and_then(Value::as_bool).unwrap_or(true),
            last_logon,
            entitlements: member_of.get(&id).cloned().unwrap_or_default().into(),
            container: None,
            attributes,
            id: name,
        })
    }

    pub(crate) fn remember(&self, users: &[Value]) {
        let mut known = lock(&self.users);
        for u in users {
            if let (Some(id), Some(name)) = (
                u.get("id").and_then(Value::as_str),
                u.get("userName").and_then(Value::as_str),
            ) {
                let etag = u
                    .get("meta")
                    .and_then(|m| m.get("version"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                known.insert(
                    name.to_lowercase(),
                    Known {
                        id: id.to_string(),
                        etag,
                    },
                );
            }
        }
    }

    /// user id → the names of the groups it is a member of, from `groups`.
    pub(crate) fn membership(&self, groups: &[Value]) -> BTreeMap<String, Vec<String>> {
        let mut ids = lock(&self.groups);
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for g in groups {
            let (Some(id), Some(name)) = (
                g.get("id").and_then(Value::as_str),
                g.get("displayName").and_then(Value::as_str),
            ) else {
                continue;
            };
            ids.insert(name.to_string(), id.to_string());
            for m in g
                .get("members")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(user) = m.get("value").and_then(Value::as_str) {
                    out.entry(user.to_string())
                        .or_default()
                        .push(name.to_string());
                }
            }
        }
        out
    }

    pub(super) async fn read_all(&self) -> Result<Vec<Account>, Failure> {
        let users = self.list("/Users", None).await?;
        let groups = self.list("/Groups", None).await?;
        self.remember(&users);
        let member_of = self.membership(&groups);
        let mut out: Vec<Account> = users
            .iter()
            .filter_map(|u| self.account_of(u, &member_of))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    pub(super) async fn read_one(&self, employee_number: &str) -> Result<Vec<Account>, Failure> {
        let filter = format!("{ENTERPRISE}:employeeNumber eq {}", quote(employee_number));
        let users = self.list("/Users", Some(&filter)).await?;
        self.remember(&users);
        let mut out = Vec::new();
        for u in &users {
            let Some(id) = u.get("id").and_then(Value::as_str) else {
                continue;
            };
            let groups = self
                .list("/Groups", Some(&format!("members.value eq {}", quote(id))))
                .await?;
            let member_of = self.membership(&groups);
            out.extend(self.account_of(u, &member_of));
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The SCIM id and version of an account, from the last read or looked up by name.
    pub(super) async fn known(&self, name: &str) -> Result<Known, Failure> {
        if let Some(k) = lock(&self.users).get(&name.to_lowercase()).cloned() {
            return Ok(k);
        }
        let users = self
            .list("/Users", Some(&format!("userName eq {}", quote(name))))
            .await?;
        self.remember(&users);
        lock(&self.users)
            .get(&name.to_lowercase())
            .cloned()
            .ok_or_else(|| Failure::Refused {
                status: 404,
                scim_type: None,
                detail: format!("there is no user {name}"),
            })
    }

    pub(super) async fn group_id(&self, name: &str) -> Result<String, Failure> {
        if let Some(id) = lock(&self.groups).get(name).cloned() {
            return Ok(id);
        }
        let groups = self
            .list("/Groups", Some(&format!("displayName eq {}", quote(name))))
            .await?;
        self.membership(&groups);
        lock(&self.groups).get(name).cloned().ok_or_else(|| Failure::Refused {
            status: 404,
            scim_type: None,
            detail: format!("there is no group {name}: create it in the service, or take it out of the role model"),
        })
    }
}
