// A project and a role on it, optional: the grant an invitation or a new service account
// carries. One component, so both forms offer the same choices.
import { Select } from "@mantine/core";
import type { OrgProject } from "../../api/types";
import { PROJECT_ROLES } from "../common";

export function ProjectRolePicker({
  idPrefix,
  projects,
  projectId,
  onProject,
  role,
  onRole,
}: {
  idPrefix: string;
  projects: OrgProject[];
  projectId: string | null;
  onProject: (projectId: string | null) => void;
  role: string;
  onRole: (role: string) => void;
}) {
  return (
    <>
      <Select
        id={`${idPrefix}-project`}
        label="Project (optional)"
        placeholder="No project role"
        data={projects.map((p) => ({ value: String(p.id), label: p.name }))}
        value={projectId}
        onChange={onProject}
        clearable
        searchable
      />
      <Select
        id={`${idPrefix}-project-role`}
        label="Project role"
        data={PROJECT_ROLES}
        value={role}
        onChange={(value) => value && onRole(value)}
        disabled={!projectId}
        allowDeselect={false}
      />
    </>
  );
}
