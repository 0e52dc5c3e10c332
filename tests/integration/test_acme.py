#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Certificates from ACME, end to end, against a real CA on loopback.

Debian's pebble is the CA (real tls-alpn-01 validation: pebble connects to
the daemon's listener; PEBBLE_VA_ALWAYS_VALID is never set), and
pebble-challtestsrv, from the same package, is the DNS server pebble asks:
it answers 127.0.0.1 for every name unless a test gives a name another
address. Nothing leaves the machine.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, World, domain_block, free_port,  # noqa
                          require_tools, run)

# pebble-config-external-account-bindings.json's first key.
EAB_KID = "kid-1"
EAB_KEY = ("zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12"
           "W")


class Acme(World):
    """A world with pebble, its DNS server and a daemon port for both."""

    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.dns_port = free_port()
        self.dns_mgmt = free_port()
        self.acme_port = free_port()
        self.acme_mgmt = free_port()
        self.pebble = None
        self.pebble_log = os.path.join(self.dir, "pebble.log")
        cert, key = self.leaf("localhost")
        self.pebble_cert, self.pebble_key = cert, key
        dns = subprocess.Popen(
            ["pebble-challtestsrv", "-dns01", "127.0.0.1:%d" % self.dns_port,
             "-http01", "", "-https01", "", "-tlsalpn01", "",
             "-management", "127.0.0.1:%d" % self.dns_mgmt,
             "-defaultIPv6", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(dns)
        self.wait_port(self.dns_mgmt)
        self.directory = "https://localhost:%d/dir" % self.acme_port

    def wait_port(self, port, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = run(["curl", "-s", "-o", "/dev/null", "-k",
                     "http://127.0.0.1:%d/" % port], timeout=5)
            if r.returncode != 7:   # 7: could not connect
                return
            time.sleep(0.1)
        self.fail("nothing listens on port %d" % port)

    def start_pebble(self, env=None, eab=False, http_port=None):
        conf = {"pebble": {
            "listenAddress": "127.0.0.1:%d" % self.acme_port,
            "managementListenAddress": "127.0.0.1:%d" % self.acme_mgmt,
            "certificate": self.pebble_cert,
            "privateKey": self.pebble_key,
            "httpPort": http_port or free_port(), "tlsPort": self.port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": eab,
            "externalAccountMACKeys": {EAB_KID: EAB_KEY},
        }}
        path = self.write("pebble.json", json.dumps(conf))
        e = dict(os.environ)
        e.update({"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
                  "PEBBLE_AUTHZREUSE": "0"})
        e.pop("PEBBLE_VA_ALWAYS_VALID", None)
        e.update(env or {})
        log = open(self.pebble_log, "a")
        self.addCleanup(log.close)
        self.pebble = subprocess.Popen(
            ["pebble", "-config", path, "-dnsserver",
             "127.0.0.1:%d" % self.dns_port],
            stdout=log, stderr=subprocess.STDOUT, env=e)
        self.procs.append(self.pebble)
        self.wait_port(self.acme_mgmt)
        self.wait_port(self.acme_port)
        # pebble makes a new root each start: what clients must trust.
        root = run(["curl", "-sf", "--cacert", self.ca.cert,
                    "https://localhost:%d/roots/0" % self.acme_mgmt])
        self.assertEqual(root.returncode, 0, root.stderr)
        self.root = self.write("pebble-root.pem", root.stdout)

    def stop_pebble(self):
        self.pebble.kill()
        self.pebble.wait(10)

    def dns_a(self, host, address=None):
        """Makes pebble's DNS answer address for host (None: 127.0.0.1,
        the default again)."""
        body = {"host": host}
        if address:
            body["addresses"] = [address]
        req = urllib.request.Request(
            "http://127.0.0.1:%d/%s" % (self.dns_mgmt,
                                        "add-a" if address else "clear-a"),
            data=json.dumps(body).encode())
        urllib.request.urlopen(req, timeout=10).read()

    def acme_group(self, extra=""):
        return ('acme = { directory = "%s"; email = "postmaster@a.test"; '
                'ca_file = "%s"; retry_interval = 1; %s };' %
                (self.directory, self.ca.cert, extra))

    def config(self, names, extra_acme="", file_domains=(), name="acme.conf"):
        blocks = ['{ name = "%s"; mode = "enforce"; mx = [ "mail.%s" ]; }'
                  % (n, n) for n in names]
        for n in file_domains:
            cert, key = self.leaf("mta-sts." + n)
            blocks.append(domain_block(n, ["mail." + n], cert, key))
        text = ('listen = [ "127.0.0.1:%d" ];\nstate_directory = "%s";\n'
                'user = "nobody";\ngroup = "nogroup";\n%s\n'
                'domains = (\n%s\n);\n' % (self.port, self.state,
                                            self.acme_group(extra_acme),
                                            ",\n".join(blocks)))
        return self.write(name, text)

    def fetch(self, name, cacert=None):
        host = "mta-sts." + name
        return run(["curl", "-sS", "-f", "--max-time", "10", "--cacert",
                    cacert or self.root, "--resolve",
                    "%s:%d:127.0.0.1" % (host, self.port),
                    "https://%s:%d/.well-known/mta-sts.txt" %
                    (host, self.port)])

    def wait_served(self, name, timeout=60):
        deadline = time.monotonic() + timeout
        r = None
        while time.monotonic() < deadline:
            r = self.fetch(name)
            if r.returncode == 0:
                return r
            time.sleep(0.3)
        self.fail("%s not served with a pebble certificate within %ss: %s"
                  "\ndaemon log:\n%s" % (name, timeout, r.stderr,
                                         self.daemons[-1].output()))

    def wait_log(self, daemon, pattern, timeout=60, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, daemon.output())) >= count:
                return
            time.sleep(0.1)
        self.fail("no %r (x%d) in the log within %ss:\n%s" %
                  (pattern, count, timeout, daemon.output()))

    def chain(self, name):
        path = os.path.join(self.state, "acme", "mta-sts." + name,
                            "chain.pem")
        with open(path) as f:
            return f.read()

    def serial(self, name):
        """The serial of the certificate the daemon serves for name."""
        host = "mta-sts." + name
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" %
                 self.port, "-servername", host, "-CAfile", self.root],
                input="")
        r2 = run(["openssl", "x509", "-noout", "-serial"], input=r.stdout)
        return r2.stdout.strip()

    def status(self, conf):
        return run([MTASTSD, "acme-status", "-c", conf])


class TestIssuance(Acme):
    def test_three_domains_issued_and_served_verified(self):
        self.start_pebble()
        names = ["a.test", "b.test", "c.test"]
        conf = self.config(names)
        check = run([MTASTSD, "check-config", "-c", conf])
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("waiting for its certificate from ACME",
                      check.stdout + check.stderr)
        d = self.start(conf)
        for n in names:
            r = self.wait_served(n)
            self.assertIn("mx: mail.%s" % n, r.stdout)
        # The policy is fetched with pebble's root alone: a verified chain.
        st = self.status(conf)
        self.assertEqual(st.returncode, 0, st.stdout)
        self.assertEqual(st.stdout.count("state: valid"), 3, st.stdout)
        base = os.path.join(self.state, "acme")
        for n in names:
            mode = os.stat(os.path.join(base, "mta-sts." + n,
                                        "key.pem")).st_mode & 0o777
            self.assertEqual(mode, 0o600)
            mode = os.stat(os.path.join(base, "mta-sts." + n,
                                        "chain.pem")).st_mode & 0o777
            self.assertEqual(mode, 0o640)
        self.assertEqual(os.stat(os.path.join(base, "account.key"))
                         .st_mode & 0o777, 0o600)
        # txt needs no certificate: the records of ACME domains as of
        # any other.
        txt = run([MTASTSD, "txt", "-c", conf])
        self.assertEqual(txt.returncode, 0, txt.stderr)
        for n in names:
            self.assertIn("_mta-sts.%s." % n, txt.stdout)
        # A restart issues nothing: the certificates are in place.
        d.stop()
        d2 = self.start(conf)
        for n in names:
            self.assertEqual(self.fetch(n).returncode, 0)
        time.sleep(2)
        self.assertNotIn("new order", d2.output())

    def test_mixed_domains_and_a_failed_validation(self):
        self.start_pebble()
        # pebble's validator is sent to an address nothing listens on.
        self.dns_a("mta-sts.bad.test", "127.0.0.2")
        conf = self.config(["a.test", "b.test", "bad.test"],
                           file_domains=["file.test"])
        d = self.start(conf)
        # The file-certificate domain is served from the start.
        self.assertEqual(self.fetch("file.test", self.ca.cert).returncode,
                         0, d.output())
        self.wait_served("a.test")
        self.wait_served("b.test")
        self.wait_log(d, r"acme: mta-sts\.bad\.test: validation of "
                      r"mta-sts\.bad\.test failed: .*; next attempt at")
        # Refused like an unknown name, the others unaffected.
        r = self.fetch("bad.test")
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.fetch("a.test").returncode, 0)
        self.assertEqual(self.fetch("file.test", self.ca.cert).returncode,
                         0)
        st = self.status(conf)
        self.assertEqual(st.returncode, 3, st.stdout)
        self.assertRegex(st.stdout, r"mta-sts\.bad\.test\n  state: "
                         r"(waiting|ordering)[\s\S]*last error: validation")
        # Once DNS is right, the next attempt succeeds.
        self.dns_a("mta-sts.bad.test")
        self.wait_served("bad.test", timeout=90)

    def test_external_account_binding(self):
        self.start_pebble(eab=True)
        conf = self.config(["a.test"], name="noeab.conf")
        d = self.start(conf)
        self.wait_log(d, r"External Account Binding")
        d.stop()
        conf = self.config(["a.test"], 'eab_kid = "%s"; eab_hmac_key = '
                           '"%s";' % (EAB_KID, EAB_KEY))
        self.start(conf)
        self.wait_served("a.test")


class TestHttp01(Acme):
    def test_http01_on_its_own_plain_listener(self):
        http_port = free_port()
        self.start_pebble(http_port=http_port)
        conf = self.config(["a.test", "b.test"], 'challenge = "http-01"; '
                           'http01_listen = "127.0.0.1:%d";' % http_port)
        d = self.start(conf)
        self.wait_served("a.test")
        self.wait_served("b.test")
        # Only the challenge path, and only while an order is pending.
        r = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                 "http://127.0.0.1:%d/.well-known/acme-challenge/abc" %
                 http_port])
        self.assertEqual(r.stdout, "404")
        r = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                 "http://127.0.0.1:%d/" % http_port])
        self.assertEqual(r.stdout, "404")
        self.assertIn("certificate issued", d.output())


class TestFaults(Acme):
    def test_ca_unreachable_at_start(self):
        conf = self.config(["a.test"], file_domains=["file.test"])
        d = self.start(conf)
        self.assertEqual(self.fetch("file.test", self.ca.cert).returncode,
                         0, d.output())
        self.wait_log(d, r"acme: mta-sts\.a\.test: cannot reach the CA "
                      r"at .*; next attempt at .*failure 2 in a row",
                      timeout=30)
        self.assertEqual(self.fetch("file.test", self.ca.cert).returncode,
                         0)
        # The CA comes back: the backoff retries find it.
        self.start_pebble()
        self.wait_served("a.test", timeout=90)

    def test_nonce_rejection_survived(self):
        self.start_pebble(env={"PEBBLE_WFE_NONCEREJECT": "50"})
        conf = self.config(["a.test", "b.test"])
        d = self.start(conf)
        self.wait_served("a.test", timeout=90)
        self.wait_served("b.test", timeout=90)
        # Half the nonces were refused, and retried with the next one.
        self.assertRegex(d.output(), r"acme: mta-sts\.[ab]\.test: the CA "
                         r"rejected \d+ nonces? \(badNonce\)")

    def test_crash_between_the_two_renames_of_a_commit(self):
        self.start_pebble()
        conf = self.config(["a.test"])
        d = self.start(conf)
        self.wait_served("a.test")
        d.stop()
        # The new key is in place, its chain not yet: what a crash between
        # the renames of acme_store_commit leaves.
        home = os.path.join(self.state, "acme", "mta-sts.a.test")
        os.rename(os.path.join(home, "chain.pem"),
                  os.path.join(home, "next-chain.pem"))
        other, _ = self.leaf("mta-sts.a.test")
        with open(other) as f, open(os.path.join(home, "chain.pem"),
                                    "w") as g:
            g.write(f.read())
        d2 = self.start(conf)
        self.wait_log(d2, r"acme: mta-sts\.a\.test: finished moving the "
                      r"certificate", timeout=30)
        self.wait_served("a.test", timeout=30)
        self.assertNotIn("new order", d2.output())

    def test_broken_files_are_replaced_by_a_new_order(self):
        self.start_pebble()
        conf = self.config(["a.test"])
        d = self.start(conf)
        self.wait_served("a.test")
        d.stop()
        # Someone put another key in place: the only domain cannot be
        # served, yet the daemon starts and the ACME thread orders anew.
        _, key = self.leaf("mta-sts.a.test")
        home = os.path.join(self.state, "acme", "mta-sts.a.test")
        with open(key) as f, open(os.path.join(home, "key.pem"), "w") as g:
            g.write(f.read())
        d2 = self.start(conf)
        self.wait_log(d2, r"a\.test: new order", timeout=30)
        self.wait_served("a.test", timeout=60)

    def test_restart_in_the_middle_of_an_order(self):
        self.start_pebble()
        conf = self.config(["a.test"])
        d = self.start(conf)
        self.wait_log(d, r"mta-sts\.a\.test: new order", timeout=30)
        d.proc.kill()       # no clean stop: a crash mid-order
        d.proc.wait(10)
        first = d.output()
        d.stop()
        d2 = self.start(conf)
        self.wait_served("a.test", timeout=90)
        second = d2.output()
        # Resumed, or restarted once when the CA had already given the
        # order up; never more.
        orders = len(re.findall(r"a\.test: new order", first + second))
        self.assertLessEqual(orders, 2, first + second)
        if "resuming order" not in second:
            self.assertEqual(orders, 2, second)
        d2.stop()
        d3 = self.start(conf)
        time.sleep(2)
        self.assertNotIn("order", d3.output())
        self.assertEqual(self.fetch("a.test").returncode, 0)


class TestRenewal(Acme):
    def test_renewal_serves_the_new_certificate_without_a_failed_request(
            self):
        self.start_pebble()
        conf = self.config(["a.test"])
        d = self.start(conf)
        self.wait_served("a.test")
        first = self.serial("a.test")
        self.assertTrue(first.startswith("serial="), first)
        out = run(["openssl", "x509", "-noout", "-startdate", "-enddate"],
                  input=self.chain("a.test")).stdout
        start = time.mktime(time.strptime(
            " ".join(out.splitlines()[0].split("=", 1)[1].split()),
            "%b %d %H:%M:%S %Y %Z"))
        end = time.mktime(time.strptime(
            " ".join(out.splitlines()[1].split("=", 1)[1].split()),
            "%b %d %H:%M:%S %Y %Z"))
        # Renew 6 seconds into each certificate's life.
        life = int(end - start)
        self.config(["a.test"], "renew_before = %d;" % (life - 6))
        failures = []
        count = [0]
        done = threading.Event()

        def loop():
            for _ in range(2000):
                if done.is_set():
                    return
                r = self.fetch("a.test")
                count[0] += 1
                if r.returncode != 0:
                    failures.append(r.stderr)
                done.wait(0.05)

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            d.reload()
            self.wait_log(d, r"acme: mta-sts\.a\.test: serving its new "
                          r"certificate", count=3, timeout=90)
            time.sleep(0.5)
        finally:
            done.set()
            t.join(60)
        self.assertEqual(failures, [], "failed requests during renewal")
        self.assertGreater(count[0], 20)
        self.assertNotEqual(self.serial("a.test"), first)
        self.assertNotIn("reloading", d.output().split("reloading", 1)[1])


    def life(self, name):
        out = run(["openssl", "x509", "-noout", "-startdate", "-enddate"],
                  input=self.chain(name)).stdout.splitlines()
        start, end = (time.mktime(time.strptime(
            " ".join(line.split("=", 1)[1].split()),
            "%b %d %H:%M:%S %Y %Z")) for line in out[:2])
        return int(end - start)

    def test_failed_renewal_keeps_serving_the_current_certificate(self):
        self.start_pebble()
        conf = self.config(["a.test"])
        d = self.start(conf)
        self.wait_served("a.test")
        first = self.serial("a.test")
        self.stop_pebble()
        # Due for renewal at once, with the CA gone.
        self.config(["a.test"], "renew_before = %d;" % (self.life("a.test")
                                                        - 1))
        d.reload()
        self.wait_log(d, r"acme: mta-sts\.a\.test: cannot reach the CA .*"
                      r"next attempt at", timeout=30)
        self.assertEqual(self.fetch("a.test").returncode, 0)
        self.assertEqual(self.serial("a.test"), first)
        # The state file is written just after the log line.
        want = (r"state: valid[\s\S]*failures: [1-9][\s\S]*last error: "
                r"cannot reach the CA")
        for _ in range(100):
            st = self.status(conf)
            if re.search(want, st.stdout):
                break
            time.sleep(0.1)
        self.assertEqual(st.returncode, 0, st.stdout)
        self.assertRegex(st.stdout, want)


    def test_failing_renewal_warns_as_expiry_approaches(self):
        # A certificate from an earlier issuance, 5 days from expiry, and
        # no CA to renew it: served, retried, and warned about.
        cert, key = self.leaf("mta-sts.a.test", "--days-valid", "5")
        home = os.path.join(self.state, "acme", "mta-sts.a.test")
        os.makedirs(home)
        for src, name in ((cert, "chain.pem"), (key, "key.pem")):
            with open(src) as f, open(os.path.join(home, name), "w") as g:
                g.write(f.read())
        for path in (os.path.join(self.state, "acme"), home,
                     os.path.join(home, "chain.pem"),
                     os.path.join(home, "key.pem")):
            shutil.chown(path, "nobody", "nogroup")
        conf = self.config(["a.test"], "renew_before = 432000;")
        d = self.start(conf)
        self.assertEqual(self.fetch("a.test", self.ca.cert).returncode, 0,
                         d.output())
        self.wait_log(d, r"acme: mta-sts\.a\.test: still serving the "
                      r"previous certificate, which expires at", timeout=30)
        self.assertEqual(self.fetch("a.test", self.ca.cert).returncode, 0)


class AriFront:
    """A directory in front of pebble (2.4, which has no renewal
    information) that adds RFC 9773's renewalInfo, answered here: a
    suggested window that has already begun, so the certificate is due."""

    def __init__(self, world):
        import http.server
        import ssl
        front = self
        self.asked = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/dir":
                    r = run(["curl", "-sf", "--cacert", world.ca.cert,
                             "https://localhost:%d/dir" % world.acme_port])
                    d = json.loads(r.stdout)
                    d["renewalInfo"] = "https://localhost:%d/ari/" % \
                        front.port
                    body = json.dumps(d).encode()
                elif self.path.startswith("/ari/"):
                    front.asked.append(self.path[5:])
                    now = time.time()
                    fmt = "%Y-%m-%dT%H:%M:%SZ"
                    body = json.dumps({"suggestedWindow": {
                        "start": time.strftime(fmt, time.gmtime(now - 60)),
                        "end": time.strftime(fmt, time.gmtime(now - 30)),
                    }}).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.port = self.server.server_address[1]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(world.pebble_cert, world.pebble_key)
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        world.addCleanup(self.stop)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class TestRenewalInfo(Acme):
    def test_the_cas_renewal_window_brings_the_renewal_forward(self):
        self.start_pebble()
        front = AriFront(self)
        self.directory = "https://localhost:%d/dir" % front.port
        conf = self.config(["a.test"])
        d = self.start(conf)
        self.wait_served("a.test")
        # Two thirds of pebble's five years are far away; the CA's window
        # has begun, so the certificate is renewed at once, and again for
        # the new one (the window stays in the past here).
        self.wait_log(d, r"acme: mta-sts\.a\.test: the CA suggests "
                      r"renewing at", timeout=30)
        self.wait_log(d, r"acme: mta-sts\.a\.test: serving its new "
                      r"certificate", count=2, timeout=60)
        self.assertTrue(front.asked)
        self.assertRegex(front.asked[0], r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
        self.assertEqual(self.fetch("a.test").returncode, 0)


class TestReplicas(Acme):
    def test_one_replica_issues_another_serves_the_files(self):
        """docs/DEPLOYMENT.md: one replica has the acme group; the others
        name the synchronised files as cert and key and reload after each
        synchronisation."""
        self.start_pebble()
        conf = self.config(["a.test"])
        self.start(conf)
        self.wait_served("a.test")
        other_port = free_port()
        files = os.path.join(self.state, "acme", "mta-sts.%d")
        other_state = os.path.join(self.dir, "state2")
        os.mkdir(other_state)
        os.chmod(other_state, 0o777)
        text = ('listen = [ "127.0.0.1:%d" ];\nstate_directory = "%s";\n'
                'user = "nobody";\ngroup = "nogroup";\n'
                'domains = ( { name = "a.test"; mode = "enforce"; '
                'mx = [ "mail.a.test" ]; cert = "%s/chain.pem"; '
                'key = "%s/key.pem"; } );\n' %
                (other_port, other_state, files, files))
        replica = self.start(self.write("replica.conf", text))
        host = "mta-sts.a.test"
        r = run(["curl", "-sS", "-f", "--cacert", self.root, "--resolve",
                 "%s:%d:127.0.0.1" % (host, other_port),
                 "https://%s:%d/.well-known/mta-sts.txt" % (host,
                                                            other_port)])
        self.assertEqual(r.returncode, 0, r.stderr + replica.output())
        self.assertIn("mx: mail.a.test", r.stdout)


if __name__ == "__main__":
    require_tools("pebble", "pebble-challtestsrv", "curl", "openssl")
    unittest.main(verbosity=2)
