#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`mta-stsd check` against a local world: unbound, mta-stsd, aiosmtpd and
plain Python HTTPS servers on loopback. Each case asserts the exact verdict
line, the key sentence and the exit status; some also the --json document.
"""

import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import NO_SKIP, SKIP, require_tools  # noqa: E402
from check_world import CheckWorld, policy_text  # noqa: E402

D = "example.test"
ID = "20240101"
GOOD_TXT = "v=STSv1; id=" + ID
TLSRPT = "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"

READY = "verdict: ready for enforce"
FIX = "verdict: safe in testing, fix before enforce"
AT_RISK = ("verdict: at risk: enforce is on and senders will refuse the "
           "failing MX hosts; fix them now or switch to testing")
BROKEN = "verdict: not working: senders will ignore the policy"
NOT_VERIFIED = ("verdict: not verified: nothing failed, but STARTTLS of the "
                "MX hosts marked above could not be checked")
UNKNOWN = "verdict: unknown: DNS gave no answers, nothing could be checked"


def records(txt=(GOOD_TXT,), tlsrpt=(TLSRPT,), mx=((10, "mx1." + D),),
            hosts=None, domain=D):
    """The zone of one domain as unbound local-data lines."""
    if hosts is None:
        hosts = {"mta-sts." + domain: "127.0.0.1", "mx1." + domain:
                 "127.0.0.11"}
    out = ['_mta-sts.%s. 300 IN TXT "%s"' % (domain, t) for t in txt]
    out += ['_smtp._tls.%s. 300 IN TXT "%s"' % (domain, t) for t in tlsrpt]
    out += ["%s. 300 IN MX %d %s." % (domain, p, h) for p, h in mx]
    out += ["%s. 300 IN A %s" % (h, a) for h, a in hosts.items()]
    return out


class Check(CheckWorld):
    def policy_daemon(self, mx=("mx1." + D,), mode="testing", id=ID,
                      domain=D):
        extra = 'id = "%s";' % id if id else ""
        return self.start_policy_server([(domain, list(mx), mode, extra)])

    def assertReport(self, r, status, verdict, *sentences):
        text = r.stdout
        self.assertEqual(r.returncode, status,
                         "stdout:\n%s\nstderr:\n%s" % (text, r.stderr))
        lines = text.splitlines()
        self.assertIn(verdict, lines, text)
        for s in sentences:
            self.assertIn(s, text)

    def json_of(self, r):
        doc = json.loads(r.stdout)
        self.assertEqual(doc["version"], 1)
        return doc

    def findings(self, doc, status=None):
        return [(f["code"], f["result_type"]) for d in doc["domains"]
                for f in d["findings"]
                if status is None or f["status"] == status]

    # ----------------------------------------------------------------
    def test_everything_green(self):
        port = self.policy_daemon(mx=("mx1." + D, "*.mx." + D))
        self.start_dns(records(mx=((10, "mx1." + D), (20, "a.mx." + D)),
                               hosts={"mta-sts." + D: "127.0.0.1",
                                      "mx1." + D: "127.0.0.11",
                                      "a.mx." + D: "127.0.0.12"}))
        self.start_smtp("127.0.0.11", "mx1." + D)
        self.start_smtp("127.0.0.12", "a.mx." + D)
        r = self.check("-c", self.config, D, https_port=port)
        self.assertReport(
            r, 0, READY,
            '[  ok  ] TXT _mta-sts.example.test: "v=STSv1; id=20240101"\n',
            "[  ok  ] policy fetched from https://mta-sts.example.test:%d"
            "/.well-known/mta-sts.txt" % port,
            "[  ok  ] policy valid: mode testing, 2 mx patterns, max_age "
            "1209600 (14 days)\n",
            "[  ok  ] the live policy is the one %s configures\n"
            % self.config,
            "[  ok  ] DNS id 20240101 is the id %s says to publish\n"
            % self.config,
            '[  ok  ] MX mx1.example.test is covered by "mx: mx1.example'
            '.test"\n',
            # One label in front of the wildcard's base is covered.
            '[  ok  ] MX a.mx.example.test is covered by "mx: *.mx.example'
            '.test"\n',
            "[  ok  ] MX mx1.example.test: STARTTLS, TLS1.3, certificate "
            "valid for mx1.example.test\n",
            '[  ok  ] TLS-RPT _smtp._tls.example.test: "%s"\n' % TLSRPT,
            "[ info ] DNSSEC: not validated (--trust-anchor none)\n")
        self.assertNotIn("FAIL", r.stdout)
        self.assertNotIn("warn", r.stdout)

        r = self.check("--json", D, https_port=port)
        self.assertEqual(r.returncode, 0, r.stdout)
        doc = self.json_of(r)
        self.assertEqual(doc["exit_status"], 0)
        self.assertEqual(doc["domains"][0]["domain"], D)
        self.assertEqual(doc["domains"][0]["verdict"], "ready")
        self.assertEqual(self.findings(doc, "fail"), [])
        codes = [c for c, _ in self.findings(doc)]
        for code in ("txt-ok", "https-ok", "policy-ok", "txt-id-current",
                     "mx-covered", "smtp-ok", "tlsrpt-ok", "dnssec-off"):
            self.assertIn(code, codes)

    def test_no_txt_but_policy_served(self):
        port = self.policy_daemon()
        self.start_dns(records(txt=()))
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] no MTA-STS TXT record at _mta-sts.example.test\n",
            "Senders look for this record first and, without it, never "
            "fetch the policy, although it is served (RFC 8461 §3.1): "
            'publish _mta-sts.example.test. IN TXT "v=STSv1; id=20240101".')
        r = self.check("--json", D, https_port=port)
        doc = self.json_of(r)
        self.assertEqual(doc["domains"][0]["verdict"], "not-working")
        self.assertEqual(self.findings(doc, "fail"), [("txt-missing", None)])

    def test_two_txt_records(self):
        port = self.policy_daemon()
        self.start_dns(records(txt=(GOOD_TXT, "v=STSv1; id=2")))
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] 2 TXT records at _mta-sts.example.test begin with "
            'v=STSv1: "', '"v=STSv1; id=20240101"', '"v=STSv1; id=2"',
            "With more than one, senders treat the domain as having no "
            "policy (RFC 8461 §3.1)")

    def test_bad_id(self):
        port = self.policy_daemon()
        self.start_dns(records(txt=("v=STSv1; id=2024-01-01",)))
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] TXT _mta-sts.example.test: id \"2024-01-01\" "
            "contains '-'\n",
            "an id is only letters and digits (RFC 8461 §3.1)")

    def test_txt_exact_prefix(self):
        # RFC 8461 §3.1: only records beginning with exactly "v=STSv1;"
        # count, for check as for lint --txt. Beside one valid record a
        # discarded look-alike is a warning; alone it is the missing record.
        port = self.policy_daemon()
        self.start_dns(records(txt=(GOOD_TXT, "v=STSv1 ; id=2")))
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 1, READY,
            "[  ok  ] TXT _mta-sts.example.test: \"v=STSv1; id=20240101\"\n",
            "[ warn ] TXT _mta-sts.example.test: the record "
            "\"v=STSv1 ; id=2\" does not begin with exactly "
            "\"v=STSv1;\"")
        self.dns.stop()
        self.start_dns(records(txt=("v=STSv1x; id=2",)))
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] no TXT record at _mta-sts.example.test begins with "
            "exactly \"v=STSv1;\": senders discard \"v=STSv1x; id=2\"\n")

    def test_txt_but_no_policy_host(self):
        # The TXT record is there, the policy host is not: dmarq PR #332.
        self.start_dns(records(hosts={"mx1." + D: "127.0.0.11"}))
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D)
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] policy host mta-sts.example.test has no address\n",
            "add an A (and AAAA) record for mta-sts.example.test")
        doc = self.json_of(self.check("--json", D))
        self.assertIn(("policy-host-missing", "sts-policy-fetch-error"),
                      self.findings(doc, "fail"))

    def test_https_certificate_wrong_name(self):
        s = self.start_https("www." + D,
                             headers=[("Content-Type", "text/plain")],
                             body=policy_text(["mx1." + D]).encode())
        self.start_dns(records())
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=s.port)
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] the certificate of mta-sts.example.test is for "
            "www.example.test\n",
            "Senders accept only a certificate valid for "
            "mta-sts.example.test (RFC 8461 §3.3)")
        doc = self.json_of(self.check("--json", D, https_port=s.port))
        self.assertIn(("https-cert-name", "sts-webpki-invalid"),
                      self.findings(doc, "fail"))

    def test_https_certificate_expired(self):
        s = self.start_https("mta-sts." + D, "--expired",
                             headers=[("Content-Type", "text/plain")],
                             body=policy_text(["mx1." + D]).encode())
        self.start_dns(records())
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=s.port)
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] the certificate of mta-sts.example.test expired on ",
            "Senders refuse an expired certificate (RFC 8461 §3.3)")
        doc = self.json_of(self.check("--json", D, https_port=s.port))
        self.assertIn(("https-cert-expired", "sts-webpki-invalid"),
                      self.findings(doc, "fail"))

    def test_redirect(self):
        target = "https://www.example.test/.well-known/mta-sts.txt"
        s = self.start_https("mta-sts." + D, status=301,
                             headers=[("Location", target)])
        self.start_dns(records())
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=s.port)
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] https://mta-sts.example.test:%d/.well-known/"
            "mta-sts.txt redirects (HTTP 301) to %s\n" % (s.port, target),
            "Senders never follow redirects (RFC 8461 §3.3)")
        doc = self.json_of(self.check("--json", D, https_port=s.port))
        self.assertEqual(self.findings(doc, "fail"),
                         [("https-redirect", "sts-policy-fetch-error")])

    def test_policy_host_with_old_tls(self):
        # "gnutls_handshake() failed: Error in protocol version" means
        # nothing to an admin: say what the policy host offers.
        s = self.start_https("mta-sts." + D, old_tls=True,
                             body=policy_text(["mx1." + D]).encode())
        self.start_dns(records())
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=s.port)
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] mta-sts.example.test offers only TLS 1.0 or 1.1; "
            "senders require TLS 1.2 or later\n")
        self.assertNotIn("gnutls_handshake", r.stdout)

    def test_wrong_media_type(self):
        s = self.start_https("mta-sts." + D, headers=[
            ("Content-Type", "application/octet-stream")],
            body=policy_text(["mx1." + D]).encode())
        self.start_dns(records())
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=s.port)
        self.assertReport(
            r, 2, BROKEN,
            '[ FAIL ] the policy is served as "application/octet-stream"\n',
            'serve the policy with "Content-Type: text/plain".')
        doc = self.json_of(self.check("--json", D, https_port=s.port))
        self.assertEqual(self.findings(doc, "fail"),
                         [("https-media-type", "sts-policy-invalid")])

    def test_oversized_body(self):
        body = policy_text(["mx1." + D]).encode() + b"x" * 70000
        s = self.start_https("mta-sts." + D, body=body,
                             headers=[("Content-Type", "text/plain")])
        self.start_dns(records())
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=s.port)
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] https://mta-sts.example.test:%d/.well-known/"
            "mta-sts.txt is larger than 65536 bytes\n" % s.port,
            "Senders stop reading at 64 KiB (RFC 8461 §3.3)")

    def test_mx_not_covered(self):
        port = self.policy_daemon()
        self.start_dns(records(mx=((10, "mx1." + D), (20, "mx2.other.test")),
                               hosts={"mta-sts." + D: "127.0.0.1",
                                      "mx1." + D: "127.0.0.11",
                                      "mx2.other.test": "127.0.0.13"}))
        self.start_smtp("127.0.0.11", "mx1." + D)
        self.start_smtp("127.0.0.13", "mx2.other.test")
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 2, FIX,
            "[ FAIL ] MX mx2.other.test is not covered by the policy\n",
            "Nothing in the policy matches mx2.other.test (RFC 8461 "
            "§4.1), so senders would refuse to deliver to it under "
            'enforce: add the line "mx: mx2.other.test" to the policy and '
            "publish a new id.")
        doc = self.json_of(self.check("--json", D, https_port=port))
        self.assertEqual(doc["domains"][0]["verdict"], "fix-before-enforce")
        self.assertEqual(self.findings(doc, "fail"),
                         [("mx-not-covered", "validation-failure")])

    def test_wildcard_one_label_only(self):
        port = self.policy_daemon(mx=("*.mx." + D,), mode="enforce")
        self.start_dns(records(
            mx=((10, "a.mx." + D), (20, "b.c.mx." + D)),
            hosts={"mta-sts." + D: "127.0.0.1", "a.mx." + D: "127.0.0.12",
                   "b.c.mx." + D: "127.0.0.14"}))
        self.start_smtp("127.0.0.12", "a.mx." + D)
        self.start_smtp("127.0.0.14", "b.c.mx." + D)
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 2, AT_RISK,
            '[  ok  ] MX a.mx.example.test is covered by "mx: *.mx.example'
            '.test"\n',
            "[ FAIL ] MX b.c.mx.example.test is not covered by the policy\n",
            '"mx: *.mx.example.test" matches exactly one label in front of '
            "mx.example.test, not b.c.mx.example.test (RFC 8461 §4.1), so "
            "senders refuse to deliver to it now, since enforce is on: add "
            'the line "mx: b.c.mx.example.test" to the policy and publish '
            "a new id.")

    def test_mx_without_starttls(self):
        port = self.policy_daemon()
        self.start_dns(records())
        self.start_smtp("127.0.0.11", starttls=False)
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 2, FIX,
            "[ FAIL ] MX mx1.example.test does not offer STARTTLS\n",
            "Under enforce senders will refuse to deliver to it (RFC 8461 "
            "§4.2): enable STARTTLS with a certificate for "
            "mx1.example.test.")
        doc = self.json_of(self.check("--json", D, https_port=port))
        self.assertEqual(self.findings(doc, "fail"),
                         [("smtp-starttls-missing", "starttls-not-supported")])

    def test_mx_certificate_name_mismatch(self):
        port = self.policy_daemon(mode="enforce")
        self.start_dns(records())
        self.start_smtp("127.0.0.11", "other.example.test")
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 2, AT_RISK,
            "[ FAIL ] MX mx1.example.test: the certificate is for "
            "other.example.test\n",
            "Senders match the certificate against the MX host name (RFC "
            "8461 §4.2). Enforce is on, so senders refuse to deliver to it "
            "now: get a certificate that includes mx1.example.test.")
        doc = self.json_of(self.check("--json", D, https_port=port))
        self.assertEqual(doc["domains"][0]["verdict"], "at-risk")
        self.assertEqual(self.findings(doc, "fail"),
                         [("smtp-cert-name", "certificate-host-mismatch")])

    def test_dns_id_stale_against_config(self):
        port = self.policy_daemon(id="2")
        self.start_dns(records(txt=("v=STSv1; id=1",)))
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check("-c", self.config, D, https_port=port)
        self.assertReport(
            r, 2, FIX,
            '[ FAIL ] DNS id is stale: publish _mta-sts.example.test. IN '
            'TXT "v=STSv1; id=2"\n',
            "DNS has id 1, but the current policy has id 2 (says %s)"
            % self.config)
        # Without -c the policy server's MTA-STS-Policy-Id says the same.
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 2, FIX,
            '[ FAIL ] DNS id is stale: publish _mta-sts.example.test. IN '
            'TXT "v=STSv1; id=2"\n',
            "DNS has id 1, but the current policy has id 2 (says the "
            "policy server)")

    def test_resolver_timeout(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        resolver = "127.0.0.1@%d" % silent.getsockname()[1]
        start = time.monotonic()
        r = self.check(D, "--timeout", "2", resolver=resolver)
        elapsed = time.monotonic() - start
        self.assertReport(
            r, 2, UNKNOWN,
            "[ FAIL ] DNS: no answer from %s within 2 s\n" % resolver,
            "check that the resolver is running and reachable")
        self.assertLess(elapsed, 10)

    def test_no_smtp_and_two_domains(self):
        # Two domains in one run, checked concurrently; --no-smtp skips
        # the probes, so an MX without STARTTLS goes unnoticed.
        port = self.start_policy_server([
            (D, ["mx1." + D], "testing", 'id = "%s";' % ID),
            ("example2.test", ["mx1.example2.test"], "testing",
             'id = "7";')])
        recs = records() + records(
            domain="example2.test", txt=(), tlsrpt=(),
            mx=((10, "mx1.example2.test"),),
            hosts={"mta-sts.example2.test": "127.0.0.1",
                   "mx1.example2.test": "127.0.0.15"})
        self.start_dns(recs)
        r = self.check("--no-smtp", D, "example2.test", https_port=port)
        self.assertEqual(r.returncode, 2, r.stdout)
        first, second, summary = r.stdout.split("\n\n")
        # Never more than was checked: skipped probes are said, and the
        # verdict is "not verified", never "ready for enforce".
        self.assertIn(NOT_VERIFIED, first.splitlines())
        self.assertNotIn(READY, r.stdout)
        self.assertIn("[ info ] STARTTLS of 1 MX host not verified: "
                      "skipped (--no-smtp)\n", first)
        self.assertIn(BROKEN, second.splitlines())
        self.assertIn("[ warn ] no TLS-RPT record at "
                      "_smtp._tls.example2.test\n", second)
        # Several domains: one summary line each at the end.
        lines = summary.splitlines()
        self.assertEqual(lines[0], "summary of 2 domains:")
        self.assertRegex(lines[2], r"^  example\.test +not-verified +-$")
        self.assertRegex(lines[3], r"^  example2\.test +not-working +FAIL "
                         r"txt-missing: no MTA-STS TXT record at "
                         r"_mta-sts\.example2\.test$")

    def test_starttls_not_checked_is_not_verified(self):
        # Nothing listens on the MX's port: the report says STARTTLS was
        # not verified and the verdict never claims "ready for enforce".
        port = self.policy_daemon()
        self.start_dns(records())
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 1, NOT_VERIFIED,
            "[ warn ] MX mx1.example.test: STARTTLS not verified: no SMTP "
            "conversation on 127.0.0.11 port %d\n" % self.smtp_port)
        self.assertNotIn(READY, r.stdout)
        doc = self.json_of(self.check("--json", D, https_port=port))
        self.assertEqual(doc["domains"][0]["verdict"], "not-verified")
        unverified = [f["code"] for f in doc["domains"][0]["findings"]
                      if f["unverified"]]
        self.assertEqual(unverified, ["smtp-connect"])

    def test_one_finding_per_problem_with_a_headline(self):
        # A short max_age under enforce: one warning whose headline says
        # what is wrong, in the text and in the JSON message.
        port = self.start_policy_server([(D, ["mx1." + D], "enforce",
                                          'id = "%s";' % ID, 3600)])
        self.start_dns(records())
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D, https_port=port)
        self.assertReport(
            r, 1, READY,
            "[  ok  ] policy valid: mode enforce, 1 mx pattern, max_age "
            "3600 (1 hour)\n",
            "[ warn ] policy line 4: max_age 3600 (1 hour) is under a week "
            "in mode enforce\n")
        self.assertEqual(r.stdout.count("max_age 3600 (1 hour) is under"), 1)
        self.assertNotIn("while testing", r.stdout)
        doc = self.json_of(self.check("--json", D, https_port=port))
        warnings = [f for f in doc["domains"][0]["findings"]
                    if f["status"] == "warn"]
        self.assertEqual([f["detail"] for f in warnings],
                         ["max-age-short-enforce"])
        self.assertEqual(warnings[0]["message"], "policy line 4: max_age "
                         "3600 (1 hour) is under a week in mode enforce")

    def test_serve_first_then_publish(self):
        # Neither TXT record nor policy host yet: the advice is to serve
        # the policy first and publish the record after (RFC 8461 §8.1).
        self.start_dns(records(txt=(), hosts={"mx1." + D: "127.0.0.11"}))
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check(D)
        self.assertReport(
            r, 2, BROKEN,
            "first serve it at https://mta-sts.example.test/.well-known/"
            "mta-sts.txt, then publish _mta-sts.example.test. IN TXT")
        self.assertNotIn("although it is served", r.stdout)

    def test_every_configured_domain_with_c(self):
        # check -c FILE alone checks every configured domain, ends with a
        # summary table, and uses the configured tlsrpt_rua in its advice.
        port = self.start_policy_server([
            (D, ["mx1." + D], "testing", 'id = "%s";' % ID),
            ("example2.test", ["mx1.example2.test"], "testing",
             'id = "7"; tlsrpt_rua = "mailto:reports@example2.test";')])
        recs = records() + records(
            domain="example2.test", txt=("v=STSv1; id=7",), tlsrpt=(),
            mx=((10, "mx1.example2.test"),),
            hosts={"mta-sts.example2.test": "127.0.0.1",
                   "mx1.example2.test": "127.0.0.15"})
        self.start_dns(recs)
        self.start_smtp("127.0.0.11", "mx1." + D)
        self.start_smtp("127.0.0.15", "mx1.example2.test")
        r = self.check("-c", self.config, https_port=port)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertTrue(r.stdout.startswith("example.test\n"), r.stdout)
        self.assertIn("\nexample2.test\n", r.stdout)
        self.assertIn("publish the record mta-stsd txt prints for "
                      'example2.test (tlsrpt_rua "mailto:reports@'
                      'example2.test")', r.stdout)
        summary = r.stdout.split("\n\n")[-1].splitlines()
        self.assertEqual(summary[0], "summary of 2 domains:")
        self.assertRegex(summary[2], r"^  example\.test +ready +-$")
        self.assertRegex(summary[3], r"^  example2\.test +ready +warn "
                         r"tlsrpt-missing: no TLS-RPT record at "
                         r"_smtp\._tls\.example2\.test$")
        doc = self.json_of(self.check("--json", "-c", self.config,
                                      https_port=port))
        self.assertEqual([d["domain"] for d in doc["domains"]],
                         [D, "example2.test"])

    def test_managed_id_needs_no_state(self):
        # A managed id derives from the policy, so check -c knows it even
        # when the state directory cannot be read: no "unknown id", no
        # "has not assigned an id", and the stale DNS id is named.
        port = self.policy_daemon(id=None)
        ids = os.path.join(self.state, "ids")
        os.replace(ids, ids + ".saved") if os.path.exists(ids) else None
        os.mkdir(ids)     # reading it fails: "Is a directory"
        self.start_dns(records())
        self.start_smtp("127.0.0.11", "mx1." + D)
        r = self.check("-c", self.config, D, https_port=port)
        self.assertNotIn("publishes is unknown", r.stdout)
        self.assertNotIn("has not assigned an id", r.stdout)
        self.assertRegex(r.stdout, r"DNS id is stale: publish _mta-sts\."
                         + D.replace(".", r"\.") + r"\. IN TXT "
                         r'"v=STSv1; id=[0-9a-f]{32}"')

    def test_dnssec_bogus_is_reported(self):
        # A signed zone served by unbound as an auth-zone, validated from
        # its own DS record. Intact, TXT and MX are "signed and validated";
        # with the TXT record or an MX host's address changed after
        # signing, the answer is bogus: validating senders get SERVFAIL,
        # so it is a failure, never "unsigned" (val-permissive-mode hid it).
        port = self.policy_daemon()
        self.start_smtp("127.0.0.11", "mx1." + D)
        zone = records(tlsrpt=())

        def check_zone(tamper):
            signed, anchor = self.signed_zone(D + ".", zone, tamper)
            self.start_dns([], auth_zones=[(D + ".", signed)])
            try:
                return self.check("--trust-anchor", anchor, D,
                                  https_port=port)
            finally:
                self.dns.stop()

        r = check_zone(())
        self.assertIn("[ info ] DNSSEC: TXT _mta-sts.example.test is signed "
                      "and validated\n", r.stdout)
        self.assertIn("[ info ] DNSSEC: MX example.test is signed and "
                      "validated\n", r.stdout)
        self.assertNotIn("bogus", r.stdout)

        r = check_zone([(GOOD_TXT, "v=STSv1; id=20240102")])
        self.assertReport(
            r, 2, BROKEN,
            "[ FAIL ] DNSSEC: the TXT answer for _mta-sts.example.test is "
            "bogus\n",
            "so senders behind them see no policy: fix the zone's "
            "signatures or its DS record.")
        self.assertNotIn("unsigned", r.stdout)
        self.assertNotIn("[  ok  ] TXT", r.stdout)

        r = check_zone([("127.0.0.11", "127.0.0.12")])
        self.assertReport(
            r, 2, FIX,
            "[ FAIL ] DNSSEC: the A answer for mx1.example.test is bogus\n",
            "so senders behind them cannot deliver mail to this MX host")

    def test_usage_errors(self):
        self.start_dns(records())
        for args in ([], ["--timeout", "0", D], ["--smtp-port", "x", D],
                     ["--bogus", D], ["-c", os.path.join(self.dir, "none"),
                                      D], ["not..a.domain"]):
            r = self.check(*args)
            self.assertEqual(r.returncode, 3, (args, r.stdout, r.stderr))


if __name__ == "__main__":
    require_tools("unbound", "curl", "ldns-signzone", "ldns-keygen")
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        print("missing python3-aiosmtpd", file=sys.stderr)
        sys.exit(1 if NO_SKIP else SKIP)
    unittest.main(verbosity=2)
