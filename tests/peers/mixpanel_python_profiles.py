"""Updates user and group profiles with the official Mixpanel Python SDK (5.4.1) on a Tally server.

python mixpanel_python_profiles.py BASE_URL TOKEN
Sends each update on its own (Consumer) and a batch (BufferedConsumer); exits non-zero
if the server refuses any of them."""

import sys

from mixpanel import BufferedConsumer, Consumer, Mixpanel

base, token = sys.argv[1:3]
urls = dict(events_url=f"{base}/track", people_url=f"{base}/engage", groups_url=f"{base}/groups", import_url=f"{base}/import")
mp = Mixpanel(token, consumer=Consumer(retry_limit=0, **urls))

mp.people_set("ada", {"$name": "Ada", "$email": "ada@example.com", "plan": "free", "visits": 1})
mp.people_set_once("ada", {"plan": "enterprise", "first_seen": "2026-01-01"})
mp.people_increment("ada", {"visits": 2, "credits": 5})
mp.people_append("ada", {"songs": "a"})
mp.people_append("ada", {"songs": "b"})
mp.people_union("ada", {"tags": ["x", "y"]})
mp.people_union("ada", {"tags": ["y", "z"]})
mp.people_remove("ada", {"tags": "x"})
mp.people_set("ada", {"temporary": True})
mp.people_unset("ada", ["temporary"])
mp.people_track_charge("ada", 9.5, {"sku": "s1"})
mp.people_set("cleared", {"$name": "Cleared"})
mp.people_track_charge("cleared", 1.0)
mp.people_clear_charges("cleared")

mp.people_set("gone", {"$name": "Gone"})
mp.people_delete("gone")

mp.group_set("company", "acme", {"name": "Acme", "seats": 10})
mp.group_set_once("company", "acme", {"name": "Not Acme", "founded": 1999})
mp.group_union("company", "acme", {"domains": ["acme.example"]})
mp.group_set("company", "acme", {"old": 1, "tiers": ["a", "b"]})
mp.group_unset("company", "acme", ["old"])
mp.group_remove("company", "acme", {"tiers": "a"})
mp.group_set("company", "doomed", {"name": "Doomed"})
mp.group_delete("company", "doomed")

# A batch of 60 profiles through the buffered consumer (two requests).
buffered = Mixpanel(token, consumer=BufferedConsumer(max_size=50, retry_limit=0, **urls))
for n in range(60):
    buffered.people_set("batch-%d" % n, {"n": n})
buffered._consumer.flush()
