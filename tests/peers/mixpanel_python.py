"""Sends events with the official Mixpanel Python SDK (5.4.1) to a Tally server.

python mixpanel_python.py BASE_URL TOKEN API_SECRET SA_USERNAME SA_SECRET PROJECT_ID
Prints the $insert_ids it used, one a line. Covers track (one by one and buffered),
import_data (API secret, and buffered), merge (with service-account credentials, as the
SDK recommends), and alias (which the SDK always sends to api.mixpanel.com: the test points
that one hard-coded consumer at Tally, as DNS would)."""

import sys
import time
import uuid

import mixpanel
from mixpanel import BufferedConsumer, Consumer, Mixpanel, ServiceAccountCredentials

base, token, secret, sa_username, sa_secret, project_id = sys.argv[1:7]
urls = dict(events_url=f"{base}/track", import_url=f"{base}/import")
consumer = Consumer(retry_limit=0, **urls)
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

# Buffered: events and imports in batches (three events in one request, two imports in one).
buffered = Mixpanel(token, consumer=BufferedConsumer(max_size=50, retry_limit=0, **urls))
for n in range(3):
    buffered.track("buffered-user", "Buffered Event", {"n": n})
for n in range(2):
    buffered.import_data("", "buffered-user", "Buffered Import", int(time.time()) - 3 * 86400 - n, {"n": n}, api_secret=secret)
buffered._consumer.flush()

# $merge in its documented shape (no time, no $insert_id), with service-account credentials.
credentials = ServiceAccountCredentials(username=sa_username, secret=sa_secret, project_id=project_id)
merger = Mixpanel(token, consumer=Consumer(retry_limit=0, credentials=credentials, **urls))
merger.merge(None, "user-1", "user-1-device")

# alias builds its own Consumer() for api.mixpanel.com; point that one at Tally.
hard_coded = mixpanel.Consumer
mixpanel.Consumer = lambda *args, **kwargs: hard_coded(events_url=f"{base}/track", retry_limit=0)
mp.alias("user-2-alias", "user-2")
mixpanel.Consumer = hard_coded

for insert_id in ids:
    print(insert_id)
