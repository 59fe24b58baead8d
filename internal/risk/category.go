package risk

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Categories of packages. They group packages whose updates break in
// similar ways, so that a package with little history borrows the failure
// rate of its category (see the package documentation).
const (
	CategoryKernel    = "kernel"     // linux, linux-image-*, kernel*: needs a reboot, drivers, boot
	CategoryLibc      = "libc"       // glibc, eglibc, musl: everything links against it
	CategoryCrypto    = "crypto"     // openssl, gnutls, nss, libgcrypt: TLS handshakes, ciphers
	CategorySystemd   = "systemd"    // systemd, udev, dbus: boot and service management
	CategoryNetwork   = "network"    // openssh, bind9, dhcp, ntp, curl: remote access and name service
	CategoryDatabase  = "database"   // postgresql, mysql, mariadb, redis, sqlite3
	CategoryWebServer = "web_server" // apache2, nginx, tomcat, squid, haproxy
	CategoryRuntime   = "runtime"    // python, php, ruby, perl, openjdk, nodejs, go
	CategoryBrowser   = "browser"    // firefox, chromium, thunderbird: large upstream releases
	CategoryMail      = "mail"       // exim4, postfix, dovecot
	CategoryMedia     = "media"      // images, audio, video and document parsers
	CategoryOther     = "other"      // everything else
)

// categoryRule maps a source (or binary) package name to a category: an
// exact name, or a prefix when the rule ends in "*".
type categoryRule struct {
	pattern  string
	category string
}

// categoryTable is the documented mapping from package names to categories.
// Exact names win over prefixes and longer prefixes over shorter ones, so
// "linux-firmware" can be told apart from "linux-image-*" if ever needed.
func categoryTable() []categoryRule {
	return []categoryRule{
		{"linux", CategoryKernel}, {"linux-image*", CategoryKernel}, {"linux-signed*", CategoryKernel},
		{"linux-modules*", CategoryKernel}, {"linux-2.6*", CategoryKernel}, {"linux-kernel*", CategoryKernel},
		{"linux-lts*", CategoryKernel}, {"linux-hwe*", CategoryKernel}, {"linux-aws*", CategoryKernel},
		{"linux-azure*", CategoryKernel}, {"linux-gcp*", CategoryKernel}, {"linux-oem*", CategoryKernel},
		{"linux-raspi*", CategoryKernel}, {"linux-*", CategoryKernel}, {"kernel*", CategoryKernel}, {"pp-kernel*", CategoryKernel},
		// Not kernels despite the prefix.
		{"linux-firmware", CategoryOther}, {"linux-firmware-nonfree", CategoryOther}, {"linux-ftpd", CategoryOther},
		{"linux-ftpd-ssl", CategoryOther}, {"linux-atm", CategoryOther}, {"linux-pam", CategoryOther},
		{"glibc", CategoryLibc}, {"eglibc", CategoryLibc}, {"libc6*", CategoryLibc}, {"musl", CategoryLibc},
		{"openssl*", CategoryCrypto}, {"libssl*", CategoryCrypto}, {"gnutls*", CategoryCrypto},
		{"libgcrypt*", CategoryCrypto}, {"nss", CategoryCrypto}, {"libnss3", CategoryCrypto},
		{"libressl", CategoryCrypto}, {"libtasn1*", CategoryCrypto}, {"nettle", CategoryCrypto},
		{"gnupg*", CategoryCrypto}, {"ca-certificates", CategoryCrypto}, {"mbedtls", CategoryCrypto},
		{"polarssl", CategoryCrypto}, {"krb5", CategoryCrypto}, {"heimdal", CategoryCrypto},
		{"systemd", CategorySystemd}, {"udev", CategorySystemd}, {"dbus", CategorySystemd},
		{"sysvinit", CategorySystemd}, {"policykit-1", CategorySystemd}, {"polkit*", CategorySystemd},
		{"openssh", CategoryNetwork}, {"openssh-*", CategoryNetwork}, {"bind9", CategoryNetwork},
		{"bind", CategoryNetwork}, {"isc-dhcp", CategoryNetwork}, {"dhcp*", CategoryNetwork},
		{"ntp", CategoryNetwork}, {"chrony", CategoryNetwork}, {"curl", CategoryNetwork},
		{"wget", CategoryNetwork}, {"openldap", CategoryNetwork}, {"samba", CategoryNetwork},
		{"dnsmasq", CategoryNetwork}, {"unbound", CategoryNetwork}, {"iptables", CategoryNetwork},
		{"nftables", CategoryNetwork}, {"openvpn", CategoryNetwork}, {"strongswan", CategoryNetwork},
		{"network-manager", CategoryNetwork}, {"wpa", CategoryNetwork}, {"libssh*", CategoryNetwork},
		{"postgresql*", CategoryDatabase}, {"mysql*", CategoryDatabase}, {"mariadb*", CategoryDatabase},
		{"redis", CategoryDatabase}, {"sqlite*", CategoryDatabase}, {"mongodb", CategoryDatabase},
		{"memcached", CategoryDatabase}, {"db*", CategoryDatabase},
		{"apache2", CategoryWebServer}, {"apache", CategoryWebServer}, {"nginx", CategoryWebServer},
		{"lighttpd", CategoryWebServer}, {"tomcat*", CategoryWebServer}, {"squid*", CategoryWebServer},
		{"haproxy", CategoryWebServer}, {"varnish", CategoryWebServer}, {"jetty*", CategoryWebServer},
		{"libapache*", CategoryWebServer}, {"pp-demo-web*", CategoryWebServer},
		{"python*", CategoryRuntime}, {"php*", CategoryRuntime}, {"ruby*", CategoryRuntime},
		{"perl", CategoryRuntime}, {"openjdk*", CategoryRuntime}, {"nodejs", CategoryRuntime},
		{"golang*", CategoryRuntime}, {"mono", CategoryRuntime}, {"tcl*", CategoryRuntime},
		{"firefox*", CategoryBrowser}, {"iceweasel", CategoryBrowser}, {"chromium*", CategoryBrowser},
		{"thunderbird", CategoryBrowser}, {"icedove", CategoryBrowser}, {"xulrunner", CategoryBrowser},
		{"webkit*", CategoryBrowser}, {"iceape", CategoryBrowser}, {"mozilla*", CategoryBrowser},
		{"seamonkey", CategoryBrowser},
		{"exim*", CategoryMail}, {"postfix", CategoryMail}, {"dovecot", CategoryMail},
		{"sendmail", CategoryMail}, {"cyrus*", CategoryMail}, {"spamassassin", CategoryMail},
		{"clamav", CategoryMail},
		{"imagemagick", CategoryMedia}, {"graphicsmagick", CategoryMedia}, {"ffmpeg", CategoryMedia},
		{"libav", CategoryMedia}, {"gst-plugins*", CategoryMedia}, {"libpng*", CategoryMedia},
		{"tiff", CategoryMedia}, {"libtiff*", CategoryMedia}, {"jasper", CategoryMedia},
		{"libjpeg*", CategoryMedia}, {"poppler", CategoryMedia}, {"xpdf", CategoryMedia},
		{"ghostscript", CategoryMedia}, {"libreoffice", CategoryMedia}, {"openjpeg*", CategoryMedia},
		{"libsndfile", CategoryMedia}, {"vlc", CategoryMedia}, {"freetype", CategoryMedia},
		{"gdk-pixbuf", CategoryMedia}, {"libvpx", CategoryMedia}, {"libxml2", CategoryMedia},
	}
}

// CategoryNames lists every category, sorted.
func CategoryNames() []string {
	seen := map[string]bool{CategoryOther: true}
	for _, r := range categoryTable() {
		seen[r.category] = true
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Categorize returns the category of a package, looked up by its source
// package first and its binary name second; "other" when neither is known.
func Categorize(sourcePackage, pkg string) string {
	for _, name := range []string{sourcePackage, pkg} {
		if c := categoryOfName(name); c != "" {
			return c
		}
	}
	return CategoryOther
}

// categoryCache keeps each name's category ("" for none) once looked up:
// a fleet's records name the same few hundred packages over and over. It
// keeps at most maxCachedCategories names; others are looked up each time.
var (
	categoryCache  sync.Map // name as given → category
	categoryCached atomic.Int64
)

const maxCachedCategories = 100_000

func categoryOfName(name string) string {
	if name == "" {
		return ""
	}
	if c, ok := categoryCache.Load(name); ok {
		return c.(string)
	}
	c := lookupCategory(strings.ToLower(strings.TrimSpace(name)))
	if categoryCached.Load() < maxCachedCategories {
		if _, loaded := categoryCache.LoadOrStore(name, c); !loaded {
			categoryCached.Add(1)
		}
	}
	return c
}

// categoryIndex is the table, built once for the lookups of every record:
// its exact names in a map, its prefixes in the table's order.
type categoryIndex struct {
	exact    map[string]string
	prefixes []categoryRule // pattern without its "*"
}

var categoryRules = newCategoryIndex(categoryTable())

func newCategoryIndex(rules []categoryRule) categoryIndex {
	ix := categoryIndex{exact: map[string]string{}}
	for _, r := range rules {
		if prefix, ok := strings.CutSuffix(r.pattern, "*"); ok {
			ix.prefixes = append(ix.prefixes, categoryRule{prefix, r.category})
			continue
		}
		if _, dup := ix.exact[r.pattern]; !dup {
			ix.exact[r.pattern] = r.category // the first of the table wins
		}
	}
	return ix
}

// lookupCategory returns the category of an exact name, else of the
// longest prefix that matches (the first of the table among equals), else "".
func lookupCategory(name string) string {
	if name == "" {
		return ""
	}
	if c, ok := categoryRules.exact[name]; ok {
		return c
	}
	best, bestLen := "", -1
	for _, r := range categoryRules.prefixes {
		if len(r.pattern) > bestLen && strings.HasPrefix(name, r.pattern) {
			best, bestLen = r.category, len(r.pattern)
		}
	}
	return best
}

// CategoryOf is the record's category: the recorded one, else the table's.
func (r Record) CategoryOf() string {
	if r.Category != "" {
		return strings.ToLower(r.Category)
	}
	return Categorize(r.SourcePackage, r.Package)
}
