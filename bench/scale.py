#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Many domains on one machine (issue 17): start, check-config, reloads.

Run through `bench/run.sh --scale`, which builds what is needed. For each
domain count (default 10,000, 30,000 and 100,000) it measures mta-stsd's
check-config, start to the first verified response, idle PSS, and three
reloads under a full-handshake load: nothing changed, one domain added, and
RENEW certificates renewed (new files renamed over the old ones, as certbot
and lego do). nginx and Caddy are measured the same way at the smallest
count, in the same run. Talks to 127.0.0.1 only, bounds every wait and
stops every process it starts by its PID. See docs/PERFORMANCE.md ("Scale").

Certificates are made once, for the largest count, in one directory (each
with its own key file: no hard links, so no 65,000-link limit), and every
count uses the first N of them. That directory is only read: the first
RENEW are served from copies made afresh for each server, which the
renewal replaces.
"""

import argparse
import atexit
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
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the servers, load client and /proc helpers)

# Start-up loads certificates on every CPU the daemon may use: the server
# is not pinned here (bench.py pins it to one CPU for per-request figures).
ALL_CPUS = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
NEW_PATTERN = "mta-sts.new%u.test"


def log(msg):
    bench.log("scale: " + msg)


def mkcerts(tool, directory, n, pattern):
    t = time.monotonic()
    subprocess.run([tool, "many", directory, str(n), pattern], check=True,
                   timeout=3600, stdout=subprocess.DEVNULL)
    for name in os.listdir(directory):
        os.chmod(os.path.join(directory, name), 0o644)
    os.chmod(directory, 0o755)
    log("%d certificates made in %s in %.1f s" %
        (n, directory, time.monotonic() - t))


class World:
    """The first n domains of a certificate directory made for the most;
    the first `renewable` of them served from copies in root."""

    def __init__(self, root, certs, n, renewable=0):
        self.root = root
        self.certs = certs
        self.n = n
        self.ca = os.path.join(certs, "ca.pem")
        self.www = os.path.join(root, "www")
        self.renewable = renewable
        self.copies = os.path.join(root, "renewable")

    def cert(self, i):
        host = bench.PATTERN.replace("%u", str(i))
        d = self.copies if i <= self.renewable else self.certs
        return (os.path.join(d, host + ".pem"), os.path.join(d, host + ".key"))

    def copy_renewable(self):
        """The renewable certificates as made, before a server starts, so
        that every server renews the same ones and certs stays unwritten.
        They keep their mtime; their change time must age (see renew)."""
        os.makedirs(self.copies, exist_ok=True)
        os.chmod(self.copies, 0o755)
        for i in range(1, self.renewable + 1):
            host = bench.PATTERN.replace("%u", str(i))
            for ext in (".pem", ".key"):
                dst = os.path.join(self.copies, host + ext)
                shutil.copy2(os.path.join(self.certs, host + ext),
                             dst + ".tmp")
                os.rename(dst + ".tmp", dst)
        time.sleep(2.5)

    def make_www(self):
        """The policy files nginx and Caddy serve."""
        for i in range(1, self.n + 1):
            bench.write_policy(self.www, "d%d" % i)


def timed(args, timeout):
    t = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    return time.monotonic() - t, r


def reload_costs(srv, since):
    """The daemon's 'reload: N domain(s) loaded, M reused' lines."""
    with open(os.path.join(srv.dir, "daemon.log"), errors="replace") as f:
        text = f.read()[since:]
    return re.findall(r"reload: (\d+) domain\(s\) loaded, (\d+) reused", text)


def log_size(srv):
    return os.path.getsize(os.path.join(srv.dir, "daemon.log"))


def measured_reload(srv, change):
    """Runs change(), reloads, and returns (wall s, PSS before, peak PSS);
    before is measured once the previous reload's leftovers are gone (old
    nginx workers)."""
    srv.settle(120)
    before = bench.pss_mib(srv.pids())
    change()
    with bench.Sampler(srv) as s:
        wall = srv.reload(300)
        time.sleep(0.3)
    return wall, before, s.peak


def use_directory(srv, per_file):
    """Moves the domains of srv's configuration into files of per_file
    domains each in a domains_directory, as providers generate them."""
    with open(srv.config) as f:
        text = f.read()
    start = text.index("domains = (\n")
    entries = text[start + 12:text.rindex("\n);")].split(",\n")
    directory = os.path.join(srv.dir, "domains.d")
    os.makedirs(directory, exist_ok=True)
    for i in range(0, len(entries), per_file):
        with open(os.path.join(directory, "%08d.conf" % i), "w") as f:
            f.write("domains = (\n%s\n);\n" %
                    ",\n".join(entries[i:i + per_file]))
    with open(srv.config, "w") as f:
        f.write(text[:start] + 'domains_directory = "%s";\n' % directory)
    srv.directory = directory


def add_domain(srv, world, added, k):
    """Adds domain newK.test, with a certificate of its own: a site in
    nginx's or Caddy's configuration; for mta-stsd a file of its own in
    domains_directory, or an entry appended to the configuration."""
    host = NEW_PATTERN.replace("%u", str(k))
    cert, key = (os.path.join(added, host + ext) for ext in (".pem", ".key"))
    if hasattr(srv, "add_site"):
        bench.write_policy(world.www, "new%d" % k)
        srv.add_site(host, cert, key, os.path.join(world.www, "new%d" % k))
        return
    entry = ('{ name = "new%d.test"; mode = "enforce"; max_age = 604800; '
             'mx = [ "mail.new%d.test" ]; cert = "%s"; key = "%s"; }'
             % (k, k, cert, key))
    if getattr(srv, "directory", None):
        bench.replace_file(os.path.join(srv.directory, "new%d.conf" % k),
                           "domains = (\n%s\n);\n" % entry)
        return
    with open(srv.config) as f:
        text = f.read()
    end = text.rindex("\n);")
    bench.replace_file(srv.config, text[:end] + ",\n" + entry + text[end:])


def fetch(srv, ca, host):
    """A verified GET of host's policy: (status line, the DER of the
    certificate served)."""
    ctx = ssl.create_default_context(cafile=ca)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" %
           (bench.POLICY_PATH, host)).encode()
    got = b""
    with socket.create_connection(("127.0.0.1", srv.port), 10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            der = s.getpeercert(binary_form=True)
            s.sendall(req)
            for _ in range(100):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
    return got.split(b"\r\n", 1)[0].decode(errors="replace"), der


def first_der(path):
    """The DER of the first certificate of a PEM file (leaf, then CA)."""
    with open(path) as f:
        text = f.read()
    end = text.index(ssl.PEM_FOOTER) + len(ssl.PEM_FOOTER)
    return ssl.PEM_cert_to_DER_cert(text[:end])


def reloads_took(srv, world, renewed, k):
    """1 if srv now serves the renewed certificate of domain 1 and the
    added domain newK, 0 if not: a reload that did not load them."""
    _, der = fetch(srv, world.ca, bench.PATTERN.replace("%u", "1"))
    status, _ = fetch(srv, world.ca, NEW_PATTERN.replace("%u", str(k)))
    ok = der == first_der(renewed.cert(1)[0]) and \
        status.startswith("HTTP/1.1 200")
    if not ok:
        log("%s: after the reloads: renewed certificate %s, added domain "
            "%s" % (srv.name, "served" if der == first_der(
                renewed.cert(1)[0]) else "NOT served", status))
    return int(ok)


def renew(world, renewed, count, tool):
    """Renames count renewed certificates and keys over the served ones,
    keeping the originals' mtime (the change time still moves). Each call
    makes new ones: the daemon compares digests, so copying the same
    renewal again would rightly load nothing."""
    mkcerts(tool, renewed.certs, count, bench.PATTERN)
    for i in range(1, count + 1):
        for src, dst in zip(renewed.cert(i), world.cert(i)):
            st = os.stat(dst)
            tmp = dst + ".new"
            shutil.copyfile(src, tmp)
            os.chmod(tmp, 0o644)
            os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.rename(tmp, dst)
    # A file changed within 2 s of a load cannot be judged by its times,
    # so the daemon would read it again at the next reload to compare its
    # digest: let the renewed files age first, as they would between
    # renewal runs.
    time.sleep(2.5)


def load_client(args, srv, n):
    """Full handshakes at a fixed rate (or as fast as possible with
    --load-rate 0) over all n domains, until stopped."""
    mode = ["--mode", "rate", "--rate", str(args.load_rate)] \
        if args.load_rate > 0 else ["--mode", "full"]
    return bench.spawn(bench.pin(bench.CLIENT_CPU) + [args.tool] + mode +
                       ["--port", str(srv.port), "--domains", str(n),
                        "--threads", "2", "--duration", "3600"],
                       stdout=subprocess.PIPE, text=True)


def start_and_idle(res, srv, args, n):
    """Starts srv args.reps times (the last one stays up), recording the
    median time to the first verified response, then its idle PSS."""
    firsts = []
    for rep in range(args.reps):
        t0 = srv.start()
        firsts.append(bench.first_response(args.tool, srv, t0,
                                           args.start_timeout))
        if srv.name == "mta-stsd":
            srv.wait_notify("READY=1", args.start_timeout)
        if rep + 1 < args.reps:
            srv.stop()
    res.add("first_%d" % n, srv.name, statistics.median(firsts))
    time.sleep(1.0)
    res.add("idle_pss_%d" % n, srv.name, bench.pss_mib(srv.pids()))


def stop_client(res, name, n, client):
    """Stops the load client and records its requests and failures."""
    client.send_signal(signal.SIGINT)
    out, _ = client.communicate(timeout=120)
    bench.reap(client)
    d = bench.kv(out)
    res.add("reload_ok_%d" % n, name, int(d.get("ok", 0)))
    res.add("reload_failed_%d" % n, name, int(d.get("failed", -1)))
    if d.get("failed") != "0":
        res.notes.append("%s %d: failed requests during the reloads, the "
                         "last: %s" % (name, n, d.get("last_error", out)))


def reloads(res, srv, world, args, renewed, added, suffix):
    """The three reloads; figures go under keys ending in suffix. Returns
    whether they took (reloads_took)."""
    n = world.n
    k = 1 if suffix == "" else 2
    # Renewals before the added domain: a renewal's reload finds the
    # configuration unchanged (not read again), as between real changes.
    for kind, change in (
            ("same", lambda: None),
            ("renew", lambda: renew(world, renewed, args.renew,
                                    args.mkcerts)),
            ("add", lambda: add_domain(srv, world, added, k))):
        wall, before, peak = measured_reload(srv, change)
        res.add("reload_%s%s_%d" % (kind, suffix, n), srv.name, wall)
        res.add("reload_%s%s_extra_%d" % (kind, suffix, n), srv.name,
                (peak - before) / before * 100 if before else 0)
        time.sleep(0.5)
    return reloads_took(srv, world, renewed, k)


def make_server(name, world, args):
    wd = os.path.join(world.root, name)
    if name == "nginx":
        return bench.Nginx(world, wd)
    if name == "caddy":
        return bench.Caddy(world, wd)
    srv = bench.MtaStsd(world, wd, args.binary, 0)
    if args.per_file:
        use_directory(srv, args.per_file)
    return srv


def run_server(res, name, world, args, renewed, added):
    """One server at world.n domains: its configuration check, start, idle
    PSS, and the three reloads quiet, then under load."""
    n = world.n
    world.copy_renewable()
    srv = make_server(name, world, args)
    secs = []
    for _ in range(args.reps):
        wall, r = timed(srv.check_args(), 600)
        if r.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(srv.check_args()),
                                           r.stdout + r.stderr))
        secs.append(wall)
    res.add("check_%d" % n, name, statistics.median(secs))

    start_and_idle(res, srv, args, n)
    try:
        if name == "caddy":
            # What an admin's plain `caddy reload` costs when the file is
            # unchanged: nothing is loaded again.
            res.notes.append("caddy %d: reload without --force, file "
                             "unchanged: %.2f s (nothing loaded again)" %
                             (n, srv.reload(300, force=False)))
        since = log_size(srv) if name == "mta-stsd" else 0
        # Quiet: wall time and the memory a reload adds, alone.
        took = reloads(res, srv, world, args, renewed, added, "")
        # Under load: the same reloads, and not one failed request.
        client = load_client(args, srv, n)
        try:
            time.sleep(0.5)
            took = min(took, reloads(res, srv, world, args, renewed, added,
                                     "_load"))
            if name == "mta-stsd":
                res.costs[n] = reload_costs(srv, since)
        finally:
            stop_client(res, name, n, client)
        res.add("took_%d" % n, name, took)
    finally:
        srv.stop()


def table(res, args):
    servers = ["mta-stsd"] + args.others
    rows = [("check-config s", "check"),
            ("start to first verified response s", "first"),
            ("idle PSS MiB", "idle_pss"),
            ("reload, nothing changed: s", "reload_same"),
            ("  its peak extra PSS %", "reload_same_extra"),
            ("reload, one domain added: s", "reload_add"),
            ("  its peak extra PSS %", "reload_add_extra"),
            ("reload, %d certificates renewed: s" % args.renew,
             "reload_renew"),
            ("  its peak extra PSS %", "reload_renew_extra"),
            ("under load: reload, nothing changed: s", "reload_same_load"),
            ("under load: reload, one domain added: s", "reload_add_load"),
            ("under load: reload, %d renewed: s" % args.renew,
             "reload_renew_load"),
            ("requests during the reloads under load", "reload_ok"),
            ("failed requests during the reloads", "reload_failed"),
            ("renewed and added served after the reloads (1 = yes)",
             "took")]
    cols = []
    for n in args.sizes:
        for s in servers:
            if s == "mta-stsd" or n == args.sizes[0]:
                cols.append((n, s))
    out = ["| | " + " | ".join("%s %d" % (s, n) for n, s in cols) + " |",
           "|---" * (len(cols) + 1) + "|"]
    for label, key in rows:
        cells = []
        for n, s in cols:
            v = res.med("%s_%d" % (key, n), s)
            cells.append("–" if v is None else
                         ("%d" % v if isinstance(v, int) else "%.2f" % v))
        out.append("| %s | %s |" % (label, " | ".join(cells)))
    out.append("| per-domain start cost µs (first / N) | " + " | ".join(
        "%.1f" % (res.med("first_%d" % n, s) / n * 1e6)
        if res.med("first_%d" % n, s) is not None else "–"
        for n, s in cols) + " |")
    for n in args.sizes:
        out.append("mta-stsd %d, reloads as logged (loaded, reused): %s" %
                   (n, ", ".join("(%s, %s)" % c for c in res.costs.get(n,
                                                                     []))))
    return "\n".join(out + res.notes)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="10000,30000,100000",
                    help="domain counts, comma-separated")
    ap.add_argument("--renew", type=int, default=1000,
                    help="certificates renewed in the third reload")
    ap.add_argument("--reps", type=int, default=1,
                    help="check-config runs and starts per count (median)")
    ap.add_argument("--load-rate", type=float, default=200.0,
                    help="full handshakes/s during the loaded reloads "
                    "(0: as fast as the client can)")
    ap.add_argument("--per-file", type=int, default=0,
                    help="mta-stsd: the domains in a domains_directory, "
                    "this many per file (default: all in the main file)")
    ap.add_argument("--certs", help="a directory made by an earlier run "
                    "(--keep) to use again")
    ap.add_argument("--no-nginx", dest="nginx", action="store_false")
    ap.add_argument("--no-caddy", dest="caddy", action="store_false")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    try:
        args.sizes = sorted({int(s) for s in args.sizes.split(",")})
    except ValueError:
        ap.error("--sizes: numbers, comma-separated")
    if not args.sizes or args.sizes[0] < 1 or args.sizes[-1] > 200000 or \
            args.renew < 1 or args.renew > args.sizes[0] or \
            not 1 <= args.reps <= 10:
        ap.error("out of range")
    args.start_timeout = 120
    args.mkcerts = os.path.join(args.build, "tests", "mkcerts")
    args.binary = os.path.join(args.build, "src", "mta-stsd")
    args.tool = os.path.join(args.build, "bench", "mtsload")
    for p in (args.mkcerts, args.binary, args.tool):
        if not os.access(p, os.X_OK):
            ap.error("%s: not built" % p)
    # nginx and Caddy, when installed, at the smallest count only.
    args.others = []
    for name, wanted in (("nginx", args.nginx), ("caddy", args.caddy)):
        if wanted and not shutil.which(name):
            log("%s is not installed: not measured" % name)
        elif wanted:
            args.others.append(name)
    bench.SERVER_CPU = ALL_CPUS

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, bench.on_signal)
    atexit.register(bench.stop_all)
    root = tempfile.mkdtemp(prefix="mta-stsd-scale-")
    if not args.keep:
        atexit.register(shutil.rmtree, root, True)
    os.chmod(root, 0o755)
    log(bench.machine_line(argparse.Namespace(
        threads=0, reps=args.reps, duration=0)))
    log("working in %s" % root)

    most = args.sizes[-1]
    certs = args.certs or os.path.join(root, "certs")
    if not os.path.exists(os.path.join(certs, "ca.pem")) or not \
            os.path.exists(World(root, certs, most).cert(most)[0]):
        mkcerts(args.mkcerts, certs, most, bench.PATTERN)
    # The renewals and the added domain: the same CA, separate files.
    extra = os.path.join(root, "extra")
    os.makedirs(extra, exist_ok=True)
    for f in ("ca.pem", "ca.key"):
        shutil.copy(os.path.join(certs, f), extra)
    mkcerts(args.mkcerts, extra, args.renew, bench.PATTERN)
    mkcerts(args.mkcerts, extra, 2, NEW_PATTERN)
    renewed = World(root, extra, args.renew)
    # Renewed files must look old, or the daemon loads them as racy.
    time.sleep(2.5)

    res = bench.Results()
    res.costs = {}
    res.notes = []
    for n in args.sizes:
        world = World(os.path.join(root, "n%d" % n), certs, n, args.renew)
        os.makedirs(world.root, exist_ok=True)
        os.chmod(world.root, 0o755)
        others = args.others if n == args.sizes[0] else []
        if others:
            world.make_www()
        for name in ["mta-stsd"] + others:
            log("n=%d: %s" % (n, name))
            run_server(res, name, world, args, renewed, extra)
    print(table(res, args))
    print("load average at end: %.2f" % os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
