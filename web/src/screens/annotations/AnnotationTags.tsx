// Annotation tags: choosing an annotation's tags (the project's, or a new one by typing its
// name), showing them, and making the new ones when the annotation is saved. Shared by every
// place that adds or changes annotations.
import { Badge, Group, TagsInput, Text } from "@mantine/core";
import { ApiError, get, messageOf, post } from "../../api/client";
import { type AnnotationTag, tagIdsOf, tagKey } from "../../api/boards";
import { base, useAnnotationTags } from "../boards/queries";

/** The tags of an annotation being written, by name: a name no tag has yet is made on save. */
export function AnnotationTagsInput({
  projectId,
  value,
  onChange,
  id = "annotation-tags",
}: {
  projectId: number;
  value: string[];
  onChange: (names: string[]) => void;
  id?: string;
}) {
  const tags = useAnnotationTags(projectId);
  const known = new Set((tags.data ?? []).map((tag) => tagKey(tag.name)));
  const fresh = value.filter((name) => !known.has(tagKey(name)));
  return (
    <TagsInput
      id={id}
      label="Tags"
      description={
        fresh.length > 0 && tags.data
          ? `New tag${fresh.length === 1 ? "" : "s"}, made on save: ${fresh.join(", ")}`
          : "Choose the project's tags, or type a new one and press Enter"
      }
      placeholder={tags.isPending ? "Loading tags…" : value.length === 0 ? "No tag" : undefined}
      data={(tags.data ?? []).map((tag) => tag.name)}
      value={value}
      onChange={onChange}
      error={tags.isError ? `The project's tags cannot be listed: ${messageOf(tags.error)}` : undefined}
      // Until the project's tags are known, the names shown may not be theirs.
      disabled={!tags.data}
      clearable
      clearButtonProps={{ "aria-label": "Remove every tag" }}
      data-testid="annotation-tags"
    />
  );
}

/** An annotation's tags, or a dash when it has none. */
export function AnnotationTagBadges({ names }: { names: string[] }) {
  if (names.length === 0) {
    return (
      <Text size="sm" c="dimmed" aria-label="No tags">
        —
      </Text>
    );
  }
  return (
    <Group gap={4} role="list" aria-label="Tags">
      {names.map((name) => (
        <Badge key={name} role="listitem" variant="light" color="grape" tt="none">
          {name}
        </Badge>
      ))}
    </Group>
  );
}

/** The ids of the tags named, making those the project does not have yet. A tag someone else
 * has just made under the same name is taken as it is. */
export async function ensureTags(projectId: number, names: string[], tags: AnnotationTag[]): Promise<number[]> {
  const { ids, missing } = tagIdsOf(names, tags);
  for (const name of missing) {
    try {
      const made = await post<AnnotationTag>(`${base(projectId)}/annotations/tags`, { name });
      ids.push(made.id);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409)) throw error;
      const now = await get<AnnotationTag[]>(`${base(projectId)}/annotations/tags`);
      const found = now.find((tag) => tagKey(tag.name) === tagKey(name));
      if (!found) throw error;
      ids.push(found.id);
    }
  }
  return ids;
}
