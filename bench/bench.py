#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mta-stsd against nginx, on one machine, in one run (issue 6).

Run through bench/run.sh, which builds what is needed. Talks to 127.0.0.1
only, bounds every loop and every wait, and stops every process it starts
by its PID (also on an error or a signal). See docs/PERFORMANCE.md.
"""

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SERVER_CPU = "0"        # the server under test runs on this core
CLIENT_CPU = "1"        # the load generators on this one
PATTERN = "mta-sts.d%u.test"
POLICY_PATH = "/.well-known/mta-sts.txt"
TICK = os.sysconf("SC_CLK_TCK")

STARTED = []            # every Popen we made, stopped at exit


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def stop_all():
    for p in STARTED:
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            except ProcessLookupError:
                pass
    STARTED.clear()


def on_signal(signo, frame):
    stop_all()
    sys.exit(128 + signo)


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    STARTED.append(p)
    return p


def reap(p):
    if p in STARTED:
        STARTED.remove(p)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replace_file(path, text):
    """Writes path whole, by a rename, as a configuration tool would."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def pin(cpu):
    return ["taskset", "-c", cpu] if shutil.which("taskset") and \
        os.cpu_count() and os.cpu_count() > 1 else []


# ---------------------------------------------------------------------
# /proc: CPU time and memory of a server's processes
# ---------------------------------------------------------------------

def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(d))
        except OSError:
            pass
    return out


def all_pids(pid):
    return [pid] + children(pid)


def cpu_seconds(pids):
    """utime + stime of pids (each a whole thread group), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICK


def pss_mib(pids, field="Pss:"):
    """Pss (default) or another smaps_rollup field of pids, in MiB."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith(field):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total / 1024


class Sampler:
    """Samples the PSS of a server's processes every 100 ms."""

    def __init__(self, server):
        self.server = server
        self.peak = 0.0
        self.running = False

    def __enter__(self):
        self.running = True
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()
        return self

    def loop(self):
        while self.running:
            self.peak = max(self.peak, pss_mib(self.server.pids()))
            time.sleep(0.1)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join(2)
        self.peak = max(self.peak, pss_mib(self.server.pids()))
        self.server.peak_pss = max(self.server.peak_pss, self.peak)


# ---------------------------------------------------------------------
# The world: CA, certificates, policies
# ---------------------------------------------------------------------

def policy_body(label):
    """The policy of domain label.test, as mta-stsd serves it."""
    return ("version: STSv1\r\nmode: enforce\r\nmx: mail.%s.test\r\n"
            "max_age: 604800\r\n" % label)


def write_policy(www, label):
    """The file nginx and Caddy serve for label.test: www/label/..."""
    d = os.path.join(www, label, ".well-known")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "mta-sts.txt"), "w", newline="") as f:
        f.write(policy_body(label))


class World:
    def __init__(self, root, n, mkcerts):
        self.root = root
        self.n = n
        self.certs = os.path.join(root, "certs")
        os.makedirs(self.certs, exist_ok=True)
        t = time.monotonic()
        subprocess.run([mkcerts, "many", self.certs, str(n), PATTERN],
                       check=True, timeout=600, stdout=subprocess.DEVNULL)
        log("%d certificates made in %.1f s" % (n, time.monotonic() - t))
        for name in os.listdir(self.certs):
            os.chmod(os.path.join(self.certs, name), 0o644)
        os.chmod(root, 0o755)
        os.chmod(self.certs, 0o755)
        self.ca = os.path.join(self.certs, "ca.pem")
        self.www = os.path.join(root, "www")
        for i in range(1, n + 1):
            write_policy(self.www, "d%d" % i)

    def cert(self, i):
        host = PATTERN.replace("%u", str(i))
        return (os.path.join(self.certs, host + ".pem"),
                os.path.join(self.certs, host + ".key"))


# ---------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------

class Server:
    name = "?"
    stop_signal = signal.SIGQUIT    # nginx: graceful; Caddy: at once

    def __init__(self, world, workdir):
        self.world = world
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        os.chmod(workdir, 0o755)
        self.port = free_port()
        self.proc = None
        self.peak_pss = 0.0

    def pids(self):
        return all_pids(self.proc.pid) if self.proc else []

    def settle(self, timeout):
        """Waits until what the last reload replaced is gone."""

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        reap(self.proc)
        self.proc = None


class MtaStsd(Server):
    name = "mta-stsd"
    stop_signal = signal.SIGTERM

    def __init__(self, world, workdir, binary, threads, metrics=False):
        super().__init__(world, workdir)
        self.binary = binary
        state = os.path.join(workdir, "state")
        os.makedirs(state, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(state, "nobody", "nogroup")
        doms = []
        for i in range(1, world.n + 1):
            cert, key = world.cert(i)
            doms.append('{ name = "d%d.test"; mode = "enforce"; '
                        'max_age = 604800; mx = [ "mail.d%d.test" ]; '
                        'cert = "%s"; key = "%s"; }' % (i, i, cert, key))
        self.config = os.path.join(workdir, "mta-stsd.conf")
        with open(self.config, "w") as f:
            f.write('listen = [ "127.0.0.1:%d" ];\nstate_directory = "%s";\n'
                    'user = "nobody";\ngroup = "nogroup";\n%s'
                    'domains = (\n%s\n);\n' %
                    (self.port, state,
                     ("threads = %d;\n" % threads if threads else "") +
                     ('metrics_listen = "127.0.0.1:%d";\n' % free_port()
                      if metrics else ""),
                     ",\n".join(doms)))
        self.notify = None

    def check_args(self):
        return [self.binary, "check-config", "-q", "-c", self.config]

    def start(self):
        path = os.path.join(self.dir, "notify.sock")
        if os.path.exists(path):
            os.unlink(path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(path)
        os.chmod(path, 0o777)
        env = dict(os.environ, NOTIFY_SOCKET=path)
        env.pop("LISTEN_FDS", None)
        self.log = open(os.path.join(self.dir, "daemon.log"), "ab")
        t0 = time.time_ns()
        self.proc = spawn(pin(SERVER_CPU) + [self.binary, "-c", self.config],
                          stdout=self.log, stderr=subprocess.STDOUT, env=env)
        return t0

    def wait_notify(self, text, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.notify.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if text in self.notify.recv(4096).decode():
                    return time.monotonic()
            except socket.timeout:
                pass
            if self.proc.poll() is not None:
                break
        raise RuntimeError("mta-stsd: no %r within %ss" % (text, timeout))

    def drain_notify(self):
        self.notify.setblocking(False)
        try:
            while True:
                self.notify.recv(4096)
        except (BlockingIOError, OSError):
            pass

    def reload(self, timeout):
        """HUP; the time until READY=1 again, in seconds."""
        self.drain_notify()
        t = time.monotonic()
        self.proc.send_signal(signal.SIGHUP)
        self.wait_notify("RELOADING=1", timeout)
        return self.wait_notify("READY=1", timeout) - t

    def stop(self):
        super().stop()
        if self.notify:
            self.notify.close()
            self.notify = None
        self.counts = None
        try:
            with open(os.path.join(self.dir, "daemon.log")) as f:
                m = None
                for m in re.finditer(
                        r"tls: (\d+) full handshakes, (\d+) resumed, "
                        r"(\d+) with a HelloRetryRequest", f.read()):
                    pass
            if m:
                self.counts = tuple(int(g) for g in m.groups())
        except OSError:
            pass


class Nginx(Server):
    name = "nginx"

    def __init__(self, world, workdir):
        super().__init__(world, workdir)
        w = workdir
        for sub in ("tmp", "logs"):
            os.makedirs(os.path.join(w, sub), exist_ok=True)
        user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
        self.config = os.path.join(w, "nginx.conf")
        self.head = (
            "%sworker_processes auto;\npid %s/nginx.pid;\n"
            "error_log %s/logs/error.log warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n  default_type text/plain;\n"
            "  log_format bench '$ssl_server_name $ssl_session_reused "
            "$status';\n"
            "  access_log %s/logs/access.log bench buffer=256k "
            "flush=1s;\n"
            "  client_body_temp_path %s/tmp/body;\n"
            "  proxy_temp_path %s/tmp/proxy;\n"
            "  fastcgi_temp_path %s/tmp/fastcgi;\n"
            "  uwsgi_temp_path %s/tmp/uwsgi;\n"
            "  scgi_temp_path %s/tmp/scgi;\n"
            "  keepalive_timeout 65s;\n  keepalive_requests 1000000;\n"
            "  server_tokens off;\n"
            "  server_names_hash_max_size 65536;\n"
            "  server_names_hash_bucket_size 128;\n"
            "  ssl_protocols TLSv1.2 TLSv1.3;\n"
            "  ssl_prefer_server_ciphers off;\n"
            "  ssl_session_cache shared:SSL:10m;\n"
            "  ssl_session_timeout 1d;\n"
            "  ssl_session_tickets on;\n"
            "  # unknown names get no certificate, like mta-stsd\n"
            "  server {\n    listen 127.0.0.1:%d ssl default_server;\n"
            "    server_name _;\n    ssl_reject_handshake on;\n  }\n" %
            ((user, w, w, w) + (w,) * 5 + (self.port,)))
        self.sites = []
        for i in range(1, world.n + 1):
            cert, key = world.cert(i)
            self.sites.append(self.site(PATTERN.replace("%u", str(i)), cert,
                                        key, os.path.join(world.www,
                                                          "d%d" % i)))
        self.write()

    def site(self, host, cert, key, root):
        return ("  server {\n    listen 127.0.0.1:%d ssl;\n"
                "    server_name %s;\n    ssl_certificate %s;\n"
                "    ssl_certificate_key %s;\n    root %s;\n"
                "    location = %s { }\n    location / { return 404; }\n"
                "  }\n" % (self.port, host, cert, key, root, POLICY_PATH))

    def write(self):
        replace_file(self.config, self.head + "".join(self.sites) + "}\n")

    def add_site(self, host, cert, key, root):
        """One more server block, as an admin adds a domain."""
        self.sites.append(self.site(host, cert, key, root))
        self.write()

    def check_args(self):
        return ["nginx", "-t", "-p", self.dir + "/", "-c", self.config]

    def start(self):
        self.log = open(os.path.join(self.dir, "logs", "stderr.log"), "ab")
        t0 = time.time_ns()
        self.proc = spawn(pin(SERVER_CPU) +
                          ["nginx", "-p", self.dir + "/", "-c", self.config,
                           "-g", "daemon off;"],
                          stdout=self.log, stderr=subprocess.STDOUT)
        return t0

    def workers(self):
        return set(children(self.proc.pid)) if self.proc else set()

    def reload(self, timeout):
        """HUP; the time until the new workers run, in seconds."""
        old = self.old = self.workers()
        t = time.monotonic()
        self.proc.send_signal(signal.SIGHUP)
        deadline = t + timeout
        while time.monotonic() < deadline:
            new = self.workers() - old
            if new:
                return time.monotonic() - t
            time.sleep(0.005)
        raise RuntimeError("nginx: no new workers within %ss" % timeout)

    def settle(self, timeout):
        """Waits until the workers the last reload replaced have exited."""
        deadline = time.monotonic() + timeout
        while self.workers() & getattr(self, "old", set()):
            if time.monotonic() > deadline:
                raise RuntimeError("nginx: old workers still run after %ss"
                                   % timeout)
            time.sleep(0.05)

    def access_counts(self):
        """(requests, resumed) from the access log, flushed by USR1."""
        path = os.path.join(self.dir, "logs", "access.log")
        self.proc.send_signal(signal.SIGUSR1)   # reopen: flushes buffers
        time.sleep(0.3)
        total = resumed = 0
        try:
            with open(path) as f:
                for line in f:
                    total += 1
                    if line.split()[1:2] == ["r"]:
                        resumed += 1
        except OSError:
            pass
        return total, resumed


class Caddy(Server):
    """Caddy 2 with one site per domain, in the JSON configuration a script
    writes for thousands of sites: Caddy 2.6's Caddyfile adapter needs
    about 90 s for 10,000 sites, its JSON loads in 2 s. The benchmark's
    own certificate files, no ACME (automatic HTTPS off), HTTP/1.1 and
    HTTP/2 only as nginx, and the admin API on a unix socket only, for
    `caddy reload`. Caddy cannot drop privileges itself: as root, every
    caddy command runs as nobody through setpriv."""
    name = "caddy"

    def __init__(self, world, workdir):
        super().__init__(world, workdir)
        # HOME and the XDG directories here, so nothing is written to
        # /root; Caddy keeps its storage and autosaved configuration there.
        home = os.path.join(workdir, "home")
        os.makedirs(home, exist_ok=True)
        self.env = dict(os.environ, HOME=home,
                        XDG_DATA_HOME=os.path.join(home, "data"),
                        XDG_CONFIG_HOME=os.path.join(home, "config"))
        self.user = []
        if os.geteuid() == 0:
            shutil.chown(home, "nobody", "nogroup")
            self.user = ["setpriv", "--reuid=nobody", "--regid=nogroup",
                         "--clear-groups"]
        self.routes, self.files = [], []
        for i in range(1, world.n + 1):
            cert, key = world.cert(i)
            self.site(PATTERN.replace("%u", str(i)), cert, key,
                      os.path.join(world.www, "d%d" % i))
        self.admin = os.path.join(home, "admin.sock")
        self.config = os.path.join(workdir, "caddy.json")
        self.write()

    def site(self, host, cert, key, root):
        self.routes.append({
            "match": [{"host": [host]}],
            "handle": [{"handler": "subroute", "routes": [
                {"match": [{"path": [POLICY_PATH]}],
                 "handle": [{"handler": "file_server", "root": root}]},
                {"handle": [{"handler": "static_response",
                             "status_code": 404}]}]}],
            "terminal": True})
        self.files.append({"certificate": cert, "key": key})

    def write(self):
        # One connection policy: the certificate is the one loaded for
        # the name the client sent (a policy per site, as the Caddyfile
        # makes, would be matched one by one on every handshake).
        replace_file(self.config, json.dumps({
            "admin": {"listen": "unix/" + self.admin},
            "storage": {"module": "file_system",
                        "root": os.path.join(self.env["HOME"], "data")},
            "apps": {
                "http": {"servers": {"mta-sts": {
                    "listen": ["127.0.0.1:%d" % self.port],
                    "protocols": ["h1", "h2"],
                    "automatic_https": {"disable": True},
                    "tls_connection_policies": [{}],
                    "routes": self.routes}}},
                "tls": {"certificates": {"load_files": self.files}}}}))

    def add_site(self, host, cert, key, root):
        """One more site, as an admin adds a domain."""
        self.site(host, cert, key, root)
        self.write()

    def caddy(self, *args):
        return self.user + ["caddy"] + list(args) + ["--config",
                                                     self.config]

    def check_args(self):
        return self.caddy("validate")

    def start(self):
        self.log = open(os.path.join(self.dir, "caddy.log"), "ab")
        t0 = time.time_ns()
        self.proc = spawn(pin(SERVER_CPU) + self.caddy("run"),
                          stdout=self.log, stderr=subprocess.STDOUT,
                          env=self.env)
        return t0

    def reload(self, timeout, force=True):
        """`caddy reload`: it returns once the new configuration serves;
        its wall time in seconds. Without --force Caddy loads nothing
        when the file is unchanged, renewed certificates included."""
        t = time.monotonic()
        r = subprocess.run(self.caddy("reload", *(["--force"] if force
                                                  else [])),
                           capture_output=True, text=True, env=self.env,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("caddy reload: " + r.stderr[-800:])
        return time.monotonic() - t


# ---------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------

def kv(line):
    return dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))


def mtsload(tool, server, mode, duration, threads=4, extra=(), n=None):
    args = pin(CLIENT_CPU) + [tool, "--mode", mode, "--port",
                              str(server.port), "--domains",
                              str(n or server.world.n), "--threads",
                              str(threads), "--duration", str(duration)]
    args += list(extra)
    r = subprocess.run(args, capture_output=True, text=True,
                       timeout=duration + 60)
    if r.returncode != 0:
        raise RuntimeError("mtsload %s: %s" % (mode, r.stderr.strip()))
    return kv(r.stdout)


def measure(server, fn):
    """Runs fn(); returns (its result, server CPU seconds used)."""
    pids = server.pids()
    before = cpu_seconds(pids)
    with Sampler(server):
        res = fn()
    return res, cpu_seconds(pids) - before


def h2load_counts(out):
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, "
                  r"(\d+) succeeded, (\d+) failed", out)
    s = re.search(r"status codes: (\d+) 2xx", out)
    if not m or not s:
        raise RuntimeError("h2load: " + out[-400:])
    ok = int(s.group(1))
    return ok, int(m.group(5)) + int(m.group(4)) - ok


def keepalive_h2load(server, duration, conns=4):
    host = PATTERN.replace("%u", "1")
    url = "https://%s:%d%s" % (host, server.port, POLICY_PATH)
    r = subprocess.run(pin(CLIENT_CPU) +
                       ["h2load", "--h1", "-c", str(conns), "-t", "1",
                        "-D", "%ds" % max(1, round(duration)), "--connect-to",
                        "127.0.0.1:%d" % server.port, url],
                       capture_output=True, text=True, timeout=duration + 60)
    ok, failed = h2load_counts(r.stdout + r.stderr)
    return {"ok": ok, "failed": failed, "rps": ok / duration}


def full_h2load(server, duration, batch=16):
    """Full handshakes the way OpenSSL senders make them: h2load with one
    request per connection (-c N -n N), in batches of `batch` connections
    (half mta-stsd's default per-address limit of 32, so that the
    connections of the last batch still closing do not hit it) until
    duration has passed. h2load neither resumes nor reuses a session."""
    host = PATTERN.replace("%u", "1")
    url = "https://%s:%d%s" % (host, server.port, POLICY_PATH)
    ok = failed = 0
    t0 = time.monotonic()
    for _ in range(1000000):
        if time.monotonic() - t0 >= duration:
            break
        r = subprocess.run(pin(CLIENT_CPU) +
                           ["h2load", "--h1", "-c", str(batch), "-n",
                            str(batch), "-t", "1", "--connect-to",
                            "127.0.0.1:%d" % server.port, url],
                           capture_output=True, text=True, timeout=60)
        o, f = h2load_counts(r.stdout + r.stderr)
        ok += o
        failed += f
    return {"ok": ok, "failed": failed,
            "rps": ok / (time.monotonic() - t0)}


def rate_openssl(server, rate, duration):
    """p50/p99 latency of a full handshake and fetch at a fixed rate, with
    Python's ssl (OpenSSL, as the MTA-STS resolvers of Postfix and others
    use it): each request is timed from the moment it was due, so a slow
    answer delays the next ones and counts (no coordinated omission)."""
    ctx = ssl.create_default_context(cafile=server.world.ca)
    host = PATTERN.replace("%u", "1")
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" %
           (POLICY_PATH, host)).encode()
    n = max(1, int(rate * duration))
    lat, failed = [], 0
    old = os.sched_getaffinity(0)
    if len(old) > 1:
        os.sched_setaffinity(0, {int(CLIENT_CPU)})
    try:
        start = time.monotonic() + 0.05
        for i in range(n):
            due = start + i / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                with socket.create_connection(("127.0.0.1", server.port),
                                              5) as raw:
                    # as http.client and aiohttp do
                    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    with ctx.wrap_socket(raw, server_hostname=host) as s:
                        s.sendall(req)
                        got = b""
                        for _ in range(100):
                            chunk = s.recv(4096)
                            if not chunk:
                                break
                            got += chunk
                if not got.startswith(b"HTTP/1.1 200"):
                    failed += 1
                    continue
                lat.append((time.monotonic() - due) * 1000)
            except (OSError, ssl.SSLError):
                failed += 1
    finally:
        os.sched_setaffinity(0, old)
    lat.sort()
    pick = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]) if lat \
        else (lambda q: float("nan"))
    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "failed": failed}


def first_response(tool, server, t0, timeout):
    r = subprocess.run(pin(CLIENT_CPU) +
                       [tool, "--mode", "first", "--port", str(server.port),
                        "--ca", server.world.ca, "--since", str(t0),
                        "--timeout", str(timeout)],
                       capture_output=True, text=True, timeout=timeout + 30)
    d = kv(r.stdout)
    if d.get("ok") != "1":
        raise RuntimeError("%s: no verified response within %ss: %s" %
                           (server.name, timeout, r.stdout.strip()))
    return float(d["first_s"])


# ---------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------

class Results:
    def __init__(self):
        self.v = {}

    def add(self, key, server, value):
        self.v.setdefault(key, {}).setdefault(server, []).append(value)

    def med(self, key, server):
        vals = self.v.get(key, {}).get(server)
        return statistics.median(vals) if vals else None

    def total(self, key, server):
        vals = self.v.get(key, {}).get(server)
        return sum(vals) if vals else None


def load_phase(res, srv, tool, args, n):
    """(a)-(d) against a running server with n domains."""
    name = srv.name
    dur = args.duration
    if shutil.which("h2load"):
        r, cpu = measure(srv, lambda: keepalive_h2load(srv, dur))
        tool_used = "h2load"
    else:
        r, cpu = measure(srv, lambda: mtsload(tool, srv, "keepalive", dur))
        tool_used = "mtsload"
    ok = int(r["ok"])
    res.add("ka_rps", name, float(r["rps"]))
    res.add("ka_cpu", name, cpu / ok * 1e6 if ok else float("nan"))
    res.add("ka_failed", name, int(r["failed"]))
    res.keepalive_tool = tool_used

    if shutil.which("h2load"):
        r, cpu = measure(srv, lambda: full_h2load(srv, dur))
        ok = int(r["ok"])
        res.add("h2full_rps", name, float(r["rps"]))
        res.add("h2full_cpu", name, cpu / ok * 1e6 if ok else float("nan"))
        res.add("h2full_failed", name, int(r["failed"]))

    r, cpu = measure(srv, lambda: mtsload(tool, srv, "full", dur))
    ok = int(r["ok"])
    res.add("full_rps", name, float(r["rps"]))
    res.add("full_cpu", name, cpu / ok * 1e6 if ok else float("nan"))
    res.add("full_failed", name, int(r["failed"]))
    res.add("full_resumed", name, int(r["resumed"]))

    r, cpu = measure(srv, lambda: mtsload(tool, srv, "resume", dur))
    ok = int(r["ok"])
    res.add("res_rps", name, float(r["rps"]))
    res.add("res_cpu", name, cpu / ok * 1e6 if ok else float("nan"))
    res.add("res_failed", name, int(r["failed"]))
    res.add("res_share", name, int(r["resumed"]) / ok if ok else 0)

    r, _ = measure(srv, lambda: mtsload(
        tool, srv, "rate", dur, threads=2, extra=["--rate", str(args.rate)]))
    res.add("lat_p50", name, float(r["p50_ms"]))
    res.add("lat_p99", name, float(r["p99_ms"]))
    res.add("lat_failed", name, int(r["failed"]))

    r = rate_openssl(srv, args.rate, dur)
    res.add("olat_p50", name, float(r["p50_ms"]))
    res.add("olat_p99", name, float(r["p99_ms"]))
    res.add("olat_failed", name, int(r["failed"]))


def verify_nginx(res, srv, tool):
    """Server-side check of what the client modes measured (access log)."""
    before, before_r = srv.access_counts()
    r = mtsload(tool, srv, "full", 1, threads=2)
    mid, mid_r = srv.access_counts()
    r2 = mtsload(tool, srv, "resume", 1, threads=2)
    end, end_r = srv.access_counts()
    res.verify = ("nginx access log ($ssl_session_reused): full mode %d "
                  "requests, %d resumed (client said %s of %s); resume mode "
                  "%d requests, %d resumed (client said %s of %s)" %
                  (mid - before, mid_r - before_r, r["resumed"], r["ok"],
                   end - mid, end_r - mid_r, r2["resumed"], r2["ok"]))


def reload_phase(res, srv, tool, args):
    """(g): reloads under a full-handshake load; every request must pass."""
    name = srv.name
    client = spawn(pin(CLIENT_CPU) +
                   [tool, "--mode", "full", "--port", str(srv.port),
                    "--domains", str(srv.world.n), "--threads", "2",
                    "--duration", "600"],
                   stdout=subprocess.PIPE, text=True)
    times = []
    try:
        time.sleep(0.5)
        with Sampler(srv) as s:
            for _ in range(args.reloads):
                times.append(srv.reload(120))
                time.sleep(0.5)
            # nginx: old workers finish in the background; wait for them.
            time.sleep(0.5)
        res.add("reload_peak_pss", name, s.peak)
    finally:
        client.send_signal(signal.SIGINT)
        out, _ = client.communicate(timeout=60)
        reap(client)
    d = kv(out)
    res.add("reload_s", name, statistics.median(times))
    res.add("reload_failed", name, int(d.get("failed", -1)))
    res.add("reload_ok", name, int(d.get("ok", 0)))
    res.reload_error = d.get("last_error", "")


def run_size(res, n, args, tool, binary, root, first_in_run):
    world = World(os.path.join(root, "n%d" % n), n, args.mkcerts)
    servers = ["mta-stsd"] + (["nginx"] if args.nginx else [])
    reps = args.reps if (n == min(args.sizes) or n == max(args.sizes)) \
        else max(1, args.reps // 2)
    for rep in range(reps):
        order = servers if rep % 2 == 0 else list(reversed(servers))
        for name in order:
            wd = os.path.join(world.root, "%s-%d" % (name, rep))
            srv = (MtaStsd(world, wd, binary, args.threads, args.metrics)
                   if name == "mta-stsd" else Nginx(world, wd))
            log("n=%d rep %d: %s" % (n, rep + 1, name))
            try:
                t0 = srv.start()
                first = first_response(tool, srv, t0, args.start_timeout)
                res.add("first_%d" % n, name, first)
                if name == "mta-stsd":
                    srv.wait_notify("READY=1", args.start_timeout)
                time.sleep(1.0)
                res.add("idle_pss_%d" % n, name, pss_mib(srv.pids()))
                # The part no other program shares: PSS of shared
                # libraries moves with whatever else maps them.
                res.add("idle_anon_%d" % n, name,
                        pss_mib(srv.pids(), "Pss_Anon:"))
                if n == min(args.sizes):
                    load_phase(res, srv, tool, args, n)
                    if name == "nginx" and rep == 0:
                        verify_nginx(res, srv, tool)
                elif n == max(args.sizes):
                    # load at the large size too, for its peak PSS
                    r, cpu = measure(srv, lambda: mtsload(
                        tool, srv, "full", args.duration))
                    ok = int(r["ok"])
                    res.add("full_cpu_%d" % n, name,
                            cpu / ok * 1e6 if ok else float("nan"))
                if n == max(args.sizes) and rep == 0:
                    reload_phase(res, srv, tool, args)
                if n in (min(args.sizes), max(args.sizes)):
                    res.add("peak_pss_%d" % n, name, srv.peak_pss)
            finally:
                srv.stop()
            # Counted by the server itself over the whole run (tls_finish).
            if name == "mta-stsd" and srv.counts and n == min(args.sizes):
                res.add("srv_full", name, srv.counts[0])
                res.add("srv_resumed", name, srv.counts[1])
                res.add("srv_hrr", name, srv.counts[2])
    if not args.keep:
        shutil.rmtree(world.root, ignore_errors=True)


def crypto_bound(args, tool):
    """Per-handshake crypto cost of GnuTLS on this machine, in µs."""
    out = {}
    if shutil.which("gnutls-cli") and not args.quick:
        try:
            r = subprocess.run(pin(SERVER_CPU) +
                               ["gnutls-cli", "--benchmark-tls-kx"],
                               capture_output=True, text=True, timeout=300)
            # "(TLS1.3)-(ECDHE-X25519)-(ECDSA-SECP256R1-SHA256)-(...)"
            # " - 2187.78 transactions/sec"
            m = re.search(r"(\(TLS1\.3\)-\(ECDHE-X25519\)-"
                          r"\(ECDSA-SECP256R1-SHA256\)\S*)\s*\n"
                          r"\s*-\s*([\d.]+) transactions/sec", r.stdout)
            if m:
                out["kx"] = 1e6 / float(m.group(2))
                out["kx_name"] = m.group(1)
        except subprocess.TimeoutExpired:
            pass
    r = subprocess.run(pin(SERVER_CPU) + [tool, "--mode", "crypto",
                                          "--port", "1"],
                       capture_output=True, text=True, timeout=120)
    d = kv(r.stdout)
    if "server_us" in d:
        out["server"] = float(d["server_us"])
        out["detail"] = r.stdout.strip()
    return out


# Public-key work (ECDHE and the signature) by library and symbol: GnuTLS
# does it in nettle's libhogweed on libgmp; OpenSSL in libcrypto's EC, BN
# and X25519 code.
PUBKEY_DSO = re.compile(r"^lib(hogweed|gmp)\.")
PUBKEY_SYM = re.compile(r"ecp_nistz256|x25519|X25519|curve25519|fe51_|"
                        r"fe64_|ecdsa|ECDSA|\bbn_|\bBN_|ossl_ec|\bec_|"
                        r"\bEC_|_mont|ecp_|mpn_|__gmp|_nettle_ecc|nettle_ecc|"
                        r"_nettle_sec_|nettle_sec_")


def profile_server(srv, args, tool):
    """perf samples of the server's processes during full handshakes with
    h2load: (samples, {dso: share}, [(share, dso, symbol)], server CPU
    µs per handshake)."""
    data = os.path.join(srv.dir, "perf.data")
    pids = ",".join(str(p) for p in srv.pids())
    rec = spawn(["perf", "record", "-q", "-F", "2000", "-p", pids, "-o",
                 data], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    try:
        load, cpu = measure(srv, lambda: full_h2load(srv, args.duration))
    finally:
        rec.send_signal(signal.SIGINT)
        rec.wait(60)
        reap(rec)
    r = subprocess.run(["perf", "report", "-i", data, "--stdio",
                        "--no-children", "--sort", "dso,sym", "-q",
                        "--percent-limit", "0.05"],
                       capture_output=True, text=True, timeout=300)
    n = subprocess.run(["perf", "report", "-i", data, "--stdio", "-q",
                        "--sort", "pid", "--show-nr-samples"],
                       capture_output=True, text=True, timeout=300)
    samples = sum(int(m.group(1)) for m in
                  re.finditer(r"^\s*[\d.]+%\s+(\d+)", n.stdout, re.M))
    rows, dsos = [], {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[.\]\s+(.*)", line)
        if not m:
            continue
        share, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
        rows.append((share, dso, sym))
        dsos[dso] = dsos.get(dso, 0.0) + share
    ok = load["ok"]
    return samples, dsos, rows, cpu / ok * 1e6 if ok else 0.0


def openssl_pubkey_us():
    """What OpenSSL's public-key work for one full handshake costs on the
    server core: an X25519 key and shared secret (two scalar
    multiplications) and an ECDSA P-256 signature, from `openssl speed`.
    OpenSSL in Debian is stripped, so perf cannot name these functions in
    libcrypto; this is the floor to hold nginx's figure against."""
    r = subprocess.run(pin(SERVER_CPU) + ["openssl", "speed", "-seconds", "2",
                                          "ecdhx25519", "ecdsap256"],
                       capture_output=True, text=True, timeout=120)
    x = re.search(r"ecdh \(X25519\)\s+\S+s\s+([\d.]+)", r.stdout)
    e = re.search(r"ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)", r.stdout)
    if not x or not e:
        return None
    return 2e6 / float(x.group(1)) + 1e6 / float(e.group(1))


def profile(args, binary, tool, root):
    """--profile: where a full handshake's server time goes, mta-stsd next
    to nginx, with the share of public-key operations."""
    world = World(os.path.join(root, "profile"), 10, args.mkcerts)
    servers = ["mta-stsd"] + (["nginx"] if args.nginx else [])
    out = []
    for name in servers:
        wd = os.path.join(world.root, name)
        srv = (MtaStsd(world, wd, binary, args.threads)
               if name == "mta-stsd" else Nginx(world, wd))
        try:
            t0 = srv.start()
            first_response(tool, srv, t0, args.start_timeout)
            samples, dsos, rows, us = profile_server(srv, args, tool)
        finally:
            srv.stop()
        if name == "mta-stsd":
            pk = sum(sh for sh, dso, sym in rows
                     if PUBKEY_DSO.match(dso) or PUBKEY_SYM.search(sym))
            how = "perf: libhogweed, libgmp"
        else:
            floor = openssl_pubkey_us()
            pk = 100.0 * floor / us if floor and us else float("nan")
            how = "openssl speed: 2 X25519 + 1 ECDSA P-256 = %s us" % \
                fmt(floor)
        out.append("%s: %d samples, %.0f us server CPU per full handshake "
                   "(h2load); public-key operations %.1f%% = %.0f us (%s)" %
                   (name, samples, us, pk, pk * us / 100, how))
        out.append("  by library: " + ", ".join(
            "%s %.1f%%" % (d, sh) for d, sh in
            sorted(dsos.items(), key=lambda x: -x[1])[:8]))
        for sh, dso, sym in rows[:15]:
            out.append("  %6.2f%%  %-22s %s" % (sh, dso[:22], sym[:60]))
    return "\n".join(out)


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v != v:
        return "nan"
    if abs(v) >= 1000:
        return "%.0f" % v
    return "%.*f" % (digits, v)


def table(res, args, crypto, machine):
    rows = []
    small, large = min(args.sizes), max(args.sizes)
    ms, ng = "mta-stsd", "nginx"

    def row(label, key, digits=1, total=False):
        f = res.total if total else res.med
        a, b = f(key, ms), f(key, ng)
        ratio = "%.2f" % (a / b) if a is not None and b else "-"
        rows.append((label, fmt(a, digits), fmt(b, digits), ratio))

    row("(a) keep-alive req/s [%d dom]" % small, "ka_rps", 0)
    row("(a) keep-alive server CPU us/req", "ka_cpu", 1)
    row("(b) h2load full-handshake req/s", "h2full_rps", 0)
    row("(b) h2load full-handshake server CPU us/req", "h2full_cpu", 1)
    row("(b) mtsload full-handshake req/s", "full_rps", 0)
    row("(b) mtsload full-handshake server CPU us/req", "full_cpu", 1)
    row("(b) full handshakes resumed (client)", "full_resumed", 0, True)
    if large != small:
        row("(b) full-handshake CPU us/req [%d dom]" % large,
            "full_cpu_%d" % large, 1)
    row("(c) resumed req/s", "res_rps", 0)
    row("(c) resumed server CPU us/req", "res_cpu", 1)
    row("(c) share of connections resumed", "res_share", 2)
    row("(d) p50 latency ms @ %g full-hs/s (GnuTLS)" % args.rate,
        "lat_p50", 2)
    row("(d) p99 latency ms @ %g full-hs/s (GnuTLS)" % args.rate,
        "lat_p99", 2)
    row("(d) p50 latency ms @ %g full-hs/s (OpenSSL)" % args.rate,
        "olat_p50", 2)
    row("(d) p99 latency ms @ %g full-hs/s (OpenSSL)" % args.rate,
        "olat_p99", 2)
    for n in sorted({small, large}):
        row("(e) idle PSS MiB [%d dom]" % n, "idle_pss_%d" % n, 1)
        row("(e) idle PSS_Anon MiB [%d dom]" % n, "idle_anon_%d" % n, 1)
        row("(e) peak PSS MiB under load [%d dom]" % n, "peak_pss_%d" % n, 1)
    row("(e) peak PSS MiB during reloads [%d dom]" % large,
        "reload_peak_pss", 1)
    for n in args.sizes:
        row("(f) start to first verified resp s [%d dom]" % n,
            "first_%d" % n, 3)
    row("(g) reload time s [%d dom]" % large, "reload_s", 3)
    row("(g) requests during %d reloads" % args.reloads, "reload_ok", 0,
        True)
    row("(g) failed requests during reloads", "reload_failed", 0, True)
    for k in ("ka_failed", "h2full_failed", "full_failed", "res_failed",
              "lat_failed", "olat_failed"):
        row("failed requests, %s" % k.split("_")[0], k, 0, True)
    kx = crypto.get("kx")
    rows.append(("GnuTLS kx us/handshake (gnutls-cli, both sides)",
                 fmt(kx), "-", "-"))
    rows.append(("GnuTLS crypto us/handshake (server side only)",
                 fmt(crypto.get("server")), "-", "-"))
    fc = res.med("full_cpu", ms)
    rows.append(("(b) mta-stsd full-hs CPU / gnutls-cli kx",
                 "%.2f" % (fc / kx) if fc and kx else "-", "-", "-"))

    w0 = max(len(r[0]) for r in rows)
    lines = [machine, "%-*s %12s %12s %8s" % (w0, "figure", "mta-stsd",
                                               "nginx", "ratio")]
    lines.append("-" * (w0 + 35))
    for r in rows:
        lines.append("%-*s %12s %12s %8s" % (w0, r[0], r[1], r[2], r[3]))
    return "\n".join(lines)


def machine_line(args):
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        mem = 0
    load = os.getloadavg()
    return ("machine: %d CPUs (%s), %d MiB; server on CPU %s, load on CPU %s;"
            " load average at start %.2f; mta-stsd threads=%s; reps=%d, "
            "%gs each" % (os.cpu_count(), model, mem, SERVER_CPU, CLIENT_CPU,
                          load[0], args.threads or "default", args.reps,
                          args.duration))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--domains", type=int, default=10000,
                    help="the large domain count (default 10000)")
    ap.add_argument("--quick", action="store_true",
                    help="one repetition, 2 s runs (a smoke run)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=100.0,
                    help="full handshakes/s for the latency figure")
    ap.add_argument("--reloads", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0,
                    help="mta-stsd `threads` (default: its own default)")
    ap.add_argument("--no-nginx", dest="nginx", action="store_false")
    ap.add_argument("--metrics", action="store_true",
                    help="mta-stsd with its metrics listener on")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    ap.add_argument("--profile", action="store_true",
                    help="only the perf profile of full handshakes")
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    if args.quick:
        args.reps = 1
        args.duration = 2.0
        args.reloads = 1
    if args.domains < 1 or args.domains > 100000 or args.reps < 1 or \
            args.reps > 20 or args.duration <= 0 or args.duration > 600:
        ap.error("out of range")
    args.sizes = sorted({10 if args.domains >= 10 else args.domains,
                         args.domains // 10 if args.domains >= 1000 else
                         args.domains, args.domains})
    args.start_timeout = 60
    args.mkcerts = os.path.join(args.build, "tests", "mkcerts")
    binary = os.path.join(args.build, "src", "mta-stsd")
    tool = os.path.join(args.build, "bench", "mtsload")
    for p in (args.mkcerts, binary, tool):
        if not os.access(p, os.X_OK):
            ap.error("%s: not built" % p)
    if args.nginx and not shutil.which("nginx"):
        log("nginx is not installed: measuring mta-stsd alone")
        args.nginx = False

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    atexit.register(stop_all)
    root = tempfile.mkdtemp(prefix="mta-stsd-bench-")
    if not args.keep:
        atexit.register(shutil.rmtree, root, True)
    os.chmod(root, 0o755)
    machine = machine_line(args)
    log(machine)

    if args.profile:
        if not shutil.which("perf") or not shutil.which("h2load"):
            ap.error("--profile needs perf and h2load")
        print(machine)
        print(profile(args, binary, tool, root))
        return 0

    res = Results()
    res.verify = "nginx not measured"
    res.reload_error = ""
    crypto = crypto_bound(args, tool)
    for n in args.sizes:
        run_size(res, n, args, tool, binary, root, n == args.sizes[0])
    print(table(res, args, crypto, machine))
    print("server-side check: " + res.verify)
    if res.total("srv_full", "mta-stsd") is not None:
        print("server-side counts (mta-stsd, all phases of all runs at %d "
              "domains): %d full handshakes, %d resumed, %d with a "
              "HelloRetryRequest" % (min(args.sizes),
                                     res.total("srv_full", "mta-stsd"),
                                     res.total("srv_resumed", "mta-stsd"),
                                     res.total("srv_hrr", "mta-stsd")))
    if crypto.get("detail"):
        print("crypto: %s (%s)" % (crypto["detail"],
                                    crypto.get("kx_name", "gnutls-cli: -")))
    if res.reload_error:
        print("last error during reloads: " + res.reload_error)
    print("load average at end: %.2f" % os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
