import { Anchor, Text } from "@mantine/core";
import { Link } from "react-router-dom";
import { Screen } from "./common";

export function NotFound() {
  return (
    <Screen title="Nothing here">
      <Text>
        This address is not a screen of Tally, or what it named is gone. <Anchor component={Link} to="/">Go home</Anchor>.
      </Text>
    </Screen>
  );
}
