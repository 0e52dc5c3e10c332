#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hosting many domains the operator does not all control: one domain's
problem leaves only that domain unserved (its handshake refused like an
unknown name), a reload keeps the last good version of each domain,
check-config and the service status name what is not served, strict = true
restores all-or-nothing, domain files in domains_directory are judged one
by one, replicas with separate state agree on every managed id, and the
read-only subcommands write nothing."""

import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, World, config_text, domain_block,
                          free_port, run)

ROOT = os.geteuid() == 0
DOMAINS = ("a.example", "b.example", "c.example")


def tls_refused(port, host, ca):
    """Does the server abort the handshake for host (unrecognized_name)?"""
    r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
             "-servername", host, "-CAfile", ca], input="", timeout=20)
    return "BEGIN CERTIFICATE" not in r.stdout, r.stdout + r.stderr


class Hosting(World):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.certs = {d: self.leaf("mta-sts." + d) for d in DOMAINS}

    def block(self, name, mode="testing", mx=None, cert=None):
        return domain_block(name, mx or ["mx." + name],
                            *(cert or self.certs[name]), mode=mode)

    def write_config(self, blocks=None, extra="", name="mta-stsd.conf",
                     state=None):
        blocks = blocks if blocks is not None else [
            self.block(d) for d in DOMAINS]
        return self.write(name, config_text(self.port, blocks,
                                            state or self.state, extra))

    def fetch(self, domain, port=None):
        r = self.curl("mta-sts." + domain, port or self.port, "/.well-known/"
                      "mta-sts.txt", "-D", "-")
        return r

    def reload_status(self, d):
        """SIGHUP, then the READY=1 message that ends the reload, with
        its STATUS= line."""
        d.signal(1)
        d.notify.wait_for("RELOADING=1")
        return d.notify.wait_for("READY=1")

    def served(self, domain, port=None):
        """The policy body and its id header, without the Date."""
        r = self.fetch(domain, port)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.partition("\r\n\r\n")
        m = re.search(r"(?im)^MTA-STS-Policy-Id: (\S+)", head)
        return body, m and m.group(1)

    def policy_id(self, domain, port=None):
        r = self.fetch(domain, port)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"(?im)^MTA-STS-Policy-Id: (\S+)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        return m.group(1)

    def check_config(self, *args, config=None):
        return run([MTASTSD, "check-config", "-c",
                    config or os.path.join(self.dir, "mta-stsd.conf")] +
                   list(args), timeout=60)

    # -- failure isolation at start -----------------------------------------

    def break_key(self, domain):
        """The key of domain is gone (a customer who left)."""
        os.unlink(self.certs[domain][1])

    def test_start_serves_the_others(self):
        self.break_key("c.example")
        path = self.write_config()
        d = self.start(path, ready=False)
        ready = d.notify.wait_for("READY=1")
        self.assertIn("STATUS=serving 2 of 3 domain(s); 1 not served: "
                      "c.example (key unreadable)", ready)
        for domain in ("a.example", "b.example"):
            self.assertEqual(self.fetch(domain).returncode, 0)
        refused, out = tls_refused(self.port, "mta-sts.c.example",
                                   self.ca.cert)
        self.assertTrue(refused, out)
        log = d.output()
        # The error names the domain, the file and the fix.
        self.assertIn(self.certs["c.example"][1], log)
        self.assertRegex(log, r"error: %s:\d+: c\.example: not served "
                         r"\(key unreadable\) — fix" % re.escape(path))

    def test_strict_is_all_or_nothing(self):
        self.break_key("c.example")
        path = self.write_config(extra="strict = true;")
        r = run([MTASTSD, "-c", path], timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("strict = true: 1 domain(s) cannot be served, so "
                      "none is", r.stderr)
        self.assertIn("not starting", r.stderr)

    def test_no_domain_served_refuses_start(self):
        for d in DOMAINS:
            self.break_key(d)
        r = run([MTASTSD, "-c", self.write_config()], timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no domain can be served", r.stderr)

    def test_duplicate_name_serves_neither_copy(self):
        path = self.write_config([self.block("a.example"),
                                  self.block("b.example"),
                                  self.block("b.example", mode="enforce")])
        d = self.start(path)
        self.assertEqual(self.fetch("a.example").returncode, 0)
        self.assertTrue(tls_refused(self.port, "mta-sts.b.example",
                                    self.ca.cert)[0])
        self.assertIn("b.example: not served (duplicate name)", d.output())

    # -- reload keeps the last good version ---------------------------------

    def test_reload_keeps_last_good_version_of_each_domain(self):
        d = self.start(self.write_config())
        before_c = self.served("c.example")
        # a.example gets a new policy, c.example a broken key and a new
        # policy: a's change is applied, c keeps its previous version.
        self.break_key("c.example")
        self.write_config([self.block("a.example", mode="enforce"),
                           self.block("b.example"),
                           self.block("c.example", mode="enforce")])
        self.assertIn("STATUS=serving 3 of 3 domain(s); 1 on the previous "
                      "version: c.example (key unreadable)",
                      self.reload_status(d))
        self.assertIn("mode: enforce", self.fetch("a.example").stdout)
        self.assertEqual(self.served("c.example"), before_c)
        self.assertIn("c.example: still serving its previous version",
                      d.output())
        # Several reloads in a row with c still broken: still kept.
        d.reload()
        d.reload()
        self.assertEqual(self.served("c.example"), before_c)
        # Fixed: the new version is taken.
        self.certs["c.example"] = self.leaf("mta-sts.c.example")
        self.write_config([self.block("a.example", mode="enforce"),
                           self.block("b.example"),
                           self.block("c.example", mode="enforce")])
        d.reload()
        self.assertIn("mode: enforce", self.fetch("c.example").stdout)

    def test_reload_new_broken_domain_is_not_served(self):
        d = self.start(self.write_config([self.block("a.example")]))
        self.break_key("b.example")
        self.write_config([self.block("a.example"), self.block("b.example")])
        d.reload()
        self.assertEqual(self.fetch("a.example").returncode, 0)
        self.assertTrue(tls_refused(self.port, "mta-sts.b.example",
                                    self.ca.cert)[0])

    def test_syntax_error_keeps_everything(self):
        path = self.write_config()
        d = self.start(path)
        with open(path) as f:
            good = f.read()
        self.write("mta-stsd.conf", good.replace("domains = (",
                                                 "domains = ((", 1))
        d.reload()
        self.assertIn("reload failed: still serving the previous "
                      "configuration", d.output())
        for domain in DOMAINS:
            self.assertEqual(self.fetch(domain).returncode, 0)

    # -- check-config ---------------------------------------------------------

    def test_check_config_lists_domains_not_served(self):
        self.break_key("b.example")
        self.write_config([self.block("a.example"), self.block("b.example"),
                           self.block("c.example", mx=["bad_mx.example"])])
        r = self.check_config()
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("b.example: not served (key unreadable)", r.stdout)
        self.assertIn("c.example: not served (mx invalid)", r.stdout)
        self.assertIn("will serve 1 of 3 domain(s); 2 not served: "
                      "b.example (key unreadable), c.example (mx invalid)",
                      r.stdout)
        # One domain asked for, quiet, as a deploy hook does.
        r = self.check_config("-q", "a.example")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        r = self.check_config("-q", "b.example")
        self.assertEqual(r.returncode, 3)
        self.assertEqual(r.stdout, "")
        self.assertIn(self.certs["b.example"][1], r.stderr)
        # c.example's finding is not shown (the random temporary
        # directory's name may hold "mx": look for the domain).
        self.assertNotIn("c.example", r.stderr)
        # txt names the problem, not "not a configured domain".
        r = run([MTASTSD, "txt", "-c", os.path.join(self.dir,
                                                     "mta-stsd.conf"),
                 "c.example"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("c.example: not served (mx invalid)", r.stderr)
        self.assertNotIn("not a configured domain", r.stderr)
        r = self.check_config("--json")
        doc = json.loads(r.stdout)
        self.assertEqual(doc["verdict"], "not-all-served")
        self.assertEqual([d["domain"] for d in doc["served"]],
                         ["a.example"])
        self.assertEqual({d["domain"]: d["reason"] for d in
                          doc["not_served"]},
                         {"b.example": "key unreadable",
                          "c.example": "mx invalid"})
        self.assertTrue(any(f["code"] == "config-mx-invalid" for f in
                            doc["findings"]))

    def test_check_config_arguments_are_named(self):
        self.write_config()
        r = self.check_config("--bump")
        self.assertEqual(r.returncode, 2)
        self.assertIn("check-config does not take --bump", r.stderr)
        r = self.check_config("not a domain")
        self.assertEqual(r.returncode, 2)
        self.assertIn('"not a domain" is not a domain name', r.stderr)
        r = self.check_config("z.example")
        self.assertEqual(r.returncode, 1)
        self.assertIn("z.example: not a configured domain", r.stderr)

    # -- domains_directory ----------------------------------------------------

    def domain_file(self, name, text):
        directory = os.path.join(self.dir, "domains.d")
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)
        return self.write(os.path.join("domains.d", name), text)

    def test_domains_directory_one_bad_file(self):
        self.domain_file("10-a.conf", "domains = ( %s );\n" %
                         self.block("a.example"))
        self.domain_file("20-b.conf", "domains = ( %s );\n" %
                         self.block("b.example"))
        self.domain_file("30-c.conf", "domains = ( %s );\n" %
                         self.block("c.example"))
        self.domain_file("README", "not read: no .conf\n")
        path = self.write_config([], extra='domains_directory = '
                                 '"domains.d";')
        # No domains = ( ) in the main file at all.
        with open(path) as f:
            text = f.read().replace("domains = (\n\n);\n", "")
        self.write("mta-stsd.conf", text)
        r = self.check_config()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration OK (3 domain(s)", r.stdout)
        # Name order: a, b, c.
        lines = [l.split(":")[0] for l in r.stdout.splitlines()[:3]]
        self.assertEqual(lines, list(DOMAINS))
        d = self.start(path)
        before_b = self.served("b.example")

        # b's file breaks (syntax), a's file gets a new policy: a's is
        # applied, b keeps its previous version, c is untouched.
        bad = self.domain_file("20-b.conf", "domains = ( %s \n" %
                               self.block("b.example", mode="enforce"))
        self.domain_file("10-a.conf", "domains = ( %s );\n" %
                         self.block("a.example", mode="enforce"))
        r = self.check_config()
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("%s: not served (syntax error)" % bad, r.stdout)
        self.assertIn(bad + ":", r.stderr)
        self.assertIn("STATUS=serving 3 of 3 domain(s); 1 on the previous "
                      "version: b.example (syntax error)",
                      self.reload_status(d))
        self.assertIn("mode: enforce", self.fetch("a.example").stdout)
        self.assertEqual(self.served("b.example"), before_b)
        self.assertEqual(self.fetch("c.example").returncode, 0)
        self.assertIn("b.example: still serving its previous version",
                      d.output())

        # A file that sets anything but domains is not used at all.
        self.domain_file("20-b.conf", 'listen = [ "127.0.0.1:1" ];\n'
                         'domains = ( %s );\n' % self.block("b.example"))
        r = self.check_config()
        self.assertEqual(r.returncode, 3)
        self.assertIn("`listen` is not valid in a file of "
                      "domains_directory", r.stderr)

    def test_domains_directory_read_on_every_cpu_says_the_same(self):
        # 40 files, read by as many threads as CPUs: the domains, their
        # order and every finding must be what one thread reads, byte for
        # byte (broken files and a duplicate across files included).
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            self.skipTest("one CPU: nothing runs in parallel")
        cert = self.certs["a.example"]
        for f in range(40):
            names = ["f%02d-%d.example" % (f, k) for k in range(3)]
            if f == 20:
                names[1] = "f03-1.example"     # also in file 3
            blocks = [self.block(n, cert=cert) for n in names]
            if f == 12:
                blocks[2] = blocks[2].replace('"testing"', '"bogus"')
            text = "domains = ( %s );\n" % ",\n".join(blocks)
            if f == 5:
                text = text[:-4]               # a syntax error
            if f == 30:
                text = 'listen = [ "127.0.0.1:1" ];\n' + text
            self.domain_file("%02d.conf" % f, text)
        path = self.write_config([self.block("a.example")],
                                 extra='domains_directory = "domains.d";')
        one = run(["taskset", "-c", str(cpus[0]), MTASTSD, "check-config",
                   "-c", path], timeout=120)
        every = self.check_config(config=path)
        self.assertEqual(every.returncode, one.returncode)
        self.assertEqual(every.stdout, one.stdout)
        self.assertEqual(every.stderr, one.stderr)
        # What the files hold really was found, in file order.
        self.assertIn("f39-2.example", every.stdout)
        self.assertLess(every.stdout.index("f00-0.example"),
                        every.stdout.index("f39-0.example"))
        self.assertIn("05.conf: not served (syntax error)", every.stdout)
        self.assertIn("f03-1.example", every.stderr)
        self.assertIn("`listen` is not valid in a file of "
                      "domains_directory", every.stderr)

    def test_domains_directory_missing(self):
        path = self.write_config([self.block("a.example")],
                                 extra='domains_directory = "nope.d";')
        r = self.check_config(config=path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("domains_directory %s: cannot read: No such file or "
                      "directory — create it" % os.path.join(self.dir,
                                                            "nope.d"),
                      r.stderr)

    # -- @include with absolute paths ----------------------------------------

    def test_absolute_include_with_absolute_config(self):
        sub = os.path.join(self.dir, "customers")
        os.mkdir(sub)
        os.chmod(sub, 0o755)
        inc = self.write(os.path.join("customers", "one.conf"),
                         self.block("a.example") + "\n")
        blocks = ["@include \"%s\"" % inc]
        text = config_text(self.port, [], self.state).replace(
            "domains = (\n\n);", "domains = (\n%s\n);" % "\n".join(blocks))
        path = self.write("abs.conf", text)
        self.assertTrue(os.path.isabs(path))
        r = self.check_config(config=path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("//", r.stderr)
        # Findings in it name the file by its real path.
        self.write(os.path.join("customers", "one.conf"),
                   self.block("a.example", mx=["bad_mx.example"]) + "\n")
        r = self.check_config(config=path)
        self.assertIn(inc + ":1: error: mx `bad_mx.example`", r.stderr)

    # -- ids, replicas, read-only commands -----------------------------------

    def test_two_replicas_agree_on_managed_ids(self):
        """Two daemons, the same configuration, separate state directories
        (one of them holding a time-stamp id of an earlier version): the
        same id everywhere, and txt on the authoring host agrees."""
        states = []
        for n in (1, 2):
            st = os.path.join(self.dir, "state%d" % n)
            os.mkdir(st)
            if ROOT:
                shutil.chown(st, "nobody", "nogroup")
            states.append(st)
        old = "20261206023514"
        ports = [self.port, free_port()]
        paths = []
        for n, (st, port) in enumerate(zip(states, ports)):
            self.port = port
            paths.append(self.write_config(name="replica%d.conf" % n,
                                           state=st))
        daemons = [self.start(p) for p in paths]
        # The second replica as an upgraded one: its ids file holds the
        # time-stamp ids earlier versions assigned.
        self.assertEqual(daemons[1].stop(), 0)
        ids_file = os.path.join(states[1], "ids")
        with open(ids_file) as f:
            text = f.read()
        with open(ids_file, "w") as f:
            f.write(re.sub(r"(?m)^(\S+) \S+ ", r"\1 %s " % old, text))
        daemons[1] = self.start(paths[1])
        self.assertIn("the policy is unchanged, but its managed id is now",
                      daemons[1].output())
        for domain in DOMAINS:
            ids = {self.policy_id(domain, port) for port in ports}
            self.assertEqual(len(ids), 1, (domain, ids))
            (the_id,) = ids
            self.assertRegex(the_id, r"^[0-9a-f]{32}$")
            self.assertNotEqual(the_id, old)
            r = run([MTASTSD, "txt", "-c", paths[0], "--json", domain])
            self.assertEqual(json.loads(r.stdout)["id"], the_id)
            # As a third host, with a state directory of its own.
            r = run([MTASTSD, "txt", "-c", paths[1], "--json", domain])
            self.assertEqual(json.loads(r.stdout)["id"], the_id)
        # A changed policy: a new id, again the same on both.
        for n, (st, port) in enumerate(zip(states, ports)):
            self.port = port
            self.write_config([self.block("a.example", mode="enforce"),
                               self.block("b.example"),
                               self.block("c.example")],
                              name="replica%d.conf" % n, state=st)
        for d in daemons:
            d.reload()
        ids = {self.policy_id("a.example", port) for port in ports}
        self.assertEqual(len(ids), 1, ids)

    def test_read_only_commands_write_nothing(self):
        empty = os.path.join(self.dir, "empty-state")
        os.mkdir(empty)
        if ROOT:
            shutil.chown(empty, "nobody", "nogroup")
        path = self.write_config(state=empty)
        for args in (["txt", "-c", path], ["txt", "-c", path, "--json"],
                     ["check-config", "-c", path],
                     ["check-config", "-c", path, "-v"]):
            r = run([MTASTSD] + args, timeout=60)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            self.assertEqual(os.listdir(empty), [], args)
        # Only the daemon records.
        d = self.start(path)
        # The daemon's own files: ids, what it serves, the lock it
        # holds while it runs (mta-stsd txt reads it) and its status
        # (mta-stsd status reads it).
        self.assertEqual(sorted(os.listdir(empty)),
                         ["ids", "running", "served", "status.json"])
        d.stop()

    # -- check-config reads as the service user ------------------------------

    @unittest.skipUnless(ROOT, "needs root: check-config then reads as the "
                         "service user")
    def test_check_config_reads_includes_as_the_service_user(self):
        inc = self.write("customer.conf", self.block("a.example") + "\n")
        text = config_text(self.port, [], self.state).replace(
            "domains = (\n\n);", 'domains = (\n@include "customer.conf"\n);')
        path = self.write("inc.conf", text)
        os.chmod(inc, 0o600)
        r = self.check_config(config=path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(inc, r.stderr)
        self.assertIn("Permission denied", r.stderr)
        self.assertIn("owned by root:root with mode 0600", r.stderr)
        self.assertIn("user nobody", r.stderr)
        # The daemon refuses at start, not at the first reload.
        r = run([MTASTSD, "-c", path], timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("owned by root:root with mode 0600", r.stderr)
        os.chmod(inc, 0o644)
        r = self.check_config(config=path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    @unittest.skipUnless(ROOT, "needs root: check-config then reads as the "
                         "service user")
    def test_config_file_errors_follow_errno(self):
        path = self.write_config()
        os.chmod(path, 0o600)
        r = self.check_config()
        # Root reads the file to learn the user, then reads it as nobody.
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot open: Permission denied — it is owned by "
                      "root:root with mode 0600", r.stderr)
        self.assertNotIn("create it", r.stderr)
        r = run([MTASTSD, "check-config", "-c", os.path.join(self.dir,
                                                             "none.conf")])
        self.assertIn("cannot open: No such file or directory — create it",
                      r.stderr)
        r = run([MTASTSD, "check-config", "-c", self.dir])
        self.assertIn("cannot open: Is a directory — it is a directory",
                      r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
