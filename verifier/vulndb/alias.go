package vulndb

import (
	"net/url"
	"strings"
)

// nvdAliases maps the vendor:product that nmap's service probes write in
// their CPEs to the names NVD files its CVEs under, where they differ.
// NVD renames vendors (igor_sysoev → f5 for nginx, beasts → vsftpd_project
// for vsftpd, mysql → oracle) and keeps the old name on old CVEs, so a
// product may need several keys; nmap's own key is always tried too.
// Kept by hand: testdata/nmap-cpes.txt lists the nmap side (from
// nmap-service-probes) and testdata/nvd-aliases.json holds NVD records
// that carry each NVD name; TestAliasesAgainstNVD checks both.
var nvdAliases = map[string][]string{
	"vsftpd:vsftpd":                     {"beasts:vsftpd", "vsftpd_project:vsftpd"},
	"igor_sysoev:nginx":                 {"f5:nginx", "nginx:nginx"},
	"mysql:mysql":                       {"oracle:mysql"},
	"matt_johnston:dropbear_ssh_server": {"dropbear_ssh_project:dropbear_ssh"},
	"mortbay:jetty":                     {"eclipse:jetty"},
	"redislabs:redis":                   {"redis:redis"},
	"elasticsearch:elasticsearch":       {"elastic:elasticsearch"},
}

// Keys returns the index keys a CPE is looked up under: its own
// vendor:product first, then NVD's names for it.
func (c CPE) Keys() []string {
	k := c.Key()
	out := []string{k}
	for _, a := range nvdAliases[k] {
		if a != k {
			out = append(out, a)
		}
	}
	return out
}

// productCPEs maps nmap's product names (lower case, as -sV prints them)
// to nmap's vendor:product, for services that nmap named without a CPE
// (old nmap versions, XML from other tools). The first entry whose name
// the product starts with wins, so longer names come first.
var productCPEs = []struct{ name, key string }{
	{"apache tomcat", "apache:tomcat"},
	{"apache httpd", "apache:http_server"},
	{"microsoft iis httpd", "microsoft:internet_information_services"},
	{"microsoft iis", "microsoft:internet_information_services"},
	{"microsoft sql server", "microsoft:sql_server"},
	{"openssh", "openbsd:openssh"},
	{"dropbear sshd", "matt_johnston:dropbear_ssh_server"},
	{"vsftpd", "vsftpd:vsftpd"},
	{"proftpd", "proftpd:proftpd"},
	{"pure-ftpd", "pureftpd:pure-ftpd"},
	{"filezilla ftpd", "filezilla-project:filezilla_server"},
	{"nginx", "igor_sysoev:nginx"},
	{"lighttpd", "lighttpd:lighttpd"},
	{"jetty", "mortbay:jetty"},
	{"squid http proxy", "squid-cache:squid"},
	{"haproxy", "haproxy:haproxy"},
	{"varnish http accelerator", "varnish-cache:varnish"},
	{"mysql", "mysql:mysql"},
	{"mariadb", "mariadb:mariadb"},
	{"postgresql", "postgresql:postgresql"},
	{"mongodb", "mongodb:mongodb"},
	{"redis", "redislabs:redis"},
	{"memcached", "memcached:memcached"},
	{"elasticsearch", "elasticsearch:elasticsearch"},
	{"exim smtpd", "exim:exim"},
	{"postfix smtpd", "postfix:postfix"},
	{"sendmail", "sendmail:sendmail"},
	{"dovecot", "dovecot:dovecot"},
	{"cyrus imapd", "cmu:cyrus_imap_server"},
	{"isc bind", "isc:bind"},
	{"samba smbd", "samba:samba"},
	{"openssl", "openssl:openssl"},
}

// ProductCPE builds the CPE 2.2 URI nmap would have written for a product
// and version it names, or "" when the product is not one of the common
// ones or the version is missing.
func ProductCPE(product, version string) string {
	p := strings.ToLower(strings.TrimSpace(product))
	v := strings.ToLower(strings.TrimSpace(version))
	if p == "" || v == "" || strings.ContainsAny(v, " :/") {
		return ""
	}
	for _, e := range productCPEs {
		if strings.HasPrefix(p, e.name) {
			return "cpe:/a:" + e.key + ":" + url.PathEscape(v)
		}
	}
	return ""
}
