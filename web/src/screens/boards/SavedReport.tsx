// `/projects/:projectId/reports/:bookmarkId`: a saved report by its id (the link an alert's
// message carries), opened in its analysis screen as saved.
import { Anchor } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { Link, Navigate, useParams } from "react-router-dom";
import { get } from "../../api/client";
import { type Bookmark, reportPath } from "../../api/boards";
import { ErrorNote, Loading, Screen } from "../common";
import { base } from "./queries";

export function SavedReport() {
  const params = useParams();
  const projectId = Number(params.projectId);
  const bookmarkId = Number(params.bookmarkId);
  const bookmark = useQuery({
    queryKey: ["project", projectId, "bookmark", bookmarkId],
    queryFn: ({ signal }) => get<Bookmark>(`${base(projectId)}/bookmarks/${bookmarkId}`, signal),
  });
  if (bookmark.isSuccess) return <Navigate to={reportPath(projectId, bookmark.data.report)} replace />;
  return (
    <Screen title="Saved report">
      {bookmark.isError ? (
        <>
          <ErrorNote error={bookmark.error} title="This saved report cannot be opened" />
          <Anchor component={Link} to={`/projects/${projectId}/boards`}>
            All boards and saved reports
          </Anchor>
        </>
      ) : (
        <Loading label="Opening the saved report…" />
      )}
    </Screen>
  );
}
