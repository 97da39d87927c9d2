"""Sends events with the official Mixpanel Python SDK to a Tally server.

python mixpanel_python.py BASE_URL TOKEN API_SECRET
Prints the $insert_ids it used, one a line."""

import sys
import time
import uuid

from mixpanel import Consumer, Mixpanel

base, token, secret = sys.argv[1:4]
consumer = Consumer(events_url=f"{base}/track", import_url=f"{base}/import", retry_limit=0)
mp = Mixpanel(token, consumer=consumer)

ids = []
for n in range(3):
    insert_id = uuid.uuid4().hex[:32]
    ids.append(insert_id)
    mp.track("user-%d" % n, "Played Song", {"$insert_id": insert_id, "genre": "jazz", "n": n, "tags": ["a", "b"], "nested": {"k": 1}})

# Historical data through /import, authenticated by the project's API secret.
insert_id = uuid.uuid4().hex[:32]
ids.append(insert_id)
mp.import_data("", "user-0", "Signed Up", int(time.time()) - 30 * 86400, {"$insert_id": insert_id, "plan": "pro"}, api_secret=secret)

for insert_id in ids:
    print(insert_id)
