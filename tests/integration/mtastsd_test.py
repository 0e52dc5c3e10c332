# SPDX-License-Identifier: MIT
"""Shared helpers for the integration tests.

Each test starts the real mta-stsd on 127.0.0.1 with an ephemeral port,
certificates from a CA made by the test (tests/tools/mkcerts), and talks to
it with real clients. Every process a test starts is stopped by its PID when
the test ends, also on failure, and every wait is bounded.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BUILD_ROOT = os.environ.get("MTASTSD_BUILD_ROOT", "build")
SOURCE_ROOT = os.environ.get("MTASTSD_SOURCE_ROOT", ".")
MTASTSD = os.environ.get("MTASTSD_BIN",
                         os.path.join(BUILD_ROOT, "src", "mta-stsd"))
MKCERTS = os.environ.get("MTASTSD_MKCERTS",
                         os.path.join(BUILD_ROOT, "tests", "mkcerts"))
NO_SKIP = os.environ.get("MTASTSD_NO_SKIP") == "1"
SKIP = 77
# Optional: a command every Daemon is started under, e.g.
# "valgrind --error-exitcode=99 --leak-check=full" (scripts/run-valgrind.sh).
TEST_WRAPPER = shlex.split(os.environ.get("MTASTSD_TEST_WRAPPER", ""))
VALGRIND = bool(TEST_WRAPPER) and \
    os.path.basename(TEST_WRAPPER[0]) == "valgrind"
# What a sanitizer prints when it finds something (ASan, UBSan, LSan).
SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak)Sanitizer|"
                              r"runtime error: |SUMMARY: UndefinedBehavior")


def require_tools(*tools):
    """Exit 77 (skip) when a tool is missing, or fail when skips are off."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        print("missing tools: " + " ".join(missing), file=sys.stderr)
        sys.exit(1 if NO_SKIP else SKIP)


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def run(args, timeout=30, check=False, input=None, env=None, cwd=None):
    """Runs a client to completion within timeout; returns CompletedProcess
    with stdout and stderr as text, line ends kept exactly (CRLF matters)."""
    r = subprocess.run(args, capture_output=True, timeout=timeout,
                       check=check, env=env, cwd=cwd,
                       input=input.encode() if input is not None else None)
    r.stdout = r.stdout.decode("utf-8", "replace")
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


class CA:
    """A test CA and leaf certificates, made by tests/tools/mkcerts."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        run([MKCERTS, "ca", directory], check=True)
        self.cert = os.path.join(directory, "ca.pem")

    def leaf(self, name, *extra, sans=()):
        cert = os.path.join(self.dir, name + ".pem")
        key = os.path.join(self.dir, name + ".key")
        args = [MKCERTS, "leaf", self.dir, name]
        for san in sans:
            args += ["--san", san]
        args += ["--out-cert", cert, "--out-key", key] + list(extra)
        run(args, check=True)
        return cert, key


def domain_block(name, mx, cert, key, mode="enforce", max_age=1209600,
                 extra=""):
    mx_list = ", ".join('"%s"' % m for m in mx)
    return ('{ name = "%s"; mode = "%s"; max_age = %d; mx = [ %s ];\n'
            '  cert = "%s"; key = "%s"; %s }' %
            (name, mode, max_age, mx_list, cert, key, extra))


def config_text(port, domains, state_dir, extra="", host="127.0.0.1"):
    listen = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    return ('listen = [ "%s" ];\nstate_directory = "%s";\n'
            'user = "nobody";\ngroup = "nogroup";\n%s\n'
            'domains = (\n%s\n);\n' %
            (listen, state_dir, extra, ",\n".join(domains)))


class NotifySocket:
    """A stand-in for systemd's notification socket (sd_notify)."""

    def __init__(self, directory):
        # One per daemon: a test may start several in one directory.
        n = 0
        while os.path.exists(os.path.join(directory, "notify%s.sock" % (
                n or ""))):
            n += 1
        self.path = os.path.join(directory, "notify%s.sock" % (n or ""))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        # Like systemd's: the service may have dropped to another user.
        os.chmod(self.path, 0o777)
        self.messages = []

    def wait_for(self, text, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.messages:
                if text in m:
                    self.messages.remove(m)
                    return m
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        raise AssertionError("no %r from sd_notify within %ss (got %r)" %
                             (text, timeout, self.messages))

    def close(self):
        self.sock.close()


class Daemon:
    """The real mta-stsd, started on a config file, stopped by PID."""

    def __init__(self, workdir, config_path, args=(), env=None, wrapper=(),
                 pass_fds=()):
        self.workdir = workdir
        self.config = config_path
        self.notify = NotifySocket(workdir)
        self.log_path = os.path.join(workdir, "daemon.log")
        self.log = open(self.log_path, "w+")
        self.stopped = False
        e = dict(os.environ)
        e["NOTIFY_SOCKET"] = self.notify.path
        e.pop("JOURNAL_STREAM", None)
        if env:
            e.update(env)
        under = list(TEST_WRAPPER)
        self.valgrind_log = None
        if VALGRIND:
            fd, self.valgrind_log = tempfile.mkstemp(
                prefix="valgrind-", suffix=".log", dir=workdir)
            os.close(fd)
            # A wrapper may start it as the service user already.
            os.chmod(self.valgrind_log, 0o666)
            under.append("--log-file=" + self.valgrind_log)
        self.proc = subprocess.Popen(
            list(wrapper) + under + [MTASTSD, "-c", config_path] +
            list(args),
            stdout=self.log, stderr=subprocess.STDOUT, env=e,
            pass_fds=pass_fds)
        self.pid = self.proc.pid

    def wait_ready(self, timeout=20):
        if VALGRIND:
            timeout *= 3
        try:
            self.notify.wait_for("READY=1", timeout)
        except AssertionError:
            raise AssertionError("daemon not ready; log:\n" + self.output())

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def signal(self, signo):
        os.kill(self.pid, signo)

    def reload(self, timeout=20):
        """SIGHUP, then wait for the reload to finish (READY=1 again)."""
        if VALGRIND:
            timeout *= 3
        self.signal(signal.SIGHUP)
        self.notify.wait_for("RELOADING=1", timeout)
        self.notify.wait_for("READY=1", timeout)

    def stop(self, timeout=15):
        """SIGTERM; SIGKILL if it does not exit in time. Returns the code.
        Fails when a sanitizer or valgrind found something in the run."""
        if self.stopped:
            return self.proc.returncode
        if VALGRIND:
            timeout *= 4
        hung = False
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                hung = True
        self.notify.close()
        self.stopped = True
        output = self.output()
        self.log.close()
        report = SANITIZER_REPORT.search(output)
        if report:
            raise AssertionError("sanitizer report in the daemon log:\n" +
                                 output[max(0, report.start() - 2000):])
        if self.valgrind_log and hung:
            raise AssertionError("valgrind: the daemon did not stop on "
                                 "SIGTERM within %ss" % timeout)
        # A daemon the test killed on purpose (kill -9) has no summary.
        if self.valgrind_log and self.proc.returncode != -signal.SIGKILL:
            check_valgrind_log(self.valgrind_log)
        return self.proc.returncode


def check_valgrind_log(path):
    """Fails unless memcheck saw 0 errors and no definitely lost bytes."""
    with open(path) as f:
        text = f.read()
    errors = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
    if not errors or errors.group(1) != "0" or \
            (lost and lost.group(1) != "0"):
        raise AssertionError("valgrind: %s\n%s" % (path, text[-6000:]))


class Prober:
    """The normal client: curl from 127.0.0.1 fetching host's policy every
    interval seconds, at most limit times, until stopped. Every failure is
    kept with its time, curl's exit code and message. Use it as a context
    manager around an attack or a fault."""

    def __init__(self, world, port, host="mta-sts.example.com",
                 interval=0.2, limit=1000):
        self.world = world
        self.port = port
        self.host = host
        self.interval = interval
        self.limit = limit
        self.count = 0
        self.failures = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.t0 = time.monotonic()

    def loop(self):
        for _ in range(self.limit):
            if self.done.is_set():
                break
            start = time.monotonic()
            r = self.world.curl(self.host, self.port,
                                "/.well-known/mta-sts.txt", "-f")
            self.count += 1
            if r.returncode != 0 or "version: STSv1" not in r.stdout:
                self.failures.append("%.1fs: curl exit %d: %s" % (
                    time.monotonic() - self.t0, r.returncode,
                    r.stderr.strip()))
            self.done.wait(max(0.0, self.interval -
                               (time.monotonic() - start)))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the prober did not stop"
        return False


class World(unittest.TestCase):
    """Base class: a temporary directory, a CA and cleanup of processes."""

    def setUp(self):
        self.daemons = []
        self.procs = []
        self.dir = tempfile.mkdtemp(prefix="mta-stsd-it-")
        # A cleanup, not tearDown: it also runs when a setUp fails after
        # starting a daemon, so no process outlives its test.
        self.addCleanup(self.release)
        # The daemon drops to nobody when run as root: let it in.
        os.chmod(self.dir, 0o755)
        self.state = os.path.join(self.dir, "state")
        os.mkdir(self.state)
        if os.geteuid() == 0:
            shutil.chown(self.state, "nobody", "nogroup")
        self.ca = CA(os.path.join(self.dir, "ca"))
        os.chmod(self.ca.dir, 0o755)

    def release(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        # Every daemon is stopped and the directory removed even when a
        # stop reports a sanitizer or valgrind finding; then it fails.
        failures = []
        for d in self.daemons:
            try:
                d.stop()
            except AssertionError as e:
                failures.append(str(e))
        shutil.rmtree(self.dir, ignore_errors=True)
        if failures:
            raise AssertionError("\n".join(failures))

    def leaf(self, host, *extra, sans=()):
        cert, key = self.ca.leaf(host, *extra, sans=sans)
        os.chmod(key, 0o644)
        return cert, key

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)
        return path

    def start(self, config_path, ready=True, **kw):
        d = Daemon(self.dir, config_path, **kw)
        self.daemons.append(d)
        if ready:
            d.wait_ready()
        return d

    def curl(self, host, port, path="/.well-known/mta-sts.txt", *extra,
             connect="127.0.0.1"):
        """curl with --resolve and the test CA; returns CompletedProcess."""
        url = "https://%s:%d%s" % (host, port, path)
        return run(["curl", "-sS", "--max-time", "10", "--cacert",
                    self.ca.cert, "--resolve",
                    "%s:%d:%s" % (host, port, connect)] + list(extra) + [url])


class ClientWorld(World):
    """A World with one policy host, HOST, and raw client connections that
    tearDown closes: for tests that speak TLS and HTTP byte by byte."""

    HOST = "mta-sts.example.com"

    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.cert = self.leaf(self.HOST)
        self.sockets = []
        self.tls = ssl.create_default_context(cafile=self.ca.cert)

    def tearDown(self):
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        super().tearDown()

    def tcp(self, source, timeout=10):
        """A TCP connection from source, kept for tearDown to close."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sockets.append(s)
        s.bind((source, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", self.port))
        return s

    def tls_connect(self, source, timeout=10, host=None):
        """A completed TLS handshake with SNI host (HOST), from source."""
        s = self.tls.wrap_socket(self.tcp(source, timeout),
                                 server_hostname=host or self.HOST)
        self.sockets.append(s)
        return s
