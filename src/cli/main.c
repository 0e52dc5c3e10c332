/* SPDX-License-Identifier: MIT */
/*
 * mta-stsd: serve MTA-STS policies (RFC 8461) over HTTPS, chosen by SNI.
 *
 * The start-up order of `serve`, and why:
 *   1. parse and validate the configuration (exit 1 on any error);
 *   2. take the listening sockets from systemd, or bind them;
 *   3. drop privileges for good (setgroups, setresgid, setresuid) and
 *      every capability (CAP_NET_BIND_SERVICE is used only by step 2);
 *   4. load policies, ids and credentials as the service user, so that a
 *      key the service cannot read fails now, not at the first reload after
 *      a certificate renewal;
 *   5. start the HTTP server, record what is served, send READY=1;
 *   6. wait for signals: HUP reloads, TERM and INT drain and stop.
 * main() is the only place that exits.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "buildconf.h"
#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "acme/acme_report.h"
#include "checker/check.h"
#include "cli/changes.h"
#include "cli/status.h"
#include "config/config.h"
#include "util/diag.h"
#include "server/acme_link.h"
#include "server/http.h"
#include "server/metrics.h"
#include "util/log.h"
#include "util/parallel.h"
#include "core/dnsname.h"
#include "core/policy.h"
#include "server/snapshot.h"
#include "config/state.h"
#include "tls/handshake.h"
#include "tls/priorities.h"
#include "core/txt.h"
#include "util/clock.h"
#include "util/text.h"

enum exit_code {
	EXIT_OK = 0,
	EXIT_INVALID = 1,
	EXIT_USAGE = 2,
};

#define DRAIN_SECONDS 10
#define DEMO_LISTEN "127.0.0.1:8443"
#define LINT_READ_LIMIT (16u * 1024 * 1024)

/* The demo's configuration; %s is the listen address. */
static const char demo_config[] =
	"listen = [ \"%s\" ];\n"
	"domains = ( {\n"
	"  name = \"example.com\";\n"
	"  mode = \"testing\";\n"
	"  max_age = 604800;\n"
	"  mx = [ \"mail.example.com\", \"*.mx.example.net\" ];\n"
	"  cert = \"(generated at start)\";\n"
	"  key = \"(generated at start)\";\n"
	"} );\n";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: mta-stsd [serve] [-c FILE]\n"
		"       mta-stsd check-config [-c FILE] [-v | --json] [-q] "
		"[DOMAIN...]\n"
		"       mta-stsd txt [-c FILE] [--bump] [--value [--unquoted] | --json]\n"
		"                    [DOMAIN...]\n"
		"       mta-stsd lint [--txt] FILE|-\n"
		"       mta-stsd check [OPTIONS] DOMAIN...\n"
		"       mta-stsd check -c FILE [OPTIONS] [DOMAIN...]\n"
		"       mta-stsd acme-status [-c FILE]\n"
		"       mta-stsd status [-c FILE] [--json] [DOMAIN...]\n"
		"       mta-stsd demo [--listen ADDR:PORT]\n"
		"       mta-stsd --help | --version\n"
		"       mta-stsd COMMAND --help\n");
}

/* The usage and options of one subcommand, for `mta-stsd COMMAND --help`;
 * false when command is not one (check prints its own). */
static bool usage_of(const char *command, FILE *out)
{
	static const char config_option[] =
		"  -c, --config FILE  the configuration (default: "
		MTASTSD_CONFIG_FILE ")\n";
	if (strcmp(command, "serve") == 0)
		fprintf(out, "usage: mta-stsd [serve] [-c FILE]\n"
			"Serve the configured MTA-STS policies over HTTPS.\n%s",
			config_option);
	else if (strcmp(command, "check-config") == 0)
		fprintf(out, "usage: mta-stsd check-config [-c FILE] [-v | --json] "
			"[-q] [DOMAIN...]\n"
			"Load everything the daemon would load (as its service "
			"user), without serving;\nexit 1 when nothing would "
			"load, 3 when some domain would not be served.\n%s"
			"  -v, --verbose      also print the normalised "
			"configuration\n"
			"      --json         the findings and domains as JSON\n"
			"  -q, --quiet        print nothing when all is well "
			"(for deploy hooks)\n"
			"  DOMAIN...          load and report only these "
			"domains\n", config_option);
	else if (strcmp(command, "txt") == 0)
		fprintf(out, "usage: mta-stsd txt [-c FILE] [--bump] [--value "
			"[--unquoted] | --json] [DOMAIN...]\n"
			"Print the _mta-sts and _smtp._tls TXT records to "
			"publish (all domains, or those\nnamed) as zone-file "
			"lines, and say on stderr whether it is safe to publish "
			"them.\n%s"
			"      --bump         also print the next id for each "
			"domain\n"
			"      --value        print only the record data; with "
			"several domains, each after\n"
			"                     its owner name and a tab\n"
			"      --unquoted     with --value: the data without "
			"quotes, for DNS panels that\n"
			"                     add their own\n"
			"      --json         one JSON object per domain\n",
			config_option);
	else if (strcmp(command, "lint") == 0)
		fprintf(out, "usage: mta-stsd lint [--txt] FILE|-\n"
			"Check a policy file (or standard input) the way a "
			"strict sender reads it.\n"
			"      --txt          FILE holds TXT records instead: "
			"`dig +short` answers or\n"
			"                     zone-file lines (as `mta-stsd txt` "
			"prints them)\n");
	else if (strcmp(command, "acme-status") == 0)
		fprintf(out, "usage: mta-stsd acme-status [-c FILE]\n"
			"Show each ACME domain's certificate, next renewal and "
			"last error, from the\n"
			"state directory; exit 3 when one "
			"has no valid certificate.\n%s", config_option);
	else if (strcmp(command, "demo") == 0)
		fprintf(out, "usage: mta-stsd demo [--listen ADDR:PORT]\n"
			"Serve a built-in example domain with a generated "
			"certificate, for a first look.\n"
			"      --listen ADDR:PORT  where to listen (default "
			DEMO_LISTEN ")\n");
	else
		return false;
	return true;
}

/* Logs every finding of d at the level its severity calls for. */
static void log_diag(const struct diag *d)
{
	for (size_t i = 0; i < d->len; i++) {
		const struct diag_item *it = &d->items[i];
		char where[PATH_MAX + 16] = "";
		if (it->file && it->line)
			snprintf(where, sizeof(where), "%s:%u: ", it->file,
				it->line);
		else if (it->file)
			snprintf(where, sizeof(where), "%s: ", it->file);
		if (it->severity == DIAG_ERROR)
			log_error("%s%s", where, it->message);
		else if (it->severity == DIAG_WARNING)
			log_warn("%s%s", where, it->message);
		else
			log_info("%s%s", where, it->message);
	}
	if (d->out_of_memory)
		log_error("out of memory: some findings were lost");
}

static void notify(const char *state)
{
#if HAVE_LIBSYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

/* ---------------------------------------------------------------------
 * Loading
 * --------------------------------------------------------------------- */

/* The configuration at path, taking unchanged files from reuse (or NULL). */
static struct config *load_config(const char *path,
	const struct config_reuse *reuse, struct diag *d)
{
	struct config *config = calloc(1, sizeof(*config));
	if (!config) {
		diag_add(d, DIAG_ERROR, path, 0, "out-of-memory",
			"out of memory");
		return NULL;
	}
	if (config_load_file_reusing(path, config, d, reuse) < 0) {
		config_finish(config);
		free(config);
		return NULL;
	}
	return config;
}

static struct snapshot *load_snapshot(const char *path,
	const struct snapshot_options *options, struct diag *d)
{
	struct config *config = load_config(path, NULL, d);
	if (!config)
		return NULL;
	return snapshot_create(config, options, d);
}

/*
 * reload_snapshot reads the configuration again, taking the unchanged
 * files of domains_directory from running instead of reading them (a
 * provider adding one customer file to thousands reads that file).
 */
static struct snapshot *reload_snapshot(const char *path,
	const struct snapshot *running, const struct snapshot_options *options,
	struct diag *d)
{
	struct config_reuse reuse;
	struct snapshot_reuse *sr = snapshot_reuse_create(running, &reuse);
	struct config *config = load_config(path, sr ? &reuse : NULL, d);
	struct snapshot *snap = config ? snapshot_create(config, options, d) :
		NULL;
	/* The new snapshot holds copies of whatever it borrowed. */
	snapshot_reuse_destroy(sr);
	return snap;
}

static void apply_log_settings(const struct config *config)
{
	enum log_level level = LOG_LEVEL_INFO;
	if (config->log_level)
		log_level_parse(config->log_level, &level);
	enum log_target target = LOG_TARGET_STDERR;
	if (config->log_target && strcmp(config->log_target, "syslog") == 0)
		target = LOG_TARGET_SYSLOG;
	log_init(level, target);
}

/* ---------------------------------------------------------------------
 * Sockets and privileges
 * --------------------------------------------------------------------- */

static int bind_one(const char *text)
{
	char host[256];
	unsigned port;
	if (config_parse_listen(text, host, sizeof(host), &port) < 0) {
		log_error("listen \"%s\": not an address:port", text);
		return -1;
	}
	char service[8];
	snprintf(service, sizeof(service), "%u", port);
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(strcmp(host, "*") == 0 ? "::" : host, service,
		&hints, &ai);
	if (rc != 0) {
		log_error("listen \"%s\": %s", text, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error_errno("listen \"%s\": cannot create a socket", text);
		goto err_ai;
	}
	int on = 1, off = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	/* "[::]" serves IPv4 too, as admins expect of a dual-stack host. */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno == EACCES)
			log_error_errno("cannot listen on %s — start as root "
				"or with CAP_NET_BIND_SERVICE (the systemd "
				"unit grants it), or use a port above 1023",
				text);
		else if (errno == EADDRINUSE)
			log_error_errno("cannot listen on %s — another "
				"server (a web server?) listens there; stop "
				"it or change listen", text);
		else
			log_error_errno("cannot listen on %s", text);
		goto err_fd;
	}
	if (listen(fd, 1024) < 0) {
		log_error_errno("cannot listen on %s", text);
		goto err_fd;
	}
	freeaddrinfo(ai);
	return fd;

err_fd:
	close(fd);
err_ai:
	freeaddrinfo(ai);
	return -1;
}

/* Names the local address of an inherited socket in the log. */
static void log_socket_address(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
			getnameinfo((struct sockaddr *)&ss, len, host,
				sizeof(host), port, sizeof(port),
				NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		log_info("listening on socket %d (HTTPS)", fd);
		return;
	}
	log_info("listening on %s%s%s:%s (HTTPS, socket %d from systemd)",
		strchr(host, ':') ? "[" : "", host,
		strchr(host, ':') ? "]" : "", port, fd);
}

/*
 * open_sockets fills fds with the sockets systemd passed (socket
 * activation: then nothing is bound here) or binds every listen address.
 * Returns the count, or -1 (logged).
 */
static int open_sockets(const struct config *config, int **fds)
{
#if HAVE_LIBSYSTEMD
	int passed = sd_listen_fds(1);
	if (passed < 0) {
		errno = -passed;
		log_error_errno("cannot use the sockets passed by systemd");
		return -1;
	}
	if (passed > 0) {
		*fds = calloc((size_t)passed, sizeof(**fds));
		if (!*fds)
			return -1;
		for (int i = 0; i < passed; i++) {
			int fd = SD_LISTEN_FDS_START + i;
			if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
				log_error("socket %d passed by systemd is not a "
					"listening TCP socket — use "
					"ListenStream= in mta-stsd.socket", fd);
				return -1;
			}
			(*fds)[i] = fd;
		}
		log_info("using %d socket(s) passed by systemd", passed);
		for (int i = 0; i < passed; i++)
			log_socket_address((*fds)[i]);
		return passed;
	}
#endif
	*fds = calloc(config->listen_count ? config->listen_count : 1,
		sizeof(**fds));
	if (!*fds)
		return -1;
	for (size_t i = 0; i < config->listen_count; i++) {
		(*fds)[i] = bind_one(config->listen[i]);
		if ((*fds)[i] < 0)
			return -1;
		log_info("listening on %s (HTTPS)", config->listen[i]);
	}
	return (int)config->listen_count;
}

/*
 * drop_privileges switches to user and group for good when running as
 * root: supplementary groups first, then gid, then uid, each fatal.
 */
static int drop_privileges(const char *user, const char *group)
{
	if (geteuid() != 0) {
		/* Started as the service user (systemd's User=). */
		struct passwd *self = getpwuid(geteuid());
		log_info("running as user %s (uid %u), not root: user and "
			"group are not used", self ? self->pw_name : "?",
			(unsigned)geteuid());
		return 0;
	}
	if (!user || strcmp(user, "root") == 0) {
		log_error("refusing to serve as root — set user (and group) "
			"in the configuration, e.g. user = \"mta-stsd\";");
		return -1;
	}
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		log_error("user \"%s\" does not exist — create it "
			"(systemd-sysusers, or: useradd --system --home-dir "
			"/nonexistent --shell /usr/sbin/nologin %s) or set "
			"user", user, user);
		return -1;
	}
	gid_t gid = pw->pw_gid;
	if (group) {
		struct group *gr = getgrnam(group);
		if (!gr) {
			log_error("group \"%s\" does not exist — create it "
				"(groupadd --system %s) or set group", group,
				group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	/* The user's other groups too, as systemd's User= gives them: keys
	 * are often readable through a group such as ssl-cert. */
	if (initgroups(pw->pw_name, gid) < 0) {
		log_error_errno("initgroups(%s)", pw->pw_name);
		return -1;
	}
	if (setresgid(gid, gid, gid) < 0) {
		log_error_errno("setresgid(%u)", (unsigned)gid);
		return -1;
	}
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		log_error_errno("setresuid(%u)", (unsigned)pw->pw_uid);
		return -1;
	}
	/* Paranoia: a process that can become root again has not dropped. */
	if (setuid(0) == 0) {
		log_error("privileges were not dropped: setuid(0) succeeded");
		return -1;
	}
	log_info("running as user %s, group %s", user,
		group ? group : "(primary)");
	return 0;
}

/*
 * drop_capabilities empties every capability set once the listeners are
 * bound. Started by root, setresuid() already did; started as the service
 * user with AmbientCapabilities=CAP_NET_BIND_SERVICE, the capability would
 * otherwise stay effective for the life of the process, and under socket
 * activation it is never used at all. capset is called directly: the
 * kernel interface is small, and libcap would be one more dependency.
 */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct header = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0}};
	if (syscall(SYS_capget, &header, data) < 0) {
		log_error_errno("capget");
		return -1;
	}
	bool any = false;
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		any |= data[i].effective || data[i].permitted ||
			data[i].inheritable;
	if (!any)
		return 0;
	/* Emptying the permitted set empties the ambient one too. */
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &header, data) < 0) {
		log_error_errno("cannot drop capabilities (capset) — allow it "
			"in the unit: SystemCallFilter=capset");
		return -1;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	log_info("capabilities dropped");
	return 0;
}

static unsigned thread_count(const struct config *config)
{
	if (config->threads)
		return config->threads;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* ---------------------------------------------------------------------
 * The daemon
 * --------------------------------------------------------------------- */

struct daemon {
	const char *config_path;
	struct snapshot *snapshot;	/* the one being served */
	struct http_server *http;
	int *fds;
	int fd_count;
	int signal_fd;
	int running_fd;		/* the state directory's "running" mark */
	struct acme_link *acme;		/* NULL: no ACME domains */
	int http01_fd;			/* acme http01_listen, until taken */
	struct metrics *metrics;
	int metrics_fd;		/* bound before the drop, or -1 */
	struct metrics_server *metrics_server;
	struct status_reload last;	/* what `status` shows of reloads */
};

/* The status file, for `mta-stsd status`; only a daemon that holds the
 * state directory's mark writes it (not the demo). */
static void publish_status(const struct daemon *dm)
{
	if (dm->running_fd >= 0)
		status_publish(dm->snapshot, &dm->last, dm->config_path,
			snapshot_config(dm->snapshot)->metrics_listen);
}

/*
 * log_cost says what building snap cost: a reload reads again only the
 * domains that changed ("reload: 1 domain(s) loaded, 199 reused").
 */
static void log_cost(const struct snapshot *snap, const char *verb,
	long long t0_ms)
{
	struct snapshot_stats st = snapshot_stats(snap);
	size_t kept = snapshot_problem_count(snap) -
		snapshot_not_served_count(snap);
	log_info("%s: %zu domain(s) loaded, %zu reused, %zu kept in their "
		"previous version, in %.3f s (%u thread(s) loading "
		"certificates)", verb, st.loaded, st.reused, kept,
		(double)(clock_now_ms() - t0_ms) / 1000.0, st.threads);
}

static void log_loaded(const struct snapshot *snap, const char *verb)
{
	log_info("%s: %zu domain(s)", verb, snapshot_domain_count(snap));
	for (size_t i = 0; i < snapshot_domain_count(snap); i++) {
		const struct snapshot_domain *sd = snapshot_domain_at(
			(struct snapshot *)snap, i);
		log_debug("%s: mode %s, id %s", sd->host,
			policy_mode_name(sd->config->policy.mode), sd->id);
	}
}

/*
 * describe_serving writes what snap serves in one line, for the service
 * status and the log: "serving 201 of 202 domains; 1 not served:
 * cust042.example (key unreadable)", and the domains kept in their previous
 * version. Long lists end in "and N more".
 */
static void describe_serving(const struct snapshot *snap, const char *verb,
	char *buf, size_t size)
{
	/* Not served: broken, or an ACME domain waiting for a certificate. */
	size_t kept = 0;
	for (size_t i = 0; i < snapshot_problem_count(snap); i++)
		kept += snapshot_problem_at(snap, i)->kept;
	size_t lost = snapshot_problem_count(snap) - kept;
	size_t served = snapshot_domain_count(snap);
	size_t used = 0;
	int n = snprintf(buf, size, "%s %zu of %zu domain(s)", verb, served,
		served + lost);
	for (int pass = 0; pass < 2 && n >= 0; pass++) {
		bool want_kept = pass == 1;
		size_t count = want_kept ? kept : lost;
		if (count == 0)
			continue;
		used = strlen(buf);
		snprintf(buf + used, size - used, "; %zu %s:", count, want_kept ?
			"on the previous version" : "not served");
		size_t shown = 0;
		for (size_t i = 0; i < snapshot_problem_count(snap); i++) {
			const struct snapshot_problem *p =
				snapshot_problem_at(snap, i);
			if (p->kept != want_kept)
				continue;
			used = strlen(buf);
			/* Keep room for " and N more". */
			if (used + strlen(p->name) + strlen(p->reason) + 32 >=
					size)
				break;
			snprintf(buf + used, size - used, "%s %s (%s)",
				shown ? "," : "", p->name, p->reason);
			shown++;
		}
		if (shown < count) {
			used = strlen(buf);
			snprintf(buf + used, size - used, " and %zu more",
				count - shown);
		}
	}
}

/* Logs and tells systemd (READY=1, STATUS=) what snap serves. */
static void announce_serving(const struct snapshot *snap)
{
	char line[1024], status[1100];
	describe_serving(snap, "serving", line, sizeof(line));
	if (snapshot_problem_count(snap))
		log_warn("%s", line);
	else
		log_info("%s", line);
	snprintf(status, sizeof(status), "READY=1\nSTATUS=%s", line);
	notify(status);
}

static void record_served(struct snapshot *snap)
{
	struct diag d;
	diag_init(&d);
	if (snapshot_record_served(snap, time(NULL), &d) < 0)
		log_diag(&d);
	diag_finish(&d);
}

/* The two files a load leaves for `txt` and `status`. */
struct load_records {
	struct daemon *dm;
	struct snapshot *snap;
};

static void write_load_record(void *ctx, unsigned worker, size_t begin,
	size_t end)
{
	struct load_records *job = ctx;
	for (size_t i = begin; i < end; i++) {
		if (i == 0)
			record_served(job->snap);
		else
			publish_status(job->dm);
	}
}

/*
 * record_load writes the served file and status.json of snap, the
 * snapshot dm now serves, each on a thread of its own: they share
 * nothing, and at 100,000 domains they are 12 and 24 MB that a reload
 * would otherwise write one after the other before READY=1.
 */
static void record_load(struct daemon *dm, struct snapshot *snap)
{
	struct load_records job = {dm, snap};
	parallel_run(2, 2, write_load_record, &job);
}

static bool same_text(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool access_log_json(const struct config *config)
{
	return same_text(config->access_log_format, "json");
}

/* Changes that only a restart can apply: say so instead of ignoring it. */
static void warn_restart_needed(const struct config *old,
	const struct config *new)
{
	bool same = old->listen_count == new->listen_count;
	for (size_t i = 0; same && i < old->listen_count; i++)
		same = strcmp(old->listen[i], new->listen[i]) == 0;
	if (!same)
		log_warn("listen changed: restart mta-stsd to apply it");
	if (!same_text(old->user, new->user) ||
			!same_text(old->group, new->group) ||
			!same_text(old->log_target, new->log_target) ||
			!same_text(old->tls_priorities, new->tls_priorities) ||
			old->threads != new->threads ||
			old->max_connections != new->max_connections ||
			old->max_connections_per_ip !=
				new->max_connections_per_ip ||
			old->connection_timeout != new->connection_timeout ||
			old->request_header_timeout !=
				new->request_header_timeout ||
			old->max_connection_age != new->max_connection_age ||
			old->max_request_size != new->max_request_size)
		log_warn("user, group, log_target, tls_priorities, threads or "
			"a connection limit changed: restart mta-stsd to apply "
			"them");
}

/*
 * reload builds a complete new snapshot and swaps it in. On any failure
 * the old snapshot keeps serving and every reason is logged.
 */
static void reload(struct daemon *dm)
{
	char status[64];
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(status, sizeof(status), "RELOADING=1\nMONOTONIC_USEC=%llu",
		(unsigned long long)ts.tv_sec * 1000000ull +
			(unsigned long long)ts.tv_nsec / 1000);
	notify(status);
	log_info("reloading %s", dm->config_path);

	struct diag d;
	diag_init(&d);
	struct snapshot_options options = {
		.now = time(NULL),
		.use_state = true,
		.load_certificates = true,
		.previous = dm->snapshot,
	};
	long long t0_ms = clock_now_ms();
	/* Files that did not change are not read again (a renewal's
	 * reload changes certificates, not the configuration). */
	struct config *same = snapshot_config_again(dm->snapshot);
	if (same)
		log_info("%s and its included files are unchanged: not read "
			"again", dm->config_path);
	struct snapshot *snap = same ? snapshot_create(same, &options, &d) :
		reload_snapshot(dm->config_path, dm->snapshot, &options, &d);
	log_diag(&d);
	diag_finish(&d);
	dm->last.attempted = time(NULL);
	dm->last.reload = true;
	if (snap)
		log_cost(snap, "reload", t0_ms);
	const struct config *read = snap && !same ? snapshot_config(snap) :
		NULL;
	if (read && read->domains_directory)
		log_info("reload: %zu file(s) of %s read, %zu unchanged and "
			"not read again", read->directory_files_read,
			read->domains_directory, read->directory_files_taken);
	if (!snap || http_server_install(dm->http, snap) < 0) {
		log_error("reload failed: still serving the previous "
			"configuration (%zu domain(s))",
			snapshot_domain_count(dm->snapshot));
		snapshot_unref(snap);
		dm->last.ok = false;
		metrics_reload_failed(dm->metrics);
		publish_status(dm);
		notify("READY=1\nSTATUS=reload failed, serving the previous "
			"configuration");
		return;
	}
	const struct config *config = snapshot_config(snap);
	warn_restart_needed(snapshot_config(dm->snapshot), config);
	enum log_level level = LOG_LEVEL_INFO;
	if (config->log_level && log_level_parse(config->log_level, &level))
		log_set_level(level);
	http_server_set_access_log(dm->http, config->access_log,
		access_log_json(config));
	if (!same_text(snapshot_config(dm->snapshot)->metrics_listen,
			config->metrics_listen))
		log_warn("metrics_listen changed: restart mta-stsd to apply it");
	changes_log(dm->snapshot, snap);
	dm->last.ok = true;
	dm->last.loaded = dm->last.attempted;
	metrics_loaded(dm->metrics, snap, true, dm->last.loaded);

	struct snapshot *old = dm->snapshot;
	dm->snapshot = snap;
	log_loaded(snap, "reloaded");
	/* Before READY=1: a `status` or `txt` right after the reload sees
	 * it. */
	record_load(dm, snap);
	announce_serving(snap);
	/* After READY=1: freeing what only the old snapshot held (its SNI
	 * table, the domains that changed) need not delay it. When no
	 * connection holds the old snapshot it is gone now. */
	snapshot_unref(old);
	snapshot_release_memory();
	acme_link_sync(&dm->acme, snap, &dm->http01_fd);
}

/*
 * Renewals share every other domain with the snapshot they replace; past
 * this many in a row the next new certificate rebuilds as a reload, which
 * looks at every domain's files again.
 */
#define ACME_RENEW_CHAIN_MAX 8

/*
 * install_certificates serves the certificates the ACME thread just put
 * in the state directory, from the next handshake on: the new snapshot
 * differs from the current one only in those domains' credentials.
 */
static void install_certificates(struct daemon *dm)
{
	size_t count;
	char **hosts = acme_link_take(dm->acme, &count);
	if (!count)
		return;
	if (snapshot_renewal_count(dm->snapshot) >= ACME_RENEW_CHAIN_MAX) {
		log_info("acme: new certificates: rebuilding from %s",
			dm->config_path);
		reload(dm);
	} else {
		struct diag d;
		diag_init(&d);
		struct snapshot *snap = snapshot_renew(dm->snapshot,
			(const char *const *)hosts, count, time(NULL), &d);
		log_diag(&d);
		diag_finish(&d);
		if (!snap || http_server_install(dm->http, snap) < 0) {
			log_error("acme: cannot serve the new certificate of "
				"%s: it is served after the next reload",
				hosts[0]);
			snapshot_unref(snap);
		} else {
			snapshot_unref(dm->snapshot);
			dm->snapshot = snap;
			snapshot_release_memory();
			/* New certificates: their expiry in the metrics and
			 * in `status`. */
			dm->last.loaded = time(NULL);
			metrics_loaded(dm->metrics, snap, false,
				dm->last.loaded);
			record_load(dm, snap);
			for (size_t i = 0; i < count; i++)
				log_info("acme: %s: serving its new "
					"certificate", hosts[i]);
		}
	}
	for (size_t i = 0; i < count; i++)
		free(hosts[i]);
	free(hosts);
}

static void drain_and_stop(struct daemon *dm)
{
	notify("STOPPING=1");
	http_server_quiesce(dm->http);
	/* Requests in flight get a bounded time to finish; idle keep-alive
	 * connections are simply closed. */
	for (unsigned i = 0; i < DRAIN_SECONDS * 10; i++) {
		if (http_server_busy_count(dm->http) == 0)
			break;
		struct timespec pause = { 0, 100 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	http_server_stop(dm->http);
	dm->http = NULL;
}

/* Runs until TERM or INT. Returns the exit code. */
static int event_loop(struct daemon *dm)
{
	for (;;) {
		/* The second fd: a snapshot was freed (by whichever thread let
		 * it go); its memory is given back here, off the workers. */
		struct pollfd pfd[3] = {
			{ .fd = dm->signal_fd, .events = POLLIN },
			{ .fd = snapshot_release_notifier(), .events = POLLIN },
			{ .fd = acme_link_fd(dm->acme), .events = POLLIN },
		};
		/* poll(2) skips negative descriptors. */
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error_errno("poll");
			return EXIT_INVALID;
		}
		if (pfd[1].fd >= 0 && (pfd[1].revents & POLLIN))
			snapshot_release_memory();
		if (pfd[2].fd >= 0 && (pfd[2].revents & POLLIN))
			install_certificates(dm);
		if (!(pfd[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		ssize_t n = read(dm->signal_fd, &si, sizeof(si));
		if (n != (ssize_t)sizeof(si))
			continue;
		switch (si.ssi_signo) {
		case SIGHUP:
			reload(dm);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("stopping on signal %u", si.ssi_signo);
			drain_and_stop(dm);
			return EXIT_OK;
		default:
			break;
		}
	}
}

static int block_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Blocked before any thread starts, so every thread inherits it and
	 * signals arrive only through the signalfd of the main loop. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static struct http_options http_options_for(const struct config *config,
	const struct daemon *dm)
{
	return (struct http_options){
		.listen_fds = dm->fds,
		.listen_count = (size_t)dm->fd_count,
		.threads = thread_count(config),
		.max_connections = config->max_connections,
		.max_connections_per_ip = config->max_connections_per_ip,
		.connection_timeout = config->connection_timeout,
		.request_header_timeout = config->request_header_timeout,
		.max_connection_age = config->max_connection_age,
		.max_request_size = config->max_request_size,
		.tls_priorities = config->tls_priorities ?
			config->tls_priorities : TLS_DEFAULT_PRIORITIES,
		.access_log = config->access_log,
		.access_log_json = access_log_json(config),
		.metrics = dm->metrics,
	};
}

static int run_daemon(struct daemon *dm, struct snapshot *snap)
{
	dm->snapshot = snap;
	/* Made before any worker thread exists, which may free snapshots. */
	if (snapshot_release_notifier() < 0)
		log_warn_errno("cannot make the memory release eventfd: memory of "
			"old snapshots is given back only after reloads");
	dm->metrics = metrics_create();
	if (!dm->metrics) {
		log_error("cannot start the HTTP server: out of memory");
		return EXIT_INVALID;
	}
	struct http_options options = http_options_for(snapshot_config(snap),
		dm);
	dm->http = http_server_start(&options, snap);
	if (!dm->http)
		return EXIT_INVALID;
	dm->last = (struct status_reload){ .started = time(NULL), .ok = true };
	dm->last.loaded = dm->last.attempted = dm->last.started;
	metrics_loaded(dm->metrics, snap, false, dm->last.loaded);
	if (dm->metrics_fd >= 0) {
		dm->metrics_server = metrics_server_start(dm->metrics,
			dm->metrics_fd);
		dm->metrics_fd = -1;	/* the server owns it now */
		if (!dm->metrics_server)
			return EXIT_INVALID;
	}
	log_loaded(snap, "serving");
	record_load(dm, snap);
	announce_serving(snap);
	snapshot_release_memory();
	acme_link_sync(&dm->acme, snap, &dm->http01_fd);
	return event_loop(dm);
}

static void daemon_finish(struct daemon *dm)
{
	acme_link_stop(dm->acme);
	dm->acme = NULL;
	if (dm->http01_fd >= 0)
		close(dm->http01_fd);
	metrics_server_stop(dm->metrics_server);
	if (dm->metrics_fd >= 0)
		close(dm->metrics_fd);
	http_server_stop(dm->http);
	metrics_destroy(dm->metrics);
	snapshot_unref(dm->snapshot);
	if (dm->signal_fd >= 0)
		close(dm->signal_fd);
	if (dm->running_fd >= 0)
		close(dm->running_fd);
	free(dm->fds);
}

/*
 * bind_drop_load does steps 2 to 4 for serve and demo: sockets, then
 * privileges, then the snapshot (taking ownership of config). as_root,
 * when set, holds the findings of reading config as root (serve): after
 * the drop, config is used as it is when the service user can open every
 * file it came from, else read again as that user (the findings then say
 * what it cannot read). NULL on failure, with every reason logged.
 */
static struct snapshot *bind_drop_load(struct daemon *dm,
	struct config *config, const char *user, const char *group,
	const struct snapshot_options *options, struct diag *as_root)
{
	dm->fd_count = open_sockets(config, &dm->fds);
	/* http-01's plain port is bound now too: it may be below 1024. */
	if (dm->fd_count >= 0 && config->acme.enabled &&
			config->acme.http01_listen &&
			!strcmp(config->acme.challenge, "http-01") &&
			(dm->http01_fd = bind_one(config->acme.http01_listen)) < 0)
		dm->fd_count = -1;
	/* The metrics listener is bound here too: its port may be below
	 * 1024, and it is never one of the TLS listeners. */
	if (dm->fd_count >= 0 && config->metrics_listen) {
		dm->metrics_fd = bind_one(config->metrics_listen);
		if (dm->metrics_fd < 0)
			dm->fd_count = -1;
		else
			log_info("metrics on http://%s/metrics (plain HTTP)",
				config->metrics_listen);
	}
	if (dm->fd_count < 0 || drop_privileges(user, group) < 0 ||
			drop_capabilities() < 0) {
		if (as_root)
			diag_finish(as_root);
		config_finish(config);
		free(config);
		return NULL;
	}
	struct diag d;
	diag_init(&d);
	long long t0_ms = clock_now_ms();
	/* Every reload reads as the service user: a file only root can read
	 * fails now, not at the next reload. Read again only then (one
	 * parse of 100,000 domains is most of a second). */
	if (as_root && config_sources_readable(config)) {
		diag_move(&d, as_root);
	} else if (as_root) {
		diag_finish(as_root);
		config_finish(config);
		free(config);
		config = load_config(dm->config_path, NULL, &d);
	}
	/* A certificate a crash left half moved into place is finished
	 * before anything reads it. */
	if (config)
		acme_link_recover(config);
	struct snapshot *snap = config ?
		snapshot_create(config, options, &d) : NULL;
	log_diag(&d);
	diag_finish(&d);
	if (snap)
		log_cost(snap, "start", t0_ms);
	else
		log_error("%s: configuration invalid, not starting",
			dm->config_path);
	return snap;
}

static int cmd_serve(const char *config_path)
{
	struct daemon dm = { .config_path = config_path, .signal_fd = -1,
		.running_fd = -1, .http01_fd = -1, .metrics_fd = -1 };
	int rc = EXIT_INVALID;

	log_init(LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	log_use_timestamps(true);
	dm.signal_fd = block_signals();
	if (dm.signal_fd < 0) {
		log_error_errno("cannot set up signal handling");
		return EXIT_INVALID;
	}

	/* 1. The configuration alone, so that errors show before binding.
	 * As root, its findings are logged in step 4, when the service user
	 * has been found able to read every file of it (or has read it
	 * again), or now when it cannot be used at all. */
	struct diag d, as_root;
	diag_init(&d);
	diag_init(&as_root);
	bool root = geteuid() == 0;
	struct config *config = load_config(config_path, NULL,
		root ? &as_root : &d);
	if (!config && root)
		diag_move(&d, &as_root);
	log_diag(&d);
	diag_finish(&d);
	if (!config) {
		log_error("%s: configuration invalid, not starting",
			config_path);
		goto out;
	}
	apply_log_settings(config);
	if (tls_init(config->tls_priorities ? config->tls_priorities :
			TLS_DEFAULT_PRIORITIES) < 0) {
		diag_finish(&as_root);
		config_finish(config);
		free(config);
		goto out;
	}

	/* 2 to 4: everything else is loaded as the service user. */
	struct snapshot_options options = {
		.now = time(NULL),
		.use_state = true,
		.load_certificates = true,
	};
	/* Read once more only when the drop changes who reads. */
	struct snapshot *snap = bind_drop_load(&dm, config, config->user,
		config->group, &options, root ? &as_root : NULL);
	if (!snap)
		goto out_tls;
	/* So that `mta-stsd txt` can tell a running daemon from a stopped
	 * one; held until the process ends. */
	diag_init(&d);
	dm.running_fd = state_mark_running(
		snapshot_config(snap)->state_directory, &d);
	log_diag(&d);
	diag_finish(&d);

	/* 5 and 6. */
	rc = run_daemon(&dm, snap);
out_tls:
	daemon_finish(&dm);
	tls_finish();
	return rc;
out:
	daemon_finish(&dm);
	return rc;
}

static int cmd_demo(const char *listen)
{
	struct daemon dm = { .config_path = "(built-in demo)", .signal_fd = -1,
		.running_fd = -1, .http01_fd = -1, .metrics_fd = -1 };
	int rc = EXIT_INVALID;

	log_init(LOG_LEVEL_INFO, LOG_TARGET_STDERR);
	char host[256];
	unsigned port;
	if (config_parse_listen(listen, host, sizeof(host), &port) < 0 ||
			strcmp(host, "*") == 0) {
		log_error("--listen \"%s\": not an address:port — for example "
			"127.0.0.1:8443 or [::1]:8443", listen);
		return EXIT_USAGE;
	}
	dm.signal_fd = block_signals();
	if (dm.signal_fd < 0 || tls_init(TLS_DEFAULT_PRIORITIES) < 0)
		goto out;
	char text[sizeof(demo_config) + 300];
	snprintf(text, sizeof(text), demo_config, listen);

	struct diag d;
	diag_init(&d);
	struct config *config = calloc(1, sizeof(*config));
	if (!config || config_load_string(text, "(built-in demo)", config,
			&d) < 0) {
		log_diag(&d);
		diag_finish(&d);
		if (config)
			config_finish(config);
		free(config);
		goto out_tls;
	}
	diag_finish(&d);

	/* The demo reads no file after start; as root it runs as nobody. */
	struct snapshot_options options = {
		.now = time(NULL),
		.load_certificates = true,
		.generate_certificates = true,
	};
	struct snapshot *snap = bind_drop_load(&dm, config, "nobody",
		"nogroup", &options, NULL);
	if (!snap)
		goto out_tls;

	const struct snapshot_domain *sd = snapshot_domain_at(snap, 0);
	/* curl wants IPv6 addresses in brackets in --resolve. */
	bool v6 = strchr(host, ':') != NULL;
	printf("mta-stsd demo: serving https://%s:%u/.well-known/mta-sts.txt "
		"(self-signed certificate made at start)\n"
		"Fetch it from another terminal:\n\n"
		"  curl --insecure --resolve %s:%u:%s%s%s "
		"https://%s:%u/.well-known/mta-sts.txt\n\n"
		"The matching DNS record:\n\n"
		"  _mta-sts.%s. 3600 IN TXT \"v=STSv1; id=%s\"\n\n"
		"Stop with Ctrl-C.\n", sd->host, port, sd->host, port,
		v6 ? "[" : "", host, v6 ? "]" : "", sd->host, port,
		sd->config->name, sd->id);
	fflush(stdout);
	rc = run_daemon(&dm, snap);
out_tls:
	daemon_finish(&dm);
	tls_finish();
	return rc;
out:
	daemon_finish(&dm);
	return rc;
}

static void print_domain_summary(const struct snapshot_domain *sd, time_t now)
{
	const struct config_domain *cd = sd->config;
	char expiry[64] = "not loaded";
	if (sd->cert_loaded) {
		char date[16];
		clock_format_date(sd->cert.not_after, date, sizeof(date));
		long days = (long)((sd->cert.not_after - now) / 86400);
		snprintf(expiry, sizeof(expiry), "%s (%ld days)", date, days);
	}
	printf("%s: mode %s, max_age %u, %zu mx, certificate expires %s, "
		"id %s%s\n", cd->name, policy_mode_name(cd->policy.mode),
		cd->policy.max_age, cd->policy.mx_count, expiry, sd->id,
		cd->id ? "" : " (managed)");
}

/* The normalised configuration, in the configuration file's own syntax. */
static void print_config_dump(const struct snapshot *snap)
{
	const struct config *c = snapshot_config(snap);
	printf("# %s, normalised\n", c->file);
	printf("listen = [");
	for (size_t i = 0; i < c->listen_count; i++)
		printf("%s \"%s\"", i ? "," : "", c->listen[i]);
	printf(" ];\n");
	printf("user = \"%s\";\ngroup = \"%s\";\n", c->user ? c->user : "",
		c->group ? c->group : "");
	printf("state_directory = \"%s\";\n", c->state_directory);
	printf("tls_priorities = \"%s\";\n",
		c->tls_priorities ? c->tls_priorities : TLS_DEFAULT_PRIORITIES);
	printf("log_level = \"%s\";\nlog_target = \"%s\";\n", c->log_level,
		c->log_target);
	printf("access_log = %s;\n", c->access_log ? "true" : "false");
	printf("access_log_format = \"%s\";\n", c->access_log_format);
	if (c->metrics_listen)
		printf("metrics_listen = \"%s\";\n", c->metrics_listen);
	printf("threads = %u;\nmax_connections = %u;\n"
		"max_connections_per_ip = %u;\nconnection_timeout = %u;\n"
		"request_header_timeout = %u;\nmax_connection_age = %u;\n"
		"max_request_size = %u;\ntxt_ttl = %u;\n", c->threads,
		c->max_connections, c->max_connections_per_ip,
		c->connection_timeout, c->request_header_timeout,
		c->max_connection_age, c->max_request_size, c->txt_ttl);
	printf("domains = (\n");
	for (size_t i = 0; i < snapshot_domain_count(snap); i++) {
		const struct snapshot_domain *sd = snapshot_domain_at(
			(struct snapshot *)snap, i);
		const struct config_domain *cd = sd->config;
		printf("  { name = \"%s\"; mode = \"%s\"; max_age = %u;\n"
			"    mx = [", cd->name, policy_mode_name(cd->policy.mode),
			cd->policy.max_age);
		for (size_t j = 0; j < cd->policy.mx_count; j++)
			printf("%s \"%s\"", j ? "," : "", cd->policy.mx[j]);
		printf(" ];\n    cert = \"%s\";\n    key = \"%s\";\n",
			cd->cert, cd->key);
		/* A managed id stays a comment: pasted back as a setting it
		 * would stop following the policy. */
		if (cd->id)
			printf("    id = \"%s\";", sd->id);
		else
			printf("    # id %s (managed)", sd->id);
		if (cd->tlsrpt_rua)
			printf("\n    tlsrpt_rua = \"%s\";", cd->tlsrpt_rua);
		printf(" }%s\n", i + 1 < snapshot_domain_count(snap) ? "," : "");
	}
	printf(");\n");
}

/* What `check-config` was asked for. */
struct check_request {
	const char *config_path;
	bool verbose;		/* -v: the normalised configuration */
	bool quiet;		/* -q: nothing unless something is wrong */
	bool json;
	char **domains;		/* DOMAIN...: only these */
	size_t domain_count;
};

/*
 * Where one domain's entry is written: its findings fall in [from, to).
 * file is a copy: the configuration's domains move into the snapshot.
 */
struct entry_range {
	char *file;
	unsigned from, to;
};

/*
 * entry_ranges works out, before config_keep_only drops the rest, the
 * lines of each asked-for domain's entry: from its first line to the next
 * entry of the same file. Findings in that range are the domain's own.
 */
static struct entry_range *entry_ranges(const struct config *config,
	char *const *names, size_t count, size_t *n)
{
	struct entry_range *r = calloc(config->domain_count +
		config->skipped_count + 1, sizeof(*r));
	*n = 0;
	for (size_t i = 0; r && i < config->domain_count +
			config->skipped_count; i++) {
		bool is_domain = i < config->domain_count;
		const struct config_skipped *k = is_domain ? NULL :
			&config->skipped[i - config->domain_count];
		const char *name = is_domain ? config->domains[i].name : k->name;
		const char *file = is_domain ? config->domains[i].file : k->file;
		unsigned line = is_domain ? config->domains[i].line : k->line;
		bool wanted = false;
		for (size_t j = 0; j < count && !wanted; j++)
			wanted = dnsname_equal(name, names[j]) ||
				strcmp(name, names[j]) == 0;
		if (!wanted || !file)
			continue;
		unsigned to = UINT_MAX;
		for (size_t j = 0; j < config->domain_count; j++) {
			const struct config_domain *o = &config->domains[j];
			if (o->file && !strcmp(o->file, file) && o->line > line &&
					o->line < to)
				to = o->line;
		}
		char *copy = strdup(file);
		if (copy)
			r[(*n)++] = (struct entry_range){ copy, line, to };
	}
	return r;
}

static void free_ranges(struct entry_range *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		free(r[i].file);
	free(r);
}

/* Is finding it one of the asked-for domains' (or of no file at all)? */
static bool in_ranges(const struct diag_item *it,
	const struct entry_range *r, size_t n)
{
	if (!it->file)
		return true;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(it->file, r[i].file) && (it->line == 0 ||
				(it->line >= r[i].from && it->line < r[i].to)))
			return true;
	}
	return false;
}

static json_object *json_finding(const struct diag_item *it)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "severity",
		json_object_new_string(diag_severity_name(it->severity)));
	json_object_object_add(o, "file", it->file ?
		json_object_new_string(it->file) : NULL);
	json_object_object_add(o, "line", json_object_new_int64(it->line));
	json_object_object_add(o, "code", it->code ?
		json_object_new_string(it->code) : NULL);
	json_object_object_add(o, "message",
		json_object_new_string(it->message ? it->message : ""));
	return o;
}

/*
 * print_check_json writes the whole verdict as one JSON object: the
 * domains served (with id and certificate expiry), those not served with
 * their reason, and every finding.
 */
static void print_check_json(const struct check_request *req,
	struct snapshot *snap, const struct diag *d,
	const struct entry_range *ranges, size_t nranges, const char *verdict)
{
	json_object *root = json_object_new_object();
	json_object_object_add(root, "config",
		json_object_new_string(req->config_path));
	json_object_object_add(root, "verdict", json_object_new_string(verdict));
	json_object *served = json_object_new_array();
	json_object *lost = json_object_new_array();
	for (size_t i = 0; snap && i < snapshot_domain_count(snap); i++) {
		const struct snapshot_domain *sd = snapshot_domain_at(snap, i);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "domain",
			json_object_new_string(sd->config->name));
		json_object_object_add(o, "mode", json_object_new_string(
			policy_mode_name(sd->config->policy.mode)));
		json_object_object_add(o, "id", json_object_new_string(sd->id));
		json_object_object_add(o, "id_managed",
			json_object_new_boolean(sd->config->id == NULL));
		json_object_object_add(o, "certificate_expires",
			sd->cert_loaded ? json_object_new_int64(
			(int64_t)sd->cert.not_after) : NULL);
		json_object_array_add(served, o);
	}
	for (size_t i = 0; snap && i < snapshot_problem_count(snap); i++) {
		const struct snapshot_problem *p = snapshot_problem_at(snap, i);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "domain",
			json_object_new_string(p->name));
		json_object_object_add(o, "reason",
			json_object_new_string(p->reason));
		json_object_object_add(o, "file", p->file ?
			json_object_new_string(p->file) : NULL);
		json_object_object_add(o, "line", json_object_new_int64(p->line));
		json_object_array_add(lost, o);
	}
	json_object_object_add(root, "served", served);
	json_object_object_add(root, "not_served", lost);
	json_object *findings = json_object_new_array();
	for (size_t i = 0; i < d->len; i++) {
		if (!req->domain_count || in_ranges(&d->items[i], ranges,
				nranges))
			json_object_array_add(findings,
				json_finding(&d->items[i]));
	}
	json_object_object_add(root, "findings", findings);
	puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
		JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

/* Exit status of check-config when it loads but a domain is not served. */
#define EXIT_NOT_SERVED 3

static int cmd_check_config(const struct check_request *req)
{
	const char *config_path = req->config_path;
	struct diag d;
	diag_init(&d);
	time_t now = time(NULL);
	struct snapshot_options options = {
		.now = now,
		.use_state = true,
		.load_certificates = true,
	};
	if (tls_init(NULL) < 0)
		return EXIT_INVALID;
	/* Read the configuration, its includes, keys and the state directory
	 * as the daemon will: as root, check with the service user's rights,
	 * so that a file only root can read fails here and not at the next
	 * reload. What root read stands when that user can open every file
	 * of it (the same bytes give the same findings); else it is read
	 * again as that user, whose findings say what it cannot read. */
	struct snapshot *snap = NULL;
	struct config *config = load_config(config_path, NULL, &d);
	char checked_as[256] = "";
	if (config && geteuid() == 0) {
		log_init(LOG_LEVEL_WARN, LOG_TARGET_STDERR);
		snprintf(checked_as, sizeof(checked_as), "%s",
			config->user ? config->user : "");
		int dropped = drop_privileges(config->user, config->group);
		if (dropped < 0 || !config_sources_readable(config)) {
			config_finish(config);
			free(config);
			config = NULL;
			diag_finish(&d);
			diag_init(&d);
		}
		if (dropped < 0)
			diag_add(&d, DIAG_ERROR, config_path, 0, "check-user",
				"cannot check as user %s, as the daemon would "
				"run — see the error above", checked_as[0] ?
				checked_as : "(none)");
		else if (!config)
			config = load_config(config_path, NULL, &d);
	}

	/* DOMAIN...: only their certificates are loaded, only their
	 * findings shown; a name that is not configured is an error. */
	struct entry_range *ranges = NULL;
	size_t nranges = 0;
	bool unknown = false;
	if (config && req->domain_count) {
		ranges = entry_ranges(config, req->domains, req->domain_count,
			&nranges);
		for (size_t i = 0; i < req->domain_count; i++) {
			bool found = config_find_domain(config, req->domains[i]);
			for (size_t j = 0; !found && j < config->skipped_count;
					j++)
				found = !strcmp(config->skipped[j].name,
					req->domains[i]);
			if (!found) {
				diag_add(&d, DIAG_ERROR, NULL, 0,
					"check-domain-unknown", "%s: not a "
					"configured domain — check the name, or "
					"add it to %s", req->domains[i],
					config_path);
				unknown = true;
			}
		}
		config_keep_only(config, req->domains, req->domain_count);
		options.subset = true;
	}
	if (config && (config->domain_count || config->skipped_count))
		snap = snapshot_create(config, &options, &d);
	else if (config) {
		config_finish(config);
		free(config);
	}

	int rc = EXIT_OK;
	const char *verdict = "ok";
	if (!snap || unknown) {
		rc = EXIT_INVALID;
		verdict = "invalid";
	} else if (snapshot_not_served_count(snap)) {
		rc = EXIT_NOT_SERVED;
		verdict = "not-all-served";
	}
	if (req->json) {
		print_check_json(req, snap, &d, ranges, nranges, verdict);
		goto out;
	}

	/* Findings on stderr: in quiet mode only when something is wrong,
	 * and then only the errors (a hook's output is for failures). */
	bool wrong = rc != EXIT_OK;
	for (size_t i = 0; i < d.len; i++) {
		const struct diag_item *it = &d.items[i];
		if (req->domain_count && !in_ranges(it, ranges, nranges))
			continue;
		if (req->quiet && (!wrong || it->severity != DIAG_ERROR))
			continue;
		diag_print_item(it, stderr);
	}
	if (req->quiet)
		goto out;
	if (snap) {
		if (checked_as[0])
			fprintf(stderr, "%s: configuration, certificates, keys "
				"and state read as user %s, as the daemon reads "
				"them\n", config_path, checked_as);
		if (req->verbose) {
			print_config_dump(snap);
		} else {
			for (size_t i = 0; i < snapshot_domain_count(snap); i++)
				print_domain_summary(snapshot_domain_at(snap,
					i), now);
		}
		for (size_t i = 0; i < snapshot_problem_count(snap); i++) {
			const struct snapshot_problem *p =
				snapshot_problem_at(snap, i);
			printf("%s: not served (%s)\n", p->name, p->reason);
		}
	}
	if (rc == EXIT_OK) {
		printf("%s: configuration OK (%zu domain(s), %zu warning(s))\n",
			config_path, snapshot_domain_count(snap), d.warnings);
	} else if (rc == EXIT_NOT_SERVED) {
		char line[1024];
		describe_serving(snap, "will serve", line, sizeof(line));
		printf("%s: %s (%zu error(s), %zu warning(s))\n", config_path,
			line, d.errors, d.warnings);
	} else {
		printf("%s: configuration invalid: %zu error(s), %zu "
			"warning(s)\n", config_path, d.errors, d.warnings);
	}
out:
	free_ranges(ranges, nranges);
	snapshot_unref(snap);
	diag_finish(&d);
	tls_finish();
	return rc;
}

/* ---------------------------------------------------------------------
 * txt
 * --------------------------------------------------------------------- */

enum txt_format {
	TXT_ZONE,
	TXT_VALUE,
	TXT_JSON,
};

/* What `txt` found out about one domain's id, for its advice. */
enum publish_state {
	PUBLISH_SAFE,		/* the running daemon serves it */
	PUBLISH_ID_UNCHANGED,	/* the policy changed under the same id */
	PUBLISH_RELOAD,		/* the running daemon serves something else */
	PUBLISH_START,		/* no daemon runs */
	PUBLISH_UNKNOWN,	/* cannot tell whether a daemon runs */
};

/*
 * served_status tells whether the running daemon already serves the policy
 * behind the id (RFC 8461 §8.1: publish the TXT id only after that).
 */
static const char *served_status(const struct state *state,
	const struct snapshot_domain *sd)
{
	const struct state_record *served = state ?
		state_find_served(state, sd->config->name) : NULL;
	if (!served)
		return "not-served";
	if (strcmp(served->id, sd->id) == 0 &&
			strcmp(served->digest, sd->digest) == 0)
		return "served";
	return "stale";
}

/*
 * publish_state: an explicit id whose stored digest differs is the
 * forgotten bump check-config warns about; publishing it again changes
 * nothing for senders, so it is never "safe", whatever is served.
 */
static enum publish_state publish_state(const struct state *state,
	const struct snapshot_domain *sd, enum state_daemon daemon)
{
	const struct state_record *ids = state ?
		state_find_id(state, sd->config->name) : NULL;
	if (sd->config->id && ids && strcmp(ids->id, sd->id) == 0 &&
			strcmp(ids->digest, sd->digest) != 0)
		return PUBLISH_ID_UNCHANGED;
	bool served = strcmp(served_status(state, sd), "served") == 0;
	switch (daemon) {
	case STATE_DAEMON_RUNNING:
		return served ? PUBLISH_SAFE : PUBLISH_RELOAD;
	case STATE_DAEMON_NEVER:
	case STATE_DAEMON_STOPPED:
		return PUBLISH_START;
	case STATE_DAEMON_UNKNOWN:
		break;
	}
	return served ? PUBLISH_SAFE : PUBLISH_UNKNOWN;
}

static const char *daemon_name(enum state_daemon daemon)
{
	switch (daemon) {
	case STATE_DAEMON_RUNNING:
		return "running";
	case STATE_DAEMON_STOPPED:
		return "stopped";
	case STATE_DAEMON_NEVER:
		return "never-started";
	case STATE_DAEMON_UNKNOWN:
		break;
	}
	return "unknown";
}

/* Says on stderr what to do before publishing; nothing when it is safe. */
static void advise_publish(const struct snapshot_domain *sd,
	enum publish_state ps, enum state_daemon daemon)
{
	const char *name = sd->config->name, *id = sd->id;
	switch (ps) {
	case PUBLISH_SAFE:
		return;
	case PUBLISH_ID_UNCHANGED:
		fprintf(stderr, "%s: do not publish id %s: the policy changed "
			"but its id did not, so senders keep the old policy — "
			"set a new id (mta-stsd txt --bump prints one), reload "
			"mta-stsd, then publish that id\n", name, id);
		return;
	case PUBLISH_RELOAD:
		fprintf(stderr, "%s: the running mta-stsd does not serve this "
			"policy yet — reload it (systemctl reload mta-stsd) "
			"before you publish id %s (RFC 8461 §8.1)\n", name, id);
		return;
	case PUBLISH_START:
		fprintf(stderr, "%s: mta-stsd is not running%s — start it "
			"(systemctl start mta-stsd) before you publish id %s "
			"(RFC 8461 §8.1)\n", name, daemon == STATE_DAEMON_NEVER ?
			" (it has never run with this state directory)" :
			" (it has stopped)", id);
		return;
	case PUBLISH_UNKNOWN:
		fprintf(stderr, "%s: mta-stsd does not serve this policy yet, "
			"as far as its state directory tells — start or reload "
			"it before you publish id %s (RFC 8461 §8.1)\n", name, id);
		return;
	}
}

/* The next id and how to use it, for --bump. */
static void advise_bump(const struct config_domain *cd, const char *next)
{
	if (cd->id)
		fprintf(stderr, "%s: next id %s — set id = \"%s\"; in the "
			"configuration, reload mta-stsd, then publish "
			"\"v=STSv1; id=%s\" in DNS\n", cd->name, next, next, next);
	else
		fprintf(stderr, "%s: next id %s — this id is managed: mta-stsd "
			"changes it by itself when the policy changes; set id = "
			"\"%s\"; to force a new one, reload, then publish it in "
			"DNS\n", cd->name, next, next);
}

/* One record in the chosen format; value is the unquoted record text. */
static int print_record(const char *owner, const struct config *config,
	const char *value, enum txt_format format, bool named, bool unquoted)
{
	char *quoted = unquoted ? NULL : txt_quote(value);
	if (!unquoted && !quoted)
		return -1;
	const char *data = unquoted ? value : quoted;
	if (format == TXT_ZONE)
		printf("%s. %u IN TXT %s\n", owner, config->txt_ttl, data);
	else if (named)
		printf("%s\t%s\n", owner, data);
	else
		printf("%s\n", data);
	free(quoted);
	return 0;
}

struct txt_run {
	const struct config *config;
	const struct state *state;
	enum state_daemon daemon;
	enum txt_format format;
	bool bump;
	bool named;		/* --value: print owner names (several domains) */
	bool unquoted;
	time_t now;
	size_t safe;		/* domains safe to publish */
};

/* Prints one domain's records; 0, or -1 after saying why it could not. */
static int print_txt_domain(struct txt_run *t, const struct snapshot_domain *sd)
{
	const struct config_domain *cd = sd->config;
	char sts[128];
	txt_sts_value(sd->id, sts, sizeof(sts));
	char *rpt = NULL;
	if (cd->tlsrpt_rua) {
		size_t size = TXT_TLSRPT_SIZE(cd->tlsrpt_rua);
		rpt = malloc(size);
		if (!rpt || txt_tlsrpt_value(cd->tlsrpt_rua, rpt, size) < 0) {
			/* The loader checked it with the same rules. */
			fprintf(stderr, "%s: tlsrpt_rua \"%s\" cannot be "
				"published — fix it in the configuration "
				"(mta-stsd check-config says how)\n", cd->name,
				cd->tlsrpt_rua);
			free(rpt);
			return -1;
		}
	}
	enum publish_state ps = publish_state(t->state, sd, t->daemon);
	char next[TXT_ID_MAX + 1] = "";
	if (t->bump && txt_id_bump(sd->id, t->now, next) < 0)
		next[0] = '\0';
	char sts_name[300], rpt_name[300];
	snprintf(sts_name, sizeof(sts_name), "_mta-sts.%s", cd->name);
	snprintf(rpt_name, sizeof(rpt_name), "_smtp._tls.%s", cd->name);

	int rc = 0;
	if (t->format == TXT_JSON) {
		json_object *o = json_object_new_object();
		char name[310];
		json_object_object_add(o, "domain",
			json_object_new_string(cd->name));
		snprintf(name, sizeof(name), "%s.", sts_name);
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "ttl",
			json_object_new_int64(t->config->txt_ttl));
		json_object_object_add(o, "value", json_object_new_string(sts));
		json_object_object_add(o, "id", json_object_new_string(sd->id));
		json_object_object_add(o, "id_managed",
			json_object_new_boolean(cd->id == NULL));
		json_object_object_add(o, "served", json_object_new_string(
			served_status(t->state, sd)));
		json_object_object_add(o, "daemon",
			json_object_new_string(daemon_name(t->daemon)));
		json_object_object_add(o, "safe_to_publish",
			json_object_new_boolean(ps == PUBLISH_SAFE));
		if (rpt) {
			snprintf(name, sizeof(name), "%s.", rpt_name);
			json_object_object_add(o, "tlsrpt_name",
				json_object_new_string(name));
			json_object_object_add(o, "tlsrpt_value",
				json_object_new_string(rpt));
		}
		if (next[0])
			json_object_object_add(o, "next_id",
				json_object_new_string(next));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else if (print_record(sts_name, t->config, sts, t->format, t->named,
			t->unquoted) < 0 || (rpt && print_record(rpt_name,
			t->config, rpt, t->format, t->named, t->unquoted) < 0)) {
		fprintf(stderr, "%s: out of memory\n", cd->name);
		rc = -1;
	}
	free(rpt);
	if (t->format != TXT_JSON)
		advise_publish(sd, ps, t->daemon);
	if (ps == PUBLISH_SAFE)
		t->safe++;
	if (t->bump && next[0])
		advise_bump(cd, next);
	return rc;
}

/* One line for all domains, so a run over 200 domains stays readable. */
static void print_txt_summary(const struct txt_run *t,
	const struct snapshot_domain *only, size_t count)
{
	if (t->format == TXT_JSON || count == 0)
		return;
	if (t->safe == count && only)
		fprintf(stderr, "%s: served by the running mta-stsd: safe to "
			"publish id %s\n", only->config->name, only->id);
	else if (t->safe == count)
		fprintf(stderr, "all %zu domains are served by the running "
			"mta-stsd: safe to publish\n", count);
	else if (count > 1)
		fprintf(stderr, "%zu of %zu domains safe to publish; do what "
			"the lines above say for the others\n", t->safe, count);
}

static int cmd_txt(const char *config_path, enum txt_format format,
	bool bump, bool unquoted, char **domains, int domain_count)
{
	struct diag d;
	diag_init(&d);
	time_t now = time(NULL);
	/* txt needs no keys: whoever may read the configuration may ask. */
	struct snapshot_options options = {
		.now = now,
		.use_state = true,
	};
	if (tls_init(NULL) < 0)
		return EXIT_INVALID;
	struct snapshot *snap = load_snapshot(config_path, &options, &d);
	diag_print(&d, stderr);
	diag_finish(&d);
	if (!snap) {
		tls_finish();
		return EXIT_INVALID;
	}
	const struct config *config = snapshot_config(snap);
	/* A domain that cannot be served has no record to print. */
	int rc = snapshot_not_served_count(snap) ? EXIT_INVALID : EXIT_OK;

	/* A second look at the state, for what the daemon serves now. */
	diag_init(&d);
	struct state *state = state_open(config->state_directory, &d);
	diag_print(&d, stderr);
	diag_finish(&d);

	size_t total = domain_count ? (size_t)domain_count :
		snapshot_domain_count(snap);
	struct txt_run t = {
		.config = config,
		.state = state,
		.daemon = state_daemon_status(config->state_directory),
		.format = format,
		.bump = bump,
		.named = format == TXT_VALUE && total > 1,
		.unquoted = unquoted,
		.now = now,
	};
	size_t printed = 0;
	const struct snapshot_domain *last = NULL;
	for (size_t i = 0; i < total; i++) {
		const struct snapshot_domain *sd = domain_count ?
			snapshot_find(snap, domains[i]) :
			snapshot_domain_at(snap, i);
		if (!sd) {
			/* One with a problem was named above ("not served"). */
			if (!snapshot_find_problem(snap, domains[i]))
				fprintf(stderr, "%s: not a configured domain — "
					"check the name, or add it to %s\n",
					domains[i], config_path);
			rc = EXIT_INVALID;
			continue;
		}
		if (print_txt_domain(&t, sd) < 0)
			rc = EXIT_INVALID;
		printed++;
		last = sd;
	}
	print_txt_summary(&t, printed == 1 ? last : NULL, printed);
	state_destroy(state);
	snapshot_unref(snap);
	tls_finish();
	return rc;
}

/* ---------------------------------------------------------------------
 * lint
 * --------------------------------------------------------------------- */

static char *read_input(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "mta-stsd: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
		if (n == cap) {
			if (cap >= LINT_READ_LIMIT)
				break;
			char *bigger = realloc(buf, cap * 2 + 1);
			if (!bigger) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	bool failed = ferror(f) || !buf;
	if (f != stdin)
		fclose(f);
	if (failed) {
		fprintf(stderr, "mta-stsd: %s: cannot read\n", path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int cmd_lint(const char *path, bool txt)
{
	size_t len;
	char *text = read_input(path, &len);
	if (!text)
		return EXIT_USAGE;
	const char *name = strcmp(path, "-") == 0 ? "(stdin)" : path;
	struct diag d;
	diag_init(&d);
	int rc;
	if (txt) {
		rc = txt_lint_answer(text, len, name, &d);
	} else {
		struct policy policy;
		policy_init(&policy);
		rc = policy_lint(text, len, name, &policy, &d);
		policy_finish(&policy);
	}
	diag_sort(&d);
	diag_print(&d, stdout);
	printf("%s: %s (%zu error(s), %zu warning(s))\n", name,
		rc == 0 ? (txt ? "valid TXT record" : "valid policy") :
			(txt ? "invalid TXT record" : "invalid policy"),
		d.errors, d.warnings);
	diag_finish(&d);
	free(text);
	return rc == 0 ? EXIT_OK : EXIT_INVALID;
}

/* ---------------------------------------------------------------------
 * Command line
 * --------------------------------------------------------------------- */

/*
 * acme-status: each ACME domain's certificate and order as the state
 * directory has them. Exit 0 when every one has a valid certificate,
 * EXIT_NOT_SERVED when one has none, 1 when the configuration is invalid.
 */
static int cmd_acme_status(const char *config_path)
{
	struct diag d;
	diag_init(&d);
	struct config *config = load_config(config_path, NULL, &d);
	if (!config) {
		log_diag(&d);
		diag_finish(&d);
		return EXIT_INVALID;
	}
	diag_finish(&d);
	int rc = EXIT_OK;
	if (!config->acme.enabled) {
		printf("%s has no acme group: no certificate comes from ACME\n",
			config_path);
	} else if (acme_report_print(stdout, config, time(NULL)) > 0) {
		rc = EXIT_NOT_SERVED;
	}
	config_finish(config);
	free(config);
	return rc;
}

int main(int argc, char *argv[])
{
	static const struct option long_options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "bump", no_argument, NULL, 'b' },
		{ "value", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "txt", no_argument, NULL, 't' },
		{ "listen", required_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "unquoted", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	snapshot_memory_init();
	const char *config_path = MTASTSD_CONFIG_FILE;
	const char *demo_listen = NULL;
	bool verbose = false, bump = false, txt = false, quiet = false;
	bool unquoted = false;
	enum txt_format format = TXT_ZONE;

	/* The subcommand comes first; options may follow it. */
	const char *command = "serve";
	bool command_given = false;
	if (argc > 1 && argv[1][0] != '-') {
		command = argv[1];
		command_given = true;
		argv++;
		argc--;
	}
	if (strcmp(command, "check") == 0) return check_command(argc, argv);
	if (strcmp(command, "status") == 0) return status_command(argc, argv);

	int opt;
	while ((opt = getopt_long(argc, argv, "c:vhVl:q", long_options,
			NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			if (!command_given || !usage_of(command, stdout))
				usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("mta-stsd %s\n", MTASTSD_VERSION);
			return EXIT_OK;
		case 'b':
			bump = true;
			break;
		case 'a':
			format = TXT_VALUE;
			break;
		case 'j':
			format = TXT_JSON;
			break;
		case 't':
			txt = true;
			break;
		case 'u':
			unquoted = true;
			break;
		case 'l':
			demo_listen = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	int rest = argc - optind;
	char **args = argv + optind;

	if (strcmp(command, "serve") == 0 && rest == 0 && !bump && !txt &&
			format == TXT_ZONE)
		return cmd_serve(config_path);
	if (strcmp(command, "check-config") == 0) {
		/* Name what does not belong, rather than "wrong arguments". */
		const char *stray = bump ? "--bump (it goes with txt)" :
			txt ? "--txt (it goes with lint)" :
			format == TXT_VALUE ? "--value (it goes with txt)" :
			unquoted ? "--unquoted (it goes with txt --value)" :
			demo_listen ? "--listen (it goes with demo)" :
			verbose && format == TXT_JSON ? "-v together with --json" :
			NULL;
		for (int i = 0; !stray && i < rest; i++) {
			char name[DNSNAME_MAX + 1];
			if (dnsname_normalize(args[i], false, name,
					sizeof(name)) < 0) {
				fprintf(stderr, "mta-stsd: check-config: \"%s\" is "
					"not a domain name — give the policy "
					"domains to check, e.g. example.com\n",
					args[i]);
				usage(stderr);
				return EXIT_USAGE;
			}
		}
		if (stray) {
			fprintf(stderr, "mta-stsd: check-config does not take "
				"%s\n", stray);
			usage(stderr);
			return EXIT_USAGE;
		}
		struct check_request req = {
			.config_path = config_path, .verbose = verbose,
			.quiet = quiet, .json = format == TXT_JSON,
			.domains = args, .domain_count = (size_t)rest,
		};
		return cmd_check_config(&req);
	}
	if (unquoted && (strcmp(command, "txt") != 0 || format != TXT_VALUE)) {
		fprintf(stderr, "mta-stsd: --unquoted goes with txt --value\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(command, "txt") == 0 && !txt)
		return cmd_txt(config_path, format, bump, unquoted, args, rest);
	if (strcmp(command, "lint") == 0 && rest == 1 && !bump &&
			format == TXT_ZONE)
		return cmd_lint(args[0], txt);
	if (strcmp(command, "acme-status") == 0 && rest == 0 && !bump &&
			!txt && !verbose)
		return cmd_acme_status(config_path);
	if (strcmp(command, "demo") == 0 && rest == 0)
		return cmd_demo(demo_listen ? demo_listen : DEMO_LISTEN);
	if (demo_listen) {
		fprintf(stderr, "mta-stsd: --listen goes with demo only; the "
			"daemon takes listen from its configuration\n");
		usage(stderr);
		return EXIT_USAGE;
	}

	if (strcmp(command, "serve") && strcmp(command, "check-config") &&
			strcmp(command, "txt") && strcmp(command, "lint") &&
			strcmp(command, "demo") && strcmp(command, "acme-status"))
		fprintf(stderr, "mta-stsd: unknown command \"%s\"\n", command);
	else
		fprintf(stderr, "mta-stsd: wrong arguments for %s\n", command);
	usage(stderr);
	return EXIT_USAGE;
}
