//! Writing users: create (inactive, anchored on `employeeNumber`), PATCH with `If-Match`, group membership.

use super::*;

/// The user resource Turnstile creates: inactive until an enable follows, anchored on the
/// employee number, with the person attributes HR gives (name, title, department, work
/// email), so a new account needs no update after it.
pub(super) fn user_body(person: &Person, name: &str) -> Value {
    let given = person
        .preferred_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(person.given_name.as_str());
    let hr = crate::desired::person_attributes(person);
    let mut enterprise = json!({"employeeNumber": person.employee_number.as_str()});
    if let (Some(d), Some(o)) = (hr.get("department"), enterprise.as_object_mut()) {
        o.insert("department".into(), json!(d));
    }
    let mut user = json!({
        "schemas": [USER, ENTERPRISE],
        "userName": name,
        "active": false,
        "displayName": person.display_name(),
        "name": {"givenName": given, "familyName": person.family_name.as_str()},
        ENTERPRISE: enterprise,
    });
    if let Some(o) = user.as_object_mut() {
        if let Some(title) = hr.get("title") {
            o.insert("title".into(), json!(title));
        }
        if let Some(mail) = hr.get("mail") {
            o.insert(
                "emails".into(),
                json!([{"value": mail, "type": "work", "primary": true}]),
            );
        }
    }
    user
}

impl ScimConnector {
    /// A PATCH of a user, with `If-Match` when its version is known; a 412 (changed since
    /// read) re-reads it and tries once more.
    pub(super) async fn patch_user(&self, name: &str, ops: Vec<Value>) -> Result<(), Failure> {
        let body =
            serde_json::to_value(PatchOp::new(ops)).map_err(|e| Failure::Fatal(e.to_string()))?;
        for attempt in 0..2 {
            let k = self.known(name).await?;
            let url = self.url(&format!("/Users/{}", k.id));
            match self
                .call(reqwest::Method::PATCH, &url, Some(&body), k.etag.as_deref())
                .await
            {
                Ok(a) => {
                    self.update_version(name, &k.id, &a);
                    return Ok(());
                }
                Err(Failure::Refused { status: 412, .. }) if attempt == 0 => {
                    lock(&self.users).remove(&name.to_lowercase());
                }
                Err(e) => return Err(e),
            }
        }
        Err(Failure::Transient(format!(
            "{name} kept changing on the service while Turnstile changed it"
        )))
    }

    /// The version after a change: from the answer's ETag or body (200), else unknown
    /// (204), so the next change reads it afresh rather than sending a stale one.
    pub(super) fn update_version(&self, name: &str, id: &str, a: &Answer) {
        let etag = a.etag.clone().or_else(|| {
            a.body
                .as_ref()
                .and_then(|b| b.get("meta")?.get("version")?.as_str().map(str::to_string))
        });
        let mut known = lock(&self.users);
        match etag {
            Some(etag) => {
                known.insert(
                    name.to_lowercase(),
                    Known {
                        id: id.to_string(),
                        etag: Some(etag),
                    },
                );
            }
            None => {
                known.remove(&name.to_lowercase());
            }
        }
    }

    pub(super) async fn create(&self, person: &Person) -> Result<String, Failure> {
        // Never a second account for someone who has one.
        let existing = self.read_one(person.employee_number.as_str()).await?;
        if let Some(a) = existing.first() {
            return Ok(a.id.clone());
        }
        let base =
            crate::naming::base_name(&self.config.name_pattern, person, self.config.name_max_len);
        let mut last = None;
        for n in 1..=self.config.name_candidates {
            let name = format!(
                "{}{}",
                crate::naming::candidate(&base, n, self.config.name_max_len),
                self.config.name_suffix
            );
            // The service says whether a name is taken (409 uniqueness) in the same
            // request that takes it: no window between a check and the create.
            let body = user_body(person, &name);
            match self
                .call(
                    reqwest::Method::POST,
                    &self.url("/Users"),
                    Some(&body),
                    None,
                )
                .await
            {
                Ok(a) => {
                    if let Some(id) = a
                        .body
                        .as_ref()
                        .and_then(|b| b.get("id"))
                        .and_then(Value::as_str)
                    {
                        self.update_version(&name, id, &a);
                    }
                    return Ok(name);
                }
                Err(Failure::Refused {
                    status: 409,
                    scim_type,
                    detail,
                }) => {
                    last = Some(Failure::Refused {
                        status: 409,
                        scim_type,
                        detail: format!("userName {name} clashes with an existing user: {detail}"),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Failure::Refused {
            status: 409,
            scim_type: Some("uniqueness".into()),
            detail: format!(
                "every userName from {base}{} to the {}th alternative is taken: give this person a name by hand",
                self.config.name_suffix, self.config.name_candidates
            ),
        }))
    }

    pub(super) async fn membership_change(
        &self,
        account: &str,
        group: &str,
        add: bool,
    ) -> Result<(), Failure> {
        let user = self.known(account).await?;
        let gid = self.group_id(group).await?;
        let op = if add {
            json!({"op": "add", "path": "members", "value": [{"value": user.id}]})
        } else {
            json!({"op": "remove", "path": format!("members[value eq {}]", quote(&user.id))})
        };
        let body = serde_json::to_value(PatchOp::new(vec![op]))
            .map_err(|e| Failure::Fatal(e.to_string()))?;
        self.call(
            reqwest::Method::PATCH,
            &self.url(&format!("/Groups/{gid}")),
            Some(&body),
            None,
        )
        .await
        .map(|_| ())
    }

    pub(super) async fn apply_change(
        &self,
        person: &Person,
        change: &Change,
    ) -> Result<Option<String>, Failure> {
        let account = || {
            change.account.clone().ok_or_else(|| Failure::Refused {
                status: 400,
                scim_type: None,
                detail: "no account named".into(),
            })
        };
        match &change.action {
            Action::Create => return self.create(person).await.map(Some),
            Action::Enable | Action::Disable => {
                let active = change.action == Action::Enable;
                self.patch_user(
                    &account()?,
                    vec![json!({"op": "replace", "path": "active", "value": active})],
                )
                .await?
            }
            Action::Grant { entitlement } => {
                self.membership_change(&account()?, entitlement, true)
                    .await?
            }
            Action::Revoke { entitlement } => {
                self.membership_change(&account()?, entitlement, false)
                    .await?
            }
            Action::Update { attribute, value } => {
                let (path, value) = match attribute.as_str() {
                    "display_name" => ("displayName".to_string(), json!(value)),
                    "title" => ("title".to_string(), json!(value)),
                    "department" => (format!("{ENTERPRISE}:department"), json!(value)),
                    crate::plan::ANCHOR => (format!("{ENTERPRISE}:employeeNumber"), json!(value)),
                    "mail" => (
                        "emails".to_string(),
                        json!([{"value": value, "type": "work", "primary": true}]),
                    ),
                    other => {
                        return Err(Failure::Refused {
                            status: 400,
                            scim_type: None,
                            detail: format!(
                                "attribute {other} is not kept in step on SCIM targets"
                            ),
                        });
                    }
                };
                self.patch_user(
                    &account()?,
                    vec![json!({"op": "replace", "path": path, "value": value})],
                )
                .await?
            }
            Action::Move { .. } => {
                return Err(Failure::Refused {
                    status: 400,
                    scim_type: None,
                    detail: "SCIM has no containers to move accounts between".into(),
                });
            }
            Action::Delete => {
                if !self.allows_delete {
                    return Err(Failure::Refused {
                        status: 400,
                        scim_type: None,
                        detail: "the role model does not allow deleting accounts here; the account is disabled instead".into(),
                    });
                }
                let name = account()?;
                let k = self.known(&name).await?;
                self.call(
                    reqwest::Method::DELETE,
                    &self.url(&format!("/Users/{}", k.id)),
                    None,
                    None,
                )
                .await?;
                lock(&self.users).remove(&name.to_lowercase());
            }
        }
        Ok(None)
    }
}
