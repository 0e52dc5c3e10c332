#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The Prometheus metrics listener: its output passes Debian's `promtool
check metrics`, a real Prometheus server scrapes it and answers a PromQL
query with the request count, the example alert rules in docs/METRICS.md
pass `promtool check rules`, and no label takes a value a client chose."""

import json
import os
import random
import re
import ssl
import socket
import subprocess
import sys
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MKCERTS, MTASTSD, SOURCE_ROOT, World, config_text, domain_block,
                          free_port, run, require_tools)

POLICY_PATH = "/.well-known/mta-sts.txt"
HOST = "mta-sts.example.com"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SENDERS = {"postfix-mta-sts-resolver", "google", "microsoft", "yahoo",
           "comcast", "mta-stsd", "curl", "python", "go", "none", "other"}


def parse(text):
    """The samples of an exposition: [(name, {label: value}, value)]."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = dict(LABEL.findall(m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))
    return samples


def value(samples, name, **labels):
    found = [v for n, l, v in samples if n == name and
             all(l.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def alert_rules():
    """The example rules: the YAML block of docs/METRICS.md."""
    with open(os.path.join(SOURCE_ROOT, "docs", "METRICS.md")) as f:
        text = f.read()
    m = re.search(r"```yaml\n(groups:.*?)```", text, re.S)
    assert m, "no ```yaml groups: block in docs/METRICS.md"
    return m.group(1)


class Metrics(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.metrics_port = free_port()
        self.cert = self.leaf(HOST)

    def config(self, extra="", domains=None):
        return self.write("mta-stsd.conf", config_text(
            self.port, domains or [domain_block(
                "example.com", ["mail.example.com"], *self.cert)],
            self.state, extra='metrics_listen = "127.0.0.1:%d";\n%s' % (
                self.metrics_port, extra)))

    def scrape(self, path="/metrics"):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (
                self.metrics_port, path), timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), \
                r.read().decode()

    def fetch(self, n, *extra):
        for _ in range(n):
            r = self.curl(HOST, self.port, POLICY_PATH, "-o", "/dev/null",
                          "-w", "%{http_code}", *extra)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_promtool_and_values(self):
        require_tools("promtool", "curl", "openssl")
        broken = domain_block("broken.example", ["mail.example.com"],
                              self.cert[0], "/nonexistent/key.pem")
        daemon = self.start(self.config(domains=[domain_block(
            "example.com", ["mail.example.com"], *self.cert), broken]))
        self.fetch(3)
        self.fetch(2, "-A", "postfix-mta-sts-resolver/1.4")
        # Another Host than the TLS name: 421, counted for the TLS name.
        self.fetch(1, "-H", "Host: other.example")
        self.fetch(1, "--path-as-is")   # still 200
        r = self.curl(HOST, self.port, "/nothing")
        status, ctype, text = self.scrape()
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8")
        check = run(["promtool", "check", "metrics"], input=text)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr +
                         text)
        s = parse(text)
        self.assertEqual(value(s, "mta_stsd_requests_total",
                               domain="example.com", code="200"), 6)
        self.assertEqual(value(s, "mta_stsd_requests_total",
                               domain="example.com", code="421"), 1)
        self.assertEqual(value(s, "mta_stsd_requests_total",
                               domain="example.com", code="404"), 1)
        self.assertEqual(value(s, "mta_stsd_policy_fetches_total",
                               sender="curl"), 4)
        self.assertEqual(value(s, "mta_stsd_policy_fetches_total",
                               sender="postfix-mta-sts-resolver"), 2)
        self.assertEqual(value(s, "mta_stsd_domain_served",
                               domain="example.com"), 1)
        self.assertEqual(value(s, "mta_stsd_domain_served",
                               domain="broken.example"), 0)
        # The id in the label is the one served in the header.
        head = self.curl(HOST, self.port, POLICY_PATH, "-D", "-", "-o",
                         "/dev/null")
        served_id = re.search(r"(?im)^mta-sts-policy-id: (\S+)",
                              head.stdout).group(1)
        self.assertEqual(value(s, "mta_stsd_policy_info",
                               domain="example.com", id=served_id,
                               mode="enforce"), 1)
        end = run(["openssl", "x509", "-noout", "-enddate", "-dateopt",
                   "iso_8601", "-in", self.cert[0]]).stdout
        expiry = value(s, "mta_stsd_certificate_expiry_timestamp_seconds",
                       domain="example.com")
        self.assertEqual(time.strftime("%Y-%m-%d %H:%M:%S",
                                       time.gmtime(expiry)),
                         end.split("=", 1)[1].strip().rstrip("Z"))
        self.assertEqual(value(s, "mta_stsd_last_reload_successful"), 1)
        self.assertGreater(value(s, "mta_stsd_start_time_seconds"),
                           time.time() - 600)
        version = run([MTASTSD, "--version"]).stdout.split()[1]
        self.assertEqual(value(s, "mta_stsd_build_info", version=version),
                         1)
        # Counters are named _total, and nothing else is.
        types = dict(re.findall(r"(?m)^# TYPE (\S+) (\S+)$", text))
        for name, kind in types.items():
            self.assertEqual(kind == "counter", name.endswith("_total"),
                             name)
        # A reload that fails counts, and keeps the success time.
        with open(daemon.config, "a") as f:
            f.write("this is not libconfig\n")
        daemon.reload()
        s = parse(self.scrape()[2])
        self.assertEqual(value(s, "mta_stsd_reloads_total",
                               result="failure"), 1)
        self.assertEqual(value(s, "mta_stsd_last_reload_successful"), 0)

    def test_only_metrics_and_only_plain_http(self):
        self.start(self.config())
        with self.assertRaises(urllib.error.HTTPError) as e:
            self.scrape("/")
        self.assertEqual(e.exception.code, 404)
        with self.assertRaises(urllib.error.HTTPError) as e:
            self.scrape("/metrics/x")
        self.assertEqual(e.exception.code, 404)
        # The TLS port serves no metrics, the metrics port no TLS.
        r = self.curl(HOST, self.port, "/metrics")
        self.assertIn("not found", r.stdout)
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        with socket.create_connection(("127.0.0.1", self.metrics_port),
                                      timeout=10) as raw:
            with self.assertRaises((ssl.SSLError, OSError)):
                ctx.wrap_socket(raw, server_hostname=HOST)

    def test_off_by_default(self):
        self.start(self.write("mta-stsd.conf", config_text(
            self.port, [domain_block("example.com", ["mail.example.com"],
                                     *self.cert)], self.state)))
        with self.assertRaises(OSError):
            self.scrape()

    def test_bad_metrics_listen(self):
        path = self.write("mta-stsd.conf", config_text(
            self.port, [domain_block("example.com", ["mail.example.com"],
                                     *self.cert)], self.state,
            extra='metrics_listen = "localhost:x";\n'))
        r = run([MTASTSD, "check-config", "-c", path])
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout + r.stderr,
                         r"mta-stsd.conf:\d+: .*listen address `localhost:x`"
                         r" is not valid")

    def test_bounded_labels_under_hostile_input(self):
        """Random User-Agents and Hosts add no series; 2 domains stay 2."""
        daemon = self.start(self.config())
        before = {(n, tuple(sorted(l.items())))
                  for n, l, v in parse(self.scrape()[2])}
        rng = random.Random(14)
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        for i in range(150):
            agent = "".join(chr(rng.randrange(0x21, 0x7f))
                            for _ in range(rng.randrange(1, 60)))
            host = rng.choice([HOST, "x%d.example" % i, "%08x" % i])
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=HOST) as s:
                    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n"
                               "User-Agent: %s\r\nConnection: close\r\n\r\n"
                               % (POLICY_PATH, host, agent)).encode())
                    while s.recv(4096):
                        pass
        samples = parse(self.scrape()[2])
        for n, l, v in samples:
            if "domain" in l:
                self.assertIn(l["domain"], ("example.com", ""), (n, l))
            if "sender" in l:
                self.assertIn(l["sender"], SENDERS, (n, l))
        after = {(n, tuple(sorted(l.items()))) for n, l, v in samples}
        new = {n for n, l in after - before}
        # Only the request counters of example.com gained series (200 and
        # 421): one per status code, never per client value.
        self.assertLessEqual(new, {"mta_stsd_requests_total"})
        self.assertLessEqual(len(after - before), 3)
        self.assertEqual(value(samples, "mta_stsd_requests_total",
                               domain="example.com", code="200") +
                         value(samples, "mta_stsd_requests_total",
                               domain="example.com", code="421"), 150)
        daemon.stop()

    def test_ten_thousand_domains(self):
        """10,000 domains: one series per domain and gauge, the output
        passes promtool, and a scrape stays quick."""
        require_tools("promtool")
        n = 10000
        certs = os.path.join(self.dir, "many")
        run([MKCERTS, "many", certs, str(n), "mta-sts.d%u.test"],
            check=True, timeout=120)
        for name in os.listdir(certs):
            os.chmod(os.path.join(certs, name), 0o644)
        os.chmod(certs, 0o755)
        self.start(self.config(domains=[domain_block(
            "d%d.test" % i, ["mail.d%d.test" % i],
            os.path.join(certs, "mta-sts.d%d.test.pem" % i),
            os.path.join(certs, "mta-sts.d%d.test.key" % i))
            for i in range(1, n + 1)]))
        t0 = time.monotonic()
        text = self.scrape()[2]
        took = time.monotonic() - t0
        check = run(["promtool", "check", "metrics"], input=text,
                    timeout=120)
        self.assertEqual(check.returncode, 0, check.stderr[-2000:])
        samples = parse(text)
        per_metric = {}
        for name, labels, v in samples:
            per_metric[name] = per_metric.get(name, 0) + 1
        for name in ("mta_stsd_domain_served", "mta_stsd_policy_info",
                     "mta_stsd_certificate_expiry_timestamp_seconds"):
            self.assertEqual(per_metric[name], n, name)
        # Requests count only where there were some.
        self.assertNotIn("mta_stsd_requests_total", per_metric)
        self.assertLess(len(samples), 6 * n)
        self.assertLess(took, 10, "a scrape of 10,000 domains took %.1fs"
                        % took)

    def test_connections_refused_by_limit(self):
        self.start(self.config(extra="max_connections_per_ip = 1;\n"))
        first = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            second = socket.create_connection(("127.0.0.1", self.port),
                                              timeout=10)
            second.settimeout(10)
            try:
                self.assertEqual(second.recv(1), b"")
            except ConnectionResetError:
                pass
            second.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                s = parse(self.scrape()[2])
                if value(s, "mta_stsd_connections_refused_total",
                         reason="limit") >= 1:
                    break
                time.sleep(0.1)
            self.assertEqual(value(s, "mta_stsd_connections_refused_total",
                                   reason="limit"), 1)
            self.assertEqual(value(s, "mta_stsd_connections_open"), 1)
        finally:
            first.close()

    def test_handshakes_by_kind_and_refusals_by_reason(self):
        require_tools("curl", "openssl")
        self.start(self.config())
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        session = None
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=HOST,
                                     session=session) as s:
                    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n"
                               "Connection: close\r\n\r\n" %
                               (POLICY_PATH, HOST)).encode())
                    while s.recv(4096):
                        pass
                    session = s.session
        # Refused: a name not served, no name, plain HTTP, no common
        # cipher suite.
        run(["curl", "-sk", "--max-time", "10", "--resolve",
             "nope.example:%d:127.0.0.1" % self.port,
             "https://nope.example:%d/" % self.port])
        nosni = ssl.create_default_context(cafile=self.ca.cert)
        nosni.check_hostname = False
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=10) as raw:
            with self.assertRaises(ssl.SSLError):
                nosni.wrap_socket(raw, server_hostname=None)
        run(["curl", "-s", "--max-time", "10",
             "http://127.0.0.1:%d/" % self.port])
        run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.port,
             "-servername", HOST, "-tls1_2", "-cipher", "AES128-SHA"],
            input="")
        deadline = time.monotonic() + 10
        while True:
            s = parse(self.scrape()[2])
            if value(s, "mta_stsd_tls_handshakes_refused_total",
                     reason="cipher") >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(value(s, "mta_stsd_tls_handshakes_total",
                               type="full"), 1)
        self.assertEqual(value(s, "mta_stsd_tls_handshakes_total",
                               type="resumed"), 2)
        for reason in ("unknown_sni", "no_sni", "not_tls", "cipher"):
            self.assertEqual(value(s, "mta_stsd_tls_handshakes_refused_total",
                                   reason=reason), 1, reason)
        self.assertEqual(value(s, "mta_stsd_tls_handshakes_refused_total",
                               reason="protocol"), 0)

    def test_prometheus_scrapes_it(self):
        """A real Prometheus server scrapes the daemon; PromQL answers."""
        require_tools("prometheus", "curl")
        self.start(self.config())
        self.fetch(7)
        prom_port = free_port()
        prom_dir = os.path.join(self.dir, "prometheus")
        os.mkdir(prom_dir)
        conf = self.write("prometheus.yml", (
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files: [ %s ]\n"
            "scrape_configs:\n  - job_name: mta-stsd\n"
            "    static_configs:\n      - targets: [ '127.0.0.1:%d' ]\n"
            % (self.write("alerts.yml", alert_rules()),
               self.metrics_port)))
        log = open(os.path.join(self.dir, "prometheus.log"), "w")
        proc = subprocess.Popen(
            ["prometheus", "--config.file=" + conf,
             "--storage.tsdb.path=" + prom_dir,
             "--web.listen-address=127.0.0.1:%d" % prom_port],
            stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        query = 'sum(mta_stsd_requests_total{domain="example.com",code="200"})'
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (
            prom_port, urllib.parse.urlencode({"query": query}))
        result = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    answer = json.load(r)
                if answer["data"]["result"]:
                    result = answer["data"]["result"][0]["value"][1]
                    break
            except OSError:
                pass
            time.sleep(0.5)
        log.close()
        with open(os.path.join(self.dir, "prometheus.log")) as f:
            prom_log = f.read()
        self.assertEqual(result, "7", prom_log[-3000:])
        # The target is up, and the rules loaded.
        with urllib.request.urlopen(
                "http://127.0.0.1:%d/api/v1/rules" % prom_port,
                timeout=5) as r:
            rules = json.load(r)
        names = {rule["name"] for g in rules["data"]["groups"]
                 for rule in g["rules"]}
        self.assertIn("MtaStsCertificateExpiringSoon", names)

    def test_alert_rules_pass_promtool(self):
        require_tools("promtool")
        path = self.write("alerts.yml", alert_rules())
        r = run(["promtool", "check", "rules", path])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"SUCCESS: [3-9] rules found")


if __name__ == "__main__":
    unittest.main()
