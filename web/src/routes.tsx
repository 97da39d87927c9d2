// One URL per screen: every screen is a deep link, and the back button works.
import { createBrowserRouter, Navigate } from "react-router-dom";
import { Layout, OrgIndex, ProjectIndex } from "./screens/Layout";
import { Home } from "./screens/Home";
import { SignIn } from "./screens/auth/SignIn";
import { Setup } from "./screens/auth/Setup";
import { AcceptInvitation } from "./screens/auth/AcceptInvitation";
import { PasswordReset } from "./screens/auth/PasswordReset";
import { Members } from "./screens/org/Members";
import { Teams } from "./screens/org/Teams";
import { Projects } from "./screens/org/Projects";
import { Security } from "./screens/org/Security";
import { ServiceAccounts } from "./screens/org/ServiceAccounts";
import { AuditLog } from "./screens/org/AuditLog";
import { Billing } from "./screens/org/Billing";
import { ProjectSettings } from "./screens/project/ProjectSettings";
import { ProjectUsers } from "./screens/project/ProjectUsers";
import { CustomRoles } from "./screens/project/CustomRoles";
import { DataViews } from "./screens/project/DataViews";
import { PrivacyRequests } from "./screens/project/PrivacyRequests";
import { Insights } from "./screens/analysis/Insights";
import { Funnels } from "./screens/analysis/Funnels";
import { Retention } from "./screens/analysis/Retention";
import { Flows } from "./screens/analysis/Flows";
import { Users } from "./screens/analysis/Users";
import { Events } from "./screens/analysis/Events";
import { UserProfile } from "./screens/analysis/UserProfile";
import { Lexicon } from "./screens/analysis/Lexicon";
import { Account } from "./screens/account/Account";
import { NotFound } from "./screens/NotFound";
import { Boards } from "./screens/boards/Boards";
import { Board } from "./screens/boards/Board";
import { PublicBoardPage } from "./screens/boards/PublicBoard";
import { Cohorts } from "./screens/cohorts/Cohorts";
import { CohortScreen } from "./screens/cohorts/Cohort";
import { AlertScreen, Alerts } from "./screens/alerts/Alerts";
import { Annotations } from "./screens/annotations/Annotations";
import { SavedReport } from "./screens/boards/SavedReport";

export const router = createBrowserRouter([
  { path: "/sign-in", element: <SignIn /> },
  { path: "/setup", element: <Setup /> },
  { path: "/invitations/accept", element: <AcceptInvitation /> },
  { path: "/magic-link", element: <SignIn /> },
  { path: "/password-reset", element: <PasswordReset /> },
  // A board's public link: signed out, outside the signed-in frame.
  { path: "/public/boards/:token", element: <PublicBoardPage /> },
  {
    path: "/",
    element: <Layout />,
    children: [
      { index: true, element: <Home /> },
      { path: "account", element: <Account /> },
      {
        path: "organizations/:orgId",
        children: [
          { index: true, element: <OrgIndex /> },
          { path: "members", element: <Members /> },
          { path: "teams", element: <Teams /> },
          { path: "projects", element: <Projects /> },
          { path: "security", element: <Security /> },
          { path: "service-accounts", element: <ServiceAccounts /> },
          { path: "audit-log", element: <AuditLog /> },
          { path: "billing", element: <Billing /> },
        ],
      },
      {
        path: "projects/:projectId",
        children: [
          { index: true, element: <ProjectIndex /> },
          { path: "boards", element: <Boards /> },
          { path: "boards/:boardId", element: <Board /> },
          // Where an alert's message links: the saved report, opened in its analysis screen.
          { path: "reports/:bookmarkId", element: <SavedReport /> },
          { path: "insights", element: <Insights /> },
          { path: "funnels", element: <Funnels /> },
          { path: "retention", element: <Retention /> },
          { path: "flows", element: <Flows /> },
          { path: "lexicon", element: <Lexicon /> },
          { path: "cohorts", element: <Cohorts /> },
          { path: "cohorts/:cohortId", element: <CohortScreen /> },
          { path: "alerts", element: <Alerts /> },
          { path: "alerts/:alertId", element: <AlertScreen /> },
          { path: "annotations", element: <Annotations /> },
          { path: "users", element: <Users /> },
          { path: "events", element: <Events /> },
          { path: "users/:distinctId", element: <UserProfile /> },
          { path: "settings", element: <ProjectSettings /> },
          { path: "settings/users", element: <ProjectUsers /> },
          { path: "settings/roles", element: <CustomRoles /> },
          { path: "settings/data-views", element: <DataViews /> },
          { path: "settings/privacy", element: <PrivacyRequests /> },
        ],
      },
      { path: "home", element: <Navigate to="/" replace /> },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
