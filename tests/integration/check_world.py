# SPDX-License-Identifier: MIT
"""A small, local MTA-STS world for `mta-stsd check`.

Real servers on loopback only: unbound as the DNS server (a static local
zone under .test, never asking the Internet), the mta-stsd daemon as the
policy server, aiosmtpd SMTP servers offering STARTTLS on 127.0.0.x
addresses, and plain Python HTTPS servers for the mistakes mta-stsd itself
refuses to make (redirects, wrong media type, oversized bodies, wrong or
expired certificates). Every server is stopped in tearDown; every wait is
bounded.
"""

import http.server
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import warnings

from mtastsd_test import (MTASTSD, World, config_text, domain_block,
                          free_port, run)

POLICY_PATH = "/.well-known/mta-sts.txt"


def policy_text(mx, mode="testing", max_age=604800):
    lines = ["version: STSv1", "mode: " + mode]
    lines += ["mx: " + m for m in mx]
    lines.append("max_age: %d" % max_age)
    return "".join(line + "\r\n" for line in lines)


def dns_ready(port, timeout=10):
    """Waits until a DNS server answers on 127.0.0.1:port (UDP)."""
    qname = b"".join(bytes([len(p)]) + p for p in b"ready.test".split(b"."))
    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + qname + \
        b"\x00" + struct.pack(">HH", 1, 1)
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                s.sendto(query, ("127.0.0.1", port))
                data, _ = s.recvfrom(512)
                if data[:2] == b"\x12\x34":
                    return
            except OSError:
                time.sleep(0.1)
    raise AssertionError("unbound did not answer on port %d" % port)


class Unbound:
    """unbound on 127.0.0.1:port serving records from one static zone, or
    zone files (signed ones too) as authoritative auth-zones."""

    def __init__(self, directory, records, zone="test.", auth_zones=()):
        self.port = free_port()
        self.dir = directory
        conf = [
            "server:",
            "  interface: 127.0.0.1",
            "  port: %d" % self.port,
            "  do-ip6: no",
            "  do-not-query-localhost: no",
            '  chroot: ""',
            '  username: ""',
            '  directory: "%s"' % directory,
            '  pidfile: "%s"' % os.path.join(directory, "unbound.pid"),
            '  module-config: "iterator"',
            "  serve-expired: no",
            "  use-syslog: no",
            '  logfile: ""',
            "  verbosity: 0",
            "  num-threads: 1",
            "  access-control: 127.0.0.0/8 allow",
        ]
        if auth_zones:
            # The auth-zones answer, with their RRSIGs; the built-in
            # .test zone must not shadow them.
            conf += ['  local-zone: "%s" nodefault' % zone,
                     '  local-zone: "ready.%s" static' % zone]
        else:
            conf.append('  local-zone: "%s" static' % zone)
        for r in records:
            conf.append("  local-data: '%s'" % r)
        for name, path in auth_zones:
            conf += ["auth-zone:", '  name: "%s"' % name,
                     '  zonefile: "%s"' % path, "  for-downstream: yes",
                     "  for-upstream: no"]
        conf += ["remote-control:", "  control-enable: no"]
        self.conf = os.path.join(directory, "unbound.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.log = open(os.path.join(directory, "unbound.log"), "w+")
        self.proc = subprocess.Popen(["unbound", "-d", "-c", self.conf],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            dns_ready(self.port)
        except AssertionError:
            self.stop()
            raise AssertionError("unbound not ready:\n" + self.output())

    def output(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


def only_old_tls(ctx):
    """Only TLS 1.0 and 1.1, as a badly kept policy host offers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1


class SMTP:
    """aiosmtpd on address:port, offering STARTTLS when cert is given."""

    def __init__(self, address, port, cert=None, key=None):
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Sink
        kw = {}
        if cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(cert, key)
            kw = {"tls_context": ctx, "require_starttls": False}
        self.controller = Controller(Sink(), hostname=address, port=port,
                                     ready_timeout=10, **kw)
        self.controller.start()

    def stop(self):
        self.controller.stop()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        status, headers, body = self.server.answer
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HTTPS:
    """A plain Python HTTPS server giving one fixed answer to every GET."""

    def __init__(self, cert, key, status=200, headers=(), body=b"",
                 old_tls=False):
        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port),
                                                      _Handler)
        self.server.answer = (status, list(headers), body)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if old_tls:
            only_old_tls(ctx)
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class CheckWorld(World):
    """World plus DNS, SMTP and HTTPS servers and a way to run check."""

    def setUp(self):
        super().setUp()
        self.stoppers = []
        self.smtp_port = free_port()
        self.dns = None

    def tearDown(self):
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception:  # keep stopping the others
                pass
        super().tearDown()

    def start_dns(self, records, auth_zones=()):
        d = os.path.join(self.dir, "dns")
        os.makedirs(d, exist_ok=True)
        self.dns = Unbound(d, records, auth_zones=auth_zones)
        self.stoppers.append(self.dns.stop)
        return self.dns

    def signed_zone(self, origin, records, tamper=()):
        """Signs a zone of records with ldns (a KSK and a ZSK), then
        replaces each (old, new) text of tamper in the signed file, which
        breaks the signatures over it. Returns (zone file, trust anchor
        file holding the KSK's DS record)."""
        d = os.path.join(self.dir, "zone-" + origin.rstrip("."))
        os.makedirs(d, exist_ok=True)
        zone = os.path.join(d, "zone")
        with open(zone, "w") as f:
            f.write("$TTL 300\n%s IN SOA ns.%s admin.%s 1 3600 600 86400 "
                    "300\n%s IN NS ns.%s\nns.%s IN A 127.0.0.1\n" %
                    ((origin,) * 6))
            f.write("\n".join(records) + "\n")
        name = origin.rstrip(".")
        ksk = run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", name],
                  check=True, cwd=d).stdout.strip()
        zsk = run(["ldns-keygen", "-a", "ECDSAP256SHA256", name],
                  check=True, cwd=d).stdout.strip()
        run(["ldns-signzone", "-n", "-o", origin, zone, ksk, zsk],
            check=True, cwd=d)
        with open(zone + ".signed") as f:
            text = f.read()
        for old, new in tamper:
            if old not in text:
                raise AssertionError("%r not in the signed zone" % old)
            text = text.replace(old, new)
        with open(zone + ".signed", "w") as f:
            f.write(text)
        return zone + ".signed", os.path.join(d, ksk + ".ds")

    def start_smtp(self, address, host=None, starttls=True):
        """An MX on address; its certificate names host (or none)."""
        cert = key = None
        if starttls:
            cert, key = self.leaf(host)
        s = SMTP(address, self.smtp_port, cert, key)
        self.stoppers.append(s.stop)
        return s

    def start_https(self, cert_name, *extra, **answer):
        cert, key = self.leaf(cert_name, *extra)
        s = HTTPS(cert, key, **answer)
        self.stoppers.append(s.stop)
        return s

    def start_policy_server(self, domains):
        """mta-stsd serving domains: (name, mx, mode, extra[, max_age])
        tuples."""
        port = free_port()
        blocks = []
        for name, mx, mode, extra, *max_age in domains:
            cert, key = self.leaf("mta-sts." + name)
            blocks.append(domain_block(name, mx, cert, key, mode=mode,
                                       extra=extra,
                                       max_age=(max_age or [1209600])[0]))
        self.config = self.write("mta-stsd.conf",
                                 config_text(port, blocks, self.state))
        # The daemon drops to nobody before it sends READY=1, so the
        # notification socket (made by the helper as this user) must be
        # writable by others: umask 0 while it is made.
        old = os.umask(0)
        try:
            self.start(self.config)
        finally:
            os.umask(old)
        return port

    def check(self, *args, https_port=443, resolver=None, timeout=60):
        """Runs mta-stsd check; returns CompletedProcess.

        MTASTSD_CHECK_WRAPPER (e.g. "valgrind -q --leak-check=full
        --error-exitcode=99") runs the checker, not the daemon, under a
        tool."""
        wrapper = os.environ.get("MTASTSD_CHECK_WRAPPER", "").split()
        argv = wrapper + [MTASTSD, "check",
                "--resolver", resolver or "127.0.0.1@%d" % self.dns.port,
                "--trust-anchor", "none",
                "--ca-file", self.ca.cert,
                "--https-port", str(https_port),
                "--smtp-port", str(self.smtp_port),
                # valgrind makes TLS handshakes many times slower
                "--timeout", "30" if wrapper else "5"] + list(args)
        env = dict(os.environ)
        env.pop("NO_COLOR", None)
        return run(argv, timeout=timeout, env=env)
