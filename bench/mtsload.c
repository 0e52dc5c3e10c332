/* SPDX-License-Identifier: MIT */
/*
 * mtsload: the benchmark's own load client, for what h2load cannot do.
 *
 *   full       a new TCP connection and a full TLS 1.3 handshake (no
 *              session data offered) per request, SNI cycling over the
 *              domains: what a sender fetching a policy once does;
 *   resume     a new connection per request that resumes the previous
 *              session of the same host (TLS 1.3 ticket, psk_dhe_ke);
 *   keepalive  one connection per thread, requests one after another;
 *   rate       full handshakes started at a fixed rate (open loop: the
 *              latency counts from the scheduled start, so a stalled
 *              server is not hidden by a waiting client);
 *   first      retries a verified GET (trust --ca, name checked) every
 *              2 ms until it succeeds and prints the time since --since;
 *   crypto     no network: the CPU time of the server's share of the
 *              crypto of one full handshake (an X25519 key pair, the
 *              X25519 shared secret, an ECDSA P-256 signature), measured
 *              with the same GnuTLS and Nettle the server uses.
 *
 * Every request must get "200" and a body starting "version: STSv1", or
 * it counts as failed. The client speaks to 127.0.0.1 only. It prints one
 * line of key=value pairs; every loop is bounded by --duration,
 * --requests or --timeout, and every socket read by SO_RCVTIMEO.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/curve25519.h>

/* X25519 and TLS 1.3 only, so both servers do the same work. */
#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-X25519"
#define SESSIONS_PER_THREAD 16
#define BUF_SIZE 8192
#define HOST_BUF 256

enum mode {
	MODE_FULL, MODE_RESUME, MODE_KEEPALIVE, MODE_RATE, MODE_FIRST,
	MODE_CRYPTO,
};

static struct {
	enum mode mode;
	unsigned port;
	unsigned domains;
	const char *pattern;
	unsigned threads;
	double duration;
	unsigned long requests;	/* 0: until duration */
	double rate;
	const char *ca;
	long long since_ns;
	double timeout;
} opt = {
	.mode = MODE_FULL,
	.domains = 1,
	.pattern = "mta-sts.d%u.test",
	.threads = 1,
	.duration = 5,
	.timeout = 10,
};

static gnutls_certificate_credentials_t creds;
static gnutls_priority_t prio;
static double start_time, stop_time;
static atomic_ulong issued;
static volatile sig_atomic_t interrupted;	/* SIGINT/SIGTERM: finish */

static void on_interrupt(int signo)
{
	(void)signo;
	interrupted = 1;
}

struct worker {
	pthread_t thread;
	unsigned index;
	unsigned long ok, failed, resumed;
	double *lat;		/* rate mode: latencies in seconds */
	size_t nlat, cap;
	gnutls_datum_t sessions[SESSIONS_PER_THREAD];
	char error[160];
};

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The pattern with its "%u" replaced by i modulo the domains, plus one. */
static void host_name(unsigned i, char out[HOST_BUF])
{
	const char *at = strstr(opt.pattern, "%u");
	snprintf(out, HOST_BUF, "%.*s%u%s", (int)(at - opt.pattern),
		opt.pattern, i % opt.domains + 1, at + 2);
}

/* Takes one request from the budget; false when the run is over. */
static bool take_request(void)
{
	if (interrupted || now_mono() >= stop_time)
		return false;
	if (!opt.requests)
		return true;
	return atomic_fetch_add(&issued, 1) < opt.requests;
}

static int tcp_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct timeval tv = {(time_t)opt.timeout, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)opt.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * request sends one GET and reads the whole response (Content-Length).
 * 0 when it was a 200 with an MTA-STS policy body, else -1.
 */
static int request(gnutls_session_t s, const char *host, char *err,
	size_t errsize)
{
	char req[512], buf[BUF_SIZE];
	int n = snprintf(req, sizeof(req), "GET /.well-known/mta-sts.txt "
		"HTTP/1.1\r\nHost: %s\r\nUser-Agent: mtsload\r\n\r\n", host);
	ssize_t w;
	do {
		w = gnutls_record_send(s, req, (size_t)n);
	} while (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED);
	if (w != n) {
		snprintf(err, errsize, "send: %s", gnutls_strerror((int)w));
		return -1;
	}
	size_t len = 0, need = 0;
	char *body = NULL;
	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t r = gnutls_record_recv(s, buf + len,
			sizeof(buf) - 1 - len);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r <= 0) {
			snprintf(err, errsize, "recv: %s", r == 0 ? "closed"
				: gnutls_strerror((int)r));
			return -1;
		}
		len += (size_t)r;
		buf[len] = '\0';
		if (!body && (body = strstr(buf, "\r\n\r\n"))) {
			body += 4;
			const char *cl = strcasestr(buf, "\r\nContent-Length:");
			if (!cl) {
				snprintf(err, errsize, "no Content-Length");
				return -1;
			}
			need = (size_t)(body - buf) + strtoul(cl + 17, NULL, 10);
		}
		if (body && len >= need)
			break;
		if (len >= sizeof(buf) - 1) {
			snprintf(err, errsize, "response too long");
			return -1;
		}
	}
	if (!body || len < need) {
		snprintf(err, errsize, "short response");
		return -1;
	}
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 ||
	    strncmp(body, "version: STSv1", 14) != 0) {
		snprintf(err, errsize, "unexpected response: %.40s", buf);
		return -1;
	}
	return 0;
}

/*
 * one_connection connects, handshakes with SNI host (resuming *session
 * when it holds data, storing the new session data there when session is
 * not NULL), makes requests GETs and closes. 0 or -1 (err set).
 */
static int one_connection(const char *host, gnutls_datum_t *session,
	bool verify, unsigned long requests, struct worker *w)
{
	int fd = tcp_connect();
	if (fd < 0) {
		snprintf(w->error, sizeof(w->error), "connect: %s",
			strerror(errno));
		w->failed++;
		return -1;
	}
	gnutls_session_t s;
	int rc = gnutls_init(&s, GNUTLS_CLIENT);
	if (rc < 0) {
		close(fd);
		snprintf(w->error, sizeof(w->error), "gnutls_init: %s",
			gnutls_strerror(rc));
		w->failed++;
		return -1;
	}
	gnutls_priority_set(s, prio);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, creds);
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, host, strlen(host));
	if (verify)
		gnutls_session_set_verify_cert(s, host, 0);
	if (session && session->data)
		gnutls_session_set_data(s, session->data, session->size);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, (unsigned)(opt.timeout * 1000));
	do {
		rc = gnutls_handshake(s);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0) {
		snprintf(w->error, sizeof(w->error), "handshake %s: %s", host,
			gnutls_strerror(rc));
		goto fail;
	}
	if (gnutls_session_is_resumed(s))
		w->resumed++;
	for (unsigned long i = 0; i < requests; i++) {
		if (i > 0 && !take_request())
			break;
		if (request(s, host, w->error, sizeof(w->error)) < 0) {
			w->failed++;
			goto out;
		}
		w->ok++;
	}
	/* TLS 1.3 tickets arrive after the handshake: read with the
	 * response above, so the data is complete now. */
	if (session) {
		gnutls_free(session->data);
		*session = (gnutls_datum_t){0};
		if (gnutls_session_get_data2(s, session) < 0)
			*session = (gnutls_datum_t){0};
	}
out:
	gnutls_deinit(s);
	close(fd);
	return 0;
fail:
	w->failed++;
	gnutls_deinit(s);
	close(fd);
	return -1;
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	unsigned long i = w->index;
	char host[HOST_BUF];

	switch (opt.mode) {
	case MODE_FULL:
		while (take_request()) {
			host_name((unsigned)i, host);
			i += opt.threads;
			one_connection(host, NULL, false, 1, w);
		}
		break;
	case MODE_RESUME:
		while (take_request()) {
			unsigned k = (unsigned)(i / opt.threads) %
				SESSIONS_PER_THREAD;
			host_name(w->index * SESSIONS_PER_THREAD + k, host);
			i += opt.threads;
			one_connection(host, &w->sessions[k], false, 1, w);
		}
		break;
	case MODE_KEEPALIVE:
		while (take_request()) {
			host_name((unsigned)i, host);
			i += opt.threads;
			one_connection(host, NULL, false, ULONG_MAX, w);
		}
		break;
	case MODE_RATE: {
		/* Thread t starts requests t, t + T, ...: together the rate. */
		double period = opt.threads / opt.rate;
		double next = start_time + w->index / opt.rate;
		while (next < stop_time && !interrupted) {
			double t = now_mono();
			if (t < next) {
				struct timespec ts = {(time_t)(next - t),
					(long)((next - t -
					(double)(time_t)(next - t)) * 1e9)};
				nanosleep(&ts, NULL);
			}
			host_name((unsigned)i, host);
			i += opt.threads;
			unsigned long before = w->ok;
			one_connection(host, NULL, false, 1, w);
			if (w->ok > before && w->nlat < w->cap)
				w->lat[w->nlat++] = now_mono() - next;
			next += period;
		}
		break;
	}
	case MODE_FIRST:
	case MODE_CRYPTO:
		break;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double percentile(const double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t k = (size_t)(p * (double)(n - 1) + 0.5);
	return v[k < n ? k : n - 1];
}

/* first: a verified 200 from the first domain, retried every 2 ms. */
static int run_first(void)
{
	struct worker w = {0};
	char host[HOST_BUF];
	host_name(0, host);
	double deadline = now_mono() + opt.timeout;
	unsigned tries = 0;
	while (now_mono() < deadline) {
		tries++;
		w.failed = 0;
		if (one_connection(host, NULL, true, 1, &w) == 0 && w.ok) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			long long ns = (long long)ts.tv_sec * 1000000000LL +
				ts.tv_nsec;
			printf("mode=first ok=1 tries=%u first_s=%.4f\n", tries,
				opt.since_ns ? (double)(ns - opt.since_ns) / 1e9
					: 0.0);
			return 0;
		}
		struct timespec pause = {0, 2000000};
		nanosleep(&pause, NULL);
	}
	printf("mode=first ok=0 tries=%u error=\"%s\"\n", tries, w.error);
	return 1;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* crypto: µs of CPU per operation, each run for about a second. */
static int run_crypto(void)
{
	gnutls_privkey_t key;
	unsigned char hash[32] = {1}, secret[CURVE25519_SIZE] = {9};
	unsigned char pub[CURVE25519_SIZE], peer[CURVE25519_SIZE];
	unsigned char shared[CURVE25519_SIZE];
	gnutls_datum_t h = {hash, sizeof(hash)};
	if (gnutls_privkey_init(&key) < 0 || gnutls_privkey_generate2(key,
			GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(
			GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0) < 0) {
		fprintf(stderr, "mtsload: cannot make a P-256 key\n");
		return 1;
	}
	curve25519_mul_g(peer, secret);
	double us[3];
	for (int op = 0; op < 3; op++) {
		unsigned long n = 0;
		double t0 = cpu_now(), t;
		do {
			for (int k = 0; k < 64; k++, n++) {
				if (op == 0) {
					gnutls_rnd(GNUTLS_RND_RANDOM, secret,
						sizeof(secret));
					curve25519_mul_g(pub, secret);
				} else if (op == 1) {
					curve25519_mul(shared, secret, peer);
				} else {
					gnutls_datum_t sig;
					if (gnutls_privkey_sign_hash2(key,
						GNUTLS_SIGN_ECDSA_SECP256R1_SHA256,
						0, &h, &sig) < 0)
						return 1;
					gnutls_free(sig.data);
				}
			}
			t = cpu_now() - t0;
		} while (t < 1.0);
		us[op] = t / (double)n * 1e6;
	}
	gnutls_privkey_deinit(key);
	printf("mode=crypto x25519_keygen_us=%.1f x25519_derive_us=%.1f "
		"ecdsa_p256_sign_us=%.1f server_us=%.1f\n", us[0], us[1], us[2],
		us[0] + us[1] + us[2]);
	(void)pub;
	(void)shared;
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: mtsload --port P [--mode full|resume|keepalive|"
		"rate|first|crypto]\n"
		"               [--domains N] [--pattern mta-sts.d%%u.test] "
		"[--threads T]\n"
		"               [--duration S] [--requests R] [--rate R] "
		"[--ca FILE]\n"
		"               [--since NS] [--timeout S]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"port", required_argument, NULL, 'p'},
		{"domains", required_argument, NULL, 'n'},
		{"pattern", required_argument, NULL, 'P'},
		{"threads", required_argument, NULL, 't'},
		{"duration", required_argument, NULL, 'd'},
		{"requests", required_argument, NULL, 'r'},
		{"rate", required_argument, NULL, 'R'},
		{"ca", required_argument, NULL, 'c'},
		{"since", required_argument, NULL, 's'},
		{"timeout", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "full"))
				opt.mode = MODE_FULL;
			else if (!strcmp(optarg, "resume"))
				opt.mode = MODE_RESUME;
			else if (!strcmp(optarg, "keepalive"))
				opt.mode = MODE_KEEPALIVE;
			else if (!strcmp(optarg, "rate"))
				opt.mode = MODE_RATE;
			else if (!strcmp(optarg, "first"))
				opt.mode = MODE_FIRST;
			else if (!strcmp(optarg, "crypto"))
				opt.mode = MODE_CRYPTO;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'p': opt.port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': opt.domains = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': opt.pattern = optarg; break;
		case 't': opt.threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'd': opt.duration = strtod(optarg, NULL); break;
		case 'r': opt.requests = strtoul(optarg, NULL, 10); break;
		case 'R': opt.rate = strtod(optarg, NULL); break;
		case 'c': opt.ca = optarg; break;
		case 's': opt.since_ns = strtoll(optarg, NULL, 10); break;
		case 'T': opt.timeout = strtod(optarg, NULL); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!opt.port || opt.port > 65535 || !opt.domains || !opt.threads ||
	    opt.threads > 256 || opt.duration <= 0 || opt.duration > 3600 ||
	    opt.timeout <= 0 || (opt.mode == MODE_RATE && opt.rate <= 0) ||
	    !strstr(opt.pattern, "%u")) {
		usage(stderr);
		return 2;
	}

	if (opt.mode == MODE_CRYPTO)
		return gnutls_global_init() < 0 ? 1 : run_crypto();
	struct sigaction sa = {0};
	sa.sa_handler = on_interrupt;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (gnutls_global_init() < 0 ||
	    gnutls_certificate_allocate_credentials(&creds) < 0 ||
	    gnutls_priority_init(&prio, PRIORITIES, NULL) < 0) {
		fprintf(stderr, "mtsload: cannot set up GnuTLS\n");
		return 1;
	}
	if (opt.ca && gnutls_certificate_set_x509_trust_file(creds, opt.ca,
			GNUTLS_X509_FMT_PEM) <= 0) {
		fprintf(stderr, "mtsload: cannot load %s\n", opt.ca);
		return 1;
	}
	if (opt.mode == MODE_FIRST)
		return run_first();

	struct worker *workers = calloc(opt.threads, sizeof(*workers));
	if (!workers)
		return 1;
	start_time = now_mono();
	stop_time = start_time + opt.duration;
	for (unsigned t = 0; t < opt.threads; t++) {
		workers[t].index = t;
		if (opt.mode == MODE_RATE) {
			workers[t].cap = (size_t)(opt.rate * opt.duration /
				opt.threads) + 16;
			workers[t].lat = calloc(workers[t].cap, sizeof(double));
			if (!workers[t].lat)
				return 1;
		}
		if (pthread_create(&workers[t].thread, NULL, run_worker,
				&workers[t]) != 0) {
			fprintf(stderr, "mtsload: cannot start a thread\n");
			return 1;
		}
	}
	unsigned long ok = 0, failed = 0, resumed = 0;
	size_t nlat = 0;
	const char *error = "";
	for (unsigned t = 0; t < opt.threads; t++) {
		pthread_join(workers[t].thread, NULL);
		ok += workers[t].ok;
		failed += workers[t].failed;
		resumed += workers[t].resumed;
		nlat += workers[t].nlat;
		if (workers[t].error[0])
			error = workers[t].error;
	}
	double elapsed = now_mono() - start_time;
	printf("mode=%s ok=%lu failed=%lu resumed=%lu elapsed=%.3f rps=%.1f",
		argv[0] ? (opt.mode == MODE_FULL ? "full" :
		opt.mode == MODE_RESUME ? "resume" :
		opt.mode == MODE_KEEPALIVE ? "keepalive" : "rate") : "?",
		ok, failed, resumed, elapsed, (double)ok / elapsed);
	if (opt.mode == MODE_RATE) {
		double *all = calloc(nlat ? nlat : 1, sizeof(double));
		size_t k = 0;
		for (unsigned t = 0; t < opt.threads; t++)
			for (size_t j = 0; j < workers[t].nlat; j++)
				all[k++] = workers[t].lat[j];
		qsort(all, nlat, sizeof(double), cmp_double);
		printf(" p50_ms=%.3f p99_ms=%.3f max_ms=%.3f",
			percentile(all, nlat, 0.50) * 1e3,
			percentile(all, nlat, 0.99) * 1e3,
			nlat ? all[nlat - 1] * 1e3 : 0.0);
		free(all);
	}
	printf(" last_error=\"%s\"\n", error);
	for (unsigned t = 0; t < opt.threads; t++) {
		free(workers[t].lat);
		for (size_t k = 0; k < SESSIONS_PER_THREAD; k++)
			gnutls_free(workers[t].sessions[k].data);
	}
	free(workers);
	return 0;
}
