//! Claimed domains: an organization proves it controls `example.com` by publishing the TXT
//! record `tally-domain-verify=<token>` there. Verified domains are re-checked; one whose
//! record has been gone for a week becomes unverified. A domain belongs to one organization.

use std::net::SocketAddr;

use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use jiff::SignedDuration;
use serde_json::json;
use tally_store::ClaimedDomain;
use tally_types::{Principal, Secret};

use crate::IamError;
use crate::admin::{Ctx, WithChange};
use crate::authz::OrgPermit;
use tally_types::permissions::org::ManageSecurity;

/// The TXT record's prefix.
pub const RECORD_PREFIX: &str = "tally-domain-verify=";
/// How long a verified domain may lack its record before it is unverified.
pub const GRACE: SignedDuration = SignedDuration::from_hours(24 * 7);

/// A lowercase domain name of at least two labels, letters, digits and hyphens.
pub fn check_domain(text: &str) -> Result<String, IamError> {
    let domain = text.trim().trim_end_matches('.').to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || domain.len() > 253 || !labels.iter().all(label_ok) {
        return Err(IamError::invalid("domain", format!("{text:?} is not a domain name such as example.com")));
    }
    Ok(domain)
}

/// Looks up TXT records; `resolver` names a DNS server, or the system's is used.
pub async fn txt_records(resolver: Option<SocketAddr>, domain: &str) -> Result<Vec<String>, String> {
    let resolver = match resolver {
        Some(addr) => {
            let servers = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], servers),
                TokioConnectionProvider::default(),
            )
            .build()
        }
        None => Resolver::builder_tokio().map_err(|error| error.to_string())?.build(),
    };
    let name = format!("{domain}.");
    match resolver.txt_lookup(name).await {
        Ok(lookup) => Ok(lookup
            .iter()
            .map(|txt| txt.txt_data().iter().map(|part| String::from_utf8_lossy(part).into_owned()).collect::<String>())
            .collect()),
        Err(error) if error.is_no_records_found() => Ok(Vec::new()),
        Err(error) => Err(error.to_string()),
    }
}

/// Starts a claim (password re-entered): the domain and the token to publish.
pub async fn claim(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageSecurity>,
    domain: &str,
    password: Option<&Secret<String>>,
) -> Result<ClaimedDomain, IamError> {
    reenter_password(ctx, permit, password).await?;
    let domain = check_domain(domain)?;
    let token = tally_types::token::random_alphanumeric(32);
    let audit = ctx
        .audit(permit.org_id(), None, "claimed_domain.created", "claimed_domain", "")
        .with(None, Some(json!({ "domain": domain })));
    ctx.store.create_domain(permit.org_id(), &domain, &token, &audit).await.map_err(|error| match error {
        tally_store::StoreError::Conflict(_) => {
            IamError::Conflict(format!("{domain} is already claimed by an organization"))
        }
        other => other.into(),
    })
}

/// Password re-entry for security settings changed by a person.
pub async fn reenter_password(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageSecurity>,
    password: Option<&Secret<String>>,
) -> Result<(), IamError> {
    let Principal::User(user_id) = permit.principal() else {
        return Err(IamError::Forbidden("security settings are changed by people, who re-enter their password".into()));
    };
    if ctx.actor.is_operator() {
        return Ok(());
    }
    let user = ctx.store.user_by_id(user_id).await?.ok_or(IamError::NotFound("account"))?;
    let given = password.ok_or_else(|| IamError::invalid("password", "enter your password to confirm"))?;
    let proof = crate::stepup::StepUp { password: Some(given.clone()), code: None };
    crate::stepup::confirm(ctx, &user, &proof).await
}

/// Checks the DNS record now and records the outcome; returns the updated claim.
pub async fn verify(ctx: Ctx<'_>, permit: &OrgPermit<'_, ManageSecurity>, id: i64) -> Result<ClaimedDomain, IamError> {
    let domain = ctx.store.domain(permit.org_id(), id).await?.ok_or(IamError::NotFound("claimed domain"))?;
    check_now(ctx, domain).await
}

/// One DNS check of a claim, applying the rules: found → verified; missing while verified
/// → unverified once missing for longer than the grace period.
pub async fn check_now(ctx: Ctx<'_>, mut domain: ClaimedDomain) -> Result<ClaimedDomain, IamError> {
    let now = ctx.now();
    let resolver = ctx.settings.dns_resolver;
    let expected = format!("{RECORD_PREFIX}{}", domain.token);
    let found = match txt_records(resolver, &domain.domain).await {
        Ok(records) => records.iter().any(|record| record.trim() == expected),
        Err(error) => {
            tracing::warn!(domain = %domain.domain, %error, "domain check: DNS lookup failed");
            false
        }
    };
    let before = domain.status.clone();
    domain.last_checked_at = Some(now);
    if found {
        domain.status = "verified".into();
        domain.verified_at = domain.verified_at.or(Some(now));
        domain.missing_since = None;
    } else if domain.status == "verified" {
        let since = *domain.missing_since.get_or_insert(now);
        if now.duration_since(since) >= GRACE {
            domain.status = "pending".into();
            domain.verified_at = None;
            domain.missing_since = None;
        }
    }
    let audit = (before != domain.status).then(|| {
        let event = if domain.status == "verified" { "claimed_domain.verified" } else { "claimed_domain.unverified" };
        ctx.audit(domain.org_id, None, event, "claimed_domain", domain.id)
            .with(Some(json!({ "status": before })), Some(json!({ "domain": domain.domain, "status": domain.status })))
    });
    ctx.store.record_domain_check(&domain, audit.as_ref()).await?;
    Ok(domain)
}

pub async fn remove(ctx: Ctx<'_>, permit: &OrgPermit<'_, ManageSecurity>, id: i64) -> Result<(), IamError> {
    let domain = ctx.store.domain(permit.org_id(), id).await?.ok_or(IamError::NotFound("claimed domain"))?;
    let audit = ctx
        .audit(permit.org_id(), None, "claimed_domain.deleted", "claimed_domain", id)
        .with(Some(json!({ "domain": domain.domain })), None);
    ctx.store.delete_domain(id, &audit).await?;
    Ok(())
}

/// Re-checks every verified domain (run periodically).
pub async fn recheck_all(ctx: Ctx<'_>) -> Result<usize, IamError> {
    let domains = ctx.store.verified_domains().await?;
    let n = domains.len();
    for domain in domains {
        check_now(ctx, domain).await?;
    }
    Ok(n)
}

/// The part of an e-mail after `@`, lowercased.
pub fn domain_of(email: &str) -> String {
    tally_store::email_domain(email)
}

/// The organization's claimed domains, verified or not.
pub async fn list(ctx: Ctx<'_>, permit: &OrgPermit<'_, ManageSecurity>) -> Result<Vec<ClaimedDomain>, IamError> {
    Ok(ctx.store.domains(permit.org_id()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names() {
        assert_eq!(check_domain(" Example.COM. ").unwrap(), "example.com");
        assert_eq!(check_domain("a-b.example.co.uk").unwrap(), "a-b.example.co.uk");
        for bad in ["example", "-a.com", "a..com", "exa mple.com", "a_b.com", ""] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
    }
}
