/* kubeconfig: fields, merge rules, relative paths, exec plugins, in-cluster, and errors naming file and field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "k8s/kubeconfig.h"

static char dir[] = "/tmp/medic-kc-XXXXXX";
static char err[512];

static const char CA_PEM[] = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
/* base64 of CA_PEM */
static char ca_b64[256];

static void write_file(const char *name, const char *text, int mode)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, (mode_t)mode);
}

static const char *path_of(const char *name)
{
	static char buf[4][512];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
	return buf[i];
}

static void b64(const char *in, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)in[i] << 16 | (i + 1 < n ? (unsigned char)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? (unsigned char)in[i + 2] : 0);
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	char sub[600];
	snprintf(sub, sizeof sub, "%s/sub", dir);
	mkdir(sub, 0700);
	b64(CA_PEM, ca_b64);
	write_file("ca.crt", CA_PEM, 0600);
	write_file("sub/ca.crt", CA_PEM, 0600);
	write_file("sub/token", "tok-from-file\n", 0600);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int parse(const char *text, const char *context, struct kubeconfig *kc)
{
	return kubeconfig_parse(text, strlen(text), "test.yaml", dir, context, kc, err, sizeof err);
}

/* What `oc login` writes, verbatim in shape. */
static const char OC_LOGIN[] =
	"apiVersion: v1\n"
	"clusters:\n"
	"- cluster:\n"
	"    certificate-authority: ca.crt\n"
	"    server: https://api.ocp.example.com:6443\n"
	"    tls-server-name: api.internal\n"
	"    proxy-url: http://proxy:3128\n"
	"  name: api-ocp-example-com:6443\n"
	"contexts:\n"
	"- context:\n"
	"    cluster: api-ocp-example-com:6443\n"
	"    namespace: openshift-etcd\n"
	"    user: kube:admin/api-ocp-example-com:6443\n"
	"  name: openshift-etcd/api-ocp-example-com:6443/kube:admin\n"
	"current-context: openshift-etcd/api-ocp-example-com:6443/kube:admin\n"
	"kind: Config\n"
	"preferences: {}\n"
	"users:\n"
	"- name: kube:admin/api-ocp-example-com:6443\n"
	"  user:\n"
	"    token: sha256~abcdef\n";

static void test_oc_login(void **state)
{
	struct kubeconfig kc;
	assert_int_equal(parse(OC_LOGIN, NULL, &kc), 0);
	assert_string_equal(kc.context, "openshift-etcd/api-ocp-example-com:6443/kube:admin");
	assert_string_equal(kc.server, "https://api.ocp.example.com:6443");
	assert_string_equal(kc.namespace, "openshift-etcd");
	assert_string_equal(kc.token, "sha256~abcdef");
	assert_string_equal(kc.tls_server_name, "api.internal");
	assert_string_equal(kc.proxy_url, "http://proxy:3128");
	assert_int_equal(kc.ca_len, strlen(CA_PEM));
	assert_memory_equal(kc.ca_pem, CA_PEM, kc.ca_len);
	assert_int_equal(kc.insecure, 0);
	assert_null(kc.exec);
	kubeconfig_free(&kc);
}

static void test_data_fields_and_certs(void **state)
{
	char text[2048];
	snprintf(text, sizeof text,
		 "{\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":\"https://h:6443\","
		 "\"certificate-authority\":\"missing.crt\",\"certificate-authority-data\":\"%s\"}}],"
		 "\"users\":[{\"name\":\"u\",\"user\":{\"client-certificate-data\":\"%s\",\"client-key\":\"sub/ca.crt\"}}],"
		 "\"contexts\":[{\"name\":\"x\",\"context\":{\"cluster\":\"c\",\"user\":\"u\"}}],\"current-context\":\"x\"}",
		 ca_b64, ca_b64);
	struct kubeconfig kc;
	assert_int_equal(parse(text, NULL, &kc), 0); /* -data wins over the (missing) file */
	assert_memory_equal(kc.ca_pem, CA_PEM, kc.ca_len);
	assert_memory_equal(kc.cert_pem, CA_PEM, kc.cert_len);
	assert_memory_equal(kc.key_pem, CA_PEM, kc.key_len);
	assert_string_equal(kc.ca_data_b64, ca_b64);
	assert_null(kc.namespace);
	kubeconfig_free(&kc);
}

static void expect_error(const char *text, const char *context, const char *needle)
{
	struct kubeconfig kc;
	assert_int_equal(parse(text, context, &kc), -1);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	assert_non_null(strstr(err, "test.yaml"));
}

#define CTX "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"

static void test_errors_name_file_and_field(void **state)
{
	expect_error("clusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: "
		     "{client-certificate: sub/ca.crt}}]\n" CTX, NULL, "users[0].user.client-key");
	expect_error("clusters: [{name: c, cluster: {server: 'https://h', certificate-authority: nope.crt}}]\n"
		     "users: [{name: u, user: {}}]\n" CTX, NULL, "clusters[0].cluster.certificate-authority: cannot read");
	expect_error("clusters: [{name: c, cluster: {server: 'https://h', certificate-authority-data: '!!'}}]\n"
		     "users: [{name: u, user: {}}]\n" CTX, NULL, "certificate-authority-data: not valid base64");
	expect_error("clusters: [{name: c, cluster: {insecure-skip-tls-verify: true}}]\n" CTX, NULL,
		     "clusters[0].cluster.server: missing");
	expect_error("clusters: [{name: c, cluster: {server: 'https://h', insecure-skip-tls-verify: maybe}}]\n" CTX,
		     NULL, "insecure-skip-tls-verify: expected true or false");
	expect_error("clusters: [{name: c, cluster: {server: 'https://h', insecure-skip-tls-verify: true, "
		     "certificate-authority: ca.crt}}]\n" CTX, NULL, "insecure flag is not allowed");
	expect_error("clusters: [{name: c, cluster: {server: 'ftp://h'}}]\n" CTX, NULL, "not an http(s) URL");
	expect_error("clusters: [{name: c, cluster: {server: 'https://h'}}]\n" CTX, "other",
		     "context \"other\" not found (its contexts: x)");
	expect_error("clusters: [{name: c, cluster: {server: 'https://h'}}]\n" CTX, NULL, "user \"u\" not found");
	expect_error("clusters: []\n" CTX, NULL, "cluster \"c\" not found");
	expect_error("clusters: [{name: c, cluster: {server: [1]}}]\n" CTX, NULL, "server: expected a string");
	expect_error("clusters: [{name: c\n  bad: [\n", NULL, "not valid YAML");
	expect_error("- just\n- a list\n", NULL, "not a kubeconfig");
	expect_error("apiVersion: v1\n", NULL, "current-context is not set");
	expect_error("clusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: "
		     "{token: t, username: a, password: b}}]\n" CTX, NULL, "more than one authentication method");
	expect_error("clusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: "
		     "{exec: {command: x, apiVersion: client.authentication.k8s.io/v2}}}]\n" CTX, NULL,
		     "users[0].user.exec.apiVersion: exec plugin: invalid apiVersion");
	expect_error("clusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: "
		     "{auth-provider: {name: oidc}}}]\n" CTX, NULL, "auth providers are not supported");
}

static void test_basic_exec_and_token_file(void **state)
{
	struct kubeconfig kc;
	assert_int_equal(parse("clusters: [{name: c, cluster: {server: 'https://h', insecure-skip-tls-verify: true}}]\n"
			       "users: [{name: u, user: {username: admin, password: secret}}]\n" CTX, NULL, &kc), 0);
	assert_int_equal(kc.insecure, 1);
	assert_string_equal(kc.username, "admin");
	assert_string_equal(kc.password, "secret");
	kubeconfig_free(&kc);

	assert_int_equal(parse("clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
			       "users: [{name: u, user: {tokenFile: sub/token}}]\n" CTX, NULL, &kc), 0);
	assert_string_equal(kc.token_file, path_of("sub/token"));
	kubeconfig_free(&kc);

	assert_int_equal(parse("clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
			       "users: [{name: u, user: {exec: {command: ./plugin, args: [a, b], "
			       "env: [{name: FOO, value: bar}], apiVersion: client.authentication.k8s.io/v1, "
			       "interactiveMode: Never, provideClusterInfo: true}}}]\n" CTX, NULL, &kc), 0);
	assert_non_null(kc.exec);
	assert_string_equal(kc.exec->command, "./plugin");
	assert_int_equal(kc.exec->nargs, 2);
	assert_string_equal(kc.exec->args[1], "b");
	assert_int_equal(kc.exec->nenv, 1);
	assert_string_equal(kc.exec->env[0], "FOO=bar");
	assert_int_equal(kc.exec->provide_cluster_info, 1);
	assert_string_equal(kc.exec->interactive_mode, "Never");
	kubeconfig_free(&kc);
}

static void test_merge_first_file_wins(void **state)
{
	write_file("one", "current-context: a\n"
			  "clusters: [{name: c, cluster: {server: 'https://first', certificate-authority: ca.crt}}]\n"
			  "contexts: [{name: a, context: {cluster: c, user: u, namespace: ns1}}]\n", 0600);
	write_file("sub/two", "current-context: b\n"
			      "clusters: [{name: c, cluster: {server: 'https://second'}}, "
			      "{name: d, cluster: {server: 'https://d', certificate-authority: ca.crt}}]\n"
			      "users: [{name: u, user: {tokenFile: token}}]\n"
			      "contexts: [{name: a, context: {cluster: d, user: u}}, {name: b, context: {cluster: d}}]\n", 0600);
	char env[1200];
	snprintf(env, sizeof env, "%s::%s:%s:%s", path_of("missing"), path_of("one"), path_of("sub/two"), path_of("one"));
	struct kubeconfig_source src = {.env = env};
	struct kubeconfig kc;
	assert_int_equal(kubeconfig_load(&src, &kc, err, sizeof err), 0);
	assert_string_equal(kc.context, "a");           /* current-context from the first file */
	assert_string_equal(kc.server, "https://first"); /* cluster c from the first file, whole */
	assert_string_equal(kc.namespace, "ns1");
	assert_string_equal(kc.token_file, path_of("sub/token")); /* relative to the second file */
	assert_string_equal(kc.source, path_of("one"));
	kubeconfig_free(&kc);

	src.context = "b";
	assert_int_equal(kubeconfig_load(&src, &kc, err, sizeof err), 0);
	assert_string_equal(kc.server, "https://d");
	assert_memory_equal(kc.ca_pem, CA_PEM, kc.ca_len); /* sub/ca.crt, relative to sub/two */
	assert_null(kc.user);
	kubeconfig_free(&kc);

	struct kubeconfig_source explicit = {.explicit_path = path_of("missing"), .env = env};
	assert_int_equal(kubeconfig_load(&explicit, &kc, err, sizeof err), -1);
	assert_non_null(strstr(err, "missing"));

	char env_missing[600];
	snprintf(env_missing, sizeof env_missing, "%s", path_of("missing"));
	struct kubeconfig_source none = {.env = env_missing, .home = path_of("nohome")};
	assert_int_equal(kubeconfig_load(&none, &kc, err, sizeof err), -1);
	assert_non_null(strstr(err, "KUBECONFIG="));
	assert_non_null(strstr(err, "missing: no such file")); /* the path it names, not "no kubeconfig" */

	struct kubeconfig_source home = {.home = path_of("nohome")};
	assert_int_equal(kubeconfig_load(&home, &kc, err, sizeof err), -1);
	assert_non_null(strstr(err, "no kubeconfig"));
}

static void test_in_cluster(void **state)
{
	char sa[200], cmd[1400];
	snprintf(sa, sizeof sa, "%s/root/var/run/secrets/kubernetes.io/serviceaccount", dir);
	snprintf(cmd, sizeof cmd, "mkdir -p %s && printf 'tok' > %s/token && printf 'ns-x\\n' > %s/namespace && "
		 "cp %s/ca.crt %s/ca.crt", sa, sa, sa, dir, sa);
	assert_int_equal(system(cmd), 0);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	struct kubeconfig_source src = {.home = path_of("nohome"), .in_cluster_root = path_of("root")};
	struct kubeconfig kc;
	assert_int_equal(kubeconfig_load(&src, &kc, err, sizeof err), 0);
	assert_string_equal(kc.server, "https://[fd00::1]:443");
	assert_string_equal(kc.namespace, "ns-x");
	assert_non_null(strstr(kc.token_file, "serviceaccount/token"));
	assert_memory_equal(kc.ca_pem, CA_PEM, kc.ca_len);
	kubeconfig_free(&kc);
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kubeconfig_in_cluster(path_of("root"), &kc, err, sizeof err), -1);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
}

#define V1 "client.authentication.k8s.io/v1"

static void test_exec_credential_parse(void **state)
{
	struct kc_credential cr;
	const char *ok = "{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t0k\","
			 "\"expirationTimestamp\":\"2030-01-02T03:04:05Z\"}}";
	assert_int_equal(kubeconfig_exec_parse(ok, strlen(ok), V1, &cr, err, sizeof err), 0);
	assert_string_equal(cr.token, "t0k");
	assert_int_equal(cr.expiry, 1893553445);
	kubeconfig_credential_free(&cr);

	const char *off = "{\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"x\",\"expirationTimestamp\":"
			  "\"2030-01-02T05:04:05.123+02:00\"}}";
	assert_int_equal(kubeconfig_exec_parse(off, strlen(off), V1, &cr, err, sizeof err), 0);
	assert_int_equal(cr.expiry, 1893553445);
	kubeconfig_credential_free(&cr);

	struct { const char *text, *needle; } bad[] = {
		{"{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"status\":{\"token\":\"x\"}}", "plugin returned version"},
		{"{\"apiVersion\":\"" V1 "\"}", "didn't return a status field"},
		{"{\"apiVersion\":\"" V1 "\",\"status\":{}}", "didn't return a token or cert/key pair"},
		{"{\"apiVersion\":\"" V1 "\",\"status\":{\"clientCertificateData\":\"x\"}}", "only certificate or key"},
		{"{\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"x\",\"expirationTimestamp\":\"soon\"}}", "expirationTimestamp"},
		{"garbage: [", "not valid YAML"},
		{"\"just a string\"", "not an ExecCredential"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(kubeconfig_exec_parse(bad[i].text, strlen(bad[i].text), V1, &cr, err, sizeof err), -1);
		if (!strstr(err, bad[i].needle))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, bad[i].needle);
	}
}

static void test_exec_plugin_run(void **state)
{
	write_file("sub/plugin", "#!/bin/sh\n"
				 "case \"$KUBERNETES_EXEC_INFO\" in *'\"server\":\"https://h:1\"'*) ;; *) exit 9;; esac\n"
				 "printf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s-%s\"}}' "
				 "\"client.authentication.k8s.io/v1\" \"$FOO\" \"$1\"\n", 0700);
	write_file("sub/broken", "#!/bin/sh\necho 'not json {'\n", 0700);
	write_file("sub/failing", "#!/bin/sh\necho oops >&2\nexit 4\n", 0700);
	struct kubeconfig kc;
	assert_int_equal(parse("clusters: [{name: c, cluster: {server: 'https://h:1'}}]\n"
			       "users: [{name: u, user: {exec: {command: sub/plugin, args: [arg1], env: [{name: FOO, value: bar}], "
			       "apiVersion: " V1 ", interactiveMode: Never, provideClusterInfo: true}}}]\n" CTX, NULL, &kc), 0);
	struct kc_credential cr;
	assert_int_equal(kubeconfig_exec_run(&kc, &cr, err, sizeof err), 0);
	assert_string_equal(cr.token, "bar-arg1");
	kubeconfig_credential_free(&cr);

	free(kc.exec->command);
	kc.exec->command = strdup("sub/broken");
	assert_int_equal(kubeconfig_exec_run(&kc, &cr, err, sizeof err), -1);
	assert_non_null(strstr(err, "exec plugin"));
	free(kc.exec->command);
	kc.exec->command = strdup("sub/failing");
	assert_int_equal(kubeconfig_exec_run(&kc, &cr, err, sizeof err), -1);
	assert_non_null(strstr(err, "exit status 4"));
	free(kc.exec->command);
	kc.exec->command = strdup("no-such-plugin-medic");
	assert_int_equal(kubeconfig_exec_run(&kc, &cr, err, sizeof err), -1);
	assert_non_null(strstr(err, "could not be run"));
	kubeconfig_free(&kc);
}

static void test_base64(void **state)
{
	size_t n;
	char *s = kubeconfig_base64_decode("aGVs\nbG8=", 9, &n);
	assert_non_null(s);
	assert_int_equal(n, 5);
	assert_string_equal(s, "hello");
	free(s);
	assert_null(kubeconfig_base64_decode("aGVs*G8=", 8, &n));
	assert_null(kubeconfig_base64_decode("aGVsbG8=x", 9, &n));
	assert_null(kubeconfig_base64_decode("a", 1, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oc_login),
		cmocka_unit_test(test_data_fields_and_certs),
		cmocka_unit_test(test_errors_name_file_and_field),
		cmocka_unit_test(test_basic_exec_and_token_file),
		cmocka_unit_test(test_merge_first_file_wins),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_exec_credential_parse),
		cmocka_unit_test(test_exec_plugin_run),
		cmocka_unit_test(test_base64),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
