"""Runs PyPI scim2-tester against Tally's SCIM endpoint and exits non-zero unless every
check passes (and User checks ran at all).

    python tester.py BASE_URL TOKEN DOMAIN

scim2-tester fills attributes with random values, e-mail addresses on random domains
included; Tally accepts users only on its organization's verified domains, so values that
look like e-mail addresses are moved onto DOMAIN (a verified domain of the test org) and
userName is an address on it. Nothing else about the checks is changed.
"""

import re
import sys
import uuid

import httpx2
import scim2_tester.checkers.patch_add as patch_add
import scim2_tester.checkers.patch_replace as patch_replace
import scim2_tester.filling as filling
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

BASE, TOKEN, DOMAIN = sys.argv[1], sys.argv[2], sys.argv[3]
RANDOM_MAIL = re.compile(r"@[0-9a-f-]{36}\.com$")
original = filling.generate_random_value


def on_domain(value):
    if isinstance(value, str):
        return RANDOM_MAIL.sub("@" + DOMAIN, value)
    if isinstance(value, list):
        return [on_domain(item) for item in value]
    if isinstance(getattr(value, "value", None), str):
        value.value = on_domain(value.value)
    return value


def generate_random_value(context, path, *args, **kwargs):
    value = original(context, path, *args, **kwargs)
    if value is not None and str(path).rsplit(":", 1)[-1] == "userName":
        return f"{uuid.uuid4()}@{DOMAIN}"
    return on_domain(value)


for module in (filling, patch_add, patch_replace):
    module.generate_random_value = generate_random_value

http = httpx2.Client(base_url=BASE, headers={"Authorization": "Bearer " + TOKEN})
results = check_server(SyncSCIMClient(http))
failed = [result for result in results if result.status not in (Status.SUCCESS, Status.SKIPPED)]
skipped = [result for result in results if result.status is Status.SKIPPED]
for result in results:
    print(result.status.name, result.resource_type or "-", result.title, "|", result.reason or "")
kinds = {result.resource_type for result in results}
print(f"checks: {len(results)}, failed: {len(failed)}, skipped: {len(skipped)}, resource types: {sorted(k for k in kinds if k)}")
sys.exit(1 if failed or skipped or not {"User", "Group"} <= kinds else 0)
