/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/route.h"
#include "testsupport.h"

static const char *const host = "mta-sts.example.com";

static const struct {
	const char *method;
	const char *path;
	const char *host_header;
	enum route_result expected;
} routes[] = {
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.com", ROUTE_POLICY },
	{ "HEAD", "/.well-known/mta-sts.txt", "mta-sts.example.com", ROUTE_POLICY },
	/* HTTP/1.0 without Host: SNI decides. */
	{ "GET", "/.well-known/mta-sts.txt", NULL, ROUTE_POLICY },
	{ "GET", "/.well-known/mta-sts.txt", "MTA-STS.Example.COM", ROUTE_POLICY },
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.com:443", ROUTE_POLICY },
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.com.", ROUTE_POLICY },
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.com.:8443", ROUTE_POLICY },
	{ "GET", "/", "mta-sts.example.com", ROUTE_NOT_FOUND },
	{ "GET", "/.well-known/mta-sts.txt/", "mta-sts.example.com", ROUTE_NOT_FOUND },
	{ "GET", "/.well-known/MTA-STS.txt", "mta-sts.example.com", ROUTE_NOT_FOUND },
	{ "GET", "/.well-known/mta-sts", "mta-sts.example.com", ROUTE_NOT_FOUND },
	{ "GET", "", "mta-sts.example.com", ROUTE_NOT_FOUND },
	{ "POST", "/.well-known/mta-sts.txt", "mta-sts.example.com", ROUTE_METHOD_NOT_ALLOWED },
	{ "PUT", "/.well-known/mta-sts.txt", NULL, ROUTE_METHOD_NOT_ALLOWED },
	{ "get", "/.well-known/mta-sts.txt", NULL, ROUTE_METHOD_NOT_ALLOWED },
	{ "OPTIONS", "/", NULL, ROUTE_NOT_FOUND },
	/* Another policy host on this connection: never its policy. */
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.org", ROUTE_MISDIRECTED },
	{ "GET", "/.well-known/mta-sts.txt", "example.com", ROUTE_MISDIRECTED },
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.com.evil", ROUTE_MISDIRECTED },
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.co", ROUTE_MISDIRECTED },
	{ "GET", "/.well-known/mta-sts.txt", "", ROUTE_MISDIRECTED },
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.com:", ROUTE_MISDIRECTED },
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.com:443x", ROUTE_MISDIRECTED },
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.com:123456", ROUTE_MISDIRECTED },
	{ "GET", "/.well-known/mta-sts.txt", "[::1]:443", ROUTE_MISDIRECTED },
	{ "GET", "/.well-known/mta-sts.txt", "mta-sts.example.com..", ROUTE_MISDIRECTED },
	/* A misdirected request is answered 421 whatever its path. */
	{ "POST", "/other", "mta-sts.example.org", ROUTE_MISDIRECTED },
};

START_TEST(test_route_table)
{
	enum route_result got = route_request(routes[_i].method,
		routes[_i].path, routes[_i].host_header, host);
	ck_assert_msg(got == routes[_i].expected,
		"%s %s Host: %s -> %d, expected %d", routes[_i].method,
		routes[_i].path, routes[_i].host_header ? routes[_i].host_header :
		"(none)", got, routes[_i].expected);
}
END_TEST

START_TEST(test_route_long_host)
{
	char long_host[600];
	memset(long_host, 'a', sizeof(long_host) - 1);
	long_host[sizeof(long_host) - 1] = '\0';
	ck_assert(!route_host_matches(long_host, host));
	ck_assert_int_eq(route_request("GET", ROUTE_POLICY_PATH, long_host,
		host), ROUTE_MISDIRECTED);
}
END_TEST

static Suite *route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("routing decision");
	tcase_add_loop_test(tc, test_route_table, 0,
		sizeof(routes) / sizeof(routes[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile host header");
	tcase_add_test(tc, test_route_long_host);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return test_run(route_suite());
}
