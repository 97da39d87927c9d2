//! `tally admin` subcommands for headless setup. The operator at the machine acts with
//! Owner rights (audited as `operator`), through the same domain functions as the API.

use serde_json::{Value, json};
use tally_config::Config;
use tally_iam::admin::projects::ProjectInput;
use tally_iam::admin::service_accounts::ServiceAccountInput;
use tally_iam::admin::{AccessSettings, Actor, Ctx};
use tally_iam::authz::{unchecked_operator_org_scope, unchecked_operator_project_scope};
use tally_iam::mail::SharedMailer;
use tally_iam::seal::Sealer;
use tally_store::{InvitedProject, Store};
use tally_types::{OrgId, OrgRole, Principal, ProjectId, SystemClock};

use crate::AdminCommand;
use crate::commands::CliError;

struct Tools {
    store: Store,
    sealer: Sealer,
    mailer: SharedMailer,
    sms: std::sync::Arc<dyn tally_iam::sms::SmsSender>,
    settings: AccessSettings,
    actor: Actor,
}

impl Tools {
    async fn open(config: &Config) -> Result<Tools, CliError> {
        let store = Store::open(&config.metadata.url, 2).await?;
        let sealer = Sealer::load_or_create(&config.secrets.key_file)?;
        let mailer = tally_server::mailer(config).map_err(|error| CliError::Message(format!("mail: {error}")))?;
        Ok(Tools {
            store,
            sealer,
            mailer,
            sms: tally_server::sms_sender(config),
            settings: tally_server::access_settings(config, None),
            actor: Actor::operator(),
        })
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: &self.store,
            clock: &SystemClock,
            sealer: &self.sealer,
            mailer: self.mailer.as_ref(),
            sms: self.sms.as_ref(),
            settings: &self.settings,
            actor: &self.actor,
        }
    }

    async fn user_id(&self, email: &str) -> Result<tally_types::UserId, CliError> {
        let user = self.store.user_by_email(email).await?;
        user.map(|user| user.id).ok_or_else(|| CliError::Message(format!("no account with the e-mail {email}")))
    }
}

fn parse_projects(specs: &[String]) -> Result<Vec<(ProjectId, String)>, CliError> {
    specs
        .iter()
        .map(|spec| {
            let (id, role) = spec.split_once('=').ok_or_else(|| {
                CliError::Message(format!("--project {spec:?}: expected ID=ROLE, such as 12=analyst"))
            })?;
            let id = id
                .trim()
                .parse()
                .map_err(|_| CliError::Message(format!("--project {spec:?}: {id:?} is not a project id")))?;
            Ok((ProjectId(id), role.trim().to_string()))
        })
        .collect()
}

fn parse_org_role(text: &str) -> Result<OrgRole, CliError> {
    text.parse().map_err(|error: tally_types::roles::UnknownRole| CliError::Message(format!("--role: {error}")))
}

fn print(json_output: bool, value: &Value, text: String) {
    if json_output {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

pub(crate) async fn run(config: &Config, command: AdminCommand) -> Result<(), CliError> {
    let tools = Tools::open(config).await?;
    let ctx = tools.ctx();
    let result = match command {
        AdminCommand::Bootstrap { .. } => Ok(()),
        AdminCommand::CreateProject { org, name, region, timezone, environment, json } => {
            let scope = unchecked_operator_org_scope(&tools.store, OrgId(org)).await?;
            let project = tally_iam::admin::projects::create(
                ctx,
                &scope.require()?,
                &ProjectInput { name, region, timezone, environment },
            )
            .await?;
            let value =
                json!({ "id": project.id, "name": project.name, "region": project.region, "token": project.token });
            print(
                json,
                &value,
                format!("Created project {:?} (id {}) in region {}", project.name, project.id, project.region),
            );
            Ok(())
        }
        AdminCommand::Invite { org, email, role, projects, json } => {
            let scope = unchecked_operator_org_scope(&tools.store, OrgId(org)).await?;
            let projects = parse_projects(&projects)?
                .into_iter()
                .map(|(project_id, role)| InvitedProject { project_id, role })
                .collect();
            let input =
                tally_iam::admin::invitations::InviteInput { email, org_role: parse_org_role(&role)?, projects };
            let sent = tally_iam::admin::invitations::invite(ctx, &scope.require()?, &input).await?;
            let value = json!({ "id": sent.invitation.id, "email": sent.invitation.email, "link": sent.link.expose() });
            print(json, &value, format!("Invited {}: {}", sent.invitation.email, sent.link.expose()));
            Ok(())
        }
        AdminCommand::SetOrgRole { org, email, role } => {
            let scope = unchecked_operator_org_scope(&tools.store, OrgId(org)).await?;
            let user_id = tools.user_id(&email).await?;
            tally_iam::admin::orgs::change_role(ctx, &scope.require()?, user_id, parse_org_role(&role)?).await?;
            println!("{email} is now {role} of organization {org}");
            Ok(())
        }
        AdminCommand::SetProjectRole { project, email, role } => {
            let scope = unchecked_operator_project_scope(&tools.store, ProjectId(project)).await?;
            let user_id = tools.user_id(&email).await?;
            tally_iam::admin::members::set_user_role(ctx, &scope.require()?, user_id, &role).await?;
            println!("{email} holds {role} in project {project}");
            Ok(())
        }
        AdminCommand::CreateTeam { org, name, members, projects, json } => {
            let scope = unchecked_operator_org_scope(&tools.store, OrgId(org)).await?;
            let permit = scope.require()?;
            let team = tally_iam::admin::teams::create(ctx, &permit, &name).await?;
            for email in &members {
                let user_id = tools.user_id(email).await?;
                tally_iam::admin::teams::add_member(ctx, &permit, team.id, Principal::User(user_id)).await?;
            }
            for (project_id, role) in parse_projects(&projects)? {
                tally_iam::admin::teams::set_project_role(ctx, &permit, team.id, project_id, &role).await?;
            }
            let value = json!({ "id": team.id, "name": team.name });
            print(json, &value, format!("Created team {:?} (id {})", team.name, team.id));
            Ok(())
        }
        AdminCommand::CreateServiceAccount { org, username, role, projects, expires, json } => {
            let scope = unchecked_operator_org_scope(&tools.store, OrgId(org)).await?;
            let expires_at = expires
                .map(|text| {
                    text.parse().map_err(|_| CliError::Message(format!("--expires {text:?} is not an RFC 3339 time")))
                })
                .transpose()?;
            let input = ServiceAccountInput {
                username,
                org_role: role.as_deref().map(parse_org_role).transpose()?,
                expires_at,
                projects: parse_projects(&projects)?,
            };
            let (account, secret) =
                tally_iam::admin::service_accounts::create_in_org(ctx, &scope.require()?, &input).await?;
            let value = json!({ "id": account.id, "username": account.username, "secret": secret.expose() });
            print(
                json,
                &value,
                format!(
                    "Created service account {} (id {}); its secret, shown once: {}",
                    account.username,
                    account.id,
                    secret.expose()
                ),
            );
            Ok(())
        }
    };
    tools.store.close().await;
    result
}
