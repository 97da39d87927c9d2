//! Property test: random sequences of individual grants, team changes, default-role
//! changes, organization-role changes and removals, applied through the administration
//! functions to a real store, always leave every member with exactly the union of what
//! their grants give, as a plain reference model computes it.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tally_config::DatabaseUrl;
use tally_iam::admin::{AccessSettings, Actor, Ctx};
use tally_iam::authz::{
    project_standing_without_permission, unchecked_operator_org_scope, unchecked_operator_project_scope,
};
use tally_iam::mail::LogMailer;
use tally_iam::seal::Sealer;
use tally_store::{NewProject, NewTenant, NewUser, Store, TenantClaim};
use tally_testkit::{ScratchMetadata, backends};
use tally_types::{
    Clock, FakeClock, OrgId, OrgRole, Principal, ProjectId, ProjectPermissionSet, ProjectRole, TeamId, UserId,
};

const N_USERS: usize = 3;
const N_PROJECTS: usize = 2;
const N_TEAMS: usize = 2;
const ROLES: [ProjectRole; 4] = [ProjectRole::Owner, ProjectRole::Admin, ProjectRole::Analyst, ProjectRole::Consumer];
const ORG_ROLES: [OrgRole; 3] = [OrgRole::Admin, OrgRole::BillingAdmin, OrgRole::Member];

#[derive(Debug, Clone)]
enum Op {
    SetIndividual { user: usize, project: usize, role: usize },
    RemoveIndividual { user: usize, project: usize },
    JoinTeam { user: usize, team: usize },
    LeaveTeam { user: usize, team: usize },
    SetTeamProject { team: usize, project: usize, role: usize },
    RemoveTeamProject { team: usize, project: usize },
    DeleteTeam { team: usize },
    SetDefault { project: usize, role: usize },
    RemoveDefault { project: usize },
    SetOrgRole { user: usize, role: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..N_USERS;
    let project = 0..N_PROJECTS;
    let team = 0..N_TEAMS;
    let role = 0..ROLES.len();
    prop_oneof![
        (user.clone(), project.clone(), role.clone()).prop_map(|(user, project, role)| Op::SetIndividual {
            user,
            project,
            role
        }),
        (user.clone(), project.clone()).prop_map(|(user, project)| Op::RemoveIndividual { user, project }),
        (user.clone(), team.clone()).prop_map(|(user, team)| Op::JoinTeam { user, team }),
        (user.clone(), team.clone()).prop_map(|(user, team)| Op::LeaveTeam { user, team }),
        (team.clone(), project.clone(), role.clone()).prop_map(|(team, project, role)| Op::SetTeamProject {
            team,
            project,
            role
        }),
        (team.clone(), project.clone()).prop_map(|(team, project)| Op::RemoveTeamProject { team, project }),
        team.clone().prop_map(|team| Op::DeleteTeam { team }),
        (project.clone(), role.clone()).prop_map(|(project, role)| Op::SetDefault { project, role }),
        project.prop_map(|project| Op::RemoveDefault { project }),
        (user, 0..ORG_ROLES.len()).prop_map(|(user, role)| Op::SetOrgRole { user, role }),
    ]
}

/// The reference: plain maps, and the union rule written out.
#[derive(Default)]
struct Model {
    org_roles: BTreeMap<usize, OrgRole>,
    individual: BTreeMap<(usize, usize), ProjectRole>,
    team_members: BTreeSet<(usize, usize)>,
    team_projects: BTreeMap<(usize, usize), ProjectRole>,
    defaults: BTreeMap<usize, ProjectRole>,
}

impl Model {
    fn expected(&self, user: usize, project: usize) -> ProjectPermissionSet {
        let mut roles: Vec<ProjectRole> = Vec::new();
        match self.org_roles.get(&user) {
            Some(OrgRole::Owner) => roles.push(ProjectRole::Owner),
            Some(OrgRole::Admin) => roles.push(ProjectRole::Admin),
            _ => {}
        }
        roles.extend(self.individual.get(&(user, project)));
        for (team, member) in &self.team_members {
            if *member == user {
                roles.extend(self.team_projects.get(&(*team, project)));
            }
        }
        roles.extend(self.defaults.get(&project));
        roles.iter().fold(ProjectPermissionSet::EMPTY, |set, role| set.union(role.permissions()))
    }
}

struct World {
    org: OrgId,
    users: Vec<UserId>,
    projects: Vec<ProjectId>,
    teams: Vec<TeamId>,
}

struct Harness {
    store: Store,
    sealer: Sealer,
    clock: FakeClock,
    settings: AccessSettings,
    operator: Actor,
    n_worlds: std::cell::Cell<u32>,
}

impl Harness {
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: &self.store,
            clock: &self.clock,
            sealer: &self.sealer,
            mailer: &LogMailer,
            sms: &tally_iam::sms::LogSms,
            settings: &self.settings,
            actor: &self.operator,
        }
    }

    /// A fresh organization with members, projects and teams, in the shared store.
    async fn world(&self) -> World {
        let n = self.n_worlds.get();
        self.n_worlds.set(n + 1);
        let (t1, t2) = (format!("tok-{n}-a"), format!("tok-{n}-b"));
        let (h1, h2) = (format!("hash-{n}-a"), format!("hash-{n}-b"));
        let project = |name: &'static str, token: &'static str, hash: &'static str| NewProject {
            name,
            region: "us",
            timezone: "UTC",
            environment: None,
            token,
            api_secret_hash: hash,
            api_secret_sealed: "sealed",
        };
        let (t1, t2, h1, h2): (&'static str, &'static str, &'static str, &'static str) =
            (t1.leak(), t2.leak(), h1.leak(), h2.leak());
        let projects = [project("One", t1, h1), project("Two", t2, h2)];
        let owner_email = format!("owner{n}@example.com");
        let tenant = self
            .store
            .create_tenant(&NewTenant {
                owner: NewUser { email: &owner_email, name: "", password_hash: None },
                org_name: "Org",
                projects: &projects,
                claim: TenantClaim::Operator,
                now: self.clock.now(),
            })
            .await
            .unwrap();
        let org = tenant.organization.id;
        let scope = unchecked_operator_org_scope(&self.store, org).await.unwrap();
        let mut users = Vec::new();
        for i in 0..N_USERS {
            let email = format!("user{i}.{n}@example.com");
            let input = tally_iam::admin::invitations::InviteInput {
                email: email.clone(),
                org_role: OrgRole::Member,
                projects: vec![],
            };
            let sent =
                tally_iam::admin::invitations::invite(self.ctx(), &scope.require().unwrap(), &input).await.unwrap();
            let token = sent.link.expose().split("token=").nth(1).unwrap().to_string();
            let password = tally_types::Secret::new("long enough password".to_string());
            let accepted =
                tally_iam::admin::invitations::accept(self.ctx(), &token, None, "", Some(&password)).await.unwrap();
            users.push(accepted.user.id);
        }
        let mut teams = Vec::new();
        for i in 0..N_TEAMS {
            teams.push(
                tally_iam::admin::teams::create(self.ctx(), &scope.require().unwrap(), &format!("Team {i}"))
                    .await
                    .unwrap()
                    .id,
            );
        }
        World { org, users, projects: tenant.projects.iter().map(|p| p.id).collect(), teams }
    }

    /// Applies one operation to the real system and to the model. Operations the system
    /// refuses (removing what is not there) change neither.
    async fn apply(&self, world: &mut World, model: &mut Model, op: &Op) {
        let ctx = self.ctx();
        let scope = unchecked_operator_org_scope(&self.store, world.org).await.unwrap();
        let role_key = |role: usize| ROLES[role].as_str();
        match *op {
            Op::SetIndividual { user, project, role } => {
                let project_scope =
                    unchecked_operator_project_scope(&self.store, world.projects[project]).await.unwrap();
                tally_iam::admin::members::set_user_role(
                    ctx,
                    &project_scope.require().unwrap(),
                    world.users[user],
                    role_key(role),
                )
                .await
                .unwrap();
                model.individual.insert((user, project), ROLES[role]);
            }
            Op::RemoveIndividual { user, project } => {
                let project_scope =
                    unchecked_operator_project_scope(&self.store, world.projects[project]).await.unwrap();
                let removed =
                    tally_iam::admin::members::remove_user(ctx, &project_scope.require().unwrap(), world.users[user])
                        .await;
                assert_eq!(removed.is_ok(), model.individual.remove(&(user, project)).is_some(), "{op:?}: {removed:?}");
            }
            Op::JoinTeam { user, team } => {
                tally_iam::admin::teams::add_member(
                    ctx,
                    &scope.require().unwrap(),
                    world.teams[team],
                    Principal::User(world.users[user]),
                )
                .await
                .unwrap();
                model.team_members.insert((team, user));
            }
            Op::LeaveTeam { user, team } => {
                let left = tally_iam::admin::teams::remove_member(
                    ctx,
                    &scope.require().unwrap(),
                    world.teams[team],
                    Principal::User(world.users[user]),
                )
                .await;
                assert_eq!(left.is_ok(), model.team_members.remove(&(team, user)), "{op:?}: {left:?}");
            }
            Op::SetTeamProject { team, project, role } => {
                tally_iam::admin::teams::set_project_role(
                    ctx,
                    &scope.require().unwrap(),
                    world.teams[team],
                    world.projects[project],
                    role_key(role),
                )
                .await
                .unwrap();
                model.team_projects.insert((team, project), ROLES[role]);
            }
            Op::RemoveTeamProject { team, project } => {
                let removed = tally_iam::admin::teams::remove_project(
                    ctx,
                    &scope.require().unwrap(),
                    world.teams[team],
                    world.projects[project],
                )
                .await;
                assert_eq!(
                    removed.is_ok(),
                    model.team_projects.remove(&(team, project)).is_some(),
                    "{op:?}: {removed:?}"
                );
            }
            Op::DeleteTeam { team } => {
                tally_iam::admin::teams::delete(ctx, &scope.require().unwrap(), world.teams[team]).await.unwrap();
                model.team_members.retain(|(t, _)| *t != team);
                model.team_projects.retain(|(t, _), _| *t != team);
                // A new, empty team takes the slot.
                let name = format!("Team {team} after {}", world.teams[team]);
                world.teams[team] =
                    tally_iam::admin::teams::create(ctx, &scope.require().unwrap(), &name).await.unwrap().id;
            }
            Op::SetDefault { project, role } => {
                let project_scope =
                    unchecked_operator_project_scope(&self.store, world.projects[project]).await.unwrap();
                tally_iam::admin::members::set_default_role(ctx, &project_scope.require().unwrap(), role_key(role))
                    .await
                    .unwrap();
                model.defaults.insert(project, ROLES[role]);
            }
            Op::RemoveDefault { project } => {
                let project_scope =
                    unchecked_operator_project_scope(&self.store, world.projects[project]).await.unwrap();
                let removed =
                    tally_iam::admin::members::remove_default_role(ctx, &project_scope.require().unwrap()).await;
                assert_eq!(removed.is_ok(), model.defaults.remove(&project).is_some(), "{op:?}: {removed:?}");
            }
            Op::SetOrgRole { user, role } => {
                tally_iam::admin::orgs::change_role(ctx, &scope.require().unwrap(), world.users[user], ORG_ROLES[role])
                    .await
                    .unwrap();
                model.org_roles.insert(user, ORG_ROLES[role]);
            }
        }
    }

    /// Every member's permissions in every project, as the authorization function resolves
    /// them on the next request, equal the model's.
    async fn check(&self, world: &World, model: &Model, after: &[Op]) {
        for (user_index, user) in world.users.iter().enumerate() {
            for (project_index, project) in world.projects.iter().enumerate() {
                let scope =
                    project_standing_without_permission(&self.store, &self.clock, Principal::User(*user), *project)
                        .await
                        .unwrap();
                let expected = model.expected(user_index, project_index);
                assert_eq!(
                    scope.permissions(),
                    expected,
                    "user {user_index} in project {project_index} after {after:?}: actual {:?} expected {:?}",
                    scope.permissions().names(),
                    expected.names()
                );
            }
        }
    }
}

fn run_property(n_cases: u32) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for backend in backends() {
        let (harness, _scratch) = runtime.block_on(async {
            let scratch = ScratchMetadata::new(backend).await;
            let store = Store::open(&DatabaseUrl::parse(&scratch.url).unwrap(), 4).await.unwrap();
            let harness = Harness {
                store,
                sealer: Sealer::from_key(&[9u8; 32]),
                clock: FakeClock::new(Timestamp::from_second(1_800_000_000).unwrap()),
                settings: AccessSettings { invitations_per_domain_per_hour: i64::MAX, ..AccessSettings::default() },
                operator: Actor::operator(),
                n_worlds: std::cell::Cell::new(0),
            };
            (harness, scratch)
        });
        let mut runner = TestRunner::new(Config { cases: n_cases, failure_persistence: None, ..Config::default() });
        runner
            .run(&proptest::collection::vec(op(), 1..24), |ops| {
                runtime.block_on(async {
                    let mut world = harness.world().await;
                    let mut model = Model::default();
                    for (i, op) in ops.iter().enumerate() {
                        harness.apply(&mut world, &mut model, op).await;
                        harness.check(&world, &model, &ops[..=i]).await;
                    }
                });
                Ok(())
            })
            .unwrap_or_else(|failure| panic!("{backend:?}: {failure}"));
    }
}

#[test]
fn effective_permissions_are_always_the_union_of_all_grants() {
    run_property(48);
}
