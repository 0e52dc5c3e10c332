#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The guides' commands, run: the shipped example configuration passes
check-config with no finding but the missing certificate files; the
certbot deploy hook of docs/DEPLOYMENT.md copies policy-host and wildcard
lineages and never globs a wildcard name, with stand-ins and with real
certbot against pebble on loopback; the upgrade sequence of
docs/DEPLOYMENT.md, run after its install sequence, replaces the installed
files instead of installing a second copy. Commands that would touch the
machine (git, apt-get, systemctl, the installed mta-stsd) are stand-ins
that record their arguments; meson and ninja are real."""

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mtastsd_test import (MTASTSD, NO_SKIP, SOURCE_ROOT, World,  # noqa: E402
                          config_text, domain_block, free_port, run)

DEPLOYMENT = os.path.join(SOURCE_ROOT, "docs", "DEPLOYMENT.md")
EXAMPLE = os.path.join(SOURCE_ROOT, "conf", "mta-stsd.conf")


def wait_for_port(port, timeout=20):
    """Waits until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("nothing listens on port %d" % port)


def code_blocks(path):
    """The ```sh blocks of a Markdown file, in order."""
    with open(path) as f:
        text = f.read()
    return re.findall(r"```sh\n(.*?)```", text, re.S)


def block_with(path, needle):
    for b in code_blocks(path):
        if needle in b:
            return b
    raise AssertionError("no ```sh block with %r in %s" % (needle, path))


def write_exe(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def as_unprivileged():
    """check-config as root checks as the configured user, which need not
    exist here; as an ordinary user it checks as that user."""
    return ["setpriv", "--reuid=nobody", "--regid=nogroup",
            "--clear-groups"] if os.geteuid() == 0 else []


class Guides(World):
    def test_example_configuration_passes_check_config(self):
        # Only the certificate and key files of the example are missing;
        # no other error and no warning (no shallow wildcard, no mx-less
        # policy), and the comments say what the loader enforces.
        conf = self.write("mta-stsd.conf", open(EXAMPLE).read())
        r = run(as_unprivileged() + [MTASTSD, "check-config", "-c", conf])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("configuration invalid: 10 error(s), 0 warning(s)",
                      r.stdout + r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        # Each domain whose files are missing is "not served", and with
        # none left the start is refused; nothing else is said.
        missing = [l for l in lines if ": error: cannot read " in l]
        others = [l for l in lines if l not in missing]
        self.assertEqual(len(missing), 6, r.stderr)
        self.assertEqual(len(others), 4, r.stderr)
        for line in others:
            self.assertRegex(line, r"not served \(certificate unreadable\)|"
                             r"no domain can be served")
        for line in missing:
            self.assertRegex(line, r": error: cannot read (certificate|key) "
                             r"/etc/mta-stsd/(certs|keys)/\S+: No such file "
                             r"or directory — check the path$")
        text = open(EXAMPLE).read()
        self.assertNotIn("Required unless mode", text)
        self.assertIn("Required in every mode", text)

    def hook_world(self):
        """The deploy hook with /etc/mta-stsd moved into the test
        directory, and stand-ins for mta-stsd and systemctl."""
        etc = os.path.join(self.dir, "etc")
        for d in ("certs", "keys"):
            os.makedirs(os.path.join(etc, d))
        group = "nogroup" if os.geteuid() == 0 else str(os.getegid())
        owner = "root" if os.geteuid() == 0 else str(os.geteuid())
        hook = block_with(DEPLOYMENT, "RENEWED_LINEAGE (the directory")
        hook = hook.replace("/etc/mta-stsd", etc)
        hook = hook.replace("-g mta-stsd", "-g " + group)
        hook = hook.replace("-o root", "-o " + owner)
        path = os.path.join(self.dir, "hook")
        write_exe(path, hook)
        bin_dir = os.path.join(self.dir, "bin")
        os.makedirs(bin_dir)
        log = os.path.join(self.dir, "calls")
        for tool in ("mta-stsd", "systemctl"):
            write_exe(os.path.join(bin_dir, tool), "#!/bin/sh\n"
                      "echo %s \"$@\" >> %s\n" % (tool, log))
        env = dict(os.environ, PATH=bin_dir + ":" + os.environ["PATH"])
        return path, etc, env, log

    def lineage(self, name):
        d = os.path.join(self.dir, "live", name)
        os.makedirs(d)
        for f in ("fullchain.pem", "privkey.pem"):
            with open(os.path.join(d, f), "w") as out:
                out.write("%s of %s\n" % (f, name))
        return d

    def test_certbot_hook_copies_policy_hosts_and_wildcards(self):
        hook, etc, env, log = self.hook_world()
        # A file the unquoted *.example.com used to expand to.
        cwd = os.path.join(self.dir, "cwd")
        os.makedirs(cwd)
        open(os.path.join(cwd, "x.example.com"), "w").close()
        cases = [
            ("mta-sts.example.com mta-sts.example.net",
             ["example.com", "example.net"]),
            ("*.example.org example.org", ["example.org"]),
            ("www.example.info", []),
        ]
        for domains, want in cases:
            lineage = self.lineage(domains.split()[0].replace("*", "star"))
            r = subprocess.run([hook], cwd=cwd, capture_output=True,
                               text=True, timeout=60, env=dict(
                                   env, RENEWED_LINEAGE=lineage,
                                   RENEWED_DOMAINS=domains))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "")
            for domain in want:
                cert = os.path.join(etc, "certs", domain + ".pem")
                key = os.path.join(etc, "keys", domain + ".key")
                self.assertEqual(open(cert).read(), "fullchain.pem of %s\n"
                                 % domains.split()[0].replace("*", "star"))
                self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o640)
        self.assertEqual(sorted(os.listdir(os.path.join(etc, "certs"))),
                         ["example.com.pem", "example.net.pem",
                          "example.org.pem"])
        calls = open(log).read().splitlines()
        # One check-config per lineage that holds a policy host, for its
        # domains only (a broken lineage must not block another's reload).
        self.assertEqual(len([c for c in calls
                              if c.startswith("mta-stsd check-config -q ")]),
                         2, calls)

    def test_certbot_hook_with_pebble(self):
        # Real certbot against Debian's pebble on loopback, pebble's
        # challenge server as the DNS: an HTTP-01 certificate for
        # mta-sts.example.com and a DNS-01 wildcard lineage for
        # *.example.org, then a forced renewal that runs the hook from
        # renewal-hooks/deploy as DEPLOYMENT.md installs it. The copies
        # must load: the real check-config runs on them.
        for tool in ("certbot", "pebble", "pebble-challtestsrv", "curl"):
            if not shutil.which(tool):
                if NO_SKIP:
                    raise AssertionError(tool + " is not installed")
                raise unittest.SkipTest(tool + " is not installed")
        hook, etc, env, log = self.hook_world()
        acme, mgmt, http01 = free_port(), free_port(), free_port()
        dns, dns_mgmt = free_port(), free_port()
        cert, key = self.leaf("127.0.0.1")
        pebble_conf = self.write("pebble.json", json.dumps({"pebble": {
            "listenAddress": "127.0.0.1:%d" % acme,
            "managementListenAddress": "127.0.0.1:%d" % mgmt,
            "certificate": cert, "privateKey": key, "httpPort": http01,
            "tlsPort": free_port(), "ocspResponderURL": "",
            "externalAccountBindingRequired": False}}))
        self.background(["pebble-challtestsrv", "-dns01",
                         "127.0.0.1:%d" % dns, "-management",
                         "127.0.0.1:%d" % dns_mgmt, "-http01", "",
                         "-https01", "", "-tlsalpn01", "", "-defaultIPv6",
                         "", "-defaultIPv4", "127.0.0.1"], "challtestsrv")
        self.background(["pebble", "-config", pebble_conf, "-dnsserver",
                         "127.0.0.1:%d" % dns], "pebble",
                        env=dict(os.environ, PEBBLE_VA_NOSLEEP="1"))
        wait_for_port(acme)
        wait_for_port(dns_mgmt)

        # The copies are what this configuration loads; mta-stsd in the
        # hook is the real one, on it.
        conf = self.write("mta-stsd.conf", config_text(free_port(), [
            domain_block(d, ["mx." + d], os.path.join(etc, "certs/%d.pem"),
                         os.path.join(etc, "keys/%d.key"))
            for d in ("example.com", "example.org")], self.state))
        bin_dir = os.path.dirname(shutil.which("mta-stsd", path=env["PATH"]))
        write_exe(os.path.join(bin_dir, "mta-stsd"), "#!/bin/sh\n"
                  "echo mta-stsd \"$@\" >> %s\nexec %s \"$@\" -c %s\n"
                  % (log, MTASTSD, conf))
        auth = os.path.join(self.dir, "dns-auth")
        write_exe(auth, "#!/bin/sh\ncurl -sS -d \"{\\\"host\\\":\\\""
                  "_acme-challenge.$CERTBOT_DOMAIN.\\\",\\\"value\\\":"
                  "\\\"$CERTBOT_VALIDATION\\\"}\" http://127.0.0.1:%d/"
                  "set-txt\n" % dns_mgmt)
        cfg = os.path.join(self.dir, "letsencrypt")
        common = ["--server", "https://127.0.0.1:%d/dir" % acme,
                  "--no-verify-ssl", "--config-dir", cfg, "--work-dir",
                  os.path.join(self.dir, "work"), "--logs-dir",
                  os.path.join(self.dir, "logs"), "--non-interactive"]
        register = ["--agree-tos", "--register-unsafely-without-email"]

        def certbot(*args):
            r = subprocess.run(["certbot"] + list(args) + common, env=env,
                               capture_output=True, text=True, timeout=300,
                               cwd=self.dir)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            return r

        # Issuance, the hook given as --deploy-hook for the first copy.
        certbot("certonly", "--standalone", "--http-01-address",
                "127.0.0.1", "--http-01-port", str(http01), "-d",
                "mta-sts.example.com", "--deploy-hook", hook, *register)
        # A wildcard lineage; "*.example.org" would glob to this file.
        open(os.path.join(self.dir, "x.example.org"), "w").close()
        certbot("certonly", "--manual", "--preferred-challenges", "dns",
                "--manual-auth-hook", auth, "-d", "*.example.org", "-d",
                "example.org", "--deploy-hook", hook, *register)
        for domain, lineage in (("example.com", "mta-sts.example.com"),
                                ("example.org", "example.org")):
            with open(os.path.join(cfg, "live", lineage,
                                   "fullchain.pem")) as f:
                self.assertEqual(open(os.path.join(
                    etc, "certs", domain + ".pem")).read(), f.read())
        calls = open(log).read().splitlines()
        self.assertTrue(any(c.startswith("mta-stsd check-config")
                            for c in calls), calls)

        # Renewal runs the hook where DEPLOYMENT.md puts it.
        hooks = os.path.join(cfg, "renewal-hooks", "deploy")
        os.makedirs(hooks, exist_ok=True)
        shutil.copy(hook, os.path.join(hooks, "mta-stsd"))
        before = open(os.path.join(etc, "certs", "example.org.pem")).read()
        certbot("renew", "--force-renewal", "--no-random-sleep-on-renew")
        after = open(os.path.join(etc, "certs", "example.org.pem")).read()
        self.assertNotEqual(before, after)
        with open(os.path.join(cfg, "live", "example.org",
                               "fullchain.pem")) as f:
            self.assertEqual(after, f.read())
        r = run(as_unprivileged() + [MTASTSD, "check-config", "-c", conf])
        self.assertEqual(r.returncode, 0, r.stderr)

    def background(self, argv, name, env=None):
        """A server for this test, stopped by PID at cleanup."""
        out = open(os.path.join(self.dir, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                             env=env)
        self.procs.append(p)
        self.addCleanup(out.close)
        return p

    def test_upgrade_replaces_the_installed_copy(self):
        # The install sequence, then the upgrade sequence, into a DESTDIR:
        # the upgrade must rebuild in the same directory with the same
        # prefix, so the installed files are replaced and nothing lands in
        # /usr/local. The release build is real (tests and man pages off
        # to keep it short).
        for tool in ("meson", "ninja", "git"):
            if not shutil.which(tool):
                if NO_SKIP:
                    raise AssertionError(tool + " is not installed")
                raise unittest.SkipTest(tool + " is not installed")
        install = block_with(DEPLOYMENT, "meson setup build-release")
        upgrade = block_with(DEPLOYMENT, "ninja -C build-release\nmeson "
                             "install -C build-release\nsystemctl")
        src = os.path.join(self.dir, "src")
        dest = os.path.join(self.dir, "dest")
        bin_dir = os.path.join(self.dir, "bin")
        os.makedirs(bin_dir)
        log = os.path.join(self.dir, "calls")
        real_meson = shutil.which("meson")
        # git clone copies this tree; git pull changes one source file.
        write_exe(os.path.join(bin_dir, "git"), """#!/bin/sh
echo git "$@" >> {log}
case "$1" in
clone) mkdir -p "$3" && {git} -C {root} ls-files -z | (cd {root} && \
xargs -0 cp --parents -t "$3") ;;
pull) echo '/* upgraded */' >> src/cli/main.c ;;
esac
""".format(log=log, root=SOURCE_ROOT, git=shutil.which("git")))
        write_exe(os.path.join(bin_dir, "meson"), """#!/bin/sh
echo meson "$@" >> {log}
case "$1" in
setup) exec {meson} "$@" -Dtests=disabled -Dman-pages=disabled ;;
install) exec {meson} "$@" --destdir {dest} ;;
*) exec {meson} "$@" ;;
esac
""".format(log=log, meson=real_meson, dest=dest))
        for tool in ("apt-get", "systemctl", "systemd-sysusers",
                     "systemd-tmpfiles", "mta-stsd"):
            write_exe(os.path.join(bin_dir, tool), "#!/bin/sh\n"
                      "echo %s \"$@\" >> %s\n" % (tool, log))
        env = dict(os.environ, PATH=bin_dir + ":" + os.environ["PATH"])

        def sh(block):
            script = block.replace("/usr/local/src/mta-stsd", src)
            script = script.replace("<this repository>", "origin")
            # install-deps.sh needs root and apt; the stand-in records it.
            script = script.replace("sh scripts/install-deps.sh",
                                    "apt-get install-deps")
            r = subprocess.run(["sh", "-eu", "-c", script], env=env,
                               capture_output=True, text=True, timeout=900)
            self.assertEqual(r.returncode, 0, "%s\n%s%s" % (script, r.stdout,
                                                             r.stderr))

        sh(install)
        binary = os.path.join(dest, "usr", "sbin", "mta-stsd")
        self.assertTrue(os.path.exists(binary), os.listdir(dest))
        first = os.stat(binary).st_mtime_ns
        sh(upgrade)
        self.assertGreater(os.stat(binary).st_mtime_ns, first)
        self.assertFalse(os.path.exists(os.path.join(dest, "usr", "local")),
                         "the upgrade installed a second copy")
        calls = open(log).read()
        self.assertIn("systemctl daemon-reload\nmta-stsd check-config\n"
                      "systemctl restart mta-stsd\n", calls)
        # One build directory for both.
        builds = set(re.findall(r"-C (\S+)", install + upgrade))
        self.assertEqual(builds, {"build-release"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
