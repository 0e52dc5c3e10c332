/* SPDX-License-Identifier: MIT */
/*
 * mkcerts: a test CA and certificates on demand, for the integration tests
 * and the benchmark. One process makes thousands of certificates in
 * seconds, where one certtool run per certificate would take minutes.
 * Exit status: 0 done, 1 failed, 2 misuse.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testcert.h"

#define DAY (24 * 60 * 60)
#define SAN_MAX 64

static void usage(FILE *out)
{
	fprintf(out,
		"usage: mkcerts ca DIR\n"
		"       mkcerts leaf DIR NAME [--san NAME]... [--days-valid N]\n"
		"                    [--expired | --not-yet-valid]\n"
		"                    [--out-cert FILE --out-key FILE] [--rsa]\n"
		"       mkcerts many DIR N PATTERN\n"
		"\n"
		"ca    writes a test CA to DIR/ca.pem and DIR/ca.key.\n"
		"leaf  writes a leaf signed by DIR/ca.* with its full chain to\n"
		"      DIR/NAME.pem and its key to DIR/NAME.key (or the --out-*\n"
		"      files). Its DNS names are the --san names, or NAME.\n"
		"many  writes N leaves signed by DIR/ca.* (made if missing),\n"
		"      named PATTERN with %%u replaced by 1..N, e.g.\n"
		"      \"mta-sts.d%%u.test\": DIR/<name>.pem, DIR/<name>.key.\n");
}

static int misuse(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int misuse(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mkcerts: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return 2;
}

static char *join(const char *dir, const char *name)
{
	char *path = NULL;
	if (asprintf(&path, "%s/%s", dir, name) < 0) {
		fprintf(stderr, "mkcerts: out of memory\n");
		exit(1);
	}
	return path;
}

static int make_dir(const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "mkcerts: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static struct testcert_ca *load_ca(const char *dir)
{
	char *cert = join(dir, "ca.pem");
	char *key = join(dir, "ca.key");
	struct testcert_ca *ca = testcert_ca_load(cert, key);
	free(cert);
	free(key);
	return ca;
}

static bool parse_count(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return false;
	*out = v;
	return true;
}

static int cmd_ca(int argc, char **argv)
{
	if (argc != 3)
		return misuse("ca takes one DIR");
	if (make_dir(argv[2]) < 0)
		return 1;
	struct testcert_ca *ca = testcert_ca_create(argv[2], "ca",
		TESTCERT_KEY_ECDSA);
	if (!ca)
		return 1;
	testcert_ca_destroy(ca);
	return 0;
}

static int cmd_leaf(int argc, char **argv)
{
	enum { OPT_SAN = 256, OPT_DAYS, OPT_EXPIRED, OPT_NOT_YET, OPT_CERT,
		OPT_KEY, OPT_RSA };
	static const struct option options[] = {
		{"san", required_argument, NULL, OPT_SAN},
		{"days-valid", required_argument, NULL, OPT_DAYS},
		{"expired", no_argument, NULL, OPT_EXPIRED},
		{"not-yet-valid", no_argument, NULL, OPT_NOT_YET},
		{"out-cert", required_argument, NULL, OPT_CERT},
		{"out-key", required_argument, NULL, OPT_KEY},
		{"rsa", no_argument, NULL, OPT_RSA},
		{NULL, 0, NULL, 0},
	};
	const char *sans[SAN_MAX + 1] = {0};
	size_t nsans = 0;
	unsigned long days = 90;
	bool expired = false, not_yet = false;
	const char *out_cert = NULL, *out_key = NULL;
	struct testcert_leaf leaf = {.chain = TESTCERT_CHAIN_FULL};

	/* argv[1] is "leaf": parse from there, positionals anywhere. */
	optind = 2;
	int c;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_SAN:
			if (nsans == SAN_MAX)
				return misuse("too many --san");
			sans[nsans++] = optarg;
			break;
		case OPT_DAYS:
			if (!parse_count(optarg, 36500, &days) || days == 0)
				return misuse("bad --days-valid: %s", optarg);
			break;
		case OPT_EXPIRED:
			expired = true;
			break;
		case OPT_NOT_YET:
			not_yet = true;
			break;
		case OPT_CERT:
			out_cert = optarg;
			break;
		case OPT_KEY:
			out_key = optarg;
			break;
		case OPT_RSA:
			leaf.key = TESTCERT_KEY_RSA;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2)
		return misuse("leaf takes DIR and NAME");
	if (expired && not_yet)
		return misuse("--expired and --not-yet-valid exclude each "
			"other");
	if (!out_cert != !out_key)
		return misuse("--out-cert and --out-key go together");
	const char *dir = argv[optind], *name = argv[optind + 1];
	if (nsans == 0)
		sans[nsans++] = name;
	leaf.dns = sans;

	time_t now = time(NULL);
	if (expired) {
		leaf.not_before = now - 30 * (time_t)DAY;
		leaf.not_after = now - DAY;
	} else if (not_yet) {
		leaf.not_before = now + DAY;
		leaf.not_after = now + DAY + (time_t)days * DAY;
	} else {
		leaf.not_after = now + (time_t)days * DAY;
	}

	struct testcert_ca *ca = load_ca(dir);
	if (!ca)
		return 1;
	leaf.issuer = ca;
	int rc;
	if (out_cert)
		rc = testcert_leaf_write(&leaf, out_cert, out_key);
	else
		rc = testcert_leaf_write_dir(&leaf, dir, name, NULL, NULL);
	testcert_ca_destroy(ca);
	return rc < 0 ? 1 : 0;
}

/* Is pattern a format with exactly one %u and no other conversion? */
static bool pattern_is_valid(const char *pattern)
{
	unsigned n = 0;
	for (const char *p = pattern; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == 'u')
			n++;
		else if (p[1] != '%')
			return false;
		p++;
	}
	return n == 1;
}

static int cmd_many(int argc, char **argv)
{
	if (argc != 5)
		return misuse("many takes DIR, N and PATTERN");
	const char *dir = argv[2], *pattern = argv[4];
	unsigned long n;
	if (!parse_count(argv[3], 1000000, &n) || n == 0)
		return misuse("bad N: %s", argv[3]);
	if (!pattern_is_valid(pattern))
		return misuse("PATTERN needs exactly one %%u: %s", pattern);
	if (make_dir(dir) < 0)
		return 1;

	char *ca_cert = join(dir, "ca.pem");
	struct testcert_ca *ca = NULL;
	if (access(ca_cert, F_OK) == 0)
		ca = load_ca(dir);
	else
		ca = testcert_ca_create(dir, "ca", TESTCERT_KEY_ECDSA);
	free(ca_cert);
	if (!ca)
		return 1;

	int status = 0;
	for (unsigned long i = 1; i <= n; i++) {
		char name[256];
		/* The pattern was checked to hold exactly one %u. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		int len = snprintf(name, sizeof(name), pattern, (unsigned)i);
#pragma GCC diagnostic pop
		if (len < 0 || (size_t)len >= sizeof(name)) {
			fprintf(stderr, "mkcerts: name too long: %s\n",
				pattern);
			status = 1;
			break;
		}
		const char *sans[] = {name, NULL};
		struct testcert_leaf leaf = {
			.dns = sans,
			.issuer = ca,
			.chain = TESTCERT_CHAIN_FULL,
		};
		if (testcert_leaf_write_dir(&leaf, dir, name, NULL, NULL) < 0) {
			status = 1;
			break;
		}
	}
	testcert_ca_destroy(ca);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "ca"))
		return cmd_ca(argc, argv);
	if (!strcmp(argv[1], "leaf"))
		return cmd_leaf(argc, argv);
	if (!strcmp(argv[1], "many"))
		return cmd_many(argc, argv);
	return misuse("unknown command: %s", argv[1]);
}
