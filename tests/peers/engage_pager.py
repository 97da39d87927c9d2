"""Pages through Mixpanel's /api/2.0/engage as Mixpanel's docs tell a client to: the first
request without a session, then the same query with its session_id and page+1 while a page
is full. Prints {"profiles": n, "distinct": n, "pages": n} for the whole project.

usage: engage_pager.py BASE_URL API_SECRET [WHERE]
"""

import base64
import json
import sys
import urllib.parse
import urllib.request


def main():
    base, secret = sys.argv[1], sys.argv[2]
    where = sys.argv[3] if len(sys.argv) > 3 else None
    auth = base64.b64encode(f"{secret}:".encode()).decode()
    seen, ids, pages, page, session = 0, set(), 0, 0, None
    while True:
        form = {"page": str(page)}
        if session:
            form["session_id"] = session
        if where:
            form["where"] = where
        request = urllib.request.Request(
            f"{base}/api/2.0/engage",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request) as response:
            body = json.load(response)
        results = body["results"]
        pages += 1
        seen += len(results)
        ids.update(result["$distinct_id"] for result in results)
        session = body["session_id"]
        if len(results) < body["page_size"]:
            break
        page += 1
    json.dump({"profiles": seen, "distinct": len(ids), "pages": pages, "total": body["total"]}, sys.stdout)


if __name__ == "__main__":
    main()
