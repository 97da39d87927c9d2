"""A DNS server on loopback for tests: answers TXT queries from a JSON file
({"name": ["record", ...]}) that the test rewrites as it goes. Unknown names get NXDOMAIN."""

import json
import sys
import time

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSServer


class FileResolver(BaseResolver):
    def __init__(self, path):
        self.path = path

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        try:
            with open(self.path) as file:
                records = json.load(file)
        except (OSError, ValueError):
            records = {}
        if name not in records:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in records[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=0))
        return reply


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    server = DNSServer(FileResolver(path), port=port, address="127.0.0.1")
    server.start_thread()
    print("ready", flush=True)
    while server.isAlive():
        time.sleep(0.5)


if __name__ == "__main__":
    main()
