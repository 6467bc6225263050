package alert

import (
	"fmt"
	"sort"
	"strings"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/internal/event"
)

// CatalogueEntry is one high-risk service: a port range per protocol, the
// nmap service names and product substrings that identify it on any port,
// and the severity of finding it exposed to the Internet.
type CatalogueEntry struct {
	Name     string
	Category string
	Ports    []PortRange
	Services []string // nmap service names, lower case
	Products []string // substrings of nmap's product, lower case
	Severity event.Severity
	Why      string
}

// PortRange is an inclusive port range of one protocol.
type PortRange struct {
	Lo, Hi uint16
	Proto  event.Proto
}

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return fmt.Sprintf("%d/%s", r.Lo, r.Proto)
	}
	return fmt.Sprintf("%d-%d/%s", r.Lo, r.Hi, r.Proto)
}

// builtinCatalogue is the catalogue shipped with synwatch, documented in
// docs/alerts.md (a test keeps the two in step). Severities are for the
// service found exposed (open from the Internet); restricted lowers them.
func builtinCatalogue() []config.CatalogueEntry {
	return []config.CatalogueEntry{
		// databases and caches: most ship without authentication or with a
		// default account, and are found by Internet-wide scans within hours
		{Name: "mysql", Category: "database", Ports: []string{"3306"}, Services: []string{"mysql"}, Products: []string{"mysql", "mariadb"}, Severity: "high", Why: "database reachable from the Internet: password guessing against root, data theft, and file writes through SELECT ... INTO OUTFILE"},
		{Name: "postgresql", Category: "database", Ports: []string{"5432"}, Services: []string{"postgresql"}, Products: []string{"postgresql"}, Severity: "high", Why: "database reachable from the Internet: password guessing, and COPY ... FROM PROGRAM runs shell commands for a superuser"},
		{Name: "mssql", Category: "database", Ports: []string{"1433", "1434/udp"}, Services: []string{"ms-sql-s", "ms-sql-m"}, Products: []string{"microsoft sql server"}, Severity: "high", Why: "database reachable from the Internet: sa password guessing, and xp_cmdshell runs commands on the host"},
		{Name: "oracle", Category: "database", Ports: []string{"1521"}, Services: []string{"oracle-tns", "oracle"}, Products: []string{"oracle tns"}, Severity: "high", Why: "database listener reachable from the Internet: SID guessing, default accounts, TNS poisoning"},
		{Name: "mongodb", Category: "database", Ports: []string{"27017-27019"}, Services: []string{"mongodb", "mongod"}, Products: []string{"mongodb"}, Severity: "critical", Why: "database often deployed without authentication: exposed instances are wiped and held for ransom by automated campaigns"},
		{Name: "redis", Category: "database", Ports: []string{"6379"}, Services: []string{"redis"}, Products: []string{"redis"}, Severity: "critical", Why: "key-value store without authentication by default: CONFIG SET writes files (SSH keys, cron jobs) and MODULE LOAD runs code; mined by cryptojacking worms"},
		{Name: "memcached", Category: "database", Ports: []string{"11211", "11211/udp"}, Services: []string{"memcache", "memcached"}, Products: []string{"memcached"}, Severity: "critical", Why: "cache without authentication: anyone reads and changes cached data (sessions); over UDP a 50,000x DDoS amplifier"},
		{Name: "elasticsearch", Category: "database", Ports: []string{"9200", "9300"}, Services: []string{"elasticsearch"}, Products: []string{"elasticsearch"}, Severity: "critical", Why: "search engine whose API had no authentication before 8.0: the source of many mass data leaks and ransom wipes"},
		{Name: "cassandra", Category: "database", Ports: []string{"9042", "9160", "7000-7001"}, Services: []string{"cassandra"}, Products: []string{"cassandra"}, Severity: "high", Why: "database whose default authenticator allows everyone (AllowAllAuthenticator)"},
		{Name: "couchdb", Category: "database", Ports: []string{"5984", "6984"}, Services: []string{"couchdb"}, Products: []string{"couchdb"}, Severity: "high", Why: "database with an HTTP admin API: \"admin party\" installs have no password, and CVE-2017-12635/12636 give code execution"},
		{Name: "influxdb", Category: "database", Ports: []string{"8086"}, Products: []string{"influxdb"}, Severity: "high", Why: "time-series database with an HTTP API, without authentication by default in 1.x"},
		{Name: "clickhouse", Category: "database", Ports: []string{"8123", "9000"}, Services: []string{"clickhouse"}, Products: []string{"clickhouse"}, Severity: "high", Why: "database with an HTTP API whose default user has no password"},
		{Name: "solr", Category: "database", Ports: []string{"8983"}, Products: []string{"solr"}, Severity: "high", Why: "search server without authentication by default: its admin API loads configurations that run code (CVE-2019-0193, Log4Shell)"},
		{Name: "hadoop-yarn", Category: "database", Products: []string{"hadoop"}, Severity: "critical", Why: "Hadoop YARN ResourceManager without authentication by default: anyone submits an application, which runs commands on the cluster (mass-exploited by miners)"},
		// message brokers
		{Name: "kafka", Category: "broker", Ports: []string{"9092"}, Services: []string{"kafka"}, Products: []string{"kafka"}, Severity: "high", Why: "message broker, PLAINTEXT without authentication by default: read and inject messages"},
		{Name: "amqp", Category: "broker", Ports: []string{"5672", "5671", "15672"}, Services: []string{"amqp", "amqps"}, Products: []string{"rabbitmq"}, Severity: "high", Why: "message broker (RabbitMQ) and its management API; the guest/guest account"},
		{Name: "mqtt", Category: "broker", Ports: []string{"1883", "8883"}, Services: []string{"mqtt", "secure-mqtt"}, Products: []string{"mosquitto", "mqtt"}, Severity: "high", Why: "IoT message broker, often without authentication: read sensor data and send commands to devices"},
		{Name: "zookeeper", Category: "broker", Ports: []string{"2181"}, Services: []string{"zookeeper"}, Products: []string{"zookeeper"}, Severity: "high", Why: "cluster coordination without authentication by default: read and change the configuration of the clusters it serves"},
		{Name: "nats", Category: "broker", Ports: []string{"4222"}, Services: []string{"nats"}, Severity: "high", Why: "message broker, without authentication unless configured"},
		// remote administration and remote shells
		{Name: "ssh", Category: "remote-admin", Ports: []string{"22"}, Services: []string{"ssh"}, Products: []string{"openssh", "dropbear"}, Severity: "medium", Why: "remote shell: brute force and credential stuffing; safe only with keys and a current version"},
		{Name: "telnet", Category: "remote-admin", Ports: []string{"23", "2323"}, Services: []string{"telnet"}, Products: []string{"telnetd"}, Severity: "critical", Why: "clear-text remote shell: passwords cross the Internet readable, and botnets (Mirai and its heirs) log in with default credentials"},
		{Name: "rsh", Category: "remote-admin", Ports: []string{"512-514"}, Services: []string{"exec", "login", "shell"}, Products: []string{"rexecd", "rlogind", "rshd"}, Severity: "critical", Why: "r-services (rexec, rlogin, rsh): clear-text passwords, and trust by source address (.rhosts, hosts.equiv) logs a listed or spoofed host in without one"},
		{Name: "bind-shell", Category: "backdoor", Ports: []string{"1524", "4444", "6200", "31337"}, Services: []string{"bindshell", "ingreslock"}, Products: []string{"root shell", "bind shell"}, Severity: "critical", Why: "a shell listening on a socket: whoever connects gets a command prompt without logging in (a backdoor: ingreslock 1524, Metasploit's 4444, the vsftpd 2.3.4 backdoor's 6200)"},
		{Name: "rdp", Category: "remote-admin", Ports: []string{"3389", "3389/udp"}, Services: []string{"ms-wbt-server"}, Products: []string{"terminal services", "remote desktop"}, Severity: "high", Why: "remote desktop: ransomware's favourite way in (password spraying, BlueKeep CVE-2019-0708)"},
		{Name: "vnc", Category: "remote-admin", Ports: []string{"5900-5910", "5800-5810"}, Services: []string{"vnc", "vnc-http"}, Products: []string{"vnc"}, Severity: "critical", Why: "remote desktop with an 8-character password at most, often none"},
		{Name: "winrm", Category: "remote-admin", Ports: []string{"5985", "5986"}, Services: []string{"wsman", "wsmans"}, Severity: "high", Why: "Windows remote management: a PowerShell prompt for any valid account"},
		{Name: "ipmi", Category: "remote-admin", Ports: []string{"623/udp"}, Services: []string{"asf-rmcp", "ipmi"}, Severity: "critical", Why: "server management controller (BMC): RAKP hands out password hashes to anyone, cipher 0 skips authentication; full hardware control"},
		{Name: "x11", Category: "remote-admin", Ports: []string{"6000-6005"}, Services: []string{"x11"}, Severity: "high", Why: "X display server: an open one gives away keystrokes and screen"},
		// agents of monitoring and configuration systems: they run what
		// their server asks, and an open one asks no server
		{Name: "zabbix-agent", Category: "monitoring-agent", Ports: []string{"10050"}, Services: []string{"zabbix-agent"}, Products: []string{"zabbix"}, Severity: "high", Why: "Zabbix agent: answers item keys that disclose the host, and system.run executes commands when remote commands are enabled"},
		{Name: "nrpe", Category: "monitoring-agent", Ports: []string{"5666"}, Services: []string{"nrpe"}, Products: []string{"nrpe"}, Severity: "high", Why: "Nagios NRPE agent: runs the checks it is asked for; with command arguments allowed (dont_blame_nrpe) that is remote code execution"},
		{Name: "checkmk-agent", Category: "monitoring-agent", Ports: []string{"6556"}, Services: []string{"check_mk"}, Products: []string{"check_mk", "checkmk"}, Severity: "high", Why: "Checkmk agent: prints the host's processes, packages, users and mounts to whoever connects"},
		{Name: "munin", Category: "monitoring-agent", Ports: []string{"4949"}, Services: []string{"munin"}, Products: []string{"munin"}, Severity: "medium", Why: "Munin node: discloses host metrics, names and versions"},
		{Name: "saltstack", Category: "monitoring-agent", Ports: []string{"4505-4506"}, Services: []string{"zmtp"}, Products: []string{"salt"}, Severity: "critical", Why: "SaltStack master: CVE-2020-11651/11652 let anyone run commands on the master and every minion; mass-exploited"},
		// container engines and cluster control planes
		{Name: "docker", Category: "container", Ports: []string{"2375", "2376"}, Services: []string{"docker"}, Products: []string{"docker remote api", "docker swarm"}, Severity: "critical", Why: "container engine API: start a privileged container that mounts / and you are root on the host; scanned for by cryptojacking botnets"},
		{Name: "docker-registry", Category: "container", Services: []string{"docker-registry"}, Products: []string{"docker registry"}, Severity: "high", Why: "image registry, without authentication by default: pull images with their embedded secrets, push poisoned ones"},
		{Name: "kubelet", Category: "container", Ports: []string{"10250", "10255"}, Products: []string{"kubelet"}, Severity: "critical", Why: "kubelet API: with anonymous access, /run and /exec run commands in every pod of the node; 10255 lists them read-only"},
		{Name: "kubernetes-api", Category: "container", Ports: []string{"6443"}, Products: []string{"kubernetes"}, Severity: "high", Why: "Kubernetes API server: the cluster's control plane; one leaked token or anonymous binding away from the whole cluster"},
		{Name: "etcd", Category: "container", Ports: []string{"2379-2380"}, Services: []string{"etcd-client", "etcd-server", "etcd"}, Products: []string{"etcd"}, Severity: "critical", Why: "cluster state store, without client authentication by default: every Kubernetes secret, readable and writable"},
		{Name: "consul", Category: "container", Ports: []string{"8500"}, Products: []string{"consul"}, Severity: "high", Why: "service mesh API: registers services that run scripts (remote execution when script checks are enabled)"},
		{Name: "nomad", Category: "container", Ports: []string{"4646"}, Products: []string{"nomad"}, Severity: "critical", Why: "Nomad API without ACLs (the default): anyone submits a job that runs commands on the cluster"},
		// file sharing
		{Name: "smb", Category: "file-sharing", Ports: []string{"445", "139"}, Services: []string{"microsoft-ds", "netbios-ssn"}, Products: []string{"samba", "smb"}, Severity: "critical", Why: "Windows file sharing: wormable vulnerabilities (EternalBlue, WannaCry), NTLM relay, null sessions"},
		{Name: "nfs", Category: "file-sharing", Ports: []string{"2049", "2049/udp", "111", "111/udp"}, Services: []string{"nfs", "rpcbind"}, Severity: "high", Why: "network file system and its portmapper: exports trust client addresses and user ids"},
		{Name: "ftp", Category: "file-sharing", Ports: []string{"21"}, Services: []string{"ftp"}, Products: []string{"ftpd", "vsftpd", "proftpd"}, Severity: "medium", Why: "clear-text file transfer, often anonymous"},
		{Name: "tftp", Category: "file-sharing", Ports: []string{"69/udp"}, Services: []string{"tftp"}, Severity: "high", Why: "file transfer without authentication: device configurations and boot images for the asking"},
		{Name: "rsync", Category: "file-sharing", Ports: []string{"873"}, Services: []string{"rsync"}, Severity: "high", Why: "file sync, modules often readable (and writable) without authentication"},
		// directory services
		{Name: "ldap", Category: "directory", Ports: []string{"389", "636", "389/udp", "3268-3269"}, Services: []string{"ldap", "ldapssl"}, Products: []string{"active directory", "openldap"}, Severity: "high", Why: "directory: anonymous binds enumerate accounts; CLDAP is a DDoS amplifier"},
		{Name: "kerberos", Category: "directory", Ports: []string{"88", "88/udp"}, Services: []string{"kerberos-sec", "kerberos"}, Severity: "high", Why: "domain controller reachable from the Internet: AS-REP roasting and password spraying"},
		// industrial protocols: none has authentication
		{Name: "modbus", Category: "industrial", Ports: []string{"502"}, Services: []string{"modbus", "mbap"}, Severity: "critical", Why: "industrial control protocol without authentication: read and write the PLC's registers"},
		{Name: "s7", Category: "industrial", Ports: []string{"102"}, Services: []string{"iso-tsap", "s7"}, Products: []string{"siemens"}, Severity: "critical", Why: "Siemens PLC protocol: stop the PLC, read and write its program"},
		{Name: "dnp3", Category: "industrial", Ports: []string{"20000", "20000/udp"}, Services: []string{"dnp", "dnp3"}, Severity: "critical", Why: "SCADA protocol of utilities, without authentication in its common form"},
		{Name: "bacnet", Category: "industrial", Ports: []string{"47808/udp"}, Services: []string{"bacnet"}, Severity: "critical", Why: "building automation protocol: heating, doors and alarms, without authentication"},
		{Name: "ethernet-ip", Category: "industrial", Ports: []string{"44818", "44818/udp", "2222/udp"}, Services: []string{"EtherNetIP-2", "ethernetip"}, Severity: "critical", Why: "industrial control protocol (CIP) without authentication"},
		{Name: "iec-104", Category: "industrial", Ports: []string{"2404"}, Services: []string{"iec-104"}, Severity: "critical", Why: "power-grid control protocol without authentication"},
		{Name: "fox", Category: "industrial", Ports: []string{"1911", "4911"}, Products: []string{"niagara"}, Severity: "critical", Why: "Niagara Fox building automation: discloses the station and accepts logins"},
		// debugging endpoints and application back ends
		{Name: "ajp", Category: "debugging", Ports: []string{"8009"}, Services: []string{"ajp13"}, Products: []string{"apache jserv"}, Severity: "critical", Why: "Tomcat's AJP connector, meant for the reverse proxy only: Ghostcat (CVE-2020-1938) reads any file of the web applications and can run code"},
		{Name: "jdwp", Category: "debugging", Ports: []string{"5005"}, Services: []string{"jdwp"}, Products: []string{"java debug wire protocol"}, Severity: "critical", Why: "Java debugger: remote code execution without authentication"},
		{Name: "node-inspector", Category: "debugging", Ports: []string{"9229"}, Severity: "critical", Why: "Node.js inspector: remote code execution without authentication"},
		{Name: "java-rmi", Category: "debugging", Ports: []string{"1099"}, Services: []string{"java-rmi", "rmiregistry"}, Severity: "high", Why: "Java RMI registry: deserialization attacks run code"},
		{Name: "jmx", Category: "debugging", Ports: []string{"9010", "7199"}, Services: []string{"jmx"}, Severity: "high", Why: "Java management: loads remote MBeans (code execution) without authentication"},
		{Name: "php-fpm", Category: "debugging", Ports: []string{"9001"}, Services: []string{"fcgi"}, Severity: "high", Why: "FastCGI: sets PHP options per request, which runs code"},
		{Name: "prometheus-exporter", Category: "debugging", Ports: []string{"9100"}, Products: []string{"prometheus"}, Severity: "medium", Why: "metrics endpoint: internal names, versions and addresses"},
		// network infrastructure
		{Name: "snmp", Category: "network", Ports: []string{"161/udp"}, Services: []string{"snmp"}, Severity: "high", Why: "device management, often with community public (read) or private (write); a DDoS amplifier"},
		{Name: "dns-resolver", Category: "network", Ports: []string{"53/udp"}, Severity: "low", Why: "DNS; an open resolver is a DDoS amplifier"},
		{Name: "ntp", Category: "network", Ports: []string{"123/udp"}, Services: []string{"ntp"}, Severity: "low", Why: "NTP; monlist on old daemons is a DDoS amplifier"},
		{Name: "ssdp", Category: "network", Ports: []string{"1900/udp"}, Services: []string{"upnp", "ssdp"}, Severity: "high", Why: "UPnP discovery: a DDoS amplifier, and it opens ports in the firewall on request"},
		{Name: "tr-069", Category: "network", Ports: []string{"7547"}, Services: []string{"cwmp"}, Severity: "high", Why: "ISP management protocol of routers: exploited by Mirai variants (TR-064 command injection)"},
		{Name: "cisco-smart-install", Category: "network-device", Ports: []string{"4786"}, Services: []string{"smart-install"}, Severity: "critical", Why: "Cisco Smart Install: without authentication by design; anyone replaces the switch's configuration and firmware (CVE-2018-0171)"},
		{Name: "mikrotik-winbox", Category: "network-device", Ports: []string{"8291"}, Services: []string{"winbox"}, Products: []string{"winbox"}, Severity: "critical", Why: "MikroTik Winbox management: CVE-2018-14847 read the router's password database without logging in; mass-exploited"},
		{Name: "device-management-ui", Category: "network-device", Products: []string{"cisco ios http", "cisco router http", "cisco asdm", "fortigate", "fortios", "fortinet", "mikrotik routeros", "juniper web device manager", "sonicwall", "pan-os", "palo alto", "zyxel", "ubiquiti", "netscaler", "big-ip"}, Severity: "high", Why: "management interface of a network device (router, firewall, VPN gateway): their web and SSH front ends are mass-exploited within days of each advisory (FortiOS, PAN-OS, Cisco IOS XE CVE-2023-20198); reach them from a management network only"},
	}
}

// Catalogue matches services against high-risk entries.
type Catalogue struct {
	entries []CatalogueEntry
}

// NewCatalogue builds the catalogue: the built-in entries, changed or
// extended by overrides (an override with a built-in name replaces the
// fields it sets; disabled removes the entry).
func NewCatalogue(overrides []config.CatalogueEntry) (*Catalogue, error) {
	base := builtinCatalogue()
	idx := map[string]int{}
	for i, e := range base {
		idx[e.Name] = i
	}
	for _, o := range overrides {
		i, ok := idx[o.Name]
		if !ok {
			if o.Severity == "" && !o.Disabled {
				return nil, fmt.Errorf("alert.catalogue %q: a new entry needs a severity", o.Name)
			}
			base = append(base, o)
			idx[o.Name] = len(base) - 1
			continue
		}
		b := &base[i]
		if o.Category != "" {
			b.Category = o.Category
		}
		if o.Ports != nil {
			b.Ports = o.Ports
		}
		if o.Services != nil {
			b.Services = o.Services
		}
		if o.Products != nil {
			b.Products = o.Products
		}
		if o.Severity != "" {
			b.Severity = o.Severity
		}
		if o.Why != "" {
			b.Why = o.Why
		}
		b.Disabled = o.Disabled
	}
	c := &Catalogue{}
	for _, e := range base {
		if e.Disabled {
			continue
		}
		ce := CatalogueEntry{Name: e.Name, Category: e.Category, Severity: event.Severity(e.Severity), Why: e.Why}
		if ce.Severity.Rank() < 0 {
			return nil, fmt.Errorf("alert.catalogue %q: bad severity %q", e.Name, e.Severity)
		}
		for _, p := range e.Ports {
			lo, hi, proto, err := config.ParsePortRange(p)
			if err != nil {
				return nil, fmt.Errorf("alert.catalogue %q: %w", e.Name, err)
			}
			ce.Ports = append(ce.Ports, PortRange{Lo: lo, Hi: hi, Proto: event.Proto(proto)})
		}
		for _, s := range e.Services {
			ce.Services = append(ce.Services, strings.ToLower(s))
		}
		for _, s := range e.Products {
			ce.Products = append(ce.Products, strings.ToLower(s))
		}
		c.entries = append(c.entries, ce)
	}
	return c, nil
}

// Entries returns the catalogue, sorted by category and name.
func (c *Catalogue) Entries() []CatalogueEntry {
	out := append([]CatalogueEntry(nil), c.entries...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Category != out[j].Category {
			return out[i].Category < out[j].Category
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// CatalogueMatch is a catalogue entry that matched a service, and how.
type CatalogueMatch struct {
	Entry CatalogueEntry
	How   string // "port", "service", "product"
}

// Match returns the best (highest severity) entry matching the service: by
// nmap service name or product on any port, else by port and protocol. A
// port match whose nmap service name clearly names another catalogued
// service yields to that service.
func (c *Catalogue) Match(proto event.Proto, port uint16, name, product string) (CatalogueMatch, bool) {
	name = strings.ToLower(strings.TrimPrefix(strings.ToLower(name), "ssl/"))
	product = strings.ToLower(product)
	var best CatalogueMatch
	found := false
	consider := func(m CatalogueMatch) {
		if !found || m.Entry.Severity.Rank() > best.Entry.Severity.Rank() {
			best, found = m, true
		}
	}
	for _, e := range c.entries {
		if name != "" && contains(e.Services, name) {
			consider(CatalogueMatch{Entry: e, How: "service"})
			continue
		}
		if product != "" && productMatch(e.Products, product) {
			consider(CatalogueMatch{Entry: e, How: "product"})
			continue
		}
	}
	if found {
		return best, true
	}
	for _, e := range c.entries {
		for _, r := range e.Ports {
			if r.Proto == proto && port >= r.Lo && port <= r.Hi {
				consider(CatalogueMatch{Entry: e, How: "port"})
			}
		}
	}
	return best, found
}

func contains(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

func productMatch(subs []string, product string) bool {
	for _, s := range subs {
		if strings.Contains(product, s) {
			return true
		}
	}
	return false
}
